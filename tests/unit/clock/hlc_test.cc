// Unit tests for common/clock/hlc.h: hybrid logical clocks.
//
// Goal: the HLC properties kvd relies on for last-write-wins and change stamps. (1) Every
// timestamp a clock returns is larger than every one it returned or adopted before, even
// when the physical clock stands still or goes backwards. (2) The wall part is never
// behind the physical clock it was given. (3) A timestamp received from a peer orders the
// receiver's later events after it (causality). (4) A peer's timestamp too far ahead is
// refused and leaves the clock alone. (5) Restore after a restart never reuses a
// timestamp. Method: scripted sequences with exact expected values, then a seeded random
// run of many clocks exchanging timestamps under skewed physical clocks, checking (1) to
// (3) after every step. A failure means LWW could order a causally later write first, or
// a node could hand out the same timestamp twice.
#include "common/clock/hlc.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

#include "common/rng.h"

namespace kvd::clock {
namespace {

TEST_CASE("HlcTimestamp packs wall milliseconds and a logical counter in order") {
  const auto t = HlcTimestamp::From(1'764'115'200'123, 7);
  CHECK(t.wall_ms() == 1'764'115'200'123);
  CHECK(t.logical() == 7);
  CHECK(HlcTimestamp::FromPacked(t.packed()) == t);
  CHECK(t.ToString() == "1764115200123.7");
  CHECK(HlcTimestamp::From(5, 65535) < HlcTimestamp::From(6, 0));
  CHECK(HlcTimestamp::From(5, 1) < HlcTimestamp::From(5, 2));
  CHECK(HlcTimestamp().zero());
}

TEST_CASE("HybridClock follows the physical clock and counts within a millisecond") {
  HybridClock c(500);
  CHECK(c.Now(1000) == HlcTimestamp::From(1000, 0));
  CHECK(c.Now(1000) == HlcTimestamp::From(1000, 1));
  CHECK(c.Now(1000) == HlcTimestamp::From(1000, 2));
  CHECK(c.Now(1001) == HlcTimestamp::From(1001, 0));
  // The physical clock going backwards does not move the HLC back.
  CHECK(c.Now(900) == HlcTimestamp::From(1001, 1));
}

TEST_CASE("HybridClock carries a full logical counter into the wall part") {
  HybridClock c(500);
  c.Restore(HlcTimestamp::From(2000, HlcTimestamp::kMaxLogical - 1));
  CHECK(c.Now(2000) == HlcTimestamp::From(2000, HlcTimestamp::kMaxLogical));
  CHECK(c.Now(2000) == HlcTimestamp::From(2001, 0));
  CHECK(c.Now(2001) == HlcTimestamp::From(2001, 1));
}

TEST_CASE("HybridClock adopts a peer's timestamp within the offset bound") {
  HybridClock c(500);
  CHECK(c.Now(1000) == HlcTimestamp::From(1000, 0));
  REQUIRE(c.Update(HlcTimestamp::From(1400, 3), 1000).ok());
  // The next local event is after the received one although local time is 1000.
  CHECK(c.Now(1001) == HlcTimestamp::From(1400, 4));
  // An older peer timestamp changes nothing.
  REQUIRE(c.Update(HlcTimestamp::From(10, 0), 1002).ok());
  CHECK(c.Now(1002) == HlcTimestamp::From(1400, 5));
  // Physical time passing the adopted wall time takes over again.
  CHECK(c.Now(1500) == HlcTimestamp::From(1500, 0));
}

TEST_CASE("HybridClock refuses a peer's timestamp beyond the offset bound") {
  HybridClock c(500);
  c.Now(1000);
  const Status s = c.Update(HlcTimestamp::From(1501, 0), 1000);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message() == "timestamp 1501.0 is 501 ms ahead of this node's clock (at most 500 ms allowed)");
  CHECK(c.last() == HlcTimestamp::From(1000, 0));
  CHECK(c.Update(HlcTimestamp::From(1500, 0), 1000).ok());
}

TEST_CASE("HybridClock::Restore never hands out a timestamp again after a restart") {
  HybridClock c(500);
  c.Restore(HlcTimestamp::From(5000, 9));
  CHECK(c.Now(4000) == HlcTimestamp::From(5000, 10));  // the clock went back over the restart
  c.Restore(HlcTimestamp::From(10, 0));                 // restoring something older: no effect
  CHECK(c.Now(4000) == HlcTimestamp::From(5000, 11));
}

TEST_CASE("HybridClock: random exchanges under skew keep monotonicity and causality") {
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    Rng rng(seed);
    constexpr int kNodes = 4;
    std::vector<HybridClock> clocks(kNodes, HybridClock(1000));
    std::vector<int64_t> skew(kNodes);
    for (auto& s : skew) s = static_cast<int64_t>(rng.Uniform(400)) - 200;
    std::vector<HlcTimestamp> last(kNodes);
    uint64_t now = 1'000'000;
    for (int step = 0; step < 2000; ++step) {
      now += rng.Uniform(3);
      const size_t n = rng.Uniform(kNodes);
      const uint64_t phys = static_cast<uint64_t>(static_cast<int64_t>(now) + skew[n]);
      if (rng.Chance(0.5)) {
        const HlcTimestamp t = clocks[n].Now(phys);
        REQUIRE(t > last[n]);
        REQUIRE(t.wall_ms() >= phys);
        // Never far ahead of the fastest physical clock in the system.
        REQUIRE(t.wall_ms() <= now + 200 + 1);
        last[n] = t;
      } else {
        // A message from another node: the receiver's next event is after it.
        const size_t from = rng.Uniform(kNodes);
        const HlcTimestamp sent = clocks[from].Now(
            static_cast<uint64_t>(static_cast<int64_t>(now) + skew[from]));
        last[from] = sent;
        REQUIRE(clocks[n].Update(sent, phys).ok());
        const HlcTimestamp after = clocks[n].Now(phys);
        REQUIRE(after > sent);
        REQUIRE(after > last[n]);
        last[n] = after;
      }
    }
  }
}

}  // namespace
}  // namespace kvd::clock
