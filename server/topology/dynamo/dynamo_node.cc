#include "server/topology/dynamo/dynamo_node.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "common/bytes.h"
#include "server/kv/kv_store.h"

namespace kvd::topology::dynamo {

namespace {

constexpr uint8_t kHeartbeat = 0x40;  // u64 digest of the sender's RingState; any message
                                      // counts as a sign of life
constexpr uint8_t kRingStateMsg = 0x41;  // the sender's encoded RingState
constexpr std::string_view kClockKey = "yc";
constexpr char kHintPrefix[] = "yh";
constexpr std::string_view kRingKey = "ym";
constexpr char kPulledPrefix[] = "yd";

std::string PulledKey(uint64_t transition, uint64_t end) {
  std::string k(kPulledPrefix);
  k.resize(18);
  PutU64BE(k.data() + 2, transition);
  PutU64BE(k.data() + 10, end);
  return k;
}
// A node never heard from since this node started is believed down after this long.
constexpr uint64_t kStartupGraceMs = 3000;
// A node that left the ring stays among the peers this long (see PublishMembers).
constexpr uint64_t kDepartedMs = 60'000;
// The shell ticks every 10 ms (server/app): hint_replay_per_second becomes a per-tick budget.
constexpr uint64_t kTicksPerSecond = 100;

std::string HintKey(uint64_t target, std::string_view key) {
  std::string k(kHintPrefix);
  k.resize(k.size() + 8);
  PutU64BE(k.data() + 2, target);
  k.append(key);
  return k;
}

kv::Resolver ResolverOf(const config::DynamoConfig& config, std::string_view key) {
  return config::ResolverFor(config.resolvers, key) == config::ResolverKind::kSiblings
             ? kv::Resolver::kSiblings
             : kv::Resolver::kLww;
}

}  // namespace

std::string_view MemberStatusName(MemberStatus s) {
  switch (s) {
    case MemberStatus::kNormal: return "normal";
    case MemberStatus::kJoining: return "joining";
    case MemberStatus::kLeaving: return "leaving";
  }
  return "unknown";
}

std::string RingState::Encode() const {
  std::string out;
  ByteWriter w(&out);
  w.U8(1);  // format version
  w.U64(version);
  w.U64(transition);
  w.U8(paused ? 1 : 0);
  w.U32(static_cast<uint32_t>(members.size()));
  for (const RingMember& m : members) {
    w.U64(m.id);
    w.Bytes(m.client);
    w.Bytes(m.peer);
    w.Bytes(m.zone);
    w.U8(static_cast<uint8_t>(m.status));
  }
  w.U32(static_cast<uint32_t>(streamed.size()));
  for (uint64_t id : streamed) w.U64(id);
  return out;
}

Result<RingState> RingState::Decode(std::string_view bytes) {
  ByteReader r(bytes);
  RingState st;
  uint8_t format = 0, paused = 0;
  uint32_t n = 0;
  if (!r.U8(&format) || format != 1 || !r.U64(&st.version) || !r.U64(&st.transition) ||
      !r.U8(&paused) || paused > 1 || !r.U32(&n) || n > ring::kMaxNodes) {
    return Status::Corruption("dynamo ring state: bad header");
  }
  st.paused = paused == 1;
  for (uint32_t i = 0; i < n; ++i) {
    RingMember m;
    std::string_view client, peer, zone;
    uint8_t status = 0;
    if (!r.U64(&m.id) || !r.Bytes(&client, 1024) || !r.Bytes(&peer, 1024) ||
        !r.Bytes(&zone, 1024) || !r.U8(&status) || status < 1 || status > 3) {
      return Status::Corruption("dynamo ring state: a member does not decode");
    }
    m.client = client;
    m.peer = peer;
    m.zone = zone;
    m.status = static_cast<MemberStatus>(status);
    st.members.push_back(std::move(m));
  }
  if (!r.U32(&n) || n > ring::kMaxNodes) return Status::Corruption("dynamo ring state: bad set");
  for (uint32_t i = 0; i < n; ++i) {
    uint64_t id = 0;
    if (!r.U64(&id)) return Status::Corruption("dynamo ring state: truncated");
    st.streamed.insert(id);
  }
  if (!r.done()) return Status::Corruption("dynamo ring state: trailing bytes");
  return st;
}

const RingMember* RingState::Find(uint64_t id) const {
  for (const RingMember& m : members) {
    if (m.id == id) return &m;
  }
  return nullptr;
}

namespace {
ring::Ring RingOf(const RingState& st, uint32_t tokens, MemberStatus skip) {
  std::vector<ring::NodeSpec> nodes;
  for (const RingMember& m : st.members) {
    if (m.status != skip) nodes.push_back(ring::NodeSpec{m.id, tokens, m.zone});
  }
  if (nodes.empty()) return ring::Ring();
  Result<ring::Ring> r = ring::Ring::Make(std::move(nodes));
  return r.ok() ? std::move(r).value() : ring::Ring();
}
}  // namespace

ring::Ring RingState::ReadRing(uint32_t tokens) const {
  return RingOf(*this, tokens, MemberStatus::kJoining);
}
ring::Ring RingState::WriteRing(uint32_t tokens) const {
  return RingOf(*this, tokens, MemberStatus::kLeaving);
}

RingState RingStateFromConfig(const config::Config& config) {
  RingState st;
  for (const config::MemberConfig& m : config.cluster.members) {
    if (config.cluster.join && m.id == config.node.id) continue;  // added by a join
    st.members.push_back(RingMember{m.id, m.client.ToString(), m.peer.ToString(), m.zone,
                                    MemberStatus::kNormal});
  }
  std::sort(st.members.begin(), st.members.end(),
            [](const RingMember& a, const RingMember& b) { return a.id < b.id; });
  return st;
}

Result<ring::Ring> RingFromConfig(const config::Config& config) {
  std::vector<ring::NodeSpec> nodes;
  for (const config::MemberConfig& m : config.cluster.members) {
    nodes.push_back(ring::NodeSpec{m.id, config.dynamo.tokens_per_node, m.zone});
  }
  return ring::Ring::Make(std::move(nodes));
}

DynamoNode::DynamoNode(const config::Config& config, RingState state,
                       clock::HlcTimestamp clock_floor, Hints hints, std::set<uint64_t> pulled)
    : config_(config),
      node_id_(config.node.id),
      state_(std::move(state)),
      pulled_(std::move(pulled)),
      clock_floor_(clock_floor),
      initial_hints_(std::move(hints)),
      persisted_clock_(clock_floor.packed()) {
  const config::DynamoConfig& d = config.dynamo;
  quorum_.n = d.replicas;
  quorum_.r = config::QuorumCount(d.read_quorum, d.replicas);
  quorum_.w = config::QuorumCount(d.write_quorum, d.replicas);
  quorum_.request_timeout_ms = d.request_timeout_ms;
  quorum_.repair_before_reply = d.read_repair == config::ReadRepair::kBeforeReply;
  quorum_.sloppy_quorum = d.sloppy_quorum;
  quorum_.max_hints_per_target = d.max_hints_per_target;
  quorum_.max_hint_bytes_per_target = d.max_hint_bytes_per_target;
  quorum_.max_hint_age_ms = d.hint_max_age_ms;
  quorum_.hint_replay_per_tick =
      std::max<size_t>(1, (d.hint_replay_per_second + kTicksPerSecond - 1) / kTicksPerSecond);
  quorum_.anti_entropy_interval_ms = d.anti_entropy_interval_ms;
  quorum_.merkle_depth = d.merkle_depth;
  quorum_.max_clock_offset_ms = d.max_clock_offset_ms;
  quorum_.tombstone_grace_ms = d.tombstone_grace_ms;
  quorum_.limits.max_key_bytes = std::max<uint32_t>(config.limits.max_key_bytes, 1);
  quorum_.limits.max_value_bytes = std::max<uint32_t>(config.limits.max_value_bytes, 1);
  PhiOptions phi;
  phi.threshold = d.phi_threshold;
  phi.first_interval_ms = d.heartbeat_interval_ms;
  phi.min_stddev_ms = std::max<uint64_t>(d.heartbeat_interval_ms / 2, 10);
  phi.acceptable_pause_ms = std::max<uint64_t>(2 * uint64_t{d.heartbeat_interval_ms}, 200);
  phi_ = phi;
}

void DynamoNode::AttachStore(LocalStore* store) {
  coordinator_ = std::make_unique<Coordinator>(
      node_id_, state_.ReadRing(config_.dynamo.tokens_per_node), quorum_, store, clock_floor_,
      std::move(initial_hints_));
  initial_hints_.clear();
  ApplyRings();
  // Connect to every member of the stored ring (it may differ from cluster.members).
  PublishMembers();
}

void DynamoNode::ApplyRings() {
  const uint32_t tokens = config_.dynamo.tokens_per_node;
  ring::Ring read = state_.ReadRing(tokens);
  ring::Ring write = state_.WriteRing(tokens);
  if (read.empty()) read = write;
  if (write.empty()) write = read;
  coordinator_->SetRings(std::move(read), std::move(write), pulled_);
  coordinator_->PauseStreaming(state_.paused);
  // Watch every other member; forget those that left.
  for (const RingMember& m : state_.members) {
    if (m.id == node_id_ || detectors_.count(m.id) != 0) continue;
    detectors_.emplace(m.id, PhiAccrualDetector(phi_));
    alive_[m.id] = true;
  }
  for (auto it = detectors_.begin(); it != detectors_.end();) {
    if (state_.Find(it->first) == nullptr) {
      alive_.erase(it->first);
      it = detectors_.erase(it);
    } else {
      ++it;
    }
  }
}

uint64_t DynamoNode::Digest() const { return ring::Hash64(state_.Encode()); }

void DynamoNode::Adopt(RingState next, bool announce) {
  if (next == state_) return;
  const bool members_differ = [&] {
    if (next.members.size() != state_.members.size()) return true;
    for (size_t i = 0; i < next.members.size(); ++i) {
      if (next.members[i].id != state_.members[i].id ||
          next.members[i].peer != state_.members[i].peer) {
        return true;
      }
    }
    return false;
  }();
  if (next.transition != state_.transition) {
    // Ranges pulled belong to one transition: drop the record of the previous one.
    for (uint64_t end : pulled_) {
      out_.storage.push_back(StorageOp{true, PulledKey(state_.transition, end), ""});
    }
    pulled_.clear();
  }
  const bool was_member = state_.Find(node_id_) != nullptr;
  for (const RingMember& m : state_.members) {
    if (m.id != node_id_ && next.Find(m.id) == nullptr) {
      departed_[m.id] = Departed{MemberEndpoint{m.id, m.client, m.peer}, now_ms_};
    }
  }
  for (const RingMember& m : next.members) departed_.erase(m.id);
  out_.events.push_back(fmt::format("ring version {} -> {}: {}", state_.version, next.version,
                                    [&] {
                                      std::vector<std::string> parts;
                                      for (const RingMember& m : next.members) {
                                        parts.push_back(fmt::format(
                                            "{}{}", m.id,
                                            m.status == MemberStatus::kNormal
                                                ? ""
                                                : fmt::format(" ({})", MemberStatusName(m.status))));
                                      }
                                      return fmt::format("{}", fmt::join(parts, ", "));
                                    }()));
  state_ = std::move(next);
  state_dirty_ = true;
  if (was_member && state_.Find(node_id_) == nullptr) {
    out_.events.push_back(fmt::format(
        "node {} left the ring (decommissioned): it holds no data for the ring now; stop it",
        node_id_));
  }
  ApplyRings();
  if (members_differ) PublishMembers();
  if (announce) {
    const std::string bytes = std::string(1, static_cast<char>(kRingStateMsg)) + state_.Encode();
    for (const RingMember& m : state_.members) {
      if (m.id != node_id_) out_.send.push_back(Envelope{m.id, bytes});
    }
    // A node that just left learns it from this state too.
    for (const auto& [id, d] : departed_) out_.send.push_back(Envelope{id, bytes});
  }
}

void DynamoNode::PublishMembers() {
  // Every member, and for a while the nodes that left (so that a node decommissioned while
  // it was not listening still hears that it is out).
  out_.members_changed = true;
  out_.members.clear();
  for (const RingMember& m : state_.members) {
    if (m.id != node_id_) out_.members.push_back(MemberEndpoint{m.id, m.client, m.peer});
  }
  for (const auto& [id, d] : departed_) out_.members.push_back(d.endpoint);
}

void DynamoNode::OnRingMessage(uint64_t from, std::string_view body) {
  Result<RingState> theirs = RingState::Decode(body);
  if (!theirs.ok()) {
    ++malformed_;
    return;
  }
  RingState next = std::move(theirs).value();
  if (next.version < state_.version) {
    // Behind: tell it ours.
    out_.send.push_back(Envelope{from, std::string(1, static_cast<char>(kRingStateMsg)) + state_.Encode()});
    return;
  }
  const bool same_change = next.transition != 0 && next.transition == state_.transition;
  if (same_change) next.streamed.insert(state_.streamed.begin(), state_.streamed.end());
  if (next.version == state_.version && !same_change) {
    // Two different states at one version: two changes made at once at two nodes (two
    // operators), or nodes started with different cluster.members. Every node keeps the
    // one whose encoding hashes lower, so all agree (and no two nodes hand a pair back and
    // forth); the other change is dropped and shows as never made in kvctl node status.
    if (next.version == 0 && !warned_config_) {
      warned_config_ = true;
      out_.events.push_back(fmt::format(
          "node {} started from another ring than this node (version 0 differs): check that "
          "every node lists the same cluster.members; the ring whose encoding hashes lower is "
          "kept",
          from));
    }
    if (ring::Hash64(next.Encode()) >= Digest()) return;
  }
  const bool grew = next.streamed != state_.streamed;
  Adopt(std::move(next), grew);
  CheckTransition();
}

void DynamoNode::CheckTransition() {
  if (state_.transition == 0 || coordinator_ == nullptr) return;
  if (gainers_version_ != state_.version) {  // the rings changed: compute them again
    const uint32_t tokens = config_.dynamo.tokens_per_node;
    const ring::Ring read = state_.ReadRing(tokens);
    const ring::Ring write = state_.WriteRing(tokens);
    gainers_ = read.empty() ? std::set<uint64_t>{} : Gainers(read, write, quorum_.n);
    gainers_version_ = state_.version;
  }
  const std::set<uint64_t>& gainers = gainers_;
  // This node finished pulling: say so.
  if (gainers.count(node_id_) != 0 && state_.streamed.count(node_id_) == 0 &&
      coordinator_->stream_stats().done()) {
    RingState next = state_;
    next.streamed.insert(node_id_);
    Adopt(std::move(next), /*announce=*/true);
  }
  for (uint64_t g : gainers) {
    if (state_.streamed.count(g) == 0) return;
  }
  // Every gainer has its ranges: finish the change, the same way on every node.
  RingState next = state_;
  ++next.version;
  next.transition = 0;
  next.paused = false;
  next.streamed.clear();
  std::erase_if(next.members, [](const RingMember& m) { return m.status == MemberStatus::kLeaving; });
  for (RingMember& m : next.members) m.status = MemberStatus::kNormal;
  Adopt(std::move(next), /*announce=*/true);
}

Status DynamoNode::ChangeRing(const wire::AdminRequest& req, RingState* next) const {
  *next = state_;
  const uint64_t id = req.node_id;
  const auto busy = [&] {
    std::string what;
    for (const RingMember& m : state_.members) {
      if (m.status != MemberStatus::kNormal) {
        what = fmt::format("node {} is {}", m.id, MemberStatusName(m.status));
      }
    }
    return Status::Unavailable(fmt::format(
        "a ring change is under way ({}): one at a time; follow it with kvctl node status",
        what));
  };
  switch (req.action) {
    case wire::AdminAction::kAddLearner: {
      if (state_.Find(id) != nullptr) {
        return Status::InvalidArgument(fmt::format("node {} is already in the ring", id));
      }
      if (state_.transition != 0) return busy();
      for (const RingMember& m : state_.members) {
        if (m.client == req.client_address || m.peer == req.peer_address) {
          return Status::InvalidArgument(fmt::format(
              "node {} already uses {} or {}", m.id, req.client_address, req.peer_address));
        }
      }
      next->members.push_back(
          RingMember{id, req.client_address, req.peer_address, "", MemberStatus::kJoining});
      std::sort(next->members.begin(), next->members.end(),
                [](const RingMember& a, const RingMember& b) { return a.id < b.id; });
      break;
    }
    case wire::AdminAction::kRemoveMember: {
      const RingMember* m = state_.Find(id);
      if (m == nullptr) return Status::InvalidArgument(fmt::format("node {} is not in the ring", id));
      if (state_.transition != 0) return busy();
      size_t remaining = 0;
      for (const RingMember& other : state_.members) remaining += other.id != id ? 1 : 0;
      if (remaining < quorum_.n) {
        return Status::InvalidArgument(fmt::format(
            "decommissioning node {} would leave {} nodes, fewer than dynamo.replicas ({})", id,
            remaining, quorum_.n));
      }
      for (RingMember& nm : next->members) {
        if (nm.id == id) nm.status = MemberStatus::kLeaving;
      }
      break;
    }
    case wire::AdminAction::kPauseStreams:
    case wire::AdminAction::kResumeStreams: {
      if (state_.transition == 0) {
        return Status::InvalidArgument("no ring change is under way: nothing to pause or resume");
      }
      const bool pause = req.action == wire::AdminAction::kPauseStreams;
      if (state_.paused == pause) {
        return Status::InvalidArgument(pause ? "streaming is already paused"
                                             : "streaming is not paused");
      }
      next->paused = pause;
      ++next->version;
      return Status::Ok();
    }
    default:
      return Status::Unsupported(fmt::format(
          "ADMIN {} is for leader_follower; a dynamo ring takes add_learner (join), "
          "remove_member (decommission), pause_streams, resume_streams, repair and "
          "repair_dry_run",
          wire::AdminActionName(req.action)));
  }
  ++next->version;
  next->transition = next->version;
  next->streamed.clear();
  next->paused = false;
  return Status::Ok();
}

std::string DynamoNode::RingJson() const {
  std::vector<std::string> members;
  for (const RingMember& m : state_.members) {
    members.push_back(fmt::format(R"({{"id":{},"status":"{}"}})", m.id, MemberStatusName(m.status)));
  }
  return fmt::format(R"({{"ring_version":{},"transition":{},"paused":{},"members":[{}]}})",
                     state_.version, state_.transition, state_.paused ? "true" : "false",
                     fmt::join(members, ","));
}

void DynamoNode::Tick(uint64_t now_ms) {
  KVD_ASSERT_MSG(coordinator_ != nullptr, "DynamoNode: AttachStore was not called");
  ++ticks_;
  now_ms_ = std::max(now_ms_, now_ms);
  if (ticks_ == 1) start_ms_ = now_ms_;
  if (now_ms_ >= next_heartbeat_ms_) {
    next_heartbeat_ms_ = now_ms_ + config_.dynamo.heartbeat_interval_ms;
    std::string beat;
    ByteWriter w(&beat);
    w.U8(kHeartbeat);
    w.U64(Digest());
    for (const auto& [id, detector] : detectors_) {
      (void)detector;
      out_.early_send.push_back(Envelope{id, beat});
    }
  }
  UpdateLiveness();
  coordinator_->Tick(now_ms_);
  CheckTransition();
  if (std::erase_if(departed_, [&](const auto& d) {
        return now_ms_ >= d.second.removed_ms + kDepartedMs;
      }) > 0) {
    PublishMembers();
  }
}

void DynamoNode::UpdateLiveness() {
  for (auto& [id, detector] : detectors_) {
    bool up = detector.Available(now_ms_);
    if (!detector.last_heartbeat_ms() && now_ms_ >= start_ms_ + kStartupGraceMs) up = false;
    bool& was = alive_[id];
    if (up == was) continue;
    was = up;
    coordinator_->SetAlive(id, up);
    if (up) {
      out_.events.push_back(fmt::format("node {} is up", id));
    } else if (detector.last_heartbeat_ms()) {
      out_.events.push_back(fmt::format("node {} is down: nothing heard for {} ms (phi {:.1f})",
                                        id, now_ms_ - *detector.last_heartbeat_ms(),
                                        detector.Phi(now_ms_)));
    } else {
      out_.events.push_back(
          fmt::format("node {} is down: nothing heard since this node started", id));
    }
  }
}

void DynamoNode::OnPeerMessage(uint64_t from, std::string_view bytes) {
  auto it = detectors_.find(from);
  if (it == detectors_.end() && departed_.count(from) != 0 && !bytes.empty() &&
      static_cast<uint8_t>(bytes[0]) == kHeartbeat) {
    // A node that left the ring and still thinks it is in: tell it.
    out_.send.push_back(
        Envelope{from, std::string(1, static_cast<char>(kRingStateMsg)) + state_.Encode()});
    return;
  }
  if (it == detectors_.end() || bytes.empty()) {
    ++malformed_;  // not a node of the ring (or nothing at all)
    return;
  }
  it->second.Heartbeat(now_ms_);
  if (!alive_[from]) UpdateLiveness();
  const uint8_t type = static_cast<uint8_t>(bytes[0]);
  if (type == kHeartbeat) {
    ByteReader r(bytes.substr(1));
    uint64_t digest = 0;
    if (!r.U64(&digest) || !r.done()) {
      ++malformed_;
      return;
    }
    // Our ring states differ: send ours (the peer adopts it if newer, or answers with its
    // own if ours is older).
    if (digest != Digest()) {
      out_.send.push_back(
          Envelope{from, std::string(1, static_cast<char>(kRingStateMsg)) + state_.Encode()});
    }
    return;
  }
  if (type == kRingStateMsg) {
    OnRingMessage(from, bytes.substr(1));
    return;
  }
  coordinator_->OnMessage(from, bytes, now_ms_);
}

void DynamoNode::Refuse(const ClientRef& ref, const wire::Request& r, const Status& s) {
  ++refused_;
  out_.replies.push_back(Reply{ref, wire::Response::Error(r.request_id, r.opcode(), s)});
}

void DynamoNode::Answer(const ClientRef& ref, wire::Response response) {
  ApplyItem item;
  item.kind = ApplyKind::kAnswer;
  item.ref = ref;
  item.now_ms = now_ms_;
  item.response = std::move(response);
  out_.apply.push_back(std::move(item));
}

void DynamoNode::OnClientRequest(ClientRequest req) {
  KVD_ASSERT_MSG(coordinator_ != nullptr, "DynamoNode: AttachStore was not called");
  now_ms_ = std::max(now_ms_, req.arrival_ms);
  const wire::Request& r = req.request;
  const wire::Opcode op = r.opcode();
  if (wire::IsDataOpcode(op) && state_.Find(node_id_) == nullptr) {
    // Not in the ring (decommissioned, or not joined yet): this node coordinates nothing.
    // NOT_LEADER with a member's address sends clients there (nothing was done here).
    wire::Response resp = wire::Response::Error(
        r.request_id, op,
        Status::NotLeader(fmt::format("node {} is not a member of the ring (decommissioned, or "
                                      "not joined yet); send requests to a member",
                                      node_id_)));
    for (const RingMember& m : state_.members) {
      if (m.status == MemberStatus::kNormal && !m.client.empty()) {
        resp.detail.leader_hint = m.client;
        break;
      }
    }
    ++refused_;
    out_.replies.push_back(Reply{req.ref, std::move(resp)});
    return;
  }
  ClientOp cop;
  switch (op) {
    case wire::Opcode::kGet:
    case wire::Opcode::kGets: {
      if (r.options.consistency == wire::Consistency::kLinearizable ||
          r.options.consistency == wire::Consistency::kLeader) {
        return Refuse(req.ref, r,
                      Status::Unsupported(
                          "dynamo cannot serve linearizable or leader reads: no node orders "
                          "every write of a key; read at default consistency with a read "
                          "quorum (R + W > N reads every acknowledged write)"));
      }
      cop.kind = OpKind::kGet;
      cop.key = op == wire::Opcode::kGet ? std::get<wire::GetRequest>(r.body).key
                                         : std::get<wire::GetsRequest>(r.body).key;
      break;
    }
    case wire::Opcode::kPut: {
      const auto& p = std::get<wire::PutRequest>(r.body);
      if (p.ttl_ms != 0) {
        return Refuse(req.ref, r,
                      Status::Unsupported("dynamo does not offer TTLs yet (ttl_ms must be 0)"));
      }
      cop.kind = OpKind::kPut;
      cop.key = p.key;
      cop.value = p.value;
      break;
    }
    case wire::Opcode::kDelete:
      cop.kind = OpKind::kDelete;
      cop.key = std::get<wire::DeleteRequest>(r.body).key;
      break;
    case wire::Opcode::kCas:
      return Refuse(req.ref, r,
                    Status::Unsupported(
                        "CAS needs one writer per key, and in dynamo any replica takes writes: "
                        "use node.mode leader_follower, or a siblings key (GETS, then PUT with "
                        "its context)"));
    case wire::Opcode::kBatch:
      return Refuse(req.ref, r,
                    Status::Unsupported("BATCH is not offered by dynamo: its keys live on "
                                        "different replicas and could not change atomically"));
    case wire::Opcode::kScan:
      return Refuse(req.ref, r,
                    Status::Unsupported("SCAN is not offered by dynamo: keys are spread over "
                                        "the ring by hash, in no order"));
    default:
      return Refuse(req.ref, r,
                    Status::Unsupported(fmt::format(
                        "{} is not offered by dynamo (dynamo.resolvers has lww and siblings keys: "
                        "GET, GETS, PUT, DELETE)",
                        wire::OpcodeName(op))));
  }
  cop.resolver = ResolverOf(config_.dynamo, cop.key);
  if (!r.options.context.empty()) {
    if (cop.resolver != kv::Resolver::kSiblings) {
      return Refuse(req.ref, r,
                    Status::InvalidArgument(fmt::format(
                        "option context resolves siblings, and key '{}' is a {} key "
                        "(dynamo.resolvers)",
                        cop.key, kv::ResolverName(cop.resolver))));
    }
    Result<clock::VersionVector> ctx = kv::DecodeContext(r.options.context);
    if (!ctx.ok()) return Refuse(req.ref, r, ctx.status());
    cop.context = std::move(ctx).value();
  }
  const size_t n = quorum_.n;
  if (r.options.read_quorum != 0) cop.r = config::QuorumCount(r.options.read_quorum, config_.dynamo.replicas);
  if (r.options.write_quorum != 0) cop.w = config::QuorumCount(r.options.write_quorum, config_.dynamo.replicas);
  for (auto [value, name] : {std::pair{r.options.read_quorum, "read_quorum"},
                             std::pair{r.options.write_quorum, "write_quorum"}}) {
    if (value != 0 && value <= 16 && value > n) {
      return Refuse(req.ref, r,
                    Status::InvalidArgument(fmt::format(
                        "option {} is {}, more than the {} replicas of a key (dynamo.replicas); "
                        "expected 1..{}, quorum or all",
                        name, value, n, n)));
    }
  }
  cop.id = next_op_++;
  waiting_.emplace(cop.id, Waiting{req.ref, std::move(req.request)});
  coordinator_->Client(std::move(cop), now_ms_);
}

void DynamoNode::OnResult(ClientResult result) {
  auto it = waiting_.find(result.id);
  if (it == waiting_.end()) return;
  Waiting w = std::move(it->second);
  waiting_.erase(it);
  const wire::Request& r = w.request;
  if (!result.status.ok()) {
    Answer(w.ref, wire::Response::Error(r.request_id, r.opcode(), result.status));
    return;
  }
  if (result.sloppy) ++sloppy_writes_;
  wire::Response resp;
  resp.request_id = r.request_id;
  resp.opcode = r.opcode();
  switch (r.opcode()) {
    case wire::Opcode::kGet:
    case wire::Opcode::kGets: {
      const kv::Resolver resolver = ResolverOf(config_.dynamo, kv::ReplicatedReadKey(r));
      resp = kv::ReplicatedReadResponse(r, resolver, result.state, config_.limits.max_frame_bytes,
                                        "dynamo.resolvers");
      break;
    }
    case wire::Opcode::kPut: resp.body = wire::PutResponse{result.change.hlc.packed()}; break;
    case wire::Opcode::kDelete: resp.body = wire::DeleteResponse{result.existed}; break;
    default: KVD_PANIC("DynamoNode: a result for a request it does not send");
  }
  Answer(w.ref, std::move(resp));
}

void DynamoNode::OnAdminRequest(ClientRequest request) {
  const wire::Request& r = request.request;
  const auto& admin = std::get<wire::AdminRequest>(r.body);
  if (admin.action == wire::AdminAction::kRepair ||
      admin.action == wire::AdminAction::kRepairDryRun) {
    const bool dry_run = admin.action == wire::AdminAction::kRepairDryRun;
    if (Status s = coordinator_->StartRepair(dry_run); !s.ok()) return Refuse(request.ref, r, s);
    wire::Response resp;
    resp.request_id = r.request_id;
    resp.opcode = wire::Opcode::kAdmin;
    resp.body = wire::AdminResponse{
        fmt::format(R"({{"node_id":{},"repair":"started","dry_run":{},"pairs":{}}})", node_id_,
                    dry_run ? "true" : "false", coordinator_->repair_stats().pairs_total)};
    out_.replies.push_back(Reply{request.ref, std::move(resp)});
    return;
  }
  RingState next;
  if (Status s = ChangeRing(admin, &next); !s.ok()) return Refuse(request.ref, r, s);
  Adopt(std::move(next), /*announce=*/true);
  wire::Response resp;
  resp.request_id = r.request_id;
  resp.opcode = wire::Opcode::kAdmin;
  resp.body = wire::AdminResponse{RingJson()};
  Answer(request.ref, std::move(resp));  // once the new state is durable here
}

Output DynamoNode::TakeOutput() {
  if (coordinator_ != nullptr) {
    CoordinatorOutput co = coordinator_->TakeOutput();
    // Stored states first: the answers below are applied after them, in the same group.
    std::vector<ApplyItem> answers = std::move(out_.apply);
    out_.apply.clear();
    for (StateWrite& w : co.writes) {
      ApplyItem item;
      item.kind = ApplyKind::kStoreState;
      item.now_ms = now_ms_;
      item.reply = false;
      item.change.key = std::move(w.key);
      item.state = std::move(w.state);
      out_.apply.push_back(std::move(item));
    }
    for (ApplyItem& a : answers) out_.apply.push_back(std::move(a));
    for (HintWrite& h : co.hints) {
      StorageOp op;
      op.key = HintKey(h.target, h.key);
      op.is_delete = h.state.empty();
      op.value = std::move(h.state);
      out_.storage.push_back(std::move(op));
    }
    const uint64_t clock = coordinator_->clock_last().packed();
    if (clock != persisted_clock_ && !co.writes.empty()) {
      std::string v(8, '\0');
      PutU64BE(v.data(), clock);
      out_.storage.push_back(StorageOp{false, std::string(kClockKey), std::move(v)});
      persisted_clock_ = clock;
    }
    for (Envelope& e : co.send) out_.send.push_back(std::move(e));
    for (ClientResult& res : co.results) OnResult(std::move(res));
    for (uint64_t end : coordinator_->TakeFinishedRanges()) {
      if (state_.transition == 0) continue;
      pulled_.insert(end);
      out_.storage.push_back(StorageOp{false, PulledKey(state_.transition, end), ""});
    }
  }
  if (state_dirty_) {
    state_dirty_ = false;
    out_.storage.push_back(StorageOp{false, std::string(kRingKey), state_.Encode()});
  }
  Output out = std::move(out_);
  out_ = Output{};
  return out;
}

NodeInfo DynamoNode::Inspect() const {
  NodeInfo info;
  info.mode = "dynamo";
  info.role = "replica";
  info.node_id = node_id_;
  info.ticks = ticks_;
  if (coordinator_ != nullptr) info.counters = coordinator_->Counters();
  info.counters["requests_refused_total"] = refused_;
  info.counters["sloppy_writes_total"] = sloppy_writes_;
  info.counters["peer_messages_dropped_total"] = malformed_;
  info.counters["replicas"] = quorum_.n;
  info.counters["read_quorum"] = quorum_.r;
  info.counters["write_quorum"] = quorum_.w;
  info.counters["tokens_per_node"] = config_.dynamo.tokens_per_node;
  info.counters["ring_version"] = state_.version;
  info.counters["ring_transition"] = state_.transition;
  info.labels["ring_paused"] = state_.paused ? "true" : "false";
  info.labels["ring_streamed"] = fmt::format("{}", fmt::join(state_.streamed, ","));
  if (coordinator_ != nullptr) {
    // A dry-run repair's findings: "range end token@replica", at most 200.
    std::vector<std::string> differing;
    for (const auto& [end, peer] : coordinator_->repair_stats().differing) {
      if (differing.size() == 200) break;
      differing.push_back(fmt::format("{}@{}", end, peer));
    }
    info.labels["repair_differing"] = fmt::format("{}", fmt::join(differing, ","));
  }
  size_t up = state_.Find(node_id_) != nullptr ? 1 : 0;
  for (const auto& [id, detector] : detectors_) {
    PeerInfo p;
    p.id = id;
    p.role = "replica";
    const bool alive = alive_.at(id);
    if (alive) ++up;
    p.state = alive ? "up" : "down";
    if (detector.last_heartbeat_ms() && now_ms_ >= *detector.last_heartbeat_ms()) {
      p.ms_since_contact = now_ms_ - *detector.last_heartbeat_ms();
    }
    info.peers.push_back(p);
  }
  info.counters["nodes_up"] = up;
  info.counters["nodes"] = state_.members.size();
  for (const RingMember& m : state_.members) {
    info.members.push_back(
        MemberInfo{m.id, std::string(MemberStatusName(m.status)), m.client, m.peer, m.zone});
  }
  info.labels["read_repair"] = std::string(config::ReadRepairName(config_.dynamo.read_repair));
  info.labels["sloppy_quorum"] = config_.dynamo.sloppy_quorum ? "true" : "false";
  info.labels["quorums"] = fmt::format("N={} R={} W={}", quorum_.n, quorum_.r, quorum_.w);
  return info;
}

Result<std::unique_ptr<Node>> MakeDynamoNode(const config::Config& config,
                                             const StoredState& stored) {
  KVD_ASSIGN_OR_RETURN(ring::Ring from_config, RingFromConfig(config));
  bool member = false;
  for (const ring::NodeSpec& n : from_config.nodes()) member = member || n.id == config.node.id;
  if (!member) {
    return Status::InvalidArgument(fmt::format(
        "node {} is not in cluster.members; a dynamo node must be listed there (with "
        "cluster.join: true when it joins a running ring)",
        config.node.id));
  }
  clock::HlcTimestamp floor;
  Hints hints;
  std::optional<RingState> ring_state;
  std::map<uint64_t, std::set<uint64_t>> pulled;  // by transition
  for (const auto& [key, value] : stored.topology_keys) {
    if (key == kRingKey) {
      Result<RingState> st = RingState::Decode(value);
      if (!st.ok()) return st.status();
      ring_state = std::move(st).value();
    } else if (key.starts_with(kPulledPrefix) && key.size() == 18) {
      pulled[GetU64BE(key.data() + 2)].insert(GetU64BE(key.data() + 10));
    } else if (key == kClockKey) {
      if (value.size() != 8) return Status::Corruption("dynamo: the stored clock is not 8 bytes");
      floor = clock::HlcTimestamp::FromPacked(GetU64BE(value.data()));
    } else if (key.starts_with(kHintPrefix) && key.size() > 10) {
      hints[GetU64BE(key.data() + 2)][key.substr(10)] = value;
    } else {
      return Status::Corruption(fmt::format("dynamo: unexpected stored key {:?}", key));
    }
  }
  RingState state = ring_state ? std::move(*ring_state) : RingStateFromConfig(config);
  std::set<uint64_t> done = pulled[state.transition];
  return std::unique_ptr<Node>(std::make_unique<DynamoNode>(config, std::move(state), floor,
                                                            std::move(hints), std::move(done)));
}

}  // namespace kvd::topology::dynamo
