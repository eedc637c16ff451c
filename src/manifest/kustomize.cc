#include "plinth/manifest/kustomize.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "plinth/core/status_macros.h"
#include "plinth/manifest/yaml.h"

namespace plinth::manifest {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

absl::Status Bad(const std::string& message) { return absl::InvalidArgumentError(message); }

// `rel` joined to the directory `dir`, normalised; INVALID_ARGUMENT when it
// leaves the tree.
absl::StatusOr<std::string> Join(const std::string& dir, const std::string& rel, const std::string& where) {
  if (!rel.empty() && rel[0] == '/') return Bad(absl::StrCat(where, ": \"", rel, "\" is an absolute path"));
  std::string joined = fs::path(dir + "/" + rel).lexically_normal().generic_string();
  while (!joined.empty() && joined.back() == '/') joined.pop_back();
  if (joined == ".." || absl::StartsWith(joined, "../") || joined.empty() || joined == ".") {
    return Bad(absl::StrCat(where, ": \"", rel, "\" is outside the repository"));
  }
  return joined;
}

std::string Key(const json& doc) {
  const json* md = doc.contains("metadata") && doc["metadata"].is_object() ? &doc["metadata"] : nullptr;
  std::string name = md != nullptr && md->contains("name") && (*md)["name"].is_string() ? (*md)["name"].get<std::string>() : "";
  std::string kind = doc.contains("kind") && doc["kind"].is_string() ? doc["kind"].get<std::string>() : "";
  return kind + "/" + name;
}

std::vector<std::string> PathList(const json& k, const std::string& field, const std::string& where,
                                  absl::Status* error) {
  std::vector<std::string> out;
  if (!k.contains(field) || k[field].is_null()) return out;
  if (!k[field].is_array()) {
    *error = Bad(absl::StrCat(where, ": ", field, ": expected a list"));
    return out;
  }
  for (size_t i = 0; i < k[field].size(); ++i) {
    const json& item = k[field][i];
    if (item.is_string()) {
      out.push_back(item.get<std::string>());
    } else if (item.is_object() && item.contains("path") && item["path"].is_string()) {
      out.push_back(item["path"].get<std::string>());
    } else {
      *error = Bad(absl::StrCat(where, ": ", field, "[", i, "]: expected a path or {path: ...}"));
      return out;
    }
  }
  return out;
}

struct Builder {
  const FileTree& tree;
  std::vector<json> documents;
  std::vector<std::string> sources;
  std::set<std::string> visiting;

  absl::StatusOr<json> Kustomization(const std::string& dir) {
    std::string path = dir + "/kustomization.yaml";
    auto it = tree.find(path);
    if (it == tree.end()) return absl::NotFoundError(absl::StrCat(path, ": not found"));
    PLINTH_ASSIGN_OR_RETURN(auto docs, ParseYamlDocuments(it->second, path));
    if (docs.empty() || !docs[0].value.is_object()) return Bad(absl::StrCat(path, ": expected a mapping"));
    return docs[0].value;
  }

  absl::Status AddFile(const std::string& path, const std::string& where) {
    auto it = tree.find(path);
    if (it == tree.end()) return Bad(absl::StrCat(where, ": ", path, " does not exist"));
    PLINTH_ASSIGN_OR_RETURN(auto docs, ParseYamlDocuments(it->second, path));
    for (size_t i = 0; i < docs.size(); ++i) {
      if (docs[i].value.is_null()) continue;
      if (!docs[i].value.is_object()) return Bad(absl::StrCat(path, " document ", i + 1, ": expected a mapping"));
      documents.push_back(docs[i].value);
      sources.push_back(absl::StrCat(path, " document ", i + 1));
    }
    return absl::OkStatus();
  }

  // A directory with a kustomization: its resources, then its patches.
  absl::Status Build(const std::string& dir) {
    if (!visiting.insert(dir).second) return Bad(absl::StrCat(dir, ": kustomizations include each other"));
    if (visiting.size() > 16) return Bad(absl::StrCat(dir, ": more than 16 levels of kustomizations"));
    PLINTH_ASSIGN_OR_RETURN(json k, Kustomization(dir));
    std::string where = dir + "/kustomization.yaml";
    absl::Status error;
    for (const auto& r : PathList(k, "resources", where, &error)) {
      PLINTH_ASSIGN_OR_RETURN(std::string path, Join(dir, r, where));
      if (tree.count(path + "/kustomization.yaml")) {
        PLINTH_RETURN_IF_ERROR(Build(path));
      } else {
        PLINTH_RETURN_IF_ERROR(AddFile(path, where));
      }
    }
    PLINTH_RETURN_IF_ERROR(error);
    std::vector<std::string> patches = PathList(k, "patches", where, &error);
    PLINTH_RETURN_IF_ERROR(error);
    for (const auto& p : PathList(k, "patchesStrategicMerge", where, &error)) patches.push_back(p);
    PLINTH_RETURN_IF_ERROR(error);
    for (const auto& p : patches) {
      PLINTH_ASSIGN_OR_RETURN(std::string path, Join(dir, p, where));
      auto it = tree.find(path);
      if (it == tree.end()) return Bad(absl::StrCat(where, ": patch ", path, " does not exist"));
      PLINTH_ASSIGN_OR_RETURN(auto docs, ParseYamlDocuments(it->second, path));
      for (size_t i = 0; i < docs.size(); ++i) {
        const json& patch = docs[i].value;
        if (patch.is_null()) continue;
        std::string key = patch.is_object() ? Key(patch) : "/";
        auto target = std::find_if(documents.begin(), documents.end(), [&](const json& d) { return Key(d) == key; });
        if (key.front() == '/' || key.back() == '/') {
          return Bad(absl::StrCat(path, " document ", i + 1, ": a patch needs kind and metadata.name"));
        }
        if (target == documents.end()) {
          return Bad(absl::StrCat(path, " document ", i + 1, " (", key, "): the base has no ", key, " to patch"));
        }
        *target = MergePatch(std::move(*target), patch);
      }
    }
    visiting.erase(dir);
    return absl::OkStatus();
  }
};

}  // namespace

namespace {

// A list of mappings that each have a string `name` (Planton's env
// variables, ports, containers): merged by name, as Kubernetes' strategic
// merge patch merges env lists.
bool NamedList(const json& v) {
  if (!v.is_array() || v.empty()) return false;
  for (const json& item : v) {
    if (!item.is_object() || !item.contains("name") || !item["name"].is_string()) return false;
  }
  return true;
}

json MergeNamedLists(json base, const json& patch) {
  for (const json& item : patch) {
    const std::string& name = item["name"].get_ref<const std::string&>();
    auto it = std::find_if(base.begin(), base.end(), [&](const json& b) { return b["name"] == name; });
    bool remove = item.contains("$patch") && item["$patch"] == "delete";
    if (it == base.end()) {
      if (!remove) base.push_back(MergePatch(json::object(), item));
    } else if (remove) {
      base.erase(it);
    } else {
      *it = MergePatch(std::move(*it), item);
    }
  }
  return base;
}

}  // namespace

json MergePatch(json base, const json& patch) {
  if (!patch.is_object() || !base.is_object()) return patch;
  for (const auto& [k, v] : patch.items()) {
    if (v.is_null()) {
      base.erase(k);
    } else if (NamedList(v) && base.contains(k) && NamedList(base[k])) {
      base[k] = MergeNamedLists(std::move(base[k]), v);
    } else if (v.is_object()) {
      // Onto the base's map, or a new one (so that its nulls are dropped too).
      json sub = base.contains(k) && base[k].is_object() ? std::move(base[k]) : json::object();
      base[k] = MergePatch(std::move(sub), v);
    } else {
      base[k] = v;  // scalars and lists replace
    }
  }
  return base;
}

absl::StatusOr<FileTree> ReadTree(const std::string& dir, size_t max_files, size_t max_file_bytes) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return absl::NotFoundError(absl::StrCat(dir, ": not a directory"));
  FileTree tree;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) return absl::NotFoundError(absl::StrCat(dir, ": ", ec.message()));
  for (; it != end; it.increment(ec)) {
    if (ec) return Bad(absl::StrCat(dir, ": ", ec.message()));
    const fs::path& p = it->path();
    std::string rel = fs::relative(p, dir).generic_string();
    if (p.filename().string()[0] == '.') {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_symlink()) return Bad(absl::StrCat(rel, ": symbolic links are not followed"));
    if (it->is_directory()) continue;
    if (!it->is_regular_file()) continue;
    if (tree.size() >= max_files) return Bad(absl::StrCat(dir, ": more than ", max_files, " files"));
    if (it->file_size() > max_file_bytes) return Bad(absl::StrCat(rel, ": larger than ", max_file_bytes, " bytes"));
    std::ifstream in(p, std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    tree[rel] = buf.str();
  }
  return tree;
}

bool HasKustomize(const FileTree& tree) { return tree.count(std::string(kKustomizeDir) + "/base/kustomization.yaml") > 0; }

std::vector<std::string> ListOverlays(const FileTree& tree) {
  std::set<std::string> names;
  const std::string prefix = std::string(kKustomizeDir) + "/overlays/";
  for (const auto& [path, content] : tree) {
    if (!absl::StartsWith(path, prefix)) continue;
    std::string rest = path.substr(prefix.size());
    size_t slash = rest.find('/');
    if (slash != std::string::npos && rest.substr(slash + 1) == "kustomization.yaml") names.insert(rest.substr(0, slash));
  }
  return {names.begin(), names.end()};
}

absl::StatusOr<BuiltOverlay> BuildOverlay(const FileTree& tree, const std::string& overlay) {
  if (!HasKustomize(tree)) {
    return absl::NotFoundError(absl::StrCat(kKustomizeDir, "/base/kustomization.yaml: not found"));
  }
  std::string dir = absl::StrCat(kKustomizeDir, "/overlays/", overlay);
  if (overlay.empty() || overlay.find('/') != std::string::npos || !tree.count(dir + "/kustomization.yaml")) {
    std::string known;
    for (const auto& n : ListOverlays(tree)) absl::StrAppend(&known, known.empty() ? "" : ", ", n);
    return absl::NotFoundError(absl::StrCat("overlay \"", overlay, "\": not found (overlays: ",
                                            known.empty() ? "none" : known, ")"));
  }
  Builder b{tree, {}, {}, {}};
  PLINTH_RETURN_IF_ERROR(b.Build(dir));
  BuiltOverlay out;
  out.name = overlay;
  for (size_t i = 0; i < b.documents.size(); ++i) {
    const json& d = b.documents[i];
    std::string env;
    if (d.contains("metadata") && d["metadata"].is_object() && d["metadata"].contains("env") &&
        d["metadata"]["env"].is_string()) {
      env = d["metadata"]["env"].get<std::string>();
    }
    if (env.empty()) continue;
    if (!out.env.empty() && env != out.env) {
      return Bad(absl::StrCat("overlay ", overlay, ": ", b.sources[i], " (", Key(d), ") is for env ", env,
                              " but other documents are for ", out.env, "; an overlay deploys to one env"));
    }
    out.env = env;
  }
  out.documents = std::move(b.documents);
  out.sources = std::move(b.sources);
  return out;
}

}  // namespace plinth::manifest
