// plinthd's wiring: the kinds catalog, the store, the API services and the
// gRPC server (with grpc.health.v1 and server reflection).
//
//   Daemon daemon(config);
//   PLINTH_RETURN_IF_ERROR(daemon.Start());   // serving when this returns
//   ... wait for SIGTERM ...
//   daemon.Shutdown();                         // in-flight calls finish first
#ifndef PLINTH_SERVER_DAEMON_H_
#define PLINTH_SERVER_DAEMON_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "plinth/api/auth.h"
#include "plinth/api/cloud_resource_service.h"
#include "plinth/api/connection_service.h"
#include "plinth/api/infra_chart_service.h"
#include "plinth/api/infra_project_service.h"
#include "plinth/api/kind_service.h"
#include "plinth/api/reflection_service.h"
#include "plinth/api/runner_service.h"
#include "plinth/api/stack_job_service.h"
#include "plinth/api/cloud_ops_service.h"
#include "plinth/api/grant_service.h"
#include "plinth/api/state_service.h"
#include "plinth/core/secret_box.h"
#include "plinth/engine/process.h"
#include "plinth/gitsource/git_cache.h"
#include "plinth/gitsource/git_projects.h"
#include "plinth/orchestrator/pipeline_scheduler.h"
#include "plinth/orchestrator/project_manager.h"
#include "plinth/orchestrator/stack_job_runner.h"
#include "plinth/store/stack_job_store.h"
#include "plinth/core/thread_pool.h"
#include "plinth/manifest/kind_catalog.h"
#include "plinth/server/config.h"
#include "plinth/server/console.h"
#include "plinth/server/data_dir_lock.h"
#include "plinth/server/http_server.h"
#include "plinth/server/state_backend.h"
#include "plinth/server/webhooks.h"
#include "plinth/store/webhook_delivery_store.h"
#include "plinth/store/cloud_resource_store.h"
#include "plinth/store/database.h"
#include "plinth/store/infra_chart_store.h"

namespace plinth::server {

class Daemon {
 public:
  explicit Daemon(Config config) : config_(std::move(config)) {}
  ~Daemon();

  // Takes the data-dir lock, loads kinds, opens the store and starts
  // serving. Any failure is returned with a message for the operator.
  absl::Status Start();
  // Stops accepting calls, lets in-flight calls finish (up to 30 s), then
  // closes the store. Safe to call twice.
  void Shutdown();

 private:
  void DefineMetrics();
  // Opens plinth.db and secret.key, refusing (FAILED_PRECONDITION) a data
  // dir that lost either unless config_.init.
  absl::Status OpenStoreAndKey();

 public:

  // "host:port" actually bound (the port is resolved when 0 was asked for).
  const std::string& address() const { return address_; }
  // The HTTP side's host:port ("" when off).
  std::string http_address() const { return http_ ? http_->address() : ""; }

 private:
  Config config_;
  std::string address_;
  std::unique_ptr<DataDirLock> lock_;
  std::unique_ptr<manifest::KindCatalog> catalog_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<store::CloudResourceStore> resources_;
  std::unique_ptr<store::InfraChartStore> charts_;
  std::unique_ptr<store::StackJobStore> jobs_;
  std::unique_ptr<store::ConnectionStore> connections_;
  std::unique_ptr<core::SecretBox> secret_box_;
  std::unique_ptr<engine::PosixProcessLauncher> launcher_;
  std::unique_ptr<gitsource::GitCache> git_cache_;
  std::unique_ptr<orchestrator::StackJobRunner> runner_;
  std::unique_ptr<store::InfraProjectStore> projects_;
  std::unique_ptr<store::InfraPipelineStore> pipelines_;
  std::unique_ptr<store::FlowControlStore> policies_;
  std::unique_ptr<orchestrator::PipelineScheduler> scheduler_;
  std::unique_ptr<orchestrator::ProjectManager> project_manager_;
  std::unique_ptr<gitsource::GitCache> project_git_cache_;  // <data>/git: Git projects' mirrors
  std::unique_ptr<gitsource::GitProjects> git_projects_;
  std::unique_ptr<store::WebhookDeliveryStore> deliveries_;
  std::unique_ptr<WebhookHandler> webhooks_;
  std::unique_ptr<api::Authenticator> auth_;
  std::unique_ptr<core::ThreadPool> workers_;
  std::unique_ptr<api::CloudResourceServiceImpl> cloud_resource_service_;
  std::unique_ptr<api::KindServiceImpl> kind_service_;
  std::unique_ptr<api::InfraChartServiceImpl> infra_chart_service_;
  std::unique_ptr<api::StackJobServiceImpl> stack_job_service_;
  std::unique_ptr<api::ConnectionServiceImpl> connection_service_;
  std::unique_ptr<api::InfraProjectServiceImpl> infra_project_service_;
  std::unique_ptr<api::InfraPipelineServiceImpl> infra_pipeline_service_;
  std::unique_ptr<api::ReflectionService> reflection_service_;
  std::unique_ptr<api::FlowControlServiceImpl> flow_control_service_;
  std::unique_ptr<store::RunnerPoolStore> runner_pools_;
  std::unique_ptr<orchestrator::RunnerHub> runner_hub_;
  std::unique_ptr<api::ConnectedRunners> connected_runners_;
  std::unique_ptr<api::RunnerPoolServiceImpl> runner_pool_service_;
  std::unique_ptr<api::RunnerServiceImpl> runner_service_;
  std::unique_ptr<store::StateStore> states_;
  std::unique_ptr<api::StateServiceImpl> state_service_;
  std::unique_ptr<store::CloudOpsAuditStore> cloud_ops_audit_;
  std::unique_ptr<api::CloudOpsServiceImpl> cloud_ops_service_;
  std::unique_ptr<store::GrantStore> grants_;
  std::unique_ptr<orchestrator::AccessControl> access_;
  std::unique_ptr<api::GrantServiceImpl> grant_service_;
  std::unique_ptr<StateBackend> state_backend_;
  mutable absl::Mutex state_url_mu_;
  std::string state_url_ ABSL_GUARDED_BY(state_url_mu_);
  std::unique_ptr<grpc::Server> server_;
  core::Metrics metrics_;
  std::unique_ptr<Console> console_;
  std::unique_ptr<HttpServer> http_;
};

}  // namespace plinth::server

#endif  // PLINTH_SERVER_DAEMON_H_
