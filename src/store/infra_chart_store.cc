#include "plinth/store/infra_chart_store.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "plinth/core/status_macros.h"

namespace plinth::store {
namespace {

using nlohmann::json;

std::string FilesJson(const std::vector<chart::ChartFile>& files) {
  json out = json::array();
  for (const auto& f : files) out.push_back({{"path", f.path}, {"content", f.content}});
  return out.dump();
}

std::vector<chart::ChartFile> ParseFiles(const std::string& text) {
  std::vector<chart::ChartFile> out;
  json j = json::parse(text, nullptr, false);
  if (!j.is_array()) return out;
  for (const auto& f : j) out.push_back({f.value("path", ""), f.value("content", "")});
  return out;
}

absl::Status Audit(Connection& c, const std::string& action, const InfraChartRecord& r,
                   const std::string& actor, int64_t at) {
  Statement& st = c.Prepare(
      "INSERT INTO audit_events (created_at, actor, action, target_type, target_id, target_name) "
      "VALUES (?, ?, ?, 'infra_chart', ?, ?)");
  st.Bind(1, at);
  st.Bind(2, actor);
  st.Bind(3, absl::StrCat("infra_chart.", action));
  st.Bind(4, absl::StrCat(r.name, "@", r.version));
  st.Bind(5, absl::StrCat(r.name, "@", r.version));
  return st.Run();
}

}  // namespace

absl::StatusOr<InfraChartRecord> InfraChartStore::Push(InfraChartRecord r, const std::string& actor,
                                                       bool* unchanged) {
  *unchanged = false;
  std::string files = FilesJson(r.files);
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    Statement& find = c.Prepare(
        "SELECT files, created_at, created_by FROM infra_charts WHERE name = ? AND version = ?");
    find.Bind(1, r.name);
    find.Bind(2, r.version);
    PLINTH_ASSIGN_OR_RETURN(bool row, find.Step());
    if (row) {
      if (find.ColumnText(0) != files) {
        return absl::AlreadyExistsError(absl::StrCat(
            "infra chart ", r.name, "@", r.version,
            " is already stored with other files; chart versions are immutable, push a new version"));
      }
      *unchanged = true;
      r.created_at = absl::FromUnixMicros(find.ColumnInt64(1));
      r.created_by = find.ColumnText(2);
      return absl::OkStatus();
    }
    r.created_at = clock_->Now();
    r.created_by = actor;
    int64_t at = absl::ToUnixMicros(r.created_at);
    Statement& ins = c.Prepare(
        "INSERT INTO infra_charts (name, version, seq, description, files, created_at, created_by) "
        "VALUES (?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM infra_charts), ?, ?, ?, ?)");
    ins.Bind(1, r.name);
    ins.Bind(2, r.version);
    ins.Bind(3, r.description);
    ins.Bind(4, files);
    ins.Bind(5, at);
    ins.Bind(6, actor);
    PLINTH_RETURN_IF_ERROR(ins.Run());
    return Audit(c, "push", r, actor, at);
  }));
  return r;
}

absl::StatusOr<InfraChartRecord> InfraChartStore::Get(const std::string& name,
                                                      const std::string& version) const {
  InfraChartRecord r;
  bool found = false;
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    Statement& st = version.empty()
        ? c.Prepare("SELECT name, version, description, files, created_at, created_by FROM infra_charts "
                    "WHERE name = ? ORDER BY seq DESC LIMIT 1")
        : c.Prepare("SELECT name, version, description, files, created_at, created_by FROM infra_charts "
                    "WHERE name = ? AND version = ?");
    st.Bind(1, name);
    if (!version.empty()) st.Bind(2, version);
    PLINTH_ASSIGN_OR_RETURN(found, st.Step());
    if (!found) return absl::OkStatus();
    r.name = st.ColumnText(0);
    r.version = st.ColumnText(1);
    r.description = st.ColumnText(2);
    r.files = ParseFiles(st.ColumnText(3));
    r.created_at = absl::FromUnixMicros(st.ColumnInt64(4));
    r.created_by = st.ColumnText(5);
    return absl::OkStatus();
  }));
  if (!found) {
    return absl::NotFoundError(version.empty() ? absl::StrCat("infra chart ", name, " not found")
                                               : absl::StrCat("infra chart ", name, "@", version, " not found"));
  }
  return r;
}

absl::StatusOr<InfraChartPage> InfraChartStore::List(const std::string& name, int page_size,
                                                     const std::string& token) const {
  if (page_size < 0) return absl::InvalidArgumentError("page_size: must not be negative");
  if (page_size == 0) page_size = 50;
  page_size = std::min(page_size, 1000);
  std::string after_name;
  int64_t after_seq = 0;
  if (!token.empty()) {
    std::string raw;
    json t;
    if (absl::WebSafeBase64Unescape(token, &raw)) t = json::parse(raw, nullptr, false);
    if (!t.is_array() || t.size() != 3 || !t[0].is_string() || !t[1].is_number_integer() || t[2] != name) {
      return absl::InvalidArgumentError("page_token: not a token this server issued for this query");
    }
    after_name = t[0].get<std::string>();
    after_seq = t[1].get<int64_t>();
  }
  InfraChartPage page;
  std::vector<int64_t> seqs;
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(
        "SELECT name, version, description, created_at, created_by, seq FROM infra_charts "
        "WHERE (?1 = '' OR name = ?1) AND (?2 = '' OR name > ?2 OR (name = ?2 AND seq < ?3)) "
        "ORDER BY name, seq DESC LIMIT ?4");
    st.Bind(1, name);
    st.Bind(2, after_name);
    st.Bind(3, after_seq);
    st.Bind(4, static_cast<int64_t>(page_size) + 1);
    for (;;) {
      PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      InfraChartRecord r;
      r.name = st.ColumnText(0);
      r.version = st.ColumnText(1);
      r.description = st.ColumnText(2);
      r.created_at = absl::FromUnixMicros(st.ColumnInt64(3));
      r.created_by = st.ColumnText(4);
      seqs.push_back(st.ColumnInt64(5));
      page.items.push_back(std::move(r));
    }
    return absl::OkStatus();
  }));
  if (static_cast<int>(page.items.size()) > page_size) {
    page.items.resize(page_size);
    page.next_page_token =
        absl::WebSafeBase64Escape(json::array({page.items.back().name, seqs[page_size - 1], name}).dump());
  }
  return page;
}

absl::Status InfraChartStore::Delete(const std::string& name, const std::string& version,
                                     const std::string& actor) {
  return db_->Write([&](Connection& c) -> absl::Status {
    // A project's current revision pins its chart version (the project
    // keeps its own copy, but the version is what people roll forward from).
    Statement& used = c.Prepare(
        "SELECT org || '/' || env || '/' || name FROM infra_projects WHERE chart_source = 'stored' AND "
        "chart_name = ? AND chart_version = ? ORDER BY org, env, name LIMIT 3");
    used.Bind(1, name);
    used.Bind(2, version);
    std::vector<std::string> projects;
    for (;;) {
      PLINTH_ASSIGN_OR_RETURN(bool row, used.Step());
      if (!row) break;
      projects.push_back(used.ColumnText(0));
    }
    if (!projects.empty()) {
      return absl::FailedPreconditionError(absl::StrCat("infra chart ", name, "@", version,
                                                        " is used by infra project(s) ", absl::StrJoin(projects, ", "),
                                                        "; update or delete them first"));
    }
    Statement& st = c.Prepare("DELETE FROM infra_charts WHERE name = ? AND version = ?");
    st.Bind(1, name);
    st.Bind(2, version);
    PLINTH_RETURN_IF_ERROR(st.Run());
    if (c.Changes() == 0) return absl::NotFoundError(absl::StrCat("infra chart ", name, "@", version, " not found"));
    InfraChartRecord r{name, version, "", {}, clock_->Now(), actor};
    return Audit(c, "delete", r, actor, absl::ToUnixMicros(r.created_at));
  });
}

}  // namespace plinth::store
