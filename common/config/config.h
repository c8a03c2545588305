// kvd configuration: YAML text -> a typed, validated Config.
//
// ParseConfig reads every field, checks it, and reports ALL bad fields at once, one line
// per field, each naming the field path, the value it found and what is allowed:
//
//   storage.durability: "alwys" is not allowed; expected one of: always, periodic, none
//   limits.max_key_bytes: 0 is out of range; expected an integer from 1 to 65536
//   stroage: unknown field (did you mean "storage"?)
//
// Unknown fields are errors (a typo must not silently fall back to a default). Missing
// fields take the defaults below. The documented reference for every field is
// docs/OPERATIONS.md; the example files are in config/.
//
// Thread-safety: pure functions and plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kvd::config {

enum class Mode { kSingle };
enum class Engine { kLevelDb, kMemory };
enum class Durability { kAlways, kPeriodic, kNone };
enum class LogLevel { kDebug, kInfo, kWarn, kError };

std::string_view ModeName(Mode m);
std::string_view EngineName(Engine e);
std::string_view DurabilityName(Durability d);
std::string_view LogLevelName(LogLevel l);
// Parses "debug" | "info" | "warn" | "error".
[[nodiscard]] bool ParseLogLevel(std::string_view text, LogLevel* out);

// A "host:port" pair as written in the config. Port 0 asks the OS for a free port.
struct Address {
  std::string host;
  uint16_t port = 0;
  std::string ToString() const;
  bool operator==(const Address&) const = default;
};
// Parses "host:port", "[v6]:port" or ":port" (host defaults to 0.0.0.0).
// Errors: kInvalidArgument describing what is wrong with `text`.
Result<Address> ParseAddress(std::string_view text);

struct NodeConfig {
  uint64_t id = 1;                  // node.id: 1..2^63-1, unique in a cluster
  Mode mode = Mode::kSingle;        // node.mode
  std::string data_dir = "./data";  // node.data_dir
  bool operator==(const NodeConfig&) const = default;
};

struct ServerConfig {
  Address listen{"127.0.0.1", 7379};        // server.listen: the client protocol
  Address admin_listen{"127.0.0.1", 7380};  // server.admin_listen: HTTP /metrics, /status
  bool admin_enabled = true;                // server.admin_enabled
  uint32_t max_connections = 10000;         // server.max_connections
  uint32_t idle_timeout_ms = 0;             // server.idle_timeout_ms: 0 = never
  uint32_t shutdown_grace_ms = 5000;        // server.shutdown_grace_ms: drain limit on SIGTERM
  bool operator==(const ServerConfig&) const = default;
};

struct StorageConfig {
  Engine engine = Engine::kLevelDb;           // storage.engine
  Durability durability = Durability::kAlways;  // storage.durability
  uint32_t sync_interval_ms = 1000;           // storage.sync_interval_ms (periodic only)
  uint32_t block_cache_mb = 64;               // storage.block_cache_mb (leveldb)
  uint32_t row_cache_mb = 64;                 // storage.row_cache_mb: decoded records
  uint32_t write_buffer_mb = 16;              // storage.write_buffer_mb (leveldb)
  uint32_t expiry_sweep_interval_ms = 100;    // storage.expiry_sweep_interval_ms
  uint32_t expiry_sweep_max_keys = 1000;      // storage.expiry_sweep_max_keys
  bool operator==(const StorageConfig&) const = default;
};

struct LimitsConfig {
  uint32_t max_key_bytes = 4096;           // limits.max_key_bytes: 1..65536
  uint32_t max_value_bytes = 1u << 20;     // limits.max_value_bytes: 0..32 MiB
  uint32_t max_batch_ops = 1000;           // limits.max_batch_ops: 1..100000
  uint32_t max_batch_bytes = 4u << 20;     // limits.max_batch_bytes: keys + values in a batch
  uint32_t max_scan_limit = 10000;         // limits.max_scan_limit: 1..1000000
  uint32_t max_frame_bytes = 8u << 20;     // limits.max_frame_bytes: derived floor, 64 MiB cap
  uint32_t max_inflight_per_connection = 1024;  // limits.max_inflight_per_connection
  bool operator==(const LimitsConfig&) const = default;
};

struct LogConfig {
  LogLevel level = LogLevel::kInfo;  // log.level
  std::string file;                  // log.file: empty = stderr
  bool operator==(const LogConfig&) const = default;
};

struct Config {
  NodeConfig node;
  ServerConfig server;
  StorageConfig storage;
  LimitsConfig limits;
  LogConfig log;
  bool operator==(const Config&) const = default;
};

// Parses and validates YAML text. An empty document yields the defaults.
// Errors: kInvalidArgument whose message holds one line per bad field (see above); a
// YAML syntax error is reported with its line and column.
Result<Config> ParseConfig(std::string_view yaml_text);

// Re-checks cross-field rules after command-line overrides have been applied (for
// example that max_frame_bytes can hold a maximal value). Same error format.
Status ValidateConfig(const Config& config);

}  // namespace kvd::config
