// RowCache: decoded records of recently used keys, in memory, bounded by bytes (the idea
// of RocksDB's row cache).
//
// It answers GETs and the read-before-write of every write request without a LevelDB
// lookup, which costs a skip-list or block search with several cache misses. It mirrors
// the engine only: KvStore fills it on an engine read and updates it when a group becomes
// durable, never with writes still in the overlay, so a rollback never has to touch it.
// Absent keys are not cached.
//
// Eviction is CLOCK (second chance), an approximation of LRU: a hit only sets a flag,
// where a true LRU list would relink nodes on every read, touching three more cache lines.
//
// Thread-safety: none; owned by KvStore.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/kv/record.h"

namespace kvd::kv {

class RowCache {
 public:
  // capacity_bytes 0 disables the cache.
  explicit RowCache(size_t capacity_bytes) : capacity_bytes_(capacity_bytes) {}

  // The cached record for key (marked recently used), or nullptr on a miss.
  const Record* Find(std::string_view key);
  // Inserts or replaces; evicts entries not used recently beyond the capacity.
  void Put(std::string_view key, Record record);
  void Erase(std::string_view key);
  // Drops every entry (the engine's contents were replaced).
  void Clear() {
    map_.clear();
    ring_.clear();
    hand_ = 0;
    bytes_ = 0;
  }

  size_t bytes() const { return bytes_; }
  size_t entries() const { return map_.size(); }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  struct Slot {
    Record record;
    size_t ring_index = 0;  // position in ring_
    bool referenced = false;
  };
  using Map = std::unordered_map<std::string, Slot, Hash, std::equal_to<>>;

  // Bytes an entry is charged: its key and value plus an estimate of the node, bucket and
  // allocator overhead.
  static size_t Charge(std::string_view key, const Record& r) {
    return key.size() + r.value.size() + 96;
  }
  void Remove(Map::iterator it);
  void EvictToCapacity();

  size_t capacity_bytes_;
  size_t bytes_ = 0;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
  Map map_;
  std::vector<Map::iterator> ring_;  // every entry once; the clock hand sweeps it
  size_t hand_ = 0;
};

}  // namespace kvd::kv
