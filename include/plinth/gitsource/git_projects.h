// Git-based infra projects: a project whose manifests are the *.yaml files
// under a directory of a Git repository at one commit (plus one set per
// Kustomize overlay, see manifest/kustomize.h), and what pushes and pull
// requests do to them.
//
//   GitProjects git(&cache, &manager, &project_store, &connections, &catalog, box);
//   auto created = git.Create({.name = "net", .env = "prod", .source = {.url = url, .branch = "main"}}, "alice");
//   auto synced = git.Sync({.id = created->result.project.id}, "", "sync", "alice");
//
// A commit is read whole and every manifest validated before anything is
// written: nothing is ever deployed from a half-read tree. Thread-safe.
#ifndef PLINTH_GITSOURCE_GIT_PROJECTS_H_
#define PLINTH_GITSOURCE_GIT_PROJECTS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "plinth/core/secret_box.h"
#include "plinth/gitsource/git_cache.h"
#include "plinth/manifest/kind_catalog.h"
#include "plinth/manifest/kustomize.h"
#include "plinth/manifest/manifest.h"
#include "plinth/orchestrator/project_manager.h"
#include "plinth/store/connection_store.h"
#include "plinth/store/infra_project_store.h"

namespace plinth::gitsource {

struct CreateGitProjectRequest {
  std::string org, env, name;
  // url, branch (default "main"), path, connection.
  store::GitSource source;
  // The secret webhooks are signed with; "" = a random one (returned once).
  std::string webhook_secret;
  store::ProjectSettings settings;
  bool no_deploy = false;
};

struct GitProjectResult {
  orchestrator::ProjectResult result;
  // Only on create: the webhook secret, to paste into the Git host.
  std::string webhook_secret;
};

// One event from a Git host, as the server's webhook handler parsed it.
struct GitEvent {
  std::string provider;                // github or gitlab
  std::string kind;                    // push or pull_request
  std::vector<std::string> repo_urls;  // every URL the payload gives the repository
  std::string branch;                  // push: the branch; pull request: its target branch
  std::string commit;                  // push: the new head; pull request: the head commit
  bool deleted = false;                // push: the branch was deleted
  int64_t number = 0;                  // pull request number (GitLab: the MR iid)
  std::string action;                  // pull request: opened, synchronize, reopened, closed
};

struct EventOutcome {
  std::string result;  // what was done, in words
  std::vector<std::string> pipelines;
};

// Every manifest of a commit's tree: the plain *.yaml files (metadata.env
// defaults to `env`) and, when the tree has _kustomize/, each overlay but
// `local` with the env its documents name. Errors name the file, under
// `prefix` (the project's directory in the repository).
absl::StatusOr<std::vector<manifest::Manifest>> ManifestsOfTree(const manifest::FileTree& files,
                                                                const std::string& prefix, const std::string& org,
                                                                const std::string& env,
                                                                const manifest::KindCatalog& catalog);

// "https://github.com/acme/infra" for "https://user@GitHub.com/acme/infra.git/".
std::string NormalizeRepoUrl(const std::string& url);

class GitProjects {
 public:
  GitProjects(GitCache* cache, orchestrator::ProjectManager* manager, store::InfraProjectStore* projects,
              store::ConnectionStore* connections, const manifest::KindCatalog* catalog, const core::SecretBox* box)
      : cache_(cache), manager_(manager), projects_(projects), connections_(connections), catalog_(catalog),
        box_(box) {}

  // Reads the branch head, validates it, and creates the project (revision 1
  // at that commit) with a deploy pipeline unless no_deploy.
  absl::StatusOr<GitProjectResult> Create(CreateGitProjectRequest req, const std::string& actor);
  // A pipeline for `commit` ("" = the branch head). When the commit cannot be
  // read or validated, a failed pipeline records why (and the error returns).
  absl::StatusOr<orchestrator::ProjectResult> Sync(const store::ProjectRef& ref, const std::string& commit,
                                                   const std::string& trigger, const std::string& actor);

  // The Git projects (previews of pull requests left out) that track one of
  // `repo_urls`.
  absl::StatusOr<std::vector<store::InfraProjectRecord>> Tracking(const std::vector<std::string>& repo_urls) const;
  // Replaces a Git project's webhook secret ("" = a random one); returns
  // the new secret. Deliveries signed with the old one get 401 from now on.
  absl::StatusOr<std::string> RotateWebhookSecret(const store::ProjectRef& ref, const std::string& secret,
                                                  const std::string& actor);
  // The projects with these ids that still exist.
  std::vector<store::InfraProjectRecord> ByIds(const std::vector<std::string>& ids) const;
  // The project's webhook secret, opened.
  absl::StatusOr<std::string> WebhookSecret(const store::InfraProjectRecord& project) const;
  // Acts on a verified event for each of `projects`: a push to the tracked
  // branch syncs to its commit; a pull request opened, reopened or updated
  // runs a preview (plan only) in the pull request's preview environment, or
  // deploys there with enable_pull_request_deployments; closed undeploys
  // and removes that preview.
  EventOutcome Handle(const GitEvent& event, const std::vector<store::InfraProjectRecord>& projects,
                      const std::string& actor);

 private:
  struct Read {
    std::string commit;
    std::vector<manifest::Manifest> manifests;
  };
  // The manifests of `project` at `ref` (branch, or commit id), in the
  // project's env, or with every env suffixed by `env_suffix`.
  absl::StatusOr<Read> ReadAt(const store::InfraProjectRecord& project, const std::string& ref,
                              const std::string& env_suffix, int64_t pull_request) const;
  // The credentials of the git connection (named, else the default).
  absl::Status SetCredentials(const std::string& org, const std::string& env, const std::string& connection,
                              engine::GitModuleSource* source) const;
  absl::StatusOr<std::string> PullRequest(const GitEvent& event, const store::InfraProjectRecord& parent,
                                          const std::string& actor, std::vector<std::string>* pipelines);

  GitCache* const cache_;
  orchestrator::ProjectManager* const manager_;
  store::InfraProjectStore* const projects_;
  store::ConnectionStore* const connections_;
  const manifest::KindCatalog* const catalog_;
  const core::SecretBox* const box_;
};

}  // namespace plinth::gitsource

#endif  // PLINTH_GITSOURCE_GIT_PROJECTS_H_
