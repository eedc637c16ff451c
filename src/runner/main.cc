// plinth-runner: an agent in the user's own infrastructure that serves one
// runner pool. It opens one outbound gRPC stream to plinthd
// (RunnerService.Connect), registers with its pool token, keeps the stream
// alive with heartbeats, and reconnects with backoff when it breaks. Nothing
// listens on the runner's host.
//
//   plinth-runner --server plinth.example.org:7443 --token-file /etc/plinth/runner.token \
//                 [--pool NAME] [--name NAME] [--max-jobs N] [--work-dir DIR] [--engine tofu=/usr/bin/tofu]
//
// Exit codes: 0 after SIGTERM/SIGINT, 2 for bad flags or a refused hello
// (INVALID_ARGUMENT), 3 when plinthd refuses the token (UNAUTHENTICATED,
// PERMISSION_DENIED): retrying would not help.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "grpcpp/grpcpp.h"
#include "plinth/v1/runner.grpc.pb.h"

namespace {

namespace pb = plinth::v1;

constexpr char kVersion[] = "0.13.0";

std::atomic<bool> g_stop{false};

void Log(const std::string& line) {
  auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", std::gmtime(&now));
  std::cerr << buf << " plinth-runner: " << line << std::endl;
}

std::string HostName() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "runner";
  return buf;
}

// An engine binary: the path given, else the name found on PATH.
std::string FindOnPath(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

struct Options {
  std::string server, token_file, pool, name, work_dir;
  int max_jobs = 4;
  std::vector<std::string> engine_flags;  // engine=binary
  std::map<std::string, std::string> engines;
  std::string token;
};

// One connection to plinthd, from hello to the stream's end.
class Session {
 public:
  Session(const Options& opts, pb::RunnerService::Stub* stub) : opts_(opts), stub_(stub) {}

  // Runs until the stream ends; its final status. `welcomed` tells the
  // caller the connection got as far as registration (so backoff resets).
  grpc::Status Run(bool* welcomed) {
    stream_ = stub_->Connect(&ctx_);
    pb::RunnerMessage hello;
    pb::RunnerHello* h = hello.mutable_hello();
    h->set_token(opts_.token);
    h->set_name(opts_.name);
    h->set_pool(opts_.pool);
    h->set_version(kVersion);
    h->set_max_jobs(opts_.max_jobs);
    for (const auto& [engine, binary] : opts_.engines) h->add_engines(engine);
    if (!Write(hello)) return stream_->Finish();
    std::thread heartbeat([this] { HeartbeatLoop(); });
    pb::ControlMessage msg;
    while (stream_->Read(&msg)) {
      switch (msg.body_case()) {
        case pb::ControlMessage::kWelcome: {
          *welcomed = true;
          std::lock_guard<std::mutex> lock(mu_);
          runner_id_ = msg.welcome().runner_id();
          heartbeat_seconds_ = std::max(1, msg.welcome().heartbeat_seconds());
          Log("registered as " + runner_id_ + " (heartbeat every " + std::to_string(heartbeat_seconds_) + " s)");
          cv_.notify_all();
          break;
        }
        case pb::ControlMessage::kOffer: {
          // Work this runner does not know how to do is declined, never
          // silently dropped: plinthd offers it elsewhere.
          pb::RunnerMessage declined;
          *declined.mutable_declined()->mutable_lease() = msg.offer().lease();
          declined.mutable_declined()->set_reason(std::string("plinth-runner ") + kVersion +
                                                  " does not run this kind of work");
          Write(declined);
          break;
        }
        case pb::ControlMessage::kCancel:
        case pb::ControlMessage::kLeaseLost:
        case pb::ControlMessage::kApproval:
          // Nothing is leased to this runner, so nothing to stop.
          break;
        case pb::ControlMessage::BODY_NOT_SET:
          break;
      }
      if (g_stop.load()) break;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ended_ = true;
      cv_.notify_all();
    }
    if (g_stop.load()) ctx_.TryCancel();
    heartbeat.join();
    return stream_->Finish();
  }

  void Stop() {
    std::lock_guard<std::mutex> lock(mu_);
    ended_ = true;
    cv_.notify_all();
    ctx_.TryCancel();
  }

 private:
  bool Write(const pb::RunnerMessage& m) {
    std::lock_guard<std::mutex> lock(write_mu_);
    return stream_->Write(m);
  }

  void HeartbeatLoop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      int every = heartbeat_seconds_;
      if (cv_.wait_for(lock, std::chrono::seconds(every), [this] { return ended_ || g_stop.load(); })) return;
      if (runner_id_.empty()) continue;
      lock.unlock();
      pb::RunnerMessage beat;
      beat.mutable_heartbeat();
      bool ok = Write(beat);
      lock.lock();
      if (!ok) return;
    }
  }

  const Options& opts_;
  pb::RunnerService::Stub* const stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<pb::RunnerMessage, pb::ControlMessage>> stream_;
  std::mutex write_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string runner_id_;
  int heartbeat_seconds_ = 5;
  bool ended_ = false;
};

std::mutex g_session_mu;
Session* g_session = nullptr;  // guarded by g_session_mu

void SetSession(Session* s) {
  std::lock_guard<std::mutex> lock(g_session_mu);
  g_session = s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"plinth-runner: runs plinth's work in your infrastructure, over one outbound connection to plinthd"};
  Options opts;
  app.add_option("--server", opts.server, "plinthd's gRPC address, HOST:PORT")->required();
  app.add_option("--token-file", opts.token_file, "a file holding the pool token (plinth runner-pool token create)")
      ->required();
  app.add_option("--pool", opts.pool, "the pool to serve (default: the token's; another pool is refused)");
  app.add_option("--name", opts.name, "this runner's name (default: the host name)");
  app.add_option("--max-jobs", opts.max_jobs, "work items at once")->check(CLI::Range(1, 10000));
  app.add_option("--work-dir", opts.work_dir, "where jobs' workspaces live (default: $TMPDIR/plinth-runner)");
  app.add_option("--engine", opts.engine_flags, "ENGINE=BINARY (tofu, terraform, pulumi); default: found on PATH");
  CLI11_PARSE(app, argc, argv);

  std::ifstream in(opts.token_file);
  if (!in) {
    std::cerr << "plinth-runner: --token-file " << opts.token_file << ": cannot read\n";
    return 2;
  }
  std::getline(in, opts.token);
  while (!opts.token.empty() && (opts.token.back() == '\r' || opts.token.back() == ' ')) opts.token.pop_back();
  if (opts.token.empty()) {
    std::cerr << "plinth-runner: --token-file " << opts.token_file << ": the first line is empty\n";
    return 2;
  }
  if (opts.name.empty()) opts.name = HostName();
  for (const auto& flag : opts.engine_flags) {
    size_t eq = flag.find('=');
    std::string engine = flag.substr(0, eq);
    if (eq == std::string::npos || (engine != "tofu" && engine != "terraform" && engine != "pulumi")) {
      std::cerr << "plinth-runner: --engine " << flag << ": expected tofu=BINARY, terraform=BINARY or pulumi=BINARY\n";
      return 2;
    }
    std::string binary = FindOnPath(flag.substr(eq + 1));
    if (binary.empty()) {
      std::cerr << "plinth-runner: --engine " << flag << ": " << flag.substr(eq + 1) << " is not an executable\n";
      return 2;
    }
    opts.engines[engine] = binary;
  }
  if (opts.engine_flags.empty()) {
    for (const char* engine : {"tofu", "terraform", "pulumi"}) {
      std::string binary = FindOnPath(engine);
      if (!binary.empty()) opts.engines[engine] = binary;
    }
  }
  if (opts.work_dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    opts.work_dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/plinth-runner";
  }
  std::error_code ec;
  std::filesystem::create_directories(opts.work_dir, ec);
  if (ec) {
    std::cerr << "plinth-runner: --work-dir " << opts.work_dir << ": " << ec.message() << "\n";
    return 2;
  }

  // SIGTERM/SIGINT end the session; a thread waits for them so the handler
  // does nothing but set a flag.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::thread([stop_signals] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    g_stop.store(true);
    std::lock_guard<std::mutex> lock(g_session_mu);
    if (g_session != nullptr) g_session->Stop();
  }).detach();

  std::string engines;
  for (const auto& [engine, binary] : opts.engines) engines += (engines.empty() ? "" : ", ") + engine + "=" + binary;
  Log("serving " + (opts.pool.empty() ? std::string("the token's pool") : "pool " + opts.pool) + " as " + opts.name +
      " for " + opts.server + "; engines: " + (engines.empty() ? "none found" : engines));
  auto channel = grpc::CreateChannel(opts.server, grpc::InsecureChannelCredentials());
  auto stub = pb::RunnerService::NewStub(channel);
  std::mt19937 rng(std::random_device{}());
  double backoff = 1.0;
  while (!g_stop.load()) {
    bool welcomed = false;
    grpc::Status status;
    {
      Session session(opts, stub.get());
      SetSession(&session);
      if (!g_stop.load()) status = session.Run(&welcomed);
      SetSession(nullptr);
    }
    if (g_stop.load()) break;
    switch (status.error_code()) {
      case grpc::StatusCode::UNAUTHENTICATED:
      case grpc::StatusCode::PERMISSION_DENIED:
        Log("plinthd refused this runner: " + status.error_message());
        return 3;
      case grpc::StatusCode::INVALID_ARGUMENT:
        Log("plinthd refused the registration: " + status.error_message());
        return 2;
      default:
        break;
    }
    if (welcomed) backoff = 1.0;
    // Full jitter: many runners of a restarted plinthd do not reconnect in
    // one wave.
    double wait = std::uniform_real_distribution<double>(0.5, 1.0)(rng) * backoff;
    Log("connection ended (" + std::to_string(static_cast<int>(status.error_code())) + ": " + status.error_message() +
        "); reconnecting in " + std::to_string(static_cast<int>(wait * 1000)) + " ms");
    for (auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int>(wait * 1000));
         std::chrono::steady_clock::now() < until && !g_stop.load();) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    backoff = std::min(30.0, backoff * 2);
  }
  Log("stopped");
  return 0;
}
