// A thin RAII layer over the SQLite C API, used only inside src/store.
//
//   Statement& st = conn.Prepare("SELECT version FROM cloud_resources WHERE id = ?");
//   st.Bind(1, id);
//   PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
//   if (row) version = st.ColumnInt64(0);
//
// Prepared statements are cached per connection and reset when a new use
// begins. A Connection is used by one thread at a time.
#ifndef PLINTH_STORE_SQLITE_H_
#define PLINTH_STORE_SQLITE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct sqlite3;
struct sqlite3_stmt;

namespace plinth::store {

class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Indexes are 1-based, as in SQLite.
  void Bind(int index, absl::string_view text);
  void Bind(int index, int64_t value);
  void BindNull(int index);
  // Binds text, or NULL when empty.
  void BindOptional(int index, const std::optional<std::string>& text);

  // true when a row is ready, false when done. Errors are INTERNAL with
  // SQLite's message, or ALREADY_EXISTS for a unique-constraint violation.
  absl::StatusOr<bool> Step();
  // Steps to the end; for statements that return no rows.
  absl::Status Run();

  std::string ColumnText(int index) const;
  int64_t ColumnInt64(int index) const;
  bool ColumnIsNull(int index) const;

  // Clears bindings and rewinds.
  void Reset();

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class Connection {
 public:
  // Opens `path` read-write (creating it) or read-only.
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const std::string& path, bool read_only);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // A cached prepared statement, reset and ready to bind. The reference is
  // valid for the connection's life. Aborts on invalid SQL: SQL is ours.
  Statement& Prepare(const std::string& sql);
  // Runs one or more statements without results (DDL, BEGIN, PRAGMA).
  absl::Status Exec(const std::string& sql);
  int64_t LastInsertRowId() const;
  // Rewinds every cached statement, releasing their read snapshots.
  void ResetAll();
  int Changes() const;

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::map<std::string, std::unique_ptr<Statement>> cache_;
};

}  // namespace plinth::store

#endif  // PLINTH_STORE_SQLITE_H_
