// A job's events and outcome as JSON, the form they travel in between a
// plinth-runner and plinthd (inside WorkEvent.data_json and
// WorkResult.outcome_json). Every field round-trips; unknown keys are
// ignored and missing ones take their defaults, so either side may be newer.
//
//   std::string wire = OutcomeToJson(outcome).dump();
//   JobOutcome back = OutcomeFromJson(nlohmann::json::parse(wire));
#ifndef PLINTH_ENGINE_WIRE_H_
#define PLINTH_ENGINE_WIRE_H_

#include <map>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "plinth/engine/engine_events.h"
#include "plinth/engine/stack_job.h"

namespace plinth::engine {

nlohmann::json SummaryToJson(const ChangeSummary& s);
ChangeSummary SummaryFromJson(const nlohmann::json& j);
nlohmann::json EventToJson(const EngineEvent& e);
EngineEvent EventFromJson(const nlohmann::json& j);
// Outputs with their sensitive values: the receiver seals them.
nlohmann::json OutcomeToJson(const JobOutcome& o);
JobOutcome OutcomeFromJson(const nlohmann::json& j);

// The regular files of a directory tree, relative path -> content (what a
// module or a state directory is when it travels). Symlinks are followed
// only inside the tree; names in `skip` are left out at any depth.
struct FileTree {
  std::map<std::string, std::string> files;
  std::set<std::string> executable;
};
absl::StatusOr<FileTree> ReadTree(const std::string& dir, const std::set<std::string>& skip = {});
// Writes the files under `dir` (created). INVALID_ARGUMENT for a path that
// is absolute, empty or climbs out with "..".
absl::Status WriteTree(const std::string& dir, const FileTree& tree);
// SHA-256 of the tree's paths and contents, hex.
std::string TreeDigest(const FileTree& tree);

}  // namespace plinth::engine

#endif  // PLINTH_ENGINE_WIRE_H_
