// The runner's Cloud Ops operations against the simulated API server, in
// admin mode (the namespace) and developer mode (one workload's scope).
#include "plinth/cloudops/operations.h"

#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sim_kube.h"
#include "temp_dir.h"

namespace plinth::cloudops {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using nlohmann::json;

class Collect : public OpsSink {
 public:
  void Output(int stream, absl::string_view data) override {
    std::lock_guard<std::mutex> lock(mu_);
    (stream == 2 ? err_ : out_).append(data.data(), data.size());
  }
  std::string out() {
    std::lock_guard<std::mutex> lock(mu_);
    return out_;
  }
  std::string err() {
    std::lock_guard<std::mutex> lock(mu_);
    return err_;
  }

 private:
  std::mutex mu_;
  std::string out_, err_;
};

class OperationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(sim_.ok()) << sim_.Log();
    auto access = LoadKubeconfigFile(sim_.kubeconfig(), "token");
    ASSERT_TRUE(access.ok()) << access.status();
    auto client = KubeClient::Create(*access);
    ASSERT_TRUE(client.ok()) << client.status();
    kube_ = std::move(*client);
  }

  OpsRequest Req(const std::string& op, const std::string& workload = "") {
    OpsRequest r;
    r.operation = op;
    r.ns = "shop";
    r.scope.restricted = !workload.empty();
    r.scope.workload = workload;
    return r;
  }

  absl::StatusOr<json> Run(const OpsRequest& r, Collect* sink = nullptr, OpsControl* control = nullptr) {
    Collect ignored;
    return RunOperation(*kube_, r, sink ? sink : &ignored, control);
  }

  testing::TempDir dir_;
  testing::SimKube sim_{dir_.path() + "/kube", testing::SimKube::ShopObjects(), {.tls = true}};
  std::unique_ptr<KubeClient> kube_;
};

TEST_F(OperationsTest, PodsOfAWorkloadWithTheirStateAndOfTheNamespace) {
  auto web = Run(Req("pods", "web"));
  ASSERT_TRUE(web.ok()) << web.status();
  ASSERT_EQ((*web)["pods"].size(), 2u) << web->dump();
  const json& b2 = (*web)["pods"][1];
  EXPECT_EQ(b2["name"], "web-7d4f9-b2");
  EXPECT_EQ(b2["phase"], "Running");
  EXPECT_EQ(b2["ready"], "1/1");
  EXPECT_EQ(b2["restarts"], 3);
  EXPECT_EQ(b2["node"], "node-2");
  EXPECT_EQ(b2["containers"], json::array({"app"}));
  EXPECT_EQ(b2["workload"], "Deployment/web");
  auto db = Run(Req("pods", "db"));
  ASSERT_TRUE(db.ok());
  ASSERT_EQ((*db)["pods"].size(), 1u);
  EXPECT_EQ((*db)["pods"][0]["workload"], "StatefulSet/db");
  auto all = Run(Req("pods"));
  ASSERT_TRUE(all.ok());
  EXPECT_EQ((*all)["pods"].size(), 4u);
  auto none = Run(Req("logs", "nothing-here"));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(OperationsTest, LogsOfSeveralPodsArePrefixedAndFilteredOnTheRunner) {
  Collect sink;
  OpsRequest r = Req("logs", "web");
  r.filter = "/cart";
  auto done = Run(r, &sink);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_THAT(sink.out(), HasSubstr("[web-7d4f9-a1] GET /cart 500\n"));
  EXPECT_THAT(sink.out(), HasSubstr("[web-7d4f9-b2] GET /cart 200\n"));
  EXPECT_THAT(sink.out(), Not(HasSubstr("health")));
  EXPECT_THAT(sink.out(), Not(HasSubstr("charged")));  // billing is not web's
  // One pod, no prefix; tail.
  Collect one;
  OpsRequest tail = Req("logs", "web");
  tail.pods = {"web-7d4f9-a1"};
  tail.tail_lines = 1;
  ASSERT_TRUE(Run(tail, &one).ok());
  EXPECT_EQ(one.out(), "GET / 200\n");
  // A pod of another workload is outside the scope.
  OpsRequest other = Req("logs", "web");
  other.pods = {"billing-5c8-x9"};
  auto refused = Run(other);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(refused.status().message(), HasSubstr("pod billing-5c8-x9 is outside this cloud resource's scope"));
  // Followed, then cancelled: it returns at once.
  OpsControl control;
  OpsRequest follow = Req("logs", "web");
  follow.follow = true;
  std::thread stop([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    control.Cancel();
  });
  auto followed = Run(follow, nullptr, &control);
  stop.join();
  EXPECT_EQ(followed.status().code(), absl::StatusCode::kCancelled);
}

TEST_F(OperationsTest, ExecInAPodOfTheScopeOnly) {
  Collect sink;
  OpsControl control;
  OpsRequest r = Req("exec", "web");
  r.pods = {"web-7d4f9-a1"};
  r.command = {"sh", "-c", "read x; echo hello $x; exit 3"};
  r.with_stdin = true;
  control.Stdin("there\n");
  control.CloseStdin();
  auto done = Run(r, &sink, &control);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ((*done)["exit_code"], 3);
  EXPECT_EQ(sink.out(), "hello there\n");
  r.pods = {"db-0"};
  EXPECT_EQ(Run(r).status().code(), absl::StatusCode::kPermissionDenied);
  OpsRequest missing = Req("exec", "web");
  missing.pods = {"web-7d4f9-a1"};
  missing.container = "sidecar";
  missing.command = {"true"};
  auto no_container = Run(missing);
  EXPECT_EQ(no_container.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_container.status().message(), HasSubstr("container sidecar is not valid"));
}

TEST_F(OperationsTest, BrowseMasksSecretsAndKeepsToTheScope) {
  auto types = Run(Req("api-resources"));
  ASSERT_TRUE(types.ok()) << types.status();
  EXPECT_THAT(types->dump(), HasSubstr("\"name\":\"deployments\""));
  OpsRequest list = Req("list", "web");
  list.type = "deploy";
  auto deployments = Run(list);
  ASSERT_TRUE(deployments.ok()) << deployments.status();
  ASSERT_EQ((*deployments)["items"].size(), 1u);  // not billing
  EXPECT_EQ((*deployments)["items"][0]["metadata"]["name"], "web");
  list.scope = {};
  EXPECT_EQ((*Run(list))["items"].size(), 2u);
  OpsRequest get = Req("get", "web");
  get.type = "secrets";
  get.name = "web-tls";
  auto secret = Run(get);
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ((*secret)["object"]["data"]["tls.key"], "(hidden)");
  EXPECT_THAT(secret->dump(), Not(HasSubstr("c2VjcmV0LWtleQ")));
  get.reveal_sensitive = true;
  EXPECT_EQ((*Run(get))["object"]["data"]["tls.key"], "c2VjcmV0LWtleQ==");
  get.type = "statefulsets";
  get.name = "db";
  get.reveal_sensitive = false;
  EXPECT_EQ(Run(get).status().code(), absl::StatusCode::kPermissionDenied);
  get.type = "widgets";
  EXPECT_EQ(Run(get).status().code(), absl::StatusCode::kNotFound);
  OpsRequest describe = Req("describe", "web");
  describe.type = "pod";
  describe.name = "web-7d4f9-b2";
  auto described = Run(describe);
  ASSERT_TRUE(described.ok()) << described.status();
  ASSERT_EQ((*described)["events"].size(), 1u);
  EXPECT_EQ((*described)["events"][0]["reason"], "BackOff");
}

TEST_F(OperationsTest, AnEditAppliesAtItsVersionAndAConflictIsAborted) {
  OpsRequest get = Req("get", "web");
  get.type = "configmaps";
  get.name = "web-config";
  json read = (*Run(get))["object"];
  json mine = read;
  mine["data"]["LISTEN"] = ":9090";
  OpsRequest apply = Req("apply", "web");
  apply.object_json = mine.dump();
  auto applied = Run(apply);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ((*applied)["object"]["data"]["LISTEN"], ":9090");
  // The same edit again, from the version it first read: someone else's change
  // (the first apply) is not overwritten.
  mine["data"]["LISTEN"] = ":7070";
  apply.object_json = mine.dump();
  auto stale = Run(apply);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(stale.status().message(), HasSubstr("changed since it was read"));
  EXPECT_EQ((*Run(get))["object"]["data"]["LISTEN"], ":9090");
  // A secret edited as shown: the hidden values keep theirs.
  OpsRequest secret = Req("get", "web");
  secret.type = "secret";
  secret.name = "web-tls";
  json s = (*Run(secret))["object"];
  s["metadata"]["labels"]["rotated"] = "yes";
  apply.object_json = s.dump();
  ASSERT_TRUE(Run(apply).ok());
  secret.reveal_sensitive = true;
  EXPECT_EQ((*Run(secret))["object"]["data"]["tls.key"], "c2VjcmV0LWtleQ==");
  json no_version = read;
  no_version["metadata"].erase("resourceVersion");
  apply.object_json = no_version.dump();
  EXPECT_THAT(Run(apply).status().message(), HasSubstr("object.metadata.resourceVersion: required"));
  // Delete: in scope only.
  OpsRequest del = Req("delete", "web");
  del.type = "deployments";
  del.name = "billing";
  EXPECT_EQ(Run(del).status().code(), absl::StatusCode::kPermissionDenied);
  del.name = "web";
  ASSERT_TRUE(Run(del).ok());
  get.type = "deployments";
  get.name = "web";
  EXPECT_EQ(Run(get).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(OperationsTest, TheNamespaceGraphRelatesOwnersSelectorsRoutesAndMounts) {
  auto graph = Run(Req("graph"));
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto has = [&](const std::string& from, const std::string& to, const std::string& type) {
    for (const auto& e : (*graph)["edges"]) {
      if (e["from"] == from && e["to"] == to && e["type"] == type) return true;
    }
    return false;
  };
  EXPECT_TRUE(has("Deployment/web", "ReplicaSet/web-7d4f9", "owns"));
  EXPECT_TRUE(has("ReplicaSet/web-7d4f9", "Pod/web-7d4f9-a1", "owns"));
  EXPECT_TRUE(has("Service/web", "Pod/web-7d4f9-b2", "selects"));
  EXPECT_TRUE(has("Ingress/web", "Service/web", "routes"));
  EXPECT_TRUE(has("Pod/web-7d4f9-a1", "ConfigMap/web-config", "mounts"));
  EXPECT_TRUE(has("Pod/web-7d4f9-a1", "Secret/web-tls", "mounts"));
  EXPECT_TRUE(has("Pod/db-0", "PersistentVolumeClaim/data-db-0", "mounts"));
  EXPECT_FALSE(has("Service/web", "Pod/billing-5c8-x9", "selects"));
  EXPECT_THAT((*graph)["dot"].get<std::string>(), HasSubstr("\"Ingress/web\" -> \"Service/web\" [label=\"routes\"];"));
  // Developer mode: only what web manages.
  auto web = Run(Req("graph", "web"));
  ASSERT_TRUE(web.ok());
  EXPECT_THAT(web->dump(), Not(HasSubstr("billing")));
  EXPECT_THAT(web->dump(), HasSubstr("Ingress/web"));
}

}  // namespace
}  // namespace plinth::cloudops
