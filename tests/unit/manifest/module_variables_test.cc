#include "plinth/manifest/module_variables.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plinth::manifest {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

TEST(ModuleVariablesTest, SnakeCaseFieldsFlattenedReferencesAndKeptMapKeys) {
  auto catalog = *KindCatalog::CreateWithBuiltins();
  auto m = ParseManifests({{"m.yaml", R"(
apiVersion: aws.planton.dev/v1
kind: AwsEcsService
metadata: {name: api, labels: {Team-Name: platform}}
spec:
  region: us-east-1
  clusterArn: {valueFrom: {kind: AwsEcsCluster, name: main, fieldPath: status.outputs.cluster_arn}}
  container:
    cpu: 256
    memory: 512
    image: {repo: nginx, tag: "1.27"}
    env:
      variables: {DATABASE_HOST: db.local, logLevel: info}
  network:
    subnets: [{value: subnet-1}, {valueFrom: {kind: AwsSubnet, env: prod, name: a, fieldPath: status.outputs.subnet_id}}]
    securityGroups: [{value: sg-1}]
)"}}, {.org = "acme", .env = "dev"}, *catalog);
  ASSERT_TRUE(m.ok()) << m.status();
  std::vector<Reference> asked;
  auto vars = ToModuleVariables((*m)[0], *catalog, [&](const Reference& r) -> absl::StatusOr<json> {
    asked.push_back(r);
    return json(r.kind == "AwsEcsCluster" ? "arn:aws:ecs:cluster/main" : "subnet-from-" + r.env);
  });
  ASSERT_TRUE(vars.ok()) << vars.status();
  const json& spec = (*vars)["spec"];
  EXPECT_EQ(spec["cluster_arn"], "arn:aws:ecs:cluster/main");
  EXPECT_EQ(spec["container"]["image"]["repo"], "nginx");
  EXPECT_EQ(spec["container"]["env"]["variables"]["logLevel"], "info");  // a map key: kept
  EXPECT_EQ(spec["network"]["subnets"], json({"subnet-1", "subnet-from-prod"}));
  EXPECT_EQ(spec["network"]["security_groups"], json({"sg-1"}));
  EXPECT_EQ((*vars)["metadata"]["labels"]["Team-Name"], "platform");
  EXPECT_EQ((*vars)["metadata"]["org"], "acme");
  ASSERT_EQ(asked.size(), 2u);
  EXPECT_EQ(asked[0].env, "dev");
  EXPECT_EQ(asked[0].field_path, "status.outputs.cluster_arn");

  auto failing = ToModuleVariables((*m)[0], *catalog, [](const Reference&) -> absl::StatusOr<json> {
    return absl::NotFoundError("not deployed");
  });
  ASSERT_FALSE(failing.ok());
  EXPECT_EQ(failing.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(failing.status().message(), HasSubstr("spec.clusterArn: cannot resolve the reference to AwsEcsCluster/main in dev"));
}

// A fieldPath names an output by its proto or JSON name, or a metadata/spec
// field of the resource; what is missing is named with what exists.
TEST(ModuleVariablesTest, ReferencePathsBothWays) {
  json manifest = {{"metadata", {{"name", "shop.example.org"}, {"group", "dns"}}},
                   {"spec", {{"domainName", "shop.example.org"}, {"region", "eu-west-1"}}}};
  json outputs = {{"zone_id", "Z123"}, {"nameservers", {"ns1", "ns2"}}, {"certArn", "arn:cert"}};
  std::string found;
  EXPECT_EQ(**LookupReferencePath(manifest, outputs, "status.outputs.zone_id", &found), "Z123");
  EXPECT_EQ(found, "status.outputs.zone_id");
  EXPECT_EQ(**LookupReferencePath(manifest, outputs, "status.outputs.zoneId", &found), "Z123");
  EXPECT_EQ(found, "status.outputs.zone_id");
  EXPECT_EQ(**LookupReferencePath(manifest, outputs, "status.outputs.cert_arn"), "arn:cert");
  EXPECT_EQ(**LookupReferencePath(manifest, outputs, "status.outputs.nameservers[1]"), "ns2");
  EXPECT_EQ(**LookupReferencePath(manifest, outputs, "metadata.name"), "shop.example.org");
  EXPECT_EQ(**LookupReferencePath(manifest, outputs, "spec.domain_name"), "shop.example.org");
  auto missing = LookupReferencePath(manifest, outputs, "status.outputs.vpcId");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("it has no output vpcId (outputs: certArn, nameservers, zone_id)"));
  EXPECT_THAT(LookupReferencePath(manifest, outputs, "spec.nope").status().message(),
              HasSubstr("it has no spec.nope (spec has: domainName, region)"));
  EXPECT_EQ(LookupReferencePath(manifest, outputs, "outputs.zone_id").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LookupReferencePath(manifest, json::object(), "status.outputs.zone_id").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ModuleVariablesTest, JsonAtPath) {
  json j = {{"status", {{"outputs", {{"ids", {"a", "b"}}, {"vpc_id", "vpc-1"}}}}}};
  EXPECT_EQ(*JsonAtPath(j, "status.outputs.vpc_id"), "vpc-1");
  EXPECT_EQ(*JsonAtPath(j, "status.outputs.ids[1]"), "b");
  EXPECT_EQ(JsonAtPath(j, "status.outputs.nope"), nullptr);
  EXPECT_EQ(JsonAtPath(j, "status.outputs.ids[5]"), nullptr);
}

}  // namespace
}  // namespace plinth::manifest
