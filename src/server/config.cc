#include "plinth/server/config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "plinth/manifest/yaml.h"

namespace plinth::server {
namespace {

std::string Resolve(const std::filesystem::path& base, const std::string& p) {
  if (p.empty() || std::filesystem::path(p).is_absolute()) return p;
  return (base / p).lexically_normal().string();
}

}  // namespace

absl::StatusOr<Config> LoadConfigFile(const std::string& path, Config config) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("config file ", path, ": cannot read it"));
  std::stringstream text;
  text << in.rdbuf();
  auto docs = manifest::ParseYamlDocuments(text.str(), absl::StrCat("config file ", path));
  if (!docs.ok()) return docs.status();
  if (docs->empty() || docs->front().value.is_null()) return config;
  if (docs->size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": expected one document"));
  }
  const nlohmann::json& root = docs->front().value;
  if (!root.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": expected a mapping"));
  }
  std::filesystem::path dir = std::filesystem::absolute(path).parent_path();
  auto wrong = [&](const std::string& key, const char* expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("config file ", path, ": ", key, ": wrong type (expected ", expected, ")"));
  };
  auto unknown = [&](const std::string& key) {
    return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": ", key, ": unknown setting"));
  };
  for (const auto& [key, v] : root.items()) {
    if (key == "listen" || key == "data_dir" || key == "auth_token_file") {
      if (!v.is_string()) return wrong(key, "a string");
      const std::string& value = v.get_ref<const std::string&>();
      if (key == "listen") config.listen = value;
      if (key == "data_dir") config.data_dir = Resolve(dir, value);
      if (key == "auth_token_file") config.auth_token_file = Resolve(dir, value);
    } else if (key == "log") {
      if (!v.is_object()) return wrong(key, "a mapping {level, format}");
      for (const auto& [sub, lv] : v.items()) {
        std::string full = "log." + sub;
        if (sub != "level" && sub != "format") return unknown(full);
        if (!lv.is_string()) return wrong(full, "a string");
        (sub == "level" ? config.log_level : config.log_format) = lv.get<std::string>();
      }
    } else if (key == "kinds_descriptor_sets") {
      if (!v.is_array()) return wrong(key, "a list of paths");
      config.kinds_descriptor_sets.clear();
      for (const auto& item : v) {
        if (!item.is_string()) return wrong(key, "a list of paths");
        config.kinds_descriptor_sets.push_back(Resolve(dir, item.get<std::string>()));
      }
    } else if (key == "max_manifest_bytes") {
      if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0)) {
        return wrong(key, "a number of bytes");
      }
      config.max_manifest_bytes = v.get<size_t>();
    } else if (key == "workers") {
      if (!v.is_number_integer()) return wrong(key, "an integer");
      config.workers = static_cast<int>(std::clamp<int64_t>(v.get<int64_t>(), -1, 100000));
    } else {
      return unknown(key);
    }
  }
  return config;
}

absl::Status ValidateConfig(const Config& c) {
  static const char* kLevels[] = {"trace", "debug", "info", "warn", "error"};
  if (std::find(std::begin(kLevels), std::end(kLevels), c.log_level) == std::end(kLevels)) {
    return absl::InvalidArgumentError(absl::StrCat("log level \"", c.log_level,
                                                   "\": use trace, debug, info, warn or error"));
  }
  if (c.log_format != "text" && c.log_format != "json") {
    return absl::InvalidArgumentError(absl::StrCat("log format \"", c.log_format, "\": use text or json"));
  }
  if (c.listen.empty() || c.listen.find(':') == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("listen \"", c.listen, "\": use host:port"));
  }
  if (c.data_dir.empty()) return absl::InvalidArgumentError("data dir: required");
  if (c.max_manifest_bytes < 1024 || c.max_manifest_bytes > (256u << 20)) {
    return absl::InvalidArgumentError("max manifest bytes: use 1 KiB to 256 MiB");
  }
  if (c.workers < 1 || c.workers > 256) return absl::InvalidArgumentError("workers: use 1 to 256");
  return absl::OkStatus();
}

}  // namespace plinth::server
