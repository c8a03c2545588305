// The consistent-hash ring of a dynamo cluster as kvctl shows it (`kvctl ring`): the pure
// half; cluster.cc asks the node.
//
// kvctl does not ask the servers for the ring itself. A dynamo node's STATUS names the
// ring's members (dynamo.members, the live ring membership with each member's zone and
// role; from servers that do not send it, dynamo.configured_members) and tokens_per_node,
// and every node's tokens derive from its id alone (ring::TokenFor), so ring::Ring::Make
// over those gives the very ring every server computes. From it kvctl reads each node's
// tokens and the share of the keys it holds:
//   primary share   the fraction of the circle whose first replica the node is
//                   (Ring::Ownership(1)); over all nodes these sum to 1.
//   replica share   the fraction of the keys for which the node is one of the N replicas
//                   (Ring::Ownership(N)); over all nodes these sum to N (to the number of
//                   nodes if there are fewer than N).
// Keys hash uniformly onto the circle, so a fraction of the circle is that fraction of the
// keys. The up/down states are the answering node's failure detector's.
//
// During a ring change (kvctl node join/decommission), a member is joining or leaving.
// The shares are then those of the ring the change leads to: the members that are not
// leaving (a joining node's share is what it will hold once it has streamed; a leaving
// node's is 0).
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "client/kvctl/cluster_view.h"
#include "client/kvctl/invocation.h"
#include "client/kvctl/output.h"
#include "common/status.h"

namespace kvd::kvctl {

struct RingNodeRow {
  uint64_t id = 0;
  std::string client;            // "" if not configured
  std::string zone;              // "" if unlabelled
  std::vector<uint64_t> tokens;  // ascending
  double primary_share = 0;      // 0..1, see above
  double replica_share = 0;      // 0..1, see above
  // self (the node that answered), up or down as it sees the node, or unknown (it does
  // not report the node among its peers).
  std::string state;
  // Its role in the ring: normal, joining or leaving (normal when the node reports only
  // configured_members).
  std::string ring_role = "normal";
  // STATE as the table shows it: state, then ", joining" or ", leaving" during a change.
  std::string StateText() const;
};

struct RingView {
  uint64_t from = 0;  // the node that answered
  DynamoSettings settings;
  uint32_t tokens_per_node = 0;
  std::vector<RingNodeRow> nodes;  // ascending id
  size_t up = 0;                   // nodes whose state is self or up
  uint64_t ring_version = 0;       // 0: not reported
  uint64_t transition = 0;         // != 0: a ring change is under way
};

// The ring `status` describes. REQUIRES: status.is_dynamo().
// Errors (kProtocolError): `status` reports no replicas, a tokens_per_node out of range, or
// members ring::Ring::Make refuses (none that is not leaving, a repeated id, ...).
Result<RingView> BuildRingView(const NodeStatus& status);

// `kvctl ring` output (see its --help). With show_tokens, the table lists each node's
// tokens under its row; raw and json ignore it (json always lists them).
Output FormatRing(const RingView& view, OutputFormat format, bool show_tokens);

}  // namespace kvd::kvctl
