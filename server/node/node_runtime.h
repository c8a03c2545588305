// NodeRuntime: drives one topology core and the kv state machine, with group commit to
// the storage engine. It is the deterministic half of the node shell: no sockets, no
// timers, no threads of its own. The production shell (server/app, server/net) feeds it
// requests, peer messages and ticks on the loop thread and writes through a StorageWorker
// thread; the simulator (tests/sim) runs many of them in one thread with a simulated
// disk and network.
//
// Data path: each input goes into the core; a flush is posted to the loop, so every input
// that arrives in the same loop turn joins the same commit group. Flush() drains the
// core's Output (server/topology/output.h) and executes its contract:
//   * early_send leaves at once;
//   * the core's storage ops, the kv writes of every applied item, the applied log
//     position and the dedup records go into ONE WriteBatch (atomic);
//   * that batch is written inline (no fsync wanted and nothing in flight) or handed to
//     the StorageQueue, which writes and fsyncs it off the loop; N concurrent writers
//     share one fsync;
//   * once the batch is written (and synced if it had to be) and every earlier group is
//     too: send, then answers, then Node::OnPersisted, then snapshot work.
// Single topology: answers wait for their group even for reads, since a read may have
// seen the group's writes. Replicated topologies: answers reflect committed entries only,
// whose durability the replication mode already guarantees, so they go out at once.
//
// Durability. Single topology: a group is synced when the node's (or a request's)
// durability is `always`. Replicated topologies: the core's own state (Raft log, votes)
// is synced under `always`; the kv writes of committed entries need no fsync of their
// own, because the log can replay them (the applied position is written in the same
// batch, and LevelDB's log keeps writes in order).
//
// Failure: single topology: a failed write fails the answers of its group and of every
// later group already applied (kIOError naming the cause), rolls the kv overlay back and
// starts a new epoch. Replicated topologies: the node cannot un-send a vote or an
// acknowledgement, so a failed write of the core's state stops the node (Hooks::fatal).
//
// Thread-safety: every method except the constructor must run on the loop thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "common/log.h"
#include "server/admin/metrics.h"
#include "server/kv/client_table.h"
#include "server/kv/kv_store.h"
#include "server/node/storage_queue.h"
#include "server/storage/engine.h"
#include "server/topology/node.h"

namespace kvd::node {

// Keys the runtime keeps with the state machine (the 'm' column, see server/kv/record.h).
inline constexpr std::string_view kAppliedKey = "mapplied";        // u64 index, u64 term
inline constexpr std::string_view kMembershipKey = "mmembership";  // encoded membership
// Snapshot chunk payloads are at most this big.
inline constexpr size_t kSnapshotChunkBytes = 1u << 20;

class NodeRuntime {
 public:
  struct Hooks {
    // Runs fn on the loop thread soon (never inline). Callable from any thread.
    std::function<void(std::function<void()>)> post;
    // Hands a response to the client connection; called on the loop thread.
    std::function<void(const topology::ClientRef&, wire::Response)> deliver;
    // Sends an encoded peer message (replicated topologies).
    std::function<void(uint64_t to, std::string bytes)> send;
    // The node cannot go on safely (its replicated state could not be written): stop it.
    std::function<void(const Status&)> fatal;
    // The cluster's members changed: every member but this node (replicated topologies).
    std::function<void(const std::vector<topology::MemberEndpoint>&)> members;
  };

  // REQUIRES: engine, queue, logger and metrics outlive the runtime.
  NodeRuntime(const config::Config& config, storage::Engine* engine, StorageQueue* queue,
              Logger* logger, admin::Metrics* metrics, Hooks hooks);
  ~NodeRuntime();

  // Loads the kv state, builds the topology core from what is stored (seeded with
  // `seed`) and starts the storage queue. Errors: from the engine or the stored state.
  Status Open(uint64_t seed);
  // Accepts one validated data request.
  void Submit(topology::ClientRequest request);
  // Accepts one administrative request (replicated topologies).
  void SubmitAdmin(topology::ClientRequest request);
  // A message from a peer of the cluster.
  void OnPeerMessage(uint64_t from, std::string_view bytes);
  // Time passes: wall clock for the core and TTLs, steady clock for periodic sync.
  void Tick(uint64_t wall_ms, uint64_t steady_ms);
  // True when no request is waiting for an answer.
  bool Idle() const;
  // Stops the queue after it wrote everything queued, then syncs the engine. Answers
  // still pending are dropped (call it once Idle(), unless the drain timed out).
  // REQUIRES: the loop no longer runs posted work.
  Status Close();
  // Completions from the storage queue (the production shell posts them to the loop).
  void OnCompletions(const std::vector<StorageQueue::Completion>& done);

  // The node's state as a JSON object (for the STATUS request and /status).
  std::string StatusJson(uint64_t uptime_seconds, uint64_t connections) const;
  const kv::KvStore& kv() const { return kv_; }
  topology::Node* core() { return node_.get(); }
  const topology::Node* core() const { return node_.get(); }
  // The state machine's applied log position (replicated topologies).
  uint64_t applied_index() const { return applied_index_; }
  bool failed() const { return failed_; }
  size_t groups_in_flight() const { return pending_.size(); }
  uint64_t snapshots_installed() const { return snapshots_installed_; }

 private:
  struct PendingGroup {
    uint64_t group = 0;
    uint64_t epoch = 0;
    std::vector<topology::Reply> replies;
    std::vector<topology::Envelope> sends;
    uint64_t persist_index = 0;
    uint64_t persist_term = 0;
    bool has_core_storage = false;
    std::vector<topology::SnapshotSend> snapshot_sends;
    std::vector<topology::SnapshotProgress> snapshot_progress;
    std::vector<topology::SnapshotChunkIn> snapshot_chunks;
  };
  // A snapshot being streamed to a peer: an engine iterator (a consistent view) read a
  // chunk at a time as the peer acknowledges.
  struct OutgoingSnapshot {
    uint64_t term = 0;
    uint64_t index = 0;
    uint64_t snapshot_term = 0;
    std::string membership;
    uint64_t offset = 0;  // bytes sent so far
    std::unique_ptr<storage::Iterator> it;
  };
  struct IncomingSnapshot {
    uint64_t index = 0;
    uint64_t term = 0;
    std::string membership;
    std::string data;
    bool complete = false;
  };

  void ScheduleFlush();
  void Flush();
  // Applies one item into the group's batch; returns the answer if the item has one.
  void ApplyItem(topology::ApplyItem& item, PendingGroup& pg, storage::WriteBatch* batch);
  // Finishes a group: delivers its answers if its write succeeded, fails them otherwise.
  void Complete(PendingGroup& group, const Status& status);
  void FailGroup(PendingGroup& group, const Status& cause);
  void Fatal(const Status& status);

  // Snapshots.
  void StartSnapshotStream(const topology::SnapshotSend& s);
  void ContinueSnapshotStream(const topology::SnapshotProgress& p);
  void SendSnapshotChunk(uint64_t to, OutgoingSnapshot& snap);
  void ReceiveSnapshotChunk(topology::SnapshotChunkIn chunk);
  void MaybeInstallSnapshot();
  Status InstallSnapshot(const IncomingSnapshot& snap);
  Status LoadStoredState(topology::StoredState* stored);
  void PublishTopologyMetrics();
  // Answers a client: its connection, or the node that forwarded its request.
  void Deliver(const topology::ClientRef& ref, wire::Response response);

  const config::Config& config_;
  storage::Engine* engine_;
  StorageQueue* queue_;
  std::unique_ptr<topology::Node> node_;
  Logger* logger_;
  admin::Metrics* metrics_;
  Hooks hooks_;
  kv::KvStore kv_;
  // dynamo: the core's synchronous view of the key states in kv_ (overlay included).
  class KvLocalStore final : public topology::LocalStore {
   public:
    explicit KvLocalStore(NodeRuntime* runtime) : runtime_(runtime) {}
    std::optional<kv::KeyState> Load(const std::string& key) override;
    void ForEach(const std::function<void(const std::string&, const std::string&)>& fn) override;

   private:
    NodeRuntime* runtime_;
  };
  KvLocalStore local_store_{this};
  // A read of the local store failed: the node stops (posted, not from inside the core).
  void StoreReadFailed(const Status& status);
  kv::ClientTable clients_;
  bool replicated_ = false;
  // leader_follower: answers reflect committed log entries and go out at apply; the core's
  // own state is what must be synced. Otherwise (single, multi_leader) answers wait for
  // their group to be durable, synced as the durability mode says.
  bool answers_at_apply_ = false;
  // multi_leader conflict counters (published with the topology's gauges).
  uint64_t lww_overwrites_ = 0;
  uint64_t tombstones_collected_ = 0;  // keys and set elements dropped by tombstone collection
  uint64_t sibling_cap_refusals_ = 0;
  uint64_t resolver_mismatches_ = 0;
  uint64_t lww_unlogged_ = 0;       // overwrites since the last log line
  uint64_t lww_logged_at_ms_ = 0;
  uint64_t wall_ms_ = 0;            // the last tick's wall clock
  bool opened_ = false;
  bool failed_ = false;

  bool flush_scheduled_ = false;
  uint64_t last_group_ = 0;
  uint64_t epoch_ = 0;
  std::deque<PendingGroup> pending_;  // groups handed to the queue, oldest first
  uint64_t next_periodic_sync_ms_ = 0;
  bool unsynced_writes_ = false;
  uint64_t applied_index_ = 0;
  uint64_t applied_term_ = 0;
  std::map<uint64_t, OutgoingSnapshot> outgoing_;  // by peer
  std::optional<IncomingSnapshot> incoming_;
  uint64_t snapshots_sent_ = 0;
  uint64_t snapshots_installed_ = 0;
  uint64_t last_snapshot_bytes_ = 0;
  uint64_t duplicate_writes_ = 0;
  uint64_t ticks_ = 0;
};

}  // namespace kvd::node
