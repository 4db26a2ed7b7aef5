// arena_allocator.h: a gRPC message allocator that puts each call's messages on one protobuf
// Arena (internal to token_service).
#ifndef SASMINT_SERVICE_RPC_INTERNAL_ARENA_ALLOCATOR_H_
#define SASMINT_SERVICE_RPC_INTERNAL_ARENA_ALLOCATOR_H_

#include <google/protobuf/arena.h>
#include <grpcpp/support/message_allocator.h>

namespace sasmint::internal {

// ArenaOptionsForBatches are the arena sizes of batch messages: small first block, growing to
// 1 MiB blocks for batches of thousands.
inline google::protobuf::ArenaOptions ArenaOptionsForBatches() {
  google::protobuf::ArenaOptions options;
  options.start_block_size = 4096;
  options.max_block_size = 1 << 20;
  return options;
}

// ArenaMessageAllocator gives each call's request and response one protobuf Arena: a batch's
// thousands of result messages and token strings then cost a few block allocations instead of
// several mallocs each, and are freed at once when the call ends.
template <typename Request, typename Response>
class ArenaMessageAllocator final : public grpc::MessageAllocator<Request, Response> {
 public:
  grpc::MessageHolder<Request, Response>* AllocateMessages() override { return new Holder(); }

 private:
  class Holder final : public grpc::MessageHolder<Request, Response> {
   public:
    Holder() : arena_(ArenaOptionsForBatches()) {
      this->set_request(google::protobuf::Arena::CreateMessage<Request>(&arena_));
      this->set_response(google::protobuf::Arena::CreateMessage<Response>(&arena_));
    }
    void Release() override { delete this; }

   private:
    google::protobuf::Arena arena_;
  };
};

}  // namespace sasmint::internal

#endif  // SASMINT_SERVICE_RPC_INTERNAL_ARENA_ALLOCATOR_H_
