#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "plinth/engine/stack_job.h"
#include "plinth/engine/step_executor.h"

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

// The environment every Terraform/OpenTofu step gets besides the job's.
std::vector<std::string> TerraformEnvironment(const JobSpec& spec) {
  std::vector<std::string> env = spec.env;
  env.push_back("TF_IN_AUTOMATION=1");
  env.push_back("TF_INPUT=0");
  env.push_back("TF_DATA_DIR=" + (fs::path(spec.state_dir) / ".terraform").string());
  if (!spec.plugin_cache_dir.empty()) env.push_back("TF_PLUGIN_CACHE_DIR=" + spec.plugin_cache_dir);
  env.push_back("PLINTH_KIND=" + spec.kind);
  env.push_back("PLINTH_JOB_ID=" + spec.job_id);
  return env;
}

// Turns a step's `-json` UI messages into the outcome's summary, resource
// rows and diagnostics, and passes them to the listener.
class TerraformEvents {
 public:
  TerraformEvents(JobListener* listener, JobOutcome* outcome) : listener_(listener), outcome_(outcome) {}

  // The handler for one step's stdout.
  StepExecutor::JsonLine For(const std::string& step) {
    step_replaces_ = 0;
    return [this, step](const std::string& line) { Event(step, ParseTerraformLine(line)); };
  }

  // The saved plan is read (show -json): its counts are the job's from now
  // on, whatever the apply's change_summary says.
  void PlanKnown() { plan_known_ = true; }

 private:
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
  absl::Status copied = CopyModule(spec, {".terraform", ".git", "terraform.tfstate"});
  if (!copied.ok()) return copied;
  json backend = {{"terraform", {{"backend", {{"local", {{"path", (fs::path(spec.state_dir) / "terraform.tfstate").string()}}}}}}}};
  // A remote backend is an empty block; its settings go to init as
  // -backend-config, so they are never written into the module.
  if (!spec.backend_type.empty()) backend = {{"terraform", {{"backend", {{spec.backend_type, json::object()}}}}}};
  absl::Status s = WriteFile(fs::path(spec.workspace_dir) / "backend.tf.json", backend.dump(2) + "\n");
  if (!s.ok()) return s;
  // The connection's files and the variables are written per step (StepExecutor).
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
  auto fail = [&](const absl::Status& s) { return FailJob(out, s, listener); };
  absl::Status ws = PrepareWorkspace(spec);
  if (!ws.ok()) return fail(ws);
  std::vector<std::pair<std::string, std::string>> secret_files = spec.files;
  secret_files.emplace_back("plinth.auto.tfvars.json", spec.module_variables.dump(2) + "\n");
  StepExecutor step(launcher_,
                    {.engine = spec.engine, .binary = spec.engine_binary, .env = TerraformEnvironment(spec),
                     .workspace_dir = spec.workspace_dir, .timeout = spec.step_timeout, .kill_grace = spec.kill_grace,
                     .secret_files = std::move(secret_files)},
                    redactor, cancel, listener, &out);
  TerraformEvents events(listener, &out);
  auto check = [&](const absl::StatusOr<int>& rc, const std::string& name, std::initializer_list<int> ok) {
    return step.Expect(rc, name, ok);
  };

  std::vector<std::string> init_args = {"init", "-input=false", "-no-color"};
  for (const auto& [k, v] : spec.backend_config) init_args.push_back(absl::StrCat("-backend-config=", k, "=", v));
  absl::Status s = check(step.Run("init", init_args), "init", {0});
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
    s = check(step.Run("apply", args, events.For("apply")), "apply", {0});
    if (!s.ok()) return fail(s);
  } else {
    std::vector<std::string> plan_args = {"plan", "-input=false", "-json", "-out=plinth.tfplan", "-detailed-exitcode"};
    if (spec.operation == Operation::kRefresh) plan_args.push_back("-refresh-only");
    if (spec.skip_refresh && spec.operation != Operation::kRefresh) plan_args.push_back("-refresh=false");
    if (destroy) plan_args.push_back("-destroy");
    auto plan_rc = step.Run("plan", plan_args, events.For("plan"));
    s = check(plan_rc, "plan", {0, 2});
    if (!s.ok()) return fail(s);
    bool has_changes = *plan_rc == 2;
    bool applied = false;

    std::string plan_json;
    s = check(step.Run("show", {"show", "-json", "plinth.tfplan"}, nullptr, &plan_json), "show", {0});
    if (!s.ok()) return fail(s);
    auto plan = ParseTerraformPlanJson(plan_json);
    if (!plan.ok()) return fail(absl::FailedPreconditionError(absl::StrCat("cannot read the plan: ", plan.status().message())));
    out.summary = plan->summary;
    out.summary.operation = destroy ? "destroy" : "plan";
    out.has_summary = true;
    out.resources = plan->changes;
    out.output_changes = plan->outputs;
    events.PlanKnown();
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
      s = check(step.Run("apply", {"apply", "-input=false", "-json", "plinth.tfplan"}, events.For("apply")), "apply", {0});
      if (!s.ok()) return fail(s);
      applied = true;
    }
    if (apply && has_changes && !applied) {
      // Apply exactly the saved plan: never a fresh, unreviewed one.
      s = check(step.Run("apply", {"apply", "-input=false", "-json", "plinth.tfplan"}, events.For("apply")), "apply", {0});
      if (!s.ok()) return fail(s);
    }
  }
  if (apply) {
    std::string outputs_json;
    s = check(step.Run("output", {"output", "-json"}, nullptr, &outputs_json), "output", {0});
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
