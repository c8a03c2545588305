#include "tests/sim/ml_sim.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/rng.h"
#include "server/kv/replicated_state.h"

namespace kvd::sim {

namespace ml = topology::multi_leader;

namespace {

constexpr uint64_t kMs = 1000;  // simulated time is in microseconds
constexpr uint64_t kTickUs = 10 * kMs;
constexpr uint64_t kMaxEvents = 5'000'000;

kv::Resolver ResolverOf(const std::string& key) {
  switch (key[0]) {
    case 'l': return kv::Resolver::kLww;
    case 's': return kv::Resolver::kSiblings;
    case 'c': return kv::Resolver::kCounter;
    default: return kv::Resolver::kSet;
  }
}

const std::vector<std::string> kKeys = {"l0", "l1", "s0", "s1", "c0", "t0", "t1"};
const std::vector<std::string> kElements = {"a", "b", "c"};

struct Batch {
  std::vector<topology::StorageOp> core_ops;
  std::map<std::string, std::string> data;  // key -> encoded state ("": deleted)
  std::vector<topology::Envelope> sends;
  std::vector<size_t> acks;  // writes acknowledged when the batch is durable
  uint64_t done_at = 0;
};

struct SimNode {
  uint64_t id = 0;
  int64_t skew_us = 0;
  bool up = true;
  uint64_t epoch = 0;  // bumped by a crash: completions of older batches are void
  std::optional<ml::Replicator> core;
  std::map<std::string, std::string> durable_core;
  std::map<std::string, std::string> durable_data;
  std::map<std::string, kv::KeyState> live;
  std::deque<Batch> pending;
  uint64_t concurrent_overwrites = 0;
  uint64_t next_collect_us = 0;
};

struct WriteRecord {
  kv::Change change;
  bool acked = false;
  bool refused = false;
  bool lost = false;
};

enum class EventType { kTick, kDeliver, kDiskDone, kWrite, kCrash, kRestart, kHeal, kPartition };

struct Event {
  uint64_t at = 0;
  uint64_t seq = 0;
  EventType type = EventType::kTick;
  size_t node = 0;
  size_t from = 0;
  uint64_t epoch = 0;
  std::string bytes;
  bool operator>(const Event& o) const { return std::tie(at, seq) > std::tie(o.at, o.seq); }
};

class MlSimulation {
 public:
  explicit MlSimulation(const MlSimOptions& o) : o_(o), rng_(o.seed) {}

  MlSimResult Run();

 private:
  uint64_t WallMs(const SimNode& n) const {
    const int64_t t = static_cast<int64_t>(now_) + n.skew_us;
    return static_cast<uint64_t>(std::max<int64_t>(t, 0)) / kMs + 1'700'000'000'000;
  }
  void Schedule(Event e) {
    e.seq = ++event_seq_;
    queue_.push_back(std::move(e));
    std::push_heap(queue_.begin(), queue_.end(), std::greater<>());
  }
  void Trace(const std::string& line) {
    if (o_.trace) std::printf("%10.3f ms  %s\n", static_cast<double>(now_) / kMs, line.c_str());
  }
  void Fail(std::string why) {
    if (result_.ok) {
      result_.ok = false;
      result_.failure = std::move(why);
    }
  }

  void Flush(size_t n);
  void Send(size_t from, topology::Envelope e);
  void OnEvent(const Event& e);
  void ClientWrite(size_t n);
  void Crash(size_t n);
  void Restart(size_t n);
  void Collect(size_t n);
  // Queues batch b on node n's disk: durable, in order, after a random latency.
  void PushBatch(size_t n, Batch b);
  void SendState(size_t n, uint64_t peer);
  void InstallState(size_t n, const topology::SnapshotChunkIn& chunk);
  std::string Canonical(const kv::KeyState& st) const;
  bool Converged() const;
  void CheckFinal();

  MlSimOptions o_;
  Rng rng_;
  ml::ReplicatorConfig base_;
  std::vector<SimNode> nodes_;
  std::vector<WriteRecord> writes_;
  std::vector<Event> queue_;
  uint64_t event_seq_ = 0;
  uint64_t now_ = 0;
  bool safety_ = true;
  // cut_[a][b]: messages from a to b are lost.
  std::vector<std::vector<int>> cut_;
  // Fault rates for this run (swarm testing).
  double drop_ = 0, dup_ = 0, crash_rate_ = 0, partition_rate_ = 0;
  bool collection_ = false;
  uint64_t grace_ms_ = 0;
  uint64_t max_delay_us_ = 0;
  MlSimResult result_;
};

void MlSimulation::Send(size_t from, topology::Envelope e) {
  size_t to = 0;
  while (nodes_[to].id != e.to) ++to;
  ++result_.messages;
  if (cut_[from][to] > 0 || rng_.Chance(drop_)) {
    ++result_.dropped;
    return;
  }
  const int copies = rng_.Chance(dup_) ? 2 : 1;
  for (int c = 0; c < copies; ++c) {
    Event ev;
    ev.at = now_ + 100 + rng_.Uniform(max_delay_us_);
    ev.type = EventType::kDeliver;
    ev.node = to;
    ev.from = from;
    ev.bytes = e.bytes;
    Schedule(std::move(ev));
  }
}

void MlSimulation::PushBatch(size_t n, Batch b) {
  SimNode& node = nodes_[n];
  const uint64_t latency = 50 + rng_.Uniform(2 * kMs);
  b.done_at = std::max(node.pending.empty() ? 0 : node.pending.back().done_at, now_ + latency);
  Event ev;
  ev.at = b.done_at;
  ev.type = EventType::kDiskDone;
  ev.node = n;
  ev.epoch = node.epoch;
  node.pending.push_back(std::move(b));
  Schedule(std::move(ev));
}

void MlSimulation::Flush(size_t n) {
  SimNode& node = nodes_[n];
  if (!node.up) return;
  ml::ReplicatorOutput out = node.core->TakeOutput();
  for (const std::string& ev : out.events) Trace(fmt::format("node {}: {}", node.id, ev));
  if (out.storage.empty() && out.apply.empty() && out.send.empty() && out.transfers.empty() &&
      out.state_chunks.empty()) {
    return;
  }
  Batch b;
  b.core_ops = std::move(out.storage);
  for (const ml::AppliedChange& a : out.apply) {
    const kv::Change& c = a.change;
    auto it = node.live.try_emplace(c.key, c.resolver).first;
    kv::KeyState& st = it->second;
    // The write's record, if it is this node's own.
    size_t wi = SIZE_MAX;
    if (a.local) {
      for (size_t k = writes_.size(); k-- > 0;) {
        if (writes_[k].change.dot == c.dot && !writes_[k].lost) {
          wi = k;
          break;
        }
      }
      if (wi == SIZE_MAX) Fail(fmt::format("local change {} has no write record", c.dot.ToString()));
    }
    if (a.local && c.resolver == kv::Resolver::kSiblings && c.op == kv::ChangeOp::kPut &&
        st.SiblingsAfter(c) > o_.max_siblings) {
      // Over the cap: refused; the log entry becomes a no-op in the same batch.
      b.core_ops.push_back(topology::StorageOp{false, ml::LogKey(node.id, c.dot.counter),
                                               node.core->Refused(c.dot.counter)});
      if (wi != SIZE_MAX) writes_[wi].refused = true;
      ++result_.writes_refused;
      Trace(fmt::format("node {}: refused {} (over the sibling cap)", node.id, c.dot.ToString()));
      continue;
    }
    const kv::Outcome oc = st.Apply(c);
    if (oc.wrong_resolver) Fail(fmt::format("key {}: change of the wrong resolver", c.key));
    node.concurrent_overwrites += oc.concurrent_overwrites;
    b.data[c.key] = st.Encode();
    if (wi != SIZE_MAX) b.acks.push_back(wi);
  }
  b.sends = std::move(out.send);
  PushBatch(n, std::move(b));
  for (uint64_t peer : out.transfers) SendState(n, peer);
  for (const topology::SnapshotChunkIn& chunk : out.state_chunks) InstallState(n, chunk);
}

// A state transfer, as the node shell does it: every durable key state and the durable
// progress and clock, from one consistent view (here: the durable maps), in one chunk.
void MlSimulation::SendState(size_t n, uint64_t peer) {
  SimNode& node = nodes_[n];
  std::string data;
  ByteWriter w(&data);
  for (const auto& [key, bytes] : node.durable_data) {
    w.Bytes(key);
    w.Bytes(bytes);
  }
  ++result_.state_transfers;
  const std::string metadata = ml::Replicator::TransferMetadata(node.durable_core);
  Trace(fmt::format("node {}: state transfer to node {} ({} keys, {} bytes)", node.id, peer,
                    node.durable_data.size(), data.size()));
  Send(n, topology::Envelope{peer, node.core->EncodeStateChunk(0, metadata, data, true)});
}

// The receiving shell merges every state into its own, durably, and then tells the core.
void MlSimulation::InstallState(size_t n, const topology::SnapshotChunkIn& chunk) {
  SimNode& node = nodes_[n];
  if (!node.up) return;
  if (!chunk.done || chunk.offset != 0) {
    Fail("the simulator sends state transfers in one chunk");
    return;
  }
  Batch b;
  ByteReader r(chunk.data);
  while (r.remaining() > 0) {
    std::string_view key, bytes;
    if (!r.Bytes(&key) || !r.Bytes(&bytes)) {
      Fail("a state transfer does not decode");
      return;
    }
    auto theirs = kv::KeyState::Decode(key, bytes, kv::ReplicatedLimits{});
    if (!theirs.ok()) {
      Fail(theirs.status().ToString());
      return;
    }
    auto it = node.live.try_emplace(std::string(key), theirs.value().resolver()).first;
    const kv::Outcome o = it->second.Merge(theirs.value());
    if (o.wrong_resolver) Fail(fmt::format("key {}: merged a state of another resolver", key));
    if (o.changed) b.data[std::string(key)] = it->second.Encode();
  }
  Trace(fmt::format("node {}: merged the state of node {} ({} keys changed)", node.id,
                    chunk.index, b.data.size()));
  PushBatch(n, std::move(b));
  node.core->OnStateInstalled(chunk.index, chunk.membership);
  Flush(n);
}

void MlSimulation::Collect(size_t n) {
  SimNode& node = nodes_[n];
  const std::optional<kv::Stability> stable = node.core->TakeCollection();
  if (!stable) return;
  Flush(n);  // the collection watermark is durable no later than the collection
  Batch b;
  for (auto it = node.live.begin(); it != node.live.end();) {
    const std::string key = it->first;
    switch (it->second.CollectTombstones(*stable, WallMs(node), grace_ms_)) {
      case kv::Collected::kNothing: ++it; break;
      case kv::Collected::kTrimmed:
        ++result_.tombstones_collected;
        b.data[key] = it->second.Encode();
        ++it;
        break;
      case kv::Collected::kRemoveKey:
        ++result_.tombstones_collected;
        Trace(fmt::format("node {}: collected the tombstone of {} (stable {} {})", node.id, key,
                          stable->vv.ToString(), stable->clock.ToString()));
        b.data[key] = std::string();
        it = node.live.erase(it);
        break;
    }
  }
  if (b.data.empty()) return;
  PushBatch(n, std::move(b));
}

std::string MlSimulation::Canonical(const kv::KeyState& st) const {
  if (!collection_ || st.resolver() != kv::Resolver::kSiblings) return st.Encode();
  // Collection may leave dots every node had applied in one replica's siblings context and
  // not in another's: compare the siblings themselves and the latest timestamp.
  std::string out = st.latest().ToString();
  for (const auto& e : st.Siblings()) {
    out += fmt::format("|{} {} {}", e.dot.ToString(), e.value.hlc.ToString(), e.value.value);
  }
  return out;
}

void MlSimulation::ClientWrite(size_t n) {
  SimNode& node = nodes_[n];
  const std::string key = kKeys[rng_.Uniform(kKeys.size())];
  ml::LocalWrite w;
  w.key = key;
  w.resolver = ResolverOf(key);
  // Contexts come from what is durable on some node: a client only sees durable state.
  auto durable_context = [&](size_t at) -> clock::VersionVector {
    auto it = nodes_[at].durable_data.find(key);
    if (it == nodes_[at].durable_data.end()) return {};
    auto st = kv::KeyState::Decode(key, it->second, kv::ReplicatedLimits{});
    if (!st.ok()) {
      Fail(st.status().ToString());
      return {};
    }
    return kv::DecodeContext(st.value().Context()).value();
  };
  switch (w.resolver) {
    case kv::Resolver::kLww:
      w.op = rng_.Chance(0.2) ? kv::ChangeOp::kDelete : kv::ChangeOp::kPut;
      if (w.op == kv::ChangeOp::kPut) w.value = fmt::format("v{}", writes_.size());
      break;
    case kv::Resolver::kSiblings:
      w.op = rng_.Chance(0.15) ? kv::ChangeOp::kDelete : kv::ChangeOp::kPut;
      if (w.op == kv::ChangeOp::kPut) w.value = fmt::format("v{}", writes_.size());
      if (w.op == kv::ChangeOp::kDelete || rng_.Chance(0.7)) {
        // Usually read from this node, sometimes from another one (a stale or a newer view).
        w.context = durable_context(rng_.Chance(0.7) ? n : rng_.Uniform(nodes_.size()));
      }
      break;
    case kv::Resolver::kCounter:
      w.op = kv::ChangeOp::kAdd;
      w.amount = static_cast<int64_t>(rng_.Uniform(16)) - 5;
      break;
    case kv::Resolver::kSet:
      w.op = rng_.Chance(0.4) ? kv::ChangeOp::kSetRemove : kv::ChangeOp::kSetAdd;
      w.value = kElements[rng_.Uniform(kElements.size())];
      break;
  }
  WriteRecord rec;
  rec.change = node.core->Write(std::move(w), WallMs(node));
  Trace(fmt::format("node {}: write {} {} {} {}", node.id, rec.change.dot.ToString(), key,
                    kv::ChangeOpName(rec.change.op), rec.change.value));
  writes_.push_back(std::move(rec));
  Flush(n);
}

void MlSimulation::Crash(size_t n) {
  SimNode& node = nodes_[n];
  if (!node.up) return;
  ++result_.crashes;
  Trace(fmt::format("node {}: crash ({} batches not durable)", node.id, node.pending.size()));
  for (const Batch& b : node.pending) {
    for (size_t wi : b.acks) writes_[wi].lost = true;
  }
  node.pending.clear();
  node.up = false;
  ++node.epoch;
  node.core.reset();
  node.live.clear();
  for (const auto& [key, bytes] : node.durable_data) {
    auto st = kv::KeyState::Decode(key, bytes, kv::ReplicatedLimits{});
    if (!st.ok()) {
      Fail(st.status().ToString());
      return;
    }
    node.live.emplace(key, std::move(st).value());
  }
  Event ev;
  ev.at = now_ + 50 * kMs + rng_.Uniform(1500 * kMs);
  ev.type = EventType::kRestart;
  ev.node = n;
  Schedule(std::move(ev));
}

void MlSimulation::Restart(size_t n) {
  SimNode& node = nodes_[n];
  if (node.up) return;
  ml::ReplicatorConfig cfg = base_;
  cfg.self = node.id;
  auto core = ml::Replicator::Open(cfg, node.durable_core);
  if (!core.ok()) {
    Fail(fmt::format("node {} does not restart: {}", node.id, core.status().ToString()));
    return;
  }
  node.core.emplace(std::move(core).value());
  node.up = true;
  Trace(fmt::format("node {}: restart, progress {}", node.id, node.core->progress().ToString()));
  Flush(n);
}

void MlSimulation::OnEvent(const Event& e) {
  SimNode& node = nodes_[e.node];
  switch (e.type) {
    case EventType::kTick: {
      if (node.up) {
        node.core->Tick(WallMs(node));
        if (collection_ && now_ >= node.next_collect_us) {
          node.next_collect_us = now_ + base_.report_interval_ms * kMs;
          Collect(e.node);
        }
        Flush(e.node);
      }
      Event next = e;
      next.at = now_ + kTickUs;
      Schedule(std::move(next));
      break;
    }
    case EventType::kDeliver:
      if (!node.up) {
        ++result_.dropped;
        break;
      }
      if (o_.trace) {
        std::string what = fmt::format("type {}, {} bytes", e.bytes.empty() ? -1 : static_cast<int>(e.bytes[0]),
                                       e.bytes.size());
        ByteReader r(e.bytes);
        uint8_t type = 0;
        uint64_t origin = 0;
        uint32_t count = 0;
        if (r.U8(&type) && type == 1 && r.U64(&origin) && r.U32(&count)) {
          what = fmt::format("changes of origin {}:", origin);
          for (uint32_t k = 0; k < count; ++k) {
            std::string_view one;
            kv::Change c;
            if (!r.Bytes(&one)) break;
            ByteReader cr(one);
            if (kv::DecodeChange(&cr, kv::ReplicatedLimits{}, &c).ok()) what += " " + c.dot.ToString();
          }
        }
        Trace(fmt::format("node {}: message from {}: {}", node.id, nodes_[e.from].id, what));
      }
      node.core->OnMessage(nodes_[e.from].id, e.bytes, WallMs(node));
      Flush(e.node);
      break;
    case EventType::kDiskDone: {
      if (e.epoch != node.epoch || node.pending.empty()) break;
      Batch b = std::move(node.pending.front());
      node.pending.pop_front();
      for (const auto& op : b.core_ops) {
        if (op.is_delete) {
          node.durable_core.erase(op.key);
        } else {
          node.durable_core[op.key] = op.value;
        }
      }
      for (auto& [key, bytes] : b.data) {
        if (bytes.empty()) {
          node.durable_data.erase(key);
        } else {
          node.durable_data[key] = bytes;
        }
      }
      for (size_t wi : b.acks) writes_[wi].acked = true;
      for (auto& env : b.sends) Send(e.node, std::move(env));
      break;
    }
    case EventType::kWrite: {
      if (safety_) {
        if (node.up) ClientWrite(e.node);
        Event next = e;
        next.at = now_ + 1 * kMs + rng_.Uniform(40 * kMs);
        Schedule(std::move(next));
      }
      break;
    }
    case EventType::kCrash:
      if (safety_) {
        if (o_.crashes && rng_.Chance(crash_rate_)) Crash(e.node);
        Event next = e;
        next.at = now_ + 200 * kMs + rng_.Uniform(800 * kMs);
        Schedule(std::move(next));
      }
      break;
    case EventType::kRestart: Restart(e.node); break;
    case EventType::kPartition: {
      if (!safety_) break;
      if (rng_.Chance(partition_rate_)) {
        ++result_.partitions;
        // Cut a random set of directed links for a while.
        const size_t n = nodes_.size();
        const size_t a = rng_.Uniform(n);
        const bool isolate = rng_.Chance(0.5);
        const bool one_way = rng_.Chance(0.3);
        std::vector<std::pair<size_t, size_t>> links;
        for (size_t b = 0; b < n; ++b) {
          if (b == a || (!isolate && !rng_.Chance(0.5))) continue;
          links.emplace_back(a, b);
          if (!one_way) links.emplace_back(b, a);
        }
        std::string desc;
        for (auto [x, y] : links) {
          ++cut_[x][y];
          desc += fmt::format(" {}->{}", nodes_[x].id, nodes_[y].id);
        }
        Trace("partition:" + desc);
        Event heal;
        heal.at = now_ + 100 * kMs + rng_.Uniform(2000 * kMs);
        heal.type = EventType::kHeal;
        for (auto [x, y] : links) heal.bytes += fmt::format("{} {};", x, y);
        Schedule(std::move(heal));
      }
      Event next = e;
      next.at = now_ + 100 * kMs + rng_.Uniform(600 * kMs);
      Schedule(std::move(next));
      break;
    }
    case EventType::kHeal: {
      size_t pos = 0;
      while (pos < e.bytes.size()) {
        const size_t semi = e.bytes.find(';', pos);
        const std::string pair = e.bytes.substr(pos, semi - pos);
        const size_t sp = pair.find(' ');
        const size_t x = std::stoul(pair.substr(0, sp)), y = std::stoul(pair.substr(sp + 1));
        if (cut_[x][y] > 0) --cut_[x][y];
        pos = semi + 1;
      }
      break;
    }
  }
}

bool MlSimulation::Converged() const {
  for (const SimNode& n : nodes_) {
    if (!n.up || !n.pending.empty()) return false;
  }
  for (const SimNode& origin : nodes_) {
    const uint64_t latest = origin.core->progress().Get(origin.id);
    for (const SimNode& n : nodes_) {
      if (n.core->progress().Get(origin.id) != latest) return false;
    }
  }
  for (const SimNode& n : nodes_) {
    if (n.core->retained() != 0) return false;
    if (collection_) {
      for (const auto& [key, st] : n.live) {
        if (st.HasTombstones()) return false;
      }
    }
  }
  return true;
}

void MlSimulation::CheckFinal() {
  // Byte-identical states, all durable.
  for (const SimNode& n : nodes_) {
    if (n.core->progress() != nodes_[0].core->progress()) {
      Fail(fmt::format("node {} progress {} differs from node {}'s {}", n.id,
                       n.core->progress().ToString(), nodes_[0].id,
                       nodes_[0].core->progress().ToString()));
      return;
    }
    std::map<std::string, std::string> live;
    for (const auto& [key, st] : n.live) live[key] = st.Encode();
    if (live != n.durable_data) {
      Fail(fmt::format("node {}: live state differs from durable state after quiescence", n.id));
      return;
    }
    std::map<std::string, std::string> canonical, canonical0;
    for (const auto& [key, st] : n.live) canonical[key] = Canonical(st);
    for (const auto& [key, st] : nodes_[0].live) canonical0[key] = Canonical(st);
    if (canonical != canonical0) {
      for (const auto& [key, bytes] : canonical) {
        auto it = canonical0.find(key);
        if (it == canonical0.end() || it->second != bytes) {
          auto hex = [](std::string_view b) {
            std::string out;
            for (char ch : b) out += fmt::format("{:02x}", static_cast<unsigned char>(ch));
            return out;
          };
          Fail(fmt::format("replicas diverged: key {} differs between node {} and node {}: {} vs {}",
                           key, n.id, nodes_[0].id, hex(bytes),
                           it == canonical0.end() ? std::string("(absent)") : hex(it->second)));
          return;
        }
      }
      Fail(fmt::format("replicas diverged: node {} lacks keys node {} has", n.id, nodes_[0].id));
      return;
    }
  }
  // Each key against its resolver's promise over the acknowledged writes.
  const std::map<std::string, kv::KeyState>& state = nodes_[0].live;
  for (const std::string& key : kKeys) {
    std::vector<const kv::Change*> acked;
    for (const WriteRecord& w : writes_) {
      if (w.acked && !w.refused && w.change.key == key) acked.push_back(&w.change);
    }
    auto it = state.find(key);
    if (it == state.end() && !acked.empty() && !collection_) {
      Fail(fmt::format("key {}: {} acknowledged writes, no state", key, acked.size()));
      continue;
    }
    // A collected tombstone reads as a key never written: the checks below apply as they are.
    const kv::KeyState empty(ResolverOf(key));
    const kv::KeyState& st = it == state.end() ? empty : it->second;
    // Writes no other acknowledged write's context covered (for siblings and set).
    auto uncovered = [&](const kv::Change* c) {
      for (const kv::Change* q : acked) {
        if (q != c && q->context.Covers(c->dot) &&
            (ResolverOf(key) != kv::Resolver::kSet || q->value == c->value)) {
          return false;
        }
      }
      return true;
    };
    switch (ResolverOf(key)) {
      case kv::Resolver::kLww: {
        const kv::Change* best = nullptr;
        for (const kv::Change* c : acked) {
          if (!best || std::pair(c->hlc, c->dot.node) > std::pair(best->hlc, best->dot.node)) best = c;
        }
        std::optional<std::string> want;
        if (best && best->op == kv::ChangeOp::kPut) want = best->value;
        if (st.LwwValue() != want) {
          Fail(fmt::format("lww key {}: holds {}, the largest acknowledged write is {}", key,
                           st.LwwValue().value_or("(deleted)"),
                           best ? best->dot.ToString() + " " + want.value_or("(deleted)") : "none"));
        }
        break;
      }
      case kv::Resolver::kSiblings: {
        std::set<clock::Dot> want, have;
        for (const kv::Change* c : acked) {
          if (c->op == kv::ChangeOp::kPut && uncovered(c)) want.insert(c->dot);
        }
        for (const auto& e : st.Siblings()) have.insert(e.dot);
        if (want != have) {
          std::string w, h;
          for (const auto& d : want) w += " " + d.ToString();
          for (const auto& d : have) h += " " + d.ToString();
          Fail(fmt::format("siblings key {}: holds [{} ], acknowledged uncovered writes are [{} ]",
                           key, h, w));
        }
        break;
      }
      case kv::Resolver::kCounter: {
        int64_t sum = 0;
        for (const kv::Change* c : acked) sum += c->amount;
        if (st.CounterValue() != sum) {
          Fail(fmt::format("counter key {}: value {}, acknowledged increments sum to {}", key,
                           st.CounterValue(), sum));
        }
        break;
      }
      case kv::Resolver::kSet: {
        std::set<std::string> want;
        for (const kv::Change* c : acked) {
          if (c->op == kv::ChangeOp::kSetAdd && uncovered(c)) want.insert(c->value);
        }
        const std::vector<std::string> members = st.SetMembers();
        const std::set<std::string> have(members.begin(), members.end());
        if (want != have) {
          Fail(fmt::format("set key {}: members {{{}}}, expected {{{}}}", key,
                           fmt::join(have, ","), fmt::join(want, ",")));
        }
        break;
      }
    }
  }
}

MlSimResult MlSimulation::Run() {
  const size_t leaders = o_.nodes != 0 ? o_.nodes : 3 + rng_.Uniform(3);
  // Read-only followers of some leaders in 40% of the runs.
  const size_t followers = rng_.Chance(0.4) ? 1 + rng_.Uniform(2) : 0;
  const size_t n = leaders + followers;
  base_.propagation = o_.propagation;
  base_.max_clock_offset_ms = 500;
  base_.resend_interval_ms = 100 + rng_.Uniform(200);
  base_.max_batch_changes = static_cast<uint32_t>(1 + rng_.Uniform(32));
  base_.window_changes = base_.max_batch_changes * static_cast<uint32_t>(1 + rng_.Uniform(4));
  // A short log in some runs, so that members fall behind it and need state transfers.
  base_.log_retention = rng_.Chance(0.4) ? 2 + rng_.Uniform(40) : 1'000'000;
  base_.report_interval_ms = 50 + rng_.Uniform(300);
  collection_ = rng_.Chance(0.5);
  grace_ms_ = rng_.Uniform(800);
  result_.collection = collection_;
  for (size_t k = 0; k < leaders; ++k) base_.members.push_back(k + 1);
  // Ring order is the member order; shuffle it so the ring is not always 1-2-3.
  for (size_t k = leaders; k > 1; --k) std::swap(base_.members[k - 1], base_.members[rng_.Uniform(k)]);
  base_.hub = base_.members[rng_.Uniform(leaders)];
  for (size_t k = leaders; k < n; ++k) base_.followers[k + 1] = base_.members[rng_.Uniform(leaders)];
  if (o_.faults) {
    drop_ = rng_.Real() * 0.2;
    dup_ = rng_.Real() * 0.1;
    crash_rate_ = rng_.Real() * 0.3;
    partition_rate_ = rng_.Real() * 0.6;
    max_delay_us_ = (1 + rng_.Uniform(40)) * kMs;
  } else {
    max_delay_us_ = 2 * kMs;
  }
  cut_.assign(n, std::vector<int>(n, 0));
  nodes_.resize(n);
  for (size_t k = 0; k < n; ++k) {
    SimNode& node = nodes_[k];
    node.id = k + 1;
    node.skew_us = (static_cast<int64_t>(rng_.Uniform(800)) - 400) * static_cast<int64_t>(kMs);
    ml::ReplicatorConfig cfg = base_;
    cfg.self = node.id;
    auto core = ml::Replicator::Open(cfg, {});
    if (!core.ok()) {
      Fail(core.status().ToString());
      return result_;
    }
    node.core.emplace(std::move(core).value());
    Schedule(Event{rng_.Uniform(kTickUs), 0, EventType::kTick, k, 0, 0, {}});
    if (k < leaders) Schedule(Event{rng_.Uniform(20 * kMs), 0, EventType::kWrite, k, 0, 0, {}});
    Schedule(Event{200 * kMs + rng_.Uniform(800 * kMs), 0, EventType::kCrash, k, 0, 0, {}});
  }
  if (o_.faults) Schedule(Event{rng_.Uniform(300 * kMs), 0, EventType::kPartition, 0, 0, 0, {}});
  std::string follower_text;
  for (const auto& [follower, leader] : base_.followers) {
    follower_text += fmt::format(" {}->{}", follower, leader);
  }
  Trace(fmt::format("{} leaders, {} propagation, ring order {}, hub {}, followers{}", leaders,
                    ml::PropagationName(o_.propagation), fmt::join(base_.members, "-"), base_.hub,
                    follower_text.empty() ? " none" : follower_text));

  const uint64_t safety_end = o_.safety_ms * kMs;
  const uint64_t deadline = safety_end + o_.convergence_ms * kMs;
  bool healed = false;
  while (!queue_.empty() && result_.ok) {
    std::pop_heap(queue_.begin(), queue_.end(), std::greater<>());
    Event e = std::move(queue_.back());
    queue_.pop_back();
    if (!healed && e.at >= safety_end) {
      // Heal everything: no more writes, partitions or crashes; restart the crashed.
      now_ = safety_end;
      safety_ = false;
      healed = true;
      for (auto& row : cut_) std::fill(row.begin(), row.end(), 0);
      drop_ = 0;
      dup_ = 0;
      for (size_t k = 0; k < nodes_.size(); ++k) Restart(k);
      Trace("heal");
    }
    now_ = std::max(now_, e.at);
    if (++result_.events > kMaxEvents) {
      Fail("runaway: too many events");
      break;
    }
    OnEvent(e);
    if (healed && e.type == EventType::kTick && Converged()) break;
    if (now_ > deadline) {
      std::string why = "did not converge within the convergence phase:";
      for (const SimNode& node : nodes_) {
        why += fmt::format(" node {} progress {} retained {} pending {}", node.id,
                           node.core ? node.core->progress().ToString() : "down",
                           node.core ? node.core->retained() : 0, node.pending.size());
        if (node.core) {
          for (const auto& l : node.core->Lag(WallMs(node))) {
            if (l.acked != l.latest || !l.known) {
              why += fmt::format(" [to {} origin {}: acked {} of {}{}]", l.peer, l.origin,
                                 l.acked, l.latest, l.known ? "" : ", not heard");
            }
          }
        }
        why += ";";
      }
      Fail(why);
      break;
    }
  }
  if (result_.ok) CheckFinal();
  // FNV-1a over the final states and the write outcomes.
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](std::string_view bytes) {
    for (char ch : bytes) {
      h ^= static_cast<unsigned char>(ch);
      h *= 1099511628211ULL;
    }
  };
  for (const SimNode& node : nodes_) {
    for (const auto& [key, st] : node.live) {
      mix(key);
      mix(st.Encode());
    }
  }
  for (const WriteRecord& w : writes_) {
    if (w.acked && !w.refused) ++result_.writes_acked;
    if (w.lost) ++result_.writes_lost;
    mix(kv::EncodeChange(w.change));
    mix(std::string{static_cast<char>(w.acked), static_cast<char>(w.refused),
                    static_cast<char>(w.lost)});
  }
  mix(fmt::format("collected {}", result_.tombstones_collected));
  result_.state_digest = h;
  for (const SimNode& node : nodes_) {
    result_.concurrent_overwrites += node.concurrent_overwrites;
    if (node.core) result_.skew_rejections += node.core->Counters().at("clock_skew_rejections_total");
  }
  return result_;
}

}  // namespace

std::string MlSimResult::Summary(const MlSimOptions& options) const {
  return fmt::format(
      "seed={:#x} propagation={} {} events={} writes acked={} lost={} refused={} messages={} "
      "dropped={} crashes={} partitions={} lww_overwrites={} skew_rejections={} "
      "tombstones_collected={} state_transfers={}",
      options.seed, ml::PropagationName(options.propagation), ok ? "ok" : "FAILED", events,
      writes_acked, writes_lost, writes_refused, messages, dropped, crashes, partitions,
      concurrent_overwrites, skew_rejections,
      collection ? std::to_string(tombstones_collected) : std::string("off"), state_transfers);
}

std::string MlReplayCommand(const MlSimOptions& options) {
  return fmt::format("kvd_ml_sim --propagation={} --seed={:#x}{}",
                     ml::PropagationName(options.propagation), options.seed,
                     options.nodes != 0 ? fmt::format(" --nodes={}", options.nodes) : "");
}

MlSimResult RunMlSimulation(const MlSimOptions& options) {
  MlSimulation sim(options);
  return sim.Run();
}

}  // namespace kvd::sim
