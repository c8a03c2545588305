#include "server/topology/raft/raft_node.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/bytes.h"
#include "common/wire/codec.h"
#include "common/wire/frame.h"
#include "server/topology/raft/command.h"

namespace kvd::raft {

namespace {

// True for requests that change data and therefore go through the log.
bool IsWrite(const wire::Request& r) {
  switch (r.opcode()) {
    case wire::Opcode::kPut:
    case wire::Opcode::kDelete:
    case wire::Opcode::kCas: return true;
    case wire::Opcode::kBatch:
      for (const wire::BatchOp& op : std::get<wire::BatchRequest>(r.body).ops) {
        if (op.type == wire::BatchOpType::kPut || op.type == wire::BatchOpType::kDelete) {
          return true;
        }
      }
      return false;
    default: return false;
  }
}

// A session token of this topology: the 8-byte big-endian log index. Tokens of another
// shape (another topology's) are treated as 0: no constraint.
uint64_t TokenIndex(const std::string& token) {
  if (token.size() != 8) return 0;
  return GetU64BE(token.data());
}

Membership BootstrapMembership(const config::Config& config) {
  Membership m;
  if (config.cluster.join) return m;
  for (const config::MemberConfig& member : config.cluster.members) {
    m.voters.push_back(member.id);
    m.addresses[member.id] = MemberAddress{member.client.ToString(), member.peer.ToString()};
  }
  std::sort(m.voters.begin(), m.voters.end());
  return m;
}

std::string JsonEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<int>(c));
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

RaftNode::RaftNode(const RaftNodeOptions& options, Recovery recovery, uint64_t seed,
                   bool record_membership)
    : opt_(options),
      rng_(seed),
      raft_(options.raft, recovery.state, &rng_),
      writer_(recovery.state.snapshot_index,
              recovery.state.snapshot_index + recovery.state.entries.size()),
      pending_repair_(std::move(recovery.repair)) {
  // Forward ids must not repeat across restarts: an answer to a forward of the previous
  // process could otherwise be taken for one of this process's.
  // (Derived from the seed without drawing from the core's Rng, whose sequence decides
  // election timeouts.)
  next_forward_id_ = ((seed ^ 0x5bd1e9955bd1e995ULL) * 0x9E3779B97F4A7C15ULL >> 1) | 1;
  if (record_membership) {
    topology::ApplyItem item;
    item.kind = topology::ApplyKind::kMembership;
    item.reply = false;
    EncodeMembership(recovery.state.membership, &item.membership);
    out_.apply.push_back(std::move(item));
  }
}

void RaftNode::Tick(uint64_t now_ms) {
  now_ms_ = now_ms;
  ++ticks_;
  raft_.Tick();
  // A sweep is a log entry: propose one only when writes happened since the last, so an
  // idle cluster's log stays still (expired keys read as absent anyway; their disk space
  // is reclaimed at the next sweep).
  if (raft_.role() == Role::kLeader && writes_since_sweep_ > 0 &&
      now_ms >= last_sweep_ms_ + opt_.expiry_sweep_interval_ms) {
    last_sweep_ms_ = now_ms;
    writes_since_sweep_ = 0;
    Command c;
    c.kind = CommandKind::kExpire;
    c.now_ms = now_ms;
    // A failure (a transfer in progress) only delays the sweep to a later tick.
    (void)raft_.Propose(EntryType::kCommand, EncodeCommand(c));
  }
  CheckWaitingReads();
  ExpireForwards();
}

std::string RaftNode::LeaderHint() const {
  // A leader not heard from for a few heartbeats may be gone: better no hint than sending
  // clients to a dead node until the election timeout.
  if (raft_.role() != Role::kLeader &&
      raft_.ticks_since_leader_contact() > 3 * uint64_t{opt_.raft.heartbeat_ticks}) {
    return {};
  }
  auto it = opt_.client_addresses.find(raft_.leader());
  return it == opt_.client_addresses.end() ? std::string() : it->second;
}

void RaftNode::ReplyError(const topology::ClientRef& ref, const wire::Request& request,
                          const Status& status) {
  wire::Response r = wire::Response::Error(request.request_id, request.opcode(), status);
  if (status.code() == Code::kNotLeader) r.detail.leader_hint = LeaderHint();
  out_.replies.push_back(topology::Reply{ref, std::move(r)});
}

void RaftNode::Redirect(const topology::ClientRequest& request, const char* why) {
  std::string hint = LeaderHint();
  std::string message =
      raft_.leader() != 0
          ? fmt::format("{}; the leader is node {}{}", why, raft_.leader(),
                        hint.empty() ? std::string() : fmt::format(" at {}", hint))
          : fmt::format("{}; no leader is known (an election may be in progress)", why);
  ReplyError(request.ref, request.request, Status::NotLeader(message));
}

void RaftNode::OnClientRequest(topology::ClientRequest request) {
  // Replicated data types and causal contexts are multi_leader's: refuse them here, on
  // any node, rather than redirect them or replicate a request that cannot apply.
  switch (request.request.opcode()) {
    case wire::Opcode::kGets:
    case wire::Opcode::kIncr:
    case wire::Opcode::kSadd:
    case wire::Opcode::kSrem:
    case wire::Opcode::kSmembers:
      ReplyError(request.ref, request.request,
                 Status::Unsupported(fmt::format(
                     "{} works on replicated data types, which only node.mode multi_leader offers",
                     wire::OpcodeName(request.request.opcode()))));
      return;
    default: break;
  }
  if (!request.request.options.context.empty()) {
    ReplyError(request.ref, request.request,
               Status::Unsupported("option context resolves siblings, which only node.mode "
                                   "multi_leader keeps"));
    return;
  }
  if (IsWrite(request.request)) {
    HandleWrite(std::move(request));
  } else {
    HandleRead(std::move(request));
  }
}

void RaftNode::HandleWrite(topology::ClientRequest request) {
  if (raft_.role() != Role::kLeader) {
    // A forwarded request is never forwarded again: its answer goes back to the node that
    // forwarded it, which relays the redirect to the client.
    if (opt_.forward_writes && request.ref.forwarded_from == 0 && ForwardToLeader(request)) return;
    Redirect(request, "this node is not the leader");
    return;
  }
  Command c;
  c.kind = CommandKind::kRequest;
  c.now_ms = request.arrival_ms;
  c.client_id = request.request.options.client_id;
  c.sequence = request.request.options.sequence;
  c.request = request.request;
  Result<uint64_t> index = raft_.Propose(EntryType::kCommand, EncodeCommand(c));
  if (!index.ok()) {
    ReplyError(request.ref, request.request, index.status());
    return;
  }
  if (request.request.options.durability == wire::Durability::kAlways) out_.force_sync = true;
  ++writes_since_sweep_;
  pending_writes_[*index] = Pending{raft_.term(), request.ref, request.request.opcode(),
                                    request.request.request_id};
}

void RaftNode::HandleRead(topology::ClientRequest request) {
  wire::Consistency level = request.request.options.consistency;
  if (level == wire::Consistency::kDefault) level = opt_.default_read;
  bool leader = raft_.role() == Role::kLeader;
  switch (level) {
    case wire::Consistency::kDefault:
    case wire::Consistency::kLinearizable: {
      if (!leader) {
        Redirect(request, "linearizable reads are served by the leader");
        return;
      }
      uint64_t context = next_read_context_++;
      Status s = raft_.ReadIndex(context);
      if (!s.ok()) {
        ReplyError(request.ref, request.request, s);
        return;
      }
      pending_reads_.emplace(context, std::move(request));
      return;
    }
    case wire::Consistency::kLeader:
      if (!leader) {
        Redirect(request, "leader reads are served by the leader");
        return;
      }
      ServeLocally(std::move(request));
      return;
    case wire::Consistency::kFollower: {
      uint32_t bound_ms = request.request.options.max_staleness_ms;
      uint64_t stale_ms = raft_.ticks_since_leader_contact() * opt_.tick_ms;
      if (raft_.diverged() || (bound_ms != 0 && !leader && stale_ms > bound_ms)) {
        Redirect(request,
                 raft_.diverged() ? "this replica is being resynchronized"
                                  : "this replica has not heard from the leader within "
                                    "max_staleness_ms");
        return;
      }
      ServeLocally(std::move(request));
      return;
    }
    case wire::Consistency::kSession: {
      uint64_t token = TokenIndex(request.request.options.session_token);
      if (!raft_.diverged() && raft_.applied() >= token) {
        ServeLocally(std::move(request));
        return;
      }
      if (leader) {
        // The leader is behind a token only if the token comes from a lost write (lossy
        // replication modes) or from another cluster; it cannot wait for it.
        ReplyError(request.ref, request.request,
                   Status::Unavailable(fmt::format(
                       "session token index {} is ahead of the leader's applied index {}",
                       token, raft_.applied())));
        return;
      }
      waiting_reads_.push_back(
          WaitingRead{std::move(request), token, ticks_ + opt_.session_wait_ticks});
      return;
    }
  }
}

void RaftNode::ServeLocally(topology::ClientRequest request) {
  topology::ApplyItem item;
  item.ref = request.ref;
  item.now_ms = request.arrival_ms;
  item.request = std::move(request.request);
  item.session_index = std::max<uint64_t>(raft_.applied(), 1);
  out_.apply.push_back(std::move(item));
}

void RaftNode::CheckWaitingReads() {
  for (auto it = waiting_reads_.begin(); it != waiting_reads_.end();) {
    if (!raft_.diverged() && raft_.applied() >= it->token_index) {
      ServeLocally(std::move(it->request));
      it = waiting_reads_.erase(it);
    } else if (ticks_ >= it->deadline_tick) {
      Redirect(it->request, "this replica has not caught up to the session token in time");
      it = waiting_reads_.erase(it);
    } else {
      ++it;
    }
  }
}

void RaftNode::ReplyAdmin(const topology::ClientRef& ref, uint64_t request_id,
                          std::string json) {
  wire::Response r;
  r.request_id = request_id;
  r.opcode = wire::Opcode::kAdmin;
  r.body = wire::AdminResponse{std::move(json)};
  out_.replies.push_back(topology::Reply{ref, std::move(r)});
}

Result<Membership> RaftNode::NextMembership(const wire::AdminRequest& req) const {
  Membership next = raft_.membership();
  uint64_t id = req.node_id;
  switch (req.action) {
    case wire::AdminAction::kAddLearner:
      if (next.Contains(id)) {
        return Status::InvalidArgument(fmt::format("node {} is already a member ({})", id,
                                                   next.ToString()));
      }
      next.learners.push_back(id);
      std::sort(next.learners.begin(), next.learners.end());
      next.addresses[id] = MemberAddress{req.client_address, req.peer_address};
      return next;
    case wire::AdminAction::kPromoteLearner:
      if (!next.IsLearner(id)) {
        return Status::InvalidArgument(
            fmt::format("node {} is not a learner ({})", id, next.ToString()));
      }
      std::erase(next.learners, id);
      next.voters.push_back(id);
      std::sort(next.voters.begin(), next.voters.end());
      return next;
    case wire::AdminAction::kRemoveMember:
      if (!next.Contains(id)) {
        return Status::InvalidArgument(
            fmt::format("node {} is not a member ({})", id, next.ToString()));
      }
      if (next.IsVoter(id) && next.voters.size() == 1) {
        return Status::InvalidArgument("cannot remove the last voter");
      }
      std::erase(next.voters, id);
      std::erase(next.learners, id);
      next.addresses.erase(id);
      return next;
    default: break;
  }
  return Status::InvalidArgument("not a membership change");
}

void RaftNode::OnAdminRequest(topology::ClientRequest request) {
  const auto& req = std::get<wire::AdminRequest>(request.request.body);
  uint64_t rid = request.request.request_id;
  auto fail = [&](const Status& s) { ReplyError(request.ref, request.request, s); };
  if ((req.action == wire::AdminAction::kPromote || req.action == wire::AdminAction::kCompact) &&
      req.node_id != 0 && req.node_id != raft_.id()) {
    return fail(Status::InvalidArgument(
        fmt::format("ADMIN {} acts on the node that receives it: this is node {}, not node {}",
                    wire::AdminActionName(req.action), raft_.id(), req.node_id)));
  }
  switch (req.action) {
    case wire::AdminAction::kPromote: {
      if (raft_.role() == Role::kLeader) {
        ReplyAdmin(request.ref, rid,
                   fmt::format(R"({{"node_id":{},"term":{},"message":"already the leader"}})",
                               raft_.id(), raft_.term()));
        return;
      }
      Status s = raft_.Campaign();
      if (!s.ok()) return fail(s);
      ReplyAdmin(request.ref, rid,
                 fmt::format(R"({{"node_id":{},"term":{},"message":"election started"}})",
                             raft_.id(), raft_.term()));
      return;
    }
    case wire::AdminAction::kTransferLeader: {
      if (raft_.role() != Role::kLeader) {
        Redirect(request, "leadership is transferred by the leader");
        return;
      }
      uint64_t target = req.node_id;
      if (target == 0) {
        // The voter with the most of the log: the quickest to take over.
        uint64_t best_match = 0;
        for (const PeerStatus& p : raft_.GetStatus().peers) {
          if (p.voter && (target == 0 || p.match > best_match)) {
            target = p.id;
            best_match = p.match;
          }
        }
        if (target == 0) return fail(Status::InvalidArgument("there is no other voter"));
      }
      Status s = raft_.TransferLeadership(target);
      if (!s.ok()) return fail(s);
      ReplyAdmin(request.ref, rid,
                 fmt::format(R"({{"from":{},"to":{},"term":{},"message":"transfer started"}})",
                             raft_.id(), target, raft_.term()));
      return;
    }
    case wire::AdminAction::kCompact: {
      uint64_t index = raft_.CompactNow();
      ReplyAdmin(request.ref, rid,
                 fmt::format(R"({{"node_id":{},"snapshot_index":{}}})", raft_.id(), index));
      return;
    }
    case wire::AdminAction::kPauseStreams:
    case wire::AdminAction::kResumeStreams:
    case wire::AdminAction::kRepair:
    case wire::AdminAction::kRepairDryRun:
      return fail(Status::Unsupported(fmt::format(
          "ADMIN {} is for dynamo rings (ring streaming and anti-entropy repair); this node "
          "runs leader_follower",
          wire::AdminActionName(req.action))));
    case wire::AdminAction::kAddLearner:
    case wire::AdminAction::kPromoteLearner:
    case wire::AdminAction::kRemoveMember: {
      if (raft_.role() != Role::kLeader) {
        Redirect(request, "membership changes are made by the leader");
        return;
      }
      Result<Membership> next = NextMembership(req);
      if (!next.ok()) return fail(next.status());
      Result<uint64_t> index = raft_.ProposeMembership(*next);
      if (!index.ok()) return fail(index.status());
      // Answered when the configuration commits (TranslateCommitted).
      pending_admin_[*index] = Pending{raft_.term(), request.ref, wire::Opcode::kAdmin, rid};
      return;
    }
  }
}

void RaftNode::NoteEvents() {
  Role role = raft_.role();
  uint64_t term = raft_.term();
  uint64_t leader = raft_.leader();
  if (role == reported_role_ && term == reported_term_ && leader == reported_leader_) return;
  if (role == Role::kLeader && reported_role_ != Role::kLeader) {
    out_.events.push_back(fmt::format("became the leader in term {} (last index {})", term,
                                      raft_.last_index()));
  } else if (role != Role::kLeader && reported_role_ == Role::kLeader) {
    out_.events.push_back(fmt::format("stepped down in term {}; now {}", term, RoleName(role)));
  } else if (role == Role::kCandidate && (reported_role_ != Role::kCandidate ||
                                          term != reported_term_)) {
    out_.events.push_back(fmt::format("started an election for term {}", term));
  }
  if (leader != reported_leader_ && leader != 0 && leader != raft_.id()) {
    out_.events.push_back(fmt::format("following leader {} in term {}", leader, term));
  } else if (leader == 0 && reported_leader_ != 0 && role != Role::kLeader) {
    out_.events.push_back(fmt::format("lost contact with leader {} (term {})",
                                      reported_leader_, term));
  }
  reported_role_ = role;
  reported_term_ = term;
  reported_leader_ = leader;
}

void RaftNode::NoteMembership() {
  const Membership& m = raft_.membership();
  if (m == reported_membership_) return;
  if (!reported_membership_.voters.empty() || !reported_membership_.learners.empty()) {
    out_.events.push_back(fmt::format("membership is now {}", m.ToString()));
  }
  reported_membership_ = m;
  for (const auto& [id, a] : m.addresses) opt_.client_addresses[id] = a.client;
  out_.members_changed = true;
  out_.members.clear();
  for (const auto& [id, a] : m.addresses) {
    if (id != raft_.id()) out_.members.push_back(topology::MemberEndpoint{id, a.client, a.peer});
  }
}

bool RaftNode::ForwardToLeader(topology::ClientRequest& request) {
  uint64_t leader = raft_.leader();
  if (leader == 0 || LeaderHint().empty()) return false;  // no live leader known
  if (pending_forwards_.size() >= opt_.max_pending_forwards) return false;
  uint64_t id = next_forward_id_++;
  Message m;
  m.type = MessageType::kForward;
  m.from = raft_.id();
  m.to = leader;
  m.term = raft_.term();
  raft::Forward f;
  f.forward_id = id;
  wire::EncodeRequest(request.request, &f.frame);
  m.body = std::move(f);
  // Depends on nothing stored here: it may leave at once.
  out_.early_send.push_back(topology::Envelope{leader, EncodeMessage(m)});
  // An answer normally comes within one commit; give it a few election timeouts.
  pending_forwards_[id] =
      PendingForward{request.ref, request.request.request_id, request.request.opcode(),
                     ticks_ + 3 * uint64_t{opt_.raft.election_timeout_ticks}};
  return true;
}

void RaftNode::HandleForward(const Message& m) {
  const auto& f = std::get<raft::Forward>(m.body);
  wire::FrameHeader header;
  if (f.frame.size() < wire::kFrameHeaderBytes ||
      !wire::DecodeFrameHeader(f.frame, wire::kMaxFrameBytesCeiling, &header).ok() ||
      f.frame.size() != header.frame_bytes()) {
    ++malformed_messages_;
    return;
  }
  Result<wire::Request> request =
      wire::DecodeRequest(header, std::string_view(f.frame).substr(wire::kFrameHeaderBytes));
  if (!request.ok() || !wire::IsDataOpcode(request->opcode())) {
    ++malformed_messages_;
    return;
  }
  topology::ClientRequest cr;
  cr.ref.request_id = f.forward_id;
  cr.ref.forwarded_from = m.from;
  cr.arrival_ms = now_ms_;
  cr.request = std::move(request).value();
  OnClientRequest(std::move(cr));
}

void RaftNode::OnForwardedReply(const topology::ClientRef& ref, const wire::Response& response) {
  Message m;
  m.type = MessageType::kForwardResponse;
  m.from = raft_.id();
  m.to = ref.forwarded_from;
  m.term = raft_.term();
  raft::Forward f;
  f.forward_id = ref.request_id;
  wire::EncodeResponse(response, &f.frame);
  m.body = std::move(f);
  out_.early_send.push_back(topology::Envelope{ref.forwarded_from, EncodeMessage(m)});
}

void RaftNode::HandleForwardResponse(const Message& m) {
  const auto& f = std::get<raft::Forward>(m.body);
  auto it = pending_forwards_.find(f.forward_id);
  if (it == pending_forwards_.end()) return;  // answered already (timed out), or unknown
  wire::FrameHeader header;
  Result<wire::Response> response = Status::ProtocolError("short");
  if (f.frame.size() >= wire::kFrameHeaderBytes &&
      wire::DecodeFrameHeader(f.frame, wire::kMaxFrameBytesCeiling, &header).ok() &&
      f.frame.size() == header.frame_bytes()) {
    response = wire::DecodeResponse(header,
                                    std::string_view(f.frame).substr(wire::kFrameHeaderBytes));
  }
  if (!response.ok()) {
    ++malformed_messages_;
    return;  // the client's request times out here
  }
  wire::Response r = std::move(response).value();
  if (r.opcode != it->second.opcode) {  // not the answer to this request
    ++malformed_messages_;
    return;
  }
  r.request_id = it->second.request_id;
  out_.replies.push_back(topology::Reply{it->second.ref, std::move(r)});
  pending_forwards_.erase(it);
}

void RaftNode::ExpireForwards() {
  for (auto it = pending_forwards_.begin(); it != pending_forwards_.end();) {
    if (ticks_ < it->second.deadline_tick) {
      ++it;
      continue;
    }
    out_.replies.push_back(topology::Reply{
        it->second.ref,
        wire::Response::Error(it->second.request_id, it->second.opcode,
                              Status::Unavailable(
                                  "forwarded to the leader, which did not answer in time; "
                                  "the outcome is unknown; a retry with the same client id "
                                  "and sequence is safe"))});
    it = pending_forwards_.erase(it);
  }
}

void RaftNode::OnPeerMessage(uint64_t from, std::string_view bytes) {
  Result<Message> m = DecodeMessage(bytes);
  if (!m.ok() || m->from != from || m->to != raft_.id()) {
    ++malformed_messages_;
    return;
  }
  if (m->type == MessageType::kForward) {
    HandleForward(*m);
    return;
  }
  if (m->type == MessageType::kForwardResponse) {
    HandleForwardResponse(*m);
    return;
  }
  raft_.Step(*m);
}

void RaftNode::OnPersisted(uint64_t index, uint64_t term) { raft_.OnPersisted(index, term); }

void RaftNode::OnSnapshotInstalled(uint64_t index, uint64_t term, std::string_view membership) {
  Result<Membership> m = DecodeMembership(membership);
  KVD_ASSERT_MSG(m.ok(), "the driver installed a snapshot whose membership does not decode");
  raft_.OnSnapshotInstalled(index, term, *m);
}

std::string RaftNode::EncodeSnapshotChunk(uint64_t to, uint64_t term, uint64_t index,
                                          uint64_t snapshot_term, std::string_view membership,
                                          uint64_t offset, std::string data, bool done) {
  Result<Membership> m = DecodeMembership(membership);
  KVD_ASSERT_MSG(m.ok(), "a snapshot's membership does not decode");
  SnapshotChunk chunk{index, snapshot_term, std::move(m).value(), offset, done, std::move(data)};
  return EncodeMessage(Message{MessageType::kSnapshot, raft_.id(), to, term, std::move(chunk)});
}

void RaftNode::TranslateCommitted(const Entry& e) {
  topology::ApplyItem item;
  item.index = e.index;
  item.term = e.term;
  item.reply = false;
  item.session_index = e.index;
  switch (e.type) {
    case EntryType::kNoop: item.kind = topology::ApplyKind::kNoop; break;
    case EntryType::kConfig:
      item.kind = topology::ApplyKind::kMembership;
      item.membership = e.data;
      break;
    case EntryType::kCommand: {
      Result<Command> c = DecodeCommand(e.data);
      if (!c.ok()) {
        // Every replica has the same bytes and makes the same decision: skip it.
        ++undecodable_commands_;
        item.kind = topology::ApplyKind::kNoop;
        break;
      }
      item.now_ms = c->now_ms;
      if (c->kind == CommandKind::kExpire) {
        item.kind = topology::ApplyKind::kExpire;
        break;
      }
      item.kind = topology::ApplyKind::kRequest;
      item.client_id = c->client_id;
      item.client_seq = c->sequence;
      item.request = std::move(c->request);
      break;
    }
  }
  if (auto admin = pending_admin_.find(e.index); admin != pending_admin_.end()) {
    if (admin->second.term == e.term) {
      ReplyAdmin(admin->second.ref, admin->second.request_id,
                 fmt::format(R"({{"index":{},"membership":"{}"}})", e.index,
                             JsonEscape(raft_.membership().ToString())));
    } else {
      out_.replies.push_back(topology::Reply{
          admin->second.ref,
          wire::Response::Error(admin->second.request_id, wire::Opcode::kAdmin,
                                Status::Unavailable("leadership changed; the membership change "
                                                    "was not applied; retry it"))});
    }
    pending_admin_.erase(admin);
  }
  auto it = pending_writes_.find(e.index);
  if (it != pending_writes_.end()) {
    if (it->second.term == e.term) {
      item.ref = it->second.ref;
      item.reply = true;
    } else {
      // Our entry was overwritten by another leader's: the write did not happen.
      wire::Response r = wire::Response::Error(
          it->second.request_id, it->second.opcode,
          Status::Unavailable("leadership changed; the write was not applied; retry it"));
      out_.replies.push_back(topology::Reply{it->second.ref, std::move(r)});
    }
    pending_writes_.erase(it);
  }
  out_.apply.push_back(std::move(item));
}

void RaftNode::TranslateOutput(RaftOutput ro) {
  if (!pending_repair_.empty()) {
    out_.storage = std::move(pending_repair_);
    pending_repair_.clear();
  }
  writer_.Encode(ro, &out_.storage);
  if (!ro.entries.empty()) {
    out_.persist_index = ro.entries.back().index;
    out_.persist_term = ro.entries.back().term;
  }
  for (const Message& m : ro.early_messages) {
    out_.early_send.push_back(topology::Envelope{m.to, EncodeMessage(m)});
  }
  for (const Message& m : ro.messages) {
    out_.send.push_back(topology::Envelope{m.to, EncodeMessage(m)});
  }
  for (const Entry& e : ro.committed) TranslateCommitted(e);
  for (const ReadReady& r : ro.reads) {
    auto it = pending_reads_.find(r.context);
    if (it == pending_reads_.end()) continue;
    ServeLocally(std::move(it->second));
    pending_reads_.erase(it);
  }
  for (const ReadFailed& r : ro.failed_reads) {
    auto it = pending_reads_.find(r.context);
    if (it == pending_reads_.end()) continue;
    ReplyError(it->second.ref, it->second.request, r.status);
    pending_reads_.erase(it);
  }
  for (uint64_t index : ro.abandoned) {
    if (auto admin = pending_admin_.find(index); admin != pending_admin_.end()) {
      out_.replies.push_back(topology::Reply{
          admin->second.ref,
          wire::Response::Error(admin->second.request_id, wire::Opcode::kAdmin,
                                Status::Unavailable("leadership changed before the membership "
                                                    "change committed; check the membership "
                                                    "and retry if needed"))});
      pending_admin_.erase(admin);
    }
    auto it = pending_writes_.find(index);
    if (it == pending_writes_.end()) continue;
    wire::Response r = wire::Response::Error(
        it->second.request_id, it->second.opcode,
        Status::Unavailable("leadership changed before the write committed; its outcome is "
                            "unknown; a retry with the same client id and sequence is safe"));
    out_.replies.push_back(topology::Reply{it->second.ref, std::move(r)});
    pending_writes_.erase(it);
  }
  for (const SnapshotSend& s : ro.snapshot_sends) {
    out_.snapshot_sends.push_back(topology::SnapshotSend{s.to, s.term});
  }
  for (const SnapshotProgress& p : ro.snapshot_progress) {
    out_.snapshot_progress.push_back(
        topology::SnapshotProgress{p.to, p.response.next_offset, p.response.done});
  }
  for (SnapshotReceive& r : ro.snapshot_receives) {
    topology::SnapshotChunkIn in;
    in.index = r.chunk.index;
    in.term = r.chunk.snapshot_term;
    EncodeMembership(r.chunk.membership, &in.membership);
    in.offset = r.chunk.offset;
    in.done = r.chunk.done;
    in.data = std::move(r.chunk.data);
    out_.snapshot_chunks.push_back(std::move(in));
  }
}

topology::Output RaftNode::TakeOutput() {
  // Reads served after this output's committed entries see them: the core hands out
  // committed entries first, then the reads it confirmed.
  CheckWaitingReads();
  TranslateOutput(raft_.TakeOutput());
  NoteMembership();
  NoteEvents();
  topology::Output out = std::move(out_);
  out_ = topology::Output{};
  return out;
}

topology::NodeInfo RaftNode::Inspect() const {
  RaftStatus s = raft_.GetStatus();
  topology::NodeInfo info;
  info.mode = "leader_follower";
  info.role = RoleName(s.role);
  if (s.role == Role::kFollower && !s.membership.IsVoter(s.id)) {
    info.role = s.membership.IsLearner(s.id) ? "learner" : "non_member";
  }
  info.node_id = s.id;
  info.ticks = ticks_;
  info.counters["term"] = s.term;
  info.counters["leader_id"] = s.leader;
  info.counters["commit_index"] = s.commit;
  info.counters["applied_index"] = s.applied;
  info.counters["last_index"] = s.last_index;
  info.counters["first_index"] = s.first_index;
  info.counters["persisted_index"] = s.persisted;
  info.counters["snapshot_index"] = s.snapshot_index;
  info.counters["ms_since_leader_contact"] = s.ticks_since_leader_contact * opt_.tick_ms;
  info.counters["elections_started"] = s.elections_started;
  info.counters["malformed_peer_messages"] = malformed_messages_;
  info.counters["undecodable_commands"] = undecodable_commands_;
  info.counters["pending_writes"] = pending_writes_.size();
  info.counters["pending_reads"] = pending_reads_.size() + waiting_reads_.size();
  info.counters["pending_forwards"] = pending_forwards_.size();
  info.counters["diverged"] = s.diverged ? 1 : 0;
  info.labels["replication"] = ReplicationModeName(opt_.raft.replication);
  info.labels["failover"] = opt_.raft.auto_failover ? "auto" : "manual";
  info.labels["follower_writes"] = opt_.forward_writes ? "forward" : "redirect";
  info.labels["membership"] = s.membership.ToString();
  info.labels["leader_address"] = LeaderHint();
  for (uint64_t id : s.membership.voters) {
    auto a = s.membership.addresses.find(id);
    info.members.push_back({id, "voter", a == s.membership.addresses.end() ? "" : a->second.client,
                            a == s.membership.addresses.end() ? "" : a->second.peer, ""});
  }
  for (uint64_t id : s.membership.learners) {
    auto a = s.membership.addresses.find(id);
    info.members.push_back({id, "learner",
                            a == s.membership.addresses.end() ? "" : a->second.client,
                            a == s.membership.addresses.end() ? "" : a->second.peer, ""});
  }
  for (const PeerStatus& p : s.peers) {
    topology::PeerInfo pi;
    pi.id = p.id;
    pi.role = p.voter ? "voter" : "learner";
    pi.match = p.match;
    pi.next = p.next;
    pi.state = p.state;
    pi.ms_since_contact = p.ticks_since_contact * opt_.tick_ms;
    pi.lag_entries = s.last_index > p.match ? s.last_index - p.match : 0;
    info.peers.push_back(pi);
  }
  return info;
}

Result<std::unique_ptr<topology::Node>> MakeRaftNode(const config::Config& config,
                                                     const topology::StoredState& stored,
                                                     uint64_t seed) {
  KVD_ASSIGN_OR_RETURN(Recovery recovery, Recover(stored, BootstrapMembership(config)));
  constexpr uint32_t kTickMs = 10;  // the node shell's tick (server/app)
  const config::RaftConfig& rc = config.raft;
  RaftNodeOptions o;
  o.tick_ms = kTickMs;
  o.raft.id = config.node.id;
  o.raft.election_timeout_ticks = std::max<uint32_t>(1, rc.election_timeout_ms / kTickMs);
  o.raft.heartbeat_ticks = std::max<uint32_t>(1, rc.heartbeat_interval_ms / kTickMs);
  o.raft.pre_vote = rc.pre_vote;
  o.raft.check_quorum = rc.check_quorum;
  o.raft.auto_failover = rc.failover == config::Failover::kAuto;
  o.raft.lease_reads = rc.lease_reads;
  o.raft.max_entries_per_append = rc.max_append_entries;
  o.raft.max_inflight_appends = rc.max_inflight_appends;
  o.raft.snapshot_threshold_entries = rc.snapshot_threshold_entries;
  o.raft.snapshot_trailing_entries = rc.snapshot_trailing_entries;
  switch (rc.replication) {
    case config::Replication::kQuorum: o.raft.replication = ReplicationMode::kQuorum; break;
    case config::Replication::kSync: o.raft.replication = ReplicationMode::kSync; break;
    case config::Replication::kSemiSync: o.raft.replication = ReplicationMode::kSemiSync; break;
    case config::Replication::kAsync: o.raft.replication = ReplicationMode::kAsync; break;
  }
  switch (rc.default_read) {
    case config::ReadLevel::kLinearizable: o.default_read = wire::Consistency::kLinearizable; break;
    case config::ReadLevel::kLeader: o.default_read = wire::Consistency::kLeader; break;
    case config::ReadLevel::kFollower: o.default_read = wire::Consistency::kFollower; break;
    case config::ReadLevel::kSession: o.default_read = wire::Consistency::kSession; break;
  }
  o.session_wait_ticks = rc.session_wait_ms / kTickMs;
  o.forward_writes = rc.follower_writes == config::FollowerWrites::kForward;
  o.expiry_sweep_interval_ms = config.storage.expiry_sweep_interval_ms;
  for (const config::MemberConfig& m : config.cluster.members) {
    o.client_addresses[m.id] = m.client.ToString();
  }
  return std::unique_ptr<topology::Node>(
      std::make_unique<RaftNode>(o, std::move(recovery), seed, stored.applied_membership.empty()));
}

}  // namespace kvd::raft
