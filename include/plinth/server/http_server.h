// plinthd's HTTP side (--http-listen, default 127.0.0.1:7080): GET /healthz
// (the process is up), GET /readyz (the store is open and the job workers
// run: 200, else 503), GET /metrics (Prometheus text format), and
// POST /webhooks/github, /webhooks/gitlab (see webhooks.h).
//
//   auto http = HttpServer::Start("127.0.0.1:7080", {.ready = ..., .metrics = ...});
//
// Serves on its own threads; the destructor stops it.
#ifndef PLINTH_SERVER_HTTP_SERVER_H_
#define PLINTH_SERVER_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

#include "plinth/server/webhooks.h"

namespace httplib {
class Server;
}

namespace plinth::server {

class HttpServer {
 public:
  struct Handlers {
    // Why plinthd is not ready ("" when it is).
    std::function<std::string()> not_ready;
    std::function<std::string()> metrics;
    // POST /webhooks/github and /webhooks/gitlab (absent: 404).
    std::function<WebhookResponse(const WebhookRequest&)> webhook;
    // A webhook body over the 5 MiB limit, refused with 413 (for metrics).
    std::function<void(const std::string& provider)> webhook_too_large;
  };

  // `listen` is host:port; port 0 picks a free one. UNAVAILABLE when the
  // address cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& listen, Handlers handlers);
  ~HttpServer();

  // host:port actually bound.
  const std::string& address() const { return address_; }

 private:
  HttpServer() = default;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::string address_;
};

}  // namespace plinth::server

#endif  // PLINTH_SERVER_HTTP_SERVER_H_
