// DynamoNode: the dynamo topology behind the topology::Node interface. It adapts client
// requests to the Coordinator (coordinator.h), which does the quorum work, and watches the
// other nodes with phi-accrual failure detectors (failure_detector.h) fed by heartbeats.
//
// Requests:
//   * GET and GETS: a read at the key's N replicas, answered once R have answered
//     (read_quorum option, else dynamo.read_quorum); GETS returns every sibling with the
//     causal context to present when writing the resolved value;
//   * PUT and DELETE: coordinated by a replica of the key (forwarded there by any other
//     node), answered once W replicas hold it (write_quorum option, else
//     dynamo.write_quorum). A siblings key's PUT or DELETE may present a GETS context;
//   * CAS, BATCH, SCAN, INCR, SADD, SREM, SMEMBERS and TTLs are refused (kUnsupported)
//     with the reason; so are linearizable and leader reads (no node orders all writes).
// Answers wait until the writes they depend on are durable on this node (ApplyKind::
// kAnswer items after kStoreState items in the same output).
//
// Heartbeats. Every dynamo.heartbeat_interval_ms the node sends a heartbeat to every other
// node; any message from a node counts as one. A node whose silence makes phi exceed
// dynamo.phi_threshold is believed down (writes are not forwarded to it; with sloppy
// quorum, its writes go to a fallback as hints) until it is heard from again.
//
// Stored state, under kColumn (the engine's other columns hold the key states, 'd'):
//   "yc"                         u64 BE: the hybrid clock's last timestamp (packed), so a
//                                restarted node never stamps a write earlier than before
//   "yh" + u64 BE target + key   a hint: the encoded state held for node `target`
//
// Thread-safety: none; the driver calls it from one thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "server/topology/dynamo/coordinator.h"
#include "server/topology/dynamo/failure_detector.h"
#include "server/topology/node.h"

namespace kvd::topology::dynamo {

inline constexpr char kColumn = 'y';

class DynamoNode final : public Node {
 public:
  DynamoNode(const config::Config& config, ring::Ring ring, clock::HlcTimestamp clock_floor,
             Hints hints);

  void AttachStore(LocalStore* store) override;
  void Tick(uint64_t now_ms) override;
  void OnClientRequest(ClientRequest request) override;
  void OnAdminRequest(ClientRequest request) override;
  void OnPeerMessage(uint64_t from, std::string_view bytes) override;
  Output TakeOutput() override;
  NodeInfo Inspect() const override;

 private:
  struct Waiting {
    ClientRef ref;
    wire::Request request;
  };
  void Refuse(const ClientRef& ref, const wire::Request& r, const Status& s);
  void Answer(const ClientRef& ref, wire::Response response);
  void OnResult(ClientResult result);
  void UpdateLiveness();

  config::Config config_;
  uint64_t node_id_;
  ring::Ring ring_;
  QuorumConfig quorum_;
  clock::HlcTimestamp clock_floor_;
  Hints initial_hints_;
  std::unique_ptr<Coordinator> coordinator_;  // built by AttachStore
  std::map<uint64_t, PhiAccrualDetector> detectors_;
  std::map<uint64_t, bool> alive_;
  uint64_t now_ms_ = 0;
  uint64_t start_ms_ = 0;
  uint64_t ticks_ = 0;
  uint64_t next_heartbeat_ms_ = 0;
  uint64_t next_op_ = 1;
  uint64_t persisted_clock_ = 0;
  std::map<uint64_t, Waiting> waiting_;  // by ClientOp id
  Output out_;
  uint64_t refused_ = 0, sloppy_writes_ = 0, malformed_ = 0;
};

// Builds the node from the config and what is stored under its column (kColumn).
// Errors: kInvalidArgument if node.id is not in cluster.members; kCorruption if the stored
// state does not decode.
Result<std::unique_ptr<Node>> MakeDynamoNode(const config::Config& config,
                                             const StoredState& stored);

// The ring cluster.members describes (tokens_per_node virtual nodes each, zones).
Result<ring::Ring> RingFromConfig(const config::Config& config);

}  // namespace kvd::topology::dynamo
