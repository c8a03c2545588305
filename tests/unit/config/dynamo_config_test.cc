// Unit tests for the dynamo section of common/config, the zone of a member, and the quorum
// helpers (QuorumCount, ParseQuorum, QuorumName).
//
// Goal: a dynamo file is read exactly as written, missing fields take the documented
// defaults, and every mistake an operator can make -- a quorum that is not one of one,
// quorum, all or 1..16, a number above dynamo.replicas, more replicas than nodes, a
// resolver dynamo does not offer, a zone too long -- is reported as one line naming the
// field, the value and what is allowed. The shipped config/dynamo-5.yaml must parse for
// every one of its nodes. Method as in multi_leader_config_test.cc. A failure means kvd
// would misread or wrongly accept a dynamo file (a key with more replicas than nodes, a
// quorum it can never reach), or a message changed: then update docs/OPERATIONS.md too.
#include <catch2/catch.hpp>
#include <string>
#include <string_view>

#include "common/config/config.h"
#include "tests/unit/config/config_test_util.h"

namespace kvd::config {
namespace {

// node.mode: dynamo with `nodes` members; `extra` is appended (more sections).
std::string Dynamo(std::string_view extra = "", int nodes = 3) {
  std::string text = "node:\n  id: 1\n  mode: dynamo\ncluster:\n  members:\n";
  for (int i = 1; i <= nodes; ++i) {
    text += "    - {id: " + std::to_string(i) + ", client: 127.0.0.1:74" + std::to_string(10 + i) +
            ", peer: 127.0.0.1:75" + std::to_string(10 + i) + "}\n";
  }
  return text + std::string(extra);
}

TEST_CASE("dynamo config: defaults", "[unit][config]") {
  const Config c = Parse(Dynamo());
  CHECK(c.node.mode == Mode::kDynamo);
  CHECK(IsClustered(Mode::kDynamo));
  CHECK(ModeName(Mode::kDynamo) == "dynamo");
  const DynamoConfig& d = c.dynamo;
  CHECK(d.replicas == 3);
  CHECK(d.read_quorum == kQuorumMajority);
  CHECK(d.write_quorum == kQuorumMajority);
  CHECK(d.tokens_per_node == 256);
  CHECK(d.request_timeout_ms == 2000);
  CHECK(d.read_repair == ReadRepair::kBackground);
  CHECK(d.sloppy_quorum);
  CHECK(d.max_hints_per_target == 100000);
  CHECK(d.max_hint_bytes_per_target == 64u << 20);
  CHECK(d.hint_max_age_ms == 10'800'000);
  CHECK(d.hint_replay_per_second == 1000);
  CHECK(d.tombstone_grace_ms == 86'400'000);
  CHECK(d.anti_entropy_interval_ms == 1000);
  CHECK(d.merkle_depth == 10);
  CHECK(d.heartbeat_interval_ms == 200);
  CHECK(d.phi_threshold == 8);
  REQUIRE(d.resolvers.size() == 1);
  CHECK(d.resolvers[0].resolver == ResolverKind::kLww);
}

TEST_CASE("dynamo config: every field is read as written", "[unit][config]") {
  const Config c = Parse(Dynamo(R"(dynamo:
  replicas: 2
  read_quorum: one
  write_quorum: all
  tokens_per_node: 16
  request_timeout_ms: 750
  read_repair: before_reply
  sloppy_quorum: false
  max_hints_per_target: 0
  max_hint_bytes_per_target: 4096
  hint_max_age_ms: 0
  hint_replay_per_second: 5
  tombstone_grace_ms: 5000
  anti_entropy_interval_ms: 0
  merkle_depth: 4
  max_clock_offset_ms: 20
  heartbeat_interval_ms: 50
  phi_threshold: 12
  resolvers:
    - {prefix: "", resolver: lww}
    - {prefix: "cart/", resolver: siblings}
)"));
  const DynamoConfig& d = c.dynamo;
  CHECK(d.replicas == 2);
  CHECK(d.read_quorum == 1);
  CHECK(d.write_quorum == kQuorumAll);
  CHECK(d.tokens_per_node == 16);
  CHECK(d.request_timeout_ms == 750);
  CHECK(d.read_repair == ReadRepair::kBeforeReply);
  CHECK_FALSE(d.sloppy_quorum);
  CHECK(d.max_hints_per_target == 0);
  CHECK(d.max_hint_bytes_per_target == 4096);
  CHECK(d.hint_max_age_ms == 0);
  CHECK(d.hint_replay_per_second == 5);
  CHECK(d.tombstone_grace_ms == 5000);
  CHECK(d.anti_entropy_interval_ms == 0);
  CHECK(d.merkle_depth == 4);
  CHECK(d.max_clock_offset_ms == 20);
  CHECK(d.heartbeat_interval_ms == 50);
  CHECK(d.phi_threshold == 12);
  REQUIRE(d.resolvers.size() == 2);
  CHECK(ResolverFor(d.resolvers, "cart/9") == ResolverKind::kSiblings);
  CHECK(ResolverFor(d.resolvers, "user/9") == ResolverKind::kLww);
  CHECK(Parse(Dynamo("dynamo:\n  read_quorum: 2\n")).dynamo.read_quorum == 2);
}

TEST_CASE("dynamo config: quorums", "[unit][config]") {
  CHECK(ErrorOf(Dynamo("dynamo:\n  read_quorum: most\n")) ==
        "dynamo.read_quorum: \"most\" is not allowed; expected one, quorum, all or a number from "
        "1 to 16");
  CHECK(ErrorOf(Dynamo("dynamo:\n  write_quorum: 0\n")) ==
        "dynamo.write_quorum: \"0\" is not allowed; expected one, quorum, all or a number from "
        "1 to 16");
  CHECK(ErrorOf(Dynamo("dynamo:\n  write_quorum: 4\n")) ==
        "dynamo.write_quorum: 4 is more than dynamo.replicas (3); expected one, quorum, all or a "
        "number from 1 to 3");
  // The numbers' rule holds in every mode (the section is checked everywhere).
  CHECK(ErrorOf("dynamo:\n  replicas: 2\n  read_quorum: 3\n") ==
        "dynamo.read_quorum: 3 is more than dynamo.replicas (2); expected one, quorum, all or a "
        "number from 1 to 2");

  CHECK(QuorumCount(kQuorumMajority, 3) == 2);
  CHECK(QuorumCount(kQuorumMajority, 4) == 3);
  CHECK(QuorumCount(kQuorumMajority, 1) == 1);
  CHECK(QuorumCount(kQuorumAll, 5) == 5);
  CHECK(QuorumCount(1, 3) == 1);
  CHECK(QuorumCount(7, 3) == 3);  // clamped (the request path refuses it first)
  uint32_t q = 0;
  CHECK(ParseQuorum("one", &q));
  CHECK(q == 1);
  CHECK(ParseQuorum("16", &q));
  CHECK(q == 16);
  CHECK_FALSE(ParseQuorum("17", &q));
  CHECK_FALSE(ParseQuorum("2x", &q));
  CHECK_FALSE(ParseQuorum("", &q));
  CHECK(QuorumName(kQuorumMajority) == "quorum");
  CHECK(QuorumName(kQuorumAll) == "all");
  CHECK(QuorumName(1) == "one");
  CHECK(QuorumName(3) == "3");
}

TEST_CASE("dynamo config: ranges, the ring and resolvers", "[unit][config]") {
  CHECK(ErrorOf(Dynamo("dynamo:\n  replicas: 0\n")) ==
        "dynamo.replicas: 0 is out of range; expected an integer from 1 to 16");
  CHECK(ErrorOf(Dynamo("dynamo:\n  replicas: 3\n", 2)) ==
        "dynamo.replicas: 3 is more than the 2 nodes of cluster.members; a key cannot have more "
        "replicas than there are nodes");
  CHECK(ErrorOf(Dynamo("dynamo:\n  tokens_per_node: 5000\n")) ==
        "dynamo.tokens_per_node: 5000 is out of range; expected an integer from 1 to 4096");
  CHECK(ErrorOf(Dynamo("dynamo:\n  hint_max_age_ms: 2592000001\n")) ==
        "dynamo.hint_max_age_ms: 2592000001 is out of range; expected an integer from 0 to "
        "2592000000");
  // A tombstone must outlive every hint (with sloppy quorum), or a late hint could bring a
  // deleted value back.
  CHECK(ErrorOf(Dynamo("dynamo:\n  tombstone_grace_ms: 3600000\n")) ==
        "dynamo.tombstone_grace_ms: 3600000 is not more than dynamo.hint_max_age_ms (10800000); "
        "with sloppy_quorum on, a hint kept longer than a tombstone would bring the deleted value "
        "back: set a longer grace, a shorter non-zero hint_max_age_ms, or 0 to never collect "
        "tombstones");
  CHECK(ErrorOf(Dynamo("dynamo:\n  hint_max_age_ms: 0\n")) ==
        "dynamo.tombstone_grace_ms: 86400000 is not more than dynamo.hint_max_age_ms (0, no "
        "limit); with sloppy_quorum on, a hint kept longer than a tombstone would bring the "
        "deleted value back: set a longer grace, a shorter non-zero hint_max_age_ms, or 0 to "
        "never collect tombstones");
  CHECK(Parse(Dynamo("dynamo:\n  hint_max_age_ms: 0\n  tombstone_grace_ms: 0\n"))
            .dynamo.tombstone_grace_ms == 0);
  CHECK(Parse(Dynamo("dynamo:\n  sloppy_quorum: false\n  tombstone_grace_ms: 1000\n"))
            .dynamo.tombstone_grace_ms == 1000);
  // Without anti-entropy nothing is collected: no constraint.
  CHECK(Parse(Dynamo("dynamo:\n  anti_entropy_interval_ms: 0\n  hint_max_age_ms: 0\n"))
            .dynamo.hint_max_age_ms == 0);
  CHECK(ErrorOf(Dynamo("dynamo:\n  tombstone_grace_ms: 31536000001\n")) ==
        "dynamo.tombstone_grace_ms: 31536000001 is out of range; expected an integer from 0 to "
        "31536000000");
  CHECK(ErrorOf(Dynamo("dynamo:\n  merkle_depth: 20\n")) ==
        "dynamo.merkle_depth: 20 is out of range; expected an integer from 4 to 16");
  CHECK(ErrorOf(Dynamo("dynamo:\n  read_repair: never\n")) ==
        "dynamo.read_repair: \"never\" is not allowed; expected one of: background, before_reply");
  CHECK(ErrorOf(Dynamo("dynamo:\n  resolvers:\n    - {prefix: \"n/\", resolver: counter}\n")) ==
        "dynamo.resolvers[0].resolver: \"counter\" is not available in dynamo mode; expected lww "
        "or siblings");
  CHECK(ErrorOf(Dynamo("dynamo:\n  resolvers:\n    - {prefix: a, resolver: lww}\n"
                       "    - {prefix: a, resolver: siblings}\n")) ==
        "dynamo.resolvers[1].prefix: duplicate prefix \"a\" (also resolvers[0]); expected each "
        "prefix at most once");
  CHECK(ErrorOf(Dynamo("dynamo:\n  replicas: 2\n  bogus: 1\n")).starts_with("dynamo.bogus: unknown field"));
}

TEST_CASE("dynamo config: member zones", "[unit][config]") {
  const Config c = Parse(
      "node:\n  mode: dynamo\ncluster:\n  members:\n"
      "    - {id: 1, client: 127.0.0.1:7411, peer: 127.0.0.1:7511, zone: eu-1a}\n"
      "    - {id: 2, client: 127.0.0.1:7412, peer: 127.0.0.1:7512, zone: eu-1b}\n"
      "    - {id: 3, client: 127.0.0.1:7413, peer: 127.0.0.1:7513}\n");
  CHECK(c.cluster.members[0].zone == "eu-1a");
  CHECK(c.cluster.members[1].zone == "eu-1b");
  CHECK(c.cluster.members[2].zone.empty());
  CHECK(ErrorOf("node:\n  mode: dynamo\ncluster:\n  members:\n"
                "    - {id: 1, client: 127.0.0.1:7411, peer: 127.0.0.1:7511, zone: " +
                std::string(65, 'z') + "}\n") ==
        "cluster.members[0].zone: \"" + std::string(64, 'z') +
            "\"... (65 bytes) is too long; expected at most 64 bytes");
  Config bad = c;
  bad.cluster.members[0].zone = std::string(65, 'z');
  CHECK_FALSE(ValidateConfig(bad).ok());
}

TEST_CASE("dynamo config: the shipped config/dynamo-5.yaml", "[unit][config]") {
  const std::string text = ReadFile(std::filesystem::path(KVD_SOURCE_DIR) / "config/dynamo-5.yaml");
  const Config c = Parse(text);
  CHECK(c.node.mode == Mode::kDynamo);
  CHECK(c.cluster.members.size() == 5);
  CHECK(c.dynamo.replicas == 3);
  CHECK(QuorumCount(c.dynamo.read_quorum, c.dynamo.replicas) +
            QuorumCount(c.dynamo.write_quorum, c.dynamo.replicas) >
        c.dynamo.replicas);
  for (uint64_t id = 1; id <= 5; ++id) {
    Config node = c;
    node.node.id = id;
    ApplyMemberAddresses(&node);
    CHECK(ValidateConfig(node).ok());
  }
}

}  // namespace
}  // namespace kvd::config
