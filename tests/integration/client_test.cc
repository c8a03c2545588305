// The client library against misbehaving or missing servers.
//
// Goal: libkvclient never hangs and always says what went wrong: an endpoint nobody
// listens on, a server that accepts but never answers the handshake, the fallback to the
// next endpoint, and a reconnect after the server restarts. Method: real sockets on
// loopback (a silent listener made here, real kvd processes from the harness), with
// short timeouts. A failure means a client could stall or lose a request silently.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/lib/client.h"
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
