// Runner pools, tokens and the runner stream, with real plinth-runner
// processes on loopback against a real plinthd.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "daemon_process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plinth/v1/runner.grpc.pb.h"
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
    ASSERT_TRUE(daemon_.Start().ok()) << daemon_.Stderr();
    pools_ = pb::RunnerPoolService::NewStub(daemon_.Channel());
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
  int files_ = 0;
  DaemonProcess daemon_;
  std::unique_ptr<pb::RunnerPoolService::Stub> pools_;
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

}  // namespace
}  // namespace plinth::testing
