#include <fmt/format.h>

#include "server/topology/node.h"
#include "server/topology/single/single_node.h"

namespace kvd::topology {

Result<std::unique_ptr<Node>> MakeNode(const config::Config& config) {
  switch (config.node.mode) {
    case config::Mode::kSingle:
      return std::unique_ptr<Node>(std::make_unique<SingleNode>(
          config.node.id, config.storage.expiry_sweep_interval_ms));
  }
  return Status::Unsupported(
      fmt::format("node.mode {} is not available", config::ModeName(config.node.mode)));
}

}  // namespace kvd::topology
