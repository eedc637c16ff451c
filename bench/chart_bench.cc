// chart_bench: render a generated chart of 500 resources (loops and
// conditionals), validate every manifest against its kind and build the
// dependency graph; print the time of each step. Aim: under 50 ms in all.
//
//   build/bin/chart_bench [--teams 100] [--runs 20]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "CLI/CLI.hpp"
#include "plinth/chart/chart.h"
#include "plinth/graph/graph.h"

namespace {

using Clock = std::chrono::steady_clock;

// Five resources a team (one of them conditional), in four layers.
const char kTemplate[] = R"({%- for i in range(values.teams) %}
{%- set team = values.prefix ~ '-' ~ i %}
---
apiVersion: kubernetes.planton.dev/v1
kind: KubernetesNamespace
metadata:
  name: {{ team }}
  labels: {team: {{ team | tojson }}, index: {{ loop.index | string | tojson }}}
spec:
  name: {{ team }}
  labels: {owner: {{ team }}}
---
apiVersion: kubernetes.planton.dev/v1
kind: KubernetesPostgres
metadata: {name: {{ team }}-db}
spec:
  namespace: {valueFrom: {kind: KubernetesNamespace, name: {{ team }}, fieldPath: status.outputs.namespace}}
  container:
    replicas: {{ 3 if i is divisibleby 10 else 1 }}
    diskSize: {{ (10 + i % 5 * 10) ~ 'Gi' }}
  databases:
{%- for db in values.databases %}
    - {name: {{ db }}}
{%- endfor %}
---
apiVersion: kubernetes.planton.dev/v1
kind: KubernetesSecret
metadata:
  name: {{ team }}-secrets
  relationships: [{kind: KubernetesNamespace, name: {{ team }}, type: depends_on}]
spec:
  name: {{ team }}-secrets
  namespace: {{ team }}
  opaque: {data: {token: {{ team | b64encode }}}}
{%- if i % 2 == 0 or values.all_caches %}
---
apiVersion: kubernetes.planton.dev/v1
kind: KubernetesRedis
metadata: {name: {{ team }}-cache}
spec:
  namespace: {valueFrom: {kind: KubernetesNamespace, name: {{ team }}, fieldPath: status.outputs.namespace}}
{%- endif %}
---
apiVersion: kubernetes.planton.dev/v1
kind: KubernetesDeployment
metadata:
  name: {{ team }}-api
  relationships:
    - {kind: KubernetesPostgres, name: {{ team }}-db, type: uses}
    - {kind: KubernetesSecret, name: {{ team }}-secrets, type: uses}
spec:
  namespace: {valueFrom: {kind: KubernetesNamespace, name: {{ team }}, fieldPath: status.outputs.namespace}}
  version: {{ values.tag | tojson }}
  container:
    app:
      image: {repo: registry.local/{{ team }}/api, tag: {{ values.tag | tojson }}}
      env:
        variables:
{%- for k, v in values.env_vars.items() %}
          - {name: {{ k | upper }}, value: {{ v ~ '-' ~ env }}}
{%- endfor %}
  availability: {minReplicas: {{ [1, i % 4] | max }}}
{%- endfor %}
)";

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"chart_bench: render + validate + graph of a generated 500-resource chart"};
  int teams = 100, runs = 20;
  bool all_caches = true;
  app.add_option("--teams", teams, "teams (5 resources each with all caches)");
  app.add_option("--runs", runs, "repetitions; the median is printed");
  CLI11_PARSE(app, argc, argv);

  auto catalog = plinth::manifest::KindCatalog::CreateWithBuiltins();
  std::vector<plinth::chart::ChartFile> files = {
      {"Chart.yaml", "kind: InfraChart\nmetadata: {name: bench, version: 1.0.0}\n"},
      {"values.yaml", "params:\n  - {name: teams, type: number, value: 100}\n  - {name: prefix, value: team}\n"
                      "  - {name: databases, type: list, value: [orders, users]}\n"
                      "  - {name: all_caches, type: bool, value: true}\n  - {name: tag, value: '2.1.0'}\n"},
      {"templates/teams.yaml", kTemplate},
  };
  std::vector<double> load_ms, values_ms, render_ms, graph_ms, total_ms;
  size_t resources = 0, layers = 0, edges = 0;
  for (int r = 0; r < runs; ++r) {
    auto t0 = Clock::now();
    auto chart = plinth::chart::LoadChart(files);
    auto t1 = Clock::now();
    nlohmann::json user = {{"teams", teams}, {"all_caches", all_caches}};
    auto values = plinth::chart::ResolveValues(*chart, user, "acme", "prod");
    // env_vars is not a param: add it to the values dict directly.
    auto dict = values->dict();
    dict.emplace_back(plinth::chart::Value::String("env_vars"),
                      plinth::chart::Value::FromJson(nlohmann::json{{"log_level", "info"}, {"region", "eu"}}));
    plinth::chart::Value v = plinth::chart::Value::MakeDict(std::move(dict));
    auto t2 = Clock::now();
    auto rendered = plinth::chart::RenderChart(*chart, v, **catalog, {.org = "acme", .env = "prod"});
    auto t3 = Clock::now();
    if (!rendered.ok()) {
      std::fprintf(stderr, "render failed: %s\n", std::string(rendered.status().message()).c_str());
      return 1;
    }
    auto g = plinth::graph::Graph::Build(rendered->manifests);
    auto t4 = Clock::now();
    if (!g.ok()) {
      std::fprintf(stderr, "graph failed: %s\n", std::string(g.status().message()).c_str());
      return 1;
    }
    resources = rendered->manifests.size();
    layers = g->Layers().size();
    edges = g->edges().size();
    load_ms.push_back(Ms(t1 - t0));
    values_ms.push_back(Ms(t2 - t1));
    render_ms.push_back(Ms(t3 - t2));
    graph_ms.push_back(Ms(t4 - t3));
    total_ms.push_back(Ms(t4 - t0));
  }
  std::printf("chart_bench: %zu resources, %zu edges, %zu layers; median of %d runs\n", resources, edges, layers, runs);
  std::printf("  parse chart         %8.2f ms\n", Median(load_ms));
  std::printf("  resolve values      %8.2f ms\n", Median(values_ms));
  std::printf("  render + validate   %8.2f ms\n", Median(render_ms));
  std::printf("  build graph         %8.2f ms\n", Median(graph_ms));
  std::printf("  total               %8.2f ms (aim: under 50 ms)\n", Median(total_ms));
  return 0;
}
