// The plinth CLI's commands. Each returns the process exit code.
#ifndef PLINTH_CLI_COMMANDS_H_
#define PLINTH_CLI_COMMANDS_H_

#include <string>
#include <vector>

#include "client.h"

namespace plinth::cli {

struct ApplyArgs {
  std::vector<std::string> files;  // file, directory or "-"
  std::string org, env;
  bool dry_run = false;
};
int Apply(const Client& client, const ClientOptions& opts, const ApplyArgs& args);

struct ListArgs {
  std::string org, env, kind, selector, output = "table";
};
int ListResources(const Client& client, const ClientOptions& opts, const ListArgs& args);

int GetResource(const Client& client, const ClientOptions& opts, const std::string& ref,
                const std::string& output, bool show_sensitive);
int DeleteResource(const Client& client, const ClientOptions& opts, const std::string& ref,
                   long long version);
int History(const Client& client, const ClientOptions& opts, const std::string& ref,
            const std::string& output);
int Kinds(const Client& client, const ClientOptions& opts, const std::string& provider,
          const std::string& output);
int Explain(const Client& client, const ClientOptions& opts, const std::string& kind,
            const std::string& api_version, const std::string& output);

}  // namespace plinth::cli

#endif  // PLINTH_CLI_COMMANDS_H_
