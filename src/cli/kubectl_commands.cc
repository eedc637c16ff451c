#include "kubectl_commands.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "output.h"
#include "plinth/manifest/yaml.h"
#include "plinth/v1/cloud_ops.grpc.pb.h"

namespace plinth::cli {
namespace {

namespace pb = plinth::v1;
using nlohmann::json;

pb::CloudOpsTarget TargetOf(const KubectlArgs& a) {
  pb::CloudOpsTarget t;
  t.set_resource(a.resource);
  t.set_org(a.org);
  t.set_env(a.env);
  t.set_connection(a.connection);
  t.set_namespace_(a.ns);
  return t;
}

// A context without a deadline (logs -f and exec last as long as they do).
std::unique_ptr<grpc::ClientContext> StreamContext(const ClientOptions& opts) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!opts.token.empty()) ctx->AddMetadata("authorization", "Bearer " + opts.token);
  return ctx;
}

void Route(const pb::CloudOpsRoute& r) {
  std::cerr << "# " << r.mode() << " mode: connection " << r.connection() << ", namespace " << r.namespace_()
            << ", runner " << r.runner() << " (pool " << r.pool() << ")\n";
}

std::string Age(int64_t seconds) {
  if (seconds < 120) return absl::StrCat(seconds, "s");
  if (seconds < 7200) return absl::StrCat(seconds / 60, "m");
  if (seconds < 172800) return absl::StrCat(seconds / 3600, "h");
  return absl::StrCat(seconds / 86400, "d");
}

int64_t AgeOf(const json& obj) {
  std::string created = obj.contains("metadata") ? obj["metadata"].value("creationTimestamp", "") : "";
  absl::Time t;
  std::string err;
  if (created.empty() || !absl::ParseTime(absl::RFC3339_full, created, &t, &err)) return 0;
  return std::max<int64_t>(0, absl::ToInt64Seconds(absl::Now() - t));
}

bool ParseSince(const std::string& s, int64_t* seconds) {
  if (s.empty()) return true;
  char unit = s.back();
  int64_t n = 0;
  int64_t scale = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : 0;
  if (scale == 0 || !absl::SimpleAtoi(s.substr(0, s.size() - 1), &n) || n <= 0) return false;
  *seconds = n * scale;
  return true;
}

void PrintObject(const json& obj, const std::string& output) {
  if (output == "json") {
    std::cout << obj.dump(2) << "\n";
  } else {
    std::cout << manifest::JsonToYaml(obj);
  }
}

int Pods(const Client& client, const ClientOptions& opts, const KubectlArgs& a) {
  auto stub = pb::CloudOpsService::NewStub(client.channel());
  pb::ListPodsRequest req;
  *req.mutable_target() = TargetOf(a);
  pb::ListPodsResponse resp;
  auto ctx = client.Context();
  grpc::Status s = stub->ListPods(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  Route(resp.route());
  std::vector<std::vector<std::string>> rows = {{"NAME", "READY", "STATUS", "RESTARTS", "AGE", "NODE", "CONTAINERS", "WORKLOAD"}};
  for (const auto& p : resp.pods()) {
    std::string containers;
    for (const auto& c : p.containers()) containers += (containers.empty() ? "" : ",") + c;
    rows.push_back({p.name(), p.ready(), p.phase(), std::to_string(p.restarts()), Age(p.age_seconds()), p.node(),
                    containers, p.workload()});
  }
  PrintTable(std::cout, rows);
  return 0;
}

int Logs(const Client& client, const ClientOptions& opts, const KubectlArgs& a) {
  auto stub = pb::CloudOpsService::NewStub(client.channel());
  pb::StreamLogsRequest req;
  *req.mutable_target() = TargetOf(a);
  for (const auto& p : a.pods) req.add_pods(p);
  req.set_container(a.container);
  req.set_follow(a.follow);
  if (a.tail >= 0) {
    req.set_tail_lines(a.tail);
    req.set_tail_lines_set(true);
  }
  int64_t since = 0;
  if (!ParseSince(a.since, &since)) {
    std::cerr << "error: --since: expected a duration such as 30s, 5m or 2h\n";
    return 2;
  }
  req.set_since_seconds(since);
  req.set_since_time(a.since_time);
  req.set_filter(a.grep);
  auto ctx = a.follow ? StreamContext(opts) : client.Context();
  auto reader = stub->StreamLogs(ctx.get(), req);
  pb::LogChunk chunk;
  while (reader->Read(&chunk)) {
    std::cout.write(chunk.data().data(), static_cast<std::streamsize>(chunk.data().size()));
    std::cout.flush();
  }
  grpc::Status s = reader->Finish();
  if (!s.ok()) return Fail(s, opts.server);
  return 0;
}

// The terminal in raw mode for as long as it lives (exec -t).
class RawTerminal {
 public:
  RawTerminal() {
    if (!isatty(0) || tcgetattr(0, &saved_) != 0) return;
    termios raw = saved_;
    cfmakeraw(&raw);
    if (tcsetattr(0, TCSANOW, &raw) == 0) active_ = true;
  }
  ~RawTerminal() {
    if (active_) tcsetattr(0, TCSANOW, &saved_);
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  termios saved_{};
  bool active_ = false;
};

bool TerminalSize(int* width, int* height) {
  winsize ws{};
  if (ioctl(1, TIOCGWINSZ, &ws) != 0 || ws.ws_col == 0) return false;
  *width = ws.ws_col;
  *height = ws.ws_row;
  return true;
}

int Exec(const Client& client, const ClientOptions& opts, const KubectlArgs& a) {
  if (a.command.empty()) {
    std::cerr << "error: the command to run goes after --, e.g. plinth kubectl exec -it -r ... -- sh\n";
    return 2;
  }
  auto stub = pb::CloudOpsService::NewStub(client.channel());
  auto ctx = StreamContext(opts);
  auto stream = stub->Exec(ctx.get());
  pb::ExecRequest start;
  pb::ExecStart* st = start.mutable_start();
  *st->mutable_target() = TargetOf(a);
  if (!a.pods.empty()) st->set_pod(a.pods.front());
  st->set_container(a.container);
  for (const auto& c : a.command) st->add_command(c);
  st->set_tty(a.tty);
  st->set_stdin(a.interactive);
  int width = 0, height = 0;
  if (a.tty && TerminalSize(&width, &height)) {
    st->mutable_size()->set_width(width);
    st->mutable_size()->set_height(height);
  }
  std::mutex write_mu;
  if (!stream->Write(start)) return Fail(stream->Finish(), opts.server);
  std::unique_ptr<RawTerminal> raw;
  if (a.tty && a.interactive) raw = std::make_unique<RawTerminal>();
  std::atomic<bool> done{false};
  std::thread input;
  if (a.interactive) {
    input = std::thread([&] {
      char buf[16384];
      int last_w = width, last_h = height;
      while (!done.load()) {
        pollfd p{0, POLLIN, 0};
        int rc = poll(&p, 1, 200);
        if (a.tty) {
          int w = 0, h = 0;
          if (TerminalSize(&w, &h) && (w != last_w || h != last_h)) {
            last_w = w;
            last_h = h;
            pb::ExecRequest resize;
            resize.mutable_resize()->set_width(w);
            resize.mutable_resize()->set_height(h);
            std::lock_guard<std::mutex> lock(write_mu);
            stream->Write(resize);
          }
        }
        if (rc <= 0) continue;
        ssize_t n = read(0, buf, sizeof buf);
        std::lock_guard<std::mutex> lock(write_mu);
        if (n <= 0) {
          pb::ExecRequest close;
          close.set_close_stdin(true);
          stream->Write(close);
          stream->WritesDone();
          return;
        }
        pb::ExecRequest in;
        in.set_stdin(std::string(buf, static_cast<size_t>(n)));
        if (!stream->Write(in)) return;
      }
    });
  } else {
    std::lock_guard<std::mutex> lock(write_mu);
    stream->WritesDone();
  }
  pb::ExecResponse out;
  int exit_code = -1;
  while (stream->Read(&out)) {
    if (!out.stdout().empty()) {
      fwrite(out.stdout().data(), 1, out.stdout().size(), stdout);
      fflush(stdout);
    }
    if (!out.stderr().empty()) {
      fwrite(out.stderr().data(), 1, out.stderr().size(), stderr);
      fflush(stderr);
    }
    if (out.exited()) exit_code = out.exit_code();
  }
  done.store(true);
  grpc::Status s = stream->Finish();
  if (input.joinable()) input.join();
  raw.reset();
  if (!s.ok()) return Fail(s, opts.server);
  return exit_code < 0 ? 1 : exit_code;
}

int ApiResources(const Client& client, const ClientOptions& opts, const KubectlArgs& a) {
  auto stub = pb::CloudOpsService::NewStub(client.channel());
  pb::ListApiResourcesRequest req;
  *req.mutable_target() = TargetOf(a);
  pb::ListApiResourcesResponse resp;
  auto ctx = client.Context();
  grpc::Status s = stub->ListApiResources(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  std::vector<std::vector<std::string>> rows = {{"NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"}};
  for (const auto& r : resp.resources()) {
    std::string shorts;
    for (const auto& n : r.short_names()) shorts += (shorts.empty() ? "" : ",") + n;
    rows.push_back({r.name(), shorts, r.group().empty() ? r.version() : r.group() + "/" + r.version(),
                    r.namespaced() ? "true" : "false", r.kind()});
  }
  PrintTable(std::cout, rows);
  return 0;
}

int Get(const Client& client, const ClientOptions& opts, const KubectlArgs& a) {
  auto stub = pb::CloudOpsService::NewStub(client.channel());
  if (a.name.empty()) {
    pb::ListObjectsRequest req;
    *req.mutable_target() = TargetOf(a);
    req.set_type(a.type);
    pb::ListObjectsResponse resp;
    auto ctx = client.Context();
    grpc::Status s = stub->ListObjects(ctx.get(), req, &resp);
    if (!s.ok()) return Fail(s, opts.server);
    if (a.output == "yaml" || a.output == "json") {
      json list = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", json::array()}};
      for (const auto& o : resp.objects_json()) list["items"].push_back(json::parse(o, nullptr, false));
      PrintObject(list, a.output);
      return 0;
    }
    std::vector<std::vector<std::string>> rows = {{"NAME", "AGE"}};
    for (const auto& o : resp.objects_json()) {
      json obj = json::parse(o, nullptr, false);
      rows.push_back({obj["metadata"].value("name", ""), Age(AgeOf(obj))});
    }
    if (rows.size() == 1) {
      std::cerr << "No " << resp.kind() << " objects in namespace " << resp.route().namespace_() << ".\n";
      return 0;
    }
    PrintTable(std::cout, rows);
    return 0;
  }
  pb::GetObjectRequest req;
  *req.mutable_target() = TargetOf(a);
  req.set_type(a.type);
  req.set_name(a.name);
  pb::KubeObject resp;
  auto ctx = client.Context();
  grpc::Status s = stub->GetObject(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  json obj = json::parse(resp.object_json(), nullptr, false);
  if (a.output == "yaml" || a.output == "json") {
    PrintObject(obj, a.output);
  } else {
    PrintTable(std::cout, {{"NAME", "AGE"}, {obj["metadata"].value("name", ""), Age(AgeOf(obj))}});
  }
  return 0;
}

int Describe(const Client& client, const ClientOptions& opts, const KubectlArgs& a) {
  auto stub = pb::CloudOpsService::NewStub(client.channel());
  pb::GetObjectRequest req;
  *req.mutable_target() = TargetOf(a);
  req.set_type(a.type);
  req.set_name(a.name);
  pb::DescribeObjectResponse resp;
  auto ctx = client.Context();
  grpc::Status s = stub->DescribeObject(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  std::cout << manifest::JsonToYaml(json::parse(resp.object_json(), nullptr, false));
  std::cout << "Events:\n";
  if (resp.events().empty()) {
    std::cout << "  <none>\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {{"  TYPE", "REASON", "COUNT", "LAST SEEN", "MESSAGE"}};
  for (const auto& e : resp.events()) {
    rows.push_back({"  " + e.type(), e.reason(), std::to_string(e.count()), e.last_timestamp(), e.message()});
  }
  PrintTable(std::cout, rows);
  return 0;
}

int Edit(const Client& client, const ClientOptions& opts, const KubectlArgs& a) {
  auto stub = pb::CloudOpsService::NewStub(client.channel());
  pb::GetObjectRequest get;
  *get.mutable_target() = TargetOf(a);
  get.set_type(a.type);
  get.set_name(a.name);
  pb::KubeObject current;
  {
    auto ctx = client.Context();
    grpc::Status s = stub->GetObject(ctx.get(), get, &current);
    if (!s.ok()) return Fail(s, opts.server);
  }
  json obj = json::parse(current.object_json(), nullptr, false);
  const std::string original = manifest::JsonToYaml(obj);
  std::string dir_template = (std::filesystem::temp_directory_path() / "plinth-edit-XXXXXX").string();
  if (mkdtemp(dir_template.data()) == nullptr) {
    std::cerr << "error: cannot make a temporary directory for the edit\n";
    return 1;
  }
  const std::string file = dir_template + "/" + a.type + "-" + a.name + ".yaml";
  {
    std::ofstream out(file);
    out << "# Edit and save; the change is applied at resourceVersion " << current.resource_version()
        << ".\n# Someone else's change since then is refused, never overwritten. Empty file: no change.\n"
        << original;
  }
  const char* editor = std::getenv("KUBE_EDITOR");
  if (editor == nullptr || *editor == '\0') editor = std::getenv("EDITOR");
  if (editor == nullptr || *editor == '\0') editor = "vi";
  const std::string cmd = std::string(editor) + " '" + file + "'";
  int rc = std::system(cmd.c_str());
  std::stringstream edited;
  edited << std::ifstream(file).rdbuf();
  std::filesystem::remove_all(dir_template);
  if (rc != 0) {
    std::cerr << "error: the editor (" << editor << ") exited with status " << rc << "; nothing applied\n";
    return 1;
  }
  auto docs = manifest::ParseYamlDocuments(edited.str(), file);
  if (!docs.ok()) {
    std::cerr << "error: " << docs.status().message() << "; nothing applied\n";
    return 1;
  }
  if (docs->empty() || docs->front().value.is_null()) {
    std::cerr << "Edit cancelled, no changes made.\n";
    return 0;
  }
  json changed = docs->front().value;
  if (changed == obj) {
    std::cerr << "Edit cancelled, no changes made.\n";
    return 0;
  }
  pb::ApplyObjectRequest apply;
  *apply.mutable_target() = TargetOf(a);
  apply.set_object_json(changed.dump());
  pb::KubeObject applied;
  auto ctx = client.Context();
  grpc::Status s = stub->ApplyObject(ctx.get(), apply, &applied);
  if (!s.ok()) return Fail(s, opts.server);
  std::cout << a.type << "/" << a.name << " edited (resourceVersion " << applied.resource_version() << ")\n";
  return 0;
}

int Delete(const Client& client, const ClientOptions& opts, const KubectlArgs& a) {
  if (!a.yes) {
    std::cerr << "error: deleting " << a.type << "/" << a.name << " needs --yes (it is not undone)\n";
    return 2;
  }
  auto stub = pb::CloudOpsService::NewStub(client.channel());
  pb::DeleteObjectRequest req;
  *req.mutable_target() = TargetOf(a);
  req.set_type(a.type);
  req.set_name(a.name);
  req.set_confirm(true);
  pb::DeleteObjectResponse resp;
  auto ctx = client.Context();
  grpc::Status s = stub->DeleteObject(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  std::cout << resp.deleted() << " deleted\n";
  return 0;
}

int Graph(const Client& client, const ClientOptions& opts, const KubectlArgs& a) {
  auto stub = pb::CloudOpsService::NewStub(client.channel());
  pb::GetNamespaceGraphRequest req;
  *req.mutable_target() = TargetOf(a);
  pb::NamespaceGraph resp;
  auto ctx = client.Context();
  grpc::Status s = stub->GetNamespaceGraph(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  if (a.output == "dot") {
    std::cout << resp.dot();
    return 0;
  }
  if (a.output == "json") {
    std::cout << json::parse(resp.graph_json(), nullptr, false).dump(2) << "\n";
    return 0;
  }
  json g = json::parse(resp.graph_json(), nullptr, false);
  std::vector<std::vector<std::string>> rows = {{"FROM", "RELATION", "TO"}};
  for (const auto& e : g.value("edges", json::array())) {
    rows.push_back({e.value("from", ""), e.value("type", ""), e.value("to", "")});
  }
  std::cout << g.value("nodes", json::array()).size() << " objects, " << rows.size() - 1 << " relations\n";
  PrintTable(std::cout, rows);
  return 0;
}

int Audit(const Client& client, const ClientOptions& opts, const KubectlArgs& a) {
  auto stub = pb::CloudOpsService::NewStub(client.channel());
  pb::ListCloudOpsAuditRequest req;
  const int limit = a.tail > 0 ? a.tail : 20;
  req.set_page_size(limit);
  pb::ListCloudOpsAuditResponse resp;
  auto ctx = client.Context();
  grpc::Status s = stub->ListCloudOpsAudit(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  std::vector<std::vector<std::string>> rows = {{"TIME", "ACTOR", "MODE", "TARGET", "NAMESPACE", "OPERATION", "OBJECT",
                                                 "RUNNER", "OUTCOME"}};
  for (const auto& e : resp.entries()) {
    rows.push_back({FormatTime(e.time()), e.actor(), e.mode(), e.target(), e.namespace_(), e.operation(), e.object(),
                    e.runner(), e.code()});
  }
  PrintTable(std::cout, rows);
  return 0;
}

}  // namespace

void AddKubectlCommands(CLI::App& app, const ClientOptions& opts, KubectlArgs& a, int& rc) {
  auto* k = app.add_subcommand("kubectl", "Cloud Ops: pods, logs, exec, browse, edit, delete, graph, through a runner");
  k->alias("ops");
  k->require_subcommand(1);
  auto target = [&a](CLI::App* cmd) {
    cmd->add_option("-r,--resource", a.resource, "developer mode: a cloud resource ORG/ENV/KIND/NAME");
    cmd->add_option("--org", a.org, "admin mode: the org");
    cmd->add_option("--env", a.env, "admin mode: the env (its default kubernetes connection)");
    cmd->add_option("--connection", a.connection, "admin mode: a kubernetes connection of the org");
    cmd->add_option("-n,--namespace", a.ns, "admin mode: the namespace");
  };
  auto run = [&](int (*fn)(const Client&, const ClientOptions&, const KubectlArgs&)) {
    return [&, fn] { rc = fn(Client(opts), opts, a); };
  };
  auto* pods = k->add_subcommand("pods", "the pods of the resource's workload (or of the namespace)");
  target(pods);
  pods->callback(run(Pods));
  auto* logs = k->add_subcommand("logs", "pod logs: several pods at once are prefixed with their name");
  target(logs);
  logs->add_option("pods", a.pods, "pods (default: every pod of the resource)");
  logs->add_option("-c,--container", a.container, "the container");
  logs->add_flag("-f,--follow", a.follow, "keep streaming; Ctrl-C stops it on the runner too");
  logs->add_option("--tail", a.tail, "the last N lines");
  logs->add_option("--since", a.since, "newer than a duration: 30s, 5m, 2h");
  logs->add_option("--since-time", a.since_time, "newer than an RFC 3339 time");
  logs->add_option("--grep", a.grep, "only lines containing this text (filtered on the runner)");
  logs->callback(run(Logs));
  auto* exec = k->add_subcommand("exec", "run a command in a container; -it for an interactive shell");
  target(exec);
  exec->add_flag("-i,--stdin", a.interactive, "send stdin");
  exec->add_flag("-t,--tty", a.tty, "a terminal (raw mode, resize)");
  exec->add_option("-c,--container", a.container, "the container");
  exec->add_option("--pod", a.pods, "the pod (default: the resource's first pod)")->expected(1);
  exec->add_option("command", a.command, "the command, after --")->required();
  exec->callback(run(Exec));
  auto* api = k->add_subcommand("api-resources", "the resource types the cluster serves");
  target(api);
  api->callback(run(ApiResources));
  auto* get = k->add_subcommand("get", "list a type, or get one object (-o yaml|json)");
  target(get);
  get->add_option("type", a.type, "pods, deployments, configmaps, ...")->required();
  get->add_option("name", a.name, "one object");
  get->add_option("-o,--output", a.output, "yaml or json")->check(CLI::IsMember({"yaml", "json", "table"}));
  get->callback(run(Get));
  auto* describe = k->add_subcommand("describe", "an object with its events");
  target(describe);
  describe->add_option("type", a.type, "the type")->required();
  describe->add_option("name", a.name, "the object")->required();
  describe->callback(run(Describe));
  auto* edit = k->add_subcommand("edit", "edit an object in $EDITOR; applied at the version read");
  target(edit);
  edit->add_option("type", a.type, "the type")->required();
  edit->add_option("name", a.name, "the object")->required();
  edit->callback(run(Edit));
  auto* del = k->add_subcommand("delete", "delete an object (needs --yes)");
  target(del);
  del->add_option("type", a.type, "the type")->required();
  del->add_option("name", a.name, "the object")->required();
  del->add_flag("--yes", a.yes, "really delete it");
  del->callback(run(Delete));
  auto* graph = k->add_subcommand("graph", "the namespace's objects and how they relate (-o json|dot)");
  target(graph);
  graph->add_option("-o,--output", a.output, "json or dot")->check(CLI::IsMember({"json", "dot", "table"}));
  graph->callback(run(Graph));
  auto* audit = k->add_subcommand("audit", "the latest Cloud Ops operations: who, mode, target, outcome");
  audit->add_option("--tail", a.tail, "how many (default 20)");
  audit->callback(run(Audit));
}

}  // namespace plinth::cli
