// Where a stack job's module comes from: a local directory, or a Git
// repository fetched by a ModuleFetcher (implemented by src/gitsource, the
// only layer that links libgit2; the server passes it down).
#ifndef PLINTH_ENGINE_MODULE_SOURCE_H_
#define PLINTH_ENGINE_MODULE_SOURCE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace plinth::engine {

struct GitModuleSource {
  std::string url;     // file://, https:// or http://
  std::string ref;     // branch, tag or commit id; empty = the remote's HEAD
  std::string subdir;  // inside the repository; empty = its root
  std::string token;   // https token (from a Git connection), or empty
  // ssh:// (from a Git connection): the private key (OpenSSH or PEM text),
  // its passphrase, the user (default "git"), and the host key's
  // fingerprint ("SHA256:<base64>", as ssh-keygen -l prints it), without
  // which no ssh host is trusted.
  std::string ssh_key, ssh_passphrase, ssh_user, ssh_host_fingerprint;
};

// Fills the credentials of `source` from a git connection's fields and
// secrets (token; ssh_private_key, ssh_passphrase, username,
// ssh_host_fingerprint); returns the secret values, for redaction.
std::vector<std::string> SetGitCredentials(const std::map<std::string, std::string>& fields,
                                           const std::map<std::string, std::string>& secrets,
                                           GitModuleSource* source);

struct FetchedModule {
  std::string dir;     // the module directory (commit dir + subdir)
  std::string commit;  // 40 hex digits
};

// True when `source` names a Git repository rather than a local directory.
bool IsGitUrl(const std::string& source);

class ModuleFetcher {
 public:
  virtual ~ModuleFetcher() = default;
  // UNAVAILABLE when the remote cannot be reached or refuses the
  // credentials; NOT_FOUND for an unknown ref or a missing subdir;
  // INVALID_ARGUMENT for a subdir that leaves the repository. The token
  // never appears in an error.
  virtual absl::StatusOr<FetchedModule> Fetch(const GitModuleSource& source) = 0;
};

}  // namespace plinth::engine

#endif  // PLINTH_ENGINE_MODULE_SOURCE_H_
