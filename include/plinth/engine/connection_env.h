// What a provider connection turns into for an engine: environment variables
// as OpenMCF passes them (AWS_ACCESS_KEY_ID, GOOGLE_CREDENTIALS, ARM_*,
// CLOUDFLARE_API_TOKEN, KUBECONFIG ...), files in the workspace, and the
// values to redact from every output line.
#ifndef PLINTH_ENGINE_CONNECTION_ENV_H_
#define PLINTH_ENGINE_CONNECTION_ENV_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace plinth::engine {

struct ConnectionField {
  std::string name;
  bool secret = false;
  bool required = false;
  std::string env_var;  // "" when the field becomes a file or is not for engines
};

struct ProviderSpec {
  std::string provider;  // aws, gcp, azure, kubernetes, cloudflare, git, pulumi
  std::vector<ConnectionField> fields;
};

// nullptr for an unknown provider.
const ProviderSpec* FindProvider(const std::string& provider);
std::vector<std::string> ProviderNames();

// INVALID_ARGUMENT naming the field: unknown names, a secret given as a
// plain field (or the reverse), a required field missing (when `complete`).
absl::Status CheckConnectionFields(const std::string& provider, const std::map<std::string, std::string>& fields,
                                   const std::map<std::string, std::string>& secrets, bool complete);

struct ConnectionEnv {
  std::vector<std::string> env;                             // NAME=value
  std::vector<std::pair<std::string, std::string>> files;   // workspace-relative name, content (0600)
  std::vector<std::string> redact;                          // every secret value
};

ConnectionEnv BuildConnectionEnv(const std::string& provider, const std::map<std::string, std::string>& fields,
                                 const std::map<std::string, std::string>& secrets, const std::string& workspace_dir);

}  // namespace plinth::engine

#endif  // PLINTH_ENGINE_CONNECTION_ENV_H_
