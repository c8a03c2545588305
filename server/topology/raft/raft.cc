#include "server/topology/raft/raft.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/assert.h"

// GCC 12 reports -Wmaybe-uninitialized inside std::variant's move constructor when a
// Message is built in place and moved (a known false positive, GCC bug 105562-style);
// every Message here is fully initialized by aggregate initialization.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace kvd::raft {

const char* RoleName(Role r) {
  switch (r) {
    case Role::kFollower: return "follower";
    case Role::kPreCandidate: return "pre_candidate";
    case Role::kCandidate: return "candidate";
    case Role::kLeader: return "leader";
  }
  return "unknown";
}

const char* ReplicationModeName(ReplicationMode m) {
  switch (m) {
    case ReplicationMode::kQuorum: return "quorum";
    case ReplicationMode::kSync: return "sync";
    case ReplicationMode::kSemiSync: return "semi_sync";
    case ReplicationMode::kAsync: return "async";
  }
  return "unknown";
}

namespace {
size_t Majority(size_t voters) { return voters / 2 + 1; }
}  // namespace

Raft::Raft(const RaftOptions& options, RecoveredState recovered, Rng* rng)
    : opt_(options), rng_(rng) {
  KVD_ASSERT(opt_.id != 0);
  KVD_ASSERT(opt_.election_timeout_ticks > 0);
  KVD_ASSERT(opt_.heartbeat_ticks > 0);
  KVD_ASSERT(!opt_.lease_reads || opt_.check_quorum);
  term_ = recovered.hard_state.term;
  vote_ = recovered.hard_state.vote;
  snapshot_index_ = recovered.snapshot_index;
  snapshot_term_ = recovered.snapshot_term;
  snapshot_membership_ = recovered.membership;
  uint64_t expect = snapshot_index_ + 1;
  for (Entry& e : recovered.entries) {
    KVD_ASSERT(e.index == expect);
    ++expect;
    if (e.type == EntryType::kConfig) {
      Result<Membership> m = DecodeMembership(e.data);
      KVD_ASSERT_MSG(m.ok(), "a config entry in the local log does not decode");
      config_log_[e.index] = std::move(m).value();
    }
    log_.push_back(std::move(e));
  }
  ApplyMembershipFromLog();
  KVD_ASSERT(recovered.applied >= snapshot_index_);
  // The state machine may be ahead of the log's end only if the node crashed between
  // installing a snapshot and recording it as the log's base; the driver handles that
  // case before constructing the core (server/topology/raft/raft_storage.h).
  KVD_ASSERT(recovered.applied <= LastIndex());
  commit_ = recovered.applied;
  applied_ = recovered.applied;
  applied_at_take_ = applied_;
  persisted_index_ = LastIndex();
  last_checked_term_ = term_;
  last_checked_commit_ = commit_;
  ResetElectionTimer();
}

// ---------------------------------------------------------------------------------------
// Log helpers

uint64_t Raft::LastTerm() const { return log_.empty() ? snapshot_term_ : log_.back().term; }

const Entry& Raft::At(uint64_t index) const {
  KVD_ASSERT(index > snapshot_index_);
  KVD_ASSERT(index <= LastIndex());
  return log_[index - snapshot_index_ - 1];
}

std::optional<uint64_t> Raft::TermAt(uint64_t index) const {
  if (index == snapshot_index_) return snapshot_term_;
  if (index < snapshot_index_ || index > LastIndex()) return std::nullopt;
  return At(index).term;
}

std::vector<Entry> Raft::EntriesFrom(uint64_t from) const {
  std::vector<Entry> out;
  for (uint64_t i = std::max(from, FirstIndex()); i <= LastIndex(); ++i) out.push_back(At(i));
  return out;
}

// Raft §5.4.1: a vote goes only to a candidate whose log is at least as up to date.
bool Raft::IsUpToDate(uint64_t last_index, uint64_t last_term) const {
  return last_term > LastTerm() || (last_term == LastTerm() && last_index >= LastIndex());
}

void Raft::AppendToLog(std::vector<Entry> entries) {
  if (entries.empty()) return;
  KVD_ASSERT(entries.front().index == LastIndex() + 1);
  for (Entry& e : entries) {
    if (e.type == EntryType::kConfig) {
      Result<Membership> m = DecodeMembership(e.data);
      // The leader encoded it, or a peer's was checked on receipt (HandleAppend).
      KVD_ASSERT(m.ok());
      config_log_[e.index] = std::move(m).value();
    }
    log_.push_back(e);
    out_.entries.push_back(std::move(e));
  }
  ApplyMembershipFromLog();
}

void Raft::TruncateFrom(uint64_t index) {
  KVD_ASSERT(index > snapshot_index_);
  KVD_ASSERT(index > applied_);
  if (index > LastIndex()) return;
  log_.resize(index - snapshot_index_ - 1);
  std::erase_if(out_.entries, [&](const Entry& e) { return e.index >= index; });
  if (out_.log_from == 0 || index < out_.log_from) out_.log_from = index;
  persisted_index_ = std::min(persisted_index_, index - 1);
  config_log_.erase(config_log_.lower_bound(index), config_log_.end());
  AbandonProposals(index);
  ApplyMembershipFromLog();
}

void Raft::ApplyMembershipFromLog() {
  membership_ = config_log_.empty() ? snapshot_membership_ : config_log_.rbegin()->second;
  if (role_ == Role::kLeader) SyncProgressWithMembership();
}

void Raft::SyncProgressWithMembership() {
  for (auto it = progress_.begin(); it != progress_.end();) {
    it = membership_.Contains(it->first) ? std::next(it) : progress_.erase(it);
  }
  auto add = [&](uint64_t id) {
    if (id == opt_.id || progress_.count(id) != 0) return;
    Progress p;
    p.next = LastIndex() + 1;
    p.last_contact_tick = ticks_;
    progress_[id] = p;
  };
  for (uint64_t id : membership_.voters) add(id);
  for (uint64_t id : membership_.learners) add(id);
}

// ---------------------------------------------------------------------------------------
// Roles

void Raft::SetHardState(uint64_t term, uint64_t vote) {
  if (term == term_ && vote == vote_) return;
  KVD_ASSERT(term >= term_);
  term_ = term;
  vote_ = vote;
  out_.hard_state = HardState{term_, vote_};
}

void Raft::ResetElectionTimer() {
  election_elapsed_ = 0;
  randomized_timeout_ =
      opt_.election_timeout_ticks + rng_->Uniform(opt_.election_timeout_ticks);
}

void Raft::Reset(uint64_t term) {
  if (term != term_) SetHardState(term, 0);
  leader_ = 0;
  votes_.clear();
  ResetElectionTimer();
  heartbeat_elapsed_ = 0;
  check_quorum_elapsed_ = 0;
  transfer_target_ = 0;
  transfer_elapsed_ = 0;
  timeout_now_sent_ = false;
  lease_held_ = false;
}

void Raft::BecomeFollower(uint64_t term, uint64_t leader) {
  bool was_leader = role_ == Role::kLeader;
  Reset(term);
  role_ = Role::kFollower;
  leader_ = leader;
  if (leader != 0) {
    heard_from_leader_ = true;
    leader_contact_tick_ = ticks_;
  }
  if (was_leader) {
    progress_.clear();
    FailReads(kvd::Status::NotLeader("leadership lost before the read was confirmed"));
    AbandonProposals(applied_ + 1);
  }
}

void Raft::BecomePreCandidate() {
  // Pre-vote does not change the term or the vote (dissertation §9.6).
  role_ = Role::kPreCandidate;
  leader_ = 0;
  votes_.clear();
  ResetElectionTimer();
}

void Raft::BecomeCandidate() {
  Reset(term_ + 1);
  role_ = Role::kCandidate;
  SetHardState(term_, opt_.id);
}

void Raft::BecomeLeader() {
  KVD_ASSERT(role_ == Role::kCandidate);
  Reset(term_);
  role_ = Role::kLeader;
  leader_ = opt_.id;
  progress_.clear();
  proposed_.clear();
  // A replica that diverged (lossy modes) never truncated what it applied, so its log and
  // its state machine agree; once it leads, its log is the one the others follow.
  diverged_ = false;
  incoming_snapshot_index_ = 0;
  incoming_snapshot_offset_ = 0;
  SyncProgressWithMembership();
  // Raft §5.4.2 / §6.4: a no-op of the new term commits everything before it and lets
  // ReadIndex know the commit index is current.
  Entry noop{LastIndex() + 1, term_, EntryType::kNoop, {}};
  AppendToLog({noop});
  MaybeCommit();  // a single-voter cluster commits once the no-op is durable
  BroadcastAppend();
}

void Raft::StartElection(bool pre_vote, bool force) {
  if (!Promotable()) return;
  if (pre_vote) {
    BecomePreCandidate();
  } else {
    BecomeCandidate();
    ++elections_started_;
  }
  votes_[opt_.id] = true;
  if (membership_.voters.size() == 1) {  // only this node votes
    if (pre_vote) {
      StartElection(false, force);
    } else {
      BecomeLeader();
    }
    return;
  }
  uint64_t term = pre_vote ? term_ + 1 : term_;
  for (uint64_t id : membership_.voters) {
    if (id == opt_.id) continue;
    Message m{pre_vote ? MessageType::kPreVote : MessageType::kVote, opt_.id, id, term,
              VoteRequest{LastIndex(), LastTerm(), force}};
    out_.messages.push_back(std::move(m));
  }
}

// ---------------------------------------------------------------------------------------
// Inputs

void Raft::Tick() {
  ++ticks_;
  if (role_ == Role::kLeader) {
    TickLeader();
    return;
  }
  ++election_elapsed_;
  if (election_elapsed_ < randomized_timeout_) return;
  if (!opt_.auto_failover && term_ > 0) {
    // Manual failover: once the cluster has had a leader (term > 0), nobody starts an
    // election by itself, and a forced campaign that did not win gives up.
    if (role_ != Role::kFollower) BecomeFollower(term_, 0);
    ResetElectionTimer();
    return;
  }
  StartElection(opt_.pre_vote, /*force=*/false);
  if (role_ != Role::kLeader) ResetElectionTimer();
}

void Raft::TickLeader() {
  ++heartbeat_elapsed_;
  ++check_quorum_elapsed_;
  if (opt_.check_quorum && check_quorum_elapsed_ >= opt_.election_timeout_ticks) {
    check_quorum_elapsed_ = 0;
    // Dissertation §6.2: a leader that has not heard from a majority within an election
    // timeout steps down, so clients find the real leader and a partitioned old leader
    // stops serving.
    if (!QuorumActive()) {
      BecomeFollower(term_, 0);
      return;
    }
  }
  if (transfer_target_ != 0 && ++transfer_elapsed_ >= opt_.election_timeout_ticks) {
    transfer_target_ = 0;  // the target did not take over in time: resume
    transfer_elapsed_ = 0;
    timeout_now_sent_ = false;
  }
  if (heartbeat_elapsed_ >= opt_.heartbeat_ticks) {
    heartbeat_elapsed_ = 0;
    BroadcastHeartbeat();
    for (auto& [id, p] : progress_) {
      if (p.state == Progress::State::kProbe) {
        p.probe_sent = false;
        SendAppend(id);
      } else if (p.state == Progress::State::kReplicate && !p.inflight.empty() &&
                 ticks_ - p.last_append_ack_tick >= opt_.election_timeout_ticks / 2 + 1) {
        // Appends went unanswered for a while (lost, or the follower restarted): fall
        // back to probing from what it is known to have.
        p.state = Progress::State::kProbe;
        p.inflight.clear();
        p.next = p.match + 1;
        p.probe_sent = false;
        SendAppend(id);
      } else if (p.state == Progress::State::kSnapshot &&
                 ticks_ - p.snapshot_progress_tick >= opt_.snapshot_timeout_ticks) {
        SendSnapshot(id, p);  // restart a stalled transfer
      }
    }
  }
}

bool Raft::QuorumActive() {
  size_t active = membership_.IsVoter(opt_.id) ? 1 : 0;
  for (auto& [id, p] : progress_) {
    if (membership_.IsVoter(id) && p.recent_active) ++active;
    p.recent_active = false;
  }
  return active >= Majority(membership_.voters.size());
}

bool Raft::InLease() const {
  // Dissertation §4.2.3: a server that heard from a current leader within the minimum
  // election timeout ignores requests to elect another one.
  return opt_.check_quorum && leader_ != 0 &&
         (role_ == Role::kLeader || election_elapsed_ < opt_.election_timeout_ticks);
}

void Raft::Send(Message m, bool early) {
  m.from = opt_.id;
  if (m.term == 0) m.term = term_;
  (early ? out_.early_messages : out_.messages).push_back(std::move(m));
}

void Raft::Step(const Message& m) {
  if (m.to != opt_.id || m.from == opt_.id) return;
  if (m.type == MessageType::kForward || m.type == MessageType::kForwardResponse) return;
  if (m.term > term_) {
    bool vote_request = m.type == MessageType::kVote || m.type == MessageType::kPreVote;
    if (vote_request) {
      const auto& req = std::get<VoteRequest>(m.body);
      if (!req.force && InLease()) return;  // a healthy leader exists: ignore
    }
    if (m.type == MessageType::kPreVote) {
      // Not a real term: answer below without changing ours.
    } else if (m.type == MessageType::kPreVoteResponse &&
               std::get<VoteResponse>(m.body).granted) {
      // The proposed term echoed back; counted below.
    } else if (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
               m.type == MessageType::kSnapshot) {
      BecomeFollower(m.term, m.from);
    } else {
      BecomeFollower(m.term, 0);
    }
  } else if (m.term < term_) {
    if (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
        m.type == MessageType::kSnapshot) {
      // A stale leader: tell it our term so it steps down (with pre-vote and check-quorum
      // it might otherwise never learn of it).
      Send(Message{MessageType::kAppendResponse, 0, m.from, term_, AppendResponse{}});
    } else if (m.type == MessageType::kPreVote) {
      Send(Message{MessageType::kPreVoteResponse, 0, m.from, term_, VoteResponse{false}});
    }
    return;
  }

  switch (m.type) {
    case MessageType::kVote:
    case MessageType::kPreVote: HandleVote(m); break;
    case MessageType::kVoteResponse:
    case MessageType::kPreVoteResponse: HandleVoteResponse(m); break;
    case MessageType::kAppend: HandleAppend(m); break;
    case MessageType::kAppendResponse: HandleAppendResponse(m); break;
    case MessageType::kHeartbeat: HandleHeartbeat(m); break;
    case MessageType::kHeartbeatResponse: HandleHeartbeatResponse(m); break;
    case MessageType::kSnapshot: HandleSnapshot(m); break;
    case MessageType::kSnapshotResponse: HandleSnapshotResponse(m); break;
    case MessageType::kTimeoutNow: HandleTimeoutNow(m); break;
    case MessageType::kForward:
    case MessageType::kForwardResponse: break;  // the adapter's, not Raft's
  }
}

void Raft::HandleVote(const Message& m) {
  const auto& req = std::get<VoteRequest>(m.body);
  bool pre = m.type == MessageType::kPreVote;
  if (!membership_.IsVoter(opt_.id)) return;  // learners and removed nodes do not vote
  // etcd-io/raft's rule: vote again for the same candidate; vote for a new one only if we
  // have not voted and know no leader in this term; a pre-vote for a future term is free.
  bool can_vote = vote_ == m.from || (vote_ == 0 && leader_ == 0) || (pre && m.term > term_);
  bool granted = can_vote && IsUpToDate(req.last_log_index, req.last_log_term);
  MessageType reply = pre ? MessageType::kPreVoteResponse : MessageType::kVoteResponse;
  if (granted) {
    Send(Message{reply, 0, m.from, m.term, VoteResponse{true}});
    if (!pre) {
      ResetElectionTimer();
      SetHardState(term_, m.from);  // durable before the response leaves (contract 1-2)
    }
  } else {
    Send(Message{reply, 0, m.from, term_, VoteResponse{false}});
  }
}

void Raft::HandleVoteResponse(const Message& m) {
  bool pre = m.type == MessageType::kPreVoteResponse;
  if (pre ? role_ != Role::kPreCandidate : role_ != Role::kCandidate) return;
  if (!membership_.IsVoter(m.from)) return;
  bool granted = std::get<VoteResponse>(m.body).granted;
  if (pre && granted && m.term != term_ + 1) return;  // an answer to an older pre-vote
  votes_[m.from] = granted;
  size_t yes = 0, no = 0;
  for (const auto& [id, v] : votes_) {
    if (!membership_.IsVoter(id)) continue;
    (v ? yes : no) += 1;
  }
  size_t need = Majority(membership_.voters.size());
  if (yes >= need) {
    if (pre) {
      StartElection(false, /*force=*/false);
    } else {
      BecomeLeader();
    }
  } else if (no >= need) {
    BecomeFollower(term_, 0);
  }
}

void Raft::HandleAppend(const Message& m) {
  const auto& req = std::get<AppendRequest>(m.body);
  if (role_ != Role::kFollower) BecomeFollower(term_, m.from);
  leader_ = m.from;
  heard_from_leader_ = true;
  leader_contact_tick_ = ticks_;
  election_elapsed_ = 0;
  AppendResponse resp;
  if (diverged_) {
    resp.needs_snapshot = true;
    Send(Message{MessageType::kAppendResponse, 0, m.from, term_, resp});
    return;
  }
  for (const Entry& e : req.entries) {
    if (e.type == EntryType::kConfig && !DecodeMembership(e.data).ok()) return;  // garbage
  }
  // The consistency check (Raft §5.3).
  if (req.prev_index > LastIndex()) {
    resp.index = req.prev_index;
    resp.hint_index = LastIndex();
    resp.hint_term = LastTerm();
    Send(Message{MessageType::kAppendResponse, 0, m.from, term_, resp});
    return;
  }
  std::optional<uint64_t> prev_term = TermAt(req.prev_index);
  if (prev_term.has_value() && *prev_term != req.prev_term) {
    if (req.prev_index <= applied_) {
      // An entry this node applied is not in the leader's log: only possible when the
      // replication mode acknowledged writes before a majority had them.
      diverged_ = true;
      resp.needs_snapshot = true;
      Send(Message{MessageType::kAppendResponse, 0, m.from, term_, resp});
      return;
    }
    // Fast back-off: the largest index <= prev_index whose term <= prev_term.
    uint64_t i = req.prev_index;
    while (i > snapshot_index_ && At(i).term > req.prev_term) --i;
    resp.index = req.prev_index;
    resp.hint_index = i;
    resp.hint_term = *TermAt(i);
    Send(Message{MessageType::kAppendResponse, 0, m.from, term_, resp});
    return;
  }
  // prev matches (or lies inside the compacted prefix, which is committed and applied).
  std::vector<Entry> fresh;
  for (const Entry& e : req.entries) {
    if (!fresh.empty()) {
      fresh.push_back(e);
      continue;
    }
    if (e.index < snapshot_index_) continue;
    std::optional<uint64_t> t = TermAt(e.index);
    if (t.has_value() && *t == e.term) continue;  // already have it
    if (t.has_value()) {                          // a conflict
      if (e.index <= applied_) {
        diverged_ = true;
        resp.needs_snapshot = true;
        Send(Message{MessageType::kAppendResponse, 0, m.from, term_, resp});
        return;
      }
      TruncateFrom(e.index);
    }
    fresh.push_back(e);
  }
  AppendToLog(std::move(fresh));
  uint64_t last_new = req.prev_index + req.entries.size();
  AdvanceCommit(std::min(req.commit, last_new));
  resp.success = true;
  resp.index = last_new;
  Send(Message{MessageType::kAppendResponse, 0, m.from, term_, resp});
}

void Raft::HandleHeartbeat(const Message& m) {
  const auto& hb = std::get<Heartbeat>(m.body);
  if (role_ != Role::kFollower) BecomeFollower(term_, m.from);
  leader_ = m.from;
  heard_from_leader_ = true;
  leader_contact_tick_ = ticks_;
  election_elapsed_ = 0;
  if (!diverged_) AdvanceCommit(std::min(hb.commit, LastIndex()));
  // Does not depend on anything on disk: may leave at once.
  Send(Message{MessageType::kHeartbeatResponse, 0, m.from, term_,
               HeartbeatResponse{hb.seq, LastIndex()}},
       /*early=*/true);
}

void Raft::HandleSnapshot(const Message& m) {
  const auto& c = std::get<SnapshotChunk>(m.body);
  if (role_ != Role::kFollower) BecomeFollower(term_, m.from);
  leader_ = m.from;
  heard_from_leader_ = true;
  leader_contact_tick_ = ticks_;
  election_elapsed_ = 0;
  SnapshotResponse resp;
  resp.index = c.index;
  if (c.offset == 0) {
    if (!diverged_ && c.index <= commit_) {
      // Already there (a duplicate or a late transfer): report it installed.
      resp.done = true;
      resp.index = commit_;
      Send(Message{MessageType::kSnapshotResponse, 0, m.from, term_, resp});
      return;
    }
    incoming_snapshot_index_ = c.index;
    incoming_snapshot_offset_ = 0;
  }
  if (c.index != incoming_snapshot_index_ || c.offset != incoming_snapshot_offset_) {
    resp.reject = true;
    resp.next_offset = incoming_snapshot_offset_;
    Send(Message{MessageType::kSnapshotResponse, 0, m.from, term_, resp});
    return;
  }
  if (c.done && !diverged_ && c.index <= applied_) {
    // Entries applied meanwhile (from a newer leader) already cover it: installing it now
    // would take the state machine back. Drop it; the driver discards the partial data
    // when the next snapshot starts.
    incoming_snapshot_index_ = 0;
    incoming_snapshot_offset_ = 0;
    resp.done = true;
    resp.index = applied_;
    Send(Message{MessageType::kSnapshotResponse, 0, m.from, term_, resp});
    return;
  }
  incoming_snapshot_offset_ += c.data.size();
  out_.snapshot_receives.push_back(SnapshotReceive{m.from, c});
  if (c.done) {
    // The driver installs it and calls OnSnapshotInstalled, which answers. Until then
    // nothing more is applied, so that the install cannot take applied entries back.
    incoming_snapshot_index_ = 0;
    incoming_snapshot_offset_ = 0;
    installing_snapshot_ = true;
    return;
  }
  resp.next_offset = incoming_snapshot_offset_;
  Send(Message{MessageType::kSnapshotResponse, 0, m.from, term_, resp});
}

void Raft::HandleTimeoutNow(const Message& m) {
  (void)m;
  // Dissertation §3.10: the leader asks us to take over now; skip pre-vote and leases.
  if (Promotable()) StartElection(false, /*force=*/true);
}

void Raft::HandleAppendResponse(const Message& m) {
  if (role_ != Role::kLeader) return;
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& p = it->second;
  const auto& r = std::get<AppendResponse>(m.body);
  p.recent_active = true;
  p.last_contact_tick = ticks_;
  if (r.needs_snapshot) {
    if (p.state != Progress::State::kSnapshot) SendSnapshot(m.from, p);
    return;
  }
  if (!r.success) {
    HandleAppendReject(m, r.index);
    return;
  }
  while (!p.inflight.empty() && p.inflight.front() <= r.index) p.inflight.pop_front();
  p.last_append_ack_tick = ticks_;
  if (r.index > p.match) {
    p.match = r.index;
    p.match_seq = heartbeat_seq_;
    p.next = std::max(p.next, r.index + 1);
    if (p.state == Progress::State::kProbe) {
      p.state = Progress::State::kReplicate;
      p.inflight.clear();
      p.next = p.match + 1;
    }
    MaybeCommit();
    if (role_ != Role::kLeader) return;  // the commit removed this leader (§4.2.2)
    if (transfer_target_ == m.from && p.match == LastIndex()) SendTimeoutNow(m.from);
  } else if (p.state == Progress::State::kProbe) {
    // The probe matched where the follower already was: replicate from there. (Probing
    // again would bounce empty appends between the two at network speed.)
    p.state = Progress::State::kReplicate;
    p.inflight.clear();
    p.next = p.match + 1;
  }
  p.last_append_ack_tick = ticks_;
  // Keep the pipeline full.
  while (SendAppend(m.from)) {
  }
}

void Raft::HandleAppendReject(const Message& m, uint64_t index) {
  Progress& p = progress_[m.from];
  const auto& r = std::get<AppendResponse>(m.body);
  if (p.state == Progress::State::kReplicate) {
    if (index <= p.match) return;  // stale
  } else if (p.state == Progress::State::kProbe) {
    if (index + 1 != p.next) return;  // an answer to an older probe
  } else {
    return;  // a snapshot is on its way
  }
  if (r.hint_index < p.match) {
    // The follower answers our current probe without entries it acknowledged before: it
    // lost them (its data directory was wiped, or it ran without fsync and crashed).
    // Raft assumes this never happens; the useful thing to do is to start over from what
    // it has, by log or by snapshot. Until it catches up, entries it had acknowledged may
    // be on fewer nodes than the replication mode promised.
    p.match = r.hint_index;
  }
  // Back off to the last index whose term is at most the follower's hint (etcd's
  // findConflictByTerm), skipping whole terms rather than one entry per round trip.
  uint64_t i = std::min(r.hint_index, LastIndex());
  while (i > snapshot_index_ && At(i).term > r.hint_term) --i;
  p.state = Progress::State::kProbe;
  p.inflight.clear();
  p.probe_sent = false;
  p.next = std::max(p.match + 1, std::min(i + 1, index));
  SendAppend(m.from);
}

void Raft::HandleHeartbeatResponse(const Message& m) {
  if (role_ != Role::kLeader) return;
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& p = it->second;
  p.recent_active = true;
  p.last_contact_tick = ticks_;
  const auto& r = std::get<HeartbeatResponse>(m.body);
  p.acked_seq = std::max(p.acked_seq, r.seq);
  if (r.seq > p.match_seq && r.last_index < p.match && p.state != Progress::State::kSnapshot) {
    // It lost entries it had acknowledged (see HandleAppendReject): start over from what
    // it has. Only a heartbeat sent after the match was learned counts: the follower had
    // those entries before it answered it, unless it lost them.
    p.match = r.last_index;
    p.next = r.last_index + 1;
    p.state = Progress::State::kProbe;
    p.inflight.clear();
    p.probe_sent = false;
  }
  if (p.match < LastIndex() && p.state == Progress::State::kProbe) SendAppend(m.from);
  if (r.last_index > LastIndex() && p.state != Progress::State::kSnapshot &&
      transfer_target_ == 0) {
    // The follower holds entries this leader does not have (from an older term). Raft
    // overwrites them with the next entry; in an idle cluster there is none, and in the
    // lossy modes the follower may have applied them. A no-op makes the overwrite (or the
    // follower's resync, if it applied them) happen now.
    (void)ProposeEntry(EntryType::kNoop, {});
  }
  CheckReads();
}

void Raft::HandleSnapshotResponse(const Message& m) {
  if (role_ != Role::kLeader) return;
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& p = it->second;
  const auto& r = std::get<SnapshotResponse>(m.body);
  p.recent_active = true;
  p.last_contact_tick = ticks_;
  if (p.state != Progress::State::kSnapshot) return;
  p.snapshot_progress_tick = ticks_;
  if (r.done) {
    p.match = std::max(p.match, r.index);
    p.match_seq = heartbeat_seq_;
    p.next = p.match + 1;
    p.state = Progress::State::kProbe;
    p.probe_sent = false;
    out_.snapshot_progress.push_back(SnapshotProgress{m.from, r});
    MaybeCommit();
    if (role_ != Role::kLeader) return;
    SendAppend(m.from);
    return;
  }
  if (r.reject) {
    SendSnapshot(m.from, p);  // start over
    return;
  }
  out_.snapshot_progress.push_back(SnapshotProgress{m.from, r});
}

// ---------------------------------------------------------------------------------------
// Leader duties

void Raft::BroadcastAppend() {
  for (auto& [id, p] : progress_) {
    (void)p;
    SendAppend(id);
  }
}

void Raft::BroadcastHeartbeat() {
  read_round_pending_ = false;  // this round confirms every read registered so far
  ++heartbeat_seq_;
  seq_sent_tick_[heartbeat_seq_] = ticks_;
  // Rounds older than a lease can no longer matter.
  while (!seq_sent_tick_.empty() &&
         seq_sent_tick_.begin()->second + 2 * opt_.election_timeout_ticks < ticks_) {
    seq_sent_tick_.erase(seq_sent_tick_.begin());
  }
  for (const auto& [id, p] : progress_) {
    Heartbeat hb{std::min(p.match, commit_), heartbeat_seq_};
    Send(Message{MessageType::kHeartbeat, 0, id, term_, hb}, /*early=*/true);
  }
  if (progress_.empty() || membership_.voters.size() == 1) CheckReads();
}

bool Raft::SendAppend(uint64_t id, bool send_empty) {
  Progress& p = progress_[id];
  switch (p.state) {
    case Progress::State::kSnapshot: return false;
    case Progress::State::kProbe:
      if (p.probe_sent && !send_empty) return false;
      break;
    case Progress::State::kReplicate:
      if (p.inflight.size() >= opt_.max_inflight_appends) return false;
      break;
  }
  uint64_t prev = p.next - 1;
  std::optional<uint64_t> prev_term = TermAt(prev);
  if (!prev_term.has_value()) {
    SendSnapshot(id, p);  // the entries it needs were compacted
    return false;
  }
  AppendRequest req{prev, *prev_term, commit_, {}};
  uint64_t bytes = 0;
  for (uint64_t i = p.next; i <= LastIndex(); ++i) {
    const Entry& e = At(i);
    if (!req.entries.empty() && (req.entries.size() >= opt_.max_entries_per_append ||
                                 bytes + e.data.size() > opt_.max_bytes_per_append)) {
      break;
    }
    bytes += e.data.size();
    req.entries.push_back(e);
  }
  if (req.entries.empty() && p.state == Progress::State::kReplicate && !send_empty) {
    return false;
  }
  if (p.state == Progress::State::kReplicate && !req.entries.empty()) {
    p.next = req.entries.back().index + 1;
    if (p.inflight.empty()) p.last_append_ack_tick = ticks_;  // the wait starts now
    p.inflight.push_back(req.entries.back().index);
  }
  if (p.state == Progress::State::kProbe) p.probe_sent = true;
  // Sent before the leader's own write is durable (dissertation §10.2.1).
  Send(Message{MessageType::kAppend, 0, id, term_, std::move(req)}, /*early=*/true);
  return p.state == Progress::State::kReplicate;
}

void Raft::SendSnapshot(uint64_t id, Progress& p) {
  p.state = Progress::State::kSnapshot;
  p.inflight.clear();
  p.snapshot_started_tick = ticks_;
  p.snapshot_progress_tick = ticks_;
  out_.snapshot_sends.push_back(SnapshotSend{id, term_});
}

uint64_t Raft::CommitPointForMode() const {
  std::vector<uint64_t> matches;
  uint64_t self = 0;
  bool self_voter = membership_.IsVoter(opt_.id);
  if (self_voter) {
    self = persisted_index_;
    matches.push_back(self);
  }
  uint64_t best_follower = 0;
  for (const auto& [id, p] : progress_) {
    if (!membership_.IsVoter(id)) continue;
    matches.push_back(p.match);
    best_follower = std::max(best_follower, p.match);
  }
  if (matches.empty()) return 0;
  std::sort(matches.begin(), matches.end(), std::greater<>());
  uint64_t quorum = matches[Majority(matches.size()) - 1];
  switch (opt_.replication) {
    case ReplicationMode::kQuorum: return quorum;
    case ReplicationMode::kSync: return matches.back();
    case ReplicationMode::kSemiSync:
      if (!self_voter) return quorum;
      if (matches.size() == 1) return self;
      return std::max(quorum, std::min(self, best_follower));
    case ReplicationMode::kAsync: return self_voter ? std::max(quorum, self) : quorum;
  }
  return quorum;
}

void Raft::MaybeCommit() {
  if (role_ != Role::kLeader) return;
  uint64_t point = std::min(CommitPointForMode(), LastIndex());
  // Raft §5.4.2: only entries of the current term are committed by counting replicas.
  if (point <= commit_ || TermAt(point) != term_) return;
  commit_ = point;
  EmitCommitted();
  CheckReads();
  CheckTransfer();
}

void Raft::CheckTransfer() {
  if (transfer_target_ == 0) return;
  auto it = progress_.find(transfer_target_);
  if (it != progress_.end() && it->second.match == LastIndex()) SendTimeoutNow(transfer_target_);
}

void Raft::SendTimeoutNow(uint64_t target) {
  if (timeout_now_sent_) return;
  timeout_now_sent_ = true;
  // From here the target may win an election that overrides the other nodes' vote
  // leases (the request is forced): this leader's own lease is no longer safe to use.
  lease_held_ = false;
  Send(Message{MessageType::kTimeoutNow, 0, target, term_, TimeoutNow{}}, /*early=*/true);
}

void Raft::AdvanceCommit(uint64_t commit) {
  if (commit <= commit_) return;
  commit_ = std::min(commit, LastIndex());
  EmitCommitted();
}

void Raft::EmitCommitted() {
  if (diverged_ || installing_snapshot_) return;
  bool config_committed = false;
  while (applied_ < commit_) {
    ++applied_;
    const Entry& e = At(applied_);
    if (e.type == EntryType::kConfig) config_committed = true;
    out_.committed.push_back(e);
  }
  std::erase_if(proposed_, [&](uint64_t i) { return i <= applied_; });
  // Dissertation §4.2.2: a leader removed by a configuration steps down once that
  // configuration is committed.
  if (config_committed && role_ == Role::kLeader && !membership_.IsVoter(opt_.id) &&
      config_log_.empty() == false && config_log_.rbegin()->first <= commit_) {
    BecomeFollower(term_, 0);
  }
}

void Raft::AbandonProposals(uint64_t from_index) {
  for (uint64_t i : proposed_) {
    if (i >= from_index) out_.abandoned.push_back(i);
  }
  std::erase_if(proposed_, [&](uint64_t i) { return i >= from_index; });
}

void Raft::FailReads(const kvd::Status& why) {
  for (const PendingRead& r : pending_reads_) out_.failed_reads.push_back({r.context, why});
  for (const PendingRead& r : waiting_apply_reads_) out_.failed_reads.push_back({r.context, why});
  pending_reads_.clear();
  waiting_apply_reads_.clear();
}

void Raft::CheckReads() {
  if (role_ != Role::kLeader) return;
  bool term_committed = TermAt(commit_) == term_;
  if (term_committed && !pending_reads_.empty()) {
    // Collect each voter's acknowledged round; the majority's lowest is confirmed.
    std::vector<uint64_t> acked;
    for (uint64_t id : membership_.voters) {
      if (id == opt_.id) {
        acked.push_back(heartbeat_seq_);
      } else {
        auto it = progress_.find(id);
        acked.push_back(it == progress_.end() ? 0 : it->second.acked_seq);
      }
    }
    std::sort(acked.begin(), acked.end(), std::greater<>());
    uint64_t confirmed = acked[Majority(acked.size()) - 1];
    // Lease: the round a majority confirmed was sent at a known tick.
    auto sent = seq_sent_tick_.find(confirmed);
    if (sent != seq_sent_tick_.end() && !timeout_now_sent_ &&
        (!lease_held_ || sent->second > lease_start_tick_)) {
      lease_start_tick_ = sent->second;
      lease_held_ = true;
    }
    while (!pending_reads_.empty() && pending_reads_.front().seq <= confirmed) {
      PendingRead r = pending_reads_.front();
      pending_reads_.pop_front();
      // A read registered before the term's first commit reads at the commit now.
      r.index = std::max(r.index, commit_);
      waiting_apply_reads_.push_back(r);
    }
  }
  while (!waiting_apply_reads_.empty() && waiting_apply_reads_.front().index <= applied_) {
    out_.reads.push_back(
        ReadReady{waiting_apply_reads_.front().context, waiting_apply_reads_.front().index});
    waiting_apply_reads_.pop_front();
  }
}

bool Raft::LeaseValid() const {
  if (!opt_.lease_reads || role_ != Role::kLeader || !lease_held_) return false;
  if (timeout_now_sent_) return false;  // a transfer may already have a new leader
  if (TermAt(commit_) != term_) return false;
  uint64_t lease_ticks =
      uint64_t{opt_.election_timeout_ticks} * (100 - opt_.lease_drift_percent) / 100;
  return ticks_ < lease_start_tick_ + lease_ticks;
}

// ---------------------------------------------------------------------------------------
// Client-facing and administrative inputs

Result<uint64_t> Raft::Propose(EntryType type, std::string data) {
  if (type == EntryType::kConfig) {
    return kvd::Status::InvalidArgument(
        "configuration entries are proposed with ProposeMembership");
  }
  return ProposeEntry(type, std::move(data));
}

Result<uint64_t> Raft::ProposeEntry(EntryType type, std::string data) {
  if (role_ != Role::kLeader) {
    return kvd::Status::NotLeader(
        leader_ != 0 ? fmt::format("not the leader; node {} is", leader_)
                     : std::string("not the leader; no leader is known"));
  }
  if (transfer_target_ != 0) {
    return kvd::Status::Unavailable(
        fmt::format("leadership is being transferred to node {}", transfer_target_));
  }
  uint64_t index = LastIndex() + 1;
  AppendToLog({Entry{index, term_, type, std::move(data)}});
  proposed_.push_back(index);
  // The appends go out when the output is taken: every proposal of one loop turn then
  // travels in one message per follower instead of one message each.
  append_pending_ = true;
  MaybeCommit();
  return index;
}

Result<uint64_t> Raft::ProposeMembership(const Membership& proposed) {
  if (role_ != Role::kLeader) return kvd::Status::NotLeader("not the leader");
  Membership next = proposed;
  for (auto* v : {&next.voters, &next.learners}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
    if (!v->empty() && v->front() == 0) {
      return kvd::Status::InvalidArgument("node id 0 is not valid");
    }
  }
  for (uint64_t id : next.learners) {
    if (next.IsVoter(id)) {
      return kvd::Status::InvalidArgument(fmt::format("node {} is both voter and learner", id));
    }
  }
  std::erase_if(next.addresses, [&](const auto& a) { return !next.Contains(a.first); });
  if (!config_log_.empty() && config_log_.rbegin()->first > commit_) {
    return kvd::Status::Unavailable(
        "a membership change is still in progress; retry when it has committed");
  }
  std::vector<uint64_t> changed;
  std::set_symmetric_difference(membership_.voters.begin(), membership_.voters.end(),
                                next.voters.begin(), next.voters.end(),
                                std::back_inserter(changed));
  if (changed.size() > 1) {
    return kvd::Status::InvalidArgument(
        "change one voter at a time (single-server membership changes, Raft §4.1)");
  }
  if (next.voters.empty()) return kvd::Status::InvalidArgument("a cluster needs a voter");
  for (uint64_t id : next.voters) {
    if (membership_.IsVoter(id) || !membership_.IsLearner(id)) continue;
    // Promoting a learner: it must have caught up, or the cluster could stall (§4.2.1).
    auto it = progress_.find(id);
    uint64_t match = it == progress_.end() ? 0 : it->second.match;
    if (match + opt_.max_entries_per_append < LastIndex()) {
      return kvd::Status::Unavailable(fmt::format(
          "learner {} has not caught up (has {} of {} entries); retry later", id, match,
          LastIndex()));
    }
  }
  std::string data;
  EncodeMembership(next, &data);
  return ProposeEntry(EntryType::kConfig, std::move(data));
}

kvd::Status Raft::ReadIndex(uint64_t context) {
  if (role_ != Role::kLeader) {
    return kvd::Status::NotLeader(
        leader_ != 0 ? fmt::format("not the leader; node {} is", leader_)
                     : std::string("not the leader; no leader is known"));
  }
  if (pending_reads_.size() + waiting_apply_reads_.size() >= opt_.max_pending_reads) {
    return kvd::Status::Unavailable("too many reads waiting for confirmation");
  }
  bool term_committed = TermAt(commit_) == term_;
  if (term_committed && (membership_.voters.size() == 1 || LeaseValid())) {
    waiting_apply_reads_.push_back(PendingRead{context, commit_, 0});
    CheckReads();
    return kvd::Status::Ok();
  }
  // Confirmed by the next heartbeat round a majority acknowledges (dissertation §6.4).
  // Every read that arrives before the output is taken shares that round.
  pending_reads_.push_back(PendingRead{context, commit_, heartbeat_seq_ + 1});
  read_round_pending_ = true;
  return kvd::Status::Ok();
}

void Raft::OnPersisted(uint64_t index, uint64_t term) {
  if (index <= persisted_index_ || TermAt(index) != term) return;
  persisted_index_ = index;
  MaybeCommit();
}

void Raft::OnSnapshotInstalled(uint64_t index, uint64_t term, const Membership& membership) {
  // The state machine now reflects `index`. Keep the log after it if it agrees there.
  bool keep = !diverged_ && TermAt(index) == term && index >= snapshot_index_;
  if (keep) {
    while (!log_.empty() && log_.front().index <= index) log_.pop_front();
  } else {
    log_.clear();
    out_.entries.clear();
    out_.log_from = index + 1;
    config_log_.clear();
    AbandonProposals(0);
  }
  if (keep) config_log_.erase(config_log_.begin(), config_log_.upper_bound(index));
  snapshot_index_ = index;
  snapshot_term_ = term;
  snapshot_membership_ = membership;
  diverged_ = false;
  installing_snapshot_ = false;
  commit_ = keep ? std::max(commit_, index) : index;
  applied_ = index;
  persisted_index_ = std::max(std::min(persisted_index_, LastIndex()), index);
  last_checked_commit_ = commit_;
  out_.compact_index = index;
  out_.compact_term = term;
  out_.compact_membership = membership;
  ApplyMembershipFromLog();
  if (leader_ != 0) {
    SnapshotResponse resp{index, 0, true, false};
    Send(Message{MessageType::kSnapshotResponse, 0, leader_, term_, resp});
  }
  EmitCommitted();  // entries after the snapshot that committed while it was installed
}

void Raft::OnSnapshotRejected() {
  installing_snapshot_ = false;
  EmitCommitted();
}

kvd::Status Raft::Campaign() {
  if (!Promotable()) {
    return kvd::Status::InvalidArgument(
        fmt::format("node {} is not a voter ({})", opt_.id, membership_.ToString()));
  }
  if (role_ == Role::kLeader) return kvd::Status::Ok();
  // A forced election overrides the vote leases that make a live leader's lease reads
  // safe; with lease reads on, the promotion must wait until the voters' leases lapse
  // (it fails while a leader is alive: transfer leadership instead).
  StartElection(false, /*force=*/!opt_.lease_reads);
  return kvd::Status::Ok();
}

kvd::Status Raft::TransferLeadership(uint64_t target) {
  if (role_ != Role::kLeader) return kvd::Status::NotLeader("not the leader");
  if (target == opt_.id) return kvd::Status::Ok();
  if (!membership_.IsVoter(target)) {
    return kvd::Status::InvalidArgument(fmt::format("node {} is not a voter", target));
  }
  transfer_target_ = target;
  transfer_elapsed_ = 0;
  timeout_now_sent_ = false;
  Progress& p = progress_[target];
  if (p.match == LastIndex()) {
    SendTimeoutNow(target);
  } else {
    SendAppend(target);
  }
  return kvd::Status::Ok();
}

uint64_t Raft::CompactNow() {
  // Entries handed out in the output not yet taken may not be applied yet.
  uint64_t index = applied_at_take_;
  if (index <= snapshot_index_) return snapshot_index_;
  // Membership as of `index`: the last config entry at or before it.
  Membership m = snapshot_membership_;
  auto it = config_log_.upper_bound(index);
  if (it != config_log_.begin()) m = std::prev(it)->second;
  uint64_t term = At(index).term;
  while (!log_.empty() && log_.front().index <= index) log_.pop_front();
  config_log_.erase(config_log_.begin(), config_log_.upper_bound(index));
  snapshot_index_ = index;
  snapshot_term_ = term;
  snapshot_membership_ = m;
  out_.compact_index = index;
  out_.compact_term = term;
  out_.compact_membership = std::move(m);
  return index;
}

void Raft::MaybeCompact() {
  if (opt_.snapshot_threshold_entries == 0) return;
  uint64_t applied = applied_at_take_;
  if (applied < snapshot_index_ + opt_.snapshot_threshold_entries) return;
  uint64_t target = applied - std::min(applied, opt_.snapshot_trailing_entries);
  if (target <= snapshot_index_) return;
  Membership m = snapshot_membership_;
  auto it = config_log_.upper_bound(target);
  if (it != config_log_.begin()) m = std::prev(it)->second;
  uint64_t term = At(target).term;
  while (!log_.empty() && log_.front().index <= target) log_.pop_front();
  config_log_.erase(config_log_.begin(), config_log_.upper_bound(target));
  snapshot_index_ = target;
  snapshot_term_ = term;
  snapshot_membership_ = m;
  out_.compact_index = target;
  out_.compact_term = term;
  out_.compact_membership = std::move(m);
}

RaftOutput Raft::TakeOutput() {
  if (append_pending_ && role_ == Role::kLeader) BroadcastAppend();
  append_pending_ = false;
  if (read_round_pending_ && role_ == Role::kLeader) BroadcastHeartbeat();
  read_round_pending_ = false;
  // Compaction covers only entries applied in earlier outputs: their effects reached the
  // state machine's storage before this output's log changes do.
  MaybeCompact();
  applied_at_take_ = applied_;
  RaftOutput out = std::move(out_);
  out_ = RaftOutput{};
  return out;
}

uint64_t Raft::ticks_since_leader_contact() const {
  if (role_ == Role::kLeader) return 0;
  if (!heard_from_leader_) return ticks_;
  return ticks_ - leader_contact_tick_;
}

RaftStatus Raft::GetStatus() const {
  RaftStatus s;
  s.id = opt_.id;
  s.role = role_;
  s.term = term_;
  s.vote = vote_;
  s.leader = leader_;
  s.first_index = FirstIndex();
  s.last_index = LastIndex();
  s.commit = commit_;
  s.applied = applied_;
  s.persisted = persisted_index_;
  s.snapshot_index = snapshot_index_;
  s.membership = membership_;
  s.ticks_since_leader_contact = ticks_since_leader_contact();
  s.transfer_target = transfer_target_;
  s.diverged = diverged_;
  s.elections_started = elections_started_;
  for (const auto& [id, p] : progress_) {
    PeerStatus ps;
    ps.id = id;
    ps.voter = membership_.IsVoter(id);
    ps.match = p.match;
    ps.next = p.next;
    ps.state = p.state == Progress::State::kProbe       ? "probe"
               : p.state == Progress::State::kReplicate ? "replicate"
                                                        : "snapshot";
    ps.ticks_since_contact = ticks_ - p.last_contact_tick;
    ps.inflight = static_cast<uint32_t>(p.inflight.size());
    s.peers.push_back(ps);
  }
  return s;
}

void Raft::CheckInvariants() const {
  KVD_ASSERT(term_ >= last_checked_term_);
  KVD_ASSERT(commit_ >= last_checked_commit_);
  last_checked_term_ = term_;
  last_checked_commit_ = commit_;
  uint64_t prev_term = snapshot_term_;
  for (size_t i = 0; i < log_.size(); ++i) {
    KVD_ASSERT(log_[i].index == snapshot_index_ + 1 + i);
    KVD_ASSERT(log_[i].term >= prev_term);  // terms never decrease along a log
    KVD_ASSERT(log_[i].term <= term_);
    prev_term = log_[i].term;
  }
  KVD_ASSERT(snapshot_index_ <= applied_);
  KVD_ASSERT(applied_ <= commit_);
  KVD_ASSERT(diverged_ || installing_snapshot_ || applied_ == commit_);
  KVD_ASSERT(commit_ <= LastIndex());
  KVD_ASSERT(persisted_index_ <= LastIndex());
  KVD_ASSERT(membership_ == (config_log_.empty() ? snapshot_membership_
                                                 : config_log_.rbegin()->second));
  if (role_ == Role::kLeader) {
    KVD_ASSERT(leader_ == opt_.id);
    KVD_ASSERT(vote_ == opt_.id);
    for (const auto& [id, p] : progress_) {
      KVD_ASSERT(id != opt_.id);
      KVD_ASSERT(p.match < p.next);
      KVD_ASSERT(membership_.Contains(id));
    }
  } else {
    KVD_ASSERT(progress_.empty());
  }
  if (role_ == Role::kCandidate) KVD_ASSERT(vote_ == opt_.id);
}

}  // namespace kvd::raft
