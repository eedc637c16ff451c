// The plinth CLI against the real plinthd.
#include "daemon_process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "test_paths.h"

namespace plinth::testing {
namespace {

using ::testing::HasSubstr;

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    daemon_ = new DaemonProcess();
    absl::Status s = daemon_->Start();
    ASSERT_TRUE(s.ok()) << s;
  }
  static void TearDownTestSuite() {
    daemon_->Stop();
    delete daemon_;
  }
  static DaemonProcess* daemon_;
};

DaemonProcess* CliTest::daemon_ = nullptr;

TEST_F(CliTest, ApplyADirectoryThenGetListHistoryAndDelete) {
  std::string examples = std::string(PLINTH_SOURCE_DIR) + "/examples/manifests";
  CommandResult apply = daemon_->Cli({"apply", "-f", examples, "--org", "acme", "--env", "cli"});
  ASSERT_EQ(apply.exit_code, 0) << apply.err;
  EXPECT_THAT(apply.out, HasSubstr("acme/cli/AwsVpc/main created (version 1)"));
  EXPECT_THAT(apply.out, HasSubstr("acme/cli/KubernetesPostgres/shop-db created (version 1)"));

  CommandResult again = daemon_->Cli({"apply", "-f", examples, "--org", "acme", "--env", "cli"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("acme/cli/AwsVpc/main unchanged (version 1)"));

  CommandResult table = daemon_->Cli({"get", "cloud-resources", "--env", "cli", "-l", "tier=network"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("ORG"));
  EXPECT_THAT(table.out, HasSubstr("private-a"));
  EXPECT_THAT(table.out, ::testing::Not(HasSubstr("public-a")));

  CommandResult json = daemon_->Cli({"get", "cloud-resources", "--env", "cli", "-o", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  auto parsed = nlohmann::json::parse(json.out);
  EXPECT_EQ(parsed["items"].size(), 5u);

  CommandResult yaml = daemon_->Cli({"get", "cloud-resource", "acme/cli/AwsSubnet/private-a"});
  ASSERT_EQ(yaml.exit_code, 0) << yaml.err;
  EXPECT_THAT(yaml.out, HasSubstr("kind: AwsSubnet"));
  EXPECT_THAT(yaml.out, HasSubstr("fieldPath: status.outputs.vpc_id"));

  // What `get` prints can be applied again unchanged.
  CommandResult reapply = daemon_->Cli({"apply", "-f", "-"}, yaml.out);
  ASSERT_EQ(reapply.exit_code, 0) << reapply.err;
  EXPECT_THAT(reapply.out, HasSubstr("acme/cli/AwsSubnet/private-a unchanged"));

  std::string changed = yaml.out;
  changed.replace(changed.find("10.0.1.0/24"), 11, "10.0.2.0/24");
  CommandResult update = daemon_->Cli({"apply", "-f", "-"}, changed);
  ASSERT_EQ(update.exit_code, 0) << update.err;
  EXPECT_THAT(update.out, HasSubstr("updated (version 2)"));

  CommandResult history = daemon_->Cli({"history", "acme/cli/AwsSubnet/private-a"});
  ASSERT_EQ(history.exit_code, 0) << history.err;
  EXPECT_THAT(history.out, HasSubstr("update"));
  EXPECT_THAT(history.out, HasSubstr("create"));
  EXPECT_THAT(history.out, HasSubstr("anonymous"));

  CommandResult del = daemon_->Cli({"delete", "cloud-resource", "acme/cli/AwsSubnet/private-a"});
  ASSERT_EQ(del.exit_code, 0) << del.err;
  EXPECT_THAT(del.out, HasSubstr("deleted"));
  CommandResult gone = daemon_->Cli({"get", "cloud-resource", "acme/cli/AwsSubnet/private-a"});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_THAT(gone.err, HasSubstr("not found"));
}

TEST_F(CliTest, ErrorsGoToStderrWithTheFieldPath) {
  std::string bad =
      "apiVersion: aws.planton.dev/v1\nkind: AwsAlb\nmetadata: {name: web}\n"
      "spec: {region: us-east-1, subnets: [{value: a}, {valueFrom: {kind: AwsSubnet, name: \"a/b\", fieldPath: x}}]}\n";
  CommandResult r = daemon_->Cli({"apply", "-f", "-", "--org", "acme", "--env", "cli-bad"}, bad);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("<stdin> document 1 (AwsAlb/web): spec.subnets[1].valueFrom.name"));
  EXPECT_EQ(r.out, "");

  CommandResult missing = daemon_->Cli({"apply", "-f", "/nonexistent.yaml"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("/nonexistent.yaml: cannot read"));

  CommandResult bad_ref = daemon_->Cli({"get", "cloud-resource", "not-a-ref"});
  EXPECT_EQ(bad_ref.exit_code, 2);

  CommandResult down = RunCommand({PlinthPath(), "--server", "127.0.0.1:1", "--timeout", "5", "kinds"});
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_THAT(down.err, HasSubstr("is plinthd running"));
}

TEST_F(CliTest, KindsAndExplain) {
  CommandResult kinds = daemon_->Cli({"kinds", "--provider", "azure"});
  ASSERT_EQ(kinds.exit_code, 0) << kinds.err;
  EXPECT_THAT(kinds.out, HasSubstr("AzureAksCluster"));
  EXPECT_THAT(kinds.out, ::testing::Not(HasSubstr("AwsVpc")));

  CommandResult json = daemon_->Cli({"kinds", "-o", "json"});
  ASSERT_EQ(json.exit_code, 0);
  EXPECT_GE(nlohmann::json::parse(json.out)["kinds"].size(), 40u);

  CommandResult explain = daemon_->Cli({"explain", "AwsEcsService"});
  ASSERT_EQ(explain.exit_code, 0) << explain.err;
  EXPECT_THAT(explain.out, HasSubstr("API VERSION: aws.planton.dev/v1"));
  EXPECT_THAT(explain.out, HasSubstr("container.image.repo"));
  EXPECT_THAT(explain.out, HasSubstr("clusterArn"));
  // A reference's default kind and path, the rules plinth checks, and the
  // rules it does not evaluate (none on this kind).
  EXPECT_THAT(explain.out, HasSubstr("(AwsEcsCluster status.outputs.cluster_arn)"));
  EXPECT_THAT(explain.out, HasSubstr("in [path, hostname]"));
  EXPECT_THAT(explain.out, ::testing::Not(HasSubstr("not a kind of Planton's public API")));

  CommandResult vpc = daemon_->Cli({"explain", "AwsVpc"});
  ASSERT_EQ(vpc.exit_code, 0) << vpc.err;
  EXPECT_THAT(vpc.out, HasSubstr("RULES NOT EVALUATED BY PLINTH ("));
  EXPECT_THAT(vpc.out, HasSubstr("spec: ipv4_primary_source_required: this.cidr_block != '' || this.ipv4_ipam_pool_id != ''"));
  EXPECT_THAT(vpc.out, HasSubstr("spec.instanceTenancy: instance_tenancy_valid"));

  // plinthd says once at start how many rules it does not evaluate.
  EXPECT_THAT(daemon_->Stderr(), ::testing::ContainsRegex("kinds catalog: [0-9]+ validation rules \\(CEL and others\\) "
                                                          "are not evaluated by plinth"));

  CommandResult own = daemon_->Cli({"explain", "AzurePostgresqlServer"});
  ASSERT_EQ(own.exit_code, 0) << own.err;
  EXPECT_THAT(own.out, HasSubstr("NOTE:        not a kind of Planton's public API"));

  CommandResult unknown = daemon_->Cli({"explain", "AwsEcsServise"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.err, HasSubstr("did you mean AwsEcsService"));
}

TEST_F(CliTest, ServerComesFromTheEnvironment) {
  CommandResult r = RunCommand({PlinthPath(), "kinds"}, {"PLINTH_SERVER=" + daemon_->address()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
}  // namespace plinth::testing
