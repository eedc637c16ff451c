// plinth.v1.CloudOpsService: resolves a Cloud Ops target (developer mode: a
// cloud resource; admin mode: a connection and a namespace), checks the
// caller's grant, sends the operation to a runner that holds the
// connection, relays its answer, and audits it. plinthd never calls the
// cluster itself.
#ifndef PLINTH_API_CLOUD_OPS_SERVICE_H_
#define PLINTH_API_CLOUD_OPS_SERVICE_H_

#include <string>

#include "plinth/api/call.h"
#include "plinth/core/timer.h"
#include "plinth/manifest/kind_catalog.h"
#include "plinth/orchestrator/runner_hub.h"
#include "plinth/store/cloud_ops_audit_store.h"
#include "plinth/store/cloud_resource_store.h"
#include "plinth/store/connection_store.h"
#include "plinth/store/runner_pool_store.h"
#include "plinth/v1/cloud_ops.grpc.pb.h"
#include "plinth/v1/runner.pb.h"

namespace plinth::api {

struct CloudOpsDeps {
  const manifest::KindCatalog* catalog = nullptr;
  store::CloudResourceStore* resources = nullptr;
  store::ConnectionStore* connections = nullptr;
  store::RunnerPoolStore* pools = nullptr;
  store::CloudOpsAuditStore* audit = nullptr;
  orchestrator::RunnerHub* hub = nullptr;
};

// Where one call goes, once resolved.
struct CloudOpsRouteInfo {
  bool developer = false;
  std::string target;      // ORG/ENV/KIND/NAME, or the connection ORG/NAME
  std::string org, env;
  std::string connection;  // ORG/NAME
  bool runner_held = false;
  std::string kubeconfig, context;
  std::string ns;
  std::string workload;    // developer mode
  std::string pool;
  std::string resource_kind;  // developer mode, for the grant check
};

class CloudOpsServiceImpl final : public plinth::v1::CloudOpsService::CallbackService {
 public:
  CloudOpsServiceImpl(CallEnv env, CloudOpsDeps deps) : env_(env), deps_(deps) {}

  grpc::ServerUnaryReactor* ListPods(grpc::CallbackServerContext* ctx, const plinth::v1::ListPodsRequest* req,
                                     plinth::v1::ListPodsResponse* resp) override;
  grpc::ServerWriteReactor<plinth::v1::LogChunk>* StreamLogs(grpc::CallbackServerContext* ctx,
                                                            const plinth::v1::StreamLogsRequest* req) override;
  grpc::ServerBidiReactor<plinth::v1::ExecRequest, plinth::v1::ExecResponse>* Exec(
      grpc::CallbackServerContext* ctx) override;
  grpc::ServerUnaryReactor* ListApiResources(grpc::CallbackServerContext* ctx,
                                             const plinth::v1::ListApiResourcesRequest* req,
                                             plinth::v1::ListApiResourcesResponse* resp) override;
  grpc::ServerUnaryReactor* ListObjects(grpc::CallbackServerContext* ctx, const plinth::v1::ListObjectsRequest* req,
                                        plinth::v1::ListObjectsResponse* resp) override;
  grpc::ServerUnaryReactor* GetObject(grpc::CallbackServerContext* ctx, const plinth::v1::GetObjectRequest* req,
                                      plinth::v1::KubeObject* resp) override;
  grpc::ServerUnaryReactor* DescribeObject(grpc::CallbackServerContext* ctx, const plinth::v1::GetObjectRequest* req,
                                           plinth::v1::DescribeObjectResponse* resp) override;
  grpc::ServerUnaryReactor* ApplyObject(grpc::CallbackServerContext* ctx, const plinth::v1::ApplyObjectRequest* req,
                                        plinth::v1::KubeObject* resp) override;
  grpc::ServerUnaryReactor* DeleteObject(grpc::CallbackServerContext* ctx, const plinth::v1::DeleteObjectRequest* req,
                                         plinth::v1::DeleteObjectResponse* resp) override;
  grpc::ServerUnaryReactor* GetNamespaceGraph(grpc::CallbackServerContext* ctx,
                                              const plinth::v1::GetNamespaceGraphRequest* req,
                                              plinth::v1::NamespaceGraph* resp) override;
  grpc::ServerUnaryReactor* ListCloudOpsAudit(grpc::CallbackServerContext* ctx,
                                              const plinth::v1::ListCloudOpsAuditRequest* req,
                                              plinth::v1::ListCloudOpsAuditResponse* resp) override;

  // Public for the exec and log streams (cloud_ops_service.cc).
  absl::StatusOr<CloudOpsRouteInfo> Resolve(const plinth::v1::CloudOpsTarget& target, const std::string& actor,
                                            const std::string& operation) const;
  void Audit(const CloudOpsRouteInfo& route, const std::string& actor, const std::string& operation,
             const std::string& object, const std::string& runner, const absl::Status& outcome) const;
  const CallEnv& env() const { return env_; }
  const CloudOpsDeps& deps() const { return deps_; }
  core::Timer* timer() { return &timer_; }

 private:
  // Resolves, runs the operation on a runner to its end (the caller's
  // cancel reaches the runner), audits it; the result JSON.
  absl::StatusOr<nlohmann::json> RunToEnd(grpc::CallbackServerContext* ctx, const plinth::v1::CloudOpsTarget& target,
                                          const std::string& actor, plinth::v1::CloudOpsWork work,
                                          const std::string& object, plinth::v1::CloudOpsRoute* route_out);

  const CallEnv env_;
  const CloudOpsDeps deps_;
  core::Timer timer_;
};

}  // namespace plinth::api

#endif  // PLINTH_API_CLOUD_OPS_SERVICE_H_
