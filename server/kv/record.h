// On-disk layout of the kv state machine inside one storage engine.
//
// Key space (the first byte is the column):
//
//   key                               value
//   'd' + user_key                    record (below)
//   'm' + "revision"                  u64 BE: the store-wide revision of the last write
//   'm' + "keys"                      u64 BE: number of stored keys (expired ones count
//                                     until the sweep removes them)
//   'x' + u64 BE expires_at_ms + key  empty: TTL index, scanned by the expiry sweep
//   'g' + key                         empty: a replicated key holding tombstones, scanned
//                                     by tombstone collection (kv_replicated.cc)
//
// Other columns of the same engine, owned elsewhere: 'c' the client table (dedup,
// client_table.h), 'r' the Raft log and state (topology/raft/raft_storage.h), 'l' the
// multi_leader change log and progress (topology/multi_leader/replicator.h).
//
// Record (the value of a 'd' key):
//
//   offset  size  field
//   0       1     format          1
//   1       8     version         u64 BE: revision of the write that produced it (>= 1)
//   9       8     expires_at_ms   u64 BE: unix ms; 0 = never
//   17      ...   value           the rest, raw
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace kvd::kv {

inline constexpr char kDataColumn = 'd';
inline constexpr char kMetaColumn = 'm';
inline constexpr char kExpiryColumn = 'x';
inline constexpr char kTombstoneColumn = 'g';
inline constexpr std::string_view kRevisionKey = "mrevision";
inline constexpr std::string_view kKeyCountKey = "mkeys";
inline constexpr uint8_t kRecordFormat = 1;
inline constexpr size_t kRecordHeaderBytes = 17;

struct Record {
  uint64_t version = 0;
  uint64_t expires_at_ms = 0;
  std::string value;

  bool ExpiredAt(uint64_t now_ms) const { return expires_at_ms != 0 && expires_at_ms <= now_ms; }
};

std::string DataKey(std::string_view user_key);
std::string ExpiryKey(uint64_t expires_at_ms, std::string_view user_key);
std::string EncodeRecord(const Record& record);
// The first kRecordHeaderBytes of EncodeRecord(record), into out.
void EncodeRecordHeader(const Record& record, char out[kRecordHeaderBytes]);
// Errors: kCorruption naming the key if the bytes are not a valid record.
Result<Record> DecodeRecord(std::string_view user_key, std::string_view bytes);
// Splits an expiry index key. Returns false if it is malformed.
[[nodiscard]] bool ParseExpiryKey(std::string_view key, uint64_t* expires_at_ms,
                                  std::string_view* user_key);

}  // namespace kvd::kv
