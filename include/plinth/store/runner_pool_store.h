// Runner pools: their tokens (only hashes are kept), the scopes bound to
// them, and the runners that registered with them. The pool `local` (the
// runner built into plinthd) always exists and runs whatever no binding
// sends elsewhere.
//
//   RunnerPoolStore pools(db, clock);
//   auto [token, secret] = *pools.CreateToken("edge", "rack 4", "alice");
//   auto who = pools.Authenticate(secret);              // the token, or UNAUTHENTICATED
//   std::string pool = *pools.PoolFor("acme", "prod", labels);
//
// Thread-safe; every method blocks on SQLite.
#ifndef PLINTH_STORE_RUNNER_POOL_STORE_H_
#define PLINTH_STORE_RUNNER_POOL_STORE_H_

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "plinth/core/clock.h"
#include "plinth/store/database.h"

namespace plinth::store {

inline constexpr char kLocalPool[] = "local";

struct PoolTokenRecord {
  std::string id, pool, description;
  absl::Time created_at;
  std::string created_by;
  std::optional<absl::Time> revoked_at;
  std::string revoked_by;
};

struct PoolBindingRecord {
  std::string id, pool, org, env, label_selector;
  absl::Time created_at;
  std::string created_by;
};

struct RunnerPoolRecord {
  std::string name, description;
  absl::Time created_at;
  std::string created_by;
  std::vector<PoolTokenRecord> tokens;
  std::vector<PoolBindingRecord> bindings;
};

struct RunnerRecord {
  std::string id, pool, name, version;
  int max_jobs = 0;
  std::vector<std::string> engines, connections;
  std::string address, token_id;
  std::optional<absl::Time> connected_at, last_heartbeat;
};

class RunnerPoolStore {
 public:
  RunnerPoolStore(Database* db, core::Clock* clock) : db_(db), clock_(clock) {}

  // INVALID_ARGUMENT for a name that is not 1-63 of [a-z0-9-] starting with
  // a letter; ALREADY_EXISTS.
  absl::StatusOr<RunnerPoolRecord> CreatePool(const std::string& name, const std::string& description,
                                              const std::string& actor);
  absl::StatusOr<RunnerPoolRecord> GetPool(const std::string& name) const;
  absl::StatusOr<std::vector<RunnerPoolRecord>> ListPools() const;
  // FAILED_PRECONDITION for `local`, and for a pool with bindings or with
  // tokens not revoked.
  absl::Status DeletePool(const std::string& name, const std::string& actor);

  // A new token of the pool and its secret ("plrt_<id>_<secret>"), which
  // is returned here and nowhere else.
  absl::StatusOr<std::pair<PoolTokenRecord, std::string>> CreateToken(const std::string& pool,
                                                                      const std::string& description,
                                                                      const std::string& actor);
  // Revoking a revoked token is a no-op that returns it.
  absl::StatusOr<PoolTokenRecord> RevokeToken(const std::string& id, const std::string& actor);
  // The token a secret belongs to; UNAUTHENTICATED (never saying why) for
  // a malformed, unknown or revoked one.
  absl::StatusOr<PoolTokenRecord> Authenticate(const std::string& secret) const;
  absl::StatusOr<PoolTokenRecord> GetToken(const std::string& id) const;

  // INVALID_ARGUMENT for an empty org, a selector without env, or a bad
  // selector; ALREADY_EXISTS when the scope is bound (to any pool).
  absl::StatusOr<PoolBindingRecord> Bind(const std::string& pool, const std::string& org, const std::string& env,
                                         const std::string& label_selector, const std::string& actor);
  absl::Status Unbind(const std::string& id, const std::string& actor);
  // The pool that runs work of a resource: a selector binding of its
  // org/env that matches its labels (the oldest, when several do), else its
  // org/env's binding, else its org's, else `local`.
  absl::StatusOr<std::string> PoolFor(const std::string& org, const std::string& env,
                                      const std::map<std::string, std::string>& labels) const;

  // Creates the runner or updates it (by pool and name: a runner keeps its
  // id across restarts), connected now.
  absl::StatusOr<RunnerRecord> RegisterRunner(RunnerRecord runner);
  absl::Status RecordHeartbeat(const std::string& runner_id);
  // "" = every pool; by pool, then name.
  absl::StatusOr<std::vector<RunnerRecord>> ListRunners(const std::string& pool) const;

 private:
  Database* db_;
  core::Clock* clock_;
};

}  // namespace plinth::store

#endif  // PLINTH_STORE_RUNNER_POOL_STORE_H_
