// The node shell's clocks, in the integer units the cores and metrics take. Only the shell
// (server/node, server/net, server/app) reads clocks; cores receive times as arguments.
#pragma once

#include <chrono>
#include <cstdint>

namespace kvd::node {

// Monotonic time, for durations and timeouts.
inline uint64_t SteadyNanos() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}
inline uint64_t SteadyMillis() { return SteadyNanos() / 1'000'000; }

// Wall-clock time (unix ms), for TTLs.
inline uint64_t WallMillis() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace kvd::node
