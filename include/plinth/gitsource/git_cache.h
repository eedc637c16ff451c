// Git repositories fetched with libgit2 into a cache keyed by commit:
// <cache>/repos/<hash of url> holds a bare mirror of the remote, and
// <cache>/commits/<sha> the files of one commit, written once and reused by
// every job that runs that commit. A branch or tag is fetched again each
// time (it may have moved); a full commit id already in the cache is not.
//
// The stack-job runner gets it as its engine::ModuleFetcher.
#ifndef PLINTH_GITSOURCE_GIT_CACHE_H_
#define PLINTH_GITSOURCE_GIT_CACHE_H_

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "plinth/engine/module_source.h"
#include "plinth/manifest/kustomize.h"

namespace plinth::gitsource {

class GitCache : public engine::ModuleFetcher {
 public:
  explicit GitCache(std::string cache_dir);

  absl::StatusOr<engine::FetchedModule> Fetch(const engine::GitModuleSource& source) override ABSL_LOCKS_EXCLUDED(mu_);

  // The manifests of one commit, read from the mirror without a checkout:
  // every *.yaml / *.yml file under source.subdir (hidden files skipped),
  // relative to it. source.ref is a branch, tag or commit id. `extra_refspecs`
  // are fetched too when the ref is not found at first (pull-request heads).
  // Errors as Fetch; INVALID_ARGUMENT for a symbolic link or a tree past the
  // limits (2,000 files, 4 MiB a file, 64 MiB in all). All or nothing.
  struct Snapshot {
    std::string commit;
    manifest::FileTree files;
  };
  absl::StatusOr<Snapshot> ReadManifests(const engine::GitModuleSource& source,
                                         const std::vector<std::string>& extra_refspecs = {}) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  std::string cache_dir_;
  absl::Mutex mu_;  // one fetch at a time: the mirrors are shared
};

}  // namespace plinth::gitsource

#endif  // PLINTH_GITSOURCE_GIT_CACHE_H_
