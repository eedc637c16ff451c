// The SQL connection and statement the stores use, with a backend behind
// each: SQLite (sqlite.h, the embedded default) or PostgreSQL (postgres.h).
// Used only inside src/store.
//
//   Statement& st = conn.Prepare("SELECT version FROM cloud_resources WHERE id = ?");
//   st.Bind(1, id);
//   PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
//   if (row) version = st.ColumnInt64(0);
//
// SQL is written once, with `?` (or `?N`) placeholders; the PostgreSQL
// backend numbers them. Where the two dialects differ (JSON functions), a
// store asks dialect(). Prepared statements are cached per connection and
// reset when a new use begins. A Connection is used by one thread at a time.
#ifndef PLINTH_STORE_SQL_H_
#define PLINTH_STORE_SQL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace plinth::store {

enum class Dialect { kSqlite, kPostgres };

class Statement {
 public:
  virtual ~Statement() = default;

  // Indexes are 1-based.
  virtual void Bind(int index, absl::string_view text) = 0;
  virtual void Bind(int index, int64_t value) = 0;
  virtual void BindNull(int index) = 0;
  // Binds text, or NULL when empty.
  void BindOptional(int index, const std::optional<std::string>& text) {
    if (text.has_value()) {
      Bind(index, *text);
    } else {
      BindNull(index);
    }
  }

  // true when a row is ready, false when done. Errors are INTERNAL with the
  // database's message, ALREADY_EXISTS for a unique-constraint violation,
  // UNAVAILABLE when the database cannot be reached.
  virtual absl::StatusOr<bool> Step() = 0;
  // Steps to the end; for statements that return no rows.
  absl::Status Run() {
    for (;;) {
      auto row = Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::OkStatus();
    }
  }

  virtual std::string ColumnText(int index) const = 0;
  virtual int64_t ColumnInt64(int index) const = 0;
  virtual bool ColumnIsNull(int index) const = 0;

  // Clears bindings and rewinds.
  virtual void Reset() = 0;
};

class Connection {
 public:
  virtual ~Connection() = default;
  virtual Dialect dialect() const = 0;

  // A cached prepared statement, reset and ready to bind. The reference is
  // valid for the connection's life. Aborts on SQL the database cannot
  // prepare where it can tell (SQLite): SQL is ours.
  virtual Statement& Prepare(const std::string& sql) = 0;
  // Runs one or more statements without results (DDL, BEGIN, PRAGMA).
  virtual absl::Status Exec(const std::string& sql) = 0;
  // Rewinds every cached statement, releasing their read snapshots.
  virtual void ResetAll() = 0;
  // Rows changed by the last statement.
  virtual int Changes() const = 0;
};

}  // namespace plinth::store

#endif  // PLINTH_STORE_SQL_H_
