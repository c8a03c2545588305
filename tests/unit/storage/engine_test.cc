// Storage engine contract tests (server/storage/engine.h).
//
// Goal: show that MemoryEngine and LevelDbEngine honour the same Engine contract, so
// that code tested against MemoryEngine (kv/, the simulator) behaves the same on
// LevelDB in production. Method: every contract test GENERATEs the engine kind and runs
// the same steps against a fresh engine of that kind (LevelDB in a new directory under
// the system temp directory, removed afterwards); a randomized test with a fixed seed
// checks both engines against a std::map model through LevelDB memtable flushes and
// compactions, and a threaded test runs writers against a reader. Engine-specific tests
// cover MemoryEngine's fault injection (write errors, a crash dropping unsynced writes)
// and LevelDB's persistence, directory locking and error messages.
// A failure means an engine breaks the contract: data is lost, reordered or leaked
// across snapshots, a batch is not atomic, an error has the wrong code or a message an
// operator could not act on, or the two engines disagree.
#include "server/storage/engine.h"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "server/storage/leveldb_engine.h"
#include "server/storage/memory_engine.h"

namespace kvd::storage {
namespace {

namespace fs = std::filesystem;

constexpr const char* kAbsent = "<absent>";

// A directory under the system temp directory, unique to this process and object,
// removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() / fmt::format("kvd_engine_test_{}_{}", ::getpid(), ++counter);
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Small LevelDB buffers, so that a few hundred kilobytes of writes already flush the
// memtable and compact, exercising the on-disk read paths.
LevelDbOptions SmallLevelDbOptions() {
  LevelDbOptions options;
  options.block_cache_bytes = 1u << 20;
  options.write_buffer_bytes = 64u << 10;
  return options;
}

std::unique_ptr<LevelDbEngine> OpenLevelDb(const fs::path& dir) {
  auto engine = LevelDbEngine::Open(dir.string(), SmallLevelDbOptions());
  INFO((engine.ok() ? std::string("ok") : engine.status().ToString()));
  REQUIRE(engine.ok());
  return std::move(engine).value();
}

// The factory: a fresh, empty engine of `kind` ("memory" or "leveldb").
class TestEngine {
 public:
  explicit TestEngine(const std::string& kind) {
    if (kind == "memory") {
      engine_ = std::make_unique<MemoryEngine>();
    } else {
      REQUIRE(kind == "leveldb");
      engine_ = OpenLevelDb(dir_.path());
    }
    REQUIRE(engine_->Name() == kind);
  }
  ~TestEngine() { engine_.reset(); }  // before dir_ is removed

  Engine& operator*() { return *engine_; }
  Engine* operator->() { return engine_.get(); }

 private:
  TempDir dir_;  // unused by the memory engine
  std::unique_ptr<Engine> engine_;
};

void Put(Engine& engine, std::string_view key, std::string_view value, bool sync = false) {
  WriteBatch batch;
  batch.Put(key, value);
  REQUIRE(engine.Write(batch, sync).ok());
}

void Delete(Engine& engine, std::string_view key, bool sync = false) {
  WriteBatch batch;
  batch.Delete(key);
  REQUIRE(engine.Write(batch, sync).ok());
}

// The value of `key`, or kAbsent if the engine reports kNotFound.
std::string Lookup(Engine& engine, std::string_view key) {
  std::string value;
  Status s = engine.Get(key, &value);
  if (s.code() == Code::kNotFound) return kAbsent;
  INFO(s.ToString());
  REQUIRE(s.ok());
  return value;
}

// Every entry from the first key to the end, as "key=value".
std::vector<std::string> ScanForward(Iterator& it) {
  std::vector<std::string> out;
  for (it.SeekToFirst(); it.Valid(); it.Next()) {
    out.push_back(fmt::format("{}={}", it.key(), it.value()));
  }
  REQUIRE(it.status().ok());
  return out;
}

// Every entry from the last key back to the first, as "key=value".
std::vector<std::string> ScanBackward(Iterator& it) {
  std::vector<std::string> out;
  for (it.SeekToLast(); it.Valid(); it.Prev()) {
    out.push_back(fmt::format("{}={}", it.key(), it.value()));
  }
  REQUIRE(it.status().ok());
  return out;
}

std::string EngineKind() { return GENERATE(as<std::string>{}, "memory", "leveldb"); }

TEST_CASE("engine: put, get and delete", "[unit][storage]") {
  const std::string kind = EngineKind();
  CAPTURE(kind);
  TestEngine engine(kind);

  CHECK(Lookup(*engine, "k") == kAbsent);
  Put(*engine, "k", "v1");
  CHECK(Lookup(*engine, "k") == "v1");
  Put(*engine, "k", "v2");
  CHECK(Lookup(*engine, "k") == "v2");
  Delete(*engine, "k");
  CHECK(Lookup(*engine, "k") == kAbsent);
  // Deleting an absent key is not an error.
  Delete(*engine, "never-written");
  std::string value = "untouched";
  CHECK(engine->Get("k", &value).code() == Code::kNotFound);
}

TEST_CASE("engine: keys and values are binary-safe and ordered bytewise", "[unit][storage]") {
  const std::string kind = EngineKind();
  CAPTURE(kind);
  TestEngine engine(kind);

  const std::string nul(1, '\0');
  const std::string a_nul_b("a\0b", 3);
  const std::string ff("\xff");
  const std::string ff_ff("\xff\xff");
  const std::string value_nul("x\0y\0", 4);
  const std::string value_ff("\xff\x00\xfe", 3);
  // Written out of order; the engine must sort as unsigned bytes (0x00 < 'a' < 0xff).
  Put(*engine, ff_ff, "4");
  Put(*engine, a_nul_b, value_nul);
  Put(*engine, ff, value_ff);
  Put(*engine, "a", "1");
  Put(*engine, nul, "0");

  CHECK(Lookup(*engine, a_nul_b) == value_nul);
  CHECK(Lookup(*engine, ff) == value_ff);
  CHECK(Lookup(*engine, nul) == "0");
  CHECK(Lookup(*engine, "a") == "1");
  CHECK(Lookup(*engine, std::string("a\0", 2)) == kAbsent);  // not a prefix match

  auto it = engine->NewIterator();
  std::vector<std::string> keys;
  for (it->SeekToFirst(); it->Valid(); it->Next()) keys.emplace_back(it->key());
  CHECK(keys == std::vector<std::string>{nul, "a", a_nul_b, ff, ff_ff});
  it->Seek(a_nul_b);
  REQUIRE(it->Valid());
  CHECK(it->value() == value_nul);
}

TEST_CASE("engine: an empty value is stored and differs from an absent key", "[unit][storage]") {
  const std::string kind = EngineKind();
  CAPTURE(kind);
  TestEngine engine(kind);

  Put(*engine, "empty", "");
  std::string value = "stale";
  REQUIRE(engine->Get("empty", &value).ok());
  CHECK(value.empty());
  auto it = engine->NewIterator();
  it->SeekToFirst();
  REQUIRE(it->Valid());
  CHECK(it->key() == "empty");
  CHECK(it->value().empty());
}

TEST_CASE("engine: a batch applies atomically in order, so the last write to a key wins",
          "[unit][storage]") {
  const std::string kind = EngineKind();
  CAPTURE(kind);
  TestEngine engine(kind);
  Put(*engine, "k2", "old");

  WriteBatch batch;
  batch.Put("k1", "v1");
  batch.Delete("k1");  // put then delete: absent
  batch.Delete("k2");
  batch.Put("k2", "new");  // delete then put: present
  WriteBatch more;
  more.Put("k3", "a");
  more.Put("k3", "b");  // put then put: the second
  batch.Append(more);
  REQUIRE(batch.size() == 6);
  REQUIRE(engine->Write(batch, /*sync=*/true).ok());

  CHECK(Lookup(*engine, "k1") == kAbsent);
  CHECK(Lookup(*engine, "k2") == "new");
  CHECK(Lookup(*engine, "k3") == "b");
  auto it = engine->NewIterator();
  CHECK(ScanForward(*it) == std::vector<std::string>{"k2=new", "k3=b"});
  // An empty batch is a valid no-op.
  REQUIRE(engine->Write(WriteBatch(), /*sync=*/false).ok());
}

TEST_CASE("engine: iterator seeks and walks forward and backward", "[unit][storage]") {
  const std::string kind = EngineKind();
  CAPTURE(kind);
  TestEngine engine(kind);

  {
    auto empty = engine->NewIterator();
    CHECK_FALSE(empty->Valid());
    empty->SeekToFirst();
    CHECK_FALSE(empty->Valid());
    empty->SeekToLast();
    CHECK_FALSE(empty->Valid());
    empty->Seek("a");
    CHECK_FALSE(empty->Valid());
    CHECK(empty->status().ok());
  }

  Put(*engine, "c", "3");
  Put(*engine, "a", "1");
  Put(*engine, "e", "5");
  auto it = engine->NewIterator();
  CHECK(ScanForward(*it) == std::vector<std::string>{"a=1", "c=3", "e=5"});
  CHECK(ScanBackward(*it) == std::vector<std::string>{"e=5", "c=3", "a=1"});

  it->Seek("b");  // between keys: the next one
  REQUIRE(it->Valid());
  CHECK(it->key() == "c");
  it->Seek("c");  // exact
  REQUIRE(it->Valid());
  CHECK(it->key() == "c");
  it->Seek("");  // before everything
  REQUIRE(it->Valid());
  CHECK(it->key() == "a");
  it->Seek("f");  // past the end
  CHECK_FALSE(it->Valid());

  it->Seek("d");
  REQUIRE(it->Valid());
  it->Prev();  // the usual "last key below d" idiom
  REQUIRE(it->Valid());
  CHECK(it->key() == "c");
  it->Prev();
  REQUIRE(it->Valid());
  CHECK(it->key() == "a");
  it->Prev();  // past the beginning
  CHECK_FALSE(it->Valid());
  it->SeekToLast();  // usable again after running off either end
  REQUIRE(it->Valid());
  CHECK(it->key() == "e");
  it->Next();
  CHECK_FALSE(it->Valid());
  CHECK(it->status().ok());
}

TEST_CASE("engine: an iterator sees the snapshot taken when it was created", "[unit][storage]") {
  const std::string kind = EngineKind();
  CAPTURE(kind);
  TestEngine engine(kind);
  Put(*engine, "a", "1");
  Put(*engine, "b", "2");

  auto before = engine->NewIterator();
  Put(*engine, "a", "changed");
  Delete(*engine, "b");
  Put(*engine, "c", "new", /*sync=*/true);
  auto after = engine->NewIterator();

  CHECK(ScanForward(*before) == std::vector<std::string>{"a=1", "b=2"});
  CHECK(ScanBackward(*before) == std::vector<std::string>{"b=2", "a=1"});
  before->Seek("c");
  CHECK_FALSE(before->Valid());
  CHECK(ScanForward(*after) == std::vector<std::string>{"a=changed", "c=new"});
  // Both iterators stay independent after further writes.
  Put(*engine, "d", "later");
  CHECK(ScanForward(*after) == std::vector<std::string>{"a=changed", "c=new"});
  CHECK(ScanForward(*before) == std::vector<std::string>{"a=1", "b=2"});
}

TEST_CASE("engine: stats count writes and syncs and report size gauges", "[unit][storage]") {
  const std::string kind = EngineKind();
  CAPTURE(kind);
  TestEngine engine(kind);

  EngineStats fresh = engine->Stats();
  CHECK(fresh.writes == 0);
  CHECK(fresh.synced_writes == 0);
  REQUIRE(fresh.gauges.count("approximate_bytes") == 1);
  CHECK(fresh.gauges.at("approximate_bytes") == 0);

  Put(*engine, "key1", "value1");
  Put(*engine, "key2", "value22", /*sync=*/true);
  Delete(*engine, "key3");
  REQUIRE(engine->Sync().ok());
  EngineStats stats = engine->Stats();
  CHECK(stats.writes == 3);
  CHECK(stats.synced_writes == 2);  // one synced Write plus one Sync
  REQUIRE(stats.gauges.count("approximate_bytes") == 1);
  if (kind == "memory") {
    CHECK(stats.gauges.at("keys") == 2);
    CHECK(stats.gauges.at("approximate_bytes") == 4 + 6 + 4 + 7);
  } else {
    for (int level = 0; level < 7; ++level) {
      CHECK(stats.gauges.count(fmt::format("files_level_{}", level)) == 1);
    }
    REQUIRE(stats.gauges.count("memory_bytes") == 1);
    CHECK(stats.gauges.at("memory_bytes") > 0);
  }
}

// Random batches against a std::map model. With LevelDB's 64 KiB write buffer, ~1 MB
// of writes flushes the memtable many times and triggers compactions, so reads go
// through table files, bloom filters and merging iterators, not just the memtable.
TEST_CASE("engine: random batches agree with a model map", "[unit][storage]") {
  const std::string kind = EngineKind();
  CAPTURE(kind);
  TestEngine engine(kind);
  std::map<std::string, std::string> model;
  std::mt19937 rng(20240601);  // fixed: a failure replays exactly
  auto random_key = [&rng] {
    // A few leading bytes, including 0x00 and 0xff, to spread keys over the byte range.
    static constexpr char kLead[] = {'\0', 'a', 'm', '\x7f', '\x80', '\xff'};
    char lead = kLead[rng() % sizeof(kLead)];
    return fmt::format("{}key{:03}", lead, rng() % 400);
  };

  for (int round = 0; round < 1500; ++round) {
    WriteBatch batch;
    std::map<std::string, std::string> next = model;
    const uint64_t ops = 1 + rng() % 8;
    for (uint64_t op = 0; op < ops; ++op) {
      std::string key = random_key();
      if (rng() % 4 == 0) {
        batch.Delete(key);
        next.erase(key);
      } else {
        std::string value(rng() % 300, static_cast<char>('a' + rng() % 26));
        batch.Put(key, value);
        next[key] = value;
      }
    }
    REQUIRE(engine->Write(batch, /*sync=*/round % 100 == 0).ok());
    model = std::move(next);
  }

  std::vector<std::string> expected;
  for (const auto& [key, value] : model) expected.push_back(fmt::format("{}={}", key, value));
  auto it = engine->NewIterator();
  CHECK(ScanForward(*it) == expected);
  std::vector<std::string> reversed(expected.rbegin(), expected.rend());
  CHECK(ScanBackward(*it) == reversed);
  for (int probe = 0; probe < 500; ++probe) {
    std::string key = random_key();
    auto found = model.find(key);
    CHECK(Lookup(*engine, key) == (found == model.end() ? kAbsent : found->second));
  }
  CHECK(engine->Stats().gauges.at("approximate_bytes") > 0);
}

// The contract lets any thread call Get, Write, Sync, NewIterator and Stats. Writers own
// disjoint keys, so the final state is known; readers check that every iterator sees a
// consistent snapshot: each writer's keys form a prefix of its sequence, since batch i+1
// is written only after batch i. Under TSan only the MemoryEngine half is meaningful:
// Debian's libleveldb is not instrumented, so TSan cannot see the atomics that order its
// memtable accesses and reports them as races.
TEST_CASE("engine: concurrent writers and readers", "[unit][storage]") {
  const std::string kind = EngineKind();
  CAPTURE(kind);
  TestEngine engine(kind);
  constexpr int kWriters = 4;
  constexpr int kBatchesPerWriter = 200;
  Engine* shared = &*engine;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int writer = 0; writer < kWriters; ++writer) {
    threads.emplace_back([shared, writer, &failures] {
      for (int i = 0; i < kBatchesPerWriter; ++i) {
        WriteBatch batch;
        batch.Put(fmt::format("w{}/{:04}", writer, i), "v");
        if (!shared->Write(batch, /*sync=*/i % 50 == 0).ok()) ++failures;
      }
    });
  }
  threads.emplace_back([shared, &failures] {
    for (int round = 0; round < 50; ++round) {
      auto it = shared->NewIterator();
      std::map<std::string, int> per_writer;  // keys seen per writer prefix
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        std::string_view key = it->key();
        std::string prefix(key.substr(0, 2));
        // Keys of one writer arrive in order, so the n-th must be number n.
        if (key.substr(3) != fmt::format("{:04}", per_writer[prefix]++)) ++failures;
      }
      if (!it->status().ok()) ++failures;
      (void)shared->Stats();
    }
  });
  for (std::thread& thread : threads) thread.join();
  CHECK(failures.load() == 0);
  auto it = engine->NewIterator();
  size_t keys = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++keys;
  CHECK(keys == size_t{kWriters} * kBatchesPerWriter);
  CHECK(engine->Stats().writes == uint64_t{kWriters} * kBatchesPerWriter);
}

TEST_CASE("engine: memory engine fails writes while an error is injected", "[unit][storage]") {
  MemoryEngine engine;
  Put(engine, "k", "before", /*sync=*/true);
  const Status disk_full = Status::IOError("no space left on device");
  engine.InjectWriteError(disk_full);

  WriteBatch batch;
  batch.Put("k", "during");
  batch.Put("other", "during");
  CHECK(engine.Write(batch, /*sync=*/false) == disk_full);
  CHECK(engine.Write(batch, /*sync=*/true) == disk_full);
  CHECK(engine.Sync() == disk_full);
  // A failed batch changes nothing, not even in part.
  CHECK(Lookup(engine, "k") == "before");
  CHECK(Lookup(engine, "other") == kAbsent);
  std::string value;
  CHECK(engine.Get("k", &value).ok());  // reads still work

  engine.InjectWriteError(std::nullopt);
  REQUIRE(engine.Write(batch, /*sync=*/false).ok());
  CHECK(Lookup(engine, "k") == "during");
  CHECK(Lookup(engine, "other") == "during");
}

TEST_CASE("engine: memory engine crash drops unsynced writes and keeps synced ones",
          "[unit][storage]") {
  MemoryEngine engine;
  Put(engine, "synced", "v1");
  Put(engine, "to-delete", "kept", /*sync=*/true);  // makes both writes durable
  Put(engine, "synced", "v2");                      // unsynced overwrite
  Put(engine, "unsynced", "lost");                  // unsynced new key
  Delete(engine, "to-delete");                      // unsynced delete
  Delete(engine, "never-written");                  // unsynced delete of an absent key
  auto before_crash = engine.NewIterator();

  engine.SimulateCrash();
  CHECK(Lookup(engine, "synced") == "v1");
  CHECK(Lookup(engine, "unsynced") == kAbsent);
  CHECK(Lookup(engine, "to-delete") == "kept");
  // An iterator from before the crash keeps its snapshot.
  CHECK(ScanForward(*before_crash) == std::vector<std::string>{"synced=v2", "unsynced=lost"});
  auto after_crash = engine.NewIterator();
  CHECK(ScanForward(*after_crash) == std::vector<std::string>{"synced=v1", "to-delete=kept"});

  // Sync makes every earlier write durable; a synced write does too, for earlier ones.
  Put(engine, "a", "1");
  REQUIRE(engine.Sync().ok());
  Put(engine, "b", "2");
  Put(engine, "c", "3", /*sync=*/true);
  Delete(engine, "a");  // unsynced again
  engine.SimulateCrash();
  CHECK(Lookup(engine, "a") == "1");
  CHECK(Lookup(engine, "b") == "2");
  CHECK(Lookup(engine, "c") == "3");
  // A crash with nothing unsynced changes nothing.
  engine.SimulateCrash();
  CHECK(Lookup(engine, "a") == "1");
  CHECK(engine.Stats().gauges.at("keys") == 5);
}

TEST_CASE("engine: leveldb reopen keeps the data", "[unit][storage]") {
  TempDir dir;
  {
    auto engine = OpenLevelDb(dir.path());
    Put(*engine, "synced", "1", /*sync=*/true);
    Put(*engine, std::string("bin\0\xff", 5), std::string("\0\xff", 2));
    Put(*engine, "deleted", "x");
    Delete(*engine, "deleted");
    // Not synced: a clean close still hands the log to the OS, so it must survive.
    Put(*engine, "unsynced", "2");
  }
  auto engine = OpenLevelDb(dir.path());
  CHECK(Lookup(*engine, "synced") == "1");
  CHECK(Lookup(*engine, std::string("bin\0\xff", 5)) == std::string("\0\xff", 2));
  CHECK(Lookup(*engine, "deleted") == kAbsent);
  CHECK(Lookup(*engine, "unsynced") == "2");
  // Counters are per open, not persisted.
  CHECK(engine->Stats().writes == 0);
}

TEST_CASE("engine: leveldb refuses a second open of the same directory", "[unit][storage]") {
  TempDir dir;
  auto first = OpenLevelDb(dir.path());
  auto second = LevelDbEngine::Open(dir.path().string(), SmallLevelDbOptions());
  REQUIRE_FALSE(second.ok());
  CAPTURE(second.status().ToString());
  CHECK(second.status().code() == Code::kIOError);
  CHECK_THAT(second.status().message(), Catch::Contains("open leveldb in " + dir.path().string()));
  CHECK_THAT(second.status().message(), Catch::Contains("LOCK"));
  // The first engine is unaffected.
  Put(*first, "k", "v");
  CHECK(Lookup(*first, "k") == "v");
}

TEST_CASE("engine: leveldb open of an unusable path fails with the path named", "[unit][storage]") {
  TempDir dir;
  fs::create_directories(dir.path());
  const fs::path file = dir.path() / "a-file";
  std::ofstream(file) << "not a directory";
  const std::string bad = (file / "db").string();
  auto engine = LevelDbEngine::Open(bad, SmallLevelDbOptions());
  REQUIRE_FALSE(engine.ok());
  CAPTURE(engine.status().ToString());
  CHECK(engine.status().code() == Code::kIOError);
  CHECK_THAT(engine.status().message(), Catch::Contains(bad));

  // Without create_if_missing a missing database is an error too, not a new database.
  LevelDbOptions options = SmallLevelDbOptions();
  options.create_if_missing = false;
  const std::string missing = (dir.path() / "missing").string();
  auto not_created = LevelDbEngine::Open(missing, options);
  REQUIRE_FALSE(not_created.ok());
  CAPTURE(not_created.status().ToString());
  CHECK(not_created.status().code() == Code::kIOError);
  CHECK_THAT(not_created.status().message(), Catch::Contains(missing));
}

}  // namespace
}  // namespace kvd::storage
