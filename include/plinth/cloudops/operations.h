// The Cloud Ops operations a runner carries out against a cluster with its
// own credentials: pods of a workload, logs, exec, browse (api-resources,
// list, get, describe), apply an edit, delete, the namespace graph.
//
// plinthd resolves the target and checks the caller's grant; the runner
// gets an OpsRequest with the namespace and, in developer mode, the scope
// (the workload of one cloud resource): pods, logs, exec, edit and delete
// outside it are PERMISSION_DENIED here, where the objects are seen.
//
//   OpsControl control;
//   auto result = RunOperation(*kube, request, &sink, &control);  // blocks
//   control.Cancel();  // from another thread: ends a log stream or an exec
#ifndef PLINTH_CLOUDOPS_OPERATIONS_H_
#define PLINTH_CLOUDOPS_OPERATIONS_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "plinth/cloudops/kube_client.h"

namespace plinth::cloudops {

// Developer mode: what one cloud resource manages in its namespace. Objects
// are in scope when they are named `workload`, carry the label
// app.kubernetes.io/instance (or app) = `workload`, are owned (through
// ownerReferences) by one that is, or are pods selected by such a workload.
struct OpsScope {
  bool restricted = false;  // false: admin mode, the whole namespace
  std::string workload;
};

struct OpsRequest {
  // pods, logs, exec, api-resources, list, get, describe, apply, delete, graph
  std::string operation;
  std::string ns;
  OpsScope scope;
  // list/get/describe/delete: a resource type as kubectl takes it (pods, po,
  // deployments.apps, deploy, Deployment); name for get/describe/delete.
  std::string type, name;
  // logs and exec
  std::vector<std::string> pods;  // logs: these pods (empty: every pod in scope); exec: pods[0]
  std::string container;
  bool follow = false;
  int64_t tail_lines = -1;
  int64_t since_seconds = 0;
  std::string since_time;  // RFC 3339
  std::string filter;      // logs: only lines containing it
  bool prefix = false;     // logs: "[pod] " before each line (set with several pods)
  std::vector<std::string> command;
  bool tty = false, with_stdin = false;
  int width = 0, height = 0;
  // apply: the object as JSON, with metadata.resourceVersion as it was read.
  std::string object_json;
  bool reveal_sensitive = false;
};

// Receives output as it comes: 1 stdout (log lines, exec output), 2 stderr.
class OpsSink {
 public:
  virtual ~OpsSink() = default;
  virtual void Output(int stream, absl::string_view data) = 0;
};

// Input to a running exec, and cancel, from other threads.
class OpsControl {
 public:
  void Cancel();
  bool cancelled() const { return cancelled_.load(); }
  void Stdin(std::string data);
  void CloseStdin();
  void Resize(int width, int height);

 private:
  friend class ExecPump;
  struct Input {
    enum class Type { kData, kClose, kResize } type;
    std::string data;
    int width = 0, height = 0;
  };
  void Attach(ExecSession* session);
  void Detach();
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  ExecSession* session_ = nullptr;  // guarded by mu_
  std::deque<Input> pending_;       // before the session started
};

// Blocks until the operation ends. The result (JSON) by operation:
//   pods: {"pods": [{name, phase, ready, restarts, node, age_seconds, containers, workload}]}
//   logs: {"pods": [...names]}; exec: {"exit_code": N}
//   api-resources: {"resources": [{name, kind, group, version, namespaced, short_names}]}
//   list: {"kind", "items": [objects]}; get/apply: {"object"}; describe: {"object", "events": [...]}
//   delete: {"deleted": "Kind/name"}; graph: {"nodes", "edges", "dot"}
absl::StatusOr<nlohmann::json> RunOperation(const KubeClient& kube, const OpsRequest& request, OpsSink* sink,
                                            OpsControl* control);

// The namespace graph of these objects (nodes "Kind/name", edges typed owns,
// selects, routes, mounts), and its DOT text.
nlohmann::json NamespaceGraph(const std::vector<nlohmann::json>& objects);
std::string GraphToDot(const nlohmann::json& graph, const std::string& ns);

}  // namespace plinth::cloudops

#endif  // PLINTH_CLOUDOPS_OPERATIONS_H_
