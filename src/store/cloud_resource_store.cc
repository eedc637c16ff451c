#include "plinth/store/cloud_resource_store.h"

#include "plinth/manifest/names.h"

#include <optional>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "plinth/core/error_reason.h"
#include "plinth/core/fnv.h"
#include "plinth/core/ids.h"
#include "plinth/core/status_macros.h"

namespace plinth::store {
namespace {

using nlohmann::json;

constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 1000;

constexpr char kColumns[] =
    "id, org, env, kind, name, api_version, manifest, outputs, version, created_at, created_by, "
    "updated_at, updated_by, deployed, COALESCE(project_id, ''), deployed_digest";

CloudResourceRecord ReadRow(const Statement& st, bool parse_manifest = true) {
  CloudResourceRecord r;
  r.id = st.ColumnText(0);
  r.key = {st.ColumnText(1), st.ColumnText(2), st.ColumnText(3), st.ColumnText(4)};
  r.api_version = st.ColumnText(5);
  r.manifest_text = st.ColumnText(6);
  if (parse_manifest) r.manifest = json::parse(r.manifest_text, nullptr, /*allow_exceptions=*/false);
  r.outputs = st.ColumnIsNull(7) ? json(nullptr)
                                 : json::parse(st.ColumnText(7), nullptr, false);
  r.version = st.ColumnInt64(8);
  r.created_at = absl::FromUnixMicros(st.ColumnInt64(9));
  r.created_by = st.ColumnText(10);
  r.updated_at = absl::FromUnixMicros(st.ColumnInt64(11));
  r.updated_by = st.ColumnText(12);
  r.deployed = st.ColumnInt64(13) != 0;
  r.project_id = st.ColumnText(14);
  r.deployed_digest = st.ColumnText(15);
  return r;
}

absl::Status NotFound(const ResourceSelector& sel) {
  if (!sel.id.empty()) return absl::NotFoundError(absl::StrCat("cloud resource ", sel.id, " not found"));
  return absl::NotFoundError(absl::StrCat("cloud resource ", sel.key.ToString(), " not found"));
}

absl::StatusOr<std::optional<CloudResourceRecord>> Find(Connection& c, const ResourceSelector& sel,
                                                         bool parse_manifest = true) {
  Statement* st;
  if (!sel.id.empty()) {
    st = &c.Prepare(absl::StrCat("SELECT ", kColumns, " FROM cloud_resources WHERE id = ?"));
    st->Bind(1, sel.id);
  } else {
    st = &c.Prepare(absl::StrCat("SELECT ", kColumns,
                                 " FROM cloud_resources WHERE org = ? AND env = ? AND kind = ? AND name = ?"));
    st->Bind(1, sel.key.org);
    st->Bind(2, sel.key.env);
    st->Bind(3, sel.key.kind);
    st->Bind(4, sel.key.name);
  }
  PLINTH_ASSIGN_OR_RETURN(bool row, st->Step());
  if (!row) return std::optional<CloudResourceRecord>();
  CloudResourceRecord r = ReadRow(*st, parse_manifest);
  st->Reset();
  return std::optional<CloudResourceRecord>(std::move(r));
}

ResourceSelector KeyOf(const manifest::Manifest& m) {
  return ResourceSelector{"", {m.org, m.env, m.kind, m.name}};
}

std::string LabelsOf(const json& manifest) {
  const json* labels = nullptr;
  if (auto md = manifest.find("metadata"); md != manifest.end() && md->is_object()) {
    if (auto l = md->find("labels"); l != md->end() && l->is_object()) labels = &*l;
  }
  return labels ? labels->dump() : "{}";
}

absl::Status WriteRevision(Connection& c, const CloudResourceRecord& r, const std::string& action,
                           const std::string& actor, int64_t at) {
  Statement& st = c.Prepare(
      "INSERT INTO cloud_resource_revisions (resource_id, version, action, org, env, kind, name, "
      "manifest, actor, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  st.Bind(1, r.id);
  st.Bind(2, r.version);
  st.Bind(3, action);
  st.Bind(4, r.key.org);
  st.Bind(5, r.key.env);
  st.Bind(6, r.key.kind);
  st.Bind(7, r.key.name);
  st.Bind(8, r.manifest.dump());
  st.Bind(9, actor);
  st.Bind(10, at);
  return st.Run();
}

absl::Status WriteAudit(Connection& c, const std::string& action, const CloudResourceRecord& r,
                        std::optional<int64_t> before, std::optional<int64_t> after,
                        const std::string& actor, int64_t at) {
  Statement& st = c.Prepare(
      "INSERT INTO audit_events (created_at, actor, action, target_type, target_id, target_name, "
      "before_version, after_version) VALUES (?, ?, ?, 'cloud_resource', ?, ?, ?, ?)");
  st.Bind(1, at);
  st.Bind(2, actor);
  st.Bind(3, absl::StrCat("cloud_resource.", action));
  st.Bind(4, r.id);
  st.Bind(5, r.key.ToString());
  if (before) st.Bind(6, *before); else st.BindNull(6);
  if (after) st.Bind(7, *after); else st.BindNull(7);
  return st.Run();
}

// The outcome of writing one manifest, computed inside a transaction.
struct Planned {
  ApplyAction action;
  CloudResourceRecord record;
  std::optional<int64_t> before;
};

// `owner`: the project writing (empty for direct API writes). A resource
// owned by a project changes only through that project.
absl::StatusOr<Planned> Plan(Connection& c, const manifest::Manifest& m, const std::string& actor,
                             absl::Time now, const std::string& owner = "") {
  PLINTH_ASSIGN_OR_RETURN(auto existing, Find(c, KeyOf(m)));
  if (existing && existing->project_id != owner) {
    if (existing->project_id.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          m.source, " (", m.KindName(), "): cloud resource ", existing->key.ToString(),
          " already exists outside this project; delete it or rename the project's resource"));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        m.source.empty() ? std::string() : m.source + ": ", "cloud resource ", existing->key.ToString(),
        " is owned by infra project ", existing->project_id, "; change it through that project"));
  }
  if (!m.id.empty() && (!existing || existing->id != m.id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        m.source, " (", m.KindName(), "): metadata.id: \"", m.id, "\" ",
        existing ? absl::StrCat("does not match the stored resource ", existing->id)
                 : std::string("names no stored resource (ids are assigned by plinth; leave it out)")));
  }
  Planned p;
  json body = m.body;
  if (existing) {
    body["metadata"]["id"] = existing->id;
    p.before = existing->version;
    p.record = std::move(*existing);
    if (p.record.manifest == body && p.record.api_version == m.api_version) {
      p.action = ApplyAction::kUnchanged;
      return p;
    }
    p.action = ApplyAction::kUpdated;
    p.record.version += 1;
  } else {
    const std::string slug = manifest::ResourceSlug(m.name);
    Statement& same = c.Prepare(
        "SELECT name FROM cloud_resources WHERE org = ? AND env = ? AND kind = ? AND slug = ? AND name != ? LIMIT 1");
    same.Bind(1, m.org);
    same.Bind(2, m.env);
    same.Bind(3, m.kind);
    same.Bind(4, slug);
    same.Bind(5, m.name);
    PLINTH_ASSIGN_OR_RETURN(bool clash, same.Step());
    if (clash) {
      std::string other = same.ColumnText(0);
      same.Reset();
      return absl::AlreadyExistsError(absl::StrCat(
          m.source.empty() ? std::string() : m.source + " ", "(", m.KindName(), "): metadata.name: \"", m.name,
          "\" and the stored ", m.kind, " \"", other, "\" in ", m.org, "/", m.env, " have the same slug \"", slug,
          "\", which engines and state keys use; rename one"));
    }
    same.Reset();
    p.action = ApplyAction::kCreated;
    p.record.id = core::NewId("cr");
    body["metadata"]["id"] = p.record.id;
    p.record.key = {m.org, m.env, m.kind, m.name};
    p.record.version = 1;
    p.record.created_at = now;
    p.record.created_by = actor;
    p.record.outputs = nullptr;
  }
  p.record.api_version = m.api_version;
  p.record.manifest = std::move(body);
  p.record.updated_at = now;
  p.record.updated_by = actor;
  return p;
}

absl::Status Commit(Connection& c, const Planned& p, const std::string& actor, const std::string& owner = "") {
  if (p.action == ApplyAction::kUnchanged) return absl::OkStatus();
  const CloudResourceRecord& r = p.record;
  int64_t at = absl::ToUnixMicros(r.updated_at);
  if (p.action == ApplyAction::kCreated) {
    Statement& st = c.Prepare(
        "INSERT INTO cloud_resources (id, org, env, kind, name, api_version, manifest, labels, "
        "outputs, version, created_at, created_by, updated_at, updated_by, project_id, slug) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?)");
    st.Bind(1, r.id);
    st.Bind(2, r.key.org);
    st.Bind(3, r.key.env);
    st.Bind(4, r.key.kind);
    st.Bind(5, r.key.name);
    st.Bind(6, r.api_version);
    st.Bind(7, r.manifest.dump());
    st.Bind(8, LabelsOf(r.manifest));
    st.Bind(9, r.version);
    st.Bind(10, at);
    st.Bind(11, r.created_by);
    st.Bind(12, at);
    st.Bind(13, r.updated_by);
    if (owner.empty()) st.BindNull(14); else st.Bind(14, owner);
    st.Bind(15, manifest::ResourceSlug(r.key.name));
    PLINTH_RETURN_IF_ERROR(st.Run());
  } else {
    Statement& st = c.Prepare(
        "UPDATE cloud_resources SET api_version = ?, manifest = ?, labels = ?, version = ?, "
        "updated_at = ?, updated_by = ? WHERE id = ? AND version = ?");
    st.Bind(1, r.api_version);
    st.Bind(2, r.manifest.dump());
    st.Bind(3, LabelsOf(r.manifest));
    st.Bind(4, r.version);
    st.Bind(5, at);
    st.Bind(6, r.updated_by);
    st.Bind(7, r.id);
    st.Bind(8, *p.before);
    PLINTH_RETURN_IF_ERROR(st.Run());
    if (c.Changes() != 1) {
      return core::WithReason(absl::AbortedError("concurrent modification"), "CONCURRENT_MODIFICATION");
    }
  }
  const char* action = p.action == ApplyAction::kCreated ? "create" : "update";
  PLINTH_RETURN_IF_ERROR(WriteRevision(c, r, action, actor, at));
  return WriteAudit(c, action, r, p.before, r.version, actor, at);
}

// Stable across builds: binds a page token to its query.
uint64_t Fingerprint(absl::string_view s) { return core::Fnv1a64(s); }

std::string QueryFingerprint(const ListQuery& q) {
  std::string s = absl::StrCat(q.org, "\x1f", q.env, "\x1f", q.kind);
  for (const auto& r : q.selector) {
    absl::StrAppend(&s, "\x1f", r.key, "\x1e", static_cast<int>(r.op), "\x1e", r.value);
  }
  return absl::StrCat(Fingerprint(s));
}

std::string EncodeToken(const json& j) { return absl::WebSafeBase64Escape(j.dump()); }

absl::StatusOr<json> DecodeToken(const std::string& token, const std::string& fingerprint) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw)) {
    return absl::InvalidArgumentError("page_token: not a token this server issued");
  }
  json j = json::parse(raw, nullptr, false);
  if (!j.is_object() || !j.contains("q") || j["q"] != fingerprint || !j.contains("a")) {
    return absl::InvalidArgumentError(
        "page_token: not a token this server issued for this query (filters must stay the same "
        "across pages)");
  }
  return j["a"];
}

absl::StatusOr<int> PageSize(int requested) {
  if (requested < 0) return absl::InvalidArgumentError("page_size: must not be negative");
  if (requested == 0) return kDefaultPageSize;
  return std::min(requested, kMaxPageSize);
}

std::string LabelPath(const std::string& key) { return absl::StrCat("$.\"", key, "\""); }

absl::Status DeleteRow(Connection& c, const CloudResourceRecord& existing, const std::string& actor, absl::Time now) {
  Statement& st = c.Prepare("DELETE FROM cloud_resources WHERE id = ?");
  st.Bind(1, existing.id);
  PLINTH_RETURN_IF_ERROR(st.Run());
  int64_t at = absl::ToUnixMicros(now);
  CloudResourceRecord tombstone = existing;
  tombstone.version = existing.version + 1;
  PLINTH_RETURN_IF_ERROR(WriteRevision(c, tombstone, "delete", actor, at));
  return WriteAudit(c, "delete", existing, existing.version, std::nullopt, actor, at);
}

}  // namespace

namespace internal {

absl::StatusOr<ApplyOutcome> WriteOwnedResource(Connection& c, const manifest::Manifest& m,
                                                const std::string& project_id, const std::string& actor,
                                                absl::Time now) {
  PLINTH_ASSIGN_OR_RETURN(Planned p, Plan(c, m, actor, now, project_id));
  PLINTH_RETURN_IF_ERROR(Commit(c, p, actor, project_id));
  return ApplyOutcome{p.action, std::move(p.record), m.source};
}

absl::StatusOr<std::optional<CloudResourceRecord>> FindResource(Connection& c, const std::string& id) {
  return Find(c, ResourceSelector{id, {}});
}

absl::Status DeleteResourceRow(Connection& c, const CloudResourceRecord& r, const std::string& actor, absl::Time now) {
  return DeleteRow(c, r, actor, now);
}

absl::StatusOr<std::vector<CloudResourceRecord>> OwnedResources(Connection& c, const std::string& project_id) {
  Statement& st = c.Prepare(absl::StrCat("SELECT ", kColumns,
                                         " FROM cloud_resources WHERE project_id = ? ORDER BY env, kind, name"));
  st.Bind(1, project_id);
  std::vector<CloudResourceRecord> out;
  for (;;) {
    PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(ReadRow(st));
  }
  return out;
}

absl::Status SetResourceOwner(Connection& c, const std::string& id, const std::string& project_id) {
  Statement& st = c.Prepare("UPDATE cloud_resources SET project_id = ? WHERE id = ?");
  if (project_id.empty()) st.BindNull(1); else st.Bind(1, project_id);
  st.Bind(2, id);
  return st.Run();
}

}  // namespace internal

absl::StatusOr<std::vector<ApplyOutcome>> CloudResourceStore::Apply(
    const std::vector<manifest::Manifest>& manifests, const std::string& actor, bool dry_run) {
  std::vector<ApplyOutcome> out;
  auto run = [&](Connection& c) -> absl::Status {
    out.clear();
    absl::Time now = clock_->Now();
    for (const auto& m : manifests) {
      PLINTH_ASSIGN_OR_RETURN(Planned p, Plan(c, m, actor, now));
      if (!dry_run) PLINTH_RETURN_IF_ERROR(Commit(c, p, actor));
      out.push_back(ApplyOutcome{p.action, std::move(p.record), m.source});
    }
    return absl::OkStatus();
  };
  PLINTH_RETURN_IF_ERROR(dry_run ? db_->ReadSnapshot(run) : db_->Write(run));
  return out;
}

absl::StatusOr<CloudResourceRecord> CloudResourceStore::Create(const manifest::Manifest& m,
                                                               const std::string& actor) {
  CloudResourceRecord out;
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(Planned p, Plan(c, m, actor, clock_->Now()));
    if (p.action != ApplyAction::kCreated) {
      return absl::AlreadyExistsError(absl::StrCat(
          "cloud resource ", p.record.key.ToString(), " already exists (id ", p.record.id,
          ", version ", p.record.version, "); use apply or update"));
    }
    PLINTH_RETURN_IF_ERROR(Commit(c, p, actor));
    out = std::move(p.record);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<CloudResourceRecord> CloudResourceStore::Update(const manifest::Manifest& m,
                                                               int64_t expected_version,
                                                               const std::string& actor) {
  if (expected_version <= 0) {
    return absl::InvalidArgumentError(
        "version: required: pass the version you read, so that a concurrent change is not "
        "overwritten");
  }
  CloudResourceRecord out;
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(Planned p, Plan(c, m, actor, clock_->Now()));
    if (p.action == ApplyAction::kCreated) return NotFound(KeyOf(m));
    if (*p.before != expected_version) {
      return core::WithReason(absl::AbortedError(absl::StrCat(
          "cloud resource ", p.record.key.ToString(), " is at version ", *p.before, ", not ",
          expected_version, ": it changed since you read it; read it again and retry")), "VERSION_MISMATCH");
    }
    PLINTH_RETURN_IF_ERROR(Commit(c, p, actor));
    out = std::move(p.record);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<CloudResourceRecord> CloudResourceStore::Get(const ResourceSelector& sel,
                                                            bool parse_manifest) const {
  std::optional<CloudResourceRecord> found;
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(found, Find(c, sel, parse_manifest));
    return absl::OkStatus();
  }));
  if (!found) return NotFound(sel);
  return std::move(*found);
}

absl::StatusOr<ListPage> CloudResourceStore::List(const ListQuery& q) const {
  PLINTH_ASSIGN_OR_RETURN(int page_size, PageSize(q.page_size));
  std::string fingerprint = QueryFingerprint(q);
  json after;
  if (!q.page_token.empty()) {
    PLINTH_ASSIGN_OR_RETURN(after, DecodeToken(q.page_token, fingerprint));
    if (!after.is_array() || after.size() != 4) {
      return absl::InvalidArgumentError("page_token: malformed");
    }
  }
  std::vector<std::string> where;
  std::vector<std::string> args;
  auto add = [&](const std::string& clause, std::initializer_list<std::string> values) {
    where.push_back(clause);
    args.insert(args.end(), values);
  };
  if (!q.org.empty()) add("org = ?", {q.org});
  if (!q.env.empty()) add("env = ?", {q.env});
  if (!q.kind.empty()) add("kind = ?", {q.kind});
  using Op = manifest::LabelRequirement::Op;
  const bool pg = db_->dialect() == Dialect::kPostgres;
  for (const auto& r : q.selector) {
    std::string path = LabelPath(r.key);
    if (pg) {
      // labels is the JSON text of metadata.labels; jsonb_exists, not the
      // ? operator, which reads as a placeholder.
      switch (r.op) {
        case Op::kEquals: add("(labels::jsonb ->> ?) = ?", {r.key, r.value}); break;
        case Op::kNotEquals:
          add("(NOT jsonb_exists(labels::jsonb, ?) OR (labels::jsonb ->> ?) != ?)", {r.key, r.key, r.value});
          break;
        case Op::kExists: add("jsonb_exists(labels::jsonb, ?)", {r.key}); break;
        case Op::kNotExists: add("NOT jsonb_exists(labels::jsonb, ?)", {r.key}); break;
      }
      continue;
    }
    switch (r.op) {
      case Op::kEquals:
        add("json_extract(labels, ?) = ?", {path, r.value});
        break;
      case Op::kNotEquals:
        add("(json_type(labels, ?) IS NULL OR json_extract(labels, ?) != ?)", {path, path, r.value});
        break;
      case Op::kExists:
        add("json_type(labels, ?) IS NOT NULL", {path});
        break;
      case Op::kNotExists:
        add("json_type(labels, ?) IS NULL", {path});
        break;
    }
  }
  if (!after.is_null()) {
    for (const auto& v : after) {
      if (!v.is_string()) return absl::InvalidArgumentError("page_token: malformed");
    }
    add("(org, env, kind, name) > (?, ?, ?, ?)",
        {after[0].get<std::string>(), after[1].get<std::string>(), after[2].get<std::string>(),
         after[3].get<std::string>()});
  }
  std::string sql = absl::StrCat("SELECT ", kColumns, " FROM cloud_resources");
  if (!where.empty()) absl::StrAppend(&sql, " WHERE ", absl::StrJoin(where, " AND "));
  absl::StrAppend(&sql, " ORDER BY org, env, kind, name LIMIT ?");

  ListPage page;
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(sql);
    int i = 1;
    for (const auto& a : args) st.Bind(i++, a);
    st.Bind(i, static_cast<int64_t>(page_size) + 1);
    for (;;) {
      PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      page.items.push_back(ReadRow(st));
    }
    return absl::OkStatus();
  }));
  if (static_cast<int>(page.items.size()) > page_size) {
    page.items.resize(page_size);
    const auto& k = page.items.back().key;
    page.next_page_token =
        EncodeToken(json{{"q", fingerprint}, {"a", json::array({k.org, k.env, k.kind, k.name})}});
  }
  return page;
}

absl::StatusOr<CloudResourceRecord> CloudResourceStore::Delete(const ResourceSelector& sel,
                                                               int64_t expected_version,
                                                               const std::string& actor) {
  CloudResourceRecord out;
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(auto existing, Find(c, sel));
    if (!existing) return NotFound(sel);
    if (!existing->project_id.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cloud resource ", existing->key.ToString(), " is owned by infra project ", existing->project_id,
          "; remove it from the project (update, undeploy or purge the project)"));
    }
    if (expected_version > 0 && existing->version != expected_version) {
      return core::WithReason(absl::AbortedError(absl::StrCat("cloud resource ", existing->key.ToString(),
                                                              " is at version ", existing->version, ", not ",
                                                              expected_version, ": it changed since you read it")),
                              "VERSION_MISMATCH");
    }
    PLINTH_RETURN_IF_ERROR(DeleteRow(c, *existing, actor, clock_->Now()));
    out = std::move(*existing);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<RevisionPage> CloudResourceStore::ListRevisions(const ResourceSelector& sel,
                                                               int page_size_requested,
                                                               const std::string& token) const {
  PLINTH_ASSIGN_OR_RETURN(int page_size, PageSize(page_size_requested));
  RevisionPage page;
  PLINTH_RETURN_IF_ERROR(db_->ReadSnapshot([&](Connection& c) -> absl::Status {
    std::string id = sel.id;
    if (id.empty()) {
      PLINTH_ASSIGN_OR_RETURN(auto existing, Find(c, sel));
      if (!existing) return NotFound(sel);
      id = existing->id;
    }
    int64_t before = std::numeric_limits<int64_t>::max();
    if (!token.empty()) {
      PLINTH_ASSIGN_OR_RETURN(json a, DecodeToken(token, id));
      if (!a.is_number_integer()) return absl::InvalidArgumentError("page_token: malformed");
      before = a.get<int64_t>();
    }
    Statement& st = c.Prepare(
        "SELECT resource_id, version, action, org, env, kind, name, manifest, actor, created_at "
        "FROM cloud_resource_revisions WHERE resource_id = ? AND version < ? "
        "ORDER BY version DESC LIMIT ?");
    st.Bind(1, id);
    st.Bind(2, before);
    st.Bind(3, static_cast<int64_t>(page_size) + 1);
    for (;;) {
      PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      Revision r;
      r.resource_id = st.ColumnText(0);
      r.version = st.ColumnInt64(1);
      r.action = st.ColumnText(2);
      r.key = {st.ColumnText(3), st.ColumnText(4), st.ColumnText(5), st.ColumnText(6)};
      r.manifest = json::parse(st.ColumnText(7), nullptr, false);
      r.actor = st.ColumnText(8);
      r.created_at = absl::FromUnixMicros(st.ColumnInt64(9));
      page.items.push_back(std::move(r));
    }
    if (page.items.empty() && token.empty()) return NotFound(sel);
    if (static_cast<int>(page.items.size()) > page_size) {
      page.items.resize(page_size);
      page.next_page_token = EncodeToken(json{{"q", id}, {"a", page.items.back().version}});
    }
    return absl::OkStatus();
  }));
  return page;
}

}  // namespace plinth::store
