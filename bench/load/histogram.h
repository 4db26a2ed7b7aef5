// histogram.h: a latency histogram with log-linear buckets (the HdrHistogram layout).
//
// Values are nanoseconds. Values below 256 ns get a bucket each; above that every power-of-two
// range is split into 128 equal buckets, so a bucket is at most 1/128 of its lowest value wide
// and a reported percentile is within 0.4% of the exact one (the bucket's midpoint, never
// outside the recorded min and max). The range ends at kMaxValueNs (60 s): larger values are
// counted in the top bucket and reported as recorded through max(). Memory is fixed (about
// 30 KB), so a histogram per thread and a merge at the end cost nothing per sample.
// Thread-compatible.
#ifndef SASMINT_BENCH_LOAD_HISTOGRAM_H_
#define SASMINT_BENCH_LOAD_HISTOGRAM_H_

#include <cstdint>
#include <vector>

namespace sasmint::bench {

class LatencyHistogram {
 public:
  static constexpr int64_t kMaxValueNs = int64_t{60} * 1000 * 1000 * 1000;

  LatencyHistogram();

  // Record adds `count` samples of `value_ns`; negative values count as 0, values above
  // kMaxValueNs fall in the top bucket (max() still reports them exactly).
  void Record(int64_t value_ns, int64_t count = 1);

  // Merge adds every sample of `other`.
  void Merge(const LatencyHistogram& other);

  void Clear();

  int64_t count() const { return count_; }
  // min and max return the exact extreme samples, or 0 when empty.
  int64_t min() const { return count_ == 0 ? 0 : min_; }
  int64_t max() const { return max_; }
  // mean returns the exact mean of the samples, or 0 when empty.
  double mean() const;

  // ValueAtPercentile returns the value below or at which `percentile` percent (0 to 100) of
  // the samples fall, to the bucket's precision; 0 when empty.
  int64_t ValueAtPercentile(double percentile) const;

  // BucketIndex and BucketRange expose the layout for tests: value → bucket, and the bucket's
  // [low, low + width) range.
  static int BucketIndex(int64_t value_ns);
  static void BucketRange(int index, int64_t* low, int64_t* width);
  // counts returns the samples in each bucket (index as BucketIndex).
  const std::vector<int64_t>& counts() const { return counts_; }

 private:
  std::vector<int64_t> counts_;
  int64_t count_ = 0;
  int64_t min_ = 0;
  int64_t max_ = 0;
  long double sum_ = 0;  // exact for any realistic run: 2^64 ns is 584 years
};

}  // namespace sasmint::bench

#endif  // SASMINT_BENCH_LOAD_HISTOGRAM_H_
