#include "connection_commands.h"

#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_join.h"
#include "output.h"
#include "plinth/v1/connection.grpc.pb.h"

namespace plinth::cli {
namespace {

namespace pb = plinth::v1;

int Usage(const std::string& message) {
  std::cerr << "error: " << message << "\n";
  return 2;
}

bool SplitRef(const std::string& ref, std::string* org, std::string* name) {
  size_t slash = ref.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= ref.size()) return false;
  *org = ref.substr(0, slash);
  *name = ref.substr(slash + 1);
  return true;
}

bool SplitKv(const std::string& kv, std::string* k, std::string* v) {
  size_t eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) return false;
  *k = kv.substr(0, eq);
  *v = kv.substr(eq + 1);
  return true;
}

void Print(const pb::Connection& c) {
  std::cout << "CONNECTION:  " << c.org() << "/" << c.name() << " (" << c.id() << ")\nPROVIDER:    " << c.provider() << "\n";
  for (const auto& [k, v] : c.fields()) std::cout << "  " << k << ": " << v << "\n";
  for (const auto& s : c.secret_fields()) std::cout << "  " << s << ": (secret, set)\n";
  if (c.runner_held()) std::cout << "SECRETS:     held by the runners that serve it (runner.yaml), never by plinthd\n";
  if (!c.default_for().empty()) std::cout << "DEFAULT FOR: " << absl::StrJoin(c.default_for(), ", ") << "\n";
}

}  // namespace

int ConnectionCreate(const Client& client, const ClientOptions& opts, const ConnectionArgs& args) {
  pb::CreateConnectionRequest req;
  std::string org, name, k, v;
  if (!SplitRef(args.ref, &org, &name)) return Usage("expected ORG/NAME");
  req.set_org(org);
  req.set_name(name);
  req.set_provider(args.provider);
  req.set_runner_held(args.runner_held);
  for (const auto& f : args.fields) {
    if (!SplitKv(f, &k, &v)) return Usage("--field: expected name=value");
    (*req.mutable_fields())[k] = v;
  }
  for (const auto& s : args.secrets) {
    if (!SplitKv(s, &k, &v)) return Usage("--secret: expected name=value (or name=- to read stdin)");
    if (v == "-") {
      std::stringstream in;
      in << std::cin.rdbuf();
      v = in.str();
      while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
    }
    (*req.mutable_secret_fields())[k] = v;
  }
  for (const auto& s : args.secret_files) {
    if (!SplitKv(s, &k, &v)) return Usage("--secret-file: expected name=path");
    std::ifstream in(v, std::ios::binary);
    if (!in) return Usage(v + ": cannot read");
    std::stringstream content;
    content << in.rdbuf();
    (*req.mutable_secret_fields())[k] = content.str();
  }
  auto stub = pb::ConnectionService::NewStub(client.channel());
  pb::Connection c;
  auto ctx = client.Context();
  grpc::Status s = stub->CreateConnection(ctx.get(), req, &c);
  if (!s.ok()) return Fail(s, opts.server);
  if (c.runner_held()) {
    std::cout << "connection " << c.org() << "/" << c.name() << " created (" << c.provider()
              << ", runner-held: its secrets come from the runner.yaml of the runners that serve it)\n";
  } else {
    std::cout << "connection " << c.org() << "/" << c.name() << " created (" << c.provider() << ", "
              << c.secret_fields_size() << " secret fields stored encrypted)\n";
  }
  return 0;
}

int ConnectionGet(const Client& client, const ClientOptions& opts, const std::string& ref) {
  pb::GetConnectionRequest req;
  std::string org, name;
  if (!SplitRef(ref, &org, &name)) return Usage("expected ORG/NAME");
  req.set_org(org);
  req.set_name(name);
  auto stub = pb::ConnectionService::NewStub(client.channel());
  pb::Connection c;
  auto ctx = client.Context();
  grpc::Status s = stub->GetConnection(ctx.get(), req, &c);
  if (!s.ok()) return Fail(s, opts.server);
  Print(c);
  return 0;
}

int ConnectionList(const Client& client, const ClientOptions& opts, const std::string& org, const std::string& provider) {
  pb::ListConnectionsRequest req;
  req.set_org(org);
  req.set_provider(provider);
  auto stub = pb::ConnectionService::NewStub(client.channel());
  req.set_page_size(1000);
  pb::ListConnectionsResponse resp;
  for (;;) {
    pb::ListConnectionsResponse page;
    auto ctx = client.Context();
    grpc::Status s = stub->ListConnections(ctx.get(), req, &page);
    if (!s.ok()) return Fail(s, opts.server);
    for (auto& c : *page.mutable_connections()) *resp.add_connections() = std::move(c);
    if (page.next_page_token().empty()) break;
    req.set_page_token(page.next_page_token());
  }
  std::vector<std::vector<std::string>> rows = {{"ORG", "NAME", "PROVIDER", "SECRETS", "DEFAULT FOR", "UPDATED", "BY"}};
  for (const auto& c : resp.connections()) {
    rows.push_back({c.org(), c.name(), c.provider(), c.runner_held() ? "runner-held" : "plinthd",
                    absl::StrJoin(c.default_for(), ","), FormatTime(c.update_time()), c.updated_by()});
  }
  PrintTable(std::cout, rows);
  return 0;
}

int ConnectionDelete(const Client& client, const ClientOptions& opts, const std::string& ref) {
  pb::DeleteConnectionRequest req;
  std::string org, name;
  if (!SplitRef(ref, &org, &name)) return Usage("expected ORG/NAME");
  req.set_org(org);
  req.set_name(name);
  auto stub = pb::ConnectionService::NewStub(client.channel());
  pb::DeleteConnectionResponse resp;
  auto ctx = client.Context();
  grpc::Status s = stub->DeleteConnection(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  std::cout << "connection " << ref << " deleted\n";
  return 0;
}

int ConnectionSetDefault(const Client& client, const ClientOptions& opts, const ConnectionArgs& args) {
  std::string org, name;
  if (!SplitRef(args.ref, &org, &name)) return Usage("expected ORG/NAME");
  auto stub = pb::ConnectionService::NewStub(client.channel());
  pb::GetConnectionRequest get;
  get.set_org(org);
  get.set_name(name);
  pb::Connection c;
  auto ctx = client.Context();
  grpc::Status s = stub->GetConnection(ctx.get(), get, &c);
  if (!s.ok()) return Fail(s, opts.server);
  pb::SetDefaultConnectionRequest req;
  req.set_org(org);
  req.set_env(args.env);
  req.set_provider(c.provider());
  req.set_name(name);
  pb::SetDefaultConnectionResponse resp;
  auto ctx2 = client.Context();
  s = stub->SetDefaultConnection(ctx2.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  std::cout << args.ref << " is now the default " << c.provider() << " connection of "
            << (args.env.empty() ? "org " + org : "env " + args.env) << "\n";
  return 0;
}

}  // namespace plinth::cli
