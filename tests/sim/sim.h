// The deterministic simulator: N kvd nodes of a leader_follower cluster in one thread,
// driven from one seed.
//
// Every node is the real code of a production node minus the sockets: the Raft core
// (server/topology/raft), the NodeRuntime that applies its output to the kv state machine
// (server/node), on a MemoryEngine whose unsynced writes are lost when the node crashes
// (server/storage/memory_engine.h). What the simulator replaces is the I/O shell:
//   * time: one simulated clock in microseconds; each node ticks at its own, slightly
//     drifting rate and reads a wall clock with its own offset;
//   * network: every peer message is delivered after a random delay (so messages reorder),
//     or dropped, or duplicated; links can be cut in one or both directions (partitions
//     that come and go);
//   * disk: writes complete after a random latency, several queued writes share one sync
//     (group commit, like StorageWorker); a crash drops the queue and every unsynced write;
//   * clients: a few clients run a random workload of gets, puts, deletes and
//     compare-and-sets on a handful of keys, with timeouts, redirects and retries that
//     reuse the write's (client id, sequence), and record every operation's call and
//     return as a history.
// Fault probabilities are drawn from the seed (swarm testing, as TigerBeetle's VOPR does).
// A run has a safety phase with faults and a liveness phase that heals everything and
// requires the cluster to converge.
//
// Checkers: after every event, the Raft invariants of the node that ran (Raft::
// CheckInvariants), at most one leader per term, and (in the modes that promise it) that
// committed log entries agree across nodes. At the end: the history is linearizable
// (tests/sim/check), every replica holds the same state, and every client operation
// finished.
//
// The same seed gives the same run, event for event: the simulator uses no clocks,
// threads or global randomness, and iterates only ordered containers.
//
// Thread-safety: none; one run per object.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "tests/sim/check/linearizability.h"

namespace kvd::sim {

struct SimOptions {
  uint64_t seed = 1;
  config::Replication replication = config::Replication::kQuorum;
  size_t nodes = 3;
  size_t clients = 4;
  size_t keys = 4;
  uint64_t safety_ms = 8000;       // faults are injected during this phase
  uint64_t convergence_ms = 15000; // then, with faults healed, the cluster must converge
  bool faults = true;
  bool crashes = true;
  // Log compaction threshold for the run (small, so snapshots happen often).
  uint32_t snapshot_threshold_entries = 64;
  uint32_t snapshot_trailing_entries = 8;
  // Print every event (for replaying a failing seed).
  bool trace = false;
  // Linearizability check budget (search steps).
  uint64_t check_steps = 2'000'000;
};

struct SimResult {
  bool ok = true;
  std::string failure;  // first violated property, with details
  check::Verdict linearizable = check::Verdict::kOk;
  std::string history_description;  // the checker's description when not kOk
  // Counts for reports.
  uint64_t events = 0;
  uint64_t ops_ok = 0;
  uint64_t ops_failed = 0;
  uint64_t ops_unknown = 0;
  uint64_t messages = 0;
  uint64_t dropped = 0;
  uint64_t crashes = 0;
  uint64_t partitions = 0;
  uint64_t leaders_elected = 0;
  uint64_t snapshots_installed = 0;
  uint64_t max_term = 0;
  uint64_t committed_entries = 0;
  // A history in JSON (operations with call/return times, inputs and outputs).
  std::string history_json;
  // One line: "seed=0x.. mode=quorum ok events=.. ops=../../.. ..."
  std::string Summary(const SimOptions& options) const;
};

// Runs one simulation. Never throws; a broken Raft invariant aborts the process (the
// assertion message and the seed printed by the caller identify the run).
SimResult RunSimulation(const SimOptions& options);

// The command that replays a run: "kvd_sim --mode=quorum --seed=0x..".
std::string ReplayCommand(const SimOptions& options);

}  // namespace kvd::sim
