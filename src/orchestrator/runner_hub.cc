#include "plinth/orchestrator/runner_hub.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "plinth/core/logging.h"

namespace plinth::orchestrator {

namespace {
constexpr char kNotCached[] = "module not cached: ";
}  // namespace

RunnerHub::RunnerHub(absl::Duration lease_time) : lease_time_(lease_time) {
  next_generation_ = absl::ToUnixMicros(absl::Now());
}

std::vector<WorkLease> RunnerHub::Attach(const RunnerInfo& runner, std::shared_ptr<RunnerChannel> channel,
                                         const std::vector<WorkLease>& held) {
  absl::MutexLock lock(&mu_);
  Runner& r = runners_[runner.id];
  std::set<std::string> cached = std::move(r.info.cached_modules);
  r.info = runner;
  r.info.cached_modules.insert(cached.begin(), cached.end());
  r.channel = std::move(channel);  // a reconnect keeps the leases it still holds
  r.last_heartbeat = absl::Now();
  std::vector<WorkLease> stale;
  std::set<std::string> named;
  for (const auto& lease : held) {
    named.insert(lease.work_id);
    auto it = work_.find(lease.work_id);
    if (it == work_.end() || it->second->runner_id != runner.id || it->second->lease.generation != lease.generation ||
        it->second->lost || it->second->done) {
      stale.push_back(lease);
      continue;
    }
    r.leased.insert(lease.work_id);  // a resumed job's lease
  }
  // Leases it no longer has: it restarted and lost that work.
  for (auto it = r.leased.begin(); it != r.leased.end();) {
    it = work_.count(*it) ? std::next(it) : r.leased.erase(it);
  }
  std::vector<std::shared_ptr<Work>> forgotten;
  for (const auto& [id, work] : work_) {
    if (work->runner_id == runner.id && !work->done && !work->lost && !named.count(id)) forgotten.push_back(work);
  }
  for (const auto& work : forgotten) {
    // An offer sent on the old stream may never have arrived: not started,
    // it is offered again; started, it is interrupted.
    LoseLocked(*work, absl::StrCat("runner ", runner.name, " reconnected without this work"));
  }
  return stale;
}

void RunnerHub::Detach(const std::string& runner_id, const RunnerChannel* channel) {
  absl::MutexLock lock(&mu_);
  auto it = runners_.find(runner_id);
  if (it == runners_.end() || it->second.channel.get() != channel) return;  // it reconnected meanwhile
  // Live operations end with their runner's stream: nothing resumes them.
  for (auto& [id, work] : work_) {
    if (work->ops && work->runner_id == runner_id && !work->ops_end && !work->lost) {
      LoseLocked(*work, absl::StrCat("runner ", it->second.info.name, " disconnected during the operation"));
    }
  }
  // Its leases last until they expire: a runner that reconnects in time
  // goes on with them.
  it->second.channel.reset();
  if (it->second.leased.empty()) runners_.erase(it);
}

void RunnerHub::Heartbeat(const std::string& runner_id) {
  absl::MutexLock lock(&mu_);
  auto it = runners_.find(runner_id);
  if (it != runners_.end()) it->second.last_heartbeat = absl::Now();
}

bool RunnerHub::Report(const std::string& runner_id, const WorkLease& lease, std::vector<WorkReport> reports) {
  absl::MutexLock lock(&mu_);
  auto it = work_.find(lease.work_id);
  if (it == work_.end() || it->second->runner_id != runner_id || it->second->lease.generation != lease.generation ||
      it->second->lost || it->second->done) {
    return false;
  }
  auto r = runners_.find(runner_id);
  if (r != runners_.end()) r->second.last_heartbeat = absl::Now();
  Work& work = *it->second;
  if (work.ops && work.ops_end) return true;  // ended here already (a slow reader)
  for (auto& report : reports) {
    if (report.type == WorkReport::Type::kStepStarted) work.started = true;
    work.buffered += report.text.size();
    work.reports.push_back(std::move(report));
  }
  if (work.ops && work.buffered > kMaxOpsBuffer) {
    // The caller reads slower than the cluster sends: end it rather than
    // take plinthd's memory.
    work.ops_end = OpsEnd{absl::ResourceExhaustedError(absl::StrCat(
                              "the caller read too slowly: more than ", kMaxOpsBuffer >> 20,
                              " MiB of output waited for it; the operation was stopped")),
                          ""};
    if (r != runners_.end() && r->second.channel) r->second.channel->CancelWork(work.lease, "the caller read too slowly");
  }
  work.changed.Signal();
  return true;
}

bool RunnerHub::Result(const std::string& runner_id, const WorkLease& lease, engine::JobOutcome outcome,
                       std::optional<std::map<std::string, std::string>> state_files) {
  absl::MutexLock lock(&mu_);
  auto it = work_.find(lease.work_id);
  if (it == work_.end() || it->second->runner_id != runner_id || it->second->lease.generation != lease.generation ||
      it->second->lost || it->second->done) {
    return false;
  }
  it->second->outcome = std::move(outcome);
  it->second->state_files = std::move(state_files);
  it->second->done = true;
  it->second->changed.Signal();
  auto r = runners_.find(runner_id);
  if (r != runners_.end()) r->second.leased.erase(lease.work_id);
  return true;
}

bool RunnerHub::Declined(const std::string& runner_id, const WorkLease& lease, const std::string& reason) {
  absl::MutexLock lock(&mu_);
  auto it = work_.find(lease.work_id);
  if (it == work_.end() || it->second->runner_id != runner_id || it->second->lease.generation != lease.generation ||
      it->second->lost || it->second->done) {
    return false;
  }
  it->second->declined = true;
  it->second->declined_why = reason;
  it->second->changed.Signal();
  auto r = runners_.find(runner_id);
  if (r != runners_.end()) {
    r->second.leased.erase(lease.work_id);
    if (absl::StartsWith(reason, kNotCached)) r->second.info.cached_modules.erase(reason.substr(sizeof(kNotCached) - 1));
  }
  return true;
}

void RunnerHub::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
  for (auto& [id, work] : work_) work->changed.Signal();
}

void RunnerHub::Expect(const WorkLease& lease, const std::string& runner_id) {
  absl::MutexLock lock(&mu_);
  auto work = std::make_shared<Work>();
  work->lease = lease;
  work->runner_id = runner_id;
  work->started = true;  // it may have: never offered blindly again
  work->since = absl::Now();
  work_[lease.work_id] = work;
  next_generation_ = std::max(next_generation_, lease.generation);
}

std::vector<std::string> RunnerHub::Leased(const std::string& runner_id) const {
  absl::MutexLock lock(&mu_);
  auto it = runners_.find(runner_id);
  if (it == runners_.end()) return {};
  return {it->second.leased.begin(), it->second.leased.end()};
}

std::string RunnerHub::PickLocked(const std::string& pool, const engine::JobSpec& spec,
                                  const std::set<std::string>& exclude, std::string* why) const {
  int in_pool = 0, with_engine = 0, with_connection = 0;
  const Runner* best = nullptr;
  for (const auto& [id, r] : runners_) {
    if (r.info.pool != pool || r.channel == nullptr) continue;
    ++in_pool;
    if (!r.info.engines.count(spec.engine)) continue;
    ++with_engine;
    if (!spec.runner_connection.empty() && !r.info.connections.count(spec.runner_connection)) continue;
    ++with_connection;
    if (exclude.count(id) || static_cast<int>(r.leased.size()) >= r.info.max_jobs) continue;
    // The least loaded, so a pipeline spreads over the pool.
    if (best == nullptr || r.leased.size() * best->info.max_jobs < best->leased.size() * r.info.max_jobs) best = &r;
  }
  if (best != nullptr) return best->info.id;
  if (in_pool == 0) {
    *why = absl::StrCat("no runner of pool ", pool, " is connected");
  } else if (with_engine == 0) {
    *why = absl::StrCat("no connected runner of pool ", pool, " has the engine ", spec.engine);
  } else if (with_connection == 0) {
    *why = absl::StrCat("no connected runner of pool ", pool, " with ", spec.engine, " holds connection ",
                        spec.runner_connection, " (runner.yaml connections)");
  } else {
    *why = absl::StrCat("every runner of pool ", pool, " that can take it is busy");
  }
  return "";
}

void RunnerHub::LoseLocked(Work& work, const std::string& why) {
  work.lost = true;
  work.lost_why = why;
  work.changed.Signal();
  auto r = runners_.find(work.runner_id);
  if (r == runners_.end()) return;
  r->second.leased.erase(work.lease.work_id);
  if (r->second.channel) r->second.channel->LoseLease(work.lease, why);
  if (r->second.channel == nullptr && r->second.leased.empty()) runners_.erase(r);
}

std::shared_ptr<RunnerChannel> RunnerHub::ChannelLocked(const Work& work) const {
  auto r = runners_.find(work.runner_id);
  return r == runners_.end() ? nullptr : r->second.channel;
}

RemoteResult RunnerHub::Run(const RemoteRun& run) {
  using Stream = engine::JobListener::Stream;
  const engine::JobSpec& spec = *run.spec;
  if (run.resume) {
    std::shared_ptr<Work> work;
    {
      absl::MutexLock lock(&mu_);
      auto it = work_.find(spec.job_id);
      if (it != work_.end() && it->second->lease.generation == run.resume->generation) {
        work = it->second;  // Expect()ed; its runner may be back already
      } else {
        work = std::make_shared<Work>();
        work->lease = *run.resume;
        work->runner_id = run.resume_runner_id;
        work->started = true;
        work->since = absl::Now();
        work_[spec.job_id] = work;
      }
    }
    bool retry = false;
    RemoteResult result = Watch(run, work, run.resume_runner_name, &retry);
    if (!retry) return result;
  }
  std::set<std::string> exclude;
  std::string said_why;
  for (;;) {
    // A runner that takes it.
    std::shared_ptr<Work> work;
    std::shared_ptr<RunnerChannel> channel;
    std::string runner_name, runner_id;
    std::set<std::string> cached;
    {
      absl::MutexLock lock(&mu_);
      if (shutdown_) {
        RemoteResult result;
        result.outcome.state = engine::JobOutcome::State::kCancelled;
        result.outcome.error = "plinthd shut down before a runner took the job";
        return result;
      }
      std::string why;
      std::string id = PickLocked(run.pool, spec, exclude, &why);
      if (id.empty() && !exclude.empty()) {
        // Every runner that could take it declined it once: they may now
        // (next round).
        exclude.clear();
      }
      if (!id.empty()) {
        Runner& r = runners_[id];
        work = std::make_shared<Work>();
        work->lease = {spec.job_id, ++next_generation_};
        work->runner_id = id;
        work->since = absl::Now();
        work_[spec.job_id] = work;
        r.leased.insert(spec.job_id);
        channel = r.channel;
        runner_name = r.info.name;
        runner_id = id;
        cached = r.info.cached_modules;
      } else if (why != said_why) {
        said_why = why;
        mu_.Unlock();
        run.listener->OnLine(Stream::kSystem, "", absl::StrCat("waiting for a runner: ", why));
        run.listener->Sync();
        mu_.Lock();
      }
    }
    if (work == nullptr) {
      if (run.cancel != nullptr && run.cancel->cancelled()) {
        RemoteResult result;
        result.outcome.state = engine::JobOutcome::State::kCancelled;
        result.outcome.error = absl::StrCat("cancelled while waiting for a runner (", said_why, ")");
        return result;
      }
      absl::SleepFor(absl::Milliseconds(100));
      continue;
    }
    run.listener->OnLine(Stream::kSystem, "", absl::StrCat("runner: ", runner_name, " of pool ", run.pool, " (lease ",
                                                           work->lease.generation, ")"));
    if (run.on_leased) run.on_leased(runner_id, runner_name, work->lease.generation);
    const std::string digest =
        channel->OfferStackJob(work->lease, spec, static_cast<bool>(spec.before_apply), run.state_out, cached);
    if (!digest.empty()) {
      // It unpacks the archive on receipt: later offers leave the files out
      // (a runner that lost it declines, and gets them again).
      absl::MutexLock lock(&mu_);
      auto r = runners_.find(runner_id);
      if (r != runners_.end()) r->second.info.cached_modules.insert(digest);
    }
    bool retry = false;
    RemoteResult result = Watch(run, work, runner_name, &retry);
    if (!retry) return result;
    if (work->declined && !absl::StartsWith(work->declined_why, kNotCached)) exclude.insert(work->runner_id);
    if (work->declined && exclude.size() == 1) absl::SleepFor(absl::Milliseconds(50));  // not in a tight loop
    said_why.clear();
  }
}

RemoteResult RunnerHub::Watch(const RemoteRun& run, std::shared_ptr<Work> work, const std::string& runner_name,
                              bool* retry) {
  using Stream = engine::JobListener::Stream;
  const engine::JobSpec& spec = *run.spec;
  engine::CancelToken* cancel = run.cancel;
  engine::JobListener* listener = run.listener;
  RemoteResult result;
  bool cancel_sent = false;
  std::optional<std::pair<bool, std::string>> decision;  // the approval gate, once decided
  for (;;) {
    std::deque<WorkReport> reports;
    bool done = false, lost = false, declined = false, started = false;
    std::shared_ptr<RunnerChannel> channel;
    {
      absl::MutexLock lock(&mu_);
      // The timeout also paces the lease, runner-gone, cancel and shutdown
      // checks below.
      if (work->reports.empty() && !work->done && !work->lost && !work->declined) {
        work->changed.WaitWithTimeout(&mu_, absl::Milliseconds(200));
      }
      auto r = runners_.find(work->runner_id);
      const bool gone = r == runners_.end() || r->second.channel == nullptr;
      if (!work->done && !work->lost && !work->declined && gone && cancel != nullptr && cancel->cancelled() &&
          !shutdown_) {
        // Cancelled (or plinthd stopping) while its runner is away: not
        // worth waiting out the lease.
        LoseLocked(*work, absl::StrCat("runner ", runner_name, " is not connected and the job was cancelled"));
      }
      r = runners_.find(work->runner_id);  // LoseLocked may have removed it
      const absl::Time seen = r == runners_.end() ? work->since : std::max(work->since, r->second.last_heartbeat);
      if (!work->done && !work->lost && !work->declined && !shutdown_ && absl::Now() - seen > lease_time_) {
        LoseLocked(*work, absl::StrCat("runner ", runner_name, " sent nothing for ", absl::FormatDuration(lease_time_),
                                       " (its lease expired)"));
      }
      reports.swap(work->reports);
      done = work->done;
      lost = work->lost;
      declined = work->declined;
      started = work->started;
      channel = ChannelLocked(*work);
    }
    for (auto& report : reports) {
      switch (report.type) {
        case WorkReport::Type::kLine:
          listener->OnLine(report.stream, report.step, report.text);
          break;
        case WorkReport::Type::kEvent:
          listener->OnEvent(report.step, report.event);
          break;
        case WorkReport::Type::kStepStarted:
          break;
        case WorkReport::Type::kCheckpoint:
          if (run.on_checkpoint) run.on_checkpoint(std::move(report.files));
          break;
        case WorkReport::Type::kAwaitingApproval: {
          // The gate is plinthd's: the decision goes back to the runner. A
          // runner that reconnected asks again: it gets the same answer.
          if (!decision) {
            absl::Status decided = spec.before_apply ? spec.before_apply(report.planned) : absl::OkStatus();
            decision.emplace(decided.ok(), std::string(decided.message()));
            absl::MutexLock lock(&mu_);
            channel = ChannelLocked(*work);
          }
          if (channel) channel->Decide(work->lease, decision->first, "", decision->second);
          break;
        }
      }
    }
    if (!reports.empty()) listener->Sync();
    if (!done && !lost && !declined) {
      // plinthd is stopping: the work stays the runner's, and its lease
      // is kept for the next plinthd (recorded on the job).
      absl::MutexLock lock(&mu_);
      if (shutdown_) {
        if (auto it = work_.find(spec.job_id); it != work_.end() && it->second == work) work_.erase(it);
        auto r = runners_.find(work->runner_id);
        if (r != runners_.end()) r->second.leased.erase(spec.job_id);
        result.detached = true;
        return result;
      }
    }
    if (cancel != nullptr && cancel->cancelled() && !cancel_sent && !done && !lost && channel) {
      cancel_sent = true;
      channel->CancelWork(work->lease, "cancelled");
    }
    if (done) {
      absl::MutexLock lock(&mu_);
      if (auto it = work_.find(spec.job_id); it != work_.end() && it->second == work) work_.erase(it);
      result.state_back = std::move(work->state_files);
      result.outcome = std::move(work->outcome);
      return result;
    }
    if (declined) {
      {
        absl::MutexLock lock(&mu_);
        if (auto it = work_.find(spec.job_id); it != work_.end() && it->second == work) work_.erase(it);
      }
      if (!absl::StartsWith(work->declined_why, kNotCached) && work->declined_why != run.last_decline) {
        run.last_decline = work->declined_why;
        listener->OnLine(Stream::kSystem, "", absl::StrCat("runner ", runner_name, " declined the job: ",
                                                           work->declined_why));
      }
      *retry = true;
      return result;
    }
    if (lost) {
      {
        absl::MutexLock lock(&mu_);
        if (auto it = work_.find(spec.job_id); it != work_.end() && it->second == work) work_.erase(it);
      }
      if (!started) {
        listener->OnLine(Stream::kSystem, "", absl::StrCat(work->lost_why, " before any engine step; offering it again"));
        *retry = true;
        return result;
      }
      result.outcome.state = engine::JobOutcome::State::kInterrupted;
      result.outcome.error = absl::StrCat(work->lost_why, " during the job; nothing more is applied. It runs again "
                                                          "from a fresh plan.");
      core::Logger("runners")->warn("job={} interrupted: {}", spec.job_id, work->lost_why);
      return result;
    }
  }
}

absl::StatusOr<OpsCall> RunnerHub::StartOps(const std::string& pool, const std::string& connection,
                                            const std::string& payload) {
  std::shared_ptr<RunnerChannel> channel;
  OpsCall call;
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) return absl::UnavailableError("plinthd is stopping");
    int in_pool = 0;
    const Runner* best = nullptr;
    for (const auto& [id, r] : runners_) {
      if (r.info.pool != pool || r.channel == nullptr) continue;
      ++in_pool;
      if (!connection.empty() && !r.info.connections.count(connection)) continue;
      if (best == nullptr || r.leased.size() < best->leased.size()) best = &r;
    }
    if (best == nullptr) {
      const std::string what = connection.empty() ? std::string("this cluster") : absl::StrCat("connection ", connection);
      if (in_pool == 0) {
        return absl::UnavailableError(absl::StrCat("no runner of pool ", pool, " is connected (", what,
                                                   " is served through that pool's runners)"));
      }
      return absl::UnavailableError(absl::StrCat("no connected runner of pool ", pool, " holds connection ", connection,
                                                 " (runner.yaml connections)"));
    }
    auto work = std::make_shared<Work>();
    work->ops = true;
    work->started = true;
    ++next_generation_;
    work->lease = {absl::StrCat("ops-", next_generation_), next_generation_};
    work->runner_id = best->info.id;
    work->since = absl::Now();
    work_[work->lease.work_id] = work;
    channel = best->channel;
    call = {work->lease, best->info.id, best->info.name};
  }
  channel->OfferOps(call.lease, payload);
  return call;
}

std::vector<WorkReport> RunnerHub::PollOps(const OpsCall& call, absl::Duration wait, std::optional<OpsEnd>* end) {
  absl::MutexLock lock(&mu_);
  auto it = work_.find(call.lease.work_id);
  if (it == work_.end() || !it->second->ops) {
    *end = OpsEnd{absl::UnavailableError("the operation is no longer known to plinthd"), ""};
    return {};
  }
  std::shared_ptr<Work> work = it->second;
  if (work->reports.empty() && !work->ops_end && !work->lost) work->changed.WaitWithTimeout(&mu_, wait);
  if (!work->ops_end && !work->lost) {
    auto r = runners_.find(work->runner_id);
    const absl::Time seen = r == runners_.end() ? work->since : std::max(work->since, r->second.last_heartbeat);
    if (r == runners_.end() || r->second.channel == nullptr) {
      LoseLocked(*work, absl::StrCat("runner ", call.runner_name, " disconnected during the operation"));
    } else if (absl::Now() - seen > lease_time_) {
      LoseLocked(*work, absl::StrCat("runner ", call.runner_name, " sent nothing for ",
                                     absl::FormatDuration(lease_time_), " (its lease expired)"));
    }
  }
  std::vector<WorkReport> out(std::make_move_iterator(work->reports.begin()),
                              std::make_move_iterator(work->reports.end()));
  work->reports.clear();
  work->buffered = 0;
  if (work->ops_end || work->lost) {
    *end = work->ops_end ? *work->ops_end : OpsEnd{absl::UnavailableError(work->lost_why), ""};
    work_.erase(call.lease.work_id);
  }
  return out;
}

void RunnerHub::OpsInput(const OpsCall& call, const std::string& input) {
  std::shared_ptr<RunnerChannel> channel;
  {
    absl::MutexLock lock(&mu_);
    auto it = work_.find(call.lease.work_id);
    if (it == work_.end() || !it->second->ops) return;
    channel = ChannelLocked(*it->second);
  }
  if (channel) channel->OpsInput(call.lease, input);
}

void RunnerHub::CancelOps(const OpsCall& call) {
  std::shared_ptr<RunnerChannel> channel;
  {
    absl::MutexLock lock(&mu_);
    auto it = work_.find(call.lease.work_id);
    if (it == work_.end() || !it->second->ops) return;
    channel = ChannelLocked(*it->second);
    work_.erase(it);
  }
  if (channel) channel->CancelWork(call.lease, "the caller went");
}

bool RunnerHub::OpsResult(const std::string& runner_id, const WorkLease& lease, OpsEnd end) {
  absl::MutexLock lock(&mu_);
  auto it = work_.find(lease.work_id);
  if (it == work_.end() || !it->second->ops || it->second->runner_id != runner_id ||
      it->second->lease.generation != lease.generation || it->second->lost) {
    return false;
  }
  if (!it->second->ops_end) it->second->ops_end = std::move(end);
  it->second->changed.Signal();
  auto r = runners_.find(runner_id);
  if (r != runners_.end()) r->second.last_heartbeat = absl::Now();
  return true;
}

}  // namespace plinth::orchestrator
