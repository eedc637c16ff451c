// Modules from Git repositories, fetched with libgit2 into a cache keyed by
// commit: <cache>/repos/<hash of url> holds a bare mirror of the remote, and
// <cache>/commits/<sha> the files of one commit, written once and reused by
// every job that runs that commit. A branch or tag is fetched again for each
// job (it may have moved); a full commit id already in the cache is not.
#ifndef PLINTH_ENGINE_MODULE_CACHE_H_
#define PLINTH_ENGINE_MODULE_CACHE_H_

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace plinth::engine {

struct GitModuleSource {
  std::string url;     // file://, https:// or http://
  std::string ref;     // branch, tag or commit id; empty = the remote's HEAD
  std::string subdir;  // inside the repository; empty = its root
  std::string token;   // https token (from a Git connection), or empty
};

struct FetchedModule {
  std::string dir;     // the module directory (commit dir + subdir)
  std::string commit;  // 40 hex digits
};

// True when `source` names a Git repository rather than a local directory.
bool IsGitUrl(const std::string& source);

class ModuleCache {
 public:
  explicit ModuleCache(std::string cache_dir);

  // UNAVAILABLE when the remote cannot be reached or refuses the
  // credentials; NOT_FOUND for an unknown ref or a missing subdir;
  // INVALID_ARGUMENT for a subdir that leaves the repository. The token
  // never appears in an error.
  absl::StatusOr<FetchedModule> Fetch(const GitModuleSource& source) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  std::string cache_dir_;
  absl::Mutex mu_;  // one fetch at a time: the mirrors are shared
};

}  // namespace plinth::engine

#endif  // PLINTH_ENGINE_MODULE_CACHE_H_
