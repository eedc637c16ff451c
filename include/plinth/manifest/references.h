// References between cloud resources, found in a manifest: every
// {valueFrom: {kind, env?, name, fieldPath}} in its spec and every entry of
// metadata.relationships. They are what the dependency graph is made of.
//
//   for (const Reference& r : FindReferences(manifest)) ...
#ifndef PLINTH_MANIFEST_REFERENCES_H_
#define PLINTH_MANIFEST_REFERENCES_H_

#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "plinth/manifest/manifest.h"

namespace plinth::manifest {

struct Reference {
  std::string kind;
  std::string env;   // the referring resource's env when the reference leaves it out
  std::string name;
  std::string field_path;  // valueFrom only, e.g. status.outputs.vpc_id
  // Where it was found: "spec.subnets[1]" or "metadata.relationships[0]".
  std::string source_path;
  // "value_from", or the relationship type (depends_on, runs_on, uses, managed_by).
  std::string type;
};

// Every reference of a validated manifest, in document order.
std::vector<Reference> FindReferences(const Manifest& manifest);

}  // namespace plinth::manifest

#endif  // PLINTH_MANIFEST_REFERENCES_H_
