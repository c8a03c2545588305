#include "server/topology/dynamo/failure_detector.h"

#include <algorithm>
#include <cmath>

namespace kvd::topology::dynamo {

void PhiAccrualDetector::Heartbeat(uint64_t now_ms) {
  if (last_ && now_ms < *last_) return;  // out of order: keep the later one
  if (last_) {
    const uint64_t interval = now_ms - *last_;
    intervals_.push_back(interval);
    sum_ += static_cast<double>(interval);
    sum_squares_ += static_cast<double>(interval) * static_cast<double>(interval);
    if (intervals_.size() > options_.window) {
      const double old = static_cast<double>(intervals_.front());
      intervals_.pop_front();
      sum_ -= old;
      sum_squares_ -= old * old;
    }
  }
  last_ = now_ms;
}

double PhiAccrualDetector::Phi(uint64_t now_ms) const {
  if (!last_) return 0;
  const double elapsed = now_ms > *last_ ? static_cast<double>(now_ms - *last_) : 0.0;
  double mean = static_cast<double>(options_.first_interval_ms);
  double stddev = mean / 4;
  if (!intervals_.empty()) {
    const double n = static_cast<double>(intervals_.size());
    mean = sum_ / n;
    stddev = std::sqrt(std::max(0.0, sum_squares_ / n - mean * mean));
  }
  stddev = std::max(stddev, static_cast<double>(options_.min_stddev_ms));
  mean += static_cast<double>(options_.acceptable_pause_ms);
  // P(X > elapsed) for X ~ N(mean, stddev); erfc keeps its precision far into the tail
  // (it underflows to 0, phi to infinity, only some 38 deviations out).
  const double y = (elapsed - mean) / stddev;
  const double p = 0.5 * std::erfc(y / std::sqrt(2.0));
  return -std::log10(p);
}

}  // namespace kvd::topology::dynamo
