// Node: the one interface every topology core implements (single, and later leader_follower,
// multi_leader, dynamo). A core is a deterministic state machine: no sockets, threads,
// clocks or randomness inside. Its driver feeds it inputs and drains its Output
// (output.h): the node shell (server/node) in production, the simulator in tests.
//
// Inputs:
//   Tick(now_ms)              time passes; now_ms is the driver's wall clock (unix ms)
//   OnClientRequest(request)  a decoded, validated data request from a client
// Outputs:
//   TakeOutput()              moves out the work accumulated since the last call
// Introspection:
//   Inspect()                 role and state for kvctl status, /status and metrics
//
// Thread-safety: none; the driver calls a core from one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/config/config.h"
#include "server/topology/output.h"

namespace kvd::topology {

struct NodeInfo {
  std::string mode;  // "single", ...
  std::string role;  // "standalone", "leader", "follower", ...
  uint64_t node_id = 0;
  uint64_t ticks = 0;
};

class Node {
 public:
  virtual ~Node() = default;

  virtual void Tick(uint64_t now_ms) = 0;
  // REQUIRES: the request is a data request that passed wire::ValidateRequest.
  virtual void OnClientRequest(ClientRequest request) = 0;
  virtual Output TakeOutput() = 0;
  virtual NodeInfo Inspect() const = 0;
};

// The only switch over topologies: builds the core that config.node.mode names.
// Errors: kUnsupported for a mode this build does not have.
Result<std::unique_ptr<Node>> MakeNode(const config::Config& config);

}  // namespace kvd::topology
