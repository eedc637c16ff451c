// Manifests as stored (JSON bodies with metadata.org/env/name) back into
// manifest::Manifest, for graphs and for writing a copied revision.
#ifndef PLINTH_ORCHESTRATOR_STORED_MANIFESTS_H_
#define PLINTH_ORCHESTRATOR_STORED_MANIFESTS_H_

#include <vector>

#include "nlohmann/json.hpp"
#include "plinth/manifest/manifest.h"

namespace plinth::orchestrator {

// With strip_ids, metadata.id is removed (a rollback writes the manifests
// again; their resources may have been deleted and recreated since).
std::vector<manifest::Manifest> FromStoredManifests(const nlohmann::json& bodies, bool strip_ids = false);

}  // namespace plinth::orchestrator

#endif  // PLINTH_ORCHESTRATOR_STORED_MANIFESTS_H_
