#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "plinth/engine/stack_job.h"

namespace plinth::engine {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

absl::Status WriteFile(const fs::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", p.string()));
  return absl::OkStatus();
}

class Step {
 public:
  Step(ProcessLauncher* launcher, const JobSpec& spec, const Redactor& redactor, CancelToken* cancel,
       JobListener* listener, JobOutcome* outcome)
      : launcher_(launcher), spec_(spec), redactor_(redactor), cancel_(cancel), listener_(listener), outcome_(outcome) {}

  // Runs one engine command. `json_stream`: parse each stdout line as a UI
  // message. `capture`: keep stdout whole (show -json, output -json).
  absl::StatusOr<int> Run(const std::string& name, std::vector<std::string> args, bool json_stream,
                          std::string* capture = nullptr) {
    std::vector<std::string> argv = {spec_.engine_binary};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessSpec ps;
    ps.argv = argv;
    ps.env = Environment();
    ps.cwd = spec_.workspace_dir;
    ps.timeout = spec_.step_timeout;
    ps.kill_grace = spec_.kill_grace;
    listener_->OnLine(JobListener::Stream::kSystem, name,
                      redactor_.Redact(absl::StrCat("$ ", spec_.engine, " ", absl::StrJoin(args, " "))));
    StepRecord record{name, -1, absl::Now(), {}};
    step_replaces_ = 0;
    // The connection's files and the variables (which may hold other
    // resources' sensitive outputs) exist only while the step runs.
    std::vector<std::pair<std::string, std::string>> secret_files = spec_.files;
    secret_files.emplace_back("plinth.auto.tfvars.json", spec_.module_variables.dump(2) + "\n");
    StepSecretFiles files(spec_.workspace_dir, secret_files);
    if (!files.status().ok()) return files.status();
    // Under plinth-step the step outlives a crash of plinthd; its secrets
    // are removed when it ends, whoever is left to see it.
    ps.step_dir = StepDir(spec_.workspace_dir, name);
    ps.remove_on_exit = files.paths();
    auto on_line = [&](const OutputLine& line) {
      std::string text = redactor_.Redact(line.text);
      bool is_stdout = line.stream == OutputLine::Stream::kStdout;
      if (capture != nullptr && is_stdout) {
        *capture += text;
        if (!line.continued) *capture += "\n";
        return;
      }
      listener_->OnLine(is_stdout ? JobListener::Stream::kStdout : JobListener::Stream::kStderr, name, text);
      // UI messages are JSON objects; anything else is only a log line.
      if (json_stream && is_stdout && !line.continued && !text.empty() && text[0] == '{') {
        Event(name, ParseTerraformLine(text));
      }
    };
    auto result = launcher_->Run(ps, on_line, cancel_, [&](pid_t pgid) { listener_->OnProcess(name, pgid); });
    listener_->OnProcess(name, 0);
    record.end = absl::Now();
    if (!result.ok()) {
      record.exit_code = -1;
      outcome_->steps.push_back(record);
      return result.status();
    }
    record.exit_code = result->exit_code;
    outcome_->steps.push_back(record);
    if (result->cancelled) return absl::CancelledError(absl::StrCat(name, " was cancelled"));
    if (result->timed_out) {
      return absl::DeadlineExceededError(absl::StrCat(name, " did not finish within ",
                                                      absl::FormatDuration(spec_.step_timeout)));
    }
    if (result->signal != 0) {
      return absl::InternalError(absl::StrCat(spec_.engine, " ", name, " was killed by signal ", result->signal));
    }
    return result->exit_code;
  }

  // The saved plan is read (show -json): its counts are the job's from now
  // on, whatever the apply's change_summary says.
  void PlanKnown() { plan_known_ = true; }

 private:
  std::vector<std::string> Environment() const {
    std::vector<std::string> env = spec_.env;
    env.push_back("TF_IN_AUTOMATION=1");
    env.push_back("TF_INPUT=0");
    env.push_back("TF_DATA_DIR=" + (fs::path(spec_.state_dir) / ".terraform").string());
    if (!spec_.plugin_cache_dir.empty()) env.push_back("TF_PLUGIN_CACHE_DIR=" + spec_.plugin_cache_dir);
    env.push_back("PLINTH_KIND=" + spec_.kind);
    env.push_back("PLINTH_JOB_ID=" + spec_.job_id);
    return env;
  }

  void Event(const std::string& step, EngineEvent e) {
    if (e.kind == EngineEvent::Kind::kVersion && outcome_->engine_version.empty()) {
      outcome_->engine_version = e.message;
    }
    if (e.resource && e.resource->status == "planned" && e.resource->action == "replace") ++step_replaces_;
    if (e.summary) {
      // Terraform's change_summary counts a replace as one add and one
      // destroy; plinth counts as the plan does (one replace), in the job
      // and in the stored event alike.
      ChangeSummary& s = *e.summary;
      const int replaces = plan_known_ ? outcome_->summary.replace : step_replaces_;
      s.replace = replaces;
      s.add = std::max(0, s.add - replaces);
      s.remove = std::max(0, s.remove - replaces);
      if (plan_known_) {
        std::string operation = s.operation;
        s = outcome_->summary;
        s.operation = operation;
      }
      outcome_->summary = s;
      outcome_->has_summary = true;
    }
    if (e.resource) {
      bool found = false;
      for (auto& r : outcome_->resources) {
        if (r.address == e.resource->address) {
          ResourceChange planned = r;
          r = *e.resource;
          if (r.action.empty()) r.action = planned.action;
          // What only the plan says stays on the row.
          if (r.actions.empty()) r.actions = planned.actions;
          if (r.action_reason.empty()) r.action_reason = planned.action_reason;
          if (r.previous_address.empty()) r.previous_address = planned.previous_address;
          if (r.deposed.empty()) r.deposed = planned.deposed;
          r.importing = r.importing || planned.importing;
          found = true;
        }
      }
      if (!found) outcome_->resources.push_back(*e.resource);
    }
    if (e.diagnostic) outcome_->diagnostics.push_back(*e.diagnostic);
    listener_->OnEvent(step, e);
  }

  bool plan_known_ = false;
  int step_replaces_ = 0;  // replaces the running step's planned_change lines announced
  ProcessLauncher* launcher_;
  const JobSpec& spec_;
  const Redactor& redactor_;
  CancelToken* cancel_;
  JobListener* listener_;
  JobOutcome* outcome_;
};

absl::StatusOr<std::string> ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return absl::InternalError(absl::StrCat("cannot read ", p.string()));
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return absl::InternalError(absl::StrCat("cannot read ", p.string()));
  return content;
}

absl::Status PrepareWorkspace(const JobSpec& spec) {
  std::error_code ec;
  if (spec.module_dir.empty() || !fs::is_directory(spec.module_dir, ec)) {
    return absl::FailedPreconditionError(absl::StrCat("module directory ", spec.module_dir, " does not exist"));
  }
  fs::create_directories(spec.workspace_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create workspace ", spec.workspace_dir, ": ", ec.message()));
  for (const auto& entry : fs::directory_iterator(spec.module_dir)) {
    std::string name = entry.path().filename().string();
    if (name == ".terraform" || name == ".git" || name == "terraform.tfstate") continue;
    fs::copy(entry.path(), fs::path(spec.workspace_dir) / name,
             fs::copy_options::recursive | fs::copy_options::copy_symlinks, ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot copy the module: ", ec.message()));
  }
  fs::create_directories(spec.state_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create state dir ", spec.state_dir, ": ", ec.message()));
  json backend = {{"terraform", {{"backend", {{"local", {{"path", (fs::path(spec.state_dir) / "terraform.tfstate").string()}}}}}}}};
  // A remote backend is an empty block; its settings go to init as
  // -backend-config, so they are never written into the module.
  if (!spec.backend_type.empty()) backend = {{"terraform", {{"backend", {{spec.backend_type, json::object()}}}}}};
  absl::Status s = WriteFile(fs::path(spec.workspace_dir) / "backend.tf.json", backend.dump(2) + "\n");
  if (!s.ok()) return s;
  // The connection's files and the variables are written per step (Step::Run).
  return absl::OkStatus();
}

}  // namespace

absl::string_view OperationName(Operation op) {
  switch (op) {
    case Operation::kInit: return "init";
    case Operation::kRefresh: return "refresh";
    case Operation::kPreview: return "preview";
    case Operation::kUpdate: return "update";
    case Operation::kDestroyPreview: return "destroy_preview";
    case Operation::kDestroy: return "destroy";
  }
  return "preview";
}

bool ParseOperation(absl::string_view name, Operation* op) {
  for (Operation o : {Operation::kInit, Operation::kRefresh, Operation::kPreview, Operation::kUpdate,
                      Operation::kDestroyPreview, Operation::kDestroy}) {
    if (OperationName(o) == name) {
      *op = o;
      return true;
    }
  }
  return false;
}

JobOutcome TerraformRunner::Run(const JobSpec& spec, CancelToken* cancel, JobListener* listener) {
  JobOutcome out;
  Redactor redactor(spec.secrets);
  auto fail = [&](const absl::Status& s) {
    out.state = s.code() == absl::StatusCode::kCancelled ? JobOutcome::State::kCancelled : JobOutcome::State::kFailed;
    out.error = std::string(s.message());
    listener->OnLine(JobListener::Stream::kSystem, "", absl::StrCat("job ", out.state == JobOutcome::State::kCancelled ? "cancelled" : "failed", ": ", out.error));
    return out;
  };
  absl::Status ws = PrepareWorkspace(spec);
  if (!ws.ok()) return fail(ws);
  Step step(launcher_, spec, redactor, cancel, listener, &out);
  auto check = [&](const absl::StatusOr<int>& rc, const std::string& name, std::initializer_list<int> ok) -> absl::Status {
    if (!rc.ok()) return rc.status();
    for (int code : ok) {
      if (*rc == code) return absl::OkStatus();
    }
    std::string why;
    for (const auto& d : out.diagnostics) {
      if (d.severity == "error") why = d.summary + (d.detail.empty() ? "" : ": " + d.detail);
    }
    return absl::AbortedError(absl::StrCat(spec.engine, " ", name, " failed with exit code ", *rc,
                                           why.empty() ? "" : absl::StrCat(" (", why, ")")));
  };

  std::vector<std::string> init_args = {"init", "-input=false", "-no-color"};
  for (const auto& [k, v] : spec.backend_config) init_args.push_back(absl::StrCat("-backend-config=", k, "=", v));
  absl::Status s = check(step.Run("init", init_args, false), "init", {0});
  if (!s.ok()) return fail(s);
  if (spec.operation == Operation::kInit) {
    out.state = JobOutcome::State::kSucceeded;
    return out;
  }
  bool destroy = spec.operation == Operation::kDestroy || spec.operation == Operation::kDestroyPreview;
  bool apply = spec.operation == Operation::kUpdate || spec.operation == Operation::kDestroy ||
               spec.operation == Operation::kRefresh;
  if (spec.direct_apply && spec.operation != Operation::kRefresh && apply) {
    // Flow control without a preview: the engine plans and applies in one
    // step, with no saved plan and nothing to review.
    std::vector<std::string> args = {"apply", "-input=false", "-json", "-auto-approve"};
    if (spec.skip_refresh) args.push_back("-refresh=false");
    if (destroy) args.push_back("-destroy");
    s = check(step.Run("apply", args, true), "apply", {0});
    if (!s.ok()) return fail(s);
  } else {
    std::vector<std::string> plan_args = {"plan", "-input=false", "-json", "-out=plinth.tfplan", "-detailed-exitcode"};
    if (spec.operation == Operation::kRefresh) plan_args.push_back("-refresh-only");
    if (spec.skip_refresh && spec.operation != Operation::kRefresh) plan_args.push_back("-refresh=false");
    if (destroy) plan_args.push_back("-destroy");
    auto plan_rc = step.Run("plan", plan_args, true);
    s = check(plan_rc, "plan", {0, 2});
    if (!s.ok()) return fail(s);
    bool has_changes = *plan_rc == 2;
    bool applied = false;

    std::string plan_json;
    s = check(step.Run("show", {"show", "-json", "plinth.tfplan"}, false, &plan_json), "show", {0});
    if (!s.ok()) return fail(s);
    auto plan = ParseTerraformPlanJson(plan_json);
    if (!plan.ok()) return fail(absl::FailedPreconditionError(absl::StrCat("cannot read the plan: ", plan.status().message())));
    out.summary = plan->summary;
    out.summary.operation = destroy ? "destroy" : "plan";
    out.has_summary = true;
    out.resources = plan->changes;
    out.output_changes = plan->outputs;
    step.PlanKnown();
    if (plan->errored) {
      // OpenTofu marks a plan it could not finish: never apply it, whatever
      // the exit code said.
      return fail(absl::FailedPreconditionError(
          "the plan is incomplete (errored: true in show -json): it is not applied; see the diagnostics"));
    }
    has_changes = has_changes || plan->has_changes();

    if (apply && has_changes && spec.before_apply) {
      // The saved plan holds the variables' values (other resources'
      // sensitive outputs among them) and sometimes provider settings: it
      // is not left on disk while a person takes their time to approve.
      const fs::path plan_file = fs::path(spec.workspace_dir) / "plinth.tfplan";
      auto held = ReadFile(plan_file);
      if (!held.ok()) return fail(held.status());
      std::error_code ec;
      fs::remove(plan_file, ec);
      s = spec.before_apply(out);
      if (!s.ok()) return fail(s);
      StepSecretFiles restored(spec.workspace_dir, {{"plinth.tfplan", *held}});
      if (!restored.status().ok()) return fail(restored.status());
      s = check(step.Run("apply", {"apply", "-input=false", "-json", "plinth.tfplan"}, true), "apply", {0});
      if (!s.ok()) return fail(s);
      applied = true;
    }
    if (apply && has_changes && !applied) {
      // Apply exactly the saved plan: never a fresh, unreviewed one.
      s = check(step.Run("apply", {"apply", "-input=false", "-json", "plinth.tfplan"}, true), "apply", {0});
      if (!s.ok()) return fail(s);
    }
  }
  if (apply) {
    std::string outputs_json;
    s = check(step.Run("output", {"output", "-json"}, false, &outputs_json), "output", {0});
    if (!s.ok()) return fail(s);
    json outputs = json::parse(outputs_json, nullptr, false);
    if (!outputs.is_object()) {
      return fail(absl::InternalError(absl::StrCat(spec.engine, " output -json did not print a JSON object")));
    }
    out.outputs = json::object();
    for (const auto& [name, o] : outputs.items()) {
      if (!o.is_object()) continue;
      out.outputs[name] = {{"value", o.value("value", json(nullptr))}, {"sensitive", o.value("sensitive", false)}};
    }
    out.outputs_changed = true;
  }
  out.state = JobOutcome::State::kSucceeded;
  return out;
}

}  // namespace plinth::engine
