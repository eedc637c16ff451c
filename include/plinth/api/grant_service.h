// plinth.v1.GrantService: grants of identities on scopes (see
// orchestrator/access_control.h for what the roles allow).
#ifndef PLINTH_API_GRANT_SERVICE_H_
#define PLINTH_API_GRANT_SERVICE_H_

#include "plinth/api/call.h"
#include "plinth/orchestrator/access_control.h"
#include "plinth/v1/grant.grpc.pb.h"

namespace plinth::api {

class GrantServiceImpl final : public plinth::v1::GrantService::CallbackService {
 public:
  GrantServiceImpl(CallEnv env, orchestrator::AccessControl* access) : env_(env), access_(access) {}

  grpc::ServerUnaryReactor* CreateGrant(grpc::CallbackServerContext* ctx, const plinth::v1::CreateGrantRequest* req,
                                        plinth::v1::Grant* resp) override;
  grpc::ServerUnaryReactor* ListGrants(grpc::CallbackServerContext* ctx, const plinth::v1::ListGrantsRequest* req,
                                       plinth::v1::ListGrantsResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteGrant(grpc::CallbackServerContext* ctx, const plinth::v1::DeleteGrantRequest* req,
                                        plinth::v1::DeleteGrantResponse* resp) override;
  grpc::ServerUnaryReactor* GetMyAccess(grpc::CallbackServerContext* ctx, const plinth::v1::GetMyAccessRequest* req,
                                        plinth::v1::MyAccess* resp) override;

 private:
  const CallEnv env_;
  orchestrator::AccessControl* const access_;
};

}  // namespace plinth::api

#endif  // PLINTH_API_GRANT_SERVICE_H_
