// StorageQueue: where the node runtime sends commit groups to be written.
//
// Production uses StorageWorker (a thread that merges queued groups into one engine write
// and one fsync: group commit); the simulator uses a queue that completes writes after
// simulated disk latency. Jobs complete in the order they were enqueued.
//
// Thread-safety: Enqueue from the owner's thread; OnDone may be called on any thread and
// must hand completions back to the owner's loop.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "common/status.h"
#include "server/storage/engine.h"

namespace kvd::node {

class StorageQueue {
 public:
  struct Job {
    uint64_t group = 0;  // 0 for a bare sync (periodic durability)
    uint64_t epoch = 0;
    storage::WriteBatch batch;
    bool sync = false;
    uint64_t requests = 0;  // client requests answered by this group, for metrics
  };
  struct Completion {
    uint64_t group = 0;
    uint64_t epoch = 0;
    Status status;
  };
  using OnDone = std::function<void(std::vector<Completion>)>;

  virtual ~StorageQueue() = default;
  virtual void Start(OnDone on_done) = 0;
  // Finishes every queued job, then stops. No completion is reported after it returns.
  virtual void Stop() = 0;
  virtual void Enqueue(Job job) = 0;
};

}  // namespace kvd::node
