// One stack job's engine run: the workspace (a copy of the module, the
// variables file, the backend file), the engine's steps as child processes,
// and the engine's output turned into events, a change summary, per-resource
// rows, diagnostics and outputs.
//
//   TerraformRunner runner(&launcher);
//   JobOutcome out = runner.Run(spec, &cancel, &listener);
//
// Engine-neutral types live here; each engine has a runner.
#ifndef PLINTH_ENGINE_STACK_JOB_H_
#define PLINTH_ENGINE_STACK_JOB_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "plinth/engine/engine_events.h"
#include "plinth/engine/module_source.h"
#include "plinth/engine/process.h"
#include "plinth/engine/redactor.h"

namespace plinth::engine {

enum class Operation { kInit, kRefresh, kPreview, kUpdate, kDestroyPreview, kDestroy };

absl::string_view OperationName(Operation op);  // "init", "refresh", "preview", "update", "destroy_preview", "destroy"
bool ParseOperation(absl::string_view name, Operation* op);

struct JobOutcome;

struct JobSpec {
  std::string job_id;
  Operation operation = Operation::kPreview;
  std::string kind;
  std::string api_version;
  std::string resource_id;
  // {"metadata": ..., "spec": ...} as modules take them (ToModuleVariables).
  nlohmann::json module_variables;
  std::string engine;         // "tofu" or "terraform"
  std::string engine_binary;  // a path, or a name looked up on PATH
  std::string module_dir;     // the module to copy into the workspace
  std::string workspace_dir;  // created for this job; must not exist yet
  std::string state_dir;      // per resource: terraform.tfstate and TF_DATA_DIR live here
  std::string plugin_cache_dir;
  // Terraform/OpenTofu state: empty = local, under state_dir; else "s3",
  // "gcs" or "azurerm" with its settings passed as -backend-config (the
  // per-resource key or prefix already in them).
  std::string backend_type;
  std::map<std::string, std::string> backend_config;
  // The whole child environment besides what the runner adds (TF_*, PLINTH_*):
  // the daemon's allowlisted variables plus the connection's.
  std::vector<std::string> env;
  std::vector<std::string> secrets;  // redacted from every line
  // Files the connection needs in the workspace (a kubeconfig), written 0600.
  std::vector<std::pair<std::string, std::string>> files;
  // A runner-held connection ("ORG/NAME"): plinthd knows its provider and
  // non-secret fields; the runner running the job adds its secrets (env,
  // files, redaction, provider_config) from its own runner.yaml.
  std::string runner_connection;
  std::string runner_connection_provider;
  std::map<std::string, std::string> runner_connection_fields;
  // A Git module the runner fetches itself (module_dir empty until then).
  std::optional<GitModuleSource> git_module;
  bool skip_refresh = false;
  // Terraform/OpenTofu update and destroy: `apply -auto-approve` without a
  // saved plan (flow control's preview_before_update_or_destroy off).
  // Pulumi always previews first, so it ignores this.
  bool direct_apply = false;
  // Pulumi only: the connection's settings as the module's provider_config,
  // and the passphrase of the stack's secrets when the connection gives none.
  nlohmann::json provider_config;
  std::string pulumi_passphrase;
  absl::Duration step_timeout = absl::Hours(2);
  absl::Duration kill_grace = absl::Seconds(30);
  // Called between the plan and the apply when the plan has changes, with
  // the outcome so far (summary, planned resources); the apply runs only if
  // it returns OK. A CANCELLED status ends the job cancelled.
  std::function<absl::Status(const JobOutcome&)> before_apply;
};

struct StepRecord {
  std::string name;  // init, plan, show, apply, output
  int exit_code = -1;
  absl::Time start;
  absl::Time end;
};

struct JobOutcome {
  // kInterrupted: the job was cut short outside the engine's control (its
  // runner was lost); it runs again from a fresh plan.
  enum class State { kSucceeded, kFailed, kCancelled, kInterrupted };
  State state = State::kFailed;
  std::string error;  // why it failed, for people
  std::string engine_version;
  std::string module_revision;  // the commit of a Git module fetched by a runner
  std::vector<StepRecord> steps;
  bool has_summary = false;
  ChangeSummary summary;
  std::vector<ResourceChange> resources;  // latest status per address
  std::vector<OutputChange> output_changes;  // from the plan
  std::vector<Diagnostic> diagnostics;
  // {name: {"value": v, "sensitive": bool}} after update/refresh; empty
  // object after destroy.
  nlohmann::json outputs = nlohmann::json::object();
  bool outputs_changed = false;  // outputs were read (update, refresh, destroy)
};

// Receives a job's progress as it happens, on the runner's thread.
class JobListener {
 public:
  virtual ~JobListener() = default;
  enum class Stream { kStdout, kStderr, kSystem };
  // Every output line, already redacted. kSystem lines are plinth's own.
  virtual void OnLine(Stream stream, const std::string& step, const std::string& text) = 0;
  virtual void OnEvent(const std::string& step, const EngineEvent& event) = 0;
  // The process group of the step now running (0 when it ended).
  virtual void OnProcess(const std::string& step, pid_t pgid) = 0;
  // Makes what was reported so far visible now (it may be buffered).
  virtual void Sync() {}
};

class StackRunner {
 public:
  virtual ~StackRunner() = default;
  virtual JobOutcome Run(const JobSpec& spec, CancelToken* cancel, JobListener* listener) = 0;
};

// OpenTofu and Terraform: init, plan to a file, show -json, apply that file,
// output -json.
class TerraformRunner : public StackRunner {
 public:
  explicit TerraformRunner(ProcessLauncher* launcher) : launcher_(launcher) {}
  JobOutcome Run(const JobSpec& spec, CancelToken* cancel, JobListener* listener) override;

 private:
  ProcessLauncher* launcher_;
};

// Pulumi: stack select --create, preview --json, up/destroy/refresh --json
// (engine events), stack output --json [--show-secrets]. The stack is
// "<env>.<kind>.<name>"; state in a file:// backend per resource unless the
// connection names one.
class PulumiRunner : public StackRunner {
 public:
  explicit PulumiRunner(ProcessLauncher* launcher) : launcher_(launcher) {}
  JobOutcome Run(const JobSpec& spec, CancelToken* cancel, JobListener* listener) override;

 private:
  ProcessLauncher* launcher_;
};

std::string PulumiStackName(const JobSpec& spec);

// Files that hold secrets (a kubeconfig, resolved values, the stack input
// with provider credentials), present only while one engine step runs:
// written 0600 into the workspace when it starts and removed when it ends,
// so that a job awaiting approval or a crash of plinthd leaves none on disk.
//
//   StepSecretFiles files(spec.workspace_dir, secret_files);
//   if (!files.status().ok()) return files.status();
//   ... run the step ...
class StepSecretFiles {
 public:
  StepSecretFiles(const std::string& dir, const std::vector<std::pair<std::string, std::string>>& files);
  ~StepSecretFiles();
  StepSecretFiles(const StepSecretFiles&) = delete;
  StepSecretFiles& operator=(const StepSecretFiles&) = delete;
  const absl::Status& status() const { return status_; }
  const std::vector<std::string>& paths() const { return written_; }

 private:
  std::vector<std::string> written_;
  absl::Status status_;
};

// Writes `content` to a new file readable by its owner only (0600 from the
// moment it exists; a symlink in its place is refused).
absl::Status WriteOwnerOnlyFile(const std::string& path, const std::string& content);

}  // namespace plinth::engine

#endif  // PLINTH_ENGINE_STACK_JOB_H_
