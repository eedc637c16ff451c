#include "plinth/manifest/names.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plinth::manifest {
namespace {

using ::testing::HasSubstr;

TEST(NamesTest, ValidNames) {
  for (const std::string& n : std::vector<std::string>{"a", "dev", "prod-eu-1", "a1", std::string(63, 'a')}) {
    EXPECT_TRUE(IsValidName(n)) << n;
  }
}

TEST(NamesTest, InvalidNames) {
  for (const std::string& n : std::vector<std::string>{"", "1abc", "-a", "a-", "Abc", "a_b", "a.b", "a b", std::string(64, 'a')}) {
    EXPECT_FALSE(IsValidName(n)) << n;
  }
}

TEST(NamesTest, ErrorCarriesPathValueAndRule) {
  absl::Status s = CheckName("metadata.name", "My_Vpc");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("metadata.name: \"My_Vpc\" is not a valid name"));
  EXPECT_THAT(s.message(), HasSubstr("lowercase letters"));
  EXPECT_THAT(CheckName("metadata.org", "").message(), HasSubstr("metadata.org: required"));
}

TEST(NamesTest, ResourceNamesAndSlugs) {
  for (const std::string& n : std::vector<std::string>{"example.com", "analytics_db", "My Zone", "a", std::string(253, 'x')}) {
    EXPECT_TRUE(IsValidResourceName(n)) << n;
  }
  for (const std::string& n : std::vector<std::string>{"", "a/b", " lead", "trail ", "tab\there", std::string("nul\0", 4), std::string(254, 'x')}) {
    EXPECT_FALSE(IsValidResourceName(n)) << n;
  }
  EXPECT_EQ(ResourceSlug("example.com"), "example-com");
  EXPECT_EQ(ResourceSlug("Analytics__DB"), "analytics-db");
  EXPECT_EQ(ResourceSlug("prod-eu-1"), "prod-eu-1") << "a DNS label is its own slug";
  EXPECT_EQ(ResourceSlug("..."), ResourceSlug("..."));
  EXPECT_THAT(ResourceSlug("..."), ::testing::MatchesRegex("r-[0-9a-f]{16}"));
  EXPECT_NE(ResourceSlug("..."), ResourceSlug("___"));
  EXPECT_THAT(CheckResourceName("metadata.name", std::string("a\0b", 3)).message(), HasSubstr("\"a\\000b\""));
}

TEST(NamesTest, LabelKeysAndValues) {
  EXPECT_TRUE(CheckLabelKey("k", "app.kubernetes.io/name").ok());
  EXPECT_TRUE(CheckLabelKey("k", "Team_1").ok());
  EXPECT_FALSE(CheckLabelKey("k", "bad key").ok());
  EXPECT_FALSE(CheckLabelKey("k", "Bad.Prefix/x").ok());
  EXPECT_FALSE(CheckLabelKey("k", "a\"b").ok());
  EXPECT_TRUE(CheckLabelValue("v", "").ok());
  EXPECT_TRUE(CheckLabelValue("v", "v1.2_beta-3").ok());
  EXPECT_FALSE(CheckLabelValue("v", "-x").ok());
  EXPECT_FALSE(CheckLabelValue("v", std::string(64, 'a')).ok());
}

}  // namespace
}  // namespace plinth::manifest
