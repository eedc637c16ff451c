#include "absl/strings/str_cat.h"
#include "plinth/api/infra_project_service.h"
#include "plinth/api/paging.h"
#include "plinth/api/polling_stream.h"
#include "plinth/core/status_macros.h"

namespace plinth::api {
namespace {

namespace pb = plinth::v1;

using orchestrator::AccessScope;
using orchestrator::Role;

// The project's id, once `actor` may read its org/env.
template <typename Request>
absl::StatusOr<std::string> ReadableProjectIdOf(const CallEnv& env, const std::string& actor, const Request& req,
                                                store::InfraProjectStore* projects) {
  if (req.project_id().empty() && req.project_name().empty()) {
    return absl::InvalidArgumentError("project_id: required (or org, env, project_name)");
  }
  const std::string org = req.org().empty() ? "default" : req.org();
  if (req.project_id().empty()) {
    PLINTH_RETURN_IF_ERROR(Require(env, actor, Role::kViewer, AccessScope::Env(org, req.env()),
                                   absl::StrCat("read the pipelines of ", org, "/", req.env(), "/", req.project_name())));
  }
  PLINTH_ASSIGN_OR_RETURN(auto p, projects->Get({req.project_id(), org, req.env(), req.project_name()}));
  PLINTH_RETURN_IF_ERROR(Require(env, actor, Role::kViewer, AccessScope::Env(p.org, p.env),
                                 absl::StrCat("read the pipelines of ", p.org, "/", p.env, "/", p.name)));
  return p.id;
}

absl::Status RequireOn(const CallEnv& env, const std::string& actor, Role role, const store::PipelineRecord& p,
                       absl::string_view what) {
  return Require(env, actor, role, AccessScope::Env(p.org, p.env),
                 absl::StrCat(what, " pipeline ", p.id, " (", p.org, "/", p.env, "/", p.project_name, ")"));
}

}  // namespace

void ToProto(const store::PipelineRecord& p, pb::InfraPipeline* out) {
  out->set_id(p.id);
  out->set_project_id(p.project_id);
  out->set_project_name(p.project_name);
  out->set_org(p.org);
  out->set_env(p.env);
  out->set_revision(p.revision);
  out->set_kind(p.kind);
  out->set_trigger(p.trigger);
  out->set_state(std::string(store::PipelineStateName(p.state)));
  out->set_trigger_enum(EnumOf<pb::PipelineTrigger>(p.trigger));
  out->set_state_enum(EnumOf<pb::PipelineState>(store::PipelineStateName(p.state)));
  out->set_preview_only(p.preview_only);
  out->set_gate(p.gate);
  out->set_error(p.error);
  for (const auto& n : p.notes) {
    if (n.is_string()) out->add_notes(n.get<std::string>());
  }
  ToTimestamp(p.created_at, out->mutable_create_time());
  out->set_created_by(p.created_by);
  if (p.started_at) ToTimestamp(*p.started_at, out->mutable_start_time());
  if (p.ended_at) ToTimestamp(*p.ended_at, out->mutable_end_time());
  out->set_change(p.change);
  out->set_max_parallel_jobs(p.max_parallel);
  out->set_commit(p.commit);
  for (const auto& n : p.nodes) {
    auto* node = out->add_nodes();
    node->set_index(n.idx);
    node->set_env(n.env);
    node->set_kind(n.kind);
    node->set_name(n.name);
    node->set_resource_id(n.resource_id);
    node->set_layer(n.layer);
    node->set_operation(n.operation);
    node->set_state(std::string(store::NodeStateName(n.state)));
    node->set_operation_enum(EnumOf<pb::Operation>(n.operation));
    node->set_state_enum(EnumOf<pb::PipelineNodeState>(store::NodeStateName(n.state)));
    node->set_stack_job_id(n.job_id);
    node->set_error(n.error);
    if (n.started_at) ToTimestamp(*n.started_at, node->mutable_start_time());
    if (n.ended_at) ToTimestamp(*n.ended_at, node->mutable_end_time());
    for (int u : n.upstream) node->add_upstream(u);
    node->set_gate(n.gate);
    node->set_awaiting(n.awaiting);
    if (n.summary) {
      auto* s = node->mutable_summary();
      s->set_add(n.summary->add);
      s->set_change(n.summary->change);
      s->set_remove(n.summary->remove);
      s->set_replace(n.summary->replace);
      s->set_operation(n.summary->operation);
    }
    node->set_attempts(n.attempts);
  }
  for (const auto& d : p.decisions) {
    auto* dec = out->add_decisions();
    dec->set_node(d.node);
    dec->set_target(d.target);
    dec->set_stage(d.stage);
    dec->set_approved(d.approved);
    dec->set_actor(d.actor);
    dec->set_comment(d.comment);
    ToTimestamp(d.at, dec->mutable_time());
  }
}

grpc::ServerUnaryReactor* InfraPipelineServiceImpl::GetInfraPipeline(grpc::CallbackServerContext* ctx,
                                                                     const pb::GetInfraPipelineRequest* req,
                                                                     pb::InfraPipeline* resp) {
  return RunUnary(ctx, env_, "GetInfraPipeline", [=, this](const std::string& actor) -> absl::Status {
    if (req->id().empty()) return absl::InvalidArgumentError("id: required");
    PLINTH_ASSIGN_OR_RETURN(auto p, pipelines_->Get(req->id()));
    PLINTH_RETURN_IF_ERROR(RequireOn(env_, actor, Role::kViewer, p, "read"));
    ToProto(p, resp);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* InfraPipelineServiceImpl::ListInfraPipelines(grpc::CallbackServerContext* ctx,
                                                                       const pb::ListInfraPipelinesRequest* req,
                                                                       pb::ListInfraPipelinesResponse* resp) {
  return RunUnary(ctx, env_, "ListInfraPipelines", [=, this](const std::string& actor) -> absl::Status {
    PageQuery query("ListInfraPipelines", *req);
    PLINTH_ASSIGN_OR_RETURN(std::string cursor, query.Cursor(req->page_token()));
    PLINTH_ASSIGN_OR_RETURN(std::string project_id, ReadableProjectIdOf(env_, actor, *req, projects_));
    PLINTH_ASSIGN_OR_RETURN(auto page, pipelines_->List(project_id, req->page_size(), cursor));
    for (const auto& p : page.items) ToProto(p, resp->add_pipelines());
    resp->set_next_page_token(query.Token(page.next_page_token));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* InfraPipelineServiceImpl::GetLastInfraPipeline(grpc::CallbackServerContext* ctx,
                                                                         const pb::GetLastInfraPipelineRequest* req,
                                                                         pb::InfraPipeline* resp) {
  return RunUnary(ctx, env_, "GetLastInfraPipeline", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(std::string project_id, ReadableProjectIdOf(env_, actor, *req, projects_));
    PLINTH_ASSIGN_OR_RETURN(auto p, pipelines_->Last(project_id));
    ToProto(p, resp);
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<pb::InfraPipeline>* InfraPipelineServiceImpl::WatchInfraPipeline(
    grpc::CallbackServerContext* ctx, const pb::WatchInfraPipelineRequest* req) {
  using Stream = PollingStream<pb::InfraPipeline>;
  auto actor = env_.auth->Authenticate(ctx->client_metadata());
  if (!actor.ok()) return new FailedStream<pb::InfraPipeline>(ToGrpcStatus(actor.status()));
  if (req->id().empty() && (!req->project_id().empty() || !req->project_name().empty())) {
    auto project_id = ReadableProjectIdOf(env_, *actor, *req, projects_);
    if (!project_id.ok()) return new FailedStream<pb::InfraPipeline>(ToGrpcStatus(project_id.status()));
    // The project's newest pipeline, whichever it is, whenever it moved.
    auto sent = std::make_shared<std::pair<std::string, int64_t>>("", -1);
    Stream::Poll poll = [pipelines = pipelines_, id = *project_id, sent]() -> absl::StatusOr<Stream::Batch> {
      Stream::Batch batch;
      auto p = pipelines->Last(id);
      if (absl::IsNotFound(p.status())) return batch;  // none yet
      if (!p.ok()) return p.status();
      if (p->id == sent->first && p->change == sent->second) return batch;
      *sent = {p->id, p->change};
      batch.messages.emplace_back();
      ToProto(*p, &batch.messages.back());
      return batch;
    };
    return new Stream(env_.workers, &timer_, std::move(poll), absl::Milliseconds(100));
  }
  if (req->id().empty()) {
    return new FailedStream<pb::InfraPipeline>(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "id: required (or project_id, or org, env and project_name)"));
  }
  {
    auto p = pipelines_->Get(req->id());
    absl::Status allowed = p.ok() ? RequireOn(env_, *actor, Role::kViewer, *p, "watch") : p.status();
    if (!allowed.ok()) return new FailedStream<pb::InfraPipeline>(ToGrpcStatus(allowed));
  }
  // The pipeline now, then again whenever its change counter moved, until
  // it has ended and its final state was sent.
  auto sent_change = std::make_shared<int64_t>(-1);
  Stream::Poll poll = [pipelines = pipelines_, id = req->id(), sent_change]() -> absl::StatusOr<Stream::Batch> {
    PLINTH_ASSIGN_OR_RETURN(auto p, pipelines->Get(id));
    Stream::Batch batch;
    if (p.change == *sent_change) return batch;
    *sent_change = p.change;
    batch.messages.emplace_back();
    ToProto(p, &batch.messages.back());
    batch.over = p.Terminal();
    return batch;
  };
  return new Stream(env_.workers, &timer_, std::move(poll), absl::Milliseconds(100));
}

grpc::ServerUnaryReactor* InfraPipelineServiceImpl::CancelInfraPipeline(grpc::CallbackServerContext* ctx,
                                                                        const pb::CancelInfraPipelineRequest* req,
                                                                        pb::InfraPipeline* resp) {
  return RunUnary(ctx, env_, "CancelInfraPipeline", [=, this](const std::string& actor) -> absl::Status {
    if (req->id().empty()) return absl::InvalidArgumentError("id: required");
    PLINTH_ASSIGN_OR_RETURN(auto current, pipelines_->Get(req->id()));
    PLINTH_RETURN_IF_ERROR(RequireOn(env_, actor, Role::kOperator, current, "cancel"));
    PLINTH_ASSIGN_OR_RETURN(auto p, scheduler_->Cancel(req->id(), actor));
    ToProto(p, resp);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* InfraPipelineServiceImpl::ResolveGate(grpc::CallbackServerContext* ctx,
                                                                const pb::ResolveGateRequest* req,
                                                                pb::InfraPipeline* resp) {
  return RunUnary(ctx, env_, "ResolveGate", [=, this](const std::string& actor) -> absl::Status {
    if (req->pipeline_id().empty()) return absl::InvalidArgumentError("pipeline_id: required");
    if (req->comment().size() > 4096) return absl::InvalidArgumentError("comment: longer than 4096 bytes");
    PLINTH_ASSIGN_OR_RETURN(auto current, pipelines_->Get(req->pipeline_id()));
    PLINTH_RETURN_IF_ERROR(RequireOn(env_, actor, Role::kOperator, current, req->approve() ? "approve a gate of" : "reject a gate of"));
    PLINTH_ASSIGN_OR_RETURN(auto p, scheduler_->ResolveGate(req->pipeline_id(), req->node(), req->approve(), actor,
                                                            req->comment()));
    ToProto(p, resp);
    return absl::OkStatus();
  });
}

}  // namespace plinth::api
