#include "bench/load/internal/stream_session.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace sasmint::bench::internal {
namespace {

const std::string& StreamTokensMethod() {
  static const std::string* const kMethod =
      new std::string("/sasmint.v1.TokenService/StreamTokens");
  return *kMethod;
}

constexpr int kCodeDataLoss = 15;

}  // namespace

bool StreamSlot::Issue(int64_t intended_ns) { return session_->Send(this, intended_ns); }

void StreamSlot::Stopped() { session_->SlotStopped(); }

StreamSession::StreamSession(RunState* run, grpc::GenericStub* stub, int slots,
                             std::chrono::system_clock::time_point deadline)
    : run_(run), stub_(stub), active_slots_(slots) {
  context_.set_deadline(deadline);
}

void StreamSession::Start() {
  stub_->PrepareBidiStreamingCall(&context_, StreamTokensMethod(), grpc::StubOptions(), this);
  // Slots write from threads outside this reactor's callbacks; the hold keeps OnDone (and
  // the end of the reactor) from coming while another write may still start.
  AddHold();
  StartRead(&read_buffer_);
  StartCall();
}

bool StreamSession::Send(StreamSlot* slot, int64_t intended_ns) {
  RequestPayloads& payloads = run_->payloads();
  const size_t window = payloads.NextWindow();
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return false;
    const uint64_t batch_id = next_batch_id_++;
    in_flight_[batch_id] = InFlight{slot, intended_ns};
    grpc::ByteBuffer message = payloads.MintTokens(window, batch_id);
    if (writing_) {
      queue_.push_back(std::move(message));
      return true;
    }
    writing_ = true;
    write_buffer_ = std::move(message);
  }
  StartWrite(&write_buffer_);
  return true;
}

void StreamSession::SlotStopped() {
  bool send_writes_done = false;
  bool remove_hold = false;
  {
    absl::MutexLock lock(&mu_);
    if (--active_slots_ > 0) return;
    CloseLocked(/*half_close=*/true, &send_writes_done, &remove_hold);
  }
  if (send_writes_done) StartWritesDone();
  if (remove_hold) RemoveHold();
}

void StreamSession::CloseLocked(bool half_close, bool* send_writes_done, bool* remove_hold) {
  closed_ = true;
  half_close_wanted_ = half_close_wanted_ || half_close;
  // While a write is outstanding, OnWriteDone finishes up instead.
  if (writing_ || hold_released_) return;
  hold_released_ = true;
  *remove_hold = true;
  *send_writes_done = half_close_wanted_;
}

void StreamSession::OnWriteDone(bool ok) {
  bool start_next = false;
  bool send_writes_done = false;
  bool remove_hold = false;
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (ok && !closed_ && !queue_.empty()) {
      write_buffer_ = std::move(queue_.front());
      queue_.pop_front();
      writing_ = true;
      start_next = true;
    } else if (!ok || closed_) {
      // A failed write means the stream is broken: OnDone will fail what is in flight.
      CloseLocked(/*half_close=*/false, &send_writes_done, &remove_hold);
      send_writes_done = send_writes_done && ok;
    }
  }
  if (start_next) StartWrite(&write_buffer_);
  if (send_writes_done) StartWritesDone();
  if (remove_hold) RemoveHold();
}

void StreamSession::OnReadDone(bool ok) {
  if (!ok) {
    // The server has ended the stream (or it broke); OnDone follows with the status.
    bool send_writes_done = false;
    bool remove_hold = false;
    {
      absl::MutexLock lock(&mu_);
      CloseLocked(/*half_close=*/false, &send_writes_done, &remove_hold);
    }
    if (send_writes_done) StartWritesDone();
    if (remove_hold) RemoveHold();
    return;
  }
  uint64_t batch_id = 0;
  Outcome outcome = BatchOutcome(&read_buffer_, run_->payloads().batch_size(), &batch_id);
  InFlight done{nullptr, 0};
  bool matched = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = in_flight_.find(batch_id);
    matched = it != in_flight_.end();
    if (!matched && !in_flight_.empty()) {
      // The server answers batches in order, so an unreadable or mismatched response is the
      // oldest batch's: fail that one rather than leave its caller waiting for the deadline.
      it = std::min_element(in_flight_.begin(), in_flight_.end(),
                            [](const auto& a, const auto& b) { return a.first < b.first; });
    }
    if (it != in_flight_.end()) {
      done = it->second;
      in_flight_.erase(it);
    }
  }
  StartRead(&read_buffer_);
  if (!matched) {
    run_->Warn(absl::StrCat("StreamTokens response with batch_id ", batch_id,
                            " matches no batch in flight; counted as DATA_LOSS"));
    const int batch_size = run_->payloads().batch_size();
    outcome = Outcome();
    outcome.rpc_ok = true;
    outcome.AddErrors(kCodeDataLoss, batch_size);
  }
  if (done.slot != nullptr) done.slot->Complete(done.intended_ns, outcome);
}

void StreamSession::OnDone(const grpc::Status& status) {
  std::vector<InFlight> failed;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    hold_released_ = true;
    failed.reserve(in_flight_.size());
    for (const auto& [id, in_flight] : in_flight_) failed.push_back(in_flight);
    in_flight_.clear();
    queue_.clear();
  }
  if (!status.ok()) {
    run_->NoteFailure("StreamTokens", status.error_code(), status.error_message());
  }
  // Batches the stream never answered fail with its status; a stream that ended OK with
  // batches unanswered lost them.
  Outcome outcome;
  outcome.AddErrors(status.ok() ? kCodeDataLoss : status.error_code(),
                    run_->payloads().batch_size());
  for (const InFlight& f : failed) f.slot->Complete(f.intended_ns, outcome);
  run_->ParticipantStopped();  // last: the driver may destroy this session from here on
}

}  // namespace sasmint::bench::internal
