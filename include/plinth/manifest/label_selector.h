// Label selectors, as in Kubernetes: comma-separated requirements that must
// all hold.
//
//   k=v or k==v   the label k is v
//   k!=v          the label k is missing or not v
//   k             the label k is present
//   !k            the label k is missing
//
//   auto sel = ParseLabelSelector("tier=web,env!=prod");
//   bool ok = Matches(*sel, labels);
#ifndef PLINTH_MANIFEST_LABEL_SELECTOR_H_
#define PLINTH_MANIFEST_LABEL_SELECTOR_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace plinth::manifest {

struct LabelRequirement {
  enum class Op { kEquals, kNotEquals, kExists, kNotExists };
  std::string key;
  Op op = Op::kEquals;
  std::string value;  // for kEquals and kNotEquals
};

// INVALID_ARGUMENT "label_selector: ..." on a malformed selector or a key or
// value that breaks the label rules. An empty selector selects everything.
absl::StatusOr<std::vector<LabelRequirement>> ParseLabelSelector(absl::string_view selector);

bool Matches(const std::vector<LabelRequirement>& selector,
             const std::map<std::string, std::string>& labels);

}  // namespace plinth::manifest

#endif  // PLINTH_MANIFEST_LABEL_SELECTOR_H_
