#include "plinth/store/database.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plinth/core/status_macros.h"
#include "plinth/store/migrations.h"
#include "plinth/store/postgres.h"
#include "backends.h"
#include "temp_dir.h"

namespace plinth::store {
namespace {

absl::StatusOr<int64_t> Count(Database& db, const std::string& table) {
  int64_t n = 0;
  PLINTH_RETURN_IF_ERROR(db.Read([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare("SELECT COUNT(*) FROM " + table);
    PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row) n = st.ColumnInt64(0);
    return absl::OkStatus();
  }));
  return n;
}

absl::Status InsertAudit(Connection& c, const std::string& actor) {
  Statement& st = c.Prepare(
      "INSERT INTO audit_events (created_at, actor, action, target_type, target_id, target_name) "
      "VALUES (0, ?, 'test', 'test', 'x', 'x')");
  st.Bind(1, actor);
  return st.Run();
}

TEST(DatabaseTest, MigratesOnceAndReopens) {
  testing::TempDir dir;
  std::string path = dir.path() + "/p.db";
  {
    auto db = Database::Open({.path = path});
    ASSERT_TRUE(db.ok()) << db.status();
    EXPECT_EQ((*db)->SchemaVersion(), Migrations().back().version);
    ASSERT_TRUE((*db)->Write([](Connection& c) { return InsertAudit(c, "a"); }).ok());
  }
  auto db = Database::Open({.path = path});
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(*Count(**db, "audit_events"), 1);
  EXPECT_EQ(*Count(**db, "schema_migrations"), static_cast<int64_t>(Migrations().size()));
}

// The database holds sealed secrets and the audit log: owner-only, like the
// key, also a file an older plinthd created 0644, and its WAL.
TEST(DatabaseTest, TheFilesAreOwnerOnly) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/plinth.db";
  auto mode = [](const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 ? (st.st_mode & 0777) : 07777;
  };
  {
    auto db = Database::Open({.path = path});
    ASSERT_TRUE(db.ok()) << db.status();
    EXPECT_EQ(mode(path), 0600u);
    EXPECT_EQ(mode(path + "-wal"), 0600u);
  }
  ::chmod(path.c_str(), 0644);
  auto again = Database::Open({.path = path});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(mode(path), 0600u);
}

TEST(DatabaseTest, RefusesADatabaseFromANewerVersion) {
  testing::TempDir dir;
  std::string path = dir.path() + "/p.db";
  {
    auto db = Database::Open({.path = path});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Write([](Connection& c) {
      return c.Exec("INSERT INTO schema_migrations VALUES (999, 'future', 0)");
    }).ok());
  }
  auto db = Database::Open({.path = path});
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(db.status().message(), ::testing::HasSubstr("newer plinthd"));
}

class DatabaseOnBothTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DatabaseOnBothTest, AFailedWriteRollsBackAloneInAGroupCommit) {
  testing::TempDir dir;
  auto db = Database::Open({.path = FreshStore(GetParam(), dir.path())});
  ASSERT_TRUE(db.ok()) << db.status();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        bool fail = (i % 5 == 0);
        absl::Status s = (*db)->Write([&](Connection& c) -> absl::Status {
          PLINTH_RETURN_IF_ERROR(InsertAudit(c, "t" + std::to_string(t)));
          if (fail) return absl::InvalidArgumentError("rejected");
          return absl::OkStatus();
        });
        if (!s.ok()) {
          EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
          failures++;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 16 * 10);
  EXPECT_EQ(*Count(**db, "audit_events"), 16 * 40);
}

TEST_P(DatabaseOnBothTest, ReadersSeeCommittedWrites) {
  testing::TempDir dir;
  auto db = Database::Open({.path = FreshStore(GetParam(), dir.path()), .readers = 2});
  ASSERT_TRUE(db.ok()) << db.status();
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE((*db)->Write([](Connection& c) { return InsertAudit(c, "a"); }).ok());
    EXPECT_EQ(*Count(**db, "audit_events"), i + 1);
  }
}

TEST_P(DatabaseOnBothTest, AUniqueViolationIsAlreadyExistsAndReadSnapshotsAgree) {
  testing::TempDir dir;
  auto db = Database::Open({.path = FreshStore(GetParam(), dir.path())});
  ASSERT_TRUE(db.ok()) << db.status();
  auto insert = [](Connection& c) -> absl::Status {
    Statement& st = c.Prepare("INSERT INTO plinth_meta (name, value) VALUES (?, ?)");
    st.Bind(1, "k");
    st.Bind(2, "it's a \"value\" with ? in it");
    return st.Run();
  };
  ASSERT_TRUE((*db)->Write(insert).ok());
  EXPECT_EQ((*db)->Write(insert).code(), absl::StatusCode::kAlreadyExists);
  std::string value;
  int64_t n = 0;
  ASSERT_TRUE((*db)->ReadSnapshot([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare("SELECT value FROM plinth_meta WHERE name = ?1 AND ?1 != ''");
    st.Bind(1, "k");
    PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row) value = st.ColumnText(0);
    Statement& count = c.Prepare("SELECT COUNT(*) FROM plinth_meta WHERE value LIKE '%?%'");
    PLINTH_ASSIGN_OR_RETURN(bool counted, count.Step());
    if (counted) n = count.ColumnInt64(0);
    return absl::OkStatus();
  }).ok());
  EXPECT_EQ(value, "it's a \"value\" with ? in it");
  EXPECT_EQ(n, 1);
  EXPECT_EQ((*db)->SchemaVersion(), Migrations().back().version);
}

TEST_P(DatabaseOnBothTest, TextWithNulAndInvalidUtf8IsStoredWithoutLosingTheRest) {
  testing::TempDir dir;
  auto db = Database::Open({.path = FreshStore(GetParam(), dir.path())});
  ASSERT_TRUE(db.ok()) << db.status();
  const std::string raw = std::string("before\0after \xff\xfe ok \xc3\xa9", 21);
  ASSERT_TRUE((*db)->Write([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare("INSERT INTO plinth_meta (name, value) VALUES ('log', ?)");
    st.Bind(1, raw);
    return st.Run();
  }).ok());
  std::string back;
  ASSERT_TRUE((*db)->Read([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare("SELECT value FROM plinth_meta WHERE name = 'log'");
    PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row) back = st.ColumnText(0);
    return absl::OkStatus();
  }).ok());
  if (GetParam() == "sqlite") {
    EXPECT_EQ(back, raw);
  } else {
    // NUL and the stray bytes become U+FFFD; nothing after them is lost.
    EXPECT_EQ(back, "before\xEF\xBF\xBD" "after \xEF\xBF\xBD\xEF\xBF\xBD ok \xc3\xa9");
  }
}

PLINTH_ON_BOTH_BACKENDS(DatabaseOnBothTest);

TEST(PostgresTest, PlaceholdersAreNumberedOutsideQuotesAndComments) {
  int n = 0;
  EXPECT_EQ(NumberPlaceholders("SELECT a FROM t WHERE b = ? AND c = ?", &n), "SELECT a FROM t WHERE b = $1 AND c = $2");
  EXPECT_EQ(n, 2);
  EXPECT_EQ(NumberPlaceholders("WHERE id = ?1 AND (?2 = 0 OR v = ?2) LIMIT ?", &n),
            "WHERE id = $1 AND ($2 = 0 OR v = $2) LIMIT $3");
  EXPECT_EQ(n, 3);
  EXPECT_EQ(NumberPlaceholders("SELECT '?', 'it''s ?', \"col?\" FROM t -- a ? here\nWHERE x = ?", &n),
            "SELECT '?', 'it''s ?', \"col?\" FROM t -- a ? here\nWHERE x = $1");
  EXPECT_EQ(n, 1);
  EXPECT_EQ(NumberPlaceholders("SELECT 1", &n), "SELECT 1");
  EXPECT_EQ(n, 0);
  EXPECT_EQ(RedactedUrl("postgres://plinth:hunter2@db:5432/plinth"), "postgres://plinth:***@db:5432/plinth");
  EXPECT_EQ(RedactedUrl("postgres://plinth@db/plinth"), "postgres://plinth@db/plinth");
  EXPECT_TRUE(IsPostgresUrl("postgresql://x/y"));
  EXPECT_FALSE(IsPostgresUrl("/var/lib/plinth/plinth.db"));
}

// Every table and column of SQLite's migrations exists in PostgreSQL's, and
// nothing more: a migration added to one list but not the other fails here.
TEST(DatabaseTest, BothBackendsHaveTheSameTablesAndColumns) {
  testing::TempDir dir;
  auto lite = Database::Open({.path = FreshStore("sqlite", dir.path())});
  auto pg = Database::Open({.path = FreshStore("postgres", dir.path())});
  ASSERT_TRUE(lite.ok()) << lite.status();
  ASSERT_TRUE(pg.ok()) << pg.status();
  EXPECT_EQ((*lite)->SchemaVersion(), (*pg)->SchemaVersion());
  auto columns = [](Database& db, const std::string& sql) {
    std::set<std::string> out;
    EXPECT_TRUE(db.Read([&](Connection& c) -> absl::Status {
      Statement& st = c.Prepare(sql);
      for (;;) {
        PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
        if (!row) return absl::OkStatus();
        // Integers and text: a column of one must not be the other in the other store.
        std::string type = absl::AsciiStrToLower(st.ColumnText(2));
        // (SQLite's BLOB columns hold SecretBox's base64 text.)
        std::string kind = type == "integer" || type == "bigint" ? "integer"
                           : type == "text" || type == "blob"    ? "text"
                                                                 : type;
        out.insert(st.ColumnText(0) + "." + st.ColumnText(1) + " " + kind);
      }
    }).ok());
    return out;
  };
  std::set<std::string> in_sqlite = columns(
      **lite,
      "SELECT m.name, p.name, p.type FROM sqlite_master m, pragma_table_info(m.name) p "
      "WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'");
  std::set<std::string> in_pg = columns(
      **pg,
      "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public'");
  in_sqlite.insert("webhook_deliveries.rowid integer");  // implicit in SQLite
  EXPECT_GT(in_sqlite.size(), 100u);
  std::vector<std::string> only_sqlite, only_pg;
  std::set_difference(in_sqlite.begin(), in_sqlite.end(), in_pg.begin(), in_pg.end(), std::back_inserter(only_sqlite));
  std::set_difference(in_pg.begin(), in_pg.end(), in_sqlite.begin(), in_sqlite.end(), std::back_inserter(only_pg));
  EXPECT_THAT(only_sqlite, ::testing::IsEmpty());
  EXPECT_THAT(only_pg, ::testing::IsEmpty());
}

}  // namespace
}  // namespace plinth::store
