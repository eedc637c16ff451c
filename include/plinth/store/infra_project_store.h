// The infra-project repository: projects, their revisions (chart snapshot,
// values, rendered manifests, graph, diff) and the cloud resources they own.
// A change that starts a pipeline writes the pipeline row in the same
// transaction, so a project change and its pipeline are never half-written.
//
//   InfraProjectStore projects(db, clock);
//   auto written = projects.Create(project, revision, manifests, pipeline, "alice");
//
// Thread-safe; every method blocks on SQLite.
#ifndef PLINTH_STORE_INFRA_PROJECT_STORE_H_
#define PLINTH_STORE_INFRA_PROJECT_STORE_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "plinth/chart/chart.h"
#include "plinth/core/clock.h"
#include "plinth/manifest/manifest.h"
#include "plinth/store/cloud_resource_store.h"
#include "plinth/store/database.h"
#include "plinth/store/infra_pipeline_store.h"

namespace plinth::store {

struct ProjectSettings {
  bool disable_pipelines = false;
  bool disable_deployments = false;
  bool requires_manual_gate = false;
  int max_parallel_jobs = 0;
  // Git projects: a pull request deploys to a preview environment (else it
  // only previews).
  bool enable_pull_request_deployments = false;
};

// Where a Git project's manifests come from. Empty url: a chart project.
struct GitSource {
  std::string url;         // file://, https:// or http://
  std::string branch;      // the tracked branch
  std::string path;        // directory in the repository; "" = its root
  std::string connection;  // a Git connection (token) for https, or ""
  std::string webhook_secret_sealed;  // SecretBox-sealed (base64); never shown
  // A pull-request preview project: the project it previews, and the number.
  std::string parent_id;
  int64_t pull_request = 0;

  bool empty() const { return url.empty(); }
};

struct InfraProjectRecord {
  std::string id, org, env, name;
  int64_t revision = 0;
  std::string chart_name, chart_version, chart_source;  // stored, inline or git
  ProjectSettings settings;
  GitSource git;
  int64_t version = 0;
  absl::Time created_at, updated_at;
  std::string created_by, updated_by;
};

struct ProjectRevisionRecord {
  std::string project_id;
  int64_t revision = 0;
  std::string chart_name, chart_version;
  std::string chart_source;  // stored or inline: becomes the project's (not kept per revision)
  std::vector<chart::ChartFile> chart_files;
  nlohmann::json values = nlohmann::json::object();
  nlohmann::json manifests = nlohmann::json::array();  // metadata.id filled in by the store
  nlohmann::json graph;
  // {"added": [...], "changed": [...], "removed": [...], "unchanged": n}, keys "env/kind/name"
  nlohmann::json diff;
  int64_t rollback_of = 0;
  std::string commit;  // Git projects: the commit the manifests were read at
  std::string actor;
  absl::Time created_at;
};

struct ProjectWrite {
  InfraProjectRecord project;
  ProjectRevisionRecord revision;
  std::optional<PipelineRecord> pipeline;
};

struct ProjectRef {
  std::string id;
  std::string org, env, name;  // env may be empty when the name is unique in the org
};

struct ProjectPage {
  std::vector<InfraProjectRecord> items;
  std::string next_page_token;
};

struct RevisionRecordPage {
  std::vector<ProjectRevisionRecord> items;
  std::string next_page_token;
};

class InfraProjectStore {
 public:
  InfraProjectStore(Database* db, core::Clock* clock) : db_(db), clock_(clock) {}

  // Project, revision 1, its cloud resources (owned by the project) and, if
  // given, the pipeline row (id, seq and times filled in), in one
  // transaction. ALREADY_EXISTS for the name; FAILED_PRECONDITION when a
  // resource exists outside the project.
  absl::StatusOr<ProjectWrite> Create(InfraProjectRecord project, ProjectRevisionRecord revision,
                                      const std::vector<manifest::Manifest>& manifests,
                                      std::optional<PipelineRecord> pipeline, const std::string& actor);
  // A new revision (the project's version must be expected_version when
  // that is > 0; ABORTED otherwise), its resources, new settings if given,
  // and the pipeline row if given. Resources left out of the revision stay
  // owned until a pipeline destroys them.
  absl::StatusOr<ProjectWrite> AddRevision(const std::string& project_id, int64_t expected_version,
                                           ProjectRevisionRecord revision,
                                           const std::vector<manifest::Manifest>& manifests,
                                           const std::optional<ProjectSettings>& settings,
                                           std::optional<PipelineRecord> pipeline, const std::string& actor);
  // Settings only: no new revision.
  absl::StatusOr<InfraProjectRecord> UpdateSettings(const std::string& project_id, int64_t expected_version,
                                                    const ProjectSettings& settings, const std::string& actor);
  // A Git project's webhook secret (sealed) replaced; audited.
  absl::StatusOr<InfraProjectRecord> SetWebhookSecret(const std::string& project_id, const std::string& sealed,
                                                      const std::string& actor);
  // A pipeline over the current revision (run, undeploy, purge; or one
  // that failed before it could start, state "failed" with its error). Its
  // commit is the revision's unless set.
  absl::StatusOr<PipelineRecord> AddPipeline(const std::string& project_id, PipelineRecord pipeline,
                                             const std::string& actor);

  absl::StatusOr<InfraProjectRecord> Get(const ProjectRef& ref) const;
  absl::StatusOr<ProjectPage> List(const std::string& org, const std::string& env, int page_size,
                                   const std::string& page_token) const;
  // 0 = the current revision.
  absl::StatusOr<ProjectRevisionRecord> GetRevision(const std::string& project_id, int64_t revision) const;
  // Newest first.
  absl::StatusOr<RevisionRecordPage> ListRevisions(const std::string& project_id, int page_size,
                                                   const std::string& page_token) const;
  // The pull-request previews of a Git project ("org/env/name" each).
  absl::StatusOr<std::vector<std::string>> Previews(const std::string& project_id) const;
  // Every Git project (chart projects are left out).
  absl::StatusOr<std::vector<InfraProjectRecord>> ListGit() const;
  // Every resource the project owns (also ones removed by a later revision
  // whose destroy has not succeeded).
  absl::StatusOr<std::vector<CloudResourceRecord>> OwnedResources(const std::string& project_id) const;

  // Deletes the record and its revisions; never infrastructure.
  // FAILED_PRECONDITION while a pipeline is active, while pull-request
  // previews of it exist, or while resources are
  // deployed unless `orphan` (they stay, unowned). Undeployed owned
  // resources are deleted with it. Returns the orphaned resource keys.
  absl::StatusOr<std::vector<std::string>> Delete(const std::string& project_id, bool orphan,
                                                  const std::string& actor);

 private:
  // Reads the project, applies `change` (which may refuse), bumps its
  // version, writes it and an audit event `action`, in one transaction.
  absl::StatusOr<InfraProjectRecord> Modify(const std::string& project_id, const std::string& action,
                                            const std::string& actor,
                                            const std::function<absl::Status(InfraProjectRecord*)>& change);

  Database* db_;
  core::Clock* clock_;
};

}  // namespace plinth::store

#endif  // PLINTH_STORE_INFRA_PROJECT_STORE_H_
