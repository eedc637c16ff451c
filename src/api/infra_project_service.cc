#include "plinth/api/infra_project_service.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "plinth/api/paging.h"
#include "plinth/core/status_macros.h"
#include "plinth/graph/graph.h"
#include "plinth/manifest/yaml.h"
#include "plinth/orchestrator/stored_manifests.h"

namespace plinth::api {
namespace {

namespace pb = plinth::v1;
using nlohmann::json;

store::ProjectRef RefOf(const pb::ProjectRef& r) {
  return {r.id(), r.org().empty() ? "default" : r.org(), r.env(), r.name()};
}

absl::Status CheckRef(const pb::ProjectRef& r) {
  if (r.id().empty() && r.name().empty()) return absl::InvalidArgumentError("project: give id, or name (with env)");
  return absl::OkStatus();
}

using orchestrator::AccessScope;
using orchestrator::Role;

// The project `ref` names, once `actor` holds `role` on its org/env.
absl::StatusOr<store::InfraProjectRecord> Authorized(const CallEnv& env, store::InfraProjectStore* projects,
                                                     const std::string& actor, Role role, const pb::ProjectRef& ref,
                                                     absl::string_view what) {
  PLINTH_RETURN_IF_ERROR(CheckRef(ref));
  // Named by org/env/name: check first, so a refused caller learns nothing
  // about whether the project exists.
  if (ref.id().empty()) {
    const auto r = RefOf(ref);
    PLINTH_RETURN_IF_ERROR(Require(env, actor, role, AccessScope::Env(r.org, r.env),
                                   absl::StrCat(what, " project ", r.org, "/", r.env, "/", r.name)));
  }
  PLINTH_ASSIGN_OR_RETURN(auto p, projects->Get(RefOf(ref)));
  PLINTH_RETURN_IF_ERROR(Require(env, actor, role, AccessScope::Env(p.org, p.env),
                                 absl::StrCat(what, " project ", p.org, "/", p.env, "/", p.name)));
  return p;
}

store::ProjectSettings SettingsFromProto(const pb::ProjectSettings& s) {
  return {s.disable_pipelines(), s.disable_deployments(), s.requires_manual_gate(), s.max_parallel_jobs(),
          s.enable_pull_request_deployments()};
}

void ToProto(const store::ProjectSettings& s, pb::ProjectSettings* out) {
  out->set_disable_pipelines(s.disable_pipelines);
  out->set_disable_deployments(s.disable_deployments);
  out->set_requires_manual_gate(s.requires_manual_gate);
  out->set_max_parallel_jobs(s.max_parallel_jobs);
  out->set_enable_pull_request_deployments(s.enable_pull_request_deployments);
}

void ToProto(const store::ProjectRevisionRecord& r, bool files, pb::InfraProjectRevision* out) {
  out->set_revision(r.revision);
  out->set_chart_name(r.chart_name);
  out->set_chart_version(r.chart_version);
  if (r.values.is_object()) JsonToStruct(r.values, out->mutable_values());
  std::string yaml;
  int count = 0;
  if (r.manifests.is_array()) {
    for (const auto& m : r.manifests) {
      if (count++ > 0) yaml += "---\n";
      yaml += manifest::JsonToYaml(m);
    }
  }
  out->set_manifests_yaml(yaml);
  out->set_manifest_count(count);
  if (r.diff.is_object()) {
    auto* d = out->mutable_diff();
    for (const auto& k : r.diff.value("added", json::array())) d->add_added(k.get<std::string>());
    for (const auto& k : r.diff.value("changed", json::array())) d->add_changed(k.get<std::string>());
    for (const auto& k : r.diff.value("removed", json::array())) d->add_removed(k.get<std::string>());
    d->set_unchanged(r.diff.value("unchanged", 0));
  }
  out->set_rollback_of(r.rollback_of);
  out->set_commit(r.commit);
  out->set_actor(r.actor);
  ToTimestamp(r.created_at, out->mutable_create_time());
  if (files) {
    for (const auto& f : r.chart_files) {
      auto* file = out->add_chart_files();
      file->set_path(f.path);
      file->set_content(f.content);
    }
  }
}

orchestrator::ChartInput ChartOf(bool has_ref, const pb::ChartRef& ref, bool has_inline, const pb::InlineChart& in,
                                 absl::Status* error) {
  orchestrator::ChartInput c;
  if (has_ref) {
    c.source = orchestrator::ChartInput::Source::kStored;
    c.name = ref.name();
    c.version = ref.version();
  } else if (has_inline) {
    c.source = orchestrator::ChartInput::Source::kInline;
    if (!in.archive().empty()) {
      auto files = chart::ExtractChartArchive(in.archive());
      if (!files.ok()) {
        *error = files.status();
        return c;
      }
      c.files = std::move(*files);
    } else {
      c.files = api::FromProto(in.files());
    }
    if (c.files.empty()) *error = absl::InvalidArgumentError("inline.files: required (or inline.archive)");
  }
  return c;
}

}  // namespace

absl::Status InfraProjectServiceImpl::Fill(const store::InfraProjectRecord& p, pb::InfraProject* out) const {
  out->set_id(p.id);
  out->set_org(p.org);
  out->set_env(p.env);
  out->set_name(p.name);
  out->set_revision(p.revision);
  out->set_chart_name(p.chart_name);
  out->set_chart_version(p.chart_version);
  out->set_chart_source(p.chart_source);
  ToProto(p.settings, out->mutable_settings());
  if (!p.git.empty()) {
    auto* git = out->mutable_git();
    git->set_url(p.git.url);
    git->set_branch(p.git.branch);
    git->set_path(p.git.path);
    git->set_connection(p.git.connection);
    git->set_parent_project_id(p.git.parent_id);
    git->set_pull_request(p.git.pull_request);
  }
  out->set_version(p.version);
  ToTimestamp(p.created_at, out->mutable_create_time());
  out->set_created_by(p.created_by);
  ToTimestamp(p.updated_at, out->mutable_update_time());
  out->set_updated_by(p.updated_by);
  PLINTH_ASSIGN_OR_RETURN(auto revision, projects_->GetRevision(p.id, 0));
  std::set<std::string> current;
  for (const auto& m : orchestrator::FromStoredManifests(revision.manifests)) {
    current.insert(m.env + "/" + m.kind + "/" + m.name);
  }
  PLINTH_ASSIGN_OR_RETURN(auto owned, projects_->OwnedResources(p.id));
  for (const auto& r : owned) {
    auto* row = out->add_resources();
    row->set_resource_id(r.id);
    row->set_kind(r.key.kind);
    row->set_name(r.key.name);
    row->set_env(r.key.env);
    row->set_deployed(r.deployed);
    row->set_in_current_revision(current.count(r.key.env + "/" + r.key.kind + "/" + r.key.name) > 0);
  }
  auto last = pipelines_->Last(p.id);
  if (last.ok()) ToProto(*last, out->mutable_last_pipeline());
  return absl::OkStatus();
}

absl::Status InfraProjectServiceImpl::Respond(const orchestrator::ProjectResult& result,
                                              pb::InfraProjectResponse* resp) const {
  PLINTH_RETURN_IF_ERROR(Fill(result.project, resp->mutable_project()));
  ToProto(result.revision, false, resp->mutable_revision());
  if (result.pipeline) {
    ToProto(*result.pipeline, resp->mutable_pipeline());
    // The revision as it is now: it lists the pipeline this call started.
    auto& ids = *resp->mutable_revision()->mutable_pipeline_ids();
    if (std::find(ids.begin(), ids.end(), result.pipeline->id) == ids.end()) ids.Add(std::string(result.pipeline->id));
  }
  resp->set_note(result.note);
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* InfraProjectServiceImpl::CreateInfraProject(grpc::CallbackServerContext* ctx,
                                                                      const pb::CreateInfraProjectRequest* req,
                                                                      pb::InfraProjectResponse* resp) {
  return RunUnary(ctx, env_, "CreateInfraProject", [=, this](const std::string& actor) -> absl::Status {
    const std::string org = req->org().empty() ? "default" : req->org();
    PLINTH_RETURN_IF_ERROR(Require(env_, actor, Role::kOperator, AccessScope::Env(org, req->env()),
                                   absl::StrCat("create project ", org, "/", req->env(), "/", req->name())));
    orchestrator::CreateProjectRequest r;
    if (req->has_git()) {
      if (!req->values_yaml().empty() || req->set_size() > 0) {
        return absl::InvalidArgumentError("values_yaml, set: a Git project has no values; its manifests are the repository's");
      }
      gitsource::CreateGitProjectRequest g;
      g.org = req->org();
      g.env = req->env();
      g.name = req->name();
      g.source.url = req->git().url();
      g.source.branch = req->git().branch();
      g.source.path = req->git().path();
      g.source.connection = req->git().connection();
      g.webhook_secret = req->webhook_secret();
      g.settings = SettingsFromProto(req->settings());
      g.no_deploy = req->no_deploy();
      PLINTH_ASSIGN_OR_RETURN(auto created, git_->Create(std::move(g), actor));
      resp->set_webhook_secret(created.webhook_secret);
      return Respond(created.result, resp);
    }
    if (!req->webhook_secret().empty()) return absl::InvalidArgumentError("webhook_secret: only for a Git project");
    r.org = req->org();
    r.env = req->env();
    r.name = req->name();
    absl::Status error;
    r.chart = ChartOf(req->has_chart(), req->chart(), req->has_inline_(), req->inline_(), &error);
    r.chart.interrupt = CallerGaveUp(ctx);
    PLINTH_RETURN_IF_ERROR(error);
    r.values_yaml = req->values_yaml();
    r.set.assign(req->set().begin(), req->set().end());
    r.settings = SettingsFromProto(req->settings());
    r.no_deploy = req->no_deploy();
    PLINTH_ASSIGN_OR_RETURN(auto result, manager_->Create(r, actor));
    return Respond(result, resp);
  });
}

grpc::ServerUnaryReactor* InfraProjectServiceImpl::UpdateInfraProject(grpc::CallbackServerContext* ctx,
                                                                      const pb::UpdateInfraProjectRequest* req,
                                                                      pb::InfraProjectResponse* resp) {
  return RunUnary(ctx, env_, "UpdateInfraProject", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(Authorized(env_, projects_, actor, Role::kOperator, req->project(), "update").status());
    orchestrator::UpdateProjectRequest r;
    r.project = RefOf(req->project());
    r.expected_version = req->expected_version();
    absl::Status error;
    r.chart = ChartOf(req->has_chart(), req->chart(), req->has_inline_(), req->inline_(), &error);
    r.chart.interrupt = CallerGaveUp(ctx);
    PLINTH_RETURN_IF_ERROR(error);
    if (req->has_values_yaml()) r.values_yaml = req->values_yaml();
    r.set.assign(req->set().begin(), req->set().end());
    if (req->has_settings()) r.settings = SettingsFromProto(req->settings());
    r.no_deploy = req->no_deploy();
    PLINTH_ASSIGN_OR_RETURN(auto result, manager_->Update(r, actor));
    return Respond(result, resp);
  });
}

grpc::ServerUnaryReactor* InfraProjectServiceImpl::GetInfraProject(grpc::CallbackServerContext* ctx,
                                                                   const pb::GetInfraProjectRequest* req,
                                                                   pb::InfraProject* resp) {
  return RunUnary(ctx, env_, "GetInfraProject", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(auto p, Authorized(env_, projects_, actor, Role::kViewer, req->project(), "read"));
    PLINTH_RETURN_IF_ERROR(Fill(p, resp));
    auto revision = projects_->GetRevision(p.id, 0);
    if (revision.ok() && revision->values.is_object()) JsonToStruct(revision->values, resp->mutable_values());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* InfraProjectServiceImpl::ListInfraProjects(grpc::CallbackServerContext* ctx,
                                                                     const pb::ListInfraProjectsRequest* req,
                                                                     pb::ListInfraProjectsResponse* resp) {
  return RunUnary(ctx, env_, "ListInfraProjects", [=, this](const std::string& actor) -> absl::Status {
    PageQuery query("ListInfraProjects", *req);
    PLINTH_ASSIGN_OR_RETURN(std::string cursor, query.Cursor(req->page_token()));
    PLINTH_ASSIGN_OR_RETURN(auto page, projects_->List(req->org(), req->env(), req->page_size(), cursor));
    // The projects the caller may read; a page may come back shorter.
    for (const auto& p : page.items) {
      if (Allowed(env_, actor, Role::kViewer, AccessScope::Env(p.org, p.env))) {
        PLINTH_RETURN_IF_ERROR(Fill(p, resp->add_projects()));
      }
    }
    resp->set_next_page_token(query.Token(page.next_page_token));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* InfraProjectServiceImpl::ListInfraProjectRevisions(
    grpc::CallbackServerContext* ctx, const pb::ListInfraProjectRevisionsRequest* req,
    pb::ListInfraProjectRevisionsResponse* resp) {
  return RunUnary(ctx, env_, "ListInfraProjectRevisions", [=, this](const std::string& actor) -> absl::Status {
    PageQuery query("ListInfraProjectRevisions", *req);
    PLINTH_ASSIGN_OR_RETURN(std::string cursor, query.Cursor(req->page_token()));
    PLINTH_ASSIGN_OR_RETURN(auto p, Authorized(env_, projects_, actor, Role::kViewer, req->project(), "read"));
    PLINTH_ASSIGN_OR_RETURN(auto page, projects_->ListRevisions(p.id, req->page_size(), cursor));
    for (const auto& r : page.items) {
      auto* out = resp->add_revisions();
      ToProto(r, req->include_chart_files(), out);
      PLINTH_ASSIGN_OR_RETURN(auto ids, pipelines_->IdsForRevision(p.id, r.revision));
      for (const auto& id : ids) out->add_pipeline_ids(id);
    }
    resp->set_next_page_token(query.Token(page.next_page_token));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* InfraProjectServiceImpl::GetInfraProjectGraph(grpc::CallbackServerContext* ctx,
                                                                        const pb::GetInfraProjectGraphRequest* req,
                                                                        pb::InfraProjectGraph* resp) {
  return RunUnary(ctx, env_, "GetInfraProjectGraph", [=, this](const std::string& actor) -> absl::Status {
    if (req->revision() < 0) return absl::InvalidArgumentError("revision: must not be negative");
    PLINTH_ASSIGN_OR_RETURN(auto p, Authorized(env_, projects_, actor, Role::kViewer, req->project(), "read"));
    PLINTH_ASSIGN_OR_RETURN(auto r, projects_->GetRevision(p.id, req->revision()));
    PLINTH_ASSIGN_OR_RETURN(auto g, graph::Graph::Build(orchestrator::FromStoredManifests(r.manifests)));
    resp->set_revision(r.revision);
    api::ToProto(g, resp->mutable_graph());
    resp->set_dot(g.ToDot());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* InfraProjectServiceImpl::Action(grpc::CallbackServerContext* ctx, const char* method,
                                                          const pb::ProjectActionRequest* req,
                                                          const std::string& trigger,
                                                          pb::InfraProjectResponse* resp) {
  return RunUnary(ctx, env_, method, [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(Authorized(env_, projects_, actor, Role::kOperator, req->project(), trigger).status());
    PLINTH_ASSIGN_OR_RETURN(auto result, manager_->StartPipeline(RefOf(req->project()), trigger, actor));
    return Respond(result, resp);
  });
}

grpc::ServerUnaryReactor* InfraProjectServiceImpl::RunInfraProjectPipeline(grpc::CallbackServerContext* ctx,
                                                                           const pb::ProjectActionRequest* req,
                                                                           pb::InfraProjectResponse* resp) {
  return Action(ctx, "RunInfraProjectPipeline", req, "run", resp);
}

grpc::ServerUnaryReactor* InfraProjectServiceImpl::UndeployInfraProject(grpc::CallbackServerContext* ctx,
                                                                        const pb::ProjectActionRequest* req,
                                                                        pb::InfraProjectResponse* resp) {
  return Action(ctx, "UndeployInfraProject", req, "undeploy", resp);
}

grpc::ServerUnaryReactor* InfraProjectServiceImpl::PurgeInfraProject(grpc::CallbackServerContext* ctx,
                                                                     const pb::ProjectActionRequest* req,
                                                                     pb::InfraProjectResponse* resp) {
  return Action(ctx, "PurgeInfraProject", req, "purge", resp);
}

grpc::ServerUnaryReactor* InfraProjectServiceImpl::RollbackInfraProject(grpc::CallbackServerContext* ctx,
                                                                        const pb::RollbackInfraProjectRequest* req,
                                                                        pb::InfraProjectResponse* resp) {
  return RunUnary(ctx, env_, "RollbackInfraProject", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(Authorized(env_, projects_, actor, Role::kOperator, req->project(), "roll back").status());
    PLINTH_ASSIGN_OR_RETURN(auto result, manager_->Rollback(RefOf(req->project()), req->revision(), actor));
    return Respond(result, resp);
  });
}

grpc::ServerUnaryReactor* InfraProjectServiceImpl::DeleteInfraProject(grpc::CallbackServerContext* ctx,
                                                                      const pb::DeleteInfraProjectRequest* req,
                                                                      pb::DeleteInfraProjectResponse* resp) {
  return RunUnary(ctx, env_, "DeleteInfraProject", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(Authorized(env_, projects_, actor, Role::kOperator, req->project(), "delete").status());
    PLINTH_ASSIGN_OR_RETURN(auto orphaned, manager_->Delete(RefOf(req->project()), req->orphan_resources(), actor));
    for (const auto& o : orphaned) resp->add_orphaned(o);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* InfraProjectServiceImpl::SyncInfraProject(grpc::CallbackServerContext* ctx,
                                                                    const pb::SyncInfraProjectRequest* req,
                                                                    pb::InfraProjectResponse* resp) {
  return RunUnary(ctx, env_, "SyncInfraProject", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(Authorized(env_, projects_, actor, Role::kOperator, req->project(), "sync").status());
    const std::string& commit = req->commit();
    if (!commit.empty() && (commit.size() != 40 || commit.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)) {
      return absl::InvalidArgumentError(absl::StrCat("commit: \"", commit, "\" is not a full commit id (40 hex digits)"));
    }
    PLINTH_ASSIGN_OR_RETURN(auto result, git_->Sync(RefOf(req->project()), commit, "sync", actor));
    return Respond(result, resp);
  });
}

grpc::ServerUnaryReactor* InfraProjectServiceImpl::RotateWebhookSecret(grpc::CallbackServerContext* ctx,
                                                                       const pb::RotateWebhookSecretRequest* req,
                                                                       pb::RotateWebhookSecretResponse* resp) {
  return RunUnary(ctx, env_, "RotateWebhookSecret", [=, this](const std::string& actor) -> absl::Status {
    // The webhook secret lets whoever holds it start pipelines from Git
    // pushes: an admin's matter, as connections are.
    PLINTH_RETURN_IF_ERROR(Authorized(env_, projects_, actor, Role::kAdmin, req->project(), "rotate the webhook secret of").status());
    PLINTH_ASSIGN_OR_RETURN(auto secret, git_->RotateWebhookSecret(RefOf(req->project()), req->webhook_secret(), actor));
    resp->set_webhook_secret(secret);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* InfraProjectServiceImpl::ListWebhookDeliveries(grpc::CallbackServerContext* ctx,
                                                                         const pb::ListWebhookDeliveriesRequest* req,
                                                                         pb::ListWebhookDeliveriesResponse* resp) {
  return RunUnary(ctx, env_, "ListWebhookDeliveries", [=, this](const std::string& actor) -> absl::Status {
    // Deliveries come from the one webhook endpoint and belong to no org.
    PLINTH_RETURN_IF_ERROR(Require(env_, actor, Role::kViewer, AccessScope::Everything(), "list webhook deliveries"));
    if (req->limit() < 0) return absl::InvalidArgumentError("limit: must not be negative");
    PageQuery query("ListWebhookDeliveries", *req);
    PLINTH_ASSIGN_OR_RETURN(std::string cursor, query.Cursor(req->page_token()));
    PLINTH_ASSIGN_OR_RETURN(int size, PageSizeOf(req->page_size() > 0 ? req->page_size() : req->limit(), 50));
    int64_t before = 0;
    if (!cursor.empty() && (!absl::SimpleAtoi(cursor, &before) || before <= 0)) {
      return absl::InvalidArgumentError("page_token: not a token this server gave (pass next_page_token unchanged)");
    }
    // One more than the page, to know whether another follows.
    PLINTH_ASSIGN_OR_RETURN(auto list, deliveries_->List(size + 1, before));
    if (static_cast<int>(list.size()) > size) {
      list.resize(size);
      resp->set_next_page_token(query.Token(absl::StrCat(list.back().seq)));
    }
    for (const auto& d : list) {
      auto* out = resp->add_deliveries();
      out->set_provider(d.provider);
      out->set_delivery_id(d.delivery_id);
      out->set_event(d.event);
      out->set_repo_url(d.repo_url);
      out->set_ref(d.ref);
      out->set_commit(d.commit);
      out->set_result(d.result);
      for (const auto& id : d.pipelines) out->add_pipeline_ids(id);
      ToTimestamp(d.received_at, out->mutable_receive_time());
    }
    return absl::OkStatus();
  });
}

// ---- FlowControlService

namespace {

void ToProto(const store::FlowControlPolicy& p, pb::FlowControlPolicy* out) {
  out->set_org(p.org);
  out->set_env(p.env);
  out->set_kind(p.kind);
  out->set_name(p.name);
  out->set_scope(p.scope);
  out->set_is_manual(p.is_manual);
  out->set_preview_before_update_or_destroy(p.preview_before_update_or_destroy);
  out->set_pause_between_preview_and_update_or_destroy(p.pause_between_preview_and_update_or_destroy);
  out->set_skip_refresh(p.skip_refresh);
  out->set_disable_on_lifecycle_events(p.disable_on_lifecycle_events);
  out->set_requires_manual_gate(p.requires_manual_gate);
  if (p.scope != "default") ToTimestamp(p.updated_at, out->mutable_update_time());
  out->set_updated_by(p.updated_by);
}

std::string OrgOf(const std::string& org) { return org.empty() ? "default" : org; }

orchestrator::AccessScope PolicyScope(const std::string& org, const std::string& env, const std::string& kind,
                                      const std::string& name) {
  if (!kind.empty() && !env.empty()) return orchestrator::AccessScope::Resource(OrgOf(org), env, kind, name);
  if (!env.empty()) return orchestrator::AccessScope::Env(OrgOf(org), env);
  return orchestrator::AccessScope::Org(OrgOf(org));
}

}  // namespace

grpc::ServerUnaryReactor* FlowControlServiceImpl::SetFlowControlPolicy(grpc::CallbackServerContext* ctx,
                                                                       const pb::SetFlowControlPolicyRequest* req,
                                                                       pb::FlowControlPolicy* resp) {
  return RunUnary(ctx, env_, "SetFlowControlPolicy", [=, this](const std::string& actor) -> absl::Status {
    if (!req->has_policy()) {
      return absl::InvalidArgumentError("policy: required (the scope (org, env?, kind and name?) and its settings)");
    }
    const auto& in = req->policy();
    store::FlowControlPolicy p;
    p.org = OrgOf(in.org());
    p.env = in.env();
    p.kind = in.kind();
    p.name = in.name();
    p.is_manual = in.is_manual();
    p.preview_before_update_or_destroy =
        in.has_preview_before_update_or_destroy() ? in.preview_before_update_or_destroy() : true;
    p.pause_between_preview_and_update_or_destroy = in.pause_between_preview_and_update_or_destroy();
    p.skip_refresh = in.skip_refresh();
    p.disable_on_lifecycle_events = in.disable_on_lifecycle_events();
    p.requires_manual_gate = in.requires_manual_gate();
    PLINTH_RETURN_IF_ERROR(Require(env_, actor, orchestrator::Role::kAdmin, PolicyScope(in.org(), p.env, p.kind, p.name),
                                   "set flow-control policies"));
    PLINTH_ASSIGN_OR_RETURN(auto stored, policies_->Set(p, actor));
    ToProto(stored, resp);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* FlowControlServiceImpl::GetFlowControlPolicy(grpc::CallbackServerContext* ctx,
                                                                       const pb::GetFlowControlPolicyRequest* req,
                                                                       pb::FlowControlPolicy* resp) {
  return RunUnary(ctx, env_, "GetFlowControlPolicy", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(Require(env_, actor, orchestrator::Role::kViewer,
                                   PolicyScope(req->org(), req->env(), req->kind(), req->name()), "read policies"));
    PLINTH_ASSIGN_OR_RETURN(auto p, policies_->Get(OrgOf(req->org()), req->env(), req->kind(), req->name()));
    ToProto(p, resp);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* FlowControlServiceImpl::GetEffectiveFlowControlPolicy(
    grpc::CallbackServerContext* ctx, const pb::GetFlowControlPolicyRequest* req, pb::FlowControlPolicy* resp) {
  return RunUnary(ctx, env_, "GetEffectiveFlowControlPolicy", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(Require(env_, actor, orchestrator::Role::kViewer,
                                   PolicyScope(req->org(), req->env(), req->kind(), req->name()), "read policies"));
    if (req->kind().empty() != req->name().empty()) {
      return absl::InvalidArgumentError("kind and name: give both (a resource) or neither (an env)");
    }
    PLINTH_ASSIGN_OR_RETURN(auto p, policies_->Effective(OrgOf(req->org()), req->env(), req->kind(), req->name()));
    ToProto(p, resp);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* FlowControlServiceImpl::ListFlowControlPolicies(
    grpc::CallbackServerContext* ctx, const pb::ListFlowControlPoliciesRequest* req,
    pb::ListFlowControlPoliciesResponse* resp) {
  return RunUnary(ctx, env_, "ListFlowControlPolicies", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(Require(env_, actor, orchestrator::Role::kViewer,
                                   req->org().empty() ? orchestrator::AccessScope::Everything()
                                                      : orchestrator::AccessScope::Org(req->org()),
                                   "list policies"));
    PageQuery query("ListFlowControlPolicies", *req);
    PLINTH_ASSIGN_OR_RETURN(std::string cursor, query.Cursor(req->page_token()));
    PLINTH_ASSIGN_OR_RETURN(int size, PageSizeOf(req->page_size(), 100));
    PLINTH_ASSIGN_OR_RETURN(auto list, policies_->List(req->org()));
    std::string next;
    auto page = PageOf(
        list,
        [](const store::FlowControlPolicy& p) {
          return absl::StrCat(p.org, "\x1f", p.env, "\x1f", p.kind, "\x1f", p.name);
        },
        cursor, size, &next);
    for (const auto* p : page) ToProto(*p, resp->add_policies());
    resp->set_next_page_token(query.Token(next));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* FlowControlServiceImpl::DeleteFlowControlPolicy(
    grpc::CallbackServerContext* ctx, const pb::GetFlowControlPolicyRequest* req,
    pb::DeleteFlowControlPolicyResponse*) {
  return RunUnary(ctx, env_, "DeleteFlowControlPolicy", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(Require(env_, actor, orchestrator::Role::kAdmin,
                                   PolicyScope(req->org(), req->env(), req->kind(), req->name()), "delete policies"));
    return policies_->Delete(OrgOf(req->org()), req->env(), req->kind(), req->name(), actor);
  });
}

}  // namespace plinth::api
