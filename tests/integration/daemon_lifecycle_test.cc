// plinthd as an operator runs it: restarts, kill -9, a second daemon on the
// same data dir, auth, config files, extra kinds and log formats.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "daemon_process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "plinth/v1/cloud_resource.grpc.pb.h"
#include "plinth/v1/kind.grpc.pb.h"
#include "test_paths.h"

namespace plinth::testing {
namespace {

namespace pb = plinth::v1;
using ::testing::HasSubstr;

const char kVpcHead[] = "apiVersion: aws.planton.dev/v1\nkind: AwsVpc\nmetadata: {name: keep, org: acme, env: dev}\n";
const std::string kVpc = std::string(kVpcHead) + "spec: {region: us-east-1, cidrBlock: 10.0.0.0/16}\n";

grpc::Status ApplyText(DaemonProcess& d, const std::string& text, const std::string& token = "",
                       pb::ApplyCloudResourcesResponse* out = nullptr) {
  auto stub = pb::CloudResourceService::NewStub(d.Channel());
  pb::ApplyCloudResourcesRequest req;
  req.add_sources()->set_content(text);
  pb::ApplyCloudResourcesResponse resp;
  return stub->ApplyCloudResources(DaemonProcess::Context(token).get(), req, out ? out : &resp);
}

grpc::Status GetKeep(DaemonProcess& d, pb::CloudResource* out, const std::string& token = "") {
  auto stub = pb::CloudResourceService::NewStub(d.Channel());
  pb::GetCloudResourceRequest req;
  req.mutable_key()->set_org("acme");
  req.mutable_key()->set_env("dev");
  req.mutable_key()->set_kind("AwsVpc");
  req.mutable_key()->set_name("keep");
  return stub->GetCloudResource(DaemonProcess::Context(token).get(), req, out);
}

TEST(DaemonLifecycleTest, DataSurvivesRestartAndKill9) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start().ok()) << d.Stderr();
  ASSERT_TRUE(ApplyText(d, kVpc).ok());
  EXPECT_EQ(d.Stop(), 0) << "SIGTERM must exit 0";
  EXPECT_THAT(d.Stderr(), HasSubstr("shutting down"));

  ASSERT_TRUE(d.Start().ok()) << d.Stderr();
  pb::CloudResource r;
  ASSERT_TRUE(GetKeep(d, &r).ok());
  EXPECT_EQ(r.version(), 1);

  // An acknowledged write survives kill -9.
  std::string v2 = std::string(kVpcHead) + "spec: {region: us-east-1, cidrBlock: 10.9.0.0/16}\n";
  ASSERT_TRUE(ApplyText(d, v2).ok());
  d.Kill();
  ASSERT_TRUE(d.Start().ok()) << d.Stderr();
  ASSERT_TRUE(GetKeep(d, &r).ok());
  EXPECT_EQ(r.version(), 2);
  EXPECT_EQ(r.manifest().fields().at("spec").struct_value().fields().at("cidrBlock").string_value(),
            "10.9.0.0/16");
}

// Probe finding D6: a deleted or emptied plinth.db next to secret.key came
// up as an empty catalog, and a deleted secret.key was replaced silently.
TEST(DaemonLifecycleTest, ALostCatalogOrKeyIsRefusedNotReplaced) {
  namespace fs = std::filesystem;
  DaemonProcess d;
  ASSERT_TRUE(d.Start().ok()) << d.Stderr();
  ASSERT_TRUE(ApplyText(d, kVpc).ok());
  ASSERT_EQ(d.Stop(), 0);
  const fs::path dir = d.data_dir();
  const fs::path saved = dir.parent_path() / "saved";
  fs::create_directories(saved);
  for (const char* f : {"plinth.db", "plinth.db-wal", "secret.key"}) {
    if (fs::exists(dir / f)) fs::copy_file(dir / f, saved / f, fs::copy_options::overwrite_existing);
  }
  auto start = [&](std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {PlinthdPath(), "--data-dir", dir.string(), "--listen", "127.0.0.1:0",
                                     "--http-listen", "off"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunCommand(argv);
  };
  auto restore = [&](const char* f) {
    fs::copy_file(saved / f, dir / f, fs::copy_options::overwrite_existing);
  };

  // The catalog deleted, then emptied: refused, naming what is left and --init.
  fs::remove(dir / "plinth.db");
  fs::remove(dir / "plinth.db-wal");
  fs::remove(dir / "plinth.db-shm");
  CommandResult gone = start();
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_THAT(gone.err, HasSubstr("plinth.db is missing or empty, but secret.key is there"));
  EXPECT_THAT(gone.err, HasSubstr("--init"));
  EXPECT_FALSE(fs::exists(dir / "plinth.db")) << "a refused start must not create the catalog";
  std::ofstream(dir / "plinth.db").close();
  EXPECT_EQ(start().exit_code, 1);
  fs::remove(dir / "plinth.db");
  restore("plinth.db");
  if (fs::exists(saved / "plinth.db-wal")) restore("plinth.db-wal");

  // The key deleted: refused, and no new key is made.
  fs::remove(dir / "secret.key");
  CommandResult no_key = start();
  EXPECT_EQ(no_key.exit_code, 1);
  EXPECT_THAT(no_key.err, HasSubstr("secret.key is missing, but plinth.db exists (sealed with key "));
  EXPECT_FALSE(fs::exists(dir / "secret.key"));
  // Another key: refused too.
  {
    std::ofstream other(dir / "secret.key", std::ios::binary);
    other << std::string(32, 'k');
  }
  fs::permissions(dir / "secret.key", fs::perms::owner_read | fs::perms::owner_write);
  CommandResult wrong = start();
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_THAT(wrong.err, HasSubstr("is not the key plinth.db was sealed with"));

  // The right key back: everything is there.
  restore("secret.key");
  ASSERT_TRUE(d.Start().ok()) << d.Stderr();
  pb::CloudResource r;
  ASSERT_TRUE(GetKeep(d, &r).ok());
  EXPECT_EQ(r.version(), 1);
  ASSERT_EQ(d.Stop(), 0);

  // --init is the deliberate way: a new key, said loudly.
  fs::remove(dir / "secret.key");
  ASSERT_TRUE(d.Start({"--init"}).ok()) << d.Stderr();
  EXPECT_THAT(d.Stderr(), HasSubstr("--init: making a new secret.key"));
  EXPECT_TRUE(fs::exists(dir / "secret.key"));
  ASSERT_EQ(d.Stop(), 0);
  // ... after which this data dir starts as any other.
  ASSERT_TRUE(d.Start().ok()) << d.Stderr();
}

TEST(DaemonLifecycleTest, SecondDaemonOnTheSameDataDirRefusesToStart) {
  DaemonProcess first;
  ASSERT_TRUE(first.Start().ok());
  CommandResult second = RunCommand({PlinthdPath(), "--data-dir", first.data_dir(), "--listen", "127.0.0.1:0"});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_THAT(second.err, HasSubstr("is in use by another plinthd"));
  // The first one is unharmed.
  EXPECT_TRUE(ApplyText(first, kVpc).ok());
}

TEST(DaemonLifecycleTest, AuthOnRequiresATokenAndRecordsTheActor) {
  TempDir dir;
  std::string tokens = dir.path() + "/tokens";
  std::ofstream(tokens) << "# test tokens\ns3cret-token-for-alice alice\n";
  DaemonProcess d;
  ASSERT_TRUE(d.Start({"--auth-token-file", tokens}).ok()) << d.Stderr();

  grpc::Status none = ApplyText(d, kVpc);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ApplyText(d, kVpc, "wrong-token-xxxxxxxx").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  auto kinds = pb::KindService::NewStub(d.Channel());
  pb::ListKindsResponse lk;
  EXPECT_EQ(kinds->ListKinds(DaemonProcess::Context().get(), {}, &lk).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  pb::ApplyCloudResourcesResponse resp;
  ASSERT_TRUE(ApplyText(d, kVpc, "s3cret-token-for-alice", &resp).ok());
  EXPECT_EQ(resp.results(0).resource().created_by(), "alice");

  // The CLI takes the token from a flag or PLINTH_TOKEN.
  CommandResult denied = d.Cli({"get", "cloud-resources"});
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_THAT(denied.err, HasSubstr("PLINTH_TOKEN"));
  CommandResult with_env = d.Cli({"history", "acme/dev/AwsVpc/keep"}, "", {"PLINTH_TOKEN=s3cret-token-for-alice"});
  ASSERT_EQ(with_env.exit_code, 0) << with_env.err;
  EXPECT_THAT(with_env.out, HasSubstr("alice"));
  EXPECT_EQ(d.Cli({"--token", "s3cret-token-for-alice", "kinds"}).exit_code, 0);
}

TEST(DaemonLifecycleTest, AuthOffRecordsAnonymous) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start().ok());
  pb::ApplyCloudResourcesResponse resp;
  ASSERT_TRUE(ApplyText(d, kVpc, "", &resp).ok());
  EXPECT_EQ(resp.results(0).resource().created_by(), "anonymous");
  EXPECT_THAT(d.Stderr(), ::testing::Not(HasSubstr("without --auth-token-file")));
}

TEST(DaemonLifecycleTest, WarnsWhenListeningBeyondLoopbackWithoutAuth) {
  DaemonProcess d;
  ASSERT_TRUE(d.Start({"--listen", "0.0.0.0:0"}).ok()) << d.Stderr();
  EXPECT_THAT(d.Stderr(), HasSubstr("without --auth-token-file"));
  EXPECT_EQ(d.Stop(), 0);
}

TEST(DaemonLifecycleTest, ConfigFileWithFlagOverridesAndJsonLogs) {
  TempDir dir;
  std::string config = dir.path() + "/plinthd.yaml";
  std::ofstream(config) << "log: {level: debug, format: text}\nworkers: 2\nkinds_descriptor_sets: ["
                        << PLINTH_ACME_KINDS_PB << "]\n";
  DaemonProcess d;
  ASSERT_TRUE(d.Start({"--config", config, "--log-format", "json"}).ok()) << d.Stderr();
  std::istringstream lines(d.Stderr());
  std::string line;
  int json_lines = 0;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line;
    EXPECT_TRUE(j.contains("level") && j.contains("msg") && j.contains("time"));
    ++json_lines;
  }
  EXPECT_GT(json_lines, 2);

  auto kinds = pb::KindService::NewStub(d.Channel());
  pb::GetKindRequest req;
  req.set_kind("AcmeWidget");
  pb::Kind k;
  ASSERT_TRUE(kinds->GetKind(DaemonProcess::Context().get(), req, &k).ok());
  EXPECT_EQ(k.api_version(), "acme.example.com/v1");
  EXPECT_EQ(k.origin(), PLINTH_ACME_KINDS_PB);
  // Loaded kinds validate manifests like built-in ones.
  grpc::Status bad = ApplyText(d, "apiVersion: acme.example.com/v1\nkind: AcmeWidget\n"
                                  "metadata: {name: w, org: acme, env: dev}\nspec: {tier: PLATINUM}\n");
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad.error_message(), HasSubstr("spec.tier"));
  EXPECT_TRUE(ApplyText(d, "apiVersion: acme.example.com/v1\nkind: AcmeWidget\n"
                           "metadata: {name: w, org: acme, env: dev}\nspec: {tier: GOLD, count: 2}\n").ok());
}

TEST(DaemonLifecycleTest, BadStartupInputIsAClearErrorNotACrash) {
  TempDir dir;
  std::string junk = dir.path() + "/junk.pb";
  std::ofstream(junk) << "not a descriptor set";
  CommandResult r = RunCommand({PlinthdPath(), "--data-dir", dir.path() + "/d", "--listen", "127.0.0.1:0",
                                "--kinds-descriptor-set", junk});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("junk.pb: not a FileDescriptorSet"));

  std::string config = dir.path() + "/bad.yaml";
  std::ofstream(config) << "listen: [oops\n";
  r = RunCommand({PlinthdPath(), "--config", config});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("bad.yaml"));

  r = RunCommand({PlinthdPath(), "--data-dir", dir.path() + "/d", "--log-level", "loud"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("log level"));

  r = RunCommand({PlinthdPath(), "--data-dir", dir.path() + "/d", "--listen", "127.0.0.1:0",
                  "--auth-token-file", dir.path() + "/none"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("auth token file"));

  std::ofstream(dir.path() + "/pulumi.yaml") << "engines: {pulumi: {binary: pulumi, passphrase_file: missing}}\n";
  r = RunCommand({PlinthdPath(), "--config", dir.path() + "/pulumi.yaml", "--data-dir", dir.path() + "/d",
                  "--listen", "127.0.0.1:0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("engines.pulumi.passphrase_file " + dir.path() + "/missing: cannot read a passphrase"));
}

}  // namespace
}  // namespace plinth::testing
