#include "daemon_process.h"

#include "pg_cluster.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "test_paths.h"

namespace plinth::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

double DaemonProcess::CpuSeconds() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses: state is
  // field 3, utime 14 and stime 15.
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::vector<std::string> fields((std::istream_iterator<std::string>(rest)), std::istream_iterator<std::string>());
  if (fields.size() < 13) return -1;
  return static_cast<double>(std::stoll(fields[11]) + std::stoll(fields[12])) / sysconf(_SC_CLK_TCK);
}

std::string PlinthdPath() { return std::string(PLINTH_BIN_DIR) + "/plinthd"; }
std::string PlinthPath() { return std::string(PLINTH_BIN_DIR) + "/plinth"; }

CommandResult RunCommand(const std::vector<std::string>& argv_in,
                         const std::vector<std::string>& env_extra, const std::string& input) {
  TempDir io;
  std::string in_path = io.path() + "/in", out_path = io.path() + "/out", err_path = io.path() + "/err";
  std::ofstream(in_path) << input;
  std::vector<std::string> argv = argv_in;
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  for (const auto& e : env_extra) env.push_back(e);
  pid_t pid = fork();
  if (pid == 0) {
    int in = open(in_path.c_str(), O_RDONLY);
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    auto args = CStrings(argv);
    auto envp = CStrings(env);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  r.out = ReadAll(out_path);
  r.err = ReadAll(err_path);
  return r;
}

DaemonProcess::DaemonProcess() : data_dir_(dir_.path() + "/data"), log_path_(dir_.path() + "/plinthd.log") {}

DaemonProcess::~DaemonProcess() { Kill(); }

absl::Status DaemonProcess::Start(const std::vector<std::string>& extra_args) {
  std::string ready = dir_.path() + "/ready";
  unlink(ready.c_str());
  std::vector<std::string> argv = {PlinthdPath(), "--data-dir", data_dir_, "--ready-file", ready};
  if (std::find(extra_args.begin(), extra_args.end(), "--listen") == extra_args.end()) {
    argv.insert(argv.end(), {"--listen", "127.0.0.1:0"});
  }
  if (std::find(extra_args.begin(), extra_args.end(), "--http-listen") == extra_args.end()) {
    argv.insert(argv.end(), {"--http-listen", "127.0.0.1:0"});
  }
  // PLINTH_TEST_STORE=postgres: the same tests on a PostgreSQL store (a new
  // database per daemon, kept across its restarts).
  const char* backend = std::getenv("PLINTH_TEST_STORE");
  if (backend != nullptr && std::string(backend) == "postgres" &&
      std::find(extra_args.begin(), extra_args.end(), "--store") == extra_args.end()) {
    if (store_url_.empty()) {
      PgCluster* pg = PgCluster::Shared();
      if (pg == nullptr) return absl::FailedPreconditionError("PLINTH_TEST_STORE=postgres, but no PostgreSQL cluster");
      store_url_ = pg->NewDatabase();
    }
    argv.insert(argv.end(), {"--store", store_url_});
  }
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  pid_ = fork();
  if (pid_ == 0) {
    // If the test process dies, the daemon goes with it.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(log, 1);
    dup2(log, 2);
    auto args = CStrings(argv);
    execv(args[0], args.data());
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    // Written at once (by rename): "host:port\n" then "http host:port\n".
    std::string text = ReadAll(ready);
    if (!text.empty() && text.back() == '\n') {
      size_t nl = text.find('\n');
      address_ = text.substr(0, nl);
      http_address_.clear();
      if (text.compare(nl + 1, 5, "http ") == 0) http_address_ = text.substr(nl + 6, text.find('\n', nl + 1) - nl - 6);
      return absl::OkStatus();
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::UnavailableError(absl::StrCat("plinthd exited with ",
                                                 WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                                                 ": ", Stderr()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill();
  return absl::DeadlineExceededError("plinthd did not start in 30 s: " + Stderr());
}

int DaemonProcess::Stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

void DaemonProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string DaemonProcess::Stderr() const { return ReadAll(log_path_); }

std::shared_ptr<grpc::Channel> DaemonProcess::Channel() const {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(256 << 20);
  args.SetMaxReceiveMessageSize(256 << 20);
  return grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<grpc::ClientContext> DaemonProcess::Context(const std::string& token) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  return ctx;
}

CommandResult DaemonProcess::Cli(const std::vector<std::string>& args, const std::string& input,
                                 const std::vector<std::string>& env) const {
  std::vector<std::string> argv = {PlinthPath(), "--server", address_};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, env, input);
}

}  // namespace plinth::testing
