#include "server/topology/dynamo/dynamo_node.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "common/bytes.h"
#include "server/kv/kv_store.h"

namespace kvd::topology::dynamo {

namespace {

constexpr uint8_t kHeartbeat = 0x40;  // no body; any message counts as a sign of life
constexpr std::string_view kClockKey = "yc";
constexpr char kHintPrefix[] = "yh";
// A node never heard from since this node started is believed down after this long.
constexpr uint64_t kStartupGraceMs = 3000;
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

Result<ring::Ring> RingFromConfig(const config::Config& config) {
  std::vector<ring::NodeSpec> nodes;
  for (const config::MemberConfig& m : config.cluster.members) {
    nodes.push_back(ring::NodeSpec{m.id, config.dynamo.tokens_per_node, m.zone});
  }
  return ring::Ring::Make(std::move(nodes));
}

DynamoNode::DynamoNode(const config::Config& config, ring::Ring ring,
                       clock::HlcTimestamp clock_floor, Hints hints)
    : config_(config),
      node_id_(config.node.id),
      ring_(std::move(ring)),
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
  quorum_.hint_replay_per_tick =
      std::max<size_t>(1, (d.hint_replay_per_second + kTicksPerSecond - 1) / kTicksPerSecond);
  quorum_.anti_entropy_interval_ms = d.anti_entropy_interval_ms;
  quorum_.merkle_depth = d.merkle_depth;
  quorum_.max_clock_offset_ms = d.max_clock_offset_ms;
  quorum_.limits.max_key_bytes = std::max<uint32_t>(config.limits.max_key_bytes, 1);
  quorum_.limits.max_value_bytes = std::max<uint32_t>(config.limits.max_value_bytes, 1);
  PhiOptions phi;
  phi.threshold = d.phi_threshold;
  phi.first_interval_ms = d.heartbeat_interval_ms;
  phi.min_stddev_ms = std::max<uint64_t>(d.heartbeat_interval_ms / 2, 10);
  phi.acceptable_pause_ms = std::max<uint64_t>(2 * uint64_t{d.heartbeat_interval_ms}, 200);
  for (const ring::NodeSpec& n : ring_.nodes()) {
    if (n.id == node_id_) continue;
    detectors_.emplace(n.id, PhiAccrualDetector(phi));
    alive_[n.id] = true;
  }
}

void DynamoNode::AttachStore(LocalStore* store) {
  coordinator_ = std::make_unique<Coordinator>(node_id_, ring_, quorum_, store, clock_floor_,
                                               std::move(initial_hints_));
  initial_hints_.clear();
}

void DynamoNode::Tick(uint64_t now_ms) {
  KVD_ASSERT_MSG(coordinator_ != nullptr, "DynamoNode: AttachStore was not called");
  ++ticks_;
  now_ms_ = std::max(now_ms_, now_ms);
  if (ticks_ == 1) start_ms_ = now_ms_;
  if (now_ms_ >= next_heartbeat_ms_) {
    next_heartbeat_ms_ = now_ms_ + config_.dynamo.heartbeat_interval_ms;
    for (const auto& [id, detector] : detectors_) {
      (void)detector;
      out_.early_send.push_back(Envelope{id, std::string(1, static_cast<char>(kHeartbeat))});
    }
  }
  UpdateLiveness();
  coordinator_->Tick(now_ms_);
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
  if (it == detectors_.end() || bytes.empty()) {
    ++malformed_;  // not a node of the ring (or nothing at all)
    return;
  }
  it->second.Heartbeat(now_ms_);
  if (!alive_[from]) UpdateLiveness();
  if (static_cast<uint8_t>(bytes[0]) == kHeartbeat) {
    if (bytes.size() != 1) ++malformed_;
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
  Refuse(request.ref, r,
         Status::Unsupported("ADMIN actions (promote, transfer, members, snapshot) are for "
                             "leader_follower; a dynamo ring's state is in STATUS "
                             "(kvctl cluster status, kvctl ring)"));
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
  size_t up = 1;
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
  info.counters["nodes"] = ring_.size();
  for (const config::MemberConfig& m : config_.cluster.members) {
    info.members.push_back(
        MemberInfo{m.id, "replica", m.client.ToString(), m.peer.ToString()});
  }
  info.labels["read_repair"] = std::string(config::ReadRepairName(config_.dynamo.read_repair));
  info.labels["sloppy_quorum"] = config_.dynamo.sloppy_quorum ? "true" : "false";
  info.labels["quorums"] = fmt::format("N={} R={} W={}", quorum_.n, quorum_.r, quorum_.w);
  return info;
}

Result<std::unique_ptr<Node>> MakeDynamoNode(const config::Config& config,
                                             const StoredState& stored) {
  KVD_ASSIGN_OR_RETURN(ring::Ring ring, RingFromConfig(config));
  bool member = false;
  for (const ring::NodeSpec& n : ring.nodes()) member = member || n.id == config.node.id;
  if (!member) {
    return Status::InvalidArgument(fmt::format(
        "node {} is not in cluster.members; a dynamo node must be listed there",
        config.node.id));
  }
  clock::HlcTimestamp floor;
  Hints hints;
  for (const auto& [key, value] : stored.topology_keys) {
    if (key == kClockKey) {
      if (value.size() != 8) return Status::Corruption("dynamo: the stored clock is not 8 bytes");
      floor = clock::HlcTimestamp::FromPacked(GetU64BE(value.data()));
    } else if (key.starts_with(kHintPrefix) && key.size() > 10) {
      hints[GetU64BE(key.data() + 2)][key.substr(10)] = value;
    } else {
      return Status::Corruption(fmt::format("dynamo: unexpected stored key {:?}", key));
    }
  }
  return std::unique_ptr<Node>(
      std::make_unique<DynamoNode>(config, std::move(ring), floor, std::move(hints)));
}

}  // namespace kvd::topology::dynamo
