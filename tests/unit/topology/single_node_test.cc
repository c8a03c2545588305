// SingleNode unit tests: the `single` topology core (server/topology/single/single_node.h).
//
// Goal: the single core must pass every client request to the kv state machine unchanged,
// in arrival order and at its arrival time, accept every consistency level, schedule the
// TTL expiry sweep at most once per interval (also when the wall clock steps back), and
// hand its work out exactly once through TakeOutput. Method: drive the core directly with
// Tick and OnClientRequest, with explicit wall-clock values, and assert on the Output.
// A failure means requests could be reordered, dropped, duplicated or applied at the
// wrong time (TTLs computed from the wrong clock), or the sweep could run too often or
// never.
#include "server/topology/single/single_node.h"

#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace kvd::topology {
namespace {

ClientRequest MakeRequest(uint64_t connection_id, uint64_t request_id, uint64_t arrival_ms,
                          wire::RequestBody body,
                          wire::Consistency consistency = wire::Consistency::kDefault) {
  ClientRequest r;
  r.ref = ClientRef{connection_id, request_id, /*start_ns=*/request_id * 1000 + 7};
  r.arrival_ms = arrival_ms;
  r.request.request_id = request_id;
  r.request.options.consistency = consistency;
  r.request.body = std::move(body);
  return r;
}

TEST_CASE("single: client requests become apply items in arrival order", "[unit][topology]") {
  SingleNode node(1, 100);
  std::vector<ClientRequest> sent = {
      MakeRequest(1, 10, 5'000, wire::PutRequest{"a", "1", 30}),
      MakeRequest(2, 11, 5'001, wire::GetRequest{"a"}),
      MakeRequest(1, 12, 4'990, wire::DeleteRequest{"a"}),  // clocks may step back
      MakeRequest(3, 13, 5'002, wire::BatchRequest{{wire::BatchOp{}}}),
      MakeRequest(2, 14, 5'003, wire::ScanRequest{"p", "", "", 5, true, false, ""}),
  };
  for (const ClientRequest& r : sent) node.OnClientRequest(r);
  Output out = node.TakeOutput();
  REQUIRE(out.apply.size() == sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    CAPTURE(i);
    CHECK(out.apply[i].ref == sent[i].ref);
    CHECK(out.apply[i].now_ms == sent[i].arrival_ms);
    CHECK(out.apply[i].request == sent[i].request);
  }
  CHECK(out.replies.empty());
  CHECK(out.expire.empty());
}

TEST_CASE("single: every consistency level and a session token are accepted", "[unit][topology]") {
  SingleNode node(1, 100);
  const auto consistency = static_cast<wire::Consistency>(
      GENERATE(range(0, static_cast<int>(wire::kMaxConsistency) + 1)));
  ClientRequest r = MakeRequest(1, 1, 1'000, wire::GetRequest{"k"}, consistency);
  r.request.options.session_token = std::string(8, '\x7f');
  node.OnClientRequest(r);
  Output out = node.TakeOutput();
  REQUIRE(out.apply.size() == 1);
  CHECK(out.apply[0].request == r.request);
  CHECK(out.replies.empty());
}

TEST_CASE("single: TakeOutput hands out work once and leaves the output empty",
          "[unit][topology]") {
  SingleNode node(1, 100);
  CHECK(node.TakeOutput().empty());
  node.OnClientRequest(MakeRequest(1, 1, 1'000, wire::GetRequest{"k"}));
  node.Tick(1'000);
  Output first = node.TakeOutput();
  CHECK_FALSE(first.empty());
  CHECK(first.apply.size() == 1);
  CHECK(first.expire.size() == 1);
  Output second = node.TakeOutput();
  CHECK(second.empty());
  CHECK(second.apply.empty());
  CHECK(second.expire.empty());
  // Work after a TakeOutput is not mixed with what was taken.
  node.OnClientRequest(MakeRequest(1, 2, 1'001, wire::GetRequest{"k"}));
  Output third = node.TakeOutput();
  REQUIRE(third.apply.size() == 1);
  CHECK(third.apply[0].ref.request_id == 2);
}

TEST_CASE("single: the expiry sweep is scheduled at most once per interval", "[unit][topology]") {
  SingleNode node(1, 100);
  std::vector<uint64_t> sweeps;
  auto tick = [&](uint64_t now_ms) {
    node.Tick(now_ms);
    Output out = node.TakeOutput();
    CHECK(out.apply.empty());
    CHECK(out.replies.empty());
    CHECK(out.expire.size() <= 1);
    sweeps.insert(sweeps.end(), out.expire.begin(), out.expire.end());
  };
  tick(10'000);  // the first tick at a real wall clock sweeps at once
  tick(10'000);
  tick(10'050);
  tick(10'099);
  tick(10'100);
  tick(10'150);
  tick(10'350);  // a late tick sweeps once, not once per missed interval
  tick(10'400);
  tick(10'449);
  CHECK(sweeps == std::vector<uint64_t>{10'000, 10'100, 10'350});
}

TEST_CASE("single: a wall clock stepping back delays the sweep instead of repeating it",
          "[unit][topology]") {
  SingleNode node(1, 100);
  node.Tick(10'000);
  CHECK(node.TakeOutput().expire == std::vector<uint64_t>{10'000});
  node.Tick(5'000);  // clock stepped back by 5 s
  node.Tick(9'999);
  node.Tick(10'050);
  CHECK(node.TakeOutput().expire.empty());
  node.Tick(10'100);
  CHECK(node.TakeOutput().expire == std::vector<uint64_t>{10'100});
}

TEST_CASE("single: sweeps accumulate in order until taken", "[unit][topology]") {
  SingleNode node(1, 10);
  for (uint64_t t = 1'000; t <= 1'040; t += 5) node.Tick(t);
  CHECK(node.TakeOutput().expire == std::vector<uint64_t>{1'000, 1'010, 1'020, 1'030, 1'040});
}

TEST_CASE("single: Inspect reports mode, role, node id and ticks", "[unit][topology]") {
  SingleNode node(42, 100);
  NodeInfo info = node.Inspect();
  CHECK(info.mode == "single");
  CHECK(info.role == "standalone");
  CHECK(info.node_id == 42);
  CHECK(info.ticks == 0);
  for (int i = 0; i < 5; ++i) node.Tick(1'000 + static_cast<uint64_t>(i));
  CHECK(node.Inspect().ticks == 5);
  // Requests are not ticks.
  node.OnClientRequest(MakeRequest(1, 1, 1'000, wire::GetRequest{"k"}));
  CHECK(node.Inspect().ticks == 5);
}

TEST_CASE("single: the core is deterministic", "[unit][topology]") {
  auto run = [] {
    SingleNode node(7, 25);
    std::vector<Output> outs;
    for (uint64_t i = 0; i < 50; ++i) {
      if (i % 3 == 0) {
        node.OnClientRequest(
            MakeRequest(i % 4, i, 2'000 + i * 7, wire::PutRequest{fmt::format("k{}", i), "v", i}));
      }
      node.Tick(2'000 + i * 9);
      if (i % 5 == 0) outs.push_back(node.TakeOutput());
    }
    return outs;
  };
  std::vector<Output> a = run();
  std::vector<Output> b = run();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    REQUIRE(a[i].apply.size() == b[i].apply.size());
    for (size_t j = 0; j < a[i].apply.size(); ++j) {
      CHECK(a[i].apply[j].ref == b[i].apply[j].ref);
      CHECK(a[i].apply[j].now_ms == b[i].apply[j].now_ms);
      CHECK(a[i].apply[j].request == b[i].apply[j].request);
    }
    CHECK(a[i].expire == b[i].expire);
  }
}

}  // namespace
}  // namespace kvd::topology
