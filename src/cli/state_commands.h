// plinth state list | get | versions | unlock: the engine state plinthd
// keeps for cloud resources.
#ifndef PLINTH_CLI_STATE_COMMANDS_H_
#define PLINTH_CLI_STATE_COMMANDS_H_

#include <cstdint>
#include <string>

#include "client.h"

namespace plinth::cli {

struct StateArgs {
  std::string resource;  // ORG/ENV/KIND/NAME
  std::string org, env;
  int64_t version = 0;
  std::string lock_id;
};

int StateList(const Client& client, const ClientOptions& opts, const StateArgs& args);
int StateGet(const Client& client, const ClientOptions& opts, const StateArgs& args);
int StateVersions(const Client& client, const ClientOptions& opts, const StateArgs& args);
int StateUnlock(const Client& client, const ClientOptions& opts, const StateArgs& args);

}  // namespace plinth::cli

#endif  // PLINTH_CLI_STATE_COMMANDS_H_
