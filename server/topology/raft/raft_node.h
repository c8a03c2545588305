// RaftNode: the leader_follower topology behind the Node interface. It turns client
// requests into Raft proposals and reads, and the Raft core's output (raft.h) into the
// generic Output the node shell and the simulator execute (output.h).
//
// Writes (PUT, DELETE, CAS, BATCH with a write) go through the log: the leader proposes a
// Command (command.h) and answers when the entry commits and is applied. A node that is
// not the leader answers NOT_LEADER with the leader's client address. A leader that loses
// its leadership before the entry commits answers UNAVAILABLE: the outcome is unknown,
// and a retry with the same client id and sequence is applied at most once.
//
// Reads (GET, SCAN, BATCH of gets and checks), by consistency level:
//   linearizable  the leader serves it after a ReadIndex round (or from its lease);
//   leader        the leader serves it from its state, without confirming leadership;
//   follower      any replica serves it; with max_staleness_ms, only one that heard from
//                 the leader that recently;
//   session       any replica whose applied index has reached the session token; a
//                 replica behind waits up to session_wait_ticks, then redirects.
// Session tokens in this topology are log indexes (8 bytes, big-endian): the index of a
// write's entry, or the applied index a read was served at.
//
// TTL sweeps are proposed by the leader every expiry_sweep_interval_ms as log entries, so
// that every replica deletes the same keys.
//
// Thread-safety: none (see node.h).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>

#include "common/rng.h"
#include "server/topology/node.h"
#include "server/topology/raft/raft.h"
#include "server/topology/raft/raft_storage.h"

namespace kvd::raft {

struct RaftNodeOptions {
  RaftOptions raft;
  uint32_t tick_ms = 10;                    // one Tick() is this many ms of the driver
  std::map<uint64_t, std::string> client_addresses;  // member id -> "host:port" for hints
  wire::Consistency default_read = wire::Consistency::kLinearizable;
  uint32_t session_wait_ticks = 100;
  uint32_t expiry_sweep_interval_ms = 100;
  // raft.follower_writes: forward: a follower hands writes to the leader and relays the
  // answer, instead of answering NOT_LEADER.
  bool forward_writes = false;
  uint32_t max_pending_forwards = 100000;
};

class RaftNode final : public topology::Node {
 public:
  // record_membership: the state machine has no configuration recorded yet (a new node):
  // the first output records the log base's, so that every snapshot names one.
  RaftNode(const RaftNodeOptions& options, Recovery recovery, uint64_t seed,
           bool record_membership);

  void Tick(uint64_t now_ms) override;
  void OnClientRequest(topology::ClientRequest request) override;
  void OnAdminRequest(topology::ClientRequest request) override;
  void OnPeerMessage(uint64_t from, std::string_view bytes) override;
  void OnForwardedReply(const topology::ClientRef& ref, const wire::Response& response) override;
  void OnPersisted(uint64_t index, uint64_t term) override;
  void OnSnapshotInstalled(uint64_t index, uint64_t term, std::string_view membership) override;
  void OnSnapshotRejected() override { raft_.OnSnapshotRejected(); }
  std::string EncodeSnapshotChunk(uint64_t to, uint64_t term, uint64_t index,
                                  uint64_t snapshot_term, std::string_view membership,
                                  uint64_t offset, std::string data, bool done) override;
  topology::Output TakeOutput() override;
  topology::NodeInfo Inspect() const override;

  // For tests and the simulator.
  const Raft& raft() const { return raft_; }
  Raft& mutable_raft() { return raft_; }
  uint64_t malformed_messages() const { return malformed_messages_; }

 private:
  struct Pending {
    uint64_t term = 0;
    topology::ClientRef ref;
    wire::Opcode opcode = wire::Opcode::kPut;
    uint64_t request_id = 0;
  };
  struct WaitingRead {
    topology::ClientRequest request;
    uint64_t token_index = 0;
    uint64_t deadline_tick = 0;
  };

  void HandleWrite(topology::ClientRequest request);
  bool ForwardToLeader(topology::ClientRequest& request);
  void HandleForward(const Message& m);
  void HandleForwardResponse(const Message& m);
  void ExpireForwards();
  void HandleRead(topology::ClientRequest request);
  void ServeLocally(topology::ClientRequest request);
  void Redirect(const topology::ClientRequest& request, const char* why);
  void ReplyError(const topology::ClientRef& ref, const wire::Request& request,
                  const Status& status);
  void CheckWaitingReads();
  void TranslateOutput(RaftOutput ro);
  void TranslateCommitted(const Entry& e);
  std::string LeaderHint() const;
  void ReplyAdmin(const topology::ClientRef& ref, uint64_t request_id, std::string json);
  Result<Membership> NextMembership(const wire::AdminRequest& req) const;
  void NoteMembership();

  RaftNodeOptions opt_;
  Rng rng_;
  Raft raft_;
  RaftStorageWriter writer_;
  topology::Output out_;
  std::vector<topology::StorageOp> pending_repair_;
  uint64_t now_ms_ = 0;
  uint64_t ticks_ = 0;
  uint64_t last_sweep_ms_ = 0;
  uint64_t writes_since_sweep_ = 0;
  std::map<uint64_t, Pending> pending_writes_;  // log index -> the client waiting
  std::map<uint64_t, topology::ClientRequest> pending_reads_;  // read context -> request
  uint64_t next_read_context_ = 1;
  std::deque<WaitingRead> waiting_reads_;  // session reads waiting for the applied index
  std::map<uint64_t, Pending> pending_admin_;  // config entry index -> the admin request
  struct PendingForward {
    topology::ClientRef ref;
    uint64_t request_id = 0;
    wire::Opcode opcode = wire::Opcode::kPut;
    uint64_t deadline_tick = 0;
  };
  std::map<uint64_t, PendingForward> pending_forwards_;  // forward id -> the waiting client
  uint64_t next_forward_id_ = 1;
  Membership reported_membership_;             // the membership the shell last heard of
  Role reported_role_ = Role::kFollower;       // for the events of TakeOutput
  uint64_t reported_term_ = 0;
  uint64_t reported_leader_ = 0;
  void NoteEvents();
  uint64_t malformed_messages_ = 0;
  uint64_t undecodable_commands_ = 0;
};

// Builds a RaftNode from config and stored state (used by topology::MakeNode).
Result<std::unique_ptr<topology::Node>> MakeRaftNode(const config::Config& config,
                                                     const topology::StoredState& stored,
                                                     uint64_t seed);

}  // namespace kvd::raft
