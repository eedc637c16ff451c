// Supervised child processes for engine steps: argv exec (never a shell), a
// new process group, a given environment and working directory, output read
// line by line, timeouts, and a graceful cancel (SIGINT to the group, SIGKILL
// after a grace period). Every child, and every process left in its group,
// is killed and reaped before Run returns.
//
// With a step supervisor (plinth-step, src/engine/step_supervisor_main.cc)
// and a spec with a step_dir, the engine runs under plinth-step instead (one
// long-lived plinth-step per launcher serves every step): it
// survives a crash of plinthd, its output is kept in the step dir as well,
// and its end is recorded there, so that a restarted plinthd can follow the
// step to its end (FindSteps, FollowStep) instead of killing it.
//
//   PosixProcessLauncher launcher;
//   CancelToken cancel;
//   auto result = launcher.Run(
//       {.argv = {"/usr/bin/tofu", "plan", "-json"}, .env = env, .cwd = workspace},
//       [&](const OutputLine& line) { Store(line); }, &cancel);
//
// Thread-safe: Run may be called from many threads at once; CancelToken::
// Cancel may be called from any thread.
#ifndef PLINTH_ENGINE_PROCESS_H_
#define PLINTH_ENGINE_PROCESS_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace plinth::engine {

inline constexpr size_t kMaxLineBytes = 16 << 20;

struct ProcessSpec {
  // argv[0] is a path, or a name looked up on the PATH of `env` (else the
  // daemon's PATH).
  std::vector<std::string> argv;
  // The complete environment, "NAME=value" each; nothing is inherited.
  std::vector<std::string> env;
  std::string cwd;
  absl::Duration timeout = absl::InfiniteDuration();
  // Between SIGINT and SIGKILL, for cancel and timeout.
  absl::Duration kill_grace = absl::Seconds(30);
  // Under a supervisor: the directory (created; its parent must be
  // writable) that keeps the step's output, lock and end. It is left in
  // place when Run returns (the caller removes the workspace once it has
  // stored the step's end), so that a crash in between loses nothing.
  // Empty: the process runs directly.
  std::string step_dir;
  // Files deleted when the process ends, even if plinthd is gone by then
  // (the step's secrets).
  std::vector<std::string> remove_on_exit;
};

struct OutputLine {
  enum class Stream { kStdout, kStderr };
  Stream stream;
  // Without the newline. A line longer than kMaxLineBytes arrives in pieces;
  // every piece but the last has `continued` set.
  std::string text;
  bool continued = false;
};

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;      // the signal that ended it, or 0
  bool timed_out = false;
  bool cancelled = false;
  absl::Duration elapsed;
};

// Cancels a running Run from another thread.
class CancelToken {
 public:
  void Cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }

 private:
  std::atomic<bool> cancelled_{false};
};

class ProcessLauncher {
 public:
  virtual ~ProcessLauncher() = default;
  // Runs the process to its end. `on_line` is called on the calling thread,
  // in arrival order. `on_start` (may be null) gets the pid, which is also the
  // process group id, as soon as the process runs. Returns NOT_FOUND when the
  // program does not exist, FAILED_PRECONDITION when it cannot be started
  // (permissions, missing cwd); a process that runs and fails is an OK
  // status with its exit code.
  virtual absl::StatusOr<ProcessResult> Run(const ProcessSpec& spec,
                                            const std::function<void(const OutputLine&)>& on_line,
                                            CancelToken* cancel,
                                            const std::function<void(pid_t)>& on_start = nullptr) = 0;
};

class PosixProcessLauncher : public ProcessLauncher {
 public:
  // Makes this process a child subreaper (prctl), so that processes that
  // outlive a step's main process are reparented here and can be reaped.
  // `supervisor`: the path of plinth-step; empty runs every process directly.
  // A step (a spec with a step_dir) then runs under one `plinth-step
  // --serve` this launcher starts on first use (and again if it dies); its
  // pid given to `on_start` is the engine's.
  explicit PosixProcessLauncher(std::string supervisor = "");
  // The supervisor is told it is no longer needed; it ends once the steps
  // it runs have ended.
  ~PosixProcessLauncher() override;
  absl::StatusOr<ProcessResult> Run(const ProcessSpec& spec,
                                    const std::function<void(const OutputLine&)>& on_line,
                                    CancelToken* cancel,
                                    const std::function<void(pid_t)>& on_start = nullptr) override;

 private:
  struct Shared;
  absl::Status StartSupervisor();
  absl::StatusOr<ProcessResult> RunSupervised(const ProcessSpec& spec, const std::string& program,
                                              const std::function<void(const OutputLine&)>& on_line,
                                              CancelToken* cancel, const std::function<void(pid_t)>& on_start);

  const std::string supervisor_;
  std::unique_ptr<Shared> shared_;
};

// plinth-step next to the running program ("" when there is none).
std::string FindStepSupervisor();

// A step directory a previous plinthd left under <workspace>/.plinth-steps/.
struct LeftStep {
  std::string dir;
  std::string name;  // the step: init, plan, apply ...
  bool running = false;  // its supervisor still holds the lock
  bool ended = false;    // its exit record is there
};
std::vector<LeftStep> FindSteps(const std::string& workspace_dir);

// Follows a step a previous plinthd started to its end: lines of its output
// files past the first `skip_stdout` / `skip_stderr` ones (those already
// seen) go to `on_line` as they are written; `cancel` sends the supervisor
// SIGINT (it passes it on, then kills after its grace period). Returns the
// step's end from its exit record (the step dir is left for the caller to
// remove once it has stored that end). ABORTED when
// the supervisor died without recording an end (the lines seen are still
// delivered).
absl::StatusOr<ProcessResult> FollowStep(const std::string& step_dir,
                                         const std::function<void(const OutputLine&)>& on_line,
                                         CancelToken* cancel, int64_t skip_stdout = 0, int64_t skip_stderr = 0);

// The directory of a step under a workspace.
std::string StepDir(const std::string& workspace_dir, const std::string& step);

// Finds `name` on `path_env` (a PATH value); "" when absent. A name with a
// '/' is returned as is.
std::string FindProgram(const std::string& name, const std::string& path_env);

}  // namespace plinth::engine

#endif  // PLINTH_ENGINE_PROCESS_H_
