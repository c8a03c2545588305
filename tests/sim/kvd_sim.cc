// kvd_sim: runs the deterministic simulator (tests/sim/sim.h) for one seed or many.
//
//   kvd_sim --mode=quorum --seed=0x2a              replay one run (add --trace for events)
//   kvd_sim --mode=async --seeds=1000 --first-seed=1   a batch, as CI runs it
//   kvd_sim --mode=quorum --seeds=100000 --random  a soak from a random first seed
//
// Exits 0 when every run passed its checks, 1 on the first failure (after printing the
// failure, the summary, the replay command and, with --history=FILE, the history as
// JSON), 2 on a usage error. With --expect-anomaly (lossy modes), exits 0 only if some run
// showed a non-linearizable history: the demonstration that the mode can lose
// acknowledged writes.
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <string_view>

#include "tests/sim/sim.h"

namespace {

int Usage(const char* why) {
  std::fprintf(stderr,
               "kvd_sim: %s\n"
               "usage: kvd_sim [--mode=quorum|sync|semi_sync|async] [--nodes=N] [--clients=N]\n"
               "               [--seed=S | --seeds=N [--first-seed=S | --random]]\n"
               "               [--safety-ms=MS] [--no-faults] [--no-crashes] [--trace]\n"
               "               [--history=FILE] [--expect-anomaly] [--quiet]\n"
               "               [--check-determinism]   (each seed twice: same run?)\n",
               why);
  return 2;
}

bool ParseU64(std::string_view text, uint64_t* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  std::string s(text);
  unsigned long long v = std::strtoull(s.c_str(), &end, 0);
  if (end == nullptr || *end != '\0') return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  kvd::sim::SimOptions base;
  uint64_t seeds = 1;
  uint64_t first = 1;
  bool single_seed = false;
  bool random_first = false;
  bool expect_anomaly = false;
  bool quiet = false;
  bool check_determinism = false;
  std::string history_file;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](std::string_view name) -> std::optional<std::string_view> {
      if (a.substr(0, name.size()) == name && a.size() > name.size() && a[name.size()] == '=') {
        return a.substr(name.size() + 1);
      }
      return std::nullopt;
    };
    uint64_t n = 0;
    if (auto v = value("--mode")) {
      if (*v == "quorum") base.replication = kvd::config::Replication::kQuorum;
      else if (*v == "sync") base.replication = kvd::config::Replication::kSync;
      else if (*v == "semi_sync") base.replication = kvd::config::Replication::kSemiSync;
      else if (*v == "async") base.replication = kvd::config::Replication::kAsync;
      else return Usage("--mode must be quorum, sync, semi_sync or async");
    } else if (auto v2 = value("--seed")) {
      if (!ParseU64(*v2, &first)) return Usage("--seed needs a number (decimal or 0x hex)");
      single_seed = true;
    } else if (auto v3 = value("--seeds")) {
      if (!ParseU64(*v3, &seeds) || seeds == 0) return Usage("--seeds needs a count >= 1");
    } else if (auto v4 = value("--first-seed")) {
      if (!ParseU64(*v4, &first)) return Usage("--first-seed needs a number");
    } else if (auto v5 = value("--nodes")) {
      if (!ParseU64(*v5, &n) || n < 1 || n > 9) return Usage("--nodes must be 1..9");
      base.nodes = n;
    } else if (auto v6 = value("--clients")) {
      if (!ParseU64(*v6, &n) || n < 1 || n > 64) return Usage("--clients must be 1..64");
      base.clients = n;
    } else if (auto v7 = value("--safety-ms")) {
      if (!ParseU64(*v7, &n) || n < 100) return Usage("--safety-ms must be >= 100");
      base.safety_ms = n;
    } else if (auto v8 = value("--history")) {
      history_file = std::string(*v8);
    } else if (a == "--no-faults") {
      base.faults = false;
    } else if (a == "--no-crashes") {
      base.crashes = false;
    } else if (a == "--trace") {
      base.trace = true;
    } else if (a == "--random") {
      random_first = true;
    } else if (a == "--expect-anomaly") {
      expect_anomaly = true;
    } else if (a == "--quiet") {
      quiet = true;
    } else if (a == "--check-determinism") {
      check_determinism = true;
    } else if (a == "--help" || a == "-h") {
      Usage("the deterministic simulator of kvd's leader_follower topology");
      return 0;
    } else {
      return Usage(fmt::format("unknown argument {}", a).c_str());
    }
  }
  if (single_seed) seeds = 1;
  if (random_first) {
    std::random_device rd;
    first = (uint64_t{rd()} << 32) | rd();
  }
  uint64_t anomalies = 0, unknown = 0;
  for (uint64_t i = 0; i < seeds; ++i) {
    kvd::sim::SimOptions o = base;
    o.seed = first + i;
    kvd::sim::SimResult r = kvd::sim::RunSimulation(o);
    if (check_determinism) {
      kvd::sim::SimResult again = kvd::sim::RunSimulation(o);
      if (again.Summary(o) != r.Summary(o) || again.history_json != r.history_json ||
          again.failure != r.failure) {
        std::printf("NOT DETERMINISTIC: seed %#llx gave two different runs:\n%s\n%s\n",
                    static_cast<unsigned long long>(o.seed), r.Summary(o).c_str(),
                    again.Summary(o).c_str());
        return 1;
      }
    }
    if (r.linearizable == kvd::check::Verdict::kIllegal) ++anomalies;
    if (r.linearizable == kvd::check::Verdict::kUnknown) ++unknown;
    if (!quiet || !r.ok || seeds == 1) std::printf("%s\n", r.Summary(o).c_str());
    if (!r.ok) {
      std::printf("FAILURE: %s\nreplay: %s\n", r.failure.c_str(),
                  kvd::sim::ReplayCommand(o).c_str());
      if (!history_file.empty()) {
        std::ofstream(history_file) << r.history_json << "\n";
        std::printf("history written to %s\n", history_file.c_str());
      }
      return 1;
    }
    if (seeds == 1 && r.linearizable != kvd::check::Verdict::kOk) {
      std::printf("%s\n", r.history_description.c_str());
    }
  }
  std::printf("kvd_sim: %llu runs passed (mode %s, first seed %#llx); non-linearizable "
              "histories: %llu; undecided: %llu\n",
              static_cast<unsigned long long>(seeds),
              std::string(kvd::config::ReplicationName(base.replication)).c_str(),
              static_cast<unsigned long long>(first), static_cast<unsigned long long>(anomalies),
              static_cast<unsigned long long>(unknown));
  if (expect_anomaly && anomalies == 0) {
    std::printf("kvd_sim: expected at least one run to lose an acknowledged write, none did\n");
    return 1;
  }
  return 0;
}
