#include "plinth/engine/redactor.h"

#include <algorithm>
#include <set>

#include "nlohmann/json.hpp"

namespace plinth::engine {

Redactor::Redactor(const std::vector<std::string>& secrets) {
  std::set<std::string> unique;
  for (const auto& s : secrets) {
    if (s.size() < 4) continue;
    unique.insert(s);
    // The form the secret takes inside JSON output (quotes, backslashes,
    // newlines escaped).
    std::string escaped = nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    escaped = escaped.substr(1, escaped.size() - 2);
    if (escaped != s) unique.insert(escaped);
    // Multi-line secrets (keys, kubeconfigs) also leak line by line.
    size_t start = 0;
    for (size_t nl = s.find('\n'); nl != std::string::npos; nl = s.find('\n', start)) {
      if (nl - start >= 8) unique.insert(s.substr(start, nl - start));
      start = nl + 1;
    }
    if (start > 0 && s.size() - start >= 8) unique.insert(s.substr(start));
  }
  patterns_.assign(unique.begin(), unique.end());
  std::sort(patterns_.begin(), patterns_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::string Redactor::Redact(absl::string_view text) const {
  std::string out(text);
  if (patterns_.empty()) return out;
  for (const auto& p : patterns_) {
    size_t pos = 0;
    while ((pos = out.find(p, pos)) != std::string::npos) {
      out.replace(pos, p.size(), kRedacted.data(), kRedacted.size());
      pos += kRedacted.size();
    }
  }
  return out;
}

}  // namespace plinth::engine
