#include "server/kv/row_cache.h"

namespace kvd::kv {

const Record* RowCache::Find(std::string_view key) {
  if (capacity_bytes_ == 0) return nullptr;
  auto it = map_.find(key);
  if (it == map_.end()) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  it->second.referenced = true;
  return &it->second.record;
}

void RowCache::Put(std::string_view key, Record record) {
  if (capacity_bytes_ == 0) return;
  size_t charge = Charge(key, record);
  auto it = map_.find(key);
  if (charge > capacity_bytes_) {
    if (it != map_.end()) Remove(it);  // too big to cache; no stale copy may stay
    return;
  }
  if (it != map_.end()) {
    bytes_ -= Charge(it->first, it->second.record);
    it->second.record = std::move(record);
    it->second.referenced = true;
  } else {
    it = map_.emplace(std::string(key), Slot{std::move(record), ring_.size(), false}).first;
    ring_.push_back(it);  // unordered_map iterators stay valid across rehashing
  }
  bytes_ += charge;
  EvictToCapacity();
}

void RowCache::Erase(std::string_view key) {
  auto it = map_.find(key);
  if (it != map_.end()) Remove(it);
}

void RowCache::Remove(Map::iterator it) {
  bytes_ -= Charge(it->first, it->second.record);
  size_t index = it->second.ring_index;
  // Swap-remove from the ring; the moved entry learns its new position.
  ring_[index] = ring_.back();
  ring_[index]->second.ring_index = index;
  ring_.pop_back();
  if (hand_ >= ring_.size()) hand_ = 0;
  map_.erase(it);
}

void RowCache::EvictToCapacity() {
  while (bytes_ > capacity_bytes_ && !ring_.empty()) {
    if (hand_ >= ring_.size()) hand_ = 0;
    Map::iterator candidate = ring_[hand_];
    if (candidate->second.referenced) {
      candidate->second.referenced = false;  // second chance
      ++hand_;
      continue;
    }
    Remove(candidate);  // the last ring entry moves to hand_, examined next
  }
}

}  // namespace kvd::kv
