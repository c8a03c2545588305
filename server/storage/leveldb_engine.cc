// LevelDbEngine: the Engine contract over one LevelDB database.
//
// LevelDB already provides what the contract asks for: atomic WriteBatch, sync writes
// that fsync the log, an internal mutex, and iterators that pin an implicit snapshot at
// creation. This file converts types and errors and collects statistics.
#include "server/storage/leveldb_engine.h"

#include <fmt/format.h>
#include <leveldb/cache.h>
#include <leveldb/db.h>
#include <leveldb/filter_policy.h>
#include <leveldb/iterator.h>
#include <leveldb/options.h>
#include <leveldb/write_batch.h>

#include <atomic>
#include <charconv>
#include <filesystem>
#include <system_error>
#include <utility>

namespace kvd::storage {

struct LevelDbEngine::Counters {
  std::atomic<uint64_t> writes{0};
  std::atomic<uint64_t> synced_writes{0};
};

namespace {

// 10 bits per key gives about a 1% false-positive rate, LevelDB's recommended setting;
// it saves a disk read on most Gets of absent keys (kv/ reads metadata keys that often
// do not exist).
constexpr int kBloomBitsPerKey = 10;
// LevelDB's number of levels (config::kNumLevels, which is not in the public headers).
constexpr int kLevelDbLevels = 7;

leveldb::Slice ToSlice(std::string_view s) { return {s.data(), s.size()}; }
std::string_view ToView(const leveldb::Slice& s) { return {s.data(), s.size()}; }

// Converts a non-OK LevelDB status, prefixing `context` (which names the operation and
// the directory) so that an operator reading a log line knows which database failed.
// LevelDB's own text follows, e.g. "IO error: lock /x/LOCK: already held by process".
Status FromLevelDb(const leveldb::Status& s, std::string_view context) {
  KVD_ASSERT(!s.ok());
  std::string message = fmt::format("{}: {}", context, s.ToString());
  if (s.IsNotFound()) return Status::NotFound(std::move(message));
  if (s.IsCorruption()) return Status::Corruption(std::move(message));
  // IOError, and also NotSupported / InvalidArgument, which LevelDB returns for things
  // like a missing database with create_if_missing off: all are environment problems an
  // operator must fix, not bad requests from a client.
  return Status::IOError(std::move(message));
}

// Wraps a leveldb::Iterator. `dir` points into the engine, which outlives the iterator
// (Engine contract), and is only read to word an error.
class LevelDbIterator final : public Iterator {
 public:
  LevelDbIterator(std::unique_ptr<leveldb::Iterator> it, std::string_view dir)
      : it_(std::move(it)), dir_(dir) {}

  bool Valid() const override { return it_->Valid(); }
  void SeekToFirst() override { it_->SeekToFirst(); }
  void SeekToLast() override { it_->SeekToLast(); }
  void Seek(std::string_view target) override { it_->Seek(ToSlice(target)); }
  // LevelDB only checks these preconditions in debug builds; ours are always on.
  void Next() override {
    KVD_ASSERT(Valid());
    it_->Next();
  }
  void Prev() override {
    KVD_ASSERT(Valid());
    it_->Prev();
  }
  std::string_view key() const override {
    KVD_ASSERT(Valid());
    return ToView(it_->key());
  }
  std::string_view value() const override {
    KVD_ASSERT(Valid());
    return ToView(it_->value());
  }
  Status status() const override {
    leveldb::Status s = it_->status();
    if (s.ok()) return Status::Ok();
    return FromLevelDb(s, fmt::format("iterate leveldb in {}", dir_));
  }

 private:
  std::unique_ptr<leveldb::Iterator> it_;
  std::string_view dir_;
};

// Reads a numeric LevelDB property into gauges[gauge]; skips it if LevelDB does not
// know the property or its value is not a number, since statistics must never fail.
void AddPropertyGauge(leveldb::DB* db, const std::string& property, const std::string& gauge,
                      std::map<std::string, uint64_t>* gauges) {
  std::string text;
  if (!db->GetProperty(property, &text)) return;
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return;
  (*gauges)[gauge] = value;
}

leveldb::WriteBatch ToLevelDbBatch(const WriteBatch& batch) {
  leveldb::WriteBatch out;
  batch.ForEach([&](const WriteBatch::Entry& entry) {
    if (entry.kind == WriteBatch::Kind::kPut) {
      out.Put(ToSlice(entry.key), ToSlice(entry.value));
    } else {
      out.Delete(ToSlice(entry.key));
    }
  });
  return out;
}

}  // namespace

Result<std::unique_ptr<LevelDbEngine>> LevelDbEngine::Open(const std::string& dir,
                                                           const LevelDbOptions& options) {
  const std::string context = fmt::format("open leveldb in {}", dir);
  // LevelDB creates only the last path component; the data directory's parents may not
  // exist yet on a fresh node.
  if (options.create_if_missing) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Status::IOError(fmt::format("{}: create directory: {}", context, ec.message()));
  }
  std::unique_ptr<LevelDbEngine> engine(new LevelDbEngine());
  engine->dir_ = dir;
  engine->counters_ = std::make_unique<Counters>();
  // The engine owns the cache and filter policy because leveldb::Options only borrows
  // them; they must outlive db_, which member order (and ~LevelDbEngine) guarantees.
  engine->cache_.reset(leveldb::NewLRUCache(options.block_cache_bytes));
  engine->filter_.reset(leveldb::NewBloomFilterPolicy(kBloomBitsPerKey));

  leveldb::Options db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.paranoid_checks = options.paranoid_checks;
  db_options.write_buffer_size = options.write_buffer_bytes;
  db_options.block_cache = engine->cache_.get();
  db_options.filter_policy = engine->filter_.get();
  leveldb::DB* db = nullptr;
  leveldb::Status s = leveldb::DB::Open(db_options, dir, &db);
  if (!s.ok()) return FromLevelDb(s, context);
  engine->db_.reset(db);
  return engine;
}

LevelDbEngine::~LevelDbEngine() {
  // Close the database first: it still uses the block cache and filter policy.
  db_.reset();
  filter_.reset();
  cache_.reset();
}

Status LevelDbEngine::Get(std::string_view key, std::string* value) {
  leveldb::Status s = db_->Get(leveldb::ReadOptions(), ToSlice(key), value);
  if (s.ok()) return Status::Ok();
  // A missing key is the common case; keep it cheap and worded as MemoryEngine does.
  if (s.IsNotFound()) return Status::NotFound("key not found");
  return FromLevelDb(s, fmt::format("read from leveldb in {}", dir_));
}

Status LevelDbEngine::Write(const WriteBatch& batch, bool sync) {
  counters_->writes.fetch_add(1, std::memory_order_relaxed);
  if (sync) counters_->synced_writes.fetch_add(1, std::memory_order_relaxed);
  leveldb::WriteBatch leveldb_batch = ToLevelDbBatch(batch);
  leveldb::WriteOptions write_options;
  write_options.sync = sync;
  leveldb::Status s = db_->Write(write_options, &leveldb_batch);
  if (s.ok()) return Status::Ok();
  return FromLevelDb(s, fmt::format("write to leveldb in {}", dir_));
}

Status LevelDbEngine::Sync() {
  // LevelDB has no explicit sync call. A synced write of an empty batch appends an empty
  // record to the log and fsyncs it, which makes every earlier record durable too.
  counters_->synced_writes.fetch_add(1, std::memory_order_relaxed);
  leveldb::WriteBatch empty;
  leveldb::WriteOptions write_options;
  write_options.sync = true;
  leveldb::Status s = db_->Write(write_options, &empty);
  if (s.ok()) return Status::Ok();
  return FromLevelDb(s, fmt::format("sync leveldb in {}", dir_));
}

std::unique_ptr<Iterator> LevelDbEngine::NewIterator() {
  // Without ReadOptions::snapshot, LevelDB pins the sequence number current at creation,
  // which gives the snapshot semantics the contract promises.
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
  return std::make_unique<LevelDbIterator>(std::move(it), dir_);
}

EngineStats LevelDbEngine::Stats() {
  EngineStats stats;
  stats.writes = counters_->writes.load(std::memory_order_relaxed);
  stats.synced_writes = counters_->synced_writes.load(std::memory_order_relaxed);
  AddPropertyGauge(db_.get(), "leveldb.approximate-memory-usage", "memory_bytes", &stats.gauges);
  for (int level = 0; level < kLevelDbLevels; ++level) {
    AddPropertyGauge(db_.get(), fmt::format("leveldb.num-files-at-level{}", level),
                     fmt::format("files_level_{}", level), &stats.gauges);
  }
  stats.gauges["approximate_bytes"] = ApproximateBytes();
  return stats;
}

uint64_t LevelDbEngine::ApproximateBytes() {
  // Bytewise keys have no largest value, so the range ends just past the last live key
  // ("" is the smallest key; key + '\0' is the smallest key after `key`). LevelDB counts
  // only table files here: writes still in the memtable are in "memory_bytes" instead.
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
  it->SeekToLast();
  if (!it->Valid()) return 0;
  std::string limit = it->key().ToString();
  limit.push_back('\0');
  leveldb::Range range(leveldb::Slice(), ToSlice(limit));
  uint64_t bytes = 0;
  db_->GetApproximateSizes(&range, 1, &bytes);
  return bytes;
}

}  // namespace kvd::storage
