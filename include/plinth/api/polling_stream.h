// A server-streaming reactor fed by polling: `poll` runs on a worker (never
// on the reactor thread: it may read SQLite), returns the next messages and
// whether the stream is over after them; with nothing new it is polled again
// after `interval`. One write and one poll in flight at a time; a client
// that goes away ends it cleanly.
//
//   return new PollingStream<pb::InfraPipeline>(env.workers, &timer_, poll, absl::Milliseconds(100));
#ifndef PLINTH_API_POLLING_STREAM_H_
#define PLINTH_API_POLLING_STREAM_H_

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "plinth/api/convert.h"
#include "plinth/core/thread_pool.h"
#include "plinth/core/timer.h"

namespace plinth::api {

template <typename Msg>
class PollingStream : public grpc::ServerWriteReactor<Msg> {
 public:
  struct Batch {
    std::vector<Msg> messages;
    bool over = false;  // nothing follows these messages
  };
  using Poll = std::function<absl::StatusOr<Batch>()>;

  PollingStream(core::ThreadPool* workers, core::Timer* timer, Poll poll, absl::Duration interval)
      : state_(std::make_shared<State>()) {
    state_->self = this;
    state_->workers = workers;
    state_->timer = timer;
    state_->poll = std::move(poll);
    state_->interval = interval;
    Schedule(state_, absl::ZeroDuration());
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::recursive_mutex> lock(state_->mu);
    state_->writing = false;
    if (!ok || state_->finished) return Finish(grpc::Status::CANCELLED);
    if (!state_->queue.empty()) return WriteNext();
    if (state_->over) return Finish(grpc::Status::OK);
    Schedule(state_, state_->interval);
  }

  void OnCancel() override {
    std::lock_guard<std::recursive_mutex> lock(state_->mu);
    state_->cancelled = true;
    if (!state_->writing) Finish(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    {
      std::lock_guard<std::recursive_mutex> lock(state_->mu);
      state_->self = nullptr;
    }
    delete this;
  }

 private:
  struct State {
    std::recursive_mutex mu;
    PollingStream* self = nullptr;  // null once the reactor is done
    core::ThreadPool* workers = nullptr;
    core::Timer* timer = nullptr;
    Poll poll;
    absl::Duration interval;
    std::deque<Msg> queue;
    bool writing = false, finished = false, cancelled = false, over = false;
  };

  // Callers hold state_->mu.
  void Finish(grpc::Status status) {
    if (state_->finished) return;
    state_->finished = true;
    grpc::ServerWriteReactor<Msg>::Finish(status);
  }

  void WriteNext() {
    state_->writing = true;
    current_ = std::move(state_->queue.front());
    state_->queue.pop_front();
    this->StartWrite(&current_);
  }

  static void Schedule(const std::shared_ptr<State>& state, absl::Duration delay) {
    auto fetch = [state]() {
      absl::StatusOr<Batch> batch = state->poll();
      std::lock_guard<std::recursive_mutex> lock(state->mu);
      PollingStream* self = state->self;
      if (self == nullptr || state->finished) return;
      if (state->cancelled) return self->Finish(grpc::Status::CANCELLED);
      if (!batch.ok()) return self->Finish(ToGrpcStatus(batch.status()));
      for (auto& m : batch->messages) state->queue.push_back(std::move(m));
      state->over = batch->over;
      if (!state->writing && !state->queue.empty()) return self->WriteNext();
      if (state->queue.empty() && state->over) return self->Finish(grpc::Status::OK);
      if (state->queue.empty()) Schedule(state, state->interval);
    };
    if (delay == absl::ZeroDuration()) {
      state->workers->Submit(fetch);
    } else {
      core::ThreadPool* workers = state->workers;
      state->timer->After(delay, [workers, fetch] { workers->Submit(fetch); });
    }
  }

  std::shared_ptr<State> state_;
  Msg current_;
};

// A stream that fails at once (bad request, no credentials).
template <typename Msg>
class FailedStream : public grpc::ServerWriteReactor<Msg> {
 public:
  explicit FailedStream(const grpc::Status& s) { this->Finish(s); }
  void OnDone() override { delete this; }
};

}  // namespace plinth::api

#endif  // PLINTH_API_POLLING_STREAM_H_
