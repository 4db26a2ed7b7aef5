#include "bench/load/internal/cq_caller.h"

#include <grpc/support/time.h>
#include <sys/prctl.h>
#include <time.h>

#include <algorithm>
#include <cerrno>

#include "bench/load/pacer.h"

namespace sasmint::bench::internal {

CqRpcCaller::CqRpcCaller(RunState* run, int index, grpc::GenericStub* stub, CqWorker* worker)
    : Caller(run, index),
      stub_(stub),
      worker_(worker),
      batch_(run->options().mode == LoadMode::kBatch) {}

bool CqRpcCaller::Issue(int64_t intended_ns) {
  RequestPayloads& payloads = run().payloads();
  const size_t window = payloads.NextWindow();
  // A ClientContext serves one RPC only; the previous call has finished.
  reader_.reset();
  context_.emplace();
  context_->set_deadline(RpcDeadline(run().options()));
  request_ = batch_ ? payloads.MintTokens(window, 0) : payloads.MintToken(window);
  response_.Clear();
  intended_ns_ = intended_ns;
  reader_ = stub_->PrepareUnaryCall(&*context_, batch_ ? MintTokensMethod() : MintTokenMethod(),
                                    request_, worker_->cq());
  reader_->StartCall();
  reader_->Finish(&response_, &status_, this);
  ++worker_->in_flight_;
  return true;
}

void CqRpcCaller::Finished() {
  --worker_->in_flight_;
  Complete(intended_ns_, RpcOutcome(run(), batch_, status_, &response_));
}

void CqRpcCaller::Defer(int64_t due_ns) { worker_->Schedule(due_ns, this); }

void CqRpcCaller::Stopped() { worker_->CallerStopped(); }

void CqRpcCaller::Release() {
  reader_.reset();
  context_.reset();
}

CqWorker::~CqWorker() {
  if (thread_.joinable()) thread_.join();
}

void CqWorker::Start() {
  active_ = static_cast<int>(callers_.size());
  thread_ = std::thread([this] { Loop(); });
}

std::optional<int64_t> CqWorker::SendDueRequests() {
  int64_t now = MonotonicNanos();
  while (!timers_.empty()) {
    const auto [due, caller] = timers_.top();
    if (due > now) {
      // Time passes while requests go out: look again before deciding to wait.
      now = MonotonicNanos();
      if (due > now) return due;
    }
    timers_.pop();
    caller->SendDue();  // may Schedule again (a later due time) or stop the caller
  }
  return std::nullopt;
}

namespace {

// SleepUntil sleeps until `when_ns` on the MonotonicNanos clock (CLOCK_MONOTONIC).
void SleepUntil(int64_t when_ns) {
  timespec ts;
  ts.tv_sec = static_cast<time_t>(when_ns / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(when_ns % 1'000'000'000);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

// In(ns) is a gRPC deadline `ns` from now (relative, so gRPC's clock epochs do not matter).
gpr_timespec In(int64_t ns) {
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                      gpr_time_from_nanos(std::max<int64_t>(ns, 0), GPR_TIMESPAN));
}

}  // namespace

bool CqWorker::Next(gpr_timespec deadline) {
  void* tag = nullptr;
  bool ok = false;
  if (cq_.AsyncNext(&tag, &ok, deadline) != grpc::CompletionQueue::GOT_EVENT) return false;
  // Only Finish tags are queued, and a unary Finish always succeeds (ok): the RPC's status says
  // how it went.
  static_cast<CqRpcCaller*>(tag)->Finished();
  return true;
}

void CqWorker::Wait(std::optional<int64_t> next_due) {
  if (!next_due) {
    Next(gpr_inf_future(GPR_CLOCK_MONOTONIC));
    return;
  }
  const int64_t now = MonotonicNanos();
  const int64_t remaining = *next_due - now;
  if (remaining > kCoarseMargin) {
    Next(In(remaining - kCoarseMargin));
  } else if (in_flight_ == 0) {
    SleepUntil(*next_due);  // no completion can come before it
  } else if (!Next(gpr_time_0(GPR_CLOCK_MONOTONIC))) {
    SleepUntil(std::min(*next_due, now + kNap));
  }
}

void CqWorker::Loop() {
  // The kernel's default 50 us of timer slack would add to every wake-up for a due time.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  for (CqRpcCaller* caller : callers_) caller->Start();
  while (active_ > 0) {
    const std::optional<int64_t> next_due = SendDueRequests();
    if (active_ == 0) break;
    Wait(next_due);
  }
  // Every caller has stopped with nothing in flight: drop the finished calls, then the queue.
  for (CqRpcCaller* caller : callers_) caller->Release();
  cq_.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq_.Next(&tag, &ok)) {
  }
}

}  // namespace sasmint::bench::internal
