#include "bench/load/histogram.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <random>
#include <vector>

#include "absl/strings/numbers.h"
#include "gtest/gtest.h"

namespace sasmint::bench {
namespace {

constexpr int64_t kMicro = 1000;
constexpr int64_t kMilli = 1000 * 1000;
constexpr int64_t kSecond = 1000 * 1000 * 1000;

// Seed returns SASMINT_TEST_SEED if set, otherwise a fresh one; printed so a failure replays.
uint64_t Seed() {
  static const uint64_t seed = [] {
    uint64_t s = 0;
    const char* env = std::getenv("SASMINT_TEST_SEED");
    if (env == nullptr || !absl::SimpleAtoi(env, &s)) s = std::random_device()();
    std::cout << "SASMINT_TEST_SEED=" << s << " (set it to replay this run)" << std::endl;
    return s;
  }();
  return seed;
}

// ExactPercentile is the reference: the sample of rank ceil(p% of n) in sorted order.
int64_t ExactPercentile(std::vector<int64_t> sorted, double p) {
  const int64_t n = static_cast<int64_t>(sorted.size());
  const int64_t rank = std::clamp<int64_t>(
      static_cast<int64_t>(std::ceil(p / 100.0 * static_cast<double>(n))), 1, n);
  return sorted[rank - 1];
}

void ExpectWithinPrecision(int64_t actual, int64_t exact) {
  // Half a bucket: 1/256 of the value above 256 ns, exact below.
  const double tolerance = std::max(0.0, static_cast<double>(exact) / 256.0);
  EXPECT_LE(std::abs(static_cast<double>(actual - exact)), tolerance + 1)
      << "actual " << actual << " exact " << exact;
}

TEST(LatencyHistogramTest, LayoutIsContiguousAndAtLeastOnePercentPrecise) {
  int64_t expected_low = 0;
  const int last = LatencyHistogram::BucketIndex(LatencyHistogram::kMaxValueNs);
  for (int i = 0; i <= last; ++i) {
    int64_t low;
    int64_t width;
    LatencyHistogram::BucketRange(i, &low, &width);
    ASSERT_EQ(low, expected_low) << "bucket " << i;
    ASSERT_EQ(LatencyHistogram::BucketIndex(low), i);
    ASSERT_EQ(LatencyHistogram::BucketIndex(low + width - 1), i);
    if (low >= kMicro) {
      EXPECT_LE(static_cast<double>(width) / static_cast<double>(low), 0.01);
    }
    expected_low = low + width;
  }
  EXPECT_GT(expected_low, LatencyHistogram::kMaxValueNs);
  EXPECT_LT(last, 4000);  // about 30 KB per histogram
}

TEST(LatencyHistogramTest, PercentilesMatchSortedSamplesWithinPrecision) {
  std::mt19937_64 rng(Seed());
  // Log-uniform from 1 µs to 60 s: every octave of the range gets samples.
  std::uniform_real_distribution<double> log_value(std::log(1.0 * kMicro),
                                                   std::log(60.0 * kSecond));
  for (int n : {1, 2, 3, 10, 999, 100000}) {
    SCOPED_TRACE(n);
    LatencyHistogram h;
    std::vector<int64_t> samples;
    for (int i = 0; i < n; ++i) {
      const int64_t v = static_cast<int64_t>(std::exp(log_value(rng)));
      samples.push_back(v);
      h.Record(v);
    }
    std::sort(samples.begin(), samples.end());
    EXPECT_EQ(h.count(), n);
    EXPECT_EQ(h.min(), samples.front());
    EXPECT_EQ(h.max(), samples.back());
    for (double p : {0.0, 1.0, 25.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
      SCOPED_TRACE(p);
      ExpectWithinPrecision(h.ValueAtPercentile(p), ExactPercentile(samples, p));
    }
  }
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  LatencyHistogram h;
  for (int64_t v = 0; v < 256; ++v) h.Record(v);
  EXPECT_EQ(h.ValueAtPercentile(50), 127);
  EXPECT_EQ(h.ValueAtPercentile(100), 255);
  EXPECT_EQ(h.ValueAtPercentile(0), 0);
  EXPECT_DOUBLE_EQ(h.mean(), 127.5);
}

TEST(LatencyHistogramTest, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 rng(Seed() + 1);
  std::exponential_distribution<double> latency(1.0 / (2.0 * kMilli));
  LatencyHistogram a;
  LatencyHistogram b;
  LatencyHistogram all;
  std::vector<int64_t> samples;
  for (int i = 0; i < 20000; ++i) {
    const int64_t v = static_cast<int64_t>(latency(rng)) + kMicro;
    (i % 3 == 0 ? a : b).Record(v);
    all.Record(v);
    samples.push_back(v);
  }
  LatencyHistogram merged;
  merged.Merge(a);
  merged.Merge(b);
  merged.Merge(LatencyHistogram());  // merging an empty one changes nothing
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_DOUBLE_EQ(merged.mean(), all.mean());
  std::sort(samples.begin(), samples.end());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    EXPECT_EQ(merged.ValueAtPercentile(p), all.ValueAtPercentile(p));
    ExpectWithinPrecision(merged.ValueAtPercentile(p), ExactPercentile(samples, p));
  }
}

TEST(LatencyHistogramTest, EmptyNegativeOverflowAndWeightedSamples) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0);
  EXPECT_EQ(h.ValueAtPercentile(99), 0);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.mean(), 0);

  h.Record(-5);  // a clock step backwards counts as 0, never as a huge value
  EXPECT_EQ(h.ValueAtPercentile(50), 0);

  h.Clear();
  h.Record(5 * 60 * kSecond);  // beyond the range: top bucket, but max stays exact
  EXPECT_EQ(h.max(), 5 * 60 * kSecond);
  EXPECT_EQ(h.ValueAtPercentile(100), 5 * 60 * kSecond);

  h.Clear();
  h.Record(10 * kMilli, 99);
  h.Record(500 * kMilli, 1);
  h.Record(kMilli, 0);  // a zero count records nothing
  EXPECT_EQ(h.count(), 100);
  ExpectWithinPrecision(h.ValueAtPercentile(99), 10 * kMilli);
  EXPECT_EQ(h.ValueAtPercentile(99.5), 500 * kMilli);
  EXPECT_EQ(h.min(), 10 * kMilli);
  // Percentiles outside [0, 100] are clamped.
  EXPECT_EQ(h.ValueAtPercentile(-3), h.ValueAtPercentile(0));
  EXPECT_EQ(h.ValueAtPercentile(250), h.max());
}

}  // namespace
}  // namespace sasmint::bench
