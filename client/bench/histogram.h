// Histogram: a high-dynamic-range latency histogram in the style of HdrHistogram.
//
// Values (nanoseconds) from 1 ns to about 2^43 ns (2.4 hours) are recorded with a
// relative error below 2/kSubBuckets (0.2 %): values below kSubBuckets exactly, and each
// power-of-two range above split into kSubBuckets/2 linear sub-buckets. Recording is a few integer operations and one array
// increment; merging adds counts. Values above the range are clamped into the top bucket
// and counted, so a max is never silently lower than the truth by more than the clamp.
//
// Thread-safety: none; record per thread, then Merge.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kvd::bench {

class Histogram {
 public:
  static constexpr int kSubBucketBits = 10;
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBucketBits;  // 1024
  static constexpr int kMaxExponent = 33;  // top range 2^(33+10) ns

  Histogram();
  void Record(uint64_t value_ns);
  void Merge(const Histogram& other);
  void Reset();

  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  double mean() const { return count_ == 0 ? 0 : static_cast<double>(sum_) / static_cast<double>(count_); }
  // The value at quantile q in [0, 1] (upper edge of its bucket, capped at max()).
  uint64_t ValueAtQuantile(double q) const;

 private:
  static size_t IndexOf(uint64_t value);
  static uint64_t UpperEdge(size_t index);

  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace kvd::bench
