#include "client/bench/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace kvd::bench {

// Layout: row 0 holds values [0, kSubBuckets) exactly; row e >= 1 holds values with the
// highest bit at position e + 9, i.e. [2^(e+9), 2^(e+10)), in steps of 2^e, indexed by the
// value's top kSubBucketBits bits (so only the upper half of each row is used), as
// HdrHistogram does.
Histogram::Histogram() : counts_((kMaxExponent + 1) * kSubBuckets, 0) {}

size_t Histogram::IndexOf(uint64_t value) {
  if (value < kSubBuckets) return static_cast<size_t>(value);
  int top = 63 - std::countl_zero(value);          // position of the highest set bit
  int exponent = top - (kSubBucketBits - 1);       // >= 1 here
  if (exponent > kMaxExponent) return (kMaxExponent + 1) * kSubBuckets - 1;
  uint64_t sub = value >> exponent;                // in [kSubBuckets/2, kSubBuckets)
  return static_cast<size_t>(exponent) * kSubBuckets + static_cast<size_t>(sub);
}

uint64_t Histogram::UpperEdge(size_t index) {
  uint64_t exponent = index / kSubBuckets;
  uint64_t sub = index % kSubBuckets;
  if (exponent == 0) return sub;
  return ((sub + 1) << exponent) - 1;
}

void Histogram::Record(uint64_t value_ns) {
  ++counts_[IndexOf(value_ns)];
  ++count_;
  sum_ += value_ns;
  min_ = std::min(min_, value_ns);
  max_ = std::max(max_, value_ns);
}

void Histogram::Merge(const Histogram& other) {
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void Histogram::Reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = sum_ = max_ = 0;
  min_ = UINT64_MAX;
}

uint64_t Histogram::ValueAtQuantile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::max<uint64_t>(rank, 1);
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(UpperEdge(i), max_);
  }
  return max_;
}

}  // namespace kvd::bench
