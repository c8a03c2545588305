// Unit tests for common/config: YAML text -> validated Config.
//
// Goal: an operator who makes a mistake in a config file gets every mistake reported at
// once, one line per field, naming the field, the value and what is allowed; and a correct
// file (including the shipped config/single.yaml) yields exactly the values written, with
// the documented defaults for everything left out. Method: feed ParseConfig small YAML
// documents, one per kind of error, and compare the whole error message (not a substring),
// because the wording is a user interface that docs/OPERATIONS.md and the integration
// tests rely on; field ranges are checked at both edges for every integer field from one
// table. ParseAddress, the name functions and ValidateConfig (used after command-line
// overrides) are tested directly. A failure means either a config that kvd would
// misread or reject wrongly, or an error message that changed: if the change was
// intended, update the expected text here and in docs/OPERATIONS.md together.
#include "common/config/config.h"
#include "tests/unit/config/config_test_util.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace kvd::config {
namespace {

// A document from "section.key" -> value; sections come out in map order.
std::string Document(const std::map<std::string, std::string>& fields) {
  std::map<std::string, std::vector<std::string>> sections;
  for (const auto& [path, value] : fields) {
    size_t dot = path.find('.');
    sections[path.substr(0, dot)].push_back(path.substr(dot + 1) + ": " + value);
  }
  std::string yaml;
  for (const auto& [section, lines] : sections) {
    yaml += section + ":\n";
    for (const std::string& line : lines) yaml += "  " + line + "\n";
  }
  return yaml;
}

struct IntField {
  const char* path;
  uint64_t min;
  uint64_t max;
};

// Must match the table at the top of common/config/config.cc and docs/OPERATIONS.md.
const IntField kIntFields[] = {
    {"node.id", 1, 9223372036854775807u},          {"server.max_connections", 1, 1000000},
    {"server.idle_timeout_ms", 0, 86400000},       {"server.shutdown_grace_ms", 0, 600000},
    {"storage.sync_interval_ms", 1, 60000},        {"storage.block_cache_mb", 0, 65536},
    {"storage.row_cache_mb", 0, 65536},
    {"storage.write_buffer_mb", 1, 4096},          {"storage.expiry_sweep_interval_ms", 1, 60000},
    {"storage.expiry_sweep_max_keys", 1, 1000000}, {"limits.max_key_bytes", 1, 65536},
    {"limits.max_value_bytes", 0, 33554432},       {"limits.max_batch_ops", 1, 100000},
    {"limits.max_batch_bytes", 1, 67108864},       {"limits.max_scan_limit", 1, 1000000},
    {"limits.max_frame_bytes", 4096, 67108864},    {"limits.max_inflight_per_connection", 1, 65536},
    {"raft.election_timeout_ms", 50, 60000},
    {"raft.heartbeat_interval_ms", 10, 10000},
    {"raft.session_wait_ms", 0, 60000},
    {"raft.snapshot_threshold_entries", 0, 100000000},
    {"raft.snapshot_trailing_entries", 0, 100000000},
    {"raft.max_append_entries", 1, 4096},
    {"raft.max_inflight_appends", 1, 1024},
};

// Limits that satisfy the frame rule (and raft timings that satisfy the heartbeat rule)
// whatever single limit a test then changes.
const std::map<std::string, std::string> kRoomyLimits = {
    {"limits.max_key_bytes", "1"},
    {"limits.max_value_bytes", "0"},
    {"limits.max_frame_bytes", "67108864"},
    {"raft.election_timeout_ms", "60000"},
    {"raft.heartbeat_interval_ms", "10"},
};

}  // namespace

TEST_CASE("config: empty documents yield the defaults", "[unit][config]") {
  auto text = GENERATE(as<std::string>{}, "", "~", "\n\n", "# only a comment\n", "---\n", "null\n");
  INFO("document: " << text);
  Config c = Parse(text);
  CHECK(c == Config{});
  CHECK(c.node.id == 1);
  CHECK(c.node.mode == Mode::kSingle);
  CHECK(c.node.data_dir == "./data");
  CHECK(c.server.listen == Address{"127.0.0.1", 7379});
  CHECK(c.server.admin_listen == Address{"127.0.0.1", 7380});
  CHECK(c.server.admin_enabled);
  CHECK(c.storage.engine == Engine::kLevelDb);
  CHECK(c.storage.durability == Durability::kAlways);
  CHECK(c.limits.max_frame_bytes == 8u << 20);
  CHECK(c.log.level == LogLevel::kInfo);
  CHECK(c.log.file.empty());
  CHECK(ValidateConfig(c).ok());
}

TEST_CASE("config: empty sections and an empty log.file take the defaults", "[unit][config]") {
  Config c = Parse("node:\nserver:\nstorage: ~\nlimits: {}\nlog:\n  file:\n");
  CHECK(c == Config{});
}

TEST_CASE("config: a full valid document sets every field", "[unit][config]") {
  Config c = Parse(R"(
node:
  id: 9223372036854775807
  mode: single
  data_dir: /var/lib/kvd
server:
  listen: "[::1]:9000"
  admin_listen: :9001
  admin_enabled: false
  max_connections: 12
  idle_timeout_ms: 30000
  shutdown_grace_ms: 0
storage:
  engine: memory
  durability: periodic
  sync_interval_ms: 250
  block_cache_mb: 0
  row_cache_mb: 3
  write_buffer_mb: 4
  expiry_sweep_interval_ms: 50
  expiry_sweep_max_keys: 77
limits:
  max_key_bytes: 100
  max_value_bytes: 2000
  max_batch_ops: 3
  max_batch_bytes: 4000
  max_scan_limit: 5
  max_frame_bytes: 4096
  max_inflight_per_connection: 6
log:
  level: debug
  file: /tmp/kvd.log
)");
  CHECK(c.node.id == 9223372036854775807u);
  CHECK(c.node.mode == Mode::kSingle);
  CHECK(c.node.data_dir == "/var/lib/kvd");
  CHECK(c.server.listen == Address{"::1", 9000});
  CHECK(c.server.admin_listen == Address{"0.0.0.0", 9001});
  CHECK_FALSE(c.server.admin_enabled);
  CHECK(c.server.max_connections == 12);
  CHECK(c.server.idle_timeout_ms == 30000);
  CHECK(c.server.shutdown_grace_ms == 0);
  CHECK(c.storage.engine == Engine::kMemory);
  CHECK(c.storage.durability == Durability::kPeriodic);
  CHECK(c.storage.sync_interval_ms == 250);
  CHECK(c.storage.block_cache_mb == 0);
  CHECK(c.storage.row_cache_mb == 3);
  CHECK(c.storage.write_buffer_mb == 4);
  CHECK(c.storage.expiry_sweep_interval_ms == 50);
  CHECK(c.storage.expiry_sweep_max_keys == 77);
  CHECK(c.limits.max_key_bytes == 100);
  CHECK(c.limits.max_value_bytes == 2000);
  CHECK(c.limits.max_batch_ops == 3);
  CHECK(c.limits.max_batch_bytes == 4000);
  CHECK(c.limits.max_scan_limit == 5);
  CHECK(c.limits.max_frame_bytes == 4096);
  CHECK(c.limits.max_inflight_per_connection == 6);
  CHECK(c.log.level == LogLevel::kDebug);
  CHECK(c.log.file == "/tmp/kvd.log");
}

TEST_CASE("config: config/single.yaml is valid and matches the quick start", "[unit][config]") {
  std::string path = std::string(KVD_SOURCE_DIR) + "/config/single.yaml";
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();

  Config c = Parse(text);
  CHECK(ValidateConfig(c).ok());
  CHECK(c.node.mode == Mode::kSingle);
  CHECK(c.node.data_dir == "./data/single");
  CHECK(c.server.listen == Address{"127.0.0.1", 7379});
  CHECK(c.server.admin_listen == Address{"127.0.0.1", 7380});
  CHECK(c.server.admin_enabled);
  CHECK(c.storage.durability == Durability::kAlways);
  // Every field is written out, so apart from data_dir it must equal the defaults: the
  // example documents the defaults, and drift between the two would mislead readers.
  Config expected;
  expected.node.data_dir = "./data/single";
  expected.server.listen_set = true;  // written out, so set by the file
  expected.server.admin_listen_set = true;
  CHECK(c == expected);
  // And every field must really be present (none left to a default by accident).
  for (const char* key : {"id:",
                          "mode:",
                          "data_dir:",
                          "listen:",
                          "admin_listen:",
                          "admin_enabled:",
                          "max_connections:",
                          "idle_timeout_ms:",
                          "shutdown_grace_ms:",
                          "engine:",
                          "durability:",
                          "sync_interval_ms:",
                          "block_cache_mb:",
                          "row_cache_mb:",
                          "write_buffer_mb:",
                          "expiry_sweep_interval_ms:",
                          "expiry_sweep_max_keys:",
                          "max_key_bytes:",
                          "max_value_bytes:",
                          "max_batch_ops:",
                          "max_batch_bytes:",
                          "max_scan_limit:",
                          "max_frame_bytes:",
                          "max_inflight_per_connection:",
                          "level:",
                          "file:"}) {
    INFO(key);
    CHECK(text.find(key) != std::string::npos);
  }
}

TEST_CASE("config: unknown field with a suggestion", "[unit][config]") {
  CHECK(ErrorOf("stroage:\n  engine: memory\n") ==
        "stroage: unknown field (did you mean \"storage\"?)");
  CHECK(ErrorOf("limits:\n  max_key_byte: 10\n") ==
        "limits.max_key_byte: unknown field (did you mean \"max_key_bytes\"?)");
  CHECK(ErrorOf("Node:\n  id: 2\n") == "Node: unknown field (did you mean \"node\"?)");
  // A field in the wrong place points at where it belongs.
  CHECK(ErrorOf("listen: 127.0.0.1:1\n") ==
        "listen: unknown field (did you mean \"server.listen\"?)");
  CHECK(ErrorOf("node:\n  durability: none\n") ==
        "node.durability: unknown field (did you mean \"storage.durability\"?)");
}

TEST_CASE("config: unknown field far from any name has no suggestion", "[unit][config]") {
  CHECK(ErrorOf("colour: blue\n") == "colour: unknown field");
  CHECK(ErrorOf("server:\n  threads: 4\n") == "server.threads: unknown field");
}

TEST_CASE("config: a value outside an enum", "[unit][config]") {
  CHECK(ErrorOf("storage:\n  durability: alwys\n") ==
        "storage.durability: \"alwys\" is not allowed; expected one of: always, periodic, none");
  CHECK(ErrorOf("storage:\n  engine: rocksdb\n") ==
        "storage.engine: \"rocksdb\" is not allowed; expected one of: leveldb, memory");
  CHECK(ErrorOf("log:\n  level: INFO\n") ==
        "log.level: \"INFO\" is not allowed; expected one of: debug, info, warn, error");
}

TEST_CASE("config: an unknown topology is named with the ones there are", "[unit][config]") {
  CHECK(ErrorOf("node:\n  mode: raft\n") ==
        "node.mode: \"raft\" is not allowed; expected one of: single, leader_follower, "
        "multi_leader, dynamo");
}

TEST_CASE("config: every integer field accepts its edges and rejects beyond them",
          "[unit][config]") {
  for (const IntField& field : kIntFields) {
    INFO(field.path);
    std::string range = "expected an integer from " + std::to_string(field.min) + " to " +
                        std::to_string(field.max);
    for (uint64_t ok : {field.min, field.max}) {
      auto fields = kRoomyLimits;
      fields[field.path] = std::to_string(ok);
      CHECK(ParseConfig(Document(fields)).ok());
    }
    auto fields = kRoomyLimits;
    fields[field.path] = std::to_string(field.max + 1);
    CHECK(ErrorOf(Document(fields)) == std::string(field.path) + ": " +
                                           std::to_string(field.max + 1) + " is out of range; " +
                                           range);
    if (field.min > 0) {
      fields[field.path] = std::to_string(field.min - 1);
      CHECK(ErrorOf(Document(fields)) == std::string(field.path) + ": " +
                                             std::to_string(field.min - 1) + " is out of range; " +
                                             range);
    }
  }
}

TEST_CASE("config: out of range", "[unit][config]") {
  CHECK(ErrorOf("limits:\n  max_key_bytes: 0\n") ==
        "limits.max_key_bytes: 0 is out of range; expected an integer from 1 to 65536");
}

TEST_CASE("config: negative integers are out of range", "[unit][config]") {
  CHECK(ErrorOf("server:\n  shutdown_grace_ms: -1\n") ==
        "server.shutdown_grace_ms: -1 is out of range; expected an integer from 0 to 600000");
  CHECK(ErrorOf("node:\n  id: -5\n") ==
        "node.id: -5 is out of range; expected an integer from 1 to 9223372036854775807");
}

TEST_CASE("config: integers beyond 64 bits are out of range, not wrapped", "[unit][config]") {
  CHECK(ErrorOf("node:\n  id: 9223372036854775808\n") ==
        "node.id: 9223372036854775808 is out of range; expected an integer from 1 to "
        "9223372036854775807");
  CHECK(ErrorOf("node:\n  id: 18446744073709551617\n") ==
        "node.id: 18446744073709551617 is out of range; expected an integer from 1 to "
        "9223372036854775807");
  // 2^32 + 1 would wrap to 1 in a 32-bit field.
  CHECK(ErrorOf("limits:\n  max_batch_ops: 4294967297\n") ==
        "limits.max_batch_ops: 4294967297 is out of range; expected an integer from 1 to 100000");
}

TEST_CASE("config: not an integer", "[unit][config]") {
  CHECK(ErrorOf("node:\n  id: abc\n") == "node.id: \"abc\" is not an integer");
  auto text =
      GENERATE(as<std::string>{}, "1.5", "1e3", "0x10", "12abc", "\"\"", "+", ".inf", "1_000");
  INFO(text);
  std::string shown = text == "\"\"" ? "" : text;
  CHECK(ErrorOf("limits:\n  max_scan_limit: " + text + "\n") ==
        "limits.max_scan_limit: \"" + shown + "\" is not an integer");
}

TEST_CASE("config: integers may carry a plus sign, leading zeros or quotes", "[unit][config]") {
  Config c = Parse("limits:\n  max_scan_limit: +0100\n  max_batch_ops: \"7\"\n");
  CHECK(c.limits.max_scan_limit == 100);
  CHECK(c.limits.max_batch_ops == 7);
}

TEST_CASE("config: booleans are exactly true or false", "[unit][config]") {
  CHECK(Parse("server:\n  admin_enabled: false\n").server.admin_enabled == false);
  auto text = GENERATE(as<std::string>{}, "yes", "no", "on", "True", "1", "y");
  CHECK(ErrorOf("server:\n  admin_enabled: " + text + "\n") ==
        "server.admin_enabled: \"" + text + "\" is not allowed; expected true or false");
}

TEST_CASE("config: a bad address", "[unit][config]") {
  CHECK(ErrorOf("server:\n  listen: localhost\n") ==
        "server.listen: \"localhost\" is not a valid address; expected host:port");
  CHECK(ErrorOf("server:\n  admin_listen: 127.0.0.1:70000\n") ==
        "server.admin_listen: \"127.0.0.1:70000\" is not a valid address; the port 70000 is "
        "out of range; expected 0 to 65535");
  CHECK(ErrorOf("server:\n  listen: 7379\n") ==
        "server.listen: \"7379\" is not a valid address; expected host:port (\":7379\" listens "
        "on all interfaces)");
}

TEST_CASE("config: a value of the wrong YAML type", "[unit][config]") {
  CHECK(ErrorOf("storage: leveldb\n") == "storage: expected a mapping, got a scalar");
  CHECK(ErrorOf("limits:\n  - max_key_bytes: 1\n") == "limits: expected a mapping, got a sequence");
  CHECK(ErrorOf("node:\n  id: [1, 2]\n") ==
        "node.id: expected an integer from 1 to 9223372036854775807, got a sequence");
  CHECK(ErrorOf("server:\n  listen: {host: a, port: 1}\n") ==
        "server.listen: expected host:port, got a mapping");
  CHECK(ErrorOf("storage:\n  durability: [always]\n") ==
        "storage.durability: expected one of: always, periodic, none, got a sequence");
  CHECK(ErrorOf("server:\n  admin_enabled: {}\n") ==
        "server.admin_enabled: expected true or false, got a mapping");
  CHECK(ErrorOf("log:\n  file: [a]\n") == "log.file: expected a path, got a sequence");
}

TEST_CASE("config: a field with no value is an error unless empty is allowed", "[unit][config]") {
  CHECK(ErrorOf("node:\n  id:\n") ==
        "node.id: expected an integer from 1 to 9223372036854775807, got an empty value");
  CHECK(ErrorOf("storage:\n  durability: ~\n") ==
        "storage.durability: expected one of: always, periodic, none, got an empty value");
  CHECK(ErrorOf("node:\n  data_dir:\n") ==
        "node.data_dir: expected a non-empty path, got an empty value");
  CHECK(Parse("log:\n  file: ~\n").log.file.empty());
}

TEST_CASE("config: the top level must be a mapping", "[unit][config]") {
  CHECK(ErrorOf("- node\n- server\n") ==
        "config: expected a mapping at the top level, got a sequence");
  CHECK(ErrorOf("just text\n") == "config: expected a mapping at the top level, got a scalar");
}

TEST_CASE("config: a YAML syntax error names its line and column", "[unit][config]") {
  // Line 5 is indented as if "engine: leveldb" opened a mapping.
  CHECK(ErrorOf("node:\n  id: 1\nstorage:\n  engine: leveldb\n    durability: always\n") ==
        "config: YAML syntax error at line 5, column 15: illegal map value");
  CHECK(ErrorOf("node:\n  id: 1\n  mode: [single\n") ==
        "config: YAML syntax error at line 4, column 1: end of sequence flow not found");
}

TEST_CASE("config: an empty data_dir or a NUL in a path is rejected", "[unit][config]") {
  CHECK(ErrorOf("node:\n  data_dir: \"\"\n") ==
        "node.data_dir: \"\" is not allowed; expected a non-empty path");
  CHECK(ErrorOf("log:\n  file: \"a\\0b\"\n") ==
        "log.file: \"a\\x00b\" is not allowed; a path must not contain a NUL byte");
}

TEST_CASE("config: a field given twice is an error", "[unit][config]") {
  CHECK(ErrorOf("node:\n  id: 1\n  id: 2\n") == "node.id: is given more than once; keep one");
  CHECK(ErrorOf("log:\n  level: info\nlog:\n  level: debug\n") ==
        "log: is given more than once; keep one");
}

TEST_CASE("config: more than one YAML document is an error", "[unit][config]") {
  CHECK(ErrorOf("node:\n  id: 1\n---\nnode:\n  id: 2\n") ==
        "config: expected one YAML document, found 2 (remove the extra '---')");
}

TEST_CASE("config: cross-field: the frame must hold a maximal key (twice) and value", "[unit][config]") {
  CHECK(ErrorOf("limits:\n  max_frame_bytes: 65536\n") ==
        "limits.max_frame_bytes: 65536 is too small to hold a maximal item; expected at least "
        "1057792 (2 x limits.max_key_bytes 4096 + limits.max_value_bytes 1048576 + 1024)");
  // Exactly the minimum is enough.
  CHECK(ParseConfig("limits:\n  max_key_bytes: 1000\n  max_value_bytes: 1072\n"
                    "  max_frame_bytes: 4096\n")
            .ok());
  CHECK(ErrorOf("limits:\n  max_key_bytes: 1000\n  max_value_bytes: 1073\n"
                "  max_frame_bytes: 4096\n") ==
        "limits.max_frame_bytes: 4096 is too small to hold a maximal item; expected at least "
        "4097 (2 x limits.max_key_bytes 1000 + limits.max_value_bytes 1073 + 1024)");
}

TEST_CASE("config: cross-field rules skip fields that are already wrong", "[unit][config]") {
  // max_value_bytes is rejected, so the frame rule would otherwise judge 4096 against the
  // default value limit, which the operator never wrote.
  CHECK(ErrorOf("limits:\n  max_value_bytes: -1\n  max_frame_bytes: 4096\n") ==
        "limits.max_value_bytes: -1 is out of range; expected an integer from 0 to 33554432");
}

TEST_CASE("config: cross-field: admin_listen must differ from listen", "[unit][config]") {
  CHECK(ErrorOf("server:\n  listen: 127.0.0.1:7000\n  admin_listen: 127.0.0.1:7000\n") ==
        "server.admin_listen: \"127.0.0.1:7000\" clashes with server.listen "
        "\"127.0.0.1:7000\"; expected a different address while server.admin_enabled is true");
  CHECK(ErrorOf("server:\n  listen: :7000\n  admin_listen: 127.0.0.1:7000\n") ==
        "server.admin_listen: \"127.0.0.1:7000\" clashes with server.listen "
        "\"0.0.0.0:7000\"; expected a different address while server.admin_enabled is true");
  // Allowed: the admin endpoint is off, the OS picks both ports, or the hosts differ.
  CHECK(ParseConfig("server:\n  listen: 127.0.0.1:7000\n  admin_listen: 127.0.0.1:7000\n"
                    "  admin_enabled: false\n")
            .ok());
  CHECK(ParseConfig("server:\n  listen: 127.0.0.1:0\n  admin_listen: 127.0.0.1:0\n").ok());
  CHECK(ParseConfig("server:\n  listen: 127.0.0.1:7000\n  admin_listen: 127.0.0.2:7000\n").ok());
}

TEST_CASE("config: several errors are reported together, one line each", "[unit][config]") {
  std::string message = ErrorOf(R"(
stroage:
  engine: memory
node:
  id: abc
  mode: dynamic
storage:
  durability: alwys
limits:
  max_key_bytes: 0
  max_frame_bytes: 4096
server:
  listen: localhost
  admin_enabled: yes
)");
  CHECK(message ==
        "stroage: unknown field (did you mean \"storage\"?)\n"
        "node.id: \"abc\" is not an integer\n"
        "node.mode: \"dynamic\" is not allowed; expected one of: single, leader_follower, "
        "multi_leader, dynamo\n"
        "storage.durability: \"alwys\" is not allowed; expected one of: always, periodic, none\n"
        "limits.max_key_bytes: 0 is out of range; expected an integer from 1 to 65536\n"
        "server.listen: \"localhost\" is not a valid address; expected host:port\n"
        "server.admin_enabled: \"yes\" is not allowed; expected true or false");
}

TEST_CASE("config: several errors include cross-field ones at the end", "[unit][config]") {
  CHECK(ErrorOf("log:\n  level: loud\nlimits:\n  max_frame_bytes: 4096\n") ==
        "log.level: \"loud\" is not allowed; expected one of: debug, info, warn, error\n"
        "limits.max_frame_bytes: 4096 is too small to hold a maximal item; expected at least "
        "1057792 (2 x limits.max_key_bytes 4096 + limits.max_value_bytes 1048576 + 1024)");
}

TEST_CASE("config: long values are cut in messages", "[unit][config]") {
  std::string long_value(1000, 'x');
  CHECK(ErrorOf("log:\n  level: " + long_value + "\n") ==
        "log.level: \"" + std::string(64, 'x') +
            "\"... (1000 bytes) is not allowed; expected one of: debug, info, warn, error");
}

TEST_CASE("config: no exception escapes on hostile input", "[unit][config]") {
  std::vector<std::string> inputs = {
      std::string(100000, '['),
      std::string(100000, '{'),
      "node: {id: 1",
      "\t\t: :\n",
      std::string("node:\n  id: \0\xff\n", 15),
      "&a [*a]",
      "node: *missing\n",
      "? [a, b]\n: c\n",
      "node:\n  ? {x: 1}\n  : 2\n",
      "!!binary AAAA\n",
      std::string(5000, 'k') + ": 1\n",
      "\xef\xbb\xbfnode:\n  id: 3\n",  // byte-order mark
  };
  for (const std::string& input : inputs) {
    INFO(input.substr(0, 40));
    Result<Config> r = Config{};
    REQUIRE_NOTHROW(r = ParseConfig(input));
    if (!r.ok()) CHECK(r.status().code() == Code::kInvalidArgument);
  }
}

TEST_CASE("config: a non-scalar field name is reported", "[unit][config]") {
  CHECK(ErrorOf("node:\n  ? [a]\n  : 2\n") ==
        "node: a field name must be a scalar, got a sequence");
}

TEST_CASE("config: ParseAddress accepts the documented forms", "[unit][config]") {
  struct Case {
    const char* text;
    Address want;
    const char* round_trip;
  };
  auto c = GENERATE(values<Case>({
      {"127.0.0.1:7379", {"127.0.0.1", 7379}, "127.0.0.1:7379"},
      {"localhost:0", {"localhost", 0}, "localhost:0"},
      {"db-1.example.com:65535", {"db-1.example.com", 65535}, "db-1.example.com:65535"},
      {":7379", {"0.0.0.0", 7379}, "0.0.0.0:7379"},
      {"[::1]:7379", {"::1", 7379}, "[::1]:7379"},
      {"[::]:1", {"::", 1}, "[::]:1"},
      {"[fe80::1%eth0]:80", {"fe80::1%eth0", 80}, "[fe80::1%eth0]:80"},
  }));
  INFO(c.text);
  Result<Address> a = ParseAddress(c.text);
  REQUIRE(a.ok());
  CHECK(*a == c.want);
  CHECK(a->ToString() == c.round_trip);
  Result<Address> again = ParseAddress(a->ToString());
  REQUIRE(again.ok());
  CHECK(*again == *a);
}

TEST_CASE("config: ParseAddress explains what is wrong", "[unit][config]") {
  struct Case {
    const char* text;
    const char* message;
  };
  auto c = GENERATE(values<Case>({
      {"", "\"\" is not a valid address; expected host:port"},
      {"localhost", "\"localhost\" is not a valid address; expected host:port"},
      {"host:", "\"host:\" is not a valid address; the port is missing; expected host:port"},
      {"host:http", "\"host:http\" is not a valid address; the port \"http\" is not an integer"},
      {"host:+80", "\"host:+80\" is not a valid address; the port \"+80\" is not an integer"},
      {"host:-1",
       "\"host:-1\" is not a valid address; the port -1 is out of range; expected 0 "
       "to 65535"},
      {"host:65536",
       "\"host:65536\" is not a valid address; the port 65536 is out of range; "
       "expected 0 to 65535"},
      {"host:99999999999999999999999",
       "\"host:99999999999999999999999\" is not a valid "
       "address; the port 99999999999999999999999 is out of "
       "range; expected 0 to 65535"},
      {"::1:7379",
       "\"::1:7379\" is not a valid address; an IPv6 host must be in brackets, "
       "e.g. [::1]:7379"},
      {"[::1:7379", "\"[::1:7379\" is not a valid address; missing ']' after the IPv6 host"},
      {"[::1]7379", "\"[::1]7379\" is not a valid address; expected [host]:port"},
      {"[]:1", "\"[]:1\" is not a valid address; the host between '[' and ']' is empty"},
      {"my host:1", "\"my host:1\" is not a valid address; the host contains \" \""},
      {"http://a:1",
       "\"http://a:1\" is not a valid address; an IPv6 host must be in brackets, "
       "e.g. [::1]:7379"},
  }));
  INFO(c.text);
  Result<Address> a = ParseAddress(c.text);
  REQUIRE_FALSE(a.ok());
  CHECK(a.status().code() == Code::kInvalidArgument);
  CHECK(a.status().message() == c.message);
}

TEST_CASE("config: names and ParseLogLevel round-trip", "[unit][config]") {
  CHECK(ModeName(Mode::kSingle) == "single");
  CHECK(ModeName(Mode::kLeaderFollower) == "leader_follower");
  CHECK_FALSE(IsClustered(Mode::kSingle));
  CHECK(IsClustered(Mode::kLeaderFollower));
  CHECK(ReplicationName(Replication::kQuorum) == "quorum");
  CHECK(ReplicationName(Replication::kSync) == "sync");
  CHECK(ReplicationName(Replication::kSemiSync) == "semi_sync");
  CHECK(ReplicationName(Replication::kAsync) == "async");
  CHECK(FailoverName(Failover::kAuto) == "auto");
  CHECK(FailoverName(Failover::kManual) == "manual");
  CHECK(FollowerWritesName(FollowerWrites::kRedirect) == "redirect");
  CHECK(FollowerWritesName(FollowerWrites::kForward) == "forward");
  CHECK(ReadLevelName(ReadLevel::kLinearizable) == "linearizable");
  CHECK(ReadLevelName(ReadLevel::kLeader) == "leader");
  CHECK(ReadLevelName(ReadLevel::kFollower) == "follower");
  CHECK(ReadLevelName(ReadLevel::kSession) == "session");
  CHECK(EngineName(Engine::kLevelDb) == "leveldb");
  CHECK(EngineName(Engine::kMemory) == "memory");
  CHECK(DurabilityName(Durability::kAlways) == "always");
  CHECK(DurabilityName(Durability::kPeriodic) == "periodic");
  CHECK(DurabilityName(Durability::kNone) == "none");
  for (LogLevel level : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    LogLevel parsed = level == LogLevel::kDebug ? LogLevel::kError : LogLevel::kDebug;
    REQUIRE(ParseLogLevel(LogLevelName(level), &parsed));
    CHECK(parsed == level);
  }
  LogLevel untouched = LogLevel::kWarn;
  CHECK_FALSE(ParseLogLevel("verbose", &untouched));
  CHECK_FALSE(ParseLogLevel("", &untouched));
  CHECK_FALSE(ParseLogLevel("Info", &untouched));
  CHECK(untouched == LogLevel::kWarn);
}

TEST_CASE("config: ValidateConfig checks a Config changed after parsing", "[unit][config]") {
  CHECK(ValidateConfig(Config{}).ok());

  // As after `--listen` / `--admin-listen` / `--data-dir` overrides.
  Config c;
  c.server.admin_listen = c.server.listen;
  c.node.data_dir = "";
  c.limits.max_key_bytes = 0;
  c.limits.max_frame_bytes = 5000;
  Status s = ValidateConfig(c);
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == Code::kInvalidArgument);
  // The frame rule is skipped because max_key_bytes is itself out of range.
  CHECK(s.message() ==
        "node.data_dir: \"\" is not allowed; expected a non-empty path\n"
        "limits.max_key_bytes: 0 is out of range; expected an integer from 1 to 65536\n"
        "server.admin_listen: \"127.0.0.1:7379\" clashes with server.listen "
        "\"127.0.0.1:7379\"; expected a different address while server.admin_enabled is true");

  Config frame;
  frame.limits.max_value_bytes = 32u << 20;
  CHECK(ValidateConfig(frame).message() ==
        "limits.max_frame_bytes: 8388608 is too small to hold a maximal item; expected at least "
        "33563648 (2 x limits.max_key_bytes 4096 + limits.max_value_bytes 33554432 + 1024)");
}

}  // namespace kvd::config
