// plinthd's HTTP side (--http-listen, default 127.0.0.1:7080): GET /healthz
// (the process is up), GET /readyz (the store is open and the job workers
// run: 200, else 503), GET /metrics (Prometheus text format), and
// POST /webhooks/github, /webhooks/gitlab (see webhooks.h).
//
//   auto http = HttpServer::Start("127.0.0.1:7080", {.ready = ..., .metrics = ...});
//
// The side is unauthenticated and may face the internet (webhooks), so it
// holds every client to bounds: one event-loop thread reads all
// connections without blocking, each request must arrive whole (headers
// within header_timeout, the body within body_timeout), headers are at most
// 16 KiB and a body at most 5 MiB however it is sent (a declared length
// over it is refused before a byte of it is read; a chunked body is counted
// as it is decoded), and past max_connections the stalest unfinished
// connection is dropped for the new one. Health, readiness and metrics are
// answered on the loop itself, so slow or stuck clients cannot starve them;
// webhooks run on a worker thread of their own, the console on another
// pool. The destructor stops it.
#ifndef PLINTH_SERVER_HTTP_SERVER_H_
#define PLINTH_SERVER_HTTP_SERVER_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "plinth/server/webhooks.h"

namespace plinth::server {

// A request and answer of a handler that runs on a worker thread.
struct HttpCall {
  std::string method, path, query;             // query: after '?', undecoded
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};
// The sending half of a streamed answer (server-sent events): a producer
// thread writes to it while the loop sends what was written. Thread-safe.
class HttpStream {
 public:
  // Queues data for the client; false once the client left, the server
  // stops, or the client is more than 8 MiB behind (it is then dropped).
  bool Write(std::string data);
  // The client left or the server stops.
  bool closed() const;
  // Runs `f` (once) when the stream closes; at once if it has. For a
  // producer blocked elsewhere, such as in a gRPC read, to cancel it.
  void OnClose(std::function<void()> f);

  // For the loop.
  void Close();
  std::string Take();
  explicit HttpStream(std::function<void()> wake) : wake_(std::move(wake)) {}

 private:
  static constexpr size_t kMaxBacklog = 8 << 20;
  std::function<void()> wake_;
  mutable std::mutex mu_;
  std::string pending_;
  bool closed_ = false;
  std::vector<std::function<void()>> on_close_;
};

struct HttpAnswer {
  int status = 200;
  std::string body;
  std::string content_type = "text/plain";
  // Further header lines, each ending in "\r\n" (Set-Cookie, CSP ...).
  std::string headers;
  // When set, the answer is a stream: the head goes out with no length and
  // `stream` runs on a thread of its own, writing the body until it returns
  // (then the connection closes) or the client leaves.
  std::function<void(HttpStream&)> stream;
};

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
    // Every method on /v1/state/... (Terraform's http state backend; absent:
    // 404). Bodies up to max_state_body_bytes.
    std::function<HttpAnswer(const HttpCall&)> state;
    // Every other path (the web console; absent: 404), on a pool of its
    // own. At most max_streams streamed answers at once.
    std::function<HttpAnswer(const HttpCall&)> console;
  };

  struct Limits {
    std::chrono::milliseconds header_timeout{10'000};  // from connect (or the previous response) to the headers' end
    std::chrono::milliseconds body_timeout{30'000};    // from the headers' end to the body's end
    std::chrono::milliseconds idle_timeout{30'000};    // a kept-alive connection with no request
    std::chrono::milliseconds write_timeout{10'000};   // to take a response
    size_t max_header_bytes = 16 << 10;
    size_t max_body_bytes = 5 << 20;
    size_t max_state_body_bytes = 64 << 20;  // /v1/state/: engine state is larger than a webhook
    size_t max_connections = 256;
    size_t max_streams = 64;
  };

  // `listen` is host:port; port 0 picks a free one. UNAVAILABLE when the
  // address cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& listen, Handlers handlers,
                                                           Limits limits);
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& listen, Handlers handlers) {
    return Start(listen, std::move(handlers), Limits());
  }
  ~HttpServer();

  // host:port actually bound.
  const std::string& address() const { return address_; }

 private:
  class Loop;
  HttpServer() = default;
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
  std::string address_;
};

}  // namespace plinth::server

#endif  // PLINTH_SERVER_HTTP_SERVER_H_
