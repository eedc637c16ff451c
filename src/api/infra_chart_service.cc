#include "plinth/api/infra_chart_service.h"

#include <regex>

#include "absl/strings/str_cat.h"
#include "plinth/api/paging.h"
#include "plinth/core/status_macros.h"
#include "plinth/manifest/names.h"
#include "plinth/manifest/yaml.h"

namespace plinth::api {
namespace {

namespace pb = plinth::v1;

absl::Status CheckVersion(const std::string& version) {
  static const std::regex kVersion("[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}");
  if (!std::regex_match(version, kVersion)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "version: \"", version, "\" is not a valid version: up to 64 letters, digits, '.', '+', '_', '-'"));
  }
  return absl::OkStatus();
}

void Summary(const store::InfraChartRecord& r, const chart::Chart* loaded, pb::InfraChart* out) {
  out->set_name(r.name);
  out->set_version(r.version);
  out->set_description(r.description);
  ToTimestamp(r.created_at, out->mutable_create_time());
  out->set_created_by(r.created_by);
  if (loaded != nullptr) {
    out->set_display_name(loaded->display_name);
    for (const auto& [k, v] : loaded->info.selector) (*out->mutable_selector())[k] = v;
    out->set_icon_url(loaded->info.icon_url);
    out->set_is_ready(loaded->info.is_ready);
    for (const auto& [k, v] : loaded->info.web_links) (*out->mutable_web_links())[k] = v;
    for (const auto& p : loaded->params) ToProto(p, out->add_params());
    out->set_readme(loaded->readme);
    out->set_template_count(static_cast<int>(loaded->templates.size()));
  }
}

}  // namespace

absl::StatusOr<chart::Chart> InfraChartServiceImpl::Load(
    const google::protobuf::RepeatedPtrField<pb::ChartFile>& files, const std::string& archive) const {
  if (!files.empty() && !archive.empty()) {
    return absl::InvalidArgumentError("give the chart as files or as an archive, not both");
  }
  if (files.empty() && archive.empty()) return absl::InvalidArgumentError("files: required (or archive)");
  std::vector<chart::ChartFile> list;
  if (!archive.empty()) {
    PLINTH_ASSIGN_OR_RETURN(list, chart::ExtractChartArchive(archive, limits_));
  } else {
    list = FromProto(files);
  }
  return chart::LoadChart(std::move(list), limits_);
}

grpc::ServerUnaryReactor* InfraChartServiceImpl::PushInfraChart(grpc::CallbackServerContext* ctx,
                                                                const pb::PushInfraChartRequest* req,
                                                                pb::PushInfraChartResponse* resp) {
  return RunUnary(ctx, env_, "PushInfraChart", [=, this](const std::string& actor) -> absl::Status {
    // The catalog belongs to no org: changing it takes operator on "*".
    PLINTH_RETURN_IF_ERROR(Require(env_, actor, orchestrator::Role::kOperator, orchestrator::AccessScope::Everything(),
                                   "push a chart"));
    PLINTH_ASSIGN_OR_RETURN(chart::Chart loaded, Load(req->files(), req->archive()));
    std::string version = req->version().empty() ? loaded.version : req->version();
    if (version.empty()) version = chart::ContentVersion(loaded.files);
    PLINTH_RETURN_IF_ERROR(CheckVersion(version));
    store::InfraChartRecord record{loaded.name, version, loaded.description, loaded.files, {}, ""};
    bool unchanged = false;
    PLINTH_ASSIGN_OR_RETURN(auto stored, charts_->Push(std::move(record), actor, &unchanged));
    Summary(stored, &loaded, resp->mutable_chart());
    resp->set_unchanged(unchanged);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* InfraChartServiceImpl::GetInfraChart(grpc::CallbackServerContext* ctx,
                                                               const pb::GetInfraChartRequest* req,
                                                               pb::InfraChart* resp) {
  return RunUnary(ctx, env_, "GetInfraChart", [=, this](const std::string&) -> absl::Status {
    if (req->name().empty()) return absl::InvalidArgumentError("name: required");
    PLINTH_ASSIGN_OR_RETURN(auto record, charts_->Get(req->name(), req->version()));
    PLINTH_ASSIGN_OR_RETURN(chart::Chart loaded, chart::LoadChart(record.files, limits_));
    Summary(record, &loaded, resp);
    if (req->include_files()) {
      for (const auto& f : record.files) {
        auto* out = resp->add_files();
        out->set_path(f.path);
        out->set_content(f.content);
      }
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* InfraChartServiceImpl::ListInfraCharts(grpc::CallbackServerContext* ctx,
                                                                 const pb::ListInfraChartsRequest* req,
                                                                 pb::ListInfraChartsResponse* resp) {
  return RunUnary(ctx, env_, "ListInfraCharts", [=, this](const std::string&) -> absl::Status {
    PageQuery query("ListInfraCharts", *req);
    PLINTH_ASSIGN_OR_RETURN(std::string cursor, query.Cursor(req->page_token()));
    PLINTH_ASSIGN_OR_RETURN(auto page, charts_->List(req->name(), req->page_size(), cursor));
    for (const auto& r : page.items) Summary(r, nullptr, resp->add_charts());
    resp->set_next_page_token(query.Token(page.next_page_token));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* InfraChartServiceImpl::DeleteInfraChart(grpc::CallbackServerContext* ctx,
                                                                  const pb::DeleteInfraChartRequest* req,
                                                                  pb::DeleteInfraChartResponse*) {
  return RunUnary(ctx, env_, "DeleteInfraChart", [=, this](const std::string& actor) -> absl::Status {
    if (req->name().empty()) return absl::InvalidArgumentError("name: required");
    if (req->version().empty()) return absl::InvalidArgumentError("version: required (delete one version at a time)");
    PLINTH_RETURN_IF_ERROR(Require(env_, actor, orchestrator::Role::kOperator, orchestrator::AccessScope::Everything(),
                                   absl::StrCat("delete chart ", req->name(), "@", req->version())));
    // Projects (a later issue) pin chart versions; the check that refuses to
    // delete a version in use lands with them.
    return charts_->Delete(req->name(), req->version(), actor);
  });
}

grpc::ServerUnaryReactor* InfraChartServiceImpl::RenderInfraChart(grpc::CallbackServerContext* ctx,
                                                                  const pb::RenderInfraChartRequest* req,
                                                                  pb::RenderInfraChartResponse* resp) {
  return RunUnary(ctx, env_, "RenderInfraChart", [=, this](const std::string&) -> absl::Status {
    chart::Chart loaded;
    std::string version;
    switch (req->source_case()) {
      case pb::RenderInfraChartRequest::kChart: {
        if (req->chart().name().empty()) return absl::InvalidArgumentError("chart.name: required");
        PLINTH_ASSIGN_OR_RETURN(auto record, charts_->Get(req->chart().name(), req->chart().version()));
        PLINTH_ASSIGN_OR_RETURN(loaded, chart::LoadChart(record.files, limits_));
        version = record.version;
        break;
      }
      case pb::RenderInfraChartRequest::kInline: {
        PLINTH_ASSIGN_OR_RETURN(loaded, Load(req->inline_().files(), req->inline_().archive()));
        version = loaded.version;
        break;
      }
      default:
        return absl::InvalidArgumentError("source: give chart (name, version) or inline files");
    }
    if (req->env().empty()) return absl::InvalidArgumentError("env: required");
    PLINTH_RETURN_IF_ERROR(manifest::CheckName("env", req->env()));
    std::string org = req->org().empty() ? "default" : req->org();
    PLINTH_RETURN_IF_ERROR(manifest::CheckName("org", org));
    PLINTH_ASSIGN_OR_RETURN(nlohmann::json values, chart::ParseValuesFile(req->values_yaml(), "values"));
    for (const auto& s : req->set()) PLINTH_RETURN_IF_ERROR(chart::ApplySet(loaded, s, &values));
    PLINTH_ASSIGN_OR_RETURN(chart::Value resolved, chart::ResolveValues(loaded, values, org, req->env()));
    manifest::ManifestOptions options;
    options.org = org;
    options.env = req->env();
    // A client that gave up (cancelled, or its deadline passed) stops the
    // render instead of leaving it to burn a core.
    chart::ChartLimits limits = limits_;
    limits.interrupt = CallerGaveUp(ctx);
    PLINTH_ASSIGN_OR_RETURN(auto rendered, chart::RenderChart(loaded, resolved, *catalog_, options, limits));
    PLINTH_ASSIGN_OR_RETURN(auto g, graph::Graph::Build(rendered.manifests));
    resp->set_chart_name(loaded.name);
    resp->set_chart_version(version);
    std::string yaml;
    for (size_t i = 0; i < rendered.manifests.size(); ++i) {
      JsonToStruct(rendered.manifests[i].body, resp->add_manifests());
      if (i > 0) yaml += "---\n";
      yaml += manifest::JsonToYaml(rendered.manifests[i].body);
    }
    resp->set_manifests_yaml(yaml);
    ToProto(g, resp->mutable_graph());
    resp->set_dot(g.ToDot());
    for (const auto& p : loaded.params) ToProto(p, resp->add_params());
    return absl::OkStatus();
  });
}

}  // namespace plinth::api
