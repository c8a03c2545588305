// The client library against misbehaving or missing servers.
//
// Goal: libkvclient never hangs and always says what went wrong: an endpoint nobody
// listens on, a server that accepts but never answers the handshake, the fallback to the
// next endpoint, and a reconnect after the server restarts. Method: real sockets on
// loopback (a silent listener made here, real kvd processes from the harness), with
// short timeouts. A failure means a client could stall or lose a request silently.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <future>
#include <thread>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/lib/client.h"
#include "common/wire/codec.h"
#include "tests/integration/harness.h"

namespace kvd::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A socket that listens (the kernel completes connections) but never reads or writes.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    KVD_ASSERT(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    KVD_ASSERT(::listen(fd_, 16) == 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

int ListenFd(int backlog, uint16_t* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  KVD_ASSERT(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  KVD_ASSERT(::listen(fd, backlog) == 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

bool ReadFrame(int fd, std::string* frame) {
  std::string buf(14, '\0');
  size_t got = 0;
  while (got < 14) {
    ssize_t n = ::read(fd, buf.data() + got, 14 - got);
    if (n <= 0) return false;
    got += static_cast<size_t>(n);
  }
  uint32_t len = (uint32_t(uint8_t(buf[0])) << 24) | (uint32_t(uint8_t(buf[1])) << 16) |
                 (uint32_t(uint8_t(buf[2])) << 8) | uint32_t(uint8_t(buf[3]));
  buf.resize(len + 4);
  while (got < len + 4) {
    ssize_t n = ::read(fd, buf.data() + got, len + 4 - got);
    if (n <= 0) return false;
    got += static_cast<size_t>(n);
  }
  *frame = buf;
  return true;
}

std::string HelloAnswer(const std::string& hello_frame, const std::string& mode = "single") {
  wire::FrameHeader h;
  KVD_ASSERT(wire::DecodeFrameHeader(hello_frame, 1 << 20, &h).ok());
  wire::Response r;
  r.request_id = h.request_id;
  r.opcode = wire::Opcode::kHello;
  wire::HelloResponse body;
  body.version = 1;
  body.server_version = "fake";
  body.mode = mode;
  body.node_id = 1;
  r.body = body;
  std::string out;
  wire::EncodeResponse(r, &out);
  return out;
}

// A write in flight when the connection drops; its callback re-sends (allowed by client.h).
TEST_CASE("client: a callback that sends again while the connection is lost is safe",
          "[integration][client]") {
  uint16_t port = 0;
  int lfd = ListenFd(16, &port);
  std::atomic<int> accepted{0};
  std::thread server([&] {
    int c = ::accept(lfd, nullptr, nullptr);
    ++accepted;
    std::string f;
    REQUIRE(ReadFrame(c, &f));
    std::string a = HelloAnswer(f);
    REQUIRE(::write(c, a.data(), a.size()) == ssize_t(a.size()));
    REQUIRE(ReadFrame(c, &f));  // the PUT
    ::close(lfd);               // nobody listens any more: reconnects are refused
    ::close(c);                 // drop the connection with the PUT unanswered
  });
  client::ClientOptions o;
  o.endpoints = {"127.0.0.1:" + std::to_string(port)};
  o.request_timeout = 1500ms;
  o.backoff_initial = 5ms;
  client::Client c(o);
  std::promise<Status> first, second;
  wire::Request put;
  put.body = wire::PutRequest{"k", "v", 0};
  c.Send(put, [&](Result<wire::Response> r) {
    first.set_value(r.status());
    c.Send(put, [&](Result<wire::Response> r2) { second.set_value(r2.status()); });
  });
  auto s1 = first.get_future().get();
  INFO(s1.ToString());
  auto s2 = second.get_future().get();
  INFO(s2.ToString());
  server.join();
  CHECK(s1.code() == Code::kUnavailable);
  CHECK_FALSE(s2.ok());  // nobody listens any more; it fails cleanly, once
}

// A write whose connection drops is repeated on the next node only where the cluster
// deduplicates it across nodes (leader_follower: the Raft log carries the client table).
// multi_leader deduplicates per node and dynamo not at all: there the repeat would apply
// an INCR twice (kvd-torture found counters one above every acknowledged increment), so
// the write fails as indeterminate instead.
TEST_CASE("client: a write cut off by a lost connection is repeated on another node only "
          "in leader_follower", "[integration][client]") {
  for (const std::string mode : {"leader_follower", "multi_leader", "dynamo"}) {
    INFO(mode);
    uint16_t port_a = 0, port_b = 0;
    int la = ListenFd(16, &port_a);
    int lb = ListenFd(16, &port_b);
    std::atomic<int> incrs_at_b{0};
    std::thread a([&] {  // takes the INCR, then dies without answering
      int c = ::accept(la, nullptr, nullptr);
      std::string f;
      REQUIRE(ReadFrame(c, &f));
      std::string hello = HelloAnswer(f, mode);
      REQUIRE(::write(c, hello.data(), hello.size()) == ssize_t(hello.size()));
      REQUIRE(ReadFrame(c, &f));
      ::close(la);
      ::close(c);
    });
    std::thread b([&] {  // answers HELLO and any INCR with 1
      int c = ::accept(lb, nullptr, nullptr);
      std::string f;
      if (!ReadFrame(c, &f)) return;
      std::string hello = HelloAnswer(f, mode);
      REQUIRE(::write(c, hello.data(), hello.size()) == ssize_t(hello.size()));
      while (ReadFrame(c, &f)) {
        wire::FrameHeader h;
        REQUIRE(wire::DecodeFrameHeader(f, 1 << 20, &h).ok());
        if (h.opcode != static_cast<uint8_t>(wire::Opcode::kIncr)) continue;
        ++incrs_at_b;
        wire::Response r;
        r.request_id = h.request_id;
        r.opcode = wire::Opcode::kIncr;
        r.body = wire::IncrResponse{1};
        std::string out;
        wire::EncodeResponse(r, &out);
        REQUIRE(::write(c, out.data(), out.size()) == ssize_t(out.size()));
      }
      ::close(c);
    });
    client::ClientOptions o;
    o.endpoints = {"127.0.0.1:" + std::to_string(port_a), "127.0.0.1:" + std::to_string(port_b)};
    o.request_timeout = 3000ms;
    o.backoff_initial = 5ms;
    {
      client::Client c(o);
      auto r = c.Incr("count/x", 1);
      if (mode == "leader_follower") {
        CHECK(r.ok());
        CHECK(incrs_at_b.load() == 1);
      } else {
        REQUIRE_FALSE(r.ok());
        CHECK(r.status().code() == Code::kUnavailable);
        CHECK(r.status().message().find("may or may not have been applied") != std::string::npos);
        CHECK(incrs_at_b.load() == 0);
        // The client goes on, on the next node.
        CHECK(c.Incr("count/x", 1).ok());
        CHECK(incrs_at_b.load() == 1);
      }
    }
    a.join();
    ::shutdown(lb, SHUT_RDWR);
    ::close(lb);
    b.join();
  }
}

// Destroying a client while it connects to the first of two endpoints.
TEST_CASE("client: destroying a client while it connects does not hang", "[integration][client]") {
  // Endpoint A: a full accept queue, so connects hang in SYN retransmission.
  uint16_t port_a = 0;
  int a = ListenFd(0, &port_a);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    int f = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port_a);
    ::connect(f, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    fillers.push_back(f);
  }
  std::this_thread::sleep_for(100ms);
  KvdProcess kvd;
  REQUIRE(kvd.Start().ok());
  auto* c = new client::Client([&] {
    client::ClientOptions o;
    o.endpoints = {"127.0.0.1:" + std::to_string(port_a), kvd.endpoint()};
    o.connect_timeout = 3000ms;
    return o;
  }());
  std::promise<Status> got;
  wire::Request ping;
  ping.body = wire::PingRequest{"x"};
  c->Send(ping, [&](Result<wire::Response> r) { got.set_value(r.status()); });
  std::this_thread::sleep_for(200ms);  // connecting to A
  auto done = std::async(std::launch::async, [c] { delete c; });
  bool finished = done.wait_for(5s) == std::future_status::ready;
  CHECK(finished);
  if (!finished) {
    // Let the process end: the destructor thread is stuck in join().
    auto metrics = HttpGet(kvd.admin_port(), "/metrics");
    if (metrics.ok()) {
      auto& body = metrics.value().second;
      auto pos = body.find("\nkvd_connections ");
      if (pos != std::string::npos) WARN("~Client stuck; kvd reports" << body.substr(pos, 30));
    }
    kvd.Kill9();
    std::_Exit(1);
  }
  for (int f : fillers) ::close(f);
  ::close(a);
}

TEST_CASE("client: a server that never answers HELLO fails Connect within the timeout",
          "[integration][client]") {
  SilentListener silent;
  client::ClientOptions o;
  o.endpoints = {silent.endpoint()};
  o.connect_timeout = 300ms;
  o.request_timeout = 2s;
  client::Client c(o);
  auto start = Clock::now();
  Status s = c.Connect();
  CHECK(Clock::now() - start < 5s);
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == Code::kUnavailable);
  CHECK_THAT(s.message(), Catch::Contains("HELLO"));
  // Requests fail by their deadline instead of hanging.
  auto r = c.Ping();
  CHECK_FALSE(r.ok());
}

TEST_CASE("client: nothing listening is kUnavailable naming the endpoint",
          "[integration][client]") {
  client::ClientOptions o;
  o.endpoints = {"127.0.0.1:" + std::to_string(FreePort())};
  client::Client c(o);
  Status s = c.Connect();
  CHECK(s.code() == Code::kUnavailable);
  CHECK_THAT(s.message(), Catch::Contains(o.endpoints[0]));
}

TEST_CASE("client: no endpoints is an error, not a crash", "[integration][client]") {
  client::ClientOptions o;
  o.endpoints.clear();
  client::Client c(o);
  CHECK(c.Connect().code() == Code::kInvalidArgument);
  CHECK(c.Ping().status().code() == Code::kInvalidArgument);
}

TEST_CASE("client: falls back to the next endpoint and reconnects after a restart",
          "[integration][client]") {
  TempDir data("kvd-reconnect");
  auto kvd = std::make_unique<KvdProcess>(KvdOptions{}, data.path());
  REQUIRE(kvd->Start().ok());
  uint16_t port = kvd->port();
  client::ClientOptions o;
  o.endpoints = {"127.0.0.1:" + std::to_string(FreePort()), kvd->endpoint()};
  o.request_timeout = 10s;
  client::Client c(o);
  REQUIRE(c.Put("k", "v1").ok());
  CHECK(c.connected_endpoint() == kvd->endpoint());
  REQUIRE(kvd->Terminate() == 0);
  // Restart on the same port and data; the next request reconnects by itself.
  KvdOptions same_port;
  same_port.port = port;
  kvd = std::make_unique<KvdProcess>(same_port, data.path());
  REQUIRE(kvd->Start().ok());
  auto got = c.Get("k");
  REQUIRE(got.ok());
  CHECK(got->value == "v1");
}

}  // namespace
}  // namespace kvd::test
