#include "plinth/core/logging.h"

namespace plinth::core {

std::shared_ptr<spdlog::logger> Logger(const std::string& component) {
  if (auto existing = spdlog::get(component)) return existing;
  auto base = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>(component, base->sinks().begin(),
                                                 base->sinks().end());
  logger->set_level(base->level());
  try {
    spdlog::register_logger(logger);
  } catch (const spdlog::spdlog_ex&) {
    // Another thread registered it first.
    return spdlog::get(component);
  }
  return logger;
}

}  // namespace plinth::core
