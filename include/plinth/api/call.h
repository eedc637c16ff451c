// How every unary RPC runs: authenticate on the reactor thread (cheap, no
// blocking), then hand the handler to a worker pool, because handlers touch
// SQLite; the worker finishes the reactor.
//
//   grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* ctx,
//                                 const GetRequest* req, Resource* resp) override {
//     return RunUnary(ctx, env_, "GetCloudResource", [=](const std::string& actor) {
//       ...; return absl::OkStatus();
//     });
//   }
#ifndef PLINTH_API_CALL_H_
#define PLINTH_API_CALL_H_

#include <malloc.h>

#include <chrono>
#include <functional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "grpcpp/grpcpp.h"
#include "plinth/api/auth.h"
#include "plinth/api/convert.h"
#include "absl/time/clock.h"
#include "plinth/core/logging.h"
#include "plinth/core/memory_budget.h"
#include "plinth/core/metrics.h"
#include "plinth/core/thread_pool.h"
#include "plinth/orchestrator/access_control.h"

namespace plinth::api {

// What handlers share; owned by the server, outlives every call.
struct CallEnv {
  const Authenticator* auth = nullptr;
  core::ThreadPool* workers = nullptr;
  // Requests by method and code, and their latency (null: not recorded).
  core::Metrics* metrics = nullptr;
  // Heap one call's handler may hold at once; past it the call fails with
  // RESOURCE_EXHAUSTED instead of taking the daemon's memory.
  size_t max_call_memory_bytes = size_t{1} << 30;
  // Grants (null: every authenticated caller may do everything).
  const orchestrator::AccessControl* access = nullptr;
};

// OK, or PERMISSION_DENIED naming who, what and the role on the scope it
// needs (see orchestrator/access_control.h).
inline absl::Status Require(const CallEnv& env, const std::string& actor, orchestrator::Role role,
                            const orchestrator::AccessScope& scope, absl::string_view what) {
  if (env.access == nullptr) return absl::OkStatus();
  return env.access->Require(actor, role, scope, what);
}
inline bool Allowed(const CallEnv& env, const std::string& actor, orchestrator::Role role,
                    const orchestrator::AccessScope& scope) {
  return env.access == nullptr || env.access->Allowed(actor, role, scope);
}

// Records one finished call in env.metrics.
inline void RecordCall(const CallEnv& env, const char* method, absl::StatusCode code, absl::Time start) {
  if (env.metrics == nullptr) return;
  env.metrics->Inc("plinth_grpc_requests_total", {{"method", method}, {"code", absl::StatusCodeToString(code)}});
  env.metrics->Observe("plinth_grpc_request_duration_seconds", {{"method", method}},
                       absl::ToDoubleSeconds(absl::Now() - start));
}

// For long handlers (chart renders) to poll: CANCELLED once the client
// cancelled, DEADLINE_EXCEEDED once its deadline passed, else OK. Valid
// while the call is unfinished.
inline std::function<absl::Status()> CallerGaveUp(grpc::CallbackServerContext* ctx) {
  return [ctx]() -> absl::Status {
    if (std::chrono::system_clock::now() > ctx->deadline()) {
      return absl::DeadlineExceededError("the caller's deadline passed");
    }
    if (ctx->IsCancelled()) return absl::CancelledError("the caller cancelled the call");
    return absl::OkStatus();
  };
}

template <typename Handler>
grpc::ServerUnaryReactor* RunUnary(grpc::CallbackServerContext* ctx, const CallEnv& env,
                                   const char* method, Handler handler) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const absl::Time start = absl::Now();
  absl::StatusOr<std::string> actor = env.auth->Authenticate(ctx->client_metadata());
  if (!actor.ok()) {
    core::Logger("api")->info("{}: {} from {}", method, actor.status().message(), ctx->peer());
    RecordCall(env, method, actor.status().code(), start);
    reactor->Finish(ToGrpcStatus(actor.status()));
    return reactor;
  }
  env.workers->Submit([ctx, reactor, method, handler = std::move(handler), actor = *std::move(actor), env,
                       start]() mutable {
    absl::Status status;
    core::ScopedMemoryBudget budget(env.max_call_memory_bytes);
    try {
      // A call that waited in the queue past its client's patience is not
      // worth starting.
      status = CallerGaveUp(ctx)();
      if (status.ok()) status = handler(actor);
    } catch (const std::bad_alloc&) {
      status = budget.exceeded()
                   ? absl::ResourceExhaustedError(absl::StrCat(method, ": the request needs more than ",
                                                               env.max_call_memory_bytes >> 20, " MiB of memory"))
                   : absl::ResourceExhaustedError(absl::StrCat(method, ": out of memory"));
    } catch (const std::exception& e) {
      // A bug, not bad input: report it rather than take the daemon down.
      core::Logger("api")->error("{}: unexpected exception: {}", method, e.what());
      status = absl::InternalError(absl::StrCat(method, ": internal error"));
    }
    if (!status.ok() && status.code() == absl::StatusCode::kInternal) {
      core::Logger("api")->error("{} by {}: {}", method, actor, status.message());
    }
    // A large request's memory goes back to the system, not only to
    // malloc's free lists of this worker thread.
    if (budget.peak() > (64u << 20)) malloc_trim(0);
    RecordCall(env, method, status.code(), start);
    reactor->Finish(ToGrpcStatus(status));
  });
  return reactor;
}

}  // namespace plinth::api

#endif  // PLINTH_API_CALL_H_
