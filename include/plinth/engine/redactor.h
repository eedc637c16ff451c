// Removes secret values from text before it is stored or shown: every
// occurrence of each secret, and of its JSON-escaped form, becomes
// "[REDACTED]".
//
//   Redactor r({"AKIA...", "s3cr3t"});
//   std::string safe = r.Redact(line);
//
// Immutable after construction; thread-safe.
#ifndef PLINTH_ENGINE_REDACTOR_H_
#define PLINTH_ENGINE_REDACTOR_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace plinth::engine {

inline constexpr absl::string_view kRedacted = "[REDACTED]";

class Redactor {
 public:
  // Values shorter than 4 bytes are ignored: redacting "a" or "on" would
  // destroy every log line and protect nothing.
  explicit Redactor(const std::vector<std::string>& secrets);
  std::string Redact(absl::string_view text) const;
  bool empty() const { return patterns_.empty(); }

 private:
  std::vector<std::string> patterns_;  // longest first
};

}  // namespace plinth::engine

#endif  // PLINTH_ENGINE_REDACTOR_H_
