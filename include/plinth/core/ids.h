// Identifiers for stored objects: a short prefix naming what the object is and
// 20 random base32 characters (100 bits), e.g. "cr-7k2m9q4x1f0c3h8w5t6y".
#ifndef PLINTH_CORE_IDS_H_
#define PLINTH_CORE_IDS_H_

#include <string>
#include "absl/strings/string_view.h"

namespace plinth::core {

// Returns `prefix` + "-" + 20 random lowercase base32 characters. Thread-safe.
std::string NewId(absl::string_view prefix);

}  // namespace plinth::core

#endif  // PLINTH_CORE_IDS_H_
