// ClientTable: request deduplication for replicated writes (Raft dissertation §6.3).
//
// A client that retries a write it got no answer for (its leader crashed, the connection
// dropped) must not have it applied twice. Clients tag writes with a client id and a
// sequence number that grows with each new write; the state machine remembers, per
// client, the answers to its last kWindow applied writes, and answers a repeat of one of
// them from memory instead of applying it again. A pipelining client has several writes
// in flight and may retry them in any order after a failover, so one remembered answer per
// client would not do. Every replica applies the same log in the same order, so every
// replica's table is the same, and it is part of snapshots.
//
// Bounds: kWindow answers per client; beyond that the oldest is forgotten, and a retry of
// a sequence at or below the forgotten ones is reported kStale (its outcome is unknown:
// it may have been applied). At most max_clients clients are remembered; beyond that the
// client whose last write is oldest (by log index, so every replica picks the same one) is
// forgotten entirely (a retry from it would be applied again, so keep max_clients above
// the number of clients that write during one failover).
//
// On disk, in the state machine's own column:
//   'c' + u64 BE client_id + u64 BE sequence  ->  u64 index, response frame (wire protocol)
// A client's answers are forgotten only once it has kWindow of them, and then always the
// oldest, so the highest forgotten sequence is not stored: a client with kWindow answers
// is taken to have forgotten everything below its oldest one (a skipped sequence below it
// is then reported kStale rather than kNew: unknown, never applied twice).
//
// Thread-safety: not thread-safe; one owner (the node's loop).
#pragma once

#include <cstdint>
#include <deque>
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
  static constexpr size_t kWindow = 32;

  explicit ClientTable(size_t max_clients) : max_clients_(max_clients) {}

  // Loads the table from the engine. Errors: kCorruption for a record that does not decode.
  Status Load(storage::Engine* engine);

  enum class Seen { kNew, kDuplicate, kStale };
  // Whether (client_id, sequence) was applied: kDuplicate (*response is its answer),
  // kStale (too old to know), or kNew.
  Seen Check(uint64_t client_id, uint64_t sequence, wire::Response* response) const;
  // Records the answer to a newly applied write, staging the records (and evictions) into
  // *batch.
  void Record(uint64_t client_id, uint64_t sequence, uint64_t index,
              const wire::Response& response, storage::WriteBatch* batch);

  size_t size() const { return clients_.size(); }

 private:
  struct Answer {
    uint64_t sequence = 0;
    uint64_t index = 0;
    std::string frame;  // encoded response
  };
  struct Client {
    std::deque<Answer> answers;  // by sequence, ascending; at most kWindow
    uint64_t last_index = 0;
    // Everything at or below this was forgotten (or is below a full window).
    uint64_t ForgottenThrough() const {
      return answers.size() == kWindow ? answers.front().sequence - 1 : 0;
    }
  };
  void ForgetClient(uint64_t client_id, storage::WriteBatch* batch);

  size_t max_clients_;
  std::unordered_map<uint64_t, Client> clients_;
  std::map<uint64_t, uint64_t> by_index_;  // index of a client's last write -> client id
};

}  // namespace kvd::kv
