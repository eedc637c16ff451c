#include "plinth/api/stack_job_service.h"

#include <algorithm>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "plinth/api/paging.h"
#include "plinth/api/polling_stream.h"
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
  out->set_state(std::string(store::JobStateName(j.state)));
  out->set_operation_enum(EnumOf<pb::Operation>(j.operation));
  out->set_state_enum(EnumOf<pb::StackJobState>(store::JobStateName(j.state)));
  out->set_engine(j.engine);
  out->set_engine_version(j.engine_version);
  out->set_runner(j.runner_name);
  out->set_runner_pool(j.runner_pool);
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
    s->set_no_op(j.summary.value("noOp", 0));
    s->set_read(j.summary.value("read", 0));
    s->set_import(j.summary.value("import", 0));
    s->set_move(j.summary.value("move", 0));
    s->set_forget(j.summary.value("forget", 0));
    if (auto oc = j.summary.find("outputChanges"); oc != j.summary.end() && oc->is_array()) {
      for (const auto& o : *oc) {
        auto* change = out->add_output_changes();
        change->set_name(o.value("name", ""));
        change->set_action(o.value("action", ""));
        change->set_known_after_apply(o.value("knownAfterApply", false));
        change->set_sensitive(o.value("sensitive", false));
        if (o.contains("after") && !o["after"].is_null()) JsonToValue(o["after"], change->mutable_after());
      }
    }
  }
  for (const auto& r : j.resources) {
    auto* row = out->add_resources();
    row->set_address(r.value("address", ""));
    row->set_type(r.value("type", ""));
    row->set_action(r.value("action", ""));
    row->set_status(r.value("status", ""));
    row->set_elapsed_seconds(r.value("elapsedSeconds", 0.0));
    if (auto a = r.find("actions"); a != r.end() && a->is_array()) {
      for (const auto& x : *a) {
        if (x.is_string()) row->add_actions(x.get<std::string>());
      }
    }
    row->set_action_reason(r.value("actionReason", ""));
    row->set_previous_address(r.value("previousAddress", ""));
    row->set_deposed(r.value("deposed", ""));
    row->set_importing(r.value("importing", false));
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

using orchestrator::AccessScope;
using orchestrator::Role;

AccessScope ScopeOf(const store::CloudResourceKey& k) { return AccessScope::Resource(k.org, k.env, k.kind, k.name); }

}  // namespace

absl::Status StackJobServiceImpl::RequireOnJob(const std::string& actor, orchestrator::Role role, const std::string& id,
                                               const std::string& what) const {
  PLINTH_ASSIGN_OR_RETURN(auto job, jobs_->Get(id));
  return Require(env_, actor, role, ScopeOf(job.key), absl::StrCat(what, " ", id, " (", job.key.ToString(), ")"));
}

grpc::ServerUnaryReactor* StackJobServiceImpl::CreateStackJob(grpc::CallbackServerContext* ctx,
                                                              const pb::CreateStackJobRequest* req, pb::StackJob* resp) {
  return RunUnary(ctx, env_, "CreateStackJob", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(std::string id, ResourceIdOf(*req, resources_));
    if (id.empty()) return absl::InvalidArgumentError("selector: give resource_id or key (org, env, kind, name)");
    PLINTH_ASSIGN_OR_RETURN(std::string operation, OneNameOf("operation", req->operation(), req->operation_enum()));
    if (operation.empty()) return absl::InvalidArgumentError("operation: required (or operation_enum)");
    json options = {{"skipRefresh", req->skip_refresh()}};
    if (req->require_approval()) options["requireApproval"] = true;
    PLINTH_ASSIGN_OR_RETURN(auto resource, resources_->Get({.id = id}, false));
    PLINTH_RETURN_IF_ERROR(Require(env_, actor, Role::kOperator, ScopeOf(resource.key),
                                   absl::StrCat("run a ", operation, " job of ", resource.key.ToString())));
    if (!req->connection().empty()) {
      PLINTH_RETURN_IF_ERROR(connections_->Get(resource.key.org, req->connection()).status());
      options["connection"] = req->connection();
    }
    PLINTH_ASSIGN_OR_RETURN(auto job, runner_->Submit(id, operation, options, actor));
    ToProto(job, resp);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* StackJobServiceImpl::GetStackJob(grpc::CallbackServerContext* ctx,
                                                           const pb::GetStackJobRequest* req, pb::StackJob* resp) {
  return RunUnary(ctx, env_, "GetStackJob", [=, this](const std::string& actor) -> absl::Status {
    if (req->id().empty()) return absl::InvalidArgumentError("id: required");
    PLINTH_ASSIGN_OR_RETURN(auto job, jobs_->Get(req->id()));
    PLINTH_RETURN_IF_ERROR(Require(env_, actor, Role::kViewer, ScopeOf(job.key), "read job " + job.id));
    ToProto(job, resp);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* StackJobServiceImpl::ListStackJobs(grpc::CallbackServerContext* ctx,
                                                             const pb::ListStackJobsRequest* req,
                                                             pb::ListStackJobsResponse* resp) {
  return RunUnary(ctx, env_, "ListStackJobs", [=, this](const std::string& actor) -> absl::Status {
    PageQuery query("ListStackJobs", *req);
    PLINTH_ASSIGN_OR_RETURN(std::string cursor, query.Cursor(req->page_token()));
    PLINTH_ASSIGN_OR_RETURN(std::string id, ResourceIdOf(*req, resources_));
    PLINTH_ASSIGN_OR_RETURN(std::string state, OneNameOf("state", req->state(), req->state_enum()));
    if (!state.empty() && !store::ParseJobState(state)) {
      // A filter that matches nothing by mistake is an error, not an empty list.
      return absl::InvalidArgumentError(absl::StrCat(
          "state: \"", state,
          "\" is not one of queued, running, awaiting_approval, succeeded, failed, cancelled, interrupted"));
    }
    PLINTH_ASSIGN_OR_RETURN(auto page, jobs_->List(id, state, req->page_size(), cursor));
    // Jobs of resources the caller may not see are left out.
    for (const auto& j : page.items) {
      if (Allowed(env_, actor, Role::kViewer, ScopeOf(j.key))) ToProto(j, resp->add_jobs());
    }
    resp->set_next_page_token(query.Token(page.next_page_token));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* StackJobServiceImpl::CancelStackJob(grpc::CallbackServerContext* ctx,
                                                              const pb::CancelStackJobRequest* req, pb::StackJob* resp) {
  return RunUnary(ctx, env_, "CancelStackJob", [=, this](const std::string& actor) -> absl::Status {
    if (req->id().empty()) return absl::InvalidArgumentError("id: required");
    PLINTH_RETURN_IF_ERROR(RequireOnJob(actor, Role::kOperator, req->id(), "cancel job"));
    PLINTH_ASSIGN_OR_RETURN(auto job, runner_->Cancel(req->id(), actor));
    ToProto(job, resp);
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<pb::StackJobEvent>* StackJobServiceImpl::StreamStackJobEvents(
    grpc::CallbackServerContext* ctx, const pb::StreamStackJobEventsRequest* req) {
  using Stream = PollingStream<pb::StackJobEvent>;
  auto actor = env_.auth->Authenticate(ctx->client_metadata());
  if (!actor.ok()) return new FailedStream<pb::StackJobEvent>(ToGrpcStatus(actor.status()));
  if (req->job_id().empty()) {
    return new FailedStream<pb::StackJobEvent>(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "job_id: required"));
  }
  if (req->after_seq() < 0) {
    return new FailedStream<pb::StackJobEvent>(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "after_seq: must not be negative"));
  }
  // Stored events from after_seq, then new ones as they are stored, until
  // the job has ended and every event was sent.
  auto after = std::make_shared<int64_t>(req->after_seq());
  auto checked = std::make_shared<bool>(false);
  Stream::Poll poll = [jobs = jobs_, id = req->job_id(), after, checked, env = env_, actor = *actor,
                       stored_only = req->stored_only()]() -> absl::StatusOr<Stream::Batch> {
    PLINTH_ASSIGN_OR_RETURN(auto job, jobs->Get(id));
    if (!*checked) {
      PLINTH_RETURN_IF_ERROR(Require(env, actor, Role::kViewer, ScopeOf(job.key), "read job " + id));
      *checked = true;
    }
    PLINTH_ASSIGN_OR_RETURN(auto events, jobs->Events(id, *after, 500));
    Stream::Batch batch;
    for (const auto& e : events) {
      pb::StackJobEvent& out = batch.messages.emplace_back();
      out.set_seq(e.seq);
      ToTimestamp(e.at, out.mutable_time());
      out.set_type(e.type);
      out.set_step(e.step);
      out.set_text(e.text);
      if (e.data.is_object()) {
        JsonToStruct(e.data, out.mutable_data());
        if (e.type == "state") {
          out.set_state(e.data.value("state", ""));
          out.set_state_enum(EnumOf<pb::StackJobState>(out.state()));
        }
      }
      *after = e.seq;
    }
    // Over when ended and nothing more is stored than what was read.
    batch.over = (job.Terminal() || stored_only) && events.size() < 500;
    return batch;
  };
  return new Stream(env_.workers, &timer_, std::move(poll), absl::Milliseconds(100));
}

grpc::ServerUnaryReactor* StackJobServiceImpl::ApproveStackJob(grpc::CallbackServerContext* ctx,
                                                               const pb::ResolveStackJobRequest* req, pb::StackJob* resp) {
  return RunUnary(ctx, env_, "ApproveStackJob", [=, this](const std::string& actor) -> absl::Status {
    if (req->id().empty()) return absl::InvalidArgumentError("id: required");
    PLINTH_RETURN_IF_ERROR(RequireOnJob(actor, Role::kOperator, req->id(), "approve job"));
    PLINTH_ASSIGN_OR_RETURN(auto job, runner_->Resolve(req->id(), /*approve=*/true, actor, req->comment()));
    ToProto(job, resp);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* StackJobServiceImpl::RejectStackJob(grpc::CallbackServerContext* ctx,
                                                              const pb::ResolveStackJobRequest* req, pb::StackJob* resp) {
  return RunUnary(ctx, env_, "RejectStackJob", [=, this](const std::string& actor) -> absl::Status {
    if (req->id().empty()) return absl::InvalidArgumentError("id: required");
    PLINTH_RETURN_IF_ERROR(RequireOnJob(actor, Role::kOperator, req->id(), "reject job"));
    PLINTH_ASSIGN_OR_RETURN(auto job, runner_->Resolve(req->id(), /*approve=*/false, actor, req->comment()));
    ToProto(job, resp);
    return absl::OkStatus();
  });
}

}  // namespace plinth::api
