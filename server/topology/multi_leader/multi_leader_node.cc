#include "server/topology/multi_leader/multi_leader_node.h"

#include <algorithm>

#include <fmt/format.h>

namespace kvd::topology::multi_leader {

kv::Resolver ToResolver(config::ResolverKind kind) {
  switch (kind) {
    case config::ResolverKind::kLww: return kv::Resolver::kLww;
    case config::ResolverKind::kSiblings: return kv::Resolver::kSiblings;
    case config::ResolverKind::kCounter: return kv::Resolver::kCounter;
    case config::ResolverKind::kSet: return kv::Resolver::kSet;
  }
  return kv::Resolver::kLww;
}

namespace {

const std::string& KeyOf(const wire::Request& r) {
  static const std::string kNone;
  return std::visit(
      [](const auto& body) -> const std::string& {
        using T = std::decay_t<decltype(body)>;
        if constexpr (requires { body.key; }) {
          return body.key;
        } else {
          (void)sizeof(T);
          return kNone;
        }
      },
      r.body);
}

// What each resolver's keys are changed with, for error messages.
std::string_view ChangedWith(kv::Resolver r) {
  switch (r) {
    case kv::Resolver::kLww: return "PUT and DELETE";
    case kv::Resolver::kSiblings: return "PUT and DELETE (with the context of a GETS)";
    case kv::Resolver::kCounter: return "INCR";
    case kv::Resolver::kSet: return "SADD and SREM";
  }
  return "";
}

}  // namespace

MultiLeaderNode::MultiLeaderNode(const config::Config& config, Replicator replicator)
    : config_(config.multi_leader),
      node_id_(config.node.id),
      leader_(config::LeaderOf(config.multi_leader, config.node.id)),
      replicator_(std::move(replicator)) {
  for (const config::MemberConfig& m : config.cluster.members) {
    const bool follower = config::LeaderOf(config_, m.id) != 0;
    members_.push_back(MemberInfo{m.id, follower ? "follower" : "leader", m.client.ToString(),
                                  m.peer.ToString(), ""});
    if (m.id == leader_) leader_client_ = m.client.ToString();
  }
}

void MultiLeaderNode::Reply(const ClientRef& ref, uint64_t request_id, wire::Opcode op,
                            const Status& status) {
  out_.replies.push_back(topology::Reply{ref, wire::Response::Error(request_id, op, status)});
}

std::string MultiLeaderNode::SessionToken() const {
  std::string out;
  ByteWriter w(&out);
  replicator_.progress().Encode(&w);
  return out;
}

void MultiLeaderNode::Tick(uint64_t now_ms) {
  now_ms_ = std::max(now_ms_, now_ms);
  ++ticks_;
  replicator_.Tick(now_ms_);
  if (now_ms_ >= next_collect_ms_) {
    next_collect_ms_ = now_ms_ + config_.stability_interval_ms;
    if (std::optional<kv::Stability> stable = replicator_.TakeCollection()) {
      ApplyItem item;
      item.kind = ApplyKind::kCollect;
      item.reply = false;
      item.now_ms = now_ms_;
      item.stability = std::move(*stable);
      item.grace_ms = config_.tombstone_grace_ms;
      out_.apply.push_back(std::move(item));
    }
  }
  while (!waiting_.empty() && waiting_.front().deadline_ms <= now_ms_) {
    WaitingRead& w = waiting_.front();
    ++session_timeouts_;
    Reply(w.request.ref, w.request.request.request_id, w.request.request.opcode(),
          Status::Unavailable(fmt::format(
              "this node has not yet applied the writes your session token names (waited {} "
              "ms, multi_leader.session_wait_ms): retry, or read from the node you wrote to",
              config_.session_wait_ms)));
    waiting_.pop_front();
  }
}

void MultiLeaderNode::OnClientRequest(ClientRequest req) {
  now_ms_ = std::max(now_ms_, req.arrival_ms);
  const wire::Request& r = req.request;
  const wire::Opcode op = r.opcode();
  auto refuse = [&](const Status& s) { Reply(req.ref, r.request_id, op, s); };
  switch (op) {
    case wire::Opcode::kGet:
    case wire::Opcode::kGets:
    case wire::Opcode::kSmembers:
      Read(std::move(req));
      return;
    case wire::Opcode::kIncr:
      // INCR 0 reads the counter: nothing to replicate (ReadReplicated checks the key's
      // resolver as for any read).
      if (std::get<wire::IncrRequest>(r.body).amount == 0) {
        Read(std::move(req));
        return;
      }
      break;
    case wire::Opcode::kCas:
      return refuse(Status::Unsupported(
          "CAS needs one writer per key, and every multi_leader member accepts writes: use "
          "node.mode leader_follower, or a siblings key (GETS, then PUT with its context)"));
    case wire::Opcode::kBatch:
      return refuse(Status::Unsupported(
          "BATCH is not offered by multi_leader: its writes could not be atomic on every member"));
    case wire::Opcode::kScan:
      return refuse(Status::Unsupported("SCAN is not offered by multi_leader yet"));
    default: break;
  }
  if (leader_ != 0) {
    // A follower takes no writes: send the client to the leader it replicates from.
    Status s = Status::NotLeader(fmt::format(
        "node {} is a read-only follower of node {} (multi_leader.followers): send writes to "
        "a leader",
        node_id_, leader_));
    wire::Response resp = wire::Response::Error(r.request_id, op, s);
    resp.detail.leader_hint = leader_client_;
    out_.replies.push_back(topology::Reply{req.ref, std::move(resp)});
    return;
  }
  const std::string& key = KeyOf(r);
  const kv::Resolver resolver = ToResolver(config::ResolverFor(config_, key));
  LocalWrite w;
  w.resolver = resolver;
  w.key = key;
  auto wrong_op = [&] {
    refuse(Status::InvalidArgument(fmt::format(
        "key '{}' is a {} key (multi_leader.resolvers): change it with {}, not {}", key,
        kv::ResolverName(resolver), ChangedWith(resolver), wire::OpcodeName(op))));
  };
  if (!r.options.context.empty()) {
    if (resolver != kv::Resolver::kSiblings) {
      return refuse(Status::InvalidArgument(fmt::format(
          "option context resolves siblings, and key '{}' is a {} key (multi_leader.resolvers)",
          key, kv::ResolverName(resolver))));
    }
    Result<clock::VersionVector> ctx = kv::DecodeContext(r.options.context);
    if (!ctx.ok()) return refuse(ctx.status());
    // A context can name writes of other members this one has not received yet, but never
    // writes of this member beyond the ones it made: such a context would swallow this
    // write (its own new change would count as already seen).
    if (ctx.value().Get(node_id_) > replicator_.progress().Get(node_id_)) {
      return refuse(Status::InvalidArgument(fmt::format(
          "the context names {} writes of node {}, which has made only {}: it comes from "
          "another cluster, or from before this node's data was lost",
          ctx.value().Get(node_id_), node_id_, replicator_.progress().Get(node_id_))));
    }
    w.context = std::move(ctx).value();
  }
  switch (op) {
    case wire::Opcode::kPut: {
      const auto& p = std::get<wire::PutRequest>(r.body);
      if (resolver != kv::Resolver::kLww && resolver != kv::Resolver::kSiblings) return wrong_op();
      if (p.ttl_ms != 0) {
        return refuse(Status::Unsupported("multi_leader does not offer TTLs yet (ttl_ms must be 0)"));
      }
      w.op = kv::ChangeOp::kPut;
      w.value = p.value;
      break;
    }
    case wire::Opcode::kDelete:
      if (resolver == kv::Resolver::kCounter || resolver == kv::Resolver::kSet) {
        return refuse(Status::InvalidArgument(fmt::format(
            "key '{}' is a {} key (multi_leader.resolvers) and cannot be deleted: a delete "
            "concurrent with {} has no agreed outcome; change it with {}",
            key, kv::ResolverName(resolver),
            resolver == kv::Resolver::kCounter ? "increments" : "adds", ChangedWith(resolver))));
      }
      w.op = kv::ChangeOp::kDelete;
      break;
    case wire::Opcode::kIncr:
      if (resolver != kv::Resolver::kCounter) return wrong_op();
      w.op = kv::ChangeOp::kAdd;
      w.amount = std::get<wire::IncrRequest>(r.body).amount;
      break;
    case wire::Opcode::kSadd:
      if (resolver != kv::Resolver::kSet) return wrong_op();
      w.op = kv::ChangeOp::kSetAdd;
      w.value = std::get<wire::SaddRequest>(r.body).element;
      break;
    case wire::Opcode::kSrem:
      if (resolver != kv::Resolver::kSet) return wrong_op();
      w.op = kv::ChangeOp::kSetRemove;
      w.value = std::get<wire::SremRequest>(r.body).element;
      break;
    default:
      return refuse(Status::Unsupported(
          fmt::format("{} is not a data request of multi_leader", wire::OpcodeName(op))));
  }
  kv::Change change = replicator_.Write(std::move(w), now_ms_);
  // The write's own ApplyItem first (it comes out of the replicator), then ours for it.
  std::vector<AppliedChange> applied = replicator_.TakeApplied();
  KVD_ASSERT(applied.size() == 1 && applied[0].local);
  ApplyItem item;
  item.kind = ApplyKind::kChange;
  item.ref = req.ref;
  item.now_ms = now_ms_;
  item.request = std::move(req.request);
  item.reply = true;
  item.change = std::move(applied[0].change);
  item.local_change = true;
  item.max_siblings = config_.max_siblings;
  // The answer's token covers this write and whatever the client's own token covered, so a
  // session that writes to several members keeps read-your-writes for all of it.
  clock::VersionVector token = replicator_.progress();
  if (!item.request.options.session_token.empty()) {
    Result<clock::VersionVector> presented = kv::DecodeContext(item.request.options.session_token);
    if (presented.ok()) token.Join(presented.value());
  }
  ByteWriter tw(&item.session_token);
  token.Encode(&tw);
  out_.apply.push_back(std::move(item));
}

void MultiLeaderNode::Read(ClientRequest req) {
  const wire::Request& r = req.request;
  switch (r.options.consistency) {
    case wire::Consistency::kLinearizable:
    case wire::Consistency::kLeader:
      Reply(req.ref, r.request_id, r.opcode(),
            Status::Unsupported(fmt::format(
                "multi_leader cannot serve {} reads: every member accepts writes, so none knows "
                "it has seen them all; read at default, follower or session consistency",
                r.options.consistency == wire::Consistency::kLinearizable ? "linearizable"
                                                                          : "leader")));
      return;
    case wire::Consistency::kSession:
      if (!r.options.session_token.empty()) {
        Result<clock::VersionVector> token = kv::DecodeContext(r.options.session_token);
        if (!token.ok()) {
          Reply(req.ref, r.request_id, r.opcode(),
                Status::InvalidArgument("the session token does not come from a multi_leader "
                                        "cluster (it does not decode)"));
          return;
        }
        if (!replicator_.progress().Descends(token.value())) {
          if (config_.session_wait_ms == 0) {
            ++session_timeouts_;
            Reply(req.ref, r.request_id, r.opcode(),
                  Status::Unavailable("this node has not yet applied the writes your session "
                                      "token names: retry, or read from the node you wrote to"));
            return;
          }
          waiting_.push_back(
              WaitingRead{std::move(req), std::move(token).value(), now_ms_ + config_.session_wait_ms});
          return;
        }
      }
      break;
    default: break;
  }
  ServeRead(std::move(req));
}

void MultiLeaderNode::ServeRead(ClientRequest req) {
  ApplyItem item;
  item.kind = ApplyKind::kReplicatedRead;
  item.ref = req.ref;
  item.now_ms = now_ms_;
  item.resolver = ToResolver(config::ResolverFor(config_, KeyOf(req.request)));
  item.request = std::move(req.request);
  item.reply = true;
  item.session_token = SessionToken();
  out_.apply.push_back(std::move(item));
}

void MultiLeaderNode::ServeWaitingReads() {
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (replicator_.progress().Descends(it->token)) {
      ServeRead(std::move(it->request));
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
}

void MultiLeaderNode::OnAdminRequest(ClientRequest req) {
  Reply(req.ref, req.request.request_id, req.request.opcode(),
        Status::Unsupported("ADMIN actions (promote, transfer, members, snapshot) are for "
                            "leader_follower clusters; a multi_leader cluster has none"));
}

void MultiLeaderNode::OnPeerMessage(uint64_t from, std::string_view bytes) {
  replicator_.OnMessage(from, bytes, now_ms_);
  for (AppliedChange& a : replicator_.TakeApplied()) {
    ApplyItem item;
    item.kind = ApplyKind::kChange;
    item.now_ms = now_ms_;
    item.reply = false;
    item.change = std::move(a.change);
    out_.apply.push_back(std::move(item));
  }
  if (!waiting_.empty()) ServeWaitingReads();
}

std::vector<StorageOp> MultiLeaderNode::OnLocalChangeRefused(uint64_t seq) {
  return {StorageOp{false, LogKey(node_id_, seq), replicator_.Refused(seq)}};
}

Output MultiLeaderNode::TakeOutput() {
  ReplicatorOutput ro = replicator_.TakeOutput();
  KVD_ASSERT(ro.apply.empty());  // drained as they came
  Output out = std::move(out_);
  out_ = Output{};
  out.storage = std::move(ro.storage);
  out.send = std::move(ro.send);
  for (uint64_t peer : ro.transfers) out.snapshot_sends.push_back(SnapshotSend{peer, 0});
  out.snapshot_progress = std::move(ro.transfer_progress);
  out.snapshot_chunks = std::move(ro.state_chunks);
  for (std::string& e : ro.events) out.events.push_back(std::move(e));
  return out;
}

void MultiLeaderNode::OnSnapshotInstalled(uint64_t index, uint64_t term,
                                          std::string_view membership) {
  (void)term;
  replicator_.OnStateInstalled(index, membership);
}

std::string MultiLeaderNode::EncodeSnapshotChunk(uint64_t to, uint64_t term, uint64_t index,
                                                 uint64_t snapshot_term,
                                                 std::string_view membership, uint64_t offset,
                                                 std::string data, bool done) {
  (void)to;
  (void)term;
  (void)index;
  (void)snapshot_term;
  return replicator_.EncodeStateChunk(offset, membership, data, done);
}

NodeInfo MultiLeaderNode::Inspect() const {
  NodeInfo info;
  info.mode = "multi_leader";
  info.role = leader_ != 0 ? "follower" : "leader";
  if (leader_ != 0) info.labels["leader"] = std::to_string(leader_);
  info.node_id = node_id_;
  info.ticks = ticks_;
  info.counters = replicator_.Counters();
  info.counters["session_read_timeouts_total"] = session_timeouts_;
  info.counters["session_reads_waiting"] = waiting_.size();
  info.counters["hlc_wall_ms"] = replicator_.clock_last().wall_ms();
  info.labels["propagation"] = std::string(PropagationName(replicator_.config().propagation));
  if (replicator_.config().propagation == Propagation::kStar) {
    info.labels["hub"] = std::to_string(replicator_.config().hub);
  }
  info.labels["progress"] = replicator_.progress().ToString();
  std::map<uint64_t, PeerInfo> peers;
  for (const PeerLag& l : replicator_.Lag(now_ms_)) {
    PeerInfo& p = peers[l.peer];
    p.id = l.peer;
    p.role = config::LeaderOf(config_, l.peer) != 0 ? "follower" : "leader";
    p.lag_entries += l.latest > l.acked ? l.latest - l.acked : 0;
    if (l.origin == node_id_) {
      p.match = l.acked;
      p.next = l.latest;
    }
    p.ms_since_contact = std::max(p.ms_since_contact, l.latest > l.acked ? l.ms_since_ack : 0);
    p.state = l.known ? "replicating" : "probing";
  }
  for (auto& [id, p] : peers) info.peers.push_back(std::move(p));
  info.members = members_;
  return info;
}

Result<std::unique_ptr<Node>> MakeMultiLeaderNode(const config::Config& config,
                                                  const StoredState& stored) {
  const config::MultiLeaderConfig& mc = config.multi_leader;
  ReplicatorConfig rc;
  rc.self = config.node.id;
  for (const config::MemberConfig& m : config.cluster.members) {
    if (const uint64_t leader = config::LeaderOf(mc, m.id); leader != 0) {
      rc.followers[m.id] = leader;
    } else {
      rc.members.push_back(m.id);
    }
  }
  if (std::find(rc.members.begin(), rc.members.end(), rc.self) == rc.members.end() &&
      rc.followers.count(rc.self) == 0) {
    return Status::InvalidArgument(fmt::format(
        "node {} is not in cluster.members; a multi_leader member must be listed there",
        config.node.id));
  }
  switch (mc.propagation) {
    case config::Propagation::kAllToAll: rc.propagation = Propagation::kAllToAll; break;
    case config::Propagation::kRing: rc.propagation = Propagation::kRing; break;
    case config::Propagation::kStar: rc.propagation = Propagation::kStar; break;
  }
  rc.hub = mc.hub;
  rc.max_clock_offset_ms = mc.max_clock_offset_ms;
  rc.resend_interval_ms = mc.resend_interval_ms;
  rc.report_interval_ms = mc.stability_interval_ms;
  rc.max_batch_changes = mc.max_batch_changes;
  rc.window_changes = mc.window_changes;
  rc.log_retention = mc.log_retention_changes;
  rc.limits.max_key_bytes = config.limits.max_key_bytes;
  rc.limits.max_value_bytes = std::max<uint32_t>(config.limits.max_value_bytes, 1);
  KVD_ASSIGN_OR_RETURN(Replicator replicator, Replicator::Open(std::move(rc), stored.topology_keys));
  return std::unique_ptr<Node>(std::make_unique<MultiLeaderNode>(config, std::move(replicator)));
}

}  // namespace kvd::topology::multi_leader
