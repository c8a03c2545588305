// Frame fuzzing against a running kvd.
//
// Goal: bad input must never take the server down or corrupt data. Method: write a known
// data set under the prefix "intact/", then throw at least 100,000 frames at the server
// from several connections at once: valid requests of every opcode (on "fuzz/" keys),
// the same with random bit flips, byte overwrites, truncations, extensions, rewritten
// length/opcode/flags fields, and pure garbage, with and without a handshake. A connection
// the server closes is reopened. Afterwards the process must still be running, answer
// PING, serve new writes, and hold the data set byte for byte. The generator is seeded:
// a failure prints the seed, and the same seed replays the same frames.
#include <catch2/catch.hpp>

#include <random>

#include "common/bytes.h"
#include <thread>

#include "client/lib/client.h"
#include "common/wire/codec.h"
#include "tests/integration/harness.h"

namespace kvd::test {
namespace {

using namespace std::chrono_literals;

class FrameGenerator {
 public:
  explicit FrameGenerator(uint64_t seed) : rng_(seed) {}

  std::string Next() {
    switch (Uniform(0, 9)) {
      case 0:
      case 1:
        return Valid();
      case 2:
        return Garbage();
      default:
        return Mutate(Valid());
    }
  }

 private:
  size_t Uniform(size_t lo, size_t hi) {
    return std::uniform_int_distribution<size_t>(lo, hi)(rng_);
  }
  std::string RandomBytes(size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(Uniform(0, 255));
    return s;
  }
  std::string Key() { return "fuzz/" + RandomBytes(Uniform(0, 12)); }

  wire::RequestBody Body() {
    switch (Uniform(0, 7)) {
      case 0: return wire::PingRequest{RandomBytes(Uniform(0, 32))};
      case 1: return wire::StatusRequest{};
      case 2: return wire::GetRequest{Key()};
      case 3: return wire::PutRequest{Key(), RandomBytes(Uniform(0, 300)), Uniform(0, 1) * 50};
      case 4: return wire::DeleteRequest{Key()};
      case 5:
        return wire::CasRequest{static_cast<wire::CasKind>(Uniform(1, 3)), Key(), Uniform(0, 3),
                                "", 0};
      case 6: {
        wire::BatchRequest b;
        for (size_t i = Uniform(1, 4); i > 0; --i) {
          auto type = static_cast<wire::BatchOpType>(Uniform(1, 4));
          b.ops.push_back({type, Key(), 0, type == wire::BatchOpType::kPut ? "v" : "", 0});
        }
        return b;
      }
      default: {
        wire::ScanRequest s;
        s.prefix = "fuzz/";
        s.limit = static_cast<uint32_t>(Uniform(0, 20));
        s.reverse = Uniform(0, 1) == 1;
        s.keys_only = Uniform(0, 1) == 1;
        return s;
      }
    }
  }

  std::string Valid() {
    wire::Request r;
    r.request_id = Uniform(0, 1u << 20);
    r.body = Body();
    if (Uniform(0, 3) == 0) r.options.consistency = wire::Consistency::kSession;
    std::string frame;
    wire::EncodeRequest(r, &frame);
    return frame;
  }

  std::string Garbage() { return RandomBytes(Uniform(1, 200)); }

  std::string Mutate(std::string f) {
    switch (Uniform(0, 6)) {
      case 0:  // bit flips
        for (size_t i = Uniform(1, 8); i > 0; --i) {
          f[Uniform(0, f.size() - 1)] ^= static_cast<char>(1u << Uniform(0, 7));
        }
        return f;
      case 1:  // byte overwrites
        for (size_t i = Uniform(1, 4); i > 0; --i) {
          f[Uniform(0, f.size() - 1)] = static_cast<char>(Uniform(0, 255));
        }
        return f;
      case 2:  // truncation: the stream desynchronizes
        return f.substr(0, Uniform(0, f.size() - 1));
      case 3:  // trailing junk inside the frame: grow the length field to match
        f += RandomBytes(Uniform(1, 16));
        PutU32BE(f.data(), static_cast<uint32_t>(f.size() - 4));
        return f;
      case 4:  // a random length
        PutU32BE(f.data(), static_cast<uint32_t>(Uniform(0, 1u << 31)));
        return f;
      case 5:  // a random opcode or flags byte
        f[Uniform(4, 5)] = static_cast<char>(Uniform(0, 255));
        return f;
      default:  // a random body byte run
        if (f.size() > 14) {
          size_t at = Uniform(14, f.size() - 1);
          std::string junk = RandomBytes(Uniform(1, 8));
          f.replace(at, std::min(junk.size(), f.size() - at), junk);
        }
        return f;
    }
  }

  std::mt19937_64 rng_;
};

// Sends `count` frames on fresh connections, reopening whenever the server closes one,
// draining responses as it goes. Returns how many connections were used.
size_t FuzzWorker(uint16_t port, uint64_t seed, size_t count) {
  FrameGenerator gen(seed);
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
  RawConnection conn;
  size_t connections = 0;
  bool open = false;
  for (size_t i = 0; i < count; ++i) {
    if (!open) {
      if (!conn.Connect(port).ok()) continue;
      ++connections;
      open = true;
      // Most connections do the handshake; some go straight to the frames.
      if (rng() % 8 != 0 && !conn.Handshake().ok()) {
        open = false;
        continue;
      }
    }
    if (!conn.Send(gen.Next()).ok()) {
      open = false;
      continue;
    }
    // Drain whatever came back; a closed connection is reopened on the next frame.
    while (true) {
      auto r = conn.Read(std::chrono::milliseconds(rng() % 16 == 0 ? 2 : 0));
      if (r.ok()) continue;
      if (r.status().code() != Code::kTimeout) open = false;
      break;
    }
  }
  return connections;
}

TEST_CASE("fuzz: 100,000 random and mutated frames leave the server up and the data intact",
          "[integration][fuzz]") {
  KvdOptions o;
  o.yaml = "storage:\n  durability: none\nlimits:\n  max_frame_bytes: 1048576\n"
           "  max_value_bytes: 65536\n";
  KvdProcess kvd(o);
  Status started = kvd.Start();
  INFO(started.ToString());
  REQUIRE(started.ok());

  client::ClientOptions co;
  co.endpoints = {kvd.endpoint()};
  client::Client c(co);
  std::vector<std::pair<std::string, std::string>> data;
  for (int i = 0; i < 200; ++i) {
    std::string value = "value-" + std::to_string(i) + std::string(static_cast<size_t>(i), '\xab');
    data.emplace_back("intact/" + std::to_string(i), value);
    REQUIRE(c.Put(data.back().first, data.back().second).ok());
  }

  const uint64_t seed = std::random_device{}();
  INFO("seed " << seed << " (set KVD_FUZZ_SEED to replay)");
  uint64_t base = seed;
  if (const char* s = std::getenv("KVD_FUZZ_SEED")) base = std::stoull(s);
  constexpr size_t kThreads = 4;
  constexpr size_t kFramesPerThread = 25000;
  std::vector<std::thread> threads;
  std::atomic<size_t> connections{0};
  for (size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] { connections += FuzzWorker(kvd.port(), base + t, kFramesPerThread); });
  }
  for (auto& th : threads) th.join();
  INFO("connections used: " << connections.load());

  REQUIRE(kvd.running());
  client::Client after(co);
  REQUIRE(after.Ping("alive").ok());
  for (const auto& [key, value] : data) {
    auto got = after.Get(key);
    INFO(key);
    REQUIRE(got.ok());
    CHECK(got->value == value);
  }
  REQUIRE(after.Put("after-fuzz", "ok").ok());
  CHECK(after.Get("after-fuzz")->value == "ok");
  auto metrics = HttpGet(kvd.admin_port(), "/metrics");
  REQUIRE(metrics.ok());
  CHECK_THAT(metrics->second, !Catch::Contains("kvd_protocol_errors_total 0\n"));
  CHECK(kvd.Terminate() == 0);
}

}  // namespace
}  // namespace kvd::test
