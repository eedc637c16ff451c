// Pulumi stack jobs: a workspace with the Pulumi project (the module), the
// stack input file (the manifest as {target, provider_config}) named by
// STACK_INPUT_YAML_FILE, a file:// backend per resource by default, and the
// engine's JSON event stream parsed into events.
#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "plinth/manifest/names.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "plinth/engine/stack_job.h"

namespace plinth::engine {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

bool HasEnv(const std::vector<std::string>& env, const std::string& name) {
  for (const auto& e : env) {
    if (e.rfind(name + "=", 0) == 0) return true;
  }
  return false;
}

}  // namespace

std::string PulumiStackName(const JobSpec& spec) {
  // Pulumi stack names take [A-Za-z0-9_.-]: the resource name goes in as its slug.
  return spec.module_variables["metadata"].value("env", "default") + "." + absl::AsciiStrToLower(spec.kind) + "." +
         manifest::ResourceSlug(spec.module_variables["metadata"].value("name", "resource"));
}

JobOutcome PulumiRunner::Run(const JobSpec& spec, CancelToken* cancel, JobListener* listener) {
  JobOutcome out;
  Redactor redactor(spec.secrets);
  auto fail = [&](const absl::Status& s) {
    out.state = s.code() == absl::StatusCode::kCancelled ? JobOutcome::State::kCancelled : JobOutcome::State::kFailed;
    out.error = std::string(s.message());
    listener->OnLine(JobListener::Stream::kSystem, "", absl::StrCat("job ", out.state == JobOutcome::State::kCancelled ? "cancelled" : "failed", ": ", out.error));
    return out;
  };
  std::error_code ec;
  if (spec.module_dir.empty() || !fs::is_directory(spec.module_dir, ec)) {
    return fail(absl::FailedPreconditionError(absl::StrCat("module directory ", spec.module_dir, " does not exist")));
  }
  fs::create_directories(spec.workspace_dir, ec);
  for (const auto& entry : fs::directory_iterator(spec.module_dir)) {
    std::string name = entry.path().filename().string();
    if (name == ".git" || name == "node_modules") continue;
    fs::copy(entry.path(), fs::path(spec.workspace_dir) / name, fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
    if (ec) return fail(absl::InternalError(absl::StrCat("cannot copy the module: ", ec.message())));
  }
  fs::create_directories(spec.state_dir, ec);
  // JSON is YAML: the stack input is written as JSON, which every YAML reader takes.
  fs::path input = fs::path(spec.workspace_dir) / "stack-input.yaml";
  json stack_input = {{"target", {{"apiVersion", spec.api_version}, {"kind", spec.kind},
                                  {"metadata", spec.module_variables["metadata"]}, {"spec", spec.module_variables["spec"]}}},
                      {"provider_config", spec.provider_config.is_null() ? json::object() : spec.provider_config}};
  // The stack input holds the provider credentials: it and the
  // connection's files exist only while a step runs.
  std::vector<std::pair<std::string, std::string>> secret_files = spec.files;
  secret_files.emplace_back("stack-input.yaml", stack_input.dump(2) + "\n");

  std::vector<std::string> env = spec.env;
  if (!HasEnv(env, "PULUMI_BACKEND_URL")) env.push_back("PULUMI_BACKEND_URL=file://" + spec.state_dir);
  if (!HasEnv(env, "PULUMI_CONFIG_PASSPHRASE")) env.push_back("PULUMI_CONFIG_PASSPHRASE=" + spec.pulumi_passphrase);
  env.push_back("PULUMI_SKIP_UPDATE_CHECK=true");
  env.push_back("PULUMI_HOME=" + (fs::path(spec.state_dir) / ".pulumi-home").string());
  env.push_back("STACK_INPUT_YAML_FILE=" + input.string());
  env.push_back("PLINTH_KIND=" + spec.kind);
  env.push_back("PLINTH_JOB_ID=" + spec.job_id);
  std::string stack = PulumiStackName(spec);

  auto step = [&](const std::string& name, std::vector<std::string> args, bool events, std::string* capture) -> absl::StatusOr<int> {
    ProcessSpec ps;
    ps.argv = {spec.engine_binary};
    ps.argv.insert(ps.argv.end(), args.begin(), args.end());
    ps.env = env;
    ps.cwd = spec.workspace_dir;
    ps.timeout = spec.step_timeout;
    ps.kill_grace = spec.kill_grace;
    ps.step_dir = StepDir(spec.workspace_dir, name);
    listener->OnLine(JobListener::Stream::kSystem, name, absl::StrCat("$ pulumi ", absl::StrJoin(args, " ")));
    StepRecord record{name, -1, absl::Now(), {}};
    StepSecretFiles files(spec.workspace_dir, secret_files);
    if (!files.status().ok()) return files.status();
    ps.remove_on_exit = files.paths();
    auto result = launcher_->Run(ps, [&](const OutputLine& line) {
      std::string text = redactor.Redact(line.text);
      bool is_stdout = line.stream == OutputLine::Stream::kStdout;
      if (capture && is_stdout) {
        *capture += text;
        if (!line.continued) *capture += "\n";
        return;
      }
      listener->OnLine(is_stdout ? JobListener::Stream::kStdout : JobListener::Stream::kStderr, name, text);
      if (events && is_stdout && !line.continued && !text.empty() && text[0] == '{') {
        EngineEvent e = ParsePulumiLine(text);
        if (e.summary) {
          out.summary = *e.summary;
          out.summary.operation = name;
          out.has_summary = true;
        }
        if (e.resource) {
          bool found = false;
          for (auto& r : out.resources) {
            if (r.address == e.resource->address) {
              r = *e.resource;
              found = true;
            }
          }
          if (!found) out.resources.push_back(*e.resource);
        }
        if (e.diagnostic && e.diagnostic->severity == "error") out.diagnostics.push_back(*e.diagnostic);
        listener->OnEvent(name, e);
      }
    }, cancel, [&](pid_t pgid) { listener->OnProcess(name, pgid); });
    listener->OnProcess(name, 0);
    record.end = absl::Now();
    if (!result.ok()) {
      out.steps.push_back(record);
      return result.status();
    }
    record.exit_code = result->exit_code;
    out.steps.push_back(record);
    if (result->cancelled) return absl::CancelledError(absl::StrCat(name, " was cancelled"));
    if (result->timed_out) return absl::DeadlineExceededError(absl::StrCat(name, " did not finish within ", absl::FormatDuration(spec.step_timeout)));
    if (result->signal != 0) return absl::InternalError(absl::StrCat("pulumi ", name, " was killed by signal ", result->signal));
    if (result->exit_code != 0) {
      std::string why;
      for (const auto& d : out.diagnostics) why = d.summary;
      return absl::AbortedError(absl::StrCat("pulumi ", name, " failed with exit code ", result->exit_code,
                                             why.empty() ? "" : absl::StrCat(" (", why, ")")));
    }
    return 0;
  };

  auto rc = step("stack", {"stack", "select", "--create", "--stack", stack, "--non-interactive"}, false, nullptr);
  if (!rc.ok()) return fail(rc.status());
  if (spec.operation == Operation::kInit) {
    out.state = JobOutcome::State::kSucceeded;
    return out;
  }
  // Pulumi has no stable saved plan: update and destroy show a preview
  // first (recorded as the job's change summary), then run.
  bool destroy = spec.operation == Operation::kDestroy || spec.operation == Operation::kDestroyPreview;
  if (spec.operation != Operation::kRefresh) {
    std::string preview;
    std::vector<std::string> args = {"preview", "--json", "--stack", stack, "--non-interactive"};
    if (destroy) args = {"destroy", "--preview-only", "--json", "--stack", stack, "--non-interactive"};
    if (spec.skip_refresh) args.push_back("--refresh=false");
    rc = step("preview", args, false, &preview);
    if (!rc.ok()) return fail(rc.status());
    json doc = json::parse(preview, nullptr, false);
    if (doc.is_object() && doc.contains("changeSummary") && doc["changeSummary"].is_object()) {
      const json& c = doc["changeSummary"];
      out.summary.add = c.value("create", 0);
      out.summary.change = c.value("update", 0);
      out.summary.remove = c.value("delete", 0);
      out.summary.replace = c.value("replace", 0);
      out.summary.operation = destroy ? "destroy" : "preview";
      out.has_summary = true;
    }
  }
  bool run = spec.operation == Operation::kUpdate || spec.operation == Operation::kDestroy ||
             spec.operation == Operation::kRefresh;
  if (run && spec.before_apply &&
      (!out.has_summary || out.summary.add + out.summary.change + out.summary.remove + out.summary.replace > 0)) {
    absl::Status gate = spec.before_apply(out);
    if (!gate.ok()) return fail(gate);
  }
  if (run) {
    std::vector<std::string> args;
    if (spec.operation == Operation::kUpdate) args = {"up", "--yes", "--skip-preview", "--json", "--stack", stack, "--non-interactive"};
    if (spec.operation == Operation::kDestroy) args = {"destroy", "--yes", "--skip-preview", "--json", "--stack", stack, "--non-interactive"};
    if (spec.operation == Operation::kRefresh) args = {"refresh", "--yes", "--skip-preview", "--json", "--stack", stack, "--non-interactive"};
    rc = step(std::string(OperationName(spec.operation)), args, true, nullptr);
    if (!rc.ok()) return fail(rc.status());
    std::string masked, shown;
    rc = step("output", {"stack", "output", "--json", "--stack", stack}, false, &masked);
    if (!rc.ok()) return fail(rc.status());
    rc = step("output", {"stack", "output", "--json", "--show-secrets", "--stack", stack}, false, &shown);
    if (!rc.ok()) return fail(rc.status());
    json m = json::parse(masked, nullptr, false), v = json::parse(shown, nullptr, false);
    if (!v.is_object()) return fail(absl::InternalError("pulumi stack output --json did not print a JSON object"));
    out.outputs = json::object();
    for (const auto& [name, value] : v.items()) {
      bool secret = m.is_object() && m.contains(name) && m[name] == "[secret]";
      out.outputs[name] = {{"value", value}, {"sensitive", secret}};
    }
    if (spec.operation == Operation::kDestroy) out.outputs = json::object();
    out.outputs_changed = true;
  }
  out.state = JobOutcome::State::kSucceeded;
  return out;
}

}  // namespace plinth::engine
