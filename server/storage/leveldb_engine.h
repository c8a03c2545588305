// LevelDbEngine: the production Engine, one LevelDB database in a directory.
//
// Open creates the directory if needed. LevelDB itself holds a lock file (LOCK) in the
// directory, so a second process opening the same directory fails with kIOError; the
// server additionally takes its own kvd.lock with a clearer message (server/app).
//
// Thread-safety: as Engine. LevelDB is internally synchronized.
#pragma once

#include <memory>
#include <string>

#include "server/storage/engine.h"

namespace leveldb {
class DB;
class Cache;
class FilterPolicy;
}  // namespace leveldb

namespace kvd::storage {

struct LevelDbOptions {
  size_t block_cache_bytes = 64u << 20;
  size_t write_buffer_bytes = 16u << 20;
  bool create_if_missing = true;
  bool paranoid_checks = true;
};

class LevelDbEngine final : public Engine {
 public:
  // Opens (or creates) the database in `dir`.
  // Errors: kIOError (missing permissions, locked by another process, disk full),
  // kCorruption (damaged files), each naming the directory.
  static Result<std::unique_ptr<LevelDbEngine>> Open(const std::string& dir,
                                                     const LevelDbOptions& options);
  ~LevelDbEngine() override;

  Status Get(std::string_view key, std::string* value) override;
  Status Write(const WriteBatch& batch, bool sync) override;
  Status Sync() override;
  std::unique_ptr<Iterator> NewIterator() override;
  EngineStats Stats() override;
  std::string_view Name() const override { return "leveldb"; }

 private:
  LevelDbEngine() = default;
  // Estimated on-disk bytes of the table files covering every live key.
  uint64_t ApproximateBytes();

  std::unique_ptr<leveldb::Cache> cache_;
  std::unique_ptr<const leveldb::FilterPolicy> filter_;
  std::unique_ptr<leveldb::DB> db_;
  std::string dir_;
  // Counters are updated from whichever thread writes; relaxed atomics are enough.
  struct Counters;
  std::unique_ptr<Counters> counters_;
};

}  // namespace kvd::storage
