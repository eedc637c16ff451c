#include "plinth/api/reflection_service.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpc/health/v1/health.pb.h"
#include "plinth/core/logging.h"

namespace plinth::api {
namespace {

using google::protobuf::DescriptorPool;
using google::protobuf::FileDescriptor;
using google::protobuf::FileDescriptorProto;

constexpr absl::string_view kV1Alpha = "grpc.reflection.v1alpha.ServerReflection";
constexpr absl::string_view kV1 = "grpc.reflection.v1.ServerReflection";

// The v1 schema: v1alpha's messages and service, renamed (the wire format is
// the same; grpc.reflection.v1 only moved the package).
std::unique_ptr<DescriptorPool> BuildV1Pool() {
  FileDescriptorProto file;
  reflection::ServerReflectionRequest::descriptor()->file()->CopyTo(&file);
  file.set_name("grpc/reflection/v1/reflection.proto");
  file.set_package("grpc.reflection.v1");
  file.clear_options();
  const std::string from = ".grpc.reflection.v1alpha.";
  const std::string to = ".grpc.reflection.v1.";
  auto rename = [&](std::string* type) {
    if (absl::StartsWith(*type, from)) *type = to + type->substr(from.size());
  };
  for (auto& message : *file.mutable_message_type()) {
    for (auto& field : *message.mutable_field()) {
      if (field.has_type_name()) rename(field.mutable_type_name());
    }
  }
  for (auto& service : *file.mutable_service()) {
    for (auto& method : *service.mutable_method()) {
      rename(method.mutable_input_type());
      rename(method.mutable_output_type());
    }
  }
  auto pool = std::make_unique<DescriptorPool>();
  if (pool->BuildFile(file) == nullptr) {
    core::Logger("api")->error("reflection: cannot build grpc.reflection.v1");
  }
  return pool;
}

bool Parse(const grpc::ByteBuffer& buffer, google::protobuf::Message* message) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return false;
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return message->ParseFromString(bytes);
}

grpc::ByteBuffer Serialize(const google::protobuf::Message& message) {
  std::string bytes = message.SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// A stream that ends at once: refused auth, an unknown method.
class FinishedReactor final : public grpc::ServerGenericBidiReactor {
 public:
  explicit FinishedReactor(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

// Requests are answered one at a time, in order, on the reactor thread: the
// lookups are in memory (no store, no blocking).
class ReflectionReactor final : public grpc::ServerGenericBidiReactor {
 public:
  ReflectionReactor(const ReflectionService* service, const CallEnv& env)
      : service_(service), env_(env), start_(absl::Now()) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      Done(grpc::Status::OK);
      return;
    }
    reflection::ServerReflectionRequest request;
    if (!Parse(request_, &request)) {
      Done(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "request: not a grpc.reflection ServerReflectionRequest"));
      return;
    }
    response_ = Serialize(service_->Answer(request, &sent_));
    StartWrite(&response_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Done(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
      return;
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  void Done(grpc::Status status) {
    RecordCall(env_, "ServerReflectionInfo", static_cast<absl::StatusCode>(status.error_code()), start_);
    Finish(std::move(status));
  }

  const ReflectionService* const service_;
  const CallEnv env_;
  const absl::Time start_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  std::set<std::string> sent_;
};

}  // namespace

ReflectionService::ReflectionService(CallEnv env, const manifest::KindCatalog* catalog,
                                     std::vector<std::string> services)
    : env_(env), services_(std::move(services)), v1_pool_(BuildV1Pool()) {
  // Linked in for their descriptors: what reflection describes must be in
  // the compiled-in pool.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  (void)google::rpc::Status::descriptor();
  (void)google::rpc::BadRequest::descriptor();
  services_.push_back(std::string(kV1Alpha));
  services_.push_back(std::string(kV1));
  pools_.push_back(DescriptorPool::generated_pool());
  pools_.push_back(v1_pool_.get());
  if (catalog != nullptr) {
    for (const DescriptorPool* pool : catalog->descriptor_pools()) pools_.push_back(pool);
  }
}

ReflectionService::~ReflectionService() = default;

grpc::ServerGenericBidiReactor* ReflectionService::CreateReactor(grpc::GenericCallbackServerContext* ctx) {
  const std::string& method = ctx->method();
  if (method != absl::StrCat("/", kV1Alpha, "/ServerReflectionInfo") &&
      method != absl::StrCat("/", kV1, "/ServerReflectionInfo")) {
    return new FinishedReactor(
        grpc::Status(grpc::StatusCode::UNIMPLEMENTED, EscapeControls(absl::StrCat("unknown method ", method))));
  }
  absl::StatusOr<std::string> actor = env_.auth->Authenticate(ctx->client_metadata());
  if (!actor.ok()) {
    core::Logger("api")->info("ServerReflectionInfo: {} from {}", actor.status().message(), ctx->peer());
    RecordCall(env_, "ServerReflectionInfo", actor.status().code(), absl::Now());
    return new FinishedReactor(ToGrpcStatus(actor.status()));
  }
  return new ReflectionReactor(this, env_);
}

const FileDescriptor* ReflectionService::FindFile(const std::string& name) const {
  for (const DescriptorPool* pool : pools_) {
    if (const FileDescriptor* f = pool->FindFileByName(name)) return f;
  }
  return nullptr;
}

const FileDescriptor* ReflectionService::FindFileOfSymbol(const std::string& symbol) const {
  for (const DescriptorPool* pool : pools_) {
    if (const FileDescriptor* f = pool->FindFileContainingSymbol(symbol)) return f;
  }
  return nullptr;
}

const google::protobuf::Descriptor* ReflectionService::FindMessage(const std::string& name) const {
  for (const DescriptorPool* pool : pools_) {
    if (const auto* d = pool->FindMessageTypeByName(name)) return d;
  }
  return nullptr;
}

// The file, then each dependency the stream has not carried yet.
void ReflectionService::AddFiles(const FileDescriptor* file, std::set<std::string>* sent,
                                 reflection::FileDescriptorResponse* out) const {
  std::vector<const FileDescriptor*> todo = {file};
  bool first = true;
  while (!todo.empty()) {
    const FileDescriptor* f = todo.back();
    todo.pop_back();
    if (!sent->insert(f->name()).second && !first) continue;
    first = false;
    FileDescriptorProto proto;
    f->CopyTo(&proto);
    proto.SerializeToString(out->add_file_descriptor_proto());
    for (int i = 0; i < f->dependency_count(); ++i) todo.push_back(f->dependency(i));
  }
}

reflection::ServerReflectionResponse ReflectionService::Answer(const reflection::ServerReflectionRequest& request,
                                                               std::set<std::string>* sent) const {
  reflection::ServerReflectionResponse response;
  response.set_valid_host(request.host());
  *response.mutable_original_request() = request;
  auto not_found = [&](std::string what) {
    response.mutable_error_response()->set_error_code(static_cast<int>(grpc::StatusCode::NOT_FOUND));
    response.mutable_error_response()->set_error_message(EscapeControls(what));
  };
  switch (request.message_request_case()) {
    case reflection::ServerReflectionRequest::kFileByFilename: {
      const FileDescriptor* f = FindFile(request.file_by_filename());
      if (f == nullptr) {
        not_found(absl::StrCat("file ", request.file_by_filename(), " not found"));
      } else {
        AddFiles(f, sent, response.mutable_file_descriptor_response());
      }
      break;
    }
    case reflection::ServerReflectionRequest::kFileContainingSymbol: {
      const FileDescriptor* f = FindFileOfSymbol(request.file_containing_symbol());
      if (f == nullptr) {
        not_found(absl::StrCat("symbol ", request.file_containing_symbol(), " not found"));
      } else {
        AddFiles(f, sent, response.mutable_file_descriptor_response());
      }
      break;
    }
    case reflection::ServerReflectionRequest::kFileContainingExtension: {
      const auto& ext = request.file_containing_extension();
      const google::protobuf::FieldDescriptor* field = nullptr;
      for (const DescriptorPool* pool : pools_) {
        const auto* type = pool->FindMessageTypeByName(ext.containing_type());
        if (type != nullptr && (field = pool->FindExtensionByNumber(type, ext.extension_number())) != nullptr) break;
      }
      if (field == nullptr) {
        not_found(absl::StrCat("extension ", ext.extension_number(), " of ", ext.containing_type(), " not found"));
      } else {
        AddFiles(field->file(), sent, response.mutable_file_descriptor_response());
      }
      break;
    }
    case reflection::ServerReflectionRequest::kAllExtensionNumbersOfType: {
      const std::string& name = request.all_extension_numbers_of_type();
      if (FindMessage(name) == nullptr) {
        not_found(absl::StrCat("message type ", name, " not found"));
        break;
      }
      auto* out = response.mutable_all_extension_numbers_response();
      out->set_base_type_name(name);
      std::set<int> numbers;
      for (const DescriptorPool* pool : pools_) {
        const auto* type = pool->FindMessageTypeByName(name);
        if (type == nullptr) continue;
        std::vector<const google::protobuf::FieldDescriptor*> extensions;
        pool->FindAllExtensions(type, &extensions);
        for (const auto* e : extensions) numbers.insert(e->number());
      }
      for (int n : numbers) out->add_extension_number(n);
      break;
    }
    case reflection::ServerReflectionRequest::kListServices:
      for (const std::string& name : services_) {
        response.mutable_list_services_response()->add_service()->set_name(name);
      }
      break;
    default:
      response.mutable_error_response()->set_error_code(static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
      response.mutable_error_response()->set_error_message("message_request: none set");
      break;
  }
  return response;
}

}  // namespace plinth::api
