// The stack-job worker pool: jobs run in submission order, at most
// max_concurrent_jobs at once and at most one per cloud resource (the others
// wait, FIFO). A job resolves its references from the store, runs the engine
// for the resource's kind, streams its output into the job's event log, and
// leaves the resource's outputs behind.
//
//   StackJobRunner runner(settings, &jobs, &resources, catalog, &launcher, secret_box, clock);
//   PLINTH_RETURN_IF_ERROR(runner.Recover());   // after a crash: interrupted jobs, requeued ones
//   runner.Start();
//   auto job = runner.Submit(resource_id, "update", {}, "alice");
//
// Thread-safe.
#ifndef PLINTH_ORCHESTRATOR_STACK_JOB_RUNNER_H_
#define PLINTH_ORCHESTRATOR_STACK_JOB_RUNNER_H_

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "plinth/core/clock.h"
#include "plinth/core/metrics.h"
#include "plinth/core/secret_box.h"
#include "plinth/engine/module_source.h"
#include "plinth/engine/process.h"
#include "plinth/engine/stack_job.h"
#include "plinth/manifest/kind_catalog.h"
#include "plinth/orchestrator/runner_hub.h"
#include "plinth/store/runner_pool_store.h"
#include "plinth/store/connection_store.h"
#include "plinth/store/stack_job_store.h"
#include "plinth/store/state_store.h"

namespace plinth::orchestrator {

struct ModuleConfig {
  std::string engine;  // tofu, terraform or pulumi
  std::string source;  // a local module directory, or a Git URL
  std::string ref, subdir, connection;  // Git sources only
};

// Terraform/OpenTofu remote state for one env. Each resource's state is at
// <key or prefix setting>/<org>/<env>/<kind>/<name>.
struct BackendConfig {
  std::string type;  // s3, gcs or azurerm
  std::map<std::string, std::string> config;
};

struct EngineSettings {
  std::map<std::string, std::string> binaries;  // engine -> binary (path or name on PATH)
  std::map<std::string, ModuleConfig> modules;  // kind, or "default"
  std::map<std::string, BackendConfig> backends;  // env, or "default"; none = local
  std::string pulumi_passphrase;  // unless a Pulumi connection gives one
  int max_concurrent_jobs = 4;
  absl::Duration step_timeout = absl::Hours(2);
  absl::Duration kill_grace = absl::Seconds(30);
  size_t max_log_bytes = 64 << 20;
  std::string data_dir;  // workspaces/, state/, plugin-cache/ live here
  // Fetches Git module sources (src/gitsource's cache, passed down by the
  // server); null: Git sources fail with a clear error.
  engine::ModuleFetcher* module_fetcher = nullptr;
  // Job durations by operation and ends by state (null: not recorded).
  core::Metrics* metrics = nullptr;
  // Runners: jobs whose scope is bound to a pool other than `local` run on
  // a runner of that pool (both null: every job runs here).
  RunnerHub* runner_hub = nullptr;
  // Engine state kept by plinthd (versions, sealed). Jobs on runners use
  // plinthd's http backend at state_url() + "/v1/state/<resource id>" when
  // the env names no backend; "" (HTTP side off) ships the state directory
  // with the job instead. Local jobs keep their state file, and a version
  // of it here after each job.
  store::StateStore* states = nullptr;
  std::function<std::string()> state_url;
  std::string state_token_key;
  const store::RunnerPoolStore* runner_pools = nullptr;
};

class StackJobRunner {
 public:
  // `connections` may be null: jobs then run with ambient credentials only.
  StackJobRunner(EngineSettings settings, store::StackJobStore* jobs, store::CloudResourceStore* resources,
                 store::ConnectionStore* connections, const manifest::KindCatalog* catalog,
                 engine::ProcessLauncher* launcher, const core::SecretBox* secrets, core::Clock* clock);
  // Cancels running jobs (gracefully) and joins the workers.
  ~StackJobRunner();

  // At start, before Start(): queued jobs are queued again. A job left
  // running by a previous plinthd whose engine step still runs (or ended
  // while plinthd was down) under plinth-step is adopted: the step is
  // followed to its end from Start() on (its output joins the job's log, its
  // end is recorded), never killed; then, like a job whose step is gone, it
  // ends interrupted and a pipeline runs it again from a fresh plan.
  absl::Status Recover();
  // True while a job left running by a previous plinthd is being followed.
  bool Adopting(const std::string& job_id) const;
  // Called (on a worker thread, without the runner's lock) after every
  // stored state change of a job: running, awaiting_approval, back to
  // running after an approval, and its end. Set before Start().
  using JobObserver = std::function<void(const store::StackJobRecord&)>;
  void SetObserver(JobObserver observer) { observer_ = std::move(observer); }
  void Start();

  // INVALID_ARGUMENT for an unknown operation; NOT_FOUND for the resource.
  // Options: skipRefresh, requireApproval, connection, directApply (no saved
  // plan), manifest (deploy this manifest instead of the stored one: a
  // pipeline deploys its revision's), pipeline + groupLimit (at most that
  // many jobs of the pipeline run at once; the others wait in the queue),
  // and anything else the caller wants kept on the job (node).
  absl::StatusOr<store::StackJobRecord> Submit(const std::string& resource_id, const std::string& operation,
                                               const nlohmann::json& options, const std::string& actor);
  struct JobRequest {
    std::string resource_id, operation;
    nlohmann::json options;
    std::string actor;
  };
  // Several jobs queued in one transaction; per request a job or the reason
  // it could not be queued (nothing is queued when the write fails).
  std::vector<absl::StatusOr<store::StackJobRecord>> SubmitBatch(const std::vector<JobRequest>& requests);
  // A queued job is cancelled at once; a running one gets SIGINT (then
  // SIGKILL after the grace period). FAILED_PRECONDITION for a finished job.
  absl::StatusOr<store::StackJobRecord> Cancel(const std::string& job_id, const std::string& actor);
  // Approves (the saved plan is applied) or rejects (the job ends cancelled)
  // a job awaiting approval; FAILED_PRECONDITION for any other job.
  absl::StatusOr<store::StackJobRecord> Resolve(const std::string& job_id, bool approve, const std::string& actor,
                                                const std::string& comment);

  int running() const;
  // Worker threads started (0 before Start).
  int workers() const { return static_cast<int>(workers_.size()); }
  int queued() const;

 private:
  void WorkerLoop();
  // `resume`: a job a previous plinthd left running on a runner; its runner
  // goes on with it once it reconnects (within the lease time).
  void Execute(store::StackJobRecord job, bool resume = false);
  // The pool bound to the resource's scope (its org, env and labels), else
  // `local`.
  absl::StatusOr<std::string> PoolOf(const store::CloudResourceRecord& resource) const;
  // Everything the engine needs for `job` (references resolved, module,
  // connection, backend, what to redact), the job's engine-related fields
  // filled in; lines for the log before the engine starts go to `preamble`,
  // and the deployed manifest's digest to `digest`. An error ends the job
  // failed with its message.
  absl::StatusOr<engine::JobSpec> BuildSpec(store::StackJobRecord& job, const store::CloudResourceRecord* resource,
                                            const ModuleConfig& module, const std::string& binary, bool remote,
                                            std::vector<store::JobEvent>* preamble, std::string* digest);
  // Follows the steps a previous plinthd left running for `job`, then ends it.
  void Adopt(store::StackJobRecord job, std::vector<engine::LeftStep> steps);
  std::string WorkspaceOf(const std::string& job_id) const;
  // The state file of a job plinthd runs with local state: the latest kept
  // version is put there first (the resource may have run on a runner
  // before), and what the job leaves is kept as a new version.
  void RestoreLocalState(const store::StackJobRecord& job, const engine::JobSpec& spec);
  void KeepLocalState(const store::StackJobRecord& job, const engine::JobSpec& spec);
  bool NextJob(std::string* job_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const EngineSettings settings_;

  store::StackJobStore* const jobs_;
  store::CloudResourceStore* const resources_;
  store::ConnectionStore* const connections_;
  const manifest::KindCatalog* const catalog_;
  engine::ProcessLauncher* const launcher_;
  const core::SecretBox* const secrets_;
  core::Clock* const clock_;
  JobObserver observer_;

  struct Decision {
    bool decided = false;
    bool approved = false;
    std::string actor, comment;
  };

  mutable absl::Mutex mu_;
  std::map<std::string, Decision> decisions_ ABSL_GUARDED_BY(mu_);  // jobs awaiting approval
  struct Queued {
    std::string job_id, resource_id;
    // Jobs of one group (a pipeline) run at most `group_limit` at once.
    std::string group;
    int group_limit = 0;
  };
  bool Startable(const Queued& q) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::deque<Queued> queue_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> group_running_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> job_group_ ABSL_GUARDED_BY(mu_);  // running job -> group
  std::set<std::string> busy_resources_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<engine::CancelToken>> cancels_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Jobs Recover found with a live step, followed from Start().
  std::vector<std::pair<store::StackJobRecord, std::vector<engine::LeftStep>>> to_adopt_;
  std::set<std::string> adopting_ ABSL_GUARDED_BY(mu_);
  // Jobs Recover found leased to a runner, resumed from Start().
  std::vector<store::StackJobRecord> to_resume_;
  std::vector<std::thread> workers_;
};

}  // namespace plinth::orchestrator

#endif  // PLINTH_ORCHESTRATOR_STACK_JOB_RUNNER_H_
