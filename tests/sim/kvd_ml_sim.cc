// kvd_ml_sim: runs the multi_leader simulator (tests/sim/ml_sim.h) for one seed or many.
//
//   kvd_ml_sim --propagation=ring --seed=0x2a            replay one run (--trace for events)
//   kvd_ml_sim --propagation=star --seeds=1000 --first-seed=1   a batch, as CI runs it
//   kvd_ml_sim --propagation=all_to_all --seeds=100000 --random  a soak
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

#include "tests/sim/ml_sim.h"

namespace {

int Usage(const char* why, int code = 2) {
  std::fprintf(code == 0 ? stdout : stderr,
               "kvd_ml_sim: %s\n"
               "usage: kvd_ml_sim [--propagation=all_to_all|ring|star] [--nodes=N]\n"
               "                  [--seed=S | --seeds=N [--first-seed=S | --random]]\n"
               "                  [--safety-ms=MS] [--no-faults] [--no-crashes] [--trace] [--quiet]\n"
               "                  [--check-determinism]   (each seed twice: same run?)\n"
               "  --propagation  how changes travel between the leaders (default all_to_all)\n"
               "  --nodes        leaders, 2..9 (default: 3 to 5, drawn from the seed)\n"
               "  --seed         replay one run; --seeds runs N from --first-seed (default 1)\n"
               "  --random       start from a random seed (soak)\n"
               "  --safety-ms    simulated time with faults and writes (default 4000)\n"
               "  --trace        print every event of the run\n",
               why);
  return code;
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
  namespace ml = kvd::topology::multi_leader;
  kvd::sim::MlSimOptions base;
  uint64_t seeds = 1, first = 1;
  bool single = false, random_first = false, quiet = false, check_determinism = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](std::string_view name) -> std::optional<std::string_view> {
      if (a.substr(0, name.size()) == name && a.size() > name.size() && a[name.size()] == '=') {
        return a.substr(name.size() + 1);
      }
      return std::nullopt;
    };
    uint64_t n = 0;
    if (auto v = value("--propagation")) {
      if (*v == "all_to_all") base.propagation = ml::Propagation::kAllToAll;
      else if (*v == "ring") base.propagation = ml::Propagation::kRing;
      else if (*v == "star") base.propagation = ml::Propagation::kStar;
      else return Usage("--propagation must be all_to_all, ring or star");
    } else if (auto v2 = value("--seed")) {
      if (!ParseU64(*v2, &first)) return Usage("--seed needs a number (decimal or 0x hex)");
      single = true;
    } else if (auto v3 = value("--seeds")) {
      if (!ParseU64(*v3, &seeds) || seeds == 0) return Usage("--seeds needs a count >= 1");
    } else if (auto v4 = value("--first-seed")) {
      if (!ParseU64(*v4, &first)) return Usage("--first-seed needs a number");
    } else if (auto v5 = value("--nodes")) {
      if (!ParseU64(*v5, &n) || n < 2 || n > 9) return Usage("--nodes must be 2..9");
      base.nodes = n;
    } else if (auto v6 = value("--safety-ms")) {
      if (!ParseU64(*v6, &n) || n < 100) return Usage("--safety-ms must be >= 100");
      base.safety_ms = n;
    } else if (a == "--no-faults") {
      base.faults = false;
    } else if (a == "--no-crashes") {
      base.crashes = false;
    } else if (a == "--trace") {
      base.trace = true;
    } else if (a == "--random") {
      random_first = true;
    } else if (a == "--quiet") {
      quiet = true;
    } else if (a == "--check-determinism") {
      check_determinism = true;
    } else if (a == "--help" || a == "-h") {
      return Usage("the deterministic simulator of kvd's multi_leader topology", 0);
    } else {
      return Usage(fmt::format("unknown argument {}", a).c_str());
    }
  }
  if (single) seeds = 1;
  if (random_first) {
    std::random_device rd;
    first = (uint64_t{rd()} << 32) | rd();
  }
  uint64_t acked = 0, lost = 0, refused = 0, overwrites = 0;
  for (uint64_t i = 0; i < seeds; ++i) {
    kvd::sim::MlSimOptions o = base;
    o.seed = first + i;
    const kvd::sim::MlSimResult r = kvd::sim::RunMlSimulation(o);
    if (check_determinism) {
      const kvd::sim::MlSimResult again = kvd::sim::RunMlSimulation(o);
      if (again.Summary(o) != r.Summary(o) || again.failure != r.failure ||
          again.state_digest != r.state_digest) {
        std::printf("NOT DETERMINISTIC: seed %#llx\n  first:  %s\n  second: %s\n",
                    static_cast<unsigned long long>(o.seed), r.Summary(o).c_str(),
                    again.Summary(o).c_str());
        return 1;
      }
    }
    acked += r.writes_acked;
    lost += r.writes_lost;
    refused += r.writes_refused;
    overwrites += r.concurrent_overwrites;
    if (!r.ok) {
      std::printf("FAILED: %s\n%s\nreplay: %s --trace\n", r.failure.c_str(), r.Summary(o).c_str(),
                  kvd::sim::MlReplayCommand(o).c_str());
      return 1;
    }
    if (!quiet || seeds == 1) std::printf("%s\n", r.Summary(o).c_str());
  }
  std::printf("kvd_ml_sim: %llu run(s) passed (%s, seeds %#llx..%#llx): %llu writes acknowledged, "
              "%llu lost to crashes before they were durable, %llu refused over the sibling "
              "cap, %llu lww writes overwritten unseen\n",
              static_cast<unsigned long long>(seeds), std::string(ml::PropagationName(base.propagation)).c_str(),
              static_cast<unsigned long long>(first), static_cast<unsigned long long>(first + seeds - 1),
              static_cast<unsigned long long>(acked), static_cast<unsigned long long>(lost),
              static_cast<unsigned long long>(refused), static_cast<unsigned long long>(overwrites));
  return 0;
}
