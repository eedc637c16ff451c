// Webhook deliveries (GitHub, GitLab): one row per delivery whose signature
// checked out, claimed before it is acted on, so that a repeated delivery
// id is recognised and ignored, and finished with what it did. The rows are
// the audit of what came in.
//
//   WebhookDeliveryStore deliveries(db, clock);
//   if (!*deliveries.Claim({.provider = "github", .delivery_id = id, ...})) return "duplicate";
//   deliveries.Finish("github", id, "pipeline pl_... started", {"pl_..."});
//
// Thread-safe; every method blocks on SQLite.
#ifndef PLINTH_STORE_WEBHOOK_DELIVERY_STORE_H_
#define PLINTH_STORE_WEBHOOK_DELIVERY_STORE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "plinth/core/clock.h"
#include "plinth/store/database.h"

namespace plinth::store {

struct WebhookDeliveryRecord {
  std::string provider;  // github or gitlab
  std::string delivery_id;
  std::string event;     // push, pull_request, merge_request, ping
  std::string repo_url, ref, commit;
  std::string result = "received";
  std::vector<std::string> pipelines;
  // What is still to be done (the caller's JSON), kept until Finish so that
  // a delivery acknowledged before a crash is acted on after the restart.
  std::string work;
  absl::Time received_at;
  // Order of receipt (the row id); a page cursor.
  int64_t seq = 0;
};

class WebhookDeliveryStore {
 public:
  WebhookDeliveryStore(Database* db, core::Clock* clock) : db_(db), clock_(clock) {}

  // Records the delivery (and an audit event); false, writing nothing, when
  // this provider's delivery id was recorded before. Deliveries older than
  // 90 days (and done) are dropped then; the audit events stay.
  absl::StatusOr<bool> Claim(WebhookDeliveryRecord delivery);
  // What the delivery did; clears its work.
  absl::Status Finish(const std::string& provider, const std::string& delivery_id, const std::string& result,
                      const std::vector<std::string>& pipelines);
  // Claimed deliveries whose work was not finished, oldest first.
  absl::StatusOr<std::vector<WebhookDeliveryRecord>> Unfinished() const;
  // Newest first (in the order received); at most `limit`; with
  // `before_seq`, only those received before that one.
  absl::StatusOr<std::vector<WebhookDeliveryRecord>> List(int limit, int64_t before_seq = 0) const;

 private:
  Database* db_;
  core::Clock* clock_;
};

}  // namespace plinth::store

#endif  // PLINTH_STORE_WEBHOOK_DELIVERY_STORE_H_
