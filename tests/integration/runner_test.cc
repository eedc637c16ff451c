// Runner pools, tokens and the runner stream, with real plinth-runner
// processes on loopback against a real plinthd.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "daemon_process.h"
#include "runner_process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "plinth/v1/cloud_resource.grpc.pb.h"
#include "plinth/v1/connection.grpc.pb.h"
#include "plinth/v1/infra_pipeline.grpc.pb.h"
#include "plinth/v1/infra_project.grpc.pb.h"
#include "plinth/v1/runner.grpc.pb.h"
#include "plinth/v1/stack_job.grpc.pb.h"
#include "test_paths.h"

namespace plinth::testing {
namespace {

namespace pb = plinth::v1;
using ::testing::HasSubstr;

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = dir_.path() + "/plinthd.yaml";
    const std::string sim = std::string(PLINTH_SOURCE_DIR) + "/examples/modules/sim";
    std::ofstream(config_) << "engines: {tofu: {binary: " << PLINTH_BIN_DIR << "/plinth-sim-tofu}, pulumi: {binary: "
                           << PLINTH_BIN_DIR << "/plinth-sim-pulumi}}\n"
                           << "modules: {default: {engine: tofu, source: " << sim
                           << "}, KubernetesSecret: {engine: pulumi, source: " << sim << "}}\n"
                           << "runners: {heartbeat_seconds: 1, lease_seconds: 3}\n"
                           << "jobs: {max_concurrent_jobs: 16}\n";
    ASSERT_TRUE(daemon_.Start({"--config", config_}).ok()) << daemon_.Stderr();
    Connect();
  }

  void Connect() {
    pools_ = pb::RunnerPoolService::NewStub(daemon_.Channel());
    jobs_ = pb::StackJobService::NewStub(daemon_.Channel());
    resources_ = pb::CloudResourceService::NewStub(daemon_.Channel());
  }

  void Apply(const std::string& env, const std::string& yaml) {
    pb::ApplyCloudResourcesRequest req;
    req.add_sources()->set_content(yaml);
    req.set_org("acme");
    req.set_env(env);
    pb::ApplyCloudResourcesResponse resp;
    grpc::Status s = resources_->ApplyCloudResources(DaemonProcess::Context().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  pb::StackJob StartJob(const std::string& env, const std::string& kind, const std::string& name,
                        const std::string& op = "update") {
    pb::CreateStackJobRequest req;
    req.mutable_key()->set_org("acme");
    req.mutable_key()->set_env(env);
    req.mutable_key()->set_kind(kind);
    req.mutable_key()->set_name(name);
    req.set_operation(op);
    pb::StackJob job;
    grpc::Status s = jobs_->CreateStackJob(DaemonProcess::Context().get(), req, &job);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return job;
  }

  pb::StackJob GetJob(const std::string& id) {
    pb::GetStackJobRequest get;
    get.set_id(id);
    pb::StackJob job;
    grpc::Status s = jobs_->GetStackJob(DaemonProcess::Context().get(), get, &job);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return job;
  }

  pb::StackJob WaitJob(const std::string& id, std::chrono::seconds limit = std::chrono::seconds(60)) {
    pb::StackJob job;
    for (auto until = std::chrono::steady_clock::now() + limit; std::chrono::steady_clock::now() < until;) {
      job = GetJob(id);
      if (job.state() != "queued" && job.state() != "running" && job.state() != "awaiting_approval") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return job;
  }

  // Processes (anywhere on this host) started for the job: their
  // environment names it.
  static std::vector<pid_t> ProcessesOfJob(const std::string& job_id) {
    std::vector<pid_t> out;
    const std::string needle = "PLINTH_JOB_ID=" + job_id;
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      const std::string name = e.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream in(e.path() / "environ", std::ios::binary);
      std::stringstream read;  // not an istreambuf_iterator: it throws when the process ends mid-read
      read << in.rdbuf();
      const std::string env = read.str();
      if (env.find(needle + std::string(1, '\0')) != std::string::npos || env.size() >= needle.size() &&
          env.compare(env.size() - needle.size(), needle.size(), needle) == 0) {
        out.push_back(std::stoi(name));
      }
    }
    return out;
  }

  void ApplyNamespace(const std::string& env, const std::string& name) {
    pb::ApplyCloudResourcesRequest req;
    req.add_sources()->set_content("apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata: {name: " +
                                   name + "}\nspec: {name: " + name + "}\n");
    req.set_org("acme");
    req.set_env(env);
    pb::ApplyCloudResourcesResponse resp;
    grpc::Status s = resources_->ApplyCloudResources(DaemonProcess::Context().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  pb::StackJob RunJob(const std::string& env, const std::string& name, const std::string& op) {
    pb::CreateStackJobRequest req;
    req.mutable_key()->set_org("acme");
    req.mutable_key()->set_env(env);
    req.mutable_key()->set_kind("KubernetesNamespace");
    req.mutable_key()->set_name(name);
    req.set_operation(op);
    pb::StackJob job;
    grpc::Status s = jobs_->CreateStackJob(DaemonProcess::Context().get(), req, &job);
    EXPECT_TRUE(s.ok()) << s.error_message();
    for (int i = 0; i < 600; ++i) {
      pb::GetStackJobRequest get;
      get.set_id(job.id());
      EXPECT_TRUE(jobs_->GetStackJob(DaemonProcess::Context().get(), get, &job).ok());
      if (job.state() != "queued" && job.state() != "running" && job.state() != "awaiting_approval") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return job;
  }

  std::string CreateToken(const std::string& pool, std::string* id = nullptr) {
    pb::CreateRunnerPoolRequest create;
    create.set_name(pool);
    pb::RunnerPool created;
    pools_->CreateRunnerPool(DaemonProcess::Context().get(), create, &created);  // may exist already
    pb::CreatePoolTokenRequest req;
    req.set_pool(pool);
    pb::CreatePoolTokenResponse resp;
    grpc::Status s = pools_->CreatePoolToken(DaemonProcess::Context().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (id != nullptr) *id = resp.token().id();
    return resp.secret();
  }

  std::string TokenFile(const std::string& secret) {
    std::string path = dir_.path() + "/token-" + std::to_string(++files_);
    std::ofstream(path) << secret << "\n";
    return path;
  }

  std::vector<pb::Runner> Runners(const std::string& pool = "") {
    pb::ListRunnersRequest req;
    req.set_pool(pool);
    pb::ListRunnersResponse resp;
    grpc::Status s = pools_->ListRunners(DaemonProcess::Context().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {resp.runners().begin(), resp.runners().end()};
  }

  // Waits until the named runner's connected state is `connected`.
  bool WaitConnected(const std::string& name, bool connected) {
    for (int i = 0; i < 300; ++i) {
      for (const auto& r : Runners()) {
        if (r.name() == name && r.connected() == connected) return true;
      }
      if (!connected && Runners().empty()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  std::vector<std::string> RunnerArgs(const std::string& token_file, const std::string& name) {
    return {"--server", daemon_.address(), "--token-file", token_file, "--name", name,
            "--engine", std::string("tofu=") + PLINTH_BIN_DIR + "/plinth-sim-tofu", "--work-dir", dir_.path() + "/w-" + name};
  }

  TempDir dir_;
  std::string config_;
  int files_ = 0;
  DaemonProcess daemon_;
  std::unique_ptr<pb::RunnerPoolService::Stub> pools_;
  std::unique_ptr<pb::StackJobService::Stub> jobs_;
  std::unique_ptr<pb::CloudResourceService::Stub> resources_;
};

TEST_F(RunnerTest, ARunnerRegistersHeartbeatsAndIsListedUntilItStops) {
  std::string secret = CreateToken("edge");
  RunnerProcess runner(dir_.path(), RunnerArgs(TokenFile(secret), "rack4-a"));
  ASSERT_TRUE(WaitConnected("rack4-a", true)) << runner.Log() << daemon_.Stderr();
  auto listed = Runners("edge");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].pool(), "edge");
  EXPECT_EQ(listed[0].max_jobs(), 4);
  EXPECT_THAT(listed[0].engines(), ::testing::ElementsAre("tofu"));
  EXPECT_FALSE(listed[0].version().empty());
  EXPECT_TRUE(Runners("local").empty());
  // The CLI shows it.
  CommandResult cli = daemon_.Cli({"runner", "list"});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_THAT(cli.out, HasSubstr("rack4-a"));
  EXPECT_THAT(cli.out, HasSubstr("connected"));
  // A clean stop closes the stream; the runner stays listed, gone.
  runner.Signal(SIGTERM);
  EXPECT_EQ(runner.WaitExit(), 0) << runner.Log();
  EXPECT_TRUE(WaitConnected("rack4-a", false));
  // The secret is nowhere in the data dir.
  CommandResult grep = RunCommand({"grep", "-r", "-l", secret.substr(secret.rfind('_') + 1), daemon_.data_dir()});
  EXPECT_NE(grep.exit_code, 0) << grep.out;
}

TEST_F(RunnerTest, WrongRevokedOrOtherPoolTokensAreRefusedAndTheRunnerExits) {
  RunnerProcess wrong(dir_.path(), RunnerArgs(TokenFile("plrt_rtk-nothing_0123456789abcdef"), "wrong"));
  EXPECT_EQ(wrong.WaitExit(), 3) << wrong.Log();
  EXPECT_THAT(wrong.Log(), HasSubstr("not a valid pool token"));

  std::string edge = CreateToken("edge");
  std::vector<std::string> args = RunnerArgs(TokenFile(edge), "elsewhere");
  args.insert(args.end(), {"--pool", "core"});
  RunnerProcess other_pool(dir_.path(), args);
  EXPECT_EQ(other_pool.WaitExit(), 3) << other_pool.Log();
  EXPECT_THAT(other_pool.Log(), HasSubstr("this token serves pool edge"));

  std::string id;
  std::string secret = CreateToken("edge", &id);
  RunnerProcess runner(dir_.path(), RunnerArgs(TokenFile(secret), "soon-revoked"));
  ASSERT_TRUE(WaitConnected("soon-revoked", true)) << runner.Log();
  CommandResult revoke = daemon_.Cli({"runner-pool", "token", "revoke", id});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.err;
  // Disconnected at once, and refused when it tries again.
  EXPECT_EQ(runner.WaitExit(), 3) << runner.Log();
  EXPECT_TRUE(WaitConnected("soon-revoked", false));
}

TEST_F(RunnerTest, MalformedStreamsAreRefusedWithTheFieldNamed) {
  auto stub = pb::RunnerService::NewStub(daemon_.Channel());
  auto refused = [&](const pb::RunnerMessage& first) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto stream = stub->Connect(&ctx);
    stream->Write(first);
    pb::ControlMessage m;
    while (stream->Read(&m)) {
    }
    return stream->Finish();
  };
  pb::RunnerMessage heartbeat;
  heartbeat.mutable_heartbeat();
  grpc::Status s = refused(heartbeat);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("first message on the stream must be hello"));

  std::string secret = CreateToken("edge");
  pb::RunnerMessage hello;
  hello.mutable_hello()->set_token(secret);
  hello.mutable_hello()->set_name("bad-engines");
  hello.mutable_hello()->set_max_jobs(2);
  hello.mutable_hello()->add_engines("terraform");
  hello.mutable_hello()->add_engines("ansible");
  s = refused(hello);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("hello.engines[1]"));
  hello.mutable_hello()->clear_engines();
  hello.mutable_hello()->set_max_jobs(0);
  s = refused(hello);
  EXPECT_THAT(s.error_message(), HasSubstr("hello.max_jobs"));
  hello.mutable_hello()->set_max_jobs(1);
  hello.mutable_hello()->set_name("no spaces\nor newlines");
  s = refused(hello);
  EXPECT_THAT(s.error_message(), HasSubstr("hello.name"));
  // None of them registered.
  EXPECT_TRUE(Runners().empty());
}

TEST_F(RunnerTest, PoolsBindingsAndTokensFromTheCli) {
  CommandResult create = daemon_.Cli({"runner-pool", "create", "edge", "--description", "rack 4"});
  ASSERT_EQ(create.exit_code, 0) << create.err;
  CommandResult bad = daemon_.Cli({"runner-pool", "create", "Edge Pool"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.err, HasSubstr("name:"));
  CommandResult token = daemon_.Cli({"runner-pool", "token", "create", "edge"});
  ASSERT_EQ(token.exit_code, 0) << token.err;
  EXPECT_THAT(token.out, ::testing::StartsWith("plrt_"));  // the secret alone on stdout
  EXPECT_THAT(token.err, HasSubstr("shown this once"));
  CommandResult bind = daemon_.Cli({"runner-pool", "bind", "edge", "--org", "acme", "--env", "prod", "--selector", "tier=db"});
  ASSERT_EQ(bind.exit_code, 0) << bind.err;
  CommandResult no_env = daemon_.Cli({"runner-pool", "bind", "edge", "--org", "acme", "--selector", "tier=db"});
  EXPECT_NE(no_env.exit_code, 0);
  EXPECT_THAT(no_env.err, HasSubstr("label_selector"));
  CommandResult list = daemon_.Cli({"runner-pool", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("acme/prod (tier=db)"));
  EXPECT_THAT(list.out, HasSubstr("local"));
  CommandResult busy = daemon_.Cli({"runner-pool", "delete", "edge"});
  EXPECT_NE(busy.exit_code, 0);
  EXPECT_THAT(busy.err, HasSubstr("unbind"));
}

// A job of a bound env runs on a runner of the pool, its state comes back to
// plinthd's data dir, and nothing of it stays on the runner; an unbound env
// runs locally.
TEST_F(RunnerTest, AJobOfABoundScopeRunsOnARunnerOfItsPool) {
  std::string secret = CreateToken("edge");
  CommandResult bind = daemon_.Cli({"runner-pool", "bind", "edge", "--org", "acme", "--env", "prod"});
  ASSERT_EQ(bind.exit_code, 0) << bind.err;
  ApplyNamespace("prod", "remote-ns");
  ApplyNamespace("dev", "local-ns");
  // No runner yet: the job waits and says why; it runs once one connects.
  pb::CreateStackJobRequest early;
  early.mutable_key()->set_org("acme");
  early.mutable_key()->set_env("prod");
  early.mutable_key()->set_kind("KubernetesNamespace");
  early.mutable_key()->set_name("remote-ns");
  early.set_operation("update");
  pb::StackJob waiting;
  ASSERT_TRUE(jobs_->CreateStackJob(DaemonProcess::Context().get(), early, &waiting).ok());
  std::string logs;
  for (int i = 0; i < 100 && logs.find("waiting for a runner") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    logs = daemon_.Cli({"job", "logs", waiting.id()}).out;
  }
  EXPECT_THAT(logs, HasSubstr("waiting for a runner: no runner of pool edge is connected"));
  const std::string work_dir = dir_.path() + "/w-rack-a";
  RunnerProcess runner(dir_.path(), RunnerArgs(TokenFile(secret), "rack-a"));
  pb::StackJob first;
  for (int i = 0; i < 600; ++i) {
    pb::GetStackJobRequest get;
    get.set_id(waiting.id());
    ASSERT_TRUE(jobs_->GetStackJob(DaemonProcess::Context().get(), get, &first).ok());
    if (first.state() == "succeeded" || first.state() == "failed") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(first.state(), "succeeded") << first.error() << runner.Log() << daemon_.Stderr();
  logs = daemon_.Cli({"job", "logs", waiting.id()}).out;
  EXPECT_THAT(logs, HasSubstr("runner: rack-a of pool edge"));
  EXPECT_THAT(logs, HasSubstr("Creation complete"));
  EXPECT_THAT(runner.Log(), HasSubstr("finished " + waiting.id() + ": succeeded"));
  bool applied = false;
  for (const auto& step : first.steps()) applied |= step.name() == "apply" && step.exit_code() == 0;
  EXPECT_TRUE(applied) << first.DebugString();
  // The state is plinthd's (its http backend, a version per write); the
  // runner kept nothing of the job.
  CommandResult state = daemon_.Cli({"state", "get", "acme/prod/KubernetesNamespace/remote-ns"});
  ASSERT_EQ(state.exit_code, 0) << state.err;
  EXPECT_THAT(state.out, HasSubstr("plinth_sim_resource"));
  EXPECT_THAT(state.err, HasSubstr("terraform state version 1"));
  EXPECT_THAT(logs, HasSubstr("state: plinthd's http backend"));
  EXPECT_THAT(logs, HasSubstr("password=[REDACTED]"));
  EXPECT_TRUE(std::filesystem::is_empty(work_dir + "/jobs"));
  EXPECT_TRUE(std::filesystem::is_empty(work_dir + "/state"));
  // Its state travelled back: the next update has nothing to apply.
  pb::StackJob again = RunJob("prod", "remote-ns", "update");
  EXPECT_EQ(again.state(), "succeeded") << again.error();
  for (const auto& step : again.steps()) EXPECT_NE(step.name(), "apply");
  // An env bound to nothing runs here.
  pb::StackJob local = RunJob("dev", "local-ns", "update");
  EXPECT_EQ(local.state(), "succeeded") << local.error();
  EXPECT_THAT(daemon_.Cli({"job", "logs", local.id()}).out, ::testing::Not(HasSubstr("runner:")));
}

// A runner killed mid-job: the job ends interrupted (it runs again from a
// fresh plan), and its lease does not outlive the lease time.
TEST_F(RunnerTest, ARunnerKilledMidJobInterruptsItsJob) {
  std::string secret = CreateToken("edge");
  ASSERT_EQ(daemon_.Cli({"runner-pool", "bind", "edge", "--org", "acme", "--env", "prod"}).exit_code, 0);
  pb::ApplyCloudResourcesRequest req;
  req.add_sources()->set_content(
      "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata: {name: slow, annotations: "
      "{sim.plinth.dev/sleep-seconds: '30'}}\nspec: {name: slow}\n");
  req.set_org("acme");
  req.set_env("prod");
  pb::ApplyCloudResourcesResponse resp;
  ASSERT_TRUE(resources_->ApplyCloudResources(DaemonProcess::Context().get(), req, &resp).ok());
  RunnerProcess runner(dir_.path(), RunnerArgs(TokenFile(secret), "doomed"));
  ASSERT_TRUE(WaitConnected("doomed", true)) << runner.Log();
  auto start = std::chrono::steady_clock::now();
  pb::CreateStackJobRequest create;
  create.mutable_key()->set_org("acme");
  create.mutable_key()->set_env("prod");
  create.mutable_key()->set_kind("KubernetesNamespace");
  create.mutable_key()->set_name("slow");
  create.set_operation("update");
  pb::StackJob job;
  ASSERT_TRUE(jobs_->CreateStackJob(DaemonProcess::Context().get(), create, &job).ok());
  for (int i = 0; i < 200 && runner.Log().find("running " + job.id()) == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // its plan step has started
  runner.Signal(SIGKILL);
  pb::StackJob ended;
  for (int i = 0; i < 400; ++i) {
    pb::GetStackJobRequest get;
    get.set_id(job.id());
    ASSERT_TRUE(jobs_->GetStackJob(DaemonProcess::Context().get(), get, &ended).ok());
    if (ended.state() != "running" && ended.state() != "queued") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(ended.state(), "interrupted") << ended.error();
  EXPECT_THAT(ended.error(), HasSubstr("fresh plan"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
}

// A runner-held connection: plinthd stores its name, provider and
// non-secret fields; the secret comes from the runner's runner.yaml, reaches
// the engine there, and appears nowhere on plinthd's side.
TEST_F(RunnerTest, ARunnerHeldConnectionsSecretNeverReachesPlinthd) {
  const std::string canary = "canary-5e1f0c9a7d3b42e8";
  auto connections = pb::ConnectionService::NewStub(daemon_.Channel());
  pb::CreateConnectionRequest create;
  create.set_org("acme");
  create.set_name("aws-prod");
  create.set_provider("aws");
  create.set_runner_held(true);
  (*create.mutable_fields())["access_key_id"] = "AKIAEXAMPLE";
  (*create.mutable_fields())["region"] = "eu-west-1";
  (*create.mutable_secret_fields())["secret_access_key"] = "no";
  pb::Connection made;
  grpc::Status s = connections->CreateConnection(DaemonProcess::Context().get(), create, &made);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("secret_fields.secret_access_key: a runner-held connection"));
  create.clear_secret_fields();
  s = connections->CreateConnection(DaemonProcess::Context().get(), create, &made);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(made.runner_held());
  pb::SetDefaultConnectionRequest def;
  def.set_org("acme");
  def.set_provider("aws");
  def.set_name("aws-prod");
  pb::SetDefaultConnectionResponse set;
  ASSERT_TRUE(connections->SetDefaultConnection(DaemonProcess::Context().get(), def, &set).ok());
  // Its secrets cannot be given to plinthd later either.
  pb::UpdateConnectionRequest update;
  update.set_org("acme");
  update.set_name("aws-prod");
  (*update.mutable_secret_fields())["secret_access_key"] = canary;
  s = connections->UpdateConnection(DaemonProcess::Context().get(), update, &made);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("runner-held"));
  CommandResult shown = daemon_.Cli({"connection", "get", "acme/aws-prod"});
  EXPECT_THAT(shown.out, HasSubstr("held by the runners"));

  std::string secret = CreateToken("edge");
  ASSERT_EQ(daemon_.Cli({"runner-pool", "bind", "edge", "--org", "acme", "--env", "prod"}).exit_code, 0);
  const std::string key_file = dir_.path() + "/aws-prod.key";
  std::ofstream(key_file) << canary << "\n";
  const std::string runner_yaml = dir_.path() + "/runner.yaml";
  std::ofstream(runner_yaml) << "server: " << daemon_.address() << "\ntoken_file: " << TokenFile(secret) << "\n"
                             << "engines: {tofu: " << PLINTH_BIN_DIR << "/plinth-sim-tofu}\n"
                             << "connections:\n  - name: acme/aws-prod\n    provider: aws\n"
                             << "    secrets:\n      secret_access_key: {file: " << key_file << "}\n";
  // A runner of the pool without the connection is never offered the job.
  RunnerProcess plain(dir_.path(), RunnerArgs(TokenFile(secret), "plain"));
  ASSERT_TRUE(WaitConnected("plain", true)) << plain.Log();
  Apply("prod", "apiVersion: aws.planton.dev/v1\nkind: AwsS3Bucket\nmetadata:\n  name: logs\n  annotations:\n"
                "    sim.plinth.dev/print-env: AWS_SECRET_ACCESS_KEY\nspec: {region: us-east-1}\n");
  pb::StackJob job = StartJob("prod", "AwsS3Bucket", "logs");
  std::string logs;
  for (int i = 0; i < 100 && logs.find("holds connection") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    logs = daemon_.Cli({"job", "logs", job.id()}).out;
  }
  EXPECT_THAT(logs, HasSubstr("no connected runner of pool edge with tofu holds connection acme/aws-prod"));
  RunnerProcess holder(dir_.path(), {"--config", runner_yaml, "--name", "holder", "--work-dir", dir_.path() + "/w-holder"});
  pb::StackJob done = WaitJob(job.id());
  ASSERT_EQ(done.state(), "succeeded") << done.error() << holder.Log() << daemon_.Stderr();
  EXPECT_EQ(done.runner(), "holder");
  EXPECT_EQ(done.runner_pool(), "edge");
  logs = daemon_.Cli({"job", "logs", job.id()}).out;
  // The engine got it (the simulated engine printed it), and it was
  // redacted on the runner before the line left.
  EXPECT_THAT(logs, HasSubstr("debug: credential is "));
  EXPECT_THAT(logs, ::testing::Not(HasSubstr("(unset)")));
  EXPECT_THAT(logs, ::testing::Not(HasSubstr(canary)));
  EXPECT_THAT(plain.Log(), ::testing::Not(HasSubstr(job.id())));
  // Nowhere on plinthd's side: data dir (database, WAL, state) and its log.
  CommandResult grep = RunCommand({"grep", "-r", "-l", "-a", canary, daemon_.data_dir()});
  EXPECT_NE(grep.exit_code, 0) << grep.out;
  EXPECT_THAT(daemon_.Stderr(), ::testing::Not(HasSubstr(canary)));
  // An env bound to no pool cannot use it: the job says what to do.
  Apply("dev", "apiVersion: aws.planton.dev/v1\nkind: AwsS3Bucket\nmetadata: {name: logs}\nspec: {region: us-east-1}\n");
  pb::StackJob local = WaitJob(StartJob("dev", "AwsS3Bucket", "logs").id());
  EXPECT_EQ(local.state(), "failed");
  EXPECT_THAT(local.error(), HasSubstr("connection acme/aws-prod is runner-held"));
  EXPECT_THAT(local.error(), HasSubstr("plinth runner-pool bind"));
  // A runner.yaml naming an unreadable secret does not start.
  const std::string bad_yaml = dir_.path() + "/bad-runner.yaml";
  std::ofstream(bad_yaml) << "server: " << daemon_.address() << "\ntoken_file: " << TokenFile(secret) << "\n"
                          << "connections:\n  - name: acme/aws-prod\n    provider: aws\n"
                          << "    secrets:\n      secret_access_key: {file: /nonexistent/key}\n";
  RunnerProcess bad(dir_.path(), {"--config", bad_yaml});
  EXPECT_EQ(bad.WaitExit(), 2);
  EXPECT_THAT(bad.Log(), HasSubstr("connections[0].secrets.secret_access_key: cannot read /nonexistent/key"));
}

// plinthd stops (cleanly, then by a crash) while runners hold jobs: the
// runners go on, reconnect to the next plinthd, and their jobs end
// succeeded with their whole logs; nothing runs twice.
TEST_F(RunnerTest, JobsOnRunnersOutliveAPlinthdRestart) {
  std::string secret = CreateToken("edge");
  ASSERT_EQ(daemon_.Cli({"runner-pool", "bind", "edge", "--org", "acme", "--env", "prod"}).exit_code, 0);
  const std::string address = daemon_.address(), http_address = daemon_.http_address();
  RunnerProcess a(dir_.path(), RunnerArgs(TokenFile(secret), "ra"));
  RunnerProcess b(dir_.path(), RunnerArgs(TokenFile(secret), "rb"));
  ASSERT_TRUE(WaitConnected("ra", true) && WaitConnected("rb", true)) << a.Log() << b.Log();
  for (int round = 0; round < 2; ++round) {
    const bool crash = round == 1;
    std::vector<std::string> ids;
    for (int i = 0; i < 3; ++i) {
      std::string name = "held-" + std::to_string(round) + "-" + std::to_string(i);
      Apply("prod", "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata: {name: " + name +
                        ", annotations: {sim.plinth.dev/sleep-seconds: '2'}}\nspec: {name: " + name + "}\n");
      ids.push_back(StartJob("prod", "KubernetesNamespace", name).id());
    }
    for (const auto& id : ids) {
      for (int i = 0; i < 200 && (a.Log() + b.Log()).find("running " + id) == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    if (crash) {
      daemon_.Kill();
    } else {
      EXPECT_EQ(daemon_.Stop(), 0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(800));  // the runners go on alone
    // The same addresses, as a real plinthd keeps them (the engines reach
    // the state backend on the HTTP one).
    ASSERT_TRUE(daemon_.Start({"--config", config_, "--listen", address, "--http-listen", http_address}).ok())
        << daemon_.Stderr();
    Connect();
    for (const auto& id : ids) {
      pb::StackJob job = WaitJob(id);
      EXPECT_EQ(job.state(), "succeeded") << (crash ? "crash: " : "stop: ") << job.error() << "\n" << a.Log() << b.Log()
                                          << daemon_.Stderr();
      int applies = 0;
      for (const auto& step : job.steps()) applies += step.name() == "apply" ? 1 : 0;
      EXPECT_EQ(applies, 1) << job.DebugString();
      std::string logs = daemon_.Cli({"job", "logs", id}).out;
      EXPECT_THAT(logs, HasSubstr("waiting for runner"));
      EXPECT_THAT(logs, HasSubstr("Apply complete"));
    }
  }
}

// A runner stopped (SIGSTOP) past its lease: the job ends interrupted; once
// it runs again (SIGCONT) its late reports are refused and it stops the
// job's processes.
TEST_F(RunnerTest, ARunnerFrozenPastItsLeaseIsFencedOff) {
  std::string secret = CreateToken("edge");
  ASSERT_EQ(daemon_.Cli({"runner-pool", "bind", "edge", "--org", "acme", "--env", "prod"}).exit_code, 0);
  Apply("prod", "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata: {name: frozen, "
                "annotations: {sim.plinth.dev/sleep-seconds: '6'}}\nspec: {name: frozen}\n");
  RunnerProcess runner(dir_.path(), RunnerArgs(TokenFile(secret), "sleepy"));
  ASSERT_TRUE(WaitConnected("sleepy", true)) << runner.Log();
  pb::StackJob job = StartJob("prod", "KubernetesNamespace", "frozen");
  for (int i = 0; i < 200 && ProcessesOfJob(job.id()).empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_FALSE(ProcessesOfJob(job.id()).empty()) << runner.Log();
  runner.Signal(SIGSTOP);
  pb::StackJob ended = WaitJob(job.id(), std::chrono::seconds(20));
  EXPECT_EQ(ended.state(), "interrupted") << ended.error();
  EXPECT_THAT(ended.error(), HasSubstr("lease expired"));
  const std::string log_before = daemon_.Cli({"job", "logs", job.id()}).out;
  runner.Signal(SIGCONT);
  // It hears that the lease is gone and stops the job's processes.
  bool stopped = false;
  for (int i = 0; i < 200 && !stopped; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stopped = runner.Log().find("stopping " + job.id() + ": lease lost") != std::string::npos &&
              ProcessesOfJob(job.id()).empty();
  }
  EXPECT_TRUE(stopped) << runner.Log();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  // Its late reports were refused: the job is as it ended.
  pb::StackJob after = GetJob(job.id());
  EXPECT_EQ(after.state(), "interrupted");
  EXPECT_EQ(daemon_.Cli({"job", "logs", job.id()}).out, log_before);
  EXPECT_THAT(daemon_.Stderr(), HasSubstr("does not hold: refused"));
  for (const auto& step : after.steps()) EXPECT_NE(step.name(), "apply");
  // The interrupted job's engine held the state lock when it was stopped:
  // the next job is refused it (409), naming the holder, until someone
  // unlocks it; then the runner takes the work again.
  const std::string ref = "acme/prod/KubernetesNamespace/frozen";
  pb::StackJob refused = WaitJob(StartJob("prod", "KubernetesNamespace", "frozen").id());
  EXPECT_EQ(refused.state(), "failed");
  EXPECT_THAT(refused.error(), HasSubstr("Error acquiring the state lock"));
  EXPECT_THAT(refused.error(), HasSubstr("returned 409"));
  EXPECT_THAT(refused.error(), HasSubstr("plinth-sim-tofu@"));
  CommandResult listed = daemon_.Cli({"state", "list", "acme"});
  EXPECT_THAT(listed.out, HasSubstr("OperationTypePlan"));
  CommandResult wrong = daemon_.Cli({"state", "unlock", ref, "--lock-id", "not-it"});
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_THAT(wrong.err, HasSubstr("lock_id"));
  CommandResult unlocked = daemon_.Cli({"state", "unlock", ref});
  ASSERT_EQ(unlocked.exit_code, 0) << unlocked.err;
  EXPECT_THAT(unlocked.out, HasSubstr("removed lock"));
  EXPECT_NE(daemon_.Cli({"state", "unlock", ref}).exit_code, 0);  // not locked any more
  pb::StackJob next = WaitJob(StartJob("prod", "KubernetesNamespace", "frozen").id());
  EXPECT_EQ(next.state(), "succeeded") << next.error() << runner.Log();
  CommandResult versions = daemon_.Cli({"state", "versions", ref});
  EXPECT_THAT(versions.out, HasSubstr(next.id()));
}

// A Pulumi stack's checkpoint lives in plinthd, not on the runner: each
// job's runner gets it before its steps and sends it back after each, so a
// second runner (the first one gone, its work dir wiped) sees the stack as
// the first left it.
TEST_F(RunnerTest, PulumiCheckpointsTravelWithTheJobNotTheRunner) {
  std::string secret = CreateToken("edge");
  ASSERT_EQ(daemon_.Cli({"runner-pool", "bind", "edge", "--org", "acme", "--env", "prod"}).exit_code, 0);
  Apply("prod", "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesSecret\nmetadata: {name: creds}\n"
                "spec: {name: creds, opaque: {data: {a: b}}}\n");
  auto args = [&](const std::string& name) {
    std::vector<std::string> a = RunnerArgs(TokenFile(secret), name);
    a.insert(a.end(), {"--engine", std::string("pulumi=") + PLINTH_BIN_DIR + "/plinth-sim-pulumi"});
    return a;
  };
  const std::string ref = "acme/prod/KubernetesSecret/creds";
  {
    RunnerProcess first(dir_.path(), args("first"));
    ASSERT_TRUE(WaitConnected("first", true)) << first.Log();
    pb::StackJob created = WaitJob(StartJob("prod", "KubernetesSecret", "creds").id());
    ASSERT_EQ(created.state(), "succeeded") << created.error() << first.Log();
    EXPECT_EQ(created.engine(), "pulumi");
    EXPECT_EQ(created.runner(), "first");
    EXPECT_EQ(created.summary().add(), 1);
    CommandResult listed = daemon_.Cli({"state", "list", "acme"});
    EXPECT_THAT(listed.out, HasSubstr("pulumi"));
    CommandResult got = daemon_.Cli({"state", "get", ref});
    ASSERT_EQ(got.exit_code, 0) << got.err;
    EXPECT_THAT(got.err, HasSubstr("pulumi state version"));
    EXPECT_THAT(daemon_.Cli({"state", "versions", ref}).out, HasSubstr(created.id()));
  }
  std::filesystem::remove_all(dir_.path() + "/w-first");
  RunnerProcess second(dir_.path(), args("second"));
  ASSERT_TRUE(WaitConnected("second", true)) << second.Log();
  pb::StackJob again = WaitJob(StartJob("prod", "KubernetesSecret", "creds").id());
  ASSERT_EQ(again.state(), "succeeded") << again.error() << second.Log();
  EXPECT_EQ(again.runner(), "second");
  EXPECT_EQ(again.summary().add(), 0);  // the stack as the first runner left it
  EXPECT_EQ(again.summary().change(), 0);
  pb::StackJob destroyed = WaitJob(StartJob("prod", "KubernetesSecret", "creds", "destroy").id());
  ASSERT_EQ(destroyed.state(), "succeeded") << destroyed.error() << second.Log();
  EXPECT_EQ(destroyed.summary().remove(), 1);  // there was a stack to destroy
}

// The state backend answers only a running job's token for its resource.
TEST_F(RunnerTest, TheStateBackendRefusesRequestsWithoutARunningJobsToken) {
  Apply("prod", "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata: {name: guarded}\nspec: {name: guarded}\n");
  pb::GetCloudResourceRequest get;
  get.mutable_key()->set_org("acme");
  get.mutable_key()->set_env("prod");
  get.mutable_key()->set_kind("KubernetesNamespace");
  get.mutable_key()->set_name("guarded");
  pb::CloudResource resource;
  ASSERT_TRUE(resources_->GetCloudResource(DaemonProcess::Context().get(), get, &resource).ok());
  const std::string address = daemon_.http_address();
  httplib::Client http(address.substr(0, address.rfind(':')), std::stoi(address.substr(address.rfind(':') + 1)));
  const std::string path = "/v1/state/" + resource.id();
  auto fetch = [&](const std::string& password) {
    httplib::Headers headers;
    if (!password.empty()) headers.emplace(httplib::make_basic_authentication_header("plinth-job", password));
    auto r = http.Get(path, headers);
    return r ? r->status : -1;
  };
  EXPECT_EQ(fetch(""), 401);
  EXPECT_EQ(fetch("plst.job-x." + resource.id() + ".99999999999.0000"), 401);  // forged
  EXPECT_EQ(fetch(std::string(64, 'a')), 401);
  auto post = http.Post(path, "{}", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 401);
  auto root = http.Get("/v1/state/");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->status, 404);
  // Nothing was written.
  EXPECT_NE(daemon_.Cli({"state", "get", "acme/prod/KubernetesNamespace/guarded"}).exit_code, 0);
}

// Three runners in two pools, a 200-node project: every node runs on a
// runner of the pool bound to it, and the work spreads over the pool.
TEST_F(RunnerTest, ATwoHundredNodePipelineSpreadsOverThreeRunnersInTwoPools) {
  std::string edge = CreateToken("edge");
  std::string db = CreateToken("db");
  ASSERT_EQ(daemon_.Cli({"runner-pool", "bind", "edge", "--org", "acme", "--env", "dev"}).exit_code, 0);
  ASSERT_EQ(daemon_.Cli({"runner-pool", "bind", "db", "--org", "acme", "--env", "dev", "--selector", "tier=db"}).exit_code, 0);
  RunnerProcess e1(dir_.path(), RunnerArgs(TokenFile(edge), "edge-1"));
  RunnerProcess e2(dir_.path(), RunnerArgs(TokenFile(edge), "edge-2"));
  RunnerProcess d1(dir_.path(), RunnerArgs(TokenFile(db), "db-1"));
  ASSERT_TRUE(WaitConnected("edge-1", true) && WaitConnected("edge-2", true) && WaitConnected("db-1", true));
  const char* tmpl = R"({%- for i in range(100) %}
---
apiVersion: kubernetes.planton.dev/v1
kind: KubernetesNamespace
metadata: {name: ns-{{ i }}}
spec: {name: ns-{{ i }}}
---
apiVersion: kubernetes.planton.dev/v1
kind: KubernetesPostgres
metadata: {name: db-{{ i }}, labels: {tier: db}}
spec:
  namespace: {valueFrom: {kind: KubernetesNamespace, name: ns-{{ i }}, fieldPath: status.outputs.namespace}}
  container: {replicas: 1}
{%- endfor %}
)";
  auto projects = pb::InfraProjectService::NewStub(daemon_.Channel());
  auto pipelines = pb::InfraPipelineService::NewStub(daemon_.Channel());
  pb::CreateInfraProjectRequest req;
  req.set_org("acme");
  req.set_env("dev");
  req.set_name("wide");
  for (auto [path, content] : std::vector<std::pair<std::string, std::string>>{
           {"Chart.yaml", "apiVersion: infra-hub.planton.dev/v1\nkind: InfraChart\nmetadata: {name: wide, version: 1.0.0}\n"},
           {"values.yaml", "params: []\n"},
           {"templates/all.yaml", tmpl}}) {
    auto* f = req.mutable_inline_()->add_files();
    f->set_path(path);
    f->set_content(content);
  }
  pb::InfraProjectResponse created;
  grpc::Status s = projects->CreateInfraProject(DaemonProcess::Context().get(), req, &created);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(created.has_pipeline());
  pb::InfraPipeline p;
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(120); std::chrono::steady_clock::now() < until;) {
    pb::GetInfraPipelineRequest get;
    get.set_id(created.pipeline().id());
    ASSERT_TRUE(pipelines->GetInfraPipeline(DaemonProcess::Context().get(), get, &p).ok());
    if (p.state() == "succeeded" || p.state() == "failed" || p.state() == "cancelled") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (p.state() != "succeeded") {
    std::map<std::string, int> states;
    for (const auto& n : p.nodes()) ++states[n.state()];
    for (const auto& [st, count] : states) ADD_FAILURE() << st << ": " << count;
    for (const auto& n : p.nodes()) {
      if (n.state() == "running") ADD_FAILURE() << n.stack_job_id() << ": " << daemon_.Cli({"job", "logs", n.stack_job_id()}).out;
    }
    std::string log = d1.Log();
    ADD_FAILURE() << log.substr(log.size() > 3000 ? log.size() - 3000 : 0);
  }
  ASSERT_EQ(p.state(), "succeeded");
  ASSERT_EQ(p.nodes_size(), 200);
  std::map<std::string, int> by_runner;
  for (const auto& n : p.nodes()) {
    pb::StackJob job = GetJob(n.stack_job_id());
    ASSERT_EQ(job.state(), "succeeded");
    const bool is_db = job.kind() == "KubernetesPostgres";
    EXPECT_EQ(job.runner_pool(), is_db ? "db" : "edge") << job.kind() << "/" << job.name();
    ++by_runner[job.runner()];
  }
  EXPECT_EQ(by_runner["db-1"], 100);
  EXPECT_EQ(by_runner["edge-1"] + by_runner["edge-2"], 100);
  EXPECT_GT(by_runner["edge-1"], 10);
  EXPECT_GT(by_runner["edge-2"], 10);
}

}  // namespace
}  // namespace plinth::testing
