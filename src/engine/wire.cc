#include "plinth/engine/wire.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "plinth/core/secret_box.h"

namespace plinth::engine {
namespace {

using nlohmann::json;

template <typename T>
T Get(const json& j, const char* key, T fallback) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    return fallback;
  }
}

json ResourceToJson(const ResourceChange& r) {
  return {{"address", r.address}, {"type", r.type},       {"action", r.action},
          {"status", r.status},   {"elapsed", r.elapsed_seconds}, {"id", r.id},
          {"actions", r.actions}, {"actionReason", r.action_reason}, {"previousAddress", r.previous_address},
          {"deposed", r.deposed}, {"importing", r.importing}};
}

ResourceChange ResourceFromJson(const json& j) {
  ResourceChange r;
  r.address = Get<std::string>(j, "address", "");
  r.type = Get<std::string>(j, "type", "");
  r.action = Get<std::string>(j, "action", "");
  r.status = Get<std::string>(j, "status", "");
  r.elapsed_seconds = Get<double>(j, "elapsed", 0);
  r.id = Get<std::string>(j, "id", "");
  r.actions = Get<std::vector<std::string>>(j, "actions", {});
  r.action_reason = Get<std::string>(j, "actionReason", "");
  r.previous_address = Get<std::string>(j, "previousAddress", "");
  r.deposed = Get<std::string>(j, "deposed", "");
  r.importing = Get<bool>(j, "importing", false);
  return r;
}

json DiagnosticToJson(const Diagnostic& d) {
  return {{"severity", d.severity}, {"summary", d.summary}, {"detail", d.detail}, {"address", d.address}};
}

Diagnostic DiagnosticFromJson(const json& j) {
  return {Get<std::string>(j, "severity", ""), Get<std::string>(j, "summary", ""), Get<std::string>(j, "detail", ""),
          Get<std::string>(j, "address", "")};
}

}  // namespace

json SummaryToJson(const ChangeSummary& s) {
  return {{"add", s.add},       {"change", s.change}, {"remove", s.remove}, {"replace", s.replace},
          {"operation", s.operation}, {"noOp", s.no_op}, {"read", s.read},  {"import", s.import},
          {"move", s.move},     {"forget", s.forget}};
}

ChangeSummary SummaryFromJson(const json& j) {
  ChangeSummary s;
  s.add = Get<int>(j, "add", 0);
  s.change = Get<int>(j, "change", 0);
  s.remove = Get<int>(j, "remove", 0);
  s.replace = Get<int>(j, "replace", 0);
  s.operation = Get<std::string>(j, "operation", "");
  s.no_op = Get<int>(j, "noOp", 0);
  s.read = Get<int>(j, "read", 0);
  s.import = Get<int>(j, "import", 0);
  s.move = Get<int>(j, "move", 0);
  s.forget = Get<int>(j, "forget", 0);
  return s;
}

json EventToJson(const EngineEvent& e) {
  json j = {{"kind", static_cast<int>(e.kind)}, {"type", e.type}, {"level", e.level}, {"message", e.message}};
  if (e.resource) j["resource"] = ResourceToJson(*e.resource);
  if (e.summary) j["summary"] = SummaryToJson(*e.summary);
  if (e.diagnostic) j["diagnostic"] = DiagnosticToJson(*e.diagnostic);
  if (!e.outputs.is_null()) j["outputs"] = e.outputs;
  return j;
}

EngineEvent EventFromJson(const json& j) {
  EngineEvent e;
  int kind = Get<int>(j, "kind", static_cast<int>(EngineEvent::Kind::kUnknown));
  if (kind < 0 || kind > static_cast<int>(EngineEvent::Kind::kNotJson)) kind = static_cast<int>(EngineEvent::Kind::kUnknown);
  e.kind = static_cast<EngineEvent::Kind>(kind);
  e.type = Get<std::string>(j, "type", "");
  e.level = Get<std::string>(j, "level", "");
  e.message = Get<std::string>(j, "message", "");
  if (j.is_object() && j.contains("resource") && j["resource"].is_object()) e.resource = ResourceFromJson(j["resource"]);
  if (j.is_object() && j.contains("summary") && j["summary"].is_object()) e.summary = SummaryFromJson(j["summary"]);
  if (j.is_object() && j.contains("diagnostic") && j["diagnostic"].is_object()) {
    e.diagnostic = DiagnosticFromJson(j["diagnostic"]);
  }
  if (j.is_object() && j.contains("outputs")) e.outputs = j["outputs"];
  return e;
}

json OutcomeToJson(const JobOutcome& o) {
  const char* state = o.state == JobOutcome::State::kSucceeded     ? "succeeded"
                      : o.state == JobOutcome::State::kCancelled   ? "cancelled"
                      : o.state == JobOutcome::State::kInterrupted ? "interrupted"
                                                                   : "failed";
  json steps = json::array(), resources = json::array(), outputs = json::array(), diagnostics = json::array();
  for (const auto& s : o.steps) {
    steps.push_back({{"name", s.name}, {"exitCode", s.exit_code}, {"start", absl::ToUnixMicros(s.start)},
                     {"end", absl::ToUnixMicros(s.end)}});
  }
  for (const auto& r : o.resources) resources.push_back(ResourceToJson(r));
  for (const auto& c : o.output_changes) {
    outputs.push_back({{"name", c.name}, {"action", c.action}, {"knownAfterApply", c.known_after_apply},
                       {"sensitive", c.sensitive}, {"after", c.after}});
  }
  for (const auto& d : o.diagnostics) diagnostics.push_back(DiagnosticToJson(d));
  json j = {{"state", state},          {"error", o.error},
            {"engineVersion", o.engine_version}, {"steps", steps},
            {"resources", resources},  {"outputChanges", outputs},
            {"diagnostics", diagnostics}, {"outputs", o.outputs},
            {"outputsChanged", o.outputs_changed}};
  if (!o.module_revision.empty()) j["moduleRevision"] = o.module_revision;
  if (o.has_summary) j["summary"] = SummaryToJson(o.summary);
  return j;
}

JobOutcome OutcomeFromJson(const json& j) {
  JobOutcome o;
  std::string state = Get<std::string>(j, "state", "failed");
  o.state = state == "succeeded"     ? JobOutcome::State::kSucceeded
            : state == "cancelled"   ? JobOutcome::State::kCancelled
            : state == "interrupted" ? JobOutcome::State::kInterrupted
                                     : JobOutcome::State::kFailed;
  o.error = Get<std::string>(j, "error", "");
  o.engine_version = Get<std::string>(j, "engineVersion", "");
  o.module_revision = Get<std::string>(j, "moduleRevision", "");
  for (const auto& s : Get<json>(j, "steps", json::array())) {
    o.steps.push_back({Get<std::string>(s, "name", ""), Get<int>(s, "exitCode", -1),
                       absl::FromUnixMicros(Get<int64_t>(s, "start", 0)), absl::FromUnixMicros(Get<int64_t>(s, "end", 0))});
  }
  for (const auto& r : Get<json>(j, "resources", json::array())) o.resources.push_back(ResourceFromJson(r));
  for (const auto& c : Get<json>(j, "outputChanges", json::array())) {
    o.output_changes.push_back({Get<std::string>(c, "name", ""), Get<std::string>(c, "action", ""),
                                Get<bool>(c, "knownAfterApply", false), Get<bool>(c, "sensitive", false),
                                Get<json>(c, "after", json())});
  }
  for (const auto& d : Get<json>(j, "diagnostics", json::array())) o.diagnostics.push_back(DiagnosticFromJson(d));
  json outputs = Get<json>(j, "outputs", json::object());
  o.outputs = outputs.is_object() ? outputs : json::object();
  o.outputs_changed = Get<bool>(j, "outputsChanged", false);
  if (j.is_object() && j.contains("summary") && j["summary"].is_object()) {
    o.has_summary = true;
    o.summary = SummaryFromJson(j["summary"]);
  }
  return o;
}

absl::StatusOr<FileTree> ReadTree(const std::string& dir, const std::set<std::string>& skip) {
  namespace fs = std::filesystem;
  FileTree tree;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return tree;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) return absl::InternalError(absl::StrCat("cannot read ", dir, ": ", ec.message()));
  for (; it != end; it.increment(ec)) {
    if (ec) return absl::InternalError(absl::StrCat("cannot read ", dir, ": ", ec.message()));
    const std::string name = it->path().filename().string();
    if (skip.count(name)) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec)) continue;
    std::string rel = fs::relative(it->path(), dir, ec).generic_string();
    std::ifstream in(it->path(), std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return absl::InternalError(absl::StrCat("cannot read ", it->path().string()));
    struct stat st;
    if (::stat(it->path().c_str(), &st) == 0 && (st.st_mode & S_IXUSR)) tree.executable.insert(rel);
    tree.files[rel] = std::move(content);
  }
  return tree;
}

absl::Status WriteTree(const std::string& dir, const FileTree& tree) {
  namespace fs = std::filesystem;
  for (const auto& [rel, content] : tree.files) {
    bool bad = rel.empty() || rel[0] == '/';
    for (absl::string_view part : absl::StrSplit(rel, '/')) bad = bad || part == ".." || part.empty();
    if (bad) return absl::InvalidArgumentError(absl::StrCat("file path \"", rel, "\": not a relative path inside the tree"));
    fs::path p = fs::path(dir) / rel;
    std::error_code ec;
    fs::create_directories(p.parent_path(), ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot create ", p.parent_path().string(), ": ", ec.message()));
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << content;
    out.close();
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", p.string()));
    ::chmod(p.c_str(), tree.executable.count(rel) ? 0700 : 0600);
  }
  return absl::OkStatus();
}

std::string TreeDigest(const FileTree& tree) {
  std::string all;
  for (const auto& [rel, content] : tree.files) {
    absl::StrAppend(&all, rel.size(), ":", rel, content.size(), ":", content, tree.executable.count(rel) ? "x" : "-");
  }
  return core::Sha256Hex(all);
}

}  // namespace plinth::engine
