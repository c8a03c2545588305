#include "server/topology/single/single_node.h"

#include <fmt/format.h>

namespace kvd::topology {

SingleNode::SingleNode(uint64_t node_id, uint32_t expiry_sweep_interval_ms)
    : node_id_(node_id), expiry_sweep_interval_ms_(expiry_sweep_interval_ms) {}

void SingleNode::Tick(uint64_t now_ms) {
  ++ticks_;
  // Wall clocks can step backwards; a sweep then simply waits for time to catch up.
  if (now_ms >= last_sweep_ms_ + expiry_sweep_interval_ms_) {
    last_sweep_ms_ = now_ms;
    output_.expire.push_back(now_ms);
  }
}

void SingleNode::OnClientRequest(ClientRequest request) {
  // Every consistency level is satisfied by the only replica, so none is rejected; a
  // session token is accepted and needs no waiting, since no replica can be behind.
  ApplyItem item;
  item.ref = request.ref;
  item.now_ms = request.arrival_ms;
  item.request = std::move(request.request);
  output_.apply.push_back(std::move(item));
}

void SingleNode::OnAdminRequest(ClientRequest request) {
  const auto& admin = std::get<wire::AdminRequest>(request.request.body);
  output_.replies.push_back(Reply{
      request.ref,
      wire::Response::Error(
          request.request.request_id, wire::Opcode::kAdmin,
          Status::Unsupported(fmt::format(
              "ADMIN {} needs a replicated topology; this node's mode is single",
              wire::AdminActionName(admin.action))))});
}

Output SingleNode::TakeOutput() {
  Output out = std::move(output_);
  output_ = Output();
  return out;
}

NodeInfo SingleNode::Inspect() const {
  NodeInfo info;
  info.mode = "single";
  info.role = "standalone";
  info.node_id = node_id_;
  info.ticks = ticks_;
  return info;
}

}  // namespace kvd::topology
