#include "plinth/api/runner_service.h"

#include <deque>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "plinth/api/paging.h"
#include "plinth/api/work_wire.h"
#include "plinth/engine/wire.h"
#include "plinth/core/logging.h"
#include "plinth/core/status_macros.h"
#include "plinth/manifest/names.h"

namespace plinth::api {
namespace {

namespace pb = plinth::v1;
using nlohmann::json;

void ToProto(const store::PoolTokenRecord& t, pb::PoolToken* out) {
  out->set_id(t.id);
  out->set_pool(t.pool);
  out->set_description(t.description);
  ToTimestamp(t.created_at, out->mutable_create_time());
  out->set_created_by(t.created_by);
  if (t.revoked_at) ToTimestamp(*t.revoked_at, out->mutable_revoke_time());
  out->set_revoked_by(t.revoked_by);
}

void ToProto(const store::PoolBindingRecord& b, pb::RunnerPoolBinding* out) {
  out->set_id(b.id);
  out->set_pool(b.pool);
  out->set_org(b.org);
  out->set_env(b.env);
  out->set_label_selector(b.label_selector);
}

void ToProto(const store::RunnerPoolRecord& p, pb::RunnerPool* out) {
  out->set_name(p.name);
  out->set_description(p.description);
  for (const auto& t : p.tokens) ToProto(t, out->add_tokens());
  for (const auto& b : p.bindings) ToProto(b, out->add_bindings());
  ToTimestamp(p.created_at, out->mutable_create_time());
  out->set_created_by(p.created_by);
}

// A runner's name: what it says in `hello`, shown in `plinth runner list`.
absl::Status CheckRunnerName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 253;
  for (char c : name) ok = ok && (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_');
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat("hello.name: \"", absl::CEscape(name.substr(0, 64)),
                                                   "\" is not a runner name (1-253 of letters, digits, '-', '.', '_')"));
  }
  return absl::OkStatus();
}

absl::StatusOr<store::RunnerRecord> FromHello(const pb::RunnerHello& hello) {
  PLINTH_RETURN_IF_ERROR(CheckRunnerName(hello.name()));
  if (hello.max_jobs() < 1 || hello.max_jobs() > 10000) {
    return absl::InvalidArgumentError(absl::StrCat("hello.max_jobs: ", hello.max_jobs(), " is not between 1 and 10000"));
  }
  if (hello.version().size() > 128) return absl::InvalidArgumentError("hello.version: longer than 128 bytes");
  store::RunnerRecord r;
  r.name = hello.name();
  r.version = hello.version();
  r.max_jobs = hello.max_jobs();
  for (int i = 0; i < hello.engines_size(); ++i) {
    const std::string& e = hello.engines(i);
    if (e != "tofu" && e != "terraform" && e != "pulumi") {
      return absl::InvalidArgumentError(absl::StrCat("hello.engines[", i, "]: \"", absl::CEscape(e.substr(0, 64)),
                                                     "\" is not one of tofu, terraform, pulumi"));
    }
    r.engines.push_back(e);
  }
  for (int i = 0; i < hello.connections_size(); ++i) {
    const std::string field = absl::StrCat("hello.connections[", i, "]");
    const std::string& c = hello.connections(i);
    size_t slash = c.find('/');
    if (slash == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": \"", absl::CEscape(c.substr(0, 64)), "\" is not ORG/NAME"));
    }
    PLINTH_RETURN_IF_ERROR(manifest::CheckName(field + " (org)", c.substr(0, slash)));
    PLINTH_RETURN_IF_ERROR(manifest::CheckName(field + " (name)", c.substr(slash + 1)));
    r.connections.push_back(c);
  }
  for (int i = 0; i < hello.cached_modules_size(); ++i) {
    const std::string& d = hello.cached_modules(i);
    if (d.size() != 64 || d.find_first_not_of("0123456789abcdef") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("hello.cached_modules[", i, "]: not a SHA-256 in hex"));
    }
  }
  if (hello.cached_modules_size() > 100000) return absl::InvalidArgumentError("hello.cached_modules: more than 100000");
  return r;
}

// One runner's stream. Reads one message at a time; each is handled on a
// worker (handlers touch SQLite), then the next read starts. Writes queue.
// The object lives while gRPC uses it or a worker holds it (self_).
class RunnerStream final : public grpc::ServerBidiReactor<pb::RunnerMessage, pb::ControlMessage>,
                           public ConnectedRunners::Connection,
                           public orchestrator::RunnerChannel,
                           public std::enable_shared_from_this<RunnerStream> {
 public:
  RunnerStream(grpc::CallbackServerContext* ctx, core::ThreadPool* workers, store::RunnerPoolStore* pools,
               ConnectedRunners* connected, orchestrator::RunnerHub* hub, RunnerSettings settings)
      : ctx_(ctx), workers_(workers), pools_(pools), connected_(connected), hub_(hub), settings_(settings) {}

  // RunnerChannel: what the hub sends this runner.
  std::string OfferStackJob(const orchestrator::WorkLease& lease, const engine::JobSpec& spec, bool require_approval,
                            const std::map<std::string, std::string>& state_files,
                            const std::set<std::string>& cached_modules) override {
    pb::ControlMessage m;
    SetLease(lease, m.mutable_offer()->mutable_lease());
    absl::Status s = ToWork(spec, require_approval, state_files, cached_modules, m.mutable_offer()->mutable_stack_job());
    if (!s.ok()) {
      // Nothing a runner could run: the hub hears it as declined.
      hub_->Declined(runner_id_, lease, std::string(s.message()));
      return "";
    }
    std::string digest = m.offer().stack_job().module().archive_sha256();
    Send(std::move(m));
    return digest;
  }
  void CancelWork(const orchestrator::WorkLease& lease, const std::string& reason) override {
    pb::ControlMessage m;
    SetLease(lease, m.mutable_cancel()->mutable_lease());
    m.mutable_cancel()->set_reason(reason);
    Send(std::move(m));
  }
  void LoseLease(const orchestrator::WorkLease& lease, const std::string& reason) override {
    pb::ControlMessage m;
    SetLease(lease, m.mutable_lease_lost()->mutable_lease());
    m.mutable_lease_lost()->set_reason(reason);
    Send(std::move(m));
  }
  void Decide(const orchestrator::WorkLease& lease, bool approved, const std::string& actor,
              const std::string& comment) override {
    pb::ControlMessage m;
    SetLease(lease, m.mutable_approval()->mutable_lease());
    m.mutable_approval()->set_approved(approved);
    m.mutable_approval()->set_actor(actor);
    m.mutable_approval()->set_comment(comment);
    Send(std::move(m));
  }

  void OfferOps(const orchestrator::WorkLease& lease, const std::string& payload) override {
    pb::ControlMessage m;
    SetLease(lease, m.mutable_offer()->mutable_lease());
    if (!m.mutable_offer()->mutable_cloud_ops()->ParseFromString(payload)) return;  // built by CloudOpsService
    Send(std::move(m));
  }
  void OpsInput(const orchestrator::WorkLease& lease, const std::string& input) override {
    pb::ControlMessage m;
    if (!m.mutable_input()->ParseFromString(input)) return;
    SetLease(lease, m.mutable_input()->mutable_lease());
    Send(std::move(m));
  }

  void Begin(std::shared_ptr<RunnerStream> self) {
    self_ = std::move(self);
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The runner closed its side, or the stream broke.
      Close(grpc::Status::OK);
      return;
    }
    auto self = shared_from_this();
    pb::RunnerMessage msg = std::move(in_);
    workers_->Submit([self, msg = std::move(msg)]() mutable { self->Handle(msg); });
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    out_.pop_front();
    writing_ = false;
    if (!ok) {
      out_.clear();
      if (!finished_) {
        finished_ = true;
        Finish(grpc::Status::OK);
      }
      return;
    }
    WriteNextLocked();
  }

  void OnDone() override {
    if (!runner_id_.empty()) {
      connected_->Remove(runner_id_, this);
      hub_->Detach(runner_id_, this);
    }
    core::Logger("runners")->info("runner {} disconnected", name_.empty() ? ctx_->peer() : name_);
    self_.reset();  // the last worker holding it frees it
  }

  void Close(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    if (finished_ || closing_) return;
    closing_ = true;
    close_status_ = status;
    if (!writing_) {
      finished_ = true;
      Finish(close_status_);
    }
  }

 private:
  void Send(pb::ControlMessage m) {
    absl::MutexLock lock(&mu_);
    if (finished_ || closing_) return;
    out_.push_back(std::move(m));
    WriteNextLocked();
  }

  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_) return;
    if (out_.empty()) {
      if (closing_) {
        finished_ = true;
        Finish(close_status_);
      }
      return;
    }
    writing_ = true;
    StartWrite(&out_.front());
  }

  void ReadNext() {
    absl::MutexLock lock(&mu_);
    if (finished_ || closing_) return;
    StartRead(&in_);
  }

  void Handle(const pb::RunnerMessage& msg) {
    absl::Status s = Dispatch(msg);
    if (!s.ok()) {
      core::Logger("runners")->warn("runner {} from {}: {}", name_.empty() ? "(not registered)" : name_, ctx_->peer(),
                                    s.message());
      Close(ToGrpcStatus(s));
      return;
    }
    ReadNext();
  }

  absl::Status Dispatch(const pb::RunnerMessage& msg) {
    if (runner_id_.empty()) {
      if (!msg.has_hello()) return absl::InvalidArgumentError("the first message on the stream must be hello");
      return Hello(msg.hello());
    }
    switch (msg.body_case()) {
      case pb::RunnerMessage::kHello:
        return absl::InvalidArgumentError("hello: sent twice on one stream");
      case pb::RunnerMessage::kHeartbeat:
        hub_->Heartbeat(runner_id_);
        // The stored heartbeat is for `plinth runner list`: once in a while.
        if (absl::Now() - stored_heartbeat_ > absl::Seconds(settings_.heartbeat_seconds * 2)) {
          stored_heartbeat_ = absl::Now();
          return pools_->RecordHeartbeat(runner_id_);
        }
        return absl::OkStatus();
      case pb::RunnerMessage::kEvents:
      case pb::RunnerMessage::kResult:
      case pb::RunnerMessage::kDeclined: {
        const orchestrator::WorkLease lease = FromLease(LeaseOf(msg));
        bool current = false;
        if (msg.has_events()) {
          current = hub_->Report(runner_id_, lease, Reports(msg.events()));
        } else if (msg.has_result() && msg.result().has_cloud_ops()) {
          const pb::CloudOpsResult& r = msg.result().cloud_ops();
          absl::StatusCode code = absl::StatusCode::kUnknown;
          if (!StatusCodeFromName(r.code(), &code)) code = absl::StatusCode::kUnknown;
          orchestrator::OpsEnd end{code == absl::StatusCode::kOk ? absl::OkStatus() : absl::Status(code, r.message()),
                                   r.result_json()};
          current = hub_->OpsResult(runner_id_, lease, std::move(end));
        } else if (msg.has_result()) {
          engine::JobOutcome outcome;
          json parsed = json::parse(msg.result().outcome_json(), nullptr, false);
          if (!parsed.is_object()) {
            // A malformed report is refused; the job goes on (and ends by
            // its lease if no good result comes).
            core::Logger("runners")->warn("runner {}: result for {}: outcome_json is not a JSON object: refused",
                                          name_, lease.work_id);
            return absl::OkStatus();
          }
          outcome = engine::OutcomeFromJson(parsed);
          std::optional<std::map<std::string, std::string>> state;
          if (msg.result().state_returned()) {
            state.emplace(msg.result().state_files().begin(), msg.result().state_files().end());
          }
          current = hub_->Result(runner_id_, lease, std::move(outcome), std::move(state));
        } else {
          current = hub_->Declined(runner_id_, lease, msg.declined().reason());
        }
        if (!current) {
          // Fencing: not this runner's lease (any more). It stops the work.
          core::Logger("runners")->warn("runner {}: report about lease {} (generation {}) it does not hold: refused",
                                        name_, lease.work_id, lease.generation);
          LoseLease(lease, "this lease is not yours (it expired or went to another runner)");
        }
        return absl::OkStatus();
      }
      case pb::RunnerMessage::BODY_NOT_SET:
        return absl::InvalidArgumentError("message: empty (no body set)");
    }
    return absl::OkStatus();
  }

  static void SetLease(const orchestrator::WorkLease& lease, pb::Lease* out) {
    out->set_work_id(lease.work_id);
    out->set_generation(lease.generation);
  }
  static orchestrator::WorkLease FromLease(const pb::Lease& l) { return {l.work_id(), l.generation()}; }

  static std::vector<orchestrator::WorkReport> Reports(const pb::WorkEvents& events) {
    std::vector<orchestrator::WorkReport> out;
    for (const auto& e : events.events()) {
      orchestrator::WorkReport r;
      r.step = e.step();
      r.text = e.data().empty() ? e.text() : e.data();  // Cloud Ops output is raw bytes
      if (e.type() == "stdout" || e.type() == "stderr" || e.type() == "system") {
        r.type = orchestrator::WorkReport::Type::kLine;
        r.stream = e.type() == "stdout"   ? engine::JobListener::Stream::kStdout
                   : e.type() == "stderr" ? engine::JobListener::Stream::kStderr
                                          : engine::JobListener::Stream::kSystem;
      } else if (e.type() == "event") {
        r.type = orchestrator::WorkReport::Type::kEvent;
        r.event = engine::EventFromJson(json::parse(e.data_json(), nullptr, false));
      } else if (e.type() == "process") {
        r.type = orchestrator::WorkReport::Type::kStepStarted;
      } else if (e.type() == "checkpoint") {
        r.type = orchestrator::WorkReport::Type::kCheckpoint;
        r.files.insert(e.files().begin(), e.files().end());
      } else if (e.type() == "awaiting_approval") {
        r.type = orchestrator::WorkReport::Type::kAwaitingApproval;
        r.planned = engine::OutcomeFromJson(json::parse(e.awaiting_approval_json(), nullptr, false));
      } else {
        continue;  // a newer runner's kind of report
      }
      out.push_back(std::move(r));
    }
    return out;
  }

  static const pb::Lease& LeaseOf(const pb::RunnerMessage& msg) {
    if (msg.has_events()) return msg.events().lease();
    if (msg.has_result()) return msg.result().lease();
    return msg.declined().lease();
  }

  absl::Status Hello(const pb::RunnerHello& hello) {
    PLINTH_ASSIGN_OR_RETURN(store::PoolTokenRecord token, pools_->Authenticate(hello.token()));
    if (!hello.pool().empty() && hello.pool() != token.pool) {
      return absl::PermissionDeniedError(absl::StrCat("hello.pool: this token serves pool ", token.pool, ", not ",
                                                      absl::CEscape(hello.pool().substr(0, 64))));
    }
    PLINTH_ASSIGN_OR_RETURN(store::RunnerRecord r, FromHello(hello));
    r.pool = token.pool;
    r.token_id = token.id;
    r.address = ctx_->peer();
    PLINTH_ASSIGN_OR_RETURN(r, pools_->RegisterRunner(std::move(r)));
    runner_id_ = r.id;
    name_ = r.name;
    connected_->Add(runner_id_, token.id, shared_from_this());
    orchestrator::RunnerInfo info{r.id, r.name, r.pool, r.max_jobs, {r.engines.begin(), r.engines.end()},
                                  {r.connections.begin(), r.connections.end()},
                                  {hello.cached_modules().begin(), hello.cached_modules().end()}};
    std::vector<orchestrator::WorkLease> held;
    for (const auto& l : hello.leases()) held.push_back(FromLease(l));
    std::vector<orchestrator::WorkLease> stale = hub_->Attach(info, shared_from_this(), held);
    core::Logger("runners")->info("runner {} ({}) connected to pool {} from {}: version {}, {} jobs at once", r.name,
                                  r.id, r.pool, r.address, r.version, r.max_jobs);
    pb::ControlMessage welcome;
    welcome.mutable_welcome()->set_runner_id(r.id);
    welcome.mutable_welcome()->set_heartbeat_seconds(settings_.heartbeat_seconds);
    welcome.mutable_welcome()->set_lease_seconds(settings_.lease_seconds);
    Send(std::move(welcome));
    for (const auto& lease : stale) {
      core::Logger("runners")->warn("runner {} reconnected holding {} (generation {}), which is no longer its lease",
                                    r.name, lease.work_id, lease.generation);
      LoseLease(lease, "this lease is not yours any more (it expired, or the work ended without you)");
    }
    return absl::OkStatus();
  }

  grpc::CallbackServerContext* const ctx_;
  core::ThreadPool* const workers_;
  store::RunnerPoolStore* const pools_;
  ConnectedRunners* const connected_;
  orchestrator::RunnerHub* const hub_;
  const RunnerSettings settings_;
  std::shared_ptr<RunnerStream> self_;
  absl::Time stored_heartbeat_ = absl::Now();
  pb::RunnerMessage in_;
  // Set by the handler of hello; read by later handlers (one at a time).
  std::string runner_id_, name_;

  absl::Mutex mu_;
  std::deque<pb::ControlMessage> out_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status close_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

void ConnectedRunners::Add(const std::string& runner_id, const std::string& token_id, std::shared_ptr<Connection> c) {
  std::shared_ptr<Connection> previous;
  std::optional<grpc::Status> closed;
  {
    absl::MutexLock lock(&mu_);
    closed = closed_;
    if (!closed) {
      auto it = by_runner_.find(runner_id);
      if (it != by_runner_.end()) previous = it->second.connection;
      by_runner_[runner_id] = {token_id, c};
    }
  }
  // Streams are closed outside the lock: a close may end in Remove.
  if (closed) {
    c->Close(*closed);
    return;
  }
  // The same runner connected again: its old stream is stale.
  if (previous != nullptr && previous != c) {
    previous->Close(grpc::Status(grpc::StatusCode::ABORTED, "this runner connected again on another stream"));
  }
}

void ConnectedRunners::Remove(const std::string& runner_id, Connection* c) {
  absl::MutexLock lock(&mu_);
  auto it = by_runner_.find(runner_id);
  if (it != by_runner_.end() && it->second.connection.get() == c) by_runner_.erase(it);
}

bool ConnectedRunners::Connected(const std::string& runner_id) const {
  absl::MutexLock lock(&mu_);
  return by_runner_.count(runner_id) > 0;
}

void ConnectedRunners::CloseToken(const std::string& token_id, const grpc::Status& status) {
  std::vector<std::shared_ptr<Connection>> closing;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, e] : by_runner_) {
      if (e.token_id == token_id) closing.push_back(e.connection);
    }
  }
  for (auto& c : closing) c->Close(status);
}

void ConnectedRunners::CloseAll(const grpc::Status& status) {
  std::vector<std::shared_ptr<Connection>> closing;
  {
    absl::MutexLock lock(&mu_);
    closed_ = status;
    for (auto& [id, e] : by_runner_) closing.push_back(e.connection);
  }
  for (auto& c : closing) c->Close(status);
}

grpc::ServerUnaryReactor* RunnerPoolServiceImpl::CreateRunnerPool(grpc::CallbackServerContext* ctx,
                                                                  const pb::CreateRunnerPoolRequest* req,
                                                                  pb::RunnerPool* resp) {
  return RunUnary(ctx, env_, "CreateRunnerPool", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(RequireGlobalAdmin(actor, "create runner pool " + req->name()));
    PLINTH_ASSIGN_OR_RETURN(auto p, pools_->CreatePool(req->name(), req->description(), actor));
    ToProto(p, resp);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RunnerPoolServiceImpl::ListRunnerPools(grpc::CallbackServerContext* ctx,
                                                                 const pb::ListRunnerPoolsRequest* req,
                                                                 pb::ListRunnerPoolsResponse* resp) {
  return RunUnary(ctx, env_, "ListRunnerPools", [=, this](const std::string&) -> absl::Status {
    PageQuery query("ListRunnerPools", *req);
    PLINTH_ASSIGN_OR_RETURN(std::string cursor, query.Cursor(req->page_token()));
    PLINTH_ASSIGN_OR_RETURN(int size, PageSizeOf(req->page_size(), 100));
    PLINTH_ASSIGN_OR_RETURN(auto list, pools_->ListPools());
    std::string next;
    auto page = PageOf(list, [](const store::RunnerPoolRecord& p) { return p.name; }, cursor, size, &next);
    for (const auto* p : page) ToProto(*p, resp->add_pools());
    resp->set_next_page_token(query.Token(next));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RunnerPoolServiceImpl::DeleteRunnerPool(grpc::CallbackServerContext* ctx,
                                                                  const pb::DeleteRunnerPoolRequest* req,
                                                                  pb::DeleteRunnerPoolResponse*) {
  return RunUnary(ctx, env_, "DeleteRunnerPool", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(RequireGlobalAdmin(actor, "delete runner pool " + req->name()));
    return pools_->DeletePool(req->name(), actor);
  });
}

grpc::ServerUnaryReactor* RunnerPoolServiceImpl::CreatePoolToken(grpc::CallbackServerContext* ctx,
                                                                 const pb::CreatePoolTokenRequest* req,
                                                                 pb::CreatePoolTokenResponse* resp) {
  return RunUnary(ctx, env_, "CreatePoolToken", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(RequireGlobalAdmin(actor, "create a token of runner pool " + req->pool()));
    if (req->pool().empty()) return absl::InvalidArgumentError("pool: required");
    PLINTH_ASSIGN_OR_RETURN(auto created, pools_->CreateToken(req->pool(), req->description(), actor));
    ToProto(created.first, resp->mutable_token());
    resp->set_secret(created.second);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RunnerPoolServiceImpl::RevokePoolToken(grpc::CallbackServerContext* ctx,
                                                                 const pb::RevokePoolTokenRequest* req,
                                                                 pb::PoolToken* resp) {
  return RunUnary(ctx, env_, "RevokePoolToken", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(RequireGlobalAdmin(actor, "revoke runner token " + req->id()));
    if (req->id().empty()) return absl::InvalidArgumentError("id: required");
    PLINTH_ASSIGN_OR_RETURN(auto t, pools_->RevokeToken(req->id(), actor));
    connected_->CloseToken(t.id, grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "runner token: revoked"));
    ToProto(t, resp);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RunnerPoolServiceImpl::BindRunnerPool(grpc::CallbackServerContext* ctx,
                                                                const pb::BindRunnerPoolRequest* req,
                                                                pb::RunnerPoolBinding* resp) {
  return RunUnary(ctx, env_, "BindRunnerPool", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(RequireGlobalAdmin(actor, absl::StrCat("bind runner pool ", req->pool(), " to ", req->org(), req->env().empty() ? "" : "/", req->env())));
    if (req->pool().empty()) return absl::InvalidArgumentError("pool: required");
    PLINTH_RETURN_IF_ERROR(manifest::CheckName("org", req->org()));
    if (!req->env().empty()) PLINTH_RETURN_IF_ERROR(manifest::CheckName("env", req->env()));
    PLINTH_ASSIGN_OR_RETURN(auto b, pools_->Bind(req->pool(), req->org(), req->env(), req->label_selector(), actor));
    ToProto(b, resp);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RunnerPoolServiceImpl::UnbindRunnerPool(grpc::CallbackServerContext* ctx,
                                                                  const pb::UnbindRunnerPoolRequest* req,
                                                                  pb::UnbindRunnerPoolResponse*) {
  return RunUnary(ctx, env_, "UnbindRunnerPool", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(RequireGlobalAdmin(actor, "remove pool binding " + req->id()));
    if (req->id().empty()) return absl::InvalidArgumentError("id: required");
    return pools_->Unbind(req->id(), actor);
  });
}

grpc::ServerUnaryReactor* RunnerPoolServiceImpl::ListRunners(grpc::CallbackServerContext* ctx,
                                                             const pb::ListRunnersRequest* req,
                                                             pb::ListRunnersResponse* resp) {
  return RunUnary(ctx, env_, "ListRunners", [=, this](const std::string&) -> absl::Status {
    PageQuery query("ListRunners", *req);
    PLINTH_ASSIGN_OR_RETURN(std::string cursor, query.Cursor(req->page_token()));
    PLINTH_ASSIGN_OR_RETURN(int size, PageSizeOf(req->page_size(), 100));
    PLINTH_ASSIGN_OR_RETURN(auto list, pools_->ListRunners(req->pool()));
    std::string next;
    auto page = PageOf(
        list, [](const store::RunnerRecord& r) { return absl::StrCat(r.pool, "\x1f", r.name); }, cursor, size, &next);
    for (const auto* r : page) {
      pb::Runner* out = resp->add_runners();
      out->set_id(r->id);
      out->set_name(r->name);
      out->set_pool(r->pool);
      out->set_version(r->version);
      out->set_max_jobs(r->max_jobs);
      for (const auto& e : r->engines) out->add_engines(e);
      out->set_connected(connected_->Connected(r->id));
      for (const auto& work : hub_->Leased(r->id)) out->add_running(work);
      if (r->connected_at) ToTimestamp(*r->connected_at, out->mutable_connect_time());
      if (r->last_heartbeat) ToTimestamp(*r->last_heartbeat, out->mutable_last_heartbeat());
      out->set_address(r->address);
    }
    resp->set_next_page_token(query.Token(next));
    return absl::OkStatus();
  });
}

grpc::ServerBidiReactor<pb::RunnerMessage, pb::ControlMessage>* RunnerServiceImpl::Connect(
    grpc::CallbackServerContext* ctx) {
  auto stream = std::make_shared<RunnerStream>(ctx, workers_, pools_, connected_, hub_, settings_);
  RunnerStream* raw = stream.get();
  raw->Begin(std::move(stream));
  return raw;
}

}  // namespace plinth::api
