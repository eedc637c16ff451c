// plinth.v1.InfraProjectService, plinth.v1.InfraPipelineService and
// plinth.v1.FlowControlService: infra projects and their revisions, the
// pipelines that deploy them (with a streaming watch), gates, and the
// flow-control policies that gate stack jobs.
#ifndef PLINTH_API_INFRA_PROJECT_SERVICE_H_
#define PLINTH_API_INFRA_PROJECT_SERVICE_H_

#include "plinth/api/call.h"
#include "plinth/core/timer.h"
#include "plinth/gitsource/git_projects.h"
#include "plinth/orchestrator/pipeline_scheduler.h"
#include "plinth/orchestrator/project_manager.h"
#include "plinth/store/flow_control_store.h"
#include "plinth/store/infra_pipeline_store.h"
#include "plinth/store/infra_project_store.h"
#include "plinth/store/webhook_delivery_store.h"
#include "plinth/v1/flow_control.grpc.pb.h"
#include "plinth/v1/infra_pipeline.grpc.pb.h"
#include "plinth/v1/infra_project.grpc.pb.h"

namespace plinth::api {

void ToProto(const store::PipelineRecord& p, plinth::v1::InfraPipeline* out);

class InfraProjectServiceImpl final : public plinth::v1::InfraProjectService::CallbackService {
 public:
  InfraProjectServiceImpl(CallEnv env, orchestrator::ProjectManager* manager, gitsource::GitProjects* git,
                          store::InfraProjectStore* projects, store::InfraPipelineStore* pipelines,
                          store::WebhookDeliveryStore* deliveries)
      : env_(env), manager_(manager), git_(git), projects_(projects), pipelines_(pipelines),
        deliveries_(deliveries) {}

  grpc::ServerUnaryReactor* CreateInfraProject(grpc::CallbackServerContext* ctx,
                                               const plinth::v1::CreateInfraProjectRequest* req,
                                               plinth::v1::InfraProjectResponse* resp) override;
  grpc::ServerUnaryReactor* UpdateInfraProject(grpc::CallbackServerContext* ctx,
                                               const plinth::v1::UpdateInfraProjectRequest* req,
                                               plinth::v1::InfraProjectResponse* resp) override;
  grpc::ServerUnaryReactor* GetInfraProject(grpc::CallbackServerContext* ctx,
                                            const plinth::v1::GetInfraProjectRequest* req,
                                            plinth::v1::InfraProject* resp) override;
  grpc::ServerUnaryReactor* ListInfraProjects(grpc::CallbackServerContext* ctx,
                                              const plinth::v1::ListInfraProjectsRequest* req,
                                              plinth::v1::ListInfraProjectsResponse* resp) override;
  grpc::ServerUnaryReactor* ListInfraProjectRevisions(grpc::CallbackServerContext* ctx,
                                                      const plinth::v1::ListInfraProjectRevisionsRequest* req,
                                                      plinth::v1::ListInfraProjectRevisionsResponse* resp) override;
  grpc::ServerUnaryReactor* GetInfraProjectGraph(grpc::CallbackServerContext* ctx,
                                                 const plinth::v1::GetInfraProjectGraphRequest* req,
                                                 plinth::v1::InfraProjectGraph* resp) override;
  grpc::ServerUnaryReactor* RunInfraProjectPipeline(grpc::CallbackServerContext* ctx,
                                                    const plinth::v1::ProjectActionRequest* req,
                                                    plinth::v1::InfraProjectResponse* resp) override;
  grpc::ServerUnaryReactor* RollbackInfraProject(grpc::CallbackServerContext* ctx,
                                                 const plinth::v1::RollbackInfraProjectRequest* req,
                                                 plinth::v1::InfraProjectResponse* resp) override;
  grpc::ServerUnaryReactor* UndeployInfraProject(grpc::CallbackServerContext* ctx,
                                                 const plinth::v1::ProjectActionRequest* req,
                                                 plinth::v1::InfraProjectResponse* resp) override;
  grpc::ServerUnaryReactor* PurgeInfraProject(grpc::CallbackServerContext* ctx,
                                              const plinth::v1::ProjectActionRequest* req,
                                              plinth::v1::InfraProjectResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteInfraProject(grpc::CallbackServerContext* ctx,
                                               const plinth::v1::DeleteInfraProjectRequest* req,
                                               plinth::v1::DeleteInfraProjectResponse* resp) override;
  grpc::ServerUnaryReactor* SyncInfraProject(grpc::CallbackServerContext* ctx,
                                             const plinth::v1::SyncInfraProjectRequest* req,
                                             plinth::v1::InfraProjectResponse* resp) override;
  grpc::ServerUnaryReactor* RotateWebhookSecret(grpc::CallbackServerContext* ctx,
                                                const plinth::v1::RotateWebhookSecretRequest* req,
                                                plinth::v1::RotateWebhookSecretResponse* resp) override;
  grpc::ServerUnaryReactor* ListWebhookDeliveries(grpc::CallbackServerContext* ctx,
                                                  const plinth::v1::ListWebhookDeliveriesRequest* req,
                                                  plinth::v1::ListWebhookDeliveriesResponse* resp) override;

 private:
  absl::Status Respond(const orchestrator::ProjectResult& result, plinth::v1::InfraProjectResponse* resp) const;
  absl::Status Fill(const store::InfraProjectRecord& p, plinth::v1::InfraProject* out) const;
  grpc::ServerUnaryReactor* Action(grpc::CallbackServerContext* ctx, const char* method,
                                   const plinth::v1::ProjectActionRequest* req, const std::string& trigger,
                                   plinth::v1::InfraProjectResponse* resp);

  const CallEnv env_;
  orchestrator::ProjectManager* const manager_;
  gitsource::GitProjects* const git_;
  store::InfraProjectStore* const projects_;
  store::InfraPipelineStore* const pipelines_;
  store::WebhookDeliveryStore* const deliveries_;
};

class InfraPipelineServiceImpl final : public plinth::v1::InfraPipelineService::CallbackService {
 public:
  InfraPipelineServiceImpl(CallEnv env, orchestrator::PipelineScheduler* scheduler,
                           store::InfraPipelineStore* pipelines, store::InfraProjectStore* projects)
      : env_(env), scheduler_(scheduler), pipelines_(pipelines), projects_(projects) {}

  grpc::ServerUnaryReactor* GetInfraPipeline(grpc::CallbackServerContext* ctx,
                                             const plinth::v1::GetInfraPipelineRequest* req,
                                             plinth::v1::InfraPipeline* resp) override;
  grpc::ServerUnaryReactor* ListInfraPipelines(grpc::CallbackServerContext* ctx,
                                               const plinth::v1::ListInfraPipelinesRequest* req,
                                               plinth::v1::ListInfraPipelinesResponse* resp) override;
  grpc::ServerUnaryReactor* GetLastInfraPipeline(grpc::CallbackServerContext* ctx,
                                                 const plinth::v1::GetLastInfraPipelineRequest* req,
                                                 plinth::v1::InfraPipeline* resp) override;
  grpc::ServerWriteReactor<plinth::v1::InfraPipeline>* WatchInfraPipeline(
      grpc::CallbackServerContext* ctx, const plinth::v1::WatchInfraPipelineRequest* req) override;
  grpc::ServerUnaryReactor* CancelInfraPipeline(grpc::CallbackServerContext* ctx,
                                                const plinth::v1::CancelInfraPipelineRequest* req,
                                                plinth::v1::InfraPipeline* resp) override;
  grpc::ServerUnaryReactor* ResolveGate(grpc::CallbackServerContext* ctx, const plinth::v1::ResolveGateRequest* req,
                                        plinth::v1::InfraPipeline* resp) override;

 private:
  const CallEnv env_;
  orchestrator::PipelineScheduler* const scheduler_;
  store::InfraPipelineStore* const pipelines_;
  store::InfraProjectStore* const projects_;
  core::Timer timer_;
};

class FlowControlServiceImpl final : public plinth::v1::FlowControlService::CallbackService {
 public:
  FlowControlServiceImpl(CallEnv env, store::FlowControlStore* policies) : env_(env), policies_(policies) {}

  grpc::ServerUnaryReactor* SetFlowControlPolicy(grpc::CallbackServerContext* ctx,
                                                 const plinth::v1::SetFlowControlPolicyRequest* req,
                                                 plinth::v1::FlowControlPolicy* resp) override;
  grpc::ServerUnaryReactor* GetFlowControlPolicy(grpc::CallbackServerContext* ctx,
                                                 const plinth::v1::GetFlowControlPolicyRequest* req,
                                                 plinth::v1::FlowControlPolicy* resp) override;
  grpc::ServerUnaryReactor* GetEffectiveFlowControlPolicy(grpc::CallbackServerContext* ctx,
                                                          const plinth::v1::GetFlowControlPolicyRequest* req,
                                                          plinth::v1::FlowControlPolicy* resp) override;
  grpc::ServerUnaryReactor* ListFlowControlPolicies(grpc::CallbackServerContext* ctx,
                                                    const plinth::v1::ListFlowControlPoliciesRequest* req,
                                                    plinth::v1::ListFlowControlPoliciesResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteFlowControlPolicy(grpc::CallbackServerContext* ctx,
                                                    const plinth::v1::GetFlowControlPolicyRequest* req,
                                                    plinth::v1::DeleteFlowControlPolicyResponse* resp) override;

 private:
  const CallEnv env_;
  store::FlowControlStore* const policies_;
};

}  // namespace plinth::api

#endif  // PLINTH_API_INFRA_PROJECT_SERVICE_H_
