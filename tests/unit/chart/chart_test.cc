#include "plinth/chart/chart.h"

#include <zlib.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_paths.h"

namespace plinth::chart {
namespace {

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
  vpcCidr: 10.0.0.0/16
  isNatGatewayEnabled: {{ values.nat | lower }}
{%- for z in values.zones %}
---
apiVersion: aws.planton.dev/v1
kind: AwsSubnet
metadata: {name: {{ values.prefix }}-{{ z }}}
spec:
  vpcId: {valueFrom: {kind: AwsVpc, name: {{ values.prefix }}-vpc, fieldPath: status.outputs.vpc_id}}
  availabilityZone: {{ z }}
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
  auto bad_field = LoadChart(Files(std::string(kTemplate) + "---\napiVersion: aws.planton.dev/v1\nkind: AwsVpc\nmetadata: {name: x}\nspec: {vpcCdir: 1}\n"));
  auto values = ResolveValues(*bad_field, {{"project", "p"}}, "acme", "dev");
  auto r = RenderChart(*bad_field, *values, *catalog_, {.org = "acme", .env = "dev"});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("templates/net.yaml document 5 (AwsVpc/x): spec.vpcCdir: unknown field"));

  auto dup = LoadChart(Files(std::string(kTemplate) + "---\napiVersion: aws.planton.dev/v1\nkind: AwsVpc\nmetadata: {name: app-vpc}\n"));
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

}  // namespace
}  // namespace plinth::chart
