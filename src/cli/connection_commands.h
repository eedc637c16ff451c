// plinth connection create | get | list | delete | set-default.
#ifndef PLINTH_CLI_CONNECTION_COMMANDS_H_
#define PLINTH_CLI_CONNECTION_COMMANDS_H_

#include <string>
#include <vector>

#include "client.h"

namespace plinth::cli {

struct ConnectionArgs {
  std::string ref;  // ORG/NAME
  std::string provider;
  std::vector<std::string> fields;        // k=v
  std::vector<std::string> secrets;       // k=v, or k=- to read the value from stdin
  std::vector<std::string> secret_files;  // k=path
  std::string env;                        // set-default: "" for the org default
  bool runner_held = false;               // secrets on the runners (runner.yaml)
};

int ConnectionCreate(const Client& client, const ClientOptions& opts, const ConnectionArgs& args);
int ConnectionGet(const Client& client, const ClientOptions& opts, const std::string& ref);
int ConnectionList(const Client& client, const ClientOptions& opts, const std::string& org, const std::string& provider);
int ConnectionDelete(const Client& client, const ClientOptions& opts, const std::string& ref);
int ConnectionSetDefault(const Client& client, const ClientOptions& opts, const ConnectionArgs& args);

}  // namespace plinth::cli

#endif  // PLINTH_CLI_CONNECTION_COMMANDS_H_
