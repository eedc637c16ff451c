#include "plinth/server/config.h"

#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "yaml-cpp/yaml.h"

namespace plinth::server {
namespace {

std::string Resolve(const std::filesystem::path& base, const std::string& p) {
  if (p.empty() || std::filesystem::path(p).is_absolute()) return p;
  return (base / p).lexically_normal().string();
}

}  // namespace

absl::StatusOr<Config> LoadConfigFile(const std::string& path, Config config) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return absl::NotFoundError(absl::StrCat("config file ", path, ": cannot read it"));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": line ", e.mark.line + 1,
                                                   ": ", e.msg));
  }
  if (root.IsNull()) return config;
  if (!root.IsMap()) return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": expected a mapping"));
  std::filesystem::path dir = std::filesystem::absolute(path).parent_path();
  std::string key;
  try {
    for (const auto& kv : root) {
      key = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      if (key == "listen") {
        config.listen = v.as<std::string>();
      } else if (key == "data_dir") {
        config.data_dir = Resolve(dir, v.as<std::string>());
      } else if (key == "log") {
        if (!v.IsMap()) throw YAML::Exception(v.Mark(), "expected {level, format}");
        for (const auto& lv : v) {
          std::string sub = lv.first.as<std::string>();
          key = "log." + sub;
          if (sub == "level") {
            config.log_level = lv.second.as<std::string>();
          } else if (sub == "format") {
            config.log_format = lv.second.as<std::string>();
          } else {
            return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": ", key, ": unknown setting"));
          }
        }
      } else if (key == "kinds_descriptor_sets") {
        config.kinds_descriptor_sets.clear();
        for (const auto& item : v) config.kinds_descriptor_sets.push_back(Resolve(dir, item.as<std::string>()));
      } else if (key == "auth_token_file") {
        config.auth_token_file = Resolve(dir, v.as<std::string>());
      } else if (key == "max_manifest_bytes") {
        config.max_manifest_bytes = v.as<size_t>();
      } else if (key == "workers") {
        config.workers = v.as<int>();
      } else {
        return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": ", key, ": unknown setting"));
      }
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": ", key, ": wrong type (line ",
                                                   e.mark.line + 1, ")"));
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
