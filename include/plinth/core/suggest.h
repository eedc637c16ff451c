// "Did you mean" suggestions for misspelled names in errors.
//
//   std::string s = ClosestMatch("vpcCdir", {"vpcCidr", "subnetSize"});  // "vpcCidr"
#ifndef PLINTH_CORE_SUGGEST_H_
#define PLINTH_CORE_SUGGEST_H_

#include <string>
#include "absl/strings/string_view.h"
#include <vector>

namespace plinth::core {

// Case-insensitive Levenshtein distance.
size_t EditDistance(absl::string_view a, absl::string_view b);

// The candidate closest to `word`, or "" when none is within about a third of
// the word's length (at least 3 edits are always allowed).
std::string ClosestMatch(absl::string_view word, const std::vector<std::string>& candidates);

}  // namespace plinth::core

#endif  // PLINTH_CORE_SUGGEST_H_
