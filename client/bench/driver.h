// Drivers: how kvbench talks to a server. The load engine (runner.h) is the same for every
// server; only the driver differs, so kvd and Redis are measured by the same client code
// path apart from the protocol itself.
//
//   KvdDriver    kvd's wire protocol through libkvclient (client/lib)
//   RedisDriver  RESP2 (SET, GET, pipelining) over Boost.Asio
//
// Thread-safety: Get/Set may be called from any thread; `done` runs on a driver I/O thread
// and may call Get/Set again.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/wire/messages.h"

namespace kvd::bench {

struct OpOutcome {
  bool ok = false;
  bool found = false;             // reads: the key existed
  std::string_view error_kind;    // when !ok: "timeout", "unavailable", "io_error", ...
};
using OpDone = std::function<void(const OpOutcome&)>;

class BenchConnection {
 public:
  virtual ~BenchConnection() = default;
  virtual void Get(std::string key, OpDone done) = 0;
  virtual void Set(std::string key, std::string_view value, OpDone done) = 0;
};

struct DriverOptions {
  std::vector<std::string> endpoints;
  size_t io_threads = 1;
  std::chrono::milliseconds timeout{5000};
  // kvd only: per-request options passed through.
  wire::Consistency consistency = wire::Consistency::kDefault;
  wire::Durability durability = wire::Durability::kDefault;
  // kvd only: ClientOptions::smart_routing (dynamo rings: each request straight to a
  // replica of its key). Without it, connection i talks to endpoint i mod the endpoints.
  bool smart_routing = false;
};

class Driver {
 public:
  virtual ~Driver() = default;
  // Opens connection number `index` and waits until it is usable.
  // Errors: kUnavailable / kTimeout naming the endpoint.
  virtual Result<std::unique_ptr<BenchConnection>> Open(size_t index) = 0;
  virtual std::string name() const = 0;
};

std::unique_ptr<Driver> MakeKvdDriver(const DriverOptions& options);
std::unique_ptr<Driver> MakeRedisDriver(const DriverOptions& options);

}  // namespace kvd::bench
