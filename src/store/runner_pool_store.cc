#include "plinth/store/runner_pool_store.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "pipeline_rows.h"
#include "plinth/core/ids.h"
#include "plinth/core/secret_box.h"
#include "plinth/core/status_macros.h"
#include "plinth/manifest/label_selector.h"

namespace plinth::store {
namespace {

using nlohmann::json;

constexpr char kTokenPrefix[] = "plrt_";

absl::Status CheckPoolName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 63 && absl::ascii_islower(name[0]);
  for (char c : name) ok = ok && (absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-');
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "name: \"", absl::CEscape(name), "\" is not a pool name (1-63 of a-z, 0-9 and '-', starting with a letter)"));
  }
  return absl::OkStatus();
}

std::optional<absl::Time> OptionalTime(const Statement& st, int col) {
  if (st.ColumnIsNull(col)) return std::nullopt;
  return absl::FromUnixMicros(st.ColumnInt64(col));
}

constexpr char kTokenColumns[] = "id, pool, description, created_at, created_by, revoked_at, revoked_by";

PoolTokenRecord ReadToken(const Statement& st) {
  PoolTokenRecord t;
  t.id = st.ColumnText(0);
  t.pool = st.ColumnText(1);
  t.description = st.ColumnText(2);
  t.created_at = absl::FromUnixMicros(st.ColumnInt64(3));
  t.created_by = st.ColumnText(4);
  t.revoked_at = OptionalTime(st, 5);
  t.revoked_by = st.ColumnText(6);
  return t;
}

constexpr char kBindingColumns[] = "id, pool, org, env, label_selector, created_at, created_by";

PoolBindingRecord ReadBinding(const Statement& st) {
  PoolBindingRecord b;
  b.id = st.ColumnText(0);
  b.pool = st.ColumnText(1);
  b.org = st.ColumnText(2);
  b.env = st.ColumnText(3);
  b.label_selector = st.ColumnText(4);
  b.created_at = absl::FromUnixMicros(st.ColumnInt64(5));
  b.created_by = st.ColumnText(6);
  return b;
}

constexpr char kRunnerColumns[] =
    "id, pool, name, version, max_jobs, engines, connections, address, token_id, connected_at, last_heartbeat";

RunnerRecord ReadRunner(const Statement& st) {
  RunnerRecord r;
  r.id = st.ColumnText(0);
  r.pool = st.ColumnText(1);
  r.name = st.ColumnText(2);
  r.version = st.ColumnText(3);
  r.max_jobs = static_cast<int>(st.ColumnInt64(4));
  json e = json::parse(st.ColumnText(5), nullptr, false);
  if (e.is_array()) r.engines = e.get<std::vector<std::string>>();
  json c = json::parse(st.ColumnText(6), nullptr, false);
  if (c.is_array()) r.connections = c.get<std::vector<std::string>>();
  r.address = st.ColumnText(7);
  r.token_id = st.ColumnText(8);
  r.connected_at = OptionalTime(st, 9);
  r.last_heartbeat = OptionalTime(st, 10);
  return r;
}

template <typename Row, typename Reader>
absl::StatusOr<std::vector<Row>> Rows(Statement& st, Reader read) {
  std::vector<Row> out;
  for (;;) {
    PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(read(st));
  }
  return out;
}

absl::StatusOr<std::optional<RunnerPoolRecord>> FindPool(Connection& c, const std::string& name) {
  Statement& st = c.Prepare("SELECT name, description, created_at, created_by FROM runner_pools WHERE name = ?");
  st.Bind(1, name);
  PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<RunnerPoolRecord>();
  RunnerPoolRecord p;
  p.name = st.ColumnText(0);
  p.description = st.ColumnText(1);
  p.created_at = absl::FromUnixMicros(st.ColumnInt64(2));
  p.created_by = st.ColumnText(3);
  st.Reset();
  Statement& tokens = c.Prepare(absl::StrCat("SELECT ", kTokenColumns, " FROM runner_pool_tokens WHERE pool = ? ORDER BY created_at, id"));
  tokens.Bind(1, name);
  PLINTH_ASSIGN_OR_RETURN(p.tokens, Rows<PoolTokenRecord>(tokens, ReadToken));
  Statement& bindings = c.Prepare(absl::StrCat("SELECT ", kBindingColumns, " FROM runner_pool_bindings WHERE pool = ? ORDER BY created_at, id"));
  bindings.Bind(1, name);
  PLINTH_ASSIGN_OR_RETURN(p.bindings, Rows<PoolBindingRecord>(bindings, ReadBinding));
  return std::optional<RunnerPoolRecord>(std::move(p));
}

absl::Status PoolNotFound(const std::string& name) {
  return absl::NotFoundError(absl::StrCat("runner pool ", name, " not found (`plinth runner-pool list` shows them)"));
}

}  // namespace

absl::StatusOr<RunnerPoolRecord> RunnerPoolStore::CreatePool(const std::string& name, const std::string& description,
                                                             const std::string& actor) {
  PLINTH_RETURN_IF_ERROR(CheckPoolName(name));
  RunnerPoolRecord p{name, description, clock_->Now(), actor, {}, {}};
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(auto existing, FindPool(c, name));
    if (existing) return absl::AlreadyExistsError(absl::StrCat("runner pool ", name, " already exists"));
    Statement& st = c.Prepare("INSERT INTO runner_pools (name, description, created_at, created_by) VALUES (?, ?, ?, ?)");
    st.Bind(1, name);
    st.Bind(2, description);
    st.Bind(3, absl::ToUnixMicros(p.created_at));
    st.Bind(4, actor);
    PLINTH_RETURN_IF_ERROR(st.Run());
    return internal::Audit(c, "runner_pool.create", "runner_pool", name, name, actor, p.created_at);
  }));
  return p;
}

absl::StatusOr<RunnerPoolRecord> RunnerPoolStore::GetPool(const std::string& name) const {
  std::optional<RunnerPoolRecord> out;
  PLINTH_RETURN_IF_ERROR(db_->ReadSnapshot([&](Connection& c) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(out, FindPool(c, name));
    return absl::OkStatus();
  }));
  if (!out) return PoolNotFound(name);
  return std::move(*out);
}

absl::StatusOr<std::vector<RunnerPoolRecord>> RunnerPoolStore::ListPools() const {
  std::vector<RunnerPoolRecord> out;
  PLINTH_RETURN_IF_ERROR(db_->ReadSnapshot([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare("SELECT name FROM runner_pools ORDER BY name");
    PLINTH_ASSIGN_OR_RETURN(auto names, Rows<std::string>(st, [](const Statement& s) { return s.ColumnText(0); }));
    for (const auto& name : names) {
      PLINTH_ASSIGN_OR_RETURN(auto p, FindPool(c, name));
      if (p) out.push_back(std::move(*p));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::Status RunnerPoolStore::DeletePool(const std::string& name, const std::string& actor) {
  if (name == kLocalPool) {
    return absl::FailedPreconditionError("runner pool local is the runner built into plinthd; it cannot be deleted");
  }
  return db_->Write([&](Connection& c) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(auto p, FindPool(c, name));
    if (!p) return PoolNotFound(name);
    if (!p->bindings.empty()) {
      return absl::FailedPreconditionError(absl::StrCat("runner pool ", name, " still runs the work of ",
                                                        p->bindings.size(), " binding(s): unbind them first"));
    }
    for (const auto& t : p->tokens) {
      if (!t.revoked_at) {
        return absl::FailedPreconditionError(
            absl::StrCat("runner pool ", name, " has token ", t.id, " not revoked: revoke its tokens first"));
      }
    }
    for (const char* sql : {"DELETE FROM runner_pool_tokens WHERE pool = ?", "DELETE FROM runners WHERE pool = ?",
                            "DELETE FROM runner_pools WHERE name = ?"}) {
      Statement& st = c.Prepare(sql);
      st.Bind(1, name);
      PLINTH_RETURN_IF_ERROR(st.Run());
    }
    return internal::Audit(c, "runner_pool.delete", "runner_pool", name, name, actor, clock_->Now());
  });
}

absl::StatusOr<std::pair<PoolTokenRecord, std::string>> RunnerPoolStore::CreateToken(const std::string& pool,
                                                                                     const std::string& description,
                                                                                     const std::string& actor) {
  if (pool == kLocalPool) {
    return absl::InvalidArgumentError("pool: local is plinthd's own runner; remote runners serve pools of their own");
  }
  PoolTokenRecord t;
  t.id = core::NewId("rtk");
  t.pool = pool;
  t.description = description;
  t.created_at = clock_->Now();
  t.created_by = actor;
  const std::string secret_part = core::RandomHex(24);
  std::string secret = absl::StrCat(kTokenPrefix, t.id, "_", secret_part);
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(auto p, FindPool(c, pool));
    if (!p) return PoolNotFound(pool);
    Statement& st = c.Prepare(
        "INSERT INTO runner_pool_tokens (id, pool, description, secret_hash, created_at, created_by) "
        "VALUES (?, ?, ?, ?, ?, ?)");
    st.Bind(1, t.id);
    st.Bind(2, pool);
    st.Bind(3, description);
    st.Bind(4, core::Sha256Hex(secret_part));
    st.Bind(5, absl::ToUnixMicros(t.created_at));
    st.Bind(6, actor);
    PLINTH_RETURN_IF_ERROR(st.Run());
    return internal::Audit(c, "runner_pool.token_create", "runner_pool_token", t.id, pool, actor, t.created_at);
  }));
  return std::make_pair(t, secret);
}

absl::StatusOr<PoolTokenRecord> RunnerPoolStore::GetToken(const std::string& id) const {
  std::optional<PoolTokenRecord> out;
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(absl::StrCat("SELECT ", kTokenColumns, " FROM runner_pool_tokens WHERE id = ?"));
    st.Bind(1, id);
    PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row) out = ReadToken(st);
    st.Reset();
    return absl::OkStatus();
  }));
  if (!out) return absl::NotFoundError(absl::StrCat("runner pool token ", id, " not found"));
  return std::move(*out);
}

absl::StatusOr<PoolTokenRecord> RunnerPoolStore::RevokeToken(const std::string& id, const std::string& actor) {
  PLINTH_ASSIGN_OR_RETURN(PoolTokenRecord t, GetToken(id));
  if (t.revoked_at) return t;
  t.revoked_at = clock_->Now();
  t.revoked_by = actor;
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare("UPDATE runner_pool_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL");
    st.Bind(1, absl::ToUnixMicros(*t.revoked_at));
    st.Bind(2, actor);
    st.Bind(3, id);
    PLINTH_RETURN_IF_ERROR(st.Run());
    return internal::Audit(c, "runner_pool.token_revoke", "runner_pool_token", id, t.pool, actor, *t.revoked_at);
  }));
  return t;
}

absl::StatusOr<PoolTokenRecord> RunnerPoolStore::Authenticate(const std::string& secret) const {
  const absl::Status refused = absl::UnauthenticatedError("runner token: not a valid pool token");
  if (!absl::StartsWith(secret, kTokenPrefix)) return refused;
  std::string rest = secret.substr(sizeof(kTokenPrefix) - 1);
  size_t sep = rest.rfind('_');
  if (sep == std::string::npos || sep == 0 || sep + 1 >= rest.size()) return refused;
  std::string id = rest.substr(0, sep), part = rest.substr(sep + 1);
  std::string hash;
  std::optional<PoolTokenRecord> token;
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(absl::StrCat("SELECT ", kTokenColumns, ", secret_hash FROM runner_pool_tokens WHERE id = ?"));
    st.Bind(1, id);
    PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row) {
      token = ReadToken(st);
      hash = st.ColumnText(7);
    }
    st.Reset();
    return absl::OkStatus();
  }));
  if (!token || token->revoked_at || !core::ConstantTimeEquals(core::Sha256Hex(part), hash)) return refused;
  return std::move(*token);
}

absl::StatusOr<PoolBindingRecord> RunnerPoolStore::Bind(const std::string& pool, const std::string& org,
                                                        const std::string& env, const std::string& label_selector,
                                                        const std::string& actor) {
  if (org.empty()) return absl::InvalidArgumentError("org: required");
  if (!label_selector.empty() && env.empty()) {
    return absl::InvalidArgumentError("label_selector: needs env (a selector binds resources of one org/env)");
  }
  if (!label_selector.empty()) {
    auto parsed = manifest::ParseLabelSelector(label_selector);
    if (!parsed.ok()) return parsed.status();
  }
  PoolBindingRecord b{core::NewId("rpb"), pool, org, env, label_selector, clock_->Now(), actor};
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(auto p, FindPool(c, pool));
    if (!p) return PoolNotFound(pool);
    Statement& dup = c.Prepare(
        "SELECT pool FROM runner_pool_bindings WHERE org = ? AND env = ? AND label_selector = ?");
    dup.Bind(1, org);
    dup.Bind(2, env);
    dup.Bind(3, label_selector);
    PLINTH_ASSIGN_OR_RETURN(bool taken, dup.Step());
    if (taken) {
      std::string other = dup.ColumnText(0);
      dup.Reset();
      return absl::AlreadyExistsError(absl::StrCat("this scope is already bound to runner pool ", other,
                                                   ": unbind it first"));
    }
    Statement& st = c.Prepare(
        "INSERT INTO runner_pool_bindings (id, pool, org, env, label_selector, created_at, created_by) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)");
    st.Bind(1, b.id);
    st.Bind(2, pool);
    st.Bind(3, org);
    st.Bind(4, env);
    st.Bind(5, label_selector);
    st.Bind(6, absl::ToUnixMicros(b.created_at));
    st.Bind(7, actor);
    PLINTH_RETURN_IF_ERROR(st.Run());
    return internal::Audit(c, "runner_pool.bind", "runner_pool_binding", b.id,
                           absl::StrCat(pool, " <- ", org, env.empty() ? "" : "/" + env,
                                        label_selector.empty() ? "" : " " + label_selector),
                           actor, b.created_at);
  }));
  return b;
}

absl::Status RunnerPoolStore::Unbind(const std::string& id, const std::string& actor) {
  return db_->Write([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare("DELETE FROM runner_pool_bindings WHERE id = ?");
    st.Bind(1, id);
    PLINTH_RETURN_IF_ERROR(st.Run());
    if (c.Changes() == 0) return absl::NotFoundError(absl::StrCat("runner pool binding ", id, " not found"));
    return internal::Audit(c, "runner_pool.unbind", "runner_pool_binding", id, id, actor, clock_->Now());
  });
}

absl::StatusOr<std::string> RunnerPoolStore::PoolFor(const std::string& org, const std::string& env,
                                                     const std::map<std::string, std::string>& labels) const {
  std::vector<PoolBindingRecord> bindings;
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(absl::StrCat("SELECT ", kBindingColumns,
                                           " FROM runner_pool_bindings WHERE org = ? AND (env = '' OR env = ?) "
                                           "ORDER BY created_at, id"));
    st.Bind(1, org);
    st.Bind(2, env);
    PLINTH_ASSIGN_OR_RETURN(bindings, Rows<PoolBindingRecord>(st, ReadBinding));
    return absl::OkStatus();
  }));
  const PoolBindingRecord* org_binding = nullptr;
  const PoolBindingRecord* env_binding = nullptr;
  for (const auto& b : bindings) {
    if (!b.label_selector.empty()) {
      auto selector = manifest::ParseLabelSelector(b.label_selector);
      if (selector.ok() && manifest::Matches(*selector, labels)) return b.pool;
    } else if (!b.env.empty()) {
      env_binding = &b;
    } else {
      org_binding = &b;
    }
  }
  if (env_binding) return env_binding->pool;
  if (org_binding) return org_binding->pool;
  return std::string(kLocalPool);
}

absl::StatusOr<RunnerRecord> RunnerPoolStore::RegisterRunner(RunnerRecord r) {
  r.connected_at = clock_->Now();
  r.last_heartbeat = r.connected_at;
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    Statement& find = c.Prepare("SELECT id FROM runners WHERE pool = ? AND name = ?");
    find.Bind(1, r.pool);
    find.Bind(2, r.name);
    PLINTH_ASSIGN_OR_RETURN(bool row, find.Step());
    r.id = row ? find.ColumnText(0) : core::NewId("rnr");
    find.Reset();
    Statement& st = c.Prepare(
        "INSERT INTO runners (id, pool, name, version, max_jobs, engines, connections, address, token_id, "
        "connected_at, last_heartbeat) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET pool = excluded.pool, name = excluded.name, version = excluded.version, max_jobs = excluded.max_jobs, engines = excluded.engines, connections = excluded.connections, address = excluded.address, token_id = excluded.token_id, connected_at = excluded.connected_at, last_heartbeat = excluded.last_heartbeat");
    st.Bind(1, r.id);
    st.Bind(2, r.pool);
    st.Bind(3, r.name);
    st.Bind(4, r.version);
    st.Bind(5, static_cast<int64_t>(r.max_jobs));
    st.Bind(6, json(r.engines).dump());
    st.Bind(7, json(r.connections).dump());
    st.Bind(8, r.address);
    st.Bind(9, r.token_id);
    st.Bind(10, absl::ToUnixMicros(*r.connected_at));
    st.Bind(11, absl::ToUnixMicros(*r.last_heartbeat));
    return st.Run();
  }));
  return r;
}

absl::Status RunnerPoolStore::RecordHeartbeat(const std::string& runner_id) {
  return db_->Write([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare("UPDATE runners SET last_heartbeat = ? WHERE id = ?");
    st.Bind(1, absl::ToUnixMicros(clock_->Now()));
    st.Bind(2, runner_id);
    return st.Run();
  });
}

absl::StatusOr<std::vector<RunnerRecord>> RunnerPoolStore::ListRunners(const std::string& pool) const {
  std::vector<RunnerRecord> out;
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(absl::StrCat("SELECT ", kRunnerColumns,
                                           " FROM runners WHERE (?1 = '' OR pool = ?1) ORDER BY pool, name"));
    st.Bind(1, pool);
    PLINTH_ASSIGN_OR_RETURN(out, Rows<RunnerRecord>(st, ReadRunner));
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace plinth::store
