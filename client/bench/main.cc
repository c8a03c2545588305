// kvbench: a YCSB-style load generator for kvd, and for Redis through the same engine.
// See `kvbench --help` and docs/BENCHMARKS.md.
#include <unistd.h>

#include <fmt/format.h>

#include <boost/program_options.hpp>
#include <iostream>
#include <thread>

#include "client/bench/driver.h"
#include "client/bench/report.h"
#include "client/bench/runner.h"

namespace po = boost::program_options;
using namespace kvd;
using namespace kvd::bench;

namespace {

constexpr const char* kUsage = R"(kvbench: YCSB-style load generator for kvd (and Redis, for comparison)

Usage: kvbench [options]

Workloads: A 50/50 read/update, B 95/5 read/update, C read-only, D 95/5 read/insert
(reads favour recent keys), F 50/50 read/read-modify-write, W write-only.

Options)";

constexpr const char* kExamples = R"(
Examples:
  kvbench --load --workload W --duration 10
  kvbench --workload C --connections 50 --pipeline 16 --duration 10
  kvbench --target redis --endpoints 127.0.0.1:6379 --workload W --load
  kvbench --workload A --rate 20000 --duration 30 --json > a.json
  kvbench --workload W --durability always --connections 50
  kvbench --endpoints 127.0.0.1:7421,127.0.0.1:7422 --workload B --smart

Exit status: 0 ran (errors are counted in the report); 1 could not connect;
2 usage error.
)";

int Usage(const std::string& message) {
  std::cerr << "kvbench: " << message << " (see kvbench --help)\n";
  return 2;
}

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description desc(kUsage);
  std::string target, endpoints, workload, distribution, consistency, durability;
  double duration_s = 0, warmup_s = 0, rate = 0, timeout_s = 0;
  RunOptions o;
  size_t io_threads = 0;
  desc.add_options()
      ("help,h", "show this help")
      ("target", po::value(&target)->default_value("kvd"), "kvd or redis")
      ("endpoints", po::value(&endpoints)->default_value(""),
       "host:port[,host:port...] (default 127.0.0.1:7379, redis 127.0.0.1:6379)")
      ("workload,w", po::value(&workload)->default_value("A"), "A, B, C, D, F or W")
      ("distribution", po::value(&distribution)->default_value(""),
       "uniform, zipfian or latest (default: the workload's)")
      ("keys", po::value(&o.keys)->default_value(100000), "number of keys")
      ("value-size", po::value(&o.value_size)->default_value(100), "value size in bytes")
      ("connections,c", po::value(&o.connections)->default_value(50), "connections")
      ("pipeline,p", po::value(&o.pipeline)->default_value(1), "requests in flight per connection")
      ("duration,d", po::value(&duration_s)->default_value(10), "measured seconds (after warm-up)")
      ("ops", po::value(&o.ops)->default_value(0), "stop after this many operations instead")
      ("warmup", po::value(&warmup_s)->default_value(1), "warm-up seconds, not recorded")
      ("rate", po::value(&rate)->default_value(0),
       "open loop: total operations per second (latency from the scheduled time)")
      ("load", "insert all keys before the run")
      ("threads", po::value(&io_threads)->default_value(0),
       "client I/O threads (default: min(cores, 4))")
      ("timeout", po::value(&timeout_s)->default_value(5), "request timeout, seconds")
      ("consistency", po::value(&consistency)->default_value("default"),
       "kvd: default, linearizable, leader, follower or session")
      ("durability", po::value(&durability)->default_value("default"),
       "kvd: default, none, periodic or always")
      ("smart", "kvd dynamo rings: route each request to a replica of its key (libkvclient "
                "smart_routing); without it, connection i uses endpoint i mod the endpoints")
      ("seed", po::value(&o.seed)->default_value(42), "random seed")
      ("json", "print the result as JSON (no progress lines)")
      ("quiet,q", "no progress lines");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return Usage(e.what());
  }
  if (vm.count("help")) {
    std::cout << desc << kExamples;
    return 0;
  }
  if (target != "kvd" && target != "redis") return Usage("--target must be kvd or redis");
  if (workload.size() != 1 || !LookupWorkload(static_cast<char>(std::toupper(workload[0])),
                                              &o.workload)) {
    return Usage(fmt::format("unknown workload \"{}\"; expected A, B, C, D, F or W", workload));
  }
  if (!distribution.empty() && !ParseDistribution(distribution, &o.workload.distribution)) {
    return Usage(fmt::format("unknown distribution \"{}\"", distribution));
  }
  if (o.connections == 0 || o.pipeline == 0 || o.keys == 0) {
    return Usage("--connections, --pipeline and --keys must be at least 1");
  }
  if (duration_s <= 0 && o.ops == 0) return Usage("--duration must be positive");
  if (warmup_s < 0 || rate < 0 || timeout_s <= 0) return Usage("negative time or rate");
  DriverOptions d;
  static const std::map<std::string, wire::Consistency> kConsistency = {
      {"default", wire::Consistency::kDefault}, {"linearizable", wire::Consistency::kLinearizable},
      {"leader", wire::Consistency::kLeader},   {"follower", wire::Consistency::kFollower},
      {"session", wire::Consistency::kSession}};
  static const std::map<std::string, wire::Durability> kDurability = {
      {"default", wire::Durability::kDefault}, {"none", wire::Durability::kNone},
      {"periodic", wire::Durability::kPeriodic}, {"always", wire::Durability::kAlways}};
  if (!kConsistency.count(consistency)) return Usage("unknown --consistency " + consistency);
  if (!kDurability.count(durability)) return Usage("unknown --durability " + durability);
  d.consistency = kConsistency.at(consistency);
  d.durability = kDurability.at(durability);
  d.smart_routing = vm.count("smart") > 0;
  if (d.smart_routing && target != "kvd") return Usage("--smart is for --target kvd");
  if (endpoints.empty()) endpoints = target == "kvd" ? "127.0.0.1:7379" : "127.0.0.1:6379";
  d.endpoints = SplitComma(endpoints);
  if (d.endpoints.empty()) return Usage("--endpoints is empty");
  if (io_threads == 0) io_threads = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 4);
  d.io_threads = io_threads;
  d.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  o.duration = std::chrono::milliseconds(static_cast<int64_t>(duration_s * 1000));
  o.warmup = std::chrono::milliseconds(static_cast<int64_t>(warmup_s * 1000));
  o.rate = rate;
  o.load = vm.count("load") > 0;
  bool json = vm.count("json") > 0;
  if (!json && !vm.count("quiet")) {
    bool tty = ::isatty(STDERR_FILENO) != 0;
    o.progress = [tty](const std::string& line) {
      std::cerr << (tty ? "\r" : "") << line << (tty ? "" : "\n") << std::flush;
    };
  }

  std::unique_ptr<Driver> driver = target == "kvd" ? MakeKvdDriver(d) : MakeRedisDriver(d);
  Result<RunResult> result = Run(*driver, o);
  if (o.progress && ::isatty(STDERR_FILENO)) std::cerr << "\n";
  if (!result.ok()) {
    std::cerr << "kvbench: " << result.status().message() << "\n";
    return 1;
  }
  ReportContext context{target, endpoints, o, io_threads, d.smart_routing};
  if (json) {
    std::cout << ToJson(context, *result).dump(2) << "\n";
  } else {
    std::cout << FormatTable(context, *result);
  }
  return 0;
}
