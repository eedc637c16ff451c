// The Cloud Ops audit: who ran which operation, in which mode, on what, and
// how it ended. Never a secret value, never a command's arguments past the
// first word (they may carry one).
//
//   CloudOpsAuditStore audit(db, clock);
//   audit.Record({.actor = "alice", .mode = "developer", .operation = "exec", ...});
//
// Thread-safe; blocks on SQLite (call it from a worker).
#ifndef PLINTH_STORE_CLOUD_OPS_AUDIT_STORE_H_
#define PLINTH_STORE_CLOUD_OPS_AUDIT_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "plinth/core/clock.h"
#include "plinth/store/database.h"

namespace plinth::store {

struct CloudOpsAuditRecord {
  int64_t id = 0;
  absl::Time time;
  std::string actor, mode, target, connection, ns, operation, object, runner, code, message;
};

class CloudOpsAuditStore {
 public:
  CloudOpsAuditStore(Database* db, core::Clock* clock) : db_(db), clock_(clock) {}
  absl::Status Record(CloudOpsAuditRecord record);
  // Newest first; `before_id` 0 = from the newest.
  absl::StatusOr<std::vector<CloudOpsAuditRecord>> List(int limit, int64_t before_id) const;

 private:
  Database* db_;
  core::Clock* clock_;
};

}  // namespace plinth::store

#endif  // PLINTH_STORE_CLOUD_OPS_AUDIT_STORE_H_
