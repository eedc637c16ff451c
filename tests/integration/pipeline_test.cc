// Infra projects and infra pipelines end to end: the real plinthd with the
// simulated engine (plinth-sim-tofu), a test chart sent inline, driven over
// gRPC and through the CLI.
#include <dirent.h>
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/str_split.h"
#include "daemon_process.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "plinth/v1/cloud_resource.grpc.pb.h"
#include "plinth/v1/flow_control.grpc.pb.h"
#include "plinth/v1/infra_chart.grpc.pb.h"
#include "plinth/v1/infra_pipeline.grpc.pb.h"
#include "plinth/v1/infra_project.grpc.pb.h"
#include "plinth/v1/stack_job.grpc.pb.h"
#include "test_paths.h"

namespace plinth::testing {
namespace {

namespace pb = plinth::v1;
using google::protobuf::util::TimeUtil;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// ns <- db <- api, ns <- cache (an independent branch), plus `extra`
// independent namespaces. Annotations drive the simulated engine.
constexpr char kChartYaml[] = R"(apiVersion: infra-hub.planton.dev/v1
kind: InfraChart
metadata: {name: pipeline-test, version: 1.0.0}
spec: {description: test chart}
)";
constexpr char kValuesYaml[] = R"(params:
  - {name: app, value: shop}
  - {name: sleep, value: "0"}
  - {name: db_fail, value: ""}
  - {name: cache, type: bool, value: true}
  - {name: api_tag, value: "1"}
  - {name: gate_api, type: bool, value: false}
  - {name: extra, type: number, value: 0}
  - {name: replicas, type: number, value: 1}
)";
constexpr char kTemplate[] = R"(apiVersion: kubernetes.planton.dev/v1
kind: KubernetesNamespace
metadata:
  name: {{ values.app }}
  group: base
  annotations: {"sim.plinth.dev/sleep-seconds": "{{ values.sleep }}"}
spec: {name: "{{ values.app }}"}
---
apiVersion: kubernetes.planton.dev/v1
kind: KubernetesPostgres
metadata:
  name: {{ values.app }}-db
  annotations: {"sim.plinth.dev/sleep-seconds": "{{ values.sleep }}", "sim.plinth.dev/fail-at": "{{ values.db_fail }}"}
spec:
  namespace: {valueFrom: {kind: KubernetesNamespace, name: {{ values.app }}, fieldPath: status.outputs.namespace}}
  container: {replicas: {{ values.replicas | int }}}
{%- if values.cache %}
---
apiVersion: kubernetes.planton.dev/v1
kind: KubernetesRedis
metadata:
  name: {{ values.app }}-cache
  annotations: {"sim.plinth.dev/sleep-seconds": "{{ values.sleep }}"}
spec:
  namespace: {valueFrom: {kind: KubernetesNamespace, name: {{ values.app }}, fieldPath: status.outputs.namespace}}
  container: {replicas: 1, persistenceEnabled: false}
{%- endif %}
---
apiVersion: kubernetes.planton.dev/v1
kind: KubernetesDeployment
metadata:
  name: {{ values.app }}-api
  labels: {% if values.gate_api %}{"plinth.dev/gate": "manual"}{% else %}{}{% endif %}
  annotations: {"sim.plinth.dev/sleep-seconds": "{{ values.sleep }}"}
  relationships: [{kind: KubernetesPostgres, name: {{ values.app }}-db, type: uses}]
spec:
  namespace: {valueFrom: {kind: KubernetesNamespace, name: {{ values.app }}, fieldPath: status.outputs.namespace}}
  version: {{ values.api_tag | tojson }}
  container:
    app:
      image: {repo: registry.local/api, tag: {{ values.api_tag | tojson }}}
{%- for i in range(values.extra | int) %}
---
apiVersion: kubernetes.planton.dev/v1
kind: KubernetesNamespace
metadata:
  name: {{ values.app }}-extra-{{ i }}
  annotations: {"sim.plinth.dev/sleep-seconds": "{{ values.sleep }}"}
spec: {name: "{{ values.app }}-extra-{{ i }}"}
{%- endfor %}
)";

bool Ended(const std::string& state) { return state == "succeeded" || state == "failed" || state == "cancelled"; }

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = dir_.path() + "/plinthd.yaml";
    std::string sim = std::string(PLINTH_SOURCE_DIR) + "/examples/modules/sim";
    std::ofstream(config_) << "engines: {tofu: {binary: " << PLINTH_BIN_DIR << "/plinth-sim-tofu}}\n"
                           << "modules: {default: {engine: tofu, source: " << sim << "}}\n"
                           << "jobs: {max_concurrent_jobs: 4, cancel_grace_seconds: 2}\n";
    ASSERT_TRUE(daemon_.Start({"--config", config_}).ok()) << daemon_.Stderr();
    Connect();
  }

  void Connect() {
    projects_ = pb::InfraProjectService::NewStub(daemon_.Channel());
    pipelines_ = pb::InfraPipelineService::NewStub(daemon_.Channel());
    policies_ = pb::FlowControlService::NewStub(daemon_.Channel());
    jobs_ = pb::StackJobService::NewStub(daemon_.Channel());
    resources_ = pb::CloudResourceService::NewStub(daemon_.Channel());
    charts_ = pb::InfraChartService::NewStub(daemon_.Channel());
  }

  static void AddChart(google::protobuf::RepeatedPtrField<pb::ChartFile>* files, const std::string& tmpl = kTemplate) {
    for (auto [path, content] : std::vector<std::pair<std::string, std::string>>{
             {"Chart.yaml", kChartYaml}, {"values.yaml", kValuesYaml}, {"templates/all.yaml", tmpl}}) {
      auto* f = files->Add();
      f->set_path(path);
      f->set_content(content);
    }
  }

  grpc::Status Create(const std::string& name, const std::string& values, pb::InfraProjectResponse* resp,
                      const pb::ProjectSettings& settings = {}) {
    pb::CreateInfraProjectRequest req;
    req.set_org("acme");
    req.set_env("dev");
    req.set_name(name);
    AddChart(req.mutable_inline_()->mutable_files());
    req.set_values_yaml(values);
    *req.mutable_settings() = settings;
    return projects_->CreateInfraProject(DaemonProcess::Context().get(), req, resp);
  }

  pb::InfraProjectResponse MustCreate(const std::string& name, const std::string& values,
                                      const pb::ProjectSettings& settings = {}) {
    pb::InfraProjectResponse resp;
    grpc::Status s = Create(name, values, &resp, settings);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  pb::InfraProjectResponse Update(const std::string& name, const std::string& values) {
    pb::UpdateInfraProjectRequest req;
    req.mutable_project()->set_org("acme");
    req.mutable_project()->set_name(name);
    req.set_values_yaml(values);
    pb::InfraProjectResponse resp;
    grpc::Status s = projects_->UpdateInfraProject(DaemonProcess::Context().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  pb::InfraProjectResponse Action(const std::string& name, const std::string& what) {
    pb::ProjectActionRequest req;
    req.mutable_project()->set_org("acme");
    req.mutable_project()->set_name(name);
    pb::InfraProjectResponse resp;
    auto ctx = DaemonProcess::Context();
    grpc::Status s = what == "undeploy" ? projects_->UndeployInfraProject(ctx.get(), req, &resp)
                     : what == "purge"  ? projects_->PurgeInfraProject(ctx.get(), req, &resp)
                                        : projects_->RunInfraProjectPipeline(ctx.get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  pb::InfraPipeline Get(const std::string& id) {
    pb::GetInfraPipelineRequest req;
    req.set_id(id);
    pb::InfraPipeline p;
    grpc::Status s = pipelines_->GetInfraPipeline(DaemonProcess::Context().get(), req, &p);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return p;
  }

  // Polls until `done` holds (or 60 s pass: a test failure).
  template <typename Pred>
  pb::InfraPipeline WaitFor(const std::string& id, Pred done, const std::string& what) {
    pb::InfraPipeline p;
    for (int i = 0; i < 1200; ++i) {
      p = Get(id);
      if (done(p)) return p;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "pipeline " << id << " never reached: " << what << "; last state " << p.DebugString();
    return p;
  }

  pb::InfraPipeline Wait(const std::string& id) {
    return WaitFor(id, [](const pb::InfraPipeline& p) { return Ended(p.state()); }, "its end");
  }

  static const pb::PipelineNode& Node(const pb::InfraPipeline& p, const std::string& kind_name) {
    for (const auto& n : p.nodes()) {
      if (n.kind() + "/" + n.name() == kind_name) return n;
    }
    static pb::PipelineNode none;
    ADD_FAILURE() << "no node " << kind_name << " in " << p.DebugString();
    return none;
  }

  // "" while the node does not exist (before the pipeline is planned).
  static std::string NodeState(const pb::InfraPipeline& p, const std::string& kind_name) {
    for (const auto& n : p.nodes()) {
      if (n.kind() + "/" + n.name() == kind_name) return n.state();
    }
    return "";
  }

  static std::map<std::string, std::string> States(const pb::InfraPipeline& p) {
    std::map<std::string, std::string> out;
    for (const auto& n : p.nodes()) out[n.kind() + "/" + n.name()] = n.operation() + ":" + n.state();
    return out;
  }

  std::vector<pb::StackJob> Jobs(const std::string& kind, const std::string& name) {
    pb::ListStackJobsRequest req;
    auto* key = req.mutable_key();
    key->set_org("acme");
    key->set_env("dev");
    key->set_kind(kind);
    key->set_name(name);
    req.set_page_size(100);
    pb::ListStackJobsResponse resp;
    grpc::Status s = jobs_->ListStackJobs(DaemonProcess::Context().get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {resp.jobs().begin(), resp.jobs().end()};
  }

  grpc::Status GetResource(const std::string& kind, const std::string& name, pb::CloudResource* out) {
    pb::GetCloudResourceRequest req;
    auto* key = req.mutable_key();
    key->set_org("acme");
    key->set_env("dev");
    key->set_kind(kind);
    key->set_name(name);
    return resources_->GetCloudResource(DaemonProcess::Context().get(), req, out);
  }

  grpc::Status Resolve(const std::string& pipeline, const std::string& node, bool approve, const std::string& comment,
                       pb::InfraPipeline* out) {
    pb::ResolveGateRequest req;
    req.set_pipeline_id(pipeline);
    req.set_node(node);
    req.set_approve(approve);
    req.set_comment(comment);
    return pipelines_->ResolveGate(DaemonProcess::Context().get(), req, out);
  }

  void SetPolicy(const pb::FlowControlPolicy& policy) {
    pb::SetFlowControlPolicyRequest req;
    *req.mutable_policy() = policy;
    pb::FlowControlPolicy out;
    grpc::Status s = policies_->SetFlowControlPolicy(DaemonProcess::Context().get(), req, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  static int64_t Micros(const google::protobuf::Timestamp& t) { return TimeUtil::TimestampToMicroseconds(t); }

  TempDir dir_;
  std::string config_;
  DaemonProcess daemon_;
  std::unique_ptr<pb::InfraProjectService::Stub> projects_;
  std::unique_ptr<pb::InfraPipelineService::Stub> pipelines_;
  std::unique_ptr<pb::FlowControlService::Stub> policies_;
  std::unique_ptr<pb::StackJobService::Stub> jobs_;
  std::unique_ptr<pb::CloudResourceService::Stub> resources_;
  std::unique_ptr<pb::InfraChartService::Stub> charts_;
};

TEST_F(PipelineTest, InstallDeploysInDependencyOrderAndKeepsARevision) {
  pb::InfraProjectResponse created = MustCreate("shop", "");
  ASSERT_TRUE(created.has_pipeline());
  EXPECT_EQ(created.project().revision(), 1);
  EXPECT_EQ(created.revision().diff().added_size(), 4);
  // The revision in the answer lists the pipeline the call started.
  EXPECT_THAT(created.revision().pipeline_ids(), ElementsAre(created.pipeline().id()));
  pb::InfraPipeline p = Wait(created.pipeline().id());
  ASSERT_EQ(p.state(), "succeeded") << p.DebugString();
  EXPECT_THAT(States(p), UnorderedElementsAre(
                             std::pair<const std::string, std::string>("KubernetesNamespace/shop", "update:succeeded"),
                             std::pair<const std::string, std::string>("KubernetesPostgres/shop-db", "update:succeeded"),
                             std::pair<const std::string, std::string>("KubernetesRedis/shop-cache", "update:succeeded"),
                             std::pair<const std::string, std::string>("KubernetesDeployment/shop-api", "update:succeeded")));
  // Every node started after each of its upstream nodes ended.
  for (const auto& n : p.nodes()) {
    for (int u : n.upstream()) {
      EXPECT_GE(Micros(n.start_time()), Micros(p.nodes(u).end_time())) << n.name() << " after " << p.nodes(u).name();
    }
    EXPECT_FALSE(n.stack_job_id().empty());
  }
  EXPECT_EQ(Node(p, "KubernetesNamespace/shop").layer(), 0);
  EXPECT_EQ(Node(p, "KubernetesPostgres/shop-db").layer(), 1);
  EXPECT_EQ(Node(p, "KubernetesDeployment/shop-api").layer(), 2);
  // The database's job got the namespace's output through the reference.
  pb::CloudResource db;
  ASSERT_TRUE(GetResource("KubernetesPostgres", "shop-db", &db).ok());
  EXPECT_TRUE(db.deployed());

  pb::ListInfraProjectRevisionsRequest hreq;
  hreq.mutable_project()->set_id(created.project().id());
  pb::ListInfraProjectRevisionsResponse history;
  ASSERT_TRUE(projects_->ListInfraProjectRevisions(DaemonProcess::Context().get(), hreq, &history).ok());
  ASSERT_EQ(history.revisions_size(), 1);
  EXPECT_EQ(history.revisions(0).actor(), "anonymous");
  EXPECT_EQ(history.revisions(0).chart_name(), "pipeline-test");
  EXPECT_THAT(history.revisions(0).pipeline_ids(), ElementsAre(p.id()));
  EXPECT_THAT(history.revisions(0).manifests_yaml(), HasSubstr("name: shop-db"));

  pb::GetInfraProjectGraphRequest greq;
  greq.mutable_project()->set_org("acme");
  greq.mutable_project()->set_name("shop");
  pb::InfraProjectGraph graph;
  ASSERT_TRUE(projects_->GetInfraProjectGraph(DaemonProcess::Context().get(), greq, &graph).ok());
  EXPECT_EQ(graph.graph().nodes_size(), 4);
  EXPECT_THAT(graph.dot(), HasSubstr("shop-db"));

  // Owned resources change only through the project.
  pb::DeleteCloudResourceRequest dreq;
  dreq.mutable_key()->set_org("acme");
  dreq.mutable_key()->set_env("dev");
  dreq.mutable_key()->set_kind("KubernetesPostgres");
  dreq.mutable_key()->set_name("shop-db");
  pb::DeleteCloudResourceResponse dresp;
  grpc::Status s = resources_->DeleteCloudResource(DaemonProcess::Context().get(), dreq, &dresp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("owned by infra project"));
}

TEST_F(PipelineTest, UpdateDeploysChangesDestroysRemovedAndRollbackRestores) {
  ASSERT_EQ(Wait(MustCreate("shop", "").pipeline().id()).state(), "succeeded");
  // api_tag changes the api; cache: false removes the cache.
  pb::InfraProjectResponse updated = Update("shop", "api_tag: \"2\"\ncache: false\n");
  EXPECT_EQ(updated.project().revision(), 2);
  EXPECT_THAT(updated.revision().diff().changed(), ElementsAre("dev/KubernetesDeployment/shop-api"));
  EXPECT_THAT(updated.revision().diff().removed(), ElementsAre("dev/KubernetesRedis/shop-cache"));
  pb::InfraPipeline p = Wait(updated.pipeline().id());
  ASSERT_EQ(p.state(), "succeeded") << p.DebugString();
  EXPECT_THAT(States(p), UnorderedElementsAre(
                             std::pair<const std::string, std::string>("KubernetesDeployment/shop-api", "update:succeeded"),
                             std::pair<const std::string, std::string>("KubernetesRedis/shop-cache", "destroy:succeeded")));
  // The removed resource is destroyed after the new revision is in place.
  EXPECT_GE(Micros(Node(p, "KubernetesRedis/shop-cache").start_time()),
            Micros(Node(p, "KubernetesDeployment/shop-api").end_time()));
  pb::CloudResource cache;
  EXPECT_EQ(GetResource("KubernetesRedis", "shop-cache", &cache).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Jobs("KubernetesNamespace", "shop").size(), 1u) << "an unchanged resource ran again";

  pb::RollbackInfraProjectRequest rreq;
  rreq.mutable_project()->set_org("acme");
  rreq.mutable_project()->set_name("shop");
  rreq.set_revision(1);
  pb::InfraProjectResponse rolled;
  ASSERT_TRUE(projects_->RollbackInfraProject(DaemonProcess::Context().get(), rreq, &rolled).ok());
  EXPECT_EQ(rolled.project().revision(), 3);
  EXPECT_EQ(rolled.revision().rollback_of(), 1);
  EXPECT_THAT(rolled.revision().diff().added(), ElementsAre("dev/KubernetesRedis/shop-cache"));
  p = Wait(rolled.pipeline().id());
  ASSERT_EQ(p.state(), "succeeded") << p.DebugString();
  ASSERT_TRUE(GetResource("KubernetesRedis", "shop-cache", &cache).ok());
  EXPECT_TRUE(cache.deployed());

  // run-pipeline redeploys every resource of the current revision.
  p = Wait(Action("shop", "run").pipeline().id());
  EXPECT_EQ(p.state(), "succeeded");
  EXPECT_EQ(p.nodes_size(), 4);
  EXPECT_EQ(p.trigger(), "run");
}

TEST_F(PipelineTest, AFailureSkipsItsDownstreamWhileOtherBranchesGoOn) {
  pb::InfraProjectResponse created = MustCreate("shop", "db_fail: apply\n");
  pb::InfraPipeline p = Wait(created.pipeline().id());
  EXPECT_EQ(p.state(), "failed");
  EXPECT_EQ(Node(p, "KubernetesPostgres/shop-db").state(), "failed");
  EXPECT_THAT(Node(p, "KubernetesPostgres/shop-db").error(), HasSubstr("simulated failure at apply"));
  EXPECT_EQ(Node(p, "KubernetesDeployment/shop-api").state(), "skipped");
  EXPECT_THAT(Node(p, "KubernetesDeployment/shop-api").error(), HasSubstr("KubernetesPostgres/shop-db failed"));
  EXPECT_TRUE(Node(p, "KubernetesDeployment/shop-api").stack_job_id().empty());
  EXPECT_EQ(Node(p, "KubernetesRedis/shop-cache").state(), "succeeded");
  EXPECT_THAT(p.error(), HasSubstr("KubernetesPostgres/shop-db"));

  // The fix: the db and what it blocked run; what succeeded does not.
  pb::InfraProjectResponse fixed = Update("shop", "db_fail: \"\"\n");
  p = Wait(fixed.pipeline().id());
  ASSERT_EQ(p.state(), "succeeded") << p.DebugString();
  EXPECT_THAT(States(p), UnorderedElementsAre(
                             std::pair<const std::string, std::string>("KubernetesPostgres/shop-db", "update:succeeded"),
                             std::pair<const std::string, std::string>("KubernetesDeployment/shop-api", "update:succeeded")));
  EXPECT_EQ(Jobs("KubernetesRedis", "shop-cache").size(), 1u);
}

TEST_F(PipelineTest, PerPipelineLimitAndOnePipelineOfAProjectAtATime) {
  pb::ProjectSettings settings;
  settings.set_max_parallel_jobs(1);
  pb::InfraProjectResponse created = MustCreate("shop", "sleep: \"0.3\"\nextra: 2\n", settings);
  // An update while the first pipeline runs: its pipeline waits, queued.
  pb::InfraProjectResponse second = Update("shop", "sleep: \"0.3\"\nextra: 2\napi_tag: \"2\"\n");
  EXPECT_EQ(Get(second.pipeline().id()).state(), "queued");
  pb::InfraPipeline first = Wait(created.pipeline().id());
  ASSERT_EQ(first.state(), "succeeded") << first.DebugString();
  EXPECT_EQ(first.max_parallel_jobs(), 1);
  std::vector<std::pair<int64_t, int64_t>> spans;
  for (const auto& n : first.nodes()) spans.push_back({Micros(n.start_time()), Micros(n.end_time())});
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i) EXPECT_GE(spans[i].first, spans[i - 1].second) << "two jobs at once";
  pb::InfraPipeline next = Wait(second.pipeline().id());
  ASSERT_EQ(next.state(), "succeeded");
  EXPECT_GE(Micros(next.start_time()), Micros(first.end_time()));
  EXPECT_EQ(States(next).size(), 1u);  // only the api changed
}

TEST_F(PipelineTest, PipelineAndNodeGatesWaitForADecisionThatIsAudited) {
  pb::ProjectSettings settings;
  settings.set_requires_manual_gate(true);
  pb::InfraProjectResponse created = MustCreate("shop", "gate_api: true\n", settings);
  std::string id = created.pipeline().id();
  pb::InfraPipeline p = WaitFor(id, [](const auto& p) { return p.state() == "awaiting_approval"; }, "the gate");
  EXPECT_EQ(p.gate(), "waiting");
  for (const auto& n : p.nodes()) EXPECT_TRUE(n.stack_job_id().empty()) << "a job ran before the gate";
  pb::InfraPipeline out;
  // A node gate that is not waiting cannot be approved.
  EXPECT_EQ(Resolve(id, "KubernetesDeployment/shop-api", true, "", &out).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(Resolve(id, "", true, "change 42", &out).ok());
  // The api's label gate: it waits after the db, the others finish.
  p = WaitFor(id, [](const auto& p) { return NodeState(p, "KubernetesDeployment/shop-api") == "awaiting_approval"; },
              "the api's gate");
  EXPECT_EQ(Node(p, "KubernetesDeployment/shop-api").awaiting(), "gate");
  EXPECT_EQ(Node(p, "KubernetesDeployment/shop-api").gate(), "manual");
  p = WaitFor(id, [](const auto& p) { return p.state() == "awaiting_approval"; }, "waiting on the api only");
  EXPECT_EQ(Resolve(id, "", true, "", &out).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Resolve(id, "KubernetesNope/x", true, "", &out).error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(Resolve(id, "KubernetesDeployment/shop-api", false, "not today", &out).ok());
  p = Wait(id);
  EXPECT_EQ(p.state(), "failed");
  EXPECT_EQ(Node(p, "KubernetesDeployment/shop-api").state(), "failed");
  EXPECT_THAT(Node(p, "KubernetesDeployment/shop-api").error(), HasSubstr("gate rejected by anonymous: not today"));
  ASSERT_EQ(p.decisions_size(), 2);
  EXPECT_EQ(p.decisions(0).target(), "pipeline");
  EXPECT_TRUE(p.decisions(0).approved());
  EXPECT_EQ(p.decisions(0).comment(), "change 42");
  EXPECT_EQ(p.decisions(1).target(), "KubernetesDeployment/shop-api");
  EXPECT_FALSE(p.decisions(1).approved());
  EXPECT_EQ(p.decisions(1).actor(), "anonymous");
  // A gate of an ended pipeline is not waiting.
  EXPECT_EQ(Resolve(id, "", true, "", &out).error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  // A rejected pipeline gate fails the pipeline without running anything.
  pb::InfraProjectResponse again = Action("shop", "run");
  WaitFor(again.pipeline().id(), [](const auto& p) { return p.gate() == "waiting"; }, "the gate");
  ASSERT_TRUE(Resolve(again.pipeline().id(), "", false, "freeze", &out).ok());
  p = Wait(again.pipeline().id());
  EXPECT_EQ(p.state(), "failed");
  EXPECT_THAT(p.error(), HasSubstr("rejected by anonymous: freeze"));
  for (const auto& n : p.nodes()) EXPECT_TRUE(n.stack_job_id().empty());
}

TEST_F(PipelineTest, FlowControlPoliciesGateSkipAndPauseJobs) {
  pb::FlowControlPolicy pause;
  pause.set_org("acme");
  pause.set_env("dev");
  pause.set_kind("KubernetesPostgres");
  pause.set_name("shop-db");
  pause.set_pause_between_preview_and_update_or_destroy(true);
  SetPolicy(pause);
  pb::FlowControlPolicy lifecycle;
  lifecycle.set_org("acme");
  lifecycle.set_env("dev");
  lifecycle.set_kind("KubernetesRedis");
  lifecycle.set_name("shop-cache");
  lifecycle.set_disable_on_lifecycle_events(true);
  SetPolicy(lifecycle);
  pb::FlowControlPolicy direct;
  direct.set_org("acme");
  direct.set_env("dev");
  direct.set_kind("KubernetesNamespace");
  direct.set_name("shop");
  direct.set_preview_before_update_or_destroy(false);
  direct.set_skip_refresh(true);
  SetPolicy(direct);

  pb::InfraProjectResponse created = MustCreate("shop", "");
  std::string id = created.pipeline().id();
  pb::InfraPipeline p = WaitFor(
      id, [](const auto& p) { return NodeState(p, "KubernetesPostgres/shop-db") == "awaiting_approval"; }, "the plan pause");
  const auto& db = Node(p, "KubernetesPostgres/shop-db");
  EXPECT_EQ(db.awaiting(), "plan");
  EXPECT_EQ(db.summary().add(), 1) << "the approver sees the plan's summary";
  pb::InfraPipeline out;
  ASSERT_TRUE(Resolve(id, "KubernetesPostgres/shop-db", true, "looks right", &out).ok());
  p = Wait(id);
  ASSERT_EQ(p.state(), "succeeded") << p.DebugString();
  // The cache is left out on a lifecycle event, with a note.
  EXPECT_EQ(States(p).count("KubernetesRedis/shop-cache"), 0u);
  bool noted = false;
  for (const auto& n : p.notes()) noted |= n.find("KubernetesRedis/shop-cache: left out") != std::string::npos;
  EXPECT_TRUE(noted);
  // The namespace applied without a saved plan: no plan step.
  auto ns_jobs = Jobs("KubernetesNamespace", "shop");
  ASSERT_EQ(ns_jobs.size(), 1u);
  for (const auto& step : ns_jobs[0].steps()) EXPECT_NE(step.name(), "plan");
  EXPECT_TRUE(ns_jobs[0].skip_refresh());
  // run-pipeline is not a lifecycle event: the cache is deployed. The db's
  // plan has no changes this time: nothing to approve, it goes on.
  p = Wait(Action("shop", "run").pipeline().id());
  EXPECT_EQ(p.state(), "succeeded");
  EXPECT_EQ(Node(p, "KubernetesRedis/shop-cache").state(), "succeeded");
  EXPECT_EQ(Node(p, "KubernetesPostgres/shop-db").summary().add(), 0);
}

TEST_F(PipelineTest, FlowControlPolicyApi) {
  auto ctx = [] { return DaemonProcess::Context(); };
  pb::SetFlowControlPolicyRequest empty;
  pb::FlowControlPolicy none;
  grpc::Status e = policies_->SetFlowControlPolicy(ctx().get(), empty, &none);
  EXPECT_EQ(e.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(e.error_message(), HasSubstr("policy: required"));
  pb::SetFlowControlPolicyRequest bad;
  bad.mutable_policy()->set_org("acme");
  bad.mutable_policy()->set_env("dev");
  bad.mutable_policy()->set_preview_before_update_or_destroy(false);
  bad.mutable_policy()->set_pause_between_preview_and_update_or_destroy(true);
  pb::FlowControlPolicy out;
  grpc::Status s = policies_->SetFlowControlPolicy(ctx().get(), bad, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("pause_between_preview_and_update_or_destroy"));
  bad.mutable_policy()->set_pause_between_preview_and_update_or_destroy(false);
  bad.mutable_policy()->set_kind("AwsVpc");
  s = policies_->SetFlowControlPolicy(ctx().get(), bad, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("name: required with kind"));

  pb::FlowControlPolicy org;
  org.set_org("acme");
  org.set_is_manual(true);
  SetPolicy(org);
  pb::FlowControlPolicy env;
  env.set_org("acme");
  env.set_env("prod");
  env.set_skip_refresh(true);
  SetPolicy(env);
  pb::GetFlowControlPolicyRequest q;
  q.set_org("acme");
  q.set_env("prod");
  q.set_kind("AwsVpc");
  q.set_name("main");
  ASSERT_TRUE(policies_->GetEffectiveFlowControlPolicy(ctx().get(), q, &out).ok());
  EXPECT_EQ(out.scope(), "env");  // the most specific applies whole: not manual
  EXPECT_FALSE(out.is_manual());
  EXPECT_TRUE(out.skip_refresh());
  q.set_env("dev");
  ASSERT_TRUE(policies_->GetEffectiveFlowControlPolicy(ctx().get(), q, &out).ok());
  EXPECT_EQ(out.scope(), "org");
  EXPECT_TRUE(out.is_manual());
  q.set_org("other");
  ASSERT_TRUE(policies_->GetEffectiveFlowControlPolicy(ctx().get(), q, &out).ok());
  EXPECT_EQ(out.scope(), "default");
  EXPECT_TRUE(out.preview_before_update_or_destroy());
  EXPECT_EQ(policies_->GetFlowControlPolicy(ctx().get(), q, &out).error_code(), grpc::StatusCode::NOT_FOUND);
  pb::ListFlowControlPoliciesRequest lreq;
  lreq.set_org("acme");
  pb::ListFlowControlPoliciesResponse list;
  ASSERT_TRUE(policies_->ListFlowControlPolicies(ctx().get(), lreq, &list).ok());
  EXPECT_EQ(list.policies_size(), 2);
  pb::GetFlowControlPolicyRequest del;
  del.set_org("acme");
  del.set_env("prod");
  pb::DeleteFlowControlPolicyResponse dresp;
  EXPECT_TRUE(policies_->DeleteFlowControlPolicy(ctx().get(), del, &dresp).ok());
  EXPECT_EQ(policies_->DeleteFlowControlPolicy(ctx().get(), del, &dresp).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(PipelineTest, UndeployPurgeAndDeleteNeverLoseTrackOfInfrastructure) {
  ASSERT_EQ(Wait(MustCreate("shop", "").pipeline().id()).state(), "succeeded");
  pb::DeleteInfraProjectRequest dreq;
  dreq.mutable_project()->set_org("acme");
  dreq.mutable_project()->set_name("shop");
  pb::DeleteInfraProjectResponse dresp;
  grpc::Status s = projects_->DeleteInfraProject(DaemonProcess::Context().get(), dreq, &dresp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("4 deployed resource(s)"));

  pb::InfraPipeline p = Wait(Action("shop", "undeploy").pipeline().id());
  ASSERT_EQ(p.state(), "succeeded") << p.DebugString();
  EXPECT_EQ(p.kind(), "undeploy");
  // Reverse order: the api before the db, the db and cache before the namespace.
  EXPECT_GE(Micros(Node(p, "KubernetesPostgres/shop-db").start_time()),
            Micros(Node(p, "KubernetesDeployment/shop-api").end_time()));
  EXPECT_GE(Micros(Node(p, "KubernetesNamespace/shop").start_time()),
            Micros(Node(p, "KubernetesPostgres/shop-db").end_time()));
  EXPECT_GE(Micros(Node(p, "KubernetesNamespace/shop").start_time()),
            Micros(Node(p, "KubernetesRedis/shop-cache").end_time()));
  pb::CloudResource db;
  ASSERT_TRUE(GetResource("KubernetesPostgres", "shop-db", &db).ok()) << "undeploy keeps the records";
  EXPECT_FALSE(db.deployed());
  pb::GetInfraProjectRequest greq;
  greq.mutable_project()->set_org("acme");
  greq.mutable_project()->set_name("shop");
  pb::InfraProject project;
  ASSERT_TRUE(projects_->GetInfraProject(DaemonProcess::Context().get(), greq, &project).ok());

  // Purge: a destroy that fails keeps the record ...
  ASSERT_EQ(Wait(MustCreate("web", "app: web\n").pipeline().id()).state(), "succeeded");
  pb::InfraProjectResponse web = Update("web", "app: web\ndb_fail: plan\n");
  Wait(web.pipeline().id());  // fails: the db's plan fails
  ASSERT_EQ(Wait(Action("web", "purge").pipeline().id()).state(), "failed");
  greq.mutable_project()->set_name("web");
  EXPECT_TRUE(projects_->GetInfraProject(DaemonProcess::Context().get(), greq, &project).ok());
  // ... and one that succeeds deletes it with its resources.
  Wait(Update("web", "app: web\n").pipeline().id());
  ASSERT_EQ(Wait(Action("web", "purge").pipeline().id()).state(), "succeeded");
  EXPECT_EQ(projects_->GetInfraProject(DaemonProcess::Context().get(), greq, &project).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(GetResource("KubernetesPostgres", "web-db", &db).error_code(), grpc::StatusCode::NOT_FOUND);

  // Delete with orphan_resources keeps deployed resources, unowned.
  ASSERT_EQ(Wait(MustCreate("api", "app: api\n").pipeline().id()).state(), "succeeded");
  dreq.mutable_project()->set_name("api");
  dreq.set_orphan_resources(true);
  ASSERT_TRUE(projects_->DeleteInfraProject(DaemonProcess::Context().get(), dreq, &dresp).ok());
  EXPECT_EQ(dresp.orphaned_size(), 4);
  ASSERT_TRUE(GetResource("KubernetesPostgres", "api-db", &db).ok());
  EXPECT_TRUE(db.deployed());
  // Undeployed "shop" deletes without orphaning; its records go with it.
  dreq.mutable_project()->set_name("shop");
  dreq.set_orphan_resources(false);
  ASSERT_TRUE(projects_->DeleteInfraProject(DaemonProcess::Context().get(), dreq, &dresp).ok());
  EXPECT_EQ(GetResource("KubernetesPostgres", "shop-db", &db).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(PipelineTest, CancelStopsRunningJobsAndQueuedNodes) {
  pb::InfraProjectResponse created = MustCreate("shop", "sleep: \"5\"\n");
  std::string id = created.pipeline().id();
  WaitFor(id, [](const auto& p) { return NodeState(p, "KubernetesNamespace/shop") == "running"; }, "a running job");
  pb::CancelInfraPipelineRequest req;
  req.set_id(id);
  pb::InfraPipeline out;
  ASSERT_TRUE(pipelines_->CancelInfraPipeline(DaemonProcess::Context().get(), req, &out).ok());
  pb::InfraPipeline p = Wait(id);
  EXPECT_EQ(p.state(), "cancelled");
  for (const auto& n : p.nodes()) EXPECT_EQ(n.state(), "cancelled") << n.name();
  EXPECT_TRUE(Node(p, "KubernetesPostgres/shop-db").stack_job_id().empty());
  grpc::Status s = pipelines_->CancelInfraPipeline(DaemonProcess::Context().get(), req, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("already ended (cancelled)"));
}

TEST_F(PipelineTest, BadInputIsRefusedAndNothingIsWritten) {
  pb::InfraProjectResponse resp;
  // A param that fails its check.
  grpc::Status s = Create("shop", "extra: many\n", &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("extra"));
  // A cyclic graph.
  pb::CreateInfraProjectRequest cyc;
  cyc.set_org("acme");
  cyc.set_env("dev");
  cyc.set_name("cyclic");
  AddChart(cyc.mutable_inline_()->mutable_files(),
           "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata:\n  name: a\n  relationships: "
           "[{kind: KubernetesNamespace, name: b, type: uses}]\nspec: {name: a}\n---\napiVersion: kubernetes.planton.dev/v1\nkind: "
           "KubernetesNamespace\nmetadata:\n  name: b\n  relationships: [{kind: KubernetesNamespace, name: a, type: uses}]\nspec: {name: b}\n");
  s = projects_->CreateInfraProject(DaemonProcess::Context().get(), cyc, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("dependency cycle"));
  // A chart version that does not exist.
  pb::CreateInfraProjectRequest missing;
  missing.set_org("acme");
  missing.set_env("dev");
  missing.set_name("missing");
  missing.mutable_chart()->set_name("pipeline-test");
  missing.mutable_chart()->set_version("9.9.9");
  s = projects_->CreateInfraProject(DaemonProcess::Context().get(), missing, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  // Nothing was written: no project, no resource.
  pb::ListInfraProjectsRequest lreq;
  pb::ListInfraProjectsResponse list;
  ASSERT_TRUE(projects_->ListInfraProjects(DaemonProcess::Context().get(), lreq, &list).ok());
  EXPECT_EQ(list.projects_size(), 0);
  pb::ListCloudResourcesRequest rreq;
  pb::ListCloudResourcesResponse rlist;
  ASSERT_TRUE(resources_->ListCloudResources(DaemonProcess::Context().get(), rreq, &rlist).ok());
  EXPECT_EQ(rlist.resources_size(), 0);

  // A stored chart used by a project cannot be deleted.
  pb::PushInfraChartRequest push;
  AddChart(push.mutable_files());
  pb::PushInfraChartResponse pushed;
  ASSERT_TRUE(charts_->PushInfraChart(DaemonProcess::Context().get(), push, &pushed).ok());
  pb::CreateInfraProjectRequest stored;
  stored.set_org("acme");
  stored.set_env("dev");
  stored.set_name("stored");
  stored.mutable_chart()->set_name("pipeline-test");
  stored.set_no_deploy(true);
  ASSERT_TRUE(projects_->CreateInfraProject(DaemonProcess::Context().get(), stored, &resp).ok());
  EXPECT_EQ(resp.project().chart_version(), "1.0.0");
  EXPECT_FALSE(resp.has_pipeline());
  pb::DeleteInfraChartRequest dchart;
  dchart.set_name("pipeline-test");
  dchart.set_version("1.0.0");
  pb::DeleteInfraChartResponse dchart_resp;
  s = charts_->DeleteInfraChart(DaemonProcess::Context().get(), dchart, &dchart_resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("acme/dev/stored"));
  // The same name again; a resource another project owns.
  s = projects_->CreateInfraProject(DaemonProcess::Context().get(), stored, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  // "stored" renders app=shop: a second project with the same resources collides.
  s = Create("shop", "", &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("owned by infra project"));
  // A stale version.
  pb::UpdateInfraProjectRequest ureq;
  ureq.mutable_project()->set_org("acme");
  ureq.mutable_project()->set_name("stored");
  ureq.set_expected_version(7);
  ureq.set_values_yaml("api_tag: \"3\"\n");
  s = projects_->UpdateInfraProject(DaemonProcess::Context().get(), ureq, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
  // Rolling back to a revision that does not exist.
  pb::RollbackInfraProjectRequest rb;
  rb.mutable_project()->set_org("acme");
  rb.mutable_project()->set_name("stored");
  rb.set_revision(5);
  s = projects_->RollbackInfraProject(DaemonProcess::Context().get(), rb, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  // An unknown pipeline.
  pb::CancelInfraPipelineRequest c;
  c.set_id("pl-nope");
  pb::InfraPipeline p;
  EXPECT_EQ(pipelines_->CancelInfraPipeline(DaemonProcess::Context().get(), c, &p).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(PipelineTest, WatchStreamsSnapshotsUntilTheEnd) {
  pb::InfraProjectResponse created = MustCreate("shop", "sleep: \"0.2\"\n");
  pb::WatchInfraPipelineRequest req;
  req.set_id(created.pipeline().id());
  grpc::ClientContext ctx;
  auto reader = pipelines_->WatchInfraPipeline(&ctx, req);
  pb::InfraPipeline p;
  std::vector<pb::InfraPipeline> seen;
  while (reader->Read(&p)) seen.push_back(p);
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_GE(seen.size(), 3u);
  EXPECT_EQ(seen.back().state(), "succeeded");
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_GT(seen[i].change(), seen[i - 1].change());
  bool saw_running = false;
  for (const auto& s : seen) saw_running |= s.state() == "running";
  EXPECT_TRUE(saw_running);
}

TEST_F(PipelineTest, WatchingAProjectFollowsEachNewPipelineAndNeverEndsByItself) {
  pb::InfraProjectResponse created = MustCreate("shop", "");
  ASSERT_EQ(Wait(created.pipeline().id()).state(), "succeeded");
  pb::WatchInfraPipelineRequest req;
  req.set_org("acme");
  req.set_env("dev");
  req.set_project_name("shop");
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto reader = pipelines_->WatchInfraPipeline(&ctx, req);
  pb::InfraPipeline p;
  // First the newest pipeline as it is now.
  ASSERT_TRUE(reader->Read(&p));
  EXPECT_EQ(p.id(), created.pipeline().id());
  EXPECT_EQ(p.state(), "succeeded");
  // A pipeline started by someone else shows up on the same stream, to its end.
  std::string next = Action("shop", "run").pipeline().id();
  ASSERT_NE(next, created.pipeline().id());
  bool ended = false;
  while (!ended && reader->Read(&p)) {
    EXPECT_EQ(p.id(), next);
    ended = p.state() == "succeeded";
  }
  EXPECT_TRUE(ended);
  // The stream stays open after the pipeline ended: the client ends it.
  ctx.TryCancel();
  EXPECT_FALSE(reader->Read(&p));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);

  // A project that does not exist, or no project at all: refused at once.
  req.set_project_name("nope");
  grpc::ClientContext ctx2;
  auto missing = pipelines_->WatchInfraPipeline(&ctx2, req);
  EXPECT_FALSE(missing->Read(&p));
  EXPECT_EQ(missing->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext ctx3;
  auto neither = pipelines_->WatchInfraPipeline(&ctx3, pb::WatchInfraPipelineRequest());
  EXPECT_FALSE(neither->Read(&p));
  grpc::Status s = neither->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("project_name"));
}

TEST_F(PipelineTest, ProjectControlsAndEnvGateAndMissingExternalReference) {
  // disable_pipelines: stored, no pipeline, and a note why.
  pb::ProjectSettings off;
  off.set_disable_pipelines(true);
  pb::InfraProjectResponse quiet = MustCreate("quiet", "app: quiet\n", off);
  EXPECT_FALSE(quiet.has_pipeline());
  EXPECT_THAT(quiet.note(), HasSubstr("pipelines are disabled"));
  // ... run-pipeline still deploys it, by hand.
  EXPECT_EQ(Wait(Action("quiet", "run").pipeline().id()).state(), "succeeded");

  // disable_deployments: pipelines preview only; nothing is deployed.
  pb::ProjectSettings preview;
  preview.set_disable_deployments(true);
  pb::InfraPipeline p = Wait(MustCreate("dry", "app: dry\n", preview).pipeline().id());
  ASSERT_EQ(p.state(), "succeeded") << p.DebugString();
  EXPECT_TRUE(p.preview_only());
  for (const auto& n : p.nodes()) EXPECT_EQ(n.operation(), "preview");
  pb::CloudResource ns;
  ASSERT_TRUE(GetResource("KubernetesNamespace", "dry", &ns).ok());
  EXPECT_FALSE(ns.deployed());

  // An env-wide gate from a flow-control policy.
  pb::FlowControlPolicy gate;
  gate.set_org("acme");
  gate.set_env("dev");
  gate.set_requires_manual_gate(true);
  SetPolicy(gate);
  pb::InfraProjectResponse gated = MustCreate("gated", "app: gated\n");
  p = WaitFor(gated.pipeline().id(), [](const auto& p) { return p.gate() == "waiting"; }, "the env's gate");
  EXPECT_EQ(p.state(), "awaiting_approval");
  pb::InfraPipeline out;
  ASSERT_TRUE(Resolve(p.id(), "", true, "", &out).ok());
  EXPECT_EQ(Wait(p.id()).state(), "succeeded");
  pb::GetFlowControlPolicyRequest del;
  del.set_org("acme");
  del.set_env("dev");
  pb::DeleteFlowControlPolicyResponse dresp;
  ASSERT_TRUE(policies_->DeleteFlowControlPolicy(DaemonProcess::Context().get(), del, &dresp).ok());

  // A reference to a resource outside the project that does not exist:
  // the node fails naming it, just before its job would deploy.
  pb::CreateInfraProjectRequest ext;
  ext.set_org("acme");
  ext.set_env("dev");
  ext.set_name("ext");
  AddChart(ext.mutable_inline_()->mutable_files(),
           "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesPostgres\nmetadata: {name: lonely-db}\nspec:\n  "
           "namespace: {valueFrom: {kind: KubernetesNamespace, name: nowhere, fieldPath: status.outputs.namespace}}\n");
  pb::InfraProjectResponse resp;
  ASSERT_TRUE(projects_->CreateInfraProject(DaemonProcess::Context().get(), ext, &resp).ok());
  p = Wait(resp.pipeline().id());
  EXPECT_EQ(p.state(), "failed");
  EXPECT_THAT(Node(p, "KubernetesPostgres/lonely-db").error(), HasSubstr("KubernetesNamespace/nowhere"));
}

// Processes whose environment names this job (engine steps plinthd started).
int ProcessesOfJob(const std::string& job_id) {
  int n = 0;
  DIR* d = opendir("/proc");
  if (d == nullptr) return 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/environ", std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    if (s.str().find("PLINTH_JOB_ID=" + job_id) != std::string::npos) ++n;
  }
  closedir(d);
  return n;
}

// kill -9 at several moments, restart each time: the running steps are not
// killed but followed to their end, interrupted nodes run again from a fresh
// plan, succeeded ones never again, every resource is applied exactly once,
// no engine process of an interrupted job is left, and the pipeline ends
// succeeded.
TEST_F(PipelineTest, CrashRecoveryResumesFromInterruptedNodesAtDifferentMoments) {
  pb::InfraProjectResponse created = MustCreate("shop", "sleep: \"0.6\"\nextra: 2\n");
  const std::string id = created.pipeline().id();
  std::map<std::string, std::string> succeeded_jobs;  // node -> job, before any crash saw it succeed
  std::set<std::string> interrupted;
  for (int crash = 0; crash < 3; ++crash) {
    // Different moments: the first nodes running, then later layers.
    WaitFor(id, [&](const pb::InfraPipeline& p) {
      int done = 0, running = 0;
      for (const auto& n : p.nodes()) {
        done += n.state() == "succeeded";
        running += n.state() == "running";
      }
      return Ended(p.state()) || (running > 0 && done >= crash * 2);
    }, "a node running");
    pb::InfraPipeline before = Get(id);
    if (Ended(before.state())) break;
    for (const auto& n : before.nodes()) {
      if (n.state() == "succeeded") succeeded_jobs[n.kind() + "/" + n.name()] = n.stack_job_id();
      if (n.state() == "running") interrupted.insert(n.stack_job_id());
    }
    daemon_.Kill();
    ASSERT_TRUE(daemon_.Start({"--config", config_}).ok()) << daemon_.Stderr();
    Connect();
  }
  pb::InfraPipeline p = Wait(id);
  ASSERT_EQ(p.state(), "succeeded") << p.DebugString();
  ASSERT_FALSE(interrupted.empty());
  for (const auto& [node, job] : succeeded_jobs) {
    EXPECT_EQ(Node(p, node).stack_job_id(), job) << node << " ran again after it succeeded";
  }
  int resumed = 0, finished_first = 0;
  for (const auto& n : p.nodes()) {
    auto jobs = Jobs(n.kind(), n.name());
    int updates = 0, applies = 0;
    for (const auto& j : jobs) {
      updates += j.state() == "succeeded";
      for (const auto& step : j.steps()) applies += step.name() == "apply" && step.exit_code() == 0;
      if (interrupted.count(j.id())) {
        if (j.state() == "succeeded") {
          ++finished_first;  // it ended between the snapshot and the kill
          continue;
        }
        EXPECT_EQ(j.state(), "interrupted");
        ++resumed;
        // Its step was not killed: an apply the crash caught ran to its end
        // (recorded on this job), and the next job planned afresh.
      }
    }
    EXPECT_EQ(updates, 1) << n.name() << " succeeded more than once";
    EXPECT_EQ(applies, 1) << n.name() << " was applied " << applies << " times";
  }
  EXPECT_EQ(resumed + finished_first, static_cast<int>(interrupted.size()));
  EXPECT_GT(resumed, 0) << "no crash interrupted a running job";
  for (const auto& job : interrupted) EXPECT_EQ(ProcessesOfJob(job), 0) << "an engine process of " << job << " survived";
  bool noted = false;
  for (const auto& n : p.notes()) noted |= n.find("interrupted by a plinthd restart") != std::string::npos;
  EXPECT_TRUE(noted);
}

TEST_F(PipelineTest, CliInstallWatchApproveAndExitCodes) {
  std::string chart = dir_.path() + "/chart";
  std::filesystem::create_directories(chart + "/templates");
  std::ofstream(chart + "/Chart.yaml") << kChartYaml;
  std::ofstream(chart + "/values.yaml") << kValuesYaml;
  std::ofstream(chart + "/templates/all.yaml") << kTemplate;
  std::ofstream(dir_.path() + "/values.yaml") << "api_tag: \"7\"\n";
  CommandResult r = daemon_.Cli({"chart", "install", "shop", chart, "--env", "dev", "--org", "acme", "-f",
                                 dir_.path() + "/values.yaml", "--set", "replicas=2", "--wait"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("installed acme/dev/shop revision 1 (4 added"));
  EXPECT_THAT(r.out, HasSubstr("KubernetesPostgres/shop-db"));
  EXPECT_THAT(r.out, HasSubstr("succeeded"));
  r = daemon_.Cli({"project", "get", "shop", "--org", "acme"});
  EXPECT_THAT(r.out, HasSubstr("\"api_tag\":\"7\""));
  EXPECT_THAT(r.out, HasSubstr("\"replicas\":2"));

  // A failing update: watch exits 1.
  r = daemon_.Cli({"project", "update", "shop", "--org", "acme", "--set", "db_fail=apply", "--wait"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("simulated failure at apply"));
  EXPECT_THAT(r.out, HasSubstr("failed"));
  r = daemon_.Cli({"project", "history", "shop", "--org", "acme"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("pipeline-test@1.0.0"));

  // A manual gate from the CLI.
  r = daemon_.Cli({"project", "update", "shop", "--org", "acme", "--set", "db_fail=", "--set", "gate_api=true"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string id = r.out.substr(r.out.find("pipeline pl-") + 9, 23);
  WaitFor(id, [](const auto& p) { return NodeState(p, "KubernetesDeployment/shop-api") == "awaiting_approval"; },
          "the api's gate");
  r = daemon_.Cli({"pipeline", "approve", id, "--node", "KubernetesDeployment/shop-api", "-m", "ok"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = daemon_.Cli({"pipeline", "watch", id});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  r = daemon_.Cli({"pipeline", "approve", id});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no gate of it is waiting"));
  r = daemon_.Cli({"pipeline", "get", id});
  EXPECT_THAT(r.out, HasSubstr("approved KubernetesDeployment/shop-api (gate) by anonymous"));
  r = daemon_.Cli({"pipeline", "list", "--project", "shop", "--org", "acme"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr(id));
  r = daemon_.Cli({"project", "graph", "shop", "--org", "acme", "-o", "dot"});
  EXPECT_THAT(r.out, HasSubstr("digraph"));
  // metadata.group: a cluster in DOT, a column in text, a field in the API's graph.
  EXPECT_THAT(r.out, HasSubstr("subgraph cluster_0 {\n    label=\"base\";\n    \"dev/KubernetesNamespace/shop\""));
  r = daemon_.Cli({"project", "graph", "shop", "--org", "acme"});
  EXPECT_THAT(r.out, HasSubstr("L0 KubernetesNamespace/shop  [base]"));
  r = daemon_.Cli({"project", "graph", "shop", "--org", "acme", "-o", "json"});
  EXPECT_THAT(r.out, HasSubstr("\"group\": \"base\""));
  // Settings change without a revision; a bad value is a usage error.
  r = daemon_.Cli({"project", "settings", "shop", "--org", "acme", "--max-parallel", "2", "--disable-deployments",
                   "maybe"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--disable-deployments"));
  r = daemon_.Cli({"project", "settings", "shop", "--org", "acme", "--max-parallel", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("max 2 jobs at once"));
  EXPECT_THAT(r.out, HasSubstr("revision 3"));

  // On a terminal the watch redraws in place (cursor up, clear line).
  r = RunCommand({"/usr/bin/script", "-qefc",
                  PlinthPath() + " --server " + daemon_.address() + " pipeline watch " + id, "/dev/null"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("\033[2K"));
  r = daemon_.Cli({"pipeline", "watch", id});
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("\033[")));
  // Each line once: the final nodes and the final state are not repeated.
  {
    std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
    std::set<std::string> seen;
    for (const auto& line : lines) EXPECT_TRUE(seen.insert(line).second) << "printed twice: " << line << "\n" << r.out;
    EXPECT_EQ(std::count(lines.begin(), lines.end(), "pipeline " + id + " succeeded"), 1) << r.out;
  }

  r = daemon_.Cli({"project", "delete", "shop", "--org", "acme"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("deployed resource"));
  // The api's gate holds its destroy too.
  r = daemon_.Cli({"project", "purge", "shop", "--org", "acme"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  id = r.out.substr(r.out.find("pipeline pl-") + 9, 23);
  WaitFor(id, [](const auto& p) { return NodeState(p, "KubernetesDeployment/shop-api") == "awaiting_approval"; },
          "the api's gate on destroy");
  r = daemon_.Cli({"pipeline", "approve", id, "--node", "KubernetesDeployment/shop-api"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = daemon_.Cli({"pipeline", "watch", id});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  r = daemon_.Cli({"project", "list"});
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("shop")));
}

}  // namespace
}  // namespace plinth::testing
