#include "common/clock/hlc.h"

#include <algorithm>

#include <fmt/format.h>

namespace kvd::clock {

std::string HlcTimestamp::ToString() const { return fmt::format("{}.{}", wall_ms(), logical()); }

namespace {

// The smallest timestamp strictly above `t`, carrying the logical counter into the wall
// part when it is full.
HlcTimestamp Successor(HlcTimestamp t) {
  if (t.logical() < HlcTimestamp::kMaxLogical) return HlcTimestamp::From(t.wall_ms(), t.logical() + 1);
  return HlcTimestamp::From(std::min(t.wall_ms() + 1, HlcTimestamp::kMaxWallMs), 0);
}

}  // namespace

HlcTimestamp HybridClock::Now(uint64_t physical_ms) {
  physical_ms = std::min(physical_ms, HlcTimestamp::kMaxWallMs);
  if (physical_ms > last_.wall_ms()) {
    last_ = HlcTimestamp::From(physical_ms, 0);
  } else {
    last_ = Successor(last_);
  }
  return last_;
}

Status HybridClock::Update(HlcTimestamp remote, uint64_t physical_ms) {
  if (remote.wall_ms() > physical_ms + max_offset_ms_) {
    return Status::InvalidArgument(fmt::format(
        "timestamp {} is {} ms ahead of this node's clock (at most {} ms allowed)",
        remote.ToString(), remote.wall_ms() - physical_ms, max_offset_ms_));
  }
  last_ = std::max(last_, remote);
  return Status::Ok();
}

void HybridClock::Restore(HlcTimestamp persisted) { last_ = std::max(last_, persisted); }

}  // namespace kvd::clock
