// Cloud Ops end to end: a real plinthd, a real plinth-runner holding a
// kubernetes connection, and the simulated API server (tests/fakes/sim_kube.py)
// with the shop namespace: developer mode on a KubernetesDeployment, admin
// mode on the connection, and the faults.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <tuple>
#include <thread>

#include "daemon_process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "plinth/v1/cloud_ops.grpc.pb.h"
#include "plinth/v1/grant.grpc.pb.h"
#include "plinth/v1/cloud_resource.grpc.pb.h"
#include "plinth/v1/connection.grpc.pb.h"
#include "plinth/v1/runner.grpc.pb.h"
#include "runner_process.h"
#include "sim_kube.h"
#include "temp_dir.h"
#include "test_paths.h"

namespace plinth::testing {
namespace {

namespace pb = plinth::v1;
using ::testing::HasSubstr;
using ::testing::Not;
using nlohmann::json;

constexpr char kWeb[] = R"(apiVersion: kubernetes.planton.dev/v1
kind: KubernetesDeployment
metadata: {name: web}
spec:
  namespace: {value: shop}
  version: main
  container: {app: {image: {repo: nginx, tag: "1.25"}}}
)";

class CloudOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(kube_.ok()) << kube_.Log();
    ASSERT_TRUE(daemon_.Start(DaemonArgs()).ok()) << daemon_.Stderr();
    ops_ = pb::CloudOpsService::NewStub(daemon_.Channel());
    auto connections = pb::ConnectionService::NewStub(daemon_.Channel());
    pb::CreateConnectionRequest create;
    create.set_org("acme");
    create.set_name("shop-cluster");
    create.set_provider("kubernetes");
    create.set_runner_held(true);
    pb::Connection c;
    grpc::Status s = connections->CreateConnection(Ctx().get(), create, &c);
    ASSERT_TRUE(s.ok()) << s.error_message();
    pb::SetDefaultConnectionRequest def;
    def.set_org("acme");
    def.set_env("prod");
    def.set_provider("kubernetes");
    def.set_name("shop-cluster");
    pb::SetDefaultConnectionResponse ignored;
    s = connections->SetDefaultConnection(Ctx().get(), def, &ignored);
    ASSERT_TRUE(s.ok()) << s.error_message();
    Apply("prod", kWeb);
    auto pools = pb::RunnerPoolService::NewStub(daemon_.Channel());
    pb::CreateRunnerPoolRequest pool;
    pool.set_name("edge");
    pb::RunnerPool created;
    ASSERT_TRUE(pools->CreateRunnerPool(Ctx().get(), pool, &created).ok());
    pb::BindRunnerPoolRequest bind;
    bind.set_pool("edge");
    bind.set_org("acme");
    pb::RunnerPoolBinding binding;
    ASSERT_TRUE(pools->BindRunnerPool(Ctx().get(), bind, &binding).ok());
    pb::CreatePoolTokenRequest token;
    token.set_pool("edge");
    pb::CreatePoolTokenResponse secret;
    ASSERT_TRUE(pools->CreatePoolToken(Ctx().get(), token, &secret).ok());
    token_file_ = dir_.path() + "/runner.token";
    std::ofstream(token_file_) << secret.secret() << "\n";
  }

  // Extra plinthd arguments (a subclass turns auth on).
  virtual std::vector<std::string> DaemonArgs() { return {}; }
  // A context with the current caller's token (none without auth).
  std::unique_ptr<grpc::ClientContext> Ctx() const { return DaemonProcess::Context(token_); }

  void Apply(const std::string& env, const std::string& yaml) {
    auto resources = pb::CloudResourceService::NewStub(daemon_.Channel());
    pb::ApplyCloudResourcesRequest req;
    req.add_sources()->set_content(yaml);
    req.set_org("acme");
    req.set_env(env);
    pb::ApplyCloudResourcesResponse resp;
    grpc::Status s = resources->ApplyCloudResources(Ctx().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // A runner of pool edge holding acme/shop-cluster with `kubeconfig`.
  std::unique_ptr<RunnerProcess> StartRunner(const std::string& name, const std::string& kubeconfig) {
    const std::string config = dir_.path() + "/" + name + ".yaml";
    std::ofstream(config) << "connections:\n  - name: acme/shop-cluster\n    provider: kubernetes\n    secrets:\n"
                          << "      kubeconfig: {file: " << kubeconfig << "}\n";
    auto runner = std::make_unique<RunnerProcess>(
        dir_.path(), std::vector<std::string>{"--server", daemon_.address(), "--token-file", token_file_, "--name", name,
                                              "--config", config, "--work-dir", dir_.path() + "/w-" + name});
    auto pools = pb::RunnerPoolService::NewStub(daemon_.Channel());
    for (int i = 0; i < 300; ++i) {
      pb::ListRunnersRequest req;
      pb::ListRunnersResponse resp;
      pools->ListRunners(Ctx().get(), req, &resp);
      for (const auto& r : resp.runners()) {
        if (r.name() == name && r.connected()) return runner;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "runner " << name << " did not connect: " << runner->Log();
    return runner;
  }

  static pb::CloudOpsTarget Web() {
    pb::CloudOpsTarget t;
    t.set_resource("acme/prod/KubernetesDeployment/web");
    return t;
  }
  static pb::CloudOpsTarget Admin(const std::string& ns = "shop") {
    pb::CloudOpsTarget t;
    t.set_org("acme");
    t.set_connection("shop-cluster");
    t.set_namespace_(ns);
    return t;
  }

  grpc::Status Pods(const pb::CloudOpsTarget& t, pb::ListPodsResponse* resp) {
    pb::ListPodsRequest req;
    *req.mutable_target() = t;
    return ops_->ListPods(Ctx().get(), req, resp);
  }

  // Reads a log stream to its end: the text and how it ended.
  grpc::Status Logs(const pb::StreamLogsRequest& req, std::string* out, grpc::ClientContext* ctx = nullptr) {
    auto owned = Ctx();
    auto reader = ops_->StreamLogs(ctx != nullptr ? ctx : owned.get(), req);
    pb::LogChunk chunk;
    while (reader->Read(&chunk)) *out += chunk.data();
    return reader->Finish();
  }

  // One exec: stdin sent whole, then closed; output and exit code.
  grpc::Status Exec(const pb::CloudOpsTarget& t, const std::string& pod, std::vector<std::string> command,
                    const std::string& input, std::string* out, int* exit_code, const std::string& container = "") {
    auto ctx = Ctx();
    auto stream = ops_->Exec(ctx.get());
    pb::ExecRequest start;
    *start.mutable_start()->mutable_target() = t;
    start.mutable_start()->set_pod(pod);
    start.mutable_start()->set_container(container);
    for (auto& c : command) start.mutable_start()->add_command(c);
    start.mutable_start()->set_stdin(!input.empty());
    stream->Write(start);
    if (!input.empty()) {
      pb::ExecRequest in;
      in.set_stdin(input);
      stream->Write(in);
      pb::ExecRequest close;
      close.set_close_stdin(true);
      stream->Write(close);
    }
    stream->WritesDone();
    pb::ExecResponse resp;
    while (stream->Read(&resp)) {
      *out += resp.stdout();
      *out += resp.stderr();
      if (resp.exited()) *exit_code = resp.exit_code();
    }
    return stream->Finish();
  }

  TempDir dir_;
  SimKube kube_{dir_.path() + "/kube", SimKube::ShopObjects(), {.tls = true}};
  DaemonProcess daemon_;
  std::unique_ptr<pb::CloudOpsService::Stub> ops_;
  std::string token_file_;
  std::string token_;  // the caller's bearer token, when auth is on
};

TEST_F(CloudOpsTest, DeveloperModeShowsTheResourcesPodsLogsExecAndGraph) {
  auto runner = StartRunner("rack-a", kube_.kubeconfig());
  pb::ListPodsResponse pods;
  grpc::Status s = Pods(Web(), &pods);
  ASSERT_TRUE(s.ok()) << s.error_message() << runner->Log();
  ASSERT_EQ(pods.pods_size(), 2);
  EXPECT_EQ(pods.pods(0).name(), "web-7d4f9-a1");
  EXPECT_EQ(pods.pods(1).restarts(), 3);
  EXPECT_EQ(pods.pods(1).workload(), "Deployment/web");
  EXPECT_EQ(pods.route().mode(), "developer");
  EXPECT_EQ(pods.route().connection(), "acme/shop-cluster");
  EXPECT_EQ(pods.route().namespace_(), "shop");
  EXPECT_EQ(pods.route().runner(), "rack-a");
  EXPECT_EQ(pods.route().pool(), "edge");

  pb::StreamLogsRequest logs;
  *logs.mutable_target() = Web();
  logs.set_filter("/cart");
  std::string text;
  s = Logs(logs, &text);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(text, HasSubstr("[web-7d4f9-a1] GET /cart 500\n"));
  EXPECT_THAT(text, HasSubstr("[web-7d4f9-b2] GET /cart 200\n"));
  EXPECT_THAT(text, Not(HasSubstr("health")));

  std::string out;
  int code = -1;
  s = Exec(Web(), "web-7d4f9-a1", {"sh", "-c", "read x; echo got $x; exit 7"}, "ping\n", &out, &code);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out, "got ping\n");
  EXPECT_EQ(code, 7);

  pb::GetNamespaceGraphRequest graph_req;
  *graph_req.mutable_target() = Web();
  pb::NamespaceGraph graph;
  s = ops_->GetNamespaceGraph(Ctx().get(), graph_req, &graph);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(graph.dot(), HasSubstr("\"Ingress/web\" -> \"Service/web\""));
  EXPECT_THAT(graph.graph_json(), Not(HasSubstr("billing")));

  // The Secret's values stay hidden (this caller holds no reveal-sensitive
  // grant: without a token file everyone is anonymous... and allowed, so
  // admin mode shows what a revealing caller sees; see the grants tests).
  pb::GetObjectRequest get;
  *get.mutable_target() = Web();
  get.set_type("configmaps");
  get.set_name("web-config");
  pb::KubeObject cm;
  s = ops_->GetObject(Ctx().get(), get, &cm);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(json::parse(cm.object_json())["data"]["LISTEN"], ":8080");
  EXPECT_FALSE(cm.resource_version().empty());
}

TEST_F(CloudOpsTest, DeveloperModeRefusesWhatIsOutsideTheResourcesScope) {
  auto runner = StartRunner("rack-a", kube_.kubeconfig());
  pb::ListPodsResponse pods;
  pb::CloudOpsTarget other_ns = Web();
  other_ns.set_namespace_("kube-system");
  grpc::Status s = Pods(other_ns, &pods);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("target.namespace: kube-system is outside acme/prod/KubernetesDeployment/web"));
  pb::CloudOpsTarget other_conn = Web();
  other_conn.set_connection("shop-cluster");
  EXPECT_EQ(Pods(other_conn, &pods).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  std::string out;
  int code = -1;
  s = Exec(Web(), "billing-5c8-x9", {"true"}, "", &out, &code);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("pod billing-5c8-x9 is outside this cloud resource's scope"));
  pb::DeleteObjectRequest del;
  *del.mutable_target() = Web();
  del.set_type("deployments");
  del.set_name("billing");
  del.set_confirm(true);
  pb::DeleteObjectResponse deleted;
  EXPECT_EQ(ops_->DeleteObject(Ctx().get(), del, &deleted).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // Admin mode reaches it (the grant is then checked on the connection).
  s = Exec(Admin(), "billing-5c8-x9", {"echo", "admin"}, "", &out, &code);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out, "admin\n");
  // Bad targets.
  pb::CloudOpsTarget unknown;
  unknown.set_resource("acme/prod/KubernetesDeployment/nope");
  s = Pods(unknown, &pods);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("acme/prod/KubernetesDeployment/nope not found"));
  Apply("prod", "apiVersion: aws.planton.dev/v1\nkind: AwsVpc\nmetadata: {name: net}\nspec: {region: us-east-1, cidrBlock: 10.0.0.0/16}\n");
  pb::CloudOpsTarget vpc;
  vpc.set_resource("acme/prod/AwsVpc/net");
  s = Pods(vpc, &pods);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("AwsVpc has no Kubernetes target"));
  pb::CloudOpsTarget malformed;
  malformed.set_resource("acme/web");
  EXPECT_EQ(Pods(malformed, &pods).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  Apply("prod", std::string(kWeb).replace(std::string(kWeb).find("name: web"), 9, "name: api") +
                    "  targetCluster: {clusterKind: GcpGkeCluster, clusterName: other-gke}\n");
  pb::CloudOpsTarget api;
  api.set_resource("acme/prod/KubernetesDeployment/api");
  s = Pods(api, &pods);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("runs on cluster other-gke"));
  // Exec into a container that does not exist: the API server's answer.
  s = Exec(Web(), "web-7d4f9-a1", {"true"}, "", &out, &code, "sidecar");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("container sidecar is not valid for pod web-7d4f9-a1"));
}

TEST_F(CloudOpsTest, EditsApplyAtTheirVersionDeletesNeedConfirmationAndAllIsAudited) {
  auto runner = StartRunner("rack-a", kube_.kubeconfig());
  pb::GetObjectRequest get;
  *get.mutable_target() = Web();
  get.set_type("cm");
  get.set_name("web-config");
  pb::KubeObject read;
  ASSERT_TRUE(ops_->GetObject(Ctx().get(), get, &read).ok());
  json obj = json::parse(read.object_json());
  obj["data"]["LISTEN"] = ":9090";
  pb::ApplyObjectRequest apply;
  *apply.mutable_target() = Web();
  apply.set_object_json(obj.dump());
  pb::KubeObject applied;
  grpc::Status s = ops_->ApplyObject(Ctx().get(), apply, &applied);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_NE(applied.resource_version(), read.resource_version());
  obj["data"]["LISTEN"] = ":7070";  // from the old version: a conflict
  apply.set_object_json(obj.dump());
  s = ops_->ApplyObject(Ctx().get(), apply, &applied);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(s.error_message(), HasSubstr("changed since it was read"));
  pb::DeleteObjectRequest del;
  *del.mutable_target() = Web();
  del.set_type("pods");
  del.set_name("web-7d4f9-b2");
  pb::DeleteObjectResponse deleted;
  s = ops_->DeleteObject(Ctx().get(), del, &deleted);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("must be confirmed"));
  del.set_confirm(true);
  s = ops_->DeleteObject(Ctx().get(), del, &deleted);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(deleted.deleted(), "Pod/web-7d4f9-b2");
  pb::ListPodsResponse pods;
  ASSERT_TRUE(Pods(Web(), &pods).ok());
  EXPECT_EQ(pods.pods_size(), 1);
  // The audit: who, mode, target, operation, outcome.
  pb::ListCloudOpsAuditRequest audit_req;
  pb::ListCloudOpsAuditResponse audit;
  s = ops_->ListCloudOpsAudit(Ctx().get(), audit_req, &audit);
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::string rows;
  for (const auto& e : audit.entries()) {
    rows += e.actor() + "|" + e.mode() + "|" + e.target() + "|" + e.operation() + "|" + e.object() + "|" + e.code() + "\n";
  }
  EXPECT_THAT(rows, HasSubstr("anonymous|developer|acme/prod/KubernetesDeployment/web|apply|ConfigMap/web-config|OK"));
  EXPECT_THAT(rows, HasSubstr("anonymous|developer|acme/prod/KubernetesDeployment/web|apply|ConfigMap/web-config|ABORTED"));
  EXPECT_THAT(rows, HasSubstr("anonymous|developer|acme/prod/KubernetesDeployment/web|delete|pods/web-7d4f9-b2|OK"));
  EXPECT_THAT(rows, HasSubstr("|delete|pods/web-7d4f9-b2|FAILED_PRECONDITION"));
  EXPECT_EQ(audit.entries(0).operation(), "pods") << "newest first";
}

TEST_F(CloudOpsTest, WithoutARunnerHoldingTheConnectionItIsUnavailable) {
  pb::ListPodsResponse pods;
  grpc::Status s = Pods(Web(), &pods);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(s.error_message(), HasSubstr("pool edge"));
  EXPECT_THAT(s.error_message(), HasSubstr("acme/shop-cluster"));
}

TEST_F(CloudOpsTest, AClusterThatRefusesTheRunnersCredentialIsPassedOn) {
  std::ifstream in(kube_.kubeconfig());
  std::string config((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string wrong = dir_.path() + "/wrong.kubeconfig";
  std::ofstream(wrong) << std::string(config).replace(config.find("sim-token"), 9, "bad-token");
  auto runner = StartRunner("rack-a", wrong);
  pb::ListPodsResponse pods;
  grpc::Status s = Pods(Web(), &pods);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(s.error_message(), HasSubstr("Unauthorized"));
}

// Processes of the simulated cluster running `marker`.
int Running(const std::string& marker) {
  CommandResult r = RunCommand({"/usr/bin/pgrep", "-f", marker});
  return static_cast<int>(std::count(r.out.begin(), r.out.end(), '\n'));
}

TEST_F(CloudOpsTest, CancellingStopsTheWorkOnTheRunnerAndARunnerGoneEndsTheStream) {
  auto runner = StartRunner("rack-a", kube_.kubeconfig());
  // An exec whose caller goes away: its process in the cluster is gone too.
  {
    grpc::ClientContext ctx;
    auto stream = ops_->Exec(&ctx);
    pb::ExecRequest start;
    *start.mutable_start()->mutable_target() = Web();
    start.mutable_start()->set_pod("web-7d4f9-a1");
    for (const char* c : {"sleep", "4242"}) start.mutable_start()->add_command(c);
    stream->Write(start);
    for (int i = 0; i < 100 && Running("sleep 4242") == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_EQ(Running("sleep 4242"), 1) << kube_.Log();
    ctx.TryCancel();
    stream->Finish();
  }
  for (int i = 0; i < 100 && Running("sleep 4242") > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(Running("sleep 4242"), 0) << "the exec outlived its caller";
  // A followed log whose runner dies: the stream ends UNAVAILABLE, no hang.
  pb::StreamLogsRequest logs;
  *logs.mutable_target() = Web();
  logs.add_pods("web-7d4f9-a1");
  logs.set_follow(true);
  std::thread killer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    runner->Signal(SIGKILL);
  });
  std::string text;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  const auto started = std::chrono::steady_clock::now();
  grpc::Status s = Logs(logs, &text, &ctx);
  killer.join();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("rack-a"));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(8));
  EXPECT_THAT(text, HasSubstr("GET /cart 500"));
}

TEST_F(CloudOpsTest, ALogStreamOfAPodDeletedMeanwhileEnds) {
  auto runner = StartRunner("rack-a", kube_.kubeconfig());
  pb::StreamLogsRequest logs;
  *logs.mutable_target() = Admin();
  logs.add_pods("billing-5c8-x9");
  logs.set_follow(true);
  std::thread deleter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    pb::DeleteObjectRequest del;
    *del.mutable_target() = Admin();
    del.set_type("pod");
    del.set_name("billing-5c8-x9");
    del.set_confirm(true);
    pb::DeleteObjectResponse resp;
    EXPECT_TRUE(ops_->DeleteObject(Ctx().get(), del, &resp).ok());
  });
  std::string text;
  grpc::Status s = Logs(logs, &text);
  deleter.join();
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(text, HasSubstr("charged order 1"));
}

TEST_F(CloudOpsTest, TheCliShowsPodsRunsExecAndPrintsTheGraph) {
  auto runner = StartRunner("rack-a", kube_.kubeconfig());
  CommandResult pods = daemon_.Cli({"kubectl", "pods", "-r", "acme/prod/KubernetesDeployment/web"});
  ASSERT_EQ(pods.exit_code, 0) << pods.err;
  EXPECT_THAT(pods.out, HasSubstr("web-7d4f9-b2"));
  EXPECT_THAT(pods.out, HasSubstr("Deployment/web"));
  EXPECT_THAT(pods.err, HasSubstr("developer mode: connection acme/shop-cluster, namespace shop, runner rack-a"));
  CommandResult exec = daemon_.Cli({"kubectl", "exec", "-i", "-r", "acme/prod/KubernetesDeployment/web", "--",
                                    "sh", "-c", "read x; echo hi $x; exit 4"},
                                   "there\n");
  EXPECT_EQ(exec.exit_code, 4) << exec.err;
  EXPECT_EQ(exec.out, "hi there\n");
  CommandResult dot = daemon_.Cli({"ops", "graph", "--org", "acme", "--connection", "shop-cluster", "-n", "shop", "-o", "dot"});
  ASSERT_EQ(dot.exit_code, 0) << dot.err;
  EXPECT_THAT(dot.out, HasSubstr("\"Service/web\" -> \"Pod/web-7d4f9-a1\" [label=\"selects\"]"));
  EXPECT_THAT(dot.out, HasSubstr("billing"));
  CommandResult yaml = daemon_.Cli({"kubectl", "get", "deploy", "web", "-o", "yaml", "-r", "acme/prod/KubernetesDeployment/web"});
  ASSERT_EQ(yaml.exit_code, 0) << yaml.err;
  EXPECT_THAT(yaml.out, HasSubstr("kind: Deployment"));
  CommandResult no = daemon_.Cli({"kubectl", "delete", "pod", "web-7d4f9-a1", "-r", "acme/prod/KubernetesDeployment/web"});
  EXPECT_EQ(no.exit_code, 2);
  EXPECT_THAT(no.err, HasSubstr("needs --yes"));
  // edit through $EDITOR: a sed script is the editor.
  CommandResult edit = daemon_.Cli({"kubectl", "edit", "configmaps", "web-config", "-r", "acme/prod/KubernetesDeployment/web"},
                                   "", {"EDITOR=sed -i s/8080/8181/"});
  ASSERT_EQ(edit.exit_code, 0) << edit.err;
  EXPECT_THAT(edit.out, HasSubstr("configmaps/web-config edited"));
  CommandResult after = daemon_.Cli({"kubectl", "get", "cm", "web-config", "-o", "json", "-r", "acme/prod/KubernetesDeployment/web"});
  EXPECT_THAT(after.out, HasSubstr(":8181"));
}

// With a token file: what each grant lets a caller do through Cloud Ops.
class CloudOpsGrantsTest : public CloudOpsTest {
 protected:
  static constexpr char kRoot[] = "token-root-000000001";  // admin of everything, reveal-sensitive
  static constexpr char kDana[] = "token-dana-000000001";  // viewer on the web resource
  static constexpr char kOlga[] = "token-olga-000000001";  // operator on acme/prod
  static constexpr char kAda[] = "token-ada-0000000001";   // use of acme/shop-cluster
  static constexpr char kGus[] = "token-gus-0000000001";   // viewer on acme/dev

  std::vector<std::string> DaemonArgs() override {
    const std::string tokens = dir_.path() + "/tokens";
    std::ofstream(tokens) << kRoot << " root reveal-sensitive\n"
                          << kDana << " dana scoped\n"
                          << kOlga << " olga scoped\n"
                          << kAda << " ada scoped\n"
                          << kGus << " gus scoped\n";
    token_ = kRoot;
    const std::string config = dir_.path() + "/plinthd.yaml";
    std::ofstream(config) << "auth_token_file: " << tokens << "\n";
    return {"--config", config};
  }

  void SetUp() override {
    CloudOpsTest::SetUp();
    auto grants = pb::GrantService::NewStub(daemon_.Channel());
    for (auto [who, role, scope] : std::vector<std::tuple<std::string, std::string, std::string>>{
             {"dana", "viewer", "acme/prod/KubernetesDeployment/web"},
             {"olga", "operator", "acme/prod"},
             {"ada", "use", "acme/shop-cluster"},
             {"gus", "viewer", "acme/dev"}}) {
      pb::CreateGrantRequest req;
      req.set_identity(who);
      req.set_role(role);
      req.set_scope(scope);
      pb::Grant g;
      grpc::Status s = grants->CreateGrant(DaemonProcess::Context(kRoot).get(), req, &g);
      ASSERT_TRUE(s.ok()) << s.error_message();
    }
  }

  grpc::Status GetSecret(const pb::CloudOpsTarget& t, json* data) {
    pb::GetObjectRequest get;
    *get.mutable_target() = t;
    get.set_type("secrets");
    get.set_name("web-tls");
    pb::KubeObject obj;
    grpc::Status s = ops_->GetObject(Ctx().get(), get, &obj);
    if (s.ok()) *data = json::parse(obj.object_json())["data"];
    return s;
  }
};

TEST_F(CloudOpsGrantsTest, ViewersReadOperatorsChangeAndAdminModeNeedsTheConnection) {
  auto runner = StartRunner("rack-a", kube_.kubeconfig());
  // A viewer of the resource: pods, logs and browse; Secret values hidden.
  token_ = kDana;
  pb::ListPodsResponse pods;
  grpc::Status s = Pods(Web(), &pods);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(pods.pods_size(), 2);
  pb::StreamLogsRequest logs;
  *logs.mutable_target() = Web();
  logs.set_tail_lines(1);
  std::string text;
  EXPECT_TRUE(Logs(logs, &text).ok());
  EXPECT_FALSE(text.empty());
  json data;
  ASSERT_TRUE(GetSecret(Web(), &data).ok());
  EXPECT_EQ(data["tls.key"], "(hidden)");
  // ... but no exec, edit or delete: those take operator.
  std::string out;
  int code = -1;
  s = Exec(Web(), "web-7d4f9-a1", {"true"}, "", &out, &code);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("operator"));
  pb::DeleteObjectRequest del;
  *del.mutable_target() = Web();
  del.set_type("pods");
  del.set_name("web-7d4f9-a1");
  del.set_confirm(true);
  pb::DeleteObjectResponse deleted;
  EXPECT_EQ(ops_->DeleteObject(Ctx().get(), del, &deleted).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // Nor admin mode (no use of the connection).
  EXPECT_EQ(Pods(Admin(), &pods).error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // A viewer of another env sees nothing of this resource.
  token_ = kGus;
  s = Pods(Web(), &pods);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("acme/prod/KubernetesDeployment/web"));

  // The env's operator runs exec.
  token_ = kOlga;
  s = Exec(Web(), "web-7d4f9-a1", {"sh", "-c", "exit 3"}, "", &out, &code);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(code, 3);
  EXPECT_EQ(Pods(Admin(), &pods).error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // `use` of the connection: admin mode, in any namespace, but not
  // developer mode on a resource it holds nothing on.
  token_ = kAda;
  s = Pods(Admin("shop"), &pods);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(pods.route().mode(), "admin");
  EXPECT_EQ(Pods(Web(), &pods).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(GetSecret(Admin(), &data).ok());
  EXPECT_EQ(data["tls.key"], "(hidden)");

  // reveal-sensitive (the token file's) shows Secret values.
  token_ = kRoot;
  ASSERT_TRUE(GetSecret(Web(), &data).ok());
  EXPECT_EQ(data["tls.key"], "c2VjcmV0LWtleQ==");

  // The audit: refusals recorded too; each caller sees its own entries, an
  // admin of the org all of them.
  auto audit = [&](const char* token) {
    token_ = token;
    pb::ListCloudOpsAuditResponse resp;
    grpc::Status s = ops_->ListCloudOpsAudit(Ctx().get(), {}, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::set<std::string> rows;
    for (const auto& e : resp.entries()) rows.insert(e.actor() + "|" + e.operation() + "|" + e.code());
    return rows;
  };
  auto dana = audit(kDana);
  EXPECT_TRUE(dana.count("dana|exec|PERMISSION_DENIED")) << ::testing::PrintToString(dana);
  EXPECT_TRUE(dana.count("dana|pods|OK"));
  for (const auto& row : dana) EXPECT_EQ(row.rfind("dana|", 0), 0u) << row;
  auto all = audit(kRoot);
  EXPECT_TRUE(all.count("olga|exec|OK"));
  EXPECT_TRUE(all.count("gus|pods|PERMISSION_DENIED"));
  EXPECT_TRUE(all.count("dana|exec|PERMISSION_DENIED"));
}

}  // namespace
}  // namespace plinth::testing
