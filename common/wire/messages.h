// Client protocol messages (wire protocol v1) as plain C++ values.
//
// These structs are the vocabulary shared by the client library, the server's network
// shell, the topology cores and the kv state machine: a decoded request is applied as is,
// and a response is built directly in its wire shape. Their byte layout is defined in
// codec.h and specified, with test vectors, in docs/PROTOCOL.md.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "common/status.h"

namespace kvd::wire {

// Per-request read consistency. Each topology accepts the levels it can honour.
enum class Consistency : uint8_t {
  kDefault = 0,       // the topology's default
  kLinearizable = 1,  // reads see every write acknowledged before they started
  kLeader = 2,        // served from the leader's local state
  kFollower = 3,      // any replica; may be stale
  kSession = 4,       // read-your-writes and monotonic reads via the session token
};
inline constexpr uint8_t kMaxConsistency = 4;

// Per-request durability. The effective durability of a write is the stronger of the
// server's configured mode and the request's.
enum class Durability : uint8_t {
  kDefault = 0,   // the server's configured mode
  kNone = 1,      // acknowledged once in the OS page cache
  kPeriodic = 2,  // as configured: fsync every storage.sync_interval_ms
  kAlways = 3,    // fsync before the acknowledgement
};
inline constexpr uint8_t kMaxDurability = 3;

// Options carried by every data request (tag-length-value on the wire).
// The symbolic values of the read_quorum and write_quorum options (the numbers 1..16 are
// replica counts). Equal to config::kQuorumMajority and config::kQuorumAll.
inline constexpr uint8_t kQuorumOptionMajority = 254;
inline constexpr uint8_t kQuorumOptionAll = 255;

struct RequestOptions {
  Consistency consistency = Consistency::kDefault;
  Durability durability = Durability::kDefault;
  std::string session_token;  // empty: none presented
  uint32_t timeout_ms = 0;    // 0: server default
  // Request deduplication for writes (replicated topologies): a retried write carrying
  // the same (client_id, sequence) is applied at most once. 0: not deduplicated.
  uint64_t client_id = 0;
  uint64_t sequence = 0;
  // Follower reads: the most staleness the client accepts, in ms; 0: no bound.
  uint32_t max_staleness_ms = 0;
  // multi_leader siblings keys: the causal context a GETS returned, presented by a PUT or
  // DELETE to replace (resolve) the siblings that read saw. Empty: none.
  std::string context;
  // dynamo: how many replicas this read (read_quorum) or write (write_quorum) waits for:
  // 1..16, kQuorumOptionMajority or kQuorumOptionAll; 0: the node's configured default.
  uint8_t read_quorum = 0;
  uint8_t write_quorum = 0;

  bool operator==(const RequestOptions&) const = default;
};

enum class Opcode : uint8_t {
  kHello = 0x01,
  kPing = 0x02,
  kStatus = 0x03,
  kGet = 0x10,
  kPut = 0x11,
  kDelete = 0x12,
  kCas = 0x13,
  kBatch = 0x14,
  kScan = 0x15,
  // multi_leader: replicated data types.
  kGets = 0x16,      // every sibling of a key, with the causal context
  kIncr = 0x17,      // add to a counter
  kSadd = 0x18,      // add an element to a set
  kSrem = 0x19,      // remove an element from a set
  kSmembers = 0x1A,  // the elements of a set
  kAdmin = 0x20,
};

// True for opcodes this build knows.
bool IsKnownOpcode(uint8_t op);
// Upper-case name ("GET"), or "UNKNOWN".
const char* OpcodeName(Opcode op);
// True for GET, PUT, DELETE, CAS, BATCH, SCAN, GETS, INCR, SADD, SREM, SMEMBERS: requests
// that carry RequestOptions and whose OK responses carry a session token.
bool IsDataOpcode(Opcode op);

struct HelloRequest {
  uint16_t min_version = 1;
  uint16_t max_version = 1;
  std::string client_name;
  bool operator==(const HelloRequest&) const = default;
};
struct PingRequest {
  std::string payload;
  bool operator==(const PingRequest&) const = default;
};
struct StatusRequest {
  bool operator==(const StatusRequest&) const = default;
};
struct GetRequest {
  std::string key;
  bool operator==(const GetRequest&) const = default;
};
struct PutRequest {
  std::string key;
  std::string value;
  uint64_t ttl_ms = 0;  // 0: never expires
  bool operator==(const PutRequest&) const = default;
};
struct DeleteRequest {
  std::string key;
  bool operator==(const DeleteRequest&) const = default;
};

enum class CasKind : uint8_t {
  kPutIfVersion = 1,     // put only if the key's current version == expected_version
  kPutIfAbsent = 2,      // put only if the key does not exist (expected_version must be 0)
  kDeleteIfVersion = 3,  // delete only if the key's current version == expected_version
};
struct CasRequest {
  CasKind kind = CasKind::kPutIfVersion;
  std::string key;
  uint64_t expected_version = 0;
  std::string value;  // must be empty for kDeleteIfVersion
  uint64_t ttl_ms = 0;
  bool operator==(const CasRequest&) const = default;
};

enum class BatchOpType : uint8_t {
  kCheck = 1,   // condition: the key's version must equal expected_version (0 = absent)
  kGet = 2,
  kPut = 3,
  kDelete = 4,
};
struct BatchOp {
  BatchOpType type = BatchOpType::kGet;
  std::string key;
  uint64_t expected_version = 0;  // kCheck only
  std::string value;              // kPut only
  uint64_t ttl_ms = 0;            // kPut only
  bool operator==(const BatchOp&) const = default;
};
// Ops run in order, all or nothing: if any kCheck fails, no op has any effect.
struct BatchRequest {
  std::vector<BatchOp> ops;
  bool operator==(const BatchRequest&) const = default;
};

// Scan keys in [start, end) that also begin with prefix (each bound optional: empty).
struct ScanRequest {
  std::string prefix;
  std::string start;
  std::string end;
  uint32_t limit = 0;  // 0: the server's limits.max_scan_limit
  bool reverse = false;
  bool keys_only = false;
  std::string continuation;  // empty: first page
  bool operator==(const ScanRequest&) const = default;
};
inline constexpr uint8_t kScanFlagReverse = 0x01;
inline constexpr uint8_t kScanFlagKeysOnly = 0x02;

// multi_leader: read every sibling of a key (siblings keys; an lww key has at most one).
struct GetsRequest {
  std::string key;
  bool operator==(const GetsRequest&) const = default;
};
// multi_leader counter keys: add `amount` (negative: subtract; 0: read the value, a read
// that is not replicated).
struct IncrRequest {
  std::string key;
  int64_t amount = 0;
  bool operator==(const IncrRequest&) const = default;
};
// multi_leader set keys.
struct SaddRequest {
  std::string key;
  std::string element;
  bool operator==(const SaddRequest&) const = default;
};
struct SremRequest {
  std::string key;
  std::string element;
  bool operator==(const SremRequest&) const = default;
};
struct SmembersRequest {
  std::string key;
  bool operator==(const SmembersRequest&) const = default;
};

// Cluster administration (replicated topologies). One opcode, ADMIN, with an action.
enum class AdminAction : uint8_t {
  kPromote = 1,         // this node starts an election now (manual failover)
  kTransferLeader = 2,  // the leader hands leadership to node_id (0: the most caught up)
  kAddLearner = 3,      // add node_id as a non-voting learner at the given addresses
  kPromoteLearner = 4,  // make learner node_id a voter
  kRemoveMember = 5,    // remove node_id (voter or learner)
  kCompact = 6,         // compact the Raft log up to the applied index now
  // dynamo rings (add_learner joins a node to the ring, remove_member decommissions one):
  kPauseStreams = 7,    // pause the streaming of the ring change under way
  kResumeStreams = 8,   // resume it
  kRepair = 9,          // compare every range this node replicates with each other replica now
  kRepairDryRun = 10,   // the same, listing the ranges that differ without changing anything
};
inline constexpr uint8_t kMaxAdminAction = 10;
inline constexpr uint32_t kMaxAdminAddressBytes = 256;
struct AdminRequest {
  AdminAction action = AdminAction::kPromote;
  uint64_t node_id = 0;
  std::string client_address;  // kAddLearner: "host:port" clients use
  std::string peer_address;    // kAddLearner: "host:port" peers use
  bool operator==(const AdminRequest&) const = default;
};
const char* AdminActionName(AdminAction a);

using RequestBody = std::variant<HelloRequest, PingRequest, StatusRequest, GetRequest,
                                 PutRequest, DeleteRequest, CasRequest, BatchRequest,
                                 ScanRequest, AdminRequest, GetsRequest, IncrRequest,
                                 SaddRequest, SremRequest, SmembersRequest>;

struct Request {
  uint64_t request_id = 0;
  RequestOptions options;  // encoded only for data opcodes
  RequestBody body;

  Opcode opcode() const;
  bool operator==(const Request&) const = default;
};

// ---- responses ----

struct Limits {
  uint32_t max_frame_bytes = 0;
  uint32_t max_key_bytes = 0;
  uint32_t max_value_bytes = 0;
  uint32_t max_batch_ops = 0;
  uint32_t max_scan_limit = 0;
  bool operator==(const Limits&) const = default;
};

struct HelloResponse {
  uint16_t version = 1;
  std::string server_version;
  std::string mode;  // "single", ...
  uint64_t node_id = 0;
  Limits limits;
  bool operator==(const HelloResponse&) const = default;
};
struct PingResponse {
  std::string payload;
  bool operator==(const PingResponse&) const = default;
};
struct StatusResponse {
  std::string json;
  bool operator==(const StatusResponse&) const = default;
};
struct GetResponse {
  uint64_t version = 0;
  uint64_t expires_at_ms = 0;  // unix ms; 0: never
  std::string value;
  bool operator==(const GetResponse&) const = default;
};
struct PutResponse {
  uint64_t version = 0;
  bool operator==(const PutResponse&) const = default;
};
struct DeleteResponse {
  bool existed = false;
  bool operator==(const DeleteResponse&) const = default;
};
struct CasResponse {
  uint64_t version = 0;  // the new version; 0 after kDeleteIfVersion
  bool operator==(const CasResponse&) const = default;
};
// One result per op, same order. For kGet: found/version/expires_at_ms/value. For kPut:
// version. For kDelete: found = existed. For kCheck: version (= expected).
struct BatchResult {
  BatchOpType type = BatchOpType::kGet;
  bool found = false;
  uint64_t version = 0;
  uint64_t expires_at_ms = 0;
  std::string value;
  bool operator==(const BatchResult&) const = default;
};
struct BatchResponse {
  std::vector<BatchResult> results;
  bool operator==(const BatchResponse&) const = default;
};
struct ScanItem {
  std::string key;
  uint64_t version = 0;
  uint64_t expires_at_ms = 0;
  std::string value;  // empty when keys_only
  bool operator==(const ScanItem&) const = default;
};
struct ScanResponse {
  std::vector<ScanItem> items;
  std::string continuation;  // empty: no more results
  bool operator==(const ScanResponse&) const = default;
};

// GETS: the key's siblings (one value for an lww key; none if absent or deleted) and the
// opaque causal context to present when writing the resolved value.
struct Sibling {
  uint64_t timestamp = 0;  // the writing node's hybrid logical clock (packed, see PROTOCOL.md)
  std::string value;
  bool operator==(const Sibling&) const = default;
};
struct GetsResponse {
  std::string context;
  std::vector<Sibling> siblings;
  bool operator==(const GetsResponse&) const = default;
};
// INCR: the counter's value on this node after the increment.
struct IncrResponse {
  int64_t value = 0;
  bool operator==(const IncrResponse&) const = default;
};
// SADD / SREM: whether the element was in the set (on this node) before.
struct SetOpResponse {
  bool existed = false;
  bool operator==(const SetOpResponse&) const = default;
};
struct SmembersResponse {
  std::vector<std::string> members;  // sorted bytewise
  bool operator==(const SmembersResponse&) const = default;
};

// ADMIN answers with a JSON object describing what was done.
struct AdminResponse {
  std::string json;
  bool operator==(const AdminResponse&) const = default;
};

using ResponseBody = std::variant<std::monostate, HelloResponse, PingResponse, StatusResponse,
                                  GetResponse, PutResponse, DeleteResponse, CasResponse,
                                  BatchResponse, ScanResponse, AdminResponse, GetsResponse,
                                  IncrResponse, SetOpResponse, SmembersResponse>;

// Extra fields carried by some error statuses.
struct ErrorDetail {
  uint32_t op_index = 0;         // kConflict: which op failed (0 for CAS)
  uint64_t current_version = 0;  // kConflict: the key's version now (0 = absent)
  std::string leader_hint;       // kNotLeader: "host:port" of the leader, if known
  bool operator==(const ErrorDetail&) const = default;
};

struct Response {
  uint64_t request_id = 0;
  Opcode opcode = Opcode::kPing;
  Code status = Code::kOk;
  std::string message;        // non-OK only
  ErrorDetail detail;         // non-OK only
  std::string session_token;  // OK data responses only
  ResponseBody body;          // OK only; monostate otherwise

  static Response Error(uint64_t request_id, Opcode opcode, const Status& status);
  bool ok() const { return status == Code::kOk; }
  Status ToStatus() const { return ok() ? Status::Ok() : Status(status, message); }
  bool operator==(const Response&) const = default;
};

}  // namespace kvd::wire
