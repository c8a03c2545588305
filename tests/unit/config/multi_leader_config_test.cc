// Unit tests for the multi_leader section of common/config and the multi_leader mode.
//
// Goal: a multi_leader file is read exactly as written (propagation, hub, the resolver
// rules in order, every limit), missing fields take the documented defaults, the mode
// obeys the same cluster rules as leader_follower (members, node.id, ApplyMemberAddresses),
// and every mistake an operator can make in the section -- a value out of range, a
// malformed or duplicated resolver rule, a star without a member as hub, a window smaller
// than a batch -- is reported as one line naming the field, the value and what is
// allowed. ResolverFor, which picks a key's resolver at run time, is checked for
// longest-prefix matching. Method as in config_test.cc and cluster_config_test.cc: small
// YAML documents compared against the whole error message, ValidateConfig on Configs
// changed after parsing, and the shipped config/multi-leader-3.yaml. A failure means kvd
// would misread or wrongly reject a multi_leader file, pick the wrong resolver for a key,
// or an error message changed: if intended, update the text here and in
// docs/OPERATIONS.md.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/config.h"
#include "tests/unit/config/config_test_util.h"

namespace kvd::config {
namespace {

// node.mode: multi_leader with three members; `extra` is appended (more sections).
std::string MultiLeader(std::string_view extra = "", std::string_view node_id = "1") {
  return std::string("node:\n  id: ") + std::string(node_id) +
         "\n  mode: multi_leader\n"
         "cluster:\n"
         "  members:\n"
         "    - {id: 1, client: 127.0.0.1:7411, peer: 127.0.0.1:7511}\n"
         "    - {id: 2, client: 127.0.0.1:7412, peer: 127.0.0.1:7512, admin: 127.0.0.1:7612}\n"
         "    - {id: 3, client: 127.0.0.1:7413, peer: 127.0.0.1:7513}\n" +
         std::string(extra);
}

// A multi_leader section holding only `resolvers:` followed by `entries` (YAML lines).
std::string Resolvers(std::string_view entries) {
  return "multi_leader:\n  resolvers:\n" + std::string(entries);
}

// `count` resolver entries with distinct prefixes.
std::string ManyResolvers(int count) {
  std::string text;
  for (int i = 0; i < count; ++i) {
    text += "    - {prefix: \"p" + std::to_string(i) + "/\", resolver: lww}\n";
  }
  return text;
}

ResolverRule Rule(std::string prefix, ResolverKind resolver) {
  return ResolverRule{std::move(prefix), resolver};
}

struct IntField {
  const char* key;  // in the multi_leader section
  uint64_t min;
  uint64_t max;
};

// Must match the table at the top of common/config/config.cc and docs/OPERATIONS.md.
const IntField kIntFields[] = {
    {"hub", 0, 9223372036854775807u},         {"max_siblings", 1, 1024},
    {"max_clock_offset_ms", 1, 3600000},      {"resend_interval_ms", 10, 60000},
    {"max_batch_changes", 1, 4096},           {"window_changes", 1, 1048576},
    {"log_retention_changes", 1, 1000000000}, {"session_wait_ms", 0, 60000},
    {"stability_interval_ms", 10, 60000},     {"tombstone_grace_ms", 0, 31536000000u},
};

// A multi_leader section from key -> value, starting from values that satisfy the window
// rule whatever single field a test then changes.
std::string Section(const std::map<std::string, std::string>& changes) {
  std::map<std::string, std::string> fields = {{"max_batch_changes", "1"},
                                               {"window_changes", "1048576"}};
  for (const auto& [key, value] : changes) fields[key] = value;
  std::string yaml = "multi_leader:\n";
  for (const auto& [key, value] : fields) yaml += "  " + key + ": " + value + "\n";
  return yaml;
}

const std::string kStarWhy =
    "expected the id of the member that relays every change, since multi_leader.propagation "
    "is star";

}  // namespace

TEST_CASE("multi_leader config: defaults", "[unit][config]") {
  const MultiLeaderConfig& m = Config{}.multi_leader;
  CHECK(m.propagation == Propagation::kAllToAll);
  CHECK(m.hub == 0);
  REQUIRE(m.resolvers.size() == 1);
  CHECK(m.resolvers[0] == Rule("", ResolverKind::kLww));
  CHECK(m.max_siblings == 16);
  CHECK(m.max_clock_offset_ms == 500);
  CHECK(m.resend_interval_ms == 200);
  CHECK(m.max_batch_changes == 256);
  CHECK(m.window_changes == 1024);
  CHECK(m.log_retention_changes == 1000000);
  CHECK(m.session_wait_ms == 1000);
  CHECK(m.stability_interval_ms == 1000);
  CHECK(m.tombstone_grace_ms == 3600000);
  // An absent or empty section is the defaults, in any mode.
  CHECK(Parse("").multi_leader == MultiLeaderConfig{});
  CHECK(Parse("multi_leader:\n") == Config{});
  CHECK(Parse("multi_leader: ~\n") == Config{});
  CHECK(Parse("multi_leader: {}\n") == Config{});
  CHECK(Parse(MultiLeader()).multi_leader == MultiLeaderConfig{});
}

TEST_CASE("multi_leader config: mode, propagation and resolver names", "[unit][config]") {
  CHECK(ModeName(Mode::kMultiLeader) == "multi_leader");
  CHECK(IsClustered(Mode::kMultiLeader));
  CHECK(PropagationName(Propagation::kAllToAll) == "all_to_all");
  CHECK(PropagationName(Propagation::kRing) == "ring");
  CHECK(PropagationName(Propagation::kStar) == "star");
  CHECK(ResolverKindName(ResolverKind::kLww) == "lww");
  CHECK(ResolverKindName(ResolverKind::kSiblings) == "siblings");
  CHECK(ResolverKindName(ResolverKind::kCounter) == "counter");
  CHECK(ResolverKindName(ResolverKind::kSet) == "set");
  CHECK(Parse("node:\n  mode: multi_leader\ncluster:\n  join: true\n").node.mode ==
        Mode::kMultiLeader);
}

TEST_CASE("multi_leader config: a multi_leader file sets every field", "[unit][config]") {
  Config c = Parse(MultiLeader(R"(multi_leader:
  propagation: star
  hub: 2
  resolvers:
    - {prefix: "", resolver: siblings}
    - prefix: cart/
      resolver: lww
    - {prefix: "count/", resolver: counter}
    - {prefix: "tags/", resolver: set}
  max_siblings: 1024
  max_clock_offset_ms: 3600000
  resend_interval_ms: 10
  max_batch_changes: 4096
  window_changes: 1048576
  log_retention_changes: 1
  session_wait_ms: 0
)"));
  CHECK(c.node.mode == Mode::kMultiLeader);
  const MultiLeaderConfig& m = c.multi_leader;
  CHECK(m.propagation == Propagation::kStar);
  CHECK(m.hub == 2);
  REQUIRE(m.resolvers.size() == 4);
  // Kept in the order written.
  CHECK(m.resolvers[0] == Rule("", ResolverKind::kSiblings));
  CHECK(m.resolvers[1] == Rule("cart/", ResolverKind::kLww));
  CHECK(m.resolvers[2] == Rule("count/", ResolverKind::kCounter));
  CHECK(m.resolvers[3] == Rule("tags/", ResolverKind::kSet));
  CHECK(m.max_siblings == 1024);
  CHECK(m.max_clock_offset_ms == 3600000);
  CHECK(m.resend_interval_ms == 10);
  CHECK(m.max_batch_changes == 4096);
  CHECK(m.window_changes == 1048576);
  CHECK(m.log_retention_changes == 1);
  CHECK(m.session_wait_ms == 0);
  CHECK(ValidateConfig(c).ok());
}

TEST_CASE("multi_leader config: every enum value parses", "[unit][config]") {
  for (Propagation v : {Propagation::kAllToAll, Propagation::kRing, Propagation::kStar}) {
    std::string name(PropagationName(v));
    CHECK(Parse("multi_leader:\n  propagation: " + name + "\n").multi_leader.propagation == v);
  }
  for (ResolverKind v :
       {ResolverKind::kLww, ResolverKind::kSiblings, ResolverKind::kCounter, ResolverKind::kSet}) {
    std::string name(ResolverKindName(v));
    Config c = Parse(Resolvers("    - {prefix: a, resolver: " + name + "}\n"));
    REQUIRE(c.multi_leader.resolvers.size() == 1);
    CHECK(c.multi_leader.resolvers[0] == Rule("a", v));
  }
}

TEST_CASE("multi_leader config: every integer field accepts its edges and rejects beyond them",
          "[unit][config]") {
  for (const IntField& field : kIntFields) {
    INFO(field.key);
    std::string path = std::string("multi_leader.") + field.key;
    std::string range = "expected an integer from " + std::to_string(field.min) + " to " +
                        std::to_string(field.max);
    for (uint64_t ok : {field.min, field.max}) {
      CHECK(ParseConfig(Section({{field.key, std::to_string(ok)}})).ok());
    }
    CHECK(ErrorOf(Section({{field.key, std::to_string(field.max + 1)}})) ==
          path + ": " + std::to_string(field.max + 1) + " is out of range; " + range);
    if (field.min > 0) {
      CHECK(ErrorOf(Section({{field.key, std::to_string(field.min - 1)}})) ==
            path + ": " + std::to_string(field.min - 1) + " is out of range; " + range);
    }
    CHECK(ErrorOf(Section({{field.key, "-1"}})) == path + ": -1 is out of range; " + range);
    CHECK(ErrorOf(Section({{field.key, "1.5"}})) == path + ": \"1.5\" is not an integer");
    CHECK(ErrorOf(Section({{field.key, "[1]"}})) == path + ": " + range + ", got a sequence");
  }
}

TEST_CASE("multi_leader config: a bad propagation", "[unit][config]") {
  CHECK(ErrorOf("multi_leader:\n  propagation: mesh\n") ==
        "multi_leader.propagation: \"mesh\" is not allowed; expected one of: all_to_all, ring, "
        "star");
  CHECK(ErrorOf("multi_leader:\n  propagation:\n") ==
        "multi_leader.propagation: expected one of: all_to_all, ring, star, got an empty value");
}

TEST_CASE("multi_leader config: resolvers that are accepted", "[unit][config]") {
  // Only an empty prefix: every key.
  Config all = Parse(Resolvers("    - {prefix: \"\", resolver: counter}\n"));
  REQUIRE(all.multi_leader.resolvers.size() == 1);
  CHECK(all.multi_leader.resolvers[0] == Rule("", ResolverKind::kCounter));
  // No "" rule: keys matching nothing are lww (ResolverFor).
  Config some = Parse(Resolvers("    - {prefix: cart/, resolver: siblings}\n"));
  CHECK(some.multi_leader.resolvers ==
        std::vector<ResolverRule>{Rule("cart/", ResolverKind::kSiblings)});
  // An empty list, written either way, means every key is lww.
  CHECK(Parse("multi_leader:\n  resolvers: []\n").multi_leader.resolvers.empty());
  CHECK(Parse("multi_leader:\n  resolvers:\n").multi_leader.resolvers.empty());
  // Prefixes are any text: nested ("cart/" and "cart/eu/"), with spaces, unicode, or
  // a scalar YAML would read as a number.
  Config odd =
      Parse(Resolvers("    - {prefix: cart/, resolver: siblings}\n"
                      "    - {prefix: cart/eu/, resolver: lww}\n"
                      "    - {prefix: \"a b\", resolver: set}\n"
                      "    - {prefix: \"é/\", resolver: set}\n"
                      "    - {prefix: 10, resolver: counter}\n"));
  REQUIRE(odd.multi_leader.resolvers.size() == 5);
  CHECK(odd.multi_leader.resolvers[1].prefix == "cart/eu/");
  CHECK(odd.multi_leader.resolvers[3].prefix == "é/");
  CHECK(odd.multi_leader.resolvers[4].prefix == "10");
  // A prefix of exactly 1024 bytes, and exactly 256 entries.
  CHECK(Parse(Resolvers("    - {prefix: " + std::string(1024, 'p') + ", resolver: lww}\n"))
            .multi_leader.resolvers[0]
            .prefix.size() == 1024);
  CHECK(Parse(Resolvers(ManyResolvers(256))).multi_leader.resolvers.size() == 256);
}

TEST_CASE("multi_leader config: resolvers must be a sequence of mappings", "[unit][config]") {
  CHECK(ErrorOf("multi_leader:\n  resolvers: {prefix: a, resolver: lww}\n") ==
        "multi_leader.resolvers: expected a sequence of {prefix, resolver} entries, got a "
        "mapping");
  CHECK(ErrorOf("multi_leader:\n  resolvers: lww\n") ==
        "multi_leader.resolvers: expected a sequence of {prefix, resolver} entries, got a "
        "scalar");
  CHECK(ErrorOf(Resolvers("    - {prefix: a, resolver: lww}\n    - cart/\n")) ==
        "multi_leader.resolvers[1]: expected a mapping with prefix and resolver, got a scalar");
  CHECK(ErrorOf(Resolvers("    - [a, lww]\n")) ==
        "multi_leader.resolvers[0]: expected a mapping with prefix and resolver, got a "
        "sequence");
}

TEST_CASE("multi_leader config: a bad value inside a resolver entry", "[unit][config]") {
  CHECK(ErrorOf(Resolvers("    - {prefix: a, resolver: lww}\n"
                          "    - {prefix: b, resolver: mvr}\n")) ==
        "multi_leader.resolvers[1].resolver: \"mvr\" is not allowed; expected one of: lww, "
        "siblings, counter, set");
  CHECK(ErrorOf(Resolvers("    - {prefix: a, resolver: [lww]}\n")) ==
        "multi_leader.resolvers[0].resolver: expected one of: lww, siblings, counter, set, got "
        "a sequence");
  // An empty prefix must be written as "": a forgotten value would cover every key.
  CHECK(ErrorOf(Resolvers("    - {prefix: , resolver: lww}\n")) ==
        "multi_leader.resolvers[0].prefix: expected a key prefix of at most 1024 bytes (\"\" "
        "matches every key), got an empty value");
  CHECK(ErrorOf(Resolvers("    - {prefix: ~, resolver: lww}\n")) ==
        "multi_leader.resolvers[0].prefix: expected a key prefix of at most 1024 bytes (\"\" "
        "matches every key), got an empty value");
  CHECK(ErrorOf(Resolvers("    - {prefix: {a: 1}, resolver: lww}\n")) ==
        "multi_leader.resolvers[0].prefix: expected a key prefix of at most 1024 bytes (\"\" "
        "matches every key), got a mapping");
  CHECK(ErrorOf(Resolvers("    - {prefix: " + std::string(1025, 'p') + ", resolver: lww}\n")) ==
        "multi_leader.resolvers[0].prefix: \"" + std::string(64, 'p') +
            "\"... (1025 bytes) is too long; expected at most 1024 bytes");
}

TEST_CASE("multi_leader config: missing, unknown and repeated fields in a resolver entry",
          "[unit][config]") {
  CHECK(ErrorOf(Resolvers("    - {resolver: lww}\n")) ==
        "multi_leader.resolvers[0].prefix: is missing; expected a key prefix of at most 1024 "
        "bytes (\"\" matches every key)");
  CHECK(ErrorOf(Resolvers("    - {prefix: a}\n")) ==
        "multi_leader.resolvers[0].resolver: is missing; expected one of: lww, siblings, "
        "counter, set");
  CHECK(ErrorOf(Resolvers("    - {}\n")) ==
        "multi_leader.resolvers[0].prefix: is missing; expected a key prefix of at most 1024 "
        "bytes (\"\" matches every key)\n"
        "multi_leader.resolvers[0].resolver: is missing; expected one of: lww, siblings, "
        "counter, set");
  CHECK(ErrorOf(Resolvers("    - {prefix: a, resolvr: lww}\n")) ==
        "multi_leader.resolvers[0].resolvr: unknown field (did you mean \"resolver\"?)\n"
        "multi_leader.resolvers[0].resolver: is missing; expected one of: lww, siblings, "
        "counter, set");
  // A field of another section inside an entry is not pointed at that section.
  CHECK(ErrorOf(Resolvers("    - {prefix: a, resolver: lww, hub: 1}\n")) ==
        "multi_leader.resolvers[0].hub: unknown field");
  CHECK(ErrorOf(Resolvers("    - prefix: a\n      prefix: b\n      resolver: lww\n")) ==
        "multi_leader.resolvers[0].prefix: is given more than once; keep one");
}

TEST_CASE("multi_leader config: at most 256 resolver entries", "[unit][config]") {
  CHECK(ErrorOf(Resolvers(ManyResolvers(257))) ==
        "multi_leader.resolvers: 257 entries is too many; expected at most 256");
}

TEST_CASE("multi_leader config: cross-field: resolver prefixes are unique", "[unit][config]") {
  CHECK(ErrorOf(Resolvers("    - {prefix: cart/, resolver: siblings}\n"
                          "    - {prefix: \"\", resolver: lww}\n"
                          "    - {prefix: \"cart/\", resolver: lww}\n")) ==
        "multi_leader.resolvers[2].prefix: duplicate prefix \"cart/\" (also resolvers[0]); "
        "expected each prefix at most once");
  // Two empty prefixes, and each duplicate reported against the first.
  CHECK(ErrorOf(Resolvers("    - {prefix: \"\", resolver: lww}\n"
                          "    - {prefix: \"\", resolver: set}\n"
                          "    - {prefix: \"\", resolver: lww}\n")) ==
        "multi_leader.resolvers[1].prefix: duplicate prefix \"\" (also resolvers[0]); expected "
        "each prefix at most once\n"
        "multi_leader.resolvers[2].prefix: duplicate prefix \"\" (also resolvers[0]); expected "
        "each prefix at most once");
  // Prefixes differing in case are different prefixes (keys are bytes).
  CHECK(ParseConfig(Resolvers("    - {prefix: a, resolver: lww}\n"
                              "    - {prefix: A, resolver: set}\n"))
            .ok());
  // Another entry's error does not hide a duplicate, and a broken entry is not compared.
  CHECK(ErrorOf(Resolvers("    - {prefix: a, resolver: lww}\n"
                          "    - {prefix: b, resolver: bad}\n"
                          "    - {resolver: lww}\n"
                          "    - {prefix: a, resolver: set}\n")) ==
        "multi_leader.resolvers[1].resolver: \"bad\" is not allowed; expected one of: lww, "
        "siblings, counter, set\n"
        "multi_leader.resolvers[2].prefix: is missing; expected a key prefix of at most 1024 "
        "bytes (\"\" matches every key)\n"
        "multi_leader.resolvers[3].prefix: duplicate prefix \"a\" (also resolvers[0]); "
        "expected each prefix at most once");
}

TEST_CASE("multi_leader config: cross-field: the window holds at least one batch",
          "[unit][config]") {
  CHECK(ErrorOf("multi_leader:\n  window_changes: 100\n") ==
        "multi_leader.window_changes: 100 is smaller than multi_leader.max_batch_changes 256; "
        "expected at least 256, since a sender never ships more than the window and a batch "
        "could never be filled");
  CHECK(ErrorOf("multi_leader:\n  max_batch_changes: 2048\n") ==
        "multi_leader.window_changes: 1024 is smaller than multi_leader.max_batch_changes "
        "2048; expected at least 2048, since a sender never ships more than the window and a "
        "batch could never be filled");
  // Equal is enough.
  CHECK(ParseConfig("multi_leader:\n  max_batch_changes: 1024\n").ok());
  CHECK(ParseConfig("multi_leader:\n  window_changes: 256\n").ok());
  // A bad batch size is not also judged against the window.
  CHECK(ErrorOf("multi_leader:\n  max_batch_changes: 5000\n  window_changes: 1\n") ==
        "multi_leader.max_batch_changes: 5000 is out of range; expected an integer from 1 to "
        "4096");
}

TEST_CASE("multi_leader config: cross-field: a star needs a member as hub", "[unit][config]") {
  for (const char* hub : {"1", "2", "3"}) {
    INFO(hub);
    Config c =
        Parse(MultiLeader(std::string("multi_leader:\n  propagation: star\n  hub: ") + hub + "\n"));
    CHECK(c.multi_leader.hub == std::stoull(hub));
  }
  CHECK(ErrorOf(MultiLeader("multi_leader:\n  propagation: star\n")) ==
        "multi_leader.hub: 0 is not in cluster.members (ids 1, 2, 3); " + kStarWhy);
  CHECK(ErrorOf(MultiLeader("multi_leader:\n  propagation: star\n  hub: 4\n")) ==
        "multi_leader.hub: 4 is not in cluster.members (ids 1, 2, 3); " + kStarWhy);
  // A joining node without members can only be told that 0 is no hub.
  const std::string joining = "node:\n  mode: multi_leader\ncluster:\n  join: true\n";
  CHECK(ErrorOf(joining + "multi_leader:\n  propagation: star\n") ==
        "multi_leader.hub: 0 names no node; " + kStarWhy);
  CHECK(ParseConfig(joining + "multi_leader:\n  propagation: star\n  hub: 7\n").ok());
  // A joining node that lists members is checked against them.
  CHECK(ErrorOf(MultiLeader("  join: true\nmulti_leader:\n  propagation: star\n  hub: 7\n")) ==
        "multi_leader.hub: 7 is not in cluster.members (ids 1, 2, 3); " + kStarWhy);
}

TEST_CASE("multi_leader config: the hub is ignored unless star in multi_leader mode",
          "[unit][config]") {
  for (const char* propagation : {"all_to_all", "ring"}) {
    INFO(propagation);
    CHECK(ParseConfig(MultiLeader(std::string("multi_leader:\n  propagation: ") + propagation +
                                  "\n  hub: 99\n"))
              .ok());
  }
  // Other modes: the section is checked but not used.
  CHECK(ParseConfig("multi_leader:\n  propagation: star\n").ok());
  CHECK(ParseConfig("node:\n  mode: leader_follower\ncluster:\n  join: true\n"
                    "multi_leader:\n  propagation: star\n  hub: 5\n")
            .ok());
  // But its values are still checked there.
  CHECK(ErrorOf("multi_leader:\n  hub: 9223372036854775808\n") ==
        "multi_leader.hub: 9223372036854775808 is out of range; expected an integer from 0 to "
        "9223372036854775807");
}

TEST_CASE("multi_leader config: cross-field rules skip fields that are already wrong",
          "[unit][config]") {
  // A bad hub is reported once, not also as a non-member.
  CHECK(ErrorOf(MultiLeader("multi_leader:\n  propagation: star\n  hub: x\n")) ==
        "multi_leader.hub: \"x\" is not an integer");
  // A bad propagation: the hub cannot be judged.
  CHECK(ErrorOf(MultiLeader("multi_leader:\n  propagation: stra\n")) ==
        "multi_leader.propagation: \"stra\" is not allowed; expected one of: all_to_all, ring, "
        "star");
  // No members (and no join): the cluster rule speaks, not the hub rule.
  CHECK(ErrorOf("node:\n  mode: multi_leader\nmulti_leader:\n  propagation: star\n") ==
        "cluster.members: is empty; node.mode multi_leader needs the members the cluster "
        "starts with, or set cluster.join: true to join an existing cluster");
  // A bad member entry: the hub is not judged against a partial list.
  CHECK(ErrorOf("node:\n  mode: multi_leader\ncluster:\n  members:\n"
                "    - {id: 1, client: 127.0.0.1:7411, peer: 127.0.0.1:0}\n"
                "multi_leader:\n  propagation: star\n  hub: 1\n") ==
        "cluster.members[0].peer: \"127.0.0.1:0\" has port 0; expected a fixed port, since "
        "other nodes and clients connect to it");
}

TEST_CASE("multi_leader config: unknown fields point at the multi_leader section",
          "[unit][config]") {
  CHECK(ErrorOf("multi_leadr:\n  hub: 1\n") ==
        "multi_leadr: unknown field (did you mean \"multi_leader\"?)");
  CHECK(ErrorOf("multi_leader:\n  propogation: ring\n") ==
        "multi_leader.propogation: unknown field (did you mean \"propagation\"?)");
  CHECK(ErrorOf("multi_leader:\n  resolver: []\n") ==
        "multi_leader.resolver: unknown field (did you mean \"resolvers\"?)");
  CHECK(ErrorOf("raft:\n  window_changes: 10\n") ==
        "raft.window_changes: unknown field (did you mean \"multi_leader.window_changes\"?)");
  CHECK(ErrorOf("hub: 1\n") == "hub: unknown field (did you mean \"multi_leader.hub\"?)");
  CHECK(ErrorOf("multi_leader: star\n") == "multi_leader: expected a mapping, got a scalar");
}

TEST_CASE("multi_leader config: ResolverFor picks the longest matching prefix", "[unit][config]") {
  MultiLeaderConfig m;
  m.resolvers = {Rule("", ResolverKind::kLww), Rule("cart/", ResolverKind::kSiblings),
                 Rule("cart/eu/", ResolverKind::kCounter), Rule("c", ResolverKind::kSet)};
  CHECK(ResolverFor(m, "cart/eu/1") == ResolverKind::kCounter);
  CHECK(ResolverFor(m, "cart/eu/") == ResolverKind::kCounter);  // the whole key
  CHECK(ResolverFor(m, "cart/us/1") == ResolverKind::kSiblings);
  CHECK(ResolverFor(m, "cart/eu") == ResolverKind::kSiblings);  // shorter than "cart/eu/"
  CHECK(ResolverFor(m, "cat") == ResolverKind::kSet);
  CHECK(ResolverFor(m, "dog") == ResolverKind::kLww);
  CHECK(ResolverFor(m, "") == ResolverKind::kLww);
  // The order of the list does not matter.
  std::reverse(m.resolvers.begin(), m.resolvers.end());
  CHECK(ResolverFor(m, "cart/eu/1") == ResolverKind::kCounter);
  CHECK(ResolverFor(m, "cart/us/1") == ResolverKind::kSiblings);
  // "" can map every other key to a resolver other than lww.
  m.resolvers = {Rule("", ResolverKind::kSet), Rule("x", ResolverKind::kLww)};
  CHECK(ResolverFor(m, "a") == ResolverKind::kSet);
  CHECK(ResolverFor(m, "xy") == ResolverKind::kLww);
  // A key no prefix matches, or no rules at all: lww.
  m.resolvers = {Rule("count/", ResolverKind::kCounter)};
  CHECK(ResolverFor(m, "counter") == ResolverKind::kLww);
  CHECK(ResolverFor(m, "count/1") == ResolverKind::kCounter);
  m.resolvers.clear();
  CHECK(ResolverFor(m, "count/1") == ResolverKind::kLww);
  CHECK(ResolverFor(MultiLeaderConfig{}, "anything") == ResolverKind::kLww);
  // Prefixes and keys are bytes: no case folding, and a NUL is an ordinary byte.
  m.resolvers = {Rule("Cart/", ResolverKind::kSiblings),
                 Rule(std::string("a\0b", 3), ResolverKind::kSet)};
  CHECK(ResolverFor(m, "cart/1") == ResolverKind::kLww);
  CHECK(ResolverFor(m, std::string_view("a\0bc", 4)) == ResolverKind::kSet);
  CHECK(ResolverFor(m, "a") == ResolverKind::kLww);
}

TEST_CASE("multi_leader config: multi_leader mode follows the cluster rules", "[unit][config]") {
  CHECK(ErrorOf("node:\n  mode: multi_leader\n") ==
        "cluster.members: is empty; node.mode multi_leader needs the members the cluster "
        "starts with, or set cluster.join: true to join an existing cluster");
  CHECK(ErrorOf(MultiLeader("", "4")) ==
        "node.id: 4 is not in cluster.members (ids 1, 2, 3); add it, or set cluster.join: true "
        "to join an existing cluster");
  CHECK(ParseConfig(MultiLeader("  join: true\n", "4")).ok());
  CHECK(ErrorOf("node:\n  mode: multi_leader\ncluster:\n  members:\n"
                "    - {id: 1, client: 127.0.0.1:7411, peer: 127.0.0.1:7511}\n"
                "    - {id: 1, client: 127.0.0.1:7412, peer: 127.0.0.1:7411}\n") ==
        "cluster.members[1].id: 1 is already the id of cluster.members[0]; expected unique ids\n"
        "cluster.members[1].peer: \"127.0.0.1:7411\" is already used by "
        "cluster.members[0].client; expected an address of its own");
  // The raft section is allowed (and checked) but ignored here, as multi_leader is in
  // leader_follower mode.
  CHECK(ParseConfig(MultiLeader("raft:\n  replication: async\n")).ok());
  CHECK(ErrorOf(MultiLeader("raft:\n  heartbeat_interval_ms: 600\n")) ==
        "raft.heartbeat_interval_ms: 600 is too long for raft.election_timeout_ms 1000; "
        "expected at most 500 (half of it), so that followers hear at least two heartbeats per "
        "election timeout and do not depose a healthy leader");
}

TEST_CASE("multi_leader config: ApplyMemberAddresses works in multi_leader mode",
          "[unit][config]") {
  Config c = Parse(MultiLeader("", "2"));
  ApplyMemberAddresses(&c);
  CHECK(c.server.listen == Address{"127.0.0.1", 7412});
  CHECK(c.server.admin_listen == Address{"127.0.0.1", 7612});
  CHECK(ValidateConfig(c).ok());
  Config first = Parse(MultiLeader());
  ApplyMemberAddresses(&first);
  CHECK(first.server.listen == Address{"127.0.0.1", 7411});
  CHECK(first.server.admin_listen == Address{"127.0.0.1", 7380});
}

TEST_CASE("multi_leader config: ValidateConfig re-checks the section after changes",
          "[unit][config]") {
  Config c = Parse(MultiLeader());
  REQUIRE(ValidateConfig(c).ok());

  SECTION("out-of-range values") {
    c.multi_leader.max_siblings = 0;
    c.multi_leader.resend_interval_ms = 9;
    c.multi_leader.log_retention_changes = 1000000001;
    CHECK(ValidateConfig(c).message() ==
          "multi_leader.max_siblings: 0 is out of range; expected an integer from 1 to 1024\n"
          "multi_leader.resend_interval_ms: 9 is out of range; expected an integer from 10 to "
          "60000\n"
          "multi_leader.log_retention_changes: 1000000001 is out of range; expected an integer "
          "from 1 to 1000000000");
  }
  SECTION("resolver rules: a long prefix and a duplicate") {
    c.multi_leader.resolvers = {Rule("a", ResolverKind::kLww),
                                Rule(std::string(1025, 'p'), ResolverKind::kSet),
                                Rule("a", ResolverKind::kCounter)};
    CHECK(ValidateConfig(c).message() ==
          "multi_leader.resolvers[1].prefix: \"" + std::string(64, 'p') +
              "\"... (1025 bytes) is too long; expected at most 1024 bytes\n"
              "multi_leader.resolvers[2].prefix: duplicate prefix \"a\" (also resolvers[0]); "
              "expected each prefix at most once");
  }
  SECTION("too many resolver rules") {
    c.multi_leader.resolvers.assign(257, Rule("", ResolverKind::kLww));
    CHECK(ValidateConfig(c).message() ==
          "multi_leader.resolvers: 257 entries is too many; expected at most 256");
  }
  SECTION("window and batch") {
    c.multi_leader.window_changes = 8;
    c.multi_leader.max_batch_changes = 9;
    CHECK(ValidateConfig(c).message() ==
          "multi_leader.window_changes: 8 is smaller than multi_leader.max_batch_changes 9; "
          "expected at least 9, since a sender never ships more than the window and a batch "
          "could never be filled");
  }
  SECTION("a star whose hub is not a member") {
    c.multi_leader.propagation = Propagation::kStar;
    c.multi_leader.hub = 3;
    CHECK(ValidateConfig(c).ok());
    c.cluster.members.pop_back();
    CHECK(ValidateConfig(c).message() ==
          "multi_leader.hub: 3 is not in cluster.members (ids 1, 2); " + kStarWhy);
  }
  SECTION("members in single mode name both clustered modes") {
    c.node.mode = Mode::kSingle;
    CHECK(ValidateConfig(c).message() ==
          "cluster.members: only used when node.mode is leader_follower, multi_leader or dynamo "
          "(node.mode is single); remove the members or change node.mode");
  }
}

TEST_CASE("multi_leader config: config/multi-leader-3.yaml serves all three nodes",
          "[unit][config]") {
  std::string text =
      ReadFile(std::filesystem::path(KVD_SOURCE_DIR) / "config" / "multi-leader-3.yaml");
  Config c = Parse(text);
  CHECK(ValidateConfig(c).ok());
  CHECK(c.node.mode == Mode::kMultiLeader);
  CHECK(c.node.id == 1);
  CHECK(c.node.data_dir == "./data/ml-1");
  CHECK_FALSE(c.cluster.join);
  CHECK(c.storage.durability == Durability::kAlways);
  CHECK_FALSE(c.server.listen_set);
  CHECK_FALSE(c.server.admin_listen_set);
  REQUIRE(c.cluster.members.size() == 3);
  for (uint16_t i = 0; i < 3; ++i) {
    INFO("member " << i);
    const MemberConfig& m = c.cluster.members[i];
    CHECK(m.id == i + 1u);
    CHECK(m.client == Address{"127.0.0.1", static_cast<uint16_t>(7411 + i)});
    CHECK(m.peer == Address{"127.0.0.1", static_cast<uint16_t>(7511 + i)});
    CHECK(m.has_admin);
    CHECK(m.admin == Address{"127.0.0.1", static_cast<uint16_t>(7611 + i)});
    // As `kvd --config config/multi-leader-3.yaml --node-id N --data-dir ...` does.
    Config node = c;
    node.node.id = m.id;
    ApplyMemberAddresses(&node);
    CHECK(node.server.listen == m.client);
    CHECK(node.server.admin_listen == m.admin);
    CHECK(ValidateConfig(node).ok());
  }
  const MultiLeaderConfig& ml = c.multi_leader;
  CHECK(ml.propagation == Propagation::kRing);
  REQUIRE(ml.resolvers.size() == 4);
  CHECK(ml.resolvers[0] == Rule("", ResolverKind::kLww));
  CHECK(ml.resolvers[1] == Rule("cart/", ResolverKind::kSiblings));
  CHECK(ml.resolvers[2] == Rule("count/", ResolverKind::kCounter));
  CHECK(ml.resolvers[3] == Rule("tags/", ResolverKind::kSet));
  CHECK(ResolverFor(ml, "cart/alice") == ResolverKind::kSiblings);
  CHECK(ResolverFor(ml, "count/visits") == ResolverKind::kCounter);
  CHECK(ResolverFor(ml, "tags/post-1") == ResolverKind::kSet);
  CHECK(ResolverFor(ml, "user/1") == ResolverKind::kLww);
  // Every other multi_leader field is written out with its default.
  MultiLeaderConfig expected;
  expected.propagation = Propagation::kRing;
  expected.resolvers = ml.resolvers;
  CHECK(ml == expected);
  for (const char* key :
       {"propagation:", "hub:", "resolvers:", "max_siblings:", "max_clock_offset_ms:",
        "resend_interval_ms:", "max_batch_changes:", "window_changes:", "log_retention_changes:",
        "session_wait_ms:", "durability:"}) {
    INFO(key);
    CHECK(text.find(key) != std::string::npos);
  }
}

}  // namespace kvd::config
