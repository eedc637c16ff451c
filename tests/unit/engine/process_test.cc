#include "plinth/engine/process.h"

#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "temp_dir.h"
#include "test_paths.h"

namespace plinth::engine {
namespace {

using ::testing::HasSubstr;

// Tests choose /bin/sh as the program; plinth itself never adds a shell.
ProcessSpec Sh(const std::string& script) {
  return ProcessSpec{{"/bin/sh", "-c", script}, {"PATH=/usr/bin:/bin", "CANARY=visible"}, "", absl::InfiniteDuration(),
                     absl::Seconds(30)};
}

struct Captured {
  std::vector<OutputLine> lines;
  std::function<void(const OutputLine&)> fn() {
    return [this](const OutputLine& l) { lines.push_back(l); };
  }
  std::string Text() const {
    std::string out;
    for (const auto& l : lines) out += (l.stream == OutputLine::Stream::kStdout ? "o:" : "e:") + l.text + "\n";
    return out;
  }
};

TEST(ProcessTest, CapturesLinesExitCodeAndEnvironment) {
  PosixProcessLauncher launcher;
  Captured c;
  auto r = launcher.Run(Sh("echo one; echo two >&2; printf 'no newline'; echo $CANARY-$HOME; exit 3"), c.fn(), nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_THAT(c.Text(), HasSubstr("o:one\n"));
  EXPECT_THAT(c.Text(), HasSubstr("e:two\n"));
  EXPECT_THAT(c.Text(), HasSubstr("o:no newlinevisible-\n"));  // HOME was not inherited
}

TEST(ProcessTest, WorkingDirectoryAndArgvWithoutAShell) {
  testing::TempDir dir;
  PosixProcessLauncher launcher;
  Captured c;
  ProcessSpec spec{{"pwd"}, {"PATH=/usr/bin:/bin"}, dir.path()};
  auto r = launcher.Run(spec, c.fn(), nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(c.lines.size(), 1u);
  EXPECT_EQ(c.lines[0].text, dir.path());
  // Metacharacters are arguments, not shell syntax.
  Captured e;
  auto echo = launcher.Run({{"echo", "$HOME; rm -rf /"}, {"PATH=/usr/bin:/bin"}}, e.fn(), nullptr);
  ASSERT_TRUE(echo.ok());
  EXPECT_EQ(e.lines[0].text, "$HOME; rm -rf /");
}

TEST(ProcessTest, MissingProgramAndCwdAreClearErrors) {
  PosixProcessLauncher launcher;
  auto missing = launcher.Run({{"plinth-no-such-engine"}, {"PATH=/usr/bin:/bin"}}, nullptr, nullptr);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("plinth-no-such-engine"));
  auto cwd = launcher.Run({{"/bin/true"}, {}, "/nonexistent/dir"}, nullptr, nullptr);
  EXPECT_EQ(cwd.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ProcessTest, LongLinesAreKeptWholeUpToSixteenMiB) {
  PosixProcessLauncher launcher;
  Captured c;
  // 5 MiB line, then a 17 MiB line that must arrive as a 16 MiB piece + the rest.
  auto r = launcher.Run(Sh("head -c 5242880 /dev/zero | tr '\\0' a; echo; head -c 17825792 /dev/zero | tr '\\0' b; echo; echo end"),
                        c.fn(), nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(c.lines.size(), 4u);
  EXPECT_EQ(c.lines[0].text.size(), 5242880u);
  EXPECT_FALSE(c.lines[0].continued);
  EXPECT_EQ(c.lines[1].text.size(), kMaxLineBytes);
  EXPECT_TRUE(c.lines[1].continued);
  EXPECT_EQ(c.lines[2].text.size(), 17825792u - kMaxLineBytes);
  EXPECT_EQ(c.lines[3].text, "end");
}

TEST(ProcessTest, CancelSendsSigintThenSigkill) {
  PosixProcessLauncher launcher;
  // Handles SIGINT gracefully.
  CancelToken cancel;
  Captured c;
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancel.Cancel();
  });
  auto r = launcher.Run(Sh("trap 'echo got-sigint; exit 130' INT; echo started; while true; do sleep 0.05; done"), c.fn(),
                        &cancel);
  t.join();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->cancelled);
  EXPECT_EQ(r->exit_code, 130);
  EXPECT_THAT(c.Text(), HasSubstr("got-sigint"));

  // Ignores SIGINT: killed after the grace period.
  CancelToken cancel2;
  ProcessSpec stubborn = Sh("trap '' INT; echo started; while true; do sleep 0.05; done");
  stubborn.kill_grace = absl::Milliseconds(300);
  std::thread t2([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancel2.Cancel();
  });
  auto r2 = launcher.Run(stubborn, nullptr, &cancel2);
  t2.join();
  ASSERT_TRUE(r2.ok());
  EXPECT_TRUE(r2->cancelled);
  EXPECT_EQ(r2->signal, SIGKILL);
  EXPECT_LT(r2->elapsed, absl::Seconds(5));
}

TEST(ProcessTest, TimeoutEndsTheStep) {
  PosixProcessLauncher launcher;
  ProcessSpec spec = Sh("sleep 30");
  spec.timeout = absl::Milliseconds(200);
  spec.kill_grace = absl::Milliseconds(200);
  auto r = launcher.Run(spec, nullptr, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->timed_out);
  EXPECT_LT(r->elapsed, absl::Seconds(5));
}

TEST(ProcessTest, NoOrphansOrZombiesAreLeftBehind) {
  PosixProcessLauncher launcher;
  Captured c;
  // The main process exits while a background child holds the pipes open.
  auto r = launcher.Run(Sh("sleep 30 & echo bg=$!; exit 0"), c.fn(), nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_LT(r->elapsed, absl::Seconds(10));
  ASSERT_FALSE(c.lines.empty());
  pid_t bg = std::stoi(c.lines[0].text.substr(3));
  // Killed and reaped: no such process any more (not even a zombie).
  EXPECT_EQ(::kill(bg, 0), -1);
  EXPECT_EQ(errno, ESRCH);
}

TEST(ProcessTest, CapturesLargeOutputCompletely) {
  PosixProcessLauncher launcher;
  size_t bytes = 0, lines = 0;
  auto r = launcher.Run(Sh("yes 0123456789012345678901234567890123456789012345678901234567890123456789 | head -c 50000000"),
                        [&](const OutputLine& l) {
                          bytes += l.text.size() + 1;
                          ++lines;
                        },
                        nullptr);
  ASSERT_TRUE(r.ok());
  // Every byte arrives; +1 because the last line (cut by head) has no newline.
  EXPECT_EQ(bytes, 50000000u + 1);
  EXPECT_GT(lines, 600000u);
}

// Under plinth-step the launcher behaves as it does directly: lines, exit
// codes, cancel, timeout, no orphans; and the step dir holds the output and
// the end while the step runs, and is gone when Run returns.
class SupervisedProcessTest : public ::testing::Test {
 protected:
  ProcessSpec Step(const std::string& script, const std::string& name = "step") {
    ProcessSpec spec = Sh(script);
    spec.step_dir = StepDir(dir_.path(), name);
    return spec;
  }
  testing::TempDir dir_;
  PosixProcessLauncher launcher_{std::string(PLINTH_BIN_DIR) + "/plinth-step"};
};

TEST_F(SupervisedProcessTest, LinesExitCodeAndSecretsRemovedAtTheEnd) {
  const std::string secret = dir_.path() + "/secret.tfvars";
  std::ofstream(secret) << "token";
  ProcessSpec spec = Step("echo one; echo two >&2; test -f " + secret + " && echo secret-there; ls " +
                          StepDir(dir_.path(), "step") + "; exit 3");
  spec.remove_on_exit = {secret};
  Captured c;
  pid_t started = 0;
  auto r = launcher_.Run(spec, c.fn(), nullptr, [&](pid_t pid) { started = pid; });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_GT(started, 0);
  EXPECT_THAT(c.Text(), HasSubstr("o:one\n"));
  EXPECT_THAT(c.Text(), HasSubstr("e:two\n"));
  EXPECT_THAT(c.Text(), HasSubstr("o:secret-there\n"));
  EXPECT_THAT(c.Text(), HasSubstr("o:lock\n"));  // the step dir exists while it runs
  EXPECT_FALSE(std::filesystem::exists(secret));
  // The step dir stays with the end recorded, for the caller to remove.
  std::vector<LeftStep> left = FindSteps(dir_.path());
  ASSERT_EQ(left.size(), 1u);
  EXPECT_TRUE(left[0].ended);
  EXPECT_FALSE(left[0].running);
}

TEST_F(SupervisedProcessTest, CancelPassesSigintThenKillsAfterTheGrace) {
  CancelToken cancel;
  Captured c;
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel.Cancel();
  });
  auto r = launcher_.Run(Step("trap 'echo got-sigint; exit 130' INT; echo started; while true; do sleep 0.05; done"),
                         c.fn(), &cancel);
  t.join();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->cancelled);
  EXPECT_EQ(r->exit_code, 130);
  EXPECT_THAT(c.Text(), HasSubstr("got-sigint"));

  CancelToken cancel2;
  ProcessSpec stubborn = Step("trap '' INT; echo started; while true; do sleep 0.05; done", "stubborn");
  stubborn.kill_grace = absl::Milliseconds(300);
  std::thread t2([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel2.Cancel();
  });
  auto r2 = launcher_.Run(stubborn, nullptr, &cancel2);
  t2.join();
  ASSERT_TRUE(r2.ok());
  EXPECT_TRUE(r2->cancelled);
  EXPECT_EQ(r2->signal, SIGKILL);
  EXPECT_LT(r2->elapsed, absl::Seconds(5));
}

TEST_F(SupervisedProcessTest, TimeoutAndNoOrphans) {
  ProcessSpec slow = Step("sleep 30");
  slow.timeout = absl::Milliseconds(200);
  slow.kill_grace = absl::Milliseconds(200);
  auto r = launcher_.Run(slow, nullptr, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->timed_out);
  EXPECT_LT(r->elapsed, absl::Seconds(5));

  Captured c;
  auto bg = launcher_.Run(Step("sleep 30 & echo bg=$!; exit 0", "bg"), c.fn(), nullptr);
  ASSERT_TRUE(bg.ok());
  EXPECT_EQ(bg->exit_code, 0);
  EXPECT_LT(bg->elapsed, absl::Seconds(10));
  ASSERT_FALSE(c.lines.empty());
  pid_t child = std::stoi(c.lines[0].text.substr(3));
  EXPECT_EQ(::kill(child, 0), -1);
}

TEST_F(SupervisedProcessTest, CapturesLargeOutputCompletely) {
  size_t bytes = 0;
  auto r = launcher_.Run(Step("yes 0123456789012345678901234567890123456789 | head -c 20000000"),
                         [&](const OutputLine& l) { bytes += l.text.size() + 1; }, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(bytes, 20000000u + 1);
}

// The children of this process named plinth-step (the supervisors).
int Supervisors() {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::stringstream read;  // not an istreambuf_iterator: it throws when the process ends mid-read
    read << stat.rdbuf();
    const std::string content = read.str();
    size_t close = content.rfind(')');
    if (close == std::string::npos || content.find("(plinth-step)") == std::string::npos) continue;
    std::istringstream rest(content.substr(close + 2));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == ::getpid() && state != "Z") ++n;
  }
  return n;
}

// Steps run at once through one supervisor, each with its own output and
// exit code, none waiting for another.
TEST_F(SupervisedProcessTest, ManyStepsAtOnceShareOneSupervisor) {
  constexpr int kSteps = 8;
  std::vector<std::thread> threads;
  std::vector<Captured> out(kSteps);
  std::vector<absl::StatusOr<ProcessResult>> results(kSteps, absl::UnknownError("not run"));
  absl::Time start = absl::Now();
  for (int i = 0; i < kSteps; ++i) {
    threads.emplace_back([&, i] {
      results[i] = launcher_.Run(Step(absl::StrCat("for n in 1 2 3; do echo step", i, "-$n; done; echo err", i,
                                                   " >&2; sleep 0.5; exit ", i),
                                      absl::StrCat("s", i)),
                                 out[i].fn(), nullptr);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));  // 8 x 0.5 s had they waited for each other
  for (int i = 0; i < kSteps; ++i) {
    ASSERT_TRUE(results[i].ok()) << results[i].status();
    EXPECT_EQ(results[i]->exit_code, i);
    EXPECT_EQ(out[i].Text(), absl::StrCat("o:step", i, "-1\no:step", i, "-2\no:step", i, "-3\ne:err", i, "\n"));
  }
  EXPECT_EQ(Supervisors(), 1);
}

// A supervisor killed mid-step: that step ends as killed (its engine with
// it), and the next step gets a new supervisor.
TEST_F(SupervisedProcessTest, AKilledSupervisorIsReplaced) {
  pid_t engine = 0;
  absl::StatusOr<ProcessResult> r = absl::UnknownError("not run");
  std::thread t([&] {
    r = launcher_.Run(Step("echo started; sleep 30", "long"), nullptr, nullptr, [&](pid_t pid) { engine = pid; });
  });
  std::string supervisor;
  for (int i = 0; i < 200 && supervisor.empty(); ++i) {
    std::ifstream lock(StepDir(dir_.path(), "long") + "/lock");
    lock >> supervisor;
    if (supervisor.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(supervisor.empty());
  ASSERT_EQ(::kill(std::stoi(supervisor), SIGKILL), 0);
  t.join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->signal, SIGKILL);
  EXPECT_EQ(r->exit_code, -1);
  ASSERT_GT(engine, 0);
  for (int i = 0; i < 200 && ::kill(engine, 0) == 0; ++i) {
    ::waitpid(engine, nullptr, WNOHANG);  // reparented here, as the subreaper
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(::kill(engine, 0), 0) << "the engine outlived its supervisor";
  Captured c;
  auto next = launcher_.Run(Step("echo again", "next"), c.fn(), nullptr);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->exit_code, 0);
  EXPECT_EQ(c.Text(), "o:again\n");
}

// A step whose plinthd is gone (here: started with its output to nowhere)
// is found running, followed past the lines already seen, and its end read.
TEST_F(SupervisedProcessTest, FollowStepReadsARunningStepToItsEnd) {
  const std::string step_dir = StepDir(dir_.path(), "apply");
  std::filesystem::create_directories(std::filesystem::path(step_dir).parent_path());
  std::string cmd = std::string(PLINTH_BIN_DIR) + "/plinth-step --dir " + step_dir +
                    " -- /bin/sh -c 'echo seen; echo err >&2; sleep 0.6; echo after-the-crash; exit 4' "
                    ">/dev/null 2>&1 &";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::vector<LeftStep> steps;
  for (int i = 0; i < 100; ++i) {
    steps = FindSteps(dir_.path());
    if (!steps.empty() && steps[0].running) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].name, "apply");
  EXPECT_TRUE(steps[0].running);
  EXPECT_FALSE(steps[0].ended);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // "seen" is written
  Captured c;
  auto r = FollowStep(step_dir, c.fn(), nullptr, /*skip_stdout=*/1, /*skip_stderr=*/0);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 4);
  EXPECT_THAT(c.Text(), HasSubstr("o:after-the-crash\n"));
  EXPECT_THAT(c.Text(), HasSubstr("e:err\n"));
  EXPECT_THAT(c.Text(), ::testing::Not(HasSubstr("seen")));  // already stored before the crash
  std::vector<LeftStep> left = FindSteps(dir_.path());
  ASSERT_EQ(left.size(), 1u);
  EXPECT_TRUE(left[0].ended);
}

TEST_F(SupervisedProcessTest, FollowStepWithoutARecordedEndIsAborted) {
  const std::string step_dir = StepDir(dir_.path(), "plan");
  std::filesystem::create_directories(step_dir);
  std::ofstream(step_dir + "/out") << "half a plan\n";
  Captured c;
  auto r = FollowStep(step_dir, c.fn(), nullptr);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(c.Text(), "o:half a plan\n");
}

}  // namespace
}  // namespace plinth::engine
