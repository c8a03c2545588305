// SingleNode: the core of the `single` topology: one instance, no replication.
//
// There is no distributed decision to make: every request is applied locally, in arrival
// order, and every consistency level is honoured because the one replica is linearizable.
// The core still owns the two pieces of policy the shell must not decide: which
// consistency levels are accepted, and when the TTL expiry sweep runs.
//
// Thread-safety: none (see node.h).
#pragma once

#include "server/topology/node.h"

namespace kvd::topology {

class SingleNode final : public Node {
 public:
  SingleNode(uint64_t node_id, uint32_t expiry_sweep_interval_ms);

  void Tick(uint64_t now_ms) override;
  void OnClientRequest(ClientRequest request) override;
  // Answers UNSUPPORTED: a single node has no cluster to administer.
  void OnAdminRequest(ClientRequest request) override;
  Output TakeOutput() override;
  NodeInfo Inspect() const override;

 private:
  uint64_t node_id_;
  uint32_t expiry_sweep_interval_ms_;
  uint64_t last_sweep_ms_ = 0;
  uint64_t ticks_ = 0;
  Output output_;
};

}  // namespace kvd::topology
