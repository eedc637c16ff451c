#include "plinth/api/stack_job_service.h"

#include <deque>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "plinth/core/status_macros.h"

namespace plinth::api {
namespace {

namespace pb = plinth::v1;
using nlohmann::json;

void ToProto(const store::StackJobRecord& j, pb::StackJob* out) {
  out->set_id(j.id);
  out->set_resource_id(j.resource_id);
  out->set_org(j.key.org);
  out->set_env(j.key.env);
  out->set_kind(j.key.kind);
  out->set_name(j.key.name);
  out->set_operation(j.operation);
  out->set_state(j.state);
  out->set_engine(j.engine);
  out->set_engine_version(j.engine_version);
  out->set_module_source(j.module_source);
  out->set_module_revision(j.module_revision);
  out->set_connection_id(j.connection_id);
  out->set_connection_reason(j.connection_reason);
  for (const auto& s : j.steps) {
    auto* step = out->add_steps();
    step->set_name(s.value("name", ""));
    step->set_exit_code(s.value("exitCode", -1));
    absl::Time t;
    std::string err;
    if (absl::ParseTime(absl::RFC3339_full, s.value("startTime", ""), &t, &err)) ToTimestamp(t, step->mutable_start_time());
    if (absl::ParseTime(absl::RFC3339_full, s.value("endTime", ""), &t, &err)) ToTimestamp(t, step->mutable_end_time());
  }
  if (j.summary.is_object()) {
    auto* s = out->mutable_summary();
    s->set_add(j.summary.value("add", 0));
    s->set_change(j.summary.value("change", 0));
    s->set_remove(j.summary.value("remove", 0));
    s->set_replace(j.summary.value("replace", 0));
    s->set_operation(j.summary.value("operation", ""));
  }
  for (const auto& r : j.resources) {
    auto* row = out->add_resources();
    row->set_address(r.value("address", ""));
    row->set_type(r.value("type", ""));
    row->set_action(r.value("action", ""));
    row->set_status(r.value("status", ""));
    row->set_elapsed_seconds(r.value("elapsedSeconds", 0.0));
  }
  for (const auto& d : j.diagnostics) {
    auto* diag = out->add_diagnostics();
    diag->set_severity(d.value("severity", ""));
    diag->set_summary(d.value("summary", ""));
    diag->set_detail(d.value("detail", ""));
    diag->set_address(d.value("address", ""));
  }
  if (j.outputs.is_object()) JsonToStruct(j.outputs, out->mutable_outputs());
  out->set_error(j.error);
  ToTimestamp(j.created_at, out->mutable_create_time());
  out->set_created_by(j.created_by);
  if (j.started_at) ToTimestamp(*j.started_at, out->mutable_start_time());
  if (j.ended_at) ToTimestamp(*j.ended_at, out->mutable_end_time());
  out->set_log_bytes(j.log_bytes);
  out->set_skip_refresh(j.options.value("skipRefresh", false));
  out->set_require_approval(j.options.value("requireApproval", false));
}

template <typename Request>
absl::StatusOr<std::string> ResourceIdOf(const Request& req, store::CloudResourceStore* resources) {
  if (req.selector_case() == Request::kResourceId) {
    if (req.resource_id().empty()) return absl::InvalidArgumentError("resource_id: required");
    return req.resource_id();
  }
  if (req.selector_case() == Request::kKey) {
    const auto& k = req.key();
    PLINTH_ASSIGN_OR_RETURN(auto r, resources->Get({.key = {k.org(), k.env(), k.kind(), k.name()}}, false));
    return r.id;
  }
  return std::string();
}

// Streams a job's events: stored ones from after_seq, then new ones as they
// are stored (polled every 100 ms), until the job has ended and every event
// was sent. One write in flight at a time; ends cleanly on cancel.
class EventStream : public grpc::ServerWriteReactor<pb::StackJobEvent> {
 public:
  EventStream(const CallEnv& env, store::StackJobStore* jobs, core::Timer* timer, std::string job_id, int64_t after)
      : env_(env), jobs_(jobs), timer_(timer), state_(std::make_shared<State>()) {
    state_->job_id = std::move(job_id);
    state_->after = after;
    state_->self = this;
    Schedule(absl::ZeroDuration());
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::recursive_mutex> lock(state_->mu);
    state_->writing = false;
    if (!ok || state_->finished) return Finish(grpc::Status::CANCELLED, lock);
    if (!state_->queue.empty()) return WriteNext();
    if (state_->job_over) return Finish(grpc::Status::OK, lock);
    Schedule(absl::ZeroDuration());
  }

  void OnCancel() override {
    std::lock_guard<std::recursive_mutex> lock(state_->mu);
    if (!state_->writing) Finish(grpc::Status::CANCELLED, lock);
    state_->cancelled = true;
  }

  void OnDone() override {
    {
      std::lock_guard<std::recursive_mutex> lock(state_->mu);
      state_->self = nullptr;
    }
    delete this;
  }

 private:
  struct State {
    std::recursive_mutex mu;
    EventStream* self = nullptr;  // null once the reactor is done
    std::string job_id;
    int64_t after = 0;
    std::deque<pb::StackJobEvent> queue;
    bool writing = false, finished = false, cancelled = false, job_over = false;
  };

  void Finish(grpc::Status status, const std::lock_guard<std::recursive_mutex>&) {
    if (state_->finished) return;
    state_->finished = true;
    grpc::ServerWriteReactor<pb::StackJobEvent>::Finish(status);
  }

  void WriteNext() {
    state_->writing = true;
    current_ = std::move(state_->queue.front());
    state_->queue.pop_front();
    StartWrite(&current_);
  }

  // Reads the next batch on a worker; never on the reactor thread.
  void Schedule(absl::Duration delay) {
    auto state = state_;
    store::StackJobStore* jobs = jobs_;
    core::ThreadPool* workers = env_.workers;
    auto fetch = [state, jobs]() {
      auto job = jobs->Get(state->job_id);
      absl::StatusOr<std::vector<store::JobEvent>> events =
          job.ok() ? jobs->Events(state->job_id, state->after, 500) : absl::StatusOr<std::vector<store::JobEvent>>(job.status());
      std::lock_guard<std::recursive_mutex> lock(state->mu);
      EventStream* self = state->self;
      if (self == nullptr || state->finished) return;
      if (!events.ok()) return self->Finish(ToGrpcStatus(events.status()), lock);
      for (const auto& e : *events) {
        pb::StackJobEvent out;
        out.set_seq(e.seq);
        ToTimestamp(e.at, out.mutable_time());
        out.set_type(e.type);
        out.set_step(e.step);
        out.set_text(e.text);
        if (e.data.is_object()) {
          JsonToStruct(e.data, out.mutable_data());
          if (e.type == "state") out.set_state(e.data.value("state", ""));
        }
        state->after = e.seq;
        state->queue.push_back(std::move(out));
      }
      // Over when ended and nothing more is stored than what we read.
      state->job_over = job->Terminal() && events->size() < 500;
      if (state->cancelled) return self->Finish(grpc::Status::CANCELLED, lock);
      if (!state->writing && !state->queue.empty()) return self->WriteNext();
      if (state->queue.empty() && state->job_over) return self->Finish(grpc::Status::OK, lock);
      if (state->queue.empty()) self->Schedule(absl::Milliseconds(100));
    };
    if (delay == absl::ZeroDuration()) {
      workers->Submit(fetch);
    } else {
      timer_->After(delay, [workers, fetch] { workers->Submit(fetch); });
    }
  }

  const CallEnv env_;
  store::StackJobStore* const jobs_;
  core::Timer* const timer_;
  std::shared_ptr<State> state_;
  pb::StackJobEvent current_;
};

class FailedStream : public grpc::ServerWriteReactor<pb::StackJobEvent> {
 public:
  explicit FailedStream(const grpc::Status& s) { Finish(s); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerUnaryReactor* StackJobServiceImpl::CreateStackJob(grpc::CallbackServerContext* ctx,
                                                              const pb::CreateStackJobRequest* req, pb::StackJob* resp) {
  return RunUnary(ctx, env_, "CreateStackJob", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(std::string id, ResourceIdOf(*req, resources_));
    if (id.empty()) return absl::InvalidArgumentError("selector: give resource_id or key (org, env, kind, name)");
    if (req->operation().empty()) return absl::InvalidArgumentError("operation: required");
    json options = {{"skipRefresh", req->skip_refresh()}};
    if (req->require_approval()) options["requireApproval"] = true;
    if (!req->connection().empty()) {
      PLINTH_ASSIGN_OR_RETURN(auto resource, resources_->Get({.id = id}, false));
      PLINTH_RETURN_IF_ERROR(connections_->Get(resource.key.org, req->connection()).status());
      options["connection"] = req->connection();
    }
    PLINTH_ASSIGN_OR_RETURN(auto job, runner_->Submit(id, req->operation(), options, actor));
    ToProto(job, resp);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* StackJobServiceImpl::GetStackJob(grpc::CallbackServerContext* ctx,
                                                           const pb::GetStackJobRequest* req, pb::StackJob* resp) {
  return RunUnary(ctx, env_, "GetStackJob", [=, this](const std::string&) -> absl::Status {
    if (req->id().empty()) return absl::InvalidArgumentError("id: required");
    PLINTH_ASSIGN_OR_RETURN(auto job, jobs_->Get(req->id()));
    ToProto(job, resp);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* StackJobServiceImpl::ListStackJobs(grpc::CallbackServerContext* ctx,
                                                             const pb::ListStackJobsRequest* req,
                                                             pb::ListStackJobsResponse* resp) {
  return RunUnary(ctx, env_, "ListStackJobs", [=, this](const std::string&) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(std::string id, ResourceIdOf(*req, resources_));
    PLINTH_ASSIGN_OR_RETURN(auto page, jobs_->List(id, req->state(), req->page_size(), req->page_token()));
    for (const auto& j : page.items) ToProto(j, resp->add_jobs());
    resp->set_next_page_token(page.next_page_token);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* StackJobServiceImpl::CancelStackJob(grpc::CallbackServerContext* ctx,
                                                              const pb::CancelStackJobRequest* req, pb::StackJob* resp) {
  return RunUnary(ctx, env_, "CancelStackJob", [=, this](const std::string& actor) -> absl::Status {
    if (req->id().empty()) return absl::InvalidArgumentError("id: required");
    PLINTH_ASSIGN_OR_RETURN(auto job, runner_->Cancel(req->id(), actor));
    ToProto(job, resp);
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<pb::StackJobEvent>* StackJobServiceImpl::StreamStackJobEvents(
    grpc::CallbackServerContext* ctx, const pb::StreamStackJobEventsRequest* req) {
  auto actor = env_.auth->Authenticate(ctx->client_metadata());
  if (!actor.ok()) return new FailedStream(ToGrpcStatus(actor.status()));
  if (req->job_id().empty()) return new FailedStream(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "job_id: required"));
  if (req->after_seq() < 0) {
    return new FailedStream(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "after_seq: must not be negative"));
  }
  return new EventStream(env_, jobs_, &timer_, req->job_id(), req->after_seq());
}

grpc::ServerUnaryReactor* StackJobServiceImpl::ApproveStackJob(grpc::CallbackServerContext* ctx,
                                                               const pb::ResolveStackJobRequest* req, pb::StackJob* resp) {
  return RunUnary(ctx, env_, "ApproveStackJob", [=, this](const std::string& actor) -> absl::Status {
    if (req->id().empty()) return absl::InvalidArgumentError("id: required");
    PLINTH_ASSIGN_OR_RETURN(auto job, runner_->Resolve(req->id(), /*approve=*/true, actor, req->comment()));
    ToProto(job, resp);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* StackJobServiceImpl::RejectStackJob(grpc::CallbackServerContext* ctx,
                                                              const pb::ResolveStackJobRequest* req, pb::StackJob* resp) {
  return RunUnary(ctx, env_, "RejectStackJob", [=, this](const std::string& actor) -> absl::Status {
    if (req->id().empty()) return absl::InvalidArgumentError("id: required");
    PLINTH_ASSIGN_OR_RETURN(auto job, runner_->Resolve(req->id(), /*approve=*/false, actor, req->comment()));
    ToProto(job, resp);
    return absl::OkStatus();
  });
}

}  // namespace plinth::api
