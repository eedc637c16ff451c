#include "chart_commands.h"

#include <map>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "output.h"
#include "plinth/chart/chart.h"
#include "plinth/graph/graph.h"
#include "plinth/manifest/names.h"
#include "plinth/manifest/yaml.h"
#include "plinth/v1/infra_chart.grpc.pb.h"

namespace plinth::cli {
namespace {

namespace pb = plinth::v1;

int Usage(const std::string& message) {
  std::cerr << "error: " << message << "\n";
  return 2;
}

int Bad(const absl::Status& s) {
  std::cerr << "error: " << s.message() << "\n";
  return 1;
}

void SplitRef(const std::string& ref, std::string* name, std::string* version) {
  size_t at = ref.find('@');
  *name = ref.substr(0, at);
  *version = at == std::string::npos ? "" : ref.substr(at + 1);
}

std::string DefaultText(const pb::ChartParam& p) {
  if (!p.has_default()) return "(required)";
  google::protobuf::Value v = p.default_value();
  nlohmann::json j = MessageToJson(v);
  return j.is_string() ? j.get<std::string>() : j.dump();
}


int PrintRender(const std::string& output, const nlohmann::json& manifests, const std::string& yaml,
                const nlohmann::json& graph, const std::string& dot) {
  if (output == "json") {
    std::cout << nlohmann::json{{"manifests", manifests}, {"graph", graph}}.dump(2) << "\n";
  } else if (output == "dot") {
    std::cout << dot;
  } else {
    std::cout << yaml;
  }
  return 0;
}

int RenderOffline(const RenderArgs& args) {
  auto files = chart::ReadChartDir(args.source);
  if (!files.ok()) return Bad(files.status());
  auto loaded = chart::LoadChart(std::move(*files));
  if (!loaded.ok()) return Bad(loaded.status());
  auto catalog = manifest::KindCatalog::CreateWithBuiltins();
  if (!catalog.ok()) return Bad(catalog.status());
  for (const auto& set : args.kinds_descriptor_sets) {
    auto added = (*catalog)->LoadDescriptorSetFile(set);
    if (!added.ok()) return Bad(added.status());
  }
  auto values = LoadValues(args.values_files);
  if (!values.ok()) return Bad(values.status());
  for (const auto& s : args.sets) {
    if (auto st = chart::ApplySet(*loaded, s, &*values); !st.ok()) return Bad(st);
  }
  std::string org = args.org.empty() ? "default" : args.org;
  for (auto [field, value] : {std::pair<const char*, const std::string*>{"--env", &args.env}, {"--org", &org}}) {
    if (auto st = manifest::CheckName(field, *value); !st.ok()) return Bad(st);
  }
  auto resolved = chart::ResolveValues(*loaded, *values, org, args.env);
  if (!resolved.ok()) return Bad(resolved.status());
  manifest::ManifestOptions options;
  options.org = org;
  options.env = args.env;
  auto rendered = chart::RenderChart(*loaded, *resolved, **catalog, options);
  if (!rendered.ok()) return Bad(rendered.status());
  auto g = graph::Graph::Build(rendered->manifests);
  if (!g.ok()) return Bad(g.status());
  nlohmann::json manifests = nlohmann::json::array();
  std::string yaml;
  for (size_t i = 0; i < rendered->manifests.size(); ++i) {
    manifests.push_back(rendered->manifests[i].body);
    if (i > 0) yaml += "---\n";
    yaml += manifest::JsonToYaml(rendered->manifests[i].body);
  }
  return PrintRender(args.output, manifests, yaml, g->ToJson(), g->ToDot());
}

}  // namespace

bool ReadAll(const std::string& path, std::string* out) {
  if (path == "-") {
    std::stringstream s;
    s << std::cin.rdbuf();
    *out = s.str();
    return true;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream s;
  s << in.rdbuf();
  *out = s.str();
  return true;
}

// Merges every -f file (later files win) into one values text for the server,
// or one JSON object offline.
absl::StatusOr<nlohmann::json> LoadValues(const std::vector<std::string>& files) {
  nlohmann::json merged = nlohmann::json::object();
  for (const auto& f : files) {
    std::string text;
    if (!ReadAll(f, &text)) return absl::NotFoundError(absl::StrCat(f, ": cannot read"));
    auto values = chart::ParseValuesFile(text, f);
    if (!values.ok()) return values.status();
    for (const auto& [k, v] : values->items()) merged[k] = v;
  }
  return merged;
}


int ChartPush(const Client& client, const ClientOptions& opts, const std::string& dir, const std::string& version) {
  auto files = chart::ReadChartDir(dir);
  if (!files.ok()) return Bad(files.status());
  pb::PushInfraChartRequest req;
  for (const auto& f : *files) {
    auto* out = req.add_files();
    out->set_path(f.path);
    out->set_content(f.content);
  }
  req.set_version(version);
  auto stub = pb::InfraChartService::NewStub(client.channel());
  pb::PushInfraChartResponse resp;
  auto ctx = client.Context();
  grpc::Status status = stub->PushInfraChart(ctx.get(), req, &resp);
  if (!status.ok()) return Fail(status, opts.server);
  std::cout << resp.chart().name() << "@" << resp.chart().version() << (resp.unchanged() ? " unchanged" : " pushed")
            << " (" << resp.chart().params_size() << " params, " << resp.chart().template_count()
            << " templates)\n";
  return 0;
}

int ChartList(const Client& client, const ClientOptions& opts, const std::string& name) {
  auto stub = pb::InfraChartService::NewStub(client.channel());
  std::vector<std::vector<std::string>> rows = {{"NAME", "VERSION", "PUSHED", "BY", "DESCRIPTION"}};
  std::string token;
  do {
    pb::ListInfraChartsRequest req;
    req.set_name(name);
    req.set_page_size(500);
    req.set_page_token(token);
    pb::ListInfraChartsResponse resp;
    auto ctx = client.Context();
    grpc::Status status = stub->ListInfraCharts(ctx.get(), req, &resp);
    if (!status.ok()) return Fail(status, opts.server);
    for (const auto& c : resp.charts()) {
      std::string description = c.description().substr(0, 60) + (c.description().size() > 60 ? "..." : "");
      rows.push_back({c.name(), c.version(), FormatTime(c.create_time()), c.created_by(), description});
    }
    token = resp.next_page_token();
  } while (!token.empty());
  if (rows.size() == 1) {
    std::cerr << "no infra charts found\n";
    return 0;
  }
  PrintTable(std::cout, rows);
  return 0;
}

int ChartShow(const Client& client, const ClientOptions& opts, const std::string& ref) {
  pb::GetInfraChartRequest req;
  std::string name, version;
  SplitRef(ref, &name, &version);
  req.set_name(name);
  req.set_version(version);
  auto stub = pb::InfraChartService::NewStub(client.channel());
  pb::InfraChart resp;
  auto ctx = client.Context();
  grpc::Status status = stub->GetInfraChart(ctx.get(), req, &resp);
  if (!status.ok()) return Fail(status, opts.server);
  std::cout << "NAME:        " << resp.name();
  if (!resp.display_name().empty() && resp.display_name() != resp.name()) {
    std::cout << "\nTITLE:       " << resp.display_name();
  }
  std::cout << "\nVERSION:     " << resp.version()
            << "\nPUSHED:      " << FormatTime(resp.create_time()) << " by " << resp.created_by()
            << "\nTEMPLATES:   " << resp.template_count() << "\n";
  if (!resp.selector().empty()) {
    std::map<std::string, std::string> sorted(resp.selector().begin(), resp.selector().end());
    std::vector<std::string> parts;
    for (const auto& [k, v] : sorted) parts.push_back(k + "=" + v);
    std::cout << "SELECTOR:    " << absl::StrJoin(parts, ", ") << "\n";
  }
  std::cout << "READY:       " << (resp.is_ready() ? "yes" : "no") << "\n";
  if (!resp.icon_url().empty()) std::cout << "ICON:        " << resp.icon_url() << "\n";
  std::map<std::string, std::string> links(resp.web_links().begin(), resp.web_links().end());
  for (const auto& [k, v] : links) std::cout << "LINK:        " << k << " " << v << "\n";
  if (!resp.description().empty()) std::cout << "\n" << resp.description() << "\n";
  std::cout << "\nPARAMS:\n";
  std::vector<std::vector<std::string>> rows = {{"  NAME", "TYPE", "DEFAULT", "DESCRIPTION"}};
  for (const auto& p : resp.params()) {
    std::string type = p.type();
    if (!p.enum_values().empty()) type += " (" + absl::StrJoin(p.enum_values(), "|") + ")";
    if (p.hidden()) type += ", hidden";
    rows.push_back({"  " + p.name(), type, DefaultText(p), p.description()});
  }
  PrintTable(std::cout, rows);
  return 0;
}

int ChartRender(const Client& client, const ClientOptions& opts, const RenderArgs& args) {
  if (args.output != "yaml" && args.output != "json" && args.output != "dot") {
    return Usage("-o: use yaml, json or dot");
  }
  if (args.env.empty()) return Usage("--env is required");
  std::error_code ec;
  if (std::filesystem::is_directory(args.source, ec)) return RenderOffline(args);
  if (args.source.find('/') != std::string::npos) {
    return Usage(absl::StrCat(args.source, ": not a chart directory"));
  }
  if (!args.kinds_descriptor_sets.empty()) {
    return Usage("--kinds-descriptor-set applies to local chart directories only");
  }
  pb::RenderInfraChartRequest req;
  std::string name, version;
  SplitRef(args.source, &name, &version);
  req.mutable_chart()->set_name(name);
  req.mutable_chart()->set_version(version);
  auto values = LoadValues(args.values_files);
  if (!values.ok()) return Bad(values.status());
  req.set_values_yaml(values->dump());  // JSON is YAML
  for (const auto& s : args.sets) req.add_set(s);
  req.set_env(args.env);
  req.set_org(args.org);
  auto stub = pb::InfraChartService::NewStub(client.channel());
  pb::RenderInfraChartResponse resp;
  auto ctx = client.Context();
  grpc::Status status = stub->RenderInfraChart(ctx.get(), req, &resp);
  if (!status.ok()) return Fail(status, opts.server);
  nlohmann::json manifests = nlohmann::json::array();
  for (const auto& m : resp.manifests()) manifests.push_back(ToJson(m));
  return PrintRender(args.output, manifests, resp.manifests_yaml(), MessageToJson(resp.graph(), true), resp.dot());
}

}  // namespace plinth::cli
