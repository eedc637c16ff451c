// plinth: the command-line client of plinthd. It speaks gRPC only.
#include <cstdlib>
#include <iostream>

#include "CLI/CLI.hpp"
#include "chart_commands.h"
#include "commands.h"
#include "connection_commands.h"
#include "job_commands.h"

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

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return rc;
}
