// Connections end to end: secrets write-only and encrypted at rest, defaults
// per env and org, and never in a job's stored output.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>
#include <vector>

#include "daemon_process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plinth/v1/cloud_resource.grpc.pb.h"
#include "plinth/v1/connection.grpc.pb.h"
#include "plinth/v1/stack_job.grpc.pb.h"
#include "test_paths.h"

namespace plinth::testing {
namespace {

namespace pb = plinth::v1;
using ::testing::HasSubstr;

const char kCanary[] = "canary-aws-secret-9f8e7d6c5b4a";

class ConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string config = dir_.path() + "/plinthd.yaml";
    std::ofstream(config) << "engines: {tofu: {binary: " << PLINTH_BIN_DIR << "/plinth-sim-tofu}}\n"
                          << "modules: {default: {engine: tofu, source: " << PLINTH_SOURCE_DIR << "/examples/modules/sim}}\n";
    ASSERT_TRUE(daemon_.Start({"--config", config}).ok()) << daemon_.Stderr();
    conns_ = pb::ConnectionService::NewStub(daemon_.Channel());
    jobs_ = pb::StackJobService::NewStub(daemon_.Channel());
    resources_ = pb::CloudResourceService::NewStub(daemon_.Channel());
  }

  grpc::Status CreateAws(const std::string& name, const std::string& secret, pb::Connection* out) {
    pb::CreateConnectionRequest req;
    req.set_org("acme");
    req.set_name(name);
    req.set_provider("aws");
    (*req.mutable_fields())["access_key_id"] = "AKIASIMULATED0001";
    (*req.mutable_fields())["region"] = "eu-west-1";
    (*req.mutable_secret_fields())["secret_access_key"] = secret;
    return conns_->CreateConnection(DaemonProcess::Context().get(), req, out);
  }

  pb::StackJob RunJob(const std::string& name, const std::string& connection = "") {
    pb::CreateStackJobRequest req;
    auto* key = req.mutable_key();
    key->set_org("acme");
    key->set_env("dev");
    key->set_kind("AwsS3Bucket");
    key->set_name(name);
    req.set_operation("update");
    req.set_connection(connection);
    pb::StackJob job;
    grpc::Status s = jobs_->CreateStackJob(DaemonProcess::Context().get(), req, &job);
    EXPECT_TRUE(s.ok()) << s.error_message();
    for (int i = 0; i < 400; ++i) {
      pb::GetStackJobRequest get;
      get.set_id(job.id());
      EXPECT_TRUE(jobs_->GetStackJob(DaemonProcess::Context().get(), get, &job).ok());
      if (job.state() != "queued" && job.state() != "running") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return job;
  }

  TempDir dir_;
  DaemonProcess daemon_;
  std::unique_ptr<pb::ConnectionService::Stub> conns_;
  std::unique_ptr<pb::StackJobService::Stub> jobs_;
  std::unique_ptr<pb::CloudResourceService::Stub> resources_;
};

TEST_F(ConnectionTest, SecretsAreWriteOnlyEncryptedAndRedacted) {
  pb::Connection created;
  ASSERT_TRUE(CreateAws("dev-aws", kCanary, &created).ok());
  EXPECT_EQ(created.SerializeAsString().find(kCanary), std::string::npos);
  EXPECT_THAT(created.secret_fields(), ::testing::ElementsAre("secret_access_key"));
  pb::GetConnectionRequest get;
  get.set_org("acme");
  get.set_name("dev-aws");
  pb::Connection got;
  ASSERT_TRUE(conns_->GetConnection(DaemonProcess::Context().get(), get, &got).ok());
  EXPECT_EQ(got.SerializeAsString().find(kCanary), std::string::npos);
  EXPECT_EQ(got.fields().at("region"), "eu-west-1");

  pb::SetDefaultConnectionRequest def;
  def.set_org("acme");
  def.set_env("dev");
  def.set_provider("aws");
  def.set_name("dev-aws");
  pb::SetDefaultConnectionResponse unused;
  ASSERT_TRUE(conns_->SetDefaultConnection(DaemonProcess::Context().get(), def, &unused).ok());

  pb::ApplyCloudResourcesRequest apply;
  apply.add_sources()->set_content(
      "apiVersion: aws.planton.dev/v1\nkind: AwsS3Bucket\nmetadata:\n  name: logs\n  annotations:\n"
      "    sim.plinth.dev/print-env: AWS_SECRET_ACCESS_KEY\nspec: {region: us-east-1}\n");
  apply.set_org("acme");
  apply.set_env("dev");
  pb::ApplyCloudResourcesResponse applied;
  ASSERT_TRUE(resources_->ApplyCloudResources(DaemonProcess::Context().get(), apply, &applied).ok());

  pb::StackJob job = RunJob("logs");
  ASSERT_EQ(job.state(), "succeeded") << job.error();
  EXPECT_EQ(job.connection_id(), created.id());
  EXPECT_EQ(job.connection_reason(), "default aws connection of env dev");

  CommandResult logs = daemon_.Cli({"job", "logs", job.id()});
  ASSERT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_THAT(logs.out, HasSubstr("debug: credential is [REDACTED]"));
  EXPECT_THAT(logs.out, ::testing::Not(HasSubstr(kCanary)));
  CommandResult raw = daemon_.Cli({"job", "get", job.id(), "-o", "json"});
  EXPECT_THAT(raw.out, ::testing::Not(HasSubstr(kCanary)));

  // Nothing on disk holds the secret in the clear: not the database, not a
  // leftover workspace.
  CommandResult grep = RunCommand({"/bin/sh", "-c", std::string("grep -rl ") + kCanary + " " + daemon_.data_dir() + " || true"});
  EXPECT_EQ(grep.out, "") << "secret found in " << grep.out;
}

TEST_F(ConnectionTest, ResolutionNamedThenEnvThenOrgThenNone) {
  pb::Connection c;
  ASSERT_TRUE(CreateAws("org-wide", "secret-org-wide-1", &c).ok());
  ASSERT_TRUE(CreateAws("special", "secret-special-12", &c).ok());
  pb::ApplyCloudResourcesRequest apply;
  apply.add_sources()->set_content("apiVersion: aws.planton.dev/v1\nkind: AwsS3Bucket\nmetadata: {name: b}\nspec: {region: us-east-1}\n");
  apply.set_org("acme");
  apply.set_env("dev");
  pb::ApplyCloudResourcesResponse applied;
  ASSERT_TRUE(resources_->ApplyCloudResources(DaemonProcess::Context().get(), apply, &applied).ok());

  EXPECT_EQ(RunJob("b").connection_reason(), "no aws connection: the engine's ambient credentials");
  CommandResult set = daemon_.Cli({"connection", "set-default", "acme/org-wide"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_EQ(RunJob("b").connection_reason(), "default aws connection of org acme");
  EXPECT_EQ(RunJob("b", "special").connection_reason(), "named in the request");

  pb::CreateStackJobRequest missing;
  missing.mutable_key()->set_org("acme");
  missing.mutable_key()->set_env("dev");
  missing.mutable_key()->set_kind("AwsS3Bucket");
  missing.mutable_key()->set_name("b");
  missing.set_operation("preview");
  missing.set_connection("nope");
  pb::StackJob job;
  EXPECT_EQ(jobs_->CreateStackJob(DaemonProcess::Context().get(), missing, &job).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ConnectionTest, BadConnectionsAreRefused) {
  pb::CreateConnectionRequest req;
  req.set_org("acme");
  req.set_name("bad");
  req.set_provider("aws");
  pb::Connection out;
  grpc::Status s = conns_->CreateConnection(DaemonProcess::Context().get(), req, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("required for aws connections"));
  (*req.mutable_fields())["secret_access_key"] = "x";
  s = conns_->CreateConnection(DaemonProcess::Context().get(), req, &out);
  EXPECT_THAT(s.error_message(), HasSubstr("fields.secret_access_key: a secret: pass it as a secret field"));
  req.set_provider("oracle");
  s = conns_->CreateConnection(DaemonProcess::Context().get(), req, &out);
  EXPECT_THAT(s.error_message(), HasSubstr("provider: \"oracle\" is not one of"));
  ASSERT_TRUE(CreateAws("dup", "secret-dup-value-1", &out).ok());
  EXPECT_EQ(CreateAws("dup", "secret-dup-value-1", &out).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  CommandResult list = daemon_.Cli({"connection", "list", "--org", "acme"});
  EXPECT_THAT(list.out, HasSubstr("dup"));
  EXPECT_THAT(list.out, ::testing::Not(HasSubstr("secret-dup-value-1")));
}

}  // namespace
}  // namespace plinth::testing

namespace plinth::testing {
namespace {

// Every file under `dir` whose content holds `needle`.
std::vector<std::string> FilesHolding(const std::string& dir, const std::string& needle) {
  std::vector<std::string> found;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::ifstream in(it->path(), std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (content.find(needle) != std::string::npos) found.push_back(it->path().string());
  }
  return found;
}

// Probe finding D5: a kill -9 left workspaces/<job>/ behind for good, with
// the kubeconfig token in clear. Credential files now exist only while a
// step runs, and start-up removes whatever a crash left.
TEST_F(ConnectionTest, CredentialFilesExistOnlyWhileAStepRuns) {
  const std::string token = "canary-kube-token-7a6b5c4d";
  pb::CreateConnectionRequest create;
  create.set_org("acme");
  create.set_name("kube");
  create.set_provider("kubernetes");
  (*create.mutable_secret_fields())["kubeconfig"] = "apiVersion: v1\nkind: Config\nusers: [{name: u, user: {token: " +
                                                    token + "}}]\n";
  pb::Connection created;
  grpc::Status s = conns_->CreateConnection(DaemonProcess::Context().get(), create, &created);
  ASSERT_TRUE(s.ok()) << s.error_message();
  pb::ApplyCloudResourcesRequest apply;
  apply.add_sources()->set_content(
      "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata: {name: held}\nspec: {name: held}\n"
      "---\napiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata:\n  name: slow\n"
      "  annotations: {sim.plinth.dev/sleep-seconds: '2'}\nspec: {name: slow}\n");
  apply.set_org("acme");
  apply.set_env("dev");
  pb::ApplyCloudResourcesResponse applied;
  ASSERT_TRUE(resources_->ApplyCloudResources(DaemonProcess::Context().get(), apply, &applied).ok());
  auto create_job = [&](const std::string& name, bool approval) {
    pb::CreateStackJobRequest req;
    req.mutable_key()->set_org("acme");
    req.mutable_key()->set_env("dev");
    req.mutable_key()->set_kind("KubernetesNamespace");
    req.mutable_key()->set_name(name);
    req.set_operation("update");
    req.set_connection("kube");
    req.set_require_approval(approval);
    pb::StackJob job;
    grpc::Status st = jobs_->CreateStackJob(DaemonProcess::Context().get(), req, &job);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return job;
  };

  // Awaiting approval (for days, maybe): the plan is kept, the token is not.
  pb::StackJob held = create_job("held", true);
  for (int i = 0; i < 400 && held.state() != "awaiting_approval"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    pb::GetStackJobRequest get;
    get.set_id(held.id());
    ASSERT_TRUE(jobs_->GetStackJob(DaemonProcess::Context().get(), get, &held).ok());
  }
  ASSERT_EQ(held.state(), "awaiting_approval") << held.error();
  EXPECT_THAT(FilesHolding(daemon_.data_dir(), token), ::testing::IsEmpty());
  // Nor the saved plan, which holds the variables' values: it is kept in
  // memory until the approval and written back for the apply.
  EXPECT_FALSE(std::filesystem::exists(daemon_.data_dir() + "/workspaces/" + held.id() + "/plinth.tfplan"));
  EXPECT_TRUE(std::filesystem::exists(daemon_.data_dir() + "/workspaces/" + held.id()));

  // A step that runs has its kubeconfig; a crash in the middle of it ...
  pb::StackJob slow = create_job("slow", false);
  const std::string kubeconfig = daemon_.data_dir() + "/workspaces/" + slow.id() + "/.plinth-kubeconfig";
  // The plan step (which sleeps), not the quick init before it, whose
  // kubeconfig is gone a moment later.
  const std::string plan_lock = daemon_.data_dir() + "/workspaces/" + slow.id() + "/.plinth-steps/plan/lock";
  for (int i = 0; i < 400 && !(std::filesystem::exists(plan_lock) && std::filesystem::exists(kubeconfig)); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(std::filesystem::exists(kubeconfig)) << "the step never got its kubeconfig";
  daemon_.Kill();
  // ... does not cut the step short: it keeps its kubeconfig while it runs
  // and its supervisor removes it when it ends, with no plinthd around.
  EXPECT_THAT(FilesHolding(daemon_.data_dir(), token), ::testing::Not(::testing::IsEmpty()));
  for (int i = 0; i < 200 && !FilesHolding(daemon_.data_dir(), token).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_THAT(FilesHolding(daemon_.data_dir(), token), ::testing::IsEmpty());
  // The restarted plinthd removes the workspace of the job that waited for
  // approval at once, and the crashed step's once it has taken its end.
  ASSERT_TRUE(daemon_.Start().ok()) << daemon_.Stderr();
  EXPECT_THAT(daemon_.Stderr(), HasSubstr("removed 1 workspaces that stopped jobs left"));
  const std::string slow_workspace = daemon_.data_dir() + "/workspaces/" + slow.id();
  for (int i = 0; i < 200 && std::filesystem::exists(slow_workspace); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(std::filesystem::is_empty(daemon_.data_dir() + "/workspaces"));
  EXPECT_THAT(FilesHolding(daemon_.data_dir(), token), ::testing::IsEmpty());
}

}  // namespace
}  // namespace plinth::testing
