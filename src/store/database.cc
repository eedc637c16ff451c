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
#include "plinth/core/logging.h"

namespace plinth::store {

struct Database::Task {
  Fn fn;
  absl::Status status;
  absl::Notification done;
};

namespace {

absl::Status Configure(Connection& c, bool writer) {
  PLINTH_RETURN_IF_ERROR(c.Exec("PRAGMA foreign_keys = ON"));
  if (writer) {
    PLINTH_RETURN_IF_ERROR(c.Exec("PRAGMA journal_mode = WAL"));
    PLINTH_RETURN_IF_ERROR(c.Exec("PRAGMA synchronous = FULL"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Migrate(Connection& c) {
  PLINTH_RETURN_IF_ERROR(c.Exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at INTEGER NOT NULL)"));
  Statement& st = c.Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
  int current = row ? static_cast<int>(st.ColumnInt64(0)) : 0;
  st.Reset();
  const auto& migrations = Migrations();
  int newest = migrations.empty() ? 0 : migrations.back().version;
  if (current > newest) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the database is at schema version ", current, " but this plinthd knows only up to ",
        newest, ": it was written by a newer plinthd"));
  }
  for (const auto& m : migrations) {
    if (m.version <= current) continue;
    PLINTH_RETURN_IF_ERROR(c.Exec("BEGIN IMMEDIATE"));
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

}  // namespace

absl::StatusOr<std::unique_ptr<Database>> Database::Open(const DatabaseOptions& options) {
  std::unique_ptr<Database> db(new Database());
  db->max_batch_ = std::max(1, options.max_batch);
  // The catalog holds sealed secrets and audit data: owner-only, like the key.
  // SQLite gives its -wal and -shm files the database file's mode.
  if (options.path != ":memory:" && !options.path.empty()) {
    int fd = ::open(options.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return absl::UnavailableError(absl::StrCat("cannot open database ", options.path, ": ", strerror(errno)));
    ::fchmod(fd, 0600);
    ::close(fd);
    for (const char* suffix : {"-wal", "-shm"}) ::chmod((options.path + suffix).c_str(), 0600);
  }
  PLINTH_ASSIGN_OR_RETURN(db->writer_, Connection::Open(options.path, /*read_only=*/false));
  PLINTH_RETURN_IF_ERROR(Configure(*db->writer_, /*writer=*/true));
  PLINTH_ASSIGN_OR_RETURN(db->schema_version_, Migrate(*db->writer_));
  {
    absl::MutexLock lock(&db->read_mu_);
    for (int i = 0; i < std::max(1, options.readers); ++i) {
      PLINTH_ASSIGN_OR_RETURN(auto reader, Connection::Open(options.path, /*read_only=*/true));
      PLINTH_RETURN_IF_ERROR(Configure(*reader, /*writer=*/false));
      db->readers_.push_back(std::move(reader));
    }
  }
  db->writer_thread_ = std::thread([raw = db.get()] { raw->WriterLoop(); });
  return db;
}

Database::~Database() {
  {
    absl::MutexLock lock(&write_mu_);
    stopping_ = true;
  }
  if (writer_thread_.joinable()) writer_thread_.join();
}

bool Database::Healthy() const {
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
    absl::Status begin = writer_->Exec("BEGIN IMMEDIATE");
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
  absl::Status s = snapshot ? conn->Prepare("BEGIN").Run() : absl::OkStatus();
  if (s.ok()) {
    s = fn(*conn);
    conn->ResetAll();
    if (snapshot) conn->Prepare("COMMIT").Run().IgnoreError();
  }
  absl::MutexLock lock(&read_mu_);
  readers_.push_back(std::move(conn));
  return s;
}

}  // namespace plinth::store
