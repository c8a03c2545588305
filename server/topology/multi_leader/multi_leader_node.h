// MultiLeaderNode: the multi_leader topology behind the topology::Node interface. Every
// member is a leader: it answers reads from its own state and numbers each write it
// accepts as a change (replicator.h), which its driver applies to the key's replicated
// state (server/kv/replicated_state.h) and the Replicator ships to the other members.
//
// Requests:
//   * writes: PUT and DELETE on lww and siblings keys (DELETE of a siblings key removes
//     what the presented context covers, or everything this node has seen without one),
//     INCR on counter keys, SADD and SREM on set keys, each checked against the key's
//     resolver (multi_leader.resolvers) before it is numbered; a write is answered once it
//     is durable on this node, as in the single topology;
//   * reads: GET, GETS, SMEMBERS at consistency default, follower or session; linearizable
//     and leader are refused (kUnsupported): any member may have accepted a write the
//     others have not seen yet;
//   * CAS, BATCH and SCAN are refused (kUnsupported) with the reason;
//   * on a follower (multi_leader.followers) every write is refused with kNotLeader and
//     the address of the leader it follows; reads are served as on a leader.
// Session tokens are the node's progress vector (which changes of each origin it has
// applied) after the request; a read presenting one waits, up to session_wait_ms, until
// this node has applied at least those changes.
//
// Thread-safety: none; the driver calls it from one thread.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "server/topology/multi_leader/replicator.h"
#include "server/topology/node.h"

namespace kvd::topology::multi_leader {

class MultiLeaderNode final : public Node {
 public:
  MultiLeaderNode(const config::Config& config, Replicator replicator);

  void Tick(uint64_t now_ms) override;
  void OnClientRequest(ClientRequest request) override;
  void OnAdminRequest(ClientRequest request) override;
  void OnPeerMessage(uint64_t from, std::string_view bytes) override;
  std::vector<StorageOp> OnLocalChangeRefused(uint64_t seq) override;
  // State transfers (replicator.h) ride on the driver's snapshot streaming: `index` is the
  // sender's id and `membership` the transfer's metadata.
  void OnSnapshotInstalled(uint64_t index, uint64_t term, std::string_view membership) override;
  void OnSnapshotRejected() override { replicator_.OnStateRejected(); }
  std::string EncodeSnapshotChunk(uint64_t to, uint64_t term, uint64_t index,
                                  uint64_t snapshot_term, std::string_view membership,
                                  uint64_t offset, std::string data, bool done) override;
  Output TakeOutput() override;
  NodeInfo Inspect() const override;

 private:
  struct WaitingRead {
    ClientRequest request;
    clock::VersionVector token;
    uint64_t deadline_ms = 0;
  };
  void Reply(const ClientRef& ref, uint64_t request_id, wire::Opcode op, const Status& status);
  void Read(ClientRequest request);
  void ServeRead(ClientRequest request);
  void ServeWaitingReads();
  std::string SessionToken() const;

  config::MultiLeaderConfig config_;
  uint64_t node_id_;
  uint64_t leader_ = 0;         // the leader this node follows; 0: it is a leader
  std::string leader_client_;   // that leader's client address, for redirects
  std::vector<MemberInfo> members_;  // from cluster.members, for Inspect
  Replicator replicator_;
  uint64_t now_ms_ = 0;
  uint64_t ticks_ = 0;
  uint64_t next_collect_ms_ = 0;
  std::deque<WaitingRead> waiting_;
  Output out_;
  uint64_t session_timeouts_ = 0;
};

// Builds the node from the config and what is stored under its column (kColumn).
Result<std::unique_ptr<Node>> MakeMultiLeaderNode(const config::Config& config,
                                                  const StoredState& stored);

kv::Resolver ToResolver(config::ResolverKind kind);

}  // namespace kvd::topology::multi_leader
