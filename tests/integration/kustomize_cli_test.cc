// plinth kustomize build and plinth dot-env, offline on a directory; the
// written .env_export is read back by a real shell.
#include <filesystem>
#include <fstream>

#include "daemon_process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plinth::testing {
namespace {

using ::testing::HasSubstr;

void Write(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

class KustomizeCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.path() + "/svc";
    Write(root_ + "/_kustomize/base/kustomization.yaml", "resources: [api.yaml]\n");
    Write(root_ + "/_kustomize/base/api.yaml",
          "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesDeployment\nmetadata: {name: api, env: dev}\n"
          "spec:\n  container:\n    app:\n      env:\n        variables:\n          GREETING: \"hello world\"\n"
          "          QUOTED: \"it's \\\"quoted\\\"\"\n          MULTI: \"line one\\nline two\"\n"
          "          PRICE: \"$5 and ${HOME} and `date`\"\n          PORT: 8080\n"
          "        secrets:\n          TOKEN: {value: s3cr3t}\n          FROM_REF: {valueFrom: {kind: X, name: y}}\n");
    Write(root_ + "/_kustomize/overlays/local/kustomization.yaml", "resources: [../../base]\npatches: [local.yaml]\n");
    Write(root_ + "/_kustomize/overlays/local/local.yaml",
          "kind: KubernetesDeployment\nmetadata: {name: api, env: local}\nspec:\n  container:\n    app:\n      env:\n"
          "        variables: {PORT: 3000}\n");
    Write(root_ + "/_kustomize/overlays/prod/kustomization.yaml", "resources: [../../base]\npatches: [{path: p.yaml}]\n");
    Write(root_ + "/_kustomize/overlays/prod/p.yaml", "kind: KubernetesDeployment\nmetadata: {name: api, env: prod}\n");
  }

  CommandResult Plinth(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {PlinthPath()};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }

  TempDir dir_;
  std::string root_;
};

TEST_F(KustomizeCliTest, BuildPrintsOverlays) {
  CommandResult r = Plinth({"kustomize", "build", root_, "--overlay", "prod"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("env: prod"));
  EXPECT_THAT(r.out, HasSubstr("GREETING: hello world"));
  r = Plinth({"kustomize", "build", root_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("# overlay: local (env local; never deployed)"));
  EXPECT_THAT(r.out, HasSubstr("# overlay: prod (env prod)"));
  r = Plinth({"kustomize", "build", root_, "--overlay", "prod", "-o", "json"});
  EXPECT_THAT(r.out, HasSubstr("\"env\": \"prod\""));
  r = Plinth({"kustomize", "build", root_, "--overlay", "qa"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("overlay \"qa\": not found (overlays: local, prod)"));
  r = Plinth({"kustomize", "build", dir_.path()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no _kustomize/base/kustomization.yaml"));
}

TEST_F(KustomizeCliTest, DotEnvQuotesForDotenvAndForShells) {
  CommandResult r = Plinth({"dot-env", root_, "--overlay", "local", "--set", "EXTRA=a b'c", "--set", "PORT=4000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("FROM_REF has no local value"));
  std::ifstream in(root_ + "/.env");
  std::stringstream env;
  env << in.rdbuf();
  EXPECT_THAT(env.str(), HasSubstr("GREETING=\"hello world\"\n"));
  EXPECT_THAT(env.str(), HasSubstr("QUOTED=\"it's \\\"quoted\\\"\"\n"));
  EXPECT_THAT(env.str(), HasSubstr("MULTI=\"line one\\nline two\"\n"));
  EXPECT_THAT(env.str(), HasSubstr("PRICE=\"\\$5 and \\${HOME} and \\`date\\`\"\n"));
  EXPECT_THAT(env.str(), HasSubstr("PORT=\"4000\"\n"));  // --set wins over the overlay's 3000
  EXPECT_THAT(env.str(), HasSubstr("TOKEN=\"s3cr3t\"\n"));
  EXPECT_THAT(env.str(), ::testing::Not(HasSubstr("FROM_REF")));
  // A real shell reads every value back exactly.
  for (const auto& [name, want] : std::vector<std::pair<std::string, std::string>>{
           {"GREETING", "hello world"},
           {"QUOTED", "it's \"quoted\""},
           {"MULTI", "line one\nline two"},
           {"PRICE", "$5 and ${HOME} and `date`"},
           {"EXTRA", "a b'c"},
           {"PORT", "4000"}}) {
    CommandResult sh = RunCommand({"/bin/sh", "-c", ". '" + root_ + "/.env_export' && printf '%s' \"$" + name + "\""});
    EXPECT_EQ(sh.exit_code, 0) << sh.err;
    EXPECT_EQ(sh.out, want) << name;
  }
  r = Plinth({"dot-env", root_, "--overlay", "local", "--set", "1BAD=x"});
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace plinth::testing
