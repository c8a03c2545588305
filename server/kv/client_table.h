// ClientTable: request deduplication for replicated writes (Raft dissertation §6.3).
//
// A client that retries a write it got no answer for (its leader crashed, the connection
// dropped) must not have it applied twice. Clients tag writes with a client id and a
// sequence number that grows with each new write; the state machine remembers, per
// client, the last sequence it applied and that write's answer, and answers a repeat from
// memory instead of applying it again. Every replica applies the same log in the same
// order, so every replica's table is the same, and it is part of snapshots.
//
// Bounded: at most max_clients are remembered; beyond that the client whose last write
// is oldest (by log index, so every replica evicts the same one) is forgotten.
//
// On disk, in the state machine's own column:
//   'c' + u64 BE client_id  ->  u64 sequence, u64 index, response frame (wire protocol)
//
// Thread-safety: not thread-safe; one owner (the node's loop).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>

#include "common/status.h"
#include "common/wire/messages.h"
#include "server/storage/engine.h"

namespace kvd::kv {

inline constexpr char kClientColumn = 'c';

class ClientTable {
 public:
  explicit ClientTable(size_t max_clients) : max_clients_(max_clients) {}

  // Loads the table from the engine. Errors: kCorruption for a record that does not decode.
  Status Load(storage::Engine* engine);

  enum class Seen { kNew, kDuplicate, kStale };
  // Whether (client_id, sequence) was applied: kDuplicate (the last one: *response is its
  // answer), kStale (older than the last one), or kNew.
  Seen Check(uint64_t client_id, uint64_t sequence, wire::Response* response) const;
  // Records the answer to a newly applied write, staging the record (and any eviction)
  // into *batch.
  void Record(uint64_t client_id, uint64_t sequence, uint64_t index,
              const wire::Response& response, storage::WriteBatch* batch);

  size_t size() const { return clients_.size(); }

 private:
  struct Entry {
    uint64_t sequence = 0;
    uint64_t index = 0;
    std::string response;  // encoded response frame
  };
  size_t max_clients_;
  std::unordered_map<uint64_t, Entry> clients_;
  std::map<uint64_t, uint64_t> by_index_;  // index of last write -> client id
};

}  // namespace kvd::kv
