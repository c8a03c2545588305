// NodeRuntime: drives one topology core and the kv state machine on the node's loop
// thread, with group commit to the storage engine.
//
// Data path: the network shell calls Submit() for each decoded data request. The request
// goes into the core; a flush is posted to the loop, so every request that arrives in the
// same loop turn joins the same commit group. Flush() drains the core's Output, applies the
// group through KvStore, and then either
//   * writes the group's batch inline (durability none or periodic, nothing in flight), or
//   * hands it to the StorageWorker (durability always, a request asking for `always`, or
//     earlier groups still in flight), which writes and fsyncs on its own thread.
// Responses of a group are delivered only after that group's batch is written (and
// synced if it had to be): reads included, since they may have seen the group's writes.
// While the worker syncs, the loop keeps applying and reading; the next round of the
// worker carries every group applied meanwhile, so N concurrent writers share one fsync.
//
// Failure: a failed write fails the responses of its group and of every later group
// already applied (kIOError naming the cause), rolls the kv overlay back and starts a new
// epoch; nothing is acknowledged that is not written.
//
// Thread-safety: every method except the constructor must run on the loop thread; the
// worker's completions come back through Hooks::post.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "common/log.h"
#include "server/admin/metrics.h"
#include "server/kv/kv_store.h"
#include "server/node/storage_worker.h"
#include "server/storage/engine.h"
#include "server/topology/node.h"

namespace kvd::node {

class NodeRuntime {
 public:
  struct Hooks {
    // Runs fn on the loop thread soon (never inline). Callable from any thread.
    std::function<void(std::function<void()>)> post;
    // Hands a response to the client connection; called on the loop thread.
    std::function<void(const topology::ClientRef&, wire::Response)> deliver;
  };

  // REQUIRES: engine, logger and metrics outlive the runtime.
  NodeRuntime(const config::Config& config, storage::Engine* engine,
              std::unique_ptr<topology::Node> node, Logger* logger, admin::Metrics* metrics,
              Hooks hooks);
  ~NodeRuntime();

  // Loads the kv state and starts the storage worker. Errors: from the engine.
  Status Open();
  // Accepts one validated data request.
  void Submit(topology::ClientRequest request);
  // Time passes: wall clock for the core and TTLs, steady clock for periodic sync.
  void Tick(uint64_t wall_ms, uint64_t steady_ms);
  // True when no request is waiting for an answer.
  bool Idle() const;
  // Stops the worker after it wrote everything queued, then syncs the engine. Answers
  // still pending are dropped (call it once Idle(), unless the drain timed out).
  // REQUIRES: the loop no longer runs posted work.
  Status Close();

  // The node's state as a JSON object (for the STATUS request and /status).
  std::string StatusJson(uint64_t uptime_seconds, uint64_t connections) const;
  const kv::KvStore& kv() const { return kv_; }

 private:
  struct PendingGroup {
    uint64_t group = 0;
    uint64_t epoch = 0;
    std::vector<topology::Reply> replies;
  };

  void ScheduleFlush();
  void Flush();
  // Finishes a group: delivers its answers if its write succeeded, fails them otherwise.
  void Complete(PendingGroup& group, const Status& status);
  void OnCompletions(const std::vector<StorageWorker::Completion>& done);
  void FailGroup(PendingGroup& group, const Status& cause);

  const config::Config& config_;
  storage::Engine* engine_;
  std::unique_ptr<topology::Node> node_;
  Logger* logger_;
  admin::Metrics* metrics_;
  Hooks hooks_;
  kv::KvStore kv_;
  StorageWorker worker_;
  bool opened_ = false;

  bool flush_scheduled_ = false;
  uint64_t last_group_ = 0;
  uint64_t epoch_ = 0;
  std::deque<PendingGroup> pending_;  // groups handed to the worker, oldest first
  uint64_t next_periodic_sync_ms_ = 0;
  bool unsynced_writes_ = false;
};

}  // namespace kvd::node
