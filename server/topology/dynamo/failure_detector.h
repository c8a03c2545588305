// PhiAccrualDetector: the phi accrual failure detector (Hayashibara et al., 2004), as
// Cassandra and Akka use it, for the gossip membership of the dynamo topology.
//
// Instead of a yes/no timeout, it says how suspicious the silence of a peer is: it keeps
// the intervals between the peer's recent heartbeats and, at time t, computes
//   phi(t) = -log10(P(the next heartbeat comes later than t))
// under a normal distribution of the intervals seen (mean and standard deviation over a
// sliding window). phi = 1 means a 10% chance that the peer is fine and merely slow,
// phi = 8 one in 10^8. A peer is considered down while phi exceeds a threshold (8 by
// default, Cassandra's phi_convict_threshold). The standard deviation has a floor, so
// that perfectly regular heartbeats do not make a few milliseconds of jitter fatal, and
// an acceptable pause is added to the mean, so that a GC pause or a busy disk does not
// convict a peer at once.
//
// Deterministic; no I/O: the caller passes the times. Thread-safety: none.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>

namespace kvd::topology::dynamo {

struct PhiOptions {
  double threshold = 8.0;
  uint32_t window = 100;                // intervals kept
  uint64_t min_stddev_ms = 100;         // floor of the standard deviation
  uint64_t acceptable_pause_ms = 1000;  // added to the mean interval
  // Before two heartbeats have been seen, assume this interval.
  uint64_t first_interval_ms = 1000;
};

class PhiAccrualDetector {
 public:
  explicit PhiAccrualDetector(PhiOptions options = {}) : options_(options) {}

  // A heartbeat (any sign of life) arrived at now_ms.
  void Heartbeat(uint64_t now_ms);
  // How suspicious the silence is at now_ms; 0 before the first heartbeat.
  double Phi(uint64_t now_ms) const;
  // False once phi exceeds the threshold; true before the first heartbeat (a peer is
  // presumed up until it has been heard from and then gone quiet).
  bool Available(uint64_t now_ms) const { return Phi(now_ms) <= options_.threshold; }
  std::optional<uint64_t> last_heartbeat_ms() const { return last_; }

 private:
  PhiOptions options_;
  std::optional<uint64_t> last_;
  std::deque<uint64_t> intervals_;
  double sum_ = 0;
  double sum_squares_ = 0;
};

}  // namespace kvd::topology::dynamo
