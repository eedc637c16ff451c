#include "plinth/manifest/names.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace plinth::manifest {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// Kubernetes "qualified name" part: [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, <= 63.
bool IsQualifiedNamePart(absl::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!absl::ascii_isalnum(s.front()) || !absl::ascii_isalnum(s.back())) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

bool IsDnsSubdomain(absl::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  if (!IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '-' && c != '.') return false;
  }
  return true;
}

std::string Quote(absl::string_view v) { return QuoteForError(v); }

}  // namespace

std::string QuoteForError(absl::string_view v) {
  // Keep errors readable and bounded even for hostile input.
  std::string shown(v.substr(0, 80));
  if (v.size() > 80) shown += "...";
  return absl::StrCat("\"", absl::CEscape(shown), "\"");
}

bool IsValidResourceName(absl::string_view value) {
  if (value.empty() || value.size() > 253) return false;
  if (absl::ascii_isspace(value.front()) || absl::ascii_isspace(value.back())) return false;
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if (c == '/' || u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

absl::Status CheckResourceName(absl::string_view field_path, absl::string_view value) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(field_path, ": required"));
  if (IsValidResourceName(value)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field_path, ": ", Quote(value),
                                                 " is not a valid resource name: use ",
                                                 kResourceNameRule));
}

std::string Slugify(absl::string_view text) {
  std::string out;
  bool dash = false;
  for (char c : text) {
    char l = absl::ascii_tolower(c);
    if (IsLowerAlnum(l)) {
      if (dash && !out.empty()) out += '-';
      dash = false;
      out += l;
    } else {
      dash = true;
    }
  }
  return out;
}

std::string ResourceSlug(absl::string_view name) {
  std::string out = Slugify(name);
  if (out.empty()) {
    // FNV-1a: stable across builds and platforms.
    uint64_t h = 1469598103934665603ull;
    for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    out = absl::StrCat("r-", absl::Hex(h, absl::kZeroPad16));
  }
  return out;
}

bool IsValidName(absl::string_view value) {
  if (value.empty() || value.size() > 63) return false;
  if (value.front() < 'a' || value.front() > 'z') return false;
  if (!IsLowerAlnum(value.back())) return false;
  for (char c : value) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

absl::Status CheckName(absl::string_view field_path, absl::string_view value) {
  if (value.empty()) return absl::InvalidArgumentError(absl::StrCat(field_path, ": required"));
  if (IsValidName(value)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field_path, ": ", Quote(value),
                                                 " is not a valid name: use ", kNameRule));
}

absl::Status CheckLabelKey(absl::string_view field_path, absl::string_view key) {
  absl::string_view name = key;
  bool ok = true;
  if (size_t slash = key.find('/'); slash != absl::string_view::npos) {
    ok = IsDnsSubdomain(key.substr(0, slash));
    name = key.substr(slash + 1);
  }
  if (ok && IsQualifiedNamePart(name)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      field_path, ": ", Quote(key),
      " is not a valid label key: use an optional DNS prefix and '/', then 1-63 "
      "characters [A-Za-z0-9._-] starting and ending with a letter or digit"));
}

absl::Status CheckLabelValue(absl::string_view field_path, absl::string_view value) {
  if (value.empty() || IsQualifiedNamePart(value)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      field_path, ": ", Quote(value),
      " is not a valid label value: use at most 63 characters [A-Za-z0-9._-] "
      "starting and ending with a letter or digit"));
}

}  // namespace plinth::manifest
