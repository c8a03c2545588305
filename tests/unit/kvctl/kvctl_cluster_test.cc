// kvctl cluster command unit tests: cluster status, promote, transfer-leader, switchover,
// member add/promote/remove/list and snapshot, without a server.
//
// Goal: pin down what an operator and a script see: which command lines are accepted and
// what they mean (including each command's --timeout default), the help of every command,
// how STATUS documents become the cluster table (roles, lag, the acknowledged writes at
// risk), the json and raw forms, which node each ADMIN request is sent to, how kvctl
// waits for the cluster to change, and the exit code of every failure. Method: the parsing
// and view code is pure, so it is called directly on argument vectors and hand-written
// STATUS documents; the commands run through RunClusterCommand against FakeCluster
// (kvctl_cluster_fake.h), a scripted set of nodes keyed by address with a fake clock (no
// sockets, no sleeping). The dynamo commands are in kvctl_dynamo_test.cc.
// A failure means an operator-visible behaviour changed: a script relying on an output or
// exit code would break, or kvctl would send an administrative request to the wrong node
// or stop waiting at the wrong moment.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
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
#include "client/kvctl/run.h"
#include "tests/unit/kvctl/kvctl_cluster_fake.h"

namespace kvd::kvctl {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

// ---- helpers ----

const std::vector<ConfiguredMember> kThreeMembers = {
    {1, "127.0.0.1:7401", "127.0.0.1:7501", "127.0.0.1:7601", ""},
    {2, "127.0.0.1:7402", "127.0.0.1:7502", "127.0.0.1:7602", ""},
    {3, "127.0.0.1:7403", "127.0.0.1:7503", "127.0.0.1:7603", ""}};

// The parts of a leader_follower STATUS document the tests vary.
struct Doc {
  uint64_t id = 2;
  std::string role = "follower";
  uint64_t term = 5;
  uint64_t leader_id = 1;
  uint64_t commit = 120;
  uint64_t applied = 120;
  uint64_t last = 122;
  uint64_t ms_since_leader_contact = 40;
  std::string replication = "quorum";
  std::string failover = "auto";
  std::string membership = "voters=[1,2,3] learners=[]";
  std::string leader_address = "127.0.0.1:7401";
  std::vector<PeerProgress> peers;
  std::vector<ConfiguredMember> configured = kThreeMembers;

  // As the server writes it (nlohmann::json sorts the keys; kvctl must not care).
  std::string Json() const {
    nlohmann::json raft = {{"term", term},
                           {"leader_id", leader_id},
                           {"commit_index", commit},
                           {"applied_index", applied},
                           {"last_index", last},
                           {"first_index", 1},
                           {"persisted_index", last},
                           {"snapshot_index", 0},
                           {"ms_since_leader_contact", ms_since_leader_contact},
                           {"elections_started", 1},
                           {"pending_writes", 0},
                           {"pending_reads", 0},
                           {"diverged", 0},
                           {"replication", replication},
                           {"failover", failover},
                           {"membership", membership},
                           {"leader_address", leader_address},
                           {"snapshots_sent", 0},
                           {"snapshots_installed", 0},
                           {"last_snapshot_bytes", 0},
                           {"duplicate_writes", 0},
                           {"failed", false}};
    nlohmann::json peer_list = nlohmann::json::array();
    for (const PeerProgress& p : peers) {
      peer_list.push_back({{"id", p.id},
                           {"role", p.voter ? "voter" : "learner"},
                           {"match_index", p.match_index},
                           {"next_index", p.next_index},
                           {"state", p.state},
                           {"ms_since_contact", p.ms_since_contact},
                           {"lag_entries", p.lag_entries}});
    }
    raft["peers"] = peer_list;
    nlohmann::json members = nlohmann::json::array();
    for (const ConfiguredMember& m : configured) {
      members.push_back({{"id", m.id}, {"client", m.client}, {"peer", m.peer}, {"admin", m.admin}});
    }
    raft["configured_members"] = members;
    nlohmann::json j = {{"node_id", id}, {"mode", "leader_follower"},
                        {"role", role},  {"version", "0.1.0"},
                        {"keys", 7},     {"raft", raft}};
    return j.dump();
  }
};

PeerProgress Peer(uint64_t id, uint64_t match, uint64_t last, uint64_t ms, bool voter = true) {
  return PeerProgress{id, voter, match, match + 1, "replicate", ms, last - match};
}

// A healthy cluster in term 5: node 1 leads; node 3 is 22 entries behind.
Doc LeaderDoc() {
  Doc d;
  d.id = 1;
  d.role = "leader";
  d.ms_since_leader_contact = 0;
  d.peers = {Peer(2, 122, 122, 30), Peer(3, 100, 122, 250)};
  return d;
}
Doc FollowerDoc(uint64_t id) {
  Doc d;
  d.id = id;
  if (id == 3) {
    d.commit = 100;
    d.applied = 100;
    d.last = 100;
    d.ms_since_leader_contact = 260;
  } else {
    d.applied = 119;
  }
  return d;
}

Probe Answered(std::string endpoint, uint64_t expected_id, const Doc& doc) {
  Probe probe;
  probe.endpoint = std::move(endpoint);
  probe.expected_id = expected_id;
  Result<NodeStatus> status = ParseNodeStatus(doc.Json());
  REQUIRE(status.ok());
  probe.status = std::move(status).value();
  return probe;
}

std::vector<Probe> HealthyProbes() {
  return {Answered("127.0.0.1:7401", 0, LeaderDoc()), Answered("127.0.0.1:7402", 2, FollowerDoc(2)),
          Answered("127.0.0.1:7403", 3, FollowerDoc(3))};
}

wire::Response StatusAnswer(const Doc& doc) { return Ok(wire::StatusResponse{doc.Json()}); }
wire::Response AdminAnswer(std::string json) { return Ok(wire::AdminResponse{std::move(json)}); }

// A healthy three-node cluster whose documents the test may change.
struct Healthy {
  Doc leader = LeaderDoc();
  Doc two = FollowerDoc(2);
  Doc three = FollowerDoc(3);
  FakeCluster cluster;
  Healthy() {
    cluster.Add("127.0.0.1:7401", &leader);
    cluster.Add("127.0.0.1:7402", &two);
    cluster.Add("127.0.0.1:7403", &three);
  }
};

// ---- parsing ----

TEST_CASE("kvctl cluster: parses the cluster commands", "[unit][kvctl]") {
  MustParseAction<ClusterStatusCommand>({"cluster", "status"});
  MustParseAction<MemberListCommand>({"member", "list"});
  CHECK(MustParseAction<PromoteCommand>({"promote", "3"}).node_id == 3);
  CHECK(MustParseAction<TransferLeaderCommand>({"transfer-leader"}) == TransferLeaderCommand{});
  CHECK(MustParseAction<TransferLeaderCommand>({"transfer-leader", "2"}) ==
        TransferLeaderCommand{2, false});
  CHECK(MustParseAction<TransferLeaderCommand>({"switchover"}) == TransferLeaderCommand{0, true});
  CHECK(MustParseAction<TransferLeaderCommand>({"switchover", "--to", "3"}) ==
        TransferLeaderCommand{3, true});
  CHECK(MustParseAction<MemberAddCommand>(
            {"member", "add", "4", "--client", "10.0.0.4:7379", "--peer", "10.0.0.4:7380"}) ==
        MemberAddCommand{4, "10.0.0.4:7379", "10.0.0.4:7380"});
  CHECK(MustParseAction<MemberAddCommand>(
            {"member", "add", "--peer=[::1]:7380", "4", "--client", "[::1]:7379"}) ==
        MemberAddCommand{4, "[::1]:7379", "[::1]:7380"});
  CHECK(MustParseAction<MemberPromoteCommand>({"member", "promote", "4"}).node_id == 4);
  CHECK(MustParseAction<MemberRemoveCommand>({"member", "remove", "4"}).node_id == 4);
  CHECK(MustParseAction<SnapshotCommand>({"snapshot"}).node_id == 0);
  CHECK(MustParseAction<SnapshotCommand>({"snapshot", "2"}).node_id == 2);
  CHECK(MustParseAction<PromoteCommand>({"promote", "9223372036854775807"}).node_id == kMaxNodeId);

  // Global options before, between and after, as for the data commands.
  Invocation inv = MustParse({"--endpoints", "h:1,h:2", "member", "remove", "3", "-o", "json"});
  CHECK(inv.global.endpoints == std::vector<std::string>{"h:1", "h:2"});
  CHECK(inv.global.output == OutputFormat::kJson);
}

TEST_CASE("kvctl cluster: commands that wait default to a longer --timeout", "[unit][kvctl]") {
  for (const Args& args : {Args{"promote", "2"}, Args{"transfer-leader"}, Args{"switchover"},
                           Args{"member", "add", "4", "--client", "h:1", "--peer", "h:2"},
                           Args{"member", "promote", "4"}, Args{"member", "remove", "4"}}) {
    INFO(fmt::format("{}", fmt::join(args, " ")));
    CHECK(MustParse(args).global.timeout == kDefaultAdminTimeout);
    Args with_timeout = args;
    with_timeout.insert(with_timeout.end(), {"--timeout", "30s"});
    CHECK(MustParse(with_timeout).global.timeout == 30s);
  }
  for (const Args& args : {Args{"cluster", "status"}, Args{"member", "list"}, Args{"snapshot"}}) {
    CHECK(MustParse(args).global.timeout == kDefaultTimeout);
  }
  CHECK(kDefaultAdminTimeout == 10s);
}

TEST_CASE("kvctl cluster: usage errors name the problem", "[unit][kvctl]") {
  struct Case {
    Args args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"member"},
       "member: missing subcommand: add, promote, remove, list (run 'kvctl member --help')"},
      {{"cluster"}, "cluster: missing subcommand: status (run 'kvctl cluster --help')"},
      {{"member", "-o", "json", "list"},
       "member: missing subcommand: add, promote, remove, list (run 'kvctl member --help')"},
      {{"member", "ad", "4"},
       "unknown command \"member ad\" (did you mean \"member add\"? run 'kvctl member --help' "
       "for the list)"},
      {{"member", "frobnicate"},
       "unknown command \"member frobnicate\" (member subcommands: add, promote, remove, list)"},
      {{"clustr", "status"},
       "unknown command \"clustr\" (did you mean \"cluster\"? run 'kvctl --help' for the list)"},
      {{"promte", "2"},
       "unknown command \"promte\" (did you mean \"promote\"? run 'kvctl --help' for the list)"},
      {{"member add", "4"},
       "unknown command \"member add\" (did you mean \"member\"? run 'kvctl --help' for the "
       "list)"},
      {{"cluster", "status", "x"},
       "cluster status: unexpected argument \"x\" (usage: kvctl cluster status)"},
      {{"promote"}, "promote: missing arguments (usage: kvctl promote NODE_ID)"},
      {{"promote", "0"}, "promote: NODE_ID must be at least 1"},
      {{"promote", "-1"},
       "promote: unknown option \"-1\" (put \"--\" before arguments that "
       "start with '-')"},
      {{"promote", "two"}, "promote: NODE_ID must be a non-negative integer (got \"two\")"},
      {{"promote", "9223372036854775808"},
       "promote: NODE_ID must be at most 9223372036854775807 (got \"9223372036854775808\")"},
      {{"promote", "1", "2"}, "promote: unexpected argument \"2\" (usage: kvctl promote NODE_ID)"},
      {{"transfer-leader", "1", "2"},
       "transfer-leader: unexpected argument \"2\" (usage: kvctl transfer-leader [NODE_ID])"},
      {{"switchover", "2"},
       "switchover: unexpected argument \"2\" (usage: kvctl switchover [--to NODE_ID])"},
      {{"switchover", "--to", "0"}, "switchover: --to must be at least 1"},
      {{"switchover", "--too", "2"}, "switchover: unknown option \"--too\" (did you mean --to?)"},
      {{"member", "add", "4", "--client", "h:1"},
       "member add: needs --client HOST:PORT and --peer HOST:PORT (missing --peer)"},
      {{"member", "add", "4", "--peer", "h:1"},
       "member add: needs --client HOST:PORT and --peer HOST:PORT (missing --client)"},
      {{"member", "add", "--client", "h:1", "--peer", "h:2"},
       "member add: missing arguments (usage: kvctl member add NODE_ID --client HOST:PORT "
       "--peer HOST:PORT)"},
      {{"member", "add", "4", "--client", "nohost", "--peer", "h:2"},
       "member add: --client: endpoint \"nohost\" must be host:port (e.g. 127.0.0.1:7379)"},
      {{"member", "add", "4", "--client", "h:0", "--peer", "h:2"},
       "member add: --client: endpoint \"h:0\" has an invalid port (expected 1..65535)"},
      {{"member", "add", "4", "--client", "h:1", "--peer", "h:1"},
       "member add: --client and --peer must be different addresses"},
      {{"member", "add", "4", "--client", std::string(300, 'h') + ":1", "--peer", "h:2"},
       "member add: --client is longer than 256 bytes"},
      {{"member", "promote"},
       "member promote: missing arguments (usage: kvctl member promote NODE_ID)"},
      {{"member", "remove", "0"}, "member remove: NODE_ID must be at least 1"},
      {{"member", "list", "1"},
       "member list: unexpected argument \"1\" (usage: kvctl member list)"},
      {{"snapshot", "a"}, "snapshot: NODE_ID must be a non-negative integer (got \"a\")"},
      {{"help", "member", "add", "x"},
       "help: unexpected argument \"x\" (usage: kvctl help [COMMAND])"},
      {{"help", "member", "ad"},
       "unknown command \"member ad\" (did you mean \"member add\"? run 'kvctl member --help' "
       "for the list)"},
  };
  for (const Case& c : cases) {
    INFO(fmt::format("{}", fmt::join(c.args, " ")));
    CHECK(ParseError(c.args) == c.message);
  }
}

// ---- help ----

TEST_CASE("kvctl cluster: help of every cluster command and group", "[unit][kvctl]") {
  std::string general = GeneralHelp();
  CHECK_THAT(general, Catch::Contains("Cluster commands (leader_follower"));
  for (const char* name :
       {"cluster status", "promote", "transfer-leader", "switchover", "member add",
        "member promote", "member remove", "member list", "snapshot"}) {
    INFO(name);
    REQUIRE(IsCommand(name));
    CHECK_THAT(general, Catch::Contains(fmt::format("  {} ", name)));
    std::string help = CommandHelp(name);
    CHECK_THAT(help, Catch::StartsWith(fmt::format("Usage: kvctl [global options] {}", name)));
    CHECK_THAT(help, Catch::Contains("Output: table"));
    CHECK_THAT(help, Catch::Contains("raw"));
    CHECK_THAT(help, Catch::Contains("json"));
    CHECK_THAT(help, Catch::Contains(fmt::format("Examples:\n  kvctl ")));
  }
  // The at-risk number and what it means.
  std::string status = CommandHelp("cluster status");
  for (const char* text :
       {"acknowledged writes at risk if the leader failed now: N entries",
        "commit index minus the highest index any other voter", "In quorum and sync replication",
        "LAST CONTACT", "unreachable", "exit 6"}) {
    CHECK_THAT(status, Catch::Contains(text));
  }
  // multi_leader: what each column means and what converged means.
  for (const char* text :
       {"Works for leader_follower, multi_leader and dynamo clusters",
        "multi_leader cluster, propagation P", "PROGRESS", "SIBLING CAP", "SINCE ACK (S)",
        "\"replicating: progress differs\"", "\"converged\":true",
        "The other cluster commands need a leader_follower cluster;"}) {
    CHECK_THAT(status, Catch::Contains(text));
  }
  CHECK_THAT(general, Catch::Contains("cluster status also multi_leader"));
  CHECK_THAT(GroupHelp("cluster"), Catch::Contains("multi_leader progress"));
  // Manual failover and fencing.
  std::string promote = CommandHelp("promote");
  for (const char* text :
       {"raft.failover: manual", "fences the old leader", "every 100 ms", "default here: 10s"}) {
    CHECK_THAT(promote, Catch::Contains(text));
  }
  std::string switchover = CommandHelp("switchover");
  for (const char* text :
       {"stops accepting writes", "retry by themselves", "write is lost, even in async replication",
        "how long writes were\npaused", "--to NODE_ID"}) {
    CHECK_THAT(switchover, Catch::Contains(text));
  }
  // The procedure to grow a cluster.
  std::string add = CommandHelp("member add");
  for (const char* text : {"cluster.join: true", "its own entry", "kvctl member add 4",
                           "kvctl cluster status shows node 4 caught up", "kvctl member promote 4",
                           "--client HOST:PORT", "--peer HOST:PORT"}) {
    CHECK_THAT(add, Catch::Contains(text));
  }
  CHECK_THAT(CommandHelp("member promote"), Catch::Contains("learner has not caught up"));
  CHECK_THAT(CommandHelp("snapshot"), Catch::Contains("snapshot index"));

  // Groups: `kvctl member --help`, `kvctl help member`, and a subcommand's help.
  std::string group = GroupHelp("member");
  CHECK_THAT(group, Catch::StartsWith("Usage: kvctl [global options] member SUBCOMMAND"));
  for (const char* sub : {"  add ", "  promote ", "  remove ", "  list "}) {
    CHECK_THAT(group, Catch::Contains(sub));
  }
  CHECK(std::get<HelpCommand>(MustParse({"member", "--help"}).command).text == group);
  CHECK(std::get<HelpCommand>(MustParse({"member", "-h"}).command).text == group);
  CHECK(std::get<HelpCommand>(MustParse({"help", "member"}).command).text == group);
  CHECK(std::get<HelpCommand>(MustParse({"help", "cluster"}).command).text == GroupHelp("cluster"));
  CHECK(std::get<HelpCommand>(MustParse({"member", "add", "-h"}).command).text == add);
  CHECK(std::get<HelpCommand>(MustParse({"-o", "json", "switchover", "--help"}).command).text ==
        switchover);
}

TEST_CASE("kvctl cluster: help and usage errors through Main", "[unit][kvctl]") {
  std::istringstream in;
  std::ostringstream out;
  std::ostringstream err;
  CHECK(Main({"member", "add", "--help"}, Environment{}, in, out, err) == 0);
  CHECK(out.str() == CommandHelp("member add"));
  CHECK(err.str().empty());
  std::ostringstream out2;
  std::ostringstream err2;
  CHECK(Main({"promote"}, Environment{}, in, out2, err2) == 2);
  CHECK(out2.str().empty());
  CHECK(err2.str() == "kvctl: promote: missing arguments (usage: kvctl promote NODE_ID)\n");
}

// ---- the status document ----

TEST_CASE("kvctl cluster: membership strings", "[unit][kvctl]") {
  Result<Membership> m = ParseMembership("voters=[1,2,3] learners=[4]");
  REQUIRE(m.ok());
  CHECK(m->voters == std::vector<uint64_t>{1, 2, 3});
  CHECK(m->learners == std::vector<uint64_t>{4});
  CHECK(m->IsVoter(2));
  CHECK(m->IsLearner(4));
  CHECK_FALSE(m->Contains(5));
  m = ParseMembership("voters=[3,1] learners=[]");
  REQUIRE(m.ok());
  CHECK(m->voters == std::vector<uint64_t>{1, 3});
  CHECK(m->learners.empty());
  m = ParseMembership("voters=[7]");  // an older form without learners
  REQUIRE(m.ok());
  CHECK(m->voters == std::vector<uint64_t>{7});
  for (const char* bad :
       {"", "learners=[1]", "voters=[1,x]", "voters=[1,,2]", "voters=[0]", "voters=[1,2"}) {
    INFO(bad);
    Result<Membership> r = ParseMembership(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kProtocolError);
  }
}

TEST_CASE("kvctl cluster: reads a real STATUS document", "[unit][kvctl]") {
  // As a leader of the 3-node config/leader-follower-3.yaml cluster sent it.
  const std::string document =
      R"({"connections":1,"data_dir":"./n1","durability":"always","durable_revision":0,)"
      R"("engine":"leveldb","groups_in_flight":0,"keys":0,"mode":"leader_follower","node_id":1,)"
      R"("raft":{"applied_index":19,"commit_index":19,"configured_members":[{"admin":)"
      R"("127.0.0.1:7601","client":"127.0.0.1:7401","id":1,"peer":"127.0.0.1:7501"},{"admin":)"
      R"("127.0.0.1:7602","client":"127.0.0.1:7402","id":2,"peer":"127.0.0.1:7502"},{"admin":)"
      R"("127.0.0.1:7603","client":"127.0.0.1:7403","id":3,"peer":"127.0.0.1:7503"}],)"
      R"("dedup_clients":0,"diverged":0,"duplicate_writes":0,"elections_started":1,)"
      R"("failed":false,"failover":"auto","first_index":1,"last_index":19,)"
      R"("last_snapshot_bytes":0,"leader_address":"127.0.0.1:7401","leader_id":1,)"
      R"("malformed_peer_messages":0,"membership":"voters=[1,2,3] learners=[]",)"
      R"("ms_since_leader_contact":0,"peers":[{"id":2,"lag_entries":0,"match_index":19,)"
      R"("ms_since_contact":30,"next_index":20,"role":"voter","state":"replicate"},{"id":3,)"
      R"("lag_entries":0,"match_index":19,"ms_since_contact":30,"next_index":20,"role":)"
      R"("voter","state":"replicate"}],"pending_reads":0,"pending_writes":0,)"
      R"("persisted_index":19,"replication":"quorum","snapshot_index":0,)"
      R"("snapshots_installed":0,"snapshots_sent":0,"term":1,"undecodable_commands":0},)"
      R"("revision":0,"role":"leader","uptime_seconds":3,"version":"0.1.0"})";
  Result<NodeStatus> s = ParseNodeStatus(document);
  REQUIRE(s.ok());
  CHECK(s->replicated());
  CHECK(s->node_id == 1);
  CHECK(s->role == "leader");
  CHECK(s->term == 1);
  CHECK(s->leader_id == 1);
  CHECK(s->commit_index == 19);
  CHECK(s->applied_index == 19);
  CHECK(s->last_index == 19);
  CHECK(s->replication == "quorum");
  CHECK(s->failover == "auto");
  CHECK(s->leader_address == "127.0.0.1:7401");
  CHECK(s->membership.voters == std::vector<uint64_t>{1, 2, 3});
  REQUIRE(s->peers.size() == 2);
  CHECK(s->peers[1] == PeerProgress{3, true, 19, 20, "replicate", 30, 0});
  CHECK(s->configured_members == kThreeMembers);
}

TEST_CASE("kvctl cluster: status documents that are not usable", "[unit][kvctl]") {
  // A single node: no raft object, and that is fine.
  Result<NodeStatus> single =
      ParseNodeStatus(R"({"node_id":1,"mode":"single","role":"standalone"})");
  REQUIRE(single.ok());
  CHECK_FALSE(single->replicated());
  // Mistyped or missing numbers read as 0.
  Result<NodeStatus> odd = ParseNodeStatus(
      R"({"node_id":2,"mode":"leader_follower","role":"follower","raft":{"term":"5",)"
      R"("commit_index":-1,"membership":"voters=[1,2]","peers":"none","configured_members":[1]}})");
  REQUIRE(odd.ok());
  CHECK(odd->term == 0);
  CHECK(odd->commit_index == 0);
  CHECK(odd->peers.empty());
  CHECK(odd->configured_members.empty());
  struct Case {
    std::string document;
    std::string message;
  };
  for (const Case& c :
       std::vector<Case>{{"{not json", "the status document is not a JSON object"},
                         {"[1,2]", "the status document is not a JSON object"},
                         {R"({"node_id":1})", "the status document has no \"mode\""},
                         {R"({"mode":"single"})", "the status document has no node_id"},
                         {R"({"node_id":1,"mode":"leader_follower"})",
                          "the status document of a leader_follower node has no raft"},
                         {R"({"node_id":1,"mode":"leader_follower","raft":{"membership":"v=[1]"}})",
                          "membership \"v=[1]\" has no voters list"}}) {
    INFO(c.document);
    Result<NodeStatus> r = ParseNodeStatus(c.document);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kProtocolError);
    CHECK(r.status().message() == c.message);
  }
}

// ---- discovery ----

TEST_CASE("kvctl cluster: discovery asks the members the answers name", "[unit][kvctl]") {
  // A follower answered at --endpoints: ask every other member, or just the leader.
  std::vector<Probe> probes = {Answered("127.0.0.1:7402", 0, FollowerDoc(2))};
  CHECK(NextProbes(probes, true) ==
        std::vector<ProbeTarget>{{1, "127.0.0.1:7401"}, {3, "127.0.0.1:7403"}});
  CHECK(NextProbes(probes, false) == std::vector<ProbeTarget>{{1, "127.0.0.1:7401"}});
  // Nobody is asked twice, whatever the outcome; the leader answered: nothing more needed.
  probes.push_back(Answered("127.0.0.1:7401", 1, LeaderDoc()));
  probes.push_back(Unreachable("127.0.0.1:7403", 3));
  CHECK(NextProbes(probes, true).empty());
  CHECK(NextProbes(probes, false).empty());

  // A learner added at run time is in no configuration file: known only where it answered.
  Doc leader = LeaderDoc();
  leader.membership = "voters=[1,2,3] learners=[4]";
  probes = {Answered("127.0.0.1:7401", 0, leader)};
  CHECK(NextProbes(probes, true) ==
        std::vector<ProbeTarget>{{2, "127.0.0.1:7402"}, {3, "127.0.0.1:7403"}});
  Doc learner = FollowerDoc(4);
  learner.role = "learner";
  learner.configured = {{4, "127.0.0.1:7404", "127.0.0.1:7504", "", ""}};
  probes.push_back(Answered("127.0.0.1:7404", 0, learner));
  CHECK(NextProbes(probes, true) ==
        std::vector<ProbeTarget>{{2, "127.0.0.1:7402"}, {3, "127.0.0.1:7403"}});

  // The leader's own report of its address is used when no configuration lists it.
  Doc follower = FollowerDoc(2);
  follower.leader_id = 7;
  follower.leader_address = "10.0.0.7:7379";
  follower.membership = "voters=[2,7] learners=[]";
  follower.configured = {};
  CHECK(NextProbes({Answered("10.0.0.2:7379", 0, follower)}, false) ==
        std::vector<ProbeTarget>{{7, "10.0.0.7:7379"}});
  // During an election (no leader known) there is no leader to look for.
  follower.leader_id = 0;
  CHECK(NextProbes({Answered("10.0.0.2:7379", 0, follower)}, false).empty());
}

// ---- the cluster view ----

TEST_CASE("kvctl cluster: the cluster table", "[unit][kvctl]") {
  ClusterView view = BuildClusterView(HealthyProbes());
  CHECK(view.leader_id == 1);
  CHECK(view.term == 5);
  CHECK(view.view_from == 1);
  REQUIRE(view.nodes.size() == 3);
  CHECK(view.nodes[2].progress->lag_entries == 22);
  CHECK(view.at_risk_entries == 0u);  // node 2 holds everything committed
  CHECK(FormatClusterStatus(view, OutputFormat::kTable).out ==
        "ID  CLIENT          ROLE      TERM  COMMIT  APPLIED  LAG                 LAST CONTACT\n"
        "1   127.0.0.1:7401  leader    5     120     120      -                   -\n"
        "2   127.0.0.1:7402  follower  5     120     119      0 entries, 30 ms    40 ms ago\n"
        "3   127.0.0.1:7403  follower  5     100     100      22 entries, 250 ms  260 ms ago\n"
        "\n"
        "leader: node 1 (term 5, 127.0.0.1:7401)\n"
        "replication: quorum, failover: auto\n"
        "membership: voters=[1,2,3] learners=[]\n");
  CHECK(FormatClusterStatus(view, OutputFormat::kRaw).out ==
        "1\t127.0.0.1:7401\tleader\t5\t120\t120\t0\t-\n"
        "2\t127.0.0.1:7402\tfollower\t5\t120\t119\t0\t30\n"
        "3\t127.0.0.1:7403\tfollower\t5\t100\t100\t22\t250\n");
}

TEST_CASE("kvctl cluster: acknowledged writes at risk", "[unit][kvctl]") {
  // The leader's commit index minus the best other voter's match index; learners hold no
  // vote, so what only they hold is still lost with the leader.
  struct Case {
    std::string replication;
    uint64_t commit;
    std::vector<PeerProgress> peers;
    std::optional<uint64_t> at_risk;
    std::string line;  // "" when the table has no at-risk line
  };
  const std::string prefix = "acknowledged writes at risk if the leader failed now: ";
  const std::vector<Case> cases = {
      {"async", 500, {Peer(2, 380, 500, 5), Peer(3, 420, 500, 5)}, 80, "80 entries"},
      {"async", 500, {Peer(2, 380, 500, 5), Peer(3, 490, 500, 5, false)}, 120, "120 entries"},
      {"semi_sync", 500, {Peer(2, 500, 510, 5), Peer(3, 100, 510, 5)}, 0, "0 entries"},
      {"async", 500, {Peer(2, 510, 510, 5)}, 0, "0 entries"},  // ahead of the commit index
      {"async", 500, {}, std::nullopt, "all of them (there is no other voter)"},
      {"quorum", 500, {Peer(2, 500, 500, 5)}, 0, ""},
      {"sync", 500, {Peer(2, 500, 500, 5)}, 0, ""},
  };
  for (const Case& c : cases) {
    Doc leader = LeaderDoc();
    leader.replication = c.replication;
    leader.commit = c.commit;
    leader.applied = c.commit;
    leader.last = 510;
    leader.peers = c.peers;
    if (c.peers.empty()) leader.membership = "voters=[1] learners=[]";
    INFO(c.replication << " " << c.commit);
    ClusterView view = BuildClusterView({Answered("127.0.0.1:7401", 0, leader)});
    CHECK(view.at_risk_entries == c.at_risk);
    std::string table = FormatClusterStatus(view, OutputFormat::kTable).out;
    if (c.line.empty()) {
      CHECK_THAT(table, !Catch::Contains("at risk"));
    } else {
      CHECK_THAT(table, Catch::Contains(prefix + c.line + "\n"));
    }
    Json j = Json::parse(FormatClusterStatus(view, OutputFormat::kJson).out);
    if (c.at_risk) {
      CHECK(j["acknowledged_writes_at_risk"] == *c.at_risk);
    } else {
      CHECK(j["acknowledged_writes_at_risk"].is_null());
    }
  }
}

TEST_CASE("kvctl cluster: nodes that do not answer and addresses kvctl does not know",
          "[unit][kvctl]") {
  Doc leader = LeaderDoc();
  leader.replication = "async";
  leader.membership = "voters=[1,2,3] learners=[4]";
  leader.peers.push_back(Peer(4, 90, 122, 70, false));
  std::vector<Probe> probes = {
      Unreachable("127.0.0.1:7409", 0), Answered("127.0.0.1:7401", 0, leader),
      Answered("127.0.0.1:7402", 2, FollowerDoc(2)), Unreachable("127.0.0.1:7403", 3)};
  ClusterView view = BuildClusterView(probes);
  CHECK(FormatClusterStatus(view, OutputFormat::kTable).out ==
        "ID  CLIENT          ROLE         TERM  COMMIT  APPLIED  LAG                 LAST "
        "CONTACT\n"
        "1   127.0.0.1:7401  leader       5     120     120      -                   -\n"
        "2   127.0.0.1:7402  follower     5     120     119      0 entries, 30 ms    40 ms ago\n"
        "3   127.0.0.1:7403  unreachable  -     -       -        22 entries, 250 ms  -\n"
        "4   ?               unknown      -     -       -        32 entries, 70 ms   -\n"
        "\n"
        "leader: node 1 (term 5, 127.0.0.1:7401)\n"
        "replication: async, failover: auto\n"
        "membership: voters=[1,2,3] learners=[4]\n"
        "acknowledged writes at risk if the leader failed now: 0 entries\n"
        "node 3: 127.0.0.1:7403: unavailable: cannot connect to kvd (127.0.0.1:7403: Connection "
        "refused)\n"
        "node 4: client address unknown (it is in no node's configured_members): add it to "
        "--endpoints\n"
        "127.0.0.1:7409 did not answer: unavailable: cannot connect to kvd (127.0.0.1:7409: "
        "Connection refused)\n");
  CHECK(FormatClusterStatus(view, OutputFormat::kRaw).out ==
        "1\t127.0.0.1:7401\tleader\t5\t120\t120\t0\t-\n"
        "2\t127.0.0.1:7402\tfollower\t5\t120\t119\t0\t30\n"
        "3\t127.0.0.1:7403\tunreachable\t-\t-\t-\t22\t250\n"
        "4\t-\tunknown\t-\t-\t-\t32\t70\n");

  // The leader is down: its followers still answer, the lag and the at-risk are unknown.
  probes = {Unreachable("127.0.0.1:7401", 0), Answered("127.0.0.1:7402", 0, FollowerDoc(2)),
            Answered("127.0.0.1:7403", 3, FollowerDoc(3))};
  view = BuildClusterView(probes);
  CHECK(view.leader_id == 1);
  CHECK(view.leader() == nullptr);
  CHECK(view.view_from == 2);  // the higher commit index
  std::string table = FormatClusterStatus(view, OutputFormat::kTable).out;
  CHECK_THAT(table, Catch::Contains("1   127.0.0.1:7401  unreachable  -     -       -        ?"));
  CHECK_THAT(table, Catch::Contains("leader: node 1 (127.0.0.1:7401; it did not answer)\n"));
  CHECK_THAT(table, Catch::Contains("127.0.0.1:7401 did not answer: unavailable: "));

  // A node that answers at a member's address as another node.
  probes = {Answered("127.0.0.1:7401", 0, LeaderDoc()),
            Answered("127.0.0.1:7402", 2, FollowerDoc(3))};
  view = BuildClusterView(probes);
  CHECK(view.Find(2)->error == "127.0.0.1:7402 answered as node 3, not 2");
  CHECK(view.Find(3)->status.has_value());
}

TEST_CASE("kvctl cluster: cluster status as json", "[unit][kvctl]") {
  std::vector<Probe> probes = HealthyProbes();
  probes[2] = Unreachable("127.0.0.1:7403", 3);
  Json j = Json::parse(FormatClusterStatus(BuildClusterView(probes), OutputFormat::kJson).out);
  CHECK(j["leader_id"] == 1);
  CHECK(j["leader_answered"] == true);
  CHECK(j["term"] == 5);
  CHECK(j["replication"] == "quorum");
  CHECK(j["failover"] == "auto");
  CHECK(j["membership"] == "voters=[1,2,3] learners=[]");
  CHECK(j["voters"] == Json::array({1, 2, 3}));
  CHECK(j["learners"] == Json::array());
  CHECK(j["acknowledged_writes_at_risk"] == 0);
  CHECK(j["notes"] == Json::array());
  REQUIRE(j["nodes"].size() == 3);
  CHECK(j["nodes"][0] == Json::parse(R"({"id":1,"client":"127.0.0.1:7401",
      "peer":"127.0.0.1:7501","member":"voter","reachable":true,"role":"leader","term":5,
      "leader_id":1,"commit_index":120,"applied_index":120,"last_index":122,"snapshot_index":0,
      "ms_since_leader_contact":0,"lag_entries":0,"ms_since_leader_heard":null})"));
  CHECK(j["nodes"][1] == Json::parse(R"({"id":2,"client":"127.0.0.1:7402",
      "peer":"127.0.0.1:7502","member":"voter","reachable":true,"role":"follower","term":5,
      "leader_id":1,"commit_index":120,"applied_index":119,"last_index":122,"snapshot_index":0,
      "ms_since_leader_contact":40,"lag_entries":0,"match_index":122,
      "replication_state":"replicate","ms_since_leader_heard":30})"));
  Json unreachable = Json::parse(R"({"id":3,"client":"127.0.0.1:7403",
      "peer":"127.0.0.1:7503","member":"voter","reachable":false,"role":"unreachable",
      "lag_entries":22,"match_index":100,"replication_state":"replicate",
      "ms_since_leader_heard":250})");
  unreachable["error"] =
      "127.0.0.1:7403: unavailable: cannot connect to kvd (127.0.0.1:7403: Connection refused)";
  CHECK(j["nodes"][2] == unreachable);
  // One line.
  std::string out = FormatClusterStatus(BuildClusterView(probes), OutputFormat::kJson).out;
  CHECK(std::count(out.begin(), out.end(), '\n') == 1);
}

TEST_CASE("kvctl cluster: member list", "[unit][kvctl]") {
  Doc leader = LeaderDoc();
  leader.membership = "voters=[1,2,3] learners=[4]";
  Doc learner = FollowerDoc(4);
  learner.role = "learner";
  learner.configured = {};
  std::vector<Probe> probes = {Answered("127.0.0.1:7401", 0, leader),
                               Answered("127.0.0.1:7404", 0, learner)};
  ClusterView view = BuildClusterView(probes);
  CHECK(FormatMemberList(view, OutputFormat::kTable).out ==
        "ID  ROLE            CLIENT          PEER\n"
        "1   voter (leader)  127.0.0.1:7401  127.0.0.1:7501\n"
        "2   voter           127.0.0.1:7402  127.0.0.1:7502\n"
        "3   voter           127.0.0.1:7403  127.0.0.1:7503\n"
        "4   learner         127.0.0.1:7404  ?\n"
        "membership: voters=[1,2,3] learners=[4] (from the leader, node 1)\n");
  CHECK(FormatMemberList(view, OutputFormat::kRaw).out ==
        "1\tvoter\t127.0.0.1:7401\t127.0.0.1:7501\n"
        "2\tvoter\t127.0.0.1:7402\t127.0.0.1:7502\n"
        "3\tvoter\t127.0.0.1:7403\t127.0.0.1:7503\n"
        "4\tlearner\t127.0.0.1:7404\t-\n");
  CHECK(
      FormatMemberList(view, OutputFormat::kJson).out ==
      R"({"leader_id":1,"from_node":1,"membership":"voters=[1,2,3] learners=[4]",)"
      R"("voters":[1,2,3],"learners":[4],"members":[)"
      R"({"id":1,"role":"voter","leader":true,"client":"127.0.0.1:7401","peer":"127.0.0.1:7501"},)"
      R"({"id":2,"role":"voter","leader":false,"client":"127.0.0.1:7402","peer":"127.0.0.1:7502"},)"
      R"({"id":3,"role":"voter","leader":false,"client":"127.0.0.1:7403","peer":"127.0.0.1:7503"},)"
      R"({"id":4,"role":"learner","leader":false,"client":"127.0.0.1:7404","peer":null}]})"
      "\n");
  // Without the leader, the best other view is used and said to be one.
  view = BuildClusterView({Answered("127.0.0.1:7402", 0, FollowerDoc(2))});
  CHECK_THAT(FormatMemberList(view, OutputFormat::kTable).out,
             Catch::EndsWith("membership: voters=[1,2,3] learners=[] (from node 2; no leader "
                             "answered)\n"));
}

TEST_CASE("kvctl cluster: durations in the table", "[unit][kvctl]") {
  CHECK(FormatMs(0) == "0 ms");
  CHECK(FormatMs(9999) == "9999 ms");
  CHECK(FormatMs(10000) == "10s");
  CHECK(FormatMs(65000) == "1m5s");
}

// ---- running the commands against a scripted cluster ----

TEST_CASE("kvctl cluster: cluster status asks every member at once", "[unit][kvctl]") {
  Healthy h;
  h.cluster.nodes.erase("127.0.0.1:7403");
  Output o = Run({"--endpoints", "127.0.0.1:7402", "cluster", "status"}, &h.cluster);
  CHECK(o.exit_code == ExitCode::kOk);
  CHECK(o.err.empty());
  CHECK_THAT(o.out, Catch::Contains("3   127.0.0.1:7403  unreachable"));
  // Round 1: the endpoint; round 2: the other members, in one call.
  REQUIRE(h.cluster.requests.size() == 3);
  CHECK(h.cluster.requests[0].first == "127.0.0.1:7402");
  CHECK(h.cluster.requests[1].first == "127.0.0.1:7401");
  CHECK(h.cluster.requests[2].first == "127.0.0.1:7403");
  CHECK(h.cluster.now == std::chrono::steady_clock::time_point{} + 2ms);

  // member list needs only the leader.
  h.cluster.requests.clear();
  o = Run({"--endpoints", "127.0.0.1:7402", "member", "list", "-o", "raw"}, &h.cluster);
  CHECK(o.exit_code == ExitCode::kOk);
  CHECK(h.cluster.requests.size() == 2);
}

TEST_CASE("kvctl cluster: no node at --endpoints answers", "[unit][kvctl]") {
  FakeCluster empty;
  Output o = Run({"--endpoints", "127.0.0.1:7401", "cluster", "status"}, &empty);
  CHECK(o.exit_code == ExitCode::kUnreachable);
  CHECK(o.out.empty());
  CHECK(o.err ==
        "kvctl: unavailable: cannot connect to kvd (127.0.0.1:7401: Connection refused)\n");
  o = Run({"--endpoints", "127.0.0.1:7401,127.0.0.1:7402", "promote", "2"}, &empty);
  CHECK(o.exit_code == ExitCode::kUnreachable);
  CHECK(o.err ==
        "kvctl: no node at --endpoints answered (127.0.0.1:7401: unavailable: cannot connect to "
        "kvd (127.0.0.1:7401: Connection refused); 127.0.0.1:7402: unavailable: cannot connect "
        "to kvd (127.0.0.1:7402: Connection refused))\n");
  // A STATUS answer kvctl cannot read is a server failure.
  empty.nodes["127.0.0.1:7401"] = [](const wire::Request&) -> Result<wire::Response> {
    return Ok(wire::StatusResponse{"{broken"});
  };
  o = Run({"--endpoints", "127.0.0.1:7401", "member", "list"}, &empty);
  CHECK(o.exit_code == ExitCode::kServerFailure);
  CHECK(o.err == "kvctl: protocol error: the status document is not a JSON object\n");
}

TEST_CASE("kvctl cluster: a single node refuses cluster commands", "[unit][kvctl]") {
  FakeCluster single;
  single.nodes["127.0.0.1:7379"] = [](const wire::Request& r) -> Result<wire::Response> {
    if (std::holds_alternative<wire::StatusRequest>(r.body)) {
      return Ok(wire::StatusResponse{R"({"node_id":1,"mode":"single","role":"standalone"})"});
    }
    const auto& admin = std::get<wire::AdminRequest>(r.body);
    return Error(Code::kUnsupported,
                 fmt::format("ADMIN {} needs a replicated topology; this node's mode is single",
                             wire::AdminActionName(admin.action)));
  };
  Output o = Run({"cluster", "status"}, &single);
  CHECK(o.exit_code == ExitCode::kRejected);
  CHECK(o.err ==
        "kvctl: unsupported: the node at 127.0.0.1:7379 runs in mode single; cluster commands "
        "need a leader_follower cluster\n");
  CHECK(Run({"member", "list"}, &single).exit_code == ExitCode::kRejected);
  // ADMIN commands report the server's own refusal.
  for (const Args& args :
       {Args{"promote", "1"}, Args{"transfer-leader"}, Args{"switchover"}, Args{"snapshot"},
        Args{"snapshot", "1"}, Args{"member", "add", "2", "--client", "h:1", "--peer", "h:2"},
        Args{"member", "promote", "2"}, Args{"member", "remove", "2"}}) {
    INFO(fmt::format("{}", fmt::join(args, " ")));
    o = Run(args, &single);
    CHECK(o.exit_code == ExitCode::kRejected);
    CHECK_THAT(o.err, Catch::StartsWith("kvctl: unsupported: ADMIN "));
    CHECK_THAT(o.err, Catch::EndsWith("needs a replicated topology; this node's mode is single\n"));
  }
}

TEST_CASE("kvctl cluster: promote waits until the node leads", "[unit][kvctl]") {
  Healthy h;
  int polls = 0;
  h.cluster.Add("127.0.0.1:7403", &h.three, [&](const wire::Request& r) {
    const auto& admin = std::get<wire::AdminRequest>(r.body);
    CHECK(admin.action == wire::AdminAction::kPromote);
    CHECK(admin.node_id == 3);
    h.three.role = "candidate";
    h.three.term = 6;
    return AdminAnswer(R"({"node_id":3,"term":6,"message":"election started"})");
  });
  h.cluster.nodes["127.0.0.1:7403"] = [&, inner = h.cluster.nodes["127.0.0.1:7403"]](
                                          const wire::Request& r) -> Result<wire::Response> {
    if (std::holds_alternative<wire::StatusRequest>(r.body) && h.three.role == "candidate" &&
        ++polls == 3) {
      h.three.role = "leader";
    }
    return inner(r);
  };
  Output o = Run({"--endpoints", "127.0.0.1:7401", "promote", "3"}, &h.cluster);
  CHECK(o.err.empty());
  CHECK(o.exit_code == ExitCode::kOk);
  CHECK(o.out == "node 3 is the leader (term 6)\n");
  // ADMIN went to node 3 itself, then its status was read every 100 ms.
  auto admin = h.cluster.AdminRequests();
  REQUIRE(admin.size() == 1);
  CHECK(admin[0].first == "127.0.0.1:7403");
  CHECK(h.cluster.sleeps == std::vector<std::chrono::milliseconds>{100ms, 100ms});

  h.three.role = "follower";
  h.three.term = 5;
  polls = 0;
  o = Run({"--endpoints", "127.0.0.1:7401", "promote", "3", "-o", "json"}, &h.cluster);
  CHECK(o.out == R"({"node_id":3,"term":6,"already":false,"elapsed_ms":205})"
                 "\n");
  h.three.role = "follower";
  polls = 0;
  o = Run({"--endpoints", "127.0.0.1:7401", "promote", "3", "-o", "raw"}, &h.cluster);
  CHECK(o.out == "3\t6\n");

  // Already the leader: nothing to do.
  h.cluster.requests.clear();
  o = Run({"--endpoints", "127.0.0.1:7401", "promote", "1"}, &h.cluster);
  CHECK(o.out == "node 1 is already the leader (term 5)\n");
  CHECK(h.cluster.AdminRequests().empty());
}

TEST_CASE("kvctl cluster: promote fails clearly", "[unit][kvctl]") {
  Healthy h;
  // The node never wins: a timeout, naming what was awaited and what was last seen.
  h.cluster.Add("127.0.0.1:7403", &h.three, [&](const wire::Request&) {
    h.three.role = "candidate";
    h.three.term = 6;
    h.three.leader_id = 0;
    return AdminAnswer(R"({"node_id":3,"term":6,"message":"election started"})");
  });
  Output o = Run({"--endpoints", "127.0.0.1:7401", "--timeout", "1s", "promote", "3"}, &h.cluster);
  CHECK(o.exit_code == ExitCode::kUnreachable);
  CHECK(o.out.empty());
  CHECK(o.err ==
        "kvctl: timeout: node 3 did not become the leader within 1000 ms (last seen: candidate "
        "in term 6, leader unknown)\n");
  CHECK(h.cluster.now - std::chrono::steady_clock::time_point{} < 1100ms);

  // Another node won the election: exit 5 at once.
  h.three = FollowerDoc(3);
  h.cluster.Add("127.0.0.1:7403", &h.three, [&](const wire::Request&) {
    h.three.term = 7;
    h.three.leader_id = 1;
    return AdminAnswer(R"({"node_id":3,"term":6,"message":"election started"})");
  });
  o = Run({"--endpoints", "127.0.0.1:7401", "promote", "3"}, &h.cluster);
  CHECK(o.exit_code == ExitCode::kServerFailure);
  CHECK(o.err ==
        "kvctl: node 3 did not win the election of term 6: node 1 leads in term 7 (voters with "
        "a more up-to-date log refused their votes; retry, or move a live leader with kvctl "
        "switchover)\n");

  // The server refuses: its words, exit 4.
  h.cluster.Add("127.0.0.1:7403", &h.three, [](const wire::Request&) {
    return Error(Code::kInvalidArgument, "node 3 is not a voter (voters=[1,2] learners=[3])");
  });
  o = Run({"--endpoints", "127.0.0.1:7401", "promote", "3"}, &h.cluster);
  CHECK(o.exit_code == ExitCode::kRejected);
  CHECK(o.err == "kvctl: invalid argument: node 3 is not a voter (voters=[1,2] learners=[3])\n");

  // Not a member; a member kvctl cannot reach; a member whose address nobody knows.
  o = Run({"--endpoints", "127.0.0.1:7401", "promote", "9"}, &h.cluster);
  CHECK(o.exit_code == ExitCode::kRejected);
  CHECK(o.err ==
        "kvctl: invalid argument: node 9 is not a member of the cluster (voters=[1,2,3] "
        "learners=[])\n");
  h.cluster.nodes.erase("127.0.0.1:7403");
  o = Run({"--endpoints", "127.0.0.1:7401", "promote", "3"}, &h.cluster);
  CHECK(o.exit_code == ExitCode::kUnreachable);
  CHECK(o.err ==
        "kvctl: unavailable: cannot connect to kvd (127.0.0.1:7403: Connection refused)\n");
  h.leader.membership = "voters=[1,2,3,4] learners=[]";
  o = Run({"--endpoints", "127.0.0.1:7401", "promote", "4"}, &h.cluster);
  CHECK(o.exit_code == ExitCode::kUsage);
  CHECK(o.err ==
        "kvctl: the client address of node 4 is unknown (it is in no node's configured_members): "
        "add it to --endpoints\n");
}

// Node 1 leads; a transfer to `target` makes it lead in term 6 after `polls` polls.
struct Transfer : Healthy {
  int polls_left = 0;
  uint64_t target = 0;
  explicit Transfer(uint64_t to_node, int polls) : polls_left(polls), target(to_node) {
    cluster.Add("127.0.0.1:7401", &leader, [this](const wire::Request& r) {
      const auto& admin = std::get<wire::AdminRequest>(r.body);
      CHECK(admin.action == wire::AdminAction::kTransferLeader);
      uint64_t to = admin.node_id != 0 ? admin.node_id : target;
      return AdminAnswer(
          fmt::format(R"({{"from":1,"to":{},"term":5,"message":"transfer started"}})", to));
    });
    for (uint64_t id : {uint64_t{2}, uint64_t{3}}) {
      std::string endpoint = fmt::format("127.0.0.1:740{}", id);
      Doc* doc = id == 2 ? &two : &three;
      cluster.nodes[endpoint] = [this, id, doc](const wire::Request&) -> Result<wire::Response> {
        if (id == target && !cluster.AdminRequests().empty() && --polls_left <= 0) {
          doc->role = "leader";
          doc->term = 6;
          doc->last = 125;
        }
        return StatusAnswer(*doc);
      };
    }
  }
};

TEST_CASE("kvctl cluster: transfer-leader", "[unit][kvctl]") {
  Transfer t(2, 2);
  Output o = Run({"--endpoints", "127.0.0.1:7403", "transfer-leader", "2"}, &t.cluster);
  CHECK(o.err.empty());
  CHECK(o.out == "node 2 is the leader (term 6); it took over from node 1 in 103 ms\n");
  auto admin = t.cluster.AdminRequests();
  REQUIRE(admin.size() == 1);
  CHECK(admin[0].first == "127.0.0.1:7401");  // the leader, not the endpoint given
  CHECK(admin[0].second.node_id == 2);

  // Without a target the leader picks one; kvctl waits for that one.
  Transfer any(3, 1);
  o = Run({"--endpoints", "127.0.0.1:7401", "transfer-leader", "-o", "json"}, &any.cluster);
  CHECK(any.cluster.AdminRequests()[0].second.node_id == 0);
  Json j = Json::parse(o.out);
  CHECK(j["node_id"] == 3);
  CHECK(j["term"] == 6);
  CHECK(j["from"] == 1);

  // To the current leader: nothing to do.
  Transfer same(1, 1);
  o = Run({"--endpoints", "127.0.0.1:7402", "transfer-leader", "1"}, &same.cluster);
  CHECK(o.out == "node 1 is already the leader (term 5)\n");
  CHECK(same.cluster.AdminRequests().empty());

  // The target never takes over.
  Transfer stuck(2, 1000);
  o = Run({"--endpoints", "127.0.0.1:7401", "--timeout", "500ms", "transfer-leader", "2"},
          &stuck.cluster);
  CHECK(o.exit_code == ExitCode::kUnreachable);
  CHECK(o.err ==
        "kvctl: timeout: node 2 did not become the leader (a leader abandons a transfer that "
        "does not complete within an election timeout) within 500 ms (last seen: follower in "
        "term 5, leader 1)\n");
}

TEST_CASE("kvctl cluster: leader-only requests follow NOT_LEADER", "[unit][kvctl]") {
  // Discovery saw node 1 lead, but node 2 took over since: follow its hint.
  Healthy h;
  h.cluster.Add("127.0.0.1:7401", &h.leader, [](const wire::Request&) {
    return Error(Code::kNotLeader, "membership changes are made by the leader", "127.0.0.1:7402");
  });
  h.cluster.Add("127.0.0.1:7402", &h.two, [](const wire::Request&) {
    return AdminAnswer(R"({"index":130,"membership":"voters=[1,2,3] learners=[4]"})");
  });
  Output o = Run({"--endpoints", "127.0.0.1:7403", "member", "add", "4", "--client",
                  "127.0.0.1:7404", "--peer", "127.0.0.1:7504"},
                 &h.cluster);
  CHECK(o.err.empty());
  auto admin = h.cluster.AdminRequests();
  REQUIRE(admin.size() == 2);
  CHECK(admin[0].first == "127.0.0.1:7401");
  CHECK(admin[1].first == "127.0.0.1:7402");
  CHECK(admin[1].second ==
        wire::AdminRequest{wire::AdminAction::kAddLearner, 4, "127.0.0.1:7404", "127.0.0.1:7504"});

  // No hint (an election is under way): ask again every 100 ms until the deadline.
  h.cluster.Add("127.0.0.1:7401", &h.leader, [](const wire::Request&) {
    return Error(Code::kNotLeader, "not the leader; no leader is known");
  });
  h.cluster.requests.clear();
  o = Run({"--endpoints", "127.0.0.1:7401", "--timeout", "1s", "member", "remove", "3"},
          &h.cluster);
  CHECK(o.exit_code == ExitCode::kServerFailure);
  CHECK(o.err == "kvctl: not leader: not the leader; no leader is known\n");
  CHECK(h.cluster.AdminRequests().size() == 10);
}

TEST_CASE("kvctl cluster: switchover reports its steps and the pause", "[unit][kvctl]") {
  Transfer t(2, 3);
  t.leader.replication = "async";
  t.leader.commit = 121;
  Output o = Run({"--endpoints", "127.0.0.1:7401", "switchover", "--to", "2"}, &t.cluster);
  CHECK(o.err.empty());
  CHECK(o.exit_code == ExitCode::kOk);
  CHECK(o.out ==
        "switchover from node 1 to node 2:\n"
        "  0 ms   node 1 leads in term 5; commit index 121; replication async\n"
        "  1 ms   node 1 accepted: it pauses writes until node 2 has its whole log, then hands "
        "over\n"
        "  24 ms  node 2 is the leader (term 6); its log ends at index 125\n"
        "no acknowledged write lost: node 2's log ends at 125, node 1's commit index before the "
        "request was 121\n"
        "writes were paused for about 24 ms (from the request until node 2 was seen leading; "
        "kvctl polls every 10 ms)\n");
  CHECK(t.cluster.sleeps == std::vector<std::chrono::milliseconds>{10ms, 10ms});

  Transfer chosen(3, 1);
  o = Run({"--endpoints", "127.0.0.1:7401", "switchover", "-o", "json"}, &chosen.cluster);
  CHECK(o.out ==
        R"({"from":1,"to":3,"chosen_by_leader":true,"old_term":5,"term":6,)"
        R"("replication":"quorum","old_commit_index":120,"new_last_index":125,)"
        R"("accepted_ms":1,"writes_paused_ms":2,"new_leader_has_every_committed_entry":true})"
        "\n");
  Transfer raw(3, 1);
  o = Run({"--endpoints", "127.0.0.1:7401", "switchover", "-o", "raw"}, &raw.cluster);
  CHECK(o.out == "3\t6\t2\n");

  // A new leader whose log ends before the old commit index would have lost writes.
  Transfer lossy(2, 1);
  lossy.leader.commit = 200;
  o = Run({"--endpoints", "127.0.0.1:7401", "switchover", "--to", "2"}, &lossy.cluster);
  CHECK(o.exit_code == ExitCode::kServerFailure);
  CHECK_THAT(o.out, Catch::Contains("WARNING: acknowledged writes may be lost: node 2's log ends "
                                    "at 125, node 1's commit index before the request was 200"));
}

TEST_CASE("kvctl cluster: member changes", "[unit][kvctl]") {
  Healthy h;
  std::string answer = R"({"index":130,"membership":"voters=[1,2,3] learners=[4]"})";
  h.cluster.Add("127.0.0.1:7401", &h.leader,
                [&](const wire::Request&) { return AdminAnswer(answer); });
  Args add = {"--endpoints", "127.0.0.1:7402", "member", "add",           "4",
              "--client",    "127.0.0.1:7404", "--peer", "127.0.0.1:7504"};
  Output o = Run(add, &h.cluster);
  CHECK(o.out ==
        "node 4 added as a learner (configuration index 130); membership: voters=[1,2,3] "
        "learners=[4]\n"
        "next: when kvctl cluster status shows node 4 caught up (LAG near 0 entries; add "
        "127.0.0.1:7404 to --endpoints if its role shows as unknown), run: kvctl member promote "
        "4\n");
  Args add_json = add;
  add_json.insert(add_json.end(), {"-o", "json"});
  CHECK(Run(add_json, &h.cluster).out ==
        R"({"node_id":4,"action":"add_learner","index":130,)"
        R"("membership":"voters=[1,2,3] learners=[4]","voters":[1,2,3],"learners":[4]})"
        "\n");
  Args add_raw = add;
  add_raw.insert(add_raw.end(), {"-o", "raw"});
  CHECK(Run(add_raw, &h.cluster).out == "130\n");

  answer = R"({"index":140,"membership":"voters=[1,2,3,4] learners=[]"})";
  o = Run({"--endpoints", "127.0.0.1:7402", "member", "promote", "4"}, &h.cluster);
  CHECK(o.out ==
        "node 4 is now a voter (configuration index 140); membership: voters=[1,2,3,4] "
        "learners=[]\n");
  answer = R"({"index":150,"membership":"voters=[1,2,3] learners=[]"})";
  o = Run({"--endpoints", "127.0.0.1:7402", "member", "remove", "4"}, &h.cluster);
  CHECK_THAT(o.out, Catch::StartsWith("node 4 removed (configuration index 150); membership: "
                                      "voters=[1,2,3] learners=[]\n"));
  auto admin = h.cluster.AdminRequests();
  REQUIRE(admin.size() == 5);
  CHECK(admin[3].second == wire::AdminRequest{wire::AdminAction::kPromoteLearner, 4, "", ""});
  CHECK(admin[4].second == wire::AdminRequest{wire::AdminAction::kRemoveMember, 4, "", ""});
  for (const auto& [endpoint, request] : admin) CHECK(endpoint == "127.0.0.1:7401");

  // The leader's refusals, in its words.
  struct Case {
    wire::Response response;
    ExitCode exit_code;
    std::string err;
  };
  for (const Case& c : std::vector<Case>{
           {Error(Code::kUnavailable, "learner has not caught up"), ExitCode::kServerFailure,
            "kvctl: unavailable: learner has not caught up\n"},
           {Error(Code::kUnavailable, "a membership change is still in progress"),
            ExitCode::kServerFailure,
            "kvctl: unavailable: a membership change is still in "
            "progress\n"},
           {Error(Code::kInvalidArgument, "node 4 is not a learner (voters=[1,2,3] learners=[])"),
            ExitCode::kRejected,
            "kvctl: invalid argument: node 4 is not a learner (voters=[1,2,3] learners=[])\n"},
           {AdminAnswer("not json"), ExitCode::kServerFailure,
            "kvctl: malformed answer from the server: the ADMIN answer is not a JSON object\n"},
           {Ok(wire::StatusResponse{"{}"}), ExitCode::kServerFailure,
            "kvctl: malformed answer from the server: ADMIN answer without a document\n"}}) {
    h.cluster.Add("127.0.0.1:7401", &h.leader, [&](const wire::Request&) { return c.response; });
    o = Run({"--endpoints", "127.0.0.1:7401", "member", "promote", "4"}, &h.cluster);
    CHECK(o.exit_code == c.exit_code);
    CHECK(o.out.empty());
    CHECK(o.err == c.err);
  }
}

TEST_CASE("kvctl cluster: snapshot", "[unit][kvctl]") {
  Healthy h;
  auto compact = [](uint64_t id) {
    return [id](const wire::Request& r) {
      CHECK(std::get<wire::AdminRequest>(r.body).action == wire::AdminAction::kCompact);
      return AdminAnswer(fmt::format(R"({{"node_id":{},"snapshot_index":{}}})", id, 100 + id));
    };
  };
  h.cluster.Add("127.0.0.1:7401", &h.leader, compact(1));
  h.cluster.Add("127.0.0.1:7402", &h.two, compact(2));
  h.cluster.Add("127.0.0.1:7403", &h.three, compact(3));
  // Without NODE_ID: the first endpoint that answers, and no discovery.
  Output o = Run({"--endpoints", "127.0.0.1:7409,127.0.0.1:7402", "snapshot"}, &h.cluster);
  CHECK(o.out == "node 2 compacted its log: snapshot index 102\n");
  REQUIRE(h.cluster.requests.size() == 2);
  CHECK(h.cluster.requests[0].first == "127.0.0.1:7409");
  // With NODE_ID: that node.
  o = Run({"--endpoints", "127.0.0.1:7401", "snapshot", "3", "-o", "raw"}, &h.cluster);
  CHECK(o.out == "103\n");
  CHECK(h.cluster.AdminRequests().back().first == "127.0.0.1:7403");
  o = Run({"--endpoints", "127.0.0.1:7401", "snapshot", "-o", "json"}, &h.cluster);
  CHECK(o.out == R"({"node_id":1,"snapshot_index":101})"
                 "\n");
  // Nothing answers.
  o = Run({"--endpoints", "127.0.0.1:7409", "snapshot"}, &h.cluster);
  CHECK(o.exit_code == ExitCode::kUnreachable);
  CHECK(o.err ==
        "kvctl: unavailable: cannot connect to kvd (127.0.0.1:7409: Connection refused)\n");
}

// ---- multi_leader cluster status ----

const std::vector<ConfiguredMember> kThreeLeaders = {
    {1, "127.0.0.1:7411", "127.0.0.1:7511", "127.0.0.1:7611", ""},
    {2, "127.0.0.1:7412", "127.0.0.1:7512", "127.0.0.1:7612", ""},
    {3, "127.0.0.1:7413", "127.0.0.1:7513", "127.0.0.1:7613", ""}};

// The parts of a multi_leader STATUS document the tests vary.
struct LeaderDocMl {
  uint64_t id = 1;
  std::string propagation = "ring";
  std::string hub;  // the server sends it (as a string) only with star
  std::string progress = "{1:5, 2:2, 3:1}";
  uint64_t local = 0;
  uint64_t retained = 0;
  uint64_t lww = 0;
  uint64_t sibling_cap = 0;
  uint64_t resolver = 0;
  uint64_t skew = 0;
  std::vector<ShipProgress> peers;
  std::vector<ConfiguredMember> configured = kThreeLeaders;

  // As the server writes it: counters and labels side by side, keys sorted.
  std::string Json() const {
    nlohmann::json ml = {{"changes_applied_total", 6},
                         {"changes_duplicate_total", 0},
                         {"changes_local_total", local},
                         {"changes_out_of_order_total", 0},
                         {"changes_shipped_total", 7},
                         {"clock_skew_rejections_total", skew},
                         {"duplicate_writes", 0},
                         {"failed", false},
                         {"hlc_wall_ms", 1795659222456},
                         {"incarnation", 1},
                         {"log_retained", retained},
                         {"lww_concurrent_overwrites_total", lww},
                         {"malformed_messages_total", 0},
                         {"peer_regressions_total", 0},
                         {"progress", progress},
                         {"propagation", propagation},
                         {"refused_writes_total", 0},
                         {"resends_total", 0},
                         {"resolver_mismatches_total", resolver},
                         {"session_read_timeouts_total", 0},
                         {"session_reads_waiting", 0},
                         {"sibling_cap_refusals_total", sibling_cap},
                         {"state_transfers_sent_total", 0}};
    if (!hub.empty()) ml["hub"] = hub;
    nlohmann::json peer_list = nlohmann::json::array();
    for (const ShipProgress& p : peers) {
      peer_list.push_back({{"id", p.to},
                           {"state", p.state},
                           {"lag_changes", p.lag_changes},
                           {"ms_since_ack", p.ms_since_ack},
                           {"acked_own_changes", p.acked_own_changes}});
    }
    ml["peers"] = peer_list;
    nlohmann::json members = nlohmann::json::array();
    nlohmann::json running = nlohmann::json::array();
    for (const ConfiguredMember& m : configured) {
      members.push_back({{"id", m.id}, {"client", m.client}, {"peer", m.peer}, {"admin", m.admin}});
      running.push_back({{"id", m.id}, {"client", m.client}, {"peer", m.peer}, {"role", "leader"}});
    }
    ml["configured_members"] = members;
    ml["members"] = running;
    nlohmann::json j = {{"node_id", id},    {"mode", "multi_leader"},
                        {"role", "leader"}, {"version", "0.1.0"},
                        {"keys", 7},        {"multi_leader", ml}};
    return j.dump();
  }
};

// A ring 1 -> 2 -> 3 -> 1 where every member has applied the same changes.
LeaderDocMl RingMember(uint64_t id) {
  LeaderDocMl d;
  d.id = id;
  d.local = id == 1 ? 5 : id == 2 ? 2 : 1;
  d.peers = {ShipProgress{id % 3 + 1, "replicating", 0, 0, d.local}};
  return d;
}

Probe AnsweredMl(std::string endpoint, uint64_t expected_id, const LeaderDocMl& doc) {
  Probe probe;
  probe.endpoint = std::move(endpoint);
  probe.expected_id = expected_id;
  Result<NodeStatus> status = ParseNodeStatus(doc.Json());
  REQUIRE(status.ok());
  probe.status = std::move(status).value();
  return probe;
}

// Members 1 and 2 answer; 3 does not. Node 2 has shipped 3 changes that node 3 has not
// acknowledged for 4.25 s.
std::vector<Probe> RingWithThreeDown(const LeaderDocMl& one, const LeaderDocMl& two) {
  return {AnsweredMl("127.0.0.1:7411", 0, one), AnsweredMl("127.0.0.1:7412", 2, two),
          Unreachable("127.0.0.1:7413", 3)};
}

LeaderDocMl RingTwoBehindThree() {
  LeaderDocMl two = RingMember(2);
  two.retained = 3;
  two.peers = {ShipProgress{3, "replicating", 3, 4250, 1}};
  return two;
}

TEST_CASE("kvctl cluster: reads a multi_leader STATUS document", "[unit][kvctl]") {
  // As member 2 of a star cluster around hub 2 sent it (keys sorted, hub as a string).
  const std::string document =
      R"({"connections":1,"keys":3,"mode":"multi_leader","multi_leader":{)"
      R"("changes_applied_total":6,"changes_duplicate_total":0,"changes_local_total":2,)"
      R"("changes_out_of_order_total":0,"changes_shipped_total":7,)"
      R"("clock_skew_rejections_total":4,"configured_members":[{"admin":"127.0.0.1:7611",)"
      R"("client":"127.0.0.1:7411","id":1,"peer":"127.0.0.1:7511"},{"admin":)"
      R"("127.0.0.1:7612","client":"127.0.0.1:7412","id":2,"peer":"127.0.0.1:7512"},)"
      R"({"admin":"127.0.0.1:7613","client":"127.0.0.1:7413","id":3,"peer":"127.0.0.1:7513"}],)"
      R"("duplicate_writes":0,"failed":false,"hlc_wall_ms":1795659222456,"hub":"2",)"
      R"("incarnation":1,"log_retained":9,"lww_concurrent_overwrites_total":1,)"
      R"("malformed_messages_total":0,"members":[{"client":"127.0.0.1:7411","id":1,)"
      R"("peer":"127.0.0.1:7511","role":"leader"}],"peer_regressions_total":0,)"
      R"("peers":[{"acked_own_changes":2,"id":1,"lag_changes":0,"ms_since_ack":0,)"
      R"("state":"replicating"},{"acked_own_changes":0,"id":3,"lag_changes":5,)"
      R"("ms_since_ack":1200,"state":"probing"}],"progress":"{1:5, 2:2, 3:1}",)"
      R"("propagation":"star","refused_writes_total":0,"resends_total":0,)"
      R"("resolver_mismatches_total":3,"session_read_timeouts_total":0,)"
      R"("session_reads_waiting":0,"sibling_cap_refusals_total":2,)"
      R"("state_transfers_sent_total":0},"node_id":2,"role":"leader","version":"0.1.0"})";
  Result<NodeStatus> s = ParseNodeStatus(document);
  REQUIRE(s.ok());
  CHECK(s->is_multi_leader());
  CHECK_FALSE(s->replicated());  // the other cluster commands still refuse it
  CHECK(s->node_id == 2);
  CHECK(s->configured_members ==
        std::vector<ConfiguredMember>{
            {1, "127.0.0.1:7411", "127.0.0.1:7511", "127.0.0.1:7611", ""},
            {2, "127.0.0.1:7412", "127.0.0.1:7512", "127.0.0.1:7612", ""},
            {3, "127.0.0.1:7413", "127.0.0.1:7513", "127.0.0.1:7613", ""}});
  MultiLeaderStatus expected;
  expected.propagation = "star";
  expected.hub = 2;
  expected.progress = "{1:5, 2:2, 3:1}";
  expected.changes_local = 2;
  expected.log_retained = 9;
  expected.lww_concurrent_overwrites = 1;
  expected.sibling_cap_refusals = 2;
  expected.resolver_mismatches = 3;
  expected.clock_skew_rejections = 4;
  expected.peers = {{1, "replicating", 0, 0, 2}, {3, "probing", 5, 1200, 0}};
  CHECK(s->multi_leader == expected);

  // A hub sent as a number is read too; one that is not a number reads as unknown (0).
  LeaderDocMl doc;
  doc.propagation = "star";
  doc.hub = "x";
  Result<NodeStatus> odd = ParseNodeStatus(doc.Json());
  REQUIRE(odd.ok());
  CHECK(odd->multi_leader.hub == 0);
  Result<NodeStatus> numeric = ParseNodeStatus(
      R"({"node_id":1,"mode":"multi_leader","role":"leader","multi_leader":{"hub":3}})");
  REQUIRE(numeric.ok());
  CHECK(numeric->multi_leader.hub == 3);
  CHECK(numeric->multi_leader.peers.empty());

  Result<NodeStatus> missing =
      ParseNodeStatus(R"({"node_id":1,"mode":"multi_leader","role":"leader"})");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == Code::kProtocolError);
  CHECK(missing.status().message() ==
        "the status document of a multi_leader node has no multi_leader");
}

TEST_CASE("kvctl cluster: discovery in a multi_leader cluster asks every member", "[unit][kvctl]") {
  std::vector<Probe> probes = {AnsweredMl("127.0.0.1:7412", 0, RingMember(2))};
  // There is no leader to look for: every member, whatever all_members says.
  for (bool all_members : {true, false}) {
    CHECK(NextProbes(probes, all_members) ==
          std::vector<ProbeTarget>{{1, "127.0.0.1:7411"}, {3, "127.0.0.1:7413"}});
  }
  probes.push_back(AnsweredMl("127.0.0.1:7411", 1, RingMember(1)));
  probes.push_back(Unreachable("127.0.0.1:7413", 3));
  CHECK(NextProbes(probes, true).empty());
}

TEST_CASE("kvctl cluster: multi_leader ring with a member down", "[unit][kvctl]") {
  MultiLeaderView view =
      BuildMultiLeaderView(RingWithThreeDown(RingMember(1), RingTwoBehindThree()));
  CHECK(view.propagation == "ring");
  CHECK(view.view_from == 1);
  REQUIRE(view.members.size() == 3);
  CHECK(view.converged);  // the two that answered agree; 3 is not compared
  CHECK_FALSE(IsUpMultiLeader(view.members[2]));
  // 4250 ms since node 3 last acknowledged: 4.3 s. Node 3's own peers are unknown.
  CHECK(FormatMultiLeaderStatus(view, OutputFormat::kTable).out ==
        "multi_leader cluster, propagation ring, 3 members\n"
        "ID  CLIENT          STATE        PROGRESS         LOCAL  RETAINED  LWW  SIBLING CAP  "
        "RESOLVER  SKEW\n"
        "1   127.0.0.1:7411  up           {1:5, 2:2, 3:1}  5      0         0    0            "
        "0         0\n"
        "2   127.0.0.1:7412  up           {1:5, 2:2, 3:1}  2      3         0    0            "
        "0         0\n"
        "3   127.0.0.1:7413  unreachable  -                -      -         -    -            "
        "-         -\n"
        "\n"
        "FROM  TO  LAG (CHANGES)  SINCE ACK (S)  STATE\n"
        "1     2   0              0.0            replicating\n"
        "2     3   3              4.3            replicating\n"
        "\n"
        "converged: the 2 of 3 members that answered have progress {1:5, 2:2, 3:1}\n"
        "node 3: 127.0.0.1:7413: unavailable: cannot connect to kvd (127.0.0.1:7413: Connection "
        "refused)\n");
  CHECK(FormatMultiLeaderStatus(view, OutputFormat::kRaw).out ==
        "1\t127.0.0.1:7411\tup\t{1:5, 2:2, 3:1}\t5\t0\t0\t0\t0\t0\n"
        "2\t127.0.0.1:7412\tup\t{1:5, 2:2, 3:1}\t2\t3\t0\t0\t0\t0\n"
        "3\t127.0.0.1:7413\tunreachable\t-\t-\t-\t-\t-\t-\t-\n");
}

TEST_CASE("kvctl cluster: multi_leader converged or not", "[unit][kvctl]") {
  // Every member answers with the same progress.
  std::vector<Probe> all = {AnsweredMl("127.0.0.1:7411", 0, RingMember(1)),
                            AnsweredMl("127.0.0.1:7412", 2, RingMember(2)),
                            AnsweredMl("127.0.0.1:7413", 3, RingMember(3))};
  MultiLeaderView view = BuildMultiLeaderView(all);
  CHECK(view.converged);
  std::string table = FormatMultiLeaderStatus(view, OutputFormat::kTable).out;
  CHECK_THAT(table, Catch::Contains("3   127.0.0.1:7413  up     {1:5, 2:2, 3:1}  1      0"));
  CHECK_THAT(table, Catch::Contains("FROM  TO  LAG (CHANGES)  SINCE ACK (S)  STATE\n"
                                    "1     2   0              0.0            replicating\n"
                                    "2     3   0              0.0            replicating\n"
                                    "3     1   0              0.0            replicating\n"));
  CHECK_THAT(table, Catch::EndsWith("\nconverged: every member has progress {1:5, 2:2, 3:1}\n"));

  // Node 2 has not applied node 1's last change yet.
  LeaderDocMl two = RingMember(2);
  two.progress = "{1:4, 2:2, 3:1}";
  view = BuildMultiLeaderView(RingWithThreeDown(RingMember(1), two));
  CHECK_FALSE(view.converged);
  table = FormatMultiLeaderStatus(view, OutputFormat::kTable).out;
  CHECK_THAT(table, Catch::Contains("2   127.0.0.1:7412  up           {1:4, 2:2, 3:1}"));
  CHECK_THAT(table,
             Catch::Contains("\nreplicating: progress differs between the members that answered\n"
                             "node 3: 127.0.0.1:7413: unavailable: "));
  CHECK(Json::parse(FormatMultiLeaderStatus(view, OutputFormat::kJson).out)["converged"] == false);

  // A single member that answered agrees with itself.
  view = BuildMultiLeaderView({Unreachable("127.0.0.1:7411", 0),
                               AnsweredMl("127.0.0.1:7412", 0, RingMember(2)),
                               Unreachable("127.0.0.1:7413", 3)});
  CHECK(view.converged);
  CHECK(view.view_from == 2);
  table = FormatMultiLeaderStatus(view, OutputFormat::kTable).out;
  CHECK_THAT(table, Catch::Contains("converged: the 1 of 3 members that answered have progress"));
  CHECK_THAT(table, Catch::Contains("1   127.0.0.1:7411  unreachable"));
  CHECK_THAT(table, Catch::EndsWith("127.0.0.1:7411 did not answer: unavailable: cannot connect "
                                    "to kvd (127.0.0.1:7411: Connection refused)\n"));
}

TEST_CASE("kvctl cluster: multi_leader star and settings members disagree on", "[unit][kvctl]") {
  std::vector<LeaderDocMl> docs;
  for (uint64_t id : {uint64_t{1}, uint64_t{2}, uint64_t{3}}) {
    LeaderDocMl d = RingMember(id);
    d.propagation = "star";
    d.hub = "2";
    // The hub ships to every spoke, each spoke only to the hub.
    d.peers = id == 2
                  ? std::vector<ShipProgress>{{1, "replicating", 0, 0, 2}, {3, "probing", 7, 0, 0}}
                  : std::vector<ShipProgress>{{2, "replicating", 0, 0, d.local}};
    docs.push_back(d);
  }
  docs[2].hub = "3";  // a misconfigured member
  MultiLeaderView view = BuildMultiLeaderView({AnsweredMl("127.0.0.1:7411", 0, docs[0]),
                                               AnsweredMl("127.0.0.1:7412", 2, docs[1]),
                                               AnsweredMl("127.0.0.1:7413", 3, docs[2])});
  CHECK(view.hub == 2);
  std::string table = FormatMultiLeaderStatus(view, OutputFormat::kTable).out;
  CHECK_THAT(table,
             Catch::StartsWith("multi_leader cluster, propagation star (hub 2), 3 members\n"));
  CHECK_THAT(table, Catch::Contains("FROM  TO  LAG (CHANGES)  SINCE ACK (S)  STATE\n"
                                    "1     2   0              0.0            replicating\n"
                                    "2     1   0              0.0            replicating\n"
                                    "2     3   7              0.0            probing\n"
                                    "3     2   0              0.0            replicating\n"));
  CHECK_THAT(table,
             Catch::EndsWith("node 3 reports propagation star (hub 3), node 1 star (hub 2)\n"));
  Json j = Json::parse(FormatMultiLeaderStatus(view, OutputFormat::kJson).out);
  CHECK(j["propagation"] == "star");
  CHECK(j["hub"] == 2);
  CHECK(j["notes"] ==
        Json::array({"node 3 reports propagation star (hub 3), node 1 star (hub 2)"}));

  // A node that answers at a member's address in another mode is shown, not counted.
  Probe single;
  single.endpoint = "127.0.0.1:7413";
  single.expected_id = 3;
  single.status = ParseNodeStatus(R"({"node_id":3,"mode":"single","role":"standalone"})").value();
  view = BuildMultiLeaderView({AnsweredMl("127.0.0.1:7411", 0, RingMember(1)),
                               AnsweredMl("127.0.0.1:7412", 2, RingMember(2)), single});
  CHECK(view.converged);
  CHECK_FALSE(IsUpMultiLeader(*view.Find(3)));
  table = FormatMultiLeaderStatus(view, OutputFormat::kTable).out;
  CHECK_THAT(table, Catch::Contains("3   127.0.0.1:7413  single  -"));
  CHECK_THAT(table, Catch::EndsWith("node 3: answered in mode single, not multi_leader\n"));
}

TEST_CASE("kvctl cluster: multi_leader cluster status as json", "[unit][kvctl]") {
  MultiLeaderView view =
      BuildMultiLeaderView(RingWithThreeDown(RingMember(1), RingTwoBehindThree()));
  std::string out = FormatMultiLeaderStatus(view, OutputFormat::kJson).out;
  CHECK(std::count(out.begin(), out.end(), '\n') == 1);  // one line
  Json expected = Json::parse(R"({"mode":"multi_leader","propagation":"ring","hub":null,
      "members":[
        {"id":1,"client":"127.0.0.1:7411","up":true,"progress":"{1:5, 2:2, 3:1}",
         "changes_local":5,"log_retained":0,"lww_concurrent_overwrites":0,
         "sibling_cap_refusals":0,"resolver_mismatches":0,"clock_skew_rejections":0,
         "peers":[{"to":2,"lag_changes":0,"seconds_since_ack":0.0,"state":"replicating"}]},
        {"id":2,"client":"127.0.0.1:7412","up":true,"progress":"{1:5, 2:2, 3:1}",
         "changes_local":2,"log_retained":3,"lww_concurrent_overwrites":0,
         "sibling_cap_refusals":0,"resolver_mismatches":0,"clock_skew_rejections":0,
         "peers":[{"to":3,"lag_changes":3,"seconds_since_ack":4.3,"state":"replicating"}]},
        {"id":3,"client":"127.0.0.1:7413","up":false,"progress":null,"changes_local":null,
         "log_retained":null,"lww_concurrent_overwrites":null,"sibling_cap_refusals":null,
         "resolver_mismatches":null,"clock_skew_rejections":null,"peers":[]}],
      "converged":true,"notes":[]})");
  expected["members"][2]["error"] =
      "127.0.0.1:7413: unavailable: cannot connect to kvd (127.0.0.1:7413: Connection refused)";
  CHECK(Json::parse(out) == expected);
  // The keys in this order, and seconds with one decimal.
  CHECK_THAT(out, Catch::StartsWith(R"({"mode":"multi_leader","propagation":"ring","hub":null,)"
                                    R"("members":[{"id":1,"client":"127.0.0.1:7411","up":true,)"));
  CHECK_THAT(out, Catch::Contains(R"("seconds_since_ack":4.3,)"));
  CHECK_THAT(out, Catch::EndsWith(R"("converged":true,"notes":[]})"
                                  "\n"));
}

TEST_CASE("kvctl cluster: seconds since ack", "[unit][kvctl]") {
  CHECK(FormatSecondsTenths(0) == "0.0");
  CHECK(FormatSecondsTenths(49) == "0.0");
  CHECK(FormatSecondsTenths(50) == "0.1");
  CHECK(FormatSecondsTenths(4250) == "4.3");
  CHECK(FormatSecondsTenths(61949) == "61.9");
}

// Three ring members by client address; those in `down` refuse connections.
struct Ring {
  LeaderDocMl one = RingMember(1);
  LeaderDocMl two = RingTwoBehindThree();
  LeaderDocMl three = RingMember(3);
  FakeCluster cluster;
  Ring() {
    for (auto [endpoint, doc] :
         {std::pair{"127.0.0.1:7411", &one}, std::pair{"127.0.0.1:7412", &two},
          std::pair{"127.0.0.1:7413", &three}}) {
      cluster.nodes[endpoint] = [doc = doc](const wire::Request& r) -> Result<wire::Response> {
        if (std::holds_alternative<wire::StatusRequest>(r.body)) {
          return Ok(wire::StatusResponse{doc->Json()});
        }
        return Error(
            Code::kUnsupported,
            fmt::format("ADMIN {} needs a leader_follower cluster; this node's mode is "
                        "multi_leader",
                        wire::AdminActionName(std::get<wire::AdminRequest>(r.body).action)));
      };
    }
  }
};

TEST_CASE("kvctl cluster: cluster status of a multi_leader cluster", "[unit][kvctl]") {
  Ring ring;
  ring.cluster.nodes.erase("127.0.0.1:7413");
  Output o = Run({"--endpoints", "127.0.0.1:7412", "cluster", "status"}, &ring.cluster);
  CHECK(o.exit_code == ExitCode::kOk);  // a member down is shown, not a failure
  CHECK(o.err.empty());
  CHECK(o.out ==
        FormatMultiLeaderStatus(BuildMultiLeaderView({AnsweredMl("127.0.0.1:7412", 0, ring.two),
                                                      AnsweredMl("127.0.0.1:7411", 1, ring.one),
                                                      Unreachable("127.0.0.1:7413", 3)}),
                                OutputFormat::kTable)
            .out);
  CHECK_THAT(o.out, Catch::Contains("3   127.0.0.1:7413  unreachable"));
  // Round 1: the endpoint; round 2: the other configured members, in one call.
  REQUIRE(ring.cluster.requests.size() == 3);
  CHECK(ring.cluster.requests[0].first == "127.0.0.1:7412");
  CHECK(ring.cluster.requests[1].first == "127.0.0.1:7411");
  CHECK(ring.cluster.requests[2].first == "127.0.0.1:7413");
  CHECK(ring.cluster.now == std::chrono::steady_clock::time_point{} + 2ms);

  o = Run({"--endpoints", "127.0.0.1:7411", "cluster", "status", "-o", "json"}, &ring.cluster);
  CHECK(o.exit_code == ExitCode::kOk);
  Json j = Json::parse(o.out);
  CHECK(j["mode"] == "multi_leader");
  CHECK(j["converged"] == true);
  CHECK(j["members"][2]["up"] == false);
  CHECK(
      Run({"--endpoints", "127.0.0.1:7411", "cluster", "status", "-o", "raw"}, &ring.cluster).out ==
      "1\t127.0.0.1:7411\tup\t{1:5, 2:2, 3:1}\t5\t0\t0\t0\t0\t0\n"
      "2\t127.0.0.1:7412\tup\t{1:5, 2:2, 3:1}\t2\t3\t0\t0\t0\t0\n"
      "3\t127.0.0.1:7413\tunreachable\t-\t-\t-\t-\t-\t-\t-\n");

  // Not converged is still a success: the cluster is replicating, not failing.
  ring.two.progress = "{1:4, 2:2, 3:1}";
  o = Run({"--endpoints", "127.0.0.1:7411", "cluster", "status"}, &ring.cluster);
  CHECK(o.exit_code == ExitCode::kOk);
  CHECK_THAT(o.out, Catch::Contains("replicating: progress differs"));

  // No node at --endpoints answers: exit 6, as for leader_follower.
  o = Run({"--endpoints", "127.0.0.1:7413", "cluster", "status"}, &ring.cluster);
  CHECK(o.exit_code == ExitCode::kUnreachable);
  CHECK(o.out.empty());
  CHECK(o.err ==
        "kvctl: unavailable: cannot connect to kvd (127.0.0.1:7413: Connection refused)\n");
}

TEST_CASE("kvctl cluster: the other cluster commands still need leader_follower", "[unit][kvctl]") {
  Ring ring;
  Output o = Run({"--endpoints", "127.0.0.1:7411", "member", "list"}, &ring.cluster);
  CHECK(o.exit_code == ExitCode::kRejected);
  CHECK(o.out.empty());
  CHECK(o.err ==
        "kvctl: unsupported: the node at 127.0.0.1:7411 runs in mode multi_leader; cluster "
        "commands need a leader_follower cluster\n");
  // ADMIN commands report the server's own refusal, as for a single node.
  for (const Args& args : {Args{"promote", "1"}, Args{"transfer-leader"}, Args{"snapshot", "2"},
                           Args{"member", "remove", "2"}}) {
    INFO(fmt::format("{}", fmt::join(args, " ")));
    Args with_endpoint = {"--endpoints", "127.0.0.1:7411"};
    with_endpoint.insert(with_endpoint.end(), args.begin(), args.end());
    o = Run(with_endpoint, &ring.cluster);
    CHECK(o.exit_code == ExitCode::kRejected);
    CHECK_THAT(o.err, Catch::StartsWith("kvctl: unsupported: ADMIN "));
  }
}

}  // namespace
}  // namespace kvd::kvctl
