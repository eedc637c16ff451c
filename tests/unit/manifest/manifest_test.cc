#include "plinth/manifest/manifest.h"

#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_paths.h"

namespace plinth::manifest {
namespace {

using ::testing::HasSubstr;

class ManifestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = KindCatalog::CreateWithBuiltins();
    ASSERT_TRUE(c.ok()) << c.status();
    catalog_ = std::move(*c);
  }

  absl::StatusOr<std::vector<Manifest>> Parse(const std::string& text, ManifestOptions options = {}) {
    return ParseManifests({{"m.yaml", text}}, options, *catalog_);
  }

  // Expects INVALID_ARGUMENT whose message contains every fragment.
  void ExpectError(const std::string& text, std::vector<std::string> fragments,
                   ManifestOptions options = {.org = "acme", .env = "dev"}) {
    auto r = Parse(text, options);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    for (const auto& f : fragments) EXPECT_THAT(r.status().message(), HasSubstr(f)) << text;
  }

  std::unique_ptr<KindCatalog> catalog_;
};

constexpr char kVpc[] = R"(
apiVersion: aws.planton.dev/v1
kind: AwsVpc
metadata:
  name: main
  labels: {team: platform}
spec:
  region: us-east-1
  cidrBlock: 10.0.0.0/16
  secondary_ipv4_cidr_blocks: [10.1.0.0/16]
  ipv4NetmaskLength: "0"
status:
  outputs: {vpc_id: vpc-123}
)";

TEST_F(ManifestTest, ParsesDefaultsAndDropsStatus) {
  auto r = Parse(kVpc, {.org = "acme", .env = "dev"});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  const Manifest& m = (*r)[0];
  EXPECT_EQ(m.kind, "AwsVpc");
  EXPECT_EQ(m.name, "main");
  EXPECT_EQ(m.org, "acme");
  EXPECT_EQ(m.env, "dev");
  EXPECT_EQ(m.source, "m.yaml document 1");
  EXPECT_EQ(m.body["metadata"]["org"], "acme");
  EXPECT_FALSE(m.body.contains("status"));
  // Proto names and JSON names are both accepted, kept as written.
  EXPECT_EQ(m.body["spec"]["secondary_ipv4_cidr_blocks"][0], "10.1.0.0/16");
}

// Planton's names: dots, underscores, spaces and capitals; never '/', control
// characters or leading/trailing spaces.
TEST_F(ManifestTest, PlantonResourceNames) {
  const std::string head = "apiVersion: aws.planton.dev/v1\nkind: AwsRoute53Zone\n";
  for (const std::string name : {"example.com", "analytics_db", "planton-cloud.app", "My Zone 1"}) {
    auto r = Parse(head + "metadata: {name: \"" + name + "\"}\nspec: {region: us-east-1}\n", {.org = "acme", .env = "dev"});
    ASSERT_TRUE(r.ok()) << name << ": " << r.status();
    EXPECT_EQ((*r)[0].name, name);
  }
  ExpectError(head + "metadata: {name: \"a/b\"}\nspec: {region: x}\n", {"metadata.name: \"a/b\" is not a valid resource name"});
  ExpectError(head + "metadata: {name: \" lead\"}\nspec: {region: x}\n", {"metadata.name", "leading or trailing spaces"});
  ExpectError(head + "metadata: {name: \"nul\\0here\"}\nspec: {region: x}\n", {"metadata.name: \"nul\\000here\""});
  ExpectError(head + "metadata: {name: \"" + std::string(254, 'a') + "\"}\nspec: {region: x}\n", {"at most 253 characters"});
  // Two names with one slug in one batch: both named.
  ExpectError(head + "metadata: {name: example.com}\nspec: {region: x}\n---\n" + head +
                  "metadata: {name: example_com}\nspec: {region: x}\n",
              {"m.yaml document 2 (AwsRoute53Zone/example_com)", "\"example.com\" (m.yaml document 1)",
               "same slug \"example-com\""});
}

TEST_F(ManifestTest, GroupAndRelationshipsAsPlantonWritesThem) {
  auto r = Parse(R"(
apiVersion: aws.planton.dev/v1
kind: AwsCertManagerCert
metadata:
  name: shop_cert
  group: dns
  relationships:
    - {kind: AwsRoute53Zone, name: shop.example.org, type: depends_on}
    - {kind: AwsRoute53Zone, name: other.org, env: prod, type: uses}
spec:
  region: us-east-1
  primaryDomainName: shop.example.org
  route53HostedZoneId:
    valueFrom: {name: shop.example.org}
  validationMethod: DNS
)", {.org = "acme", .env = "dev"});
  ASSERT_TRUE(r.ok()) << r.status();
  const auto& body = (*r)[0].body;
  EXPECT_EQ(body["metadata"]["group"], "dns");
  // kind and fieldPath of a reference default from the field (Planton's foreignkey options).
  EXPECT_EQ(body["spec"]["route53HostedZoneId"]["valueFrom"]["kind"], "AwsRoute53Zone");
  EXPECT_EQ(body["spec"]["route53HostedZoneId"]["valueFrom"]["fieldPath"], "status.outputs.zone_id");
}

// Planton's buf.validate rules on the built-in kinds are evaluated.
TEST_F(ManifestTest, BuiltInKindsCarryPlantonsRules) {
  const std::string subnet = "apiVersion: aws.planton.dev/v1\nkind: AwsSubnet\nmetadata: {name: s}\n";
  ExpectError(subnet + "spec: {region: us-east-1, vpcId: {value: vpc-1}, availabilityZone: us-east-1a}\n",
              {"spec.cidrBlock: required"});
  ExpectError(subnet + "spec: {region: us-east-1, vpcId: {value: vpc-1}, availabilityZone: a, cidrBlock: ten}\n",
              {"spec.cidrBlock: \"ten\" does not match the pattern"});
  ExpectError(subnet + "spec: {vpcId: {value: vpc-1}, availabilityZone: a, cidrBlock: 10.0.0.0/24}\n",
              {"spec.region: must not be empty"});
  ExpectError(subnet + "spec: {region: r, availabilityZone: a, cidrBlock: 10.0.0.0/24}\n", {"spec.vpcId: required"});
  ExpectError(subnet + "spec: {region: r, vpcId: {value: \"\"}, availabilityZone: a, cidrBlock: 10.0.0.0/24}\n",
              {"spec.vpcId: give a non-empty value or a valueFrom reference"});
  const std::string alb = "apiVersion: aws.planton.dev/v1\nkind: AwsAlb\nmetadata: {name: web}\n";
  ExpectError(alb + "spec: {region: r, subnets: [{value: a}]}\n", {"spec.subnets: must have at least 2 items"});
  ExpectError("apiVersion: aws.planton.dev/v1\nkind: AwsVpc\nmetadata: {name: v}\n", {"spec: required"});
}

TEST_F(ManifestTest, OrgAndEnvFromTheManifest) {
  auto r = Parse("apiVersion: aws.planton.dev/v1\nkind: AwsS3Bucket\nmetadata: {name: b, org: o, env: e}\nspec: {region: r}\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0].org, "o");
  EXPECT_EQ((*r)[0].env, "e");
}

TEST_F(ManifestTest, References) {
  auto r = Parse(R"(
apiVersion: aws.planton.dev/v1
kind: AwsAlb
metadata: {name: web}
spec:
  region: us-east-1
  subnets:
    - value: subnet-1
    - valueFrom: {kind: AwsSubnet, name: public-a, fieldPath: status.outputs.subnet_id}
    - value_from: {kind: AwsSubnet, env: prod, name: public-b, field_path: status.outputs.subnet_id}
)", {.org = "acme", .env = "dev"});
  ASSERT_TRUE(r.ok()) << r.status();
}

TEST_F(ManifestTest, BadInputNamesDocumentAndFieldPath) {
  const std::string head = "apiVersion: aws.planton.dev/v1\nkind: AwsAlb\nmetadata: {name: web}\n";
  const std::string two = "{value: a}, {value: b}";
  ExpectError(head + "spec: {region: r, subnets: [{value: a}, {valueFrom: {kind: AwsSubnet, fieldPath: x}}]}\n",
              {"m.yaml document 1 (AwsAlb/web)", "spec.subnets[1].valueFrom.name: required"});
  ExpectError(head + "spec: {region: r, subnets: [" + two + ", {valueFrom: {kind: AwsSubnett, name: a, fieldPath: x}}]}\n",
              {"spec.subnets[2].valueFrom.kind: unknown kind \"AwsSubnett\"", "did you mean AwsSubnet"});
  // The field's default kind and path apply when left out; a field without defaults needs them.
  auto defaulted = Parse(head + "spec: {region: r, subnets: [" + two + ", {valueFrom: {name: a}}]}\n", {.org = "o", .env = "e"});
  ASSERT_TRUE(defaulted.ok()) << defaulted.status();
  EXPECT_EQ((*defaulted)[0].body["spec"]["subnets"][2]["valueFrom"]["fieldPath"], "status.outputs.subnet_id");
  ExpectError(head + "spec: {region: r, subnets: [" + two + ", {}]}\n", {"spec.subnets[2]: give a non-empty value or a valueFrom reference"});
  ExpectError(head + "spec: {region: r, subnets: [" + two + "], internal: \"yes\"}\n", {"spec.internal: expected true or false, got a string"});
  ExpectError(head + "spec: {region: r, subnets: [" + two + "], idleTimeoutSeconds: 1.5}\n", {"spec.idleTimeoutSeconds: expected an integer"});
  ExpectError(head + "spec: {region: r, subnets: [" + two + "], ssl: {enabled: true, certArnn: x}}\n", {"spec.ssl.certArnn: unknown field"});
  ExpectError(head + "spec: {subnets: {value: a}}\n", {"spec.subnets: expected a list, got a mapping"});
  ExpectError(head + "spec: [1]\n", {"spec: expected a mapping, got a list"});
}

TEST_F(ManifestTest, MetadataRules) {
  const std::string head = "apiVersion: aws.planton.dev/v1\nkind: AwsVpc\n";
  ExpectError(head + "metadata: {labels: {a: b}}\n", {"metadata.name: required"});
  ExpectError(head + "metadata: {name: \"a/b\"}\n", {"metadata.name: \"a/b\" is not a valid resource name"});
  ExpectError(head + "metadata: {name: a}\n", {"metadata.org: required"}, {});
  ExpectError(head + "metadata: {name: a, org: other}\n", {"metadata.org: manifest says \"other\" but the request says \"acme\""});
  ExpectError(head + "metadata: {name: a, env: Prod_1}\n", {"metadata.env", "not a valid name"}, {.org = "acme"});
  ExpectError(head + "metadata: {name: a, owner: x}\n", {"metadata.owner: unknown field"});
  ExpectError(head + "metadata: {name: a, relationships: [{kind: AwsVpc, name: b, type: likes}]}\n",
              {"metadata.relationships[0].type: unknown value \"likes\" (one of: unspecified, depends_on, runs_on, managed_by, uses)"});
  ExpectError(head + "metadata: {name: a, relationships: [{kind: AwsVpc, name: b}]}\n",
              {"metadata.relationships[0].type: required"});
  ExpectError(head + "metadata: {name: a, relationships: [{kind: AwsVcp, name: b, type: uses}]}\n",
              {"metadata.relationships[0].kind: unknown kind \"AwsVcp\" (did you mean AwsVpc?)"});
  ExpectError(head + "metadata: {name: a, labels: {x: [1]}}\n", {"metadata.labels[\"x\"]: expected a string"});
  ExpectError(head + "metadata: name\n", {"metadata: expected a mapping"});
}

TEST_F(ManifestTest, KindAndApiVersionErrors) {
  ExpectError("kind: AwsVpc\nmetadata: {name: a}\n", {"apiVersion: required (AwsVpc is aws.planton.dev/v1)"});
  ExpectError("apiVersion: aws.planton.dev/v1\nmetadata: {name: a}\n", {"kind: required"});
  ExpectError("apiVersion: aws.planton.dev/v9\nkind: AwsVpc\nmetadata: {name: a}\n",
              {"apiVersion: AwsVpc is served as aws.planton.dev/v1"});
  ExpectError("apiVersion: aws.planton.dev/v1\nkind: AwsVcp\nmetadata: {name: a}\n",
              {"kind: unknown kind \"AwsVcp\" (did you mean AwsVpc?)"});
  ExpectError("apiVersion: aws.planton.dev/v1\nkind: AwsVpc\nmetadata: {name: a}\nextra: 1\n",
              {"extra: unknown top-level field"});
  ExpectError("just a string\n", {"m.yaml document 1: a manifest must be a mapping"});
}

TEST_F(ManifestTest, BatchErrorsNameTheBadDocumentAndDuplicates) {
  const std::string ok = "apiVersion: aws.planton.dev/v1\nkind: AwsVpc\nmetadata: {name: a}\nspec: {region: r, cidrBlock: 10.0.0.0/16}\n";
  ExpectError(ok + "---\n" + ok, {"m.yaml document 2 (AwsVpc/a): same org/env/kind/name as m.yaml document 1"});
  ExpectError(ok + "---\n---\napiVersion: aws.planton.dev/v1\nkind: AwsVpc\nmetadata: {name: b}\nspec: {region: r, nope: 1}\n",
              {"m.yaml document 3 (AwsVpc/b): spec.nope: unknown field"});
}

TEST_F(ManifestTest, SizeLimitIsEnforced) {
  std::string big = "apiVersion: aws.planton.dev/v1\nkind: AwsIamRole\nmetadata: {name: a}\nspec: {region: r, trustPolicy: {}, description: \"" +
                    std::string(5000, 'x') + "\"}\n";
  ExpectError(big, {"bytes, over the limit of 4096 bytes"}, {.org = "o", .env = "e", .max_manifest_bytes = 4096});
  auto r = Parse(big, {.org = "o", .env = "e", .max_manifest_bytes = 8192});
  EXPECT_TRUE(r.ok()) << r.status();
}

TEST_F(ManifestTest, LoadedKindsValidateEnumsAndReferences) {
  ASSERT_TRUE(catalog_->LoadDescriptorSetFile(PLINTH_ACME_KINDS_PB).ok());
  const std::string head = "apiVersion: acme.example.com/v1\nkind: AcmeWidget\nmetadata: {name: w}\n";
  auto ok = Parse(head + "spec: {count: 3, tier: GOLD, vpc: {valueFrom: {kind: AwsVpc, name: main, fieldPath: x}}}\n",
                  {.org = "o", .env = "e"});
  EXPECT_TRUE(ok.ok()) << ok.status();
  ExpectError(head + "spec: {tier: PLATINUM}\n", {"spec.tier: unknown value \"PLATINUM\" (one of: TIER_UNSPECIFIED, GOLD, SILVER)"});
  ExpectError(head + "spec: {count: 3000000000}\n", {"spec.count: out of range for int32"});
  // The replaced AwsVpc now takes only `cidr`.
  ExpectError("apiVersion: aws.planton.dev/v1\nkind: AwsVpc\nmetadata: {name: a}\nspec: {vpcCidr: x}\n",
              {"spec.vpcCidr: unknown field"});
}

// The rules of a loaded descriptor set are evaluated; CEL rules are listed as
// not evaluated, never passed as checked.
TEST_F(ManifestTest, LoadedDescriptorSetRules) {
  ASSERT_TRUE(catalog_->LoadDescriptorSetFile(PLINTH_ACME_KINDS_PB).ok());
  const std::string head = "apiVersion: acme.example.com/v1\nkind: AcmeRuled\nmetadata: {name: r}\n";
  const std::map<std::string, std::string> good = {{"code", "abc"}, {"mode", "fast"}, {"size", "5"}, {"budget", "10"},
                                                   {"tier", "GOLD"}, {"zones", "[z-a]"}, {"owner", "a@b.io"}, {"host", "h"}};
  auto spec = [&](std::map<std::string, std::string> fields) {
    std::string out;
    for (const auto& [k, v] : fields) out += (out.empty() ? "" : ", ") + k + ": " + v;
    return head + "spec: {" + out + "}\n";
  };
  auto ok = Parse(spec(good), {.org = "o", .env = "e"});
  EXPECT_TRUE(ok.ok()) << ok.status();
  auto bad = [&](const std::string& change, const std::string& fragment) {
    auto fields = good;
    size_t colon = change.find(": ");
    fields[change.substr(0, colon)] = change.substr(colon + 2);
    ExpectError(spec(fields), {fragment});
  };
  bad("code: a", "spec.code: must be at least 2 characters long");
  bad("code: abcdef", "spec.code: must be at most 5 characters long");
  bad("code: AB1", "spec.code: \"AB1\" does not match the pattern ^[a-z]+$");
  bad("mode: slow", "spec.mode: \"slow\" is not one of: fast, safe");
  bad("size: 0", "spec.size: must be greater than 0");
  bad("size: 101", "spec.size: must be at most 100");
  bad("port: 80", "spec.port: must be at least 1024");
  bad("budget: 1000000", "spec.budget: must be less than 1000000");
  bad("tier: 7", "spec.tier: 7 is not a value of Tier");
  bad("zones: [z-a, z-a]", "spec.zones[1]: repeats an earlier item");
  bad("zones: [z-a, z-b, z-c, z-d]", "spec.zones: must have at most 3 items");
  bad("zones: [a]", "spec.zones[0]: must start with \"z-\"");
  bad("tags: {a: x, b: y, c: z}", "spec.tags: must have at most 2 entries");
  bad("tags: {toolong: x}", "spec.tags[\"toolong\"] (key): must be at most 4 characters long");
  bad("owner: nobody", "spec.owner: \"nobody\" is not a valid email address");
  bad("exact: v2", "spec.exact: must be \"v1\"");
  bad("ip: 300.1.1.1", "cannot be set together with");
  ExpectError(head + "spec: {code: abc, mode: fast, size: 5, zones: [z-a], owner: a@b.io}\n",
              {"spec.target: required: give one of host, ip"});
  ExpectError(head + "spec: {code: abc, mode: fast, size: 5, zones: [z-a], host: h}\n", {"spec.owner: required"});
  ExpectError(head + "spec: {code: abc, mode: fast, size: 5, owner: a@b.io, host: h}\n", {"spec.zones: must have at least 1 item"});
  ExpectError(head, {"spec: required"});
  // Zero values of fields with IGNORE_IF_ZERO_VALUE are not checked (port, exact).
  const Kind* kind = catalog_->Find("acme.example.com/v1", "AcmeRuled");
  ASSERT_NE(kind, nullptr);
  ASSERT_EQ(kind->unchecked_rules.size(), 2u);
  EXPECT_EQ(kind->unchecked_rules[0].path, "spec");
  EXPECT_EQ(kind->unchecked_rules[0].id, "size_fits_tier");
  EXPECT_EQ(kind->unchecked_rules[0].expression, "this.size < 10 || this.tier == 1");
  EXPECT_EQ(kind->unchecked_rules[1].path, "spec.note");
  EXPECT_FALSE(kind->in_planton_api);
  EXPECT_GE(catalog_->UncheckedRuleCount(), 2u);
}

TEST_F(ManifestTest, BuiltInCatalogFollowsPlanton) {
  EXPECT_EQ(catalog_->size(), 50u);
  int planton = 0;
  for (const Kind* k : catalog_->List()) planton += k->in_planton_api ? 1 : 0;
  EXPECT_EQ(planton, 49) << "every built-in kind but AzurePostgresqlServer is Planton's";
  EXPECT_FALSE(catalog_->Find("azure.planton.dev/v1", "AzurePostgresqlServer")->in_planton_api);
  // Planton's field numbers for the metadata: name 1, slug 2, id 3, org 4, env 5,
  // labels 6, annotations 7, tags 8, relationships 9, group 10.
  const auto* md = catalog_->Find("aws.planton.dev/v1", "AwsVpc")->metadata;
  int n = 1;
  for (const char* f : {"name", "slug", "id", "org", "env", "labels", "annotations", "tags", "relationships", "group"}) {
    ASSERT_NE(md->FindFieldByName(f), nullptr) << f;
    EXPECT_EQ(md->FindFieldByName(f)->number(), n++) << f;
  }
}

}  // namespace
}  // namespace plinth::manifest
