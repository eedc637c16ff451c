#include "plinth/api/cloud_resource_service.h"

#include "absl/strings/str_cat.h"
#include "plinth/api/paging.h"
#include "plinth/core/status_macros.h"

namespace plinth::api {
namespace {

namespace pb = plinth::v1;

absl::Status Required(const char* field, const std::string& value) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(field, ": required"));
  return absl::OkStatus();
}

template <typename Request>
absl::StatusOr<store::ResourceSelector> SelectorOf(const Request& req) {
  store::ResourceSelector sel;
  switch (req.selector_case()) {
    case Request::kId:
      PLINTH_RETURN_IF_ERROR(Required("id", req.id()));
      sel.id = req.id();
      return sel;
    case Request::kKey:
      PLINTH_RETURN_IF_ERROR(Required("key.org", req.key().org()));
      PLINTH_RETURN_IF_ERROR(Required("key.env", req.key().env()));
      PLINTH_RETURN_IF_ERROR(Required("key.kind", req.key().kind()));
      PLINTH_RETURN_IF_ERROR(Required("key.name", req.key().name()));
      sel.key = {req.key().org(), req.key().env(), req.key().kind(), req.key().name()};
      return sel;
    default:
      return absl::InvalidArgumentError("selector: give id or key (org, env, kind, name)");
  }
}

pb::ApplyCloudResourcesResponse::Action ToProto(store::ApplyAction a) {
  switch (a) {
    case store::ApplyAction::kCreated: return pb::ApplyCloudResourcesResponse::CREATED;
    case store::ApplyAction::kUpdated: return pb::ApplyCloudResourcesResponse::UPDATED;
    case store::ApplyAction::kUnchanged: return pb::ApplyCloudResourcesResponse::UNCHANGED;
  }
  return pb::ApplyCloudResourcesResponse::ACTION_UNSPECIFIED;
}

using orchestrator::AccessScope;
using orchestrator::Role;

AccessScope ScopeOf(const store::CloudResourceKey& k) { return AccessScope::Resource(k.org, k.env, k.kind, k.name); }
AccessScope ScopeOf(const manifest::Manifest& m) { return AccessScope::Resource(m.org, m.env, m.kind, m.name); }

}  // namespace

absl::StatusOr<manifest::Manifest> CloudResourceServiceImpl::ParseOne(const std::string& text,
                                                                      const std::string& org,
                                                                      const std::string& env) const {
  PLINTH_RETURN_IF_ERROR(Required("manifest", text));
  manifest::ManifestOptions options;
  options.org = org;
  options.env = env;
  options.max_manifest_bytes = options_.max_manifest_bytes;
  PLINTH_ASSIGN_OR_RETURN(auto manifests,
                          manifest::ParseManifests({{"manifest", text}}, options, *catalog_));
  if (manifests.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest: expected exactly one manifest, got ", manifests.size(),
        " (use ApplyCloudResources for many)"));
  }
  return std::move(manifests[0]);
}

grpc::ServerUnaryReactor* CloudResourceServiceImpl::ApplyCloudResources(
    grpc::CallbackServerContext* ctx, const pb::ApplyCloudResourcesRequest* req,
    pb::ApplyCloudResourcesResponse* resp) {
  return RunUnary(ctx, env_, "ApplyCloudResources", [=, this](const std::string& actor) -> absl::Status {
    if (req->sources_size() == 0) return absl::InvalidArgumentError("sources: required");
    std::vector<manifest::ManifestSource> sources;
    for (int i = 0; i < req->sources_size(); ++i) {
      const auto& s = req->sources(i);
      sources.push_back({s.name().empty() ? absl::StrCat("sources[", i, "]") : s.name(), s.content()});
    }
    manifest::ManifestOptions options;
    options.org = req->org();
    options.env = req->env();
    options.max_manifest_bytes = options_.max_manifest_bytes;
    PLINTH_ASSIGN_OR_RETURN(auto manifests, manifest::ParseManifests(sources, options, *catalog_));
    if (manifests.empty()) {
      return absl::InvalidArgumentError("sources: no manifest found (every document is empty)");
    }
    for (const auto& m : manifests) {
      PLINTH_RETURN_IF_ERROR(Require(env_, actor, Role::kOperator, ScopeOf(m), absl::StrCat("apply ", m.source)));
    }
    PLINTH_ASSIGN_OR_RETURN(auto outcomes, store_->Apply(manifests, actor, req->dry_run()));
    for (const auto& o : outcomes) {
      auto* result = resp->add_results();
      result->set_action(ToProto(o.action));
      result->set_source(o.source);
      api::ToProto(o.record, result->mutable_resource());
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CloudResourceServiceImpl::CreateCloudResource(
    grpc::CallbackServerContext* ctx, const pb::CreateCloudResourceRequest* req,
    pb::CloudResource* resp) {
  return RunUnary(ctx, env_, "CreateCloudResource", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(auto m, ParseOne(req->manifest(), req->org(), req->env()));
    PLINTH_RETURN_IF_ERROR(Require(env_, actor, Role::kOperator, ScopeOf(m), "create " + m.KindName()));
    PLINTH_ASSIGN_OR_RETURN(auto record, store_->Create(m, actor));
    api::ToProto(record, resp);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CloudResourceServiceImpl::GetCloudResource(
    grpc::CallbackServerContext* ctx, const pb::GetCloudResourceRequest* req,
    pb::CloudResource* resp) {
  return RunUnary(ctx, env_, "GetCloudResource", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(auto sel, SelectorOf(*req));
    if (req->reveal_sensitive_outputs() && !env_.auth->Allows(actor, kRevealSensitivePermission)) {
      return absl::PermissionDeniedError(absl::StrCat("reveal_sensitive_outputs: ", actor, " lacks the ",
                                                      kRevealSensitivePermission, " permission (auth token file)"));
    }
    // Named by key: checked before the lookup, so a refused caller learns
    // nothing of what exists.
    if (sel.id.empty()) {
      PLINTH_RETURN_IF_ERROR(Require(env_, actor, Role::kViewer, ScopeOf(sel.key), "read " + sel.key.ToString()));
    }
    PLINTH_ASSIGN_OR_RETURN(auto record, store_->Get(sel, /*parse_manifest=*/false));
    PLINTH_RETURN_IF_ERROR(Require(env_, actor, Role::kViewer, ScopeOf(record.key), "read " + record.key.ToString()));
    if (req->reveal_sensitive_outputs()) PLINTH_RETURN_IF_ERROR(RevealSensitive(actor, &record));
    api::ToProto(record, resp);
    return absl::OkStatus();
  });
}

absl::Status CloudResourceServiceImpl::RevealSensitive(const std::string& actor, store::CloudResourceRecord* record) const {
  if (options_.jobs == nullptr || options_.secrets == nullptr) {
    return absl::FailedPreconditionError("reveal_sensitive_outputs: this server keeps no sensitive outputs");
  }
  PLINTH_ASSIGN_OR_RETURN(std::string sealed, options_.jobs->SealedOutputs(record->id));
  if (sealed.empty()) return absl::OkStatus();
  PLINTH_ASSIGN_OR_RETURN(std::string plain, options_.secrets->Open(sealed));
  nlohmann::json values = nlohmann::json::parse(plain, nullptr, false);
  if (!values.is_object()) return absl::InternalError("the sealed outputs are not a JSON object");
  if (!record->outputs.is_object()) record->outputs = nlohmann::json::object();
  for (const auto& [name, value] : values.items()) record->outputs[name] = value;
  core::Logger("audit")->info("{} revealed the sensitive outputs of {}", actor, record->key.ToString());
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* CloudResourceServiceImpl::ListCloudResources(
    grpc::CallbackServerContext* ctx, const pb::ListCloudResourcesRequest* req,
    pb::ListCloudResourcesResponse* resp) {
  return RunUnary(ctx, env_, "ListCloudResources", [=, this](const std::string& actor) -> absl::Status {
    PageQuery query("ListCloudResources", *req);
    PLINTH_ASSIGN_OR_RETURN(std::string cursor, query.Cursor(req->page_token()));
    store::ListQuery q;
    q.org = req->org();
    q.env = req->env();
    q.kind = req->kind();
    PLINTH_ASSIGN_OR_RETURN(q.selector, manifest::ParseLabelSelector(req->label_selector()));
    q.page_size = req->page_size();
    q.page_token = cursor;
    PLINTH_ASSIGN_OR_RETURN(auto page, store_->List(q));
    // What the caller may not see is left out (a page may come out short).
    const bool all = Allowed(env_, actor, Role::kViewer,
                             q.org.empty() ? AccessScope::Everything()
                             : q.env.empty() ? AccessScope::Org(q.org)
                                             : AccessScope::Env(q.org, q.env));
    for (const auto& r : page.items) {
      if (all || Allowed(env_, actor, Role::kViewer, ScopeOf(r.key))) api::ToProto(r, resp->add_resources());
    }
    resp->set_next_page_token(query.Token(page.next_page_token));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CloudResourceServiceImpl::UpdateCloudResource(
    grpc::CallbackServerContext* ctx, const pb::UpdateCloudResourceRequest* req,
    pb::CloudResource* resp) {
  return RunUnary(ctx, env_, "UpdateCloudResource", [=, this](const std::string& actor) -> absl::Status {
    if (req->version() <= 0) {
      return absl::InvalidArgumentError(
          "version: required: pass the version you read (optimistic concurrency)");
    }
    PLINTH_ASSIGN_OR_RETURN(auto m, ParseOne(req->manifest(), req->org(), req->env()));
    PLINTH_RETURN_IF_ERROR(Require(env_, actor, Role::kOperator, ScopeOf(m), "update " + m.KindName()));
    PLINTH_ASSIGN_OR_RETURN(auto record, store_->Update(m, req->version(), actor));
    api::ToProto(record, resp);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CloudResourceServiceImpl::DeleteCloudResource(
    grpc::CallbackServerContext* ctx, const pb::DeleteCloudResourceRequest* req,
    pb::DeleteCloudResourceResponse* resp) {
  return RunUnary(ctx, env_, "DeleteCloudResource", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(auto sel, SelectorOf(*req));
    if (req->version() < 0) return absl::InvalidArgumentError("version: must not be negative");
    if (sel.id.empty()) {
      PLINTH_RETURN_IF_ERROR(Require(env_, actor, Role::kOperator, ScopeOf(sel.key), "delete " + sel.key.ToString()));
    }
    {
      PLINTH_ASSIGN_OR_RETURN(auto existing, store_->Get(sel, /*parse_manifest=*/false));
      PLINTH_RETURN_IF_ERROR(
          Require(env_, actor, Role::kOperator, ScopeOf(existing.key), "delete " + existing.key.ToString()));
    }
    PLINTH_ASSIGN_OR_RETURN(auto record, store_->Delete(sel, req->version(), actor));
    api::ToProto(record, resp->mutable_resource());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CloudResourceServiceImpl::ListCloudResourceRevisions(
    grpc::CallbackServerContext* ctx, const pb::ListCloudResourceRevisionsRequest* req,
    pb::ListCloudResourceRevisionsResponse* resp) {
  return RunUnary(ctx, env_, "ListCloudResourceRevisions", [=, this](const std::string& actor) -> absl::Status {
    PageQuery query("ListCloudResourceRevisions", *req);
    PLINTH_ASSIGN_OR_RETURN(std::string cursor, query.Cursor(req->page_token()));
    PLINTH_ASSIGN_OR_RETURN(auto sel, SelectorOf(*req));
    if (sel.id.empty()) {
      PLINTH_RETURN_IF_ERROR(
          Require(env_, actor, Role::kViewer, ScopeOf(sel.key), "read the history of " + sel.key.ToString()));
    }
    PLINTH_ASSIGN_OR_RETURN(auto page,
                            store_->ListRevisions(sel, req->page_size(), cursor));
    if (!page.items.empty()) {
      // The key as the revision recorded it (the resource may be deleted).
      const nlohmann::json& meta = page.items.front().manifest.value("metadata", nlohmann::json::object());
      store::CloudResourceKey key{meta.value("org", ""), meta.value("env", ""),
                                  page.items.front().manifest.value("kind", ""), meta.value("name", "")};
      PLINTH_RETURN_IF_ERROR(Require(env_, actor, Role::kViewer, ScopeOf(key), "read the history of " + key.ToString()));
    }
    for (const auto& r : page.items) {
      auto* out = resp->add_revisions();
      out->set_resource_id(r.resource_id);
      out->set_version(r.version);
      out->set_action(r.action);
      JsonToStruct(r.manifest, out->mutable_manifest());
      out->set_actor(r.actor);
      ToTimestamp(r.created_at, out->mutable_create_time());
    }
    resp->set_next_page_token(query.Token(page.next_page_token));
    return absl::OkStatus();
  });
}

}  // namespace plinth::api
