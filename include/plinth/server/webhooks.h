// Webhooks from GitHub (POST /webhooks/github) and GitLab
// (POST /webhooks/gitlab) on plinthd's HTTP side.
//
// A delivery is checked in this order, and nothing changes until it passes:
// the event and delivery headers (400), a JSON body naming a repository
// (400), a signature header (401), a Git project tracking that repository
// whose webhook secret matches (GitHub: X-Hub-Signature-256, HMAC-SHA256 of
// the raw body, compared in constant time; GitLab: X-Gitlab-Token) (401, the
// same answer whether no project tracks the repository or none's secret
// matches, so that nobody can probe which repositories are tracked). Then the delivery is
// recorded (a repeated delivery id gets 200 and is ignored), answered 200,
// and acted on in the background, in arrival order: a Git fetch may take
// longer than a Git host waits for an answer. Bodies over 5 MiB get 413
// from the HTTP server before any of this.
//
//   WebhookHandler hooks(&git_projects, &deliveries, &metrics);
//   WebhookResponse r = hooks.Handle({.provider = "github", .headers = ..., .body = ...});
#ifndef PLINTH_SERVER_WEBHOOKS_H_
#define PLINTH_SERVER_WEBHOOKS_H_

#include <map>
#include <memory>
#include <string>

#include "plinth/core/metrics.h"
#include "plinth/core/thread_pool.h"
#include "plinth/gitsource/git_projects.h"
#include "plinth/store/webhook_delivery_store.h"

namespace plinth::server {

struct WebhookRequest {
  std::string provider;                        // github or gitlab
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

struct WebhookResponse {
  int status = 200;
  std::string body;  // one line, for the Git host's delivery log
};

class WebhookHandler {
 public:
  WebhookHandler(gitsource::GitProjects* git, store::WebhookDeliveryStore* deliveries, core::Metrics* metrics);
  // Waits for the deliveries being acted on.
  ~WebhookHandler();

  WebhookResponse Handle(const WebhookRequest& request);
  // Acts on the deliveries acknowledged before a crash or shutdown but not
  // acted on yet (call once at start).
  void Resume();

  // Counts a delivery refused before it reached Handle (413).
  void Count(const std::string& provider, const std::string& result);

 private:
  void Act(const std::string& provider, const std::string& delivery, const gitsource::GitEvent& event,
           std::vector<store::InfraProjectRecord> projects);
  WebhookResponse Reply(const std::string& provider, const std::string& result, int status, std::string body);

  gitsource::GitProjects* const git_;
  store::WebhookDeliveryStore* const deliveries_;
  core::Metrics* const metrics_;
  std::unique_ptr<core::ThreadPool> pool_;  // one thread: deliveries act in arrival order
};

}  // namespace plinth::server

#endif  // PLINTH_SERVER_WEBHOOKS_H_
