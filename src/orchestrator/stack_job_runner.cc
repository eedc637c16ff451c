#include "plinth/orchestrator/stack_job_runner.h"

#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "plinth/core/error_reason.h"
#include "plinth/core/logging.h"
#include "plinth/core/secret_box.h"
#include "plinth/core/status_macros.h"
#include "plinth/engine/connection_env.h"
#include "plinth/engine/wire.h"
#include "plinth/manifest/module_variables.h"
#include "plinth/manifest/names.h"
#include "plinth/orchestrator/state_tokens.h"

namespace plinth::orchestrator {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using store::JobState;

constexpr char kSensitive[] = "<sensitive>";
// In a job's workspace: the values its log is redacted of, sealed.
constexpr char kRedactFile[] = ".plinth-redact";

// Variables a child may inherit from the daemon; everything else is dropped.
std::vector<std::string> BaseEnvironment() {
  static const char* kAllow[] = {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SSL_CERT_FILE",
                                 "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy",
                                 "https_proxy", "no_proxy"};
  std::vector<std::string> env;
  for (const char* name : kAllow) {
    if (const char* v = std::getenv(name)) env.push_back(absl::StrCat(name, "=", v));
  }
  return env;
}

// True when /proc says the process belongs to this job (guards against a
// recycled pid after a reboot).
bool ProcessBelongsToJob(int64_t pid, const std::string& job_id) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/environ"), std::ios::binary);
  if (!in) return false;
  std::stringstream s;
  s << in.rdbuf();
  return s.str().find(absl::StrCat("PLINTH_JOB_ID=", job_id)) != std::string::npos;
}

json StepsJson(const std::vector<engine::StepRecord>& steps) {
  json out = json::array();
  for (const auto& s : steps) {
    out.push_back({{"name", s.name}, {"exitCode", s.exit_code}, {"startTime", absl::FormatTime(absl::RFC3339_full, s.start, absl::UTCTimeZone())},
                   {"endTime", absl::FormatTime(absl::RFC3339_full, s.end, absl::UTCTimeZone())}});
  }
  return out;
}

json SummaryJson(const engine::ChangeSummary& c, const std::vector<engine::OutputChange>& outputs = {}) {
  json out = engine::SummaryToJson(c);  // the form runners send it in
  json changes = json::array();
  for (const auto& o : outputs) {
    changes.push_back({{"name", o.name}, {"action", o.action}, {"knownAfterApply", o.known_after_apply},
                       {"sensitive", o.sensitive}, {"after", o.sensitive ? json(kSensitive) : o.after}});
  }
  out["outputChanges"] = changes;
  return out;
}

json ResourcesJson(const std::vector<engine::ResourceChange>& resources) {
  json out = json::array();
  for (const auto& r : resources) {
    out.push_back({{"address", r.address}, {"type", r.type}, {"action", r.action}, {"status", r.status},
                   {"elapsedSeconds", r.elapsed_seconds}, {"actions", r.actions}, {"actionReason", r.action_reason},
                   {"previousAddress", r.previous_address}, {"deposed", r.deposed}, {"importing", r.importing}});
  }
  return out;
}

// "awaiting approval of the plan (0 to add, 0 to change, 0 to destroy, 1 to
// replace; outputs: url updated)"
std::string PlanText(const engine::JobOutcome& planned) {
  std::string text = planned.summary.Describe();
  if (!planned.output_changes.empty()) {
    std::vector<std::string> outs;
    for (const auto& o : planned.output_changes) {
      std::string verb = o.action == "create" ? "added" : o.action == "delete" ? "removed" : "changed";
      outs.push_back(absl::StrCat(o.name, " ", verb, o.known_after_apply ? " (known after apply)" : ""));
    }
    absl::StrAppend(&text, "; outputs: ", absl::StrJoin(outs, ", "));
  }
  return text;
}

// Buffers a job's lines and events and writes them in batches; stops
// storing log lines past the byte limit (saying so once).
class StoringListener : public engine::JobListener {
 public:
  StoringListener(store::StackJobStore* jobs, std::string job_id, size_t max_bytes, size_t already,
                  std::vector<store::JobEvent> preamble)
      : jobs_(jobs), job_id_(std::move(job_id)), max_bytes_(max_bytes), bytes_(already), pending_(std::move(preamble)) {}
  ~StoringListener() override { Flush(); }

  void OnLine(Stream stream, const std::string& step, const std::string& text) override {
    if (bytes_ + text.size() > max_bytes_) {
      if (!truncated_) {
        truncated_ = true;
        Add({0, {}, "system", step,
             absl::StrCat("log truncated: this job's stored output reached ", max_bytes_,
                          " bytes; later lines are not stored (events still are)"),
             nullptr});
      }
      return;
    }
    bytes_ += text.size();
    const char* type = stream == Stream::kStdout ? "stdout" : stream == Stream::kStderr ? "stderr" : "system";
    Add({0, {}, type, step, text, nullptr});
  }

  void OnEvent(const std::string& step, const engine::EngineEvent& e) override {
    if (!e.resource && !e.summary && !e.diagnostic) return;  // plain lines are stored as lines
    json data = {{"type", e.type}};
    if (e.resource) {
      data["resource"] = {{"address", e.resource->address}, {"action", e.resource->action},
                          {"status", e.resource->status}, {"elapsedSeconds", e.resource->elapsed_seconds}};
    }
    if (e.summary) {
      data["summary"] = {{"add", e.summary->add}, {"change", e.summary->change}, {"remove", e.summary->remove},
                         {"replace", e.summary->replace}, {"operation", e.summary->operation}};
    }
    if (e.diagnostic) {
      data["diagnostic"] = {{"severity", e.diagnostic->severity}, {"summary", e.diagnostic->summary},
                            {"detail", e.diagnostic->detail}, {"address", e.diagnostic->address}};
    }
    Add({0, {}, "event", step, e.message, std::move(data)});
  }

  // A step started: its process group is recorded (for crash recovery) in
  // the same write as the lines so far. The end of a step needs no write:
  // the next step, or the job's end, replaces the pgid.
  void OnProcess(const std::string&, pid_t pgid) override {
    if (pgid > 0) Flush(pgid);
  }

  void Sync() override { Flush(); }

  // Stores everything so far (and the step's process group, when given)
  // before it returns.
  void Flush(int64_t pgid = -1) {
    Wait();
    if (pending_.empty() && pgid < 0) return;
    Report(jobs_->AppendEvents(job_id_, std::move(pending_), pgid));
    pending_.clear();
    pending_bytes_ = 0;
    last_flush_ = absl::Now();
  }

 private:
  // Writes go out in blocks: at 1 MiB of text, or when the oldest pending
  // line is 100 ms old (checked every 256 lines, and at every step change).
  // A block is written on a thread of its own while the next one fills, so
  // a loud step is not read at the pace of SQLite's fsyncs; one block at a
  // time is in flight (order kept, memory bounded to two blocks).
  void Add(store::JobEvent e) {
    if (pending_.empty() || ++since_clock_ >= 256) {
      now_ = absl::Now();
      since_clock_ = 0;
    }
    e.at = now_;
    pending_bytes_ += e.text.size();
    pending_.push_back(std::move(e));
    if (pending_bytes_ >= (1 << 20) || now_ - last_flush_ > absl::Milliseconds(100)) FlushInBackground();
  }

  void FlushInBackground() {
    Wait();
    size_t lines = pending_.size();
    in_flight_ = std::async(std::launch::async, [this, block = std::move(pending_)]() mutable {
      return jobs_->AppendEvents(job_id_, std::move(block), -1);
    });
    pending_.clear();
    pending_.reserve(lines);  // the next block is likely as long
    pending_bytes_ = 0;
    last_flush_ = now_;
  }

  void Wait() {
    if (in_flight_.valid()) Report(in_flight_.get());
  }

  void Report(const absl::Status& s) const {
    if (!s.ok()) core::Logger("jobs")->error("job={} cannot store output: {}", job_id_, s.message());
  }

  store::StackJobStore* jobs_;
  std::string job_id_;
  size_t max_bytes_;
  size_t bytes_;
  bool truncated_ = false;
  std::vector<store::JobEvent> pending_;
  size_t pending_bytes_ = 0;
  int since_clock_ = 0;
  absl::Time now_ = absl::Now();
  absl::Time last_flush_ = absl::Now();
  std::future<absl::Status> in_flight_;
};

}  // namespace

StackJobRunner::StackJobRunner(EngineSettings settings, store::StackJobStore* jobs,
                               store::CloudResourceStore* resources, store::ConnectionStore* connections,
                               const manifest::KindCatalog* catalog, engine::ProcessLauncher* launcher,
                               const core::SecretBox* secrets, core::Clock* clock)
    : settings_(std::move(settings)),
      jobs_(jobs), resources_(resources), connections_(connections),
      catalog_(catalog), launcher_(launcher), secrets_(secrets), clock_(clock) {}

StackJobRunner::~StackJobRunner() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (auto& [id, token] : cancels_) token->Cancel();
  }
  for (auto& t : workers_) t.join();
}

absl::Status StackJobRunner::Recover() {
  PLINTH_ASSIGN_OR_RETURN(auto left,
                          jobs_->ListByState({JobState::kRunning, JobState::kAwaitingApproval, JobState::kQueued}));
  for (auto& job : left) {
    if (job.state == JobState::kQueued) {
      absl::MutexLock lock(&mu_);
      queue_.push_back({job.id, job.resource_id, job.options.value("pipeline", ""), job.options.value("groupLimit", 0)});
      continue;
    }
    if (job.state == JobState::kRunning) {
      std::vector<engine::LeftStep> steps = engine::FindSteps(WorkspaceOf(job.id));
      bool live = false;
      for (const auto& step : steps) live = live || step.running || step.ended;
      if (live) {
        // Its engine step outlived the previous plinthd: never killed,
        // followed to its end once the runner starts.
        absl::MutexLock lock(&mu_);
        busy_resources_.insert(job.resource_id);
        cancels_[job.id] = std::make_shared<engine::CancelToken>();
        adopting_.insert(job.id);
        to_adopt_.emplace_back(job, std::move(steps));
        continue;
      }
    }
    if (!job.runner_id.empty() && job.runner_pool != store::kLocalPool && settings_.runner_hub != nullptr) {
      // It runs on a runner, which goes on with it: the job is followed
      // again when that runner reconnects, or interrupted when it does not
      // within the lease time.
      absl::MutexLock lock(&mu_);
      busy_resources_.insert(job.resource_id);
      cancels_[job.id] = std::make_shared<engine::CancelToken>();
      adopting_.insert(job.id);
      settings_.runner_hub->Expect({job.id, job.lease_generation}, job.runner_id);
      to_resume_.push_back(job);
      continue;
    }
    // No supervisor is left (a step started without one, or the machine
    // rebooted): whatever still runs of the job is stopped.
    if (job.pgid > 0 && ProcessBelongsToJob(job.pgid, job.id)) ::kill(-static_cast<pid_t>(job.pgid), SIGKILL);
    job.state = JobState::kInterrupted;
    job.pgid = 0;
    job.ended_at = clock_->Now();
    job.error = "plinthd stopped while this job was running; nothing more was applied. Run the job again: it "
                "starts from a fresh plan.";
    PLINTH_RETURN_IF_ERROR(jobs_->Save(job, "interrupted: plinthd restarted during the job"));
    core::Logger("jobs")->warn("job={} resource={} marked interrupted after a restart", job.id, job.key.ToString());
  }
  // No other job runs now: a workspace left behind is one a crash cut
  // short, and may hold resolved values or a saved plan. None is kept.
  std::error_code ec;
  const fs::path workspaces = fs::path(settings_.data_dir) / "workspaces";
  int removed = 0;
  for (fs::directory_iterator it(workspaces, ec), end; !ec && it != end; it.increment(ec)) {
    if (Adopting(it->path().filename().string())) continue;
    std::error_code rm;
    fs::remove_all(it->path(), rm);
    if (rm) {
      core::Logger("jobs")->error("cannot remove the workspace {} a stopped job left: {}", it->path().string(),
                                  rm.message());
    } else {
      ++removed;
    }
  }
  if (removed > 0) core::Logger("jobs")->info("removed {} workspaces that stopped jobs left", removed);
  return absl::OkStatus();
}

bool StackJobRunner::Adopting(const std::string& job_id) const {
  absl::MutexLock lock(&mu_);
  return adopting_.count(job_id) > 0;
}

void StackJobRunner::Start() {
  for (auto& [job, steps] : to_adopt_) {
    workers_.emplace_back([this, job = std::move(job), steps = std::move(steps)]() mutable {
      Adopt(std::move(job), std::move(steps));
    });
  }
  to_adopt_.clear();
  for (auto& job : to_resume_) {
    workers_.emplace_back([this, job = std::move(job)]() mutable {
      const std::string id = job.id, resource_id = job.resource_id;
      Execute(std::move(job), /*resume=*/true);
      absl::MutexLock lock(&mu_);
      busy_resources_.erase(resource_id);
      cancels_.erase(id);
      adopting_.erase(id);
    });
  }
  to_resume_.clear();
  for (int i = 0; i < std::max(1, settings_.max_concurrent_jobs); ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

namespace {

absl::Status CheckOperation(const std::string& operation, const json& options) {
  engine::Operation op;
  if (!engine::ParseOperation(operation, &op)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "operation: \"", operation, "\" is not one of init, refresh, preview, update, destroy_preview, destroy"));
  }
  if (options.value("requireApproval", false) && op != engine::Operation::kUpdate &&
      op != engine::Operation::kDestroy && op != engine::Operation::kRefresh) {
    return absl::InvalidArgumentError(absl::StrCat("require_approval: ", operation,
                                                   " changes nothing; only update, destroy and refresh apply a plan"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<store::StackJobRecord> StackJobRunner::Submit(const std::string& resource_id,
                                                             const std::string& operation, const json& options,
                                                             const std::string& actor) {
  return std::move(SubmitBatch({{resource_id, operation, options, actor}}).front());
}

std::vector<absl::StatusOr<store::StackJobRecord>> StackJobRunner::SubmitBatch(const std::vector<JobRequest>& requests) {
  std::vector<absl::StatusOr<store::StackJobRecord>> out(requests.size(), absl::UnknownError("not submitted"));
  std::vector<store::CloudResourceRecord> resources(requests.size());
  std::map<std::string, std::pair<std::vector<store::StackJobStore::NewJob>, std::vector<size_t>>> by_actor;
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& r = requests[i];
    absl::Status ok = CheckOperation(r.operation, r.options);
    if (!ok.ok()) {
      out[i] = ok;
      continue;
    }
    auto resource = resources_->Get({.id = r.resource_id}, /*parse_manifest=*/false);
    if (!resource.ok()) {
      out[i] = resource.status();
      continue;
    }
    resources[i] = std::move(*resource);
    by_actor[r.actor].first.push_back({&resources[i], r.operation, r.options});
    by_actor[r.actor].second.push_back(i);
  }
  for (auto& [actor, batch] : by_actor) {
    auto created = jobs_->CreateBatch(batch.first, actor);
    absl::MutexLock lock(&mu_);
    for (size_t k = 0; k < batch.second.size(); ++k) {
      size_t i = batch.second[k];
      if (!created.ok()) {
        out[i] = created.status();
        continue;
      }
      const auto& job = (*created)[k];
      queue_.push_back({job.id, job.resource_id, job.options.value("pipeline", ""), job.options.value("groupLimit", 0)});
      out[i] = std::move((*created)[k]);
    }
  }
  return out;
}

absl::StatusOr<store::StackJobRecord> StackJobRunner::Cancel(const std::string& job_id, const std::string& actor) {
  PLINTH_ASSIGN_OR_RETURN(auto job, jobs_->RequestCancel(job_id));
  if (job.Terminal()) {
    return core::WithReason(absl::FailedPreconditionError(absl::StrCat("stack job ", job_id, " already ended (",
                                                                       store::JobStateName(job.state), ")")),
                            "JOB_ENDED");
  }
  absl::MutexLock lock(&mu_);
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (it->job_id == job_id) {
      queue_.erase(it);
      job.state = JobState::kCancelled;
      job.ended_at = clock_->Now();
      job.error = absl::StrCat("cancelled by ", actor, " before it started");
      PLINTH_RETURN_IF_ERROR(jobs_->Save(job, job.error));
      if (observer_) {
        // Not under the lock: the observer may call back into the runner.
        mu_.Unlock();
        observer_(job);
        mu_.Lock();
      }
      return job;
    }
  }
  if (auto it = cancels_.find(job_id); it != cancels_.end()) {
    it->second->Cancel();  // a second cancel is harmless: the token is already set
    jobs_->AppendEvents(job_id, {{0, clock_->Now(), "system", "", absl::StrCat("cancel requested by ", actor), nullptr}})
        .IgnoreError();
  }
  return job;
}

absl::StatusOr<store::StackJobRecord> StackJobRunner::Resolve(const std::string& job_id, bool approve,
                                                              const std::string& actor, const std::string& comment) {
  bool waiting = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = decisions_.find(job_id);
    if (it != decisions_.end() && !it->second.decided) {
      it->second = {true, approve, actor, comment};
      waiting = true;
    }
  }
  // The worker saves the decision at once: return the job as it is after it
  // (running the apply, or cancelled), not as it was before.
  if (waiting) {
    for (int i = 0; i < 500; ++i) {
      PLINTH_ASSIGN_OR_RETURN(auto job, jobs_->Get(job_id));
      if (job.state != JobState::kAwaitingApproval) return job;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return jobs_->Get(job_id);
  }
  PLINTH_ASSIGN_OR_RETURN(auto job, jobs_->Get(job_id));
  return core::WithReason(absl::FailedPreconditionError(absl::StrCat(
                              "stack job ", job_id, " is ", store::JobStateName(job.state), ", not awaiting approval")),
                          "JOB_NOT_AWAITING_APPROVAL");
}

int StackJobRunner::running() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(cancels_.size());
}

int StackJobRunner::queued() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(queue_.size());
}

bool StackJobRunner::Startable(const Queued& q) const {
  if (busy_resources_.count(q.resource_id)) return false;  // FIFO per resource
  if (q.group.empty() || q.group_limit <= 0) return true;
  auto it = group_running_.find(q.group);
  return it == group_running_.end() || it->second < q.group_limit;
}

bool StackJobRunner::NextJob(std::string* job_id) {
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (!Startable(*it)) continue;
    *job_id = it->job_id;
    busy_resources_.insert(it->resource_id);
    if (!it->group.empty()) {
      group_running_[it->group] += 1;
      job_group_[it->job_id] = it->group;
    }
    cancels_[it->job_id] = std::make_shared<engine::CancelToken>();
    queue_.erase(it);
    return true;
  }
  return false;
}

void StackJobRunner::WorkerLoop() {
  for (;;) {
    std::string job_id;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](StackJobRunner* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(r->mu_) {
            if (r->stopping_) return true;
            for (const auto& q : r->queue_) {
              if (r->Startable(q)) return true;
            }
            return false;
          },
          this));
      if (stopping_) return;
      if (!NextJob(&job_id)) continue;
    }
    auto job = jobs_->Get(job_id);
    std::string resource_id;
    if (job.ok()) {
      resource_id = job->resource_id;
      Execute(std::move(*job));
    } else {
      core::Logger("jobs")->error("job={} vanished: {}", job_id, job.status().message());
    }
    absl::MutexLock lock(&mu_);
    if (!resource_id.empty()) busy_resources_.erase(resource_id);
    cancels_.erase(job_id);
    if (auto g = job_group_.find(job_id); g != job_group_.end()) {
      if (--group_running_[g->second] <= 0) group_running_.erase(g->second);
      job_group_.erase(g);
    }
  }
}

absl::StatusOr<engine::JobSpec> StackJobRunner::BuildSpec(store::StackJobRecord& job,
                                                          const store::CloudResourceRecord* resource,
                                                          const ModuleConfig& module, const std::string& binary,
                                                          bool remote, std::vector<store::JobEvent>* preamble,
                                                          std::string* digest) {
  const bool git = engine::IsGitUrl(module.source);
  // References resolve from the stored outputs of the resources they name.
  manifest::Manifest m;
  m.api_version = resource->api_version;
  m.kind = resource->key.kind;
  m.name = resource->key.name;
  m.org = resource->key.org;
  m.env = resource->key.env;
  m.id = resource->id;
  m.body = resource->manifest;
  // A pipeline deploys its revision's manifest, whatever is stored now.
  if (auto it = job.options.find("manifest"); it != job.options.end() && it->is_object()) {
    m.body = *it;
    m.api_version = m.body.value("apiVersion", m.api_version);
  }
  *digest = core::ContentDigest(m.body.dump());
  std::vector<std::string> revealed;  // sensitive values resolved in the clear: redacted from the log
  auto resolve = [&](const manifest::Reference& r) -> absl::StatusOr<json> {
    PLINTH_ASSIGN_OR_RETURN(auto target, resources_->Get({.key = {m.org, r.env, r.kind, r.name}}));
    std::string found;
    PLINTH_ASSIGN_OR_RETURN(const json* v, manifest::LookupReferencePath(target.manifest, target.outputs,
                                                                          r.field_path, &found));
    const bool output = absl::StartsWith(found, "status.outputs.");
    const std::string path = output ? found.substr(15) : found;
    // A pull request's pipeline runs manifests nobody has reviewed yet: it
    // never gets another resource's sensitive outputs in the clear.
    if (!output) return *v;
    if (*v == kSensitive && job.options.value("untrusted", false)) return json("(sensitive)");
    if (*v == kSensitive && secrets_ != nullptr) {
      PLINTH_ASSIGN_OR_RETURN(std::string sealed, jobs_->SealedOutputs(target.id));
      PLINTH_ASSIGN_OR_RETURN(std::string plain, secrets_->Open(sealed));
      json all = json::parse(plain, nullptr, false);
      if (const json* real = manifest::JsonAtPath(all, path)) {
        revealed.push_back(real->is_string() ? real->get<std::string>() : real->dump());
        return *real;
      }
    }
    return *v;
  };
  // A preview of a resource whose dependencies are not deployed yet (a
  // new project, a preview-only pipeline) plans with a placeholder, as
  // Terraform shows values known only after apply.
  const bool preview_only = job.operation == "preview" || job.operation == "destroy_preview";
  auto resolve_or_placeholder = [&](const manifest::Reference& r) -> absl::StatusOr<json> {
    auto v = resolve(r);
    if (v.ok() || !preview_only || v.status().code() != absl::StatusCode::kNotFound) return v;
    preamble->push_back({0, clock_->Now(), "system", "",
                        absl::StrCat("preview: ", r.kind, "/", r.name, " ", r.field_path, " is not known yet (",
                                     v.status().message(), "); planned as \"(known after apply)\""),
                        nullptr});
    return json("(known after apply)");
  };
  auto vars = manifest::ToModuleVariables(m, *catalog_, resolve_or_placeholder);
  if (!vars.ok()) return vars.status();

  engine::JobSpec spec;
  spec.job_id = job.id;
  engine::ParseOperation(job.operation, &spec.operation);
  spec.kind = job.key.kind;
  spec.api_version = m.api_version;
  spec.resource_id = job.resource_id;
  spec.module_variables = *vars;
  spec.engine = job.engine;
  spec.engine_binary = binary;
  spec.module_dir = module.source;
  spec.workspace_dir = WorkspaceOf(job.id);
  spec.state_dir = (fs::path(settings_.data_dir) / "state" / job.resource_id).string();
  spec.plugin_cache_dir = (fs::path(settings_.data_dir) / "plugin-cache").string();
  std::error_code ec;
  fs::create_directories(spec.plugin_cache_dir, ec);
  spec.env = BaseEnvironment();
  // Credentials: the named connection, else the env default, else the org
  // default, else none; the job records which rule chose it.
  if (connections_ != nullptr) {
    const manifest::Kind* kind = catalog_->Find(resource->api_version, resource->key.kind);
    std::string provider = kind ? kind->provider : "";
    auto resolved = connections_->Resolve(job.key.org, job.key.env, provider, job.options.value("connection", ""));
    if (!resolved.ok()) return absl::FailedPreconditionError(absl::StrCat("connection: ", resolved.status().message()));
    job.connection_reason = resolved->reason;
    if (resolved->connection && resolved->connection->runner_held) {
      const store::ConnectionRecord& c = *resolved->connection;
      if (!remote) {
        return absl::FailedPreconditionError(absl::StrCat(
            "connection ", c.org, "/", c.name, " is runner-held: its secrets are only on runners, and this job's scope "
            "runs on plinthd itself (pool local); bind a runner pool whose runners hold it to ", job.key.org, "/",
            job.key.env, " (plinth runner-pool bind)"));
      }
      job.connection_id = c.id;
      spec.runner_connection = absl::StrCat(c.org, "/", c.name);
      spec.runner_connection_provider = provider;
      spec.runner_connection_fields = c.fields;
    } else if (resolved->connection) {
      job.connection_id = resolved->connection->id;
      engine::ConnectionEnv cenv = engine::BuildConnectionEnv(provider, resolved->connection->fields,
                                                              resolved->connection->secrets, spec.workspace_dir);
      spec.env.insert(spec.env.end(), cenv.env.begin(), cenv.env.end());
      spec.secrets = cenv.redact;
      spec.files = cenv.files;
      // Pulumi modules take credentials as the stack input's provider_config.
      json config = json::object();
      for (const auto& [k, v] : resolved->connection->fields) config[k] = v;
      for (const auto& [k, v] : resolved->connection->secrets) config[k] = v;
      spec.provider_config = config;
    }
    preamble->push_back({0, clock_->Now(), "system", "", absl::StrCat("connection: ", job.connection_reason), nullptr});
  }
  // A Git module is fetched (or found in the cache) for each job, so a
  // branch that moved is run at its new commit, recorded on the job.
  if (git) {
    engine::GitModuleSource source{module.source, module.ref, module.subdir, ""};
    if (connections_ != nullptr && !absl::StartsWith(module.source, "file://")) {
      auto creds = connections_->Resolve(job.key.org, job.key.env, "git", module.connection);
      if (!creds.ok()) return absl::FailedPreconditionError(absl::StrCat("module source connection: ", creds.status().message()));
      if (creds->connection) {
        for (auto& secret : engine::SetGitCredentials(creds->connection->fields, creds->connection->secrets, &source)) {
          spec.secrets.push_back(std::move(secret));
        }
      }
    }
    if (remote) {
      // The runner fetches it (and reports the commit it ran).
      spec.git_module = std::move(source);
      spec.module_dir.clear();
      preamble->push_back({0, clock_->Now(), "system", "",
                           absl::StrCat("module: ", job.module_source, " (fetched by the runner)"), nullptr});
    } else {
      if (settings_.module_fetcher == nullptr) {
        return absl::FailedPreconditionError(absl::StrCat("module source ", module.source, " is a Git repository, and "
                                                          "this plinthd has no Git fetcher"));
      }
      auto fetched = settings_.module_fetcher->Fetch(source);
      if (!fetched.ok()) return fetched.status();
      spec.module_dir = fetched->dir;
      job.module_revision = fetched->commit;
      preamble->push_back({0, clock_->Now(), "system", "",
                           absl::StrCat("module: ", job.module_source, " at ", fetched->commit), nullptr});
    }
  }
  // Remote state: the env's backend, else the default one, else local.
  auto backend = settings_.backends.find(job.key.env);
  if (backend == settings_.backends.end()) backend = settings_.backends.find("default");
  if (backend != settings_.backends.end() && job.engine != "pulumi") {
    spec.backend_type = backend->second.type;
    spec.backend_config = backend->second.config;
    // Backend credentials (an azurerm access_key, an s3 secret_key ...) go
    // to init as arguments: keep them out of the logged command line.
    for (const auto& [k, v] : spec.backend_config) {
      if (k != "key" && (absl::StrContains(k, "key") || absl::StrContains(k, "secret") || absl::StrContains(k, "token") ||
                         absl::StrContains(k, "password") || absl::StrContains(k, "credentials"))) {
        spec.secrets.push_back(v);
      }
    }
    const std::string setting = spec.backend_type == "gcs" ? "prefix" : "key";
    // The name's slug: a Planton name may hold '.', '_' or spaces ("example.com").
    std::string path = absl::StrCat(job.key.org, "/", job.key.env, "/", job.key.kind, "/",
                                    manifest::ResourceSlug(job.key.name));
    if (spec.backend_type != "gcs") absl::StrAppend(&path, ".tfstate");
    std::string prefix = spec.backend_config[setting];
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    spec.backend_config[setting] = prefix.empty() ? path : absl::StrCat(prefix, "/", path);
    preamble->push_back({0, clock_->Now(), "system", "",
                                  absl::StrCat("state: ", spec.backend_type, " backend, ", setting, " ", spec.backend_config[setting]), nullptr});
  }
  // A runner's disk is not state storage: Terraform state goes through
  // plinthd's http backend, locked while a step runs, a version per write.
  const std::string state_url = remote && settings_.state_url ? settings_.state_url() : "";
  if (remote && spec.backend_type.empty() && job.engine != "pulumi" && settings_.states != nullptr && !state_url.empty()) {
    const std::string token = MintStateToken(settings_.state_token_key, job.id, job.resource_id,
                                             clock_->Now() + absl::Hours(24));
    const std::string address = absl::StrCat(state_url, "/v1/state/", job.resource_id);
    spec.backend_type = "http";
    spec.backend_config = {{"address", address}, {"lock_address", address}, {"unlock_address", address},
                           {"username", "plinth-job"}, {"password", token},
                           // A plinthd restart must not fail the step: retried for about a minute.
                           {"retry_max", "12"}, {"retry_wait_min", "1"}, {"retry_wait_max", "5"}};
    spec.secrets.push_back(token);
    // A resource deployed by plinthd itself before: its state moves over.
    PLINTH_ASSIGN_OR_RETURN(auto kept, settings_.states->Get(job.resource_id));
    std::ifstream local(fs::path(spec.state_dir) / "terraform.tfstate", std::ios::binary);
    if (!kept && local) {
      std::string content((std::istreambuf_iterator<char>(local)), std::istreambuf_iterator<char>());
      PLINTH_RETURN_IF_ERROR(settings_.states->Put(job.resource_id, "terraform", content, job.id, "").status());
    }
    preamble->push_back({0, clock_->Now(), "system", "",
                         absl::StrCat("state: plinthd's http backend (", address, "), locked while a step runs"), nullptr});
  }
  spec.pulumi_passphrase = settings_.pulumi_passphrase;
  if (!spec.pulumi_passphrase.empty()) spec.secrets.push_back(spec.pulumi_passphrase);
  for (auto& value : revealed) spec.secrets.push_back(std::move(value));
  spec.skip_refresh = job.options.value("skipRefresh", false);
  spec.direct_apply = job.options.value("directApply", false);
  spec.step_timeout = settings_.step_timeout;
  spec.kill_grace = settings_.kill_grace;
  return spec;
}

absl::StatusOr<std::string> StackJobRunner::PoolOf(const store::CloudResourceRecord& resource) const {
  if (settings_.runner_hub == nullptr || settings_.runner_pools == nullptr) return std::string(store::kLocalPool);
  std::map<std::string, std::string> labels;
  const json& l = resource.manifest.value("metadata", json::object()).value("labels", json::object());
  for (const auto& [k, v] : l.items()) {
    if (v.is_string()) labels[k] = v.get<std::string>();
  }
  return settings_.runner_pools->PoolFor(resource.key.org, resource.key.env, labels);
}

void StackJobRunner::Execute(store::StackJobRecord job, bool resume) {
  auto log = core::Logger("jobs");
  std::shared_ptr<engine::CancelToken> cancel;
  {
    absl::MutexLock lock(&mu_);
    cancel = cancels_[job.id];
  }
  job.state = JobState::kRunning;
  if (!resume || !job.started_at) job.started_at = clock_->Now();
  // plinth's own lines before the engine starts: stored with the first
  // output (one write fewer per job), or with the job's end.
  std::vector<store::JobEvent> preamble;
  store::StackJobStore::ResourceOutputs resource_outputs;
  const store::StackJobStore::ResourceOutputs* final_outputs = nullptr;
  auto finish = [&](JobState state, const std::string& error) {
    if (!preamble.empty()) jobs_->AppendEvents(job.id, std::move(preamble)).IgnoreError();
    preamble.clear();
    job.state = state;
    job.error = error;
    bool shutting_down;
    {
      absl::MutexLock lock(&mu_);
      shutting_down = stopping_;
    }
    auto stored = shutting_down && state == JobState::kCancelled ? jobs_->Get(job.id)
                                                                 : absl::StatusOr<store::StackJobRecord>(job);
    if (state == JobState::kCancelled && shutting_down && stored.ok() && !stored->cancel_requested) {
      // plinthd is stopping, nobody cancelled the job: like a crash, it
      // is interrupted (a pipeline resumes it from a fresh plan).
      job.state = JobState::kInterrupted;
      job.error = "plinthd shut down during the job; nothing more was applied. It runs again from a fresh plan.";
    }
    job.pgid = 0;
    job.ended_at = clock_->Now();
    // A lock its engine left (killed mid-step) goes with the job; not after
    // an interruption, when the engine may still run somewhere: then the
    // next job is refused the lock until someone unlocks it.
    if (settings_.states != nullptr && job.state != JobState::kInterrupted) {
      absl::Status released = settings_.states->ReleaseJobLocks(job.id);
      if (!released.ok()) log->error("job={} cannot release its state locks: {}", job.id, released.message());
    }
    absl::Status s = jobs_->Save(job,
                                 job.error.empty() ? std::string(store::JobStateName(job.state))
                                                   : absl::StrCat(store::JobStateName(job.state), ": ", job.error),
                                 job.state == JobState::kSucceeded ? final_outputs : nullptr);
    if (!s.ok()) log->error("job={} cannot save its end: {}", job.id, s.message());
    // The workspace holds resolved values and is never kept; only now that
    // the job's end is stored (until then its steps' ends are there for the
    // next plinthd to find after a crash).
    std::error_code removed;
    fs::remove_all(WorkspaceOf(job.id), removed);
    if (settings_.metrics != nullptr) {
      settings_.metrics->Inc("plinth_stack_jobs_finished_total",
                             {{"operation", job.operation}, {"state", std::string(store::JobStateName(job.state))}});
      if (job.started_at) {
        settings_.metrics->Observe("plinth_stack_job_duration_seconds", {{"operation", job.operation}},
                                   absl::ToDoubleSeconds(*job.ended_at - *job.started_at));
      }
    }
    if (observer_) observer_(job);
    log->info("job={} resource={} op={} ended {}{}", job.id, job.key.ToString(), job.operation,
              std::string(store::JobStateName(job.state)), job.error.empty() ? "" : ": " + job.error);
  };

  // Resource, kind and module.
  auto resource = resources_->Get({.id = job.resource_id});
  if (!resource.ok())
    return finish(JobState::kFailed, absl::StrCat("the cloud resource is gone: ", resource.status().message()));
  auto mod = settings_.modules.find(job.key.kind);
  if (mod == settings_.modules.end()) mod = settings_.modules.find("default");
  if (mod == settings_.modules.end()) {
    return finish(JobState::kFailed, absl::StrCat("no module is configured for kind ", job.key.kind,
                                                  " and there is no default entry (modules: in the daemon config)"));
  }
  job.engine = mod->second.engine;
  const ModuleConfig& module = mod->second;
  const bool git = engine::IsGitUrl(module.source);
  job.module_source = module.source;
  if (git) {
    // Terraform's notation: URL//subdir?ref=REF
    if (!module.subdir.empty()) absl::StrAppend(&job.module_source, "//", module.subdir);
    if (!module.ref.empty()) absl::StrAppend(&job.module_source, "?ref=", module.ref);
  }
  auto bin = settings_.binaries.find(job.engine);
  if (job.engine != "tofu" && job.engine != "terraform" && job.engine != "pulumi") {
    return finish(JobState::kFailed, absl::StrCat("engine ", job.engine, " is not one of tofu, terraform, pulumi"));
  }
  if (bin == settings_.binaries.end()) {
    return finish(JobState::kFailed, absl::StrCat("no binary is configured for engine ", job.engine, " (engines.",
                                                  job.engine, ".binary in the daemon config)"));
  }
  if (cancel->cancelled() && !resume) return finish(JobState::kCancelled, "cancelled before it started");
  // Where it runs: the pool bound to the resource's scope, else local. A
  // resumed job stays where it was.
  std::string pool = job.runner_pool;
  if (!resume) {
    auto bound = PoolOf(*resource);
    if (!bound.ok()) return finish(JobState::kFailed, absl::StrCat("runner pool: ", bound.status().message()));
    pool = *bound;
  }
  const bool remote = pool != store::kLocalPool;
  absl::Status s = jobs_->Save(
      job, resume ? absl::StrCat("running: plinthd restarted; following the job on runner ", job.runner_name, " again")
                  : absl::StrCat("running: ", job.operation, " with ", job.engine));
  if (!s.ok()) return finish(JobState::kFailed, std::string(s.message()));
  if (observer_) observer_(job);
  log->info("job={} resource={} op={} {}", job.id, job.key.ToString(), job.operation,
            resume ? absl::StrCat("resumed on runner ", job.runner_name) : std::string("started"));

  std::string digest;
  auto built = BuildSpec(job, &*resource, mod->second, bin->second, remote, &preamble, &digest);
  if (!built.ok()) return finish(JobState::kFailed, std::string(built.status().message()));
  engine::JobSpec spec = std::move(*built);
  if (resume) {
    // Its first lines are in the log already.
    preamble.clear();
    preamble.push_back({0, clock_->Now(), "system", "",
                        absl::StrCat("plinthd restarted during the job; waiting for runner ", job.runner_name,
                                     " to reconnect and go on with it (lease ", job.lease_generation, ")"),
                        nullptr});
  }
  std::error_code ec;
  // Flow control: with require_approval the job stops after the plan, in
  // awaiting_approval, until someone approves (the saved plan is applied)
  // or rejects it (the job ends cancelled). Cancel works while it waits.
  if (job.options.value("requireApproval", false)) {
    spec.before_apply = [&](const engine::JobOutcome& planned) -> absl::Status {
      job.state = JobState::kAwaitingApproval;
      job.summary = SummaryJson(planned.summary, planned.output_changes);
      job.resources = ResourcesJson(planned.resources);
      std::string plan = PlanText(planned);
      {
        // Open for decisions before anyone can see the state.
        absl::MutexLock lock(&mu_);
        decisions_[job.id] = Decision{};
      }
      absl::Status saved = jobs_->Save(job, absl::StrCat("awaiting approval: ", plan));
      if (!saved.ok()) {
        absl::MutexLock lock(&mu_);
        decisions_.erase(job.id);
        return saved;
      }
      jobs_->AppendEvents(job.id, {{0, clock_->Now(), "system", "", absl::StrCat("awaiting approval of the plan (", plan, ")"), nullptr}})
          .IgnoreError();
      if (observer_) observer_(job);
      log->info("job={} resource={} awaiting approval ({})", job.id, job.key.ToString(), plan);
      Decision decision;
      {
        absl::MutexLock lock(&mu_);
        auto decided = [this, &job] { return decisions_[job.id].decided; };
        while (!mu_.AwaitWithTimeout(absl::Condition(&decided), absl::Milliseconds(200))) {
          if (cancel->cancelled()) break;
        }
        decision = decisions_[job.id];
        decisions_.erase(job.id);
      }
      if (!decision.decided) return absl::CancelledError("cancelled while awaiting approval");
      std::string said = decision.comment.empty() ? "" : absl::StrCat(": ", decision.comment);
      if (!decision.approved) return absl::CancelledError(absl::StrCat("plan rejected by ", decision.actor, said));
      job.state = JobState::kRunning;
      PLINTH_RETURN_IF_ERROR(jobs_->Save(job, absl::StrCat("approved by ", decision.actor, said)));
      if (observer_) observer_(job);
      jobs_->AppendEvents(job.id, {{0, clock_->Now(), "system", "", absl::StrCat("plan approved by ", decision.actor, said), nullptr}})
          .IgnoreError();
      return absl::OkStatus();
    };
  }

  // What is redacted from the log, sealed: a plinthd restarted while a
  // step runs redacts that step's output the same way.
  if (secrets_ != nullptr && !spec.secrets.empty()) {
    fs::create_directories(spec.workspace_dir, ec);
    s = engine::WriteOwnerOnlyFile((fs::path(spec.workspace_dir) / kRedactFile).string(),
                                   secrets_->Seal(json(spec.secrets).dump()));
    if (!s.ok()) return finish(JobState::kFailed, std::string(s.message()));
  }
  engine::JobOutcome out;
  {
    StoringListener listener(jobs_, job.id, settings_.max_log_bytes, static_cast<size_t>(job.log_bytes),
                             std::move(preamble));
    preamble.clear();
    if (remote) {
      // The runner works on a copy of the resource's state directory and
      // sends it back: state stays in plinthd's data dir.
      const std::set<std::string> skip = {".terraform", ".pulumi-home"};
      RemoteRun run;
      run.pool = pool;
      run.spec = &spec;
      run.cancel = cancel.get();
      run.listener = &listener;
      if (spec.backend_type.empty()) {
        auto tree = engine::ReadTree(spec.state_dir, skip);
        if (!tree.ok()) return finish(JobState::kFailed, std::string(tree.status().message()));
        run.state_out = std::move(tree->files);
      }
      run.on_leased = [&](const std::string& runner_id, const std::string& runner_name, int64_t generation) {
        job.runner_id = runner_id;
        job.runner_name = runner_name;
        job.runner_pool = pool;
        job.lease_generation = generation;
        absl::Status leased = jobs_->SetLease(job.id, runner_id, runner_name, pool, generation);
        if (!leased.ok()) log->error("job={} cannot record its lease: {}", job.id, leased.message());
      };
      run.on_checkpoint = [&](std::map<std::string, std::string> files) {
        // Pulumi's stack after a step: kept at once, so a lost runner
        // loses no more than the step it was in.
        if (settings_.states != nullptr) {
          json tree = json::object();
          for (const auto& [rel, content] : files) tree[rel] = absl::Base64Escape(content);
          auto put = settings_.states->Put(job.resource_id, "pulumi", json{{"files", tree}}.dump(), job.id, "");
          if (!put.ok()) log->error("job={} cannot keep the checkpoint its runner sent: {}", job.id, put.status().message());
        }
        absl::Status kept = engine::WriteTree(spec.state_dir, {std::move(files), {}});
        if (!kept.ok()) log->error("job={} cannot keep the checkpoint its runner sent: {}", job.id, kept.message());
      };
      if (resume) {
        run.resume = WorkLease{job.id, job.lease_generation};
        run.resume_runner_id = job.runner_id;
        run.resume_runner_name = job.runner_name;
      }
      if (resume && job.cancel_requested) cancel->Cancel();  // asked for while plinthd was down
      RemoteResult remote_result = settings_.runner_hub->Run(run);
      if (remote_result.detached) {
        log->info("job={} resource={}: plinthd is stopping; runner {} goes on with the job, and the next plinthd "
                  "follows it", job.id, job.key.ToString(), job.runner_name);
        listener.OnLine(engine::JobListener::Stream::kSystem, "",
                        absl::StrCat("plinthd is stopping; runner ", job.runner_name, " goes on with the job"));
        listener.Flush();
        return;
      }
      out = std::move(remote_result.outcome);
      if (!out.module_revision.empty()) job.module_revision = out.module_revision;
      std::optional<std::map<std::string, std::string>> state_back = std::move(remote_result.state_back);
      const auto& state_out = run.state_out;
      if (state_back && spec.backend_type.empty()) {
        for (const auto& [rel, content] : state_out) {
          if (!state_back->count(rel)) fs::remove(fs::path(spec.state_dir) / rel, ec);
        }
        absl::Status written = engine::WriteTree(spec.state_dir, {std::move(*state_back), {}});
        if (!written.ok()) {
          log->error("job={} cannot store the state its runner sent back: {}", job.id, written.message());
          out.state = engine::JobOutcome::State::kFailed;
          out.error = absl::StrCat("the state the runner sent back could not be stored: ", written.message());
        }
      }
    } else {
      std::unique_ptr<engine::StackRunner> runner;
      if (job.engine == "pulumi") {
        runner = std::make_unique<engine::PulumiRunner>(launcher_);
      } else {
        runner = std::make_unique<engine::TerraformRunner>(launcher_);
      }
      RestoreLocalState(job, spec);
      out = runner->Run(spec, cancel.get(), &listener);
    }
  }
  KeepLocalState(job, spec);

  job.engine_version = out.engine_version;
  job.steps = StepsJson(out.steps);
  if (out.has_summary) job.summary = SummaryJson(out.summary, out.output_changes);
  job.resources = ResourcesJson(out.resources);
  job.diagnostics = json::array();
  for (const auto& d : out.diagnostics) {
    job.diagnostics.push_back({{"severity", d.severity}, {"summary", d.summary}, {"detail", d.detail}, {"address", d.address}});
  }
  if (out.state == engine::JobOutcome::State::kSucceeded && out.outputs_changed) {
    json shown = json::object(), sensitive = json::object();
    for (const auto& [name, o] : out.outputs.items()) {
      bool secret = o.value("sensitive", false);
      shown[name] = secret ? json(kSensitive) : o["value"];
      if (secret) sensitive[name] = o["value"];
    }
    std::string sealed = sensitive.empty() || secrets_ == nullptr ? "" : secrets_->Seal(sensitive.dump());
    bool destroyed = spec.operation == engine::Operation::kDestroy;
    job.outputs = destroyed ? json(nullptr) : shown;
    // Stored with the job's end, in one transaction.
    resource_outputs = {job.resource_id, destroyed ? json(nullptr) : shown, destroyed ? "" : sealed, !destroyed,
                        spec.operation == engine::Operation::kUpdate ? digest : resource->deployed_digest};
    final_outputs = &resource_outputs;
  }
  switch (out.state) {
    case engine::JobOutcome::State::kSucceeded: return finish(JobState::kSucceeded, "");
    case engine::JobOutcome::State::kCancelled: return finish(JobState::kCancelled, out.error);
    case engine::JobOutcome::State::kFailed: return finish(JobState::kFailed, out.error);
    case engine::JobOutcome::State::kInterrupted: return finish(JobState::kInterrupted, out.error);
  }
}

void StackJobRunner::RestoreLocalState(const store::StackJobRecord& job, const engine::JobSpec& spec) {
  if (settings_.states == nullptr || !spec.backend_type.empty() || job.engine == "pulumi") return;
  auto kept = settings_.states->Get(job.resource_id);
  if (!kept.ok() || !*kept) return;
  const fs::path file = fs::path(spec.state_dir) / "terraform.tfstate";
  std::ifstream in(file, std::ios::binary);
  if (in) {
    // Only a newer state replaces the file (one a runner wrote): the file
    // may be newer than every kept version (a step a crash left running
    // wrote it), and it is never rolled back.
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    json local = json::parse(content, nullptr, false);
    const int64_t serial = local.is_object() ? local.value("serial", int64_t{0}) : 0;
    if (core::Sha256Hex(content) == (*kept)->sha256 || serial >= (*kept)->serial) return;
  }
  std::error_code ec;
  fs::create_directories(spec.state_dir, ec);
  absl::Status s = engine::WriteOwnerOnlyFile(file.string(), (*kept)->content);
  if (!s.ok()) core::Logger("jobs")->error("job={} cannot restore its state file: {}", job.id, s.message());
}

void StackJobRunner::KeepLocalState(const store::StackJobRecord& job, const engine::JobSpec& spec) {
  if (settings_.states == nullptr || !spec.backend_type.empty() || job.engine == "pulumi") return;
  std::ifstream in(fs::path(spec.state_dir) / "terraform.tfstate", std::ios::binary);
  if (!in) return;
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto put = settings_.states->Put(job.resource_id, "terraform", content, job.id, "");
  if (!put.ok()) core::Logger("jobs")->error("job={} cannot keep a version of its state: {}", job.id, put.status().message());
}

std::string StackJobRunner::WorkspaceOf(const std::string& job_id) const {
  return (fs::path(settings_.data_dir) / "workspaces" / job_id).string();
}

void StackJobRunner::Adopt(store::StackJobRecord job, std::vector<engine::LeftStep> steps) {
  auto log = core::Logger("jobs");
  std::shared_ptr<engine::CancelToken> cancel;
  {
    absl::MutexLock lock(&mu_);
    cancel = cancels_[job.id];
  }
  const std::string workspace = WorkspaceOf(job.id);
  // The log is redacted as the previous plinthd redacted it.
  std::vector<std::string> secrets;
  if (secrets_ != nullptr) {
    std::ifstream in(fs::path(workspace) / kRedactFile, std::ios::binary);
    std::string sealed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!sealed.empty()) {
      auto plain = secrets_->Open(sealed);
      json list = plain.ok() ? json::parse(*plain, nullptr, false) : json();
      if (list.is_array()) {
        for (const auto& v : list) {
          if (v.is_string()) secrets.push_back(v.get<std::string>());
        }
      } else {
        log->error("job={} cannot read its sealed redaction list; its adopted output is not stored", job.id);
      }
    }
  }
  const bool unredactable = secrets_ != nullptr && secrets.empty() && fs::exists(fs::path(workspace) / kRedactFile);
  engine::Redactor redactor(secrets);
  // Lines of each step already stored by the previous plinthd.
  std::map<std::pair<std::string, std::string>, int64_t> stored;
  for (int64_t after = 0;;) {
    auto page = jobs_->Events(job.id, after, 1000);
    if (!page.ok() || page->empty()) break;
    for (const auto& e : *page) {
      if (e.type == "stdout" || e.type == "stderr") stored[{e.step, e.type}] += 1;
      after = e.seq;
    }
  }
  std::sort(steps.begin(), steps.end(), [](const engine::LeftStep& a, const engine::LeftStep& b) { return a.ended > b.ended; });
  json step_records = job.steps.is_array() ? job.steps : json::array();
  json diagnostics = job.diagnostics.is_array() ? job.diagnostics : json::array();
  std::string what;
  {
    StoringListener listener(jobs_, job.id, settings_.max_log_bytes, static_cast<size_t>(job.log_bytes), {});
    for (const auto& step : steps) {
      log->warn("job={} resource={}: plinthd restarted during its {} step, which {}; following it to its end", job.id,
                job.key.ToString(), step.name, step.running ? "still runs" : "ended meanwhile");
      listener.OnLine(engine::JobListener::Stream::kSystem, step.name,
                      absl::StrCat("plinthd restarted during the ", step.name, " step; the step was left to run and ",
                                   "its output continues here"));
      listener.Flush();
      absl::Time start = clock_->Now();
      auto on_line = [&](const engine::OutputLine& line) {
        if (unredactable) return;
        std::string text = redactor.Redact(line.text);
        bool is_stdout = line.stream == engine::OutputLine::Stream::kStdout;
        listener.OnLine(is_stdout ? engine::JobListener::Stream::kStdout : engine::JobListener::Stream::kStderr,
                        step.name, text);
        if (!is_stdout || line.continued || text.empty() || text[0] != '{') return;
        engine::EngineEvent e = job.engine == "pulumi" ? engine::ParsePulumiLine(text) : engine::ParseTerraformLine(text);
        e.summary.reset();  // the plan's counts stay the job's
        if (e.diagnostic) {
          diagnostics.push_back({{"severity", e.diagnostic->severity}, {"summary", e.diagnostic->summary},
                                 {"detail", e.diagnostic->detail}, {"address", e.diagnostic->address}});
        }
        listener.OnEvent(step.name, e);
      };
      auto result = engine::FollowStep(step.dir, on_line, cancel.get(), stored[{step.name, "stdout"}],
                                       stored[{step.name, "stderr"}]);
      int exit_code = result.ok() ? result->exit_code : -1;
      step_records.push_back({{"name", step.name}, {"exitCode", exit_code},
                              {"startTime", absl::FormatTime(absl::RFC3339_full, start, absl::UTCTimeZone())},
                              {"endTime", absl::FormatTime(absl::RFC3339_full, clock_->Now(), absl::UTCTimeZone())}});
      std::string end;
      if (!result.ok()) {
        end = std::string(result.status().message());
      } else if (result->signal != 0) {
        end = absl::StrCat("was killed by signal ", result->signal);
      } else {
        end = absl::StrCat("ended with exit code ", result->exit_code, result->cancelled ? " after a cancel" : "",
                           result->timed_out ? " after its timeout" : "");
      }
      listener.OnLine(engine::JobListener::Stream::kSystem, step.name, absl::StrCat("the ", step.name, " step ", end));
      if (!what.empty()) absl::StrAppend(&what, "; ");
      absl::StrAppend(&what, "its ", step.name, " step, left to run, ", end);
    }
  }
  {
    // What the followed step left in the state file is kept as a version.
    engine::JobSpec left;
    left.state_dir = (fs::path(settings_.data_dir) / "state" / job.resource_id).string();
    KeepLocalState(job, left);
  }
  auto current = jobs_->Get(job.id);
  const bool cancelled = current.ok() && current->cancel_requested;
  if (current.ok()) job = *current;
  job.steps = step_records;
  job.diagnostics = diagnostics;
  job.state = cancelled ? JobState::kCancelled : JobState::kInterrupted;
  job.pgid = 0;
  job.ended_at = clock_->Now();
  job.error = absl::StrCat("plinthd restarted during the job: ", what,
                           ". Its outputs were not read and nothing more was applied; run the job again: it starts "
                           "from a fresh plan.");
  absl::Status s = jobs_->Save(job, absl::StrCat(store::JobStateName(job.state), ": ", job.error));
  if (!s.ok()) log->error("job={} cannot save its end: {}", job.id, s.message());
  // Only now: a crash before the save finds the steps' ends again.
  std::error_code ec;
  fs::remove_all(workspace, ec);  // the step's files and the sealed list: nothing is kept
  {
    absl::MutexLock lock(&mu_);
    adopting_.erase(job.id);
    cancels_.erase(job.id);
    busy_resources_.erase(job.resource_id);
  }
  if (observer_) observer_(job);
  log->info("job={} resource={} ended {} after its adopted step: {}", job.id, job.key.ToString(),
            std::string(store::JobStateName(job.state)), what);
}

}  // namespace plinth::orchestrator
