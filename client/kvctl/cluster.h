// Running kvctl's cluster commands (ClusterCommand in invocation.h): cluster status,
// promote, transfer-leader, switchover, member add/promote/remove/list, snapshot, ring,
// node join/decommission/pause/resume/status.
//
// Unlike the data commands, these talk to several nodes, each at its own client address
// and without the client library's redirects, because they must know which node
// answered: discovery (STATUS to the nodes at --endpoints, then to the members their
// answers name; see cluster_view.h), ADMIN requests sent to one chosen node, and polls of
// a node's STATUS until the cluster has changed as asked.
//
// Requests that only the leader serves (transfer-leader, switchover, member changes) go to
// the leader discovery found; kvctl follows a NOT_LEADER hint itself (at most
// kMaxRedirects times) and, without a hint, waits kPollInterval and asks again, until
// the --timeout deadline. Other errors are reported as the server sent them (an
// UNAVAILABLE "a membership change is still in progress" is not retried: the operator
// decides).
//
// cluster status also shows multi_leader and dynamo clusters (every member, each asked
// once); ring asks one dynamo node and rebuilds the ring from its answer (ring_view.h).
//
// The node commands change a dynamo ring's membership (ring_change.h): join, decommission,
// pause and resume are one ADMIN request to the first node at --endpoints that answers
// (as a dynamo node: kvctl checks its mode first, since ADMIN add_learner means something
// else to a leader_follower cluster); a ring has no leader, and any member records the
// change and spreads it. With --wait, kvctl then reads every ring member's STATUS every
// kRingPollInterval until every node that answers has finished the change, printing a
// line of progress as it goes. node status reads every ring member twice, --sample apart,
// to measure rates.
//
// Exit codes are those of the data commands: 4 for a refusal (INVALID_ARGUMENT, e.g. an
// unknown node; UNSUPPORTED from a single node; ring and node: a node that is not dynamo),
// 5 for a server-side failure (UNAVAILABLE, e.g. "a ring change is under way"; a lost
// election; a ring change dropped for a concurrent one; a malformed answer), 6 when no
// node at --endpoints answers, or when what kvctl waits for does not happen within
// --timeout.
//
// Everything is written against a ClusterBackend (send requests to given addresses, a
// clock, a sleep) so that the unit tests run it with a scripted fake cluster.
//
// Thread-safety: RunClusterCommand blocks the calling thread; calls share no state.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "client/kvctl/invocation.h"
#include "client/kvctl/output.h"
#include "common/status.h"
#include "common/wire/messages.h"

namespace kvd::kvctl {

// How often kvctl asks a node whether the change it waits for has happened.
inline constexpr std::chrono::milliseconds kPollInterval{100};
// A switchover reports how long writes were paused, so it asks more often.
inline constexpr std::chrono::milliseconds kSwitchoverPollInterval{10};
// NOT_LEADER hints followed for one leader-only request.
inline constexpr int kMaxRedirects = 8;
// Discovery rounds (each asks the members the previous answers named).
inline constexpr int kMaxDiscoveryRounds = 4;

// One request for the node at `endpoint`.
struct NodeCall {
  std::string endpoint;
  wire::Request request;
};

struct ClusterBackend {
  // Sends every call to exactly its endpoint (no redirects, no other endpoint), all at
  // once, and waits for all of them, each at most `timeout`: one result per call, in
  // order, a transport error (kUnavailable, kTimeout, ...) or the node's answer.
  std::function<std::vector<Result<wire::Response>>(const std::vector<NodeCall>& calls,
                                                    std::chrono::milliseconds timeout)>
      call;
  std::function<std::chrono::steady_clock::time_point()> steady_now;
  std::function<void(std::chrono::milliseconds)> sleep;
  // Shows one line of progress (with its '\n') at once, while a command waits (kvctl node
  // join/decommission --wait, table output only). Unset: the lines are kept and printed
  // with the command's output instead.
  std::function<void(const std::string& line)> progress;
};

// Runs invocation.command, a ClusterCommand, and renders its result (see each command's
// --help). REQUIRES: std::holds_alternative<ClusterCommand>(invocation.command).
Output RunClusterCommand(const Invocation& invocation, const ClusterBackend& backend);

// The real backend: one kvd::client::Client per address (created on first use, kept for
// the backend's lifetime), connected before each request so that an address where nothing
// listens fails at once; redirects off; --timeout as the connect and request timeout
// (each call still returns within its own timeout). `progress` becomes
// ClusterBackend::progress.
ClusterBackend MakeClusterBackend(const GlobalOptions& global,
                                  std::function<void(const std::string&)> progress = nullptr);

}  // namespace kvd::kvctl
