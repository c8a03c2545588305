// Metrics: the counters, gauges and histograms a node exports at /metrics in the
// Prometheus text exposition format (version 0.0.4).
//
// Every metric is a fixed set of relaxed atomics, allocated up front: recording on the hot
// path is a handful of uncontended atomic adds, with no locks and no allocation. Labels
// are closed sets (opcode x status), so the series count is bounded. The render call reads
// the atomics without stopping writers; a scrape may therefore see a histogram's count
// and sum from slightly different instants, as Prometheus clients generally allow.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <vector>
#include <string>

#include "common/status.h"
#include "common/wire/messages.h"

namespace kvd::admin {

// A histogram with fixed upper bounds (seconds), like a Prometheus client histogram.
class Histogram {
 public:
  // Bucket upper bounds in seconds, from 25 µs to 10 s.
  static constexpr std::array<double, 18> kBounds = {
      0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
      0.025,    0.05,    0.1,    0.25,    0.5,    1.0,   2.5,    5.0,   10.0};

  void Observe(uint64_t nanos);
  // Appends the _bucket/_sum/_count lines for `name{labels}`.
  void Render(const std::string& name, const std::string& labels, std::string* out) const;

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> buckets_{};  // last = +Inf
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_nanos_{0};
};

// A histogram of plain counts (group commit sizes) with power-of-two bounds 1..4096.
class SizeHistogram {
 public:
  static constexpr size_t kBuckets = 13;
  void Observe(uint64_t value);
  void Render(const std::string& name, std::string* out) const;

 private:
  std::array<std::atomic<uint64_t>, kBuckets + 1> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_{0};
};

class Metrics {
 public:
  static constexpr size_t kOpSlots = 256;  // indexed by opcode byte

  // A request finished with `status` after `nanos` (from the first byte to the response).
  void RecordRequest(wire::Opcode op, Code status, uint64_t nanos);
  void AddBytesReceived(uint64_t n) { bytes_received_.fetch_add(n, std::memory_order_relaxed); }
  void AddBytesSent(uint64_t n) { bytes_sent_.fetch_add(n, std::memory_order_relaxed); }
  void ConnectionOpened();
  void ConnectionClosed();
  void ConnectionRejected() { connections_rejected_.fetch_add(1, std::memory_order_relaxed); }
  void ProtocolError() { protocol_errors_.fetch_add(1, std::memory_order_relaxed); }
  // One engine write that carried `requests` client requests (group commit).
  void RecordStorageWrite(bool sync, uint64_t requests, uint64_t nanos);
  void StorageWriteFailed() { storage_write_errors_.fetch_add(1, std::memory_order_relaxed); }
  void KeysExpired(uint64_t n) { keys_expired_.fetch_add(n, std::memory_order_relaxed); }
  void SetRevision(uint64_t r) { revision_.store(r, std::memory_order_relaxed); }
  // Published by the loop thread on every tick.
  void SetRowCache(uint64_t hits, uint64_t misses, uint64_t bytes) {
    row_cache_hits_.store(hits, std::memory_order_relaxed);
    row_cache_misses_.store(misses, std::memory_order_relaxed);
    row_cache_bytes_.store(bytes, std::memory_order_relaxed);
  }

  // Replicated topologies. The loop thread publishes the topology's state a few times a
  // second (numeric state by name, and per-peer lag as the leader sees it); the scraper
  // reads it under a mutex.
  struct PeerGauge {
    uint64_t id = 0;
    uint64_t lag_entries = 0;
    double seconds_since_contact = 0;
  };
  void SetTopology(std::map<std::string, uint64_t> gauges, std::vector<PeerGauge> peers);
  // multi_leader: its gauges are rendered as kvd_multi_leader_<name>, and each peer's lag
  // as kvd_multi_leader_peer_lag_changes / _peer_ack_age_seconds. Call once, before
  // SetTopology.
  void SetTopologyMultiLeader() { multi_leader_ = true; }
  // dynamo: its gauges are rendered as kvd_dynamo_<name>, and each peer's silence as
  // kvd_dynamo_peer_last_heard_seconds and kvd_dynamo_peer_up. Call once, before SetTopology.
  void SetTopologyDynamo() { dynamo_ = true; }
  // A replicated write committed and was applied `nanos` after it arrived.
  void RecordCommit(uint64_t nanos) { commit_latency_.Observe(nanos); }

  uint64_t connections() const { return connections_.load(std::memory_order_relaxed); }
  uint64_t requests_total() const;

  // Renders everything. `storage_gauges` come from Engine::Stats at scrape time;
  // `uptime_seconds` from the caller's clock.
  std::string RenderPrometheus(const std::map<std::string, uint64_t>& storage_gauges,
                               double uptime_seconds) const;

 private:
  std::array<std::array<std::atomic<uint64_t>, kMaxCode + 1>, kOpSlots> requests_{};
  std::array<Histogram, kOpSlots> latency_;
  std::atomic<uint64_t> bytes_received_{0};
  std::atomic<uint64_t> bytes_sent_{0};
  std::atomic<uint64_t> connections_{0};
  std::atomic<uint64_t> connections_total_{0};
  std::atomic<uint64_t> connections_rejected_{0};
  std::atomic<uint64_t> protocol_errors_{0};
  std::atomic<uint64_t> storage_writes_{0};
  std::atomic<uint64_t> storage_syncs_{0};
  std::atomic<uint64_t> storage_write_errors_{0};
  std::atomic<uint64_t> keys_expired_{0};
  std::atomic<uint64_t> revision_{0};
  std::atomic<uint64_t> row_cache_hits_{0};
  std::atomic<uint64_t> row_cache_misses_{0};
  std::atomic<uint64_t> row_cache_bytes_{0};
  Histogram storage_write_latency_;
  Histogram storage_sync_latency_;
  SizeHistogram group_commit_requests_;
  Histogram commit_latency_;
  mutable std::mutex topology_mu_;
  std::map<std::string, uint64_t> topology_gauges_;  // guarded by topology_mu_
  std::vector<PeerGauge> peer_gauges_;               // guarded by topology_mu_
  bool multi_leader_ = false;
  bool dynamo_ = false;
  bool has_topology_ = false;                        // guarded by topology_mu_
};

}  // namespace kvd::admin
