#include "plinth/manifest/kind_catalog.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.pb.h"
#include "plinth/core/suggest.h"
#include "plinth/manifest/descriptor_util.h"

extern const unsigned char plinth_builtin_kinds[];
extern const std::size_t plinth_builtin_kinds_size;

namespace plinth::manifest {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

struct KindCatalog::Pool {
  google::protobuf::SimpleDescriptorDatabase database;
  std::unique_ptr<google::protobuf::DescriptorPool> pool;
  std::unique_ptr<google::protobuf::DynamicMessageFactory> factory;
};

namespace {

// (buf.validate.field).string.const
const std::vector<int> kBufValidateStringConst = {1159, 14, 1};

class ErrorCollector : public google::protobuf::DescriptorPool::ErrorCollector {
 public:
  void AddError(const std::string& filename, const std::string& element_name,
                const google::protobuf::Message*, ErrorLocation,
                const std::string& message) override {
    if (errors_.size() < 5) errors_.push_back(absl::StrCat(filename, ": ", element_name, ": ", message));
  }
  std::string Text() const { return absl::StrJoin(errors_, "; "); }

 private:
  std::vector<std::string> errors_;
};

const FieldDescriptor* FieldOfType(const Descriptor* d, const char* name,
                                   FieldDescriptor::Type type) {
  const FieldDescriptor* f = d->FindFieldByName(name);
  if (f == nullptr || f->type() != type || f->is_repeated()) return nullptr;
  return f;
}

bool IsKrm(const Descriptor* d) {
  return FieldOfType(d, "api_version", FieldDescriptor::TYPE_STRING) &&
         FieldOfType(d, "kind", FieldDescriptor::TYPE_STRING) &&
         FieldOfType(d, "metadata", FieldDescriptor::TYPE_MESSAGE) &&
         FieldOfType(d, "spec", FieldDescriptor::TYPE_MESSAGE) &&
         FieldOfType(d, "status", FieldDescriptor::TYPE_MESSAGE);
}

std::string ApiVersionOf(const Descriptor* d) {
  if (auto v = RawStringOption(d->FindFieldByName("api_version"), kBufValidateStringConst)) {
    return *v;
  }
  std::vector<std::string> parts = absl::StrSplit(d->file()->package(), '.');
  if (parts.size() >= 2 && parts.back().size() >= 2 && parts.back()[0] == 'v' &&
      absl::ascii_isdigit(parts.back()[1])) {
    std::string version = parts.back();
    parts.pop_back();
    return absl::StrCat(absl::StrJoin(parts, "."), "/", version);
  }
  return std::string(d->file()->package());
}

std::string ProviderOf(absl::string_view api_version) {
  absl::string_view group = api_version.substr(0, api_version.find('/'));
  return std::string(group.substr(0, group.find('.')));
}

// Spec paths use JSON names, as manifests are written; output paths use proto
// names, as engines report outputs (status.outputs.vpc_id).
void Flatten(const Descriptor* d, const std::string& prefix, int depth, bool json_names,
             std::set<const Descriptor*>& on_path, std::vector<KindField>& out,
             const RuleIndex& rules, std::vector<UncheckedKindRule>* unchecked) {
  if (d == nullptr || depth > 8 || on_path.count(d)) return;
  on_path.insert(d);
  if (unchecked != nullptr) {
    if (const MessageRules* m = rules.Message(d)) {
      for (const auto& u : m->unchecked) {
        unchecked->push_back({prefix.empty() ? "spec" : "spec." + prefix, u.id, u.expression});
      }
    }
  }
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    KindField field;
    const std::string& name = json_names ? f->json_name() : f->name();
    field.path = prefix.empty() ? name : absl::StrCat(prefix, ".", name);
    field.type = FieldTypeName(f);
    field.repeated = f->is_repeated() && !f->is_map();
    field.description = Comment(f);
    if (f->type() == FieldDescriptor::TYPE_ENUM) {
      for (int v = 0; v < f->enum_type()->value_count(); ++v) {
        field.enum_values.push_back(f->enum_type()->value(v)->name());
      }
    }
    bool recurse = false;
    if (const FieldRules* r = rules.Field(f)) {
      field.rules = r->Describe();
      if (unchecked != nullptr) {
        for (const auto& u : r->unchecked) unchecked->push_back({"spec." + field.path, u.id, u.expression});
      }
    }
    if (f->type() == FieldDescriptor::TYPE_MESSAGE && !f->is_map()) {
      if (IsValueOrRef(f->message_type())) {
        field.reference = true;
        ReferenceDefault defaults = ReferenceDefaultOf(f);
        field.reference_kind = defaults.kind;
        field.reference_field_path = defaults.field_path;
      } else if (f->message_type()->file()->package() != "google.protobuf") {
        recurse = true;
      }
    }
    std::string child_prefix = field.path + (field.repeated ? "[]" : "");
    out.push_back(std::move(field));
    if (recurse) {
      Flatten(f->message_type(), child_prefix, depth + 1, json_names, on_path, out, rules, unchecked);
    }
  }
  on_path.erase(d);
}

// The kind enum reached from the metadata's relationships (Planton's
// CloudResourceKind, or plinth's copy of it) lists Planton's kinds.
bool InPlantonApi(const Kind& kind) {
  const FieldDescriptor* rel = kind.metadata->FindFieldByName("relationships");
  if (rel == nullptr || rel->message_type() == nullptr) return false;
  const FieldDescriptor* k = rel->message_type()->FindFieldByName("kind");
  if (k == nullptr || !IsKindEnum(k->enum_type())) return false;
  return k->enum_type()->FindValueByName(kind.kind) != nullptr;
}

}  // namespace

KindCatalog::KindCatalog() = default;
KindCatalog::~KindCatalog() = default;

absl::StatusOr<std::unique_ptr<KindCatalog>> KindCatalog::CreateWithBuiltins() {
  auto catalog = std::make_unique<KindCatalog>();
  auto loaded = catalog->LoadDescriptorSet(
      absl::string_view(reinterpret_cast<const char*>(plinth_builtin_kinds),
                       plinth_builtin_kinds_size),
      "builtin");
  if (!loaded.ok()) return loaded.status();
  return catalog;
}

absl::StatusOr<int> KindCatalog::LoadDescriptorSetFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("kinds descriptor set ", path, ": cannot read the file"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return LoadDescriptorSet(buffer.str(), path);
}

absl::StatusOr<int> KindCatalog::LoadDescriptorSet(absl::string_view bytes, std::string origin) {
  google::protobuf::FileDescriptorSet set;
  if (!set.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) || set.file_size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kinds descriptor set ", origin,
        ": not a FileDescriptorSet (write one with protoc --include_imports --descriptor_set_out)"));
  }
  auto pool = std::make_unique<Pool>();
  for (const auto& file : set.file()) {
    if (!pool->database.Add(file)) {
      return absl::InvalidArgumentError(
          absl::StrCat("kinds descriptor set ", origin, ": file ", file.name(), " is listed twice"));
    }
  }
  ErrorCollector errors;
  pool->pool = std::make_unique<google::protobuf::DescriptorPool>(&pool->database, &errors);
  pool->factory = std::make_unique<google::protobuf::DynamicMessageFactory>(pool->pool.get());

  int added = 0;
  for (const auto& file_proto : set.file()) {
    const google::protobuf::FileDescriptor* file = pool->pool->FindFileByName(file_proto.name());
    if (file == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("kinds descriptor set ", origin, ": file ",
                                                     file_proto.name(), " does not build: ",
                                                     errors.Text()));
    }
    std::vector<const Descriptor*> messages;
    for (int i = 0; i < file->message_type_count(); ++i) messages.push_back(file->message_type(i));
    for (const Descriptor* d : messages) {
      if (!IsKrm(d)) continue;
      auto kind = std::make_unique<Kind>();
      kind->api_version = ApiVersionOf(d);
      kind->kind = RawStringOption(d->FindFieldByName("kind"), kBufValidateStringConst)
                       .value_or(std::string(d->name()));
      kind->provider = ProviderOf(kind->api_version);
      kind->description = Comment(d);
      kind->origin = origin;
      kind->message = d;
      kind->metadata = d->FindFieldByName("metadata")->message_type();
      kind->spec = d->FindFieldByName("spec")->message_type();
      const Descriptor* status = d->FindFieldByName("status")->message_type();
      if (const FieldDescriptor* outputs = status->FindFieldByName("outputs");
          outputs != nullptr && outputs->type() == FieldDescriptor::TYPE_MESSAGE) {
        kind->outputs = outputs->message_type();
      }
      kind->factory = pool->factory.get();
      std::set<const Descriptor*> on_path;
      Flatten(kind->spec, "", 0, /*json_names=*/true, on_path, kind->spec_fields, rules_,
              &kind->unchecked_rules);
      on_path.clear();
      if (kind->outputs) {
        Flatten(kind->outputs, "", 0, /*json_names=*/false, on_path, kind->output_fields, rules_,
                nullptr);
      }
      kind->in_planton_api = InPlantonApi(*kind);
      auto key = std::make_pair(kind->api_version, kind->kind);
      kinds_[key] = std::move(kind);
      ++added;
    }
  }
  if (added == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kinds descriptor set ", origin,
        ": holds no kind (a message with fields api_version, kind, metadata, spec, status)"));
  }
  pools_.push_back(std::move(pool));
  return added;
}

std::vector<const google::protobuf::DescriptorPool*> KindCatalog::descriptor_pools() const {
  std::vector<const google::protobuf::DescriptorPool*> out;
  for (auto it = pools_.rbegin(); it != pools_.rend(); ++it) out.push_back((*it)->pool.get());
  return out;
}

const Kind* KindCatalog::Find(absl::string_view api_version, absl::string_view kind) const {
  auto it = kinds_.find(std::make_pair(std::string(api_version), std::string(kind)));
  return it == kinds_.end() ? nullptr : it->second.get();
}

std::vector<const Kind*> KindCatalog::FindByName(absl::string_view kind) const {
  std::vector<const Kind*> out;
  for (const auto& [key, k] : kinds_) {
    if (key.second == kind) out.push_back(k.get());
  }
  return out;
}

std::vector<const Kind*> KindCatalog::List(absl::string_view provider) const {
  std::vector<const Kind*> out;
  for (const auto& [key, k] : kinds_) {
    if (provider.empty() || k->provider == provider) out.push_back(k.get());
  }
  std::sort(out.begin(), out.end(), [](const Kind* a, const Kind* b) {
    return std::tie(a->provider, a->kind, a->api_version) <
           std::tie(b->provider, b->kind, b->api_version);
  });
  return out;
}

size_t KindCatalog::UncheckedRuleCount() const {
  size_t n = 0;
  for (const auto& [key, k] : kinds_) n += k->unchecked_rules.size();
  return n;
}

std::string KindCatalog::Suggest(absl::string_view kind) const {
  std::vector<std::string> names;
  for (const auto& [key, k] : kinds_) names.push_back(key.second);
  return core::ClosestMatch(kind, names);
}

}  // namespace plinth::manifest
