// Flow-control policies at org, env or resource scope. The most specific
// stored policy applies whole (no merging across scopes).
//
// Thread-safe; every method blocks on SQLite.
#ifndef PLINTH_STORE_FLOW_CONTROL_STORE_H_
#define PLINTH_STORE_FLOW_CONTROL_STORE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "plinth/core/clock.h"
#include "plinth/store/database.h"

namespace plinth::store {

struct FlowControlPolicy {
  std::string org, env, kind, name;  // env "" = org scope; kind/name "" = env scope
  std::string scope;                 // org, env, resource, or default (none stored)
  bool is_manual = false;
  bool preview_before_update_or_destroy = true;
  bool pause_between_preview_and_update_or_destroy = false;
  bool skip_refresh = false;
  bool disable_on_lifecycle_events = false;
  bool requires_manual_gate = false;
  absl::Time updated_at;
  std::string updated_by;
};

class FlowControlStore {
 public:
  FlowControlStore(Database* db, core::Clock* clock) : db_(db), clock_(clock) {}

  // Creates or replaces the policy at its scope (audited).
  absl::StatusOr<FlowControlPolicy> Set(FlowControlPolicy policy, const std::string& actor);
  // Exactly this scope; NOT_FOUND when none is stored.
  absl::StatusOr<FlowControlPolicy> Get(const std::string& org, const std::string& env, const std::string& kind,
                                        const std::string& name) const;
  // The resource's own policy, else its env's, else its org's, else the
  // defaults (scope "default"). With kind and name empty: env, then org.
  absl::StatusOr<FlowControlPolicy> Effective(const std::string& org, const std::string& env,
                                              const std::string& kind, const std::string& name) const;
  // "" = every org.
  absl::StatusOr<std::vector<FlowControlPolicy>> List(const std::string& org) const;
  absl::Status Delete(const std::string& org, const std::string& env, const std::string& kind,
                      const std::string& name, const std::string& actor);

 private:
  Database* db_;
  core::Clock* clock_;
};

}  // namespace plinth::store

#endif  // PLINTH_STORE_FLOW_CONTROL_STORE_H_
