#include "plinth/manifest/manifest.h"

#include <set>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "plinth/core/status_macros.h"
#include "plinth/manifest/names.h"
#include "plinth/manifest/validator.h"
#include "plinth/manifest/yaml.h"

namespace plinth::manifest {
namespace {

using google::protobuf::FieldDescriptor;
using nlohmann::json;

absl::Status Prefixed(const std::string& where, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(where, ": ", s.message()));
}

absl::Status Bad(const std::string& where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
}

// Reads an optional string member; errors if it is present with another type.
absl::StatusOr<std::string> OptionalString(const json& object, const char* key,
                                           const std::string& path) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) return absl::InvalidArgumentError(absl::StrCat(path, ": expected a string"));
  return it->get<std::string>();
}

absl::Status CheckMetadataRules(const json& metadata) {
  if (auto it = metadata.find("labels"); it != metadata.end() && it->is_object()) {
    for (const auto& [k, v] : it->items()) {
      std::string path = absl::StrCat("metadata.labels[\"", k, "\"]");
      PLINTH_RETURN_IF_ERROR(CheckLabelKey(path, k));
      if (v.is_string()) PLINTH_RETURN_IF_ERROR(CheckLabelValue(path, v.get<std::string>()));
    }
  }
  if (auto it = metadata.find("relationships"); it != metadata.end() && it->is_array()) {
    for (size_t i = 0; i < it->size(); ++i) {
      const json& r = (*it)[i];
      if (!r.is_object()) continue;  // the message walk reports the type
      std::string path = absl::StrCat("metadata.relationships[", i, "]");
      PLINTH_ASSIGN_OR_RETURN(std::string name, OptionalString(r, "name", path + ".name"));
      PLINTH_RETURN_IF_ERROR(CheckResourceName(path + ".name", name));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Manifest> ValidateManifest(json doc, const std::string& where,
                                          const ManifestOptions& options,
                                          const KindCatalog& catalog) {
  if (!doc.is_object()) {
    return Bad(where, absl::StrCat("a manifest must be a mapping with apiVersion, kind, metadata "
                                   "and spec, got ",
                                   doc.is_array() ? "a list" : "a scalar"));
  }
  if (size_t bytes = doc.dump().size(); bytes > options.max_manifest_bytes) {
    return Bad(where, absl::StrCat("manifest is ", bytes, " bytes, over the limit of ",
                                   options.max_manifest_bytes, " bytes"));
  }
  for (const auto& [key, value] : doc.items()) {
    if (key != "apiVersion" && key != "kind" && key != "metadata" && key != "spec" &&
        key != "status") {
      return Bad(where, absl::StrCat(key, ": unknown top-level field (a manifest has apiVersion, "
                                          "kind, metadata, spec and status)"));
    }
  }
  Manifest m;
  auto api_version = OptionalString(doc, "apiVersion", "apiVersion");
  if (!api_version.ok()) return Prefixed(where, api_version.status());
  auto kind_name = OptionalString(doc, "kind", "kind");
  if (!kind_name.ok()) return Prefixed(where, kind_name.status());
  m.api_version = *api_version;
  m.kind = *kind_name;
  if (m.kind.empty()) return Bad(where, "kind: required");

  // Name early, so that later errors can say which resource they are about.
  json& metadata = doc["metadata"];
  if (metadata.is_null()) return Bad(where, "metadata: required (with at least a name)");
  if (!metadata.is_object()) return Bad(where, "metadata: expected a mapping");
  auto name = OptionalString(metadata, "name", "metadata.name");
  if (!name.ok()) return Prefixed(where, name.status());
  m.name = *name;
  std::string who = where;
  if (!m.name.empty()) who = absl::StrCat(where, " (", m.kind, "/", m.name, ")");

  const Kind* kind = nullptr;
  if (m.api_version.empty()) {
    auto candidates = catalog.FindByName(m.kind);
    if (candidates.size() == 1) {
      return Bad(who, absl::StrCat("apiVersion: required (", m.kind, " is ",
                                   candidates[0]->api_version, ")"));
    }
    if (candidates.empty()) {
      std::string hint = catalog.Suggest(m.kind);
      return Bad(who, absl::StrCat("kind: unknown kind \"", m.kind, "\"",
                                   hint.empty() ? "" : absl::StrCat(" (did you mean ", hint, "?)")));
    }
    return Bad(who, "apiVersion: required");
  }
  kind = catalog.Find(m.api_version, m.kind);
  if (kind == nullptr) {
    auto candidates = catalog.FindByName(m.kind);
    if (!candidates.empty()) {
      std::vector<std::string> versions;
      for (const Kind* k : candidates) versions.push_back(k->api_version);
      return Bad(who, absl::StrCat("apiVersion: ", m.kind, " is served as ",
                                   absl::StrJoin(versions, " or "), ", not \"", m.api_version, "\""));
    }
    std::string hint = catalog.Suggest(m.kind);
    return Bad(who, absl::StrCat("kind: unknown kind \"", m.kind, "\"",
                                 hint.empty() ? "" : absl::StrCat(" (did you mean ", hint, "?)")));
  }

  // metadata: org and env from the manifest or the request, then the schema.
  for (auto [key, fallback] : {std::pair<const char*, const std::string*>{"org", &options.org},
                               std::pair<const char*, const std::string*>{"env", &options.env}}) {
    std::string path = absl::StrCat("metadata.", key);
    auto given = OptionalString(metadata, key, path);
    if (!given.ok()) return Prefixed(who, given.status());
    std::string value = *given;
    if (value.empty()) value = *fallback;
    if (!given->empty() && !fallback->empty() && *given != *fallback) {
      return Bad(who, absl::StrCat(path, ": manifest says \"", *given, "\" but the request says \"",
                                   *fallback, "\""));
    }
    if (value.empty()) {
      return Bad(who, absl::StrCat(path, ": required (set it in the manifest or pass --", key, ")"));
    }
    absl::Status s = CheckName(path, value);
    if (!s.ok()) return Prefixed(who, s);
    metadata[key] = value;
    (std::string(key) == "org" ? m.org : m.env) = value;
  }
  if (absl::Status s = CheckResourceName("metadata.name", m.name); !s.ok()) return Prefixed(who, s);
  auto id = OptionalString(metadata, "id", "metadata.id");
  if (!id.ok()) return Prefixed(who, id.status());
  m.id = *id;
  if (absl::Status s = ValidateAgainstMessage(metadata, kind->metadata, "metadata", &catalog, nullptr);
      !s.ok()) {
    return Prefixed(who, s);
  }
  if (absl::Status s = CheckMetadataRules(metadata); !s.ok()) return Prefixed(who, s);

  json& spec = doc["spec"];
  if (spec.is_null()) {
    const FieldDescriptor* spec_field = kind->message->FindFieldByName("spec");
    const FieldRules* rules = catalog.rules().Field(spec_field);
    if (rules != nullptr && rules->required) return Bad(who, "spec: required");
    spec = json::object();
  }
  FillReferenceDefaults(spec, kind->spec);
  if (absl::Status s = ValidateAgainstMessage(spec, kind->spec, "spec", &catalog, kind->factory);
      !s.ok()) {
    return Prefixed(who, s);
  }
  doc.erase("status");
  m.body = std::move(doc);
  m.source = where;
  return m;
}

absl::StatusOr<std::vector<Manifest>> ParseManifests(const std::vector<ManifestSource>& sources,
                                                     const ManifestOptions& options,
                                                     const KindCatalog& catalog) {
  std::vector<Manifest> out;
  std::map<std::tuple<std::string, std::string, std::string, std::string>, std::string> seen;
  std::map<std::tuple<std::string, std::string, std::string, std::string>, std::pair<std::string, std::string>>
      slugs;
  size_t documents = 0;
  for (const auto& source : sources) {
    std::string source_name = source.name.empty() ? "manifest" : source.name;
    // The request's limit stops the parse at the first document past it.
    auto docs = ParseYamlDocuments(source.content, source_name, options.max_documents - documents);
    if (!docs.ok()) {
      if (absl::StrContains(docs.status().message(), " documents")) {
        return absl::InvalidArgumentError(absl::StrCat(docs.status().message(), ": more than ",
                                                       options.max_documents, " manifests in one request"));
      }
      return docs.status();
    }
    for (size_t i = 0; i < docs->size(); ++i) {
      if ((*docs)[i].value.is_null()) continue;
      if (++documents > options.max_documents) {
        return absl::InvalidArgumentError(absl::StrCat(
            "more than ", options.max_documents, " manifests in one request"));
      }
      std::string where = absl::StrCat(source_name, " document ", i + 1);
      PLINTH_ASSIGN_OR_RETURN(Manifest m, ValidateManifest(std::move((*docs)[i].value), where,
                                                           options, catalog));
      auto key = std::make_tuple(m.org, m.env, m.kind, m.name);
      auto [it, fresh] = seen.emplace(key, m.source);
      if (!fresh) {
        return absl::InvalidArgumentError(absl::StrCat(
            m.source, " (", m.KindName(), "): same org/env/kind/name as ", it->second));
      }
      auto [sit, sfresh] = slugs.emplace(std::make_tuple(m.org, m.env, m.kind, ResourceSlug(m.name)),
                                         std::make_pair(m.source, m.name));
      if (!sfresh) {
        return absl::InvalidArgumentError(absl::StrCat(
            m.source, " (", m.KindName(), "): its name and \"", sit->second.second, "\" (", sit->second.first,
            ") have the same slug \"", ResourceSlug(m.name), "\", which engines and state keys use; rename one"));
      }
      out.push_back(std::move(m));
    }
  }
  return out;
}

}  // namespace plinth::manifest
