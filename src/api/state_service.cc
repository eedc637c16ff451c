#include "plinth/api/state_service.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "plinth/api/convert.h"
#include "plinth/api/paging.h"
#include "plinth/core/status_macros.h"
#include "plinth/manifest/names.h"

namespace plinth::api {
namespace {

namespace pb = plinth::v1;
using orchestrator::AccessScope;
using orchestrator::Role;

void ToProto(const store::StateVersionRecord& v, pb::StateVersion* out) {
  out->set_version(v.version);
  out->set_serial(v.serial);
  out->set_lineage(v.lineage);
  out->set_size_bytes(v.size_bytes);
  out->set_sha256(v.sha256);
  ToTimestamp(v.created_at, out->mutable_create_time());
  out->set_job_id(v.job_id);
}

void ToProto(const store::StateLockRecord& l, pb::StateLock* out) {
  out->set_id(l.lock_id);
  out->set_operation(l.info.value("Operation", ""));
  out->set_who(l.info.value("Who", ""));
  out->set_info(l.info.value("Info", ""));
  ToTimestamp(l.created_at, out->mutable_create_time());
  out->set_job_id(l.job_id);
}

}  // namespace

absl::StatusOr<store::CloudResourceRecord> StateServiceImpl::Resolve(const std::string& actor, orchestrator::Role role,
                                                                     const std::string& ref,
                                                                     absl::string_view what) const {
  std::vector<std::string> parts = absl::StrSplit(ref, '/');
  if (parts.size() != 4) {
    return absl::InvalidArgumentError(absl::StrCat("resource: \"", ref, "\" is not ORG/ENV/KIND/NAME"));
  }
  PLINTH_RETURN_IF_ERROR(manifest::CheckName("resource (org)", parts[0]));
  PLINTH_RETURN_IF_ERROR(manifest::CheckName("resource (env)", parts[1]));
  PLINTH_RETURN_IF_ERROR(Require(env_, actor, role, orchestrator::AccessScope::Resource(parts[0], parts[1], parts[2], parts[3]),
                                 absl::StrCat(what, " ", ref)));
  return resources_->Get({.key = {parts[0], parts[1], parts[2], parts[3]}});
}

grpc::ServerUnaryReactor* StateServiceImpl::ListStates(grpc::CallbackServerContext* ctx, const pb::ListStatesRequest* req,
                                                       pb::ListStatesResponse* resp) {
  return RunUnary(ctx, env_, "ListStates", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(manifest::CheckName("org", req->org()));
    if (!req->env().empty()) PLINTH_RETURN_IF_ERROR(manifest::CheckName("env", req->env()));
    PageQuery query("ListStates", *req);
    PLINTH_ASSIGN_OR_RETURN(std::string cursor, query.Cursor(req->page_token()));
    PLINTH_ASSIGN_OR_RETURN(int size, PageSizeOf(req->page_size(), 100));
    PLINTH_ASSIGN_OR_RETURN(auto list, states_->List(req->org(), req->env()));
    // The states of the resources the caller may read.
    if (!Allowed(env_, actor, Role::kViewer, AccessScope::Env(req->org(), req->env()))) {
      std::erase_if(list, [&](const store::ResourceStateRecord& r) {
        return !Allowed(env_, actor, Role::kViewer, AccessScope::Resource(r.key.org, r.key.env, r.key.kind, r.key.name));
      });
    }
    std::string next;
    auto page = PageOf(
        list, [](const store::ResourceStateRecord& r) { return absl::StrCat(r.key.env, "\x1f", r.key.kind, "\x1f", r.key.name); },
        cursor, size, &next);
    for (const auto* r : page) {
      pb::ResourceState* s = resp->add_states();
      s->set_resource(r->key.ToString());
      s->set_resource_id(r->resource_id);
      s->set_format(r->latest.format);
      ToProto(r->latest, s->mutable_latest());
      if (r->lock) ToProto(*r->lock, s->mutable_lock());
      s->set_version_count(r->versions);
    }
    resp->set_next_page_token(query.Token(next));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* StateServiceImpl::GetState(grpc::CallbackServerContext* ctx, const pb::GetStateRequest* req,
                                                     pb::GetStateResponse* resp) {
  return RunUnary(ctx, env_, "GetState", [=, this](const std::string& actor) -> absl::Status {
    if (req->version() < 0) return absl::InvalidArgumentError("version: negative");
    // A state file holds every value of the stack in clear, sensitive ones
    // too: for those who may run its jobs, not for viewers.
    PLINTH_ASSIGN_OR_RETURN(auto resource, Resolve(actor, Role::kOperator, req->resource(), "read the state of"));
    PLINTH_ASSIGN_OR_RETURN(auto version, states_->Get(resource.id, req->version()));
    if (!version) {
      return absl::NotFoundError(req->version() == 0
                                     ? absl::StrCat("plinthd keeps no state for ", req->resource())
                                     : absl::StrCat(req->resource(), " has no state version ", req->version()));
    }
    PLINTH_ASSIGN_OR_RETURN(auto lock, states_->LockOf(resource.id));
    resp->mutable_state()->set_resource(resource.key.ToString());
    resp->mutable_state()->set_resource_id(resource.id);
    resp->mutable_state()->set_format(version->format);
    if (lock) ToProto(*lock, resp->mutable_state()->mutable_lock());
    ToProto(*version, resp->mutable_version());
    resp->mutable_version()->set_content(std::move(version->content));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* StateServiceImpl::ListStateVersions(grpc::CallbackServerContext* ctx,
                                                              const pb::ListStateVersionsRequest* req,
                                                              pb::ListStateVersionsResponse* resp) {
  return RunUnary(ctx, env_, "ListStateVersions", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(auto resource, Resolve(actor, Role::kViewer, req->resource(), "list the state versions of"));
    PLINTH_ASSIGN_OR_RETURN(int size, PageSizeOf(req->page_size(), 50));
    int64_t before = 0;
    if (!req->page_token().empty() && (!absl::SimpleAtoi(req->page_token(), &before) || before <= 0)) {
      return absl::InvalidArgumentError("page_token: not a token of this call");
    }
    PLINTH_ASSIGN_OR_RETURN(auto versions, states_->Versions(resource.id, size + 1, before));
    if (static_cast<int>(versions.size()) > size) {
      versions.resize(size);
      resp->set_next_page_token(absl::StrCat(versions.back().version));
    }
    for (const auto& v : versions) ToProto(v, resp->add_versions());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* StateServiceImpl::UnlockState(grpc::CallbackServerContext* ctx, const pb::UnlockStateRequest* req,
                                                        pb::StateLock* resp) {
  return RunUnary(ctx, env_, "UnlockState", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(auto resource, Resolve(actor, Role::kOperator, req->resource(), "unlock the state of"));
    PLINTH_ASSIGN_OR_RETURN(auto lock, states_->LockOf(resource.id));
    if (!lock) return absl::NotFoundError(absl::StrCat("the state of ", req->resource(), " is not locked"));
    if (!req->lock_id().empty() && req->lock_id() != lock->lock_id) {
      return absl::FailedPreconditionError(absl::StrCat("lock_id: the state of ", req->resource(), " is locked by ",
                                                        lock->lock_id, " (", lock->info.value("Who", "?"), "), not ",
                                                        req->lock_id()));
    }
    PLINTH_ASSIGN_OR_RETURN(auto removed, states_->Unlock(resource.id, "", actor));
    ToProto(removed, resp);
    return absl::OkStatus();
  });
}

}  // namespace plinth::api
