#include "plinth/core/timer.h"

#include "absl/time/clock.h"

namespace plinth::core {

Timer::Timer() : thread_([this] { Loop(); }) {}

Timer::~Timer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void Timer::After(absl::Duration delay, std::function<void()> fn) {
  absl::MutexLock lock(&mu_);
  due_.emplace(absl::Now() + delay, std::move(fn));
}

void Timer::Loop() {
  for (;;) {
    std::function<void()> fn;
    {
      absl::MutexLock lock(&mu_);
      for (;;) {
        if (stopping_) return;
        if (!due_.empty() && due_.begin()->first <= absl::Now()) break;
        // Wake at the earliest due time, and at least every 20 ms so that an
        // earlier closure added meanwhile is not late by much.
        absl::Time wake = absl::Now() + absl::Milliseconds(20);
        if (!due_.empty() && due_.begin()->first < wake) wake = due_.begin()->first;
        mu_.AwaitWithDeadline(absl::Condition(+[](bool* s) { return *s; }, &stopping_), wake);
      }
      fn = std::move(due_.begin()->second);
      due_.erase(due_.begin());
    }
    fn();
  }
}

}  // namespace plinth::core
