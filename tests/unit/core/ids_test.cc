#include "plinth/core/ids.h"

#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace plinth::core {
namespace {

TEST(NewIdTest, HasPrefixAndTwentyBase32Characters) {
  std::string id = NewId("cr");
  ASSERT_EQ(id.size(), 23u);
  EXPECT_EQ(id.substr(0, 3), "cr-");
  for (char c : id.substr(3)) {
    EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')) << id;
    EXPECT_EQ(std::string("ilou").find(c), std::string::npos) << id;
  }
}

TEST(NewIdTest, UniqueAcrossThreads) {
  absl::Mutex mu;
  std::set<std::string> ids;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        std::string id = NewId("x");
        absl::MutexLock lock(&mu);
        ids.insert(id);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ids.size(), 16000u);
}

}  // namespace
}  // namespace plinth::core
