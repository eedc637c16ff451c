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
      s.import = Int(*c, "import");
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

std::string ChangeSummary::Describe() const {
  std::string out = absl::StrCat(add, " to add, ", change, " to change, ", remove, " to destroy, ", replace, " to replace");
  if (import > 0) absl::StrAppend(&out, ", ", import, " to import");
  if (move > 0) absl::StrAppend(&out, ", ", move, " to move");
  if (forget > 0) absl::StrAppend(&out, ", ", forget, " to forget");
  return out;
}

absl::StatusOr<Plan> ParseTerraformPlanJson(absl::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (!j.is_object()) return absl::InvalidArgumentError("plan JSON: not a JSON object (is this `show -json` output?)");
  // `show -json` of a state has "values" and none of a plan's keys.
  if (!j.contains("planned_values") && !j.contains("resource_changes") && !j.contains("output_changes") &&
      !j.contains("prior_state") && !j.contains("configuration")) {
    return absl::InvalidArgumentError(j.contains("values")
                                          ? "plan JSON: a state document, not a plan (show -json of a state file?)"
                                          : "plan JSON: none of a plan's keys (resource_changes, planned_values)");
  }
  Plan plan;
  plan.summary.operation = "plan";
  plan.errored = j.value("errored", false);
  if (auto rc = j.find("resource_changes"); rc != j.end() && rc->is_array()) {
    for (const auto& r : *rc) {
      if (!r.is_object()) continue;
      auto change = r.find("change");
      if (change == r.end() || !change->is_object()) continue;
      ResourceChange c;
      if (auto a = change->find("actions"); a != change->end() && a->is_array()) {
        for (const auto& x : *a) {
          if (x.is_string()) c.actions.push_back(x.get<std::string>());
        }
      }
      c.address = Str(r, "address");
      c.type = Str(r, "type");
      c.previous_address = Str(r, "previous_address");
      c.action_reason = Str(r, "action_reason");
      c.deposed = Str(r, "deposed");
      c.importing = change->contains("importing") && !(*change)["importing"].is_null();
      c.status = "planned";
      if (c.actions.size() == 2) {
        c.action = "replace";
        ++plan.summary.replace;
      } else if (c.actions.size() == 1) {
        c.action = c.actions[0];
        if (c.action == "create") ++plan.summary.add;
        else if (c.action == "update") ++plan.summary.change;
        else if (c.action == "delete") ++plan.summary.remove;
        else if (c.action == "no-op") ++plan.summary.no_op;
        else if (c.action == "read") ++plan.summary.read;
        else if (c.action == "forget") ++plan.summary.forget;
      }
      const bool moved = !c.previous_address.empty() && c.previous_address != c.address;
      if (moved) ++plan.summary.move;
      if (c.importing) ++plan.summary.import;
      if (c.action == "no-op" && !moved && !c.importing) continue;  // counted, not listed
      plan.changes.push_back(std::move(c));
    }
  }
  if (auto oc = j.find("output_changes"); oc != j.end() && oc->is_object()) {
    for (const auto& [name, o] : oc->items()) {
      if (!o.is_object()) continue;
      OutputChange out;
      out.name = name;
      if (auto a = o.find("actions"); a != o.end() && a->is_array() && !a->empty() && (*a)[0].is_string()) {
        out.action = a->size() == 2 ? "replace" : (*a)[0].get<std::string>();
      }
      if (out.action.empty() || out.action == "no-op") continue;
      out.known_after_apply = o.contains("after_unknown") && o["after_unknown"].is_boolean() &&
                              o["after_unknown"].get<bool>();
      out.sensitive = (o.contains("after_sensitive") && o["after_sensitive"] == true) ||
                      (o.contains("before_sensitive") && o["before_sensitive"] == true);
      if (!out.sensitive && !out.known_after_apply && o.contains("after")) out.after = o["after"];
      plan.outputs.push_back(std::move(out));
    }
  }
  return plan;
}

}  // namespace plinth::engine
