#include "plinth/manifest/references.h"

#include "absl/strings/str_cat.h"

namespace plinth::manifest {
namespace {

using nlohmann::json;

std::string StringAt(const json& object, const char* a, const char* b) {
  for (const char* key : {a, b}) {
    if (auto it = object.find(key); it != object.end() && it->is_string()) return it->get<std::string>();
  }
  return "";
}

void Walk(const json& v, const std::string& path, const std::string& env, std::vector<Reference>& out) {
  if (v.is_object()) {
    const json* from = nullptr;
    if (auto it = v.find("valueFrom"); it != v.end() && it->is_object()) from = &*it;
    if (auto it = v.find("value_from"); it != v.end() && it->is_object()) from = &*it;
    if (from != nullptr) {
      Reference r;
      r.kind = StringAt(*from, "kind", "kind");
      r.env = StringAt(*from, "env", "env");
      if (r.env.empty()) r.env = env;
      r.name = StringAt(*from, "name", "name");
      r.field_path = StringAt(*from, "fieldPath", "field_path");
      r.source_path = path;
      r.type = "value_from";
      out.push_back(std::move(r));
      return;
    }
    for (const auto& [k, item] : v.items()) Walk(item, path + "." + k, env, out);
  } else if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i) Walk(v[i], absl::StrCat(path, "[", i, "]"), env, out);
  }
}

}  // namespace

std::vector<Reference> FindReferences(const Manifest& m) {
  std::vector<Reference> out;
  if (auto spec = m.body.find("spec"); spec != m.body.end()) Walk(*spec, "spec", m.env, out);
  if (auto md = m.body.find("metadata"); md != m.body.end() && md->is_object()) {
    if (auto rel = md->find("relationships"); rel != md->end() && rel->is_array()) {
      for (size_t i = 0; i < rel->size(); ++i) {
        const json& r = (*rel)[i];
        if (!r.is_object()) continue;
        Reference ref;
        ref.kind = StringAt(r, "kind", "kind");
        ref.env = StringAt(r, "env", "env");
        if (ref.env.empty()) ref.env = m.env;
        ref.name = StringAt(r, "name", "name");
        ref.type = StringAt(r, "type", "type");
        if (ref.type.empty()) ref.type = "depends_on";
        ref.source_path = absl::StrCat("metadata.relationships[", i, "]");
        out.push_back(std::move(ref));
      }
    }
  }
  return out;
}

}  // namespace plinth::manifest
