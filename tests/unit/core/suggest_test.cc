#include "plinth/core/suggest.h"

#include "gtest/gtest.h"

namespace plinth::core {
namespace {

TEST(SuggestTest, EditDistanceIgnoresCase) {
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(EditDistance("AwsVpc", "awsvpc"), 0u);
  EXPECT_EQ(EditDistance("", "abc"), 3u);
}

TEST(SuggestTest, ClosestMatchFindsTyposAndRejectsUnrelatedWords) {
  std::vector<std::string> fields = {"vpcCidr", "availabilityZones", "subnetSize"};
  EXPECT_EQ(ClosestMatch("vpcCdir", fields), "vpcCidr");
  EXPECT_EQ(ClosestMatch("subnetsize", fields), "subnetSize");
  EXPECT_EQ(ClosestMatch("completelyDifferent", fields), "");
}

}  // namespace
}  // namespace plinth::core
