// Grants of identities (the names of the token file) on scopes, in the
// database. Every change is audited (audit_events, target_type "grant").
//
//   GrantStore grants(db, clock);
//   grants.Create({.identity = "dana", .role = "operator", .scope = "acme/prod"}, "root");
//
// Thread-safe; blocks on SQLite (call it from a worker).
#ifndef PLINTH_STORE_GRANT_STORE_H_
#define PLINTH_STORE_GRANT_STORE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "plinth/core/clock.h"
#include "plinth/store/database.h"

namespace plinth::store {

struct GrantRecord {
  std::string id;
  std::string identity;
  std::string role;   // viewer, operator, admin, use
  std::string scope;  // "*", ORG, ORG/ENV, ORG/ENV/KIND/NAME; for use: the connection ORG/NAME
  absl::Time created_at;
  std::string created_by;
};

class GrantStore {
 public:
  GrantStore(Database* db, core::Clock* clock) : db_(db), clock_(clock) {}
  // ALREADY_EXISTS for the same identity, role and scope.
  absl::StatusOr<GrantRecord> Create(GrantRecord grant, const std::string& actor);
  // NOT_FOUND for an unknown id. Returns the deleted grant.
  absl::StatusOr<GrantRecord> Delete(const std::string& id, const std::string& actor);
  // Every grant (or one identity's), oldest first.
  absl::StatusOr<std::vector<GrantRecord>> List(const std::string& identity) const;

 private:
  Database* db_;
  core::Clock* clock_;
};

}  // namespace plinth::store

#endif  // PLINTH_STORE_GRANT_STORE_H_
