#include "plinth/store/state_store.h"

#include "absl/strings/str_cat.h"
#include "plinth/core/status_macros.h"

namespace plinth::store {
namespace {

using nlohmann::json;

constexpr char kVersionColumns[] =
    "resource_id, version, format, serial, lineage, size_bytes, sha256, job_id, created_at";

StateVersionRecord ReadVersion(const Statement& st) {
  StateVersionRecord v;
  v.resource_id = st.ColumnText(0);
  v.version = st.ColumnInt64(1);
  v.format = st.ColumnText(2);
  v.serial = st.ColumnInt64(3);
  v.lineage = st.ColumnText(4);
  v.size_bytes = st.ColumnInt64(5);
  v.sha256 = st.ColumnText(6);
  v.job_id = st.ColumnText(7);
  v.created_at = absl::FromUnixMicros(st.ColumnInt64(8));
  return v;
}

absl::StatusOr<std::optional<StateLockRecord>> LockIn(Connection& c, const std::string& resource_id) {
  Statement& st = c.Prepare("SELECT lock_id, info, job_id, created_at FROM state_locks WHERE resource_id = ?");
  st.Bind(1, resource_id);
  PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<StateLockRecord>();
  StateLockRecord l;
  l.resource_id = resource_id;
  l.lock_id = st.ColumnText(0);
  json info = json::parse(st.ColumnText(1), nullptr, false);
  if (info.is_object()) l.info = info;
  l.job_id = st.ColumnText(2);
  l.created_at = absl::FromUnixMicros(st.ColumnInt64(3));
  return std::optional<StateLockRecord>(std::move(l));
}

absl::StatusOr<std::optional<StateVersionRecord>> LatestIn(Connection& c, const std::string& resource_id) {
  Statement& st = c.Prepare(absl::StrCat("SELECT ", kVersionColumns,
                                         " FROM state_versions WHERE resource_id = ? ORDER BY version DESC LIMIT 1"));
  st.Bind(1, resource_id);
  PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<StateVersionRecord>();
  return std::optional<StateVersionRecord>(ReadVersion(st));
}

absl::Status Held(const std::string& resource_id, const StateLockRecord& lock, StateLockRecord* holder) {
  if (holder != nullptr) *holder = lock;
  return absl::FailedPreconditionError(absl::StrCat("the state of ", resource_id, " is locked by ",
                                                    lock.info.value("Who", "someone"), " (lock ", lock.lock_id,
                                                    lock.job_id.empty() ? "" : ", job " + lock.job_id, ")"));
}

}  // namespace

absl::StatusOr<StateVersionRecord> StateStore::Put(const std::string& resource_id, const std::string& format,
                                                   const std::string& content, const std::string& job_id,
                                                   const std::string& lock_id, StateLockRecord* holder) {
  StateVersionRecord v;
  v.resource_id = resource_id;
  v.format = format;
  v.size_bytes = static_cast<int64_t>(content.size());
  v.sha256 = core::Sha256Hex(content);
  v.job_id = job_id;
  v.created_at = clock_->Now();
  if (format == "terraform") {
    json doc = json::parse(content, nullptr, false);
    if (!doc.is_object()) return absl::InvalidArgumentError("state: not a JSON object (a Terraform state is one)");
    if (doc.contains("serial") && doc["serial"].is_number_integer()) v.serial = doc["serial"].get<int64_t>();
    if (doc.contains("lineage") && doc["lineage"].is_string()) v.lineage = doc["lineage"].get<std::string>();
  }
  const std::string sealed = box_->Seal(content);
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(auto lock, LockIn(c, resource_id));
    if (lock && lock->lock_id != lock_id) return Held(resource_id, *lock, holder);
    PLINTH_ASSIGN_OR_RETURN(auto latest, LatestIn(c, resource_id));
    if (latest && latest->sha256 == v.sha256) {
      v = *latest;
      return absl::OkStatus();
    }
    v.version = latest ? latest->version + 1 : 1;
    Statement& st = c.Prepare(
        "INSERT INTO state_versions (resource_id, version, format, serial, lineage, size_bytes, sha256, sealed, job_id, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    st.Bind(1, resource_id);
    st.Bind(2, v.version);
    st.Bind(3, format);
    st.Bind(4, v.serial);
    st.Bind(5, v.lineage);
    st.Bind(6, v.size_bytes);
    st.Bind(7, v.sha256);
    st.Bind(8, sealed);
    st.Bind(9, job_id);
    st.Bind(10, absl::ToUnixMicros(v.created_at));
    PLINTH_RETURN_IF_ERROR(st.Run());
    Statement& prune = c.Prepare("DELETE FROM state_versions WHERE resource_id = ? AND version <= ?");
    prune.Bind(1, resource_id);
    prune.Bind(2, v.version - keep_versions_);
    return prune.Run();
  }));
  return v;
}

absl::StatusOr<std::optional<StateVersionRecord>> StateStore::Get(const std::string& resource_id,
                                                                  int64_t version) const {
  std::optional<StateVersionRecord> out;
  std::string sealed;
  PLINTH_RETURN_IF_ERROR(db_->ReadSnapshot([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(absl::StrCat(
        "SELECT ", kVersionColumns, ", sealed FROM state_versions WHERE resource_id = ?1 AND (?2 = 0 OR version = ?2) "
        "ORDER BY version DESC LIMIT 1"));
    st.Bind(1, resource_id);
    st.Bind(2, version);
    PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return absl::OkStatus();
    out = ReadVersion(st);
    sealed = st.ColumnText(9);
    return absl::OkStatus();
  }));
  if (!out) return out;
  PLINTH_ASSIGN_OR_RETURN(out->content, box_->Open(sealed));
  return out;
}

absl::StatusOr<std::vector<StateVersionRecord>> StateStore::Versions(const std::string& resource_id, int limit,
                                                                     int64_t before) const {
  std::vector<StateVersionRecord> out;
  PLINTH_RETURN_IF_ERROR(db_->ReadSnapshot([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(absl::StrCat("SELECT ", kVersionColumns,
                                           " FROM state_versions WHERE resource_id = ?1 AND (?2 = 0 OR version < ?2) "
                                           "ORDER BY version DESC LIMIT ?3"));
    st.Bind(1, resource_id);
    st.Bind(2, before);
    st.Bind(3, static_cast<int64_t>(limit));
    for (;;) {
      PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back(ReadVersion(st));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<StateLockRecord> StateStore::Lock(const std::string& resource_id, const json& info,
                                                 const std::string& job_id, StateLockRecord* holder) {
  StateLockRecord l;
  l.resource_id = resource_id;
  l.lock_id = info.value("ID", "");
  if (l.lock_id.empty() || l.lock_id.size() > 256) return absl::InvalidArgumentError("lock info: ID is empty or too long");
  l.info = info;
  l.job_id = job_id;
  l.created_at = clock_->Now();
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(auto lock, LockIn(c, resource_id));
    if (lock) {
      if (lock->lock_id == l.lock_id) return absl::OkStatus();  // asked twice
      return Held(resource_id, *lock, holder);
    }
    Statement& st = c.Prepare("INSERT INTO state_locks (resource_id, lock_id, info, job_id, created_at) VALUES (?, ?, ?, ?, ?)");
    st.Bind(1, resource_id);
    st.Bind(2, l.lock_id);
    st.Bind(3, info.dump());
    st.Bind(4, job_id);
    st.Bind(5, absl::ToUnixMicros(l.created_at));
    return st.Run();
  }));
  return l;
}

absl::StatusOr<StateLockRecord> StateStore::Unlock(const std::string& resource_id, const std::string& lock_id,
                                                   const std::string& actor, StateLockRecord* holder) {
  StateLockRecord removed;
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(auto lock, LockIn(c, resource_id));
    if (!lock) return absl::NotFoundError(absl::StrCat("the state of ", resource_id, " is not locked"));
    if (!lock_id.empty() && lock->lock_id != lock_id) return Held(resource_id, *lock, holder);
    removed = *lock;
    Statement& st = c.Prepare("DELETE FROM state_locks WHERE resource_id = ?");
    st.Bind(1, resource_id);
    PLINTH_RETURN_IF_ERROR(st.Run());
    if (!lock_id.empty()) return absl::OkStatus();
    Statement& audit = c.Prepare(
        "INSERT INTO audit_events (created_at, actor, action, target_type, target_id, target_name) "
        "VALUES (?, ?, 'state.force_unlock', 'cloud_resource', ?, ?)");
    audit.Bind(1, absl::ToUnixMicros(clock_->Now()));
    audit.Bind(2, actor);
    audit.Bind(3, resource_id);
    audit.Bind(4, absl::StrCat("lock ", removed.lock_id));
    return audit.Run();
  }));
  return removed;
}

absl::Status StateStore::ReleaseJobLocks(const std::string& job_id) {
  return db_->Write([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare("DELETE FROM state_locks WHERE job_id = ?");
    st.Bind(1, job_id);
    return st.Run();
  });
}

absl::StatusOr<std::optional<StateLockRecord>> StateStore::LockOf(const std::string& resource_id) const {
  std::optional<StateLockRecord> out;
  PLINTH_RETURN_IF_ERROR(db_->ReadSnapshot([&](Connection& c) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(out, LockIn(c, resource_id));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<ResourceStateRecord>> StateStore::List(const std::string& org, const std::string& env) const {
  std::vector<ResourceStateRecord> out;
  PLINTH_RETURN_IF_ERROR(db_->ReadSnapshot([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(
        "SELECT r.id, r.org, r.env, r.kind, r.name, "
        "(SELECT COUNT(*) FROM state_versions v WHERE v.resource_id = r.id), "
        "(SELECT COALESCE(MAX(version), 0) FROM state_versions v WHERE v.resource_id = r.id) FROM cloud_resources r "
        "WHERE r.org = ?1 AND (?2 = '' OR r.env = ?2) AND (EXISTS (SELECT 1 FROM state_versions v WHERE v.resource_id = r.id) "
        "OR EXISTS (SELECT 1 FROM state_locks l WHERE l.resource_id = r.id)) ORDER BY r.env, r.kind, r.name");
    st.Bind(1, org);
    st.Bind(2, env);
    std::vector<std::pair<ResourceStateRecord, int64_t>> rows;
    for (;;) {
      PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      ResourceStateRecord r;
      r.resource_id = st.ColumnText(0);
      r.key = {st.ColumnText(1), st.ColumnText(2), st.ColumnText(3), st.ColumnText(4)};
      r.versions = st.ColumnInt64(5);
      rows.emplace_back(std::move(r), st.ColumnInt64(6));
    }
    st.Reset();
    for (auto& [r, latest] : rows) {
      Statement& v = c.Prepare(absl::StrCat("SELECT ", kVersionColumns,
                                            " FROM state_versions WHERE resource_id = ? AND version = ?"));
      v.Bind(1, r.resource_id);
      v.Bind(2, latest);
      PLINTH_ASSIGN_OR_RETURN(bool row, v.Step());
      if (row) r.latest = ReadVersion(v);
      v.Reset();
      PLINTH_ASSIGN_OR_RETURN(r.lock, LockIn(c, r.resource_id));
      out.push_back(std::move(r));
    }
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace plinth::store
