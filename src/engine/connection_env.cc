#include "plinth/engine/connection_env.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace plinth::engine {
namespace {

const std::vector<ProviderSpec>& Providers() {
  static const auto* providers = new std::vector<ProviderSpec>{
      {"aws",
       {{"access_key_id", false, true, "AWS_ACCESS_KEY_ID"},
        {"secret_access_key", true, true, "AWS_SECRET_ACCESS_KEY"},
        {"session_token", true, false, "AWS_SESSION_TOKEN"},
        {"region", false, false, "AWS_REGION"}}},
      {"gcp",
       {{"service_account_key", true, true, "GOOGLE_CREDENTIALS"}, {"project_id", false, false, "GOOGLE_PROJECT"}}},
      {"azure",
       {{"client_id", false, true, "ARM_CLIENT_ID"},
        {"client_secret", true, true, "ARM_CLIENT_SECRET"},
        {"tenant_id", false, true, "ARM_TENANT_ID"},
        {"subscription_id", false, true, "ARM_SUBSCRIPTION_ID"}}},
      {"kubernetes", {{"kubeconfig", true, true, ""}, {"context", false, false, "KUBE_CTX"}}},
      {"cloudflare", {{"api_token", true, true, "CLOUDFLARE_API_TOKEN"}, {"account_id", false, false, "CLOUDFLARE_ACCOUNT_ID"}}},
      // https: token; ssh: ssh_private_key (+ ssh_passphrase) and the
      // host's ssh_host_fingerprint. One of token and ssh_private_key.
      {"git",
       {{"token", true, false, ""},
        {"username", false, false, ""},
        {"ssh_private_key", true, false, ""},
        {"ssh_passphrase", true, false, ""},
        {"ssh_host_fingerprint", false, false, ""}}},
      {"pulumi",
       {{"backend_url", false, false, "PULUMI_BACKEND_URL"},
        {"passphrase", true, false, "PULUMI_CONFIG_PASSPHRASE"},
        {"access_token", true, false, "PULUMI_ACCESS_TOKEN"}}},
  };
  return *providers;
}

}  // namespace

const ProviderSpec* FindProvider(const std::string& provider) {
  for (const auto& p : Providers()) {
    if (p.provider == provider) return &p;
  }
  return nullptr;
}

std::vector<std::string> ProviderNames() {
  std::vector<std::string> out;
  for (const auto& p : Providers()) out.push_back(p.provider);
  return out;
}

absl::Status CheckConnectionFields(const std::string& provider, const std::map<std::string, std::string>& fields,
                                   const std::map<std::string, std::string>& secrets, bool complete) {
  const ProviderSpec* spec = FindProvider(provider);
  if (spec == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("provider: \"", provider, "\" is not one of ",
                                                   absl::StrJoin(ProviderNames(), ", ")));
  }
  auto find = [&](const std::string& name) -> const ConnectionField* {
    for (const auto& f : spec->fields) {
      if (f.name == name) return &f;
    }
    return nullptr;
  };
  std::vector<std::string> known;
  for (const auto& f : spec->fields) known.push_back(f.name);
  for (const auto& [name, value] : fields) {
    const ConnectionField* f = find(name);
    if (f == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("fields.", name, ": ", provider, " connections have ",
                                                     absl::StrJoin(known, ", ")));
    }
    if (f->secret) return absl::InvalidArgumentError(absl::StrCat("fields.", name, ": a secret: pass it as a secret field"));
  }
  for (const auto& [name, value] : secrets) {
    const ConnectionField* f = find(name);
    if (f == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("secret_fields.", name, ": ", provider, " connections have ",
                                                     absl::StrJoin(known, ", ")));
    }
    if (!f->secret) return absl::InvalidArgumentError(absl::StrCat("secret_fields.", name, ": not a secret: pass it as a field"));
  }
  if (complete) {
    for (const auto& f : spec->fields) {
      bool given = f.secret ? secrets.count(f.name) && !secrets.at(f.name).empty()
                            : fields.count(f.name) && !fields.at(f.name).empty();
      if (f.required && !given) {
        return absl::InvalidArgumentError(absl::StrCat(f.secret ? "secret_fields." : "fields.", f.name, ": required for ",
                                                       provider, " connections"));
      }
    }
  }
  if (complete && provider == "git") {
    auto given = [&](const char* name) { return secrets.count(name) && !secrets.at(name).empty(); };
    if (!given("token") && !given("ssh_private_key")) {
      return absl::InvalidArgumentError(
          "secret_fields.token: required for git connections (or secret_fields.ssh_private_key for ssh)");
    }
  }
  return absl::OkStatus();
}

ConnectionEnv BuildConnectionEnv(const std::string& provider, const std::map<std::string, std::string>& fields,
                                 const std::map<std::string, std::string>& secrets, const std::string& workspace_dir) {
  ConnectionEnv out;
  const ProviderSpec* spec = FindProvider(provider);
  if (spec == nullptr) return out;
  for (const auto& f : spec->fields) {
    const auto& source = f.secret ? secrets : fields;
    auto it = source.find(f.name);
    if (it == source.end() || it->second.empty()) continue;
    if (f.secret) out.redact.push_back(it->second);
    if (!f.env_var.empty()) out.env.push_back(absl::StrCat(f.env_var, "=", it->second));
    if (provider == "aws" && f.name == "region") out.env.push_back(absl::StrCat("AWS_DEFAULT_REGION=", it->second));
    if (provider == "aws" && f.name == "access_key_id") out.redact.push_back(it->second);
  }
  if (provider == "kubernetes") {
    if (auto it = secrets.find("kubeconfig"); it != secrets.end()) {
      out.files.emplace_back(".plinth-kubeconfig", it->second);
      out.env.push_back(absl::StrCat("KUBECONFIG=", workspace_dir, "/.plinth-kubeconfig"));
    }
  }
  return out;
}

}  // namespace plinth::engine
