// plinth runner-pool create | list | delete | token create | token revoke |
// bind | unbind, and plinth runner list.
#ifndef PLINTH_CLI_RUNNER_COMMANDS_H_
#define PLINTH_CLI_RUNNER_COMMANDS_H_

#include <string>

#include "client.h"

namespace plinth::cli {

struct RunnerPoolArgs {
  std::string name;  // the pool
  std::string description;
  std::string id;  // a token or binding id
  std::string org, env, selector;
};

int RunnerPoolCreate(const Client& client, const ClientOptions& opts, const RunnerPoolArgs& args);
int RunnerPoolList(const Client& client, const ClientOptions& opts);
int RunnerPoolDelete(const Client& client, const ClientOptions& opts, const RunnerPoolArgs& args);
int PoolTokenCreate(const Client& client, const ClientOptions& opts, const RunnerPoolArgs& args);
int PoolTokenRevoke(const Client& client, const ClientOptions& opts, const RunnerPoolArgs& args);
int RunnerPoolBind(const Client& client, const ClientOptions& opts, const RunnerPoolArgs& args);
int RunnerPoolUnbind(const Client& client, const ClientOptions& opts, const RunnerPoolArgs& args);
int RunnerList(const Client& client, const ClientOptions& opts, const std::string& pool);

}  // namespace plinth::cli

#endif  // PLINTH_CLI_RUNNER_COMMANDS_H_
