// A small driver for Raft cores in unit tests: N `Raft` objects, an in-memory network and
// an in-memory disk per node, all in one thread with fixed seeds.
//
// The harness plays the part of the driver described in server/topology/raft/raft.h. For
// every RaftOutput it takes: (1) it writes the hard state and the log changes to the
// node's Disk, checking that they are well formed (appends contiguous, a compaction base
// never past what the driver has applied); (2) it queues `early_messages` on the network
// at once; (3) it "applies" `committed`, checking that indexes follow each other, and
// records reads, failed reads, abandoned proposals and snapshot work; (4) it reports
// durability with OnPersisted(last entry index, term) and only then queues `messages`,
// unless the test turned automatic persistence off for the node, in which case both wait
// for Persist(); (5) when enabled, it streams snapshots itself (one chunk holding the
// leader's applied prefix) and installs them on the receiver.
//
// The network is a FIFO queue. Each delivered message goes through the codec
// (messages.h) first, as the simulator does. Tests drop messages with Isolate(), Cut() or
// a `drop` predicate, and delay them with a `hold` predicate and ReleaseHeld(). After
// every input the harness checks the core's invariants (first those visible through
// GetStatus() with REQUIRE, so that a violation fails the test case instead of aborting
// the binary, then CheckInvariants()), checks that the Disk mirrors the core's log, and
// checks state machine safety across nodes (no two nodes applied different entries at
// one index) unless a test disables it.
//
// Thread-safety: none; one test thread.
#pragma once

#include <catch2/catch.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/rng.h"
#include "server/topology/raft/messages.h"
#include "server/topology/raft/raft.h"

namespace kvd::raft::test {

// The one seed every test starts from; node `id` draws from Rng(kSeed + id).
inline constexpr uint64_t kSeed = 0x6b76'6452'6166'7431ULL;

// ---- value builders (fields set by name, so new fields keep their defaults) ----

inline Membership MakeMembership(std::vector<uint64_t> voters,
                                 std::vector<uint64_t> learners = {}) {
  Membership m;
  m.voters = std::move(voters);
  m.learners = std::move(learners);
  return m;
}

// Voters 1..n.
inline Membership VotersUpTo(uint64_t n) {
  std::vector<uint64_t> v;
  for (uint64_t id = 1; id <= n; ++id) v.push_back(id);
  return MakeMembership(std::move(v));
}

inline Entry MakeEntry(uint64_t index, uint64_t term, EntryType type = EntryType::kCommand,
                       std::string data = {}) {
  Entry e;
  e.index = index;
  e.term = term;
  e.type = type;
  e.data = data.empty() && type == EntryType::kCommand ? "e" + std::to_string(index) : data;
  return e;
}

// Command entries first, first+1, ... with the given terms.
inline std::vector<Entry> EntriesOfTerms(const std::vector<uint64_t>& terms, uint64_t first = 1) {
  std::vector<Entry> out;
  for (size_t i = 0; i < terms.size(); ++i) out.push_back(MakeEntry(first + i, terms[i]));
  return out;
}

// `count` entries of one term, from `first`.
inline std::vector<Entry> EntriesOfTerm(uint64_t term, uint64_t first, uint64_t count) {
  return EntriesOfTerms(std::vector<uint64_t>(count, term), first);
}

inline std::vector<uint64_t> TermsOf(const std::vector<Entry>& entries) {
  std::vector<uint64_t> t;
  for (const Entry& e : entries) t.push_back(e.term);
  return t;
}

// The code of a result (kOk when it holds a value).
template <typename T>
Code CodeOf(const Result<T>& r) {
  return r.ok() ? Code::kOk : r.status().code();
}

inline Message MakeMessage(MessageType type, uint64_t from, uint64_t to, uint64_t term,
                           MessageBody body) {
  Message m;
  m.type = type;
  m.from = from;
  m.to = to;
  m.term = term;
  m.body = std::move(body);
  return m;
}

inline Message VoteMsg(uint64_t from, uint64_t to, uint64_t term, uint64_t last_index,
                       uint64_t last_term, bool force = false,
                       MessageType type = MessageType::kVote) {
  VoteRequest v;
  v.last_log_index = last_index;
  v.last_log_term = last_term;
  v.force = force;
  return MakeMessage(type, from, to, term, v);
}

inline Message VoteResponseMsg(uint64_t from, uint64_t to, uint64_t term, bool granted,
                               MessageType type = MessageType::kVoteResponse) {
  VoteResponse r;
  r.granted = granted;
  return MakeMessage(type, from, to, term, r);
}

inline Message AppendMsg(uint64_t from, uint64_t to, uint64_t term, uint64_t prev_index,
                         uint64_t prev_term, uint64_t commit, std::vector<Entry> entries = {}) {
  AppendRequest a;
  a.prev_index = prev_index;
  a.prev_term = prev_term;
  a.commit = commit;
  a.entries = std::move(entries);
  return MakeMessage(MessageType::kAppend, from, to, term, std::move(a));
}

inline Message AppendResponseMsg(uint64_t from, uint64_t to, uint64_t term, bool success,
                                 uint64_t index, uint64_t hint_index = 0,
                                 uint64_t hint_term = 0) {
  AppendResponse r;
  r.success = success;
  r.index = index;
  r.hint_index = hint_index;
  r.hint_term = hint_term;
  return MakeMessage(MessageType::kAppendResponse, from, to, term, r);
}

inline Message HeartbeatMsg(uint64_t from, uint64_t to, uint64_t term, uint64_t commit,
                            uint64_t seq = 1) {
  Heartbeat h;
  h.commit = commit;
  h.seq = seq;
  return MakeMessage(MessageType::kHeartbeat, from, to, term, h);
}

inline Message SnapshotMsg(uint64_t from, uint64_t to, uint64_t term, uint64_t index,
                           uint64_t snapshot_term, const Membership& membership,
                           uint64_t offset, bool done, std::string data) {
  SnapshotChunk c;
  c.index = index;
  c.snapshot_term = snapshot_term;
  c.membership = membership;
  c.offset = offset;
  c.done = done;
  c.data = std::move(data);
  return MakeMessage(MessageType::kSnapshot, from, to, term, std::move(c));
}

// Options for the tests: the defaults of raft.h, with automatic compaction off so a test
// only compacts when it means to.
inline RaftOptions TestOptions(uint64_t id) {
  RaftOptions o;
  o.id = id;
  o.election_timeout_ticks = 10;
  o.heartbeat_ticks = 1;
  o.snapshot_threshold_entries = 0;
  return o;
}

inline RecoveredState Fresh(const Membership& membership) {
  RecoveredState r;
  r.membership = membership;
  return r;
}

inline RecoveredState WithLog(const Membership& membership, uint64_t term,
                              std::vector<Entry> entries) {
  RecoveredState r;
  r.membership = membership;
  r.hard_state.term = term;
  r.entries = std::move(entries);
  return r;
}

// Messages of one type (optionally from/to given nodes) in a list.
inline std::vector<Message> Filter(const std::vector<Message>& messages, MessageType type,
                                   uint64_t from = 0, uint64_t to = 0) {
  std::vector<Message> out;
  for (const Message& m : messages) {
    if (m.type == type && (from == 0 || m.from == from) && (to == 0 || m.to == to)) {
      out.push_back(m);
    }
  }
  return out;
}

// Every message of an output, early ones first.
inline std::vector<Message> AllMessages(const RaftOutput& out) {
  std::vector<Message> all = out.early_messages;
  all.insert(all.end(), out.messages.begin(), out.messages.end());
  return all;
}

// The invariants that can be seen through the public API, checked with REQUIRE before
// CheckInvariants() runs, so that a violation fails the test case instead of aborting the
// whole test binary (CheckInvariants is the final authority and checks more).
inline void CheckVisibleInvariants(const Raft& r) {
  RaftStatus s = r.GetStatus();
  INFO("node " << s.id << " (" << RoleName(s.role) << ", term " << s.term << ")");
  REQUIRE(s.snapshot_index <= s.applied);
  REQUIRE(s.applied <= s.commit);
  REQUIRE((s.diverged || s.applied == s.commit));
  REQUIRE(s.commit <= s.last_index);
  REQUIRE(s.persisted <= s.last_index);
  if (s.role == Role::kLeader) {
    REQUIRE(s.leader == s.id);
    REQUIRE(s.vote == s.id);
  } else {
    // Only a leader tracks its peers' progress.
    REQUIRE(s.peers.empty());
  }
  if (s.role == Role::kCandidate) REQUIRE(s.vote == s.id);
}

inline void CheckAllInvariants(const Raft& r) {
  CheckVisibleInvariants(r);
  r.CheckInvariants();
}

// One core with its own Rng, driven by hand (no network, no disk): for tests that
// inspect a single output.
class SoloNode {
 public:
  SoloNode(const RaftOptions& options, RecoveredState recovered, uint64_t seed = kSeed)
      : rng_(seed + options.id), raft_(options, std::move(recovered), &rng_) {
    CheckAllInvariants(raft_);
  }
  SoloNode(const SoloNode&) = delete;
  SoloNode& operator=(const SoloNode&) = delete;

  Raft& raft() { return raft_; }
  Raft* operator->() { return &raft_; }

  // Steps, checks invariants, and returns the output (persisting its entries at once).
  RaftOutput Step(const Message& m) {
    raft_.Step(m);
    CheckAllInvariants(raft_);
    return Take();
  }
  RaftOutput Tick(int times = 1) {
    RaftOutput merged;
    for (int i = 0; i < times; ++i) {
      raft_.Tick();
      CheckAllInvariants(raft_);
      Merge(&merged, Take());
    }
    return merged;
  }
  // Takes the output and reports its entries durable.
  RaftOutput Take() {
    RaftOutput out = raft_.TakeOutput();
    CheckAllInvariants(raft_);
    if (!out.entries.empty()) {
      raft_.OnPersisted(out.entries.back().index, out.entries.back().term);
      CheckAllInvariants(raft_);
      // Persisting may commit (a leader counting itself): fold that output in.
      RaftOutput more = raft_.TakeOutput();
      CheckAllInvariants(raft_);
      Merge(&out, std::move(more));
    }
    return out;
  }
  // Makes this node (a voter) the leader of the next term: campaigns and receives grants
  // from the given voters.
  RaftOutput BecomeLeaderWith(const std::vector<uint64_t>& granters) {
    REQUIRE(raft_.Campaign().ok());
    RaftOutput out = Take();
    for (uint64_t g : granters) {
      Merge(&out, Step(VoteResponseMsg(g, raft_.id(), raft_.term(), true)));
    }
    REQUIRE(raft_.role() == Role::kLeader);
    return out;
  }

  // Folds a later output into an earlier one (for inspection, and for storage when the
  // later output does not truncate entries of the earlier one).
  static void Merge(RaftOutput* into, RaftOutput from) {
    if (from.hard_state) into->hard_state = from.hard_state;
    if (from.log_from != 0) into->log_from = from.log_from;
    auto append = [](auto& a, auto& b) {
      a.insert(a.end(), std::make_move_iterator(b.begin()), std::make_move_iterator(b.end()));
    };
    append(into->entries, from.entries);
    if (from.compact_index != 0) {
      into->compact_index = from.compact_index;
      into->compact_term = from.compact_term;
      into->compact_membership = from.compact_membership;
    }
    append(into->early_messages, from.early_messages);
    append(into->messages, from.messages);
    append(into->committed, from.committed);
    append(into->reads, from.reads);
    append(into->failed_reads, from.failed_reads);
    append(into->snapshot_sends, from.snapshot_sends);
    append(into->snapshot_progress, from.snapshot_progress);
    append(into->snapshot_receives, from.snapshot_receives);
    append(into->abandoned, from.abandoned);
  }

 private:
  Rng rng_;
  Raft raft_;
};

// What the driver stored for one node.
struct Disk {
  HardState hard_state;
  uint64_t base_index = 0;
  uint64_t base_term = 0;
  Membership base_membership;
  std::map<uint64_t, Entry> entries;

  uint64_t LastIndex() const { return entries.empty() ? base_index : entries.rbegin()->first; }
};

// Everything the harness saw one node output.
struct NodeRecord {
  Disk disk;
  bool auto_persist = true;
  std::optional<std::pair<uint64_t, uint64_t>> unpersisted;  // (index, term) not yet reported
  std::vector<Message> held;                                 // `messages` waiting for Persist
  uint64_t applied_index = 0;
  std::map<uint64_t, Entry> state;  // the "state machine": every applied entry by index
  std::vector<ReadReady> reads;
  std::vector<ReadFailed> failed_reads;
  std::vector<uint64_t> abandoned;
  std::vector<SnapshotSend> snapshot_sends;
  std::vector<SnapshotProgress> snapshot_progress;
  std::vector<SnapshotReceive> snapshot_receives;
  std::vector<uint64_t> compactions;  // compact_index of each output that compacted
};

struct NodeSpec {
  RaftOptions options;
  RecoveredState recovered;
};

class Cluster {
 public:
  // `voters` fresh voters 1..n; `tweak` adjusts every node's options.
  explicit Cluster(uint64_t voters, const std::function<void(RaftOptions&)>& tweak = {}) {
    Membership m = VotersUpTo(voters);
    for (uint64_t id = 1; id <= voters; ++id) {
      RaftOptions o = TestOptions(id);
      if (tweak) tweak(o);
      Add(NodeSpec{o, Fresh(m)});
    }
  }
  explicit Cluster(std::vector<NodeSpec> specs) {
    for (NodeSpec& s : specs) Add(std::move(s));
  }
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  void Add(NodeSpec spec) {
    uint64_t id = spec.options.id;
    REQUIRE(nodes_.count(id) == 0);
    Slot& s = nodes_[id];
    s.rng = std::make_unique<Rng>(kSeed + id);
    NodeRecord& rec = s.record;
    rec.disk.hard_state = spec.recovered.hard_state;
    rec.disk.base_index = spec.recovered.snapshot_index;
    rec.disk.base_term = spec.recovered.snapshot_term;
    rec.disk.base_membership = spec.recovered.membership;
    for (const Entry& e : spec.recovered.entries) rec.disk.entries[e.index] = e;
    rec.applied_index = spec.recovered.applied;
    s.raft = std::make_unique<Raft>(spec.options, std::move(spec.recovered), s.rng.get());
    CheckAllInvariants(*s.raft);
  }

  Raft& operator[](uint64_t id) { return *Get(id).raft; }
  NodeRecord& record(uint64_t id) { return Get(id).record; }
  std::vector<uint64_t> ids() const {
    std::vector<uint64_t> out;
    for (const auto& [id, s] : nodes_) out.push_back(id);
    return out;
  }

  // ---- network faults ----
  void Isolate(uint64_t id) { isolated_.insert(id); }
  void Rejoin(uint64_t id) { isolated_.erase(id); }
  void Cut(uint64_t a, uint64_t b) {
    cut_.insert({a, b});
    cut_.insert({b, a});
  }
  // Removes every fault (and the drop predicate).
  void Heal() {
    isolated_.clear();
    cut_.clear();
    drop = nullptr;
  }
  // Drops a message when it returns true (in addition to isolation and cuts).
  std::function<bool(const Message&)> drop;
  // Holds a message back (instead of delivering it) when it returns true, until
  // ReleaseHeld() puts the held messages back on the network.
  std::function<bool(const Message&)> hold;
  void ReleaseHeld() {
    for (Message& m : held_) queue_.push_back(std::move(m));
    held_.clear();
  }
  size_t held() const { return held_.size(); }
  // The harness streams SnapshotSend requests and installs received snapshots itself.
  bool auto_snapshot = true;
  // State machine safety is checked after every step (off for lossy replication modes).
  bool check_safety = true;

  // Every message a core emitted (delivered or not), and every one delivered.
  std::vector<Message> sent;
  std::vector<Message> delivered;
  size_t dropped = 0;

  size_t Count(MessageType type, uint64_t from = 0, uint64_t to = 0) const {
    return Filter(sent, type, from, to).size();
  }
  size_t queued() const { return queue_.size(); }
  // The messages waiting for delivery.
  std::vector<Message> Queued() const { return {queue_.begin(), queue_.end()}; }
  void ClearQueue() { queue_.clear(); }

  // ---- inputs ----

  // Ticks one node `times` times, collecting its output each time (nothing is delivered).
  void Tick(uint64_t id, int times = 1) {
    for (int i = 0; i < times; ++i) {
      (*this)[id].Tick();
      Collect(id);
    }
  }
  // `times` rounds of: every node ticks, then the network is drained.
  void TickAll(int times) {
    for (int i = 0; i < times; ++i) {
      for (uint64_t id : ids()) Tick(id);
      Stabilize();
    }
  }
  // Steps one message into a node directly (bypassing the network's faults).
  void Step(const Message& m) {
    (*this)[m.to].Step(m);
    CheckAllInvariants((*this)[m.to]);
    Collect(m.to);
  }
  void Campaign(uint64_t id) {
    REQUIRE((*this)[id].Campaign().ok());
    Collect(id);
  }
  // Ticks `id` until it leaves the follower role (at most 2 election timeouts), then
  // drains the network; REQUIRES that it won.
  void ElectByTimeout(uint64_t id) {
    for (int i = 0; i < 40 && (*this)[id].role() == Role::kFollower; ++i) Tick(id);
    Stabilize();
    REQUIRE((*this)[id].role() == Role::kLeader);
  }
  // Forced election of `id`, then drains the network; REQUIRES that it won.
  void Elect(uint64_t id) {
    Campaign(id);
    Stabilize();
    REQUIRE((*this)[id].role() == Role::kLeader);
  }
  // Proposes a command on `id`; REQUIRES success. Returns its index.
  uint64_t Propose(uint64_t id, std::string data) {
    Result<uint64_t> r = (*this)[id].Propose(EntryType::kCommand, std::move(data));
    REQUIRE(r.ok());
    Collect(id);
    return *r;
  }

  // Reports node `id`'s written entries durable and releases its held messages.
  void Persist(uint64_t id) {
    Slot& s = Get(id);
    if (s.record.unpersisted) {
      auto [index, term] = *s.record.unpersisted;
      s.record.unpersisted.reset();
      s.raft->OnPersisted(index, term);
      CheckNode(id);
    }
    for (Message& m : s.record.held) Enqueue(std::move(m));
    s.record.held.clear();
    Collect(id);
  }

  // Delivers the oldest queued message. Returns false when the queue is empty.
  bool DeliverOne() {
    if (queue_.empty()) return false;
    Message m = std::move(queue_.front());
    queue_.pop_front();
    if (Dropped(m)) {
      ++dropped;
      return true;
    }
    if (hold && hold(m)) {
      held_.push_back(std::move(m));
      return true;
    }
    // Through the codec, as on a real link.
    Result<Message> decoded = DecodeMessage(EncodeMessage(m));
    REQUIRE(decoded.ok());
    REQUIRE(*decoded == m);
    delivered.push_back(m);
    Step(*decoded);
    return true;
  }
  // Delivers at most `max_messages`; returns true if the network went quiet.
  bool TryStabilize(size_t max_messages) {
    for (size_t i = 0; i < max_messages; ++i) {
      if (!DeliverOne()) return true;
    }
    return queue_.empty();
  }
  // Delivers until no message is queued. Bounded, so a livelock fails the test.
  void Stabilize() {
    for (int i = 0; i < 20000; ++i) {
      if (!DeliverOne()) return;
    }
    std::string last;
    for (size_t i = delivered.size() > 12 ? delivered.size() - 12 : 0; i < delivered.size(); ++i) {
      last += "\n  " + Describe(delivered[i]);
    }
    FAIL("the network did not go quiet; the last messages delivered:" << last);
  }

  // Takes every output of `id` and drives it as the contract in raft.h says.
  void Collect(uint64_t id) {
    Slot& s = Get(id);
    for (int guard = 0; guard < 1000; ++guard) {
      RaftOutput out = s.raft->TakeOutput();
      CheckAllInvariants(*s.raft);
      if (out.empty()) {
        CheckNode(id);
        return;
      }
      Drive(id, std::move(out));
    }
    FAIL("a core kept producing output");
  }

  // The leader with the highest term, or 0.
  uint64_t Leader() {
    uint64_t best = 0, best_term = 0;
    for (auto& [id, s] : nodes_) {
      if (s.raft->role() == Role::kLeader && (best == 0 || s.raft->term() > best_term)) {
        best = id;
        best_term = s.raft->term();
      }
    }
    return best;
  }

  // Checks every node: invariants, disk mirrors the log, safety across nodes.
  void CheckAll() {
    for (uint64_t id : ids()) CheckNode(id);
  }

 private:
  struct Slot {
    std::unique_ptr<Rng> rng;
    std::unique_ptr<Raft> raft;
    NodeRecord record;
  };

  Slot& Get(uint64_t id) {
    auto it = nodes_.find(id);
    REQUIRE(it != nodes_.end());
    return it->second;
  }

  bool Dropped(const Message& m) const {
    if (isolated_.count(m.from) != 0 || isolated_.count(m.to) != 0) return true;
    if (cut_.count({m.from, m.to}) != 0) return true;
    return drop && drop(m);
  }

  void Enqueue(Message m) {
    REQUIRE(nodes_.count(m.to) != 0);
    queue_.push_back(std::move(m));
  }

  void Drive(uint64_t id, RaftOutput out) {
    Slot& s = Get(id);
    NodeRecord& rec = s.record;
    // Contract 1: storage first.
    WriteDisk(rec, out);
    for (const Message& m : out.early_messages) sent.push_back(m);
    for (const Message& m : out.messages) sent.push_back(m);
    // Contract 2: early messages may leave at once.
    for (Message& m : out.early_messages) Enqueue(std::move(m));
    // Contract 3: apply in index order; reads only at or below the applied index.
    for (const Entry& e : out.committed) {
      REQUIRE(e.index == rec.applied_index + 1);
      rec.applied_index = e.index;
      rec.state[e.index] = e;
    }
    for (const ReadReady& r : out.reads) REQUIRE(r.index <= rec.applied_index);
    auto append = [](auto& to, const auto& from) { to.insert(to.end(), from.begin(), from.end()); };
    append(rec.reads, out.reads);
    append(rec.failed_reads, out.failed_reads);
    append(rec.abandoned, out.abandoned);
    append(rec.snapshot_sends, out.snapshot_sends);
    append(rec.snapshot_progress, out.snapshot_progress);
    append(rec.snapshot_receives, out.snapshot_receives);
    // Contract 4, then 2: report durability, then send what depended on it.
    if (!out.entries.empty()) {
      rec.unpersisted = std::make_pair(out.entries.back().index, out.entries.back().term);
    }
    if (rec.auto_persist) {
      for (Message& m : out.messages) Enqueue(std::move(m));
      if (rec.unpersisted) {
        auto [index, term] = *rec.unpersisted;
        rec.unpersisted.reset();
        s.raft->OnPersisted(index, term);
        CheckNode(id);
      }
    } else {
      for (Message& m : out.messages) rec.held.push_back(std::move(m));
    }
    if (auto_snapshot) {
      for (const SnapshotSend& send : out.snapshot_sends) StreamSnapshot(id, send);
      for (const SnapshotReceive& r : out.snapshot_receives) {
        if (r.chunk.done) InstallSnapshot(id, r);
      }
    }
  }

  // Contract 1: truncate at log_from, append, compact, hard state.
  void WriteDisk(NodeRecord& rec, const RaftOutput& out) {
    Disk& d = rec.disk;
    if (out.log_from != 0) {
      d.entries.erase(d.entries.lower_bound(out.log_from), d.entries.end());
    }
    for (const Entry& e : out.entries) {
      REQUIRE(e.index == d.LastIndex() + 1);  // appends are contiguous
      d.entries[e.index] = e;
    }
    if (out.compact_index != 0) {
      // The log's base only covers what the state machine already holds (a crash right
      // after this write must not leave the state machine behind the base).
      CHECK(out.compact_index <= rec.applied_index);
      d.entries.erase(d.entries.begin(), d.entries.upper_bound(out.compact_index));
      d.base_index = out.compact_index;
      d.base_term = out.compact_term;
      d.base_membership = out.compact_membership;
      rec.compactions.push_back(out.compact_index);
    }
    if (out.hard_state) d.hard_state = *out.hard_state;
  }

  // The leader's driver: one chunk holding its applied prefix.
  void StreamSnapshot(uint64_t from, const SnapshotSend& send) {
    Raft& leader = (*this)[from];
    uint64_t index = leader.applied();
    std::optional<uint64_t> term = leader.TermAt(index);
    REQUIRE(term.has_value());
    Message m = SnapshotMsg(from, send.to, send.term, index, *term, leader.membership(), 0,
                            /*done=*/true, "snapshot@" + std::to_string(index));
    sent.push_back(m);
    Enqueue(std::move(m));
  }

  // The follower's driver: install the sender's state machine up to the chunk's index.
  void InstallSnapshot(uint64_t id, const SnapshotReceive& r) {
    NodeRecord& rec = record(id);
    const NodeRecord& source = record(r.from);
    rec.state.clear();
    for (const auto& [index, e] : source.state) {
      if (index <= r.chunk.index) rec.state[index] = e;
    }
    rec.applied_index = r.chunk.index;
    (*this)[id].OnSnapshotInstalled(r.chunk.index, r.chunk.snapshot_term, r.chunk.membership);
    CheckNode(id);
  }

  void CheckNode(uint64_t id) {
    Slot& s = Get(id);
    CheckAllInvariants(*s.raft);
    // Once the output is taken and driven, the state machine has applied exactly what
    // the core handed out, and the disk mirrors the core's log.
    if (!s.raft->HasOutput()) {
      RaftStatus st = s.raft->GetStatus();
      REQUIRE(st.applied == s.record.applied_index);
      CheckDisk(id, st);
    }
    if (check_safety) CheckSafety(id);
  }

  void CheckDisk(uint64_t id, const RaftStatus& st) {
    Slot& s = Get(id);
    const Disk& d = s.record.disk;
    INFO("node " << id);
    REQUIRE(d.base_index == st.snapshot_index);
    REQUIRE(d.LastIndex() == st.last_index);
    REQUIRE(d.hard_state.term == st.term);
    REQUIRE(d.hard_state.vote == st.vote);
    std::vector<Entry> mem = s.raft->EntriesFrom(st.first_index);
    REQUIRE(mem.size() == d.entries.size());
    size_t i = 0;
    for (const auto& [index, e] : d.entries) {
      if (!(mem[i++] == e)) FAIL("node " << id << ": the disk differs from the log at " << index);
    }
  }

  // Raft's State Machine Safety: no two nodes applied different entries at one index.
  void CheckSafety(uint64_t id) {
    const NodeRecord& mine = record(id);
    for (auto& [other, s] : nodes_) {
      if (other == id) continue;
      for (const auto& [index, e] : mine.state) {
        auto it = s.record.state.find(index);
        if (it == s.record.state.end()) continue;
        if (!(it->second == e)) {
          FAIL("nodes " << id << " and " << other << " applied different entries at "
                        << index);
        }
      }
    }
  }

  std::map<uint64_t, Slot> nodes_;
  std::deque<Message> queue_;
  std::vector<Message> held_;
  std::set<uint64_t> isolated_;
  std::set<std::pair<uint64_t, uint64_t>> cut_;
};

}  // namespace kvd::raft::test
