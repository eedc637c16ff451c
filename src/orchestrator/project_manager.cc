#include "plinth/orchestrator/project_manager.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "plinth/core/error_reason.h"
#include "plinth/core/logging.h"
#include "plinth/core/status_macros.h"
#include "plinth/graph/graph.h"
#include "plinth/manifest/names.h"
#include "plinth/orchestrator/stored_manifests.h"

namespace plinth::orchestrator {
namespace {

using nlohmann::json;

std::string KeyOf(const manifest::Manifest& m) { return m.env + "/" + m.kind + "/" + m.name; }

// Fills a result from what the store wrote.
void FromWrite(store::ProjectWrite written, ProjectResult* result) {
  result->project = std::move(written.project);
  result->revision = std::move(written.revision);
  result->pipeline = std::move(written.pipeline);
}

json WithoutId(json body) {
  if (body.contains("metadata") && body["metadata"].is_object()) body["metadata"].erase("id");
  return body;
}

}  // namespace

absl::Status CheckNewProject(std::string* org, const std::string& env, const std::string& name,
                             const store::ProjectSettings& settings) {
  if (org->empty()) *org = "default";
  PLINTH_RETURN_IF_ERROR(manifest::CheckName("org", *org));
  if (env.empty()) return absl::InvalidArgumentError("env: required");
  PLINTH_RETURN_IF_ERROR(manifest::CheckName("env", env));
  if (name.empty()) return absl::InvalidArgumentError("name: required");
  PLINTH_RETURN_IF_ERROR(manifest::CheckName("name", name));
  if (settings.max_parallel_jobs < 0) {
    return absl::InvalidArgumentError("settings.max_parallel_jobs: must not be negative");
  }
  return absl::OkStatus();
}

json DiffManifests(const json& before, const std::vector<manifest::Manifest>& after) {
  std::map<std::string, json> old;
  for (const auto& m : FromStoredManifests(before)) old[KeyOf(m)] = WithoutId(m.body);
  json diff = {{"added", json::array()}, {"changed", json::array()}, {"removed", json::array()}, {"unchanged", 0}};
  std::set<std::string> seen;
  for (const auto& m : after) {
    std::string key = KeyOf(m);
    seen.insert(key);
    auto it = old.find(key);
    if (it == old.end()) {
      diff["added"].push_back(key);
    } else if (it->second != WithoutId(m.body)) {
      diff["changed"].push_back(key);
    } else {
      diff["unchanged"] = diff["unchanged"].get<int>() + 1;
    }
  }
  for (const auto& [key, body] : old) {
    if (!seen.count(key)) diff["removed"].push_back(key);
  }
  return diff;
}

absl::StatusOr<ProjectManager::Rendered> ProjectManager::Render(const ChartInput& input,
                                                                const store::ProjectRevisionRecord* current,
                                                                const store::InfraProjectRecord* project,
                                                                const std::string& org, const std::string& env,
                                                                const std::optional<std::string>& values_yaml,
                                                                const std::vector<std::string>& set) const {
  Rendered out;
  switch (input.source) {
    case ChartInput::Source::kStored: {
      std::string name = input.name.empty() && project != nullptr ? project->chart_name : input.name;
      if (name.empty()) return absl::InvalidArgumentError("chart.name: required");
      PLINTH_ASSIGN_OR_RETURN(auto record, charts_->Get(name, input.version));
      out.chart_name = record.name;
      out.chart_version = record.version;
      out.chart_source = "stored";
      out.files = std::move(record.files);
      break;
    }
    case ChartInput::Source::kInline:
      out.files = input.files;
      out.chart_source = "inline";
      break;
    case ChartInput::Source::kNone:
      if (current == nullptr) {
        return absl::InvalidArgumentError("chart: required: a pushed chart (name, version) or inline chart files");
      }
      out.files = current->chart_files;
      out.chart_name = current->chart_name;
      out.chart_version = current->chart_version;
      out.chart_source = project->chart_source;
      break;
  }
  PLINTH_ASSIGN_OR_RETURN(chart::Chart loaded, chart::LoadChart(out.files, limits_));
  if (input.source == ChartInput::Source::kInline) {
    out.chart_name = loaded.name;
    out.chart_version = loaded.version;
  }
  if (values_yaml) {
    PLINTH_ASSIGN_OR_RETURN(out.values, chart::ParseValuesFile(*values_yaml, "values"));
  } else {
    out.values = current != nullptr && current->values.is_object() ? current->values : json::object();
  }
  for (const auto& s : set) PLINTH_RETURN_IF_ERROR(chart::ApplySet(loaded, s, &out.values));
  PLINTH_ASSIGN_OR_RETURN(chart::Value resolved, chart::ResolveValues(loaded, out.values, org, env));
  manifest::ManifestOptions options;
  options.org = org;
  options.env = env;
  chart::ChartLimits limits = limits_;
  limits.interrupt = input.interrupt;
  PLINTH_ASSIGN_OR_RETURN(auto rendered, chart::RenderChart(loaded, resolved, *catalog_, options, limits));
  PLINTH_ASSIGN_OR_RETURN(auto g, graph::Graph::Build(rendered.manifests));
  out.manifests = std::move(rendered.manifests);
  out.graph = g.ToJson();
  return out;
}

store::ProjectRevisionRecord ProjectManager::RevisionOf(const Rendered& r, nlohmann::json diff) {
  store::ProjectRevisionRecord revision;
  revision.chart_name = r.chart_name;
  revision.chart_version = r.chart_version;
  revision.chart_source = r.chart_source;
  revision.chart_files = r.files;
  revision.values = r.values;
  revision.graph = r.graph;
  revision.diff = std::move(diff);
  return revision;
}

std::optional<store::PipelineRecord> ProjectManager::AutomaticPipeline(bool no_deploy,
                                                                       const store::ProjectSettings& settings,
                                                                       const std::string& trigger,
                                                                       std::string* note) const {
  if (no_deploy) {
    *note = "not deployed (no_deploy): run-pipeline deploys it";
    return std::nullopt;
  }
  if (settings.disable_pipelines) {
    *note = "pipelines are disabled for this project: run-pipeline deploys it";
    return std::nullopt;
  }
  return NewPipeline("deploy", trigger, settings);
}

store::PipelineRecord ProjectManager::NewPipeline(const std::string& kind, const std::string& trigger,
                                                  const store::ProjectSettings& settings) const {
  store::PipelineRecord p;
  p.kind = kind;
  p.trigger = trigger;
  p.state = store::PipelineState::kQueued;
  p.preview_only = settings.disable_deployments;
  p.purge_after = trigger == "purge";
  p.max_parallel = settings.max_parallel_jobs;
  return p;
}

void ProjectManager::Started(ProjectResult* result) {
  if (result->pipeline) {
    scheduler_->Wake(result->pipeline->id);
    core::Logger("projects")->info("project={} revision={} pipeline={} ({}) queued", result->project.name,
                                   result->project.revision, result->pipeline->id, result->pipeline->trigger);
  }
}

absl::StatusOr<ProjectResult> ProjectManager::Create(const CreateProjectRequest& req, const std::string& actor) {
  std::string org = req.org;
  PLINTH_RETURN_IF_ERROR(CheckNewProject(&org, req.env, req.name, req.settings));
  if (req.chart.source == ChartInput::Source::kNone) {
    return absl::InvalidArgumentError("chart: required: a pushed chart (name, version) or inline chart files");
  }
  PLINTH_ASSIGN_OR_RETURN(Rendered r, Render(req.chart, nullptr, nullptr, org, req.env, req.values_yaml, req.set));
  store::InfraProjectRecord project;
  project.org = org;
  project.env = req.env;
  project.name = req.name;
  project.chart_name = r.chart_name;
  project.chart_version = r.chart_version;
  project.chart_source = r.chart_source;
  project.settings = req.settings;
  store::ProjectRevisionRecord revision = RevisionOf(r, DiffManifests(json::array(), r.manifests));
  ProjectResult result;
  auto pipeline = AutomaticPipeline(req.no_deploy, req.settings, "create", &result.note);
  PLINTH_ASSIGN_OR_RETURN(auto written, projects_->Create(project, revision, r.manifests, pipeline, actor));
  FromWrite(std::move(written), &result);
  Started(&result);
  return result;
}

absl::StatusOr<ProjectResult> ProjectManager::Update(const UpdateProjectRequest& req, const std::string& actor) {
  PLINTH_ASSIGN_OR_RETURN(auto project, projects_->Get(req.project));
  if (req.expected_version > 0 && project.version != req.expected_version) {
    return core::WithReason(absl::AbortedError(absl::StrCat("infra project ", project.name, " is at version ",
                                                            project.version, ", not ", req.expected_version,
                                                            ": it changed since you read it; read it again")),
                            "VERSION_MISMATCH");
  }
  if (req.settings && req.settings->max_parallel_jobs < 0) {
    return absl::InvalidArgumentError("settings.max_parallel_jobs: must not be negative");
  }
  PLINTH_ASSIGN_OR_RETURN(auto current, projects_->GetRevision(project.id, 0));
  ProjectResult result;
  bool settings_only = req.chart.source == ChartInput::Source::kNone && !req.values_yaml && req.set.empty();
  if (!project.git.empty() && !settings_only) {
    return core::WithReason(absl::FailedPreconditionError(absl::StrCat(
        "infra project ", project.name, " takes its manifests from Git (", project.git.url,
        "): push to branch ", project.git.branch, " or run `plinth project sync`; only settings can be updated")),
        "PROJECT_FROM_GIT");
  }
  if (settings_only) {
    if (!req.settings) {
      return absl::InvalidArgumentError("nothing to update: give a chart, values, --set or settings");
    }
    PLINTH_ASSIGN_OR_RETURN(result.project,
                            projects_->UpdateSettings(project.id, req.expected_version, *req.settings, actor));
    result.revision = std::move(current);
    result.note = "settings changed; no new revision";
    return result;
  }
  PLINTH_ASSIGN_OR_RETURN(Rendered r, Render(req.chart, &current, &project, project.org, project.env,
                                             req.values_yaml, req.set));
  store::ProjectRevisionRecord revision = RevisionOf(r, DiffManifests(current.manifests, r.manifests));
  store::ProjectSettings settings = req.settings ? *req.settings : project.settings;
  auto pipeline = AutomaticPipeline(req.no_deploy, settings, "update", &result.note);
  PLINTH_ASSIGN_OR_RETURN(auto written, projects_->AddRevision(project.id, project.version, revision, r.manifests,
                                                               req.settings, pipeline, actor));
  FromWrite(std::move(written), &result);
  Started(&result);
  return result;
}

absl::StatusOr<ProjectResult> ProjectManager::Rollback(const store::ProjectRef& ref, int64_t revision_number,
                                                       const std::string& actor) {
  if (revision_number <= 0) return absl::InvalidArgumentError("revision: required (a revision number, 1 or more)");
  PLINTH_ASSIGN_OR_RETURN(auto project, projects_->Get(ref));
  PLINTH_ASSIGN_OR_RETURN(auto target, projects_->GetRevision(project.id, revision_number));
  PLINTH_ASSIGN_OR_RETURN(auto current, projects_->GetRevision(project.id, 0));
  std::vector<manifest::Manifest> manifests = FromStoredManifests(target.manifests, /*strip_ids=*/true);
  store::ProjectRevisionRecord revision;
  revision.chart_name = target.chart_name;
  revision.chart_version = target.chart_version;
  revision.chart_files = target.chart_files;
  revision.values = target.values;
  revision.graph = target.graph;
  revision.rollback_of = revision_number;
  revision.commit = target.commit;
  revision.chart_source = project.chart_source;
  revision.diff = DiffManifests(current.manifests, manifests);
  ProjectResult result;
  auto pipeline = AutomaticPipeline(false, project.settings, "rollback", &result.note);
  PLINTH_ASSIGN_OR_RETURN(auto written, projects_->AddRevision(project.id, project.version, revision, manifests,
                                                               std::nullopt, pipeline, actor));
  FromWrite(std::move(written), &result);
  Started(&result);
  return result;
}

absl::StatusOr<ProjectResult> ProjectManager::StartPipeline(const store::ProjectRef& ref, const std::string& trigger,
                                                            const std::string& actor) {
  PLINTH_ASSIGN_OR_RETURN(auto project, projects_->Get(ref));
  if (trigger == "purge" && project.settings.disable_deployments) {
    return core::WithReason(absl::FailedPreconditionError(absl::StrCat(
        "infra project ", project.name,
        " has deployments disabled: a purge would only preview its destroys; enable deployments, or delete the record")),
        "DEPLOYMENTS_DISABLED");
  }
  if (trigger == "purge") {
    PLINTH_ASSIGN_OR_RETURN(auto previews, projects_->Previews(project.id));
    if (!previews.empty()) {
      return core::WithReason(absl::FailedPreconditionError(absl::StrCat("infra project ", project.name,
                                                                         " has pull-request previews (",
                                                                         absl::StrJoin(previews, ", "),
                                                                         "); purge them first")),
                            "PREVIEWS_EXIST");
    }
  }
  PLINTH_ASSIGN_OR_RETURN(auto revision, projects_->GetRevision(project.id, 0));
  ProjectResult result;
  PLINTH_ASSIGN_OR_RETURN(result.pipeline,
                          projects_->AddPipeline(project.id, NewPipeline(trigger == "run" ? "deploy" : "undeploy",
                                                                         trigger, project.settings),
                                                 actor));
  result.project = std::move(project);
  result.revision = std::move(revision);
  Started(&result);
  return result;
}

absl::StatusOr<std::vector<std::string>> ProjectManager::Delete(const store::ProjectRef& ref, bool orphan,
                                                                const std::string& actor) {
  PLINTH_ASSIGN_OR_RETURN(auto project, projects_->Get(ref));
  return projects_->Delete(project.id, orphan, actor);
}

absl::StatusOr<ProjectResult> ProjectManager::CreateFromManifests(store::InfraProjectRecord project,
                                                                  std::vector<manifest::Manifest> manifests,
                                                                  const std::string& commit, bool no_deploy,
                                                                  const std::string& trigger,
                                                                  const std::string& actor) {
  PLINTH_RETURN_IF_ERROR(CheckNewProject(&project.org, project.env, project.name, project.settings));
  PLINTH_ASSIGN_OR_RETURN(auto g, graph::Graph::Build(manifests));
  store::ProjectRevisionRecord revision;
  revision.chart_source = project.chart_source;
  revision.graph = g.ToJson();
  revision.commit = commit;
  revision.diff = DiffManifests(json::array(), manifests);
  ProjectResult result;
  auto pipeline = AutomaticPipeline(no_deploy, project.settings, trigger, &result.note);
  PLINTH_ASSIGN_OR_RETURN(auto written, projects_->Create(project, revision, manifests, pipeline, actor));
  FromWrite(std::move(written), &result);
  Started(&result);
  return result;
}

absl::StatusOr<ProjectResult> ProjectManager::AddSourcedRevision(const store::ProjectRef& ref,
                                                                 std::vector<manifest::Manifest> manifests,
                                                                 const std::string& commit, const std::string& trigger,
                                                                 const std::string& actor) {
  PLINTH_ASSIGN_OR_RETURN(auto project, projects_->Get(ref));
  PLINTH_ASSIGN_OR_RETURN(auto current, projects_->GetRevision(project.id, 0));
  ProjectResult result;
  if (!commit.empty() && commit == current.commit) {
    if (project.settings.disable_pipelines && trigger != "sync") {
      result.note = "pipelines are disabled for this project: run-pipeline deploys it";
      result.project = std::move(project);
      result.revision = std::move(current);
      return result;
    }
    PLINTH_ASSIGN_OR_RETURN(result.pipeline,
                            projects_->AddPipeline(project.id, NewPipeline("deploy", trigger, project.settings), actor));
    result.note = absl::StrCat("commit ", commit.substr(0, 12), " is the current revision's: no new revision");
    result.project = std::move(project);
    result.revision = std::move(current);
    Started(&result);
    return result;
  }
  PLINTH_ASSIGN_OR_RETURN(auto g, graph::Graph::Build(manifests));
  store::ProjectRevisionRecord revision;
  revision.chart_source = project.chart_source;
  revision.graph = g.ToJson();
  revision.commit = commit;
  revision.diff = DiffManifests(current.manifests, manifests);
  std::optional<store::PipelineRecord> pipeline;
  if (trigger == "sync") {
    pipeline = NewPipeline("deploy", trigger, project.settings);  // asked for by hand
  } else {
    pipeline = AutomaticPipeline(false, project.settings, trigger, &result.note);
  }
  PLINTH_ASSIGN_OR_RETURN(auto written, projects_->AddRevision(project.id, 0, revision, manifests, std::nullopt,
                                                               pipeline, actor));
  FromWrite(std::move(written), &result);
  Started(&result);
  return result;
}

absl::StatusOr<store::PipelineRecord> ProjectManager::StartSpeculativePipeline(
    const store::ProjectRef& ref, std::vector<manifest::Manifest> manifests, const std::string& commit,
    const std::string& actor) {
  PLINTH_ASSIGN_OR_RETURN(auto project, projects_->Get(ref));
  PLINTH_RETURN_IF_ERROR(graph::Graph::Build(manifests).status());
  PLINTH_ASSIGN_OR_RETURN(auto owned, projects_->OwnedResources(project.id));
  std::map<std::string, std::string> id_of;
  for (const auto& r : owned) id_of[r.key.env + "/" + r.key.kind + "/" + r.key.name] = r.id;
  store::PipelineRecord p = NewPipeline("deploy", "pull_request", project.settings);
  p.preview_only = true;
  p.commit = commit;
  p.manifests = json::array();
  for (auto& m : manifests) {
    // As a revision stores it (with the resource's id), so that an unchanged
    // resource's digest matches the one deployed.
    auto it = id_of.find(KeyOf(m));
    if (it != id_of.end()) m.body["metadata"]["id"] = it->second;
    p.manifests.push_back(std::move(m.body));
  }
  PLINTH_ASSIGN_OR_RETURN(auto written, projects_->AddPipeline(project.id, std::move(p), actor));
  scheduler_->Wake(written.id);
  core::Logger("projects")->info("project={} pipeline={} (pull request plan of {}) queued", project.name, written.id,
                                 commit.substr(0, 12));
  return written;
}

absl::StatusOr<store::PipelineRecord> ProjectManager::RecordFailedPipeline(const store::ProjectRef& ref,
                                                                           const std::string& trigger,
                                                                           const std::string& commit,
                                                                           const std::string& error,
                                                                           const std::string& actor) {
  PLINTH_ASSIGN_OR_RETURN(auto project, projects_->Get(ref));
  store::PipelineRecord p = NewPipeline("deploy", trigger, project.settings);
  p.state = store::PipelineState::kFailed;
  p.commit = commit;
  p.error = error;
  PLINTH_ASSIGN_OR_RETURN(auto written, projects_->AddPipeline(project.id, std::move(p), actor));
  core::Logger("projects")->warn("project={} pipeline={} ({}) failed before it started: {}", project.name, written.id,
                                 trigger, error);
  return written;
}

}  // namespace plinth::orchestrator
