// Report: kvbench's results as a table for people and as JSON for scripts.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "client/bench/runner.h"

namespace kvd::bench {

struct ReportContext {
  std::string target;    // "kvd" or "redis"
  std::string endpoints;
  RunOptions options;
  size_t io_threads = 1;
  bool smart_routing = false;  // kvd: requests routed to a replica of their key
};

std::string FormatTable(const ReportContext& context, const RunResult& result);
nlohmann::json ToJson(const ReportContext& context, const RunResult& result);

}  // namespace kvd::bench
