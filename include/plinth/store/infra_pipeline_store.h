// The infra-pipeline repository: pipelines, their nodes and gate decisions.
// The scheduler (src/orchestrator) owns the state machine; this stores it.
// A pipeline row is also written by InfraProjectStore, in the transaction of
// the project change that starts it.
//
// Thread-safe; every method blocks on SQLite.
#ifndef PLINTH_STORE_INFRA_PIPELINE_STORE_H_
#define PLINTH_STORE_INFRA_PIPELINE_STORE_H_

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
#include "plinth/store/database.h"

namespace plinth::store {

// A pipeline node's state. Stored and shown by the API under its name
// (NodeStateName), the API's PipelineNodeState without its prefix.
enum class NodeState { kQueued, kRunning, kAwaitingApproval, kSucceeded, kFailed, kCancelled, kSkipped };
// A pipeline's state, likewise (InfraPipelineState).
enum class PipelineState { kQueued, kRunning, kAwaitingApproval, kSucceeded, kFailed, kCancelled };

// "queued", "running", "awaiting_approval", "succeeded", "failed",
// "cancelled", "skipped".
absl::string_view NodeStateName(NodeState state);
// "queued", "running", "awaiting_approval", "succeeded", "failed", "cancelled".
absl::string_view PipelineStateName(PipelineState state);
// The state of a name the function above gives; nullopt for any other.
std::optional<NodeState> ParseNodeState(absl::string_view name);
std::optional<PipelineState> ParsePipelineState(absl::string_view name);

// What a node's plan said it would change (the counts of its job's summary).
struct NodeSummary {
  int add = 0, change = 0, remove = 0, replace = 0;
  std::string operation;
};

struct PipelineNodeRecord {
  int idx = 0;
  std::string env, kind, name, resource_id;
  int layer = 0;
  std::string operation;  // update, destroy, preview, destroy_preview
  std::vector<int> upstream;
  NodeState state = NodeState::kQueued;
  std::string job_id;
  std::string gate;      // "" or "manual"
  std::string awaiting;  // "gate" or "plan" while awaiting_approval
  bool gate_approved = false;
  std::optional<NodeSummary> summary;  // none until a plan is known
  int attempts = 0;
  std::string error;
  std::optional<absl::Time> started_at, ended_at;

  bool Terminal() const {
    return state == NodeState::kSucceeded || state == NodeState::kFailed || state == NodeState::kCancelled ||
           state == NodeState::kSkipped;
  }
  std::string Target() const { return kind + "/" + name; }
};

struct GateDecisionRecord {
  int node = -1;  // -1: the pipeline's gate
  std::string target;
  std::string stage;  // gate or plan
  bool approved = false;
  std::string actor, comment;
  absl::Time at;
};

struct PipelineRecord {
  std::string id;
  int64_t seq = 0;
  std::string project_id, org, env, project_name;
  int64_t revision = 0;
  std::string commit;  // Git projects: the commit it deploys
  // A pull request's plan (preview_only): the manifests it plans, instead of
  // its revision's. Null for every other pipeline.
  nlohmann::json manifests;
  std::string kind = "deploy";  // deploy or undeploy
  std::string trigger;          // create, update, rollback, run, undeploy, purge
  PipelineState state = PipelineState::kQueued;
  bool preview_only = false;
  bool purge_after = false;
  std::string gate;  // "", waiting, approved, rejected
  int max_parallel = 0;
  bool cancel_requested = false;
  bool planned = false;  // nodes computed
  nlohmann::json notes = nlohmann::json::array();
  std::string error;
  int64_t change = 0;
  absl::Time created_at;
  std::string created_by;
  std::optional<absl::Time> started_at, ended_at;
  std::vector<PipelineNodeRecord> nodes;
  std::vector<GateDecisionRecord> decisions;

  bool Terminal() const {
    return state == PipelineState::kSucceeded || state == PipelineState::kFailed || state == PipelineState::kCancelled;
  }
};

struct PipelinePage {
  std::vector<PipelineRecord> items;
  std::string next_page_token;
};

// One pipeline's changes, written with others in one transaction.
struct PipelineWrite {
  const PipelineRecord* pipeline = nullptr;  // the row (change already bumped by the caller)
  std::vector<int> nodes;                    // node indexes to write (inserted or replaced)
  std::vector<GateDecisionRecord> decisions;  // new decisions (also audited)
  // After a destroy removed them from the project: delete these resource rows.
  std::vector<std::string> delete_resources;
  // Purge succeeded: delete the project record and its remaining resources.
  bool delete_project = false;
};

class InfraPipelineStore {
 public:
  InfraPipelineStore(Database* db, core::Clock* clock) : db_(db), clock_(clock) {}

  // With nodes and decisions. NOT_FOUND when missing.
  absl::StatusOr<PipelineRecord> Get(const std::string& id) const;
  // A project's pipelines, newest first, with nodes.
  absl::StatusOr<PipelinePage> List(const std::string& project_id, int page_size, const std::string& page_token) const;
  // The newest pipeline of a project; NOT_FOUND when it has none.
  absl::StatusOr<PipelineRecord> Last(const std::string& project_id) const;
  // Pipelines not yet ended, oldest first, with nodes.
  absl::StatusOr<std::vector<PipelineRecord>> ListActive() const;
  // Pipeline ids of a project revision, oldest first.
  absl::StatusOr<std::vector<std::string>> IdsForRevision(const std::string& project_id, int64_t revision) const;

  // How many pipelines are in each state.
  absl::StatusOr<std::map<std::string, int64_t>> CountByState() const;

  // Everything in one transaction.
  absl::Status Save(const std::vector<PipelineWrite>& writes);

 private:
  Database* db_;
  core::Clock* clock_;
};

}  // namespace plinth::store

#endif  // PLINTH_STORE_INFRA_PIPELINE_STORE_H_
