#include "plinth/orchestrator/runner_hub.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "plinth/core/logging.h"

namespace plinth::orchestrator {

void RunnerHub::Attach(const RunnerInfo& runner, std::shared_ptr<RunnerChannel> channel) {
  absl::MutexLock lock(&mu_);
  Runner& r = runners_[runner.id];
  r.info = runner;
  r.channel = std::move(channel);  // a reconnect keeps the leases it still holds
  r.last_heartbeat = absl::Now();
}

void RunnerHub::Detach(const std::string& runner_id, const RunnerChannel* channel) {
  absl::MutexLock lock(&mu_);
  auto it = runners_.find(runner_id);
  if (it == runners_.end() || it->second.channel.get() != channel) return;  // it reconnected meanwhile
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
  for (auto& report : reports) {
    if (report.type == WorkReport::Type::kStepStarted) it->second->started = true;
    it->second->reports.push_back(std::move(report));
  }
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
  auto r = runners_.find(runner_id);
  if (r != runners_.end()) r->second.leased.erase(lease.work_id);
  return true;
}

std::vector<std::string> RunnerHub::Leased(const std::string& runner_id) const {
  absl::MutexLock lock(&mu_);
  auto it = runners_.find(runner_id);
  if (it == runners_.end()) return {};
  return {it->second.leased.begin(), it->second.leased.end()};
}

std::string RunnerHub::PickLocked(const std::string& pool, const std::string& engine,
                                  const std::set<std::string>& exclude, std::string* why) const {
  int in_pool = 0, with_engine = 0;
  const Runner* best = nullptr;
  for (const auto& [id, r] : runners_) {
    if (r.info.pool != pool || r.channel == nullptr) continue;
    ++in_pool;
    if (!r.info.engines.count(engine) || exclude.count(id)) continue;
    ++with_engine;
    if (static_cast<int>(r.leased.size()) >= r.info.max_jobs) continue;
    // The least loaded, so a pipeline spreads over the pool.
    if (best == nullptr || r.leased.size() * best->info.max_jobs < best->leased.size() * r.info.max_jobs) best = &r;
  }
  if (best != nullptr) return best->info.id;
  if (in_pool == 0) {
    *why = absl::StrCat("no runner of pool ", pool, " is connected");
  } else if (with_engine == 0) {
    *why = absl::StrCat("no connected runner of pool ", pool, " has the engine ", engine);
  } else {
    *why = absl::StrCat("every runner of pool ", pool, " with ", engine, " is busy");
  }
  return "";
}

void RunnerHub::LoseLocked(Work& work, const std::string& why) {
  work.lost = true;
  work.lost_why = why;
  auto r = runners_.find(work.runner_id);
  if (r == runners_.end()) return;
  r->second.leased.erase(work.lease.work_id);
  if (r->second.channel) r->second.channel->LoseLease(work.lease, why);
  if (r->second.channel == nullptr && r->second.leased.empty()) runners_.erase(r);
}

engine::JobOutcome RunnerHub::Run(const std::string& pool, const engine::JobSpec& spec, engine::CancelToken* cancel,
                                  engine::JobListener* listener, const std::map<std::string, std::string>& state_out,
                                  std::optional<std::map<std::string, std::string>>* state_back) {
  using Stream = engine::JobListener::Stream;
  engine::JobOutcome out;
  std::set<std::string> exclude;
  std::string said_why;
  for (;;) {
    // A runner that takes it.
    std::shared_ptr<Work> work;
    std::shared_ptr<RunnerChannel> channel;
    std::string runner_name;
    {
      absl::MutexLock lock(&mu_);
      std::string why;
      std::string id = PickLocked(pool, spec.engine, exclude, &why);
      if (id.empty() && !exclude.empty() && why.find("busy") == std::string::npos) {
        // Every runner declined it once: let them try again.
        exclude.clear();
        id = PickLocked(pool, spec.engine, exclude, &why);
      }
      if (!id.empty()) {
        Runner& r = runners_[id];
        work = std::make_shared<Work>();
        work->lease = {spec.job_id, ++next_generation_};
        work->runner_id = id;
        work_[spec.job_id] = work;
        r.leased.insert(spec.job_id);
        channel = r.channel;
        runner_name = r.info.name;
      } else if (why != said_why) {
        said_why = why;
        mu_.Unlock();
        listener->OnLine(Stream::kSystem, "", absl::StrCat("waiting for a runner: ", why));
        listener->Sync();
        mu_.Lock();
      }
    }
    if (work == nullptr) {
      if (cancel != nullptr && cancel->cancelled()) {
        out.state = engine::JobOutcome::State::kCancelled;
        out.error = absl::StrCat("cancelled while waiting for a runner (", said_why, ")");
        return out;
      }
      absl::SleepFor(absl::Milliseconds(100));
      continue;
    }
    listener->OnLine(Stream::kSystem, "",
                     absl::StrCat("runner: ", runner_name, " of pool ", pool, " (lease ", work->lease.generation, ")"));
    channel->OfferStackJob(work->lease, spec, static_cast<bool>(spec.before_apply), state_out);
    bool cancel_sent = false;
    for (;;) {
      std::deque<WorkReport> reports;
      bool done = false, lost = false, declined = false, started = false;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [&work] { return !work->reports.empty() || work->done || work->lost || work->declined; };
        mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(200));
        auto r = runners_.find(work->runner_id);
        const bool gone = r == runners_.end() || r->second.channel == nullptr;
        if (!work->done && !work->lost && !work->declined && gone && cancel != nullptr && cancel->cancelled()) {
          // Cancelled (or plinthd stopping) while its runner is away: not
          // worth waiting out the lease.
          LoseLocked(*work, absl::StrCat("runner ", runner_name, " is not connected and the job was cancelled"));
        }
        r = runners_.find(work->runner_id);  // LoseLocked may have removed it
        if (!work->done && !work->lost && !work->declined &&
            (r == runners_.end() || absl::Now() - r->second.last_heartbeat > lease_time_)) {
          LoseLocked(*work, absl::StrCat("runner ", runner_name, " sent nothing for ",
                                         absl::FormatDuration(lease_time_), " (its lease expired)"));
        }
        reports.swap(work->reports);
        done = work->done;
        lost = work->lost;
        declined = work->declined;
        started = work->started;
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
          case WorkReport::Type::kAwaitingApproval: {
            // The gate is plinthd's: the decision goes back to the runner.
            absl::Status decided = spec.before_apply ? spec.before_apply(report.planned) : absl::OkStatus();
            channel->Decide(work->lease, decided.ok(), "", std::string(decided.message()));
            break;
          }
        }
      }
      if (!reports.empty()) listener->Sync();
      if (cancel != nullptr && cancel->cancelled() && !cancel_sent && !done && !lost) {
        cancel_sent = true;
        channel->CancelWork(work->lease, "cancelled");
      }
      if (done) {
        absl::MutexLock lock(&mu_);
        work_.erase(spec.job_id);
        if (state_back != nullptr) *state_back = std::move(work->state_files);
        return std::move(work->outcome);
      }
      if (declined) {
        {
          absl::MutexLock lock(&mu_);
          work_.erase(spec.job_id);
          exclude.insert(work->runner_id);
        }
        listener->OnLine(Stream::kSystem, "", absl::StrCat("runner ", runner_name, " declined the job: ",
                                                           work->declined_why));
        said_why.clear();
        break;
      }
      if (lost) {
        {
          absl::MutexLock lock(&mu_);
          work_.erase(spec.job_id);
        }
        if (!started) {
          listener->OnLine(Stream::kSystem, "", absl::StrCat(work->lost_why, " before any engine step; offering it again"));
          said_why.clear();
          break;
        }
        out.state = engine::JobOutcome::State::kInterrupted;
        out.error = absl::StrCat(work->lost_why, " during the job; nothing more is applied. It runs again from a "
                                                 "fresh plan.");
        core::Logger("runners")->warn("job={} interrupted: {}", spec.job_id, work->lost_why);
        return out;
      }
    }
  }
}

}  // namespace plinth::orchestrator
