#include "plinth/store/grant_store.h"

#include "absl/strings/str_cat.h"
#include "plinth/core/ids.h"
#include "plinth/core/status_macros.h"
#include "plinth/store/sql.h"

namespace plinth::store {
namespace {

absl::Status Audit(Connection& c, const std::string& action, const GrantRecord& g, const std::string& actor) {
  Statement& st = c.Prepare(
      "INSERT INTO audit_events (created_at, actor, action, target_type, target_id, target_name) "
      "VALUES (?, ?, ?, 'grant', ?, ?)");
  st.Bind(1, absl::ToUnixMicros(absl::Now()));
  st.Bind(2, actor);
  st.Bind(3, absl::StrCat("grant.", action));
  st.Bind(4, g.id);
  st.Bind(5, absl::StrCat(g.identity, " ", g.role, " ", g.scope));
  return st.Run();
}

GrantRecord ReadRow(const Statement& st) {
  GrantRecord g;
  g.id = st.ColumnText(0);
  g.identity = st.ColumnText(1);
  g.role = st.ColumnText(2);
  g.scope = st.ColumnText(3);
  g.created_at = absl::FromUnixMicros(st.ColumnInt64(4));
  g.created_by = st.ColumnText(5);
  return g;
}

}  // namespace

absl::StatusOr<GrantRecord> GrantStore::Create(GrantRecord g, const std::string& actor) {
  g.id = core::NewId("grant");
  g.created_at = clock_->Now();
  g.created_by = actor;
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(
        "INSERT INTO grants (id, identity, role, scope, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)");
    st.Bind(1, g.id);
    st.Bind(2, g.identity);
    st.Bind(3, g.role);
    st.Bind(4, g.scope);
    st.Bind(5, absl::ToUnixMicros(g.created_at));
    st.Bind(6, actor);
    absl::Status s = st.Run();
    if (s.code() == absl::StatusCode::kAlreadyExists) {
      return absl::AlreadyExistsError(absl::StrCat(g.identity, " already holds ", g.role, " on ", g.scope));
    }
    PLINTH_RETURN_IF_ERROR(s);
    return Audit(c, "create", g, actor);
  }));
  return g;
}

absl::StatusOr<GrantRecord> GrantStore::Delete(const std::string& id, const std::string& actor) {
  GrantRecord g;
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    Statement& get = c.Prepare("SELECT id, identity, role, scope, created_at, created_by FROM grants WHERE id = ?");
    get.Bind(1, id);
    PLINTH_ASSIGN_OR_RETURN(bool row, get.Step());
    if (!row) {
      get.Reset();
      return absl::NotFoundError(absl::StrCat("grant ", id, " not found"));
    }
    g = ReadRow(get);
    get.Reset();
    Statement& del = c.Prepare("DELETE FROM grants WHERE id = ?");
    del.Bind(1, id);
    PLINTH_RETURN_IF_ERROR(del.Run());
    return Audit(c, "delete", g, actor);
  }));
  return g;
}

absl::StatusOr<std::vector<GrantRecord>> GrantStore::List(const std::string& identity) const {
  std::vector<GrantRecord> out;
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(
        "SELECT id, identity, role, scope, created_at, created_by FROM grants WHERE (? = '' OR identity = ?) "
        "ORDER BY created_at, id");
    st.Bind(1, identity);
    st.Bind(2, identity);
    for (;;) {
      PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back(ReadRow(st));
    }
    st.Reset();
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace plinth::store
