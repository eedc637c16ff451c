// Generic calls over the in-process channel: the request's JSON becomes the
// method's input message (from the generated descriptor pool), its bytes
// go out through grpc::GenericStub, and what comes back is printed as JSON.
#include "plinth/api/json_bridge.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/json_util.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "nlohmann/json.hpp"

namespace plinth::api {
namespace {

namespace pb = google::protobuf;

// Methods a browser session has no business calling, though they are plinth.v1.
bool Offered(const pb::ServiceDescriptor& service) {
  return service.file()->package() == "plinth.v1" && service.full_name() != "plinth.v1.RunnerService";
}

const pb::MethodDescriptor* Find(const std::string& method) {
  std::vector<std::string> parts = absl::StrSplit(method, '/');
  if (parts.size() != 2) return nullptr;
  const pb::ServiceDescriptor* service = pb::DescriptorPool::generated_pool()->FindServiceByName(parts[0]);
  if (service == nullptr || !Offered(*service)) return nullptr;
  return service->FindMethodByName(parts[1]);
}

int HttpStatusOf(int code) {
  switch (static_cast<grpc::StatusCode>(code)) {
    case grpc::StatusCode::OK: return 200;
    case grpc::StatusCode::CANCELLED: return 499;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE: return 400;
    case grpc::StatusCode::UNAUTHENTICATED: return 401;
    case grpc::StatusCode::PERMISSION_DENIED: return 403;
    case grpc::StatusCode::NOT_FOUND: return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::ABORTED: return 409;
    case grpc::StatusCode::FAILED_PRECONDITION: return 412;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return 429;
    case grpc::StatusCode::UNIMPLEMENTED: return 501;
    case grpc::StatusCode::UNAVAILABLE: return 503;
    case grpc::StatusCode::DEADLINE_EXCEEDED: return 504;
    default: return 500;
  }
}

const char* CodeName(int code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  return code >= 0 && code <= 16 ? kNames[code] : "UNKNOWN";
}

pb::util::JsonPrintOptions PrintOptions() {
  pb::util::JsonPrintOptions o;
  o.always_print_primitive_fields = true;
  o.preserve_proto_field_names = true;
  return o;
}

// Status with its google.rpc details, as the console's error JSON.
JsonBridge::Answer ErrorOf(const grpc::Status& status) {
  JsonBridge::Answer a = JsonBridge::Error(status.error_code(), status.error_message());
  google::rpc::Status details;
  if (!status.error_details().empty() && details.ParseFromString(status.error_details()) &&
      details.details_size() > 0) {
    nlohmann::json body = nlohmann::json::parse(a.json);
    body["details"] = nlohmann::json::array();
    for (const auto& any : details.details()) {
      std::string one;
      if (pb::util::MessageToJsonString(any, &one, PrintOptions()).ok()) {
        body["details"].push_back(nlohmann::json::parse(one, nullptr, false));
      }
    }
    a.json = body.dump();
  }
  return a;
}

// The method's input message from JSON (INVALID_ARGUMENT naming the field
// for JSON that does not fit it).
grpc::Status Encode(const pb::MethodDescriptor& m, const std::string& json, grpc::ByteBuffer* out) {
  pb::DynamicMessageFactory factory;
  std::unique_ptr<pb::Message> request(factory.GetPrototype(m.input_type())->New());
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const std::string& text = json.empty() ? std::string("{}") : json;
  auto parsed = pb::util::JsonStringToMessage(text, request.get(), options);
  if (!parsed.ok()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("request body for ", m.full_name(), ": ", std::string(parsed.message())));
  }
  std::string bytes = request->SerializeAsString();
  grpc::Slice slice(bytes);
  *out = grpc::ByteBuffer(&slice, 1);
  return grpc::Status::OK;
}

grpc::Status Decode(const pb::Descriptor& type, const grpc::ByteBuffer& in, std::string* json) {
  std::vector<grpc::Slice> slices;
  (void)in.Dump(&slices);
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  pb::DynamicMessageFactory factory;
  std::unique_ptr<pb::Message> message(factory.GetPrototype(&type)->New());
  if (!message->ParseFromString(bytes)) return grpc::Status(grpc::StatusCode::INTERNAL, "unreadable answer");
  json->clear();
  auto printed = pb::util::MessageToJsonString(*message, json, PrintOptions());
  if (!printed.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, std::string(printed.message()));
  return grpc::Status::OK;
}

void Authorize(grpc::ClientContext& ctx, const std::string& token) {
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
}

// Waits for the one operation in flight on `cq`.
bool Await(grpc::CompletionQueue& cq) {
  void* tag = nullptr;
  bool ok = false;
  return cq.Next(&tag, &ok) && ok;
}

void Drain(grpc::CompletionQueue& cq) {
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
}

}  // namespace

JsonBridge::JsonBridge(std::shared_ptr<grpc::Channel> channel) : channel_(std::move(channel)) {}
JsonBridge::~JsonBridge() = default;

JsonBridge::Shape JsonBridge::ShapeOf(const std::string& method) {
  const pb::MethodDescriptor* m = Find(method);
  if (m == nullptr || m->client_streaming()) return Shape::kNone;
  return m->server_streaming() ? Shape::kServerStreaming : Shape::kUnary;
}

JsonBridge::Answer JsonBridge::Error(int grpc_code, const std::string& message) {
  nlohmann::json body = {{"code", CodeName(grpc_code)}, {"message", message}};
  return {HttpStatusOf(grpc_code), body.dump()};
}

JsonBridge::Answer JsonBridge::Call(const std::string& method, const std::string& request_json,
                                    const std::string& token, std::chrono::milliseconds deadline) const {
  const pb::MethodDescriptor* m = Find(method);
  if (m == nullptr || m->client_streaming() || m->server_streaming()) {
    return Error(static_cast<int>(grpc::StatusCode::NOT_FOUND),
                 absl::StrCat("method ", method, ": no such unary method in plinth.v1 for the console"));
  }
  grpc::ByteBuffer request;
  if (grpc::Status s = Encode(*m, request_json, &request); !s.ok()) return ErrorOf(s);
  grpc::ClientContext ctx;
  Authorize(ctx, token);
  ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  grpc::GenericStub stub(channel_);
  grpc::CompletionQueue cq;
  auto rpc = stub.PrepareUnaryCall(&ctx, absl::StrCat("/", m->service()->full_name(), "/", m->name()), request, &cq);
  rpc->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  rpc->Finish(&response, &status, nullptr);
  Await(cq);
  Drain(cq);
  if (!status.ok()) return ErrorOf(status);
  Answer a;
  if (grpc::Status s = Decode(*m->output_type(), response, &a.json); !s.ok()) return ErrorOf(s);
  return a;
}

JsonBridge::Answer JsonBridge::Stream(const std::string& method, const std::string& request_json,
                                      const std::string& token,
                                      const std::function<bool(const std::string& json)>& on_message,
                                      const std::function<void(std::function<void()> cancel)>& on_start) const {
  const pb::MethodDescriptor* m = Find(method);
  if (m == nullptr || m->client_streaming() || !m->server_streaming()) {
    return Error(static_cast<int>(grpc::StatusCode::NOT_FOUND),
                 absl::StrCat("method ", method, ": no such server-streaming method in plinth.v1 for the console"));
  }
  grpc::ByteBuffer request;
  if (grpc::Status s = Encode(*m, request_json, &request); !s.ok()) return ErrorOf(s);
  auto ctx = std::make_shared<grpc::ClientContext>();
  Authorize(*ctx, token);
  on_start([ctx] { ctx->TryCancel(); });
  grpc::GenericStub stub(channel_);
  grpc::CompletionQueue cq;
  auto rpc = stub.PrepareCall(ctx.get(), absl::StrCat("/", m->service()->full_name(), "/", m->name()), &cq);
  bool stopped = false;
  rpc->StartCall(nullptr);
  if (Await(cq)) {
    rpc->WriteLast(request, grpc::WriteOptions(), nullptr);
    if (Await(cq)) {
      for (;;) {
        grpc::ByteBuffer message;
        rpc->Read(&message, nullptr);
        if (!Await(cq)) break;
        std::string json;
        if (grpc::Status s = Decode(*m->output_type(), message, &json); !s.ok()) {
          ctx->TryCancel();
          break;
        }
        if (!on_message(json)) {
          stopped = true;
          ctx->TryCancel();
          break;
        }
      }
    }
  }
  grpc::Status status;
  rpc->Finish(&status, nullptr);
  Await(cq);
  Drain(cq);
  if (status.ok() || stopped || status.error_code() == grpc::StatusCode::CANCELLED) return {200, "{}"};
  return ErrorOf(status);
}

}  // namespace plinth::api
