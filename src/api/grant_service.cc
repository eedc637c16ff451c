#include "plinth/api/grant_service.h"

#include "plinth/api/paging.h"
#include "plinth/core/status_macros.h"

namespace plinth::api {
namespace pb = plinth::v1;

namespace {

void ToProto(const store::GrantRecord& g, pb::Grant* out) {
  out->set_id(g.id);
  out->set_identity(g.identity);
  out->set_role(g.role);
  out->set_scope(g.scope);
  ToTimestamp(g.created_at, out->mutable_create_time());
  out->set_created_by(g.created_by);
}

}  // namespace

grpc::ServerUnaryReactor* GrantServiceImpl::CreateGrant(grpc::CallbackServerContext* ctx,
                                                        const pb::CreateGrantRequest* req, pb::Grant* resp) {
  return RunUnary(ctx, env_, "CreateGrant", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(store::GrantRecord g, access_->Grant(actor, req->identity(), req->role(), req->scope()));
    ToProto(g, resp);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrantServiceImpl::ListGrants(grpc::CallbackServerContext* ctx,
                                                       const pb::ListGrantsRequest* req, pb::ListGrantsResponse* resp) {
  return RunUnary(ctx, env_, "ListGrants", [=, this](const std::string& actor) -> absl::Status {
    PageQuery query("ListGrants", *req);
    PLINTH_ASSIGN_OR_RETURN(std::string cursor, query.Cursor(req->page_token()));
    PLINTH_ASSIGN_OR_RETURN(int size, PageSizeOf(req->page_size(), 200));
    PLINTH_ASSIGN_OR_RETURN(std::vector<store::GrantRecord> all, access_->List(actor, req->identity()));
    std::string next;
    for (const store::GrantRecord* g : PageOf(all, [](const store::GrantRecord& g) { return g.id; }, cursor, size, &next)) {
      ToProto(*g, resp->add_grants());
    }
    resp->set_next_page_token(query.Token(next));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrantServiceImpl::DeleteGrant(grpc::CallbackServerContext* ctx,
                                                        const pb::DeleteGrantRequest* req, pb::DeleteGrantResponse* resp) {
  return RunUnary(ctx, env_, "DeleteGrant", [=, this](const std::string& actor) -> absl::Status {
    if (req->id().empty()) return absl::InvalidArgumentError("id: required (plinth grant list shows them)");
    PLINTH_ASSIGN_OR_RETURN(store::GrantRecord g, access_->Revoke(actor, req->id()));
    ToProto(g, resp->mutable_grant());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* GrantServiceImpl::GetMyAccess(grpc::CallbackServerContext* ctx,
                                                        const pb::GetMyAccessRequest* req, pb::MyAccess* resp) {
  (void)req;
  return RunUnary(ctx, env_, "GetMyAccess", [=, this](const std::string& actor) -> absl::Status {
    resp->set_identity(actor);
    resp->set_unscoped(access_->Unscoped(actor));
    PLINTH_ASSIGN_OR_RETURN(std::vector<store::GrantRecord> mine, access_->List(actor, actor));
    for (const auto& g : mine) ToProto(g, resp->add_grants());
    return absl::OkStatus();
  });
}

}  // namespace plinth::api
