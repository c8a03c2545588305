// Unit tests for common/ring: the consistent-hash ring of the dynamo topology.
//
// Goal: keys spread evenly over the nodes (max/mean of keys per node close to 1 with
// enough virtual nodes); adding a node to an n-node ring moves about 1/(n+1) of the keys,
// all of them to the new node; replicas are N distinct nodes spanning as many zones as
// possible; every node computes the same ring from the same members, whatever their order;
// the encoding round-trips and bad input is refused. Method: 100,000 generated keys, exact
// checks where the rule is exact and bounds where it is statistical (the bounds hold for
// the fixed hash and key set; they are not timing-dependent). A failure means data would
// pile up on one node, move needlessly on membership changes, or lose replicas to one
// failing zone.
#include "common/ring/ring.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace kvd::ring {
namespace {

std::vector<NodeSpec> Nodes(size_t n, uint32_t tokens = 256) {
  std::vector<NodeSpec> out;
  for (size_t i = 1; i <= n; ++i) out.push_back(NodeSpec{i, tokens, ""});
  return out;
}

Ring MakeRing(std::vector<NodeSpec> nodes) {
  Result<Ring> r = Ring::Make(std::move(nodes));
  REQUIRE(r.ok());
  return std::move(r).value();
}

std::vector<std::string> Keys(size_t count) {
  std::vector<std::string> keys;
  keys.reserve(count);
  for (size_t i = 0; i < count; ++i) keys.push_back(fmt::format("user:{}", i));
  return keys;
}

TEST_CASE("ring: keys spread evenly over the nodes") {
  const std::vector<std::string> keys = Keys(100000);
  for (size_t n : {size_t{3}, size_t{5}, size_t{10}}) {
    INFO(n << " nodes");
    const Ring ring = MakeRing(Nodes(n));
    std::map<uint64_t, size_t> primary;
    for (const std::string& k : keys) ++primary[ring.Replicas(k, 1).front()];
    REQUIRE(primary.size() == n);
    size_t max = 0;
    for (const auto& [id, count] : primary) max = std::max(max, count);
    const double mean = static_cast<double>(keys.size()) / static_cast<double>(n);
    const double spread = static_cast<double>(max) / mean;
    INFO("max/mean " << spread);
    CHECK(spread < 1.15);
    // Ownership (the share of the circle) agrees with where the keys went.
    const auto own = ring.Ownership(1);
    double total = 0;
    for (const auto& [id, share] : own) {
      total += share;
      CHECK(share == Approx(static_cast<double>(primary[id]) / static_cast<double>(keys.size()))
                         .margin(0.02));
    }
    CHECK(total == Approx(1.0));
    double total3 = 0;
    for (const auto& [id, share] : ring.Ownership(3)) total3 += share;
    CHECK(total3 == Approx(3.0));
  }
}

TEST_CASE("ring: adding a node moves about 1/(n+1) of the keys, all to the new node") {
  const std::vector<std::string> keys = Keys(100000);
  for (size_t n : {size_t{3}, size_t{5}, size_t{9}}) {
    INFO(n << " nodes, then one more");
    const Ring before = MakeRing(Nodes(n));
    const Ring after = MakeRing(Nodes(n + 1));
    size_t moved = 0;
    size_t replica_changes = 0;
    for (const std::string& k : keys) {
      const uint64_t a = before.Replicas(k, 1).front();
      const uint64_t b = after.Replicas(k, 1).front();
      if (a != b) {
        ++moved;
        CHECK(b == n + 1);  // only ever to the new node
      }
      // With N = 3 a key's replica set changes by at most the new node replacing one.
      std::vector<uint64_t> ra = before.Replicas(k, 3), rb = after.Replicas(k, 3);
      std::sort(ra.begin(), ra.end());
      std::sort(rb.begin(), rb.end());
      std::vector<uint64_t> gone;
      std::set_difference(ra.begin(), ra.end(), rb.begin(), rb.end(), std::back_inserter(gone));
      CHECK(gone.size() <= 1);
      if (!gone.empty()) {
        ++replica_changes;
        CHECK(std::find(rb.begin(), rb.end(), n + 1) != rb.end());
      }
    }
    const double fraction = static_cast<double>(moved) / static_cast<double>(keys.size());
    const double expected = 1.0 / static_cast<double>(n + 1);
    INFO("moved " << fraction << ", expected about " << expected);
    CHECK(fraction > expected * 0.8);
    CHECK(fraction < expected * 1.2);
    (void)replica_changes;
  }
}

TEST_CASE("ring: replicas are distinct nodes, as many as asked for or as there are") {
  const Ring ring = MakeRing(Nodes(5));
  for (const std::string& k : Keys(2000)) {
    const std::vector<uint64_t> r = ring.Replicas(k, 3);
    REQUIRE(r.size() == 3);
    CHECK(std::set<uint64_t>(r.begin(), r.end()).size() == 3);
    CHECK(r.front() == ring.PrimaryForToken(Hash64(k)));
    // A longer preference list extends the shorter one.
    const std::vector<uint64_t> r5 = ring.Replicas(k, 5);
    CHECK(std::equal(r.begin(), r.end(), r5.begin()));
  }
  CHECK(ring.Replicas("k", 9).size() == 5);
  CHECK(ring.Replicas("k", 0).empty());
  const Ring one = MakeRing(Nodes(1, 1));
  CHECK(one.Replicas("k", 3) == std::vector<uint64_t>{1});
  REQUIRE(one.Ranges(1).size() == 1);
  CHECK(one.Ownership(1).at(1) == Approx(1.0));
}

TEST_CASE("ring: replicas span as many zones as they can") {
  // Six nodes in three zones, two each.
  std::vector<NodeSpec> nodes;
  for (uint64_t i = 1; i <= 6; ++i) nodes.push_back(NodeSpec{i, 64, fmt::format("z{}", (i - 1) / 2)});
  const Ring ring = MakeRing(nodes);
  auto zone = [&](uint64_t id) { return nodes[id - 1].zone; };
  for (const std::string& k : Keys(5000)) {
    const std::vector<uint64_t> r3 = ring.Replicas(k, 3);
    std::set<std::string> zones;
    for (uint64_t id : r3) zones.insert(zone(id));
    CHECK(zones.size() == 3);
    const std::vector<uint64_t> r5 = ring.Replicas(k, 5);
    CHECK(std::set<uint64_t>(r5.begin(), r5.end()).size() == 5);
  }
  // Two zones, N = 3: both zones hold a replica.
  std::vector<NodeSpec> two;
  for (uint64_t i = 1; i <= 4; ++i) two.push_back(NodeSpec{i, 64, i <= 2 ? "a" : "b"});
  const Ring r2 = MakeRing(two);
  for (const std::string& k : Keys(2000)) {
    std::set<std::string> zones;
    for (uint64_t id : r2.Replicas(k, 3)) zones.insert(id <= 2 ? "a" : "b");
    CHECK(zones.size() == 2);
  }
}

TEST_CASE("ring: the same members make the same ring, in any order") {
  std::vector<NodeSpec> a = Nodes(5, 32);
  std::vector<NodeSpec> b(a.rbegin(), a.rend());
  const Ring ra = MakeRing(a), rb = MakeRing(b);
  CHECK(ra.Encode() == rb.Encode());
  CHECK(ra.Ranges(3) == rb.Ranges(3));
  // Ranges tile the circle: each starts where the previous one ended.
  const auto ranges = ra.Ranges(3);
  REQUIRE(ranges.size() == 5 * 32);
  for (size_t i = 1; i < ranges.size(); ++i) CHECK(ranges[i].start == ranges[i - 1].end);
  CHECK(ranges.front().start == ranges.back().end);
  // Tokens and hashes are fixed: data placement must not change between releases.
  // (Values computed independently: FNV-1a 64 then MurmurHash3's fmix64.)
  CHECK(Hash64("") == 0xefd01f60ba992926ULL);
  CHECK(Hash64("kvd") == 0x71dad5fa9b89c061ULL);
  CHECK(TokenFor(1, 0) == Hash64(std::string("\0\0\0\0\0\0\0\x01\0\0\0\0", 12)));
}

TEST_CASE("ring: encoding round-trips; bad rings and bad bytes are refused") {
  std::vector<NodeSpec> nodes = {{3, 16, "east"}, {1, 8, "west"}, {2, 4, ""}};
  const Ring ring = MakeRing(nodes);
  Result<Ring> back = Ring::Decode(ring.Encode());
  REQUIRE(back.ok());
  CHECK(back.value().nodes() == ring.nodes());
  CHECK(back.value().Ranges(2) == ring.Ranges(2));

  auto error = [](std::vector<NodeSpec> n) { return Ring::Make(std::move(n)).status().message(); };
  CHECK(error({}) == "a ring needs at least one node");
  CHECK(error({{0, 8, ""}}) == "ring node id 0: ids start at 1");
  CHECK(error({{1, 8, ""}, {1, 8, ""}}) == "ring node 1 is listed twice");
  CHECK(error({{1, 0, ""}}) == "ring node 1: 0 tokens; expected 1 to 4096");
  CHECK(error({{1, 4097, ""}}) == "ring node 1: 4097 tokens; expected 1 to 4096");
  std::string bytes = ring.Encode();
  CHECK(Ring::Decode(bytes.substr(0, bytes.size() - 1)).status().code() == Code::kCorruption);
  CHECK(Ring::Decode(bytes + "x").status().code() == Code::kCorruption);
  CHECK(Ring::Decode("").status().code() == Code::kCorruption);
}

}  // namespace
}  // namespace kvd::ring
