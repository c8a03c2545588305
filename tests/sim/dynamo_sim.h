// The deterministic simulator of the dynamo topology's request path: 4 to 6 nodes on a
// consistent-hash ring (common/ring), each running a Coordinator
// (server/topology/dynamo/coordinator.h), with N = 3 and R, W drawn from the seed so that
// R + W > N, in one thread from one seed.
//
// What it simulates, as the other simulators do:
//   * time in microseconds; messages delayed at random (so reordered), dropped,
//     duplicated; links cut one way or both and healed;
//   * disk: each core output's state writes form one batch that becomes durable after a
//     random latency, in order; the sends and client answers of that output leave only
//     then; a crash loses the batches not yet durable and the requests in flight, and the
//     node restarts from what is durable;
//   * sloppy quorum and hinted handoff in half of the runs: writes for a crashed home
//     replica go to a fallback, which keeps a bounded, durable hint and replays it once
//     the home replica is back;
//   * clients: random reads and writes (puts, deletes) of a few lww and siblings keys, sent
//     to random nodes (which forward writes to a replica when they are not one), siblings
//     puts often presenting the context of an earlier read.
//   * anti-entropy in half of the runs (Merkle trees of 4 to 32 buckets per range,
//     exchanges every 20 to 100 ms), and in half of those one node loses its disk; in 70%
//     of them tombstones are collected (grace 150 ms to 1.5 s, hints kept half of it).
//   * ring changes in 40% of the runs: a node joins or one is decommissioned at a random
//     moment; every node learns the two rings at once (gossip is the shell's, not
//     simulated), writes go to both, the gainers pull their ranges (from the replica the
//     range moves away from) and, once each has them durable, every node switches to
//     the new ring, whose replicas the checks then use.
// Then every fault heals and, without anti-entropy, every key is read once with R = N
// (read repair); the run goes on until nothing is in flight, every hint has been
// delivered and dropped and (with anti-entropy, which must do it alone) the replicas of
// every key agree and, with collection on, no replica holds a tombstone past the grace.
//
// Checks: every read that started after a write was acknowledged sees that write or a
// later one (siblings: the read's causal context covers the write's dot; lww: the read's
// latest timestamp is at least the write's) — the promise of R + W > N for every write
// acknowledged without a fallback's help (skipped when a disk was lost); no read that
// started after a delete was so acknowledged, and no final state, holds a value the delete
// removed; no acknowledged write is missing from the final state of its key (unless a
// collected tombstone covers it: the key was deleted); only tombstones are collected; once
// repaired, the N replicas of every key hold byte-identical states; and no hint is left
// anywhere.
//
// Thread-safety: none; one run per call.
#pragma once

#include <cstdint>
#include <string>

namespace kvd::sim {

struct DynamoSimOptions {
  uint64_t seed = 1;
  uint64_t safety_ms = 4000;
  uint64_t convergence_ms = 20000;
  bool faults = true;
  bool crashes = true;
  bool trace = false;
  // In 40% of the runs a node joins (one more node runs from the start, outside the ring)
  // or one is decommissioned, while the faults go on.
  bool ring_changes = true;
};

struct DynamoSimResult {
  bool ok = true;
  std::string failure;
  uint64_t events = 0;
  uint64_t reads_ok = 0;
  uint64_t reads_failed = 0;
  uint64_t writes_acked = 0;
  uint64_t writes_failed = 0;  // timed out or refused: their outcome is unknown
  uint64_t checks = 0;         // (write, later read) pairs checked
  uint64_t sloppy_writes = 0;  // acknowledged with a fallback's help (not checked against reads)
  uint64_t hints_delivered = 0;  // by the nodes up at the end (restarts reset the count)
  uint64_t messages = 0;
  uint64_t dropped = 0;
  uint64_t crashes = 0;
  uint64_t partitions = 0;
  uint64_t ring_changes = 0;  // finished
  uint64_t tombstones_collected = 0;
  uint64_t state_digest = 0;  // for the determinism check
  std::string Summary(const DynamoSimOptions& options) const;
};

DynamoSimResult RunDynamoSimulation(const DynamoSimOptions& options);

}  // namespace kvd::sim
