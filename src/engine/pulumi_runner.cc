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
#include "plinth/engine/step_executor.h"

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
  auto fail = [&](const absl::Status& s) { return FailJob(out, s, listener); };
  absl::Status copied = CopyModule(spec, {".git", "node_modules"});
  if (!copied.ok()) return fail(copied);
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

  StepExecutor steps(launcher_,
                     {.engine = "pulumi", .binary = spec.engine_binary, .env = env, .workspace_dir = spec.workspace_dir,
                      .timeout = spec.step_timeout, .kill_grace = spec.kill_grace, .secret_files = secret_files},
                     redactor, cancel, listener, &out);
  // Engine events of the update, destroy or refresh: the summary, resource
  // rows and error diagnostics.
  auto events = [&](const std::string& name) -> StepExecutor::JsonLine {
    return [&, name](const std::string& line) {
      EngineEvent e = ParsePulumiLine(line);
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
    };
  };
  auto step = [&](const std::string& name, const std::vector<std::string>& args, bool with_events,
                  std::string* capture) -> absl::Status {
    return steps.Expect(steps.Run(name, args, with_events ? events(name) : nullptr, capture), name, {0});
  };

  absl::Status rc = step("stack", {"stack", "select", "--create", "--stack", stack, "--non-interactive"}, false, nullptr);
  if (!rc.ok()) return fail(rc);
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
    if (!rc.ok()) return fail(rc);
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
    if (!rc.ok()) return fail(rc);
    std::string masked, shown;
    rc = step("output", {"stack", "output", "--json", "--stack", stack}, false, &masked);
    if (!rc.ok()) return fail(rc);
    rc = step("output", {"stack", "output", "--json", "--show-secrets", "--stack", stack}, false, &shown);
    if (!rc.ok()) return fail(rc);
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
