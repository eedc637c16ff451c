// plinth-runner: an agent in the user's own infrastructure that serves one
// runner pool. It opens one outbound gRPC stream to plinthd
// (RunnerService.Connect), registers with its pool token, keeps the stream
// alive with heartbeats, and reconnects with backoff when it breaks. Nothing
// listens on the runner's host.
//
//   plinth-runner --server plinth.example.org:7443 --token-file /etc/plinth/runner.token \
//                 [--pool NAME] [--name NAME] [--max-jobs N] [--work-dir DIR] [--engine tofu=/usr/bin/tofu]
//                 [--config /etc/plinth/runner.yaml]
//
// runner.yaml holds the same settings (flags win) and the secrets of
// runner-held connections, which never leave this host:
//
//   server: plinth.example.org:7443
//   token_file: /etc/plinth/runner.token
//   engines: {tofu: /usr/bin/tofu}
//   connections:
//     - name: acme/aws-prod           # ORG/NAME of a connection created with --runner-held
//       provider: aws
//       secrets:
//         access_key_id: {env: AWS_ACCESS_KEY_ID}
//         secret_access_key: {file: /etc/plinth/aws-prod.key}
//
// What the runner reports while its stream is down is kept (up to 64 MiB
// of lines; results always) and sent after it reconnects; it names the
// leases it holds in its hello, so a reconnect within the lease time loses
// nothing, also across a restart of plinthd.
//
// Exit codes: 0 after SIGTERM/SIGINT, 2 for bad flags or a refused hello
// (INVALID_ARGUMENT), 3 when plinthd refuses the token (UNAUTHENTICATED,
// PERMISSION_DENIED): retrying would not help.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
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
#include "cloud_ops_work.h"
#include "grpcpp/grpcpp.h"
#include "plinth/api/work_wire.h"
#include "plinth/engine/connection_env.h"
#include "plinth/engine/process.h"
#include "plinth/engine/stack_job.h"
#include "plinth/engine/wire.h"
#include "plinth/gitsource/git_cache.h"
#include "plinth/manifest/yaml.h"
#include "plinth/v1/runner.grpc.pb.h"

namespace {

namespace pb = plinth::v1;
namespace api = plinth::api;
namespace engine = plinth::engine;

constexpr char kVersion[] = "0.13.0";

std::atomic<bool> g_stop{false};
// The lease time plinthd last announced: while this runner holds work, it
// retries at least four times within it.
std::atomic<int> g_lease_seconds{30};

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

// A secret of a runner-held connection: read from a file or the
// environment when a job needs it (so a rotated file is picked up).
struct SecretSource {
  std::string file, env;
};

struct HeldConnection {
  std::string provider;
  std::map<std::string, SecretSource> secrets;
};

struct Options {
  std::string server, token_file, pool, name, work_dir, config_file;
  int max_jobs = 4;
  std::vector<std::string> engine_flags;  // engine=binary
  std::map<std::string, std::string> engines;
  std::map<std::string, HeldConnection> connections;  // "ORG/NAME"
  std::string token;
};

// The secret's value, or an error naming the runner.yaml field.
absl::StatusOr<std::string> ReadSecret(const std::string& where, const SecretSource& source) {
  if (!source.env.empty()) {
    const char* v = std::getenv(source.env.c_str());
    if (v == nullptr || *v == '\0') return absl::FailedPreconditionError(where + ": $" + source.env + " is not set");
    return std::string(v);
  }
  std::ifstream in(source.file, std::ios::binary);
  if (!in) return absl::FailedPreconditionError(where + ": cannot read " + source.file);
  std::string value((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  if (value.empty()) return absl::FailedPreconditionError(where + ": " + source.file + " is empty");
  return value;
}

// Reads runner.yaml into `opts` (flags given on the command line win:
// they are applied after). An error names the field.
absl::Status LoadConfig(const std::string& path, Options* opts, std::map<std::string, std::string>* settings) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError("--config " + path + ": cannot read");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto docs = plinth::manifest::ParseYamlDocuments(text, path, 1);
  if (!docs.ok()) return docs.status();
  if (docs->empty() || docs->front().value.is_null()) return absl::OkStatus();
  const nlohmann::json& c = docs->front().value;
  if (!c.is_object()) return absl::InvalidArgumentError(path + ": expected a mapping of settings");
  for (const auto& [key, value] : c.items()) {
    const std::string field = path + ": " + key;
    if (key == "server" || key == "token_file" || key == "pool" || key == "name" || key == "work_dir") {
      if (!value.is_string()) return absl::InvalidArgumentError(field + ": expected a string");
      (*settings)[key] = value.get<std::string>();
    } else if (key == "max_jobs") {
      if (!value.is_number_integer() || value.get<int64_t>() < 1 || value.get<int64_t>() > 10000) {
        return absl::InvalidArgumentError(field + ": expected a whole number from 1 to 10000");
      }
      (*settings)[key] = std::to_string(value.get<int64_t>());
    } else if (key == "engines") {
      if (!value.is_object()) return absl::InvalidArgumentError(field + ": expected ENGINE: BINARY entries");
      for (const auto& [engine, binary] : value.items()) {
        if (!binary.is_string()) return absl::InvalidArgumentError(field + "." + engine + ": expected a path");
        (*settings)["engine:" + engine] = binary.get<std::string>();
      }
    } else if (key == "connections") {
      if (!value.is_array()) return absl::InvalidArgumentError(field + ": expected a list");
      for (size_t i = 0; i < value.size(); ++i) {
        const nlohmann::json& e = value[i];
        const std::string at = field + "[" + std::to_string(i) + "]";
        if (!e.is_object()) return absl::InvalidArgumentError(at + ": expected name, provider and secrets");
        std::string name = e.value("name", nlohmann::json()).is_string() ? e["name"].get<std::string>() : "";
        size_t slash = name.find('/');
        if (slash == std::string::npos || slash == 0 || slash + 1 == name.size() || name.find('/', slash + 1) != std::string::npos) {
          return absl::InvalidArgumentError(at + ".name: expected ORG/NAME of a runner-held connection");
        }
        HeldConnection held;
        held.provider = e.value("provider", nlohmann::json()).is_string() ? e["provider"].get<std::string>() : "";
        if (engine::FindProvider(held.provider) == nullptr) {
          return absl::InvalidArgumentError(at + ".provider: \"" + held.provider + "\" is not a provider");
        }
        const nlohmann::json secrets = e.value("secrets", nlohmann::json::object());
        if (!secrets.is_object()) return absl::InvalidArgumentError(at + ".secrets: expected FIELD: {file: PATH} or {env: NAME}");
        std::map<std::string, std::string> names;
        for (const auto& [field_name, src] : secrets.items()) {
          const std::string sat = at + ".secrets." + field_name;
          SecretSource source;
          if (src.is_object() && src.size() == 1 && src.contains("file") && src["file"].is_string()) {
            source.file = src["file"].get<std::string>();
          } else if (src.is_object() && src.size() == 1 && src.contains("env") && src["env"].is_string()) {
            source.env = src["env"].get<std::string>();
          } else {
            return absl::InvalidArgumentError(sat + ": expected {file: PATH} or {env: NAME}");
          }
          // Readable now, so a typo shows at start rather than in a job.
          absl::StatusOr<std::string> v = ReadSecret(sat, source);
          if (!v.ok()) return absl::InvalidArgumentError(std::string(v.status().message()));
          names[field_name] = "x";
          held.secrets[field_name] = source;
        }
        absl::Status fields_ok = engine::CheckConnectionFields(held.provider, {}, names, /*complete=*/false);
        if (!fields_ok.ok()) return absl::InvalidArgumentError(at + ": " + std::string(fields_ok.message()));
        if (opts->connections.count(name)) return absl::InvalidArgumentError(at + ".name: " + name + " is listed twice");
        opts->connections[name] = std::move(held);
      }
    } else {
      return absl::InvalidArgumentError(field + ": unknown setting (server, token_file, pool, name, max_jobs, work_dir, "
                                        "engines, connections)");
    }
  }
  return absl::OkStatus();
}


class Session;
// Sends a message on the current session; while no stream is up (or it
// breaks) the message waits for the next session (work outlives a
// reconnect).
void SendToPlinthd(pb::RunnerMessage m);
// A session was welcomed: kept reports go out, pending approvals are asked
// again.
void SessionWelcomed(Session* s);
// The leases this runner holds: work running, and work whose result waits
// to be delivered (named in hello and heartbeats, so plinthd keeps them).
std::vector<pb::Lease> HeldLeases();

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
    // The approval request while it waits: asked again after a reconnect
    // (a restarted plinthd opens the gate anew).
    std::optional<pb::RunnerMessage> awaiting;
  };

  explicit WorkSet(const Options& opts) : opts_(opts) {
    std::string step = (std::filesystem::path(SelfDir()) / "plinth-step").string();
    launcher_ = std::make_unique<engine::PosixProcessLauncher>(::access(step.c_str(), X_OK) == 0 ? step : "");
  }

  int Running() {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(items_.size());
  }

  // The leases held now, for hello and heartbeats.
  std::vector<pb::Lease> Leases() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<pb::Lease> out;
    for (const auto& [id, item] : items_) {
      pb::Lease l;
      l.set_work_id(id);
      l.set_generation(item->generation);
      out.push_back(std::move(l));
    }
    return out;
  }

  // Module archives unpacked here.
  std::vector<std::string> CachedModules() {
    std::vector<std::string> out;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(std::filesystem::path(opts_.work_dir) / "modules", ec), end;
         !ec && it != end; it.increment(ec)) {
      std::string name = it->path().filename().string();
      if (name.size() == 64 && name.find_first_not_of("0123456789abcdef") == std::string::npos) out.push_back(name);
    }
    return out;
  }

  // Asks again for the decisions a new session does not know about.
  std::vector<pb::RunnerMessage> PendingApprovals() {
    std::vector<std::shared_ptr<Item>> items;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [id, item] : items_) items.push_back(item);
    }
    std::vector<pb::RunnerMessage> out;
    for (const auto& item : items) {
      std::lock_guard<std::mutex> lock(item->mu);
      if (item->awaiting && !item->approved) out.push_back(*item->awaiting);
    }
    return out;
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
    if (!spec->runner_connection.empty() && !opts_.connections.count(spec->runner_connection)) {
      return decline("this runner does not hold connection " + spec->runner_connection);
    }
    const pb::ModuleSource& module = offer.stack_job().module();
    if (!module.has_git() && module.archive_files().empty() &&
        !std::filesystem::exists(std::filesystem::path(opts_.work_dir) / "modules" / module.archive_sha256())) {
      return decline("module not cached: " + module.archive_sha256());
    }
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
    // `checkpoint_dir`: Pulumi's file backend, sent after every step.
    Reporter(pb::Lease lease, std::string checkpoint_dir)
        : lease_(std::move(lease)), checkpoint_dir_(std::move(checkpoint_dir)) {}
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
      } else if (!checkpoint_dir_.empty()) {
        // The step ended: its stack goes to plinthd now.
        auto tree = engine::ReadTree(checkpoint_dir_, {".pulumi-home"});
        if (tree.ok()) {
          pb::WorkEvent* e = Add();
          e->set_type("checkpoint");
          e->set_step(step);
          for (auto& [rel, content] : tree->files) (*e->mutable_files())[rel] = std::move(content);
        }
      }
      Flush();
    }
    // The approval request, sent; kept in case it must be sent again.
    pb::RunnerMessage Awaiting(const engine::JobOutcome& planned) {
      Flush();
      pb::RunnerMessage m;
      pb::WorkEvent* e = m.mutable_events()->add_events();
      e->set_type("awaiting_approval");
      e->set_awaiting_approval_json(engine::OutcomeToJson(planned).dump());
      *m.mutable_events()->mutable_lease() = lease_;
      SendToPlinthd(m);
      return m;
    }
    void Flush() {
      if (pending_.events_size() == 0) return;
      pb::RunnerMessage m;
      *m.mutable_events() = std::move(pending_);
      *m.mutable_events()->mutable_lease() = lease_;
      pending_.Clear();
      bytes_ = 0;
      last_ = std::chrono::steady_clock::now();
      SendToPlinthd(std::move(m));
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
    const std::string checkpoint_dir_;
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
    absl::Status prepared = absl::OkStatus();
    if (spec.git_module) {
      // A Git module: fetched here, with the credentials of the offer.
      auto fetched = git_.Fetch(*spec.git_module);
      if (fetched.ok()) {
        spec.module_dir = fetched->dir;
        out.module_revision = fetched->commit;
      } else {
        prepared = absl::Status(fetched.status().code(), "module: " + std::string(fetched.status().message()));
      }
      for (const std::string* secret : {&spec.git_module->token, &spec.git_module->ssh_key, &spec.git_module->ssh_passphrase}) {
        if (!secret->empty()) spec.secrets.push_back(*secret);
      }
    } else {
      // The module, unpacked once per content hash.
      const std::string digest = work.module().archive_sha256();
      bool ok_digest = digest.size() == 64 && digest.find_first_not_of("0123456789abcdef") == std::string::npos;
      spec.module_dir = (root / "modules" / digest).string();
      if (!ok_digest) {
        prepared = absl::InvalidArgumentError("stack_job.module.archive_sha256: not a SHA-256 in hex");
      } else if (!fs::exists(spec.module_dir, ec)) {
        engine::FileTree module;
        for (const auto& [rel, content] : work.module().archive_files()) module.files[rel] = content;
        for (const auto& rel : work.module().executable()) module.executable.insert(rel);
        if (engine::TreeDigest(module) != digest) {
          prepared = absl::InvalidArgumentError("stack_job.module: the files do not match archive_sha256");
        } else {
          std::string staging = spec.module_dir + ".tmp-" + tag;
          prepared = engine::WriteTree(staging, module);
          if (prepared.ok()) fs::rename(staging, spec.module_dir, ec);
          if (ec && !fs::exists(spec.module_dir)) prepared = absl::InternalError("cannot place the module: " + ec.message());
          fs::remove_all(staging, ec);
        }
      }
    }
    // A runner-held connection: its secrets, from this host only.
    if (prepared.ok() && !spec.runner_connection.empty()) prepared = AddHeldConnection(&spec);
    engine::FileTree state;
    for (const auto& [rel, content] : work.state_files()) state.files[rel] = content;
    if (prepared.ok()) prepared = engine::WriteTree(spec.state_dir, state);
    Reporter reporter(lease, spec.engine == "pulumi" && spec.backend_type.empty() ? spec.state_dir : "");
    if (work.require_approval()) {
      spec.before_apply = [&](const engine::JobOutcome& planned) -> absl::Status {
        pb::RunnerMessage asked = reporter.Awaiting(planned);
        std::unique_lock<std::mutex> lock(item->mu);
        item->awaiting = std::move(asked);
        item->cv.wait(lock, [&] { return item->approved.has_value() || item->cancel.cancelled(); });
        if (item->approved.value_or(false)) return absl::OkStatus();
        return absl::CancelledError(item->decided_by.empty() ? "the plan was not approved" : item->decided_by);
      };
    }
    const std::string module_revision = out.module_revision;
    if (!prepared.ok()) {
      out.state = engine::JobOutcome::State::kFailed;
      out.error = std::string(prepared.message());
    } else if (spec.engine == "pulumi") {
      out = engine::PulumiRunner(launcher_.get()).Run(spec, &item->cancel, &reporter);
    } else {
      out = engine::TerraformRunner(launcher_.get()).Run(spec, &item->cancel, &reporter);
    }
    out.module_revision = module_revision;
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
    // Its slot is free once the result is out (plinthd offers the next job
    // as soon as it has it); until delivered, the outbox holds its lease.
    {
      // Under the lock, so a hello being built names the lease either as
      // running or as a result waiting in the outbox.
      std::lock_guard<std::mutex> lock(mu_);
      auto it = items_.find(lease.work_id());
      if (it != items_.end() && it->second == item) items_.erase(it);
      SendToPlinthd(std::move(result));
    }
    // Nothing of the job stays here: not its workspace, not its state.
    fs::remove_all(spec.workspace_dir, ec);
    fs::remove_all(spec.state_dir, ec);
    Log("finished " + lease.work_id() + ": " + state_name + (out.error.empty() ? "" : " (" + out.error + ")"));
  }

  // Adds a runner-held connection's environment, files and redaction to
  // `spec`, from runner.yaml; no value of it is ever sent to plinthd.
  absl::Status AddHeldConnection(engine::JobSpec* spec) {
    const auto it = opts_.connections.find(spec->runner_connection);
    if (it == opts_.connections.end()) {
      return absl::FailedPreconditionError("this runner does not hold connection " + spec->runner_connection);
    }
    const HeldConnection& held = it->second;
    if (held.provider != spec->runner_connection_provider) {
      return absl::FailedPreconditionError("connection " + spec->runner_connection + " is a " +
                                           spec->runner_connection_provider + " connection in plinthd, and a " +
                                           held.provider + " connection in this runner's runner.yaml");
    }
    std::map<std::string, std::string> secrets;
    for (const auto& [name, source] : held.secrets) {
      auto v = ReadSecret("runner.yaml connections[" + spec->runner_connection + "].secrets." + name, source);
      if (!v.ok()) return v.status();
      secrets[name] = *v;
    }
    absl::Status complete = engine::CheckConnectionFields(held.provider, spec->runner_connection_fields, secrets, true);
    if (!complete.ok()) {
      return absl::FailedPreconditionError("connection " + spec->runner_connection + " (runner-held): " +
                                           std::string(complete.message()));
    }
    engine::ConnectionEnv cenv =
        engine::BuildConnectionEnv(held.provider, spec->runner_connection_fields, secrets, spec->workspace_dir);
    spec->env.insert(spec->env.end(), cenv.env.begin(), cenv.env.end());
    spec->files.insert(spec->files.end(), cenv.files.begin(), cenv.files.end());
    spec->secrets.insert(spec->secrets.end(), cenv.redact.begin(), cenv.redact.end());
    nlohmann::json config = nlohmann::json::object();
    for (const auto& [k, v] : spec->runner_connection_fields) config[k] = v;
    for (const auto& [k, v] : secrets) config[k] = v;
    spec->provider_config = std::move(config);
    return absl::OkStatus();
  }

  const Options& opts_;
  std::unique_ptr<engine::PosixProcessLauncher> launcher_;
  plinth::gitsource::GitCache git_{(std::filesystem::path(opts_.work_dir) / "git").string()};
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Item>> items_;
};

WorkSet* g_work = nullptr;
plinth::runner::CloudOpsWorkSet* g_ops = nullptr;

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
    for (const auto& [name, held] : opts_.connections) h->add_connections(name);
    for (auto& lease : HeldLeases()) *h->add_leases() = std::move(lease);
    for (auto& digest : g_work->CachedModules()) h->add_cached_modules(std::move(digest));
    if (!Write(hello)) return stream_->Finish();
    std::thread heartbeat([this] { HeartbeatLoop(); });
    pb::ControlMessage msg;
    while (stream_->Read(&msg)) {
      switch (msg.body_case()) {
        case pb::ControlMessage::kWelcome: {
          *welcomed = true;
          {
            std::lock_guard<std::mutex> lock(mu_);
            runner_id_ = msg.welcome().runner_id();
            heartbeat_seconds_ = std::max(1, msg.welcome().heartbeat_seconds());
            if (msg.welcome().lease_seconds() > 0) g_lease_seconds.store(msg.welcome().lease_seconds());
            Log("registered as " + runner_id_ + " (heartbeat every " + std::to_string(heartbeat_seconds_) + " s)");
            cv_.notify_all();
          }
          SessionWelcomed(this);
          break;
        }
        case pb::ControlMessage::kOffer:
          // Work this runner cannot do is declined, never silently
          // dropped: plinthd offers it elsewhere.
          if (msg.offer().has_cloud_ops()) {
            g_ops->Offer(msg.offer().lease(), msg.offer().cloud_ops());
          } else {
            g_work->Offer(msg.offer());
          }
          break;
        case pb::ControlMessage::kCancel:
          if (!g_ops->Stop(msg.cancel().lease())) {
            g_work->Stop(msg.cancel().lease(), "cancelled: " + msg.cancel().reason());
          }
          break;
        case pb::ControlMessage::kLeaseLost:
          if (!g_ops->Stop(msg.lease_lost().lease())) {
            g_work->Stop(msg.lease_lost().lease(), "lease lost: " + msg.lease_lost().reason());
          }
          break;
        case pb::ControlMessage::kInput:
          g_ops->Input(msg.input());
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
    // Live operations do not outlive their stream: no one waits for them.
    g_ops->StopAll();
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
    // The interval is plinthd's (welcome): nothing is sent before it.
    cv_.wait(lock, [this] { return ended_ || g_stop.load() || !runner_id_.empty(); });
    for (;;) {
      int every = heartbeat_seconds_;
      if (cv_.wait_for(lock, std::chrono::seconds(every), [this] { return ended_ || g_stop.load(); })) return;
      lock.unlock();
      pb::RunnerMessage beat;
      beat.mutable_heartbeat();  // set even with no leases
      for (auto& lease : HeldLeases()) *beat.mutable_heartbeat()->add_leases() = std::move(lease);
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

// What goes to plinthd: on the current session once it is welcomed, else
// kept in order for the next one. Lines are dropped past 64 MiB kept (the
// log says so); results, declines and approval requests are always kept.
class Outbox {
 public:
  void Send(pb::RunnerMessage m) {
    std::lock_guard<std::mutex> lock(mu_);
    if (session_ != nullptr && pending_.empty()) {
      if (session_->Write(m)) return;
      session_ = nullptr;  // broken: kept for the next session
    }
    Keep(std::move(m));
  }

  // A session was welcomed: what waited goes first, in order.
  void Attach(Session* s) {
    std::lock_guard<std::mutex> lock(mu_);
    session_ = s;
    if (dropped_ > 0) Log("dropped " + std::to_string(dropped_) + " report batches while disconnected (over 64 MiB)");
    dropped_ = 0;
    size_t sent = 0;
    while (!pending_.empty()) {
      if (!session_->Write(pending_.front())) {
        session_ = nullptr;
        break;
      }
      bytes_ -= pending_.front().ByteSizeLong();
      pending_.pop_front();
      ++sent;
    }
    if (sent > 0) Log("sent " + std::to_string(sent) + " reports kept while disconnected");
  }

  void Detach() {
    std::lock_guard<std::mutex> lock(mu_);
    session_ = nullptr;
  }

  // Leases of results and declines not delivered yet.
  std::vector<pb::Lease> PendingLeases() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<pb::Lease> out;
    for (const auto& m : pending_) {
      if (m.has_result()) out.push_back(m.result().lease());
    }
    return out;
  }

 private:
  void Keep(pb::RunnerMessage m) {
    const size_t size = m.ByteSizeLong();
    const bool must = !m.has_events() || (m.events().events_size() > 0 &&
                                          m.events().events(0).type() != "stdout" && m.events().events(0).type() != "stderr");
    if (!must && bytes_ + size > (64u << 20)) {
      ++dropped_;
      return;
    }
    bytes_ += size;
    pending_.push_back(std::move(m));
  }

  std::mutex mu_;
  Session* session_ = nullptr;
  std::deque<pb::RunnerMessage> pending_;
  size_t bytes_ = 0;
  size_t dropped_ = 0;
};

Outbox g_outbox;
std::mutex g_session_mu;
Session* g_session = nullptr;  // guarded by g_session_mu: the session being run (for Stop)

void SetSession(Session* s) {
  std::lock_guard<std::mutex> lock(g_session_mu);
  g_session = s;
  if (s == nullptr) g_outbox.Detach();
}

void SendToPlinthd(pb::RunnerMessage m) { g_outbox.Send(std::move(m)); }

std::vector<pb::Lease> HeldLeases() {
  std::vector<pb::Lease> out = g_work->Leases();
  for (auto& lease : g_outbox.PendingLeases()) {
    bool known = false;
    for (const auto& l : out) known = known || l.work_id() == lease.work_id();
    if (!known) out.push_back(std::move(lease));
  }
  return out;
}

void SessionWelcomed(Session* s) {
  g_outbox.Attach(s);
  for (auto& m : g_work->PendingApprovals()) g_outbox.Send(std::move(m));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"plinth-runner: runs plinth's work in your infrastructure, over one outbound connection to plinthd"};
  Options opts;
  auto* server_flag = app.add_option("--server", opts.server, "plinthd's gRPC address, HOST:PORT");
  auto* token_flag =
      app.add_option("--token-file", opts.token_file, "a file holding the pool token (plinth runner-pool token create)");
  auto* pool_flag = app.add_option("--pool", opts.pool, "the pool to serve (default: the token's; another pool is refused)");
  auto* name_flag = app.add_option("--name", opts.name, "this runner's name (default: the host name)");
  auto* jobs_flag = app.add_option("--max-jobs", opts.max_jobs, "work items at once")->check(CLI::Range(1, 10000));
  auto* dir_flag = app.add_option("--work-dir", opts.work_dir, "where jobs' workspaces live (default: $TMPDIR/plinth-runner)");
  app.add_option("--engine", opts.engine_flags, "ENGINE=BINARY (tofu, terraform, pulumi); default: found on PATH");
  app.add_option("--config", opts.config_file,
                 "runner.yaml: these settings (flags win) and the secrets of runner-held connections");
  CLI11_PARSE(app, argc, argv);

  if (!opts.config_file.empty()) {
    std::map<std::string, std::string> settings;
    absl::Status loaded = LoadConfig(opts.config_file, &opts, &settings);
    if (!loaded.ok()) {
      std::cerr << "plinth-runner: " << loaded.message() << "\n";
      return 2;
    }
    auto take = [&](CLI::Option* flag, const std::string& key, std::string* into) {
      if (flag->count() == 0 && settings.count(key)) *into = settings[key];
    };
    take(server_flag, "server", &opts.server);
    take(token_flag, "token_file", &opts.token_file);
    take(pool_flag, "pool", &opts.pool);
    take(name_flag, "name", &opts.name);
    take(dir_flag, "work_dir", &opts.work_dir);
    if (jobs_flag->count() == 0 && settings.count("max_jobs")) opts.max_jobs = std::stoi(settings["max_jobs"]);
    if (opts.engine_flags.empty()) {
      for (const auto& [key, binary] : settings) {
        if (key.rfind("engine:", 0) == 0) opts.engine_flags.push_back(key.substr(7) + "=" + binary);
      }
    }
  }
  if (opts.server.empty()) {
    std::cerr << "plinth-runner: --server (or server: in --config) is required\n";
    return 2;
  }
  if (opts.token_file.empty()) {
    std::cerr << "plinth-runner: --token-file (or token_file: in --config) is required\n";
    return 2;
  }

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
  std::string held;
  for (const auto& [name, c] : opts.connections) held += (held.empty() ? "" : ", ") + name;
  Log("serving " + (opts.pool.empty() ? std::string("the token's pool") : "pool " + opts.pool) + " as " + opts.name +
      " for " + opts.server + "; engines: " + (engines.empty() ? "none found" : engines) +
      (held.empty() ? "" : "; runner-held connections: " + held));
  WorkSet work(opts);
  g_work = &work;
  plinth::runner::CloudOpsWorkSet ops(SendToPlinthd, [&opts](const std::string& name) -> absl::StatusOr<plinth::runner::Kubeconfig> {
    auto it = opts.connections.find(name);
    if (it == opts.connections.end()) {
      return absl::FailedPreconditionError("this runner does not hold connection " + name + " (runner.yaml connections)");
    }
    if (it->second.provider != "kubernetes") {
      return absl::FailedPreconditionError("connection " + name + " is a " + it->second.provider +
                                           " connection here (runner.yaml), not kubernetes");
    }
    auto source = it->second.secrets.find("kubeconfig");
    if (source == it->second.secrets.end()) {
      return absl::FailedPreconditionError("runner.yaml connections[" + name + "].secrets.kubeconfig: not set");
    }
    auto text = ReadSecret("runner.yaml connections[" + name + "].secrets.kubeconfig", source->second);
    if (!text.ok()) return text.status();
    plinth::runner::Kubeconfig config{*std::move(text), ""};
    config.base_dir = source->second.file.empty() ? std::filesystem::current_path().string()
                                                  : std::filesystem::path(source->second.file).parent_path().string();
    return config;
  });
  g_ops = &ops;
  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(256 << 20);
  channel_args.SetMaxSendMessageSize(256 << 20);
  // The runner paces its own reconnects (below); gRPC's own backoff (up to
  // two minutes) would keep it away from a restarted plinthd past its lease.
  channel_args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
  channel_args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 250);
  channel_args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  std::mt19937 rng(std::random_device{}());
  double backoff = 1.0;
  while (!g_stop.load()) {
    bool welcomed = false;
    grpc::Status status;
    {
      // A new channel each time: one that failed keeps its subchannel's
      // state (and backoff) for seconds after plinthd is back.
      auto channel = grpc::CreateCustomChannel(opts.server, grpc::InsecureChannelCredentials(), channel_args);
      auto stub = pb::RunnerService::NewStub(channel);
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
    if (!HeldLeases().empty()) wait = std::min(wait, std::max(0.25, g_lease_seconds.load() / 4.0));
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
