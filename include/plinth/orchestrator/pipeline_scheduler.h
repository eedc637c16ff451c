// The infra-pipeline scheduler: walks each pipeline's graph and hands ready
// nodes to the StackJobRunner as stack jobs.
//
// One scheduler thread owns every state change of pipelines and nodes. It
// wakes on a job's state change (the runner's observer), on a new pipeline,
// and every 200 ms; each round's changes are written in one transaction.
// Rules:
//   - a node runs when every upstream node succeeded; a failed, cancelled or
//     skipped upstream skips it (independent branches go on);
//   - at most max_parallel jobs of one pipeline at once (the runner adds the
//     global limit and one job per resource);
//   - two pipelines of one project never run at once: the later one waits,
//     queued;
//   - gates: the pipeline's (requires_manual_gate) before any node, a
//     node's (label plinth.dev/gate: manual, or flow control is_manual)
//     before its job, and the plan pause (flow control) inside the job.
// Crash recovery (Recover, after the runner's): nodes whose job was
// interrupted run again from a fresh plan; finished jobs are taken as they
// ended; succeeded nodes never run again.
//
// Thread-safe.
#ifndef PLINTH_ORCHESTRATOR_PIPELINE_SCHEDULER_H_
#define PLINTH_ORCHESTRATOR_PIPELINE_SCHEDULER_H_

#include <deque>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "plinth/core/clock.h"
#include "plinth/orchestrator/stack_job_runner.h"
#include "plinth/store/flow_control_store.h"
#include "plinth/store/infra_pipeline_store.h"
#include "plinth/store/infra_project_store.h"
#include "plinth/store/stack_job_store.h"

namespace plinth::orchestrator {

struct SchedulerSettings {
  // Jobs of one pipeline at once when the project does not say.
  int default_max_parallel = 4;
};

class PipelineScheduler {
 public:
  PipelineScheduler(SchedulerSettings settings, store::InfraPipelineStore* pipelines,
                    store::InfraProjectStore* projects, store::FlowControlStore* policies,
                    store::StackJobStore* jobs, StackJobRunner* runner, core::Clock* clock);
  ~PipelineScheduler();

  // After StackJobRunner::Recover and before StackJobRunner::Start: loads
  // the pipelines that had not ended and settles their nodes. Registers the
  // runner's observer.
  absl::Status Recover();
  void Start();
  // Stops the scheduler thread (pipelines stay as stored). Job changes
  // still arrive but are not applied; Recover settles them at the next start.
  void Stop();

  // A pipeline row was stored (by a project change): schedule it.
  void Wake(const std::string& pipeline_id);

  // FAILED_PRECONDITION for an ended pipeline.
  absl::StatusOr<store::PipelineRecord> Cancel(const std::string& id, const std::string& actor);
  // node "" = the pipeline's gate; else the node's index or kind/name (or
  // env/kind/name). FAILED_PRECONDITION when that gate is not waiting.
  absl::StatusOr<store::PipelineRecord> ResolveGate(const std::string& id, const std::string& node, bool approve,
                                                    const std::string& actor, const std::string& comment);

 private:
  struct Dirty {
    std::set<int> nodes;
    std::vector<store::GateDecisionRecord> decisions;
    std::vector<std::string> delete_resources;
    bool row = false;
    bool delete_project = false;
  };

  void Loop();
  void Round() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyJob(const store::StackJobRecord& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Plan(store::PipelineRecord* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Advance(store::PipelineRecord* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Settle(store::PipelineRecord* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues the jobs Advance chose, all in one transaction.
  void FlushSubmits() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Blocked(const std::string& pipeline_id, const store::PipelineRecord& p) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Persist() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Touch(store::PipelineRecord* p, int node = -1) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SchedulerSettings settings_;
  store::InfraPipelineStore* const pipelines_;
  store::InfraProjectStore* const projects_;
  store::FlowControlStore* const policies_;
  store::StackJobStore* const jobs_;
  StackJobRunner* const runner_;
  core::Clock* const clock_;

  // Events from other threads; never held with mu_ waiting on it.
  absl::Mutex events_mu_;
  std::deque<store::StackJobRecord> job_events_ ABSL_GUARDED_BY(events_mu_);
  std::vector<std::string> woken_ ABSL_GUARDED_BY(events_mu_);
  bool stopping_ ABSL_GUARDED_BY(events_mu_) = false;

  absl::Mutex mu_;
  std::map<std::string, store::PipelineRecord> active_ ABSL_GUARDED_BY(mu_);  // not ended
  std::map<std::string, std::pair<std::string, int>> job_nodes_ ABSL_GUARDED_BY(mu_);  // job -> pipeline, node
  std::set<std::string> rejected_jobs_ ABSL_GUARDED_BY(mu_);  // plans rejected through ResolveGate
  std::map<std::string, Dirty> dirty_ ABSL_GUARDED_BY(mu_);
  struct Submit {
    std::string pipeline_id;
    int node;
    StackJobRunner::JobRequest request;
  };
  std::vector<Submit> submits_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<std::string, int>> submitting_ ABSL_GUARDED_BY(mu_);
  // The running pipelines' revision manifests (what their jobs deploy).
  // pipeline id -> "env/kind/name" -> manifest.
  std::map<std::string, std::map<std::string, nlohmann::json>> revision_cache_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace plinth::orchestrator

#endif  // PLINTH_ORCHESTRATOR_PIPELINE_SCHEDULER_H_
