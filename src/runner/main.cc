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
#include "plinth/api/work_wire.h"
#include "plinth/engine/process.h"
#include "plinth/engine/stack_job.h"
#include "plinth/engine/wire.h"
#include "plinth/v1/runner.grpc.pb.h"

namespace {

namespace pb = plinth::v1;
namespace api = plinth::api;
namespace engine = plinth::engine;

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


class Session;
// Sends a message on the current session, if there is one (work outlives
// a reconnect; what it reports while no stream is up is dropped).
bool SendToPlinthd(const pb::RunnerMessage& m);

// The work this runner holds, by work id.
class WorkSet {
 public:
  struct Item {
    int64_t generation = 0;
    engine::CancelToken cancel;
    std::mutex mu;
    std::condition_variable cv;
    std::optional<bool> approved;
    std::string decided_by;
  };

  explicit WorkSet(const Options& opts) : opts_(opts) {
    std::string step = (std::filesystem::path(SelfDir()) / "plinth-step").string();
    launcher_ = std::make_unique<engine::PosixProcessLauncher>(::access(step.c_str(), X_OK) == 0 ? step : "");
  }

  int Running() {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(items_.size());
  }

  // Takes an offer, or declines it (full, engine missing, malformed).
  void Offer(const pb::WorkOffer& offer) {
    const pb::Lease lease = offer.lease();
    auto decline = [&](const std::string& why) {
      pb::RunnerMessage m;
      *m.mutable_declined()->mutable_lease() = lease;
      m.mutable_declined()->set_reason(why);
      SendToPlinthd(m);
      Log("declined " + lease.work_id() + ": " + why);
    };
    if (!offer.has_stack_job()) return decline(std::string("plinth-runner ") + kVersion + " does not run this kind of work");
    auto spec = api::FromWork(offer.stack_job());
    if (!spec.ok()) return decline(std::string(spec.status().message()));
    auto engine = opts_.engines.find(spec->engine);
    if (engine == opts_.engines.end()) return decline("this runner has no " + spec->engine);
    std::shared_ptr<Item> item = std::make_shared<Item>();
    item->generation = lease.generation();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (static_cast<int>(items_.size()) >= opts_.max_jobs) return decline("this runner is running as many jobs as it may");
      if (items_.count(lease.work_id())) return decline("this runner already runs that work");
      items_[lease.work_id()] = item;
    }
    spec->engine_binary = engine->second;
    std::thread([this, lease, item, spec = std::move(*spec), work = offer.stack_job()]() mutable {
      Execute(lease, item, std::move(spec), work);
      std::lock_guard<std::mutex> lock(mu_);
      auto it = items_.find(lease.work_id());
      if (it != items_.end() && it->second == item) items_.erase(it);
    }).detach();
  }

  // Cancel and lease loss both stop the work's processes.
  void Stop(const pb::Lease& lease, const std::string& why) {
    std::shared_ptr<Item> item = Find(lease);
    if (item == nullptr) return;
    Log("stopping " + lease.work_id() + ": " + why);
    item->cancel.Cancel();
    item->cv.notify_all();
  }

  void Decide(const pb::ApprovalDecision& d) {
    std::shared_ptr<Item> item = Find(d.lease());
    if (item == nullptr) return;
    std::lock_guard<std::mutex> lock(item->mu);
    item->approved = d.approved();
    item->decided_by = d.comment();
    item->cv.notify_all();
  }

 private:
  static std::string SelfDir() {
    std::error_code ec;
    return std::filesystem::read_symlink("/proc/self/exe", ec).parent_path().string();
  }

  std::shared_ptr<Item> Find(const pb::Lease& lease) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = items_.find(lease.work_id());
    if (it == items_.end() || it->second->generation != lease.generation()) return nullptr;
    return it->second;
  }

  // Reports a job's progress to plinthd in batches.
  class Reporter : public engine::JobListener {
   public:
    explicit Reporter(pb::Lease lease) : lease_(std::move(lease)) {}
    ~Reporter() override { Flush(); }
    void OnLine(Stream stream, const std::string& step, const std::string& text) override {
      pb::WorkEvent* e = Add();
      e->set_type(stream == Stream::kStdout ? "stdout" : stream == Stream::kStderr ? "stderr" : "system");
      e->set_step(step);
      e->set_text(text);
      MaybeFlush();
    }
    void OnEvent(const std::string& step, const engine::EngineEvent& event) override {
      if (!event.resource && !event.summary && !event.diagnostic) return;
      pb::WorkEvent* e = Add();
      e->set_type("event");
      e->set_step(step);
      e->set_text(event.message);
      e->set_data_json(engine::EventToJson(event).dump());
      MaybeFlush();
    }
    void OnProcess(const std::string& step, pid_t pgid) override {
      if (pgid > 0) {
        pb::WorkEvent* e = Add();
        e->set_type("process");
        e->set_step(step);
      }
      Flush();
    }
    void Awaiting(const engine::JobOutcome& planned) {
      pb::WorkEvent* e = Add();
      e->set_type("awaiting_approval");
      e->set_awaiting_approval_json(engine::OutcomeToJson(planned).dump());
      Flush();
    }
    void Flush() {
      if (pending_.events_size() == 0) return;
      pb::RunnerMessage m;
      *m.mutable_events() = std::move(pending_);
      *m.mutable_events()->mutable_lease() = lease_;
      pending_.Clear();
      bytes_ = 0;
      last_ = std::chrono::steady_clock::now();
      SendToPlinthd(m);
    }

   private:
    pb::WorkEvent* Add() { return pending_.add_events(); }
    void MaybeFlush() {
      bytes_ += pending_.events(pending_.events_size() - 1).text().size() + 32;
      if (pending_.events_size() >= 256 || bytes_ >= (1 << 20) ||
          std::chrono::steady_clock::now() - last_ > std::chrono::milliseconds(100)) {
        Flush();
      }
    }
    pb::Lease lease_;
    pb::WorkEvents pending_;
    size_t bytes_ = 0;
    std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  };

  void Execute(const pb::Lease& lease, std::shared_ptr<Item> item, engine::JobSpec spec, const pb::StackJobWork& work) {
    namespace fs = std::filesystem;
    const std::string tag = lease.work_id() + "-" + std::to_string(lease.generation());
    Log("running " + lease.work_id() + " (" + work.operation() + " of " + work.kind() + " with " + spec.engine + ")");
    engine::JobOutcome out;
    std::error_code ec;
    const fs::path root(opts_.work_dir);
    spec.workspace_dir = (root / "jobs" / tag).string();
    spec.state_dir = (root / "state" / tag).string();
    spec.plugin_cache_dir = (root / "plugin-cache").string();
    fs::create_directories(spec.plugin_cache_dir, ec);
    // The module, unpacked once per content hash.
    const std::string digest = work.module().archive_sha256();
    bool ok_digest = digest.size() == 64 && digest.find_first_not_of("0123456789abcdef") == std::string::npos;
    engine::FileTree module;
    for (const auto& [rel, content] : work.module().archive_files()) module.files[rel] = content;
    for (const auto& rel : work.module().executable()) module.executable.insert(rel);
    absl::Status prepared = ok_digest && engine::TreeDigest(module) == digest
                                ? absl::OkStatus()
                                : absl::InvalidArgumentError("stack_job.module: the files do not match archive_sha256");
    spec.module_dir = (root / "modules" / digest).string();
    if (prepared.ok() && !fs::exists(spec.module_dir, ec)) {
      std::string staging = spec.module_dir + ".tmp-" + tag;
      prepared = engine::WriteTree(staging, module);
      if (prepared.ok()) fs::rename(staging, spec.module_dir, ec);
      if (ec && !fs::exists(spec.module_dir)) prepared = absl::InternalError("cannot place the module: " + ec.message());
      fs::remove_all(staging, ec);
    }
    engine::FileTree state;
    for (const auto& [rel, content] : work.state_files()) state.files[rel] = content;
    if (prepared.ok()) prepared = engine::WriteTree(spec.state_dir, state);
    Reporter reporter(lease);
    if (work.require_approval()) {
      spec.before_apply = [&](const engine::JobOutcome& planned) -> absl::Status {
        reporter.Awaiting(planned);
        std::unique_lock<std::mutex> lock(item->mu);
        item->cv.wait(lock, [&] { return item->approved.has_value() || item->cancel.cancelled(); });
        if (item->approved.value_or(false)) return absl::OkStatus();
        return absl::CancelledError(item->decided_by.empty() ? "the plan was not approved" : item->decided_by);
      };
    }
    if (!prepared.ok()) {
      out.state = engine::JobOutcome::State::kFailed;
      out.error = std::string(prepared.message());
    } else if (spec.engine == "pulumi") {
      out = engine::PulumiRunner(launcher_.get()).Run(spec, &item->cancel, &reporter);
    } else {
      out = engine::TerraformRunner(launcher_.get()).Run(spec, &item->cancel, &reporter);
    }
    reporter.Flush();
    pb::RunnerMessage result;
    *result.mutable_result()->mutable_lease() = lease;
    const char* state_name = out.state == engine::JobOutcome::State::kSucceeded   ? "succeeded"
                             : out.state == engine::JobOutcome::State::kCancelled ? "cancelled"
                                                                                  : "failed";
    result.mutable_result()->set_state(state_name);
    result.mutable_result()->set_error(out.error);
    result.mutable_result()->set_outcome_json(engine::OutcomeToJson(out).dump());
    if (spec.backend_type.empty() && prepared.ok()) {
      auto after = engine::ReadTree(spec.state_dir, {".terraform", ".pulumi-home"});
      if (after.ok()) {
        for (auto& [rel, content] : after->files) (*result.mutable_result()->mutable_state_files())[rel] = content;
        result.mutable_result()->set_state_returned(true);
      }
    }
    SendToPlinthd(result);
    // Nothing of the job stays here: not its workspace, not its state.
    fs::remove_all(spec.workspace_dir, ec);
    fs::remove_all(spec.state_dir, ec);
    Log("finished " + lease.work_id() + ": " + state_name + (out.error.empty() ? "" : " (" + out.error + ")"));
  }

  const Options& opts_;
  std::unique_ptr<engine::PosixProcessLauncher> launcher_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Item>> items_;
};

WorkSet* g_work = nullptr;

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
        case pb::ControlMessage::kOffer:
          // Work this runner cannot do is declined, never silently
          // dropped: plinthd offers it elsewhere.
          g_work->Offer(msg.offer());
          break;
        case pb::ControlMessage::kCancel:
          g_work->Stop(msg.cancel().lease(), "cancelled: " + msg.cancel().reason());
          break;
        case pb::ControlMessage::kLeaseLost:
          g_work->Stop(msg.lease_lost().lease(), "lease lost: " + msg.lease_lost().reason());
          break;
        case pb::ControlMessage::kApproval:
          g_work->Decide(msg.approval());
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

 public:
  bool Write(const pb::RunnerMessage& m) {
    std::lock_guard<std::mutex> lock(write_mu_);
    return stream_->Write(m);
  }

 private:
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

bool SendToPlinthd(const pb::RunnerMessage& m) {
  std::lock_guard<std::mutex> lock(g_session_mu);
  return g_session != nullptr && g_session->Write(m);
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
  WorkSet work(opts);
  g_work = &work;
  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(256 << 20);
  channel_args.SetMaxSendMessageSize(256 << 20);
  auto channel = grpc::CreateCustomChannel(opts.server, grpc::InsecureChannelCredentials(), channel_args);
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
