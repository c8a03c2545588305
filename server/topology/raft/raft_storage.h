// RaftStorage: the on-disk layout of a node's Raft state, and its recovery.
//
// The Raft core's durable state lives in the node's one storage engine, under its own
// column, next to the kv state machine's columns (server/kv/record.h):
//
//   key                      value
//   'r' "hs"                 u64 term, u64 vote                     hard state
//   'r' "base"               u64 index, u64 term, membership        the log's base: every
//                                                                   entry <= index is
//                                                                   compacted into the
//                                                                   state machine
//   'r' "e" + u64 BE index   entry (messages.h: EncodeEntry)        one log entry
//
// The state machine records, with every batch it applies, the log position it has
// reached and the configuration as of that position (server/node: 'm' "applied" and
// 'm' "membership"), so that a snapshot of the state machine is self-describing.
//
// Writes: RaftStorageWriter turns each RaftOutput's log changes into engine ops, in an
// order that is safe inside one atomic batch (truncation, appends, compaction, hard
// state). Reads: Recover builds the core's RecoveredState from the stored keys.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "server/topology/node.h"
#include "server/topology/raft/raft.h"

namespace kvd::raft {

inline constexpr char kRaftColumn = 'r';
inline constexpr std::string_view kHardStateKey = "rhs";
inline constexpr std::string_view kLogBaseKey = "rbase";
inline constexpr std::string_view kEntryKeyPrefix = "re";

std::string EntryKey(uint64_t index);

// What Recover found, plus the ops that repair a crash between a snapshot install and
// the record of the log's new base (empty when nothing needs repair).
struct Recovery {
  RecoveredState state;
  std::vector<topology::StorageOp> repair;
};

// Errors: kCorruption naming the key that does not decode, a gap in the log, or a state
// machine behind the log's base.
// `bootstrap` is the configuration of a node with no stored base: the initial voters.
Result<Recovery> Recover(const topology::StoredState& stored, const Membership& bootstrap);

// Tracks which log indexes are stored, to delete the right keys.
class RaftStorageWriter {
 public:
  RaftStorageWriter(uint64_t base_index, uint64_t last_index)
      : base_(base_index), last_(last_index) {}

  // Appends the engine ops for `out`'s storage part to *ops.
  void Encode(const RaftOutput& out, std::vector<topology::StorageOp>* ops);

 private:
  uint64_t base_;  // stored log base
  uint64_t last_;  // highest stored entry (base_ when none)
};

}  // namespace kvd::raft
