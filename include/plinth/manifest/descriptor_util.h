// Small helpers over protobuf descriptors shared by the kinds catalog and the
// spec validator.
#ifndef PLINTH_MANIFEST_DESCRIPTOR_UTIL_H_
#define PLINTH_MANIFEST_DESCRIPTOR_UTIL_H_

#include <optional>
#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"

namespace plinth::manifest {

// True for a reference-or-value message: one with a `value_from` message
// field whose type has `kind`, `name` and `field_path`, and no fields but
// `value` and `value_from` (StringValueOrRef, plinth's and Planton's alike).
bool IsValueOrRef(const google::protobuf::Descriptor* d);

// True for a message that is not a reference-or-value but has a `value_from`
// reference among other fields (Planton's EnvVar: name, and value or
// valueFrom): a module gets the resolved value as `value`.
bool HasReferenceField(const google::protobuf::Descriptor* d);

// The string found by walking the raw bytes of `field`'s options through the
// given field numbers, e.g. {1159, 14, 1} for (buf.validate.field).string.const.
// Works whether or not the option's proto is linked into this binary.
std::optional<std::string> RawStringOption(const google::protobuf::FieldDescriptor* field,
                                           const std::vector<int>& path);

// The default of a reference-or-value field, from Planton's foreignkey
// options (default_kind = 200001, an enum value, and default_kind_field_path
// = 200002), which plinth's catalog declares with the same numbers. Empty
// strings when the field has none.
struct ReferenceDefault {
  std::string kind;        // "AwsVpc"
  std::string field_path;  // "status.outputs.vpc_id"
};
ReferenceDefault ReferenceDefaultOf(const google::protobuf::FieldDescriptor* field);

// True when `e` is the kind enum (Planton's CloudResourceKind, or plinth's
// copy of it): a field of that type names a kind, and any kind of the catalog
// is accepted there by name.
bool IsKindEnum(const google::protobuf::EnumDescriptor* e);

// "string", "int64", "enum", "message", "map<string, string>" ...
std::string FieldTypeName(const google::protobuf::FieldDescriptor* field);

// Leading comment of a field or message, trimmed; "" without source info.
std::string Comment(const google::protobuf::FieldDescriptor* field);
std::string Comment(const google::protobuf::Descriptor* message);

}  // namespace plinth::manifest

#endif  // PLINTH_MANIFEST_DESCRIPTOR_UTIL_H_
