// Validates a JSON value (a manifest's spec or metadata) against the protobuf
// message of its kind, with errors that name the field path as written in
// YAML: "spec.subnets[1].valueFrom.name: required".
//
//   PLINTH_RETURN_IF_ERROR(ValidateAgainstMessage(doc["spec"], kind->spec, "spec", &catalog));
//
// The rules are protobuf's JSON mapping: a field is known by its proto name
// or its JSON (camelCase) name; unknown fields, wrong types, out-of-range
// numbers, unknown enum values and two members of one oneof are errors.
// Reference-or-value fields take {value: X} or {valueFrom: {kind, env?,
// name, fieldPath}}; the referenced kind must be in the catalog (kind and
// fieldPath may come from the field's defaults) and the name must follow the
// resource naming rule. The buf.validate rules of every field are checked
// (field_rules.h). After the walk, the value is parsed with
// protobuf's own JSON parser into a dynamic message of the kind, so nothing
// protobuf would reject gets through.
#ifndef PLINTH_MANIFEST_VALIDATOR_H_
#define PLINTH_MANIFEST_VALIDATOR_H_

#include <string>

#include "absl/status/status.h"
#include "google/protobuf/descriptor.h"
#include "nlohmann/json.hpp"
#include "plinth/manifest/kind_catalog.h"

namespace plinth::manifest {

// OK or INVALID_ARGUMENT "<path>.<field>: <what is wrong>". `catalog` may be
// null, in which case referenced kinds are not checked. `factory` makes the
// dynamic message for the final protobuf parse; null skips that parse.
absl::Status ValidateAgainstMessage(const nlohmann::json& value,
                                    const google::protobuf::Descriptor* type,
                                    const std::string& path, const KindCatalog* catalog,
                                    google::protobuf::MessageFactory* factory);

// Writes the default kind and fieldPath of every reference that leaves them
// out (the field's foreignkey defaults), so that a stored manifest says what
// it refers to. Call before ValidateAgainstMessage.
void FillReferenceDefaults(nlohmann::json& value, const google::protobuf::Descriptor* type);

}  // namespace plinth::manifest

#endif  // PLINTH_MANIFEST_VALIDATOR_H_
