// KvStore unit tests: versions, TTL and the expiry sweep, CAS, BATCH, group commit with
// its overlay, rollback and persistence (server/kv/kv_store.h).
//
// Goal: pin down the data semantics every topology relies on: each successful write
// request bumps the store-wide revision by exactly one and gives the written keys that
// version; the session token is the revision after the request; expired keys are absent
// everywhere and the sweep removes them physically, but only at their current expiry;
// failed CAS and BATCH conditions change nothing; and the group-commit overlay lets later
// groups read unwritten writes, forgets them once durable, and rolls back to the durable
// state. Method: the Harness (kv_harness.h) drives a KvStore against a MemoryEngine the way
// the node shell does, writing group batches explicitly, so each test controls what is
// durable, what is still in the overlay, and what a crash (SimulateCrash) or a failed write
// (Rollback) drops. Expectations are written from the contract, not read back from the
// store. A failure means a client could observe a wrong version, a resurrected or lost key,
// a partially applied batch, or state that differs before and after a restart.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "kv_harness.h"

namespace kvd::kv {
namespace {

using testing::BodyOf;
using testing::CasReq;
using testing::CheckOp;
using testing::DeleteOp;
using testing::EngineColumn;
using testing::GetOp;
using testing::Harness;
using testing::PutOp;

constexpr uint64_t kNow = 1'000'000;

std::string BigEndian(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

// The user keys in the engine's data column.
std::vector<std::string> EngineDataKeys(storage::Engine& engine) {
  std::vector<std::string> keys;
  for (auto& [key, value] : EngineColumn(engine, kDataColumn)) keys.push_back(key);
  return keys;
}

// ---- versions and session tokens ----

TEST_CASE("kv: versions start at 1 and every write request bumps the revision by one",
          "[unit][kv]") {
  Harness h;
  CHECK(h.store->revision() == 0);
  CHECK(h.Put("a", "1", kNow) == 1);
  CHECK(h.Put("b", "1", kNow) == 2);
  CHECK(h.Put("a", "2", kNow) == 3);
  CHECK(h.Delete("b", kNow));
  CHECK(h.store->revision() == 4);
  wire::Response cas = h.Apply(CasReq(wire::CasKind::kPutIfVersion, "a", 3, "3"), kNow);
  CHECK(BodyOf<wire::CasResponse>(cas).version == 5);
  CHECK(h.store->revision() == 5);

  auto a = h.Get("a", kNow);
  REQUIRE(a);
  CHECK(a->version == 5);
  CHECK(a->value == "3");
  CHECK(a->expires_at_ms == 0);
  CHECK_FALSE(h.Get("b", kNow));
  // Reads do not bump the revision.
  CHECK(h.store->revision() == 5);
}

TEST_CASE("kv: the session token is the 8-byte big-endian revision after the request",
          "[unit][kv]") {
  Harness h;
  CHECK(KvStore::SessionToken(0x0102030405060708) == BigEndian(0x0102030405060708));
  // Cross a byte boundary of the revision (255 -> 256).
  for (uint64_t i = 1; i <= 300; ++i) {
    wire::Response put = h.Apply(wire::PutRequest{"k", "v", 0}, kNow);
    REQUIRE(put.session_token == BigEndian(i));
  }
  wire::Response get = h.Apply(wire::GetRequest{"k"}, kNow);
  CHECK(get.session_token == BigEndian(300));
  wire::Response scan = h.Apply(wire::ScanRequest{}, kNow);
  CHECK(scan.session_token == BigEndian(300));
  wire::Response del_absent = h.Apply(wire::DeleteRequest{"nope"}, kNow);
  CHECK(del_absent.session_token == BigEndian(300));
  wire::Response del = h.Apply(wire::DeleteRequest{"k"}, kNow);
  CHECK(del.session_token == BigEndian(301));
  // Error responses carry no token.
  wire::Response missing = h.Apply(wire::GetRequest{"k"}, kNow);
  CHECK(missing.status == Code::kNotFound);
  CHECK(missing.session_token.empty());
}

TEST_CASE("kv: deleting an absent or expired key reports existed=false and writes nothing",
          "[unit][kv]") {
  Harness h;
  h.Put("ttl", "v", kNow, 10);
  h.Commit();
  const uint64_t revision = h.store->revision();
  CHECK_FALSE(h.Delete("never", kNow));
  CHECK_FALSE(h.Delete("ttl", kNow + 10));
  CHECK(h.store->revision() == revision);
  CHECK(h.batch.empty());
  // Deleting a live key bumps the revision and lowers the key count.
  h.Put("live", "v", kNow);
  CHECK(h.store->key_count() == 2);
  CHECK(h.Delete("live", kNow));
  CHECK(h.store->revision() == revision + 2);
  CHECK(h.store->key_count() == 1);
  CHECK_FALSE(h.Delete("live", kNow));
  CHECK(h.store->revision() == revision + 2);
}

TEST_CASE("kv: key_count counts stored keys, including expired keys until swept", "[unit][kv]") {
  Harness h;
  h.Put("a", "1", kNow);
  h.Put("b", "1", kNow, 5);
  CHECK(h.store->key_count() == 2);
  h.Put("a", "2", kNow);  // overwrite: same count
  CHECK(h.store->key_count() == 2);
  // b has expired but is still stored; writing it again does not add a key.
  h.Put("b", "2", kNow + 10);
  CHECK(h.store->key_count() == 2);
  h.Apply(wire::BatchRequest{{PutOp("c", "1"), PutOp("d", "1"), DeleteOp("a")}}, kNow + 10);
  CHECK(h.store->key_count() == 3);
  h.Commit();
  h.Reopen();
  CHECK(h.store->key_count() == 3);
}

// ---- TTL and the expiry sweep ----

TEST_CASE("kv: a key with a TTL expires at now + ttl for every kind of request", "[unit][kv]") {
  Harness h;
  const bool written = GENERATE(false, true);
  CAPTURE(written);
  uint64_t v = h.Put("k", "v", kNow, 100);
  h.Put("other", "x", kNow);
  if (written) h.Commit();

  auto before = h.Get("k", kNow + 99);
  REQUIRE(before);
  CHECK(before->expires_at_ms == kNow + 100);
  CHECK(before->version == v);

  const uint64_t at = kNow + 100;
  CHECK_FALSE(h.Get("k", at));
  CHECK_FALSE(h.Get("k", at + 1000));
  // SCAN skips it.
  const auto& scan = BodyOf<wire::ScanResponse>(h.Apply(wire::ScanRequest{}, at));
  REQUIRE(scan.items.size() == 1);
  CHECK(scan.items[0].key == "other");
  // BATCH check and get see it as absent.
  const auto& batch =
      BodyOf<wire::BatchResponse>(h.Apply(wire::BatchRequest{{CheckOp("k", 0), GetOp("k")}}, at));
  CHECK_FALSE(batch.results[1].found);
  // CAS with its old version fails with current version 0.
  wire::Response cas = h.Apply(CasReq(wire::CasKind::kPutIfVersion, "k", v, "new"), at);
  CHECK(cas.status == Code::kConflict);
  CHECK(cas.detail.current_version == 0);
  // DELETE finds nothing.
  CHECK_FALSE(h.Delete("k", at));
  // Put-if-absent succeeds.
  wire::Response absent = h.Apply(CasReq(wire::CasKind::kPutIfAbsent, "k", 0, "new"), at);
  uint64_t nv = BodyOf<wire::CasResponse>(absent).version;
  auto after = h.Get("k", at);
  REQUIRE(after);
  CHECK(after->version == nv);
  CHECK(after->expires_at_ms == 0);
  CHECK(h.store->key_count() == 2);
}

TEST_CASE("kv: TTLs on PUT, CAS and BATCH put set expires_at_ms = now + ttl", "[unit][kv]") {
  Harness h;
  h.Put("p", "v", kNow, 7);
  h.Apply(CasReq(wire::CasKind::kPutIfAbsent, "c", 0, "v", 8), kNow);
  const auto& batch =
      BodyOf<wire::BatchResponse>(h.Apply(wire::BatchRequest{{PutOp("b", "v", 9)}}, kNow));
  CHECK(batch.results[0].version == 3);
  CHECK(h.Get("p", kNow)->expires_at_ms == kNow + 7);
  CHECK(h.Get("c", kNow)->expires_at_ms == kNow + 8);
  CHECK(h.Get("b", kNow)->expires_at_ms == kNow + 9);
  // A batch GET reports the expiry too.
  const auto& get = BodyOf<wire::BatchResponse>(h.Apply(wire::BatchRequest{{GetOp("b")}}, kNow));
  CHECK(get.results[0].expires_at_ms == kNow + 9);
  // An enormous TTL saturates instead of wrapping into the past.
  h.Put("huge", "v", kNow, UINT64_MAX - 5);
  auto huge = h.Get("huge", kNow + 1'000'000);
  REQUIRE(huge);
  CHECK(huge->expires_at_ms == UINT64_MAX);
}

TEST_CASE("kv: the sweep deletes due keys, returns how many, and lowers key_count", "[unit][kv]") {
  Harness h;
  h.Put("a", "v", kNow, 10);
  h.Put("b", "v", kNow, 10);
  h.Put("c", "v", kNow, 20);
  h.Put("forever", "v", kNow);
  h.Commit();
  const uint64_t revision = h.store->revision();
  CHECK(h.store->key_count() == 4);

  CHECK(h.Sweep(kNow + 9) == 0);
  CHECK(h.batch.empty());
  // max_keys bounds one sweep; the rest waits for the next.
  CHECK(h.Sweep(kNow + 10, 1) == 1);
  h.Commit();
  CHECK(h.store->key_count() == 3);
  CHECK(h.Sweep(kNow + 100) == 2);
  CHECK(h.store->key_count() == 1);
  // Expiry is not a client write: the revision stays.
  CHECK(h.store->revision() == revision);
  h.Commit();
  CHECK(EngineDataKeys(h.engine) == std::vector<std::string>{"forever"});
  CHECK(EngineColumn(h.engine, kExpiryColumn).empty());
  CHECK(h.Sweep(kNow + 1000) == 0);
  h.Reopen();
  CHECK(h.store->key_count() == 1);
  CHECK(h.store->revision() == revision);
}

TEST_CASE("kv: a sweep in a later group sees a sweep still in the overlay", "[unit][kv]") {
  Harness h;
  h.Put("a", "v", kNow, 10);
  h.Commit();
  CHECK(h.Sweep(kNow + 10) == 1);
  h.EndGroup();  // not written: the engine still holds a and its index entry
  CHECK(h.Sweep(kNow + 20) == 0);
  CHECK(h.store->key_count() == 0);
  h.Commit();
  CHECK(h.store->key_count() == 0);
  CHECK(EngineDataKeys(h.engine).empty());
  CHECK(EngineColumn(h.engine, kExpiryColumn).empty());
}

TEST_CASE("kv: the sweep removes stale index entries without counting them", "[unit][kv]") {
  Harness h;
  h.Put("k", "v", kNow, 50);  // index entry at kNow + 50
  h.Commit();
  // Entries no write of this store would leave behind: one for a key that does not exist,
  // one for k at an expiry k does not have.
  storage::WriteBatch stale;
  stale.Put(ExpiryKey(kNow + 5, "ghost"), "");
  stale.Put(ExpiryKey(kNow + 6, "k"), "");
  REQUIRE(h.engine.Write(stale, true).ok());
  CHECK(h.Sweep(kNow + 10) == 0);
  h.Commit();
  auto index = EngineColumn(h.engine, kExpiryColumn);
  REQUIRE(index.size() == 1);
  CHECK(index[0].first == ExpiryKey(kNow + 50, "k").substr(1));
  CHECK(h.Get("k", kNow + 10));
  CHECK(h.store->key_count() == 1);
}

// Each way of rewriting a TTL key must retire its old expiry: the sweep at the old time
// must leave the rewritten key alone.
TEST_CASE("kv: rewriting a key with another TTL or none cancels the old expiry", "[unit][kv]") {
  struct Rewrite {
    const char* name;
    uint64_t new_ttl_ms;  // 0: none
    int how;              // 0 PUT, 1 CAS put-if-version, 2 BATCH put, 3 DELETE then PUT
  };
  const Rewrite rewrite =
      GENERATE(Rewrite{"put no ttl", 0, 0}, Rewrite{"put longer ttl", 50, 0},
               Rewrite{"put shorter ttl", 5, 0}, Rewrite{"cas no ttl", 0, 1},
               Rewrite{"cas longer ttl", 50, 1}, Rewrite{"batch no ttl", 0, 2},
               Rewrite{"batch longer ttl", 50, 2}, Rewrite{"delete and put", 0, 3});
  // 0: everything written between steps; 1: the first write still in the overlay;
  // 2: both writes in one group.
  const int durability = GENERATE(0, 1, 2);
  CAPTURE(rewrite.name, durability);

  Harness h;
  const uint64_t v = h.Put("k", "old", kNow, 20);  // old expiry: kNow + 20
  if (durability == 0) h.Commit();
  if (durability == 1) h.EndGroup();
  const uint64_t t = kNow + 1;
  switch (rewrite.how) {
    case 0:
      h.Put("k", "new", t, rewrite.new_ttl_ms);
      break;
    case 1:
      BodyOf<wire::CasResponse>(
          h.Apply(CasReq(wire::CasKind::kPutIfVersion, "k", v, "new", rewrite.new_ttl_ms), t));
      break;
    case 2:
      BodyOf<wire::BatchResponse>(
          h.Apply(wire::BatchRequest{{PutOp("k", "new", rewrite.new_ttl_ms)}}, t));
      break;
    case 3:
      REQUIRE(h.Delete("k", t));
      h.Put("k", "new", t, rewrite.new_ttl_ms);
      break;
  }
  h.Commit();
  const uint64_t new_expiry = rewrite.new_ttl_ms == 0 ? 0 : t + rewrite.new_ttl_ms;
  const uint64_t old_expiry = kNow + 20;
  // Exactly one index entry remains, for the new expiry (if any).
  auto index = EngineColumn(h.engine, kExpiryColumn);
  CHECK(index.size() == (new_expiry == 0 ? 0u : 1u));

  if (new_expiry != 0 && new_expiry < old_expiry) {
    CHECK(h.Sweep(new_expiry) == 1);
    h.Commit();
    CHECK_FALSE(h.Get("k", new_expiry));
    CHECK(EngineColumn(h.engine, kExpiryColumn).empty());
    return;
  }
  CHECK(h.Sweep(old_expiry) == 0);
  h.Commit();
  auto k = h.Get("k", old_expiry);
  REQUIRE(k);
  CHECK(k->value == "new");
  CHECK(h.store->key_count() == 1);
  if (new_expiry != 0) {
    CHECK(h.Sweep(new_expiry) == 1);
    h.Commit();
    CHECK_FALSE(h.Get("k", new_expiry));
    CHECK(h.store->key_count() == 0);
  }
  CHECK(EngineColumn(h.engine, kExpiryColumn).empty());
}

TEST_CASE("kv: deleting a TTL key removes its index entry", "[unit][kv]") {
  Harness h;
  h.Put("k", "v", kNow, 20);
  h.Commit();
  REQUIRE(EngineColumn(h.engine, kExpiryColumn).size() == 1);
  SECTION("DELETE") { REQUIRE(h.Delete("k", kNow + 1)); }
  SECTION("CAS delete-if-version") {
    BodyOf<wire::CasResponse>(h.Apply(CasReq(wire::CasKind::kDeleteIfVersion, "k", 1), kNow + 1));
  }
  SECTION("BATCH delete") {
    BodyOf<wire::BatchResponse>(h.Apply(wire::BatchRequest{{DeleteOp("k")}}, kNow + 1));
  }
  h.Commit();
  CHECK(EngineColumn(h.engine, kExpiryColumn).empty());
  CHECK(EngineDataKeys(h.engine).empty());
  CHECK(h.store->key_count() == 0);
  CHECK(h.Sweep(kNow + 100) == 0);
}

TEST_CASE("kv: a write over an expired, unswept key replaces its expiry", "[unit][kv]") {
  Harness h;
  h.Put("k", "old", kNow, 10);
  h.Commit();
  // k expired at kNow + 10 but was never swept; a new PUT without TTL revives it.
  h.Put("k", "new", kNow + 50);
  h.Commit();
  CHECK(h.store->key_count() == 1);
  CHECK(h.Sweep(kNow + 100) == 0);
  CHECK(EngineColumn(h.engine, kExpiryColumn).empty());
  CHECK(h.Get("k", kNow + 100)->value == "new");
}

// ---- CAS ----

TEST_CASE("kv: CAS put-if-version writes only at the expected version", "[unit][kv]") {
  Harness h;
  h.Put("k", "v1", kNow);  // version 1
  h.Put("z", "v", kNow);   // version 2
  const uint64_t revision = h.store->revision();

  wire::Response stale = h.Apply(CasReq(wire::CasKind::kPutIfVersion, "k", 2, "v2"), kNow);
  CHECK(stale.status == Code::kConflict);
  CHECK(stale.detail.current_version == 1);
  CHECK(stale.detail.op_index == 0);
  CHECK(stale.session_token.empty());
  CHECK(h.store->revision() == revision);
  CHECK(h.Get("k", kNow)->value == "v1");

  wire::Response ok = h.Apply(CasReq(wire::CasKind::kPutIfVersion, "k", 1, "v2"), kNow);
  CHECK(BodyOf<wire::CasResponse>(ok).version == 3);
  CHECK(h.Get("k", kNow)->version == 3);

  // Expected version 0 means "must be absent".
  wire::Response must_be_absent = h.Apply(CasReq(wire::CasKind::kPutIfVersion, "k", 0, "v3"), kNow);
  CHECK(must_be_absent.status == Code::kConflict);
  CHECK(must_be_absent.detail.current_version == 3);
  wire::Response create = h.Apply(CasReq(wire::CasKind::kPutIfVersion, "new", 0, "v"), kNow);
  CHECK(BodyOf<wire::CasResponse>(create).version == 4);
  // An absent key with a non-zero expectation: current version 0.
  wire::Response gone = h.Apply(CasReq(wire::CasKind::kPutIfVersion, "gone", 7, "v"), kNow);
  CHECK(gone.status == Code::kConflict);
  CHECK(gone.detail.current_version == 0);
}

TEST_CASE("kv: CAS put-if-absent and delete-if-version", "[unit][kv]") {
  Harness h;
  wire::Response first = h.Apply(CasReq(wire::CasKind::kPutIfAbsent, "k", 0, "v", 0), kNow);
  CHECK(BodyOf<wire::CasResponse>(first).version == 1);
  wire::Response second = h.Apply(CasReq(wire::CasKind::kPutIfAbsent, "k", 0, "w", 0), kNow);
  CHECK(second.status == Code::kConflict);
  CHECK(second.detail.current_version == 1);
  CHECK(second.detail.op_index == 0);
  CHECK(h.Get("k", kNow)->value == "v");

  wire::Response wrong = h.Apply(CasReq(wire::CasKind::kDeleteIfVersion, "k", 5), kNow);
  CHECK(wrong.status == Code::kConflict);
  CHECK(wrong.detail.current_version == 1);
  CHECK(h.Get("k", kNow));

  wire::Response del = h.Apply(CasReq(wire::CasKind::kDeleteIfVersion, "k", 1), kNow);
  CHECK(BodyOf<wire::CasResponse>(del).version == 0);
  CHECK(del.session_token == KvStore::SessionToken(2));
  CHECK_FALSE(h.Get("k", kNow));
  CHECK(h.store->key_count() == 0);

  // Deleting an absent key can never succeed, whatever the expectation.
  for (uint64_t expected : {0u, 1u}) {
    wire::Response absent = h.Apply(CasReq(wire::CasKind::kDeleteIfVersion, "k", expected), kNow);
    CHECK(absent.status == Code::kConflict);
    CHECK(absent.detail.current_version == 0);
  }
  CHECK(h.store->revision() == 2);
}

TEST_CASE("kv: a failed CAS writes nothing", "[unit][kv]") {
  Harness h;
  h.Put("k", "v", kNow, 50);
  h.Commit();
  const uint64_t revision = h.store->revision();
  wire::CasRequest cas = GENERATE(CasReq(wire::CasKind::kPutIfVersion, "k", 9, "x", 5),
                                  CasReq(wire::CasKind::kPutIfAbsent, "k", 0, "x", 5),
                                  CasReq(wire::CasKind::kDeleteIfVersion, "k", 9),
                                  CasReq(wire::CasKind::kDeleteIfVersion, "absent", 0));
  wire::Response resp = h.Apply(cas, kNow);
  CHECK(resp.status == Code::kConflict);
  CHECK(h.batch.empty());
  CHECK(h.store->revision() == revision);
  CHECK(h.store->overlay_keys() == 0);
  CHECK(h.store->key_count() == 1);
}

// ---- BATCH ----

TEST_CASE("kv: all writes of a BATCH share one revision", "[unit][kv]") {
  Harness h;
  h.Put("gone", "v", kNow);  // version 1
  wire::Response resp = h.Apply(
      wire::BatchRequest{{PutOp("a", "1"), PutOp("b", "2", 30), DeleteOp("gone"), GetOp("a")}},
      kNow);
  const auto& out = BodyOf<wire::BatchResponse>(resp);
  REQUIRE(out.results.size() == 4);
  CHECK(out.results[0].type == wire::BatchOpType::kPut);
  CHECK(out.results[0].version == 2);
  CHECK(out.results[1].version == 2);
  CHECK(out.results[2].type == wire::BatchOpType::kDelete);
  CHECK(out.results[2].found);
  CHECK(out.results[3].found);
  CHECK(out.results[3].version == 2);
  CHECK(out.results[3].value == "1");
  CHECK(h.store->revision() == 2);
  CHECK(resp.session_token == KvStore::SessionToken(2));
  CHECK(h.Get("a", kNow)->version == 2);
  CHECK(h.Get("b", kNow)->version == 2);
  CHECK_FALSE(h.Get("gone", kNow));
  CHECK(h.store->key_count() == 2);
}

TEST_CASE("kv: a BATCH without an effective write does not bump the revision", "[unit][kv]") {
  Harness h;
  h.Put("k", "v", kNow);
  h.Commit();
  wire::Response resp = h.Apply(wire::BatchRequest{{CheckOp("k", 1), GetOp("k"), GetOp("absent"),
                                                    DeleteOp("absent"), CheckOp("absent", 0)}},
                                kNow);
  const auto& out = BodyOf<wire::BatchResponse>(resp);
  CHECK(out.results[0].found);
  CHECK(out.results[0].version == 1);
  CHECK(out.results[1].value == "v");
  CHECK_FALSE(out.results[2].found);
  CHECK_FALSE(out.results[3].found);
  CHECK_FALSE(out.results[4].found);
  CHECK(h.store->revision() == 1);
  CHECK(resp.session_token == KvStore::SessionToken(1));
  CHECK(h.batch.empty());
}

TEST_CASE("kv: a failing CHECK makes the whole BATCH a no-op", "[unit][kv]") {
  Harness h;
  h.Put("a", "1", kNow);  // version 1
  h.Put("b", "1", kNow);  // version 2
  h.Commit();
  const uint64_t revision = h.store->revision();
  struct Case {
    const char* name;
    std::vector<wire::BatchOp> ops;
    uint32_t op_index;
    uint64_t current_version;
  };
  const Case c = GENERATE(
      Case{"first op", {CheckOp("a", 2), PutOp("c", "x")}, 0, 1},
      Case{"after writes", {PutOp("c", "x"), DeleteOp("a"), CheckOp("b", 1)}, 2, 2},
      Case{"absent expected present", {PutOp("c", "x"), CheckOp("zz", 4)}, 1, 0},
      Case{"present expected absent", {DeleteOp("b"), CheckOp("a", 0), PutOp("d", "x")}, 1, 1});
  CAPTURE(c.name);
  wire::Response resp = h.Apply(wire::BatchRequest{c.ops}, kNow);
  CHECK(resp.status == Code::kConflict);
  CHECK(resp.detail.op_index == c.op_index);
  CHECK(resp.detail.current_version == c.current_version);
  CHECK(resp.session_token.empty());
  CHECK(std::holds_alternative<std::monostate>(resp.body));
  CHECK(h.batch.empty());
  CHECK(h.store->revision() == revision);
  CHECK(h.store->overlay_keys() == 0);
  CHECK(h.store->key_count() == 2);
  CHECK(h.Get("a", kNow)->version == 1);
  CHECK(h.Get("b", kNow)->version == 2);
  CHECK_FALSE(h.Get("c", kNow));
  // The next write gets the next revision: the failed batch consumed none.
  CHECK(h.Put("e", "x", kNow) == revision + 1);
}

TEST_CASE("kv: BATCH ops see earlier ops of the same batch", "[unit][kv]") {
  Harness h;
  h.Put("k", "old", kNow);  // version 1
  wire::Response resp =
      h.Apply(wire::BatchRequest{{GetOp("k"), PutOp("k", "mid"), GetOp("k"), CheckOp("k", 2),
                                  DeleteOp("k"), GetOp("k"), CheckOp("k", 0), DeleteOp("k"),
                                  PutOp("k", "last"), GetOp("k")}},
              kNow);
  const auto& out = BodyOf<wire::BatchResponse>(resp);
  REQUIRE(out.results.size() == 10);
  CHECK(out.results[0].value == "old");
  CHECK(out.results[0].version == 1);
  CHECK(out.results[2].value == "mid");
  CHECK(out.results[2].version == 2);
  CHECK(out.results[3].version == 2);
  CHECK(out.results[4].found);
  CHECK_FALSE(out.results[5].found);
  CHECK_FALSE(out.results[6].found);
  CHECK_FALSE(out.results[7].found);  // already deleted by op 4
  CHECK(out.results[9].value == "last");
  CHECK(h.store->revision() == 2);
  CHECK(h.Get("k", kNow)->value == "last");
  CHECK(h.store->key_count() == 1);
}

TEST_CASE("kv: a BATCH that creates and deletes a new key leaves it absent", "[unit][kv]") {
  Harness h;
  BodyOf<wire::BatchResponse>(
      h.Apply(wire::BatchRequest{{PutOp("n", "v", 10), DeleteOp("n")}}, kNow));
  CHECK_FALSE(h.Get("n", kNow));
  CHECK(h.store->key_count() == 0);
  h.Commit();
  CHECK(EngineDataKeys(h.engine).empty());
  CHECK(EngineColumn(h.engine, kExpiryColumn).empty());
  h.Reopen();
  CHECK(h.store->key_count() == 0);
}

TEST_CASE("kv: BATCH enforces limits.max_batch_bytes on keys plus values", "[unit][kv]") {
  testing::Harness h([] {
    KvOptions o = testing::TestOptions();
    o.max_batch_bytes = 100;
    return o;
  }());
  // Exactly at the limit: 2 * (10 + 40) bytes.
  wire::Response at =
      h.Apply(wire::BatchRequest{{PutOp(std::string(10, 'a'), std::string(40, 'x')),
                                  PutOp(std::string(10, 'b'), std::string(40, 'x'))}},
              kNow);
  CHECK(at.ok());
  const uint64_t revision = h.store->revision();
  h.Commit();
  wire::Response over =
      h.Apply(wire::BatchRequest{{PutOp(std::string(10, 'c'), std::string(40, 'x')),
                                  GetOp(std::string(10, 'a')), PutOp("d", std::string(40, 'x'))}},
              kNow);
  CHECK(over.status == Code::kInvalidArgument);
  CHECK_THAT(over.message, Catch::Contains("limits.max_batch_bytes"));
  CHECK(h.batch.empty());
  CHECK(h.store->revision() == revision);
}

// ---- group commit ----

TEST_CASE("kv: Apply writes only into the caller's batch", "[unit][kv]") {
  Harness h;
  h.Put("k", "v", kNow, 10);
  h.Apply(wire::BatchRequest{{PutOp("b", "v")}}, kNow);
  h.Apply(CasReq(wire::CasKind::kPutIfAbsent, "c", 0, "v"), kNow);
  h.Delete("b", kNow);
  CHECK(h.engine.Stats().writes == 0);
  CHECK(h.engine.Stats().gauges["keys"] == 0);
  CHECK_FALSE(h.batch.empty());
  // The counters are staged once, when the group ends.
  for (const auto& e : h.batch.entries()) CHECK(e.key != kRevisionKey);
  h.store->FinishGroup(h.group, &h.batch);
  // The batch holds the data, the index entry and both counters.
  bool data = false, index = false, revision = false, keys = false;
  for (const auto& e : h.batch.entries()) {
    data = data || e.key == DataKey("k");
    index = index || e.key == ExpiryKey(kNow + 10, "k");
    revision = revision || e.key == kRevisionKey;
    keys = keys || e.key == kKeyCountKey;
  }
  CHECK(data);
  CHECK(index);
  CHECK(revision);
  CHECK(keys);
  h.Commit();
  CHECK(EngineDataKeys(h.engine) == std::vector<std::string>{"c", "k"});
}

TEST_CASE("kv: later groups read earlier groups' writes through the overlay", "[unit][kv]") {
  Harness h;
  h.Put("a", "g1", kNow);
  h.Put("b", "g1", kNow);
  h.Put("c", "g1", kNow);
  h.EndGroup();  // group 1 unwritten
  CHECK(h.Get("a", kNow)->value == "g1");
  h.Put("a", "g2", kNow);
  CHECK(h.Delete("c", kNow));
  h.EndGroup();  // group 2 unwritten
  CHECK(h.Get("a", kNow)->value == "g2");
  CHECK(h.Get("b", kNow)->value == "g1");
  CHECK_FALSE(h.Get("c", kNow));
  CHECK(h.store->overlay_keys() == 3);
  CHECK(h.engine.Stats().writes == 0);

  // Group 1 durable: only b's entry (last written by group 1) goes; a and c were rewritten
  // by group 2, so their entries must stay, or reads would see group 1's values again.
  h.WriteOldest();
  CHECK(h.store->overlay_keys() == 2);
  CHECK(h.store->durable_revision() == 3);
  CHECK(h.Get("a", kNow)->value == "g2");
  CHECK_FALSE(h.Get("c", kNow));
  CHECK(h.Get("b", kNow)->value == "g1");

  h.WriteOldest();
  CHECK(h.store->overlay_keys() == 0);
  CHECK(h.store->durable_revision() == 5);
  CHECK(h.Get("a", kNow)->value == "g2");
  CHECK_FALSE(h.Get("c", kNow));
  CHECK(h.store->revision() == 5);
}

TEST_CASE("kv: a read-only group between written groups keeps later overlay entries",
          "[unit][kv]") {
  Harness h;
  h.Put("a", "g1", kNow);
  h.EndGroup();  // group 1: a write
  CHECK(h.Get("a", kNow)->value == "g1");
  h.EndGroup();  // group 2: reads only
  h.Put("a", "g3", kNow);
  h.EndGroup();  // group 3: rewrites a
  h.WriteOldest();
  h.WriteOldest();  // group 2: an empty batch
  CHECK(h.store->durable_revision() == 1);
  CHECK(h.store->overlay_keys() == 1);
  CHECK(h.Get("a", kNow)->value == "g3");
  h.WriteOldest();
  CHECK(h.store->durable_revision() == 2);
  CHECK(h.store->overlay_keys() == 0);
  CHECK(h.Get("a", kNow)->value == "g3");
}

TEST_CASE("kv: Rollback restores the last durable revision, key count and contents", "[unit][kv]") {
  Harness h;
  h.Put("keep", "durable", kNow);           // 1
  h.Put("change", "durable", kNow);         // 2
  h.Put("doomed", "durable", kNow, 5'000);  // 3
  h.Commit();
  const uint64_t revision = h.store->revision();
  const uint64_t key_count = h.store->key_count();

  h.Put("change", "lost", kNow);
  CHECK(h.Delete("keep", kNow));
  h.EndGroup();
  h.Put("new", "lost", kNow, 10);
  h.Apply(wire::BatchRequest{{PutOp("new2", "lost"), DeleteOp("change")}}, kNow);
  CHECK(h.Sweep(kNow + 10'000) == 1);  // doomed
  h.EndGroup();
  CHECK(h.store->revision() == revision + 4);

  h.FailPending();
  CHECK(h.store->revision() == revision);
  CHECK(h.store->durable_revision() == revision);
  CHECK(h.store->key_count() == key_count);
  CHECK(h.store->overlay_keys() == 0);
  CHECK(h.Get("keep", kNow)->value == "durable");
  CHECK(h.Get("change", kNow)->value == "durable");
  CHECK(h.Get("doomed", kNow)->value == "durable");
  CHECK_FALSE(h.Get("new", kNow));
  CHECK_FALSE(h.Get("new2", kNow));

  // A fresh store on the same engine agrees.
  KvStore reopened(&h.engine, testing::TestOptions());
  REQUIRE(reopened.Open().ok());
  CHECK(reopened.revision() == revision);
  CHECK(reopened.key_count() == key_count);

  // Writing goes on from the durable revision.
  CHECK(h.Put("after", "v", kNow) == revision + 1);
  h.Commit();
  h.Reopen();
  CHECK(h.store->revision() == revision + 1);
  CHECK(h.store->key_count() == key_count + 1);
}

TEST_CASE("kv: Rollback undoes a sweep that is not yet durable", "[unit][kv]") {
  Harness h;
  h.Put("a", "v", kNow, 10);
  h.Put("b", "v", kNow);
  h.Commit();
  CHECK(h.Sweep(kNow + 10) == 1);
  CHECK(h.store->key_count() == 1);
  h.FailPending();
  CHECK(h.store->key_count() == 2);
  CHECK(h.store->revision() == 2);
  // The key is still expired, and the next sweep finds it again.
  CHECK_FALSE(h.Get("a", kNow + 10));
  CHECK(h.Sweep(kNow + 10) == 1);
  h.Commit();
  h.Reopen();
  CHECK(h.store->key_count() == 1);
}

TEST_CASE("kv: Rollback keeps groups already reported durable", "[unit][kv]") {
  Harness h;
  h.Put("a", "1", kNow);
  h.EndGroup();
  h.Put("b", "2", kNow);
  h.EndGroup();
  h.Put("c", "3", kNow);
  h.WriteOldest();  // group 1 durable; groups 2 and 3 fail
  h.FailPending();
  CHECK(h.store->revision() == 1);
  CHECK(h.store->key_count() == 1);
  CHECK(h.Get("a", kNow));
  CHECK_FALSE(h.Get("b", kNow));
  CHECK_FALSE(h.Get("c", kNow));
}

TEST_CASE("kv: a failed engine write followed by Rollback leaves the durable state", "[unit][kv]") {
  Harness h;
  h.Put("a", "1", kNow);
  h.Commit();
  h.Put("b", "2", kNow);
  h.EndGroup();
  h.engine.InjectWriteError(Status::IOError("no space left on device"));
  Status s = h.engine.Write(h.queued.front().second, true);
  CHECK(s.code() == Code::kIOError);
  h.FailPending();
  h.engine.InjectWriteError(std::nullopt);
  CHECK(h.store->revision() == 1);
  CHECK_FALSE(h.Get("b", kNow));
  CHECK(h.Put("b", "3", kNow) == 2);
  h.Commit();
  h.Reopen();
  CHECK(h.store->revision() == 2);
  CHECK(h.Get("b", kNow)->value == "3");
}

// ---- persistence ----

TEST_CASE("kv: revision and key_count survive reopening the store", "[unit][kv]") {
  Harness h;
  for (int i = 0; i < 20; ++i) h.Put(fmt::format("k{}", i % 7), "v", kNow);
  h.Delete("k0", kNow);
  h.Commit();
  CHECK(h.store->revision() == 21);
  CHECK(h.store->key_count() == 6);
  h.Reopen();
  CHECK(h.store->revision() == 21);
  CHECK(h.store->durable_revision() == 21);
  CHECK(h.store->key_count() == 6);
  CHECK(h.Get("k3", kNow)->version == 18);
  CHECK(h.Put("k9", "v", kNow) == 22);
}

TEST_CASE("kv: after a crash only synced batches are visible on reopen", "[unit][kv]") {
  Harness h;
  h.Put("a", "1", kNow);
  h.Put("b", "1", kNow, 100);
  h.Commit(/*sync=*/true);  // revision 2, durable
  h.Put("a", "2", kNow);
  h.Delete("b", kNow);
  h.Put("c", "1", kNow);
  h.Commit(/*sync=*/false);  // revision 5, visible but unsynced
  CHECK(h.store->revision() == 5);
  h.Reopen();
  CHECK(h.store->revision() == 5);

  h.engine.SimulateCrash();
  h.Reopen();
  CHECK(h.store->revision() == 2);
  CHECK(h.store->key_count() == 2);
  CHECK(h.Get("a", kNow)->value == "1");
  CHECK(h.Get("b", kNow)->version == 2);
  CHECK_FALSE(h.Get("c", kNow));
  // The TTL index survived with its record: the sweep still finds b.
  CHECK(h.Sweep(kNow + 100) == 1);
  h.Commit();
  CHECK(h.store->key_count() == 1);
}

TEST_CASE("kv: Open rejects a malformed revision record", "[unit][kv]") {
  storage::MemoryEngine engine;
  storage::WriteBatch b;
  b.Put(kRevisionKey, "abc");
  REQUIRE(engine.Write(b, true).ok());
  KvStore store(&engine, testing::TestOptions());
  Status s = store.Open();
  CHECK(s.code() == Code::kCorruption);
  CHECK_THAT(s.message(), Catch::Contains("revision"));
}

TEST_CASE("kv: a corrupt record is reported as kCorruption, not a crash", "[unit][kv]") {
  Harness h;
  storage::WriteBatch b;
  b.Put(DataKey("bad"), "xx");
  REQUIRE(h.engine.Write(b, true).ok());
  wire::Response get = h.Apply(wire::GetRequest{"bad"}, kNow);
  CHECK(get.status == Code::kCorruption);
  wire::Response put = h.Apply(wire::PutRequest{"bad", "v", 0}, kNow);
  CHECK(put.status == Code::kCorruption);
  wire::Response scan = h.Apply(wire::ScanRequest{}, kNow);
  CHECK(scan.status == Code::kCorruption);
  CHECK(h.store->revision() == 0);
  CHECK(h.batch.empty());
}

TEST_CASE("kv: the counters are staged once per group, and again after a rollback",
          "[unit][kv]") {
  Harness h;
  for (int i = 0; i < 10; ++i) h.Put("k" + std::to_string(i), "v", kNow);
  h.store->FinishGroup(h.group, &h.batch);
  size_t revision_puts = 0;
  for (const auto& e : h.batch.entries()) revision_puts += e.key == kRevisionKey ? 1u : 0u;
  CHECK(revision_puts == 1);
  // FinishGroup again (as EndGroup does) adds nothing new.
  size_t before = h.batch.size();
  h.store->FinishGroup(h.group, &h.batch);
  CHECK(h.batch.size() == before);
  h.Commit();
  h.Put("x", "v", kNow);
  h.FailPending();  // the group that would have persisted revision 11 never lands
  h.Put("y", "v", kNow);
  h.Commit();
  h.Reopen();
  CHECK(h.store->revision() == 11);
  CHECK(h.store->key_count() == 11);
}

TEST_CASE("kv: OnDurable of several groups at once, with a key rewritten across them",
          "[unit][kv]") {
  Harness h;
  h.Put("k", "v1", kNow);
  h.Put("j", "w1", kNow);
  h.EndGroup();
  h.Put("k", "v2", kNow);
  h.Delete("j", kNow);
  h.EndGroup();
  h.Put("k", "v3", kNow);
  h.EndGroup();
  // Write all three batches, then report only the last group durable: it covers them all.
  uint64_t last = 0;
  while (!h.queued.empty()) {
    auto [g, b] = std::move(h.queued.front());
    h.queued.pop_front();
    REQUIRE(h.engine.Write(b, true).ok());
    last = g;
  }
  h.store->OnDurable(last);
  CHECK(h.store->overlay_keys() == 0);
  CHECK(h.Get("k", kNow)->value == "v3");
  CHECK_FALSE(h.Get("j", kNow));
  CHECK(h.store->durable_revision() == 5);
}


TEST_CASE("KvStore: tombstone collection drops stable tombstones and their index entries") {
  Harness h;
  auto change = [](ChangeOp op, clock::NodeId origin, uint64_t seq, uint64_t hlc_ms,
                   std::string key, clock::VersionVector context) {
    Change c;
    c.dot = clock::Dot{origin, seq};
    c.hlc = clock::HlcTimestamp::From(hlc_ms, 0);
    c.resolver = Resolver::kLww;
    c.op = op;
    c.key = std::move(key);
    if (op == ChangeOp::kPut) c.value = "v";
    c.context = std::move(context);
    return c;
  };
  auto apply = [&](const Change& c) {
    (void)h.store->ApplyChange(nullptr, c, 16, h.group, &h.batch);
  };
  clock::VersionVector seen;
  apply(change(ChangeOp::kPut, 1, 1, 100, "dead", {}));
  apply(change(ChangeOp::kPut, 1, 2, 100, "alive", {}));
  seen.Witness(1, 2);
  apply(change(ChangeOp::kDelete, 1, 3, 200, "dead", seen));
  apply(change(ChangeOp::kDelete, 1, 4, 200, "alive", seen));
  seen.Witness(1, 4);
  apply(change(ChangeOp::kPut, 1, 5, 300, "alive", seen));  // live again
  h.Commit();
  CHECK(EngineColumn(h.engine, kTombstoneColumn).size() == 2);

  // Not stable yet: nothing goes.
  Stability young{seen, clock::HlcTimestamp::From(150, 0)};
  CHECK(h.store->CollectTombstones(young, 10'000, 0, 100, h.group, &h.batch) == 0);
  h.Commit();
  // Stable: the tombstone goes with its index entry; the live key's stale entry goes too.
  seen.Witness(1, 5);
  Stability stable{seen, clock::HlcTimestamp::From(1'000, 0)};
  CHECK(h.store->CollectTombstones(stable, 10'000, 0, 100, h.group, &h.batch) == 1);
  h.Commit();
  CHECK(EngineColumn(h.engine, kTombstoneColumn).empty());
  auto keys = EngineColumn(h.engine, kDataColumn);
  REQUIRE(keys.size() == 1);
  CHECK(keys[0].first == "alive");
  auto dead = h.store->LookupReplicated("dead");
  REQUIRE(dead.ok());
  CHECK_FALSE(dead.value().has_value());
  // A bounded pass resumes where the last one stopped.
  for (uint64_t k = 0; k < 5; ++k) {
    const std::string key = fmt::format("k{}", k);
    apply(change(ChangeOp::kPut, 2, 2 * k + 1, 2'000 + 2 * k, key, {}));
    clock::VersionVector ctx;
    ctx.Witness(2, 2 * k + 1);
    apply(change(ChangeOp::kDelete, 2, 2 * k + 2, 2'001 + 2 * k, key, ctx));
  }
  h.Commit();
  seen.Witness(2, 10);
  Stability later{seen, clock::HlcTimestamp::From(3'000, 0)};
  size_t total = 0;
  for (int pass = 0; pass < 3; ++pass) {
    total += h.store->CollectTombstones(later, 10'000, 0, 2, h.group, &h.batch);
    h.Commit();
  }
  CHECK(total == 5);
  CHECK(EngineColumn(h.engine, kTombstoneColumn).empty());
}

}  // namespace
}  // namespace kvd::kv
