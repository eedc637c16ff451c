// The variables an OpenMCF-style module takes for a cloud resource:
// `metadata` and `spec`, with snake_case (proto) field names and every
// reference-or-value field flattened to its value. Map keys (labels,
// environment variables ...) are data and are kept as written.
//
//   auto vars = ToModuleVariables(manifest, catalog, resolve);
//   // {"metadata": {"name": "main", ...}, "spec": {"vpc_cidr": "10.0.0.0/16", ...}}
#ifndef PLINTH_MANIFEST_MODULE_VARIABLES_H_
#define PLINTH_MANIFEST_MODULE_VARIABLES_H_

#include <functional>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "plinth/manifest/kind_catalog.h"
#include "plinth/manifest/manifest.h"
#include "plinth/manifest/references.h"

namespace plinth::manifest {

// Gives the value a {valueFrom} reference points to, or an error naming it
// (e.g. NOT_FOUND "AwsVpc/main in dev has no output vpc_id").
using ReferenceResolver = std::function<absl::StatusOr<nlohmann::json>(const Reference&)>;

// FAILED_PRECONDITION (with the reference's path) when a reference cannot be
// resolved; INVALID_ARGUMENT when the kind is unknown.
absl::StatusOr<nlohmann::json> ToModuleVariables(const Manifest& manifest, const KindCatalog& catalog,
                                                 const ReferenceResolver& resolve);

// The value at a dotted path such as "status.outputs.vpc_id" or
// "spec.subnets[0]"; nullptr when absent.
const nlohmann::json* JsonAtPath(const nlohmann::json& root, absl::string_view path);

}  // namespace plinth::manifest

#endif  // PLINTH_MANIFEST_MODULE_VARIABLES_H_
