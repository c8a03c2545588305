// Raft: the consensus core of the leader_follower topology. A deterministic state machine
// in the style of etcd-io/raft: inputs are Tick(), Step(message), Propose(), ReadIndex()
// and a few administrative calls; everything it wants done comes out of TakeOutput().
// There are no sockets, threads, clocks or randomness inside: time is ticks and the
// election jitter comes from the Rng the driver hands in.
//
// What it implements (section numbers: Ongaro's dissertation, "Consensus: Bridging Theory
// and Practice", 2014):
//   * leader election with randomized timeouts (§3.4), pre-vote (§9.6) and check-quorum
//     with the vote lease (§4.2.3, §6.2), so a partitioned node rejoining does not depose a
//     healthy leader;
//   * log replication with the consistency check, fast back-off on rejection (§3.5 and
//     etcd's conflict hint), pipelined appends with a bounded window per follower;
//   * commitment by counting replicas, only for entries of the current term (§3.6.2);
//     the leader counts itself only once its own log write is durable (§10.2.1), so it may
//     send entries before they are on its disk;
//   * ReadIndex reads (§6.4) and, when enabled, leader-lease reads (§6.4.1);
//   * log compaction and snapshot transfer (§5): the snapshot is the state machine, which
//     the driver streams and installs; this core only tracks who needs one;
//   * leadership transfer (§3.10), manual promotion (a forced election), single-server
//     membership changes and non-voting learners (§4.1-§4.2);
//   * replication modes that move the commit point: quorum (Raft), sync (every voter),
//     semi_sync (the leader and one follower), async (the leader alone). Only quorum and
//     sync keep Raft's guarantee that a committed entry survives any leader change; with
//     semi_sync (on clusters larger than 3) and async a new leader may lack entries an old
//     one committed, and a replica whose applied state diverges asks for a snapshot
//     (`needs_snapshot`), as a database restored with pg_rewind would.
//
// Contract for the driver, for each RaftOutput taken (see also server/topology/output.h):
//   1. Persist hard_state, then the log changes (truncate at log_from, append entries,
//      compact), durably (fsync) if the deployment promises durability. Raft's safety
//      rests on this: a vote or an acknowledgement must never be forgotten.
//   2. Only then send `messages`, in order, and only after the storage of every earlier
//      output is durable too. `early_messages` (the leader's appends) may be sent at once:
//      they do not depend on the leader's own disk.
//   3. Apply `committed` to the state machine in index order, then serve `reads` whose
//      index is at most the applied index (the core only emits reads that are).
//   4. Report durability with OnPersisted(index, term) for the last entry written.
//
// Thread-safety: none; one driver thread.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/rng.h"
#include "common/status.h"
#include "server/topology/raft/messages.h"

namespace kvd::raft {

enum class Role { kFollower, kPreCandidate, kCandidate, kLeader };
const char* RoleName(Role r);

enum class ReplicationMode { kQuorum, kSync, kSemiSync, kAsync };
const char* ReplicationModeName(ReplicationMode m);

struct RaftOptions {
  uint64_t id = 0;
  // Elections: a follower that hears no leader for a random number of ticks in
  // [election_timeout_ticks, 2 * election_timeout_ticks) starts one.
  uint32_t election_timeout_ticks = 10;
  uint32_t heartbeat_ticks = 1;
  bool pre_vote = true;
  bool check_quorum = true;
  // false: no node ever starts an election by itself (failover: manual); Campaign() does.
  bool auto_failover = true;
  ReplicationMode replication = ReplicationMode::kQuorum;
  // Serve linearizable reads from the leader's lease instead of a heartbeat round.
  // REQUIRES check_quorum. Assumes clocks drift apart by less than lease_drift_percent.
  bool lease_reads = false;
  uint32_t lease_drift_percent = 10;
  // Flow control per follower.
  uint32_t max_entries_per_append = 256;
  uint64_t max_bytes_per_append = 1u << 20;
  uint32_t max_inflight_appends = 32;
  // Compaction: once the applied index is this many entries past the log's first index,
  // the log is compacted up to (applied - snapshot_trailing_entries). 0 disables it.
  uint64_t snapshot_threshold_entries = 10000;
  uint64_t snapshot_trailing_entries = 1000;
  // A snapshot transfer that makes no progress for this many ticks is restarted.
  uint32_t snapshot_timeout_ticks = 100;
  // Bounds on queued work (STYLE: a limit on everything).
  uint32_t max_pending_reads = 100000;
};

struct HardState {
  uint64_t term = 0;
  uint64_t vote = 0;
  bool operator==(const HardState&) const = default;
};

// What a node recovers from its disk before it starts.
struct RecoveredState {
  HardState hard_state;
  uint64_t snapshot_index = 0;  // the log's base: entries <= this are compacted
  uint64_t snapshot_term = 0;
  Membership membership;        // the configuration as of snapshot_index (or bootstrap)
  std::vector<Entry> entries;   // snapshot_index+1 .. , contiguous
  uint64_t applied = 0;         // the state machine's applied index (>= snapshot_index)
};

// A request from the leader to its driver: stream a snapshot of the state machine to
// `to`, as kSnapshot messages of term `term`.
struct SnapshotSend {
  uint64_t to = 0;
  uint64_t term = 0;
};
// The leader's core accepted a chunk acknowledgement: the driver sends the next chunk
// (or finishes if done, or restarts from 0 if reject).
struct SnapshotProgress {
  uint64_t to = 0;
  SnapshotResponse response;
};
// A follower's core accepted a chunk: the driver stages its data; when done, it installs
// the staged snapshot and calls OnSnapshotInstalled.
struct SnapshotReceive {
  uint64_t from = 0;
  SnapshotChunk chunk;
};

struct ReadReady {
  uint64_t context = 0;  // the caller's id for the read
  uint64_t index = 0;    // the read index; the state machine has applied at least this
};
struct ReadFailed {
  uint64_t context = 0;
  Status status;  // kNotLeader (leadership lost) or kUnavailable
};

struct RaftOutput {
  std::optional<HardState> hard_state;
  // Log changes: first drop every persisted entry with index >= log_from (when
  // log_from != 0), then append `entries` (contiguous, starting at log_from or right
  // after the last persisted entry).
  uint64_t log_from = 0;
  std::vector<Entry> entries;
  // Compaction: the log's new base. Entries <= compact_index may be deleted; the driver
  // records (compact_index, compact_term, compact_membership) as the log's base.
  uint64_t compact_index = 0;
  uint64_t compact_term = 0;
  Membership compact_membership;

  std::vector<Message> early_messages;  // may go before the storage above is durable
  std::vector<Message> messages;        // only after it is durable
  std::vector<Entry> committed;         // to apply, in index order
  std::vector<ReadReady> reads;
  std::vector<ReadFailed> failed_reads;
  std::vector<SnapshotSend> snapshot_sends;
  std::vector<SnapshotProgress> snapshot_progress;
  std::vector<SnapshotReceive> snapshot_receives;
  // Proposals that can no longer commit through this node (it lost leadership, or its
  // entry was overwritten): their outcome is unknown to this node.
  std::vector<uint64_t> abandoned;  // log indexes this node proposed

  bool HasStorage() const {
    return hard_state.has_value() || log_from != 0 || !entries.empty() || compact_index != 0;
  }
  bool empty() const {
    return !HasStorage() && early_messages.empty() && messages.empty() && committed.empty() &&
           reads.empty() && failed_reads.empty() && snapshot_sends.empty() &&
           snapshot_progress.empty() && snapshot_receives.empty() && abandoned.empty();
  }
};

struct PeerStatus {
  uint64_t id = 0;
  bool voter = false;
  uint64_t match = 0;
  uint64_t next = 0;
  const char* state = "";             // "probe", "replicate", "snapshot"
  uint64_t ticks_since_contact = 0;   // ticks since its last response to the leader
  uint32_t inflight = 0;
};

struct RaftStatus {
  uint64_t id = 0;
  Role role = Role::kFollower;
  uint64_t term = 0;
  uint64_t vote = 0;
  uint64_t leader = 0;  // 0: unknown
  uint64_t first_index = 0;
  uint64_t last_index = 0;
  uint64_t commit = 0;
  uint64_t applied = 0;
  uint64_t persisted = 0;  // last index the driver reported durable
  uint64_t snapshot_index = 0;
  Membership membership;
  uint64_t ticks_since_leader_contact = 0;
  uint64_t transfer_target = 0;
  bool diverged = false;
  uint64_t elections_started = 0;
  std::vector<PeerStatus> peers;  // leader only, sorted by id
};

class Raft {
 public:
  // REQUIRES: options.id != 0; rng outlives the core; recovered state is consistent
  // (entries contiguous from snapshot_index + 1, applied >= snapshot_index).
  Raft(const RaftOptions& options, RecoveredState recovered, Rng* rng);

  // ---- inputs ----

  // One logical tick: elections, heartbeats, check-quorum, lease expiry.
  void Tick();
  // A message from a peer (already decoded). Stale or irrelevant messages are ignored.
  void Step(const Message& m);
  // Appends an entry if this node is the leader. Returns its index.
  // Errors: kNotLeader (not the leader; see leader()), kUnavailable (a leadership
  // transfer is in progress), kInvalidArgument for kConfig (use ProposeMembership).
  Result<uint64_t> Propose(EntryType type, std::string data);
  // Proposes a membership change: exactly one voter added or removed, or learners.
  // Errors: as Propose, plus kInvalidArgument for a change of more than one voter, and
  // kUnavailable while another change is uncommitted or when promoting a learner that
  // has not caught up.
  Result<uint64_t> ProposeMembership(const Membership& next);
  // Starts a linearizable read. `context` comes back in ReadReady or ReadFailed.
  // Errors: kNotLeader when this node is not the leader.
  Status ReadIndex(uint64_t context);
  // The driver made the log durable up to (index, term).
  void OnPersisted(uint64_t index, uint64_t term);
  // The driver installed the snapshot it received (index, term, membership).
  void OnSnapshotInstalled(uint64_t index, uint64_t term, const Membership& membership);
  // The driver could not install the snapshot it received (it was corrupt): resume
  // applying; the leader sends another after its snapshot timeout.
  void OnSnapshotRejected();
  // Starts an election now (manual failover, `kvctl promote`), skipping pre-vote and,
  // unless lease reads are on, the vote lease of the receivers (with lease reads, voters
  // that heard from a live leader refuse: transfer leadership instead).
  // Errors: kInvalidArgument if this node is not a voter.
  Status Campaign();
  // Transfers leadership to `target`. Errors: kNotLeader, kInvalidArgument (not a voter).
  Status TransferLeadership(uint64_t target);
  // Compacts the log up to the applied index now (`kvctl snapshot`). Returns the new base.
  uint64_t CompactNow();

  // ---- outputs and queries ----

  RaftOutput TakeOutput();
  bool HasOutput() const { return !out_.empty(); }
  RaftStatus GetStatus() const;
  uint64_t id() const { return opt_.id; }
  uint64_t term() const { return term_; }
  uint64_t leader() const { return leader_; }
  Role role() const { return role_; }
  uint64_t commit() const { return commit_; }
  uint64_t applied() const { return applied_; }
  uint64_t last_index() const { return LastIndex(); }
  uint64_t first_index() const { return FirstIndex(); }
  const Membership& membership() const { return membership_; }
  bool diverged() const { return diverged_; }
  // Ticks since this node last heard from a leader of its term (0 when it is the leader).
  uint64_t ticks_since_leader_contact() const;
  // True while this leader may serve reads from its lease (lease_reads on, majority
  // heard from within the lease).
  bool LeaseValid() const;
  // The term of the entry at index, if known (the log's base counts). nullopt otherwise.
  std::optional<uint64_t> TermAt(uint64_t index) const;
  // Entries from `from` to the end, for tests and the simulator's checkers.
  std::vector<Entry> EntriesFrom(uint64_t from) const;
  // The entry at index, or nullptr if it is compacted or beyond the end.
  const Entry* EntryAt(uint64_t index) const {
    return index > snapshot_index_ && index <= LastIndex() ? &At(index) : nullptr;
  }

  // Checks the core's invariants (STYLE §2, logcabin's RaftConsensusInvariants): aborts on
  // a violation. Tests and the simulator call it after every step.
  void CheckInvariants() const;

 private:
  struct Progress {
    uint64_t match = 0;
    uint64_t next = 1;
    enum class State { kProbe, kReplicate, kSnapshot } state = State::kProbe;
    bool probe_sent = false;           // probe: one append per heartbeat interval
    std::deque<uint64_t> inflight;     // replicate: last index of each unacked append
    bool recent_active = false;        // heard from since the last check-quorum round
    uint64_t last_contact_tick = 0;
    uint64_t acked_seq = 0;            // highest heartbeat seq acknowledged this term
    uint64_t match_seq = 0;            // heartbeat seq when match last advanced
    uint64_t snapshot_started_tick = 0;
    uint64_t snapshot_progress_tick = 0;
    uint64_t last_append_ack_tick = 0;  // the last append answer (or first unacked send)
  };
  struct PendingRead {
    uint64_t context = 0;
    uint64_t index = 0;  // the read index (commit when it was registered)
    uint64_t seq = 0;    // heartbeat round that must be acknowledged by a majority
  };

  // Log access.
  uint64_t FirstIndex() const { return snapshot_index_ + 1; }
  uint64_t LastIndex() const { return snapshot_index_ + log_.size(); }
  uint64_t LastTerm() const;
  const Entry& At(uint64_t index) const;
  bool IsUpToDate(uint64_t last_index, uint64_t last_term) const;
  // Appends to the in-memory log and to the output's storage.
  void AppendToLog(std::vector<Entry> entries);
  void TruncateFrom(uint64_t index);

  // Role changes.
  void BecomeFollower(uint64_t term, uint64_t leader);
  void BecomePreCandidate();
  void BecomeCandidate();
  void BecomeLeader();
  void Reset(uint64_t term);
  void ResetElectionTimer();
  void SetHardState(uint64_t term, uint64_t vote);
  void StartElection(bool pre_vote, bool force);
  bool Promotable() const { return membership_.IsVoter(opt_.id); }

  // Message handling.
  void Send(Message m, bool early = false);
  void HandleVote(const Message& m);
  void HandleVoteResponse(const Message& m);
  void HandleAppend(const Message& m);
  void HandleAppendReject(const Message& m, uint64_t index);
  void HandleAppendResponse(const Message& m);
  void HandleHeartbeat(const Message& m);
  void HandleHeartbeatResponse(const Message& m);
  void HandleSnapshot(const Message& m);
  void HandleSnapshotResponse(const Message& m);
  void HandleTimeoutNow(const Message& m);
  bool InLease() const;

  // Leader duties.
  void TickLeader();
  void BroadcastAppend();
  void BroadcastHeartbeat();
  // Sends what peer `id` needs; returns false if nothing was sent.
  bool SendAppend(uint64_t id, bool send_empty = false);
  void SendSnapshot(uint64_t id, Progress& p);
  void MaybeCommit();
  uint64_t CommitPointForMode() const;
  void CheckReads();
  void CheckTransfer();
  void SendTimeoutNow(uint64_t target);
  Result<uint64_t> ProposeEntry(EntryType type, std::string data);
  void AbandonProposals(uint64_t from_index);
  void FailReads(const kvd::Status& why);
  bool QuorumActive();
  void SyncProgressWithMembership();

  // Follower side.
  void AdvanceCommit(uint64_t commit);
  void EmitCommitted();
  void MaybeCompact();
  void ApplyMembershipFromLog();

  RaftOptions opt_;
  Rng* rng_;
  RaftOutput out_;

  // Persistent state (mirrors what the driver stores).
  uint64_t term_ = 0;
  uint64_t vote_ = 0;
  uint64_t snapshot_index_ = 0;
  uint64_t snapshot_term_ = 0;
  Membership snapshot_membership_;
  std::deque<Entry> log_;  // entries snapshot_index_+1 .. LastIndex()

  // Volatile state.
  Role role_ = Role::kFollower;
  uint64_t leader_ = 0;
  uint64_t commit_ = 0;
  uint64_t applied_ = 0;            // last index handed out in `committed`
  uint64_t applied_at_take_ = 0;    // applied_ when the last output was taken
  bool read_round_pending_ = false; // reads wait for a heartbeat round not yet sent
  bool append_pending_ = false;     // proposals not yet sent to the followers
  uint64_t persisted_index_ = 0;    // the driver's OnPersisted
  Membership membership_;           // the latest configuration in the log
  std::map<uint64_t, Membership> config_log_;  // config entries in the log, by index
  uint64_t ticks_ = 0;
  uint64_t election_elapsed_ = 0;
  uint64_t randomized_timeout_ = 0;
  uint64_t heartbeat_elapsed_ = 0;
  uint64_t check_quorum_elapsed_ = 0;
  uint64_t leader_contact_tick_ = 0;
  bool heard_from_leader_ = false;
  std::map<uint64_t, bool> votes_;  // this election's answers
  std::map<uint64_t, Progress> progress_;  // leader only: every member but self
  uint64_t heartbeat_seq_ = 0;
  std::map<uint64_t, uint64_t> seq_sent_tick_;  // heartbeat round -> tick sent (lease)
  uint64_t lease_start_tick_ = 0;
  bool lease_held_ = false;
  std::deque<PendingRead> pending_reads_;
  std::deque<PendingRead> waiting_apply_reads_;  // confirmed, waiting for applied >= index
  std::vector<uint64_t> proposed_;              // indexes proposed by this leader, ascending
  uint64_t transfer_target_ = 0;
  uint64_t transfer_elapsed_ = 0;
  bool timeout_now_sent_ = false;     // this transfer's TimeoutNow went out
  bool installing_snapshot_ = false;  // the driver is installing a received snapshot
  bool diverged_ = false;  // applied state conflicts with the leader's log (lossy modes)
  uint64_t incoming_snapshot_index_ = 0;
  uint64_t incoming_snapshot_offset_ = 0;
  uint64_t elections_started_ = 0;
  // Invariant tracking across steps.
  mutable uint64_t last_checked_term_ = 0;
  mutable uint64_t last_checked_commit_ = 0;
};

}  // namespace kvd::raft
