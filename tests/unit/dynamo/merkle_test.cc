// Unit tests for server/topology/dynamo/merkle.h: the per-range Merkle trees of
// anti-entropy.
//
// Goal: a tree kept up to date write by write equals one built from scratch (order does
// not matter, and toggling a digest twice removes it); two trees that differ in a few
// entries are told apart by comparing few hashes, and Diff names exactly the buckets that
// hold the differing entries; equal trees cost one hash; buckets tile the range exactly,
// for a wrapping range and for the whole circle. Method: seeded random keys and states;
// exact expectations. A failure means a repair pass could miss a difference or move far
// more than differs.
#include "server/topology/dynamo/merkle.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <map>
#include <set>
#include <string>

#include "common/ring/ring.h"
#include "common/rng.h"

namespace kvd::topology::dynamo {
namespace {

struct Entry {
  std::string key;
  std::string state;
  uint64_t token() const { return ring::Hash64(key); }
  uint64_t digest() const { return EntryDigest(key, state); }
};

TEST_CASE("merkle: incremental updates equal a rebuild, in any order") {
  Rng rng(7);
  std::vector<Entry> entries;
  for (int i = 0; i < 2000; ++i) entries.push_back({fmt::format("k{}", i), fmt::format("v{}", i)});
  MerkleTree forward(0, 0, 10), backward(0, 0, 10);
  for (const Entry& e : entries) forward.Toggle(e.token(), e.digest());
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) backward.Toggle(it->token(), it->digest());
  CHECK(forward.Root() == backward.Root());
  CHECK(forward.Level(10) == backward.Level(10));
  // A write: the old digest out, the new one in. Undoing it restores the root.
  const uint64_t before = forward.Root();
  const Entry& e = entries[rng.Uniform(entries.size())];
  const Entry changed{e.key, e.state + "!"};
  forward.Toggle(e.token(), e.digest());
  forward.Toggle(changed.token(), changed.digest());
  CHECK(forward.Root() != before);
  forward.Toggle(changed.token(), changed.digest());
  forward.Toggle(e.token(), e.digest());
  CHECK(forward.Root() == before);
  // An empty tree's root is fixed; one entry changes it.
  MerkleTree a(0, 0, 4), b(0, 0, 4);
  CHECK(a.Root() == b.Root());
  b.Toggle(entries[0].token(), entries[0].digest());
  CHECK(a.Root() != b.Root());
}

TEST_CASE("merkle: Diff finds exactly the differing buckets, comparing few hashes") {
  Rng rng(11);
  const uint32_t depth = 12;
  MerkleTree mine(0, 0, depth), theirs(0, 0, depth);
  std::vector<Entry> entries;
  for (int i = 0; i < 20000; ++i) entries.push_back({fmt::format("user:{}", i), "state"});
  for (const Entry& e : entries) {
    mine.Toggle(e.token(), e.digest());
    theirs.Toggle(e.token(), e.digest());
  }
  uint64_t compared = 0;
  CHECK(mine.Diff(theirs, &compared).empty());
  CHECK(compared == 1);  // equal roots: nothing else is looked at
  // Three entries differ (one changed value, one missing, one extra).
  std::set<uint64_t> want;
  const Entry& changed = entries[rng.Uniform(entries.size())];
  theirs.Toggle(changed.token(), changed.digest());
  theirs.Toggle(changed.token(), EntryDigest(changed.key, "other"));
  want.insert(theirs.BucketOf(changed.token()));
  const Entry& missing = entries[rng.Uniform(entries.size())];
  theirs.Toggle(missing.token(), missing.digest());
  want.insert(theirs.BucketOf(missing.token()));
  const Entry extra{"extra", "x"};
  theirs.Toggle(extra.token(), extra.digest());
  want.insert(theirs.BucketOf(extra.token()));
  const std::vector<uint64_t> diff = mine.Diff(theirs, &compared);
  CHECK(std::set<uint64_t>(diff.begin(), diff.end()) == want);
  // At most two hashes per level per differing path.
  CHECK(compared <= 1 + 2 * depth * want.size());
  // Diff is symmetric.
  const std::vector<uint64_t> back = theirs.Diff(mine);
  CHECK(std::set<uint64_t>(back.begin(), back.end()) == want);
}

TEST_CASE("merkle: buckets tile the range, wrapping ranges and the whole circle included") {
  Rng rng(3);
  struct Case {
    uint64_t start, end;
    uint32_t depth;
  };
  for (const Case c : {Case{100, 1100, 3}, Case{~uint64_t{0} - 50, 49, 4}, Case{0, 0, 5},
                       Case{7, 7, 2}, Case{5, 6, 3}}) {
    INFO("range (" << c.start << ", " << c.end << "] depth " << c.depth);
    MerkleTree t(c.start, c.end, c.depth);
    CHECK_FALSE((c.start != c.end && t.Contains(c.start)));
    CHECK(t.Contains(c.end));
    // Consecutive spans: each starts right after the previous one ends; the first at
    // start + 1 and the last at end. (Tiny ranges leave some buckets empty.)
    uint64_t next = c.start + 1;
    uint64_t covered = 0;
    for (uint64_t b = 0; b < t.buckets(); ++b) {
      const MerkleTree::Span s = t.BucketSpan(b);
      if (s.last + 1 == s.first) continue;  // an empty bucket
      CHECK(s.first == next);
      CHECK(t.BucketOf(s.first) == b);
      CHECK(t.BucketOf(s.last) == b);
      covered += s.last - s.first + 1;
      next = s.last + 1;
    }
    CHECK(next == c.end + 1);
    if (c.start != c.end) CHECK(covered == c.end - c.start);
    for (int i = 0; i < 1000; ++i) {
      const uint64_t token = c.start == c.end ? rng.Next() : c.start + 1 + rng.Uniform(c.end - c.start);
      REQUIRE(t.Contains(token));
      const MerkleTree::Span s = t.BucketSpan(t.BucketOf(token));
      CHECK(token - s.first <= s.last - s.first);  // inside the span, mod 2^64
    }
  }
}

}  // namespace
}  // namespace kvd::topology::dynamo
