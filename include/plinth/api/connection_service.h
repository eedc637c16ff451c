// plinth.v1.ConnectionService: provider credentials, secrets write-only.
#ifndef PLINTH_API_CONNECTION_SERVICE_H_
#define PLINTH_API_CONNECTION_SERVICE_H_

#include "plinth/api/call.h"
#include "plinth/store/connection_store.h"
#include "plinth/v1/connection.grpc.pb.h"

namespace plinth::api {

class ConnectionServiceImpl final : public plinth::v1::ConnectionService::CallbackService {
 public:
  ConnectionServiceImpl(CallEnv env, store::ConnectionStore* connections) : env_(env), connections_(connections) {}

  grpc::ServerUnaryReactor* CreateConnection(grpc::CallbackServerContext* ctx, const plinth::v1::CreateConnectionRequest* req,
                                             plinth::v1::Connection* resp) override;
  grpc::ServerUnaryReactor* GetConnection(grpc::CallbackServerContext* ctx, const plinth::v1::GetConnectionRequest* req,
                                          plinth::v1::Connection* resp) override;
  grpc::ServerUnaryReactor* ListConnections(grpc::CallbackServerContext* ctx, const plinth::v1::ListConnectionsRequest* req,
                                            plinth::v1::ListConnectionsResponse* resp) override;
  grpc::ServerUnaryReactor* UpdateConnection(grpc::CallbackServerContext* ctx, const plinth::v1::UpdateConnectionRequest* req,
                                             plinth::v1::Connection* resp) override;
  grpc::ServerUnaryReactor* DeleteConnection(grpc::CallbackServerContext* ctx, const plinth::v1::DeleteConnectionRequest* req,
                                             plinth::v1::DeleteConnectionResponse* resp) override;
  grpc::ServerUnaryReactor* SetDefaultConnection(grpc::CallbackServerContext* ctx,
                                                 const plinth::v1::SetDefaultConnectionRequest* req,
                                                 plinth::v1::SetDefaultConnectionResponse* resp) override;

 private:
  const CallEnv env_;
  store::ConnectionStore* const connections_;
};

}  // namespace plinth::api

#endif  // PLINTH_API_CONNECTION_SERVICE_H_
