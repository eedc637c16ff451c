// A fixed pool of worker threads running submitted closures in FIFO order.
//
// The gRPC layer hands every blocking call (SQLite, files) to a ThreadPool so
// that callback reactors never block:
//
//   ThreadPool pool(8, "api");
//   pool.Submit([reactor] { ...; reactor->Finish(grpc::Status::OK); });
#ifndef PLINTH_CORE_THREAD_POOL_H_
#define PLINTH_CORE_THREAD_POOL_H_

#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace plinth::core {

class ThreadPool {
 public:
  // Starts `threads` workers (at least 1).
  ThreadPool(int threads, std::string name);
  // Runs every closure already submitted, then joins the workers.
  ~ThreadPool();

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues `fn`. Thread-safe. Closures submitted after destruction began are
  // still run before the destructor returns.
  void Submit(std::function<void()> fn);

  // Closures waiting for a worker.
  size_t QueueDepth() const;

 private:
  void WorkerLoop();

  const std::string name_;
  mutable absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace plinth::core

#endif  // PLINTH_CORE_THREAD_POOL_H_
