#include "plinth/store/cloud_ops_audit_store.h"

#include "plinth/core/status_macros.h"
#include "plinth/store/sql.h"

namespace plinth::store {

absl::Status CloudOpsAuditStore::Record(CloudOpsAuditRecord r) {
  const int64_t at = absl::ToUnixMicros(clock_->Now());
  return db_->Write([&](Connection& c) {
    Statement& st = c.Prepare(
        "INSERT INTO cloud_ops_audit (created_at, actor, mode, target, connection, namespace, operation, object, runner, "
        "code, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    st.Bind(1, at);
    st.Bind(2, r.actor);
    st.Bind(3, r.mode);
    st.Bind(4, r.target);
    st.Bind(5, r.connection);
    st.Bind(6, r.ns);
    st.Bind(7, r.operation);
    st.Bind(8, r.object);
    st.Bind(9, r.runner);
    st.Bind(10, r.code);
    st.Bind(11, r.message.substr(0, 1000));
    return st.Run();
  });
}

absl::StatusOr<std::vector<CloudOpsAuditRecord>> CloudOpsAuditStore::List(int limit, int64_t before_id) const {
  std::vector<CloudOpsAuditRecord> out;
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(
        "SELECT id, created_at, actor, mode, target, connection, namespace, operation, object, runner, code, message "
        "FROM cloud_ops_audit WHERE (? = 0 OR id < ?) ORDER BY id DESC LIMIT ?");
    st.Bind(1, before_id);
    st.Bind(2, before_id);
    st.Bind(3, static_cast<int64_t>(limit));
    for (;;) {
      PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      CloudOpsAuditRecord r;
      r.id = st.ColumnInt64(0);
      r.time = absl::FromUnixMicros(st.ColumnInt64(1));
      r.actor = st.ColumnText(2);
      r.mode = st.ColumnText(3);
      r.target = st.ColumnText(4);
      r.connection = st.ColumnText(5);
      r.ns = st.ColumnText(6);
      r.operation = st.ColumnText(7);
      r.object = st.ColumnText(8);
      r.runner = st.ColumnText(9);
      r.code = st.ColumnText(10);
      r.message = st.ColumnText(11);
      out.push_back(std::move(r));
    }
    st.Reset();
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace plinth::store
