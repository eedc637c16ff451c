// A per-thread bound on heap memory, for work that runs code written by
// users (chart templates) and must not take the daemon's memory with it.
//
//   {
//     core::ScopedMemoryBudget budget(64 << 20);
//     try {
//       Render();              // allocations past 64 MiB live throw bad_alloc
//     } catch (const std::bad_alloc&) {
//       if (budget.exceeded()) return ResourceExhausted(...);
//       throw;
//     }
//   }
//
// While a budget is active, the program's operator new counts the bytes the
// current thread holds from allocations made since the budget began (frees on
// the thread count down) and refuses, by throwing std::bad_alloc, the one
// allocation that would go past the limit, before it is made. The counting
// is the idea of ClickHouse's MemoryTracker. Other threads are not affected;
// without an active budget operator new is malloc plus one thread-local
// read. Builds with AddressSanitizer keep its allocator: there no limit
// applies (supported() is false).
#ifndef PLINTH_CORE_MEMORY_BUDGET_H_
#define PLINTH_CORE_MEMORY_BUDGET_H_

#include <cstddef>

namespace plinth::core {

class ScopedMemoryBudget {
 public:
  explicit ScopedMemoryBudget(size_t limit_bytes);
  ~ScopedMemoryBudget();
  ScopedMemoryBudget(const ScopedMemoryBudget&) = delete;
  ScopedMemoryBudget& operator=(const ScopedMemoryBudget&) = delete;

  size_t limit() const { return limit_; }
  // True once an allocation was refused.
  bool exceeded() const { return exceeded_; }
  // The most bytes held at once since the budget began.
  size_t peak() const { return peak_; }

  // Whether this build enforces budgets.
  static bool supported();

  // For operator new and delete only.
  bool Charge(size_t bytes);
  void Release(size_t bytes);

 private:
  size_t limit_;
  size_t held_ = 0;
  size_t peak_ = 0;
  bool exceeded_ = false;
  ScopedMemoryBudget* outer_;
};

}  // namespace plinth::core

#endif  // PLINTH_CORE_MEMORY_BUDGET_H_
