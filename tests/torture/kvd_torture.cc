// kvd-torture: Jepsen-style fault injection against a real kvd cluster, with a verdict.
//
// One run: make the hosts (hosts.h: a network namespace per node as root, else loopback),
// start the cluster from a config template (cluster.h), run client threads against it
// while a nemesis injects faults scheduled from the seed, then heal everything, let the
// cluster settle, read back what the checks need, check the recorded history against
// what the topology and its mode promise (docs/OPERATIONS.md; the table is in
// docs/RELIABILITY.md), and write the report (report.h). Exit status 0 only when every
// checked guarantee holds (anomalies a mode allows are reported and do not fail the run);
// 1 when one does not; 2 for bad arguments; 3 when the run itself could not be carried
// out (a node would not start, hosts could not be made).
//
// Workloads (all keys are fresh per run):
//   * registers "r/<k>": reads, writes of unique values, and (where the topology has CAS)
//     compare-and-set on the version a client last read; checked for linearizability with
//     the simulator's checker (tests/sim/check) where the mode promises it, otherwise for
//     convergence after heal;
//   * unique writes "w/<client>/<n>": every acknowledged one must be readable after heal
//     (lost acknowledged writes);
//   * counters "count/c<k>" (multi_leader): after heal every node's value lies between the
//     acknowledged increments and those plus the indeterminate ones;
//   * bank accounts "bank/a<i>" (single, leader_follower: atomic BATCH): transfers read two
//     balances and write both in one BATCH that checks their versions; every read of all
//     accounts in one BATCH, and the final one, must sum to the opening total.
//
// Thread-safety: main thread, one thread per client, one nemesis thread.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/program_options.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "client/lib/client.h"
#include "common/rng.h"
#include "tests/sim/check/linearizability.h"
#include "tests/torture/cluster.h"
#include "tests/torture/hosts.h"
#include "tests/torture/report.h"

namespace kvd::torture {
namespace {

namespace po = boost::program_options;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Set by SIGINT/SIGTERM: the run stops injecting faults, heals, checks what it has and
// reports (so an interrupted soak still removes its namespaces and says what it saw).
std::atomic<bool> g_interrupted{false};
extern "C" void OnInterrupt(int) { g_interrupted.store(true); }

constexpr int kExitInvalid = 1;
constexpr int kExitUsage = 2;
constexpr int kExitRunFailed = 3;

struct Options {
  std::string topology;
  std::string config;
  std::vector<std::string> sets;
  double duration_s = 60;
  uint64_t seed = 0;
  bool seed_given = false;
  size_t clients = 8;
  size_t keys = 8;
  uint32_t think_ms = 0;
  std::string nemesis = "all";
  double fault_interval_s = 4;
  std::string hosts = "auto";
  std::string out;
  std::string kvd = KVD_BIN;
  double settle_s = 10;
  uint32_t request_timeout_ms = 2000;
  bool keep = false;
  bool quiet = false;
};

// ---------------------------------------------------------------------------------------
// The history.

enum class Kind : uint8_t { kRead, kWrite, kCas, kUniqueWrite, kIncr, kBankRead, kTransfer };

constexpr size_t kAccounts = 5;
constexpr int64_t kInitialBalance = 100;
std::string Account(size_t i) { return fmt::format("bank/a{}", i); }

struct Op {
  Kind kind = Kind::kRead;
  uint32_t client = 0;
  std::string key;
  std::string value;         // written (kWrite, kCas, kUniqueWrite) or read (kRead ok)
  uint64_t expected = 0;     // kCas
  int64_t amount = 0;        // kIncr
  uint64_t call_us = 0;
  uint64_t return_us = 0;
  Outcome outcome = Outcome::kOk;
  bool found = false;        // kRead ok: the key existed
  uint64_t version = 0;      // kRead/kWrite/kCas ok: the version; kCas conflict: current
  bool conflict = false;     // kCas: the condition did not hold (a definite answer)
  std::string error;
  std::vector<int64_t> balances;  // kBankRead ok: every account, in order
};

std::string KindName(Kind k) {
  switch (k) {
    case Kind::kRead: return "read";
    case Kind::kWrite: return "write";
    case Kind::kCas: return "cas";
    case Kind::kUniqueWrite: return "unique-write";
    case Kind::kIncr: return "incr";
    case Kind::kBankRead: return "bank-read";
    case Kind::kTransfer: return "transfer";
  }
  return "?";
}

std::string Describe(const Op& op) {
  std::string s = fmt::format("[{:.3f}s .. {}] client {} {} {}", static_cast<double>(op.call_us) / 1e6,
                              op.outcome == Outcome::kIndeterminate
                                  ? std::string("?")
                                  : fmt::format("{:.3f}s", static_cast<double>(op.return_us) / 1e6),
                              op.client, KindName(op.kind), op.key);
  switch (op.kind) {
    case Kind::kRead:
      s += op.outcome != Outcome::kOk ? "" : op.found ? fmt::format(" -> {} (v{})", op.value, op.version) : " -> not found";
      break;
    case Kind::kWrite:
    case Kind::kUniqueWrite: s += fmt::format(" {}", op.value); break;
    case Kind::kCas: s += fmt::format(" {} if v{}{}", op.value, op.expected, op.conflict ? " -> conflict" : ""); break;
    case Kind::kIncr: s += fmt::format(" +{}", op.amount); break;
    case Kind::kBankRead:
      if (op.outcome == Outcome::kOk) s += fmt::format(" -> [{}]", fmt::join(op.balances, ", "));
      break;
    case Kind::kTransfer: s += " " + op.value; break;
  }
  s += fmt::format(" : {}", OutcomeName(op.outcome));
  if (!op.error.empty()) s += " (" + op.error + ")";
  return s;
}

// What the topology and its mode promise (docs/OPERATIONS.md).
struct Promises {
  bool cas = false;             // the topology offers CAS
  bool batches = false;         // atomic BATCH (bank transfers)
  bool linearizable = false;    // registers are linearizable
  bool durable_acks = true;     // an acknowledged write survives the faults injected
  bool counters = false;        // multi_leader counters
  bool convergence = false;     // replicas agree after heal (multi_leader, dynamo)
  std::string mode;             // what the verdicts cite
  std::string why_not_linearizable;
  std::string why_acks_may_be_lost;
};

Promises PromisesFor(const Cluster& c) {
  Promises p;
  const std::string mode = c.mode();
  if (mode == "single") {
    const std::string d = c.Field("storage.durability");
    p.cas = true;
    p.batches = true;
    p.linearizable = true;
    p.durable_acks = d.empty() || d == "always";
    p.mode = "durability " + (d.empty() ? std::string("always") : d);
    if (!p.durable_acks) p.why_acks_may_be_lost = "storage.durability " + d + " acknowledges before fsync";
  } else if (mode == "leader_follower") {
    std::string r = c.Field("raft.replication");
    if (r.empty()) r = "quorum";
    std::string reads = c.Field("raft.default_read");
    if (reads.empty()) reads = "linearizable";
    p.cas = true;
    p.batches = true;
    p.mode = "replication " + r + ", reads " + reads;
    p.durable_acks = r == "quorum" || r == "sync" || (r == "semi_sync" && c.size() <= 3);
    if (!p.durable_acks) {
      p.why_acks_may_be_lost = "replication " + r + " acknowledges before a majority has the write";
    }
    p.linearizable = p.durable_acks && reads == "linearizable";
    if (!p.linearizable) {
      p.why_not_linearizable = !p.durable_acks ? p.why_acks_may_be_lost
                                               : "raft.default_read " + reads + " may serve stale reads";
    }
  } else if (mode == "multi_leader") {
    p.counters = true;
    p.convergence = true;
    p.mode = "propagation " + (c.Field("multi_leader.propagation").empty()
                                   ? std::string("all_to_all")
                                   : c.Field("multi_leader.propagation"));
    p.why_not_linearizable = "multi_leader replicates asynchronously (last write wins)";
  } else if (mode == "dynamo") {
    p.convergence = true;
    const std::string sloppy = c.Field("dynamo.sloppy_quorum");
    p.mode = fmt::format("N={} R={} W={} sloppy_quorum {}", c.Field("dynamo.replicas"),
                         c.Field("dynamo.read_quorum"), c.Field("dynamo.write_quorum"),
                         sloppy.empty() ? "true" : sloppy);
    p.why_not_linearizable = "dynamo is leaderless with last write wins";
  }
  return p;
}

// ---------------------------------------------------------------------------------------
// The run.

class Run {
 public:
  Run(Options o, Cluster* cluster, Hosts* hosts)
      : o_(std::move(o)), cluster_(cluster), hosts_(hosts), promises_(PromisesFor(*cluster)) {}
  int Go();

 private:
  uint64_t NowUs() const {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start_).count());
  }
  double NowS() const { return static_cast<double>(NowUs()) / 1e6; }
  void Log(const std::string& line) {
    if (o_.quiet) return;
    std::lock_guard<std::mutex> lock(log_mu_);
    std::fprintf(stderr, "[%8.3f] %s\n", NowS(), line.c_str());
  }
  std::unique_ptr<client::Client> ClientFor(size_t home, bool follow = true) const;
  void ClientLoop(uint32_t id);
  void Nemesis();
  void HealAll();
  // leader_follower: removes node i from the configuration, wipes it, starts it empty with
  // cluster.join and adds it back as a learner, then promotes it, retrying each step (a
  // change is refused while another is uncommitted, or without a leader). `from_step`
  // resumes a change that did not finish. Returns the step it reached (4: done).
  int ChangeMembership(size_t i, int from_step, std::chrono::milliseconds per_step, std::string* error);
  Status Admin(wire::AdminAction action, size_t node, std::chrono::milliseconds deadline);
  // dynamo: waits until no ring change is under way and node i is (present) or is not a
  // normal member of the ring, as another node sees it.
  Status WaitRing(size_t i, bool present, std::chrono::milliseconds deadline);
  // Post-run reads and checks.
  void FinalReads();
  void CheckLinearizable(Report* r);
  void CheckLostWrites(Report* r);
  void CheckCounters(Report* r);
  void CheckConvergence(Report* r);
  void CheckBank(Report* r);
  Status OpenAccounts();
  // One bank operation through `client`: a read of every account, or a transfer (read two
  // accounts, then a BATCH that checks both versions and writes both).
  void BankOp(client::Client& client, Rng& rng, Op* op);
  void AddFault(FaultSpan f) {
    std::lock_guard<std::mutex> lock(fault_mu_);
    faults_.push_back(std::move(f));
  }

  Options o_;
  Cluster* cluster_;
  Hosts* hosts_;
  Promises promises_;
  Clock::time_point start_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> stop_nemesis_{false};
  std::mutex log_mu_;
  std::mutex history_mu_;
  std::vector<Op> history_;
  std::mutex fault_mu_;
  std::vector<FaultSpan> faults_;
  std::mutex errors_mu_;
  std::vector<std::string> run_errors_;  // guarded by errors_mu_
  void RunError(std::string e) {
    std::lock_guard<std::mutex> lock(errors_mu_);
    run_errors_.push_back(std::move(e));
  }
  // Final reads: unique key -> found; counters: node -> key -> value; registers: node -> key -> value.
  std::map<std::string, std::optional<std::string>> final_unique_;
  std::map<size_t, std::map<std::string, int64_t>> final_counters_;
  std::map<size_t, std::map<std::string, std::string>> final_registers_;
  std::vector<std::string> final_errors_;
  std::optional<std::vector<int64_t>> final_balances_;
  // A membership change the nemesis could not finish: (node, step reached).
  std::optional<std::pair<size_t, int>> member_unfinished_;
};

Status Run::Admin(wire::AdminAction action, size_t node, std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  Status last;
  while (Clock::now() < until) {
    auto client = ClientFor((node + 1) % cluster_->size());
    wire::AdminRequest a;
    a.action = action;
    a.node_id = node + 1;
    if (action == wire::AdminAction::kAddLearner) {
      a.client_address = cluster_->endpoint(node);
      a.peer_address = cluster_->peer_endpoint(node);
    }
    wire::Request req;
    req.body = a;
    auto r = client->Call(std::move(req));
    if (r.ok() && r.value().ok()) return Status::Ok();
    last = r.ok() ? r.value().ToStatus() : r.status();
    // An earlier attempt whose answer was lost may have done it already: the refusal
    // names the membership as it is (e.g. "node 1 is not a member (voters=[2,3] ...)").
    if (r.ok() && r.value().status == Code::kInvalidArgument) {
      const std::string& m = r.value().message;
      const std::string id = std::to_string(node + 1);
      const size_t v = m.find("voters=[");
      std::string voters = v == std::string::npos ? "" : "," + m.substr(v + 8, m.find(']', v) - v - 8) + ",";
      const bool voter = voters.find("," + id + ",") != std::string::npos;
      if (action == wire::AdminAction::kRemoveMember && (m.find("is not a member") != std::string::npos ||
                                                         m.find("is not in the ring") != std::string::npos)) {
        return Status::Ok();
      }
      if (action == wire::AdminAction::kAddLearner && (m.find("is already a member") != std::string::npos ||
                                                       m.find("is already in the ring") != std::string::npos)) {
        return Status::Ok();
      }
      if (action == wire::AdminAction::kPromoteLearner && voter) return Status::Ok();
    }
    std::this_thread::sleep_for(300ms);
  }
  return Status::Timeout(fmt::format("ADMIN {} node {}: {}", wire::AdminActionName(action), node + 1, last.ToString()));
}

Status Run::WaitRing(size_t i, bool present, std::chrono::milliseconds deadline) {
  // Asks a node other than i until no ring change is under way and i is (not) a normal member.
  const auto until = Clock::now() + deadline;
  std::string last;
  while (Clock::now() < until) {
    const size_t via = (i + 1 + static_cast<size_t>(Clock::now().time_since_epoch().count() % 2)) % cluster_->size();
    auto client = ClientFor(via, false);
    auto st = client->StatusJson();
    if (st.ok()) {
      try {
        const nlohmann::json doc = nlohmann::json::parse(st.value());
        const nlohmann::json& d = doc.at("dynamo");
        bool normal = false;
        for (const nlohmann::json& m : d.at("members")) {
          if (m.at("id").get<uint64_t>() == i + 1 && m.at("role").get<std::string>() == "normal") normal = true;
        }
        if (d.value("ring_transition", uint64_t{1}) == 0 && normal == present) return Status::Ok();
        last = fmt::format("node {}: ring_transition {}, node {} {}", via + 1, d.value("ring_transition", uint64_t{0}),
                           i + 1, normal ? "normal" : "not normal");
      } catch (const std::exception& e) {
        last = std::string("STATUS did not parse: ") + e.what();
      }
    } else {
      last = st.status().ToString();
    }
    std::this_thread::sleep_for(250ms);
  }
  return Status::Timeout(fmt::format("waiting for node {} to {} the ring: {}", i + 1, present ? "join" : "leave", last));
}

int Run::ChangeMembership(size_t i, int step, std::chrono::milliseconds per_step, std::string* error) {
  const bool dynamo = cluster_->mode() == "dynamo";
  for (; step < 4; ++step) {
    Status s;
    switch (step) {
      case 0:
        // leader_follower: out of the configuration. dynamo: decommissioned (its ranges
        // streamed to their new replicas), which takes the ring change to finish.
        s = Admin(wire::AdminAction::kRemoveMember, i, per_step);
        if (dynamo) {
          Status left = WaitRing(i, false, 6 * per_step);
          if (left.ok() || s.ok()) s = left;
        }
        break;
      case 1:
        cluster_->Kill(i);
        s = cluster_->Wipe(i);
        if (s.ok()) s = cluster_->StartJoining(i);
        break;
      case 2: s = Admin(wire::AdminAction::kAddLearner, i, per_step); break;
      case 3:
        s = dynamo ? WaitRing(i, true, 6 * per_step) : Admin(wire::AdminAction::kPromoteLearner, i, per_step);
        break;
    }
    if (!s.ok()) {
      *error = s.ToString();
      return step;
    }
    Log(fmt::format("nemesis: membership of node {}: step {} done", i + 1, step + 1));
  }
  return 4;
}

Status Run::OpenAccounts() {
  auto client = ClientFor(0);
  wire::BatchRequest batch;
  for (size_t i = 0; i < kAccounts; ++i) {
    batch.ops.push_back(wire::BatchOp{wire::BatchOpType::kPut, Account(i), 0,
                                      std::to_string(kInitialBalance), 0});
  }
  Status last;
  for (int attempt = 0; attempt < 20; ++attempt) {
    wire::Request req;
    req.body = batch;
    auto r = client->Call(std::move(req));
    if (r.ok() && r.value().ok()) return Status::Ok();
    last = r.ok() ? r.value().ToStatus() : r.status();
    std::this_thread::sleep_for(250ms);
  }
  return Status::Unavailable("opening the bank accounts: " + last.ToString());
}

// A balance as stored; nullopt if the account is missing or not a number (the bank check
// then reports the read).
std::optional<int64_t> Balance(const wire::BatchResult& r) {
  if (!r.found) return std::nullopt;
  try {
    size_t used = 0;
    const int64_t v = std::stoll(r.value, &used);
    if (used == r.value.size()) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

void Run::BankOp(client::Client& client, Rng& rng, Op* op) {
  // Linearizable reads, whatever raft.default_read says: the invariant is about the
  // committed state.
  auto call = [&](wire::BatchRequest b) {
    wire::Request req;
    req.body = std::move(b);
    req.options.consistency = wire::Consistency::kLinearizable;
    return client.Call(std::move(req));
  };
  auto failed = [&](const Result<wire::Response>& r, bool write) {
    const bool unknown = !r.ok() || r.value().status == Code::kUnavailable || r.value().status == Code::kTimeout ||
                         r.value().status == Code::kNotLeader;
    op->outcome = write && unknown ? Outcome::kIndeterminate : Outcome::kFailed;
    op->error = r.ok() ? r.value().ToStatus().ToString() : r.status().ToString();
  };
  op->key = "bank";
  if (op->kind == Kind::kBankRead) {
    wire::BatchRequest b;
    for (size_t i = 0; i < kAccounts; ++i) b.ops.push_back(wire::BatchOp{wire::BatchOpType::kGet, Account(i), 0, "", 0});
    op->call_us = NowUs();
    auto r = call(std::move(b));
    op->return_us = NowUs();
    if (!r.ok() || !r.value().ok()) return failed(r, false);
    for (const wire::BatchResult& res : std::get<wire::BatchResponse>(r.value().body).results) {
      const std::optional<int64_t> balance = Balance(res);
      if (!balance) op->error = fmt::format("an account is missing or not a number ('{}')", res.value);
      op->balances.push_back(balance.value_or(0));
    }
    op->outcome = Outcome::kOk;
    return;
  }
  const size_t from = rng.Uniform(kAccounts);
  const size_t to = (from + 1 + rng.Uniform(kAccounts - 1)) % kAccounts;
  const int64_t amount = 1 + static_cast<int64_t>(rng.Uniform(10));
  op->value = fmt::format("{} from a{} to a{}", amount, from, to);
  op->call_us = NowUs();
  wire::BatchRequest read;
  read.ops = {wire::BatchOp{wire::BatchOpType::kGet, Account(from), 0, "", 0},
              wire::BatchOp{wire::BatchOpType::kGet, Account(to), 0, "", 0}};
  auto r = call(std::move(read));
  if (!r.ok() || !r.value().ok()) {
    op->return_us = NowUs();
    return failed(r, false);  // nothing written yet
  }
  const auto& got = std::get<wire::BatchResponse>(r.value().body).results;
  const std::optional<int64_t> from_balance = Balance(got[0]), to_balance = Balance(got[1]);
  if (!from_balance || !to_balance) {  // reported by the reads of all accounts
    op->return_us = NowUs();
    op->outcome = Outcome::kFailed;
    op->error = "an account is missing or not a number";
    return;
  }
  wire::BatchRequest write;
  write.ops = {wire::BatchOp{wire::BatchOpType::kCheck, Account(from), got[0].version, "", 0},
               wire::BatchOp{wire::BatchOpType::kCheck, Account(to), got[1].version, "", 0},
               wire::BatchOp{wire::BatchOpType::kPut, Account(from), 0,
                             std::to_string(*from_balance - amount), 0},
               wire::BatchOp{wire::BatchOpType::kPut, Account(to), 0,
                             std::to_string(*to_balance + amount), 0}};
  auto w = call(std::move(write));
  op->return_us = NowUs();
  if (w.ok() && w.value().ok()) {
    op->outcome = Outcome::kOk;
  } else if (w.ok() && w.value().status == Code::kConflict) {
    op->outcome = Outcome::kOk;  // a definite answer: nothing changed
    op->conflict = true;
  } else {
    failed(w, true);
  }
}

std::unique_ptr<client::Client> Run::ClientFor(size_t home, bool follow) const {
  client::ClientOptions co;
  std::vector<std::string> eps = cluster_->endpoints();
  std::rotate(eps.begin(), eps.begin() + static_cast<std::ptrdiff_t>(home % eps.size()), eps.end());
  co.endpoints = eps;
  co.connect_timeout = 500ms;
  co.request_timeout = std::chrono::milliseconds(o_.request_timeout_ms);
  co.backoff_max = 200ms;
  co.follow_redirects = follow;
  co.client_name = "kvd-torture";
  return std::make_unique<client::Client>(co);
}

void Run::ClientLoop(uint32_t id) {
  Rng rng(o_.seed * 1000003 + id);
  auto client = ClientFor(id);
  // Reads go first to the client's home node alone, without redirects, so that a mode
  // that lets followers answer (raft.default_read follower, session, ...) is exercised;
  // a node that will not answer (NOT_LEADER, down) sends the read through `client`.
  std::unique_ptr<client::Client> reader;
  if (cluster_->size() > 1) {
    client::ClientOptions ro;
    ro.endpoints = {cluster_->endpoint(id % cluster_->size())};
    ro.connect_timeout = 300ms;
    ro.request_timeout = std::chrono::milliseconds(o_.request_timeout_ms);
    ro.follow_redirects = false;
    ro.client_name = "kvd-torture-reader";
    reader = std::make_unique<client::Client>(ro);
  }
  std::vector<Op> mine;
  std::map<std::string, uint64_t> last_version;  // per register key, from this client's reads
  uint64_t unique = 0;
  const std::string mode = cluster_->mode();
  while (!stop_.load()) {
    if (o_.think_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(rng.Uniform(2 * o_.think_ms + 1)));
    Op op;
    op.client = id;
    const double x = rng.Real();
    if (promises_.batches && x < 0.12) {
      op.kind = rng.Chance(0.5) ? Kind::kBankRead : Kind::kTransfer;
      BankOp(*client, rng, &op);
      mine.push_back(std::move(op));
      continue;
    }
    if (promises_.counters && x < 0.25) {
      op.kind = Kind::kIncr;
      op.key = fmt::format("count/c{}", rng.Uniform(4));
      op.amount = 1;
    } else if (x < 0.45) {
      op.kind = Kind::kUniqueWrite;
      op.key = fmt::format("w/{}/{}", id, unique++);
      op.value = "u";
    } else {
      op.key = fmt::format("r/{}", rng.Uniform(o_.keys));
      const double y = rng.Real();
      if (y < 0.5) {
        op.kind = Kind::kRead;
      } else if (promises_.cas && y < 0.7) {
        op.kind = Kind::kCas;
        op.expected = last_version.count(op.key) ? last_version[op.key] : 0;
        op.value = fmt::format("c{}-{}", id, mine.size());
      } else {
        op.kind = Kind::kWrite;
        op.value = fmt::format("v{}-{}", id, mine.size());
      }
    }
    wire::Request req;
    switch (op.kind) {
      case Kind::kRead: req.body = wire::GetRequest{op.key}; break;
      case Kind::kWrite:
      case Kind::kUniqueWrite: req.body = wire::PutRequest{op.key, op.value, 0}; break;
      case Kind::kCas: {
        wire::CasRequest cas;
        cas.kind = wire::CasKind::kPutIfVersion;
        cas.key = op.key;
        cas.expected_version = op.expected;
        cas.value = op.value;
        req.body = cas;
        break;
      }
      case Kind::kIncr: req.body = wire::IncrRequest{op.key, op.amount}; break;
      case Kind::kBankRead:
      case Kind::kTransfer: break;  // BankOp
    }
    op.call_us = NowUs();
    Result<wire::Response> r = Status::Unavailable("not sent");
    if (op.kind == Kind::kRead && reader != nullptr) {
      r = reader->Call(req);
      if (!r.ok() || r.value().status == Code::kNotLeader || r.value().status == Code::kUnavailable) {
        r = client->Call(std::move(req));
      }
    } else {
      r = client->Call(std::move(req));
    }
    op.return_us = NowUs();
    if (!r.ok()) {
      // No answer: a read had no effect; a write may or may not have happened.
      op.outcome = op.kind == Kind::kRead ? Outcome::kFailed : Outcome::kIndeterminate;
      op.error = r.status().ToString();
    } else if (r.value().ok()) {
      op.outcome = Outcome::kOk;
      if (auto* g = std::get_if<wire::GetResponse>(&r.value().body)) {
        op.found = true;
        op.value = g->value;
        op.version = g->version;
        last_version[op.key] = g->version;
      } else if (auto* p = std::get_if<wire::PutResponse>(&r.value().body)) {
        op.version = p->version;
      } else if (auto* c = std::get_if<wire::CasResponse>(&r.value().body)) {
        op.version = c->version;
      }
    } else {
      const Code code = r.value().status;
      if (op.kind == Kind::kRead && code == Code::kNotFound) {
        op.outcome = Outcome::kOk;
        op.found = false;
        last_version[op.key] = 0;
      } else if (op.kind == Kind::kCas && code == Code::kConflict) {
        op.outcome = Outcome::kOk;
        op.conflict = true;
        op.version = r.value().detail.current_version;
      } else if (code == Code::kUnavailable || code == Code::kTimeout || code == Code::kNotLeader) {
        // The server could not say: e.g. a leader that lost its majority with the write in
        // its log, a dynamo coordinator that missed its quorum.
        op.outcome = op.kind == Kind::kRead ? Outcome::kFailed : Outcome::kIndeterminate;
        op.error = r.value().ToStatus().ToString();
      } else {
        op.outcome = Outcome::kFailed;
        op.error = r.value().ToStatus().ToString();
      }
    }
    mine.push_back(std::move(op));
  }
  std::lock_guard<std::mutex> lock(history_mu_);
  for (Op& op : mine) history_.push_back(std::move(op));
}

// Faults, scheduled from the seed: every fault_interval (+-50%) one more, on nodes not
// already faulted, each healed after 1 to 5 s. Kill/restart, pause, partitions (netns),
// netem (netns), clock skew (restart under libfaketime).
void Run::Nemesis() {
  Rng rng(o_.seed ^ 0x6e656d65736973ULL);
  std::vector<std::string> kinds;
  auto enabled = [&](const std::string& k) {
    return o_.nemesis == "all" || ("," + o_.nemesis + ",").find("," + k + ",") != std::string::npos;
  };
  if (enabled("kill")) kinds.push_back("kill");
  if (enabled("pause")) kinds.push_back("pause");
  if (enabled("partition") && hosts_->SupportsPartitions() && cluster_->size() > 1) kinds.push_back("partition");
  if (enabled("netem") && hosts_->SupportsNetem()) kinds.push_back("netem");
  if (enabled("skew") && access("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", R_OK) == 0) {
    kinds.push_back("skew");
  }
  if (enabled("membership") && (cluster_->mode() == "leader_follower" || cluster_->mode() == "dynamo") &&
      cluster_->size() >= 3) {
    kinds.push_back("membership");
  }
  if (kinds.empty()) return;
  struct Active {
    std::string kind;
    std::vector<size_t> nodes;
    std::vector<std::pair<size_t, size_t>> cuts;
    double until_s = 0;
    double start_s = 0;
    std::string detail;
  };
  std::vector<Active> active;
  std::set<size_t> busy;
  double next_s = 1.0 + rng.Real() * o_.fault_interval_s;
  auto end_fault = [&](Active& a) {
    if (a.kind == "kill" || a.kind == "skew") {
      for (size_t n : a.nodes) {
        if (cluster_->running(n)) cluster_->Kill(n);
        Status s = cluster_->Start(n);
        if (!s.ok()) RunError(fmt::format("restarting node {}: {}", n + 1, s.ToString()));
      }
    } else if (a.kind == "pause") {
      for (size_t n : a.nodes) (void)cluster_->Resume(n);
    } else if (a.kind == "partition") {
      for (auto [f, t] : a.cuts) (void)hosts_->Heal(f, t);
    } else if (a.kind == "netem") {
      for (size_t n : a.nodes) (void)hosts_->ClearNetem(n);
    }
    for (size_t n : a.nodes) busy.erase(n);
    AddFault(FaultSpan{a.start_s, NowS(), a.kind, a.detail});
    Log(fmt::format("nemesis: end {} {}", a.kind, a.detail));
  };
  const size_t n = cluster_->size();
  while (!stop_nemesis_.load()) {
    std::this_thread::sleep_for(50ms);
    const double now = NowS();
    for (auto it = active.begin(); it != active.end();) {
      if (now >= it->until_s) {
        end_fault(*it);
        it = active.erase(it);
      } else {
        ++it;
      }
    }
    if (now < next_s) continue;
    next_s = now + o_.fault_interval_s * (0.5 + rng.Real());
    const std::string kind = kinds[rng.Uniform(kinds.size())];
    std::vector<size_t> free;
    for (size_t i = 0; i < n; ++i) {
      if (busy.count(i) == 0) free.push_back(i);
    }
    if (free.empty()) continue;
    Active a;
    a.kind = kind;
    a.start_s = now;
    a.until_s = now + 1.0 + rng.Real() * 4.0;
    if (kind == "membership") {
      // Synchronous: remove, wipe, rejoin as a learner, promote (seconds).
      if (member_unfinished_) continue;
      const size_t node = free[rng.Uniform(free.size())];
      Log(fmt::format("nemesis: membership: node {} removed, wiped and added back", node + 1));
      std::string error;
      const int reached = ChangeMembership(node, 0, 10s, &error);
      std::string detail = fmt::format("node {} removed, wiped, re-added", node + 1);
      if (reached < 4) {
        // No other fault touches it until the change is finished at heal (a restart with
        // the static config would bring a wiped node back as a fresh member).
        busy.insert(node);
        member_unfinished_ = std::make_pair(node, reached);
        detail += fmt::format(" (unfinished at step {}: {})", reached + 1, error);
      }
      AddFault(FaultSpan{now, NowS(), "membership", detail});
      continue;
    }
    if (kind == "partition") {
      if (busy.size() > 0) continue;  // partitions take the whole cluster
      // One node isolated, a majority/minority split, or one way.
      std::vector<size_t> side;
      const double shape = rng.Real();
      const size_t first = rng.Uniform(n);
      side.push_back(first);
      if (shape > 0.5 && n >= 4) side.push_back((first + 1) % n);
      const bool one_way = shape < 0.25;
      std::set<size_t> in(side.begin(), side.end());
      for (size_t f = 0; f < n; ++f) {
        for (size_t t = 0; t < n; ++t) {
          if (f == t || in.count(f) == in.count(t)) continue;
          if (one_way && in.count(f) == 0) continue;  // only the side's outgoing packets
          Status s = hosts_->Cut(f, t);
          if (s.ok()) a.cuts.emplace_back(f, t);
        }
      }
      std::vector<std::string> names;
      for (size_t s : side) names.push_back(std::to_string(s + 1));
      a.detail = fmt::format("{{{}}} {} the rest", fmt::join(names, ","), one_way ? "-/->" : "|");
      // Every node counts as faulted until the partition heals (healing is by the cuts).
      for (size_t i = 0; i < n; ++i) {
        a.nodes.push_back(i);
        busy.insert(i);
      }
    } else {
      const size_t node = free[rng.Uniform(free.size())];
      a.nodes = {node};
      busy.insert(node);
      if (kind == "kill") {
        cluster_->Kill(node);
        a.detail = fmt::format("node {}", node + 1);
      } else if (kind == "pause") {
        (void)cluster_->Pause(node);
        a.detail = fmt::format("node {}", node + 1);
      } else if (kind == "netem") {
        const uint32_t delay = 20 + static_cast<uint32_t>(rng.Uniform(180));
        const double loss = rng.Real() * 10.0;
        (void)hosts_->Netem(node, delay, delay / 4, loss);
        a.detail = fmt::format("node {} delay {} ms loss {:.1f}%", node + 1, delay, loss);
      } else if (kind == "skew") {
        const double skew = (rng.Chance(0.5) ? 1 : -1) * (0.1 + rng.Real() * 1.9);
        cluster_->Kill(node);
        Status s = cluster_->Start(node, fmt::format("{:+.3f}", skew));
        if (!s.ok()) RunError(fmt::format("starting node {} skewed: {}", node + 1, s.ToString()));
        a.detail = fmt::format("node {} {:+.3f} s", node + 1, skew);
      }
    }
    Log(fmt::format("nemesis: {} {}", kind, a.detail));
    active.push_back(std::move(a));
  }
  for (Active& a : active) end_fault(a);
}

void Run::HealAll() {
  (void)hosts_->HealAll();
  for (size_t i = 0; i < cluster_->size(); ++i) {
    (void)hosts_->ClearNetem(i);
    if (cluster_->running(i) && cluster_->paused(i)) (void)cluster_->Resume(i);
    // (A node a membership change left removed and wiped is started below, joining.)
    if (member_unfinished_ && member_unfinished_->first == i && member_unfinished_->second == 1) continue;
    if (!cluster_->running(i)) {
      Status s = cluster_->Start(i);
      if (!s.ok()) RunError(fmt::format("restarting node {} after the run: {}", i + 1, s.ToString()));
    }
  }
  if (member_unfinished_) {
    auto [node, step] = *member_unfinished_;
    if (step >= 2 && !cluster_->running(node)) step = 1;  // wiped and down: start it joining again
    std::string error;
    if (ChangeMembership(node, step, 30s, &error) < 4) {
      RunError(fmt::format("the membership change of node {} could not be finished after "
                                        "the faults healed: {}", node + 1, error));
    }
    member_unfinished_.reset();
  }
}

void Run::FinalReads() {
  // Unique writes: read each acknowledged (and indeterminate) key once. Through the
  // cluster's normal read path (leader_follower: linearizable; dynamo: R=all).
  auto client = ClientFor(0);
  std::set<std::string> keys;
  std::set<std::string> counter_keys;
  std::set<std::string> register_keys;
  for (const Op& op : history_) {
    if (op.kind == Kind::kUniqueWrite && op.outcome != Outcome::kFailed) keys.insert(op.key);
    if (op.kind == Kind::kIncr) counter_keys.insert(op.key);
    if (op.kind == Kind::kWrite || op.kind == Kind::kCas) register_keys.insert(op.key);
  }
  if (promises_.batches) {
    Rng rng(o_.seed);
    for (int attempt = 0; attempt < 10 && !final_balances_; ++attempt) {
      Op op;
      op.kind = Kind::kBankRead;
      BankOp(*client, rng, &op);
      if (op.outcome == Outcome::kOk) {
        final_balances_ = op.balances;
      } else {
        std::this_thread::sleep_for(500ms);
      }
    }
    if (!final_balances_) final_errors_.push_back("could not read the bank accounts after heal");
  }
  // The final reads ask for the strongest read the topology has: linearizable (single,
  // leader_follower, whatever raft.default_read says), R=all (dynamo), a member's own
  // state (multi_leader, after settling).
  wire::RequestOptions all;
  if (cluster_->mode() == "dynamo") all.read_quorum = wire::kQuorumOptionAll;
  if (cluster_->mode() == "single" || cluster_->mode() == "leader_follower") {
    all.consistency = wire::Consistency::kLinearizable;
  }
  for (const std::string& key : keys) {
    std::optional<std::string> value;
    bool done = false;
    for (int attempt = 0; attempt < 5 && !done; ++attempt) {
      wire::Request req;
      req.body = wire::GetRequest{key};
      req.options = all;
      auto r = client->Call(std::move(req));
      if (r.ok() && r.value().ok()) {
        value = std::get<wire::GetResponse>(r.value().body).value;
        done = true;
      } else if (r.ok() && r.value().status == Code::kNotFound) {
        done = true;
      } else {
        std::this_thread::sleep_for(500ms);
      }
    }
    if (!done) final_errors_.push_back("could not read " + key);
    final_unique_[key] = value;
  }
  // Per node (convergence, counters): each node's own answer, without redirects.
  if (promises_.convergence || promises_.counters) {
    for (size_t i = 0; i < cluster_->size(); ++i) {
      client::ClientOptions co;
      co.endpoints = {cluster_->endpoint(i)};
      co.request_timeout = 5s;
      co.follow_redirects = false;
      client::Client node(co);
      for (const std::string& key : counter_keys) {
        auto r = node.Incr(key, 0);
        if (r.ok()) {
          final_counters_[i][key] = r.value().value;
        } else {
          final_errors_.push_back(fmt::format("node {}: reading counter {}: {}", i + 1, key, r.status().ToString()));
        }
      }
      for (const std::string& key : register_keys) {
        wire::Request req;
        req.body = wire::GetRequest{key};
        req.options = all;
        auto r = node.Call(std::move(req));
        if (r.ok() && r.value().ok()) {
          final_registers_[i][key] = std::get<wire::GetResponse>(r.value().body).value;
        } else if (r.ok() && r.value().status == Code::kNotFound) {
          final_registers_[i][key] = "<none>";
        } else {
          final_errors_.push_back(fmt::format("node {}: reading {}: {}", i + 1, key,
                                              r.ok() ? r.value().ToStatus().ToString() : r.status().ToString()));
        }
      }
    }
  }
}

void Run::CheckLinearizable(Report* report) {
  GuaranteeVerdict v;
  v.guarantee = "linearizable registers";
  std::vector<check::Operation> ops;
  std::vector<size_t> index;  // ops[k] is history_[index[k]]
  for (size_t i = 0; i < history_.size(); ++i) {
    const Op& op = history_[i];
    if (op.kind != Kind::kRead && op.kind != Kind::kWrite && op.kind != Kind::kCas) continue;
    if (op.outcome == Outcome::kFailed) continue;  // no effect
    check::Operation c;
    c.client_id = op.client;
    c.call_time = op.call_us;
    c.return_time = op.outcome == Outcome::kIndeterminate ? check::kNeverReturned : op.return_us;
    c.input.key = op.key;
    c.input.value = op.value;
    if (op.kind == Kind::kRead) {
      c.input.kind = check::OpKind::kGet;
      c.input.value.clear();
      c.output.status = op.found ? check::OutStatus::kOk : check::OutStatus::kNotFound;
      c.output.value = op.value;
      c.output.version = op.version;
    } else if (op.kind == Kind::kWrite) {
      c.input.kind = check::OpKind::kPut;
      c.output.version = op.version;
    } else {
      c.input.kind = check::OpKind::kCasPut;
      c.input.expected_version = op.expected;
      c.output.status = op.conflict ? check::OutStatus::kConflict : check::OutStatus::kOk;
      c.output.version = op.version;
    }
    if (op.outcome == Outcome::kIndeterminate) c.output.status = check::OutStatus::kUnknown;
    ops.push_back(std::move(c));
    index.push_back(i);
  }
  const check::CheckResult res = check::CheckKvHistory(ops);
  v.verdict = res.verdict == check::Verdict::kOk        ? "valid"
              : res.verdict == check::Verdict::kIllegal ? "invalid"
                                                        : "unknown";
  v.detail = fmt::format("{} register operations on {} keys ({} search steps): {}", ops.size(),
                         o_.keys, res.steps, promises_.linearizable ? "promised by " + promises_.mode
                                                                    : "not promised: " + promises_.why_not_linearizable);
  // Where linearizability is not promised, neither a violation nor a search that ran out
  // of budget fails the run.
  if (res.verdict != check::Verdict::kOk) v.allowed = !promises_.linearizable;
  if (res.verdict == check::Verdict::kIllegal) {
    v.anomalies = 1;
    // The smallest part that shows it: the failing key's last linearizable operations,
    // then those that could not come next.
    const size_t from = res.longest_prefix.size() > 12 ? res.longest_prefix.size() - 12 : 0;
    v.minimal_history.push_back(fmt::format("key {}: the longest linearizable prefix ends with", res.partition));
    for (size_t k = from; k < res.longest_prefix.size(); ++k) {
      v.minimal_history.push_back("  " + Describe(history_[index[res.longest_prefix[k]]]));
    }
    v.minimal_history.push_back("none of these can come next:");
    for (size_t u : res.unplaced) v.minimal_history.push_back("  " + Describe(history_[index[u]]));
    v.minimal_history.push_back("blocking: " + Describe(history_[index[res.blocking_op]]));
  }
  report->verdicts.push_back(std::move(v));
}

void Run::CheckLostWrites(Report* report) {
  GuaranteeVerdict v;
  v.guarantee = "no lost acknowledged writes";
  uint64_t acked = 0, lost = 0;
  for (const Op& op : history_) {
    if (op.kind != Kind::kUniqueWrite || op.outcome != Outcome::kOk) continue;
    ++acked;
    auto it = final_unique_.find(op.key);
    if (it != final_unique_.end() && it->second.has_value()) continue;
    ++lost;
    if (v.minimal_history.size() < 20) v.minimal_history.push_back(Describe(op) + " -- not found after heal");
  }
  v.anomalies = lost;
  v.verdict = !final_errors_.empty() && lost > 0 ? "unknown" : lost == 0 ? "valid" : "invalid";
  v.allowed = lost > 0 && !promises_.durable_acks;
  v.detail = fmt::format("{} acknowledged unique writes read back after heal, {} missing; {}", acked, lost,
                         promises_.durable_acks ? "promised by " + promises_.mode
                                                : "allowed to lose: " + promises_.why_acks_may_be_lost);
  if (!final_errors_.empty()) v.detail += fmt::format("; {} final reads failed", final_errors_.size());
  report->verdicts.push_back(std::move(v));
}

void Run::CheckCounters(Report* report) {
  GuaranteeVerdict v;
  v.guarantee = "counters converge to the acknowledged increments";
  std::map<std::string, std::pair<int64_t, int64_t>> bounds;  // key -> (acked, acked + unknown)
  for (const Op& op : history_) {
    if (op.kind != Kind::kIncr) continue;
    auto& b = bounds[op.key];
    if (op.outcome == Outcome::kOk) b.first += op.amount;
    if (op.outcome != Outcome::kFailed) b.second += op.amount;
  }
  uint64_t bad = 0;
  for (const auto& [node, values] : final_counters_) {
    for (const auto& [key, value] : values) {
      const auto [lo, hi] = bounds[key];
      if (value < lo || value > hi) {
        ++bad;
        v.minimal_history.push_back(fmt::format("node {}: {} = {}, expected {} .. {} (acknowledged .. plus indeterminate)",
                                                node + 1, key, value, lo, hi));
      }
    }
  }
  for (const auto& [key, b] : bounds) {
    std::set<int64_t> seen;
    for (const auto& [node, values] : final_counters_) {
      if (auto it = values.find(key); it != values.end()) seen.insert(it->second);
    }
    if (seen.size() > 1) {
      ++bad;
      v.minimal_history.push_back(fmt::format("{}: the nodes disagree after heal ({} values)", key, seen.size()));
    }
  }
  v.anomalies = bad;
  v.verdict = bad == 0 && final_errors_.empty() ? "valid" : bad == 0 ? "unknown" : "invalid";
  v.detail = fmt::format("{} counters read on every node after heal", bounds.size());
  report->verdicts.push_back(std::move(v));
}

void Run::CheckBank(Report* report) {
  GuaranteeVerdict v;
  v.guarantee = "atomic batches: bank transfers keep the total";
  const int64_t total = static_cast<int64_t>(kAccounts) * kInitialBalance;
  uint64_t reads = 0, bad = 0, transfers = 0;
  for (const Op& op : history_) {
    if (op.kind == Kind::kTransfer && op.outcome == Outcome::kOk && !op.conflict) ++transfers;
    if (op.kind != Kind::kBankRead || op.outcome != Outcome::kOk) continue;
    ++reads;
    int64_t sum = 0;
    for (int64_t b : op.balances) sum += b;
    if (sum != total) {
      ++bad;
      if (v.minimal_history.size() < 10) {
        v.minimal_history.push_back(fmt::format("{} -- sums to {}, not {}", Describe(op), sum, total));
      }
    }
  }
  if (final_balances_) {
    int64_t sum = 0;
    for (int64_t b : *final_balances_) sum += b;
    if (sum != total) {
      ++bad;
      v.minimal_history.push_back(fmt::format("after heal: [{}] sums to {}, not {}", fmt::join(*final_balances_, ", "),
                                              sum, total));
    }
  }
  v.anomalies = bad;
  v.verdict = bad > 0 ? "invalid" : final_balances_ ? "valid" : "unknown";
  v.detail = fmt::format("{} reads of all {} accounts (one BATCH each) and the final one after heal; {} transfers "
                         "applied; every read must sum to {}",
                         reads, kAccounts, transfers, total);
  report->verdicts.push_back(std::move(v));
}

void Run::CheckConvergence(Report* report) {
  GuaranteeVerdict v;
  v.guarantee = "replicas converge after heal";
  std::set<std::string> keys;
  for (const auto& [node, values] : final_registers_) {
    for (const auto& [key, value] : values) keys.insert(key);
  }
  uint64_t differ = 0;
  for (const std::string& key : keys) {
    std::map<std::string, std::vector<size_t>> by_value;
    for (const auto& [node, values] : final_registers_) {
      auto it = values.find(key);
      if (it != values.end()) by_value[it->second].push_back(node + 1);  // unread: final_errors_
    }
    if (by_value.size() > 1) {
      ++differ;
      std::string line = key + ":";
      for (const auto& [value, nodes] : by_value) line += fmt::format(" {} on nodes {};", value, fmt::join(nodes, ","));
      v.minimal_history.push_back(line);
    }
  }
  v.anomalies = differ;
  v.verdict = differ == 0 && final_errors_.empty() ? "valid" : differ == 0 ? "unknown" : "invalid";
  v.detail = fmt::format("{} register keys read from every node after {} s of settling", keys.size(), o_.settle_s);
  report->verdicts.push_back(std::move(v));
}

int Run::Go() {
  start_ = Clock::now();
  if (promises_.batches) {
    Status opened = OpenAccounts();
    if (!opened.ok()) {
      std::fprintf(stderr, "kvd-torture: %s\n", opened.ToString().c_str());
      return kExitRunFailed;
    }
  }
  Log(fmt::format("{} nodes ({}), {}; seed {:#x}; {} s", cluster_->size(), hosts_->netns() ? "netns" : "loopback",
                  promises_.mode, o_.seed, o_.duration_s));
  std::vector<std::thread> clients;
  for (uint32_t c = 0; c < o_.clients; ++c) clients.emplace_back([this, c] { ClientLoop(c); });
  std::thread nemesis([this] { Nemesis(); });
  while (NowS() < o_.duration_s && !g_interrupted.load()) {
    std::this_thread::sleep_for(100ms);
    for (size_t crashed : cluster_->Reap()) {
      RunError(fmt::format("node {} exited by itself; its log ends:\n{}", crashed + 1,
                                        cluster_->LogTail(crashed)));
      Log(fmt::format("node {} exited by itself", crashed + 1));
    }
  }
  stop_nemesis_ = true;
  nemesis.join();
  HealAll();
  const double healed_s = NowS();
  stop_ = true;
  for (std::thread& t : clients) t.join();
  Log(fmt::format("healed; {} operations; settling {} s", history_.size(), o_.settle_s));
  std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(o_.settle_s * 1000)));
  FinalReads();
  std::sort(history_.begin(), history_.end(), [](const Op& a, const Op& b) { return a.call_us < b.call_us; });

  Report report;
  report.topology = cluster_->mode();
  report.mode = promises_.mode;
  report.seed = o_.seed;
  report.title = fmt::format("kvd-torture: {} ({}), seed {:#x}", report.topology, report.mode, o_.seed);
  report.duration_s = NowS();
  report.nodes = cluster_->endpoints();
  report.hosts = hosts_->netns() ? "netns" : "loopback";
  for (const Op& op : history_) {
    switch (op.outcome) {
      case Outcome::kOk: ++report.counts.ok; break;
      case Outcome::kFailed: ++report.counts.failed; break;
      case Outcome::kIndeterminate: ++report.counts.indeterminate; break;
    }
    report.ops.push_back(OpPoint{static_cast<double>(op.call_us) / 1e6,
                                 static_cast<double>(op.return_us - op.call_us) / 1e3, op.outcome, KindName(op.kind)});
  }
  report.faults = faults_;
  report.faults.push_back(FaultSpan{healed_s, healed_s, "heal", "every fault healed"});
  if (cluster_->mode() == "single" || cluster_->mode() == "leader_follower") CheckLinearizable(&report);
  CheckLostWrites(&report);
  if (promises_.counters) CheckCounters(&report);
  if (promises_.batches) CheckBank(&report);
  if (promises_.convergence) CheckConvergence(&report);
  if (!run_errors_.empty()) {
    GuaranteeVerdict v;
    v.guarantee = "the cluster ran (no node crashed or failed to restart)";
    v.verdict = "invalid";
    v.anomalies = run_errors_.size();
    v.minimal_history = run_errors_;
    v.detail = "a kvd process exited by itself or could not be restarted";
    report.verdicts.push_back(std::move(v));
  }
  report.extra["config"] = cluster_->config_path().string();
  report.extra["clients"] = o_.clients;
  report.extra["final_read_errors"] = final_errors_;
  Status w = WriteReport(report, o_.out);
  if (!w.ok()) std::fprintf(stderr, "kvd-torture: writing the report: %s\n", w.ToString().c_str());
  std::printf("%s\n", report.title.c_str());
  std::printf("operations: %llu ok, %llu failed, %llu indeterminate; %zu faults\n",
              static_cast<unsigned long long>(report.counts.ok),
              static_cast<unsigned long long>(report.counts.failed),
              static_cast<unsigned long long>(report.counts.indeterminate), faults_.size());
  for (const GuaranteeVerdict& v : report.verdicts) {
    std::printf("  %-52s %s%s  %s\n", v.guarantee.c_str(), v.verdict.c_str(),
                v.allowed ? " (allowed by the mode)" : "", v.detail.c_str());
    if (v.verdict != "valid") {
      for (const std::string& line : v.minimal_history) std::printf("      %s\n", line.c_str());
    }
  }
  std::printf("report: %s/report.html\n", o_.out.c_str());
  return report.passed() ? 0 : kExitInvalid;
}

std::string DefaultTemplate(const std::string& topology) {
  const std::string dir = std::string(KVD_SOURCE_DIR) + "/config/";
  if (topology == "single") return dir + "single.yaml";
  if (topology == "leader_follower") return dir + "leader-follower-3.yaml";
  if (topology == "multi_leader") return dir + "multi-leader-3.yaml";
  if (topology == "dynamo") return dir + "dynamo-5.yaml";
  return "";
}

int Main(int argc, char** argv) {
  Options o;
  po::options_description desc(
      "kvd-torture: runs a real kvd cluster under faults and checks what its topology promises\n\n"
      "usage: kvd-torture --topology T [options]    or    kvd-torture --config FILE [options]\n\n"
      "options");
  std::string seed_text;
  desc.add_options()
      ("help,h", "print this help and exit")
      ("topology", po::value(&o.topology),
       "single, leader_follower, multi_leader or dynamo: runs the shipped config/<topology> template "
       "(config/single.yaml, leader-follower-3.yaml, multi-leader-3.yaml, dynamo-5.yaml)")
      ("config", po::value(&o.config), "a kvd config file to use as the template instead (any topology)")
      ("set", po::value(&o.sets)->composing(),
       "FIELD=VALUE: set a config field of the template, e.g. --set raft.replication=async; repeatable")
      ("duration", po::value(&o.duration_s)->default_value(60), "seconds of workload under faults")
      ("seed", po::value(&seed_text), "the seed of the workload and fault schedule (default: random, printed)")
      ("clients", po::value(&o.clients)->default_value(8), "client threads")
      ("keys", po::value(&o.keys)->default_value(8), "register keys (fewer: more contention)")
      ("think-ms", po::value(&o.think_ms)->default_value(0),
       "each client waits 0 .. 2x this many ms before each operation (long soaks: keeps the history, "
       "and the time to check it, bounded)")
      ("nemesis", po::value(&o.nemesis)->default_value("all"),
       "faults to inject, comma-separated: kill (kill -9, restart), pause (SIGSTOP/SIGCONT), partition "
       "(netns only: isolate a node, split, one-way), netem (netns only: latency and loss), skew (restart "
       "a node under libfaketime), membership (leader_follower: remove a node, wipe it, add it back as a "
       "learner and promote it; dynamo: decommission a node, wipe it, join it again), none; all = every "
       "one available")
      ("fault-interval", po::value(&o.fault_interval_s)->default_value(4),
       "mean seconds between two faults (each lasts 1 to 5 s)")
      ("hosts", po::value(&o.hosts)->default_value("auto"),
       "netns (a network namespace per node; root only), loopback, or auto (netns when possible)")
      ("request-timeout-ms", po::value(&o.request_timeout_ms)->default_value(2000),
       "client request timeout; a write without an answer by then is indeterminate")
      ("settle", po::value(&o.settle_s)->default_value(10), "seconds to wait after healing before the final reads")
      ("out", po::value(&o.out), "report directory (default: torture-<topology>-<seed>)")
      ("kvd", po::value(&o.kvd)->default_value(KVD_BIN), "the kvd binary")
      ("keep", po::bool_switch(&o.keep), "keep the nodes' data directories and logs (in <out>/cluster)")
      ("quiet,q", po::bool_switch(&o.quiet), "no progress lines (Ctrl-C or SIGTERM ends the workload early: "
                                                 "the run still heals, checks and reports)");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvd-torture: %s (see --help)\n", e.what());
    return kExitUsage;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n"
              << "Exit status: 0 every checked guarantee holds (anomalies the mode allows are reported);\n"
                 "1 a guarantee does not hold; 2 bad arguments; 3 the run could not be carried out.\n"
                 "Writes <out>/report.json, report.html and latency.png. Guarantees per topology and\n"
                 "mode: docs/RELIABILITY.md.\n";
    return 0;
  }
  if (o.topology.empty() == o.config.empty()) {
    std::fprintf(stderr, "kvd-torture: give exactly one of --topology and --config (see --help)\n");
    return kExitUsage;
  }
  if (!o.topology.empty()) {
    o.config = DefaultTemplate(o.topology);
    if (o.config.empty()) {
      std::fprintf(stderr, "kvd-torture: --topology %s: expected single, leader_follower, multi_leader or dynamo\n",
                   o.topology.c_str());
      return kExitUsage;
    }
  }
  if (o.duration_s <= 0 || o.duration_s > 7 * 24 * 3600) {
    std::fprintf(stderr, "kvd-torture: --duration %g: expected more than 0 and at most 604800 seconds\n", o.duration_s);
    return kExitUsage;
  }
  if (o.clients == 0 || o.clients > 256) {
    std::fprintf(stderr, "kvd-torture: --clients %zu: expected 1 .. 256\n", o.clients);
    return kExitUsage;
  }
  if (o.keys == 0 || o.keys > 100000) {
    std::fprintf(stderr, "kvd-torture: --keys %zu: expected 1 .. 100000\n", o.keys);
    return kExitUsage;
  }
  if (o.fault_interval_s <= 0) {
    std::fprintf(stderr, "kvd-torture: --fault-interval %g: expected more than 0 seconds\n", o.fault_interval_s);
    return kExitUsage;
  }
  if (o.hosts != "auto" && o.hosts != "netns" && o.hosts != "loopback") {
    std::fprintf(stderr, "kvd-torture: --hosts %s: expected auto, netns or loopback\n", o.hosts.c_str());
    return kExitUsage;
  }
  {
    const std::set<std::string> known = {"kill", "pause", "partition", "netem", "skew", "membership", "none", "all"};
    std::string part;
    for (size_t p = 0; p <= o.nemesis.size(); ++p) {
      if (p == o.nemesis.size() || o.nemesis[p] == ',') {
        if (known.count(part) == 0) {
          std::fprintf(stderr,
                       "kvd-torture: --nemesis: unknown fault '%s'; expected kill, pause, partition, netem, skew, "
                       "membership, none or all\n",
                       part.c_str());
          return kExitUsage;
        }
        part.clear();
      } else {
        part.push_back(o.nemesis[p]);
      }
    }
  }
  if (!seed_text.empty()) {
    try {
      size_t used = 0;
      o.seed = std::stoull(seed_text, &used, 0);
      if (used != seed_text.size()) throw std::invalid_argument("trailing characters");
    } catch (const std::exception&) {
      std::fprintf(stderr, "kvd-torture: --seed %s: expected an integer (decimal or 0x hex)\n", seed_text.c_str());
      return kExitUsage;
    }
  } else {
    o.seed = std::random_device{}();
  }
  std::string topology_name = o.topology.empty() ? std::string("config") : o.topology;
  if (o.out.empty()) o.out = fmt::format("torture-{}-{:#x}", topology_name, o.seed);
  std::string why;
  bool netns = o.hosts == "netns";
  if (o.hosts == "auto") netns = Hosts::NetnsAvailable(&why);
  const std::string run = fmt::format("{:06x}", (o.seed ^ static_cast<uint64_t>(::getpid())) & 0xffffff);
  auto cluster_options = [&](const char* subdir) {
    ClusterOptions co;
    co.kvd_binary = o.kvd;
    co.config_template = o.config;
    co.dir = std::filesystem::path(o.out) / subdir;
    co.overrides = o.sets;
    return co;
  };
  // The template's node count decides how many hosts: read it through a loopback dry run.
  size_t nodes = 1;
  {
    auto probe_hosts = Hosts::Create(64, false, run);
    if (!probe_hosts.ok()) {
      std::fprintf(stderr, "kvd-torture: %s\n", probe_hosts.status().ToString().c_str());
      return kExitRunFailed;
    }
    const ClusterOptions co = cluster_options("probe");
    auto probe = Cluster::Make(co, probe_hosts.value().get());
    if (!probe.ok()) {
      std::fprintf(stderr, "kvd-torture: %s\n", probe.status().ToString().c_str());
      return kExitUsage;
    }
    nodes = probe.value()->size();
    std::filesystem::remove_all(co.dir);
  }
  auto hosts = Hosts::Create(nodes, netns, run);
  if (!hosts.ok()) {
    std::fprintf(stderr, "kvd-torture: making the hosts: %s\n", hosts.status().ToString().c_str());
    return kExitRunFailed;
  }
  const ClusterOptions co = cluster_options("cluster");
  std::filesystem::remove_all(co.dir);
  auto cluster = Cluster::Make(co, hosts.value().get());
  if (!cluster.ok()) {
    std::fprintf(stderr, "kvd-torture: %s\n", cluster.status().ToString().c_str());
    return kExitUsage;
  }
  Status started = cluster.value()->StartAll();
  if (!started.ok()) {
    std::fprintf(stderr, "kvd-torture: starting the cluster: %s\n", started.ToString().c_str());
    return kExitRunFailed;
  }
  int rc = 0;
  {
    Run r(o, cluster.value().get(), hosts.value().get());
    rc = r.Go();
  }
  cluster.value().reset();
  hosts.value().reset();
  if (!o.keep) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(co.dir, ec)) {
      if (entry.is_directory()) std::filesystem::remove_all(entry.path(), ec);  // data dirs; logs stay
    }
  }
  return rc;
}

}  // namespace
}  // namespace kvd::torture

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = kvd::torture::OnInterrupt;
  ::sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  return kvd::torture::Main(argc, argv);
}
