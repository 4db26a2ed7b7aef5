// cq_caller.h: the completion-queue transport for unary and batch RPCs (--transport cq).
//
// A CqWorker is one thread that owns one grpc::CompletionQueue and a share of the callers. It
// starts them, then loops: it issues the requests of its callers whose open-loop due time has
// come, and waits for the next completion or the earliest due time of its waiting callers. The
// thread that takes a completion off the queue records it and issues that caller's next request
// itself (or files its next due time), so there is no hand-off between threads per call and no
// pacer thread. Scheduling (due times, drain, unsent) is Caller's, so it matches the callback
// transport's; latency is still measured from each request's due time, so a worker that wakes
// late shows in the latency it reports.
//
// Waiting: gRPC 1.51 keeps time in milliseconds, so CompletionQueue::AsyncNext overshoots a
// deadline by a millisecond or more — too coarse for a schedule of requests tens
// of microseconds apart: requests would leave in bursts at millisecond ticks. So a worker
// blocks in AsyncNext only until kCoarseMargin before its next due time (or for good when
// nothing is due: closed loop). Closer to it, with nothing in flight (so no completion can
// come), it sleeps until the due time (clock_nanosleep, no timer slack); with requests in
// flight it polls its queue without blocking and, if that is empty, sleeps until the due time
// but at most kNap. So requests leave on time, and a completion is seen at most kNap (or one
// due-time gap, if shorter) after it arrives, which can only add to the latency reported.
// Each of those wake-ups costs CPU (a timer interrupt, on a VM an exit): at 20k requests/s
// that is roughly as much as gRPC's own work per call.
//
// Threading: a CqRpcCaller is touched only by its worker's thread once Start has been called.
// The driver must join every worker (destroy it) before destroying its callers.
#ifndef SASMINT_BENCH_LOAD_INTERNAL_CQ_CALLER_H_
#define SASMINT_BENCH_LOAD_INTERNAL_CQ_CALLER_H_

#include <grpc/support/time.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <queue>
#include <thread>
#include <utility>
#include <vector>

#include "bench/load/internal/caller.h"
#include "bench/load/internal/run_state.h"

namespace sasmint::bench::internal {

class CqWorker;

// CqRpcCaller sends MintToken (unary mode) or MintTokens (batch mode) RPCs through its
// worker's completion queue.
class CqRpcCaller final : public Caller {
 public:
  CqRpcCaller(RunState* run, int index, grpc::GenericStub* stub, CqWorker* worker);

 private:
  friend class CqWorker;

  bool Issue(int64_t intended_ns) override;
  void Defer(int64_t due_ns) override;
  void Stopped() override;

  // Finished handles the completion of the RPC in flight (its Finish tag).
  void Finished();
  // Release drops the last call's state (before the worker's queue goes away).
  void Release();

  grpc::GenericStub* const stub_;
  CqWorker* const worker_;
  const bool batch_;
  // State of the request in flight (one at a time). The reader lives in the call's arena, so
  // it goes before the context that holds the call.
  std::optional<grpc::ClientContext> context_;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> reader_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  grpc::Status status_;
  int64_t intended_ns_ = 0;
};

class CqWorker {
 public:
  CqWorker() = default;
  ~CqWorker();  // joins the thread
  CqWorker(const CqWorker&) = delete;
  CqWorker& operator=(const CqWorker&) = delete;

  // Add gives the worker a caller; call before Start.
  void Add(CqRpcCaller* caller) { callers_.push_back(caller); }

  // Start runs the thread: it starts the callers and serves them until every one has stopped.
  void Start();

  grpc::CompletionQueue* cq() { return &cq_; }

 private:
  friend class CqRpcCaller;

  // See the file comment.
  static constexpr int64_t kCoarseMargin = 6'000'000;  // ns
  static constexpr int64_t kNap = 100'000;             // ns

  // On the worker's thread only.
  void Schedule(int64_t due_ns, CqRpcCaller* caller) { timers_.emplace(due_ns, caller); }
  void CallerStopped() { --active_; }
  void Loop();
  // Wait waits for the next event: a completion (which it handles) or `next_due` (if set).
  void Wait(std::optional<int64_t> next_due);
  // Next takes one event off the queue, waiting until `deadline` at most, and handles it;
  // false if there was none.
  bool Next(gpr_timespec deadline);
  // SendDueRequests issues every request whose due time has come; returns the earliest due
  // time still waiting, or nullopt if none.
  std::optional<int64_t> SendDueRequests();

  grpc::CompletionQueue cq_;
  std::vector<CqRpcCaller*> callers_;
  int active_ = 0;                                 // callers not yet stopped
  int in_flight_ = 0;                              // requests issued, not yet completed
  using Timer = std::pair<int64_t, CqRpcCaller*>;  // (due time, caller): a min-heap
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;
  std::thread thread_;
};

}  // namespace sasmint::bench::internal

#endif  // SASMINT_BENCH_LOAD_INTERNAL_CQ_CALLER_H_
