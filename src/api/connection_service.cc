#include "plinth/api/connection_service.h"

#include "absl/strings/str_cat.h"
#include "plinth/api/paging.h"
#include "plinth/core/status_macros.h"
#include "plinth/engine/connection_env.h"
#include "plinth/manifest/names.h"

namespace plinth::api {
namespace {

namespace pb = plinth::v1;

void ToProto(const store::ConnectionRecord& r, pb::Connection* out) {
  out->set_id(r.id);
  out->set_org(r.org);
  out->set_name(r.name);
  out->set_provider(r.provider);
  for (const auto& [k, v] : r.fields) (*out->mutable_fields())[k] = v;
  for (const auto& n : r.secret_names) out->add_secret_fields(n);  // names only, never values
  for (const auto& d : r.default_for) out->add_default_for(d);
  ToTimestamp(r.created_at, out->mutable_create_time());
  out->set_created_by(r.created_by);
  ToTimestamp(r.updated_at, out->mutable_update_time());
  out->set_updated_by(r.updated_by);
  out->set_runner_held(r.runner_held);
}

std::map<std::string, std::string> ToMap(const google::protobuf::Map<std::string, std::string>& m) {
  return std::map<std::string, std::string>(m.begin(), m.end());
}

absl::Status CheckOrgName(const std::string& org, const std::string& name) {
  PLINTH_RETURN_IF_ERROR(manifest::CheckName("org", org));
  return manifest::CheckName("name", name);
}

}  // namespace

grpc::ServerUnaryReactor* ConnectionServiceImpl::CreateConnection(grpc::CallbackServerContext* ctx,
                                                                  const pb::CreateConnectionRequest* req,
                                                                  pb::Connection* resp) {
  return RunUnary(ctx, env_, "CreateConnection", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(CheckOrgName(req->org(), req->name()));
    PLINTH_RETURN_IF_ERROR(Require(env_, actor, orchestrator::Role::kAdmin, orchestrator::AccessScope::Org(req->org()),
                                   "create connections in " + req->org()));
    auto fields = ToMap(req->fields());
    auto secrets = ToMap(req->secret_fields());
    if (req->runner_held()) {
      // Its secrets come from the runners' runner.yaml; only the
      // non-secret fields are checked here (the runner checks the rest).
      if (!secrets.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("secret_fields.", secrets.begin()->first,
                                                       ": a runner-held connection keeps its secrets on its runners "
                                                       "(runner.yaml); plinthd takes none"));
      }
      PLINTH_RETURN_IF_ERROR(engine::CheckConnectionFields(req->provider(), fields, {}, /*complete=*/false));
      for (const auto& f : engine::FindProvider(req->provider())->fields) {
        if (f.required && !f.secret && (!fields.count(f.name) || fields.at(f.name).empty())) {
          return absl::InvalidArgumentError(absl::StrCat("fields.", f.name, ": required for ", req->provider(), " connections"));
        }
      }
    } else {
      PLINTH_RETURN_IF_ERROR(engine::CheckConnectionFields(req->provider(), fields, secrets, /*complete=*/true));
    }
    store::ConnectionRecord r;
    r.runner_held = req->runner_held();
    r.org = req->org();
    r.name = req->name();
    r.provider = req->provider();
    r.fields = fields;
    r.secrets = secrets;
    PLINTH_ASSIGN_OR_RETURN(auto created, connections_->Create(std::move(r), actor));
    ToProto(created, resp);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ConnectionServiceImpl::GetConnection(grpc::CallbackServerContext* ctx,
                                                               const pb::GetConnectionRequest* req, pb::Connection* resp) {
  return RunUnary(ctx, env_, "GetConnection", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(CheckOrgName(req->org(), req->name()));
    PLINTH_RETURN_IF_ERROR(Require(env_, actor, orchestrator::Role::kViewer, orchestrator::AccessScope::Org(req->org()),
                                   "read the connections of " + req->org()));
    PLINTH_ASSIGN_OR_RETURN(auto r, connections_->Get(req->org(), req->name()));
    ToProto(r, resp);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ConnectionServiceImpl::ListConnections(grpc::CallbackServerContext* ctx,
                                                                 const pb::ListConnectionsRequest* req,
                                                                 pb::ListConnectionsResponse* resp) {
  return RunUnary(ctx, env_, "ListConnections", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(Require(env_, actor, orchestrator::Role::kViewer, orchestrator::AccessScope::Org(req->org()),
                                   "read the connections of " + req->org()));
    PageQuery query("ListConnections", *req);
    PLINTH_ASSIGN_OR_RETURN(std::string cursor, query.Cursor(req->page_token()));
    PLINTH_ASSIGN_OR_RETURN(int size, PageSizeOf(req->page_size(), 100));
    PLINTH_ASSIGN_OR_RETURN(auto list, connections_->List(req->org(), req->provider()));
    std::string next;
    auto page = PageOf(
        list, [](const store::ConnectionRecord& r) { return absl::StrCat(r.org, "\x1f", r.name); }, cursor, size, &next);
    for (const auto* r : page) ToProto(*r, resp->add_connections());
    resp->set_next_page_token(query.Token(next));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ConnectionServiceImpl::UpdateConnection(grpc::CallbackServerContext* ctx,
                                                                  const pb::UpdateConnectionRequest* req,
                                                                  pb::Connection* resp) {
  return RunUnary(ctx, env_, "UpdateConnection", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(CheckOrgName(req->org(), req->name()));
    PLINTH_RETURN_IF_ERROR(Require(env_, actor, orchestrator::Role::kAdmin, orchestrator::AccessScope::Org(req->org()),
                                   "change connections of " + req->org()));
    PLINTH_ASSIGN_OR_RETURN(auto existing, connections_->Get(req->org(), req->name()));
    auto fields = ToMap(req->fields());
    auto secrets = ToMap(req->secret_fields());
    if (existing.runner_held && !secrets.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("secret_fields.", secrets.begin()->first, ": connection ", req->org(),
                                                     "/", req->name(), " is runner-held: its secrets are set in its "
                                                     "runners' runner.yaml, never in plinthd"));
    }
    PLINTH_RETURN_IF_ERROR(engine::CheckConnectionFields(existing.provider, fields, secrets, /*complete=*/false));
    PLINTH_ASSIGN_OR_RETURN(auto r, connections_->Update(req->org(), req->name(), fields, secrets, actor));
    ToProto(r, resp);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* ConnectionServiceImpl::DeleteConnection(grpc::CallbackServerContext* ctx,
                                                                  const pb::DeleteConnectionRequest* req,
                                                                  pb::DeleteConnectionResponse*) {
  return RunUnary(ctx, env_, "DeleteConnection", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(CheckOrgName(req->org(), req->name()));
    PLINTH_RETURN_IF_ERROR(Require(env_, actor, orchestrator::Role::kAdmin, orchestrator::AccessScope::Org(req->org()),
                                   "delete connections of " + req->org()));
    return connections_->Delete(req->org(), req->name(), actor);
  });
}

grpc::ServerUnaryReactor* ConnectionServiceImpl::SetDefaultConnection(grpc::CallbackServerContext* ctx,
                                                                      const pb::SetDefaultConnectionRequest* req,
                                                                      pb::SetDefaultConnectionResponse*) {
  return RunUnary(ctx, env_, "SetDefaultConnection", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(manifest::CheckName("org", req->org()));
    if (!req->env().empty()) PLINTH_RETURN_IF_ERROR(manifest::CheckName("env", req->env()));
    PLINTH_RETURN_IF_ERROR(Require(env_, actor, orchestrator::Role::kAdmin,
                                   req->env().empty() ? orchestrator::AccessScope::Org(req->org())
                                                      : orchestrator::AccessScope::Env(req->org(), req->env()),
                                   "set default connections"));
    if (engine::FindProvider(req->provider()) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("provider: \"", req->provider(), "\" is not a known provider"));
    }
    return connections_->SetDefault(req->org(), req->env(), req->provider(), req->name(), actor);
  });
}

}  // namespace plinth::api
