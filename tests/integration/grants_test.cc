// Scoped grants end to end: the real plinthd with a token file whose
// identities hold grants, one test per service that a caller outside its
// scope (or below the role a call needs) is refused with PERMISSION_DENIED
// and that nothing changed.
#include <fstream>
#include <thread>

#include "daemon_process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plinth/v1/cloud_resource.grpc.pb.h"
#include "plinth/v1/connection.grpc.pb.h"
#include "plinth/v1/flow_control.grpc.pb.h"
#include "plinth/v1/grant.grpc.pb.h"
#include "plinth/v1/infra_chart.grpc.pb.h"
#include "plinth/v1/infra_pipeline.grpc.pb.h"
#include "plinth/v1/infra_project.grpc.pb.h"
#include "plinth/v1/runner.grpc.pb.h"
#include "plinth/v1/stack_job.grpc.pb.h"
#include "plinth/v1/state.grpc.pb.h"
#include "test_paths.h"

namespace plinth::testing {
namespace {

namespace pb = plinth::v1;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// root: the token file's, admin of everything. The others are `scoped`:
// they hold what SetUp grants them.
constexpr char kRoot[] = "token-root-000000001";
constexpr char kAlex[] = "token-alex-000000001";  // admin on acme
constexpr char kOlga[] = "token-olga-000000001";  // operator on acme/dev
constexpr char kDana[] = "token-dana-000000001";  // viewer on acme/dev
constexpr char kGus[] = "token-gus-0000000001";   // viewer on globex

constexpr grpc::StatusCode kDenied = grpc::StatusCode::PERMISSION_DENIED;

std::string Ns(const std::string& name) {
  return "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata: {name: " + name +
         "}\nspec: {name: " + name + "}\n";
}

class GrantsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string tokens = dir_.path() + "/tokens";
    std::ofstream(tokens) << "# bootstrap\n"
                          << kRoot << " root\n"
                          << kAlex << " alex scoped\n"
                          << kOlga << " olga scoped\n"
                          << kDana << " dana scoped\n"
                          << kGus << " gus scoped\n";
    const std::string config = dir_.path() + "/plinthd.yaml";
    const std::string sim = std::string(PLINTH_SOURCE_DIR) + "/examples/modules/sim";
    std::ofstream(config) << "engines: {tofu: {binary: " << PLINTH_BIN_DIR << "/plinth-sim-tofu}}\n"
                          << "modules: {default: {engine: tofu, source: " << sim << "}}\n"
                          << "jobs: {max_concurrent_jobs: 4, cancel_grace_seconds: 2}\n"
                          << "auth_token_file: " << tokens << "\n";
    ASSERT_TRUE(daemon_.Start({"--config", config}).ok()) << daemon_.Stderr();
    auto ch = daemon_.Channel();
    grants_ = pb::GrantService::NewStub(ch);
    resources_ = pb::CloudResourceService::NewStub(ch);
    jobs_ = pb::StackJobService::NewStub(ch);
    connections_ = pb::ConnectionService::NewStub(ch);
    projects_ = pb::InfraProjectService::NewStub(ch);
    pipelines_ = pb::InfraPipelineService::NewStub(ch);
    policies_ = pb::FlowControlService::NewStub(ch);
    charts_ = pb::InfraChartService::NewStub(ch);
    pools_ = pb::RunnerPoolService::NewStub(ch);
    states_ = pb::StateService::NewStub(ch);
    for (auto [who, role, scope] : std::vector<std::tuple<std::string, std::string, std::string>>{
             {"alex", "admin", "acme"}, {"olga", "operator", "acme/dev"}, {"dana", "viewer", "acme/dev"},
             {"gus", "viewer", "globex"}}) {
      pb::Grant g;
      ASSERT_TRUE(Grant(kRoot, who, role, scope, &g).ok());
    }
  }

  static std::unique_ptr<grpc::ClientContext> As(const std::string& token) { return DaemonProcess::Context(token); }

  grpc::Status Grant(const std::string& token, const std::string& identity, const std::string& role,
                     const std::string& scope, pb::Grant* out) {
    pb::CreateGrantRequest req;
    req.set_identity(identity);
    req.set_role(role);
    req.set_scope(scope);
    return grants_->CreateGrant(As(token).get(), req, out);
  }

  grpc::Status Apply(const std::string& token, const std::string& env, const std::string& text) {
    pb::ApplyCloudResourcesRequest req;
    req.add_sources()->set_content(text);
    req.set_org("acme");
    req.set_env(env);
    pb::ApplyCloudResourcesResponse resp;
    return resources_->ApplyCloudResources(As(token).get(), req, &resp);
  }

  grpc::Status GetResource(const std::string& token, const std::string& env, const std::string& name,
                           pb::CloudResource* out) {
    pb::GetCloudResourceRequest req;
    auto* key = req.mutable_key();
    key->set_org("acme");
    key->set_env(env);
    key->set_kind("KubernetesNamespace");
    key->set_name(name);
    return resources_->GetCloudResource(As(token).get(), req, out);
  }

  std::vector<std::string> ResourceNames(const std::string& token) {
    pb::ListCloudResourcesRequest req;
    req.set_org("acme");
    pb::ListCloudResourcesResponse resp;
    grpc::Status s = resources_->ListCloudResources(As(token).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::vector<std::string> names;
    for (const auto& r : resp.resources()) names.push_back(r.env() + "/" + r.name());
    return names;
  }

  grpc::Status CreateProject(const std::string& token, const std::string& env, pb::InfraProjectResponse* out) {
    pb::CreateInfraProjectRequest req;
    req.set_org("acme");
    req.set_env(env);
    req.set_name("shop");
    for (auto [path, content] : std::vector<std::pair<std::string, std::string>>{
             {"Chart.yaml", "apiVersion: infra-hub.planton.dev/v1\nkind: InfraChart\nmetadata: {name: shop, "
                            "version: 1.0.0}\nspec: {description: grants test}\n"},
             {"values.yaml", "params:\n  - {name: app, value: shop}\n"},
             {"templates/all.yaml", Ns("{{ values.app }}-ns")}}) {
      auto* f = req.mutable_inline_()->add_files();
      f->set_path(path);
      f->set_content(content);
    }
    req.mutable_settings()->set_requires_manual_gate(true);
    return projects_->CreateInfraProject(As(token).get(), req, out);
  }

  pb::InfraPipeline WaitForPipeline(const std::string& id, const std::string& state) {
    pb::InfraPipeline p;
    for (int i = 0; i < 1200; ++i) {
      pb::GetInfraPipelineRequest req;
      req.set_id(id);
      p.Clear();
      grpc::Status s = pipelines_->GetInfraPipeline(As(kRoot).get(), req, &p);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (p.state() == state) return p;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "pipeline " << id << " never became " << state << ": " << p.DebugString();
    return p;
  }

  TempDir dir_;
  DaemonProcess daemon_;
  std::unique_ptr<pb::GrantService::Stub> grants_;
  std::unique_ptr<pb::CloudResourceService::Stub> resources_;
  std::unique_ptr<pb::StackJobService::Stub> jobs_;
  std::unique_ptr<pb::ConnectionService::Stub> connections_;
  std::unique_ptr<pb::InfraProjectService::Stub> projects_;
  std::unique_ptr<pb::InfraPipelineService::Stub> pipelines_;
  std::unique_ptr<pb::FlowControlService::Stub> policies_;
  std::unique_ptr<pb::InfraChartService::Stub> charts_;
  std::unique_ptr<pb::RunnerPoolService::Stub> pools_;
  std::unique_ptr<pb::StateService::Stub> states_;
};

TEST_F(GrantsTest, GrantsAreManagedByTheAdminsOfTheirScopeAndSurviveARestart) {
  pb::MyAccess me;
  ASSERT_TRUE(grants_->GetMyAccess(As(kDana).get(), {}, &me).ok());
  EXPECT_EQ(me.identity(), "dana");
  EXPECT_FALSE(me.unscoped());
  ASSERT_EQ(me.grants_size(), 1);
  EXPECT_EQ(me.grants(0).role(), "viewer");
  EXPECT_EQ(me.grants(0).scope(), "acme/dev");
  ASSERT_TRUE(grants_->GetMyAccess(As(kRoot).get(), {}, &me).ok());
  EXPECT_TRUE(me.unscoped());

  // Only an admin of the scope grants on it.
  pb::Grant g;
  grpc::Status s = Grant(kDana, "dana", "operator", "acme/dev", &g);
  EXPECT_EQ(s.error_code(), kDenied);
  EXPECT_THAT(s.error_message(), HasSubstr("dana"));
  EXPECT_EQ(Grant(kAlex, "gus", "viewer", "acme", &g).error_code(), grpc::StatusCode::OK);
  EXPECT_EQ(Grant(kAlex, "dana", "admin", "*", &g).error_code(), kDenied);
  EXPECT_EQ(Grant(kAlex, "dana", "viewer", "globex", &g).error_code(), kDenied);
  EXPECT_EQ(Grant(kAlex, "dana", "use", "globex/cluster", &g).error_code(), kDenied);
  ASSERT_TRUE(Grant(kAlex, "dana", "viewer", "acme/prod", &g).ok());
  const std::string prod_grant = g.id();
  // Bad input names the field.
  s = Grant(kAlex, "dana", "owner", "acme", &g);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("role"));
  s = Grant(kAlex, "dana", "viewer", "acme/dev/KubernetesNamespace", &g);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("scope"));
  s = Grant(kAlex, "", "viewer", "acme", &g);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // Lists: an admin sees the grants under its scope, others their own.
  auto scopes = [&](const char* token) {
    pb::ListGrantsRequest req;
    pb::ListGrantsResponse resp;
    grpc::Status s = grants_->ListGrants(As(token).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::vector<std::string> out;
    for (const auto& g : resp.grants()) out.push_back(g.identity() + ":" + g.role() + ":" + g.scope());
    return out;
  };
  EXPECT_THAT(scopes(kAlex), UnorderedElementsAre("alex:admin:acme", "olga:operator:acme/dev", "dana:viewer:acme/dev",
                                                  "dana:viewer:acme/prod", "gus:viewer:acme"));
  EXPECT_THAT(scopes(kDana), UnorderedElementsAre("dana:viewer:acme/dev", "dana:viewer:acme/prod"));

  // Revoking takes admin too; the grant goes at once.
  pb::DeleteGrantRequest del;
  del.set_id(prod_grant);
  pb::DeleteGrantResponse deleted;
  EXPECT_EQ(grants_->DeleteGrant(As(kDana).get(), del, &deleted).error_code(), kDenied);
  ASSERT_TRUE(grants_->DeleteGrant(As(kAlex).get(), del, &deleted).ok());
  EXPECT_EQ(deleted.grant().scope(), "acme/prod");
  EXPECT_EQ(grants_->DeleteGrant(As(kAlex).get(), del, &deleted).error_code(), grpc::StatusCode::NOT_FOUND);

  // The CLI.
  CommandResult who = daemon_.Cli({"--token", kDana, "grant", "whoami"});
  ASSERT_EQ(who.exit_code, 0) << who.err;
  EXPECT_THAT(who.out, HasSubstr("dana"));
  EXPECT_THAT(who.out, HasSubstr("acme/dev"));
  EXPECT_THAT(who.out, Not(HasSubstr("acme/prod")));
  CommandResult refused = daemon_.Cli({"--token", kOlga, "grant", "create", "olga", "--role", "admin", "--scope", "acme"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.err, HasSubstr("olga may not grant admin on acme"));
  CommandResult granted =
      daemon_.Cli({"--token", kAlex, "grant", "create", "olga", "--role", "viewer", "--scope", "acme/prod"});
  ASSERT_EQ(granted.exit_code, 0) << granted.err;
  EXPECT_THAT(granted.out, HasSubstr("granted viewer on acme/prod to olga"));
  CommandResult listed = daemon_.Cli({"--token", kAlex, "grant", "list", "--identity", "olga"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, HasSubstr("acme/prod"));
  EXPECT_THAT(listed.out, Not(HasSubstr("dana")));

  // Acknowledged grants survive a restart.
  ASSERT_EQ(daemon_.Stop(), 0);
  ASSERT_TRUE(daemon_.Start({"--config", dir_.path() + "/plinthd.yaml"}).ok()) << daemon_.Stderr();
  grants_ = pb::GrantService::NewStub(daemon_.Channel());
  ASSERT_TRUE(grants_->GetMyAccess(As(kOlga).get(), {}, &me).ok());
  std::vector<std::string> held;
  for (const auto& g : me.grants()) held.push_back(g.role() + ":" + g.scope());
  EXPECT_THAT(held, UnorderedElementsAre("operator:acme/dev", "viewer:acme/prod"));
}

TEST_F(GrantsTest, CloudResourcesNeedViewerToReadAndOperatorToChange) {
  ASSERT_TRUE(Apply(kRoot, "dev", Ns("dev-ns")).ok());
  ASSERT_TRUE(Apply(kRoot, "prod", Ns("prod-ns")).ok());
  pb::CloudResource r;
  EXPECT_TRUE(GetResource(kDana, "dev", "dev-ns", &r).ok());
  grpc::Status s = GetResource(kDana, "prod", "prod-ns", &r);
  EXPECT_EQ(s.error_code(), kDenied);
  EXPECT_THAT(s.error_message(), HasSubstr("acme/prod"));
  // A refused caller learns nothing of what exists: the same answer for a
  // name that is not there.
  EXPECT_EQ(GetResource(kDana, "prod", "no-such-ns", &r).error_code(), kDenied);
  EXPECT_THAT(ResourceNames(kDana), UnorderedElementsAre("dev/dev-ns"));
  EXPECT_THAT(ResourceNames(kGus), UnorderedElementsAre());
  EXPECT_THAT(ResourceNames(kAlex), UnorderedElementsAre("dev/dev-ns", "prod/prod-ns"));

  // A viewer cannot apply; an operator applies in its env only.
  EXPECT_EQ(Apply(kDana, "dev", Ns("dana-ns")).error_code(), kDenied);
  EXPECT_EQ(Apply(kOlga, "prod", Ns("olga-prod-ns")).error_code(), kDenied);
  EXPECT_TRUE(Apply(kOlga, "dev", Ns("olga-ns")).ok());
  EXPECT_THAT(ResourceNames(kRoot), UnorderedElementsAre("dev/dev-ns", "dev/olga-ns", "prod/prod-ns"));

  pb::DeleteCloudResourceRequest del;
  auto* key = del.mutable_key();
  key->set_org("acme");
  key->set_env("prod");
  key->set_kind("KubernetesNamespace");
  key->set_name("prod-ns");
  pb::DeleteCloudResourceResponse deleted;
  EXPECT_EQ(resources_->DeleteCloudResource(As(kOlga).get(), del, &deleted).error_code(), kDenied);
  EXPECT_TRUE(GetResource(kRoot, "prod", "prod-ns", &r).ok());

  // The CLI says so too.
  CommandResult cli = daemon_.Cli({"--token", kDana, "get", "cloud-resource", "acme/prod/KubernetesNamespace/prod-ns"});
  EXPECT_NE(cli.exit_code, 0);
  EXPECT_THAT(cli.err, HasSubstr("dana may not read acme/prod/KubernetesNamespace/prod-ns"));
}

TEST_F(GrantsTest, StackJobsNeedOperatorToRunAndViewerToRead) {
  ASSERT_TRUE(Apply(kRoot, "dev", Ns("dev-ns")).ok());
  pb::CreateStackJobRequest req;
  auto* key = req.mutable_key();
  key->set_org("acme");
  key->set_env("dev");
  key->set_kind("KubernetesNamespace");
  key->set_name("dev-ns");
  req.set_operation("update");
  pb::StackJob job;
  EXPECT_EQ(jobs_->CreateStackJob(As(kDana).get(), req, &job).error_code(), kDenied);
  EXPECT_EQ(jobs_->CreateStackJob(As(kGus).get(), req, &job).error_code(), kDenied);
  grpc::Status s = jobs_->CreateStackJob(As(kOlga).get(), req, &job);
  ASSERT_TRUE(s.ok()) << s.error_message();

  pb::GetStackJobRequest get;
  get.set_id(job.id());
  pb::StackJob read;
  EXPECT_TRUE(jobs_->GetStackJob(As(kDana).get(), get, &read).ok());
  EXPECT_EQ(jobs_->GetStackJob(As(kGus).get(), get, &read).error_code(), kDenied);
  pb::ListStackJobsRequest list;
  *list.mutable_key() = req.key();
  pb::ListStackJobsResponse listed;
  ASSERT_TRUE(jobs_->ListStackJobs(As(kGus).get(), list, &listed).ok());
  EXPECT_EQ(listed.jobs_size(), 0);
  ASSERT_TRUE(jobs_->ListStackJobs(As(kDana).get(), list, &listed).ok());
  EXPECT_EQ(listed.jobs_size(), 1);

  pb::CancelStackJobRequest cancel;
  cancel.set_id(job.id());
  pb::StackJob cancelled;
  EXPECT_EQ(jobs_->CancelStackJob(As(kDana).get(), cancel, &cancelled).error_code(), kDenied);
}

TEST_F(GrantsTest, ConnectionsAreForAdmins) {
  pb::CreateConnectionRequest req;
  req.set_org("acme");
  req.set_name("aws-main");
  req.set_provider("aws");
  (*req.mutable_fields())["region"] = "eu-west-1";
  (*req.mutable_fields())["access_key_id"] = "AKIAEXAMPLE";
  (*req.mutable_secret_fields())["secret_access_key"] = "hunter2hunter2";
  pb::Connection c;
  grpc::Status s = connections_->CreateConnection(As(kOlga).get(), req, &c);
  EXPECT_EQ(s.error_code(), kDenied);
  EXPECT_THAT(s.error_message(), HasSubstr("admin"));
  s = connections_->CreateConnection(As(kAlex).get(), req, &c);
  ASSERT_TRUE(s.ok()) << s.error_message();

  pb::ListConnectionsRequest list;
  list.set_org("acme");
  pb::ListConnectionsResponse listed;
  ASSERT_TRUE(connections_->ListConnections(As(kAlex).get(), list, &listed).ok());
  EXPECT_EQ(listed.connections_size(), 1);
  EXPECT_EQ(connections_->ListConnections(As(kGus).get(), list, &listed).error_code(), kDenied);
  pb::GetConnectionRequest get;
  get.set_org("acme");
  get.set_name("aws-main");
  EXPECT_EQ(connections_->GetConnection(As(kGus).get(), get, &c).error_code(), kDenied);
  pb::DeleteConnectionRequest del;
  del.set_org("acme");
  del.set_name("aws-main");
  pb::DeleteConnectionResponse deleted;
  EXPECT_EQ(connections_->DeleteConnection(As(kOlga).get(), del, &deleted).error_code(), kDenied);
  EXPECT_TRUE(connections_->GetConnection(As(kAlex).get(), get, &c).ok());
}

TEST_F(GrantsTest, ProjectsAndPipelinesNeedOperatorToChangeAndApprove) {
  pb::InfraProjectResponse created;
  EXPECT_EQ(CreateProject(kDana, "dev", &created).error_code(), kDenied);
  EXPECT_EQ(CreateProject(kOlga, "prod", &created).error_code(), kDenied);
  grpc::Status s = CreateProject(kOlga, "dev", &created);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::string project_id = created.project().id();
  const std::string pipeline_id = created.pipeline().id();
  ASSERT_FALSE(pipeline_id.empty()) << created.note();
  WaitForPipeline(pipeline_id, "awaiting_approval");

  // Reads: viewers in the env, nobody else; by name or by id alike.
  pb::GetInfraProjectRequest get;
  get.mutable_project()->set_org("acme");
  get.mutable_project()->set_env("dev");
  get.mutable_project()->set_name("shop");
  pb::InfraProject project;
  EXPECT_TRUE(projects_->GetInfraProject(As(kDana).get(), get, &project).ok());
  EXPECT_EQ(projects_->GetInfraProject(As(kGus).get(), get, &project).error_code(), kDenied);
  pb::GetInfraProjectRequest by_id;
  by_id.mutable_project()->set_id(project_id);
  EXPECT_EQ(projects_->GetInfraProject(As(kGus).get(), by_id, &project).error_code(), kDenied);
  pb::ListInfraProjectsRequest list;
  list.set_org("acme");
  pb::ListInfraProjectsResponse listed;
  ASSERT_TRUE(projects_->ListInfraProjects(As(kGus).get(), list, &listed).ok());
  EXPECT_EQ(listed.projects_size(), 0);
  ASSERT_TRUE(projects_->ListInfraProjects(As(kDana).get(), list, &listed).ok());
  EXPECT_EQ(listed.projects_size(), 1);

  pb::GetInfraPipelineRequest get_pipeline;
  get_pipeline.set_id(pipeline_id);
  pb::InfraPipeline p;
  EXPECT_TRUE(pipelines_->GetInfraPipeline(As(kDana).get(), get_pipeline, &p).ok());
  EXPECT_EQ(pipelines_->GetInfraPipeline(As(kGus).get(), get_pipeline, &p).error_code(), kDenied);
  pb::ListInfraPipelinesRequest list_pipelines;
  list_pipelines.set_project_id(project_id);
  pb::ListInfraPipelinesResponse pipelines;
  EXPECT_EQ(pipelines_->ListInfraPipelines(As(kGus).get(), list_pipelines, &pipelines).error_code(), kDenied);
  pb::WatchInfraPipelineRequest watch;
  watch.set_id(pipeline_id);
  auto ctx = As(kGus);
  auto reader = pipelines_->WatchInfraPipeline(ctx.get(), watch);
  EXPECT_FALSE(reader->Read(&p));
  EXPECT_EQ(reader->Finish().error_code(), kDenied);

  // The gate: a viewer cannot approve, the operator can.
  pb::ResolveGateRequest approve;
  approve.set_pipeline_id(pipeline_id);
  approve.set_approve(true);
  approve.set_comment("ship it");
  EXPECT_EQ(pipelines_->ResolveGate(As(kDana).get(), approve, &p).error_code(), kDenied);
  pb::CancelInfraPipelineRequest cancel;
  cancel.set_id(pipeline_id);
  EXPECT_EQ(pipelines_->CancelInfraPipeline(As(kDana).get(), cancel, &p).error_code(), kDenied);
  s = pipelines_->ResolveGate(As(kOlga).get(), approve, &p);
  ASSERT_TRUE(s.ok()) << s.error_message();
  p = WaitForPipeline(pipeline_id, "succeeded");
  ASSERT_EQ(p.decisions_size(), 1);
  EXPECT_EQ(p.decisions(0).actor(), "olga");

  // Running, rolling back and deleting are an operator's.
  pb::ProjectActionRequest run;
  *run.mutable_project() = get.project();
  pb::InfraProjectResponse ran;
  EXPECT_EQ(projects_->RunInfraProjectPipeline(As(kDana).get(), run, &ran).error_code(), kDenied);
  EXPECT_EQ(projects_->UndeployInfraProject(As(kDana).get(), run, &ran).error_code(), kDenied);
  pb::DeleteInfraProjectRequest del;
  *del.mutable_project() = get.project();
  pb::DeleteInfraProjectResponse deleted;
  EXPECT_EQ(projects_->DeleteInfraProject(As(kDana).get(), del, &deleted).error_code(), kDenied);
  EXPECT_TRUE(projects_->GetInfraProject(As(kDana).get(), get, &project).ok());

  // Engine state: listed for viewers, its content (every value in clear)
  // for operators only.
  pb::ListStatesRequest states;
  states.set_org("acme");
  pb::ListStatesResponse state_list;
  ASSERT_TRUE(states_->ListStates(As(kDana).get(), states, &state_list).ok());
  ASSERT_EQ(state_list.states_size(), 1);
  ASSERT_TRUE(states_->ListStates(As(kGus).get(), states, &state_list).ok());
  EXPECT_EQ(state_list.states_size(), 0);
  pb::GetStateRequest state;
  state.set_resource("acme/dev/KubernetesNamespace/shop-ns");
  pb::GetStateResponse content;
  EXPECT_EQ(states_->GetState(As(kDana).get(), state, &content).error_code(), kDenied);
  s = states_->GetState(As(kOlga).get(), state, &content);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(content.version().content().empty());
}

TEST_F(GrantsTest, PoliciesChartsAndPoolsNeedTheirAdmins) {
  // Flow-control policies: admin of the scope.
  pb::SetFlowControlPolicyRequest set;
  set.mutable_policy()->set_org("acme");
  set.mutable_policy()->set_env("dev");
  set.mutable_policy()->set_requires_manual_gate(true);
  pb::FlowControlPolicy policy;
  EXPECT_EQ(policies_->SetFlowControlPolicy(As(kOlga).get(), set, &policy).error_code(), kDenied);
  grpc::Status s = policies_->SetFlowControlPolicy(As(kAlex).get(), set, &policy);
  ASSERT_TRUE(s.ok()) << s.error_message();
  pb::GetFlowControlPolicyRequest get_policy;
  get_policy.set_org("acme");
  get_policy.set_env("dev");
  EXPECT_TRUE(policies_->GetFlowControlPolicy(As(kDana).get(), get_policy, &policy).ok());
  EXPECT_EQ(policies_->GetFlowControlPolicy(As(kGus).get(), get_policy, &policy).error_code(), kDenied);

  // The chart catalog belongs to no org: anyone reads it, changing it takes
  // operator on "*".
  pb::PushInfraChartRequest push;
  for (auto [path, content] : std::vector<std::pair<std::string, std::string>>{
           {"Chart.yaml", "apiVersion: infra-hub.planton.dev/v1\nkind: InfraChart\nmetadata: {name: tiny, version: "
                          "1.0.0}\nspec: {description: tiny}\n"},
           {"values.yaml", "params: []\n"},
           {"templates/all.yaml", Ns("tiny")}}) {
    auto* f = push.add_files();
    f->set_path(path);
    f->set_content(content);
  }
  pb::PushInfraChartResponse pushed;
  EXPECT_EQ(charts_->PushInfraChart(As(kAlex).get(), push, &pushed).error_code(), kDenied);
  s = charts_->PushInfraChart(As(kRoot).get(), push, &pushed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  pb::ListInfraChartsResponse charts;
  ASSERT_TRUE(charts_->ListInfraCharts(As(kGus).get(), {}, &charts).ok());
  EXPECT_EQ(charts.charts_size(), 1);
  pb::DeleteInfraChartRequest del_chart;
  del_chart.set_name("tiny");
  del_chart.set_version("1.0.0");
  pb::DeleteInfraChartResponse chart_deleted;
  EXPECT_EQ(charts_->DeleteInfraChart(As(kOlga).get(), del_chart, &chart_deleted).error_code(), kDenied);

  // Runner pools hold credentials on their runners: admin on "*" creates
  // them and binds an org to one; an org's admin cannot.
  pb::CreateRunnerPoolRequest pool;
  pool.set_name("edge");
  pb::RunnerPool created;
  EXPECT_EQ(pools_->CreateRunnerPool(As(kAlex).get(), pool, &created).error_code(), kDenied);
  ASSERT_TRUE(pools_->CreateRunnerPool(As(kRoot).get(), pool, &created).ok());
  pb::BindRunnerPoolRequest bind;
  bind.set_pool("edge");
  bind.set_org("acme");
  pb::RunnerPoolBinding binding;
  EXPECT_EQ(pools_->BindRunnerPool(As(kAlex).get(), bind, &binding).error_code(), kDenied);
  pb::CreatePoolTokenRequest token;
  token.set_pool("edge");
  pb::CreatePoolTokenResponse secret;
  EXPECT_EQ(pools_->CreatePoolToken(As(kAlex).get(), token, &secret).error_code(), kDenied);
  pb::ListRunnerPoolsResponse pools;
  ASSERT_TRUE(pools_->ListRunnerPools(As(kDana).get(), {}, &pools).ok());
  std::vector<std::string> names;
  for (const auto& p : pools.pools()) names.push_back(p.name());
  EXPECT_THAT(names, ::testing::Contains("edge"));
}

}  // namespace
}  // namespace plinth::testing
