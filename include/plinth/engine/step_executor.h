// The one way both engine runners (Terraform/OpenTofu and Pulumi) run a step
// of a job: the command line logged redacted, the step's secret files
// present only while it runs (and removed when it ends even if plinthd is
// gone, under plinth-step), its output redacted and streamed to the job's
// listener or captured whole, the step recorded on the outcome, and one rule
// for turning its end into a status.
//
//   StepExecutor steps(launcher, {.engine = "tofu", .binary = spec.engine_binary, ...},
//                      redactor, cancel, listener, &outcome);
//   auto rc = steps.Run("plan", {"plan", "-json"}, [&](const std::string& line) { ... });
//   PLINTH_RETURN_IF_ERROR(steps.Expect(rc, "plan", {0, 2}));
//
// Not thread-safe: one job's steps run one after another.
#ifndef PLINTH_ENGINE_STEP_EXECUTOR_H_
#define PLINTH_ENGINE_STEP_EXECUTOR_H_

#include <functional>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "plinth/engine/stack_job.h"

namespace plinth::engine {

class StepExecutor {
 public:
  struct Options {
    std::string engine;  // named in messages and the logged command line: tofu, terraform, pulumi
    std::string binary;  // a path, or a name on the PATH of `env`
    std::vector<std::string> env;  // the complete child environment
    std::string workspace_dir;     // the steps' working directory
    absl::Duration timeout = absl::InfiniteDuration();
    absl::Duration kill_grace = absl::Seconds(30);
    // Written 0600 into the workspace for each step, removed when it ends.
    std::vector<std::pair<std::string, std::string>> secret_files;
  };
  StepExecutor(ProcessLauncher* launcher, Options options, const Redactor& redactor, CancelToken* cancel,
               JobListener* listener, JobOutcome* outcome);

  // Called with each complete stdout line that starts with '{' (already
  // redacted and logged).
  using JsonLine = std::function<void(const std::string& line)>;
  // Runs `binary args...` as step `name`. With `capture`, stdout is kept
  // there whole (and not logged); stderr is always logged. Returns the exit
  // code; CANCELLED, DEADLINE_EXCEEDED, or INTERNAL (killed by a signal,
  // cannot start) otherwise.
  absl::StatusOr<int> Run(const std::string& name, const std::vector<std::string>& args,
                          const JsonLine& on_json = nullptr, std::string* capture = nullptr);
  // OK when the step ran and exited with one of `ok`; else ABORTED naming
  // the step, its exit code and the last error diagnostic, or the step's
  // own error.
  absl::Status Expect(const absl::StatusOr<int>& rc, const std::string& name, std::initializer_list<int> ok) const;

 private:
  ProcessLauncher* const launcher_;
  const Options options_;
  const Redactor& redactor_;
  CancelToken* const cancel_;
  JobListener* const listener_;
  JobOutcome* const outcome_;
};

// Copies the module into the job's workspace (created), leaving out the
// names in `skip`; FAILED_PRECONDITION when the module directory is missing,
// INTERNAL when the copy fails.
absl::Status CopyModule(const JobSpec& spec, std::initializer_list<const char*> skip);

// The job's end from a failed preparation or step: the outcome's state
// (cancelled for CANCELLED, else failed) and error, said in the log.
JobOutcome& FailJob(JobOutcome& out, const absl::Status& status, JobListener* listener);

}  // namespace plinth::engine

#endif  // PLINTH_ENGINE_STEP_EXECUTOR_H_
