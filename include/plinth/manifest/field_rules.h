// The buf.validate (protovalidate) rules of a kind's fields, read from a
// descriptor's options and checked against a manifest's JSON.
//
// Rules are decoded from the options' bytes by field number, so descriptor
// sets built against any protovalidate version (Planton's API, plinth's own
// catalog) read the same way. What plinth evaluates: required, ignore, the
// scalar rules (const, lt/lte/gt/gte, in/not_in for every number type; const,
// len/min_len/max_len, min_bytes/max_bytes, pattern (RE2), prefix, suffix,
// contains, in/not_in, email, hostname, ip, uri for strings), enum const /
// defined_only / in / not_in, repeated min_items / max_items / unique / items,
// map min_pairs / max_pairs / keys / values, and oneof required. CEL rules and
// any rule not in that list are kept as "not evaluated": `plinth explain`
// lists them and plinthd logs their count, so nothing passes as checked that
// was not.
//
//   const FieldRules* rules = index.Field(field_descriptor);
//   if (rules) PLINTH_RETURN_IF_ERROR(CheckValue(*rules, field_descriptor, value, "spec.region"));
#ifndef PLINTH_MANIFEST_FIELD_RULES_H_
#define PLINTH_MANIFEST_FIELD_RULES_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/descriptor.h"
#include "nlohmann/json.hpp"

namespace re2 {
class RE2;
}

namespace plinth::manifest {

// A rule plinth reads but does not evaluate (a CEL expression, or a rule kind
// it does not implement).
struct UncheckedRule {
  std::string id;          // CEL rule id, or the rule's name ("string.uuid")
  std::string expression;  // CEL expression; "" for other rules
};

struct FieldRules {
  enum class Type { kNone, kNumber, kString, kEnum, kRepeated, kMap };
  enum class Ignore { kUnspecified = 0, kIfZeroValue = 1, kAlways = 3 };

  bool required = false;
  Ignore ignore = Ignore::kUnspecified;
  Type type = Type::kNone;

  // Numbers (any of protovalidate's float/double/int/uint/sint/fixed rules).
  std::optional<long double> num_const, lt, lte, gt, gte;
  std::vector<long double> num_in, num_not_in;

  // Strings.
  std::optional<std::string> str_const, prefix, suffix, contains;
  std::optional<uint64_t> len, min_len, max_len, min_bytes, max_bytes;
  std::vector<std::string> str_in, str_not_in;
  std::string pattern;
  std::shared_ptr<re2::RE2> pattern_re;  // compiled once; null when no pattern
  bool email = false, hostname = false, ip = false, uri = false;

  // Enums.
  std::optional<int32_t> enum_const;
  bool defined_only = false;
  std::vector<int32_t> enum_in, enum_not_in;

  // Repeated fields and maps.
  std::optional<uint64_t> min_items, max_items, min_pairs, max_pairs;
  bool unique = false;
  std::shared_ptr<FieldRules> items, keys, values;

  std::vector<UncheckedRule> unchecked;

  // Every rule this holds, in the words `plinth explain` shows ("required",
  // "string.min_len = 1", ...).
  std::vector<std::string> Describe() const;
};

struct MessageRules {
  struct Oneof {
    std::vector<std::string> fields;
    bool required = false;
  };
  std::vector<Oneof> oneofs;
  std::vector<UncheckedRule> unchecked;
};

// Decodes (buf.validate.field) from a field's options; nullptr when it has none.
std::shared_ptr<const FieldRules> ParseFieldRules(const google::protobuf::FieldDescriptor* field);
// Decodes (buf.validate.message); nullptr when it has none.
std::shared_ptr<const MessageRules> ParseMessageRules(const google::protobuf::Descriptor* message);
// (buf.validate.oneof).required.
bool OneofRequired(const google::protobuf::OneofDescriptor* oneof);

// What validation needs of one message, decoded once from its options.
struct MessageInfo {
  // The fields that have rules, with them.
  std::vector<std::pair<const google::protobuf::FieldDescriptor*, std::shared_ptr<const FieldRules>>> ruled_fields;
  std::shared_ptr<const MessageRules> rules;  // null when none
  std::vector<const google::protobuf::OneofDescriptor*> required_oneofs;
};

// Rules by descriptor, decoded once (a message's on first use). Thread-safe:
// lookups take a shared lock, the first use of a message an exclusive one.
class RuleIndex {
 public:
  const MessageInfo& Of(const google::protobuf::Descriptor* message) const;
  const FieldRules* Field(const google::protobuf::FieldDescriptor* field) const;
  const MessageRules* Message(const google::protobuf::Descriptor* message) const {
    return Of(message).rules.get();
  }

 private:
  mutable std::shared_mutex mu_;
  mutable std::unordered_map<const google::protobuf::Descriptor*, std::unique_ptr<MessageInfo>> messages_;
};

// Checks one field of a message whose JSON object is `object` (the field may
// be absent: implicit-presence scalars are then checked as their zero value,
// as protovalidate does). `path` is the field's path as shown in errors.
absl::Status CheckFieldRules(const FieldRules& rules, const google::protobuf::FieldDescriptor* field,
                             const nlohmann::json* value, const std::string& path);

// Checks the message-level oneof rules and (buf.validate.oneof).required of
// `d` against the keys present in `object`.
absl::Status CheckMessageRules(const RuleIndex& index, const google::protobuf::Descriptor* d,
                               const nlohmann::json& object, const std::string& path);

// Looks a field's JSON value up by proto name or JSON name; nullptr when absent
// or null.
const nlohmann::json* FindFieldValue(const nlohmann::json& object,
                                     const google::protobuf::FieldDescriptor* field);

}  // namespace plinth::manifest

#endif  // PLINTH_MANIFEST_FIELD_RULES_H_
