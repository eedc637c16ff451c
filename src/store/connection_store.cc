#include "plinth/store/connection_store.h"

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "plinth/core/ids.h"
#include "plinth/core/status_macros.h"

namespace plinth::store {
namespace {

using nlohmann::json;

constexpr char kColumns[] =
    "id, org, name, provider, fields, secrets, secret_names, created_at, created_by, updated_at, updated_by, "
    "runner_held";

ConnectionRecord ReadRow(const Statement& st, std::string* sealed) {
  ConnectionRecord r;
  r.id = st.ColumnText(0);
  r.org = st.ColumnText(1);
  r.name = st.ColumnText(2);
  r.provider = st.ColumnText(3);
  json f = json::parse(st.ColumnText(4), nullptr, false);
  if (f.is_object()) r.fields = f.get<std::map<std::string, std::string>>();
  *sealed = st.ColumnText(5);
  json n = json::parse(st.ColumnText(6), nullptr, false);
  if (n.is_array()) r.secret_names = n.get<std::vector<std::string>>();
  r.created_at = absl::FromUnixMicros(st.ColumnInt64(7));
  r.created_by = st.ColumnText(8);
  r.updated_at = absl::FromUnixMicros(st.ColumnInt64(9));
  r.updated_by = st.ColumnText(10);
  r.runner_held = st.ColumnInt64(11) != 0;
  return r;
}

absl::Status LoadDefaults(Connection& c, ConnectionRecord& r) {
  Statement& st = c.Prepare("SELECT env FROM connection_defaults WHERE connection_id = ? ORDER BY env");
  st.Bind(1, r.id);
  for (;;) {
    PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    std::string env = st.ColumnText(0);
    r.default_for.push_back(env.empty() ? "org" : "env:" + env);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<ConnectionRecord>> FindIn(Connection& c, const std::string& where, const std::string& a,
                                                       const std::string& b, std::string* sealed) {
  Statement& st = c.Prepare(absl::StrCat("SELECT ", kColumns, " FROM connections WHERE ", where));
  st.Bind(1, a);
  if (!b.empty()) st.Bind(2, b);
  PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<ConnectionRecord>();
  ConnectionRecord r = ReadRow(st, sealed);
  st.Reset();
  PLINTH_RETURN_IF_ERROR(LoadDefaults(c, r));
  return std::optional<ConnectionRecord>(std::move(r));
}

absl::Status Audit(Connection& c, const std::string& action, const ConnectionRecord& r, const std::string& actor,
                   int64_t at) {
  Statement& st = c.Prepare(
      "INSERT INTO audit_events (created_at, actor, action, target_type, target_id, target_name) "
      "VALUES (?, ?, ?, 'connection', ?, ?)");
  st.Bind(1, at);
  st.Bind(2, actor);
  st.Bind(3, absl::StrCat("connection.", action));
  st.Bind(4, r.id);
  st.Bind(5, absl::StrCat(r.org, "/", r.name));
  return st.Run();
}

absl::Status NotFound(const std::string& org, const std::string& name) {
  return absl::NotFoundError(absl::StrCat("connection ", org, "/", name, " not found"));
}

}  // namespace

absl::StatusOr<ConnectionRecord> ConnectionStore::Create(ConnectionRecord r, const std::string& actor) {
  r.id = core::NewId("conn");
  r.created_at = r.updated_at = clock_->Now();
  r.created_by = r.updated_by = actor;
  r.secret_names.clear();
  for (const auto& [k, v] : r.secrets) r.secret_names.push_back(k);
  std::string sealed = box_->Seal(json(r.secrets).dump());
  r.secrets.clear();
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(
        "INSERT INTO connections (id, org, name, provider, fields, secrets, secret_names, created_at, created_by, "
        "updated_at, updated_by, runner_held) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    st.Bind(1, r.id);
    st.Bind(2, r.org);
    st.Bind(3, r.name);
    st.Bind(4, r.provider);
    st.Bind(5, json(r.fields).dump());
    st.Bind(6, sealed);
    st.Bind(7, json(r.secret_names).dump());
    st.Bind(8, absl::ToUnixMicros(r.created_at));
    st.Bind(9, actor);
    st.Bind(10, absl::ToUnixMicros(r.updated_at));
    st.Bind(11, actor);
    st.Bind(12, static_cast<int64_t>(r.runner_held ? 1 : 0));
    absl::Status s = st.Run();
    if (s.code() == absl::StatusCode::kAlreadyExists) {
      return absl::AlreadyExistsError(absl::StrCat("connection ", r.org, "/", r.name, " already exists"));
    }
    PLINTH_RETURN_IF_ERROR(s);
    return Audit(c, "create", r, actor, absl::ToUnixMicros(r.created_at));
  }));
  return r;
}

absl::StatusOr<ConnectionRecord> ConnectionStore::Get(const std::string& org, const std::string& name) const {
  std::optional<ConnectionRecord> found;
  std::string sealed;
  PLINTH_RETURN_IF_ERROR(db_->ReadSnapshot([&](Connection& c) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(found, FindIn(c, "org = ? AND name = ?", org, name, &sealed));
    return absl::OkStatus();
  }));
  if (!found) return NotFound(org, name);
  return std::move(*found);
}

absl::StatusOr<std::vector<ConnectionRecord>> ConnectionStore::List(const std::string& org,
                                                                    const std::string& provider) const {
  std::vector<ConnectionRecord> out;
  PLINTH_RETURN_IF_ERROR(db_->ReadSnapshot([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(absl::StrCat("SELECT ", kColumns,
                                           " FROM connections WHERE (?1 = '' OR org = ?1) AND (?2 = '' OR provider = ?2) ORDER BY org, name"));
    st.Bind(1, org);
    st.Bind(2, provider);
    for (;;) {
      PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      std::string sealed;
      out.push_back(ReadRow(st, &sealed));
    }
    st.Reset();
    for (auto& r : out) PLINTH_RETURN_IF_ERROR(LoadDefaults(c, r));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<ConnectionRecord> ConnectionStore::Update(const std::string& org, const std::string& name,
                                                         const std::map<std::string, std::string>& fields,
                                                         const std::map<std::string, std::string>& secrets,
                                                         const std::string& actor) {
  ConnectionRecord out;
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    std::string sealed;
    PLINTH_ASSIGN_OR_RETURN(auto found, FindIn(c, "org = ? AND name = ?", org, name, &sealed));
    if (!found) return NotFound(org, name);
    PLINTH_ASSIGN_OR_RETURN(std::string plain, box_->Open(sealed));
    auto all = json::parse(plain, nullptr, false).get<std::map<std::string, std::string>>();
    for (const auto& [k, v] : secrets) all[k] = v;
    for (const auto& [k, v] : fields) found->fields[k] = v;
    found->secret_names.clear();
    for (const auto& [k, v] : all) found->secret_names.push_back(k);
    found->updated_at = clock_->Now();
    found->updated_by = actor;
    Statement& st = c.Prepare(
        "UPDATE connections SET fields = ?, secrets = ?, secret_names = ?, updated_at = ?, updated_by = ? WHERE id = ?");
    st.Bind(1, json(found->fields).dump());
    st.Bind(2, box_->Seal(json(all).dump()));
    st.Bind(3, json(found->secret_names).dump());
    st.Bind(4, absl::ToUnixMicros(found->updated_at));
    st.Bind(5, actor);
    st.Bind(6, found->id);
    PLINTH_RETURN_IF_ERROR(st.Run());
    PLINTH_RETURN_IF_ERROR(Audit(c, "update", *found, actor, absl::ToUnixMicros(found->updated_at)));
    out = std::move(*found);
    return absl::OkStatus();
  }));
  return out;
}

absl::Status ConnectionStore::Delete(const std::string& org, const std::string& name, const std::string& actor) {
  return db_->Write([&](Connection& c) -> absl::Status {
    std::string sealed;
    PLINTH_ASSIGN_OR_RETURN(auto found, FindIn(c, "org = ? AND name = ?", org, name, &sealed));
    if (!found) return NotFound(org, name);
    Statement& st = c.Prepare("DELETE FROM connections WHERE id = ?");
    st.Bind(1, found->id);
    PLINTH_RETURN_IF_ERROR(st.Run());
    return Audit(c, "delete", *found, actor, absl::ToUnixMicros(clock_->Now()));
  });
}

absl::Status ConnectionStore::SetDefault(const std::string& org, const std::string& env, const std::string& provider,
                                         const std::string& name, const std::string& actor) {
  return db_->Write([&](Connection& c) -> absl::Status {
    if (name.empty()) {
      Statement& del = c.Prepare("DELETE FROM connection_defaults WHERE org = ? AND env = ? AND provider = ?");
      del.Bind(1, org);
      del.Bind(2, env);
      del.Bind(3, provider);
      return del.Run();
    }
    std::string sealed;
    PLINTH_ASSIGN_OR_RETURN(auto found, FindIn(c, "org = ? AND name = ?", org, name, &sealed));
    if (!found) return NotFound(org, name);
    if (found->provider != provider) {
      return absl::InvalidArgumentError(absl::StrCat("connection ", org, "/", name, " is a ", found->provider,
                                                     " connection, not ", provider));
    }
    Statement& st = c.Prepare(
        "INSERT INTO connection_defaults (org, env, provider, connection_id) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (org, env, provider) DO UPDATE SET connection_id = excluded.connection_id");
    st.Bind(1, org);
    st.Bind(2, env);
    st.Bind(3, provider);
    st.Bind(4, found->id);
    PLINTH_RETURN_IF_ERROR(st.Run());
    return Audit(c, env.empty() ? "set_default.org" : "set_default.env:" + env, *found, actor,
                 absl::ToUnixMicros(clock_->Now()));
  });
}

absl::StatusOr<ResolvedConnection> ConnectionStore::Resolve(const std::string& org, const std::string& env,
                                                            const std::string& provider,
                                                            const std::string& requested) const {
  ResolvedConnection out;
  std::string sealed;
  PLINTH_RETURN_IF_ERROR(db_->ReadSnapshot([&](Connection& c) -> absl::Status {
    if (!requested.empty()) {
      PLINTH_ASSIGN_OR_RETURN(out.connection, FindIn(c, "org = ? AND name = ?", org, requested, &sealed));
      if (!out.connection) return NotFound(org, requested);
      out.reason = "named in the request";
      return absl::OkStatus();
    }
    for (const std::string& scope : {env, std::string()}) {
      Statement& st = c.Prepare("SELECT connection_id FROM connection_defaults WHERE org = ? AND env = ? AND provider = ?");
      st.Bind(1, org);
      st.Bind(2, scope);
      st.Bind(3, provider);
      PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) continue;
      std::string id = st.ColumnText(0);
      st.Reset();
      PLINTH_ASSIGN_OR_RETURN(out.connection, FindIn(c, "id = ?", id, "", &sealed));
      out.reason = scope.empty() ? absl::StrCat("default ", provider, " connection of org ", org)
                                 : absl::StrCat("default ", provider, " connection of env ", env);
      return absl::OkStatus();
    }
    out.reason = absl::StrCat("no ", provider, " connection: the engine's ambient credentials");
    return absl::OkStatus();
  }));
  if (out.connection) {
    PLINTH_ASSIGN_OR_RETURN(std::string plain, box_->Open(sealed));
    json s = json::parse(plain, nullptr, false);
    if (s.is_object()) out.connection->secrets = s.get<std::map<std::string, std::string>>();
  }
  return out;
}

}  // namespace plinth::store
