#include "server/node/storage_worker.h"

#include <fmt/format.h>

#include <chrono>

namespace kvd::node {

StorageWorker::StorageWorker(storage::Engine* engine, admin::Metrics* metrics)
    : engine_(engine), metrics_(metrics) {}

StorageWorker::~StorageWorker() { Stop(); }

void StorageWorker::Start(OnDone on_done) {
  KVD_ASSERT(!thread_.joinable());
  on_done_ = std::move(on_done);
  thread_ = std::thread([this] { Run(); });
}

void StorageWorker::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void StorageWorker::Enqueue(Job job) {
  {
    std::lock_guard lock(mu_);
    KVD_ASSERT(!stopping_);
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void StorageWorker::Run() {
  std::vector<Job> jobs;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued is done
      jobs.swap(queue_);
    }
    std::vector<Completion> done = WriteRound(jobs);
    jobs.clear();
    on_done_(std::move(done));
  }
}

std::vector<StorageQueue::Completion> StorageWorker::WriteRound(std::vector<Job>& jobs) {
  std::vector<Completion> done;
  done.reserve(jobs.size());
  storage::WriteBatch merged;
  bool sync = false;
  uint64_t requests = 0;
  std::optional<uint64_t> epoch;
  bool has_groups = false;
  for (Job& job : jobs) {
    if (failed_epoch_ && job.epoch == *failed_epoch_) {
      done.push_back({job.group, job.epoch,
                      Status::IOError("not written: an earlier write in the pipeline failed")});
      continue;
    }
    // Jobs of an epoch newer than a failure are written; a round never mixes two live
    // epochs because the shell starts a new epoch only after seeing the failure.
    epoch = job.epoch;
    has_groups = has_groups || job.group != 0;
    if (merged.empty()) {
      merged = std::move(job.batch);
    } else {
      merged.Append(job.batch);
    }
    sync = sync || job.sync;
    requests += job.requests;
    done.push_back({job.group, job.epoch, Status::Ok()});
  }
  if (!epoch) return done;
  auto start = std::chrono::steady_clock::now();
  Status s;
  if (!merged.empty()) {
    s = engine_->Write(merged, sync);
  } else if (sync) {
    s = engine_->Sync();
  }
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::steady_clock::now() - start)
                   .count();
  if (!merged.empty() || sync) {
    metrics_->RecordStorageWrite(sync, requests, static_cast<uint64_t>(nanos));
  }
  if (!s.ok()) {
    metrics_->StorageWriteFailed();
    // A failed bare sync (periodic durability) fails nothing applied on top of it: the
    // writes it covered were acknowledged by that mode's promise already.
    if (has_groups) failed_epoch_ = *epoch;
    for (Completion& c : done) {
      if (c.status.ok()) c.status = s;
    }
  }
  return done;
}

}  // namespace kvd::node
