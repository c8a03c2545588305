// kvd configuration: YAML text -> a typed, validated Config.
//
// ParseConfig reads every field, checks it, and reports ALL bad fields at once, one line
// per field, each naming the field path, the value it found and what is allowed:
//
//   storage.durability: "alwys" is not allowed; expected one of: always, periodic, none
//   limits.max_key_bytes: 0 is out of range; expected an integer from 1 to 65536
//   stroage: unknown field (did you mean "storage"?)
//
// Unknown fields are errors (a typo must not silently fall back to a default). Missing
// fields take the defaults below. The documented reference for every field is
// docs/OPERATIONS.md; the example files are in config/.
//
// Thread-safety: pure functions and plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kvd::config {

enum class Mode { kSingle, kLeaderFollower, kMultiLeader, kDynamo };
enum class Engine { kLevelDb, kMemory };
enum class Durability { kAlways, kPeriodic, kNone };
enum class LogLevel { kDebug, kInfo, kWarn, kError };

std::string_view ModeName(Mode m);
// True for topologies made of several nodes (leader_follower, multi_leader, dynamo): they need
// the cluster section, and a node listens where its cluster.members entry says.
bool IsClustered(Mode m);
std::string_view EngineName(Engine e);
std::string_view DurabilityName(Durability d);
std::string_view LogLevelName(LogLevel l);
// Parses "debug" | "info" | "warn" | "error".
[[nodiscard]] bool ParseLogLevel(std::string_view text, LogLevel* out);

// A "host:port" pair as written in the config. Port 0 asks the OS for a free port.
struct Address {
  std::string host;
  uint16_t port = 0;
  std::string ToString() const;
  bool operator==(const Address&) const = default;
};
// Parses "host:port", "[v6]:port" or ":port" (host defaults to 0.0.0.0).
// Errors: kInvalidArgument describing what is wrong with `text`.
Result<Address> ParseAddress(std::string_view text);

struct NodeConfig {
  uint64_t id = 1;                  // node.id: 1..2^63-1, unique in a cluster
  Mode mode = Mode::kSingle;        // node.mode
  std::string data_dir = "./data";  // node.data_dir
  bool operator==(const NodeConfig&) const = default;
};

struct ServerConfig {
  Address listen{"127.0.0.1", 7379};        // server.listen: the client protocol
  Address admin_listen{"127.0.0.1", 7380};  // server.admin_listen: HTTP /metrics, /status
  // Whether the file (or a flag) set listen / admin_listen. In a cluster, a node whose
  // cluster.members entry gives an address listens there unless these are set.
  bool listen_set = false;
  bool admin_listen_set = false;
  bool admin_enabled = true;                // server.admin_enabled
  uint32_t max_connections = 10000;         // server.max_connections
  uint32_t idle_timeout_ms = 0;             // server.idle_timeout_ms: 0 = never
  uint32_t shutdown_grace_ms = 5000;        // server.shutdown_grace_ms: drain limit on SIGTERM
  bool operator==(const ServerConfig&) const = default;
};

struct StorageConfig {
  Engine engine = Engine::kLevelDb;           // storage.engine
  Durability durability = Durability::kAlways;  // storage.durability
  uint32_t sync_interval_ms = 1000;           // storage.sync_interval_ms (periodic only)
  uint32_t block_cache_mb = 64;               // storage.block_cache_mb (leveldb)
  uint32_t row_cache_mb = 64;                 // storage.row_cache_mb: decoded records
  uint32_t write_buffer_mb = 16;              // storage.write_buffer_mb (leveldb)
  uint32_t expiry_sweep_interval_ms = 100;    // storage.expiry_sweep_interval_ms
  uint32_t expiry_sweep_max_keys = 1000;      // storage.expiry_sweep_max_keys
  bool operator==(const StorageConfig&) const = default;
};

struct LimitsConfig {
  uint32_t max_key_bytes = 4096;           // limits.max_key_bytes: 1..65536
  uint32_t max_value_bytes = 1u << 20;     // limits.max_value_bytes: 0..32 MiB
  uint32_t max_batch_ops = 1000;           // limits.max_batch_ops: 1..100000
  uint32_t max_batch_bytes = 4u << 20;     // limits.max_batch_bytes: keys + values in a batch
  uint32_t max_scan_limit = 10000;         // limits.max_scan_limit: 1..1000000
  uint32_t max_frame_bytes = 8u << 20;     // limits.max_frame_bytes: derived floor, 64 MiB cap
  uint32_t max_inflight_per_connection = 1024;  // limits.max_inflight_per_connection
  bool operator==(const LimitsConfig&) const = default;
};

struct LogConfig {
  LogLevel level = LogLevel::kInfo;  // log.level
  std::string file;                  // log.file: empty = stderr
  bool operator==(const LogConfig&) const = default;
};

// One member of a cluster, as every node's config lists it.
struct MemberConfig {
  uint64_t id = 0;      // cluster.members[].id
  Address client;       // cluster.members[].client: where clients reach it (redirects)
  Address peer;         // cluster.members[].peer: where other nodes reach it
  Address admin;        // cluster.members[].admin: its HTTP endpoint (optional)
  bool has_admin = false;
  // cluster.members[].zone: 0..64 bytes, the rack or availability zone (dynamo places a
  // key's replicas in distinct zones first); "" when unlabelled.
  std::string zone;
  bool operator==(const MemberConfig&) const = default;
};

struct ClusterConfig {
  std::string name = "kvd";  // cluster.name: peers of another cluster are refused
  // cluster.members: the nodes a new cluster starts with (every node lists the same): the
  // voters in leader_follower, the leaders in multi_leader.
  std::vector<MemberConfig> members;
  // cluster.join: start empty and wait to be added (kvctl member add) instead of
  // bootstrapping from members.
  bool join = false;
  bool operator==(const ClusterConfig&) const = default;
};

enum class Replication { kQuorum, kSync, kSemiSync, kAsync };
enum class Failover { kAuto, kManual };
enum class FollowerWrites { kRedirect, kForward };
enum class ReadLevel { kLinearizable, kLeader, kFollower, kSession };
std::string_view ReplicationName(Replication r);
std::string_view FailoverName(Failover f);
std::string_view FollowerWritesName(FollowerWrites f);
std::string_view ReadLevelName(ReadLevel r);

// The leader_follower topology (Raft). docs/OPERATIONS.md explains each field.
struct RaftConfig {
  uint32_t election_timeout_ms = 1000;          // raft.election_timeout_ms: 50..60000
  uint32_t heartbeat_interval_ms = 100;         // raft.heartbeat_interval_ms: 10..10000
  Replication replication = Replication::kQuorum;  // raft.replication
  Failover failover = Failover::kAuto;          // raft.failover
  bool pre_vote = true;                         // raft.pre_vote
  bool check_quorum = true;                     // raft.check_quorum
  bool lease_reads = false;                     // raft.lease_reads (needs check_quorum)
  FollowerWrites follower_writes = FollowerWrites::kRedirect;  // raft.follower_writes
  ReadLevel default_read = ReadLevel::kLinearizable;  // raft.default_read
  uint32_t session_wait_ms = 1000;              // raft.session_wait_ms: 0..60000
  uint32_t snapshot_threshold_entries = 10000;  // raft.snapshot_threshold_entries: 0 = never
  uint32_t snapshot_trailing_entries = 1000;    // raft.snapshot_trailing_entries
  uint32_t max_append_entries = 256;            // raft.max_append_entries: 1..4096
  uint32_t max_inflight_appends = 32;           // raft.max_inflight_appends: 1..1024
  bool operator==(const RaftConfig&) const = default;
};

// How multi_leader members ship changes to each other (multi_leader.propagation).
//   all_to_all: every member ships its own changes to every other member.
//   ring:       every member ships every change to the next member in cluster.members
//               order (the last to the first); a change goes once around the ring.
//   star:       a member ships its own changes to the hub (multi_leader.hub), which
//               relays every change to every other member.
enum class Propagation { kAllToAll, kRing, kStar };
// How concurrent writes to one key are reconciled, chosen per key by prefix
// (multi_leader.resolvers; server/kv/replicated_state.h implements them).
//   lww:      one value; of two writes the later (hybrid logical clock, then origin) wins.
//   siblings: concurrent values are all kept until a write that has read them replaces them.
//   counter:  a PN-counter; writes add or subtract.
//   set:      an add-wins set of elements.
enum class ResolverKind { kLww, kSiblings, kCounter, kSet };
std::string_view PropagationName(Propagation p);
std::string_view ResolverKindName(ResolverKind r);

// multi_leader.resolvers[i]: keys starting with `prefix` use `resolver`.
struct ResolverRule {
  std::string prefix;  // any bytes, at most 1024; "" matches every key
  ResolverKind resolver = ResolverKind::kLww;
  bool operator==(const ResolverRule&) const = default;
};

// multi_leader.followers[i]: member `id` is a read-only follower of member `leader`.
struct FollowerRule {
  uint64_t id = 0;
  uint64_t leader = 0;
  bool operator==(const FollowerRule&) const = default;
};

// The multi_leader topology (every member accepts writes and ships them to the others).
// Allowed and checked in every mode, used only when node.mode is multi_leader.
// docs/OPERATIONS.md explains each field.
struct MultiLeaderConfig {
  Propagation propagation = Propagation::kAllToAll;  // multi_leader.propagation
  // multi_leader.hub: 0..2^63-1, the member that relays every change when propagation is
  // star (then it must be one of cluster.members); ignored otherwise.
  uint64_t hub = 0;
  // multi_leader.resolvers: at most 256 rules with distinct prefixes; the longest prefix
  // matching a key wins, and a key no prefix matches uses lww (see ResolverFor).
  std::vector<ResolverRule> resolvers = {ResolverRule{"", ResolverKind::kLww}};
  // multi_leader.max_siblings: 1..1024, the most concurrent values a siblings key keeps.
  uint32_t max_siblings = 16;
  // multi_leader.max_clock_offset_ms: 1..3600000, how far ahead of this node's clock a
  // change's timestamp may be for the node's hybrid clock to adopt it (a change further
  // ahead is still applied; the clock just does not jump to its time).
  uint32_t max_clock_offset_ms = 500;
  // multi_leader.resend_interval_ms: 10..60000, how long a sender waits for an
  // acknowledgement before it ships again from the acknowledged point.
  uint32_t resend_interval_ms = 200;
  uint32_t max_batch_changes = 256;  // multi_leader.max_batch_changes: 1..4096 per message
  // multi_leader.window_changes: 1..1048576 and at least max_batch_changes, the changes
  // shipped to a peer beyond what it has acknowledged.
  uint32_t window_changes = 1024;
  // multi_leader.log_retention_changes: 1..1000000000, the most changes of one origin
  // kept in the log for peers that lag; a peer further behind needs a state transfer.
  uint32_t log_retention_changes = 1000000;
  // multi_leader.session_wait_ms: 0..60000, how long a read carrying a session token
  // waits for this member to apply the writes the token names.
  uint32_t session_wait_ms = 1000;
  // multi_leader.stability_interval_ms: 10..60000, how often a member tells its neighbours
  // what every member has applied (the basis of tombstone collection), and how often it
  // looks for tombstones to collect.
  uint32_t stability_interval_ms = 1000;
  // multi_leader.tombstone_grace_ms: 0..31536000000, how long a deleted key (or removed set
  // element) is kept after its last write at the least, even once every member has it.
  uint64_t tombstone_grace_ms = 3'600'000;
  // multi_leader.followers: at most 256 entries. Each names a member of cluster.members
  // that does not take writes but replicates everything from its leader (another member,
  // not itself a follower), as a read replica. Members not listed are leaders.
  std::vector<FollowerRule> followers;
  bool operator==(const MultiLeaderConfig&) const = default;
};

// The resolver for `key`: that of the longest prefix in config.resolvers that `key`
// starts with, or lww if none does. With duplicate prefixes (which ParseConfig and
// ValidateConfig reject) the first of them wins.
ResolverKind ResolverFor(const MultiLeaderConfig& config, std::string_view key);
ResolverKind ResolverFor(const std::vector<ResolverRule>& rules, std::string_view key);

// The leader member `id` follows (multi_leader.followers), or 0 when it is a leader.
uint64_t LeaderOf(const MultiLeaderConfig& config, uint64_t id);

// dynamo: how many replicas a read or write waits for (dynamo.read_quorum, write_quorum and
// the per-request options): a number 1..16 ("one" is 1), or one of these.
inline constexpr uint32_t kQuorumMajority = 254;  // "quorum": replicas / 2 + 1
inline constexpr uint32_t kQuorumAll = 255;       // "all": every replica
// The replica count a quorum setting means with `replicas` (N) replicas: at least 1, at
// most N.
uint32_t QuorumCount(uint32_t setting, uint32_t replicas);
// "quorum", "all", "one" or the number.
std::string QuorumName(uint32_t setting);
// Parses what QuorumName prints (and any number 1..16). False if not one of them.
[[nodiscard]] bool ParseQuorum(std::string_view text, uint32_t* out);

enum class ReadRepair { kBackground, kBeforeReply };
std::string_view ReadRepairName(ReadRepair r);

// The dynamo topology (a leaderless consistent-hash ring, as in Amazon's Dynamo paper).
// Allowed and checked in every mode, used only when node.mode is dynamo.
// docs/OPERATIONS.md explains each field.
struct DynamoConfig {
  uint32_t replicas = 3;               // dynamo.replicas (N): 1..16
  uint32_t read_quorum = kQuorumMajority;   // dynamo.read_quorum (R)
  uint32_t write_quorum = kQuorumMajority;  // dynamo.write_quorum (W)
  uint32_t tokens_per_node = 256;      // dynamo.tokens_per_node: 1..4096 virtual nodes
  uint32_t request_timeout_ms = 2000;  // dynamo.request_timeout_ms: 10..600000
  ReadRepair read_repair = ReadRepair::kBackground;  // dynamo.read_repair
  bool sloppy_quorum = true;           // dynamo.sloppy_quorum: hinted handoff
  // dynamo.max_hints_per_target: 0..100000000 keys held for one node that is down.
  uint32_t max_hints_per_target = 100000;
  // dynamo.max_hint_bytes_per_target: 0..1099511627776, keys and states held for one node.
  uint64_t max_hint_bytes_per_target = 64u << 20;
  // dynamo.hint_max_age_ms: 0..2592000000 (0 = no limit), how long a hint is kept before it
  // is dropped (the key is then left to read repair and anti-entropy).
  uint64_t hint_max_age_ms = 10'800'000;
  // dynamo.hint_replay_per_second: 1..1000000 hints delivered per second per node.
  uint32_t hint_replay_per_second = 1000;
  // dynamo.tombstone_grace_ms: 0..31536000000 (0 = never), how old a delete must be before
  // its tombstone may be collected (once every other replica holds no value of the key).
  uint64_t tombstone_grace_ms = 86'400'000;
  // dynamo.anti_entropy_interval_ms: 0..86400000 (0 = off), the pause between two
  // Merkle tree exchanges (one range with one replica each).
  uint32_t anti_entropy_interval_ms = 1000;
  uint32_t merkle_depth = 10;          // dynamo.merkle_depth: 4..16 levels per range's tree
  uint32_t max_clock_offset_ms = 500;  // dynamo.max_clock_offset_ms: 1..3600000
  uint32_t heartbeat_interval_ms = 200;  // dynamo.heartbeat_interval_ms: 10..60000
  uint32_t phi_threshold = 8;          // dynamo.phi_threshold: 1..100 (failure detector)
  // dynamo.resolvers: as multi_leader.resolvers, with lww and siblings only.
  std::vector<ResolverRule> resolvers = {ResolverRule{"", ResolverKind::kLww}};
  bool operator==(const DynamoConfig&) const = default;
};

struct Config {
  NodeConfig node;
  ClusterConfig cluster;
  RaftConfig raft;
  MultiLeaderConfig multi_leader;
  DynamoConfig dynamo;
  ServerConfig server;
  StorageConfig storage;
  LimitsConfig limits;
  LogConfig log;
  bool operator==(const Config&) const = default;
};

// Parses and validates YAML text. An empty document yields the defaults.
// Errors: kInvalidArgument whose message holds one line per bad field (see above); a
// YAML syntax error is reported with its line and column.
Result<Config> ParseConfig(std::string_view yaml_text);

// The member entry of node.id in cluster.members, or nullptr.
const MemberConfig* SelfMember(const Config& config);

// In a clustered mode, makes the node listen where its own cluster.members entry says:
// server.listen becomes the member's client address unless server.listen_set, and
// server.admin_listen its admin address (if it has one) unless server.admin_listen_set.
// Does nothing in single mode or if node.id is not a member. Call after command-line
// overrides and before ValidateConfig.
void ApplyMemberAddresses(Config* config);

// Re-checks cross-field rules after command-line overrides have been applied (for
// example that max_frame_bytes can hold a maximal value). Same error format.
Status ValidateConfig(const Config& config);

}  // namespace kvd::config
