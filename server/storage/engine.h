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
#include <cstring>
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
    std::string_view key;
    std::string_view value;  // empty for kDelete
  };

  // Entries are appended to one contiguous buffer (kind, key length, value length, key,
  // value), so building a batch of many small writes costs no allocation per write.
  void Put(std::string_view key, std::string_view value) { Add(Kind::kPut, key, value); }
  // Put(key_prefix + key, value_prefix + value), without building either string.
  void PutConcat(std::string_view key_prefix, std::string_view key, std::string_view value_prefix,
                 std::string_view value) {
    AddHeader(Kind::kPut, key_prefix.size() + key.size(), value_prefix.size() + value.size());
    rep_.append(key_prefix).append(key).append(value_prefix).append(value);
  }
  // Delete(key_prefix + key).
  void DeleteConcat(std::string_view key_prefix, std::string_view key) {
    AddHeader(Kind::kDelete, key_prefix.size() + key.size(), 0);
    rep_.append(key_prefix).append(key);
  }
  void Delete(std::string_view key) { Add(Kind::kDelete, key, {}); }
  void Append(const WriteBatch& other) {
    rep_.append(other.rep_);
    count_ += other.count_;
    bytes_ += other.bytes_;
  }
  void Clear() {
    rep_.clear();
    count_ = 0;
    bytes_ = 0;
  }

  // Calls fn(const Entry&) for every entry, in the order they were added.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    size_t pos = 0;
    while (pos < rep_.size()) {
      Entry e;
      uint32_t key_len = 0, value_len = 0;
      e.kind = static_cast<Kind>(rep_[pos]);
      std::memcpy(&key_len, rep_.data() + pos + 1, 4);
      std::memcpy(&value_len, rep_.data() + pos + 5, 4);
      pos += kEntryHeaderBytes;
      e.key = std::string_view(rep_).substr(pos, key_len);
      e.value = std::string_view(rep_).substr(pos + key_len, value_len);
      pos += size_t{key_len} + value_len;
      fn(e);
    }
  }
  // The entries as a list (tests and debugging; the views point into this batch).
  std::vector<Entry> entries() const {
    std::vector<Entry> out;
    ForEach([&](const Entry& e) { out.push_back(e); });
    return out;
  }

  bool empty() const { return count_ == 0; }
  size_t size() const { return count_; }
  // Sum of key and value sizes.
  size_t bytes() const { return bytes_; }

 private:
  static constexpr size_t kEntryHeaderBytes = 9;
  void Add(Kind kind, std::string_view key, std::string_view value) {
    AddHeader(kind, key.size(), value.size());
    rep_.append(key);
    rep_.append(value);
  }
  void AddHeader(Kind kind, size_t key_size, size_t value_size) {
    auto key_len = static_cast<uint32_t>(key_size);
    auto value_len = static_cast<uint32_t>(value_size);
    char header[kEntryHeaderBytes];
    header[0] = static_cast<char>(kind);
    std::memcpy(header + 1, &key_len, 4);
    std::memcpy(header + 5, &value_len, 4);
    rep_.append(header, kEntryHeaderBytes);
    ++count_;
    bytes_ += key_size + value_size;
  }

  std::string rep_;
  size_t count_ = 0;
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
