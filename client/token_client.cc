#include "client/token_client.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <iostream>
#include <optional>
#include <queue>
#include <random>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "client/internal/transport.h"

namespace sasmint::client {
namespace {

using internal::MintOutcome;

// Skews this small are the server_time's one-second granularity, not a wrong clock.
constexpr absl::Duration kSmallSkew = absl::Seconds(2);
// The scheduler re-reads the injected clock at least this often (a test clock may jump).
constexpr absl::Duration kMaxSleep = absl::Milliseconds(200);

// CallbackRunner runs closures one at a time, in order, on its own thread.
class CallbackRunner {
 public:
  CallbackRunner() : thread_([this] { Run(); }) {}
  ~CallbackRunner() { Stop(); }

  void Post(std::function<void()> fn) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(fn));
  }
  // Stop runs what is queued, then ends the thread. Not from a callback.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() {
    absl::MutexLock lock(&mu_);
    while (true) {
      mu_.Await(absl::Condition(
          +[](CallbackRunner* r)
               ABSL_NO_THREAD_SAFETY_ANALYSIS { return r->stop_ || !r->queue_.empty(); },
          this));
      if (queue_.empty()) return;
      std::function<void()> fn = std::move(queue_.front());
      queue_.pop_front();
      mu_.Unlock();
      fn();
      fn = nullptr;  // destroy captured state outside the lock too
      mu_.Lock();
    }
  }

  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts once the rest is constructed
};

// IsIdentityError returns whether the server refused the identity itself (unknown, disabled,
// not this caller's, malformed): retrying will not help.
bool IsIdentityError(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kInvalidArgument:
      return true;
    default:
      return false;
  }
}

std::string FormatSkew(absl::Duration skew) {
  return absl::StrFormat("%.0f s %s", absl::ToDoubleSeconds(absl::AbsDuration(skew)),
                         skew > absl::ZeroDuration() ? "ahead of" : "behind");
}

}  // namespace

std::string Audience(const Identity& identity) {
  std::string out = absl::StrCat(identity.hub, "/devices/", identity.device_id);
  if (!identity.module_id.empty()) absl::StrAppend(&out, "/modules/", identity.module_id);
  return out;
}

class TokenClient::Impl {
 public:
  Impl(Options options, std::unique_ptr<internal::Transport> transport);
  ~Impl();

  void GetAsync(const Identity& identity, std::function<void(absl::StatusOr<Token>)> done,
                bool run_inline) ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t Watch(const Identity& identity, TokenHooks hooks) ABSL_LOCKS_EXCLUDED(mu_);
  void Unwatch(uint64_t watch_id) ABSL_LOCKS_EXCLUDED(mu_);
  void Forget(const Identity& identity) ABSL_LOCKS_EXCLUDED(mu_);
  TokenClientStats Stats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  enum class MintState { kIdle, kQueued, kInFlight };
  enum Lane { kGetLane = 0, kRenewLane = 1 };

  struct Waiter {
    std::function<void(absl::StatusOr<Token>)> done;
    absl::Time deadline;
    bool run_inline = false;
  };

  // Entry is one identity's cache slot. Slots are reused; `epoch` tells the generations apart
  // (a batch in flight for a forgotten identity is then ignored).
  struct Entry {
    Identity id;
    uint32_t slot = 0;
    uint64_t epoch = 0;
    bool live = false;
    std::optional<Token> token;
    bool renewing = false;  // renewed in the background (set by Get)
    bool lapsed = false;    // the cached token expired before its renewal (counted once)
    MintState state = MintState::kIdle;
    Lane lane = kGetLane;
    // attempt_at: when to mint next (renewal point, or retry after backoff); infinite: never.
    absl::Time attempt_at = absl::InfiniteFuture();
    int failures = 0;  // consecutive failed attempts
    absl::Status last_error;
    std::vector<Waiter> waiters;
    // The one valid heap item (heap_gen) and its time.
    uint64_t heap_gen = 0;
    absl::Time scheduled_at = absl::InfiniteFuture();
  };

  struct SlotRef {
    uint32_t slot;
    uint64_t epoch;
  };
  struct HeapItem {
    absl::Time at;
    uint32_t slot;
    uint64_t gen;
    bool operator>(const HeapItem& o) const { return at > o.at; }
  };
  struct Pending {
    std::vector<SlotRef> items;
    absl::Time flush_at = absl::InfiniteFuture();
  };
  // Deliveries are what a locked section leaves to do once mu_ is released.
  struct Deliveries {
    std::vector<std::function<void()>> now;     // run on this thread
    std::vector<std::function<void()>> posted;  // run on the callback thread
    std::vector<internal::MintBatch> batches;   // send
    bool empty() const { return now.empty() && posted.empty() && batches.empty(); }
  };

  void SchedulerLoop() ABSL_LOCKS_EXCLUDED(mu_);
  void OnMinted(const std::vector<SlotRef>& refs, std::vector<MintOutcome> outcomes)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Deliver(Deliveries& d) ABSL_LOCKS_EXCLUDED(mu_);

  Entry& FindOrCreateLocked(const Identity& identity) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HandleDueLocked(Entry& e, absl::Time now, Deliveries& d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeStartMintLocked(Entry& e, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ScheduleLocked(Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WakeLocked(absl::Time at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TakeBatchesLocked(Lane lane, absl::Time now, Deliveries& d)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AcceptLocked(Entry& e, const MintOutcome& o, absl::Time now, Deliveries& d)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FailLocked(Entry& e, const MintOutcome& o, absl::Time now, Deliveries& d)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NoteSkewLocked(absl::Duration skew, Deliveries& d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AnswerLocked(Waiter w, absl::StatusOr<Token> result, Deliveries& d)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  double Uniform01Locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  }

  const Options options_;
  const Clock& clock_;
  std::unique_ptr<internal::Transport> transport_;
  CallbackRunner runner_;

  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<Identity, uint32_t> index_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Entry>> slots_ ABSL_GUARDED_BY(mu_);
  std::vector<uint32_t> free_slots_ ABSL_GUARDED_BY(mu_);
  uint64_t epoch_counter_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t gen_counter_ ABSL_GUARDED_BY(mu_) = 0;
  std::priority_queue<HeapItem, std::vector<HeapItem>, std::greater<HeapItem>> heap_
      ABSL_GUARDED_BY(mu_);
  Pending pending_[2] ABSL_GUARDED_BY(mu_);
  // The time the scheduler sleeps until; InfinitePast while it runs (it re-checks then).
  absl::Time sched_wake_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);

  uint64_t next_watch_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, std::pair<Identity, std::shared_ptr<const TokenHooks>>> watches_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<Identity, std::vector<uint64_t>> watches_by_identity_ ABSL_GUARDED_BY(mu_);

  bool skewed_ ABSL_GUARDED_BY(mu_) = false;
  TokenClientStats stats_ ABSL_GUARDED_BY(mu_);

  std::thread scheduler_;  // last: starts once the rest is constructed
};

TokenClient::Impl::Impl(Options options, std::unique_ptr<internal::Transport> transport)
    : options_(std::move(options)),
      clock_(*options_.clock),
      transport_(std::move(transport)),
      rng_(options_.seed != 0 ? options_.seed : std::random_device()()),
      scheduler_([this] { SchedulerLoop(); }) {}

TokenClient::Impl::~Impl() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    cv_.Signal();
  }
  scheduler_.join();
  // Cancels what is in flight; the batches' callbacks have all returned afterwards.
  transport_->Shutdown();
  Deliveries d;
  {
    absl::MutexLock lock(&mu_);
    for (auto& e : slots_) {
      if (!e->live) continue;
      for (Waiter& w : e->waiters) {
        AnswerLocked(std::move(w), absl::CancelledError("the token client is shutting down"), d);
      }
      e->waiters.clear();
    }
  }
  for (auto& fn : d.now) fn();
  for (auto& fn : d.posted) runner_.Post(std::move(fn));
  runner_.Stop();
}

void TokenClient::Impl::Deliver(Deliveries& d) {
  for (auto& fn : d.now) fn();
  for (auto& fn : d.posted) runner_.Post(std::move(fn));
  for (auto& batch : d.batches) transport_->Send(std::move(batch));
  d = Deliveries();
}

void TokenClient::Impl::AnswerLocked(Waiter w, absl::StatusOr<Token> result, Deliveries& d) {
  auto fn = [done = std::move(w.done), result = std::move(result)]() mutable {
    done(std::move(result));
  };
  (w.run_inline ? d.now : d.posted).push_back(std::move(fn));
}

TokenClient::Impl::Entry& TokenClient::Impl::FindOrCreateLocked(const Identity& identity) {
  auto it = index_.find(identity);
  if (it != index_.end()) return *slots_[it->second];
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.push_back(std::make_unique<Entry>());
  }
  Entry& e = *slots_[slot];
  e = Entry();
  e.id = identity;
  e.slot = slot;
  e.epoch = ++epoch_counter_;
  e.live = true;
  index_.emplace(identity, slot);
  ++stats_.identities;
  return e;
}

void TokenClient::Impl::GetAsync(const Identity& identity,
                                 std::function<void(absl::StatusOr<Token>)> done, bool run_inline) {
  std::optional<absl::StatusOr<Token>> immediate;
  Deliveries d;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_.Now();
    if (stopping_) {
      immediate = absl::CancelledError("the token client is shutting down");
    } else {
      Entry& e = FindOrCreateLocked(identity);
      e.renewing = true;
      if (e.token.has_value() && now < e.token->local_expires_at - options_.get_min_validity) {
        ++stats_.cache_hits;
        immediate = *e.token;
      } else {
        if (e.state != MintState::kIdle) ++stats_.coalesced;
        e.waiters.push_back(Waiter{std::move(done), now + options_.get_timeout, run_inline});
        if (e.state == MintState::kIdle) {
          // A Get does not cut a retry's backoff short, but restarts a stopped renewal.
          if (e.attempt_at > now && (e.failures == 0 || e.attempt_at == absl::InfiniteFuture())) {
            e.attempt_at = now;
          }
          MaybeStartMintLocked(e, now);
        } else if (e.state == MintState::kQueued && e.lane == kRenewLane) {
          Pending& p = pending_[kRenewLane];
          p.flush_at = std::min(p.flush_at, now + options_.batch_delay);
          WakeLocked(p.flush_at);
        }
        ScheduleLocked(e);
      }
    }
  }
  if (immediate.has_value()) done(*std::move(immediate));
  Deliver(d);
}

void TokenClient::Impl::MaybeStartMintLocked(Entry& e, absl::Time now) {
  if (e.state != MintState::kIdle || e.attempt_at > now) return;
  e.state = MintState::kQueued;
  e.attempt_at = absl::InfiniteFuture();
  e.lane = e.waiters.empty() ? kRenewLane : kGetLane;
  if (e.failures > 0) ++stats_.retries;
  Pending& p = pending_[e.lane];
  if (p.items.empty()) {
    p.flush_at = now + (e.lane == kGetLane ? options_.batch_delay : options_.renew_batch_delay);
  }
  p.items.push_back(SlotRef{e.slot, e.epoch});
  if (options_.mode == MintMode::kUnary ||
      p.items.size() >= static_cast<size_t>(options_.max_batch_size)) {
    p.flush_at = now;
  }
  WakeLocked(p.flush_at);
}

void TokenClient::Impl::ScheduleLocked(Entry& e) {
  absl::Time wake = absl::InfiniteFuture();
  if (e.state == MintState::kIdle) wake = e.attempt_at;
  // Wake at expiry too, to count a lapse when it happens rather than when a renewal lands.
  if (e.token.has_value() && e.renewing && !e.lapsed) {
    wake = std::min(wake, e.token->local_expires_at);
  }
  for (const Waiter& w : e.waiters) wake = std::min(wake, w.deadline);
  if (wake == e.scheduled_at && e.heap_gen != 0) return;
  e.scheduled_at = wake;
  if (wake == absl::InfiniteFuture()) {
    e.heap_gen = 0;
    return;
  }
  e.heap_gen = ++gen_counter_;
  heap_.push(HeapItem{wake, e.slot, e.heap_gen});
  WakeLocked(wake);
}

void TokenClient::Impl::WakeLocked(absl::Time at) {
  if (at < sched_wake_) {
    sched_wake_ = absl::InfinitePast();
    cv_.Signal();
  }
}

void TokenClient::Impl::HandleDueLocked(Entry& e, absl::Time now, Deliveries& d) {
  if (!e.waiters.empty()) {
    const bool valid = e.token.has_value() && now < e.token->local_expires_at;
    std::vector<Waiter> keep;
    for (Waiter& w : e.waiters) {
      if (w.deadline > now) {
        keep.push_back(std::move(w));
      } else if (valid) {
        AnswerLocked(std::move(w), *e.token, d);  // short-lived, but better than an error
      } else {
        AnswerLocked(std::move(w),
                     e.last_error.ok() ? absl::DeadlineExceededError(
                                             "no token from the server within get_timeout")
                                       : e.last_error,
                     d);
      }
    }
    e.waiters = std::move(keep);
  }
  if (e.token.has_value() && e.renewing && !e.lapsed && now >= e.token->local_expires_at) {
    e.lapsed = true;
    ++stats_.expired_before_renewal;
  }
  MaybeStartMintLocked(e, now);
  ScheduleLocked(e);
}

void TokenClient::Impl::TakeBatchesLocked(Lane lane, absl::Time now, Deliveries& d) {
  Pending& p = pending_[lane];
  if (p.items.empty() || p.flush_at > now) return;
  const size_t max = options_.mode == MintMode::kUnary ? 1 : options_.max_batch_size;
  // Gets wait for a reconnecting channel; renewals fail at once and back off with jitter, so
  // that the renewals a server restart held up do not all land the moment it is back.
  const bool wait_for_ready = lane == kGetLane;
  internal::MintBatch batch;
  batch.wait_for_ready = wait_for_ready;
  std::vector<SlotRef> refs;
  const auto finish = [&] {
    if (refs.empty()) return;
    batch.done = [this, refs = std::move(refs)](std::vector<MintOutcome> outcomes) {
      OnMinted(refs, std::move(outcomes));
    };
    d.batches.push_back(std::move(batch));
    batch = internal::MintBatch();
    batch.wait_for_ready = wait_for_ready;
    refs = std::vector<SlotRef>();
  };
  for (const SlotRef& ref : p.items) {
    Entry& e = *slots_[ref.slot];
    if (!e.live || e.epoch != ref.epoch || e.state != MintState::kQueued) continue;
    e.state = MintState::kInFlight;
    batch.identities.push_back(e.id);
    refs.push_back(ref);
    if (refs.size() >= max) finish();
  }
  finish();
  p.items.clear();
  p.flush_at = absl::InfiniteFuture();
}

void TokenClient::Impl::SchedulerLoop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    const absl::Time now = clock_.Now();
    Deliveries d;
    while (!heap_.empty() && heap_.top().at <= now) {
      const HeapItem item = heap_.top();
      heap_.pop();
      Entry& e = *slots_[item.slot];
      if (!e.live || e.heap_gen != item.gen) continue;  // stale
      e.heap_gen = 0;
      e.scheduled_at = absl::InfiniteFuture();
      HandleDueLocked(e, now, d);
    }
    TakeBatchesLocked(kGetLane, now, d);
    TakeBatchesLocked(kRenewLane, now, d);
    if (!d.empty()) {
      mu_.Unlock();
      Deliver(d);
      mu_.Lock();
      continue;
    }
    absl::Time next = heap_.empty() ? absl::InfiniteFuture() : heap_.top().at;
    for (const Pending& p : pending_) {
      if (!p.items.empty()) next = std::min(next, p.flush_at);
    }
    const absl::Duration wait = std::min(next - now, kMaxSleep);
    if (wait <= absl::ZeroDuration()) continue;
    sched_wake_ = now + wait;
    cv_.WaitWithTimeout(&mu_, wait);
    sched_wake_ = absl::InfinitePast();
  }
}

void TokenClient::Impl::OnMinted(const std::vector<SlotRef>& refs,
                                 std::vector<MintOutcome> outcomes) {
  Deliveries d;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_.Now();
    for (size_t i = 0; i < refs.size() && i < outcomes.size(); ++i) {
      Entry& e = *slots_[refs[i].slot];
      if (!e.live || e.epoch != refs[i].epoch || e.state != MintState::kInFlight) continue;
      e.state = MintState::kIdle;
      if (outcomes[i].status.ok()) {
        AcceptLocked(e, outcomes[i], now, d);
      } else {
        FailLocked(e, outcomes[i], now, d);
      }
      ScheduleLocked(e);
    }
  }
  Deliver(d);
}

void TokenClient::Impl::NoteSkewLocked(absl::Duration skew, Deliveries& d) {
  stats_.clock_skew = skew;
  const absl::Duration magnitude = absl::AbsDuration(skew);
  if (magnitude > options_.clock_skew_threshold && !skewed_) {
    skewed_ = true;
    ++stats_.clock_skew_warnings;
    std::string line = absl::StrCat(
        "sasmint-client: warning: the local clock is ", FormatSkew(skew),
        " the server's (server_time); tokens are scheduled on the server's time, but IoT Hub "
        "may reject tokens from devices that use the local clock");
    d.now.push_back([log = options_.log, line = std::move(line)] { log(line); });
    if (options_.on_clock_skew) {
      d.posted.push_back([fn = options_.on_clock_skew, skew] { fn(skew); });
    }
  } else if (magnitude < options_.clock_skew_threshold * 0.9) {
    skewed_ = false;  // hysteresis: server_time's rounding must not make the warning flap
  }
}

void TokenClient::Impl::AcceptLocked(Entry& e, const MintOutcome& o, absl::Time now,
                                     Deliveries& d) {
  ++stats_.tokens_minted;
  // server_time is the server's clock truncated to whole seconds at minting, so the server's
  // clock read server_time + 0.5 s (± 0.5 s, plus the round trip) when the answer arrived.
  // Correct only real skews, and then by the upper bound, so that renewals come early.
  const absl::Duration skew = now - absl::FromUnixSeconds(o.server_time) - absl::Milliseconds(500);
  NoteSkewLocked(skew, d);
  const absl::Duration offset =
      absl::AbsDuration(skew) > kSmallSkew ? skew - absl::Milliseconds(500) : absl::ZeroDuration();
  Token t;
  t.text = o.token;
  t.expires_at = absl::FromUnixSeconds(o.expires_at);
  t.renew_after = absl::FromUnixSeconds(o.renew_after);
  t.server_time = absl::FromUnixSeconds(o.server_time);
  t.local_expires_at = t.expires_at + offset;
  t.local_renew_after = t.renew_after + offset;

  const bool had = e.token.has_value();
  if (had) {
    ++stats_.renewals;
    if (e.renewing && !e.lapsed && now >= e.token->local_expires_at) {
      ++stats_.expired_before_renewal;
    }
  }
  absl::Time renew_at = t.local_renew_after;
  if (!had && options_.spread_first_renewal && renew_at > now + absl::Seconds(1)) {
    // Not sooner than 1 s: the server would sign the same `se` again.
    renew_at = now + absl::Seconds(1) + (renew_at - now - absl::Seconds(1)) * Uniform01Locked();
  } else if (renew_at <= now) {
    // A hint already past (a server misconfigured, a clock that jumped): no mint loop.
    renew_at = now + std::max(absl::Seconds(1), (t.local_expires_at - now) / 2);
  }
  e.lapsed = false;
  e.failures = 0;
  e.last_error = absl::OkStatus();
  e.attempt_at = e.renewing ? renew_at : absl::InfiniteFuture();
  e.token = t;
  for (Waiter& w : e.waiters) AnswerLocked(std::move(w), t, d);
  e.waiters.clear();
  if (!had) return;
  auto it = watches_by_identity_.find(e.id);
  if (it == watches_by_identity_.end()) return;
  for (uint64_t watch_id : it->second) {
    std::shared_ptr<const TokenHooks> hooks = watches_.find(watch_id)->second.second;
    d.posted.push_back([hooks, id = e.id, t] {
      if (hooks->on_token_renewed) hooks->on_token_renewed(id, t);
      if (hooks->on_put_token) {
        PutToken put;
        put.audience = Audience(id);
        put.token = &t;
        hooks->on_put_token(id, put);
      }
    });
  }
}

void TokenClient::Impl::FailLocked(Entry& e, const MintOutcome& o, absl::Time now, Deliveries& d) {
  const absl::Status& status = o.status;
  ++stats_.failures;
  ++e.failures;
  e.last_error = status;
  const bool valid = e.token.has_value() && now < e.token->local_expires_at;
  if (!o.call_failed && IsIdentityError(status)) {
    // The server refuses this identity: tell the callers and stop renewing it.
    for (Waiter& w : e.waiters) AnswerLocked(std::move(w), status, d);
    e.waiters.clear();
    e.attempt_at = absl::InfiniteFuture();
    if (!e.renewing) return;
    e.renewing = false;
    auto it = watches_by_identity_.find(e.id);
    if (it == watches_by_identity_.end()) return;
    for (uint64_t watch_id : it->second) {
      std::shared_ptr<const TokenHooks> hooks = watches_.find(watch_id)->second.second;
      if (!hooks->on_renewal_failed) continue;
      d.posted.push_back([hooks, id = e.id, status] { hooks->on_renewal_failed(id, status); });
    }
    return;
  }
  // Anything else may pass (a server back up, a certificate renewed): keep renewing. Callers
  // that wanted a fresher token get the cached one, still valid, rather than wait; without
  // one, they wait for a retry, or get an error no retry is likely to fix (UNAUTHENTICATED).
  if (valid || !internal::IsRetryable(status)) {
    for (Waiter& w : e.waiters) {
      AnswerLocked(std::move(w), valid ? absl::StatusOr<Token>(*e.token) : status, d);
    }
    e.waiters.clear();
  }
  if (!e.renewing && e.waiters.empty()) {
    e.attempt_at = absl::InfiniteFuture();
    return;
  }
  // Full jitter: uniform over [0, cap), cap doubling per failure, at most a third of the life
  // left so that several attempts fit before expiry.
  const absl::Duration initial =
      e.waiters.empty() ? options_.renew_initial_backoff : options_.initial_backoff;
  absl::Duration cap =
      std::min(options_.max_backoff, initial * std::ldexp(1.0, std::min(e.failures - 1, 30)));
  if (valid) cap = std::min(cap, (e.token->local_expires_at - now) / 3);
  e.attempt_at = now + cap * Uniform01Locked();
}

uint64_t TokenClient::Impl::Watch(const Identity& identity, TokenHooks hooks) {
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_watch_id_++;
  watches_[id] = {identity, std::make_shared<const TokenHooks>(std::move(hooks))};
  watches_by_identity_[identity].push_back(id);
  return id;
}

void TokenClient::Impl::Unwatch(uint64_t watch_id) {
  absl::MutexLock lock(&mu_);
  auto it = watches_.find(watch_id);
  if (it == watches_.end()) return;
  auto by = watches_by_identity_.find(it->second.first);
  if (by != watches_by_identity_.end()) {
    auto& ids = by->second;
    ids.erase(std::remove(ids.begin(), ids.end(), watch_id), ids.end());
    if (ids.empty()) watches_by_identity_.erase(by);
  }
  watches_.erase(it);
}

void TokenClient::Impl::Forget(const Identity& identity) {
  Deliveries d;
  {
    absl::MutexLock lock(&mu_);
    auto it = index_.find(identity);
    if (it == index_.end()) return;
    Entry& e = *slots_[it->second];
    for (Waiter& w : e.waiters) {
      AnswerLocked(std::move(w), absl::CancelledError("the identity was forgotten"), d);
    }
    e.waiters.clear();
    e.live = false;
    e.heap_gen = 0;
    e.token.reset();
    free_slots_.push_back(e.slot);
    index_.erase(it);
    --stats_.identities;
  }
  Deliver(d);
}

TokenClientStats TokenClient::Impl::Stats() const {
  absl::MutexLock lock(&mu_);
  TokenClientStats out = stats_;
  out.rpcs = transport_->rpcs();
  out.stream_reopens = transport_->stream_reopens();
  return out;
}

absl::StatusOr<std::unique_ptr<TokenClient>> TokenClient::Create(Options options) {
  if (options.max_batch_size < 1 || options.max_batch_size > 1000000) {
    return absl::InvalidArgumentError("max_batch_size must be 1 to 1,000,000");
  }
  if (options.batch_delay < absl::ZeroDuration() ||
      options.renew_batch_delay < absl::ZeroDuration() ||
      options.rpc_timeout <= absl::ZeroDuration() || options.get_timeout <= absl::ZeroDuration() ||
      options.get_min_validity < absl::ZeroDuration() ||
      options.initial_backoff <= absl::ZeroDuration() ||
      options.renew_initial_backoff <= absl::ZeroDuration() ||
      options.max_backoff < options.initial_backoff ||
      options.max_backoff < options.renew_initial_backoff ||
      options.clock_skew_threshold <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "delays must be >= 0, timeouts and backoffs > 0, max_backoff >= the initial backoffs");
  }
  if (options.clock == nullptr) return absl::InvalidArgumentError("no clock");
  if (!options.log) {
    options.log = [](const std::string& line) { std::cerr << line << std::endl; };
  }
  internal::TransportOptions t;
  t.target = options.target;
  t.tls_root_certs_pem = options.tls_root_certs_pem;
  t.tls_private_key_pem = options.tls_private_key_pem;
  t.tls_cert_chain_pem = options.tls_cert_chain_pem;
  t.mode = options.mode;
  t.ttl_seconds = options.ttl_seconds;
  t.rpc_timeout = options.rpc_timeout;
  absl::StatusOr<std::unique_ptr<internal::Transport>> transport = internal::MakeTransport(t);
  if (!transport.ok()) return transport.status();
  return std::unique_ptr<TokenClient>(
      new TokenClient(std::make_unique<Impl>(std::move(options), *std::move(transport))));
}

TokenClient::TokenClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TokenClient::~TokenClient() = default;

absl::StatusOr<Token> TokenClient::Get(const Identity& identity) {
  struct State {
    absl::Notification done;
    absl::StatusOr<Token> result;
  };
  auto state = std::make_shared<State>();
  impl_->GetAsync(
      identity,
      [state](absl::StatusOr<Token> r) {
        state->result = std::move(r);
        state->done.Notify();
      },
      /*run_inline=*/true);
  state->done.WaitForNotification();
  return std::move(state->result);
}

void TokenClient::GetAsync(const Identity& identity,
                           std::function<void(absl::StatusOr<Token>)> done) {
  impl_->GetAsync(identity, std::move(done), /*run_inline=*/false);
}

uint64_t TokenClient::Watch(const Identity& identity, TokenHooks hooks) {
  return impl_->Watch(identity, std::move(hooks));
}
void TokenClient::Unwatch(uint64_t watch_id) { impl_->Unwatch(watch_id); }
void TokenClient::Forget(const Identity& identity) { impl_->Forget(identity); }
TokenClientStats TokenClient::Stats() const { return impl_->Stats(); }

}  // namespace sasmint::client
