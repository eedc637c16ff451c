#include "grant_commands.h"

#include <iostream>

#include "output.h"
#include "plinth/v1/grant.grpc.pb.h"

namespace plinth::cli {
namespace {

namespace pb = plinth::v1;

int Create(const Client& client, const ClientOptions& opts, const GrantArgs& a) {
  pb::CreateGrantRequest req;
  req.set_identity(a.identity);
  req.set_role(a.role);
  req.set_scope(a.scope);
  auto stub = pb::GrantService::NewStub(client.channel());
  pb::Grant g;
  auto ctx = client.Context();
  grpc::Status s = stub->CreateGrant(ctx.get(), req, &g);
  if (!s.ok()) return Fail(s, opts.server);
  std::cout << "granted " << g.role() << " on " << g.scope() << " to " << g.identity() << " (" << g.id() << ")\n";
  return 0;
}

void Rows(const google::protobuf::RepeatedPtrField<pb::Grant>& grants, std::vector<std::vector<std::string>>* rows) {
  for (const auto& g : grants) {
    rows->push_back({g.id(), g.identity(), g.role(), g.scope(), FormatTime(g.create_time()), g.created_by()});
  }
}

int List(const Client& client, const ClientOptions& opts, const GrantArgs& a) {
  pb::ListGrantsRequest req;
  req.set_identity(a.identity);
  req.set_page_size(1000);
  auto stub = pb::GrantService::NewStub(client.channel());
  std::vector<std::vector<std::string>> rows = {{"ID", "IDENTITY", "ROLE", "SCOPE", "CREATED", "BY"}};
  for (;;) {
    pb::ListGrantsResponse page;
    auto ctx = client.Context();
    grpc::Status s = stub->ListGrants(ctx.get(), req, &page);
    if (!s.ok()) return Fail(s, opts.server);
    Rows(page.grants(), &rows);
    if (page.next_page_token().empty()) break;
    req.set_page_token(page.next_page_token());
  }
  PrintTable(std::cout, rows);
  return 0;
}

int Delete(const Client& client, const ClientOptions& opts, const GrantArgs& a) {
  pb::DeleteGrantRequest req;
  req.set_id(a.id);
  auto stub = pb::GrantService::NewStub(client.channel());
  pb::DeleteGrantResponse resp;
  auto ctx = client.Context();
  grpc::Status s = stub->DeleteGrant(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  const auto& g = resp.grant();
  std::cout << "revoked " << g.role() << " on " << g.scope() << " from " << g.identity() << " (" << g.id() << ")\n";
  return 0;
}

int WhoAmI(const Client& client, const ClientOptions& opts, const GrantArgs&) {
  auto stub = pb::GrantService::NewStub(client.channel());
  pb::MyAccess me;
  auto ctx = client.Context();
  grpc::Status s = stub->GetMyAccess(ctx.get(), pb::GetMyAccessRequest(), &me);
  if (!s.ok()) return Fail(s, opts.server);
  std::cout << "IDENTITY: " << me.identity() << "\n";
  if (me.unscoped()) {
    std::cout << "ACCESS:   admin of everything (a token file identity not marked scoped, or no token file)\n";
    return 0;
  }
  if (me.grants_size() == 0) {
    std::cout << "ACCESS:   none (no grants: every call but this one is refused)\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {{"ID", "IDENTITY", "ROLE", "SCOPE", "CREATED", "BY"}};
  Rows(me.grants(), &rows);
  PrintTable(std::cout, rows);
  return 0;
}

}  // namespace

void AddGrantCommands(CLI::App& app, const ClientOptions& opts, GrantArgs& a, int& rc) {
  auto* g = app.add_subcommand("grant", "who may do what: viewer, operator, admin on a scope; use of a connection");
  g->require_subcommand(1);
  auto run = [&](int (*fn)(const Client&, const ClientOptions&, const GrantArgs&)) {
    return [&, fn] { rc = fn(Client(opts), opts, a); };
  };
  auto* create = g->add_subcommand("create", "grant a role on a scope (needs admin on that scope)");
  create->add_option("identity", a.identity, "a name of the token file")->required();
  create->add_option("--role", a.role, "viewer, operator, admin, or use (of a connection)")->required();
  create->add_option("--scope", a.scope, "*, ORG, ORG/ENV or ORG/ENV/KIND/NAME; ORG/NAME of a connection for use")
      ->required();
  create->callback(run(Create));
  auto* list = g->add_subcommand("list", "your grants and those on the scopes you administer");
  list->add_option("--identity", a.identity, "only this identity's");
  list->callback(run(List));
  auto* del = g->add_subcommand("delete", "revoke a grant");
  del->add_option("id", a.id, "the grant's id (grant-...)")->required();
  del->callback(run(Delete));
  auto* who = g->add_subcommand("whoami", "who the token is, and what it holds");
  who->callback(run(WhoAmI));
}

}  // namespace plinth::cli
