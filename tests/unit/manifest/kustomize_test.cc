#include "plinth/manifest/kustomize.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plinth::manifest {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(MergePatchTest, MapsMergeListsAndScalarsReplaceNullDeletes) {
  json base = json::parse(R"({"a": {"b": 1, "c": [1, 2], "d": "x", "e": {"f": 1}}, "g": 2})");
  json patch = json::parse(R"({"a": {"b": 5, "c": [3], "e": null, "n": {"k": 1, "gone": null}}, "g": null, "h": [1]})");
  json out = MergePatch(base, patch);
  EXPECT_EQ(out, json::parse(R"({"a": {"b": 5, "c": [3], "d": "x", "n": {"k": 1}}, "h": [1]})"));
  // A scalar replaces a map and a map replaces a scalar.
  EXPECT_EQ(MergePatch(json::parse(R"({"a": {"b": 1}})"), json::parse(R"({"a": 3})")), json::parse(R"({"a": 3})"));
  EXPECT_EQ(MergePatch(json::parse(R"({"a": 3})"), json::parse(R"({"a": {"b": 1}})")), json::parse(R"({"a": {"b": 1}})"));
}

FileTree Service() {
  return {
      {"_kustomize/base/kustomization.yaml", "resources: [service.yaml]\n"},
      {"_kustomize/base/service.yaml",
       "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesDeployment\nmetadata: {name: api, env: base}\n"
       "spec:\n  container:\n    app:\n      env:\n        variables: {LOG: info, MODE: base}\n  replicas: 1\n"
       "---\napiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata: {name: api, env: base}\n"},
      {"_kustomize/overlays/prod/kustomization.yaml", "resources: [../../base]\npatches:\n  - path: patch.yaml\n"},
      {"_kustomize/overlays/prod/patch.yaml",
       "kind: KubernetesDeployment\nmetadata: {name: api, env: production}\nspec:\n  replicas: 3\n  container:\n"
       "    app:\n      env:\n        variables: {MODE: prod, LOG: null}\n---\nkind: KubernetesNamespace\n"
       "metadata: {name: api, env: production}\n"},
      {"_kustomize/overlays/local/kustomization.yaml", "resources: [../../base]\npatchesStrategicMerge: [local.yaml]\n"},
      {"_kustomize/overlays/local/local.yaml",
       "kind: KubernetesDeployment\nmetadata: {name: api, env: local}\n---\nkind: KubernetesNamespace\n"
       "metadata: {name: api, env: local}\n"},
  };
}

TEST(KustomizeTest, AnOverlayPatchesTheBaseAndTakesItsEnvFromTheDocuments) {
  FileTree tree = Service();
  EXPECT_TRUE(HasKustomize(tree));
  EXPECT_THAT(ListOverlays(tree), ElementsAre("local", "prod"));
  auto prod = BuildOverlay(tree, "prod");
  ASSERT_TRUE(prod.ok()) << prod.status();
  EXPECT_EQ(prod->env, "production");  // the documents' env, not the directory name
  ASSERT_EQ(prod->documents.size(), 2u);
  const json& api = prod->documents[0];
  EXPECT_EQ(api["spec"]["replicas"], 3);
  EXPECT_EQ(api["spec"]["container"]["app"]["env"]["variables"], json::parse(R"({"MODE": "prod"})"));
  EXPECT_EQ(api["apiVersion"], "kubernetes.planton.dev/v1");
  EXPECT_EQ(prod->sources[0], "_kustomize/base/service.yaml document 1");
  auto local = BuildOverlay(tree, "local");
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ(local->env, "local");
}

TEST(KustomizeTest, BadOverlaysAreClearErrors) {
  FileTree tree = Service();
  auto missing = BuildOverlay(tree, "staging");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("overlays: local, prod"));

  tree["_kustomize/overlays/prod/patch.yaml"] = "kind: KubernetesRedis\nmetadata: {name: cache}\nspec: {}\n";
  auto nobase = BuildOverlay(tree, "prod");
  EXPECT_EQ(nobase.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(nobase.status().message(),
              HasSubstr("_kustomize/overlays/prod/patch.yaml document 1 (KubernetesRedis/cache): the base has no"));

  tree = Service();
  tree["_kustomize/overlays/prod/kustomization.yaml"] = "resources: [../../../../etc]\n";
  auto outside = BuildOverlay(tree, "prod");
  EXPECT_EQ(outside.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(outside.status().message(), HasSubstr("outside the repository"));

  tree = Service();
  tree["_kustomize/overlays/prod/patch.yaml"] = "kind: KubernetesDeployment\nmetadata: {name: api, env: [oops\n";
  auto malformed = BuildOverlay(tree, "prod");
  EXPECT_EQ(malformed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(malformed.status().message(), HasSubstr("_kustomize/overlays/prod/patch.yaml"));

  tree = Service();
  tree["_kustomize/overlays/prod/patch.yaml"] = "kind: KubernetesDeployment\nmetadata: {name: api, env: prod}\n";
  auto mixed = BuildOverlay(tree, "prod");  // the namespace stays "base"
  EXPECT_EQ(mixed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(mixed.status().message(), HasSubstr("an overlay deploys to one env"));

  tree = Service();
  tree["_kustomize/base/kustomization.yaml"] = "resources: [nothere.yaml]\n";
  auto absent = BuildOverlay(tree, "prod");
  EXPECT_THAT(absent.status().message(), HasSubstr("_kustomize/base/nothere.yaml does not exist"));

  EXPECT_EQ(BuildOverlay({}, "prod").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace plinth::manifest
