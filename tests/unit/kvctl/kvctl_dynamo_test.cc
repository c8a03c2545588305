// kvctl unit tests for dynamo rings: `kvctl ring` and `kvctl cluster status` of a dynamo
// cluster, without a server.
//
// Goal: pin down what an operator and a script see: the ring command's command line and
// help; the ring kvctl rebuilds from one node's STATUS (every node's tokens, the share of
// the circle it is the first replica of and the share of the keys it holds a replica of,
// its state as the answering node sees it) in table, json and raw form; the refusal of a
// node in another mode; and the cluster status rows of a ring where a node is down and
// another is seen down by a peer. Method: hand-written STATUS documents shaped like the
// server's (dynamo object, sorted keys, sloppy_quorum as a string), run through
// RunClusterCommand against FakeCluster (kvctl_cluster_fake.h). The shares are checked
// against a computation from the tokens alone (not through ring::Ring), and the tokens
// against ring::TokenFor. A failure means an operator-visible behaviour changed, or kvctl
// shows a ring other than the one the servers use.
#include <fmt/format.h>

#include <algorithm>
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
#include "client/kvctl/cluster_view.h"
#include "client/kvctl/invocation.h"
#include "client/kvctl/output.h"
#include "client/kvctl/ring_view.h"
#include "common/ring/ring.h"
#include "tests/unit/kvctl/kvctl_cluster_fake.h"

namespace kvd::kvctl {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

// ---- helpers ----

std::string ClientOf(uint64_t id) { return fmt::format("127.0.0.1:745{}", id); }

// Members 1..n at 127.0.0.1:745<id>, zones[i] for member i + 1 (none if not given).
std::vector<ConfiguredMember> Members(uint64_t n, const std::vector<std::string>& zones = {}) {
  std::vector<ConfiguredMember> members;
  for (uint64_t id = 1; id <= n; ++id) {
    members.push_back({id, ClientOf(id), fmt::format("127.0.0.1:755{}", id), "",
                       id <= zones.size() ? zones[id - 1] : ""});
  }
  return members;
}

// The parts of a dynamo STATUS document the tests vary.
struct DynamoDoc {
  uint64_t id = 1;
  uint64_t keys = 0;
  uint64_t replicas = 2;
  uint64_t read_quorum = 1;
  uint64_t write_quorum = 2;
  uint64_t tokens_per_node = 8;
  std::string read_repair = "background";
  bool sloppy_quorum = true;
  uint64_t hints_pending = 0;
  uint64_t ae_exchanges = 0;
  uint64_t read_repairs = 0;
  std::map<uint64_t, std::string> peer_states;  // every other node: up or down
  std::vector<ConfiguredMember> configured = Members(3);

  // As the server writes it: counters and labels side by side, keys sorted, admin and
  // zone only when configured.
  std::string Json() const {
    nlohmann::json peers = nlohmann::json::array();
    size_t up = 1;
    for (const auto& [peer, state] : peer_states) {
      peers.push_back({{"id", peer}, {"state", state}, {"ms_since_contact", 40}});
      if (state == "up") ++up;
    }
    nlohmann::json members = nlohmann::json::array();
    nlohmann::json running = nlohmann::json::array();
    for (const ConfiguredMember& m : configured) {
      nlohmann::json e = {{"id", m.id}, {"client", m.client}, {"peer", m.peer}};
      if (!m.admin.empty()) e["admin"] = m.admin;
      if (!m.zone.empty()) e["zone"] = m.zone;
      members.push_back(e);
      running.push_back(
          {{"id", m.id}, {"role", "normal"}, {"client", m.client}, {"peer", m.peer}});
      if (!m.zone.empty()) running.back()["zone"] = m.zone;
    }
    nlohmann::json dynamo = {
        {"ae_exchanges_total", ae_exchanges},
        {"ae_hashes_sent_total", ae_exchanges},
        {"ae_keys_received_total", 0},
        {"ae_keys_sent_total", 0},
        {"configured_members", members},
        {"failed", false},
        {"forwards_total", 3},
        {"hints_delivered_total", 0},
        {"hints_pending", hints_pending},
        {"hints_refused_total", 0},
        {"hints_stored_total", hints_pending},
        {"members", running},
        {"nodes", configured.size()},
        {"nodes_up", up},
        {"peers", peers},
        {"quorums", fmt::format("N={} R={} W={}", replicas, read_quorum, write_quorum)},
        {"read_quorum", read_quorum},
        {"read_repair", read_repair},
        {"read_repairs_total", read_repairs},
        {"reads_total", 10},
        {"replicas", replicas},
        {"requests_pending", 0},
        {"sloppy_quorum", sloppy_quorum ? "true" : "false"},
        {"sloppy_writes_total", 0},
        {"timeouts_total", 0},
        {"tokens_per_node", tokens_per_node},
        {"write_quorum", write_quorum},
        {"writes_total", 20}};
    nlohmann::json j = {{"node_id", id},    {"mode", "dynamo"}, {"role", "replica"},
                        {"version", "0.1.0"}, {"keys", keys},   {"dynamo", dynamo}};
    return j.dump();
  }
};

// Node 1 of three (N=2, 8 tokens each): it sees node 2 up and node 3 down.
DynamoDoc ThreeNodeDoc() {
  DynamoDoc d;
  d.peer_states = {{2, "up"}, {3, "down"}};
  return d;
}

// The share of the circle each node holds a replica of, with n replicas, from the tokens
// alone (unlabelled nodes): the range (previous token, token] belongs to the first n
// distinct nodes met clockwise from its end. This is the ring's definition, computed
// without ring::Ring, so that kvctl's numbers are checked against it.
std::map<uint64_t, double> ExpectedShares(const std::vector<uint64_t>& ids, uint32_t tokens,
                                          size_t n) {
  std::vector<std::pair<uint64_t, uint64_t>> vnodes;  // (token, node id)
  for (uint64_t id : ids) {
    for (uint32_t i = 0; i < tokens; ++i) vnodes.emplace_back(ring::TokenFor(id, i), id);
  }
  std::sort(vnodes.begin(), vnodes.end());
  std::map<uint64_t, double> share;
  for (uint64_t id : ids) share[id] = 0;
  for (size_t i = 0; i < vnodes.size(); ++i) {
    uint64_t start = vnodes[(i + vnodes.size() - 1) % vnodes.size()].first;
    uint64_t width = vnodes[i].first - start;  // wraps around 2^64
    std::vector<uint64_t> owners;
    for (size_t k = 0; k < vnodes.size() && owners.size() < n; ++k) {
      uint64_t id = vnodes[(i + k) % vnodes.size()].second;
      if (std::find(owners.begin(), owners.end(), id) == owners.end()) owners.push_back(id);
    }
    for (uint64_t id : owners) share[id] += static_cast<double>(width) / 18446744073709551616.0;
  }
  return share;
}

std::vector<uint64_t> SortedTokens(uint64_t id, uint32_t count) {
  std::vector<uint64_t> tokens;
  for (uint32_t i = 0; i < count; ++i) tokens.push_back(ring::TokenFor(id, i));
  std::sort(tokens.begin(), tokens.end());
  return tokens;
}

NodeStatus MustParseStatus(const std::string& json) {
  Result<NodeStatus> status = ParseNodeStatus(json);
  REQUIRE(status.ok());
  return std::move(status).value();
}

Probe AnsweredDy(std::string endpoint, uint64_t expected_id, const DynamoDoc& doc) {
  Probe probe;
  probe.endpoint = std::move(endpoint);
  probe.expected_id = expected_id;
  probe.status = MustParseStatus(doc.Json());
  return probe;
}

// ---- parsing and help ----

TEST_CASE("kvctl dynamo: parses kvctl ring", "[unit][kvctl]") {
  CHECK(MustParseAction<RingCommand>({"ring"}) == RingCommand{false});
  CHECK(MustParseAction<RingCommand>({"ring", "--tokens"}) == RingCommand{true});
  Invocation inv = MustParse({"--endpoints", "h:1,h:2", "ring", "-o", "json", "--tokens"});
  CHECK(inv.global.endpoints == std::vector<std::string>{"h:1", "h:2"});
  CHECK(inv.global.output == OutputFormat::kJson);
  CHECK(inv.global.timeout == kDefaultTimeout);  // it waits for nothing

  struct Case {
    Args args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"ring", "1"}, "ring: unexpected argument \"1\" (usage: kvctl ring [--tokens])"},
      {{"ring", "--token"}, "ring: unknown option \"--token\" (did you mean --tokens?)"},
      {{"ring", "--tokens=yes"},
       "ring: option '--tokens' does not take any arguments"},
      {{"rign"}, "unknown command \"rign\" (did you mean \"ring\"? run 'kvctl --help' for the "
                 "list)"},
      {{"cluster", "ring"},
       "unknown command \"cluster ring\" (cluster subcommands: status)"},
  };
  for (const Case& c : cases) {
    INFO(fmt::format("{}", fmt::join(c.args, " ")));
    CHECK(ParseError(c.args) == c.message);
  }
}

TEST_CASE("kvctl dynamo: help of kvctl ring and of cluster status", "[unit][kvctl]") {
  std::string ring = CommandHelp("ring");
  CHECK_THAT(ring, Catch::StartsWith("Usage: kvctl [global options] ring [--tokens]\n"));
  for (const char* text :
       {"ID, CLIENT", "ZONE", "TOKENS", "PRIMARY", "REPLICA", "STATE", "Ownership(1)",
        "the share of the keys for which it is one of the N replicas", "Over all nodes: 100%.",
        "N x 100%", "self (the node that answered)",
        "\"N=3 R=2 W=2, 256 tokens per node, 5 nodes (4 up as node 1 sees\nit)\"",
        "--tokens", "exit 4", "kvctl\nring needs a dynamo node", "ID<TAB>PRIMARY<TAB>REPLICA",
        "\"primary_share\":0.2", "\"replica_share\":0.6", "\"tokens_per_node\":T",
        "Examples:\n  kvctl --endpoints 127.0.0.1:7421 ring\n"}) {
    CHECK_THAT(ring, Catch::Contains(text));
  }
  CHECK(std::get<HelpCommand>(MustParse({"ring", "--help"}).command).text == ring);
  CHECK(std::get<HelpCommand>(MustParse({"help", "ring"}).command).text == ring);

  std::string general = GeneralHelp();
  CHECK_THAT(general, Catch::Contains("cluster status also multi_leader and dynamo; ring\n"
                                      "and node: dynamo"));
  CHECK_THAT(general, Catch::Contains(
                          "  ring              dynamo: each node's tokens, share of the keys"));
  CHECK_THAT(GroupHelp("cluster"),
             Catch::Contains("multi_leader progress, dynamo up/down and hints"));

  std::string status = CommandHelp("cluster status");
  for (const char* text :
       {"Works for leader_follower, multi_leader and dynamo clusters",
        "dynamo (a ring without a leader)", "HINTS", "SEEN DOWN BY", "AE", "REPAIRS",
        "\"N=3 R=2 W=2, read repair background, sloppy quorum on\"", "\"mode\":\"dynamo\"",
        "\"seen_down_by\":[...]", "kvctl ring needs a dynamo\nnode."}) {
    CHECK_THAT(status, Catch::Contains(text));
  }
}

// ---- the STATUS document ----

TEST_CASE("kvctl dynamo: reads a dynamo STATUS document", "[unit][kvctl]") {
  // As node 1 of config/dynamo-5.yaml sent it (abridged: fewer members), with zones.
  const std::string document =
      R"({"connections":1,"data_dir":"./d1","durability":"always","dynamo":{)"
      R"("ae_exchanges_total":5,"ae_hashes_sent_total":5,"ae_keys_received_total":0,)"
      R"("ae_keys_sent_total":0,"configured_members":[{"admin":"127.0.0.1:7621",)"
      R"("client":"127.0.0.1:7421","id":1,"peer":"127.0.0.1:7521","zone":"a"},)"
      R"({"client":"127.0.0.1:7422","id":2,"peer":"127.0.0.1:7522"}],"failed":false,)"
      R"("forwards_total":4,"hints_delivered_total":0,"hints_pending":24,)"
      R"("hints_refused_total":0,"hints_stored_total":24,"malformed_messages_total":0,)"
      R"("members":[{"client":"127.0.0.1:7421","id":1,"peer":"127.0.0.1:7521",)"
      R"("role":"replica"}],"nodes":2,"nodes_up":1,"peer_messages_dropped_total":0,)"
      R"("peers":[{"id":2,"ms_since_contact":5230,"state":"down"}],"quorums":"N=2 R=1 W=1",)"
      R"("read_quorum":1,"read_repair":"before_reply","read_repairs_total":7,)"
      R"("reads_total":30,"replicas":2,"requests_pending":0,"requests_refused_total":0,)"
      R"("sloppy_quorum":"false","sloppy_writes_total":13,"timeouts_total":1,)"
      R"("tokens_per_node":256,"write_quorum":1,"writes_total":40},"engine":"leveldb",)"
      R"("keys":122,"mode":"dynamo","node_id":1,"role":"replica","version":"0.1.0"})";
  NodeStatus s = MustParseStatus(document);
  CHECK(s.is_dynamo());
  CHECK_FALSE(s.replicated());  // the leader_follower commands still refuse it
  CHECK_FALSE(s.is_multi_leader());
  CHECK(s.node_id == 1);
  CHECK(s.role == "replica");
  CHECK(s.keys == 122);
  CHECK(s.configured_members ==
        std::vector<ConfiguredMember>{
            {1, "127.0.0.1:7421", "127.0.0.1:7521", "127.0.0.1:7621", "a"},
            {2, "127.0.0.1:7422", "127.0.0.1:7522", "", ""}});
  DynamoStatus expected;
  expected.settings = DynamoSettings{2, 1, 1, "before_reply", false};
  expected.tokens_per_node = 256;
  expected.hints_pending = 24;
  expected.ae_exchanges = 5;
  expected.read_repairs = 7;
  expected.peers = {DynamoPeer{2, "down"}};
  // A server from before ring changes: members with role "replica", no ring_* fields.
  expected.members = {RingMember{1, "replica", "127.0.0.1:7421", "127.0.0.1:7521", ""}};
  expected.ring.nodes = 2;
  expected.ring.nodes_up = 1;
  CHECK(s.dynamo == expected);
  CHECK(s.dynamo.settings.Text() == "N=2 R=1 W=1, read repair before_reply, sloppy quorum off");

  // sloppy_quorum as the server sends it (a string) or as a boolean.
  DynamoDoc doc;
  CHECK(MustParseStatus(doc.Json()).dynamo.settings.sloppy_quorum);
  CHECK(MustParseStatus(R"({"node_id":1,"mode":"dynamo","dynamo":{"sloppy_quorum":true}})")
            .dynamo.settings.sloppy_quorum);

  Result<NodeStatus> missing = ParseNodeStatus(R"({"node_id":1,"mode":"dynamo","role":"replica"})");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == Code::kProtocolError);
  CHECK(missing.status().message() == "the status document of a dynamo node has no dynamo");
}

// ---- kvctl ring ----

// One dynamo node at 127.0.0.1:7451 whose STATUS is `doc`.
struct OneNode {
  DynamoDoc doc = ThreeNodeDoc();
  FakeCluster cluster;
  OneNode() { cluster.Add(ClientOf(1), &doc); }
  Output Ring(Args args) {
    args.insert(args.begin(), {"--endpoints", ClientOf(1), "ring"});
    return Run(args, &cluster);
  }
};

TEST_CASE("kvctl dynamo: the ring's shares and tokens", "[unit][kvctl]") {
  OneNode node;
  Output o = node.Ring({"-o", "json"});
  CHECK(o.exit_code == ExitCode::kOk);
  CHECK(o.err.empty());
  CHECK(std::count(o.out.begin(), o.out.end(), '\n') == 1);  // one line
  Json j = Json::parse(o.out);
  CHECK(j["replicas"] == 2);
  CHECK(j["read_quorum"] == 1);
  CHECK(j["write_quorum"] == 2);
  CHECK(j["tokens_per_node"] == 8);
  CHECK(j["from_node"] == 1);
  REQUIRE(j["nodes"].size() == 3);
  std::map<uint64_t, double> primary = ExpectedShares({1, 2, 3}, 8, 1);
  std::map<uint64_t, double> replica = ExpectedShares({1, 2, 3}, 8, 2);
  double primary_sum = 0;
  double replica_sum = 0;
  for (uint64_t id = 1; id <= 3; ++id) {
    INFO("node " << id);
    const Json& n = j["nodes"][id - 1];
    CHECK(n["id"] == id);
    CHECK(n["client"] == ClientOf(id));
    CHECK(n["zone"].is_null());
    CHECK(n["tokens"].get<std::vector<uint64_t>>() == SortedTokens(id, 8));
    CHECK(n["primary_share"].get<double>() == Approx(primary[id]).margin(1e-12));
    CHECK(n["replica_share"].get<double>() == Approx(replica[id]).margin(1e-12));
    // Holding a replica includes being the first one.
    CHECK(n["replica_share"].get<double>() > n["primary_share"].get<double>());
    primary_sum += n["primary_share"].get<double>();
    replica_sum += n["replica_share"].get<double>();
  }
  CHECK(j["nodes"][0]["state"] == "self");
  CHECK(j["nodes"][1]["state"] == "up");
  CHECK(j["nodes"][2]["state"] == "down");
  CHECK(primary_sum == Approx(1.0).margin(1e-9));
  CHECK(replica_sum == Approx(2.0).margin(1e-9));  // N = 2
  // Eight tokens each spread the keys unevenly; the shares are not all the same.
  CHECK(j["nodes"][0]["primary_share"] != j["nodes"][1]["primary_share"]);

  // raw: id and the two shares, six decimals.
  std::string raw = node.Ring({"-o", "raw"}).out;
  std::string expected_raw;
  for (const Json& n : j["nodes"]) {
    expected_raw += fmt::format("{}\t{:.6f}\t{:.6f}\n", n["id"].get<uint64_t>(),
                                n["primary_share"].get<double>(), n["replica_share"].get<double>());
  }
  CHECK(raw == expected_raw);
  CHECK(node.Ring({"-o", "raw", "--tokens"}).out == raw);  // --tokens is for the table

  // With N = 3 on three nodes every node holds every key.
  node.doc.replicas = 3;
  j = Json::parse(node.Ring({"-o", "json"}).out);
  for (const Json& n : j["nodes"]) CHECK(n["replica_share"].get<double>() == Approx(1.0));
}

TEST_CASE("kvctl dynamo: the ring table", "[unit][kvctl]") {
  OneNode node;
  Json j = Json::parse(node.Ring({"-o", "json"}).out);
  Output o = node.Ring({});
  CHECK(o.exit_code == ExitCode::kOk);
  CHECK(o.err.empty());
  // The percentages are the json shares, with one decimal.
  std::string expected = "ID  CLIENT          ZONE  TOKENS  PRIMARY  REPLICA  STATE\n";
  for (const Json& n : j["nodes"]) {
    expected += fmt::format("{}   {}  -     8       {:.1f}%    {:.1f}%    {}\n",
                            n["id"].get<uint64_t>(), n["client"].get<std::string>(),
                            n["primary_share"].get<double>() * 100,
                            n["replica_share"].get<double>() * 100, n["state"].get<std::string>());
  }
  expected += "N=2 R=1 W=2, 8 tokens per node, 3 nodes (2 up as node 1 sees it)\n";
  CHECK(o.out == expected);
  // Pinned, so that a change in the ring's hashing shows here too.
  CHECK(o.out ==
        "ID  CLIENT          ZONE  TOKENS  PRIMARY  REPLICA  STATE\n"
        "1   127.0.0.1:7451  -     8       38.6%    69.2%    self\n"
        "2   127.0.0.1:7452  -     8       35.6%    71.4%    up\n"
        "3   127.0.0.1:7453  -     8       25.8%    59.5%    down\n"
        "N=2 R=1 W=2, 8 tokens per node, 3 nodes (2 up as node 1 sees it)\n");

  // --tokens: each row is followed by the node's tokens, ascending, four per line.
  std::string with_tokens = node.Ring({"--tokens"}).out;
  std::string token_lines;
  for (uint64_t id = 1; id <= 3; ++id) {
    std::vector<uint64_t> t = SortedTokens(id, 8);
    std::string lines = fmt::format("    {:>20} {:>20} {:>20} {:>20}\n", t[0], t[1], t[2], t[3]) +
                        fmt::format("    {:>20} {:>20} {:>20} {:>20}\n", t[4], t[5], t[6], t[7]);
    std::string row = fmt::format("{}   {}  -     8", id, ClientOf(id));
    size_t at = with_tokens.find(row);
    REQUIRE(at != std::string::npos);
    size_t next = with_tokens.find('\n', at) + 1;
    CHECK(with_tokens.substr(next, lines.size()) == lines);
    token_lines += lines;
  }
  CHECK(with_tokens.size() == o.out.size() + token_lines.size());
  CHECK_THAT(with_tokens, Catch::EndsWith("\nN=2 R=1 W=2, 8 tokens per node, 3 nodes (2 up as "
                                          "node 1 sees it)\n"));

  // A node the answering node does not report is unknown, and not counted as up.
  node.doc.peer_states = {{2, "up"}};
  o = node.Ring({});
  CHECK(o.out.find("down") == std::string::npos);
  CHECK_THAT(o.out, Catch::Contains("%    unknown\n"));
  CHECK_THAT(o.out, Catch::EndsWith("3 nodes (2 up as node 1 sees it)\n"));
}

TEST_CASE("kvctl dynamo: a ring with zones", "[unit][kvctl]") {
  // Zone b has one node, zone a two: every key has one replica in each zone, so node 3
  // holds all keys and nodes 1 and 2 share the other replicas.
  OneNode node;
  node.doc.configured = Members(3, {"a", "a", "b"});
  Json j = Json::parse(node.Ring({"-o", "json"}).out);
  REQUIRE(j["nodes"].size() == 3);
  CHECK(j["nodes"][0]["zone"] == "a");
  CHECK(j["nodes"][2]["zone"] == "b");
  CHECK(j["nodes"][2]["replica_share"].get<double>() == Approx(1.0).margin(1e-9));
  CHECK(j["nodes"][0]["replica_share"].get<double>() +
            j["nodes"][1]["replica_share"].get<double>() ==
        Approx(1.0).margin(1e-9));
  // The first replica is still the next token clockwise, whatever its zone.
  std::map<uint64_t, double> primary = ExpectedShares({1, 2, 3}, 8, 1);
  for (uint64_t id = 1; id <= 3; ++id) {
    CHECK(j["nodes"][id - 1]["primary_share"].get<double>() == Approx(primary[id]).margin(1e-12));
  }
  std::string table = node.Ring({}).out;
  CHECK_THAT(table, Catch::Contains("1   127.0.0.1:7451  a     8"));
  CHECK_THAT(table, Catch::Contains("3   127.0.0.1:7453  b     8       25.8%    100.0%   down\n"));
}

TEST_CASE("kvctl dynamo: kvctl ring refuses a node that is not dynamo", "[unit][kvctl]") {
  FakeCluster cluster;
  cluster.nodes["127.0.0.1:7379"] = [](const wire::Request&) -> Result<wire::Response> {
    return Ok(wire::StatusResponse{R"({"node_id":1,"mode":"single","role":"standalone"})"});
  };
  cluster.nodes["127.0.0.1:7411"] = [](const wire::Request&) -> Result<wire::Response> {
    return Ok(wire::StatusResponse{
        R"({"node_id":1,"mode":"multi_leader","role":"leader","multi_leader":{}})"});
  };
  Output o = Run({"ring"}, &cluster);
  CHECK(o.exit_code == ExitCode::kRejected);
  CHECK(o.out.empty());
  CHECK(o.err ==
        "kvctl: unsupported: the node at 127.0.0.1:7379 runs in mode single; kvctl ring needs "
        "a dynamo node\n");
  o = Run({"--endpoints", "127.0.0.1:7411", "ring", "-o", "json"}, &cluster);
  CHECK(o.exit_code == ExitCode::kRejected);
  CHECK(o.err ==
        "kvctl: unsupported: the node at 127.0.0.1:7411 runs in mode multi_leader; kvctl ring "
        "needs a dynamo node\n");

  // No node at --endpoints answers: exit 6, as for the other cluster commands.
  o = Run({"--endpoints", "127.0.0.1:7459", "ring"}, &cluster);
  CHECK(o.exit_code == ExitCode::kUnreachable);
  CHECK(o.err ==
        "kvctl: unavailable: cannot connect to kvd (127.0.0.1:7459: Connection refused)\n");

  // The first node that answers describes the ring; one STATUS each, in one call.
  DynamoDoc doc = ThreeNodeDoc();
  cluster.Add(ClientOf(1), &doc);
  cluster.requests.clear();
  o = Run({"--endpoints", "127.0.0.1:7459," + ClientOf(1), "ring"}, &cluster);
  CHECK(o.exit_code == ExitCode::kOk);
  CHECK_THAT(o.out, Catch::EndsWith("3 nodes (2 up as node 1 sees it)\n"));
  CHECK(cluster.requests.size() == 2);
  CHECK(cluster.now == std::chrono::steady_clock::time_point{} + 4ms);

  // A document that describes no ring is a malformed answer.
  doc.tokens_per_node = 0;
  o = Run({"--endpoints", ClientOf(1), "ring"}, &cluster);
  CHECK(o.exit_code == ExitCode::kServerFailure);
  CHECK(o.err ==
        "kvctl: protocol error: the status of node 1 reports tokens_per_node 0; expected 1 to "
        "4096\n");
  doc.tokens_per_node = 8;
  doc.configured = {};
  o = Run({"--endpoints", ClientOf(1), "ring"}, &cluster);
  CHECK(o.exit_code == ExitCode::kServerFailure);
  CHECK(o.err ==
        "kvctl: protocol error: the configured_members of node 1 make no ring: a ring needs at "
        "least one node\n");
}

// ---- kvctl cluster status ----

// Four nodes, N=3 R=2 W=2: node 4 is down (every other node sees it so), node 3 holds 24
// hints for it, and node 1's failure detector also believes node 2 down (a one-way
// partition: node 2 hears from the others).
struct FourNodes {
  DynamoDoc one;
  DynamoDoc two;
  DynamoDoc three;
  FakeCluster cluster;
  FourNodes() {
    for (DynamoDoc* d : {&one, &two, &three}) {
      d->replicas = 3;
      d->read_quorum = 2;
      d->write_quorum = 2;
      d->tokens_per_node = 256;
      d->configured = Members(4);
    }
    one.id = 1;
    one.keys = 40;
    one.ae_exchanges = 12;
    one.read_repairs = 1;
    one.peer_states = {{2, "down"}, {3, "up"}, {4, "down"}};
    two.id = 2;
    two.keys = 38;
    two.ae_exchanges = 11;
    two.peer_states = {{1, "up"}, {3, "up"}, {4, "down"}};
    three.id = 3;
    three.keys = 42;
    three.hints_pending = 24;
    three.ae_exchanges = 12;
    three.read_repairs = 3;
    three.peer_states = {{1, "up"}, {2, "up"}, {4, "down"}};
    cluster.Add(ClientOf(1), &one);
    cluster.Add(ClientOf(2), &two);
    cluster.Add(ClientOf(3), &three);
  }
};

TEST_CASE("kvctl dynamo: discovery in a dynamo ring asks every member", "[unit][kvctl]") {
  FourNodes ring;
  std::vector<Probe> probes = {AnsweredDy(ClientOf(2), 0, ring.two)};
  // There is no leader to look for: every member, whatever all_members says.
  for (bool all_members : {true, false}) {
    CHECK(NextProbes(probes, all_members) == std::vector<ProbeTarget>{{1, ClientOf(1)},
                                                                       {3, ClientOf(3)},
                                                                       {4, ClientOf(4)}});
  }
}

TEST_CASE("kvctl dynamo: cluster status with a node down and a node seen down",
          "[unit][kvctl]") {
  FourNodes ring;
  Output o = Run({"--endpoints", ClientOf(1), "cluster", "status"}, &ring.cluster);
  CHECK(o.exit_code == ExitCode::kOk);  // a node down is shown, not a failure
  CHECK(o.err.empty());
  CHECK(o.out ==
        "ID  CLIENT          STATE        KEYS  HINTS  SEEN DOWN BY  AE  REPAIRS\n"
        "1   127.0.0.1:7451  up           40    0      -             12  1\n"
        "2   127.0.0.1:7452  up           38    0      1             11  0\n"
        "3   127.0.0.1:7453  up           42    24     -             12  3\n"
        "4   127.0.0.1:7454  unreachable  -     -      1,2,3         -   -\n"
        "N=3 R=2 W=2, read repair background, sloppy quorum on\n"
        "node 4: 127.0.0.1:7454: unavailable: cannot connect to kvd (127.0.0.1:7454: "
        "Connection refused)\n");
  // Round 1: the endpoint; round 2: the other configured members, in one call.
  REQUIRE(ring.cluster.requests.size() == 4);
  CHECK(ring.cluster.requests[0].first == ClientOf(1));
  CHECK(ring.cluster.requests[1].first == ClientOf(2));
  CHECK(ring.cluster.requests[3].first == ClientOf(4));
  CHECK(ring.cluster.now == std::chrono::steady_clock::time_point{} + 2ms);

  CHECK(Run({"--endpoints", ClientOf(3), "cluster", "status", "-o", "raw"}, &ring.cluster).out ==
        "1\t127.0.0.1:7451\tup\t40\t0\t-\t12\t1\n"
        "2\t127.0.0.1:7452\tup\t38\t0\t1\t11\t0\n"
        "3\t127.0.0.1:7453\tup\t42\t24\t-\t12\t3\n"
        "4\t127.0.0.1:7454\tunreachable\t-\t-\t1,2,3\t-\t-\n");

  o = Run({"--endpoints", ClientOf(2), "cluster", "status", "-o", "json"}, &ring.cluster);
  CHECK(o.exit_code == ExitCode::kOk);
  CHECK(std::count(o.out.begin(), o.out.end(), '\n') == 1);
  Json expected = Json::parse(R"({"mode":"dynamo","replicas":3,"read_quorum":2,
      "write_quorum":2,"read_repair":"background","sloppy_quorum":true,"nodes":[
        {"id":1,"client":"127.0.0.1:7451","up":true,"keys":40,"hints_pending":0,
         "seen_down_by":[],"ae_exchanges":12,"read_repairs":1},
        {"id":2,"client":"127.0.0.1:7452","up":true,"keys":38,"hints_pending":0,
         "seen_down_by":[1],"ae_exchanges":11,"read_repairs":0},
        {"id":3,"client":"127.0.0.1:7453","up":true,"keys":42,"hints_pending":24,
         "seen_down_by":[],"ae_exchanges":12,"read_repairs":3},
        {"id":4,"client":"127.0.0.1:7454","up":false,"keys":null,"hints_pending":null,
         "seen_down_by":[1,2,3],"ae_exchanges":null,"read_repairs":null}],
      "notes":[]})");
  expected["nodes"][3]["error"] =
      "127.0.0.1:7454: unavailable: cannot connect to kvd (127.0.0.1:7454: Connection refused)";
  CHECK(Json::parse(o.out) == expected);
  CHECK_THAT(o.out, Catch::StartsWith(R"({"mode":"dynamo","replicas":3,"read_quorum":2,)"));

  // Node 4 is back: nobody sees it down any more, and node 3 is delivering its hints.
  DynamoDoc four = ring.three;
  four.id = 4;
  four.keys = 20;
  four.hints_pending = 0;
  four.peer_states = {{1, "up"}, {2, "up"}, {3, "up"}};
  ring.cluster.Add(ClientOf(4), &four);
  for (DynamoDoc* d : {&ring.one, &ring.two, &ring.three}) d->peer_states[4] = "up";
  ring.three.hints_pending = 5;
  o = Run({"--endpoints", ClientOf(1), "cluster", "status"}, &ring.cluster);
  CHECK_THAT(o.out, Catch::Contains("3   127.0.0.1:7453  up     42    5      -"));
  CHECK_THAT(o.out, Catch::Contains("4   127.0.0.1:7454  up     20    0      -"));
  CHECK_THAT(o.out, Catch::EndsWith("\nN=3 R=2 W=2, read repair background, sloppy quorum on\n"));
}

TEST_CASE("kvctl dynamo: cluster status names nodes with other settings or modes",
          "[unit][kvctl]") {
  FourNodes ring;
  ring.three.read_quorum = 1;
  ring.three.write_quorum = 3;
  ring.three.read_repair = "before_reply";
  ring.three.sloppy_quorum = false;
  ring.cluster.nodes[ClientOf(2)] = [](const wire::Request&) -> Result<wire::Response> {
    return Ok(wire::StatusResponse{R"({"node_id":2,"mode":"single","role":"standalone"})"});
  };
  Output o = Run({"--endpoints", ClientOf(1), "cluster", "status"}, &ring.cluster);
  CHECK(o.exit_code == ExitCode::kOk);
  CHECK_THAT(o.out, Catch::Contains("2   127.0.0.1:7452  single       -     -      1 "));
  CHECK_THAT(o.out,
             Catch::EndsWith("N=3 R=2 W=2, read repair background, sloppy quorum on\n"
                             "node 2: answered in mode single, not dynamo\n"
                             "node 4: 127.0.0.1:7454: unavailable: cannot connect to kvd "
                             "(127.0.0.1:7454: Connection refused)\n"
                             "node 3 reports N=3 R=1 W=3, read repair before_reply, sloppy "
                             "quorum off; node 1 N=3 R=2 W=2, read repair background, sloppy "
                             "quorum on\n"));

  // member list shows a Raft membership, which a ring does not have.
  o = Run({"--endpoints", ClientOf(1), "member", "list"}, &ring.cluster);
  CHECK(o.exit_code == ExitCode::kRejected);
  CHECK(o.err ==
        "kvctl: unsupported: the node at 127.0.0.1:7451 runs in mode dynamo; cluster commands "
        "need a leader_follower cluster\n");
}

}  // namespace
}  // namespace kvd::kvctl
