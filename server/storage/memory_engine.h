// MemoryEngine: an Engine kept in a std::map, for unit tests and the simulator.
//
// Nothing survives the process. To let tests model crashes, the engine tracks which
// writes have been synced: SimulateCrash() discards every write since the last synced
// Write or Sync, as a machine losing its page cache would (cf. LevelDB's
// fault_injection_test). InjectWriteError makes later writes fail, to model a full disk.
//
// Thread-safety: all methods may be called concurrently (one internal mutex). Iterators
// copy the map at creation, so they are snapshots.
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

  // Drops every write not yet made durable by a synced Write or Sync.
  void SimulateCrash();
  // While set, Write and Sync fail with this status (e.g. IOError "no space left").
  void InjectWriteError(std::optional<Status> error);

 private:
  std::mutex mu_;
  std::map<std::string, std::string, std::less<>> data_;     // what readers see
  std::map<std::string, std::string, std::less<>> durable_;  // what survives a crash
  std::optional<Status> write_error_;
  EngineStats stats_;
};

}  // namespace kvd::storage
