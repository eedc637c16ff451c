#include "plinth/store/stack_job_store.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "plinth/core/ids.h"
#include "plinth/core/status_macros.h"
#include "pipeline_rows.h"

namespace plinth::store {

absl::string_view JobStateName(JobState state) {
  switch (state) {
    case JobState::kQueued: return "queued";
    case JobState::kRunning: return "running";
    case JobState::kAwaitingApproval: return "awaiting_approval";
    case JobState::kSucceeded: return "succeeded";
    case JobState::kFailed: return "failed";
    case JobState::kCancelled: return "cancelled";
    case JobState::kInterrupted: return "interrupted";
  }
  return "failed";
}

std::optional<JobState> ParseJobState(absl::string_view name) {
  for (JobState s : {JobState::kQueued, JobState::kRunning, JobState::kAwaitingApproval, JobState::kSucceeded,
                     JobState::kFailed, JobState::kCancelled, JobState::kInterrupted}) {
    if (JobStateName(s) == name) return s;
  }
  return std::nullopt;
}

namespace {

using nlohmann::json;

constexpr char kColumns[] =
    "id, seq, resource_id, org, env, kind, name, operation, state, options, engine, engine_version, "
    "module_source, module_revision, connection_id, connection_reason, steps, summary, resources, diagnostics, "
    "outputs, error, pgid, cancel_requested, log_bytes, created_at, created_by, started_at, ended_at, "
    "runner_id, runner_name, runner_pool, lease_generation";

json ParseOr(const std::string& text, json fallback) {
  if (text.empty()) return fallback;
  json j = json::parse(text, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

StackJobRecord ReadJob(const Statement& st) {
  StackJobRecord j;
  j.id = st.ColumnText(0);
  j.seq = st.ColumnInt64(1);
  j.resource_id = st.ColumnText(2);
  j.key = {st.ColumnText(3), st.ColumnText(4), st.ColumnText(5), st.ColumnText(6)};
  j.operation = st.ColumnText(7);
  // A name this version does not know (a newer plinthd's) reads as failed:
  // nothing then treats the job as one to run or follow.
  j.state = ParseJobState(st.ColumnText(8)).value_or(JobState::kFailed);
  j.options = ParseOr(st.ColumnText(9), json::object());
  j.engine = st.ColumnText(10);
  j.engine_version = st.ColumnText(11);
  j.module_source = st.ColumnText(12);
  j.module_revision = st.ColumnText(13);
  j.connection_id = st.ColumnText(14);
  j.connection_reason = st.ColumnText(15);
  j.steps = ParseOr(st.ColumnText(16), json::array());
  j.summary = st.ColumnIsNull(17) ? json(nullptr) : ParseOr(st.ColumnText(17), nullptr);
  j.resources = ParseOr(st.ColumnText(18), json::array());
  j.diagnostics = ParseOr(st.ColumnText(19), json::array());
  j.outputs = st.ColumnIsNull(20) ? json(nullptr) : ParseOr(st.ColumnText(20), nullptr);
  j.error = st.ColumnText(21);
  j.pgid = st.ColumnInt64(22);
  j.cancel_requested = st.ColumnInt64(23) != 0;
  j.log_bytes = st.ColumnInt64(24);
  j.created_at = absl::FromUnixMicros(st.ColumnInt64(25));
  j.created_by = st.ColumnText(26);
  if (!st.ColumnIsNull(27)) j.started_at = absl::FromUnixMicros(st.ColumnInt64(27));
  if (!st.ColumnIsNull(28)) j.ended_at = absl::FromUnixMicros(st.ColumnInt64(28));
  j.runner_id = st.ColumnText(29);
  j.runner_name = st.ColumnText(30);
  j.runner_pool = st.ColumnText(31);
  j.lease_generation = st.ColumnInt64(32);
  return j;
}

absl::StatusOr<StackJobRecord> GetIn(Connection& c, const std::string& id) {
  Statement& st = c.Prepare(absl::StrCat("SELECT ", kColumns, " FROM stack_jobs WHERE id = ?"));
  st.Bind(1, id);
  PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return absl::NotFoundError(absl::StrCat("stack job ", id, " not found"));
  StackJobRecord j = ReadJob(st);
  st.Reset();
  return j;
}

absl::Status InsertEvents(Connection& c, const std::string& job_id, std::vector<JobEvent>& events, absl::Time now) {
  Statement& last = c.Prepare("SELECT COALESCE(MAX(seq + lines - 1), 0) FROM stack_job_events WHERE job_id = ?");
  last.Bind(1, job_id);
  PLINTH_ASSIGN_OR_RETURN(bool row, last.Step());
  int64_t seq = row ? last.ColumnInt64(0) : 0;
  last.Reset();
  int64_t bytes = 0;
  Statement& ins = c.Prepare(
      "INSERT INTO stack_job_events (job_id, seq, lines, at, type, step, text, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  size_t i = 0;
  std::string block;
  while (i < events.size()) {
    JobEvent& first = events[i];
    if (first.at == absl::Time()) first.at = now;
    first.seq = seq + 1;
    // Plain lines of one stream and step go into one row.
    size_t j = i + 1;
    bool plain = first.data.is_null();
    block = first.text;
    bytes += static_cast<int64_t>(first.text.size());
    while (plain && j < events.size() && events[j].data.is_null() && events[j].type == first.type &&
           events[j].step == first.step && block.size() < (1 << 20)) {
      events[j].seq = seq + 1 + static_cast<int64_t>(j - i);
      block.push_back('\n');
      block += events[j].text;
      bytes += static_cast<int64_t>(events[j].text.size());
      ++j;
    }
    ins.Reset();
    ins.Bind(1, job_id);
    ins.Bind(2, first.seq);
    ins.Bind(3, static_cast<int64_t>(j - i));
    ins.Bind(4, absl::ToUnixMicros(first.at));
    ins.Bind(5, first.type);
    ins.Bind(6, first.step);
    ins.Bind(7, block);
    if (first.data.is_null()) ins.BindNull(8); else ins.Bind(8, first.data.dump());
    PLINTH_RETURN_IF_ERROR(ins.Run());
    seq += static_cast<int64_t>(j - i);
    i = j;
  }
  Statement& up = c.Prepare("UPDATE stack_jobs SET log_bytes = log_bytes + ? WHERE id = ?");
  up.Bind(1, bytes);
  up.Bind(2, job_id);
  return up.Run();
}

absl::Status WriteOutputs(Connection& c, const std::string& resource_id, const json& outputs,
                          const std::string& sealed, bool deployed, const std::string& deployed_digest) {
  Statement& st = c.Prepare(
      "UPDATE cloud_resources SET outputs = ?, sealed_outputs = ?, deployed = ?, deployed_digest = ? WHERE id = ?");
  if (outputs.is_null()) st.BindNull(1); else st.Bind(1, outputs.dump());
  if (sealed.empty()) st.BindNull(2); else st.Bind(2, sealed);
  st.Bind(3, static_cast<int64_t>(deployed ? 1 : 0));
  st.Bind(4, deployed ? deployed_digest : std::string());
  st.Bind(5, resource_id);
  return st.Run();
}

}  // namespace

absl::StatusOr<StackJobRecord> StackJobStore::Create(const CloudResourceRecord& resource, const std::string& operation,
                                                     const json& options, const std::string& actor) {
  PLINTH_ASSIGN_OR_RETURN(auto created, CreateBatch({{&resource, operation, options}}, actor));
  return std::move(created.front());
}

absl::StatusOr<std::vector<StackJobRecord>> StackJobStore::CreateBatch(const std::vector<NewJob>& jobs,
                                                                       const std::string& actor) {
  std::vector<StackJobRecord> out;
  absl::Time now = clock_->Now();
  for (const auto& n : jobs) {
    StackJobRecord j;
    j.id = core::NewId("job");
    j.resource_id = n.resource->id;
    j.key = n.resource->key;
    j.operation = n.operation;
    j.state = JobState::kQueued;
    j.options = n.options;
    j.created_at = now;
    j.created_by = actor;
    out.push_back(std::move(j));
  }
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    Statement& seq = c.Prepare("SELECT COALESCE(MAX(seq), 0) FROM stack_jobs");
    PLINTH_ASSIGN_OR_RETURN(bool row, seq.Step());
    int64_t last = row ? seq.ColumnInt64(0) : 0;
    seq.Reset();
    for (auto& j : out) {
      j.seq = ++last;
      Statement& st = c.Prepare(
          "INSERT INTO stack_jobs (id, seq, resource_id, org, env, kind, name, operation, state, options, created_at, created_by) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)");
      st.Bind(1, j.id);
      st.Bind(2, j.seq);
      st.Bind(3, j.resource_id);
      st.Bind(4, j.key.org);
      st.Bind(5, j.key.env);
      st.Bind(6, j.key.kind);
      st.Bind(7, j.key.name);
      st.Bind(8, j.operation);
      st.Bind(9, j.options.dump());
      st.Bind(10, absl::ToUnixMicros(j.created_at));
      st.Bind(11, actor);
      PLINTH_RETURN_IF_ERROR(st.Run());
      std::vector<JobEvent> ev = {{0, j.created_at, "state", "", absl::StrCat("queued: ", j.operation, " of ", j.key.ToString(), " by ", actor), json{{"state", "queued"}}}};
      PLINTH_RETURN_IF_ERROR(InsertEvents(c, j.id, ev, j.created_at));
      Statement& audit = c.Prepare(
          "INSERT INTO audit_events (created_at, actor, action, target_type, target_id, target_name) "
          "VALUES (?, ?, ?, 'stack_job', ?, ?)");
      audit.Bind(1, absl::ToUnixMicros(j.created_at));
      audit.Bind(2, actor);
      audit.Bind(3, absl::StrCat("stack_job.create.", j.operation));
      audit.Bind(4, j.id);
      audit.Bind(5, j.key.ToString());
      PLINTH_RETURN_IF_ERROR(audit.Run());
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<std::map<std::string, int64_t>> StackJobStore::CountByState() const {
  return internal::CountStates(db_, "stack_jobs");
}

absl::StatusOr<StackJobRecord> StackJobStore::Get(const std::string& id) const {
  absl::StatusOr<StackJobRecord> out = absl::NotFoundError("");
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    out = GetIn(c, id);
    return absl::OkStatus();
  }));
  return out;
}

absl::StatusOr<StackJobPage> StackJobStore::List(const std::string& resource_id, const std::string& state,
                                                 int page_size, const std::string& token) const {
  if (page_size < 0) return absl::InvalidArgumentError("page_size: must not be negative");
  if (page_size == 0) page_size = 50;
  page_size = std::min(page_size, 1000);
  int64_t before = INT64_MAX;
  if (!token.empty()) {
    std::string raw;
    json t;
    if (absl::WebSafeBase64Unescape(token, &raw)) t = json::parse(raw, nullptr, false);
    if (!t.is_array() || t.size() != 3 || !t[0].is_number_integer() || t[1] != resource_id || t[2] != state) {
      return absl::InvalidArgumentError("page_token: not a token this server issued for this query");
    }
    before = t[0].get<int64_t>();
  }
  StackJobPage page;
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(absl::StrCat(
        "SELECT ", kColumns, " FROM stack_jobs WHERE (?1 = '' OR resource_id = ?1) AND (?2 = '' OR state = ?2) "
        "AND seq < ?3 ORDER BY seq DESC LIMIT ?4"));
    st.Bind(1, resource_id);
    st.Bind(2, state);
    st.Bind(3, before);
    st.Bind(4, static_cast<int64_t>(page_size) + 1);
    for (;;) {
      PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      page.items.push_back(ReadJob(st));
    }
    return absl::OkStatus();
  }));
  if (static_cast<int>(page.items.size()) > page_size) {
    page.items.resize(page_size);
    page.next_page_token = absl::WebSafeBase64Escape(json::array({page.items.back().seq, resource_id, state}).dump());
  }
  return page;
}

absl::StatusOr<std::vector<StackJobRecord>> StackJobStore::ListByState(const std::vector<JobState>& states) const {
  std::vector<StackJobRecord> out;
  json names = json::array();
  for (JobState s : states) names.push_back(JobStateName(s));
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    const char* states_of = c.dialect() == Dialect::kPostgres ? "SELECT jsonb_array_elements_text(?::jsonb)"
                                                                 : "SELECT value FROM json_each(?)";
    Statement& st = c.Prepare(absl::StrCat("SELECT ", kColumns, " FROM stack_jobs WHERE state IN (", states_of,
                                           ") ORDER BY seq"));
    st.Bind(1, names.dump());
    for (;;) {
      PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back(ReadJob(st));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::Status StackJobStore::Save(const StackJobRecord& j, const std::string& state_event,
                                 const ResourceOutputs* outputs) {
  return db_->Write([&](Connection& c) -> absl::Status {
    if (outputs != nullptr) {
      PLINTH_RETURN_IF_ERROR(WriteOutputs(c, outputs->resource_id, outputs->outputs, outputs->sealed_sensitive,
                                          outputs->deployed, outputs->deployed_digest));
    }
    Statement& st = c.Prepare(
        "UPDATE stack_jobs SET state = ?, engine = ?, engine_version = ?, module_source = ?, module_revision = ?, "
        "connection_id = ?, connection_reason = ?, steps = ?, summary = ?, resources = ?, diagnostics = ?, outputs = ?, "
        "error = ?, pgid = ?, started_at = ?, ended_at = ? WHERE id = ?");
    st.Bind(1, JobStateName(j.state));
    st.Bind(2, j.engine);
    st.Bind(3, j.engine_version);
    st.Bind(4, j.module_source);
    st.Bind(5, j.module_revision);
    st.Bind(6, j.connection_id);
    st.Bind(7, j.connection_reason);
    st.Bind(8, j.steps.dump());
    if (j.summary.is_null()) st.BindNull(9); else st.Bind(9, j.summary.dump());
    st.Bind(10, j.resources.dump());
    st.Bind(11, j.diagnostics.dump());
    if (j.outputs.is_null()) st.BindNull(12); else st.Bind(12, j.outputs.dump());
    st.Bind(13, j.error);
    st.Bind(14, j.pgid);
    if (j.started_at) st.Bind(15, absl::ToUnixMicros(*j.started_at)); else st.BindNull(15);
    if (j.ended_at) st.Bind(16, absl::ToUnixMicros(*j.ended_at)); else st.BindNull(16);
    st.Bind(17, j.id);
    PLINTH_RETURN_IF_ERROR(st.Run());
    if (c.Changes() != 1) return absl::NotFoundError(absl::StrCat("stack job ", j.id, " not found"));
    if (state_event.empty()) return absl::OkStatus();
    absl::Time now = clock_->Now();
    std::vector<JobEvent> ev = {{0, now, "state", "", state_event, json{{"state", JobStateName(j.state)}}}};
    return InsertEvents(c, j.id, ev, now);
  });
}

absl::Status StackJobStore::SetLease(const std::string& id, const std::string& runner_id,
                                     const std::string& runner_name, const std::string& pool, int64_t generation) {
  return db_->Write([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(
        "UPDATE stack_jobs SET runner_id = ?, runner_name = ?, runner_pool = ?, lease_generation = ? WHERE id = ?");
    st.Bind(1, runner_id);
    st.Bind(2, runner_name);
    st.Bind(3, pool);
    st.Bind(4, generation);
    st.Bind(5, id);
    PLINTH_RETURN_IF_ERROR(st.Run());
    if (c.Changes() != 1) return absl::NotFoundError(absl::StrCat("stack job ", id, " not found"));
    return absl::OkStatus();
  });
}

absl::Status StackJobStore::SetPgid(const std::string& id, int64_t pgid) {
  return db_->Write([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare("UPDATE stack_jobs SET pgid = ? WHERE id = ?");
    st.Bind(1, pgid);
    st.Bind(2, id);
    return st.Run();
  });
}

absl::StatusOr<StackJobRecord> StackJobStore::RequestCancel(const std::string& id) {
  absl::StatusOr<StackJobRecord> out = absl::NotFoundError("");
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare("UPDATE stack_jobs SET cancel_requested = 1 WHERE id = ?");
    st.Bind(1, id);
    PLINTH_RETURN_IF_ERROR(st.Run());
    out = GetIn(c, id);
    return out.status();
  }));
  return out;
}

absl::Status StackJobStore::AppendEvents(const std::string& job_id, std::vector<JobEvent> events, int64_t pgid) {
  if (events.empty() && pgid < 0) return absl::OkStatus();
  return db_->Write([&](Connection& c) -> absl::Status {
    if (pgid >= 0) {
      Statement& st = c.Prepare("UPDATE stack_jobs SET pgid = ? WHERE id = ?");
      st.Bind(1, pgid);
      st.Bind(2, job_id);
      PLINTH_RETURN_IF_ERROR(st.Run());
    }
    if (events.empty()) return absl::OkStatus();
    return InsertEvents(c, job_id, events, clock_->Now());
  });
}

absl::StatusOr<std::vector<JobEvent>> StackJobStore::Events(const std::string& job_id, int64_t after_seq, int limit) const {
  std::vector<JobEvent> out;
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(
        "SELECT seq, lines, at, type, step, text, data FROM stack_job_events "
        "WHERE job_id = ? AND seq + lines - 1 > ? ORDER BY seq");
    st.Bind(1, job_id);
    st.Bind(2, after_seq);
    while (static_cast<int>(out.size()) < limit) {
      PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      int64_t seq = st.ColumnInt64(0), lines = st.ColumnInt64(1);
      absl::Time at = absl::FromUnixMicros(st.ColumnInt64(2));
      std::string type = st.ColumnText(3), step = st.ColumnText(4), text = st.ColumnText(5);
      json data = st.ColumnIsNull(6) ? json(nullptr) : ParseOr(st.ColumnText(6), nullptr);
      if (lines == 1) {
        if (seq > after_seq) out.push_back({seq, at, type, step, std::move(text), std::move(data)});
        continue;
      }
      size_t start = 0;
      for (int64_t k = 0; k < lines && static_cast<int>(out.size()) < limit; ++k) {
        size_t nl = text.find('\n', start);
        std::string line = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
        start = nl == std::string::npos ? text.size() : nl + 1;
        if (seq + k > after_seq) out.push_back({seq + k, at, type, step, std::move(line), nullptr});
      }
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::Status StackJobStore::SetResourceOutputs(const std::string& resource_id, const json& outputs,
                                               const std::string& sealed, bool deployed,
                                               const std::string& deployed_digest) {
  return db_->Write([&](Connection& c) -> absl::Status {
    return WriteOutputs(c, resource_id, outputs, sealed, deployed, deployed_digest);
  });
}

absl::StatusOr<std::string> StackJobStore::SealedOutputs(const std::string& resource_id) const {
  std::string out;
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare("SELECT COALESCE(sealed_outputs, '') FROM cloud_resources WHERE id = ?");
    st.Bind(1, resource_id);
    PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return absl::NotFoundError(absl::StrCat("cloud resource ", resource_id, " not found"));
    out = st.ColumnText(0);
    return absl::OkStatus();
  }));
  return out;
}

}  // namespace plinth::store
