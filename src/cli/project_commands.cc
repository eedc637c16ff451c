#include "project_commands.h"

#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "chart_commands.h"
#include "output.h"
#include "plinth/chart/chart.h"
#include "plinth/v1/flow_control.grpc.pb.h"
#include "plinth/v1/infra_pipeline.grpc.pb.h"
#include "plinth/v1/infra_project.grpc.pb.h"

namespace plinth::cli {
namespace {

namespace pb = plinth::v1;

int Usage(const std::string& message) {
  std::cerr << "error: " << message << "\n";
  return 2;
}

void SetRef(const ProjectArgs& a, pb::ProjectRef* ref) {
  if (a.name.rfind("prj-", 0) == 0) {
    ref->set_id(a.name);
    return;
  }
  ref->set_org(a.org);
  ref->set_env(a.env);
  ref->set_name(a.name);
}

// The chart as a request wants it: a local directory inline, else NAME[@VERSION].
template <typename Request>
int SetChart(const std::string& chart, Request* req) {
  if (chart.empty()) return 0;
  std::error_code ec;
  if (std::filesystem::is_directory(chart, ec)) {
    auto files = chart::ReadChartDir(chart);
    if (!files.ok()) {
      std::cerr << "error: " << files.status().message() << "\n";
      return 1;
    }
    for (const auto& f : *files) {
      auto* out = req->mutable_inline_()->add_files();
      out->set_path(f.path);
      out->set_content(f.content);
    }
    return 0;
  }
  size_t at = chart.find('@');
  req->mutable_chart()->set_name(chart.substr(0, at));
  if (at != std::string::npos) req->mutable_chart()->set_version(chart.substr(at + 1));
  return 0;
}

std::string Elapsed(const pb::PipelineNode& n) {
  if (!n.has_start_time()) return "";
  int64_t start = n.start_time().seconds();
  int64_t end = n.has_end_time() ? n.end_time().seconds() : static_cast<int64_t>(time(nullptr));
  int64_t s = std::max<int64_t>(0, end - start);
  return s >= 60 ? absl::StrCat(s / 60, "m", s % 60, "s") : absl::StrCat(s, "s");
}

std::string NodeLine(const pb::PipelineNode& n) {
  std::string state = n.state();
  if (n.state() == "awaiting_approval") state = absl::StrCat("awaiting_approval (", n.awaiting(), ")");
  std::string extra;
  if (n.has_summary() && !n.summary().operation().empty()) {
    extra = absl::StrCat("  +", n.summary().add(), " ~", n.summary().change(), " -", n.summary().remove(), " ±",
                         n.summary().replace());
  }
  if (!n.error().empty() && (n.state() == "failed" || n.state() == "skipped" || n.state() == "cancelled")) {
    extra += "  " + n.error();
  }
  char buf[512];
  std::snprintf(buf, sizeof buf, "  L%-2d %-44s %-9s %-28s %6s", n.layer(),
                absl::StrCat(n.kind(), "/", n.name()).c_str(), n.operation().c_str(), state.c_str(),
                Elapsed(n).c_str());
  return std::string(buf) + extra;
}

void PrintPipeline(const pb::InfraPipeline& p) {
  std::cout << "pipeline " << p.id() << "  " << p.kind() << " of " << p.org() << "/" << p.env() << "/"
            << p.project_name() << " revision " << p.revision() << " (" << p.trigger() << ")"
            << (p.commit().empty() ? "" : " commit " + p.commit().substr(0, 12))
            << (p.preview_only() ? " [preview only]" : "") << "\n";
  std::cout << "state:   " << p.state();
  if (!p.gate().empty()) std::cout << "  (pipeline gate " << p.gate() << ")";
  std::cout << "\n";
  if (!p.error().empty()) std::cout << "error:   " << p.error() << "\n";
  for (const auto& n : p.nodes()) std::cout << NodeLine(n) << "\n";
  if (p.nodes().empty()) std::cout << "  (no nodes)\n";
  for (const auto& note : p.notes()) std::cout << "  note: " << note << "\n";
  for (const auto& d : p.decisions()) {
    std::cout << "  " << (d.approved() ? "approved " : "rejected ") << d.target() << " (" << d.stage() << ") by "
              << d.actor() << " at " << FormatTime(d.time()) << (d.comment().empty() ? "" : ": " + d.comment())
              << "\n";
  }
}

void PrintProject(const pb::InfraProject& p) {
  std::cout << "project  " << p.org() << "/" << p.env() << "/" << p.name() << "  (" << p.id() << ")\n";
  if (p.has_git()) {
    const auto& g = p.git();
    std::cout << "git      " << g.url() << " branch " << g.branch() << " path " << (g.path().empty() ? "." : g.path())
              << (g.connection().empty() ? "" : " (connection " + g.connection() + ")") << "\n";
    if (g.pull_request() > 0) {
      std::cout << "preview  of pull request " << g.pull_request() << " (project " << g.parent_project_id() << ")\n";
    }
  } else {
    std::cout << "chart    " << p.chart_name() << "@" << p.chart_version() << " (" << p.chart_source() << ")\n";
  }
  std::cout << "revision " << p.revision() << "  version " << p.version() << "  updated "
            << FormatTime(p.update_time()) << " by " << p.updated_by() << "\n";
  const auto& s = p.settings();
  std::vector<std::string> flags;
  if (s.disable_pipelines()) flags.push_back("pipelines disabled");
  if (s.disable_deployments()) flags.push_back("deployments disabled (previews only)");
  if (s.requires_manual_gate()) flags.push_back("manual gate");
  if (s.max_parallel_jobs() > 0) flags.push_back(absl::StrCat("max ", s.max_parallel_jobs(), " jobs at once"));
  if (s.enable_pull_request_deployments()) flags.push_back("pull requests deploy to preview envs");
  if (!flags.empty()) std::cout << "settings " << absl::StrJoin(flags, ", ") << "\n";
  if (p.has_values() && !p.has_git()) std::cout << "values   " << ToJson(p.values()).dump() << "\n";
  std::vector<std::vector<std::string>> rows = {{"KIND", "NAME", "ENV", "DEPLOYED", "IN REVISION"}};
  for (const auto& r : p.resources()) {
    rows.push_back({r.kind(), r.name(), r.env(), r.deployed() ? "yes" : "no", r.in_current_revision() ? "yes" : "no (removed)"});
  }
  PrintTable(std::cout, rows);
  if (p.has_last_pipeline()) {
    const auto& l = p.last_pipeline();
    std::cout << "last pipeline " << l.id() << ": " << l.kind() << " (" << l.trigger() << ") " << l.state()
              << (l.error().empty() ? "" : ": " + l.error()) << "\n";
  }
}

int Respond(const Client& client, const ClientOptions& opts, const pb::InfraProjectResponse& resp, bool wait,
            const std::string& what) {
  const auto& p = resp.project();
  std::cout << what << " " << p.org() << "/" << p.env() << "/" << p.name() << " revision " << p.revision();
  if (!resp.revision().commit().empty()) std::cout << " at commit " << resp.revision().commit().substr(0, 12);
  bool new_revision = what == "installed" || what == "updated" || what == "synced" || what.rfind("rolled back", 0) == 0;
  if (new_revision && resp.revision().has_diff() && resp.note().rfind("settings changed", 0) != 0) {
    const auto& d = resp.revision().diff();
    std::cout << " (" << d.added_size() << " added, " << d.changed_size() << " changed, " << d.removed_size()
              << " removed, " << d.unchanged() << " unchanged)";
  }
  std::cout << "\n";
  if (!resp.has_pipeline()) {
    if (!resp.note().empty()) std::cout << resp.note() << "\n";
    return 0;
  }
  if (!resp.note().empty()) std::cout << resp.note() << "\n";
  std::cout << "pipeline " << resp.pipeline().id() << " " << resp.pipeline().state() << " ("
            << resp.pipeline().kind() << ")\n";
  if (!wait) {
    std::cout << "watch it: plinth pipeline watch " << resp.pipeline().id() << "\n";
    return 0;
  }
  return PipelineWatch(client, opts, resp.pipeline().id());
}

// A webhook secret from a file ("-": stdin), without its trailing newline;
// nullopt (and a message) when unreadable or empty.
std::optional<std::string> ReadSecretFile(const std::string& path) {
  std::string text;
  if (!ReadAll(path, &text)) {
    Usage("--webhook-secret-file: " + path + ": cannot read");
    return std::nullopt;
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty()) {
    Usage("--webhook-secret-file: " + path + " is empty");
    return std::nullopt;
  }
  return text;
}

// The pipeline controls of install and create-git.
void SetSettings(const ProjectArgs& a, pb::ProjectSettings* settings) {
  settings->set_disable_pipelines(a.disable_pipelines);
  settings->set_disable_deployments(a.disable_deployments);
  settings->set_requires_manual_gate(a.manual_gate);
  settings->set_max_parallel_jobs(a.max_parallel);
  settings->set_enable_pull_request_deployments(a.pr_deployments);
}

template <typename Request>
void SetProjectSelector(const ProjectArgs& a, Request* req) {
  if (a.name.rfind("prj-", 0) == 0) {
    req->set_project_id(a.name);
  } else {
    req->set_org(a.org);
    req->set_env(a.env);
    req->set_project_name(a.name);
  }
}

}  // namespace

int ChartInstall(const Client& client, const ClientOptions& opts, const ProjectArgs& a) {
  pb::CreateInfraProjectRequest req;
  req.set_org(a.org);
  req.set_env(a.env);
  req.set_name(a.name);
  if (int rc = SetChart(a.chart, &req); rc != 0) return rc;
  auto values = LoadValues(a.values_files);
  if (!values.ok()) return Usage(std::string(values.status().message()));
  if (!values->empty()) req.set_values_yaml(values->dump());
  for (const auto& s : a.sets) req.add_set(s);
  req.set_no_deploy(a.no_deploy);
  SetSettings(a, req.mutable_settings());
  pb::InfraProjectResponse resp;
  auto ctx = client.Context();
  grpc::Status s = pb::InfraProjectService::NewStub(client.channel())->CreateInfraProject(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  return Respond(client, opts, resp, a.wait, "installed");
}

int ProjectGet(const Client& client, const ClientOptions& opts, const ProjectArgs& a) {
  pb::GetInfraProjectRequest req;
  SetRef(a, req.mutable_project());
  pb::InfraProject resp;
  auto ctx = client.Context();
  grpc::Status s = pb::InfraProjectService::NewStub(client.channel())->GetInfraProject(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  if (a.output == "json") {
    std::cout << MessageToJson(resp).dump(2) << "\n";
  } else {
    PrintProject(resp);
  }
  return 0;
}

int ProjectList(const Client& client, const ClientOptions& opts, const ProjectArgs& a) {
  auto stub = pb::InfraProjectService::NewStub(client.channel());
  std::vector<std::vector<std::string>> rows = {{"ORG", "ENV", "NAME", "SOURCE", "REVISION", "RESOURCES", "LAST PIPELINE"}};
  nlohmann::json all = nlohmann::json::array();
  std::string token;
  do {
    pb::ListInfraProjectsRequest req;
    req.set_org(a.org == "default" ? "" : a.org);
    req.set_env(a.env);
    req.set_page_token(token);
    pb::ListInfraProjectsResponse resp;
    auto ctx = client.Context();
    grpc::Status s = stub->ListInfraProjects(ctx.get(), req, &resp);
    if (!s.ok()) return Fail(s, opts.server);
    for (const auto& p : resp.projects()) {
      int deployed = 0;
      for (const auto& r : p.resources()) deployed += r.deployed();
      std::string source = p.has_git() ? "git:" + p.git().branch() : p.chart_name() + "@" + p.chart_version();
      rows.push_back({p.org(), p.env(), p.name(), source, std::to_string(p.revision()),
                      absl::StrCat(deployed, "/", p.resources_size(), " deployed"),
                      p.has_last_pipeline() ? p.last_pipeline().state() : "-"});
      all.push_back(MessageToJson(p));
    }
    token = resp.next_page_token();
  } while (!token.empty());
  if (a.output == "json") {
    std::cout << all.dump(2) << "\n";
  } else {
    PrintTable(std::cout, rows);
  }
  return 0;
}

int ProjectHistory(const Client& client, const ClientOptions& opts, const ProjectArgs& a) {
  pb::ListInfraProjectRevisionsRequest req;
  SetRef(a, req.mutable_project());
  req.set_page_size(100);
  pb::ListInfraProjectRevisionsResponse resp;
  auto ctx = client.Context();
  grpc::Status s = pb::InfraProjectService::NewStub(client.channel())->ListInfraProjectRevisions(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  if (a.output == "json") {
    std::cout << MessageToJson(resp).dump(2) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {{"REVISION", "SOURCE", "WHEN", "BY", "CHANGES", "PIPELINES"}};
  for (const auto& r : resp.revisions()) {
    std::string source = r.commit().empty() ? r.chart_name() + "@" + r.chart_version() : "commit " + r.commit().substr(0, 12);
    const auto& d = r.diff();
    std::string changes = absl::StrCat("+", d.added_size(), " ~", d.changed_size(), " -", d.removed_size());
    if (r.rollback_of() > 0) changes += absl::StrCat(" (rollback to ", r.rollback_of(), ")");
    rows.push_back({std::to_string(r.revision()), source, FormatTime(r.create_time()),
                    r.actor(), changes, absl::StrJoin(r.pipeline_ids(), ",")});
  }
  PrintTable(std::cout, rows);
  return 0;
}

int ProjectGraph(const Client& client, const ClientOptions& opts, const ProjectArgs& a) {
  pb::GetInfraProjectGraphRequest req;
  SetRef(a, req.mutable_project());
  req.set_revision(a.revision);
  pb::InfraProjectGraph resp;
  auto ctx = client.Context();
  grpc::Status s = pb::InfraProjectService::NewStub(client.channel())->GetInfraProjectGraph(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  if (a.output == "dot") {
    std::cout << resp.dot();
  } else if (a.output == "json") {
    std::cout << MessageToJson(resp.graph()).dump(2) << "\n";
  } else {
    std::cout << "revision " << resp.revision() << "\n";
    const auto& g = resp.graph();
    for (int l = 0; l < g.layers_size(); ++l) {
      for (int i : g.layers(l).nodes()) {
        const auto& n = g.nodes(i);
        std::vector<std::string> deps;
        for (const auto& e : g.edges()) {
          if (e.to() == i) deps.push_back(g.nodes(e.from()).kind() + "/" + g.nodes(e.from()).name());
        }
        std::cout << "  L" << l << " " << n.kind() << "/" << n.name();
        if (!n.group().empty()) std::cout << "  [" << n.group() << "]";
        if (!deps.empty()) std::cout << "  <- " << absl::StrJoin(deps, ", ");
        std::cout << "\n";
      }
    }
  }
  return 0;
}

int ProjectUpdate(const Client& client, const ClientOptions& opts, const ProjectArgs& a) {
  pb::UpdateInfraProjectRequest req;
  SetRef(a, req.mutable_project());
  if (int rc = SetChart(a.chart, &req); rc != 0) return rc;
  if (!a.values_files.empty()) {
    auto values = LoadValues(a.values_files);
    if (!values.ok()) return Usage(std::string(values.status().message()));
    req.set_values_yaml(values->dump());
  }
  for (const auto& s : a.sets) req.add_set(s);
  req.set_no_deploy(a.no_deploy);
  pb::InfraProjectResponse resp;
  auto ctx = client.Context();
  grpc::Status s = pb::InfraProjectService::NewStub(client.channel())->UpdateInfraProject(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  return Respond(client, opts, resp, a.wait, "updated");
}

int ProjectRollback(const Client& client, const ClientOptions& opts, const ProjectArgs& a) {
  pb::RollbackInfraProjectRequest req;
  SetRef(a, req.mutable_project());
  req.set_revision(a.revision);
  pb::InfraProjectResponse resp;
  auto ctx = client.Context();
  grpc::Status s = pb::InfraProjectService::NewStub(client.channel())->RollbackInfraProject(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  return Respond(client, opts, resp, a.wait, absl::StrCat("rolled back to revision ", a.revision, ":"));
}

int ProjectAction(const Client& client, const ClientOptions& opts, const ProjectArgs& a, const std::string& action) {
  pb::ProjectActionRequest req;
  SetRef(a, req.mutable_project());
  pb::InfraProjectResponse resp;
  auto ctx = client.Context();
  auto stub = pb::InfraProjectService::NewStub(client.channel());
  grpc::Status s;
  if (action == "undeploy") {
    s = stub->UndeployInfraProject(ctx.get(), req, &resp);
  } else if (action == "purge") {
    s = stub->PurgeInfraProject(ctx.get(), req, &resp);
  } else {
    s = stub->RunInfraProjectPipeline(ctx.get(), req, &resp);
  }
  if (!s.ok()) return Fail(s, opts.server);
  return Respond(client, opts, resp, a.wait, action == "run-pipeline" ? "deploying" : action + ":");
}

int ProjectSettingsSet(const Client& client, const ClientOptions& opts, const ProjectArgs& a,
                       const SettingsChange& change) {
  pb::GetInfraProjectRequest get;
  SetRef(a, get.mutable_project());
  pb::InfraProject current;
  auto ctx = client.Context();
  auto stub = pb::InfraProjectService::NewStub(client.channel());
  grpc::Status s = stub->GetInfraProject(ctx.get(), get, &current);
  if (!s.ok()) return Fail(s, opts.server);
  pb::UpdateInfraProjectRequest req;
  req.mutable_project()->set_id(current.id());
  req.set_expected_version(current.version());
  *req.mutable_settings() = current.settings();
  auto set_bool = [](const std::string& flag, const std::string& value, bool* out) -> bool {
    if (value.empty()) return true;
    if (value == "true" || value == "false") {
      *out = value == "true";
      return true;
    }
    std::cerr << "error: " << flag << ": \"" << value << "\" is not true or false\n";
    return false;
  };
  auto* settings = req.mutable_settings();
  bool v;
  v = settings->disable_pipelines();
  if (!set_bool("--disable-pipelines", change.disable_pipelines, &v)) return 2;
  settings->set_disable_pipelines(v);
  v = settings->disable_deployments();
  if (!set_bool("--disable-deployments", change.disable_deployments, &v)) return 2;
  settings->set_disable_deployments(v);
  v = settings->requires_manual_gate();
  if (!set_bool("--manual-gate", change.manual_gate, &v)) return 2;
  settings->set_requires_manual_gate(v);
  if (change.max_parallel >= 0) settings->set_max_parallel_jobs(change.max_parallel);
  v = settings->enable_pull_request_deployments();
  if (!set_bool("--pr-deployments", change.pr_deployments, &v)) return 2;
  settings->set_enable_pull_request_deployments(v);
  pb::InfraProjectResponse resp;
  auto uctx = client.Context();
  s = stub->UpdateInfraProject(uctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  PrintProject(resp.project());
  return 0;
}

int ProjectDelete(const Client& client, const ClientOptions& opts, const ProjectArgs& a) {
  pb::DeleteInfraProjectRequest req;
  SetRef(a, req.mutable_project());
  req.set_orphan_resources(a.orphan);
  pb::DeleteInfraProjectResponse resp;
  auto ctx = client.Context();
  grpc::Status s = pb::InfraProjectService::NewStub(client.channel())->DeleteInfraProject(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  std::cout << "deleted the record of infra project " << a.name << " (no infrastructure was destroyed)\n";
  for (const auto& o : resp.orphaned()) std::cout << "orphaned (still deployed, now unowned): " << o << "\n";
  return 0;
}

int ProjectCreateGit(const Client& client, const ClientOptions& opts, const ProjectArgs& a) {
  pb::CreateInfraProjectRequest req;
  req.set_org(a.org);
  req.set_env(a.env);
  req.set_name(a.name);
  auto* git = req.mutable_git();
  git->set_url(a.repo);
  git->set_branch(a.branch);
  git->set_path(a.path);
  git->set_connection(a.connection);
  if (!a.webhook_secret_file.empty()) {
    auto secret = ReadSecretFile(a.webhook_secret_file);
    if (!secret) return 2;
    req.set_webhook_secret(*secret);
  }
  req.set_no_deploy(a.no_deploy);
  SetSettings(a, req.mutable_settings());
  pb::InfraProjectResponse resp;
  auto ctx = client.Context();
  grpc::Status s = pb::InfraProjectService::NewStub(client.channel())->CreateInfraProject(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  if (a.webhook_secret_file.empty()) {
    // Shown once; on stderr, so that scripts reading stdout do not log it.
    std::cerr << "webhook secret (shown once; paste it into the Git host's webhook settings): "
              << resp.webhook_secret() << "\n";
  }
  return Respond(client, opts, resp, a.wait, "installed");
}

int ProjectSync(const Client& client, const ClientOptions& opts, const ProjectArgs& a) {
  pb::SyncInfraProjectRequest req;
  SetRef(a, req.mutable_project());
  req.set_commit(a.commit);
  pb::InfraProjectResponse resp;
  auto ctx = client.Context();
  grpc::Status s = pb::InfraProjectService::NewStub(client.channel())->SyncInfraProject(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  return Respond(client, opts, resp, a.wait, "synced");
}

int ProjectWebhookSecret(const Client& client, const ClientOptions& opts, const ProjectArgs& a) {
  pb::RotateWebhookSecretRequest req;
  SetRef(a, req.mutable_project());
  if (!a.webhook_secret_file.empty()) {
    auto secret = ReadSecretFile(a.webhook_secret_file);
    if (!secret) return 2;
    req.set_webhook_secret(*secret);
  }
  pb::RotateWebhookSecretResponse resp;
  auto ctx = client.Context();
  grpc::Status s = pb::InfraProjectService::NewStub(client.channel())->RotateWebhookSecret(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  if (a.webhook_secret_file.empty()) {
    std::cout << "new webhook secret (shown once; paste it into the Git host's webhook settings): "
              << resp.webhook_secret() << "\n";
  } else {
    std::cout << "webhook secret of " << a.name << " replaced\n";
  }
  return 0;
}

int WebhookDeliveries(const Client& client, const ClientOptions& opts, int limit, const std::string& output) {
  pb::ListWebhookDeliveriesRequest req;
  req.set_limit(limit);
  pb::ListWebhookDeliveriesResponse resp;
  auto ctx = client.Context();
  grpc::Status s = pb::InfraProjectService::NewStub(client.channel())->ListWebhookDeliveries(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  if (output == "json") {
    std::cout << MessageToJson(resp).dump(2) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {{"WHEN", "PROVIDER", "EVENT", "DELIVERY", "REF", "COMMIT", "RESULT"}};
  for (const auto& d : resp.deliveries()) {
    rows.push_back({FormatTime(d.receive_time()), d.provider(), d.event(), d.delivery_id(), d.ref(),
                    d.commit().substr(0, 12), d.result()});
  }
  PrintTable(std::cout, rows);
  return 0;
}

int PipelineList(const Client& client, const ClientOptions& opts, const ProjectArgs& a) {
  pb::ListInfraPipelinesRequest req;
  SetProjectSelector(a, &req);
  req.set_page_size(50);
  pb::ListInfraPipelinesResponse resp;
  auto ctx = client.Context();
  grpc::Status s = pb::InfraPipelineService::NewStub(client.channel())->ListInfraPipelines(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  std::vector<std::vector<std::string>> rows = {{"ID", "KIND", "TRIGGER", "REVISION", "COMMIT", "STATE", "NODES", "STARTED", "BY"}};
  for (const auto& p : resp.pipelines()) {
    int done = 0;
    for (const auto& n : p.nodes()) done += n.state() == "succeeded";
    rows.push_back({p.id(), p.kind() + (p.preview_only() ? " (preview)" : ""), p.trigger(), std::to_string(p.revision()),
                    p.commit().empty() ? "-" : p.commit().substr(0, 12), p.state(), absl::StrCat(done, "/", p.nodes_size()),
                    p.has_start_time() ? FormatTime(p.start_time()) : "-", p.created_by()});
  }
  PrintTable(std::cout, rows);
  return 0;
}

int PipelineLast(const Client& client, const ClientOptions& opts, const ProjectArgs& a) {
  pb::GetLastInfraPipelineRequest req;
  SetProjectSelector(a, &req);
  pb::InfraPipeline resp;
  auto ctx = client.Context();
  grpc::Status s = pb::InfraPipelineService::NewStub(client.channel())->GetLastInfraPipeline(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  if (a.output == "json") {
    std::cout << MessageToJson(resp).dump(2) << "\n";
  } else {
    PrintPipeline(resp);
  }
  return 0;
}

int PipelineGet(const Client& client, const ClientOptions& opts, const std::string& id, const std::string& output) {
  pb::GetInfraPipelineRequest req;
  req.set_id(id);
  pb::InfraPipeline resp;
  auto ctx = client.Context();
  grpc::Status s = pb::InfraPipelineService::NewStub(client.channel())->GetInfraPipeline(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  if (output == "json") {
    std::cout << MessageToJson(resp).dump(2) << "\n";
  } else {
    PrintPipeline(resp);
  }
  return 0;
}

int PipelineCancel(const Client& client, const ClientOptions& opts, const std::string& id) {
  pb::CancelInfraPipelineRequest req;
  req.set_id(id);
  pb::InfraPipeline resp;
  auto ctx = client.Context();
  grpc::Status s = pb::InfraPipelineService::NewStub(client.channel())->CancelInfraPipeline(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  std::cout << "pipeline " << id << ": cancel requested (" << resp.state() << ")\n";
  return 0;
}

int PipelineResolve(const Client& client, const ClientOptions& opts, const std::string& id, const std::string& node,
                    bool approve, const std::string& comment) {
  pb::ResolveGateRequest req;
  req.set_pipeline_id(id);
  req.set_node(node);
  req.set_approve(approve);
  req.set_comment(comment);
  pb::InfraPipeline resp;
  auto ctx = client.Context();
  grpc::Status s = pb::InfraPipelineService::NewStub(client.channel())->ResolveGate(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  std::cout << (approve ? "approved " : "rejected ") << (node.empty() ? "the pipeline gate" : node) << " of pipeline "
            << id << " (now " << resp.state() << ")\n";
  return 0;
}

int PipelineWatch(const Client& client, const ClientOptions& opts, const std::string& id) {
  auto stub = pb::InfraPipelineService::NewStub(client.channel());
  pb::WatchInfraPipelineRequest req;
  req.set_id(id);
  grpc::ClientContext ctx;  // no deadline: a pipeline may run for hours
  if (!opts.token.empty()) ctx.AddMetadata("authorization", "Bearer " + opts.token);
  auto reader = stub->WatchInfraPipeline(&ctx, req);
  const bool tty = isatty(STDOUT_FILENO) != 0;
  pb::InfraPipeline p;
  int drawn = 0;
  std::map<int, std::string> last;  // plain mode: the line printed per node
  std::string last_state;
  bool any = false;
  while (reader->Read(&p)) {
    any = true;
    if (tty) {
      if (drawn > 0) std::cout << "\033[" << drawn << "A";
      std::vector<std::string> lines;
      lines.push_back(absl::StrCat("pipeline ", p.id(), "  ", p.kind(), " of ", p.project_name(), " revision ",
                                   p.revision(), "  ", p.state(), p.gate() == "waiting" ? " (pipeline gate waiting)" : ""));
      for (const auto& n : p.nodes()) lines.push_back(NodeLine(n));
      for (const auto& l : lines) std::cout << "\033[2K" << l << "\n";
      drawn = static_cast<int>(lines.size());
      std::cout.flush();
    } else {
      if (p.state() != last_state) {
        std::cout << "pipeline " << p.id() << " " << p.state()
                  << (p.gate() == "waiting" ? " (pipeline gate waiting: plinth pipeline approve " + p.id() + ")" : "")
                  << "\n";
        last_state = p.state();
      }
      for (const auto& n : p.nodes()) {
        std::string key = n.state() + n.awaiting();
        if (last[n.index()] == key) continue;
        last[n.index()] = key;
        std::cout << NodeLine(n) << "\n";
      }
      std::cout.flush();
    }
  }
  grpc::Status s = reader->Finish();
  if (!s.ok()) return Fail(s, opts.server);
  if (!any) return 1;
  if (!p.error().empty()) std::cout << "error: " << p.error() << "\n";
  // The final state is on screen already (the redrawn block's first line,
  // or the last state line); print it only if it never was.
  if (!tty && last_state != p.state()) std::cout << "pipeline " << p.id() << " " << p.state() << "\n";
  return p.state() == "succeeded" ? 0 : 1;
}

namespace {

void SetScope(const PolicyArgs& a, pb::GetFlowControlPolicyRequest* req) {
  req->set_org(a.org);
  req->set_env(a.env);
  req->set_kind(a.kind);
  req->set_name(a.name);
}

void PrintPolicy(const pb::FlowControlPolicy& p) {
  std::string where = p.org();
  if (!p.env().empty()) where += "/" + p.env();
  if (!p.kind().empty()) where += "/" + p.kind() + "/" + p.name();
  std::cout << "scope:   " << p.scope() << " (" << where << ")\n"
            << "is_manual:                                  " << (p.is_manual() ? "true" : "false") << "\n"
            << "preview_before_update_or_destroy:           "
            << (!p.has_preview_before_update_or_destroy() || p.preview_before_update_or_destroy() ? "true" : "false")
            << "\n"
            << "pause_between_preview_and_update_or_destroy: "
            << (p.pause_between_preview_and_update_or_destroy() ? "true" : "false") << "\n"
            << "skip_refresh:                               " << (p.skip_refresh() ? "true" : "false") << "\n"
            << "disable_on_lifecycle_events:                " << (p.disable_on_lifecycle_events() ? "true" : "false")
            << "\n"
            << "requires_manual_gate:                       " << (p.requires_manual_gate() ? "true" : "false") << "\n";
}

}  // namespace

int PolicySet(const Client& client, const ClientOptions& opts, const PolicyArgs& a) {
  pb::SetFlowControlPolicyRequest req;
  auto* p = req.mutable_policy();
  p->set_org(a.org);
  p->set_env(a.env);
  p->set_kind(a.kind);
  p->set_name(a.name);
  p->set_is_manual(a.manual);
  p->set_preview_before_update_or_destroy(!a.no_preview);
  p->set_pause_between_preview_and_update_or_destroy(a.pause);
  p->set_skip_refresh(a.skip_refresh);
  p->set_disable_on_lifecycle_events(a.disable_on_lifecycle);
  p->set_requires_manual_gate(a.manual_gate);
  pb::FlowControlPolicy resp;
  auto ctx = client.Context();
  grpc::Status s = pb::FlowControlService::NewStub(client.channel())->SetFlowControlPolicy(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  PrintPolicy(resp);
  return 0;
}

int PolicyGet(const Client& client, const ClientOptions& opts, const PolicyArgs& a) {
  pb::GetFlowControlPolicyRequest req;
  SetScope(a, &req);
  pb::FlowControlPolicy resp;
  auto ctx = client.Context();
  auto stub = pb::FlowControlService::NewStub(client.channel());
  grpc::Status s = a.effective ? stub->GetEffectiveFlowControlPolicy(ctx.get(), req, &resp)
                               : stub->GetFlowControlPolicy(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  if (a.output == "json") {
    std::cout << MessageToJson(resp, true).dump(2) << "\n";
  } else {
    PrintPolicy(resp);
  }
  return 0;
}

int PolicyList(const Client& client, const ClientOptions& opts, const PolicyArgs& a) {
  pb::ListFlowControlPoliciesRequest req;
  req.set_org(a.org == "default" ? "" : a.org);
  req.set_page_size(1000);
  pb::ListFlowControlPoliciesResponse resp;
  auto stub = pb::FlowControlService::NewStub(client.channel());
  for (;;) {
    pb::ListFlowControlPoliciesResponse page;
    auto ctx = client.Context();
    grpc::Status s = stub->ListFlowControlPolicies(ctx.get(), req, &page);
    if (!s.ok()) return Fail(s, opts.server);
    for (auto& p : *page.mutable_policies()) *resp.add_policies() = std::move(p);
    if (page.next_page_token().empty()) break;
    req.set_page_token(page.next_page_token());
  }
  std::vector<std::vector<std::string>> rows = {{"SCOPE", "ORG", "ENV", "RESOURCE", "POLICY"}};
  for (const auto& p : resp.policies()) {
    std::vector<std::string> on;
    if (p.is_manual()) on.push_back("manual");
    if (p.has_preview_before_update_or_destroy() && !p.preview_before_update_or_destroy()) on.push_back("no-preview");
    if (p.pause_between_preview_and_update_or_destroy()) on.push_back("pause-after-plan");
    if (p.skip_refresh()) on.push_back("skip-refresh");
    if (p.disable_on_lifecycle_events()) on.push_back("not-on-lifecycle-events");
    if (p.requires_manual_gate()) on.push_back("pipeline-gate");
    rows.push_back({p.scope(), p.org(), p.env().empty() ? "-" : p.env(),
                    p.kind().empty() ? "-" : p.kind() + "/" + p.name(), on.empty() ? "(defaults)" : absl::StrJoin(on, ",")});
  }
  PrintTable(std::cout, rows);
  return 0;
}

int PolicyDelete(const Client& client, const ClientOptions& opts, const PolicyArgs& a) {
  pb::GetFlowControlPolicyRequest req;
  SetScope(a, &req);
  pb::DeleteFlowControlPolicyResponse resp;
  auto ctx = client.Context();
  grpc::Status s = pb::FlowControlService::NewStub(client.channel())->DeleteFlowControlPolicy(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  std::cout << "deleted the flow-control policy\n";
  return 0;
}

}  // namespace plinth::cli
