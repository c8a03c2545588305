// Hosts for kvd-torture: where each node of a tortured cluster runs, and the network
// faults between them.
//
// Two kinds:
//   * netns (the tool runs as root and `ip netns` works): node i runs in its own network
//     namespace "kvdt<run>n<i>" with one veth interface, address 10.<a>.<b>.<i+1>/24 on a
//     bridge "kvdt<run>br" in the root namespace (which also gets an address on that
//     subnet, so the tool's clients reach every node). Everything is created by Create()
//     and removed by the destructor (and by Cleanup(run) for a run that crashed).
//     Partitions are permanent neighbour entries to a MAC no one has, inside the sending
//     node's namespace (silent drops, one way per call); latency and loss are tc netem on
//     the node's interface.
//   * loopback (not root, or --hosts loopback): every node on 127.0.0.1 (distinct ports,
//     chosen by the caller); partitions and netem are unavailable (Supports* false).
// No traffic leaves these addresses.
//
// Thread-safety: one thread drives a Hosts; commands run synchronously.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace kvd::torture {

class Hosts {
 public:
  // n hosts. `netns`: true to use namespaces (Errors: kUnavailable saying why, e.g. not
  // root or `ip` missing), false for loopback. `run` is a short id (at most 6 characters
  // [a-z0-9]) that makes the names unique among concurrent runs; it also picks the subnet.
  static Result<std::unique_ptr<Hosts>> Create(size_t n, bool netns, const std::string& run);
  // True when namespaces can be used here (root and a working `ip netns`).
  static bool NetnsAvailable(std::string* why = nullptr);
  // Removes whatever a run with this id left behind (namespaces, bridge). Best effort.
  static void Cleanup(const std::string& run);

  ~Hosts();
  Hosts(const Hosts&) = delete;
  Hosts& operator=(const Hosts&) = delete;

  size_t size() const;
  bool netns() const;
  // Node i's address ("10.77.3.2" or "127.0.0.1").
  std::string address(size_t i) const;
  // The command prefix that runs a program on host i: {"ip", "netns", "exec", name} or {}.
  std::vector<std::string> exec_prefix(size_t i) const;

  bool SupportsPartitions() const;
  bool SupportsNetem() const;
  // Packets from host `from` to host `to` are dropped (one way). Idempotent.
  Status Cut(size_t from, size_t to);
  Status Heal(size_t from, size_t to);
  Status HealAll();
  // tc netem on host i's interface: `delay_ms` (+- `jitter_ms`) and `loss_percent`.
  Status Netem(size_t i, uint32_t delay_ms, uint32_t jitter_ms, double loss_percent);
  Status ClearNetem(size_t i);

 private:
  Hosts() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Runs argv (no shell), waits, returns the exit code; stdout+stderr captured into *output
// when non-null. Errors: kIOError when it cannot be started.
Result<int> RunProgram(const std::vector<std::string>& argv, std::string* output = nullptr);

}  // namespace kvd::torture
