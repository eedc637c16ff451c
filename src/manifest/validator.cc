#include "plinth/manifest/validator.h"

#include <cmath>
#include <limits>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/json_util.h"
#include "plinth/core/status_macros.h"
#include "plinth/core/suggest.h"
#include "plinth/manifest/descriptor_util.h"
#include "plinth/manifest/field_rules.h"
#include "plinth/manifest/names.h"

namespace plinth::manifest {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using nlohmann::json;

constexpr int kMaxDepth = 64;

std::string TypeOf(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "a list";
    case json::value_t::object: return "a mapping";
    default: return "a value";
  }
}

absl::Status Err(const std::string& path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

absl::Status Expect(const std::string& path, absl::string_view expected, const json& v) {
  return Err(path, absl::StrCat("expected ", expected, ", got ", TypeOf(v)));
}

std::string Join(const std::string& path, absl::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
}

// Integral value of a JSON number or numeric string, within [lo, hi].
absl::Status CheckInteger(const json& v, const std::string& path, long double lo, long double hi,
                          absl::string_view type) {
  long double x;
  if (v.is_number_integer()) {
    x = v.is_number_unsigned() ? static_cast<long double>(v.get<uint64_t>())
                               : static_cast<long double>(v.get<int64_t>());
  } else if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::floor(d) != d) return Err(path, absl::StrCat("expected an integer (", type, "), got ", d));
    x = d;
  } else if (v.is_string()) {
    int64_t i;
    uint64_t u;
    const std::string& s = v.get_ref<const std::string&>();
    if (absl::SimpleAtoi(s, &i)) {
      x = i;
    } else if (absl::SimpleAtoi(s, &u)) {
      x = u;
    } else {
      return Err(path, absl::StrCat("expected an integer (", type, "), got \"", absl::CEscape(s.substr(0, 40)), "\""));
    }
  } else {
    return Expect(path, absl::StrCat("an integer (", type, ")"), v);
  }
  if (x < lo || x > hi) {
    return Err(path, absl::StrCat("out of range for ", type));
  }
  return absl::OkStatus();
}

class Walker {
 public:
  explicit Walker(const KindCatalog* catalog)
      : catalog_(catalog), rules_(catalog != nullptr ? &catalog->rules() : &own_rules_) {}

  absl::Status Message(const json& v, const Descriptor* d, const std::string& path, int depth) {
    if (depth > kMaxDepth) return Err(path, "nested too deeply");
    if (v.is_null()) return absl::OkStatus();
    if (const std::string& full = d->full_name(); d->file()->package() == "google.protobuf") {
      return WellKnown(v, full, path);
    }
    if (!v.is_object()) return Expect(path, "a mapping", v);
    std::map<const google::protobuf::OneofDescriptor*, std::string> oneofs_seen;
    for (const auto& [key, item] : v.items()) {
      const FieldDescriptor* f = d->FindFieldByName(key);
      if (f == nullptr) {
        for (int i = 0; i < d->field_count() && f == nullptr; ++i) {
          if (d->field(i)->json_name() == key) f = d->field(i);
        }
      }
      std::string child = Join(path, key);
      if (f == nullptr) return UnknownField(d, key, child);
      if (const auto* oneof = f->real_containing_oneof(); oneof != nullptr && !item.is_null()) {
        auto [it, fresh] = oneofs_seen.emplace(oneof, key);
        if (!fresh) {
          return Err(child, absl::StrCat("cannot be set together with \"", it->second,
                                         "\" (only one of them may be given)"));
        }
      }
      absl::Status s = Field(item, f, child, depth);
      if (!s.ok()) return s;
    }
    // buf.validate rules of every field, present or not (an absent scalar is
    // checked as its zero value, as protovalidate does).
    for (const auto& [f, rules] : rules_->Of(d).ruled_fields) {
      std::string key = f->json_name();
      if (v.contains(f->name()) && !v.contains(key)) key = f->name();
      if (absl::Status s = CheckFieldRules(*rules, f, FindFieldValue(v, f), Join(path, key)); !s.ok()) {
        return s;
      }
    }
    if (absl::Status s = CheckMessageRules(*rules_, d, v, path); !s.ok()) return s;
    return absl::OkStatus();
  }

 private:
  absl::Status UnknownField(const Descriptor* d, const std::string& key, const std::string& path) {
    std::vector<std::string> names;
    for (int i = 0; i < d->field_count(); ++i) names.push_back(d->field(i)->json_name());
    std::string hint = core::ClosestMatch(key, names);
    if (!hint.empty()) return Err(path, absl::StrCat("unknown field (did you mean \"", hint, "\"?)"));
    if (names.size() <= 12) {
      return Err(path, absl::StrCat("unknown field (known fields: ", absl::StrJoin(names, ", "), ")"));
    }
    return Err(path, "unknown field");
  }

  bool KnownKind(const std::string& kind) const {
    return catalog_ == nullptr || !catalog_->FindByName(kind).empty();
  }

  absl::Status UnknownKind(const std::string& path, const std::string& kind) const {
    std::string hint = catalog_ != nullptr ? catalog_->Suggest(kind) : "";
    return Err(path, absl::StrCat("unknown kind \"", kind, "\"",
                                  hint.empty() ? "" : absl::StrCat(" (did you mean ", hint, "?)")));
  }

  // {value: X} or {valueFrom: {kind, env?, name, fieldPath}}; kind and
  // fieldPath may be left to the field's defaults (ReferenceDefaultOf).
  absl::Status ValueOrRef(const json& v, const std::string& path, const FieldDescriptor* via) {
    const json* from = nullptr;
    if (auto it = v.find("valueFrom"); it != v.end()) from = &*it;
    if (auto it = v.find("value_from"); it != v.end()) from = &*it;
    if (from == nullptr || from->is_null()) {
      const json* value = nullptr;
      if (auto it = v.find("value"); it != v.end() && !it->is_null()) value = &*it;
      if (value == nullptr || (value->is_string() && value->get_ref<const std::string&>().empty())) {
        return Err(path, "give a non-empty value or a valueFrom reference");
      }
      return absl::OkStatus();
    }
    std::string fpath = Join(path, "valueFrom");
    auto get = [&](const char* a, const char* b) -> std::string {
      for (const char* k : {a, b}) {
        if (auto it = from->find(k); it != from->end() && it->is_string()) return it->get<std::string>();
      }
      return "";
    };
    std::string kind = get("kind", "kind");
    const bool need_defaults = via != nullptr && (kind.empty() || get("fieldPath", "field_path").empty());
    ReferenceDefault defaults = need_defaults ? ReferenceDefaultOf(via) : ReferenceDefault{};
    if (kind.empty()) kind = defaults.kind;
    if (kind.empty()) return Err(Join(fpath, "kind"), "required (this field has no default kind)");
    if (!KnownKind(kind)) return UnknownKind(Join(fpath, "kind"), kind);
    absl::Status s = CheckResourceName(Join(fpath, "name"), get("name", "name"));
    if (!s.ok()) return s;
    if (std::string env = get("env", "env"); !env.empty()) {
      s = CheckName(Join(fpath, "env"), env);
      if (!s.ok()) return s;
    }
    if (get("fieldPath", "field_path").empty() && defaults.field_path.empty()) {
      return Err(Join(fpath, "fieldPath"), "required (e.g. status.outputs.vpc_id)");
    }
    return absl::OkStatus();
  }

  absl::Status Field(const json& v, const FieldDescriptor* f, const std::string& path, int depth) {
    if (v.is_null()) return absl::OkStatus();
    if (f->is_map()) {
      if (!v.is_object()) return Expect(path, "a mapping", v);
      const FieldDescriptor* key = f->message_type()->map_key();
      const FieldDescriptor* value = f->message_type()->map_value();
      for (const auto& [k, item] : v.items()) {
        std::string child = absl::StrCat(path, "[\"", absl::CEscape(k), "\"]");
        if (key->type() != FieldDescriptor::TYPE_STRING) {
          absl::Status s = Scalar(json(k), key, child);
          if (!s.ok()) return Err(child, "the key must be an integer or boolean");
        }
        if (item.is_null()) return Err(child, "a map value cannot be null");
        absl::Status s = Single(item, value, child, depth);
        if (!s.ok()) return s;
      }
      return absl::OkStatus();
    }
    if (f->is_repeated()) {
      if (!v.is_array()) return Expect(path, "a list", v);
      for (size_t i = 0; i < v.size(); ++i) {
        std::string child = absl::StrCat(path, "[", i, "]");
        if (v[i].is_null()) return Err(child, "a list item cannot be null");
        absl::Status s = Single(v[i], f, child, depth);
        if (!s.ok()) return s;
      }
      return absl::OkStatus();
    }
    return Single(v, f, path, depth);
  }

  absl::Status Single(const json& v, const FieldDescriptor* f, const std::string& path, int depth) {
    if (f->type() == FieldDescriptor::TYPE_MESSAGE || f->type() == FieldDescriptor::TYPE_GROUP) {
      PLINTH_RETURN_IF_ERROR(Message(v, f->message_type(), path, depth + 1));
      if (IsValueOrRef(f->message_type())) return ValueOrRef(v, path, f);
      return absl::OkStatus();
    }
    return Scalar(v, f, path);
  }

  absl::Status Scalar(const json& v, const FieldDescriptor* f, const std::string& path) {
    switch (f->type()) {
      case FieldDescriptor::TYPE_STRING:
        if (!v.is_string()) return Expect(path, "a string", v);
        return absl::OkStatus();
      case FieldDescriptor::TYPE_BYTES: {
        if (!v.is_string()) return Expect(path, "a base64 string", v);
        std::string out;
        if (!absl::Base64Unescape(v.get<std::string>(), &out) &&
            !absl::WebSafeBase64Unescape(v.get<std::string>(), &out)) {
          return Err(path, "expected base64 data");
        }
        return absl::OkStatus();
      }
      case FieldDescriptor::TYPE_BOOL:
        if (!v.is_boolean()) return Expect(path, "true or false", v);
        return absl::OkStatus();
      case FieldDescriptor::TYPE_INT32:
      case FieldDescriptor::TYPE_SINT32:
      case FieldDescriptor::TYPE_SFIXED32:
        return CheckInteger(v, path, std::numeric_limits<int32_t>::min(),
                            std::numeric_limits<int32_t>::max(), "int32");
      case FieldDescriptor::TYPE_UINT32:
      case FieldDescriptor::TYPE_FIXED32:
        return CheckInteger(v, path, 0, std::numeric_limits<uint32_t>::max(), "uint32");
      case FieldDescriptor::TYPE_INT64:
      case FieldDescriptor::TYPE_SINT64:
      case FieldDescriptor::TYPE_SFIXED64:
        return CheckInteger(v, path, std::numeric_limits<int64_t>::min(),
                            std::numeric_limits<int64_t>::max(), "int64");
      case FieldDescriptor::TYPE_UINT64:
      case FieldDescriptor::TYPE_FIXED64:
        return CheckInteger(v, path, 0, std::numeric_limits<uint64_t>::max(), "uint64");
      case FieldDescriptor::TYPE_FLOAT:
      case FieldDescriptor::TYPE_DOUBLE: {
        if (v.is_number()) return absl::OkStatus();
        double d;
        if (v.is_string() && (absl::SimpleAtod(v.get<std::string>(), &d) ||
                              v == "NaN" || v == "Infinity" || v == "-Infinity")) {
          return absl::OkStatus();
        }
        return Expect(path, "a number", v);
      }
      case FieldDescriptor::TYPE_ENUM: {
        const auto* e = f->enum_type();
        if (v.is_string() && IsKindEnum(e)) {
          // Names a kind: any kind of the catalog, also one Planton's enum lacks.
          const std::string& kind = v.get_ref<const std::string&>();
          if (catalog_ != nullptr ? KnownKind(kind) : e->FindValueByName(kind) != nullptr) {
            return absl::OkStatus();
          }
          return UnknownKind(path, kind);
        }
        if (v.is_string()) {
          if (e->FindValueByName(v.get<std::string>()) != nullptr) return absl::OkStatus();
        } else if (v.is_number_integer()) {
          if (e->FindValueByNumber(v.get<int>()) != nullptr || e->file()->syntax() == google::protobuf::FileDescriptor::SYNTAX_PROTO3) return absl::OkStatus();
        } else {
          return Expect(path, "an enum value name", v);
        }
        std::vector<std::string> names;
        for (int i = 0; i < e->value_count(); ++i) names.push_back(e->value(i)->name());
        return Err(path, absl::StrCat("unknown value ", v.dump(), " (one of: ",
                                      absl::StrJoin(names, ", "), ")"));
      }
      default:
        return Err(path, "unsupported field type");
    }
  }

  absl::Status WellKnown(const json& v, const std::string& full, const std::string& path) {
    if (full == "google.protobuf.Struct") {
      return v.is_object() ? absl::OkStatus() : Expect(path, "a mapping", v);
    }
    if (full == "google.protobuf.ListValue") {
      return v.is_array() ? absl::OkStatus() : Expect(path, "a list", v);
    }
    if (full == "google.protobuf.Value") return absl::OkStatus();
    if (full == "google.protobuf.Timestamp") {
      absl::Time t;
      std::string err;
      if (v.is_string() && absl::ParseTime(absl::RFC3339_full, v.get<std::string>(), &t, &err)) {
        return absl::OkStatus();
      }
      return Err(path, "expected an RFC 3339 time such as 2024-01-02T15:04:05Z");
    }
    if (full == "google.protobuf.Duration") {
      if (v.is_string() && !v.get<std::string>().empty() && v.get<std::string>().back() == 's') {
        double d;
        std::string s = v.get<std::string>();
        if (absl::SimpleAtod(s.substr(0, s.size() - 1), &d)) return absl::OkStatus();
      }
      return Err(path, "expected a duration in seconds such as \"1.5s\"");
    }
    // Wrappers, FieldMask, Any, Empty: protobuf's own parser checks them.
    return absl::OkStatus();
  }

  const KindCatalog* catalog_;
  RuleIndex own_rules_;
  const RuleIndex* rules_;
};

void FillDefaults(json& v, const Descriptor* d, int depth) {
  if (!v.is_object() || depth > kMaxDepth) return;
  for (auto& [key, item] : v.items()) {
    const FieldDescriptor* f = d->FindFieldByName(key);
    if (f == nullptr) {
      for (int i = 0; i < d->field_count() && f == nullptr; ++i) {
        if (d->field(i)->json_name() == key) f = d->field(i);
      }
    }
    if (f == nullptr || f->type() != FieldDescriptor::TYPE_MESSAGE || f->is_map()) continue;
    const Descriptor* type = f->message_type();
    auto visit = [&](json& one) {
      if (!IsValueOrRef(type)) return FillDefaults(one, type, depth + 1);
      if (!one.is_object()) return;
      json* from = nullptr;
      for (const char* k : {"valueFrom", "value_from"}) {
        if (auto it = one.find(k); it != one.end() && it->is_object()) from = &*it;
      }
      if (from == nullptr) return;
      auto empty = [&](const char* a, const char* b) {
        for (const char* k : {a, b}) {
          if (auto it = from->find(k); it != from->end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
            return false;
          }
        }
        return true;
      };
      if (!empty("kind", "kind") && !empty("fieldPath", "field_path")) return;
      ReferenceDefault defaults = ReferenceDefaultOf(f);
      if (!defaults.kind.empty() && empty("kind", "kind")) (*from)["kind"] = defaults.kind;
      if (!defaults.field_path.empty() && empty("fieldPath", "field_path")) (*from)["fieldPath"] = defaults.field_path;
    };
    if (f->is_repeated()) {
      if (item.is_array()) {
        for (json& one : item) visit(one);
      }
    } else {
      visit(item);
    }
  }
}

}  // namespace

void FillReferenceDefaults(json& value, const Descriptor* type) { FillDefaults(value, type, 0); }

absl::Status ValidateAgainstMessage(const json& value, const Descriptor* type,
                                    const std::string& path, const KindCatalog* catalog,
                                    google::protobuf::MessageFactory* factory) {
  Walker walker(catalog);
  absl::Status s = walker.Message(value, type, path, 0);
  if (!s.ok() || factory == nullptr || value.is_null()) return s;
  std::unique_ptr<google::protobuf::Message> message(factory->GetPrototype(type)->New());
  google::protobuf::util::JsonParseOptions options;
  // Unknown fields were refused by the walk above; enum names of the kind enum
  // may name kinds that only plinth has (not in Planton's enum).
  options.ignore_unknown_fields = true;
  auto parsed = google::protobuf::util::JsonStringToMessage(value.dump(), message.get(), options);
  if (!parsed.ok()) {
    return Err(path, absl::StrCat("rejected by the kind's schema: ", parsed.message().as_string()));
  }
  return absl::OkStatus();
}

}  // namespace plinth::manifest
