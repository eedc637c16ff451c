#include "cloud_ops_work.h"

#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace plinth::runner {
namespace pb = plinth::v1;

namespace {

// Output goes out as it comes: an interactive shell cannot wait for a batch.
class ToPlinthd : public cloudops::OpsSink {
 public:
  ToPlinthd(const CloudOpsWorkSet::Send& send, const pb::Lease& lease) : send_(send), lease_(lease) {}
  void Output(int stream, absl::string_view data) override {
    pb::RunnerMessage m;
    *m.mutable_events()->mutable_lease() = lease_;
    pb::WorkEvent* e = m.mutable_events()->add_events();
    e->set_type(stream == 2 ? "stderr" : "stdout");
    e->set_data(data.data(), data.size());
    send_(std::move(m));
  }

 private:
  const CloudOpsWorkSet::Send& send_;
  const pb::Lease lease_;
};

cloudops::OpsRequest RequestOf(const pb::CloudOpsWork& w) {
  cloudops::OpsRequest r;
  r.operation = w.operation();
  r.ns = w.namespace_();
  r.scope.restricted = w.scoped();
  r.scope.workload = w.workload();
  r.type = w.type();
  r.name = w.name();
  r.pods.assign(w.pods().begin(), w.pods().end());
  r.container = w.container();
  r.follow = w.follow();
  r.tail_lines = w.tail_lines();
  r.since_seconds = w.since_seconds();
  r.since_time = w.since_time();
  r.filter = w.filter();
  r.command.assign(w.command().begin(), w.command().end());
  r.tty = w.tty();
  r.with_stdin = w.stdin();
  r.width = w.width();
  r.height = w.height();
  r.object_json = w.object_json();
  r.reveal_sensitive = w.reveal_sensitive();
  return r;
}

}  // namespace

CloudOpsWorkSet::~CloudOpsWorkSet() {
  StopAll();
  std::unique_lock<std::mutex> lock(mu_);
  done_.wait(lock, [this] { return threads_ == 0; });
}

void CloudOpsWorkSet::Offer(const pb::Lease& lease, const pb::CloudOpsWork& work) {
  auto op = std::make_shared<Op>();
  op->generation = lease.generation();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ops_.count(lease.work_id())) return;  // offered twice: the first goes on
    ops_[lease.work_id()] = op;
    ++threads_;
  }
  std::thread([this, lease, op, work] { Run(lease, op, work); }).detach();
}

void CloudOpsWorkSet::Run(pb::Lease lease, std::shared_ptr<Op> op, pb::CloudOpsWork work) {
  absl::StatusOr<nlohmann::json> result = [&]() -> absl::StatusOr<nlohmann::json> {
    Kubeconfig config;
    if (work.runner_held()) {
      auto held = held_(work.connection());
      if (!held.ok()) return held.status();
      config = *std::move(held);
    } else {
      config.text = work.kubeconfig();
      if (config.text.empty()) {
        return absl::FailedPreconditionError(absl::StrCat("connection ", work.connection(), ": no kubeconfig"));
      }
    }
    auto kube = ClientFor(config, work.context(), work.connection());
    if (!kube.ok()) return kube.status();
    ToPlinthd sink(send_, lease);
    return cloudops::RunOperation(**kube, RequestOf(work), &sink, &op->control);
  }();
  pb::RunnerMessage m;
  *m.mutable_result()->mutable_lease() = lease;
  pb::CloudOpsResult* r = m.mutable_result()->mutable_cloud_ops();
  r->set_code(absl::StatusCodeToString(result.ok() ? absl::StatusCode::kOk : result.status().code()));
  if (result.ok()) {
    r->set_result_json(result->dump());
  } else {
    r->set_message(std::string(result.status().message()));
  }
  bool stopped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = ops_.find(lease.work_id());
    stopped = it == ops_.end() || it->second != op;
    if (!stopped) ops_.erase(it);
  }
  // Stopped by plinthd (the caller went, the stream ended): no one waits
  // for the result.
  if (!stopped) send_(std::move(m));
  std::lock_guard<std::mutex> lock(mu_);
  --threads_;
  done_.notify_all();
}

absl::StatusOr<std::shared_ptr<const cloudops::KubeClient>> CloudOpsWorkSet::ClientFor(
    const Kubeconfig& config, const std::string& context, const std::string& connection) {
  // Keyed by the whole text: a rotated kubeconfig (new token, new
  // certificate) makes a new client.
  const std::string key = absl::StrCat(connection, "\n", context, "\n", config.base_dir, "\n", config.text);
  std::lock_guard<std::mutex> lock(clients_mu_);
  auto it = clients_.find(key);
  if (it != clients_.end()) return it->second;
  auto access = cloudops::LoadKubeconfig(config.text, config.base_dir, context,
                                         absl::StrCat("the kubeconfig of connection ", connection));
  if (!access.ok()) return access.status();
  auto kube = cloudops::KubeClient::Create(*std::move(access));
  if (!kube.ok()) return kube.status();
  if (clients_.size() >= 16) clients_.clear();  // a bound, not an LRU: rotations are rare
  std::shared_ptr<const cloudops::KubeClient> client = std::move(*kube);
  clients_[key] = client;
  return client;
}

std::shared_ptr<CloudOpsWorkSet::Op> CloudOpsWorkSet::Find(const pb::Lease& lease) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ops_.find(lease.work_id());
  if (it == ops_.end() || it->second->generation != lease.generation()) return nullptr;
  return it->second;
}

void CloudOpsWorkSet::Input(const pb::WorkInput& input) {
  std::shared_ptr<Op> op = Find(input.lease());
  if (op == nullptr) return;
  if (!input.stdin().empty()) op->control.Stdin(input.stdin());
  if (input.close_stdin()) op->control.CloseStdin();
  if (input.width() > 0 && input.height() > 0) op->control.Resize(input.width(), input.height());
}

bool CloudOpsWorkSet::Stop(const pb::Lease& lease) {
  std::shared_ptr<Op> op;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = ops_.find(lease.work_id());
    if (it == ops_.end()) return false;
    op = it->second;
    ops_.erase(it);
  }
  op->control.Cancel();
  return true;
}

void CloudOpsWorkSet::StopAll() {
  std::map<std::string, std::shared_ptr<Op>> ops;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ops.swap(ops_);
  }
  for (auto& [id, op] : ops) op->control.Cancel();
}

int CloudOpsWorkSet::Running() {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(ops_.size());
}

}  // namespace plinth::runner
