// Coordinator: the request path of the dynamo topology's deterministic core (Dynamo
// paper §4.5, Riak's get/put FSMs), for one node.
//
// Every key lives on the N replicas its ring (common/ring) names. Any node takes any
// request:
//   * a read is sent to the key's N replicas; once R have answered, their states are
//     merged (kv::KeyState::Merge: siblings with dotted version vectors, or last write
//     wins by HLC, per key prefix as in multi_leader) and returned, with the causal
//     context a later write presents. Read repair: a replica whose answer differs from the
//     merged state is sent the merged state, in the background (answers that come after
//     the reply are repaired too, until the request's deadline), or, with
//     `repair_before_reply`, before the reply: the read is answered once every stale
//     replica that answered has acknowledged the repair;
//   * a write is coordinated by a replica of the key, since the new version's dot must be
//     one that replica has never issued for the key: a node that is not one forwards the
//     write to the first replica it believes up (kForward) and relays the answer. The
//     coordinating replica applies the write to its own state (the new dot is one past
//     every dot of its own it has seen for the key, in its state or in the presented
//     context), writes the result durably, and sends the resulting state to the other N-1
//     replicas, which merge it into theirs; it answers once W replicas (itself included)
//     hold it. A forwarded write carries the forwarder's deadline (wall clock): a replica
//     it reaches later (held by a connection while the replica restarted, say) refuses it,
//     since the forwarder has already answered "outcome unknown" and the write, stamped
//     now, would replace with last write wins the writes its client made since. This
//     assumes the nodes' clocks agree to well within request_timeout_ms (as Cassandra's
//     cross-node timeouts do).
// A request that does not reach its quorum within `request_timeout_ms` fails with
// kUnavailable naming how many replicas answered; a write that failed may still have
// reached some replicas (its outcome is unknown, as in every Dynamo-style store).
//
// Hinted handoff (`sloppy_quorum`). A write whose home replica is believed down is sent
// instead to the next node of the ring's preference list that is up and not a home
// replica (Dynamo §4.6), with a hint naming the home replica; the fallback keeps it in
// its hint store, durably and apart from its own data (at most `max_hints_per_target`
// keys and `max_hint_bytes_per_target` bytes per home replica; beyond, it refuses the hint
// and the write may miss its quorum; a hint held longer than `max_hint_age_ms` is dropped,
// leaving the key to read repair and anti-entropy; a hint reloaded at start is aged from
// the newest write it holds),
// and its acknowledgement counts toward W. Once the home replica is up again, the
// fallback replays its hints to it, at most `hint_replay_per_tick` keys per Tick, and
// drops each one when it is acknowledged (unless a newer version arrived meanwhile).
// A write acknowledged with the help of a fallback is marked sloppy: reads from the home
// replicas need not see it until its hint is delivered, so R + W > N no longer promises
// read-your-writes for it. Hints never replace anti-entropy: a fallback that dies takes
// its hints with it.
//
// Anti-entropy (`anti_entropy_interval_ms` > 0). The node keeps a Merkle tree
// (merkle.h) for every token range it replicates, built once from its store at start and
// then updated by every write it stores. Every interval it compares one range with one
// other replica of it, in turn: the two exchange hashes top down, one level per message,
// only below the nodes that differ; for the buckets that differ they send each other the
// key states in them and merge what they receive. Equal ranges cost one hash, sent one way.
//
// Tombstones (`tombstone_grace_ms` > 0, with anti-entropy on). A delete leaves a tombstone:
// the key's state with its value removed, which wins over the older values still on their
// way (a lagging replica, a hint, a repair). It is dropped only once every replica of the
// key is known to hold no value it removed:
//   * a tombstone whose last write is `tombstone_grace_ms` old (wall clock) is "settled":
//     it leaves its range's Merkle tree (the tree hashes live states and young tombstones
//     only), so replicas that dropped it and replicas that still hold it compare equal,
//     while a replica that holds the key live does not, and anti-entropy brings it the
//     tombstone (entries sent for a differing bucket include settled tombstones);
//   * once the key has not changed here for 2 x request_timeout_ms, the node asks every
//     other replica of the key (read ring; none while a ring change is under way) whether
//     it holds a value (kGcQuery); when each has answered that it holds none (nothing, or
//     a tombstone), and the key has not changed here since the question, the node deletes
//     it (StateWrite with an empty state). At most `max_collected_per_tick` keys are asked
//     about per Tick (oldest due first), each again after request_timeout_ms without every
//     answer; a key with a replica believed down is not asked (it waits a request timeout),
//     and at most as many tombstones per Tick leave their trees when their grace ends.
// Why this is enough: an answer leaves a replica after its earlier writes are durable (a
// core's sends follow its writes), and a replica holding no value never gets one back
// except from a replica that does, which answers "not clear" and keeps its own tombstone
// until anti-entropy has brought the tombstone there too (the wait after a change lets a
// value this node sent out just before reach its target before the question does). Older
// values can still come from messages delayed by more than the grace, which is why hints
// live at most max_hint_age_ms (configuration requires the grace to be longer), and from a
// node that kept the copies of ranges it lost in a ring change and gains them again.
// Siblings dots are drawn from the node's hybrid clock (at least one past every dot of its
// own the key has seen), so a dot issued after a collection is newer than any the
// collected tombstone covered.
//
// Repair on demand (StartRepair, `kvctl repair`): every range this node replicates is
// compared with each other replica of it, one pair per Tick, regardless of
// anti_entropy_interval_ms (which must be > 0: the trees exist only then). A full repair
// runs the anti-entropy exchange for each pair; a dry run only swaps the two roots and
// lists the pairs whose roots differ, changing nothing.
//
// Ring changes (SetRings). While a node joins or leaves, the coordinator knows two rings:
// the read ring (the nodes that hold the data now) and the write ring (the ring once the
// change is done). Reads go to the key's read-ring replicas; writes go to its replicas in
// both (the write-ring ones that are not read-ring replicas are "pending", as Cassandra
// calls them), and wait for W plus one acknowledgement per pending replica, so that a
// write acknowledged during the change is on W replicas of whichever ring ends up in use.
// A node that is a write-ring replica of a range it does not hold in the read ring pulls
// that range from a read-ring replica of it (streaming; from the replica the range moves
// away from, which keeps every write acknowledged on W replicas of the read ring on W
// replicas of the write ring too, or from another read-ring replica when that one does not
// answer, which does not promise as much): chunks of at most
// `stream_keys_per_chunk` key states, ordered by token, at most `stream_keys_per_second`
// keys per second, one chunk in flight; after a restart it resumes with the ranges not
// finished (those finished are reported through TakeFinishedRanges() for the driver to
// persist; a range pulled in part starts again from its beginning).
// Streaming can be paused. Anti-entropy compares read-ring ranges only.
//
// Because replicas exchange whole key states and merge them (a join), messages may be
// lost, repeated or reordered freely; a replica that missed writes, or lost its disk,
// converges through read repair, hints and anti-entropy.
//
// The core reads the node's own key states through LocalStore (synchronously, including
// writes not yet durable) and emits the states to store; the driver writes them durably
// before anything of the same output is sent or answered.
//
// Deterministic; no I/O. Thread-safety: none; one owner.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock/hlc.h"
#include "common/clock/version_vector.h"
#include "common/ring/ring.h"
#include "common/status.h"
#include "server/kv/replicated_state.h"
#include "server/topology/dynamo/merkle.h"
#include "server/topology/local_store.h"
#include "server/topology/output.h"

namespace kvd::topology::dynamo {

struct QuorumConfig {
  size_t n = 3;
  size_t r = 2;
  size_t w = 2;
  uint64_t request_timeout_ms = 1000;
  bool repair_before_reply = false;
  bool sloppy_quorum = false;
  size_t max_hints_per_target = 10000;
  uint64_t max_hint_bytes_per_target = 64u << 20;  // keys and states held for one node
  uint64_t max_hint_age_ms = 0;  // a hint older than this is dropped (0: never)
  size_t hint_replay_per_tick = 16;
  uint64_t anti_entropy_interval_ms = 0;  // 0: off
  uint32_t merkle_depth = 10;
  size_t max_entries_per_message = 1000;
  uint64_t max_clock_offset_ms = 500;
  uint64_t tombstone_grace_ms = 0;  // 0: tombstones are never collected
  size_t max_collected_per_tick = 1000;
  size_t stream_keys_per_chunk = 500;
  size_t stream_keys_per_second = 20000;
  kv::ReplicatedLimits limits;
};

// This node's streaming (ring changes) as it stands.
// A repair started by StartRepair, as it stands.
struct RepairStats {
  bool active = false;
  bool dry_run = false;
  size_t pairs_total = 0;     // (range, other replica) pairs to compare
  size_t pairs_started = 0;
  size_t pairs_answered = 0;  // dry run: roots received (or given up on: unanswered)
  size_t unanswered = 0;      // dry run: replicas that did not answer within the timeout
  // Dry run: the pairs whose roots differ, as (range end, replica).
  std::vector<std::pair<uint64_t, uint64_t>> differing;
  bool done() const {
    return !active || (dry_run ? pairs_answered >= pairs_total : pairs_started >= pairs_total);
  }
};

struct StreamStats {
  size_t ranges_total = 0;
  size_t ranges_done = 0;
  uint64_t keys_received = 0;
  uint64_t bytes_received = 0;
  uint64_t keys_sent = 0;
  bool paused = false;
  bool done() const { return ranges_done == ranges_total; }
};

// The node's own key states, as the driver holds them (writes not yet durable included).
using LocalStore = topology::LocalStore;

enum class OpKind : uint8_t { kGet = 1, kPut = 2, kDelete = 3 };

struct ClientOp {
  uint64_t id = 0;  // the driver's handle for the answer
  OpKind kind = OpKind::kGet;
  std::string key;
  std::string value;  // kPut
  kv::Resolver resolver = kv::Resolver::kLww;
  std::optional<clock::VersionVector> context;  // siblings: the context of a read
  size_t r = 0;  // 0: the configured R (reads) or W (writes)
  size_t w = 0;
};

struct ClientResult {
  uint64_t id = 0;
  Status status;
  std::optional<kv::KeyState> state;  // kGet: the merged state (nullopt: no replica had it)
  kv::Change change;                  // kPut/kDelete: the write as coordinated
  size_t answered = 0;                // replicas that answered (acks or reads)
  bool sloppy = false;                // a write a fallback's hint helped acknowledge
  bool existed = false;  // kDelete: the coordinating replica held a live value before it
};

struct StateWrite {
  std::string key;
  std::string state;  // an encoded KeyState; empty: delete the key (a collected tombstone)
};

// True when `state` is a whole-key tombstone (a deleted lww or siblings key with its
// deletion history): what tombstone collection drops.
bool IsTombstone(const kv::KeyState& state);

// The hint store's changes: hold `state` of `key` for node `target` ("" = drop it).
struct HintWrite {
  uint64_t target = 0;
  std::string key;
  std::string state;
};

// Hints as stored: target -> key -> encoded state.
using Hints = std::map<uint64_t, std::map<std::string, std::string>>;

struct CoordinatorOutput {
  std::vector<StateWrite> writes;  // durable before the sends and results below
  std::vector<HintWrite> hints;    // likewise
  std::vector<Envelope> send;
  std::vector<ClientResult> results;
};

class Coordinator {
 public:
  // REQUIRES: self is a node of ring; store outlives the coordinator.
  Coordinator(uint64_t self, ring::Ring ring, QuorumConfig config, LocalStore* store,
              clock::HlcTimestamp clock_floor = {}, Hints hints = {});

  // Liveness as the failure detector sees it (writes are forwarded to a live replica).
  void SetAlive(uint64_t node, bool alive);
  void Client(ClientOp op, uint64_t now_ms);
  void OnMessage(uint64_t from, std::string_view bytes, uint64_t now_ms);
  void Tick(uint64_t now_ms);
  CoordinatorOutput TakeOutput();

  const ring::Ring& ring() const { return ring_; }
  const ring::Ring& write_ring() const { return write_ring_; }
  // A ring change: reads use `read`, writes both (see above). Ranges this node must pull
  // are those it replicates in `write` but not in `read`, except the ones in `done`
  // (identified by their end token: finished before a restart). Equal rings end streaming.
  void SetRings(ring::Ring read, ring::Ring write, const std::set<uint64_t>& done = {});
  void PauseStreaming(bool paused) { stream_stats_.paused = paused; }
  // Errors: kInvalidArgument when anti-entropy is off (no trees), kUnavailable when a
  // repair is running.
  Status StartRepair(bool dry_run);
  const RepairStats& repair_stats() const { return repair_; }
  const StreamStats& stream_stats() const { return stream_stats_; }
  // Ranges (end tokens) finished since the last call, for the driver to persist.
  std::vector<uint64_t> TakeFinishedRanges();
  clock::HlcTimestamp clock_last() const { return clock_.last(); }
  std::map<std::string, uint64_t> Counters() const;
  size_t hints_pending() const;

 private:
  struct Pending {
    ClientOp op;
    uint64_t from_peer = 0;     // forwarded by this peer (0: a local client)
    uint64_t peer_request = 0;  // the forwarder's request id
    uint64_t deadline_ms = 0;
    std::vector<uint64_t> replicas;  // writes: WriteReplicas (read ring first, then pending)
    size_t pending_replicas = 0;     // writes: how many of `replicas` are pending
    size_t needed = 0;
    std::set<uint64_t> answered;
    // reads: each replica's answer (encoded state, "" = none)
    std::map<uint64_t, std::string> states;
    kv::Change change;    // writes: the change applied
    bool existed = false;  // writes: the coordinating replica had a live value before
    std::string merged;   // reads with repair before reply: the merged state
    std::set<uint64_t> repairing;  // replicas a repair-before-reply waits on
    std::map<uint64_t, uint64_t> fallbacks;  // fallback node -> the home replica it stands in for
    bool replied = false;
  };

  void StartRead(uint64_t rid, Pending p);
  void StartWrite(uint64_t rid, Pending p);
  void FinishRead(uint64_t rid, Pending& p);
  void Finish(uint64_t rid, Pending& p, ClientResult result);
  // Merges `state` into this node's copy of `key`; records the write if it changed.
  void MergeLocal(const std::string& key, const kv::KeyState& state);
  std::optional<kv::KeyState> Decode(const std::string& key, std::string_view bytes);
  // This node's state of key, this output's writes included (nullopt / "" = none).
  std::optional<kv::KeyState> LocalState(const std::string& key);
  std::string LocalBytes(const std::string& key);
  // Anti-entropy.
  MerkleTree* TreeFor(uint64_t token);
  // A key's state changed from old_bytes (nullptr: none) to new_bytes (`state` decoded, or
  // nullptr to decode here): the token index, its range's tree and change count, and the
  // tombstone indexes follow.
  void Track(const std::string& key, const std::string* old_bytes, const std::string& new_bytes,
             const kv::KeyState* state = nullptr);
  // Adds a state to its range's tree (or, a settled tombstone, to the range's purgeable set).
  void AddToTree(uint64_t token, const std::string& key, const std::string& bytes,
                 const kv::KeyState* state);
  // Tombstones past the grace leave their trees; settled ones are asked about and, once
  // every other replica holds no value of the key, deleted.
  void CollectTombstones();
  void OnGcAnswer(uint64_t from, uint64_t query, std::string_view key, bool clear);
  void StartExchange();
  void SendHashes(uint64_t to, uint64_t range_end, uint32_t level,
                  const std::vector<uint64_t>& indices, MerkleTree& tree);
  // Encoded (key, state) pairs of the local keys in the given buckets.
  std::vector<std::pair<std::string, std::string>> EntriesIn(MerkleTree& tree,
                                                             const std::vector<uint64_t>& buckets);
  void SendEntries(uint64_t to, uint64_t range_end, bool reply, const std::vector<uint64_t>& buckets,
                   const std::vector<std::pair<std::string, std::string>>& entries);

  uint64_t self_;
  // Streaming: one range to pull. Keys after `after_token` are still to come.
  struct StreamTask {
    uint64_t start = 0;
    uint64_t end = 0;
    std::vector<uint64_t> sources;  // read-ring replicas of the range
    uint64_t after_token = 0;
    bool started = false;           // after_token is meaningful
    uint64_t request = 0;           // the chunk request in flight (0: none)
    uint64_t sent_ms = 0;
    size_t attempts = 0;
  };
  void BuildTrees();
  void StepRepair();
  void StepStreaming();
  void ServeStreamRequest(uint64_t from, ByteReader& r, uint64_t rid);
  void OnStreamChunk(uint64_t from, ByteReader& r, uint64_t rid);
  // The key's write replicas: read-ring ones first, then pending ones; `pending` counts
  // the latter.
  std::vector<uint64_t> WriteReplicas(const std::string& key, size_t* pending) const;

  ring::Ring ring_;        // the read ring
  ring::Ring write_ring_;  // == ring_ unless a ring change is under way
  bool rings_differ_ = false;
  QuorumConfig config_;
  LocalStore* store_;
  clock::HybridClock clock_;
  std::set<uint64_t> down_;
  uint64_t now_ms_ = 0;
  uint64_t next_rid_ = 1;
  std::map<uint64_t, Pending> pending_;
  std::map<std::string, std::string> written_;  // this output's state writes, by key
  Hints hints_;                                   // held for other nodes (fallback role)
  std::map<uint64_t, uint64_t> hint_bytes_;       // per target: keys and states held
  // When each hint was stored (0: restored at start; set at the first Tick).
  std::map<std::pair<uint64_t, std::string>, uint64_t> hint_since_;
  void DropHint(uint64_t target, const std::string& key);
  // Anti-entropy: a tree per replicated range, by the range's end token; every local key
  // by token; the next exchange.
  std::map<uint64_t, MerkleTree> trees_;
  std::multimap<uint64_t, std::string> tokens_;
  // Tombstone collection: tombstones still in their tree, by key and by their last write's
  // wall time; settled tombstones (out of their tree), with when they last changed here and
  // the question out about them (query id, the replicas that answered "clear").
  std::map<std::string, uint64_t> young_tombstones_;
  std::set<std::pair<uint64_t, std::string>> young_by_time_;
  struct Settled {
    uint64_t due_ms = 0;  // when to ask (again)
    uint64_t query = 0;   // 0: none asked since the last change
    std::set<uint64_t> clear;
  };
  std::map<std::string, Settled> settled_;
  std::set<std::pair<uint64_t, std::string>> settled_due_;  // (due_ms, key)
  uint64_t next_gc_query_ = 1;
  // `key` became a settled tombstone now (asked about after the quiet period).
  void Settle(const std::string& key);
  // Forgets `key`'s settled entry, if any; true if there was one.
  bool Unsettle(const std::string& key);
  void ResetTombstoneIndexes();
  uint64_t next_exchange_ms_ = 0;
  size_t exchange_cursor_ = 0;
  // Hints sent for replay and not yet acknowledged: (target, key) -> when (ms).
  std::map<std::pair<uint64_t, std::string>, uint64_t> replaying_;
  RepairStats repair_;
  std::vector<std::pair<uint64_t, uint64_t>> repair_queue_;  // (range end, replica)
  std::set<std::pair<uint64_t, uint64_t>> repair_waiting_;    // dry run: roots asked
  uint64_t repair_sent_ms_ = 0;
  std::map<uint64_t, StreamTask> streams_;  // by range end
  std::vector<uint64_t> finished_ranges_;
  StreamStats stream_stats_;
  double stream_credit_ = 0;
  uint64_t stream_credit_ms_ = 0;
  uint64_t next_stream_request_ = 1;
  CoordinatorOutput out_;
  // Counters.
  uint64_t reads_ = 0, writes_ = 0, forwards_ = 0, timeouts_ = 0, repairs_ = 0,
           malformed_ = 0, hints_stored_ = 0, hints_refused_ = 0, hints_delivered_ = 0,
           hints_expired_ = 0,
           ae_exchanges_ = 0, ae_hashes_sent_ = 0, ae_keys_sent_ = 0, ae_keys_received_ = 0,
           tombstones_collected_ = 0;
};

// The nodes that replicate some part of the circle in `write` but not in `read`: those
// that must pull data before a ring change from `read` to `write` is complete.
std::set<uint64_t> Gainers(const ring::Ring& read, const ring::Ring& write, size_t n);

}  // namespace kvd::topology::dynamo
