// The SQLite database under the data dir: WAL mode, foreign keys on, schema
// migrations numbered in code, one writer connection behind a queue and a
// pool of reader connections.
//
//   auto db = Database::Open({.path = dir + "/plinth.db"});
//   PLINTH_RETURN_IF_ERROR((*db)->Write([&](Connection& c) { ... }));
//   PLINTH_RETURN_IF_ERROR((*db)->Read([&](Connection& c) { ... }));
//
// Writes are group-committed: the writer thread takes every queued write,
// runs each inside its own SAVEPOINT of one transaction, commits once (with
// synchronous=FULL), and only then answers the callers. A write whose
// function fails is rolled back alone; the others still commit. A write
// that returned OK is durable.
//
// Thread-safe: Read and Write may be called from any thread. They block the
// caller, so never call them from a gRPC reactor thread.
#ifndef PLINTH_STORE_DATABASE_H_
#define PLINTH_STORE_DATABASE_H_

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "plinth/store/sql.h"

namespace plinth::store {

struct DatabaseOptions {
  // A SQLite file, or a PostgreSQL URL (postgres://user:password@host:port/db).
  std::string path;
  int readers = 4;
  // Most writes folded into one commit.
  int max_batch = 256;
};

class Database {
 public:
  using Fn = std::function<absl::Status(Connection&)>;

  // Opens or creates the database and applies pending migrations. Fails with
  // FAILED_PRECONDITION if the file was written by a newer plinth.
  static absl::StatusOr<std::unique_ptr<Database>> Open(const DatabaseOptions& options);
  // Finishes queued writes, then closes every connection.
  ~Database();

  // Runs `fn` in a transaction on the writer thread; returns its status, or
  // the commit's error. Blocks until the transaction is durable.
  absl::Status Write(Fn fn);
  // Runs `fn` on a reader connection. Each statement sees a consistent
  // state of its own; use ReadSnapshot when several statements must agree.
  absl::Status Read(Fn fn);
  // Runs `fn` on a reader connection inside one read transaction: every
  // statement sees the same snapshot.
  absl::Status ReadSnapshot(Fn fn);

  // PostgreSQL: takes a session lock that one plinthd at a time can hold on
  // the store, for as long as this Database lives; FAILED_PRECONDITION when
  // another holds it. (The data dir lock's counterpart, until replicas share
  // the work.) SQLite: nothing to do, the data dir lock covers it.
  absl::Status HoldExclusive();

  // Number of the newest migration applied.
  int SchemaVersion() const { return schema_version_; }
  Dialect dialect() const { return dialect_; }
  // Whether the store can be written: the last commit worked and, on
  // PostgreSQL, the server answered the last probe (once a second) and the
  // store's lock is still this plinthd's.
  bool Healthy() const;

 private:
  struct Task;
  Database() = default;
  void WriterLoop();
  absl::Status WithReader(bool snapshot, const Fn& fn);

  int schema_version_ = 0;
  Dialect dialect_ = Dialect::kSqlite;
  std::unique_ptr<Connection> writer_;
  std::unique_ptr<Connection> exclusive_;  // PostgreSQL: holds the store's lock, probes the server
  std::string path_;
  std::thread probe_thread_;
  std::atomic<bool> probe_ok_{true};
  absl::Mutex probe_mu_;
  bool probe_stop_ ABSL_GUARDED_BY(probe_mu_) = false;
  void ProbeLoop();
  std::thread writer_thread_;
  int max_batch_ = 256;

  mutable absl::Mutex write_mu_;
  std::deque<Task*> write_queue_ ABSL_GUARDED_BY(write_mu_);
  bool stopping_ ABSL_GUARDED_BY(write_mu_) = false;
  bool writer_failed_ ABSL_GUARDED_BY(write_mu_) = false;

  absl::Mutex read_mu_;
  std::vector<std::unique_ptr<Connection>> readers_ ABSL_GUARDED_BY(read_mu_);
};

}  // namespace plinth::store

#endif  // PLINTH_STORE_DATABASE_H_
