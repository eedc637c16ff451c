#include "plinth/server/data_dir_lock.h"

#include <sys/wait.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "temp_dir.h"

namespace plinth::server {
namespace {

TEST(DataDirLockTest, SecondHolderIsRefusedUntilTheFirstLetsGo) {
  testing::TempDir dir;
  std::string data = dir.path() + "/data";
  auto first = DataDirLock::Acquire(data);
  ASSERT_TRUE(first.ok()) << first.status();
  // flock is per open file description: a child process must be refused.
  pid_t pid = fork();
  if (pid == 0) {
    auto second = DataDirLock::Acquire(data);
    _exit(!second.ok() && second.status().code() == absl::StatusCode::kFailedPrecondition &&
                  std::string(second.status().message()).find("in use by another plinthd (pid " +
                                                             std::to_string(getppid())) != std::string::npos
              ? 0
              : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  first->reset();
  EXPECT_TRUE(DataDirLock::Acquire(data).ok());
}

}  // namespace
}  // namespace plinth::server
