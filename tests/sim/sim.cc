#include "tests/sim/sim.h"

#include <fmt/format.h>

#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>

#include "common/bytes.h"
#include "common/log.h"
#include "common/rng.h"
#include "server/admin/metrics.h"
#include "server/node/node_runtime.h"
#include "server/node/storage_queue.h"
#include "server/storage/memory_engine.h"
#include "server/topology/raft/raft_node.h"

namespace kvd::sim {

namespace {

constexpr uint64_t kUsPerMs = 1000;
constexpr uint64_t kTickUs = 10 * kUsPerMs;  // the production shell's tick
constexpr uint32_t kElectionTimeoutMs = 300;
constexpr uint32_t kHeartbeatMs = 50;
constexpr uint64_t kAttemptTimeoutUs = 800 * kUsPerMs;
constexpr uint64_t kOpDeadlineUs = 6000 * kUsPerMs;
constexpr uint16_t kClientPortBase = 10000;
// A run that processes this many events is stuck in a loop (normal runs: ~100,000).
constexpr uint64_t kMaxEventsPerRun = 3'000'000;

// Swarm options: each run draws its fault mix from the seed.
struct Faults {
  double drop = 0;
  double duplicate = 0;
  uint64_t delay_min_us = 200;
  uint64_t delay_max_us = 2000;
  double partition_per_second = 0;
  double crash_per_second = 0;
  uint64_t disk_min_us = 50;
  uint64_t disk_max_us = 500;
  uint64_t sync_extra_us = 1000;
};

class Simulation;

struct SimClient;

struct SimNode {
  uint64_t id = 0;
  config::Config config;
  std::unique_ptr<storage::MemoryEngine> engine;
  std::unique_ptr<node::StorageQueue> queue;
  std::unique_ptr<admin::Metrics> metrics;
  std::unique_ptr<node::NodeRuntime> runtime;
  bool up = false;
  uint64_t incarnation = 0;
  double rate = 1.0;         // local clock speed
  int64_t wall_offset_ms = 0;
  uint64_t committed_checked = 0;  // committed-agreement check progress

  raft::RaftNode* core() {
    return runtime ? static_cast<raft::RaftNode*>(runtime->core()) : nullptr;
  }
};

// The simulated disk queue: writes complete after a random latency; every job queued
// while a write is in progress goes into the next write together (group commit).
class SimQueue final : public node::StorageQueue {
 public:
  SimQueue(Simulation* sim, SimNode* node, uint64_t incarnation)
      : sim_(sim), node_(node), incarnation_(incarnation) {}
  void Start(OnDone on_done) override { on_done_ = std::move(on_done); }
  void Stop() override { jobs_.clear(); }  // only at a crash or at the end: jobs are lost
  void Enqueue(Job job) override;

 private:
  void WriteNext();
  Simulation* sim_;
  SimNode* node_;
  uint64_t incarnation_;
  OnDone on_done_;
  std::deque<Job> jobs_;
  bool busy_ = false;
};

struct PendingOp {
  size_t history_index = 0;
  wire::Request request;
  uint64_t attempt = 0;       // request id of the current attempt
  uint64_t first_call_us = 0;
  bool maybe_applied = false;  // a write whose earlier attempt may have taken effect
  int attempts = 0;
};

struct SimClient {
  uint32_t index = 0;
  uint64_t client_id = 0;
  uint64_t sequence = 0;
  uint64_t target = 1;  // node it sends to
  std::optional<PendingOp> op;
  std::map<std::string, uint64_t> last_version;
  uint64_t ops_started = 0;
};

class NullLog final : public Logger {
 public:
  explicit NullLog(bool trace) : trace_(trace) {}
  void Log(LogLevel, std::string_view component, std::string_view, std::string_view m) override {
    if (trace_) std::fprintf(stderr, "    [%.*s] %.*s\n", static_cast<int>(component.size()),
                             component.data(), static_cast<int>(m.size()), m.data());
  }
  bool Enabled(LogLevel) const override { return trace_; }

 private:
  bool trace_;
};

class Simulation {
 public:
  explicit Simulation(const SimOptions& options)
      : opt_(options), rng_(options.seed), log_(options.trace) {}

  SimResult Run();

  // Event queue.
  void At(uint64_t time_us, std::function<void()> fn) {
    events_.push(Event{time_us, next_seq_++, std::move(fn)});
  }
  void Post(std::function<void()> fn) { At(now_us_, std::move(fn)); }
  uint64_t now_us() const { return now_us_; }
  Rng& rng() { return rng_; }
  const Faults& faults() const { return faults_; }
  void Trace(const std::string& line) {
    if (opt_.trace) std::fprintf(stderr, "%10.3f ms  %s\n", static_cast<double>(now_us_) / 1e3,
                                 line.c_str());
  }
  void AfterEvent(SimNode* node);

 private:
  struct Event {
    uint64_t time_us;
    uint64_t seq;
    std::function<void()> fn;
    bool operator>(const Event& o) const {
      return time_us != o.time_us ? time_us > o.time_us : seq > o.seq;
    }
  };

  void DrawFaults();
  config::Config NodeConfig(uint64_t id) const;
  void StartNode(SimNode& n);
  void CrashNode(SimNode& n);
  void ScheduleTick(SimNode& n);
  uint64_t WallMs(const SimNode& n) const;
  void SendPeer(uint64_t from, uint64_t to, std::string bytes);
  bool LinkUp(uint64_t from, uint64_t to) const {
    return blocked_.count({from, to}) == 0;
  }
  void FaultStep();
  void Heal();

  // Clients.
  void ClientNext(SimClient& c);
  void ClientSend(SimClient& c);
  void ClientAttemptTimeout(uint32_t client, uint64_t attempt);
  void ClientResponse(uint64_t node, const topology::ClientRef& ref, wire::Response resp);
  void ClientFinish(SimClient& c, check::KvOutput output, bool returned);
  void ClientRetry(SimClient& c, uint64_t delay_us, bool maybe_applied);

  // Checks.
  void Fail(const std::string& what) {
    if (result_.ok) {
      result_.ok = false;
      result_.failure = fmt::format("at {:.3f} ms: {}", static_cast<double>(now_us_) / 1e3, what);
    }
  }
  void CheckCommitted(SimNode& n);
  bool Converged(std::string* why);
  std::string StateMachineDigest(SimNode& n, uint64_t* applied);
  void FinalChecks();
  void BuildHistoryJson();

  SimOptions opt_;
  Rng rng_;
  NullLog log_;
  Faults faults_;
  SimResult result_;
  uint64_t now_us_ = 0;
  uint64_t next_seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  std::vector<std::unique_ptr<SimNode>> nodes_;
  std::vector<SimClient> clients_;
  std::set<std::pair<uint64_t, uint64_t>> blocked_;  // directed links that are cut
  bool healing_ = false;
  bool clients_stop_ = false;
  uint64_t next_request_id_ = 1;
  std::vector<check::Operation> history_;
  std::map<uint64_t, uint64_t> leader_of_term_;
  // Committed entries as first seen: index -> (term, digest of type and data).
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> committed_;
  bool safe_mode_ = true;
  bool forward_writes_ = false;  // drawn per run: followers forward writes or redirect
};

void SimQueue::Enqueue(Job job) {
  jobs_.push_back(std::move(job));
  if (!busy_) WriteNext();
}

void SimQueue::WriteNext() {
  if (jobs_.empty()) return;
  busy_ = true;
  const Faults& f = sim_->faults();
  uint64_t latency = sim_->rng().Range(f.disk_min_us, f.disk_max_us);
  bool sync = false;
  for (const Job& j : jobs_) sync = sync || j.sync;
  if (sync) latency += f.sync_extra_us;
  SimNode* node = node_;
  uint64_t incarnation = incarnation_;
  sim_->At(sim_->now_us() + latency, [this, node, incarnation] {
    if (node->incarnation != incarnation || !node->up) return;  // crashed meanwhile
    std::vector<Completion> done;
    storage::WriteBatch merged;
    bool sync_now = false;
    for (Job& j : jobs_) {
      merged.Append(j.batch);
      sync_now = sync_now || j.sync;
      done.push_back(Completion{j.group, j.epoch, Status::Ok()});
    }
    jobs_.clear();
    Status s = merged.empty() ? (sync_now ? node->engine->Sync() : Status::Ok())
                              : node->engine->Write(merged, sync_now);
    for (Completion& c : done) c.status = s;
    busy_ = false;
    on_done_(std::move(done));
    WriteNext();
  });
}

// ---------------------------------------------------------------------------------------
// Setup

void Simulation::DrawFaults() {
  if (!opt_.faults) return;
  const double drops[] = {0.0, 0.01, 0.05, 0.15};
  const double dups[] = {0.0, 0.02, 0.1};
  const uint64_t jitters[] = {1000, 5000, 30000};
  faults_.drop = drops[rng_.Uniform(4)];
  faults_.duplicate = dups[rng_.Uniform(3)];
  faults_.delay_min_us = rng_.Range(100, 1000);
  faults_.delay_max_us = faults_.delay_min_us + jitters[rng_.Uniform(3)];
  faults_.partition_per_second = rng_.Chance(0.7) ? rng_.Real() * 1.5 : 0.0;
  faults_.crash_per_second = opt_.crashes && rng_.Chance(0.6) ? rng_.Real() * 0.8 : 0.0;
  faults_.disk_min_us = rng_.Range(20, 200);
  faults_.disk_max_us = faults_.disk_min_us + rng_.Range(0, 3000);
  faults_.sync_extra_us = rng_.Range(100, 5000);
}

config::Config Simulation::NodeConfig(uint64_t id) const {
  config::Config c;
  c.node.id = id;
  c.node.mode = config::Mode::kLeaderFollower;
  c.node.data_dir = fmt::format("sim-{}", id);
  c.storage.engine = config::Engine::kMemory;
  c.storage.durability = config::Durability::kAlways;
  c.storage.row_cache_mb = 1;
  c.storage.expiry_sweep_interval_ms = 1000;
  c.cluster.name = "sim";
  for (uint64_t m = 1; m <= opt_.nodes; ++m) {
    config::MemberConfig mc;
    mc.id = m;
    mc.client = config::Address{"127.0.0.1", static_cast<uint16_t>(kClientPortBase + m)};
    mc.peer = config::Address{"127.0.0.1", static_cast<uint16_t>(kClientPortBase + 100 + m)};
    c.cluster.members.push_back(mc);
  }
  c.raft.election_timeout_ms = kElectionTimeoutMs;
  c.raft.heartbeat_interval_ms = kHeartbeatMs;
  c.raft.replication = opt_.replication;
  c.raft.snapshot_threshold_entries = opt_.snapshot_threshold_entries;
  c.raft.snapshot_trailing_entries = opt_.snapshot_trailing_entries;
  c.raft.session_wait_ms = 200;
  c.raft.follower_writes =
      forward_writes_ ? config::FollowerWrites::kForward : config::FollowerWrites::kRedirect;
  return c;
}

uint64_t Simulation::WallMs(const SimNode& n) const {
  // Unix-ish wall time: a fixed epoch, the node's offset, and its drifting rate.
  auto local = static_cast<int64_t>(static_cast<double>(now_us_) * n.rate / 1000.0);
  return static_cast<uint64_t>(int64_t{1'700'000'000'000} + n.wall_offset_ms + local);
}

void Simulation::StartNode(SimNode& n) {
  ++n.incarnation;
  n.up = true;
  n.committed_checked = 0;
  n.metrics = std::make_unique<admin::Metrics>();
  n.queue = std::make_unique<SimQueue>(this, &n, n.incarnation);
  node::NodeRuntime::Hooks hooks;
  SimNode* np = &n;
  uint64_t inc = n.incarnation;
  hooks.post = [this, np, inc](std::function<void()> fn) {
    Post([this, np, inc, fn = std::move(fn)] {
      if (np->incarnation != inc || !np->up) return;
      fn();
      AfterEvent(np);
    });
  };
  hooks.deliver = [this, np](const topology::ClientRef& ref, wire::Response resp) {
    uint64_t node = np->id;
    uint64_t delay = rng_.Range(50, 300);
    At(now_us_ + delay, [this, node, ref, resp = std::move(resp)]() mutable {
      ClientResponse(node, ref, std::move(resp));
    });
  };
  hooks.send = [this, np](uint64_t to, std::string bytes) {
    SendPeer(np->id, to, std::move(bytes));
  };
  hooks.fatal = [this, np](const Status& s) {
    Fail(fmt::format("node {} stopped: {}", np->id, s.ToString()));
  };
  n.runtime = std::make_unique<node::NodeRuntime>(n.config, n.engine.get(), n.queue.get(), &log_,
                                                  n.metrics.get(), std::move(hooks));
  Status s = n.runtime->Open(opt_.seed * 1000003 + n.id * 7919 + n.incarnation);
  if (!s.ok()) {
    Fail(fmt::format("node {} cannot restart: {}", n.id, s.ToString()));
    n.up = false;
    return;
  }
  Trace(fmt::format("node {} starts (incarnation {})", n.id, n.incarnation));
  ScheduleTick(n);
}

void Simulation::CrashNode(SimNode& n) {
  if (!n.up) return;
  Trace(fmt::format("node {} crashes", n.id));
  ++result_.crashes;
  result_.snapshots_installed += n.runtime->snapshots_installed();
  n.up = false;
  ++n.incarnation;  // invalidates every event of the old process
  n.runtime.reset();  // its queue's Stop() drops unwritten jobs
  n.queue.reset();
  n.engine->SimulateCrash();
}

void Simulation::ScheduleTick(SimNode& n) {
  auto interval = static_cast<uint64_t>(static_cast<double>(kTickUs) / n.rate);
  SimNode* np = &n;
  uint64_t inc = n.incarnation;
  At(now_us_ + interval, [this, np, inc] {
    if (np->incarnation != inc || !np->up) return;
    np->runtime->Tick(WallMs(*np), now_us_ / kUsPerMs);
    AfterEvent(np);
    ScheduleTick(*np);
  });
}

void Simulation::SendPeer(uint64_t from, uint64_t to, std::string bytes) {
  ++result_.messages;
  if (to < 1 || to > nodes_.size() || !LinkUp(from, to) || rng_.Chance(faults_.drop)) {
    ++result_.dropped;
    return;
  }
  int copies = rng_.Chance(faults_.duplicate) ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    uint64_t delay = rng_.Range(faults_.delay_min_us, faults_.delay_max_us);
    At(now_us_ + delay, [this, from, to, bytes] {
      SimNode& n = *nodes_[to - 1];
      if (!n.up || !LinkUp(from, to)) return;
      n.runtime->OnPeerMessage(from, bytes);
      AfterEvent(&n);
    });
  }
}

// ---------------------------------------------------------------------------------------
// Faults

void Simulation::FaultStep() {
  if (healing_) return;
  // One decision every 100 ms of simulated time.
  double p_part = faults_.partition_per_second / 10.0;
  double p_crash = faults_.crash_per_second / 10.0;
  if (rng_.Chance(p_part)) {
    ++result_.partitions;
    blocked_.clear();
    uint64_t n = nodes_.size();
    switch (rng_.Uniform(4)) {
      case 0: {  // isolate one node
        uint64_t victim = rng_.Range(1, n);
        for (uint64_t other = 1; other <= n; ++other) {
          if (other == victim) continue;
          blocked_.insert({victim, other});
          blocked_.insert({other, victim});
        }
        Trace(fmt::format("partition: node {} isolated", victim));
        break;
      }
      case 1: {  // split into two sides
        std::vector<bool> side(n + 1);
        for (uint64_t i = 1; i <= n; ++i) side[i] = rng_.Chance(0.5);
        for (uint64_t a = 1; a <= n; ++a) {
          for (uint64_t b = 1; b <= n; ++b) {
            if (side[a] != side[b]) blocked_.insert({a, b});
          }
        }
        Trace("partition: random split");
        break;
      }
      case 2: {  // one-way: a node can send but not receive (or the reverse)
        uint64_t victim = rng_.Range(1, n);
        bool inbound = rng_.Chance(0.5);
        for (uint64_t other = 1; other <= n; ++other) {
          if (other == victim) continue;
          if (inbound) {
            blocked_.insert({other, victim});
          } else {
            blocked_.insert({victim, other});
          }
        }
        Trace(fmt::format("partition: node {} one-way ({})", victim,
                          inbound ? "cannot receive" : "cannot send"));
        break;
      }
      default:
        Trace("partition healed");
        break;
    }
  }
  if (rng_.Chance(p_crash)) {
    SimNode& victim = *nodes_[rng_.Uniform(nodes_.size())];
    if (victim.up) {
      CrashNode(victim);
      uint64_t down_us = rng_.Range(100, 3000) * kUsPerMs;
      SimNode* vp = &victim;
      At(now_us_ + down_us, [this, vp] {
        if (!vp->up) StartNode(*vp);
      });
    }
  }
  At(now_us_ + 100 * kUsPerMs, [this] { FaultStep(); });
}

void Simulation::Heal() {
  healing_ = true;
  blocked_.clear();
  faults_.drop = 0;
  faults_.duplicate = 0;
  for (auto& n : nodes_) {
    if (!n->up) StartNode(*n);
  }
  Trace("heal: every link up, every node running, no more faults");
}

// ---------------------------------------------------------------------------------------
// Clients

void Simulation::ClientNext(SimClient& c) {
  if (clients_stop_) return;
  std::string key = fmt::format("k{}", rng_.Uniform(opt_.keys));
  wire::Request req;
  check::KvInput in;
  in.key = key;
  uint64_t roll = rng_.Uniform(100);
  std::string value = fmt::format("c{}-{}", c.index, c.ops_started);
  uint64_t expected = c.last_version.count(key) ? c.last_version[key] : 0;
  if (rng_.Chance(0.2)) expected = rng_.Uniform(8);
  if (roll < 40) {
    in.kind = check::OpKind::kGet;
    req.body = wire::GetRequest{key};
    req.options.consistency = wire::Consistency::kLinearizable;
  } else if (roll < 65) {
    in.kind = check::OpKind::kPut;
    in.value = value;
    req.body = wire::PutRequest{key, value, 0};
  } else if (roll < 80) {
    in.kind = check::OpKind::kCasPut;
    in.value = value;
    in.expected_version = expected;
    req.body = wire::CasRequest{wire::CasKind::kPutIfVersion, key, expected, value, 0};
  } else if (roll < 85) {
    in.kind = check::OpKind::kPutIfAbsent;
    in.value = value;
    req.body = wire::CasRequest{wire::CasKind::kPutIfAbsent, key, 0, value, 0};
  } else if (roll < 95) {
    in.kind = check::OpKind::kDelete;
    req.body = wire::DeleteRequest{key};
  } else {
    in.kind = check::OpKind::kCasDelete;
    in.expected_version = expected;
    req.body = wire::CasRequest{wire::CasKind::kDeleteIfVersion, key, expected, {}, 0};
  }
  if (in.kind != check::OpKind::kGet) {
    req.options.client_id = c.client_id;
    req.options.sequence = ++c.sequence;
  }
  ++c.ops_started;
  check::Operation op;
  op.client_id = c.index;
  op.call_time = now_us_;
  op.input = in;
  history_.push_back(op);
  PendingOp p;
  p.history_index = history_.size() - 1;
  p.request = std::move(req);
  p.first_call_us = now_us_;
  c.op = std::move(p);
  ClientSend(c);
}

void Simulation::ClientSend(SimClient& c) {
  PendingOp& p = *c.op;
  p.attempt = next_request_id_++;
  p.request.request_id = p.attempt;
  ++p.attempts;
  uint64_t node_id = c.target;
  uint32_t client = c.index;
  uint64_t attempt = p.attempt;
  wire::Request req = p.request;
  uint64_t delay = rng_.Range(50, 300);
  At(now_us_ + delay, [this, node_id, client, req = std::move(req)]() mutable {
    SimNode& n = *nodes_[node_id - 1];
    if (!n.up) return;  // lost: the attempt times out
    topology::ClientRequest cr;
    cr.ref.connection_id = client + 1;
    cr.ref.request_id = req.request_id;
    cr.arrival_ms = WallMs(n);
    cr.request = std::move(req);
    n.runtime->Submit(std::move(cr));
    AfterEvent(&n);
  });
  At(now_us_ + kAttemptTimeoutUs, [this, client, attempt] { ClientAttemptTimeout(client, attempt); });
}

void Simulation::ClientRetry(SimClient& c, uint64_t delay_us, bool maybe_applied) {
  PendingOp& p = *c.op;
  if (maybe_applied) p.maybe_applied = true;
  if (now_us_ + delay_us >= p.first_call_us + kOpDeadlineUs) {
    // Give up: a write that may have happened is indeterminate; a read simply failed.
    if (p.maybe_applied) {
      ClientFinish(c, check::KvOutput{check::OutStatus::kUnknown, {}, 0, false}, false);
    } else {
      ++result_.ops_failed;
      history_[p.history_index].output.status = check::OutStatus::kUnknown;
      history_[p.history_index].return_time = check::kNeverReturned;
      c.op.reset();
      uint32_t client = c.index;
      At(now_us_ + rng_.Range(1, 20) * kUsPerMs, [this, client] { ClientNext(clients_[client]); });
    }
    return;
  }
  uint32_t client = c.index;
  uint64_t attempt = p.attempt;
  p.attempt = 0;  // answers to the old attempt are ignored from now on
  At(now_us_ + delay_us, [this, client, attempt] {
    SimClient& cl = clients_[client];
    if (!cl.op || cl.op->attempt != 0) return;
    (void)attempt;
    ClientSend(cl);
  });
}

void Simulation::ClientAttemptTimeout(uint32_t client, uint64_t attempt) {
  SimClient& c = clients_[client];
  if (!c.op || c.op->attempt != attempt) return;
  // No answer: try another node. A write may or may not have been applied.
  bool write = history_[c.op->history_index].input.kind != check::OpKind::kGet;
  c.target = rng_.Range(1, nodes_.size());
  ClientRetry(c, 0, write);
}

void Simulation::ClientResponse(uint64_t node, const topology::ClientRef& ref,
                                wire::Response resp) {
  if (ref.connection_id == 0 || ref.connection_id > clients_.size()) return;
  SimClient& c = clients_[ref.connection_id - 1];
  if (!c.op || c.op->attempt != ref.request_id) return;  // a late answer to an old attempt
  const check::KvInput& in = history_[c.op->history_index].input;
  bool write = in.kind != check::OpKind::kGet;
  switch (resp.status) {
    case Code::kNotLeader: {
      // Never proposed here: follow the hint, or try another node.
      uint64_t hinted = 0;
      const std::string& hint = resp.detail.leader_hint;
      size_t colon = hint.rfind(':');
      if (colon != std::string::npos) {
        uint64_t port = std::strtoull(hint.c_str() + colon + 1, nullptr, 10);
        if (port > kClientPortBase && port <= kClientPortBase + nodes_.size()) {
          hinted = port - kClientPortBase;
        }
      }
      c.target = hinted != 0 && hinted != node ? hinted : rng_.Range(1, nodes_.size());
      ClientRetry(c, rng_.Range(1, 30) * kUsPerMs, false);
      return;
    }
    case Code::kUnavailable:
    case Code::kTimeout:
      ClientRetry(c, rng_.Range(5, 50) * kUsPerMs, write);
      return;
    default: break;
  }
  check::KvOutput out;
  if (resp.status == Code::kNotFound) {
    out.status = check::OutStatus::kNotFound;
  } else if (resp.status == Code::kConflict) {
    out.status = check::OutStatus::kConflict;
    out.version = resp.detail.current_version;
    c.last_version[in.key] = out.version;
  } else if (resp.status == Code::kOk) {
    out.status = check::OutStatus::kOk;
    if (auto* g = std::get_if<wire::GetResponse>(&resp.body)) {
      out.value = g->value;
      out.version = g->version;
      c.last_version[in.key] = g->version;
    } else if (auto* p = std::get_if<wire::PutResponse>(&resp.body)) {
      out.version = p->version;
      c.last_version[in.key] = p->version;
    } else if (auto* d = std::get_if<wire::DeleteResponse>(&resp.body)) {
      out.existed = d->existed;
      c.last_version[in.key] = 0;
    } else if (auto* cas = std::get_if<wire::CasResponse>(&resp.body)) {
      out.version = cas->version;
      c.last_version[in.key] = cas->version;
    }
  } else {
    Fail(fmt::format("client {} got an unexpected answer from node {}: {} {}", c.index, node,
                     CodeName(resp.status), resp.message));
    out.status = check::OutStatus::kUnknown;
    ClientFinish(c, out, false);
    return;
  }
  ClientFinish(c, out, true);
}

void Simulation::ClientFinish(SimClient& c, check::KvOutput output, bool returned) {
  check::Operation& op = history_[c.op->history_index];
  op.output = std::move(output);
  op.return_time = returned ? now_us_ : check::kNeverReturned;
  if (!returned) op.output.status = check::OutStatus::kUnknown;
  if (returned) {
    ++result_.ops_ok;
  } else {
    ++result_.ops_unknown;
  }
  c.op.reset();
  uint32_t client = c.index;
  At(now_us_ + rng_.Range(0, 20) * kUsPerMs, [this, client] { ClientNext(clients_[client]); });
}

// ---------------------------------------------------------------------------------------
// Checks

void Simulation::AfterEvent(SimNode* n) {
  ++result_.events;
  if (n == nullptr || !n->up || !n->runtime) return;
  raft::RaftNode* core = n->core();
  const raft::Raft& r = core->raft();
  r.CheckInvariants();
  result_.max_term = std::max(result_.max_term, r.term());
  if (r.role() == raft::Role::kLeader) {
    auto [it, inserted] = leader_of_term_.emplace(r.term(), n->id);
    if (inserted) {
      ++result_.leaders_elected;
      Trace(fmt::format("node {} is leader of term {}", n->id, r.term()));
    } else if (it->second != n->id) {
      Fail(fmt::format("election safety: nodes {} and {} are both leaders of term {}",
                       it->second, n->id, r.term()));
    }
  }
  if (safe_mode_) CheckCommitted(*n);
}

void Simulation::CheckCommitted(SimNode& n) {
  // Raft's State Machine Safety: an entry committed at an index is the entry every node
  // commits at that index, forever.
  const raft::Raft& r = n.core()->raft();
  uint64_t from = std::max(n.committed_checked + 1, r.first_index());
  for (uint64_t i = from; i <= r.commit(); ++i) {
    const raft::Entry* e = r.EntryAt(i);
    if (e == nullptr) continue;
    uint64_t digest = std::hash<std::string>()(e->data) * 31 + static_cast<uint64_t>(e->type);
    auto [it, inserted] = committed_.emplace(i, std::make_pair(e->term, digest));
    if (!inserted && it->second != std::make_pair(e->term, digest)) {
      Fail(fmt::format("committed entries disagree at index {}: node {} has term {}, another "
                       "node committed term {}",
                       i, n.id, e->term, it->second.first));
    }
  }
  n.committed_checked = std::max(n.committed_checked, r.commit());
}

std::string Simulation::StateMachineDigest(SimNode& n, uint64_t* applied) {
  *applied = n.runtime->applied_index();
  std::unique_ptr<storage::Iterator> it = n.engine->NewIterator();
  uint64_t h = 1469598103934665603ULL;
  uint64_t count = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string_view k = it->key();
    if (k.empty() || k[0] == 'r' || k == node::kAppliedKey) continue;
    for (char ch : k) h = (h ^ static_cast<uint8_t>(ch)) * 1099511628211ULL;
    for (char ch : it->value()) h = (h ^ static_cast<uint8_t>(ch)) * 1099511628211ULL;
    ++count;
  }
  return fmt::format("{:016x}/{}", h, count);
}

bool Simulation::Converged(std::string* why) {
  for (const SimClient& c : clients_) {
    if (c.op) {
      *why = fmt::format("client {} still has an operation in flight", c.index);
      return false;
    }
  }
  const raft::RaftNode* leader = nullptr;
  for (auto& n : nodes_) {
    if (n->up && n->core()->raft().role() == raft::Role::kLeader) leader = n->core();
  }
  if (leader == nullptr) {
    *why = "no leader";
    return false;
  }
  uint64_t last = leader->raft().last_index();
  std::string digest0;
  for (auto& n : nodes_) {
    const raft::Raft& r = n->core()->raft();
    if (r.applied() != last || r.last_index() != last || n->runtime->groups_in_flight() != 0) {
      *why = fmt::format(
          "node {} applied {} last {} writes in flight {}; the leader's last is {}; its "
          "status: {}",
          n->id, r.applied(), r.last_index(), n->runtime->groups_in_flight(), last,
          n->runtime->StatusJson(0, 0));
      return false;
    }
    uint64_t applied = 0;
    std::string d = StateMachineDigest(*n, &applied);
    if (digest0.empty()) {
      digest0 = d;
    } else if (d != digest0) {
      *why = fmt::format("node {} state {} differs from {}", n->id, d, digest0);
      return false;
    }
  }
  return true;
}

void Simulation::BuildHistoryJson() {
  std::string j = "[";
  for (size_t i = 0; i < history_.size(); ++i) {
    const check::Operation& op = history_[i];
    j += fmt::format(
        "{}{{\"client\":{},\"call_us\":{},\"return_us\":{},\"kind\":{},\"key\":\"{}\","
        "\"value\":\"{}\",\"expected\":{},\"status\":{},\"out_value\":\"{}\",\"version\":{},"
        "\"existed\":{}}}",
        i == 0 ? "" : ",\n", op.client_id, op.call_time,
        op.return_time == check::kNeverReturned ? -1 : static_cast<int64_t>(op.return_time),
        static_cast<int>(op.input.kind), op.input.key, op.input.value,
        op.input.expected_version, static_cast<int>(op.output.status), op.output.value,
        op.output.version, op.output.existed ? "true" : "false");
  }
  result_.history_json = j + "]";
}

void Simulation::FinalChecks() {
  result_.committed_entries = committed_.size();
  Status valid = check::ValidateKvHistory(history_);
  if (!valid.ok()) {
    Fail(fmt::format("the recorded history is malformed: {}", valid.ToString()));
    return;
  }
  check::CheckOptions co;
  co.max_steps = opt_.check_steps;
  check::CheckResult cr = check::CheckKvHistory(history_, co);
  result_.linearizable = cr.verdict;
  if (cr.verdict != check::Verdict::kOk) result_.history_description = cr.description;
  if (cr.verdict == check::Verdict::kIllegal && safe_mode_) {
    Fail(fmt::format("the history is not linearizable (key {}):\n{}", cr.partition,
                     cr.description));
  }
}

SimResult Simulation::Run() {
  safe_mode_ = opt_.replication == config::Replication::kQuorum ||
               opt_.replication == config::Replication::kSync ||
               (opt_.replication == config::Replication::kSemiSync && opt_.nodes <= 3);
  DrawFaults();
  // Drawn from the seed apart from the run's stream, so that adding this option did not
  // change what the seeds kept in tests/sim/regressions replay.
  forward_writes_ = ((opt_.seed * 0x9E3779B97F4A7C15ULL) >> 63) != 0;
  for (uint64_t id = 1; id <= opt_.nodes; ++id) {
    auto n = std::make_unique<SimNode>();
    n->id = id;
    n->config = NodeConfig(id);
    n->engine = std::make_unique<storage::MemoryEngine>();
    if (opt_.faults) {
      n->rate = 1.0 + (rng_.Real() - 0.5) * 0.1;  // +-5 %
      n->wall_offset_ms = static_cast<int64_t>(rng_.Uniform(1000)) - 500;
    }
    nodes_.push_back(std::move(n));
  }
  for (auto& n : nodes_) StartNode(*n);
  for (uint32_t i = 0; i < opt_.clients; ++i) {
    SimClient c;
    c.index = i;
    c.client_id = rng_.Next() | 1;
    c.target = rng_.Range(1, opt_.nodes);
    clients_.push_back(c);
  }
  for (uint32_t i = 0; i < opt_.clients; ++i) {
    At(rng_.Range(0, 50) * kUsPerMs, [this, i] { ClientNext(clients_[i]); });
  }
  if (opt_.faults) At(100 * kUsPerMs, [this] { FaultStep(); });
  uint64_t safety_end = opt_.safety_ms * kUsPerMs;
  At(safety_end, [this] { Heal(); });
  // Clients stop starting operations a while after healing, so the last ones finish.
  At(safety_end + 1000 * kUsPerMs, [this] { clients_stop_ = true; });
  uint64_t deadline = safety_end + opt_.convergence_ms * kUsPerMs;
  std::string why = "not checked";
  bool converged = false;
  uint64_t next_convergence_check = safety_end + 1000 * kUsPerMs;
  while (!events_.empty() && result_.ok) {
    Event e = events_.top();
    events_.pop();
    now_us_ = e.time_us;
    if (now_us_ > deadline) break;
    if (result_.events > kMaxEventsPerRun) {
      Fail(fmt::format("runaway: more than {} events (a livelock: messages or work without "
                       "progress)",
                       kMaxEventsPerRun));
      break;
    }
    e.fn();
    if (now_us_ >= next_convergence_check) {
      next_convergence_check = now_us_ + 50 * kUsPerMs;
      if (Converged(&why)) {
        converged = true;
        break;
      }
    }
  }
  if (result_.ok && !converged) {
    Fail(fmt::format("no convergence within {} ms after healing: {}", opt_.convergence_ms, why));
  }
  for (auto& n : nodes_) {
    if (n->runtime) result_.snapshots_installed += n->runtime->snapshots_installed();
  }
  if (result_.ok) FinalChecks();
  BuildHistoryJson();
  // Stop every node before the engines go away (the queues hold pointers into them).
  for (auto& n : nodes_) {
    n->up = false;
    ++n->incarnation;
    n->runtime.reset();
    n->queue.reset();
  }
  return result_;
}

}  // namespace

std::string SimResult::Summary(const SimOptions& options) const {
  return fmt::format(
      "seed={:#x} mode={} nodes={} {} events={} ops ok/unknown/failed={}/{}/{} "
      "messages={} dropped={} crashes={} partitions={} leaders={} max_term={} "
      "committed={} snapshots={} linearizable={}",
      options.seed, config::ReplicationName(options.replication), options.nodes,
      ok ? "ok" : "FAILED", events, ops_ok, ops_unknown, ops_failed, messages, dropped,
      crashes, partitions, leaders_elected, max_term, committed_entries, snapshots_installed,
      check::VerdictName(linearizable));
}

std::string ReplayCommand(const SimOptions& options) {
  return fmt::format("kvd_sim --mode={} --nodes={} --seed={:#x}{}",
                     config::ReplicationName(options.replication), options.nodes,
                     options.seed, options.faults ? "" : " --no-faults");
}

SimResult RunSimulation(const SimOptions& options) {
  Simulation sim(options);
  return sim.Run();
}

}  // namespace kvd::sim
