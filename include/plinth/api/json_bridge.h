// The API in JSON, for the web console: a method's request as JSON in, its
// answer (or each streamed message) as JSON out, through an in-process
// channel to plinthd's own gRPC server. Every call passes the same
// authentication, grants and validation as one from the CLI; nothing here
// decides access.
//
//   JsonBridge bridge(server->InProcessChannel(grpc::ChannelArguments()));
//   JsonBridge::Answer a = bridge.Call("plinth.v1.InfraProjectService/ListInfraProjects",
//                                      R"({"org": "acme"})", token);
//   // a.http_status == 200, a.json == {"projects": [...], ...}
//
// JSON is protobuf's canonical mapping with the .proto field names
// (snake_case) and every field printed, defaults included. An error is
// {"code": "INVALID_ARGUMENT", "message": "...", "details": [...]} with the
// HTTP status that matches the gRPC code (400, 401, 403, 404, 409, 412,
// 429, 500, 501, 503, 504), details being the google.rpc error details
// (field violations ...). Only plinth.v1 methods that a browser can call
// are offered: unary ones through Call, server-streaming ones through
// Stream; runner-only and bidirectional methods are NOT_FOUND.
//
// Thread-safe.
#ifndef PLINTH_API_JSON_BRIDGE_H_
#define PLINTH_API_JSON_BRIDGE_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "grpcpp/channel.h"

namespace plinth::api {

class JsonBridge {
 public:
  explicit JsonBridge(std::shared_ptr<grpc::Channel> channel);
  ~JsonBridge();

  struct Answer {
    int http_status = 200;
    std::string json;
  };

  enum class Shape { kNone, kUnary, kServerStreaming };
  // What `method` ("plinth.v1.Service/Method") is, for the console's routing.
  static Shape ShapeOf(const std::string& method);

  // A unary call. `token` empty: no credentials (a daemon without a token file).
  Answer Call(const std::string& method, const std::string& request_json, const std::string& token,
              std::chrono::milliseconds deadline = std::chrono::seconds(30)) const;

  // A server-streaming call: each message to `on_message` until the stream
  // ends, `on_message` returns false, or `cancel` (set by the bridge before
  // the first message) is called from another thread. The answer is the
  // stream's end: 200 with "{}" when it ended well or was stopped.
  Answer Stream(const std::string& method, const std::string& request_json, const std::string& token,
                const std::function<bool(const std::string& json)>& on_message,
                const std::function<void(std::function<void()> cancel)>& on_start) const;

  // The JSON of an error answer.
  static Answer Error(int grpc_code, const std::string& message);

 private:
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace plinth::api

#endif  // PLINTH_API_JSON_BRIDGE_H_
