#include "plinth/server/config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "absl/strings/match.h"
#include "plinth/engine/module_source.h"
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
    if (key == "ui" && v.is_boolean()) {
      config.ui = v.get<bool>() ? "on" : "off";
    } else if (key == "listen" || key == "http_listen" || key == "data_dir" || key == "auth_token_file" ||
               key == "ui" || key == "store" || key == "secret_key_file") {
      if (!v.is_string()) return wrong(key, "a string");
      const std::string& value = v.get_ref<const std::string&>();
      if (key == "listen") config.listen = value;
      if (key == "http_listen") config.http_listen = value;
      if (key == "ui") config.ui = value;
      if (key == "store") config.store = value;
      if (key == "secret_key_file") config.secret_key_file = Resolve(dir, value);
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
    } else if (key == "engines") {
      if (!v.is_object()) return wrong(key, "a mapping of engine name to {binary}");
      for (const auto& [engine, e] : v.items()) {
        std::string full = "engines." + engine;
        if (engine != "tofu" && engine != "terraform" && engine != "pulumi") {
          return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": ", full, ": unknown engine (tofu, terraform or pulumi)"));
        }
        if (!e.is_object() || !e.contains("binary") || !e["binary"].is_string()) return wrong(full, "{binary: path-or-name}");
        for (const auto& [k, ev] : e.items()) {
          if (k == "passphrase_file" && engine == "pulumi") {
            if (!ev.is_string()) return wrong(full + "." + k, "a path");
            config.pulumi_passphrase_file = Resolve(dir, ev.get<std::string>());
          } else if (k != "binary") {
            return unknown(full + "." + k);
          }
        }
        std::string binary = e["binary"].get<std::string>();
        // A bare name is looked up on PATH; anything with a '/' is a path.
        config.engine_binaries[engine] = binary.find('/') == std::string::npos ? binary : Resolve(dir, binary);
      }
    } else if (key == "modules") {
      if (!v.is_object()) return wrong(key, "a mapping of kind (or default) to {engine, source}");
      for (const auto& [kind, m] : v.items()) {
        std::string full = "modules." + kind;
        if (!m.is_object() || !m.contains("engine") || !m["engine"].is_string() || !m.contains("source") || !m["source"].is_string()) {
          return wrong(full, "{engine: tofu|terraform|pulumi, source: module directory or Git URL}");
        }
        Config::Module module;
        for (const auto& [k, mv] : m.items()) {
          if (k != "engine" && k != "source" && k != "ref" && k != "subdir" && k != "connection") return unknown(full + "." + k);
          if (!mv.is_string()) return wrong(full + "." + k, "a string");
        }
        module.engine = m["engine"].get<std::string>();
        module.source = m["source"].get<std::string>();
        module.ref = m.value("ref", "");
        module.subdir = m.value("subdir", "");
        module.connection = m.value("connection", "");
        if (!engine::IsGitUrl(module.source)) {
          if (!module.ref.empty() || !module.subdir.empty() || !module.connection.empty()) {
            return absl::InvalidArgumentError(absl::StrCat("config file ", path, ": ", full,
                                                           ": ref, subdir and connection apply only to a Git URL source"));
          }
          module.source = Resolve(dir, module.source);
        }
        config.modules[kind] = module;
      }
    } else if (key == "backends") {
      if (!v.is_object()) return wrong(key, "a mapping of env (or default) to {type, config}");
      for (const auto& [env, b] : v.items()) {
        std::string full = "backends." + env;
        if (!b.is_object() || !b.contains("type") || !b["type"].is_string()) return wrong(full, "{type: s3|gcs|azurerm, config: {...}}");
        Config::Backend backend;
        backend.type = b["type"].get<std::string>();
        for (const auto& [k, bv] : b.items()) {
          if (k == "type") continue;
          if (k != "config") return unknown(full + "." + k);
          if (!bv.is_object()) return wrong(full + ".config", "a mapping of backend setting to value");
          for (const auto& [ck, cv] : bv.items()) {
            if (cv.is_string()) backend.config[ck] = cv.get<std::string>();
            else if (cv.is_number() || cv.is_boolean()) backend.config[ck] = cv.dump();
            else return wrong(full + ".config." + ck, "a string, number or boolean");
          }
        }
        config.backends[env] = backend;
      }
    } else if (key == "jobs") {
      if (!v.is_object()) return wrong(key, "a mapping");
      for (const auto& [k, jv] : v.items()) {
        std::string full = "jobs." + k;
        if (!jv.is_number_integer() || jv.get<int64_t>() < 0) return wrong(full, "a non-negative integer");
        int64_t n = jv.get<int64_t>();
        if (k == "max_concurrent_jobs") config.max_concurrent_jobs = static_cast<int>(std::min<int64_t>(n, 1000));
        else if (k == "max_jobs_per_pipeline") config.max_jobs_per_pipeline = static_cast<int>(std::min<int64_t>(n, 1000));
        else if (k == "step_timeout_seconds") config.step_timeout_seconds = static_cast<int>(std::min<int64_t>(n, 86400 * 7));
        else if (k == "cancel_grace_seconds") config.cancel_grace_seconds = static_cast<int>(std::min<int64_t>(n, 3600));
        else if (k == "max_log_bytes") config.max_log_bytes = static_cast<size_t>(n);
        else return unknown(full);
      }
    } else if (key == "runners") {
      if (!v.is_object()) return wrong(key, "a mapping");
      for (const auto& [k, rv] : v.items()) {
        std::string full = "runners." + k;
        if (k == "state_url") {
          if (!rv.is_string() || (rv.get<std::string>().rfind("http://", 0) != 0 && rv.get<std::string>().rfind("https://", 0) != 0)) {
            return wrong(full, "an http:// or https:// URL of plinthd's HTTP side, as runners reach it");
          }
          config.runner_state_url = rv.get<std::string>();
          while (!config.runner_state_url.empty() && config.runner_state_url.back() == '/') config.runner_state_url.pop_back();
          continue;
        }
        if (!rv.is_number_integer() || rv.get<int64_t>() < 1 || rv.get<int64_t>() > 3600) {
          return wrong(full, "a whole number of seconds, 1 to 3600");
        }
        int n = static_cast<int>(rv.get<int64_t>());
        if (k == "heartbeat_seconds") config.runner_heartbeat_seconds = n;
        else if (k == "lease_seconds") config.runner_lease_seconds = n;
        else return unknown(full);
      }
      if (config.runner_lease_seconds <= config.runner_heartbeat_seconds) {
        return wrong("runners.lease_seconds", "longer than runners.heartbeat_seconds");
      }
    } else if (key == "git_fetch_timeout_seconds") {
      if (!v.is_number_integer() || v.get<int64_t>() < 1) return wrong(key, "a whole number of seconds, 1 or more");
      config.git_fetch_timeout_seconds = static_cast<int>(std::min<int64_t>(v.get<int64_t>(), 86400));
    } else if (key == "chart_render_memory_mib") {
      if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 65536) {
        return wrong(key, "a whole number of MiB, 1 to 65536");
      }
      config.chart_render_memory_bytes = static_cast<size_t>(v.get<int64_t>()) << 20;
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
  if (!c.store.empty() && !absl::StartsWith(c.store, "postgres://") && !absl::StartsWith(c.store, "postgresql://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "store: must be a PostgreSQL URL (postgres://user@host:port/db), or left out for SQLite in the data dir"));
  }
  if (c.ui != "on" && c.ui != "off") {
    return absl::InvalidArgumentError(absl::StrCat("ui \"", c.ui, "\": use on or off"));
  }
  if (c.http_listen != "off") {
    size_t colon = c.http_listen.rfind(':');
    int port = -1;
    if (colon == std::string::npos || colon == 0 || !absl::SimpleAtoi(c.http_listen.substr(colon + 1), &port) ||
        port < 0 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("http_listen \"", c.http_listen, "\": use host:port (port 0 picks a free one), or off"));
    }
  }
  if (c.data_dir.empty()) return absl::InvalidArgumentError("data dir: required");
  if (c.max_manifest_bytes < 1024 || c.max_manifest_bytes > (256u << 20)) {
    return absl::InvalidArgumentError("max manifest bytes: use 1 KiB to 256 MiB");
  }
  if (c.workers < 1 || c.workers > 256) return absl::InvalidArgumentError("workers: use 1 to 256");
  if (c.max_concurrent_jobs < 1) return absl::InvalidArgumentError("jobs.max_concurrent_jobs: use 1 or more");
  if (c.step_timeout_seconds < 1) return absl::InvalidArgumentError("jobs.step_timeout_seconds: use 1 or more");
  for (const auto& [kind, m] : c.modules) {
    if (m.engine != "tofu" && m.engine != "terraform" && m.engine != "pulumi") {
      return absl::InvalidArgumentError(absl::StrCat("modules.", kind, ".engine: \"", m.engine, "\" is not tofu, terraform or pulumi"));
    }
  }
  for (const auto& [env, b] : c.backends) {
    std::vector<std::string> required;
    if (b.type == "s3" || b.type == "gcs") required = {"bucket"};
    else if (b.type == "azurerm") required = {"storage_account_name", "container_name"};
    else return absl::InvalidArgumentError(absl::StrCat("backends.", env, ".type: \"", b.type, "\" is not s3, gcs or azurerm"));
    for (const auto& r : required) {
      if (b.config.count(r) == 0) {
        return absl::InvalidArgumentError(absl::StrCat("backends.", env, ".config.", r, ": required for the ", b.type, " backend"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace plinth::server
