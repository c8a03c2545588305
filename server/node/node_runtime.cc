#include "server/node/node_runtime.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common/bytes.h"
#include "server/kv/record.h"
#include "server/node/clock.h"
#include "server/topology/multi_leader/replicator.h"

namespace kvd::node {

namespace {

// Most clients the dedup table remembers (kv/client_table.h).
constexpr size_t kMaxDedupClients = 20000;
// How often (in ticks) the topology's state is published to /metrics.
constexpr uint64_t kTopologyMetricsTicks = 10;
// Largest snapshot a follower accepts into memory before installing it.
constexpr uint64_t kMaxSnapshotBytes = uint64_t{16} << 30;

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

std::string AppliedValue(uint64_t index, uint64_t term) {
  std::string v(16, '\0');
  PutU64BE(v.data(), index);
  PutU64BE(v.data() + 8, term);
  return v;
}

bool ParseApplied(std::string_view v, uint64_t* index, uint64_t* term) {
  if (v.size() != 16) return false;
  *index = GetU64BE(v.data());
  *term = GetU64BE(v.data() + 8);
  return true;
}

bool IsWriteOpcode(wire::Opcode op) {
  return op == wire::Opcode::kPut || op == wire::Opcode::kDelete || op == wire::Opcode::kCas ||
         op == wire::Opcode::kBatch || op == wire::Opcode::kIncr || op == wire::Opcode::kSadd ||
         op == wire::Opcode::kSrem;
}

}  // namespace

NodeRuntime::NodeRuntime(const config::Config& config, storage::Engine* engine,
                         StorageQueue* queue, Logger* logger, admin::Metrics* metrics,
                         Hooks hooks)
    : config_(config),
      engine_(engine),
      queue_(queue),
      logger_(logger),
      metrics_(metrics),
      hooks_(std::move(hooks)),
      kv_(engine, KvOptionsFrom(config)),
      clients_(kMaxDedupClients),
      replicated_(config::IsClustered(config.node.mode)),
      answers_at_apply_(config.node.mode == config::Mode::kLeaderFollower) {
  if (config.node.mode == config::Mode::kMultiLeader) metrics_->SetTopologyMultiLeader();
  if (config.node.mode == config::Mode::kDynamo) metrics_->SetTopologyDynamo();
}

NodeRuntime::~NodeRuntime() { queue_->Stop(); }

Status NodeRuntime::LoadStoredState(topology::StoredState* stored) {
  std::string_view column = topology::TopologyColumn(config_.node.mode);
  if (column.empty()) return Status::Ok();
  std::unique_ptr<storage::Iterator> it = engine_->NewIterator();
  for (it->Seek(column); it->Valid() && it->key().substr(0, 1) == column; it->Next()) {
    stored->topology_keys.emplace(std::string(it->key()), std::string(it->value()));
  }
  KVD_TRY(it->status());
  std::string value;
  Status s = engine_->Get(kAppliedKey, &value);
  if (s.ok()) {
    if (!ParseApplied(value, &stored->applied_index, &stored->applied_term)) {
      return Status::Corruption("the state machine's applied position does not decode");
    }
  } else if (s.code() != Code::kNotFound) {
    return s;
  }
  s = engine_->Get(kMembershipKey, &stored->applied_membership);
  if (!s.ok() && s.code() != Code::kNotFound) return s;
  applied_index_ = stored->applied_index;
  applied_term_ = stored->applied_term;
  return Status::Ok();
}

Status NodeRuntime::Open(uint64_t seed) {
  KVD_TRY(kv_.Open());
  if (replicated_) KVD_TRY(clients_.Load(engine_).WithContext("load the client table"));
  topology::StoredState stored;
  KVD_TRY(LoadStoredState(&stored).WithContext("load the topology's state"));
  KVD_ASSIGN_OR_RETURN(node_, topology::MakeNode(config_, stored, seed));
  node_->AttachStore(&local_store_);
  metrics_->SetRevision(kv_.revision());
  queue_->Start([this](std::vector<StorageQueue::Completion> done) {
    hooks_.post([this, done = std::move(done)] { OnCompletions(done); });
  });
  opened_ = true;
  ScheduleFlush();  // recovery may have left work (a repaired log, a first record)
  return Status::Ok();
}

std::optional<kv::KeyState> NodeRuntime::KvLocalStore::Load(const std::string& key) {
  Result<std::optional<kv::KeyState>> st = runtime_->kv_.LookupReplicated(key);
  if (!st.ok()) {
    runtime_->StoreReadFailed(st.status().WithContext(fmt::format("read the state of key '{}'", key)));
    return std::nullopt;
  }
  return std::move(st).value();
}

void NodeRuntime::KvLocalStore::ForEach(
    const std::function<void(const std::string&, const std::string&)>& fn) {
  Status s = runtime_->kv_.ForEachReplicated(fn);
  if (!s.ok()) runtime_->StoreReadFailed(s.WithContext("read every key state"));
}

void NodeRuntime::StoreReadFailed(const Status& status) {
  // The core went on as if the key were absent: from now on nothing it outputs may be
  // written, sent or answered (failed_ stops Flush at once); the node stops.
  if (failed_) return;
  failed_ = true;
  hooks_.post([this, status] {
    KVD_LOG(*logger_, kError, "storage", "-", "stopping the node: {}", status.ToString());
    for (PendingGroup& g : pending_) FailGroup(g, status);
    pending_.clear();
    if (hooks_.fatal) hooks_.fatal(status);
  });
}

void NodeRuntime::Submit(topology::ClientRequest request) {
  node_->OnClientRequest(std::move(request));
  ScheduleFlush();
}

void NodeRuntime::SubmitAdmin(topology::ClientRequest request) {
  node_->OnAdminRequest(std::move(request));
  ScheduleFlush();
}

void NodeRuntime::OnPeerMessage(uint64_t from, std::string_view bytes) {
  if (failed_) return;
  node_->OnPeerMessage(from, bytes);
  ScheduleFlush();
}

void NodeRuntime::Tick(uint64_t wall_ms, uint64_t steady_ms) {
  if (failed_) return;
  wall_ms_ = wall_ms;
  node_->Tick(wall_ms);
  if (replicated_ && ++ticks_ % kTopologyMetricsTicks == 0) PublishTopologyMetrics();
  const kv::RowCache& cache = kv_.row_cache();
  metrics_->SetRowCache(cache.hits(), cache.misses(), cache.bytes());
  ScheduleFlush();
  if (config_.storage.durability == config::Durability::kPeriodic) {
    if (next_periodic_sync_ms_ == 0) next_periodic_sync_ms_ = steady_ms;
    if (steady_ms >= next_periodic_sync_ms_) {
      next_periodic_sync_ms_ = steady_ms + config_.storage.sync_interval_ms;
      if (unsynced_writes_) {
        unsynced_writes_ = false;
        queue_->Enqueue(StorageQueue::Job{0, epoch_, {}, true, 0});
      }
    }
  }
}

void NodeRuntime::Deliver(const topology::ClientRef& ref, wire::Response response) {
  if (ref.forwarded_from != 0) {
    // Another node forwarded this request: the answer travels back through the core.
    node_->OnForwardedReply(ref, response);
    ScheduleFlush();
    return;
  }
  hooks_.deliver(ref, std::move(response));
}

void NodeRuntime::PublishTopologyMetrics() {
  topology::NodeInfo info = node_->Inspect();
  std::map<std::string, uint64_t> gauges = info.counters;
  gauges["is_leader"] = info.role == "leader" ? 1 : 0;
  gauges["snapshots_sent_total"] = snapshots_sent_;
  gauges["snapshots_installed_total"] = snapshots_installed_;
  gauges["last_snapshot_bytes"] = last_snapshot_bytes_;
  gauges["duplicate_writes_total"] = duplicate_writes_;
  if (config_.node.mode == config::Mode::kDynamo) {
    gauges.erase("is_leader");
    gauges.erase("snapshots_sent_total");
    gauges.erase("snapshots_installed_total");
    gauges.erase("last_snapshot_bytes");
    gauges.erase("duplicate_writes_total");
  }
  if (config_.node.mode == config::Mode::kMultiLeader) {
    gauges.erase("is_leader");
    gauges.erase("snapshots_sent_total");
    gauges.erase("snapshots_installed_total");
    gauges.erase("last_snapshot_bytes");
    gauges["lww_concurrent_overwrites_total"] = lww_overwrites_;
    gauges["sibling_cap_refusals_total"] = sibling_cap_refusals_;
    gauges["resolver_mismatches_total"] = resolver_mismatches_;
    gauges["tombstones_collected_total"] = tombstones_collected_;
  }
  std::vector<admin::Metrics::PeerGauge> peers;
  for (const topology::PeerInfo& p : info.peers) {
    // dynamo: the "lag" gauge carries up (1) or down (0).
    const uint64_t lag = config_.node.mode == config::Mode::kDynamo ? (p.state == "up" ? 1 : 0)
                                                                     : p.lag_entries;
    peers.push_back({p.id, lag, static_cast<double>(p.ms_since_contact) / 1000.0});
  }
  metrics_->SetTopology(std::move(gauges), std::move(peers));
}

void NodeRuntime::ScheduleFlush() {
  if (flush_scheduled_ || failed_) return;
  flush_scheduled_ = true;
  hooks_.post([this] { Flush(); });
}

bool NodeRuntime::Idle() const { return pending_.empty() && !flush_scheduled_; }

void NodeRuntime::ApplyItem(topology::ApplyItem& item, PendingGroup& pg,
                            storage::WriteBatch* batch) {
  switch (item.kind) {
    case topology::ApplyKind::kRequest: {
      wire::Response resp;
      bool dedup = item.index != 0 && item.client_id != 0 &&
                   IsWriteOpcode(item.request.opcode());
      kv::ClientTable::Seen seen = kv::ClientTable::Seen::kNew;
      if (dedup) seen = clients_.Check(item.client_id, item.client_seq, &resp);
      switch (seen) {
        case kv::ClientTable::Seen::kDuplicate:
          // Raft dissertation §6.3: answer a retried write from memory.
          ++duplicate_writes_;
          resp.request_id = item.request.request_id;
          break;
        case kv::ClientTable::Seen::kStale:
          // Neither applied again nor known: the answer to it has been forgotten.
          resp = wire::Response::Error(
              item.request.request_id, item.request.opcode(),
              Status::Timeout(fmt::format(
                  "outcome unknown: sequence {} of client {} is older than the {} writes "
                  "the cluster remembers for that client; it was not applied again, and "
                  "may or may not have been applied before",
                  item.client_seq, item.client_id, kv::ClientTable::kWindow)));
          break;
        case kv::ClientTable::Seen::kNew: {
          uint64_t request_id = item.request.request_id;
          resp = kv_.Apply(std::move(item.request), item.now_ms, pg.group, batch);
          if (dedup) clients_.Record(item.client_id, item.client_seq, item.index, resp, batch);
          resp.request_id = request_id;
          break;
        }
      }
      if (item.session_index != 0 && resp.ok()) {
        resp.session_token.assign(8, '\0');
        PutU64BE(resp.session_token.data(), item.session_index);
      }
      if (item.reply && item.index != 0 && item.ref.start_ns != 0) {
        uint64_t now = SteadyNanos();
        if (now > item.ref.start_ns) metrics_->RecordCommit(now - item.ref.start_ns);
      }
      if (item.reply) pg.replies.push_back(topology::Reply{item.ref, std::move(resp)});
      break;
    }
    case topology::ApplyKind::kExpire: {
      size_t expired = kv_.SweepExpired(item.now_ms, config_.storage.expiry_sweep_max_keys,
                                        pg.group, batch);
      if (expired > 0) metrics_->KeysExpired(expired);
      break;
    }
    case topology::ApplyKind::kCollect:
      tombstones_collected_ +=
          kv_.CollectTombstones(item.stability, item.now_ms, item.grace_ms,
                                config_.storage.expiry_sweep_max_keys, pg.group, batch);
      break;
    case topology::ApplyKind::kStoreState:
      kv_.StoreReplicated(item.change.key, std::move(item.state), pg.group, batch);
      break;
    case topology::ApplyKind::kAnswer:
      pg.replies.push_back(topology::Reply{item.ref, std::move(item.response)});
      break;
    case topology::ApplyKind::kNoop: break;
    case topology::ApplyKind::kMembership: batch->Put(kMembershipKey, item.membership); break;
    case topology::ApplyKind::kChange: {
      const kv::Change& c = item.change;
      auto log_as_noop = [&] {
        for (const topology::StorageOp& op : node_->OnLocalChangeRefused(c.dot.counter)) {
          if (op.is_delete) {
            batch->Delete(op.key);
          } else {
            batch->Put(op.key, op.value);
          }
        }
      };
      const uint64_t client_id = item.request.options.client_id;
      const uint64_t client_seq = item.request.options.sequence;
      const bool dedup = item.local_change && client_id != 0;
      if (dedup) {
        // A retried write (same client id and sequence) this member already applied: its
        // new change becomes a no-op and the retry gets the first answer. (Per member: a
        // retry sent to another member is a new write there.)
        wire::Response first;
        const kv::ClientTable::Seen seen = clients_.Check(client_id, client_seq, &first);
        if (seen != kv::ClientTable::Seen::kNew) {
          log_as_noop();
          if (seen == kv::ClientTable::Seen::kDuplicate) {
            ++duplicate_writes_;
            first.request_id = item.request.request_id;
          } else {
            first = wire::Response::Error(
                item.request.request_id, item.request.opcode(),
                Status::Timeout(fmt::format(
                    "outcome unknown: sequence {} of client {} is older than the {} writes "
                    "this node remembers for that client; it was not applied again",
                    client_seq, client_id, kv::ClientTable::kWindow)));
          }
          if (item.reply) pg.replies.push_back(topology::Reply{item.ref, std::move(first)});
          break;
        }
      }
      kv::KvStore::ChangeResult r = kv_.ApplyChange(item.local_change ? &item.request : nullptr,
                                                    c, item.max_siblings, pg.group, batch);
      if (r.outcome.concurrent_overwrites > 0) {
        // LWW drops a concurrent write by design; say so, since nothing else will (at most
        // one line a second, with the count).
        lww_overwrites_ += r.outcome.concurrent_overwrites;
        lww_unlogged_ += r.outcome.concurrent_overwrites;
        if (wall_ms_ >= lww_logged_at_ms_ + 1000) {
          KVD_LOG(*logger_, kInfo, "multi_leader", "-",
                  "lww: {} concurrent write(s) overwritten without having been seen since the "
                  "last report (latest: key '{}', change {} at {})",
                  lww_unlogged_, c.key, c.dot.ToString(), c.hlc.ToString());
          lww_unlogged_ = 0;
          lww_logged_at_ms_ = wall_ms_;
        }
      }
      if (r.outcome.wrong_resolver) {
        ++resolver_mismatches_;
        KVD_LOG(*logger_, kWarn, "multi_leader", "-",
                "key '{}': change {} is a {} change but the key holds another type; ignored "
                "(multi_leader.resolvers differs between nodes or changed)",
                c.key, c.dot.ToString(), kv::ResolverName(c.resolver));
      }
      if (r.refused) {
        ++sibling_cap_refusals_;
        log_as_noop();
      }
      if (item.reply) {
        wire::Response resp = std::move(r.response);
        if (resp.ok()) resp.session_token = item.session_token;
        // The change's sequence number orders the table's eviction (oldest first), as the
        // log index does in leader_follower; it grows with every local write.
        if (dedup && !r.refused) clients_.Record(client_id, client_seq, c.dot.counter, resp, batch);
        pg.replies.push_back(topology::Reply{item.ref, std::move(resp)});
      }
      break;
    }
    case topology::ApplyKind::kReplicatedRead: {
      wire::Response resp = kv_.ReadReplicated(item.request, item.resolver);
      if (resp.ok()) resp.session_token = item.session_token;
      if (item.reply) pg.replies.push_back(topology::Reply{item.ref, std::move(resp)});
      break;
    }
  }
}

void NodeRuntime::Flush() {
  flush_scheduled_ = false;
  if (failed_) return;
  topology::Output out = node_->TakeOutput();
  if (out.members_changed && hooks_.members) hooks_.members(out.members);
  const std::string_view component = config_.node.mode == config::Mode::kLeaderFollower
                                         ? std::string_view("raft")
                                         : config::ModeName(config_.node.mode);
  for (const std::string& event : out.events) KVD_LOG(*logger_, kInfo, component, "-", "{}", event);
  for (topology::Envelope& e : out.early_send) hooks_.send(e.to, std::move(e.bytes));
  for (topology::Reply& r : out.replies) Deliver(r.ref, std::move(r.response));
  if (out.apply.empty() && out.expire.empty() && out.storage.empty() && out.send.empty() &&
      out.persist_index == 0 && out.snapshot_sends.empty() && out.snapshot_progress.empty() &&
      out.snapshot_chunks.empty()) {
    return;
  }
  // (events and membership were handled above: they need no storage)

  PendingGroup pg{++last_group_, epoch_, {}, {}, 0, 0, false, {}, {}, {}};
  storage::WriteBatch batch;
  for (const topology::StorageOp& op : out.storage) {
    if (op.is_delete) {
      batch.Delete(op.key);
    } else {
      batch.Put(op.key, op.value);
    }
  }
  pg.has_core_storage = !out.storage.empty();
  for (uint64_t now_ms : out.expire) {
    size_t expired =
        kv_.SweepExpired(now_ms, config_.storage.expiry_sweep_max_keys, pg.group, &batch);
    if (expired > 0) metrics_->KeysExpired(expired);
  }
  bool request_wants_sync = false;
  uint64_t applied_before = applied_index_;
  pg.replies.reserve(out.apply.size());
  for (topology::ApplyItem& item : out.apply) {
    request_wants_sync = request_wants_sync ||
                         item.request.options.durability == wire::Durability::kAlways;
    if (item.index != 0) {
      applied_index_ = item.index;
      applied_term_ = item.term;
    }
    ApplyItem(item, pg, &batch);
  }
  if (applied_index_ != applied_before) {
    batch.Put(kAppliedKey, AppliedValue(applied_index_, applied_term_));
  }
  kv_.FinishGroup(pg.group, &batch);
  metrics_->SetRevision(kv_.revision());
  if (answers_at_apply_) {
    // An answer here reflects committed entries only (durable on the nodes the replication
    // mode requires) and the state they produce; it need not wait for this node's own
    // writes, nor for log writes of newer entries queued ahead of it.
    for (topology::Reply& r : pg.replies) Deliver(r.ref, std::move(r.response));
    pg.replies.clear();
  }
  pg.sends = std::move(out.send);
  pg.persist_index = out.persist_index;
  pg.persist_term = out.persist_term;
  pg.snapshot_sends = std::move(out.snapshot_sends);
  pg.snapshot_progress = std::move(out.snapshot_progress);
  pg.snapshot_chunks = std::move(out.snapshot_chunks);

  bool always = config_.storage.durability == config::Durability::kAlways;
  bool sync;
  if (answers_at_apply_) {
    // The log is what must be durable; committed entries' kv writes can be replayed.
    sync = pg.has_core_storage && (always || out.force_sync);
  } else {
    // single, multi_leader: the batch holds the data (and, multi_leader, the change log
    // and progress that peers' acknowledgements and this node's shipping depend on).
    sync = !batch.empty() && (request_wants_sync || always);
  }
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
  queue_->Enqueue(StorageQueue::Job{pending_.back().group, pending_.back().epoch,
                                    std::move(batch), sync, requests});
}

void NodeRuntime::Complete(PendingGroup& group, const Status& status) {
  if (!status.ok()) {
    FailGroup(group, status);
    if (replicated_) {
      Fatal(status.WithContext("write of replicated state failed"));
      return;
    }
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
  for (topology::Envelope& e : group.sends) hooks_.send(e.to, std::move(e.bytes));
  for (topology::Reply& r : group.replies) Deliver(r.ref, std::move(r.response));
  if (!replicated_) return;
  if (group.persist_index != 0) node_->OnPersisted(group.persist_index, group.persist_term);
  for (const topology::SnapshotSend& s : group.snapshot_sends) StartSnapshotStream(s);
  for (const topology::SnapshotProgress& p : group.snapshot_progress) {
    ContinueSnapshotStream(p);
  }
  for (topology::SnapshotChunkIn& c : group.snapshot_chunks) {
    ReceiveSnapshotChunk(std::move(c));
  }
  MaybeInstallSnapshot();
  ScheduleFlush();  // OnPersisted and installs may have produced output
}

void NodeRuntime::FailGroup(PendingGroup& group, const Status& cause) {
  Status s = Status::IOError(
      fmt::format("request not applied: storage write failed: {}", cause.message()));
  for (topology::Reply& r : group.replies) {
    Deliver(r.ref, wire::Response::Error(r.response.request_id, r.response.opcode, s));
  }
}

void NodeRuntime::Fatal(const Status& status) {
  if (failed_) return;
  failed_ = true;
  KVD_LOG(*logger_, kError, "storage", "-", "stopping the node: {}", status.ToString());
  for (PendingGroup& g : pending_) FailGroup(g, status);
  pending_.clear();
  if (hooks_.fatal) hooks_.fatal(status);
}

void NodeRuntime::OnCompletions(const std::vector<StorageQueue::Completion>& done) {
  for (const StorageQueue::Completion& c : done) {
    if (c.group == 0) {  // a periodic sync
      if (!c.status.ok()) {
        KVD_LOG(*logger_, kError, "storage", "-", "periodic sync failed: {}",
                c.status.ToString());
      }
      continue;
    }
    if (failed_) return;
    KVD_ASSERT(!pending_.empty());
    KVD_ASSERT(pending_.front().group == c.group);
    PendingGroup pg = std::move(pending_.front());
    pending_.pop_front();
    Complete(pg, c.status);
  }
  if (replicated_) MaybeInstallSnapshot();
}

// ---------------------------------------------------------------------------------------
// Snapshots: the state machine (every column but the topology's), streamed as records
//   u32 key length, key, u32 value length, value
// in key order, cut into chunks of about kSnapshotChunkBytes.

void NodeRuntime::StartSnapshotStream(const topology::SnapshotSend& s) {
  OutgoingSnapshot snap;
  snap.term = s.term;
  snap.it = engine_->NewIterator();
  if (config_.node.mode == config::Mode::kMultiLeader) {
    // A state transfer: the key states, described by the progress and clock records of
    // the same consistent view.
    std::map<std::string, std::string> records;
    const char column = topology::multi_leader::kColumn;
    for (snap.it->Seek(std::string(1, column)); snap.it->Valid() && snap.it->key()[0] == column;
         snap.it->Next()) {
      const std::string_view key = snap.it->key();
      if (key.size() >= 2 && key[1] == 'l') {
        snap.it->Seek(std::string{column, 'l' + 1});  // skip the change log
        if (!snap.it->Valid() || snap.it->key()[0] != column) break;
      }
      records.emplace(std::string(snap.it->key()), std::string(snap.it->value()));
    }
    snap.membership = topology::multi_leader::Replicator::TransferMetadata(records);
    snap.index = s.to;
    snap.it->Seek(std::string(1, kv::kDataColumn));
    KVD_LOG(*logger_, kInfo, "multi_leader", "-", "sending this node's state to node {}", s.to);
    ++snapshots_sent_;
    auto [it, inserted] = outgoing_.insert_or_assign(s.to, std::move(snap));
    (void)inserted;
    SendSnapshotChunk(s.to, it->second);
    return;
  }
  // The iterator is a consistent view; its applied position and membership describe it.
  snap.it->Seek(kAppliedKey);
  if (!snap.it->Valid() || snap.it->key() != kAppliedKey ||
      !ParseApplied(snap.it->value(), &snap.index, &snap.snapshot_term) || snap.index == 0) {
    KVD_LOG(*logger_, kWarn, "raft", "-",
            "cannot send a snapshot to node {}: nothing applied yet", s.to);
    return;
  }
  snap.it->Seek(kMembershipKey);
  if (snap.it->Valid() && snap.it->key() == kMembershipKey) {
    snap.membership = std::string(snap.it->value());
  }
  snap.it->SeekToFirst();
  KVD_LOG(*logger_, kInfo, "raft", "-", "sending a snapshot at index {} to node {}",
          snap.index, s.to);
  ++snapshots_sent_;
  auto [it, inserted] = outgoing_.insert_or_assign(s.to, std::move(snap));
  (void)inserted;
  SendSnapshotChunk(s.to, it->second);
}

void NodeRuntime::ContinueSnapshotStream(const topology::SnapshotProgress& p) {
  auto it = outgoing_.find(p.to);
  if (it == outgoing_.end()) return;
  if (p.done) {
    outgoing_.erase(it);
    return;
  }
  if (p.next_offset != it->second.offset) return;  // a stale or repeated acknowledgement
  SendSnapshotChunk(p.to, it->second);
}

void NodeRuntime::SendSnapshotChunk(uint64_t to, OutgoingSnapshot& snap) {
  std::string_view column = topology::TopologyColumn(config_.node.mode);
  std::string data;
  ByteWriter w(&data);
  storage::Iterator& it = *snap.it;
  const bool states_only = config_.node.mode == config::Mode::kMultiLeader;
  while (it.Valid() && data.size() < kSnapshotChunkBytes) {
    std::string_view key = it.key();
    if (states_only && key[0] != kv::kDataColumn) {
      it.SeekToLast();  // past the key states: the transfer is complete
      it.Next();
      break;
    }
    if (!column.empty() && key.substr(0, 1) == column) {
      it.Seek(std::string(1, static_cast<char>(column[0] + 1)));  // skip the topology
      continue;
    }
    w.Bytes(key);
    w.Bytes(it.value());
    it.Next();
  }
  bool done = !it.Valid();
  if (!it.status().ok()) {
    KVD_LOG(*logger_, kError, "raft", "-", "snapshot to node {} failed: {}", to,
            it.status().ToString());
    outgoing_.erase(to);
    return;
  }
  uint64_t offset = snap.offset;
  snap.offset += data.size();
  last_snapshot_bytes_ = snap.offset;
  hooks_.send(to, node_->EncodeSnapshotChunk(to, snap.term, snap.index, snap.snapshot_term,
                                             snap.membership, offset, std::move(data), done));
  if (done) outgoing_.erase(to);  // a lost last chunk makes the leader start over
}

void NodeRuntime::ReceiveSnapshotChunk(topology::SnapshotChunkIn chunk) {
  if (chunk.offset == 0) {
    incoming_ = IncomingSnapshot{chunk.index, chunk.term, chunk.membership, {}, false};
  }
  if (!incoming_ || incoming_->index != chunk.index || incoming_->data.size() != chunk.offset) {
    return;  // the core checked the order; a mismatch means the stream restarted
  }
  if (incoming_->data.size() + chunk.data.size() > kMaxSnapshotBytes) {
    KVD_LOG(*logger_, kError, "raft", "-", "snapshot at index {} exceeds {} bytes; dropped",
            chunk.index, kMaxSnapshotBytes);
    incoming_.reset();
    return;
  }
  incoming_->data += chunk.data;
  incoming_->complete = chunk.done;
}

void NodeRuntime::MaybeInstallSnapshot() {
  if (!incoming_ || !incoming_->complete || !pending_.empty() || failed_) return;
  IncomingSnapshot snap = std::move(*incoming_);
  incoming_.reset();
  if (config_.node.mode == config::Mode::kMultiLeader) {
    // A state transfer is merged into this node's state, never installed over it.
    Status s = kv_.MergeReplicated(snap.data);
    if (s.code() == Code::kCorruption) {
      KVD_LOG(*logger_, kError, "multi_leader", "-", "state from node {} rejected: {}",
              snap.index, s.message());
      node_->OnSnapshotRejected();
      ScheduleFlush();
      return;
    }
    if (s.ok()) s = kv_.Reload();
    if (!s.ok()) {
      Fatal(s.WithContext("merge a state transfer"));
      return;
    }
    metrics_->SetRevision(kv_.revision());
    ++snapshots_installed_;
    KVD_LOG(*logger_, kInfo, "multi_leader", "-", "merged the state of node {} ({} bytes)",
            snap.index, snap.data.size());
    node_->OnSnapshotInstalled(snap.index, 0, snap.membership);
    ScheduleFlush();
    return;
  }
  Status s = InstallSnapshot(snap);
  if (s.code() == Code::kCorruption) {
    KVD_LOG(*logger_, kError, "raft", "-", "snapshot at index {} rejected: {}", snap.index,
            s.message());
    node_->OnSnapshotRejected();  // the leader retries after its snapshot timeout
    ScheduleFlush();
    return;
  }
  if (!s.ok()) {
    Fatal(s.WithContext("install snapshot"));
    return;
  }
  s = kv_.Reload();
  if (s.ok()) s = clients_.Load(engine_);
  if (!s.ok()) {
    Fatal(s.WithContext("reload after snapshot"));
    return;
  }
  applied_index_ = snap.index;
  applied_term_ = snap.term;
  metrics_->SetRevision(kv_.revision());
  ++snapshots_installed_;
  KVD_LOG(*logger_, kInfo, "raft", "-", "installed a snapshot at index {} ({} bytes)",
          snap.index, snap.data.size());
  node_->OnSnapshotInstalled(snap.index, snap.term, snap.membership);
  ScheduleFlush();
}

Status NodeRuntime::InstallSnapshot(const IncomingSnapshot& snap) {
  std::string_view column = topology::TopologyColumn(config_.node.mode);
  storage::WriteBatch batch;
  std::unique_ptr<storage::Iterator> it = engine_->NewIterator();
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (!column.empty() && it->key().substr(0, 1) == column) continue;
    batch.Delete(it->key());
  }
  KVD_TRY(it->status());
  ByteReader r(snap.data);
  while (r.remaining() > 0) {
    std::string_view key, value;
    if (!r.Bytes(&key) || !r.Bytes(&value) || key.empty()) {
      return Status::Corruption("a snapshot record is truncated");
    }
    if (!column.empty() && key.substr(0, 1) == column) {
      return Status::Corruption("a snapshot holds a key of the topology's own column");
    }
    batch.Put(key, value);
  }
  // The snapshot is self-describing; make sure its position is the one announced.
  batch.Put(kAppliedKey, AppliedValue(snap.index, snap.term));
  batch.Put(kMembershipKey, snap.membership);
  return engine_->Write(batch, /*sync=*/true);
}

Status NodeRuntime::Close() {
  // If the drain timed out, groups may still be queued: the queue writes them before it
  // stops, but their answers are dropped with the connections. Nothing unwritten was
  // acknowledged.
  queue_->Stop();
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
  if (replicated_) {
    nlohmann::json raft;
    for (const auto& [name, value] : info.counters) raft[name] = value;
    for (const auto& [name, value] : info.labels) raft[name] = value;
    if (config_.node.mode == config::Mode::kMultiLeader) {
      raft["lww_concurrent_overwrites_total"] = lww_overwrites_;
      raft["sibling_cap_refusals_total"] = sibling_cap_refusals_;
      raft["resolver_mismatches_total"] = resolver_mismatches_;
      raft["tombstones_collected_total"] = tombstones_collected_;
      raft["duplicate_writes"] = duplicate_writes_;
    } else if (config_.node.mode == config::Mode::kLeaderFollower) {
      raft["snapshots_sent"] = snapshots_sent_;
      raft["snapshots_installed"] = snapshots_installed_;
      raft["last_snapshot_bytes"] = last_snapshot_bytes_;
      raft["duplicate_writes"] = duplicate_writes_;
      raft["dedup_clients"] = clients_.size();
    }
    raft["failed"] = failed_;
    nlohmann::json peers = nlohmann::json::array();
    for (const topology::PeerInfo& p : info.peers) {
      if (config_.node.mode == config::Mode::kDynamo) {
        // The other nodes of the ring, up or down as this node's failure detector sees them.
        peers.push_back({{"id", p.id}, {"state", p.state}, {"ms_since_contact", p.ms_since_contact}});
        continue;
      }
      if (config_.node.mode == config::Mode::kMultiLeader) {
        // The peers this member ships changes to: what they have not acknowledged yet.
        peers.push_back({{"id", p.id},
                         {"state", p.state},
                         {"lag_changes", p.lag_entries},
                         {"ms_since_ack", p.ms_since_contact},
                         {"acked_own_changes", p.match}});
        continue;
      }
      peers.push_back({{"id", p.id},
                       {"role", p.role},
                       {"match_index", p.match},
                       {"next_index", p.next},
                       {"state", p.state},
                       {"ms_since_contact", p.ms_since_contact},
                       {"lag_entries", p.lag_entries}});
    }
    raft["peers"] = std::move(peers);
    nlohmann::json members = nlohmann::json::array();
    for (const config::MemberConfig& m : config_.cluster.members) {
      nlohmann::json e = {{"id", m.id}, {"client", m.client.ToString()},
                          {"peer", m.peer.ToString()}};
      if (m.has_admin) e["admin"] = m.admin.ToString();
      if (!m.zone.empty()) e["zone"] = m.zone;
      members.push_back(std::move(e));
    }
    raft["configured_members"] = std::move(members);
    nlohmann::json cluster = nlohmann::json::array();
    for (const topology::MemberInfo& m : info.members) {
      nlohmann::json e = {{"id", m.id}, {"role", m.role}, {"client", m.client}, {"peer", m.peer}};
      if (!m.zone.empty()) e["zone"] = m.zone;
      cluster.push_back(std::move(e));
    }
    raft["members"] = std::move(cluster);
    if (config_.node.mode == config::Mode::kDynamo) {
      // What a smart client needs to rebuild the ring (common/ring: every node's tokens
      // derive from its id) and send each request to a replica of its key.
      raft["tokens_per_node"] = config_.dynamo.tokens_per_node;
    }
    j[config_.node.mode == config::Mode::kLeaderFollower ? std::string("raft")
                                                         : std::string(config::ModeName(config_.node.mode))] =
        std::move(raft);
  }
  return j.dump();
}

}  // namespace kvd::node
