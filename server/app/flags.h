// Command-line flags of kvd (Boost.Program_options). Flags override the config file:
//
//   kvd --config FILE [--node-id N] [--data-dir DIR] [--listen HOST:PORT]
//       [--admin-listen HOST:PORT] [--log-level debug|info|warn|error] [--check-config]
//       [--help] [--version]
//
// --node-id lets one cluster file serve every node: after the overrides, a cluster node
// listens on its cluster.members addresses unless the file or a flag set server.listen /
// server.admin_listen (config::ApplyMemberAddresses), and then the whole config is
// validated again (config::ValidateConfig).
//
// Thread-safety: call once from main.
#pragma once

#include <optional>

#include "common/config/config.h"
#include "common/log.h"

namespace kvd::app {

struct FlagsResult {
  config::Config config;
  LogLevel log_level = LogLevel::kInfo;
  // Set when kvd should exit right away: 0 after --help / --version / a good
  // --check-config, 2 after a usage or config error (already printed to stderr).
  std::optional<int> exit_code;
};

FlagsResult ParseFlags(int argc, char** argv);

}  // namespace kvd::app
