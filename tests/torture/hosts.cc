// Hosts: network namespaces on a bridge, or plain loopback. See hosts.h for the contract.
//
// Everything here is done by running `ip` and `tc` (iproute2) rather than by speaking
// netlink: the commands are what an operator would type to inspect or repair a run by
// hand, and every error message can name the exact command that failed.

#include "tests/torture/hosts.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string_view>
#include <utility>

extern char** environ;  // NOLINT: POSIX declares it nowhere else

namespace kvd::torture {
namespace {

// Node addresses are .1 to .253 of one /24; .254 belongs to the bridge.
constexpr size_t kMaxHosts = 253;
constexpr size_t kMaxRunIdChars = 6;
constexpr unsigned kBridgeHostByte = 254;
// Subnets are 10.<a>.<b>.0/24 with a in [kFirstSecondByte, kFirstSecondByte + kSecondBytes).
constexpr unsigned kFirstSecondByte = 200;
constexpr unsigned kSecondBytes = 51;
constexpr int kMaxSubnetTries = 64;
// Output kept by RunProgram; the rest is read and dropped so the child never blocks.
constexpr size_t kMaxOutputBytes = size_t{1} << 20;
constexpr uint32_t kMaxDelayMs = 60'000;
// netem queues delayed packets; its default limit (1000) would drop at ~10k packets/s with
// 100 ms of delay, which is loss nobody asked for.
constexpr const char* kNetemLimitPackets = "10000";

constexpr std::string_view kPrefix = "kvdt";
// The node's side of its veth pair. It is created inside the namespace, so it cannot clash
// with the root namespace's eth0.
constexpr const char* kNodeInterface = "eth0";

// Where DisableBridgeNetfilter keeps the sysctl values it changed, for the last run to put
// back (see there).
constexpr const char* kSavedBridgeNfPath = "/run/kvd-torture-bridge-nf";
constexpr const char* kBridgeNfDir = "/proc/sys/net/bridge/";
constexpr std::string_view kBridgeNfKeys[] = {"bridge-nf-call-iptables", "bridge-nf-call-ip6tables",
                                              "bridge-nf-call-arptables"};

// Interface names are limited to 15 characters (IFNAMSIZ - 1): with a 6-character run id,
// "kvdt" + run + "h" + 3 digits is 14 and "kvdt" + run + "br" is 12.
std::string NamespaceName(const std::string& run, size_t i) {
  return fmt::format("{}{}n{}", kPrefix, run, i);
}
std::string HostVethName(const std::string& run, size_t i) {
  return fmt::format("{}{}h{}", kPrefix, run, i);
}
std::string BridgeName(const std::string& run) { return fmt::format("{}{}br", kPrefix, run); }

std::string Join(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& arg : argv) {
    if (!out.empty()) out += ' ';
    out += arg;
  }
  return out;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Runs a command that must succeed; the error names the command and shows its output.
Status Must(const std::vector<std::string>& argv) {
  std::string output;
  KVD_ASSIGN_OR_RETURN(const int code, RunProgram(argv, &output));
  if (code == 0) return Status::Ok();
  return Status::IOError(fmt::format("`{}` exited with {}: {}", Join(argv), code, Trim(output)));
}

// Runs a command whose failure does not matter (teardown), returning its output.
std::string Try(const std::vector<std::string>& argv) {
  std::string output;
  const Result<int> code = RunProgram(argv, &output);
  return code.ok() && *code == 0 ? output : std::string();
}

bool ValidRunId(const std::string& run) {
  if (run.empty() || run.size() > kMaxRunIdChars) return false;
  for (const char c : run) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

// Which run, if any, an object name belongs to, and whether it is a namespace, a host-side
// veth or the bridge. Names of different runs cannot be confused: a namespace or veth name
// is the run id followed by n or h and digits only, a bridge's by "br", and run ids are
// matched whole, so run "ab" never claims "kvdtabcn0" (run "abc") or "kvdtabbrbr".
enum class ObjectKind { kNone, kNamespace, kVeth, kBridge };
ObjectKind KindForRun(std::string_view name, const std::string& run) {
  if (name.substr(0, kPrefix.size()) != kPrefix) return ObjectKind::kNone;
  name.remove_prefix(kPrefix.size());
  if (name.substr(0, run.size()) != run) return ObjectKind::kNone;
  name.remove_prefix(run.size());
  if (name == "br") return ObjectKind::kBridge;
  if (name.size() < 2) return ObjectKind::kNone;
  for (const char c : name.substr(1)) {
    if (c < '0' || c > '9') return ObjectKind::kNone;
  }
  if (name[0] == 'n') return ObjectKind::kNamespace;
  if (name[0] == 'h') return ObjectKind::kVeth;
  return ObjectKind::kNone;
}

std::vector<std::string> ListNamespaces() {
  // Lines are "name" or "name (id: 3)".
  std::vector<std::string> names;
  std::istringstream lines(Try({"ip", "netns", "list"}));
  std::string line;
  while (std::getline(lines, line)) {
    const std::string name = line.substr(0, line.find(' '));
    if (!name.empty()) names.push_back(name);
  }
  return names;
}

std::vector<std::string> ListRootInterfaces() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/sys/class/net", ec)) {
    names.push_back(entry.path().filename().string());
  }
  return names;
}

struct RunObjects {
  std::vector<std::string> namespaces;
  std::vector<std::string> veths;
  std::vector<std::string> bridges;
  bool empty() const { return namespaces.empty() && veths.empty() && bridges.empty(); }
};

RunObjects FindRunObjects(const std::string& run) {
  RunObjects objects;
  for (std::string& name : ListNamespaces()) {
    if (KindForRun(name, run) == ObjectKind::kNamespace) objects.namespaces.push_back(name);
  }
  for (std::string& name : ListRootInterfaces()) {
    const ObjectKind kind = KindForRun(name, run);
    if (kind == ObjectKind::kVeth) objects.veths.push_back(name);
    if (kind == ObjectKind::kBridge) objects.bridges.push_back(name);
  }
  return objects;
}

// --- br_netfilter --------------------------------------------------------------------------
//
// With br_netfilter loaded and net.bridge.bridge-nf-call-iptables = 1, frames bridged
// between two nodes pass through the root namespace's iptables FORWARD chain, whatever the
// bridge's own nf_call_iptables option says, and hosts running Docker set that chain's
// policy to DROP: node-to-node traffic would vanish while clients still reach every node.
// So the sysctls are switched off while any kvd-torture bridge exists, and the values found
// are saved in a file for whoever removes the last bridge to put back.

bool AnyTortureBridge() {
  for (const std::string& name : ListRootInterfaces()) {
    if (name.substr(0, kPrefix.size()) == kPrefix && name.size() > 2 &&
        name.substr(name.size() - 2) == "br" &&
        std::filesystem::exists("/sys/class/net/" + name + "/bridge")) {
      return true;
    }
  }
  return false;
}

void DisableBridgeNetfilter() {
  std::string changed;
  for (const std::string_view key : kBridgeNfKeys) {
    const std::string path = std::string(kBridgeNfDir) + std::string(key);
    std::string value;
    if (!(std::ifstream(path) >> value) || value == "0") continue;
    std::ofstream(path) << "0\n";
    changed += fmt::format("{} {}\n", key, value);
  }
  // An existing file holds the values found by an earlier, still running, run: keep those.
  if (!changed.empty() && !std::filesystem::exists(kSavedBridgeNfPath)) {
    std::ofstream(kSavedBridgeNfPath) << changed;
  }
}

void RestoreBridgeNetfilter() {
  if (AnyTortureBridge() || !std::filesystem::exists(kSavedBridgeNfPath)) return;
  std::ifstream saved(kSavedBridgeNfPath);
  std::string key;
  std::string value;
  while (saved >> key >> value) {
    for (const std::string_view known : kBridgeNfKeys) {
      if (key == known) std::ofstream(std::string(kBridgeNfDir) + key) << value << "\n";
    }
  }
  std::error_code ec;
  std::filesystem::remove(kSavedBridgeNfPath, ec);
}

// --- Subnets -------------------------------------------------------------------------------

struct Subnet {
  unsigned a = 0;
  unsigned b = 0;
  std::string Address(unsigned host_byte) const {
    return fmt::format("10.{}.{}.{}", a, b, host_byte);
  }
};

uint64_t Fnv1a(std::string_view data) {
  uint64_t hash = 14695981039346656037ULL;
  for (const char c : data) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return hash;
}

// "10.1.2.0/24" or "10.1.2.3" (a /32) as a network and prefix length; false otherwise.
bool ParsePrefix(const std::string& text, uint32_t* network, unsigned* length) {
  unsigned bytes[4] = {};
  unsigned len = 32;
  char tail = 0;
  const int fields = std::sscanf(text.c_str(), "%u.%u.%u.%u/%u%c", &bytes[0], &bytes[1], &bytes[2],
                                 &bytes[3], &len, &tail);
  if (fields != 4 && fields != 5) return false;
  if (len > 32) return false;
  uint32_t value = 0;
  for (const unsigned byte : bytes) {
    if (byte > 255) return false;
    value = (value << 8) | byte;
  }
  *network = value;
  *length = len;
  return true;
}

bool Overlaps(uint32_t net1, unsigned len1, uint32_t net2, unsigned len2) {
  const unsigned len = std::min(len1, len2);
  const uint32_t mask = len == 0 ? 0 : ~uint32_t{0} << (32 - len);
  return (net1 & mask) == (net2 & mask);
}

// The IPv4 destinations the root namespace routes anywhere (all tables, all route types).
Result<std::vector<std::pair<uint32_t, unsigned>>> RoutedPrefixes() {
  const std::vector<std::string> argv = {"ip", "-4", "route", "show", "table", "all"};
  std::string output;
  KVD_ASSIGN_OR_RETURN(const int code, RunProgram(argv, &output));
  if (code != 0) {
    return Status::IOError(fmt::format("`{}` exited with {}: {}", Join(argv), code, Trim(output)));
  }
  static const std::set<std::string> kTypes = {"unicast", "local",     "broadcast",   "multicast",
                                               "anycast", "blackhole", "unreachable", "prohibit",
                                               "throw",   "nat"};
  std::vector<std::pair<uint32_t, unsigned>> prefixes;
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string word;
    words >> word;
    if (kTypes.count(word) != 0) words >> word;
    uint32_t network = 0;
    unsigned length = 0;
    if (ParsePrefix(word, &network, &length)) prefixes.emplace_back(network, length);
  }
  return prefixes;
}

// The run id picks the subnet, so a run's addresses are predictable from its id; a subnet
// already routed here (a VPN, another run, a 10.0.0.0/8 LAN) is skipped by rehashing.
// Concurrent runs that hash to the same free subnet at the same instant would still clash;
// distinct run ids make that unlikely.
Result<Subnet> PickSubnet(const std::string& run) {
  const auto routes = RoutedPrefixes();
  if (!routes.ok()) return routes.status().WithContext("list routes to choose a subnet");
  const auto& routed = routes.value();
  for (int attempt = 0; attempt < kMaxSubnetTries; ++attempt) {
    const uint64_t hash = Fnv1a(fmt::format("{}#{}", run, attempt));
    Subnet subnet;
    subnet.a = kFirstSecondByte + static_cast<unsigned>(hash % kSecondBytes);
    subnet.b = static_cast<unsigned>((hash >> 16) % 256);
    const uint32_t network = (10U << 24) | (subnet.a << 16) | (subnet.b << 8);
    bool taken = false;
    for (const auto& [net, len] : routed) taken = taken || Overlaps(network, 24, net, len);
    if (!taken) return subnet;
  }
  return Status::Unavailable(fmt::format("no free 10.{}-{}.x.0/24 subnet for run {} after {} tries",
                                         kFirstSecondByte, kFirstSecondByte + kSecondBytes - 1, run,
                                         kMaxSubnetTries));
}

// --- Teardown ------------------------------------------------------------------------------

// Removes every object of `run`. Processes still inside its namespaces are killed: after a
// crash they are nodes nobody can reach any more, and while one lives its namespace (and
// so the node's address) lives on after `ip netns delete`.
void Teardown(const std::string& run) {
  const RunObjects objects = FindRunObjects(run);
  for (const std::string& ns : objects.namespaces) {
    std::istringstream pids(Try({"ip", "netns", "pids", ns}));
    long pid = 0;
    while (pids >> pid) {
      if (pid > 1 && pid != ::getpid()) ::kill(static_cast<pid_t>(pid), SIGKILL);
    }
  }
  // Deleting one end of a veth pair deletes both, at once; a namespace's devices go only
  // when the kernel gets round to freeing the namespace.
  for (const std::string& veth : objects.veths) Try({"ip", "link", "delete", veth});
  for (const std::string& ns : objects.namespaces) Try({"ip", "netns", "delete", ns});
  for (const std::string& bridge : objects.bridges) Try({"ip", "link", "delete", bridge});
  RestoreBridgeNetfilter();
}

}  // namespace

struct Hosts::Impl {
  size_t n = 0;
  bool netns = false;
  std::string run;
  Subnet subnet;
  // Empty when netem works on this kernel; otherwise why not.
  std::string netem_unsupported;
  std::set<std::pair<size_t, size_t>> cuts;

  std::string Namespace(size_t i) const { return NamespaceName(run, i); }
  std::string Address(size_t i) const {
    return netns ? subnet.Address(static_cast<unsigned>(i + 1)) : "127.0.0.1";
  }
  Status CheckIndex(size_t i) const {
    if (i < n) return Status::Ok();
    return Status::InvalidArgument(fmt::format("host {} out of range (size {})", i, n));
  }
  Status SetUp();
  Status SetUpNode(size_t i);
  void ProbeNetem();
};

Status Hosts::Impl::SetUp() {
  const std::string bridge = BridgeName(run);
  KVD_TRY(Must({"ip", "link", "add", bridge, "type", "bridge"}));
  // After the bridge exists, so a run removing the last other bridge meanwhile sees this
  // one and leaves the sysctls off.
  DisableBridgeNetfilter();
  KVD_TRY(Must({"ip", "addr", "add", subnet.Address(kBridgeHostByte) + "/24", "dev", bridge}));
  KVD_TRY(Must({"ip", "link", "set", bridge, "up"}));
  for (size_t i = 0; i < n; ++i) KVD_TRY(SetUpNode(i));
  return Status::Ok();
}

// Every node, and the root namespace through the bridge, sits on the same /24, so the
// connected routes are all the routing there is: no gateway, no ip_forward.
Status Hosts::Impl::SetUpNode(size_t i) {
  const std::string ns = Namespace(i);
  const std::string veth = HostVethName(run, i);
  KVD_TRY(Must({"ip", "netns", "add", ns}));
  KVD_TRY(Must(
      {"ip", "link", "add", veth, "type", "veth", "peer", "name", kNodeInterface, "netns", ns}));
  KVD_TRY(Must({"ip", "link", "set", veth, "master", BridgeName(run)}));
  KVD_TRY(Must({"ip", "link", "set", veth, "up"}));
  KVD_TRY(Must({"ip", "-n", ns, "addr", "add", Address(i) + "/24", "dev", kNodeInterface}));
  KVD_TRY(Must({"ip", "-n", ns, "link", "set", "lo", "up"}));
  KVD_TRY(Must({"ip", "-n", ns, "link", "set", kNodeInterface, "up"}));
  return Status::Ok();
}

// sch_netem may be missing (a kernel built without CONFIG_NET_SCH_NETEM) or `tc` may be:
// find out once, with a zero delay on node 0, instead of at the first fault.
void Hosts::Impl::ProbeNetem() {
  const std::string ns = Namespace(0);
  const Status probe = Must(
      {"tc", "-n", ns, "qdisc", "replace", "dev", kNodeInterface, "root", "netem", "delay", "0ms"});
  if (!probe.ok()) {
    netem_unsupported = "tc netem does not work here: " + probe.message();
    return;
  }
  Try({"tc", "-n", ns, "qdisc", "del", "dev", kNodeInterface, "root"});
}

Result<std::unique_ptr<Hosts>> Hosts::Create(size_t n, bool netns, const std::string& run) {
  if (n == 0 || n > kMaxHosts) {
    return Status::InvalidArgument(fmt::format("{} hosts: want 1 to {}", n, kMaxHosts));
  }
  if (!ValidRunId(run)) {
    return Status::InvalidArgument(
        fmt::format("run id '{}': want 1 to {} characters [a-z0-9]", run, kMaxRunIdChars));
  }
  std::unique_ptr<Hosts> hosts(new Hosts());
  hosts->impl_ = std::make_unique<Impl>();
  Impl& impl = *hosts->impl_;
  impl.n = n;
  impl.run = run;
  if (!netns) return hosts;
  std::string why;
  if (!NetnsAvailable(&why)) return Status::Unavailable("network namespaces: " + why);
  // Never tear down what may be a live run: leftovers are for Cleanup(run) to remove.
  const RunObjects existing = FindRunObjects(run);
  if (!existing.empty()) {
    return Status::Unavailable(fmt::format(
        "run id {} is in use ({} namespaces, {} veths, {} bridges exist); if its run "
        "crashed, remove them with Hosts::Cleanup(\"{}\")",
        run, existing.namespaces.size(), existing.veths.size(), existing.bridges.size(), run));
  }
  KVD_ASSIGN_OR_RETURN(impl.subnet, PickSubnet(run));
  impl.netns = true;
  const Status status = impl.SetUp();
  if (!status.ok()) {
    Teardown(run);
    impl.netns = false;  // nothing left for the destructor to remove
    return status.WithContext(fmt::format("set up {} namespaces for run {}", n, run));
  }
  impl.ProbeNetem();
  return hosts;
}

bool Hosts::NetnsAvailable(std::string* why) {
  std::string reason;
  if (::geteuid() != 0) {
    reason = "not root (network namespaces need CAP_NET_ADMIN and CAP_SYS_ADMIN)";
  } else {
    std::string output;
    const Result<int> code = RunProgram({"ip", "netns", "list"}, &output);
    if (!code.ok()) {
      reason = "`ip` (iproute2) cannot be run: " + code.status().message();
    } else if (*code != 0) {
      reason = fmt::format("`ip netns list` exited with {}: {}", *code, Trim(output));
    }
  }
  if (why != nullptr) *why = reason;
  return reason.empty();
}

void Hosts::Cleanup(const std::string& run) {
  if (!ValidRunId(run)) return;  // an empty id would match every run's objects
  try {
    Teardown(run);
  } catch (...) {  // NOLINT(bugprone-empty-catch): best effort, by contract
  }
}

Hosts::~Hosts() {
  if (impl_ == nullptr || !impl_->netns) return;
  try {
    Teardown(impl_->run);
  } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not throw
  }
}

size_t Hosts::size() const { return impl_->n; }
bool Hosts::netns() const { return impl_->netns; }

std::string Hosts::address(size_t i) const {
  KVD_ASSERT(i < impl_->n);
  return impl_->Address(i);
}

std::vector<std::string> Hosts::exec_prefix(size_t i) const {
  KVD_ASSERT(i < impl_->n);
  if (!impl_->netns) return {};
  return {"ip", "netns", "exec", impl_->Namespace(i)};
}

bool Hosts::SupportsPartitions() const { return impl_->netns; }
bool Hosts::SupportsNetem() const { return impl_->netns && impl_->netem_unsupported.empty(); }

// A permanent neighbour entry in the sender's namespace that maps `to` to a MAC address
// no interface has: from's frames to `to` go onto the bridge and are dropped by every
// receiver (not their address), silently, while to's packets still arrive at `from`. So
// the sender's connections time out, as over a pulled cable (a blackhole route would
// fail them at once with EINVAL). Heal deletes the entry; ARP then resolves `to` again.
constexpr const char* kNowhereMac = "02:00:00:00:00:01";

Status Hosts::Cut(size_t from, size_t to) {
  if (!impl_->netns) {
    return Status::Unsupported("partitions need network namespaces; these hosts are loopback");
  }
  KVD_TRY(impl_->CheckIndex(from));
  KVD_TRY(impl_->CheckIndex(to));
  if (from == to) return Status::InvalidArgument(fmt::format("cut host {} from itself", from));
  KVD_TRY(Must({"ip", "-n", impl_->Namespace(from), "neigh", "replace", impl_->Address(to),
                "lladdr", kNowhereMac, "nud", "permanent", "dev", kNodeInterface}));
  impl_->cuts.emplace(from, to);
  return Status::Ok();
}

Status Hosts::Heal(size_t from, size_t to) {
  KVD_TRY(impl_->CheckIndex(from));
  KVD_TRY(impl_->CheckIndex(to));
  if (!impl_->netns || from == to) return Status::Ok();  // never cut
  const std::string ns = impl_->Namespace(from);
  Status status = Must({"ip", "-n", ns, "neigh", "del", impl_->Address(to), "dev", kNodeInterface});
  // Deleting an entry that is not there fails; healing what is not cut is fine.
  if (!status.ok()) {
    const std::string left = Try({"ip", "-n", ns, "neigh", "show", impl_->Address(to)});
    if (left.find(kNowhereMac) != std::string::npos) return status;
  }
  impl_->cuts.erase({from, to});
  return Status::Ok();
}

Status Hosts::HealAll() {
  Status first;
  const auto cuts = impl_->cuts;
  for (const auto& [from, to] : cuts) {
    const Status status = Heal(from, to);
    if (first.ok() && !status.ok()) first = status;
  }
  return first;
}

Status Hosts::Netem(size_t i, uint32_t delay_ms, uint32_t jitter_ms, double loss_percent) {
  if (!impl_->netns) {
    return Status::Unsupported("netem needs network namespaces; these hosts are loopback");
  }
  KVD_TRY(impl_->CheckIndex(i));
  if (!impl_->netem_unsupported.empty()) return Status::Unsupported(impl_->netem_unsupported);
  if (delay_ms > kMaxDelayMs || jitter_ms > delay_ms) {
    return Status::InvalidArgument(
        fmt::format("netem delay {} ms +- {} ms: want delay <= {} and jitter <= delay", delay_ms,
                    jitter_ms, kMaxDelayMs));
  }
  if (!(loss_percent >= 0.0 && loss_percent <= 100.0)) {
    return Status::InvalidArgument(fmt::format("netem loss {}%: want 0 to 100", loss_percent));
  }
  return Must({"tc", "-n", impl_->Namespace(i), "qdisc", "replace", "dev", kNodeInterface, "root",
               "netem", "limit", kNetemLimitPackets, "delay", fmt::format("{}ms", delay_ms),
               fmt::format("{}ms", jitter_ms), "loss", fmt::format("{:.4f}%", loss_percent)});
}

Status Hosts::ClearNetem(size_t i) {
  KVD_TRY(impl_->CheckIndex(i));
  if (!impl_->netns || !impl_->netem_unsupported.empty()) return Status::Ok();  // never set
  const std::string ns = impl_->Namespace(i);
  Status status = Must({"tc", "-n", ns, "qdisc", "del", "dev", kNodeInterface, "root"});
  // Deleting the default qdisc fails with a message that varies by kernel ("Cannot delete
  // qdisc with handle of zero", "Invalid handle"): what counts is that no netem is left.
  if (!status.ok() && Try({"tc", "-n", ns, "qdisc", "show", "dev", kNodeInterface}).find("netem") !=
                          std::string::npos) {
    return status;
  }
  return Status::Ok();
}

Result<int> RunProgram(const std::vector<std::string>& argv, std::string* output) {
  if (argv.empty()) return Status::InvalidArgument("RunProgram: empty argv");
  // Both pipe ends are close-on-exec: the child keeps only the copies dup2 makes of the
  // write end, so the read below ends when the program (and anything it forked) exits.
  int fds[2] = {-1, -1};
  if (output != nullptr && ::pipe2(fds, O_CLOEXEC) != 0) {
    return Status::IOError(fmt::format("pipe for `{}`: {}", Join(argv), std::strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  if (output != nullptr) {
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  } else {
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<std::string> copies = argv;
  std::vector<char*> args;
  args.reserve(copies.size() + 1);
  for (std::string& arg : copies) args.push_back(arg.data());
  args.push_back(nullptr);
  pid_t pid = -1;
  // glibc reports a failed exec (ENOENT, EACCES) here, as the return value.
  const int spawn_error = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (output != nullptr) ::close(fds[1]);
  if (spawn_error != 0) {
    if (output != nullptr) ::close(fds[0]);
    return Status::IOError(
        fmt::format("cannot run `{}`: {}", Join(argv), std::strerror(spawn_error)));
  }
  if (output != nullptr) {
    output->clear();
    char buffer[4096];
    for (;;) {
      const ssize_t got = ::read(fds[0], buffer, sizeof(buffer));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) break;
      const size_t room = kMaxOutputBytes - std::min(kMaxOutputBytes, output->size());
      output->append(buffer, std::min(room, static_cast<size_t>(got)));
    }
    ::close(fds[0]);
  }
  int wait_status = 0;
  while (::waitpid(pid, &wait_status, 0) < 0) {
    if (errno != EINTR) {
      return Status::IOError(fmt::format("waitpid for `{}`: {}", Join(argv), std::strerror(errno)));
    }
  }
  // A signal is reported as a shell would: 128 + its number.
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return WEXITSTATUS(wait_status);
}

}  // namespace kvd::torture
