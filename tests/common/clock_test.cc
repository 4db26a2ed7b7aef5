// Injected time: the fake clock moves only when told to; the real clock follows the system's.
#include "common/clock.h"

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace sasmint {
namespace {

TEST(ClockTest, FakeClockMovesOnlyWhenToldTo) {
  const absl::Time start = absl::FromUnixSeconds(1700000000);
  FakeClock clock(start);
  EXPECT_EQ(clock.Now(), start);
  clock.Advance(absl::Seconds(90));
  EXPECT_EQ(clock.Now(), start + absl::Seconds(90));
  clock.Set(start - absl::Hours(1));
  EXPECT_EQ(clock.Now(), start - absl::Hours(1));
}

TEST(ClockTest, RealClockIsTheSystemClock) {
  const absl::Time before = absl::Now();
  const absl::Time now = Clock::Real().Now();
  EXPECT_GE(now, before);
  EXPECT_LE(now, absl::Now());
  EXPECT_EQ(&Clock::Real(), &Clock::Real());
}

}  // namespace
}  // namespace sasmint
