#include "plinth/store/flow_control_store.h"

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "plinth/core/status_macros.h"
#include "pipeline_rows.h"

namespace plinth::store {
namespace {

using nlohmann::json;

std::string ScopeOf(const FlowControlPolicy& p) {
  if (p.env.empty()) return "org";
  if (p.kind.empty()) return "env";
  return "resource";
}

std::string ScopeName(const std::string& org, const std::string& env, const std::string& kind,
                      const std::string& name) {
  if (env.empty()) return absl::StrCat("org ", org);
  if (kind.empty()) return absl::StrCat("env ", org, "/", env);
  return absl::StrCat("resource ", org, "/", env, "/", kind, "/", name);
}

FlowControlPolicy Read(const Statement& st) {
  FlowControlPolicy p;
  p.org = st.ColumnText(0);
  p.env = st.ColumnText(1);
  p.kind = st.ColumnText(2);
  p.name = st.ColumnText(3);
  json j = json::parse(st.ColumnText(4), nullptr, false);
  if (j.is_object()) {
    p.is_manual = j.value("isManual", false);
    p.preview_before_update_or_destroy = j.value("previewBeforeUpdateOrDestroy", true);
    p.pause_between_preview_and_update_or_destroy = j.value("pauseBetweenPreviewAndUpdateOrDestroy", false);
    p.skip_refresh = j.value("skipRefresh", false);
    p.disable_on_lifecycle_events = j.value("disableOnLifecycleEvents", false);
    p.requires_manual_gate = j.value("requiresManualGate", false);
  }
  p.updated_at = absl::FromUnixMicros(st.ColumnInt64(5));
  p.updated_by = st.ColumnText(6);
  p.scope = ScopeOf(p);
  return p;
}

constexpr char kSelect[] =
    "SELECT org, env, kind, name, policy, updated_at, updated_by FROM flow_control_policies ";

absl::StatusOr<std::optional<FlowControlPolicy>> Find(Connection& c, const std::string& org, const std::string& env,
                                                      const std::string& kind, const std::string& name) {
  Statement& st = c.Prepare(absl::StrCat(kSelect, "WHERE org = ? AND env = ? AND kind = ? AND name = ?"));
  st.Bind(1, org);
  st.Bind(2, env);
  st.Bind(3, kind);
  st.Bind(4, name);
  PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<FlowControlPolicy>();
  auto p = Read(st);
  st.Reset();
  return std::optional<FlowControlPolicy>(std::move(p));
}

absl::Status CheckScope(const std::string& org, const std::string& env, const std::string& kind,
                        const std::string& name) {
  if (org.empty()) return absl::InvalidArgumentError("org: required");
  if (kind.empty() != name.empty()) {
    return absl::InvalidArgumentError(kind.empty() ? "kind: required with name (a resource scope names both)"
                                                   : "name: required with kind (a resource scope names both)");
  }
  if (env.empty() && !kind.empty()) return absl::InvalidArgumentError("env: required for a resource scope");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<FlowControlPolicy> FlowControlStore::Set(FlowControlPolicy p, const std::string& actor) {
  PLINTH_RETURN_IF_ERROR(CheckScope(p.org, p.env, p.kind, p.name));
  if (!p.preview_before_update_or_destroy && p.pause_between_preview_and_update_or_destroy) {
    return absl::InvalidArgumentError(
        "pause_between_preview_and_update_or_destroy: needs preview_before_update_or_destroy (there is no plan to "
        "pause after)");
  }
  if (p.requires_manual_gate && !p.kind.empty()) {
    return absl::InvalidArgumentError(
        "requires_manual_gate: a pipeline gate is set for an org or env; for one resource use is_manual");
  }
  p.scope = ScopeOf(p);
  p.updated_at = clock_->Now();
  p.updated_by = actor;
  json j = {{"isManual", p.is_manual},
            {"previewBeforeUpdateOrDestroy", p.preview_before_update_or_destroy},
            {"pauseBetweenPreviewAndUpdateOrDestroy", p.pause_between_preview_and_update_or_destroy},
            {"skipRefresh", p.skip_refresh},
            {"disableOnLifecycleEvents", p.disable_on_lifecycle_events},
            {"requiresManualGate", p.requires_manual_gate}};
  PLINTH_RETURN_IF_ERROR(db_->Write([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(
        "INSERT INTO flow_control_policies (org, env, kind, name, policy, updated_at, updated_by) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (org, env, kind, name) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at, updated_by = excluded.updated_by");
    st.Bind(1, p.org);
    st.Bind(2, p.env);
    st.Bind(3, p.kind);
    st.Bind(4, p.name);
    st.Bind(5, j.dump());
    st.Bind(6, absl::ToUnixMicros(p.updated_at));
    st.Bind(7, actor);
    PLINTH_RETURN_IF_ERROR(st.Run());
    return internal::Audit(c, "flow_control.set", "flow_control_policy", ScopeName(p.org, p.env, p.kind, p.name),
                           j.dump(), actor, p.updated_at);
  }));
  return p;
}

absl::StatusOr<FlowControlPolicy> FlowControlStore::Get(const std::string& org, const std::string& env,
                                                        const std::string& kind, const std::string& name) const {
  PLINTH_RETURN_IF_ERROR(CheckScope(org, env, kind, name));
  std::optional<FlowControlPolicy> out;
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    PLINTH_ASSIGN_OR_RETURN(out, Find(c, org, env, kind, name));
    return absl::OkStatus();
  }));
  if (!out) return absl::NotFoundError(absl::StrCat("no flow-control policy for ", ScopeName(org, env, kind, name)));
  return std::move(*out);
}

absl::StatusOr<FlowControlPolicy> FlowControlStore::Effective(const std::string& org, const std::string& env,
                                                              const std::string& kind, const std::string& name) const {
  std::optional<FlowControlPolicy> out;
  PLINTH_RETURN_IF_ERROR(db_->ReadSnapshot([&](Connection& c) -> absl::Status {
    if (!kind.empty()) {
      PLINTH_ASSIGN_OR_RETURN(out, Find(c, org, env, kind, name));
    }
    if (!out && !env.empty()) {
      PLINTH_ASSIGN_OR_RETURN(out, Find(c, org, env, "", ""));
    }
    if (!out) {
      PLINTH_ASSIGN_OR_RETURN(out, Find(c, org, "", "", ""));
    }
    return absl::OkStatus();
  }));
  if (out) return std::move(*out);
  FlowControlPolicy defaults;
  defaults.org = org;
  defaults.env = env;
  defaults.kind = kind;
  defaults.name = name;
  defaults.scope = "default";
  return defaults;
}

absl::StatusOr<std::vector<FlowControlPolicy>> FlowControlStore::List(const std::string& org) const {
  std::vector<FlowControlPolicy> out;
  PLINTH_RETURN_IF_ERROR(db_->Read([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare(absl::StrCat(kSelect, "WHERE ? = '' OR org = ? ORDER BY org, env, kind, name"));
    st.Bind(1, org);
    st.Bind(2, org);
    for (;;) {
      PLINTH_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back(Read(st));
    }
    return absl::OkStatus();
  }));
  return out;
}

absl::Status FlowControlStore::Delete(const std::string& org, const std::string& env, const std::string& kind,
                                      const std::string& name, const std::string& actor) {
  PLINTH_RETURN_IF_ERROR(CheckScope(org, env, kind, name));
  return db_->Write([&](Connection& c) -> absl::Status {
    Statement& st = c.Prepare("DELETE FROM flow_control_policies WHERE org = ? AND env = ? AND kind = ? AND name = ?");
    st.Bind(1, org);
    st.Bind(2, env);
    st.Bind(3, kind);
    st.Bind(4, name);
    PLINTH_RETURN_IF_ERROR(st.Run());
    if (c.Changes() == 0) {
      return absl::NotFoundError(absl::StrCat("no flow-control policy for ", ScopeName(org, env, kind, name)));
    }
    return internal::Audit(c, "flow_control.delete", "flow_control_policy", ScopeName(org, env, kind, name), "",
                           actor, clock_->Now());
  });
}

}  // namespace plinth::store
