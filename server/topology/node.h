// Node: the one interface every topology core implements (single, leader_follower, and
// later multi_leader, dynamo). A core is a deterministic state machine: no sockets,
// threads, clocks or randomness inside. Its driver feeds it inputs and drains its Output
// (output.h): the node shell (server/node) in production, the simulator (tests/sim) in
// tests.
//
// Inputs:
//   Tick(now_ms)                 one tick of the driver's timer; now_ms is its wall clock
//   OnClientRequest(request)     a decoded, validated data request from a client
//   OnAdminRequest(request)      an administrative request (promote, transfer, members...)
//   OnPeerMessage(from, bytes)   an encoded message from another node of the cluster
//   OnPersisted(index, term)     the driver made Output::storage durable (contract step 1)
//   OnSnapshotInstalled(...)     the driver installed a snapshot it received
// Outputs:
//   TakeOutput()                 moves out the work accumulated since the last call
// Introspection:
//   Inspect()                    role and state for kvctl status, /status and metrics
//
// Thread-safety: none; the driver calls a core from one thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/config.h"
#include "server/topology/local_store.h"
#include "server/topology/output.h"

namespace kvd::topology {

struct PeerInfo {
  uint64_t id = 0;
  std::string role;  // "voter" or "learner"
  uint64_t match = 0;
  uint64_t next = 0;
  std::string state;  // replication state as the leader sees it
  uint64_t ms_since_contact = 0;
  uint64_t lag_entries = 0;
};

struct MemberInfo {
  uint64_t id = 0;
  std::string role;    // "voter" or "learner"; dynamo: "normal", "joining" or "leaving"
  std::string client;  // "host:port", empty if unknown
  std::string peer;
  std::string zone;    // dynamo: the member's zone, "" if none
};

struct NodeInfo {
  std::string mode;  // "single", "leader_follower", ...
  std::string role;  // "standalone", "leader", "follower", ...
  uint64_t node_id = 0;
  uint64_t ticks = 0;
  // Replicated topologies: numeric state by name (term, leader_id, commit_index, ...),
  // and what the node knows of its peers.
  std::map<std::string, uint64_t> counters;
  std::map<std::string, std::string> labels;
  std::vector<PeerInfo> peers;
  std::vector<MemberInfo> members;  // the configuration this node follows
};

// What the driver read back from storage for the core when the node starts.
struct StoredState {
  // Every key of the topology's own column (server/topology/raft/raft_storage.h), with
  // its value.
  std::map<std::string, std::string> topology_keys;
  // The state machine's applied point and the configuration recorded with it.
  uint64_t applied_index = 0;
  uint64_t applied_term = 0;
  std::string applied_membership;  // encoded; empty if none recorded
};

class Node {
 public:
  virtual ~Node() = default;

  virtual void Tick(uint64_t now_ms) = 0;
  // REQUIRES: the request is a data request that passed wire::ValidateRequest.
  virtual void OnClientRequest(ClientRequest request) = 0;
  // An administrative request (wire::AdminRequest); answered through Output::replies.
  virtual void OnAdminRequest(ClientRequest request) = 0;
  // A peer's message. Malformed bytes are dropped (and counted), never trusted.
  virtual void OnPeerMessage(uint64_t from, std::string_view bytes);
  virtual void OnPersisted(uint64_t index, uint64_t term);
  virtual void OnSnapshotInstalled(uint64_t index, uint64_t term, std::string_view membership);
  // The driver rejected a received snapshot (it did not decode).
  virtual void OnSnapshotRejected() {}
  // multi_leader: the driver refused local change `seq` (ApplyKind::kChange with
  // local_change) and wrote nothing for it. Returns storage ops the driver must add to the
  // SAME batch (the change's log entry rewritten as a no-op).
  virtual std::vector<StorageOp> OnLocalChangeRefused(uint64_t seq) {
    (void)seq;
    return {};
  }
  // The answer to a request another node forwarded here (ClientRef::forwarded_from).
  virtual void OnForwardedReply(const ClientRef& ref, const wire::Response& response) {
    (void)ref;
    (void)response;
  }
  // Wraps one chunk of a snapshot stream (Output::snapshot_sends) as a peer message.
  virtual std::string EncodeSnapshotChunk(uint64_t to, uint64_t term, uint64_t index,
                                          uint64_t snapshot_term, std::string_view membership,
                                          uint64_t offset, std::string data, bool done);
  // dynamo: the node's own key states, read synchronously (local_store.h). Called once,
  // after MakeNode and before any other input; `store` outlives the node.
  virtual void AttachStore(LocalStore* store) { (void)store; }
  virtual Output TakeOutput() = 0;
  virtual NodeInfo Inspect() const = 0;
};

// The only switch over topologies: builds the core that config.node.mode names, from what
// the node stored. `seed` seeds the core's Rng (the shell draws it from the OS and logs
// it; the simulator derives it from the run's seed).
// Errors: kUnsupported for a mode this build does not have; kCorruption if the stored
// state does not decode.
Result<std::unique_ptr<Node>> MakeNode(const config::Config& config, const StoredState& stored,
                                       uint64_t seed);

// The key prefix (column) under which the topology keeps its own state, "" if none.
std::string_view TopologyColumn(config::Mode mode);

}  // namespace kvd::topology
