#include "plinth/manifest/module_variables.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
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
    if (HasReferenceField(d)) {
      // {name: X, valueFrom: {...}}: the module gets {name: X, value: <resolved>}.
      for (const char* key : {"valueFrom", "value_from"}) {
        auto it = v.find(key);
        if (it == v.end() || !it->is_object()) continue;
        PLINTH_ASSIGN_OR_RETURN(json value, ValueOrRef(json{{"valueFrom", *it}}, d, path));
        json rest = v;
        rest.erase(key);
        PLINTH_ASSIGN_OR_RETURN(out, Message(rest, d, path));
        out["value"] = std::move(value);
        return out;
      }
    }
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

namespace {

// vpc_id, vpcId and VpcID all name the same field.
std::string FoldKey(absl::string_view key) {
  std::string out;
  for (char c : key) {
    if (c != '_' && c != '-') out += absl::ascii_tolower(c);
  }
  return out;
}

std::string KeysOf(const json& object) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : object.items()) keys.push_back(k);
  if (keys.empty()) return "none";
  return absl::StrJoin(keys, ", ");
}

}  // namespace

absl::StatusOr<const json*> LookupReferencePath(const json& manifest, const json& outputs,
                                                absl::string_view field_path, std::string* canonical) {
  std::vector<std::string> parts = absl::StrSplit(field_path, '.', absl::SkipEmpty());
  const json* cur = nullptr;
  size_t first = 0;
  std::string found;
  if (parts.size() >= 3 && parts[0] == "status" && parts[1] == "outputs") {
    if (!outputs.is_object() || outputs.empty()) return absl::NotFoundError("it has no outputs yet (deploy it first)");
    cur = &outputs;
    first = 2;
    found = "status.outputs";
  } else if (parts.size() >= 2 && (parts[0] == "metadata" || parts[0] == "spec")) {
    auto it = manifest.find(parts[0]);
    if (it == manifest.end() || !it->is_object()) return absl::NotFoundError(absl::StrCat("it has no ", parts[0]));
    cur = &*it;
    first = 1;
    found = parts[0];
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "fieldPath \"", field_path, "\" is not one of status.outputs.<output>, metadata.<field>, spec.<field>"));
  }
  for (size_t i = first; i < parts.size(); ++i) {
    absl::string_view part = parts[i];
    size_t bracket = part.find('[');
    std::string name(part.substr(0, bracket));
    if (!name.empty()) {
      if (!cur->is_object()) return absl::NotFoundError(absl::StrCat(found, " is not a mapping"));
      const json* next = nullptr;
      std::string key;
      if (auto it = cur->find(name); it != cur->end()) {
        next = &*it;
        key = name;
      } else {
        for (const auto& [k, v] : cur->items()) {
          if (FoldKey(k) == FoldKey(name)) {
            next = &v;
            key = k;
            break;
          }
        }
      }
      if (next == nullptr) {
        if (found == "status.outputs") {
          return absl::InvalidArgumentError(absl::StrCat("it has no output ", name, " (outputs: ", KeysOf(*cur), ")"));
        }
        return absl::InvalidArgumentError(absl::StrCat("it has no ", found, ".", name, " (", found, " has: ", KeysOf(*cur), ")"));
      }
      cur = next;
      absl::StrAppend(&found, ".", key);
    }
    while (bracket != absl::string_view::npos) {
      size_t close = part.find(']', bracket);
      size_t index;
      if (close == absl::string_view::npos || !absl::SimpleAtoi(part.substr(bracket + 1, close - bracket - 1), &index)) {
        return absl::InvalidArgumentError(absl::StrCat("fieldPath \"", field_path, "\": bad index in ", part));
      }
      if (!cur->is_array() || index >= cur->size()) {
        return absl::NotFoundError(absl::StrCat(found, " has no item ", index));
      }
      cur = &(*cur)[index];
      absl::StrAppend(&found, "[", index, "]");
      bracket = part.find('[', close);
    }
  }
  // A literal of a reference-or-value field ({value: X}) gives X.
  if (found != "status.outputs" && !absl::StartsWith(found, "status.") && cur->is_object()) {
    if (cur->size() == 1 && cur->contains("value")) {
      cur = &(*cur)["value"];
    } else if (cur->contains("valueFrom") || cur->contains("value_from")) {
      return absl::InvalidArgumentError(absl::StrCat(found, " is itself a reference; refer to what it refers to"));
    }
  }
  if (canonical != nullptr) *canonical = found;
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
