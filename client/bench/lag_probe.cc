// lag_probe: measures replication lag between two members of a multi_leader cluster as a
// client sees it: it writes a fresh value to a key on the writer member, and from the
// moment the write is acknowledged polls the reader member until the value is visible
// there. Run it next to a kvbench load on the writer to measure lag at that rate.
//
//   lag_probe --writer 127.0.0.1:7411 --reader 127.0.0.1:7412 [--duration 10]
//             [--interval-ms 10] [--key lag-probe] [--json]
//
// Prints probes, p50, p90, p99 and max lag in ms (the poll loop adds up to one round trip
// to each figure). Exits 1 if a value never became visible within 10 s, 2 on bad usage.
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>

#include "client/bench/histogram.h"
#include "client/lib/client.h"

namespace {

using Clock = std::chrono::steady_clock;

int Usage(const std::string& why) {
  std::fprintf(stderr,
               "lag_probe: %s\n"
               "usage: lag_probe --writer HOST:PORT --reader HOST:PORT [--duration SECONDS]\n"
               "                 [--interval-ms MS] [--key KEY] [--json]\n",
               why.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string writer, reader, key = "lag-probe";
  double duration_s = 10;
  long interval_ms = 10;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--writer") {
      const char* v = next();
      if (!v) return Usage("--writer needs HOST:PORT");
      writer = v;
    } else if (a == "--reader") {
      const char* v = next();
      if (!v) return Usage("--reader needs HOST:PORT");
      reader = v;
    } else if (a == "--duration") {
      const char* v = next();
      if (!v || (duration_s = std::atof(v)) <= 0) return Usage("--duration needs seconds > 0");
    } else if (a == "--interval-ms") {
      const char* v = next();
      if (!v || (interval_ms = std::atol(v)) < 0) return Usage("--interval-ms needs ms >= 0");
    } else if (a == "--key") {
      const char* v = next();
      if (!v || !*v) return Usage("--key needs a key");
      key = v;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--help" || a == "-h") {
      Usage("replication lag between two multi_leader members, as a client sees it");
      return 0;
    } else {
      return Usage(fmt::format("unknown argument {}", a));
    }
  }
  if (writer.empty() || reader.empty()) return Usage("--writer and --reader are required");
  auto make = [](const std::string& endpoint) {
    kvd::client::ClientOptions o;
    o.endpoints = {endpoint};
    o.follow_redirects = false;
    o.request_timeout = std::chrono::seconds(5);
    return std::make_unique<kvd::client::Client>(std::move(o));
  };
  auto w = make(writer);
  auto r = make(reader);
  kvd::bench::Histogram lag;
  const auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(duration_s));
  const std::string run = std::to_string(Clock::now().time_since_epoch().count());
  for (uint64_t n = 0; Clock::now() < end; ++n) {
    const std::string value = fmt::format("{}-{}", run, n);
    auto put = w->Put(key, value);
    if (!put.ok()) {
      std::fprintf(stderr, "lag_probe: write to %s failed: %s\n", writer.c_str(),
                   put.status().ToString().c_str());
      return 1;
    }
    const auto acked = Clock::now();
    for (;;) {
      auto got = r->Get(key);
      if (got.ok() && got.value().value == value) break;
      if (Clock::now() - acked > std::chrono::seconds(10)) {
        std::fprintf(stderr, "lag_probe: %s did not show the write within 10 s\n", reader.c_str());
        return 1;
      }
    }
    lag.Record(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - acked).count()));
    if (interval_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
  }
  auto ms = [&](double q) { return static_cast<double>(lag.ValueAtQuantile(q)) / 1e6; };
  if (json) {
    std::printf("{\"probes\": %llu, \"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, "
                "\"max_ms\": %.3f}\n",
                static_cast<unsigned long long>(lag.count()), ms(0.5), ms(0.9), ms(0.99),
                static_cast<double>(lag.max()) / 1e6);
  } else {
    std::printf("lag_probe %s -> %s: %llu probes, lag p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, "
                "max %.3f ms\n",
                writer.c_str(), reader.c_str(), static_cast<unsigned long long>(lag.count()),
                ms(0.5), ms(0.9), ms(0.99), static_cast<double>(lag.max()) / 1e6);
  }
  return 0;
}
