#include "plinth/store/meta.h"

#include "plinth/core/status_macros.h"
#include "plinth/store/sql.h"

namespace plinth::store {

absl::StatusOr<std::string> ReadMeta(Database* db, const std::string& name) {
  std::string value;
  PLINTH_RETURN_IF_ERROR(db->Read([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare("SELECT value FROM plinth_meta WHERE name = ?");
    st.Bind(1, name);
    PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row) value = st.ColumnText(0);
    return absl::OkStatus();
  }));
  return value;
}

absl::Status WriteMeta(Database* db, const std::string& name, const std::string& value) {
  return db->Write([&](Connection& c) -> absl::Status {
    Statement& st =
        c.Prepare("INSERT INTO plinth_meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value");
    st.Bind(1, name);
    st.Bind(2, value);
    return st.Run();
  });
}

}  // namespace plinth::store
