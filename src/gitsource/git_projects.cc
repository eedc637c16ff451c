#include "plinth/gitsource/git_projects.h"

#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "plinth/core/error_reason.h"
#include "plinth/core/logging.h"
#include "plinth/core/status_macros.h"
#include "plinth/manifest/names.h"

namespace plinth::gitsource {
namespace {

using nlohmann::json;

std::string Under(const std::string& prefix, const std::string& path) {
  return prefix.empty() ? path : absl::StrCat(prefix, "/", path);
}


// Appends `suffix` to every env of the manifests: metadata.env and the envs
// that references name (valueFrom.env, metadata.relationships[].env), so a
// pull request's preview never touches the environments it copies.
void RewriteEnv(json* node, const std::set<std::string>& envs, const std::string& suffix) {
  if (node->is_object()) {
    for (auto& [key, value] : node->items()) {
      if ((key == "valueFrom" || key == "value_from") && value.is_object() && value.contains("env") &&
          value["env"].is_string() && envs.count(value["env"].get<std::string>())) {
        value["env"] = value["env"].get<std::string>() + suffix;
      }
      RewriteEnv(&value, envs, suffix);
    }
  } else if (node->is_array()) {
    for (auto& item : *node) RewriteEnv(&item, envs, suffix);
  }
}

absl::Status SuffixEnvs(std::vector<manifest::Manifest>* manifests, const std::string& suffix) {
  std::set<std::string> envs;
  for (const auto& m : *manifests) envs.insert(m.env);
  for (auto& m : *manifests) {
    m.env += suffix;
    PLINTH_RETURN_IF_ERROR(manifest::CheckName("metadata.env", m.env));
    m.body["metadata"]["env"] = m.env;
    if (m.body.contains("spec")) RewriteEnv(&m.body["spec"], envs, suffix);
    json* relationships = nullptr;
    if (m.body["metadata"].contains("relationships")) relationships = &m.body["metadata"]["relationships"];
    if (relationships != nullptr && relationships->is_array()) {
      for (auto& r : *relationships) {
        if (r.is_object() && r.contains("env") && r["env"].is_string() && envs.count(r["env"].get<std::string>())) {
          r["env"] = r["env"].get<std::string>() + suffix;
        }
      }
    }
  }
  return absl::OkStatus();
}

std::string Short(const std::string& commit) { return commit.substr(0, 12); }

}  // namespace

std::string NormalizeRepoUrl(const std::string& url) {
  std::string out = url;
  while (!out.empty() && out.back() == '/') out.pop_back();
  if (absl::EndsWith(out, ".git")) out.resize(out.size() - 4);
  size_t scheme = out.find("://");
  if (scheme == std::string::npos) return out;
  size_t host_start = scheme + 3;
  size_t slash = out.find('/', host_start);
  std::string host = out.substr(host_start, slash == std::string::npos ? std::string::npos : slash - host_start);
  size_t at = host.rfind('@');
  if (at != std::string::npos) host = host.substr(at + 1);
  return absl::StrCat(absl::AsciiStrToLower(out.substr(0, scheme)), "://", absl::AsciiStrToLower(host),
                      slash == std::string::npos ? "" : out.substr(slash));
}

absl::StatusOr<std::vector<manifest::Manifest>> ManifestsOfTree(const manifest::FileTree& files,
                                                                const std::string& prefix, const std::string& org,
                                                                const std::string& env,
                                                                const manifest::KindCatalog& catalog) {
  std::vector<manifest::ManifestSource> plain;
  const std::string kustomize_prefix = absl::StrCat(manifest::kKustomizeDir, "/");
  for (const auto& [path, content] : files) {
    if (!absl::StartsWith(path, kustomize_prefix)) plain.push_back({Under(prefix, path), content});
  }
  manifest::ManifestOptions options;
  options.org = org;
  options.env = env;
  PLINTH_ASSIGN_OR_RETURN(std::vector<manifest::Manifest> out, manifest::ParseManifests(plain, options, catalog));
  if (manifest::HasKustomize(files)) {
    for (const std::string& overlay : manifest::ListOverlays(files)) {
      if (overlay == "local") continue;  // a developer's machine: never deployed
      auto built = manifest::BuildOverlay(files, overlay);
      if (!built.ok()) {
        return absl::Status(built.status().code(), Under(prefix, std::string(built.status().message())));
      }
      if (built->env.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            Under(prefix, absl::StrCat(manifest::kKustomizeDir, "/overlays/", overlay)),
            ": its documents name no metadata.env; an overlay deploys to the env its documents name"));
      }
      manifest::ManifestOptions overlay_options;
      overlay_options.org = org;
      overlay_options.env = built->env;
      for (size_t i = 0; i < built->documents.size(); ++i) {
        std::string where = Under(prefix, absl::StrCat(built->sources[i], " (overlay ", overlay, ")"));
        PLINTH_ASSIGN_OR_RETURN(auto m, manifest::ValidateManifest(built->documents[i], where, overlay_options, catalog));
        m.source = where;
        out.push_back(std::move(m));
      }
    }
  }
  std::map<std::string, std::string> seen;
  for (const auto& m : out) {
    std::string key = absl::StrCat(m.env, "/", m.kind, "/", m.name);
    auto [it, inserted] = seen.emplace(key, m.source);
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat(m.source, ": ", key, " is also defined by ", it->second, "; a resource is defined once"));
    }
  }
  return out;
}

absl::Status GitProjects::SetCredentials(const std::string& org, const std::string& env,
                                         const std::string& connection, engine::GitModuleSource* source) const {
  // The named connection, else the env's or the org's default git one.
  PLINTH_ASSIGN_OR_RETURN(auto resolved, connections_->Resolve(org, env, "git", connection));
  if (resolved.connection) {
    engine::SetGitCredentials(resolved.connection->fields, resolved.connection->secrets, source);
  }
  return absl::OkStatus();
}

absl::StatusOr<GitProjects::Read> GitProjects::ReadAt(const store::InfraProjectRecord& project, const std::string& ref,
                                                      const std::string& env_suffix, int64_t pull_request) const {
  engine::GitModuleSource source;
  source.url = project.git.url;
  source.ref = ref;
  source.subdir = project.git.path;
  PLINTH_RETURN_IF_ERROR(SetCredentials(project.org, project.env, project.git.connection, &source));
  std::vector<std::string> extra;
  if (pull_request > 0) {
    // Where GitHub and GitLab keep a pull request's head (also for forks).
    extra = {absl::StrCat("+refs/pull/", pull_request, "/head:refs/remotes/origin/pull/", pull_request),
             absl::StrCat("+refs/merge-requests/", pull_request, "/head:refs/remotes/origin/merge-requests/",
                          pull_request)};
  }
  PLINTH_ASSIGN_OR_RETURN(auto snapshot, cache_->ReadManifests(source, extra));
  Read out;
  out.commit = snapshot.commit;
  std::string base_env = env_suffix.empty() ? project.env : project.env.substr(0, project.env.size() - env_suffix.size());
  auto manifests = ManifestsOfTree(snapshot.files, project.git.path, project.org, base_env, *catalog_);
  if (!manifests.ok()) {
    return absl::Status(manifests.status().code(),
                        absl::StrCat("commit ", Short(out.commit), ": ", manifests.status().message()));
  }
  if (manifests->empty()) {
    return core::WithReason(
        absl::FailedPreconditionError(absl::StrCat(
            "commit ", Short(out.commit), ": no manifests (*.yaml) under \"",
            project.git.path.empty() ? "." : project.git.path, "\"; to remove every resource, undeploy the project")),
        "NO_MANIFESTS");
  }
  if (!env_suffix.empty()) PLINTH_RETURN_IF_ERROR(SuffixEnvs(&*manifests, env_suffix));
  out.manifests = std::move(*manifests);
  return out;
}

absl::StatusOr<GitProjectResult> GitProjects::Create(CreateGitProjectRequest req, const std::string& actor) {
  // Checked before the repository is read (the project manager checks again).
  PLINTH_RETURN_IF_ERROR(orchestrator::CheckNewProject(&req.org, req.env, req.name, req.settings));
  store::GitSource& git = req.source;
  if (git.url.empty()) return absl::InvalidArgumentError("git.url: required (file://, https:// or http://)");
  if (!engine::IsGitUrl(git.url)) {
    return absl::InvalidArgumentError(absl::StrCat("git.url: \"", git.url,
                                                   "\" is not an https://, http://, ssh:// or file:// URL"));
  }
  if (git.branch.empty()) git.branch = "main";
  if (absl::StartsWith(git.branch, "refs/")) {
    return absl::InvalidArgumentError(absl::StrCat("git.branch: \"", git.branch, "\": give the branch name, not a ref"));
  }
  while (!git.path.empty() && git.path.back() == '/') git.path.pop_back();
  if (git.path == ".") git.path.clear();
  if (!git.connection.empty()) {
    PLINTH_ASSIGN_OR_RETURN(auto connection, connections_->Get(req.org, git.connection));
    if (connection.provider != "git") {
      return absl::InvalidArgumentError(absl::StrCat("git.connection: ", git.connection, " is a ", connection.provider,
                                                     " connection, not a git one"));
    }
  }
  GitProjectResult out;
  out.webhook_secret = req.webhook_secret.empty() ? core::RandomHex(32) : req.webhook_secret;
  git.webhook_secret_sealed = box_->Seal(out.webhook_secret);
  git.parent_id.clear();
  git.pull_request = 0;

  store::InfraProjectRecord project;
  project.org = req.org;
  project.env = req.env;
  project.name = req.name;
  project.chart_source = "git";
  project.settings = req.settings;
  project.git = git;
  PLINTH_ASSIGN_OR_RETURN(Read read, ReadAt(project, git.branch, "", 0));
  PLINTH_ASSIGN_OR_RETURN(out.result, manager_->CreateFromManifests(project, std::move(read.manifests), read.commit,
                                                                    req.no_deploy, "create", actor));
  return out;
}

absl::StatusOr<orchestrator::ProjectResult> GitProjects::Sync(const store::ProjectRef& ref, const std::string& commit,
                                                              const std::string& trigger, const std::string& actor) {
  PLINTH_ASSIGN_OR_RETURN(auto project, projects_->Get(ref));
  if (project.git.empty()) {
    return core::WithReason(absl::FailedPreconditionError(absl::StrCat(
                                "infra project ", project.name, " is not a Git project: update it with a chart and values")),
                            "NOT_A_GIT_PROJECT");
  }
  std::string want = commit;
  if (want.empty()) {
    if (project.git.pull_request > 0) {
      return absl::InvalidArgumentError("commit: required for a pull-request preview (its head commit)");
    }
    want = project.git.branch;
  }
  std::string suffix = project.git.pull_request > 0 ? absl::StrCat("-pr-", project.git.pull_request) : "";
  absl::StatusOr<orchestrator::ProjectResult> result = [&]() -> absl::StatusOr<orchestrator::ProjectResult> {
    PLINTH_ASSIGN_OR_RETURN(Read read, ReadAt(project, want, suffix, project.git.pull_request));
    return manager_->AddSourcedRevision({.id = project.id}, std::move(read.manifests), read.commit, trigger, actor);
  }();
  if (result.ok()) return result;
  // Nothing was written; leave a failed pipeline so the failure shows where
  // the pipelines of the project are watched.
  std::string error(result.status().message());
  auto failed = manager_->RecordFailedPipeline({.id = project.id}, trigger, commit, error, actor);
  if (!failed.ok()) return result.status();
  return absl::Status(result.status().code(),
                      absl::StrCat(error, " (nothing deployed; recorded as failed pipeline ", failed->id, ")"));
}

absl::StatusOr<std::vector<store::InfraProjectRecord>> GitProjects::Tracking(
    const std::vector<std::string>& repo_urls) const {
  std::set<std::string> wanted;
  for (const auto& url : repo_urls) {
    if (!url.empty()) wanted.insert(NormalizeRepoUrl(url));
  }
  PLINTH_ASSIGN_OR_RETURN(auto all, projects_->ListGit());
  std::vector<store::InfraProjectRecord> out;
  for (auto& p : all) {
    if (p.git.pull_request == 0 && wanted.count(NormalizeRepoUrl(p.git.url))) out.push_back(std::move(p));
  }
  return out;
}

absl::StatusOr<std::string> GitProjects::RotateWebhookSecret(const store::ProjectRef& ref, const std::string& secret,
                                                             const std::string& actor) {
  PLINTH_ASSIGN_OR_RETURN(auto project, projects_->Get(ref));
  if (project.git.pull_request > 0) {
    return core::WithReason(absl::FailedPreconditionError(absl::StrCat("infra project ", project.name,
                                                                       " previews pull request ", project.git.pull_request,
                                                                       "; webhooks address the project it previews")),
                            "PROJECT_IS_PREVIEW");
  }
  std::string plain = secret.empty() ? core::RandomHex(32) : secret;
  PLINTH_RETURN_IF_ERROR(projects_->SetWebhookSecret(project.id, box_->Seal(plain), actor).status());
  return plain;
}

std::vector<store::InfraProjectRecord> GitProjects::ByIds(const std::vector<std::string>& ids) const {
  std::vector<store::InfraProjectRecord> out;
  for (const auto& id : ids) {
    auto p = projects_->Get({.id = id});
    if (p.ok()) out.push_back(std::move(*p));
  }
  return out;
}

absl::StatusOr<std::string> GitProjects::WebhookSecret(const store::InfraProjectRecord& project) const {
  if (project.git.webhook_secret_sealed.empty()) return std::string();
  return box_->Open(project.git.webhook_secret_sealed);
}

absl::StatusOr<std::string> GitProjects::PullRequest(const GitEvent& event, const store::InfraProjectRecord& parent,
                                                     const std::string& actor, std::vector<std::string>* pipelines) {
  const std::string suffix = absl::StrCat("-pr-", event.number);
  store::ProjectRef preview_ref{.org = parent.org, .env = parent.env + suffix, .name = parent.name + suffix};
  auto existing = projects_->Get(preview_ref);
  if (!existing.ok() && !absl::IsNotFound(existing.status())) return existing.status();
  if (event.action != "closed" && parent.settings.disable_pipelines) {
    return absl::StrCat(parent.name, ": pipelines are disabled for this project; no preview of pull request ",
                        event.number);
  }
  const bool deploy = parent.settings.enable_pull_request_deployments && !parent.settings.disable_deployments;
  if (!deploy && event.action != "closed" && !existing.ok()) {
    // Plan only: the head commit planned against what the project has
    // deployed, as a preview pipeline of the project itself.
    auto read = ReadAt(parent, event.commit, "", event.number);
    if (!read.ok()) {
      auto failed = manager_->RecordFailedPipeline({.id = parent.id}, "pull_request", event.commit,
                                                   std::string(read.status().message()), actor);
      if (failed.ok()) pipelines->push_back(failed->id);
      return read.status();
    }
    PLINTH_ASSIGN_OR_RETURN(auto plan, manager_->StartSpeculativePipeline({.id = parent.id}, std::move(read->manifests),
                                                                          read->commit, actor));
    pipelines->push_back(plan.id);
    return absl::StrCat(parent.name, ": plan of pull request ", event.number, " at ", Short(read->commit),
                        " against what is deployed (pipeline ", plan.id, ")");
  }
  if (event.action == "closed") {
    if (!existing.ok()) {
      return absl::StrCat(parent.name, ": pull request ", event.number, " closed; its plans leave nothing to remove");
    }
    if (existing->settings.disable_deployments) {
      PLINTH_RETURN_IF_ERROR(manager_->Delete({.id = existing->id}, false, actor).status());
      return absl::StrCat(parent.name, ": preview ", existing->name, " removed (it only planned)");
    }
    PLINTH_ASSIGN_OR_RETURN(auto purge, manager_->StartPipeline({.id = existing->id}, "purge", actor));
    if (purge.pipeline) pipelines->push_back(purge.pipeline->id);
    return absl::StrCat(parent.name, ": preview environment ", existing->env, " undeploying (pipeline ",
                        purge.pipeline ? purge.pipeline->id : "", "), then removed");
  }
  if (existing.ok()) {
    PLINTH_ASSIGN_OR_RETURN(auto current, projects_->GetRevision(existing->id, 0));
    if (!event.commit.empty() && current.commit == event.commit) {
      return absl::StrCat(parent.name, ": preview ", existing->name, " is already at ", Short(event.commit));
    }
    PLINTH_ASSIGN_OR_RETURN(auto synced, Sync({.id = existing->id}, event.commit, "pull_request", actor));
    if (synced.pipeline) pipelines->push_back(synced.pipeline->id);
    return absl::StrCat(parent.name, ": preview ", existing->name, " at ", Short(synced.revision.commit),
                        synced.pipeline ? absl::StrCat(" (pipeline ", synced.pipeline->id, ")") : "");
  }
  store::InfraProjectRecord preview;
  preview.org = parent.org;
  preview.env = preview_ref.env;
  preview.name = preview_ref.name;
  preview.chart_source = "git";
  preview.settings = parent.settings;
  preview.settings.disable_pipelines = false;
  preview.settings.requires_manual_gate = false;
  preview.settings.disable_deployments = false;  // pull-request deployments are on (else: a plan, above)
  preview.git = parent.git;
  preview.git.parent_id = parent.id;
  preview.git.pull_request = event.number;
  preview.git.webhook_secret_sealed.clear();  // webhooks address the parent
  PLINTH_RETURN_IF_ERROR(manifest::CheckName("env", preview.env));
  PLINTH_RETURN_IF_ERROR(manifest::CheckName("name", preview.name));
  PLINTH_ASSIGN_OR_RETURN(Read read, ReadAt(preview, event.commit, suffix, event.number));
  PLINTH_ASSIGN_OR_RETURN(auto created, manager_->CreateFromManifests(preview, std::move(read.manifests), read.commit,
                                                                      false, "pull_request", actor));
  if (created.pipeline) pipelines->push_back(created.pipeline->id);
  return absl::StrCat(parent.name, ": preview deployment ", created.project.name, " in env ", created.project.env, " at ", Short(read.commit),
                      created.pipeline ? absl::StrCat(" (pipeline ", created.pipeline->id, ")") : "");
}

EventOutcome GitProjects::Handle(const GitEvent& event, const std::vector<store::InfraProjectRecord>& projects,
                                 const std::string& actor) {
  EventOutcome out;
  std::vector<std::string> said;
  for (const auto& p : projects) {
    if (p.git.branch != event.branch) {
      said.push_back(absl::StrCat(p.name, ": tracks ", p.git.branch, ", not ", event.branch));
      continue;
    }
    if (event.kind == "push") {
      if (event.deleted) {
        said.push_back(absl::StrCat(p.name, ": branch ", event.branch, " deleted; nothing done"));
        continue;
      }
      auto synced = Sync({.id = p.id}, event.commit, "push", actor);
      if (!synced.ok()) {
        said.push_back(absl::StrCat(p.name, ": ", synced.status().message()));
        core::Logger("git")->warn("push {} to {}: project {}: {}", Short(event.commit), event.branch, p.name,
                                  synced.status().message());
        continue;
      }
      if (synced->pipeline) out.pipelines.push_back(synced->pipeline->id);
      said.push_back(absl::StrCat(p.name, ": revision ", synced->revision.revision, " at ", Short(synced->revision.commit),
                                  synced->pipeline ? absl::StrCat(", pipeline ", synced->pipeline->id) : "",
                                  synced->note.empty() ? "" : absl::StrCat(" (", synced->note, ")")));
    } else if (event.kind == "pull_request") {
      if (event.action != "opened" && event.action != "reopened" && event.action != "synchronize" &&
          event.action != "closed") {
        said.push_back(absl::StrCat(p.name, ": pull request action \"", event.action, "\" needs nothing"));
        continue;
      }
      auto done = PullRequest(event, p, actor, &out.pipelines);
      said.push_back(done.ok() ? *done : absl::StrCat(p.name, ": ", done.status().message()));
      if (!done.ok()) {
        core::Logger("git")->warn("pull request {}: project {}: {}", event.number, p.name, done.status().message());
      }
    }
  }
  out.result = said.empty() ? "no project acted" : absl::StrJoin(said, "; ");
  return out;
}

}  // namespace plinth::gitsource
