// plinth kubectl (alias plinth ops): Cloud Ops from the command line.
//   plinth kubectl pods -r acme/prod/KubernetesDeployment/web
//   plinth kubectl logs -r ... -f --grep ERROR
//   plinth kubectl exec -it -r ... -- sh
//   plinth kubectl get deployments --org acme --connection prod-gke -n shop -o yaml
//   plinth kubectl edit configmaps web-config -r ...
//   plinth kubectl delete pod web-1 -r ... --yes
//   plinth kubectl graph -r ... -o dot
#ifndef PLINTH_CLI_KUBECTL_COMMANDS_H_
#define PLINTH_CLI_KUBECTL_COMMANDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "client.h"

namespace plinth::cli {

struct KubectlArgs {
  // The target: a resource (developer mode) or org/env/connection + namespace.
  std::string resource, org, env, connection, ns;
  std::string type, name;
  std::vector<std::string> pods;
  std::string container;
  bool follow = false;
  int64_t tail = -1;
  std::string since, since_time, grep;
  bool interactive = false, tty = false;
  std::vector<std::string> command;
  std::string output;
  bool yes = false;
};

// Adds `kubectl` (and its alias `ops`) with its subcommands; they set *rc.
void AddKubectlCommands(CLI::App& app, const ClientOptions& opts, KubectlArgs& args, int& rc);

}  // namespace plinth::cli

#endif  // PLINTH_CLI_KUBECTL_COMMANDS_H_
