// KvStore: the key-value state machine. It applies data requests (GET, PUT, DELETE, CAS,
// BATCH, SCAN) to a storage Engine, deterministically: the same engine contents, requests
// and `now_ms` values always give the same responses and writes.
//
// Group commit. The node shell applies requests in groups and makes each group's writes
// durable with one engine Write (one fsync in `always` mode) while it goes on applying the
// next group. KvStore therefore never writes to the engine itself: Apply appends the
// writes to the caller's WriteBatch and keeps them in an in-memory overlay, tagged with the
// group number, so later requests read their own pipeline's writes. The shell must:
//   0. call FinishGroup(g) after the group's last request, before writing its batch;
//   1. write each group's batch to the engine in group order;
//   2. call OnDurable(g) once group g's batch is written (or synced, as its mode demands),
//      which drops g's overlay entries;
//   3. hold every response of group g (reads included) until group g is written, because a
//      read may have seen a write of that or an earlier group;
//   4. on a failed write, fail the responses of that group and of every later group
//      already applied, then call Rollback(): the overlay is dropped and the revision
//      returns to the last durable one.
//
// Versions. Every successful write request increments the store-wide revision by one; the
// key's version is the revision that last wrote it (all writes of a BATCH share one). The
// revision is persisted with every write, so it survives restarts. Expired keys (TTL)
// behave as absent everywhere; SweepExpired removes them physically.
//
// Thread-safety: not thread-safe; one owner thread (the node shell's loop). The engine may
// concurrently be written by the shell's storage thread, which is safe by Engine's contract.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/wire/messages.h"
#include "server/kv/record.h"
#include "server/kv/replicated_state.h"
#include "server/kv/row_cache.h"
#include "server/storage/engine.h"

namespace kvd::kv {

struct KvOptions {
  wire::Limits limits;
  uint32_t max_batch_bytes = 4u << 20;  // sum of key and value sizes in one BATCH
  size_t row_cache_bytes = 0;           // RowCache capacity; 0 disables it
};

class KvStore {
 public:
  // REQUIRES: engine outlives the store.
  KvStore(storage::Engine* engine, KvOptions options);

  // Loads the persisted revision. Errors: from the engine (kIOError, kCorruption).
  Status Open();
  // The engine's contents were replaced underneath (a snapshot was installed): drops the
  // row cache and re-reads the counters. REQUIRES: no group in flight.
  Status Reload();

  // Applies one data request at time now_ms. Writes are appended to *batch and to the
  // overlay under `group`. Returns the complete response (request id, opcode, status,
  // session token, body). Never fails as a C++ call: errors are in the response.
  // REQUIRES: request is a data request already checked by wire::ValidateRequest;
  //           group >= every group passed before.
  wire::Response Apply(wire::Request request, uint64_t now_ms, uint64_t group,
                       storage::WriteBatch* batch);

  // Examines up to max_keys TTL index entries that are due by now_ms, deleting the keys
  // that expired and stale index entries. Returns the number of keys deleted.
  size_t SweepExpired(uint64_t now_ms, size_t max_keys, uint64_t group,
                      storage::WriteBatch* batch);

  // Ends group `group`: appends the revision and key count to *batch once, if the group
  // changed them (per group rather than per write: a group of N writes costs one counter
  // update, not N). REQUIRES: called once per group, after its last Apply/SweepExpired
  // and before its batch is written.
  void FinishGroup(uint64_t group, storage::WriteBatch* batch);

  // Group `group` (and every earlier one) is now in the engine.
  void OnDurable(uint64_t group);
  // Every write not yet reported durable failed: forget them.
  void Rollback();

  uint64_t revision() const { return revision_; }
  uint64_t durable_revision() const { return durable_revision_; }
  // Keys stored, counting expired keys the sweep has not removed yet.
  uint64_t key_count() const { return key_count_; }
  size_t overlay_keys() const { return overlay_.size(); }
  const RowCache& row_cache() const { return cache_; }

  // The session token for a revision: its 8 big-endian bytes.
  static std::string SessionToken(uint64_t revision);

  // ---- multi-writer topologies (multi_leader): replicated key states ----
  // A key then holds a KeyState (replicated_state.h), stored as a record's value.

  struct ChangeResult {
    wire::Response response;  // for a local write: the client's answer
    bool refused = false;     // local siblings put over max_siblings: nothing was written
    Outcome outcome;
  };
  // Applies a change to its key's state. `request` is the client's write for a local
  // change (its answer is built in ChangeResult::response), nullptr for a replicated one.
  // A local siblings put that would leave the key with more than max_siblings siblings is
  // refused (kConflict) and writes nothing; replicated changes are never refused.
  ChangeResult ApplyChange(const wire::Request* request, const Change& change,
                           uint32_t max_siblings, uint64_t group, storage::WriteBatch* batch);
  // Serves GET, GETS, SMEMBERS and INCR 0 from replicated key states; `resolver` is the key's
  // resolver by configuration (a stored state keeps the one it was written with).
  wire::Response ReadReplicated(const wire::Request& request, Resolver resolver);
  // OK if a reply listing `count` items of `bytes` in total fits in one frame.
  Status FitsFrame(std::string_view key, size_t count, std::string_view what, size_t bytes) const;
  // Tombstone garbage collection: examines up to max_keys keys of the tombstone index (from
  // where the last call stopped, wrapping around) and drops the deletion history `stable`
  // makes redundant and `grace_ms` allows (KeyState::CollectTombstones). Like expiry, this
  // is not a client write: no revision is used. Returns the keys and set elements dropped.
  size_t CollectTombstones(const Stability& stable, uint64_t now_ms, uint64_t grace_ms,
                           size_t max_keys, uint64_t group, storage::WriteBatch* batch);
  // A state transfer: merges every replicated key state of `data` (records
  // u32 length + DataKey(key), u32 length + EncodeRecord, as the sender's engine holds
  // them) into this store's (KeyState::Merge), writing the result to the engine in one
  // synced batch. The caller then calls Reload(). REQUIRES: no group in flight.
  // Errors: kCorruption naming what did not decode (nothing is written then); from the
  // engine.
  Status MergeReplicated(std::string_view data);
  // The replicated state of a key (nullopt: never written). Errors: from the engine, or
  // kCorruption.
  Result<std::optional<KeyState>> LookupReplicated(std::string_view key);
  // dynamo: stores `state` (an encoded KeyState the caller merged) as key's value, in
  // *batch and the overlay under `group`, as ApplyChange does for a change. An empty
  // `state` deletes the key (a tombstone the dynamo core collected).
  void StoreReplicated(const std::string& key, std::string state, uint64_t group,
                       storage::WriteBatch* batch);
  // dynamo: every replicated key and its encoded state in the engine (not the overlay), in
  // key order; stops at the first error and returns it.
  Status ForEachReplicated(
      const std::function<void(const std::string& key, const std::string& state)>& fn);

 private:
  struct OverlayEntry {
    std::optional<Record> record;  // nullopt: deleted
    uint64_t group = 0;
  };
  using Overlay = std::map<std::string, OverlayEntry, std::less<>>;
  struct GroupMark {
    uint64_t group;
    uint64_t revision;   // revision_ after the group's last write
    uint64_t key_count;  // key_count_ after the group's last write
    std::vector<Overlay::iterator> entries;  // overlay entries it wrote, once each
  };
  // The newest state of a key as this store sees it, ignoring expiry.
  // nullopt: absent. Errors: from the engine.
  Result<std::optional<Record>> Lookup(std::string_view key);
  // Like Lookup, but an expired record is absent.
  Result<std::optional<Record>> LookupLive(std::string_view key, uint64_t now_ms);

  // Stages a write of key (record or deletion) into batch and overlay.
  void StageWrite(const std::string& key, const std::optional<Record>& old_record,
                  std::optional<Record> new_record, uint64_t group, storage::WriteBatch* batch);
  // Bumps the revision and persists it into batch; returns the new revision.
  uint64_t NextRevision(uint64_t group, storage::WriteBatch* batch);
  GroupMark& MarkFor(uint64_t group);

  wire::Response ApplyGet(const wire::GetRequest& r, uint64_t now_ms, wire::Response resp);
  wire::Response ApplyPut(wire::PutRequest& r, uint64_t now_ms, uint64_t group,
                          storage::WriteBatch* batch, wire::Response resp);
  wire::Response ApplyDelete(const wire::DeleteRequest& r, uint64_t now_ms, uint64_t group,
                             storage::WriteBatch* batch, wire::Response resp);
  wire::Response ApplyCas(wire::CasRequest& r, uint64_t now_ms, uint64_t group,
                          storage::WriteBatch* batch, wire::Response resp);
  wire::Response ApplyBatch(const wire::BatchRequest& r, uint64_t now_ms, uint64_t group,
                            storage::WriteBatch* batch, wire::Response resp);
  wire::Response ApplyScan(const wire::ScanRequest& r, uint64_t now_ms, wire::Response resp);

  storage::Engine* engine_;
  KvOptions options_;
  uint64_t revision_ = 0;
  uint64_t durable_revision_ = 0;
  uint64_t key_count_ = 0;
  uint64_t durable_key_count_ = 0;
  // The counter values already staged in some group's batch.
  uint64_t persisted_revision_ = 0;
  uint64_t persisted_key_count_ = 0;
  Overlay overlay_;
  std::deque<GroupMark> groups_;  // groups with writes not yet durable, oldest first
  RowCache cache_;                // mirrors durable engine state only
  std::string collect_cursor_;    // tombstone index key the next collection starts after
};

// Expiry time for a TTL given at now_ms (0 = no TTL), saturating instead of overflowing.
uint64_t ExpiresAt(uint64_t now_ms, uint64_t ttl_ms);

// Replicated key states (multi_leader, dynamo): the answer to a GET, GETS, SMEMBERS or
// INCR 0 from the key's state (nullopt: never written); `resolver` is the key's resolver
// by configuration (a stored state keeps the one it was written with) and
// `resolvers_field` the configuration field that sets it, named in errors.
wire::Response ReplicatedReadResponse(const wire::Request& request, Resolver resolver,
                                      const std::optional<KeyState>& state,
                                      uint32_t max_frame_bytes, std::string_view resolvers_field);
// The key a GET, GETS, SMEMBERS or INCR request names.
const std::string& ReplicatedReadKey(const wire::Request& request);
// OK if a reply listing `count` items of `bytes` in total fits in a frame of
// max_frame_bytes (0: no limit); else kInvalidArgument naming the key.
Status FitsInFrame(uint32_t max_frame_bytes, std::string_view key, size_t count,
                   std::string_view what, size_t bytes);

}  // namespace kvd::kv
