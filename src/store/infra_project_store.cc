#include "plinth/store/infra_project_store.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "plinth/core/error_reason.h"
#include "plinth/core/ids.h"
#include "plinth/core/status_macros.h"
#include "pipeline_rows.h"
#include "resource_rows.h"

namespace plinth::store {
namespace {

using nlohmann::json;

constexpr char kColumns[] =
    "id, org, env, name, revision, chart_name, chart_version, chart_source, settings, version, created_at, "
    "created_by, updated_at, updated_by, git";

json SettingsJson(const ProjectSettings& s) {
  return {{"disablePipelines", s.disable_pipelines}, {"disableDeployments", s.disable_deployments},
          {"requiresManualGate", s.requires_manual_gate}, {"maxParallelJobs", s.max_parallel_jobs},
          {"enablePullRequestDeployments", s.enable_pull_request_deployments}};
}

ProjectSettings ParseSettings(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  ProjectSettings s;
  if (!j.is_object()) return s;
  s.disable_pipelines = j.value("disablePipelines", false);
  s.disable_deployments = j.value("disableDeployments", false);
  s.requires_manual_gate = j.value("requiresManualGate", false);
  s.max_parallel_jobs = j.value("maxParallelJobs", 0);
  s.enable_pull_request_deployments = j.value("enablePullRequestDeployments", false);
  return s;
}

json GitJson(const GitSource& g) {
  if (g.empty()) return json::object();
  return {{"url", g.url},         {"branch", g.branch},       {"path", g.path},
          {"connection", g.connection}, {"webhookSecret", g.webhook_secret_sealed},
          {"parentId", g.parent_id},    {"pullRequest", g.pull_request}};
}

GitSource ParseGit(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  GitSource g;
  if (!j.is_object()) return g;
  g.url = j.value("url", "");
  g.branch = j.value("branch", "");
  g.path = j.value("path", "");
  g.connection = j.value("connection", "");
  g.webhook_secret_sealed = j.value("webhookSecret", "");
  g.parent_id = j.value("parentId", "");
  g.pull_request = j.value("pullRequest", int64_t{0});
  return g;
}

InfraProjectRecord ReadProject(const Statement& st) {
  InfraProjectRecord p;
  p.id = st.ColumnText(0);
  p.org = st.ColumnText(1);
  p.env = st.ColumnText(2);
  p.name = st.ColumnText(3);
  p.revision = st.ColumnInt64(4);
  p.chart_name = st.ColumnText(5);
  p.chart_version = st.ColumnText(6);
  p.chart_source = st.ColumnText(7);
  p.settings = ParseSettings(st.ColumnText(8));
  p.version = st.ColumnInt64(9);
  p.created_at = absl::FromUnixMicros(st.ColumnInt64(10));
  p.created_by = st.ColumnText(11);
  p.updated_at = absl::FromUnixMicros(st.ColumnInt64(12));
  p.updated_by = st.ColumnText(13);
  p.git = ParseGit(st.ColumnText(14));
  return p;
}

absl::StatusOr<std::optional<InfraProjectRecord>> FindById(Connection& c, const std::string& id) {
  Statement& st = c.Prepare(absl::StrCat("SELECT ", kColumns, " FROM infra_projects WHERE id = ?"));
  st.Bind(1, id);
  PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<InfraProjectRecord>();
  auto p = ReadProject(st);
  st.Reset();
  return std::optional<InfraProjectRecord>(std::move(p));
}

absl::Status WriteProject(Connection& c, const InfraProjectRecord& p) {
  // An upsert, never REPLACE: a REPLACE's delete would cascade to the
  // project's revisions.
  Statement& st = c.Prepare(absl::StrCat(
      "INSERT INTO infra_projects (", kColumns,
      ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
      "git = excluded.git, revision = excluded.revision, chart_name = excluded.chart_name, chart_version = excluded.chart_version, "
      "chart_source = excluded.chart_source, settings = excluded.settings, version = excluded.version, "
      "updated_at = excluded.updated_at, updated_by = excluded.updated_by"));
  st.Bind(1, p.id);
  st.Bind(2, p.org);
  st.Bind(3, p.env);
  st.Bind(4, p.name);
  st.Bind(5, p.revision);
  st.Bind(6, p.chart_name);
  st.Bind(7, p.chart_version);
  st.Bind(8, p.chart_source);
  st.Bind(9, SettingsJson(p.settings).dump());
  st.Bind(10, p.version);
  st.Bind(11, absl::ToUnixMicros(p.created_at));
  st.Bind(12, p.created_by);
  st.Bind(13, absl::ToUnixMicros(p.updated_at));
  st.Bind(14, p.updated_by);
  st.Bind(15, GitJson(p.git).dump());
  return st.Run();
}

std::string FilesJson(const std::vector<chart::ChartFile>& files) {
  json out = json::array();
  for (const auto& f : files) out.push_back({{"path", f.path}, {"content", f.content}});
  return out.dump();
}

ProjectRevisionRecord ReadRevision(const Statement& st) {
  ProjectRevisionRecord r;
  r.project_id = st.ColumnText(0);
  r.revision = st.ColumnInt64(1);
  r.chart_name = st.ColumnText(2);
  r.chart_version = st.ColumnText(3);
  json files = json::parse(st.ColumnText(4), nullptr, false);
  if (files.is_array()) {
    for (const auto& f : files) r.chart_files.push_back({f.value("path", ""), f.value("content", "")});
  }
  r.values = json::parse(st.ColumnText(5), nullptr, false);
  r.manifests = json::parse(st.ColumnText(6), nullptr, false);
  r.graph = json::parse(st.ColumnText(7), nullptr, false);
  r.diff = json::parse(st.ColumnText(8), nullptr, false);
  r.rollback_of = st.ColumnInt64(9);
  r.actor = st.ColumnText(10);
  r.created_at = absl::FromUnixMicros(st.ColumnInt64(11));
  r.commit = st.ColumnText(12);
  return r;
}

constexpr char kRevisionColumns[] =
    "project_id, revision, chart_name, chart_version, chart_files, vals, manifests, graph, diff, rollback_of, "
    "actor, created_at, commit_sha";

// Writes the revision's resources (owned by the project) and the revision
// row with metadata.id filled into its manifests.
absl::Status WriteRevision(Connection& c, const InfraProjectRecord& project, ProjectRevisionRecord* r,
                           const std::vector<manifest::Manifest>& manifests, const std::string& actor,
                           absl::Time now) {
  r->project_id = project.id;
  r->actor = actor;
  r->created_at = now;
  r->manifests = json::array();
  for (const auto& m : manifests) {
    PLINTH_ASSIGN_OR_RETURN(auto outcome, internal::WriteOwnedResource(c, m, project.id, actor, now));
    r->manifests.push_back(outcome.record.manifest);
  }
  Statement& st = c.Prepare(absl::StrCat("INSERT INTO infra_project_revisions (", kRevisionColumns,
                                         ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  st.Bind(1, r->project_id);
  st.Bind(2, r->revision);
  st.Bind(3, r->chart_name);
  st.Bind(4, r->chart_version);
  st.Bind(5, FilesJson(r->chart_files));
  st.Bind(6, r->values.dump());
  st.Bind(7, r->manifests.dump());
  st.Bind(8, r->graph.dump());
  st.Bind(9, r->diff.dump());
  st.Bind(10, r->rollback_of);
  st.Bind(11, actor);
  st.Bind(12, absl::ToUnixMicros(now));
  st.Bind(13, r->commit);
  return st.Run();
}

absl::Status StorePipeline(Connection& c, const InfraProjectRecord& project, PipelineRecord* p,
                           const std::string& actor, absl::Time now) {
  if (p->id.empty()) p->id = core::NewId("pl");
  p->project_id = project.id;
  p->org = project.org;
  p->env = project.env;
  p->project_name = project.name;
  p->revision = project.revision;
  p->created_at = now;
  p->created_by = actor;
  p->change = 1;
  if (p->commit.empty() && !p->Terminal()) {
    Statement& rev = c.Prepare("SELECT commit_sha FROM infra_project_revisions WHERE project_id = ? AND revision = ?");
    rev.Bind(1, project.id);
    rev.Bind(2, project.revision);
    PLINTH_ASSIGN_OR_RETURN(bool row, rev.Step());
    if (row) p->commit = rev.ColumnText(0);
    rev.Reset();
  }
  if (p->Terminal() && !p->ended_at) {
    p->started_at = now;
    p->ended_at = now;
    p->planned = true;
  }
  PLINTH_RETURN_IF_ERROR(internal::InsertPipeline(c, p));
  return internal::Audit(c, absl::StrCat("infra_pipeline.start_", p->kind), "infra_pipeline", p->id,
                         absl::StrCat(project.org, "/", project.env, "/", project.name, " revision ", p->revision,
                                      " (", p->trigger, ")"),
                         actor, now);
}

std::string ProjectName(const InfraProjectRecord& p) { return absl::StrCat(p.org, "/", p.env, "/", p.name); }

}  // namespace

absl::StatusOr<ProjectWrite> InfraProjectStore::Create(InfraProjectRecord project, ProjectRevisionRecord revision,
                                                       const std::vector<manifest::Manifest>& manifests,
                                                       std::optional<PipelineRecord> pipeline,
                                                       const std::string& actor) {
  ProjectWrite out;
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    absl::Time now = clock_->Now();
    Statement& taken = c.Prepare("SELECT id FROM infra_projects WHERE org = ? AND env = ? AND name = ?");
    taken.Bind(1, project.org);
    taken.Bind(2, project.env);
    taken.Bind(3, project.name);
    PLINTH_ASSIGN_OR_RETURN(bool row, taken.Step());
    if (row) {
      std::string id = taken.ColumnText(0);
      taken.Reset();
      return absl::AlreadyExistsError(absl::StrCat("infra project ", ProjectName(project), " already exists (id ", id,
                                                   "); use update to change it"));
    }
    InfraProjectRecord p = project;
    p.id = core::NewId("prj");
    p.revision = 1;
    p.version = 1;
    p.created_at = p.updated_at = now;
    p.created_by = p.updated_by = actor;
    PLINTH_RETURN_IF_ERROR(WriteProject(c, p));
    ProjectRevisionRecord r = revision;
    r.revision = 1;
    PLINTH_RETURN_IF_ERROR(WriteRevision(c, p, &r, manifests, actor, now));
    PLINTH_RETURN_IF_ERROR(internal::Audit(c, "infra_project.create", "infra_project", p.id, ProjectName(p), actor, now));
    if (pipeline) PLINTH_RETURN_IF_ERROR(StorePipeline(c, p, &*pipeline, actor, now));
    out = {std::move(p), std::move(r), std::move(pipeline)};
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<ProjectWrite> InfraProjectStore::AddRevision(const std::string& project_id, int64_t expected_version,
                                                            ProjectRevisionRecord revision,
                                                            const std::vector<manifest::Manifest>& manifests,
                                                            const std::optional<ProjectSettings>& settings,
                                                            std::optional<PipelineRecord> pipeline,
                                                            const std::string& actor) {
  ProjectWrite out;
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    absl::Time now = clock_->Now();
    PLINTH_ASSIGN_OR_RETURN(auto found, FindById(c, project_id));
    if (!found) return absl::NotFoundError(absl::StrCat("infra project ", project_id, " not found"));
    InfraProjectRecord p = *found;
    if (expected_version > 0 && p.version != expected_version) {
      return core::WithReason(
          absl::AbortedError(absl::StrCat("infra project ", ProjectName(p), " is at version ", p.version, ", not ",
                                          expected_version, ": it changed since you read it; read it again")),
          "VERSION_MISMATCH");
    }
    p.revision += 1;
    p.version += 1;
    p.chart_name = revision.chart_name;
    p.chart_version = revision.chart_version;
    if (!revision.chart_source.empty()) p.chart_source = revision.chart_source;
    if (settings) p.settings = *settings;
    p.updated_at = now;
    p.updated_by = actor;
    ProjectRevisionRecord r = revision;
    r.revision = p.revision;
    PLINTH_RETURN_IF_ERROR(WriteProject(c, p));
    PLINTH_RETURN_IF_ERROR(WriteRevision(c, p, &r, manifests, actor, now));
    PLINTH_RETURN_IF_ERROR(internal::Audit(c, r.rollback_of > 0 ? "infra_project.rollback" : "infra_project.update",
                                           "infra_project", p.id,
                                           absl::StrCat(ProjectName(p), " revision ", p.revision), actor, now));
    if (pipeline) PLINTH_RETURN_IF_ERROR(StorePipeline(c, p, &*pipeline, actor, now));
    out = {std::move(p), std::move(r), std::move(pipeline)};
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<InfraProjectRecord> InfraProjectStore::Modify(
    const std::string& project_id, const std::string& action, const std::string& actor,
    const std::function<absl::Status(InfraProjectRecord*)>& change) {
  InfraProjectRecord out;
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(auto found, FindById(c, project_id));
    if (!found) return absl::NotFoundError(absl::StrCat("infra project ", project_id, " not found"));
    out = *found;
    PLINTH_RETURN_IF_ERROR(change(&out));
    out.version += 1;
    out.updated_at = clock_->Now();
    out.updated_by = actor;
    PLINTH_RETURN_IF_ERROR(WriteProject(c, out));
    return internal::Audit(c, action, "infra_project", out.id, ProjectName(out), actor, out.updated_at);
  }));
  return out;
}

absl::StatusOr<InfraProjectRecord> InfraProjectStore::UpdateSettings(const std::string& project_id,
                                                                     int64_t expected_version,
                                                                     const ProjectSettings& settings,
                                                                     const std::string& actor) {
  return Modify(project_id, "infra_project.settings", actor, [&](InfraProjectRecord* p) -> absl::Status {
    if (expected_version > 0 && p->version != expected_version) {
      return core::WithReason(
          absl::AbortedError(absl::StrCat("infra project ", ProjectName(*p), " is at version ", p->version, ", not ",
                                          expected_version, ": it changed since you read it")),
          "VERSION_MISMATCH");
    }
    p->settings = settings;
    return absl::OkStatus();
  });
}

absl::StatusOr<InfraProjectRecord> InfraProjectStore::SetWebhookSecret(const std::string& project_id,
                                                                       const std::string& sealed,
                                                                       const std::string& actor) {
  return Modify(project_id, "infra_project.webhook_secret", actor, [&](InfraProjectRecord* p) -> absl::Status {
    if (p->git.empty()) {
      return absl::FailedPreconditionError(absl::StrCat("infra project ", ProjectName(*p),
                                                        " is not a Git project: it has no webhook secret"));
    }
    p->git.webhook_secret_sealed = sealed;
    return absl::OkStatus();
  });
}

absl::StatusOr<PipelineRecord> InfraProjectStore::AddPipeline(const std::string& project_id, PipelineRecord pipeline,
                                                              const std::string& actor) {
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(auto found, FindById(c, project_id));
    if (!found) return absl::NotFoundError(absl::StrCat("infra project ", project_id, " not found"));
    return StorePipeline(c, *found, &pipeline, actor, clock_->Now());
  }));
  return pipeline;
}

absl::StatusOr<InfraProjectRecord> InfraProjectStore::Get(const ProjectRef& ref) const {
  std::vector<InfraProjectRecord> found;
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    Statement* st;
    if (!ref.id.empty()) {
      st = &c.Prepare(absl::StrCat("SELECT ", kColumns, " FROM infra_projects WHERE id = ?"));
      st->Bind(1, ref.id);
    } else if (!ref.env.empty()) {
      st = &c.Prepare(absl::StrCat("SELECT ", kColumns, " FROM infra_projects WHERE org = ? AND env = ? AND name = ?"));
      st->Bind(1, ref.org);
      st->Bind(2, ref.env);
      st->Bind(3, ref.name);
    } else {
      st = &c.Prepare(absl::StrCat("SELECT ", kColumns, " FROM infra_projects WHERE org = ? AND name = ? ORDER BY env"));
      st->Bind(1, ref.org);
      st->Bind(2, ref.name);
    }
    for (;;) {
      PLINTH_ASSIGN_OR_RETURN(bool row, st->Step());
      if (!row) break;
      found.push_back(ReadProject(*st));
    }
    return absl::OkStatus();
  }));
  std::string name = ref.id.empty() ? absl::StrCat(ref.org, "/", ref.env.empty() ? "*" : ref.env, "/", ref.name) : ref.id;
  if (found.empty()) return absl::NotFoundError(absl::StrCat("infra project ", name, " not found"));
  if (found.size() > 1) {
    std::vector<std::string> envs;
    for (const auto& p : found) envs.push_back(p.env);
    return absl::InvalidArgumentError(absl::StrCat("env: required: infra project ", ref.name, " exists in envs ",
                                                   absl::StrJoin(envs, ", "), " of org ", ref.org));
  }
  return std::move(found.front());
}

absl::StatusOr<ProjectPage> InfraProjectStore::List(const std::string& org, const std::string& env, int page_size,
                                                    const std::string& page_token) const {
  if (page_size < 0) return absl::InvalidArgumentError("page_size: must not be negative");
  if (page_size == 0) page_size = 50;
  page_size = std::min(page_size, 1000);
  json after = json::array({"", "", ""});
  if (!page_token.empty()) {
    std::string text;
    if (!absl::WebSafeBase64Unescape(page_token, &text)) return absl::InvalidArgumentError("page_token: malformed");
    after = json::parse(text, nullptr, false);
    if (!after.is_array() || after.size() != 3 || !after[0].is_string() || !after[1].is_string() ||
        !after[2].is_string()) {
      return absl::InvalidArgumentError("page_token: malformed");
    }
  }
  ProjectPage page;
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(absl::StrCat(
        "SELECT ", kColumns, " FROM infra_projects WHERE (? = '' OR org = ?) AND (? = '' OR env = ?) AND "
        "(org, env, name) > (?, ?, ?) ORDER BY org, env, name LIMIT ?"));
    st.Bind(1, org);
    st.Bind(2, org);
    st.Bind(3, env);
    st.Bind(4, env);
    st.Bind(5, after[0].get<std::string>());
    st.Bind(6, after[1].get<std::string>());
    st.Bind(7, after[2].get<std::string>());
    st.Bind(8, static_cast<int64_t>(page_size) + 1);
    for (;;) {
      PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      page.items.push_back(ReadProject(st));
    }
    return absl::OkStatus();
  }));
  if (static_cast<int>(page.items.size()) > page_size) {
    page.items.resize(page_size);
    const auto& l = page.items.back();
    page.next_page_token = absl::WebSafeBase64Escape(json::array({l.org, l.env, l.name}).dump());
  }
  return page;
}

namespace {

absl::StatusOr<std::vector<std::string>> PreviewsOf(Connection& c, const std::string& project_id) {
  Statement& st = c.Prepare(
      c.dialect() == Dialect::kPostgres
          ? "SELECT org, env, name FROM infra_projects WHERE git != '{}' AND (git::jsonb ->> 'parentId') = ? "
            "ORDER BY env, name"
          : "SELECT org, env, name FROM infra_projects WHERE git != '{}' AND json_extract(git, '$.parentId') = ? "
            "ORDER BY env, name");
  st.Bind(1, project_id);
  std::vector<std::string> out;
  for (;;) {
    PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(absl::StrCat(st.ColumnText(0), "/", st.ColumnText(1), "/", st.ColumnText(2)));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> InfraProjectStore::Previews(const std::string& project_id) const {
  std::vector<std::string> out;
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(out, PreviewsOf(c, project_id));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<InfraProjectRecord>> InfraProjectStore::ListGit() const {
  std::vector<InfraProjectRecord> out;
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(absl::StrCat("SELECT ", kColumns,
                                           " FROM infra_projects WHERE git != '{}' ORDER BY org, env, name"));
    for (;;) {
      PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back(ReadProject(st));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<ProjectRevisionRecord> InfraProjectStore::GetRevision(const std::string& project_id,
                                                                     int64_t revision) const {
  std::optional<ProjectRevisionRecord> out;
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(absl::StrCat(
        "SELECT ", kRevisionColumns, " FROM infra_project_revisions WHERE project_id = ? AND revision = "
        "(CASE WHEN ? > 0 THEN ? ELSE (SELECT revision FROM infra_projects WHERE id = ?) END)"));
    st.Bind(1, project_id);
    st.Bind(2, revision);
    st.Bind(3, revision);
    st.Bind(4, project_id);
    PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row) out = ReadRevision(st);
    st.Reset();
    return absl::OkStatus();
  }));
  if (!out) {
    return absl::NotFoundError(revision > 0 ? absl::StrCat("revision: infra project ", project_id, " has no revision ", revision)
                                            : absl::StrCat("infra project ", project_id, " not found"));
  }
  return std::move(*out);
}

absl::StatusOr<RevisionRecordPage> InfraProjectStore::ListRevisions(const std::string& project_id,
                                                                    int requested_size,
                                                                    const std::string& page_token) const {
  int page_size;
  int64_t before;
  PLINTH_RETURN_IF_ERROR(internal::ParseNumberPage(requested_size, page_token, &page_size, &before));
  RevisionRecordPage page;
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(absl::StrCat("SELECT ", kRevisionColumns,
                                           " FROM infra_project_revisions WHERE project_id = ? AND revision < ? "
                                           "ORDER BY revision DESC LIMIT ?"));
    st.Bind(1, project_id);
    st.Bind(2, before);
    st.Bind(3, static_cast<int64_t>(page_size) + 1);
    for (;;) {
      PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      page.items.push_back(ReadRevision(st));
    }
    return absl::OkStatus();
  }));
  if (static_cast<int>(page.items.size()) > page_size) {
    page.items.resize(page_size);
    page.next_page_token = absl::StrCat(page.items.back().revision);
  }
  return page;
}

absl::StatusOr<std::vector<CloudResourceRecord>> InfraProjectStore::OwnedResources(const std::string& project_id) const {
  std::vector<CloudResourceRecord> out;
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(out, internal::OwnedResources(c, project_id));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<std::string>> InfraProjectStore::Delete(const std::string& project_id, bool orphan,
                                                                   const std::string& actor) {
  std::vector<std::string> orphaned;
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    orphaned.clear();
    absl::Time now = clock_->Now();
    PLINTH_ASSIGN_OR_RETURN(auto found, FindById(c, project_id));
    if (!found) return absl::NotFoundError(absl::StrCat("infra project ", project_id, " not found"));
    PLINTH_ASSIGN_OR_RETURN(bool active, internal::ProjectHasActivePipeline(c, project_id));
    if (active) {
      return absl::FailedPreconditionError(absl::StrCat("infra project ", ProjectName(*found),
                                                        " has a pipeline that has not ended; cancel it or wait"));
    }
    PLINTH_ASSIGN_OR_RETURN(auto previews, PreviewsOf(c, project_id));
    if (!previews.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "infra project ", ProjectName(*found), " has pull-request previews (", absl::StrJoin(previews, ", "),
          "); purge them first (or close their pull requests)"));
    }
    PLINTH_ASSIGN_OR_RETURN(auto owned, internal::OwnedResources(c, project_id));
    std::vector<CloudResourceRecord> deployed, idle;
    for (auto& r : owned) (r.deployed ? deployed : idle).push_back(std::move(r));
    if (!deployed.empty() && !orphan) {
      std::vector<std::string> names;
      for (const auto& r : deployed) names.push_back(r.key.ToString());
      return absl::FailedPreconditionError(absl::StrCat(
          "infra project ", ProjectName(*found), " has ", deployed.size(), " deployed resource(s) (",
          absl::StrJoin(names, ", "),
          "); undeploy or purge it first, or delete with orphan_resources to leave them running unowned"));
    }
    for (const auto& r : deployed) {
      PLINTH_RETURN_IF_ERROR(internal::SetResourceOwner(c, r.id, ""));
      orphaned.push_back(r.key.ToString());
    }
    for (const auto& r : idle) PLINTH_RETURN_IF_ERROR(internal::DeleteResourceRow(c, r, actor, now));
    Statement& del = c.Prepare("DELETE FROM infra_projects WHERE id = ?");
    del.Bind(1, project_id);
    PLINTH_RETURN_IF_ERROR(del.Run());
    return internal::Audit(c, orphan && !orphaned.empty() ? "infra_project.delete_orphaning" : "infra_project.delete",
                           "infra_project", project_id, ProjectName(*found), actor, now);
  }));
  return orphaned;
}

}  // namespace plinth::store
