// MemoryEngine: the Engine contract over std::map, with crash and fault injection.
#include "server/storage/memory_engine.h"

#include <utility>

namespace kvd::storage {

namespace {

using Map = std::map<std::string, std::string, std::less<>>;

// Walks a shared, immutable copy of the map. Holding the shared_ptr keeps the copy alive
// after the engine has moved on (or crashed), which is what makes the iterator a snapshot.
// std::string compares through char_traits<char>, i.e. as unsigned bytes (like memcmp),
// so the order matches LevelDB's bytewise comparator, 0xff after 0x00 included.
class MemoryIterator final : public Iterator {
 public:
  explicit MemoryIterator(std::shared_ptr<const Map> map)
      : map_(std::move(map)), it_(map_->end()) {}

  bool Valid() const override { return it_ != map_->end(); }
  void SeekToFirst() override { it_ = map_->begin(); }
  void SeekToLast() override { it_ = map_->empty() ? map_->end() : std::prev(map_->end()); }
  void Seek(std::string_view target) override { it_ = map_->lower_bound(target); }
  void Next() override {
    KVD_ASSERT(Valid());
    ++it_;
  }
  void Prev() override {
    KVD_ASSERT(Valid());
    // Stepping back from the first key leaves the iterator invalid, as in LevelDB.
    it_ = it_ == map_->begin() ? map_->end() : std::prev(it_);
  }
  std::string_view key() const override {
    KVD_ASSERT(Valid());
    return it_->first;
  }
  std::string_view value() const override {
    KVD_ASSERT(Valid());
    return it_->second;
  }
  Status status() const override { return Status::Ok(); }

 private:
  std::shared_ptr<const Map> map_;
  Map::const_iterator it_;
};

// Sets or erases `key` in `map`; nullopt means a delete.
void ApplyToMap(Map* map, const std::string& key, const std::optional<std::string>& value) {
  if (value) {
    map->insert_or_assign(key, *value);
  } else {
    map->erase(key);
  }
}

}  // namespace

Status MemoryEngine::Get(std::string_view key, std::string* value) {
  std::lock_guard lock(mu_);
  auto it = data_.find(key);
  if (it == data_.end()) return Status::NotFound("key not found");
  *value = it->second;
  return Status::Ok();
}

Status MemoryEngine::Write(const WriteBatch& batch, bool sync) {
  std::lock_guard lock(mu_);
  ++stats_.writes;
  if (sync) ++stats_.synced_writes;
  // An injected error fails the whole batch before anything changes, so atomicity holds.
  if (write_error_) return *write_error_;
  batch.ForEach([&](const WriteBatch::Entry& entry) {
    std::optional<std::string> value;
    if (entry.kind == WriteBatch::Kind::kPut) value = std::string(entry.value);
    std::string key(entry.key);
    ApplyToMap(&data_, key, value);
    unsynced_.insert_or_assign(std::move(key), std::move(value));
  });
  if (!batch.empty()) snapshot_.reset();
  // A synced write is a barrier for every earlier write too, as an fsync of LevelDB's log
  // covers all records before it.
  if (sync) {
    for (const auto& [key, value] : unsynced_) ApplyToMap(&durable_, key, value);
    unsynced_.clear();
  }
  return Status::Ok();
}

Status MemoryEngine::Sync() {
  // An empty synced batch is exactly a sync; LevelDbEngine::Sync does the same.
  std::lock_guard lock(mu_);
  ++stats_.synced_writes;
  if (write_error_) return *write_error_;
  for (const auto& [key, value] : unsynced_) ApplyToMap(&durable_, key, value);
  unsynced_.clear();
  return Status::Ok();
}

std::unique_ptr<Iterator> MemoryEngine::NewIterator() {
  std::lock_guard lock(mu_);
  if (!snapshot_) snapshot_ = std::make_shared<const Map>(data_);
  return std::make_unique<MemoryIterator>(snapshot_);
}

EngineStats MemoryEngine::Stats() {
  std::lock_guard lock(mu_);
  EngineStats stats = stats_;
  uint64_t bytes = 0;
  for (const auto& [key, value] : data_) bytes += key.size() + value.size();
  stats.gauges["keys"] = data_.size();
  stats.gauges["approximate_bytes"] = bytes;
  stats.gauges["unsynced_keys"] = unsynced_.size();
  return stats;
}

void MemoryEngine::SimulateCrash() {
  std::lock_guard lock(mu_);
  data_ = durable_;
  unsynced_.clear();
  snapshot_.reset();
}

void MemoryEngine::InjectWriteError(std::optional<Status> error) {
  KVD_ASSERT(!error || !error->ok());
  std::lock_guard lock(mu_);
  write_error_ = std::move(error);
}

}  // namespace kvd::storage
