#include "plinth/engine/module_source.h"

#include "absl/strings/match.h"

namespace plinth::engine {

bool IsGitUrl(const std::string& source) {
  return absl::StartsWith(source, "file://") || absl::StartsWith(source, "https://") ||
         absl::StartsWith(source, "http://") || absl::StartsWith(source, "ssh://");
}

}  // namespace plinth::engine
