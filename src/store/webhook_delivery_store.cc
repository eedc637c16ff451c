#include "plinth/store/webhook_delivery_store.h"

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "plinth/core/status_macros.h"
#include "pipeline_rows.h"

namespace plinth::store {

constexpr absl::Duration kKeep = absl::Hours(24 * 90);

absl::StatusOr<bool> WebhookDeliveryStore::Claim(WebhookDeliveryRecord d) {
  bool claimed = false;
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    absl::Time now = clock_->Now();
    Statement& st = c.Prepare(
        "INSERT INTO webhook_deliveries (provider, delivery_id, event, repo_url, ref, commit_sha, result, pipelines, "
        "received_at, work) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (provider, delivery_id) DO NOTHING");
    st.Bind(1, d.provider);
    st.Bind(2, d.delivery_id);
    st.Bind(3, d.event);
    st.Bind(4, d.repo_url);
    st.Bind(5, d.ref);
    st.Bind(6, d.commit);
    st.Bind(7, d.result);
    st.Bind(8, nlohmann::json(d.pipelines).dump());
    st.Bind(9, absl::ToUnixMicros(now));
    st.Bind(10, d.work);
    PLINTH_RETURN_IF_ERROR(st.Run());
    claimed = c.Changes() > 0;
    if (!claimed) return absl::OkStatus();
    // Kept for kKeep: the audit trail, and the window in which a repeated
    // delivery id is recognised (Git hosts redeliver within days).
    Statement& prune = c.Prepare("DELETE FROM webhook_deliveries WHERE received_at < ? AND work = ''");
    prune.Bind(1, absl::ToUnixMicros(now - kKeep));
    PLINTH_RETURN_IF_ERROR(prune.Run());
    return internal::Audit(c, absl::StrCat("webhook.", d.provider, ".", d.event), "webhook_delivery", d.delivery_id,
                           absl::StrCat(d.repo_url, d.ref.empty() ? "" : " ", d.ref,
                                        d.commit.empty() ? "" : " at ", d.commit),
                           d.provider, now);
  }));
  return claimed;
}

absl::Status WebhookDeliveryStore::Finish(const std::string& provider, const std::string& delivery_id,
                                          const std::string& result, const std::vector<std::string>& pipelines) {
  return db_->Write([&](Connection& c) -> absl::Status {
    Statement& st =
        c.Prepare("UPDATE webhook_deliveries SET result = ?, pipelines = ?, work = '' WHERE provider = ? AND delivery_id = ?");
    st.Bind(1, result);
    st.Bind(2, nlohmann::json(pipelines).dump());
    st.Bind(3, provider);
    st.Bind(4, delivery_id);
    return st.Run();
  });
}

namespace {

constexpr char kColumns[] =
    "provider, delivery_id, event, repo_url, ref, commit_sha, result, pipelines, received_at, work, rowid";

WebhookDeliveryRecord ReadDelivery(const Statement& st) {
  WebhookDeliveryRecord d;
  d.provider = st.ColumnText(0);
  d.delivery_id = st.ColumnText(1);
  d.event = st.ColumnText(2);
  d.repo_url = st.ColumnText(3);
  d.ref = st.ColumnText(4);
  d.commit = st.ColumnText(5);
  d.result = st.ColumnText(6);
  auto pipelines = nlohmann::json::parse(st.ColumnText(7), nullptr, false);
  if (pipelines.is_array()) {
    for (const auto& p : pipelines) {
      if (p.is_string()) d.pipelines.push_back(p.get<std::string>());
    }
  }
  d.received_at = absl::FromUnixMicros(st.ColumnInt64(8));
  d.work = st.ColumnText(9);
  d.seq = st.ColumnInt64(10);
  return d;
}

}  // namespace

// The deliveries a query (after "SELECT <columns> FROM webhook_deliveries ")
// selects; `limit` > 0 binds its one parameter.
static absl::StatusOr<std::vector<WebhookDeliveryRecord>> Query(Database* db, const char* rest, int64_t limit,
                                                                 int64_t before_seq = -1) {
  std::vector<WebhookDeliveryRecord> out;
  PLINTH_RETURN_IF_ERROR(db->Read([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(absl::StrCat("SELECT ", kColumns, " FROM webhook_deliveries ", rest));
    if (limit > 0) st.Bind(1, limit);
    if (before_seq >= 0) st.Bind(2, before_seq);
    for (;;) {
      PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back(ReadDelivery(st));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<WebhookDeliveryRecord>> WebhookDeliveryStore::List(int limit, int64_t before_seq) const {
  if (before_seq > 0) {
    return Query(db_, "WHERE rowid < ?2 ORDER BY rowid DESC LIMIT ?1", limit <= 0 ? 50 : limit, before_seq);
  }
  return Query(db_, "ORDER BY rowid DESC LIMIT ?", limit <= 0 ? 50 : limit);
}

absl::StatusOr<std::vector<WebhookDeliveryRecord>> WebhookDeliveryStore::Unfinished() const {
  return Query(db_, "WHERE work != '' ORDER BY received_at, rowid", 0);
}

}  // namespace plinth::store
