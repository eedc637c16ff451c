// plinth.v1.RunnerPoolService (pools, tokens, bindings, the runners list)
// and plinth.v1.RunnerService (the stream each plinth-runner keeps open).
#ifndef PLINTH_API_RUNNER_SERVICE_H_
#define PLINTH_API_RUNNER_SERVICE_H_

#include <map>
#include <optional>
#include <memory>
#include <set>
#include <string>

#include "absl/synchronization/mutex.h"
#include "plinth/api/call.h"
#include "plinth/orchestrator/runner_hub.h"
#include "plinth/store/runner_pool_store.h"
#include "plinth/v1/runner.grpc.pb.h"

namespace plinth::api {

// The runners connected now, as the stream service sees them; the pool
// service reads it for `connected` and disconnects runners whose token was
// revoked.
class ConnectedRunners {
 public:
  class Connection {
   public:
    virtual ~Connection() = default;
    // Ends the stream with `status` (from any thread; idempotent).
    virtual void Close(const grpc::Status& status) = 0;
  };
  void Add(const std::string& runner_id, const std::string& token_id, std::shared_ptr<Connection> c);
  void Remove(const std::string& runner_id, Connection* c);
  bool Connected(const std::string& runner_id) const;
  void CloseToken(const std::string& token_id, const grpc::Status& status);
  // Closes every stream, and every one that connects from now on (plinthd
  // is stopping: the runners reconnect to the next plinthd).
  void CloseAll(const grpc::Status& status);

 private:
  struct Entry {
    std::string token_id;
    std::shared_ptr<Connection> connection;
  };
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> by_runner_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> closed_ ABSL_GUARDED_BY(mu_);
};

struct RunnerSettings {
  int heartbeat_seconds = 5;
  int lease_seconds = 30;
};

class RunnerPoolServiceImpl final : public plinth::v1::RunnerPoolService::CallbackService {
 public:
  RunnerPoolServiceImpl(CallEnv env, store::RunnerPoolStore* pools, ConnectedRunners* connected,
                        const orchestrator::RunnerHub* hub)
      : env_(env), pools_(pools), connected_(connected), hub_(hub) {}

  grpc::ServerUnaryReactor* CreateRunnerPool(grpc::CallbackServerContext* ctx, const plinth::v1::CreateRunnerPoolRequest* req,
                                             plinth::v1::RunnerPool* resp) override;
  grpc::ServerUnaryReactor* ListRunnerPools(grpc::CallbackServerContext* ctx, const plinth::v1::ListRunnerPoolsRequest* req,
                                            plinth::v1::ListRunnerPoolsResponse* resp) override;
  grpc::ServerUnaryReactor* DeleteRunnerPool(grpc::CallbackServerContext* ctx, const plinth::v1::DeleteRunnerPoolRequest* req,
                                             plinth::v1::DeleteRunnerPoolResponse* resp) override;
  grpc::ServerUnaryReactor* CreatePoolToken(grpc::CallbackServerContext* ctx, const plinth::v1::CreatePoolTokenRequest* req,
                                            plinth::v1::CreatePoolTokenResponse* resp) override;
  grpc::ServerUnaryReactor* RevokePoolToken(grpc::CallbackServerContext* ctx, const plinth::v1::RevokePoolTokenRequest* req,
                                            plinth::v1::PoolToken* resp) override;
  grpc::ServerUnaryReactor* BindRunnerPool(grpc::CallbackServerContext* ctx, const plinth::v1::BindRunnerPoolRequest* req,
                                           plinth::v1::RunnerPoolBinding* resp) override;
  grpc::ServerUnaryReactor* UnbindRunnerPool(grpc::CallbackServerContext* ctx, const plinth::v1::UnbindRunnerPoolRequest* req,
                                             plinth::v1::UnbindRunnerPoolResponse* resp) override;
  grpc::ServerUnaryReactor* ListRunners(grpc::CallbackServerContext* ctx, const plinth::v1::ListRunnersRequest* req,
                                        plinth::v1::ListRunnersResponse* resp) override;

 private:
  // Pools and their tokens belong to no org, and a pool's runners hold
  // credentials: managing them, and binding an org to one, takes admin on
  // "*".
  absl::Status RequireGlobalAdmin(const std::string& actor, const std::string& what) const {
    return Require(env_, actor, orchestrator::Role::kAdmin, orchestrator::AccessScope::Everything(), what);
  }

  const CallEnv env_;
  store::RunnerPoolStore* const pools_;
  ConnectedRunners* const connected_;
  const orchestrator::RunnerHub* const hub_;
};

// The runner's stream. Authenticated by the pool token in the first
// message (never by the operators' bearer tokens, which it does not take).
class RunnerServiceImpl final : public plinth::v1::RunnerService::CallbackService {
 public:
  RunnerServiceImpl(core::ThreadPool* workers, store::RunnerPoolStore* pools, ConnectedRunners* connected,
                    orchestrator::RunnerHub* hub, RunnerSettings settings)
      : workers_(workers), pools_(pools), connected_(connected), hub_(hub), settings_(settings) {}

  grpc::ServerBidiReactor<plinth::v1::RunnerMessage, plinth::v1::ControlMessage>* Connect(
      grpc::CallbackServerContext* ctx) override;

 private:
  core::ThreadPool* const workers_;
  store::RunnerPoolStore* const pools_;
  ConnectedRunners* const connected_;
  orchestrator::RunnerHub* const hub_;
  const RunnerSettings settings_;
};

}  // namespace plinth::api

#endif  // PLINTH_API_RUNNER_SERVICE_H_
