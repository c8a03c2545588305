// kvd_dynamo_sim: runs the dynamo simulator (tests/sim/dynamo_sim.h) for one seed or many.
//
//   kvd_dynamo_sim --seed=0x2a            replay one run (--trace for every event)
//   kvd_dynamo_sim --seeds=1000           a batch, as CI runs it
//   kvd_dynamo_sim --seeds=100000 --random   a soak
//
// Exits 0 when every run passed its checks, 1 on the first failure (after printing it, the
// run's summary and the command that replays it), 2 on a usage error.
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "tests/sim/dynamo_sim.h"

namespace {

int Usage(const std::string& why, int code = 2) {
  std::fprintf(code == 0 ? stdout : stderr,
               "kvd_dynamo_sim: %s\n"
               "usage: kvd_dynamo_sim [--seed=S | --seeds=N [--first-seed=S | --random]]\n"
               "                      [--no-faults] [--no-crashes] [--no-ring-changes]\n"
               "                      [--trace] [--quiet]\n"
               "                      [--check-determinism]   (each seed twice: same run?)\n"
               "  --seed         replay one run; --seeds runs N from --first-seed (default 1)\n"
               "  --random       start from a random seed (soak)\n"
               "  --trace        print every event of the run\n",
               why.c_str());
  return code;
}

// "--name=value": the value; otherwise nullopt.
std::optional<std::string_view> Flag(std::string_view arg, std::string_view name) {
  if (arg.size() > name.size() && arg.substr(0, name.size()) == name && arg[name.size()] == '=') {
    return arg.substr(name.size() + 1);
  }
  return std::nullopt;
}

bool ParseU64(std::string_view text, uint64_t* out) {
  const std::string s(text);
  char* end = nullptr;
  if (s.empty()) return false;
  *out = std::strtoull(s.c_str(), &end, 0);
  return end != nullptr && *end == '\0';
}

}  // namespace

int main(int argc, char** argv) {
  kvd::sim::DynamoSimOptions base;
  uint64_t seeds = 1, first = 1;
  bool single = false, random_first = false, quiet = false, check_determinism = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (auto v = Flag(a, "--seed")) {
      if (!ParseU64(*v, &first)) return Usage("--seed needs a number (decimal or 0x hex)");
      single = true;
    } else if (auto v2 = Flag(a, "--seeds")) {
      if (!ParseU64(*v2, &seeds) || seeds == 0) return Usage("--seeds needs a count >= 1");
    } else if (auto v3 = Flag(a, "--first-seed")) {
      if (!ParseU64(*v3, &first)) return Usage("--first-seed needs a number");
    } else if (a == "--no-faults") {
      base.faults = false;
    } else if (a == "--no-crashes") {
      base.crashes = false;
    } else if (a == "--no-ring-changes") {
      base.ring_changes = false;
    } else if (a == "--trace") {
      base.trace = true;
    } else if (a == "--random") {
      random_first = true;
    } else if (a == "--quiet") {
      quiet = true;
    } else if (a == "--check-determinism") {
      check_determinism = true;
    } else if (a == "--help" || a == "-h") {
      return Usage("the deterministic simulator of kvd's dynamo request path", 0);
    } else {
      return Usage(fmt::format("unknown argument {}", a));
    }
  }
  if (single) seeds = 1;
  if (random_first) {
    std::random_device rd;
    first = (uint64_t{rd()} << 32) | rd();
  }
  uint64_t checks = 0, acked = 0, reads = 0;
  for (uint64_t i = 0; i < seeds; ++i) {
    kvd::sim::DynamoSimOptions o = base;
    o.seed = first + i;
    const kvd::sim::DynamoSimResult r = kvd::sim::RunDynamoSimulation(o);
    if (check_determinism) {
      const kvd::sim::DynamoSimResult again = kvd::sim::RunDynamoSimulation(o);
      if (again.Summary(o) != r.Summary(o) || again.state_digest != r.state_digest) {
        std::printf("NOT DETERMINISTIC: seed %#llx\n  first:  %s\n  second: %s\n",
                    static_cast<unsigned long long>(o.seed), r.Summary(o).c_str(),
                    again.Summary(o).c_str());
        return 1;
      }
    }
    checks += r.checks;
    acked += r.writes_acked;
    reads += r.reads_ok;
    if (!r.ok) {
      std::printf("FAILED: %s\n%s\nreplay: kvd_dynamo_sim --seed=%#llx --trace\n",
                  r.failure.c_str(), r.Summary(o).c_str(),
                  static_cast<unsigned long long>(o.seed));
      return 1;
    }
    if (!quiet || seeds == 1) std::printf("%s\n", r.Summary(o).c_str());
  }
  std::printf("kvd_dynamo_sim: %llu run(s) passed (seeds %#llx..%#llx): %llu writes and %llu "
              "reads acknowledged, %llu (write, later read) pairs checked\n",
              static_cast<unsigned long long>(seeds), static_cast<unsigned long long>(first),
              static_cast<unsigned long long>(first + seeds - 1),
              static_cast<unsigned long long>(acked), static_cast<unsigned long long>(reads),
              static_cast<unsigned long long>(checks));
  return 0;
}
