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

TEST(ConfigTest, ModulesAreLocalDirectoriesOrGitRepositories) {
  testing::TempDir dir;
  auto c = LoadConfigFile(Write(dir.path(), R"(
modules:
  default: {engine: tofu, source: modules/default}
  AwsVpc: {engine: tofu, source: "https://git.example.com/acme/modules.git", ref: v1.4.0, subdir: aws/vpc, connection: gitea}
)"), Config{});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->modules.at("default").source, dir.path() + "/modules/default");
  const Config::Module& vpc = c->modules.at("AwsVpc");
  EXPECT_EQ(vpc.source, "https://git.example.com/acme/modules.git") << "a URL is not a relative path";
  EXPECT_EQ(vpc.ref, "v1.4.0");
  EXPECT_EQ(vpc.subdir, "aws/vpc");
  EXPECT_EQ(vpc.connection, "gitea");

  auto local_ref = LoadConfigFile(Write(dir.path(), "modules: {default: {engine: tofu, source: m, ref: main}}\n"), Config{});
  EXPECT_EQ(local_ref.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(local_ref.status().message(), HasSubstr("modules.default: ref, subdir and connection apply only to a Git URL"));
  auto ssh = LoadConfigFile(Write(dir.path(), "modules: {default: {engine: tofu, source: 'ssh://git@host/m.git'}}\n"), Config{});
  EXPECT_TRUE(ssh.ok()) << "ssh module sources are Git sources (a git connection holds the key): " << ssh.status();
  auto typo = LoadConfigFile(Write(dir.path(), "modules: {default: {engine: tofu, source: m, revision: x}}\n"), Config{});
  EXPECT_THAT(typo.status().message(), HasSubstr("modules.default.revision: unknown setting"));
}

TEST(ConfigTest, PulumiPassphraseFileIsRelativeToTheConfig) {
  testing::TempDir dir;
  auto c = LoadConfigFile(Write(dir.path(), "engines: {pulumi: {binary: pulumi, passphrase_file: secrets/pulumi}}\n"), Config{});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->pulumi_passphrase_file, dir.path() + "/secrets/pulumi");
  auto tofu = LoadConfigFile(Write(dir.path(), "engines: {tofu: {binary: tofu, passphrase_file: x}}\n"), Config{});
  EXPECT_THAT(tofu.status().message(), HasSubstr("engines.tofu.passphrase_file: unknown setting"));
}

TEST(ConfigTest, BackendsPerEnvAreCheckedForTheirRequiredSettings) {
  testing::TempDir dir;
  auto c = LoadConfigFile(Write(dir.path(), R"(
backends:
  prod: {type: s3, config: {bucket: acme-tf, region: us-east-1, encrypt: true}}
  default: {type: gcs, config: {bucket: acme-tf-gcs}}
)"), Config{});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->backends.at("prod").type, "s3");
  EXPECT_EQ(c->backends.at("prod").config.at("encrypt"), "true");
  EXPECT_TRUE(ValidateConfig(*c).ok());

  Config bad;
  bad.backends["prod"] = {"s3", {{"region", "us-east-1"}}};
  EXPECT_THAT(ValidateConfig(bad).message(), HasSubstr("backends.prod.config.bucket: required for the s3 backend"));
  bad.backends["prod"] = {"consul", {}};
  EXPECT_THAT(ValidateConfig(bad).message(), HasSubstr("backends.prod.type: \"consul\" is not s3, gcs or azurerm"));
  bad.backends["prod"] = {"azurerm", {{"storage_account_name", "acme"}}};
  EXPECT_THAT(ValidateConfig(bad).message(), HasSubstr("container_name"));
  auto nested = LoadConfigFile(Write(dir.path(), "backends: {prod: {type: s3, config: {bucket: {x: 1}}}}\n"), Config{});
  EXPECT_THAT(nested.status().message(), HasSubstr("backends.prod.config.bucket"));
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
TEST(ConfigTest, GitFetchTimeout) {
  plinth::testing::TempDir dir;
  auto c = LoadConfigFile(Write(dir.path(), "git_fetch_timeout_seconds: 30\n"), Config{});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->git_fetch_timeout_seconds, 30);
  auto zero = LoadConfigFile(Write(dir.path(), "git_fetch_timeout_seconds: 0\n"), Config{});
  EXPECT_THAT(zero.status().message(), HasSubstr("git_fetch_timeout_seconds"));
}

}  // namespace plinth::server
