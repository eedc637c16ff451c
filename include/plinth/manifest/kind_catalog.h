// The kinds catalog: every kind of cloud resource plinth knows, each backed by
// a protobuf message in KRM shape (fields api_version, kind, metadata, spec,
// status).
//
// The built-in kinds (proto/plinth/kinds) are embedded as a FileDescriptorSet
// and loaded by the same code as an operator's --kinds-descriptor-set files:
//
//   auto catalog = KindCatalog::CreateWithBuiltins();
//   PLINTH_RETURN_IF_ERROR((*catalog)->LoadDescriptorSetFile("planton.pb"));
//   const Kind* vpc = (*catalog)->Find("aws.planton.dev/v1", "AwsVpc");
//
// A kind's apiVersion comes from the buf.validate `const` string rule on its
// api_version field; without one it is "<package minus version>/<version>".
// Loading a kind with the same apiVersion and kind as an existing one replaces
// it.
//
// Thread-safety: Load* must finish before the catalog is shared; afterwards
// every const method is safe to call from any thread.
#ifndef PLINTH_MANIFEST_KIND_CATALOG_H_
#define PLINTH_MANIFEST_KIND_CATALOG_H_

#include <map>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor_database.h"
#include "google/protobuf/dynamic_message.h"
#include "plinth/manifest/field_rules.h"

namespace plinth::manifest {

// One field of a kind's spec or outputs, flattened to a dotted path.
struct KindField {
  std::string path;  // JSON names, "[]" after repeated messages: "ingress[].fromPort"
  std::string type;  // "string", "int32", "message", "enum", "map<string, string>" ...
  bool repeated = false;
  std::string description;
  std::vector<std::string> enum_values;
  bool reference = false;      // {value: X} or {valueFrom: {...}}
  std::string reference_kind;  // default kind of a reference (foreignkey default_kind)
  std::string reference_field_path;  // its default fieldPath (default_kind_field_path)
  std::vector<std::string> rules;    // buf.validate rules plinth checks, as shown by explain
};

// A validation rule of a kind that plinth does not evaluate (CEL, or a rule
// type it does not implement), with where it sits.
struct UncheckedKindRule {
  std::string path;  // "spec", "spec.ingress[]", "spec.cidrBlock"
  std::string id;
  std::string expression;
};

struct Kind {
  std::string api_version;
  std::string kind;
  std::string provider;  // first label of the apiVersion group: "aws"
  std::string description;
  std::string origin;  // "builtin" or the descriptor-set path
  // Owned by the catalog; valid for its lifetime.
  const google::protobuf::Descriptor* message = nullptr;
  const google::protobuf::Descriptor* metadata = nullptr;
  const google::protobuf::Descriptor* spec = nullptr;
  const google::protobuf::Descriptor* outputs = nullptr;  // status.outputs; may be null
  google::protobuf::MessageFactory* factory = nullptr;
  std::vector<KindField> spec_fields;
  std::vector<KindField> output_fields;
  // Rules of the spec (and the messages under it) that are not evaluated.
  std::vector<UncheckedKindRule> unchecked_rules;
  // Whether Planton's public API has this kind (its name is a value of the
  // kind enum); false for plinth's own kinds and other vendors' sets.
  bool in_planton_api = false;
};

class KindCatalog {
 public:
  KindCatalog();
  ~KindCatalog();
  KindCatalog(const KindCatalog&) = delete;
  KindCatalog& operator=(const KindCatalog&) = delete;

  // A catalog holding the built-in kinds.
  static absl::StatusOr<std::unique_ptr<KindCatalog>> CreateWithBuiltins();

  // Adds every KRM-shaped message of a serialized FileDescriptorSet. Returns
  // INVALID_ARGUMENT naming `origin` if the bytes are not a descriptor set,
  // a file does not build, or the set holds no kind. Returns the number of
  // kinds added or replaced.
  absl::StatusOr<int> LoadDescriptorSet(absl::string_view bytes, std::string origin);
  // Same, reading the file at `path` (NOT_FOUND if it cannot be read).
  absl::StatusOr<int> LoadDescriptorSetFile(const std::string& path);

  // nullptr when unknown.
  const Kind* Find(absl::string_view api_version, absl::string_view kind) const;
  // Every kind with this name (more than one only when loaded sets disagree
  // on the apiVersion).
  std::vector<const Kind*> FindByName(absl::string_view kind) const;
  // Sorted by provider, then kind. Empty provider means all.
  std::vector<const Kind*> List(absl::string_view provider = "") const;
  // Closest kind name to `kind` (edit distance), for "did you mean"; may be "".
  std::string Suggest(absl::string_view kind) const;
  size_t size() const { return kinds_.size(); }
  // Rules that are not evaluated, over every kind.
  size_t UncheckedRuleCount() const;
  // Decoded buf.validate rules, shared by every validation against this catalog.
  const RuleIndex& rules() const { return rules_; }
  // The descriptor pools of every loaded set, newest first (a later set's
  // kinds replace an earlier one's); for server reflection.
  std::vector<const google::protobuf::DescriptorPool*> descriptor_pools() const;

 private:
  struct Pool;
  std::vector<std::unique_ptr<Pool>> pools_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<Kind>> kinds_;
  RuleIndex rules_;
};

}  // namespace plinth::manifest

#endif  // PLINTH_MANIFEST_KIND_CATALOG_H_
