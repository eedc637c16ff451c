// YAML <-> JSON for manifests.
//
// Manifests arrive as multi-document YAML (or JSON, which is parsed the same
// way) and are handled inside plinth as nlohmann::json values:
//
//   absl::StatusOr<std::vector<YamlDocument>> docs =
//       ParseYamlDocuments(text, "vpc.yaml");
//   std::string yaml = JsonToYaml(docs->front().value);
//
// Scalars follow the YAML 1.2 core schema: plain `true`/`false`, `null`/`~`,
// integers (decimal, 0x, 0o) and floats become typed JSON values; quoted
// scalars and everything else are strings. Duplicate keys, non-scalar keys,
// NUL bytes, nesting deeper than kMaxYamlDepth and documents that expand (via
// aliases) to more than kMaxYamlNodes nodes are errors.
#ifndef PLINTH_MANIFEST_YAML_H_
#define PLINTH_MANIFEST_YAML_H_

#include <limits>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace plinth::manifest {

inline constexpr int kMaxYamlDepth = 128;
inline constexpr int kMaxYamlNodes = 1'000'000;

struct YamlDocument {
  nlohmann::json value;
  // 1-based line where the document starts.
  int line = 1;
};

// Parses every document of `text`. Documents that are empty (only comments or
// nothing between `---` markers) are kept as JSON null so that document
// numbers stay what the user sees. On error returns INVALID_ARGUMENT with
// "<source_name>: line L, column C: <what>", also at the first document
// past `max_documents` (empty ones do not count). Thread-safe.
absl::StatusOr<std::vector<YamlDocument>> ParseYamlDocuments(
    absl::string_view text, absl::string_view source_name,
    size_t max_documents = std::numeric_limits<size_t>::max());

// Renders `value` as block-style YAML, keys in the order of the JSON object.
// Strings that would read back as another type are quoted.
std::string JsonToYaml(const nlohmann::json& value);

}  // namespace plinth::manifest

#endif  // PLINTH_MANIFEST_YAML_H_
