#include "bench/load/internal/caller.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "bench/load/response_scan.h"

namespace sasmint::bench::internal {

// The proto is the contract; the generated code keeps its own copies of these private.
const std::string& MintTokenMethod() {
  static const std::string* const kMethod = new std::string("/sasmint.v1.TokenService/MintToken");
  return *kMethod;
}
const std::string& MintTokensMethod() {
  static const std::string* const kMethod = new std::string("/sasmint.v1.TokenService/MintTokens");
  return *kMethod;
}

namespace {

constexpr int kCodeDataLoss = 15;

// Unsent requests are recorded in at most this many groups, each at the smallest latency of
// its members: a lower bound that stays cheap even for a huge backlog.
constexpr int64_t kMaxUnsentGroups = 1024;

}  // namespace

Caller::Caller(RunState* run, int index) : run_(run) {
  const RunTimeline& t = run->timeline();
  // Spread the callers' phases over one interval so the offered load is smooth, not bursts of C.
  next_due_ns_ = t.start_ns + static_cast<int64_t>(static_cast<double>(t.interval_ns) * index /
                                                   run->options().concurrency);
}

void Caller::Start() { SendNext(); }

void Caller::Complete(int64_t intended_ns, const Outcome& outcome) {
  run_->recorder().Record(outcome, intended_ns, MonotonicNanos(), run_->Measured(intended_ns));
  SendNext();
}

void Caller::SendNext() {
  const RunTimeline& t = run_->timeline();
  const int64_t now = MonotonicNanos();
  if (t.interval_ns == 0) {  // closed loop: send now, until the window closes
    if (now >= t.measure_end_ns) return Stop();
    return Launch(now, now);
  }
  if (next_due_ns_ >= t.measure_end_ns) return Stop();
  if (now >= t.give_up_ns) {
    CountUnsent(now);
    return Stop();
  }
  if (next_due_ns_ > now) return Defer(next_due_ns_);
  SendDue();
}

void Caller::Defer(int64_t due_ns) {
  run_->pacer().RunAt(due_ns, [this] { SendDue(); });
}

void Caller::SendDue() {
  const int64_t due = next_due_ns_;
  next_due_ns_ += run_->timeline().interval_ns;
  Launch(due, MonotonicNanos());
}

void Caller::Launch(int64_t intended_ns, int64_t now) {
  // Counted before Issue: once a request is issued its completion may run (and this caller
  // stop, and the run end) on another thread, so nothing here may touch the caller after it.
  Recorder& recorder = run_->recorder();
  recorder.RequestStarted(now - intended_ns);
  if (!Issue(intended_ns)) {
    recorder.RequestAbandoned();
    Stop();
  }
}

void Caller::CountUnsent(int64_t now) {
  const RunTimeline& t = run_->timeline();
  const int64_t step = t.interval_ns;
  int64_t first = next_due_ns_;
  if (first < t.measure_start_ns) {
    first += (t.measure_start_ns - first + step - 1) / step * step;
  }
  if (first >= t.measure_end_ns) return;
  const int64_t count = (t.measure_end_ns - first + step - 1) / step;
  const int64_t groups = std::min(count, kMaxUnsentGroups);
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t begin = count * g / groups;
    const int64_t end = count * (g + 1) / groups;
    const int64_t latest_due = first + (end - 1) * step;
    run_->recorder().RecordUnsent(now - latest_due, end - begin);
  }
}

void Caller::Stop() {
  Stopped();
  run_->ParticipantStopped();  // last: the driver may destroy this caller from here on
}

Outcome BatchOutcome(grpc::ByteBuffer* response, int batch_size, uint64_t* batch_id) {
  Outcome outcome;
  outcome.rpc_ok = true;
  absl::StatusOr<BatchScan> scan = ScanBatch(response);
  if (!scan.ok()) {
    *batch_id = 0;
    outcome.AddErrors(kCodeDataLoss, batch_size);
    return outcome;
  }
  *batch_id = scan->batch_id;
  outcome.tokens = scan->outcome.tokens;
  outcome.errors = scan->outcome.errors;
  outcome.errors_by_code = scan->outcome.errors_by_code;
  if (scan->results < batch_size) outcome.AddErrors(kCodeDataLoss, batch_size - scan->results);
  return outcome;
}

RpcCaller::RpcCaller(RunState* run, int index, grpc::GenericStub* stub)
    : Caller(run, index), stub_(stub), batch_(run->options().mode == LoadMode::kBatch) {}

bool RpcCaller::Issue(int64_t intended_ns) {
  RequestPayloads& payloads = run().payloads();
  const size_t window = payloads.NextWindow();
  // A ClientContext serves one RPC only. The previous one may be destroyed here even when we
  // run inside its completion callback: gRPC holds its own reference to the finished call.
  context_ = std::make_unique<grpc::ClientContext>();
  context_->set_deadline(RpcDeadline(run().options()));
  request_ = batch_ ? payloads.MintTokens(window, 0) : payloads.MintToken(window);
  response_.Clear();
  intended_ns_ = intended_ns;
  stub_->UnaryCall(context_.get(), batch_ ? MintTokensMethod() : MintTokenMethod(),
                   grpc::StubOptions(), &request_, &response_,
                   [this](grpc::Status status) { OnDone(status); });
  return true;
}

void RpcCaller::OnDone(const grpc::Status& status) {
  Complete(intended_ns_, RpcOutcome(run(), batch_, status, &response_));
}

std::chrono::system_clock::time_point RpcDeadline(const LoadOptions& options) {
  return std::chrono::system_clock::now() +
         std::chrono::nanoseconds(static_cast<int64_t>(options.timeout_s * 1e9));
}

Outcome RpcOutcome(RunState& run, bool batch, const grpc::Status& status,
                   grpc::ByteBuffer* response) {
  const int batch_size = run.payloads().batch_size();
  Outcome outcome;
  if (!status.ok()) {
    run.NoteFailure(batch ? "MintTokens" : "MintToken", status.error_code(),
                    status.error_message());
    outcome.AddErrors(status.error_code(), batch_size);
  } else if (batch) {
    uint64_t ignored;
    outcome = BatchOutcome(response, batch_size, &ignored);
  } else {
    outcome.rpc_ok = true;
    outcome.tokens = 1;
  }
  return outcome;
}

}  // namespace sasmint::bench::internal
