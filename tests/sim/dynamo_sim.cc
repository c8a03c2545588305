#include "tests/sim/dynamo_sim.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/rng.h"
#include "server/topology/dynamo/coordinator.h"

namespace kvd::sim {

namespace dy = topology::dynamo;

namespace {

constexpr uint64_t kMs = 1000;  // simulated time is in microseconds
constexpr uint64_t kTickUs = 10 * kMs;
constexpr uint64_t kMaxEvents = 5'000'000;
const std::vector<std::string> kKeys = {"l0", "l1", "l2", "s0", "s1", "s2"};

kv::Resolver ResolverOf(const std::string& key) {
  return key[0] == 's' ? kv::Resolver::kSiblings : kv::Resolver::kLww;
}

struct Batch {
  std::map<std::string, std::string> data;
  std::vector<dy::HintWrite> hints;
  std::vector<topology::Envelope> sends;
  std::vector<dy::ClientResult> results;
  uint64_t done_at = 0;
};

struct SimStore final : dy::LocalStore {
  std::map<std::string, std::string> live;
  std::optional<kv::KeyState> Load(const std::string& key) override {
    auto it = live.find(key);
    if (it == live.end()) return std::nullopt;
    auto st = kv::KeyState::Decode(key, it->second, kv::ReplicatedLimits{});
    if (!st.ok()) return std::nullopt;
    return std::move(st).value();
  }
  void ForEach(const std::function<void(const std::string&, const std::string&)>& fn) override {
    for (const auto& [key, state] : live) fn(key, state);
  }
};

struct SimNode {
  uint64_t id = 0;
  bool up = true;
  uint64_t epoch = 0;
  SimStore store;
  std::map<std::string, std::string> durable;
  dy::Hints durable_hints;
  std::unique_ptr<dy::Coordinator> core;
  std::deque<Batch> pending;
};

struct Op {
  dy::ClientOp op;
  size_t node = 0;
  uint64_t start_us = 0;
  uint64_t end_us = 0;
  bool done = false;
  bool ok = false;
  std::optional<kv::KeyState> state;  // reads
  kv::Change change;                  // writes
  bool sloppy = false;                // a write a fallback's hint helped acknowledge
};

enum class EventType {
  kTick, kDeliver, kDiskDone, kClient, kCrash, kRestart, kHeal, kPartition, kWipe, kRingChange
};

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

class DynamoSimulation {
 public:
  explicit DynamoSimulation(const DynamoSimOptions& o) : o_(o), rng_(o.seed) {}
  DynamoSimResult Run();

 private:
  uint64_t NowMs() const { return now_ / kMs + 1'700'000'000'000; }
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
  void Issue(size_t n, dy::ClientOp op);
  void RandomOp(size_t n);
  void Crash(size_t n);
  void Wipe(size_t n);
  bool ReplicasAgree() const;
  void Restart(size_t n);
  void OnEvent(const Event& e);
  void Check();
  void StartRingChange();
  void MaybeFinishRingChange();

  DynamoSimOptions o_;
  Rng rng_;
  ring::Ring ring_;        // the ring reads use; the final ring for the checks
  ring::Ring next_ring_;   // during a ring change: the ring writes also go to
  bool changing_ = false;
  std::set<uint64_t> gainers_;  // of the change under way
  int ring_change_ = 0;    // 0: none, 1: a node joins, 2: a node is decommissioned
  std::vector<ring::NodeSpec> specs_;
  dy::QuorumConfig quorum_;
  std::vector<SimNode> nodes_;
  std::vector<Op> ops_;
  std::vector<Event> queue_;
  uint64_t event_seq_ = 0;
  uint64_t now_ = 0;
  bool safety_ = true;
  std::vector<std::vector<int>> cut_;
  double drop_ = 0, dup_ = 0, crash_rate_ = 0, partition_rate_ = 0;
  // Tombstones collected, by key: when, and the state that went.
  struct Collected {
    uint64_t at_us = 0;
    kv::KeyState state;
  };
  std::map<std::string, std::vector<Collected>> collected_;
  // True when a tombstone of `key` collected after `after_us` (the write's start: one
  // collected earlier cannot have deleted it, and covering it would mean its dot was
  // reused) and before `before_us` covers `write` (deleted it).
  bool CollectedCovers(const std::string& key, const kv::Change& write, uint64_t after_us,
                       uint64_t before_us) const;
  // True when `state` holds no value that the acknowledged delete `del` removed.
  static bool Honours(const std::optional<kv::KeyState>& state, const kv::Change& del);
  bool SettledTombstonesLeft() const;
  bool wipe_ = false;     // one node loses its disk during the run (anti-entropy rebuilds it)
  bool wiped_ = false;
  uint64_t max_delay_us_ = 0;
  DynamoSimResult result_;
};

void DynamoSimulation::Send(size_t from, topology::Envelope e) {
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

void DynamoSimulation::Flush(size_t n) {
  SimNode& node = nodes_[n];
  if (!node.up) return;
  dy::CoordinatorOutput out = node.core->TakeOutput();
  if (out.writes.empty() && out.send.empty() && out.results.empty() && out.hints.empty()) return;
  Batch b;
  b.hints = std::move(out.hints);
  for (dy::StateWrite& w : out.writes) {
    if (w.state.empty()) {
      // A collected tombstone: remember what it covered (the checks accept its absence
      // for the writes it deleted), and that it was one.
      std::optional<kv::KeyState> st = node.store.Load(w.key);
      if (!st || !dy::IsTombstone(*st)) {
        Fail(fmt::format("node {} collected key {}, which is not a tombstone", node.id, w.key));
      } else {
        collected_[w.key].push_back(Collected{now_, std::move(*st)});
        ++result_.tombstones_collected;
      }
      node.store.live.erase(w.key);
    } else {
      node.store.live[w.key] = w.state;
    }
    b.data[w.key] = std::move(w.state);
  }
  b.sends = std::move(out.send);
  b.results = std::move(out.results);
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

void DynamoSimulation::Issue(size_t n, dy::ClientOp op) {
  op.id = ops_.size();
  Op rec;
  rec.op = op;
  rec.node = n;
  rec.start_us = now_;
  ops_.push_back(std::move(rec));
  Trace(fmt::format("node {}: client op {} {} {}", nodes_[n].id, op.id,
                    op.kind == dy::OpKind::kGet ? "get" : op.kind == dy::OpKind::kPut ? "put" : "del",
                    op.key));
  nodes_[n].core->Client(std::move(op), NowMs());
  Flush(n);
}

void DynamoSimulation::RandomOp(size_t n) {
  dy::ClientOp op;
  op.key = kKeys[rng_.Uniform(kKeys.size())];
  op.resolver = ResolverOf(op.key);
  const double x = rng_.Real();
  op.kind = x < 0.45 ? dy::OpKind::kGet : x < 0.9 ? dy::OpKind::kPut : dy::OpKind::kDelete;
  if (op.kind == dy::OpKind::kPut) op.value = fmt::format("v{}", ops_.size());
  if (op.resolver == kv::Resolver::kSiblings && op.kind != dy::OpKind::kGet && rng_.Chance(0.7)) {
    // The context of the latest successful read of this key, as an application would.
    for (size_t k = ops_.size(); k-- > 0;) {
      const Op& prev = ops_[k];
      if (prev.done && prev.ok && prev.op.kind == dy::OpKind::kGet && prev.op.key == op.key) {
        op.context = prev.state ? kv::DecodeContext(prev.state->Context()).value()
                                : clock::VersionVector{};
        break;
      }
    }
  }
  Issue(n, std::move(op));
}

void DynamoSimulation::Crash(size_t n) {
  SimNode& node = nodes_[n];
  if (!node.up) return;
  ++result_.crashes;
  Trace(fmt::format("node {}: crash ({} batches not durable)", node.id, node.pending.size()));
  node.pending.clear();
  node.up = false;
  ++node.epoch;
  node.core.reset();
  node.store.live = node.durable;
  // Requests this node was coordinating never get an answer: their outcome is unknown.
  Event ev;
  ev.at = now_ + 50 * kMs + rng_.Uniform(1500 * kMs);
  ev.type = EventType::kRestart;
  ev.node = n;
  Schedule(std::move(ev));
}

void DynamoSimulation::Wipe(size_t n) {
  SimNode& node = nodes_[n];
  if (!node.up) return;
  Crash(n);
  for (SimNode& other : nodes_) {
    if (other.up) other.core->SetAlive(node.id, false);
  }
  node.durable.clear();
  node.durable_hints.clear();
  node.store.live.clear();
  wiped_ = true;
  Trace(fmt::format("node {}: its disk is lost", node.id));
}

bool DynamoSimulation::ReplicasAgree() const {
  for (const std::string& key : kKeys) {
    const std::vector<uint64_t> replicas = ring_.Replicas(key, quorum_.n);
    auto bytes_of = [&](uint64_t id) {
      const auto& durable = nodes_[id - 1].durable;
      auto it = durable.find(key);
      return it == durable.end() ? std::string() : it->second;
    };
    for (uint64_t id : replicas) {
      if (bytes_of(id) != bytes_of(replicas.front())) return false;
    }
  }
  return true;
}

void DynamoSimulation::Restart(size_t n) {
  SimNode& node = nodes_[n];
  if (node.up) return;
  // The clock restarts above every timestamp the node stored (the shell persists it).
  clock::HlcTimestamp floor;
  for (const auto& [key, bytes] : node.durable) {
    auto st = kv::KeyState::Decode(key, bytes, kv::ReplicatedLimits{});
    if (st.ok()) floor = std::max(floor, st.value().latest());
  }
  node.core = std::make_unique<dy::Coordinator>(node.id, ring_, quorum_, &node.store, floor,
                                                node.durable_hints);
  if (changing_) node.core->SetRings(ring_, next_ring_);  // streaming starts over
  for (const SimNode& other : nodes_) node.core->SetAlive(other.id, other.up || &other == &node);
  node.up = true;
  for (SimNode& other : nodes_) {
    if (other.up) other.core->SetAlive(node.id, true);
  }
  Trace(fmt::format("node {}: restart", node.id));
}

void DynamoSimulation::OnEvent(const Event& e) {
  SimNode& node = nodes_[e.node];
  switch (e.type) {
    case EventType::kTick: {
      if (node.up) {
        node.core->Tick(NowMs());
        Flush(e.node);
      }
      MaybeFinishRingChange();
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
      node.core->OnMessage(nodes_[e.from].id, e.bytes, NowMs());
      Flush(e.node);
      break;
    case EventType::kDiskDone: {
      if (e.epoch != node.epoch || node.pending.empty()) break;
      Batch b = std::move(node.pending.front());
      node.pending.pop_front();
      for (auto& [key, bytes] : b.data) {
        if (bytes.empty()) {
          node.durable.erase(key);
        } else {
          node.durable[key] = bytes;
        }
      }
      for (dy::HintWrite& h : b.hints) {
        if (h.state.empty()) {
          node.durable_hints[h.target].erase(h.key);
          if (node.durable_hints[h.target].empty()) node.durable_hints.erase(h.target);
        } else {
          node.durable_hints[h.target][h.key] = std::move(h.state);
        }
      }
      for (auto& env : b.sends) Send(e.node, std::move(env));
      for (dy::ClientResult& r : b.results) {
        Op& op = ops_[r.id];
        if (op.done) Fail(fmt::format("client op {} answered twice", r.id));
        op.done = true;
        op.ok = r.status.ok();
        op.end_us = now_;
        op.state = std::move(r.state);
        op.change = std::move(r.change);
        op.sloppy = r.sloppy;
        if (r.sloppy && r.status.ok()) ++result_.sloppy_writes;
        Trace(fmt::format("node {}: op {} -> {} ({} answered)", node.id, r.id,
                          r.status.ok() ? "ok" : r.status.ToString(), r.answered));
      }
      break;
    }
    case EventType::kClient:
      if (safety_) {
        if (node.up) RandomOp(e.node);
        Event next = e;
        next.at = now_ + 1 * kMs + rng_.Uniform(40 * kMs);
        Schedule(std::move(next));
      }
      break;
    case EventType::kCrash:
      if (safety_) {
        if (o_.crashes && rng_.Chance(crash_rate_)) {
          Crash(e.node);
          for (SimNode& other : nodes_) {
            if (other.up) other.core->SetAlive(node.id, false);
          }
        }
        Event next = e;
        next.at = now_ + 200 * kMs + rng_.Uniform(800 * kMs);
        Schedule(std::move(next));
      }
      break;
    case EventType::kRestart: Restart(e.node); break;
    case EventType::kRingChange: StartRingChange(); break;
    case EventType::kWipe:
      if (safety_) Wipe(e.node);
      break;
    case EventType::kPartition: {
      if (!safety_) break;
      if (rng_.Chance(partition_rate_)) {
        ++result_.partitions;
        const size_t n = nodes_.size();
        const size_t a = rng_.Uniform(n);
        const bool one_way = rng_.Chance(0.3);
        std::vector<std::pair<size_t, size_t>> links;
        for (size_t b = 0; b < n; ++b) {
          if (b == a || !rng_.Chance(0.6)) continue;
          links.emplace_back(a, b);
          if (!one_way) links.emplace_back(b, a);
        }
        for (auto [x, y] : links) ++cut_[x][y];
        Event heal;
        heal.at = now_ + 100 * kMs + rng_.Uniform(1500 * kMs);
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

// A join (the spare last node) or a decommission starts: every node learns both rings at
// once (the shell's gossip is not simulated); writes go to both, gainers pull their ranges.
void DynamoSimulation::StartRingChange() {
  std::vector<ring::NodeSpec> next;
  if (ring_change_ == 1) {
    next = specs_;
    next.push_back(ring::NodeSpec{nodes_.back().id, 16, ""});
  } else {
    const uint64_t leaving = 1 + rng_.Uniform(specs_.size());
    for (const ring::NodeSpec& spec : specs_) {
      if (spec.id != leaving) next.push_back(spec);
    }
  }
  next_ring_ = ring::Ring::Make(next).value();
  gainers_ = dy::Gainers(ring_, next_ring_, quorum_.n);
  changing_ = true;
  Trace(fmt::format("ring change: {} -> nodes {}", ring_change_ == 1 ? "join" : "decommission",
                    fmt::join([&] {
                      std::vector<uint64_t> ids;
                      for (const auto& spec : next) ids.push_back(spec.id);
                      return ids;
                    }(),
                              ", ")));
  for (size_t k = 0; k < nodes_.size(); ++k) {
    if (!nodes_[k].up) continue;
    nodes_[k].core->SetRings(ring_, next_ring_);
    Flush(k);
  }
}

// Once every gainer is up, has pulled everything and has it durable: every node switches
// to the new ring (the shell finalizes the same way once each gainer has said so).
void DynamoSimulation::MaybeFinishRingChange() {
  if (!changing_) return;
  for (uint64_t g : gainers_) {
    const SimNode& node = nodes_[g - 1];
    if (!node.up || !node.core->stream_stats().done() || !node.pending.empty()) return;
  }
  ring_ = next_ring_;
  specs_ = ring_.nodes();
  changing_ = false;
  ++result_.ring_changes;
  Trace("ring change done");
  for (size_t k = 0; k < nodes_.size(); ++k) {
    if (!nodes_[k].up) continue;
    nodes_[k].core->SetRings(ring_, ring_);
    Flush(k);
  }
}

namespace {

bool StateCovers(const kv::KeyState& st, const kv::Change& write) {
  return write.resolver == kv::Resolver::kSiblings
             ? kv::DecodeContext(st.Context()).value().Covers(write.dot)
             : !(st.latest() < write.hlc);
}

}  // namespace

bool DynamoSimulation::CollectedCovers(const std::string& key, const kv::Change& write,
                                       uint64_t after_us, uint64_t before_us) const {
  auto it = collected_.find(key);
  if (it == collected_.end()) return false;
  for (const Collected& c : it->second) {
    if (c.at_us > after_us && c.at_us < before_us && StateCovers(c.state, write)) return true;
  }
  return false;
}

bool DynamoSimulation::Honours(const std::optional<kv::KeyState>& state, const kv::Change& del) {
  if (!state) return true;  // nothing at all (never written, or the tombstone collected)
  if (del.resolver == kv::Resolver::kLww) return !(state->latest() < del.hlc);
  for (const auto& sibling : state->Siblings()) {
    if (del.context.Covers(sibling.dot)) return false;
  }
  return true;
}

// With tombstone collection on: true while some replica still holds a tombstone past the
// grace (the run goes on until anti-entropy has let every one be collected).
bool DynamoSimulation::SettledTombstonesLeft() const {
  if (quorum_.tombstone_grace_ms == 0 || quorum_.anti_entropy_interval_ms == 0) return false;
  for (const std::string& key : kKeys) {
    for (uint64_t id : ring_.Replicas(key, quorum_.n)) {
      const auto& durable = nodes_[id - 1].durable;
      auto it = durable.find(key);
      if (it == durable.end()) continue;
      const kv::KeyState st = kv::KeyState::Decode(key, it->second, {}).value();
      if (dy::IsTombstone(st) && st.latest().wall_ms() + quorum_.tombstone_grace_ms <= NowMs()) {
        return true;
      }
    }
  }
  return false;
}

void DynamoSimulation::Check() {
  // Reads against earlier acknowledged writes (not in a run where a disk was lost: a read
  // may then meet the wiped replica and one the write had not reached).
  for (const Op& read : ops_) {
    if (wiped_) break;
    if (read.op.kind != dy::OpKind::kGet || !read.done || !read.ok) continue;
    for (const Op& write : ops_) {
      // (A sloppy write is promised to reads only once its hint is delivered.)
      if (write.op.kind != dy::OpKind::kPut || !write.done || !write.ok || write.sloppy ||
          write.op.key != read.op.key || write.end_us >= read.start_us) {
        continue;
      }
      ++result_.checks;
      // (Nothing is also right when a tombstone that deleted the write was collected.)
      const bool covered =
          (read.state && StateCovers(*read.state, write.change)) ||
          CollectedCovers(read.op.key, write.change, write.start_us, read.end_us);
      if (!covered) {
        Fail(fmt::format("read op {} of {} (started {:.3f} ms) missed write op {} {} "
                         "(acknowledged {:.3f} ms)",
                         read.op.id, read.op.key, static_cast<double>(read.start_us) / kMs,
                         write.op.id, write.change.dot.ToString(),
                         static_cast<double>(write.end_us) / kMs));
        return;
      }
    }
  }
  // No deleted value comes back: a read that started after a delete was acknowledged
  // holds none of the values it removed (the same R + W > N promise, skipped likewise).
  for (const Op& read : ops_) {
    if (wiped_) break;
    if (read.op.kind != dy::OpKind::kGet || !read.done || !read.ok) continue;
    for (const Op& del : ops_) {
      if (del.op.kind != dy::OpKind::kDelete || !del.done || !del.ok || del.sloppy ||
          del.op.key != read.op.key || del.end_us >= read.start_us) {
        continue;
      }
      ++result_.checks;
      if (!Honours(read.state, del.change)) {
        Fail(fmt::format("read op {} of {} (started {:.3f} ms) returned a value deleted by op {} "
                         "{} (acknowledged {:.3f} ms)",
                         read.op.id, read.op.key, static_cast<double>(read.start_us) / kMs,
                         del.op.id, del.change.dot.ToString(),
                         static_cast<double>(del.end_us) / kMs));
        return;
      }
    }
  }
  // No acknowledged write is lost: the final state of its key covers it, or a collected
  // tombstone deleted it; no acknowledged delete is undone.
  for (const Op& write : ops_) {
    if (write.op.kind == dy::OpKind::kGet || !write.done || !write.ok || write.sloppy) continue;
    const SimNode& home = nodes_[ring_.Replicas(write.op.key, 1).front() - 1];
    auto it = home.durable.find(write.op.key);
    std::optional<kv::KeyState> st;
    if (it != home.durable.end()) st = kv::KeyState::Decode(write.op.key, it->second, {}).value();
    if (write.op.kind == dy::OpKind::kDelete) {
      if (!Honours(st, write.change)) {
        Fail(fmt::format("acknowledged delete op {} ({} {}) is undone: the final state of {} "
                         "holds a value it removed",
                         write.op.id, write.op.key, write.change.dot.ToString(), write.op.key));
        return;
      }
      continue;
    }
    const bool covered = (st && StateCovers(*st, write.change)) ||
                         CollectedCovers(write.op.key, write.change, write.start_us, ~uint64_t{0});
    if (!covered) {
      Fail(fmt::format("acknowledged write op {} ({} {}) is lost: the final state of {} does "
                       "not cover it",
                       write.op.id, write.op.key, write.change.dot.ToString(), write.op.key));
      return;
    }
  }
  // Replicas of every key converged.
  for (const std::string& key : kKeys) {
    const std::vector<uint64_t> replicas = ring_.Replicas(key, quorum_.n);
    std::optional<std::string> first;
    for (uint64_t id : replicas) {
      const SimNode& node = nodes_[id - 1];
      auto it = node.durable.find(key);
      const std::string bytes = it == node.durable.end() ? std::string() : it->second;
      if (!first) {
        first = bytes;
      } else if (*first != bytes) {
        Fail(fmt::format("replicas of key {} differ after repair (replicas {})", key,
                         fmt::join(replicas, ", ")));
        return;
      }
    }
  }
}

DynamoSimResult DynamoSimulation::Run() {
  size_t n = 4 + rng_.Uniform(3);
  // Ring changes come from their own generator, so that the runs without one are the same
  // as before ring changes were simulated (their regression seeds keep their meaning).
  Rng change_rng(o_.seed ^ 0x5eed5eed5eed5eedULL);
  if (o_.ring_changes && change_rng.Chance(0.4)) ring_change_ = change_rng.Chance(0.5) ? 1 : 2;
  for (size_t k = 1; k <= n; ++k) specs_.push_back(ring::NodeSpec{k, 16, ""});
  ring_ = ring::Ring::Make(specs_).value();
  if (ring_change_ == 1) ++n;  // the node that joins, running from the start
  quorum_.n = 3;
  const size_t combo = rng_.Uniform(3);  // R + W > N
  quorum_.r = combo == 0 ? 2 : combo == 1 ? 1 : 3;
  quorum_.w = combo == 0 ? 2 : combo == 1 ? 3 : 1;
  quorum_.request_timeout_ms = 200 + rng_.Uniform(800);
  quorum_.repair_before_reply = rng_.Chance(0.5);
  quorum_.sloppy_quorum = rng_.Chance(0.5);
  quorum_.max_hints_per_target = 2 + rng_.Uniform(6);
  quorum_.hint_replay_per_tick = 1 + rng_.Uniform(4);
  // Tombstone collection, from its own generator (as ring changes): in 70% of the runs
  // with anti-entropy (without, tombstones are never collected), a grace of 150 ms to
  // 1.5 s and hints kept at most half of it.
  Rng gc_rng(o_.seed ^ 0x6c0113c76c0113c7ULL);
  const uint64_t grace_ms = gc_rng.Chance(0.7) ? 150 + gc_rng.Uniform(1350) : 0;
  if (rng_.Chance(0.5)) {
    quorum_.tombstone_grace_ms = grace_ms;
    quorum_.max_hint_age_ms = grace_ms / 2;
    quorum_.anti_entropy_interval_ms = 20 + rng_.Uniform(80);
    quorum_.merkle_depth = static_cast<uint32_t>(2 + rng_.Uniform(4));
    wipe_ = rng_.Chance(0.5);
    if (wipe_ && quorum_.w < 2) {  // with W = 1 a lost disk may take a write with it
      quorum_.r = 2;
      quorum_.w = 2;
    }
  }
  if (o_.faults) {
    drop_ = rng_.Real() * 0.15;
    dup_ = rng_.Real() * 0.1;
    crash_rate_ = rng_.Real() * 0.3;
    partition_rate_ = rng_.Real() * 0.6;
    max_delay_us_ = (1 + rng_.Uniform(30)) * kMs;
  } else {
    max_delay_us_ = 2 * kMs;
  }
  cut_.assign(n, std::vector<int>(n, 0));
  nodes_.resize(n);
  for (size_t k = 0; k < n; ++k) {
    SimNode& node = nodes_[k];
    node.id = k + 1;
    node.core = std::make_unique<dy::Coordinator>(node.id, ring_, quorum_, &node.store);
    Schedule(Event{rng_.Uniform(kTickUs), 0, EventType::kTick, k, 0, 0, {}});
    Schedule(Event{rng_.Uniform(20 * kMs), 0, EventType::kClient, k, 0, 0, {}});
    Schedule(Event{200 * kMs + rng_.Uniform(800 * kMs), 0, EventType::kCrash, k, 0, 0, {}});
  }
  if (o_.faults) Schedule(Event{rng_.Uniform(300 * kMs), 0, EventType::kPartition, 0, 0, 0, {}});
  if (wipe_) {
    Schedule(Event{500 * kMs + rng_.Uniform(o_.safety_ms * kMs / 2), 0, EventType::kWipe,
                   static_cast<size_t>(rng_.Uniform(n)), 0, 0, {}});
  }
  if (ring_change_ != 0) {
    Schedule(Event{200 * kMs + change_rng.Uniform(o_.safety_ms * kMs / 2), 0,
                   EventType::kRingChange, 0, 0, 0, {}});
  }
  Trace(fmt::format("{} nodes, N=3 R={} W={}, timeout {} ms, repair {}, sloppy quorum {}", n,
                    quorum_.r, quorum_.w, quorum_.request_timeout_ms,
                    quorum_.repair_before_reply ? "before reply" : "in the background",
                    quorum_.sloppy_quorum ? "on" : "off"));
  Trace(fmt::format("tombstone grace {} ms (0: never collected)", quorum_.tombstone_grace_ms));
  Trace(fmt::format("anti-entropy {}, a disk lost: {}",
                    quorum_.anti_entropy_interval_ms > 0
                        ? fmt::format("every {} ms, depth {}", quorum_.anti_entropy_interval_ms,
                                      quorum_.merkle_depth)
                        : std::string("off"),
                    wipe_ ? "yes" : "no"));

  const uint64_t safety_end = o_.safety_ms * kMs;
  const uint64_t deadline = safety_end + o_.convergence_ms * kMs;
  bool healed = false;
  std::vector<size_t> repair_ops;  // one read per key, R = N, after the heal
  while (!queue_.empty() && result_.ok) {
    std::pop_heap(queue_.begin(), queue_.end(), std::greater<>());
    Event e = std::move(queue_.back());
    queue_.pop_back();
    if (!healed && e.at >= safety_end) {
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
    if (healed && e.type == EventType::kTick && now_ >= safety_end + 1500 * kMs) {
      // Once the old requests have timed out: read every key from every replica (R = N),
      // which repairs them; done when those reads succeeded and nothing is in flight.
      auto repair_read = [&](const std::string& key) {
        dy::ClientOp op;
        op.kind = dy::OpKind::kGet;
        op.key = key;
        op.resolver = ResolverOf(key);
        op.r = quorum_.n;
        const size_t index = ops_.size();
        Issue(rng_.Uniform(nodes_.size()), std::move(op));
        return index;
      };
      if (quorum_.anti_entropy_interval_ms > 0) {
        // Anti-entropy alone must bring every replica in line (no repair reads).
        bool settled = ReplicasAgree() && !changing_ && !SettledTombstonesLeft();
        for (const SimNode& node : nodes_) {
          settled = settled && node.pending.empty() &&
                    node.core->Counters().at("requests_pending") == 0 &&
                    node.core->hints_pending() == 0 && node.durable_hints.empty();
        }
        if (settled) break;
      } else if (repair_ops.empty()) {
        // (After a ring change, the replicas of the new ring are the ones to repair.)
        if (!changing_) {
          for (const std::string& key : kKeys) repair_ops.push_back(repair_read(key));
        }
      } else {
        bool settled = true;
        for (size_t& k : repair_ops) {
          if (ops_[k].done && !ops_[k].ok) k = repair_read(ops_[k].op.key);  // again
          settled = settled && ops_[k].done && ops_[k].ok;
        }
        for (const SimNode& node : nodes_) {
          // ... and every hint delivered and dropped.
          settled = settled && node.pending.empty() &&
                    node.core->Counters().at("requests_pending") == 0 &&
                    node.core->hints_pending() == 0 && node.durable_hints.empty();
        }
        bool quiet = !changing_;
        for (const Event& q : queue_) quiet = quiet && q.type != EventType::kDeliver;
        if (settled && quiet) break;
      }
    }
    if (now_ > deadline) {
      std::string why = "did not settle within the convergence phase:";
      if (!ReplicasAgree()) why += " the replicas of some key still differ;";
      if (SettledTombstonesLeft()) why += " a tombstone past its grace was not collected;";
      if (changing_) why += " the ring change did not finish;";
      for (size_t k : repair_ops) {
        if (!ops_[k].done || !ops_[k].ok) why += fmt::format(" repair read of {} pending;", ops_[k].op.key);
      }
      for (const SimNode& node : nodes_) {
        size_t durable_hints = 0;
        for (const auto& [target, keys] : node.durable_hints) durable_hints += keys.size();
        why += fmt::format(" node {}: {} requests, {} hints ({} durable);", node.id,
                           node.core->Counters().at("requests_pending"), node.core->hints_pending(),
                           durable_hints);
      }
      Fail(why);
      break;
    }
  }
  if (result_.ok) Check();
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](std::string_view bytes) {
    for (char ch : bytes) {
      h ^= static_cast<unsigned char>(ch);
      h *= 1099511628211ULL;
    }
  };
  for (const SimNode& node : nodes_) {
    for (const auto& [key, bytes] : node.durable) {
      mix(key);
      mix(bytes);
    }
  }
  for (const Op& op : ops_) {
    mix(fmt::format("{} {} {}", op.op.id, op.done, op.ok));
    const bool write = op.op.kind != dy::OpKind::kGet;
    if (op.done && op.ok) {
      if (write) {
        ++result_.writes_acked;
      } else {
        ++result_.reads_ok;
      }
    } else if (op.done) {
      if (write) {
        ++result_.writes_failed;
      } else {
        ++result_.reads_failed;
      }
    }
  }
  result_.state_digest = h;
  for (const SimNode& node : nodes_) {
    if (node.core) result_.hints_delivered += node.core->Counters().at("hints_delivered_total");
  }
  return result_;
}

}  // namespace

std::string DynamoSimResult::Summary(const DynamoSimOptions& options) const {
  return fmt::format(
      "seed={:#x} {} events={} reads ok={} failed={} writes acked={} failed={} sloppy={} "
      "checks={} hints_delivered={} messages={} dropped={} crashes={} partitions={} "
      "ring_changes={} tombstones_collected={}",
      options.seed, ok ? "ok" : "FAILED", events, reads_ok, reads_failed, writes_acked,
      writes_failed, sloppy_writes, checks, hints_delivered, messages, dropped, crashes,
      partitions, ring_changes, tombstones_collected);
}

DynamoSimResult RunDynamoSimulation(const DynamoSimOptions& options) {
  DynamoSimulation sim(options);
  return sim.Run();
}

}  // namespace kvd::sim
