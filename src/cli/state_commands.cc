#include "state_commands.h"

#include <iostream>
#include <vector>

#include "output.h"
#include "plinth/v1/state.grpc.pb.h"

namespace plinth::cli {
namespace {

namespace pb = plinth::v1;

std::string Locked(const pb::StateLock& l) {
  if (l.id().empty()) return "-";
  return l.id() + " (" + l.operation() + ", " + l.who() + (l.job_id().empty() ? "" : ", job " + l.job_id()) + ")";
}

}  // namespace

int StateList(const Client& client, const ClientOptions& opts, const StateArgs& args) {
  auto stub = pb::StateService::NewStub(client.channel());
  pb::ListStatesRequest req;
  req.set_org(args.org);
  req.set_env(args.env);
  req.set_page_size(1000);
  std::vector<std::vector<std::string>> rows = {{"RESOURCE", "FORMAT", "VERSION", "SERIAL", "SIZE", "UPDATED", "LOCKED"}};
  for (;;) {
    pb::ListStatesResponse page;
    auto ctx = client.Context();
    grpc::Status s = stub->ListStates(ctx.get(), req, &page);
    if (!s.ok()) return Fail(s, opts.server);
    for (const auto& st : page.states()) {
      rows.push_back({st.resource(), st.format(), std::to_string(st.latest().version()), std::to_string(st.latest().serial()),
                      std::to_string(st.latest().size_bytes()), FormatTime(st.latest().create_time()), Locked(st.lock())});
    }
    if (page.next_page_token().empty()) break;
    req.set_page_token(page.next_page_token());
  }
  PrintTable(std::cout, rows);
  return 0;
}

int StateGet(const Client& client, const ClientOptions& opts, const StateArgs& args) {
  auto stub = pb::StateService::NewStub(client.channel());
  pb::GetStateRequest req;
  req.set_resource(args.resource);
  req.set_version(args.version);
  pb::GetStateResponse resp;
  auto ctx = client.Context();
  grpc::Status s = stub->GetState(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  // The state itself on stdout (it may hold secrets, as `terraform state
  // pull` does); what it is on stderr.
  std::cerr << resp.state().resource() << ": " << resp.state().format() << " state version " << resp.version().version()
            << " (serial " << resp.version().serial() << ", " << resp.version().size_bytes() << " bytes, job "
            << resp.version().job_id() << ")\n";
  std::cout << resp.version().content();
  if (!resp.version().content().empty() && resp.version().content().back() != '\n') std::cout << "\n";
  return 0;
}

int StateVersions(const Client& client, const ClientOptions& opts, const StateArgs& args) {
  auto stub = pb::StateService::NewStub(client.channel());
  pb::ListStateVersionsRequest req;
  req.set_resource(args.resource);
  req.set_page_size(100);
  std::vector<std::vector<std::string>> rows = {{"VERSION", "SERIAL", "LINEAGE", "SIZE", "SHA256", "JOB", "CREATED"}};
  for (;;) {
    pb::ListStateVersionsResponse page;
    auto ctx = client.Context();
    grpc::Status s = stub->ListStateVersions(ctx.get(), req, &page);
    if (!s.ok()) return Fail(s, opts.server);
    for (const auto& v : page.versions()) {
      rows.push_back({std::to_string(v.version()), std::to_string(v.serial()), v.lineage(), std::to_string(v.size_bytes()),
                      v.sha256().substr(0, 12), v.job_id(), FormatTime(v.create_time())});
    }
    if (page.next_page_token().empty()) break;
    req.set_page_token(page.next_page_token());
  }
  PrintTable(std::cout, rows);
  return 0;
}

int StateUnlock(const Client& client, const ClientOptions& opts, const StateArgs& args) {
  auto stub = pb::StateService::NewStub(client.channel());
  pb::UnlockStateRequest req;
  req.set_resource(args.resource);
  req.set_lock_id(args.lock_id);
  pb::StateLock removed;
  auto ctx = client.Context();
  grpc::Status s = stub->UnlockState(ctx.get(), req, &removed);
  if (!s.ok()) return Fail(s, opts.server);
  std::cout << "unlocked " << args.resource << ": removed lock " << Locked(removed) << "\n";
  return 0;
}

}  // namespace plinth::cli
