#include "plinth/core/memory_budget.h"

#include <malloc.h>

#include <cstdlib>
#include <new>

namespace plinth::core {
namespace {

thread_local ScopedMemoryBudget* t_budget = nullptr;

}  // namespace

ScopedMemoryBudget::ScopedMemoryBudget(size_t limit_bytes) : limit_(limit_bytes), outer_(t_budget) {
  t_budget = this;
}

ScopedMemoryBudget::~ScopedMemoryBudget() { t_budget = outer_; }

bool ScopedMemoryBudget::Charge(size_t bytes) {
  if (bytes > limit_ || held_ > limit_ - bytes) {
    exceeded_ = true;
    return false;
  }
  held_ += bytes;
  if (held_ > peak_) peak_ = held_;
  return true;
}

void ScopedMemoryBudget::Release(size_t bytes) {
  // Memory allocated before the budget began and freed under it is not
  // the budget's: never count below zero.
  held_ = bytes > held_ ? 0 : held_ - bytes;
}

#if defined(__SANITIZE_ADDRESS__)
bool ScopedMemoryBudget::supported() { return false; }
#else
bool ScopedMemoryBudget::supported() { return true; }
#endif

}  // namespace plinth::core

#if !defined(__SANITIZE_ADDRESS__)
// The replaceable global allocation functions ([new.delete]); the array,
// sized and nothrow forms of libstdc++ call these two.
void* operator new(std::size_t size) {
  using plinth::core::t_budget;
  if (size == 0) size = 1;
  plinth::core::ScopedMemoryBudget* budget = t_budget;
  // What the allocation will hold is at least `size`: refuse before
  // allocating, so that a request for gigabytes is never made.
  if (budget != nullptr && !budget->Charge(size)) throw std::bad_alloc();
  void* p;
  while ((p = std::malloc(size)) == nullptr) {
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) {
      if (budget != nullptr) budget->Release(size);
      throw std::bad_alloc();
    }
    handler();
  }
  if (budget != nullptr) {
    size_t usable = malloc_usable_size(p);
    if (usable > size && !budget->Charge(usable - size)) {
      budget->Release(size);
      std::free(p);
      throw std::bad_alloc();
    }
  }
  return p;
}

void operator delete(void* p) noexcept {
  if (p == nullptr) return;
  if (plinth::core::t_budget != nullptr) plinth::core::t_budget->Release(malloc_usable_size(p));
  std::free(p);
}
#endif
