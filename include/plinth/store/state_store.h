// Engine state kept by plinthd: Terraform/OpenTofu state served to jobs by
// the http state backend, Pulumi checkpoints sent by runners after each
// step, and the local state of jobs plinthd runs itself. Every write is a
// new version (the last `keep_versions` are kept), sealed with the daemon's
// SecretBox; a Terraform state has at most one lock (Terraform's lock info).
//
//   StateStore states(db, box, clock);
//   auto v = states.Put(resource_id, "terraform", content, job_id, lock_id);
//   auto latest = states.Get(resource_id);            // nullopt: none kept
//   auto held = states.Lock(resource_id, info, job_id); // FAILED_PRECONDITION + holder when held
//
// Thread-safe; every method blocks on SQLite.
#ifndef PLINTH_STORE_STATE_STORE_H_
#define PLINTH_STORE_STATE_STORE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "plinth/core/clock.h"
#include "plinth/core/secret_box.h"
#include "plinth/store/cloud_resource_store.h"
#include "plinth/store/database.h"

namespace plinth::store {

struct StateVersionRecord {
  std::string resource_id;
  int64_t version = 0;
  std::string format;  // terraform or pulumi
  int64_t serial = 0;
  std::string lineage;
  int64_t size_bytes = 0;
  std::string sha256;
  std::string job_id;
  absl::Time created_at;
  std::string content;  // only from Get
};

struct StateLockRecord {
  std::string resource_id, lock_id, job_id;
  nlohmann::json info = nlohmann::json::object();  // as Terraform sent it
  absl::Time created_at;
};

struct ResourceStateRecord {
  CloudResourceKey key;
  std::string resource_id;
  StateVersionRecord latest;
  int64_t versions = 0;
  std::optional<StateLockRecord> lock;
};

class StateStore {
 public:
  StateStore(Database* db, const core::SecretBox* box, core::Clock* clock, int keep_versions = 100)
      : db_(db), box_(box), clock_(clock), keep_versions_(keep_versions) {}

  // A new version. While the state is locked, `lock_id` must be the lock's
  // (else FAILED_PRECONDITION, and `holder` is filled). Content equal to the
  // latest version's writes nothing and returns it.
  absl::StatusOr<StateVersionRecord> Put(const std::string& resource_id, const std::string& format,
                                         const std::string& content, const std::string& job_id,
                                         const std::string& lock_id, StateLockRecord* holder = nullptr);
  // The version (0: the latest) with its content; nullopt when none is kept.
  absl::StatusOr<std::optional<StateVersionRecord>> Get(const std::string& resource_id, int64_t version = 0) const;
  // Newest first, without content; `before` 0 = from the newest.
  absl::StatusOr<std::vector<StateVersionRecord>> Versions(const std::string& resource_id, int limit,
                                                           int64_t before = 0) const;
  // FAILED_PRECONDITION with `holder` filled when another lock is held.
  absl::StatusOr<StateLockRecord> Lock(const std::string& resource_id, const nlohmann::json& info,
                                       const std::string& job_id, StateLockRecord* holder);
  // `lock_id` "" removes any lock (force-unlock, audited as `actor`);
  // NOT_FOUND when unlocked, FAILED_PRECONDITION (holder filled) for another id.
  absl::StatusOr<StateLockRecord> Unlock(const std::string& resource_id, const std::string& lock_id,
                                         const std::string& actor, StateLockRecord* holder = nullptr);
  // Removes the locks a job left (its engine is known to have ended).
  absl::Status ReleaseJobLocks(const std::string& job_id);
  absl::StatusOr<std::optional<StateLockRecord>> LockOf(const std::string& resource_id) const;
  // Resources of the org (and env) with state kept, by key.
  absl::StatusOr<std::vector<ResourceStateRecord>> List(const std::string& org, const std::string& env) const;

 private:
  Database* db_;
  const core::SecretBox* box_;
  core::Clock* clock_;
  const int keep_versions_;
};

}  // namespace plinth::store

#endif  // PLINTH_STORE_STATE_STORE_H_
