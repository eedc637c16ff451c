// plinth.v1.CloudResourceService: parse and validate manifests (manifest
// layer), then store them (store layer). Callback API; all work runs on the
// CallEnv's worker pool.
#ifndef PLINTH_API_CLOUD_RESOURCE_SERVICE_H_
#define PLINTH_API_CLOUD_RESOURCE_SERVICE_H_

#include "plinth/api/arena_allocator.h"
#include "plinth/api/call.h"
#include "plinth/manifest/kind_catalog.h"
#include "plinth/core/secret_box.h"
#include "plinth/store/cloud_resource_store.h"
#include "plinth/store/stack_job_store.h"
#include "plinth/v1/cloud_resource.grpc.pb.h"

namespace plinth::api {

struct CloudResourceServiceOptions {
  size_t max_manifest_bytes = manifest::kDefaultMaxManifestBytes;
  // Where sensitive outputs are kept sealed; without them, revealing them
  // is FAILED_PRECONDITION.
  const store::StackJobStore* jobs = nullptr;
  const core::SecretBox* secrets = nullptr;
};

class CloudResourceServiceImpl final : public plinth::v1::CloudResourceService::CallbackService {
 public:
  // Every pointer must outlive the service.
  CloudResourceServiceImpl(CallEnv env, const manifest::KindCatalog* catalog,
                           store::CloudResourceStore* store, CloudResourceServiceOptions options)
      : env_(env), catalog_(catalog), store_(store), options_(options) {
    SetMessageAllocatorFor_GetCloudResource(&get_allocator_);
    SetMessageAllocatorFor_ListCloudResources(&list_allocator_);
  }

  grpc::ServerUnaryReactor* ApplyCloudResources(
      grpc::CallbackServerContext* ctx, const plinth::v1::ApplyCloudResourcesRequest* req,
      plinth::v1::ApplyCloudResourcesResponse* resp) override;
  grpc::ServerUnaryReactor* CreateCloudResource(grpc::CallbackServerContext* ctx,
                                                const plinth::v1::CreateCloudResourceRequest* req,
                                                plinth::v1::CloudResource* resp) override;
  grpc::ServerUnaryReactor* GetCloudResource(grpc::CallbackServerContext* ctx,
                                             const plinth::v1::GetCloudResourceRequest* req,
                                             plinth::v1::CloudResource* resp) override;
  grpc::ServerUnaryReactor* ListCloudResources(grpc::CallbackServerContext* ctx,
                                               const plinth::v1::ListCloudResourcesRequest* req,
                                               plinth::v1::ListCloudResourcesResponse* resp) override;
  grpc::ServerUnaryReactor* UpdateCloudResource(grpc::CallbackServerContext* ctx,
                                                const plinth::v1::UpdateCloudResourceRequest* req,
                                                plinth::v1::CloudResource* resp) override;
  grpc::ServerUnaryReactor* DeleteCloudResource(grpc::CallbackServerContext* ctx,
                                                const plinth::v1::DeleteCloudResourceRequest* req,
                                                plinth::v1::DeleteCloudResourceResponse* resp) override;
  grpc::ServerUnaryReactor* ListCloudResourceRevisions(
      grpc::CallbackServerContext* ctx, const plinth::v1::ListCloudResourceRevisionsRequest* req,
      plinth::v1::ListCloudResourceRevisionsResponse* resp) override;

 private:
  // Parses exactly one manifest for Create/Update.
  absl::StatusOr<manifest::Manifest> ParseOne(const std::string& text, const std::string& org,
                                              const std::string& env) const;

  // Replaces "<sensitive>" outputs with their values, opened from the seal.
  absl::Status RevealSensitive(const std::string& actor, store::CloudResourceRecord* record) const;

  const CallEnv env_;
  const manifest::KindCatalog* const catalog_;
  store::CloudResourceStore* const store_;
  const CloudResourceServiceOptions options_;
  ArenaAllocator<plinth::v1::GetCloudResourceRequest, plinth::v1::CloudResource> get_allocator_;
  ArenaAllocator<plinth::v1::ListCloudResourcesRequest, plinth::v1::ListCloudResourcesResponse> list_allocator_;
};

}  // namespace plinth::api

#endif  // PLINTH_API_CLOUD_RESOURCE_SERVICE_H_
