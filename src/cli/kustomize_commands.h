// plinth kustomize build, plinth dot-env: offline, on a local directory.
#ifndef PLINTH_CLI_KUSTOMIZE_COMMANDS_H_
#define PLINTH_CLI_KUSTOMIZE_COMMANDS_H_

#include <map>
#include <string>
#include <vector>

namespace plinth::cli {

// Prints one overlay (or every overlay, each after a "# overlay: NAME" line)
// as YAML or JSON.
int KustomizeBuild(const std::string& dir, const std::string& overlay, const std::string& output);

// Writes DIR/.env and DIR/.env_export from the overlay's
// spec.container.app.env.variables and .secrets; `sets` (K=V) win.
int DotEnv(const std::string& dir, const std::string& overlay, const std::vector<std::string>& sets);

// Quoting, exposed for tests: a dotenv value ("..." with \\ \" \$ \n escaped)
// and a POSIX shell word ('...' with ' as '\'').
std::string DotEnvQuote(const std::string& value);
std::string ShellQuote(const std::string& value);

}  // namespace plinth::cli

#endif  // PLINTH_CLI_KUSTOMIZE_COMMANDS_H_
