// CloudResourceService and KindService over gRPC against the real plinthd.
#include <atomic>
#include <thread>

#include <fstream>
#include <string>

#include "daemon_process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "plinth/v1/cloud_resource.grpc.pb.h"
#include "plinth/v1/kind.grpc.pb.h"

namespace plinth::testing {
namespace {

namespace pb = plinth::v1;
using ::testing::HasSubstr;

std::string Vpc(const std::string& name, int subnet_size = 256, const std::string& labels = "{}") {
  return "apiVersion: aws.planton.dev/v1\nkind: AwsVpc\nmetadata: {name: " + name +
         ", labels: " + labels + "}\nspec: {region: us-east-1, cidrBlock: 10.0.0.0/16, ipv4NetmaskLength: " +
         std::to_string(subnet_size) + "}\n";
}

class CloudResourceApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    daemon_ = new DaemonProcess();
    absl::Status s = daemon_->Start({"--max-manifest-bytes", "65536"});
    ASSERT_TRUE(s.ok()) << s;
  }
  static void TearDownTestSuite() {
    EXPECT_EQ(daemon_->Stop(), 0);
    delete daemon_;
  }
  void SetUp() override {
    stub_ = pb::CloudResourceService::NewStub(daemon_->Channel());
    kinds_ = pb::KindService::NewStub(daemon_->Channel());
  }

  grpc::Status Apply(const std::string& text, const std::string& env, pb::ApplyCloudResourcesResponse* resp,
                     bool dry_run = false) {
    pb::ApplyCloudResourcesRequest req;
    auto* src = req.add_sources();
    src->set_name("test.yaml");
    src->set_content(text);
    req.set_org("acme");
    req.set_env(env);
    req.set_dry_run(dry_run);
    return stub_->ApplyCloudResources(DaemonProcess::Context().get(), req, resp);
  }

  grpc::Status Get(const std::string& env, const std::string& kind, const std::string& name,
                   pb::CloudResource* out) {
    pb::GetCloudResourceRequest req;
    req.mutable_key()->set_org("acme");
    req.mutable_key()->set_env(env);
    req.mutable_key()->set_kind(kind);
    req.mutable_key()->set_name(name);
    return stub_->GetCloudResource(DaemonProcess::Context().get(), req, out);
  }

  int CountIn(const std::string& env) {
    pb::ListCloudResourcesRequest req;
    req.set_env(env);
    req.set_page_size(1000);
    pb::ListCloudResourcesResponse resp;
    EXPECT_TRUE(stub_->ListCloudResources(DaemonProcess::Context().get(), req, &resp).ok());
    return resp.resources_size();
  }

  static DaemonProcess* daemon_;
  std::unique_ptr<pb::CloudResourceService::Stub> stub_;
  std::unique_ptr<pb::KindService::Stub> kinds_;
};

DaemonProcess* CloudResourceApiTest::daemon_ = nullptr;

TEST_F(CloudResourceApiTest, ApplyGetUpdateDeleteAndHistory) {
  pb::ApplyCloudResourcesResponse applied;
  ASSERT_TRUE(Apply(Vpc("crud"), "crud", &applied).ok());
  ASSERT_EQ(applied.results_size(), 1);
  EXPECT_EQ(applied.results(0).action(), pb::ApplyCloudResourcesResponse::CREATED);
  EXPECT_EQ(applied.results(0).source(), "test.yaml document 1");
  const pb::CloudResource& created = applied.results(0).resource();
  EXPECT_EQ(created.version(), 1);
  EXPECT_EQ(created.created_by(), "anonymous");
  EXPECT_THAT(created.id(), ::testing::StartsWith("cr-"));

  pb::GetCloudResourceRequest by_id;
  by_id.set_id(created.id());
  pb::CloudResource got;
  ASSERT_TRUE(stub_->GetCloudResource(DaemonProcess::Context().get(), by_id, &got).ok());
  EXPECT_EQ(got.name(), "crud");
  EXPECT_EQ(got.manifest().fields().at("spec").struct_value().fields().at("cidrBlock").string_value(),
            "10.0.0.0/16");
  EXPECT_EQ(got.manifest().fields().at("metadata").struct_value().fields().at("id").string_value(),
            created.id());

  pb::UpdateCloudResourceRequest update;
  update.set_manifest(Vpc("crud", 512));
  update.set_org("acme");
  update.set_env("crud");
  update.set_version(1);
  pb::CloudResource updated;
  ASSERT_TRUE(stub_->UpdateCloudResource(DaemonProcess::Context().get(), update, &updated).ok());
  EXPECT_EQ(updated.version(), 2);
  pb::CloudResource stale;
  grpc::Status s = stub_->UpdateCloudResource(DaemonProcess::Context().get(), update, &stale);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_THAT(s.error_message(), HasSubstr("is at version 2, not 1"));

  pb::DeleteCloudResourceRequest del;
  del.set_id(created.id());
  pb::DeleteCloudResourceResponse deleted;
  ASSERT_TRUE(stub_->DeleteCloudResource(DaemonProcess::Context().get(), del, &deleted).ok());
  EXPECT_EQ(Get("crud", "AwsVpc", "crud", &got).error_code(), grpc::StatusCode::NOT_FOUND);

  pb::ListCloudResourceRevisionsRequest hist;
  hist.set_id(created.id());
  pb::ListCloudResourceRevisionsResponse revisions;
  ASSERT_TRUE(stub_->ListCloudResourceRevisions(DaemonProcess::Context().get(), hist, &revisions).ok());
  ASSERT_EQ(revisions.revisions_size(), 3);
  EXPECT_EQ(revisions.revisions(0).action(), "delete");
  EXPECT_EQ(revisions.revisions(2).action(), "create");
  EXPECT_EQ(revisions.revisions(2).actor(), "anonymous");
}

TEST_F(CloudResourceApiTest, CreateRefusesAnExistingName) {
  pb::CreateCloudResourceRequest req;
  req.set_manifest(Vpc("dup"));
  req.set_org("acme");
  req.set_env("create");
  pb::CloudResource out;
  ASSERT_TRUE(stub_->CreateCloudResource(DaemonProcess::Context().get(), req, &out).ok());
  EXPECT_EQ(stub_->CreateCloudResource(DaemonProcess::Context().get(), req, &out).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
  req.set_manifest(Vpc("a") + "---\n" + Vpc("b"));
  grpc::Status two = stub_->CreateCloudResource(DaemonProcess::Context().get(), req, &out);
  EXPECT_EQ(two.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(two.error_message(), HasSubstr("expected exactly one manifest"));
}

TEST_F(CloudResourceApiTest, ListPaginatesAndFiltersByLabels) {
  std::string text;
  for (int i = 0; i < 30; ++i) {
    text += (i ? "---\n" : "") + Vpc("v" + std::to_string(100 + i), 256, i < 10 ? "{tier: web}" : "{tier: db}");
  }
  pb::ApplyCloudResourcesResponse applied;
  ASSERT_TRUE(Apply(text, "list", &applied).ok());
  EXPECT_EQ(applied.results_size(), 30);

  std::vector<std::string> names;
  std::string token;
  do {
    pb::ListCloudResourcesRequest req;
    req.set_env("list");
    req.set_page_size(7);
    req.set_page_token(token);
    pb::ListCloudResourcesResponse resp;
    ASSERT_TRUE(stub_->ListCloudResources(DaemonProcess::Context().get(), req, &resp).ok());
    EXPECT_LE(resp.resources_size(), 7);
    for (const auto& r : resp.resources()) names.push_back(r.name());
    token = resp.next_page_token();
  } while (!token.empty());
  EXPECT_EQ(names.size(), 30u);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));

  pb::ListCloudResourcesRequest web;
  web.set_env("list");
  web.set_label_selector("tier=web");
  pb::ListCloudResourcesResponse resp;
  ASSERT_TRUE(stub_->ListCloudResources(DaemonProcess::Context().get(), web, &resp).ok());
  EXPECT_EQ(resp.resources_size(), 10);
  web.set_label_selector("tier!=web,!owner");
  ASSERT_TRUE(stub_->ListCloudResources(DaemonProcess::Context().get(), web, &resp).ok());
  EXPECT_EQ(resp.resources_size(), 20);
  web.set_label_selector("tier=");
  ASSERT_TRUE(stub_->ListCloudResources(DaemonProcess::Context().get(), web, &resp).ok());
  EXPECT_EQ(resp.resources_size(), 0);
  web.set_label_selector("bad key=x");
  EXPECT_EQ(stub_->ListCloudResources(DaemonProcess::Context().get(), web, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(CloudResourceApiTest, ConcurrentVersionedUpdatesLoseNothing) {
  pb::ApplyCloudResourcesResponse applied;
  ASSERT_TRUE(Apply(Vpc("counter", 0), "race", &applied).ok());
  constexpr int kThreads = 16, kIncrements = 10;
  std::atomic<int> aborted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      auto stub = pb::CloudResourceService::NewStub(daemon_->Channel());
      for (int i = 0; i < kIncrements;) {
        pb::GetCloudResourceRequest get;
        get.mutable_key()->set_org("acme");
        get.mutable_key()->set_env("race");
        get.mutable_key()->set_kind("AwsVpc");
        get.mutable_key()->set_name("counter");
        pb::CloudResource r;
        ASSERT_TRUE(stub->GetCloudResource(DaemonProcess::Context().get(), get, &r).ok());
        int value = static_cast<int>(
            r.manifest().fields().at("spec").struct_value().fields().at("ipv4NetmaskLength").number_value());
        pb::UpdateCloudResourceRequest up;
        up.set_manifest(Vpc("counter", value + 1));
        up.set_org("acme");
        up.set_env("race");
        up.set_version(r.version());
        pb::CloudResource out;
        grpc::Status s = stub->UpdateCloudResource(DaemonProcess::Context().get(), up, &out);
        if (s.error_code() == grpc::StatusCode::ABORTED) {
          aborted++;
          continue;  // someone else won; read again
        }
        ASSERT_TRUE(s.ok()) << s.error_message();
        ++i;
      }
    });
  }
  for (auto& t : threads) t.join();
  pb::CloudResource final_state;
  ASSERT_TRUE(Get("race", "AwsVpc", "counter", &final_state).ok());
  EXPECT_EQ(final_state.manifest().fields().at("spec").struct_value().fields().at("ipv4NetmaskLength").number_value(),
            kThreads * kIncrements);
  EXPECT_EQ(final_state.version(), 1 + kThreads * kIncrements);
  EXPECT_GT(aborted.load(), 0) << "16 writers should have collided at least once";
}

TEST_F(CloudResourceApiTest, EveryBadInputIsInvalidArgumentAndWritesNothing) {
  const std::string ok = Vpc("fine");
  std::string big_spec = "apiVersion: aws.planton.dev/v1\nkind: AwsIamRole\nmetadata: {name: big}\nspec: {region: r, trustPolicy: {}, description: \"" +
                         std::string(100000, 'x') + "\"}\n";
  struct Case {
    std::string name, text, fragment;
  } cases[] = {
      {"invalid yaml", "kind: [AwsVpc\n", "invalid YAML"},
      {"duplicate keys", "apiVersion: aws.planton.dev/v1\nkind: AwsVpc\nkind: AwsVpc\n", "duplicate key"},
      {"unknown kind", "apiVersion: aws.planton.dev/v1\nkind: AwsVcp\nmetadata: {name: a}\n", "unknown kind"},
      {"unknown field", "apiVersion: aws.planton.dev/v1\nkind: AwsVpc\nmetadata: {name: a}\nspec: {region: r, vpcCdir: x}\n",
       "spec.vpcCdir: unknown field"},
      {"mistyped field", "apiVersion: aws.planton.dev/v1\nkind: AwsVpc\nmetadata: {name: a}\nspec: {region: r, ipv4NetmaskLength: big}\n",
       "spec.ipv4NetmaskLength: expected an integer"},
      {"missing name", "apiVersion: aws.planton.dev/v1\nkind: AwsVpc\nmetadata: {}\n", "metadata.name: required"},
      {"bad name", "apiVersion: aws.planton.dev/v1\nkind: AwsVpc\nmetadata: {name: \"a/b\"}\n", "not a valid resource name"},
      {"bad org", "apiVersion: aws.planton.dev/v1\nkind: AwsVpc\nmetadata: {name: a, org: Acme_1}\n", "metadata.org"},
      {"broken rule", "apiVersion: aws.planton.dev/v1\nkind: AwsSubnet\nmetadata: {name: s}\n"
       "spec: {region: r, vpcId: {value: v}, availabilityZone: a, cidrBlock: not-a-cidr}\n",
       "spec.cidrBlock: \"not-a-cidr\" does not match the pattern"},
      {"slug clash in a batch", ok + "---\n" + "apiVersion: aws.planton.dev/v1\nkind: AwsVpc\nmetadata: {name: Fine}\n"
       "spec: {region: r, cidrBlock: 10.0.0.0/16}\n", "same slug \"fine\""},
      {"bad reference",
       "apiVersion: aws.planton.dev/v1\nkind: AwsAlb\nmetadata: {name: a}\nspec: {region: r, subnets: [{value: s}, {valueFrom: {kind: AwsSubnet, fieldPath: x}}]}\n",
       "spec.subnets[1].valueFrom.name: required"},
      {"too big", big_spec, "over the limit of 65536 bytes"},
      {"nul byte", std::string("apiVersion: aws.planton.dev/v1\nkind: AwsVpc\0\n", 45), "NUL byte"},
      {"one bad document in a batch", ok + "---\n" + "apiVersion: aws.planton.dev/v1\nkind: AwsVpc\nmetadata: {name: b}\nspec: {region: r, nope: 1}\n",
       "test.yaml document 2 (AwsVpc/b): spec.nope"},
      {"only empty documents", "---\n# nothing\n---\n", "no manifest found"},
  };
  for (const auto& c : cases) {
    pb::ApplyCloudResourcesResponse resp;
    grpc::Status s = Apply(c.text, "bad", &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.name << ": " << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(c.fragment)) << c.name;
  }
  EXPECT_EQ(CountIn("bad"), 0) << "a rejected batch must write nothing";

  pb::GetCloudResourceRequest empty;
  pb::CloudResource out;
  grpc::Status s = stub_->GetCloudResource(DaemonProcess::Context().get(), empty, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  pb::UpdateCloudResourceRequest no_version;
  no_version.set_manifest(ok);
  no_version.set_org("acme");
  no_version.set_env("bad");
  s = stub_->UpdateCloudResource(DaemonProcess::Context().get(), no_version, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("version"));
}

TEST_F(CloudResourceApiTest, DryRunReportsWithoutWriting) {
  pb::ApplyCloudResourcesResponse resp;
  ASSERT_TRUE(Apply(Vpc("dry"), "dry", &resp, /*dry_run=*/true).ok());
  EXPECT_EQ(resp.results(0).action(), pb::ApplyCloudResourcesResponse::CREATED);
  EXPECT_EQ(CountIn("dry"), 0);
}

TEST_F(CloudResourceApiTest, KindsAreListedAndDescribed) {
  pb::ListKindsResponse all;
  ASSERT_TRUE(kinds_->ListKinds(DaemonProcess::Context().get(), pb::ListKindsRequest(), &all).ok());
  EXPECT_GE(all.kinds_size(), 40);
  pb::ListKindsRequest gcp_req;
  gcp_req.set_provider("gcp");
  pb::ListKindsResponse gcp;
  ASSERT_TRUE(kinds_->ListKinds(DaemonProcess::Context().get(), gcp_req, &gcp).ok());
  EXPECT_GE(gcp.kinds_size(), 8);
  for (const auto& k : gcp.kinds()) EXPECT_EQ(k.provider(), "gcp");

  pb::GetKindRequest get;
  get.set_kind("GcpGkeNodePool");
  pb::Kind kind;
  ASSERT_TRUE(kinds_->GetKind(DaemonProcess::Context().get(), get, &kind).ok());
  EXPECT_EQ(kind.api_version(), "gcp.planton.dev/v1");
  bool found = false;
  for (const auto& f : kind.spec_fields()) {
    if (f.path() == "machineType") {
      found = true;
      EXPECT_EQ(f.type(), "string");
      EXPECT_THAT(f.description(), HasSubstr("e2-standard-4"));
    }
  }
  EXPECT_TRUE(found);
  EXPECT_GT(kind.output_fields_size(), 0);
  get.set_kind("GcpGkeNodePol");
  grpc::Status s = kinds_->GetKind(DaemonProcess::Context().get(), get, &kind);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("did you mean GcpGkeNodePool"));
}

}  // namespace
}  // namespace plinth::testing

namespace plinth::testing {
namespace {

// Probe finding: errors echoed raw NUL bytes (and escape sequences) from
// names; a terminal or log reading the message got them as they were.
TEST_F(CloudResourceApiTest, ErrorsEscapeControlCharactersFromNames) {
  pb::GetCloudResourceRequest req;
  req.mutable_key()->set_org("acme");
  req.mutable_key()->set_env("dev");
  req.mutable_key()->set_kind("AwsVpc");
  req.mutable_key()->set_name(std::string("evil\0name\x1b[31m", 14));
  pb::CloudResource out;
  grpc::Status s = stub_->GetCloudResource(DaemonProcess::Context().get(), req, &out);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error_message().find('\0'), std::string::npos) << s.error_message();
  EXPECT_EQ(s.error_message().find('\x1b'), std::string::npos) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("\\x00"));
}

// Probe finding: 400k tiny documents took 5 s and 1.45 GB before the
// 10,000-document refusal. The parse now stops at the first one past it.
TEST_F(CloudResourceApiTest, TooManyDocumentsAreRefusedEarly) {
  std::string text;
  for (int i = 0; i < 400000; ++i) text += "a: 1\n---\n";
  pb::ApplyCloudResourcesRequest req;
  req.add_sources()->set_content(text);
  req.set_dry_run(true);
  pb::ApplyCloudResourcesResponse resp;
  grpc::Status s = stub_->ApplyCloudResources(DaemonProcess::Context().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("more than 10000 manifests in one request"));
  // The daemon's peak memory stayed far below what parsing it all took.
  std::ifstream status("/proc/" + std::to_string(daemon_->pid()) + "/status");
  std::string line;
  long peak_kib = -1;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) peak_kib = std::stol(line.substr(6));
  }
  EXPECT_GT(peak_kib, 0);
  EXPECT_LT(peak_kib, 400 * 1024) << "peak RSS " << peak_kib << " KiB";
}

}  // namespace
}  // namespace plinth::testing
