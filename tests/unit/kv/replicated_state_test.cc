// Unit tests for server/kv/replicated_state.h: the per-key state of multi-writer
// topologies (lww, siblings, counter, set) and the Change that replicates one write.
//
// Goal: replicas that apply the same changes, each origin's in sequence order but origins
// interleaved any way (and with duplicates), end byte-identical; each resolver keeps what
// it promises (lww: the largest (HLC, origin) wins and every silently dropped concurrent
// write is reported; siblings: concurrent writes are kept and a write presenting a context
// replaces exactly what it covers; counter: the sum of all increments; set: an add
// concurrent with a remove survives); a full-state merge (state transfer) gives the same
// result as applying the changes; encodings round-trip and malformed bytes are refused with
// an error. Method: hand-written scenarios with exact expectations, then seeded random
// origins producing changes that are delivered to replicas in random interleavings with
// duplicates, comparing encoded states. A failure means replicas could diverge or a
// resolver could lose a write it promises to keep.
#include "server/kv/replicated_state.h"

#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "common/rng.h"

namespace kvd::kv {
namespace {

using clock::Dot;
using clock::HlcTimestamp;
using clock::VersionVector;

Change Make(Resolver r, ChangeOp op, clock::NodeId origin, uint64_t seq, uint64_t hlc_ms,
            std::string value = "", int64_t amount = 0, VersionVector context = {}) {
  Change c;
  c.dot = Dot{origin, seq};
  c.hlc = HlcTimestamp::From(hlc_ms, 0);
  c.resolver = r;
  c.op = op;
  c.key = "k";
  c.value = std::move(value);
  c.amount = amount;
  c.context = std::move(context);
  return c;
}

VersionVector VV(std::initializer_list<std::pair<clock::NodeId, uint64_t>> entries) {
  VersionVector vv;
  for (const auto& [n, c] : entries) vv.Witness(n, c);
  return vv;
}

std::vector<std::string> SiblingValues(const KeyState& s) {
  std::vector<std::string> out;
  for (const auto& e : s.Siblings()) out.push_back(e.value.value);
  return out;
}

TEST_CASE("Change encoding round-trips and malformed changes are refused") {
  const Change c = Make(Resolver::kSiblings, ChangeOp::kPut, 7, 42, 1000, "value", 0, VV({{3, 9}}));
  const std::string bytes = EncodeChange(c);
  ByteReader r(bytes);
  Change back;
  REQUIRE(DecodeChange(&r, ReplicatedLimits{}, &back).ok());
  CHECK(back == c);

  auto decode = [](std::string b) {
    ByteReader rr(b);
    Change out;
    return DecodeChange(&rr, ReplicatedLimits{}, &out);
  };
  CHECK(decode(bytes.substr(0, 10)).message() == "change: truncated header");
  std::string bad = bytes;
  bad[24] = 9;  // resolver
  CHECK(decode(bad).message() == "change: unknown resolver 9");
  bad = bytes;
  bad[25] = 3;  // op: counter add on a siblings key
  CHECK(decode(bad).message() == "change: operation add on a siblings key");
  bad = bytes;
  bad[15] = 0;  // seq 42 -> 0
  CHECK(decode(bad).message() == "change: sequence number 0");
  ReplicatedLimits small;
  small.max_value_bytes = 2;
  ByteReader r2(bytes);
  CHECK(DecodeChange(&r2, small, &back).message() == "change: bad value");
}

TEST_CASE("lww: the larger (HLC, origin) wins, and concurrent losers are reported") {
  KeyState s(Resolver::kLww);
  CHECK(s.Empty());
  Outcome o = s.Apply(Make(Resolver::kLww, ChangeOp::kPut, 1, 1, 100, "a", 0, VV({})));
  CHECK(o.changed);
  CHECK(o.concurrent_overwrites == 0);
  CHECK(s.LwwValue() == "a");
  // Node 2 had seen (1,1) and writes later: a plain overwrite.
  o = s.Apply(Make(Resolver::kLww, ChangeOp::kPut, 2, 1, 200, "b", 0, VV({{1, 1}})));
  CHECK(s.LwwValue() == "b");
  CHECK(o.concurrent_overwrites == 0);
  // Node 3 had not seen (2,1) and wrote earlier (HLC 150): it loses, and that is reported.
  o = s.Apply(Make(Resolver::kLww, ChangeOp::kPut, 3, 1, 150, "c", 0, VV({{1, 1}})));
  CHECK_FALSE(o.changed);
  CHECK(o.concurrent_overwrites == 1);
  CHECK(s.LwwValue() == "b");
  // Node 3 writes again at HLC 300 without having seen (2,1): it wins; "b" is dropped unseen.
  o = s.Apply(Make(Resolver::kLww, ChangeOp::kPut, 3, 2, 300, "d", 0, VV({{1, 1}, {3, 1}})));
  CHECK(s.LwwValue() == "d");
  CHECK(o.concurrent_overwrites == 1);
  // Same HLC: the larger origin id wins.
  KeyState t(Resolver::kLww);
  (void)t.Apply(Make(Resolver::kLww, ChangeOp::kPut, 5, 1, 100, "five"));
  (void)t.Apply(Make(Resolver::kLww, ChangeOp::kPut, 4, 1, 100, "four"));
  CHECK(t.LwwValue() == "five");
  // A delete leaves a tombstone that still orders later writes.
  (void)t.Apply(Make(Resolver::kLww, ChangeOp::kDelete, 4, 2, 500, "", 0, VV({{5, 1}})));
  CHECK(t.Empty());
  CHECK(t.LwwValue() == std::nullopt);
  CHECK(t.latest() == HlcTimestamp::From(500, 0));
  // Applying the same change again is a no-op.
  CHECK_FALSE(t.Apply(Make(Resolver::kLww, ChangeOp::kDelete, 4, 2, 500, "", 0, VV({{5, 1}}))).changed);
}

TEST_CASE("siblings: concurrent puts coexist; a put with a context replaces what it covers") {
  KeyState s(Resolver::kSiblings);
  (void)s.Apply(Make(Resolver::kSiblings, ChangeOp::kPut, 1, 1, 100, "a"));
  (void)s.Apply(Make(Resolver::kSiblings, ChangeOp::kPut, 2, 1, 100, "b"));
  CHECK(SiblingValues(s) == std::vector<std::string>{"a", "b"});
  auto ctx = DecodeContext(s.Context());
  REQUIRE(ctx.ok());
  CHECK(ctx.value() == VV({{1, 1}, {2, 1}}));
  // A client read both and resolves at node 3.
  const Change resolve = Make(Resolver::kSiblings, ChangeOp::kPut, 3, 1, 200, "ab", 0, ctx.value());
  CHECK(s.SiblingsAfter(resolve) == 1);
  (void)s.Apply(resolve);
  CHECK(SiblingValues(s) == std::vector<std::string>{"ab"});
  // A put without a context is concurrent with everything.
  const Change blind = Make(Resolver::kSiblings, ChangeOp::kPut, 1, 2, 300, "blind");
  CHECK(s.SiblingsAfter(blind) == 2);
  (void)s.Apply(blind);
  CHECK(SiblingValues(s) == std::vector<std::string>{"blind", "ab"});
  // A delete with the context of a read removes both; a put it had not seen stays.
  const VersionVector seen = DecodeContext(s.Context()).value();
  (void)s.Apply(Make(Resolver::kSiblings, ChangeOp::kPut, 2, 2, 310, "late"));
  (void)s.Apply(Make(Resolver::kSiblings, ChangeOp::kDelete, 3, 2, 320, "", 0, seen));
  CHECK(SiblingValues(s) == std::vector<std::string>{"late"});
}

TEST_CASE("siblings: a put arriving after a delete that covered it stays deleted") {
  KeyState s(Resolver::kSiblings);
  // The client saw (1,1) at another replica and deleted it; (1,1) arrives here afterwards.
  (void)s.Apply(Make(Resolver::kSiblings, ChangeOp::kDelete, 2, 1, 200, "", 0, VV({{1, 1}})));
  (void)s.Apply(Make(Resolver::kSiblings, ChangeOp::kPut, 1, 1, 100, "a"));
  CHECK(s.Empty());
}

TEST_CASE("counter: the sum of increments and decrements, each applied once") {
  KeyState s(Resolver::kCounter);
  (void)s.Apply(Make(Resolver::kCounter, ChangeOp::kAdd, 1, 1, 100, "", 5));
  (void)s.Apply(Make(Resolver::kCounter, ChangeOp::kAdd, 2, 1, 100, "", -2));
  (void)s.Apply(Make(Resolver::kCounter, ChangeOp::kAdd, 1, 3, 100, "", 10));
  CHECK(s.CounterValue() == 13);
  CHECK_FALSE(s.Apply(Make(Resolver::kCounter, ChangeOp::kAdd, 1, 3, 100, "", 10)).changed);
  CHECK(s.CounterValue() == 13);
  (void)s.Apply(Make(Resolver::kCounter, ChangeOp::kAdd, 2, 2, 100, "", INT64_MIN));
  (void)s.Apply(Make(Resolver::kCounter, ChangeOp::kAdd, 2, 3, 100, "", INT64_MAX));
  CHECK(s.CounterValue() == 12);
}

TEST_CASE("set: add-wins observed-remove semantics") {
  KeyState s(Resolver::kSet);
  (void)s.Apply(Make(Resolver::kSet, ChangeOp::kSetAdd, 1, 1, 100, "x", 0, VV({})));
  (void)s.Apply(Make(Resolver::kSet, ChangeOp::kSetAdd, 1, 2, 100, "y", 0, VV({{1, 1}})));
  CHECK(s.SetMembers() == std::vector<std::string>{"x", "y"});
  // Node 2 had seen both adds and removes x; node 3 concurrently re-adds x (saw only (1,1)).
  KeyState r2 = s, r3 = s;
  const Change rm = Make(Resolver::kSet, ChangeOp::kSetRemove, 2, 1, 200, "x", 0, VV({{1, 2}}));
  const Change add = Make(Resolver::kSet, ChangeOp::kSetAdd, 3, 1, 200, "x", 0, VV({{1, 1}}));
  (void)r2.Apply(rm);
  CHECK(r2.SetMembers() == std::vector<std::string>{"y"});
  (void)r2.Apply(add);
  (void)r3.Apply(add);
  (void)r3.Apply(rm);
  CHECK(r2.Encode() == r3.Encode());
  CHECK(r2.SetMembers() == std::vector<std::string>{"x", "y"});
  // A remove that had seen the re-add removes x.
  (void)r2.Apply(Make(Resolver::kSet, ChangeOp::kSetRemove, 2, 2, 300, "x", 0, VV({{1, 2}, {3, 1}})));
  CHECK(r2.SetMembers() == std::vector<std::string>{"y"});
}

TEST_CASE("a change of another resolver is ignored and reported") {
  KeyState s(Resolver::kCounter);
  const Outcome o = s.Apply(Make(Resolver::kLww, ChangeOp::kPut, 1, 1, 100, "a"));
  CHECK(o.wrong_resolver);
  CHECK_FALSE(o.changed);
  CHECK(s.Empty());
}

TEST_CASE("KeyState::Decode refuses malformed states") {
  ReplicatedLimits limits;
  CHECK(KeyState::Decode("k", "", limits).status().message() ==
        "replicated state of key 'k': truncated header");
  KeyState s(Resolver::kSiblings);
  (void)s.Apply(Make(Resolver::kSiblings, ChangeOp::kPut, 1, 1, 100, "a"));
  std::string bytes = s.Encode();
  REQUIRE(KeyState::Decode("k", bytes, limits).value() == s);
  CHECK(KeyState::Decode("k", bytes + "x", limits).status().message() ==
        "replicated state of key 'k': trailing bytes");
  bytes[0] = 7;
  CHECK(KeyState::Decode("k", bytes, limits).status().message() ==
        "replicated state of key 'k': unknown resolver 7");
  CHECK(DecodeContext("zz").status().code() == Code::kInvalidArgument);
}

// Random origins, random interleavings with duplicates: byte-identical convergence, and
// full-state merges agree with change application.
TEST_CASE("replicated state converges under any per-origin-ordered interleaving") {
  const Resolver resolvers[] = {Resolver::kLww, Resolver::kSiblings, Resolver::kCounter,
                                Resolver::kSet};
  for (Resolver resolver : resolvers) {
    for (uint64_t seed = 1; seed <= 100; ++seed) {
      Rng rng(seed);
      constexpr size_t kOrigins = 3;
      // Each origin has a replica; it writes against its own state and progress.
      std::vector<KeyState> replica(kOrigins, KeyState(resolver));
      std::vector<VersionVector> progress(kOrigins);
      std::vector<std::vector<Change>> log(kOrigins);
      std::vector<std::vector<size_t>> delivered(kOrigins, std::vector<size_t>(kOrigins, 0));
      int64_t counter_sum = 0;
      uint64_t now = 1000;
      auto deliver = [&](size_t to, size_t from) {
        size_t& next = delivered[to][from];
        if (next >= log[from].size()) return;
        const Change& c = log[from][next];
        (void)replica[to].Apply(c);
        if (rng.Chance(0.2)) (void)replica[to].Apply(c);  // duplicate delivery
        progress[to].Witness(c.dot);
        ++next;
      };
      for (int step = 0; step < 80; ++step) {
        now += rng.Uniform(5);
        const size_t o = rng.Uniform(kOrigins);
        if (rng.Chance(0.5)) {
          Change c;
          c.dot = Dot{o + 1, log[o].size() + 1};
          c.hlc = HlcTimestamp::From(now - rng.Uniform(20), 0);  // skewed clocks
          c.resolver = resolver;
          c.key = "k";
          const std::string v = "v" + std::to_string(rng.Uniform(4));
          switch (resolver) {
            case Resolver::kLww:
              c.op = rng.Chance(0.2) ? ChangeOp::kDelete : ChangeOp::kPut;
              c.value = c.op == ChangeOp::kPut ? v : "";
              c.context = progress[o];
              break;
            case Resolver::kSiblings:
              c.op = rng.Chance(0.2) ? ChangeOp::kDelete : ChangeOp::kPut;
              c.value = c.op == ChangeOp::kPut ? v : "";
              if (rng.Chance(0.7)) c.context = DecodeContext(replica[o].Context()).value();
              break;
            case Resolver::kCounter:
              c.op = ChangeOp::kAdd;
              c.amount = static_cast<int64_t>(rng.Uniform(21)) - 10;
              counter_sum += c.amount;
              break;
            case Resolver::kSet:
              c.op = rng.Chance(0.4) ? ChangeOp::kSetRemove : ChangeOp::kSetAdd;
              c.value = v;
              c.context = progress[o];
              break;
          }
          log[o].push_back(c);
          deliver(o, o);  // the origin applies its own write at once
        } else {
          deliver(o, rng.Uniform(kOrigins));
        }
      }
      // A state transfer mid-way: a fresh replica merges a snapshot of replica 0.
      KeyState transferred(resolver);
      (void)transferred.Merge(replica[0]);
      // Heal: deliver everything.
      for (size_t to = 0; to < kOrigins; ++to) {
        for (size_t from = 0; from < kOrigins; ++from) {
          while (delivered[to][from] < log[from].size()) deliver(to, from);
        }
      }
      INFO("resolver " << ResolverName(resolver) << " seed " << seed);
      for (size_t k = 1; k < kOrigins; ++k) REQUIRE(replica[k].Encode() == replica[0].Encode());
      // Merging full states agrees with applying changes.
      for (size_t k = 1; k < kOrigins; ++k) (void)transferred.Merge(replica[k]);
      REQUIRE(transferred.Encode() == replica[0].Encode());
      if (resolver == Resolver::kCounter) REQUIRE(replica[0].CounterValue() == counter_sum);
      if (resolver == Resolver::kLww) {
        // The winner is the write with the largest (HLC, origin).
        const Change* best = nullptr;
        for (const auto& l : log) {
          for (const auto& c : l) {
            if (!best || std::pair(c.hlc, c.dot.node) > std::pair(best->hlc, best->dot.node)) best = &c;
          }
        }
        if (best) {
          REQUIRE(replica[0].LwwValue() ==
                  (best->op == ChangeOp::kPut ? std::optional<std::string>(best->value) : std::nullopt));
        }
      }
    }
  }
}


Stability Stable(VersionVector vv, uint64_t clock_ms) {
  return Stability{std::move(vv), HlcTimestamp::From(clock_ms, 0)};
}

TEST_CASE("tombstone collection: lww and siblings tombstones go once stable and old enough") {
  KeyState lww(Resolver::kLww);
  (void)lww.Apply(Make(Resolver::kLww, ChangeOp::kPut, 1, 1, 100, "a", 0, VV({})));
  CHECK_FALSE(lww.HasTombstones());
  // A live key is never collected.
  CHECK(lww.CollectTombstones(Stable(VV({{1, 5}}), 10'000), 10'000, 0) == Collected::kNothing);
  (void)lww.Apply(Make(Resolver::kLww, ChangeOp::kDelete, 2, 1, 200, "", 0, VV({{1, 1}})));
  CHECK(lww.HasTombstones());
  // Not every member has the delete yet.
  CHECK(lww.CollectTombstones(Stable(VV({{1, 1}}), 10'000), 10'000, 0) == Collected::kNothing);
  // Every member has it, but some member's clock is not past it yet.
  CHECK(lww.CollectTombstones(Stable(VV({{1, 1}, {2, 1}}), 200), 10'000, 0) == Collected::kNothing);
  // Stable, but within the grace period (last write at 200 ms, grace 1000 ms).
  CHECK(lww.CollectTombstones(Stable(VV({{1, 1}, {2, 1}}), 10'000), 1'100, 1'000) ==
        Collected::kNothing);
  CHECK(lww.CollectTombstones(Stable(VV({{1, 1}, {2, 1}}), 10'000), 1'200, 1'000) ==
        Collected::kRemoveKey);

  KeyState sib(Resolver::kSiblings);
  (void)sib.Apply(Make(Resolver::kSiblings, ChangeOp::kPut, 1, 1, 100, "a"));
  (void)sib.Apply(Make(Resolver::kSiblings, ChangeOp::kDelete, 2, 4, 200, "", 0, VV({{1, 1}, {3, 2}})));
  CHECK(sib.HasTombstones());
  // The delete's context names (3,2): a change this replica may not have everywhere yet.
  CHECK(sib.CollectTombstones(Stable(VV({{1, 1}, {2, 4}}), 10'000), 10'000, 0) ==
        Collected::kNothing);
  // Everything the context names is everywhere, but the delete itself (2,4) is not yet.
  CHECK(sib.CollectTombstones(Stable(VV({{1, 1}, {2, 3}, {3, 2}}), 10'000), 10'000, 0) ==
        Collected::kNothing);
  CHECK(sib.CollectTombstones(Stable(VV({{1, 1}, {2, 4}, {3, 2}}), 10'000), 10'000, 0) ==
        Collected::kRemoveKey);
}

TEST_CASE("tombstone collection: a set drops removed elements and keeps the others") {
  KeyState s(Resolver::kSet);
  (void)s.Apply(Make(Resolver::kSet, ChangeOp::kSetAdd, 1, 1, 100, "x", 0, VV({})));
  (void)s.Apply(Make(Resolver::kSet, ChangeOp::kSetAdd, 1, 2, 100, "y", 0, VV({{1, 1}})));
  (void)s.Apply(Make(Resolver::kSet, ChangeOp::kSetRemove, 2, 1, 200, "x", 0, VV({{1, 2}})));
  CHECK(s.HasTombstones());
  CHECK(s.SetMembers() == std::vector<std::string>{"y"});
  // The remove (2,1) itself must be everywhere, not only the adds it saw.
  CHECK(s.CollectTombstones(Stable(VV({{1, 2}}), 10'000), 10'000, 0) == Collected::kNothing);
  CHECK(s.CollectTombstones(Stable(VV({{1, 2}, {2, 1}}), 10'000), 10'000, 0) == Collected::kTrimmed);
  CHECK_FALSE(s.HasTombstones());
  CHECK(s.SetMembers() == std::vector<std::string>{"y"});
  // Removing the last element leaves a key that goes whole.
  (void)s.Apply(Make(Resolver::kSet, ChangeOp::kSetRemove, 2, 2, 300, "y", 0, VV({{1, 2}, {2, 1}})));
  CHECK(s.CollectTombstones(Stable(VV({{1, 2}, {2, 2}}), 10'000), 10'000, 0) ==
        Collected::kRemoveKey);
  // Counters keep no deletion history.
  KeyState c(Resolver::kCounter);
  (void)c.Apply(Make(Resolver::kCounter, ChangeOp::kAdd, 1, 1, 100, "", 5));
  CHECK_FALSE(c.HasTombstones());
  CHECK(c.CollectTombstones(Stable(VV({{1, 1}}), 10'000), 10'000, 0) == Collected::kNothing);
}

TEST_CASE("tombstone collection: a later write reads the same with the tombstone or without") {
  // Whatever a member writes after the stability report is stamped above its clock and has
  // seen the delete, so applying it to the collected (absent) key or to the tombstone
  // gives the same state.
  KeyState with(Resolver::kLww);
  (void)with.Apply(Make(Resolver::kLww, ChangeOp::kPut, 1, 1, 100, "a", 0, VV({})));
  (void)with.Apply(Make(Resolver::kLww, ChangeOp::kDelete, 2, 1, 200, "", 0, VV({{1, 1}})));
  KeyState collected = with;
  REQUIRE(collected.CollectTombstones(Stable(VV({{1, 1}, {2, 1}}), 300), 5'000, 0) ==
          Collected::kRemoveKey);
  KeyState without(Resolver::kLww);
  const Change later = Make(Resolver::kLww, ChangeOp::kPut, 3, 7, 400, "b", 0, VV({{1, 1}, {2, 1}}));
  (void)with.Apply(later);
  (void)without.Apply(later);
  CHECK(with.Encode() == without.Encode());

  KeyState set_with(Resolver::kSet);
  (void)set_with.Apply(Make(Resolver::kSet, ChangeOp::kSetAdd, 1, 1, 100, "x", 0, VV({})));
  (void)set_with.Apply(Make(Resolver::kSet, ChangeOp::kSetRemove, 2, 1, 200, "x", 0, VV({{1, 1}})));
  KeyState set_without(Resolver::kSet);
  const Change readd = Make(Resolver::kSet, ChangeOp::kSetAdd, 3, 7, 400, "x", 0, VV({{1, 1}, {2, 1}}));
  (void)set_with.Apply(readd);
  (void)set_without.Apply(readd);
  CHECK(set_with.Encode() == set_without.Encode());
}

}  // namespace
}  // namespace kvd::kv
