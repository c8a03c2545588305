#include <fmt/format.h>

#include "server/topology/dynamo/dynamo_node.h"
#include "server/topology/multi_leader/multi_leader_node.h"
#include "server/topology/node.h"
#include "server/topology/raft/raft_node.h"
#include "server/topology/raft/raft_storage.h"
#include "server/topology/single/single_node.h"

namespace kvd::topology {

void Node::OnPeerMessage(uint64_t, std::string_view) {}
void Node::OnPersisted(uint64_t, uint64_t) {}
void Node::OnSnapshotInstalled(uint64_t, uint64_t, std::string_view) {
  KVD_PANIC("OnSnapshotInstalled: this topology has no snapshots");
}
std::string Node::EncodeSnapshotChunk(uint64_t, uint64_t, uint64_t, uint64_t, std::string_view,
                                      uint64_t, std::string, bool) {
  KVD_PANIC("EncodeSnapshotChunk: this topology has no snapshots");
}

std::string_view TopologyColumn(config::Mode mode) {
  switch (mode) {
    case config::Mode::kSingle: return "";
    case config::Mode::kLeaderFollower: return std::string_view(&raft::kRaftColumn, 1);
    case config::Mode::kMultiLeader: return std::string_view(&multi_leader::kColumn, 1);
    case config::Mode::kDynamo: return std::string_view(&dynamo::kColumn, 1);
  }
  return "";
}

Result<std::unique_ptr<Node>> MakeNode(const config::Config& config, const StoredState& stored,
                                       uint64_t seed) {
  switch (config.node.mode) {
    case config::Mode::kSingle:
      return std::unique_ptr<Node>(std::make_unique<SingleNode>(
          config.node.id, config.storage.expiry_sweep_interval_ms));
    case config::Mode::kLeaderFollower:
      return raft::MakeRaftNode(config, stored, seed);
    case config::Mode::kMultiLeader:
      return multi_leader::MakeMultiLeaderNode(config, stored);
    case config::Mode::kDynamo:
      return dynamo::MakeDynamoNode(config, stored);
  }
  return Status::Unsupported(
      fmt::format("node.mode {} is not available", config::ModeName(config.node.mode)));
}

}  // namespace kvd::topology
