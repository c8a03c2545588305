#include "client/bench/report.h"

#include <fmt/format.h>

namespace kvd::bench {

namespace {

std::string Ms(uint64_t ns) { return fmt::format("{:.3f}", static_cast<double>(ns) / 1e6); }

std::string WorkloadText(const WorkloadSpec& w) {
  std::string mix;
  auto add = [&](double p, const char* what) {
    if (p <= 0) return;
    if (!mix.empty()) mix += ", ";
    mix += fmt::format("{:g}% {}", p * 100, what);
  };
  add(w.read, "read");
  add(w.update, "update");
  add(w.insert, "insert");
  add(w.read_modify_write, "read-modify-write");
  return fmt::format("{} ({}; {})", w.name, mix, DistributionName(w.distribution));
}

void Row(std::string* out, const char* name, const Histogram& h, double seconds) {
  if (h.count() == 0) return;
  fmt::format_to(std::back_inserter(*out), "{:<8}{:>11}{:>13.1f}{:>9}{:>9}{:>9}{:>9}{:>9}\n",
                 name, h.count(), seconds > 0 ? static_cast<double>(h.count()) / seconds : 0,
                 Ms(h.ValueAtQuantile(0.5)), Ms(h.ValueAtQuantile(0.9)),
                 Ms(h.ValueAtQuantile(0.99)), Ms(h.ValueAtQuantile(0.999)), Ms(h.max()));
}

void PhaseTable(std::string* out, const char* title, const PhaseResult& p) {
  fmt::format_to(std::back_inserter(*out), "\n{}: {:.2f} s, {:.0f} ops/s\n", title, p.seconds,
                 p.throughput());
  fmt::format_to(std::back_inserter(*out), "{:<8}{:>11}{:>13}{:>9}{:>9}{:>9}{:>9}{:>9}\n", "op",
                 "ops", "ops/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms");
  Row(out, "all", p.all, p.seconds);
  for (size_t i = 0; i < kOpTypes; ++i) {
    Row(out, OpTypeName(static_cast<OpType>(i)), p.by_op[i], p.seconds);
  }
  std::string errors;
  for (const auto& [kind, n] : p.errors) {
    errors += fmt::format("{}{} {}", errors.empty() ? "" : ", ", kind, n);
  }
  fmt::format_to(std::back_inserter(*out), "errors: {}\n", errors.empty() ? "none" : errors);
  if (p.not_found > 0) {
    fmt::format_to(std::back_inserter(*out), "reads of absent keys: {}\n", p.not_found);
  }
}

nlohmann::json HistogramJson(const Histogram& h) {
  return {{"count", h.count()},
          {"mean_ms", h.mean() / 1e6},
          {"p50_ms", static_cast<double>(h.ValueAtQuantile(0.5)) / 1e6},
          {"p90_ms", static_cast<double>(h.ValueAtQuantile(0.9)) / 1e6},
          {"p99_ms", static_cast<double>(h.ValueAtQuantile(0.99)) / 1e6},
          {"p999_ms", static_cast<double>(h.ValueAtQuantile(0.999)) / 1e6},
          {"max_ms", static_cast<double>(h.max()) / 1e6}};
}

nlohmann::json PhaseJson(const PhaseResult& p) {
  nlohmann::json j;
  j["seconds"] = p.seconds;
  j["ops"] = p.ops;
  j["throughput"] = p.throughput();
  j["latency"]["all"] = HistogramJson(p.all);
  for (size_t i = 0; i < kOpTypes; ++i) {
    if (p.by_op[i].count() > 0) {
      j["latency"][OpTypeName(static_cast<OpType>(i))] = HistogramJson(p.by_op[i]);
    }
  }
  j["errors"] = p.errors;
  j["not_found"] = p.not_found;
  j["per_second"] = p.per_second;
  return j;
}

}  // namespace

std::string FormatTable(const ReportContext& c, const RunResult& r) {
  const RunOptions& o = c.options;
  std::string out = fmt::format(
      "kvbench: {} at {}{}\nworkload {}, {} keys, {}-byte values\n"
      "{} connections x pipeline {}, {} I/O threads, {}\n",
      c.target, c.endpoints, c.smart_routing ? " (smart routing: each key to its replicas)" : "",
      WorkloadText(o.workload), o.keys, o.value_size, o.connections, o.pipeline, c.io_threads,
      o.rate > 0 ? fmt::format("open loop at {:.0f} ops/s", o.rate) : std::string("closed loop"));
  if (o.load) PhaseTable(&out, "load", r.load);
  PhaseTable(&out, "run", r.run);
  return out;
}

nlohmann::json ToJson(const ReportContext& c, const RunResult& r) {
  const RunOptions& o = c.options;
  nlohmann::json j;
  j["target"] = c.target;
  j["endpoints"] = c.endpoints;
  j["workload"] = std::string(1, o.workload.name);
  j["distribution"] = DistributionName(o.workload.distribution);
  j["keys"] = o.keys;
  j["value_size"] = o.value_size;
  j["connections"] = o.connections;
  j["pipeline"] = o.pipeline;
  j["io_threads"] = c.io_threads;
  j["smart_routing"] = c.smart_routing;
  j["rate"] = o.rate;
  j["warmup_s"] = static_cast<double>(o.warmup.count()) / 1e3;
  if (o.load) j["load"] = PhaseJson(r.load);
  j["run"] = PhaseJson(r.run);
  return j;
}

}  // namespace kvd::bench
