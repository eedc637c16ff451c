#include "plinth/manifest/module_variables.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "plinth/core/status_macros.h"
#include "plinth/manifest/descriptor_util.h"

namespace plinth::manifest {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using nlohmann::json;

const FieldDescriptor* FieldFor(const Descriptor* d, const std::string& key) {
  if (const FieldDescriptor* f = d->FindFieldByName(key)) return f;
  for (int i = 0; i < d->field_count(); ++i) {
    if (d->field(i)->json_name() == key) return d->field(i);
  }
  return nullptr;
}

class Converter {
 public:
  Converter(const Manifest& m, const ReferenceResolver& resolve) : m_(m), resolve_(resolve) {}

  absl::StatusOr<json> Message(const json& v, const Descriptor* d, const std::string& path) {
    if (!v.is_object()) return v;
    if (d->file()->package() == "google.protobuf") return v;  // Struct, Value, Timestamp ...
    if (IsValueOrRef(d)) return ValueOrRef(v, d, path);
    json out = json::object();
    for (const auto& [key, item] : v.items()) {
      const FieldDescriptor* f = FieldFor(d, key);
      if (f == nullptr) {  // validated before; keep anything unexpected as is
        out[key] = item;
        continue;
      }
      PLINTH_ASSIGN_OR_RETURN(out[std::string(f->name())], Field(item, f, path + "." + key));
    }
    return out;
  }

 private:
  absl::StatusOr<json> Field(const json& v, const FieldDescriptor* f, const std::string& path) {
    if (v.is_null()) return v;
    bool message = f->type() == FieldDescriptor::TYPE_MESSAGE;
    if (f->is_map()) {
      const FieldDescriptor* value = f->message_type()->map_value();
      if (value->type() != FieldDescriptor::TYPE_MESSAGE || !v.is_object()) return v;
      json out = json::object();
      for (const auto& [k, item] : v.items()) {
        PLINTH_ASSIGN_OR_RETURN(out[k], Message(item, value->message_type(), absl::StrCat(path, "[\"", k, "\"]")));
      }
      return out;
    }
    if (f->is_repeated() && v.is_array()) {
      if (!message) return v;
      json out = json::array();
      for (size_t i = 0; i < v.size(); ++i) {
        PLINTH_ASSIGN_OR_RETURN(json item, Message(v[i], f->message_type(), absl::StrCat(path, "[", i, "]")));
        out.push_back(std::move(item));
      }
      return out;
    }
    return message ? Message(v, f->message_type(), path) : v;
  }

  absl::StatusOr<json> ValueOrRef(const json& v, const Descriptor*, const std::string& path) {
    const json* from = nullptr;
    if (auto it = v.find("valueFrom"); it != v.end() && it->is_object()) from = &*it;
    if (auto it = v.find("value_from"); it != v.end() && it->is_object()) from = &*it;
    if (from == nullptr) {
      auto it = v.find("value");
      return it == v.end() ? json(nullptr) : *it;
    }
    Reference r;
    r.kind = from->value("kind", "");
    r.env = from->value("env", "");
    if (r.env.empty()) r.env = m_.env;
    r.name = from->value("name", "");
    r.field_path = from->value("fieldPath", from->value("field_path", ""));
    r.source_path = path;
    r.type = "value_from";
    auto resolved = resolve_(r);
    if (!resolved.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(path, ": cannot resolve the reference to ", r.kind, "/",
                                                        r.name, " in ", r.env, " (", r.field_path,
                                                        "): ", resolved.status().message()));
    }
    return *resolved;
  }

  const Manifest& m_;
  const ReferenceResolver& resolve_;
};

}  // namespace

const json* JsonAtPath(const json& root, absl::string_view path) {
  const json* cur = &root;
  for (absl::string_view part : absl::StrSplit(path, '.', absl::SkipEmpty())) {
    // "subnets[0]" parts: a name, then indexes.
    size_t bracket = part.find('[');
    std::string name(part.substr(0, bracket));
    if (!name.empty()) {
      if (!cur->is_object() || !cur->contains(name)) return nullptr;
      cur = &(*cur)[name];
    }
    while (bracket != absl::string_view::npos) {
      size_t close = part.find(']', bracket);
      if (close == absl::string_view::npos) return nullptr;
      size_t index;
      if (!absl::SimpleAtoi(part.substr(bracket + 1, close - bracket - 1), &index)) return nullptr;
      if (!cur->is_array() || index >= cur->size()) return nullptr;
      cur = &(*cur)[index];
      bracket = part.find('[', close);
    }
  }
  return cur;
}

absl::StatusOr<json> ToModuleVariables(const Manifest& m, const KindCatalog& catalog,
                                       const ReferenceResolver& resolve) {
  const Kind* kind = catalog.Find(m.api_version, m.kind);
  if (kind == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown kind ", m.api_version, " ", m.kind));
  Converter c(m, resolve);
  json metadata = m.body.value("metadata", json::object());
  json spec = m.body.value("spec", json::object());
  PLINTH_ASSIGN_OR_RETURN(json md, c.Message(metadata, kind->metadata, "metadata"));
  PLINTH_ASSIGN_OR_RETURN(json sp, c.Message(spec, kind->spec, "spec"));
  return json{{"metadata", std::move(md)}, {"spec", std::move(sp)}};
}

}  // namespace plinth::manifest
