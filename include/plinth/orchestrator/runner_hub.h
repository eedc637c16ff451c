// The runners connected to this plinthd and the work leased to them. A
// worker of the StackJobRunner calls Run() for a job whose pool is not
// `local`; Run offers the job to a connected runner of that pool that has
// the engine and a free slot, relays the runner's reports to the job's
// listener (lines, events, the approval gate) and returns the job's
// outcome, as a local engine run does.
//
// Leases: every offer carries a generation; a report with another
// generation, or from another runner, is refused. A runner whose
// heartbeats stop for the lease time, or whose stream ends, loses its
// leases: work it had not started is offered again, work it had started
// ends interrupted (a fresh plan next, never a blind re-apply), and the
// runner is told to stop it (LoseLease).
//
// Thread-safe.
#ifndef PLINTH_ORCHESTRATOR_RUNNER_HUB_H_
#define PLINTH_ORCHESTRATOR_RUNNER_HUB_H_

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "plinth/engine/stack_job.h"

namespace plinth::orchestrator {

struct WorkLease {
  std::string work_id;
  int64_t generation = 0;
};

// What the hub asks of one runner's stream (implemented by the api layer).
class RunnerChannel {
 public:
  virtual ~RunnerChannel() = default;
  virtual void OfferStackJob(const WorkLease& lease, const engine::JobSpec& spec, bool require_approval,
                             const std::map<std::string, std::string>& state_files) = 0;
  virtual void CancelWork(const WorkLease& lease, const std::string& reason) = 0;
  virtual void LoseLease(const WorkLease& lease, const std::string& reason) = 0;
  virtual void Decide(const WorkLease& lease, bool approved, const std::string& actor, const std::string& comment) = 0;
};

struct RunnerInfo {
  std::string id, name, pool;
  int max_jobs = 1;
  std::set<std::string> engines;
};

// One report of a runner about its work.
struct WorkReport {
  enum class Type { kLine, kEvent, kStepStarted, kAwaitingApproval };
  Type type = Type::kLine;
  engine::JobListener::Stream stream = engine::JobListener::Stream::kStdout;
  std::string step, text;
  engine::EngineEvent event;    // kEvent
  engine::JobOutcome planned;   // kAwaitingApproval: the plan so far
};

class RunnerHub {
 public:
  explicit RunnerHub(absl::Duration lease_time = absl::Seconds(30)) : lease_time_(lease_time) {}

  // The runner side (its stream).
  void Attach(const RunnerInfo& runner, std::shared_ptr<RunnerChannel> channel);
  // Its stream ended: its leases are lost.
  void Detach(const std::string& runner_id, const RunnerChannel* channel);
  void Heartbeat(const std::string& runner_id);
  // False when the lease is not this runner's current one (the report is
  // refused, and the caller tells the runner it lost the lease).
  bool Report(const std::string& runner_id, const WorkLease& lease, std::vector<WorkReport> reports);
  bool Result(const std::string& runner_id, const WorkLease& lease, engine::JobOutcome outcome,
              std::optional<std::map<std::string, std::string>> state_files);
  bool Declined(const std::string& runner_id, const WorkLease& lease, const std::string& reason);
  // Work ids leased to the runner now.
  std::vector<std::string> Leased(const std::string& runner_id) const;

  // The plinthd side: runs the job on a runner of `pool`. `state_out`: the
  // resource's state directory, sent with the job; `state_back` gets what
  // the runner sends back after it (nullopt when it sent none).
  engine::JobOutcome Run(const std::string& pool, const engine::JobSpec& spec, engine::CancelToken* cancel,
                         engine::JobListener* listener, const std::map<std::string, std::string>& state_out,
                         std::optional<std::map<std::string, std::string>>* state_back);

 private:
  struct Runner {
    RunnerInfo info;
    std::shared_ptr<RunnerChannel> channel;
    absl::Time last_heartbeat;
    std::set<std::string> leased;
  };
  struct Work {
    WorkLease lease;
    std::string runner_id;
    bool started = false;  // a step began: losing it now interrupts the job
    std::deque<WorkReport> reports;
    bool done = false;
    bool lost = false;
    std::string lost_why;
    bool declined = false;
    std::string declined_why;
    engine::JobOutcome outcome;
    std::optional<std::map<std::string, std::string>> state_files;
  };
  // A runner of `pool` with the engine and a free slot, not in `exclude`;
  // else "" and why not in `why`.
  std::string PickLocked(const std::string& pool, const std::string& engine, const std::set<std::string>& exclude,
                         std::string* why) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LoseLocked(Work& work, const std::string& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::Duration lease_time_;
  mutable absl::Mutex mu_;
  std::map<std::string, Runner> runners_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<Work>> work_ ABSL_GUARDED_BY(mu_);
  int64_t next_generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace plinth::orchestrator

#endif  // PLINTH_ORCHESTRATOR_RUNNER_HUB_H_
