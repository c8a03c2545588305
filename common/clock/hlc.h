// Hybrid logical clocks (Kulkarni, Demirbas et al., "Logical Physical Clocks", 2014).
//
// An HLC timestamp is a physical time in milliseconds plus a logical counter. It orders
// events like a Lamport clock (an event that happened after another, causally, has a larger
// timestamp) and stays close to physical time: its wall part is never behind the local
// physical clock and runs ahead of it only by the largest offset observed from a peer.
// kvd uses it to order writes for last-write-wins and to stamp replicated changes.
//
// Packing: 48 bits of milliseconds since the Unix epoch (enough until the year 10889) and
// 16 bits of logical counter, in one uint64 whose integer order is the timestamp order.
// Encoded big-endian (8 bytes) it also sorts correctly as bytes. When 65,536 events share
// one millisecond the counter carries into the wall part, which then runs 1 ms ahead; that
// is the only way the wall part passes physical time without a peer pushing it.
//
// Skew: a remote timestamp more than `max_offset_ms` ahead of the local physical clock is
// refused (Update returns an error and the clock is unchanged), as CockroachDB does: one
// node with a clock set to next year must not drag every other node's timestamps there.
// The caller still keeps the data that carried it; it only does not adopt the time.
//
// Deterministic: the physical time is always handed in. Thread-safety: none; one owner.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace kvd::clock {

class HlcTimestamp {
 public:
  static constexpr uint64_t kLogicalBits = 16;
  static constexpr uint64_t kMaxLogical = (uint64_t{1} << kLogicalBits) - 1;
  static constexpr uint64_t kMaxWallMs = (uint64_t{1} << (64 - kLogicalBits)) - 1;

  constexpr HlcTimestamp() = default;
  // REQUIRES: wall_ms <= kMaxWallMs, logical <= kMaxLogical.
  static constexpr HlcTimestamp From(uint64_t wall_ms, uint64_t logical) {
    return HlcTimestamp((wall_ms << kLogicalBits) | logical);
  }
  static constexpr HlcTimestamp FromPacked(uint64_t packed) { return HlcTimestamp(packed); }

  constexpr uint64_t packed() const { return v_; }
  constexpr uint64_t wall_ms() const { return v_ >> kLogicalBits; }
  constexpr uint64_t logical() const { return v_ & kMaxLogical; }
  constexpr bool zero() const { return v_ == 0; }

  friend constexpr auto operator<=>(HlcTimestamp, HlcTimestamp) = default;

  // "1764115200123.4" (wall ms . logical), for logs and kvctl.
  std::string ToString() const;

 private:
  constexpr explicit HlcTimestamp(uint64_t v) : v_(v) {}
  uint64_t v_ = 0;
};

class HybridClock {
 public:
  // max_offset_ms: how far ahead of the local physical clock a peer's timestamp may be and
  // still be adopted.
  explicit HybridClock(uint64_t max_offset_ms) : max_offset_ms_(max_offset_ms) {}

  // A local event (a write, or a message about to be sent): returns a timestamp larger than
  // every timestamp this clock returned or adopted before, and not below physical_ms.
  HlcTimestamp Now(uint64_t physical_ms);

  // A timestamp received from a peer: afterwards Now() returns timestamps above it.
  // Fails with kInvalidArgument, leaving the clock unchanged, when `remote` is more than
  // max_offset_ms ahead of physical_ms.
  Status Update(HlcTimestamp remote, uint64_t physical_ms);

  // After a restart: the clock never returns anything at or below `persisted` (the largest
  // timestamp the node wrote before it stopped), even if the physical clock went back.
  void Restore(HlcTimestamp persisted);

  HlcTimestamp last() const { return last_; }
  uint64_t max_offset_ms() const { return max_offset_ms_; }

 private:
  uint64_t max_offset_ms_;
  HlcTimestamp last_;
};

}  // namespace kvd::clock
