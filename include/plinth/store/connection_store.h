// Provider connections: non-secret fields in the clear, secret fields sealed
// with the daemon's SecretBox, and defaults per org and per env.
//
// Thread-safe; every method blocks on SQLite.
#ifndef PLINTH_STORE_CONNECTION_STORE_H_
#define PLINTH_STORE_CONNECTION_STORE_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "plinth/core/clock.h"
#include "plinth/core/secret_box.h"
#include "plinth/store/database.h"

namespace plinth::store {

struct ConnectionRecord {
  std::string id;
  std::string org;
  std::string name;
  std::string provider;
  std::map<std::string, std::string> fields;
  std::vector<std::string> secret_names;
  // Only filled by methods that say so; never returned by the API.
  std::map<std::string, std::string> secrets;
  std::vector<std::string> default_for;  // "org", "env:<env>"
  // Its secrets are on runners (runner.yaml); plinthd stores none.
  bool runner_held = false;
  absl::Time created_at, updated_at;
  std::string created_by, updated_by;
};

struct ResolvedConnection {
  std::optional<ConnectionRecord> connection;  // with secrets
  std::string reason;  // why this one (or none) was chosen
};

class ConnectionStore {
 public:
  ConnectionStore(Database* db, const core::SecretBox* box, core::Clock* clock) : db_(db), box_(box), clock_(clock) {}

  absl::StatusOr<ConnectionRecord> Create(ConnectionRecord record, const std::string& actor);
  absl::StatusOr<ConnectionRecord> Get(const std::string& org, const std::string& name) const;
  absl::StatusOr<std::vector<ConnectionRecord>> List(const std::string& org, const std::string& provider) const;
  // Sets the given fields and secrets; others stay.
  absl::StatusOr<ConnectionRecord> Update(const std::string& org, const std::string& name,
                                          const std::map<std::string, std::string>& fields,
                                          const std::map<std::string, std::string>& secrets, const std::string& actor);
  absl::Status Delete(const std::string& org, const std::string& name, const std::string& actor);
  // name "" clears the default. INVALID_ARGUMENT when the connection is of
  // another provider.
  absl::Status SetDefault(const std::string& org, const std::string& env, const std::string& provider,
                          const std::string& name, const std::string& actor);
  // The named connection, else the env default, else the org default, else
  // none; with its secrets opened.
  absl::StatusOr<ResolvedConnection> Resolve(const std::string& org, const std::string& env,
                                             const std::string& provider, const std::string& requested) const;

 private:
  Database* db_;
  const core::SecretBox* box_;
  core::Clock* clock_;
};

}  // namespace plinth::store

#endif  // PLINTH_STORE_CONNECTION_STORE_H_
