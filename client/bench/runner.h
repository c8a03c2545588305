// Runner: kvbench's load engine, the same for every driver.
//
// Closed loop (default): each connection keeps `pipeline` operations in flight; a
// completion issues the next one from the driver's I/O thread.
// Open loop (--rate R): operations are scheduled at fixed times, R per second spread over
// the connections, whether or not earlier ones have completed (at most `pipeline` in flight
// per connection; the rest wait). Latency is measured from the scheduled time, so a
// stalled server shows up as latency instead of being hidden by a slower request rate
// (coordinated omission).
//
// Latencies go into per-thread HDR histograms merged at the end; operations that start
// during the warm-up are executed but not recorded.
//
// Thread-safety: Run is called once from the main thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "client/bench/driver.h"
#include "client/bench/histogram.h"
#include "client/bench/workload.h"

namespace kvd::bench {

struct RunOptions {
  WorkloadSpec workload;
  uint64_t keys = 100000;
  size_t value_size = 100;
  size_t connections = 50;
  size_t pipeline = 1;
  std::chrono::milliseconds duration{10000};  // ignored when ops > 0
  uint64_t ops = 0;                          // stop after this many operations
  std::chrono::milliseconds warmup{1000};
  double rate = 0;                           // ops/s; 0: closed loop
  bool load = false;                         // insert keys [0, keys) first
  uint64_t seed = 42;
  // Called about once a second with a progress line (not for --json).
  std::function<void(const std::string&)> progress;
};

struct PhaseResult {
  double seconds = 0;           // measured time (after warm-up)
  uint64_t ops = 0;             // recorded operations
  uint64_t not_found = 0;       // reads of absent keys (not errors)
  std::map<std::string, uint64_t> errors;  // by kind
  Histogram all;
  Histogram by_op[kOpTypes];
  std::vector<uint64_t> per_second;  // completed ops in each second, warm-up included
  double throughput() const { return seconds > 0 ? static_cast<double>(ops) / seconds : 0; }
};

struct RunResult {
  PhaseResult load;  // empty unless RunOptions::load
  PhaseResult run;
};

// Opens the connections, loads if asked, runs the workload, closes everything.
// Errors: a connection could not be opened.
Result<RunResult> Run(Driver& driver, const RunOptions& options);

}  // namespace kvd::bench
