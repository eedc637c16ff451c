#include "plinth/api/cloud_ops_service.h"

#include <atomic>
#include <deque>
#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "plinth/api/paging.h"
#include "plinth/api/polling_stream.h"
#include "plinth/core/logging.h"
#include "plinth/core/status_macros.h"

namespace plinth::api {
namespace pb = plinth::v1;
using nlohmann::json;

namespace {

constexpr absl::Duration kPoll = absl::Milliseconds(100);

std::string StringAt(const json& obj, std::initializer_list<const char*> path) {
  const json* at = &obj;
  for (const char* key : path) {
    if (!at->is_object() || !at->contains(key)) return "";
    at = &(*at)[key];
  }
  return at->is_string() ? at->get<std::string>() : "";
}

// A spec value as written: a string, or {value: ...}.
std::string Literal(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("value") && v["value"].is_string()) return v["value"].get<std::string>();
  return "";
}

const json& Field(const json& obj, const char* camel, const char* snake) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  if (obj.contains(camel)) return obj[camel];
  if (obj.contains(snake)) return obj[snake];
  return kNull;
}

void SetRoute(const CloudOpsRouteInfo& r, const std::string& runner, pb::CloudOpsRoute* out) {
  if (out == nullptr) return;
  out->set_connection(r.connection);
  out->set_namespace_(r.ns);
  out->set_runner(runner);
  out->set_pool(r.pool);
  out->set_mode(r.developer ? "developer" : "admin");
}

pb::CloudOpsWork WorkFor(const CloudOpsRouteInfo& r, const std::string& operation, const std::string& actor,
                         const Authenticator* auth) {
  pb::CloudOpsWork w;
  w.set_operation(operation);
  w.set_connection(r.connection);
  w.set_runner_held(r.runner_held);
  w.set_kubeconfig(r.kubeconfig);
  w.set_context(r.context);
  w.set_namespace_(r.ns);
  w.set_scoped(r.developer);
  w.set_workload(r.workload);
  w.set_tail_lines(-1);
  w.set_reveal_sensitive(auth != nullptr && auth->Allows(actor, kRevealSensitivePermission));
  return w;
}

// What a refused request is audited as: the target it named.
CloudOpsRouteInfo Named(const pb::CloudOpsTarget& t) {
  CloudOpsRouteInfo r;
  r.developer = !t.resource().empty();
  r.target = r.developer ? t.resource().substr(0, 300)
                         : absl::StrCat(t.org().substr(0, 100), "/", t.connection().substr(0, 100));
  r.connection = t.connection().substr(0, 100);
  r.ns = t.namespace_().substr(0, 100);
  return r;
}

}  // namespace

absl::StatusOr<CloudOpsRouteInfo> CloudOpsServiceImpl::Resolve(const pb::CloudOpsTarget& t, const std::string& actor,
                                                                const std::string& operation) const {
  CloudOpsRouteInfo r;
  const bool needs_namespace = operation != "api-resources";
  if (!t.resource().empty()) {
    r.developer = true;
    std::vector<std::string> parts = absl::StrSplit(t.resource(), '/');
    if (parts.size() != 4 || std::any_of(parts.begin(), parts.end(), [](const std::string& p) { return p.empty(); })) {
      return absl::InvalidArgumentError(absl::StrCat("target.resource: expected ORG/ENV/KIND/NAME, got \"",
                                                     t.resource().substr(0, 200), "\""));
    }
    if (!t.connection().empty()) {
      return absl::PermissionDeniedError(
          "target.connection: developer mode derives the connection from the resource and cannot be given one; use "
          "admin mode (a connection and a namespace, no resource) with a grant on the connection");
    }
    if (!t.org().empty() || !t.env().empty()) {
      return absl::InvalidArgumentError("target.org/env: not with target.resource (it names its org and env)");
    }
    store::CloudResourceKey key{parts[0], parts[1], parts[2], parts[3]};
    // Reads need viewer on the resource; what changes the workload (exec,
    // edit, delete) needs operator. Checked before the lookup, so a refused
    // caller learns nothing about what exists.
    const bool writes = operation == "exec" || operation == "apply" || operation == "delete";
    PLINTH_RETURN_IF_ERROR(Require(env_, actor, writes ? orchestrator::Role::kOperator : orchestrator::Role::kViewer,
                                   orchestrator::AccessScope::Resource(key.org, key.env, key.kind, key.name),
                                   absl::StrCat("run Cloud Ops ", operation, " on ", key.ToString())));
    auto resource = deps_.resources->Get({.key = key});
    if (!resource.ok()) {
      if (resource.status().code() == absl::StatusCode::kNotFound) {
        return absl::NotFoundError(absl::StrCat("target.resource: cloud resource ", key.ToString(), " not found"));
      }
      return resource.status();
    }
    const manifest::Kind* kind = deps_.catalog->Find(resource->api_version, key.kind);
    if (kind == nullptr || kind->provider != "kubernetes") {
      return absl::FailedPreconditionError(absl::StrCat(
          "target.resource: ", key.kind, " has no Kubernetes target (Cloud Ops works on the Kubernetes kinds, such as "
          "KubernetesDeployment, KubernetesPostgres, KubernetesHelmRelease)"));
    }
    r.org = key.org;
    r.env = key.env;
    r.target = key.ToString();
    r.resource_kind = key.kind;
    r.workload = key.name;
    const json& spec = resource->manifest.value("spec", json::object());
    // The namespace: what the deploy reported, else what the spec says.
    r.ns = resource->outputs.is_object() ? StringAt(resource->outputs, {"namespace"}) : "";
    if (r.ns.empty()) r.ns = Literal(Field(spec, "namespace", "namespace"));
    if (r.ns.empty() && key.kind == "KubernetesNamespace") r.ns = Literal(Field(spec, "name", "name"));
    if (r.ns.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "target.resource: ", key.ToString(), " names no namespace yet (no status.outputs.namespace, and "
          "spec.namespace is not a literal): deploy it first"));
    }
    if (!t.namespace_().empty() && t.namespace_() != r.ns) {
      return absl::PermissionDeniedError(absl::StrCat("target.namespace: ", t.namespace_(), " is outside ",
                                                      key.ToString(), "'s scope (its namespace is ", r.ns, ")"));
    }
    // The cluster it runs on: spec.targetCluster, else a runs_on relationship.
    std::string cluster = StringAt(Field(spec, "targetCluster", "target_cluster"), {"clusterName"});
    if (cluster.empty()) cluster = StringAt(Field(spec, "targetCluster", "target_cluster"), {"cluster_name"});
    if (cluster.empty()) {
      const json& rels = resource->manifest.value("metadata", json::object()).value("relationships", json::array());
      for (const auto& rel : rels) {
        if (rel.is_object() && rel.value("type", "") == "runs_on" && rel.value("name", "").size() > 0) {
          cluster = rel.value("name", "");
          break;
        }
      }
    }
    std::optional<store::ConnectionRecord> connection;
    if (!cluster.empty()) {
      auto named = deps_.connections->Get(key.org, cluster);
      if (!named.ok() || named->provider != "kubernetes") {
        return absl::FailedPreconditionError(absl::StrCat(
            "target.resource: ", key.ToString(), " runs on cluster ", cluster, ", and org ", key.org,
            " has no kubernetes connection named ", cluster, " (create one with that cluster's kubeconfig)"));
      }
      auto full = deps_.connections->Resolve(key.org, key.env, "kubernetes", cluster);
      if (!full.ok()) return full.status();
      connection = full->connection;
    } else {
      auto resolved = deps_.connections->Resolve(key.org, key.env, "kubernetes", "");
      if (!resolved.ok()) return resolved.status();
      connection = resolved->connection;
      if (!connection) {
        return absl::FailedPreconditionError(absl::StrCat(
            "target.resource: no cluster for ", key.ToString(), ": it names none (spec.targetCluster, a runs_on "
            "relationship) and ", key.org, "/", key.env, " has no default kubernetes connection"));
      }
    }
    r.connection = absl::StrCat(connection->org, "/", connection->name);
    r.runner_held = connection->runner_held;
    if (!r.runner_held) r.kubeconfig = connection->secrets.count("kubeconfig") ? connection->secrets.at("kubeconfig") : "";
    r.context = connection->fields.count("context") ? connection->fields.at("context") : "";
    std::map<std::string, std::string> labels;
    const json& l = resource->manifest.value("metadata", json::object()).value("labels", json::object());
    for (const auto& [k, v] : l.items()) {
      if (v.is_string()) labels[k] = v.get<std::string>();
    }
    PLINTH_ASSIGN_OR_RETURN(r.pool, deps_.pools->PoolFor(key.org, key.env, labels));
    return r;
  }
  // Admin mode.
  if (t.org().empty()) {
    return absl::InvalidArgumentError("target: name a cloud resource (developer mode) or an org with a connection "
                                      "(admin mode); target.org is empty");
  }
  if (needs_namespace && t.namespace_().empty()) {
    return absl::InvalidArgumentError("target.namespace: required in admin mode");
  }
  // Admin mode: `use` on the connection, or admin of its org.
  if (env_.access != nullptr && !t.connection().empty()) {
    PLINTH_RETURN_IF_ERROR(env_.access->RequireUse(actor, t.org(), t.connection()));
  }
  auto resolved = deps_.connections->Resolve(t.org(), t.env(), "kubernetes", t.connection());
  if (!resolved.ok()) {
    return absl::Status(resolved.status().code(), absl::StrCat("target.connection: ", resolved.status().message()));
  }
  if (!resolved->connection) {
    return absl::FailedPreconditionError(absl::StrCat("target.connection: none given, and ", t.org(),
                                                      t.env().empty() ? "" : "/" + t.env(),
                                                      " has no default kubernetes connection"));
  }
  const store::ConnectionRecord& c = *resolved->connection;
  if (c.provider != "kubernetes") {
    return absl::InvalidArgumentError(absl::StrCat("target.connection: ", c.org, "/", c.name, " is a ", c.provider,
                                                   " connection, not kubernetes"));
  }
  if (env_.access != nullptr) PLINTH_RETURN_IF_ERROR(env_.access->RequireUse(actor, c.org, c.name));
  r.org = t.org();
  r.env = t.env();
  r.connection = absl::StrCat(c.org, "/", c.name);
  r.target = r.connection;
  r.runner_held = c.runner_held;
  if (!r.runner_held) r.kubeconfig = c.secrets.count("kubeconfig") ? c.secrets.at("kubeconfig") : "";
  r.context = c.fields.count("context") ? c.fields.at("context") : "";
  r.ns = t.namespace_();
  PLINTH_ASSIGN_OR_RETURN(r.pool, deps_.pools->PoolFor(t.org(), t.env(), {}));
  return r;
}

void CloudOpsServiceImpl::Audit(const CloudOpsRouteInfo& route, const std::string& actor, const std::string& operation,
                                const std::string& object, const std::string& runner, const absl::Status& outcome) const {
  if (deps_.audit == nullptr) return;
  store::CloudOpsAuditRecord rec;
  rec.actor = actor;
  rec.mode = route.developer ? "developer" : "admin";
  rec.target = route.target;
  rec.connection = route.connection;
  rec.ns = route.ns;
  rec.operation = operation;
  rec.object = object;
  rec.runner = runner;
  rec.code = absl::StatusCodeToString(outcome.code());
  rec.message = std::string(outcome.message());
  absl::Status s = deps_.audit->Record(std::move(rec));
  if (!s.ok()) core::Logger("cloud-ops")->error("audit of {} by {} not recorded: {}", operation, actor, s.message());
}

absl::StatusOr<json> CloudOpsServiceImpl::RunToEnd(grpc::CallbackServerContext* ctx, const pb::CloudOpsTarget& target,
                                                   const std::string& actor, pb::CloudOpsWork work,
                                                   const std::string& object, pb::CloudOpsRoute* route_out) {
  const std::string operation = work.operation();
  auto route = Resolve(target, actor, operation);
  if (!route.ok()) {
    Audit(Named(target), actor, operation, object, "", route.status());
    return route.status();
  }
  pb::CloudOpsWork full = WorkFor(*route, operation, actor, env_.auth);
  full.MergeFrom(work);
  auto call = deps_.hub->StartOps(route->pool, route->runner_held ? route->connection : "", full.SerializeAsString());
  if (!call.ok()) {
    Audit(*route, actor, operation, object, "", call.status());
    return call.status();
  }
  std::optional<orchestrator::OpsEnd> end;
  while (!end) {
    deps_.hub->PollOps(*call, kPoll, &end);
    if (!end && (CallerGaveUp(ctx)().code() != absl::StatusCode::kOk)) {
      deps_.hub->CancelOps(*call);
      end = orchestrator::OpsEnd{CallerGaveUp(ctx)(), ""};
    }
  }
  Audit(*route, actor, operation, object, call->runner_name, end->status);
  SetRoute(*route, call->runner_name, route_out);
  if (!end->status.ok()) return end->status;
  json result = json::parse(end->result_json, nullptr, false);
  if (result.is_discarded()) return absl::InternalError("the runner's answer is not JSON");
  return result;
}

grpc::ServerUnaryReactor* CloudOpsServiceImpl::ListPods(grpc::CallbackServerContext* ctx, const pb::ListPodsRequest* req,
                                                        pb::ListPodsResponse* resp) {
  return RunUnary(ctx, env_, "ListPods", [=, this](const std::string& actor) -> absl::Status {
    PageQuery query("ListPods", *req);
    PLINTH_ASSIGN_OR_RETURN(std::string cursor, query.Cursor(req->page_token()));
    PLINTH_ASSIGN_OR_RETURN(int size, PageSizeOf(req->page_size(), 500));
    pb::CloudOpsWork w;
    w.set_operation("pods");
    PLINTH_ASSIGN_OR_RETURN(json result, RunToEnd(ctx, req->target(), actor, w, "pods", resp->mutable_route()));
    std::vector<json> all(result["pods"].begin(), result["pods"].end());
    std::string next;
    for (const json* item : PageOf(all, [](const json& p) { return p.value("name", ""); }, cursor, size, &next)) {
      const json& p = *item;
      pb::Pod* pod = resp->add_pods();
      pod->set_name(p.value("name", ""));
      pod->set_phase(p.value("phase", ""));
      pod->set_ready(p.value("ready", ""));
      pod->set_restarts(p.value("restarts", 0));
      pod->set_node(p.value("node", ""));
      pod->set_age_seconds(p.value("age_seconds", int64_t{0}));
      for (const auto& c : p.value("containers", json::array())) pod->add_containers(c.get<std::string>());
      pod->set_workload(p.value("workload", ""));
    }
    resp->set_next_page_token(query.Token(next));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CloudOpsServiceImpl::ListApiResources(grpc::CallbackServerContext* ctx,
                                                                const pb::ListApiResourcesRequest* req,
                                                                pb::ListApiResourcesResponse* resp) {
  return RunUnary(ctx, env_, "ListApiResources", [=, this](const std::string& actor) -> absl::Status {
    PageQuery query("ListApiResources", *req);
    PLINTH_ASSIGN_OR_RETURN(std::string cursor, query.Cursor(req->page_token()));
    PLINTH_ASSIGN_OR_RETURN(int size, PageSizeOf(req->page_size(), 1000));
    pb::CloudOpsWork w;
    w.set_operation("api-resources");
    PLINTH_ASSIGN_OR_RETURN(json result, RunToEnd(ctx, req->target(), actor, w, "", resp->mutable_route()));
    std::vector<json> all(result["resources"].begin(), result["resources"].end());
    std::string next;
    auto key = [](const json& r) { return absl::StrCat(r.value("group", ""), "/", r.value("name", "")); };
    for (const json* item : PageOf(all, key, cursor, size, &next)) {
      const json& r = *item;
      pb::ApiResource* a = resp->add_resources();
      a->set_name(r.value("name", ""));
      a->set_kind(r.value("kind", ""));
      a->set_group(r.value("group", ""));
      a->set_version(r.value("version", ""));
      a->set_namespaced(r.value("namespaced", true));
      for (const auto& s : r.value("short_names", json::array())) a->add_short_names(s.get<std::string>());
    }
    resp->set_next_page_token(query.Token(next));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CloudOpsServiceImpl::ListObjects(grpc::CallbackServerContext* ctx,
                                                           const pb::ListObjectsRequest* req,
                                                           pb::ListObjectsResponse* resp) {
  return RunUnary(ctx, env_, "ListObjects", [=, this](const std::string& actor) -> absl::Status {
    if (req->type().empty()) return absl::InvalidArgumentError("type: required (pods, deployments, ...)");
    PageQuery query("ListObjects", *req);
    PLINTH_ASSIGN_OR_RETURN(std::string cursor, query.Cursor(req->page_token()));
    PLINTH_ASSIGN_OR_RETURN(int size, PageSizeOf(req->page_size(), 500));
    pb::CloudOpsWork w;
    w.set_operation("list");
    w.set_type(req->type());
    PLINTH_ASSIGN_OR_RETURN(json result, RunToEnd(ctx, req->target(), actor, w, req->type(), resp->mutable_route()));
    resp->set_kind(result.value("kind", ""));
    std::vector<json> all(result["items"].begin(), result["items"].end());
    std::string next;
    auto key = [](const json& o) { return StringAt(o, {"metadata", "name"}); };
    for (const json* o : PageOf(all, key, cursor, size, &next)) resp->add_objects_json(o->dump());
    resp->set_next_page_token(query.Token(next));
    return absl::OkStatus();
  });
}

namespace {
absl::Status NeedTypeAndName(const std::string& type, const std::string& name) {
  if (type.empty()) return absl::InvalidArgumentError("type: required (pods, deployments, ...)");
  if (name.empty()) return absl::InvalidArgumentError("name: required");
  return absl::OkStatus();
}
}  // namespace

grpc::ServerUnaryReactor* CloudOpsServiceImpl::GetObject(grpc::CallbackServerContext* ctx, const pb::GetObjectRequest* req,
                                                         pb::KubeObject* resp) {
  return RunUnary(ctx, env_, "GetObject", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(NeedTypeAndName(req->type(), req->name()));
    pb::CloudOpsWork w;
    w.set_operation("get");
    w.set_type(req->type());
    w.set_name(req->name());
    PLINTH_ASSIGN_OR_RETURN(json result, RunToEnd(ctx, req->target(), actor, w, absl::StrCat(req->type(), "/", req->name()),
                                                  resp->mutable_route()));
    resp->set_object_json(result["object"].dump());
    resp->set_resource_version(StringAt(result["object"], {"metadata", "resourceVersion"}));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CloudOpsServiceImpl::DescribeObject(grpc::CallbackServerContext* ctx,
                                                              const pb::GetObjectRequest* req,
                                                              pb::DescribeObjectResponse* resp) {
  return RunUnary(ctx, env_, "DescribeObject", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(NeedTypeAndName(req->type(), req->name()));
    pb::CloudOpsWork w;
    w.set_operation("describe");
    w.set_type(req->type());
    w.set_name(req->name());
    PLINTH_ASSIGN_OR_RETURN(json result, RunToEnd(ctx, req->target(), actor, w, absl::StrCat(req->type(), "/", req->name()),
                                                  resp->mutable_route()));
    resp->set_object_json(result["object"].dump());
    for (const auto& e : result.value("events", json::array())) {
      pb::KubeEvent* ev = resp->add_events();
      ev->set_type(e.value("type", ""));
      ev->set_reason(e.value("reason", ""));
      ev->set_message(e.value("message", ""));
      ev->set_count(e.value("count", 1));
      ev->set_last_timestamp(e.value("last_timestamp", ""));
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CloudOpsServiceImpl::ApplyObject(grpc::CallbackServerContext* ctx,
                                                           const pb::ApplyObjectRequest* req, pb::KubeObject* resp) {
  return RunUnary(ctx, env_, "ApplyObject", [=, this](const std::string& actor) -> absl::Status {
    json obj = json::parse(req->object_json(), nullptr, false);
    if (!obj.is_object()) return absl::InvalidArgumentError("object_json: not a JSON object");
    pb::CloudOpsWork w;
    w.set_operation("apply");
    w.set_object_json(req->object_json());
    const std::string object = absl::StrCat(obj.value("kind", "?"), "/", StringAt(obj, {"metadata", "name"}));
    PLINTH_ASSIGN_OR_RETURN(json result, RunToEnd(ctx, req->target(), actor, w, object, resp->mutable_route()));
    resp->set_object_json(result["object"].dump());
    resp->set_resource_version(StringAt(result["object"], {"metadata", "resourceVersion"}));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CloudOpsServiceImpl::DeleteObject(grpc::CallbackServerContext* ctx,
                                                            const pb::DeleteObjectRequest* req,
                                                            pb::DeleteObjectResponse* resp) {
  return RunUnary(ctx, env_, "DeleteObject", [=, this](const std::string& actor) -> absl::Status {
    PLINTH_RETURN_IF_ERROR(NeedTypeAndName(req->type(), req->name()));
    if (!req->confirm()) {
      absl::Status refused = absl::FailedPreconditionError(absl::StrCat(
          "confirm: a delete of ", req->type(), "/", req->name(), " must be confirmed (plinth kubectl delete ... --yes)"));
      Audit(Named(req->target()), actor, "delete", absl::StrCat(req->type(), "/", req->name()), "", refused);
      return refused;
    }
    pb::CloudOpsWork w;
    w.set_operation("delete");
    w.set_type(req->type());
    w.set_name(req->name());
    PLINTH_ASSIGN_OR_RETURN(json result, RunToEnd(ctx, req->target(), actor, w, absl::StrCat(req->type(), "/", req->name()),
                                                  resp->mutable_route()));
    resp->set_deleted(result.value("deleted", ""));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CloudOpsServiceImpl::GetNamespaceGraph(grpc::CallbackServerContext* ctx,
                                                                 const pb::GetNamespaceGraphRequest* req,
                                                                 pb::NamespaceGraph* resp) {
  return RunUnary(ctx, env_, "GetNamespaceGraph", [=, this](const std::string& actor) -> absl::Status {
    pb::CloudOpsWork w;
    w.set_operation("graph");
    PLINTH_ASSIGN_OR_RETURN(json result, RunToEnd(ctx, req->target(), actor, w, "", resp->mutable_route()));
    resp->set_dot(result.value("dot", ""));
    result.erase("dot");
    resp->set_graph_json(result.dump());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* CloudOpsServiceImpl::ListCloudOpsAudit(grpc::CallbackServerContext* ctx,
                                                                 const pb::ListCloudOpsAuditRequest* req,
                                                                 pb::ListCloudOpsAuditResponse* resp) {
  return RunUnary(ctx, env_, "ListCloudOpsAudit", [=, this](const std::string& actor) -> absl::Status {
    PageQuery query("ListCloudOpsAudit", *req);
    PLINTH_ASSIGN_OR_RETURN(std::string cursor, query.Cursor(req->page_token()));
    PLINTH_ASSIGN_OR_RETURN(int size, PageSizeOf(req->page_size(), 100));
    int64_t before = 0;
    if (!cursor.empty() && (!absl::SimpleAtoi(cursor, &before) || before <= 0)) {
      return absl::InvalidArgumentError("page_token: not one this call gave");
    }
    // The caller's own entries, and those of the orgs it administers.
    auto visible = [&](const store::CloudOpsAuditRecord& e) {
      if (e.actor == actor) return true;
      const std::string org = e.target.substr(0, e.target.find('/'));
      return Allowed(env_, actor, orchestrator::Role::kAdmin, orchestrator::AccessScope::Org(org));
    };
    PLINTH_ASSIGN_OR_RETURN(auto entries, deps_.audit->List(size + 1, before));
    if (env_.access != nullptr && !env_.access->Unscoped(actor)) {
      // Filtering may leave a page short: read on until it is full or the
      // log is exhausted.
      std::vector<store::CloudOpsAuditRecord> kept;
      while (true) {
        for (auto& e : entries) {
          if (visible(e)) kept.push_back(std::move(e));
        }
        if (static_cast<int>(kept.size()) > size || static_cast<int>(entries.size()) <= size) break;
        PLINTH_ASSIGN_OR_RETURN(entries, deps_.audit->List(size + 1, entries.back().id));
      }
      entries = std::move(kept);
    }
    for (size_t i = 0; i < entries.size() && static_cast<int>(i) < size; ++i) {
      const auto& e = entries[i];
      pb::CloudOpsAuditEntry* out = resp->add_entries();
      out->set_id(e.id);
      ToTimestamp(e.time, out->mutable_time());
      out->set_actor(e.actor);
      out->set_mode(e.mode);
      out->set_target(e.target);
      out->set_connection(e.connection);
      out->set_namespace_(e.ns);
      out->set_operation(e.operation);
      out->set_object(e.object);
      out->set_runner(e.runner);
      out->set_code(e.code);
      out->set_message(e.message);
    }
    if (static_cast<int>(entries.size()) > size) resp->set_next_page_token(query.Token(absl::StrCat(entries[size - 1].id)));
    return absl::OkStatus();
  });
}

// ---- Logs --------------------------------------------------------------------

namespace {

// What a log or exec stream holds of its operation; cancels it on the
// runner when the stream is gone, however it ended.
class OpsHandle {
 public:
  OpsHandle(orchestrator::RunnerHub* hub, orchestrator::OpsCall call) : hub_(hub), call_(std::move(call)) {}
  ~OpsHandle() {
    if (!ended_) hub_->CancelOps(call_);
  }
  const orchestrator::OpsCall& call() const { return call_; }
  void ended() { ended_ = true; }

 private:
  orchestrator::RunnerHub* hub_;
  orchestrator::OpsCall call_;
  bool ended_ = false;
};

}  // namespace

grpc::ServerWriteReactor<pb::LogChunk>* CloudOpsServiceImpl::StreamLogs(grpc::CallbackServerContext* ctx,
                                                                        const pb::StreamLogsRequest* req) {
  auto actor = env_.auth->Authenticate(ctx->client_metadata());
  if (!actor.ok()) return new FailedStream<pb::LogChunk>(ToGrpcStatus(actor.status()));
  struct State {
    std::unique_ptr<OpsHandle> handle;
    CloudOpsRouteInfo route;
    bool started = false;
  };
  auto state = std::make_shared<State>();
  pb::StreamLogsRequest request = *req;
  using Batch = PollingStream<pb::LogChunk>::Batch;
  auto poll = [this, state, request, actor = *actor]() -> absl::StatusOr<Batch> {
    Batch batch;
    if (!state->started) {
      state->started = true;
      auto route = Resolve(request.target(), actor, "logs");
      if (!route.ok()) {
        Audit(Named(request.target()), actor, "logs", absl::StrJoin(request.pods(), ","), "", route.status());
        return route.status();
      }
      state->route = *route;
      pb::CloudOpsWork w = WorkFor(*route, "logs", actor, env_.auth);
      w.mutable_pods()->CopyFrom(request.pods());
      w.set_container(request.container());
      w.set_follow(request.follow());
      w.set_tail_lines(request.tail_lines_set() ? request.tail_lines() : -1);
      w.set_since_seconds(request.since_seconds());
      w.set_since_time(request.since_time());
      w.set_filter(request.filter());
      auto call = deps_.hub->StartOps(route->pool, route->runner_held ? route->connection : "", w.SerializeAsString());
      const std::string object = request.pods().empty() ? "pods of " + route->workload : absl::StrJoin(request.pods(), ",");
      if (!call.ok()) {
        Audit(*route, actor, "logs", object, "", call.status());
        return call.status();
      }
      // Audited when it starts: a followed stream may last for days.
      Audit(*route, actor, "logs", object, call->runner_name, absl::OkStatus());
      state->handle = std::make_unique<OpsHandle>(deps_.hub, *call);
    }
    std::optional<orchestrator::OpsEnd> end;
    std::vector<orchestrator::WorkReport> reports = deps_.hub->PollOps(state->handle->call(), absl::ZeroDuration(), &end);
    std::string data;
    for (auto& r : reports) {
      if (r.stream != engine::JobListener::Stream::kStdout) continue;
      if (data.size() + r.text.size() > (1u << 20) && !data.empty()) {
        batch.messages.emplace_back().set_data(std::move(data));
        data.clear();
      }
      data += r.text;
    }
    if (!data.empty()) batch.messages.emplace_back().set_data(std::move(data));
    if (end) {
      state->handle->ended();
      if (!end->status.ok()) return end->status;
      batch.over = true;
    }
    return batch;
  };
  return new PollingStream<pb::LogChunk>(env_.workers, &timer_, std::move(poll), absl::Milliseconds(20));
}

// ---- Exec --------------------------------------------------------------------

namespace {

// One exec: the first message (start) is resolved on a worker and offered
// to a runner; later messages go to the runner as input; the runner's
// output is polled (on workers, every few ms) and written in order; the
// last response has the exit code. Workers hold the Core, never the
// reactor: it is gone after OnDone (core->self null).
class ExecReactor final : public grpc::ServerBidiReactor<pb::ExecRequest, pb::ExecResponse> {
 public:
  ExecReactor(CloudOpsServiceImpl* service, std::string actor) : core_(std::make_shared<Core>()) {
    core_->self = this;
    core_->service = service;
    core_->actor = std::move(actor);
    StartRead(&core_->in);
  }

  void OnReadDone(bool ok) override {
    std::lock_guard<std::mutex> lock(core_->mu);
    Core& c = *core_;
    if (!ok) {
      // The client half-closed: its stdin ends; the command goes on.
      c.reading_done = true;
      if (c.handle) SendInput(c, Input(true));
      return;
    }
    if (!c.started) {
      if (!c.in.has_start()) {
        return Finish(c, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the first message must be start"));
      }
      c.started = true;
      pb::ExecStart start = c.in.start();
      std::shared_ptr<Core> core = core_;
      c.service->env().workers->Submit([core, start] { Start(core, start); });
    } else if (c.in.has_start()) {
      return Finish(c, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "start: sent twice"));
    } else if (c.handle) {
      SendInput(c, InputOf(c.in));
    } else {
      c.early.push_back(InputOf(c.in));  // before the runner took it: sent once it did
    }
    StartRead(&c.in);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(core_->mu);
    core_->writing = false;
    if (!ok) return Finish(*core_, grpc::Status::CANCELLED);
    WriteNext(*core_);
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(core_->mu);
    Finish(*core_, grpc::Status::CANCELLED);
  }

  void OnDone() override {
    std::unique_ptr<OpsHandle> handle;
    {
      std::lock_guard<std::mutex> lock(core_->mu);
      core_->self = nullptr;
      handle = std::move(core_->handle);  // cancels it on the runner if it still runs
    }
    delete this;
  }

 private:
  struct Core {
    std::mutex mu;
    ExecReactor* self = nullptr;
    CloudOpsServiceImpl* service = nullptr;
    std::string actor;
    pb::ExecRequest in;
    pb::ExecResponse current;
    std::deque<pb::ExecResponse> queue;
    std::vector<pb::WorkInput> early;
    std::unique_ptr<OpsHandle> handle;
    CloudOpsRouteInfo route;
    std::string object;
    grpc::Status end_status;
    bool started = false, reading_done = false, writing = false, finished = false, ended = false;
  };

  static pb::WorkInput Input(bool close) {
    pb::WorkInput input;
    input.set_close_stdin(close);
    return input;
  }

  static pb::WorkInput InputOf(const pb::ExecRequest& m) {
    pb::WorkInput input;
    if (m.has_stdin()) input.set_stdin(m.stdin());
    if (m.has_close_stdin()) input.set_close_stdin(m.close_stdin());
    if (m.has_resize()) {
      input.set_width(m.resize().width());
      input.set_height(m.resize().height());
    }
    return input;
  }

  static void SendInput(Core& c, const pb::WorkInput& input) {
    c.service->deps().hub->OpsInput(c.handle->call(), input.SerializeAsString());
  }

  static void Start(const std::shared_ptr<Core>& core, const pb::ExecStart& start) {
    CloudOpsServiceImpl* service = core->service;
    auto route = service->Resolve(start.target(), core->actor, "exec");
    std::lock_guard<std::mutex> lock(core->mu);
    Core& c = *core;
    if (c.self == nullptr || c.finished) return;
    if (!route.ok()) {
      service->Audit(Named(start.target()), c.actor, "exec", start.pod(), "", route.status());
      return Finish(c, ToGrpcStatus(route.status()));
    }
    if (start.pod().empty() && !route->developer) {
      return Finish(c, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "pod: required in admin mode"));
    }
    if (start.command().empty()) return Finish(c, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "command: required"));
    c.route = *route;
    pb::CloudOpsWork w = WorkFor(*route, "exec", c.actor, service->env().auth);
    if (!start.pod().empty()) w.add_pods(start.pod());
    w.set_container(start.container());
    w.mutable_command()->CopyFrom(start.command());
    w.set_tty(start.tty());
    w.set_stdin(start.stdin());
    w.set_width(start.size().width());
    w.set_height(start.size().height());
    // Only the command's first word: its arguments may carry a secret.
    c.object = absl::StrCat(start.pod().empty() ? "a pod of " + route->workload : start.pod(), ": ", start.command(0));
    auto call = service->deps().hub->StartOps(route->pool, route->runner_held ? route->connection : "",
                                              w.SerializeAsString());
    if (!call.ok()) {
      service->Audit(*route, c.actor, "exec", c.object, "", call.status());
      return Finish(c, ToGrpcStatus(call.status()));
    }
    c.handle = std::make_unique<OpsHandle>(service->deps().hub, *call);
    for (const auto& input : c.early) SendInput(c, input);
    c.early.clear();
    if (c.reading_done) SendInput(c, Input(true));
    Schedule(core, absl::ZeroDuration());
  }

  static void Schedule(const std::shared_ptr<Core>& core, absl::Duration delay) {
    core::ThreadPool* workers = core->service->env().workers;
    auto run = [core, workers] { workers->Submit([core] { Poll(core); }); };
    if (delay == absl::ZeroDuration()) {
      run();
    } else {
      core->service->timer()->After(delay, run);
    }
  }

  static void Poll(const std::shared_ptr<Core>& core) {
    std::unique_lock<std::mutex> lock(core->mu);
    Core& c = *core;
    if (c.self == nullptr || c.finished || c.handle == nullptr) return;
    orchestrator::OpsCall call = c.handle->call();
    lock.unlock();
    std::optional<orchestrator::OpsEnd> end;
    std::vector<orchestrator::WorkReport> reports = c.service->deps().hub->PollOps(call, absl::ZeroDuration(), &end);
    lock.lock();
    if (end && c.handle) c.handle->ended();
    if (end) c.service->Audit(c.route, c.actor, "exec", c.object, call.runner_name, end->status);
    if (c.self == nullptr || c.finished) return;
    for (auto& r : reports) {
      pb::ExecResponse out;
      if (r.stream == engine::JobListener::Stream::kStderr) {
        out.set_stderr(std::move(r.text));
      } else {
        out.set_stdout(std::move(r.text));
      }
      c.queue.push_back(std::move(out));
    }
    if (end) {
      if (!end->status.ok()) {
        c.end_status = ToGrpcStatus(end->status);
      } else {
        json result = json::parse(end->result_json, nullptr, false);
        pb::ExecResponse last;
        last.set_exited(true);
        last.set_exit_code(result.is_object() ? result.value("exit_code", -1) : -1);
        c.queue.push_back(std::move(last));
        c.end_status = grpc::Status::OK;
      }
      c.ended = true;
      WriteNext(c);
      return;
    }
    WriteNext(c);
    Schedule(core, reports.empty() ? absl::Milliseconds(5) : absl::ZeroDuration());
  }

  static void WriteNext(Core& c) {
    if (c.writing || c.finished || c.self == nullptr) return;
    if (c.queue.empty()) {
      if (c.ended) Finish(c, c.end_status);
      return;
    }
    c.writing = true;
    c.current = std::move(c.queue.front());
    c.queue.pop_front();
    c.self->StartWrite(&c.current);
  }

  static void Finish(Core& c, const grpc::Status& status) {
    if (c.finished || c.self == nullptr) return;
    c.finished = true;
    c.self->grpc::ServerBidiReactor<pb::ExecRequest, pb::ExecResponse>::Finish(status);
  }

  std::shared_ptr<Core> core_;
};

}  // namespace

grpc::ServerBidiReactor<pb::ExecRequest, pb::ExecResponse>* CloudOpsServiceImpl::Exec(grpc::CallbackServerContext* ctx) {
  auto actor = env_.auth->Authenticate(ctx->client_metadata());
  if (!actor.ok()) {
    class Refused final : public grpc::ServerBidiReactor<pb::ExecRequest, pb::ExecResponse> {
     public:
      explicit Refused(const grpc::Status& s) { Finish(s); }
      void OnDone() override { delete this; }
    };
    return new Refused(ToGrpcStatus(actor.status()));
  }
  return new ExecReactor(this, *actor);
}

}  // namespace plinth::api
