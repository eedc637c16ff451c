// The Terraform/OpenTofu runner against plinth-sim-tofu (a simulated engine).
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plinth/engine/stack_job.h"
#include "temp_dir.h"
#include "test_paths.h"

namespace plinth::engine {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

struct Recorder : JobListener {
  std::vector<std::string> lines;
  std::vector<EngineEvent> events;
  std::vector<pid_t> pgids;
  void OnLine(Stream, const std::string& step, const std::string& text) override { lines.push_back(step + "| " + text); }
  void OnEvent(const std::string&, const EngineEvent& e) override { events.push_back(e); }
  void OnProcess(const std::string&, pid_t pgid) override { pgids.push_back(pgid); }
  std::string All() const {
    std::string s;
    for (const auto& l : lines) s += l + "\n";
    return s;
  }
};

class TerraformRunnerTest : public ::testing::Test {
 protected:
  JobSpec Spec(Operation op, json annotations = json::object()) {
    JobSpec s;
    s.job_id = "job-" + std::to_string(++counter_);
    s.operation = op;
    s.kind = "KubernetesNamespace";
    s.resource_id = "cr-test";
    s.module_variables = {{"metadata", {{"name", "shop"}, {"org", "acme"}, {"env", "dev"}, {"annotations", annotations}}},
                          {"spec", {{"name", "shop"}, {"labels", {{"team", "shop"}}}}}};
    s.engine = "tofu";
    s.engine_binary = std::string(PLINTH_BIN_DIR) + "/plinth-sim-tofu";
    s.module_dir = std::string(PLINTH_SOURCE_DIR) + "/examples/modules/sim";
    s.workspace_dir = dir_.path() + "/ws/" + s.job_id;
    s.state_dir = dir_.path() + "/state/cr-test";
    s.env = {"PATH=/usr/bin:/bin", "AWS_SECRET_ACCESS_KEY=canary-secret-value-42"};
    s.secrets = {"canary-secret-value-42"};
    return s;
  }

  testing::TempDir dir_;
  PosixProcessLauncher launcher_;
  int counter_ = 0;
};

TEST_F(TerraformRunnerTest, UpdateThenNoChangesThenDestroy) {
  TerraformRunner runner(&launcher_);
  Recorder rec;
  JobOutcome first = runner.Run(Spec(Operation::kUpdate), nullptr, &rec);
  ASSERT_EQ(first.state, JobOutcome::State::kSucceeded) << first.error << "\n" << rec.All();
  EXPECT_EQ(first.summary.add, 1);
  EXPECT_EQ(first.outputs["namespace"]["value"], "shop");
  EXPECT_EQ(first.outputs["id"]["value"], "sim-KubernetesNamespace-shop");
  EXPECT_THAT(first.engine_version, HasSubstr("1.9.0-sim"));
  std::vector<std::string> steps;
  for (const auto& s : first.steps) steps.push_back(s.name);
  EXPECT_EQ(steps, (std::vector<std::string>{"init", "plan", "show", "apply", "output"}));
  ASSERT_FALSE(first.resources.empty());
  EXPECT_EQ(first.resources[0].address, "plinth_sim_resource.this");
  EXPECT_THAT(rec.All(), HasSubstr("$ tofu apply -input=false -json plinth.tfplan"));
  EXPECT_GE(std::count_if(rec.pgids.begin(), rec.pgids.end(), [](pid_t p) { return p > 0; }), 5);

  Recorder rec2;
  JobOutcome second = runner.Run(Spec(Operation::kUpdate), nullptr, &rec2);
  ASSERT_EQ(second.state, JobOutcome::State::kSucceeded) << second.error;
  EXPECT_EQ(second.summary.add + second.summary.change + second.summary.remove, 0);
  for (const auto& s : second.steps) EXPECT_NE(s.name, "apply") << "no changes: nothing to apply";

  Recorder rec3;
  JobOutcome destroyed = runner.Run(Spec(Operation::kDestroy), nullptr, &rec3);
  ASSERT_EQ(destroyed.state, JobOutcome::State::kSucceeded) << destroyed.error;
  EXPECT_EQ(destroyed.summary.remove, 1);
  EXPECT_TRUE(destroyed.outputs_changed);
  EXPECT_TRUE(destroyed.outputs.empty());
}

TEST_F(TerraformRunnerTest, PreviewChangesNothing) {
  TerraformRunner runner(&launcher_);
  Recorder rec;
  JobOutcome preview = runner.Run(Spec(Operation::kPreview), nullptr, &rec);
  ASSERT_EQ(preview.state, JobOutcome::State::kSucceeded) << preview.error;
  EXPECT_EQ(preview.summary.add, 1);
  EXPECT_FALSE(preview.outputs_changed);
  JobOutcome again = runner.Run(Spec(Operation::kPreview), nullptr, &rec);
  EXPECT_EQ(again.summary.add, 1) << "a preview must not have applied anything";
}

TEST_F(TerraformRunnerTest, FailuresAreClearJobErrors) {
  TerraformRunner runner(&launcher_);
  Recorder rec;
  JobOutcome failed = runner.Run(Spec(Operation::kUpdate, {{"sim.plinth.dev/fail-at", "apply"}}), nullptr, &rec);
  EXPECT_EQ(failed.state, JobOutcome::State::kFailed);
  EXPECT_THAT(failed.error, HasSubstr("tofu apply failed with exit code 1 (simulated failure at apply"));

  JobSpec missing_binary = Spec(Operation::kUpdate);
  missing_binary.engine_binary = "plinth-no-such-tofu";
  JobOutcome no_bin = runner.Run(missing_binary, nullptr, &rec);
  EXPECT_EQ(no_bin.state, JobOutcome::State::kFailed);
  EXPECT_THAT(no_bin.error, HasSubstr("plinth-no-such-tofu"));

  JobSpec missing_module = Spec(Operation::kUpdate);
  missing_module.module_dir = "/nonexistent/module";
  JobOutcome no_module = runner.Run(missing_module, nullptr, &rec);
  EXPECT_EQ(no_module.state, JobOutcome::State::kFailed);
  EXPECT_THAT(no_module.error, HasSubstr("module directory /nonexistent/module does not exist"));

  Recorder garbage;
  JobOutcome not_json = runner.Run(Spec(Operation::kPreview, {{"sim.plinth.dev/not-json", "true"}}), nullptr, &garbage);
  EXPECT_EQ(not_json.state, JobOutcome::State::kSucceeded);
  EXPECT_THAT(garbage.All(), HasSubstr("panic: simulated crash"));
}

TEST_F(TerraformRunnerTest, SecretsAreRedactedFromEveryLine) {
  TerraformRunner runner(&launcher_);
  Recorder rec;
  JobOutcome out = runner.Run(Spec(Operation::kPreview, {{"sim.plinth.dev/print-env", "AWS_SECRET_ACCESS_KEY"}}), nullptr, &rec);
  ASSERT_EQ(out.state, JobOutcome::State::kSucceeded) << out.error;
  EXPECT_THAT(rec.All(), HasSubstr("debug: credential is [REDACTED]"));
  EXPECT_THAT(rec.All(), ::testing::Not(HasSubstr("canary-secret-value-42")));
  for (const auto& e : rec.events) EXPECT_THAT(e.message, ::testing::Not(HasSubstr("canary-secret-value-42")));
}

TEST_F(TerraformRunnerTest, CancelAndTimeoutEndTheJob) {
  TerraformRunner runner(&launcher_);
  Recorder rec;
  CancelToken cancel;
  JobSpec slow = Spec(Operation::kUpdate, {{"sim.plinth.dev/sleep-seconds", "20"}});
  slow.kill_grace = absl::Seconds(5);
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    cancel.Cancel();
  });
  JobOutcome cancelled = runner.Run(slow, &cancel, &rec);
  t.join();
  EXPECT_EQ(cancelled.state, JobOutcome::State::kCancelled) << cancelled.error;

  JobSpec timed = Spec(Operation::kUpdate, {{"sim.plinth.dev/sleep-seconds", "20"}, {"sim.plinth.dev/ignore-sigint", "true"}});
  timed.step_timeout = absl::Milliseconds(400);
  timed.kill_grace = absl::Milliseconds(300);
  JobOutcome timeout = runner.Run(timed, nullptr, &rec);
  EXPECT_EQ(timeout.state, JobOutcome::State::kFailed);
  EXPECT_THAT(timeout.error, HasSubstr("did not finish within"));
}

}  // namespace
}  // namespace plinth::engine
