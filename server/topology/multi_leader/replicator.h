// Replicator: the deterministic core of the multi_leader topology. Every node accepts
// writes; the Replicator numbers each local write as a Change of this node (its origin),
// keeps a durable log of changes, ships them to peers along the configured propagation
// topology, applies the changes peers ship to it, and remembers how far it has applied each
// origin's log. What a change does to a key is server/kv/replicated_state.h's business; the
// driver applies the changes this core emits, in order.
//
// Propagation. Each origin numbers its changes 1, 2, 3, ... without gaps. Every node
// applies each origin's changes in that order, exactly once (a change at or below the
// node's progress for its origin is a duplicate and skipped; one beyond progress + 1 waits
// for a resend). Routes say which origins' changes a node ships to which peer:
//   all_to_all  every node ships its own changes to every other node;
//   ring        every node ships every origin's changes to its successor (the next member
//               in the configured order), except the successor's own: a change travels
//               around the ring once and stops before it would reach its origin again;
//   star        the hub ships every origin's changes to every spoke except the spoke's
//               own; a spoke ships its own changes to the hub.
// So a change reaches each node exactly once along its route and never loops back.
// Delivery is at least once: a sender ships up to a window of changes beyond what the peer
// acknowledged and rewinds to the acknowledged point when acknowledgements stall; the peer
// acknowledges with its progress vector once the changes are durable on it.
//
// Durability (the contract of server/topology/output.h): local changes and retained remote
// ones are logged, and progress recorded, in Output::storage, in the same atomic batch as
// the key writes of the changes applied with them. A local change is shipped only after the
// batch that logged it is durable, so a crash can never lose a change a peer already has
// (its sequence number would otherwise be reused). The log keeps a change until every peer
// it is routed to has acknowledged it, and at most `log_retention` changes per origin.
//
// State transfer. A peer that needs changes the log no longer holds gets this node's
// whole state instead: the core asks the driver to stream it (ReplicatorOutput::transfers)
// and stops shipping to that peer meanwhile. The driver reads, from one consistent view of
// its durable storage, every replicated key state and TransferMetadata (the durable
// progress and clock) and sends them in chunks wrapped by EncodeStateChunk, paced by the
// receiver's acknowledgements (transfer_progress). The receiver's core hands the chunks to
// its driver in order (state_chunks); the driver merges each state into its own
// (kv::KeyState::Merge: a join, so nothing the receiver had is lost) and then calls
// OnStateInstalled, which raises this node's progress to the sender's for every origin
// (the merged state holds all of those changes), drops retained log entries a gap now
// follows, and acknowledges. The sender resumes shipping from the new acknowledged point;
// a transfer that stops making progress is started again. Merging first and recording
// progress after is safe: applying a change to a state that already holds it is a no-op.
//
// Stability (for tombstone garbage collection). Every report_interval_ms a node sends its
// neighbours (the peers it ships to or is shipped from) a report of every member it knows:
// the member's durable progress and a fresh reading of its hybrid clock, which the member
// persists before the report leaves, so every change it makes later is stamped above it.
// A member's report is adopted once this node has applied every change of that member the
// report counts (its own entry): from then on no change of the member made before the
// report can still be on its way here. Stable() is the minimum over the adopted reports of
// every member and this node's own state: changes it covers are applied on every member,
// and every change still to arrive here is stamped after its clock. It is a lower bound:
// reports are only believed once durable, and a member that loses data it acknowledged
// (durability other than always, a wiped disk) breaks it.
//
// Clocks: a hybrid logical clock stamps local changes and adopts the timestamps of applied
// ones (refusing those too far ahead, counted in clock_skew_rejections).
//
// Thread-safety: none; one owner.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock/hlc.h"
#include "common/clock/version_vector.h"
#include "common/status.h"
#include "server/kv/replicated_state.h"
#include "server/topology/output.h"

namespace kvd::topology::multi_leader {

enum class Propagation : uint8_t { kAllToAll, kRing, kStar };
std::string_view PropagationName(Propagation p);

struct ReplicatorConfig {
  uint64_t self = 0;
  std::vector<uint64_t> members;  // every leader, in ring order
  // Read-only followers: follower id -> the leader it replicates from. A leader ships every
  // origin's changes to each of its followers; a follower ships nothing and makes no
  // changes. `self` is a leader or a follower.
  std::map<uint64_t, uint64_t> followers;
  Propagation propagation = Propagation::kAllToAll;
  uint64_t hub = 0;  // star only: a member
  uint64_t max_clock_offset_ms = 500;
  uint64_t resend_interval_ms = 200;  // rewind to the acknowledged point after this long
  uint32_t max_batch_changes = 256;   // changes in one message
  uint32_t window_changes = 1024;     // changes shipped beyond the acknowledged point
  uint64_t log_retention = 100000;    // changes kept per origin at most
  uint64_t report_interval_ms = 1000;  // stability reports to neighbours, at most this often
  kv::ReplicatedLimits limits;
};

// Keys of the topology column ('l'):
//   "ll" + u64 origin + u64 seq   an encoded Change (the retained log)
//   "lp" + u64 origin             u64: this node's progress for that origin
//   "lh"                          u64: the hybrid clock's last timestamp (packed)
//   "li"                          u64: how many times the node has started
//   "lw"                          version vector: the collection watermark
inline constexpr char kColumn = 'l';  // 'c' is the client table's (server/kv/client_table.h)
std::string LogKey(uint64_t origin, uint64_t seq);
std::string ProgressKey(uint64_t origin);

// A local write before it is numbered.
struct LocalWrite {
  kv::Resolver resolver = kv::Resolver::kLww;
  kv::ChangeOp op = kv::ChangeOp::kPut;
  std::string key;
  std::string value;
  int64_t amount = 0;
  // siblings: the context the client presented (nullopt: none). Ignored otherwise.
  std::optional<clock::VersionVector> context;
};

struct AppliedChange {
  kv::Change change;
  bool local = false;  // this node's own write: the driver answers its client
};

struct ReplicatorOutput {
  std::vector<StorageOp> storage;
  std::vector<AppliedChange> apply;  // apply in order, in the same batch as storage
  std::vector<Envelope> send;        // only after that batch (and earlier ones) is durable
  std::vector<std::string> events;
  // State transfers (see above). transfers: start streaming this node's state to each
  // peer (replacing a stream in progress); transfer_progress: a receiver acknowledged a
  // chunk; state_chunks: chunks of a transfer to this node, in order (index = the sender).
  std::vector<uint64_t> transfers;
  std::vector<SnapshotProgress> transfer_progress;
  std::vector<SnapshotChunkIn> state_chunks;
  bool empty() const {
    return storage.empty() && apply.empty() && send.empty() && events.empty() &&
           transfers.empty() && transfer_progress.empty() && state_chunks.empty();
  }
};

struct PeerLag {
  uint64_t peer = 0;
  uint64_t origin = 0;
  uint64_t acked = 0;    // the peer's acknowledged progress for origin (0: not heard yet)
  uint64_t latest = 0;   // this node's progress for origin
  uint64_t ms_since_ack = 0;
  bool known = false;    // an acknowledgement has arrived since this node started
};

class Replicator {
 public:
  // Rebuilds from the topology column's keys (log and progress). Errors: kCorruption.
  static Result<Replicator> Open(ReplicatorConfig config,
                                 const std::map<std::string, std::string>& stored);

  // Time passes (wall clock, unix ms): resends and probes.
  void Tick(uint64_t now_ms);
  // Numbers a local write as the next change of this node and queues it for applying
  // (AppliedChange::local). Returns the change.
  kv::Change Write(LocalWrite write, uint64_t now_ms);
  // The driver refused to apply local change `seq` (its key was over the sibling cap):
  // it is shipped as a no-op so sequence numbers stay gap-free. Returns the no-op's
  // encoding, which the driver must write at LogKey(self, seq) in the same batch as the
  // refusal. REQUIRES: the change was in the last output taken and has not been shipped.
  std::string Refused(uint64_t seq);
  // A peer's message. Malformed messages are dropped and counted.
  void OnMessage(uint64_t from, std::string_view bytes, uint64_t now_ms);
  ReplicatorOutput TakeOutput();
  // Moves out just the changes to apply so far (so that a caller can order its own work
  // after them); the rest stays for TakeOutput.
  std::vector<AppliedChange> TakeApplied();

  // State transfer. The metadata that describes a state read from storage, from the
  // topology column's records of the same consistent view (progress and clock).
  static std::string TransferMetadata(const std::map<std::string, std::string>& records);
  // One chunk of a transfer to `to` as a peer message.
  std::string EncodeStateChunk(uint64_t offset, std::string_view metadata, std::string_view data,
                               bool done) const;
  // The driver merged the whole state `from` sent (its metadata as received).
  void OnStateInstalled(uint64_t from, std::string_view metadata);
  // The driver could not merge it (it did not decode): wait for the sender to start over.
  void OnStateRejected() {
    incoming_from_ = 0;
    installing_ = false;
  }

  // What every member is known to have applied (see Stability above); nullopt until a
  // report of every member has been adopted.
  std::optional<kv::Stability> Stable() const;
  // Stable(), for a tombstone collection the driver is about to run; nullopt while a
  // state transfer to this node is under way. It raises the collection watermark (the
  // join of every stability used to collect, recorded in this output's batch, which must
  // be durable no later than the collection): a state transfer whose progress does not
  // cover the watermark is refused, since that state may still hold what the collected
  // tombstones had deleted.
  std::optional<kv::Stability> TakeCollection();
  bool receiving_state() const { return incoming_from_ != 0 || installing_; }

  // Introspection.
  const clock::VersionVector& progress() const { return progress_; }
  uint64_t self() const { return config_.self; }
  const ReplicatorConfig& config() const { return config_; }
  std::vector<PeerLag> Lag(uint64_t now_ms) const;
  std::map<std::string, uint64_t> Counters() const;
  clock::HlcTimestamp clock_last() const { return clock_.last(); }
  // Changes retained in the log, all origins.
  uint64_t retained() const;

  // Leaders and followers.
  bool IsParticipant(uint64_t id) const {
    return std::find(config_.members.begin(), config_.members.end(), id) != config_.members.end() ||
           config_.followers.count(id) != 0;
  }
  // Peers this node ships `origin`'s changes to.
  std::vector<uint64_t> RoutesFor(uint64_t origin) const { return RoutesFrom(config_.self, origin); }
  // Peers `node` ships `origin`'s changes to.
  std::vector<uint64_t> RoutesFrom(uint64_t node, uint64_t origin) const;

 private:
  struct Stream {  // this node -> peer, for one origin
    uint64_t acked = 0;       // the peer's progress for the origin, as last acknowledged
    bool known = false;       // an acknowledgement has arrived
    uint64_t next = 1;        // next seq to ship
    uint64_t last_ack_ms = 0;  // when `acked` last moved (or the stream started waiting)
    uint64_t resend_timer_ms = 0;  // the resend timer's start: last ack progress or rewind
    bool resending = false;        // rewound: the next batch shipped is a resend
    uint64_t last_probe_ms = 0;
  };
  explicit Replicator(ReplicatorConfig config);

  void Ship(uint64_t now_ms);
  void Truncate(uint64_t origin);
  bool Retains(uint64_t origin) const { return !RoutesFor(origin).empty(); }
  void ApplyRemote(uint64_t from, kv::Change change, bool* progressed);
  // Applies the change that follows this node's progress for its origin.
  void ApplyNext(kv::Change change);
  // Applies held changes of `origin` that now follow its progress.
  void DrainHeld(uint64_t origin);
  // True when `peer` needs changes of some origin that the log no longer holds.
  bool NeedsTransfer(uint64_t peer) const;
  void StartTransfer(uint64_t peer, uint64_t now_ms, uint64_t origin);
  void Log(const kv::Change& change, std::string encoded);
  std::string EncodeAck() const;
  std::string EncodeReports();
  void AdoptReports();

  struct Report {
    clock::VersionVector progress;
    clock::HlcTimestamp clock;
  };

  ReplicatorConfig config_;
  clock::HybridClock clock_;
  clock::VersionVector progress_;
  // Retained log per origin: seq -> encoded change, contiguous.
  std::map<uint64_t, std::map<uint64_t, std::string>> log_;
  // Local changes whose applying batch has been handed out (shippable once durable,
  // i.e. from the next output on): seqs <= shippable_local_.
  uint64_t shippable_local_ = 0;
  uint64_t taken_local_ = 0;
  std::map<uint64_t, std::map<uint64_t, Stream>> streams_;  // peer -> origin -> stream
  std::set<uint64_t> ack_due_;  // peers owed an acknowledgement
  std::set<uint64_t> dirty_progress_;  // origins whose progress record is due
  bool clock_dirty_ = false;
  // Changes that arrived ahead of a gap, per origin, by seq (at most a window's worth).
  std::map<uint64_t, std::map<uint64_t, kv::Change>> held_;
  uint64_t now_ms_ = 0;
  // Stability: each other member's latest report (joined over all received) and the
  // latest one adopted; the peers reports go to; when the next report is due.
  std::map<uint64_t, Report> reports_;
  std::map<uint64_t, Report> adopted_;
  std::vector<uint64_t> neighbours_;
  uint64_t next_report_ms_ = 0;
  // State transfers this node is sending: peer -> when the last chunk was acknowledged
  // (or the transfer started). And the one it is receiving: sender and next offset.
  std::map<uint64_t, uint64_t> transfers_out_;
  uint64_t incoming_from_ = 0;
  uint64_t incoming_offset_ = 0;
  uint64_t incoming_last_ms_ = 0;
  bool installing_ = false;  // the last chunk arrived; the driver has yet to merge it
  clock::VersionVector watermark_;  // see TakeCollection
  ReplicatorOutput out_;
  // Counters.
  uint64_t changes_local_ = 0;
  uint64_t changes_applied_ = 0;
  uint64_t changes_duplicate_ = 0;
  uint64_t changes_out_of_order_ = 0;
  uint64_t changes_shipped_ = 0;
  uint64_t resends_ = 0;
  uint64_t malformed_messages_ = 0;
  uint64_t clock_skew_rejections_ = 0;
  uint64_t state_transfers_sent_ = 0;
  uint64_t state_transfers_received_ = 0;
  uint64_t state_transfers_refused_ = 0;
  uint64_t refused_ = 0;
  uint64_t peer_regressions_ = 0;
  uint64_t incarnation_ = 0;
  std::map<uint64_t, uint64_t> peer_incarnation_;
};

}  // namespace kvd::topology::multi_leader
