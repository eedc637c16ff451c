// Starts the real plinthd binary on a free port with a temp data dir, for
// integration tests, and runs the real plinth CLI against it.
//
//   DaemonProcess d;
//   ASSERT_TRUE(d.Start().ok());
//   auto stub = plinth::v1::CloudResourceService::NewStub(d.Channel());
#ifndef PLINTH_TESTS_INTEGRATION_DAEMON_PROCESS_H_
#define PLINTH_TESTS_INTEGRATION_DAEMON_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "grpcpp/grpcpp.h"
#include "temp_dir.h"

namespace plinth::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `argv` with extra environment entries ("K=V") and `input` on stdin.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env = {}, const std::string& input = "");

class DaemonProcess {
 public:
  DaemonProcess();
  ~DaemonProcess();  // SIGKILL if still running

  // Starts plinthd with --data-dir, --listen 127.0.0.1:0 (unless `extra_args`
  // has a --listen) and `extra_args`;
  // returns once it serves, or an error with its stderr.
  absl::Status Start(const std::vector<std::string>& extra_args = {});
  // SIGTERM and wait; returns the exit status (the exit code, or -signal).
  int Stop();
  // SIGKILL and wait.
  void Kill();

  const std::string& address() const { return address_; }
  // The HTTP side (health, readiness, metrics); "" when off.
  const std::string& http_address() const { return http_address_; }
  const std::string& data_dir() const { return data_dir_; }
  pid_t pid() const { return pid_; }
  // CPU seconds (user + system) plinthd has used so far, from /proc.
  double CpuSeconds() const;
  std::string Stderr() const;
  std::shared_ptr<grpc::Channel> Channel() const;
  // A context with a 30 s deadline and, when given, a bearer token.
  static std::unique_ptr<grpc::ClientContext> Context(const std::string& token = "");

  // Runs build/bin/plinth --server <address> args...
  CommandResult Cli(const std::vector<std::string>& args, const std::string& input = "",
                    const std::vector<std::string>& env = {}) const;

 private:
  TempDir dir_;
  std::string data_dir_;
  std::string log_path_;
  std::string address_;
  std::string http_address_;
  std::string store_url_;  // PLINTH_TEST_STORE=postgres
  pid_t pid_ = -1;
};

std::string PlinthdPath();
std::string PlinthPath();

}  // namespace plinth::testing

#endif  // PLINTH_TESTS_INTEGRATION_DAEMON_PROCESS_H_
