// Naming rules for cloud resources.
//
// org, env (and the names plinth gives its own objects: projects, connections)
// are DNS-label-like: 1 to 63 characters of lowercase letters, digits and '-',
// starting with a letter and ending with a letter or digit. A cloud
// resource's metadata.name is Planton's: any text but '/' and control
// characters, without leading or trailing spaces, at most 253 characters
// ("example.com", "analytics_db"); engines, state keys and file paths use its
// slug. Label keys and values follow Kubernetes' rules.
//
//   PLINTH_RETURN_IF_ERROR(CheckName("metadata.org", org));
//   PLINTH_RETURN_IF_ERROR(CheckResourceName("metadata.name", name));
//   ResourceSlug("example.com");  // "example-com"
#ifndef PLINTH_MANIFEST_NAMES_H_
#define PLINTH_MANIFEST_NAMES_H_

#include <string>

#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace plinth::manifest {

// The rule, as shown in errors.
inline constexpr absl::string_view kNameRule =
    "1-63 lowercase letters, digits and '-', starting with a letter and ending "
    "with a letter or digit";

bool IsValidName(absl::string_view value);

// OK, or INVALID_ARGUMENT "<field_path>: \"<value>\" is not a valid name: <rule>".
absl::Status CheckName(absl::string_view field_path, absl::string_view value);

// The rule of a cloud resource's metadata.name, as shown in errors.
inline constexpr absl::string_view kResourceNameRule =
    "at most 253 characters, no '/' or control characters, no leading or trailing spaces";

bool IsValidResourceName(absl::string_view value);

// OK, or INVALID_ARGUMENT "<field_path>: required" / "<field_path>: <value>
// is not a valid resource name: <rule>" (the value shown quoted and escaped).
absl::Status CheckResourceName(absl::string_view field_path, absl::string_view value);

// Lowercase ASCII letters and digits of `text`, every run of other
// characters one '-', none at either end; "" when nothing is left.
std::string Slugify(absl::string_view text);

// The name as engines, workspaces, state keys and Pulumi stacks see it:
// lowercase ASCII letters and digits, every run of other characters becomes
// one '-', no '-' at either end ("Example.com" -> "example-com",
// "analytics_db" -> "analytics-db"). A name without a letter or digit gets
// "r-" and a hash of its bytes, so it is never empty. A valid DNS-label name is
// its own slug.
std::string ResourceSlug(absl::string_view name);

// A value quoted and escaped for an error message (bounded; NULs and control
// characters escaped).
std::string QuoteForError(absl::string_view value);

// Label key: an optional DNS-subdomain prefix and '/', then a name of 1-63
// characters [A-Za-z0-9._-] starting and ending alphanumeric.
absl::Status CheckLabelKey(absl::string_view field_path, absl::string_view key);

// Label value: empty, or up to 63 characters [A-Za-z0-9._-] starting and
// ending alphanumeric.
absl::Status CheckLabelValue(absl::string_view field_path, absl::string_view value);

}  // namespace plinth::manifest

#endif  // PLINTH_MANIFEST_NAMES_H_
