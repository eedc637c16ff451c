// Request and response of a unary call allocated on one protobuf Arena, freed
// in one go when the call ends. Big responses (a resource's manifest as a
// Struct is a tree of small messages) then cost no malloc/free per node.
//
//   static ArenaAllocator<GetRequest, Resource> allocator;
//   service.SetMessageAllocatorFor_Get(&allocator);
#ifndef PLINTH_API_ARENA_ALLOCATOR_H_
#define PLINTH_API_ARENA_ALLOCATOR_H_

#include "google/protobuf/arena.h"
#include "grpcpp/support/message_allocator.h"

namespace plinth::api {

template <typename Request, typename Response>
class ArenaAllocator : public grpc::MessageAllocator<Request, Response> {
 public:
  grpc::MessageHolder<Request, Response>* AllocateMessages() override { return new Holder(); }

 private:
  class Holder : public grpc::MessageHolder<Request, Response> {
   public:
    Holder() {
      this->set_request(google::protobuf::Arena::CreateMessage<Request>(&arena_));
      this->set_response(google::protobuf::Arena::CreateMessage<Response>(&arena_));
    }
    void Release() override { delete this; }

   private:
    google::protobuf::Arena arena_;
  };
};

}  // namespace plinth::api

#endif  // PLINTH_API_ARENA_ALLOCATOR_H_
