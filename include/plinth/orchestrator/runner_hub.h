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
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
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
  // `cached_modules`: module archives the runner has (their files stay
  // home). Returns the SHA-256 of the module archive offered ("" for a Git
  // module, or when the offer could not be built: then it is declined).
  virtual std::string OfferStackJob(const WorkLease& lease, const engine::JobSpec& spec, bool require_approval,
                             const std::map<std::string, std::string>& state_files,
                             const std::set<std::string>& cached_modules) = 0;
  virtual void CancelWork(const WorkLease& lease, const std::string& reason) = 0;
  virtual void LoseLease(const WorkLease& lease, const std::string& reason) = 0;
  virtual void Decide(const WorkLease& lease, bool approved, const std::string& actor, const std::string& comment) = 0;
  // Cloud Ops: `payload` is the work as the api layer encoded it (opaque
  // here), and so is `input` (an exec's stdin, a resize).
  virtual void OfferOps(const WorkLease& lease, const std::string& payload) = 0;
  virtual void OpsInput(const WorkLease& lease, const std::string& input) = 0;
};

struct RunnerInfo {
  std::string id, name, pool;
  int max_jobs = 1;
  std::set<std::string> engines;
  std::set<std::string> connections;     // runner-held connections it has: "ORG/NAME"
  std::set<std::string> cached_modules;  // module archives it has unpacked
};

// One report of a runner about its work.
struct WorkReport {
  enum class Type { kLine, kEvent, kStepStarted, kAwaitingApproval, kCheckpoint };
  Type type = Type::kLine;
  engine::JobListener::Stream stream = engine::JobListener::Stream::kStdout;
  std::string step, text;
  engine::EngineEvent event;    // kEvent
  engine::JobOutcome planned;   // kAwaitingApproval: the plan so far
  std::map<std::string, std::string> files;  // kCheckpoint: Pulumi's file backend after a step
};

// How a job runs on a runner (RunnerHub::Run).
struct RemoteRun {
  std::string pool;
  const engine::JobSpec* spec = nullptr;
  engine::CancelToken* cancel = nullptr;
  engine::JobListener* listener = nullptr;
  // The resource's state directory, sent with the job.
  std::map<std::string, std::string> state_out;
  // Called once a runner holds the lease (to record it on the job).
  std::function<void(const std::string& runner_id, const std::string& runner_name, int64_t generation)> on_leased;
  // A Pulumi checkpoint sent after a step.
  std::function<void(std::map<std::string, std::string> files)> on_checkpoint;
  // After a plinthd restart: the lease the job held, and its runner,
  // waited for (lease time) to reconnect and go on.
  std::optional<WorkLease> resume;
  std::string resume_runner_id, resume_runner_name;
  // The last decline logged (the same one is not logged again).
  mutable std::string last_decline;
};

// How a Cloud Ops operation ended on its runner.
struct OpsEnd {
  absl::Status status;
  std::string result_json;
};

// One live Cloud Ops operation on a runner (RunnerHub::StartOps).
struct OpsCall {
  WorkLease lease;
  std::string runner_id, runner_name;
};

struct RemoteResult {
  engine::JobOutcome outcome;
  // What the runner sent back of the state directory (nullopt: nothing).
  std::optional<std::map<std::string, std::string>> state_back;
  // plinthd is stopping (Shutdown): the runner goes on with the job, whose
  // lease stays recorded; the next plinthd resumes it.
  bool detached = false;
};

class RunnerHub {
 public:
  explicit RunnerHub(absl::Duration lease_time = absl::Seconds(30));

  // The runner side (its stream). `held`: the leases the runner says it
  // holds (hello.leases). Returns those that are not current here: the
  // caller tells the runner to stop them. Leases of this runner it does not
  // name are lost (it restarted without them).
  std::vector<WorkLease> Attach(const RunnerInfo& runner, std::shared_ptr<RunnerChannel> channel,
                                const std::vector<WorkLease>& held);
  // Its stream ended: its leases last until they expire.
  void Detach(const std::string& runner_id, const RunnerChannel* channel);
  void Heartbeat(const std::string& runner_id);
  // False when the lease is not this runner's current one (the report is
  // refused, and the caller tells the runner it lost the lease).
  bool Report(const std::string& runner_id, const WorkLease& lease, std::vector<WorkReport> reports);
  bool Result(const std::string& runner_id, const WorkLease& lease, engine::JobOutcome outcome,
              std::optional<std::map<std::string, std::string>> state_files);
  // A reason "module not cached: <sha256>" makes the hub forget that the
  // runner has it; the next offer carries the files.
  bool Declined(const std::string& runner_id, const WorkLease& lease, const std::string& reason);
  // After a restart, before any runner connects: `lease` of `runner_id` is
  // still current (the job is resumed with Run), so the runner's hello that
  // names it keeps it.
  void Expect(const WorkLease& lease, const std::string& runner_id);
  // plinthd is stopping: every Run returns `detached` (the work stays with
  // its runner), and nothing new is offered.
  void Shutdown();
  // Work ids leased to the runner now.
  std::vector<std::string> Leased(const std::string& runner_id) const;

  // The plinthd side: runs the job on a runner of `run.pool`, or goes on
  // with `run.resume`.
  RemoteResult Run(const RemoteRun& run);

  // Cloud Ops. An operation goes to a connected runner of `pool` that holds
  // `connection` (any runner of the pool for a server-held one: "" ), takes
  // no job slot, and ends at once (UNAVAILABLE) when its runner's stream
  // ends or its lease runs out; it is never offered again.
  // UNAVAILABLE naming the pool and the connection when no runner can.
  absl::StatusOr<OpsCall> StartOps(const std::string& pool, const std::string& connection, const std::string& payload);
  // Output so far (kLine reports with the raw bytes in `text`), waiting up
  // to `wait` for some; once the operation ended, *end is set and the call
  // is forgotten.
  std::vector<WorkReport> PollOps(const OpsCall& call, absl::Duration wait, std::optional<OpsEnd>* end);
  void OpsInput(const OpsCall& call, const std::string& input);
  // The caller went: the runner stops it.
  void CancelOps(const OpsCall& call);
  // The runner's result for Cloud Ops work (false: not current).
  bool OpsResult(const std::string& runner_id, const WorkLease& lease, OpsEnd end);
  // Output buffered for calls whose reader is slow, in bytes.
  static constexpr size_t kMaxOpsBuffer = size_t{64} << 20;

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
    absl::Time since;      // leased (or resumed) at: its lease counts from here while the runner is away
    std::deque<WorkReport> reports;
    bool done = false;
    bool lost = false;
    std::string lost_why;
    bool declined = false;
    std::string declined_why;
    engine::JobOutcome outcome;
    std::optional<std::map<std::string, std::string>> state_files;
    // Signalled (under mu_) when reports arrive or the work ends. One per
    // work, not conditions on mu_: with 500 jobs watched, every unlock of
    // mu_ evaluated 500 conditions.
    absl::CondVar changed;
    // Cloud Ops work: not leased against the runner's slots.
    bool ops = false;
    std::optional<OpsEnd> ops_end;
    size_t buffered = 0;
  };
  std::string PickLocked(const std::string& pool, const engine::JobSpec& spec, const std::set<std::string>& exclude,
                         std::string* why) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LoseLocked(Work& work, const std::string& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::shared_ptr<RunnerChannel> ChannelLocked(const Work& work) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Relays the work's reports until it ends. *retry: offer it again.
  RemoteResult Watch(const RemoteRun& run, std::shared_ptr<Work> work, const std::string& runner_name, bool* retry);

  const absl::Duration lease_time_;
  mutable absl::Mutex mu_;
  std::map<std::string, Runner> runners_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<Work>> work_ ABSL_GUARDED_BY(mu_);
  // Starts at the clock's microseconds, so generations grow across restarts.
  int64_t next_generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace plinth::orchestrator

#endif  // PLINTH_ORCHESTRATOR_RUNNER_HUB_H_
