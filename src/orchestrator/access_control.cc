#include "plinth/orchestrator/access_control.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "plinth/core/status_macros.h"

namespace plinth::orchestrator {
namespace {

int Rank(absl::string_view role) {
  if (role == "viewer") return 1;
  if (role == "operator") return 2;
  if (role == "admin") return 3;
  return 0;  // use: not a rank
}

}  // namespace

absl::string_view RoleName(Role r) {
  switch (r) {
    case Role::kViewer: return "viewer";
    case Role::kOperator: return "operator";
    case Role::kAdmin: return "admin";
  }
  return "?";
}

std::string AccessScope::ToString() const {
  if (global) return "*";
  std::string s = org;
  if (!env.empty()) absl::StrAppend(&s, "/", env);
  if (!kind.empty()) absl::StrAppend(&s, "/", kind, "/", name);
  return s;
}

AccessControl::AccessControl(store::GrantStore* grants, std::function<bool(const std::string&)> unscoped)
    : store_(grants), unscoped_(std::move(unscoped)) {}

absl::Status AccessControl::Load() {
  PLINTH_ASSIGN_OR_RETURN(std::vector<store::GrantRecord> all, store_->List(""));
  absl::MutexLock lock(&mu_);
  by_identity_.clear();
  for (auto& g : all) by_identity_[g.identity].push_back(std::move(g));
  return absl::OkStatus();
}

absl::StatusOr<AccessScope> AccessControl::ParseScope(absl::string_view text) {
  if (text == "*") return AccessScope::Everything();
  std::vector<std::string> parts = absl::StrSplit(text, '/');
  for (const auto& p : parts) {
    if (p.empty() || p == "*") {
      return absl::InvalidArgumentError(absl::StrCat("scope: \"", text.substr(0, 200),
                                                     "\" is not *, ORG, ORG/ENV or ORG/ENV/KIND/NAME"));
    }
  }
  switch (parts.size()) {
    case 1: return AccessScope::Org(parts[0]);
    case 2: return AccessScope::Env(parts[0], parts[1]);
    case 4: return AccessScope::Resource(parts[0], parts[1], parts[2], parts[3]);
    default:
      return absl::InvalidArgumentError(absl::StrCat("scope: \"", text.substr(0, 200),
                                                     "\" is not *, ORG, ORG/ENV or ORG/ENV/KIND/NAME"));
  }
}

bool AccessControl::Covers(const AccessScope& g, const AccessScope& t) {
  if (g.global) return true;
  if (t.global || g.org != t.org) return false;
  if (g.env.empty()) return true;
  if (g.env != t.env) return false;
  if (g.kind.empty()) return true;
  return g.kind == t.kind && g.name == t.name;
}

bool AccessControl::Allowed(const std::string& identity, Role need, const AccessScope& scope) const {
  if (unscoped_(identity)) return true;
  absl::MutexLock lock(&mu_);
  auto it = by_identity_.find(identity);
  if (it == by_identity_.end()) return false;
  for (const auto& g : it->second) {
    if (Rank(g.role) < static_cast<int>(need)) continue;
    auto gs = ParseScope(g.scope);
    if (gs.ok() && Covers(*gs, scope)) return true;
  }
  return false;
}

absl::Status AccessControl::Require(const std::string& identity, Role need, const AccessScope& scope,
                                    absl::string_view what) const {
  if (Allowed(identity, need, scope)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(identity, " may not ", what, ": it needs ", RoleName(need), " on ",
                                                  scope.ToString(), " (or a scope around it); see plinth grant list"));
}

absl::Status AccessControl::RequireUse(const std::string& identity, const std::string& org,
                                       const std::string& connection) const {
  if (Allowed(identity, Role::kAdmin, AccessScope::Org(org))) return absl::OkStatus();
  const std::string full = absl::StrCat(org, "/", connection);
  {
    absl::MutexLock lock(&mu_);
    auto it = by_identity_.find(identity);
    if (it != by_identity_.end()) {
      for (const auto& g : it->second) {
        if (g.role == "use" && g.scope == full) return absl::OkStatus();
      }
    }
  }
  return absl::PermissionDeniedError(absl::StrCat(identity, " may not use connection ", full,
                                                  " in admin mode: it needs use on ", full, " or admin on ", org));
}

bool AccessControl::SeesAnyOf(const std::string& identity, const std::string& org) const {
  if (unscoped_(identity)) return true;
  absl::MutexLock lock(&mu_);
  auto it = by_identity_.find(identity);
  if (it == by_identity_.end()) return false;
  for (const auto& g : it->second) {
    if (g.role == "use") continue;
    auto gs = ParseScope(g.scope);
    if (gs.ok() && (gs->global || gs->org == org)) return true;
  }
  return false;
}

absl::StatusOr<store::GrantRecord> AccessControl::Grant(const std::string& actor, const std::string& identity,
                                                       const std::string& role, const std::string& scope) {
  if (identity.empty()) return absl::InvalidArgumentError("identity: required (a name of the token file)");
  if (role != "viewer" && role != "operator" && role != "admin" && role != "use") {
    return absl::InvalidArgumentError(absl::StrCat("role: \"", role.substr(0, 50),
                                                   "\" is not viewer, operator, admin or use"));
  }
  if (role == "use") {
    std::vector<std::string> parts = absl::StrSplit(scope, '/');
    if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) {
      return absl::InvalidArgumentError("scope: use is granted on a connection, ORG/NAME");
    }
    PLINTH_RETURN_IF_ERROR(Require(actor, Role::kAdmin, AccessScope::Org(parts[0]), "grant use of " + scope));
  } else {
    PLINTH_ASSIGN_OR_RETURN(AccessScope s, ParseScope(scope));
    PLINTH_RETURN_IF_ERROR(Require(actor, Role::kAdmin, s, absl::StrCat("grant ", role, " on ", scope)));
  }
  PLINTH_ASSIGN_OR_RETURN(store::GrantRecord g, store_->Create({"", identity, role, scope, {}, ""}, actor));
  absl::MutexLock lock(&mu_);
  by_identity_[identity].push_back(g);
  return g;
}

absl::StatusOr<store::GrantRecord> AccessControl::Revoke(const std::string& actor, const std::string& id) {
  std::optional<store::GrantRecord> found;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [who, list] : by_identity_) {
      for (const auto& g : list) {
        if (g.id == id) found = g;
      }
    }
  }
  if (!found) return absl::NotFoundError(absl::StrCat("grant ", id.substr(0, 100), " not found"));
  if (found->role == "use") {
    PLINTH_RETURN_IF_ERROR(Require(actor, Role::kAdmin, AccessScope::Org(found->scope.substr(0, found->scope.find('/'))),
                                   "revoke use of " + found->scope));
  } else {
    PLINTH_ASSIGN_OR_RETURN(AccessScope s, ParseScope(found->scope));
    PLINTH_RETURN_IF_ERROR(Require(actor, Role::kAdmin, s, "revoke a grant on " + found->scope));
  }
  PLINTH_ASSIGN_OR_RETURN(store::GrantRecord g, store_->Delete(id, actor));
  absl::MutexLock lock(&mu_);
  auto& list = by_identity_[g.identity];
  list.erase(std::remove_if(list.begin(), list.end(), [&](const store::GrantRecord& r) { return r.id == id; }),
             list.end());
  return g;
}

absl::StatusOr<std::vector<store::GrantRecord>> AccessControl::List(const std::string& actor,
                                                                   const std::string& identity) const {
  std::map<std::string, std::vector<store::GrantRecord>> all;
  {
    absl::MutexLock lock(&mu_);
    all = by_identity_;
  }
  std::vector<store::GrantRecord> out;
  for (const auto& [who, list] : all) {
    if (!identity.empty() && who != identity) continue;
    for (const auto& g : list) {
      bool visible = who == actor;
      if (!visible) {
        AccessScope s;
        if (g.role == "use") {
          s = AccessScope::Org(g.scope.substr(0, g.scope.find('/')));
        } else {
          auto parsed = ParseScope(g.scope);
          if (!parsed.ok()) continue;
          s = *parsed;
        }
        visible = Allowed(actor, Role::kAdmin, s);
      }
      if (visible) out.push_back(g);
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.created_at < b.created_at; });
  return out;
}

}  // namespace plinth::orchestrator
