#include "plinth/store/infra_pipeline_store.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "plinth/core/status_macros.h"
#include "pipeline_rows.h"
#include "resource_rows.h"

namespace plinth::store {

absl::string_view NodeStateName(NodeState state) {
  switch (state) {
    case NodeState::kQueued: return "queued";
    case NodeState::kRunning: return "running";
    case NodeState::kAwaitingApproval: return "awaiting_approval";
    case NodeState::kSucceeded: return "succeeded";
    case NodeState::kFailed: return "failed";
    case NodeState::kCancelled: return "cancelled";
    case NodeState::kSkipped: return "skipped";
  }
  return "failed";
}

absl::string_view PipelineStateName(PipelineState state) {
  switch (state) {
    case PipelineState::kQueued: return "queued";
    case PipelineState::kRunning: return "running";
    case PipelineState::kAwaitingApproval: return "awaiting_approval";
    case PipelineState::kSucceeded: return "succeeded";
    case PipelineState::kFailed: return "failed";
    case PipelineState::kCancelled: return "cancelled";
  }
  return "failed";
}

std::optional<NodeState> ParseNodeState(absl::string_view name) {
  for (NodeState s : {NodeState::kQueued, NodeState::kRunning, NodeState::kAwaitingApproval, NodeState::kSucceeded,
                      NodeState::kFailed, NodeState::kCancelled, NodeState::kSkipped}) {
    if (NodeStateName(s) == name) return s;
  }
  return std::nullopt;
}

std::optional<PipelineState> ParsePipelineState(absl::string_view name) {
  for (PipelineState s : {PipelineState::kQueued, PipelineState::kRunning, PipelineState::kAwaitingApproval,
                          PipelineState::kSucceeded, PipelineState::kFailed, PipelineState::kCancelled}) {
    if (PipelineStateName(s) == name) return s;
  }
  return std::nullopt;
}

namespace {

using nlohmann::json;

constexpr char kPipelineColumns[] =
    "id, seq, project_id, org, env, project_name, revision, kind, trigger, state, preview_only, purge_after, "
    "gate, max_parallel, cancel_requested, planned, notes, error, change, created_at, created_by, started_at, "
    "ended_at, commit_sha, manifests";

std::optional<absl::Time> OptTime(const Statement& st, int i) {
  if (st.ColumnIsNull(i)) return std::nullopt;
  return absl::FromUnixMicros(st.ColumnInt64(i));
}

void BindOptTime(Statement& st, int i, const std::optional<absl::Time>& t) {
  if (t) st.Bind(i, absl::ToUnixMicros(*t)); else st.BindNull(i);
}

PipelineRecord ReadPipeline(const Statement& st) {
  PipelineRecord p;
  p.id = st.ColumnText(0);
  p.seq = st.ColumnInt64(1);
  p.project_id = st.ColumnText(2);
  p.org = st.ColumnText(3);
  p.env = st.ColumnText(4);
  p.project_name = st.ColumnText(5);
  p.revision = st.ColumnInt64(6);
  p.kind = st.ColumnText(7);
  p.trigger = st.ColumnText(8);
  // A name this version does not know reads as failed (see ReadJob).
  p.state = ParsePipelineState(st.ColumnText(9)).value_or(PipelineState::kFailed);
  p.preview_only = st.ColumnInt64(10) != 0;
  p.purge_after = st.ColumnInt64(11) != 0;
  p.gate = st.ColumnText(12);
  p.max_parallel = static_cast<int>(st.ColumnInt64(13));
  p.cancel_requested = st.ColumnInt64(14) != 0;
  p.planned = st.ColumnInt64(15) != 0;
  p.notes = json::parse(st.ColumnText(16), nullptr, false);
  if (!p.notes.is_array()) p.notes = json::array();
  p.error = st.ColumnText(17);
  p.change = st.ColumnInt64(18);
  p.created_at = absl::FromUnixMicros(st.ColumnInt64(19));
  p.created_by = st.ColumnText(20);
  p.started_at = OptTime(st, 21);
  p.ended_at = OptTime(st, 22);
  p.commit = st.ColumnText(23);
  std::string manifests = st.ColumnText(24);
  if (!manifests.empty()) p.manifests = json::parse(manifests, nullptr, false);
  return p;
}

// A node's upstream column: "[1,4,7]" (what json(vector<int>) wrote).
std::vector<int> ParseIndexes(absl::string_view text) {
  std::vector<int> out;
  text = absl::StripPrefix(absl::StripSuffix(text, "]"), "[");
  if (text.empty()) return out;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int i = 0;
    if (absl::SimpleAtoi(part, &i)) out.push_back(i);
  }
  return out;
}

// A node's summary column: a job summary's JSON (older rows hold the whole
// of it, output changes included), of which a node keeps the top-level
// counts. Read with SAX: a DOM of it cost a 500-node read most of its time.
class SummaryReader : public nlohmann::json_sax<json> {
 public:
  explicit SummaryReader(NodeSummary* out) : out_(out) {}
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t v) override { return Count(v); }
  bool number_unsigned(number_unsigned_t v) override { return Count(static_cast<int64_t>(v)); }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t& v) override {
    if (depth_ == 1 && key_ == "operation") out_->operation = v;
    return true;
  }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return ++depth_ > 0; }
  bool key(string_t& k) override {
    if (depth_ == 1) key_ = k;
    return true;
  }
  bool end_object() override { return --depth_ >= 0; }
  bool start_array(std::size_t) override { return ++depth_ > 0; }
  bool end_array() override { return --depth_ >= 0; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  bool Count(int64_t v) {
    if (depth_ != 1) return true;
    const int n = static_cast<int>(std::clamp<int64_t>(v, 0, INT32_MAX));
    if (key_ == "add") out_->add = n;
    else if (key_ == "change") out_->change = n;
    else if (key_ == "remove") out_->remove = n;
    else if (key_ == "replace") out_->replace = n;
    return true;
  }
  NodeSummary* out_;
  int depth_ = 0;
  std::string key_;
};

// What WriteNode writes, {"add":1,"change":0,"operation":"plan",...}: a
// flat object of counts and one plain string, read without a parser. False
// for anything else (older rows), which SummaryReader then reads.
bool ReadFlatSummary(absl::string_view text, NodeSummary* out) {
  if (!absl::ConsumePrefix(&text, "{") || !absl::ConsumeSuffix(&text, "}")) return false;
  if (text.find_first_of("{}[]\\") != absl::string_view::npos) return false;
  for (absl::string_view field : absl::StrSplit(text, ',')) {
    size_t colon = field.find(':');
    if (colon == absl::string_view::npos) return false;
    absl::string_view key = field.substr(0, colon), value = field.substr(colon + 1);
    if (!absl::ConsumePrefix(&key, "\"") || !absl::ConsumeSuffix(&key, "\"")) return false;
    if (key == "operation") {
      if (!absl::ConsumePrefix(&value, "\"") || !absl::ConsumeSuffix(&value, "\"")) return false;
      out->operation = std::string(value);
      continue;
    }
    int n = 0;
    if (!absl::SimpleAtoi(value, &n)) return false;
    if (key == "add") out->add = n;
    else if (key == "change") out->change = n;
    else if (key == "remove") out->remove = n;
    else if (key == "replace") out->replace = n;
  }
  return true;
}

NodeSummary ParseSummary(const std::string& text) {
  NodeSummary out;
  if (ReadFlatSummary(text, &out)) return out;
  out = NodeSummary{};
  SummaryReader reader(&out);
  if (!json::sax_parse(text, &reader, json::input_format_t::json, false)) return NodeSummary{};
  return out;
}

absl::Status LoadChildren(Connection& c, PipelineRecord* p) {
  Statement& st = c.Prepare(
      "SELECT idx, env, kind, name, resource_id, layer, operation, upstream, state, job_id, gate, awaiting, "
      "gate_approved, summary, attempts, error, started_at, ended_at FROM infra_pipeline_nodes "
      "WHERE pipeline_id = ? ORDER BY idx");
  st.Bind(1, p->id);
  p->nodes.clear();
  {
    Statement& count = c.Prepare("SELECT MAX(idx) FROM infra_pipeline_nodes WHERE pipeline_id = ?");
    count.Bind(1, p->id);
    PLINTH_ASSIGN_OR_RETURN(bool row, count.Step());
    if (row && !count.ColumnIsNull(0)) {
      p->nodes.reserve(static_cast<size_t>(std::clamp<int64_t>(count.ColumnInt64(0) + 1, 0, 100000)));
    }
    count.Reset();
  }
  for (;;) {
    PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    PipelineNodeRecord n;
    n.idx = static_cast<int>(st.ColumnInt64(0));
    n.env = st.ColumnText(1);
    n.kind = st.ColumnText(2);
    n.name = st.ColumnText(3);
    n.resource_id = st.ColumnText(4);
    n.layer = static_cast<int>(st.ColumnInt64(5));
    n.operation = st.ColumnText(6);
    n.upstream = ParseIndexes(st.ColumnText(7));
    n.state = ParseNodeState(st.ColumnText(8)).value_or(NodeState::kFailed);
    n.job_id = st.ColumnText(9);
    n.gate = st.ColumnText(10);
    n.awaiting = st.ColumnText(11);
    n.gate_approved = st.ColumnInt64(12) != 0;
    if (!st.ColumnIsNull(13)) n.summary = ParseSummary(st.ColumnText(13));
    n.attempts = static_cast<int>(st.ColumnInt64(14));
    n.error = st.ColumnText(15);
    n.started_at = OptTime(st, 16);
    n.ended_at = OptTime(st, 17);
    p->nodes.push_back(std::move(n));
  }
  Statement& d = c.Prepare(
      "SELECT node, target, stage, approved, actor, comment, created_at FROM infra_pipeline_decisions "
      "WHERE pipeline_id = ? ORDER BY id");
  d.Bind(1, p->id);
  p->decisions.clear();
  for (;;) {
    PLINTH_ASSIGN_OR_RETURN(bool row, d.Step());
    if (!row) break;
    p->decisions.push_back({static_cast<int>(d.ColumnInt64(0)), d.ColumnText(1), d.ColumnText(2),
                            d.ColumnInt64(3) != 0, d.ColumnText(4), d.ColumnText(5),
                            absl::FromUnixMicros(d.ColumnInt64(6))});
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PipelineRecord>> Query(Connection& c, const std::string& where,
                                                  const std::vector<std::string>& text_args,
                                                  const std::vector<int64_t>& int_args, bool children) {
  Statement& st = c.Prepare(absl::StrCat("SELECT ", kPipelineColumns, " FROM infra_pipelines ", where));
  int i = 1;
  for (const auto& a : text_args) st.Bind(i++, a);
  for (int64_t a : int_args) st.Bind(i++, a);
  std::vector<PipelineRecord> out;
  for (;;) {
    PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(ReadPipeline(st));
  }
  st.Reset();
  if (children) {
    for (auto& p : out) PLINTH_RETURN_IF_ERROR(LoadChildren(c, &p));
  }
  return out;
}

absl::Status WriteNode(Connection& c, const std::string& pipeline_id, const PipelineNodeRecord& n) {
  Statement& st = c.Prepare(
      "INSERT INTO infra_pipeline_nodes (pipeline_id, idx, env, kind, name, resource_id, layer, "
      "operation, upstream, state, job_id, gate, awaiting, gate_approved, summary, attempts, error, started_at, "
      "ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (pipeline_id, idx) DO UPDATE SET env = excluded.env, kind = excluded.kind, name = excluded.name, resource_id = excluded.resource_id, layer = excluded.layer, operation = excluded.operation, upstream = excluded.upstream, state = excluded.state, job_id = excluded.job_id, gate = excluded.gate, awaiting = excluded.awaiting, gate_approved = excluded.gate_approved, summary = excluded.summary, attempts = excluded.attempts, error = excluded.error, started_at = excluded.started_at, ended_at = excluded.ended_at");
  st.Bind(1, pipeline_id);
  st.Bind(2, static_cast<int64_t>(n.idx));
  st.Bind(3, n.env);
  st.Bind(4, n.kind);
  st.Bind(5, n.name);
  st.Bind(6, n.resource_id);
  st.Bind(7, static_cast<int64_t>(n.layer));
  st.Bind(8, n.operation);
  st.Bind(9, absl::StrCat("[", absl::StrJoin(n.upstream, ","), "]"));
  st.Bind(10, NodeStateName(n.state));
  st.Bind(11, n.job_id);
  st.Bind(12, n.gate);
  st.Bind(13, n.awaiting);
  st.Bind(14, static_cast<int64_t>(n.gate_approved ? 1 : 0));
  if (!n.summary) {
    st.BindNull(15);
  } else {
    st.Bind(15, json{{"add", n.summary->add}, {"change", n.summary->change}, {"remove", n.summary->remove},
                     {"replace", n.summary->replace}, {"operation", n.summary->operation}}
                    .dump());
  }
  st.Bind(16, static_cast<int64_t>(n.attempts));
  st.Bind(17, n.error);
  BindOptTime(st, 18, n.started_at);
  BindOptTime(st, 19, n.ended_at);
  return st.Run();
}

}  // namespace

namespace internal {

absl::Status Audit(Connection& c, const std::string& action, const std::string& target_type,
                   const std::string& target_id, const std::string& target_name, const std::string& actor,
                   absl::Time at) {
  Statement& st = c.Prepare(
      "INSERT INTO audit_events (created_at, actor, action, target_type, target_id, target_name) "
      "VALUES (?, ?, ?, ?, ?, ?)");
  st.Bind(1, absl::ToUnixMicros(at));
  st.Bind(2, actor);
  st.Bind(3, action);
  st.Bind(4, target_type);
  st.Bind(5, target_id);
  st.Bind(6, target_name);
  return st.Run();
}

absl::Status InsertPipeline(Connection& c, PipelineRecord* p) {
  if (p->seq == 0) {
    Statement& seq = c.Prepare("SELECT COALESCE(MAX(seq), 0) + 1 FROM infra_pipelines");
    PLINTH_ASSIGN_OR_RETURN(bool row, seq.Step());
    p->seq = row ? seq.ColumnInt64(0) : 1;
    seq.Reset();
  }
  return UpsertPipeline(c, *p);
}

absl::Status UpsertPipeline(Connection& c, const PipelineRecord& p) {
  // An upsert, never REPLACE: a REPLACE deletes the row first, and the
  // delete would cascade to the pipeline's nodes and decisions.
  Statement& st = c.Prepare(absl::StrCat(
      "INSERT INTO infra_pipelines (", kPipelineColumns,
      ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
      "state = excluded.state, gate = excluded.gate, max_parallel = excluded.max_parallel, "
      "cancel_requested = excluded.cancel_requested, planned = excluded.planned, notes = excluded.notes, "
      "error = excluded.error, change = excluded.change, started_at = excluded.started_at, "
      "ended_at = excluded.ended_at"));
  st.Bind(1, p.id);
  st.Bind(2, p.seq);
  st.Bind(3, p.project_id);
  st.Bind(4, p.org);
  st.Bind(5, p.env);
  st.Bind(6, p.project_name);
  st.Bind(7, p.revision);
  st.Bind(8, p.kind);
  st.Bind(9, p.trigger);
  st.Bind(10, PipelineStateName(p.state));
  st.Bind(11, static_cast<int64_t>(p.preview_only));
  st.Bind(12, static_cast<int64_t>(p.purge_after));
  st.Bind(13, p.gate);
  st.Bind(14, static_cast<int64_t>(p.max_parallel));
  st.Bind(15, static_cast<int64_t>(p.cancel_requested));
  st.Bind(16, static_cast<int64_t>(p.planned));
  st.Bind(17, p.notes.dump());
  st.Bind(18, p.error);
  st.Bind(19, p.change);
  st.Bind(20, absl::ToUnixMicros(p.created_at));
  st.Bind(21, p.created_by);
  BindOptTime(st, 22, p.started_at);
  BindOptTime(st, 23, p.ended_at);
  st.Bind(24, p.commit);
  st.Bind(25, p.manifests.is_array() ? p.manifests.dump() : std::string());
  return st.Run();
}

absl::Status ParseNumberPage(int page_size, const std::string& token, int* size, int64_t* before) {
  if (page_size < 0) return absl::InvalidArgumentError("page_size: must not be negative");
  *size = page_size == 0 ? 20 : std::min(page_size, 500);
  *before = INT64_MAX;
  if (!token.empty() && (!absl::SimpleAtoi(token, before) || *before <= 0)) {
    return absl::InvalidArgumentError("page_token: malformed");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, int64_t>> CountStates(Database* db, const char* table) {
  std::map<std::string, int64_t> out;
  PLINTH_RETURN_IF_ERROR(db->Read([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(absl::StrCat("SELECT state, COUNT(*) FROM ", table, " GROUP BY state"));
    for (;;) {
      PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out[st.ColumnText(0)] = st.ColumnInt64(1);
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<bool> ProjectHasActivePipeline(Connection& c, const std::string& project_id) {
  Statement& st = c.Prepare(
      "SELECT 1 FROM infra_pipelines WHERE project_id = ? AND state NOT IN ('succeeded', 'failed', 'cancelled') "
      "LIMIT 1");
  st.Bind(1, project_id);
  PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
  st.Reset();
  return row;
}

}  // namespace internal

absl::StatusOr<PipelineRecord> InfraPipelineStore::Get(const std::string& id) const {
  std::vector<PipelineRecord> found;
  PLINTH_RETURN_IF_ERROR(db_->ReadSnapshot([&](Connection& c) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(found, Query(c, "WHERE id = ?", {id}, {}, true));
    return absl::OkStatus();
  }));
  if (found.empty()) return absl::NotFoundError(absl::StrCat("infra pipeline ", id, " not found"));
  return std::move(found.front());
}

absl::StatusOr<PipelinePage> InfraPipelineStore::List(const std::string& project_id, int requested_size,
                                                      const std::string& page_token) const {
  int page_size;
  int64_t before;
  PLINTH_RETURN_IF_ERROR(internal::ParseNumberPage(requested_size, page_token, &page_size, &before));
  PipelinePage page;
  PLINTH_RETURN_IF_ERROR(db_->ReadSnapshot([&](Connection& c) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(page.items, Query(c, "WHERE project_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
                                              {project_id}, {before, page_size + 1}, true));
    return absl::OkStatus();
  }));
  if (static_cast<int>(page.items.size()) > page_size) {
    page.items.resize(page_size);
    page.next_page_token = absl::StrCat(page.items.back().seq);
  }
  return page;
}

absl::StatusOr<PipelineRecord> InfraPipelineStore::Last(const std::string& project_id) const {
  PLINTH_ASSIGN_OR_RETURN(auto page, List(project_id, 1, ""));
  if (page.items.empty()) {
    return absl::NotFoundError(absl::StrCat("infra project ", project_id, " has no pipeline yet"));
  }
  return std::move(page.items.front());
}

absl::StatusOr<std::vector<PipelineRecord>> InfraPipelineStore::ListActive() const {
  std::vector<PipelineRecord> out;
  PLINTH_RETURN_IF_ERROR(db_->ReadSnapshot([&](Connection& c) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(out, Query(c, "WHERE state NOT IN ('succeeded', 'failed', 'cancelled') ORDER BY seq",
                                       {}, {}, true));
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::vector<std::string>> InfraPipelineStore::IdsForRevision(const std::string& project_id,
                                                                            int64_t revision) const {
  std::vector<std::string> out;
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare("SELECT id FROM infra_pipelines WHERE project_id = ? AND revision = ? ORDER BY seq");
    st.Bind(1, project_id);
    st.Bind(2, revision);
    for (;;) {
      PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back(st.ColumnText(0));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::map<std::string, int64_t>> InfraPipelineStore::CountByState() const {
  return internal::CountStates(db_, "infra_pipelines");
}

absl::Status InfraPipelineStore::Save(const std::vector<PipelineWrite>& writes) {
  if (writes.empty()) return absl::OkStatus();
  return db_->Write([&](Connection& c) -> absl::Status {
    absl::Time now = clock_->Now();
    for (const auto& w : writes) {
      // Written as it is (its seq is set): a copy of a 1,000-node pipeline
      // on every save cost the writer thread more than the writes.
      const PipelineRecord& p = *w.pipeline;
      if (p.seq == 0) {
        PipelineRecord numbered = p;  // a new pipeline: it gets its number here
        PLINTH_RETURN_IF_ERROR(internal::InsertPipeline(c, &numbered));
      } else {
        PLINTH_RETURN_IF_ERROR(internal::UpsertPipeline(c, p));
      }
      for (int idx : w.nodes) {
        if (idx < 0 || idx >= static_cast<int>(p.nodes.size())) continue;
        PLINTH_RETURN_IF_ERROR(WriteNode(c, p.id, p.nodes[idx]));
      }
      for (const auto& d : w.decisions) {
        Statement& st = c.Prepare(
            "INSERT INTO infra_pipeline_decisions (pipeline_id, node, target, stage, approved, actor, comment, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
        st.Bind(1, p.id);
        st.Bind(2, static_cast<int64_t>(d.node));
        st.Bind(3, d.target);
        st.Bind(4, d.stage);
        st.Bind(5, static_cast<int64_t>(d.approved));
        st.Bind(6, d.actor);
        st.Bind(7, d.comment);
        st.Bind(8, absl::ToUnixMicros(d.at));
        PLINTH_RETURN_IF_ERROR(st.Run());
        PLINTH_RETURN_IF_ERROR(internal::Audit(
            c, absl::StrCat("infra_pipeline.", d.approved ? "approve" : "reject", "_", d.stage), "infra_pipeline",
            p.id, absl::StrCat(p.project_name, " ", d.target, d.comment.empty() ? "" : ": " + d.comment), d.actor,
            d.at));
      }
      for (const auto& id : w.delete_resources) {
        PLINTH_ASSIGN_OR_RETURN(auto r, internal::FindResource(c, id));
        if (r) PLINTH_RETURN_IF_ERROR(internal::DeleteResourceRow(c, *r, p.created_by, now));
      }
      if (w.delete_project) {
        PLINTH_ASSIGN_OR_RETURN(auto owned, internal::OwnedResources(c, p.project_id));
        for (const auto& r : owned) PLINTH_RETURN_IF_ERROR(internal::DeleteResourceRow(c, r, p.created_by, now));
        Statement& del = c.Prepare("DELETE FROM infra_projects WHERE id = ?");
        del.Bind(1, p.project_id);
        PLINTH_RETURN_IF_ERROR(del.Run());
        PLINTH_RETURN_IF_ERROR(
            internal::Audit(c, "infra_project.purge", "infra_project", p.project_id,
                            absl::StrCat(p.org, "/", p.env, "/", p.project_name), p.created_by, now));
      }
    }
    return absl::OkStatus();
  });
}

}  // namespace plinth::store
