// Git repositories fetched with libgit2 into a cache keyed by commit:
// <cache>/repos/<hash of url> holds a bare mirror of the remote, and
// <cache>/commits/<sha> the files of one commit, written once and reused by
// every job that runs that commit. A branch or tag is fetched again each
// time (it may have moved); a full commit id already in the cache is not.
//
// The stack-job runner gets it as its engine::ModuleFetcher.
#ifndef PLINTH_GITSOURCE_GIT_CACHE_H_
#define PLINTH_GITSOURCE_GIT_CACHE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "plinth/engine/module_source.h"
#include "plinth/manifest/kustomize.h"

namespace plinth::gitsource {

class GitCache : public engine::ModuleFetcher {
 public:
  // `fetch_timeout` bounds one network fetch (libgit2 1.5 has no network
  // timeouts of its own): past it the caller gets UNAVAILABLE, and the fetch
  // is left to finish on its thread; until it does, further fetches of that
  // repository get UNAVAILABLE after waiting as long. Other repositories are
  // not held up: each mirror has its own lock.
  explicit GitCache(std::string cache_dir, absl::Duration fetch_timeout = absl::Minutes(5));

  absl::StatusOr<engine::FetchedModule> Fetch(const engine::GitModuleSource& source) override;

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
                                         const std::vector<std::string>& extra_refspecs = {});

 private:
  // One mirror's lock: held (busy) from the start of a read until its end,
  // or, when its fetch timed out, until that fetch ends.
  struct Mirror {
    absl::Mutex mu;
    bool busy ABSL_GUARDED_BY(mu) = false;
  };
  class MirrorLease;
  std::shared_ptr<Mirror> MirrorFor(const std::string& url) ABSL_LOCKS_EXCLUDED(mu_);
  // A fetch on a thread of its own, waited for at most fetch_timeout_.
  absl::Status FetchBounded(const std::string& repo_dir, const engine::GitModuleSource& source,
                            const std::string& what, const std::vector<std::string>& extra_refspecs,
                            MirrorLease* lease);

  std::string cache_dir_;
  absl::Duration fetch_timeout_;
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Mirror>> mirrors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace plinth::gitsource

#endif  // PLINTH_GITSOURCE_GIT_CACHE_H_
