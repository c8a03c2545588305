// kvctl unit tests for dynamo ring membership: `kvctl node join/decommission/pause/resume/
// status`, and `kvctl ring` and `cluster status` of a ring whose membership changed.
//
// Goal: pin down what an operator and a script see: the command lines accepted and their
// --timeout defaults, the help; which ADMIN request goes to which node (join and
// decommission go to the first node at --endpoints that answers, and only if it is a
// dynamo node); the server's refusals shown as the server worded them with the exit code
// of their status; the node status table, json and raw forms for a join in progress (one
// gainer half done, one done) and for a settled ring, with RATE and ETA from two rounds of
// STATUS; the progress lines and the end of `--wait`; and the ring built from the live
// membership. Method: STATUS documents shaped like the server's (the "dynamo" object with
// ring_version, ring_transition, ring_paused and ring_streamed as labels, stream_* counters,
// members with roles), scripted per node and per round, run through RunClusterCommand
// against FakeCluster (kvctl_cluster_fake.h) and its fake clock. A failure means an
// operator-visible behaviour changed, or kvctl would send a membership change to the wrong
// node or stop waiting at the wrong moment.
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
#include "client/kvctl/cluster_view.h"
#include "client/kvctl/invocation.h"
#include "client/kvctl/output.h"
#include "client/kvctl/ring_change.h"
#include "tests/unit/kvctl/kvctl_cluster_fake.h"

namespace kvd::kvctl {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

// ---- helpers ----

std::string Client(uint64_t id) { return fmt::format("127.0.0.1:749{}", id); }
std::string Peer(uint64_t id) { return fmt::format("127.0.0.1:759{}", id); }

// A dynamo node's STATUS, with the ring state and streaming fields the node commands read.
struct RingDoc {
  uint64_t id = 1;
  uint64_t version = 6;
  uint64_t transition = 0;
  bool paused = false;
  std::string streamed;  // "3,6"
  // The ring state's members: id -> role. The configuration lists nodes 1..5.
  std::map<uint64_t, std::string> members = {
      {1, "normal"}, {2, "normal"}, {3, "normal"}, {4, "normal"}, {5, "normal"}};
  uint64_t ranges_total = 0;
  uint64_t ranges_done = 0;
  uint64_t keys_received = 0;
  uint64_t bytes_received = 0;
  bool streaming_paused = false;

  std::string Json() const {
    nlohmann::json configured = nlohmann::json::array();
    for (uint64_t m = 1; m <= 5; ++m) {
      configured.push_back({{"id", m}, {"client", Client(m)}, {"peer", Peer(m)}});
    }
    nlohmann::json running = nlohmann::json::array();
    nlohmann::json peers = nlohmann::json::array();
    for (const auto& [m, role] : members) {
      running.push_back({{"id", m}, {"role", role}, {"client", Client(m)}, {"peer", Peer(m)}});
      if (m != id) peers.push_back({{"id", m}, {"state", "up"}, {"ms_since_contact", 20}});
    }
    nlohmann::json dynamo = {{"ae_exchanges_total", 0},
                             {"configured_members", configured},
                             {"hints_pending", 0},
                             {"members", running},
                             {"nodes", members.size()},
                             {"nodes_up", members.size()},
                             {"peers", peers},
                             {"read_quorum", 2},
                             {"read_repair", "background"},
                             {"read_repairs_total", 0},
                             {"replicas", 3},
                             {"ring_paused", paused ? "true" : "false"},
                             {"ring_streamed", streamed},
                             {"ring_transition", transition},
                             {"ring_version", version},
                             {"sloppy_quorum", "true"},
                             {"stream_bytes_received_total", bytes_received},
                             {"stream_keys_received_total", keys_received},
                             {"stream_keys_sent_total", 0},
                             {"stream_ranges_done", ranges_done},
                             {"stream_ranges_total", ranges_total},
                             {"streaming_paused", streaming_paused ? 1 : 0},
                             {"tokens_per_node", 8},
                             {"write_quorum", 2}};
    return nlohmann::json{{"node_id", id},  {"mode", "dynamo"}, {"role", "replica"},
                          {"keys", 100},    {"dynamo", dynamo}}
        .dump();
  }
};

// The ADMIN answer of a dynamo node.
wire::Response RingAnswer(uint64_t version, uint64_t transition, bool paused,
                          const std::map<uint64_t, std::string>& members) {
  std::vector<std::string> entries;
  for (const auto& [id, role] : members) {
    entries.push_back(fmt::format(R"({{"id":{},"status":"{}"}})", id, role));
  }
  return Ok(wire::AdminResponse{
      fmt::format(R"({{"ring_version":{},"transition":{},"paused":{},"members":[{}]}})", version,
                  transition, paused ? "true" : "false", fmt::join(entries, ","))});
}

// Nodes 1..5 of a ring at 127.0.0.1:749<id>, and node 6 once started. Node 1 answers ADMIN
// through `admin`.
struct Ring {
  std::map<uint64_t, RingDoc> docs;
  FakeCluster cluster;
  FakeCluster::Handler admin = nullptr;
  explicit Ring(uint64_t nodes = 5) {
    for (uint64_t id = 1; id <= nodes; ++id) docs[id].id = id;
    for (auto& [id, doc] : docs) {
      cluster.Add(Client(id), &doc, [this](const wire::Request& r) { return admin(r); });
    }
  }
  // Every node's ring state: a join of node 6 recorded at version 7, which node 6 has too.
  void JoinUnderWay() {
    docs[6].id = 6;
    cluster.Add(Client(6), &docs[6]);
    for (auto& [id, doc] : docs) {
      doc.version = 7;
      doc.transition = 7;
      doc.members[6] = "joining";
    }
  }
  // The join finalized: version 8, every member normal, no streaming left.
  void JoinFinished() {
    for (auto& [id, doc] : docs) {
      doc.version = 8;
      doc.transition = 0;
      doc.streamed.clear();
      doc.members[6] = "normal";
      doc.ranges_total = doc.ranges_done = 0;
    }
  }
  Output Run(Args args) {
    args.insert(args.begin(), {"--endpoints", Client(1)});
    return kvctl::Run(args, &cluster);
  }
};

// Runs `args` with a backend whose every sleep also calls `on_sleep` (the ring moves on
// while kvctl waits), and records the progress lines apart if `progress` is set.
Output RunWithPhases(FakeCluster* cluster, const Args& args, const std::function<void()>& on_sleep,
                     std::vector<std::string>* progress = nullptr) {
  ClusterBackend backend = cluster->backend();
  auto sleep = backend.sleep;
  backend.sleep = [sleep, on_sleep](std::chrono::milliseconds d) {
    sleep(d);
    on_sleep();
  };
  if (progress != nullptr) {
    backend.progress = [progress](const std::string& line) { progress->push_back(line); };
  }
  return RunClusterCommand(MustParse(args), backend);
}

// ---- parsing and help ----

TEST_CASE("kvctl node: parses the node commands", "[unit][kvctl]") {
  CHECK(MustParseAction<NodeJoinCommand>(
            {"node", "join", "6", "--client", "127.0.0.1:7496", "--peer", "127.0.0.1:7596"}) ==
        NodeJoinCommand{6, "127.0.0.1:7496", "127.0.0.1:7596", 0ms});
  // --wait: the wait defaults to 10 minutes; --timeout sets it.
  CHECK(MustParseAction<NodeJoinCommand>({"node", "join", "6", "--client", "h:1", "--peer", "h:2",
                                          "--wait"})
            .wait_timeout == 10min);
  CHECK(MustParseAction<NodeJoinCommand>({"--timeout", "30m", "node", "join", "6", "--client",
                                          "h:1", "--peer", "h:2", "--wait"})
            .wait_timeout == 30min);
  CHECK(MustParseAction<NodeDecommissionCommand>({"node", "decommission", "2"}) ==
        NodeDecommissionCommand{2, 0ms});
  CHECK(MustParseAction<NodeDecommissionCommand>(
            {"node", "decommission", "2", "--wait", "--timeout", "90s"}) ==
        NodeDecommissionCommand{2, 90s});
  CHECK(MustParseAction<NodeStreamsCommand>({"node", "pause"}) == NodeStreamsCommand{true});
  CHECK(MustParseAction<NodeStreamsCommand>({"node", "resume"}) == NodeStreamsCommand{false});
  CHECK(MustParseAction<NodeStatusCommand>({"node", "status"}) == NodeStatusCommand{1s});
  CHECK(MustParseAction<NodeStatusCommand>({"node", "status", "--sample", "0"}) ==
        NodeStatusCommand{0ms});
  CHECK(MustParseAction<NodeStatusCommand>({"node", "status", "--sample", "5s"}) ==
        NodeStatusCommand{5s});

  // --timeout defaults: the admin commands' 10s (each request); status the usual 5s.
  CHECK(MustParse({"node", "decommission", "2"}).global.timeout == kDefaultAdminTimeout);
  CHECK(MustParse({"node", "decommission", "2", "--wait"}).global.timeout ==
        kDefaultAdminTimeout);
  CHECK(MustParse({"node", "pause"}).global.timeout == kDefaultAdminTimeout);
  CHECK(MustParse({"node", "status"}).global.timeout == kDefaultTimeout);

  struct Case {
    Args args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"node"}, "node: missing subcommand: join, decommission, pause, resume, status (run "
                 "'kvctl node --help')"},
      {{"node", "joi"}, "unknown command \"node joi\" (did you mean \"node join\"? run 'kvctl "
                        "node --help' for the list)"},
      {{"node", "join"}, "node join: missing arguments (usage: kvctl node join NODE_ID --client "
                         "HOST:PORT --peer HOST:PORT [--wait])"},
      {{"node", "join", "6"},
       "node join: needs --client HOST:PORT and --peer HOST:PORT (missing --client)"},
      {{"node", "join", "6", "--client", "h:1"},
       "node join: needs --client HOST:PORT and --peer HOST:PORT (missing --peer)"},
      {{"node", "join", "0", "--client", "h:1", "--peer", "h:2"},
       "node join: NODE_ID must be at least 1"},
      {{"node", "join", "x", "--client", "h:1", "--peer", "h:2"},
       "node join: NODE_ID must be a non-negative integer (got \"x\")"},
      {{"node", "join", "6", "--client", "h:1", "--peer", "h:1"},
       "node join: --client and --peer must be different addresses"},
      {{"node", "join", "6", "--client", "h", "--peer", "h:2"},
       "node join: --client: endpoint \"h\" must be host:port (e.g. 127.0.0.1:7379)"},
      {{"node", "join", "6", "7", "--client", "h:1", "--peer", "h:2"},
       "node join: unexpected argument \"7\" (usage: kvctl node join NODE_ID --client "
       "HOST:PORT --peer HOST:PORT [--wait])"},
      {{"node", "join", "6", "--client", "h:1", "--peer", "h:2", "--wiat"},
       "node join: unknown option \"--wiat\" (did you mean --wait?)"},
      {{"node", "decommission"},
       "node decommission: missing arguments (usage: kvctl node decommission NODE_ID "
       "[--wait])"},
      {{"node", "decommission", "2", "--client", "h:1"},
       "node decommission: unknown option \"--client\" (did you mean --wait?)"},
      {{"node", "pause", "2"},
       "node pause: unexpected argument \"2\" (usage: kvctl node pause)"},
      {{"node", "resume", "--wait"}, "node resume: unknown option \"--wait\""},
      {{"node", "status", "--sample", "2x"},
       "node status: --sample: invalid duration \"2x\" (use 500ms, 5s, 2m, 1h, or a number of "
       "milliseconds)"},
      {{"node", "status", "--sample", "2m"}, "node status: --sample must be at most 1m0s"},
      {{"node", "status", "6"},
       "node status: unexpected argument \"6\" (usage: kvctl node status [--sample "
       "DURATION])"},
  };
  for (const Case& c : cases) {
    INFO(fmt::format("{}", fmt::join(c.args, " ")));
    CHECK(ParseError(c.args) == c.message);
  }
}

TEST_CASE("kvctl node: help of the node commands", "[unit][kvctl]") {
  std::string general = GeneralHelp();
  CHECK_THAT(general, Catch::Contains("ring\nand node: dynamo; see their --help"));
  // The cluster commands' column is as wide as their longest name.
  CHECK_THAT(general, Catch::Contains("\n  node decommission dynamo: remove a node from the ring"));
  CHECK_THAT(general, Catch::Contains("\n  node join         dynamo: add a node to the ring"));
  CHECK_THAT(general, Catch::Contains("\n  ring              dynamo: each node's tokens"));

  std::string group = GroupHelp("node");
  CHECK_THAT(group, Catch::StartsWith("Usage: kvctl [global options] node SUBCOMMAND"));
  for (const char* line : {"  join         dynamo: add a node", "  decommission dynamo: remove",
                           "  pause        dynamo: pause", "  resume       dynamo: resume",
                           "  status       dynamo: the ring change under way"}) {
    CHECK_THAT(group, Catch::Contains(line));
  }
  CHECK(std::get<HelpCommand>(MustParse({"node", "--help"}).command).text == group);
  CHECK(std::get<HelpCommand>(MustParse({"help", "node"}).command).text == group);

  std::string join = CommandHelp("node join");
  CHECK_THAT(join, Catch::StartsWith("Usage: kvctl [global options] node join NODE_ID --client "
                                     "HOST:PORT --peer HOST:PORT [--wait]\n"));
  for (const char* text :
       {"cluster.join: true", "cluster.members lists every node of\n     the ring and itself",
        "kvctl checks first that it is a dynamo\n     node", "One ring change at a time",
        "exit 5", "exit 4 with the server's message", "--wait", "default with --wait: 10m",
        "exit 6 if the change has not finished", "was dropped",
        "\"node 6 is joining the ring (version 7); follow with: kvctl node status\"",
        "\"finished\":false", "--client HOST:PORT", "--peer HOST:PORT",
        "Examples:\n  kvctl --endpoints 127.0.0.1:7421 node join 6"}) {
    CHECK_THAT(join, Catch::Contains(text));
  }
  CHECK(std::get<HelpCommand>(MustParse({"node", "join", "-h"}).command).text == join);
  std::string decommission = CommandHelp("node decommission");
  for (const char* text : {"fewer nodes than\ndynamo.replicas", "keep it running until the change",
                           "delete its data\ndirectory", "\"action\":\"decommission\""}) {
    CHECK_THAT(decommission, Catch::Contains(text));
  }
  CHECK_THAT(CommandHelp("node pause"), Catch::Contains("kvctl node resume continues it"));
  CHECK_THAT(CommandHelp("node resume"), Catch::Contains("\"action\":\"resume_streams\""));
  std::string status = CommandHelp("node status");
  for (const char* text :
       {"NODE", "RANGES", "KEYS", "BYTES", "RATE", "ETA", "DONE",
        "keys it received per second between two rounds of STATUS --sample apart",
        "its remaining ranges at the rate its ranges completed", "counted since\n           the "
        "node started", "\"no ring change under way (ring version 8, 6 nodes)\"",
        "\"keys_per_second\":X|null", "--sample DURATION"}) {
    CHECK_THAT(status, Catch::Contains(text));
  }
  CHECK_THAT(CommandHelp("ring"), Catch::Contains("\", joining\" or \", leaving\""));
}

// ---- join, decommission, pause, resume ----

TEST_CASE("kvctl node: join sends add_learner to the node at --endpoints", "[unit][kvctl]") {
  Ring ring;
  ring.admin = [](const wire::Request&) -> Result<wire::Response> {
    return RingAnswer(7, 7, false,
                      {{1, "normal"}, {2, "normal"}, {3, "normal"}, {4, "normal"},
                       {5, "normal"}, {6, "joining"}});
  };
  // The first node at --endpoints that answers gets it (127.0.0.1:7499 refuses).
  Output o = kvctl::Run({"--endpoints", "127.0.0.1:7499," + Client(1), "node", "join", "6",
                         "--client", "127.0.0.1:7496", "--peer", "127.0.0.1:7596"},
                        &ring.cluster);
  CHECK(o.exit_code == ExitCode::kOk);
  CHECK(o.err.empty());
  CHECK(o.out == "node 6 is joining the ring (version 7); follow with: kvctl node status\n");
  auto admin = ring.cluster.AdminRequests();
  REQUIRE(admin.size() == 1);
  CHECK(admin[0].first == Client(1));
  CHECK(admin[0].second == wire::AdminRequest{wire::AdminAction::kAddLearner, 6,
                                              "127.0.0.1:7496", "127.0.0.1:7596"});
  // It asked the endpoints' STATUS first (to check the mode), nothing else.
  CHECK(ring.cluster.requests.size() == 3);

  const Args join = {"node", "join", "6", "--client", "127.0.0.1:7496", "--peer",
                     "127.0.0.1:7596"};
  Args raw = join;
  raw.insert(raw.end(), {"-o", "raw"});
  CHECK(ring.Run(raw).out == "7\n");
  Args json = join;
  json.insert(json.end(), {"-o", "json"});
  o = ring.Run(json);
  CHECK(Json::parse(o.out) == Json::parse(R"({"node_id":6,"action":"join","ring_version":7,
      "transition":7,"paused":false,"members":[{"id":1,"role":"normal"},
      {"id":2,"role":"normal"},{"id":3,"role":"normal"},{"id":4,"role":"normal"},
      {"id":5,"role":"normal"},{"id":6,"role":"joining"}],"finished":false})"));

  // decommission: remove_member, same place, same style.
  ring.admin = [](const wire::Request&) -> Result<wire::Response> {
    return RingAnswer(9, 9, false,
                      {{1, "normal"}, {2, "leaving"}, {3, "normal"}, {4, "normal"},
                       {5, "normal"}, {6, "normal"}});
  };
  ring.cluster.requests.clear();
  o = ring.Run({"node", "decommission", "2"});
  CHECK(o.exit_code == ExitCode::kOk);
  CHECK(o.out == "node 2 is leaving the ring (version 9); follow with: kvctl node status\n");
  admin = ring.cluster.AdminRequests();
  REQUIRE(admin.size() == 1);
  CHECK(admin[0] == std::pair{Client(1), wire::AdminRequest{wire::AdminAction::kRemoveMember, 2,
                                                            "", ""}});
  CHECK(Json::parse(ring.Run({"node", "decommission", "2", "-o", "json"}).out)["action"] ==
        "decommission");
}

TEST_CASE("kvctl node: refusals show the server's message and exit code", "[unit][kvctl]") {
  Ring ring;
  ring.admin = [](const wire::Request&) -> Result<wire::Response> {
    return Error(Code::kInvalidArgument, "node 6 is already in the ring");
  };
  const Args join = {"node", "join", "6", "--client", "127.0.0.1:7496", "--peer",
                     "127.0.0.1:7596"};
  Output o = ring.Run(join);
  CHECK(o.exit_code == ExitCode::kRejected);
  CHECK(o.out.empty());
  CHECK(o.err == "kvctl: invalid argument: node 6 is already in the ring\n");

  // One change at a time: UNAVAILABLE, exit 5, and --wait does not wait for anything.
  ring.admin = [](const wire::Request&) -> Result<wire::Response> {
    return Error(Code::kUnavailable,
                 "a ring change is under way (node 6 is joining): one at a time; follow it "
                 "with kvctl node status");
  };
  Args wait = join;
  wait.push_back("--wait");
  o = ring.Run(wait);
  CHECK(o.exit_code == ExitCode::kServerFailure);
  CHECK(o.err ==
        "kvctl: unavailable: a ring change is under way (node 6 is joining): one at a time; "
        "follow it with kvctl node status\n");
  CHECK(ring.cluster.sleeps.empty());

  ring.admin = [](const wire::Request&) -> Result<wire::Response> {
    return Error(Code::kInvalidArgument,
                 "decommissioning node 2 would leave 2 nodes, fewer than dynamo.replicas (3)");
  };
  o = ring.Run({"node", "decommission", "2"});
  CHECK(o.exit_code == ExitCode::kRejected);
  CHECK(o.err == "kvctl: invalid argument: decommissioning node 2 would leave 2 nodes, fewer "
                 "than dynamo.replicas (3)\n");

  ring.admin = [](const wire::Request&) -> Result<wire::Response> {
    return Error(Code::kInvalidArgument, "no ring change is under way: nothing to pause or resume");
  };
  o = ring.Run({"node", "pause"});
  CHECK(o.exit_code == ExitCode::kRejected);
  CHECK(o.err == "kvctl: invalid argument: no ring change is under way: nothing to pause or "
                 "resume\n");

  // A node that is not dynamo is not sent the request (add_learner means a Raft learner
  // there).
  FakeCluster raft;
  raft.nodes["127.0.0.1:7401"] = [](const wire::Request& r) -> Result<wire::Response> {
    REQUIRE(std::holds_alternative<wire::StatusRequest>(r.body));
    return Ok(wire::StatusResponse{
        R"({"node_id":1,"mode":"leader_follower","role":"leader",)"
        R"("raft":{"membership":"voters=[1]"}})"});
  };
  Args at_raft = {"--endpoints", "127.0.0.1:7401"};
  at_raft.insert(at_raft.end(), join.begin(), join.end());
  o = kvctl::Run(at_raft, &raft);
  CHECK(o.exit_code == ExitCode::kRejected);
  CHECK(o.err == "kvctl: unsupported: the node at 127.0.0.1:7401 runs in mode leader_follower; "
                 "kvctl node needs a dynamo ring (leader_follower: kvctl member add/remove)\n");
  CHECK(raft.AdminRequests().empty());
  o = kvctl::Run({"--endpoints", "127.0.0.1:7401", "node", "status"}, &raft);
  CHECK(o.exit_code == ExitCode::kRejected);

  // Nobody answers: exit 6.
  o = kvctl::Run({"--endpoints", "127.0.0.1:7499", "node", "pause"}, &raft);
  CHECK(o.exit_code == ExitCode::kUnreachable);
  CHECK(o.err == "kvctl: unavailable: cannot connect to kvd (127.0.0.1:7499: Connection "
                 "refused)\n");
}

TEST_CASE("kvctl node: pause and resume", "[unit][kvctl]") {
  Ring ring;
  std::map<uint64_t, std::string> members = {{1, "normal"}, {2, "leaving"}, {3, "normal"},
                                             {4, "normal"}, {5, "normal"}};
  ring.admin = [&](const wire::Request& r) -> Result<wire::Response> {
    const auto& a = std::get<wire::AdminRequest>(r.body);
    bool pause = a.action == wire::AdminAction::kPauseStreams;
    return RingAnswer(pause ? 10 : 11, 9, pause, members);
  };
  Output o = ring.Run({"node", "pause"});
  CHECK(o.exit_code == ExitCode::kOk);
  CHECK(o.out == "streaming paused (node 2 leaving the ring, ring version 10); resume with: "
                 "kvctl node resume\n");
  o = ring.Run({"node", "resume"});
  CHECK(o.out == "streaming resumed (node 2 leaving the ring, ring version 11); follow with: "
                 "kvctl node status\n");
  auto admin = ring.cluster.AdminRequests();
  REQUIRE(admin.size() == 2);
  CHECK(admin[0].second == wire::AdminRequest{wire::AdminAction::kPauseStreams, 0, "", ""});
  CHECK(admin[1].second == wire::AdminRequest{wire::AdminAction::kResumeStreams, 0, "", ""});
  CHECK(ring.Run({"node", "pause", "-o", "raw"}).out == "10\n");
  Json j = Json::parse(ring.Run({"node", "pause", "-o", "json"}).out);
  CHECK(j["action"] == "pause_streams");
  CHECK(j["paused"] == true);
  CHECK(j["transition"] == 9);
}

// ---- node status ----

// Node 6 joins a ring of five (version 7). Gainers: node 6, half way through its 768
// ranges, and node 3 (a zone rule would make it one), done and listed in ring_streamed; as
// the server does, node 3 reports 0/0 ranges once the ring state has moved on. Each node's
// STATUS advances once per round: the second round is a second later.
struct JoinInProgress {
  Ring ring;
  int round = 0;
  JoinInProgress() {
    ring.JoinUnderWay();
    for (auto& [id, doc] : ring.docs) doc.streamed = "3";
    RingDoc& three = ring.docs[3];
    three.keys_received = 3000;
    three.bytes_received = 300000;
    Set(0);
  }
  void Set(int r) {
    round = r;
    RingDoc& six = ring.docs[6];
    six.ranges_total = 768;
    six.ranges_done = r == 0 ? 384 : 400;
    six.keys_received = r == 0 ? 10000 : 30040;  // 20040 keys in 1.002 s
    six.bytes_received = r == 0 ? 1048576 : 3145728;
  }
};

TEST_CASE("kvctl node: status of a join in progress", "[unit][kvctl]") {
  JoinInProgress join;
  Output o = RunWithPhases(&join.ring.cluster, {"--endpoints", Client(1), "node", "status"},
                           [&] { join.Set(join.round + 1); });
  CHECK(o.exit_code == ExitCode::kOk);
  CHECK(o.err.empty());
  // Round 1 at 2 ms (the endpoint, then the other five members), round 2 at 1004 ms: RATE
  // 20040 keys / 1.002 s; ETA (768 - 400) ranges at 16 ranges per 1.002 s.
  CHECK(o.out ==
        "node 6 is joining the ring: ring version 7, 6 members, streaming running\n"
        "NODE  RANGES   KEYS   BYTES      RATE     ETA  DONE\n"
        "3     -        3000   293.0 KiB  0/s      -    yes\n"
        "6     400/768  30040  3.0 MiB    20000/s  23s  no\n"
        "RATE and ETA over the last 1.0 s (two rounds of STATUS)\n");
  CHECK(join.ring.cluster.sleeps == std::vector<std::chrono::milliseconds>{1s});

  join.Set(0);
  o = RunWithPhases(&join.ring.cluster,
                    {"--endpoints", Client(1), "node", "status", "-o", "json"},
                    [&] { join.Set(join.round + 1); });
  CHECK(Json::parse(o.out) == Json::parse(R"({"ring_version":7,"transition":7,
      "under_way":true,"kind":"join","node_id":6,"paused":false,"members":[
        {"id":1,"role":"normal"},{"id":2,"role":"normal"},{"id":3,"role":"normal"},
        {"id":4,"role":"normal"},{"id":5,"role":"normal"},{"id":6,"role":"joining"}],
      "gainers":[
        {"id":3,"answered":true,"ranges_done":0,"ranges_total":0,"keys_received":3000,
         "bytes_received":300000,"keys_per_second":0.0,"eta_seconds":null,"paused":false,
         "done":true},
        {"id":6,"answered":true,"ranges_done":400,"ranges_total":768,"keys_received":30040,
         "bytes_received":3145728,"keys_per_second":20000.0,"eta_seconds":23.046,
         "paused":false,"done":false}],
      "sample_ms":1002,"from_node":1,"notes":[]})"));

  join.Set(0);
  o = RunWithPhases(&join.ring.cluster, {"--endpoints", Client(1), "node", "status", "-o", "raw"},
                    [&] { join.Set(join.round + 1); });
  CHECK(o.out ==
        "3\t0\t0\t3000\t300000\t0\t-\tyes\n"
        "6\t400\t768\t30040\t3145728\t20000\t23.0\tno\n");

  // --sample 0: one round, no rates.
  join.Set(0);
  join.ring.cluster.sleeps.clear();
  o = join.ring.Run({"node", "status", "--sample", "0"});
  CHECK(join.ring.cluster.sleeps.empty());
  CHECK_THAT(o.out, Catch::Contains("6     384/768  10000  1.0 MiB    -     -    no\n"));
  CHECK_THAT(o.out, !Catch::Contains("RATE and ETA over"));

  // Paused, and node 4 down: said so; node 4's progress is unknown.
  join.ring.cluster.nodes.erase(Client(4));
  for (auto& [id, doc] : join.ring.docs) doc.paused = true;
  join.ring.docs[6].streaming_paused = true;
  o = join.ring.Run({"node", "status", "--sample", "0"});
  CHECK_THAT(o.out, Catch::StartsWith("node 6 is joining the ring: ring version 7, 6 members, "
                                      "streaming paused (kvctl node resume continues it)\n"));
  CHECK_THAT(o.out, Catch::EndsWith("node 4 did not answer (127.0.0.1:7494: unavailable: cannot "
                                    "connect to kvd (127.0.0.1:7494: Connection refused)); its "
                                    "progress is unknown\n"));
}

TEST_CASE("kvctl node: status of a settled ring", "[unit][kvctl]") {
  JoinInProgress join;
  join.ring.JoinFinished();
  Output o = join.ring.Run({"node", "status"});
  CHECK(o.exit_code == ExitCode::kOk);
  CHECK(o.out == "no ring change under way (ring version 8, 6 nodes)\n");
  CHECK(join.ring.cluster.sleeps.empty());  // nothing to measure
  // Discovery followed the ring membership to node 6 (not in any configuration file).
  bool asked_six = false;
  for (const auto& [endpoint, request] : join.ring.cluster.requests) {
    asked_six = asked_six || endpoint == Client(6);
  }
  CHECK(asked_six);
  CHECK(join.ring.Run({"node", "status", "-o", "raw"}).out.empty());
  Json j = Json::parse(join.ring.Run({"node", "status", "-o", "json"}).out);
  CHECK(j["under_way"] == false);
  CHECK(j["kind"].is_null());
  CHECK(j["gainers"] == Json::array());
  CHECK(j["ring_version"] == 8);

  // A node that has not heard of the latest version is named.
  join.ring.docs[5].version = 7;
  join.ring.docs[5].transition = 7;
  o = join.ring.Run({"node", "status"});
  CHECK(o.out == "no ring change under way (ring version 8, 6 nodes)\n"
                 "node 5 is at ring version 7 (it has not heard of version 8 yet)\n");
}

// ---- --wait ----

TEST_CASE("kvctl node: join --wait follows the change to its end", "[unit][kvctl]") {
  JoinInProgress join;
  Ring& ring = join.ring;
  // Round 0 (right after the ADMIN): node 6 has 0/768; then 384, then done (streamed, and
  // 0/0 as the server reports it then), then finalized everywhere but on node 5, then on
  // node 5 too.
  auto phase = [&](int p) {
    RingDoc& six = ring.docs[6];
    six.ranges_total = p >= 2 ? 0 : 768;
    six.ranges_done = p == 0 ? 0 : p == 1 ? 384 : 0;
    six.keys_received = p == 0 ? 0 : p == 1 ? 20000 : 40000;
    six.bytes_received = six.keys_received * 100;
    if (p >= 2) {
      for (auto& [id, doc] : ring.docs) doc.streamed = "3,6";
    }
    if (p >= 3) {
      RingDoc five = ring.docs[5];
      ring.JoinFinished();
      if (p == 3) ring.docs[5] = five;
    }
  };
  phase(0);
  ring.admin = [](const wire::Request&) -> Result<wire::Response> {
    return RingAnswer(7, 7, false,
                      {{1, "normal"}, {2, "normal"}, {3, "normal"}, {4, "normal"},
                       {5, "normal"}, {6, "joining"}});
  };
  int sleeps = 0;
  std::vector<std::string> progress;
  const Args args = {"--endpoints", Client(1), "node", "join", "6", "--client", Client(6),
                     "--peer", Peer(6), "--wait"};
  Output o = RunWithPhases(&ring.cluster, args, [&] { phase(++sleeps); }, &progress);
  CHECK(o.exit_code == ExitCode::kOk);
  CHECK(o.err.empty());
  CHECK(progress == std::vector<std::string>{
                        "node 6 is joining the ring (version 7); follow with: kvctl node "
                        "status\n",
                        "[0.0 s] ring version 7: ranges 0/768, 0 keys streamed, 1 of 2 "
                        "gainers done\n",
                        "[1.0 s] ring version 7: ranges 384/768, 20000 keys streamed (19960 "
                        "keys/s), 1 of 2 gainers done, eta 1s\n",
                        "[2.0 s] ring version 7: ranges 768/768, 40000 keys streamed (19960 "
                        "keys/s), 2 of 2 gainers done\n",
                        "[3.0 s] ring version 8: the change is finished; waiting for node 5 "
                        "(at an older version)\n"});
  CHECK(o.out == "node 6 joined the ring: ring version 8, 6 nodes (after 4.0 s)\n");
  CHECK(ring.cluster.sleeps == std::vector<std::chrono::milliseconds>{1s, 1s, 1s, 1s});

  // Without a progress sink, the lines come first in the output; raw and json have none.
  sleeps = 0;
  phase(0);
  for (auto& [id, doc] : ring.docs) {
    doc.version = 7;
    doc.transition = 7;
    doc.members[6] = "joining";
    doc.streamed = "3";
  }
  o = RunWithPhases(&ring.cluster, args, [&] { phase(++sleeps); });
  CHECK_THAT(o.out, Catch::StartsWith("node 6 is joining the ring (version 7); follow with"));
  CHECK_THAT(o.out, Catch::EndsWith("(at an older version)\n"
                                    "node 6 joined the ring: ring version 8, 6 nodes (after "
                                    "4.0 s)\n"));
}

TEST_CASE("kvctl node: --wait gives up at --timeout, or when the change was dropped",
          "[unit][kvctl]") {
  JoinInProgress join;
  Ring& ring = join.ring;
  ring.admin = [](const wire::Request&) -> Result<wire::Response> {
    return RingAnswer(7, 7, false,
                      {{1, "normal"}, {2, "normal"}, {3, "normal"}, {4, "normal"},
                       {5, "normal"}, {6, "joining"}});
  };
  const Args args = {"--endpoints", Client(1), "node",  "join",   "6",      "--client",
                     Client(6),     "--peer",  Peer(6), "--wait", "--timeout", "5s"};
  Output o = RunWithPhases(&ring.cluster, args, [] {});
  CHECK(o.exit_code == ExitCode::kUnreachable);
  CHECK(o.err ==
        "kvctl: timeout: the join of node 6 did not finish within 5000 ms (last seen: ring "
        "version 7: ranges 384/768, 0 keys streamed (0 keys/s), 1 of 2 gainers done); it goes "
        "on in the background: follow it with kvctl node status\n");
  CHECK(ring.cluster.sleeps.size() == 4);  // polls at 0, 1, 2, 3, 4 s

  // Another change recorded at the same time won: node 6 never joined.
  for (auto& [id, doc] : ring.docs) {
    doc.version = 7;
    doc.transition = 0;
    doc.members.erase(6);
  }
  o = RunWithPhases(&ring.cluster, args, [] {});
  CHECK(o.exit_code == ExitCode::kServerFailure);
  CHECK(o.err == "kvctl: the join of node 6 was dropped: another ring change recorded at the "
                 "same time won (ring version 7); see kvctl node status\n");
}

TEST_CASE("kvctl node: JudgeRingChange", "[unit][kvctl]") {
  auto sample = [](std::vector<RingDoc> docs) {
    RingSample s;
    for (const RingDoc& d : docs) {
      Probe p;
      p.endpoint = Client(d.id);
      Result<NodeStatus> status = ParseNodeStatus(d.Json());
      REQUIRE(status.ok());
      p.status = *status;
      s.probes.push_back(p);
    }
    return s;
  };
  RingDoc left;  // node 2 decommissioned at version 9, finalized at 10
  left.version = 10;
  left.members.erase(2);
  RingDoc behind = left;
  behind.id = 3;
  behind.version = 9;
  behind.transition = 9;
  behind.members[2] = "leaving";
  CHECK(JudgeRingChange(sample({left}), 9, 2, false) == RingChangeOutcome::kFinished);
  CHECK(JudgeRingChange(sample({left, behind}), 9, 2, false) == RingChangeOutcome::kUnderWay);
  RingDoc unaware = left;  // has not heard of version 9 at all
  unaware.id = 4;
  unaware.version = 8;
  CHECK(JudgeRingChange(sample({left, unaware}), 9, 2, false) == RingChangeOutcome::kUnderWay);
  RingDoc kept = left;  // the change finished without node 2 leaving: another one won
  kept.members[2] = "normal";
  CHECK(JudgeRingChange(sample({kept}), 9, 2, false) == RingChangeOutcome::kDropped);
  CHECK(JudgeRingChange(sample({}), 9, 2, false) == RingChangeOutcome::kUnderWay);
}

// ---- the ring and cluster status follow the live membership ----

TEST_CASE("kvctl node: ring and cluster status show joined and joining nodes",
          "[unit][kvctl]") {
  Ring ring;
  ring.JoinUnderWay();
  Output o = ring.Run({"ring"});
  CHECK(o.exit_code == ExitCode::kOk);
  CHECK_THAT(o.out, Catch::Contains("\n6   127.0.0.1:7496  -     8 "));
  CHECK_THAT(o.out, Catch::Contains("up, joining\n"));
  CHECK_THAT(o.out, Catch::EndsWith("6 nodes (6 up as node 1 sees it)\n"
                                    "a ring change is under way (ring version 7): the shares "
                                    "are those of the ring it leads to; follow it with kvctl "
                                    "node status\n"));
  Json j = Json::parse(ring.Run({"ring", "-o", "json"}).out);
  REQUIRE(j["nodes"].size() == 6);
  CHECK(j["nodes"][5]["ring_role"] == "joining");
  CHECK(j["nodes"][0]["ring_role"] == "normal");
  CHECK(j["ring_transition"] == 7);
  double replica_sum = 0;
  for (const Json& n : j["nodes"]) replica_sum += n["replica_share"].get<double>();
  CHECK(replica_sum == Approx(3.0).margin(1e-9));

  // A leaving node: in the table, with no share of the ring it leads to.
  ring.JoinFinished();
  for (auto& [id, doc] : ring.docs) {
    doc.version = 9;
    doc.transition = 9;
    doc.members[2] = "leaving";
  }
  j = Json::parse(ring.Run({"ring", "-o", "json"}).out);
  CHECK(j["nodes"][1]["ring_role"] == "leaving");
  CHECK(j["nodes"][1]["replica_share"] == 0.0);
  CHECK_THAT(ring.Run({"ring"}).out, Catch::Contains("0.0%     0.0%     up, leaving\n"));

  // Settled without node 2: gone from the ring and from cluster status, node 6 in both.
  for (auto& [id, doc] : ring.docs) {
    doc.version = 10;
    doc.transition = 0;
    doc.members.erase(2);
  }
  o = ring.Run({"ring"});
  CHECK_THAT(o.out, !Catch::Contains("127.0.0.1:7492"));
  CHECK_THAT(o.out, !Catch::Contains("under way"));
  o = ring.Run({"cluster", "status"});
  CHECK(o.exit_code == ExitCode::kOk);
  CHECK_THAT(o.out, Catch::Contains("\n6   127.0.0.1:7496  up"));
  CHECK_THAT(o.out, !Catch::Contains("127.0.0.1:7492"));
}

}  // namespace
}  // namespace kvd::kvctl
