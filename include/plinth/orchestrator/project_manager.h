// Infra projects: render a chart with values into a revision (checked,
// validated, graphed, diffed against the current one), store it with the
// resources it owns and the pipeline it starts in one transaction, and wake
// the scheduler.
//
//   ProjectManager projects(catalog, &charts, &project_store, &pipeline_store, &scheduler, clock);
//   auto created = projects.Create({.org = "acme", .env = "prod", .name = "web", ...}, "alice");
//
// Thread-safe; every method blocks on SQLite.
#ifndef PLINTH_ORCHESTRATOR_PROJECT_MANAGER_H_
#define PLINTH_ORCHESTRATOR_PROJECT_MANAGER_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "plinth/chart/chart.h"
#include "plinth/manifest/kind_catalog.h"
#include "plinth/orchestrator/pipeline_scheduler.h"
#include "plinth/store/infra_chart_store.h"
#include "plinth/store/infra_pipeline_store.h"
#include "plinth/store/infra_project_store.h"

namespace plinth::orchestrator {

// Where a revision's chart comes from.
struct ChartInput {
  enum class Source { kNone, kStored, kInline };
  Source source = Source::kNone;
  std::string name, version;              // kStored; version "" = newest
  std::vector<chart::ChartFile> files;    // kInline
  // Polled while the chart renders: not OK (the caller gave up) stops it.
  std::function<absl::Status()> interrupt;
};

struct CreateProjectRequest {
  std::string org, env, name;
  ChartInput chart;
  std::string values_yaml;
  std::vector<std::string> set;
  store::ProjectSettings settings;
  bool no_deploy = false;
};

struct UpdateProjectRequest {
  store::ProjectRef project;
  int64_t expected_version = 0;
  ChartInput chart;                       // kNone: the project's copy
  std::optional<std::string> values_yaml;  // replaces the values when set
  std::vector<std::string> set;
  std::optional<store::ProjectSettings> settings;
  bool no_deploy = false;
};

struct ProjectResult {
  store::InfraProjectRecord project;
  store::ProjectRevisionRecord revision;
  std::optional<store::PipelineRecord> pipeline;
  std::string note;  // why no pipeline started
};

class ProjectManager {
 public:
  ProjectManager(const manifest::KindCatalog* catalog, store::InfraChartStore* charts,
                 store::InfraProjectStore* projects, store::InfraPipelineStore* pipelines,
                 PipelineScheduler* scheduler, chart::ChartLimits limits)
      : catalog_(catalog), charts_(charts), projects_(projects), pipelines_(pipelines), scheduler_(scheduler),
        limits_(limits) {}

  absl::StatusOr<ProjectResult> Create(const CreateProjectRequest& req, const std::string& actor);
  // A settings-only change writes no revision and starts no pipeline.
  absl::StatusOr<ProjectResult> Update(const UpdateProjectRequest& req, const std::string& actor);
  absl::StatusOr<ProjectResult> Rollback(const store::ProjectRef& ref, int64_t revision, const std::string& actor);
  // trigger: run (deploy every resource of the current revision), undeploy,
  // or purge (undeploy, then delete the record).
  absl::StatusOr<ProjectResult> StartPipeline(const store::ProjectRef& ref, const std::string& trigger,
                                              const std::string& actor);
  absl::StatusOr<std::vector<std::string>> Delete(const store::ProjectRef& ref, bool orphan, const std::string& actor);

  // Projects whose manifests come from elsewhere (a Git commit, read by
  // src/gitsource): revision 1 from `manifests` (checked, graphed), owned
  // resources, and a deploy pipeline (`trigger`: create or pull_request)
  // unless no_deploy. project.chart_source
  // says where they came from.
  absl::StatusOr<ProjectResult> CreateFromManifests(store::InfraProjectRecord project,
                                                    std::vector<manifest::Manifest> manifests,
                                                    const std::string& commit, bool no_deploy,
                                                    const std::string& trigger, const std::string& actor);
  // A new revision from `manifests` at `commit` and a pipeline (trigger push,
  // sync or pull_request). When `commit` is the current revision's, no
  // revision is written: a pipeline runs over the current one (changed and
  // undeployed resources only).
  absl::StatusOr<ProjectResult> AddSourcedRevision(const store::ProjectRef& ref,
                                                   std::vector<manifest::Manifest> manifests,
                                                   const std::string& commit, const std::string& trigger,
                                                   const std::string& actor);
  // A pull request's plan: a preview-only pipeline of the project over
  // `manifests` (at `commit`) instead of a revision, planned against what is
  // deployed; the project and its revisions do not change. Resources the
  // commit adds are noted (they have no stack to plan against yet).
  absl::StatusOr<store::PipelineRecord> StartSpeculativePipeline(const store::ProjectRef& ref,
                                                                 std::vector<manifest::Manifest> manifests,
                                                                 const std::string& commit,
                                                                 const std::string& actor);
  // Records a pipeline that failed before it could start (a commit that
  // could not be read or validated), so that the failure shows in the
  // project's pipelines. Nothing else changes.
  absl::StatusOr<store::PipelineRecord> RecordFailedPipeline(const store::ProjectRef& ref, const std::string& trigger,
                                                             const std::string& commit, const std::string& error,
                                                             const std::string& actor);

 private:
  struct Rendered {
    std::string chart_name, chart_version, chart_source;
    std::vector<chart::ChartFile> files;
    nlohmann::json values;
    std::vector<manifest::Manifest> manifests;
    nlohmann::json graph;
  };
  absl::StatusOr<Rendered> Render(const ChartInput& input, const store::ProjectRevisionRecord* current,
                                  const store::InfraProjectRecord* project, const std::string& org,
                                  const std::string& env, const std::optional<std::string>& values_yaml,
                                  const std::vector<std::string>& set) const;
  static store::ProjectRevisionRecord RevisionOf(const Rendered& r, nlohmann::json diff);
  // The deploy pipeline a change starts, or none (with the reason in *note).
  std::optional<store::PipelineRecord> AutomaticPipeline(bool no_deploy, const store::ProjectSettings& settings,
                                                         const std::string& trigger, std::string* note) const;
  store::PipelineRecord NewPipeline(const std::string& kind, const std::string& trigger,
                                    const store::ProjectSettings& settings) const;
  void Started(ProjectResult* result);

  const manifest::KindCatalog* const catalog_;
  store::InfraChartStore* const charts_;
  store::InfraProjectStore* const projects_;
  store::InfraPipelineStore* const pipelines_;
  PipelineScheduler* const scheduler_;
  const chart::ChartLimits limits_;
};

// The checks of a new project's org ("" becomes "default"), env, name and
// settings, with the field in each error.
absl::Status CheckNewProject(std::string* org, const std::string& env, const std::string& name,
                             const store::ProjectSettings& settings);

// {"added": [...], "changed": [...], "removed": [...], "unchanged": n} by
// "env/kind/name", comparing manifests without metadata.id.
nlohmann::json DiffManifests(const nlohmann::json& before, const std::vector<manifest::Manifest>& after);

}  // namespace plinth::orchestrator

#endif  // PLINTH_ORCHESTRATOR_PROJECT_MANAGER_H_
