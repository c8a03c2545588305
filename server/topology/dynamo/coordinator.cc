#include "server/topology/dynamo/coordinator.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/bytes.h"

namespace kvd::topology::dynamo {

namespace {

// Peer messages.
constexpr uint8_t kRead = 1;          // u64 rid, bytes key
constexpr uint8_t kReadReply = 2;     // u64 rid, u8 has, bytes state
constexpr uint8_t kWrite = 3;         // u64 rid (0: no acknowledgement wanted), bytes key,
                                      // bytes state: merge it
constexpr uint8_t kWriteAck = 4;      // u64 rid
constexpr uint8_t kForward = 5;       // u64 rid, u8 kind, u8 resolver, bytes key, bytes value,
                                      // u8 has context, vv context, u64 w, u64 deadline (the
                                      // forwarder's, unix ms: refused once passed)
constexpr uint8_t kForwardReply = 6;  // u64 rid, u8 code, bytes message, u64 answered,
                                      // bytes change, u8 flags (1: sloppy, 2: existed)
constexpr uint8_t kHintedWrite = 7;   // u64 rid, u64 home replica, bytes key, bytes state
constexpr uint8_t kHintReplay = 8;    // u64 0, bytes key, bytes state: merge and acknowledge
constexpr uint8_t kHintAck = 9;       // u64 0, bytes key, bytes state (as received)
constexpr uint8_t kAeHashes = 10;     // u64 range end, u32 level, u32 n, n x (u64 index,
                                      // u64 hash): my hashes of these nodes
constexpr uint8_t kStreamRequest = 12;  // u64 rid, u64 start, u64 end, u8 started,
                                        // u64 after token, u32 max keys
constexpr uint8_t kStreamChunk = 13;    // u64 rid, u64 end, u8 done, u64 last token,
                                        // u32 m, m x (bytes key, bytes state)
constexpr uint8_t kAeEntries = 11;
constexpr uint8_t kGcQuery = 15;   // u64 query, bytes key: do you hold a value of key?
constexpr uint8_t kGcAnswer = 16;  // u64 query, bytes key, u8 clear (1: no value, only
                                   // nothing or a tombstone)
constexpr uint8_t kAeRoot = 14;  // u64 range end, u8 reply, u64 root: a dry-run comparison    // u64 range end, u8 reply, u32 n, n x u64 bucket,
                                      // u32 m, m x (bytes key, bytes state)

std::string Encode(const kv::KeyState& st) { return st.Encode(); }

}  // namespace

Coordinator::Coordinator(uint64_t self, ring::Ring ring, QuorumConfig config, LocalStore* store,
                         clock::HlcTimestamp clock_floor, Hints hints)
    : self_(self),
      ring_(std::move(ring)),
      write_ring_(ring_),
      config_(config),
      store_(store),
      clock_(config.max_clock_offset_ms),
      hints_(std::move(hints)) {
  clock_.Restore(clock_floor);
  for (const auto& [target, keys] : hints_) {
    for (const auto& [key, state] : keys) {
      hint_bytes_[target] += key.size() + state.size();
      // A reloaded hint's age counts from its newest write (0, undecodable: from the first
      // Tick), so that restarts do not keep a hint past max_hint_age_ms.
      std::optional<kv::KeyState> st = Decode(key, state);
      hint_since_[{target, key}] = st ? st->latest().wall_ms() : 0;
    }
  }
  BuildTrees();
  // Every local key by token (anti-entropy buckets and streaming serve from it), and into
  // its range's tree.
  store_->ForEach([this](const std::string& key, const std::string& state) {
    Track(key, nullptr, state);
  });
}

void Coordinator::BuildTrees() {
  trees_.clear();
  if (config_.anti_entropy_interval_ms == 0) return;
  for (const ring::TokenRange& range : ring_.Ranges(config_.n)) {
    if (std::find(range.replicas.begin(), range.replicas.end(), self_) == range.replicas.end()) {
      continue;
    }
    trees_.emplace(range.end, MerkleTree(range.start, range.end, config_.merkle_depth));
  }
}

void Coordinator::SetRings(ring::Ring read, ring::Ring write, const std::set<uint64_t>& done) {
  const bool read_changed = !(read.nodes() == ring_.nodes());
  ring_ = std::move(read);
  write_ring_ = std::move(write);
  rings_differ_ = !(ring_.nodes() == write_ring_.nodes());
  if (read_changed) {
    // The ranges changed: new trees, filled from the token index (one read per key).
    BuildTrees();
    ResetTombstoneIndexes();
    if (!trees_.empty()) {
      for (const auto& [token, key] : tokens_) {
        const std::string bytes = LocalBytes(key);
        if (!bytes.empty()) AddToTree(token, key, bytes, nullptr);
      }
    }
    exchange_cursor_ = 0;
  }
  // Segments of the circle where both rings' replica sets are constant: cut at every token
  // of either ring. This node pulls those it replicates in the write ring only.
  std::set<uint64_t> cuts;
  for (const ring::TokenRange& r : ring_.Ranges(config_.n)) cuts.insert(r.end);
  for (const ring::TokenRange& r : write_ring_.Ranges(config_.n)) cuts.insert(r.end);
  std::map<uint64_t, StreamTask> tasks;
  if (!(ring_.nodes() == write_ring_.nodes()) && !cuts.empty()) {
    uint64_t prev = *cuts.rbegin();
    for (uint64_t end : cuts) {
      const uint64_t start = prev;
      prev = end;
      const std::vector<uint64_t> w = write_ring_.ReplicasForToken(end, config_.n);
      const std::vector<uint64_t> r = ring_.ReplicasForToken(end, config_.n);
      const auto has = [&](const std::vector<uint64_t>& v) {
        return std::find(v.begin(), v.end(), self_) != v.end();
      };
      if (!has(w) || has(r) || done.count(end) != 0) continue;
      StreamTask t;
      t.start = start;
      t.end = end;
      // The replica the segment moves away from first: it holds every write acknowledged
      // by W replicas of the read ring that the replicas staying on do not, so with its data
      // the write ring has each such write on W replicas too (Cassandra's strict source
      // choice). The others only when it does not answer.
      for (uint64_t node : r) {
        if (std::find(w.begin(), w.end(), node) == w.end()) t.sources.push_back(node);
      }
      for (uint64_t node : r) {
        if (std::find(w.begin(), w.end(), node) != w.end()) t.sources.push_back(node);
      }
      if (auto old = streams_.find(end); old != streams_.end() && old->second.start == start) {
        t.after_token = old->second.after_token;  // the same segment: keep its progress
        t.started = old->second.started;
      }
      tasks.emplace(end, std::move(t));
    }
  }
  streams_ = std::move(tasks);
  const bool paused = stream_stats_.paused;
  const uint64_t keys = stream_stats_.keys_received, bytes = stream_stats_.bytes_received,
                 sent = stream_stats_.keys_sent;
  stream_stats_ = StreamStats{};
  stream_stats_.paused = paused;
  stream_stats_.keys_received = keys;
  stream_stats_.bytes_received = bytes;
  stream_stats_.keys_sent = sent;
  stream_stats_.ranges_total = streams_.size() + done.size();
  stream_stats_.ranges_done = done.size();
  if (streams_.empty()) stream_stats_.ranges_total = stream_stats_.ranges_done = 0;
}

Status Coordinator::StartRepair(bool dry_run) {
  if (config_.anti_entropy_interval_ms == 0) {
    return Status::InvalidArgument(
        "anti-entropy is off (dynamo.anti_entropy_interval_ms is 0): there are no Merkle trees "
        "to compare");
  }
  if (repair_.active && !repair_.done()) {
    return Status::Unavailable(fmt::format("a repair is running ({} of {} comparisons started)",
                                           repair_.pairs_started, repair_.pairs_total));
  }
  repair_ = RepairStats{};
  repair_.active = true;
  repair_.dry_run = dry_run;
  repair_queue_.clear();
  repair_waiting_.clear();
  for (const auto& [end, tree] : trees_) {
    (void)tree;
    for (uint64_t r : ring_.ReplicasForToken(end, config_.n)) {
      if (r != self_) repair_queue_.emplace_back(end, r);
    }
  }
  std::reverse(repair_queue_.begin(), repair_queue_.end());  // taken from the back
  repair_.pairs_total = repair_queue_.size();
  return Status::Ok();
}

void Coordinator::StepRepair() {
  if (!repair_.active) return;
  if (repair_queue_.empty()) {
    if (!repair_waiting_.empty() && now_ms_ >= repair_sent_ms_ + config_.request_timeout_ms) {
      repair_.unanswered += repair_waiting_.size();
      repair_.pairs_answered += repair_waiting_.size();
      repair_waiting_.clear();
    }
    return;
  }
  const auto [end, peer] = repair_queue_.back();
  auto tit = trees_.find(end);
  if (down_.count(peer) != 0 || tit == trees_.end()) {
    // Skipped: the replica is down (or the range went with a ring change). A dry run
    // counts it as answered, with nothing to report; the operator sees the node down.
    repair_queue_.pop_back();
    ++repair_.pairs_started;
    ++repair_.pairs_answered;
    return;
  }
  repair_queue_.pop_back();
  ++repair_.pairs_started;
  if (!repair_.dry_run) {
    ++ae_exchanges_;
    SendHashes(peer, end, 0, {0}, tit->second);
    return;
  }
  repair_waiting_.emplace(end, peer);
  repair_sent_ms_ = now_ms_;
  std::string msg;
  ByteWriter w(&msg);
  w.U8(kAeRoot);
  w.U64(end);
  w.U8(0);
  w.U64(tit->second.Node(0, 0));
  out_.send.push_back(Envelope{peer, std::move(msg)});
}

void Coordinator::DropHint(uint64_t target, const std::string& key) {
  auto tit = hints_.find(target);
  if (tit == hints_.end()) return;
  auto hit = tit->second.find(key);
  if (hit == tit->second.end()) return;
  hint_bytes_[target] -= key.size() + hit->second.size();
  tit->second.erase(hit);
  if (tit->second.empty()) {
    hints_.erase(tit);
    hint_bytes_.erase(target);
  }
  hint_since_.erase({target, key});
  replaying_.erase({target, key});
  out_.hints.push_back(HintWrite{target, key, std::string()});
}

std::vector<uint64_t> Coordinator::TakeFinishedRanges() {
  std::vector<uint64_t> out;
  out.swap(finished_ranges_);
  return out;
}

std::vector<uint64_t> Coordinator::WriteReplicas(const std::string& key, size_t* pending) const {
  std::vector<uint64_t> replicas = ring_.Replicas(key, config_.n);
  *pending = 0;
  if (!rings_differ_) return replicas;
  for (uint64_t node : write_ring_.Replicas(key, config_.n)) {
    if (std::find(replicas.begin(), replicas.end(), node) == replicas.end()) {
      replicas.push_back(node);
      ++*pending;
    }
  }
  return replicas;
}

void Coordinator::StepStreaming() {
  if (streams_.empty() || stream_stats_.paused) return;
  // Rate: stream_keys_per_second, spent a chunk at a time; at most two chunks banked.
  const double chunk = static_cast<double>(config_.stream_keys_per_chunk);
  if (stream_credit_ms_ != 0 && now_ms_ > stream_credit_ms_) {
    stream_credit_ += static_cast<double>(now_ms_ - stream_credit_ms_) *
                      static_cast<double>(config_.stream_keys_per_second) / 1000.0;
    stream_credit_ = std::min(stream_credit_, 2 * chunk);
  }
  stream_credit_ms_ = now_ms_;
  StreamTask& t = streams_.begin()->second;
  if (t.request != 0 && now_ms_ < t.sent_ms + config_.request_timeout_ms) return;  // in flight
  if (t.request != 0) ++t.attempts;  // no answer: ask again (after three, another source)
  if (stream_credit_ < std::min(chunk, static_cast<double>(config_.stream_keys_per_second))) return;
  uint64_t source = 0;
  for (size_t i = 0; i < t.sources.size() && source == 0; ++i) {
    const uint64_t candidate = t.sources[(t.attempts / 3 + i) % t.sources.size()];
    if (candidate != self_ && down_.count(candidate) == 0) source = candidate;
  }
  if (source == 0) return;  // every source is down: wait
  stream_credit_ -= chunk;
  t.request = next_stream_request_++;
  t.sent_ms = now_ms_;
  std::string msg;
  ByteWriter w(&msg);
  w.U8(kStreamRequest);
  w.U64(t.request);
  w.U64(t.start);
  w.U64(t.end);
  w.U8(t.started ? 1 : 0);
  w.U64(t.after_token);
  w.U32(static_cast<uint32_t>(config_.stream_keys_per_chunk));
  out_.send.push_back(Envelope{source, std::move(msg)});
}

void Coordinator::ServeStreamRequest(uint64_t from, ByteReader& r, uint64_t rid) {
  uint64_t start = 0, end = 0, after = 0;
  uint8_t started = 0;
  uint32_t max_keys = 0;
  if (!r.U64(&start) || !r.U64(&end) || !r.U8(&started) || started > 1 || !r.U64(&after) ||
      !r.U32(&max_keys) || max_keys == 0 || !r.done()) {
    ++malformed_;
    return;
  }
  // Keys of (start, end] in circle order from start, after `after` if started.
  const auto pos = [start](uint64_t token) { return token - start - 1; };  // wraps mod 2^64
  const uint64_t limit = pos(end);
  const uint64_t first = started == 1 ? pos(after) + 1 : 0;
  std::vector<std::pair<std::string, std::string>> entries;
  uint64_t last = after;
  bool done = true;
  auto scan = [&](uint64_t lo, uint64_t hi) {  // tokens lo..hi, inclusive
    for (auto it = tokens_.lower_bound(lo); it != tokens_.end() && it->first <= hi; ++it) {
      const uint64_t p = pos(it->first);
      if (p < first || p > limit) continue;
      if (entries.size() >= max_keys && it->first != last) {
        done = false;
        return false;
      }
      std::string bytes = LocalBytes(it->second);
      last = it->first;
      if (!bytes.empty()) entries.emplace_back(it->second, std::move(bytes));
    }
    return true;
  };
  if (start < end) {
    scan(start + 1, end);
  } else if (start + 1 != 0 && scan(start + 1, ~uint64_t{0})) {  // wraps past 2^64
    scan(0, end);
  } else if (start + 1 == 0) {
    scan(0, end);
  }
  // Entries may come in two pieces (before and after the wrap) but each in token order.
  stream_stats_.keys_sent += entries.size();
  std::string msg;
  ByteWriter w(&msg);
  w.U8(kStreamChunk);
  w.U64(rid);
  w.U64(end);
  w.U8(done ? 1 : 0);
  w.U64(last);
  w.U32(static_cast<uint32_t>(entries.size()));
  for (const auto& [key, bytes] : entries) {
    w.Bytes(key);
    w.Bytes(bytes);
  }
  out_.send.push_back(Envelope{from, std::move(msg)});
}

void Coordinator::OnStreamChunk(uint64_t from, ByteReader& r, uint64_t rid) {
  (void)from;
  uint64_t end = 0, last = 0;
  uint8_t done = 0;
  uint32_t m = 0;
  if (!r.U64(&end) || !r.U8(&done) || done > 1 || !r.U64(&last) || !r.U32(&m)) {
    ++malformed_;
    return;
  }
  std::vector<std::pair<std::string, kv::KeyState>> entries;
  uint64_t bytes_in = 0;
  for (uint32_t i = 0; i < m; ++i) {
    std::string_view key, state;
    if (!r.Bytes(&key, config_.limits.max_key_bytes) || !r.Bytes(&state)) {
      ++malformed_;
      return;
    }
    std::optional<kv::KeyState> st = Decode(std::string(key), state);
    if (!st) return;
    bytes_in += key.size() + state.size();
    entries.emplace_back(std::string(key), std::move(*st));
  }
  if (!r.done()) {
    ++malformed_;
    return;
  }
  auto it = streams_.find(end);
  if (it == streams_.end() || it->second.request != rid) return;  // stale or repeated
  for (const auto& [key, st] : entries) MergeLocal(key, st);
  stream_stats_.keys_received += entries.size();
  stream_stats_.bytes_received += bytes_in;
  StreamTask& t = it->second;
  t.request = 0;
  t.attempts = 0;
  if (done == 1) {
    finished_ranges_.push_back(end);
    ++stream_stats_.ranges_done;
    streams_.erase(it);
    return;
  }
  t.after_token = last;
  t.started = true;
}

MerkleTree* Coordinator::TreeFor(uint64_t token) {
  if (trees_.empty()) return nullptr;
  // Ranges are (previous end, end]: the one holding the token is the first ending at or
  // after it (wrapping), if this node replicates it.
  auto it = trees_.lower_bound(token);
  if (it == trees_.end()) it = trees_.begin();
  return it->second.Contains(token) ? &it->second : nullptr;
}

void Coordinator::Track(const std::string& key, const std::string* old_bytes,
                        const std::string& new_bytes, const kv::KeyState* state) {
  const uint64_t token = ring::Hash64(key);
  if (old_bytes == nullptr) tokens_.emplace(token, key);
  MerkleTree* tree = trees_.empty() ? nullptr : TreeFor(token);
  if (tree == nullptr) return;
  if (old_bytes != nullptr) {
    // The old state leaves the tree, unless it was a settled tombstone (not in it).
    if (!Unsettle(key)) tree->Toggle(token, EntryDigest(key, *old_bytes));
    if (auto yit = young_tombstones_.find(key); yit != young_tombstones_.end()) {
      young_by_time_.erase({yit->second, key});
      young_tombstones_.erase(yit);
    }
  }
  AddToTree(token, key, new_bytes, state);
}

void Coordinator::AddToTree(uint64_t token, const std::string& key, const std::string& bytes,
                            const kv::KeyState* state) {
  MerkleTree* tree = TreeFor(token);
  if (tree == nullptr) return;
  if (config_.tombstone_grace_ms > 0) {
    std::optional<kv::KeyState> decoded;
    if (state == nullptr) {
      decoded = Decode(key, bytes);
      state = decoded ? &*decoded : nullptr;
    }
    if (state != nullptr && IsTombstone(*state)) {
      const uint64_t wall = state->latest().wall_ms();
      if (now_ms_ > 0 && now_ms_ >= wall + config_.tombstone_grace_ms) {
        Settle(key);  // settled: not hashed
        return;
      }
      young_tombstones_[key] = wall;
      young_by_time_.emplace(wall, key);
    }
  }
  tree->Toggle(token, EntryDigest(key, bytes));
}

void Coordinator::ResetTombstoneIndexes() {
  young_tombstones_.clear();
  young_by_time_.clear();
  settled_.clear();
  settled_due_.clear();
}

void Coordinator::Settle(const std::string& key) {
  Unsettle(key);
  Settled& s = settled_[key];
  s.due_ms = now_ms_ + 2 * config_.request_timeout_ms;  // the quiet period (see the header)
  settled_due_.emplace(s.due_ms, key);
}

bool Coordinator::Unsettle(const std::string& key) {
  auto it = settled_.find(key);
  if (it == settled_.end()) return false;
  settled_due_.erase({it->second.due_ms, key});
  settled_.erase(it);
  return true;
}

void Coordinator::CollectTombstones() {
  if (config_.tombstone_grace_ms == 0 || trees_.empty()) return;
  // Tombstones that reached the grace leave their trees (at most a budget per Tick: a
  // bulk delete a grace ago must not stall the node).
  size_t budget = config_.max_collected_per_tick;
  while (budget > 0 && !young_by_time_.empty() &&
         now_ms_ >= young_by_time_.begin()->first + config_.tombstone_grace_ms) {
    --budget;
    const std::string key = young_by_time_.begin()->second;
    young_by_time_.erase(young_by_time_.begin());
    young_tombstones_.erase(key);
    const uint64_t token = ring::Hash64(key);
    MerkleTree* tree = TreeFor(token);
    const std::string bytes = LocalBytes(key);
    if (tree == nullptr || bytes.empty()) continue;
    tree->Toggle(token, EntryDigest(key, bytes));
    Settle(key);
  }
  // Ask the other replicas about the settled tombstones that are due, oldest first (none
  // during a ring change: pending replicas are still filling). A key with a replica
  // believed down waits a request timeout: asking could not succeed.
  if (rings_differ_) return;
  budget = config_.max_collected_per_tick;
  while (budget > 0 && !settled_due_.empty() && settled_due_.begin()->first <= now_ms_) {
    --budget;
    const std::string key = settled_due_.begin()->second;
    settled_due_.erase(settled_due_.begin());
    Settled& s = settled_.at(key);
    s.due_ms = now_ms_ + config_.request_timeout_ms;
    settled_due_.emplace(s.due_ms, key);
    const std::vector<uint64_t> replicas = ring_.Replicas(key, config_.n);
    const bool any_down = std::any_of(replicas.begin(), replicas.end(),
                                      [&](uint64_t r) { return r != self_ && down_.count(r) != 0; });
    if (any_down) continue;
    s.query = next_gc_query_++;
    s.clear.clear();
    for (uint64_t r : replicas) {
      if (r == self_) continue;
      std::string msg;
      ByteWriter w(&msg);
      w.U8(kGcQuery);
      w.U64(s.query);
      w.Bytes(key);
      out_.send.push_back(Envelope{r, std::move(msg)});
    }
  }
}

void Coordinator::OnGcAnswer(uint64_t from, uint64_t query, std::string_view key, bool clear) {
  auto it = settled_.find(std::string(key));
  if (it == settled_.end() || it->second.query != query || !clear || rings_differ_) return;
  const std::vector<uint64_t> replicas = ring_.Replicas(it->first, config_.n);
  if (std::find(replicas.begin(), replicas.end(), from) == replicas.end()) return;
  Settled& s = it->second;
  s.clear.insert(from);
  const bool self_replica = std::find(replicas.begin(), replicas.end(), self_) != replicas.end();
  if (!self_replica || s.clear.size() + 1 < replicas.size()) return;
  // Every other replica holds no value of the key: the tombstone goes.
  const std::string k = it->first;
  Unsettle(k);
  ++tombstones_collected_;
  const uint64_t token = ring::Hash64(k);
  for (auto [t, end] = tokens_.equal_range(token); t != end; ++t) {
    if (t->second == k) {
      tokens_.erase(t);
      break;
    }
  }
  written_[k] = std::string();
  out_.writes.push_back(StateWrite{k, std::string()});
}

bool IsTombstone(const kv::KeyState& state) {
  return (state.resolver() == kv::Resolver::kLww || state.resolver() == kv::Resolver::kSiblings) &&
         state.Empty() && state.HasTombstones();
}

std::optional<kv::KeyState> Coordinator::LocalState(const std::string& key) {
  if (auto it = written_.find(key); it != written_.end()) {
    if (it->second.empty()) return std::nullopt;  // collected in this output
    return Decode(key, it->second);
  }
  return store_->Load(key);
}

std::string Coordinator::LocalBytes(const std::string& key) {
  if (auto it = written_.find(key); it != written_.end()) return it->second;
  std::optional<kv::KeyState> st = store_->Load(key);
  return st ? Encode(*st) : std::string();
}

size_t Coordinator::hints_pending() const {
  size_t n = 0;
  for (const auto& [target, keys] : hints_) n += keys.size();
  return n;
}

void Coordinator::SetAlive(uint64_t node, bool alive) {
  if (alive) {
    down_.erase(node);
  } else {
    down_.insert(node);
  }
}

std::optional<kv::KeyState> Coordinator::Decode(const std::string& key, std::string_view bytes) {
  auto st = kv::KeyState::Decode(key, bytes, config_.limits);
  if (!st.ok()) {
    ++malformed_;
    return std::nullopt;
  }
  return std::move(st).value();
}

void Coordinator::MergeLocal(const std::string& key, const kv::KeyState& state) {
  std::optional<kv::KeyState> current = LocalState(key);
  std::optional<std::string> old_bytes;
  if (current) {
    old_bytes = Encode(*current);
    const kv::Outcome o = current->Merge(state);
    if (!o.changed) return;
  } else {
    current = state;
  }
  if (!state.latest().zero()) (void)clock_.Update(state.latest(), now_ms_);
  std::string bytes = Encode(*current);
  Track(key, old_bytes ? &*old_bytes : nullptr, bytes, &*current);
  written_[key] = bytes;
  out_.writes.push_back(StateWrite{key, std::move(bytes)});
}

void Coordinator::Client(ClientOp op, uint64_t now_ms) {
  now_ms_ = std::max(now_ms_, now_ms);
  const uint64_t rid = next_rid_++;
  Pending p;
  p.op = std::move(op);
  p.deadline_ms = now_ms_ + config_.request_timeout_ms;
  if (p.op.kind == OpKind::kGet) {
    p.replicas = ring_.Replicas(p.op.key, config_.n);
    StartRead(rid, std::move(p));
    return;
  }
  p.replicas = WriteReplicas(p.op.key, &p.pending_replicas);
  if (std::find(p.replicas.begin(), p.replicas.end(), self_) != p.replicas.end()) {
    StartWrite(rid, std::move(p));
    return;
  }
  // Not a replica: forward to the first replica believed up.
  uint64_t target = 0;
  for (uint64_t r : p.replicas) {
    if (down_.count(r) == 0) {
      target = r;
      break;
    }
  }
  if (target == 0) {
    ClientResult res;
    res.id = p.op.id;
    res.status = Status::Unavailable(fmt::format(
        "no replica of key '{}' is up (replicas {}): the write was not attempted", p.op.key,
        fmt::join(p.replicas, ", ")));
    out_.results.push_back(std::move(res));
    return;
  }
  ++forwards_;
  std::string msg;
  ByteWriter w(&msg);
  w.U8(kForward);
  w.U64(rid);
  w.U8(static_cast<uint8_t>(p.op.kind));
  w.U8(static_cast<uint8_t>(p.op.resolver));
  w.Bytes(p.op.key);
  w.Bytes(p.op.value);
  w.U8(p.op.context ? 1 : 0);
  (p.op.context ? *p.op.context : clock::VersionVector{}).Encode(&w);
  w.U64(p.op.w);
  w.U64(p.deadline_ms);
  out_.send.push_back(Envelope{target, std::move(msg)});
  p.needed = 1;
  p.replicas = {target};
  pending_.emplace(rid, std::move(p));
}

void Coordinator::StartRead(uint64_t rid, Pending p) {
  ++reads_;
  p.needed = std::min(p.op.r != 0 ? p.op.r : config_.r, p.replicas.size());
  for (uint64_t r : p.replicas) {
    if (r == self_) {
      p.states[self_] = LocalBytes(p.op.key);
      p.answered.insert(self_);
      continue;
    }
    std::string msg;
    ByteWriter w(&msg);
    w.U8(kRead);
    w.U64(rid);
    w.Bytes(p.op.key);
    out_.send.push_back(Envelope{r, std::move(msg)});
  }
  auto [it, inserted] = pending_.emplace(rid, std::move(p));
  (void)inserted;
  if (it->second.answered.size() >= it->second.needed) FinishRead(rid, it->second);
}

void Coordinator::FinishRead(uint64_t rid, Pending& p) {
  // Merge every answer so far.
  std::optional<kv::KeyState> merged;
  for (const auto& [node, bytes] : p.states) {
    if (bytes.empty()) continue;
    std::optional<kv::KeyState> st = Decode(p.op.key, bytes);
    if (!st) continue;
    if (!merged) {
      merged = std::move(st);
    } else {
      (void)merged->Merge(*st);  // a state of another resolver is ignored
    }
  }
  p.merged = merged ? Encode(*merged) : std::string();
  // Read repair: every answer that lacks something the merged state has.
  std::set<uint64_t> stale;
  if (merged) {
    for (const auto& [node, bytes] : p.states) {
      if (bytes == p.merged) continue;
      ++repairs_;
      if (node == self_) {
        MergeLocal(p.op.key, *merged);
        continue;
      }
      std::string msg;
      ByteWriter w(&msg);
      w.U8(kWrite);
      w.U64(config_.repair_before_reply ? rid : 0);
      w.Bytes(p.op.key);
      w.Bytes(p.merged);
      out_.send.push_back(Envelope{node, std::move(msg)});
      stale.insert(node);
    }
  }
  if (p.replied) return;  // a late answer: repaired above, already answered
  if (config_.repair_before_reply && !stale.empty()) {
    p.repairing = std::move(stale);
    return;
  }
  ClientResult res;
  res.id = p.op.id;
  res.state = std::move(merged);
  res.answered = p.answered.size();
  Finish(rid, p, std::move(res));
}

void Coordinator::StartWrite(uint64_t rid, Pending p) {
  ++writes_;
  std::optional<kv::KeyState> local = LocalState(p.op.key);
  p.existed = local && !local->Empty();
  kv::KeyState state = local ? *local : kv::KeyState(p.op.resolver);
  kv::Change c;
  c.hlc = clock_.Now(now_ms_);
  c.resolver = p.op.resolver;
  c.op = p.op.kind == OpKind::kPut ? kv::ChangeOp::kPut : kv::ChangeOp::kDelete;
  c.key = p.op.key;
  c.value = p.op.value;
  const clock::VersionVector seen =
      state.resolver() == kv::Resolver::kSiblings ? kv::DecodeContext(state.Context()).value()
                                                  : clock::VersionVector{};
  if (p.op.resolver == kv::Resolver::kSiblings) {
    // The new dot is one past every dot of this node the key has seen, here or in the
    // presented context (which may come from a replica ahead of this one).
    // It is also at least the write's hybrid timestamp, so that dots stay unique after a
    // tombstone that covered older ones was collected (see the header).
    uint64_t counter = seen.Get(self_);
    if (p.op.context) counter = std::max(counter, p.op.context->Get(self_));
    c.dot = clock::Dot{self_, std::max(counter + 1, c.hlc.packed())};
    if (p.op.context) {
      c.context = *p.op.context;
    } else if (c.op == kv::ChangeOp::kDelete) {
      c.context = seen;  // a delete without a context removes what this replica has seen
    }
  } else {
    // Last write wins: the hybrid timestamp names the write (unique per node).
    c.dot = clock::Dot{self_, c.hlc.packed()};
  }
  const kv::Outcome o = state.Apply(c);
  if (o.wrong_resolver) {
    ClientResult res;
    res.id = p.op.id;
    res.status = Status::InvalidArgument(fmt::format(
        "key '{}' holds a {} value; this write was for a {} key", p.op.key,
        kv::ResolverName(state.resolver()), kv::ResolverName(p.op.resolver)));
    Finish(rid, p, std::move(res));
    return;
  }
  MergeLocal(p.op.key, state);
  p.change = c;
  p.answered.insert(self_);
  // During a ring change, one more acknowledgement per pending replica (see the header).
  p.needed =
      std::min((p.op.w != 0 ? p.op.w : config_.w) + p.pending_replicas, p.replicas.size());
  const std::string bytes = Encode(state);
  // Sloppy quorum: the nodes after the home replicas, in preference order, stand in for
  // the home replicas believed down.
  std::vector<uint64_t> spare;
  if (config_.sloppy_quorum) {
    const std::vector<uint64_t> extended = ring_.Replicas(p.op.key, ring_.size());
    for (uint64_t node : extended) {
      if (std::find(p.replicas.begin(), p.replicas.end(), node) == p.replicas.end() &&
          down_.count(node) == 0) {
        spare.push_back(node);
      }
    }
  }
  size_t next_spare = 0;
  for (uint64_t r : p.replicas) {
    if (r == self_) continue;
    std::string msg;
    ByteWriter w(&msg);
    if (down_.count(r) != 0 && next_spare < spare.size()) {
      const uint64_t fallback = spare[next_spare++];
      p.fallbacks[fallback] = r;
      w.U8(kHintedWrite);
      w.U64(rid);
      w.U64(r);
      w.Bytes(p.op.key);
      w.Bytes(bytes);
      out_.send.push_back(Envelope{fallback, std::move(msg)});
      continue;
    }
    w.U8(kWrite);
    w.U64(rid);
    w.Bytes(p.op.key);
    w.Bytes(bytes);
    out_.send.push_back(Envelope{r, std::move(msg)});
  }
  auto [it, inserted] = pending_.emplace(rid, std::move(p));
  (void)inserted;
  if (it->second.answered.size() >= it->second.needed) {
    ClientResult res;
    res.id = it->second.op.id;
    res.change = it->second.change;
    res.existed = it->second.existed;
    res.answered = it->second.answered.size();
    Finish(rid, it->second, std::move(res));
  }
}

void Coordinator::Finish(uint64_t rid, Pending& p, ClientResult result) {
  (void)rid;
  p.replied = true;
  if (p.from_peer != 0) {
    std::string msg;
    ByteWriter w(&msg);
    w.U8(kForwardReply);
    w.U64(p.peer_request);
    w.U8(static_cast<uint8_t>(result.status.code()));
    w.Bytes(result.status.message());
    w.U64(result.answered);
    w.Bytes(kv::EncodeChange(result.change));
    w.U8(static_cast<uint8_t>((result.sloppy ? 1 : 0) | (result.existed ? 2 : 0)));
    out_.send.push_back(Envelope{p.from_peer, std::move(msg)});
    return;
  }
  out_.results.push_back(std::move(result));
}

void Coordinator::OnMessage(uint64_t from, std::string_view bytes, uint64_t now_ms) {
  now_ms_ = std::max(now_ms_, now_ms);
  ByteReader r(bytes);
  uint8_t type = 0;
  uint64_t rid = 0;
  if (!r.U8(&type) || !r.U64(&rid)) {
    ++malformed_;
    return;
  }
  switch (type) {
    case kRead: {
      std::string_view key;
      if (!r.Bytes(&key, config_.limits.max_key_bytes) || !r.done()) break;
      const std::string k(key);
      const std::string mine = LocalBytes(k);
      std::string msg;
      ByteWriter w(&msg);
      w.U8(kReadReply);
      w.U64(rid);
      w.U8(mine.empty() ? 0 : 1);
      w.Bytes(mine);
      out_.send.push_back(Envelope{from, std::move(msg)});
      return;
    }
    case kReadReply: {
      uint8_t has = 0;
      std::string_view state;
      if (!r.U8(&has) || has > 1 || !r.Bytes(&state) || !r.done()) break;
      auto it = pending_.find(rid);
      if (it == pending_.end() || it->second.op.kind != OpKind::kGet) return;
      Pending& p = it->second;
      if (std::find(p.replicas.begin(), p.replicas.end(), from) == p.replicas.end()) return;
      if (p.states.count(from) != 0) return;  // a duplicate
      if (has == 1 && !Decode(p.op.key, state)) return;
      p.states[from] = has == 1 ? std::string(state) : std::string();
      p.answered.insert(from);
      if (p.replied || p.answered.size() >= p.needed) FinishRead(rid, p);
      if (p.replied && p.answered.size() == p.replicas.size()) pending_.erase(it);
      return;
    }
    case kWrite: {
      std::string_view key, state;
      if (!r.Bytes(&key, config_.limits.max_key_bytes) || !r.Bytes(&state) || !r.done()) break;
      const std::string k(key);
      std::optional<kv::KeyState> st = Decode(k, state);
      if (!st) return;
      MergeLocal(k, *st);
      if (rid != 0) {
        std::string msg;
        ByteWriter w(&msg);
        w.U8(kWriteAck);
        w.U64(rid);
        out_.send.push_back(Envelope{from, std::move(msg)});
      }
      return;
    }
    case kWriteAck: {
      if (!r.done()) break;
      auto it = pending_.find(rid);
      if (it == pending_.end()) return;
      Pending& p = it->second;
      if (p.replied && p.repairing.empty()) return;
      if (p.op.kind == OpKind::kGet) {
        if (p.repairing.erase(from) == 0 || !p.repairing.empty()) return;
        ClientResult res;
        res.id = p.op.id;
        res.state = p.merged.empty() ? std::nullopt : Decode(p.op.key, p.merged);
        res.answered = p.answered.size();
        Finish(rid, p, std::move(res));
        return;
      }
      const bool home = std::find(p.replicas.begin(), p.replicas.end(), from) != p.replicas.end();
      if (!home && p.fallbacks.count(from) == 0) return;
      p.answered.insert(from);
      if (p.answered.size() >= p.needed) {
        ClientResult res;
        res.id = p.op.id;
        res.change = p.change;
        res.existed = p.existed;
        res.answered = p.answered.size();
        for (uint64_t a : p.answered) res.sloppy = res.sloppy || p.fallbacks.count(a) != 0;
        Finish(rid, p, std::move(res));
        pending_.erase(it);
      }
      return;
    }
    case kHintedWrite: {
      uint64_t target = 0;
      std::string_view key, state;
      if (!r.U64(&target) || !r.Bytes(&key, config_.limits.max_key_bytes) || !r.Bytes(&state) ||
          !r.done()) {
        break;
      }
      const std::string k(key);
      std::optional<kv::KeyState> st = Decode(k, state);
      if (!st || target == self_) return;
      auto& held = hints_[target];
      auto hit = held.find(k);
      if (hit != held.end()) {
        if (std::optional<kv::KeyState> old = Decode(k, hit->second)) (void)st->Merge(*old);
      }
      std::string encoded = Encode(*st);
      const uint64_t old_size = hit == held.end() ? 0 : k.size() + hit->second.size();
      const uint64_t held_bytes = hint_bytes_[target] - old_size + k.size() + encoded.size();
      if ((hit == held.end() && held.size() >= config_.max_hints_per_target) ||
          held_bytes > config_.max_hint_bytes_per_target) {
        ++hints_refused_;  // full: no acknowledgement, the write may miss its quorum
        if (held.empty()) hints_.erase(target);
        return;
      }
      ++hints_stored_;
      hint_bytes_[target] = held_bytes;
      hint_since_.try_emplace({target, k}, now_ms_);  // 0 before the first Tick: set there
      held[k] = encoded;
      out_.hints.push_back(HintWrite{target, k, std::move(encoded)});
      std::string msg;
      ByteWriter w(&msg);
      w.U8(kWriteAck);
      w.U64(rid);
      out_.send.push_back(Envelope{from, std::move(msg)});
      return;
    }
    case kHintReplay: {
      std::string_view key, state;
      if (!r.Bytes(&key, config_.limits.max_key_bytes) || !r.Bytes(&state) || !r.done()) break;
      const std::string k(key);
      std::optional<kv::KeyState> st = Decode(k, state);
      if (!st) return;
      MergeLocal(k, *st);
      std::string msg;
      ByteWriter w(&msg);
      w.U8(kHintAck);
      w.U64(0);
      w.Bytes(key);
      w.Bytes(state);
      out_.send.push_back(Envelope{from, std::move(msg)});
      return;
    }
    case kHintAck: {
      std::string_view key, state;
      if (!r.Bytes(&key, config_.limits.max_key_bytes) || !r.Bytes(&state) || !r.done()) break;
      const std::string k(key);
      replaying_.erase({from, k});
      auto tit = hints_.find(from);
      if (tit == hints_.end()) return;
      auto hit = tit->second.find(k);
      // Dropped only if no newer version arrived while the replay was in flight.
      if (hit == tit->second.end() || hit->second != state) return;
      DropHint(from, k);
      ++hints_delivered_;
      return;
    }
    case kForward: {
      uint8_t kind = 0, resolver = 0, has_ctx = 0;
      std::string_view key, value;
      clock::VersionVector ctx;
      uint64_t w = 0, deadline = 0;
      if (!r.U8(&kind) || (kind != 2 && kind != 3) || !r.U8(&resolver) || resolver < 1 ||
          resolver > 4 || !r.Bytes(&key, config_.limits.max_key_bytes) ||
          !r.Bytes(&value, config_.limits.max_value_bytes) || !r.U8(&has_ctx) || has_ctx > 1 ||
          !clock::VersionVector::Decode(&r, &ctx).ok() || !r.U64(&w) || !r.U64(&deadline) ||
          !r.done()) {
        break;
      }
      Pending p;
      p.op.kind = static_cast<OpKind>(kind);
      p.op.resolver = static_cast<kv::Resolver>(resolver);
      p.op.key = std::string(key);
      p.op.value = std::string(value);
      if (has_ctx == 1) p.op.context = std::move(ctx);
      p.op.w = static_cast<size_t>(w);
      p.from_peer = from;
      p.peer_request = rid;
      p.deadline_ms = std::min(deadline, now_ms_ + config_.request_timeout_ms);
      p.replicas = WriteReplicas(p.op.key, &p.pending_replicas);
      if (now_ms_ >= deadline) {
        // The forwarder has already told its client the outcome is unknown. Coordinating
        // the write now would stamp it later than writes the client made since (a message
        // held by a connection to a node that restarted, say), and with last write wins it
        // would replace them: refuse it.
        ClientResult res;
        res.status = Status::Unavailable(fmt::format(
            "the forwarded write of key '{}' reached node {} after its deadline; not applied",
            p.op.key, self_));
        Finish(next_rid_++, p, std::move(res));
        return;
      }
      if (std::find(p.replicas.begin(), p.replicas.end(), self_) == p.replicas.end()) {
        // The forwarder's ring differs from ours: refuse rather than coordinate.
        ClientResult res;
        res.status = Status::Unavailable(fmt::format(
            "node {} is not a replica of key '{}' in its ring view; retry", self_, p.op.key));
        Finish(next_rid_++, p, std::move(res));
        return;
      }
      StartWrite(next_rid_++, std::move(p));
      return;
    }
    case kForwardReply: {
      uint8_t code = 0, sloppy = 0;
      std::string_view message, change_bytes;
      uint64_t answered = 0;
      if (!r.U8(&code) || !r.Bytes(&message) || !r.U64(&answered) || !r.Bytes(&change_bytes) ||
          !r.U8(&sloppy) || sloppy > 3 || !r.done()) {
        break;
      }
      auto it = pending_.find(rid);
      if (it == pending_.end() || it->second.replied) return;
      ClientResult res;
      res.id = it->second.op.id;
      res.status = Status(static_cast<Code>(code), std::string(message));
      res.answered = static_cast<size_t>(answered);
      res.sloppy = (sloppy & 1) != 0;
      res.existed = (sloppy & 2) != 0;
      ByteReader cr(change_bytes);
      if (!kv::DecodeChange(&cr, config_.limits, &res.change).ok()) res.change = kv::Change{};
      Finish(rid, it->second, std::move(res));
      pending_.erase(it);
      return;
    }
    case kAeHashes: {
      const uint64_t range_end = rid;  // the first u64 of every message
      uint32_t level = 0, n = 0;
      if (!r.U32(&level) || !r.U32(&n) || n > (uint32_t{2} << MerkleTree::kMaxDepth)) break;
      std::vector<std::pair<uint64_t, uint64_t>> theirs;
      bool bad = false;
      for (uint32_t k = 0; k < n && !bad; ++k) {
        uint64_t index = 0, hash = 0;
        bad = !r.U64(&index) || !r.U64(&hash);
        theirs.emplace_back(index, hash);
      }
      if (bad || !r.done()) break;
      auto tit = trees_.find(range_end);
      if (tit == trees_.end() || level > tit->second.depth()) return;  // another ring view
      MerkleTree& tree = tit->second;
      std::vector<uint64_t> differing;
      for (const auto& [index, hash] : theirs) {
        if (index >= (uint64_t{1} << level)) return;
        if (tree.Node(level, index) != hash) differing.push_back(index);
      }
      if (differing.empty()) return;  // in sync below what was compared
      if (level == tree.depth()) {
        // Differing buckets: send what this node holds there; the peer merges it and
        // answers with what it holds.
        SendEntries(from, range_end, false, differing, EntriesIn(tree, differing));
        return;
      }
      std::vector<uint64_t> children;
      for (uint64_t i : differing) {
        children.push_back(2 * i);
        children.push_back(2 * i + 1);
      }
      SendHashes(from, range_end, level + 1, children, tree);
      return;
    }
    case kAeRoot: {
      const uint64_t range_end = rid;
      uint8_t reply = 0;
      uint64_t root = 0;
      if (!r.U8(&reply) || reply > 1 || !r.U64(&root) || !r.done()) break;
      auto tit = trees_.find(range_end);
      if (reply == 0) {
        if (tit == trees_.end()) return;  // another ring view: no answer
        std::string msg;
        ByteWriter w(&msg);
        w.U8(kAeRoot);
        w.U64(range_end);
        w.U8(1);
        w.U64(tit->second.Node(0, 0));
        out_.send.push_back(Envelope{from, std::move(msg)});
        return;
      }
      if (repair_waiting_.erase({range_end, from}) == 0) return;
      ++repair_.pairs_answered;
      if (tit != trees_.end() && tit->second.Node(0, 0) != root) {
        repair_.differing.emplace_back(range_end, from);
      }
      return;
    }
    case kGcQuery: {
      std::string_view key;
      if (!r.Bytes(&key, config_.limits.max_key_bytes) || !r.done()) break;
      std::optional<kv::KeyState> st = LocalState(std::string(key));
      std::string msg;
      ByteWriter w(&msg);
      w.U8(kGcAnswer);
      w.U64(rid);
      w.Bytes(key);
      w.U8(!st || st->Empty() ? 1 : 0);
      out_.send.push_back(Envelope{from, std::move(msg)});
      return;
    }
    case kGcAnswer: {
      std::string_view key;
      uint8_t clear = 0;
      if (!r.Bytes(&key, config_.limits.max_key_bytes) || !r.U8(&clear) || clear > 1 ||
          !r.done()) {
        break;
      }
      OnGcAnswer(from, rid, key, clear == 1);
      return;
    }
    case kStreamRequest: ServeStreamRequest(from, r, rid); return;
    case kStreamChunk: OnStreamChunk(from, r, rid); return;
    case kAeEntries: {
      const uint64_t range_end = rid;
      uint8_t reply = 0;
      uint32_t n = 0, m = 0;
      if (!r.U8(&reply) || reply > 1 || !r.U32(&n) || n > (uint32_t{1} << MerkleTree::kMaxDepth)) {
        break;
      }
      std::vector<uint64_t> buckets(n);
      bool bad = false;
      for (uint64_t& b : buckets) bad = bad || !r.U64(&b);
      if (bad || !r.U32(&m)) break;
      std::vector<std::pair<std::string, kv::KeyState>> entries;
      for (uint32_t k = 0; k < m && !bad; ++k) {
        std::string_view key, state;
        bad = !r.Bytes(&key, config_.limits.max_key_bytes) || !r.Bytes(&state);
        if (bad) break;
        std::optional<kv::KeyState> st = Decode(std::string(key), state);
        if (st) entries.emplace_back(std::string(key), std::move(*st));
      }
      if (bad || !r.done()) break;
      auto tit = trees_.find(range_end);
      if (tit == trees_.end()) return;
      for (uint64_t b : buckets) {
        if (b >= tit->second.buckets()) return;
      }
      // What this node holds there, before merging, goes back to the peer.
      std::vector<std::pair<std::string, std::string>> mine;
      if (reply == 0) mine = EntriesIn(tit->second, buckets);
      for (const auto& [key, st] : entries) {
        if (!tit->second.Contains(ring::Hash64(key))) continue;  // not of this range
        ++ae_keys_received_;
        MergeLocal(key, st);
      }
      if (reply == 0) SendEntries(from, range_end, true, buckets, mine);
      return;
    }
    default: break;
  }
  ++malformed_;
}

void Coordinator::StartExchange() {
  if (trees_.empty()) return;
  // The next range in turn, with the next other replica of it that is believed up.
  auto it = trees_.begin();
  std::advance(it, static_cast<std::ptrdiff_t>(exchange_cursor_ % trees_.size()));
  const uint64_t round = exchange_cursor_ / trees_.size();
  ++exchange_cursor_;
  std::vector<uint64_t> peers;
  for (uint64_t r : ring_.ReplicasForToken(it->first, config_.n)) {
    if (r != self_ && down_.count(r) == 0) peers.push_back(r);
  }
  if (peers.empty()) return;
  ++ae_exchanges_;
  SendHashes(peers[round % peers.size()], it->first, 0, {0}, it->second);
}

void Coordinator::SendHashes(uint64_t to, uint64_t range_end, uint32_t level,
                             const std::vector<uint64_t>& indices, MerkleTree& tree) {
  std::string msg;
  ByteWriter w(&msg);
  w.U8(kAeHashes);
  w.U64(range_end);
  w.U32(level);
  w.U32(static_cast<uint32_t>(indices.size()));
  for (uint64_t i : indices) {
    w.U64(i);
    w.U64(tree.Node(level, i));
  }
  ae_hashes_sent_ += indices.size();
  out_.send.push_back(Envelope{to, std::move(msg)});
}

std::vector<std::pair<std::string, std::string>> Coordinator::EntriesIn(
    MerkleTree& tree, const std::vector<uint64_t>& buckets) {
  std::vector<std::pair<std::string, std::string>> entries;
  auto add_span = [&](uint64_t first, uint64_t last) {
    for (auto it = tokens_.lower_bound(first); it != tokens_.end() && it->first <= last; ++it) {
      if (entries.size() >= config_.max_entries_per_message) return;
      std::string bytes = LocalBytes(it->second);
      if (!bytes.empty()) entries.emplace_back(it->second, std::move(bytes));
    }
  };
  for (uint64_t b : buckets) {
    const MerkleTree::Span span = tree.BucketSpan(b);
    if (span.last + 1 == span.first) continue;  // an empty bucket
    if (span.first <= span.last) {
      add_span(span.first, span.last);
    } else {  // wraps around 2^64
      add_span(span.first, ~uint64_t{0});
      add_span(0, span.last);
    }
  }
  return entries;
}

void Coordinator::SendEntries(uint64_t to, uint64_t range_end, bool reply,
                              const std::vector<uint64_t>& buckets,
                              const std::vector<std::pair<std::string, std::string>>& entries) {
  std::string msg;
  ByteWriter w(&msg);
  w.U8(kAeEntries);
  w.U64(range_end);
  w.U8(reply ? 1 : 0);
  w.U32(static_cast<uint32_t>(buckets.size()));
  for (uint64_t b : buckets) w.U64(b);
  w.U32(static_cast<uint32_t>(entries.size()));
  for (const auto& [key, state] : entries) {
    w.Bytes(key);
    w.Bytes(state);
  }
  ae_keys_sent_ += entries.size();
  out_.send.push_back(Envelope{to, std::move(msg)});
}

void Coordinator::Tick(uint64_t now_ms) {
  now_ms_ = std::max(now_ms_, now_ms);
  StepStreaming();
  StepRepair();
  if (config_.anti_entropy_interval_ms > 0 && now_ms_ >= next_exchange_ms_) {
    next_exchange_ms_ = now_ms_ + config_.anti_entropy_interval_ms;
    StartExchange();
  }
  CollectTombstones();
  // Hints held too long go (read repair and anti-entropy are left to bring the key over).
  if (config_.max_hint_age_ms > 0) {
    std::vector<std::pair<uint64_t, std::string>> expired;
    for (auto& [hint, since] : hint_since_) {
      if (since == 0) since = now_ms_;  // restored at start: counted from now
      if (now_ms_ >= since + config_.max_hint_age_ms) expired.push_back(hint);
    }
    for (const auto& [target, key] : expired) {
      DropHint(target, key);
      ++hints_expired_;
    }
  }
  // Hint replay: a bounded number of keys per tick, to home replicas believed up. A replay
  // whose acknowledgement was lost is sent again on a later tick.
  size_t budget = config_.hint_replay_per_tick;
  for (const auto& [target, keys] : hints_) {
    if (down_.count(target) != 0) continue;
    for (const auto& [key, state] : keys) {
      if (budget == 0) break;
      auto [rit, fresh] = replaying_.try_emplace({target, key}, now_ms_);
      if (!fresh && now_ms_ < rit->second + config_.request_timeout_ms) continue;  // in flight
      rit->second = now_ms_;
      --budget;
      std::string msg;
      ByteWriter w(&msg);
      w.U8(kHintReplay);
      w.U64(0);
      w.Bytes(key);
      w.Bytes(state);
      out_.send.push_back(Envelope{target, std::move(msg)});
    }
  }
  for (auto it = pending_.begin(); it != pending_.end();) {
    Pending& p = it->second;
    if (now_ms_ < p.deadline_ms) {
      ++it;
      continue;
    }
    if (!p.replied) {
      ++timeouts_;
      ClientResult res;
      res.id = p.op.id;
      res.answered = p.answered.size();
      const bool forwarded = p.op.kind != OpKind::kGet && p.from_peer == 0 &&
                             std::find(p.replicas.begin(), p.replicas.end(), self_) ==
                                 p.replicas.end();
      res.status = Status::Unavailable(
          forwarded
              ? fmt::format("the replica coordinating the write of key '{}' did not answer "
                            "within {} ms; the write may or may not have happened",
                            p.op.key, config_.request_timeout_ms)
              : fmt::format("{} of the {} replicas needed answered within {} ms ({} of {} "
                            "replicas of key '{}'){}",
                            p.answered.size(), p.needed, config_.request_timeout_ms,
                            p.answered.size(), p.replicas.size(), p.op.key,
                            p.op.kind == OpKind::kGet
                                ? ""
                                : "; the write may have reached some replicas"));
      Finish(it->first, p, std::move(res));
    }
    it = pending_.erase(it);
  }
}

CoordinatorOutput Coordinator::TakeOutput() {
  written_.clear();
  CoordinatorOutput out = std::move(out_);
  out_ = CoordinatorOutput{};
  return out;
}

std::map<std::string, uint64_t> Coordinator::Counters() const {
  return {{"reads_total", reads_},     {"writes_total", writes_},
          {"forwards_total", forwards_}, {"timeouts_total", timeouts_},
          {"read_repairs_total", repairs_}, {"malformed_messages_total", malformed_},
          {"requests_pending", pending_.size()}, {"hints_stored_total", hints_stored_},
          {"hints_refused_total", hints_refused_}, {"hints_delivered_total", hints_delivered_},
          {"hints_expired_total", hints_expired_},
          {"hint_bytes", [&] {
             uint64_t total = 0;
             for (const auto& [target, bytes] : hint_bytes_) total += bytes;
             return total;
           }()},
          {"hints_pending", hints_pending()}, {"ae_exchanges_total", ae_exchanges_},
          {"ae_hashes_sent_total", ae_hashes_sent_}, {"ae_keys_sent_total", ae_keys_sent_},
          {"ae_keys_received_total", ae_keys_received_},
          {"tombstones_collected_total", tombstones_collected_},
          {"tombstones_settled", settled_.size()},
          {"stream_ranges_total", stream_stats_.ranges_total},
          {"stream_ranges_done", stream_stats_.ranges_done},
          {"stream_keys_received_total", stream_stats_.keys_received},
          {"stream_bytes_received_total", stream_stats_.bytes_received},
          {"stream_keys_sent_total", stream_stats_.keys_sent},
          {"streaming_paused", stream_stats_.paused ? 1 : 0},
          {"repair_active", repair_.active && !repair_.done() ? 1 : 0},
          {"repair_dry_run", repair_.dry_run ? 1 : 0},
          {"repair_pairs_total", repair_.pairs_total},
          {"repair_pairs_done", repair_.dry_run ? repair_.pairs_answered : repair_.pairs_started},
          {"repair_pairs_differing", repair_.differing.size()},
          {"repair_pairs_unanswered", repair_.unanswered}};
}

std::set<uint64_t> Gainers(const ring::Ring& read, const ring::Ring& write, size_t n) {
  std::set<uint64_t> cuts, gainers;
  for (const ring::TokenRange& r : read.Ranges(n)) cuts.insert(r.end);
  for (const ring::TokenRange& r : write.Ranges(n)) cuts.insert(r.end);
  for (uint64_t end : cuts) {
    const std::vector<uint64_t> r = read.ReplicasForToken(end, n);
    for (uint64_t node : write.ReplicasForToken(end, n)) {
      if (std::find(r.begin(), r.end(), node) == r.end()) gainers.insert(node);
    }
  }
  return gainers;
}

}  // namespace kvd::topology::dynamo
