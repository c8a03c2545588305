// kvctl's parsed command line as plain values: which command to run, on what, with which
// global options, and the exit codes the tool reports.
//
// kvctl works in four steps, each in its own file so that only the last needs a server:
//   1. ParseArgs (args.h): argv -> Invocation. Pure: no I/O, no environment access.
//   2. BuildRequest (input.h): Invocation -> wire::Request, reading --file and stdin.
//   3. Execute (run.h): sends the request(s) through a kvd::client::Client.
//   4. FormatResult (output.h): Invocation + request + answer -> stdout, stderr, exit code.
// Cluster commands (ClusterCommand) replace steps 2-4 with RunClusterCommand (cluster.h),
// because they talk to several nodes and wait for the cluster to change.
//
// Thread-safety: plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "common/wire/messages.h"

namespace kvd::kvctl {

// The process exit codes. They are part of kvctl's interface (scripts test them), are
// listed in `kvctl --help`, and must never be renumbered.
enum class ExitCode : int {
  kOk = 0,
  kNotFound = 1,       // get, gets: the key does not exist
  kUsage = 2,          // bad arguments, unreadable --file or stdin
  kConflict = 3,       // a cas condition or batch check failed: nothing was written;
                       // get: the key has siblings (multi_leader; get prints them all)
  kRejected = 4,       // the server refused the request: invalid_argument, unsupported,
                       // protocol_error
  kServerFailure = 5,  // the server failed to serve it: io_error, corruption, unavailable,
                       // not_leader, timeout (sent by the server), or a malformed answer
  kUnreachable = 6,    // no answer: cannot connect, connection lost, --timeout expired
};

enum class OutputFormat : uint8_t { kTable, kJson, kRaw };

inline constexpr std::chrono::milliseconds kDefaultTimeout{5000};
// Bounds --timeout; the request options carry it to the server as a u32 of milliseconds.
inline constexpr std::chrono::milliseconds kMaxTimeout = std::chrono::hours(24);
inline constexpr const char* kDefaultEndpoint = "127.0.0.1:7379";

// Options accepted before or after any command.
struct GlobalOptions {
  std::vector<std::string> endpoints{kDefaultEndpoint};  // "host:port", tried in order
  std::chrono::milliseconds timeout = kDefaultTimeout;   // > 0
  OutputFormat output = OutputFormat::kTable;
  wire::Consistency consistency = wire::Consistency::kDefault;
  wire::Durability durability = wire::Durability::kDefault;
  // dynamo: replicas a read (--r) or write (--w) waits for; 0: the server's default.
  uint8_t read_quorum = 0;
  uint8_t write_quorum = 0;
  bool operator==(const GlobalOptions&) const = default;
};

// Where a put or cas value comes from. Only BuildRequest reads it.
struct ValueSource {
  enum class Kind : uint8_t {
    kArgument,  // `text` is the value itself
    kFile,      // `text` is a path; the value is the file's bytes
    kStdin,     // the value is all of standard input (VALUE "-", or --file -)
  };
  Kind kind = Kind::kArgument;
  std::string text;
  bool operator==(const ValueSource&) const = default;
};

// `kvctl help [COMMAND]`, `kvctl --help`, `kvctl COMMAND --help`: print `text` to stdout
// and exit 0.
struct HelpCommand {
  std::string text;
  bool operator==(const HelpCommand&) const = default;
};
struct GetCommand {
  std::string key;
  bool operator==(const GetCommand&) const = default;
};
// `context` (put and del, multi_leader): the causal context a gets printed, as raw bytes
// (hex-decoded from --context), sent as RequestOptions::context; empty: none.
struct PutCommand {
  std::string key;
  ValueSource value;
  uint64_t ttl_ms = 0;  // 0: never expires
  std::string context;
  bool operator==(const PutCommand&) const = default;
};
struct DeleteCommand {
  std::string key;
  std::string context;
  bool operator==(const DeleteCommand&) const = default;
};
// kPutIfVersion (--expect-version N, N may be 0 = "must be absent"), kPutIfAbsent
// (--if-absent; expected_version 0), kDeleteIfVersion (--delete --expect-version N>0; no
// value, no ttl).
struct CasCommand {
  wire::CasKind kind = wire::CasKind::kPutIfVersion;
  std::string key;
  uint64_t expected_version = 0;
  ValueSource value;  // unused for kDeleteIfVersion
  uint64_t ttl_ms = 0;
  bool operator==(const CasCommand&) const = default;
};
// Either `ops` (from the command line words) or `file` (a batch script, "-" = stdin, read
// by BuildRequest) is set, never both.
struct BatchCommand {
  std::vector<wire::BatchOp> ops;
  std::string file;
  bool operator==(const BatchCommand&) const = default;
};
struct ScanCommand {
  std::string prefix;
  std::string from;    // inclusive; empty: unbounded
  std::string to;      // exclusive; empty: unbounded
  uint32_t limit = 0;  // items in total, over as many pages as needed; 0: one page
  bool reverse = false;
  bool keys_only = false;
  bool all = false;          // follow continuation tokens to the end (limit is then 0)
  std::string continuation;  // raw token bytes (hex-decoded from --continuation)
  bool operator==(const ScanCommand&) const = default;
};
struct PingCommand {
  std::string payload;
  bool operator==(const PingCommand&) const = default;
};
struct StatusCommand {
  bool operator==(const StatusCommand&) const = default;
};

// ---- multi_leader replicated data types ----
// Other topologies answer these requests UNSUPPORTED.

// `kvctl gets KEY`: every sibling of KEY and the causal context to resolve them.
struct GetsCommand {
  std::string key;
  bool operator==(const GetsCommand&) const = default;
};
// `kvctl incr KEY [AMOUNT]` (amount as given, default 1) and `kvctl decr KEY [AMOUNT]`
// (amount = -AMOUNT, AMOUNT >= 1, default 1): one INCR request.
struct IncrCommand {
  std::string key;
  int64_t amount = 1;
  bool operator==(const IncrCommand&) const = default;
};
// `kvctl sadd KEY ELEMENT...` and `kvctl srem KEY ELEMENT...`: one SADD (SREM) request per
// element, in order; BuildRequest builds the first, ExecuteWith sends the rest.
struct SetOpCommand {
  enum class Kind : uint8_t { kAdd, kRemove };
  Kind kind = Kind::kAdd;
  std::string key;
  std::vector<std::string> elements;  // at least one
  bool operator==(const SetOpCommand&) const = default;
};
// `kvctl smembers KEY`.
struct SmembersCommand {
  std::string key;
  bool operator==(const SmembersCommand&) const = default;
};

// ---- cluster administration (leader_follower; cluster status also multi_leader and
// dynamo; ring and node: dynamo only) ----
// These commands talk to nodes each by its own address, so they do not go through
// BuildRequest/FormatResult: RunClusterCommand (cluster.h) runs them. A node id is in
// [1, kMaxNodeId], as in the server's config.

inline constexpr uint64_t kMaxNodeId = (uint64_t{1} << 63) - 1;
// Commands that wait for the cluster to change (an election, a hand-over, a configuration
// commit) default to this --timeout instead of kDefaultTimeout.
inline constexpr std::chrono::milliseconds kDefaultAdminTimeout{10000};

// `kvctl cluster status`: every member's STATUS in one table.
struct ClusterStatusCommand {
  bool operator==(const ClusterStatusCommand&) const = default;
};
// `kvctl promote NODE_ID`: NODE_ID starts an election now; wait until it leads.
struct PromoteCommand {
  uint64_t node_id = 0;
  bool operator==(const PromoteCommand&) const = default;
};
// `kvctl transfer-leader [NODE_ID]` and `kvctl switchover [--to NODE_ID]`: the leader hands
// over to node_id (0: the voter the leader picks, the most caught up). A switchover is the
// same request, reported step by step with its timings.
struct TransferLeaderCommand {
  uint64_t node_id = 0;
  bool switchover = false;
  bool operator==(const TransferLeaderCommand&) const = default;
};
// `kvctl member add NODE_ID --client H:P --peer H:P`: add a learner.
struct MemberAddCommand {
  uint64_t node_id = 0;
  std::string client_address;
  std::string peer_address;
  bool operator==(const MemberAddCommand&) const = default;
};
// `kvctl member promote NODE_ID`: learner -> voter.
struct MemberPromoteCommand {
  uint64_t node_id = 0;
  bool operator==(const MemberPromoteCommand&) const = default;
};
// `kvctl member remove NODE_ID`.
struct MemberRemoveCommand {
  uint64_t node_id = 0;
  bool operator==(const MemberRemoveCommand&) const = default;
};
// `kvctl member list`: the membership as the leader sees it.
struct MemberListCommand {
  bool operator==(const MemberListCommand&) const = default;
};
// `kvctl snapshot [NODE_ID]`: the node compacts its Raft log now (0: the node at
// --endpoints).
struct SnapshotCommand {
  uint64_t node_id = 0;
  bool operator==(const SnapshotCommand&) const = default;
};
// `kvctl ring [--tokens]`: the dynamo ring as the node at --endpoints describes it; with
// --tokens the table lists every node's tokens.
struct RingCommand {
  bool tokens = false;
  bool operator==(const RingCommand&) const = default;
};

// ---- dynamo ring membership (`kvctl node ...`) ----
// A ring change (a join or a decommission) is recorded at once and then proceeds in the
// background: the nodes that gain ranges pull them, then every node finalizes. One change
// at a time.

// With --wait and no --timeout, join and decommission wait this long for the change to
// finish (streaming a large node's ranges takes minutes).
inline constexpr std::chrono::milliseconds kDefaultRingWaitTimeout = std::chrono::minutes(10);
// How often kvctl node join/decommission --wait reads the ring.
inline constexpr std::chrono::milliseconds kRingPollInterval{1000};
// kvctl node status: the time between the two STATUS rounds RATE and ETA come from.
inline constexpr std::chrono::milliseconds kDefaultRateSample{1000};
// Bounds --sample.
inline constexpr std::chrono::milliseconds kMaxRateSample = std::chrono::minutes(1);

// `kvctl node join NODE_ID --client H:P --peer H:P [--wait]` (ADMIN add_learner) and
// `kvctl node decommission NODE_ID [--wait]` (ADMIN remove_member), sent to the node at
// --endpoints. wait_timeout: 0 without --wait; with it, how long to wait for the change
// to finish (--timeout, else kDefaultRingWaitTimeout).
struct NodeJoinCommand {
  uint64_t node_id = 0;
  std::string client_address;
  std::string peer_address;
  std::chrono::milliseconds wait_timeout{0};
  bool operator==(const NodeJoinCommand&) const = default;
};
struct NodeDecommissionCommand {
  uint64_t node_id = 0;
  std::chrono::milliseconds wait_timeout{0};
  bool operator==(const NodeDecommissionCommand&) const = default;
};
// `kvctl node pause` / `kvctl node resume`: ADMIN pause_streams / resume_streams.
struct NodeStreamsCommand {
  bool pause = true;
  bool operator==(const NodeStreamsCommand&) const = default;
};
// `kvctl node status [--sample DURATION]`: the ring change under way and each gainer's
// progress; RATE and ETA from two STATUS rounds `sample` apart (0: one round, no rates).
struct NodeStatusCommand {
  std::chrono::milliseconds sample = kDefaultRateSample;
  bool operator==(const NodeStatusCommand&) const = default;
};

// ---- dynamo on-demand repair (`kvctl repair`) ----
// How often kvctl repair reads the STATUS of the nodes repairing, and how often it prints
// a line of progress.
inline constexpr std::chrono::milliseconds kRepairPollInterval{250};
inline constexpr std::chrono::milliseconds kRepairProgressInterval{1000};

// `kvctl repair [--dry-run] [--node ID]`: ADMIN repair (or repair_dry_run) to every ring
// member that answers (node_id 0) or only to node_id, then a wait until each has compared
// every (range, replica) pair it holds (--timeout, default kDefaultRingWaitTimeout).
struct RepairCommand {
  bool dry_run = false;
  uint64_t node_id = 0;
  bool operator==(const RepairCommand&) const = default;
};

using ClusterAction =
    std::variant<ClusterStatusCommand, PromoteCommand, TransferLeaderCommand, MemberAddCommand,
                 MemberPromoteCommand, MemberRemoveCommand, MemberListCommand, SnapshotCommand,
                 RingCommand, NodeJoinCommand, NodeDecommissionCommand, NodeStreamsCommand,
                 NodeStatusCommand, RepairCommand>;
struct ClusterCommand {
  ClusterAction action;
  bool operator==(const ClusterCommand&) const = default;
};

using Command = std::variant<HelpCommand, GetCommand, PutCommand, DeleteCommand, CasCommand,
                             BatchCommand, ScanCommand, PingCommand, StatusCommand, GetsCommand,
                             IncrCommand, SetOpCommand, SmembersCommand, ClusterCommand>;

struct Invocation {
  GlobalOptions global;
  Command command;
  bool operator==(const Invocation&) const = default;
};

}  // namespace kvd::kvctl
