// Engine output, parsed from the engines' machine-readable streams into typed
// events: Terraform/OpenTofu `-json` UI lines and `show -json` plans, Pulumi
// engine events (`--json` / event log). Unknown message types and keys are
// kept (kind kUnknown with the message), never an error; a line that is not
// JSON is kNotJson and is logged as it is.
//
//   EngineEvent e = ParseTerraformLine(line);
//   if (e.summary) ...   // "Plan: 1 to add, 0 to change, 0 to destroy."
#ifndef PLINTH_ENGINE_ENGINE_EVENTS_H_
#define PLINTH_ENGINE_ENGINE_EVENTS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace plinth::engine {

// Counted as OpenTofu's plan counts them: a replace is one replace (not an
// add plus a destroy), and every other action has its own count.
struct ChangeSummary {
  int add = 0;
  int change = 0;
  int remove = 0;
  int replace = 0;
  std::string operation;  // plan, apply, destroy, update, preview ...
  int no_op = 0;
  int read = 0;
  int import = 0;   // resources being imported (with or without a change)
  int move = 0;     // resources whose address changes (previous_address)
  int forget = 0;   // removed from state, left in the cloud
  // "1 to add, 0 to change, 0 to destroy, 1 to replace", then the import,
  // move and forget counts that are not zero.
  std::string Describe() const;
};

// One output of a plan (`output_changes`): values of sensitive outputs are
// never kept.
struct OutputChange {
  std::string name;
  std::string action;  // create, update, delete, no-op
  bool known_after_apply = false;
  bool sensitive = false;
  nlohmann::json after;  // null when sensitive or unknown
};

struct ResourceChange {
  // Terraform resource address ("aws_vpc.this") or Pulumi URN.
  std::string address;
  std::string type;
  // create, update, delete, replace, read, no-op (Terraform); create, same,
  // update, delete, replace ... (Pulumi's op).
  std::string action;
  // planned, started, progress, complete, errored
  std::string status;
  double elapsed_seconds = 0;
  std::string id;
  // From plans: the engine's own actions (["create","delete"] replaces
  // creating first, ["delete","create"] deleting first), why
  // (action_reason), the address it moves from, the deposed object's key,
  // and whether it is being imported.
  std::vector<std::string> actions;
  std::string action_reason;
  std::string previous_address;
  std::string deposed;
  bool importing = false;
};

struct Diagnostic {
  std::string severity;  // error, warning, info
  std::string summary;
  std::string detail;
  std::string address;
};

struct EngineEvent {
  enum class Kind {
    kVersion,
    kLog,
    kDiagnostic,
    kResource,
    kChangeSummary,
    kOutputs,
    kCancel,
    kUnknown,
    kNotJson,
  };
  Kind kind = Kind::kUnknown;
  std::string type;     // the engine's own message type, e.g. "apply_complete"
  std::string level;    // Terraform's @level, Pulumi's severity
  std::string message;  // a human line: @message, or composed for Pulumi
  std::optional<ResourceChange> resource;
  std::optional<ChangeSummary> summary;
  std::optional<Diagnostic> diagnostic;
  nlohmann::json outputs;  // {name: {value, sensitive, type}} for kOutputs
};

EngineEvent ParseTerraformLine(absl::string_view line);
EngineEvent ParsePulumiLine(absl::string_view line);

// The plan of `terraform show -json PLANFILE`: one change per resource with
// actions (["delete","create"] is a replace), and the counts.
struct Plan {
  ChangeSummary summary;
  // Every change but a plain no-op (a no-op that moves or imports is kept).
  std::vector<ResourceChange> changes;
  std::vector<OutputChange> outputs;  // changed outputs only
  bool errored = false;               // the plan is incomplete: a failed plan
  bool has_changes() const {
    return summary.add + summary.change + summary.remove + summary.replace + summary.import + summary.move +
               summary.forget > 0 ||
           !outputs.empty();
  }
};
// INVALID_ARGUMENT for text that is not a plan (a state document, say).
absl::StatusOr<Plan> ParseTerraformPlanJson(absl::string_view text);

}  // namespace plinth::engine

#endif  // PLINTH_ENGINE_ENGINE_EVENTS_H_
