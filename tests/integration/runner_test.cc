// Runner pools, tokens and the runner stream, with real plinth-runner
// processes on loopback against a real plinthd.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "daemon_process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plinth/v1/cloud_resource.grpc.pb.h"
#include "plinth/v1/runner.grpc.pb.h"
#include "plinth/v1/stack_job.grpc.pb.h"
#include "test_paths.h"

namespace plinth::testing {
namespace {

namespace pb = plinth::v1;
using ::testing::HasSubstr;

// A plinth-runner process, its output in a file.
class RunnerProcess {
 public:
  RunnerProcess(const std::string& dir, std::vector<std::string> args) : log_(dir + "/runner-" + std::to_string(++count_) + ".log") {
    std::vector<std::string> argv = {std::string(PLINTH_BIN_DIR) + "/plinth-runner"};
    argv.insert(argv.end(), args.begin(), args.end());
    pid_ = fork();
    if (pid_ == 0) {
      FILE* out = std::fopen(log_.c_str(), "w");
      if (out != nullptr) {
        dup2(fileno(out), 1);
        dup2(fileno(out), 2);
      }
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      execv(cargv[0], cargv.data());
      _exit(127);
    }
  }
  ~RunnerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // Waits up to `wait` for it to exit; its exit code, or -1 if it runs on.
  int WaitExit(std::chrono::milliseconds wait = std::chrono::seconds(10)) {
    for (auto until = std::chrono::steady_clock::now() + wait; std::chrono::steady_clock::now() < until;) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  void Signal(int sig) { kill(pid_, sig); }
  std::string Log() const {
    std::ifstream in(log_);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

 private:
  static inline int count_ = 0;
  std::string log_;
  pid_t pid_ = -1;
};

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = dir_.path() + "/plinthd.yaml";
    std::ofstream(config_) << "engines: {tofu: {binary: " << PLINTH_BIN_DIR << "/plinth-sim-tofu}}\n"
                           << "modules: {default: {engine: tofu, source: " << PLINTH_SOURCE_DIR << "/examples/modules/sim}}\n"
                           << "runners: {heartbeat_seconds: 1, lease_seconds: 3}\n";
    ASSERT_TRUE(daemon_.Start({"--config", config_}).ok()) << daemon_.Stderr();
    pools_ = pb::RunnerPoolService::NewStub(daemon_.Channel());
    jobs_ = pb::StackJobService::NewStub(daemon_.Channel());
    resources_ = pb::CloudResourceService::NewStub(daemon_.Channel());
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
  // The state is plinthd's; the runner kept nothing of the job.
  EXPECT_TRUE(std::filesystem::exists(daemon_.data_dir() + "/state/" + first.resource_id() + "/terraform.tfstate"));
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

}  // namespace
}  // namespace plinth::testing
