// gRPC server reflection, as grpc.reflection.v1 and grpc.reflection.v1alpha
// (the same messages under two package names), so that grpcurl, Postman and
// any client author can discover plinth.v1 and decode its messages without
// the .proto files: every service, grpc.health.v1, the error details
// (google.rpc.BadRequest, ErrorInfo, ResourceInfo) and the message of every
// kind in the catalog (the name KindService.GetKind reports).
//
// Served as a generic callback service, so it also answers UNIMPLEMENTED for
// methods no service has. Calls authenticate like the API.
//
//   api::ReflectionService reflection(env, catalog, {"plinth.v1.KindService", ...});
//   builder.RegisterCallbackGenericService(&reflection);
#ifndef PLINTH_API_REFLECTION_SERVICE_H_
#define PLINTH_API_REFLECTION_SERVICE_H_

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "grpcpp/generic/async_generic_service.h"
#include "plinth/api/call.h"
#include "plinth/manifest/kind_catalog.h"
#include "reflection/grpc_reflection_v1alpha/reflection.pb.h"

namespace plinth::api {

namespace reflection = ::grpc::reflection::v1alpha;

class ReflectionService final : public grpc::CallbackGenericService {
 public:
  // `services`: the full names list_services reports besides the reflection
  // services themselves.
  ReflectionService(CallEnv env, const manifest::KindCatalog* catalog, std::vector<std::string> services);
  ~ReflectionService() override;

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override;

  // The answer to one request of a stream; `sent` holds the files the
  // stream has already carried (they are not sent again as dependencies).
  reflection::ServerReflectionResponse Answer(const reflection::ServerReflectionRequest& request,
                                              std::set<std::string>* sent) const;

 private:
  const google::protobuf::FileDescriptor* FindFile(const std::string& name) const;
  const google::protobuf::FileDescriptor* FindFileOfSymbol(const std::string& symbol) const;
  const google::protobuf::Descriptor* FindMessage(const std::string& name) const;
  void AddFiles(const google::protobuf::FileDescriptor* file, std::set<std::string>* sent,
                reflection::FileDescriptorResponse* out) const;

  const CallEnv env_;
  std::vector<std::string> services_;
  // grpc.reflection.v1: v1alpha's file under the new package.
  std::unique_ptr<google::protobuf::DescriptorPool> v1_pool_;
  // Searched in order: the compiled-in pool, v1, the kinds' pools.
  std::vector<const google::protobuf::DescriptorPool*> pools_;
};

}  // namespace plinth::api

#endif  // PLINTH_API_REFLECTION_SERVICE_H_
