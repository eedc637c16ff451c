#include "job_commands.h"

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "output.h"
#include "plinth/v1/stack_job.grpc.pb.h"

namespace plinth::cli {
namespace {

// A value as JSON text ("x", 3, {"a": 1}).
std::string ValueText(const google::protobuf::Value& v) {
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(v, &out).ok()) return "?";
  return out;
}

}  // namespace
namespace {

namespace pb = plinth::v1;

int Usage(const std::string& message) {
  std::cerr << "error: " << message << "\n";
  return 2;
}

// Fills a selector from ORG/ENV/KIND/NAME or a resource id.
template <typename Request>
bool SetResource(const std::string& ref, Request* req) {
  std::vector<std::string> parts = absl::StrSplit(ref, '/');
  if (parts.size() == 4) {
    auto* key = req->mutable_key();
    key->set_org(parts[0]);
    key->set_env(parts[1]);
    key->set_kind(parts[2]);
    key->set_name(parts[3]);
    return true;
  }
  if (parts.size() == 1 && ref.rfind("cr-", 0) == 0) {
    req->set_resource_id(ref);
    return true;
  }
  return false;
}

// An engine's JSON UI line shows as its @message; anything else as it is.
std::string Display(const pb::StackJobEvent& e, bool raw) {
  if (raw || e.type() != "stdout" || e.text().empty() || e.text()[0] != '{') return e.text();
  auto j = nlohmann::json::parse(e.text(), nullptr, false);
  if (j.is_object() && j.contains("@message") && j["@message"].is_string()) return j["@message"].get<std::string>();
  return e.text();
}

// Prints events until the job ends (follow) or the stored ones are shown.
// Returns the job's final state ("" if unknown).
int Stream(const Client& client, const ClientOptions& opts, const std::string& id, long long after, bool follow,
           bool raw, std::string* final_state) {
  auto stub = pb::StackJobService::NewStub(client.channel());
  pb::StreamStackJobEventsRequest req;
  req.set_job_id(id);
  req.set_after_seq(after);
  grpc::ClientContext ctx;  // no deadline: a job may run for hours
  if (!opts.token.empty()) ctx.AddMetadata("authorization", "Bearer " + opts.token);
  // Without -f: what is stored now, also of a job that runs or awaits
  // approval (the stream ends after it).
  req.set_stored_only(!follow);
  std::unique_ptr<grpc::ClientReader<pb::StackJobEvent>> reader = stub->StreamStackJobEvents(&ctx, req);
  pb::StackJobEvent e;
  while (reader->Read(&e)) {
    if (e.type() == "event") continue;  // the typed twin of a stdout line
    if (e.type() == "state") {
      *final_state = e.state();
      std::cout << "[" << e.state() << "] " << e.text() << "\n";
    } else if (e.type() == "system") {
      std::cout << "# " << e.text() << "\n";
    } else {
      std::cout << Display(e, raw) << "\n";
    }
  }
  grpc::Status s = reader->Finish();
  if (!s.ok()) return Fail(s, opts.server);
  return 0;
}

}  // namespace

int JobRun(const Client& client, const ClientOptions& opts, const JobRunArgs& args) {
  pb::CreateStackJobRequest req;
  if (!SetResource(args.resource, &req)) return Usage(absl::StrCat("\"", args.resource, "\": expected ORG/ENV/KIND/NAME or a resource id"));
  req.set_operation(args.operation);
  req.set_skip_refresh(args.skip_refresh);
  req.set_require_approval(args.require_approval);
  req.set_connection(args.connection);
  auto stub = pb::StackJobService::NewStub(client.channel());
  pb::StackJob job;
  auto ctx = client.Context();
  grpc::Status s = stub->CreateStackJob(ctx.get(), req, &job);
  if (!s.ok()) return Fail(s, opts.server);
  std::cout << "job " << job.id() << " " << job.state() << ": " << job.operation() << " of " << job.org() << "/"
            << job.env() << "/" << job.kind() << "/" << job.name() << "\n";
  if (!args.follow) return 0;
  std::string state;
  int rc = Stream(client, opts, job.id(), 0, true, args.raw, &state);
  if (rc != 0) return rc;
  return state == "succeeded" ? 0 : 1;
}

int JobGet(const Client& client, const ClientOptions& opts, const std::string& id, const std::string& output) {
  auto stub = pb::StackJobService::NewStub(client.channel());
  pb::GetStackJobRequest req;
  req.set_id(id);
  pb::StackJob job;
  auto ctx = client.Context();
  grpc::Status s = stub->GetStackJob(ctx.get(), req, &job);
  if (!s.ok()) return Fail(s, opts.server);
  if (output == "json") {
    std::cout << MessageToJson(job).dump(2) << "\n";
    return 0;
  }
  std::cout << "JOB:        " << job.id() << "\nRESOURCE:   " << job.org() << "/" << job.env() << "/" << job.kind() << "/"
            << job.name() << "\nOPERATION:  " << job.operation() << "\nSTATE:      " << job.state()
            << "\nENGINE:     " << job.engine() << (job.engine_version().empty() ? "" : " (" + job.engine_version() + ")")
            << "\nRUNS ON:    " << (job.runner().empty() ? std::string("plinthd (pool local)")
                                                      : "runner " + job.runner() + " (pool " + job.runner_pool() + ")")
            << "\nMODULE:     " << job.module_source() << "\nCREATED:    " << FormatTime(job.create_time()) << " by "
            << job.created_by() << "\n";
  if (job.has_summary()) {
    const auto& sm = job.summary();
    std::cout << "CHANGES:    " << sm.add() << " to add, " << sm.change() << " to change, " << sm.remove()
              << " to destroy, " << sm.replace() << " to replace";
    if (sm.import() > 0) std::cout << ", " << sm.import() << " to import";
    if (sm.move() > 0) std::cout << ", " << sm.move() << " to move";
    if (sm.forget() > 0) std::cout << ", " << sm.forget() << " to forget";
    std::cout << "\n";
  }
  if (job.resources_size() > 0) {
    // What a reviewer of the plan reads: each change as OpenTofu shows it.
    std::vector<std::vector<std::string>> rows = {{"  ADDRESS", "ACTION", "STATUS", "NOTE"}};
    for (const auto& r : job.resources()) {
      std::vector<std::string> notes;
      if (r.action() == "replace" && r.actions_size() == 2) {
        notes.push_back(r.actions(0) == "create" ? "create before destroy" : "destroy before create");
      }
      if (!r.action_reason().empty()) notes.push_back(r.action_reason());
      if (!r.previous_address().empty() && r.previous_address() != r.address()) {
        notes.push_back("moved from " + r.previous_address());
      }
      if (!r.deposed().empty()) notes.push_back("deposed object " + r.deposed());
      if (r.importing()) notes.push_back("import");
      rows.push_back({"  " + r.address(), r.action(), r.status(), absl::StrJoin(notes, "; ")});
    }
    std::cout << "\n";
    PrintTable(std::cout, rows);
  }
  if (job.output_changes_size() > 0) {
    std::cout << "\nOUTPUT CHANGES:\n";
    for (const auto& o : job.output_changes()) {
      std::string value = o.sensitive() ? "(sensitive)"
                          : o.known_after_apply() ? "(known after apply)"
                          : o.has_after() ? ValueText(o.after()) : "";
      std::cout << "  " << o.name() << ": " << o.action() << (value.empty() ? "" : " " + value) << "\n";
    }
  }
  if (!job.error().empty()) std::cout << "ERROR:      " << job.error() << "\n";
  if (job.steps_size() > 0) {
    std::vector<std::vector<std::string>> rows = {{"  STEP", "EXIT"}};
    for (const auto& st : job.steps()) rows.push_back({"  " + st.name(), std::to_string(st.exit_code())});
    std::cout << "\n";
    PrintTable(std::cout, rows);
  }
  if (job.outputs().fields_size() > 0) std::cout << "\nOUTPUTS:\n" << ToJson(job.outputs()).dump(2) << "\n";
  return 0;
}

int JobList(const Client& client, const ClientOptions& opts, const std::string& resource, const std::string& state) {
  pb::ListStackJobsRequest req;
  if (!resource.empty() && !SetResource(resource, &req)) return Usage("--resource: expected ORG/ENV/KIND/NAME or a resource id");
  req.set_state(state);
  req.set_page_size(100);
  auto stub = pb::StackJobService::NewStub(client.channel());
  pb::ListStackJobsResponse resp;
  auto ctx = client.Context();
  grpc::Status s = stub->ListStackJobs(ctx.get(), req, &resp);
  if (!s.ok()) return Fail(s, opts.server);
  std::vector<std::vector<std::string>> rows = {{"JOB", "RESOURCE", "OPERATION", "STATE", "CREATED", "BY"}};
  for (const auto& j : resp.jobs()) {
    rows.push_back({j.id(), absl::StrCat(j.org(), "/", j.env(), "/", j.kind(), "/", j.name()), j.operation(), j.state(),
                    FormatTime(j.create_time()), j.created_by()});
  }
  PrintTable(std::cout, rows);
  return 0;
}

int JobCancel(const Client& client, const ClientOptions& opts, const std::string& id) {
  auto stub = pb::StackJobService::NewStub(client.channel());
  pb::CancelStackJobRequest req;
  req.set_id(id);
  pb::StackJob job;
  auto ctx = client.Context();
  grpc::Status s = stub->CancelStackJob(ctx.get(), req, &job);
  if (!s.ok()) return Fail(s, opts.server);
  std::cout << "job " << job.id() << ": cancel requested (" << job.state() << ")\n";
  return 0;
}

int JobResolve(const Client& client, const ClientOptions& opts, const std::string& id, bool approve,
               const std::string& comment) {
  auto stub = pb::StackJobService::NewStub(client.channel());
  pb::ResolveStackJobRequest req;
  req.set_id(id);
  req.set_comment(comment);
  pb::StackJob job;
  auto ctx = client.Context();
  grpc::Status s = approve ? stub->ApproveStackJob(ctx.get(), req, &job) : stub->RejectStackJob(ctx.get(), req, &job);
  if (!s.ok()) return Fail(s, opts.server);
  std::cout << "job " << job.id() << ": " << (approve ? "approved, the plan will be applied" : "rejected") << "\n";
  return 0;
}

int JobLogs(const Client& client, const ClientOptions& opts, const std::string& id, bool follow, long long after, bool raw) {
  std::string state;
  return Stream(client, opts, id, after, follow, raw, &state);
}

}  // namespace plinth::cli
