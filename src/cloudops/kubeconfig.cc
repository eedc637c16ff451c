#include "plinth/cloudops/kube_client.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "plinth/manifest/yaml.h"

namespace plinth::cloudops {
namespace {

using nlohmann::json;

absl::StatusOr<std::string> ReadFile(const std::string& path, const std::string& field) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(field, ": cannot read ", path));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The `name` entry of a kubeconfig list (clusters, users, contexts).
const json* Named(const json& doc, const std::string& list, const std::string& name, const std::string& inner) {
  if (!doc.contains(list) || !doc[list].is_array()) return nullptr;
  for (const json& e : doc[list]) {
    if (e.is_object() && e.value("name", "") == name && e.contains(inner) && e[inner].is_object()) return &e[inner];
  }
  return nullptr;
}

// `<key>-data` (base64) or `<key>` (a file); "" when neither is set.
absl::StatusOr<std::string> DataOrFile(const json& obj, const std::string& key, const std::string& field,
                                       const std::string& base_dir) {
  if (obj.contains(key + "-data")) {
    std::string decoded;
    if (!obj[key + "-data"].is_string() || !absl::Base64Unescape(obj[key + "-data"].get<std::string>(), &decoded)) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".", key, "-data: not base64"));
    }
    return decoded;
  }
  if (obj.contains(key) && obj[key].is_string()) {
    std::filesystem::path p = obj[key].get<std::string>();
    if (p.is_relative()) p = std::filesystem::path(base_dir) / p;
    return ReadFile(p.string(), absl::StrCat(field, ".", key));
  }
  return std::string();
}

}  // namespace

absl::StatusOr<ClusterAccess> LoadKubeconfig(absl::string_view text, const std::string& base_dir,
                                             const std::string& context, absl::string_view source_name) {
  auto docs = manifest::ParseYamlDocuments(text, source_name, 1);
  if (!docs.ok()) return docs.status();
  if (docs->empty() || !(*docs)[0].value.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ": not a kubeconfig (no mapping)"));
  }
  const json& doc = (*docs)[0].value;
  ClusterAccess a;
  a.context = context.empty() ? doc.value("current-context", "") : context;
  if (a.context.empty()) return absl::InvalidArgumentError(absl::StrCat(source_name, ": current-context: none set"));
  const json* ctx = Named(doc, "contexts", a.context, "context");
  if (ctx == nullptr) return absl::InvalidArgumentError(absl::StrCat(source_name, ": contexts: no context named ", a.context));
  a.cluster = ctx->value("cluster", "");
  a.user = ctx->value("user", "");
  a.default_namespace = ctx->value("namespace", "");
  const json* cluster = Named(doc, "clusters", a.cluster, "cluster");
  if (cluster == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ": contexts[", a.context, "].context.cluster: no cluster named ",
                                                   a.cluster));
  }
  const std::string cfield = absl::StrCat(source_name, ": clusters[", a.cluster, "].cluster");
  a.server = cluster->value("server", "");
  if (!absl::StartsWith(a.server, "https://") && !absl::StartsWith(a.server, "http://")) {
    return absl::InvalidArgumentError(absl::StrCat(cfield, ".server: expected https://HOST[:PORT], got \"", a.server, "\""));
  }
  while (absl::EndsWith(a.server, "/")) a.server.pop_back();
  a.insecure_skip_tls_verify = cluster->value("insecure-skip-tls-verify", false);
  a.tls_server_name = cluster->value("tls-server-name", "");
  if (cluster->contains("proxy-url")) return absl::InvalidArgumentError(absl::StrCat(cfield, ".proxy-url: proxies are not supported"));
  auto ca = DataOrFile(*cluster, "certificate-authority", cfield, base_dir);
  if (!ca.ok()) return ca.status();
  a.ca_pem = *ca;
  if (!a.user.empty()) {
    const json* user = Named(doc, "users", a.user, "user");
    if (user == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(source_name, ": contexts[", a.context, "].context.user: no user named ", a.user));
    }
    const std::string ufield = absl::StrCat(source_name, ": users[", a.user, "].user");
    if (user->contains("exec")) {
      return absl::InvalidArgumentError(absl::StrCat(
          ufield, ".exec: exec credential plugins are not supported yet; give the runner a token or a client certificate"));
    }
    if (user->contains("auth-provider")) {
      return absl::InvalidArgumentError(absl::StrCat(ufield, ".auth-provider: auth providers are not supported; use a token"));
    }
    if (user->contains("username") || user->contains("password")) {
      return absl::InvalidArgumentError(absl::StrCat(ufield, ".username: basic authentication is not supported; use a token"));
    }
    if (user->contains("token") && (*user)["token"].is_string()) {
      a.token = (*user)["token"].get<std::string>();
    } else if (user->contains("tokenFile") && (*user)["tokenFile"].is_string()) {
      std::filesystem::path p = (*user)["tokenFile"].get<std::string>();
      if (p.is_relative()) p = std::filesystem::path(base_dir) / p;
      auto t = ReadFile(p.string(), ufield + ".tokenFile");
      if (!t.ok()) return t.status();
      a.token = std::string(absl::StripAsciiWhitespace(*t));
    }
    auto cert = DataOrFile(*user, "client-certificate", ufield, base_dir);
    if (!cert.ok()) return cert.status();
    auto key = DataOrFile(*user, "client-key", ufield, base_dir);
    if (!key.ok()) return key.status();
    a.client_cert_pem = *cert;
    a.client_key_pem = *key;
    if (a.client_cert_pem.empty() != a.client_key_pem.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(ufield, ": a client certificate needs its key and the key its certificate"));
    }
  }
  return a;
}

absl::StatusOr<ClusterAccess> LoadKubeconfigFile(const std::string& path, const std::string& context) {
  auto text = ReadFile(path, "kubeconfig");
  if (!text.ok()) return text.status();
  return LoadKubeconfig(*text, std::filesystem::path(path).parent_path().string(), context, path);
}

}  // namespace plinth::cloudops
