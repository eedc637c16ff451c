#include "plinth/gitsource/git_cache.h"

#include <git2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>
#include <functional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "plinth/core/ids.h"
#include "plinth/core/status_macros.h"

namespace plinth::gitsource {
namespace {

namespace fs = std::filesystem;
using engine::FetchedModule;
using engine::GitModuleSource;
using engine::IsGitUrl;

// RAII for libgit2 handles.
template <typename T, void (*Free)(T*)>
struct GitFree {
  void operator()(T* p) const { Free(p); }
};
using Repo = std::unique_ptr<git_repository, GitFree<git_repository, git_repository_free>>;
using Remote = std::unique_ptr<git_remote, GitFree<git_remote, git_remote_free>>;
using Object = std::unique_ptr<git_object, GitFree<git_object, git_object_free>>;
using Tree = std::unique_ptr<git_tree, GitFree<git_tree, git_tree_free>>;
using Blob = std::unique_ptr<git_blob, GitFree<git_blob, git_blob_free>>;

void InitLibgit2() {
  static std::once_flag once;
  std::call_once(once, [] { git_libgit2_init(); });
}

// The URL without any user:password@ part, for messages.
std::string DisplayUrl(const std::string& url) {
  size_t scheme = url.find("://");
  size_t at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  size_t slash = url.find('/', scheme + 3);
  if (slash != std::string::npos && slash < at) return url;
  return url.substr(0, scheme + 3) + url.substr(at + 1);
}

std::string LastGitError(const GitModuleSource& source) {
  const git_error* e = git_error_last();
  std::string message = e != nullptr && e->message != nullptr ? e->message : "unknown libgit2 error";
  for (const std::string* secret : {&source.token, &source.ssh_passphrase}) {
    if (!secret->empty()) absl::StrReplaceAll({{*secret, "<redacted>"}}, &message);
  }
  return message;
}

// FNV-1a: a stable, short directory name for a URL.
std::string UrlKey(const std::string& url) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : url) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

bool IsCommitId(const std::string& ref) {
  if (ref.size() != 40) return false;
  for (char c : ref) {
    if (!absl::ascii_isxdigit(c)) return false;
  }
  return true;
}

struct CredentialState {
  const GitModuleSource* source;
  int attempts = 0;
  std::string host_key_error;  // why the ssh host was not trusted
};

int Credentials(git_credential** out, const char* /*url*/, const char* username_from_url, unsigned int allowed,
                void* payload) {
  auto* state = static_cast<CredentialState*>(payload);
  const GitModuleSource& s = *state->source;
  std::string user = username_from_url != nullptr && *username_from_url != '\0' ? username_from_url
                     : !s.ssh_user.empty()                                         ? s.ssh_user
                                                                                   : "git";
  if ((allowed & GIT_CREDENTIAL_USERNAME) != 0) return git_credential_username_new(out, user.c_str());
  // libgit2 asks again after a refusal; one try, then give up.
  if (state->attempts++ > 0) return GIT_PASSTHROUGH;
  if ((allowed & GIT_CREDENTIAL_SSH_MEMORY) != 0 && !s.ssh_key.empty()) {
    return git_credential_ssh_key_memory_new(out, user.c_str(), nullptr, s.ssh_key.c_str(),
                                             s.ssh_passphrase.empty() ? nullptr : s.ssh_passphrase.c_str());
  }
  if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) != 0 && !s.token.empty()) {
    // "x-access-token" is what GitHub expects; GitLab and Gitea accept any
    // user name with a token as the password.
    return git_credential_userpass_plaintext_new(out, "x-access-token", s.token.c_str());
  }
  return GIT_PASSTHROUGH;
}

// "SHA256:<base64 without padding>", as ssh-keygen -l prints it.
std::string Sha256Fingerprint(const unsigned char* hash) {
  std::string b64 = absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(hash), 32));
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  return "SHA256:" + b64;
}

// https keeps libgit2's own verification; an ssh host is trusted only when
// its key's fingerprint is the one the connection names.
int CertificateCheck(git_cert* cert, int /*valid*/, const char* host, void* payload) {
  if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2) return GIT_PASSTHROUGH;
  auto* state = static_cast<CredentialState*>(payload);
  const auto* key = reinterpret_cast<const git_cert_hostkey*>(cert);
  if ((key->type & GIT_CERT_SSH_SHA256) == 0) {
    state->host_key_error = absl::StrCat("ssh host ", host, " offered no SHA256 host key fingerprint");
    return -1;
  }
  std::string seen = Sha256Fingerprint(key->hash_sha256);
  std::string want = state->source->ssh_host_fingerprint;
  while (!want.empty() && want.back() == '=') want.pop_back();
  if (!want.empty() && !absl::StartsWith(want, "SHA256:")) want = "SHA256:" + want;
  if (want.empty()) {
    state->host_key_error = absl::StrCat(
        "ssh host ", host, " is not trusted: its host key is ", seen,
        "; after checking it out of band, set the git connection's field ssh_host_fingerprint to it");
    return -1;
  }
  if (want != seen) {
    state->host_key_error = absl::StrCat("ssh host ", host, " presented host key ", seen, ", not ", want,
                                         " (the connection's ssh_host_fingerprint): refusing to connect");
    return -1;
  }
  return 0;
}

// Writes one tree under `dir` (which exists).
absl::Status WriteTree(git_repository* repo, const git_tree* tree, const fs::path& dir) {
  size_t n = git_tree_entrycount(tree);
  for (size_t i = 0; i < n; ++i) {
    const git_tree_entry* entry = git_tree_entry_byindex(tree, i);
    std::string name = git_tree_entry_name(entry);
    if (name.empty() || name == "." || name == ".." || name == ".git" || name.find('/') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("the repository has an unsafe path \"", name, "\""));
    }
    fs::path path = dir / name;
    git_filemode_t mode = git_tree_entry_filemode(entry);
    if (mode == GIT_FILEMODE_TREE) {
      git_tree* sub_raw = nullptr;
      if (git_tree_lookup(&sub_raw, repo, git_tree_entry_id(entry)) != 0) {
        return absl::InternalError(absl::StrCat("reading ", path.string()));
      }
      Tree sub(sub_raw);
      std::error_code ec;
      fs::create_directory(path, ec);
      if (ec) return absl::InternalError(absl::StrCat("creating ", path.string(), ": ", ec.message()));
      absl::Status s = WriteTree(repo, sub.get(), path);
      if (!s.ok()) return s;
      continue;
    }
    if (mode == GIT_FILEMODE_COMMIT) continue;  // a submodule: not fetched
    git_blob* blob_raw = nullptr;
    if (git_blob_lookup(&blob_raw, repo, git_tree_entry_id(entry)) != 0) {
      return absl::InternalError(absl::StrCat("reading ", path.string()));
    }
    Blob blob(blob_raw);
    std::string content(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                        static_cast<size_t>(git_blob_rawsize(blob.get())));
    if (mode == GIT_FILEMODE_LINK) {
      // Only links that stay inside the module.
      bool safe = !content.empty() && content[0] != '/';
      for (absl::string_view part : absl::StrSplit(content, '/')) {
        if (part == "..") safe = false;
      }
      if (!safe) return absl::InvalidArgumentError(absl::StrCat("the symbolic link ", name, " leaves the module"));
      if (symlink(content.c_str(), path.c_str()) != 0) return absl::InternalError(absl::StrCat("creating ", path.string()));
      continue;
    }
    std::ofstream out(path, std::ios::binary);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.close();
    if (!out) return absl::InternalError(absl::StrCat("writing ", path.string()));
    chmod(path.c_str(), mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644);
  }
  return absl::OkStatus();
}

// Fetches `source` into the bare mirror at `repo_dir` through a handle of
// its own (it may run on a thread of its own).
absl::Status FetchInto(const fs::path& repo_dir, const GitModuleSource& source, const std::string& what,
                       const std::vector<std::string>& extra_refspecs) {
  const std::string where = DisplayUrl(source.url);
  git_repository* repo_raw = nullptr;
  if (git_repository_open_bare(&repo_raw, repo_dir.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("opening the Git cache ", repo_dir.string(), ": ", LastGitError(source)));
  }
  Repo repo(repo_raw);
  git_remote* remote_raw = nullptr;
  if (git_remote_create_anonymous(&remote_raw, repo.get(), source.url.c_str()) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, " ", where, ": ", LastGitError(source)));
  }
  Remote remote(remote_raw);
  CredentialState creds{&source};
  git_fetch_options opts = GIT_FETCH_OPTIONS_INIT;
  opts.callbacks.credentials = Credentials;
  opts.callbacks.certificate_check = CertificateCheck;
  opts.callbacks.payload = &creds;
  opts.prune = GIT_FETCH_PRUNE;
  opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
  const char* specs[] = {"+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*",
                         "+HEAD:refs/remotes/origin/HEAD"};
  std::vector<const char*> all(std::begin(specs), std::end(specs));
  for (const std::string& extra : extra_refspecs) all.push_back(extra.c_str());
  git_strarray refspecs = {const_cast<char**>(all.data()), all.size()};
  if (git_remote_fetch(remote.get(), &refspecs, &opts, nullptr) != 0) {
    if (!creds.host_key_error.empty()) {
      return absl::FailedPreconditionError(absl::StrCat("fetching ", what, " ", where, ": ", creds.host_key_error));
    }
    return absl::UnavailableError(absl::StrCat("fetching ", what, " ", where, ": ", LastGitError(source)));
  }
  return absl::OkStatus();
}

// Opens (or creates) the bare mirror at `repo_dir`, fetches (with `fetch`)
// unless the ref is a commit id already there, and resolves the ref to a
// commit. `what` names the source in errors ("module source", "repository").
absl::Status OpenAndResolve(const fs::path& repo_dir, const GitModuleSource& source, const std::string& what,
                            const std::function<absl::Status(const std::vector<std::string>&)>& fetch, Repo* repo,
                            Object* commit, const std::vector<std::string>& source_extra_refspecs = {}) {
  const std::string where = DisplayUrl(source.url);
  std::error_code ec;
  git_repository* repo_raw = nullptr;
  if (fs::exists(repo_dir / "HEAD", ec)) {
    if (git_repository_open_bare(&repo_raw, repo_dir.c_str()) != 0) {
      return absl::InternalError(absl::StrCat("opening the Git cache ", repo_dir.string(), ": ", LastGitError(source)));
    }
  } else if (git_repository_init(&repo_raw, repo_dir.c_str(), /*is_bare=*/1) != 0) {
    return absl::InternalError(absl::StrCat("creating the Git cache ", repo_dir.string(), ": ", LastGitError(source)));
  }
  repo->reset(repo_raw);

  git_oid oid;
  bool have = false;
  if (IsCommitId(source.ref) && git_oid_fromstr(&oid, source.ref.c_str()) == 0) {
    git_object* obj = nullptr;
    have = git_object_lookup(&obj, repo->get(), &oid, GIT_OBJECT_COMMIT) == 0;
    git_object_free(obj);
  }
  if (!have) {
    PLINTH_RETURN_IF_ERROR(fetch(source_extra_refspecs));
    // Read what the fetch wrote through a handle opened after it.
    repo->reset();
    if (git_repository_open_bare(&repo_raw, repo_dir.c_str()) != 0) {
      return absl::InternalError(absl::StrCat("opening the Git cache ", repo_dir.string(), ": ", LastGitError(source)));
    }
    repo->reset(repo_raw);
  }

  // The ref, as a branch, a tag, or a commit id.
  std::vector<std::string> candidates;
  if (source.ref.empty() || source.ref == "HEAD") {
    candidates = {"refs/remotes/origin/HEAD"};
  } else {
    candidates = {"refs/remotes/origin/" + source.ref, "refs/tags/" + source.ref};
    if (IsCommitId(source.ref)) candidates.push_back(source.ref);
  }
  for (const std::string& spec : candidates) {
    git_object* obj = nullptr;
    if (git_revparse_single(&obj, repo->get(), spec.c_str()) != 0) continue;
    Object holder(obj);
    git_object* peeled = nullptr;
    if (git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) == 0) {
      commit->reset(peeled);
      break;
    }
  }
  if (!*commit) {
    return absl::NotFoundError(absl::StrCat(what, " ", where, " has no branch, tag or commit \"",
                                            source.ref.empty() ? "HEAD" : source.ref, "\""));
  }
  return absl::OkStatus();
}

struct ReadLimits {
  size_t max_files = 2000;
  size_t max_file_bytes = 4 << 20;
  size_t max_total_bytes = 64 << 20;
  size_t total = 0;
};

bool IsManifestFile(const std::string& name) {
  return absl::EndsWith(name, ".yaml") || absl::EndsWith(name, ".yml");
}

// Adds the *.yaml / *.yml files of `tree` (recursively) to `out`, keyed by
// `prefix` + their path.
absl::Status CollectManifests(git_repository* repo, const git_tree* tree, const std::string& prefix,
                              ReadLimits* limits, manifest::FileTree* out) {
  size_t n = git_tree_entrycount(tree);
  for (size_t i = 0; i < n; ++i) {
    const git_tree_entry* entry = git_tree_entry_byindex(tree, i);
    std::string name = git_tree_entry_name(entry);
    if (name.empty() || name[0] == '.') continue;  // hidden files and directories
    std::string path = prefix + name;
    git_filemode_t mode = git_tree_entry_filemode(entry);
    if (mode == GIT_FILEMODE_TREE) {
      git_tree* sub_raw = nullptr;
      if (git_tree_lookup(&sub_raw, repo, git_tree_entry_id(entry)) != 0) {
        return absl::InternalError(absl::StrCat("reading ", path));
      }
      Tree sub(sub_raw);
      PLINTH_RETURN_IF_ERROR(CollectManifests(repo, sub.get(), path + "/", limits, out));
      continue;
    }
    if (mode == GIT_FILEMODE_COMMIT || !IsManifestFile(name)) continue;
    if (mode == GIT_FILEMODE_LINK) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": a symbolic link; manifests must be regular files"));
    }
    if (out->size() >= limits->max_files) {
      return absl::InvalidArgumentError(absl::StrCat("more than ", limits->max_files, " manifest files"));
    }
    git_blob* blob_raw = nullptr;
    if (git_blob_lookup(&blob_raw, repo, git_tree_entry_id(entry)) != 0) {
      return absl::InternalError(absl::StrCat("reading ", path));
    }
    Blob blob(blob_raw);
    size_t size = static_cast<size_t>(git_blob_rawsize(blob.get()));
    if (size > limits->max_file_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", size, " bytes, more than the limit of ",
                                                     limits->max_file_bytes));
    }
    limits->total += size;
    if (limits->total > limits->max_total_bytes) {
      return absl::InvalidArgumentError(absl::StrCat("the manifests add up to more than ", limits->max_total_bytes,
                                                     " bytes"));
    }
    (*out)[path] = std::string(static_cast<const char*>(git_blob_rawcontent(blob.get())), size);
  }
  return absl::OkStatus();
}

}  // namespace

GitCache::GitCache(std::string cache_dir, absl::Duration fetch_timeout)
    : cache_dir_(std::move(cache_dir)), fetch_timeout_(fetch_timeout) {
  InitLibgit2();
}

// Holds a mirror busy; releases it when destroyed, unless handed over to a
// fetch that outlived its caller (which releases it when it ends).
class GitCache::MirrorLease {
 public:
  explicit MirrorLease(std::shared_ptr<Mirror> mirror) : mirror_(std::move(mirror)) {}
  ~MirrorLease() {
    if (mirror_) Release(*mirror_);
  }
  // Waits up to `timeout` for the mirror to be free.
  bool Acquire(absl::Duration timeout) {
    absl::MutexLock lock(&mirror_->mu);
    Mirror* m = mirror_.get();
    if (!m->mu.AwaitWithTimeout(absl::Condition(+[](Mirror* x) ABSL_NO_THREAD_SAFETY_ANALYSIS { return !x->busy; }, m),
                                timeout)) {
      std::shared_ptr<Mirror> none;
      mirror_.swap(none);
      return false;
    }
    m->busy = true;
    return true;
  }
  std::shared_ptr<Mirror> HandOver() { return std::move(mirror_); }
  static void Release(Mirror& m) {
    absl::MutexLock lock(&m.mu);
    m.busy = false;
  }

 private:
  std::shared_ptr<Mirror> mirror_;
};

std::shared_ptr<GitCache::Mirror> GitCache::MirrorFor(const std::string& url) {
  absl::MutexLock lock(&mu_);
  auto& m = mirrors_[UrlKey(url)];
  if (!m) m = std::make_shared<Mirror>();
  return m;
}

absl::Status GitCache::FetchBounded(const std::string& repo_dir, const engine::GitModuleSource& source,
                                    const std::string& what, const std::vector<std::string>& extra_refspecs,
                                    MirrorLease* lease) {
  struct Job {
    absl::Mutex mu;
    bool done ABSL_GUARDED_BY(mu) = false;
    bool abandoned ABSL_GUARDED_BY(mu) = false;
    absl::Status status ABSL_GUARDED_BY(mu);
    std::shared_ptr<Mirror> mirror;  // released by the thread once abandoned
  };
  auto job = std::make_shared<Job>();
  // Copies: the thread may outlive this call.
  std::thread([job, repo_dir, source, what, extra_refspecs] {
    absl::Status status = FetchInto(repo_dir, source, what, extra_refspecs);
    absl::MutexLock lock(&job->mu);
    job->done = true;
    job->status = std::move(status);
    if (job->abandoned && job->mirror) MirrorLease::Release(*job->mirror);
  }).detach();
  absl::MutexLock lock(&job->mu);
  Job* j = job.get();
  if (j->mu.AwaitWithTimeout(absl::Condition(+[](Job* x) ABSL_NO_THREAD_SAFETY_ANALYSIS { return x->done; }, j),
                             fetch_timeout_)) {
    return j->status;
  }
  j->abandoned = true;
  j->mirror = lease->HandOver();
  return absl::UnavailableError(absl::StrCat("fetching ", what, " ", DisplayUrl(source.url), ": no answer within ",
                                             absl::FormatDuration(fetch_timeout_),
                                             " (the fetch goes on in the background)"));
}

absl::StatusOr<engine::FetchedModule> GitCache::Fetch(const engine::GitModuleSource& source) {
  const std::string where = DisplayUrl(source.url);
  if (!IsGitUrl(source.url)) {
    return absl::InvalidArgumentError(absl::StrCat("module source ", where, " is not a file://, https://, http:// or ssh:// URL"));
  }
  if (!source.subdir.empty()) {
    if (source.subdir[0] == '/') {
      return absl::InvalidArgumentError(absl::StrCat("module subdir \"", source.subdir, "\" must be relative to the repository"));
    }
    for (absl::string_view part : absl::StrSplit(source.subdir, '/')) {
      if (part == "..") return absl::InvalidArgumentError(absl::StrCat("module subdir \"", source.subdir, "\" leaves the repository"));
    }
  }
  MirrorLease lease(MirrorFor(source.url));
  if (!lease.Acquire(fetch_timeout_)) {
    return absl::UnavailableError(absl::StrCat("module source ", where, ": an earlier fetch of it is still running after ",
                                               absl::FormatDuration(fetch_timeout_)));
  }
  std::error_code ec;
  fs::path repo_dir = fs::path(cache_dir_) / "repos" / UrlKey(source.url);
  fs::path commits_dir = fs::path(cache_dir_) / "commits";
  fs::create_directories(repo_dir.parent_path(), ec);
  fs::create_directories(commits_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("creating the module cache ", cache_dir_, ": ", ec.message()));

  auto done = [&](const std::string& commit) -> absl::StatusOr<FetchedModule> {
    fs::path dir = commits_dir / commit;
    if (!source.subdir.empty()) dir /= source.subdir;
    if (!fs::is_directory(dir, ec)) {
      return absl::NotFoundError(absl::StrCat("module subdir \"", source.subdir, "\" is not a directory in ", where, " at ", commit));
    }
    return FetchedModule{dir.string(), commit};
  };
  // A commit already written needs no network at all.
  if (IsCommitId(source.ref) && fs::is_directory(commits_dir / absl::AsciiStrToLower(source.ref), ec)) {
    return done(absl::AsciiStrToLower(source.ref));
  }

  Repo repo;
  Object commit;
  auto fetch = [&](const std::vector<std::string>& extra) {
    return FetchBounded(repo_dir.string(), source, "module source", extra, &lease);
  };
  PLINTH_RETURN_IF_ERROR(OpenAndResolve(repo_dir, source, "module source", fetch, &repo, &commit));
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, git_object_id(commit.get()));
  std::string sha = hex;
  if (fs::is_directory(commits_dir / sha, ec)) return done(sha);

  // Write the commit's files beside their final place, then move them in,
  // so a crash never leaves a half-written commit directory.
  fs::path tmp = commits_dir / absl::StrCat(".tmp-", sha, "-", core::NewId("").substr(0, 8));
  fs::create_directory(tmp, ec);
  if (ec) return absl::InternalError(absl::StrCat("creating ", tmp.string(), ": ", ec.message()));
  git_tree* tree_raw = nullptr;
  absl::Status written = git_commit_tree(&tree_raw, reinterpret_cast<git_commit*>(commit.get())) == 0
                             ? absl::OkStatus()
                             : absl::InternalError(absl::StrCat("reading commit ", sha, ": ", LastGitError(source)));
  Tree tree(tree_raw);
  if (written.ok()) written = WriteTree(repo.get(), tree.get(), tmp);
  if (written.ok()) {
    fs::rename(tmp, commits_dir / sha, ec);
    if (ec && !fs::is_directory(commits_dir / sha)) written = absl::InternalError(absl::StrCat("moving ", tmp.string(), ": ", ec.message()));
  }
  fs::remove_all(tmp, ec);
  if (!written.ok()) {
    return absl::Status(written.code(), absl::StrCat("module source ", where, " at ", sha, ": ", written.message()));
  }
  return done(sha);
}


absl::StatusOr<GitCache::Snapshot> GitCache::ReadManifests(const engine::GitModuleSource& source,
                                                           const std::vector<std::string>& extra_refspecs) {
  const std::string where = DisplayUrl(source.url);
  if (!IsGitUrl(source.url)) {
    return absl::InvalidArgumentError(absl::StrCat("repository ", where, " is not a file://, https://, http:// or ssh:// URL"));
  }
  std::string subdir = source.subdir;
  while (!subdir.empty() && subdir.back() == '/') subdir.pop_back();
  if (subdir == ".") subdir.clear();
  if (!subdir.empty()) {
    if (subdir[0] == '/') {
      return absl::InvalidArgumentError(absl::StrCat("path \"", source.subdir, "\" must be relative to the repository"));
    }
    for (absl::string_view part : absl::StrSplit(subdir, '/')) {
      if (part == "..") return absl::InvalidArgumentError(absl::StrCat("path \"", source.subdir, "\" leaves the repository"));
    }
  }
  MirrorLease lease(MirrorFor(source.url));
  if (!lease.Acquire(fetch_timeout_)) {
    return absl::UnavailableError(absl::StrCat("repository ", where, ": an earlier fetch of it is still running after ",
                                               absl::FormatDuration(fetch_timeout_)));
  }
  std::error_code ec;
  fs::path repo_dir = fs::path(cache_dir_) / "repos" / UrlKey(source.url);
  fs::create_directories(repo_dir.parent_path(), ec);
  if (ec) return absl::InternalError(absl::StrCat("creating the Git cache ", cache_dir_, ": ", ec.message()));
  Repo repo;
  Object commit;
  auto fetch = [&](const std::vector<std::string>& extra) {
    return FetchBounded(repo_dir.string(), source, "repository", extra, &lease);
  };
  absl::Status resolved = OpenAndResolve(repo_dir, source, "repository", fetch, &repo, &commit);
  if (absl::IsNotFound(resolved) && !extra_refspecs.empty()) {
    commit.reset();
    resolved = OpenAndResolve(repo_dir, source, "repository", fetch, &repo, &commit, extra_refspecs);
  }
  PLINTH_RETURN_IF_ERROR(resolved);
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, git_object_id(commit.get()));
  Snapshot out;
  out.commit = hex;
  git_tree* root_raw = nullptr;
  if (git_commit_tree(&root_raw, reinterpret_cast<git_commit*>(commit.get())) != 0) {
    return absl::InternalError(absl::StrCat("reading commit ", out.commit, ": ", LastGitError(source)));
  }
  Tree root(root_raw);
  Tree dir;
  if (subdir.empty()) {
    dir = std::move(root);
  } else {
    git_tree_entry* entry_raw = nullptr;
    bool is_dir = git_tree_entry_bypath(&entry_raw, root.get(), subdir.c_str()) == 0 &&
                  git_tree_entry_type(entry_raw) == GIT_OBJECT_TREE;
    git_tree* sub_raw = nullptr;
    if (is_dir) is_dir = git_tree_lookup(&sub_raw, repo.get(), git_tree_entry_id(entry_raw)) == 0;
    git_tree_entry_free(entry_raw);
    if (!is_dir) {
      return absl::NotFoundError(absl::StrCat("path \"", subdir, "\" is not a directory in ", where, " at ", out.commit));
    }
    dir.reset(sub_raw);
  }
  ReadLimits limits;
  absl::Status read = CollectManifests(repo.get(), dir.get(), "", &limits, &out.files);
  if (!read.ok()) {
    return absl::Status(read.code(), absl::StrCat(where, " at ", out.commit.substr(0, 12), ": ", read.message()));
  }
  return out;
}

}  // namespace plinth::gitsource
