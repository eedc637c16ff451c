// The scheduler's crash recovery, on a store prepared as plinthd leaves it
// when killed at awkward moments (no engine runs: the pool is not started).
#include "plinth/orchestrator/pipeline_scheduler.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "temp_dir.h"

namespace plinth::orchestrator {
namespace {

using nlohmann::json;

class SchedulerRecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = manifest::KindCatalog::CreateWithBuiltins();
    ASSERT_TRUE(c.ok());
    catalog_ = std::move(*c);
    auto db = store::Database::Open({.path = dir_.path() + "/p.db"});
    ASSERT_TRUE(db.ok());
    db_ = std::move(*db);
    resources_ = std::make_unique<store::CloudResourceStore>(db_.get(), &clock_);
    jobs_ = std::make_unique<store::StackJobStore>(db_.get(), &clock_);
    projects_ = std::make_unique<store::InfraProjectStore>(db_.get(), &clock_);
    pipelines_ = std::make_unique<store::InfraPipelineStore>(db_.get(), &clock_);
    policies_ = std::make_unique<store::FlowControlStore>(db_.get(), &clock_);
    EngineSettings settings;
    settings.data_dir = dir_.path();
    runner_ = std::make_unique<StackJobRunner>(settings, jobs_.get(), resources_.get(), nullptr, catalog_.get(),
                                               &launcher_, nullptr, &clock_);
    scheduler_ = std::make_unique<PipelineScheduler>(SchedulerSettings{}, pipelines_.get(), projects_.get(),
                                                     policies_.get(), jobs_.get(), runner_.get(), &clock_);
    // A project with a and b (b references a) and its pipeline, planned,
    // as the scheduler would have stored it.
    auto m = manifest::ParseManifests(
        {{"t.yaml",
          "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata: {name: a}\nspec: {name: a}\n---\n"
          "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata:\n  name: b\n  relationships: "
          "[{kind: KubernetesNamespace, name: a, type: uses}]\nspec: {name: b}\n"}},
        {.org = "acme", .env = "dev"}, *catalog_);
    ASSERT_TRUE(m.ok()) << m.status();
    store::InfraProjectRecord p;
    p.org = "acme";
    p.env = "dev";
    p.name = "web";
    store::ProjectRevisionRecord r;
    r.graph = json::object();
    r.diff = json::object();
    store::PipelineRecord pl;
    pl.trigger = "create";
    auto w = projects_->Create(p, r, *m, pl, "alice");
    ASSERT_TRUE(w.ok()) << w.status();
    pipeline_ = *w->pipeline;
    pipeline_.planned = true;
    pipeline_.state = store::PipelineState::kRunning;
    pipeline_.max_parallel = 4;
    for (int i = 0; i < 2; ++i) {
      store::PipelineNodeRecord n;
      n.idx = i;
      n.env = "dev";
      n.kind = "KubernetesNamespace";
      n.name = i == 0 ? "a" : "b";
      n.operation = "update";
      auto res = resources_->Get({.key = {"acme", "dev", n.kind, n.name}});
      ASSERT_TRUE(res.ok());
      n.resource_id = res->id;
      if (i == 1) n.upstream = {0};
      pipeline_.nodes.push_back(n);
    }
  }

  store::StackJobRecord Job(int node, store::JobState state) {
    auto res = resources_->Get({.id = pipeline_.nodes[node].resource_id});
    auto job = jobs_->Create(*res, "update", json{{"pipeline", pipeline_.id}, {"node", node}}, "alice");
    EXPECT_TRUE(job.ok());
    if (state != store::JobState::kQueued) {
      job->state = state;
      job->ended_at = clock_.Now();
      EXPECT_TRUE(jobs_->Save(*job, std::string(store::JobStateName(state))).ok());
    }
    return *job;
  }

  void Store() { ASSERT_TRUE(pipelines_->Save({{&pipeline_, {0, 1}, {}, {}, false}}).ok()); }

  testing::TempDir dir_;
  core::FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  std::unique_ptr<manifest::KindCatalog> catalog_;
  std::unique_ptr<store::Database> db_;
  std::unique_ptr<store::CloudResourceStore> resources_;
  std::unique_ptr<store::StackJobStore> jobs_;
  std::unique_ptr<store::InfraProjectStore> projects_;
  std::unique_ptr<store::InfraPipelineStore> pipelines_;
  std::unique_ptr<store::FlowControlStore> policies_;
  engine::PosixProcessLauncher launcher_;
  std::unique_ptr<StackJobRunner> runner_;
  std::unique_ptr<PipelineScheduler> scheduler_;
  store::PipelineRecord pipeline_;
};

// Killed after a job's end was stored but before its node was: the node
// takes the job's end; nothing runs again.
TEST_F(SchedulerRecoveryTest, ANodeTakesTheEndOfAJobThatFinishedUnrecorded) {
  store::StackJobRecord done = Job(0, store::JobState::kSucceeded);
  pipeline_.nodes[0].job_id = done.id;
  pipeline_.nodes[0].state = store::NodeState::kRunning;
  pipeline_.nodes[0].attempts = 1;
  Store();
  ASSERT_TRUE(runner_->Recover().ok());
  ASSERT_TRUE(scheduler_->Recover().ok());
  auto p = pipelines_->Get(pipeline_.id);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->nodes[0].state, store::NodeState::kSucceeded);
  EXPECT_EQ(p->nodes[0].job_id, done.id);
  EXPECT_EQ(p->nodes[0].attempts, 1);
}

// Killed while a job ran: the job is interrupted and the node queued again
// without it (a new job, a fresh plan, comes when the scheduler runs).
TEST_F(SchedulerRecoveryTest, AnInterruptedJobPutsItsNodeBackInTheQueue) {
  store::StackJobRecord running = Job(0, store::JobState::kQueued);
  running.state = store::JobState::kRunning;
  ASSERT_TRUE(jobs_->Save(running, "running").ok());
  pipeline_.nodes[0].job_id = running.id;
  pipeline_.nodes[0].state = store::NodeState::kRunning;
  Store();
  ASSERT_TRUE(runner_->Recover().ok());
  EXPECT_EQ(jobs_->Get(running.id)->state, store::JobState::kInterrupted);
  ASSERT_TRUE(scheduler_->Recover().ok());
  auto p = pipelines_->Get(pipeline_.id);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->nodes[0].state, store::NodeState::kQueued);
  EXPECT_TRUE(p->nodes[0].job_id.empty());
  ASSERT_FALSE(p->notes.empty());
  EXPECT_THAT(p->notes.back().get<std::string>(), ::testing::HasSubstr("interrupted by a plinthd restart"));
}

// Killed after a job was created but before its node recorded it: the node
// adopts it instead of creating a second one; a job no node wants is cancelled.
TEST_F(SchedulerRecoveryTest, AnUnrecordedJobIsAdoptedAndAStrayOneCancelled) {
  store::StackJobRecord unrecorded = Job(0, store::JobState::kQueued);
  auto stray = jobs_->Create(*resources_->Get({.id = pipeline_.nodes[1].resource_id}), "update",
                             json{{"pipeline", "pl-gone"}, {"node", 1}}, "alice");
  ASSERT_TRUE(stray.ok());
  Store();
  ASSERT_TRUE(runner_->Recover().ok());
  ASSERT_TRUE(scheduler_->Recover().ok());
  auto p = pipelines_->Get(pipeline_.id);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->nodes[0].job_id, unrecorded.id);
  EXPECT_EQ(p->nodes[0].attempts, 1);
  EXPECT_EQ(jobs_->Get(stray->id)->state, store::JobState::kCancelled);
  EXPECT_EQ(runner_->queued(), 1);
}

}  // namespace
}  // namespace plinth::orchestrator
