#include "server/admin/metrics.h"

#include <fmt/format.h>

namespace kvd::admin {

namespace {
constexpr auto kRelaxed = std::memory_order_relaxed;

void Header(std::string* out, std::string_view name, std::string_view type,
            std::string_view help) {
  fmt::format_to(std::back_inserter(*out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void Sample(std::string* out, std::string_view name, uint64_t v) {
  fmt::format_to(std::back_inserter(*out), "{} {}\n", name, v);
}

std::string LowerOpName(wire::Opcode op) {
  std::string s = wire::OpcodeName(op);
  for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return s;
}
}  // namespace

void Histogram::Observe(uint64_t nanos) {
  double seconds = static_cast<double>(nanos) / 1e9;
  size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  buckets_[i].fetch_add(1, kRelaxed);
  count_.fetch_add(1, kRelaxed);
  sum_nanos_.fetch_add(nanos, kRelaxed);
}

void Histogram::Render(const std::string& name, const std::string& labels,
                       std::string* out) const {
  std::string sep = labels.empty() ? "" : ",";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets_[i].load(kRelaxed);
    fmt::format_to(std::back_inserter(*out), "{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep,
                   kBounds[i], cumulative);
  }
  cumulative += buckets_[kBounds.size()].load(kRelaxed);
  fmt::format_to(std::back_inserter(*out), "{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep,
                 cumulative);
  std::string braces = labels.empty() ? "" : "{" + labels + "}";
  fmt::format_to(std::back_inserter(*out), "{}_sum{} {:.9f}\n", name, braces,
                 static_cast<double>(sum_nanos_.load(kRelaxed)) / 1e9);
  fmt::format_to(std::back_inserter(*out), "{}_count{} {}\n", name, braces, count_.load(kRelaxed));
}

void SizeHistogram::Observe(uint64_t value) {
  size_t i = 0;
  while (i < kBuckets && value > (uint64_t{1} << i)) ++i;
  buckets_[i].fetch_add(1, kRelaxed);
  count_.fetch_add(1, kRelaxed);
  sum_.fetch_add(value, kRelaxed);
}

void SizeHistogram::Render(const std::string& name, std::string* out) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    cumulative += buckets_[i].load(kRelaxed);
    fmt::format_to(std::back_inserter(*out), "{}_bucket{{le=\"{}\"}} {}\n", name, uint64_t{1} << i,
                   cumulative);
  }
  cumulative += buckets_[kBuckets].load(kRelaxed);
  fmt::format_to(std::back_inserter(*out), "{}_bucket{{le=\"+Inf\"}} {}\n", name, cumulative);
  fmt::format_to(std::back_inserter(*out), "{}_sum {}\n{}_count {}\n", name, sum_.load(kRelaxed),
                 name, count_.load(kRelaxed));
}

void Metrics::RecordRequest(wire::Opcode op, Code status, uint64_t nanos) {
  auto slot = static_cast<size_t>(op);
  requests_[slot][static_cast<size_t>(status)].fetch_add(1, kRelaxed);
  latency_[slot].Observe(nanos);
}

void Metrics::ConnectionOpened() {
  connections_.fetch_add(1, kRelaxed);
  connections_total_.fetch_add(1, kRelaxed);
}

void Metrics::ConnectionClosed() { connections_.fetch_sub(1, kRelaxed); }

void Metrics::RecordStorageWrite(bool sync, uint64_t requests, uint64_t nanos) {
  storage_writes_.fetch_add(1, kRelaxed);
  if (sync) {
    storage_syncs_.fetch_add(1, kRelaxed);
    storage_sync_latency_.Observe(nanos);
    group_commit_requests_.Observe(requests);
  } else {
    storage_write_latency_.Observe(nanos);
  }
}

void Metrics::SetTopology(std::map<std::string, uint64_t> gauges, std::vector<PeerGauge> peers) {
  std::lock_guard lock(topology_mu_);
  topology_gauges_ = std::move(gauges);
  peer_gauges_ = std::move(peers);
  has_topology_ = true;
}

uint64_t Metrics::requests_total() const {
  uint64_t total = 0;
  for (const auto& per_op : requests_) {
    for (const auto& c : per_op) total += c.load(kRelaxed);
  }
  return total;
}

std::string Metrics::RenderPrometheus(const std::map<std::string, uint64_t>& storage_gauges,
                                      double uptime_seconds) const {
  std::string out;
  out.reserve(16 << 10);
  Header(&out, "kvd_requests_total", "counter", "Requests answered, by opcode and status.");
  for (size_t op = 0; op < kOpSlots; ++op) {
    if (!wire::IsKnownOpcode(static_cast<uint8_t>(op))) continue;
    std::string name = LowerOpName(static_cast<wire::Opcode>(op));
    for (size_t code = 0; code <= kMaxCode; ++code) {
      uint64_t v = requests_[op][code].load(kRelaxed);
      if (v == 0) continue;
      fmt::format_to(std::back_inserter(out), "kvd_requests_total{{op=\"{}\",status=\"{}\"}} {}\n",
                     name, CodeName(static_cast<Code>(code)), v);
    }
  }
  Header(&out, "kvd_request_duration_seconds", "histogram",
         "Time from a request's arrival to its response being queued, by opcode.");
  for (size_t op = 0; op < kOpSlots; ++op) {
    if (!wire::IsKnownOpcode(static_cast<uint8_t>(op))) continue;
    std::string labels = fmt::format("op=\"{}\"", LowerOpName(static_cast<wire::Opcode>(op)));
    latency_[op].Render("kvd_request_duration_seconds", labels, &out);
  }
  Header(&out, "kvd_received_bytes_total", "counter", "Bytes read from client connections.");
  Sample(&out, "kvd_received_bytes_total", bytes_received_.load(kRelaxed));
  Header(&out, "kvd_sent_bytes_total", "counter", "Bytes written to client connections.");
  Sample(&out, "kvd_sent_bytes_total", bytes_sent_.load(kRelaxed));
  Header(&out, "kvd_connections", "gauge", "Open client connections.");
  Sample(&out, "kvd_connections", connections_.load(kRelaxed));
  Header(&out, "kvd_connections_total", "counter", "Client connections accepted.");
  Sample(&out, "kvd_connections_total", connections_total_.load(kRelaxed));
  Header(&out, "kvd_connections_rejected_total", "counter",
         "Connections refused because server.max_connections was reached.");
  Sample(&out, "kvd_connections_rejected_total", connections_rejected_.load(kRelaxed));
  Header(&out, "kvd_protocol_errors_total", "counter",
         "Connections closed because of a malformed or unexpected frame.");
  Sample(&out, "kvd_protocol_errors_total", protocol_errors_.load(kRelaxed));
  Header(&out, "kvd_storage_writes_total", "counter", "Engine write calls (one per commit group).");
  Sample(&out, "kvd_storage_writes_total", storage_writes_.load(kRelaxed));
  Header(&out, "kvd_storage_syncs_total", "counter", "Engine writes made durable with fsync.");
  Sample(&out, "kvd_storage_syncs_total", storage_syncs_.load(kRelaxed));
  Header(&out, "kvd_storage_write_errors_total", "counter", "Engine writes or syncs that failed.");
  Sample(&out, "kvd_storage_write_errors_total", storage_write_errors_.load(kRelaxed));
  Header(&out, "kvd_storage_write_duration_seconds", "histogram", "Unsynced engine write time.");
  storage_write_latency_.Render("kvd_storage_write_duration_seconds", "", &out);
  Header(&out, "kvd_storage_sync_duration_seconds", "histogram", "Synced engine write time.");
  storage_sync_latency_.Render("kvd_storage_sync_duration_seconds", "", &out);
  Header(&out, "kvd_group_commit_requests", "histogram", "Client requests sharing one fsync.");
  group_commit_requests_.Render("kvd_group_commit_requests", &out);
  Header(&out, "kvd_keys_expired_total", "counter", "Keys removed by the TTL expiry sweep.");
  Sample(&out, "kvd_keys_expired_total", keys_expired_.load(kRelaxed));
  Header(&out, "kvd_revision", "gauge", "Store-wide revision of the last applied write.");
  Sample(&out, "kvd_revision", revision_.load(kRelaxed));
  Header(&out, "kvd_row_cache_hits_total", "counter", "Reads answered by the row cache.");
  Sample(&out, "kvd_row_cache_hits_total", row_cache_hits_.load(kRelaxed));
  Header(&out, "kvd_row_cache_misses_total", "counter", "Reads that went to the engine.");
  Sample(&out, "kvd_row_cache_misses_total", row_cache_misses_.load(kRelaxed));
  Header(&out, "kvd_row_cache_bytes", "gauge", "Bytes charged to the row cache.");
  Sample(&out, "kvd_row_cache_bytes", row_cache_bytes_.load(kRelaxed));
  Header(&out, "kvd_storage_engine", "gauge", "Engine statistics, by name.");
  for (const auto& [name, value] : storage_gauges) {
    fmt::format_to(std::back_inserter(out), "kvd_storage_engine{{stat=\"{}\"}} {}\n", name, value);
  }
  {
    std::lock_guard lock(topology_mu_);
    if (has_topology_ && dynamo_) {
      for (const auto& [name, value] : topology_gauges_) {
        std::string metric = fmt::format("kvd_dynamo_{}", name);
        Header(&out, metric, name.ends_with("_total") ? "counter" : "gauge",
               fmt::format("dynamo: {}.", name));
        Sample(&out, metric, value);
      }
      Header(&out, "kvd_dynamo_peer_up", "gauge",
             "1 while this node's failure detector believes the peer up.");
      for (const PeerGauge& p : peer_gauges_) {
        fmt::format_to(std::back_inserter(out), "kvd_dynamo_peer_up{{peer=\"{}\"}} {}\n", p.id,
                       p.lag_entries);
      }
      Header(&out, "kvd_dynamo_peer_last_heard_seconds", "gauge",
             "Seconds since this node last heard from the peer.");
      for (const PeerGauge& p : peer_gauges_) {
        fmt::format_to(std::back_inserter(out),
                       "kvd_dynamo_peer_last_heard_seconds{{peer=\"{}\"}} {:.3f}\n", p.id,
                       p.seconds_since_contact);
      }
    } else if (has_topology_ && multi_leader_) {
      for (const auto& [name, value] : topology_gauges_) {
        std::string metric = fmt::format("kvd_multi_leader_{}", name);
        Header(&out, metric, name.ends_with("_total") ? "counter" : "gauge",
               fmt::format("multi_leader: {}.", name));
        Sample(&out, metric, value);
      }
      Header(&out, "kvd_multi_leader_peer_lag_changes", "gauge",
             "Changes this node has that the peer has not acknowledged (all origins it ships).");
      for (const PeerGauge& p : peer_gauges_) {
        fmt::format_to(std::back_inserter(out), "kvd_multi_leader_peer_lag_changes{{peer=\"{}\"}} {}\n",
                       p.id, p.lag_entries);
      }
      Header(&out, "kvd_multi_leader_peer_ack_age_seconds", "gauge",
             "Seconds since the peer last acknowledged changes while some were outstanding.");
      for (const PeerGauge& p : peer_gauges_) {
        fmt::format_to(std::back_inserter(out),
                       "kvd_multi_leader_peer_ack_age_seconds{{peer=\"{}\"}} {:.3f}\n", p.id,
                       p.seconds_since_contact);
      }
    } else if (has_topology_) {
      for (const auto& [name, value] : topology_gauges_) {
        std::string metric = fmt::format("kvd_raft_{}", name);
        Header(&out, metric, "gauge", fmt::format("Raft state: {}.", name));
        Sample(&out, metric, value);
      }
      Header(&out, "kvd_raft_follower_lag_entries", "gauge",
             "Entries a follower is behind the leader's log (on the leader).");
      for (const PeerGauge& p : peer_gauges_) {
        fmt::format_to(std::back_inserter(out), "kvd_raft_follower_lag_entries{{peer=\"{}\"}} {}\n",
                       p.id, p.lag_entries);
      }
      Header(&out, "kvd_raft_follower_last_contact_seconds", "gauge",
             "Seconds since the leader last heard from a follower (on the leader).");
      for (const PeerGauge& p : peer_gauges_) {
        fmt::format_to(std::back_inserter(out),
                       "kvd_raft_follower_last_contact_seconds{{peer=\"{}\"}} {:.3f}\n", p.id,
                       p.seconds_since_contact);
      }
      Header(&out, "kvd_raft_commit_duration_seconds", "histogram",
             "Time from a write's arrival at the leader to its commit and apply.");
      commit_latency_.Render("kvd_raft_commit_duration_seconds", "", &out);
    }
  }
  Header(&out, "kvd_uptime_seconds", "gauge", "Seconds since the node started.");
  fmt::format_to(std::back_inserter(out), "kvd_uptime_seconds {:.3f}\n", uptime_seconds);
  return out;
}

}  // namespace kvd::admin
