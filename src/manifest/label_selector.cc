#include "plinth/manifest/label_selector.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "plinth/core/status_macros.h"
#include "plinth/manifest/names.h"

namespace plinth::manifest {

absl::StatusOr<std::vector<LabelRequirement>> ParseLabelSelector(absl::string_view selector) {
  std::vector<LabelRequirement> out;
  if (absl::StripAsciiWhitespace(selector).empty()) return out;
  for (absl::string_view term : absl::StrSplit(selector, ',')) {
    term = absl::StripAsciiWhitespace(term);
    if (term.empty()) {
      return absl::InvalidArgumentError("label_selector: empty requirement (stray comma?)");
    }
    LabelRequirement r;
    size_t pos;
    if ((pos = term.find("!=")) != absl::string_view::npos) {
      r.op = LabelRequirement::Op::kNotEquals;
      r.key = std::string(absl::StripAsciiWhitespace(term.substr(0, pos)));
      r.value = std::string(absl::StripAsciiWhitespace(term.substr(pos + 2)));
    } else if ((pos = term.find("==")) != absl::string_view::npos) {
      r.key = std::string(absl::StripAsciiWhitespace(term.substr(0, pos)));
      r.value = std::string(absl::StripAsciiWhitespace(term.substr(pos + 2)));
    } else if ((pos = term.find('=')) != absl::string_view::npos) {
      r.key = std::string(absl::StripAsciiWhitespace(term.substr(0, pos)));
      r.value = std::string(absl::StripAsciiWhitespace(term.substr(pos + 1)));
    } else if (term[0] == '!') {
      r.op = LabelRequirement::Op::kNotExists;
      r.key = std::string(absl::StripAsciiWhitespace(term.substr(1)));
    } else {
      r.op = LabelRequirement::Op::kExists;
      r.key = std::string(term);
    }
    std::string where = absl::StrCat("label_selector \"", term, "\"");
    PLINTH_RETURN_IF_ERROR(CheckLabelKey(where, r.key));
    if (r.op == LabelRequirement::Op::kEquals || r.op == LabelRequirement::Op::kNotEquals) {
      if (r.value.find_first_of("=!") != std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": malformed requirement"));
      }
      PLINTH_RETURN_IF_ERROR(CheckLabelValue(where, r.value));
    }
    out.push_back(std::move(r));
  }
  return out;
}

bool Matches(const std::vector<LabelRequirement>& selector,
             const std::map<std::string, std::string>& labels) {
  for (const auto& r : selector) {
    auto it = labels.find(r.key);
    bool has = it != labels.end();
    switch (r.op) {
      case LabelRequirement::Op::kEquals:
        if (!has || it->second != r.value) return false;
        break;
      case LabelRequirement::Op::kNotEquals:
        if (has && it->second == r.value) return false;
        break;
      case LabelRequirement::Op::kExists:
        if (!has) return false;
        break;
      case LabelRequirement::Op::kNotExists:
        if (has) return false;
        break;
    }
  }
  return true;
}

}  // namespace plinth::manifest
