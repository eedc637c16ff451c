// A machine-readable reason on an error: an UPPER_SNAKE_CASE word a client
// can branch on without parsing the message ("VERSION_MISMATCH",
// "JOB_NOT_AWAITING_APPROVAL"). Carried as an absl::Status payload, so every
// layer can set it; src/api turns it into google.rpc.ErrorInfo.
//
//   return core::WithReason(absl::FailedPreconditionError("..."), "JOB_ENDED");
#ifndef PLINTH_CORE_ERROR_REASON_H_
#define PLINTH_CORE_ERROR_REASON_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace plinth::core {

inline constexpr absl::string_view kReasonPayload = "plinth.dev/reason";

inline absl::Status WithReason(absl::Status status, absl::string_view reason) {
  if (!status.ok()) status.SetPayload(kReasonPayload, absl::Cord(reason));
  return status;
}

// The reason set by WithReason, or "" when none was.
inline std::string ReasonOf(const absl::Status& status) {
  auto payload = status.GetPayload(kReasonPayload);
  return payload ? std::string(*payload) : std::string();
}

}  // namespace plinth::core

#endif  // PLINTH_CORE_ERROR_REASON_H_
