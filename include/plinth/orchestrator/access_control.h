// Who may do what: identities (the token file's names) hold grants of a
// role on a scope.
//
//   roles:  viewer < operator < admin, on "*" (everything), ORG, ORG/ENV or
//           one resource ORG/ENV/KIND/NAME; a grant on a scope covers every
//           scope under it. `use` on a connection ORG/NAME: admin-mode
//           Cloud Ops through it.
//   viewer   reads.
//   operator also runs jobs and pipelines, approves gates, changes cloud
//            resources and projects, and developer-mode Cloud Ops writes
//            (exec, edit, delete).
//   admin    also manages connections, policies, grants, pools and runs
//            admin-mode Cloud Ops in its orgs.
//
// Bootstrap: an identity of the token file is an admin of everything unless
// the file marks it `scoped` (then it holds its stored grants only). With no
// token file at all, everyone is "anonymous" and may do everything.
//
// Grants are read once and kept in memory; changes go through here.
// Thread-safe; Create/Delete block on SQLite.
#ifndef PLINTH_ORCHESTRATOR_ACCESS_CONTROL_H_
#define PLINTH_ORCHESTRATOR_ACCESS_CONTROL_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "plinth/store/grant_store.h"

namespace plinth::orchestrator {

enum class Role { kViewer = 1, kOperator = 2, kAdmin = 3 };

absl::string_view RoleName(Role r);

// What a call touches. Empty trailing parts: the wider scope (an org-wide
// list, an env's project); `global` for what belongs to no org (charts,
// runner pools, the grants of "*").
struct AccessScope {
  bool global = false;
  std::string org, env, kind, name;
  static AccessScope Everything() { return {true, "", "", "", ""}; }
  static AccessScope Org(std::string org) { return {false, std::move(org), "", "", ""}; }
  static AccessScope Env(std::string org, std::string env) { return {false, std::move(org), std::move(env), "", ""}; }
  static AccessScope Resource(std::string org, std::string env, std::string kind, std::string name) {
    return {false, std::move(org), std::move(env), std::move(kind), std::move(name)};
  }
  std::string ToString() const;
};

class AccessControl {
 public:
  // `unscoped(identity)`: true for identities that are admins of everything
  // (the token file's, unless marked scoped; everyone without a file).
  AccessControl(store::GrantStore* grants, std::function<bool(const std::string&)> unscoped);

  // Reads the stored grants.
  absl::Status Load();

  bool Allowed(const std::string& identity, Role need, const AccessScope& scope) const;
  // OK, or PERMISSION_DENIED naming who, what and the role it needs.
  absl::Status Require(const std::string& identity, Role need, const AccessScope& scope,
                       absl::string_view what) const;
  // Admin-mode Cloud Ops through connection `connection` (its name) of
  // `org`: `use` on ORG/NAME, or admin of the org.
  absl::Status RequireUse(const std::string& identity, const std::string& org, const std::string& connection) const;
  // Whether the identity may see anything at all of `org` (a grant on it or
  // under it): for filtering lists.
  bool SeesAnyOf(const std::string& identity, const std::string& org) const;
  bool Unscoped(const std::string& identity) const { return unscoped_(identity); }

  // INVALID_ARGUMENT for a bad role or scope; PERMISSION_DENIED unless
  // `actor` is an admin of the scope (of the connection's org for use).
  absl::StatusOr<store::GrantRecord> Grant(const std::string& actor, const std::string& identity,
                                           const std::string& role, const std::string& scope);
  absl::StatusOr<store::GrantRecord> Revoke(const std::string& actor, const std::string& id);
  // Every grant (or one identity's) the actor may see: its own, and those on
  // scopes it administers.
  absl::StatusOr<std::vector<store::GrantRecord>> List(const std::string& actor, const std::string& identity) const;

  // Parses "*", ORG, ORG/ENV, ORG/ENV/KIND/NAME.
  static absl::StatusOr<AccessScope> ParseScope(absl::string_view text);

 private:
  static bool Covers(const AccessScope& grant, const AccessScope& target);

  store::GrantStore* const store_;
  const std::function<bool(const std::string&)> unscoped_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::vector<store::GrantRecord>> by_identity_ ABSL_GUARDED_BY(mu_);
};

}  // namespace plinth::orchestrator

#endif  // PLINTH_ORCHESTRATOR_ACCESS_CONTROL_H_
