// plinthd: the plinth daemon.
#include <signal.h>

#include <cstdio>
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "plinth/core/logging.h"
#include "plinth/server/config.h"
#include "plinth/server/daemon.h"
#include "plinth/server/migrate_store.h"
#include "plinth/server/log_setup.h"

int main(int argc, char** argv) {
  using plinth::server::Config;
  CLI::App app{"plinthd: the plinth infrastructure control plane daemon"};
  std::string config_file;
  Config flags;
  std::vector<std::string> kinds_sets;
  app.add_option("--config", config_file, "YAML config file; flags override it");
  auto* listen = app.add_option("--listen", flags.listen, "gRPC listen address (default 127.0.0.1:7443)");
  auto* http_listen = app.add_option("--http-listen", flags.http_listen,
                                     "HTTP address for /healthz, /readyz, /metrics (default 127.0.0.1:7080; off)");
  auto* ui = app.add_option("--ui", flags.ui, "the web console on the HTTP address's / (on or off; default on)");
  auto* store = app.add_option("--store", flags.store,
                                "PostgreSQL URL of the store replicas share (default: SQLite in the data dir)");
  auto* key_file = app.add_option("--secret-key-file", flags.secret_key_file,
                                  "key that seals secrets (default: <data dir>/secret.key); the same for every replica");
  auto* data_dir = app.add_option("--data-dir", flags.data_dir, "data directory (default ./plinth-data)");
  auto* level = app.add_option("--log-level", flags.log_level, "trace, debug, info, warn or error");
  auto* format = app.add_option("--log-format", flags.log_format, "text or json");
  auto* kinds = app.add_option("--kinds-descriptor-set", kinds_sets,
                               "FileDescriptorSet with more kinds (repeatable)");
  auto* auth = app.add_option("--auth-token-file", flags.auth_token_file,
                              "file of \"token actor-name\" lines; enables auth");
  auto* max_bytes = app.add_option("--max-manifest-bytes", flags.max_manifest_bytes,
                                   "largest accepted manifest (default 4 MiB)");
  auto* workers = app.add_option("--workers", flags.workers, "API worker threads (default 8)");
  auto* ready = app.add_option("--ready-file", flags.ready_file,
                               "write the bound host:port here once serving");
  bool init = false;
  app.add_flag("--init", init,
               "start although the data dir lost plinth.db (an empty catalog beside the old state) or secret.key "
               "(a new key; secrets sealed with the old one stay unreadable); without it plinthd refuses");
  kinds->allow_extra_args(false);
  std::string migrate_from, migrate_to;
  auto* migrate = app.add_subcommand("migrate-store", "copy a SQLite store into a new PostgreSQL database, checked");
  migrate->add_option("--from", migrate_from, "sqlite:PATH (a data dir, or its plinth.db)")->required();
  migrate->add_option("--to", migrate_to, "postgres://user@host:port/db (new and empty)")->required();
  CLI11_PARSE(app, argc, argv);
  if (*migrate) {
    plinth::server::SetUpLogging("warn", "text");
    return plinth::server::MigrateStore(migrate_from, migrate_to, std::cout, std::cerr);
  }

  Config config;
  if (!config_file.empty()) {
    auto loaded = plinth::server::LoadConfigFile(config_file, config);
    if (!loaded.ok()) {
      std::cerr << "plinthd: " << loaded.status().message() << "\n";
      return 2;
    }
    config = *loaded;
  }
  if (*listen) config.listen = flags.listen;
  if (*http_listen) config.http_listen = flags.http_listen;
  if (*ui) config.ui = flags.ui;
  if (*data_dir) config.data_dir = flags.data_dir;
  if (*store) config.store = flags.store;
  if (*key_file) config.secret_key_file = flags.secret_key_file;
  if (*level) config.log_level = flags.log_level;
  if (*format) config.log_format = flags.log_format;
  if (*kinds) config.kinds_descriptor_sets = kinds_sets;
  if (*auth) config.auth_token_file = flags.auth_token_file;
  if (*max_bytes) config.max_manifest_bytes = flags.max_manifest_bytes;
  if (*workers) config.workers = flags.workers;
  if (*ready) config.ready_file = flags.ready_file;
  config.init = init;
  if (auto s = plinth::server::ValidateConfig(config); !s.ok()) {
    std::cerr << "plinthd: " << s.message() << "\n";
    return 2;
  }
  plinth::server::SetUpLogging(config.log_level, config.log_format);
  // Lock-order checking costs a graph lookup on every Mutex::Lock; plinth's
  // locks are leaf locks, checked by the tests' TSan-free design review.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // Signals are taken by one thread with sigwait; block them everywhere else
  // before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  plinth::server::Daemon daemon(config);
  if (auto s = daemon.Start(); !s.ok()) {
    spdlog::critical("cannot start: {}", s.message());
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received {}", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  daemon.Shutdown();
  spdlog::info("stopped");
  return 0;
}
