// plinth.v1.KindService: the kinds catalog, read-only. The catalog is in
// memory and immutable after start, so calls finish on the reactor thread.
#ifndef PLINTH_API_KIND_SERVICE_H_
#define PLINTH_API_KIND_SERVICE_H_

#include "plinth/api/call.h"
#include "plinth/manifest/kind_catalog.h"
#include "plinth/v1/kind.grpc.pb.h"

namespace plinth::api {

class KindServiceImpl final : public plinth::v1::KindService::CallbackService {
 public:
  KindServiceImpl(CallEnv env, const manifest::KindCatalog* catalog)
      : env_(env), catalog_(catalog) {}

  grpc::ServerUnaryReactor* ListKinds(grpc::CallbackServerContext* ctx,
                                      const plinth::v1::ListKindsRequest* req,
                                      plinth::v1::ListKindsResponse* resp) override;
  grpc::ServerUnaryReactor* GetKind(grpc::CallbackServerContext* ctx,
                                    const plinth::v1::GetKindRequest* req,
                                    plinth::v1::Kind* resp) override;

 private:
  const CallEnv env_;
  const manifest::KindCatalog* const catalog_;
};

}  // namespace plinth::api

#endif  // PLINTH_API_KIND_SERVICE_H_
