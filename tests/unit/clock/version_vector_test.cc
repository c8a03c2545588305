// Unit tests for common/clock/version_vector.h: version vectors, dots and DotMap, the
// dotted causal container behind siblings and OR-sets.
//
// Goal: (1) vector comparison gives the four causal relations exactly; (2) the encoding is
// stable and Decode refuses every malformed input with an error, never a crash; (3) DotMap
// behaves as a multi-value register: a write that presents what it read replaces exactly
// that, concurrent writes become siblings, and a remove cannot be undone by a replica that
// had not seen it; (4) merge is commutative, associative and idempotent, so replicas that
// exchange states in any order converge; (5) no write disappears unless a later write or
// delete presented a context that covered it. Method: hand-written scenarios with exact
// expected states, then seeded random runs of replicas writing with stale contexts and
// merging in random order, checking (4) and (5) on every run. A failure means siblings
// could be lost silently or replicas could disagree forever.
#include "common/clock/version_vector.h"

#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/rng.h"

namespace kvd::clock {
namespace {

VersionVector VV(std::initializer_list<std::pair<NodeId, uint64_t>> entries) {
  VersionVector vv;
  for (const auto& [n, c] : entries) vv.Witness(n, c);
  return vv;
}

std::vector<std::string> Values(const DotMap<std::string>& m) {
  std::vector<std::string> out;
  for (const auto& e : m.entries()) out.push_back(e.value);
  return out;
}

TEST_CASE("VersionVector: get, witness, join") {
  VersionVector a;
  CHECK(a.empty());
  CHECK(a.Get(7) == 0);
  a.Witness(7, 3);
  a.Witness(2, 1);
  a.Witness(7, 2);  // lower: ignored
  a.Witness(9, 0);  // zero: nothing
  CHECK(a.ToString() == "{2:1, 7:3}");
  CHECK(a.Covers(Dot{7, 3}));
  CHECK_FALSE(a.Covers(Dot{7, 4}));
  CHECK_FALSE(a.Covers(Dot{5, 1}));
  a.Join(VV({{1, 5}, {7, 1}, {8, 2}}));
  CHECK(a.ToString() == "{1:5, 2:1, 7:3, 8:2}");
  CHECK(a.Total() == 11);
}

TEST_CASE("VersionVector::Compare gives the four causal relations") {
  CHECK(VV({{1, 2}}).Compare(VV({{1, 2}})) == Causality::kEqual);
  CHECK(VersionVector().Compare(VersionVector()) == Causality::kEqual);
  CHECK(VV({{1, 1}}).Compare(VV({{1, 2}})) == Causality::kBefore);
  CHECK(VV({{1, 2}}).Compare(VV({{1, 2}, {3, 1}})) == Causality::kBefore);
  CHECK(VV({{1, 3}, {2, 1}}).Compare(VV({{1, 2}})) == Causality::kAfter);
  CHECK(VV({{1, 3}}).Compare(VV({{2, 1}})) == Causality::kConcurrent);
  CHECK(VV({{1, 3}, {2, 1}}).Compare(VV({{1, 2}, {2, 2}})) == Causality::kConcurrent);
  CHECK(VV({{1, 3}, {2, 1}}).Descends(VV({{1, 2}})));
  CHECK_FALSE(VV({{1, 2}}).Descends(VV({{2, 1}})));
}

TEST_CASE("VersionVector encoding is stable and round-trips") {
  std::string out;
  ByteWriter w(&out);
  VV({{1, 5}, {0x0102030405060708, 2}}).Encode(&w);
  CHECK(ToHex(out) ==
        "0002"
        "0000000000000001" "0000000000000005"
        "0102030405060708" "0000000000000002");
  ByteReader r(out);
  VersionVector back;
  REQUIRE(VersionVector::Decode(&r, &back).ok());
  CHECK(r.done());
  CHECK(back == VV({{1, 5}, {0x0102030405060708, 2}}));
}

TEST_CASE("VersionVector::Decode refuses malformed input with an error") {
  auto decode = [](const std::string& hex) {
    std::string bytes;
    REQUIRE(FromHex(hex, &bytes));
    ByteReader r(bytes);
    VersionVector vv;
    return VersionVector::Decode(&r, &vv);
  };
  CHECK(decode("").message() == "version vector: truncated entry count");
  CHECK(decode("0001" "0000000000000001").message() == "version vector: entry 0 of 1 truncated");
  CHECK(decode("0001" "0000000000000001" "0000000000000000").message() ==
        "version vector: zero counter");
  CHECK(decode("0002" "0000000000000002" "0000000000000001"
               "0000000000000001" "0000000000000001").message() ==
        "version vector: node ids not strictly increasing");
  CHECK(decode("ffff").message() == "version vector: 65535 entries (at most 1023)");
  CHECK(decode("0000").ok());
}

TEST_CASE("DotMap as siblings: a write replaces what it read; concurrent writes coexist") {
  DotMap<std::string> key;
  // Node 1 writes "a" with no context (first write).
  Dot d = key.NextDot(1, VersionVector());
  CHECK(d == Dot{1, 1});
  key.Discard(VersionVector());
  key.Add(d, "a");
  const VersionVector read_a = key.context();  // a client reads {1:1}

  // Node 2's replica had not seen "a"; a write there is concurrent.
  DotMap<std::string> other;
  Dot d2 = other.NextDot(2, VersionVector());
  other.Add(d2, "b");
  key.Merge(other);
  CHECK(Values(key) == std::vector<std::string>{"a", "b"});
  CHECK(key.context() == VV({{1, 1}, {2, 1}}));

  // A client that read only "a" writes "c": "a" goes, "b" stays as a sibling.
  d = key.NextDot(1, read_a);
  CHECK(key.Discard(read_a) == 1);
  key.Add(d, "c");
  CHECK(Values(key) == std::vector<std::string>{"c", "b"});

  // A client that read both siblings resolves them into one value.
  const VersionVector read_all = key.context();
  d = key.NextDot(3, read_all);
  CHECK(d == Dot{3, 1});
  CHECK(key.Discard(read_all) == 2);
  key.Add(d, "resolved");
  CHECK(Values(key) == std::vector<std::string>{"resolved"});

  // A stale replica that still holds "b" cannot bring it back.
  DotMap<std::string> stale = other;
  stale.Merge(key);
  CHECK(Values(stale) == std::vector<std::string>{"resolved"});
}

TEST_CASE("DotMap::NextDot is past both the replica's and the client's counters") {
  DotMap<std::string> key;
  key.Add(Dot{1, 1}, "x");
  CHECK(key.NextDot(1, VersionVector()) == Dot{1, 2});
  CHECK(key.NextDot(1, VV({{1, 7}})) == Dot{1, 8});
  CHECK(key.NextDot(4, VV({{1, 7}})) == Dot{4, 1});
}

TEST_CASE("DotMap as an add-wins set: an add concurrent with a remove survives") {
  // Element values; add = drop own dots for the element, add a new dot; remove = drop dots.
  auto add = [](DotMap<std::string>* s, NodeId node, const std::string& e) {
    s->RemoveIf([&](const std::string& v) { return v == e; });
    s->Add(s->NextDot(node, VersionVector()), e);
  };
  auto remove = [](DotMap<std::string>* s, const std::string& e) {
    s->RemoveIf([&](const std::string& v) { return v == e; });
  };
  DotMap<std::string> r1;
  add(&r1, 1, "x");
  DotMap<std::string> r2 = r1;  // both replicas hold x
  remove(&r1, "x");             // replica 1 removes x ...
  add(&r2, 2, "x");             // ... while replica 2 adds it again
  DotMap<std::string> m1 = r1, m2 = r2;
  m1.Merge(r2);
  m2.Merge(r1);
  CHECK(m1 == m2);
  CHECK(Values(m1) == std::vector<std::string>{"x"});  // the concurrent add wins

  // A remove that had seen the add removes it everywhere.
  remove(&m1, "x");
  m2.Merge(m1);
  CHECK(m2.empty());
}

TEST_CASE("DotMap::Make refuses unsorted entries and dots outside the context") {
  using E = DotMap<std::string>::Entry;
  DotMap<std::string> m;
  CHECK(DotMap<std::string>::Make({E{Dot{1, 2}, "a"}, E{Dot{1, 1}, "b"}}, VV({{1, 2}}), &m)
            .message() == "dotted values are not in increasing dot order");
  CHECK(DotMap<std::string>::Make({E{Dot{1, 3}, "a"}}, VV({{1, 2}}), &m).message() ==
        "a dotted value's dot 1:3 is outside its causal context");
  REQUIRE(DotMap<std::string>::Make({E{Dot{1, 1}, "a"}, E{Dot{2, 1}, "b"}},
                                    VV({{1, 2}, {2, 1}}), &m).ok());
  CHECK(Values(m) == std::vector<std::string>{"a", "b"});
}

// Random replicas writing with stale contexts: merge laws, convergence, and no write lost
// without a covering context.
TEST_CASE("DotMap: random writes and merges converge and lose only what was overwritten") {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    Rng rng(seed);
    constexpr size_t kReplicas = 4;
    std::vector<DotMap<std::string>> replicas(kReplicas);
    std::map<Dot, std::string> written;        // every write, by dot
    std::vector<VersionVector> presented;      // every context a write or delete presented
    int value = 0;
    for (int step = 0; step < 60; ++step) {
      const size_t r = rng.Uniform(kReplicas);
      const int action = static_cast<int>(rng.Uniform(10));
      if (action < 5) {
        // A client write: it read some replica a while ago (maybe this one, maybe stale).
        const VersionVector seen = rng.Chance(0.3) ? VersionVector()
                                                   : replicas[rng.Uniform(kReplicas)].context();
        const Dot d = replicas[r].NextDot(static_cast<NodeId>(r + 1), seen);
        replicas[r].Discard(seen);
        const std::string v = "v" + std::to_string(value++);
        replicas[r].Add(d, v);
        written[d] = v;
        presented.push_back(seen);
      } else if (action < 6) {
        // A delete presenting what it read.
        const VersionVector seen = replicas[rng.Uniform(kReplicas)].context();
        replicas[r].Discard(seen);
        presented.push_back(seen);
      } else {
        const size_t from = rng.Uniform(kReplicas);
        DotMap<std::string> a = replicas[r], b = replicas[from];
        // Commutative and idempotent.
        DotMap<std::string> ab = a, ba = b;
        ab.Merge(b);
        ba.Merge(a);
        REQUIRE(ab == ba);
        DotMap<std::string> abb = ab;
        abb.Merge(b);
        REQUIRE(abb == ab);
        // Associative with a third replica.
        const DotMap<std::string>& c = replicas[rng.Uniform(kReplicas)];
        DotMap<std::string> ab_c = ab, bc = b;
        ab_c.Merge(c);
        bc.Merge(c);
        DotMap<std::string> a_bc = a;
        a_bc.Merge(bc);
        REQUIRE(ab_c == a_bc);
        replicas[r] = ab;
      }
    }
    // Heal: everyone merges everyone.
    DotMap<std::string> all;
    for (const auto& rep : replicas) all.Merge(rep);
    for (auto& rep : replicas) {
      rep.Merge(all);
      REQUIRE(rep == all);
    }
    // Every surviving value is the value written under its dot.
    std::set<Dot> live;
    for (const auto& e : all.entries()) {
      REQUIRE(written.at(e.dot) == e.value);
      live.insert(e.dot);
    }
    // Every write that is gone was covered by a context some later write or delete presented.
    for (const auto& [dot, v] : written) {
      if (live.count(dot)) continue;
      bool covered = false;
      for (const auto& ctx : presented) covered = covered || ctx.Covers(dot);
      INFO("seed " << seed << " lost " << dot.ToString() << " = " << v);
      REQUIRE(covered);
    }
  }
}

}  // namespace
}  // namespace kvd::clock
