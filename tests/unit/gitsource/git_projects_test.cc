// Reading a Git project's manifests: a commit's tree read from the mirror
// (fixture repositories made with the git CLI), and the manifests of a tree
// with plain files and Kustomize overlays.
#include "plinth/gitsource/git_projects.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "shell.h"
#include "temp_dir.h"

namespace plinth::gitsource {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

using plinth::testing::Shell;
constexpr char kNamespace[] = "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata: {name: shop}\nspec: {name: shop}\n";
constexpr char kPostgres[] = R"(apiVersion: kubernetes.planton.dev/v1
kind: KubernetesPostgres
metadata: {name: shop-db}
spec:
  namespace: {valueFrom: {kind: KubernetesNamespace, name: shop, fieldPath: status.outputs.namespace}}
  container: {replicas: 1}
)";

class GitProjectsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = manifest::KindCatalog::CreateWithBuiltins();
    ASSERT_TRUE(c.ok());
    catalog_ = std::move(*c);
    repo_ = tmp_.path() + "/infra-repo";
    Write("infra/ns.yaml", kNamespace);
    Write("infra/db/postgres.yml", kPostgres);
    Write("infra/README.md", "not a manifest\n");
    Write("infra/.hidden/x.yaml", "not: read\n");
    Write("other/ignored.yaml", "not: read either\n");
    Git("init -q -b main");
    Commit("one");
    url_ = "file://" + repo_;
  }

  void Write(const std::string& path, const std::string& content) {
    fs::create_directories(fs::path(repo_ + "/" + path).parent_path());
    std::ofstream(repo_ + "/" + path) << content;
  }
  std::string Git(const std::string& args) {
    return Shell("git -C " + repo_ + " -c user.name=t -c user.email=t@example.com " + args);
  }
  void Commit(const std::string& message) {
    Git("add -A");
    Git("commit -q -m " + message);
  }

  plinth::testing::TempDir tmp_;
  std::unique_ptr<manifest::KindCatalog> catalog_;
  std::string repo_, url_;
  GitCache cache_{tmp_.path() + "/cache"};
};

TEST_F(GitProjectsTest, ReadsTheYamlFilesUnderThePathAtOneCommit) {
  auto s = cache_.ReadManifests({.url = url_, .ref = "main", .subdir = "infra"});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->commit, Git("rev-parse main"));
  std::vector<std::string> paths;
  for (const auto& [path, content] : s->files) paths.push_back(path);
  EXPECT_THAT(paths, ElementsAre("db/postgres.yml", "ns.yaml")) << "hidden, non-YAML and outside files are left out";
  EXPECT_EQ(s->files.at("ns.yaml"), kNamespace);

  // A later commit; the earlier one stays readable by its id.
  std::string first = s->commit;
  Write("infra/ns.yaml", std::string(kNamespace) + "  # v2\n");
  Commit("two");
  auto head = cache_.ReadManifests({.url = url_, .ref = "main", .subdir = "infra/"});
  ASSERT_TRUE(head.ok());
  EXPECT_NE(head->commit, first);
  EXPECT_THAT(head->files.at("ns.yaml"), HasSubstr("# v2"));
  auto old = cache_.ReadManifests({.url = url_, .ref = first, .subdir = "infra"});
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->files.at("ns.yaml"), kNamespace);
}

TEST_F(GitProjectsTest, BadSourcesSayWhatIsWrong) {
  auto missing_branch = cache_.ReadManifests({.url = url_, .ref = "nope", .subdir = "infra"});
  EXPECT_EQ(missing_branch.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing_branch.status().message(), HasSubstr("\"nope\""));
  auto missing_commit = cache_.ReadManifests({.url = url_, .ref = std::string(40, 'e'), .subdir = "infra"});
  EXPECT_EQ(missing_commit.status().code(), absl::StatusCode::kNotFound);
  auto missing_path = cache_.ReadManifests({.url = url_, .ref = "main", .subdir = "nowhere"});
  EXPECT_EQ(missing_path.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing_path.status().message(), HasSubstr("\"nowhere\" is not a directory"));
  auto outside = cache_.ReadManifests({.url = url_, .ref = "main", .subdir = "infra/../../etc"});
  EXPECT_EQ(outside.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(outside.status().message(), HasSubstr("leaves the repository"));
  auto absolute = cache_.ReadManifests({.url = url_, .ref = "main", .subdir = "/etc"});
  EXPECT_EQ(absolute.status().code(), absl::StatusCode::kInvalidArgument);
  auto unreachable = cache_.ReadManifests({.url = "file://" + tmp_.path() + "/no-such-repo", .ref = "main"});
  EXPECT_EQ(unreachable.status().code(), absl::StatusCode::kUnavailable);
  auto not_url = cache_.ReadManifests({.url = "/just/a/dir", .ref = "main"});
  EXPECT_EQ(not_url.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(GitProjectsTest, ASymbolicLinkManifestIsRefused) {
  fs::create_symlink("/etc/passwd", repo_ + "/infra/link.yaml");
  Commit("link");
  auto s = cache_.ReadManifests({.url = url_, .ref = "main", .subdir = "infra"});
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("link.yaml: a symbolic link"));
}

constexpr char kBase[] = R"(apiVersion: kubernetes.planton.dev/v1
kind: KubernetesDeployment
metadata: {name: api}
spec:
  namespace: {value: shop}
  version: "1"
  container:
    app:
      image: {repo: registry.local/api, tag: "1"}
      env:
        variables: [{name: LOG_LEVEL, value: info}, {name: REGION, value: eu}]
)";

manifest::FileTree OverlayTree() {
  manifest::FileTree t;
  t["ns.yaml"] = kNamespace;
  t["_kustomize/base/kustomization.yaml"] = "resources: [api.yaml]\n";
  t["_kustomize/base/api.yaml"] = kBase;
  for (const char* env : {"local", "staging", "prod"}) {
    t[std::string("_kustomize/overlays/") + env + "/kustomization.yaml"] = "resources: [../../base]\npatches: [api.yaml]\n";
    t[std::string("_kustomize/overlays/") + env + "/api.yaml"] =
        std::string("kind: KubernetesDeployment\nmetadata: {name: api, env: ") + env +
        "}\nspec: {container: {app: {env: {variables: [{name: LOG_LEVEL, value: " +
        (std::string(env) == "prod" ? "warn" : "debug") + "}]}}}}\n";
  }
  return t;
}

TEST_F(GitProjectsTest, ATreeGivesItsPlainManifestsAndOneSetPerOverlayButLocal) {
  auto ms = ManifestsOfTree(OverlayTree(), "svc", "acme", "dev", *catalog_);
  ASSERT_TRUE(ms.ok()) << ms.status();
  std::vector<std::string> keys;
  for (const auto& m : *ms) keys.push_back(m.env + "/" + m.KindName());
  EXPECT_THAT(keys, UnorderedElementsAre("dev/KubernetesNamespace/shop", "staging/KubernetesDeployment/api",
                                         "prod/KubernetesDeployment/api"))
      << "local is never deployed; an overlay's env is its documents' metadata.env";
  for (const auto& m : *ms) {
    if (m.env == "prod") {
      // A named list merges by name: LOG_LEVEL patched, REGION kept.
      EXPECT_EQ(m.body["spec"]["container"]["app"]["env"]["variables"],
                nlohmann::json::parse(R"([{"name": "LOG_LEVEL", "value": "warn"}, {"name": "REGION", "value": "eu"}])"));
      EXPECT_EQ(m.body["spec"]["container"]["app"]["image"]["tag"], "1") << "the base's fields stay";
    }
  }
}

TEST_F(GitProjectsTest, TreeErrorsNameTheFile) {
  manifest::FileTree bad = OverlayTree();
  bad["db.yaml"] = "kind: KubernetesPostgres\nmetadata: {name: [unclosed\n";
  auto malformed = ManifestsOfTree(bad, "svc", "acme", "dev", *catalog_);
  EXPECT_EQ(malformed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(malformed.status().message(), HasSubstr("svc/db.yaml"));

  manifest::FileTree unknown_target = OverlayTree();
  unknown_target["_kustomize/overlays/prod/api.yaml"] = "kind: KubernetesDeployment\nmetadata: {name: web, env: prod}\n";
  auto patch = ManifestsOfTree(unknown_target, "svc", "acme", "dev", *catalog_);
  EXPECT_FALSE(patch.ok());
  EXPECT_THAT(patch.status().message(), HasSubstr("svc/_kustomize/overlays/prod/api.yaml"));

  manifest::FileTree no_env = OverlayTree();
  no_env["_kustomize/overlays/prod/api.yaml"] = "kind: KubernetesDeployment\nmetadata: {name: api}\n";
  auto envless = ManifestsOfTree(no_env, "", "acme", "dev", *catalog_);
  EXPECT_EQ(envless.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(envless.status().message(), HasSubstr("_kustomize/overlays/prod: its documents name no metadata.env"));

  manifest::FileTree twice;
  twice["a.yaml"] = kNamespace;
  twice["b.yaml"] = kNamespace;
  auto duplicate = ManifestsOfTree(twice, "", "acme", "dev", *catalog_);
  EXPECT_EQ(duplicate.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(duplicate.status().message(), HasSubstr("b.yaml"));

  manifest::FileTree other_env;
  other_env["ns.yaml"] = "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata: {name: x, env: prod}\nspec: {name: x}\n";
  EXPECT_FALSE(ManifestsOfTree(other_env, "", "acme", "dev", *catalog_).ok())
      << "a plain manifest belongs to the project's env";
}

TEST(NormalizeRepoUrl, IgnoresCaseOfHostCredentialsAndDotGit) {
  EXPECT_EQ(NormalizeRepoUrl("https://user:pw@GitHub.com/acme/infra.git/"), "https://github.com/acme/infra");
  EXPECT_EQ(NormalizeRepoUrl("https://github.com/acme/infra"), "https://github.com/acme/infra");
  EXPECT_NE(NormalizeRepoUrl("https://github.com/acme/Infra"), NormalizeRepoUrl("https://github.com/acme/other"));
  EXPECT_EQ(NormalizeRepoUrl("file:///tmp/r.git"), "file:///tmp/r");
}

}  // namespace
}  // namespace plinth::gitsource
