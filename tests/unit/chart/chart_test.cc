#include "plinth/chart/chart.h"

#include <zlib.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "plinth/graph/graph.h"
#include "temp_dir.h"
#include "test_paths.h"

namespace plinth::chart {
namespace {

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFileOrDie(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

using ::testing::HasSubstr;
using nlohmann::json;

const char kChartYaml[] = "apiVersion: infra-hub.planton.dev/v1\nkind: InfraChart\nmetadata: {name: demo, version: 1.2.0}\nspec: {description: A demo}\n";
const char kValues[] = R"(params:
  - {name: prefix, description: Name prefix, value: app}
  - {name: count, type: number, value: 2}
  - {name: nat, type: bool, value: false}
  - {name: zones, type: list, value: [a, b]}
  - {name: size, type: string_enum, enum_values: [small, large], value: small}
  - {name: project, description: required}
)";
const char kTemplate[] = R"(apiVersion: aws.planton.dev/v1
kind: AwsVpc
metadata: {name: {{ values.prefix }}-vpc}
spec:
  region: us-east-1
  cidrBlock: 10.0.0.0/16
  enableDnsHostnames: {{ values.nat | lower }}
{%- for z in values.zones %}
---
apiVersion: aws.planton.dev/v1
kind: AwsSubnet
metadata: {name: {{ values.prefix }}-{{ z }}}
spec:
  region: us-east-1
  vpcId: {valueFrom: {kind: AwsVpc, name: {{ values.prefix }}-vpc, fieldPath: status.outputs.vpc_id}}
  availabilityZone: {{ z }}
  cidrBlock: 10.0.{{ loop.index }}.0/24
{%- endfor %}
---
# an empty document is dropped
)";

std::vector<ChartFile> Files(const std::string& tmpl = kTemplate) {
  return {{"Chart.yaml", kChartYaml}, {"values.yaml", kValues}, {"templates/net.yaml", tmpl}, {"README.md", "# demo"}};
}

class ChartTest : public ::testing::Test {
 protected:
  void SetUp() override { catalog_ = std::move(*manifest::KindCatalog::CreateWithBuiltins()); }
  std::unique_ptr<manifest::KindCatalog> catalog_;
};

TEST_F(ChartTest, LoadsChartYamlParamsAndTemplates) {
  auto chart = LoadChart(Files());
  ASSERT_TRUE(chart.ok()) << chart.status();
  EXPECT_EQ(chart->name, "demo");
  EXPECT_EQ(chart->version, "1.2.0");
  EXPECT_EQ(chart->description, "A demo");
  EXPECT_EQ(chart->readme, "# demo");
  ASSERT_EQ(chart->params.size(), 6u);
  EXPECT_EQ(chart->params[1].type, ParamType::kNumber);
  EXPECT_EQ(chart->params[4].enum_values, (std::vector<std::string>{"small", "large"}));
  EXPECT_FALSE(chart->params[5].has_default);
  EXPECT_EQ(chart->templates.size(), 1u);
}

TEST_F(ChartTest, ParamChecksNameTheParam) {
  auto chart = LoadChart(Files());
  ASSERT_TRUE(chart.ok());
  auto check = [&](const json& values, const std::string& fragment) {
    auto r = ResolveValues(*chart, values, "acme", "dev");
    ASSERT_FALSE(r.ok()) << values.dump();
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr(fragment)) << values.dump();
  };
  check(json::object(), "values.project: required");
  check({{"project", "p"}, {"prefx", "x"}}, "values.prefx: the chart has no such param (did you mean prefix?)");
  check({{"project", "p"}, {"count", "two"}}, "values.count: expected a number, got a string");
  check({{"project", "p"}, {"nat", "yes"}}, "values.nat: expected true or false");
  check({{"project", "p"}, {"zones", {"a", 1}}}, "values.zones[1]: expected a string");
  check({{"project", "p"}, {"size", "medium"}}, "values.size: \"medium\" is not one of small, large");
  check({{"project", 5}}, "values.project: expected a string");

  auto ok = ResolveValues(*chart, {{"project", "p"}, {"count", 3}}, "acme", "dev");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->Str(), "{'prefix': 'app', 'count': 3, 'nat': False, 'zones': ['a', 'b'], 'size': 'small', "
                       "'project': 'p', 'env': 'dev', 'org': 'acme'}");
}

TEST_F(ChartTest, SetConvertsByParamType) {
  auto chart = LoadChart(Files());
  json values = json::object();
  ASSERT_TRUE(ApplySet(*chart, "count=5", &values).ok());
  ASSERT_TRUE(ApplySet(*chart, "nat=on", &values).ok());
  ASSERT_TRUE(ApplySet(*chart, "zones=a, b,c", &values).ok());
  ASSERT_TRUE(ApplySet(*chart, "prefix=x=y", &values).ok());
  EXPECT_EQ(values, json({{"count", 5}, {"nat", true}, {"zones", {"a", "b", "c"}}, {"prefix", "x=y"}}));
  EXPECT_THAT(ApplySet(*chart, "count=many", &values).message(), HasSubstr("not a number"));
  EXPECT_THAT(ApplySet(*chart, "nope=1", &values).message(), HasSubstr("no param named nope"));
  EXPECT_THAT(ApplySet(*chart, "novalue", &values).message(), HasSubstr("expected name=value"));
}

TEST_F(ChartTest, RendersSplitsDropsEmptyAndValidates) {
  auto chart = LoadChart(Files());
  auto values = ResolveValues(*chart, {{"project", "p"}}, "acme", "dev");
  auto rendered = RenderChart(*chart, *values, *catalog_, {.org = "acme", .env = "dev"});
  ASSERT_TRUE(rendered.ok()) << rendered.status();
  ASSERT_EQ(rendered->manifests.size(), 3u);
  EXPECT_EQ(rendered->manifests[1].KindName(), "AwsSubnet/app-a");
  EXPECT_EQ(rendered->manifests[1].source, "templates/net.yaml document 2");
  EXPECT_EQ(rendered->manifests[0].org, "acme");
}

TEST_F(ChartTest, RenderErrorsNameTemplateDocumentAndField) {
  auto bad_field = LoadChart(Files(std::string(kTemplate) + "---\napiVersion: aws.planton.dev/v1\nkind: AwsVpc\nmetadata: {name: x}\nspec: {region: r, vpcCdir: 1}\n"));
  auto values = ResolveValues(*bad_field, {{"project", "p"}}, "acme", "dev");
  auto r = RenderChart(*bad_field, *values, *catalog_, {.org = "acme", .env = "dev"});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("templates/net.yaml document 5 (AwsVpc/x): spec.vpcCdir: unknown field"));

  auto dup = LoadChart(Files(std::string(kTemplate) + "---\napiVersion: aws.planton.dev/v1\nkind: AwsVpc\nmetadata: {name: app-vpc}\nspec: {region: r, cidrBlock: 10.1.0.0/16}\n"));
  r = RenderChart(*dup, *values, *catalog_, {.org = "acme", .env = "dev"});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("same kind and name as templates/net.yaml document 1"));

  auto bad_yaml = LoadChart(Files("a: [1\n"));
  r = RenderChart(*bad_yaml, *values, *catalog_, {.org = "acme", .env = "dev"});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("templates/net.yaml (rendered): line"));

  ChartLimits few;
  few.max_documents = 2;
  r = RenderChart(*LoadChart(Files()), *values, *catalog_, {.org = "acme", .env = "dev"}, few);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("more than 2 documents"));
}

TEST_F(ChartTest, BadChartsAreRefused) {
  auto expect = [](std::vector<ChartFile> files, const std::string& fragment, ChartLimits limits = {}) {
    auto c = LoadChart(std::move(files), limits);
    ASSERT_FALSE(c.ok()) << fragment;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(c.status().message(), HasSubstr(fragment));
  };
  expect({{"values.yaml", kValues}, {"templates/a.yaml", "x: 1"}}, "Chart.yaml: missing");
  expect({{"Chart.yaml", kChartYaml}, {"values.yaml", kValues}}, "no *.yaml template");
  expect({{"Chart.yaml", kChartYaml}, {"templates/../x.yaml", "a"}}, "\"..\" is not allowed");
  expect({{"Chart.yaml", kChartYaml}, {"/etc/passwd", "a"}}, "absolute paths are not allowed");
  expect({{"Chart.yaml", "kind: Other\nmetadata: {name: a}"}, {"templates/a.yaml", "a"}}, "kind: expected InfraChart");
  expect({{"Chart.yaml", kChartYaml}, {"templates/a.yaml", "{% if x %}"}}, "templates/a.yaml:1:11: unexpected end of template");
  expect({{"Chart.yaml", kChartYaml}, {"values.yaml", "params: {a: 1}"}, {"templates/a.yaml", "a"}}, "params: expected a list");
  expect({{"Chart.yaml", kChartYaml}, {"values.yaml", "params: [{name: a, type: float}]"}, {"templates/a.yaml", "a"}},
         "\"float\" is not one of string, number, bool, list, string_enum");
  expect({{"Chart.yaml", kChartYaml}, {"values.yaml", "params: [{name: n, type: number, value: x}]"}, {"templates/a.yaml", "a"}},
         "params[0] (n).value: expected a number");
  expect({{"Chart.yaml", kChartYaml}, {"values.yaml", "params: [{name: env}]"}, {"templates/a.yaml", "a"}}, "reserved");
  ChartLimits tiny;
  tiny.max_file_bytes = 10;
  expect(Files(), "over the limit of 10", tiny);
  tiny = {};
  tiny.max_files = 2;
  expect(Files(), "over the limit of 2", tiny);
}

TEST_F(ChartTest, ValuesFiles) {
  EXPECT_EQ(*ParseValuesFile("count: 3\nzones: [a]\n", "v.yaml"), json({{"count", 3}, {"zones", {"a"}}}));
  EXPECT_EQ(*ParseValuesFile("params:\n  - {name: count, value: 4}\n", "v.yaml"), json({{"count", 4}}));
  EXPECT_EQ(*ParseValuesFile("", "v.yaml"), json::object());
  auto list = ParseValuesFile("- a\n- b\n", "v.yaml");
  ASSERT_FALSE(list.ok());
  EXPECT_THAT(list.status().message(), HasSubstr("v.yaml: the values file must be a mapping"));
}

// A minimal tar.gz writer for tests: ustar headers, gzip via zlib.
std::string TarGz(const std::vector<std::tuple<std::string, char, std::string>>& entries) {
  std::string tar;
  for (const auto& [name, type, content] : entries) {
    char h[512] = {0};
    std::snprintf(h, 100, "%s", name.c_str());
    std::snprintf(h + 100, 8, "%07o", 0644);
    std::snprintf(h + 124, 12, "%011lo", static_cast<unsigned long>(content.size()));
    h[156] = type;
    if (type == '2') std::snprintf(h + 157, 100, "%s", "/etc/passwd");
    std::memcpy(h + 257, "ustar", 5);
    std::memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (char c : h) sum += static_cast<unsigned char>(c);
    std::snprintf(h + 148, 8, "%06o", sum);
    tar.append(h, 512);
    tar += content;
    tar.append((512 - content.size() % 512) % 512, '\0');
  }
  tar.append(1024, '\0');
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, tar.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(tar.data());
  zs.avail_in = tar.size();
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = out.size();
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

TEST_F(ChartTest, ArchivesUnpackAndUnsafeEntriesAreRefused) {
  auto files = ExtractChartArchive(TarGz({{"demo/Chart.yaml", '0', kChartYaml},
                                          {"demo/values.yaml", '0', kValues},
                                          {"demo/templates/", '5', ""},
                                          {"demo/templates/net.yaml", '0', kTemplate}}));
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_TRUE(LoadChart(*files).ok());
  EXPECT_EQ((*files)[0].path, "Chart.yaml");

  auto traversal = ExtractChartArchive(TarGz({{"Chart.yaml", '0', kChartYaml}, {"../../evil.yaml", '0', "x"}}));
  ASSERT_TRUE(traversal.ok());  // unpacking is only reading; LoadChart checks paths
  EXPECT_THAT(LoadChart(*traversal).status().message(), HasSubstr("\"..\" is not allowed"));
  auto absolute = ExtractChartArchive(TarGz({{"Chart.yaml", '0', kChartYaml}, {"/etc/cron.d/x", '0', "x"}}));
  EXPECT_THAT(LoadChart(*absolute).status().message(), HasSubstr("absolute paths are not allowed"));
  auto link = ExtractChartArchive(TarGz({{"templates/a.yaml", '2', ""}}));
  ASSERT_FALSE(link.ok());
  EXPECT_THAT(link.status().message(), HasSubstr("links are not allowed"));
  auto garbage = ExtractChartArchive("not gzip at all");
  ASSERT_FALSE(garbage.ok());
  EXPECT_THAT(garbage.status().message(), HasSubstr("not a valid .tar.gz"));
  ChartLimits small;
  small.max_total_bytes = 1000;
  auto bomb = ExtractChartArchive(TarGz({{"Chart.yaml", '0', std::string(1 << 20, 'a')}}), small);
  ASSERT_FALSE(bomb.ok());
  EXPECT_THAT(bomb.status().message(), HasSubstr("unpacks to more than"));
}

TEST_F(ChartTest, ExampleChartsRenderWithTheirDefaults) {
  for (const char* name : {"local-demo", "aws-ecs-environment", "gcp-gke-environment"}) {
    auto files = ReadChartDir(std::string(PLINTH_SOURCE_DIR) + "/examples/charts/" + name);
    ASSERT_TRUE(files.ok()) << files.status();
    auto chart = LoadChart(*files);
    ASSERT_TRUE(chart.ok()) << name << ": " << chart.status();
    json values = json::object();
    for (const auto& p : chart->params) {
      if (!p.has_default) values[p.name] = "test-project";
    }
    auto resolved = ResolveValues(*chart, values, "acme", "dev");
    ASSERT_TRUE(resolved.ok()) << name << ": " << resolved.status();
    auto rendered = RenderChart(*chart, *resolved, *catalog_, {.org = "acme", .env = "dev"});
    ASSERT_TRUE(rendered.ok()) << name << ": " << rendered.status();
    EXPECT_GE(rendered->manifests.size(), 5u) << name;
  }
}

// Chart.yaml as Planton writes it: a display name, no version, Planton's spec
// fields; the identifier is the slug, or derived from the display name.
TEST_F(ChartTest, PlantonChartYaml) {
  const std::string planton = R"(apiVersion: infra-hub.planton.ai/v1
kind: InfraChart
metadata:
  name: AWS ECS Environment (v2)
spec:
  selector: {kind: platform, id: aws}
  description: An ECS environment.
  iconUrl: https://example.invalid/ecs.svg
  isReady: true
  webLinks: {chartWebUrl: "https://example.invalid/c", readmeRawUrl: "https://example.invalid/r"}
  templateYamlFiles: { }
  valuesYaml: ""
  params: [ ]
)";
  auto chart = LoadChart({{"Chart.yaml", planton}, {"values.yaml", kValues}, {"templates/net.yaml", kTemplate}});
  ASSERT_TRUE(chart.ok()) << chart.status();
  EXPECT_EQ(chart->name, "aws-ecs-environment-v2");
  EXPECT_EQ(chart->display_name, "AWS ECS Environment (v2)");
  EXPECT_EQ(chart->version, "");
  EXPECT_EQ(chart->info.selector.at("kind"), "platform");
  EXPECT_EQ(chart->info.icon_url, "https://example.invalid/ecs.svg");
  EXPECT_TRUE(chart->info.is_ready);
  EXPECT_EQ(chart->info.web_links.at("readmeRawUrl"), "https://example.invalid/r");
  // The content-addressed version: the same files give the same version, other files another.
  std::string v = ContentVersion(chart->files);
  EXPECT_THAT(v, ::testing::MatchesRegex("0\\.0\\.0\\+[0-9a-f]{12}"));
  EXPECT_EQ(ContentVersion(LoadChart({{"Chart.yaml", planton}, {"values.yaml", kValues}, {"templates/net.yaml", kTemplate}})->files), v);
  EXPECT_NE(ContentVersion(LoadChart({{"Chart.yaml", planton}, {"values.yaml", kValues}, {"templates/net.yaml", std::string(kTemplate) + "\n"}})->files), v);

  auto slugged = LoadChart({{"Chart.yaml", "metadata: {name: Any Title, slug: my-chart}\n"}, {"templates/a.yaml", "a: 1"}});
  ASSERT_TRUE(slugged.ok()) << slugged.status();
  EXPECT_EQ(slugged->name, "my-chart");
  EXPECT_EQ(ChartSlugOf("GKE Environment"), "gke-environment");
  EXPECT_EQ(ChartSlugOf("  Hello,  World!! "), "hello-world");

  auto expect = [](const std::string& chart_yaml, const std::string& fragment) {
    auto c = LoadChart({{"Chart.yaml", chart_yaml}, {"templates/a.yaml", "a: 1"}});
    ASSERT_FALSE(c.ok()) << chart_yaml;
    EXPECT_THAT(c.status().message(), HasSubstr(fragment));
  };
  expect("metadata: {name: \"" + std::string(129, 'x') + "\"}\n", "Chart.yaml: metadata.name: 129 characters, over the limit of 128");
  expect("metadata: {name: \"bad\\ttab\"}\n", "Chart.yaml: metadata.name: \"bad\\ttab\" has a control character");
  expect("metadata: {name: \"3 Tier\"}\n", "set metadata.slug");
  expect("metadata: {name: T, slug: Bad_Slug}\n", "Chart.yaml: metadata.slug: \"Bad_Slug\" is not a valid name");
  expect("metadata: {name: T}\nspec: {webLinks: [a]}\n", "Chart.yaml: spec.webLinks: expected a mapping");
}

// Planton's inline form: templates and params in Chart.yaml itself.
TEST_F(ChartTest, InlineTemplatesValuesAndParams) {
  auto chart = LoadChart({{"Chart.yaml", R"(metadata: {name: Inline}
spec:
  templateYamlFiles:
    ns.yaml: "apiVersion: kubernetes.planton.dev/v1\nkind: KubernetesNamespace\nmetadata: {name: '{{ values.ns }}'}\nspec: {name: '{{ values.ns }}'}\n"
  params:
    - {name: ns, value: team-a}
)"}});
  ASSERT_TRUE(chart.ok()) << chart.status();
  ASSERT_EQ(chart->templates.size(), 1u);
  EXPECT_EQ(chart->templates[0].name(), "templates/ns.yaml");
  auto values = ResolveValues(*chart, json::object(), "acme", "dev");
  ASSERT_TRUE(values.ok()) << values.status();
  auto rendered = RenderChart(*chart, *values, *catalog_, {.org = "acme", .env = "dev"});
  ASSERT_TRUE(rendered.ok()) << rendered.status();
  EXPECT_EQ(rendered->manifests[0].name, "team-a");
  auto clash = LoadChart({{"Chart.yaml", "metadata: {name: C}\nspec: {templateYamlFiles: {a.yaml: 'x: 1'}}\n"},
                          {"templates/a.yaml", "x: 2"}});
  ASSERT_FALSE(clash.ok());
  EXPECT_THAT(clash.status().message(), HasSubstr("spec.templateYamlFiles.a.yaml: templates/a.yaml is also a file of the chart"));
}

absl::StatusOr<RenderedChart> RenderDir(const std::string& dir, const json& values,
                                        const manifest::KindCatalog& catalog) {
  auto files = ReadChartDir(dir);
  if (!files.ok()) return files.status();
  auto chart = LoadChart(*files);
  if (!chart.ok()) return chart.status();
  auto resolved = ResolveValues(*chart, values, "acme", "dev");
  if (!resolved.ok()) return resolved.status();
  return RenderChart(*chart, *resolved, catalog, {.org = "acme", .env = "dev"});
}

// ../shared/testdata/planton-style (copied to tests/data/planton-style), as its README says.
TEST_F(ChartTest, PlantonStyleChartsRenderOrAreRefusedAsTheReadmeSays) {
  const std::string root = PLINTH_PLANTON_STYLE;
  auto files = ReadChartDir(root + "/static-website");
  ASSERT_TRUE(files.ok()) << files.status();
  auto chart = LoadChart(*files);
  ASSERT_TRUE(chart.ok()) << chart.status();
  EXPECT_EQ(chart->name, "acme-static-website");
  EXPECT_EQ(chart->display_name, "Acme Static Website");

  // Without values: domain has no value, so it is required.
  auto none = RenderDir(root + "/static-website", json::object(), *catalog_);
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("values.domain: required"));

  // As written, the CDN's origin "site_assets.s3.amazonaws.com" breaks Planton's own
  // rule on AwsCloudFront.spec.origins[].domainName (no '_'): plinth evaluates it.
  auto as_written = RenderDir(root + "/static-website", {{"domain", "example.com"}}, *catalog_);
  ASSERT_FALSE(as_written.ok());
  EXPECT_THAT(as_written.status().message(),
              HasSubstr("templates/site.yaml document 2 (AwsCloudFront/site-cdn): spec.origins[0].domainName: "
                        "\"site_assets.s3.amazonaws.com\" does not match the pattern"));

  // With a valid origin host it renders exactly as Python Jinja2 does (the
  // expected file, with the same origin), in 3 layers, with its groups.
  plinth::testing::TempDir tmp;
  std::filesystem::copy(root + "/static-website", tmp.path() + "/sw", std::filesystem::copy_options::recursive);
  std::string site = ReadFileOrDie(tmp.path() + "/sw/templates/site.yaml");
  site.replace(site.find("site_assets.s3.amazonaws.com"), 28, "site-assets.s3.amazonaws.com");
  WriteFileOrDie(tmp.path() + "/sw/templates/site.yaml", site);
  auto rendered = RenderDir(tmp.path() + "/sw", {{"domain", "example.com"}}, *catalog_);
  ASSERT_TRUE(rendered.ok()) << rendered.status();
  json expected = json::parse(ReadFileOrDie(root + "/static-website/expected-domain-example.com.json"));
  expected[3]["spec"]["origins"][0]["domainName"] = "site-assets.s3.amazonaws.com";
  json got = json::array();
  for (const auto& m : rendered->manifests) {
    json body = m.body;
    body["metadata"].erase("org");
    body["metadata"].erase("env");
    got.push_back(body);
  }
  EXPECT_EQ(got, expected);
  auto g = graph::Graph::Build(rendered->manifests);
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_EQ(g->Layers().size(), 3u);
  std::vector<std::string> layer0;
  for (int v : g->Layers()[0]) layer0.push_back(g->nodes()[v].key.kind + "/" + g->nodes()[v].key.name);
  EXPECT_THAT(layer0, ::testing::UnorderedElementsAre("AwsRoute53Zone/example.com", "AwsS3Bucket/site_assets"));
  EXPECT_EQ(g->nodes()[g->Layers()[1][0]].key.kind, "AwsCertManagerCert");
  EXPECT_EQ(g->nodes()[g->Layers()[2][0]].key.kind, "AwsCloudFront");
  std::set<std::string> groups;
  for (const auto& n : g->nodes()) groups.insert(n.group);
  EXPECT_EQ(groups, (std::set<std::string>{"dns", "storage", "edge"}));
  EXPECT_THAT(g->ToDot(), HasSubstr("subgraph cluster_0 {\n    label=\"dns\";"));

  auto dup = RenderDir(root + "/duplicate-resource", json::object(), *catalog_);
  ASSERT_FALSE(dup.ok());
  EXPECT_THAT(dup.status().message(), HasSubstr("templates/vpc.yaml"));
  EXPECT_THAT(dup.status().message(), HasSubstr("templates/network/vpc.yaml"));

  auto wrong = RenderDir(root + "/wrong-api-version", json::object(), *catalog_);
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(wrong.status().message(), HasSubstr("apiVersion: AwsS3Bucket is served as aws.planton.dev/v1"));

  // The plain manifests apply (validate); their reference resolves in the stack job tests.
  auto plain = manifest::ParseManifests({{"dns-and-site.yaml", ReadFileOrDie(root + "/manifests/dns-and-site.yaml")}},
                                        {.org = "acme", .env = "dev"}, *catalog_);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ((*plain)[0].name, "shop.example.org");
}

}  // namespace
}  // namespace plinth::chart
