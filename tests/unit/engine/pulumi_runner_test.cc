// The Pulumi runner against plinth-sim-pulumi (a simulated Pulumi).
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plinth/engine/stack_job.h"
#include "temp_dir.h"
#include "test_paths.h"

namespace plinth::engine {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

struct Lines : JobListener {
  std::string all;
  std::vector<EngineEvent> events;
  void OnLine(Stream, const std::string& step, const std::string& text) override { all += step + "| " + text + "\n"; }
  void OnEvent(const std::string&, const EngineEvent& e) override { events.push_back(e); }
  void OnProcess(const std::string&, pid_t) override {}
};

class PulumiRunnerTest : public ::testing::Test {
 protected:
  JobSpec Spec(Operation op, json annotations = json::object()) {
    JobSpec s;
    s.job_id = "job-p" + std::to_string(++n_);
    s.operation = op;
    s.kind = "KubernetesNamespace";
    s.api_version = "kubernetes.planton.dev/v1";
    s.module_variables = {{"metadata", {{"name", "shop"}, {"env", "dev"}, {"org", "acme"}, {"annotations", annotations}}},
                          {"spec", {{"name", "shop"}}}};
    s.engine = "pulumi";
    s.engine_binary = std::string(PLINTH_BIN_DIR) + "/plinth-sim-pulumi";
    s.module_dir = std::string(PLINTH_SOURCE_DIR) + "/examples/modules/sim";
    s.workspace_dir = dir_.path() + "/ws/" + s.job_id;
    s.state_dir = dir_.path() + "/state/cr-p";
    s.env = {"PATH=/usr/bin:/bin", "PULUMI_ACCESS_TOKEN=canary-pulumi-token-77"};
    s.secrets = {"canary-pulumi-token-77"};
    return s;
  }
  testing::TempDir dir_;
  PosixProcessLauncher launcher_;
  int n_ = 0;
};

TEST_F(PulumiRunnerTest, UpThenSameThenDestroy) {
  PulumiRunner runner(&launcher_);
  Lines l;
  JobOutcome up = runner.Run(Spec(Operation::kUpdate, {{"sim.plinth.dev/sensitive-output", "namespace"}}), nullptr, &l);
  ASSERT_EQ(up.state, JobOutcome::State::kSucceeded) << up.error << "\n" << l.all;
  EXPECT_EQ(up.summary.add, 1);
  EXPECT_EQ(up.outputs["namespace"]["value"], "shop");
  EXPECT_EQ(up.outputs["namespace"]["sensitive"], true);
  EXPECT_EQ(up.outputs["id"]["sensitive"], false);
  EXPECT_THAT(l.all, HasSubstr("$ pulumi stack select --create --stack dev.kubernetesnamespace.shop"));
  EXPECT_THAT(l.all, HasSubstr("$ pulumi up --yes --skip-preview --json"));
  ASSERT_FALSE(up.resources.empty());
  EXPECT_THAT(up.resources[0].address, HasSubstr("urn:pulumi:dev.kubernetesnamespace.shop::"));

  JobOutcome same = runner.Run(Spec(Operation::kPreview), nullptr, &l);
  ASSERT_EQ(same.state, JobOutcome::State::kSucceeded) << same.error;
  EXPECT_EQ(same.summary.add + same.summary.change, 1) << "the annotations changed: an update is planned";

  JobOutcome destroyed = runner.Run(Spec(Operation::kDestroy), nullptr, &l);
  ASSERT_EQ(destroyed.state, JobOutcome::State::kSucceeded) << destroyed.error;
  EXPECT_EQ(destroyed.summary.remove, 1);
  EXPECT_TRUE(destroyed.outputs.empty());
}

TEST_F(PulumiRunnerTest, FailuresAndRedaction) {
  PulumiRunner runner(&launcher_);
  Lines l;
  JobOutcome failed = runner.Run(Spec(Operation::kUpdate, {{"sim.plinth.dev/fail-at", "up"}}), nullptr, &l);
  EXPECT_EQ(failed.state, JobOutcome::State::kFailed);
  EXPECT_THAT(failed.error, HasSubstr("pulumi update failed with exit code 255 (simulated failure at up)"));
  Lines secret;
  JobOutcome printed = runner.Run(Spec(Operation::kPreview, {{"sim.plinth.dev/print-env", "PULUMI_ACCESS_TOKEN"}}), nullptr, &secret);
  ASSERT_EQ(printed.state, JobOutcome::State::kSucceeded) << printed.error;
  EXPECT_THAT(secret.all, HasSubstr("debug: credential is [REDACTED]"));
  EXPECT_THAT(secret.all, ::testing::Not(HasSubstr("canary-pulumi-token-77")));
  JobSpec no_bin = Spec(Operation::kUpdate);
  no_bin.engine_binary = "/nonexistent/pulumi";
  EXPECT_EQ(runner.Run(no_bin, nullptr, &l).state, JobOutcome::State::kFailed);
}

}  // namespace
}  // namespace plinth::engine
