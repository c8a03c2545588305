#include "server/topology/multi_leader/replicator.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "common/bytes.h"

namespace kvd::topology::multi_leader {

namespace {

// Peer message types.
constexpr uint8_t kChanges = 1;  // u64 origin, u32 n, n x bytes(encoded change)
constexpr uint8_t kAck = 2;      // u64 incarnation, version vector: the sender's durable progress
constexpr uint8_t kProbe = 3;    // asks for an kAck
// u32 n, n x (u64 member, u64 hlc, version vector progress): stability reports
constexpr uint8_t kReports = 4;
// u64 offset, u8 done, bytes metadata, bytes data: a chunk of a state transfer
constexpr uint8_t kStateChunk = 5;
// u64 next offset, u8 done: the receiver has the chunks up to next offset
constexpr uint8_t kStateAck = 6;

constexpr uint32_t kMaxChangesPerMessage = 65536;

std::string U64Key(char column, char kind, std::initializer_list<uint64_t> parts) {
  std::string k{column, kind};
  for (uint64_t p : parts) {
    char buf[8];
    PutU64BE(buf, p);
    k.append(buf, 8);
  }
  return k;
}

std::string U64Value(uint64_t v) {
  std::string s(8, '\0');
  PutU64BE(s.data(), v);
  return s;
}

}  // namespace

std::string_view PropagationName(Propagation p) {
  switch (p) {
    case Propagation::kAllToAll: return "all_to_all";
    case Propagation::kRing: return "ring";
    case Propagation::kStar: return "star";
  }
  return "unknown";
}

std::string LogKey(uint64_t origin, uint64_t seq) { return U64Key(kColumn, 'l', {origin, seq}); }
std::string ProgressKey(uint64_t origin) { return U64Key(kColumn, 'p', {origin}); }
// The hybrid clock's last timestamp, so a restart never goes back (u64 packed HLC).
static const std::string kClockKey = std::string{kColumn, 'h'};
// How many times this node has started (u64), carried in acknowledgements.
static const std::string kIncarnationKey = std::string{kColumn, 'i'};
// The collection watermark (version vector): see Replicator::TakeCollection.
static const std::string kWatermarkKey = std::string{kColumn, 'w'};

Replicator::Replicator(ReplicatorConfig config)
    : config_(std::move(config)), clock_(config_.max_clock_offset_ms) {
  std::vector<uint64_t> participants = config_.members;
  for (const auto& [follower, leader] : config_.followers) participants.push_back(follower);
  for (uint64_t p : participants) {
    if (p == config_.self) continue;
    bool linked = false;
    for (uint64_t origin : config_.members) {
      const auto to = RoutesFrom(config_.self, origin);
      const auto from = RoutesFrom(p, origin);
      linked = linked || std::find(to.begin(), to.end(), p) != to.end() ||
               std::find(from.begin(), from.end(), config_.self) != from.end();
    }
    if (linked) neighbours_.push_back(p);
  }
}

Result<Replicator> Replicator::Open(ReplicatorConfig config,
                                    const std::map<std::string, std::string>& stored) {
  KVD_ASSERT_MSG(std::find(config.members.begin(), config.members.end(), config.self) !=
                         config.members.end() ||
                     config.followers.count(config.self) != 0,
                 "Replicator: self is neither a member nor a follower");
  Replicator r(std::move(config));
  for (const auto& [key, value] : stored) {
    if (key.size() < 2 || key[0] != kColumn) continue;
    if (key[1] == 'p') {
      if (key.size() != 10 || value.size() != 8) {
        return Status::Corruption("multi_leader: a progress record does not decode");
      }
      r.progress_.Witness(GetU64BE(key.data() + 2), GetU64BE(value.data()));
    } else if (key[1] == 'l') {
      if (key.size() != 18) return Status::Corruption("multi_leader: a log key does not decode");
      const uint64_t origin = GetU64BE(key.data() + 2);
      const uint64_t seq = GetU64BE(key.data() + 10);
      ByteReader reader(value);
      kv::Change c;
      if (Status s = kv::DecodeChange(&reader, r.config_.limits, &c); !s.ok() || !reader.done()) {
        return Status::Corruption(
            fmt::format("multi_leader: logged change {}:{} does not decode", origin, seq));
      }
      if (c.dot != clock::Dot{origin, seq}) {
        return Status::Corruption(
            fmt::format("multi_leader: logged change {}:{} names itself {}", origin, seq,
                        c.dot.ToString()));
      }
      r.clock_.Restore(c.hlc);
      r.log_[origin][seq] = value;
    } else if (key == kIncarnationKey) {
      if (value.size() != 8) return Status::Corruption("multi_leader: the incarnation does not decode");
      r.incarnation_ = GetU64BE(value.data());
    } else if (key == kWatermarkKey) {
      ByteReader wr(value);
      if (!clock::VersionVector::Decode(&wr, &r.watermark_).ok() || !wr.done()) {
        return Status::Corruption("multi_leader: the collection watermark does not decode");
      }
    } else if (key == kClockKey) {
      if (value.size() != 8) return Status::Corruption("multi_leader: the clock record does not decode");
      r.clock_.Restore(clock::HlcTimestamp::FromPacked(GetU64BE(value.data())));
    }
  }
  for (const auto& [origin, entries] : r.log_) {
    // The log of an origin is contiguous and ends at (or, for a change logged with the
    // progress record of a later batch, at most at) the progress.
    uint64_t expect = entries.begin()->first;
    for (const auto& [seq, bytes] : entries) {
      if (seq != expect++) {
        return Status::Corruption(fmt::format("multi_leader: the log of origin {} has a gap at {}",
                                              origin, expect - 1));
      }
    }
    if (entries.rbegin()->first > r.progress_.Get(origin)) {
      return Status::Corruption(fmt::format(
          "multi_leader: the log of origin {} goes past the recorded progress", origin));
    }
  }
  r.shippable_local_ = r.taken_local_ = r.progress_.Get(r.config_.self);
  // Each start is a new incarnation, recorded with the first batch: peers learn from it that
  // a lower progress in this node's acknowledgements is real (unsynced changes were lost).
  ++r.incarnation_;
  r.out_.storage.push_back(StorageOp{false, kIncarnationKey, U64Value(r.incarnation_)});
  return r;
}

std::vector<uint64_t> Replicator::RoutesFrom(uint64_t node, uint64_t origin) const {
  std::vector<uint64_t> to;
  if (config_.followers.count(node) != 0) return to;  // a follower ships nothing
  // A leader ships every origin's changes to its followers.
  for (const auto& [follower, leader] : config_.followers) {
    if (leader == node) to.push_back(follower);
  }
  const auto& m = config_.members;
  if (m.size() < 2) return to;
  switch (config_.propagation) {
    case Propagation::kAllToAll:
      if (origin == node) {
        for (uint64_t p : m) if (p != node) to.push_back(p);
      }
      break;
    case Propagation::kRing: {
      auto it = std::find(m.begin(), m.end(), node);
      ++it;
      const uint64_t succ = it == m.end() ? m.front() : *it;
      if (origin != succ) to.push_back(succ);
      break;
    }
    case Propagation::kStar:
      if (node == config_.hub) {
        for (uint64_t p : m) if (p != node && p != origin) to.push_back(p);
      } else if (origin == node) {
        to.push_back(config_.hub);
      }
      break;
  }
  return to;
}

void Replicator::Tick(uint64_t now_ms) {
  now_ms_ = std::max(now_ms_, now_ms);
  AdoptReports();
  for (auto& [peer, by_origin] : streams_) {
    for (auto& [origin, st] : by_origin) {
      const uint64_t latest = progress_.Get(origin);
      if (st.known && st.acked < latest && st.next > st.acked + 1 &&
          now_ms_ >= st.resend_timer_ms + config_.resend_interval_ms) {
        // Nothing acknowledged for a while: ship again from the acknowledged point.
        st.next = st.acked + 1;
        st.resend_timer_ms = now_ms_;
        st.resending = true;
        ++resends_;
      }
    }
  }
}

kv::Change Replicator::Write(LocalWrite w, uint64_t now_ms) {
  now_ms_ = std::max(now_ms_, now_ms);
  kv::Change c;
  c.dot = clock::Dot{config_.self, progress_.Get(config_.self) + 1};
  c.hlc = clock_.Now(now_ms);
  c.resolver = w.resolver;
  c.op = w.op;
  c.key = std::move(w.key);
  c.value = std::move(w.value);
  c.amount = w.amount;
  if (w.resolver == kv::Resolver::kSiblings && w.context.has_value()) {
    c.context = std::move(*w.context);
  } else if (w.resolver == kv::Resolver::kSiblings && w.op == kv::ChangeOp::kPut) {
    // A put without a context is concurrent with every existing sibling.
  } else if (w.resolver != kv::Resolver::kCounter) {
    // lww, set operations, and deletes without a context: everything this node has seen.
    c.context = progress_;
  }
  progress_.Witness(c.dot);
  ++changes_local_;
  std::string encoded = kv::EncodeChange(c);
  Log(c, std::move(encoded));
  dirty_progress_.insert(config_.self);  // written once per output (TakeOutput)
  clock_dirty_ = true;
  out_.apply.push_back(AppliedChange{c, true});
  return c;
}

std::string Replicator::Refused(uint64_t seq) {
  KVD_ASSERT_MSG(seq > shippable_local_ && seq <= progress_.Get(config_.self),
                 "Replicator::Refused: not pending");
  ++refused_;
  auto& own = log_[config_.self];
  auto it = own.find(seq);
  if (it == own.end()) {
    // Already dropped by log_retention_changes (a tiny retention and several writes in
    // one output): no peer will be shipped it from the log; record the no-op all the same.
    kv::Change noop;
    noop.dot = clock::Dot{config_.self, seq};
    return kv::EncodeChange(noop);
  }
  ByteReader r(it->second);
  kv::Change c;
  KVD_ASSERT(kv::DecodeChange(&r, config_.limits, &c).ok());
  c.op = kv::ChangeOp::kNoop;
  c.value.clear();
  c.amount = 0;
  it->second = kv::EncodeChange(c);
  return it->second;
}

std::vector<AppliedChange> Replicator::TakeApplied() {
  std::vector<AppliedChange> applied = std::move(out_.apply);
  out_.apply.clear();
  return applied;
}

void Replicator::Log(const kv::Change& change, std::string encoded) {
  const uint64_t origin = change.dot.node;
  if (origin != config_.self && !Retains(origin)) return;
  out_.storage.push_back(StorageOp{false, LogKey(origin, change.dot.counter), encoded});
  auto& entries = log_[origin];
  entries[change.dot.counter] = std::move(encoded);
  if (entries.size() > config_.log_retention) {
    const uint64_t dropped = entries.begin()->first;
    out_.storage.push_back(StorageOp{true, LogKey(origin, dropped), {}});
    entries.erase(entries.begin());
  }
}

void Replicator::ApplyRemote(uint64_t from, kv::Change c, bool* progressed) {
  (void)from;
  const uint64_t origin = c.dot.node;
  const uint64_t have = progress_.Get(origin);
  if (origin == config_.self || c.dot.counter <= have) {
    ++changes_duplicate_;
    return;
  }
  if (c.dot.counter != have + 1) {
    // Ahead of a gap: hold it (within the window) until the gap fills.
    ++changes_out_of_order_;
    if (c.dot.counter <= have + config_.window_changes) {
      held_[origin].emplace(c.dot.counter, std::move(c));
    }
    return;
  }
  ApplyNext(std::move(c));
  *progressed = true;
  DrainHeld(origin);  // changes that arrived early and now follow on
}

void Replicator::ApplyNext(kv::Change c) {
  const uint64_t origin = c.dot.node;
  if (!c.hlc.zero()) {
    if (clock_.Update(c.hlc, now_ms_).ok()) {
      clock_dirty_ = true;  // a restart must not go back below what it has seen
    } else {
      ++clock_skew_rejections_;
    }
  }
  progress_.Witness(c.dot);
  ++changes_applied_;
  std::string encoded = kv::EncodeChange(c);
  Log(c, std::move(encoded));
  dirty_progress_.insert(origin);
  out_.apply.push_back(AppliedChange{std::move(c), false});
}

void Replicator::OnMessage(uint64_t from, std::string_view bytes, uint64_t now_ms) {
  now_ms_ = std::max(now_ms_, now_ms);
  if (from == config_.self || !IsParticipant(from)) {
    ++malformed_messages_;
    return;
  }
  ByteReader r(bytes);
  uint8_t type = 0;
  if (!r.U8(&type)) {
    ++malformed_messages_;
    return;
  }
  switch (type) {
    case kChanges: {
      uint64_t origin = 0;
      uint32_t n = 0;
      if (!r.U64(&origin) || !r.U32(&n) || n > kMaxChangesPerMessage) {
        ++malformed_messages_;
        return;
      }
      // Decode everything first: a malformed message is dropped whole.
      std::vector<kv::Change> changes;
      changes.reserve(std::min<uint32_t>(n, 1024));
      for (uint32_t k = 0; k < n; ++k) {
        std::string_view one;
        kv::Change c;
        if (!r.Bytes(&one)) {
          ++malformed_messages_;
          return;
        }
        ByteReader cr(one);
        if (!kv::DecodeChange(&cr, config_.limits, &c).ok() || !cr.done() || c.dot.node != origin) {
          ++malformed_messages_;
          return;
        }
        changes.push_back(std::move(c));
      }
      if (!r.done()) {
        ++malformed_messages_;
        return;
      }
      bool progressed = false;
      for (kv::Change& c : changes) ApplyRemote(from, std::move(c), &progressed);
      ack_due_.insert(from);
      break;
    }
    case kAck: {
      uint64_t incarnation = 0;
      clock::VersionVector vv;
      if (!r.U64(&incarnation) || !clock::VersionVector::Decode(&r, &vv).ok() || !r.done()) {
        ++malformed_messages_;
        return;
      }
      uint64_t& known_incarnation = peer_incarnation_[from];
      if (incarnation < known_incarnation) return;  // from before the peer restarted
      // A restarted peer may have lost what it had not synced: believe a lower progress
      // then (and only then; a lower one otherwise is an old, reordered ack).
      const bool restarted = incarnation > known_incarnation;
      known_incarnation = incarnation;
      auto& by_origin = streams_[from];
      for (uint64_t origin : config_.members) {
        const auto routes = RoutesFor(origin);
        if (std::find(routes.begin(), routes.end(), from) == routes.end()) continue;
        Stream& st = by_origin[origin];
        const uint64_t acked = vv.Get(origin);
        if (!st.known || restarted) {
          // First word from this incarnation of the peer: ship from what it has.
          if (st.known && acked < st.acked) ++peer_regressions_;
          st.acked = acked;
          st.next = acked + 1;
          st.known = true;
          st.last_ack_ms = st.resend_timer_ms = now_ms_;
        } else if (acked > st.acked) {
          st.acked = acked;
          st.next = std::max(st.next, acked + 1);
          st.last_ack_ms = st.resend_timer_ms = now_ms_;
          st.resending = false;
        }
        Truncate(origin);
      }
      break;
    }
    case kReports: {
      uint32_t n = 0;
      if (!r.U32(&n) || n > config_.members.size() + config_.followers.size()) {
        ++malformed_messages_;
        return;
      }
      std::vector<std::pair<uint64_t, Report>> got;
      for (uint32_t k = 0; k < n; ++k) {
        uint64_t member = 0, hlc = 0;
        Report rep;
        if (!r.U64(&member) || !r.U64(&hlc) || !clock::VersionVector::Decode(&r, &rep.progress).ok() ||
            !IsParticipant(member)) {
          ++malformed_messages_;
          return;
        }
        rep.clock = clock::HlcTimestamp::FromPacked(hlc);
        got.emplace_back(member, std::move(rep));
      }
      if (!r.done()) {
        ++malformed_messages_;
        return;
      }
      for (auto& [member, rep] : got) {
        if (member == config_.self) continue;
        // Progress and clocks only grow (both are durable before a report leaves), so
        // joining reports of different ages still bounds the member from below.
        Report& mine = reports_[member];
        mine.progress.Join(rep.progress);
        mine.clock = std::max(mine.clock, rep.clock);
      }
      AdoptReports();
      break;
    }
    case kStateChunk: {
      uint64_t offset = 0;
      uint8_t done = 0;
      std::string_view metadata, data;
      if (!r.U64(&offset) || !r.U8(&done) || done > 1 || !r.Bytes(&metadata) || !r.Bytes(&data) ||
          !r.done()) {
        ++malformed_messages_;
        return;
      }
      if (offset == 0) {
        ByteReader mr(metadata);
        clock::VersionVector theirs;
        if (!clock::VersionVector::Decode(&mr, &theirs).ok()) {
          ++malformed_messages_;
          return;
        }
        if (!theirs.Descends(watermark_)) {
          // Older than what this node has collected tombstones against: merging it could
          // bring back what they deleted. The sender starts over with a newer state.
          ++state_transfers_refused_;
          out_.events.push_back(fmt::format(
              "refused a state from peer {}: its progress {} is behind this node's collection "
              "watermark {}",
              from, theirs.ToString(), watermark_.ToString()));
          return;
        }
        // A new transfer, or the same one started again. Another sender's transfer in
        // progress is not cut short unless it has gone quiet; this sender retries later.
        const uint64_t quiet_ms = std::max<uint64_t>(20 * config_.resend_interval_ms, 2000);
        if (incoming_from_ != 0 && incoming_from_ != from && now_ms_ < incoming_last_ms_ + quiet_ms) {
          return;
        }
        incoming_from_ = from;
        incoming_offset_ = 0;
      }
      if (from != incoming_from_ || offset != incoming_offset_) return;  // stale or out of order
      incoming_last_ms_ = now_ms_;
      incoming_offset_ += data.size();
      out_.state_chunks.push_back(SnapshotChunkIn{from, 0, std::string(metadata), offset,
                                                  done == 1, std::string(data)});
      std::string ack;
      ByteWriter w(&ack);
      w.U8(kStateAck);
      w.U64(incoming_offset_);
      w.U8(done);
      out_.send.push_back(Envelope{from, std::move(ack)});
      if (done == 1) {
        incoming_from_ = 0;
        installing_ = true;
      }
      break;
    }
    case kStateAck: {
      uint64_t next = 0;
      uint8_t done = 0;
      if (!r.U64(&next) || !r.U8(&done) || done > 1 || !r.done()) {
        ++malformed_messages_;
        return;
      }
      auto it = transfers_out_.find(from);
      if (it == transfers_out_.end()) return;
      it->second = now_ms_;
      out_.transfer_progress.push_back(SnapshotProgress{from, next, done == 1});
      break;
    }
    case kProbe:
      if (!r.done()) {
        ++malformed_messages_;
        return;
      }
      ack_due_.insert(from);
      break;
    default: ++malformed_messages_; return;
  }
}

void Replicator::Truncate(uint64_t origin) {
  auto lit = log_.find(origin);
  if (lit == log_.end() || lit->second.empty()) return;
  uint64_t upto = std::numeric_limits<uint64_t>::max();
  for (uint64_t peer : RoutesFor(origin)) {
    const auto pit = streams_.find(peer);
    if (pit == streams_.end()) return;
    const auto sit = pit->second.find(origin);
    if (sit == pit->second.end() || !sit->second.known) return;
    upto = std::min(upto, sit->second.acked);
  }
  if (origin == config_.self) upto = std::min(upto, shippable_local_);
  auto& entries = lit->second;
  while (!entries.empty() && entries.begin()->first <= upto) {
    out_.storage.push_back(StorageOp{true, LogKey(origin, entries.begin()->first), {}});
    entries.erase(entries.begin());
  }
}

std::string Replicator::EncodeAck() const {
  std::string out;
  ByteWriter w(&out);
  w.U8(kAck);
  w.U64(incarnation_);
  progress_.Encode(&w);
  return out;
}

bool Replicator::NeedsTransfer(uint64_t peer) const {
  const auto pit = streams_.find(peer);
  for (uint64_t origin : config_.members) {
    const auto routes = RoutesFor(origin);
    if (std::find(routes.begin(), routes.end(), peer) == routes.end()) continue;
    if (pit == streams_.end()) return true;  // not heard from since: keep waiting
    const auto sit = pit->second.find(origin);
    if (sit == pit->second.end() || !sit->second.known) return true;
    const uint64_t limit = origin == config_.self ? shippable_local_ : progress_.Get(origin);
    const uint64_t need = sit->second.acked + 1;
    if (need > limit) continue;
    const auto lit = log_.find(origin);
    if (lit == log_.end() || lit->second.empty() || lit->second.begin()->first > need) return true;
  }
  return false;
}

void Replicator::StartTransfer(uint64_t peer, uint64_t now_ms, uint64_t origin) {
  if (transfers_out_.count(peer) != 0) return;
  transfers_out_[peer] = now_ms;
  out_.transfers.push_back(peer);
  ++state_transfers_sent_;
  out_.events.push_back(fmt::format(
      "peer {} needs changes of origin {} that the log no longer holds: sending it this "
      "node's whole state",
      peer, origin));
}

std::string Replicator::TransferMetadata(const std::map<std::string, std::string>& records) {
  clock::VersionVector progress;
  uint64_t clock = 0;
  for (const auto& [key, value] : records) {
    if (key.size() == 10 && key[0] == kColumn && key[1] == 'p' && value.size() == 8) {
      progress.Witness(GetU64BE(key.data() + 2), GetU64BE(value.data()));
    } else if (key == kClockKey && value.size() == 8) {
      clock = GetU64BE(value.data());
    }
  }
  std::string out;
  ByteWriter w(&out);
  progress.Encode(&w);
  w.U64(clock);
  return out;
}

std::string Replicator::EncodeStateChunk(uint64_t offset, std::string_view metadata,
                                         std::string_view data, bool done) const {
  std::string out;
  ByteWriter w(&out);
  w.U8(kStateChunk);
  w.U64(offset);
  w.U8(done ? 1 : 0);
  w.Bytes(metadata);
  w.Bytes(data);
  return out;
}

void Replicator::OnStateInstalled(uint64_t from, std::string_view metadata) {
  ByteReader r(metadata);
  clock::VersionVector theirs;
  uint64_t clock = 0;
  if (!clock::VersionVector::Decode(&r, &theirs).ok() || !r.U64(&clock) || !r.done()) {
    ++malformed_messages_;
    return;
  }
  ++state_transfers_received_;
  installing_ = false;
  if (!clock::HlcTimestamp::FromPacked(clock).zero()) {
    if (clock_.Update(clock::HlcTimestamp::FromPacked(clock), now_ms_).ok()) {
      clock_dirty_ = true;
    } else {
      ++clock_skew_rejections_;
    }
  }
  std::string moved;
  for (const auto& [origin, seq] : theirs.entries()) {
    if (std::find(config_.members.begin(), config_.members.end(), origin) ==
            config_.members.end() ||
        seq <= progress_.Get(origin)) {
      continue;
    }
    moved += fmt::format(" {}:{}->{}", origin, progress_.Get(origin), seq);
    progress_.Witness(origin, seq);
    dirty_progress_.insert(origin);
    // The retained changes of this origin are now followed by a gap: a peer that needs
    // them gets a state transfer from this node in turn.
    if (auto lit = log_.find(origin); lit != log_.end()) {
      for (const auto& [s, bytes] : lit->second) {
        out_.storage.push_back(StorageOp{true, LogKey(origin, s), {}});
      }
      log_.erase(lit);
    }
    DrainHeld(origin);
  }
  if (progress_.Get(config_.self) > taken_local_) {
    // This node had lost changes of its own that the sender had: number on after them.
    shippable_local_ = taken_local_ = progress_.Get(config_.self);
  }
  out_.events.push_back(fmt::format("merged the state of peer {}; progress{}", from,
                                    moved.empty() ? std::string(" unchanged") : moved));
  // Tell every neighbour where this node now stands, so shipping resumes from there.
  for (uint64_t p : neighbours_) ack_due_.insert(p);
}

void Replicator::DrainHeld(uint64_t origin) {
  auto hit = held_.find(origin);
  if (hit == held_.end()) return;
  auto& held = hit->second;
  while (!held.empty()) {
    const uint64_t seq = held.begin()->first;
    if (seq <= progress_.Get(origin)) {
      held.erase(held.begin());
    } else if (seq == progress_.Get(origin) + 1) {
      kv::Change next = std::move(held.begin()->second);
      held.erase(held.begin());
      ApplyNext(std::move(next));
    } else {
      break;
    }
  }
  if (held.empty()) held_.erase(hit);
}

void Replicator::AdoptReports() {
  for (const auto& [member, rep] : reports_) {
    // Adopt only once every change of the member that the report counts is applied
    // here: a change the member made before the report cannot still be in flight then.
    if (progress_.Get(member) >= rep.progress.Get(member)) adopted_[member] = rep;
  }
}

std::optional<kv::Stability> Replicator::Stable() const {
  kv::Stability s;
  s.vv = progress_;
  s.clock = clock_.last();
  std::vector<uint64_t> participants = config_.members;
  for (const auto& [follower, leader] : config_.followers) participants.push_back(follower);
  for (uint64_t member : participants) {
    // Followers count too: a state transfer from a member that collected a tombstone
    // must not meet a follower that still holds what the tombstone deleted.
    if (member == config_.self) continue;
    const auto it = adopted_.find(member);
    if (it == adopted_.end()) return std::nullopt;
    clock::VersionVector lower;
    for (uint64_t origin : config_.members) {
      lower.Witness(origin, std::min(s.vv.Get(origin), it->second.progress.Get(origin)));
    }
    s.vv = std::move(lower);
    s.clock = std::min(s.clock, it->second.clock);
  }
  return s;
}

std::optional<kv::Stability> Replicator::TakeCollection() {
  if (receiving_state()) return std::nullopt;
  std::optional<kv::Stability> stable = Stable();
  if (!stable || watermark_.Descends(stable->vv)) {  // nothing new to record
    return stable;
  }
  watermark_.Join(stable->vv);
  std::string bytes;
  ByteWriter w(&bytes);
  watermark_.Encode(&w);
  out_.storage.push_back(StorageOp{false, kWatermarkKey, std::move(bytes)});
  return stable;
}

std::string Replicator::EncodeReports() {
  // This node's own report: its progress (durable with this output's batch, before the
  // report leaves) and a fresh clock reading, persisted in the same batch.
  const clock::HlcTimestamp now = clock_.Now(now_ms_);
  clock_dirty_ = true;
  std::string out;
  ByteWriter w(&out);
  w.U8(kReports);
  w.U32(static_cast<uint32_t>(1 + reports_.size()));
  w.U64(config_.self);
  w.U64(now.packed());
  progress_.Encode(&w);
  for (const auto& [member, rep] : reports_) {
    w.U64(member);
    w.U64(rep.clock.packed());
    rep.progress.Encode(&w);
  }
  return out;
}

void Replicator::Ship(uint64_t now_ms) {
  // Transfers in flight: finished once the peer's acknowledgements show it no longer
  // needs what the log lacks; started again when chunks stop being acknowledged.
  const uint64_t transfer_timeout_ms = std::max<uint64_t>(10 * config_.resend_interval_ms, 1000);
  for (auto it = transfers_out_.begin(); it != transfers_out_.end();) {
    if (!NeedsTransfer(it->first)) {
      out_.events.push_back(fmt::format("state transfer to peer {} complete", it->first));
      it = transfers_out_.erase(it);
      continue;
    }
    if (now_ms >= it->second + transfer_timeout_ms) {
      out_.events.push_back(fmt::format(
          "state transfer to peer {}: no progress for {} ms, starting again", it->first,
          transfer_timeout_ms));
      it->second = now_ms;
      out_.transfers.push_back(it->first);
      ++state_transfers_sent_;
    }
    ++it;
  }
  for (uint64_t origin : config_.members) {
    const uint64_t limit = origin == config_.self ? shippable_local_ : progress_.Get(origin);
    for (uint64_t peer : RoutesFor(origin)) {
      if (transfers_out_.count(peer) != 0) continue;  // the state transfer brings it all
      Stream& st = streams_[peer][origin];
      if (!st.known) {
        if (st.last_probe_ms == 0 || now_ms >= st.last_probe_ms + config_.resend_interval_ms) {
          st.last_probe_ms = std::max<uint64_t>(now_ms, 1);
          out_.send.push_back(Envelope{peer, std::string(1, static_cast<char>(kProbe))});
        }
        continue;
      }
      const auto lit = log_.find(origin);
      while (st.next <= limit && st.next <= st.acked + config_.window_changes) {
        if (lit == log_.end() || lit->second.empty() || lit->second.begin()->first > st.next) {
          // The changes this peer needs are no longer in the log: send the whole state.
          StartTransfer(peer, now_ms, origin);
          break;
        }
        std::string msg;
        ByteWriter w(&msg);
        w.U8(kChanges);
        w.U64(origin);
        const size_t count_at = msg.size();
        w.U32(0);
        uint32_t n = 0;
        for (auto it = lit->second.find(st.next);
             it != lit->second.end() && it->first <= limit && n < config_.max_batch_changes &&
             it->first <= st.acked + config_.window_changes;
             ++it) {
          w.Bytes(it->second);
          ++n;
        }
        PutU32BE(msg.data() + count_at, n);
        st.next += n;
        changes_shipped_ += n;
        // The resend timer runs from the moment something is outstanding.
        if (st.next - n == st.acked + 1 && !st.resending) {
          // Nothing was outstanding: the wait for an acknowledgement starts now.
          st.resend_timer_ms = std::max(st.resend_timer_ms, now_ms);
          st.last_ack_ms = std::max(st.last_ack_ms, now_ms);
        }
        st.resending = false;
        out_.send.push_back(Envelope{peer, std::move(msg)});
      }
    }
  }
}

ReplicatorOutput Replicator::TakeOutput() {
  // Local changes handed out in earlier outputs are durable before anything of this
  // output's `send` leaves: they may ship now.
  shippable_local_ = taken_local_;
  std::string reports;
  if (!neighbours_.empty() && now_ms_ >= next_report_ms_) {
    next_report_ms_ = now_ms_ + config_.report_interval_ms;
    reports = EncodeReports();  // before the clock record below: it reads the clock
  }
  // Progress and clock records, once per output however many changes moved them: they go
  // in the same batch as those changes.
  for (uint64_t origin : dirty_progress_) {
    out_.storage.push_back(StorageOp{false, ProgressKey(origin), U64Value(progress_.Get(origin))});
  }
  dirty_progress_.clear();
  if (clock_dirty_) {
    out_.storage.push_back(StorageOp{false, kClockKey, U64Value(clock_.last().packed())});
    clock_dirty_ = false;
  }
  Ship(now_ms_);
  for (uint64_t peer : ack_due_) out_.send.push_back(Envelope{peer, EncodeAck()});
  ack_due_.clear();
  if (!reports.empty()) {
    for (uint64_t peer : neighbours_) out_.send.push_back(Envelope{peer, reports});
  }
  taken_local_ = progress_.Get(config_.self);
  ReplicatorOutput out = std::move(out_);
  out_ = ReplicatorOutput{};
  return out;
}

std::vector<PeerLag> Replicator::Lag(uint64_t now_ms) const {
  std::vector<PeerLag> lag;
  for (const auto& [peer, by_origin] : streams_) {
    for (const auto& [origin, st] : by_origin) {
      PeerLag l;
      l.peer = peer;
      l.origin = origin;
      l.acked = st.acked;
      l.latest = progress_.Get(origin);
      l.known = st.known;
      l.ms_since_ack = st.last_ack_ms == 0 || now_ms < st.last_ack_ms ? 0 : now_ms - st.last_ack_ms;
      lag.push_back(l);
    }
  }
  return lag;
}

uint64_t Replicator::retained() const {
  uint64_t n = 0;
  for (const auto& [origin, entries] : log_) n += entries.size();
  return n;
}

std::map<std::string, uint64_t> Replicator::Counters() const {
  return {
      {"changes_local_total", changes_local_},
      {"changes_applied_total", changes_applied_},
      {"changes_duplicate_total", changes_duplicate_},
      {"changes_out_of_order_total", changes_out_of_order_},
      {"changes_shipped_total", changes_shipped_},
      {"resends_total", resends_},
      {"malformed_messages_total", malformed_messages_},
      {"clock_skew_rejections_total", clock_skew_rejections_},
      {"state_transfers_sent_total", state_transfers_sent_},
      {"state_transfers_received_total", state_transfers_received_},
      {"state_transfers_refused_total", state_transfers_refused_},
      {"state_transfers_in_progress", transfers_out_.size()},
      {"refused_writes_total", refused_},
      {"peer_regressions_total", peer_regressions_},
      {"incarnation", incarnation_},
      {"log_retained", retained()},
  };
}

}  // namespace kvd::topology::multi_leader
