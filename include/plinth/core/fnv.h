// FNV-1a, 64 bits: a hash stable across builds and restarts (unlike
// std::hash), for fingerprints that are stored or handed to clients.
#ifndef PLINTH_CORE_FNV_H_
#define PLINTH_CORE_FNV_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace plinth::core {

inline uint64_t Fnv1a64(absl::string_view bytes) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace plinth::core

#endif  // PLINTH_CORE_FNV_H_
