#include "plinth/chart/chart.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "plinth/core/secret_box.h"
#include "plinth/core/status_macros.h"
#include "plinth/core/suggest.h"
#include "plinth/manifest/names.h"
#include "plinth/manifest/yaml.h"

namespace plinth::chart {
namespace {

using nlohmann::json;

absl::Status Bad(absl::string_view what) { return absl::InvalidArgumentError(std::string(what)); }

bool IsIdentifier(absl::string_view s) {
  if (s.empty() || !(absl::ascii_isalpha(s[0]) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isalnum(c) || c == '_'; });
}

absl::Status CheckPath(const std::string& path) {
  if (path.empty()) return Bad("chart file with an empty path");
  if (path.find('\0') != std::string::npos || path.find('\\') != std::string::npos) {
    return Bad(absl::StrCat("chart file \"", absl::CEscape(path), "\": bad characters in the path"));
  }
  if (path[0] == '/') return Bad(absl::StrCat("chart file \"", path, "\": absolute paths are not allowed"));
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..") return Bad(absl::StrCat("chart file \"", path, "\": \"..\" is not allowed in paths"));
    if (part.empty() || part == ".") return Bad(absl::StrCat("chart file \"", path, "\": malformed path"));
  }
  return absl::OkStatus();
}

absl::StatusOr<json> ParseOneYaml(const ChartFile& f) {
  PLINTH_ASSIGN_OR_RETURN(auto docs, manifest::ParseYamlDocuments(f.content, f.path));
  if (docs.size() > 1) return Bad(absl::StrCat(f.path, ": expected one YAML document, found ", docs.size()));
  return docs.empty() ? json(nullptr) : std::move(docs[0].value);
}

absl::StatusOr<ParamType> ParseType(const std::string& where, const json& v) {
  if (v.is_null()) return ParamType::kString;
  if (!v.is_string()) return Bad(absl::StrCat(where, ".type: expected a string"));
  std::string t = v.get<std::string>();
  if (t == "string") return ParamType::kString;
  if (t == "number") return ParamType::kNumber;
  if (t == "bool" || t == "boolean") return ParamType::kBool;
  if (t == "list") return ParamType::kList;
  if (t == "string_enum") return ParamType::kStringEnum;
  return Bad(absl::StrCat(where, ".type: \"", t, "\" is not one of string, number, bool, list, string_enum"));
}

// OK when `v` fits the param; otherwise the reason.
absl::Status CheckType(const ParamSpec& p, const json& v, const std::string& where) {
  auto wrong = [&](absl::string_view expected) {
    std::string got = v.is_string() ? "a string" : v.is_boolean() ? "a boolean" : v.is_number() ? "a number"
                      : v.is_array() ? "a list" : v.is_object() ? "a mapping" : "null";
    return Bad(absl::StrCat(where, ": expected ", expected, ", got ", got));
  };
  switch (p.type) {
    case ParamType::kString:
      if (!v.is_string()) return wrong("a string (quote numbers and booleans)");
      return absl::OkStatus();
    case ParamType::kNumber:
      if (!v.is_number()) return wrong("a number");
      return absl::OkStatus();
    case ParamType::kBool:
      if (!v.is_boolean()) return wrong("true or false");
      return absl::OkStatus();
    case ParamType::kList:
      if (!v.is_array()) return wrong("a list of strings");
      for (size_t i = 0; i < v.size(); ++i) {
        if (!v[i].is_string()) return Bad(absl::StrCat(where, "[", i, "]: expected a string"));
      }
      return absl::OkStatus();
    case ParamType::kStringEnum:
      if (!v.is_string()) return wrong("one of " + absl::StrJoin(p.enum_values, ", "));
      if (std::find(p.enum_values.begin(), p.enum_values.end(), v.get<std::string>()) == p.enum_values.end()) {
        return Bad(absl::StrCat(where, ": \"", v.get<std::string>(), "\" is not one of ",
                                absl::StrJoin(p.enum_values, ", ")));
      }
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ParamSpec>> ParseParams(const ChartFile& f) {
  PLINTH_ASSIGN_OR_RETURN(json root, ParseOneYaml(f));
  std::vector<ParamSpec> out;
  if (root.is_null()) return out;
  if (!root.is_object()) return Bad(absl::StrCat(f.path, ": expected a mapping with a params list"));
  auto params = root.find("params");
  if (params == root.end() || params->is_null()) return out;
  if (!params->is_array()) return Bad(absl::StrCat(f.path, ": params: expected a list"));
  std::set<std::string> seen;
  for (size_t i = 0; i < params->size(); ++i) {
    const json& p = (*params)[i];
    std::string where = absl::StrCat(f.path, ": params[", i, "]");
    if (!p.is_object()) return Bad(absl::StrCat(where, ": expected a mapping {name, description, value, type?}"));
    for (const auto& [k, v] : p.items()) {
      static const std::set<std::string> kKeys = {"name", "description", "value", "type", "enum_values", "hidden"};
      if (!kKeys.count(k)) return Bad(absl::StrCat(where, ".", k, ": unknown field"));
    }
    ParamSpec spec;
    auto name = p.find("name");
    if (name == p.end() || !name->is_string() || !IsIdentifier(name->get<std::string>())) {
      return Bad(absl::StrCat(where, ".name: required, letters, digits and '_' starting with a letter"));
    }
    spec.name = name->get<std::string>();
    where = absl::StrCat(f.path, ": params[", i, "] (", spec.name, ")");
    if (spec.name == "env" || spec.name == "org") {
      return Bad(absl::StrCat(where, ": the names env and org are reserved (templates get them from the target)"));
    }
    if (!seen.insert(spec.name).second) return Bad(absl::StrCat(where, ": declared twice"));
    if (auto d = p.find("description"); d != p.end() && d->is_string()) spec.description = d->get<std::string>();
    PLINTH_ASSIGN_OR_RETURN(spec.type, ParseType(where, p.contains("type") ? p["type"] : json(nullptr)));
    if (auto e = p.find("enum_values"); e != p.end() && !e->is_null()) {
      if (!e->is_array()) return Bad(absl::StrCat(where, ".enum_values: expected a list of strings"));
      for (const auto& v : *e) {
        if (!v.is_string()) return Bad(absl::StrCat(where, ".enum_values: expected a list of strings"));
        spec.enum_values.push_back(v.get<std::string>());
      }
    }
    if (spec.type == ParamType::kStringEnum && spec.enum_values.empty()) {
      return Bad(absl::StrCat(where, ": a string_enum needs enum_values"));
    }
    if (auto h = p.find("hidden"); h != p.end() && !h->is_null()) {
      if (!h->is_boolean()) return Bad(absl::StrCat(where, ".hidden: expected true or false"));
      spec.hidden = h->get<bool>();
    }
    if (auto v = p.find("value"); v != p.end() && !v->is_null()) {
      spec.has_default = true;
      spec.default_value = *v;
      PLINTH_RETURN_IF_ERROR(CheckType(spec, *v, where + ".value"));
    }
    out.push_back(std::move(spec));
  }
  return out;
}

// Chart.yaml's metadata.name is a display name, as Planton writes it.
absl::Status CheckDisplayName(const std::string& name) {
  if (absl::StripAsciiWhitespace(name).empty()) return Bad("Chart.yaml: metadata.name: required");
  if (name.size() > 128) {
    return Bad(absl::StrCat("Chart.yaml: metadata.name: ", name.size(), " characters, over the limit of 128"));
  }
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      return Bad(absl::StrCat("Chart.yaml: metadata.name: ", manifest::QuoteForError(name),
                              " has a control character (use printable text)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view ParamTypeName(ParamType t) {
  switch (t) {
    case ParamType::kString: return "string";
    case ParamType::kNumber: return "number";
    case ParamType::kBool: return "bool";
    case ParamType::kList: return "list";
    case ParamType::kStringEnum: return "string_enum";
  }
  return "string";
}

absl::StatusOr<Chart> LoadChart(std::vector<ChartFile> files, const ChartLimits& limits) {
  if (files.size() > limits.max_files) {
    return Bad(absl::StrCat("chart has ", files.size(), " files, over the limit of ", limits.max_files));
  }
  size_t total = 0;
  std::set<std::string> paths;
  for (auto& f : files) {
    PLINTH_RETURN_IF_ERROR(CheckPath(f.path));
    if (!paths.insert(f.path).second) return Bad(absl::StrCat("chart file \"", f.path, "\" appears twice"));
    if (f.content.size() > limits.max_file_bytes) {
      return Bad(absl::StrCat("chart file ", f.path, " is ", f.content.size(), " bytes, over the limit of ",
                              limits.max_file_bytes));
    }
    total += f.content.size();
  }
  if (total > limits.max_total_bytes) {
    return Bad(absl::StrCat("chart is ", total, " bytes, over the limit of ", limits.max_total_bytes));
  }
  std::sort(files.begin(), files.end(), [](const ChartFile& a, const ChartFile& b) { return a.path < b.path; });

  Chart chart;
  const ChartFile* chart_yaml = nullptr;
  const ChartFile* values_yaml = nullptr;
  for (const auto& f : files) {
    if (f.path == "Chart.yaml") chart_yaml = &f;
    if (f.path == "values.yaml") values_yaml = &f;
    if (f.path == "README.md") chart.readme = f.content;
  }
  if (chart_yaml == nullptr) return Bad("Chart.yaml: missing (a chart needs Chart.yaml, values.yaml and templates/)");
  PLINTH_ASSIGN_OR_RETURN(chart.chart_yaml, ParseOneYaml(*chart_yaml));
  const json& cy = chart.chart_yaml;
  if (!cy.is_object()) return Bad("Chart.yaml: expected a mapping");
  if (cy.contains("kind") && cy["kind"] != "InfraChart") {
    return Bad(absl::StrCat("Chart.yaml: kind: expected InfraChart, got ", cy["kind"].dump()));
  }
  const json* md = cy.contains("metadata") && cy["metadata"].is_object() ? &cy["metadata"] : nullptr;
  if (md == nullptr || !md->contains("name") || !(*md)["name"].is_string()) {
    return Bad("Chart.yaml: metadata.name: required");
  }
  chart.display_name = (*md)["name"].get<std::string>();
  PLINTH_RETURN_IF_ERROR(CheckDisplayName(chart.display_name));
  if (md->contains("slug") && (*md)["slug"].is_string() && !(*md)["slug"].get<std::string>().empty()) {
    chart.name = (*md)["slug"].get<std::string>();
    PLINTH_RETURN_IF_ERROR(manifest::CheckName("Chart.yaml: metadata.slug", chart.name));
  } else {
    chart.name = ChartSlugOf(chart.display_name);
    if (!manifest::IsValidName(chart.name)) {
      return Bad(absl::StrCat("Chart.yaml: metadata.name: \"", chart.display_name, "\" gives the identifier \"",
                              chart.name, "\", which does not start with a letter; set metadata.slug"));
    }
  }
  if (md->contains("version") && (*md)["version"].is_string()) chart.version = (*md)["version"].get<std::string>();
  std::vector<ChartFile> inline_templates;
  const ChartFile* inline_values = nullptr;
  ChartFile inline_values_file;
  if (cy.contains("spec") && cy["spec"].is_object()) {
    const json& spec = cy["spec"];
    auto text = [&](const char* key) -> std::string {
      return spec.contains(key) && spec[key].is_string() ? spec[key].get<std::string>() : "";
    };
    chart.description = text("description");
    if (chart.version.empty()) chart.version = text("version");
    chart.info.icon_url = text("iconUrl");
    chart.info.is_ready = spec.contains("isReady") && spec["isReady"].is_boolean() && spec["isReady"].get<bool>();
    for (const char* key : {"selector", "webLinks"}) {
      if (!spec.contains(key) || spec[key].is_null()) continue;
      if (!spec[key].is_object()) return Bad(absl::StrCat("Chart.yaml: spec.", key, ": expected a mapping"));
      auto& out = std::string(key) == "selector" ? chart.info.selector : chart.info.web_links;
      for (const auto& [k, v] : spec[key].items()) {
        if (!v.is_string()) return Bad(absl::StrCat("Chart.yaml: spec.", key, ".", k, ": expected a string"));
        out[k] = v.get<std::string>();
      }
    }
    // Planton's inline form: templates, values and params in Chart.yaml itself.
    if (spec.contains("templateYamlFiles") && !spec["templateYamlFiles"].is_null()) {
      if (!spec["templateYamlFiles"].is_object()) {
        return Bad("Chart.yaml: spec.templateYamlFiles: expected a mapping of file name to template");
      }
      for (const auto& [k, v] : spec["templateYamlFiles"].items()) {
        if (!v.is_string()) return Bad(absl::StrCat("Chart.yaml: spec.templateYamlFiles.", k, ": expected a string"));
        std::string path = absl::StrCat("templates/", k);
        PLINTH_RETURN_IF_ERROR(CheckPath(path));
        if (paths.count(path)) {
          return Bad(absl::StrCat("Chart.yaml: spec.templateYamlFiles.", k, ": ", path, " is also a file of the chart"));
        }
        inline_templates.push_back(ChartFile{path, v.get<std::string>()});
      }
    }
    std::string values_text = text("valuesYaml");
    bool has_params = spec.contains("params") && spec["params"].is_array() && !spec["params"].empty();
    if ((!values_text.empty() || has_params) && values_yaml == nullptr) {
      inline_values_file = values_text.empty()
                               ? ChartFile{"Chart.yaml (spec.params)", json{{"params", spec["params"]}}.dump()}
                               : ChartFile{"Chart.yaml (spec.valuesYaml)", values_text};
      inline_values = &inline_values_file;
    }
  }
  if (values_yaml == nullptr) values_yaml = inline_values;
  if (values_yaml != nullptr) {
    PLINTH_ASSIGN_OR_RETURN(chart.params, ParseParams(*values_yaml));
  }
  for (const auto& f : inline_templates) {
    PLINTH_ASSIGN_OR_RETURN(Template t, Template::Parse(f.content, f.path, limits.max_render_memory_bytes));
    chart.templates.push_back(std::move(t));
  }
  for (const auto& f : files) {
    if (!absl::StartsWith(f.path, "templates/")) continue;
    if (!absl::EndsWith(f.path, ".yaml") && !absl::EndsWith(f.path, ".yml")) continue;
    PLINTH_ASSIGN_OR_RETURN(Template t, Template::Parse(f.content, f.path, limits.max_render_memory_bytes));
    chart.templates.push_back(std::move(t));
  }
  std::sort(chart.templates.begin(), chart.templates.end(),
            [](const Template& a, const Template& b) { return a.name() < b.name(); });
  if (chart.templates.empty()) return Bad("templates/: no *.yaml template in the chart");
  chart.files = std::move(files);
  return chart;
}

std::string ChartSlugOf(absl::string_view display_name) {
  std::string out = manifest::Slugify(display_name);
  if (out.size() > 63) out = out.substr(0, 63);
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

std::string ContentVersion(const std::vector<ChartFile>& files) {
  std::vector<const ChartFile*> sorted;
  for (const auto& f : files) sorted.push_back(&f);
  std::sort(sorted.begin(), sorted.end(), [](const ChartFile* a, const ChartFile* b) { return a->path < b->path; });
  std::string all;
  for (const ChartFile* f : sorted) absl::StrAppend(&all, f->path.size(), ":", f->path, f->content.size(), ":", f->content);
  return absl::StrCat("0.0.0+", core::Sha256Hex(all).substr(0, 12));
}

absl::StatusOr<json> ParseValuesFile(absl::string_view text, const std::string& name) {
  PLINTH_ASSIGN_OR_RETURN(auto docs, manifest::ParseYamlDocuments(text, name));
  if (docs.empty() || docs[0].value.is_null()) return json::object();
  if (docs.size() > 1) return Bad(absl::StrCat(name, ": expected one YAML document"));
  json& v = docs[0].value;
  if (!v.is_object()) return Bad(absl::StrCat(name, ": the values file must be a mapping of param name to value"));
  if (v.size() == 1 && v.contains("params") && v["params"].is_array()) {
    json out = json::object();
    for (size_t i = 0; i < v["params"].size(); ++i) {
      const json& p = v["params"][i];
      if (!p.is_object() || !p.contains("name") || !p["name"].is_string()) {
        return Bad(absl::StrCat(name, ": params[", i, "]: expected {name, value}"));
      }
      out[p["name"].get<std::string>()] = p.contains("value") ? p["value"] : json(nullptr);
    }
    return out;
  }
  return std::move(v);
}

absl::Status ApplySet(const Chart& chart, const std::string& assignment, json* values) {
  size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) return Bad(absl::StrCat("--set \"", assignment, "\": expected name=value"));
  std::string name = assignment.substr(0, eq), raw = assignment.substr(eq + 1);
  const ParamSpec* spec = nullptr;
  for (const auto& p : chart.params) {
    if (p.name == name) spec = &p;
  }
  if (spec == nullptr) return Bad(absl::StrCat("--set ", name, ": the chart has no param named ", name));
  json v;
  switch (spec->type) {
    case ParamType::kString:
    case ParamType::kStringEnum:
      v = raw;
      break;
    case ParamType::kNumber: {
      int64_t i;
      double d;
      if (absl::SimpleAtoi(raw, &i)) {
        v = i;
      } else if (absl::SimpleAtod(raw, &d)) {
        v = d;
      } else {
        return Bad(absl::StrCat("--set ", name, ": \"", raw, "\" is not a number"));
      }
      break;
    }
    case ParamType::kBool: {
      std::string l = absl::AsciiStrToLower(raw);
      if (l == "true" || l == "yes" || l == "on" || l == "1") {
        v = true;
      } else if (l == "false" || l == "no" || l == "off" || l == "0") {
        v = false;
      } else {
        return Bad(absl::StrCat("--set ", name, ": \"", raw, "\" is not true or false"));
      }
      break;
    }
    case ParamType::kList:
      v = json::array();
      if (!raw.empty()) {
        for (absl::string_view item : absl::StrSplit(raw, ',')) v.push_back(std::string(absl::StripAsciiWhitespace(item)));
      }
      break;
  }
  (*values)[name] = v;
  return absl::OkStatus();
}

absl::StatusOr<Value> ResolveValues(const Chart& chart, const json& user, const std::string& org,
                                    const std::string& env) {
  if (!user.is_null() && !user.is_object()) return Bad("values: expected a mapping of param name to value");
  std::set<std::string> known;
  for (const auto& p : chart.params) known.insert(p.name);
  if (user.is_object()) {
    for (const auto& [k, v] : user.items()) {
      if (!known.count(k)) {
        std::vector<std::string> names(known.begin(), known.end());
        std::string hint = core::ClosestMatch(k, names);
        return Bad(absl::StrCat("values.", k, ": the chart has no such param",
                                hint.empty() ? "" : absl::StrCat(" (did you mean ", hint, "?)")));
      }
    }
  }
  Value::Dict dict;
  for (const auto& p : chart.params) {
    std::string where = absl::StrCat("values.", p.name);
    json v;
    if (user.is_object() && user.contains(p.name) && !user[p.name].is_null()) {
      v = user[p.name];
    } else if (p.has_default) {
      v = p.default_value;
    } else {
      return Bad(absl::StrCat(where, ": required (the param has no default)"));
    }
    PLINTH_RETURN_IF_ERROR(CheckType(p, v, where));
    dict.emplace_back(Value::String(p.name), Value::FromJson(v));
  }
  dict.emplace_back(Value::String("env"), Value::String(env));
  dict.emplace_back(Value::String("org"), Value::String(org));
  return Value::MakeDict(std::move(dict));
}

}  // namespace plinth::chart
