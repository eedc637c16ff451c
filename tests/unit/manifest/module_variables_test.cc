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
  clusterArn: {valueFrom: {kind: AwsEcsCluster, name: main, fieldPath: status.outputs.cluster_arn}}
  container:
    image: {repo: nginx, tag: "1.27"}
    env:
      variables: {DATABASE_HOST: db.local, logLevel: info}
  network:
    subnets: [{value: subnet-1}, {valueFrom: {kind: AwsSubnet, env: prod, name: a, fieldPath: status.outputs.subnet_id}}]
    assignPublicIp: true
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
  EXPECT_EQ(spec["network"]["assign_public_ip"], true);
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

TEST(ModuleVariablesTest, JsonAtPath) {
  json j = {{"status", {{"outputs", {{"ids", {"a", "b"}}, {"vpc_id", "vpc-1"}}}}}};
  EXPECT_EQ(*JsonAtPath(j, "status.outputs.vpc_id"), "vpc-1");
  EXPECT_EQ(*JsonAtPath(j, "status.outputs.ids[1]"), "b");
  EXPECT_EQ(JsonAtPath(j, "status.outputs.nope"), nullptr);
  EXPECT_EQ(JsonAtPath(j, "status.outputs.ids[5]"), nullptr);
}

}  // namespace
}  // namespace plinth::manifest
