// Sets up the process-wide logging of plinthd: level and format (text, or
// one JSON object a line for log shippers), on stderr.
#ifndef PLINTH_SERVER_LOG_SETUP_H_
#define PLINTH_SERVER_LOG_SETUP_H_

#include <string>

namespace plinth::server {

// `level` and `format` must have passed ValidateConfig.
void SetUpLogging(const std::string& level, const std::string& format);

}  // namespace plinth::server

#endif  // PLINTH_SERVER_LOG_SETUP_H_
