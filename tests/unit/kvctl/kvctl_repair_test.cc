// kvctl unit tests for `kvctl repair [--dry-run] [--node ID]` (dynamo on-demand repair).
//
// Goal: pin down what an operator and a script see: the command line and its --timeout
// default, the help; which ADMIN request goes where (repair_dry_run vs repair; every ring
// member that answers, or only --node; nothing to a node that is not dynamo); the wait on
// every node's STATUS until it has compared every pair, with its progress lines; the dry
// run's table of differing ranges, where a pair found from both of its nodes is shown once
// and each range gets its start from the rebuilt ring; and the server's refusals shown as
// it worded them, with their exit codes. Method: STATUS documents shaped like the server's
// (the "dynamo" object with repair_* counters and the repair_differing label), scripted per
// node, run through RunClusterCommand against FakeCluster and its fake clock.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "client/kvctl/args.h"
#include "client/kvctl/cluster.h"
#include "client/kvctl/invocation.h"
#include "client/kvctl/output.h"
#include "common/ring/ring.h"
#include "tests/unit/kvctl/kvctl_cluster_fake.h"

namespace kvd::kvctl {
namespace {

using namespace std::chrono_literals;

std::string Client(uint64_t id) { return fmt::format("127.0.0.1:748{}", id); }

// A dynamo node of a 5-node ring (N=3, 8 tokens per node) whose repair advances by `step`
// comparisons each time its STATUS is read, once an ADMIN repair started it.
struct RepairDoc {
  uint64_t id = 1;
  std::string mode = "dynamo";
  uint64_t step = 10;
  mutable bool active = false;
  bool dry_run = false;
  uint64_t total = 0;
  mutable uint64_t done = 0;
  uint64_t unanswered = 0;
  std::vector<std::pair<uint64_t, uint64_t>> differing;  // (end, replica)

  std::string Json() const {
    nlohmann::json members = nlohmann::json::array();
    nlohmann::json peers = nlohmann::json::array();
    for (uint64_t m = 1; m <= 5; ++m) {
      members.push_back({{"id", m}, {"role", "normal"}, {"client", Client(m)}});
      if (m != id) peers.push_back({{"id", m}, {"state", "up"}});
    }
    std::vector<std::string> listed;
    for (const auto& [end, replica] : differing) {
      listed.push_back(fmt::format("{}@{}", end, replica));
    }
    nlohmann::json dynamo = {{"members", members},
                             {"peers", peers},
                             {"replicas", 3},
                             {"read_quorum", 2},
                             {"write_quorum", 2},
                             {"tokens_per_node", 8},
                             {"repair_active", active ? 1 : 0},
                             {"repair_dry_run", dry_run ? 1 : 0},
                             {"repair_pairs_total", total},
                             {"repair_pairs_done", done},
                             {"repair_pairs_differing", active ? 0 : differing.size()},
                             {"repair_pairs_unanswered", active ? 0 : unanswered},
                             {"repair_differing", active ? "" : fmt::format("{}", fmt::join(
                                                                     listed, ","))}};
    std::string doc = nlohmann::json{{"node_id", id}, {"mode", mode}, {"dynamo", dynamo}}.dump();
    // The next read shows more progress.
    if (active) {
      done = std::min(total, done + step);
      if (done == total) active = false;
    }
    return doc;
  }
};

// Nodes 1..5 at 127.0.0.1:748<id>; each answers ADMIN repair by starting `pairs`
// comparisons, unless `refusal` is set for it.
struct RepairRing {
  std::map<uint64_t, RepairDoc> docs;
  std::map<uint64_t, wire::Response> refusal;
  FakeCluster cluster;
  uint64_t pairs = 40;
  RepairRing() {
    for (uint64_t id = 1; id <= 5; ++id) docs[id].id = id;
    for (auto& [id, doc] : docs) {
      RepairDoc* d = &doc;
      uint64_t node = id;
      cluster.Add(Client(id), d, [this, d, node](const wire::Request& r) -> Result<wire::Response> {
        const auto& admin = std::get<wire::AdminRequest>(r.body);
        if (auto it = refusal.find(node); it != refusal.end()) return it->second;
        d->dry_run = admin.action == wire::AdminAction::kRepairDryRun;
        d->active = true;
        d->total = pairs;
        d->done = 0;
        return Ok(wire::AdminResponse{fmt::format(
            R"({{"node_id":{},"repair":"started","dry_run":{},"pairs":{}}})", node,
            d->dry_run ? "true" : "false", pairs)});
      });
    }
  }
  Output Run(Args args, std::vector<std::string>* progress = nullptr) {
    args.insert(args.begin(), {"--endpoints", Client(1)});
    ClusterBackend backend = cluster.backend();
    if (progress != nullptr) {
      backend.progress = [progress](const std::string& line) { progress->push_back(line); };
    }
    return RunClusterCommand(MustParse(args), backend);
  }
};

// The ranges of the ring the documents describe.
std::vector<ring::TokenRange> Ranges() {
  std::vector<ring::NodeSpec> specs;
  for (uint64_t id = 1; id <= 5; ++id) specs.push_back({id, 8, ""});
  Result<ring::Ring> ring = ring::Ring::Make(specs);
  REQUIRE(ring.ok());
  return ring->Ranges(3);
}

// ---- parsing and help ----

TEST_CASE("kvctl repair: parses the command line", "[unit][kvctl]") {
  CHECK(MustParseAction<RepairCommand>({"repair"}) == RepairCommand{false, 0});
  CHECK(MustParseAction<RepairCommand>({"repair", "--dry-run"}) == RepairCommand{true, 0});
  CHECK(MustParseAction<RepairCommand>({"repair", "--node", "3", "--dry-run"}) ==
        RepairCommand{true, 3});
  // A repair waits for the ring: --timeout defaults to 10 minutes.
  CHECK(MustParse({"repair"}).global.timeout == 10min);
  CHECK(MustParse({"--timeout", "30s", "repair"}).global.timeout == 30s);

  CHECK(ParseError({"repair", "3"}) ==
        "repair: unexpected argument \"3\" (usage: kvctl repair [--dry-run] [--node NODE_ID])");
  CHECK(ParseError({"repair", "--node", "0"}) == "repair: --node must be at least 1");
  CHECK(ParseError({"repair", "--node", "x"}) ==
        "repair: --node must be a non-negative integer (got \"x\")");
  CHECK_THAT(ParseError({"repair", "--wait"}), Catch::StartsWith("repair: unknown option"));
}

TEST_CASE("kvctl repair: help", "[unit][kvctl]") {
  CHECK_THAT(GeneralHelp(), Catch::Contains("\n  repair            dynamo: compare every range"));
  std::string help = CommandHelp("repair");
  CHECK_THAT(help, Catch::StartsWith(
                       "Usage: kvctl [global options] repair [--dry-run] [--node NODE_ID]\n"));
  for (const char* text :
       {"--dry-run", "--node NODE_ID", "\"[3.0 s] 1536/7680 comparisons, 2 differing\"",
        "\"repair done: N comparisons on M nodes in T s\"", "RANGE", "NODE", "REPLICA",
        "\"K ranges differ (of R compared)\"", "\"no range differs (R compared)\"",
        "anti-entropy is off", "a\nrepair is running", "default here: 10m", "exit 4", "exit 5",
        "\"dry_run\":true", "\"replicas\":[a,b]"}) {
    CHECK_THAT(help, Catch::Contains(text));
  }
  CHECK(std::get<HelpCommand>(MustParse({"repair", "--help"}).command).text == help);
}

// ---- the requests sent ----

TEST_CASE("kvctl repair: sends the repair to every member, or only to --node", "[unit][kvctl]") {
  SECTION("a dry run to every member") {
    RepairRing ring;
    std::vector<std::string> progress;
    Output o = ring.Run({"repair", "--dry-run"}, &progress);
    INFO(o.out << o.err);
    CHECK(o.exit_code == ExitCode::kOk);
    auto admin = ring.cluster.AdminRequests();
    REQUIRE(admin.size() == 5);
    for (uint64_t id = 1; id <= 5; ++id) {
      CHECK(admin[id - 1].first == Client(id));
      CHECK(admin[id - 1].second.action == wire::AdminAction::kRepairDryRun);
      CHECK(admin[id - 1].second.node_id == 0);
    }
    CHECK(o.out == "no range differs (40 compared)\n");
    // STATUS every 250 ms; a line of progress at the first read and then every second.
    for (auto d : ring.cluster.sleeps) CHECK(d == kRepairPollInterval);
    REQUIRE(!progress.empty());
    CHECK(progress[0] == "[0.0 s] 0/200 comparisons, 0 differing\n");
    CHECK(progress.size() == 1);  // done within the first second
  }
  SECTION("a full repair to --node only") {
    RepairRing ring;
    Output o = ring.Run({"repair", "--node", "3"});
    INFO(o.out << o.err);
    CHECK(o.exit_code == ExitCode::kOk);
    auto admin = ring.cluster.AdminRequests();
    REQUIRE(admin.size() == 1);
    CHECK(admin[0].first == Client(3));
    CHECK(admin[0].second.action == wire::AdminAction::kRepair);
    // Without backend.progress the lines come first in the output.
    CHECK_THAT(o.out, Catch::StartsWith("[0.0 s] 0/40 comparisons\n"));
    CHECK_THAT(o.out, Catch::EndsWith("repair done: 40 comparisons on 1 node in 1.0 s\n"));
  }
  SECTION("--node that is not a member") {
    RepairRing ring;
    Output o = ring.Run({"repair", "--node", "9"});
    CHECK(o.exit_code == ExitCode::kRejected);
    CHECK(o.err ==
          "kvctl: invalid argument: node 9 is not a member of the ring (members: 1, 2, 3, 4, "
          "5)\n");
    CHECK(ring.cluster.AdminRequests().empty());
  }
  SECTION("a node in another mode gets nothing") {
    RepairRing ring;
    ring.docs[1].mode = "single";
    Output o = ring.Run({"repair"});
    CHECK(o.exit_code == ExitCode::kRejected);
    CHECK_THAT(o.err, Catch::Contains("unsupported: the node at 127.0.0.1:7481 runs in mode "
                                      "single; kvctl repair needs a dynamo ring"));
    CHECK(ring.cluster.AdminRequests().empty());
  }
}

// ---- the dry run's table ----

TEST_CASE("kvctl repair: dry-run table, a pair found from both sides shown once",
          "[unit][kvctl]") {
  std::vector<ring::TokenRange> ranges = Ranges();
  // Two ranges: one whose first two replicas both find the other (node a -> b, b -> a), one
  // found from one side only.
  const ring::TokenRange& r1 = ranges[3];
  const ring::TokenRange& r2 = ranges[17];
  REQUIRE(r1.replicas.size() == 3);
  REQUIRE(r2.replicas.size() == 3);
  const uint64_t a = r1.replicas[0], b = r1.replicas[1];
  const uint64_t c = r2.replicas[2], e = r2.replicas[0];
  RepairRing ring;
  ring.docs[a].differing.push_back({r1.end, b});
  ring.docs[b].differing.push_back({r1.end, a});
  ring.docs[c].differing.push_back({r2.end, e});
  ring.docs[4].unanswered = 2;

  std::vector<std::string> progress;
  Output o = ring.Run({"repair", "--dry-run"}, &progress);
  INFO(o.out << o.err);
  CHECK(o.exit_code == ExitCode::kOk);
  std::vector<std::vector<std::string>> rows = {{"RANGE", "NODE", "REPLICA"}};
  std::vector<std::pair<const ring::TokenRange*, std::pair<uint64_t, uint64_t>>> expected = {
      {&r1, {std::min(a, b), std::max(a, b)}}, {&r2, {c, e}}};
  std::sort(expected.begin(), expected.end(),
            [](const auto& x, const auto& y) { return x.first->end < y.first->end; });
  for (const auto& [r, nodes] : expected) {
    rows.push_back({fmt::format("({}, {}]", r->start, r->end), std::to_string(nodes.first),
                    std::to_string(nodes.second)});
  }
  CHECK(o.out == AlignColumns(rows) +
                     "2 ranges differ (of 40 compared)\n"
                     "2 comparisons unanswered (the replica did not answer in time)\n");

  Output j = ring.Run({"--output", "json", "repair", "--dry-run"});
  nlohmann::json doc = nlohmann::json::parse(j.out);
  CHECK(doc["dry_run"] == true);
  CHECK(doc["comparisons"] == 200);
  CHECK(doc["unanswered"] == 2);
  CHECK(doc["ranges_compared"] == 40);
  REQUIRE(doc["differing"].size() == 2);
  for (const auto& d : doc["differing"]) {
    if (d["end"] == r1.end) {
      CHECK(d["start"] == r1.start);
      CHECK(d["replicas"] == nlohmann::json::array({std::min(a, b), std::max(a, b)}));
      CHECK(d["both_sides"] == true);
    } else {
      CHECK(d["end"] == r2.end);
      CHECK(d["replicas"] == nlohmann::json::array({std::min(c, e), std::max(c, e)}));
      CHECK(d["both_sides"] == false);
    }
  }
  CHECK(doc["nodes"].size() == 5);

  Output raw = ring.Run({"--output", "raw", "repair", "--dry-run"});
  CHECK_THAT(raw.out, Catch::Contains(fmt::format("{}\t{}\t{},{}\n", r1.start, r1.end,
                                                  std::min(a, b), std::max(a, b))));
}

// ---- refusals ----

TEST_CASE("kvctl repair: refusals keep the server's words and exit codes", "[unit][kvctl]") {
  SECTION("anti-entropy off: exit 4") {
    RepairRing ring;
    ring.refusal[2] = Error(Code::kInvalidArgument,
                            "anti-entropy is off (dynamo.anti_entropy_interval_ms is 0): there "
                            "are no Merkle trees to compare");
    Output o = ring.Run({"repair", "--node", "2"});
    CHECK(o.exit_code == ExitCode::kRejected);
    CHECK(o.err ==
          "kvctl: invalid argument: anti-entropy is off (dynamo.anti_entropy_interval_ms is 0): "
          "there are no Merkle trees to compare\n");
  }
  SECTION("a repair running everywhere: exit 5") {
    RepairRing ring;
    for (uint64_t id = 1; id <= 5; ++id) {
      ring.refusal[id] =
          Error(Code::kUnavailable, "a repair is running (12 of 1536 comparisons started)");
    }
    Output o = ring.Run({"repair"});
    CHECK(o.exit_code == ExitCode::kServerFailure);
    CHECK_THAT(o.err, Catch::StartsWith("kvctl: no node started the repair (node 1: unavailable: "
                                        "a repair is running (12 of 1536 comparisons started);"));
  }
  SECTION("one node refuses, the others repair: exit 0 and a note") {
    RepairRing ring;
    ring.refusal[5] =
        Error(Code::kUnavailable, "a repair is running (12 of 1536 comparisons started)");
    Output o = ring.Run({"repair"});
    CHECK(o.exit_code == ExitCode::kOk);
    CHECK_THAT(o.out, Catch::Contains("repair done: 160 comparisons on 4 nodes in"));
    CHECK_THAT(o.out, Catch::EndsWith(
                          "node 5 (127.0.0.1:7485) did not start the repair: unavailable: a "
                          "repair is running (12 of 1536 comparisons started)\n"));
  }
  SECTION("not finished within --timeout: exit 6") {
    RepairRing ring;
    for (auto& [id, doc] : ring.docs) doc.step = 1;
    Output o = ring.Run({"--timeout", "2s", "repair", "--node", "1"});
    CHECK(o.exit_code == ExitCode::kUnreachable);
    CHECK_THAT(o.err, Catch::StartsWith("kvctl: timeout: the repair did not finish within"));
    CHECK_THAT(o.err, Catch::Contains("still running on node 1"));
  }
}

}  // namespace
}  // namespace kvd::kvctl
