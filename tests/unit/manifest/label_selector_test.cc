#include "plinth/manifest/label_selector.h"

#include "gtest/gtest.h"

namespace plinth::manifest {
namespace {

TEST(LabelSelectorTest, AllOperators) {
  auto sel = ParseLabelSelector("tier=web, team==shop,env!=prod,owner,!legacy");
  ASSERT_TRUE(sel.ok()) << sel.status();
  ASSERT_EQ(sel->size(), 5u);
  std::map<std::string, std::string> labels = {{"tier", "web"}, {"team", "shop"}, {"owner", "x"}};
  EXPECT_TRUE(Matches(*sel, labels));
  labels["env"] = "prod";
  EXPECT_FALSE(Matches(*sel, labels));
  labels["env"] = "dev";
  EXPECT_TRUE(Matches(*sel, labels));
  labels["legacy"] = "1";
  EXPECT_FALSE(Matches(*sel, labels));
  labels.erase("legacy");
  labels.erase("owner");
  EXPECT_FALSE(Matches(*sel, labels));
}

TEST(LabelSelectorTest, EmptySelectsEverything) {
  auto sel = ParseLabelSelector("  ");
  ASSERT_TRUE(sel.ok());
  EXPECT_TRUE(Matches(*sel, {}));
}

TEST(LabelSelectorTest, MalformedSelectorsAreInvalidArgument) {
  for (const char* bad : {"a=b,,c", "a=b=c", "bad key=x", "a!=b!=c", "=x", "a=-x"}) {
    auto sel = ParseLabelSelector(bad);
    ASSERT_FALSE(sel.ok()) << bad;
    EXPECT_EQ(sel.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(sel.status().message().find("label_selector"), std::string::npos) << bad;
  }
}

}  // namespace
}  // namespace plinth::manifest
