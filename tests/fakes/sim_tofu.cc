// plinth-sim-tofu: a SIMULATED OpenTofu/Terraform for tests and the demo. It
// speaks the real CLI contract plinth uses (subcommands, flags, exit codes,
// `-json` UI messages, `show -json` plans, `output -json`) and keeps a real
// state file, but creates no infrastructure.
//
// The "module" is the working directory: *.auto.tfvars.json gives the
// variables `metadata` and `spec` (as OpenMCF modules take them) and
// backend.tf.json names the local state file. Optional plinth-sim.json in the
// module maps kinds to outputs: {"KubernetesNamespace": {"namespace": "{name}"}}
// with {name}, {kind}, {env}, {org} and {spec.<field>} filled in; the kind
// comes from $PLINTH_KIND, which plinth sets for every step.
//
// A remote backend (s3, gcs, azurerm: an empty block in backend.tf.json with
// `init -backend-config=k=v`) is simulated in a local directory: the bucket
// (s3, gcs) or storage_account_name (azurerm) must be an absolute path, and
// the state lives at <bucket>/<key> (or <bucket>/<prefix>/default.tfstate).
// Like the real engine, init saves the backend settings in $TF_DATA_DIR.
//
// The `http` backend (address, lock_address, unlock_address, username,
// password) is spoken for real, over plain HTTP as Terraform does: plan,
// apply and refresh LOCK the state (lock info JSON; 409/423 fail with
// "Error acquiring the state lock" and the holder), GET it (200, or 204/404
// for none), apply POSTs it with ?ID=<lock id>, and UNLOCK at the end.
//
// Faults, asked for through metadata.annotations (module variables):
//   sim.plinth.dev/fail-at: init|plan|apply|output   exit 1 with an error diagnostic
//   sim.plinth.dev/sleep-seconds: N                   sleep before plan and apply
//   sim.plinth.dev/ignore-sigint: "true"              ignore the first SIGINT
//   sim.plinth.dev/huge-line-bytes: N                 print one N-byte line
//   sim.plinth.dev/print-env: NAME                    print the value of $NAME
//   sim.plinth.dev/print-spec: "true"                 print the spec variable at plan
//   sim.plinth.dev/not-json: "true"                   print garbage instead of JSON
//   sim.plinth.dev/sensitive-output: NAME             mark output NAME sensitive
//   sim.plinth.dev/recorded-plan: FILE                plan as the recorded `show -json`
//        document FILE says (replaces, moves, imports, output changes ...):
//        plan and apply print its changes and change_summary as OpenTofu
//        does (a replace counts one add and one destroy), show prints FILE
//        itself; the simulated resource is left as it is
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "nlohmann/json.hpp"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const char* kVersion = "1.9.0-sim";
const char* kAddress = "plinth_sim_resource.this";
volatile sig_atomic_t g_sigints = 0;

std::string Now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

void Ui(const std::string& type, const std::string& message, json extra = json::object(),
        const std::string& level = "info") {
  extra["@level"] = level;
  extra["@message"] = message;
  extra["@module"] = "tofu.ui";
  extra["@timestamp"] = Now();
  extra["type"] = type;
  std::cout << extra.dump() << "\n" << std::flush;
}

json ReadJson(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return nullptr;
  return json::parse(in, nullptr, false);
}

struct Module {
  std::string kind;  // from PLINTH_KIND, which plinth sets for every step
  json metadata = json::object();
  json spec = json::object();
  fs::path state_path = "terraform.tfstate";
  json http;  // the http backend's settings, when it is the backend
  json outputs_map = json::object();
  std::string Annotation(const std::string& key) const {
    if (metadata.contains("annotations") && metadata["annotations"].is_object() &&
        metadata["annotations"].contains("sim.plinth.dev/" + key)) {
      return metadata["annotations"]["sim.plinth.dev/" + key].get<std::string>();
    }
    return "";
  }
};

Module Load() {
  Module m;
  if (const char* k = std::getenv("PLINTH_KIND")) m.kind = k;
  for (const auto& entry : fs::directory_iterator(".")) {
    std::string name = entry.path().filename().string();
    if (name.find(".auto.tfvars.json") != std::string::npos) {
      json vars = ReadJson(entry.path());
      if (vars.is_object()) {
        if (vars.contains("metadata")) m.metadata = vars["metadata"];
        if (vars.contains("spec")) m.spec = vars["spec"];
      }
    }
  }
  json backend = ReadJson("backend.tf.json");
  if (backend.is_object()) {
    auto local = backend["terraform"]["backend"]["local"];
    if (local.is_object() && local.contains("path")) m.state_path = local["path"].get<std::string>();
  }
  const char* data_dir = std::getenv("TF_DATA_DIR");
  json remote = ReadJson(fs::path(data_dir ? data_dir : ".terraform") / "sim-backend.json");
  if (remote.is_object() && remote.contains("type")) {
    json c = remote["config"];
    std::string type = remote["type"];
    std::string root = c.value(type == "azurerm" ? "storage_account_name" : "bucket", "");
    fs::path key = type == "gcs" ? fs::path(c.value("prefix", "")) / "default.tfstate" : fs::path(c.value("key", ""));
    m.state_path = fs::path(root) / key;
    if (type == "http") m.http = c;
  }
  json map = ReadJson("plinth-sim.json");
  if (map.is_object()) m.outputs_map = map;
  return m;
}

std::string Fill(std::string tmpl, const Module& m) {
  auto replace = [&](const std::string& key, const std::string& value) {
    for (size_t pos; (pos = tmpl.find(key)) != std::string::npos;) tmpl.replace(pos, key.size(), value);
  };
  std::string name = m.metadata.value("name", "unnamed");
  replace("{name}", name);
  replace("{env}", m.metadata.value("env", ""));
  replace("{org}", m.metadata.value("org", ""));
  replace("{kind}", m.kind);
  for (size_t start; (start = tmpl.find("{spec.")) != std::string::npos;) {
    size_t end = tmpl.find('}', start);
    if (end == std::string::npos) break;
    std::string field = tmpl.substr(start + 6, end - start - 6);
    json v = m.spec.contains(field) ? m.spec[field] : json("");
    // A StringValueOrRef the job resolved keeps its {value: ...} shape.
    if (v.is_object() && v.contains("value") && v["value"].is_string()) v = v["value"];
    tmpl.replace(start, end - start + 1, v.is_string() ? v.get<std::string>() : v.dump());
  }
  return tmpl;
}

json DesiredOutputs(const Module& m) {
  json out = json::object();
  const std::string& kind = m.kind;
  const json* map = nullptr;
  if (m.outputs_map.contains(kind)) map = &m.outputs_map[kind];
  else if (m.outputs_map.contains("default")) map = &m.outputs_map["default"];
  if (map && map->is_object()) {
    for (const auto& [k, v] : map->items()) out[k] = Fill(v.get<std::string>(), m);
  }
  out["id"] = Fill("sim-{kind}-{name}", m);
  return out;
}

std::string Base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -6;
  for (unsigned char c : in) {
    val = (val << 8) + c;
    bits += 8;
    while (bits >= 0) {
      out.push_back(t[(val >> bits) & 0x3F]);
      bits -= 6;
    }
  }
  if (bits > -6) out.push_back(t[((val << 8) >> (bits + 8)) & 0x3F]);
  while (out.size() % 4) out.push_back('=');
  return out;
}

struct HttpReply {
  int status = 0;  // 0: no answer
  std::string body;
};

HttpReply HttpOnce(const std::string& method, const std::string& url, const std::string& body, const json& config);

// As Terraform's http backend: a request that gets no answer or a 5xx is
// tried again, retry_max times (default 2), waiting retry_wait_min seconds
// (default 1) doubling up to retry_wait_max (default 30).
HttpReply Http(const std::string& method, const std::string& url, const std::string& body, const json& config) {
  auto number = [&](const char* key, int fallback) {
    std::string v = config.value(key, "");
    return v.empty() ? fallback : std::atoi(v.c_str());
  };
  int tries = number("retry_max", 2) + 1;
  double wait = number("retry_wait_min", 1), wait_max = number("retry_wait_max", 30);
  for (int i = 0;; ++i) {
    HttpReply r = HttpOnce(method, url, body, config);
    if ((r.status != 0 && r.status < 500) || i + 1 >= tries) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(wait * 1000)));
    wait = std::min(wait * 2, wait_max);
  }
}

// One HTTP/1.1 request to http://host:port/path, with basic auth.
HttpReply HttpOnce(const std::string& method, const std::string& url, const std::string& body, const json& config) {
  HttpReply reply;
  if (url.rfind("http://", 0) != 0) return reply;
  std::string rest = url.substr(7);
  std::string hostport = rest.substr(0, rest.find('/'));
  std::string path = rest.find('/') == std::string::npos ? "/" : rest.substr(rest.find('/'));
  std::string host = hostport.substr(0, hostport.rfind(':'));
  std::string port = hostport.find(':') == std::string::npos ? "80" : hostport.substr(hostport.rfind(':') + 1);
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0) return reply;
  int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
  if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
    freeaddrinfo(res);
    if (fd >= 0) close(fd);
    return reply;
  }
  freeaddrinfo(res);
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: " + hostport + "\r\nConnection: close\r\n" +
                    "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  if (!config.value("username", "").empty() || !config.value("password", "").empty()) {
    req += "Authorization: Basic " + Base64(config.value("username", "") + ":" + config.value("password", "")) + "\r\n";
  }
  req += "\r\n" + body;
  for (size_t sent = 0; sent < req.size();) {
    ssize_t n = write(fd, req.data() + sent, req.size() - sent);
    if (n <= 0) break;
    sent += n;
  }
  std::string in;
  char buf[65536];
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) in.append(buf, n);
  close(fd);
  size_t sp = in.find(' ');
  if (sp == std::string::npos) return reply;
  reply.status = std::atoi(in.c_str() + sp + 1);
  size_t end = in.find("\r\n\r\n");
  if (end != std::string::npos) reply.body = in.substr(end + 4);
  return reply;
}

std::string g_lock_id;  // the http backend's lock this process holds

// LOCK with Terraform's lock info; false (with the error printed) when
// another holds it.
bool LockState(const Module& m, const std::string& operation) {
  if (!m.http.is_object() || m.http.value("lock_address", "").empty()) return true;
  char id[64];
  std::snprintf(id, sizeof(id), "%08x-sim-%d", static_cast<unsigned>(std::time(nullptr)), static_cast<int>(getpid()));
  json info = {{"ID", id}, {"Operation", operation}, {"Info", ""}, {"Who", "plinth-sim-tofu@" + std::to_string(getpid())},
               {"Version", kVersion}, {"Created", Now()}, {"Path", ""}};
  HttpReply r = Http(m.http.value("lock_method", "LOCK"), m.http["lock_address"], info.dump(), m.http);
  if (r.status == 200) {
    g_lock_id = id;
    return true;
  }
  json held = json::parse(r.body, nullptr, false);
  std::string detail = "Error message: HTTP remote state endpoint returned " + std::to_string(r.status);
  if (held.is_object()) {
    detail += "\nLock Info:\n  ID:        " + held.value("ID", "") + "\n  Operation: " + held.value("Operation", "") +
              "\n  Who:       " + held.value("Who", "") + "\n  Created:   " + held.value("Created", "");
  }
  Ui("diagnostic", "Error: Error acquiring the state lock",
     {{"diagnostic", {{"severity", "error"}, {"summary", "Error acquiring the state lock"}, {"detail", detail}}}}, "error");
  return false;
}

void UnlockState(const Module& m) {
  if (g_lock_id.empty()) return;
  json info = {{"ID", g_lock_id}};
  Http(m.http.value("unlock_method", "UNLOCK"), m.http.value("unlock_address", m.http.value("address", "")), info.dump(), m.http);
  g_lock_id.clear();
}

json State(const Module& m) {
  json empty = {{"version", 4}, {"resources", json::array()}, {"outputs", json::object()}};
  if (m.http.is_object()) {
    HttpReply r = Http("GET", m.http.value("address", ""), "", m.http);
    if (r.status == 200) {
      json s = json::parse(r.body, nullptr, false);
      if (s.is_object()) return s;
    }
    if (r.status != 200 && r.status != 204 && r.status != 404) {
      std::cerr << "Error: Failed to load state: HTTP remote state endpoint returned " << r.status << ": " << r.body << "\n";
      std::exit(1);
    }
    return empty;
  }
  json s = ReadJson(m.state_path);
  return s.is_object() ? s : empty;
}

void SaveState(const Module& m, const json& s) {
  if (m.http.is_object()) {
    std::string url = m.http.value("address", "");
    if (!g_lock_id.empty()) url += (url.find('?') == std::string::npos ? "?ID=" : "&ID=") + g_lock_id;
    HttpReply r = Http("POST", url, s.dump(2), m.http);
    if (r.status != 200 && r.status != 201 && r.status != 204) {
      std::cerr << "Error: Failed to save state: HTTP error: " << r.status << ": " << r.body << "\n";
      UnlockState(m);
      std::exit(1);
    }
    return;
  }
  fs::create_directories(fs::absolute(m.state_path).parent_path());
  std::string tmp = m.state_path.string() + ".tmp";
  std::ofstream(tmp) << s.dump(2);
  fs::rename(tmp, m.state_path);
}

int Fail(const std::string& summary) {
  Ui("diagnostic", "Error: " + summary,
     {{"diagnostic", {{"severity", "error"}, {"summary", summary}, {"detail", "simulated failure"}}}}, "error");
  return 1;
}

void Faults(const Module& m, const std::string& step) {
  if (m.Annotation("fail-at") == step) std::exit(Fail("simulated failure at " + step));
  if (!m.Annotation("sleep-seconds").empty() && (step == "plan" || step == "apply")) {
    double s = std::atof(m.Annotation("sleep-seconds").c_str());
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int>(s * 1000));
    while (std::chrono::steady_clock::now() < until) {
      if (g_sigints > (m.Annotation("ignore-sigint") == "true" ? 1 : 0)) {
        Ui("log", "Interrupt received. Gracefully shutting down...");
        std::exit(1);
      }
      // Asleep until the deadline, woken at once by a signal (poll is never
      // restarted after a handler): a real engine waiting on a cloud API is
      // idle too, and 500 of these polling every 20 ms loaded the machine
      // that the benches measure plinthd on.
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      ::poll(nullptr, 0, static_cast<int>(std::clamp<int64_t>(left.count(), 1, 1000)));
    }
  }
  if (!m.Annotation("huge-line-bytes").empty() && step == "plan") {
    std::cout << std::string(std::atol(m.Annotation("huge-line-bytes").c_str()), 'x') << "\n";
  }
  if (!m.Annotation("print-env").empty() && step == "plan") {
    const char* v = std::getenv(m.Annotation("print-env").c_str());
    Ui("log", std::string("debug: credential is ") + (v ? v : "(unset)"));
  }
  if (m.Annotation("print-spec") == "true" && step == "plan") Ui("log", "debug: spec is " + m.spec.dump());
  if (m.Annotation("not-json") == "true" && step == "plan") std::cout << "panic: simulated crash\n";
}

std::string Arg(const std::vector<std::string>& args, const std::string& prefix) {
  for (const auto& a : args) {
    if (a.rfind(prefix, 0) == 0) return a.substr(prefix.size());
  }
  return "";
}

bool Has(const std::vector<std::string>& args, const std::string& flag) {
  for (const auto& a : args) {
    if (a == flag) return true;
  }
  return false;
}

json ResourceHook(const std::string& action) {
  return {{"resource", {{"addr", kAddress}, {"module", ""}, {"resource", kAddress}, {"implied_provider", "plinth_sim"},
                        {"resource_type", "plinth_sim_resource"}, {"resource_name", "this"}, {"resource_key", nullptr}}},
          {"action", action}};
}

// A recorded plan's changes as OpenTofu's UI stream reports them.
struct RecordedCounts {
  int add = 0, change = 0, remove = 0, import = 0;
  bool changes = false;
};

RecordedCounts ReplayChanges(const json& doc, bool apply) {
  RecordedCounts c;
  const json resource_changes = doc.value("resource_changes", json::array());
  for (const auto& r : resource_changes) {
    json actions = r["change"].value("actions", json::array());
    std::string action = actions.size() == 2 ? "replace" : actions.empty() ? "no-op" : actions[0].get<std::string>();
    if (r["change"].contains("importing")) ++c.import, c.changes = true;
    if (r.contains("previous_address")) c.changes = true;
    if (action == "no-op" || action == "read") continue;
    c.changes = true;
    if (action == "create" || action == "replace") ++c.add;
    if (action == "delete" || action == "replace") ++c.remove;
    if (action == "update") ++c.change;
    json hook = {{"resource", {{"addr", r.value("address", "")}, {"resource_type", r.value("type", "")}}},
                 {"action", action}};
    if (apply) {
      Ui("apply_start", r.value("address", "") + ": applying", {{"hook", hook}});
      Ui("apply_complete", r.value("address", "") + ": complete", {{"hook", hook}});
    } else {
      Ui("planned_change", r.value("address", "") + ": Plan to " + action, {{"change", hook}});
    }
  }
  const json output_changes = doc.value("output_changes", json::object());
  for (const auto& [name, o] : output_changes.items()) {
    if (o.value("actions", json::array()) != json::array({"no-op"})) c.changes = true;
  }
  return c;
}

int PlanLocked(const std::vector<std::string>& args);

int Plan(const std::vector<std::string>& args) {
  Module m = Load();
  if (!LockState(m, "OperationTypePlan")) return 1;
  int rc = PlanLocked(args);
  UnlockState(m);
  return rc;
}

int PlanLocked(const std::vector<std::string>& args) {
  Module m = Load();
  Ui("version", std::string("OpenTofu ") + kVersion, {{"tofu", kVersion}, {"ui", "1.2"}});
  Faults(m, "plan");
  if (std::string recorded = m.Annotation("recorded-plan"); !recorded.empty()) {
    json doc = ReadJson(recorded);
    if (!doc.is_object()) return Fail("cannot read the recorded plan " + recorded);
    RecordedCounts c = ReplayChanges(doc, false);
    Ui("change_summary", "Plan: ...",
       {{"changes", {{"add", c.add}, {"change", c.change}, {"import", c.import}, {"remove", c.remove}, {"operation", "plan"}}}});
    std::string out = Arg(args, "-out=");
    json state = State(m);
    if (!out.empty()) {
      std::ofstream(out) << json({{"recorded", recorded}, {"action", "no-op"}, {"outputs", state["outputs"].value("values", json::object())}}).dump();
    }
    return Has(args, "-detailed-exitcode") && c.changes ? 2 : 0;
  }
  json state = State(m);
  bool destroy = Has(args, "-destroy");
  bool exists = !state["resources"].empty();
  json desired_attrs = {{"metadata", m.metadata}, {"spec", m.spec}};
  std::string action = "no-op";
  if (destroy) action = exists ? "delete" : "no-op";
  else if (!exists) action = "create";
  else if (state["resources"][0]["attributes"] != desired_attrs) action = "update";
  json outputs = destroy ? json::object() : DesiredOutputs(m);
  bool outputs_change = outputs != state["outputs"].value("values", json::object()) && !destroy;
  if (action != "no-op") Ui("planned_change", std::string(kAddress) + ": Plan to " + action, {{"change", ResourceHook(action)}});
  int add = action == "create", change = action == "update", remove = action == "delete";
  Ui("change_summary",
     "Plan: " + std::to_string(add) + " to add, " + std::to_string(change) + " to change, " + std::to_string(remove) + " to destroy.",
     {{"changes", {{"add", add}, {"change", change}, {"import", 0}, {"remove", remove}, {"operation", destroy ? "destroy" : "plan"}}}});
  std::string out = Arg(args, "-out=");
  if (!out.empty()) {
    json plan = {{"action", action}, {"attributes", desired_attrs}, {"outputs", outputs}, {"destroy", destroy},
                 {"sensitive", m.Annotation("sensitive-output")}};
    std::ofstream(out) << plan.dump();
  }
  bool changes = action != "no-op" || outputs_change;
  return Has(args, "-detailed-exitcode") && changes ? 2 : 0;
}

int Show(const std::vector<std::string>& args) {
  std::string file = args.empty() ? "" : args.back();
  json plan = ReadJson(file);
  if (!plan.is_object()) return Fail("Failed to read the given file as a state or plan file");
  if (plan.contains("recorded")) {
    std::cout << ReadJson(plan["recorded"].get<std::string>()).dump() << "\n";
    return 0;
  }
  std::string a = plan["action"];
  json actions = a == "no-op" ? json::array({"no-op"}) : json::array({a});
  json doc = {{"format_version", "1.2"}, {"terraform_version", kVersion},
              {"resource_changes", json::array({{{"address", kAddress}, {"mode", "managed"}, {"type", "plinth_sim_resource"},
                                                 {"name", "this"}, {"change", {{"actions", actions}}}}})}};
  std::cout << doc.dump() << "\n";
  return 0;
}

int ApplyLocked(const std::vector<std::string>& args);

int Apply(const std::vector<std::string>& args) {
  Module m = Load();
  if (!LockState(m, "OperationTypeApply")) return 1;
  int rc = ApplyLocked(args);
  UnlockState(m);
  return rc;
}

int ApplyLocked(const std::vector<std::string>& args) {
  std::string file = args.empty() ? "" : args.back();
  if (Has(args, "-auto-approve")) {
    // No saved plan: plan into a private file first, then apply it, as
    // `tofu apply -auto-approve` does in one command.
    std::vector<std::string> plan_args = {"-out=.sim-direct.tfplan"};
    if (Has(args, "-destroy")) plan_args.push_back("-destroy");
    if (int rc = PlanLocked(plan_args); rc != 0 && rc != 2) return rc;
    file = ".sim-direct.tfplan";
  }
  json plan = ReadJson(file);
  if (!plan.is_object()) return Fail("Failed to load \"" + file + "\" as a plan file");
  Module m = Load();
  Ui("version", std::string("OpenTofu ") + kVersion, {{"tofu", kVersion}, {"ui", "1.2"}});
  Faults(m, "apply");
  json state = State(m);
  std::string action = plan["action"];
  if (plan.contains("recorded")) {
    RecordedCounts c = ReplayChanges(ReadJson(plan["recorded"].get<std::string>()), true);
    Ui("change_summary", "Apply complete!",
       {{"changes", {{"add", c.add}, {"change", c.change}, {"import", c.import}, {"remove", c.remove}, {"operation", "apply"}}}});
    return 0;
  }
  auto start = std::chrono::steady_clock::now();
  if (action != "no-op") {
    Ui("apply_start", std::string(kAddress) + ": " + (action == "delete" ? "Destroying..." : action == "create" ? "Creating..." : "Modifying..."),
       {{"hook", ResourceHook(action)}});
  }
  if (action == "delete") {
    state["resources"] = json::array();
  } else if (action != "no-op") {
    state["resources"] = json::array({{{"type", "plinth_sim_resource"}, {"name", "this"}, {"attributes", plan["attributes"]}}});
  }
  json values = plan["outputs"];
  json outs = json::object();
  for (const auto& [k, v] : values.items()) {
    outs[k] = {{"value", v}, {"type", "string"}, {"sensitive", k == plan.value("sensitive", "")}};
  }
  state["outputs"] = {{"values", values}, {"typed", outs}};
  state["serial"] = state.value("serial", 0) + 1;
  SaveState(m, state);
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (action != "no-op") {
    json hook = ResourceHook(action);
    hook["elapsed_seconds"] = static_cast<int>(elapsed);
    if (action != "delete") {
      hook["id_key"] = "id";
      hook["id_value"] = values.value("id", "");
    }
    Ui("apply_complete", std::string(kAddress) + ": " + (action == "delete" ? "Destruction" : action == "create" ? "Creation" : "Modifications") + " complete",
       {{"hook", hook}});
  }
  int add = action == "create", change = action == "update", remove = action == "delete";
  Ui("change_summary",
     std::string(plan.value("destroy", false) ? "Destroy" : "Apply") + " complete! Resources: " + std::to_string(add) + " added, " +
         std::to_string(change) + " changed, " + std::to_string(remove) + " destroyed.",
     {{"changes", {{"add", add}, {"change", change}, {"import", 0}, {"remove", remove}, {"operation", plan.value("destroy", false) ? "destroy" : "apply"}}}});
  Ui("outputs", "Outputs: " + std::to_string(outs.size()), {{"outputs", outs}});
  return 0;
}

int Output() {
  Module m = Load();
  Faults(m, "output");
  json state = State(m);
  json typed = state["outputs"].value("typed", json::object());
  std::cout << typed.dump(2) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGINT, [](int) { g_sigints = g_sigints + 1; });
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << "Usage: tofu [global options] <subcommand> [args]\n(plinth-sim-tofu: a simulated engine)\n";
    return 1;
  }
  std::string cmd = args[0];
  args.erase(args.begin());
  if (cmd == "version" || cmd == "-version") {
    if (Has(args, "-json")) {
      std::cout << json{{"terraform_version", kVersion}, {"platform", "linux_amd64"}}.dump() << "\n";
    } else {
      std::cout << "OpenTofu v" << kVersion << " (simulated by plinth)\n";
    }
    return 0;
  }
  if (cmd == "init") {
    Module m = Load();
    Faults(m, "init");
    const char* data_dir = std::getenv("TF_DATA_DIR");
    fs::path dd = data_dir ? data_dir : ".terraform";
    fs::create_directories(dd);
    // The backend: local (its path in backend.tf.json) or remote, configured
    // by -backend-config, remembered for the later steps.
    json backend = ReadJson("backend.tf.json");
    json remote = json::object();
    if (backend.is_object() && backend["terraform"]["backend"].is_object()) {
      for (const auto& [type, unused] : backend["terraform"]["backend"].items()) {
        if (type == "local") continue;
        json config = json::object();
        for (const auto& a : args) {
          if (a.rfind("-backend-config=", 0) != 0) continue;
          std::string kv = a.substr(16);
          size_t eq = kv.find('=');
          if (eq != std::string::npos) config[kv.substr(0, eq)] = kv.substr(eq + 1);
        }
        if (type == "http") {
          if (config.value("address", "").rfind("http://", 0) != 0) {
            std::cerr << "Error: the http backend's address must be an http:// URL (plinth-sim-tofu)\n";
            return 1;
          }
          remote = {{"type", type}, {"config", config}};
          std::cout << "\nSuccessfully configured the backend \"http\"! OpenTofu will automatically\nuse this backend unless "
                       "the backend configuration changes.\n";
          continue;
        }
        std::string root = config.value(type == "azurerm" ? "storage_account_name" : "bucket", "");
        if (root.empty() || root[0] != '/') {
          std::cerr << "Error: plinth-sim-tofu simulates the " << type
                    << " backend in a local directory; its bucket (storage_account_name for azurerm) must be an absolute path\n";
          return 1;
        }
        remote = {{"type", type}, {"config", config}};
        std::cout << "\nSuccessfully configured the backend \"" << type << "\"! (simulated in " << root << ")\n";
      }
    }
    std::ofstream(dd / "sim-backend.json") << remote.dump() << "\n";
    std::cout << "\nInitializing the backend...\n\nOpenTofu has been successfully initialized! (simulated)\n";
    return 0;
  }
  if (cmd == "plan") return Plan(args);
  if (cmd == "show") return Show(args);
  if (cmd == "apply") return Apply(args);
  if (cmd == "output") return Output();
  std::cerr << "Error: unknown command \"" << cmd << "\" (plinth-sim-tofu)\n";
  return 1;
}
