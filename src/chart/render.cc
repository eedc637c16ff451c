#include <map>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "plinth/chart/chart.h"
#include "plinth/core/status_macros.h"
#include "plinth/manifest/names.h"
#include "plinth/manifest/yaml.h"

namespace plinth::chart {

absl::StatusOr<RenderedChart> RenderChart(const Chart& chart, const Value& values,
                                          const manifest::KindCatalog& catalog,
                                          const manifest::ManifestOptions& options,
                                          const ChartLimits& limits) {
  Value context = Value::MakeDict({
      {Value::String("values"), values},
      {Value::String("env"), Value::String(options.env)},
      {Value::String("org"), Value::String(options.org)},
  });
  RenderLimits render_limits;
  render_limits.max_output_bytes = limits.max_rendered_bytes;
  render_limits.max_memory_bytes = limits.max_render_memory_bytes;
  render_limits.interrupt = limits.interrupt;
  RenderedChart out;
  size_t total_bytes = 0;
  std::map<std::tuple<std::string, std::string, std::string>, std::string> seen;
  std::map<std::tuple<std::string, std::string, std::string>, std::pair<std::string, std::string>> slugs;
  for (const Template& t : chart.templates) {
    PLINTH_ASSIGN_OR_RETURN(std::string text, t.Render(context, render_limits));
    total_bytes += text.size();
    if (total_bytes > limits.max_rendered_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          t.name(), ": rendered chart is over the limit of ", limits.max_rendered_bytes, " bytes"));
    }
    auto docs = manifest::ParseYamlDocuments(text, absl::StrCat(t.name(), " (rendered)"));
    if (!docs.ok()) return docs.status();
    for (size_t i = 0; i < docs->size(); ++i) {
      nlohmann::json& doc = (*docs)[i].value;
      if (doc.is_null()) continue;  // empty documents are dropped
      if (out.manifests.size() >= limits.max_documents) {
        return absl::InvalidArgumentError(absl::StrCat(t.name(), ": the chart renders more than ",
                                                       limits.max_documents, " documents"));
      }
      std::string where = absl::StrCat(t.name(), " document ", i + 1);
      PLINTH_ASSIGN_OR_RETURN(manifest::Manifest m,
                              manifest::ValidateManifest(std::move(doc), where, options, catalog));
      auto key = std::make_tuple(m.env, m.kind, m.name);
      auto [it, fresh] = seen.emplace(key, where);
      if (!fresh) {
        return absl::InvalidArgumentError(absl::StrCat(where, " (", m.KindName(),
                                                       "): same kind and name as ", it->second));
      }
      auto [sit, sfresh] = slugs.emplace(std::make_tuple(m.env, m.kind, manifest::ResourceSlug(m.name)),
                                         std::make_pair(where, m.name));
      if (!sfresh) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, " (", m.KindName(), "): its name and \"", sit->second.second, "\" (", sit->second.first,
            ") have the same slug \"", manifest::ResourceSlug(m.name),
            "\", which engines and state keys use; rename one"));
      }
      out.manifests.push_back(std::move(m));
    }
    out.rendered.push_back(ChartFile{t.name(), std::move(text)});
  }
  return out;
}

}  // namespace plinth::chart
