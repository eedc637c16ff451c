// plinth's own Kubernetes API client, run by plinth-runner for Cloud Ops:
// a kubeconfig's context (server, CA, bearer token or client certificate),
// JSON calls, streamed bodies (logs, watch) and exec over WebSocket
// (v5.channel.k8s.io, else v4).
//
//   auto access = LoadKubeconfigFile("/etc/plinth-runner/prod.kubeconfig", "");
//   auto kube = KubeClient::Create(*access);
//   auto pods = (*kube)->Call("GET", "/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb");
//   (*kube)->Stream("/api/v1/namespaces/shop/pods/web-1/log?follow=true", on_chunk, &cancel);
//   auto exec = (*kube)->StartExec("/api/v1/namespaces/shop/pods/web-1/exec?command=sh&stdin=true&stdout=true",
//                                   on_output);
//   (*exec)->SendStdin("ls\n"); (*exec)->CloseStdin(); int code = *(*exec)->Wait();
//
// Exec credential plugins and auth providers are refused with a clear error
// (for now). Errors carry the API server's own message: 401 UNAUTHENTICATED,
// 403 PERMISSION_DENIED, 404 NOT_FOUND, 409 ABORTED (a conflict) or
// ALREADY_EXISTS, 400/422 INVALID_ARGUMENT, anything else UNAVAILABLE.
#ifndef PLINTH_CLOUDOPS_KUBE_CLIENT_H_
#define PLINTH_CLOUDOPS_KUBE_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace plinth::cloudops {

// One context of a kubeconfig, with everything it refers to read in.
struct ClusterAccess {
  std::string context, cluster, user;
  std::string server;  // https://host:port (or http://)
  std::string ca_pem;  // "" = the system's roots
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;
  std::string token;
  std::string client_cert_pem, client_key_pem;
  std::string default_namespace;  // the context's, "" when it names none
};

// `context` "" = the current-context. Files named in it (certificate-authority,
// client-certificate, client-key, tokenFile) are relative to `base_dir`.
// INVALID_ARGUMENT naming the field (e.g. "users[prod].user.exec: ...").
absl::StatusOr<ClusterAccess> LoadKubeconfig(absl::string_view text, const std::string& base_dir,
                                             const std::string& context, absl::string_view source_name);
absl::StatusOr<ClusterAccess> LoadKubeconfigFile(const std::string& path, const std::string& context);

// An exec in progress. Its output arrives on the thread that calls Wait.
class ExecSession {
 public:
  virtual ~ExecSession() = default;
  virtual absl::Status SendStdin(absl::string_view data) = 0;
  virtual absl::Status CloseStdin() = 0;
  virtual absl::Status Resize(int width, int height) = 0;
  // The command's exit code once it ends; an error when the exec could not
  // run (the API server's message) or the connection broke.
  virtual absl::StatusOr<int> Wait() = 0;
  // Ends the exec from any thread (Wait returns CANCELLED).
  virtual void Cancel() = 0;
};

class KubeClient {
 public:
  struct Options {
    absl::Duration connect_timeout = absl::Seconds(10);
    absl::Duration call_timeout = absl::Seconds(60);
  };
  static absl::StatusOr<std::unique_ptr<KubeClient>> Create(ClusterAccess access, Options options);
  static absl::StatusOr<std::unique_ptr<KubeClient>> Create(ClusterAccess access) { return Create(std::move(access), {}); }
  ~KubeClient();

  const ClusterAccess& access() const { return access_; }
  // Unique among the clients of this process (for caches keyed by client).
  uint64_t id() const { return id_; }

  // A JSON call; `body` null for none. PATCH sends a JSON merge patch.
  absl::StatusOr<nlohmann::json> Call(const std::string& method, const std::string& path,
                                      const nlohmann::json* body = nullptr) const;
  // A streamed GET (logs, watch): `on_data` gets each piece until the body
  // ends, it returns false, or `cancel` turns true (checked as data comes
  // and at least every `poll`). OK when it ended or was stopped by us.
  absl::Status Stream(const std::string& path, const std::function<bool(absl::string_view)>& on_data,
                      const std::atomic<bool>* cancel) const;
  // `on_output(channel, data)`: 1 stdout, 2 stderr (not with a tty).
  absl::StatusOr<std::unique_ptr<ExecSession>> StartExec(
      const std::string& path, std::function<void(int channel, absl::string_view data)> on_output) const;

 private:
  struct Impl;
  KubeClient(ClusterAccess access, Options options, std::unique_ptr<Impl> impl);
  ClusterAccess access_;
  Options options_;
  std::unique_ptr<Impl> impl_;
  uint64_t id_ = 0;
};

// An API server's answer (a Status object or anything else) as a status.
absl::Status StatusFromKube(int http_status, absl::string_view body);

}  // namespace plinth::cloudops

#endif  // PLINTH_CLOUDOPS_KUBE_CLIENT_H_
