// Smoke runs of the benchmark tools, so they cannot rot.
//
// Goal: kvbench, leveldb_bench and pingpong keep working end to end; no performance
// threshold is checked here (speed targets live in docs/BENCHMARKS.md, measured by
// scripts/bench-compare.sh, never in tests on a shared machine). Method: a real kvd, a
// second or so of every kvbench workload with --json, and the two ceiling programs with
// tiny sizes. A failure means a tool crashed, printed something unparsable, or reported
// errors against a healthy server.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <thread>

#include "tests/integration/harness.h"

namespace kvd::test {
namespace {

using namespace std::chrono_literals;

TEST_CASE("bench: every kvbench workload runs against kvd and reports JSON",
          "[integration][bench]") {
  KvdOptions o;
  o.yaml = "storage:\n  durability: none\n";
  KvdProcess kvd(o);
  Status started = kvd.Start();
  INFO(started.ToString());
  REQUIRE(started.ok());
  bool first = true;
  for (const char* workload : {"A", "B", "C", "D", "F", "W"}) {
    std::vector<std::string> args = {"--endpoints", kvd.endpoint(), "--workload", workload,
                                     "--keys",      "2000",         "--connections", "4",
                                     "--pipeline",  "4",            "--duration", "0.7",
                                     "--warmup",    "0.2",          "--json"};
    if (first) args.push_back("--load");  // later workloads reuse the loaded keys
    first = false;
    CommandResult r = RunCommand(KVBENCH_BIN, args);
    INFO("workload " << workload << "\n" << r.err);
    REQUIRE(r.exit_code == 0);
    auto j = nlohmann::json::parse(r.out);
    CHECK(j["run"]["ops"].get<uint64_t>() > 0);
    CHECK(j["run"]["errors"].empty());
    CHECK(j["run"]["latency"]["all"]["p99_ms"].get<double>() > 0);
  }
  // Open loop at a fixed rate, with the table output.
  CommandResult r = RunCommand(KVBENCH_BIN, {"--endpoints", kvd.endpoint(), "--workload", "B",
                                             "--keys", "2000", "--connections", "2", "--rate",
                                             "2000", "--duration", "1", "--warmup", "0", "-q"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("open loop at 2000 ops/s"));
  CHECK_THAT(r.out, Catch::Contains("errors: none"));
}

TEST_CASE("bench: kvbench usage errors exit 2 and a dead server exits 1",
          "[integration][bench]") {
  CHECK(RunCommand(KVBENCH_BIN, {"--workload", "Z"}).exit_code == 2);
  CHECK(RunCommand(KVBENCH_BIN, {"--connections", "0"}).exit_code == 2);
  CommandResult r = RunCommand(
      KVBENCH_BIN, {"--endpoints", "127.0.0.1:" + std::to_string(FreePort()), "--duration", "1"});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("cannot connect"));
}

TEST_CASE("bench: the ceiling programs run", "[integration][bench]") {
  TempDir dir("leveldb-bench");
  CommandResult l = RunCommand(LEVELDB_BENCH_BIN, {"--dir", (dir.path() / "db").string(),
                                                   "--keys", "5000", "--json"});
  INFO(l.err);
  REQUIRE(l.exit_code == 0);
  auto j = nlohmann::json::parse(l.out);
  CHECK(j["overwrite_ops_per_s"].get<double>() > 0);

  uint16_t port = FreePort();
  std::thread server([port] {
    // Serves until killed; the test ends it below.
    RunCommand(PINGPONG_BIN, {"--serve", std::to_string(port)}, "", 20s);
  });
  CommandResult c;
  for (int attempt = 0; attempt < 100; ++attempt) {
    c = RunCommand(PINGPONG_BIN, {"--connect", std::to_string(port), "--seconds", "0.3",
                                  "--json"});
    if (c.exit_code == 0) break;
    std::this_thread::sleep_for(20ms);
  }
  RunCommand("/usr/bin/pkill", {"-f", "pingpong --serve " + std::to_string(port)});
  server.join();
  INFO(c.err);
  REQUIRE(c.exit_code == 0);
  CHECK(nlohmann::json::parse(c.out)["round_trips"].get<uint64_t>() > 0);
}

}  // namespace
}  // namespace kvd::test
