#include "plinth/store/database.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "plinth/core/status_macros.h"
#include "plinth/store/migrations.h"
#include "plinth/store/postgres.h"
#include "plinth/store/sqlite.h"
#include "plinth/core/logging.h"

namespace plinth::store {

struct Database::Task {
  Fn fn;
  absl::Status status;
  absl::Notification done;
};

namespace {

absl::Status Configure(Connection& c, bool writer) {
  if (c.dialect() == Dialect::kPostgres) return absl::OkStatus();  // the session is set up by the backend
  PLINTH_RETURN_IF_ERROR(c.Exec("PRAGMA foreign_keys = ON"));
  if (writer) {
    PLINTH_RETURN_IF_ERROR(c.Exec("PRAGMA journal_mode = WAL"));
    PLINTH_RETURN_IF_ERROR(c.Exec("PRAGMA synchronous = FULL"));
  }
  return absl::OkStatus();
}

const char* Begin(const Connection& c) {
  return c.dialect() == Dialect::kPostgres ? "BEGIN" : "BEGIN IMMEDIATE";
}

absl::StatusOr<int> ApplyMigrations(Connection& c) {
  const bool pg = c.dialect() == Dialect::kPostgres;
  PLINTH_RETURN_IF_ERROR(c.Exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " version BIGINT PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)"));
  Statement& st = c.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
  int current = row ? static_cast<int>(st.ColumnInt64(0)) : 0;
  st.Reset();
  const auto& migrations = pg ? PostgresMigrations() : Migrations();
  int newest = migrations.empty() ? 0 : migrations.back().version;
  if (current > newest) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the database is at schema version ", current, " but this plinthd knows only up to ",
        newest, ": it was written by a newer plinthd"));
  }
  for (const auto& m : migrations) {
    if (m.version <= current) continue;
    PLINTH_RETURN_IF_ERROR(c.Exec(Begin(c)));
    absl::Status s = c.Exec(m.sql);
    if (s.ok()) {
      Statement& ins = c.Prepare(
          "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)");
      ins.Bind(1, static_cast<int64_t>(m.version));
      ins.Bind(2, m.description);
      ins.Bind(3, absl::ToUnixMicros(absl::Now()));
      s = ins.Run();
    }
    if (s.ok()) s = c.Exec("COMMIT");
    if (!s.ok()) {
      c.Exec("ROLLBACK").IgnoreError();
      return absl::Status(s.code(), absl::StrCat("migration ", m.version, " (", m.description,
                                                 ") failed: ", s.message()));
    }
    core::Logger("store")->info("applied migration {} ({})", m.version, m.description);
    current = m.version;
  }
  return current;
}

absl::StatusOr<int> Migrate(Connection& c) {
  if (c.dialect() != Dialect::kPostgres) return ApplyMigrations(c);
  // Replicas starting together: one migrates, the others wait for it.
  PLINTH_RETURN_IF_ERROR(c.Exec("SELECT pg_advisory_lock(7361001)"));
  absl::StatusOr<int> done = ApplyMigrations(c);
  c.Exec("SELECT pg_advisory_unlock(7361001)").IgnoreError();
  return done;
}

absl::StatusOr<std::unique_ptr<Connection>> OpenConnection(const std::string& path, bool read_only) {
  if (IsPostgresUrl(path)) return OpenPostgres(path, read_only);
  return OpenSqlite(path, read_only);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Database>> Database::Open(const DatabaseOptions& options) {
  std::unique_ptr<Database> db(new Database());
  db->max_batch_ = std::max(1, options.max_batch);
  // The catalog holds sealed secrets and audit data: owner-only, like the key.
  // SQLite gives its -wal and -shm files the database file's mode.
  const bool pg = IsPostgresUrl(options.path);
  db->dialect_ = pg ? Dialect::kPostgres : Dialect::kSqlite;
  db->path_ = options.path;
  if (!pg && options.path != ":memory:" && !options.path.empty()) {
    int fd = ::open(options.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return absl::UnavailableError(absl::StrCat("cannot open database ", options.path, ": ", strerror(errno)));
    ::fchmod(fd, 0600);
    ::close(fd);
    for (const char* suffix : {"-wal", "-shm"}) ::chmod((options.path + suffix).c_str(), 0600);
  }
  PLINTH_ASSIGN_OR_RETURN(db->writer_, OpenConnection(options.path, /*read_only=*/false));
  PLINTH_RETURN_IF_ERROR(Configure(*db->writer_, /*writer=*/true));
  PLINTH_ASSIGN_OR_RETURN(db->schema_version_, Migrate(*db->writer_));
  {
    absl::MutexLock lock(&db->read_mu_);
    for (int i = 0; i < std::max(1, options.readers); ++i) {
      PLINTH_ASSIGN_OR_RETURN(auto reader, OpenConnection(options.path, /*read_only=*/true));
      PLINTH_RETURN_IF_ERROR(Configure(*reader, /*writer=*/false));
      db->readers_.push_back(std::move(reader));
    }
  }
  db->writer_thread_ = std::thread([raw = db.get()] { raw->WriterLoop(); });
  return db;
}

Database::~Database() {
  {
    absl::MutexLock lock(&probe_mu_);
    probe_stop_ = true;
  }
  if (probe_thread_.joinable()) probe_thread_.join();
  {
    absl::MutexLock lock(&write_mu_);
    stopping_ = true;
  }
  if (writer_thread_.joinable()) writer_thread_.join();
}

absl::Status Database::HoldExclusive() {
  if (dialect_ != Dialect::kPostgres || exclusive_) return absl::OkStatus();
  PLINTH_ASSIGN_OR_RETURN(auto c, OpenConnection(path_, /*read_only=*/false));
  Statement& st = c->Prepare("SELECT pg_try_advisory_lock(7361002)");
  PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row || st.ColumnInt64(0) != 1) {
    return absl::FailedPreconditionError(
        "another plinthd is using this store: one plinthd per PostgreSQL store until replicas share the work "
        "(stop the other one first)");
  }
  st.Reset();
  exclusive_ = std::move(c);
  probe_thread_ = std::thread([this] { ProbeLoop(); });
  return absl::OkStatus();
}

// Every second: is the server there, and is the store's lock still ours? A
// connection that broke (the server restarted) is made again, and the lock
// taken again, by the next probe.
void Database::ProbeLoop() {
  bool had_lock = true;
  for (;;) {
    {
      absl::MutexLock lock(&probe_mu_);
      if (probe_mu_.AwaitWithTimeout(absl::Condition(&probe_stop_), absl::Seconds(1))) return;
    }
    bool ok = exclusive_->Exec("SELECT 1").ok();
    if (ok && !had_lock) {
      Statement& st = exclusive_->Prepare("SELECT pg_try_advisory_lock(7361002)");
      auto row = st.Step();
      had_lock = row.ok() && *row && st.ColumnInt64(0) == 1;
      st.Reset();
      if (!had_lock) core::Logger("store")->error("another plinthd took this store's lock while the server was away");
    } else if (!ok) {
      had_lock = false;  // the session, and its lock, are gone
    }
    const bool healthy = ok && had_lock;
    if (healthy != probe_ok_.load()) {
      core::Logger("store")->warn(healthy ? "the PostgreSQL server answers again" : "the PostgreSQL server does not answer");
    }
    probe_ok_ = healthy;
  }
}

bool Database::Healthy() const {
  if (!probe_ok_.load()) return false;
  absl::MutexLock lock(&write_mu_);
  return !stopping_ && !writer_failed_;
}

absl::Status Database::Write(Fn fn) {
  Task task;
  task.fn = std::move(fn);
  {
    absl::MutexLock lock(&write_mu_);
    if (stopping_) return absl::UnavailableError("the store is shutting down");
    write_queue_.push_back(&task);
  }
  task.done.WaitForNotification();
  return task.status;
}

void Database::WriterLoop() {
  std::vector<Task*> batch;
  for (;;) {
    batch.clear();
    {
      absl::MutexLock lock(&write_mu_);
      write_mu_.Await(absl::Condition(
          +[](Database* d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(d->write_mu_) {
            return d->stopping_ || !d->write_queue_.empty();
          },
          this));
      if (write_queue_.empty()) return;  // stopping and drained
      while (!write_queue_.empty() && static_cast<int>(batch.size()) < max_batch_) {
        batch.push_back(write_queue_.front());
        write_queue_.pop_front();
      }
    }
    absl::Status begin = writer_->Exec(Begin(*writer_));
    if (!begin.ok()) {
      for (Task* t : batch) {
        t->status = begin;
        t->done.Notify();
      }
      continue;
    }
    for (Task* t : batch) {
      absl::Status s = writer_->Exec("SAVEPOINT w");
      if (s.ok()) {
        try {
          s = t->fn(*writer_);
        } catch (const std::exception& e) {
          // A bug in a write function must not take the writer thread down.
          s = absl::InternalError(absl::StrCat("write failed: ", e.what()));
        }
        writer_->ResetAll();
        if (!s.ok()) writer_->Exec("ROLLBACK TO w").IgnoreError();
        writer_->Exec("RELEASE w").IgnoreError();
      }
      t->status = s;
    }
    absl::Status commit = writer_->Exec("COMMIT");
    if (!commit.ok()) {
      core::Logger("store")->error("commit of {} writes failed: {}", batch.size(), commit.message());
      writer_->Exec("ROLLBACK").IgnoreError();
    }
    {
      absl::MutexLock lock(&write_mu_);
      writer_failed_ = !commit.ok();
    }
    for (Task* t : batch) {
      if (!commit.ok() && t->status.ok()) t->status = commit;
      t->done.Notify();
    }
  }
}

absl::Status Database::Read(Fn fn) { return WithReader(false, fn); }

absl::Status Database::ReadSnapshot(Fn fn) { return WithReader(true, fn); }

absl::Status Database::WithReader(bool snapshot, const Fn& fn) {
  std::unique_ptr<Connection> conn;
  {
    absl::MutexLock lock(&read_mu_);
    read_mu_.Await(absl::Condition(
        +[](Database* d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(d->read_mu_) {
          return !d->readers_.empty();
        },
        this));
    conn = std::move(readers_.back());
    readers_.pop_back();
  }
  const bool pg = conn->dialect() == Dialect::kPostgres;
  absl::Status s = !snapshot ? absl::OkStatus()
                   : pg      ? conn->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                             : conn->Prepare("BEGIN").Run();
  if (s.ok()) {
    s = fn(*conn);
    conn->ResetAll();
    if (snapshot) (pg ? conn->Exec("COMMIT") : conn->Prepare("COMMIT").Run()).IgnoreError();
  }
  absl::MutexLock lock(&read_mu_);
  readers_.push_back(std::move(conn));
  return s;
}

}  // namespace plinth::store
