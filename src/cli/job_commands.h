// plinth job run | get | list | cancel | logs.
#ifndef PLINTH_CLI_JOB_COMMANDS_H_
#define PLINTH_CLI_JOB_COMMANDS_H_

#include <string>

#include "client.h"

namespace plinth::cli {

struct JobRunArgs {
  std::string resource;  // ORG/ENV/KIND/NAME or a resource id
  std::string operation = "update";
  bool skip_refresh = false;
  bool require_approval = false;
  std::string connection;
  bool follow = false;
  bool raw = false;
};
int JobRun(const Client& client, const ClientOptions& opts, const JobRunArgs& args);
int JobGet(const Client& client, const ClientOptions& opts, const std::string& id, const std::string& output);
int JobList(const Client& client, const ClientOptions& opts, const std::string& resource, const std::string& state);
int JobCancel(const Client& client, const ClientOptions& opts, const std::string& id);
// ApproveStackJob or RejectStackJob.
int JobResolve(const Client& client, const ClientOptions& opts, const std::string& id, bool approve,
               const std::string& comment);
int JobLogs(const Client& client, const ClientOptions& opts, const std::string& id, bool follow, long long after, bool raw);

}  // namespace plinth::cli

#endif  // PLINTH_CLI_JOB_COMMANDS_H_
