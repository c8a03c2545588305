#include "client/bench/runner.h"

#include <fmt/format.h>

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

namespace kvd::bench {

namespace {

using Clock = std::chrono::steady_clock;

uint64_t NowNs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

// What one thread recorded in one phase.
struct Recorder {
  Histogram all;
  Histogram by_op[kOpTypes];
  uint64_t ops = 0;
  uint64_t not_found = 0;
  std::map<std::string, uint64_t> errors;
};

// The recorders of one phase: each driver thread records into its own, without locks.
class Recorders {
 public:
  Recorders() : id_(next_id_.fetch_add(1)) {}

  Recorder& Local() {
    thread_local uint64_t cached_id = 0;
    thread_local Recorder* cached = nullptr;
    if (cached_id != id_) {
      std::lock_guard lock(mu_);
      list_.push_back(std::make_unique<Recorder>());
      cached = list_.back().get();
      cached_id = id_;
    }
    return *cached;
  }

  // REQUIRES: no thread records any more.
  void MergeInto(PhaseResult* out) {
    std::lock_guard lock(mu_);
    for (const auto& r : list_) {
      out->all.Merge(r->all);
      for (size_t i = 0; i < kOpTypes; ++i) out->by_op[i].Merge(r->by_op[i]);
      out->ops += r->ops;
      out->not_found += r->not_found;
      for (const auto& [kind, n] : r->errors) out->errors[kind] += n;
    }
  }

 private:
  static inline std::atomic<uint64_t> next_id_{1};
  uint64_t id_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Recorder>> list_;
};

struct Conn {
  std::unique_ptr<BenchConnection> connection;
  std::unique_ptr<KeyChooser> chooser;
  std::atomic<uint64_t> completed{0};
  std::atomic<uint64_t> inflight{0};
  // Open loop: scheduled start times waiting for a free pipeline slot.
  std::mutex mu;
  std::deque<uint64_t> backlog;
  uint64_t next_due_ns = 0;
};

class Phase {
 public:
  Phase(const RunOptions& o, std::vector<std::unique_ptr<Conn>>* conns, const ValueSource* values,
        bool load)
      : o_(o), conns_(*conns), values_(values), load_(load) {}

  // Runs the phase to its end; fills *out.
  void Execute(PhaseResult* out);

 private:
  void Issue(Conn& c, uint64_t intended_ns);
  void OnDone(Conn& c, OpType type, uint64_t intended_ns, const OpOutcome& outcome);
  void Next(Conn& c);  // after a completion: the next op, if any
  bool TakeOp();       // counts an op against --ops / the load size; false when done
  void ScheduleOpenLoop(uint64_t end_ns);
  void WaitDrained(uint64_t deadline_ns);
  uint64_t Completed() const;
  void Progress(uint64_t now_ns, uint64_t start_ns, uint64_t* last_completed);

  const RunOptions& o_;
  std::vector<std::unique_ptr<Conn>>& conns_;
  const ValueSource* values_;
  bool load_;
  Recorders recorders_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> taken_{0};
  uint64_t measure_start_ns_ = 0;
  std::vector<uint64_t> per_second_;
};

bool Phase::TakeOp() {
  if (stop_.load(std::memory_order_relaxed)) return false;
  uint64_t limit = load_ ? o_.keys : o_.ops;
  if (limit == 0) return true;
  if (taken_.fetch_add(1, std::memory_order_relaxed) < limit) return true;
  stop_ = true;
  return false;
}

void Phase::Issue(Conn& c, uint64_t intended_ns) {
  std::mt19937_64& rng = c.chooser->rng();
  if (load_) {
    uint64_t index = c.chooser->NextInsert();
    if (index >= o_.keys) {
      stop_ = true;
      OnDone(c, OpType::kInsert, UINT64_MAX, {true, true, {}});
      return;
    }
    c.connection->Set(KeyName(index), values_->Next(rng), [this, &c, intended_ns](const OpOutcome& r) {
      OnDone(c, OpType::kInsert, intended_ns, r);
    });
    return;
  }
  OpType type = ChooseOp(o_.workload, rng);
  switch (type) {
    case OpType::kRead:
      c.connection->Get(KeyName(c.chooser->NextExisting()),
                        [this, &c, intended_ns](const OpOutcome& r) {
                          OnDone(c, OpType::kRead, intended_ns, r);
                        });
      return;
    case OpType::kUpdate:
      c.connection->Set(KeyName(c.chooser->NextExisting()), values_->Next(rng),
                        [this, &c, intended_ns](const OpOutcome& r) {
                          OnDone(c, OpType::kUpdate, intended_ns, r);
                        });
      return;
    case OpType::kInsert:
      c.connection->Set(KeyName(c.chooser->NextInsert()), values_->Next(rng),
                        [this, &c, intended_ns](const OpOutcome& r) {
                          OnDone(c, OpType::kInsert, intended_ns, r);
                        });
      return;
    case OpType::kReadModifyWrite: {
      std::string key = KeyName(c.chooser->NextExisting());
      c.connection->Get(key, [this, &c, intended_ns, key](const OpOutcome& r) {
        if (!r.ok) return OnDone(c, OpType::kReadModifyWrite, intended_ns, r);
        c.connection->Set(key, values_->Next(c.chooser->rng()),
                          [this, &c, intended_ns](const OpOutcome& w) {
                            OnDone(c, OpType::kReadModifyWrite, intended_ns, w);
                          });
      });
      return;
    }
  }
}

void Phase::OnDone(Conn& c, OpType type, uint64_t intended_ns, const OpOutcome& outcome) {
  if (intended_ns != UINT64_MAX) {
    uint64_t now = NowNs();
    if (intended_ns >= measure_start_ns_) {
      Recorder& r = recorders_.Local();
      if (outcome.ok) {
        uint64_t latency = now > intended_ns ? now - intended_ns : 0;
        r.all.Record(latency);
        r.by_op[static_cast<int>(type)].Record(latency);
        ++r.ops;
        if (type == OpType::kRead && !outcome.found) ++r.not_found;
      } else {
        ++r.errors[std::string(outcome.error_kind)];
      }
    }
    c.completed.fetch_add(1, std::memory_order_relaxed);
  }
  Next(c);
}

void Phase::Next(Conn& c) {
  if (o_.rate > 0 && !load_) {
    uint64_t next = 0;
    {
      std::lock_guard lock(c.mu);
      if (c.backlog.empty()) {
        c.inflight.fetch_sub(1);
        return;
      }
      next = c.backlog.front();
      c.backlog.pop_front();
    }
    Issue(c, next);
    return;
  }
  if (TakeOp()) {
    Issue(c, NowNs());
  } else {
    c.inflight.fetch_sub(1);
  }
}

void Phase::ScheduleOpenLoop(uint64_t end_ns) {
  double per_conn = o_.rate / static_cast<double>(conns_.size());
  auto interval = static_cast<uint64_t>(1e9 / per_conn);
  uint64_t start = NowNs();
  for (size_t i = 0; i < conns_.size(); ++i) {
    conns_[i]->next_due_ns = start + interval * i / conns_.size();  // spread the phases
  }
  while (!stop_.load()) {
    uint64_t now = NowNs();
    if (now >= end_ns) break;
    uint64_t earliest = UINT64_MAX;
    for (auto& cp : conns_) {
      Conn& c = *cp;
      while (c.next_due_ns <= now) {
        if (!TakeOp()) break;
        uint64_t due = c.next_due_ns;
        c.next_due_ns += interval;
        bool send = false;
        {
          std::lock_guard lock(c.mu);
          if (c.inflight.load() < o_.pipeline) {
            c.inflight.fetch_add(1);
            send = true;
          } else {
            c.backlog.push_back(due);
          }
        }
        if (send) Issue(c, due);
      }
      earliest = std::min(earliest, c.next_due_ns);
    }
    if (stop_.load()) break;
    std::this_thread::sleep_until(Clock::time_point(std::chrono::nanoseconds(earliest)));
  }
  stop_ = true;
}

uint64_t Phase::Completed() const {
  uint64_t total = 0;
  for (const auto& c : conns_) total += c->completed.load(std::memory_order_relaxed);
  return total;
}

void Phase::WaitDrained(uint64_t deadline_ns) {
  while (NowNs() < deadline_ns) {
    bool idle = true;
    for (const auto& c : conns_) idle = idle && c->inflight.load() == 0;
    if (idle) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void Phase::Progress(uint64_t now_ns, uint64_t start_ns, uint64_t* last_completed) {
  uint64_t completed = Completed();
  per_second_.push_back(completed - *last_completed);
  *last_completed = completed;
  if (!o_.progress) return;
  double elapsed = static_cast<double>(now_ns - start_ns) / 1e9;
  std::string phase = load_ ? "load" : (now_ns < measure_start_ns_ ? "warm-up" : "run");
  o_.progress(fmt::format("{:6.1f}s  {:<7}  {:>10} ops/s  {:>12} ops total", elapsed, phase,
                          per_second_.back(), completed));
}

void Phase::Execute(PhaseResult* out) {
  uint64_t start = NowNs();
  measure_start_ns_ = load_ ? start : start + static_cast<uint64_t>(o_.warmup.count()) * 1'000'000;
  bool by_ops = load_ || o_.ops > 0;
  uint64_t end = by_ops ? UINT64_MAX
                        : measure_start_ns_ + static_cast<uint64_t>(o_.duration.count()) * 1'000'000;
  std::thread scheduler;
  if (o_.rate > 0 && !load_) {
    scheduler = std::thread([this, end] { ScheduleOpenLoop(end); });
  } else {
    size_t depth = load_ ? std::max<size_t>(o_.pipeline, 16) : o_.pipeline;
    for (auto& c : conns_) {
      for (size_t i = 0; i < depth && TakeOp(); ++i) {
        c->inflight.fetch_add(1);
        Issue(*c, NowNs());
      }
    }
  }
  uint64_t last_completed = 0;
  uint64_t next_tick = start + 1'000'000'000;
  while (true) {
    uint64_t now = NowNs();
    bool idle = true;
    for (const auto& c : conns_) idle = idle && c->inflight.load() == 0;
    if (now >= end || (stop_.load() && idle)) break;
    if (now >= next_tick) {
      Progress(now, start, &last_completed);
      next_tick += 1'000'000'000;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  uint64_t measured_end = NowNs();
  stop_ = true;
  if (scheduler.joinable()) scheduler.join();
  WaitDrained(NowNs() + 30'000'000'000ULL);
  // Drop backlogged open-loop operations that were never sent.
  for (auto& c : conns_) {
    std::lock_guard lock(c->mu);
    c->backlog.clear();
  }
  out->seconds = static_cast<double>(measured_end - std::min(measured_end, measure_start_ns_)) / 1e9;
  recorders_.MergeInto(out);
  out->per_second = per_second_;
}

}  // namespace

Result<RunResult> Run(Driver& driver, const RunOptions& o) {
  KVD_ASSERT(o.connections > 0);
  KVD_ASSERT(o.pipeline > 0);
  ValueSource values(o.value_size, o.seed);
  Zipfian zipf(std::max<uint64_t>(o.keys, 1));
  std::atomic<uint64_t> inserted{o.load ? 0 : o.keys};
  std::vector<std::unique_ptr<Conn>> conns;
  for (size_t i = 0; i < o.connections; ++i) {
    auto c = std::make_unique<Conn>();
    KVD_ASSIGN_OR_RETURN(c->connection, driver.Open(i));
    c->chooser = std::make_unique<KeyChooser>(o.workload.distribution, &zipf, &inserted,
                                              o.seed * 1000003 + i);
    conns.push_back(std::move(c));
  }
  RunResult result;
  if (o.load) {
    Phase load(o, &conns, &values, /*load=*/true);
    load.Execute(&result.load);
    inserted = o.keys;
    for (auto& c : conns) c->completed = 0;
  }
  Phase run(o, &conns, &values, /*load=*/false);
  run.Execute(&result.run);
  conns.clear();  // closes connections before the driver's threads go away
  return result;
}

}  // namespace kvd::bench
