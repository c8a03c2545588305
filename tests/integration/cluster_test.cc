// Integration tests of a leader_follower (Raft) cluster of three real kvd processes.
//
// Goal: show on real processes and sockets what docs/OPERATIONS.md promises for the
// leader_follower topology: reads at each consistency level from any node, failover after
// kill -9 of the leader within the target (3 s with the default 1 s election
// timeout) without losing an acknowledged write, catch-up of a restarted node, restore of
// a wiped node by snapshot, manual failover (no election without `promote`, and term
// fencing of the old leader), leadership transfer, and cluster config errors that exit 2.
// Method: cluster_harness.h starts the nodes on free loopback ports; tests wait by
// polling with deadlines and sleep only where the point is a timing bound (manual
// failover: no leader for 3 s). Writer threads record every acknowledged write and the
// test reads each one back. A failed check prints the logs of every node (the listener
// below).
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "client/lib/client.h"
#include "tests/integration/cluster_harness.h"
#include "tests/integration/harness.h"

namespace kvd::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Prints the logs of every live cluster at the first failed assertion of a test (before a
// REQUIRE unwinds the stack and the harness deletes them).
struct ClusterLogListener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  bool assertionEnded(const Catch::AssertionStats& stats) override {
    if (!stats.assertionResult.isOk()) {
      std::string logs = LiveClusterLogs();
      if (!logs.empty()) std::cerr << logs << std::flush;
    }
    return true;
  }
};
CATCH_REGISTER_LISTENER(ClusterLogListener)

std::string Text(const Status& s) { return s.ToString(); }
template <typename T>
std::string Text(const Result<T>& r) {
  return r.ok() ? std::string("ok") : r.status().ToString();
}

#define REQUIRE_OK(expr)           \
  do {                             \
    auto&& ok_ = (expr);           \
    INFO(#expr ": " << Text(ok_)); \
    REQUIRE(ok_.ok());             \
  } while (0)

#define REQUIRE_STARTED(cluster) REQUIRE_OK((cluster).Start())

long Ms(Clock::duration d) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

struct AckedWrite {
  std::string value;
  uint64_t version = 0;
  Clock::time_point acked;
  std::string answered_by;  // the endpoint the client was connected to
};

// Writer threads, each with its own client over every node, writing unique keys
// "<prefix>t<thread>/<n>" one at a time, and recording every acknowledged write.
class WriteLoad {
 public:
  // `request_timeout`: per write, retries included (the library's default is 5 s).
  WriteLoad(const ClusterHarness& cluster, int threads, std::string prefix,
            std::chrono::milliseconds request_timeout = 5s)
      : prefix_(std::move(prefix)) {
    for (int t = 0; t < threads; ++t) {
      client::ClientOptions o;
      o.request_timeout = request_timeout;
      clients_.push_back(cluster.NewClient(o));
    }
    for (int t = 0; t < threads; ++t) threads_.emplace_back([this, t] { Run(t); });
  }
  ~WriteLoad() { Stop(); }
  WriteLoad(const WriteLoad&) = delete;
  WriteLoad& operator=(const WriteLoad&) = delete;

  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  size_t acked() {
    std::lock_guard lock(mu_);
    return acks_.size();
  }
  size_t failed() {
    std::lock_guard lock(mu_);
    return failed_;
  }
  std::string errors() {
    std::lock_guard lock(mu_);
    std::string out;
    for (const auto& [text, n] : errors_) out += fmt::format("\n  {} x {}", n, text);
    return out;
  }
  std::map<std::string, AckedWrite> acks() {
    std::lock_guard lock(mu_);
    return acks_;
  }

  // Waits until at least `n` writes are acknowledged in all.
  bool WaitAcked(size_t n, Clock::duration timeout) {
    auto deadline = Clock::now() + timeout;
    while (acked() < n) {
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }

  // The earliest acknowledgement after `t` answered by a node other than `not_from`.
  std::optional<Clock::time_point> FirstAckAfter(Clock::time_point t, const std::string& not_from) {
    std::lock_guard lock(mu_);
    std::optional<Clock::time_point> first;
    for (const auto& [key, a] : acks_) {
      if (a.acked > t && a.answered_by != not_from && (!first || a.acked < *first)) {
        first = a.acked;
      }
    }
    return first;
  }

  // Polls FirstAckAfter until it has an answer.
  std::optional<Clock::time_point> WaitFirstAckAfter(Clock::time_point t,
                                                     const std::string& not_from,
                                                     Clock::duration timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (auto first = FirstAckAfter(t, not_from)) return first;
      std::this_thread::sleep_for(2ms);
    }
    return std::nullopt;
  }

 private:
  void Run(int t) {
    client::Client& c = *clients_[static_cast<size_t>(t)];
    std::mt19937_64 rng(std::random_device{}());
    for (uint64_t n = 0; !stop_; ++n) {
      std::string key = fmt::format("{}t{}/{:06}", prefix_, t, n);
      std::string value = fmt::format("{}={:016x}", key, rng());
      Result<wire::PutResponse> r = c.Put(key, value);
      auto now = Clock::now();
      std::lock_guard lock(mu_);
      if (r.ok()) {
        acks_[key] = AckedWrite{value, r->version, now, c.connected_endpoint()};
      } else {
        ++failed_;
        ++errors_[r.status().ToString().substr(0, 160)];
      }
    }
  }

  std::string prefix_;
  std::atomic<bool> stop_{false};
  std::vector<std::unique_ptr<client::Client>> clients_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::map<std::string, AckedWrite> acks_;
  size_t failed_ = 0;
  std::map<std::string, size_t> errors_;
};

// Reads every key with `consistency` (up to 256 in flight) and returns one line per key
// that is missing or differs from what was acknowledged.
std::vector<std::string> CheckAcked(client::Client& c,
                                    const std::map<std::string, AckedWrite>& acks,
                                    wire::Consistency consistency, bool check_version = true) {
  std::mutex mu;
  std::condition_variable cv;
  size_t inflight = 0;
  std::vector<std::string> problems;
  for (const auto& [key, want] : acks) {
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return inflight < 256; });
      ++inflight;
    }
    wire::Request r;
    r.options.consistency = consistency;
    r.body = wire::GetRequest{key};
    c.Send(std::move(r), [&, key = key, want = want](Result<wire::Response> resp) {
      std::string problem;
      if (!resp.ok()) {
        problem = fmt::format("{}: {}", key, resp.status().ToString());
      } else if (!resp->ok()) {
        problem = fmt::format("{}: {} (acknowledged version {} by {})", key,
                              resp->ToStatus().ToString(), want.version, want.answered_by);
      } else {
        const auto& got = std::get<wire::GetResponse>(resp->body);
        if (got.value != want.value || (check_version && got.version != want.version)) {
          problem = fmt::format("{}: got {}@{}, acknowledged {}@{}", key, got.value, got.version,
                                want.value, want.version);
        }
      }
      std::lock_guard lock(mu);
      if (!problem.empty()) problems.push_back(problem);
      --inflight;
      cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return inflight == 0; });
  return problems;
}

std::string FirstFew(const std::vector<std::string>& lines, size_t n = 20) {
  std::string out;
  for (size_t i = 0; i < lines.size() && i < n; ++i) out += "\n  " + lines[i];
  if (lines.size() > n) out += fmt::format("\n  ... and {} more", lines.size() - n);
  return out;
}

// The wall-clock time (unix ms) of the last line of `log` containing `needle`; kvd's log
// lines start with "2026-11-25T22:37:30.841Z".
std::optional<int64_t> LogTimeMs(const std::string& log, const std::string& needle) {
  size_t at = log.rfind(needle);
  if (at == std::string::npos) return std::nullopt;
  size_t line = log.rfind('\n', at);
  line = line == std::string::npos ? 0 : line + 1;
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(log.c_str() + line, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(::timegm(&tm)) * 1000 + ms;
}

int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string ReadLog(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Every running node's STATUS, one per line, for failure messages.
std::string AllStatus(ClusterHarness& cluster) {
  std::string out;
  for (size_t i = 0; i < cluster.size(); ++i) {
    auto s = cluster.StatusJson(i);
    out += fmt::format("\n  node {}: {}", ClusterHarness::id(i),
                       s.ok() ? s->dump() : s.status().ToString());
  }
  return out;
}

// REQUIREs that `expr` (a Status) is OK; on failure adds the STATUS of every node.
#define REQUIRE_OK_WITH_STATUS(cluster, expr)              \
  do {                                                     \
    Status st_ = (expr);                                   \
    INFO(#expr ": " << st_.ToString());                    \
    if (!st_.ok()) {                                       \
      INFO("status of every node:" << AllStatus(cluster)); \
      REQUIRE(st_.ok());                                   \
    }                                                      \
  } while (0)

Result<uint64_t> CommitIndex(ClusterHarness& cluster, size_t i) {
  KVD_ASSIGN_OR_RETURN(nlohmann::json s, cluster.StatusJson(i));
  return RaftU64(s, "commit_index");
}

// Polls a follower read of `key` on node i until it returns `value`.
Status WaitFollowerSees(ClusterHarness& cluster, size_t i, const std::string& key,
                        const std::string& value, Clock::duration timeout = 10s) {
  auto c = cluster.NodeClient(i, 2s);
  wire::RequestOptions o;
  o.consistency = wire::Consistency::kFollower;
  auto deadline = Clock::now() + timeout;
  std::string last;
  while (true) {
    auto got = c->Get(key, o);
    if (got.ok() && got->value == value) return Status::Ok();
    last = got.ok() ? "value " + got->value : got.status().ToString();
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(10ms);
  }
  return Status::Timeout(fmt::format("node {} did not serve {}={} by follower read; last: {}",
                                     ClusterHarness::id(i), key, value, last));
}

// ---------------------------------------------------------------------------------------

TEST_CASE("cluster: a write through any node is read from every node", "[integration][cluster]") {
  ClusterHarness cluster;
  REQUIRE_STARTED(cluster);
  auto l = cluster.Leader();
  REQUIRE_OK(l);
  size_t leader = *l;
  size_t follower = (leader + 1) % cluster.size();

  // A write sent to a follower's address is redirected to the leader and acknowledged.
  client::ClientOptions o;
  o.endpoints = {cluster.endpoint(follower)};
  client::Client via_follower(o);
  auto put = via_follower.Put("greeting", "hello");
  REQUIRE_OK(put);
  CHECK(put->version >= 1);
  CHECK(via_follower.connected_endpoint() == cluster.endpoint(leader));

  // Every node serves it with follower reads, eventually.
  for (size_t i = 0; i < cluster.size(); ++i) {
    REQUIRE_OK(WaitFollowerSees(cluster, i, "greeting", "hello"));
  }

  // A linearizable read at a follower: NOT_LEADER naming the leader without redirects...
  auto plain = cluster.NodeClient(follower);
  wire::RequestOptions lin;
  lin.consistency = wire::Consistency::kLinearizable;
  auto refused = plain->Get("greeting", lin);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == Code::kNotLeader);
  wire::Request raw;
  raw.options = lin;
  raw.body = wire::GetRequest{"greeting"};
  auto raw_resp = plain->Call(raw);
  REQUIRE_OK(raw_resp);
  CHECK(raw_resp->status == Code::kNotLeader);
  CHECK(raw_resp->detail.leader_hint == cluster.endpoint(leader));

  // ...and with them (a client given only the follower), the leader's answer.
  client::Client redirected(o);
  auto got = redirected.Get("greeting", lin);
  REQUIRE_OK(got);
  CHECK(got->value == "hello");
  CHECK(got->version == put->version);
  CHECK(redirected.connected_endpoint() == cluster.endpoint(leader));

  // The default consistency (linearizable) through a client of every node.
  auto dflt = cluster.client().Get("greeting");
  REQUIRE_OK(dflt);
  CHECK(dflt->value == "hello");

  // STATUS names the same leader on every node.
  for (size_t i = 0; i < cluster.size(); ++i) {
    auto s = cluster.StatusJson(i);
    REQUIRE_OK(s);
    CHECK((*s)["mode"] == "leader_follower");
    CHECK((*s)["node_id"] == ClusterHarness::id(i));
    CHECK((*s)["role"] == (i == leader ? "leader" : "follower"));
    CHECK(RaftU64(*s, "leader_id") == ClusterHarness::id(leader));
  }
}

TEST_CASE(
    "cluster: kill -9 of the leader under write load fails over within 3 s and loses "
    "no acknowledged write",
    "[integration][cluster]") {
  ClusterHarness cluster;  // quorum replication, election_timeout_ms 1000 (the defaults)
  REQUIRE_STARTED(cluster);
  auto first = cluster.Leader();
  REQUIRE_OK(first);
  size_t old_leader = *first;

  auto load_start = Clock::now();
  WriteLoad load(cluster, 4, "fo/");
  REQUIRE(load.WaitAcked(200, 20s));
  long first_200_ms = Ms(Clock::now() - load_start);

  int64_t kill_unix_ms = UnixMs();
  auto killed = Clock::now();
  cluster.Kill9(old_leader);
  auto first_ack = load.WaitFirstAckAfter(killed, cluster.endpoint(old_leader), 20s);
  INFO("write errors seen:" << load.errors());
  REQUIRE(first_ack.has_value());
  long failover_ms = Ms(*first_ack - killed);

  // Keep writing a little under the new leader, then stop.
  size_t before = load.acked();
  CHECK(load.WaitAcked(before + 100, 20s));
  load.Stop();

  auto second = cluster.Leader();
  REQUIRE_OK(second);
  size_t new_leader = *second;
  REQUIRE(new_leader != old_leader);
  std::string new_log = ReadLog(cluster.log_path(new_leader));
  auto elected = LogTimeMs(new_log, "became the leader in term");
  long election_ms = elected ? static_cast<long>(*elected - kill_unix_ms) : -1;
  std::printf(
      "cluster failover: kill -9 of node %llu -> node %llu elected after %ld ms (its "
      "log), first write acknowledged by it after %ld ms; %zu writes acknowledged, "
      "%zu failed (the first 200 took %ld ms)\n",
      static_cast<unsigned long long>(ClusterHarness::id(old_leader)),
      static_cast<unsigned long long>(ClusterHarness::id(new_leader)), election_ms, failover_ms,
      load.acked(), load.failed(), first_200_ms);
  std::fflush(stdout);
  {
    INFO("election after " << election_ms << " ms; first acknowledged write after " << failover_ms
                           << " ms");
    CHECK(failover_ms < 3000);
  }

  // Every acknowledged write is there, with its value and version (linearizable reads).
  std::map<std::string, AckedWrite> acks = load.acks();
  std::vector<std::string> lost =
      CheckAcked(cluster.client(), acks, wire::Consistency::kLinearizable);
  INFO(lost.size() << " of " << acks.size() << " acknowledged writes lost:" << FirstFew(lost));
  REQUIRE(lost.empty());

  // The old leader comes back, catches up, and serves everything with follower reads.
  REQUIRE_OK(cluster.Restart(old_leader));
  auto commit = CommitIndex(cluster, new_leader);
  REQUIRE_OK(commit);
  REQUIRE_OK_WITH_STATUS(cluster, cluster.WaitApplied(old_leader, *commit, 20s));
  auto old_client = cluster.NodeClient(old_leader);
  std::vector<std::string> stale = CheckAcked(*old_client, acks, wire::Consistency::kFollower);
  INFO(stale.size() << " acknowledged writes missing at the restarted node:" << FirstFew(stale));
  REQUIRE(stale.empty());
  auto s = cluster.StatusJson(old_leader);
  REQUIRE_OK(s);
  CHECK((*s)["role"] == "follower");
  CHECK(RaftU64(*s, "leader_id") == ClusterHarness::id(new_leader));
}

// Writes 300 keys, compacts the leader's log (ADMIN compact), and brings back a follower
// that was killed before (`down_before_compact`) or after the compaction, on its data dir
// or on an empty one (`wipe`); 50 more keys are written while it is down. Requires that
// the follower catches up to the leader's commit index by installing a snapshot and
// serves every key with follower reads.
void SnapshotCatchUp(bool down_before_compact, bool wipe) {
  ClusterHarness cluster;
  REQUIRE_STARTED(cluster);
  auto l = cluster.Leader();
  REQUIRE_OK(l);
  size_t leader = *l;
  size_t follower = (leader + 1) % cluster.size();

  std::map<std::string, AckedWrite> acks;
  client::Client& c = cluster.client();
  auto write = [&](int from, int to) {
    for (int n = from; n < to; ++n) {
      std::string key = fmt::format("snap/{:04}", n), value = fmt::format("v{}-{}", n, n * n);
      auto put = c.Put(key, value);
      REQUIRE_OK(put);
      acks[key] = AckedWrite{value, put->version, Clock::now(), ""};
    }
  };
  if (down_before_compact) {
    write(0, 10);
    // Wait until the follower has those, so the leader knows it is behind the snapshot.
    auto commit = CommitIndex(cluster, leader);
    REQUIRE_OK(commit);
    REQUIRE_OK_WITH_STATUS(cluster, cluster.WaitApplied(follower, *commit, 20s));
    cluster.Kill9(follower);
    write(10, 300);
  } else {
    write(0, 300);
  }

  // The leader's log no longer holds the early entries.
  auto compacted = cluster.Admin(leader, wire::AdminAction::kCompact, ClusterHarness::id(leader));
  REQUIRE_OK(compacted);
  INFO("compact answered " << *compacted);
  auto after = cluster.StatusJson(leader);
  REQUIRE_OK(after);
  uint64_t snapshot_index = RaftU64(*after, "snapshot_index");
  CHECK(snapshot_index >= 300);
  CHECK(RaftU64(*after, "first_index") == snapshot_index + 1);

  if (!down_before_compact) cluster.Kill9(follower);
  // More writes while it is gone, so it needs the snapshot and the entries after it.
  write(300, 350);
  if (wipe) {
    REQUIRE_OK(cluster.WipeAndRestart(follower));
  } else {
    REQUIRE_OK(cluster.Restart(follower));
  }

  auto commit = CommitIndex(cluster, leader);
  REQUIRE_OK(commit);
  REQUIRE_OK_WITH_STATUS(cluster, cluster.WaitApplied(follower, *commit, 20s));
  auto fs = cluster.StatusJson(follower);
  REQUIRE_OK(fs);
  INFO("restored follower: " << fs->dump());
  CHECK(RaftU64(*fs, "snapshots_installed") >= 1);
  CHECK(RaftU64(*fs, "snapshot_index") >= snapshot_index);
  auto ls = cluster.StatusJson(leader);
  REQUIRE_OK(ls);
  CHECK(RaftU64(*ls, "snapshots_sent") >= 1);

  auto fc = cluster.NodeClient(follower);
  std::vector<std::string> missing = CheckAcked(*fc, acks, wire::Consistency::kFollower);
  INFO(missing.size() << " writes missing at the restored follower:" << FirstFew(missing));
  REQUIRE(missing.empty());
}

// Found failing by this test: the leader kept the match index the follower had before
// the wipe, so its probes never went below the compacted log and it never sent the
// snapshot. The leader now starts over from what the follower reports it has.
TEST_CASE("cluster: a follower whose data dir is wiped is restored by snapshot",
          "[integration][cluster]") {
  SnapshotCatchUp(/*down_before_compact=*/false, /*wipe=*/true);
}

TEST_CASE(
    "cluster: a follower that was down while the leader compacted catches up by "
    "snapshot",
    "[integration][cluster]") {
  bool wipe = GENERATE(false, true);
  INFO((wipe ? "data dir wiped" : "same data dir"));
  SnapshotCatchUp(/*down_before_compact=*/true, wipe);
}

TEST_CASE("cluster: pipelined requests sent to a follower are redirected to the leader",
          "[integration][cluster]") {
  // A regression test: the client used to send requests that were waiting for a redirect
  // to drain the connection to the same follower again, so with requests pipelined the
  // connection never drained and every request failed with NOT_LEADER after
  // max_redirects rounds.
  ClusterHarness cluster;
  REQUIRE_STARTED(cluster);
  auto l = cluster.Leader();
  REQUIRE_OK(l);
  size_t leader = *l;
  size_t follower = (leader + 1) % cluster.size();
  for (int n = 0; n < 20; ++n) {
    REQUIRE_OK(cluster.client().Put(fmt::format("pipe/{}", n), "v"));
  }

  // Every endpoint, the follower first: the client connects to the follower.
  client::ClientOptions o;
  o.endpoints = {cluster.endpoint(follower), cluster.endpoint(leader)};
  for (size_t i = 0; i < cluster.size(); ++i) {
    if (i != leader && i != follower) o.endpoints.push_back(cluster.endpoint(i));
  }
  client::Client c(o);
  REQUIRE_OK(c.Connect());
  REQUIRE(c.connected_endpoint() == cluster.endpoint(follower));

  std::mutex mu;
  std::condition_variable cv;
  int done = 0, ok = 0;
  std::map<std::string, int> errors;
  const int kRequests = 200;
  for (int n = 0; n < kRequests; ++n) {
    wire::Request r;
    r.options.consistency = wire::Consistency::kLinearizable;
    r.body = wire::GetRequest{fmt::format("pipe/{}", n % 20)};
    c.Send(std::move(r), [&](Result<wire::Response> resp) {
      std::lock_guard lock(mu);
      if (resp.ok() && resp->ok()) {
        ++ok;
      } else {
        ++errors[resp.ok() ? resp->ToStatus().ToString() : resp.status().ToString()];
      }
      ++done;
      cv.notify_all();
    });
  }
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done == kRequests; });
  }
  std::string seen;
  for (const auto& [text, n] : errors) seen += fmt::format("\n  {} x {}", n, text);
  INFO(kRequests - ok << " of " << kRequests << " pipelined reads failed:" << seen);
  CHECK(ok == kRequests);
  CHECK(c.connected_endpoint() == cluster.endpoint(leader));
}

TEST_CASE(
    "cluster: with failover manual, no leader is elected until promote, and the old "
    "leader is fenced",
    "[integration][cluster]") {
  ClusterOptions opts;
  opts.raft_yaml = "  failover: manual\n";
  ClusterHarness cluster(opts);
  REQUIRE_STARTED(cluster);  // the first leader is elected automatically
  auto l = cluster.Leader();
  REQUIRE_OK(l);
  size_t old_leader = *l;
  REQUIRE_OK(cluster.client().Put("before", "1"));
  auto old_status = cluster.StatusJson(old_leader);
  REQUIRE_OK(old_status);
  CHECK((*old_status)["raft"]["failover"] == "manual");
  uint64_t old_term = RaftU64(*old_status, "term");

  cluster.Kill9(old_leader);
  auto killed = Clock::now();

  // For 3 s (three election timeouts) no survivor becomes leader and no write is
  // acknowledged. This wait is the point of the test: it is a timing bound.
  client::ClientOptions wo;
  wo.request_timeout = 300ms;
  auto writer = cluster.NewClient(wo);
  int attempts = 0;
  while (Clock::now() - killed < 3s) {
    for (size_t i = 0; i < cluster.size(); ++i) {
      if (i == old_leader) continue;
      auto s = cluster.StatusJson(i);
      if (!s.ok()) continue;
      INFO("after " << Ms(Clock::now() - killed) << " ms node " << ClusterHarness::id(i) << ": "
                    << s->dump());
      REQUIRE((*s)["role"] != "leader");
    }
    auto put = writer->Put(fmt::format("during/{}", attempts), "x");
    INFO("write attempt " << attempts << " after " << Ms(Clock::now() - killed) << " ms");
    REQUIRE_FALSE(put.ok());
    ++attempts;
  }
  CHECK(attempts >= 3);

  // Promote a survivor: it becomes leader and takes writes.
  size_t promoted = (old_leader + 1) % cluster.size();
  auto promote_start = Clock::now();
  auto answer = cluster.Admin(promoted, wire::AdminAction::kPromote, ClusterHarness::id(promoted));
  REQUIRE_OK(answer);
  INFO("promote answered " << *answer);
  REQUIRE_OK_WITH_STATUS(cluster, cluster.WaitForLeader(promoted, 10s));
  std::printf("cluster manual failover: node %llu leader %ld ms after promote\n",
              static_cast<unsigned long long>(ClusterHarness::id(promoted)),
              Ms(Clock::now() - promote_start));
  auto put = cluster.client().Put("after", "2");
  REQUIRE_OK(put);
  auto before = cluster.client().Get("before");
  REQUIRE_OK(before);
  CHECK(before->value == "1");
  auto ns = cluster.StatusJson(promoted);
  REQUIRE_OK(ns);
  uint64_t new_term = RaftU64(*ns, "term");
  CHECK(new_term > old_term);

  // The old leader comes back as a follower of the new term and stays one.
  REQUIRE_OK(cluster.Restart(old_leader));
  auto deadline = Clock::now() + 15s;
  nlohmann::json seen;
  while (true) {
    auto s = cluster.StatusJson(old_leader);
    if (s.ok()) {
      seen = *s;
      if (seen["role"] == "follower" &&
          RaftU64(seen, "leader_id") == ClusterHarness::id(promoted) &&
          RaftU64(seen, "term") >= new_term) {
        break;
      }
    }
    INFO("restarted old leader: " << seen.dump());
    REQUIRE(Clock::now() < deadline);
    std::this_thread::sleep_for(20ms);
  }
  // Watch for 3 s (again a timing bound): nobody else takes over.
  auto watch_until = Clock::now() + 3s;
  while (Clock::now() < watch_until) {
    auto s = cluster.StatusJson(old_leader);
    REQUIRE_OK(s);
    INFO("restarted old leader: " << s->dump());
    REQUIRE((*s)["role"] != "leader");
    REQUIRE(RaftU64(*s, "leader_id") == ClusterHarness::id(promoted));
    std::this_thread::sleep_for(100ms);
  }
  auto still = cluster.CurrentLeader();
  REQUIRE(still.has_value());
  CHECK(*still == promoted);
  // And it applies new writes.
  REQUIRE_OK(cluster.client().Put("fenced", "3"));
  REQUIRE_OK(WaitFollowerSees(cluster, old_leader, "fenced", "3"));
  REQUIRE_OK(WaitFollowerSees(cluster, old_leader, "before", "1"));
}

TEST_CASE("cluster: leadership transfer to a named node loses no acknowledged write",
          "[integration][cluster]") {
  ClusterHarness cluster;
  REQUIRE_STARTED(cluster);
  auto l = cluster.Leader();
  REQUIRE_OK(l);
  size_t from = *l;
  size_t to = (from + 2) % cluster.size();

  WriteLoad load(cluster, 4, "xfer/");
  REQUIRE(load.WaitAcked(200, 20s));
  auto started = Clock::now();
  auto answer = cluster.Admin(from, wire::AdminAction::kTransferLeader, ClusterHarness::id(to));
  REQUIRE_OK(answer);
  INFO("transfer answered " << *answer);
  REQUIRE_OK_WITH_STATUS(cluster, cluster.WaitForLeader(to, 10s));
  long transfer_ms = Ms(Clock::now() - started);
  auto first_ack = load.WaitFirstAckAfter(started, cluster.endpoint(from), 20s);
  INFO("write errors seen:" << load.errors());
  REQUIRE(first_ack.has_value());
  size_t before = load.acked();
  CHECK(load.WaitAcked(before + 100, 20s));
  load.Stop();
  std::printf(
      "cluster transfer: node %llu -> node %llu leader after %ld ms, first write "
      "acknowledged by another node after %ld ms; %zu acknowledged, %zu failed\n",
      static_cast<unsigned long long>(ClusterHarness::id(from)),
      static_cast<unsigned long long>(ClusterHarness::id(to)), transfer_ms,
      Ms(*first_ack - started), load.acked(), load.failed());
  std::fflush(stdout);

  std::map<std::string, AckedWrite> acks = load.acks();
  std::vector<std::string> lost =
      CheckAcked(cluster.client(), acks, wire::Consistency::kLinearizable);
  INFO(lost.size() << " of " << acks.size() << " acknowledged writes lost:" << FirstFew(lost));
  REQUIRE(lost.empty());

  // The old leader follows the new one.
  auto s = cluster.StatusJson(from);
  REQUIRE_OK(s);
  CHECK((*s)["role"] == "follower");
  // ADMIN transfer-leader sent to a follower is refused with NOT_LEADER.
  auto refused = cluster.Admin(from, wire::AdminAction::kTransferLeader, ClusterHarness::id(from));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == Code::kNotLeader);
}

TEST_CASE("cluster: kill -9 of every node under write load loses no acknowledged write",
          "[integration][cluster]") {
  ClusterHarness cluster;
  REQUIRE_STARTED(cluster);
  REQUIRE_OK(cluster.Leader());
  WriteLoad load(cluster, 4, "all/", 1s);
  REQUIRE(load.WaitAcked(300, 20s));
  // Every node dies with writes in flight; an acknowledged write is on a majority's disk.
  for (size_t i = 0; i < cluster.size(); ++i) cluster.Kill9(i);
  load.Stop();
  std::map<std::string, AckedWrite> acks = load.acks();

  for (size_t i = 0; i < cluster.size(); ++i) REQUIRE_OK(cluster.Restart(i));
  auto leader = cluster.Leader();
  REQUIRE_OK(leader);
  std::vector<std::string> lost =
      CheckAcked(cluster.client(), acks, wire::Consistency::kLinearizable);
  INFO(lost.size() << " of " << acks.size() << " acknowledged writes lost:" << FirstFew(lost));
  REQUIRE(lost.empty());
  // And the cluster takes writes again.
  REQUIRE_OK(cluster.client().Put("after-restart", "ok"));
}

struct ConfigCase {
  const char* what;
  std::string members;     // the cluster.members entries
  std::string more;        // more YAML
  std::string node_id;     // --node-id
  std::string want_field;  // the error line must name this field
};

TEST_CASE("cluster: a bad cluster config exits 2 and names the field", "[integration][cluster]") {
  const std::string three =
      "    - {id: 1, client: 127.0.0.1:17401, peer: 127.0.0.1:17501}\n"
      "    - {id: 2, client: 127.0.0.1:17402, peer: 127.0.0.1:17502}\n"
      "    - {id: 3, client: 127.0.0.1:17403, peer: 127.0.0.1:17503}\n";
  ConfigCase c = GENERATE_COPY(values<ConfigCase>({
      {"node id not in members", three, "", "4", "node.id"},
      {"peer address used twice",
       three + "    - {id: 4, client: 127.0.0.1:17404, peer: "
               "127.0.0.1:17502}\n",
       "", "1", "cluster.members[3].peer"},
      {"member without client", "    - {id: 1, peer: 127.0.0.1:17501}\n", "", "1",
       "cluster.members[0].client"},
      {"duplicate id", three + "    - {id: 2, client: 127.0.0.1:17404, peer: 127.0.0.1:17504}\n",
       "", "1", "cluster.members[3].id"},
      {"port 0", "    - {id: 1, client: 127.0.0.1:0, peer: 127.0.0.1:17501}\n", "", "1",
       "cluster.members[0].client"},
      {"unknown member field",
       "    - {id: 1, client: 127.0.0.1:17401, peer: 127.0.0.1:17501, "
       "rack: a}\n",
       "", "1", "cluster.members[0].rack"},
      {"bad replication mode", three, "raft:\n  replication: quorate\n", "1", "raft.replication"},
      {"heartbeat too long", three, "raft:\n  heartbeat_interval_ms: 600\n", "1",
       "raft.heartbeat_interval_ms"},
  }));
  INFO("case: " << c.what);
  KvdOptions o;
  o.yaml =
      "node:\n  mode: leader_follower\ncluster:\n  name: kvd-it\n  members:\n" + c.members + c.more;
  o.listen_flags = false;
  o.extra_args = {"--node-id", c.node_id};
  KvdProcess kvd(o);
  CommandResult r = kvd.RunToExit();
  INFO("output:\n" << r.err);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::Contains(c.want_field + ":"));
  CHECK_FALSE(std::filesystem::exists(kvd.data_dir()));
}

TEST_CASE("cluster: with follower_writes forward, a follower relays writes to the leader",
          "[integration][cluster]") {
  // raft.follower_writes: forward: a client that talks to a follower only (it does not
  // follow redirects) gets its writes applied and answered through the follower. The
  // answer is the leader's (a version and a session token), and a retry with the same
  // (client id, sequence) is answered from the dedup table, not applied twice.
  ClusterOptions options;
  options.raft_yaml = "  follower_writes: forward\n";
  ClusterHarness cluster(options);
  REQUIRE_STARTED(cluster);
  auto l = cluster.Leader();
  REQUIRE_OK(l);
  size_t follower = (*l + 1) % cluster.size();
  auto fc = cluster.NodeClient(follower);
  auto put = fc->Put("fwd/a", "one");
  REQUIRE_OK(put);
  uint64_t version = put->version;
  CHECK(version > 0);
  // The same write again with a fixed dedup pair: answered, not applied twice.
  wire::Request r;
  r.options.client_id = 4242;
  r.options.sequence = 7;
  r.body = wire::PutRequest{"fwd/b", "two", 0};
  auto first = fc->Call(r);
  REQUIRE_OK(first);
  REQUIRE(first->ok());
  auto again = fc->Call(r);
  REQUIRE_OK(again);
  REQUIRE(again->ok());
  CHECK(std::get<wire::PutResponse>(again->body).version ==
        std::get<wire::PutResponse>(first->body).version);
  // Both values are on the leader (a linearizable read through the cluster client).
  auto got = cluster.client().Get("fwd/a");
  REQUIRE_OK(got);
  CHECK(got->value == "one");
  auto got_b = cluster.client().Get("fwd/b");
  REQUIRE_OK(got_b);
  CHECK(got_b->version == std::get<wire::PutResponse>(first->body).version);
  // The follower's status counts no forward left waiting.
  auto st = cluster.StatusJson(follower);
  REQUIRE_OK(st);
  CHECK((*st)["raft"]["follower_writes"] == "forward");
  CHECK((*st)["raft"]["pending_forwards"] == 0);
}

}  // namespace
}  // namespace kvd::test
