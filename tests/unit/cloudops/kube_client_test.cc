// plinth's Kubernetes client against the simulated API server (over TLS,
// with a bearer token and with a client certificate).
#include "plinth/cloudops/kube_client.h"

#include <fstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sim_kube.h"
#include "temp_dir.h"

namespace plinth::cloudops {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

constexpr char kObjects[] = R"({"items": [
 {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
 {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "shop"}, "data": {"mode": "a"}},
 {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"},
   "annotations": {"sim.plinth.dev/log": "one\ntwo\nthree", "sim.plinth.dev/log-every-ms": "50"}},
  "spec": {"containers": [{"name": "app", "image": "nginx"}]}, "status": {"phase": "Running"}}
]})";

class KubeClientTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(kube_.ok()) << kube_.Log(); }

  std::unique_ptr<KubeClient> Client(const std::string& context) {
    auto access = LoadKubeconfigFile(kube_.kubeconfig(), context);
    EXPECT_TRUE(access.ok()) << access.status();
    if (!access.ok()) return nullptr;
    auto client = KubeClient::Create(*access);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

  testing::TempDir dir_;
  testing::SimKube kube_{dir_.path() + "/kube", kObjects, {.tls = true}};
};

TEST_F(KubeClientTest, KubeconfigContextsAndWhatIsRefused) {
  auto token = LoadKubeconfigFile(kube_.kubeconfig(), "");
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->context, "token");
  EXPECT_EQ(token->token, "sim-token");
  EXPECT_THAT(token->ca_pem, HasSubstr("BEGIN CERTIFICATE"));
  EXPECT_EQ(token->default_namespace, "default");
  auto cert = LoadKubeconfigFile(kube_.kubeconfig(), "cert");
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_TRUE(cert->token.empty());
  EXPECT_THAT(cert->client_key_pem, HasSubstr("PRIVATE KEY"));
  EXPECT_EQ(LoadKubeconfigFile(kube_.kubeconfig(), "nope").status().code(), absl::StatusCode::kInvalidArgument);
  const std::string base = dir_.path();
  std::ofstream(base + "/ca.pem") << token->ca_pem;
  std::ofstream(base + "/token") << "file-token\n";
  const std::string files =
      "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: k, cluster: {server: 'https://127.0.0.1:1', "
      "certificate-authority: ca.pem}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
      "users: [{name: u, user: {tokenFile: token}}]\n";
  auto from_files = LoadKubeconfig(files, base, "", "files.yaml");
  ASSERT_TRUE(from_files.ok()) << from_files.status();
  EXPECT_EQ(from_files->token, "file-token");
  EXPECT_EQ(from_files->ca_pem, token->ca_pem);
  const std::string exec_plugin =
      "current-context: c\nclusters: [{name: k, cluster: {server: 'https://x'}}]\ncontexts: [{name: c, context: {cluster: "
      "k, user: eks}}]\nusers: [{name: eks, user: {exec: {command: aws, args: [eks, get-token]}}}]\n";
  auto refused = LoadKubeconfig(exec_plugin, base, "", "eks.yaml");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("users[eks].user.exec: exec credential plugins are not supported"));
  auto no_server = LoadKubeconfig("current-context: c\nclusters: [{name: k, cluster: {server: 'x'}}]\ncontexts: [{name: c, "
                                  "context: {cluster: k}}]\n", base, "", "bad.yaml");
  EXPECT_THAT(no_server.status().message(), HasSubstr("clusters[k].cluster.server"));
  EXPECT_EQ(LoadKubeconfig("[", base, "", "broken.yaml").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(KubeClientTest, CallsWithATokenOrACertificateAndTheServersErrors) {
  for (const char* context : {"token", "cert"}) {
    auto kube = Client(context);
    ASSERT_NE(kube, nullptr);
    auto pod = kube->Call("GET", "/api/v1/namespaces/shop/pods/web-1");
    ASSERT_TRUE(pod.ok()) << context << ": " << pod.status();
    EXPECT_EQ((*pod)["metadata"]["name"], "web-1");
    auto listed = kube->Call("GET", "/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb");
    ASSERT_TRUE(listed.ok());
    EXPECT_EQ((*listed)["items"].size(), 1u);
  }
  auto kube = Client("token");
  auto missing = kube->Call("GET", "/api/v1/namespaces/shop/pods/nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("pods \"nope\" not found"));
  // A replace at the version read succeeds once; at a stale one it is a conflict.
  auto cm = kube->Call("GET", "/api/v1/namespaces/shop/configmaps/settings");
  ASSERT_TRUE(cm.ok());
  json changed = *cm;
  changed["data"]["mode"] = "b";
  ASSERT_TRUE(kube->Call("PUT", "/api/v1/namespaces/shop/configmaps/settings", &changed).ok());
  changed["data"]["mode"] = "c";
  auto stale = kube->Call("PUT", "/api/v1/namespaces/shop/configmaps/settings", &changed);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(stale.status().message(), HasSubstr("the object has been modified"));
  json patch = {{"data", {{"extra", "1"}}}};
  auto patched = kube->Call("PATCH", "/api/v1/namespaces/shop/configmaps/settings", &patch);
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_EQ((*patched)["data"]["mode"], "b");
  EXPECT_EQ((*patched)["data"]["extra"], "1");
  ASSERT_TRUE(kube->Call("DELETE", "/api/v1/namespaces/shop/configmaps/settings").ok());
  EXPECT_EQ(kube->Call("GET", "/api/v1/namespaces/shop/configmaps/settings").status().code(), absl::StatusCode::kNotFound);
  // A wrong token: the server's refusal, passed on.
  auto access = LoadKubeconfigFile(kube_.kubeconfig(), "token");
  access->token = "wrong";
  auto wrong = KubeClient::Create(*access);
  ASSERT_TRUE(wrong.ok());
  auto refused = (*wrong)->Call("GET", "/api/v1/namespaces/shop/pods");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(refused.status().message(), HasSubstr("Unauthorized"));
  // A server whose certificate the CA did not sign is refused before anything is sent.
  access = LoadKubeconfigFile(kube_.kubeconfig(), "token");
  access->ca_pem = access->client_cert_pem.empty() ? LoadKubeconfigFile(kube_.kubeconfig(), "cert")->client_cert_pem : "";
  auto untrusted = KubeClient::Create(*access);
  ASSERT_TRUE(untrusted.ok()) << untrusted.status();
  auto tls = (*untrusted)->Call("GET", "/api/v1/namespaces/shop/pods");
  EXPECT_EQ(tls.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(tls.status().message(), HasSubstr("TLS"));
  // Nothing listening.
  access->server = "https://127.0.0.1:1";
  EXPECT_EQ((*KubeClient::Create(*access))->Call("GET", "/api").status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(KubeClientTest, ALogStreamFollowsUntilCancelledOrItsPodIsGone) {
  auto kube = Client("token");
  std::string got;
  ASSERT_TRUE(kube->Stream("/api/v1/namespaces/shop/pods/web-1/log?tailLines=2", [&](absl::string_view d) {
                  got.append(d.data(), d.size());
                  return true;
                }, nullptr).ok());
  EXPECT_EQ(got, "two\nthree\n");
  std::atomic<bool> cancel{false};
  got.clear();
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    cancel = true;
  });
  auto started = std::chrono::steady_clock::now();
  absl::Status followed = kube->Stream("/api/v1/namespaces/shop/pods/web-1/log?follow=true", [&](absl::string_view d) {
    got.append(d.data(), d.size());
    return true;
  }, &cancel);
  stopper.join();
  EXPECT_TRUE(followed.ok()) << followed;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
  EXPECT_THAT(got, HasSubstr("one\ntwo\nthree\napp line 3\n"));
  // The pod deleted meanwhile: the stream ends by itself.
  std::thread deleter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    kube->Call("DELETE", "/api/v1/namespaces/shop/pods/web-1").IgnoreError();
  });
  absl::Status ended = kube->Stream("/api/v1/namespaces/shop/pods/web-1/log?follow=true",
                                    [](absl::string_view) { return true; }, nullptr);
  deleter.join();
  EXPECT_TRUE(ended.ok()) << ended;
  auto gone = kube->Stream("/api/v1/namespaces/shop/pods/web-1/log", [](absl::string_view) { return true; }, nullptr);
  EXPECT_EQ(gone.code(), absl::StatusCode::kNotFound);
}

TEST_F(KubeClientTest, ExecOverWebSocketWithStdinAndTheExitCode) {
  auto kube = Client("cert");
  std::string out, err;
  auto exec = kube->StartExec(
      "/api/v1/namespaces/shop/pods/web-1/exec?command=sh&command=-c&command=read+x%3B+echo+got+%24x%3B+echo+oops+%3E%262%3B"
      "+exit+5&stdin=true&stdout=true&stderr=true",
      [&](int channel, absl::string_view data) { (channel == 1 ? out : err).append(data.data(), data.size()); });
  ASSERT_TRUE(exec.ok()) << exec.status() << kube_.Log();
  ASSERT_TRUE((*exec)->SendStdin("typed\n").ok());
  ASSERT_TRUE((*exec)->CloseStdin().ok());
  auto code = (*exec)->Wait();
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 5);
  EXPECT_EQ(out, "got typed\n");
  EXPECT_EQ(err, "oops\n");
  auto zero = kube->StartExec("/api/v1/namespaces/shop/pods/web-1/exec?command=true&stdout=true", nullptr);
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(*(*zero)->Wait(), 0);
  auto no_container = kube->StartExec("/api/v1/namespaces/shop/pods/web-1/exec?command=true&container=nope&stdout=true",
                                      nullptr);
  EXPECT_EQ(no_container.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_container.status().message(), HasSubstr("container nope is not valid for pod web-1"));
  // Cancelled mid-command: Wait returns at once, and the command does not outlive it.
  auto sleeping = kube->StartExec("/api/v1/namespaces/shop/pods/web-1/exec?command=sleep&command=30&stdout=true", nullptr);
  ASSERT_TRUE(sleeping.ok());
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    (*sleeping)->Cancel();
  });
  EXPECT_EQ((*sleeping)->Wait().status().code(), absl::StatusCode::kCancelled);
  canceller.join();
}

}  // namespace
}  // namespace plinth::cloudops
