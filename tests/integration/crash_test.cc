// kill -9 while writes are in flight.
//
// Goal: every write kvd acknowledged survives a crash of the process. Method: several
// client threads write distinct keys with many requests in flight; at a random moment the
// test kills kvd with SIGKILL, restarts it on the same data directory, and reads back every
// acknowledged key. This repeats over several rounds on the same data, so recovery of a
// recovered database is exercised too. Under `always` durability the promise also holds
// for power loss; a process crash cannot lose acknowledged writes in any mode, because
// each write reaches the OS before its answer, and the test checks `none` as well. A
// failure names the missing key and the round; its log is printed.
#include <catch2/catch.hpp>

#include <mutex>
#include <random>
#include <thread>

#include "client/lib/client.h"
#include "tests/integration/harness.h"

namespace kvd::test {
namespace {

using namespace std::chrono_literals;

// Values are "r<round>n<sequence>"; this orders them as written by one thread.
std::pair<int, long> Order(const std::string& value) {
  size_t n = value.find('n');
  return {std::stoi(value.substr(1, n - 1)), std::stol(value.substr(n + 1))};
}

struct Acked {
  std::mutex mu;
  std::map<std::string, std::string> values;  // key -> last acknowledged value
};

// Writes keys w<thread>/<n> with up to `depth` requests in flight until `stop`.
void Writer(const std::string& endpoint, int thread, int round, int depth,
            std::atomic<bool>* stop, Acked* acked) {
  client::ClientOptions o;
  o.endpoints = {endpoint};
  o.request_timeout = 2s;
  client::Client c(o);
  std::atomic<int> inflight{0};
  for (int n = 0; !stop->load(); ++n) {
    while (inflight.load() >= depth && !stop->load()) std::this_thread::sleep_for(100us);
    std::string key = "w" + std::to_string(thread) + "/" + std::to_string(n % 500);
    std::string value = "r" + std::to_string(round) + "n" + std::to_string(n);
    wire::Request r;
    r.body = wire::PutRequest{key, value, 0};
    ++inflight;
    c.Send(r, [&, key, value](Result<wire::Response> resp) {
      if (resp.ok() && resp->ok()) {
        std::lock_guard lock(acked->mu);
        std::string& last = acked->values[key];
        if (last.empty() || Order(last) < Order(value)) last = value;
      }
      --inflight;
    });
  }
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (inflight.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
}

void CrashRounds(const std::string& durability, int rounds) {
  TempDir data("kvd-crash");
  KvdOptions o;
  o.yaml = "storage:\n  durability: " + durability + "\n";
  Acked acked;
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < rounds; ++round) {
    KvdProcess kvd(o, data.path());
    Status started = kvd.Start();
    INFO("round " << round << ": " << started.ToString());
    REQUIRE(started.ok());
    // Everything acknowledged before this crash (and all earlier ones) must be here.
    {
      client::ClientOptions co;
      co.endpoints = {kvd.endpoint()};
      client::Client c(co);
      std::lock_guard lock(acked.mu);
      for (const auto& [key, value] : acked.values) {
        auto got = c.Get(key);
        INFO("round " << round << " key " << key << "\n" << kvd.log());
        REQUIRE(got.ok());
        // The key holds the last acknowledged value, or a newer one whose answer the
        // crash swallowed (each key is written by one thread only, in order).
        INFO("stored " << got->value << ", last acknowledged " << value);
        CHECK(Order(got->value) >= Order(value));
      }
    }
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t) {
      writers.emplace_back(Writer, kvd.endpoint(), t, round, 16, &stop, &acked);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 400));
    kvd.Kill9();
    stop = true;
    for (auto& w : writers) w.join();
  }
  // A final restart checks the last round, value by value.
  KvdProcess kvd(o, data.path());
  REQUIRE(kvd.Start().ok());
  client::ClientOptions co;
  co.endpoints = {kvd.endpoint()};
  client::Client c(co);
  size_t checked = 0;
  for (const auto& [key, value] : acked.values) {
    auto got = c.Get(key);
    INFO("final check of " << key);
    REQUIRE(got.ok());
    CHECK(Order(got->value) >= Order(value));
    ++checked;
  }
  CHECK(checked > 100);
}

TEST_CASE("crash: kill -9 with writes in flight loses no acknowledged write (always)",
          "[integration][crash]") {
  CrashRounds("always", 5);
}

TEST_CASE("crash: kill -9 loses no acknowledged write even with durability none",
          "[integration][crash]") {
  CrashRounds("none", 3);
}

}  // namespace
}  // namespace kvd::test
