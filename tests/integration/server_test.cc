// Integration tests of a real single-instance kvd process on loopback.
//
// Goal: show that the shipped binary does what docs/PROTOCOL.md and docs/OPERATIONS.md
// promise: the operations through the client library, limits answered with clear errors
// on a connection that stays open, the handshake rules, the admin endpoint, TTLs,
// graceful shutdown, the data-dir lock, and configuration errors that exit 2 without
// touching data. Method: each test starts its own kvd (harness.h) in a fresh temp dir with
// free ports, and waits by polling with deadlines, never with fixed sleeps. A failure
// means the binary breaks a documented promise; the kvd log is printed with it.
#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "client/lib/client.h"
#include "common/wire/codec.h"
#include "tests/integration/harness.h"

namespace kvd::test {
namespace {

using namespace std::chrono_literals;

client::ClientOptions OptionsFor(const KvdProcess& kvd) {
  client::ClientOptions o;
  o.endpoints = {kvd.endpoint()};
  o.request_timeout = 10s;
  return o;
}

#define REQUIRE_STARTED(kvd)                \
  do {                                      \
    Status started_ = (kvd).Start();        \
    INFO(started_.ToString());              \
    REQUIRE(started_.ok());                 \
  } while (0)

TEST_CASE("server: put, get, delete and versions through the client library",
          "[integration]") {
  KvdProcess kvd;
  REQUIRE_STARTED(kvd);
  client::Client c(OptionsFor(kvd));
  REQUIRE(c.Connect().ok());
  CHECK(c.server_info().mode == "single");

  auto put = c.Put("greeting", "hello");
  REQUIRE(put.ok());
  CHECK(put->version == 1);
  auto get = c.Get("greeting");
  REQUIRE(get.ok());
  CHECK(get->value == "hello");
  CHECK(get->version == 1);

  std::string binary_key("k\0\xff", 3), binary_value("\0\x01\xfe\xff", 4);
  REQUIRE(c.Put(binary_key, binary_value).ok());
  CHECK(c.Get(binary_key)->value == binary_value);

  auto del = c.Delete("greeting");
  REQUIRE(del.ok());
  CHECK(del->existed);
  CHECK(c.Get("greeting").status().code() == Code::kNotFound);
  CHECK_FALSE(c.Delete("greeting")->existed);
  CHECK(kvd.Terminate() == 0);
}

TEST_CASE("server: limits give invalid_argument and the connection stays open",
          "[integration]") {
  KvdOptions o;
  o.yaml = "limits:\n  max_key_bytes: 16\n  max_value_bytes: 1024\n  max_batch_ops: 2\n";
  KvdProcess kvd(o);
  REQUIRE_STARTED(kvd);
  client::Client c(OptionsFor(kvd));
  auto r = c.Put(std::string(17, 'k'), "v");
  REQUIRE(r.status().code() == Code::kInvalidArgument);
  CHECK_THAT(r.status().message(), Catch::Contains("limits.max_key_bytes"));
  r = c.Put("k", std::string(1025, 'v'));
  REQUIRE(r.status().code() == Code::kInvalidArgument);
  CHECK_THAT(r.status().message(), Catch::Contains("limits.max_value_bytes"));
  wire::Request batch;
  batch.body = wire::BatchRequest{{{wire::BatchOpType::kGet, "a", 0, "", 0},
                                   {wire::BatchOpType::kGet, "b", 0, "", 0},
                                   {wire::BatchOpType::kGet, "c", 0, "", 0}}};
  auto b = c.Call(batch);
  REQUIRE(b.ok());
  CHECK(b->status == Code::kInvalidArgument);
  CHECK_THAT(b->message, Catch::Contains("limits.max_batch_ops"));
  // Same connection, still serving.
  CHECK(c.Put("k", "v").ok());
  CHECK(c.Get("k")->value == "v");
}

TEST_CASE("server: the first frame must be HELLO with a common version", "[integration]") {
  KvdProcess kvd;
  REQUIRE_STARTED(kvd);
  SECTION("a data request before HELLO is a protocol error and closes the connection") {
    RawConnection raw;
    REQUIRE(raw.Connect(kvd.port()).ok());
    wire::Request get;
    get.request_id = 77;
    get.body = wire::GetRequest{"k"};
    std::string frame;
    wire::EncodeRequest(get, &frame);
    REQUIRE(raw.Send(frame).ok());
    auto r = raw.Read();
    REQUIRE(r.ok());
    CHECK(r->request_id == 77);
    CHECK(r->status == Code::kProtocolError);
    CHECK_THAT(r->message, Catch::Contains("HELLO"));
    CHECK(raw.WaitClosed());
  }
  SECTION("no common version") {
    RawConnection raw;
    REQUIRE(raw.Connect(kvd.port()).ok());
    wire::Request hello;
    hello.request_id = 5;
    hello.body = wire::HelloRequest{2, 3, "future-client"};
    std::string frame;
    wire::EncodeRequest(hello, &frame);
    REQUIRE(raw.Send(frame).ok());
    auto r = raw.Read();
    REQUIRE(r.ok());
    CHECK(r->status == Code::kProtocolError);
    CHECK_THAT(r->message, Catch::Contains("2..3"));
    CHECK(raw.WaitClosed());
  }
  SECTION("an oversized frame is refused without reading its body") {
    RawConnection raw;
    REQUIRE(raw.Connect(kvd.port()).ok());
    REQUIRE(raw.Handshake().ok());
    std::string header(14, '\0');
    header[0] = '\x7f';  // a length of ~2 GiB
    header[4] = static_cast<char>(wire::Opcode::kPut);
    header[13] = 9;
    REQUIRE(raw.Send(header).ok());
    auto r = raw.Read();
    REQUIRE(r.ok());
    CHECK(r->request_id == 9);
    CHECK(r->status == Code::kProtocolError);
    CHECK(raw.WaitClosed());
  }
  // Other clients were never affected.
  client::Client c(OptionsFor(kvd));
  CHECK(c.Ping("still here").ok());
}

TEST_CASE("server: pipelined requests on one connection all complete", "[integration]") {
  KvdProcess kvd;
  REQUIRE_STARTED(kvd);
  client::Client c(OptionsFor(kvd));
  constexpr int kRequests = 20000;
  std::atomic<int> ok{0}, failed{0};
  std::promise<void> all_done;
  std::atomic<int> remaining{kRequests};
  for (int i = 0; i < kRequests; ++i) {
    wire::Request r;
    r.body = wire::PutRequest{"key" + std::to_string(i % 1000), "value" + std::to_string(i), 0};
    c.Send(r, [&](Result<wire::Response> resp) {
      (resp.ok() && resp->ok() ? ok : failed)++;
      if (--remaining == 0) all_done.set_value();
    });
  }
  REQUIRE(all_done.get_future().wait_for(60s) == std::future_status::ready);
  CHECK(ok == kRequests);
  CHECK(failed == 0);
  // The last write of each key wins, in submission order.
  CHECK(c.Get("key999")->value == "value" + std::to_string(kRequests - 1));
}

TEST_CASE("server: TTL keys expire", "[integration]") {
  KvdProcess kvd;
  REQUIRE_STARTED(kvd);
  client::Client c(OptionsFor(kvd));
  REQUIRE(c.Put("short", "lived", /*ttl_ms=*/300).ok());
  REQUIRE(c.Put("long", "lived").ok());
  auto got = c.Get("short");
  REQUIRE(got.ok());
  CHECK(got->expires_at_ms > 0);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (c.Get("short").ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  CHECK(c.Get("short").status().code() == Code::kNotFound);
  CHECK(c.Get("long").ok());
  // The sweep removes it physically too: the key count drops back to 1.
  deadline = std::chrono::steady_clock::now() + 10s;
  uint64_t keys = 0;
  do {
    keys = nlohmann::json::parse(*c.StatusJson())["keys"].get<uint64_t>();
    if (keys == 1) break;
    std::this_thread::sleep_for(20ms);
  } while (std::chrono::steady_clock::now() < deadline);
  CHECK(keys == 1);
}

TEST_CASE("server: admin endpoint serves /metrics, /status and /healthz", "[integration]") {
  KvdProcess kvd;
  REQUIRE_STARTED(kvd);
  client::Client c(OptionsFor(kvd));
  REQUIRE(c.Put("a", "1").ok());
  REQUIRE(c.Get("a").ok());
  CHECK(c.Get("missing").status().code() == Code::kNotFound);

  auto metrics = HttpGet(kvd.admin_port(), "/metrics");
  REQUIRE(metrics.ok());
  CHECK(metrics->first == 200);
  const std::string& m = metrics->second;
  CHECK_THAT(m, Catch::Contains("kvd_requests_total{op=\"put\",status=\"ok\"} 1"));
  CHECK_THAT(m, Catch::Contains("kvd_requests_total{op=\"get\",status=\"not_found\"} 1"));
  CHECK_THAT(m, Catch::Contains("kvd_request_duration_seconds_bucket{op=\"get\",le=\"+Inf\"}"));
  CHECK_THAT(m, Catch::Contains("kvd_connections 1"));
  CHECK_THAT(m, Catch::Contains("kvd_storage_syncs_total"));
  CHECK_THAT(m, Catch::Contains("kvd_storage_engine{stat="));

  auto status = HttpGet(kvd.admin_port(), "/status");
  REQUIRE(status.ok());
  CHECK(status->first == 200);
  auto j = nlohmann::json::parse(status->second);
  CHECK(j["mode"] == "single");
  CHECK(j["revision"] == 1);
  CHECK(j["keys"] == 1);
  CHECK(j["durability"] == "always");

  CHECK(HttpGet(kvd.admin_port(), "/healthz")->first == 200);
  CHECK(HttpGet(kvd.admin_port(), "/nope")->first == 404);
}

TEST_CASE("server: SIGTERM drains in-flight requests, exits 0, and the data survives",
          "[integration]") {
  TempDir data("kvd-drain");
  std::mutex mu;
  std::vector<std::string> acked;
  std::atomic<int> failed{0};
  {
    KvdProcess kvd(KvdOptions{}, data.path());
    REQUIRE_STARTED(kvd);
    client::Client c(OptionsFor(kvd));
    REQUIRE(c.Connect().ok());
    constexpr int kWrites = 5000;
    std::atomic<int> done{0};
    std::promise<void> finished;
    for (int i = 0; i < kWrites; ++i) {
      std::string key = "k" + std::to_string(i);
      wire::Request r;
      r.body = wire::PutRequest{key, "v", 0};
      c.Send(r, [&, key](Result<wire::Response> resp) {
        if (resp.ok() && resp->ok()) {
          std::lock_guard lock(mu);
          acked.push_back(key);
        } else {
          failed++;
        }
        if (++done == kWrites) finished.set_value();
      });
    }
    // Signal while the writes are flowing: some answered, many still in flight.
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      std::lock_guard lock(mu);
      if (acked.size() >= 100) break;
    }
    kvd.SendSignal(SIGTERM);
    REQUIRE(finished.get_future().wait_for(30s) == std::future_status::ready);
    int code = kvd.Terminate();  // a second SIGTERM during the drain must be harmless
    INFO(kvd.log());
    CHECK(code == 0);
    CHECK_THAT(kvd.log(), Catch::Contains("stopped cleanly"));
  }
  INFO("acknowledged " << acked.size() << ", failed " << failed.load());
  CHECK(acked.size() >= 100);
  KvdProcess again(KvdOptions{}, data.path());
  REQUIRE_STARTED(again);
  client::Client c(OptionsFor(again));
  for (const std::string& key : acked) {
    INFO(key);
    REQUIRE(c.Get(key).ok());
  }
}

TEST_CASE("server: a second kvd on the same data dir is refused", "[integration]") {
  TempDir data("kvd-lock");
  KvdProcess first(KvdOptions{}, data.path());
  REQUIRE_STARTED(first);
  KvdProcess second(KvdOptions{}, data.path());
  CommandResult r = second.RunToExit();
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("in use by another kvd"));
  // The first one is unharmed.
  client::Client c(OptionsFor(first));
  CHECK(c.Put("k", "v").ok());
}

TEST_CASE("server: a bad config exits 2, names every bad field, and touches nothing",
          "[integration]") {
  KvdOptions o;
  o.yaml = "storage:\n  durability: alwys\nlimits:\n  max_key_bytes: 0\nstroage: {}\n";
  KvdProcess kvd(o);
  CommandResult r = kvd.RunToExit();
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains("storage.durability"));
  CHECK_THAT(r.err, Catch::Contains("limits.max_key_bytes"));
  CHECK_THAT(r.err, Catch::Contains("stroage"));
  CHECK_FALSE(std::filesystem::exists(kvd.data_dir()));
}

TEST_CASE("server: an unusable data dir is a clear start-up error", "[integration]") {
  TempDir dir("kvd-baddir");
  std::ofstream(dir.path() / "file") << "not a directory";
  KvdProcess kvd(KvdOptions{}, dir.path() / "file" / "data");
  CommandResult r = kvd.RunToExit();
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("cannot create data dir"));
}

TEST_CASE("server: the listen port in use is a clear start-up error", "[integration]") {
  KvdProcess first;
  REQUIRE_STARTED(first);
  KvdOptions o;
  o.port = first.port();
  KvdProcess second(o);
  CommandResult r = second.RunToExit();
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains(first.endpoint()));
  CHECK_THAT(r.err, Catch::Contains("in use"));
}

TEST_CASE("server: a full disk fails writes with io_error and loses nothing acknowledged",
          "[integration]") {
  TempDir data("kvd-full");
  std::vector<std::string> acked;
  {
    KvdOptions o;
    o.file_size_limit_bytes = 512 << 10;  // any file above 512 KiB cannot grow: "disk full"
    KvdProcess kvd(o, data.path());
    REQUIRE_STARTED(kvd);
    client::Client c(OptionsFor(kvd));
    std::string value(4000, 'x');
    Status last;
    for (int i = 0; i < 1000; ++i) {
      std::string key = "k" + std::to_string(i);
      auto r = c.Put(key, value);
      if (!r.ok()) {
        last = r.status();
        break;
      }
      acked.push_back(key);
    }
    REQUIRE_FALSE(last.ok());
    CHECK(last.code() == Code::kIOError);
    CHECK_THAT(last.message(), Catch::Contains("storage write failed"));
    CHECK_THAT(kvd.log(), Catch::Contains("write failed"));
    // Reads still work; further writes keep failing loudly, never silently.
    CHECK(c.Get(acked.front()).ok());
    CHECK(c.Put("after", "x").status().code() == Code::kIOError);
    kvd.Kill9();
  }
  KvdProcess again(KvdOptions{}, data.path());
  REQUIRE_STARTED(again);
  client::Client c(OptionsFor(again));
  for (const std::string& key : acked) {
    INFO(key);
    REQUIRE(c.Get(key).ok());
  }
}

}  // namespace
}  // namespace kvd::test

namespace kvd::test {
namespace {

using namespace std::chrono_literals;

uint64_t MetricValue(uint16_t admin_port, const std::string& name) {
  auto metrics = HttpGet(admin_port, "/metrics");
  REQUIRE(metrics.ok());
  const std::string& body = metrics->second;
  size_t pos = body.find("\n" + name + " ");
  REQUIRE(pos != std::string::npos);
  return std::stoull(body.substr(pos + name.size() + 2));
}

TEST_CASE("server: connections over max_connections are refused at once and not counted",
          "[integration]") {
  KvdOptions o;
  o.yaml = "server:\n  max_connections: 2\nstorage:\n  durability: none\n";
  KvdProcess kvd(o);
  REQUIRE_STARTED(kvd);
  // Start() pinged on a connection of its own; wait until the server has let it go.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (MetricValue(kvd.admin_port(), "kvd_connections") != 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  auto first = std::make_unique<RawConnection>();
  auto second = std::make_unique<RawConnection>();
  REQUIRE(first->Connect(kvd.port()).ok());
  REQUIRE(first->Handshake().ok());
  REQUIRE(second->Connect(kvd.port()).ok());
  REQUIRE(second->Handshake().ok());
  // Silent extra connections are answered UNAVAILABLE and closed without a word from them.
  std::vector<std::unique_ptr<RawConnection>> extra;
  for (int i = 0; i < 20; ++i) {
    extra.push_back(std::make_unique<RawConnection>());
    REQUIRE(extra.back()->Connect(kvd.port()).ok());
  }
  auto refused = extra[0]->Read();
  REQUIRE(refused.ok());
  CHECK(refused->status == Code::kUnavailable);
  CHECK(refused->request_id == 0);
  CHECK_THAT(refused->message, Catch::Contains("max_connections"));
  for (auto& e : extra) CHECK(e->WaitClosed(2s));
  // The client library reports the refusal in words.
  {
    client::ClientOptions co = OptionsFor(kvd);
    co.connect_timeout = 1s;
    client::Client c(co);
    Status s = c.Connect();
    CHECK_THAT(s.message(), Catch::Contains("too many connections"));
  }
  // Freed slots are usable again: refused sockets never counted.
  first.reset();
  second.reset();
  deadline = std::chrono::steady_clock::now() + 5s;
  while (MetricValue(kvd.admin_port(), "kvd_connections") != 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  RawConnection fresh;
  REQUIRE(fresh.Connect(kvd.port()).ok());
  CHECK(fresh.Handshake().ok());
  CHECK(MetricValue(kvd.admin_port(), "kvd_connections_rejected_total") >= 21);
}

long RssKb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

TEST_CASE("server: a client that does not read its answers cannot grow server memory",
          "[integration]") {
  KvdOptions o;
  o.yaml = "storage:\n  durability: none\nlimits:\n  max_inflight_per_connection: 4\n";
  KvdProcess kvd(o);
  REQUIRE_STARTED(kvd);
  {
    client::Client c(OptionsFor(kvd));
    REQUIRE(c.Put("big", std::string(1 << 20, 'x')).ok());
  }
  long before = RssKb(kvd.pid());
  RawConnection raw;
  REQUIRE(raw.Connect(kvd.port()).ok());
  REQUIRE(raw.Handshake().ok());
  std::string frames;
  for (int i = 0; i < 400; ++i) {
    wire::Request r;
    r.request_id = static_cast<uint64_t>(100 + i);
    r.body = wire::GetRequest{"big"};
    wire::EncodeRequest(r, &frames);
  }
  REQUIRE(raw.Send(frames).ok());  // 400 GETs of 1 MiB; we do not read the answers yet
  std::this_thread::sleep_for(500ms);
  long after = RssKb(kvd.pid());
  INFO("RSS before " << before << " KiB, after " << after << " KiB");
  CHECK(after - before < 64 * 1024);
  // Reading now, every answer arrives.
  for (int i = 0; i < 400; ++i) {
    auto r = raw.Read(10s);
    REQUIRE(r.ok());
    REQUIRE(r->ok());
  }
}

}  // namespace
}  // namespace kvd::test
