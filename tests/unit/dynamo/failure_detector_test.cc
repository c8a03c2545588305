// Unit tests for server/topology/dynamo/failure_detector.h (phi accrual).
//
// Goal: phi grows with silence, stays low while heartbeats come as usual, crosses the
// threshold only several standard deviations past the usual interval plus the acceptable
// pause, tolerates more silence from a peer whose heartbeats are irregular, and drops back
// at the next heartbeat. Method: simulated heartbeat times (no clocks); expectations from
// the normal distribution (phi ~ -log10 of the tail probability). A failure means peers
// would be declared down too eagerly, or never.
#include "server/topology/dynamo/failure_detector.h"

#include <catch2/catch.hpp>

namespace kvd::topology::dynamo {
namespace {

TEST_CASE("phi accrual: regular heartbeats, then silence") {
  PhiAccrualDetector d;  // threshold 8, stddev floor 100 ms, pause 1000 ms
  CHECK(d.Phi(5000) == 0);
  CHECK(d.Available(5000));  // never heard from: presumed up
  uint64_t t = 0;
  for (int i = 0; i < 50; ++i) d.Heartbeat(t += 1000);
  // Expected next heartbeat: mean 1000 + pause 1000 = 2000 ms after the last one.
  CHECK(d.Phi(t + 1000) < 0.1);
  CHECK(d.Phi(t + 2000) == Approx(0.301).margin(0.01));  // at the mean: P = 1/2
  CHECK(d.Available(t + 2500));                           // 5 sigma: phi about 6.5
  CHECK(d.Phi(t + 2500) == Approx(6.5).margin(0.4));
  CHECK_FALSE(d.Available(t + 2700));                     // 7 sigma: phi about 11
  // Phi only grows with silence.
  double prev = 0;
  for (uint64_t dt = 0; dt <= 5000; dt += 50) {
    const double phi = d.Phi(t + dt);
    CHECK(phi >= prev);
    prev = phi;
  }
  // A heartbeat makes it available again.
  d.Heartbeat(t + 3000);
  CHECK(d.Available(t + 3100));
  // Out-of-order heartbeats are ignored.
  d.Heartbeat(t + 10);
  CHECK(d.last_heartbeat_ms() == t + 3000);
}

TEST_CASE("phi accrual: irregular heartbeats earn more patience") {
  PhiAccrualDetector regular, jittery;
  uint64_t a = 0, b = 0;
  for (int i = 0; i < 60; ++i) {
    regular.Heartbeat(a += 1000);
    jittery.Heartbeat(b += (i % 2 == 0 ? uint64_t{400} : uint64_t{1600}));  // mean 1000, sd 600
  }
  CHECK_FALSE(regular.Available(a + 3000));
  CHECK(jittery.Available(b + 3000));
  CHECK(jittery.Phi(b + 3000) < regular.Phi(a + 3000));
}

TEST_CASE("phi accrual: the window forgets old intervals") {
  PhiOptions o;
  o.window = 10;
  PhiAccrualDetector d(o);
  uint64_t t = 0;
  for (int i = 0; i < 10; ++i) d.Heartbeat(t += 10000);  // slow at first
  for (int i = 0; i < 20; ++i) d.Heartbeat(t += 500);    // then fast
  // Only the fast intervals count now: 500 + 1000 pause, stddev floor 100.
  CHECK_FALSE(d.Available(t + 2500));
}

}  // namespace
}  // namespace kvd::topology::dynamo
