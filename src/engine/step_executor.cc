#include "plinth/engine/step_executor.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace plinth::engine {

namespace fs = std::filesystem;

StepExecutor::StepExecutor(ProcessLauncher* launcher, Options options, const Redactor& redactor, CancelToken* cancel,
                           JobListener* listener, JobOutcome* outcome)
    : launcher_(launcher), options_(std::move(options)), redactor_(redactor), cancel_(cancel), listener_(listener),
      outcome_(outcome) {}

absl::StatusOr<int> StepExecutor::Run(const std::string& name, const std::vector<std::string>& args,
                                      const JsonLine& on_json, std::string* capture) {
  ProcessSpec ps;
  ps.argv = {options_.binary};
  ps.argv.insert(ps.argv.end(), args.begin(), args.end());
  ps.env = options_.env;
  ps.cwd = options_.workspace_dir;
  ps.timeout = options_.timeout;
  ps.kill_grace = options_.kill_grace;
  // Under plinth-step the step outlives a crash of plinthd; its secrets are
  // removed when it ends, whoever is left to see it.
  ps.step_dir = StepDir(options_.workspace_dir, name);
  listener_->OnLine(JobListener::Stream::kSystem, name,
                    redactor_.Redact(absl::StrCat("$ ", options_.engine, " ", absl::StrJoin(args, " "))));
  StepRecord record{name, -1, absl::Now(), {}};
  // The connection's files, the variables (which may hold other resources'
  // sensitive outputs) and the stack input exist only while the step runs.
  StepSecretFiles files(options_.workspace_dir, options_.secret_files);
  if (!files.status().ok()) return files.status();
  ps.remove_on_exit = files.paths();
  auto on_line = [&](const OutputLine& line) {
    std::string text = redactor_.Redact(line.text);
    const bool is_stdout = line.stream == OutputLine::Stream::kStdout;
    if (capture != nullptr && is_stdout) {
      *capture += text;
      if (!line.continued) *capture += "\n";
      return;
    }
    listener_->OnLine(is_stdout ? JobListener::Stream::kStdout : JobListener::Stream::kStderr, name, text);
    // Machine-readable messages are JSON objects; anything else is only a log line.
    if (on_json && is_stdout && !line.continued && !text.empty() && text[0] == '{') on_json(text);
  };
  auto result = launcher_->Run(ps, on_line, cancel_, [&](pid_t pgid) { listener_->OnProcess(name, pgid); });
  listener_->OnProcess(name, 0);
  record.end = absl::Now();
  record.exit_code = result.ok() ? result->exit_code : -1;
  outcome_->steps.push_back(record);
  if (!result.ok()) return result.status();
  if (result->cancelled) return absl::CancelledError(absl::StrCat(name, " was cancelled"));
  if (result->timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat(name, " did not finish within ", absl::FormatDuration(options_.timeout)));
  }
  if (result->signal != 0) {
    return absl::InternalError(absl::StrCat(options_.engine, " ", name, " was killed by signal ", result->signal));
  }
  return result->exit_code;
}

absl::Status StepExecutor::Expect(const absl::StatusOr<int>& rc, const std::string& name,
                                  std::initializer_list<int> ok) const {
  if (!rc.ok()) return rc.status();
  for (int code : ok) {
    if (*rc == code) return absl::OkStatus();
  }
  std::string why;
  for (const auto& d : outcome_->diagnostics) {
    if (d.severity == "error") why = d.summary + (d.detail.empty() ? "" : ": " + d.detail);
  }
  return absl::AbortedError(absl::StrCat(options_.engine, " ", name, " failed with exit code ", *rc,
                                         why.empty() ? "" : absl::StrCat(" (", why, ")")));
}

absl::Status CopyModule(const JobSpec& spec, std::initializer_list<const char*> skip) {
  std::error_code ec;
  if (spec.module_dir.empty() || !fs::is_directory(spec.module_dir, ec)) {
    return absl::FailedPreconditionError(absl::StrCat("module directory ", spec.module_dir, " does not exist"));
  }
  fs::create_directories(spec.workspace_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create workspace ", spec.workspace_dir, ": ", ec.message()));
  fs::directory_iterator it(spec.module_dir, ec), end;
  if (ec) return absl::InternalError(absl::StrCat("cannot read the module ", spec.module_dir, ": ", ec.message()));
  for (; it != end; it.increment(ec)) {
    if (ec) return absl::InternalError(absl::StrCat("cannot read the module ", spec.module_dir, ": ", ec.message()));
    const std::string name = it->path().filename().string();
    bool skipped = false;
    for (const char* s : skip) skipped = skipped || name == s;
    if (skipped) continue;
    fs::copy(it->path(), fs::path(spec.workspace_dir) / name,
             fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot copy the module: ", ec.message()));
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot read the module ", spec.module_dir, ": ", ec.message()));
  fs::create_directories(spec.state_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create state dir ", spec.state_dir, ": ", ec.message()));
  return absl::OkStatus();
}

JobOutcome& FailJob(JobOutcome& out, const absl::Status& status, JobListener* listener) {
  out.state = status.code() == absl::StatusCode::kCancelled ? JobOutcome::State::kCancelled : JobOutcome::State::kFailed;
  out.error = std::string(status.message());
  listener->OnLine(JobListener::Stream::kSystem, "",
                   absl::StrCat("job ", out.state == JobOutcome::State::kCancelled ? "cancelled" : "failed", ": ",
                                out.error));
  return out;
}

}  // namespace plinth::engine
