#include "runner_commands.h"

#include <iostream>

#include "absl/strings/str_join.h"
#include "output.h"
#include "plinth/v1/runner.grpc.pb.h"

namespace plinth::cli {
namespace {

namespace pb = plinth::v1;

std::string Scope(const pb::RunnerPoolBinding& b) {
  std::string scope = b.org();
  if (!b.env().empty()) scope += "/" + b.env();
  if (!b.label_selector().empty()) scope += " (" + b.label_selector() + ")";
  return scope;
}

}  // namespace

int RunnerPoolCreate(const Client& client, const ClientOptions& opts, const RunnerPoolArgs& args) {
  pb::CreateRunnerPoolRequest req;
  req.set_name(args.name);
  req.set_description(args.description);
  pb::RunnerPool pool;
  auto ctx = client.Context();
  grpc::Status s = pb::RunnerPoolService::NewStub(client.channel())->CreateRunnerPool(ctx.get(), req, &pool);
  if (!s.ok()) return Fail(s, opts.server);
  std::cout << "runner pool " << pool.name() << " created; give its runners a token: plinth runner-pool token create "
            << pool.name() << "\n";
  return 0;
}

int RunnerPoolList(const Client& client, const ClientOptions& opts) {
  auto stub = pb::RunnerPoolService::NewStub(client.channel());
  pb::ListRunnerPoolsRequest req;
  req.set_page_size(1000);
  std::vector<std::vector<std::string>> rows = {{"POOL", "TOKENS", "RUNS THE WORK OF", "DESCRIPTION"}};
  for (;;) {
    pb::ListRunnerPoolsResponse page;
    auto ctx = client.Context();
    grpc::Status s = stub->ListRunnerPools(ctx.get(), req, &page);
    if (!s.ok()) return Fail(s, opts.server);
    for (const auto& p : page.pools()) {
      int active = 0;
      for (const auto& t : p.tokens()) active += !t.has_revoke_time();
      std::vector<std::string> scopes;
      for (const auto& b : p.bindings()) scopes.push_back(Scope(b) + " [" + b.id() + "]");
      if (p.name() == "local" && scopes.empty()) scopes.push_back("whatever no binding sends elsewhere");
      rows.push_back({p.name(), std::to_string(active), absl::StrJoin(scopes, ", "), p.description()});
    }
    if (page.next_page_token().empty()) break;
    req.set_page_token(page.next_page_token());
  }
  PrintTable(std::cout, rows);
  return 0;
}

int RunnerPoolDelete(const Client& client, const ClientOptions& opts, const RunnerPoolArgs& args) {
  pb::DeleteRunnerPoolRequest req;
  req.set_name(args.name);
  pb::DeleteRunnerPoolResponse resp;
  auto ctx = client.Context();
  grpc::Status s = pb::RunnerPoolService::NewStub(client.channel())->DeleteRunnerPool(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  std::cout << "runner pool " << args.name << " deleted\n";
  return 0;
}

int PoolTokenCreate(const Client& client, const ClientOptions& opts, const RunnerPoolArgs& args) {
  pb::CreatePoolTokenRequest req;
  req.set_pool(args.name);
  req.set_description(args.description);
  pb::CreatePoolTokenResponse resp;
  auto ctx = client.Context();
  grpc::Status s = pb::RunnerPoolService::NewStub(client.channel())->CreatePoolToken(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  // The secret alone on stdout (so it can go straight to a file); the rest
  // on stderr.
  std::cerr << "token " << resp.token().id() << " of pool " << resp.token().pool()
            << " created. It is shown this once; plinthd keeps only its hash. Save it for the runner:\n"
            << "  plinth runner-pool token create " << args.name << " > runner.token   (then --token-file runner.token)\n";
  std::cout << resp.secret() << "\n";
  return 0;
}

int PoolTokenRevoke(const Client& client, const ClientOptions& opts, const RunnerPoolArgs& args) {
  pb::RevokePoolTokenRequest req;
  req.set_id(args.id);
  pb::PoolToken token;
  auto ctx = client.Context();
  grpc::Status s = pb::RunnerPoolService::NewStub(client.channel())->RevokePoolToken(ctx.get(), req, &token);
  if (!s.ok()) return Fail(s, opts.server);
  std::cout << "token " << token.id() << " of pool " << token.pool()
            << " revoked; runners connected with it were disconnected\n";
  return 0;
}

int RunnerPoolBind(const Client& client, const ClientOptions& opts, const RunnerPoolArgs& args) {
  pb::BindRunnerPoolRequest req;
  req.set_pool(args.name);
  req.set_org(args.org);
  req.set_env(args.env);
  req.set_label_selector(args.selector);
  pb::RunnerPoolBinding b;
  auto ctx = client.Context();
  grpc::Status s = pb::RunnerPoolService::NewStub(client.channel())->BindRunnerPool(ctx.get(), req, &b);
  if (!s.ok()) return Fail(s, opts.server);
  std::cout << "work of " << Scope(b) << " runs on runner pool " << b.pool() << " (binding " << b.id() << ")\n";
  return 0;
}

int RunnerPoolUnbind(const Client& client, const ClientOptions& opts, const RunnerPoolArgs& args) {
  pb::UnbindRunnerPoolRequest req;
  req.set_id(args.id);
  pb::UnbindRunnerPoolResponse resp;
  auto ctx = client.Context();
  grpc::Status s = pb::RunnerPoolService::NewStub(client.channel())->UnbindRunnerPool(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  std::cout << "binding " << args.id << " removed\n";
  return 0;
}

int RunnerList(const Client& client, const ClientOptions& opts, const std::string& pool) {
  auto stub = pb::RunnerPoolService::NewStub(client.channel());
  pb::ListRunnersRequest req;
  req.set_pool(pool);
  req.set_page_size(1000);
  std::vector<std::vector<std::string>> rows = {
      {"POOL", "RUNNER", "STATE", "LAST HEARTBEAT", "RUNNING", "MAX", "ENGINES", "VERSION", "ADDRESS"}};
  for (;;) {
    pb::ListRunnersResponse page;
    auto ctx = client.Context();
    grpc::Status s = stub->ListRunners(ctx.get(), req, &page);
    if (!s.ok()) return Fail(s, opts.server);
    for (const auto& r : page.runners()) {
      rows.push_back({r.pool(), r.name(), r.connected() ? "connected" : "gone", FormatTime(r.last_heartbeat()),
                      std::to_string(r.running_size()), std::to_string(r.max_jobs()), absl::StrJoin(r.engines(), ","),
                      r.version(), r.address()});
    }
    if (page.next_page_token().empty()) break;
    req.set_page_token(page.next_page_token());
  }
  PrintTable(std::cout, rows);
  return 0;
}

}  // namespace plinth::cli
