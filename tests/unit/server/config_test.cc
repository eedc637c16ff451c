#include "plinth/server/config.h"

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "temp_dir.h"

namespace plinth::server {
namespace {

using ::testing::HasSubstr;

std::string Write(const std::string& dir, const std::string& text) {
  std::string path = dir + "/plinthd.yaml";
  std::ofstream(path) << text;
  return path;
}

TEST(ConfigTest, ReadsEverySettingAndResolvesRelativePaths) {
  testing::TempDir dir;
  auto c = LoadConfigFile(Write(dir.path(), R"(
listen: 0.0.0.0:9000
data_dir: data
log: {level: debug, format: json}
kinds_descriptor_sets: [kinds/a.pb, /abs/b.pb]
auth_token_file: tokens
max_manifest_bytes: 1048576
workers: 4
)"), Config{});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen, "0.0.0.0:9000");
  EXPECT_EQ(c->data_dir, dir.path() + "/data");
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->log_format, "json");
  EXPECT_EQ(c->kinds_descriptor_sets, (std::vector<std::string>{dir.path() + "/kinds/a.pb", "/abs/b.pb"}));
  EXPECT_EQ(c->auth_token_file, dir.path() + "/tokens");
  EXPECT_EQ(c->max_manifest_bytes, 1048576u);
  EXPECT_EQ(c->workers, 4);
  EXPECT_TRUE(ValidateConfig(*c).ok());
}

TEST(ConfigTest, UnknownKeysAndWrongTypesNameTheSetting) {
  testing::TempDir dir;
  auto unknown = LoadConfigFile(Write(dir.path(), "listn: x\n"), Config{});
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("listn: unknown setting"));
  auto wrong = LoadConfigFile(Write(dir.path(), "workers: many\n"), Config{});
  EXPECT_THAT(wrong.status().message(), HasSubstr("workers: wrong type"));
  EXPECT_EQ(LoadConfigFile("/nonexistent.yaml", Config{}).status().code(), absl::StatusCode::kNotFound);
}

TEST(ConfigTest, ValidationRejectsOutOfDomainValues) {
  Config c;
  c.log_level = "loud";
  EXPECT_THAT(ValidateConfig(c).message(), HasSubstr("log level"));
  c = Config{};
  c.log_format = "xml";
  EXPECT_FALSE(ValidateConfig(c).ok());
  c = Config{};
  c.listen = "7443";
  EXPECT_FALSE(ValidateConfig(c).ok());
  c = Config{};
  c.workers = 0;
  EXPECT_FALSE(ValidateConfig(c).ok());
}

}  // namespace
}  // namespace plinth::server
