// Integration tests of a multi_leader cluster of three real kvd processes.
//
// Goal: show on real processes and sockets what docs/OPERATIONS.md promises for the
// multi_leader topology: every member accepts writes at the same time; a member killed with
// kill -9 and restarted loses none of the writes it acknowledged and catches up; once
// writes stop, every member converges to the same state (lww values, siblings, counters,
// sets), with counters equal to the sum of acknowledged increments and every acknowledged
// set add and sibling present; a write that presents a GETS context resolves siblings
// everywhere; session tokens give read-your-writes on another member; and requests the
// topology cannot honour are refused with a message that says why.
// Method: cluster_harness.h starts the nodes (ring propagation, one key prefix per
// resolver). One writer thread per member writes through that member alone and records
// each write as acknowledged, or as indeterminate when the answer was lost (the member
// was killed mid-request). Convergence is awaited by polling every member's STATUS until
// their progress vectors agree and no change is left unacknowledged; then every key is
// read from every member.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "client/lib/client.h"
#include "tests/integration/cluster_harness.h"

namespace kvd::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const char* kResolvers =
    "  resolvers:\n"
    "    - {prefix: \"\", resolver: lww}\n"
    "    - {prefix: \"cart/\", resolver: siblings}\n"
    "    - {prefix: \"count/\", resolver: counter}\n"
    "    - {prefix: \"tags/\", resolver: set}\n"
    "  max_siblings: 1024\n";

ClusterOptions MultiLeader(const std::string& propagation) {
  ClusterOptions o;
  o.mode = "multi_leader";
  o.cluster_name = "kvd-it-ml";
  o.multi_leader_yaml = "  propagation: " + propagation + "\n" + kResolvers;
  return o;
}

wire::Request Req(wire::RequestBody body, wire::RequestOptions options = {}) {
  wire::Request r;
  r.body = std::move(body);
  r.options = std::move(options);
  return r;
}

std::string Describe(const Result<wire::Response>& r) {
  if (!r.ok()) return "transport: " + r.status().ToString();
  return r.value().ok() ? "ok" : r.value().ToStatus().ToString();
}

// Requires an OK answer (the transport error or the status otherwise).
void ok(const Result<wire::Response>& r) {
  INFO(Describe(r));
  REQUIRE((r.ok() && r.value().ok()));
}

// Waits until every member reports the same progress and nothing left to acknowledge.
Status WaitConverged(ClusterHarness& c, std::chrono::milliseconds deadline = 30s) {
  const auto until = Clock::now() + deadline;
  std::string last;
  while (Clock::now() < until) {
    std::set<std::string> progress;
    bool drained = true;
    last.clear();
    for (size_t i = 0; i < c.size(); ++i) {
      auto st = c.StatusJson(i);
      if (!st.ok()) {
        drained = false;
        last += fmt::format(" node {}: {};", c.id(i), st.status().ToString());
        continue;
      }
      const auto& ml = st.value()["multi_leader"];
      progress.insert(ml.value("progress", std::string("?")));
      const uint64_t retained = ml.value("log_retained", uint64_t{1});
      drained = drained && retained == 0;
      last += fmt::format(" node {}: progress {} retained {};", c.id(i),
                          ml.value("progress", std::string("?")), retained);
    }
    if (drained && progress.size() == 1) return Status::Ok();
    std::this_thread::sleep_for(100ms);
  }
  return Status::Timeout("members did not converge:" + last);
}

TEST_CASE("multi_leader: three leaders in a ring take writes at once, survive kill -9, converge") {
  ClusterHarness c(MultiLeader("ring"));
  REQUIRE(c.Start().ok());

  struct Record {
    std::mutex mu;
    int64_t incr_acked = 0;
    int64_t incr_unknown = 0;
    std::set<std::string> tags_acked, tags_unknown, cart_acked, cart_unknown;
    int errors = 0;
    std::string unexpected;  // the first error answer from an up member
  } rec;
  std::atomic<bool> stop{false};
  auto writer = [&](size_t member) {
    auto client = c.NodeClient(member, 2s);
    for (int n = 0; !stop.load(); ++n) {
      const std::string tag = fmt::format("m{}-{}", c.id(member), n);
      auto incr = client->Call(Req(wire::IncrRequest{"count/hits", 1}));
      auto sadd = client->Call(Req(wire::SaddRequest{"tags/all", tag}));
      auto put = client->Call(Req(wire::PutRequest{fmt::format("k{}", n % 8), tag, 0}));
      Result<wire::Response> cart = Status::Unavailable("not sent");
      const bool cart_sent = n % 10 == 0;
      if (cart_sent) cart = client->Call(Req(wire::PutRequest{"cart/1", tag, 0}));
      std::lock_guard lock(rec.mu);
      // A transport error may hide a write that was applied: indeterminate. An error
      // answer means it was not applied.
      if (incr.ok() && incr.value().ok()) ++rec.incr_acked;
      else if (!incr.ok()) ++rec.incr_unknown;
      if (sadd.ok() && sadd.value().ok()) rec.tags_acked.insert(tag);
      else if (!sadd.ok()) rec.tags_unknown.insert(tag);
      if (cart_sent && cart.ok() && cart.value().ok()) rec.cart_acked.insert(tag);
      else if (cart_sent && !cart.ok()) rec.cart_unknown.insert(tag);
      if (!incr.ok() || !sadd.ok() || !put.ok()) {
        ++rec.errors;
        std::this_thread::sleep_for(50ms);  // the member is down; do not spin
      } else if (!(incr.value().ok() && sadd.value().ok() && put.value().ok()) &&
                 rec.unexpected.empty()) {
        // Checked on the test thread after join: a failed REQUIRE here would terminate the
        // process and leave the cluster running.
        rec.unexpected = Describe(incr) + " " + Describe(sadd) + " " + Describe(put);
      }
    }
  };
  std::vector<std::thread> threads;
  for (size_t i = 0; i < c.size(); ++i) threads.emplace_back(writer, i);
  std::this_thread::sleep_for(1500ms);
  c.Kill9(1);
  std::this_thread::sleep_for(1000ms);
  const Status restarted = c.Restart(1);
  if (restarted.ok()) std::this_thread::sleep_for(1500ms);
  stop = true;
  for (auto& t : threads) t.join();
  INFO("restart of node 2: " << restarted.ToString());
  REQUIRE(restarted.ok());
  INFO("acknowledged increments " << rec.incr_acked << ", indeterminate " << rec.incr_unknown
                                  << ", writer errors " << rec.errors);
  REQUIRE(rec.incr_acked > 30);
  INFO("an up member answered a write with an error: " << rec.unexpected);
  REQUIRE(rec.unexpected.empty());

  REQUIRE(WaitConverged(c).ok());

  // Every member holds the same state, and it keeps every acknowledged write.
  std::vector<std::unique_ptr<client::Client>> clients;
  for (size_t i = 0; i < c.size(); ++i) clients.push_back(c.NodeClient(i, 5s));
  std::set<std::string> counter_values, members_seen, carts_seen;
  for (size_t i = 0; i < c.size(); ++i) {
    auto g = clients[i]->Call(Req(wire::GetRequest{"count/hits"}));
    REQUIRE(g.ok());
    REQUIRE(g.value().ok());
    const std::string value = std::get<wire::GetResponse>(g.value().body).value;
    counter_values.insert(value);
    const int64_t v = std::stoll(value);
    CHECK(v >= rec.incr_acked);
    CHECK(v <= rec.incr_acked + rec.incr_unknown);

    auto m = clients[i]->Call(Req(wire::SmembersRequest{"tags/all"}));
    REQUIRE((m.ok() && m.value().ok()));
    const auto& members = std::get<wire::SmembersResponse>(m.value().body).members;
    const std::set<std::string> have(members.begin(), members.end());
    members_seen.insert(fmt::format("{}", fmt::join(members, ",")));
    for (const std::string& t : rec.tags_acked) {
      INFO("node " << c.id(i) << " lacks acknowledged set element " << t);
      CHECK(have.count(t) == 1);
    }
    for (const std::string& t : have) {
      CHECK((rec.tags_acked.count(t) + rec.tags_unknown.count(t)) == 1);
    }

    auto s = clients[i]->Call(Req(wire::GetsRequest{"cart/1"}));
    REQUIRE((s.ok() && s.value().ok()));
    std::set<std::string> siblings;
    for (const auto& sib : std::get<wire::GetsResponse>(s.value().body).siblings) {
      siblings.insert(sib.value);
    }
    carts_seen.insert(fmt::format("{}", fmt::join(siblings, ",")));
    for (const std::string& t : rec.cart_acked) CHECK(siblings.count(t) == 1);

    for (int k = 0; k < 8; ++k) {
      std::set<std::string> values;
      for (size_t j = 0; j < c.size(); ++j) {
        auto r = clients[j]->Call(Req(wire::GetRequest{fmt::format("k{}", k)}));
        REQUIRE(r.ok());
        values.insert(r.value().ok() ? std::get<wire::GetResponse>(r.value().body).value
                                     : r.value().ToStatus().ToString());
      }
      INFO("key k" << k);
      CHECK(values.size() == 1);
    }
  }
  CHECK(counter_values.size() == 1);
  CHECK(members_seen.size() == 1);
  CHECK(carts_seen.size() == 1);

  // Resolve the siblings at one member with the context of a read; all members agree.
  auto read = clients[0]->Call(Req(wire::GetsRequest{"cart/1"}));
  REQUIRE((read.ok() && read.value().ok()));
  wire::RequestOptions with_context;
  with_context.context = std::get<wire::GetsResponse>(read.value().body).context;
  REQUIRE_FALSE(with_context.context.empty());
  auto resolved = clients[0]->Call(Req(wire::PutRequest{"cart/1", "resolved", 0}, with_context));
  REQUIRE((resolved.ok() && resolved.value().ok()));
  REQUIRE(WaitConverged(c).ok());
  for (size_t i = 0; i < c.size(); ++i) {
    auto g = clients[i]->Call(Req(wire::GetRequest{"cart/1"}));
    REQUIRE(g.ok());
    INFO("node " << c.id(i) << ": " << Describe(g));
    REQUIRE(g.value().ok());
    CHECK(std::get<wire::GetResponse>(g.value().body).value == "resolved");
  }
}

TEST_CASE("multi_leader: session reads on another member; requests it cannot honour are refused") {
  ClusterHarness c(MultiLeader("all_to_all"));
  REQUIRE(c.Start().ok());
  auto n1 = c.NodeClient(0, 5s);
  auto n3 = c.NodeClient(2, 5s);

  // Read-your-writes on another member through the session token.
  for (int i = 0; i < 20; ++i) {
    const std::string value = fmt::format("v{}", i);
    auto put = n1->Call(Req(wire::PutRequest{"session-key", value, 0}));
    REQUIRE((put.ok() && put.value().ok()));
    REQUIRE_FALSE(put.value().session_token.empty());
    wire::RequestOptions o;
    o.consistency = wire::Consistency::kSession;
    o.session_token = put.value().session_token;
    auto get = n3->Call(Req(wire::GetRequest{"session-key"}, o));
    REQUIRE(get.ok());
    INFO(Describe(get));
    REQUIRE(get.value().ok());
    CHECK(std::get<wire::GetResponse>(get.value().body).value == value);
  }

  auto expect = [&](wire::Request r, Code code, std::string_view fragment) {
    auto resp = n1->Call(std::move(r));
    REQUIRE(resp.ok());
    INFO(Describe(resp));
    CHECK(resp.value().status == code);
    CHECK(resp.value().message.find(fragment) != std::string::npos);
  };
  wire::RequestOptions linearizable;
  linearizable.consistency = wire::Consistency::kLinearizable;
  expect(Req(wire::GetRequest{"a"}, linearizable), Code::kUnsupported,
         "multi_leader cannot serve linearizable reads");
  expect(Req(wire::CasRequest{wire::CasKind::kPutIfAbsent, "a", 0, "x", 0}), Code::kUnsupported,
         "CAS needs one writer per key");
  expect(Req(wire::IncrRequest{"a", 1}), Code::kInvalidArgument,
         "key 'a' is a lww key (multi_leader.resolvers): change it with PUT and DELETE, not INCR");
  expect(Req(wire::PutRequest{"count/x", "1", 0}), Code::kInvalidArgument,
         "key 'count/x' is a counter key (multi_leader.resolvers): change it with INCR, not PUT");
  expect(Req(wire::GetRequest{"tags/x"}), Code::kInvalidArgument, "read it with SMEMBERS");
  expect(Req(wire::PutRequest{"a", "x", 1000}), Code::kUnsupported, "TTL");
}

TEST_CASE("multi_leader: tombstones are collected on every member once all have them") {
  ClusterOptions o = MultiLeader("ring");
  o.multi_leader_yaml += "  tombstone_grace_ms: 300\n  stability_interval_ms: 100\n";
  ClusterHarness c(o);
  REQUIRE(c.Start().ok());
  auto n1 = c.NodeClient(0, 5s);
  auto n2 = c.NodeClient(1, 5s);
  // 10 lww keys deleted and 10 kept, a siblings key deleted, a set element removed: 12
  // tombstones (11 keys and one set element) for every member to collect.
  // The writes go to node 1 and, once node 2 has them (a delete or remove takes away only
  // what its member has seen), the deletes to node 2.
  for (int i = 0; i < 20; ++i) ok(n1->Call(Req(wire::PutRequest{fmt::format("gc/{}", i), "v", 0})));
  ok(n1->Call(Req(wire::PutRequest{"cart/gc", "x", 0})));
  ok(n1->Call(Req(wire::SaddRequest{"tags/gc", "a"})));
  ok(n1->Call(Req(wire::SaddRequest{"tags/gc", "b"})));
  REQUIRE(WaitConverged(c).ok());
  for (int i = 0; i < 10; ++i) ok(n2->Call(Req(wire::DeleteRequest{fmt::format("gc/{}", i)})));
  ok(n2->Call(Req(wire::DeleteRequest{"cart/gc"})));
  ok(n2->Call(Req(wire::SremRequest{"tags/gc", "a"})));
  REQUIRE(WaitConverged(c).ok());

  const auto until = Clock::now() + 30s;
  std::string last;
  bool done = false;
  while (!done && Clock::now() < until) {
    done = true;
    last.clear();
    for (size_t i = 0; i < c.size(); ++i) {
      auto st = c.StatusJson(i);
      const uint64_t n =
          st.ok() ? st.value()["multi_leader"].value("tombstones_collected_total", uint64_t{0}) : 0;
      last += fmt::format(" node {}: {};", c.id(i), n);
      CHECK(n <= 12);  // each tombstone goes once
      done = done && n == 12;
    }
    if (!done) std::this_thread::sleep_for(100ms);
  }
  INFO("tombstones collected:" << last);
  REQUIRE(done);
  // Every member still reads the same: deleted keys absent, the rest intact.
  for (size_t i = 0; i < c.size(); ++i) {
    auto n = c.NodeClient(i, 5s);
    for (int k = 0; k < 20; ++k) {
      auto get = n->Call(Req(wire::GetRequest{fmt::format("gc/{}", k)}));
      REQUIRE(get.ok());
      CHECK(get.value().status == (k < 10 ? Code::kNotFound : Code::kOk));
    }
    auto cart = n->Call(Req(wire::GetRequest{"cart/gc"}));
    REQUIRE(cart.ok());
    CHECK(cart.value().status == Code::kNotFound);
    auto tags = n->Call(Req(wire::SmembersRequest{"tags/gc"}));
    REQUIRE((tags.ok() && tags.value().ok()));
    CHECK(std::get<wire::SmembersResponse>(tags.value().body).members ==
          std::vector<std::string>{"b"});
  }
  // A key written again after its tombstone went is an ordinary new key everywhere.
  ok(n2->Call(Req(wire::PutRequest{"gc/0", "again", 0})));
  REQUIRE(WaitConverged(c).ok());
  for (size_t i = 0; i < c.size(); ++i) {
    auto get = c.NodeClient(i, 5s)->Call(Req(wire::GetRequest{"gc/0"}));
    REQUIRE((get.ok() && get.value().ok()));
    CHECK(std::get<wire::GetResponse>(get.value().body).value == "again");
  }
}

TEST_CASE("multi_leader: a member behind the retained log is brought up to date by a state transfer") {
  for (const std::string propagation : {"all_to_all", "ring"}) {
    INFO("propagation " << propagation);
    ClusterOptions o = MultiLeader(propagation);
    o.multi_leader_yaml += "  log_retention_changes: 10\n";
    ClusterHarness c(o);
    REQUIRE(c.Start().ok());
    auto n1 = c.NodeClient(0, 5s);
    auto n2 = c.NodeClient(1, 5s);
    ok(n1->Call(Req(wire::PutRequest{"st/before", "1", 0})));
    REQUIRE(WaitConverged(c).ok());
    // Node 3 misses far more than the 10 changes per origin the others keep.
    c.Kill9(2);
    for (int i = 0; i < 100; ++i) {
      ok(n1->Call(Req(wire::PutRequest{fmt::format("st/{}", i), fmt::format("v{}", i), 0})));
      ok(n2->Call(Req(wire::IncrRequest{"count/st", 1})));
      ok(n2->Call(Req(wire::SaddRequest{"tags/st", fmt::format("e{}", i % 7)})));
    }
    ok(n1->Call(Req(wire::DeleteRequest{"st/before"})));
    REQUIRE(c.Restart(2).ok());
    Status converged = WaitConverged(c, 60s);
    INFO(converged.ToString());
    REQUIRE(converged.ok());
    auto st = c.StatusJson(2);
    REQUIRE(st.ok());
    CHECK(st.value()["multi_leader"].value("state_transfers_received_total", uint64_t{0}) >= 1);
    auto n3 = c.NodeClient(2, 5s);
    for (int i = 0; i < 100; ++i) {
      auto get = n3->Call(Req(wire::GetRequest{fmt::format("st/{}", i)}));
      INFO(Describe(get));
      REQUIRE((get.ok() && get.value().ok()));
      CHECK(std::get<wire::GetResponse>(get.value().body).value == fmt::format("v{}", i));
    }
    auto gone = n3->Call(Req(wire::GetRequest{"st/before"}));
    REQUIRE(gone.ok());
    CHECK(gone.value().status == Code::kNotFound);
    auto count = n3->Call(Req(wire::IncrRequest{"count/st", 0}));
    REQUIRE((count.ok() && count.value().ok()));
    CHECK(std::get<wire::IncrResponse>(count.value().body).value == 100);
    auto tags = n3->Call(Req(wire::SmembersRequest{"tags/st"}));
    REQUIRE((tags.ok() && tags.value().ok()));
    CHECK(std::get<wire::SmembersResponse>(tags.value().body).members.size() == 7);
    // And it takes writes again, which reach the others.
    ok(n3->Call(Req(wire::PutRequest{"st/after", "3", 0})));
    REQUIRE(WaitConverged(c).ok());
    auto after = n1->Call(Req(wire::GetRequest{"st/after"}));
    REQUIRE((after.ok() && after.value().ok()));
  }
}

TEST_CASE("multi_leader: a read-only follower replicates everything from its leader") {
  ClusterOptions o = MultiLeader("all_to_all");
  o.multi_leader_yaml += "  followers:\n    - {id: 3, leader: 1}\n";
  ClusterHarness c(o);
  REQUIRE(c.Start().ok());
  auto n1 = c.NodeClient(0, 5s);
  auto n2 = c.NodeClient(1, 5s);
  auto n3 = c.NodeClient(2, 5s);
  // Writes to both leaders reach the follower (node 2's through node 1).
  wire::Response last;
  for (int i = 0; i < 20; ++i) {
    ok(n1->Call(Req(wire::PutRequest{fmt::format("f/1/{}", i), "one", 0})));
    auto put = n2->Call(Req(wire::PutRequest{fmt::format("f/2/{}", i), "two", 0}));
    ok(put);
    last = put.value();
    ok(n2->Call(Req(wire::IncrRequest{"count/f", 2})));
  }
  REQUIRE(WaitConverged(c).ok());
  for (int i = 0; i < 20; ++i) {
    for (const auto& [writer, value] : {std::pair{1, "one"}, std::pair{2, "two"}}) {
      auto get = n3->Call(Req(wire::GetRequest{fmt::format("f/{}/{}", writer, i)}));
      INFO(Describe(get));
      REQUIRE((get.ok() && get.value().ok()));
      CHECK(std::get<wire::GetResponse>(get.value().body).value == value);
    }
  }
  auto count = n3->Call(Req(wire::IncrRequest{"count/f", 0}));
  REQUIRE((count.ok() && count.value().ok()));
  CHECK(std::get<wire::IncrResponse>(count.value().body).value == 40);
  // A session token from a leader is honoured on the follower.
  wire::RequestOptions session;
  session.consistency = wire::Consistency::kSession;
  session.session_token = last.session_token;
  auto read = n3->Call(Req(wire::GetRequest{"f/2/19"}, session));
  INFO(Describe(read));
  REQUIRE((read.ok() && read.value().ok()));
  // Writes are refused with the address of the leader it follows.
  for (wire::RequestBody body : {wire::RequestBody{wire::PutRequest{"f/x", "y", 0}},
                                 wire::RequestBody{wire::IncrRequest{"count/f", 1}},
                                 wire::RequestBody{wire::DeleteRequest{"f/1/0"}}}) {
    auto refused = n3->Call(Req(std::move(body)));
    REQUIRE(refused.ok());
    CHECK(refused.value().status == Code::kNotLeader);
    CHECK(refused.value().detail.leader_hint == c.endpoint(0));
    CHECK(refused.value().message.find("read-only follower of node 1") != std::string::npos);
  }
  auto st = c.StatusJson(2);
  REQUIRE(st.ok());
  CHECK(st.value()["role"] == "follower");
}

}  // namespace
}  // namespace kvd::test
