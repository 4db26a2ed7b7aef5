#include "bench/load/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace sasmint::bench {
namespace {

// Values below 2^kLinearBits get a bucket each; above, each octave has 2^(kLinearBits - 1)
// buckets. 7 bits of mantissa give a worst-case bucket width of 1/128 (0.78%) of its value.
constexpr int kLinearBits = 8;
constexpr int kSubBuckets = 1 << (kLinearBits - 1);

int NumBuckets() { return LatencyHistogram::BucketIndex(LatencyHistogram::kMaxValueNs) + 1; }

}  // namespace

int LatencyHistogram::BucketIndex(int64_t value_ns) {
  const uint64_t v = static_cast<uint64_t>(std::clamp<int64_t>(value_ns, 0, kMaxValueNs));
  if (v < (uint64_t{1} << kLinearBits)) return static_cast<int>(v);
  const int top_bit = std::bit_width(v) - 1;
  const int shift = top_bit - (kLinearBits - 1);
  const int mantissa = static_cast<int>(v >> shift);  // in [kSubBuckets, 2 * kSubBuckets)
  return shift * kSubBuckets + mantissa;
}

void LatencyHistogram::BucketRange(int index, int64_t* low, int64_t* width) {
  if (index < (1 << kLinearBits)) {
    *low = index;
    *width = 1;
    return;
  }
  const int shift = index / kSubBuckets - 1;
  const int64_t mantissa = index % kSubBuckets + kSubBuckets;
  *low = mantissa << shift;
  *width = int64_t{1} << shift;
}

LatencyHistogram::LatencyHistogram() : counts_(NumBuckets(), 0) {}

void LatencyHistogram::Record(int64_t value_ns, int64_t count) {
  if (count <= 0) return;
  value_ns = std::max<int64_t>(value_ns, 0);
  counts_[BucketIndex(value_ns)] += count;
  if (count_ == 0 || value_ns < min_) min_ = value_ns;
  if (value_ns > max_) max_ = value_ns;
  count_ += count;
  sum_ += static_cast<long double>(value_ns) * count;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  if (count_ == 0 || other.min_ < min_) min_ = other.min_;
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

void LatencyHistogram::Clear() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  min_ = 0;
  max_ = 0;
  sum_ = 0;
}

double LatencyHistogram::mean() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_ / count_);
}

int64_t LatencyHistogram::ValueAtPercentile(double percentile) const {
  if (count_ == 0) return 0;
  percentile = std::clamp(percentile, 0.0, 100.0);
  // The sample of rank ceil(p% of n) (1-based), as for exact percentiles over sorted samples.
  const int64_t rank = std::clamp<int64_t>(
      static_cast<int64_t>(std::ceil(percentile / 100.0 * static_cast<double>(count_))), 1, count_);
  // The extremes are known exactly: report them rather than a bucket's midpoint.
  if (rank == 1) return min_;
  if (rank == count_) return max_;
  int64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      int64_t low;
      int64_t width;
      BucketRange(static_cast<int>(i), &low, &width);
      return std::clamp(low + width / 2, min_, max_);
    }
  }
  return max_;
}

}  // namespace sasmint::bench
