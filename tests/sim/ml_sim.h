// The deterministic simulator of the multi_leader topology: N leaders, each a Replicator
// core (server/topology/multi_leader) applying changes to replicated key states
// (server/kv/replicated_state.h), in one thread from one seed.
//
// What it simulates, as the leader_follower simulator (sim.h) does (in 40% of the runs
// with one or two read-only followers of random leaders, which take no writes):
//   * time: one clock in microseconds; each node reads a wall clock with its own skew
//     (up to +-400 ms; the cores refuse peer timestamps more than 500 ms ahead);
//   * network: every message is delayed at random (so messages reorder), dropped or
//     duplicated; links are cut in one or both directions and healed again;
//   * disk: the storage ops and key writes of each core output form one batch that becomes
//     durable after a random latency, in order; a crash loses every batch not yet durable
//     (and the sends and acknowledgements waiting on it) and the node restarts from what
//     is durable;
//   * clients: random writes to a few keys of each resolver (lww, siblings with and
//     without contexts, counter increments and decrements, set adds and removes), each
//     acknowledged when its batch is durable;
//   * state transfers: in 40% of the seeds the change log keeps only 2 to 41 changes per
//     origin, so members that fall behind it get a sender's whole durable state, merged
//     into theirs (as the node shell does);
//   * tombstone collection (in half of the seeds, from the seed): every node periodically
//     drops the tombstones its Replicator's stability reports make redundant, after a
//     grace period of 0 to 800 ms, as kv::KvStore::CollectTombstones does.
// Then every fault heals and the run goes on until every node has applied every change.
//
// Checks at the end: every node holds byte-identical key states and the same progress
// (with tombstone collection: no tombstone is left anywhere, and the states are identical
// except for the causal contexts of siblings keys, which may keep dots every node had
// applied before a collection, and which change no read or write);
// each key is exactly what its resolver promises for the set of acknowledged writes
// (lww: the write with the largest (HLC, origin); siblings and set elements: the
// acknowledged writes that no other acknowledged write's context covered; counter: the sum
// of acknowledged increments); and every node's change log is truncated once all peers
// acknowledged it.
//
// Thread-safety: none; one run per call.
#pragma once

#include <cstdint>
#include <string>

#include "server/topology/multi_leader/replicator.h"

namespace kvd::sim {

struct MlSimOptions {
  uint64_t seed = 1;
  topology::multi_leader::Propagation propagation = topology::multi_leader::Propagation::kAllToAll;
  size_t nodes = 0;  // leaders; 0: 3 to 5, from the seed
  uint64_t safety_ms = 4000;
  uint64_t convergence_ms = 20000;
  bool faults = true;
  bool crashes = true;
  uint32_t max_siblings = 6;
  bool trace = false;
};

struct MlSimResult {
  bool ok = true;
  std::string failure;
  uint64_t events = 0;
  uint64_t writes_acked = 0;
  uint64_t writes_lost = 0;     // not acknowledged: their node crashed first
  uint64_t writes_refused = 0;  // over the sibling cap
  uint64_t messages = 0;
  uint64_t dropped = 0;
  uint64_t crashes = 0;
  uint64_t partitions = 0;
  uint64_t concurrent_overwrites = 0;  // lww writes dropped unseen, summed over nodes
  uint64_t skew_rejections = 0;
  bool collection = false;          // tombstone collection ran in this seed
  uint64_t tombstones_collected = 0;  // keys and set elements dropped, summed over nodes
  uint64_t state_transfers = 0;       // whole states sent to members behind the log
  // A digest of every node's final state and of every write's outcome (for the
  // determinism check: the same seed must give the same digest).
  uint64_t state_digest = 0;
  std::string Summary(const MlSimOptions& options) const;
};

MlSimResult RunMlSimulation(const MlSimOptions& options);
std::string MlReplayCommand(const MlSimOptions& options);

}  // namespace kvd::sim
