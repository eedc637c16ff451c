#include "plinth/core/ids.h"

#include <random>

#include "absl/synchronization/mutex.h"

namespace plinth::core {

std::string NewId(absl::string_view prefix) {
  static constexpr char kAlphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
  static absl::Mutex mu;
  static std::mt19937_64* rng ABSL_GUARDED_BY(mu) = [] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return new std::mt19937_64(seq);
  }();
  uint64_t a, b;
  {
    absl::MutexLock lock(&mu);
    a = (*rng)();
    b = (*rng)();
  }
  std::string id(prefix);
  id.push_back('-');
  for (int i = 0; i < 20; ++i) {
    uint64_t& src = i < 12 ? a : b;
    id.push_back(kAlphabet[src & 31]);
    src >>= 5;
  }
  return id;
}

}  // namespace plinth::core
