#include "kustomize_commands.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>

#include "absl/strings/str_cat.h"
#include "plinth/manifest/kustomize.h"
#include "plinth/manifest/yaml.h"

namespace plinth::cli {
namespace {

using nlohmann::json;

int Error(const std::string& message, int code = 1) {
  std::cerr << "error: " << message << "\n";
  return code;
}

// The value of an env entry as a string: a string as it is, a number or
// bool in its JSON form, {value: x} its value; anything else (a reference
// resolved at deploy time) has no local value.
bool EnvValue(const json& v, std::string* out) {
  if (v.is_string()) {
    *out = v.get<std::string>();
    return true;
  }
  if (v.is_number() || v.is_boolean()) {
    *out = v.dump();
    return true;
  }
  if (v.is_object() && v.contains("value")) return EnvValue(v["value"], out);
  return false;
}

}  // namespace

std::string DotEnvQuote(const std::string& value) {
  std::string out = "\"";
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '$': out += "\\$"; break;
      case '`': out += "\\`"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      default: out += c;
    }
  }
  return out + "\"";
}

std::string ShellQuote(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

int KustomizeBuild(const std::string& dir, const std::string& overlay, const std::string& output) {
  if (output != "yaml" && output != "json") return Error("-o: use yaml or json", 2);
  auto tree = manifest::ReadTree(dir);
  if (!tree.ok()) return Error(std::string(tree.status().message()));
  if (!manifest::HasKustomize(*tree)) return Error(absl::StrCat(dir, ": no ", manifest::kKustomizeDir, "/base/kustomization.yaml"));
  std::vector<std::string> names = overlay.empty() ? manifest::ListOverlays(*tree) : std::vector<std::string>{overlay};
  json all = json::array();
  for (const auto& name : names) {
    auto built = manifest::BuildOverlay(*tree, name);
    if (!built.ok()) return Error(std::string(built.status().message()));
    if (output == "json") {
      all.push_back({{"overlay", name}, {"env", built->env}, {"documents", built->documents}});
      continue;
    }
    if (overlay.empty()) {
      std::cout << "# overlay: " << name << " (env " << (built->env.empty() ? "unset" : built->env)
                << (name == "local" ? "; never deployed" : "") << ")\n";
    }
    for (size_t i = 0; i < built->documents.size(); ++i) {
      std::cout << "---\n" << manifest::JsonToYaml(built->documents[i]);
    }
  }
  if (output == "json") std::cout << (overlay.empty() ? all : all[0]).dump(2) << "\n";
  return 0;
}

int DotEnv(const std::string& dir, const std::string& overlay, const std::vector<std::string>& sets) {
  auto tree = manifest::ReadTree(dir);
  if (!tree.ok()) return Error(std::string(tree.status().message()));
  auto built = manifest::BuildOverlay(*tree, overlay);
  if (!built.ok()) return Error(std::string(built.status().message()));
  static const std::regex kName("[A-Za-z_][A-Za-z0-9_]*");
  std::map<std::string, std::string> vars;
  for (size_t i = 0; i < built->documents.size(); ++i) {
    const json& d = built->documents[i];
    const json* env = nullptr;
    if (d.contains("spec") && d["spec"].is_object() && d["spec"].contains("container") &&
        d["spec"]["container"].is_object() && d["spec"]["container"].contains("app") &&
        d["spec"]["container"]["app"].is_object() && d["spec"]["container"]["app"].contains("env") &&
        d["spec"]["container"]["app"]["env"].is_object()) {
      env = &d["spec"]["container"]["app"]["env"];
    }
    if (env == nullptr) continue;
    for (const char* section : {"variables", "secrets"}) {
      if (!env->contains(section)) continue;
      // Planton's form is a list of {name, value | valueFrom | secretRef};
      // a mapping of name to value is read too.
      std::vector<std::pair<std::string, json>> entries;
      if ((*env)[section].is_array()) {
        for (const json& item : (*env)[section]) {
          if (!item.is_object() || !item.contains("name") || !item["name"].is_string()) continue;
          json value = item.contains("value") ? item["value"] : json::object({{"valueFrom", true}});
          entries.emplace_back(item["name"].get<std::string>(), value);
        }
      } else if ((*env)[section].is_object()) {
        for (const auto& [k, v] : (*env)[section].items()) entries.emplace_back(k, v);
      }
      for (const auto& [k, v] : entries) {
        std::string value;
        if (!std::regex_match(k, kName)) return Error(absl::StrCat(built->sources[i], ": env name \"", k, "\" is not a shell variable name"));
        if (!EnvValue(v, &value)) {
          std::cerr << "warning: " << built->sources[i] << ": " << section << "." << k
                    << " has no local value (a reference); left out\n";
          continue;
        }
        vars[k] = value;
      }
    }
  }
  for (const auto& s : sets) {
    size_t eq = s.find('=');
    if (eq == std::string::npos || !std::regex_match(s.substr(0, eq), kName)) {
      return Error(absl::StrCat("--set ", s, ": use NAME=value"), 2);
    }
    vars[s.substr(0, eq)] = s.substr(eq + 1);
  }
  std::string env_text, export_text;
  for (const auto& [k, v] : vars) {
    absl::StrAppend(&env_text, k, "=", DotEnvQuote(v), "\n");
    absl::StrAppend(&export_text, "export ", k, "=", ShellQuote(v), "\n");
  }
  for (const auto& [name, text] : {std::pair<std::string, std::string>{".env", env_text}, {".env_export", export_text}}) {
    std::string path = (std::filesystem::path(dir) / name).string();
    std::string tmp = path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << text;
      if (!out) return Error(absl::StrCat(tmp, ": cannot write"));
    }
    std::filesystem::permissions(tmp, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) return Error(absl::StrCat(path, ": ", ec.message()));
  }
  std::cout << "wrote " << vars.size() << " variables of overlay " << overlay << " to "
            << (std::filesystem::path(dir) / ".env").string() << " and .env_export\n";
  return 0;
}

}  // namespace plinth::cli
