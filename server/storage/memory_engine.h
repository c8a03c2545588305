// MemoryEngine: an Engine kept in a std::map, for unit tests and the simulator.
//
// Nothing survives the process. To let tests model crashes, the engine tracks which
// writes have been synced: SimulateCrash() discards every write since the last synced
// Write or Sync, as a machine losing its page cache would (cf. LevelDB's
// fault_injection_test). InjectWriteError makes later writes fail, to model a full disk.
//
// Thread-safety: all methods may be called concurrently (one internal mutex). Iterators
// are snapshots: they share an immutable copy of the map, made at most once between two
// writes, so creating many iterators without intervening writes costs one copy.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "server/storage/engine.h"

namespace kvd::storage {

class MemoryEngine final : public Engine {
 public:
  MemoryEngine() = default;

  Status Get(std::string_view key, std::string* value) override;
  Status Write(const WriteBatch& batch, bool sync) override;
  Status Sync() override;
  std::unique_ptr<Iterator> NewIterator() override;
  EngineStats Stats() override;
  std::string_view Name() const override { return "memory"; }

  // Drops every write not yet made durable by a synced Write or Sync: readers see the
  // durable state again. Iterators created before the crash keep their snapshot. An
  // injected write error stays in place.
  void SimulateCrash();
  // While set, Write and Sync fail with this status (e.g. IOError "no space left") and
  // change nothing. nullopt clears it.
  // REQUIRES: error is nullopt or a non-OK status.
  void InjectWriteError(std::optional<Status> error);

 private:
  using Map = std::map<std::string, std::string, std::less<>>;

  std::mutex mu_;
  Map data_;     // what readers see
  Map durable_;  // what survives a crash
  // Writes since the last sync, by key: the latest value, or nullopt for a delete.
  // Syncing folds them into durable_, so a sync costs O(unsynced keys), not O(all keys).
  std::map<std::string, std::optional<std::string>, std::less<>> unsynced_;
  // The copy of data_ that iterators share; reset whenever data_ changes.
  std::shared_ptr<const Map> snapshot_;
  std::optional<Status> write_error_;
  EngineStats stats_;
};

}  // namespace kvd::storage
