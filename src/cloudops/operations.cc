#include "plinth/cloudops/operations.h"

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace plinth::cloudops {

using nlohmann::json;

// ---- OpsControl ------------------------------------------------------------

void OpsControl::Cancel() {
  cancelled_.store(true);
  std::lock_guard<std::mutex> lock(mu_);
  if (session_ != nullptr) session_->Cancel();
}

void OpsControl::Stdin(std::string data) {
  std::lock_guard<std::mutex> lock(mu_);
  if (session_ != nullptr) {
    session_->SendStdin(data).IgnoreError();  // a broken exec ends by itself in Wait
  } else {
    pending_.push_back({Input::Type::kData, std::move(data)});
  }
}

void OpsControl::CloseStdin() {
  std::lock_guard<std::mutex> lock(mu_);
  if (session_ != nullptr) {
    session_->CloseStdin().IgnoreError();
  } else {
    pending_.push_back({Input::Type::kClose, ""});
  }
}

void OpsControl::Resize(int width, int height) {
  std::lock_guard<std::mutex> lock(mu_);
  if (session_ != nullptr) {
    session_->Resize(width, height).IgnoreError();
  } else {
    pending_.push_back({Input::Type::kResize, "", width, height});
  }
}

void OpsControl::Attach(ExecSession* session) {
  std::lock_guard<std::mutex> lock(mu_);
  session_ = session;
  for (auto& in : pending_) {
    switch (in.type) {
      case Input::Type::kData: session->SendStdin(in.data).IgnoreError(); break;
      case Input::Type::kClose: session->CloseStdin().IgnoreError(); break;
      case Input::Type::kResize: session->Resize(in.width, in.height).IgnoreError(); break;
    }
  }
  pending_.clear();
  if (cancelled_.load()) session->Cancel();
}

void OpsControl::Detach() {
  std::lock_guard<std::mutex> lock(mu_);
  session_ = nullptr;
}

// Attaches a session to its control for as long as it lives.
class ExecPump {
 public:
  ExecPump(OpsControl* control, ExecSession* session) : control_(control) {
    if (control_ != nullptr) control_->Attach(session);
  }
  ~ExecPump() {
    if (control_ != nullptr) control_->Detach();
  }
  ExecPump(const ExecPump&) = delete;
  ExecPump& operator=(const ExecPump&) = delete;

 private:
  OpsControl* control_;
};

namespace {

std::string Query(absl::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// One resource type the API server serves.
struct ApiResource {
  std::string name, kind, group, version;
  bool namespaced = true;
  std::vector<std::string> short_names, verbs;
  std::string Base(const std::string& ns) const {
    std::string prefix = group.empty() ? absl::StrCat("/api/", version) : absl::StrCat("/apis/", group, "/", version);
    return namespaced ? absl::StrCat(prefix, "/namespaces/", ns, "/", name) : absl::StrCat(prefix, "/", name);
  }
  std::string ApiVersion() const { return group.empty() ? version : absl::StrCat(group, "/", version); }
};

absl::StatusOr<std::vector<ApiResource>> DiscoverNow(const KubeClient& kube) {
  std::vector<ApiResource> out;
  auto add = [&](const json& list, const std::string& group, const std::string& version) {
    for (const auto& r : list.value("resources", json::array())) {
      std::string name = r.value("name", "");
      if (name.empty() || absl::StrContains(name, '/')) continue;  // subresources
      ApiResource a{name, r.value("kind", ""), group, version, r.value("namespaced", true), {}, {}};
      for (const auto& s : r.value("shortNames", json::array())) a.short_names.push_back(s.get<std::string>());
      for (const auto& v : r.value("verbs", json::array())) a.verbs.push_back(v.get<std::string>());
      out.push_back(std::move(a));
    }
  };
  auto core = kube.Call("GET", "/api/v1");
  if (!core.ok()) return core.status();
  add(*core, "", "v1");
  auto groups = kube.Call("GET", "/apis");
  if (!groups.ok()) return groups.status();
  for (const auto& g : groups->value("groups", json::array())) {
    const std::string name = g.value("name", "");
    const std::string version = g.contains("preferredVersion") ? g["preferredVersion"].value("version", "") : "";
    if (name.empty() || version.empty()) continue;
    auto list = kube.Call("GET", absl::StrCat("/apis/", name, "/", version));
    if (!list.ok()) {
      if (list.status().code() == absl::StatusCode::kNotFound) continue;  // a group going away
      return list.status();
    }
    add(*list, name, version);
  }
  return out;
}

// Discovery is cached per client for a little while: types change rarely,
// and a cluster with many groups costs a call per group.
absl::StatusOr<std::vector<ApiResource>> Discover(const KubeClient& kube) {
  struct Entry {
    absl::Time at;
    std::vector<ApiResource> resources;
  };
  static std::mutex mu;
  static std::map<uint64_t, Entry> cache;
  constexpr absl::Duration kFresh = absl::Seconds(30);
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(kube.id());
    if (it != cache.end() && absl::Now() - it->second.at < kFresh) return it->second.resources;
  }
  auto found = DiscoverNow(kube);
  if (!found.ok()) return found.status();
  std::lock_guard<std::mutex> lock(mu);
  for (auto it = cache.begin(); it != cache.end();) {
    it = absl::Now() - it->second.at >= kFresh ? cache.erase(it) : std::next(it);
  }
  cache[kube.id()] = Entry{absl::Now(), *found};
  return found;
}

absl::StatusOr<ApiResource> FindType(const std::vector<ApiResource>& all, const std::string& type) {
  const std::string want = absl::AsciiStrToLower(type);
  std::string name = want, group;
  bool qualified = false;
  if (auto dot = want.find('.'); dot != std::string::npos) {
    name = want.substr(0, dot);
    group = want.substr(dot + 1);
    qualified = true;
  }
  std::vector<const ApiResource*> found;
  for (const auto& r : all) {
    if (qualified && r.group != group) continue;
    bool match = r.name == name || absl::AsciiStrToLower(r.kind) == name ||
                 std::find(r.short_names.begin(), r.short_names.end(), name) != r.short_names.end();
    if (match) found.push_back(&r);
  }
  if (found.empty()) {
    return absl::NotFoundError(absl::StrCat("type: the server has no resource type \"", type,
                                            "\" (see the api-resources operation)"));
  }
  // The core group wins, as with kubectl (pods, not pods.metrics.k8s.io).
  std::stable_sort(found.begin(), found.end(), [](const ApiResource* a, const ApiResource* b) {
    return a->group.empty() && !b->group.empty();
  });
  return *found.front();
}

std::string KeyOf(const json& obj) {
  return absl::StrCat(obj.value("kind", "?"), "/", obj.contains("metadata") ? obj["metadata"].value("name", "") : "");
}

std::string LabelOf(const json& obj, const std::string& key) {
  const json* labels = obj.contains("metadata") && obj["metadata"].contains("labels") ? &obj["metadata"]["labels"] : nullptr;
  if (labels == nullptr || !labels->is_object() || !labels->contains(key) || !(*labels)[key].is_string()) return "";
  return (*labels)[key].get<std::string>();
}

bool SelectorMatches(const json& match_labels, const json& obj) {
  if (!match_labels.is_object() || match_labels.empty()) return false;
  for (const auto& [k, v] : match_labels.items()) {
    if (!v.is_string() || LabelOf(obj, k) != v.get<std::string>()) return false;
  }
  return true;
}

absl::StatusOr<std::vector<json>> ListItems(const KubeClient& kube, const std::string& path) {
  auto list = kube.Call("GET", path);
  if (!list.ok()) return list.status();
  std::vector<json> items;
  for (auto& item : (*list)["items"]) items.push_back(std::move(item));
  return items;
}

constexpr const char* kWorkloads[][2] = {{"apps/v1", "deployments"},
                                         {"apps/v1", "statefulsets"},
                                         {"apps/v1", "daemonsets"},
                                         {"batch/v1", "jobs"}};
constexpr const char* kWorkloadKinds[] = {"Deployment", "StatefulSet", "DaemonSet", "Job"};

// What one developer-mode scope covers in a namespace.
class ScopeView {
 public:
  // `full`: the workloads and pods even in admin mode (to name each pod's
  // workload); else an admin-mode view covers everything and reads nothing.
  static absl::StatusOr<ScopeView> Load(const KubeClient& kube, const std::string& ns, const OpsScope& scope,
                                        bool full = true) {
    ScopeView view;
    view.scope_ = scope;
    if (!scope.restricted && !full) return view;
    for (int i = 0; i < 4; ++i) {
      auto items = ListItems(kube, absl::StrCat("/apis/", kWorkloads[i][0], "/namespaces/", ns, "/", kWorkloads[i][1]));
      if (!items.ok()) return items.status();
      for (auto& w : *items) {
        w["kind"] = kWorkloadKinds[i];
        if (scope.restricted && !view.Named(w)) continue;
        view.workloads_.push_back(std::move(w));
      }
    }
    auto pods = ListItems(kube, absl::StrCat("/api/v1/namespaces/", ns, "/pods"));
    if (!pods.ok()) return pods.status();
    for (auto& p : *pods) {
      for (const auto& w : view.workloads_) {
        const json& sel = w.contains("spec") && w["spec"].contains("selector") ? w["spec"]["selector"] : json();
        if (sel.is_object() && SelectorMatches(sel.value("matchLabels", json::object()), p)) {
          p["kind"] = "Pod";
          view.pod_workload_[p["metadata"].value("name", "")] = KeyOf(w);
          view.pods_.push_back(std::move(p));
          break;
        }
      }
    }
    return view;
  }

  const std::vector<json>& pods() const { return pods_; }
  std::string WorkloadOf(const std::string& pod) const {
    auto it = pod_workload_.find(pod);
    return it == pod_workload_.end() ? "" : it->second;
  }
  bool HasPod(const std::string& pod) const { return pod_workload_.count(pod) > 0; }

  // Whether a developer may see or change this object.
  bool Covers(const json& obj) const {
    if (!scope_.restricted) return true;
    if (Named(obj)) return true;
    if (obj.value("kind", "") == "Pod" && HasPod(obj["metadata"].value("name", ""))) return true;
    // Owned by a workload in scope (a Deployment's ReplicaSets, a Job's pods).
    const json& meta = obj.value("metadata", json::object());
    for (const auto& ref : meta.value("ownerReferences", json::array())) {
      const std::string owner = absl::StrCat(ref.value("kind", ""), "/", ref.value("name", ""));
      for (const auto& w : workloads_) {
        if (KeyOf(w) == owner) return true;
      }
    }
    return false;
  }

  absl::Status Refuse(const std::string& what) const {
    return absl::PermissionDeniedError(absl::StrCat(
        what, " is outside this cloud resource's scope (what ", scope_.workload,
        " manages in its namespace); use admin mode (--connection) with a grant on the connection"));
  }

 private:
  bool Named(const json& obj) const {
    const std::string& w = scope_.workload;
    return (obj.contains("metadata") && obj["metadata"].value("name", "") == w) ||
           LabelOf(obj, "app.kubernetes.io/instance") == w || LabelOf(obj, "app") == w;
  }

  OpsScope scope_;
  std::vector<json> workloads_;
  std::vector<json> pods_;
  std::map<std::string, std::string> pod_workload_;
};

int64_t AgeSeconds(const json& obj) {
  const std::string created = obj.contains("metadata") ? obj["metadata"].value("creationTimestamp", "") : "";
  absl::Time t;
  std::string err;
  if (created.empty() || !absl::ParseTime(absl::RFC3339_full, created, &t, &err)) return 0;
  return std::max<int64_t>(0, absl::ToInt64Seconds(absl::Now() - t));
}

json PodSummary(const json& pod, const std::string& workload) {
  const json& spec = pod.value("spec", json::object());
  const json& status = pod.value("status", json::object());
  int ready = 0, total = 0, restarts = 0;
  json containers = json::array();
  for (const auto& c : spec.value("containers", json::array())) {
    containers.push_back(c.value("name", ""));
    ++total;
  }
  for (const auto& cs : status.value("containerStatuses", json::array())) {
    if (cs.value("ready", false)) ++ready;
    restarts += cs.value("restartCount", 0);
  }
  if (!status.contains("containerStatuses") && status.value("phase", "") == "Running") ready = total;
  return {{"name", pod["metadata"].value("name", "")},
          {"phase", status.value("phase", "Unknown")},
          {"ready", absl::StrCat(ready, "/", total)},
          {"restarts", restarts},
          {"node", spec.value("nodeName", "")},
          {"age_seconds", AgeSeconds(pod)},
          {"containers", containers},
          {"workload", workload}};
}

constexpr char kHidden[] = "(hidden)";

// Secret values become a marker (key names stay) unless the caller may
// see them; so does the last-applied annotation that would repeat them.
void MaskSecret(json& obj, bool reveal) {
  if (reveal || obj.value("kind", "") != "Secret") return;
  for (const char* field : {"data", "stringData"}) {
    if (obj.contains(field) && obj[field].is_object()) {
      for (auto& [k, v] : obj[field].items()) v = kHidden;
    }
  }
  if (obj.contains("metadata") && obj["metadata"].contains("annotations") && obj["metadata"]["annotations"].is_object()) {
    obj["metadata"]["annotations"].erase("kubectl.kubernetes.io/last-applied-configuration");
  }
}

// Logs of several pods, each on its own thread, lines whole and filtered.
absl::Status StreamLogs(const KubeClient& kube, const OpsRequest& req, const std::vector<std::string>& pods,
                        OpsSink* sink, OpsControl* control) {
  std::mutex out_mu;
  std::vector<absl::Status> results(pods.size());
  std::atomic<bool> stop{false};
  auto one = [&](size_t i) {
    std::string path = absl::StrCat("/api/v1/namespaces/", req.ns, "/pods/", pods[i], "/log?");
    std::vector<std::string> q;
    if (!req.container.empty()) q.push_back("container=" + Query(req.container));
    if (req.follow) q.push_back("follow=true");
    if (req.tail_lines >= 0) q.push_back(absl::StrCat("tailLines=", req.tail_lines));
    if (req.since_seconds > 0) q.push_back(absl::StrCat("sinceSeconds=", req.since_seconds));
    if (!req.since_time.empty()) q.push_back("sinceTime=" + Query(req.since_time));
    path += absl::StrJoin(q, "&");
    const std::string prefix = req.prefix ? absl::StrCat("[", pods[i], "] ") : "";
    std::string partial;
    auto emit = [&](absl::string_view line) {
      if (!req.filter.empty() && !absl::StrContains(line, req.filter)) return;
      std::string out = absl::StrCat(prefix, line, "\n");
      std::lock_guard<std::mutex> lock(out_mu);
      sink->Output(1, out);
    };
    results[i] = kube.Stream(
        path,
        [&](absl::string_view data) {
          if (control != nullptr && control->cancelled()) return false;
          if (prefix.empty() && req.filter.empty()) {  // nothing to do per line: pass it on as it came
            std::lock_guard<std::mutex> lock(out_mu);
            sink->Output(1, data);
            return true;
          }
          partial.append(data.data(), data.size());
          size_t start = 0;
          for (size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1) {
            emit(absl::string_view(partial).substr(start, nl - start));
          }
          partial.erase(0, start);
          return true;
        },
        &stop);
    if (!partial.empty()) emit(partial);
  };
  std::vector<std::thread> threads;
  for (size_t i = 0; i < pods.size(); ++i) threads.emplace_back(one, i);
  // The controller's cancel reaches every stream.
  std::thread watcher([&] {
    while (!stop.load()) {
      if (control != nullptr && control->cancelled()) stop.store(true);
      absl::SleepFor(absl::Milliseconds(50));
    }
  });
  for (auto& t : threads) t.join();
  stop.store(true);
  watcher.join();
  if (control != nullptr && control->cancelled()) return absl::CancelledError("the log stream was cancelled");
  for (size_t i = 0; i < pods.size(); ++i) {
    if (!results[i].ok()) {
      return absl::Status(results[i].code(), absl::StrCat("logs of pod ", pods[i], ": ", results[i].message()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<json> Exec(const KubeClient& kube, const OpsRequest& req, OpsSink* sink, OpsControl* control) {
  std::vector<std::string> q;
  for (const auto& arg : req.command) q.push_back("command=" + Query(arg));
  if (!req.container.empty()) q.push_back("container=" + Query(req.container));
  if (req.with_stdin) q.push_back("stdin=true");
  q.push_back("stdout=true");
  if (req.tty) {
    q.push_back("tty=true");
  } else {
    q.push_back("stderr=true");
  }
  const std::string path =
      absl::StrCat("/api/v1/namespaces/", req.ns, "/pods/", req.pods.front(), "/exec?", absl::StrJoin(q, "&"));
  auto session = kube.StartExec(path, [sink](int channel, absl::string_view data) { sink->Output(channel, data); });
  if (!session.ok()) return session.status();
  if (req.tty && req.width > 0 && req.height > 0) (*session)->Resize(req.width, req.height).IgnoreError();
  absl::StatusOr<int> code;
  {
    ExecPump pump(control, session->get());
    code = (*session)->Wait();
  }
  if (!code.ok()) return code.status();
  return json{{"exit_code", *code}};
}

absl::StatusOr<json> Describe(const KubeClient& kube, const OpsRequest& req, json obj) {
  auto events = ListItems(kube, absl::StrCat("/api/v1/namespaces/", req.ns, "/events"));
  if (!events.ok()) return events.status();
  json out = json::array();
  const std::string kind = obj.value("kind", ""), name = obj["metadata"].value("name", "");
  for (auto& e : *events) {
    const json& io = e.value("involvedObject", json::object());
    if (io.value("kind", "") != kind || io.value("name", "") != name) continue;
    out.push_back({{"type", e.value("type", "")},
                   {"reason", e.value("reason", "")},
                   {"message", e.value("message", "")},
                   {"count", e.value("count", 1)},
                   {"last_timestamp", e.value("lastTimestamp", e.value("eventTime", ""))}});
  }
  return json{{"object", std::move(obj)}, {"events", std::move(out)}};
}

// Kinds whose objects make up a namespace's graph.
constexpr const char* kGraphTypes[] = {"pods",       "services",   "configmaps", "secrets",     "persistentvolumeclaims",
                                       "serviceaccounts", "deployments", "replicasets", "statefulsets", "daemonsets",
                                       "jobs",       "cronjobs",   "ingresses",  "httproutes"};

}  // namespace

absl::StatusOr<json> RunOperation(const KubeClient& kube, const OpsRequest& req, OpsSink* sink, OpsControl* control) {
  const std::string& op = req.operation;
  const bool namespaced_op = op != "api-resources";
  if (namespaced_op && req.ns.empty()) return absl::InvalidArgumentError("namespace: required");
  if (op == "api-resources") {
    auto all = Discover(kube);
    if (!all.ok()) return all.status();
    json out = json::array();
    for (const auto& r : *all) {
      out.push_back({{"name", r.name}, {"kind", r.kind}, {"group", r.group}, {"version", r.version},
                     {"namespaced", r.namespaced}, {"short_names", r.short_names}});
    }
    return json{{"resources", out}};
  }
  if (op == "pods" || op == "logs" || op == "exec") {
    auto view = ScopeView::Load(kube, req.ns, req.scope);
    if (!view.ok()) return view.status();
    if (op == "pods") {
      json pods = json::array();
      if (req.scope.restricted) {
        for (const auto& p : view->pods()) pods.push_back(PodSummary(p, view->WorkloadOf(p["metadata"].value("name", ""))));
      } else {
        auto all = ListItems(kube, absl::StrCat("/api/v1/namespaces/", req.ns, "/pods"));
        if (!all.ok()) return all.status();
        for (const auto& p : *all) pods.push_back(PodSummary(p, view->WorkloadOf(p["metadata"].value("name", ""))));
      }
      return json{{"pods", pods}};
    }
    std::vector<std::string> pods = req.pods;
    if (pods.empty()) {
      for (const auto& p : view->pods()) pods.push_back(p["metadata"].value("name", ""));
      // exec without a pod: the resource's first running one, as
      // `kubectl exec deploy/NAME` picks one.
      if (op == "exec" && pods.size() > 1) {
        std::string chosen = pods.front();
        for (const auto& p : view->pods()) {
          if (p.value("status", json::object()).value("phase", "") == "Running") {
            chosen = p["metadata"].value("name", "");
            break;
          }
        }
        pods = {chosen};
      }
      if (pods.empty()) {
        return absl::NotFoundError(req.scope.restricted
                                       ? absl::StrCat("no pods: nothing ", req.scope.workload, " manages in namespace ",
                                                      req.ns, " has pods now")
                                       : absl::StrCat("pods: name at least one pod of namespace ", req.ns));
      }
    }
    if (req.scope.restricted) {
      for (const auto& p : pods) {
        if (!view->HasPod(p)) return view->Refuse(absl::StrCat("pod ", p));
      }
    }
    if (op == "exec") {
      if (pods.size() != 1) return absl::InvalidArgumentError("pods: exec runs in one pod; name it");
      if (req.command.empty()) return absl::InvalidArgumentError("command: required for exec");
      OpsRequest one = req;
      one.pods = pods;
      return Exec(kube, one, sink, control);
    }
    OpsRequest logs = req;
    logs.prefix = req.prefix || pods.size() > 1;
    absl::Status s = StreamLogs(kube, logs, pods, sink, control);
    if (!s.ok()) return s;
    return json{{"pods", pods}};
  }
  if (op == "list" || op == "get" || op == "describe" || op == "delete" || op == "apply" || op == "graph") {
    auto all = Discover(kube);
    if (!all.ok()) return all.status();
    auto view = ScopeView::Load(kube, req.ns, req.scope, /*full=*/false);
    if (!view.ok()) return view.status();
    if (op == "graph") {
      std::vector<json> objects;
      for (const char* type : kGraphTypes) {
        auto t = FindType(*all, type);
        if (!t.ok()) continue;  // e.g. no Gateway API on this cluster
        auto items = ListItems(kube, t->Base(req.ns));
        if (!items.ok()) return items.status();
        for (auto& o : *items) {
          o["kind"] = t->kind;
          if (view->Covers(o)) objects.push_back(std::move(o));
        }
      }
      json graph = NamespaceGraph(objects);
      graph["dot"] = GraphToDot(graph, req.ns);
      return graph;
    }
    std::string type = req.type;
    json body;
    if (op == "apply") {
      body = json::parse(req.object_json, nullptr, false);
      if (!body.is_object() || !body.contains("kind") || !body.contains("metadata") || !body["metadata"].is_object() ||
          body["metadata"].value("name", "").empty()) {
        return absl::InvalidArgumentError("object: a Kubernetes object with kind and metadata.name is required");
      }
      if (body["metadata"].value("resourceVersion", "").empty()) {
        return absl::InvalidArgumentError(
            "object.metadata.resourceVersion: required (the version it was read at), so an edit never overwrites "
            "a change it did not see");
      }
      const std::string ns = body["metadata"].value("namespace", req.ns);
      if (ns != req.ns) {
        return absl::PermissionDeniedError(absl::StrCat("object.metadata.namespace: ", ns, " is not the namespace of this request (", req.ns, ")"));
      }
      std::string api_version = body.value("apiVersion", "");
      const size_t slash = api_version.find('/');
      const std::string group = slash == std::string::npos ? "" : api_version.substr(0, slash);
      type = group.empty() ? body.value("kind", "") : absl::StrCat(body.value("kind", ""), ".", group);
    }
    if (type.empty()) return absl::InvalidArgumentError("type: required (a resource type such as pods or deployments)");
    auto t = FindType(*all, type);
    if (!t.ok()) return t.status();
    if (!t->namespaced) {
      return absl::InvalidArgumentError(absl::StrCat("type: ", t->name, " are not namespaced; Cloud Ops works in a namespace"));
    }
    const std::string base = t->Base(req.ns);
    if (op == "list") {
      auto items = ListItems(kube, base);
      if (!items.ok()) return items.status();
      json out = json::array();
      for (auto& o : *items) {
        o["kind"] = t->kind;
        o["apiVersion"] = t->ApiVersion();
        if (!view->Covers(o)) continue;
        MaskSecret(o, req.reveal_sensitive);
        out.push_back(std::move(o));
      }
      return json{{"kind", t->kind}, {"items", out}};
    }
    const std::string name = op == "apply" ? body["metadata"].value("name", "") : req.name;
    if (name.empty()) return absl::InvalidArgumentError("name: required");
    auto current = kube.Call("GET", absl::StrCat(base, "/", name));
    if (!current.ok()) return current.status();
    (*current)["kind"] = t->kind;
    (*current)["apiVersion"] = t->ApiVersion();
    if (!view->Covers(*current)) return view->Refuse(absl::StrCat(t->kind, " ", name));
    if (op == "get") {
      MaskSecret(*current, req.reveal_sensitive);
      return json{{"object", *current}};
    }
    if (op == "describe") {
      MaskSecret(*current, req.reveal_sensitive);
      return Describe(kube, req, *current);
    }
    if (op == "delete") {
      auto gone = kube.Call("DELETE", absl::StrCat(base, "/", name));
      if (!gone.ok()) return gone.status();
      return json{{"deleted", absl::StrCat(t->kind, "/", name)}};
    }
    // apply: what the caller saw of a Secret's values (the marker) keeps the
    // value it stands for; the API server refuses a stale resourceVersion.
    if (t->kind == "Secret") {
      for (const char* field : {"data", "stringData"}) {
        if (!body.contains(field) || !body[field].is_object()) continue;
        for (auto& [k, v] : body[field].items()) {
          if (v == kHidden) {
            if (!current->contains(field) || !(*current)[field].contains(k)) {
              return absl::InvalidArgumentError(absl::StrCat("object.", field, ".", k, ": ", kHidden, " stands for no value"));
            }
            v = (*current)[field][k];
          }
        }
      }
    }
    body["metadata"]["namespace"] = req.ns;
    auto updated = kube.Call("PUT", absl::StrCat(base, "/", name), &body);
    if (!updated.ok()) {
      if (updated.status().code() == absl::StatusCode::kAborted) {
        return absl::AbortedError(absl::StrCat(t->kind, " ", name, " changed since it was read (resourceVersion ",
                                               body["metadata"].value("resourceVersion", ""), "): read it again and redo the edit; ",
                                               updated.status().message()));
      }
      return updated.status();
    }
    (*updated)["kind"] = t->kind;
    (*updated)["apiVersion"] = t->ApiVersion();
    MaskSecret(*updated, req.reveal_sensitive);
    return json{{"object", *updated}};
  }
  return absl::InvalidArgumentError(absl::StrCat("operation: unknown \"", op,
                                                 "\" (pods, logs, exec, api-resources, list, get, describe, apply, "
                                                 "delete, graph)"));
}

json NamespaceGraph(const std::vector<json>& objects) {
  json nodes = json::array(), edges = json::array();
  std::set<std::string> keys;
  for (const auto& o : objects) keys.insert(KeyOf(o));
  std::set<std::tuple<std::string, std::string, std::string>> seen;
  auto edge = [&](const std::string& from, const std::string& to, const char* type) {
    if (!keys.count(from) || !keys.count(to) || !seen.insert({from, to, type}).second) return;
    edges.push_back({{"from", from}, {"to", to}, {"type", type}});
  };
  for (const auto& o : objects) {
    const json& meta = o.value("metadata", json::object());
    nodes.push_back({{"id", KeyOf(o)}, {"kind", o.value("kind", "")}, {"name", meta.value("name", "")}});
  }
  for (const auto& o : objects) {
    const std::string key = KeyOf(o);
    const std::string kind = o.value("kind", "");
    const json& meta = o.value("metadata", json::object());
    const json& spec = o.value("spec", json::object());
    for (const auto& ref : meta.value("ownerReferences", json::array())) {
      edge(absl::StrCat(ref.value("kind", ""), "/", ref.value("name", "")), key, "owns");
    }
    if (kind == "Service" && spec.contains("selector")) {
      for (const auto& p : objects) {
        if (p.value("kind", "") == "Pod" && SelectorMatches(spec["selector"], p)) edge(key, KeyOf(p), "selects");
      }
    }
    if (kind == "Ingress") {
      auto backend = [&](const json& b) {
        if (b.contains("service")) edge(key, absl::StrCat("Service/", b["service"].value("name", "")), "routes");
      };
      if (spec.contains("defaultBackend")) backend(spec["defaultBackend"]);
      for (const auto& rule : spec.value("rules", json::array())) {
        if (!rule.contains("http")) continue;
        for (const auto& path : rule["http"].value("paths", json::array())) backend(path.value("backend", json::object()));
      }
    }
    if (kind == "HTTPRoute") {
      for (const auto& rule : spec.value("rules", json::array())) {
        for (const auto& b : rule.value("backendRefs", json::array())) {
          if (b.value("kind", "Service") == "Service") edge(key, absl::StrCat("Service/", b.value("name", "")), "routes");
        }
      }
    }
    // A pod's volumes and env sources; a workload's pod template the same.
    const json* pod_spec = nullptr;
    if (kind == "Pod") {
      pod_spec = &spec;
    } else if (spec.contains("template") && spec["template"].contains("spec")) {
      pod_spec = &spec["template"]["spec"];
    } else if (kind == "CronJob" && spec.contains("jobTemplate")) {
      const json& jt = spec["jobTemplate"];
      if (jt.contains("spec") && jt["spec"].contains("template") && jt["spec"]["template"].contains("spec")) {
        pod_spec = &jt["spec"]["template"]["spec"];
      }
    }
    if (pod_spec != nullptr) {
      for (const auto& v : pod_spec->value("volumes", json::array())) {
        if (v.contains("configMap")) edge(key, absl::StrCat("ConfigMap/", v["configMap"].value("name", "")), "mounts");
        if (v.contains("secret")) edge(key, absl::StrCat("Secret/", v["secret"].value("secretName", "")), "mounts");
        if (v.contains("persistentVolumeClaim")) {
          edge(key, absl::StrCat("PersistentVolumeClaim/", v["persistentVolumeClaim"].value("claimName", "")), "mounts");
        }
      }
      for (const char* list : {"containers", "initContainers"}) {
        for (const auto& c : pod_spec->value(list, json::array())) {
          for (const auto& from : c.value("envFrom", json::array())) {
            if (from.contains("configMapRef")) edge(key, absl::StrCat("ConfigMap/", from["configMapRef"].value("name", "")), "mounts");
            if (from.contains("secretRef")) edge(key, absl::StrCat("Secret/", from["secretRef"].value("name", "")), "mounts");
          }
        }
      }
      const std::string sa = pod_spec->value("serviceAccountName", "");
      if (!sa.empty()) edge(key, absl::StrCat("ServiceAccount/", sa), "uses");
    }
  }
  return json{{"nodes", nodes}, {"edges", edges}};
}

std::string GraphToDot(const json& graph, const std::string& ns) {
  auto quote = [](const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    return out + "\"";
  };
  std::string dot = absl::StrCat("digraph ", quote(ns), " {\n  rankdir=LR;\n  node [shape=box];\n");
  for (const auto& n : graph.value("nodes", json::array())) {
    absl::StrAppend(&dot, "  ", quote(n.value("id", "")), ";\n");
  }
  for (const auto& e : graph.value("edges", json::array())) {
    absl::StrAppend(&dot, "  ", quote(e.value("from", "")), " -> ", quote(e.value("to", "")), " [label=",
                    quote(e.value("type", "")), "];\n");
  }
  return dot + "}\n";
}

}  // namespace plinth::cloudops
