#include "server/app/flags.h"

#include <fmt/format.h>

#include <boost/program_options.hpp>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string_view>

#include "server/app/app.h"

namespace kvd::app {

namespace po = boost::program_options;

namespace {

constexpr const char* kUsage = R"(kvd: a distributed key-value database node

Usage: kvd --config FILE [options]

Starts one kvd node as the configuration describes (topology, storage, limits) and
serves clients until SIGTERM or SIGINT, which drain in-flight requests and exit 0.
Flags override the matching config fields.

Options)";

constexpr const char* kExamples = R"(
Examples:
  kvd --config config/single.yaml
  kvd --config config/single.yaml --data-dir /var/lib/kvd --listen 0.0.0.0:7379
  kvd --config config/single.yaml --check-config
  kvd --config config/leader-follower-3.yaml --node-id 2 --data-dir ./data/lf-2

A cluster node listens on the client and admin addresses of its cluster.members entry
unless server.listen / server.admin_listen (or --listen / --admin-listen) are given.

Exit status: 0 clean shutdown; 1 could not start or failed (port in use, data dir
locked, storage error); 2 bad flags or configuration (nothing was touched).
Reference for every config field: docs/OPERATIONS.md.
)";

LogLevel ToLogLevel(config::LogLevel l) {
  switch (l) {
    case config::LogLevel::kDebug: return LogLevel::kDebug;
    case config::LogLevel::kInfo: return LogLevel::kInfo;
    case config::LogLevel::kWarn: return LogLevel::kWarn;
    case config::LogLevel::kError: return LogLevel::kError;
  }
  return LogLevel::kInfo;
}

FlagsResult Fail(std::string message) {
  std::cerr << "kvd: " << message << "\n";
  FlagsResult r;
  r.exit_code = kExitConfigError;
  return r;
}

// Applies a HOST:PORT override, naming the flag in the error; *set records that the
// address was given explicitly (it then wins over the node's cluster.members entry).
bool OverrideAddress(const po::variables_map& vm, const char* flag, config::Address* out,
                     bool* set, std::string* error) {
  if (!vm.count(flag)) return true;
  Result<config::Address> a = config::ParseAddress(vm[flag].as<std::string>());
  if (!a.ok()) {
    *error = fmt::format("--{}: {}", flag, a.status().message());
    return false;
  }
  *out = *a;
  *set = true;
  return true;
}

// Applies --node-id: a decimal integer in node.id's range (1 .. 2^63-1).
bool OverrideNodeId(const po::variables_map& vm, uint64_t* out, std::string* error) {
  if (!vm.count("node-id")) return true;
  constexpr uint64_t kMaxNodeId = (uint64_t{1} << 63) - 1;
  const std::string& text = vm["node-id"].as<std::string>();
  constexpr std::string_view kDigits = "0123456789";
  bool digits = !text.empty() && text.find_first_not_of(kDigits) == std::string::npos;
  bool negative = text.size() > 1 && text[0] == '-' &&
                  text.find_first_not_of(kDigits, 1) == std::string::npos;
  if (!digits && !negative) {
    *error = fmt::format("--node-id: \"{}\" is not an integer; expected an integer from 1 to {}",
                         text, kMaxNodeId);
    return false;
  }
  uint64_t id = 0;
  // Plain digits: from_chars either succeeds or reports that they overflow.
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (negative || ec != std::errc() || id < 1 || id > kMaxNodeId) {
    *error = fmt::format("--node-id: {} is out of range; expected an integer from 1 to {}", text,
                         kMaxNodeId);
    return false;
  }
  *out = id;
  return true;
}

}  // namespace

FlagsResult ParseFlags(int argc, char** argv) {
  po::options_description desc(kUsage);
  desc.add_options()
      ("help,h", "show this help and exit")
      ("version", "print the version and exit")
      ("config,c", po::value<std::string>()->value_name("FILE"),
       "YAML config file (required; see config/*.yaml)")
      ("node-id", po::value<std::string>()->value_name("N"),
       "override node.id (a member of cluster.members)")
      ("data-dir", po::value<std::string>()->value_name("DIR"), "override node.data_dir")
      ("listen", po::value<std::string>()->value_name("HOST:PORT"), "override server.listen")
      ("admin-listen", po::value<std::string>()->value_name("HOST:PORT"),
       "override server.admin_listen (HTTP /metrics, /status)")
      ("log-level", po::value<std::string>()->value_name("LEVEL"),
       "override log.level: debug, info, warn or error")
      ("check-config", "validate the config (after overrides), print it is OK and exit");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return Fail(fmt::format("{} (see kvd --help)", e.what()));
  }
  FlagsResult r;
  if (vm.count("help")) {
    std::cout << desc << kExamples;
    r.exit_code = kExitOk;
    return r;
  }
  if (vm.count("version")) {
    std::cout << "kvd " << KVD_VERSION << " (wire protocol 1)\n";
    r.exit_code = kExitOk;
    return r;
  }
  if (!vm.count("config")) return Fail("--config FILE is required (see kvd --help)");
  std::string path = vm["config"].as<std::string>();
  std::ifstream in(path);
  if (!in) return Fail(fmt::format("cannot read config file {}", path));
  std::stringstream text;
  text << in.rdbuf();
  Result<config::Config> parsed = config::ParseConfig(text.str());
  if (!parsed.ok()) {
    std::cerr << "kvd: invalid config " << path << ":\n";
    std::istringstream lines(parsed.status().message());
    for (std::string line; std::getline(lines, line);) std::cerr << "  " << line << "\n";
    r.exit_code = kExitConfigError;
    return r;
  }
  r.config = std::move(parsed).value();
  std::string error;
  if (!OverrideNodeId(vm, &r.config.node.id, &error)) return Fail(error);
  if (vm.count("data-dir")) {
    r.config.node.data_dir = vm["data-dir"].as<std::string>();
    if (r.config.node.data_dir.empty()) return Fail("--data-dir must not be empty");
  }
  config::ServerConfig& server = r.config.server;
  if (!OverrideAddress(vm, "listen", &server.listen, &server.listen_set, &error) ||
      !OverrideAddress(vm, "admin-listen", &server.admin_listen, &server.admin_listen_set,
                       &error)) {
    return Fail(error);
  }
  if (vm.count("log-level")) {
    std::string level = vm["log-level"].as<std::string>();
    if (!config::ParseLogLevel(level, &r.config.log.level)) {
      return Fail(fmt::format(
          "--log-level: \"{}\" is not allowed; expected one of: debug, info, warn, error", level));
    }
  }
  // After every override: --node-id picks the member entry, --listen wins over it.
  config::ApplyMemberAddresses(&r.config);
  // The cross-field rules (node.id in cluster.members, listen clashes) run here again.
  if (Status s = config::ValidateConfig(r.config); !s.ok()) {
    std::cerr << "kvd: invalid config " << path << " (after flags):\n";
    std::istringstream lines(s.message());
    for (std::string line; std::getline(lines, line);) std::cerr << "  " << line << "\n";
    r.exit_code = kExitConfigError;
    return r;
  }
  r.log_level = ToLogLevel(r.config.log.level);
  if (vm.count("check-config")) {
    std::cout << "config " << path << " is valid\n";
    r.exit_code = kExitOk;
  }
  return r;
}

}  // namespace kvd::app
