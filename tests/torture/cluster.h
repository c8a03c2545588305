// The cluster kvd-torture tortures: real kvd processes, one per host (hosts.h), started
// from a config template.
//
// The template is any kvd YAML config (config/single.yaml, config/leader-follower-3.yaml,
// ...). Cluster rewrites what is per-run: every member's client, peer and admin address
// (the host's address, ports chosen free), server.listen / admin_listen for `single`,
// log.file (each node logs to <dir>/node-<id>.log) and cluster.name; `overrides` set
// further fields ("raft.replication=async"). The rest of the template is kept as
// written. Node i (0-based) has id i + 1 and runs as
//   [ip netns exec NS] [env LD_PRELOAD=libfaketime FAKETIME=...] kvd --config FILE
//       --node-id ID --data-dir DIR
// with its own data dir under `dir`. Processes are killed (SIGKILL) by the destructor.
//
// Thread-safety: every method may be called from any thread (one mutex; Start holds it
// while the node comes up), so that a reaper and a nemesis never race on a child.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "tests/torture/hosts.h"

namespace kvd::torture {

struct ClusterOptions {
  std::filesystem::path kvd_binary;
  std::filesystem::path config_template;
  std::filesystem::path dir;  // data dirs, logs and the generated config go here
  // "a.b.c=value" fields set in the generated config (after the per-run rewrites).
  std::vector<std::string> overrides;
  std::string cluster_name = "kvd-torture";
  std::chrono::milliseconds start_deadline{30000};
};

class Cluster {
 public:
  // Reads the template and writes the per-run config. Errors: the template cannot be
  // read or parsed, a bad override (kInvalidArgument naming it), too few hosts.
  static Result<std::unique_ptr<Cluster>> Make(ClusterOptions options, Hosts* hosts);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  size_t size() const { return nodes_.size(); }
  const std::string& mode() const { return mode_; }  // node.mode of the template
  std::string endpoint(size_t i) const;              // client address "host:port"
  std::vector<std::string> endpoints() const;
  const std::filesystem::path& config_path() const { return config_path_; }
  std::filesystem::path log_path(size_t i) const;
  // A config field as the generated file has it ("" if absent), e.g. "raft.replication".
  std::string Field(const std::string& dotted) const;

  // Starts every node and waits until each answers PING. Errors name the node, with the
  // end of its log.
  Status StartAll();
  // Starts node i (not running) and waits for PING. `faketime`: a libfaketime FAKETIME
  // value ("+2s", "-500ms" is not allowed by faketime: seconds, e.g. "-0.5"), "" for none.
  Status Start(size_t i, const std::string& faketime = "");
  // Starts node i with cluster.join: true (an empty node that waits to be added:
  // leader_follower membership changes). REQUIRES: not running.
  Status StartJoining(size_t i);
  // Deletes node i's data directory. REQUIRES: not running.
  Status Wipe(size_t i);
  std::string peer_endpoint(size_t i) const;  // "host:port" of node i's peer listener
  void Kill(size_t i);      // SIGKILL, and reap
  Status Pause(size_t i);   // SIGSTOP
  Status Resume(size_t i);  // SIGCONT
  bool running(size_t i) const {
    std::lock_guard<std::mutex> lock(mu_);
    return nodes_.at(i).pid > 0;
  }
  bool paused(size_t i) const {
    std::lock_guard<std::mutex> lock(mu_);
    return nodes_.at(i).paused;
  }
  // Reaps nodes that exited by themselves; returns their indices (a crash to report).
  std::vector<size_t> Reap();
  // The last `lines` lines of node i's log.
  std::string LogTail(size_t i, size_t lines = 40) const;

 private:
  Cluster() = default;
  struct Node {
    pid_t pid = -1;
    bool paused = false;
    uint16_t client_port = 0;
    uint16_t peer_port = 0;
    uint16_t admin_port = 0;
  };
  Status WaitPing(size_t i);  // REQUIRES: mu_ held
  Status StartWith(size_t i, const std::string& faketime, const std::filesystem::path& config);

  void KillLocked(size_t i);

  mutable std::mutex mu_;  // guards nodes_[].pid and .paused
  ClusterOptions options_;
  Hosts* hosts_ = nullptr;
  std::string mode_;
  std::string config_text_;
  std::filesystem::path config_path_;
  std::filesystem::path join_config_path_;  // the same with cluster.join: true
  std::vector<Node> nodes_;
};

// A TCP port that was free on 127.0.0.1 a moment ago.
uint16_t FreeLoopbackPort();

}  // namespace kvd::torture
