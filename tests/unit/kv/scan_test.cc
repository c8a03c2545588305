// SCAN unit tests: key ranges, continuation tokens, paging, and the merge of unwritten
// (overlay) writes with the engine (server/kv/scan_range.h, server/kv/kv_scan.cc).
//
// Goal: a client that pages through a SCAN to the end must see exactly the live keys of
// [start, end) ∩ prefix, in key order (or reverse), each once, with the versions and
// values a GET would return at that moment, whether those writes are durable or still in
// the group-commit overlay; each page must respect the item limit and fit in a frame. Method:
// table tests for the pure range and token helpers; small hand-built stores for each rule
// (limit, keys_only, paging by bytes, foreign tokens, expiry, overlay deletes and inserts in
// both directions); and a randomized model-based test that, from fixed seeds, applies
// random PUT/DELETE/CAS/BATCH requests with TTLs, sweeps, group writes, rollbacks and
// restarts, keeping some groups unwritten, and after every round compares random paged
// scans and GETs against a std::map model. A failure means a scan can skip, repeat or
// resurrect a key, return a page a client cannot decode, or loop forever; the randomized
// test prints its seed and round (rerun with the same seed to replay it).
#include <fmt/format.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kv_harness.h"
#include "server/kv/scan_range.h"

namespace kvd::kv {
namespace {

using testing::BodyOf;
using testing::DeleteOp;
using testing::Harness;
using testing::PutOp;

constexpr uint64_t kNow = 1'000'000;

wire::ScanRequest Scan(std::string prefix = "", std::string start = "", std::string end = "",
                       uint32_t limit = 0, bool reverse = false, bool keys_only = false) {
  wire::ScanRequest r;
  r.prefix = std::move(prefix);
  r.start = std::move(start);
  r.end = std::move(end);
  r.limit = limit;
  r.reverse = reverse;
  r.keys_only = keys_only;
  return r;
}

std::vector<std::string> KeysOf(const std::vector<wire::ScanItem>& items) {
  std::vector<std::string> keys;
  for (const wire::ScanItem& item : items) keys.push_back(item.key);
  return keys;
}

// Bytes one item takes in an encoded ScanResponse (codec.cc: bytes key, u64 version,
// u64 expires_at_ms, bytes value).
size_t ItemBytes(const wire::ScanItem& item) {
  return 4 + item.key.size() + 16 + 4 + item.value.size();
}
// Bytes a continuation token for last_key adds beyond the empty token's length prefix
// (format, flags, key).
size_t TokenBytes(const std::string& last_key) { return 2 + last_key.size(); }

struct Paged {
  std::vector<wire::ScanItem> items;
  std::vector<std::vector<wire::ScanItem>> pages;
  std::vector<bool> has_token;
};

// Pages through a scan to its end, checking the invariants every page must hold.
Paged ScanAll(Harness& h, wire::ScanRequest request, uint64_t now_ms, const KvOptions& options) {
  Paged out;
  const size_t limit = request.limit == 0 ? options.limits.max_scan_limit : request.limit;
  for (int page = 0;; ++page) {
    REQUIRE(page < 10'000);  // a scan that never ends
    wire::Response resp = h.Apply(request, now_ms);
    const auto& body = BodyOf<wire::ScanResponse>(resp);
    REQUIRE(body.items.size() <= limit);
    // A page fits in a frame, continuation included.
    std::string frame;
    wire::EncodeResponse(resp, &frame);
    CHECK(frame.size() <= options.limits.max_frame_bytes);
    out.pages.push_back(body.items);
    out.has_token.push_back(!body.continuation.empty());
    out.items.insert(out.items.end(), body.items.begin(), body.items.end());
    if (body.continuation.empty()) break;
    // A page with a token has made progress, and its token names its last key.
    REQUIRE_FALSE(body.items.empty());
    CHECK(body.continuation == EncodeContinuation(request.reverse, body.items.back().key));
    request.continuation = body.continuation;
  }
  return out;
}

// ---- ranges and tokens ----

TEST_CASE("kv: PrefixSuccessor is the least string above every extension", "[unit][kv]") {
  CHECK(PrefixSuccessor("ab") == std::optional<std::string>("ac"));
  CHECK(PrefixSuccessor(std::string("a\xff", 2)) == std::optional<std::string>("b"));
  CHECK(PrefixSuccessor(std::string("a\xff\xff", 3)) == std::optional<std::string>("b"));
  CHECK(PrefixSuccessor(std::string("\x00", 1)) == std::optional<std::string>("\x01"));
  CHECK(PrefixSuccessor(std::string("\xfe", 1)) == std::optional<std::string>("\xff"));
  CHECK(PrefixSuccessor(std::string("\xff\xff", 2)) == std::nullopt);
  CHECK(PrefixSuccessor("") == std::nullopt);
}

TEST_CASE("kv: ScanKeyRange intersects [start, end) with the prefix", "[unit][kv]") {
  struct Case {
    std::string prefix, start, end;
    std::string lower;
    std::optional<std::string> upper;
  };
  const Case c =
      GENERATE(Case{"", "", "", "", std::nullopt}, Case{"", "b", "", "b", std::nullopt},
               Case{"", "", "m", "", "m"}, Case{"ab", "", "", "ab", "ac"},
               Case{"ab", "aa", "zz", "ab", "ac"}, Case{"ab", "abc", "", "abc", "ac"},
               Case{"ab", "", "abm", "ab", "abm"}, Case{"ab", "b", "", "b", "ac"},
               Case{std::string("\xff", 1), "", "", std::string("\xff", 1), std::nullopt},
               Case{std::string("\xff", 1), "", std::string("\xff\x10", 2), std::string("\xff", 1),
                    std::string("\xff\x10", 2)});
  CAPTURE(c.prefix, c.start, c.end);
  KeyRange range = ScanKeyRange(Scan(c.prefix, c.start, c.end));
  CHECK(range.lower == c.lower);
  CHECK(range.upper == c.upper);
  // The (prefix "ab", start "b") range is empty.
  CHECK(range.Empty() == (c.start == "b" && c.prefix == "ab"));
}

TEST_CASE("kv: a continuation narrows the range to what follows its key", "[unit][kv]") {
  wire::ScanRequest forward = Scan("k");
  forward.continuation = EncodeContinuation(false, "k5");
  KeyRange range = ScanKeyRange(forward);
  REQUIRE(ApplyContinuation(forward, &range).ok());
  CHECK_FALSE(range.Contains("k5"));
  CHECK(range.Contains(std::string("k5\0", 3)));
  CHECK(range.Contains("k6"));
  CHECK_FALSE(range.Contains("l"));

  wire::ScanRequest reverse = Scan("k", "", "", 0, true);
  reverse.continuation = EncodeContinuation(true, "k5");
  range = ScanKeyRange(reverse);
  REQUIRE(ApplyContinuation(reverse, &range).ok());
  CHECK_FALSE(range.Contains("k5"));
  CHECK_FALSE(range.Contains(std::string("k5\0", 3)));
  CHECK(range.Contains("k4\xff"));
  CHECK(range.Contains("k"));
}

TEST_CASE("kv: a continuation from another scan or a malformed one is kInvalidArgument",
          "[unit][kv]") {
  Harness h;
  for (const char* key : {"a1", "a2", "b1"}) h.Put(key, "v", kNow);
  struct Case {
    const char* name;
    wire::ScanRequest scan;
    std::string token;
  };
  const Case c =
      GENERATE(Case{"reverse token, forward scan", Scan("a"), EncodeContinuation(true, "a1")},
               Case{"forward token, reverse scan", Scan("a", "", "", 0, true),
                    EncodeContinuation(false, "a1")},
               Case{"key outside the prefix", Scan("a"), EncodeContinuation(false, "b1")},
               Case{"key below start", Scan("", "a2"), EncodeContinuation(false, "a1")},
               Case{"key at end", Scan("", "", "b1"), EncodeContinuation(false, "b1")},
               Case{"unknown format", Scan(),
                    std::string("\x02\x00"
                                "a1",
                                4)},
               Case{"unknown flag", Scan(),
                    std::string("\x01\x02"
                                "a1",
                                4)},
               Case{"empty key", Scan(), std::string("\x01\x00", 2)},
               Case{"one byte", Scan(), std::string("\x01", 1)});
  CAPTURE(c.name);
  wire::ScanRequest scan = c.scan;
  scan.continuation = c.token;
  wire::Response resp = h.Apply(scan, kNow);
  CHECK(resp.status == Code::kInvalidArgument);
  CHECK(resp.session_token.empty());
}

// ---- basic scans ----

TEST_CASE("kv: SCAN returns the live keys of [start, end) and prefix, in either order",
          "[unit][kv]") {
  Harness h;
  for (const char* key : {"a", "ab", "abc", "abd", "ac", "b", "ba", "c"}) h.Put(key, key, kNow);
  const bool written = GENERATE(false, true);
  CAPTURE(written);
  if (written) h.Commit();
  using Keys = std::vector<std::string>;
  auto keys = [&](wire::ScanRequest r) {
    return KeysOf(BodyOf<wire::ScanResponse>(h.Apply(r, kNow)).items);
  };
  CHECK(keys(Scan()) == Keys{"a", "ab", "abc", "abd", "ac", "b", "ba", "c"});
  CHECK(keys(Scan("ab")) == Keys{"ab", "abc", "abd"});
  CHECK(keys(Scan("ab", "", "", 0, true)) == Keys{"abd", "abc", "ab"});
  CHECK(keys(Scan("", "ab", "b")) == Keys{"ab", "abc", "abd", "ac"});
  CHECK(keys(Scan("", "ab", "b", 0, true)) == Keys{"ac", "abd", "abc", "ab"});
  CHECK(keys(Scan("a", "abd")) == Keys{"abd", "ac"});
  CHECK(keys(Scan("b", "", "c", 0, true)) == Keys{"ba", "b"});
  CHECK(keys(Scan("", "bb")) == Keys{"c"});
  CHECK(keys(Scan("", "bb", "", 0, true)) == Keys{"c"});
  CHECK(keys(Scan("", "", "ab", 0, true)) == Keys{"a"});
  CHECK(keys(Scan("d")).empty());
  CHECK(keys(Scan("ab", "b")).empty());
  CHECK(keys(Scan("", "abc", "abd")) == Keys{"abc"});

  // Items carry version, expiry and value as a GET would.
  const auto& one = BodyOf<wire::ScanResponse>(h.Apply(Scan("ba"), kNow));
  REQUIRE(one.items.size() == 1);
  CHECK(one.items[0].version == 7);
  CHECK(one.items[0].value == "ba");
  CHECK(one.items[0].expires_at_ms == 0);
  CHECK(one.continuation.empty());
}

TEST_CASE("kv: SCAN keys with 0x00 and 0xff bytes sort and page bytewise", "[unit][kv]") {
  Harness h;
  const std::vector<std::string> all = {std::string("a", 1),         std::string("a\x00", 2),
                                        std::string("a\x00\x00", 3), std::string("a\x01", 2),
                                        std::string("a\xff", 2),     std::string("a\xff\xff", 3),
                                        std::string("b", 1),         std::string("\xff", 1)};
  for (const std::string& key : all) h.Put(key, "v", kNow);
  const bool written = GENERATE(false, true);
  const bool reverse = GENERATE(false, true);
  CAPTURE(written, reverse);
  if (written) h.Commit();
  std::vector<std::string> expected = all;
  if (reverse) std::reverse(expected.begin(), expected.end());
  Paged paged = ScanAll(h, Scan("", "", "", 1, reverse), kNow, testing::TestOptions());
  CHECK(KeysOf(paged.items) == expected);
  CHECK(paged.pages.size() == all.size());

  std::vector<std::string> a_prefixed(all.begin(), all.begin() + 6);
  if (reverse) std::reverse(a_prefixed.begin(), a_prefixed.end());
  paged = ScanAll(h, Scan("a", "", "", 2, reverse), kNow, testing::TestOptions());
  CHECK(KeysOf(paged.items) == a_prefixed);

  std::vector<std::string> ff_prefixed = {std::string("a\xff", 2), std::string("a\xff\xff", 3)};
  if (reverse) std::reverse(ff_prefixed.begin(), ff_prefixed.end());
  paged =
      ScanAll(h, Scan(std::string("a\xff", 2), "", "", 1, reverse), kNow, testing::TestOptions());
  CHECK(KeysOf(paged.items) == ff_prefixed);
}

TEST_CASE("kv: SCAN limit bounds a page; limit 0 means limits.max_scan_limit", "[unit][kv]") {
  KvOptions options = testing::TestOptions();
  options.limits.max_scan_limit = 3;
  Harness h(options);
  for (int i = 0; i < 7; ++i) h.Put(fmt::format("k{}", i), "v", kNow);
  const auto& first = BodyOf<wire::ScanResponse>(h.Apply(Scan("", "", "", 2), kNow));
  CHECK(KeysOf(first.items) == std::vector<std::string>{"k0", "k1"});
  CHECK_FALSE(first.continuation.empty());
  const auto& unlimited = BodyOf<wire::ScanResponse>(h.Apply(Scan(), kNow));
  CHECK(KeysOf(unlimited.items) == std::vector<std::string>{"k0", "k1", "k2"});

  Paged paged = ScanAll(h, Scan(), kNow, options);
  CHECK(paged.pages.size() == 3);
  CHECK(paged.items.size() == 7);
  paged = ScanAll(h, Scan("", "", "", 0, true), kNow, options);
  CHECK(KeysOf(paged.items) == std::vector<std::string>{"k6", "k5", "k4", "k3", "k2", "k1", "k0"});
}

TEST_CASE("kv: SCAN gives no continuation when nothing remains", "[unit][kv]") {
  Harness h;
  for (const char* key : {"a", "b", "c"}) h.Put(key, "v", kNow);
  const bool reverse = GENERATE(false, true);
  CAPTURE(reverse);
  // Exactly `limit` keys remain.
  const auto& exact = BodyOf<wire::ScanResponse>(h.Apply(Scan("", "", "", 3, reverse), kNow));
  CHECK(exact.items.size() == 3);
  CHECK(exact.continuation.empty());
  // What remains after the page is only dead: expired, deleted in the overlay, or
  // deleted in the engine.
  h.Put("d", "v", kNow, 10);
  h.Put("0", "v", kNow, 10);
  h.Commit();
  h.Put("e", "v", kNow);
  h.Put("\x01", "v", kNow);
  h.Commit();
  REQUIRE(h.Delete("e", kNow));
  REQUIRE(h.Delete("\x01", kNow));  // both still in the overlay
  const auto& dead = BodyOf<wire::ScanResponse>(h.Apply(Scan("", "", "", 3, reverse), kNow + 10));
  CHECK(dead.items.size() == 3);
  CHECK(dead.continuation.empty());
  // Empty ranges give an empty page without a token.
  const auto& none = BodyOf<wire::ScanResponse>(h.Apply(Scan("zz", "", "", 0, reverse), kNow));
  CHECK(none.items.empty());
  CHECK(none.continuation.empty());
}

TEST_CASE("kv: SCAN keys_only returns empty values with versions", "[unit][kv]") {
  Harness h;
  h.Put("a", std::string(100, 'x'), kNow);
  h.Put("b", "y", kNow, 50);
  h.Commit();
  h.Put("c", "z", kNow);
  const bool reverse = GENERATE(false, true);
  const auto& out = BodyOf<wire::ScanResponse>(h.Apply(Scan("", "", "", 0, reverse, true), kNow));
  REQUIRE(out.items.size() == 3);
  for (const wire::ScanItem& item : out.items) CHECK(item.value.empty());
  const wire::ScanItem& b = out.items[1];
  CHECK(b.key == "b");
  CHECK(b.version == 2);
  CHECK(b.expires_at_ms == kNow + 50);
}

TEST_CASE("kv: SCAN skips expired keys, durable or not", "[unit][kv]") {
  Harness h;
  h.Put("a", "v", kNow, 10);
  h.Put("b", "v", kNow);
  h.Put("c", "v", kNow, 20);
  h.Commit();
  h.Put("d", "v", kNow, 10);
  h.Put("e", "v", kNow, 30);
  const bool reverse = GENERATE(false, true);
  auto keys = [&](uint64_t now) {
    std::vector<std::string> k =
        KeysOf(ScanAll(h, Scan("", "", "", 1, reverse), now, testing::TestOptions()).items);
    if (reverse) std::reverse(k.begin(), k.end());
    return k;
  };
  CHECK(keys(kNow + 9) == std::vector<std::string>{"a", "b", "c", "d", "e"});
  CHECK(keys(kNow + 10) == std::vector<std::string>{"b", "c", "e"});
  CHECK(keys(kNow + 20) == std::vector<std::string>{"b", "e"});
  CHECK(keys(kNow + 30) == std::vector<std::string>{"b"});
}

// ---- paging by bytes ----

TEST_CASE("kv: SCAN pages stop before limits.max_frame_bytes - 1024", "[unit][kv]") {
  KvOptions options = testing::TestOptions();
  options.limits.max_frame_bytes = 1024 + 1000;
  Harness h(options);
  // Items of 4 + 2 + 16 + 4 + 300 = 326 bytes: three fit in 1000 bytes, a fourth does not.
  for (int i = 0; i < 10; ++i) h.Put(fmt::format("k{}", i), std::string(300, 'v'), kNow);
  const bool reverse = GENERATE(false, true);
  Paged paged = ScanAll(h, Scan("", "", "", 0, reverse), kNow, options);
  REQUIRE(paged.items.size() == 10);
  for (size_t p = 0; p < paged.pages.size(); ++p) {
    CAPTURE(p);
    CHECK(paged.pages[p].size() == (p + 1 < paged.pages.size() ? 3u : 1u));
  }
  // keys_only pages ignore the values' size.
  paged = ScanAll(h, Scan("", "", "", 0, reverse, true), kNow, options);
  CHECK(paged.pages.size() == 1);
}

TEST_CASE("kv: a SCAN item larger than the page budget still makes a page", "[unit][kv]") {
  KvOptions options = testing::TestOptions();
  options.limits.max_frame_bytes = 1024 + 100;
  options.limits.max_value_bytes = 1000;
  Harness h(options);
  h.Put("a", std::string(500, 'v'), kNow);
  h.Put("b", std::string(500, 'v'), kNow);
  const bool reverse = GENERATE(false, true);
  // Each page holds exactly one item, so the client always makes progress.
  wire::Response resp = h.Apply(Scan("", "", "", 0, reverse), kNow);
  const auto& first = BodyOf<wire::ScanResponse>(resp);
  CHECK(first.items.size() == 1);
  CHECK_FALSE(first.continuation.empty());
  wire::ScanRequest next = Scan("", "", "", 0, reverse);
  next.continuation = first.continuation;
  const auto& second = BodyOf<wire::ScanResponse>(h.Apply(next, kNow));
  CHECK(second.items.size() == 1);
  CHECK(second.items[0].key != first.items[0].key);
  CHECK(second.continuation.empty());
}

// The page budget must leave room for the continuation token, which repeats the last
// key: with long keys a full page plus its token used to overflow the frame.
TEST_CASE("kv: a full SCAN page with a long-key continuation fits in max_frame_bytes",
          "[unit][kv]") {
  KvOptions options = testing::TestOptions();
  options.limits.max_frame_bytes = 8192;  // page budget 7168
  options.limits.max_key_bytes = 4096;
  Harness h(options);
  // Items of 4 + 3000 + 16 + 4 + 560 = 3584 bytes: two fill the budget exactly.
  for (char c : {'a', 'b', 'c', 'd'}) {
    h.Put(std::string(2999, 'k') + c, std::string(560, 'v'), kNow);
  }
  const bool reverse = GENERATE(false, true);
  const bool keys_only = GENERATE(false, true);
  CAPTURE(reverse, keys_only);
  Paged paged = ScanAll(h, Scan("", "", "", 0, reverse, keys_only), kNow, options);
  CHECK(paged.items.size() == 4);
}

// ---- continuation while the store changes ----

TEST_CASE("kv: a continuation resumes exactly after its key while keys change", "[unit][kv]") {
  Harness h;
  for (const char* key : {"b", "d", "f"}) h.Put(key, "v", kNow);
  const bool reverse = GENERATE(false, true);
  CAPTURE(reverse);
  const auto& first = BodyOf<wire::ScanResponse>(h.Apply(Scan("", "", "", 1, reverse), kNow));
  REQUIRE(first.items.size() == 1);
  const std::string last = first.items[0].key;  // "b", or "f" in reverse
  // New keys on both sides of the last key, right next to it; and the last key itself
  // rewritten: it must not come again.
  h.Put(last + std::string(1, '\0'), "v", kNow);
  h.Put(std::string(1, static_cast<char>(last[0] - 1)), "v", kNow);
  h.Put(last, "again", kNow);
  wire::ScanRequest next = Scan("", "", "", 0, reverse);
  next.continuation = first.continuation;
  std::vector<std::string> rest = KeysOf(BodyOf<wire::ScanResponse>(h.Apply(next, kNow)).items);
  if (!reverse) {
    CHECK(rest == std::vector<std::string>{std::string("b\0", 2), "d", "f"});
  } else {
    CHECK(rest == std::vector<std::string>{"e", "d", "b"});
  }
}

// ---- overlay merge ----

TEST_CASE("kv: SCAN merges overlay writes with the engine in both directions", "[unit][kv]") {
  Harness h;
  for (const char* key : {"b", "d", "f", "h"}) h.Put(key, "engine", kNow);
  h.Commit();
  // Unwritten: delete b and h (the ends), insert a, e and i (before, between, after),
  // update f; across two groups, the first of them written but d deleted in the second.
  h.Put("a", "overlay", kNow);
  h.Put("e", "overlay", kNow);
  REQUIRE(h.Delete("b", kNow));
  h.EndGroup();
  h.Put("f", "overlay", kNow);
  REQUIRE(h.Delete("h", kNow));
  h.Put("i", "overlay", kNow);
  REQUIRE(h.Delete("d", kNow));
  h.Put("d", "overlay2", kNow);
  REQUIRE(h.Delete("d", kNow));
  const int written = GENERATE(0, 1);  // groups written before the scan
  for (int i = 0; i < written; ++i) h.WriteOldest();
  CHECK(h.store->overlay_keys() > 0);
  const bool reverse = GENERATE(false, true);
  const uint32_t limit = GENERATE(0u, 1u, 2u);
  CAPTURE(written, reverse, limit);

  Paged paged = ScanAll(h, Scan("", "", "", limit, reverse), kNow, testing::TestOptions());
  std::vector<std::pair<std::string, std::string>> got;
  for (const wire::ScanItem& item : paged.items) got.emplace_back(item.key, item.value);
  std::vector<std::pair<std::string, std::string>> expected = {
      {"a", "overlay"}, {"e", "overlay"}, {"f", "overlay"}, {"i", "overlay"}};
  if (reverse) std::reverse(expected.begin(), expected.end());
  CHECK(got == expected);

  // Restricted to a range that cuts through both sources.
  paged = ScanAll(h, Scan("", "c", "i", limit, reverse), kNow, testing::TestOptions());
  std::vector<std::string> mid = {"e", "f"};
  if (reverse) std::reverse(mid.begin(), mid.end());
  CHECK(KeysOf(paged.items) == mid);

  // And once everything is written, the engine alone gives the same answer.
  h.Commit();
  CHECK(h.store->overlay_keys() == 0);
  paged = ScanAll(h, Scan("", "", "", limit, reverse), kNow, testing::TestOptions());
  got.clear();
  for (const wire::ScanItem& item : paged.items) got.emplace_back(item.key, item.value);
  CHECK(got == expected);
}

// ---- randomized model-based test ----

// SplitMix64: a tiny PRNG whose output is the same on every platform and standard library
// (std::uniform_int_distribution is not), so a seed replays anywhere.
class TestRng {
 public:
  explicit TestRng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n). REQUIRES: n > 0.
  uint64_t Below(uint64_t n) { return Next() % n; }
  bool OneIn(uint64_t n) { return Below(n) == 0; }

 private:
  uint64_t state_;
};

struct ModelRecord {
  uint64_t version = 0;
  uint64_t expires_at_ms = 0;
  std::string value;
  bool LiveAt(uint64_t now_ms) const { return expires_at_ms == 0 || now_ms < expires_at_ms; }
};

// The store as the contract describes it: stored records (expired ones until swept) and
// the revision.
struct Model {
  std::map<std::string, ModelRecord> records;
  uint64_t revision = 0;

  const ModelRecord* Live(const std::string& key, uint64_t now_ms) const {
    auto it = records.find(key);
    return it != records.end() && it->second.LiveAt(now_ms) ? &it->second : nullptr;
  }
  uint64_t VersionOf(const std::string& key, uint64_t now_ms) const {
    const ModelRecord* r = Live(key, now_ms);
    return r ? r->version : 0;
  }
};

class RandomScanTest {
 public:
  RandomScanTest(uint64_t seed, KvOptions options) : rng_(seed), options_(options), h_(options) {}

  void Run(int rounds) {
    for (round_ = 0; round_ < rounds; ++round_) {
      INFO("round " << round_ << ", now " << now_);
      if (rng_.OneIn(4)) Sweep(RandomSweepMax());
      const uint64_t ops = rng_.Below(12);
      for (uint64_t i = 0; i < ops; ++i) RandomWrite();
      if (rng_.OneIn(6)) Sweep(RandomSweepMax());
      h_.EndGroup();
      pending_.push_back(model_);
      Durability();
      CheckCounters();
      for (int i = 0; i < 4; ++i) CheckGet(RandomKey());
      for (int i = 0; i < 4; ++i) CheckScan();
      now_ += rng_.Below(8);
    }
    // Finally everything is written; a sweep far in the future removes every expired key
    // and leaves exactly one index entry per key with a TTL.
    h_.Commit();
    pending_.clear();
    durable_ = model_;
    now_ += 1000;
    Sweep(100'000);
    h_.Commit();
    CHECK(h_.store->key_count() == model_.records.size());
    for (const auto& [key, rec] : model_.records) {
      INFO("key " << key);
      CHECK(rec.LiveAt(now_));
    }
    CHECK(EngineIndexCount() == IndexedInModel());
  }

 private:
  std::string RandomKey() {
    static constexpr char kAlphabet[] = {'\x00', 'a', 'b', '\xff'};
    std::string key;
    const uint64_t len = 1 + rng_.Below(3);
    for (uint64_t i = 0; i < len; ++i) key.push_back(kAlphabet[rng_.Below(4)]);
    return key;
  }
  std::string RandomValue() {
    // Separate statements: the order in which function arguments are evaluated is
    // unspecified, and the seed must replay the same on every compiler.
    const uint64_t size = rng_.Below(300);
    const char fill = static_cast<char>('a' + rng_.Below(26));
    return std::string(size, fill);
  }
  uint64_t RandomTtl() { return rng_.OneIn(3) ? 1 + rng_.Below(40) : 0; }

  void RandomWrite() {
    const uint64_t kind = rng_.Below(10);
    if (kind < 5) {
      std::string key = RandomKey();
      std::string value = RandomValue();
      uint64_t ttl = RandomTtl();
      uint64_t v = h_.Put(key, value, now_, ttl);
      CHECK(v == ++model_.revision);
      model_.records[key] = ModelRecord{v, Expiry(ttl), value};
    } else if (kind < 7) {
      std::string key = RandomKey();
      bool live = model_.Live(key, now_) != nullptr;
      CHECK(h_.Delete(key, now_) == live);
      if (live) {
        ++model_.revision;
        model_.records.erase(key);
      }
    } else if (kind < 8) {
      RandomCas();
    } else {
      RandomBatch();
    }
  }

  uint64_t Expiry(uint64_t ttl) const { return ttl == 0 ? 0 : now_ + ttl; }

  void RandomCas() {
    std::string key = RandomKey();
    const uint64_t current = model_.VersionOf(key, now_);
    const bool right = !rng_.OneIn(4);
    const uint64_t expected = right ? current : current + 1 + rng_.Below(2);
    const bool remove = current != 0 && rng_.OneIn(3);
    wire::Response resp;
    if (remove) {
      resp = h_.Apply(testing::CasReq(wire::CasKind::kDeleteIfVersion, key, expected), now_);
    } else {
      std::string value = RandomValue();
      uint64_t ttl = RandomTtl();
      resp =
          h_.Apply(testing::CasReq(wire::CasKind::kPutIfVersion, key, expected, value, ttl), now_);
      if (right) {
        CHECK(BodyOf<wire::CasResponse>(resp).version == ++model_.revision);
        model_.records[key] = ModelRecord{model_.revision, Expiry(ttl), value};
      }
    }
    if (!right) {
      CHECK(resp.status == Code::kConflict);
      CHECK(resp.detail.current_version == current);
    } else if (remove) {
      BodyOf<wire::CasResponse>(resp);
      ++model_.revision;
      model_.records.erase(key);
    }
  }

  void RandomBatch() {
    std::vector<wire::BatchOp> ops;
    const uint64_t n = 1 + rng_.Below(5);
    for (uint64_t i = 0; i < n; ++i) {
      std::string key = RandomKey();
      switch (rng_.Below(4)) {
        case 0:
          ops.push_back(testing::CheckOp(key, 0));  // filled in below
          break;
        case 1:
          ops.push_back(testing::GetOp(key));
          break;
        case 2: {
          std::string value = RandomValue();
          ops.push_back(PutOp(key, std::move(value), RandomTtl()));
          break;
        }
        default:
          ops.push_back(DeleteOp(key));
          break;
      }
    }
    // Run the batch against a copy of the model; checks expect the right version, except
    // now and then, when one is made to fail.
    Model view = model_;
    const uint64_t version = model_.revision + 1;
    bool wrote = false;
    std::optional<size_t> failing;
    uint64_t failing_stored_version = 0;  // the failing key's version before the batch
    std::vector<wire::BatchResult> expected;
    for (size_t i = 0; i < ops.size(); ++i) {
      wire::BatchOp& op = ops[i];
      wire::BatchResult res;
      res.type = op.type;
      const ModelRecord* live = view.Live(op.key, now_);
      switch (op.type) {
        case wire::BatchOpType::kCheck:
          op.expected_version = live ? live->version : 0;
          if (rng_.OneIn(5)) {
            op.expected_version += 1;
            if (!failing) {
              failing = i;
              const ModelRecord* stored = model_.Live(op.key, now_);
              failing_stored_version = stored ? stored->version : 0;
            }
          }
          res.found = live != nullptr;
          res.version = op.expected_version;
          break;
        case wire::BatchOpType::kGet:
          if (live)
            res = wire::BatchResult{op.type, true, live->version, live->expires_at_ms, live->value};
          break;
        case wire::BatchOpType::kPut:
          view.records[op.key] = ModelRecord{version, Expiry(op.ttl_ms), op.value};
          res.found = true;
          res.version = version;
          wrote = true;
          break;
        case wire::BatchOpType::kDelete:
          res.found = live != nullptr;
          if (live) {
            view.records.erase(op.key);
            wrote = true;
          }
          break;
      }
      expected.push_back(res);
    }
    wire::Response resp = h_.Apply(wire::BatchRequest{ops}, now_);
    if (failing) {
      CHECK(resp.status == Code::kConflict);
      CHECK(resp.detail.op_index == *failing);
      // The conflict reports the version in the store, not one an earlier op of this
      // (failed) batch would have produced.
      CHECK(resp.detail.current_version == failing_stored_version);
      return;
    }
    const auto& out = BodyOf<wire::BatchResponse>(resp);
    REQUIRE(out.results.size() == expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      CAPTURE(i);
      CHECK(out.results[i].type == expected[i].type);
      CHECK(out.results[i].found == expected[i].found);
      if (expected[i].found) CHECK(out.results[i].version == expected[i].version);
      if (expected[i].type == wire::BatchOpType::kGet) {
        CHECK(out.results[i].value == expected[i].value);
        CHECK(out.results[i].expires_at_ms == expected[i].expires_at_ms);
      }
    }
    if (wrote) view.revision = version;
    model_ = std::move(view);
  }

  // A sweep may only delete keys that are expired; the model learns which from the
  // deletions it appended to the batch.
  size_t RandomSweepMax() { return rng_.OneIn(2) ? 1000 : 1 + rng_.Below(3); }
  void Sweep(size_t max_keys) {
    const size_t before = h_.batch.size();
    const size_t deleted = h_.Sweep(now_, max_keys);
    size_t seen = 0;
    const std::vector<storage::WriteBatch::Entry> entries = h_.batch.entries();
    for (size_t i = before; i < entries.size(); ++i) {
      const storage::WriteBatch::Entry& e = entries[i];
      if (e.kind != storage::WriteBatch::Kind::kDelete || e.key[0] != kDataColumn) continue;
      std::string key(e.key.substr(1));
      INFO("swept key " << key);
      auto it = model_.records.find(key);
      REQUIRE(it != model_.records.end());
      CHECK_FALSE(it->second.LiveAt(now_));
      model_.records.erase(it);
      ++seen;
    }
    CHECK(seen == deleted);
  }

  // Writes some queued groups, fails all of them, or leaves them in the overlay.
  void Durability() {
    const uint64_t what = rng_.Below(12);
    if (what == 0) {
      h_.queued.clear();
      h_.store->Rollback();
      pending_.clear();
      model_ = durable_;
    } else if (what < 7) {
      uint64_t n = 1 + rng_.Below(h_.queued.size());
      for (uint64_t i = 0; i < n; ++i) {
        h_.WriteOldest(rng_.OneIn(2));
        durable_ = pending_.front();
        pending_.pop_front();
      }
      if (h_.queued.empty() && rng_.OneIn(5)) {
        h_.Reopen();
        CHECK(h_.store->overlay_keys() == 0);
      }
    }
    CHECK(h_.queued.size() == pending_.size());
  }

  void CheckCounters() {
    CHECK(h_.store->revision() == model_.revision);
    CHECK(h_.store->durable_revision() == durable_.revision);
    CHECK(h_.store->key_count() == model_.records.size());
  }

  void CheckGet(const std::string& key) {
    INFO("GET " << key);
    std::optional<wire::GetResponse> got = h_.Get(key, now_);
    const ModelRecord* want = model_.Live(key, now_);
    REQUIRE(got.has_value() == (want != nullptr));
    if (!want) return;
    CHECK(got->version == want->version);
    CHECK(got->expires_at_ms == want->expires_at_ms);
    CHECK(got->value == want->value);
  }

  void CheckScan() {
    wire::ScanRequest r;
    if (rng_.OneIn(2)) {
      r.prefix = RandomKey();
      r.prefix.resize(std::min<size_t>(r.prefix.size(), 1 + rng_.Below(2)));
    }
    if (rng_.OneIn(2)) r.start = RandomKey();
    if (rng_.OneIn(2)) r.end = RandomKey();
    if (!r.end.empty() && r.start >= r.end) std::swap(r.start, r.end);
    if (r.start == r.end) r.end.clear();
    r.limit = static_cast<uint32_t>(rng_.Below(options_.limits.max_scan_limit + 1));
    r.reverse = rng_.OneIn(2);
    r.keys_only = rng_.OneIn(3);
    INFO("SCAN prefix=" << r.prefix << " start=" << r.start << " end=" << r.end << " limit="
                        << r.limit << " reverse=" << r.reverse << " keys_only=" << r.keys_only);

    std::vector<wire::ScanItem> want;
    for (const auto& [key, rec] : model_.records) {
      if (key.compare(0, r.prefix.size(), r.prefix) != 0) continue;
      if (key < r.start || (!r.end.empty() && key >= r.end) || !rec.LiveAt(now_)) continue;
      want.push_back(wire::ScanItem{key, rec.version, rec.expires_at_ms,
                                    r.keys_only ? std::string() : rec.value});
    }
    if (r.reverse) std::reverse(want.begin(), want.end());

    Paged got = ScanAll(h_, r, now_, options_);
    REQUIRE(got.items.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      CAPTURE(i);
      REQUIRE(got.items[i] == want[i]);
    }
    // Pages are as full as the limit and the byte budget allow: a page that ends early
    // could not have taken the next item (plus the token that would then follow it).
    const size_t limit = r.limit == 0 ? options_.limits.max_scan_limit : r.limit;
    const size_t budget = options_.limits.max_frame_bytes - 1024;
    size_t next = 0;
    for (size_t p = 0; p < got.pages.size(); ++p) {
      const auto& page = got.pages[p];
      next += page.size();
      if (!got.has_token[p] || page.size() == limit) continue;
      REQUIRE(next < want.size());
      size_t bytes = 0;
      for (const wire::ScanItem& item : page) bytes += ItemBytes(item);
      CHECK(bytes + ItemBytes(want[next]) + TokenBytes(want[next].key) > budget);
    }
  }

  size_t EngineIndexCount() { return testing::EngineColumn(h_.engine, kExpiryColumn).size(); }
  size_t IndexedInModel() const {
    size_t n = 0;
    for (const auto& [key, rec] : model_.records) n += rec.expires_at_ms != 0 ? 1 : 0;
    return n;
  }

  TestRng rng_;
  KvOptions options_;
  Harness h_;
  Model model_;
  Model durable_;
  std::deque<Model> pending_;  // the model after each queued group, oldest first
  uint64_t now_ = kNow;
  int round_ = 0;
};

TEST_CASE("kv: randomized SCAN and GET against a std::map model", "[unit][kv]") {
  const uint64_t seed = GENERATE(as<uint64_t>{}, 1, 2, 3, 4, 5, 0xdecafbad, 0x5eed);
  INFO("seed " << seed);
  KvOptions options = testing::TestOptions();
  options.limits.max_frame_bytes = 1024 + 700;  // pages of a few items by bytes
  options.limits.max_value_bytes = 300;
  options.limits.max_scan_limit = 6;
  RandomScanTest test(seed, options);
  test.Run(60);
}

}  // namespace
}  // namespace kvd::kv
