// RowCache and its coherence with the kv store's overlay.
//
// Goal: the row cache may only ever hold what the engine holds, so that a read answered
// from it is the same as a read from LevelDB. Method: the cache alone (LRU order, byte
// bound, replacement), then KvStore scenarios through the test harness where the cache
// could go stale: a key rewritten by a later group while an earlier one becomes durable
// and the later one is rolled back, deletes, and eviction under a tiny capacity. A failure
// means a GET could return a value that is not (or no longer) stored.
#include <catch2/catch.hpp>

#include "server/kv/row_cache.h"
#include "tests/unit/kv/kv_harness.h"

namespace kvd::kv {
namespace {

using testing::Harness;

TEST_CASE("row cache: finds, replaces, erases and evicts least recently used",
          "[unit][kv]") {
  RowCache cache(3 * (96 + 2 + 10));  // room for three 2-byte keys with 10-byte values
  cache.Put("k1", Record{1, 0, std::string(10, 'a')});
  cache.Put("k2", Record{2, 0, std::string(10, 'b')});
  cache.Put("k3", Record{3, 0, std::string(10, 'c')});
  REQUIRE(cache.entries() == 3);
  REQUIRE(cache.Find("k1") != nullptr);  // k1 is now the most recent; k2 the least
  cache.Put("k4", Record{4, 0, std::string(10, 'd')});
  CHECK(cache.Find("k2") == nullptr);
  CHECK(cache.Find("k1")->version == 1);
  cache.Put("k1", Record{5, 0, std::string(10, 'e')});
  CHECK(cache.Find("k1")->version == 5);
  CHECK(cache.Find("k1")->value == std::string(10, 'e'));
  cache.Erase("k1");
  CHECK(cache.Find("k1") == nullptr);
  CHECK(cache.bytes() <= 3 * (96 + 2 + 10));
  CHECK(cache.hits() >= 3);
}

TEST_CASE("row cache: an entry larger than the capacity is not kept, nor a stale copy",
          "[unit][kv]") {
  RowCache cache(200);
  cache.Put("k", Record{1, 0, "small"});
  cache.Put("k", Record{2, 0, std::string(500, 'x')});
  CHECK(cache.Find("k") == nullptr);
  CHECK(cache.bytes() == 0);
}

TEST_CASE("row cache: disabled with capacity 0", "[unit][kv]") {
  RowCache cache(0);
  cache.Put("k", Record{1, 0, "v"});
  CHECK(cache.Find("k") == nullptr);
  CHECK(cache.entries() == 0);
}

TEST_CASE("kv: the row cache never exposes a version whose group was rolled back",
          "[unit][kv]") {
  Harness h;
  h.Put("k", "v1", 1000);
  h.Commit();
  REQUIRE(h.Get("k", 1000)->value == "v1");  // cached now
  h.Put("k", "v2", 1000);                     // group A
  h.EndGroup();
  h.Put("k", "v3", 1000);                     // group B rewrites it
  h.EndGroup();
  h.WriteOldest();   // A durable: the engine holds v2, the overlay still v3
  h.FailPending();   // B fails and is rolled back
  auto got = h.Get("k", 1000);
  REQUIRE(got);
  CHECK(got->value == "v2");
  h.Commit();
  h.Reopen();
  CHECK(h.Get("k", 1000)->value == "v2");
}

TEST_CASE("kv: deletes and expiry leave no cached copy behind", "[unit][kv]") {
  Harness h;
  h.Put("gone", "x", 1000);
  h.Put("ttl", "y", 1000, /*ttl_ms=*/10);
  h.Commit();
  REQUIRE(h.Get("gone", 1000));
  REQUIRE(h.Get("ttl", 1000));
  CHECK(h.Delete("gone", 1000));
  h.Commit();
  CHECK_FALSE(h.Get("gone", 1000));
  CHECK(h.Sweep(2000) == 1);
  h.Commit();
  CHECK_FALSE(h.Get("ttl", 2000));
  CHECK(h.store->key_count() == 0);
}

TEST_CASE("kv: reads stay correct when the row cache evicts constantly", "[unit][kv]") {
  KvOptions options = testing::TestOptions();
  options.row_cache_bytes = 300;  // two or three entries
  Harness h(options);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 50; ++i) {
      h.Put("k" + std::to_string(i), "r" + std::to_string(round) + "i" + std::to_string(i), 1000);
    }
    h.Commit();
    for (int i = 49; i >= 0; --i) {
      auto got = h.Get("k" + std::to_string(i), 1000);
      REQUIRE(got);
      CHECK(got->value == "r" + std::to_string(round) + "i" + std::to_string(i));
    }
  }
  CHECK(h.store->row_cache().bytes() <= 300);
}

}  // namespace
}  // namespace kvd::kv
