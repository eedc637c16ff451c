#include "plinth/manifest/descriptor_util.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/unknown_field_set.h"

namespace plinth::manifest {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

bool IsValueOrRef(const Descriptor* d) {
  if (d == nullptr) return false;
  const FieldDescriptor* from = d->FindFieldByName("value_from");
  if (from == nullptr || from->type() != FieldDescriptor::TYPE_MESSAGE) return false;
  const Descriptor* ref = from->message_type();
  if (ref->FindFieldByName("kind") == nullptr || ref->FindFieldByName("name") == nullptr ||
      ref->FindFieldByName("field_path") == nullptr) {
    return false;
  }
  // Only `value` and `value_from`: a message with more (Planton's EnvVar has
  // name, value, value_from, ...) carries a reference but is not one.
  for (int i = 0; i < d->field_count(); ++i) {
    if (d->field(i)->name() != "value" && d->field(i)->name() != "value_from") return false;
  }
  return true;
}

bool HasReferenceField(const Descriptor* d) {
  if (d == nullptr || IsValueOrRef(d)) return false;
  const FieldDescriptor* from = d->FindFieldByName("value_from");
  if (from == nullptr || from->type() != FieldDescriptor::TYPE_MESSAGE || from->is_repeated()) return false;
  const Descriptor* ref = from->message_type();
  return ref->FindFieldByName("kind") != nullptr && ref->FindFieldByName("name") != nullptr &&
         ref->FindFieldByName("field_path") != nullptr;
}

std::optional<std::string> RawStringOption(const FieldDescriptor* field,
                                           const std::vector<int>& path) {
  std::string bytes = field->options().SerializeAsString();
  for (size_t depth = 0; depth < path.size(); ++depth) {
    google::protobuf::UnknownFieldSet set;
    if (!set.ParseFromString(bytes)) return std::nullopt;
    bool found = false;
    // The last occurrence wins, as in protobuf parsing.
    for (int i = set.field_count() - 1; i >= 0; --i) {
      const auto& f = set.field(i);
      if (f.number() == path[depth] &&
          f.type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
        bytes = f.length_delimited();
        found = true;
        break;
      }
    }
    if (!found) return std::nullopt;
  }
  return bytes;
}

ReferenceDefault ReferenceDefaultOf(const FieldDescriptor* field) {
  ReferenceDefault out;
  google::protobuf::UnknownFieldSet set;
  if (!set.ParseFromString(field->options().SerializeAsString())) return out;
  for (int i = 0; i < set.field_count(); ++i) {
    const auto& f = set.field(i);
    if (f.number() == 200001 && f.type() == google::protobuf::UnknownField::TYPE_VARINT) {
      // The option's type is the kind enum of the descriptor's own pool.
      const auto* pool = field->file()->pool();
      const google::protobuf::EnumDescriptor* e = nullptr;
      if (const auto* options = pool->FindMessageTypeByName("google.protobuf.FieldOptions")) {
        if (const FieldDescriptor* ext = pool->FindExtensionByNumber(options, 200001)) e = ext->enum_type();
      }
      if (e != nullptr) {
        if (const auto* v = e->FindValueByNumber(static_cast<int>(f.varint()))) out.kind = v->name();
      }
    }
    if (f.number() == 200002 && f.type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      out.field_path = f.length_delimited();
    }
  }
  return out;
}

bool IsKindEnum(const google::protobuf::EnumDescriptor* e) {
  return e != nullptr && e->name() == "CloudResourceKind";
}

std::string FieldTypeName(const FieldDescriptor* field) {
  if (field->is_map()) {
    return absl::StrCat("map<", FieldTypeName(field->message_type()->map_key()), ", ",
                        FieldTypeName(field->message_type()->map_value()), ">");
  }
  switch (field->type()) {
    case FieldDescriptor::TYPE_MESSAGE:
    case FieldDescriptor::TYPE_GROUP:
      if (IsValueOrRef(field->message_type())) {
        const FieldDescriptor* value = field->message_type()->FindFieldByName("value");
        return absl::StrCat(value ? FieldTypeName(value) : "value", " | valueFrom");
      }
      if (field->message_type()->file()->package() == "google.protobuf") {
        return std::string(field->message_type()->full_name());
      }
      return "message";
    case FieldDescriptor::TYPE_ENUM:
      return "enum";
    default:
      return field->type_name();
  }
}

namespace {

std::string TrimComment(const std::string& raw) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(raw, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty()) lines.emplace_back(line);
  }
  return absl::StrJoin(lines, " ");
}

}  // namespace

std::string Comment(const FieldDescriptor* field) {
  google::protobuf::SourceLocation loc;
  if (!field->GetSourceLocation(&loc)) return "";
  return TrimComment(loc.leading_comments);
}

std::string Comment(const Descriptor* message) {
  google::protobuf::SourceLocation loc;
  if (!message->GetSourceLocation(&loc)) return "";
  return TrimComment(loc.leading_comments);
}

}  // namespace plinth::manifest
