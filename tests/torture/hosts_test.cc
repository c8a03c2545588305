// Tests of kvd-torture's hosts: RunProgram, loopback hosts, and real network namespaces.
//
// Goal: show that the network the torture tool builds behaves as hosts.h promises, using
// real packets, because a partition that silently does not partition makes every torture
// run a false pass. Method: the namespace tests (they need root; elsewhere they WARN and
// pass) create hosts with a random run id, then open sockets inside a node's namespace by
// switching this thread into it with setns() just for the socket() call — a socket stays in
// the namespace it was created in — and measure with non-blocking connects and UDP
// datagrams. No external tool (nc, python) is needed. A failure means the tool's faults or
// its cleanup are not what a run report claims; the message names the host and address.

#include "tests/torture/hosts.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace kvd::torture {
namespace {

using Clock = std::chrono::steady_clock;

std::string RandomRunId() {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device device;
  std::uniform_int_distribution<size_t> pick(0, sizeof(kChars) - 2);
  std::string run = "t";  // t for test, so a leftover says where it came from
  for (int i = 0; i < 5; ++i) run += kChars[pick(device)];
  return run;
}

bool SkipUnlessNetns() {
  std::string why;
  if (Hosts::NetnsAvailable(&why)) return false;
  WARN("network namespace tests skipped: " << why);
  return true;
}

// Names of this run's objects still present: namespaces and root-namespace interfaces.
std::vector<std::string> Leftovers(const std::string& run) {
  std::vector<std::string> found;
  const std::string prefix = "kvdt" + run;
  std::string output;
  const Result<int> code = RunProgram({"ip", "netns", "list"}, &output);
  REQUIRE(code.ok());
  REQUIRE(*code == 0);
  size_t at = 0;
  while ((at = output.find(prefix, at)) != std::string::npos) {
    const size_t end = output.find_first_of(" \n", at);
    found.push_back("netns " + output.substr(at, end - at));
    at = end;
  }
  for (const auto& entry : std::filesystem::directory_iterator("/sys/class/net")) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0) found.push_back("link " + name);
  }
  return found;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// A socket in network namespace `ns` ("" for the root namespace). setns() moves only the
// calling thread, and only until it moves back.
int SocketIn(const std::string& ns, int type) {
  if (ns.empty()) return ::socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const Fd home(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  const Fd there(::open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(home.get() >= 0);
  REQUIRE(there.get() >= 0);
  REQUIRE(::setns(there.get(), CLONE_NEWNET) == 0);
  const int fd = ::socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  REQUIRE(::setns(home.get(), CLONE_NEWNET) == 0);
  REQUIRE(fd >= 0);
  return fd;
}

sockaddr_in SocketAddress(const std::string& address, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  REQUIRE(::inet_pton(AF_INET, address.c_str(), &sa.sin_addr) == 1);
  return sa;
}

// Binds `fd` to address:0 and returns the port the kernel chose.
uint16_t BindAnyPort(int fd, const std::string& address) {
  sockaddr_in sa = SocketAddress(address, 0);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0);
  socklen_t length = sizeof(sa);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &length) == 0);
  return ntohs(sa.sin_port);
}

struct Listener {
  std::string address;
  uint16_t port = 0;
  std::unique_ptr<Fd> fd;
};

Listener ListenIn(const std::string& ns, const std::string& address) {
  Listener listener;
  listener.address = address;
  listener.fd = std::make_unique<Fd>(SocketIn(ns, SOCK_STREAM));
  listener.port = BindAnyPort(listener.fd->get(), address);
  REQUIRE(::listen(listener.fd->get(), 16) == 0);
  return listener;
}

struct ConnectResult {
  bool connected = false;
  int error = 0;  // errno when not connected; ETIMEDOUT for no answer within the timeout
  double elapsed_ms = 0;
};

ConnectResult ConnectFrom(const std::string& ns, const Listener& to, int timeout_ms = 1000) {
  const Fd fd(SocketIn(ns, SOCK_STREAM));
  const sockaddr_in sa = SocketAddress(to.address, to.port);
  ConnectResult result;
  const auto start = Clock::now();
  int rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof(sa));
  if (rc != 0 && errno == EINPROGRESS) {
    pollfd pfd{fd.get(), POLLOUT, 0};
    rc = ::poll(&pfd, 1, timeout_ms);
    if (rc == 0) {
      result.error = ETIMEDOUT;
    } else {
      socklen_t length = sizeof(result.error);
      REQUIRE(::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &result.error, &length) == 0);
    }
  } else if (rc != 0) {
    result.error = errno;
  }
  result.connected = result.error == 0;
  result.elapsed_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  return result;
}

std::string Describe(const ConnectResult& r) {
  return r.connected
             ? fmt::format("connected in {:.1f} ms", r.elapsed_ms)
             : fmt::format("failed after {:.1f} ms: {}", r.elapsed_ms, std::strerror(r.error));
}

// Sends one UDP datagram from namespace `from_ns` to a socket bound in `to_ns` and reports
// whether it arrived within `wait_ms`.
bool DatagramArrives(const std::string& from_ns, const std::string& to_ns,
                     const std::string& to_address, int wait_ms = 500) {
  const Fd receiver(SocketIn(to_ns, SOCK_DGRAM));
  const uint16_t port = BindAnyPort(receiver.get(), to_address);
  const Fd sender(SocketIn(from_ns, SOCK_DGRAM));
  const sockaddr_in sa = SocketAddress(to_address, port);
  // (A cut drops the datagram silently; sendto itself succeeds.)
  (void)::sendto(sender.get(), "x", 1, 0, reinterpret_cast<const sockaddr*>(&sa), sizeof(sa));
  pollfd pfd{receiver.get(), POLLIN, 0};
  if (::poll(&pfd, 1, wait_ms) != 1) return false;
  char byte = 0;
  return ::recv(receiver.get(), &byte, 1, 0) == 1 && byte == 'x';
}

std::string BridgeNfCallIptables() {
  std::string value;
  std::ifstream("/proc/sys/net/bridge/bridge-nf-call-iptables") >> value;
  return value;  // "" when br_netfilter is absent
}

// Removes whatever `run` left, also when a REQUIRE ends the test early.
struct CleanupAtExit {
  std::string run;
  ~CleanupAtExit() { Hosts::Cleanup(run); }
};

// Namespace hosts for `run`, or a failed test that says why not.
std::unique_ptr<Hosts> CreateNetns(size_t n, const std::string& run) {
  auto created = Hosts::Create(n, true, run);
  INFO((created.ok() ? std::string("created") : created.status().ToString()));
  REQUIRE(created.ok());
  return std::move(created).value();
}

TEST_CASE("hosts: RunProgram returns the exit code and captures stdout and stderr",
          "[integration][torture]") {
  std::string output;
  Result<int> code = RunProgram({"sh", "-c", "echo out; echo err >&2; exit 3"}, &output);
  REQUIRE(code.ok());
  CHECK(*code == 3);
  CHECK(output == "out\nerr\n");

  code = RunProgram({"true"});
  REQUIRE(code.ok());
  CHECK(*code == 0);
  code = RunProgram({"false"}, &output);
  REQUIRE(code.ok());
  CHECK(*code == 1);
  CHECK(output.empty());

  // More than a pipe holds (64 KiB), so the reader must drain while the child writes.
  code = RunProgram({"head", "-c", "300000", "/dev/zero"}, &output);
  REQUIRE(code.ok());
  CHECK(*code == 0);
  CHECK(output.size() == 300000);

  code = RunProgram({"sh", "-c", "kill -KILL $$"});
  REQUIRE(code.ok());
  CHECK(*code == 128 + 9);
}

TEST_CASE("hosts: RunProgram reports a program that cannot start", "[integration][torture]") {
  std::string output;
  const Result<int> missing = RunProgram({"kvd-torture-no-such-program", "x"}, &output);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == Code::kIOError);
  CHECK_THAT(missing.status().message(), Catch::Contains("kvd-torture-no-such-program"));

  const Result<int> empty = RunProgram({});
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.status().code() == Code::kInvalidArgument);
}

TEST_CASE("hosts: loopback hosts share 127.0.0.1 and refuse network faults",
          "[integration][torture]") {
  auto created = Hosts::Create(3, false, "lb0");
  REQUIRE(created.ok());
  Hosts& hosts = **created;
  CHECK(hosts.size() == 3);
  CHECK_FALSE(hosts.netns());
  for (size_t i = 0; i < 3; ++i) {
    CHECK(hosts.address(i) == "127.0.0.1");
    CHECK(hosts.exec_prefix(i).empty());
  }
  CHECK_FALSE(hosts.SupportsPartitions());
  CHECK_FALSE(hosts.SupportsNetem());
  const Status cut = hosts.Cut(0, 1);
  CHECK(cut.code() == Code::kUnsupported);
  CHECK_THAT(cut.message(), Catch::Contains("loopback"));
  const Status netem = hosts.Netem(0, 100, 0, 0);
  CHECK(netem.code() == Code::kUnsupported);
  CHECK_THAT(netem.message(), Catch::Contains("loopback"));
  // Nothing can be in effect, so undoing it succeeds.
  CHECK(hosts.Heal(0, 1).ok());
  CHECK(hosts.HealAll().ok());
  CHECK(hosts.ClearNetem(2).ok());
  CHECK(hosts.Heal(0, 3).code() == Code::kInvalidArgument);
}

TEST_CASE("hosts: Create rejects bad sizes and run ids", "[integration][torture]") {
  for (const std::string run : {"", "abcdefg", "Abc", "a-b", "a b"}) {
    INFO("run id '" << run << "'");
    const auto hosts = Hosts::Create(3, false, run);
    REQUIRE_FALSE(hosts.ok());
    CHECK(hosts.status().code() == Code::kInvalidArgument);
  }
  CHECK(Hosts::Create(0, false, "ok").status().code() == Code::kInvalidArgument);
  CHECK(Hosts::Create(254, false, "ok").status().code() == Code::kInvalidArgument);
  CHECK(Hosts::Create(253, false, "ok").ok());
}

TEST_CASE("hosts(netns): every node reaches the root namespace and every other node",
          "[integration][torture]") {
  if (SkipUnlessNetns()) return;
  const std::string run = RandomRunId();
  INFO("run " << run);
  const CleanupAtExit cleanup{run};
  {
    const std::unique_ptr<Hosts> owned = CreateNetns(3, run);
    Hosts& hosts = *owned;
    CHECK(hosts.netns());
    CHECK(hosts.SupportsPartitions());
    // Node addresses are .1, .2, .3 of one 10.x.y.0/24.
    const std::string subnet = hosts.address(0).substr(0, hosts.address(0).rfind('.') + 1);
    CHECK(subnet.rfind("10.", 0) == 0);
    std::vector<std::string> namespaces;
    for (size_t i = 0; i < 3; ++i) {
      CHECK(hosts.address(i) == fmt::format("{}{}", subnet, i + 1));
      const std::vector<std::string> prefix = hosts.exec_prefix(i);
      REQUIRE(prefix.size() == 4);
      CHECK(prefix[3] == fmt::format("kvdt{}n{}", run, i));
      namespaces.push_back(prefix[3]);
      // exec_prefix runs a program on that host: it sees the node's address.
      std::vector<std::string> argv = prefix;
      for (const char* word : {"ip", "-4", "-o", "addr", "show"}) argv.emplace_back(word);
      std::string output;
      REQUIRE(RunProgram(argv, &output).ok());
      CHECK_THAT(output, Catch::Contains(hosts.address(i) + "/24"));
    }
    if (!BridgeNfCallIptables().empty()) CHECK(BridgeNfCallIptables() == "0");

    std::vector<Listener> listeners;
    for (size_t i = 0; i < 3; ++i) listeners.push_back(ListenIn(namespaces[i], hosts.address(i)));
    const Listener root = ListenIn("", subnet + "254");
    for (size_t to = 0; to < 3; ++to) {
      const ConnectResult from_root = ConnectFrom("", listeners[to]);
      {
        INFO("root -> " << to << ": " << Describe(from_root));
        CHECK(from_root.connected);
      }
      for (size_t from = 0; from < 3; ++from) {
        if (from == to) continue;
        const ConnectResult r = ConnectFrom(namespaces[from], listeners[to]);
        {
          INFO(from << " -> " << to << ": " << Describe(r));
          CHECK(r.connected);
        }
      }
      const ConnectResult to_root = ConnectFrom(namespaces[to], root);
      {
        INFO(to << " -> root: " << Describe(to_root));
        CHECK(to_root.connected);
      }
    }
  }
  CHECK(Leftovers(run).empty());
}

TEST_CASE("hosts(netns): Cut drops packets one way only, and Heal restores them",
          "[integration][torture]") {
  if (SkipUnlessNetns()) return;
  const std::string run = RandomRunId();
  INFO("run " << run);
  const CleanupAtExit cleanup{run};
  const std::unique_ptr<Hosts> owned = CreateNetns(3, run);
  Hosts& hosts = *owned;
  std::vector<std::string> ns;
  for (size_t i = 0; i < 3; ++i) ns.push_back(hosts.exec_prefix(i)[3]);
  REQUIRE(DatagramArrives(ns[0], ns[1], hosts.address(1)));

  REQUIRE(hosts.Cut(0, 1).ok());
  REQUIRE(hosts.Cut(0, 1).ok());  // idempotent
  CHECK_FALSE(DatagramArrives(ns[0], ns[1], hosts.address(1)));
  CHECK(DatagramArrives(ns[1], ns[0], hosts.address(0)));
  CHECK(DatagramArrives(ns[0], ns[2], hosts.address(2)));
  CHECK(DatagramArrives("", ns[1], hosts.address(1)));
  CHECK(
      DatagramArrives(ns[0], "", hosts.address(0).substr(0, hosts.address(0).rfind('.')) + ".254"));
  // TCP needs both ways, so it fails in both directions; quickly, from the cut side.
  const Listener on1 = ListenIn(ns[1], hosts.address(1));
  const ConnectResult cut = ConnectFrom(ns[0], on1);
  CHECK_FALSE(cut.connected);
  CHECK(cut.elapsed_ms <= 1500);
  const ConnectResult from_root = ConnectFrom("", on1);
  {
    INFO(Describe(from_root));
    CHECK(from_root.connected);
  }

  REQUIRE(hosts.Heal(0, 1).ok());
  REQUIRE(hosts.Heal(0, 1).ok());  // healing what is not cut is fine
  CHECK(DatagramArrives(ns[0], ns[1], hosts.address(1)));
  const ConnectResult healed = ConnectFrom(ns[0], on1);
  {
    INFO(Describe(healed));
    CHECK(healed.connected);
  }

  REQUIRE(hosts.Cut(0, 1).ok());
  REQUIRE(hosts.Cut(2, 0).ok());
  CHECK_FALSE(DatagramArrives(ns[2], ns[0], hosts.address(0)));
  REQUIRE(hosts.HealAll().ok());
  CHECK(DatagramArrives(ns[0], ns[1], hosts.address(1)));
  CHECK(DatagramArrives(ns[2], ns[0], hosts.address(0)));

  CHECK(hosts.Cut(0, 3).code() == Code::kInvalidArgument);
  CHECK(hosts.Cut(1, 1).code() == Code::kInvalidArgument);
}

TEST_CASE("hosts(netns): Netem delays a node's packets", "[integration][torture]") {
  if (SkipUnlessNetns()) return;
  const std::string run = RandomRunId();
  INFO("run " << run);
  const CleanupAtExit cleanup{run};
  const std::unique_ptr<Hosts> owned = CreateNetns(2, run);
  Hosts& hosts = *owned;
  if (!hosts.SupportsNetem()) {
    const Status netem = hosts.Netem(1, 100, 0, 0);
    CHECK(netem.code() == Code::kUnsupported);
    CHECK_THAT(netem.message(), Catch::Contains("netem"));
    CHECK(hosts.ClearNetem(1).ok());
    WARN("netem tests skipped: " << netem.message());
    return;
  }
  const Listener on1 = ListenIn(hosts.exec_prefix(1)[3], hosts.address(1));
  const ConnectResult before = ConnectFrom("", on1);
  {
    INFO(Describe(before));
    REQUIRE(before.connected);
  }
  CHECK(before.elapsed_ms < 50);

  // The SYN-ACK leaves through node 1's delayed interface.
  REQUIRE(hosts.Netem(1, 100, 0, 0).ok());
  const ConnectResult delayed = ConnectFrom("", on1);
  {
    INFO(Describe(delayed));
    REQUIRE(delayed.connected);
  }
  CHECK(delayed.elapsed_ms >= 90);

  REQUIRE(hosts.ClearNetem(1).ok());
  REQUIRE(hosts.ClearNetem(1).ok());  // nothing to clear is fine
  const ConnectResult after = ConnectFrom("", on1);
  {
    INFO(Describe(after));
    REQUIRE(after.connected);
  }
  CHECK(after.elapsed_ms < 50);

  CHECK(hosts.Netem(1, 10, 20, 0).code() == Code::kInvalidArgument);
  CHECK(hosts.Netem(1, 10, 0, 101).code() == Code::kInvalidArgument);
}

TEST_CASE("hosts(netns): Cleanup removes what a crashed run left, and nothing else",
          "[integration][torture]") {
  if (SkipUnlessNetns()) return;
  const std::string run = RandomRunId();
  const std::string other = RandomRunId();
  INFO("run " << run << ", other run " << other);
  const CleanupAtExit cleanup_run{run};
  const CleanupAtExit cleanup_other{other};
  std::unique_ptr<Hosts> kept = CreateNetns(1, other);
  // As if the tool had crashed: the hosts are never destroyed.
  Hosts* leaked = CreateNetns(2, run).release();
  CHECK(Leftovers(run).size() == 2 + 2 + 1);  // namespaces, host-side veths, bridge

  // A second run with the same id must not take over (or tear down) the first's network.
  const auto again = Hosts::Create(2, true, run);
  REQUIRE_FALSE(again.ok());
  CHECK_THAT(again.status().message(), Catch::Contains("Cleanup"));
  CHECK(Leftovers(run).size() == 5);

  Hosts::Cleanup(run);
  CHECK(Leftovers(run).empty());
  // The other run is untouched and still works.
  CHECK(Leftovers(other).size() == 3);
  const Listener on0 = ListenIn(kept->exec_prefix(0)[3], kept->address(0));
  const ConnectResult r = ConnectFrom("", on0);
  {
    INFO(Describe(r));
    CHECK(r.connected);
  }
  if (!BridgeNfCallIptables().empty()) CHECK(BridgeNfCallIptables() == "0");

  delete leaked;  // its destructor finds nothing left to remove
  CHECK(Leftovers(run).empty());
  kept.reset();
  CHECK(Leftovers(other).empty());
}

TEST_CASE("hosts(netns): a subnet already routed on this host is not used",
          "[integration][torture]") {
  if (SkipUnlessNetns()) return;
  const std::string run = RandomRunId();
  INFO("run " << run);
  const CleanupAtExit cleanup{run};
  std::string first;
  { first = CreateNetns(1, run)->address(0); }
  // Route the subnet the run id hashes to elsewhere; an unreachable route carries no
  // traffic, and this subnet is one only kvd-torture uses.
  const std::string subnet = first.substr(0, first.rfind('.')) + ".0/24";
  const Result<int> added = RunProgram({"ip", "route", "add", "unreachable", subnet});
  REQUIRE(added.ok());
  REQUIRE(*added == 0);
  struct RemoveRoute {
    std::string subnet;
    ~RemoveRoute() { (void)RunProgram({"ip", "route", "del", "unreachable", subnet}); }
  } remove_route{subnet};
  const std::unique_ptr<Hosts> hosts = CreateNetns(1, run);
  CHECK(hosts->address(0) != first);
  CHECK(hosts->address(0).substr(0, 3) == "10.");
}

}  // namespace
}  // namespace kvd::torture
