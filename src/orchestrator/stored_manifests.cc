#include "plinth/orchestrator/stored_manifests.h"

#include "absl/strings/str_cat.h"

namespace plinth::orchestrator {

std::vector<manifest::Manifest> FromStoredManifests(const nlohmann::json& bodies, bool strip_ids) {
  std::vector<manifest::Manifest> out;
  if (!bodies.is_array()) return out;
  for (const auto& body : bodies) {
    if (!body.is_object()) continue;
    manifest::Manifest m;
    m.body = body;
    m.api_version = body.value("apiVersion", "");
    m.kind = body.value("kind", "");
    const auto& md = body.contains("metadata") && body["metadata"].is_object() ? body["metadata"] : nlohmann::json::object();
    m.name = md.value("name", "");
    m.org = md.value("org", "");
    m.env = md.value("env", "");
    if (strip_ids) {
      if (m.body["metadata"].is_object()) m.body["metadata"].erase("id");
    } else {
      m.id = md.value("id", "");
    }
    m.source = absl::StrCat("revision manifest ", out.size() + 1, " (", m.kind, "/", m.name, ")");
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace plinth::orchestrator
