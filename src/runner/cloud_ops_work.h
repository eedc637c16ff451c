// plinth-runner's Cloud Ops work: each offer runs on its own thread against
// the cluster of its connection, streams its output to plinthd and ends with
// a result. Nothing of it survives the stream: when the session ends, every
// operation is cancelled (an exec's process, a followed log) at once.
#ifndef PLINTH_RUNNER_CLOUD_OPS_WORK_H_
#define PLINTH_RUNNER_CLOUD_OPS_WORK_H_

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "plinth/cloudops/operations.h"
#include "plinth/v1/runner.pb.h"

namespace plinth::runner {

// A kubeconfig's text and the directory its relative paths are under.
struct Kubeconfig {
  std::string text, base_dir;
};

class CloudOpsWorkSet {
 public:
  using Send = std::function<void(plinth::v1::RunnerMessage)>;
  // The kubeconfig of a runner-held connection ("ORG/NAME"), from runner.yaml.
  using HeldKubeconfig = std::function<absl::StatusOr<Kubeconfig>(const std::string& connection)>;

  CloudOpsWorkSet(Send send, HeldKubeconfig held) : send_(std::move(send)), held_(std::move(held)) {}
  // Waits for the operations' threads (after StopAll).
  ~CloudOpsWorkSet();

  void Offer(const plinth::v1::Lease& lease, const plinth::v1::CloudOpsWork& work);
  void Input(const plinth::v1::WorkInput& input);
  // False when the lease is not Cloud Ops work of this runner.
  bool Stop(const plinth::v1::Lease& lease);
  void StopAll();
  int Running();

 private:
  struct Op {
    int64_t generation = 0;
    cloudops::OpsControl control;
  };
  void Run(plinth::v1::Lease lease, std::shared_ptr<Op> op, plinth::v1::CloudOpsWork work);
  std::shared_ptr<Op> Find(const plinth::v1::Lease& lease);
  // A client per kubeconfig (its text, the context): its kept connections
  // and cached discovery serve the next operation on the same cluster.
  absl::StatusOr<std::shared_ptr<const cloudops::KubeClient>> ClientFor(const Kubeconfig& config,
                                                                        const std::string& context,
                                                                        const std::string& connection);

  Send send_;
  HeldKubeconfig held_;
  std::mutex mu_;
  std::condition_variable done_;
  std::map<std::string, std::shared_ptr<Op>> ops_;  // guarded by mu_
  int threads_ = 0;                                 // guarded by mu_
  std::mutex clients_mu_;
  std::map<std::string, std::shared_ptr<const cloudops::KubeClient>> clients_;  // guarded by clients_mu_
};

}  // namespace plinth::runner

#endif  // PLINTH_RUNNER_CLOUD_OPS_WORK_H_
