// Runs closures after a delay on one background thread. For short
// non-blocking work (rescheduling a poll); blocking work goes to a ThreadPool.
//
//   Timer timer;
//   timer.After(absl::Milliseconds(100), [] { ... });
#ifndef PLINTH_CORE_TIMER_H_
#define PLINTH_CORE_TIMER_H_

#include <functional>
#include <map>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace plinth::core {

class Timer {
 public:
  Timer();
  // Runs nothing more; pending closures are dropped.
  ~Timer();
  void After(absl::Duration delay, std::function<void()> fn);

 private:
  void Loop();
  absl::Mutex mu_;
  std::multimap<absl::Time, std::function<void()>> due_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace plinth::core

#endif  // PLINTH_CORE_TIMER_H_
