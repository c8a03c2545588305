// The cluster as kvctl sees it, built from STATUS documents: the pure half of the cluster
// commands (cluster.h holds the half that talks to nodes).
//
//   ParseNodeStatus: one node's STATUS JSON -> NodeStatus (what kvctl uses of it).
//   Probe:           one STATUS request kvctl made: where, for which member, the answer.
//   NextProbes:      which members to ask next (discovery proceeds in rounds: the nodes at
//                    --endpoints first, then the members their answers name).
//   BuildClusterView: the probes -> one row per node, the leader, the modes, the membership
//                    and the acknowledged writes at risk.
//   FormatClusterStatus / FormatMemberList: a view -> table, raw or json output.
//   BuildMultiLeaderView / FormatMultiLeaderStatus: the same for a multi_leader cluster,
//                    where every member is a leader: one row per member (its progress and
//                    conflict counters), one per member and peer it ships changes to, and
//                    whether the members that answered have converged.
//   BuildDynamoView / FormatDynamoStatus: the same for a dynamo ring, which has no leader
//                    either: one row per node (its keys, the hints it holds, which nodes'
//                    failure detectors believe it down, its anti-entropy and read repair
//                    counters) and the ring's N/R/W.
//
// Where member addresses come from. STATUS names members by id (raft.membership) and lists
// the addresses of the node's configuration file (raft.configured_members); the leader
// also reports its own client address (raft.leader_address). A node that answered at an
// address is known to be there. A member added at run time with `kvctl member add` is in
// none of these unless its address is passed in --endpoints (the server does not report
// the membership's addresses in STATUS yet). A multi_leader node reports the same
// configured_members, in its "multi_leader" object, and a dynamo node in its "dynamo"
// object (with each member's zone); a multi_leader cluster's members are those. A dynamo
// node also reports the ring's live membership (dynamo.members: nodes joined with kvctl
// node join are in it, decommissioned ones are not), and kvctl follows that instead.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "client/kvctl/invocation.h"
#include "client/kvctl/output.h"
#include "common/status.h"

namespace kvd::kvctl {

// The Raft configuration: voter and learner ids, ascending.
struct Membership {
  std::vector<uint64_t> voters;
  std::vector<uint64_t> learners;
  bool IsVoter(uint64_t id) const;
  bool IsLearner(uint64_t id) const;
  bool Contains(uint64_t id) const { return IsVoter(id) || IsLearner(id); }
  bool operator==(const Membership&) const = default;
};

// Parses the server's form, "voters=[1,2,3] learners=[4]" (either list may be empty).
// Errors: kProtocolError naming the text.
Result<Membership> ParseMembership(std::string_view text);

// One entry of the leader's raft.peers: what the leader knows of a follower's log.
struct PeerProgress {
  uint64_t id = 0;
  bool voter = true;
  uint64_t match_index = 0;  // the follower holds the log up to here
  uint64_t next_index = 0;
  std::string state;              // probe, replicate, snapshot
  uint64_t ms_since_contact = 0;  // since the leader last heard from it
  uint64_t lag_entries = 0;       // the leader's last_index - match_index
  bool operator==(const PeerProgress&) const = default;
};

// One entry of raft.configured_members (the node's configuration file).
struct ConfiguredMember {
  uint64_t id = 0;
  std::string client;
  std::string peer;
  std::string admin;  // empty if not configured
  std::string zone;   // dynamo: the rack or availability zone; empty if unlabelled
  bool operator==(const ConfiguredMember&) const = default;
};

// One entry of multi_leader.peers: a member this node ships changes to (its own, and in a
// ring or through a hub those it relays): the next member in a ring, every other member in
// all_to_all, the hub in star (the hub: every other member).
struct ShipProgress {
  uint64_t to = 0;
  std::string state;               // replicating, probing (no acknowledgement yet)
  uint64_t lag_changes = 0;        // changes it has not acknowledged yet, all origins
  uint64_t ms_since_ack = 0;       // since it last acknowledged while some were outstanding
  uint64_t acked_own_changes = 0;  // this node's own changes it has acknowledged
  bool operator==(const ShipProgress&) const = default;
};

// What kvctl uses of a multi_leader node's "multi_leader" object.
struct MultiLeaderStatus {
  std::string propagation;  // all_to_all, ring, star
  uint64_t hub = 0;         // star only; 0 otherwise
  // The changes of each origin the node has applied, a version vector as the server
  // writes it: "{1:5, 2:2, 3:1}" (ascending origin, zero counters left out), so two
  // members have applied the same changes exactly when these strings are equal.
  std::string progress;
  uint64_t changes_local = 0;              // changes_local_total: writes made on this member
  uint64_t log_retained = 0;               // changes its log keeps, all origins
  uint64_t lww_concurrent_overwrites = 0;  // concurrent writes the lww resolver dropped
  uint64_t sibling_cap_refusals = 0;       // writes refused past max_siblings
  uint64_t resolver_mismatches = 0;        // changes for a key of another resolver type
  uint64_t clock_skew_rejections = 0;      // changes stamped beyond max_clock_offset_ms
  std::vector<ShipProgress> peers;         // ascending `to`, as sent
  bool operator==(const MultiLeaderStatus&) const = default;
};

// One entry of dynamo.peers: another node of the ring as this node's failure detector
// sees it.
struct DynamoPeer {
  uint64_t id = 0;
  std::string state;  // up, down
  bool operator==(const DynamoPeer&) const = default;
};

// How a dynamo ring serves requests: every node should report the same.
struct DynamoSettings {
  uint64_t replicas = 0;      // N
  uint64_t read_quorum = 0;   // R
  uint64_t write_quorum = 0;  // W
  std::string read_repair;    // background, before_reply
  bool sloppy_quorum = false;
  // "N=3 R=2 W=2, read repair background, sloppy quorum on".
  std::string Text() const;
  bool operator==(const DynamoSettings&) const = default;
};

// One entry of dynamo.members: a member of the ring as the node's ring state has it (the
// live membership, which joins and decommissions change; cluster.members in the node's
// configuration file is only where the ring started).
struct RingMember {
  uint64_t id = 0;
  std::string role;  // normal, joining, leaving ("replica" from servers before ring changes)
  std::string client;
  std::string peer;
  std::string zone;  // "" if unlabelled
  bool operator==(const RingMember&) const = default;
};

// The ring state and this node's streaming, as a dynamo node reports them (see kvctl node
// status). A change under way has ring_transition != 0: the ring version that started it.
struct RingChangeStatus {
  uint64_t ring_version = 0;
  uint64_t ring_transition = 0;   // 0: no change under way
  bool ring_paused = false;       // the ring state says streaming is paused
  std::vector<uint64_t> streamed;  // ring_streamed: gainers that finished, ascending
  uint64_t nodes = 0;             // ring members
  uint64_t nodes_up = 0;          // of which this node believes up (itself included)
  // This node's own pulling of the ranges it gains (ranges reset with each change; keys
  // and bytes count since the node started).
  uint64_t ranges_total = 0;
  uint64_t ranges_done = 0;
  uint64_t keys_received = 0;
  uint64_t bytes_received = 0;
  uint64_t keys_sent = 0;         // to the gainers that pulled from it
  bool streaming_paused = false;  // this node's streaming is paused
  bool operator==(const RingChangeStatus&) const = default;
};

// The node's latest on-demand repair (ADMIN repair / repair_dry_run; see kvctl repair).
struct RepairStatus {
  bool active = false;    // repair_active: comparisons still to start or to be answered
  bool dry_run = false;   // repair_dry_run
  uint64_t pairs_total = 0;       // (range, replica) comparisons of the repair
  uint64_t pairs_done = 0;        // started (full repair) or answered (dry run)
  uint64_t pairs_differing = 0;   // dry run: pairs whose roots differ (all, not only listed)
  uint64_t pairs_unanswered = 0;  // dry run: replicas that did not answer in time
  // repair_differing: (range end token, replica) pairs, at most 200 as the server lists
  // them; malformed entries are skipped.
  std::vector<std::pair<uint64_t, uint64_t>> differing;
  bool finished() const { return !active && pairs_done >= pairs_total; }
  bool operator==(const RepairStatus&) const = default;
};

// What kvctl uses of a dynamo node's "dynamo" object.
struct DynamoStatus {
  DynamoSettings settings;
  uint64_t tokens_per_node = 0;
  uint64_t hints_pending = 0;     // writes it holds for replicas that were down
  uint64_t ae_exchanges = 0;      // ae_exchanges_total: Merkle tree comparisons it started
  uint64_t read_repairs = 0;      // read_repairs_total: stale replicas its reads repaired
  std::vector<DynamoPeer> peers;  // every other node, as sent
  std::vector<RingMember> members;  // dynamo.members, ascending id; empty if not sent
  RingChangeStatus ring;
  RepairStatus repair;
  bool operator==(const DynamoStatus&) const = default;
};

// What kvctl uses of a STATUS document. The raft fields are set only when replicated()
// (leader_follower), `multi_leader` only when is_multi_leader(), `dynamo` only when
// is_dynamo(); configured_members in all three.
struct NodeStatus {
  uint64_t node_id = 0;
  std::string mode;  // "leader_follower", "single", ...
  std::string role;  // leader, follower, candidate, pre_candidate, learner, non_member
  uint64_t keys = 0;  // keys in the node's store
  uint64_t term = 0;
  uint64_t leader_id = 0;  // 0: none known
  uint64_t commit_index = 0;
  uint64_t applied_index = 0;
  uint64_t last_index = 0;
  uint64_t snapshot_index = 0;
  uint64_t ms_since_leader_contact = 0;
  std::string replication;      // quorum, sync, semi_sync, async
  std::string failover;         // auto, manual
  std::string membership_text;  // as sent
  Membership membership;
  std::string leader_address;       // the leader's client address, "" if unknown
  std::vector<PeerProgress> peers;  // leader only
  std::vector<ConfiguredMember> configured_members;
  MultiLeaderStatus multi_leader;
  DynamoStatus dynamo;

  // "replicated" is historical: it means leader_follower, the mode every cluster command
  // but ring and node supports; multi_leader and dynamo clusters support only cluster
  // status (and dynamo kvctl ring and kvctl node).
  bool replicated() const { return mode == "leader_follower"; }
  bool is_multi_leader() const { return mode == "multi_leader"; }
  bool is_dynamo() const { return mode == "dynamo"; }
  // The members kvctl follows: a dynamo node's live ring membership (dynamo.members) when
  // it reports one, else configured_members (admin is empty for ring members).
  std::vector<ConfiguredMember> Members() const;
  bool operator==(const NodeStatus&) const = default;
};

// Parses a STATUS document. Fields kvctl does not use are ignored, and missing or
// mistyped numbers read as 0, so that a newer server still works (the star hub is read
// from a string, as the server sends it, or a number).
// Errors (kProtocolError): not a JSON object; no "mode" or "node_id"; for a leader_follower
// node, no "raft" object or a membership ParseMembership rejects; for a multi_leader node,
// no "multi_leader" object; for a dynamo node, no "dynamo" object. (dynamo.sloppy_quorum
// is read from the string the server sends, "true" or "false", or a boolean, as are
// dynamo.ring_paused and dynamo.streaming_paused (also 0 or 1); ring_streamed is "3,6".)
Result<NodeStatus> ParseNodeStatus(std::string_view json);

// One STATUS request and its outcome.
struct Probe {
  std::string endpoint;              // where kvctl asked
  uint64_t expected_id = 0;          // the member kvctl meant to ask; 0: an endpoint of --endpoints
  std::optional<NodeStatus> status;  // the node answered with this document
  Status error;                      // otherwise, why not
  ExitCode error_exit = ExitCode::kOk;  // what `error` means as an exit code
};

// A member to ask next: its id and client address.
struct ProbeTarget {
  uint64_t id = 0;
  std::string endpoint;
  bool operator==(const ProbeTarget&) const = default;
};

// The members not yet asked whose client address is known, ascending by id. With
// all_members, every member (the ids in any answer's membership, configured_members and
// leader_id); otherwise only the leader, and only while no leader has answered. An
// address already asked (whatever the outcome) is not asked again. The answers used are
// those in the mode of the first node that answered as leader_follower, multi_leader or
// dynamo; in multi_leader and dynamo there is no leader, so every member is asked whatever
// all_members says.
std::vector<ProbeTarget> NextProbes(const std::vector<Probe>& probes, bool all_members);

// One node of the cluster.
struct NodeRow {
  uint64_t id = 0;
  std::string client_address;            // "" unknown
  std::string peer_address;              // "" unknown
  std::string member;                    // "voter", "learner", or "" when not in the membership
  std::optional<NodeStatus> status;      // its own answer
  std::string error;                     // when status is empty: why (one line)
  std::optional<PeerProgress> progress;  // what the leader knows of it
  // The ROLE column: status->role, or "unreachable" / "unknown" (address unknown).
  std::string DisplayRole() const;
};

struct ClusterView {
  std::vector<NodeRow> nodes;  // ascending id: members, configured nodes, nodes that answered
  uint64_t leader_id = 0;      // 0: no leader known
  uint64_t term = 0;           // the highest term any node reported
  // The node whose answer gives replication, failover and membership: the leader if it
  // answered, else the one with the highest (term, commit index). 0: nobody answered.
  uint64_t view_from = 0;
  std::string replication;
  std::string failover;
  std::string membership_text;
  Membership membership;
  // The leader's commit index minus the highest match index of any other voter (at least
  // 0): entries acknowledged to clients that, as far as the leader knows, only it holds.
  // Empty when the leader did not answer or has no other voter.
  std::optional<uint64_t> at_risk_entries;
  std::vector<std::string> notes;  // one line each: endpoints that did not answer, etc.

  const NodeRow* Find(uint64_t id) const;
  // The leader's own status, if it answered.
  const NodeStatus* leader() const;
};

// Combines the probes. REQUIRES: at least one probe answered with a replicated() status.
ClusterView BuildClusterView(const std::vector<Probe>& probes);

// True in the replication modes where a write is acknowledged before a majority has it
// (async, semi_sync): the ones where the at-risk line is printed.
bool AcknowledgesBeforeMajority(std::string_view replication);

// `kvctl cluster status` and `kvctl member list` output (see their --help).
Output FormatClusterStatus(const ClusterView& view, OutputFormat format);
Output FormatMemberList(const ClusterView& view, OutputFormat format);

// ---- multi_leader ----

struct MultiLeaderView {
  // From the first multi_leader node that answered (normally the one at --endpoints);
  // a member that reports another propagation or hub is named in `notes`.
  uint64_t view_from = 0;
  std::string propagation;
  uint64_t hub = 0;
  // Ascending id: the configured members and the nodes that answered. A row's status is
  // its own answer; a row whose node answered in another mode keeps that answer (its
  // STATE shows the mode) and counts as not up.
  std::vector<NodeRow> members;
  // Every member that answered in multi_leader mode reports the same progress (true
  // when only one did). Members that did not answer are not compared.
  bool converged = false;
  std::vector<std::string> notes;  // endpoints that did not answer, mismatched settings

  const NodeRow* Find(uint64_t id) const;
};

// True if the row's node answered as a multi_leader member.
bool IsUpMultiLeader(const NodeRow& row);

// Combines the probes of a multi_leader cluster.
// REQUIRES: at least one probe answered with an is_multi_leader() status.
MultiLeaderView BuildMultiLeaderView(const std::vector<Probe>& probes);

// `kvctl cluster status` output for a multi_leader cluster (see its --help).
Output FormatMultiLeaderStatus(const MultiLeaderView& view, OutputFormat format);

// ---- dynamo ----

struct DynamoView {
  // From the first dynamo node that answered (normally the one at --endpoints); a node
  // that reports other settings is named in `notes`.
  uint64_t view_from = 0;
  DynamoSettings settings;
  // Ascending id: the configured members and the nodes that answered, as in
  // MultiLeaderView (a node that answered in another mode shows that mode, not up).
  std::vector<NodeRow> nodes;
  std::vector<std::string> notes;  // endpoints that did not answer, mismatched settings

  // The nodes that answered whose failure detector reports node `id` down, ascending.
  std::vector<uint64_t> SeenDownBy(uint64_t id) const;
};

// True if the row's node answered as a dynamo node.
bool IsUpDynamo(const NodeRow& row);

// Combines the probes of a dynamo ring.
// REQUIRES: at least one probe answered with an is_dynamo() status.
DynamoView BuildDynamoView(const std::vector<Probe>& probes);

// `kvctl cluster status` output for a dynamo ring (see its --help).
Output FormatDynamoStatus(const DynamoView& view, OutputFormat format);

// ms_since_ack as seconds with one decimal, rounded half up: 4250 -> "4.3".
std::string FormatSecondsTenths(uint64_t ms);

// "30 ms" below 10 s, else FormatTtl ("12s", "1m5s").
std::string FormatMs(uint64_t ms);

}  // namespace kvd::kvctl
