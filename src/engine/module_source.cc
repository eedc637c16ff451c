#include "plinth/engine/module_source.h"

#include "absl/strings/match.h"

namespace plinth::engine {

bool IsGitUrl(const std::string& source) {
  return absl::StartsWith(source, "file://") || absl::StartsWith(source, "https://") ||
         absl::StartsWith(source, "http://") || absl::StartsWith(source, "ssh://");
}

std::vector<std::string> SetGitCredentials(const std::map<std::string, std::string>& fields,
                                           const std::map<std::string, std::string>& secrets,
                                           GitModuleSource* source) {
  auto get = [](const std::map<std::string, std::string>& m, const char* key) {
    auto it = m.find(key);
    return it == m.end() ? std::string() : it->second;
  };
  source->token = get(secrets, "token");
  source->ssh_key = get(secrets, "ssh_private_key");
  source->ssh_passphrase = get(secrets, "ssh_passphrase");
  source->ssh_user = get(fields, "username");
  source->ssh_host_fingerprint = get(fields, "ssh_host_fingerprint");
  std::vector<std::string> out;
  for (const std::string* s : {&source->token, &source->ssh_key, &source->ssh_passphrase}) {
    if (!s->empty()) out.push_back(*s);
  }
  return out;
}

}  // namespace plinth::engine
