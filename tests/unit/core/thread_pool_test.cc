#include "plinth/core/thread_pool.h"

#include <atomic>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace plinth::core {
namespace {

TEST(ThreadPoolTest, RunsEverythingSubmittedBeforeDestruction) {
  std::atomic<int> ran{0};
  {
    ThreadPool pool(3, "test");
    for (int i = 0; i < 1000; ++i) pool.Submit([&] { ran++; });
  }
  EXPECT_EQ(ran.load(), 1000);
}

TEST(ThreadPoolTest, RunsClosuresInParallel) {
  ThreadPool pool(2, "test");
  absl::Notification first_started, second_done;
  pool.Submit([&] {
    first_started.Notify();
    // Only finishes if another worker runs the second closure meanwhile.
    second_done.WaitForNotification();
  });
  first_started.WaitForNotification();
  pool.Submit([&] { second_done.Notify(); });
  EXPECT_TRUE(second_done.WaitForNotificationWithTimeout(absl::Seconds(10)));
}

}  // namespace
}  // namespace plinth::core
