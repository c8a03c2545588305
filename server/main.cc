// kvd: flags -> config -> app. See `kvd --help` and docs/OPERATIONS.md.
#include <csignal>
#include <cstdio>

#include "server/app/app.h"
#include "server/app/flags.h"
#include "server/app/logger.h"

int main(int argc, char** argv) {
  // Writes to a closed socket must return EPIPE, not kill the server; a file-size limit
  // (ulimit -f) must surface as a write error (EFBIG), not SIGXFSZ.
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGXFSZ, SIG_IGN);
  kvd::app::FlagsResult flags = kvd::app::ParseFlags(argc, argv);
  if (flags.exit_code) return *flags.exit_code;
  kvd::app::StreamLogger logger(flags.log_level);
  if (!flags.config.log.file.empty()) {
    if (kvd::Status s = logger.OpenFile(flags.config.log.file); !s.ok()) {
      std::fprintf(stderr, "kvd: %s\n", s.message().c_str());
      return kvd::app::kExitConfigError;
    }
  }
  return kvd::app::Run(flags.config, &logger);
}
