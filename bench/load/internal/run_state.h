// run_state.h: what every caller of one load run shares: timeline, payloads, recorder, pacer,
// and the count of participants still running.
//
// Timeline (MonotonicNanos): callers start at start_ns; requests due in
// [measure_start_ns, measure_end_ns) are measured; none is due at or after measure_end_ns. An
// open-loop caller behind schedule keeps sending its overdue requests until give_up_ns, then
// counts the rest as unsent. Participants are callers and streams: the driver may destroy
// them only once every one has called ParticipantStopped. Thread-safe.
#ifndef SASMINT_BENCH_LOAD_INTERNAL_RUN_STATE_H_
#define SASMINT_BENCH_LOAD_INTERNAL_RUN_STATE_H_

#include <bitset>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench/load/load_options.h"
#include "bench/load/load_stats.h"
#include "bench/load/outcome.h"
#include "bench/load/pacer.h"
#include "bench/load/request_payloads.h"

namespace sasmint::bench::internal {

struct RunTimeline {
  int64_t start_ns = 0;
  int64_t measure_start_ns = 0;
  int64_t measure_end_ns = 0;
  int64_t give_up_ns = 0;
  // Open loop: time between two requests of one caller; 0 for closed loop.
  int64_t interval_ns = 0;
};

class RunState {
 public:
  RunState(const LoadOptions* options, RequestPayloads* payloads, Recorder* recorder, Pacer* pacer,
           RunTimeline timeline, int participants)
      : options_(options),
        payloads_(payloads),
        recorder_(recorder),
        pacer_(pacer),
        timeline_(timeline),
        active_(participants) {}

  const LoadOptions& options() const { return *options_; }
  RequestPayloads& payloads() const { return *payloads_; }
  Recorder& recorder() const { return *recorder_; }
  // The pacer, for callers that wait on it (null when none does: the cq transport).
  Pacer& pacer() const { return *pacer_; }
  const RunTimeline& timeline() const { return timeline_; }

  bool Measured(int64_t intended_ns) const {
    return intended_ns >= timeline_.measure_start_ns && intended_ns < timeline_.measure_end_ns;
  }

  // ParticipantStopped is called exactly once by each caller and stream, as its last act.
  void ParticipantStopped() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    --active_;
  }

  // Warn prints `message` to stderr as a warning; after kMaxWarnings, further ones are dropped
  // so that a failing run does not flood the terminal.
  void Warn(absl::string_view message) ABSL_LOCKS_EXCLUDED(mu_);

  // NoteFailure warns about the first failure of each gRPC code (code and server message).
  void NoteFailure(absl::string_view rpc, int code, absl::string_view message)
      ABSL_LOCKS_EXCLUDED(mu_);

  // WaitForAllStopped returns true once every participant has stopped, false after `timeout`.
  bool WaitForAllStopped(absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    const auto stopped = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return active_ == 0; };
    return mu_.AwaitWithTimeout(absl::Condition(&stopped), timeout);
  }

 private:
  const LoadOptions* options_;
  RequestPayloads* payloads_;
  Recorder* recorder_;
  Pacer* pacer_;
  const RunTimeline timeline_;
  static constexpr int kMaxWarnings = 10;

  absl::Mutex mu_;
  int active_ ABSL_GUARDED_BY(mu_);
  int warnings_ ABSL_GUARDED_BY(mu_) = 0;
  std::bitset<kCodeSlots> codes_noted_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sasmint::bench::internal

#endif  // SASMINT_BENCH_LOAD_INTERNAL_RUN_STATE_H_
