// Integration tests of a dynamo ring of five real kvd processes (N=3, R=W=2).
//
// Goal: show on real processes, sockets and disks what docs/OPERATIONS.md promises for
// the dynamo topology: any node takes any request; with one node killed (kill -9), writes
// at W=2 keep succeeding (once the failure detector has noticed, also the ones whose
// coordinator would have been the dead node); the node comes back and catches up through
// hinted handoff, holding every acknowledged write it is a replica of; a node whose disk
// is wiped is rebuilt by Merkle anti-entropy alone; a read at R=2 after an acknowledged
// W=2 write sees it from any node; concurrent writes to a siblings key are kept and a
// write presenting the GETS context resolves them; and requests the topology cannot
// honour are refused with a message that says why.
// Method: cluster_harness.h starts the nodes with short heartbeat and anti-entropy
// intervals. Writers record each write as acknowledged or failed. Which keys a node
// replicates is computed with common/ring from the same member list and token count; that
// node's own copy is read with R=1 at that node (a replica answers a read from its own
// state first).
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "client/lib/client.h"
#include "common/ring/ring.h"
#include "tests/integration/cluster_harness.h"

namespace kvd::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kTokens = 16;

// `timeout_ms`: dynamo.request_timeout_ms. Tests that count on every write succeeding use a
// long one: on a loaded 2-core CI host a replica can be starved for more than a second.
ClusterOptions Dynamo(std::string extra = "", uint32_t timeout_ms = 1500) {
  ClusterOptions o;
  o.nodes = 5;
  o.mode = "dynamo";
  o.cluster_name = "kvd-it-dynamo";
  o.extra_yaml = "dynamo:\n"
                 "  replicas: 3\n"
                 "  read_quorum: quorum\n"
                 "  write_quorum: quorum\n"
                 "  tokens_per_node: " + std::to_string(kTokens) + "\n"
                 "  heartbeat_interval_ms: 100\n"
                 "  anti_entropy_interval_ms: 20\n"
                 "  hint_replay_per_second: 2000\n"
                 "  request_timeout_ms: " + std::to_string(timeout_ms) + "\n"
                 "  resolvers:\n"
                 "    - {prefix: \"\", resolver: lww}\n"
                 "    - {prefix: \"cart/\", resolver: siblings}\n" +
                 extra;
  return o;
}

ring::Ring RingOf(size_t nodes) {
  std::vector<ring::NodeSpec> specs;
  for (size_t i = 0; i < nodes; ++i) specs.push_back(ring::NodeSpec{ClusterHarness::id(i), kTokens, ""});
  return ring::Ring::Make(std::move(specs)).value();
}

bool ReplicaOf(const ring::Ring& r, const std::string& key, uint64_t node) {
  const std::vector<uint64_t> replicas = r.Replicas(key, 3);
  return std::find(replicas.begin(), replicas.end(), node) != replicas.end();
}

wire::Request Req(wire::RequestBody body, wire::RequestOptions options = {}) {
  wire::Request r;
  r.body = std::move(body);
  r.options = std::move(options);
  return r;
}

wire::RequestOptions Quorums(uint8_t r, uint8_t w) {
  wire::RequestOptions o;
  o.read_quorum = r;
  o.write_quorum = w;
  return o;
}

std::string Describe(const Result<wire::Response>& r) {
  if (!r.ok()) return "transport: " + r.status().ToString();
  return r.value().ok() ? "ok" : r.value().ToStatus().ToString();
}

// Polls every running node's STATUS until `pred` holds for each. Errors: kTimeout with
// what each node reported last.
template <typename Pred>
Status WaitAll(ClusterHarness& c, Pred pred, std::chrono::milliseconds deadline,
               std::string_view what) {
  const auto until = Clock::now() + deadline;
  std::string last;
  while (Clock::now() < until) {
    bool all = true;
    last.clear();
    for (size_t i = 0; i < c.size(); ++i) {
      if (!c.running(i)) continue;
      auto st = c.StatusJson(i);
      if (!st.ok()) {
        all = false;
        last += fmt::format(" node {}: {};", c.id(i), st.status().ToString());
        continue;
      }
      const nlohmann::json& d = st.value()["dynamo"];
      all = all && pred(i, d);
      last += fmt::format(" node {}: nodes_up {} hints_pending {} keys {};", c.id(i),
                          d.value("nodes_up", 0), d.value("hints_pending", 0),
                          st.value().value("keys", 0));
    }
    if (all) return Status::Ok();
    std::this_thread::sleep_for(100ms);
  }
  return Status::Timeout(fmt::format("{}:{}", what, last));
}

Status WaitAllUp(ClusterHarness& c, uint64_t up, std::chrono::milliseconds deadline = 20s) {
  return WaitAll(
      c, [&](size_t, const nlohmann::json& d) { return d.value("nodes_up", uint64_t{0}) == up; },
      deadline, fmt::format("not every node saw {} nodes up", up));
}

// The value node i holds for key, read with R=1 at node i (a replica answers from its own
// state first). "" with *found false if it has none.
std::string OwnValue(ClusterHarness& c, size_t i, const std::string& key, bool* found) {
  auto client = c.NodeClient(i, 3s);
  auto r = client->Call(Req(wire::GetRequest{key}, Quorums(1, 0)));
  *found = r.ok() && r.value().ok();
  if (!*found) return "";
  return std::get<wire::GetResponse>(r.value().body).value;
}

TEST_CASE("dynamo: with a node killed, W=2 writes go on; it returns and catches up by hints") {
  ClusterHarness c(Dynamo());
  REQUIRE(c.Start().ok());
  REQUIRE(WaitAllUp(c, 5).ok());
  const ring::Ring ring = RingOf(5);
  const size_t victim = ClusterHarness::index(3);

  struct Record {
    std::mutex mu;
    std::map<std::string, std::string> acked;  // key -> value
    std::vector<std::string> failures;         // with the time since the kill
  } rec;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> killed_at_ms{-1};
  const auto t0 = Clock::now();
  auto since_start_ms = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  };
  // Two writers, through nodes 1 and 4 (never the victim), over keys every node replicates
  // some of; each write a new value.
  auto writer = [&](size_t through, int seed) {
    auto client = c.NodeClient(through, 3s);
    for (int n = 0; !stop.load(); ++n) {
      const std::string key = fmt::format("w{}-{}", seed, n % 200);
      const std::string value = fmt::format("v{}-{}", seed, n);
      const int64_t started = since_start_ms();
      auto r = client->Call(Req(wire::PutRequest{key, value, 0}));
      std::lock_guard lock(rec.mu);
      if (r.ok() && r.value().ok()) {
        rec.acked[key] = value;
      } else {
        rec.acked.erase(key);  // its outcome is unknown: not checked below
        const int64_t k = killed_at_ms.load();
        rec.failures.push_back(fmt::format("{} at {} ms after the kill: {}", key,
                                           k < 0 ? -1 : started - k, Describe(r)));
        if (k < 0 || started - k > 2500) FAIL_CHECK("a write failed: " << rec.failures.back());
      }
    }
  };
  std::thread a(writer, ClusterHarness::index(1), 1);
  std::thread b(writer, ClusterHarness::index(4), 2);
  std::this_thread::sleep_for(800ms);
  c.Kill9(victim);
  killed_at_ms = since_start_ms();
  std::this_thread::sleep_for(4s);  // detection (~1 s), then writes with hints
  stop = true;
  a.join();
  b.join();
  INFO(fmt::format("{} writes failed: {}", rec.failures.size(), fmt::join(rec.failures, "; ")));
  // Only writes that were in flight while the node was not yet detected may fail.
  CHECK(rec.failures.size() <= 40);

  // Hints were stored for the victim while it was down.
  uint64_t hints = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    if (i == victim) continue;
    auto st = c.StatusJson(i);
    REQUIRE(st.ok());
    hints += st.value()["dynamo"].value("hints_pending", uint64_t{0});
  }
  CHECK(hints > 0);

  REQUIRE(c.Restart(victim).ok());
  REQUIRE(WaitAllUp(c, 5).ok());
  Status drained = WaitAll(
      c, [](size_t, const nlohmann::json& d) { return d.value("hints_pending", 1) == 0; }, 20s,
      "hints were not delivered");
  INFO(drained.ToString());
  REQUIRE(drained.ok());

  // The victim holds every acknowledged write it is a replica of.
  size_t checked = 0;
  for (const auto& [key, value] : rec.acked) {
    if (!ReplicaOf(ring, key, ClusterHarness::id(victim))) continue;
    bool found = false;
    const std::string own = OwnValue(c, victim, key, &found);
    INFO(key);
    CHECK(found);
    CHECK(own == value);
    ++checked;
  }
  CHECK(checked > 20);
  // And every node reads every acknowledged write at R=2.
  auto reader = c.NodeClient(ClusterHarness::index(5), 3s);
  for (const auto& [key, value] : rec.acked) {
    auto r = reader->Call(Req(wire::GetRequest{key}));
    INFO(key << ": " << Describe(r));
    REQUIRE((r.ok() && r.value().ok()));
    CHECK(std::get<wire::GetResponse>(r.value().body).value == value);
  }
}

TEST_CASE("dynamo: a wiped node is rebuilt by anti-entropy alone") {
  ClusterHarness c(Dynamo());
  REQUIRE(c.Start().ok());
  REQUIRE(WaitAllUp(c, 5).ok());
  const ring::Ring ring = RingOf(5);
  auto client = c.NodeClient(ClusterHarness::index(1), 3s);
  std::map<std::string, std::string> written;
  for (int n = 0; n < 300; ++n) {
    const std::string key = fmt::format("ae-{}", n);
    const std::string value = fmt::format("value-{}", n);
    // W=all: every replica has it before the wipe, so only anti-entropy can bring it back.
    auto r = client->Call(Req(wire::PutRequest{key, value, 0}, Quorums(0, wire::kQuorumOptionAll)));
    INFO(Describe(r));
    REQUIRE((r.ok() && r.value().ok()));
    written[key] = value;
  }
  const size_t wiped = ClusterHarness::index(2);
  size_t expected = 0;
  for (const auto& [key, value] : written) {
    if (ReplicaOf(ring, key, ClusterHarness::id(wiped))) ++expected;
  }
  REQUIRE(expected > 100);
  c.Kill9(wiped);
  REQUIRE(c.WipeAndRestart(wiped).ok());
  // No reads and no hints (the writes all happened before): only anti-entropy fills it.
  Status rebuilt = WaitAll(
      c,
      [&](size_t i, const nlohmann::json&) {
        if (i != wiped) return true;
        auto st = c.StatusJson(i);
        return st.ok() && st.value().value("keys", uint64_t{0}) >= expected;
      },
      30s, fmt::format("node 2 did not get its {} keys back", expected));
  INFO(rebuilt.ToString());
  REQUIRE(rebuilt.ok());
  for (const auto& [key, value] : written) {
    if (!ReplicaOf(ring, key, ClusterHarness::id(wiped))) continue;
    bool found = false;
    INFO(key);
    CHECK(OwnValue(c, wiped, key, &found) == value);
    CHECK(found);
  }
  auto st = c.StatusJson(wiped);
  REQUIRE(st.ok());
  CHECK(st.value()["dynamo"].value("ae_keys_received_total", uint64_t{0}) >= expected);
  CHECK(st.value()["dynamo"].value("read_repairs_total", uint64_t{1}) == 0);
}

TEST_CASE("dynamo: tombstones are collected once every replica holds them, and stay gone") {
  // A short grace (hints expire before it) so that collection happens within the test.
  ClusterHarness c(Dynamo("  tombstone_grace_ms: 1500\n  hint_max_age_ms: 1000\n", 5000));
  REQUIRE(c.Start().ok());
  REQUIRE(WaitAllUp(c, 5).ok());
  auto client = c.NodeClient(ClusterHarness::index(1), 5s);
  // 60 keys, lww and siblings; those with n % 4 < 2 (one of each kind in four) deleted,
  // on every replica (W=all).
  constexpr int kKeys = 60;
  auto key_of = [](int n) { return (n % 2 == 0 ? "gc-" : "cart/gc-") + std::to_string(n); };
  auto deleted = [](int n) { return n % 4 < 2; };
  for (int n = 0; n < kKeys; ++n) {
    auto put = client->Call(
        Req(wire::PutRequest{key_of(n), "v", 0}, Quorums(0, wire::kQuorumOptionAll)));
    INFO(key_of(n) << ": " << Describe(put));
    REQUIRE((put.ok() && put.value().ok()));
  }
  for (int n = 0; n < kKeys; ++n) {
    if (!deleted(n)) continue;
    auto del = client->Call(Req(wire::DeleteRequest{key_of(n)}, Quorums(0, wire::kQuorumOptionAll)));
    INFO(key_of(n) << ": " << Describe(del));
    REQUIRE((del.ok() && del.value().ok()));
  }
  // Each deleted key's tombstone goes from its three replicas: 3 x 30 collections.
  auto collected = [&] {
    uint64_t total = 0;
    for (size_t i = 0; i < c.size(); ++i) {
      auto st = c.StatusJson(i);
      if (st.ok()) total += st.value()["dynamo"].value("tombstones_collected_total", uint64_t{0});
    }
    return total;
  };
  const auto until = Clock::now() + 40s;
  while (collected() < 3 * kKeys / 2 && Clock::now() < until) std::this_thread::sleep_for(200ms);
  REQUIRE(collected() == 3 * kKeys / 2);
  uint64_t keys = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    auto st = c.StatusJson(i);
    REQUIRE(st.ok());
    keys += st.value().value("keys", uint64_t{0});
    CHECK(st.value()["dynamo"].value("tombstones_settled", uint64_t{1}) == 0);
  }
  CHECK(keys == 3 * kKeys / 2);  // only the live keys' copies are left
  // Gone for good (and the others still there), also after a node restarts from its disk.
  c.Kill9(ClusterHarness::index(3));
  REQUIRE(c.Restart(ClusterHarness::index(3)).ok());
  REQUIRE(WaitAllUp(c, 5).ok());
  for (size_t i = 0; i < c.size(); ++i) {
    auto node = c.NodeClient(i, 5s);
    for (int n = 0; n < kKeys; ++n) {
      auto get = node->Call(Req(wire::GetRequest{key_of(n)}, Quorums(3, 0)));
      INFO(key_of(n) << " from node " << c.id(i) << ": " << Describe(get));
      REQUIRE(get.ok());
      CHECK(get.value().status == (deleted(n) ? Code::kNotFound : Code::kOk));
    }
  }
}

TEST_CASE("dynamo: quorum reads see acknowledged writes from any node; siblings; refusals") {
  ClusterHarness c(Dynamo());
  REQUIRE(c.Start().ok());
  REQUIRE(WaitAllUp(c, 5).ok());
  std::vector<std::unique_ptr<client::Client>> nodes;
  for (size_t i = 0; i < c.size(); ++i) nodes.push_back(c.NodeClient(i, 3s));

  // R + W > N: a read from any node after an acknowledged write sees it.
  for (int n = 0; n < 50; ++n) {
    const std::string key = fmt::format("rw-{}", n);
    auto put = nodes[static_cast<size_t>(n) % 5]->Call(Req(wire::PutRequest{key, "x" + std::to_string(n), 0}));
    REQUIRE((put.ok() && put.value().ok()));
    auto get = nodes[static_cast<size_t>(n + 2) % 5]->Call(Req(wire::GetRequest{key}));
    INFO(key << ": " << Describe(get));
    REQUIRE((get.ok() && get.value().ok()));
    CHECK(std::get<wire::GetResponse>(get.value().body).value == "x" + std::to_string(n));
  }

  // Two writes to a siblings key without a context, through two nodes: both are kept.
  auto p1 = nodes[0]->Call(Req(wire::PutRequest{"cart/alice", "book", 0}, Quorums(0, wire::kQuorumOptionAll)));
  auto p2 = nodes[3]->Call(Req(wire::PutRequest{"cart/alice", "pen", 0}, Quorums(0, wire::kQuorumOptionAll)));
  REQUIRE((p1.ok() && p1.value().ok() && p2.ok() && p2.value().ok()));
  auto gets = nodes[2]->Call(Req(wire::GetsRequest{"cart/alice"}));
  REQUIRE((gets.ok() && gets.value().ok()));
  const auto& siblings = std::get<wire::GetsResponse>(gets.value().body);
  std::set<std::string> values;
  for (const auto& s : siblings.siblings) values.insert(s.value);
  CHECK(values == std::set<std::string>{"book", "pen"});
  auto get = nodes[4]->Call(Req(wire::GetRequest{"cart/alice"}));
  REQUIRE(get.ok());
  CHECK(get.value().status == Code::kConflict);
  // A write with the context resolves them, seen from every node.
  wire::RequestOptions with_context;
  with_context.context = siblings.context;
  auto resolve = nodes[1]->Call(Req(wire::PutRequest{"cart/alice", "book,pen", 0}, with_context));
  REQUIRE((resolve.ok() && resolve.value().ok()));
  for (size_t i = 0; i < c.size(); ++i) {
    auto g = nodes[i]->Call(Req(wire::GetsRequest{"cart/alice"}));
    REQUIRE((g.ok() && g.value().ok()));
    const auto& after = std::get<wire::GetsResponse>(g.value().body);
    REQUIRE(after.siblings.size() == 1);
    CHECK(after.siblings[0].value == "book,pen");
  }

  // DELETE, then a read finds nothing.
  auto del = nodes[2]->Call(Req(wire::DeleteRequest{"rw-1"}));
  REQUIRE((del.ok() && del.value().ok()));
  CHECK(std::get<wire::DeleteResponse>(del.value().body).existed);
  auto gone = nodes[0]->Call(Req(wire::GetRequest{"rw-1"}));
  REQUIRE(gone.ok());
  CHECK(gone.value().status == Code::kNotFound);

  // What dynamo cannot do is refused, saying why.
  auto refused = [&](wire::Request r, Code code, std::string_view words) {
    auto a = nodes[0]->Call(std::move(r));
    REQUIRE(a.ok());
    INFO(a.value().message);
    CHECK(a.value().status == code);
    CHECK(a.value().message.find(words) != std::string::npos);
  };
  refused(Req(wire::CasRequest{wire::CasKind::kPutIfVersion, "k", 1, "v", 0}), Code::kUnsupported,
          "CAS needs one writer per key");
  wire::RequestOptions linearizable;
  linearizable.consistency = wire::Consistency::kLinearizable;
  refused(Req(wire::GetRequest{"k"}, linearizable), Code::kUnsupported, "linearizable");
  refused(Req(wire::PutRequest{"k", "v", 5000}), Code::kUnsupported, "TTL");
  refused(Req(wire::GetRequest{"k"}, Quorums(4, 0)), Code::kInvalidArgument,
          "option read_quorum is 4, more than the 3 replicas");
  refused(Req(wire::IncrRequest{"k", 1}), Code::kUnsupported, "INCR is not offered by dynamo");
}

}  // namespace
}  // namespace kvd::test

namespace kvd::test {
namespace {

Result<wire::Response> AdminCall(ClusterHarness& c, size_t at, wire::AdminRequest admin) {
  auto client = c.NodeClient(at, 5s);
  wire::Request r;
  r.body = std::move(admin);
  return client->Call(std::move(r));
}

// Every running node reports `nodes` ring members and no change under way.
Status WaitRingSettled(ClusterHarness& c, uint64_t nodes, std::chrono::milliseconds deadline) {
  return WaitAll(
      c,
      [&](size_t, const nlohmann::json& d) {
        return d.value("ring_transition", uint64_t{1}) == 0 && d.value("nodes", uint64_t{0}) == nodes;
      },
      deadline, fmt::format("the ring did not settle at {} nodes", nodes));
}

TEST_CASE("dynamo: a sixth node joins under load and takes about 1/6 of the data; a node is "
          "decommissioned with nothing lost") {
  ClusterOptions o = Dynamo("", 10000);
  o.nodes = 6;
  o.joiners = 1;
  ClusterHarness c(o);
  REQUIRE(c.Start().ok());
  REQUIRE(WaitAllUp(c, 5).ok());
  const size_t newcomer = ClusterHarness::index(6);

  // A data set every replica holds (W=all).
  std::map<std::string, std::string> data;
  {
    auto client = c.NodeClient(ClusterHarness::index(1), 5s);
    for (int n = 0; n < 1500; ++n) {
      const std::string key = fmt::format("d-{}", n);
      auto r = client->Call(Req(wire::PutRequest{key, "v" + std::to_string(n), 0},
                                Quorums(0, wire::kQuorumOptionAll)));
      INFO(Describe(r));
      REQUIRE((r.ok() && r.value().ok()));
      data[key] = "v" + std::to_string(n);
    }
  }
  // Writes at W=2 go on through the whole change; each acknowledged one must survive.
  std::mutex mu;
  std::map<std::string, std::string> acked;
  std::vector<std::string> failed;
  std::atomic<bool> stop{false};
  auto writer = [&](size_t through) {
    auto client = c.NodeClient(through, 5s);
    for (int n = 0; !stop.load(); ++n) {
      const std::string key = fmt::format("live-{}-{}", through, n % 300);
      const std::string value = fmt::format("x{}", n);
      auto r = client->Call(Req(wire::PutRequest{key, value, 0}));
      std::lock_guard lock(mu);
      if (r.ok() && r.value().ok()) {
        acked[key] = value;
      } else {
        acked.erase(key);
        failed.push_back(key + ": " + Describe(r));
      }
      std::this_thread::sleep_for(2ms);
    }
  };

  // Join node 6.
  std::thread w1(writer, ClusterHarness::index(1));
  REQUIRE(c.Restart(newcomer).ok());
  auto joined = AdminCall(c, ClusterHarness::index(2),
                          wire::AdminRequest{wire::AdminAction::kAddLearner, 6, c.endpoint(newcomer),
                                             c.peer_endpoint(newcomer)});
  INFO(Describe(joined));
  REQUIRE((joined.ok() && joined.value().ok()));
  // A second change while this one runs is refused.
  auto second = AdminCall(c, ClusterHarness::index(3),
                          wire::AdminRequest{wire::AdminAction::kRemoveMember, 4, "", ""});
  REQUIRE(second.ok());
  CHECK(second.value().status == Code::kUnavailable);
  Status settled = WaitRingSettled(c, 6, 60s);
  INFO(settled.ToString());
  REQUIRE(settled.ok());
  stop = true;
  w1.join();
  {
    INFO(fmt::format("{} writes failed: {}", failed.size(), fmt::join(failed, "; ")));
    CHECK(failed.empty());
  }

  // Node 6 holds every key it replicates in the new ring, and about 1/6 of all copies.
  const ring::Ring six = RingOf(6);
  uint64_t copies = 0, mine = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    auto st = c.StatusJson(i);
    REQUIRE(st.ok());
    copies += st.value().value("keys", uint64_t{0});
    if (i == newcomer) mine = st.value().value("keys", uint64_t{0});
  }
  const double share = static_cast<double>(mine) / static_cast<double>(copies);
  INFO("node 6 holds " << mine << " of " << copies << " copies");
  CHECK(share > 0.10);
  CHECK(share < 0.25);
  std::map<std::string, std::string> all = data;
  for (const auto& [k, v] : acked) all[k] = v;
  size_t checked = 0;
  for (const auto& [key, value] : all) {
    if (!ReplicaOf(six, key, 6)) continue;
    bool found = false;
    INFO(key);
    CHECK(OwnValue(c, newcomer, key, &found) == value);
    ++checked;
  }
  CHECK(checked > 300);

  // Decommission node 2 under load; then every key is on its three replicas of the
  // five-node ring that remains, and node 2 can go.
  stop = false;
  failed.clear();
  std::thread w2(writer, ClusterHarness::index(3));
  auto left = AdminCall(c, ClusterHarness::index(1),
                        wire::AdminRequest{wire::AdminAction::kRemoveMember, 2, "", ""});
  INFO(Describe(left));
  REQUIRE((left.ok() && left.value().ok()));
  settled = WaitRingSettled(c, 5, 60s);
  INFO(settled.ToString());
  REQUIRE(settled.ok());
  stop = true;
  w2.join();
  {
    INFO(fmt::format("{} writes failed: {}", failed.size(), fmt::join(failed, "; ")));
    CHECK(failed.empty());
  }
  // Node 2, still running, coordinates nothing now: it answers NOT_LEADER naming a member
  // (a client follows it there; nothing was done at node 2).
  {
    auto node2 = c.NodeClient(ClusterHarness::index(2), 3s);
    Result<wire::Response> put = Status::Unavailable("not sent");
    for (int attempt = 0; attempt < 50; ++attempt) {  // until node 2 has heard it left
      put = node2->Call(Req(wire::PutRequest{"after-decommission", "x", 0}));
      if (put.ok() && put.value().status == Code::kNotLeader) break;
      std::this_thread::sleep_for(100ms);
    }
    INFO(Describe(put));
    REQUIRE(put.ok());
    CHECK(put.value().status == Code::kNotLeader);
    CHECK(put.value().message.find("node 2 is not a member of the ring") != std::string::npos);
    const std::string hint = put.value().detail.leader_hint;
    CHECK((hint == c.endpoint(ClusterHarness::index(1)) || hint == c.endpoint(ClusterHarness::index(3)) ||
           hint == c.endpoint(ClusterHarness::index(4)) || hint == c.endpoint(ClusterHarness::index(5)) ||
           hint == c.endpoint(ClusterHarness::index(6))));
  }
  c.Kill9(ClusterHarness::index(2));
  std::vector<ring::NodeSpec> specs;
  for (uint64_t id : {uint64_t{1}, uint64_t{3}, uint64_t{4}, uint64_t{5}, uint64_t{6}}) {
    specs.push_back(ring::NodeSpec{id, kTokens, ""});
  }
  const ring::Ring five = ring::Ring::Make(std::move(specs)).value();
  for (const auto& [k, v] : acked) all[k] = v;
  size_t missing = 0;
  for (const auto& [key, value] : all) {
    for (uint64_t replica : five.Replicas(key, 3)) {
      bool found = false;
      const std::string own = OwnValue(c, ClusterHarness::index(replica), key, &found);
      if (own != value) {
        ++missing;
        if (missing <= 5) FAIL_CHECK(key << " on node " << replica << ": '" << own << "', want '" << value << "'");
      }
    }
  }
  CHECK(missing == 0);
}

}  // namespace
}  // namespace kvd::test
