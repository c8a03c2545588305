// App: the composition root of kvd (like LogCabin's Server/Globals). It wires the config,
// the storage engine, the topology core, the node runtime, the client listener and the
// admin endpoint together, runs the loop, and shuts down in order on SIGTERM / SIGINT:
// stop accepting, stop reading, answer what was read, write and sync, exit.
//
// Thread-safety: Run is called once, from main.
#pragma once

#include "common/config/config.h"
#include "common/log.h"

namespace kvd::app {

// Exit codes of kvd.
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntimeError = 1;  // could not start (port in use, data dir locked,
                                             // storage failure) or failed at shutdown
inline constexpr int kExitConfigError = 2;   // bad flags or configuration; nothing touched

// Runs the node until a signal stops it. Returns an exit code.
int Run(const config::Config& config, Logger* logger);

}  // namespace kvd::app
