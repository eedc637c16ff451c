#include "plinth/orchestrator/pipeline_scheduler.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "plinth/core/error_reason.h"
#include "plinth/core/logging.h"
#include "plinth/core/secret_box.h"
#include "plinth/core/status_macros.h"
#include "plinth/graph/graph.h"
#include "plinth/manifest/module_variables.h"
#include "plinth/orchestrator/stored_manifests.h"

namespace plinth::orchestrator {
namespace {

using nlohmann::json;
using store::NodeState;
using store::NodeStateName;
using store::PipelineNodeRecord;
using store::PipelineRecord;
using store::PipelineState;
using store::PipelineStateName;

constexpr char kGateLabel[] = "plinth.dev/gate";

bool Lifecycle(const std::string& trigger) {
  return trigger == "create" || trigger == "update" || trigger == "rollback" || trigger == "push" ||
         trigger == "pull_request";
}

std::string LabelOf(const json& body, const std::string& key) {
  const json* labels = manifest::JsonAtPath(body, "metadata.labels");
  if (labels == nullptr || !labels->is_object()) return "";
  auto it = labels->find(key);
  return it != labels->end() && it->is_string() ? it->get<std::string>() : "";
}

// Each node's layer: 0 without upstream, else 1 + the deepest upstream's.
void AssignLayers(std::vector<PipelineNodeRecord>* nodes) {
  for (auto& n : *nodes) {
    n.layer = 0;
    for (int u : n.upstream) n.layer = std::max(n.layer, (*nodes)[u].layer + 1);
  }
}

}  // namespace

PipelineScheduler::PipelineScheduler(SchedulerSettings settings, store::InfraPipelineStore* pipelines,
                                     store::InfraProjectStore* projects, store::FlowControlStore* policies,
                                     store::StackJobStore* jobs, StackJobRunner* runner, core::Clock* clock)
    : settings_(settings), pipelines_(pipelines), projects_(projects), policies_(policies), jobs_(jobs),
      runner_(runner), clock_(clock) {}

PipelineScheduler::~PipelineScheduler() { Stop(); }

void PipelineScheduler::Stop() {
  {
    absl::MutexLock lock(&events_mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::Status PipelineScheduler::Recover() {
  runner_->SetObserver([this](const store::StackJobRecord& job) {
    if (!job.options.contains("pipeline")) return;
    absl::MutexLock lock(&events_mu_);
    job_events_.push_back(job);
  });
  PLINTH_ASSIGN_OR_RETURN(auto active, pipelines_->ListActive());
  PLINTH_ASSIGN_OR_RETURN(auto queued_jobs, jobs_->ListByState({store::JobState::kQueued}));
  // Jobs a pipeline created but did not record (plinthd died in between).
  std::map<std::pair<std::string, int>, std::string> unrecorded;
  for (const auto& j : queued_jobs) {
    if (j.options.contains("pipeline")) {
      unrecorded[{j.options.value("pipeline", ""), j.options.value("node", -1)}] = j.id;
    }
  }
  auto log = core::Logger("pipelines");
  absl::MutexLock lock(&mu_);
  std::vector<store::StackJobRecord> ended;
  for (auto& p : active) {
    for (auto& n : p.nodes) {
      if (!n.job_id.empty()) {
        unrecorded.erase({p.id, n.idx});
        auto job = jobs_->Get(n.job_id);
        if (job.ok() &&
            (job->state == store::JobState::kQueued ||
             ((job->state == store::JobState::kRunning || job->state == store::JobState::kAwaitingApproval) &&
              runner_->Adopting(job->id)))) {
          // Queued again, or its step outlived the previous plinthd and is
          // followed to its end: the node waits for the job's end.
          job_nodes_[job->id] = {p.id, n.idx};
          continue;
        }
        if (job.ok() && job->Terminal() && job->state != store::JobState::kInterrupted) {
          // It ended while plinthd was down (or before its end was
          // recorded here): the node takes that end, below.
          job_nodes_[job->id] = {p.id, n.idx};
          ended.push_back(std::move(*job));
          continue;
        }
        p.notes.push_back(absl::StrCat(n.Target(), ": its job ", n.job_id,
                                       " was interrupted by a plinthd restart; a new job runs from a fresh plan"));
        log->warn("pipeline={} node={} job={} interrupted; running it again", p.id, n.Target(), n.job_id);
        n.job_id.clear();
        n.state = NodeState::kQueued;
        n.awaiting.clear();
        n.error.clear();
        dirty_[p.id].nodes.insert(n.idx);
        dirty_[p.id].row = true;
      } else if (n.state == NodeState::kRunning || (n.state == NodeState::kAwaitingApproval && n.awaiting == "plan")) {
        n.state = NodeState::kQueued;
        n.awaiting.clear();
        dirty_[p.id].nodes.insert(n.idx);
      }
      if (n.state == NodeState::kQueued && n.job_id.empty()) {
        auto it = unrecorded.find({p.id, n.idx});
        if (it != unrecorded.end()) {
          n.job_id = it->second;
          n.attempts += 1;
          job_nodes_[it->second] = {p.id, n.idx};
          dirty_[p.id].nodes.insert(n.idx);
          unrecorded.erase(it);
        }
      }
    }
    active_[p.id] = std::move(p);
  }
  for (const auto& job : ended) ApplyJob(job);
  for (const auto& [where, job_id] : unrecorded) {
    runner_->Cancel(job_id, "plinthd (its pipeline no longer needs it)").IgnoreError();
  }
  for (auto& [id, d] : dirty_) {
    d.row = true;
    active_[id].change += 1;
  }
  return Persist();
}

void PipelineScheduler::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void PipelineScheduler::Wake(const std::string& pipeline_id) {
  absl::MutexLock lock(&events_mu_);
  woken_.push_back(pipeline_id);
}

void PipelineScheduler::Loop() {
  for (;;) {
    {
      absl::MutexLock lock(&events_mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(events_mu_) {
        return stopping_ || !job_events_.empty() || !woken_.empty();
      };
      events_mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(200));
      if (stopping_) return;
    }
    absl::MutexLock lock(&mu_);
    Round();
  }
}

void PipelineScheduler::Touch(PipelineRecord* p, int node) {
  Dirty& d = dirty_[p->id];
  if (!d.row) p->change += 1;
  d.row = true;
  if (node >= 0) d.nodes.insert(node);
}

void PipelineScheduler::Round() {
  std::deque<store::StackJobRecord> events;
  std::vector<std::string> woken;
  {
    absl::MutexLock lock(&events_mu_);
    events.swap(job_events_);
    woken.swap(woken_);
  }
  for (const auto& id : woken) {
    if (active_.count(id)) continue;
    auto p = pipelines_->Get(id);
    if (!p.ok()) {
      core::Logger("pipelines")->error("pipeline={} cannot be loaded: {}", id, p.status().message());
      continue;
    }
    if (!p->Terminal()) active_[id] = std::move(*p);
  }
  for (const auto& job : events) ApplyJob(job);
  // A pipeline that ends lets the next one of its project start: go round
  // again until nothing ends.
  for (int pass = 0; pass < 8; ++pass) {
    std::vector<PipelineRecord*> order;
    for (auto& [id, p] : active_) order.push_back(&p);
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->seq < b->seq; });
    for (auto* p : order) Advance(p);
    FlushSubmits();
    if (!Persist().ok()) return;  // retried next round
    bool ended = false;
    for (auto it = active_.begin(); it != active_.end();) {
      if (it->second.Terminal()) {
        core::Logger("pipelines")
            ->info("pipeline={} project={} ended {}{}", it->first, it->second.project_name,
                   PipelineStateName(it->second.state), it->second.error.empty() ? "" : ": " + it->second.error);
        it = active_.erase(it);
        ended = true;
      } else {
        ++it;
      }
    }
    if (!ended) break;
  }
}

void PipelineScheduler::ApplyJob(const store::StackJobRecord& job) {
  auto where = job_nodes_.find(job.id);
  if (where == job_nodes_.end()) return;
  auto pit = active_.find(where->second.first);
  if (pit == active_.end()) return;
  PipelineRecord& p = pit->second;
  PipelineNodeRecord& n = p.nodes[where->second.second];
  if (n.job_id != job.id) return;
  absl::Time now = clock_->Now();
  if (job.summary.is_object()) {
    n.summary = store::NodeSummary{job.summary.value("add", 0), job.summary.value("change", 0),
                                   job.summary.value("remove", 0), job.summary.value("replace", 0),
                                   job.summary.value("operation", "")};
  }
  if (job.state == store::JobState::kRunning) {
    n.state = NodeState::kRunning;
    n.awaiting.clear();
    if (!n.started_at) n.started_at = job.started_at ? *job.started_at : now;
  } else if (job.state == store::JobState::kAwaitingApproval) {
    n.state = NodeState::kAwaitingApproval;
    n.awaiting = "plan";
  } else if (job.state == store::JobState::kInterrupted) {
    // A restart cut it short (its step, if one was running, was followed
    // to its end): the node runs again, from a fresh plan.
    p.notes.push_back(absl::StrCat(n.Target(), ": its job ", job.id,
                                   " was interrupted by a plinthd restart; a new job runs from a fresh plan"));
    core::Logger("pipelines")->warn("pipeline={} node={} job={} interrupted; running it again", p.id, n.Target(), job.id);
    job_nodes_.erase(where);
    n.job_id.clear();
    n.state = NodeState::kQueued;
    n.awaiting.clear();
    n.error.clear();
    dirty_[p.id].row = true;
  } else if (job.Terminal()) {
    n.ended_at = job.ended_at ? *job.ended_at : now;
    if (!n.started_at) n.started_at = n.ended_at;
    n.awaiting.clear();
    if (job.state == store::JobState::kSucceeded) {
      n.state = NodeState::kSucceeded;
      n.error.clear();
      if (p.kind == "deploy" && n.operation == "destroy") dirty_[p.id].delete_resources.push_back(n.resource_id);
    } else if (job.state == store::JobState::kCancelled && !rejected_jobs_.count(job.id)) {
      n.state = NodeState::kCancelled;
      n.error = job.error;
    } else {
      n.state = NodeState::kFailed;
      n.error = job.error.empty() ? absl::StrCat("stack job ", job.id, " ", store::JobStateName(job.state)) : job.error;
    }
    rejected_jobs_.erase(job.id);
    job_nodes_.erase(where);
  } else {
    n.state = NodeState::kQueued;
  }
  Touch(&p, n.idx);
}

bool PipelineScheduler::Blocked(const std::string& pipeline_id, const PipelineRecord& p) const {
  for (const auto& [id, other] : active_) {
    if (id != pipeline_id && other.project_id == p.project_id && other.seq < p.seq && !other.Terminal()) return true;
  }
  return false;
}

absl::Status PipelineScheduler::Plan(PipelineRecord* p) {
  PLINTH_ASSIGN_OR_RETURN(auto project, projects_->Get({.id = p->project_id}));
  PLINTH_ASSIGN_OR_RETURN(auto revision, projects_->GetRevision(p->project_id, p->revision));
  PLINTH_ASSIGN_OR_RETURN(auto owned, projects_->OwnedResources(p->project_id));
  std::map<std::string, const store::CloudResourceRecord*> by_key;
  for (const auto& r : owned) by_key[r.key.env + "/" + r.key.kind + "/" + r.key.name] = &r;
  std::vector<PipelineNodeRecord>& nodes = p->nodes;
  nodes.clear();
  auto add = [&](const store::CloudResourceRecord& r, const std::string& op, std::vector<int> upstream,
                 const json& body) -> absl::StatusOr<int> {
    PLINTH_ASSIGN_OR_RETURN(auto policy, policies_->Effective(r.key.org, r.key.env, r.key.kind, r.key.name));
    PipelineNodeRecord n;
    n.idx = static_cast<int>(nodes.size());
    n.env = r.key.env;
    n.kind = r.key.kind;
    n.name = r.key.name;
    n.resource_id = r.id;
    n.operation = p->preview_only ? (op == "destroy" ? "destroy_preview" : "preview") : op;
    n.upstream = std::move(upstream);
    if (policy.is_manual || LabelOf(body, kGateLabel) == "manual") n.gate = "manual";
    nodes.push_back(std::move(n));
    return nodes.back().idx;
  };

  // A pull request's plan plans its own manifests against what is deployed.
  const bool speculative = p->manifests.is_array();
  std::vector<manifest::Manifest> current = FromStoredManifests(speculative ? p->manifests : revision.manifests);
  std::set<std::string> in_revision;
  if (p->kind == "deploy") {
    PLINTH_ASSIGN_OR_RETURN(auto g, graph::Graph::Build(current));
    std::vector<int> node_of(current.size(), -1);
    for (int gi : g.Order()) {
      const manifest::Manifest& m = current[gi];
      std::string key = m.env + "/" + m.kind + "/" + m.name;
      in_revision.insert(key);
      auto it = by_key.find(key);
      if (it == by_key.end() && speculative) {
        p->notes.push_back(absl::StrCat(m.KindName(), ": new in commit ", p->commit.substr(0, 12),
                                        "; it has no stack until it is deployed, so all of it would be created"));
        continue;
      }
      if (it == by_key.end()) {
        return core::WithReason(absl::FailedPreconditionError(absl::StrCat(
                                    "cloud resource ", m.org, "/", key, " of this revision is gone from the catalog")),
                                "RESOURCE_GONE");
      }
      const store::CloudResourceRecord& r = *it->second;
      PLINTH_ASSIGN_OR_RETURN(auto policy, policies_->Effective(m.org, m.env, m.kind, m.name));
      bool changed = !r.deployed || r.deployed_digest != core::ContentDigest(m.body.dump());
      if (p->trigger != "run" && !changed) {
        p->notes.push_back(absl::StrCat(m.KindName(), ": unchanged since its last deploy"));
        continue;
      }
      if (Lifecycle(p->trigger) && policy.disable_on_lifecycle_events) {
        p->notes.push_back(absl::StrCat(m.KindName(), ": left out: its flow-control policy (", policy.scope,
                                        ") disables it on lifecycle events; run-pipeline deploys it"));
        continue;
      }
      std::vector<int> up;
      for (int u : g.upstream(gi)) {
        if (node_of[u] >= 0) up.push_back(node_of[u]);
      }
      PLINTH_ASSIGN_OR_RETURN(node_of[gi], add(r, "update", std::move(up), m.body));
    }
    // Resources a revision no longer has: destroyed after every deploy
    // node succeeded (the new revision is in place before the old goes),
    // dependents before their dependencies.
    std::vector<const store::CloudResourceRecord*> removed;
    for (const auto& r : owned) {
      if (!in_revision.count(r.key.env + "/" + r.key.kind + "/" + r.key.name)) removed.push_back(&r);
    }
    if (!removed.empty()) {
      std::vector<int> deploys;
      for (const auto& n : nodes) deploys.push_back(n.idx);
      json bodies = json::array();
      for (const auto* r : removed) bodies.push_back(r->manifest);
      std::vector<manifest::Manifest> old = FromStoredManifests(bodies);
      auto g = graph::Graph::Build(old);
      std::vector<int> node_of(removed.size(), -1);
      std::vector<int> order;
      if (g.ok()) {
        order = g->ReverseOrder();
      } else {
        for (size_t i = 0; i < removed.size(); ++i) order.push_back(static_cast<int>(i));
      }
      for (int gi : order) {
        std::vector<int> up = deploys;
        if (g.ok()) {
          for (int d : g->downstream(gi)) {
            if (node_of[d] >= 0) up.push_back(node_of[d]);
          }
        }
        PLINTH_ASSIGN_OR_RETURN(node_of[gi], add(*removed[gi], "destroy", std::move(up), removed[gi]->manifest));
      }
    }
  } else {
    json bodies = json::array();
    for (const auto& r : owned) bodies.push_back(r.manifest);
    std::vector<manifest::Manifest> all = FromStoredManifests(bodies);
    auto g = graph::Graph::Build(all);
    std::vector<int> order;
    if (g.ok()) {
      order = g->ReverseOrder();
    } else {
      for (size_t i = 0; i < owned.size(); ++i) order.push_back(static_cast<int>(i));
    }
    std::vector<int> node_of(owned.size(), -1);
    for (int gi : order) {
      std::vector<int> up;
      if (g.ok()) {
        for (int d : g->downstream(gi)) {
          if (node_of[d] >= 0) up.push_back(node_of[d]);
        }
      }
      PLINTH_ASSIGN_OR_RETURN(node_of[gi], add(owned[gi], "destroy", std::move(up), owned[gi].manifest));
    }
  }
  AssignLayers(&nodes);
  if (!p->preview_only) {
    PLINTH_ASSIGN_OR_RETURN(auto env_policy, policies_->Effective(project.org, project.env, "", ""));
    if (project.settings.requires_manual_gate || env_policy.requires_manual_gate) p->gate = "waiting";
  }
  if (p->max_parallel <= 0) p->max_parallel = settings_.default_max_parallel;
  p->planned = true;
  return absl::OkStatus();
}

void PipelineScheduler::Advance(PipelineRecord* p) {
  if (p->Terminal()) return;
  absl::Time now = clock_->Now();
  if (p->state == PipelineState::kQueued) {
    if (Blocked(p->id, *p)) return;
    if (p->cancel_requested) {
      p->state = PipelineState::kCancelled;
      p->ended_at = now;
      Touch(p);
      return;
    }
    if (!p->planned) {
      absl::Status planned = Plan(p);
      if (!planned.ok()) {
        p->nodes.clear();
        p->state = PipelineState::kFailed;
        p->error = absl::StrCat("cannot plan the pipeline: ", planned.message());
        p->started_at = p->ended_at = now;
        Touch(p);
        return;
      }
    }
    p->started_at = now;
    p->state = PipelineState::kRunning;
    Touch(p);
    for (const auto& n : p->nodes) dirty_[p->id].nodes.insert(n.idx);
  }
  if (p->gate == "waiting") {
    if (p->state != PipelineState::kAwaitingApproval) {
      p->state = PipelineState::kAwaitingApproval;
      Touch(p);
    }
    return;
  }
  for (auto& n : p->nodes) {
    if (n.state != NodeState::kQueued || !n.job_id.empty() || submitting_.count({p->id, n.idx})) continue;
    const PipelineNodeRecord* blocker = nullptr;
    bool ready = true;
    for (int u : n.upstream) {
      const auto& up = p->nodes[u];
      if (up.state == NodeState::kFailed || up.state == NodeState::kCancelled || up.state == NodeState::kSkipped) {
        blocker = &up;
        break;
      }
      if (up.state != NodeState::kSucceeded) ready = false;
    }
    if (blocker != nullptr || p->cancel_requested) {
      n.state = p->cancel_requested ? NodeState::kCancelled : NodeState::kSkipped;
      n.error = p->cancel_requested
                    ? "the pipeline was cancelled before this node started"
                    : absl::StrCat("blocked: upstream ", blocker->Target(), " ", NodeStateName(blocker->state));
      n.ended_at = now;
      Touch(p, n.idx);
      continue;
    }
    if (!ready) continue;
    if (n.gate == "manual" && !n.gate_approved && !p->preview_only) {
      n.state = NodeState::kAwaitingApproval;
      n.awaiting = "gate";
      Touch(p, n.idx);
      continue;
    }
    auto policy = policies_->Effective(p->org, n.env, n.kind, n.name);
    // Every ready node is queued at once; the runner starts at most
    // max_parallel of this pipeline's jobs together (and no more than its
    // global limit), the next one as soon as a slot frees.
    json options = {{"pipeline", p->id}, {"node", n.idx}, {"groupLimit", std::max(1, p->max_parallel)}};
    if (p->trigger == "pull_request") options["untrusted"] = true;
    if (policy.ok()) {
      options["skipRefresh"] = policy->skip_refresh;
      bool applies = n.operation == "update" || n.operation == "destroy";
      if (applies && policy->pause_between_preview_and_update_or_destroy) options["requireApproval"] = true;
      if (applies && !policy->preview_before_update_or_destroy) options["directApply"] = true;
    }
    if (n.operation == "update" || n.operation == "preview") {
      // The revision's manifest, so that a later revision written while
      // this pipeline runs never leaks into it.
      auto revision = revision_cache_.find(p->id);
      if (revision == revision_cache_.end()) {
        std::map<std::string, json> by_key;
        if (p->manifests.is_array()) {
          for (const auto& m : FromStoredManifests(p->manifests)) by_key[m.env + "/" + m.kind + "/" + m.name] = m.body;
        } else if (auto rev = projects_->GetRevision(p->project_id, p->revision); rev.ok()) {
          for (const auto& m : FromStoredManifests(rev->manifests)) by_key[m.env + "/" + m.kind + "/" + m.name] = m.body;
        }
        revision = revision_cache_.emplace(p->id, std::move(by_key)).first;
      }
      auto body = revision->second.find(n.env + "/" + n.kind + "/" + n.name);
      if (body != revision->second.end()) options["manifest"] = body->second;
    }
    // Queued with the others of this round, in one transaction (FlushSubmits).
    submits_.push_back({p->id, n.idx, {n.resource_id, n.operation, std::move(options), p->created_by}});
    submitting_.insert({p->id, n.idx});
  }
  Settle(p);
}

void PipelineScheduler::FlushSubmits() {
  if (submits_.empty()) return;
  std::vector<StackJobRunner::JobRequest> requests;
  for (const auto& s : submits_) requests.push_back(s.request);
  auto results = runner_->SubmitBatch(requests);
  absl::Time now = clock_->Now();
  std::set<std::string> touched;
  for (size_t i = 0; i < submits_.size(); ++i) {
    auto it = active_.find(submits_[i].pipeline_id);
    if (it == active_.end()) continue;
    PipelineRecord& p = it->second;
    PipelineNodeRecord& n = p.nodes[submits_[i].node];
    n.attempts += 1;
    if (!results[i].ok()) {
      n.state = NodeState::kFailed;
      n.error = absl::StrCat("cannot start its stack job: ", results[i].status().message());
      n.ended_at = now;
    } else {
      n.job_id = results[i]->id;
      job_nodes_[n.job_id] = {p.id, n.idx};
    }
    Touch(&p, n.idx);
    touched.insert(p.id);
  }
  submits_.clear();
  submitting_.clear();
  for (const auto& id : touched) Settle(&active_[id]);
}

void PipelineScheduler::Settle(PipelineRecord* p) {
  bool all_done = true, any_active = false, any_waiting = false;
  std::vector<std::string> failures;
  for (const auto& n : p->nodes) {
    if (!n.Terminal()) all_done = false;
    if (n.state == NodeState::kRunning || (n.state == NodeState::kQueued && !n.job_id.empty())) any_active = true;
    if (n.state == NodeState::kAwaitingApproval) any_waiting = true;
    if (n.state == NodeState::kFailed || n.state == NodeState::kCancelled)
      failures.push_back(absl::StrCat(n.Target(), ": ", n.error));
  }
  PipelineState state = p->state;
  if (all_done) {
    size_t skipped =
        std::count_if(p->nodes.begin(), p->nodes.end(), [](const auto& n) { return n.state == NodeState::kSkipped; });
    if (p->cancel_requested) {
      state = PipelineState::kCancelled;
    } else if (!failures.empty() || skipped > 0) {
      state = PipelineState::kFailed;
      if (p->error.empty()) {
        p->error = absl::StrCat(failures.size(), " node(s) failed", skipped ? absl::StrCat(", ", skipped, " skipped") : "",
                                failures.empty() ? "" : ": ", absl::StrJoin(failures.begin(),
                                failures.begin() + std::min<size_t>(3, failures.size()), "; "));
      }
    } else {
      state = PipelineState::kSucceeded;
      if (p->purge_after) dirty_[p->id].delete_project = true;
    }
    p->ended_at = clock_->Now();
    revision_cache_.erase(p->id);
  } else if (!any_active && any_waiting) {
    state = PipelineState::kAwaitingApproval;
  } else {
    state = PipelineState::kRunning;
  }
  if (state != p->state || all_done) {
    p->state = state;
    Touch(p);
  }
}

absl::Status PipelineScheduler::Persist() {
  if (dirty_.empty()) return absl::OkStatus();
  std::vector<store::PipelineWrite> writes;
  for (auto& [id, d] : dirty_) {
    auto it = active_.find(id);
    if (it == active_.end()) continue;
    store::PipelineWrite w;
    w.pipeline = &it->second;
    w.nodes.assign(d.nodes.begin(), d.nodes.end());
    w.decisions = d.decisions;
    w.delete_resources = d.delete_resources;
    w.delete_project = d.delete_project;
    writes.push_back(std::move(w));
  }
  absl::Status s = pipelines_->Save(writes);
  if (!s.ok()) {
    core::Logger("pipelines")->error("cannot store pipeline changes (retrying): {}", s.message());
    return s;
  }
  dirty_.clear();
  return absl::OkStatus();
}

absl::StatusOr<PipelineRecord> PipelineScheduler::Cancel(const std::string& id, const std::string& actor) {
  absl::MutexLock lock(&mu_);
  auto it = active_.find(id);
  if (it == active_.end()) {
    PLINTH_ASSIGN_OR_RETURN(auto stored, pipelines_->Get(id));
    if (stored.Terminal()) {
      return core::WithReason(absl::FailedPreconditionError(absl::StrCat("infra pipeline ", id, " already ended (",
                                                                         PipelineStateName(stored.state), ")")),
                              "PIPELINE_ENDED");
    }
    // Stored but not loaded yet (just created): load it now.
    it = active_.emplace(id, std::move(stored)).first;
  }
  PipelineRecord& p = it->second;
  if (p.cancel_requested) return p;
  p.cancel_requested = true;
  absl::Time now = clock_->Now();
  p.notes.push_back(absl::StrCat("cancelled by ", actor));
  for (auto& n : p.nodes) {
    if (n.Terminal()) continue;
    if (!n.job_id.empty()) {
      runner_->Cancel(n.job_id, actor).IgnoreError();  // its end arrives through the observer
      continue;
    }
    n.state = NodeState::kCancelled;
    n.awaiting.clear();
    n.error = absl::StrCat("cancelled by ", actor);
    n.ended_at = now;
    Touch(&p, n.idx);
  }
  if (p.gate == "waiting") p.gate = "";
  if (p.state == PipelineState::kQueued) {
    p.state = PipelineState::kCancelled;
    p.ended_at = now;
  } else {
    Settle(&p);
  }
  Touch(&p);
  PLINTH_RETURN_IF_ERROR(Persist());
  core::Logger("pipelines")->info("pipeline={} cancel requested by {}", id, actor);
  PipelineRecord out = p;
  if (p.Terminal()) active_.erase(it);
  return out;
}

absl::StatusOr<PipelineRecord> PipelineScheduler::ResolveGate(const std::string& id, const std::string& node,
                                                              bool approve, const std::string& actor,
                                                              const std::string& comment) {
  absl::MutexLock lock(&mu_);
  auto it = active_.find(id);
  if (it == active_.end()) {
    PLINTH_ASSIGN_OR_RETURN(auto stored, pipelines_->Get(id));
    return core::WithReason(
        absl::FailedPreconditionError(
            absl::StrCat("infra pipeline ", id, " is ", PipelineStateName(stored.state), ": no gate of it is waiting")),
        "NO_GATE_WAITING");
  }
  PipelineRecord& p = it->second;
  absl::Time now = clock_->Now();
  store::GateDecisionRecord d{-1, "pipeline", "gate", approve, actor, comment, now};
  std::string said = comment.empty() ? "" : absl::StrCat(": ", comment);
  if (node.empty()) {
    if (p.gate != "waiting") {
      return core::WithReason(absl::FailedPreconditionError(
                                  absl::StrCat("infra pipeline ", id, " has no pipeline gate waiting (it is ",
                                               PipelineStateName(p.state), "); name a node to approve a node's gate")),
                              "NO_GATE_WAITING");
    }
    p.gate = approve ? "approved" : "rejected";
    if (!approve) {
      for (auto& n : p.nodes) {
        n.state = NodeState::kCancelled;
        n.error = absl::StrCat("the pipeline gate was rejected by ", actor, said);
        n.ended_at = now;
        Touch(&p, n.idx);
      }
      p.error = absl::StrCat("the pipeline gate was rejected by ", actor, said);
      p.state = PipelineState::kFailed;
      p.ended_at = now;
    } else {
      p.state = PipelineState::kRunning;
    }
  } else {
    PipelineNodeRecord* target = nullptr;
    int idx = -1;
    if (absl::SimpleAtoi(node, &idx) && idx >= 0 && idx < static_cast<int>(p.nodes.size())) target = &p.nodes[idx];
    for (auto& n : p.nodes) {
      if (target == nullptr && (n.Target() == node || n.env + "/" + n.Target() == node)) target = &n;
    }
    if (target == nullptr) {
      return absl::NotFoundError(absl::StrCat("node: infra pipeline ", id, " has no node \"", node,
                                              "\" (give its index or kind/name)"));
    }
    if (target->state != NodeState::kAwaitingApproval) {
      return core::WithReason(
          absl::FailedPreconditionError(absl::StrCat("node ", target->Target(), " of infra pipeline ", id, " is ",
                                                     NodeStateName(target->state), ", not awaiting approval")),
          "NODE_NOT_AWAITING_APPROVAL");
    }
    d.node = target->idx;
    d.target = target->Target();
    d.stage = target->awaiting;
    if (target->awaiting == "plan") {
      if (!approve) rejected_jobs_.insert(target->job_id);
      auto resolved = runner_->Resolve(target->job_id, approve, actor, comment);
      if (!resolved.ok()) {
        rejected_jobs_.erase(target->job_id);
        return resolved.status();
      }
    } else if (approve) {
      target->gate_approved = true;
      target->state = NodeState::kQueued;
      target->awaiting.clear();
    } else {
      target->state = NodeState::kFailed;
      target->awaiting.clear();
      target->error = absl::StrCat("gate rejected by ", actor, said);
      target->ended_at = now;
    }
    Touch(&p, target->idx);
  }
  Advance(&p);
  FlushSubmits();
  dirty_[p.id].decisions.push_back(d);
  Touch(&p);
  PLINTH_RETURN_IF_ERROR(Persist());
  core::Logger("pipelines")->info("pipeline={} {} {} by {}{}", id, d.target, approve ? "approved" : "rejected", actor, said);
  PipelineRecord out = p;
  if (p.Terminal()) active_.erase(it);
  return out;
}

}  // namespace plinth::orchestrator
