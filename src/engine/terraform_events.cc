// Terraform / OpenTofu machine-readable UI (`-json`, ui 1.x) and plan JSON.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "plinth/engine/engine_events.h"

namespace plinth::engine {
namespace {

using nlohmann::json;

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

int Int(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int>() : 0;
}

ResourceChange FromHook(const json& hook, const std::string& status) {
  ResourceChange r;
  if (auto res = hook.find("resource"); res != hook.end() && res->is_object()) {
    r.address = Str(*res, "addr");
    r.type = Str(*res, "resource_type");
  }
  r.action = Str(hook, "action");
  r.status = status;
  if (auto e = hook.find("elapsed_seconds"); e != hook.end() && e->is_number()) r.elapsed_seconds = e->get<double>();
  r.id = Str(hook, "id_value");
  return r;
}

}  // namespace

EngineEvent ParseTerraformLine(absl::string_view line) {
  EngineEvent e;
  json j = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    e.kind = EngineEvent::Kind::kNotJson;
    e.message = std::string(line);
    return e;
  }
  e.type = Str(j, "type");
  e.level = Str(j, "@level");
  e.message = Str(j, "@message");
  const std::string& t = e.type;
  if (t == "version") {
    e.kind = EngineEvent::Kind::kVersion;
  } else if (t == "log") {
    e.kind = EngineEvent::Kind::kLog;
  } else if (t == "diagnostic") {
    e.kind = EngineEvent::Kind::kDiagnostic;
    Diagnostic d;
    if (auto it = j.find("diagnostic"); it != j.end() && it->is_object()) {
      d.severity = Str(*it, "severity");
      d.summary = Str(*it, "summary");
      d.detail = Str(*it, "detail");
      d.address = Str(*it, "address");
    }
    if (d.severity.empty()) d.severity = e.level;
    e.diagnostic = d;
  } else if (t == "planned_change" || t == "resource_drift") {
    e.kind = EngineEvent::Kind::kResource;
    if (auto c = j.find("change"); c != j.end() && c->is_object()) e.resource = FromHook(*c, t == "planned_change" ? "planned" : "drift");
  } else if (t == "apply_start" || t == "apply_progress" || t == "apply_complete" || t == "apply_errored" ||
             t == "refresh_start" || t == "refresh_complete" || t == "provision_start" ||
             t == "provision_complete" || t == "provision_errored") {
    e.kind = EngineEvent::Kind::kResource;
    std::string status = t.substr(t.find('_') + 1);  // start, progress, complete, errored
    if (status == "start") status = "started";
    if (auto h = j.find("hook"); h != j.end() && h->is_object()) e.resource = FromHook(*h, status);
    if (e.resource && t.rfind("refresh", 0) == 0) e.resource->action = "refresh";
  } else if (t == "change_summary") {
    e.kind = EngineEvent::Kind::kChangeSummary;
    ChangeSummary s;
    if (auto c = j.find("changes"); c != j.end() && c->is_object()) {
      s.add = Int(*c, "add");
      s.change = Int(*c, "change");
      s.remove = Int(*c, "remove");
      s.operation = Str(*c, "operation");
    }
    e.summary = s;
  } else if (t == "outputs") {
    e.kind = EngineEvent::Kind::kOutputs;
    if (auto o = j.find("outputs"); o != j.end() && o->is_object()) e.outputs = *o;
  } else {
    e.kind = EngineEvent::Kind::kUnknown;
  }
  return e;
}

absl::StatusOr<Plan> ParseTerraformPlanJson(absl::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (!j.is_object()) return absl::InvalidArgumentError("plan JSON: not a JSON object (is this `show -json` output?)");
  Plan plan;
  plan.summary.operation = "plan";
  auto rc = j.find("resource_changes");
  if (rc == j.end() || !rc->is_array()) return plan;
  for (const auto& r : *rc) {
    if (!r.is_object()) continue;
    auto change = r.find("change");
    if (change == r.end() || !change->is_object()) continue;
    std::vector<std::string> actions;
    if (auto a = change->find("actions"); a != change->end() && a->is_array()) {
      for (const auto& x : *a) {
        if (x.is_string()) actions.push_back(x.get<std::string>());
      }
    }
    std::string action;
    if (actions.size() == 2) {
      action = "replace";
      ++plan.summary.replace;
    } else if (actions.size() == 1) {
      action = actions[0];
      if (action == "create") ++plan.summary.add;
      else if (action == "update") ++plan.summary.change;
      else if (action == "delete") ++plan.summary.remove;
    }
    if (action.empty() || action == "no-op" || action == "read") continue;
    ResourceChange c;
    c.address = Str(r, "address");
    c.type = Str(r, "type");
    c.action = action;
    c.status = "planned";
    plan.changes.push_back(std::move(c));
  }
  return plan;
}

}  // namespace plinth::engine
