// The stack-job repository: jobs, their ordered event/log stream, and the
// resource outputs a finished job leaves behind.
//
// Thread-safe; every method blocks on SQLite.
#ifndef PLINTH_STORE_STACK_JOB_STORE_H_
#define PLINTH_STORE_STACK_JOB_STORE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "plinth/core/clock.h"
#include "plinth/store/cloud_resource_store.h"
#include "plinth/store/database.h"

namespace plinth::store {

// A stack job's state. Stored and shown by the API under its name
// (JobStateName), the API's StackJobState without its prefix.
enum class JobState { kQueued, kRunning, kAwaitingApproval, kSucceeded, kFailed, kCancelled, kInterrupted };

// "queued", "running", "awaiting_approval", "succeeded", "failed",
// "cancelled", "interrupted".
absl::string_view JobStateName(JobState state);
// The state of a name JobStateName gives; nullopt for any other.
std::optional<JobState> ParseJobState(absl::string_view name);

struct StackJobRecord {
  std::string id;
  int64_t seq = 0;
  std::string resource_id;
  CloudResourceKey key;
  std::string operation;
  JobState state = JobState::kQueued;
  nlohmann::json options = nlohmann::json::object();
  std::string engine, engine_version, module_source, module_revision;
  std::string connection_id, connection_reason;
  nlohmann::json steps = nlohmann::json::array();
  nlohmann::json summary;  // null until known
  nlohmann::json resources = nlohmann::json::array();
  nlohmann::json diagnostics = nlohmann::json::array();
  nlohmann::json outputs;  // sensitive values shown as "<sensitive>"
  std::string error;
  int64_t pgid = 0;
  bool cancel_requested = false;
  int64_t log_bytes = 0;
  // The runner holding (or last holding) the job's lease; "" for local.
  std::string runner_id, runner_name, runner_pool;
  int64_t lease_generation = 0;
  absl::Time created_at;
  std::string created_by;
  std::optional<absl::Time> started_at, ended_at;

  bool Terminal() const {
    return state == JobState::kSucceeded || state == JobState::kFailed || state == JobState::kCancelled ||
           state == JobState::kInterrupted;
  }
};

struct JobEvent {
  int64_t seq = 0;
  absl::Time at;
  std::string type;  // stdout, stderr, system, event, state
  std::string step;
  std::string text;
  nlohmann::json data;  // null for lines
};

struct StackJobPage {
  std::vector<StackJobRecord> items;
  std::string next_page_token;
};

class StackJobStore {
 public:
  StackJobStore(Database* db, core::Clock* clock) : db_(db), clock_(clock) {}

  // A new queued job for the resource; its seq orders it among all jobs.
  absl::StatusOr<StackJobRecord> Create(const CloudResourceRecord& resource, const std::string& operation,
                                        const nlohmann::json& options, const std::string& actor);
  struct NewJob {
    const CloudResourceRecord* resource;
    std::string operation;
    nlohmann::json options;
  };
  // Several jobs in one transaction (all or none), seqs in this order.
  absl::StatusOr<std::vector<StackJobRecord>> CreateBatch(const std::vector<NewJob>& jobs, const std::string& actor);
  absl::StatusOr<StackJobRecord> Get(const std::string& id) const;
  // Newest first. Filters: resource id, state ("" = any).
  absl::StatusOr<StackJobPage> List(const std::string& resource_id, const std::string& state, int page_size,
                                    const std::string& page_token) const;
  // Jobs in these states, oldest first.
  absl::StatusOr<std::vector<StackJobRecord>> ListByState(const std::vector<JobState>& states) const;

  // What a finished job leaves on its resource (see SetResourceOutputs).
  struct ResourceOutputs {
    std::string resource_id;
    nlohmann::json outputs;
    std::string sealed_sensitive;
    bool deployed = false;
    std::string deployed_digest;
  };
  // How many jobs are in each state.
  absl::StatusOr<std::map<std::string, int64_t>> CountByState() const;

  // Writes the job row as it is now (state, steps, summary ...). The state
  // change, the "state" event and, when given, the resource's outputs are
  // one transaction.
  absl::Status Save(const StackJobRecord& job, const std::string& state_event = "",
                    const ResourceOutputs* outputs = nullptr);
  // The runner a job is leased to (RunnerHub), kept so that a restarted
  // plinthd goes on with the job when that runner reconnects.
  absl::Status SetLease(const std::string& id, const std::string& runner_id, const std::string& runner_name,
                        const std::string& pool, int64_t generation);
  absl::Status SetPgid(const std::string& id, int64_t pgid);
  // Marks a cancel request; returns the job as it is.
  absl::StatusOr<StackJobRecord> RequestCancel(const std::string& id);

  // Appends events with consecutive seqs after the job's last, in one
  // transaction, and adds their text bytes to log_bytes. With pgid >= 0 the
  // job's recorded process group is set in the same transaction.
  absl::Status AppendEvents(const std::string& job_id, std::vector<JobEvent> events, int64_t pgid = -1);
  // Events with seq > after_seq, at most `limit`.
  absl::StatusOr<std::vector<JobEvent>> Events(const std::string& job_id, int64_t after_seq, int limit) const;

  // The resource's outputs after a job: `outputs` (sensitive values replaced
  // by "<sensitive>"), the sealed sensitive values, whether deployed, and
  // the digest of the manifest that was deployed (pipelines compare it).
  absl::Status SetResourceOutputs(const std::string& resource_id, const nlohmann::json& outputs,
                                  const std::string& sealed_sensitive, bool deployed,
                                  const std::string& deployed_digest = "");
  // The sealed sensitive outputs of a resource ("" when none).
  absl::StatusOr<std::string> SealedOutputs(const std::string& resource_id) const;

 private:
  Database* db_;
  core::Clock* clock_;
};

}  // namespace plinth::store

#endif  // PLINTH_STORE_STACK_JOB_STORE_H_
