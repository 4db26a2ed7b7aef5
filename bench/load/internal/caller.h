// caller.h: one logical load-client caller, and the caller that sends unary or batch RPCs.
//
// A Caller keeps at most one request in flight. Closed loop: it sends the next request as soon
// as the previous one completes. Open loop: request j of caller k is due at
// start + (k / C + j) * interval; when the previous request completes early the next one waits
// (Defer: on the pacer by default), when it completes late the next one goes out at once but is
// still timed from its due time, so a slow server (or client) shows up in the latency instead of
// silently lowering the offered load (no coordinated omission). Subclasses say how a request is put
// on the wire (and may say how to wait for a due time); they run on gRPC callback threads (or a
// completion-queue thread, cq_caller.h) and never block. Thread-safe as used: one request in
// flight means one thread at a time touches a caller's state.
#ifndef SASMINT_BENCH_LOAD_INTERNAL_CALLER_H_
#define SASMINT_BENCH_LOAD_INTERNAL_CALLER_H_

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "bench/load/internal/run_state.h"
#include "bench/load/outcome.h"

namespace sasmint::bench::internal {

class Caller {
 public:
  // `index` in [0, concurrency) sets the caller's phase in the open-loop schedule.
  Caller(RunState* run, int index);
  virtual ~Caller() = default;
  Caller(const Caller&) = delete;
  Caller& operator=(const Caller&) = delete;

  // Start sends (or schedules) the first request.
  void Start();

  // Complete is called by the transport, once per issued request: it records the outcome of
  // the request that was due at `intended_ns` and sends (or schedules) the next one.
  void Complete(int64_t intended_ns, const Outcome& outcome);

 protected:
  // Issue puts one request due at `intended_ns` on the wire; its completion must reach
  // Complete. Returns false if it cannot (the caller's stream has ended): the caller stops.
  virtual bool Issue(int64_t intended_ns) = 0;

  // Stopped is called once when the caller will send no more requests.
  virtual void Stopped() {}

  // Defer arranges for SendDue to be called at `due_ns` (MonotonicNanos), on a thread that may
  // touch this caller. Default: the run's pacer.
  virtual void Defer(int64_t due_ns);

  // SendDue issues the request that is due now (or overdue).
  void SendDue();

  RunState& run() const { return *run_; }

 private:
  void SendNext();
  // Launch issues the request due at `intended_ns` (now is `now`), or stops if it cannot.
  void Launch(int64_t intended_ns, int64_t now);
  // CountUnsent records the measured requests still due when the run gives up at `now`.
  void CountUnsent(int64_t now);
  void Stop();

  RunState* const run_;
  int64_t next_due_ns_;  // open loop only
};

// Outcome of a MintTokens / StreamTokens response of `batch_size` items: per-item errors by
// code; a response that cannot be read, or results missing from it, count as DATA_LOSS.
// `batch_id` receives the response's batch_id (0 if unreadable).
Outcome BatchOutcome(grpc::ByteBuffer* response, int batch_size, uint64_t* batch_id);

// Method paths of sasmint.v1.TokenService's MintToken and MintTokens.
const std::string& MintTokenMethod();
const std::string& MintTokensMethod();

// RpcOutcome is the outcome of a finished MintToken (batch false) or MintTokens (batch true)
// RPC with `status` and `response`; a failed RPC is noted once per code on stderr (run).
Outcome RpcOutcome(RunState& run, bool batch, const grpc::Status& status,
                   grpc::ByteBuffer* response);

// RpcDeadline is the deadline of an RPC issued now (options.timeout_s).
std::chrono::system_clock::time_point RpcDeadline(const LoadOptions& options);

// RpcCaller sends MintToken (unary mode) or MintTokens (batch mode) RPCs.
class RpcCaller final : public Caller {
 public:
  RpcCaller(RunState* run, int index, grpc::GenericStub* stub);

 private:
  bool Issue(int64_t intended_ns) override;
  void OnDone(const grpc::Status& status);

  grpc::GenericStub* const stub_;
  const bool batch_;
  // State of the request in flight (one at a time).
  std::unique_ptr<grpc::ClientContext> context_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  int64_t intended_ns_ = 0;
};

}  // namespace sasmint::bench::internal

#endif  // SASMINT_BENCH_LOAD_INTERNAL_CALLER_H_
