// Storage engine interface: an ordered, byte-keyed map with atomic batched writes.
//
// kvd stores everything a node owns in one engine: user data, metadata (revision
// counters), indexes (TTL expiry), and, in later topologies, Raft logs and hints, each
// under its own key prefix chosen by the layer above. Two engines implement it:
//   * LevelDbEngine (leveldb_engine.h): the production engine, one LevelDB per node.
//   * MemoryEngine (memory_engine.h): a std::map, for tests and the simulator.
// Both pass the same test suite (tests/unit/storage/engine_test.cc).
//
// Durability: Write(batch, sync=true) returns only after the batch is on stable storage
// (fsync). Write(batch, sync=false) makes it visible to readers at once and durable at the
// next synced write or Sync(). A batch is atomic: after a crash either all of it or none
// of it is present.
//
// Thread-safety: Get, Write, Sync, NewIterator and Stats may be called concurrently from
// any threads. An Iterator is used by one thread at a time and must be destroyed before
// its engine.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kvd::storage {

class WriteBatch {
 public:
  enum class Kind : uint8_t { kPut, kDelete };
  struct Entry {
    Kind kind;
    std::string key;
    std::string value;  // empty for kDelete
  };

  void Put(std::string_view key, std::string_view value) {
    bytes_ += key.size() + value.size();
    entries_.push_back({Kind::kPut, std::string(key), std::string(value)});
  }
  void Delete(std::string_view key) {
    bytes_ += key.size();
    entries_.push_back({Kind::kDelete, std::string(key), std::string()});
  }
  void Append(const WriteBatch& other) {
    entries_.insert(entries_.end(), other.entries_.begin(), other.entries_.end());
    bytes_ += other.bytes_;
  }
  void Clear() {
    entries_.clear();
    bytes_ = 0;
  }

  const std::vector<Entry>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  // Sum of key and value sizes.
  size_t bytes() const { return bytes_; }

 private:
  std::vector<Entry> entries_;
  size_t bytes_ = 0;
};

// A cursor over the engine's keys in byte-wise order, seeing a consistent snapshot taken
// when it was created. Same contract as leveldb::Iterator.
class Iterator {
 public:
  virtual ~Iterator() = default;
  virtual bool Valid() const = 0;
  virtual void SeekToFirst() = 0;
  virtual void SeekToLast() = 0;
  // Positions at the first key >= target.
  virtual void Seek(std::string_view target) = 0;
  // REQUIRES: Valid().
  virtual void Next() = 0;
  virtual void Prev() = 0;
  virtual std::string_view key() const = 0;
  virtual std::string_view value() const = 0;
  // A non-OK status if iteration stopped because of an error (as opposed to the end).
  virtual Status status() const = 0;
};

struct EngineStats {
  // Named numeric gauges, e.g. "approximate_bytes", "files_level_0", "memory_bytes".
  std::map<std::string, uint64_t> gauges;
  uint64_t writes = 0;         // Write calls
  uint64_t synced_writes = 0;  // Write calls with sync=true, plus Sync calls
};

class Engine {
 public:
  virtual ~Engine() = default;

  // Reads `key`. Errors: kNotFound if absent; kIOError / kCorruption from the disk.
  virtual Status Get(std::string_view key, std::string* value) = 0;

  // Applies `batch` atomically. With sync, returns after it is durable.
  // Errors: kIOError (disk full, unwritable); after a write error the engine may refuse
  // all later writes (LevelDB does), which callers must surface, not retry silently.
  virtual Status Write(const WriteBatch& batch, bool sync) = 0;

  // Makes every previous write durable.
  virtual Status Sync() = 0;

  virtual std::unique_ptr<Iterator> NewIterator() = 0;

  virtual EngineStats Stats() = 0;

  // "leveldb" or "memory".
  virtual std::string_view Name() const = 0;
};

}  // namespace kvd::storage
