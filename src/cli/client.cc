#include "client.h"

#include <iostream>

namespace plinth::cli {

Client::Client(const ClientOptions& options) : options_(options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  args.SetMaxSendMessageSize(256 << 20);
  channel_ = grpc::CreateCustomChannel(options.server, grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<grpc::ClientContext> Client::Context() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(options_.timeout_seconds));
  if (!options_.token.empty()) ctx->AddMetadata("authorization", "Bearer " + options_.token);
  return ctx;
}

int Fail(const grpc::Status& status, const std::string& server) {
  std::cerr << "error: " << status.error_message() << "\n";
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE: {
      // gRPC's own words for a server it could not reach; an UNAVAILABLE
      // from plinthd itself (no runner connected) needs no such hint.
      const std::string& m = status.error_message();
      for (const char* transport : {"failed to connect", "onnection refused", "Socket closed", "DNS resolution",
                                    "connections to all backends failing", "Broken pipe", "Connection reset"}) {
        if (m.find(transport) != std::string::npos) {
          std::cerr << "hint: is plinthd running at " << server << "? (set --server or PLINTH_SERVER)\n";
          break;
        }
      }
      break;
    }
    case grpc::StatusCode::UNAUTHENTICATED:
      std::cerr << "hint: pass a token with --token or PLINTH_TOKEN\n";
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      std::cerr << "hint: the server did not answer in time (--timeout)\n";
      break;
    default:
      break;
  }
  return 1;
}

}  // namespace plinth::cli
