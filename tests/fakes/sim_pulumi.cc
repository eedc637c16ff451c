// plinth-sim-pulumi: a SIMULATED Pulumi CLI for tests and the demo. It speaks
// the contract plinth uses (stack select --create, preview --json, up/refresh/
// destroy --json engine events, stack output --json [--show-secrets]) and
// keeps real stack state under PULUMI_BACKEND_URL (file://), but creates no
// infrastructure. Its "program" input is $STACK_INPUT_YAML_FILE ({target,
// provider_config}, JSON being YAML); outputs come from the module's
// plinth-sim.json like plinth-sim-tofu's. Faults, as target annotations:
// sim.plinth.dev/fail-at (preview|up|destroy|output), sleep-seconds,
// print-env NAME, sensitive-output NAME.
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "nlohmann/json.hpp"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;
volatile sig_atomic_t g_sigint = 0;
int g_seq = 0;

json Read(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return nullptr;
  return json::parse(in, nullptr, false);
}

std::string Arg(const std::vector<std::string>& a, const std::string& flag) {
  for (size_t i = 0; i + 1 < a.size(); ++i) {
    if (a[i] == flag) return a[i + 1];
  }
  return "";
}

bool Has(const std::vector<std::string>& a, const std::string& flag) {
  for (const auto& x : a) {
    if (x == flag) return true;
  }
  return false;
}

fs::path StatePath(const std::string& stack) {
  const char* url = std::getenv("PULUMI_BACKEND_URL");
  std::string dir = url && std::string(url).rfind("file://", 0) == 0 ? std::string(url).substr(7) : ".";
  return fs::path(dir) / ".pulumi" / "stacks" / (stack + ".json");
}

struct Input {
  json target = json::object();
  std::string Annotation(const std::string& k) const {
    const json& md = target.value("metadata", json::object());
    if (md.contains("annotations") && md["annotations"].contains("sim.plinth.dev/" + k)) {
      return md["annotations"]["sim.plinth.dev/" + k].get<std::string>();
    }
    return "";
  }
  std::string Name() const { return target.value("metadata", json::object()).value("name", "unnamed"); }
  std::string Kind() const { return target.value("kind", ""); }
};

Input LoadInput() {
  Input in;
  const char* f = std::getenv("STACK_INPUT_YAML_FILE");
  json doc = f ? Read(f) : json(nullptr);
  if (doc.is_object() && doc.contains("target")) in.target = doc["target"];
  return in;
}

void Event(const std::string& type, json body) {
  json e = {{"sequence", ++g_seq}, {"timestamp", static_cast<long>(std::time(nullptr))}, {type, std::move(body)}};
  std::cout << e.dump() << "\n" << std::flush;
}

int Fail(const std::string& why) {
  Event("diagnosticEvent", {{"severity", "error"}, {"message", why}, {"prefix", "error: "}});
  Event("cancelEvent", json::object());
  std::cerr << "error: " << why << "\n";
  return 255;
}

void Faults(const Input& in, const std::string& step) {
  if (in.Annotation("fail-at") == step) std::exit(Fail("simulated failure at " + step));
  if (!in.Annotation("sleep-seconds").empty() && (step == "up" || step == "preview")) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int>(std::atof(in.Annotation("sleep-seconds").c_str()) * 1000));
    while (std::chrono::steady_clock::now() < until) {
      if (g_sigint) std::exit(Fail("update canceled"));
      // Asleep until the deadline, woken at once by a signal (poll is never
      // restarted after a handler): a real engine waiting on a cloud API is
      // idle too, and 500 of these polling every 20 ms loaded the machine
      // that the benches measure plinthd on.
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      ::poll(nullptr, 0, static_cast<int>(std::clamp<int64_t>(left.count(), 1, 1000)));
    }
  }
  if (!in.Annotation("print-env").empty() && step == "preview") {
    const char* v = std::getenv(in.Annotation("print-env").c_str());
    std::cerr << "debug: credential is " << (v ? v : "(unset)") << "\n";
  }
}

json Outputs(const Input& in) {
  json out = json::object();
  json map = Read("plinth-sim.json");
  const json* m = nullptr;
  if (map.is_object() && map.contains(in.Kind())) m = &map[in.Kind()];
  else if (map.is_object() && map.contains("default")) m = &map["default"];
  if (m) {
    for (const auto& [k, v] : m->items()) {
      std::string s = v.get<std::string>();
      for (size_t p; (p = s.find("{name}")) != std::string::npos;) s.replace(p, 6, in.Name());
      for (size_t p; (p = s.find("{kind}")) != std::string::npos;) s.replace(p, 6, in.Kind());
      // {spec.<field>}: a field of the stack input's spec, as the tofu sim does.
      json spec = in.target.value("spec", json::object());
      for (size_t start; (start = s.find("{spec.")) != std::string::npos;) {
        size_t end = s.find('}', start);
        if (end == std::string::npos) break;
        std::string field = s.substr(start + 6, end - start - 6);
        json v = spec.contains(field) ? spec[field] : json("");
        s.replace(start, end - start + 1, v.is_string() ? v.get<std::string>() : v.dump());
      }
      out[k] = s;
    }
  }
  out["id"] = "sim-" + in.Kind() + "-" + in.Name();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGINT, [](int) { g_sigint = 1; });
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.empty()) return Fail("usage: pulumi <command> (plinth-sim-pulumi)");
  std::string cmd = a[0];
  if (cmd == "version") {
    std::cout << "v3.140.0-sim\n";
    return 0;
  }
  std::string stack = Arg(a, "--stack");
  fs::path state_path = StatePath(stack.empty() ? "dev" : stack);
  json state = Read(state_path);
  if (!state.is_object()) state = json{{"resource", nullptr}, {"outputs", json::object()}, {"secrets", json::array()}};
  auto save = [&] {
    fs::create_directories(state_path.parent_path());
    std::ofstream(state_path) << state.dump(2);
  };
  Input in = LoadInput();
  std::string urn = "urn:pulumi:" + stack + "::plinth-sim::plinth:sim:Resource::" + in.Name();
  bool exists = !state["resource"].is_null();
  std::string op = !exists ? "create" : (state["resource"] == in.target ? "same" : "update");

  if (cmd == "stack" && a.size() > 1 && a[1] == "select") {
    if (!fs::exists(state_path)) {
      save();
      std::cout << "Created stack '" << stack << "' (simulated)\n";
    }
    return 0;
  }
  if (cmd == "stack" && a.size() > 1 && a[1] == "output") {
    Faults(in, "output");
    json out = state["outputs"];
    if (!Has(a, "--show-secrets")) {
      for (const auto& s : state["secrets"]) {
        if (out.contains(s.get<std::string>())) out[s.get<std::string>()] = "[secret]";
      }
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  if (cmd == "preview" || (cmd == "destroy" && Has(a, "--preview-only"))) {
    Faults(in, "preview");
    bool destroy = cmd == "destroy";
    std::string step_op = destroy ? (exists ? "delete" : "same") : op;
    json doc = {{"steps", json::array({{{"op", step_op}, {"urn", urn}}})}, {"changeSummary", {{step_op, 1}}}};
    std::cout << doc.dump(2) << "\n";
    return 0;
  }
  if (cmd == "up" || cmd == "refresh" || cmd == "destroy") {
    Faults(in, cmd);
    Event("preludeEvent", {{"config", json::object()}});
    std::string run_op = cmd == "destroy" ? (exists ? "delete" : "same") : cmd == "refresh" ? "refresh" : op;
    json md = {{"op", run_op}, {"urn", urn}, {"type", "plinth:sim:Resource"}};
    Event("resourcePreEvent", {{"metadata", md}});
    if (cmd == "up") {
      state["resource"] = in.target;
      state["outputs"] = Outputs(in);
      state["secrets"] = json::array();
      if (!in.Annotation("sensitive-output").empty()) state["secrets"].push_back(in.Annotation("sensitive-output"));
    } else if (cmd == "destroy") {
      state["resource"] = nullptr;
      state["outputs"] = json::object();
    }
    save();
    Event("resOutputsEvent", {{"metadata", md}});
    json changes = {{run_op == "refresh" ? "same" : run_op, 1}};
    Event("summaryEvent", {{"maybeCorrupt", false}, {"durationSeconds", 0}, {"resourceChanges", changes}});
    Event("cancelEvent", json::object());
    return 0;
  }
  return Fail("unknown command " + cmd + " (plinth-sim-pulumi)");
}
