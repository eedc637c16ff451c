#include "plinth/store/infra_project_store.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plinth/store/flow_control_store.h"
#include "plinth/store/infra_pipeline_store.h"
#include "plinth/store/stack_job_store.h"
#include "plinth/store/webhook_delivery_store.h"
#include "backends.h"
#include "temp_dir.h"

namespace plinth::store {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

class InfraProjectStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto c = manifest::KindCatalog::CreateWithBuiltins();
    ASSERT_TRUE(c.ok());
    catalog_ = std::move(*c);
    auto db = Database::Open({.path = FreshStore(GetParam(), dir_.path())});
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    projects_ = std::make_unique<InfraProjectStore>(db_.get(), &clock_);
    pipelines_ = std::make_unique<InfraPipelineStore>(db_.get(), &clock_);
    resources_ = std::make_unique<CloudResourceStore>(db_.get(), &clock_);
  }

  std::vector<manifest::Manifest> Namespaces(std::initializer_list<std::string> names) {
    std::string text;
    for (const auto& n : names) text += "---\napiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata: {name: " + n + "}\nspec: {name: " + n + "}\n";
    auto m = manifest::ParseManifests({{"t.yaml", text}}, {.org = "acme", .env = "dev"}, *catalog_);
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? *m : std::vector<manifest::Manifest>{};
  }

  ProjectWrite Create(const std::string& name, std::initializer_list<std::string> namespaces, bool pipeline = true) {
    InfraProjectRecord p;
    p.org = "acme";
    p.env = "dev";
    p.name = name;
    p.chart_name = "c";
    p.chart_version = "1";
    p.chart_source = "inline";
    ProjectRevisionRecord r;
    r.chart_files = {{"Chart.yaml", "x"}};
    r.graph = json::object();
    r.diff = json::object();
    std::optional<PipelineRecord> pl;
    if (pipeline) {
      pl = PipelineRecord{};
      pl->trigger = "create";
    }
    auto w = projects_->Create(p, r, Namespaces(namespaces), pl, "alice");
    EXPECT_TRUE(w.ok()) << w.status();
    return w.ok() ? *w : ProjectWrite{};
  }

  testing::TempDir dir_;
  core::FakeClock clock_{absl::FromUnixSeconds(1700000000)};
  std::unique_ptr<manifest::KindCatalog> catalog_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<InfraProjectStore> projects_;
  std::unique_ptr<InfraPipelineStore> pipelines_;
  std::unique_ptr<CloudResourceStore> resources_;
};

TEST_P(InfraProjectStoreTest, CreateWritesProjectRevisionResourcesAndPipelineTogether) {
  ProjectWrite w = Create("web", {"a", "b"});
  EXPECT_EQ(w.project.revision, 1);
  ASSERT_TRUE(w.pipeline.has_value());
  EXPECT_EQ(w.pipeline->project_id, w.project.id);
  ASSERT_EQ(w.revision.manifests.size(), 2u);
  // The revision's manifests carry the ids of the resources written with them.
  auto a = resources_->Get({.key = {"acme", "dev", "KubernetesNamespace", "a"}});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(w.revision.manifests[0]["metadata"]["id"], a->id);
  EXPECT_EQ(a->project_id, w.project.id);
  auto owned = projects_->OwnedResources(w.project.id);
  ASSERT_TRUE(owned.ok());
  EXPECT_EQ(owned->size(), 2u);
  auto stored = pipelines_->Get(w.pipeline->id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->state, PipelineState::kQueued);
}

TEST_P(InfraProjectStoreTest, AFailedCreateWritesNothing) {
  Create("web", {"a"});
  // "b" is new but "a" is owned by web: the whole create fails.
  InfraProjectRecord p;
  p.org = "acme";
  p.env = "dev";
  p.name = "api";
  ProjectRevisionRecord r;
  auto w = projects_->Create(p, r, Namespaces({"b", "a"}), PipelineRecord{}, "bob");
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(w.status().message(), HasSubstr("owned by infra project"));
  EXPECT_EQ(resources_->Get({.key = {"acme", "dev", "KubernetesNamespace", "b"}}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(projects_->Get({"", "acme", "dev", "api"}).status().code(), absl::StatusCode::kNotFound);
  // A direct write to an owned resource is refused too.
  auto direct = resources_->Apply(Namespaces({"a"}), "bob", false);
  EXPECT_EQ(direct.status().code(), absl::StatusCode::kFailedPrecondition);
}

// Regression: saving a pipeline or a project must not delete its children
// (an INSERT OR REPLACE deletes the row first, and the delete cascaded).
TEST_P(InfraProjectStoreTest, SavingAPipelineKeepsItsNodesAndAProjectKeepsItsRevisions) {
  ProjectWrite w = Create("web", {"a", "b"});
  PipelineRecord p = *w.pipeline;
  p.planned = true;
  p.nodes.resize(2);
  for (int i = 0; i < 2; ++i) {
    p.nodes[i].idx = i;
    p.nodes[i].kind = "KubernetesNamespace";
    p.nodes[i].name = i == 0 ? "a" : "b";
    p.nodes[i].operation = "update";
  }
  ASSERT_TRUE(pipelines_->Save({{&p, {0, 1}, {}, {}, false}}).ok());
  p.state = PipelineState::kRunning;
  p.nodes[1].state = NodeState::kRunning;
  ASSERT_TRUE(pipelines_->Save({{&p, {1}, {}, {}, false}}).ok());
  auto stored = pipelines_->Get(p.id);
  ASSERT_TRUE(stored.ok());
  ASSERT_EQ(stored->nodes.size(), 2u);
  EXPECT_EQ(stored->nodes[0].state, NodeState::kQueued);
  EXPECT_EQ(stored->nodes[1].state, NodeState::kRunning);
  EXPECT_EQ(stored->state, PipelineState::kRunning);

  ProjectRevisionRecord r2;
  r2.graph = json::object();
  r2.diff = json::object();
  auto second = projects_->AddRevision(w.project.id, w.project.version, r2, Namespaces({"a"}), std::nullopt,
                                       std::nullopt, "alice");
  ASSERT_TRUE(second.ok()) << second.status();
  auto settings = projects_->UpdateSettings(w.project.id, 0, ProjectSettings{true, false, false, 2}, "alice");
  ASSERT_TRUE(settings.ok());
  auto revisions = projects_->ListRevisions(w.project.id, 0, "");
  ASSERT_TRUE(revisions.ok());
  EXPECT_EQ(revisions->items.size(), 2u);
  // A stale version is refused.
  auto stale = projects_->AddRevision(w.project.id, 1, r2, Namespaces({"a"}), std::nullopt, std::nullopt, "alice");
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  // "b" left the revision but is still owned until a pipeline destroys it.
  auto owned = projects_->OwnedResources(w.project.id);
  ASSERT_TRUE(owned.ok());
  EXPECT_EQ(owned->size(), 2u);
}

// A node's upstream and plan counts come back as saved; a row written by an
// older plinthd (the job's whole summary, output changes included) still reads.
TEST_P(InfraProjectStoreTest, ANodesUpstreamAndSummaryRoundTrip) {
  ProjectWrite w = Create("web", {"a", "b"});
  PipelineRecord p = *w.pipeline;
  p.planned = true;
  p.nodes.resize(3);
  for (int i = 0; i < 3; ++i) {
    p.nodes[i].idx = i;
    p.nodes[i].kind = "KubernetesNamespace";
    p.nodes[i].name = "n" + std::to_string(i);
  }
  p.nodes[2].upstream = {0, 1};
  p.nodes[1].upstream = {0};
  p.nodes[2].summary = NodeSummary{3, 1, 2, 1, "plan"};
  ASSERT_TRUE(pipelines_->Save({{&p, {0, 1, 2}, {}, {}, false}}).ok());
  ASSERT_TRUE(db_->Write([&](Connection& c) {
                   return c.Exec("UPDATE infra_pipeline_nodes SET summary = '{\"add\":5,\"change\":0,\"remove\":1,"
                                 "\"replace\":0,\"operation\":\"apply\",\"noOp\":4,\"outputChanges\":[{\"name\":"
                                 "\"x\",\"action\":\"create\"}]}' WHERE pipeline_id = '" + p.id + "' AND idx = 1");
                 }).ok());
  auto stored = pipelines_->Get(p.id);
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_EQ(stored->nodes.size(), 3u);
  EXPECT_TRUE(stored->nodes[0].upstream.empty());
  EXPECT_THAT(stored->nodes[1].upstream, ::testing::ElementsAre(0));
  EXPECT_THAT(stored->nodes[2].upstream, ::testing::ElementsAre(0, 1));
  EXPECT_FALSE(stored->nodes[0].summary.has_value()) << "no plan yet: no summary";
  ASSERT_TRUE(stored->nodes[2].summary.has_value());
  EXPECT_EQ(stored->nodes[2].summary->add, 3);
  EXPECT_EQ(stored->nodes[2].summary->change, 1);
  EXPECT_EQ(stored->nodes[2].summary->remove, 2);
  EXPECT_EQ(stored->nodes[2].summary->replace, 1);
  EXPECT_EQ(stored->nodes[2].summary->operation, "plan");
  ASSERT_TRUE(stored->nodes[1].summary.has_value());
  EXPECT_EQ(stored->nodes[1].summary->add, 5);
  EXPECT_EQ(stored->nodes[1].summary->remove, 1);
  EXPECT_EQ(stored->nodes[1].summary->operation, "apply");
}

TEST_P(InfraProjectStoreTest, DeleteRefusesDeployedResourcesUnlessOrphaned) {
  ProjectWrite w = Create("web", {"a", "b"}, /*pipeline=*/false);
  StackJobStore jobs(db_.get(), &clock_);
  auto a = resources_->Get({.key = {"acme", "dev", "KubernetesNamespace", "a"}});
  ASSERT_TRUE(jobs.SetResourceOutputs(a->id, json{{"namespace", "a"}}, "", true, "digest").ok());
  auto refused = projects_->Delete(w.project.id, false, "alice");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("acme/dev/KubernetesNamespace/a"));
  auto orphaned = projects_->Delete(w.project.id, true, "alice");
  ASSERT_TRUE(orphaned.ok());
  EXPECT_THAT(*orphaned, ::testing::ElementsAre("acme/dev/KubernetesNamespace/a"));
  auto kept = resources_->Get({.key = {"acme", "dev", "KubernetesNamespace", "a"}});
  ASSERT_TRUE(kept.ok());
  EXPECT_TRUE(kept->project_id.empty());
  EXPECT_EQ(resources_->Get({.key = {"acme", "dev", "KubernetesNamespace", "b"}}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(InfraProjectStoreTest, PagesAndBadTokens) {
  for (int i = 0; i < 5; ++i) Create("p" + std::to_string(i), {"n" + std::to_string(i)});
  auto first = projects_->List("acme", "", 2, "");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->items.size(), 2u);
  auto second = projects_->List("acme", "", 2, first->next_page_token);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->items[0].name, "p2");
  EXPECT_EQ(projects_->List("acme", "", 2, "!!").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pipelines_->List("x", 2, "abc").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(pipelines_->List("x", -1, "").status().code(), absl::StatusCode::kInvalidArgument);
}

class FlowControlStoreTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FlowControlStoreTest, TheMostSpecificPolicyAppliesWhole) {
  testing::TempDir dir;
  core::FakeClock clock{absl::FromUnixSeconds(1700000000)};
  auto db = Database::Open({.path = FreshStore(GetParam(), dir.path())});
  ASSERT_TRUE(db.ok());
  FlowControlStore store(db->get(), &clock);
  FlowControlPolicy org;
  org.org = "acme";
  org.is_manual = true;
  ASSERT_TRUE(store.Set(org, "alice").ok());
  FlowControlPolicy res;
  res.org = "acme";
  res.env = "dev";
  res.kind = "AwsVpc";
  res.name = "main";
  res.skip_refresh = true;
  ASSERT_TRUE(store.Set(res, "alice").ok());
  auto e = store.Effective("acme", "dev", "AwsVpc", "main");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->scope, "resource");
  EXPECT_FALSE(e->is_manual);  // not merged with the org's
  EXPECT_TRUE(e->skip_refresh);
  e = store.Effective("acme", "dev", "AwsVpc", "other");
  EXPECT_EQ(e->scope, "org");
  EXPECT_TRUE(e->is_manual);
  e = store.Effective("beta", "dev", "", "");
  EXPECT_EQ(e->scope, "default");
  EXPECT_TRUE(e->preview_before_update_or_destroy);
  FlowControlPolicy bad = res;
  bad.requires_manual_gate = true;
  EXPECT_EQ(store.Set(bad, "alice").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store.Delete("acme", "prod", "", "", "alice").code(), absl::StatusCode::kNotFound);
}

TEST_P(InfraProjectStoreTest, GitSourceCommitsAndPipelinesRoundTrip) {
  InfraProjectRecord p;
  p.org = "acme";
  p.env = "dev";
  p.name = "net";
  p.chart_source = "git";
  p.git = {.url = "file:///repo", .branch = "main", .path = "infra", .connection = "gh",
           .webhook_secret_sealed = "c2VhbGVk"};
  p.settings.enable_pull_request_deployments = true;
  ProjectRevisionRecord r;
  r.commit = std::string(40, 'a');
  r.graph = json::object();
  r.diff = json::object();
  PipelineRecord pl;
  pl.trigger = "create";
  auto w = projects_->Create(p, r, Namespaces({"a"}), pl, "alice");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->pipeline->commit, std::string(40, 'a')) << "a pipeline records its revision's commit";
  auto got = projects_->Get({.id = w->project.id});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->git.url, "file:///repo");
  EXPECT_EQ(got->git.path, "infra");
  EXPECT_EQ(got->git.connection, "gh");
  EXPECT_EQ(got->git.webhook_secret_sealed, "c2VhbGVk");
  EXPECT_TRUE(got->settings.enable_pull_request_deployments);
  EXPECT_EQ(projects_->GetRevision(w->project.id, 0)->commit, std::string(40, 'a'));
  auto git = projects_->ListGit();
  ASSERT_TRUE(git.ok());
  ASSERT_EQ(git->size(), 1u);
  Create("chart-project", {"b"});
  EXPECT_EQ(projects_->ListGit()->size(), 1u) << "chart projects are not Git projects";

  // A pipeline that failed before it started: terminal, with its own commit.
  PipelineRecord failed;
  failed.trigger = "push";
  failed.state = PipelineState::kFailed;
  failed.error = "commit bbb: x.yaml: bad";
  failed.commit = std::string(40, 'b');
  auto f = projects_->AddPipeline(w->project.id, failed, "github-webhook");
  ASSERT_TRUE(f.ok()) << f.status();
  auto read = pipelines_->Get(f->id);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->state, PipelineState::kFailed);
  EXPECT_EQ(read->commit, std::string(40, 'b'));
  EXPECT_TRUE(read->ended_at.has_value());
}

TEST_P(InfraProjectStoreTest, AWebhookDeliveryIsClaimedOnce) {
  WebhookDeliveryStore deliveries(db_.get(), &clock_);
  WebhookDeliveryRecord d{.provider = "github", .delivery_id = "d-1", .event = "push", .repo_url = "file:///r",
                          .ref = "refs/heads/main", .commit = "abc"};
  EXPECT_TRUE(*deliveries.Claim(d));
  EXPECT_FALSE(*deliveries.Claim(d)) << "the same id again";
  d.provider = "gitlab";
  EXPECT_TRUE(*deliveries.Claim(d)) << "ids are per provider";
  ASSERT_TRUE(deliveries.Finish("github", "d-1", "net: revision 2", {"pl-1"}).ok());
  auto list = deliveries.List(10);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  bool found = false;
  for (const auto& x : *list) {
    if (x.provider == "github") {
      found = true;
      EXPECT_EQ(x.result, "net: revision 2");
      EXPECT_THAT(x.pipelines, ::testing::ElementsAre("pl-1"));
    }
  }
  EXPECT_TRUE(found);
}

TEST_P(InfraProjectStoreTest, ADeliveryKeepsItsWorkUntilFinished) {
  WebhookDeliveryStore deliveries(db_.get(), &clock_);
  ASSERT_TRUE(*deliveries.Claim({.provider = "github", .delivery_id = "a", .event = "push", .work = "{\"x\":1}"}));
  ASSERT_TRUE(*deliveries.Claim({.provider = "github", .delivery_id = "b", .event = "ping"}));
  auto pending = deliveries.Unfinished();
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u) << "a delivery without work is done when claimed";
  EXPECT_EQ(pending->front().delivery_id, "a");
  EXPECT_EQ(pending->front().work, "{\"x\":1}");
  ASSERT_TRUE(deliveries.Finish("github", "a", "done", {}).ok());
  EXPECT_TRUE(deliveries.Unfinished()->empty());

  // 91 days later, done deliveries are dropped when the next one comes.
  clock_.Advance(absl::Hours(24 * 91));
  ASSERT_TRUE(*deliveries.Claim({.provider = "github", .delivery_id = "c", .event = "push", .work = "{}"}));
  auto left = deliveries.List(10);
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ(left->front().delivery_id, "c");
}

PLINTH_ON_BOTH_BACKENDS(InfraProjectStoreTest);
PLINTH_ON_BOTH_BACKENDS(FlowControlStoreTest);

}  // namespace
}  // namespace plinth::store
