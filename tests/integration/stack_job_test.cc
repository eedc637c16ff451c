// Stack jobs end to end: the real plinthd with the simulated engine
// (plinth-sim-tofu), driven over gRPC and through the CLI.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "daemon_process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plinth/v1/cloud_resource.grpc.pb.h"
#include "plinth/v1/stack_job.grpc.pb.h"
#include "test_paths.h"

namespace plinth::testing {
namespace {

namespace pb = plinth::v1;
using ::testing::HasSubstr;

class StackJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = dir_.path() + "/plinthd.yaml";
    std::string sim = std::string(PLINTH_SOURCE_DIR) + "/examples/modules/sim";
    std::ofstream(config_) << "engines: {tofu: {binary: " << PLINTH_BIN_DIR << "/plinth-sim-tofu}, pulumi: {binary: "
                          << PLINTH_BIN_DIR << "/plinth-sim-pulumi}}\n"
                          << Modules(sim) << "\n"
                          << Jobs() << "\n";
    ASSERT_TRUE(daemon_.Start({"--config", config_}).ok()) << daemon_.Stderr();
    Connect();
  }

  virtual std::string Jobs() { return "jobs: {max_concurrent_jobs: 4, cancel_grace_seconds: 2}"; }
  virtual std::string Modules(const std::string& sim) {
    return "modules: {default: {engine: tofu, source: " + sim + "}, KubernetesSecret: {engine: pulumi, source: " + sim + "}}";
  }

  std::unique_ptr<grpc::ClientContext> Ctx() const { return DaemonProcess::Context(token_); }

  void Connect() {
    jobs_ = pb::StackJobService::NewStub(daemon_.Channel());
    resources_ = pb::CloudResourceService::NewStub(daemon_.Channel());
  }

  void Apply(const std::string& text) {
    pb::ApplyCloudResourcesRequest req;
    req.add_sources()->set_content(text);
    req.set_org("acme");
    req.set_env("dev");
    pb::ApplyCloudResourcesResponse resp;
    grpc::Status s = resources_->ApplyCloudResources(Ctx().get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  static std::string Ns(const std::string& name, const std::string& annotations = "{}") {
    return "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata: {name: " + name +
           ", annotations: " + annotations + "}\nspec: {name: " + name + "}\n";
  }
  static std::string Db(const std::string& name, const std::string& ns) {
    return "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesPostgres\nmetadata: {name: " + name +
           "}\nspec: {namespace: {valueFrom: {kind: KubernetesNamespace, name: " + ns +
           ", fieldPath: status.outputs.namespace}}}\n";
  }

  pb::StackJob Create(const std::string& kind, const std::string& name, const std::string& op) {
    pb::CreateStackJobRequest req;
    auto* key = req.mutable_key();
    key->set_org("acme");
    key->set_env("dev");
    key->set_kind(kind);
    key->set_name(name);
    req.set_operation(op);
    pb::StackJob job;
    grpc::Status s = jobs_->CreateStackJob(Ctx().get(), req, &job);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return job;
  }

  pb::StackJob Wait(const std::string& id) {
    for (int i = 0; i < 600; ++i) {
      pb::GetStackJobRequest req;
      req.set_id(id);
      pb::StackJob job;
      grpc::Status s = jobs_->GetStackJob(Ctx().get(), req, &job);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (job.state() != "queued" && job.state() != "running" && job.state() != "awaiting_approval") return job;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "job " << id << " did not end";
    return {};
  }

  pb::CloudResource Resource(const std::string& kind, const std::string& name) {
    pb::GetCloudResourceRequest req;
    auto* key = req.mutable_key();
    key->set_org("acme");
    key->set_env("dev");
    key->set_kind(kind);
    key->set_name(name);
    pb::CloudResource r;
    EXPECT_TRUE(resources_->GetCloudResource(Ctx().get(), req, &r).ok());
    return r;
  }

  TempDir dir_;
  std::string config_;
  std::string token_;  // sent by the helpers when auth is on
  DaemonProcess daemon_;
  std::unique_ptr<pb::StackJobService::Stub> jobs_;
  std::unique_ptr<pb::CloudResourceService::Stub> resources_;
};

TEST_F(StackJobTest, UpdateResolvesReferencesSetsOutputsAndDestroyClearsThem) {
  Apply(Ns("shop") + "---\n" + Db("shop-db", "shop"));

  // The database needs the namespace's outputs: not deployed yet.
  pb::StackJob early = Wait(Create("KubernetesPostgres", "shop-db", "update").id());
  EXPECT_EQ(early.state(), "failed");
  EXPECT_THAT(early.error(), HasSubstr("spec.namespace: cannot resolve the reference to KubernetesNamespace/shop in dev"));
  EXPECT_THAT(early.error(), HasSubstr("no outputs yet"));

  pb::StackJob ns = Wait(Create("KubernetesNamespace", "shop", "update").id());
  ASSERT_EQ(ns.state(), "succeeded") << ns.error();
  EXPECT_EQ(ns.engine(), "tofu");
  EXPECT_THAT(ns.engine_version(), HasSubstr("sim"));
  ASSERT_TRUE(ns.has_summary());
  EXPECT_EQ(ns.summary().add(), 1);
  ASSERT_EQ(ns.steps_size(), 5);
  EXPECT_EQ(ns.steps(3).name(), "apply");
  pb::CloudResource shop = Resource("KubernetesNamespace", "shop");
  EXPECT_TRUE(shop.deployed());
  EXPECT_EQ(shop.outputs().fields().at("namespace").string_value(), "shop");
  EXPECT_EQ(shop.manifest().fields().at("status").struct_value().fields().at("outputs").struct_value().fields().at("namespace").string_value(), "shop");

  pb::StackJob db = Wait(Create("KubernetesPostgres", "shop-db", "update").id());
  ASSERT_EQ(db.state(), "succeeded") << db.error();

  pb::StackJob again = Wait(Create("KubernetesNamespace", "shop", "update").id());
  ASSERT_EQ(again.state(), "succeeded");
  EXPECT_EQ(again.summary().add() + again.summary().change() + again.summary().remove(), 0);

  pb::StackJob destroyed = Wait(Create("KubernetesPostgres", "shop-db", "destroy").id());
  ASSERT_EQ(destroyed.state(), "succeeded") << destroyed.error();
  EXPECT_EQ(destroyed.summary().remove(), 1);
  pb::CloudResource gone = Resource("KubernetesPostgres", "shop-db");
  EXPECT_FALSE(gone.deployed());
  EXPECT_EQ(gone.outputs().fields_size(), 0);
}

TEST_F(StackJobTest, JobsOfOneResourceRunInOrderOthersInParallel) {
  Apply(Ns("slow", "{sim.plinth.dev/sleep-seconds: '0.6'}") + "---\n" + Ns("other"));
  pb::StackJob first = Create("KubernetesNamespace", "slow", "update");
  pb::StackJob second = Create("KubernetesNamespace", "slow", "preview");
  pb::StackJob parallel = Create("KubernetesNamespace", "other", "update");
  pb::StackJob p = Wait(parallel.id());
  pb::StackJob f = Wait(first.id());
  pb::StackJob s = Wait(second.id());
  ASSERT_EQ(f.state(), "succeeded") << f.error();
  ASSERT_EQ(s.state(), "succeeded") << s.error();
  ASSERT_EQ(p.state(), "succeeded");
  // The second job of "slow" started only after the first ended.
  EXPECT_GE(s.start_time().seconds() * 1000000000LL + s.start_time().nanos(),
            f.end_time().seconds() * 1000000000LL + f.end_time().nanos());
  // The other resource did not wait for "slow".
  EXPECT_LT(p.end_time().seconds() * 1000000000LL + p.end_time().nanos(),
            f.end_time().seconds() * 1000000000LL + f.end_time().nanos());
}

TEST_F(StackJobTest, CancelFailuresAndBadRequests) {
  Apply(Ns("sleepy", "{sim.plinth.dev/sleep-seconds: '30'}") + "---\n" +
        Ns("broken", "{sim.plinth.dev/fail-at: plan}"));
  pb::StackJob sleepy = Create("KubernetesNamespace", "sleepy", "update");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  pb::CancelStackJobRequest cancel;
  cancel.set_id(sleepy.id());
  pb::StackJob out;
  ASSERT_TRUE(jobs_->CancelStackJob(DaemonProcess::Context().get(), cancel, &out).ok());
  EXPECT_TRUE(jobs_->CancelStackJob(DaemonProcess::Context().get(), cancel, &out).ok() ||
              out.state() == "cancelled") << "a second cancel must not break anything";
  pb::StackJob ended = Wait(sleepy.id());
  EXPECT_EQ(ended.state(), "cancelled");
  grpc::Status late = jobs_->CancelStackJob(DaemonProcess::Context().get(), cancel, &out);
  EXPECT_EQ(late.error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  pb::StackJob broken = Wait(Create("KubernetesNamespace", "broken", "update").id());
  EXPECT_EQ(broken.state(), "failed");
  EXPECT_THAT(broken.error(), HasSubstr("tofu plan failed with exit code 1 (simulated failure at plan"));
  ASSERT_GT(broken.diagnostics_size(), 0);
  EXPECT_EQ(broken.diagnostics(0).severity(), "error");

  pb::CreateStackJobRequest bad;
  bad.mutable_key()->set_org("acme");
  bad.mutable_key()->set_env("dev");
  bad.mutable_key()->set_kind("KubernetesNamespace");
  bad.mutable_key()->set_name("sleepy");
  bad.set_operation("explode");
  grpc::Status s = jobs_->CreateStackJob(DaemonProcess::Context().get(), bad, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("operation"));
  bad.set_operation("update");
  bad.mutable_key()->set_name("nobody");
  EXPECT_EQ(jobs_->CreateStackJob(DaemonProcess::Context().get(), bad, &out).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(StackJobTest, EventsStreamLiveAndResumeFromASequenceNumber) {
  Apply(Ns("streamed", "{sim.plinth.dev/sleep-seconds: '0.5'}"));
  pb::StackJob job = Create("KubernetesNamespace", "streamed", "update");
  pb::StreamStackJobEventsRequest req;
  req.set_job_id(job.id());
  grpc::ClientContext ctx;
  auto reader = jobs_->StreamStackJobEvents(&ctx, req);
  std::vector<pb::StackJobEvent> events;
  pb::StackJobEvent e;
  while (reader->Read(&e)) events.push_back(e);
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_GT(events.size(), 10u);
  for (size_t i = 1; i < events.size(); ++i) EXPECT_EQ(events[i].seq(), events[i - 1].seq() + 1);
  EXPECT_EQ(events.back().type(), "state");
  EXPECT_EQ(events.back().state(), "succeeded");

  int64_t middle = events[events.size() / 2].seq();
  grpc::ClientContext ctx2;
  req.set_after_seq(middle);
  auto resumed = jobs_->StreamStackJobEvents(&ctx2, req);
  std::vector<pb::StackJobEvent> rest;
  while (resumed->Read(&e)) rest.push_back(e);
  ASSERT_TRUE(resumed->Finish().ok());
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.front().seq(), middle + 1);
  EXPECT_EQ(rest.back().seq(), events.back().seq());

  CommandResult logs = daemon_.Cli({"job", "logs", job.id()});
  ASSERT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_THAT(logs.out, HasSubstr("Apply complete! Resources: 1 added"));
  EXPECT_THAT(logs.out, HasSubstr("[succeeded]"));
}

TEST_F(StackJobTest, CliRunFollowsAndExitsWithTheJobsResult) {
  Apply(Ns("cli") + "---\n" + Ns("cli-broken", "{sim.plinth.dev/fail-at: apply}"));
  CommandResult ok = daemon_.Cli({"job", "run", "acme/dev/KubernetesNamespace/cli", "--op", "update", "--follow"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("$ tofu apply -input=false -json plinth.tfplan"));
  EXPECT_THAT(ok.out, HasSubstr("[succeeded]"));
  CommandResult bad = daemon_.Cli({"job", "run", "acme/dev/KubernetesNamespace/cli-broken", "--follow"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.out, HasSubstr("[failed]"));
  CommandResult list = daemon_.Cli({"job", "list", "--resource", "acme/dev/KubernetesNamespace/cli"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_THAT(list.out, HasSubstr("succeeded"));
}

// Planton-style manifests (tests/data/planton-style/manifests): dotted and
// underscored names, and a reference by the output's JSON name (zoneId) that
// resolves to the zone's zone_id output once the zone is deployed.
TEST_F(StackJobTest, PlantonNamesAndAnOutputByItsJsonName) {
  std::ifstream in(std::string(PLINTH_PLANTON_STYLE) + "/manifests/dns-and-site.yaml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_NE(text.find("  name: shop_cert\n"), std::string::npos);
  text.replace(text.find("  name: shop_cert\n"), 17, "  name: shop_cert\n  annotations: {sim.plinth.dev/print-spec: 'true'}\n");
  Apply(text);
  CommandResult early = daemon_.Cli({"job", "run", "acme/dev/AwsCertManagerCert/shop_cert", "--op", "update", "--follow"});
  EXPECT_EQ(early.exit_code, 1);
  CommandResult zone = daemon_.Cli({"job", "run", "acme/dev/AwsRoute53Zone/shop.example.org", "--op", "update", "--follow"});
  ASSERT_EQ(zone.exit_code, 0) << zone.out << zone.err;
  EXPECT_EQ(Resource("AwsRoute53Zone", "shop.example.org").outputs().fields().at("zone_id").string_value(),
            "Z-shop.example.org");
  CommandResult cert = daemon_.Cli({"job", "run", "acme/dev/AwsCertManagerCert/shop_cert", "--op", "update", "--follow"});
  ASSERT_EQ(cert.exit_code, 0) << cert.out << cert.err;
  EXPECT_THAT(cert.out, HasSubstr("\"route53_hosted_zone_id\":\"Z-shop.example.org\""));
}

// True while /proc shows `pid` running (not gone, not a zombie).
bool Running(const std::string& pid) {
  std::ifstream stat("/proc/" + pid + "/stat");
  // Through rdbuf: a process that ends mid-read fails the read (ESRCH),
  // which an istreambuf_iterator throws out of the test.
  std::stringstream read;
  read << stat.rdbuf();
  const std::string content = read.str();
  size_t close = content.rfind(')');
  return stat && close != std::string::npos && content.size() > close + 2 && content[close + 2] != 'Z';
}

// The pid of the engine running the job's `step` (its step dir's lock file
// names the supervisor and the engine), waiting up to 10 s.
std::string StepPid(const std::string& workspace, const std::string& step) {
  for (int i = 0; i < 200; ++i) {
    std::ifstream lock(workspace + "/.plinth-steps/" + step + "/lock");
    std::string supervisor, engine;
    if (lock >> supervisor >> engine) return engine;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return "";
}

// The step's end as its supervisor recorded it (the lock file's second line).
bool StepEnded(const std::string& workspace, const std::string& step) {
  std::ifstream lock(workspace + "/.plinth-steps/" + step + "/lock");
  std::string pids, end;
  return std::getline(lock, pids) && std::getline(lock, end) && end.rfind("exit=", 0) == 0;
}

// A kill -9 of plinthd during an apply: the apply runs on to its end (a cut
// apply leaves partial changes and a held state lock), its secrets leave the
// workspace when it ends, and the restarted plinthd records its output and
// exit code on the job, which ends interrupted; the next run finds nothing
// left to apply.
TEST_F(StackJobTest, AnApplyOutlivesAPlinthdCrashAndTheRestartedPlinthdAdoptsItsEnd) {
  Apply(Ns("crash", "{sim.plinth.dev/sleep-seconds: '2'}"));
  pb::StackJob job = Create("KubernetesNamespace", "crash", "update");
  const std::string workspace = daemon_.data_dir() + "/workspaces/" + job.id();
  std::string pid = StepPid(workspace, "apply");
  ASSERT_FALSE(pid.empty()) << "the simulated apply never started";
  ASSERT_TRUE(std::filesystem::exists(workspace + "/plinth.auto.tfvars.json"));
  daemon_.Kill();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(Running(pid)) << "the apply died with plinthd";
  for (int i = 0; i < 200 && Running(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_FALSE(Running(pid)) << "the apply did not end";
  // With no plinthd there, the step's supervisor removed the variables
  // (sensitive values) and recorded the end.
  for (int i = 0; i < 100 && !StepEnded(workspace, "apply"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(StepEnded(workspace, "apply"));
  EXPECT_FALSE(std::filesystem::exists(workspace + "/plinth.auto.tfvars.json"));

  ASSERT_TRUE(daemon_.Start({"--config", config_}).ok()) << daemon_.Stderr();
  Connect();
  pb::StackJob after = Wait(job.id());
  EXPECT_EQ(after.state(), "interrupted");
  EXPECT_THAT(after.error(), HasSubstr("apply step, left to run, ended with exit code 0"));
  EXPECT_THAT(after.error(), HasSubstr("fresh plan"));
  bool apply_recorded = false;
  for (const auto& step : after.steps()) apply_recorded |= step.name() == "apply" && step.exit_code() == 0;
  EXPECT_TRUE(apply_recorded) << after.DebugString();
  CommandResult logs = daemon_.Cli({"job", "logs", job.id()});
  EXPECT_THAT(logs.out, HasSubstr("plinthd restarted during the apply step"));
  EXPECT_THAT(logs.out, HasSubstr("Creation complete"));  // printed after the crash
  // Removed once the job's end is stored (a moment after it is visible).
  for (int i = 0; i < 100 && std::filesystem::exists(workspace); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(std::filesystem::exists(workspace));
  // The adopted apply took effect: the next update has nothing to apply.
  pb::StackJob again = Wait(Create("KubernetesNamespace", "crash", "update").id());
  EXPECT_EQ(again.state(), "succeeded") << again.error();
  for (const auto& step : again.steps()) EXPECT_NE(step.name(), "apply");
  EXPECT_EQ(Resource("KubernetesNamespace", "crash").outputs().fields().at("namespace").string_value(), "crash");
}

// A step still running when plinthd comes back is followed, and a cancel
// reaches it through its supervisor.
TEST_F(StackJobTest, AStepFollowedAfterARestartCanBeCancelled) {
  Apply(Ns("long", "{sim.plinth.dev/sleep-seconds: '60'}"));
  pb::StackJob job = Create("KubernetesNamespace", "long", "update");
  std::string pid = StepPid(daemon_.data_dir() + "/workspaces/" + job.id(), "plan");
  ASSERT_FALSE(pid.empty()) << "the simulated plan never started";
  daemon_.Kill();
  ASSERT_TRUE(daemon_.Start({"--config", config_}).ok()) << daemon_.Stderr();
  Connect();
  EXPECT_TRUE(Running(pid)) << "the restarted plinthd killed the running plan";
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  pb::GetStackJobRequest get;
  get.set_id(job.id());
  pb::StackJob running;
  ASSERT_TRUE(jobs_->GetStackJob(Ctx().get(), get, &running).ok());
  EXPECT_EQ(running.state(), "running");
  pb::CancelStackJobRequest cancel;
  cancel.set_id(job.id());
  pb::StackJob cancelled;
  grpc::Status s = jobs_->CancelStackJob(Ctx().get(), cancel, &cancelled);
  ASSERT_TRUE(s.ok()) << s.error_message();
  pb::StackJob after = Wait(job.id());
  EXPECT_EQ(after.state(), "cancelled");
  EXPECT_THAT(after.error(), HasSubstr("plan step, left to run, ended with exit code 1 after a cancel"));
  for (int i = 0; i < 100 && Running(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(Running(pid));
}

TEST_F(StackJobTest, KindsMappedToPulumiRunWithPulumi) {
  Apply("apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesSecret\nmetadata:\n  name: creds\n  annotations:\n"
        "    sim.plinth.dev/print-env: PULUMI_CONFIG_PASSPHRASE\nspec: {name: creds, opaque: {data: {a: b}}}\n");
  pb::StackJob job = Wait(Create("KubernetesSecret", "creds", "update").id());
  ASSERT_EQ(job.state(), "succeeded") << job.error();
  EXPECT_EQ(job.engine(), "pulumi");
  // The stack's passphrase (derived from the daemon key) is set and never shown.
  CommandResult preview_logs = daemon_.Cli({"job", "logs", Wait(Create("KubernetesSecret", "creds", "preview").id()).id()});
  EXPECT_THAT(preview_logs.out, HasSubstr("debug: credential is [REDACTED]"));
  ASSERT_TRUE(job.has_summary());
  EXPECT_EQ(job.summary().add(), 1);
  pb::CloudResource r = Resource("KubernetesSecret", "creds");
  EXPECT_TRUE(r.deployed());
  EXPECT_EQ(r.outputs().fields().at("secret_name").string_value(), "creds");
  CommandResult logs = daemon_.Cli({"job", "logs", job.id()});
  EXPECT_THAT(logs.out, HasSubstr("$ pulumi up --yes --skip-preview --json"));
  pb::StackJob destroyed = Wait(Create("KubernetesSecret", "creds", "destroy").id());
  ASSERT_EQ(destroyed.state(), "succeeded") << destroyed.error();
  EXPECT_FALSE(Resource("KubernetesSecret", "creds").deployed());
}

// Flow control: a job created with require_approval stops after its plan;
// approve applies that plan, reject ends the job cancelled, and cancel works
// while it waits.
TEST_F(StackJobTest, RequireApprovalHoldsTheJobAfterItsPlan) {
  Apply(Ns("gated"));
  auto create = [&](const std::string& op) {
    pb::CreateStackJobRequest req;
    auto* key = req.mutable_key();
    key->set_org("acme");
    key->set_env("dev");
    key->set_kind("KubernetesNamespace");
    key->set_name("gated");
    req.set_operation(op);
    req.set_require_approval(true);
    pb::StackJob job;
    grpc::Status s = jobs_->CreateStackJob(Ctx().get(), req, &job);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return job;
  };
  auto wait_for = [&](const std::string& id, const std::string& state) {
    pb::StackJob job;
    for (int i = 0; i < 600 && job.state() != state; ++i) {
      pb::GetStackJobRequest req;
      req.set_id(id);
      EXPECT_TRUE(jobs_->GetStackJob(Ctx().get(), req, &job).ok());
      if (job.state() != state) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(job.state(), state);
    return job;
  };
  pb::StackJob resolved;
  auto resolve = [&](const std::string& id, bool approve) {
    pb::ResolveStackJobRequest req;
    req.set_id(id);
    req.set_comment("reviewed");
    resolved.Clear();
    return approve ? jobs_->ApproveStackJob(Ctx().get(), req, &resolved)
                   : jobs_->RejectStackJob(Ctx().get(), req, &resolved);
  };

  // Rejected: nothing applied.
  pb::StackJob first = create("update");
  EXPECT_TRUE(first.require_approval());
  pb::StackJob waiting = wait_for(first.id(), "awaiting_approval");
  EXPECT_EQ(waiting.summary().add(), 1) << "the plan is there to review";
  ASSERT_TRUE(resolve(first.id(), false).ok());
  // The answer is the job after the decision, not before it.
  EXPECT_EQ(resolved.state(), "cancelled");
  pb::StackJob rejected = Wait(first.id());
  EXPECT_EQ(rejected.state(), "cancelled");
  EXPECT_THAT(rejected.error(), HasSubstr("plan rejected by anonymous: reviewed"));
  EXPECT_FALSE(Resource("KubernetesNamespace", "gated").deployed());
  EXPECT_EQ(resolve(first.id(), true).error_code(), grpc::StatusCode::FAILED_PRECONDITION);

  // Approved through the CLI: the saved plan is applied.
  pb::StackJob second = create("update");
  wait_for(second.id(), "awaiting_approval");
  CommandResult approve = daemon_.Cli({"job", "approve", second.id(), "-m", "lgtm"});
  ASSERT_EQ(approve.exit_code, 0) << approve.err;
  pb::StackJob applied = Wait(second.id());
  ASSERT_EQ(applied.state(), "succeeded") << applied.error();
  EXPECT_TRUE(Resource("KubernetesNamespace", "gated").deployed());
  CommandResult logs = daemon_.Cli({"job", "logs", second.id()});
  EXPECT_THAT(logs.out, HasSubstr("awaiting approval of the plan (1 to add, 0 to change, 0 to destroy, 0 to replace)"));
  EXPECT_THAT(logs.out, HasSubstr("plan approved by anonymous: lgtm"));

  // Cancelled while waiting; and a preview cannot ask for approval.
  pb::StackJob third = create("destroy");
  wait_for(third.id(), "awaiting_approval");
  pb::CancelStackJobRequest cancel;
  cancel.set_id(third.id());
  pb::StackJob cancelled;
  ASSERT_TRUE(jobs_->CancelStackJob(Ctx().get(), cancel, &cancelled).ok());
  EXPECT_EQ(Wait(third.id()).state(), "cancelled");
  EXPECT_TRUE(Resource("KubernetesNamespace", "gated").deployed());

  pb::CreateStackJobRequest preview;
  preview.set_resource_id(applied.resource_id());
  preview.set_operation("preview");
  preview.set_require_approval(true);
  pb::StackJob none;
  grpc::Status bad = jobs_->CreateStackJob(Ctx().get(), preview, &none);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad.error_message(), HasSubstr("require_approval"));
}

// The daemon config's job limits: a job's stored log is capped (with the cut
// said in the log) and a step that outlives its timeout fails the job.
class JobLimitsTest : public StackJobTest {
 protected:
  std::string Jobs() override {
    return "jobs: {max_concurrent_jobs: 2, cancel_grace_seconds: 1, max_log_bytes: 200000, step_timeout_seconds: 3}";
  }
};

TEST_F(JobLimitsTest, LogsAreCappedAndSlowStepsTimeOut) {
  // One 3 MB line: far beyond 64 KiB, and beyond the job's log budget.
  Apply(Ns("chatty", "{sim.plinth.dev/huge-line-bytes: '3000000'}"));
  pb::StackJob chatty = Wait(Create("KubernetesNamespace", "chatty", "update").id());
  ASSERT_EQ(chatty.state(), "succeeded") << chatty.error();
  EXPECT_LE(chatty.log_bytes(), 200000);
  CommandResult logs = daemon_.Cli({"job", "logs", chatty.id()});
  EXPECT_THAT(logs.out, HasSubstr("log truncated: this job's stored output reached 200000 bytes"));
  EXPECT_LT(logs.out.size(), 300000u);

  Apply(Ns("slow", "{sim.plinth.dev/sleep-seconds: '60'}"));
  pb::StackJob slow = Wait(Create("KubernetesNamespace", "slow", "update").id());
  EXPECT_EQ(slow.state(), "failed");
  EXPECT_THAT(slow.error(), HasSubstr("did not finish within"));
  EXPECT_FALSE(Resource("KubernetesNamespace", "slow").deployed());
}

// Terraform state in a remote backend per env. The simulated engine keeps an
// s3 "bucket" in a local directory, so the test sees where the state went.
class RemoteBackendJobTest : public StackJobTest {
 protected:
  std::string Modules(const std::string& sim) override {
    bucket_ = dir_.path() + "/bucket";
    return StackJobTest::Modules(sim) + "\nbackends: {dev: {type: s3, config: {bucket: '" + bucket_ +
           "', region: us-east-1, key: team-a/, secret_key: backend-CANARY-51d2}}}";
  }
  std::string bucket_;
};

TEST_F(RemoteBackendJobTest, StateGoesToTheEnvsBackendUnderAPerResourceKey) {
  Apply(Ns("shop"));
  pb::StackJob job = Wait(Create("KubernetesNamespace", "shop", "update").id());
  ASSERT_EQ(job.state(), "succeeded") << job.error();
  std::string state = bucket_ + "/team-a/acme/dev/KubernetesNamespace/shop.tfstate";
  ASSERT_TRUE(std::filesystem::exists(state)) << state;
  std::ifstream in(state);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("shop"));
  // Nothing in the local state directory.
  CommandResult local = RunCommand({"/bin/sh", "-c", "find " + daemon_.data_dir() + "/state -name terraform.tfstate"});
  EXPECT_EQ(local.out, "");

  CommandResult logs = daemon_.Cli({"job", "logs", job.id()});
  ASSERT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_THAT(logs.out, HasSubstr("state: s3 backend, key team-a/acme/dev/KubernetesNamespace/shop.tfstate"));
  EXPECT_THAT(logs.out, HasSubstr("-backend-config=bucket=" + bucket_));
  EXPECT_THAT(logs.out, ::testing::Not(HasSubstr("backend-CANARY-51d2")));

  // A second run reads the same state: no changes; a destroy empties it.
  pb::StackJob again = Wait(Create("KubernetesNamespace", "shop", "update").id());
  ASSERT_EQ(again.state(), "succeeded") << again.error();
  EXPECT_EQ(again.summary().add() + again.summary().change(), 0);
  pb::StackJob destroyed = Wait(Create("KubernetesNamespace", "shop", "destroy").id());
  ASSERT_EQ(destroyed.state(), "succeeded") << destroyed.error();
  EXPECT_EQ(destroyed.summary().remove(), 1);
}

// The module comes from a Git repository (made with the git CLI, fetched by
// plinthd with libgit2 over file://): the job runs the branch's commit and
// records it; a bad ref fails the job saying which.
class GitModuleJobTest : public StackJobTest {
 protected:
  std::string Modules(const std::string& sim) override {
    repo_ = dir_.path() + "/modules-repo";
    std::filesystem::create_directories(repo_ + "/sim");
    for (const auto& f : std::filesystem::directory_iterator(sim)) {
      std::filesystem::copy(f.path(), repo_ + "/sim/" + f.path().filename().string());
    }
    Git("init -q -b main");
    Git("add -A");
    Git("commit -q -m sim");
    return "modules: {default: {engine: tofu, source: 'file://" + repo_ + "', ref: main, subdir: sim},"
           " KubernetesSecret: {engine: tofu, source: 'file://" + repo_ + "', ref: no-such-branch}}";
  }
  std::string Git(const std::string& args) {
    CommandResult r = RunCommand({"/bin/sh", "-c", "git -C " + repo_ + " -c user.name=t -c user.email=t@example.com " + args});
    EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.err;
    while (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
    return r.out;
  }
  std::string repo_;
};

TEST_F(GitModuleJobTest, JobsRunTheBranchCommitAndRecordIt) {
  Apply(Ns("shop"));
  pb::StackJob job = Wait(Create("KubernetesNamespace", "shop", "update").id());
  ASSERT_EQ(job.state(), "succeeded") << job.error();
  EXPECT_EQ(job.module_revision(), Git("rev-parse main"));
  EXPECT_EQ(job.module_source(), "file://" + repo_ + "//sim?ref=main");
  EXPECT_TRUE(Resource("KubernetesNamespace", "shop").deployed());

  // The branch moves: the next job runs the new commit.
  std::ofstream(repo_ + "/sim/NOTES") << "v2\n";
  Git("add -A");
  Git("commit -q -m v2");
  pb::StackJob next = Wait(Create("KubernetesNamespace", "shop", "preview").id());
  ASSERT_EQ(next.state(), "succeeded") << next.error();
  EXPECT_EQ(next.module_revision(), Git("rev-parse main"));
  EXPECT_NE(next.module_revision(), job.module_revision());

  Apply("apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesSecret\nmetadata: {name: creds}\n"
        "spec: {name: creds, opaque: {data: {a: b}}}\n");
  pb::StackJob bad = Wait(Create("KubernetesSecret", "creds", "update").id());
  EXPECT_EQ(bad.state(), "failed");
  EXPECT_THAT(bad.error(), HasSubstr("no branch, tag or commit \"no-such-branch\""));
}

// Sensitive outputs are stored sealed and shown as <sensitive>; only an
// actor with the reveal-sensitive permission sees them in the clear.
class SensitiveOutputTest : public StackJobTest {
 protected:
  std::string Modules(const std::string& sim) override {
    std::ofstream(dir_.path() + "/tokens") << "token-for-alice-000001 alice reveal-sensitive\n"
                                           << "token-for-bob-00000001 bob\n";
    token_ = "token-for-alice-000001";
    return StackJobTest::Modules(sim) + "\nauth_token_file: " + dir_.path() + "/tokens";
  }
  grpc::Status Get(const std::string& token, bool reveal, pb::CloudResource* out) {
    pb::GetCloudResourceRequest req;
    auto* key = req.mutable_key();
    key->set_org("acme");
    key->set_env("dev");
    key->set_kind("KubernetesNamespace");
    key->set_name("vault");
    req.set_reveal_sensitive_outputs(reveal);
    return resources_->GetCloudResource(DaemonProcess::Context(token).get(), req, out);
  }
};

TEST_F(SensitiveOutputTest, OnlyAnActorWithThePermissionSeesThemInTheClear) {
  Apply(Ns("vault", "{sim.plinth.dev/sensitive-output: namespace}"));
  pb::StackJob job = Wait(Create("KubernetesNamespace", "vault", "update").id());
  ASSERT_EQ(job.state(), "succeeded") << job.error();

  pb::CloudResource hidden;
  ASSERT_TRUE(Get("token-for-bob-00000001", false, &hidden).ok());
  EXPECT_EQ(hidden.outputs().fields().at("namespace").string_value(), "<sensitive>");

  pb::CloudResource denied;
  grpc::Status s = Get("token-for-bob-00000001", true, &denied);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("bob lacks the reveal-sensitive permission"));

  pb::CloudResource shown;
  ASSERT_TRUE(Get("token-for-alice-000001", true, &shown).ok());
  EXPECT_EQ(shown.outputs().fields().at("namespace").string_value(), "vault");

  CommandResult cli = daemon_.Cli({"--token", "token-for-alice-000001", "get", "cloud-resource",
                                   "acme/dev/KubernetesNamespace/vault", "--show-sensitive", "-o", "json"});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_THAT(cli.out, HasSubstr("\"namespace\": \"vault\""));
  CommandResult bob = daemon_.Cli({"--token", "token-for-bob-00000001", "get", "cloud-resource",
                                   "acme/dev/KubernetesNamespace/vault", "--show-sensitive"});
  EXPECT_NE(bob.exit_code, 0);
  EXPECT_THAT(bob.err, HasSubstr("reveal-sensitive"));
}

}  // namespace
}  // namespace plinth::testing

namespace plinth::testing {
namespace {

const std::string kRecorded = std::string(PLINTH_SOURCE_DIR) + "/tests/data/recorded/terraform/";

// Probe findings: plans as OpenTofu describes them, through a real job
// (the simulated engine replays recorded show -json plans).
TEST_F(StackJobTest, PlansCountAndShowWhatOpenTofuWouldShow) {
  auto gated = [&](const std::string& name, const std::string& recording) {
    Apply(Ns(name, "{sim.plinth.dev/recorded-plan: '" + kRecorded + recording + "'}"));
    pb::CreateStackJobRequest req;
    req.mutable_key()->set_org("acme");
    req.mutable_key()->set_env("dev");
    req.mutable_key()->set_kind("KubernetesNamespace");
    req.mutable_key()->set_name(name);
    req.set_operation("update");
    req.set_require_approval(true);
    pb::StackJob job;
    grpc::Status s = jobs_->CreateStackJob(Ctx().get(), req, &job);
    EXPECT_TRUE(s.ok()) << s.error_message();
    for (int i = 0; i < 600 && job.state() != "awaiting_approval" && job.state() != "failed"; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      pb::GetStackJobRequest get;
      get.set_id(job.id());
      EXPECT_TRUE(jobs_->GetStackJob(Ctx().get(), get, &job).ok());
    }
    return job;
  };

  // Replaces: counted once each, before and after the apply, and in the
  // approval text and the log, which `job logs` without -f prints and ends.
  pb::StackJob replace = gated("replaced", "show-json__replace__output.json");
  ASSERT_EQ(replace.state(), "awaiting_approval") << replace.error();
  EXPECT_EQ(replace.summary().replace(), 2);
  EXPECT_EQ(replace.summary().add(), 0);
  EXPECT_EQ(replace.summary().remove(), 1);
  ASSERT_EQ(replace.resources_size(), 3);
  EXPECT_EQ(replace.resources(0).action_reason(), "replace_because_cannot_update");
  EXPECT_EQ(replace.resources(2).deposed(), "00000001");
  CommandResult logs = daemon_.Cli({"job", "logs", replace.id()});
  EXPECT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_THAT(logs.out, HasSubstr("awaiting approval of the plan (0 to add, 0 to change, 1 to destroy, 2 to replace)"));
  CommandResult shown = daemon_.Cli({"job", "get", replace.id()});
  EXPECT_THAT(shown.out, HasSubstr("destroy before create; replace_because_cannot_update"));
  EXPECT_THAT(shown.out, HasSubstr("create before destroy; replace_because_tainted"));
  EXPECT_THAT(shown.out, HasSubstr("deposed object 00000001"));
  pb::ResolveStackJobRequest approve;
  approve.set_id(replace.id());
  pb::StackJob approved;
  ASSERT_TRUE(jobs_->ApproveStackJob(Ctx().get(), approve, &approved).ok());
  pb::StackJob done = Wait(replace.id());
  ASSERT_EQ(done.state(), "succeeded") << done.error();
  EXPECT_EQ(done.summary().replace(), 2) << "the apply does not turn a replace into an add and a destroy";
  EXPECT_EQ(done.summary().add(), 0);
  EXPECT_EQ(done.summary().remove(), 1);
  // The typed events stored beside the engine's lines count as the plan
  // does too (the engine's own change_summary said add 2, remove 3).
  {
    pb::StreamStackJobEventsRequest events;
    events.set_job_id(replace.id());
    events.set_stored_only(true);
    auto ctx = Ctx();
    auto reader = jobs_->StreamStackJobEvents(ctx.get(), events);
    pb::StackJobEvent e;
    int summaries = 0;
    while (reader->Read(&e)) {
      if (e.type() != "event" || !e.data().fields().count("summary")) continue;
      const auto& sm = e.data().fields().at("summary").struct_value().fields();
      EXPECT_EQ(sm.at("add").number_value(), 0);
      EXPECT_EQ(sm.at("remove").number_value(), 1);
      EXPECT_EQ(sm.at("replace").number_value(), 2);
      ++summaries;
    }
    EXPECT_TRUE(reader->Finish().ok());
    EXPECT_EQ(summaries, 2) << "the plan's and the apply's";
  }

  // Moves, imports, forgets: kept with their addresses.
  pb::StackJob mixed = gated("mixed", "show-json__move-import-forget__output.json");
  ASSERT_EQ(mixed.state(), "awaiting_approval") << mixed.error();
  EXPECT_EQ(mixed.summary().move(), 1);
  EXPECT_EQ(mixed.summary().import(), 1);
  EXPECT_EQ(mixed.summary().forget(), 1);
  EXPECT_EQ(mixed.summary().no_op(), 3);
  EXPECT_EQ(mixed.resources(0).previous_address(), "aws_s3_bucket.log");
  logs = daemon_.Cli({"job", "logs", mixed.id()});
  EXPECT_THAT(logs.out, HasSubstr("0 to replace, 1 to import, 1 to move, 1 to forget)"));

  // An outputs-only plan stops with something to review, sensitive masked.
  pb::StackJob outputs = gated("outs", "show-json__outputs-only__output.json");
  ASSERT_EQ(outputs.state(), "awaiting_approval") << outputs.error();
  ASSERT_EQ(outputs.output_changes_size(), 3);
  EXPECT_EQ(outputs.SerializeAsString().find("new-secret-canary"), std::string::npos);
  logs = daemon_.Cli({"job", "logs", outputs.id()});
  EXPECT_THAT(logs.out, HasSubstr("outputs: arn added (known after apply), token changed, url changed"));
  shown = daemon_.Cli({"job", "get", outputs.id()});
  EXPECT_THAT(shown.out, HasSubstr("token: update (sensitive)"));
  EXPECT_THAT(shown.out, HasSubstr("url: update \"https://b.example.org\""));

  // A filter value that is not a state is an error, not an empty list.
  {
    pb::ListStackJobsRequest list;
    list.mutable_key()->set_org("acme");
    list.mutable_key()->set_env("dev");
    list.mutable_key()->set_kind("KubernetesNamespace");
    list.mutable_key()->set_name("outs");
    list.set_state("bogus");
    pb::ListStackJobsResponse listed;
    grpc::Status bad = jobs_->ListStackJobs(Ctx().get(), list, &listed);
    EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(bad.error_message(), HasSubstr("state: \"bogus\" is not one of"));
    list.set_state("awaiting_approval");
    ASSERT_TRUE(jobs_->ListStackJobs(Ctx().get(), list, &listed).ok());
    EXPECT_EQ(listed.jobs_size(), 1);
  }

  // errored: true is a failed plan, whatever the exit code.
  pb::StackJob errored = gated("errored", "show-json__errored__output.json");
  EXPECT_EQ(errored.state(), "failed");
  EXPECT_THAT(errored.error(), HasSubstr("the plan is incomplete"));
  // A state where a plan belongs is an error, not an empty plan.
  pb::StackJob state = gated("stated", "show-json__state__output.json");
  EXPECT_EQ(state.state(), "failed");
  EXPECT_THAT(state.error(), HasSubstr("a state document, not a plan"));
}

}  // namespace
}  // namespace plinth::testing
