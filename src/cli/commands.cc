#include "commands.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "output.h"
#include "plinth/manifest/yaml.h"
#include "plinth/v1/cloud_resource.grpc.pb.h"
#include "plinth/v1/kind.grpc.pb.h"

namespace plinth::cli {
namespace {

namespace pb = plinth::v1;
namespace fs = std::filesystem;

int Usage(const std::string& message) {
  std::cerr << "error: " << message << "\n";
  return 2;
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream buffer;
  buffer << in.rdbuf();
  *out = buffer.str();
  return true;
}

// ORG/ENV/KIND/NAME, or an id (cr-...).
bool ParseRef(const std::string& ref, pb::CloudResourceKey* key, std::string* id) {
  std::vector<std::string> parts = absl::StrSplit(ref, '/');
  if (parts.size() == 4 && std::none_of(parts.begin(), parts.end(), [](auto& p) { return p.empty(); })) {
    key->set_org(parts[0]);
    key->set_env(parts[1]);
    key->set_kind(parts[2]);
    key->set_name(parts[3]);
    return true;
  }
  if (parts.size() == 1 && ref.rfind("cr-", 0) == 0) {
    *id = ref;
    return true;
  }
  return false;
}

template <typename Request>
bool SetSelector(const std::string& ref, Request* req) {
  pb::CloudResourceKey key;
  std::string id;
  if (!ParseRef(ref, &key, &id)) return false;
  if (!id.empty()) {
    req->set_id(id);
  } else {
    *req->mutable_key() = key;
  }
  return true;
}

std::string ActionName(pb::ApplyCloudResourcesResponse::Action a) {
  switch (a) {
    case pb::ApplyCloudResourcesResponse::CREATED: return "created";
    case pb::ApplyCloudResourcesResponse::UPDATED: return "updated";
    case pb::ApplyCloudResourcesResponse::UNCHANGED: return "unchanged";
    default: return "?";
  }
}

std::string RefOf(const pb::CloudResource& r) {
  return absl::StrCat(r.org(), "/", r.env(), "/", r.kind(), "/", r.name());
}

void PrintManifestYaml(const pb::CloudResource& r) {
  std::cout << manifest::JsonToYaml(ToJson(r.manifest()));
}

}  // namespace

int Apply(const Client& client, const ClientOptions& opts, const ApplyArgs& args) {
  pb::ApplyCloudResourcesRequest req;
  req.set_org(args.org);
  req.set_env(args.env);
  req.set_dry_run(args.dry_run);
  for (const auto& f : args.files) {
    if (f == "-") {
      std::stringstream buffer;
      buffer << std::cin.rdbuf();
      auto* s = req.add_sources();
      s->set_name("<stdin>");
      s->set_content(buffer.str());
      continue;
    }
    std::error_code ec;
    if (fs::is_directory(f, ec)) {
      std::vector<std::string> paths;
      for (const auto& entry : fs::directory_iterator(f, ec)) {
        std::string ext = entry.path().extension().string();
        if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) {
          paths.push_back(entry.path().string());
        }
      }
      std::sort(paths.begin(), paths.end());
      if (paths.empty()) return Usage(absl::StrCat(f, ": no *.yaml, *.yml or *.json files"));
      for (const auto& p : paths) {
        auto* s = req.add_sources();
        s->set_name(p);
        if (!ReadFile(p, s->mutable_content())) return Usage(absl::StrCat(p, ": cannot read"));
      }
      continue;
    }
    auto* s = req.add_sources();
    s->set_name(f);
    if (!ReadFile(f, s->mutable_content())) return Usage(absl::StrCat(f, ": cannot read"));
  }
  if (req.sources_size() == 0) return Usage("apply: give -f FILE, DIR or -");
  auto stub = pb::CloudResourceService::NewStub(client.channel());
  pb::ApplyCloudResourcesResponse resp;
  auto ctx = client.Context();
  grpc::Status status = stub->ApplyCloudResources(ctx.get(), req, &resp);
  if (!status.ok()) return Fail(status, opts.server);
  for (const auto& r : resp.results()) {
    std::cout << RefOf(r.resource()) << " " << ActionName(r.action())
              << " (version " << r.resource().version() << ")"
              << (args.dry_run ? " (dry run)" : "") << "\n";
  }
  return 0;
}

int ListResources(const Client& client, const ClientOptions& opts, const ListArgs& args) {
  if (args.output != "table" && args.output != "yaml" && args.output != "json") {
    return Usage("-o: use table, yaml or json");
  }
  auto stub = pb::CloudResourceService::NewStub(client.channel());
  std::vector<pb::CloudResource> all;
  std::string token;
  do {
    pb::ListCloudResourcesRequest req;
    req.set_org(args.org);
    req.set_env(args.env);
    req.set_kind(args.kind);
    req.set_label_selector(args.selector);
    req.set_page_size(500);
    req.set_page_token(token);
    pb::ListCloudResourcesResponse resp;
    auto ctx = client.Context();
    grpc::Status status = stub->ListCloudResources(ctx.get(), req, &resp);
    if (!status.ok()) return Fail(status, opts.server);
    for (auto& r : *resp.mutable_resources()) all.push_back(std::move(r));
    token = resp.next_page_token();
  } while (!token.empty());

  if (args.output == "json") {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& r : all) items.push_back(MessageToJson(r));
    std::cout << nlohmann::json{{"items", items}}.dump(2) << "\n";
  } else if (args.output == "yaml") {
    for (size_t i = 0; i < all.size(); ++i) {
      if (i > 0) std::cout << "---\n";
      PrintManifestYaml(all[i]);
    }
  } else {
    if (all.empty()) {
      std::cerr << "no cloud resources found\n";
      return 0;
    }
    std::vector<std::vector<std::string>> rows = {
        {"ORG", "ENV", "KIND", "NAME", "VERSION", "UPDATED", "BY", "ID"}};
    for (const auto& r : all) {
      rows.push_back({r.org(), r.env(), r.kind(), r.name(), std::to_string(r.version()),
                      FormatTime(r.update_time()), r.updated_by(), r.id()});
    }
    PrintTable(std::cout, rows);
  }
  return 0;
}

int GetResource(const Client& client, const ClientOptions& opts, const std::string& ref,
                const std::string& output, bool show_sensitive) {
  if (output != "yaml" && output != "json") return Usage("-o: use yaml or json");
  pb::GetCloudResourceRequest req;
  req.set_reveal_sensitive_outputs(show_sensitive);
  if (!SetSelector(ref, &req)) return Usage(absl::StrCat("\"", ref, "\": expected ORG/ENV/KIND/NAME or an id"));
  auto stub = pb::CloudResourceService::NewStub(client.channel());
  pb::CloudResource resp;
  auto ctx = client.Context();
  grpc::Status status = stub->GetCloudResource(ctx.get(), req, &resp);
  if (!status.ok()) return Fail(status, opts.server);
  if (output == "json") {
    std::cout << MessageToJson(resp).dump(2) << "\n";
  } else {
    PrintManifestYaml(resp);
  }
  return 0;
}

int DeleteResource(const Client& client, const ClientOptions& opts, const std::string& ref,
                   long long version) {
  pb::DeleteCloudResourceRequest req;
  if (!SetSelector(ref, &req)) return Usage(absl::StrCat("\"", ref, "\": expected ORG/ENV/KIND/NAME or an id"));
  req.set_version(version);
  auto stub = pb::CloudResourceService::NewStub(client.channel());
  pb::DeleteCloudResourceResponse resp;
  auto ctx = client.Context();
  grpc::Status status = stub->DeleteCloudResource(ctx.get(), req, &resp);
  if (!status.ok()) return Fail(status, opts.server);
  std::cout << RefOf(resp.resource()) << " deleted (the record only; no infrastructure was touched)\n";
  return 0;
}

int History(const Client& client, const ClientOptions& opts, const std::string& ref,
            const std::string& output) {
  if (output != "table" && output != "json") return Usage("-o: use table or json");
  pb::ListCloudResourceRevisionsRequest req;
  if (!SetSelector(ref, &req)) return Usage(absl::StrCat("\"", ref, "\": expected ORG/ENV/KIND/NAME or an id"));
  auto stub = pb::CloudResourceService::NewStub(client.channel());
  std::vector<pb::CloudResourceRevision> all;
  std::string token;
  do {
    req.set_page_size(500);
    req.set_page_token(token);
    pb::ListCloudResourceRevisionsResponse resp;
    auto ctx = client.Context();
    grpc::Status status = stub->ListCloudResourceRevisions(ctx.get(), req, &resp);
    if (!status.ok()) return Fail(status, opts.server);
    for (auto& r : *resp.mutable_revisions()) all.push_back(std::move(r));
    token = resp.next_page_token();
  } while (!token.empty());
  if (output == "json") {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& r : all) items.push_back(MessageToJson(r));
    std::cout << nlohmann::json{{"revisions", items}}.dump(2) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {{"VERSION", "ACTION", "TIME", "ACTOR"}};
  for (const auto& r : all) {
    rows.push_back({std::to_string(r.version()), r.action(), FormatTime(r.create_time()), r.actor()});
  }
  PrintTable(std::cout, rows);
  return 0;
}

int Kinds(const Client& client, const ClientOptions& opts, const std::string& provider,
          const std::string& output) {
  if (output != "table" && output != "json") return Usage("-o: use table or json");
  auto stub = pb::KindService::NewStub(client.channel());
  pb::ListKindsRequest req;
  req.set_provider(provider);
  req.set_page_size(1000);
  pb::ListKindsResponse resp;
  // Every page, into one response (catalogs loaded from descriptor sets
  // can exceed a page).
  for (;;) {
    pb::ListKindsResponse page;
    auto ctx = client.Context();
    grpc::Status status = stub->ListKinds(ctx.get(), req, &page);
    if (!status.ok()) return Fail(status, opts.server);
    for (auto& k : *page.mutable_kinds()) *resp.add_kinds() = std::move(k);
    if (page.next_page_token().empty()) break;
    req.set_page_token(page.next_page_token());
  }
  if (output == "json") {
    std::cout << MessageToJson(resp).dump(2) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {{"PROVIDER", "KIND", "API VERSION", "DESCRIPTION"}};
  for (const auto& k : resp.kinds()) {
    rows.push_back({k.provider(), k.kind(), k.api_version(), k.description()});
  }
  PrintTable(std::cout, rows);
  return 0;
}

int Explain(const Client& client, const ClientOptions& opts, const std::string& kind,
            const std::string& api_version, const std::string& output) {
  if (output != "text" && output != "json") return Usage("-o: use text or json");
  auto stub = pb::KindService::NewStub(client.channel());
  pb::GetKindRequest req;
  req.set_kind(kind);
  req.set_api_version(api_version);
  pb::Kind resp;
  auto ctx = client.Context();
  grpc::Status status = stub->GetKind(ctx.get(), req, &resp);
  if (!status.ok()) return Fail(status, opts.server);
  if (output == "json") {
    std::cout << MessageToJson(resp).dump(2) << "\n";
    return 0;
  }
  std::cout << "KIND:        " << resp.kind() << "\n"
            << "API VERSION: " << resp.api_version() << "\n"
            << "PROVIDER:    " << resp.provider() << "\n";
  if (!resp.in_planton_api()) {
    std::cout << "NOTE:        not a kind of Planton's public API (plinth's own, or from "
              << resp.origin() << ")\n";
  }
  if (!resp.description().empty()) std::cout << "\n" << resp.description() << "\n";
  auto print = [](const char* title, const auto& fields, bool with_rules) {
    std::cout << "\n" << title << ":\n";
    std::vector<std::vector<std::string>> rows = {{"  FIELD", "TYPE", with_rules ? "RULES" : "", "DESCRIPTION"}};
    for (const auto& f : fields) {
      std::string type = f.type();
      if (f.repeated()) type = "[]" + type;
      if (!f.reference_kind().empty()) {
        type += " (" + f.reference_kind();
        if (!f.reference_field_path().empty()) type += " " + f.reference_field_path();
        type += ")";
      }
      std::string rules;
      for (const auto& r : f.rules()) rules += (rules.empty() ? "" : "; ") + r;
      rows.push_back({"  " + f.path(), type, rules, f.description()});
    }
    PrintTable(std::cout, rows);
  };
  print("SPEC FIELDS", resp.spec_fields(), true);
  if (resp.output_fields_size() > 0) print("OUTPUTS (status.outputs)", resp.output_fields(), false);
  if (resp.unchecked_rules_size() > 0) {
    std::cout << "\nRULES NOT EVALUATED BY PLINTH (" << resp.unchecked_rules_size()
              << "; a manifest passing validation may still break them):\n";
    for (const auto& r : resp.unchecked_rules()) {
      std::cout << "  " << r.path() << ": " << r.id();
      if (!r.expression().empty()) std::cout << ": " << r.expression();
      std::cout << "\n";
    }
  }
  return 0;
}

}  // namespace plinth::cli
