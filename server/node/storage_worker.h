// StorageWorker: the thread that writes commit groups to the engine, so that fsync never
// runs on the network thread.
//
// The node shell enqueues one Job per commit group, in group order. The worker takes every
// job queued since its last round, concatenates their batches into ONE engine write, and
// syncs it if any job asked for durability: concurrent writers share one fsync (group
// commit), and the more the disk lags, the larger the rounds get. Completions for a round
// are reported together, in group order, through the callback, which runs on the worker
// thread and must hand them to the shell's loop (it posts them).
//
// Failure: once a write fails, every queued job of the same epoch fails without being
// written (its writes were applied on top of the failed ones). The shell starts a new
// epoch when it rolls back, and jobs of the new epoch are written normally.
//
// Thread-safety: Enqueue may be called from any thread; Start/Stop from the owner.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/status.h"
#include "server/admin/metrics.h"
#include "server/node/storage_queue.h"
#include "server/storage/engine.h"

namespace kvd::node {

class StorageWorker final : public StorageQueue {
 public:
  // REQUIRES: engine and metrics outlive the worker.
  StorageWorker(storage::Engine* engine, admin::Metrics* metrics);
  ~StorageWorker() override;

  void Start(OnDone on_done) override;
  // Finishes every queued job, then joins the thread.
  void Stop() override;
  void Enqueue(Job job) override;

 private:
  void Run();
  // Writes one round; returns the completions.
  std::vector<Completion> WriteRound(std::vector<Job>& jobs);

  storage::Engine* engine_;
  admin::Metrics* metrics_;
  OnDone on_done_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Job> queue_;  // guarded by mu_
  bool stopping_ = false;   // guarded by mu_
  std::optional<uint64_t> failed_epoch_;  // worker thread only
  std::thread thread_;
};

}  // namespace kvd::node
