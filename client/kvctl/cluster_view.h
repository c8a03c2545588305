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
//
// Where member addresses come from. STATUS names members by id (raft.membership) and lists
// the addresses of the node's configuration file (raft.configured_members); the leader
// also reports its own client address (raft.leader_address). A node that answered at an
// address is known to be there. A member added at run time with `kvctl member add` is in
// none of these unless its address is passed in --endpoints (the server does not report
// the membership's addresses in STATUS yet).
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
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
  bool operator==(const ConfiguredMember&) const = default;
};

// What kvctl uses of a STATUS document. The raft fields are set only when replicated().
struct NodeStatus {
  uint64_t node_id = 0;
  std::string mode;  // "leader_follower", "single", ...
  std::string role;  // leader, follower, candidate, pre_candidate, learner, non_member
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

  bool replicated() const { return mode == "leader_follower"; }
  bool operator==(const NodeStatus&) const = default;
};

// Parses a STATUS document. Fields kvctl does not use are ignored, and missing or
// mistyped numbers read as 0, so that a newer server still works.
// Errors (kProtocolError): not a JSON object; no "mode" or "node_id"; for a leader_follower
// node, no "raft" object or a membership ParseMembership rejects.
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
// address already asked (whatever the outcome) is not asked again.
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

// "30 ms" below 10 s, else FormatTtl ("12s", "1m5s").
std::string FormatMs(uint64_t ms);

}  // namespace kvd::kvctl
