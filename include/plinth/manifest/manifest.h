// The manifest model: one cloud resource as written by a user, KRM-shaped
// (apiVersion, kind, metadata, spec), parsed, defaulted and validated.
//
//   ManifestOptions options{.org = "acme", .env = "dev"};
//   absl::StatusOr<std::vector<Manifest>> manifests =
//       ParseManifests({{"vpc.yaml", text}}, options, catalog);
//
// Every error is INVALID_ARGUMENT and says where:
//   "vpc.yaml document 2 (AwsVpc/dev-vpc): spec.vpcCidr: expected a string, got an integer"
#ifndef PLINTH_MANIFEST_MANIFEST_H_
#define PLINTH_MANIFEST_MANIFEST_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "plinth/manifest/kind_catalog.h"

namespace plinth::manifest {

inline constexpr size_t kDefaultMaxManifestBytes = 4 << 20;

struct ManifestSource {
  std::string name;  // shown in errors; "" becomes "manifest"
  std::string content;
};

struct ManifestOptions {
  // Fill metadata.org / metadata.env when a manifest lacks them. A manifest
  // that names a different org or env than these is an error.
  std::string org;
  std::string env;
  // A document (as JSON) larger than this is rejected.
  size_t max_manifest_bytes = kDefaultMaxManifestBytes;
  // More documents than this in one call is rejected.
  size_t max_documents = 10000;
};

struct Manifest {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string org;
  std::string env;
  std::string id;  // metadata.id when the user gave one, else ""
  // apiVersion, kind, metadata (with org and env filled in) and spec. Any
  // status the user sent is dropped: only stack jobs write outputs.
  nlohmann::json body;
  // "vpc.yaml document 2": where the manifest came from (1-based).
  std::string source;

  // "AwsVpc/dev-vpc"
  std::string KindName() const { return kind + "/" + name; }
};

// Parses, defaults and validates every document of every source. Empty
// documents are skipped. Fails on the first bad document, and when two
// documents name the same org/env/kind/name. Thread-safe.
absl::StatusOr<std::vector<Manifest>> ParseManifests(const std::vector<ManifestSource>& sources,
                                                     const ManifestOptions& options,
                                                     const KindCatalog& catalog);

// Validates one already-parsed JSON document. `where` prefixes errors.
absl::StatusOr<Manifest> ValidateManifest(nlohmann::json doc, const std::string& where,
                                          const ManifestOptions& options,
                                          const KindCatalog& catalog);

}  // namespace plinth::manifest

#endif  // PLINTH_MANIFEST_MANIFEST_H_
