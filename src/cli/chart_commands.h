// plinth chart push | list | show | render.
#ifndef PLINTH_CLI_CHART_COMMANDS_H_
#define PLINTH_CLI_CHART_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client.h"
#include "nlohmann/json.hpp"

namespace plinth::cli {

int ChartPush(const Client& client, const ClientOptions& opts, const std::string& dir, const std::string& version);
int ChartList(const Client& client, const ClientOptions& opts, const std::string& name);
int ChartShow(const Client& client, const ClientOptions& opts, const std::string& ref);

struct RenderArgs {
  std::string source;  // a chart directory (rendered offline) or NAME[@VERSION] on the server
  std::vector<std::string> values_files;
  std::vector<std::string> sets;
  std::string env;
  std::string org;
  std::string output = "yaml";
  std::vector<std::string> kinds_descriptor_sets;  // offline only
};
// The whole file at `path` ("-": stdin); false when it cannot be read.
bool ReadAll(const std::string& path, std::string* out);
// Merges every -f values file (later files win) into one JSON object.
absl::StatusOr<nlohmann::json> LoadValues(const std::vector<std::string>& files);

int ChartRender(const Client& client, const ClientOptions& opts, const RenderArgs& args);

}  // namespace plinth::cli

#endif  // PLINTH_CLI_CHART_COMMANDS_H_
