#include "plinth/graph/graph.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace plinth::graph {
namespace {

using ::testing::HasSubstr;

class GraphTest : public ::testing::Test {
 protected:
  void SetUp() override { catalog_ = std::move(*manifest::KindCatalog::CreateWithBuiltins()); }

  std::vector<manifest::Manifest> Parse(const std::string& text) {
    auto m = manifest::ParseManifests({{"g.yaml", text}}, {.org = "acme", .env = "dev"}, *catalog_);
    EXPECT_TRUE(m.ok()) << m.status();
    return *m;
  }

  static std::string Ns(const std::string& name, const std::string& rel = "") {
    return "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata: {name: " + name +
           (rel.empty() ? "" : ", relationships: [" + rel + "]") + "}\nspec: {name: " + name + "}\n";
  }
  static std::string Db(const std::string& name, const std::string& ns, const std::string& env = "") {
    return "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesPostgres\nmetadata: {name: " + name +
           "}\nspec: {namespace: {valueFrom: {kind: KubernetesNamespace, " + (env.empty() ? "" : "env: " + env + ", ") +
           "name: " + ns + ", fieldPath: status.outputs.namespace}}}\n";
  }

  std::unique_ptr<manifest::KindCatalog> catalog_;
};

TEST_F(GraphTest, EdgesFromValueFromAndRelationshipsGiveLayers) {
  auto g = Graph::Build(Parse(Db("db", "apps") + "---\n" + Ns("apps") + "---\n" +
                              Ns("tools", "{kind: KubernetesPostgres, name: db, type: uses}")));
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(g->nodes().size(), 3u);
  EXPECT_EQ(g->Layers(), (std::vector<std::vector<int>>{{1}, {0}, {2}}));
  EXPECT_EQ(g->Order(), (std::vector<int>{1, 0, 2}));
  EXPECT_EQ(g->ReverseOrder(), (std::vector<int>{2, 0, 1}));
  ASSERT_EQ(g->edges().size(), 2u);
  EXPECT_EQ(g->edges()[0].reasons, (std::vector<std::string>{"value_from spec.namespace"}));
  EXPECT_EQ(g->edges()[1].reasons, (std::vector<std::string>{"uses metadata.relationships[0]"}));
  EXPECT_EQ(g->upstream(0), (std::vector<int>{1}));
  EXPECT_EQ(g->downstream(0), (std::vector<int>{2}));
}

TEST_F(GraphTest, ReferencesOutsideTheSetAreExternal) {
  auto g = Graph::Build(Parse(Db("db", "shared") + "---\n" + Db("db2", "apps", "prod")));
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(g->edges().empty());
  ASSERT_EQ(g->nodes()[0].external.size(), 1u);
  EXPECT_EQ(g->nodes()[0].external[0].name, "shared");
  EXPECT_EQ(g->nodes()[0].external[0].env, "dev");  // defaults to the referrer's env
  EXPECT_EQ(g->nodes()[1].external[0].env, "prod");
  EXPECT_THAT(g->ToDot(), HasSubstr("style=dashed"));
  EXPECT_EQ(g->ToJson()["nodes"][0]["external"][0]["fieldPath"], "status.outputs.namespace");
}

TEST_F(GraphTest, CyclesAreErrorsThatListTheCycle) {
  auto g = Graph::Build(Parse(Ns("a", "{kind: KubernetesNamespace, name: c, type: depends_on}") + "---\n" +
                              Ns("b", "{kind: KubernetesNamespace, name: a, type: depends_on}") + "---\n" +
                              Ns("c", "{kind: KubernetesNamespace, name: b, type: depends_on}") + "---\n" + Ns("free")));
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(g.status().message(), HasSubstr("dependency cycle: dev/KubernetesNamespace/"));
  EXPECT_THAT(g.status().message(), HasSubstr("dev/KubernetesNamespace/a -> dev/KubernetesNamespace/b -> "
                                              "dev/KubernetesNamespace/c -> dev/KubernetesNamespace/a"));
  auto self = Graph::Build(Parse(Ns("s", "{kind: KubernetesNamespace, name: s, type: depends_on}")));
  ASSERT_FALSE(self.ok());
  EXPECT_THAT(self.status().message(), HasSubstr("refers to the resource itself"));
}

TEST_F(GraphTest, DotIsWellFormed) {
  auto g = Graph::Build(Parse(Ns("apps") + "---\n" + Db("db", "apps")));
  std::string dot = g->ToDot();
  EXPECT_THAT(dot, HasSubstr("digraph plinth {"));
  EXPECT_THAT(dot, HasSubstr("\"dev/KubernetesNamespace/apps\" -> \"dev/KubernetesPostgres/db\";"));
  EXPECT_THAT(dot, HasSubstr("label=\"KubernetesPostgres\\ndb\""));
  EXPECT_EQ(dot.back(), '\n');
}

// metadata.group: on each node, in the JSON, and a DOT cluster per group;
// dotted and underscored names are nodes like any other.
TEST_F(GraphTest, GroupsAreKeptAndDrawnAsClusters) {
  auto g = Graph::Build(Parse(
      "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata: {name: team.apps, group: base}\n"
      "spec: {name: apps}\n---\n" + Db("app_db", "team.apps") + "---\n" + Db("other_db", "team.apps")));
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(g->nodes().size(), 3u);
  EXPECT_EQ(g->nodes()[0].group, "base");
  EXPECT_EQ(g->nodes()[1].group, "");
  EXPECT_EQ(g->ToJson()["nodes"][0]["group"], "base");
  std::string dot = g->ToDot();
  EXPECT_THAT(dot, HasSubstr("subgraph cluster_0 {\n    label=\"base\";\n    \"dev/KubernetesNamespace/team.apps\""));
  EXPECT_THAT(dot, HasSubstr("\"dev/KubernetesNamespace/team.apps\" -> \"dev/KubernetesPostgres/app_db\";"));
  // A node is declared once, in its cluster or at the top level.
  size_t first = dot.find("\"dev/KubernetesNamespace/team.apps\" [label=");
  EXPECT_EQ(dot.find("\"dev/KubernetesNamespace/team.apps\" [label=", first + 1), std::string::npos);
}

}  // namespace
}  // namespace plinth::graph
