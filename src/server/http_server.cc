#include "plinth/server/http_server.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "httplib.h"
#include "plinth/core/logging.h"

namespace plinth::server {

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& listen, Handlers handlers) {
  size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("http_listen: \"", listen, "\" is not host:port"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::unique_ptr<HttpServer> out(new HttpServer());
  out->server_ = std::make_unique<httplib::Server>();
  httplib::Server& s = *out->server_;
  s.set_read_timeout(10, 0);
  s.set_write_timeout(10, 0);
  s.set_payload_max_length(5 << 20);
  // SO_REUSEADDR only: cpp-httplib's default adds SO_REUSEPORT, with which
  // a second plinthd would share the port silently instead of failing.
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const char*>(&yes), sizeof(yes));
  });
  s.Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
  s.Get("/readyz", [h = handlers](const httplib::Request&, httplib::Response& res) {
    std::string why = h.not_ready ? h.not_ready() : "";
    res.status = why.empty() ? 200 : 503;
    res.set_content(why.empty() ? "ready\n" : "not ready: " + why + "\n", "text/plain");
  });
  s.Get("/metrics", [h = handlers](const httplib::Request&, httplib::Response& res) {
    res.set_content(h.metrics ? h.metrics() : "", "text/plain; version=0.0.4; charset=utf-8");
  });
  if (handlers.webhook) {
    for (std::string provider : {"github", "gitlab"}) {
      s.Post("/webhooks/" + provider, [h = handlers, provider](const httplib::Request& req, httplib::Response& res) {
        WebhookRequest w;
        w.provider = provider;
        for (const auto& [name, value] : req.headers) w.headers.emplace(absl::AsciiStrToLower(name), value);
        w.body = req.body;
        WebhookResponse r = h.webhook(w);
        res.status = r.status;
        res.set_content(r.body, "text/plain");
      });
    }
  }
  // The server answers 413 itself for a body over the limit; count it.
  s.set_error_handler([h = handlers](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 413 && absl::StartsWith(req.path, "/webhooks/")) {
      if (h.webhook_too_large) h.webhook_too_large(req.path.substr(10));
      res.set_content("body: larger than the 5 MiB limit\n", "text/plain");
    }
  });
  int bound = port == 0 ? s.bind_to_any_port(host) : (s.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ", listen,
                                               " (address in use, or not a local address?)"));
  }
  out->address_ = absl::StrCat(listen.substr(0, colon), ":", bound);
  out->thread_ = std::thread([server = out->server_.get()] { server->listen_after_bind(); });
  core::Logger("server")->info("HTTP (health, readiness, metrics) on {}", out->address_);
  return out;
}

HttpServer::~HttpServer() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace plinth::server
