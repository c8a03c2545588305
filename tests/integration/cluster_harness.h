// Harness for cluster integration tests: N real kvd processes of one leader_follower
// (Raft) or multi_leader cluster on loopback.
//
// ClusterHarness writes one config in the shape of config/leader-follower-3.yaml, with
// FreePort() ports for the client, peer and admin address of every member, and starts
// node i (0-based; node id i + 1) as `kvd --config FILE --node-id i+1 --data-dir DIR`, so
// each node listens on its own member entry. Every node has its own data dir and log file
// under one TempDir; a node's log file survives restarts (the harness writes a marker line
// before each start). Start() waits, polling STATUS with a deadline, until exactly one
// node is leader. The destructor kills every node that is still running, also when a test
// fails; a failing test prints every node's log (LiveClusterLogs(), used by the Catch
// listener in cluster_test.cc, and the destructor when an exception unwinds).
// Debugging: KVD_IT_LOG_LEVEL=debug sets every node's log level; KVD_IT_KEEP_LOGS=DIR
// copies every node's whole log (and the config) to DIR/<cluster dir>/ at the end.
//
// Indices are 0-based positions in the member list; ids are 1-based (id(i) == i + 1).
//
// Thread-safety: one test thread drives the harness; clients made by it may be used from
// other threads.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "client/lib/client.h"
#include "common/status.h"
#include "common/wire/messages.h"
#include "tests/integration/harness.h"

namespace kvd::test {

struct ClusterOptions {
  size_t nodes = 3;
  // node.mode: leader_follower (Start waits for a leader) or multi_leader (every node
  // answers by itself: Start waits for each to answer PING).
  std::string mode = "leader_follower";
  // Lines of the multi_leader: section, each indented by two spaces.
  std::string multi_leader_yaml;
  std::string cluster_name = "kvd-it";
  // Lines of the raft: section, each indented by two spaces ("  failover: manual\n").
  std::string raft_yaml;
  // Lines of the storage: section.
  std::string storage_yaml = "  durability: always\n";
  // More top-level YAML appended to the config (limits:, server:, ...).
  std::string extra_yaml;
  std::string log_level = "info";  // the environment variable KVD_IT_LOG_LEVEL overrides it
  // dynamo: the last `joiners` nodes are not in the others' cluster.members; their own
  // config lists every node and sets cluster.join. Start() leaves them stopped; start one
  // with Restart(i), then join it to the ring (ADMIN add_learner).
  size_t joiners = 0;
  // How long Start() waits for every node to answer PING and for a single leader.
  std::chrono::milliseconds start_deadline{30000};
};

class ClusterHarness {
 public:
  explicit ClusterHarness(ClusterOptions options = {});
  ~ClusterHarness();
  ClusterHarness(const ClusterHarness&) = delete;
  ClusterHarness& operator=(const ClusterHarness&) = delete;

  // Starts every node, then waits until exactly one is leader. Errors name the node and
  // include the logs.
  Status Start();

  size_t size() const { return members_.size(); }
  static uint64_t id(size_t i) { return i + 1; }
  // The index of node `id`.
  static size_t index(uint64_t id) { return static_cast<size_t>(id - 1); }
  std::string endpoint(size_t i) const;        // client address, "127.0.0.1:port"
  std::string admin_endpoint(size_t i) const;  // HTTP admin address
  std::string peer_endpoint(size_t i) const;   // peer address
  std::vector<std::string> endpoints() const;  // every client address, in member order
  std::filesystem::path data_dir(size_t i) const;
  std::filesystem::path log_path(size_t i) const;
  const std::string& config_yaml() const { return config_yaml_; }
  bool joiner(size_t i) const { return i + options_.joiners >= members_.size(); }
  const std::filesystem::path& dir() const { return dir_.path(); }

  // The node's STATUS answer, parsed; asks that node only (no redirects).
  Result<nlohmann::json> StatusJson(size_t i,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(2));
  // One poll of every running node: the index of the single node that reports role
  // "leader" with a term no other running node exceeds; nullopt if there is none, or
  // more than one.
  std::optional<size_t> CurrentLeader();
  // Polls CurrentLeader() until it finds one. Errors: kTimeout, naming what each node
  // reported last.
  Result<size_t> Leader(std::chrono::milliseconds deadline = std::chrono::seconds(20));
  // Polls until node `want` is the single leader. Errors: kTimeout.
  Status WaitForLeader(size_t want, std::chrono::milliseconds deadline = std::chrono::seconds(20));

  // kill -9, and wait for the process to be gone.
  void Kill9(size_t i);
  // SIGTERM; returns the exit code.
  int Terminate(size_t i);
  // Starts node i again on the same data dir and waits for PING. REQUIRES: not running.
  Status Restart(size_t i);
  // Deletes node i's data dir and starts it empty. REQUIRES: not running.
  Status WipeAndRestart(size_t i);
  bool running(size_t i);

  // A client over every node's client address (follows redirects, retries writes).
  client::Client& client();
  std::unique_ptr<client::Client> NewClient(client::ClientOptions options = {}) const;
  // A client of node i alone that does not follow redirects.
  std::unique_ptr<client::Client> NodeClient(
      size_t i, std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;

  // Sends ADMIN `action` (with `node_id`) to node i alone and returns the answer's JSON.
  // Errors: the transport error, or the node's non-OK answer.
  Result<std::string> Admin(size_t i, wire::AdminAction action, uint64_t node_id = 0,
                            std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // Polls until node i's raft.applied_index >= index. Errors: kTimeout with the last
  // status seen.
  Status WaitApplied(size_t i, uint64_t index,
                     std::chrono::milliseconds deadline = std::chrono::seconds(20));

  // Every node's log (the last `max_lines` lines each), with a header per node.
  std::string Logs(size_t max_lines = 400) const;

 private:
  Status StartNode(size_t i);

  struct Member {
    uint16_t client_port = 0;
    uint16_t peer_port = 0;
    uint16_t admin_port = 0;
    int starts = 0;
  };

  ClusterOptions options_;
  TempDir dir_;
  std::string config_yaml_;
  std::string joiner_yaml_;  // options_.joiners > 0: the joiners' config
  std::vector<Member> members_;
  std::vector<std::unique_ptr<KvdProcess>> nodes_;
  std::unique_ptr<client::Client> client_;
};

// The logs of every ClusterHarness alive in this process, each printed at most once (a
// test failure prints them; later failures of the same test do not repeat them).
std::string LiveClusterLogs();

// A raft.<field> counter of a STATUS answer, or 0 if absent.
uint64_t RaftU64(const nlohmann::json& status, const char* field);

}  // namespace kvd::test
