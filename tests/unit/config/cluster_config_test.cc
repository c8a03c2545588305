// Unit tests for the cluster and raft sections of common/config (leader_follower mode).
//
// Goal: a cluster file is read exactly as written (members, raft settings, defaults), one
// file serves every node (node.id picks the member entry, whose addresses the node then
// listens on), and every mistake an operator can make in these sections -- a bad field,
// a member entry missing a field, a duplicated id or address, a node that is not a
// member, timings that would cause needless elections -- is reported as one line naming
// the field, the value and what is allowed. Method as in config_test.cc: small YAML
// documents compared against the whole error message, plus ValidateConfig on Configs
// changed after parsing (as command-line overrides do), plus every shipped file in
// config/. A failure means kvd would misread or wrongly reject a cluster file, or an
// error message changed: if intended, update the text here and in docs/OPERATIONS.md.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "common/config/config.h"
#include "tests/unit/config/config_test_util.h"

namespace kvd::config {
namespace {

// node.mode: leader_follower with three members; `extra` is appended (more sections).
std::string Cluster(std::string_view extra = "", std::string_view node_id = "2") {
  return std::string("node:\n  id: ") + std::string(node_id) +
         "\n  mode: leader_follower\n"
         "cluster:\n"
         "  name: test\n"
         "  members:\n"
         "    - {id: 1, client: 127.0.0.1:7401, peer: 127.0.0.1:7501}\n"
         "    - {id: 2, client: 127.0.0.1:7402, peer: 127.0.0.1:7502, admin: 127.0.0.1:7602}\n"
         "    - {id: 3, client: 127.0.0.1:7403, peer: 127.0.0.1:7503}\n" +
         std::string(extra);
}

// node.mode: leader_follower with the given member list (YAML lines under "members:").
std::string WithMembers(std::string_view members) {
  return "node:\n  id: 1\n  mode: leader_follower\ncluster:\n  members:\n" +
         std::string(members);
}

MemberConfig Member(uint64_t id, uint16_t client, uint16_t peer) {
  MemberConfig m;
  m.id = id;
  m.client = Address{"127.0.0.1", client};
  m.peer = Address{"127.0.0.1", peer};
  return m;
}

}  // namespace

TEST_CASE("cluster config: defaults of the cluster and raft sections", "[unit][config]") {
  Config c = Parse("");
  CHECK(c.cluster.name == "kvd");
  CHECK(c.cluster.members.empty());
  CHECK_FALSE(c.cluster.join);
  CHECK_FALSE(c.server.listen_set);
  CHECK_FALSE(c.server.admin_listen_set);
  const RaftConfig& r = c.raft;
  CHECK(r.election_timeout_ms == 1000);
  CHECK(r.heartbeat_interval_ms == 100);
  CHECK(r.replication == Replication::kQuorum);
  CHECK(r.failover == Failover::kAuto);
  CHECK(r.pre_vote);
  CHECK(r.check_quorum);
  CHECK_FALSE(r.lease_reads);
  CHECK(r.follower_writes == FollowerWrites::kRedirect);
  CHECK(r.default_read == ReadLevel::kLinearizable);
  CHECK(r.session_wait_ms == 1000);
  CHECK(r.snapshot_threshold_entries == 10000);
  CHECK(r.snapshot_trailing_entries == 1000);
  CHECK(r.max_append_entries == 256);
  CHECK(r.max_inflight_appends == 32);
  CHECK(Parse("cluster:\nraft: ~\n") == Config{});
  CHECK(Parse("cluster:\n  members:\n") == Config{});
}

TEST_CASE("cluster config: a leader_follower file sets every field", "[unit][config]") {
  Config c = Parse(Cluster(R"(  join: false
raft:
  election_timeout_ms: 2000
  heartbeat_interval_ms: 1000
  replication: semi_sync
  failover: manual
  pre_vote: false
  check_quorum: true
  lease_reads: true
  follower_writes: redirect
  default_read: session
  session_wait_ms: 0
  snapshot_threshold_entries: 0
  snapshot_trailing_entries: 100000000
  max_append_entries: 4096
  max_inflight_appends: 1
)"));
  CHECK(c.node.id == 2);
  CHECK(c.node.mode == Mode::kLeaderFollower);
  CHECK(c.cluster.name == "test");
  CHECK_FALSE(c.cluster.join);
  REQUIRE(c.cluster.members.size() == 3);
  MemberConfig second = Member(2, 7402, 7502);
  second.admin = Address{"127.0.0.1", 7602};
  second.has_admin = true;
  CHECK(c.cluster.members[0] == Member(1, 7401, 7501));
  CHECK(c.cluster.members[1] == second);
  CHECK(c.cluster.members[2] == Member(3, 7403, 7503));
  CHECK_FALSE(c.cluster.members[0].has_admin);
  CHECK(c.raft.election_timeout_ms == 2000);
  CHECK(c.raft.heartbeat_interval_ms == 1000);
  CHECK(c.raft.replication == Replication::kSemiSync);
  CHECK(c.raft.failover == Failover::kManual);
  CHECK_FALSE(c.raft.pre_vote);
  CHECK(c.raft.check_quorum);
  CHECK(c.raft.lease_reads);
  CHECK(c.raft.follower_writes == FollowerWrites::kRedirect);
  CHECK(c.raft.default_read == ReadLevel::kSession);
  CHECK(c.raft.session_wait_ms == 0);
  CHECK(c.raft.snapshot_threshold_entries == 0);
  CHECK(c.raft.snapshot_trailing_entries == 100000000);
  CHECK(c.raft.max_append_entries == 4096);
  CHECK(c.raft.max_inflight_appends == 1);
  CHECK(ValidateConfig(c).ok());
}

TEST_CASE("cluster config: every enum value of the raft section parses", "[unit][config]") {
  for (Replication v : {Replication::kQuorum, Replication::kSync, Replication::kSemiSync,
                        Replication::kAsync}) {
    std::string name(ReplicationName(v));
    CHECK(Parse("raft:\n  replication: " + name + "\n").raft.replication == v);
  }
  for (Failover v : {Failover::kAuto, Failover::kManual}) {
    std::string name(FailoverName(v));
    CHECK(Parse("raft:\n  failover: " + name + "\n").raft.failover == v);
  }
  for (ReadLevel v :
       {ReadLevel::kLinearizable, ReadLevel::kLeader, ReadLevel::kFollower, ReadLevel::kSession}) {
    std::string name(ReadLevelName(v));
    CHECK(Parse("raft:\n  default_read: " + name + "\n").raft.default_read == v);
  }
}

TEST_CASE("cluster config: server.listen and admin_listen record that the file set them",
          "[unit][config]") {
  Config listen = Parse("server:\n  listen: 127.0.0.1:9000\n");
  CHECK(listen.server.listen_set);
  CHECK_FALSE(listen.server.admin_listen_set);
  Config admin = Parse("server:\n  admin_listen: 127.0.0.1:9001\n");
  CHECK_FALSE(admin.server.listen_set);
  CHECK(admin.server.admin_listen_set);
  // Written with its default value: still set (the operator chose it).
  CHECK(Parse("server:\n  listen: 127.0.0.1:7379\n").server.listen_set);
}

TEST_CASE("cluster config: join lets a node start without members or outside them",
          "[unit][config]") {
  Config c = Parse("node:\n  mode: leader_follower\ncluster:\n  join: true\n");
  CHECK(c.cluster.join);
  CHECK(c.cluster.members.empty());
  Config outside = Parse(Cluster("  join: true\n", "4"));
  CHECK(outside.node.id == 4);
  CHECK(SelfMember(outside) == nullptr);
}

TEST_CASE("cluster config: cluster.name", "[unit][config]") {
  CHECK(Parse("cluster:\n  name: prod-eu_1.a\n").cluster.name == "prod-eu_1.a");
  CHECK(Parse("cluster:\n  name: " + std::string(64, 'n') + "\n").cluster.name ==
        std::string(64, 'n'));
  const std::string expected =
      "expected 1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-'";
  CHECK(ErrorOf("cluster:\n  name: my cluster\n") ==
        "cluster.name: \"my cluster\" is not allowed; " + expected);
  CHECK(ErrorOf("cluster:\n  name: \"\"\n") == "cluster.name: \"\" is not allowed; " + expected);
  CHECK(ErrorOf("cluster:\n  name: " + std::string(65, 'n') + "\n") ==
        "cluster.name: \"" + std::string(64, 'n') + "\"... (65 bytes) is not allowed; " +
            expected);
  CHECK(ErrorOf("cluster:\n  name: kvd/1\n") == "cluster.name: \"kvd/1\" is not allowed; " +
                                                    expected);
  CHECK(ErrorOf("cluster:\n  name:\n") == "cluster.name: " + expected + ", got an empty value");
}

TEST_CASE("cluster config: cluster.join is a boolean", "[unit][config]") {
  CHECK(ErrorOf("cluster:\n  join: yes\n") ==
        "cluster.join: \"yes\" is not allowed; expected true or false");
}

TEST_CASE("cluster config: cluster.members must be a sequence of mappings", "[unit][config]") {
  CHECK(ErrorOf("cluster:\n  members: {id: 1}\n") ==
        "cluster.members: expected a sequence of members, got a mapping");
  CHECK(ErrorOf("cluster:\n  members: 127.0.0.1:7401\n") ==
        "cluster.members: expected a sequence of members, got a scalar");
  CHECK(ErrorOf(WithMembers("    - 127.0.0.1:7401\n")) ==
        "cluster.members[0]: expected a mapping with id, client, peer and optionally admin and "
        "zone, got a scalar");
}

TEST_CASE("cluster config: a member entry names its missing fields", "[unit][config]") {
  CHECK(ErrorOf(WithMembers("    - {client: 127.0.0.1:7401}\n")) ==
        "cluster.members[0].id: is missing; expected an integer from 1 to 9223372036854775807\n"
        "cluster.members[0].peer: is missing; expected host:port");
  CHECK(ErrorOf(WithMembers("    - {id: 1, client: 127.0.0.1:7401, peer: 127.0.0.1:7501}\n"
                            "    - {id: 2, peer: 127.0.0.1:7502}\n")) ==
        "cluster.members[1].client: is missing; expected host:port");
}

TEST_CASE("cluster config: a bad value inside a member entry", "[unit][config]") {
  CHECK(ErrorOf(WithMembers("    - {id: 0, client: 127.0.0.1:7401, peer: 127.0.0.1:7501}\n")) ==
        "cluster.members[0].id: 0 is out of range; expected an integer from 1 to "
        "9223372036854775807");
  CHECK(ErrorOf(WithMembers("    - {id: 1, client: 127.0.0.1:7401, peer: 127.0.0.1:7501}\n"
                            "    - {id: 2, client: 127.0.0.1:7402, peer: localhost}\n")) ==
        "cluster.members[1].peer: \"localhost\" is not a valid address; expected host:port");
  CHECK(ErrorOf(WithMembers("    - {id: 1, client: [a], peer: 127.0.0.1:7501}\n")) ==
        "cluster.members[0].client: expected host:port, got a sequence");
  CHECK(ErrorOf(WithMembers(
            "    - {id: 1, client: 127.0.0.1:7401, peer: 127.0.0.1:7501, admin: 7601}\n")) ==
        "cluster.members[0].admin: \"7601\" is not a valid address; expected host:port "
        "(\":7601\" listens on all interfaces)");
}

TEST_CASE("cluster config: member addresses need a real port", "[unit][config]") {
  const std::string why = "; expected a fixed port, since other nodes and clients connect to it";
  CHECK(ErrorOf(WithMembers("    - {id: 1, client: 127.0.0.1:0, peer: 127.0.0.1:7501}\n")) ==
        "cluster.members[0].client: \"127.0.0.1:0\" has port 0" + why);
  CHECK(ErrorOf(WithMembers("    - {id: 1, client: 127.0.0.1:7401, peer: 127.0.0.1:0}\n")) ==
        "cluster.members[0].peer: \"127.0.0.1:0\" has port 0" + why);
  CHECK(ErrorOf(WithMembers(
            "    - {id: 1, client: 127.0.0.1:7401, peer: 127.0.0.1:7501, admin: \"[::1]:0\"}\n")) ==
        "cluster.members[0].admin: \"[::1]:0\" has port 0" + why);
}

TEST_CASE("cluster config: unknown and repeated fields in a member entry", "[unit][config]") {
  CHECK(ErrorOf(WithMembers(
            "    - {id: 1, client: 127.0.0.1:7401, peers: 127.0.0.1:7501}\n")) ==
        "cluster.members[0].peers: unknown field (did you mean \"peer\"?)\n"
        "cluster.members[0].peer: is missing; expected host:port");
  // A server field inside an entry is not pointed at the server section.
  CHECK(ErrorOf(WithMembers("    - {id: 1, client: 127.0.0.1:7401, peer: 127.0.0.1:7501, "
                            "listen: 127.0.0.1:1}\n")) ==
        "cluster.members[0].listen: unknown field");
  CHECK(ErrorOf(WithMembers("    - id: 1\n      id: 2\n      client: 127.0.0.1:7401\n"
                            "      peer: 127.0.0.1:7501\n")) ==
        "cluster.members[0].id: is given more than once; keep one");
}

TEST_CASE("cluster config: at most 64 members", "[unit][config]") {
  auto members = [](int count) {
    std::string text;
    for (int i = 1; i <= count; ++i) {
      text += "    - {id: " + std::to_string(i) + ", client: 127.0.0.1:" +
              std::to_string(10000 + i) + ", peer: 127.0.0.1:" + std::to_string(20000 + i) +
              "}\n";
    }
    return text;
  };
  CHECK(Parse(WithMembers(members(64))).cluster.members.size() == 64);
  CHECK(ErrorOf(WithMembers(members(65))) ==
        "cluster.members: 65 members is too many; expected at most 64");
}

TEST_CASE("cluster config: fields in the wrong place point at the cluster and raft sections",
          "[unit][config]") {
  CHECK(ErrorOf("members: []\n") == "members: unknown field (did you mean \"cluster.members\"?)");
  CHECK(ErrorOf("rfat:\n  pre_vote: true\n") == "rfat: unknown field (did you mean \"raft\"?)");
  CHECK(ErrorOf("raft:\n  heartbeat_interval: 100\n") ==
        "raft.heartbeat_interval: unknown field (did you mean \"heartbeat_interval_ms\"?)");
  CHECK(ErrorOf("node:\n  election_timeout_ms: 100\n") ==
        "node.election_timeout_ms: unknown field (did you mean \"raft.election_timeout_ms\"?)");
}

TEST_CASE("cluster config: a value outside a raft enum", "[unit][config]") {
  CHECK(ErrorOf("raft:\n  replication: majority\n") ==
        "raft.replication: \"majority\" is not allowed; expected one of: quorum, sync, "
        "semi_sync, async");
  CHECK(ErrorOf("raft:\n  failover: automatic\n") ==
        "raft.failover: \"automatic\" is not allowed; expected one of: auto, manual");
  CHECK(ErrorOf("raft:\n  default_read: strong\n") ==
        "raft.default_read: \"strong\" is not allowed; expected one of: linearizable, leader, "
        "follower, session");
  CHECK(ErrorOf("raft:\n  follower_writes: proxy\n") ==
        "raft.follower_writes: \"proxy\" is not allowed; expected one of: redirect, "
        "forward");
  CHECK(ErrorOf("raft:\n  pre_vote: on\n") ==
        "raft.pre_vote: \"on\" is not allowed; expected true or false");
  CHECK(ErrorOf("raft:\n  check_quorum: 1\n") ==
        "raft.check_quorum: \"1\" is not allowed; expected true or false");
  CHECK(ErrorOf("raft:\n  lease_reads: [true]\n") ==
        "raft.lease_reads: expected true or false, got a sequence");
}

TEST_CASE("cluster config: follower_writes accepts redirect and forward", "[unit][config]") {
  Result<Config> c = ParseConfig("raft:\n  follower_writes: forward\n");
  REQUIRE(c.ok());
  CHECK(c->raft.follower_writes == FollowerWrites::kForward);
  CHECK(ValidateConfig(*c).ok());
}

TEST_CASE("cluster config: cross-field: leader_follower needs members", "[unit][config]") {
  CHECK(ErrorOf("node:\n  mode: leader_follower\n") ==
        "cluster.members: is empty; node.mode leader_follower needs the members the cluster "
        "starts with, or set cluster.join: true to join an existing cluster");
  CHECK(ErrorOf("node:\n  mode: leader_follower\ncluster:\n  members: []\n") ==
        "cluster.members: is empty; node.mode leader_follower needs the members the cluster "
        "starts with, or set cluster.join: true to join an existing cluster");
}

TEST_CASE("cluster config: cross-field: node.id must be a member", "[unit][config]") {
  CHECK(ErrorOf(Cluster("", "4")) ==
        "node.id: 4 is not in cluster.members (ids 1, 2, 3); add it, or set cluster.join: true "
        "to join an existing cluster");
  // Every member id is accepted.
  for (const char* id : {"1", "2", "3"}) CHECK(ParseConfig(Cluster("", id)).ok());
}

TEST_CASE("cluster config: cross-field: member ids are unique", "[unit][config]") {
  CHECK(ErrorOf(WithMembers("    - {id: 1, client: 127.0.0.1:7401, peer: 127.0.0.1:7501}\n"
                            "    - {id: 2, client: 127.0.0.1:7402, peer: 127.0.0.1:7502}\n"
                            "    - {id: 1, client: 127.0.0.1:7403, peer: 127.0.0.1:7503}\n")) ==
        "cluster.members[2].id: 1 is already the id of cluster.members[0]; expected unique ids");
}

TEST_CASE("cluster config: cross-field: member addresses are unique", "[unit][config]") {
  const std::string own = "; expected an address of its own";
  // Client addresses.
  CHECK(ErrorOf(WithMembers("    - {id: 1, client: 127.0.0.1:7401, peer: 127.0.0.1:7501}\n"
                            "    - {id: 2, client: 127.0.0.1:7401, peer: 127.0.0.1:7502}\n")) ==
        "cluster.members[1].client: \"127.0.0.1:7401\" is already used by "
        "cluster.members[0].client" + own);
  // Peer addresses (host names compare without case).
  CHECK(ErrorOf(WithMembers("    - {id: 1, client: db1:7401, peer: db1:7501}\n"
                            "    - {id: 2, client: db2:7401, peer: DB1:7501}\n")) ==
        "cluster.members[1].peer: \"DB1:7501\" is already used by cluster.members[0].peer" + own);
  // Across kinds: a peer port on another member's client port, an admin on a peer.
  CHECK(ErrorOf(WithMembers(
            "    - {id: 1, client: 127.0.0.1:7401, peer: 127.0.0.1:7501}\n"
            "    - {id: 2, client: 127.0.0.1:7402, peer: 127.0.0.1:7401, "
            "admin: 127.0.0.1:7501}\n")) ==
        "cluster.members[1].peer: \"127.0.0.1:7401\" is already used by "
        "cluster.members[0].client" + own + "\n"
        "cluster.members[1].admin: \"127.0.0.1:7501\" is already used by "
        "cluster.members[0].peer" + own);
  // Same port on different hosts is fine.
  CHECK(ParseConfig(WithMembers("    - {id: 1, client: 10.0.0.1:7401, peer: 10.0.0.1:7501}\n"
                                "    - {id: 2, client: 10.0.0.2:7401, peer: 10.0.0.2:7501}\n"))
            .ok());
}

TEST_CASE("cluster config: cross-field: members only in a clustered mode", "[unit][config]") {
  CHECK(ErrorOf("cluster:\n  members:\n"
                "    - {id: 1, client: 127.0.0.1:7401, peer: 127.0.0.1:7501}\n") ==
        "cluster.members: only used when node.mode is leader_follower, multi_leader or dynamo "
        "(node.mode is single); remove the members or change node.mode");
  // The raft section (and cluster name / join) are allowed and ignored in single mode.
  CHECK(ParseConfig("raft:\n  replication: async\n  failover: manual\ncluster:\n  name: x\n")
            .ok());
}

TEST_CASE("cluster config: cross-field: heartbeats fit twice in an election timeout",
          "[unit][config]") {
  CHECK(ErrorOf("raft:\n  heartbeat_interval_ms: 600\n") ==
        "raft.heartbeat_interval_ms: 600 is too long for raft.election_timeout_ms 1000; "
        "expected at most 500 (half of it), so that followers hear at least two heartbeats per "
        "election timeout and do not depose a healthy leader");
  CHECK(ErrorOf("raft:\n  election_timeout_ms: 50\n  heartbeat_interval_ms: 26\n") ==
        "raft.heartbeat_interval_ms: 26 is too long for raft.election_timeout_ms 50; expected at "
        "most 25 (half of it), so that followers hear at least two heartbeats per election "
        "timeout and do not depose a healthy leader");
  // Exactly half is enough.
  CHECK(ParseConfig("raft:\n  election_timeout_ms: 50\n  heartbeat_interval_ms: 25\n").ok());
  CHECK(ParseConfig("raft:\n  heartbeat_interval_ms: 500\n").ok());
}

TEST_CASE("cluster config: cross-field: lease reads need check_quorum", "[unit][config]") {
  CHECK(ErrorOf("raft:\n  lease_reads: true\n  check_quorum: false\n") ==
        "raft.lease_reads: true requires raft.check_quorum: true; a leader that does not step "
        "down when it loses its quorum could serve stale reads from its lease");
  CHECK(ParseConfig("raft:\n  lease_reads: true\n").ok());
  CHECK(ParseConfig("raft:\n  lease_reads: false\n  check_quorum: false\n").ok());
}

TEST_CASE("cluster config: cross-field rules skip fields that are already wrong",
          "[unit][config]") {
  // A bad member entry: the node.id rule would otherwise call node 1 a non-member.
  CHECK(ErrorOf(WithMembers("    - {id: x, client: 127.0.0.1:7401, peer: 127.0.0.1:7501}\n")) ==
        "cluster.members[0].id: \"x\" is not an integer");
  // A misspelt members list is not reported again as an empty one.
  CHECK(ErrorOf("node:\n  mode: leader_follower\ncluster:\n  membres: []\n") ==
        "cluster.membres: unknown field (did you mean \"members\"?)");
  // A bad mode: no cluster rule can know which mode was meant.
  CHECK(ErrorOf("node:\n  mode: dynamic\ncluster:\n  members:\n"
                "    - {id: 1, client: 127.0.0.1:7401, peer: 127.0.0.1:7501}\n") ==
        "node.mode: \"dynamic\" is not allowed; expected one of: single, leader_follower, "
        "multi_leader, dynamo");
  // A bad timing is judged against nothing the operator did not write.
  CHECK(ErrorOf("raft:\n  election_timeout_ms: 10\n  heartbeat_interval_ms: 100\n") ==
        "raft.election_timeout_ms: 10 is out of range; expected an integer from 50 to 60000");
  CHECK(ErrorOf("raft:\n  lease_reads: true\n  check_quorum: no\n") ==
        "raft.check_quorum: \"no\" is not allowed; expected true or false");
  // A bad node.id is not also reported as a non-member.
  CHECK(ErrorOf(Cluster("", "0")) ==
        "node.id: 0 is out of range; expected an integer from 1 to 9223372036854775807");
}

TEST_CASE("cluster config: SelfMember finds node.id in cluster.members", "[unit][config]") {
  Config c = Parse(Cluster());
  const MemberConfig* self = SelfMember(c);
  REQUIRE(self != nullptr);
  CHECK(self == &c.cluster.members[1]);
  CHECK(self->id == 2);
  c.node.id = 3;
  REQUIRE(SelfMember(c) != nullptr);
  CHECK(SelfMember(c)->client == Address{"127.0.0.1", 7403});
  c.node.id = 9;
  CHECK(SelfMember(c) == nullptr);
  CHECK(SelfMember(Config{}) == nullptr);
}

TEST_CASE("cluster config: ApplyMemberAddresses listens where the member entry says",
          "[unit][config]") {
  SECTION("neither address set: both come from the entry") {
    Config c = Parse(Cluster());
    ApplyMemberAddresses(&c);
    CHECK(c.server.listen == Address{"127.0.0.1", 7402});
    CHECK(c.server.admin_listen == Address{"127.0.0.1", 7602});
    CHECK(ValidateConfig(c).ok());
  }
  SECTION("a member without admin keeps the admin address") {
    Config c = Parse(Cluster("", "1"));
    ApplyMemberAddresses(&c);
    CHECK(c.server.listen == Address{"127.0.0.1", 7401});
    CHECK(c.server.admin_listen == Address{"127.0.0.1", 7380});
  }
  SECTION("addresses set by the file (or a flag) win") {
    Config c = Parse(Cluster("server:\n  listen: 0.0.0.0:9000\n  admin_listen: 0.0.0.0:9001\n"));
    ApplyMemberAddresses(&c);
    CHECK(c.server.listen == Address{"0.0.0.0", 9000});
    CHECK(c.server.admin_listen == Address{"0.0.0.0", 9001});
    Config only_admin = Parse(Cluster("server:\n  admin_listen: 0.0.0.0:9001\n"));
    ApplyMemberAddresses(&only_admin);
    CHECK(only_admin.server.listen == Address{"127.0.0.1", 7402});
    CHECK(only_admin.server.admin_listen == Address{"0.0.0.0", 9001});
  }
  SECTION("--node-id picks another entry") {
    Config c = Parse(Cluster());
    c.node.id = 3;
    ApplyMemberAddresses(&c);
    CHECK(c.server.listen == Address{"127.0.0.1", 7403});
    CHECK(c.server.admin_listen == Address{"127.0.0.1", 7380});
  }
  SECTION("nothing changes outside a cluster or for a non-member") {
    Config joining = Parse(Cluster("  join: true\n", "7"));
    Config before = joining;
    ApplyMemberAddresses(&joining);
    CHECK(joining == before);
    Config single;
    single.cluster.members.push_back(Member(1, 7401, 7501));
    before = single;
    ApplyMemberAddresses(&single);
    CHECK(single == before);
  }
  SECTION("a clash created by the entry is caught by ValidateConfig") {
    // server.listen set by the file to the member's admin address.
    Config c = Parse(Cluster("server:\n  listen: 127.0.0.1:7602\n"));
    ApplyMemberAddresses(&c);
    CHECK(ValidateConfig(c).message() ==
          "server.admin_listen: \"127.0.0.1:7602\" clashes with server.listen "
          "\"127.0.0.1:7602\"; expected a different address while server.admin_enabled is "
          "true");
  }
}

TEST_CASE("cluster config: ValidateConfig re-checks the cluster after overrides",
          "[unit][config]") {
  Config c = Parse(Cluster());
  CHECK(ValidateConfig(c).ok());

  SECTION("--node-id of a non-member") {
    c.node.id = 4;
    CHECK(ValidateConfig(c).message() ==
          "node.id: 4 is not in cluster.members (ids 1, 2, 3); add it, or set cluster.join: "
          "true to join an existing cluster");
  }
  SECTION("--node-id out of range is reported once") {
    c.node.id = 0;
    CHECK(ValidateConfig(c).message() ==
          "node.id: 0 is out of range; expected an integer from 1 to 9223372036854775807");
  }
  SECTION("hand-built members") {
    c.cluster.members[0].client.port = 0;
    c.cluster.members[2].id = 0;
    CHECK(ValidateConfig(c).message() ==
          "cluster.members[0].client: \"127.0.0.1:0\" has port 0; expected a fixed port, since "
          "other nodes and clients connect to it\n"
          "cluster.members[2].id: 0 is out of range; expected an integer from 1 to "
          "9223372036854775807");
  }
  SECTION("too many members") {
    for (uint64_t id = 4; id <= 65; ++id) {
      c.cluster.members.push_back(Member(id, static_cast<uint16_t>(10000 + id),
                                         static_cast<uint16_t>(20000 + id)));
    }
    CHECK(ValidateConfig(c).message() ==
          "cluster.members: 65 members is too many; expected at most 64");
  }
  SECTION("a bad cluster name, raft timing and lease") {
    c.cluster.name = "a b";
    c.raft.heartbeat_interval_ms = 1000;
    c.raft.lease_reads = true;
    c.raft.check_quorum = false;
    CHECK(ValidateConfig(c).message() ==
          "cluster.name: \"a b\" is not allowed; expected 1 to 64 characters from A-Z, a-z, "
          "0-9, '.', '_' and '-'\n"
          "raft.heartbeat_interval_ms: 1000 is too long for raft.election_timeout_ms 1000; "
          "expected at most 500 (half of it), so that followers hear at least two heartbeats "
          "per election timeout and do not depose a healthy leader\n"
          "raft.lease_reads: true requires raft.check_quorum: true; a leader that does not "
          "step down when it loses its quorum could serve stale reads from its lease");
  }
  SECTION("members in single mode") {
    c.node.mode = Mode::kSingle;
    CHECK(ValidateConfig(c).message() ==
          "cluster.members: only used when node.mode is leader_follower, multi_leader or dynamo "
          "(node.mode is single); remove the members or change node.mode");
  }
}

TEST_CASE("cluster config: every file in config/ is valid", "[unit][config]") {
  std::filesystem::path dir = std::filesystem::path(KVD_SOURCE_DIR) / "config";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") continue;
    INFO(entry.path().string());
    ++files;
    Config c = Parse(ReadFile(entry.path()));
    ApplyMemberAddresses(&c);
    CHECK(ValidateConfig(c).ok());
  }
  CHECK(files >= 2);
}

TEST_CASE("cluster config: config/leader-follower-3.yaml serves all three nodes",
          "[unit][config]") {
  std::string text =
      ReadFile(std::filesystem::path(KVD_SOURCE_DIR) / "config" / "leader-follower-3.yaml");
  Config c = Parse(text);
  CHECK(c.node.mode == Mode::kLeaderFollower);
  CHECK(c.node.id == 1);
  CHECK(c.node.data_dir == "./data/lf-1");
  CHECK(c.cluster.name == "kvd-demo");
  CHECK_FALSE(c.cluster.join);
  CHECK(c.storage.durability == Durability::kAlways);
  // The file leaves server.listen / admin_listen to the member entries.
  CHECK_FALSE(c.server.listen_set);
  CHECK_FALSE(c.server.admin_listen_set);
  REQUIRE(c.cluster.members.size() == 3);
  for (uint16_t i = 0; i < 3; ++i) {
    INFO("member " << i);
    const MemberConfig& m = c.cluster.members[i];
    CHECK(m.id == i + 1u);
    CHECK(m.client == Address{"127.0.0.1", static_cast<uint16_t>(7401 + i)});
    CHECK(m.peer == Address{"127.0.0.1", static_cast<uint16_t>(7501 + i)});
    CHECK(m.has_admin);
    CHECK(m.admin == Address{"127.0.0.1", static_cast<uint16_t>(7601 + i)});
    // As `kvd --config config/leader-follower-3.yaml --node-id N --data-dir ...` does.
    Config node = c;
    node.node.id = m.id;
    ApplyMemberAddresses(&node);
    CHECK(node.server.listen == m.client);
    CHECK(node.server.admin_listen == m.admin);
    CHECK(ValidateConfig(node).ok());
  }
  // Every raft field is written out with its default.
  CHECK(c.raft == RaftConfig{});
  for (const char* key :
       {"election_timeout_ms:", "heartbeat_interval_ms:", "replication:", "failover:",
        "pre_vote:", "check_quorum:", "lease_reads:", "follower_writes:", "default_read:",
        "session_wait_ms:", "snapshot_threshold_entries:", "snapshot_trailing_entries:",
        "max_append_entries:", "max_inflight_appends:", "durability:"}) {
    INFO(key);
    CHECK(text.find(key) != std::string::npos);
  }
}

}  // namespace kvd::config
