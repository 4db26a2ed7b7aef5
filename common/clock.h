// clock.h: the source of time for the service, injected so tests control it.
//
// Clock::Real() is the system clock. FakeClock is a settable clock for tests. Both thread-safe.
#ifndef SASMINT_COMMON_CLOCK_H_
#define SASMINT_COMMON_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace sasmint {

class Clock {
 public:
  virtual ~Clock() = default;
  // Now returns the current time.
  virtual absl::Time Now() const = 0;
  // Real returns the process-wide system clock (never destroyed).
  static const Clock& Real();
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time now) : now_(now) {}
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Set(absl::Time now) {
    absl::MutexLock lock(&mu_);
    now_ = now;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

inline const Clock& Clock::Real() {
  class RealClock final : public Clock {
   public:
    absl::Time Now() const override { return absl::Now(); }
  };
  static const RealClock* const kClock = new RealClock();
  return *kClock;
}

}  // namespace sasmint

#endif  // SASMINT_COMMON_CLOCK_H_
