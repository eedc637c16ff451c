// Naming rules for cloud resources.
//
// metadata.name, org and env are DNS-label-like: 1 to 63 characters of
// lowercase letters, digits and '-', starting with a letter and ending with a
// letter or digit. Label keys and values follow Kubernetes' rules.
//
//   PLINTH_RETURN_IF_ERROR(CheckName("metadata.name", name));
#ifndef PLINTH_MANIFEST_NAMES_H_
#define PLINTH_MANIFEST_NAMES_H_

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

// Label key: an optional DNS-subdomain prefix and '/', then a name of 1-63
// characters [A-Za-z0-9._-] starting and ending alphanumeric.
absl::Status CheckLabelKey(absl::string_view field_path, absl::string_view key);

// Label value: empty, or up to 63 characters [A-Za-z0-9._-] starting and
// ending alphanumeric.
absl::Status CheckLabelValue(absl::string_view field_path, absl::string_view value);

}  // namespace plinth::manifest

#endif  // PLINTH_MANIFEST_NAMES_H_
