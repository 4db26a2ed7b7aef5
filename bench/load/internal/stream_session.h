// stream_session.h: one StreamTokens stream, shared by the stream-mode callers (slots) on it.
//
// Each slot is a Caller with at most one batch in flight; a session carries the batches of all
// its slots, writing them one at a time (gRPC allows one outstanding write) from a queue whose
// length is bounded by the slot count, and keeps one read outstanding. Every message gets a
// fresh batch_id and each response is matched to its slot by batch_id, so answers may come in
// any order. When the last slot stops the session half-closes; when the stream fails, the
// batches in flight fail with the stream's status and the slots stop. A session is a
// participant of the run: it calls ParticipantStopped from OnDone. Thread-safe.
#ifndef SASMINT_BENCH_LOAD_INTERNAL_STREAM_SESSION_H_
#define SASMINT_BENCH_LOAD_INTERNAL_STREAM_SESSION_H_

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <deque>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "bench/load/internal/caller.h"
#include "bench/load/internal/run_state.h"

namespace sasmint::bench::internal {

class StreamSession;

// StreamSlot is one stream-mode caller.
class StreamSlot final : public Caller {
 public:
  StreamSlot(RunState* run, int index, StreamSession* session)
      : Caller(run, index), session_(session) {}

 private:
  bool Issue(int64_t intended_ns) override;
  void Stopped() override;

  StreamSession* const session_;
};

class StreamSession final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  // `slots` callers will use this session; `deadline` bounds the whole stream.
  StreamSession(RunState* run, grpc::GenericStub* stub, int slots,
                std::chrono::system_clock::time_point deadline);

  // Start opens the stream. Call before any slot sends.
  void Start();

  // Send queues a batch for `slot`, due at `intended_ns`. Returns false if the stream is
  // closing or closed (the slot should stop).
  bool Send(StreamSlot* slot, int64_t intended_ns) ABSL_LOCKS_EXCLUDED(mu_);

  // SlotStopped is called once by each slot when it stops; the last one half-closes.
  void SlotStopped() ABSL_LOCKS_EXCLUDED(mu_);

  void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnReadDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnDone(const grpc::Status& status) override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct InFlight {
    StreamSlot* slot;
    int64_t intended_ns;
  };

  // CloseLocked marks the stream closed for writes and says what the caller must do once it
  // has released mu_: half-close, and/or release the hold that keeps OnDone from running.
  void CloseLocked(bool half_close, bool* send_writes_done, bool* remove_hold)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  RunState* const run_;
  grpc::GenericStub* const stub_;
  grpc::ClientContext context_;
  grpc::ByteBuffer read_buffer_;   // the one outstanding read's target
  grpc::ByteBuffer write_buffer_;  // the one outstanding write's message

  absl::Mutex mu_;
  std::deque<grpc::ByteBuffer> queue_ ABSL_GUARDED_BY(mu_);  // waiting for the writer
  absl::flat_hash_map<uint64_t, InFlight> in_flight_ ABSL_GUARDED_BY(mu_);
  uint64_t next_batch_id_ ABSL_GUARDED_BY(mu_) = 1;
  int active_slots_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;  // no more writes will start
  bool half_close_wanted_ ABSL_GUARDED_BY(mu_) = false;
  bool hold_released_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace sasmint::bench::internal

#endif  // SASMINT_BENCH_LOAD_INTERNAL_STREAM_SESSION_H_
