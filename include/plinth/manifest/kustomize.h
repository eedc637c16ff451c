// Kustomize-style service overlays: `_kustomize/base/kustomization.yaml`
// lists manifest files (`resources:`), and each
// `_kustomize/overlays/<name>/kustomization.yaml` takes the base
// (`resources: [../../base]`) and patches it (`patches:` of paths or
// `{path: ...}`, or `patchesStrategicMerge:`). A patch document merges onto
// the base document with the same kind and metadata.name: maps merge
// recursively, lists and scalars replace, null deletes the key.
//
// Works on a tree of files in memory (a checkout, or a directory read with
// ReadTree), so that the same code serves the CLI and Git projects.
//
//   auto tree = ReadTree("services/api");
//   auto names = ListOverlays(*tree);              // ["local", "prod", "staging"]
//   auto prod = BuildOverlay(*tree, "prod");       // documents + their env
#ifndef PLINTH_MANIFEST_KUSTOMIZE_H_
#define PLINTH_MANIFEST_KUSTOMIZE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace plinth::manifest {

// Relative '/'-separated path -> content.
using FileTree = std::map<std::string, std::string>;

inline constexpr char kKustomizeDir[] = "_kustomize";

struct BuiltOverlay {
  std::string name;
  // metadata.env of its documents (they must agree); "" when none says.
  std::string env;
  std::vector<nlohmann::json> documents;
  // "_kustomize/base/api.yaml document 1" for each document.
  std::vector<std::string> sources;
};

// Reads every regular file under `dir` (hidden files and directories skipped;
// symbolic links refused). At most `max_files` files of `max_file_bytes`.
absl::StatusOr<FileTree> ReadTree(const std::string& dir, size_t max_files = 2000, size_t max_file_bytes = 4 << 20);

// True when the tree has _kustomize/base/kustomization.yaml.
bool HasKustomize(const FileTree& tree);
// Overlay names (directories under _kustomize/overlays with a
// kustomization.yaml), sorted.
std::vector<std::string> ListOverlays(const FileTree& tree);
// The base and one overlay's patches. INVALID_ARGUMENT naming the file for
// bad YAML, a patch whose kind/name the base does not have, a path that
// leaves the tree, documents of different envs; NOT_FOUND for the overlay.
absl::StatusOr<BuiltOverlay> BuildOverlay(const FileTree& tree, const std::string& overlay);

// The merge rule of patches, also usable on its own: mappings merge, null
// deletes, scalars and lists replace, except lists of mappings with a `name`
// on both sides (Planton's env variables, ports ...), which merge item by
// name; a patch item {name: X, $patch: delete} removes X.
nlohmann::json MergePatch(nlohmann::json base, const nlohmann::json& patch);

}  // namespace plinth::manifest

#endif  // PLINTH_MANIFEST_KUSTOMIZE_H_
