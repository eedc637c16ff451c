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

// What a reference's fieldPath names in the resource it refers to:
//   status.outputs.<name>  an output, by its proto name (vpc_id) or its JSON
//                          name (vpcId): both find the same output; deeper
//                          parts and [i] indexes walk into it
//   metadata.<field>, spec.<field>  the referred resource's manifest, the
//                          same way (spec.domainName or spec.domain_name)
// Returns the value; NOT_FOUND when the resource has no outputs yet;
// INVALID_ARGUMENT saying what is missing and what exists ("it has no output
// zoneId (outputs: zone_id, nameservers)"), or for a path outside those roots. `canonical`, when given, receives the
// path as found ("status.outputs.zone_id"), for looking the same value up in
// another copy of the outputs (sealed sensitive values).
absl::StatusOr<const nlohmann::json*> LookupReferencePath(const nlohmann::json& manifest,
                                                          const nlohmann::json& outputs,
                                                          absl::string_view field_path,
                                                          std::string* canonical = nullptr);

}  // namespace plinth::manifest

#endif  // PLINTH_MANIFEST_MODULE_VARIABLES_H_
