// Pulumi engine events (`pulumi up --json`, `--event-log`): one JSON object
// a line with a sequence, a timestamp and one event field.
#include "absl/strings/str_cat.h"
#include "plinth/engine/engine_events.h"

namespace plinth::engine {
namespace {

using nlohmann::json;

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

int Count(const json& changes, const char* key) {
  auto it = changes.find(key);
  return it != changes.end() && it->is_number_integer() ? it->get<int>() : 0;
}

ResourceChange FromMetadata(const json& event, const std::string& status) {
  ResourceChange r;
  r.status = status;
  if (auto m = event.find("metadata"); m != event.end() && m->is_object()) {
    r.address = Str(*m, "urn");
    r.type = Str(*m, "type");
    r.action = Str(*m, "op");
    if (auto d = m->find("durationSeconds"); d != m->end() && d->is_number()) r.elapsed_seconds = d->get<double>();
  }
  return r;
}

}  // namespace

EngineEvent ParsePulumiLine(absl::string_view line) {
  EngineEvent e;
  json j = json::parse(line.begin(), line.end(), nullptr, false);
  if (!j.is_object()) {
    e.kind = EngineEvent::Kind::kNotJson;
    e.message = std::string(line);
    return e;
  }
  auto has = [&](const char* k) { return j.contains(k) && j[k].is_object(); };
  if (has("cancelEvent")) {
    e.kind = EngineEvent::Kind::kCancel;
    e.type = "cancelEvent";
    e.message = "engine stream ended";
  } else if (has("stdoutEvent")) {
    e.kind = EngineEvent::Kind::kLog;
    e.type = "stdoutEvent";
    e.message = Str(j["stdoutEvent"], "message");
  } else if (has("diagnosticEvent")) {
    const json& d = j["diagnosticEvent"];
    e.kind = EngineEvent::Kind::kDiagnostic;
    e.type = "diagnosticEvent";
    e.level = Str(d, "severity");
    e.message = Str(d, "message");
    e.diagnostic = Diagnostic{e.level, e.message, "", Str(d, "urn")};
  } else if (has("preludeEvent")) {
    e.kind = EngineEvent::Kind::kLog;
    e.type = "preludeEvent";
    e.message = "Previewing or updating with config " + j["preludeEvent"].value("config", json::object()).dump();
  } else if (has("summaryEvent")) {
    const json& s = j["summaryEvent"];
    e.kind = EngineEvent::Kind::kChangeSummary;
    e.type = "summaryEvent";
    ChangeSummary summary;
    if (auto rc = s.find("resourceChanges"); rc != s.end() && rc->is_object()) {
      summary.add = Count(*rc, "create");
      summary.change = Count(*rc, "update");
      summary.remove = Count(*rc, "delete");
      summary.replace = Count(*rc, "replace") + Count(*rc, "create-replacement");
    }
    e.summary = summary;
    e.message = absl::StrCat("Resources: ", summary.add, " created, ", summary.change, " updated, ",
                             summary.remove, " deleted, ", summary.replace, " replaced");
  } else if (has("resourcePreEvent")) {
    e.kind = EngineEvent::Kind::kResource;
    e.type = "resourcePreEvent";
    e.resource = FromMetadata(j["resourcePreEvent"], "started");
  } else if (has("resOutputsEvent")) {
    e.kind = EngineEvent::Kind::kResource;
    e.type = "resOutputsEvent";
    e.resource = FromMetadata(j["resOutputsEvent"], "complete");
  } else if (has("resOpFailedEvent")) {
    e.kind = EngineEvent::Kind::kResource;
    e.type = "resOpFailedEvent";
    e.resource = FromMetadata(j["resOpFailedEvent"], "errored");
  } else {
    e.kind = EngineEvent::Kind::kUnknown;
    for (const auto& [k, v] : j.items()) {
      if (k != "sequence" && k != "timestamp") e.type = k;
    }
    e.message = e.type;
  }
  if (e.resource && e.message.empty()) {
    e.message = absl::StrCat(e.resource->address, ": ", e.resource->action, " ", e.resource->status);
  }
  return e;
}

}  // namespace plinth::engine
