#include "plinth/server/daemon.h"

#include "plinth/store/postgres.h"

#include <filesystem>
#include <fstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "grpcpp/health_check_service_interface.h"
#include "plinth/core/logging.h"
#include "plinth/orchestrator/state_tokens.h"
#include "plinth/core/status_macros.h"
#include "plinth/store/meta.h"

namespace plinth::server {
namespace {

bool IsLoopback(const std::string& listen) {
  return absl::StartsWith(listen, "127.") || absl::StartsWith(listen, "localhost:") ||
         absl::StartsWith(listen, "[::1]:") || absl::StartsWith(listen, "unix:");
}

namespace fs = std::filesystem;

bool NonEmptyFile(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) && fs::file_size(p, ec) > 0 && !ec;
}

bool NonEmptyDir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec) && !fs::is_empty(p, ec) && !ec;
}

// What a data dir that has been used holds besides its catalog.
std::vector<std::string> UsedDataDirParts(const fs::path& dir) {
  std::vector<std::string> found;
  if (fs::exists(dir / "secret.key")) found.push_back("secret.key");
  for (const char* sub : {"state", "git", "modules"}) {
    if (NonEmptyDir(dir / sub)) found.push_back(absl::StrCat(sub, "/"));
  }
  return found;
}

}  // namespace

Daemon::~Daemon() { Shutdown(); }

// Probe finding D6: a deleted plinth.db beside state/ and secret.key came
// up as an empty catalog, and a deleted secret.key was replaced silently,
// leaving every sealed secret unreadable. Neither happens without --init.
absl::Status Daemon::OpenStoreAndKey() {
  auto log = core::Logger("server");
  const fs::path dir(config_.data_dir);
  const fs::path db_path = dir / "plinth.db";
  const bool shared = !config_.store.empty();
  bool had_db = false;
  store::DatabaseOptions db_options;
  db_options.readers = config_.workers;
  if (shared) {
    // PostgreSQL: the catalog lives there, whichever replica wrote it.
    db_options.path = config_.store;
  } else {
    // In WAL mode a young database may live in its -wal file alone.
    had_db = NonEmptyFile(db_path) || NonEmptyFile(dir / "plinth.db-wal");
    if (!had_db) {
      std::vector<std::string> left = UsedDataDirParts(dir);
      if (!left.empty()) {
        if (!config_.init) {
          return absl::FailedPreconditionError(absl::StrCat(
              "data dir ", dir.string(), ": plinth.db is missing or empty, but ", absl::StrJoin(left, ", "),
              (left.size() == 1 ? " is" : " are"),
              " there: the catalog of this data dir is gone. Restore plinth.db (with plinth.db-wal) from a backup; "
              "or, to start an empty catalog beside them on purpose, start plinthd once with --init"));
        }
        log->warn("--init: starting an empty catalog in {} beside {}", dir.string(), absl::StrJoin(left, ", "));
      }
    }
    db_options.path = db_path.string();
  }
  PLINTH_ASSIGN_OR_RETURN(db_, store::Database::Open(db_options));
  PLINTH_RETURN_IF_ERROR(db_->HoldExclusive());
  log->info("store: {} (schema version {})", shared ? store::RedactedUrl(config_.store) : db_options.path,
            db_->SchemaVersion());

  const fs::path key_path = config_.secret_key_file.empty() ? dir / "secret.key" : fs::path(config_.secret_key_file);
  const bool key_exists = fs::exists(key_path);
  PLINTH_ASSIGN_OR_RETURN(std::string sealed_with, store::ReadMeta(db_.get(), "secret_key_id"));
  // The store's own record of its key says whether it was used before.
  if (shared) had_db = !sealed_with.empty();
  const std::string what = shared ? absl::StrCat("the store ", store::RedactedUrl(config_.store))
                                  : absl::StrCat("data dir ", dir.string());
  const std::string key_name = config_.secret_key_file.empty() ? "secret.key" : key_path.string();
  const std::string catalog = shared ? "the catalog" : "plinth.db";
  if (!key_exists && had_db) {
    if (!config_.init) {
      return absl::FailedPreconditionError(absl::StrCat(
          what, ": ", key_name, " is missing, but ", catalog, " exists",
          sealed_with.empty() ? "" : absl::StrCat(" (sealed with key ", sealed_with, ")"),
          ": connections' secrets, webhook secrets and sensitive outputs cannot be opened with a new key. "
          "Restore the key from a backup", shared ? " (every replica needs the same key file, --secret-key-file)" : "",
          "; or, to make a new key on purpose (every sealed secret must then be set again), start plinthd once "
          "with --init"));
    }
    log->warn("--init: making a new {}; secrets sealed with the old key ({}) stay unreadable", key_name,
              sealed_with.empty() ? "unknown" : sealed_with);
  }
  PLINTH_ASSIGN_OR_RETURN(secret_box_, core::SecretBox::FromKeyFile(key_path.string()));
  const std::string key_id = secret_box_->KeyId();
  if (!sealed_with.empty() && sealed_with != key_id) {
    if (!config_.init) {
      return absl::FailedPreconditionError(absl::StrCat(
          what, ": ", key_name, " (key ", key_id, ") is not the key ", catalog, " was sealed with (key ",
          sealed_with, ")", shared ? ": every replica must be given the same key file (--secret-key-file)" : "",
          ". Restore the right key; or, to use this one on purpose (secrets sealed with the old key stay "
          "unreadable), start plinthd once with --init"));
    }
    log->warn("--init: using {} {} where {} was sealed with {}", key_name, key_id, catalog, sealed_with);
  }
  if (sealed_with != key_id) PLINTH_RETURN_IF_ERROR(store::WriteMeta(db_.get(), "secret_key_id", key_id));
  return absl::OkStatus();
}

absl::Status Daemon::Start() {
  auto log = core::Logger("server");
  PLINTH_RETURN_IF_ERROR(ValidateConfig(config_));
  PLINTH_ASSIGN_OR_RETURN(lock_, DataDirLock::Acquire(config_.data_dir));

  PLINTH_ASSIGN_OR_RETURN(catalog_, manifest::KindCatalog::CreateWithBuiltins());
  log->info("kinds catalog: {} built-in kinds", catalog_->size());
  for (const auto& path : config_.kinds_descriptor_sets) {
    PLINTH_ASSIGN_OR_RETURN(int added, catalog_->LoadDescriptorSetFile(path));
    log->info("kinds catalog: loaded {} kinds from {}", added, path);
  }
  if (size_t unchecked = catalog_->UncheckedRuleCount(); unchecked > 0) {
    log->info("kinds catalog: {} validation rules (CEL and others) are not evaluated by plinth; "
              "`plinth explain KIND` lists them", unchecked);
  }

  if (config_.auth_token_file.empty()) {
    auth_ = api::Authenticator::Anonymous();
    if (!IsLoopback(config_.listen)) {
      log->warn("listening on {} without --auth-token-file: anyone who can reach it can change "
                "cloud resources, as actor \"anonymous\"", config_.listen);
    }
  } else {
    PLINTH_ASSIGN_OR_RETURN(auth_, api::Authenticator::FromFile(config_.auth_token_file));
    log->info("auth: bearer tokens from {}", config_.auth_token_file);
  }

  PLINTH_RETURN_IF_ERROR(OpenStoreAndKey());
  resources_ = std::make_unique<store::CloudResourceStore>(db_.get(), core::SystemClock());
  charts_ = std::make_unique<store::InfraChartStore>(db_.get(), core::SystemClock());
  jobs_ = std::make_unique<store::StackJobStore>(db_.get(), core::SystemClock());
  // Engine steps run under plinth-step, so that they outlive a crash of
  // plinthd and are followed to their end after a restart.
  const std::string supervisor = engine::FindStepSupervisor();
  if (supervisor.empty()) {
    return absl::FailedPreconditionError(
        "plinth-step is not installed next to plinthd (it supervises every engine step, so that an apply "
        "outlives a crash of plinthd): install it from the same build into the same directory");
  }
  launcher_ = std::make_unique<engine::PosixProcessLauncher>(supervisor);
  orchestrator::EngineSettings settings;
  settings.binaries = config_.engine_binaries;
  for (const auto& [kind, m] : config_.modules) settings.modules[kind] = {m.engine, m.source, m.ref, m.subdir, m.connection};
  for (const auto& [env, b] : config_.backends) settings.backends[env] = {b.type, b.config};
  if (config_.pulumi_passphrase_file.empty()) {
    settings.pulumi_passphrase = secret_box_->Derive("plinth pulumi stack passphrase v1");
  } else {
    std::ifstream in(config_.pulumi_passphrase_file);
    if (in.is_open()) std::getline(in, settings.pulumi_passphrase);
    if (!settings.pulumi_passphrase.empty() && settings.pulumi_passphrase.back() == '\r') settings.pulumi_passphrase.pop_back();
    if (!in.is_open()) {
      return absl::FailedPreconditionError(
          absl::StrCat("engines.pulumi.passphrase_file ", config_.pulumi_passphrase_file, ": cannot read a passphrase"));
    }
    if (settings.pulumi_passphrase.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("engines.pulumi.passphrase_file ", config_.pulumi_passphrase_file, ": the first line is empty"));
    }
  }
  settings.max_concurrent_jobs = config_.max_concurrent_jobs;
  settings.step_timeout = absl::Seconds(config_.step_timeout_seconds);
  settings.kill_grace = absl::Seconds(config_.cancel_grace_seconds);
  settings.max_log_bytes = config_.max_log_bytes;
  settings.data_dir = std::filesystem::absolute(config_.data_dir).string();
  settings.metrics = &metrics_;
  runner_pools_ = std::make_unique<store::RunnerPoolStore>(db_.get(), core::SystemClock());
  runner_hub_ = std::make_unique<orchestrator::RunnerHub>(absl::Seconds(config_.runner_lease_seconds));
  settings.runner_hub = runner_hub_.get();
  states_ = std::make_unique<store::StateStore>(db_.get(), secret_box_.get(), core::SystemClock());
  settings.states = states_.get();
  settings.state_token_key = secret_box_->Derive(orchestrator::kStateTokenPurpose);
  settings.state_url = [this] {
    absl::MutexLock lock(&state_url_mu_);
    return state_url_;
  };
  settings.runner_pools = runner_pools_.get();
  git_cache_ = std::make_unique<gitsource::GitCache>((std::filesystem::path(settings.data_dir) / "modules").string(),
                                                     absl::Seconds(config_.git_fetch_timeout_seconds));
  settings.module_fetcher = git_cache_.get();
  connections_ = std::make_unique<store::ConnectionStore>(db_.get(), secret_box_.get(), core::SystemClock());
  runner_ = std::make_unique<orchestrator::StackJobRunner>(settings, jobs_.get(), resources_.get(), connections_.get(),
                                                           catalog_.get(), launcher_.get(), secret_box_.get(),
                                                           core::SystemClock());
  PLINTH_RETURN_IF_ERROR(runner_->Recover());
  projects_ = std::make_unique<store::InfraProjectStore>(db_.get(), core::SystemClock());
  pipelines_ = std::make_unique<store::InfraPipelineStore>(db_.get(), core::SystemClock());
  policies_ = std::make_unique<store::FlowControlStore>(db_.get(), core::SystemClock());
  orchestrator::SchedulerSettings scheduler_settings;
  scheduler_settings.default_max_parallel =
      config_.max_jobs_per_pipeline > 0 ? config_.max_jobs_per_pipeline : config_.max_concurrent_jobs;
  scheduler_ = std::make_unique<orchestrator::PipelineScheduler>(scheduler_settings, pipelines_.get(), projects_.get(),
                                                                 policies_.get(), jobs_.get(), runner_.get(),
                                                                 core::SystemClock());
  // Before the runner starts: pipelines settle on the jobs as they ended.
  PLINTH_RETURN_IF_ERROR(scheduler_->Recover());
  runner_->Start();
  scheduler_->Start();
  chart::ChartLimits chart_limits;
  chart_limits.max_render_memory_bytes = config_.chart_render_memory_bytes;
  project_manager_ = std::make_unique<orchestrator::ProjectManager>(catalog_.get(), charts_.get(), projects_.get(),
                                                                    pipelines_.get(), scheduler_.get(),
                                                                    chart_limits);
  // Git projects read their repositories through a cache of their own, so
  // that a push never waits behind a stack job's module fetch.
  project_git_cache_ = std::make_unique<gitsource::GitCache>(
      (std::filesystem::path(config_.data_dir) / "git").string(), absl::Seconds(config_.git_fetch_timeout_seconds));
  git_projects_ = std::make_unique<gitsource::GitProjects>(project_git_cache_.get(), project_manager_.get(),
                                                           projects_.get(), connections_.get(), catalog_.get(),
                                                           secret_box_.get());
  deliveries_ = std::make_unique<store::WebhookDeliveryStore>(db_.get(), core::SystemClock());
  // Deliveries acknowledged before a stop are acted on even with HTTP off.
  webhooks_ = std::make_unique<WebhookHandler>(git_projects_.get(), deliveries_.get(), &metrics_);
  webhooks_->Resume();
  if (config_.modules.empty()) {
    log->warn("no modules: configured; stack jobs will fail until the config maps kinds to engines and modules");
  }

  workers_ = std::make_unique<core::ThreadPool>(config_.workers, "api");
  grants_ = std::make_unique<store::GrantStore>(db_.get(), core::SystemClock());
  const api::Authenticator* auth = auth_.get();
  access_ = std::make_unique<orchestrator::AccessControl>(
      grants_.get(), [auth](const std::string& identity) { return !auth->enabled() || !auth->Scoped(identity); });
  PLINTH_RETURN_IF_ERROR(access_->Load());
  api::CallEnv env{auth_.get(), workers_.get(), &metrics_};
  env.access = access_.get();
  cloud_resource_service_ = std::make_unique<api::CloudResourceServiceImpl>(
      env, catalog_.get(), resources_.get(),
      api::CloudResourceServiceOptions{config_.max_manifest_bytes, jobs_.get(), secret_box_.get()});
  kind_service_ = std::make_unique<api::KindServiceImpl>(env, catalog_.get());
  infra_chart_service_ = std::make_unique<api::InfraChartServiceImpl>(env, catalog_.get(), charts_.get(), chart_limits);
  stack_job_service_ = std::make_unique<api::StackJobServiceImpl>(env, runner_.get(), jobs_.get(), resources_.get(),
                                                                  connections_.get());
  connection_service_ = std::make_unique<api::ConnectionServiceImpl>(env, connections_.get());
  infra_project_service_ = std::make_unique<api::InfraProjectServiceImpl>(
      env, project_manager_.get(), git_projects_.get(), projects_.get(), pipelines_.get(), deliveries_.get());
  infra_pipeline_service_ = std::make_unique<api::InfraPipelineServiceImpl>(env, scheduler_.get(), pipelines_.get(),
                                                                            projects_.get());
  flow_control_service_ = std::make_unique<api::FlowControlServiceImpl>(env, policies_.get());
  connected_runners_ = std::make_unique<api::ConnectedRunners>();
  runner_pool_service_ = std::make_unique<api::RunnerPoolServiceImpl>(env, runner_pools_.get(), connected_runners_.get(),
                                                                      runner_hub_.get());
  state_service_ = std::make_unique<api::StateServiceImpl>(env, states_.get(), resources_.get());
  cloud_ops_audit_ = std::make_unique<store::CloudOpsAuditStore>(db_.get(), core::SystemClock());
  cloud_ops_service_ = std::make_unique<api::CloudOpsServiceImpl>(
      env, api::CloudOpsDeps{catalog_.get(), resources_.get(), connections_.get(), runner_pools_.get(),
                             cloud_ops_audit_.get(), runner_hub_.get()});
  grant_service_ = std::make_unique<api::GrantServiceImpl>(env, access_.get());
  runner_service_ = std::make_unique<api::RunnerServiceImpl>(
      workers_.get(), runner_pools_.get(), connected_runners_.get(), runner_hub_.get(),
      api::RunnerSettings{config_.runner_heartbeat_seconds, config_.runner_lease_seconds});

  static const std::vector<std::string> kServices = {
      "plinth.v1.CloudResourceService", "plinth.v1.KindService",       "plinth.v1.InfraChartService",
      "plinth.v1.StackJobService",      "plinth.v1.ConnectionService", "plinth.v1.InfraProjectService",
      "plinth.v1.InfraPipelineService", "plinth.v1.FlowControlService", "plinth.v1.RunnerPoolService",
      "plinth.v1.RunnerService",       "plinth.v1.StateService",       "plinth.v1.CloudOpsService",
      "plinth.v1.GrantService"};
  std::vector<std::string> listed = kServices;
  listed.push_back("grpc.health.v1.Health");
  reflection_service_ = std::make_unique<api::ReflectionService>(env, catalog_.get(), std::move(listed));

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(config_.listen, grpc::InsecureServerCredentials(), &port);
  // Large enough for a batch of manifests; each one is still held to
  // max_manifest_bytes with a clear INVALID_ARGUMENT.
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::max<size_t>(64u << 20, 4 * config_.max_manifest_bytes)));
  builder.SetMaxSendMessageSize(256 << 20);
  builder.RegisterService(cloud_resource_service_.get());
  builder.RegisterService(kind_service_.get());
  builder.RegisterService(infra_chart_service_.get());
  builder.RegisterService(stack_job_service_.get());
  builder.RegisterService(connection_service_.get());
  builder.RegisterService(infra_project_service_.get());
  builder.RegisterService(infra_pipeline_service_.get());
  builder.RegisterService(flow_control_service_.get());
  builder.RegisterService(runner_pool_service_.get());
  builder.RegisterService(runner_service_.get());
  builder.RegisterService(state_service_.get());
  builder.RegisterService(cloud_ops_service_.get());
  builder.RegisterService(grant_service_.get());
  builder.RegisterCallbackGenericService(reflection_service_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port == 0) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config_.listen,
                                               " (address in use, or not a local address?)"));
  }
  // grpc.health.v1 answers for each service by its full name, as well as
  // for the server as a whole ("").
  if (auto* health = server_->GetHealthCheckService(); health != nullptr) {
    for (const std::string& service : kServices) health->SetServingStatus(service, true);
  }
  std::string host = config_.listen.substr(0, config_.listen.rfind(':'));
  address_ = absl::StrCat(host, ":", port);
  if (config_.http_listen != "off") {
    DefineMetrics();
    HttpServer::Handlers handlers;
    handlers.not_ready = [this]() -> std::string {
      if (!db_->Healthy()) return "the store cannot be written";
      if (!runner_ || runner_->workers() == 0) return "the stack-job workers are not running";
      return "";
    };
    handlers.metrics = [this] { return metrics_.Render(); };
    handlers.webhook = [this](const WebhookRequest& r) { return webhooks_->Handle(r); };
    handlers.webhook_too_large = [this](const std::string& provider) { webhooks_->Count(provider, "too_large"); };
    state_backend_ = std::make_unique<StateBackend>(states_.get(), jobs_.get(),
                                                    secret_box_->Derive(orchestrator::kStateTokenPurpose));
    handlers.state = [this](const HttpCall& call) { return state_backend_->Handle(call); };
    if (config_.ui == "on") {
      // The console calls the API through the server itself, so it passes
      // the same authentication and grants as any client.
      grpc::ChannelArguments args;
      args.SetMaxReceiveMessageSize(-1);
      Console::Options options;
      options.auth_required = auth_->enabled();
      console_ = std::make_unique<Console>(std::make_unique<api::JsonBridge>(server_->InProcessChannel(args)), options);
      handlers.console = [this](const HttpCall& call) { return console_->Handle(call); };
    }
    auto http = HttpServer::Start(config_.http_listen, std::move(handlers));
    if (!http.ok()) {
      server_->Shutdown();
      server_.reset();
      return http.status();
    }
    http_ = std::move(*http);
    absl::MutexLock lock(&state_url_mu_);
    state_url_ = config_.runner_state_url.empty() ? absl::StrCat("http://", http_->address()) : config_.runner_state_url;
  }
  log->info("plinthd serving on {} (data dir {})", address_, config_.data_dir);
  if (!config_.ready_file.empty()) {
    std::string tmp = config_.ready_file + ".tmp";
    {
      std::ofstream out(tmp);
      out << address_ << "\n";
      if (http_) out << "http " << http_->address() << "\n";
    }
    std::rename(tmp.c_str(), config_.ready_file.c_str());
  }
  return absl::OkStatus();
}

void Daemon::DefineMetrics() {
  metrics_.DefineCounter("plinth_grpc_requests_total", "gRPC requests by method and status code.");
  metrics_.DefineHistogram("plinth_grpc_request_duration_seconds", "gRPC request latency by method.",
                           {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  metrics_.DefineCounter("plinth_stack_jobs_finished_total", "Stack jobs that ended, by operation and state.");
  metrics_.DefineHistogram("plinth_stack_job_duration_seconds", "Stack job duration by operation.",
                           {0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200});
  metrics_.DefineGauge("plinth_stack_jobs_running", "Stack jobs running now.", [this] {
    return std::vector<std::pair<core::MetricLabels, double>>{{{}, runner_ ? runner_->running() : 0}};
  });
  metrics_.DefineGauge("plinth_stack_job_queue_depth", "Stack jobs queued, waiting for a worker.", [this] {
    return std::vector<std::pair<core::MetricLabels, double>>{{{}, runner_ ? runner_->queued() : 0}};
  });
  auto by_state = [](const absl::StatusOr<std::map<std::string, int64_t>>& counts) {
    std::vector<std::pair<core::MetricLabels, double>> out;
    if (!counts.ok()) return out;
    for (const auto& [state, n] : *counts) out.push_back({{{"state", state}}, static_cast<double>(n)});
    return out;
  };
  metrics_.DefineGauge("plinth_stack_jobs", "Stack jobs by state.", [this, by_state] { return by_state(jobs_->CountByState()); });
  metrics_.DefineGauge("plinth_infra_pipelines", "Infra pipelines by state.",
                       [this, by_state] { return by_state(pipelines_->CountByState()); });
}

void Daemon::Shutdown() {
  http_.reset();      // no scrapes or webhooks while parts are torn down
  webhooks_.reset();  // finishes the deliveries being acted on
  // Runner streams never end by themselves: closed first, so that the
  // server's shutdown does not wait for them.
  if (connected_runners_) {
    // Work on runners stays theirs: the next plinthd follows it.
    if (runner_hub_) runner_hub_->Shutdown();
    connected_runners_->CloseAll(grpc::Status(grpc::StatusCode::UNAVAILABLE, "plinthd is shutting down"));
  }
  if (server_) {
    core::Logger("server")->info("shutting down: finishing in-flight calls");
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(30));
    server_->Wait();
    server_.reset();
  }
  // The scheduler stops first (it submits to the runner); jobs that the
  // runner's shutdown interrupts are resumed by the next start's Recover.
  if (scheduler_) scheduler_->Stop();
  runner_.reset();   // running jobs get the graceful cancel
  scheduler_.reset();
  git_projects_.reset();
  project_manager_.reset();
  workers_.reset();  // runs what is queued, then joins
  cloud_resource_service_.reset();
  kind_service_.reset();
  infra_chart_service_.reset();
  stack_job_service_.reset();
  connection_service_.reset();
  infra_project_service_.reset();
  infra_pipeline_service_.reset();
  flow_control_service_.reset();
  policies_.reset();
  pipelines_.reset();
  deliveries_.reset();
  projects_.reset();
  connections_.reset();
  jobs_.reset();
  charts_.reset();
  resources_.reset();
  db_.reset();
  lock_.reset();
}

}  // namespace plinth::server
