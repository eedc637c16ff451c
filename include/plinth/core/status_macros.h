// Early-return helpers for absl::Status and absl::StatusOr.
//
// The abseil on Debian 12 (20220623) ships no such macros, so plinth has its
// own, written once here:
//
//   absl::Status Save(...) {
//     PLINTH_RETURN_IF_ERROR(Validate(...));
//     PLINTH_ASSIGN_OR_RETURN(auto row, store.Get(id));
//     ...
//   }
#ifndef PLINTH_CORE_STATUS_MACROS_H_
#define PLINTH_CORE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define PLINTH_STATUS_CONCAT_INNER_(a, b) a##b
#define PLINTH_STATUS_CONCAT_(a, b) PLINTH_STATUS_CONCAT_INNER_(a, b)

// Returns the status of `expr` from the calling function when it is not OK.
#define PLINTH_RETURN_IF_ERROR(expr)                  \
  do {                                                \
    const absl::Status plinth_status_ = (expr);       \
    if (!plinth_status_.ok()) return plinth_status_;  \
  } while (0)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status,
// otherwise declares/assigns `lhs` with the moved value. It expands to
// several statements: never use it as the body of an unbraced if or loop.
#define PLINTH_ASSIGN_OR_RETURN(lhs, rexpr)                                   \
  PLINTH_ASSIGN_OR_RETURN_IMPL_(                                              \
      PLINTH_STATUS_CONCAT_(plinth_statusor_, __LINE__), lhs, rexpr)

#define PLINTH_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                  \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = std::move(statusor).value()

#endif  // PLINTH_CORE_STATUS_MACROS_H_
