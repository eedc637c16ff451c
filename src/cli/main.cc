// plinth: the command-line client of plinthd. It speaks gRPC only.
#include <cstdlib>
#include <iostream>

#include "CLI/CLI.hpp"
#include "chart_commands.h"
#include "commands.h"
#include "connection_commands.h"
#include "job_commands.h"
#include "kustomize_commands.h"
#include "project_commands.h"
#include "runner_commands.h"
#include "grant_commands.h"
#include "kubectl_commands.h"
#include "state_commands.h"

int main(int argc, char** argv) {
  using namespace plinth::cli;
  CLI::App app{"plinth: drive a plinthd control plane"};
  app.require_subcommand(1);
  ClientOptions opts;
  if (const char* s = std::getenv("PLINTH_SERVER")) opts.server = s;
  if (const char* t = std::getenv("PLINTH_TOKEN")) opts.token = t;
  app.add_option("--server", opts.server, "plinthd address host:port (env PLINTH_SERVER)");
  app.add_option("--token", opts.token, "bearer token (env PLINTH_TOKEN)");
  app.add_option("--timeout", opts.timeout_seconds, "seconds to wait for an answer (default 60)");

  int rc = 0;
  auto run = [&](auto fn) { return [&, fn] { rc = fn(Client(opts)); }; };

  ApplyArgs apply;
  auto* apply_cmd = app.add_subcommand("apply", "create or update cloud resources from manifests");
  apply_cmd->add_option("-f,--filename", apply.files, "manifest file, directory of *.yaml, or - for stdin")
      ->required();
  apply_cmd->add_option("--org", apply.org, "org for manifests that do not set metadata.org");
  apply_cmd->add_option("--env", apply.env, "env for manifests that do not set metadata.env");
  apply_cmd->add_flag("--dry-run", apply.dry_run, "validate and show what would change; write nothing");
  apply_cmd->callback(run([&](const Client& c) { return Apply(c, opts, apply); }));

  auto* get_cmd = app.add_subcommand("get", "show cloud resources");
  get_cmd->require_subcommand(1);
  ListArgs list;
  auto* list_cmd = get_cmd->add_subcommand("cloud-resources", "list cloud resources");
  list_cmd->add_option("--org", list.org, "only this org");
  list_cmd->add_option("--env", list.env, "only this env");
  list_cmd->add_option("--kind", list.kind, "only this kind");
  list_cmd->add_option("-l,--selector", list.selector, "label selector, e.g. tier=web,team!=ops");
  list_cmd->add_option("-o,--output", list.output, "table, yaml or json");
  list_cmd->callback(run([&](const Client& c) { return ListResources(c, opts, list); }));
  std::string ref, output = "yaml";
  auto* one_cmd = get_cmd->add_subcommand("cloud-resource", "show one cloud resource");
  one_cmd->add_option("ref", ref, "ORG/ENV/KIND/NAME or id")->required();
  one_cmd->add_option("-o,--output", output, "yaml (the manifest) or json (the whole record)");
  bool show_sensitive = false;
  one_cmd->add_flag("--show-sensitive", show_sensitive,
                    "show sensitive outputs in the clear (needs the reveal-sensitive permission)");
  one_cmd->callback(run([&](const Client& c) { return GetResource(c, opts, ref, output, show_sensitive); }));

  auto* delete_cmd = app.add_subcommand("delete", "delete records (never infrastructure)");
  delete_cmd->require_subcommand(1);
  long long version = 0;
  auto* del_one = delete_cmd->add_subcommand("cloud-resource", "delete a cloud resource record");
  del_one->add_option("ref", ref, "ORG/ENV/KIND/NAME or id")->required();
  del_one->add_option("--version", version, "delete only if the resource is at this version");
  del_one->callback(run([&](const Client& c) { return DeleteResource(c, opts, ref, version); }));

  std::string history_output = "table";
  auto* history_cmd = app.add_subcommand("history", "every stored version of a cloud resource");
  history_cmd->add_option("ref", ref, "ORG/ENV/KIND/NAME or id")->required();
  history_cmd->add_option("-o,--output", history_output, "table or json");
  history_cmd->callback(run([&](const Client& c) { return History(c, opts, ref, history_output); }));

  std::string provider, kinds_output = "table";
  auto* kinds_cmd = app.add_subcommand("kinds", "list the kinds of cloud resources");
  kinds_cmd->add_option("--provider", provider, "aws, gcp, azure, kubernetes, cloudflare ...");
  kinds_cmd->add_option("-o,--output", kinds_output, "table or json");
  kinds_cmd->callback(run([&](const Client& c) { return Kinds(c, opts, provider, kinds_output); }));

  std::string kind, explain_api_version, explain_output = "text";
  auto* explain_cmd = app.add_subcommand("explain", "describe a kind's spec fields and outputs");
  explain_cmd->add_option("kind", kind, "kind, e.g. AwsVpc")->required();
  explain_cmd->add_option("--api-version", explain_api_version,
                          "needed only when loaded kinds share the name");
  explain_cmd->add_option("-o,--output", explain_output, "text or json");
  explain_cmd->callback(run([&](const Client& c) {
    return Explain(c, opts, kind, explain_api_version, explain_output);
  }));

  auto* chart_cmd = app.add_subcommand("chart", "infra charts: push, list, show, render");
  chart_cmd->require_subcommand(1);
  std::string chart_dir, chart_version;
  auto* push_cmd = chart_cmd->add_subcommand("push", "store a chart directory as a new version");
  push_cmd->add_option("dir", chart_dir, "chart directory (Chart.yaml, values.yaml, templates/)")->required();
  push_cmd->add_option("--version", chart_version, "version; default: metadata.version of Chart.yaml");
  push_cmd->callback(run([&](const Client& c) { return ChartPush(c, opts, chart_dir, chart_version); }));
  std::string chart_name;
  auto* chart_list_cmd = chart_cmd->add_subcommand("list", "list stored charts and versions");
  chart_list_cmd->add_option("--name", chart_name, "only this chart");
  chart_list_cmd->callback(run([&](const Client& c) { return ChartList(c, opts, chart_name); }));
  std::string chart_ref;
  auto* show_cmd = chart_cmd->add_subcommand("show", "a stored chart and its params");
  show_cmd->add_option("chart", chart_ref, "NAME or NAME@VERSION")->required();
  show_cmd->callback(run([&](const Client& c) { return ChartShow(c, opts, chart_ref); }));
  RenderArgs render;
  auto* render_cmd = chart_cmd->add_subcommand(
      "render", "render a chart to manifests and graph (a local directory renders offline)");
  render_cmd->add_option("chart", render.source, "chart directory, or NAME[@VERSION] on the server")->required();
  render_cmd->add_option("-f,--values", render.values_files, "values file (YAML map of param to value); repeatable");
  render_cmd->add_option("--set", render.sets, "param=value; repeatable, wins over -f");
  render_cmd->add_option("--env", render.env, "target environment")->required();
  render_cmd->add_option("--org", render.org, "target organization (default: default)");
  render_cmd->add_option("-o,--output", render.output, "yaml, json or dot");
  render_cmd->add_option("--kinds-descriptor-set", render.kinds_descriptor_sets,
                         "more kinds for offline rendering; repeatable");
  render_cmd->callback(run([&](const Client& c) { return ChartRender(c, opts, render); }));


  // ---- projects and pipelines
  ProjectArgs proj;
  proj.org = "default";
  auto* install_cmd = chart_cmd->add_subcommand("install", "create an infra project from a chart and deploy it");
  install_cmd->add_option("name", proj.name, "project name")->required();
  install_cmd->add_option("chart", proj.chart, "chart directory, or NAME[@VERSION] pushed to the server")->required();
  install_cmd->add_option("--env", proj.env, "environment")->required();
  install_cmd->add_option("--org", proj.org, "organization (default: default)");
  install_cmd->add_option("-f,--values", proj.values_files, "values file; repeatable, later files win");
  install_cmd->add_option("--set", proj.sets, "param=value; repeatable, wins over -f");
  install_cmd->add_flag("--no-deploy", proj.no_deploy, "store the project without starting a pipeline");
  install_cmd->add_flag("--wait", proj.wait, "watch the pipeline until it ends; exit 1 unless it succeeded");
  install_cmd->add_flag("--disable-pipelines", proj.disable_pipelines, "no automatic pipelines for this project");
  install_cmd->add_flag("--disable-deployments", proj.disable_deployments, "pipelines run previews only");
  install_cmd->add_flag("--manual-gate", proj.manual_gate, "every pipeline waits for an approval before it starts");
  install_cmd->add_option("--max-parallel", proj.max_parallel, "most stack jobs of one pipeline at once");
  install_cmd->callback(run([&](const Client& c) { return ChartInstall(c, opts, proj); }));

  auto* project_cmd = app.add_subcommand("project", "infra projects: a chart and values, versioned, deployed by pipelines");
  project_cmd->require_subcommand(1);
  auto add_ref = [&](CLI::App* cmd) {
    cmd->add_option("name", proj.name, "project name or id")->required();
    cmd->add_option("--env", proj.env, "environment (needed when the name exists in several)");
    cmd->add_option("--org", proj.org, "organization (default: default)");
  };
  auto* pget = project_cmd->add_subcommand("get", "a project: chart, values, resources, last pipeline");
  add_ref(pget);
  pget->add_option("-o,--output", proj.output, "text or json");
  pget->callback(run([&](const Client& c) { return ProjectGet(c, opts, proj); }));
  auto* plist = project_cmd->add_subcommand("list", "projects");
  plist->add_option("--env", proj.env, "only this env");
  plist->add_option("--org", proj.org, "only this org");
  plist->add_option("-o,--output", proj.output, "table or json");
  plist->callback(run([&](const Client& c) { return ProjectList(c, opts, proj); }));
  auto* phist = project_cmd->add_subcommand("history", "every revision: chart, values, who, when, what changed");
  add_ref(phist);
  phist->add_option("-o,--output", proj.output, "table or json");
  phist->callback(run([&](const Client& c) { return ProjectHistory(c, opts, proj); }));
  auto* pgraph = project_cmd->add_subcommand("graph", "the dependency graph of a revision");
  add_ref(pgraph);
  pgraph->add_option("--revision", proj.revision, "revision (default: current)");
  pgraph->add_option("-o,--output", proj.output, "text, dot or json");
  pgraph->callback(run([&](const Client& c) { return ProjectGraph(c, opts, proj); }));
  auto* pupdate = project_cmd->add_subcommand("update", "new values and/or chart: a new revision, then a pipeline");
  add_ref(pupdate);
  pupdate->add_option("--chart", proj.chart, "chart directory or NAME[@VERSION] (default: the project's copy)");
  pupdate->add_option("-f,--values", proj.values_files, "values file: replaces the values; repeatable");
  pupdate->add_option("--set", proj.sets, "param=value on top of the (new or current) values; repeatable");
  pupdate->add_flag("--no-deploy", proj.no_deploy, "store the revision without starting a pipeline");
  pupdate->add_flag("--wait", proj.wait, "watch the pipeline until it ends");
  pupdate->callback(run([&](const Client& c) { return ProjectUpdate(c, opts, proj); }));
  auto* prollback = project_cmd->add_subcommand("rollback", "a new revision equal to revision N, then a pipeline");
  add_ref(prollback);
  prollback->add_option("revision", proj.revision, "revision to go back to")->required();
  prollback->add_flag("--wait", proj.wait, "watch the pipeline until it ends");
  prollback->callback(run([&](const Client& c) { return ProjectRollback(c, opts, proj); }));
  for (const char* action : {"run-pipeline", "undeploy", "purge"}) {
    const char* help = std::string(action) == "run-pipeline"
                           ? "deploy every resource of the current revision again"
                           : std::string(action) == "undeploy" ? "destroy every resource in reverse order; keep the record"
                                                               : "undeploy, then delete the record";
    auto* cmd = project_cmd->add_subcommand(action, help);
    add_ref(cmd);
    cmd->add_flag("--wait", proj.wait, "watch the pipeline until it ends");
    std::string a = action;
    cmd->callback(run([&, a](const Client& c) { return ProjectAction(c, opts, proj, a); }));
  }
  auto* pcreate_git = project_cmd->add_subcommand(
      "create-git", "create an infra project from the manifests in a Git repository; pushes to the branch deploy");
  pcreate_git->add_option("name", proj.name, "project name")->required();
  pcreate_git->add_option("--repo", proj.repo, "repository URL: https://, http:// or file://")->required();
  pcreate_git->add_option("--branch", proj.branch, "tracked branch (default main)");
  pcreate_git->add_option("--path", proj.path, "directory of the manifests in the repository (default: the root)");
  pcreate_git->add_option("--env", proj.env, "environment of manifests that name none")->required();
  pcreate_git->add_option("--org", proj.org, "organization (default: default)");
  pcreate_git->add_option("--connection", proj.connection, "git connection whose token reads the repository");
  pcreate_git->add_option("--webhook-secret-file", proj.webhook_secret_file,
                          "file holding the webhook secret (- for stdin); default: a random one, printed once");
  pcreate_git->add_flag("--pr-deployments", proj.pr_deployments,
                        "pull requests deploy to a preview env (default: plan-only previews)");
  pcreate_git->add_flag("--no-deploy", proj.no_deploy, "store the project without starting a pipeline");
  pcreate_git->add_flag("--wait", proj.wait, "watch the pipeline until it ends; exit 1 unless it succeeded");
  pcreate_git->add_flag("--disable-pipelines", proj.disable_pipelines, "no automatic pipelines (pushes record revisions)");
  pcreate_git->add_flag("--disable-deployments", proj.disable_deployments, "pipelines run previews only");
  pcreate_git->add_flag("--manual-gate", proj.manual_gate, "every pipeline waits for an approval before it starts");
  pcreate_git->add_option("--max-parallel", proj.max_parallel, "most stack jobs of one pipeline at once");
  pcreate_git->callback(run([&](const Client& c) { return ProjectCreateGit(c, opts, proj); }));
  auto* psync = project_cmd->add_subcommand("sync", "Git projects: deploy the branch head, or a given commit");
  add_ref(psync);
  psync->add_option("--commit", proj.commit, "full commit id (default: the head of the tracked branch)");
  psync->add_flag("--wait", proj.wait, "watch the pipeline until it ends");
  psync->callback(run([&](const Client& c) { return ProjectSync(c, opts, proj); }));

  auto* psecret = project_cmd->add_subcommand("webhook-secret", "Git projects: replace the webhook secret");
  add_ref(psecret);
  psecret->add_option("--secret-file", proj.webhook_secret_file,
                      "file holding the new secret (- for stdin); default: a random one, printed once");
  psecret->callback(run([&](const Client& c) { return ProjectWebhookSecret(c, opts, proj); }));

  SettingsChange settings_change;
  auto* psettings = project_cmd->add_subcommand("settings", "change pipeline controls (no new revision)");
  add_ref(psettings);
  psettings->add_option("--disable-pipelines", settings_change.disable_pipelines, "true or false");
  psettings->add_option("--disable-deployments", settings_change.disable_deployments, "true or false: previews only");
  psettings->add_option("--manual-gate", settings_change.manual_gate, "true or false: pipelines wait for an approval");
  psettings->add_option("--max-parallel", settings_change.max_parallel, "most jobs of one pipeline at once (0: default)");
  psettings->add_option("--pr-deployments", settings_change.pr_deployments,
                        "true or false: Git pull requests deploy to a preview env");
  psettings->callback(run([&](const Client& c) { return ProjectSettingsSet(c, opts, proj, settings_change); }));
  auto* pdelete = project_cmd->add_subcommand("delete", "delete the record only (never infrastructure)");
  add_ref(pdelete);
  pdelete->add_flag("--orphan-resources", proj.orphan, "leave deployed resources running, unowned");
  pdelete->callback(run([&](const Client& c) { return ProjectDelete(c, opts, proj); }));

  auto* webhook_cmd = app.add_subcommand("webhook", "webhook deliveries from GitHub and GitLab");
  webhook_cmd->require_subcommand(1);
  int delivery_limit = 50;
  std::string delivery_output = "table";
  auto* wh_list = webhook_cmd->add_subcommand("deliveries", "accepted deliveries, newest first, and what they did");
  wh_list->add_option("--limit", delivery_limit, "at most this many (default 50)");
  wh_list->add_option("-o,--output", delivery_output, "table or json");
  wh_list->callback(run([&](const Client& c) { return WebhookDeliveries(c, opts, delivery_limit, delivery_output); }));

  auto* pipeline_cmd = app.add_subcommand("pipeline", "infra pipelines: list, get, watch, cancel, approve, reject");
  pipeline_cmd->require_subcommand(1);
  std::string pipeline_id, node, pipeline_output = "text", gate_comment;
  auto* pl_list = pipeline_cmd->add_subcommand("list", "a project's pipelines, newest first");
  pl_list->add_option("--project", proj.name, "project name or id")->required();
  pl_list->add_option("--env", proj.env, "environment");
  pl_list->add_option("--org", proj.org, "organization");
  pl_list->callback(run([&](const Client& c) { return PipelineList(c, opts, proj); }));
  auto* pl_last = pipeline_cmd->add_subcommand("last", "a project's newest pipeline");
  add_ref(pl_last);
  pl_last->add_option("-o,--output", proj.output, "text or json");
  pl_last->callback(run([&](const Client& c) { return PipelineLast(c, opts, proj); }));
  auto* pl_get = pipeline_cmd->add_subcommand("get", "a pipeline and every node");
  pl_get->add_option("id", pipeline_id, "pipeline id")->required();
  pl_get->add_option("-o,--output", pipeline_output, "text or json");
  pl_get->callback(run([&](const Client& c) { return PipelineGet(c, opts, pipeline_id, pipeline_output); }));
  auto* pl_watch = pipeline_cmd->add_subcommand("watch", "live view until the pipeline ends; exit 0 only if it succeeded");
  pl_watch->add_option("id", pipeline_id, "pipeline id")->required();
  pl_watch->callback(run([&](const Client& c) { return PipelineWatch(c, opts, pipeline_id); }));
  auto* pl_cancel = pipeline_cmd->add_subcommand("cancel", "cancel: running jobs get the graceful cancel");
  pl_cancel->add_option("id", pipeline_id, "pipeline id")->required();
  pl_cancel->callback(run([&](const Client& c) { return PipelineCancel(c, opts, pipeline_id); }));
  for (bool approve : {true, false}) {
    auto* cmd = pipeline_cmd->add_subcommand(approve ? "approve" : "reject",
                                             approve ? "approve a waiting gate (the pipeline's, or --node's)"
                                                     : "reject a waiting gate: the node (or pipeline) fails");
    cmd->add_option("id", pipeline_id, "pipeline id")->required();
    cmd->add_option("--node", node, "node: KIND/NAME or index (default: the pipeline gate)");
    cmd->add_option("-m,--comment", gate_comment, "why; audited");
    cmd->callback(run([&, approve](const Client& c) {
      return PipelineResolve(c, opts, pipeline_id, node, approve, gate_comment);
    }));
  }

  auto* policy_cmd = app.add_subcommand("policy", "flow-control policies (org, env or resource scope)");
  policy_cmd->require_subcommand(1);
  PolicyArgs pol;
  pol.org = "default";
  auto add_scope = [&](CLI::App* cmd) {
    cmd->add_option("--org", pol.org, "organization (default: default)");
    cmd->add_option("--env", pol.env, "env scope");
    cmd->add_option("--kind", pol.kind, "resource scope: kind (with --name and --env)");
    cmd->add_option("--name", pol.name, "resource scope: name");
  };
  auto* pol_set = policy_cmd->add_subcommand("set", "set the policy of a scope (replaces it whole)");
  add_scope(pol_set);
  pol_set->add_flag("--manual", pol.manual, "a job waits for an approval before it starts");
  pol_set->add_flag("--no-preview", pol.no_preview, "apply without a saved plan (terraform apply -auto-approve)");
  pol_set->add_flag("--pause", pol.pause, "after the plan, wait for an approval");
  pol_set->add_flag("--skip-refresh", pol.skip_refresh, "plan without refreshing state");
  pol_set->add_flag("--disable-on-lifecycle-events", pol.disable_on_lifecycle,
                    "create/update/rollback pipelines leave the resource out");
  pol_set->add_flag("--manual-gate", pol.manual_gate, "org/env: every pipeline waits for an approval");
  pol_set->callback(run([&](const Client& c) { return PolicySet(c, opts, pol); }));
  auto* pol_get = policy_cmd->add_subcommand("get", "the policy of exactly a scope (or --effective)");
  add_scope(pol_get);
  pol_get->add_flag("--effective", pol.effective, "the policy that applies (resource, else env, else org, else defaults)");
  pol_get->add_option("-o,--output", pol.output, "text or json");
  pol_get->callback(run([&](const Client& c) { return PolicyGet(c, opts, pol); }));
  auto* pol_list = policy_cmd->add_subcommand("list", "stored policies");
  pol_list->add_option("--org", pol.org, "only this org");
  pol_list->callback(run([&](const Client& c) { return PolicyList(c, opts, pol); }));
  auto* pol_delete = policy_cmd->add_subcommand("delete", "delete the policy of a scope");
  add_scope(pol_delete);
  pol_delete->callback(run([&](const Client& c) { return PolicyDelete(c, opts, pol); }));

  // ---- service overlays (offline)
  std::string kdir, koverlay, koutput = "yaml";
  auto* kustomize_cmd = app.add_subcommand("kustomize", "Kustomize-style overlays of a service directory (offline)");
  kustomize_cmd->require_subcommand(1);
  auto* kbuild = kustomize_cmd->add_subcommand("build", "print the base with an overlay's patches (all overlays by default)");
  kbuild->add_option("dir", kdir, "directory holding _kustomize/")->required();
  kbuild->add_option("--overlay", koverlay, "one overlay");
  kbuild->add_option("-o,--output", koutput, "yaml or json");
  kbuild->callback([&] { rc = KustomizeBuild(kdir, koverlay, koutput); });
  std::string env_dir = ".", env_overlay = "local";
  std::vector<std::string> env_sets;
  auto* dotenv = app.add_subcommand("dot-env", "write .env and .env_export from an overlay's container env");
  dotenv->add_option("dir", env_dir, "directory holding _kustomize/ (default .)");
  dotenv->add_option("--overlay", env_overlay, "overlay (default local)");
  dotenv->add_option("--set", env_sets, "NAME=value; repeatable, wins over the overlay");
  dotenv->callback([&] { rc = DotEnv(env_dir, env_overlay, env_sets); });

  auto* job_cmd = app.add_subcommand("job", "stack jobs: run the engine for one cloud resource");
  job_cmd->require_subcommand(1);
  JobRunArgs job_run;
  auto* job_run_cmd = job_cmd->add_subcommand("run", "queue a stack job");
  job_run_cmd->add_option("resource", job_run.resource, "ORG/ENV/KIND/NAME or resource id")->required();
  job_run_cmd->add_option("--op", job_run.operation, "init, refresh, preview, update, destroy_preview or destroy");
  job_run_cmd->add_flag("--skip-refresh", job_run.skip_refresh, "plan without refreshing state first");
  job_run_cmd->add_flag("--require-approval", job_run.require_approval,
                        "stop after the plan until `plinth job approve` (or reject)");
  job_run_cmd->add_option("--connection", job_run.connection, "connection name (default: the env's, else the org's)");
  job_run_cmd->add_flag("-f,--follow", job_run.follow, "stream the job's output until it ends; exit 1 unless it succeeded");
  job_run_cmd->add_flag("--raw", job_run.raw, "show the engine's JSON lines as they are");
  job_run_cmd->callback(run([&](const Client& c) { return JobRun(c, opts, job_run); }));
  std::string job_id, job_output = "text", job_resource, job_state;
  long long job_after = 0;
  bool job_follow = false, job_raw = false;
  auto* job_get_cmd = job_cmd->add_subcommand("get", "a job's state, steps, changes and outputs");
  job_get_cmd->add_option("job", job_id, "job id")->required();
  job_get_cmd->add_option("-o,--output", job_output, "text or json");
  job_get_cmd->callback(run([&](const Client& c) { return JobGet(c, opts, job_id, job_output); }));
  auto* job_list_cmd = job_cmd->add_subcommand("list", "jobs, newest first");
  job_list_cmd->add_option("--resource", job_resource, "ORG/ENV/KIND/NAME or resource id");
  job_list_cmd->add_option("--state", job_state, "queued, running, succeeded, failed, cancelled, interrupted");
  job_list_cmd->callback(run([&](const Client& c) { return JobList(c, opts, job_resource, job_state); }));
  auto* job_cancel_cmd = job_cmd->add_subcommand("cancel", "cancel a queued or running job");
  job_cancel_cmd->add_option("job", job_id, "job id")->required();
  job_cancel_cmd->callback(run([&](const Client& c) { return JobCancel(c, opts, job_id); }));
  std::string comment;
  auto* job_approve_cmd = job_cmd->add_subcommand("approve", "apply the plan of a job awaiting approval");
  job_approve_cmd->add_option("job", job_id, "job id")->required();
  job_approve_cmd->add_option("-m,--comment", comment, "why, for the job's log");
  job_approve_cmd->callback(run([&](const Client& c) { return JobResolve(c, opts, job_id, true, comment); }));
  auto* job_reject_cmd = job_cmd->add_subcommand("reject", "reject the plan of a job awaiting approval (it ends cancelled)");
  job_reject_cmd->add_option("job", job_id, "job id")->required();
  job_reject_cmd->add_option("-m,--comment", comment, "why, for the job's log");
  job_reject_cmd->callback(run([&](const Client& c) { return JobResolve(c, opts, job_id, false, comment); }));
  auto* job_logs_cmd = job_cmd->add_subcommand("logs", "a job's output");
  job_logs_cmd->add_option("job", job_id, "job id")->required();
  job_logs_cmd->add_flag("-f,--follow", job_follow, "keep streaming until the job ends");
  job_logs_cmd->add_option("--after", job_after, "only events after this sequence number");
  job_logs_cmd->add_flag("--raw", job_raw, "show the engine's JSON lines as they are");
  job_logs_cmd->callback(run([&](const Client& c) { return JobLogs(c, opts, job_id, job_follow, job_after, job_raw); }));

  auto* conn_cmd = app.add_subcommand("connection", "provider credentials for stack jobs");
  conn_cmd->require_subcommand(1);
  ConnectionArgs conn;
  std::string conn_org, conn_provider;
  auto* conn_create = conn_cmd->add_subcommand("create", "store a connection (secrets encrypted, write-only)");
  conn_create->add_option("ref", conn.ref, "ORG/NAME")->required();
  conn_create->add_option("--provider", conn.provider, "aws, gcp, azure, kubernetes, cloudflare, git, pulumi")->required();
  conn_create->add_option("--field", conn.fields, "name=value (region, tenant_id ...); repeatable");
  conn_create->add_option("--secret", conn.secrets, "name=value, or name=- to read stdin; repeatable");
  conn_create->add_option("--secret-file", conn.secret_files, "name=path: the file's content; repeatable");
  conn_create->add_flag("--runner-held", conn.runner_held,
                        "the secrets stay on the runners serving this connection (their runner.yaml); plinthd "
                        "stores only the name, provider and --field values");
  conn_create->callback(run([&](const Client& c) { return ConnectionCreate(c, opts, conn); }));
  auto* conn_get = conn_cmd->add_subcommand("get", "a connection (secret values are never shown)");
  conn_get->add_option("ref", conn.ref, "ORG/NAME")->required();
  conn_get->callback(run([&](const Client& c) { return ConnectionGet(c, opts, conn.ref); }));
  auto* conn_list = conn_cmd->add_subcommand("list", "connections");
  conn_list->add_option("--org", conn_org, "only this org");
  conn_list->add_option("--provider", conn_provider, "only this provider");
  conn_list->callback(run([&](const Client& c) { return ConnectionList(c, opts, conn_org, conn_provider); }));
  auto* conn_delete = conn_cmd->add_subcommand("delete", "delete a connection");
  conn_delete->add_option("ref", conn.ref, "ORG/NAME")->required();
  conn_delete->callback(run([&](const Client& c) { return ConnectionDelete(c, opts, conn.ref); }));
  auto* conn_default = conn_cmd->add_subcommand("set-default", "make a connection the default of its org or an env");
  conn_default->add_option("ref", conn.ref, "ORG/NAME")->required();
  conn_default->add_option("--env", conn.env, "only for this env (default: the whole org)");
  conn_default->callback(run([&](const Client& c) { return ConnectionSetDefault(c, opts, conn); }));

  auto* pool_cmd = app.add_subcommand("runner-pool", "pools of plinth-runner agents: tokens and where they run work");
  pool_cmd->require_subcommand(1);
  RunnerPoolArgs pool;
  auto* pool_create = pool_cmd->add_subcommand("create", "create a pool");
  pool_create->add_option("name", pool.name, "the pool's name")->required();
  pool_create->add_option("--description", pool.description, "what it is for");
  pool_create->callback(run([&](const Client& c) { return RunnerPoolCreate(c, opts, pool); }));
  auto* pool_list = pool_cmd->add_subcommand("list", "pools, their tokens and bindings");
  pool_list->callback(run([&](const Client& c) { return RunnerPoolList(c, opts); }));
  auto* pool_delete = pool_cmd->add_subcommand("delete", "delete a pool (no bindings, every token revoked)");
  pool_delete->add_option("name", pool.name, "the pool")->required();
  pool_delete->callback(run([&](const Client& c) { return RunnerPoolDelete(c, opts, pool); }));
  auto* token_cmd = pool_cmd->add_subcommand("token", "the tokens runners register with");
  token_cmd->require_subcommand(1);
  auto* token_create = token_cmd->add_subcommand("create", "a new token (printed once, on stdout)");
  token_create->add_option("pool", pool.name, "the pool")->required();
  token_create->add_option("--description", pool.description, "which runner or host it is for");
  token_create->callback(run([&](const Client& c) { return PoolTokenCreate(c, opts, pool); }));
  auto* token_revoke = token_cmd->add_subcommand("revoke", "revoke a token (its runners are disconnected)");
  token_revoke->add_option("id", pool.id, "the token's id (rtk-...)")->required();
  token_revoke->callback(run([&](const Client& c) { return PoolTokenRevoke(c, opts, pool); }));
  auto* pool_bind = pool_cmd->add_subcommand("bind", "run the work of an org, an env or labelled resources on a pool");
  pool_bind->add_option("pool", pool.name, "the pool")->required();
  pool_bind->add_option("--org", pool.org, "the org")->required();
  pool_bind->add_option("--env", pool.env, "only this env");
  pool_bind->add_option("--selector", pool.selector, "only resources with these labels (needs --env)");
  pool_bind->callback(run([&](const Client& c) { return RunnerPoolBind(c, opts, pool); }));
  auto* pool_unbind = pool_cmd->add_subcommand("unbind", "remove a binding");
  pool_unbind->add_option("id", pool.id, "the binding's id (rpb-...)")->required();
  pool_unbind->callback(run([&](const Client& c) { return RunnerPoolUnbind(c, opts, pool); }));
  auto* runner_cmd = app.add_subcommand("runner", "plinth-runner agents");
  runner_cmd->require_subcommand(1);
  std::string runner_pool;
  auto* runner_list = runner_cmd->add_subcommand("list", "runners: pool, heartbeat, running work, version");
  runner_list->add_option("--pool", runner_pool, "only this pool");
  runner_list->callback(run([&](const Client& c) { return RunnerList(c, opts, runner_pool); }));
  auto* state_cmd = app.add_subcommand("state", "engine state plinthd keeps (its http backend, Pulumi checkpoints)");
  state_cmd->require_subcommand(1);
  StateArgs state;
  auto* state_list = state_cmd->add_subcommand("list", "resources with state: latest version, serial, lock");
  state_list->add_option("org", state.org, "the org")->required();
  state_list->add_option("--env", state.env, "only this env");
  state_list->callback(run([&](const Client& c) { return StateList(c, opts, state); }));
  auto* state_get = state_cmd->add_subcommand("get", "print a state version (the latest by default) on stdout");
  state_get->add_option("resource", state.resource, "ORG/ENV/KIND/NAME")->required();
  state_get->add_option("--version", state.version, "that version");
  state_get->callback(run([&](const Client& c) { return StateGet(c, opts, state); }));
  auto* state_versions = state_cmd->add_subcommand("versions", "the versions kept, newest first");
  state_versions->add_option("resource", state.resource, "ORG/ENV/KIND/NAME")->required();
  state_versions->callback(run([&](const Client& c) { return StateVersions(c, opts, state); }));
  auto* state_unlock = state_cmd->add_subcommand("unlock", "remove a lock left by a job that cannot release it");
  state_unlock->add_option("resource", state.resource, "ORG/ENV/KIND/NAME")->required();
  state_unlock->add_option("--lock-id", state.lock_id, "only if this is the lock held");
  state_unlock->callback(run([&](const Client& c) { return StateUnlock(c, opts, state); }));

  KubectlArgs kubectl;
  AddKubectlCommands(app, opts, kubectl, rc);
  GrantArgs grant;
  AddGrantCommands(app, opts, grant, rc);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return rc;
}
