// plinth grant create | list | delete | whoami.
#ifndef PLINTH_CLI_GRANT_COMMANDS_H_
#define PLINTH_CLI_GRANT_COMMANDS_H_

#include <string>

#include "CLI/CLI.hpp"
#include "client.h"

namespace plinth::cli {

struct GrantArgs {
  std::string identity, role, scope, id;
};

// Adds `plinth grant ...`; a command's exit status goes to `rc`.
void AddGrantCommands(CLI::App& app, const ClientOptions& opts, GrantArgs& args, int& rc);

}  // namespace plinth::cli

#endif  // PLINTH_CLI_GRANT_COMMANDS_H_
