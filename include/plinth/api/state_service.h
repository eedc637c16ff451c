// StateService: the engine state plinthd keeps (see state.proto), for
// `plinth state list|get|versions|unlock`.
#ifndef PLINTH_API_STATE_SERVICE_H_
#define PLINTH_API_STATE_SERVICE_H_

#include "plinth/api/call.h"
#include "plinth/store/cloud_resource_store.h"
#include "plinth/store/state_store.h"
#include "plinth/v1/state.grpc.pb.h"

namespace plinth::api {

class StateServiceImpl final : public plinth::v1::StateService::CallbackService {
 public:
  StateServiceImpl(CallEnv env, store::StateStore* states, const store::CloudResourceStore* resources)
      : env_(env), states_(states), resources_(resources) {}

  grpc::ServerUnaryReactor* ListStates(grpc::CallbackServerContext* ctx, const plinth::v1::ListStatesRequest* req,
                                       plinth::v1::ListStatesResponse* resp) override;
  grpc::ServerUnaryReactor* GetState(grpc::CallbackServerContext* ctx, const plinth::v1::GetStateRequest* req,
                                     plinth::v1::GetStateResponse* resp) override;
  grpc::ServerUnaryReactor* ListStateVersions(grpc::CallbackServerContext* ctx,
                                              const plinth::v1::ListStateVersionsRequest* req,
                                              plinth::v1::ListStateVersionsResponse* resp) override;
  grpc::ServerUnaryReactor* UnlockState(grpc::CallbackServerContext* ctx, const plinth::v1::UnlockStateRequest* req,
                                        plinth::v1::StateLock* resp) override;

 private:
  // "ORG/ENV/KIND/NAME" -> the resource; INVALID_ARGUMENT naming `resource`.
  // The resource ORG/ENV/KIND/NAME, once `actor` holds `role` on it.
  absl::StatusOr<store::CloudResourceRecord> Resolve(const std::string& actor, orchestrator::Role role,
                                                     const std::string& ref, absl::string_view what) const;

  CallEnv env_;
  store::StateStore* const states_;
  const store::CloudResourceStore* const resources_;
};

}  // namespace plinth::api

#endif  // PLINTH_API_STATE_SERVICE_H_
