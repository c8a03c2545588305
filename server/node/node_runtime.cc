#include "server/node/node_runtime.h"

#include <fmt/format.h>

#include <chrono>
#include <nlohmann/json.hpp>

namespace kvd::node {

namespace {
kv::KvOptions KvOptionsFrom(const config::Config& c) {
  kv::KvOptions o;
  o.limits.max_frame_bytes = c.limits.max_frame_bytes;
  o.limits.max_key_bytes = c.limits.max_key_bytes;
  o.limits.max_value_bytes = c.limits.max_value_bytes;
  o.limits.max_batch_ops = c.limits.max_batch_ops;
  o.limits.max_scan_limit = c.limits.max_scan_limit;
  o.max_batch_bytes = c.limits.max_batch_bytes;
  o.row_cache_bytes = size_t{c.storage.row_cache_mb} << 20;
  return o;
}

uint64_t SteadyNanos() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}
}  // namespace

NodeRuntime::NodeRuntime(const config::Config& config, storage::Engine* engine,
                         std::unique_ptr<topology::Node> node, Logger* logger,
                         admin::Metrics* metrics, Hooks hooks)
    : config_(config),
      engine_(engine),
      node_(std::move(node)),
      logger_(logger),
      metrics_(metrics),
      hooks_(std::move(hooks)),
      kv_(engine, KvOptionsFrom(config)),
      worker_(engine, metrics, [this](std::vector<StorageWorker::Completion> done) {
        hooks_.post([this, done = std::move(done)] { OnCompletions(done); });
      }) {}

NodeRuntime::~NodeRuntime() { worker_.Stop(); }

Status NodeRuntime::Open() {
  KVD_TRY(kv_.Open());
  metrics_->SetRevision(kv_.revision());
  worker_.Start();
  opened_ = true;
  return Status::Ok();
}

void NodeRuntime::Submit(topology::ClientRequest request) {
  node_->OnClientRequest(std::move(request));
  ScheduleFlush();
}

void NodeRuntime::Tick(uint64_t wall_ms, uint64_t steady_ms) {
  node_->Tick(wall_ms);
  const kv::RowCache& cache = kv_.row_cache();
  metrics_->SetRowCache(cache.hits(), cache.misses(), cache.bytes());
  ScheduleFlush();
  if (config_.storage.durability == config::Durability::kPeriodic) {
    if (next_periodic_sync_ms_ == 0) next_periodic_sync_ms_ = steady_ms;
    if (steady_ms >= next_periodic_sync_ms_) {
      next_periodic_sync_ms_ = steady_ms + config_.storage.sync_interval_ms;
      if (unsynced_writes_) {
        unsynced_writes_ = false;
        worker_.Enqueue(StorageWorker::Job{0, epoch_, {}, true, 0});
      }
    }
  }
}

void NodeRuntime::ScheduleFlush() {
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  hooks_.post([this] { Flush(); });
}

bool NodeRuntime::Idle() const { return pending_.empty() && !flush_scheduled_; }

void NodeRuntime::Flush() {
  flush_scheduled_ = false;
  topology::Output out = node_->TakeOutput();
  for (topology::Reply& r : out.replies) hooks_.deliver(r.ref, std::move(r.response));
  if (out.apply.empty() && out.expire.empty()) return;

  PendingGroup pg{++last_group_, epoch_, {}};
  storage::WriteBatch batch;
  for (uint64_t now_ms : out.expire) {
    size_t expired =
        kv_.SweepExpired(now_ms, config_.storage.expiry_sweep_max_keys, pg.group, &batch);
    if (expired > 0) metrics_->KeysExpired(expired);
  }
  bool request_wants_sync = false;
  pg.replies.reserve(out.apply.size());
  for (topology::ApplyItem& item : out.apply) {
    request_wants_sync = request_wants_sync ||
                         item.request.options.durability == wire::Durability::kAlways;
    wire::Response resp = kv_.Apply(std::move(item.request), item.now_ms, pg.group, &batch);
    pg.replies.push_back(topology::Reply{item.ref, std::move(resp)});
  }
  kv_.FinishGroup(pg.group, &batch);
  metrics_->SetRevision(kv_.revision());
  bool sync = !batch.empty() &&
              (request_wants_sync || config_.storage.durability == config::Durability::kAlways);
  if (!batch.empty() && !sync) unsynced_writes_ = true;

  if (pending_.empty() && !sync) {
    // Nothing ahead of this group and no fsync wanted: write on the loop thread, which
    // costs less than a hand-off (a buffered LevelDB write is a memcpy and a write(2)).
    Status s;
    if (!batch.empty()) {
      uint64_t start = SteadyNanos();
      s = engine_->Write(batch, /*sync=*/false);
      metrics_->RecordStorageWrite(false, pg.replies.size(), SteadyNanos() - start);
      if (!s.ok()) metrics_->StorageWriteFailed();
    }
    Complete(pg, s);
    return;
  }
  uint64_t requests = pg.replies.size();
  pending_.push_back(std::move(pg));
  worker_.Enqueue(
      StorageWorker::Job{pending_.back().group, pending_.back().epoch, std::move(batch), sync,
                         requests});
}

void NodeRuntime::Complete(PendingGroup& group, const Status& status) {
  if (!status.ok()) {
    FailGroup(group, status);
    if (group.epoch == epoch_) {
      KVD_LOG(*logger_, kError, "storage", "-",
              "write failed; failing this and every later in-flight request: {}",
              status.ToString());
      kv_.Rollback();
      metrics_->SetRevision(kv_.revision());
      ++epoch_;
    }
    return;
  }
  KVD_ASSERT(group.epoch == epoch_);
  kv_.OnDurable(group.group);
  for (topology::Reply& r : group.replies) hooks_.deliver(r.ref, std::move(r.response));
}

void NodeRuntime::FailGroup(PendingGroup& group, const Status& cause) {
  Status s = Status::IOError(
      fmt::format("request not applied: storage write failed: {}", cause.message()));
  for (topology::Reply& r : group.replies) {
    hooks_.deliver(r.ref, wire::Response::Error(r.response.request_id, r.response.opcode, s));
  }
}

void NodeRuntime::OnCompletions(const std::vector<StorageWorker::Completion>& done) {
  for (const StorageWorker::Completion& c : done) {
    if (c.group == 0) {  // a periodic sync
      if (!c.status.ok()) {
        KVD_LOG(*logger_, kError, "storage", "-", "periodic sync failed: {}",
                c.status.ToString());
      }
      continue;
    }
    KVD_ASSERT(!pending_.empty());
    KVD_ASSERT(pending_.front().group == c.group);
    PendingGroup pg = std::move(pending_.front());
    pending_.pop_front();
    Complete(pg, c.status);
  }
}

Status NodeRuntime::Close() {
  // If the drain timed out, groups may still be queued: the worker writes them before it
  // stops, but their answers are dropped with the connections. Nothing unwritten was
  // acknowledged.
  worker_.Stop();
  if (!opened_) return Status::Ok();
  opened_ = false;
  return engine_->Sync().WithContext("final sync");
}

std::string NodeRuntime::StatusJson(uint64_t uptime_seconds, uint64_t connections) const {
  topology::NodeInfo info = node_->Inspect();
  nlohmann::json j;
  j["node_id"] = info.node_id;
  j["mode"] = info.mode;
  j["role"] = info.role;
  j["version"] = KVD_VERSION;
  j["uptime_seconds"] = uptime_seconds;
  j["revision"] = kv_.revision();
  j["durable_revision"] = kv_.durable_revision();
  j["keys"] = kv_.key_count();
  j["connections"] = connections;
  j["durability"] = std::string(config::DurabilityName(config_.storage.durability));
  j["engine"] = std::string(engine_->Name());
  j["data_dir"] = config_.node.data_dir;
  j["groups_in_flight"] = pending_.size();
  const kv::RowCache& cache = kv_.row_cache();
  j["row_cache"] = {{"entries", cache.entries()},
                    {"bytes", cache.bytes()},
                    {"hits", cache.hits()},
                    {"misses", cache.misses()}};
  return j.dump();
}

}  // namespace kvd::node
