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
// Membership. The ring is a versioned RingState: every member with its addresses and
// status (normal, joining, leaving). It starts as cluster.members (version 0; a node with
// cluster.join starts without itself and waits for a state that names it). A join
// (ADMIN add_learner: node id and addresses) or a decommission (ADMIN remove_member) at
// any node makes a new version with the member joining or leaving, the start of a
// transition; pause and resume (ADMIN pause_streams, resume_streams) make new versions too.
// Nodes gossip: every heartbeat carries a digest of the sender's state, and a node whose
// digest differs answers with its whole state; a node adopts a higher version (with the
// same transition, the union of the nodes that finished streaming). During a transition
// the Coordinator reads from the ring of normal and leaving members and writes to both
// rings; the gainers (coordinator.h Gainers) pull their new ranges and, when done, add
// themselves to the state's `streamed`. Once every gainer has, each node finalizes the
// transition the same way (joining -> normal, leaving members removed): the same next
// version everywhere. One transition at a time.
//
// Stored state, under kColumn (the engine's other columns hold the key states, 'd'):
//   "yc"                         u64 BE: the hybrid clock's last timestamp (packed), so a
//                                restarted node never stamps a write earlier than before
//   "yh" + u64 BE target + key   a hint: the encoded state held for node `target`
//   "ym"                         the RingState
//   "yd" + u64 BE transition + u64 BE end   empty: a range pulled in that transition
//
// Thread-safety: none; the driver calls it from one thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "server/topology/dynamo/coordinator.h"
#include "server/topology/dynamo/failure_detector.h"
#include "server/topology/node.h"

namespace kvd::topology::dynamo {

inline constexpr char kColumn = 'y';

enum class MemberStatus : uint8_t { kNormal = 1, kJoining = 2, kLeaving = 3 };
std::string_view MemberStatusName(MemberStatus s);

struct RingMember {
  uint64_t id = 0;
  std::string client;
  std::string peer;
  std::string zone;
  MemberStatus status = MemberStatus::kNormal;
  bool operator==(const RingMember&) const = default;
};

struct RingState {
  uint64_t version = 0;
  std::vector<RingMember> members;  // by id
  uint64_t transition = 0;          // the version that began the change under way; 0: none
  bool paused = false;
  std::set<uint64_t> streamed;      // gainers that finished pulling in `transition`
  bool operator==(const RingState&) const = default;

  std::string Encode() const;
  static Result<RingState> Decode(std::string_view bytes);
  const RingMember* Find(uint64_t id) const;
  // The ring of the members that hold data now (normal, leaving) and the one after the
  // transition (normal, joining).
  ring::Ring ReadRing(uint32_t tokens) const;
  ring::Ring WriteRing(uint32_t tokens) const;
};

class DynamoNode final : public Node {
 public:
  DynamoNode(const config::Config& config, RingState state, clock::HlcTimestamp clock_floor,
             Hints hints, std::set<uint64_t> pulled);

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
  // Membership.
  Status ChangeRing(const wire::AdminRequest& request, RingState* next) const;
  void Adopt(RingState next, bool announce);
  void ApplyRings();
  void OnRingMessage(uint64_t from, std::string_view body);
  void CheckTransition();
  uint64_t Digest() const;
  std::string RingJson() const;
  void PublishMembers();

  config::Config config_;
  uint64_t node_id_;
  RingState state_;
  std::set<uint64_t> pulled_;  // ranges pulled in state_.transition (their end tokens)
  struct Departed {
    MemberEndpoint endpoint;
    uint64_t removed_ms = 0;
  };
  std::map<uint64_t, Departed> departed_;  // nodes that left the ring lately
  std::set<uint64_t> gainers_;             // of state_ at gainers_version_
  uint64_t gainers_version_ = ~uint64_t{0};
  bool warned_config_ = false;
  bool state_dirty_ = false;   // persist state_ with the next output
  QuorumConfig quorum_;
  clock::HlcTimestamp clock_floor_;
  Hints initial_hints_;
  std::unique_ptr<Coordinator> coordinator_;  // built by AttachStore
  PhiOptions phi_;
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
// The RingState cluster.members describes (version 0, every member normal but this node
// when cluster.join is set).
RingState RingStateFromConfig(const config::Config& config);

}  // namespace kvd::topology::dynamo
