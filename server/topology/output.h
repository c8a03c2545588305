// Output: what a topology core asks its driver (the node shell or the simulator) to do
// after an input. Modelled on etcd-io/raft's Ready.
//
// Contract for the driver, in this order, for each Output taken:
//   1. storage: write these ops (the core's own state: Raft hard state and log) in one
//      atomic batch, together with the state machine writes of step 4, and make them
//      durable (fsync) when the node's durability mode says so, BEFORE anything in
//      `send` leaves. Then call Node::OnPersisted(persist_index, persist_term) if
//      persist_index != 0.                                                     [Raft]
//   2. early_send: may be sent at once, before step 1 completes (a Raft leader's appends
//      do not depend on its own disk, dissertation §10.2.1).
//   3. send: deliver to peers, in order, only after the storage of this Output AND of
//      every earlier Output is durable.
//   4. apply: apply each item through the kv state machine (server/kv), in order, and
//      answer the client of each item that has `reply` set, once the writes the answer
//      depends on are as durable as the request's durability mode demands.
//   5. replies: send these answers to clients as they are (errors the core produced by
//      itself, such as kNotLeader); they wait behind earlier answers like `send` does.
//   6. expire: run a TTL expiry sweep through the kv state machine at each given time
//      (single topology; replicated topologies put sweeps in the log as kExpire items).
//   7. snapshot_*: stream or install state machine snapshots (see each field).
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/wire/messages.h"
#include "server/kv/replicated_state.h"

namespace kvd::topology {

// Identifies the client connection and request an answer belongs to.
struct ClientRef {
  uint64_t connection_id = 0;
  uint64_t request_id = 0;
  uint64_t start_ns = 0;  // the shell's arrival timestamp, for latency metrics; cores copy
                          // it untouched and never read it
  // Non-zero: the request was forwarded by this peer (raft.follower_writes: forward); the
  // answer goes back to it (Node::OnForwardedReply), not to a local connection.
  uint64_t forwarded_from = 0;
  bool operator==(const ClientRef&) const = default;
};

struct ClientRequest {
  ClientRef ref;
  uint64_t arrival_ms = 0;  // wall clock (unix ms) when the shell received it
  wire::Request request;
};

enum class ApplyKind : uint8_t {
  kRequest,     // a data request (a read, or a write from the log)
  kExpire,      // a TTL sweep at now_ms, from the replicated log
  kNoop,        // a log entry with no effect on the data (a new leader's no-op)
  kMembership,  // a committed configuration: record it with the state machine
  // multi_leader:
  kChange,          // apply `change` to its key's replicated state (kv::KvStore::ApplyChange)
  kReplicatedRead,  // serve a GET, GETS or SMEMBERS from replicated states (`resolver`)
  kCollect,         // collect tombstones `stability` makes redundant (KvStore::CollectTombstones)
  // dynamo:
  kStoreState,  // store `state` as the replicated state of change.key (KvStore::StoreReplicated)
  kAnswer,      // send `response` to ref's client once this group is durable
};

struct ApplyItem {
  ClientRef ref;
  uint64_t now_ms = 0;  // the time at which TTLs are computed and checked
  wire::Request request;
  ApplyKind kind = ApplyKind::kRequest;
  bool reply = true;    // false: no client waits on this node (a replica applying the log)
  // Replicated topologies: the log position the item comes from (0: not a log entry).
  // The driver records (index, term) as the state machine's applied point.
  uint64_t index = 0;
  uint64_t term = 0;
  // Request deduplication (Raft dissertation §6.3): a write with the same client id and
  // sequence as one already applied is not applied again; its first answer is returned.
  uint64_t client_id = 0;
  uint64_t client_seq = 0;
  std::string membership;  // kMembership: the encoded configuration
  // Non-zero: the answer's session token is this log index (replicated topologies);
  // zero: the kv revision (single).
  uint64_t session_index = 0;
  // multi_leader. kChange: the change, whether it is this node's own write (`reply` then
  // answers its client; a refused one is reported back through
  // Node::OnLocalChangeRefused), and the sibling cap. kReplicatedRead: the key's resolver.
  // Both: a non-empty session_token replaces the answer's token.
  kv::Change change;
  bool local_change = false;
  uint32_t max_siblings = 0;
  kv::Resolver resolver = kv::Resolver::kLww;
  std::string session_token;
  // kCollect: what every member has applied, and the grace period (now_ms is the time).
  kv::Stability stability;
  uint64_t grace_ms = 0;
  // kStoreState: the encoded KeyState. kAnswer: the answer.
  std::string state;
  wire::Response response;
};

struct Reply {
  ClientRef ref;
  wire::Response response;
};

struct StorageOp {
  bool is_delete = false;
  std::string key;
  std::string value;
};

struct Envelope {
  uint64_t to = 0;
  std::string bytes;  // an encoded peer message of the topology
};

// Leader: stream a snapshot of the state machine to `to` (Node::EncodeSnapshotChunk
// wraps each chunk). A new request for the same peer replaces any stream in progress.
struct SnapshotSend {
  uint64_t to = 0;
  uint64_t term = 0;
};
// Leader: the peer acknowledged a chunk: send the one starting at next_offset, or stop.
struct SnapshotProgress {
  uint64_t to = 0;
  uint64_t next_offset = 0;
  bool done = false;
};
// Follower: a chunk of an incoming snapshot, in order. When `done`, the driver installs
// the whole snapshot and calls Node::OnSnapshotInstalled.
struct SnapshotChunkIn {
  uint64_t index = 0;
  uint64_t term = 0;
  std::string membership;  // encoded
  uint64_t offset = 0;
  bool done = false;
  std::string data;
};

// How to reach a member of the cluster (replicated topologies).
struct MemberEndpoint {
  uint64_t id = 0;
  std::string client;  // "host:port"
  std::string peer;    // "host:port"
  bool operator==(const MemberEndpoint&) const = default;
};

struct Output {
  std::vector<StorageOp> storage;
  bool force_sync = false;  // fsync the storage even if the node's durability mode would not
  uint64_t persist_index = 0;
  uint64_t persist_term = 0;
  std::vector<Envelope> early_send;
  std::vector<Envelope> send;
  std::vector<ApplyItem> apply;
  std::vector<Reply> replies;
  std::vector<uint64_t> expire;  // sweep times (unix ms)
  std::vector<SnapshotSend> snapshot_sends;
  std::vector<SnapshotProgress> snapshot_progress;
  std::vector<SnapshotChunkIn> snapshot_chunks;
  // Set when the cluster's membership changed: every member but this node, to connect to.
  bool members_changed = false;
  std::vector<MemberEndpoint> members;
  // Notable state changes (elections won and lost, leaders learned, snapshots), one line
  // each, for the node's log.
  std::vector<std::string> events;

  bool empty() const {
    return storage.empty() && persist_index == 0 && early_send.empty() && send.empty() &&
           apply.empty() && replies.empty() && expire.empty() && snapshot_sends.empty() &&
           snapshot_progress.empty() && snapshot_chunks.empty() && !members_changed;
  }
};

}  // namespace kvd::topology
