// plinthd's configuration: a YAML file (--config) overridden by flags.
//
//   listen: 127.0.0.1:7443
//   http_listen: 127.0.0.1:7080   # health, metrics, webhooks, state, the web console
//   ui: on                        # the web console on http_listen's / (on or off)
//   data_dir: /var/lib/plinth
//   store: postgres://plinth@db.internal/plinth   # default: SQLite, <data_dir>/plinth.db
//   secret_key_file: /etc/plinth/secret.key       # default: <data_dir>/secret.key
//   log: {level: info, format: text}
//   kinds_descriptor_sets: [/etc/plinth/planton.pb]
//   auth_token_file: /etc/plinth/tokens
//   max_manifest_bytes: 4194304
//   workers: 8
//   engines: {tofu: {binary: tofu}, terraform: {binary: /usr/local/bin/terraform}}
//   modules:
//     default: {engine: tofu, source: /opt/openmcf/modules/default}
//     AwsVpc: {engine: tofu, source: /opt/openmcf/modules/aws/awsvpc/tf}
//     GcpGkeCluster: {engine: tofu, source: https://github.com/acme/modules.git,
//                     ref: v1.4.0, subdir: gcp/gkecluster/tf, connection: github}
//   backends:   # Terraform/OpenTofu state per env (default: local files)
//     prod: {type: s3, config: {bucket: acme-tfstate, region: us-east-1}}
//   jobs: {max_concurrent_jobs: 4, max_jobs_per_pipeline: 4, step_timeout_seconds: 7200,
//          cancel_grace_seconds: 30, max_log_bytes: 67108864}
//   runners: {heartbeat_seconds: 5, lease_seconds: 30,    # plinth-runner agents
//             state_url: http://plinthd.example.org:7080}  # the state backend, as runners reach it
//
// Relative paths in the file are taken from the file's directory.
#ifndef PLINTH_SERVER_CONFIG_H_
#define PLINTH_SERVER_CONFIG_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace plinth::server {

struct Config {
  std::string listen = "127.0.0.1:7443";
  // HTTP: health, readiness, metrics. "off" turns it off.
  std::string http_listen = "127.0.0.1:7080";
  // The web console on the HTTP side's "/": "on" or "off".
  std::string ui = "on";
  std::string data_dir = "./plinth-data";
  // The store: "" for SQLite in the data dir (plinth.db), or a PostgreSQL
  // URL (postgres://user:password@host:port/db) that replicas share.
  std::string store;
  // The key that seals secrets: "" for <data_dir>/secret.key. Replicas on
  // one PostgreSQL store are given the same key file.
  std::string secret_key_file;
  std::string log_level = "info";  // trace, debug, info, warn, error
  std::string log_format = "text";  // text or json
  std::vector<std::string> kinds_descriptor_sets;
  std::string auth_token_file;
  size_t max_manifest_bytes = 4 << 20;
  int workers = 8;
  // Longest a Git fetch (projects and modules) may go without finishing
  // before its caller gets UNAVAILABLE.
  int git_fetch_timeout_seconds = 300;
  // --init: start although the data dir has lost plinth.db or secret.key
  // (an empty catalog, a new key), instead of refusing to.
  bool init = false;
  // Heap one chart template may hold while parsed or rendered.
  size_t chart_render_memory_bytes = 64 << 20;
  // When set, "host:port" is written here once the server accepts calls.
  std::string ready_file;

  // Stack jobs: engine binaries (a path, or a name looked up on PATH) ...
  std::map<std::string, std::string> engine_binaries;  // tofu, terraform, pulumi
  // engines.pulumi.passphrase_file: the passphrase of Pulumi stacks' secrets.
  // Default: one derived from the daemon's key (a Pulumi connection's
  // passphrase still wins).
  std::string pulumi_passphrase_file;
  // ... modules per kind ("default" for the rest): engine and module dir ...
  // A source that is a file://, https://, http:// or ssh:// URL is a Git repository:
  // `ref` (branch, tag or commit; default the remote's HEAD) and `subdir`
  // choose the module in it, and `connection` names the Git token connection
  // for https (default: the org's or env's default git connection).
  struct Module {
    std::string engine;
    std::string source;
    std::string ref, subdir, connection;
  };
  std::map<std::string, Module> modules;
  // ... remote state backends per env ("default" for the rest) ...
  struct Backend {
    std::string type;  // s3, gcs or azurerm
    std::map<std::string, std::string> config;
  };
  std::map<std::string, Backend> backends;
  // ... and limits.
  int max_concurrent_jobs = 4;
  // Jobs of one pipeline at once unless the project says; 0 = max_concurrent_jobs.
  int max_jobs_per_pipeline = 0;
  int step_timeout_seconds = 7200;
  int cancel_grace_seconds = 30;
  size_t max_log_bytes = 64 << 20;
  // Runners heartbeat this often; a lease lasts this long without one.
  int runner_heartbeat_seconds = 5;
  int runner_lease_seconds = 30;
  // How runners reach plinthd's HTTP side (the Terraform state backend);
  // empty: http:// and the --http-listen address bound.
  std::string runner_state_url;
};

// Reads `path` over the defaults in `base`. INVALID_ARGUMENT naming the file
// and key for unknown keys or wrong types; NOT_FOUND if unreadable.
absl::StatusOr<Config> LoadConfigFile(const std::string& path, Config base);

// INVALID_ARGUMENT naming the setting when a value is out of its domain.
absl::Status ValidateConfig(const Config& config);

}  // namespace plinth::server

#endif  // PLINTH_SERVER_CONFIG_H_
