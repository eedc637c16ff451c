// Logging: spdlog with a named logger per component, and fmt support for the
// abseil types plinth passes around.
//
//   auto log = plinth::core::Logger("store");
//   log->info("applied migration {} ({})", version, description);
//
// A log line says what happened and to which id. Never log a secret.
#ifndef PLINTH_CORE_LOGGING_H_
#define PLINTH_CORE_LOGGING_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "spdlog/spdlog.h"

template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename Ctx>
  auto format(absl::string_view s, Ctx& ctx) const {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(s.data(), s.size()), ctx);
  }
};

template <>
struct fmt::formatter<absl::Status> : fmt::formatter<std::string> {
  template <typename Ctx>
  auto format(const absl::Status& s, Ctx& ctx) const {
    return fmt::formatter<std::string>::format(s.ToString(), ctx);
  }
};

namespace plinth::core {

// The logger named `component`, created on first use with the default
// logger's sinks, level and format. Thread-safe.
std::shared_ptr<spdlog::logger> Logger(const std::string& component);

}  // namespace plinth::core

#endif  // PLINTH_CORE_LOGGING_H_
