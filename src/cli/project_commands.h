// plinth chart install, plinth project ..., plinth pipeline ..., plinth policy ...
#ifndef PLINTH_CLI_PROJECT_COMMANDS_H_
#define PLINTH_CLI_PROJECT_COMMANDS_H_

#include <string>
#include <vector>

#include "client.h"

namespace plinth::cli {

struct ProjectArgs {
  std::string name, env, org;
  std::string chart;  // a chart directory (sent inline) or NAME@VERSION stored on the server
  std::vector<std::string> values_files, sets;
  bool no_deploy = false, wait = false;
  bool disable_pipelines = false, disable_deployments = false, manual_gate = false;
  int max_parallel = 0;
  long long revision = 0;
  bool orphan = false;
  std::string output = "text";
  // Git projects
  std::string repo, branch = "main", path, connection, webhook_secret_file, commit;
  bool pr_deployments = false;
};

int ChartInstall(const Client& client, const ClientOptions& opts, const ProjectArgs& args);
int ProjectGet(const Client& client, const ClientOptions& opts, const ProjectArgs& args);
int ProjectList(const Client& client, const ClientOptions& opts, const ProjectArgs& args);
int ProjectHistory(const Client& client, const ClientOptions& opts, const ProjectArgs& args);
int ProjectGraph(const Client& client, const ClientOptions& opts, const ProjectArgs& args);
int ProjectUpdate(const Client& client, const ClientOptions& opts, const ProjectArgs& args);
int ProjectRollback(const Client& client, const ClientOptions& opts, const ProjectArgs& args);
// action: run-pipeline, undeploy or purge.
int ProjectAction(const Client& client, const ClientOptions& opts, const ProjectArgs& args, const std::string& action);
// Changes only the settings given ("true"/"false"; max_parallel >= 0); no new revision.
struct SettingsChange {
  std::string disable_pipelines, disable_deployments, manual_gate, pr_deployments;
  int max_parallel = -1;
};
int ProjectSettingsSet(const Client& client, const ClientOptions& opts, const ProjectArgs& args,
                       const SettingsChange& change);
int ProjectDelete(const Client& client, const ClientOptions& opts, const ProjectArgs& args);
// Git projects: create from a repository's branch; sync to its head or a commit.
int ProjectCreateGit(const Client& client, const ClientOptions& opts, const ProjectArgs& args);
int ProjectSync(const Client& client, const ClientOptions& opts, const ProjectArgs& args);
// A new webhook secret: from the file (- for stdin), or a random one printed once.
int ProjectWebhookSecret(const Client& client, const ClientOptions& opts, const ProjectArgs& args);
int WebhookDeliveries(const Client& client, const ClientOptions& opts, int limit, const std::string& output);

int PipelineList(const Client& client, const ClientOptions& opts, const ProjectArgs& project);
int PipelineLast(const Client& client, const ClientOptions& opts, const ProjectArgs& project);
int PipelineGet(const Client& client, const ClientOptions& opts, const std::string& id, const std::string& output);
int PipelineCancel(const Client& client, const ClientOptions& opts, const std::string& id);
int PipelineResolve(const Client& client, const ClientOptions& opts, const std::string& id, const std::string& node,
                    bool approve, const std::string& comment);
// Exit 0 when the pipeline succeeds, 1 when it fails or is cancelled.
int PipelineWatch(const Client& client, const ClientOptions& opts, const std::string& id);

struct PolicyArgs {
  std::string org, env, kind, name;
  bool manual = false, no_preview = false, pause = false, skip_refresh = false, disable_on_lifecycle = false,
       manual_gate = false, effective = false;
  std::string output = "text";
};
int PolicySet(const Client& client, const ClientOptions& opts, const PolicyArgs& args);
int PolicyGet(const Client& client, const ClientOptions& opts, const PolicyArgs& args);
int PolicyList(const Client& client, const ClientOptions& opts, const PolicyArgs& args);
int PolicyDelete(const Client& client, const ClientOptions& opts, const PolicyArgs& args);

}  // namespace plinth::cli

#endif  // PLINTH_CLI_PROJECT_COMMANDS_H_
