// Cloud-resource row operations for other repositories of this layer that
// write resources inside their own transaction (infra projects). Private to
// src/store.
#ifndef PLINTH_STORE_RESOURCE_ROWS_H_
#define PLINTH_STORE_RESOURCE_ROWS_H_

#include <optional>
#include <string>
#include <vector>

#include "plinth/store/cloud_resource_store.h"
#include "plinth/store/sql.h"

namespace plinth::store::internal {

// Creates or updates the resource as owned by `project_id`, with a revision
// and an audit event. FAILED_PRECONDITION when it exists with another owner
// (or none).
absl::StatusOr<ApplyOutcome> WriteOwnedResource(Connection& c, const manifest::Manifest& m,
                                                const std::string& project_id, const std::string& actor,
                                                absl::Time now);
absl::StatusOr<std::optional<CloudResourceRecord>> FindResource(Connection& c, const std::string& id);
// Deletes the row, writing the delete revision and audit event.
absl::Status DeleteResourceRow(Connection& c, const CloudResourceRecord& r, const std::string& actor, absl::Time now);
// The resources a project owns, by env, kind and name.
absl::StatusOr<std::vector<CloudResourceRecord>> OwnedResources(Connection& c, const std::string& project_id);
// "" clears the owner.
absl::Status SetResourceOwner(Connection& c, const std::string& id, const std::string& project_id);

}  // namespace plinth::store::internal

#endif  // PLINTH_STORE_RESOURCE_ROWS_H_
