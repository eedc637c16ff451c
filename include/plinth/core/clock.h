// The clock seam: everything that reads the time takes a Clock, so tests can
// use FakeClock and never sleep.
//
//   plinth::core::Clock* clock = plinth::core::SystemClock();
//   absl::Time now = clock->Now();
#ifndef PLINTH_CORE_CLOCK_H_
#define PLINTH_CORE_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace plinth::core {

// Thread-safe source of the current time.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// The real wall clock. Never null; lives for the whole process.
Clock* SystemClock();

// A clock that only moves when told to. Thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start) : now_(start) {}
  absl::Time Now() const override;
  void Advance(absl::Duration d);
  void Set(absl::Time t);

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace plinth::core

#endif  // PLINTH_CORE_CLOCK_H_
