#include "plinth/store/sqlite.h"

#include "plinth/manifest/names.h"

#include <sqlite3.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "plinth/core/logging.h"

#include <map>

namespace plinth::store {
namespace {

class SqliteStatement final : public Statement {
 public:
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~SqliteStatement() override { sqlite3_finalize(stmt_); }
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  void Bind(int index, absl::string_view text) override;
  void Bind(int index, int64_t value) override;
  void BindNull(int index) override;
  absl::StatusOr<bool> Step() override;
  std::string ColumnText(int index) const override;
  int64_t ColumnInt64(int index) const override;
  bool ColumnIsNull(int index) const override;
  void Reset() override;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class SqliteConnection final : public Connection {
 public:
  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  ~SqliteConnection() override;
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  Dialect dialect() const override { return Dialect::kSqlite; }
  Statement& Prepare(const std::string& sql) override;
  absl::Status Exec(const std::string& sql) override;
  void ResetAll() override;
  int Changes() const override;

 private:
  sqlite3* db_;
  std::map<std::string, std::unique_ptr<SqliteStatement>> cache_;
};

}  // namespace

void SqliteStatement::Bind(int index, absl::string_view text) {
  sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

void SqliteStatement::Bind(int index, int64_t value) { sqlite3_bind_int64(stmt_, index, value); }

void SqliteStatement::BindNull(int index) { sqlite3_bind_null(stmt_, index); }

absl::StatusOr<bool> SqliteStatement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  std::string message = absl::StrCat("sqlite: ", sqlite3_errmsg(db_));
  if (sqlite3_extended_errcode(db_) == SQLITE_CONSTRAINT_UNIQUE ||
      sqlite3_extended_errcode(db_) == SQLITE_CONSTRAINT_PRIMARYKEY) {
    return absl::AlreadyExistsError(message);
  }
  if (rc == SQLITE_FULL) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

std::string SqliteStatement::ColumnText(int index) const {
  const unsigned char* text = sqlite3_column_text(stmt_, index);
  if (text == nullptr) return "";
  return std::string(reinterpret_cast<const char*>(text), sqlite3_column_bytes(stmt_, index));
}

int64_t SqliteStatement::ColumnInt64(int index) const { return sqlite3_column_int64(stmt_, index); }

bool SqliteStatement::ColumnIsNull(int index) const {
  return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

void SqliteStatement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

absl::StatusOr<std::unique_ptr<Connection>> OpenSqlite(const std::string& path, bool read_only) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_NOMUTEX | (read_only ? SQLITE_OPEN_READONLY
                                               : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat("cannot open database ", path, ": ", message));
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, 5000);
  // plinth_slug(name): a resource name's slug (manifest::ResourceSlug), for
  // migrations and the slug index of cloud resources.
  sqlite3_create_function_v2(
      db, "plinth_slug", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr,
      [](sqlite3_context* ctx, int, sqlite3_value** argv) {
        const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
        std::string slug = manifest::ResourceSlug(text ? absl::string_view(text, sqlite3_value_bytes(argv[0])) : "");
        sqlite3_result_text(ctx, slug.data(), static_cast<int>(slug.size()), SQLITE_TRANSIENT);
      },
      nullptr, nullptr, nullptr);
  return std::unique_ptr<Connection>(new SqliteConnection(db));
}

SqliteConnection::~SqliteConnection() {
  cache_.clear();
  sqlite3_close(db_);
}

Statement& SqliteConnection::Prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) {
    it->second->Reset();
    return *it->second;
  }
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    // The SQL is plinth's own: a failure here is a programming error.
    spdlog::critical("sqlite: cannot prepare \"{}\": {}", sql, sqlite3_errmsg(db_));
    std::abort();
  }
  auto [inserted, _] = cache_.emplace(sql, std::make_unique<SqliteStatement>(db_, stmt));
  return *inserted->second;
}

absl::Status SqliteConnection::Exec(const std::string& sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return absl::OkStatus();
  std::string message = absl::StrCat("sqlite: ", error ? error : sqlite3_errstr(rc));
  sqlite3_free(error);
  if (rc == SQLITE_FULL) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

void SqliteConnection::ResetAll() {
  for (auto& [sql, st] : cache_) st->Reset();
}

int SqliteConnection::Changes() const { return sqlite3_changes(db_); }

}  // namespace plinth::store
