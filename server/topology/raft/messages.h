// Raft peer messages and log entries, as plain values, with their binary codec.
//
// Every message between two kvd nodes of a leader_follower cluster is one of the bodies
// below inside a Message. The node shell carries the encoded bytes in a peer frame; the
// simulator encodes and decodes every message it delivers, so simulations exercise this
// codec too. Decoding never trusts a length: every count and size is bounded by the limits
// below, and a malformed message is a Status, never an assertion.
//
// Message layout (integers big-endian; `bytes` = u32 length + raw):
//
//   offset  size  field
//   0       1     format     kMessageFormat (1)
//   1       1     type       MessageType
//   2       8     from       sender node id
//   10      8     to         receiver node id
//   18      8     term       sender's current term
//   26      ...   body       per type, below
//
//   kVote / kPreVote:        u64 last_log_index, u64 last_log_term, u8 flags (bit0 = force:
//                            leadership transfer or manual promotion, skips the lease check)
//   kVoteResponse /
//   kPreVoteResponse:        u8 granted
//   kAppend:                 u64 prev_index, u64 prev_term, u64 commit, u32 count,
//                            count x entry
//   kAppendResponse:         u8 flags (bit0 success, bit1 needs_snapshot), u64 index
//                            (success: the follower's match; failure: the rejected
//                            prev_index), u64 hint_index, u64 hint_term
//   kHeartbeat:              u64 commit, u64 seq
//   kHeartbeatResponse:      u64 seq, u64 last_index
//   kSnapshot:               u64 index, u64 snapshot_term, membership, u64 offset,
//                            u8 done, bytes data
//   kSnapshotResponse:       u64 index, u64 next_offset, u8 flags (bit0 done, bit1 reject)
//   kTimeoutNow:             (empty)
//   kForward:                u64 forward_id, bytes request (a client request frame)
//   kForwardResponse:        u64 forward_id, bytes response (a client response frame)
//
//   entry:       u64 index, u64 term, u8 type (EntryType), bytes data
//   membership:  u32 voters, voters x u64, u32 learners, learners x u64,
//                u32 addresses, addresses x (u64 id, bytes client, bytes peer)
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/status.h"

namespace kvd::raft {

inline constexpr uint8_t kMessageFormat = 1;
// Limits on decoded messages (a peer is trusted no more than a client).
inline constexpr uint32_t kMaxEntriesPerMessage = 4096;
inline constexpr uint32_t kMaxEntryBytes = 64u << 20;
inline constexpr uint32_t kMaxMembers = 1024;
inline constexpr uint32_t kMaxSnapshotChunkBytes = 8u << 20;

enum class EntryType : uint8_t {
  kNoop = 1,     // appended by a new leader to commit earlier terms (Raft §5.4.2)
  kCommand = 2,  // opaque state machine command (server/topology/raft/command.h)
  kConfig = 3,   // a Membership: takes effect when appended (Raft dissertation §4.1)
};

struct Entry {
  uint64_t index = 0;
  uint64_t term = 0;
  EntryType type = EntryType::kNoop;
  std::string data;
  bool operator==(const Entry&) const = default;
};

// Where a member is reached: by clients (redirect hints) and by other nodes.
struct MemberAddress {
  std::string client;
  std::string peer;
  bool operator==(const MemberAddress&) const = default;
};
inline constexpr uint32_t kMaxAddressBytes = 256;

// The cluster configuration: voters elect and count toward commitment; learners only
// receive the log. Both lists are sorted and disjoint. `addresses` travel with the
// configuration so that every node learns how to reach a member added at run time; the
// consensus rules ignore them.
struct Membership {
  std::vector<uint64_t> voters;
  std::vector<uint64_t> learners;
  std::map<uint64_t, MemberAddress> addresses;

  bool IsVoter(uint64_t id) const;
  bool IsLearner(uint64_t id) const;
  bool Contains(uint64_t id) const { return IsVoter(id) || IsLearner(id); }
  // "voters=[1,2,3] learners=[4]"
  std::string ToString() const;
  bool operator==(const Membership&) const = default;
};

enum class MessageType : uint8_t {
  kVote = 1,
  kVoteResponse = 2,
  kPreVote = 3,
  kPreVoteResponse = 4,
  kAppend = 5,
  kAppendResponse = 6,
  kHeartbeat = 7,
  kHeartbeatResponse = 8,
  kSnapshot = 9,
  kSnapshotResponse = 10,
  kTimeoutNow = 11,
  kForward = 12,          // a follower hands a client's write to the leader
  kForwardResponse = 13,  // the leader's answer to it
};
const char* MessageTypeName(MessageType t);

struct VoteRequest {
  uint64_t last_log_index = 0;
  uint64_t last_log_term = 0;
  bool force = false;  // skip the receiver's leader-lease check (transfer, promote)
  bool operator==(const VoteRequest&) const = default;
};
struct VoteResponse {
  bool granted = false;
  bool operator==(const VoteResponse&) const = default;
};
struct AppendRequest {
  uint64_t prev_index = 0;
  uint64_t prev_term = 0;
  uint64_t commit = 0;
  std::vector<Entry> entries;
  bool operator==(const AppendRequest&) const = default;
};
struct AppendResponse {
  bool success = false;
  bool needs_snapshot = false;  // the follower's state machine diverged (lossy modes)
  uint64_t index = 0;           // success: match index; failure: the rejected prev_index
  // Failure hint for fast back-off: the follower has no entry at hint_index with a term
  // greater than hint_term (hint_term 0: its log simply ends before hint_index).
  uint64_t hint_index = 0;
  uint64_t hint_term = 0;
  bool operator==(const AppendResponse&) const = default;
};
struct Heartbeat {
  uint64_t commit = 0;  // min(leader commit, receiver's match): safe for the receiver
  uint64_t seq = 0;     // heartbeat round, echoed for ReadIndex and lease confirmation
  bool operator==(const Heartbeat&) const = default;
};
struct HeartbeatResponse {
  uint64_t seq = 0;
  uint64_t last_index = 0;  // the follower's last log index (lets the leader notice a
                            // follower that lost its log, even in an idle cluster)
  bool operator==(const HeartbeatResponse&) const = default;
};
struct SnapshotChunk {
  uint64_t index = 0;          // last log index the snapshot covers
  uint64_t snapshot_term = 0;  // term of that entry
  Membership membership;       // configuration as of `index`
  uint64_t offset = 0;         // byte offset of data in the snapshot stream
  bool done = false;           // the last chunk
  std::string data;
  bool operator==(const SnapshotChunk&) const = default;
};
struct SnapshotResponse {
  uint64_t index = 0;
  uint64_t next_offset = 0;  // bytes received so far, in order
  bool done = false;         // installed
  bool reject = false;       // out of order or stale: the sender must restart
  bool operator==(const SnapshotResponse&) const = default;
};
struct TimeoutNow {
  bool operator==(const TimeoutNow&) const = default;
};
// Forwarded client traffic (raft.follower_writes: forward). Not Raft: the adapter
// (raft_node.h) handles these; the consensus core ignores them.
struct Forward {
  uint64_t forward_id = 0;
  std::string frame;  // a complete client protocol frame
  bool operator==(const Forward&) const = default;
};

using MessageBody =
    std::variant<VoteRequest, VoteResponse, AppendRequest, AppendResponse, Heartbeat,
                 HeartbeatResponse, SnapshotChunk, SnapshotResponse, TimeoutNow, Forward>;

struct Message {
  MessageType type = MessageType::kHeartbeat;
  uint64_t from = 0;
  uint64_t to = 0;
  uint64_t term = 0;
  MessageBody body;
  bool operator==(const Message&) const = default;
};

// True for kPreVote and kPreVoteResponse, which carry a proposed term, not the sender's.
inline bool IsPreVote(MessageType t) {
  return t == MessageType::kPreVote || t == MessageType::kPreVoteResponse;
}

std::string EncodeMessage(const Message& m);
// Errors: kProtocolError naming the field that is truncated, oversized or invalid.
Result<Message> DecodeMessage(std::string_view bytes);

void EncodeMembership(const Membership& m, std::string* out);
// Errors: kCorruption / kProtocolError for malformed input.
Result<Membership> DecodeMembership(std::string_view bytes);

// Entry encoding, also used for the on-disk log.
void EncodeEntry(const Entry& e, std::string* out);
Result<Entry> DecodeEntry(std::string_view bytes);

// One-line description for logs and traces: "append 1->2 t3 prev=4/2 commit=4 n=2".
std::string Describe(const Message& m);

}  // namespace kvd::raft
