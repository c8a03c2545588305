// Unit tests for server/topology/dynamo/coordinator.h: the dynamo request path, on small
// hand-driven clusters (the simulator, tests/sim/dynamo_sim.h, covers random faults).
//
// Goal: exact behaviour of the cases a user meets: a write reaches W replicas and is
// answered; a quorum that cannot be met fails with a message saying how many replicas
// answered; a node that is not a replica forwards a write to one; concurrent writes on a
// siblings key come back as siblings with a context that resolves them; a stale replica
// is repaired by a read; with sloppy quorum a fallback holds a hint for a down replica
// and hands it over when the replica returns. Method: a Cluster that routes every message
// at once (or drops those to nodes marked unreachable) and makes every write "durable"
// immediately.
#include "server/topology/dynamo/coordinator.h"

#include <catch2/catch.hpp>

#include <deque>
#include <map>
#include <memory>
#include <set>

namespace kvd::topology::dynamo {
namespace {

struct Store final : LocalStore {
  std::map<std::string, std::string> data;
  std::optional<kv::KeyState> Load(const std::string& key) override {
    auto it = data.find(key);
    if (it == data.end()) return std::nullopt;
    return kv::KeyState::Decode(key, it->second, kv::ReplicatedLimits{}).value();
  }
  void ForEach(const std::function<void(const std::string&, const std::string&)>& fn) override {
    for (const auto& [key, state] : data) fn(key, state);
  }
};

class Cluster {
 public:
  Cluster(size_t n, QuorumConfig q) {
    std::vector<ring::NodeSpec> specs;
    for (uint64_t id = 1; id <= n; ++id) specs.push_back({id, 8, ""});
    ring_ = ring::Ring::Make(specs).value();
    for (uint64_t id = 1; id <= n; ++id) {
      stores_[id] = std::make_unique<Store>();
      nodes_[id] = std::make_unique<Coordinator>(id, ring_, q, stores_[id].get());
    }
  }
  Coordinator& node(uint64_t id) { return *nodes_.at(id); }
  Store& store(uint64_t id) { return *stores_.at(id); }
  const ring::Ring& ring() const { return ring_; }
  std::set<uint64_t> unreachable;

  // Delivers every message until none is left; returns the client results, by node.
  std::map<uint64_t, std::vector<ClientResult>> Run(uint64_t now_ms = 1000) {
    std::map<uint64_t, std::vector<ClientResult>> results;
    bool progress = true;
    while (progress) {
      progress = false;
      for (auto& [id, core] : nodes_) {
        CoordinatorOutput out = core->TakeOutput();
        for (StateWrite& w : out.writes) {
          if (w.state.empty()) {
            stores_[id]->data.erase(w.key);  // a collected tombstone
          } else {
            stores_[id]->data[w.key] = w.state;
          }
        }
        for (ClientResult& r : out.results) results[id].push_back(std::move(r));
        for (Envelope& e : out.send) {
          if (unreachable.count(e.to) != 0 || unreachable.count(id) != 0) continue;
          queue_.push_back({id, std::move(e)});
        }
      }
      while (!queue_.empty()) {
        auto [from, e] = std::move(queue_.front());
        queue_.pop_front();
        nodes_.at(e.to)->OnMessage(from, e.bytes, now_ms);
        progress = true;
      }
    }
    return results;
  }

 private:
  ring::Ring ring_;
  std::map<uint64_t, std::unique_ptr<Store>> stores_;
  std::map<uint64_t, std::unique_ptr<Coordinator>> nodes_;
  std::deque<std::pair<uint64_t, Envelope>> queue_;
};

ClientOp Put(uint64_t id, std::string key, std::string value, kv::Resolver r = kv::Resolver::kLww) {
  ClientOp op;
  op.id = id;
  op.kind = OpKind::kPut;
  op.key = std::move(key);
  op.value = std::move(value);
  op.resolver = r;
  return op;
}

// A read or delete of `key` (no value).
ClientOp KeyOp(OpKind kind, uint64_t id, std::string key, kv::Resolver r) {
  ClientOp op;
  op.id = id;
  op.kind = kind;
  op.key = std::move(key);
  op.resolver = r;
  return op;
}

ClientOp Delete(uint64_t id, std::string key, kv::Resolver r = kv::Resolver::kLww) {
  return KeyOp(OpKind::kDelete, id, std::move(key), r);
}

ClientOp Get(uint64_t id, std::string key, kv::Resolver r = kv::Resolver::kLww) {
  return KeyOp(OpKind::kGet, id, std::move(key), r);
}

// A key and its three replicas (first one first).
std::vector<uint64_t> ReplicasOf(const Cluster& c, const std::string& key) {
  return c.ring().Replicas(key, 3);
}

TEST_CASE("dynamo coordinator: a write reaches every replica and a read returns it") {
  Cluster c(5, QuorumConfig{});
  const auto replicas = ReplicasOf(c, "k");
  c.node(replicas[0]).Client(Put(1, "k", "v"), 1000);
  auto results = c.Run();
  REQUIRE(results[replicas[0]].size() == 1);
  const ClientResult& put = results[replicas[0]][0];
  CHECK(put.status.ok());
  CHECK(put.answered >= 2);
  CHECK_FALSE(put.sloppy);
  for (uint64_t r : replicas) CHECK(c.store(r).data.count("k") == 1);
  // Any node reads it, replica or not.
  for (uint64_t id = 1; id <= 5; ++id) {
    c.node(id).Client(Get(2, "k"), 1000);
    auto got = c.Run();
    REQUIRE(got[id].size() == 1);
    REQUIRE(got[id][0].state.has_value());
    CHECK(got[id][0].state->LwwValue() == "v");
  }
}

TEST_CASE("dynamo coordinator: a node that is not a replica forwards the write") {
  Cluster c(5, QuorumConfig{});
  const auto replicas = ReplicasOf(c, "k");
  uint64_t outsider = 0;
  for (uint64_t id = 1; id <= 5; ++id) {
    if (std::find(replicas.begin(), replicas.end(), id) == replicas.end()) outsider = id;
  }
  REQUIRE(outsider != 0);
  c.node(outsider).Client(Put(7, "k", "v"), 1000);
  auto results = c.Run();
  REQUIRE(results[outsider].size() == 1);
  CHECK(results[outsider][0].status.ok());
  CHECK(results[outsider][0].change.dot.node == replicas[0]);  // the first replica coordinated
  CHECK(c.store(outsider).data.count("k") == 0);
  CHECK(c.node(outsider).Counters().at("forwards_total") == 1);
}

TEST_CASE("dynamo coordinator: a forwarded write that arrives after its deadline is refused") {
  // The forward is held (a connection to a replica that restarted) and delivered after
  // the forwarder gave up: coordinating it then would stamp it later than writes made
  // since, which last write wins would lose.
  QuorumConfig q;
  q.request_timeout_ms = 500;
  Cluster c(5, q);
  const auto replicas = ReplicasOf(c, "k");
  uint64_t outsider = 0;
  for (uint64_t id = 1; id <= 5; ++id) {
    if (std::find(replicas.begin(), replicas.end(), id) == replicas.end()) outsider = id;
  }
  c.node(outsider).Client(Put(7, "k", "old"), 1000);
  CoordinatorOutput held = c.node(outsider).TakeOutput();
  REQUIRE(held.send.size() == 1);
  REQUIRE(held.send[0].to == replicas[0]);
  c.node(outsider).Tick(1600);  // the forwarder's client is told "outcome unknown"
  auto timed_out = c.Run(1600);
  REQUIRE(timed_out[outsider].size() == 1);
  CHECK(timed_out[outsider][0].status.code() == Code::kUnavailable);
  // A later write, acknowledged.
  c.node(replicas[0]).Client(Put(8, "k", "new"), 1700);
  REQUIRE(c.Run(1700)[replicas[0]].at(0).status.ok());
  // The held forward arrives now: refused, and the later write stands.
  c.node(replicas[0]).OnMessage(outsider, held.send[0].bytes, 1800);
  c.Run(1800);
  for (uint64_t r : replicas) {
    REQUIRE(c.store(r).data.count("k") == 1);
    CHECK(c.store(r).Load("k")->LwwValue() == "new");
  }
  // Within its deadline, the same forward is coordinated.
  c.node(outsider).Client(Put(9, "k2", "v"), 2000);
  auto fresh = c.Run(2000);
  REQUIRE(fresh[outsider].size() == 1);
  CHECK(fresh[outsider][0].status.ok());
}

TEST_CASE("dynamo coordinator: a quorum that cannot be met fails and says how many answered") {
  QuorumConfig q;
  q.request_timeout_ms = 500;
  Cluster c(5, q);
  const auto replicas = ReplicasOf(c, "k");
  c.unreachable = {replicas[1], replicas[2]};
  c.node(replicas[0]).Client(Put(1, "k", "v"), 1000);
  CHECK(c.Run()[replicas[0]].empty());  // waiting for a second replica
  c.node(replicas[0]).Tick(1600);
  auto results = c.Run(1600);
  REQUIRE(results[replicas[0]].size() == 1);
  const ClientResult& r = results[replicas[0]][0];
  CHECK(r.status.code() == Code::kUnavailable);
  CHECK(r.status.message() ==
        "1 of the 2 replicas needed answered within 500 ms (1 of 3 replicas of key 'k'); the "
        "write may have reached some replicas");
  // W = 1 succeeds on the coordinator alone.
  ClientOp one = Put(2, "k", "w");
  one.w = 1;
  c.node(replicas[0]).Client(one, 2000);
  auto ok = c.Run(2000);
  REQUIRE(ok[replicas[0]].size() == 1);
  CHECK(ok[replicas[0]][0].status.ok());
}

TEST_CASE("dynamo coordinator: concurrent siblings, resolved with the context of a read") {
  Cluster c(3, QuorumConfig{});
  const auto replicas = ReplicasOf(c, "s");
  // Two coordinators write without a context while cut off from each other.
  c.unreachable = {replicas[1]};
  c.node(replicas[0]).Client(Put(1, "s", "a", kv::Resolver::kSiblings), 1000);
  c.Run();
  c.unreachable = {replicas[0]};
  c.node(replicas[1]).Client(Put(2, "s", "b", kv::Resolver::kSiblings), 1000);
  c.Run();
  c.unreachable.clear();
  ClientOp all = Get(3, "s", kv::Resolver::kSiblings);
  all.r = 3;
  c.node(replicas[2]).Client(all, 1000);
  auto got = c.Run();
  REQUIRE(got[replicas[2]].size() == 1);
  REQUIRE(got[replicas[2]][0].state.has_value());
  const kv::KeyState& st = *got[replicas[2]][0].state;
  REQUIRE(st.Siblings().size() == 2);
  // The read repaired every replica to hold both.
  for (uint64_t r : replicas) {
    CHECK(kv::KeyState::Decode("s", c.store(r).data.at("s"), {}).value().Siblings().size() == 2);
  }
  // A write with that context replaces both.
  ClientOp resolve = Put(4, "s", "a+b", kv::Resolver::kSiblings);
  resolve.context = kv::DecodeContext(st.Context()).value();
  c.node(replicas[0]).Client(resolve, 1000);
  c.Run();
  c.node(replicas[1]).Client(Get(5, "s", kv::Resolver::kSiblings), 1000);
  auto after = c.Run();
  REQUIRE(after[replicas[1]].size() == 1);
  REQUIRE(after[replicas[1]][0].state->Siblings().size() == 1);
  CHECK(after[replicas[1]][0].state->Siblings()[0].value.value == "a+b");
}

TEST_CASE("dynamo coordinator: with sloppy quorum a fallback holds a hint and hands it over") {
  QuorumConfig q;
  q.sloppy_quorum = true;
  q.w = 3;
  Cluster c(5, q);
  const auto replicas = ReplicasOf(c, "k");
  const uint64_t down = replicas[2];
  for (uint64_t id = 1; id <= 5; ++id) c.node(id).SetAlive(down, false);
  c.unreachable = {down};
  c.node(replicas[0]).Client(Put(1, "k", "v"), 1000);
  auto results = c.Run();
  REQUIRE(results[replicas[0]].size() == 1);
  CHECK(results[replicas[0]][0].status.ok());
  CHECK(results[replicas[0]][0].sloppy);
  CHECK(c.store(down).data.count("k") == 0);
  size_t hints = 0;
  uint64_t holder = 0;
  for (uint64_t id = 1; id <= 5; ++id) {
    if (c.node(id).hints_pending() > 0) holder = id;
    hints += c.node(id).hints_pending();
  }
  REQUIRE(hints == 1);
  CHECK(std::find(replicas.begin(), replicas.end(), holder) == replicas.end());
  CHECK(c.store(holder).data.count("k") == 0);  // a hint, not the fallback's own data
  // The home replica returns: the hint is replayed, stored there, and dropped.
  c.unreachable.clear();
  for (uint64_t id = 1; id <= 5; ++id) c.node(id).SetAlive(down, true);
  c.node(holder).Tick(2000);
  c.Run(2000);
  CHECK(c.store(down).data.count("k") == 1);
  CHECK(c.node(holder).hints_pending() == 0);
  CHECK(c.node(holder).Counters().at("hints_delivered_total") == 1);
}


TEST_CASE("dynamo coordinator: repair on demand; a dry run lists differing ranges and changes nothing") {
  QuorumConfig q;
  q.anti_entropy_interval_ms = 1'000'000'000;  // no background pass during the test
  Cluster c(5, q);
  for (uint64_t id = 1; id <= 5; ++id) c.node(id).Tick(1);  // the first background exchange
  c.Run(1);
  const auto replicas = ReplicasOf(c, "k");
  // A write only the first replica has.
  c.unreachable = {replicas[1], replicas[2]};
  ClientOp one = Put(1, "k", "v");
  one.w = 1;
  c.node(replicas[0]).Client(one, 10);
  REQUIRE(c.Run(10)[replicas[0]].at(0).status.ok());
  c.unreachable.clear();

  Coordinator& first = c.node(replicas[0]);
  REQUIRE(first.StartRepair(/*dry_run=*/true).ok());
  CHECK(first.StartRepair(true).code() == Code::kUnavailable);  // one at a time
  const size_t pairs = first.repair_stats().pairs_total;
  REQUIRE(pairs > 0);
  for (uint64_t t = 0; t < pairs + 2; ++t) {
    first.Tick(20 + t);
    c.Run(20 + t);
  }
  const RepairStats& dry = first.repair_stats();
  CHECK(dry.done());
  CHECK(dry.pairs_answered == pairs);
  // Exactly the key's range, with each of the two replicas that lack it.
  std::set<uint64_t> peers;
  for (const auto& [end, peer] : dry.differing) peers.insert(peer);
  CHECK(dry.differing.size() == 2);
  CHECK(peers == std::set<uint64_t>{replicas[1], replicas[2]});
  CHECK(c.store(replicas[1]).data.count("k") == 0);  // nothing changed

  REQUIRE(first.StartRepair(/*dry_run=*/false).ok());
  for (uint64_t t = 0; t < pairs + 2; ++t) {
    first.Tick(1000 + t);
    c.Run(1000 + t);
  }
  CHECK(first.repair_stats().done());
  CHECK(c.store(replicas[1]).data.count("k") == 1);
  CHECK(c.store(replicas[2]).data.count("k") == 1);

  QuorumConfig off;
  Cluster no_trees(3, off);
  CHECK(no_trees.node(1).StartRepair(true).code() == Code::kInvalidArgument);
}


TEST_CASE("dynamo coordinator: the hint store is bounded per target in bytes and in age") {
  QuorumConfig q;
  q.sloppy_quorum = true;
  q.w = 3;
  q.max_hint_bytes_per_target = 120;  // room for about one small key state
  q.max_hint_age_ms = 5000;
  Cluster c(5, q);
  const auto replicas = ReplicasOf(c, "k");
  const uint64_t down = replicas[2];
  for (uint64_t id = 1; id <= 5; ++id) c.node(id).SetAlive(down, false);
  c.unreachable = {down};
  c.node(replicas[0]).Client(Put(1, "k", "v"), 1000);
  auto first = c.Run(1000);
  REQUIRE(first[replicas[0]].size() == 1);
  REQUIRE(first[replicas[0]][0].status.ok());
  uint64_t holder = 0;
  for (uint64_t id = 1; id <= 5; ++id) {
    if (c.node(id).hints_pending() > 0) holder = id;
  }
  REQUIRE(holder != 0);
  const uint64_t held = c.node(holder).Counters().at("hint_bytes");
  CHECK(held > 0);
  CHECK(held <= 120);
  // A big value for the same home replica does not fit: refused, so W = 3 is not met.
  c.node(replicas[0]).Client(Put(2, "k", std::string(200, 'x')), 1100);
  c.Run(1100);
  CHECK(c.node(holder).Counters().at("hints_refused_total") == 1);
  CHECK(c.node(holder).Counters().at("hint_bytes") == held);
  // The hint (stored at 1000 ms) is kept until it is 5 s old, then dropped (the home
  // replica is still down).
  c.node(holder).Tick(5900);
  CHECK(c.node(holder).hints_pending() == 1);
  c.node(holder).Tick(6000);
  c.Run(6000);
  CHECK(c.node(holder).hints_pending() == 0);
  CHECK(c.node(holder).Counters().at("hints_expired_total") == 1);
  CHECK(c.node(holder).Counters().at("hint_bytes") == 0);
}

TEST_CASE("dynamo coordinator: a tombstone is collected only once every replica holds it") {
  QuorumConfig q;
  q.anti_entropy_interval_ms = 10;
  q.tombstone_grace_ms = 5000;
  Cluster c(3, q);  // N = 3: every node replicates every key
  const auto replicas = ReplicasOf(c, "k");
  auto run_until = [&](uint64_t from, uint64_t to) {
    for (uint64_t t = from; t < to; t += 10) {
      for (uint64_t id = 1; id <= 3; ++id) c.node(id).Tick(t);
      c.Run(t);
    }
  };
  c.node(replicas[0]).Client(Put(1, "k", "v"), 1000);
  REQUIRE(c.Run(1000)[replicas[0]].at(0).status.ok());
  // The delete misses the third replica, which keeps the value.
  c.unreachable = {replicas[2]};
  c.node(replicas[0]).Client(Delete(2, "k"), 2000);
  REQUIRE(c.Run(2000)[replicas[0]].at(0).status.ok());
  run_until(2000, 12000);  // the grace ends at 7000
  for (uint64_t id : {replicas[0], replicas[1]}) {
    REQUIRE(c.store(id).data.count("k") == 1);
    CHECK(IsTombstone(*c.store(id).Load("k")));
    CHECK(c.node(id).Counters().at("tombstones_collected_total") == 0);
    CHECK(c.node(id).Counters().at("tombstones_settled") == 1);
  }
  CHECK(c.store(replicas[2]).Load("k")->LwwValue() == "v");

  // Reachable again: anti-entropy brings it the tombstone, then all three drop it.
  c.unreachable.clear();
  run_until(12000, 20000);
  for (uint64_t id = 1; id <= 3; ++id) {
    CHECK(c.store(id).data.count("k") == 0);
    CHECK(c.node(id).Counters().at("tombstones_collected_total") == 1);
    CHECK(c.node(id).Counters().at("tombstones_settled") == 0);
  }
  c.node(replicas[1]).Client(Get(3, "k"), 20000);
  auto read = c.Run(20000);
  REQUIRE(read[replicas[1]].at(0).status.ok());
  CHECK_FALSE(read[replicas[1]].at(0).state.has_value());

  // A siblings key: a write after the collection gets a dot its old tombstone never
  // covered (dots come from the hybrid clock), so a replica still holding the tombstone
  // would keep it.
  const auto sreplicas = ReplicasOf(c, "s");
  c.node(sreplicas[0]).Client(Put(4, "s", "a", kv::Resolver::kSiblings), 21000);
  auto first = c.Run(21000);
  REQUIRE(first[sreplicas[0]].at(0).status.ok());
  const clock::Dot old_dot = first[sreplicas[0]].at(0).change.dot;
  c.node(sreplicas[0]).Client(Delete(5, "s", kv::Resolver::kSiblings), 21010);
  REQUIRE(c.Run(21010)[sreplicas[0]].at(0).status.ok());
  const kv::KeyState tombstone = *c.store(sreplicas[1]).Load("s");
  run_until(21020, 30000);
  for (uint64_t id = 1; id <= 3; ++id) CHECK(c.store(id).data.count("s") == 0);
  c.node(sreplicas[0]).Client(Put(6, "s", "b", kv::Resolver::kSiblings), 30000);
  auto again = c.Run(30000);
  REQUIRE(again[sreplicas[0]].at(0).status.ok());
  const clock::Dot new_dot = again[sreplicas[0]].at(0).change.dot;
  CHECK(new_dot.node == old_dot.node);
  CHECK(new_dot.counter > old_dot.counter);
  kv::KeyState merged = tombstone;
  (void)merged.Merge(*c.store(sreplicas[0]).Load("s"));
  CHECK(merged.Siblings().size() == 1);  // the new write survives the old tombstone
}

TEST_CASE("dynamo coordinator: with tombstone_grace_ms 0 tombstones stay") {
  QuorumConfig q;
  q.anti_entropy_interval_ms = 10;
  Cluster c(3, q);
  c.node(1).Client(Put(1, "k", "v"), 1000);
  c.Run(1000);
  c.node(1).Client(Delete(2, "k"), 2000);
  c.Run(2000);
  for (uint64_t t = 2000; t < 6000; t += 10) {
    for (uint64_t id = 1; id <= 3; ++id) c.node(id).Tick(t);
    c.Run(t);
  }
  for (uint64_t id = 1; id <= 3; ++id) {
    CHECK(c.store(id).data.count("k") == 1);
    CHECK(c.node(id).Counters().at("tombstones_collected_total") == 0);
  }
}

}  // namespace
}  // namespace kvd::topology::dynamo
