// The CLI's connection to plinthd: channel, credentials and call context.
#ifndef PLINTH_CLI_CLIENT_H_
#define PLINTH_CLI_CLIENT_H_

#include <chrono>
#include <memory>
#include <string>

#include "grpcpp/grpcpp.h"

namespace plinth::cli {

struct ClientOptions {
  std::string server = "127.0.0.1:7443";
  std::string token;
  int timeout_seconds = 60;
};

class Client {
 public:
  explicit Client(const ClientOptions& options);
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  // A fresh context with the deadline and the bearer token.
  std::unique_ptr<grpc::ClientContext> Context() const;

 private:
  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
};

// Prints "error: <message>" to stderr (with a hint for UNAVAILABLE and
// UNAUTHENTICATED) and returns the process exit code (1).
int Fail(const grpc::Status& status, const std::string& server);

}  // namespace plinth::cli

#endif  // PLINTH_CLI_CLIENT_H_
