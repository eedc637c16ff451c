#include "plinth/api/kind_service.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "plinth/api/paging.h"
#include "plinth/core/status_macros.h"

namespace plinth::api {
namespace {

namespace pb = plinth::v1;

void Summary(const manifest::Kind& k, pb::Kind* out) {
  out->set_api_version(k.api_version);
  out->set_kind(k.kind);
  out->set_provider(k.provider);
  out->set_message_type(std::string(k.message->full_name()));
  out->set_description(k.description);
  out->set_origin(k.origin);
  out->set_in_planton_api(k.in_planton_api);
}

void Fields(const std::vector<manifest::KindField>& fields,
            google::protobuf::RepeatedPtrField<pb::KindField>* out) {
  for (const auto& f : fields) {
    auto* o = out->Add();
    o->set_path(f.path);
    o->set_type(f.type);
    o->set_repeated(f.repeated);
    o->set_description(f.description);
    for (const auto& v : f.enum_values) o->add_enum_values(v);
    o->set_reference(f.reference);
    o->set_reference_kind(f.reference_kind);
    o->set_reference_field_path(f.reference_field_path);
    for (const auto& r : f.rules) o->add_rules(r);
  }
}

// The check is cheap and in memory, so it runs on the reactor thread.
grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* ctx, const CallEnv& env, const char* method,
                                 const std::function<absl::Status()>& fn) {
  auto* reactor = ctx->DefaultReactor();
  const absl::Time start = absl::Now();
  auto actor = env.auth->Authenticate(ctx->client_metadata());
  absl::Status status = actor.ok() ? fn() : actor.status();
  RecordCall(env, method, status.code(), start);
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* KindServiceImpl::ListKinds(grpc::CallbackServerContext* ctx,
                                                     const pb::ListKindsRequest* req,
                                                     pb::ListKindsResponse* resp) {
  return Finish(ctx, env_, "ListKinds", [&]() -> absl::Status {
    PageQuery query("ListKinds", *req);
    PLINTH_ASSIGN_OR_RETURN(std::string cursor, query.Cursor(req->page_token()));
    PLINTH_ASSIGN_OR_RETURN(int size, PageSizeOf(req->page_size(), 100));
    std::string next;
    const std::vector<const manifest::Kind*> kinds = catalog_->List(req->provider());
    auto page = PageOf(
        kinds,
        [](const manifest::Kind* k) { return absl::StrCat(k->provider, "\x1f", k->kind, "\x1f", k->api_version); },
        cursor, size, &next);
    for (const manifest::Kind* const* k : page) Summary(**k, resp->add_kinds());
    resp->set_next_page_token(query.Token(next));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* KindServiceImpl::GetKind(grpc::CallbackServerContext* ctx,
                                                   const pb::GetKindRequest* req, pb::Kind* resp) {
  return Finish(ctx, env_, "GetKind", [&]() -> absl::Status {
    if (req->kind().empty()) return absl::InvalidArgumentError("kind: required");
    const manifest::Kind* kind = nullptr;
    if (!req->api_version().empty()) {
      kind = catalog_->Find(req->api_version(), req->kind());
    } else {
      auto all = catalog_->FindByName(req->kind());
      if (all.size() > 1) {
        std::vector<std::string> versions;
        for (const auto* k : all) versions.push_back(k->api_version);
        return absl::InvalidArgumentError(absl::StrCat(
            "api_version: kind ", req->kind(), " is served as ", absl::StrJoin(versions, " and "),
            "; say which"));
      }
      if (!all.empty()) kind = all[0];
    }
    if (kind == nullptr) {
      std::string hint = catalog_->Suggest(req->kind());
      return absl::NotFoundError(absl::StrCat("kind ", req->kind(), " not found",
                                              hint.empty() ? "" : absl::StrCat(" (did you mean ", hint, "?)")));
    }
    Summary(*kind, resp);
    Fields(kind->spec_fields, resp->mutable_spec_fields());
    Fields(kind->output_fields, resp->mutable_output_fields());
    for (const auto& r : kind->unchecked_rules) {
      auto* o = resp->add_unchecked_rules();
      o->set_path(r.path);
      o->set_id(r.id);
      o->set_expression(r.expression);
    }
    return absl::OkStatus();
  });
}

}  // namespace plinth::api
