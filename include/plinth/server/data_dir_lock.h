// An exclusive lock on a data directory, so that two plinthd never share one.
// The lock is an flock(2) on <data_dir>/plinthd.lock, released by the kernel
// when the process exits, even by kill -9.
#ifndef PLINTH_SERVER_DATA_DIR_LOCK_H_
#define PLINTH_SERVER_DATA_DIR_LOCK_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace plinth::server {

class DataDirLock {
 public:
  // Creates the directory if needed and takes the lock. FAILED_PRECONDITION,
  // naming the holder's pid, when another process holds it.
  static absl::StatusOr<std::unique_ptr<DataDirLock>> Acquire(const std::string& data_dir);
  ~DataDirLock();

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace plinth::server

#endif  // PLINTH_SERVER_DATA_DIR_LOCK_H_
