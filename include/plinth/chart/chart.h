// Infra charts: the chart format (Chart.yaml, values.yaml with a params
// list, templates/**/*.yaml), parameter checks, and rendering to validated
// manifests.
//
//   auto chart = LoadChart(files);                        // from ReadChartDir or an archive
//   auto values = ResolveValues(*chart, user_values, "acme", "prod");
//   auto rendered = RenderChart(*chart, *values, catalog, {.org = "acme", .env = "prod"});
//
// Every error is INVALID_ARGUMENT naming the file (and line, column, document
// index or param) at fault.
#ifndef PLINTH_CHART_CHART_H_
#define PLINTH_CHART_CHART_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "plinth/chart/template.h"
#include "plinth/chart/value.h"
#include "plinth/manifest/kind_catalog.h"
#include "plinth/manifest/manifest.h"

namespace plinth::chart {

struct ChartFile {
  std::string path;  // relative, '/'-separated: "templates/vpc.yaml"
  std::string content;
};

struct ChartLimits {
  size_t max_files = 500;
  size_t max_file_bytes = 1 << 20;
  size_t max_total_bytes = 8 << 20;
  size_t max_documents = 5000;  // rendered manifests
  size_t max_rendered_bytes = 64 << 20;
  // Heap one template may hold while it is parsed or rendered.
  size_t max_render_memory_bytes = 64 << 20;
  // Polled while rendering; not OK (the caller cancelled, or its deadline
  // passed) stops the render with that status.
  std::function<absl::Status()> interrupt;
};

enum class ParamType { kString, kNumber, kBool, kList, kStringEnum };

struct ParamSpec {
  std::string name;
  std::string description;
  ParamType type = ParamType::kString;
  bool has_default = false;
  nlohmann::json default_value;  // null when no default
  std::vector<std::string> enum_values;
  bool hidden = false;
};

absl::string_view ParamTypeName(ParamType t);

// The spec fields Planton's Chart.yaml carries besides the templates.
struct ChartInfo {
  std::map<std::string, std::string> selector;   // spec.selector: {kind, id}
  std::string icon_url;                          // spec.iconUrl
  bool is_ready = false;                         // spec.isReady
  std::map<std::string, std::string> web_links;  // spec.webLinks: chartWebUrl, readmeRawUrl, ...
};

struct Chart {
  // The identifier used by push, NAME@VERSION and a project's source:
  // metadata.slug when given, else derived from the display name
  // (ChartSlugOf), a DNS label.
  std::string name;
  std::string display_name;  // metadata.name as written: "AWS ECS Environment"
  std::string description;   // spec.description
  // metadata.version or spec.version, if the chart says; else "" (a push
  // gives it ContentVersion(files)).
  std::string version;
  ChartInfo info;
  nlohmann::json chart_yaml;  // Chart.yaml as parsed
  std::vector<ParamSpec> params;
  std::vector<Template> templates;  // sorted by path
  std::vector<ChartFile> files;     // every file, sorted by path
  std::string readme;
};

// The identifier derived from a display name: lowercase, every run of other
// characters than a-z and 0-9 becomes '-', no '-' at either end, at most 63
// characters ("AWS ECS Environment" -> "aws-ecs-environment").
std::string ChartSlugOf(absl::string_view display_name);

// The version a chart without one gets: "0.0.0+" and the first 12 hex digits
// of the SHA-256 of its files (paths and contents), so identical files give
// the same version.
std::string ContentVersion(const std::vector<ChartFile>& files);

// Checks paths (relative, no "..", no absolute paths), limits, Chart.yaml,
// values.yaml and every template's syntax.
absl::StatusOr<Chart> LoadChart(std::vector<ChartFile> files, const ChartLimits& limits = {});

// Reads a chart directory (Chart.yaml, values.yaml, README.md and
// templates/**). Symlinks are refused. File I/O: for the CLI and tests.
absl::StatusOr<std::vector<ChartFile>> ReadChartDir(const std::string& dir, const ChartLimits& limits = {});

// Unpacks a .tar.gz chart; entries with "..", absolute paths, links or
// devices are refused. A single top-level directory is stripped.
absl::StatusOr<std::vector<ChartFile>> ExtractChartArchive(absl::string_view tar_gz,
                                                           const ChartLimits& limits = {});

// Parses a values file: a YAML mapping of param name to value (or a
// chart-style `params:` list of {name, value}).
absl::StatusOr<nlohmann::json> ParseValuesFile(absl::string_view text, const std::string& name);

// Applies "--set name=value" (the value parsed for the param's type; a list
// takes comma-separated items) onto `values`.
absl::Status ApplySet(const Chart& chart, const std::string& assignment, nlohmann::json* values);

// The `values` the templates see: every param (user value, else default) in
// declaration order, plus env and org. Unknown names, wrong types, enum
// violations and missing required params are INVALID_ARGUMENT naming the param.
absl::StatusOr<Value> ResolveValues(const Chart& chart, const nlohmann::json& user_values,
                                    const std::string& org, const std::string& env);

struct RenderedChart {
  std::vector<manifest::Manifest> manifests;
  // Each template's rendered text, by path (for debugging and -o yaml).
  std::vector<ChartFile> rendered;
};

// Renders every template, splits documents, drops empty ones, parses and
// validates each against its kind. Two documents with the same kind and
// name (or names with the same slug) are an error naming both files.
absl::StatusOr<RenderedChart> RenderChart(const Chart& chart, const Value& values,
                                          const manifest::KindCatalog& catalog,
                                          const manifest::ManifestOptions& options,
                                          const ChartLimits& limits = {});

}  // namespace plinth::chart

#endif  // PLINTH_CHART_CHART_H_
