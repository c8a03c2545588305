// Raft paper tests: one test per rule of the Raft paper (Ongaro and Ousterhout, "In Search
// of an Understandable Consensus Algorithm", §5) and of the dissertation, in the manner of
// etcd-io/raft's raft_paper_test.go.
//
// Goal: the core in server/topology/raft/raft.h must follow each rule as the paper words
// it: elections on timeout with randomized timeouts, one vote per term, the up-to-date
// check for votes, the append consistency check, truncation of conflicting suffixes, the
// leader's no-op, and commitment by counting replicas only for entries of the leader's
// own term (Figure 8). Method: each test has three parts, init, act and check. It builds
// cores from a RecoveredState, drives them directly (a SoloNode for one core and hand-made
// messages, or the in-memory Cluster of raft_harness.h for several), with a fixed Rng seed
// and no sleeps or sockets, and calls CheckInvariants() after every step. A failure means
// the core breaks a rule the safety or liveness argument of Raft depends on: two leaders
// in a term, a lost committed entry, or a cluster that cannot elect a leader.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "server/topology/raft/raft.h"
#include "tests/unit/raft/raft_harness.h"

namespace kvd::raft::test {
namespace {

// Paper tests follow the paper: no pre-vote (a dissertation extension, tested apart).
RaftOptions PaperOptions(uint64_t id) {
  RaftOptions o = TestOptions(id);
  o.pre_vote = false;
  return o;
}

void NoPreVote(RaftOptions& o) { o.pre_vote = false; }

// Ticks a follower until it campaigns (at most two election timeouts).
void TickUntilCampaign(SoloNode& n) {
  for (int i = 0; i < 40 && n->role() == Role::kFollower; ++i) (void)n.Tick();
  REQUIRE(n->role() != Role::kFollower);
}

// ---------------------------------------------------------------------------------------
// §5.1: terms

TEST_CASE("raft: a node adopts a higher term from any message and becomes a follower",
          "[unit][raft]") {
  // init: one core in each role, term 1.
  const int role = GENERATE(0, 1, 2);  // follower, candidate, leader
  CAPTURE(role);
  RecoveredState r = Fresh(VotersUpTo(3));
  r.hard_state.term = role == 0 ? 1 : 0;  // the others campaign for term 1
  SoloNode n(PaperOptions(1), r);
  if (role >= 1) TickUntilCampaign(n);  // times out: candidate of term 1
  if (role == 2) (void)n.Step(VoteResponseMsg(2, 1, 1, true));
  REQUIRE(n->term() == 1);
  REQUIRE(n->role() == (role == 0 ? Role::kFollower
                                  : role == 1 ? Role::kCandidate
                                              : Role::kLeader));
  // act: an append of term 2 from node 2.
  RaftOutput out = n.Step(AppendMsg(2, 1, 2, 0, 0, 0));
  // check: term 2, follower of node 2, vote cleared and stored.
  CHECK(n->term() == 2);
  CHECK(n->role() == Role::kFollower);
  CHECK(n->leader() == 2);
  REQUIRE(out.hard_state.has_value());
  CHECK(out.hard_state->term == 2);
  CHECK(out.hard_state->vote == 0);
}

TEST_CASE("raft: a message of a stale term is rejected and answered with the current term",
          "[unit][raft]") {
  // init: a follower of term 5 with one entry.
  SoloNode n(PaperOptions(1), WithLog(VotersUpTo(3), 5, EntriesOfTerms({5})));
  // act: an append and a vote request of term 3.
  RaftOutput append_out = n.Step(AppendMsg(2, 1, 3, 1, 5, 1, {MakeEntry(2, 3)}));
  RaftOutput vote_out = n.Step(VoteMsg(3, 1, 3, 10, 3));
  // check: nothing changes; the stale leader is told term 5; the vote gets no answer.
  CHECK(n->term() == 5);
  CHECK(n->last_index() == 1);
  CHECK(n->commit() == 0);
  std::vector<Message> replies = AllMessages(append_out);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].type == MessageType::kAppendResponse);
  CHECK(replies[0].to == 2);
  CHECK(replies[0].term == 5);
  CHECK_FALSE(std::get<AppendResponse>(replies[0].body).success);
  CHECK(AllMessages(vote_out).empty());
  CHECK_FALSE(vote_out.hard_state.has_value());
}

TEST_CASE("raft: a message addressed to another node, or from itself, is ignored",
          "[unit][raft]") {
  // init: a follower of term 1.
  RecoveredState r = Fresh(VotersUpTo(3));
  r.hard_state.term = 1;
  SoloNode n(PaperOptions(1), r);
  // act: an append of a later term, first addressed to node 3, then "from" node 1.
  RaftOutput other = n.Step(AppendMsg(2, 3, 5, 0, 0, 0, {MakeEntry(1, 5)}));
  RaftOutput self = n.Step(AppendMsg(1, 1, 5, 0, 0, 0, {MakeEntry(1, 5)}));
  // check: nothing happened.
  CHECK(other.empty());
  CHECK(self.empty());
  CHECK(n->term() == 1);
  CHECK(n->last_index() == 0);
}

// ---------------------------------------------------------------------------------------
// §5.2: leader election

TEST_CASE("raft: a follower that hears from no leader starts an election on timeout",
          "[unit][raft]") {
  // init: a follower of term 2 with entries up to 2/2.
  SoloNode n(PaperOptions(1), WithLog(VotersUpTo(3), 2, EntriesOfTerms({1, 2})));
  // act: tick until it changes role.
  RaftOutput out;
  int ticks = 0;
  while (n->role() == Role::kFollower && ticks < 100) {
    SoloNode::Merge(&out, n.Tick());
    ++ticks;
  }
  // check: a candidate of term 3 that voted for itself (durably, before the requests go),
  // asking both peers with its last entry, after a timeout in [T, 2T).
  CHECK(ticks >= 10);
  CHECK(ticks < 20);
  CHECK(n->role() == Role::kCandidate);
  CHECK(n->term() == 3);
  REQUIRE(out.hard_state.has_value());
  CHECK(out.hard_state->term == 3);
  CHECK(out.hard_state->vote == 1);
  CHECK(out.early_messages.empty());  // vote requests depend on the stored vote
  REQUIRE(out.messages.size() == 2);
  std::set<uint64_t> asked;
  for (const Message& m : out.messages) {
    CHECK(m.type == MessageType::kVote);
    CHECK(m.term == 3);
    const auto& v = std::get<VoteRequest>(m.body);
    CHECK(v.last_log_index == 2);
    CHECK(v.last_log_term == 2);
    CHECK_FALSE(v.force);
    asked.insert(m.to);
  }
  CHECK(asked == std::set<uint64_t>{2, 3});
  CHECK(n->GetStatus().elections_started == 1);
}

TEST_CASE("raft: a leader sends heartbeats every heartbeat interval", "[unit][raft]") {
  // init: the leader of a 3-node cluster with a heartbeat interval of 2 ticks.
  RaftOptions o = PaperOptions(1);
  o.heartbeat_ticks = 2;
  SoloNode n(o, Fresh(VotersUpTo(3)));
  (void)n.BecomeLeaderWith({2});
  // act: one tick, then a second.
  RaftOutput first = n.Tick();
  RaftOutput second = n.Tick();
  // check: nothing after one tick; a heartbeat to each follower after two, sent early
  // (they do not depend on the disk), carrying min(commit, the follower's match).
  CHECK(Filter(AllMessages(first), MessageType::kHeartbeat).empty());
  std::vector<Message> hb = Filter(second.early_messages, MessageType::kHeartbeat);
  REQUIRE(hb.size() == 2);
  CHECK(hb[0].to == 2);
  CHECK(hb[1].to == 3);
  for (const Message& m : hb) {
    CHECK(m.term == n->term());
    CHECK(std::get<Heartbeat>(m.body).commit == 0);
  }
  CHECK(Filter(second.messages, MessageType::kHeartbeat).empty());
}

struct ElectionCase {
  uint64_t size;
  std::vector<std::pair<uint64_t, bool>> answers;
  Role expect;
};

TEST_CASE("raft: a candidate wins with votes from a majority and loses to a majority of "
          "rejections",
          "[unit][raft]") {
  // Table after etcd-io/raft TestLeaderElectionInOneRoundRPC.
  const ElectionCase c = GENERATE(
      ElectionCase{1, {}, Role::kLeader},
      ElectionCase{3, {{2, true}, {3, true}}, Role::kLeader},
      ElectionCase{3, {{2, true}}, Role::kLeader},
      ElectionCase{5, {{2, true}, {3, true}, {4, true}, {5, true}}, Role::kLeader},
      ElectionCase{5, {{2, true}, {3, true}, {4, true}}, Role::kLeader},
      ElectionCase{5, {{2, true}, {3, true}}, Role::kLeader},
      ElectionCase{3, {}, Role::kCandidate},
      ElectionCase{5, {{2, true}}, Role::kCandidate},
      ElectionCase{5, {{2, false}, {3, false}}, Role::kCandidate},
      ElectionCase{5, {{2, true}, {3, false}, {4, false}}, Role::kCandidate},
      ElectionCase{3, {{2, false}, {3, false}}, Role::kFollower},
      ElectionCase{5, {{2, false}, {3, false}, {4, false}}, Role::kFollower},
      ElectionCase{5, {{2, true}, {3, false}, {4, false}, {5, false}}, Role::kFollower});
  CAPTURE(c.size, c.answers.size());
  // init: a candidate of term 1 (after its election timeout).
  SoloNode n(PaperOptions(1), Fresh(VotersUpTo(c.size)));
  TickUntilCampaign(n);
  // act: the answers arrive.
  for (const auto& [from, granted] : c.answers) {
    (void)n.Step(VoteResponseMsg(from, 1, 1, granted));
  }
  // check
  CHECK(n->role() == c.expect);
  CHECK(n->term() == 1);
  if (c.expect == Role::kLeader) CHECK(n->leader() == 1);
}

TEST_CASE("raft: a voter grants at most one vote per term", "[unit][raft]") {
  // Table after etcd-io/raft TestFollowerVote: (stored vote, candidate, rejected).
  const auto [vote, candidate, rejected] =
      GENERATE(std::tuple<uint64_t, uint64_t, bool>{0, 2, false},
               std::tuple<uint64_t, uint64_t, bool>{0, 3, false},
               std::tuple<uint64_t, uint64_t, bool>{2, 2, false},
               std::tuple<uint64_t, uint64_t, bool>{3, 3, false},
               std::tuple<uint64_t, uint64_t, bool>{2, 3, true},
               std::tuple<uint64_t, uint64_t, bool>{3, 2, true});
  CAPTURE(vote, candidate);
  // init: a follower of term 1 that stored `vote`.
  RecoveredState r = Fresh(VotersUpTo(3));
  r.hard_state.term = 1;
  r.hard_state.vote = vote;
  SoloNode n(PaperOptions(1), r);
  // act: a vote request of the same term.
  RaftOutput out = n.Step(VoteMsg(candidate, 1, 1, 0, 0));
  // check: the answer, sent only after a newly granted vote is stored.
  std::vector<Message> all = AllMessages(out);
  REQUIRE(all.size() == 1);
  CHECK(all[0].type == MessageType::kVoteResponse);
  CHECK(all[0].to == candidate);
  CHECK(std::get<VoteResponse>(all[0].body).granted == !rejected);
  CHECK(out.early_messages.empty());
  CHECK(n.raft().GetStatus().vote == (rejected ? vote : candidate));
  if (!rejected && vote == 0) {
    REQUIRE(out.hard_state.has_value());
    CHECK(out.hard_state->vote == candidate);
  }
}

TEST_CASE("raft: a candidate steps down when a leader of its term or a later one appears",
          "[unit][raft]") {
  const uint64_t leader_term = GENERATE(uint64_t{1}, uint64_t{2});
  CAPTURE(leader_term);
  // init: a candidate of term 1.
  SoloNode n(PaperOptions(1), Fresh(VotersUpTo(3)));
  TickUntilCampaign(n);
  REQUIRE(n->role() == Role::kCandidate);
  // act: an append from node 2 as leader of `leader_term`.
  (void)n.Step(AppendMsg(2, 1, leader_term, 0, 0, 0));
  // check
  CHECK(n->role() == Role::kFollower);
  CHECK(n->leader() == 2);
  CHECK(n->term() == leader_term);
}

TEST_CASE("raft: a split vote makes the candidate start a new election after a timeout",
          "[unit][raft]") {
  // init: a candidate of term 1 in a 4-voter cluster, with one grant and two rejections
  // (neither side has a majority of 3).
  SoloNode n(PaperOptions(1), Fresh(VotersUpTo(4)));
  TickUntilCampaign(n);
  REQUIRE(n->role() == Role::kCandidate);
  (void)n.Step(VoteResponseMsg(2, 1, 1, true));
  (void)n.Step(VoteResponseMsg(3, 1, 1, false));
  (void)n.Step(VoteResponseMsg(4, 1, 1, false));
  REQUIRE(n->role() == Role::kCandidate);
  // act: tick until the term changes.
  int ticks = 0;
  RaftOutput out;
  while (n->term() == 1 && ticks < 100) {
    out = n.Tick();
    ++ticks;
  }
  // check: a new election of term 2 after a timeout in [T, 2T).
  CHECK(ticks >= 10);
  CHECK(ticks < 20);
  CHECK(n->role() == Role::kCandidate);
  CHECK(n->term() == 2);
  CHECK(Filter(out.messages, MessageType::kVote).size() == 3);
  CHECK(n->GetStatus().elections_started == 2);
}

TEST_CASE("raft: election timeouts are randomized between T and 2T", "[unit][raft]") {
  // init: one Rng for a series of fresh followers (and candidates).
  Rng rng(kSeed);
  std::set<int> follower_timeouts, candidate_timeouts;
  for (int trial = 0; trial < 200; ++trial) {
    Raft r(PaperOptions(1), Fresh(VotersUpTo(3)), &rng);
    // act: tick to the first election, then to the second.
    int ticks = 0;
    while (r.role() == Role::kFollower) {
      r.Tick();
      r.CheckInvariants();
      ++ticks;
      REQUIRE(ticks < 100);
    }
    follower_timeouts.insert(ticks);
    ticks = 0;
    while (r.term() == 1) {
      r.Tick();
      r.CheckInvariants();
      ++ticks;
      REQUIRE(ticks < 100);
    }
    candidate_timeouts.insert(ticks);
    (void)r.TakeOutput();
  }
  // check: every timeout within [10, 20), and (nearly) every value in that range drawn.
  for (const std::set<int>* s : {&follower_timeouts, &candidate_timeouts}) {
    CHECK(*s->begin() >= 10);
    CHECK(*s->rbegin() < 20);
    CHECK(s->size() >= 8);
  }
}

TEST_CASE("raft: randomized timeouts rarely let two followers time out together",
          "[unit][raft]") {
  // After etcd-io/raft TestFollowersElectionTimeoutNonconflict: five fresh followers,
  // each with its own seed; in most rounds exactly one times out first.
  int conflicts = 0;
  const int rounds = 200;
  for (int round = 0; round < rounds; ++round) {
    // init
    std::vector<std::unique_ptr<Rng>> rngs;
    std::vector<std::unique_ptr<Raft>> nodes;
    for (uint64_t id = 1; id <= 5; ++id) {
      rngs.push_back(std::make_unique<Rng>(kSeed + static_cast<uint64_t>(round) * 10 + id));
      nodes.push_back(std::make_unique<Raft>(PaperOptions(id), Fresh(VotersUpTo(5)),
                                             rngs.back().get()));
    }
    // act: tick all together until one campaigns.
    int campaigning = 0;
    for (int t = 0; t < 40 && campaigning == 0; ++t) {
      for (auto& r : nodes) {
        r->Tick();
        r->CheckInvariants();
        if (r->role() != Role::kFollower) ++campaigning;
      }
    }
    REQUIRE(campaigning > 0);
    if (campaigning > 1) ++conflicts;
  }
  // check: with 10 possible timeouts and 5 nodes a tie is possible, but not the rule.
  CAPTURE(conflicts);
  CHECK(conflicts * 10 <= rounds * 4);
}

TEST_CASE("raft: a pre-vote is answered without changing the voter's term or vote",
          "[unit][raft]") {
  // Dissertation §9.6. init: a voter of term 2 that voted for node 3, entries 1/1, 2/2.
  RecoveredState r = WithLog(VotersUpTo(3), 2, EntriesOfTerms({1, 2}));
  r.hard_state.vote = 3;
  SoloNode n(TestOptions(1), r);
  // act: pre-votes for term 3 from an up-to-date node and from a stale one; a pre-vote
  // for a term that is already over.
  RaftOutput up = n.Step(VoteMsg(2, 1, 3, 2, 2, false, MessageType::kPreVote));
  RaftOutput stale = n.Step(VoteMsg(2, 1, 3, 5, 1, false, MessageType::kPreVote));
  RaftOutput old = n.Step(VoteMsg(2, 1, 1, 9, 9, false, MessageType::kPreVote));
  // check: the first is granted (at the proposed term), the others rejected (at the
  // voter's term); the term and the vote never moved, and nothing was stored.
  auto answer = [](const RaftOutput& out) {
    std::vector<Message> m = Filter(AllMessages(out), MessageType::kPreVoteResponse, 1, 2);
    REQUIRE(m.size() == 1);
    return m[0];
  };
  CHECK(std::get<VoteResponse>(answer(up).body).granted);
  CHECK(answer(up).term == 3);
  CHECK_FALSE(std::get<VoteResponse>(answer(stale).body).granted);
  CHECK(answer(stale).term == 2);
  CHECK_FALSE(std::get<VoteResponse>(answer(old).body).granted);
  CHECK(answer(old).term == 2);
  for (const RaftOutput* out : {&up, &stale, &old}) CHECK_FALSE(out->hard_state.has_value());
  CHECK(n->term() == 2);
  CHECK(n->GetStatus().vote == 3);
}

TEST_CASE("raft: a pre-candidate needs a majority of pre-votes before it raises its term",
          "[unit][raft]") {
  // init: a follower of term 4 with pre-vote on.
  RecoveredState r = Fresh(VotersUpTo(5));
  r.hard_state.term = 4;
  SoloNode n(TestOptions(1), r);
  // act 1: its election timeout passes.
  RaftOutput pre;
  for (int i = 0; i < 40 && n->role() == Role::kFollower; ++i) SoloNode::Merge(&pre, n.Tick());
  // check 1: a pre-candidate still in term 4, asking for term 5, nothing stored.
  REQUIRE(n->role() == Role::kPreCandidate);
  CHECK(n->term() == 4);
  CHECK_FALSE(pre.hard_state.has_value());
  std::vector<Message> asks = Filter(pre.messages, MessageType::kPreVote);
  REQUIRE(asks.size() == 4);
  for (const Message& m : asks) CHECK(m.term == 5);
  // act 2: one grant (two of five with itself), then a second (three of five).
  (void)n.Step(VoteResponseMsg(2, 1, 5, true, MessageType::kPreVoteResponse));
  const Role after_one = n->role();
  RaftOutput real = n.Step(VoteResponseMsg(3, 1, 5, true, MessageType::kPreVoteResponse));
  // check 2: only the majority starts the real election, in term 5.
  CHECK(after_one == Role::kPreCandidate);
  CHECK(n->role() == Role::kCandidate);
  CHECK(n->term() == 5);
  REQUIRE(real.hard_state.has_value());
  CHECK(real.hard_state->vote == 1);
  CHECK(Filter(real.messages, MessageType::kVote).size() == 4);
}

struct UpToDateCase {
  std::vector<uint64_t> voter_terms;
  uint64_t last_index;
  uint64_t last_term;
  bool granted;
};

TEST_CASE("raft: a voter rejects a candidate whose log is less up to date", "[unit][raft]") {
  // §5.4.1; table after etcd-io/raft TestVoter (logs with decreasing terms left out).
  const UpToDateCase c = GENERATE(UpToDateCase{{}, 0, 0, true},
                                  UpToDateCase{{1}, 1, 1, true},
                                  UpToDateCase{{1}, 2, 1, true},
                                  UpToDateCase{{1, 1}, 1, 1, false},
                                  UpToDateCase{{1}, 1, 2, true},
                                  UpToDateCase{{1}, 2, 2, true},
                                  UpToDateCase{{1, 1}, 1, 2, true},
                                  UpToDateCase{{2}, 1, 1, false},
                                  UpToDateCase{{2}, 2, 1, false},
                                  UpToDateCase{{1, 2}, 2, 2, true},
                                  UpToDateCase{{1, 2}, 5, 1, false},
                                  UpToDateCase{{1, 2, 2}, 2, 2, false},
                                  UpToDateCase{{1}, 0, 0, false});
  CAPTURE(c.voter_terms, c.last_index, c.last_term);
  // init: a voter of term 2 holding `voter_terms`.
  SoloNode n(PaperOptions(1), WithLog(VotersUpTo(3), 2, EntriesOfTerms(c.voter_terms)));
  // act: a vote request of term 3.
  RaftOutput out = n.Step(VoteMsg(2, 1, 3, c.last_index, c.last_term));
  // check: the answer; the term moved to 3 either way.
  std::vector<Message> votes = Filter(AllMessages(out), MessageType::kVoteResponse);
  REQUIRE(votes.size() == 1);
  CHECK(std::get<VoteResponse>(votes[0].body).granted == c.granted);
  CHECK(votes[0].term == 3);
  CHECK(n->term() == 3);
  CHECK(n->GetStatus().vote == (c.granted ? 2u : 0u));
}

// ---------------------------------------------------------------------------------------
// §5.3: log replication

TEST_CASE("raft: a new leader appends a no-op of its term and replicates it",
          "[unit][raft]") {
  // init: a fresh 3-node cluster.
  Cluster c(3, NoPreVote);
  // act: node 1 times out and wins; one heartbeat spreads the commit.
  c.ElectByTimeout(1);
  c.TickAll(1);
  // check: the no-op at index 1 of term 1, applied everywhere.
  for (uint64_t id : c.ids()) {
    INFO("node " << id);
    const Entry* e = c[id].EntryAt(1);
    REQUIRE(e != nullptr);
    CHECK(e->type == EntryType::kNoop);
    CHECK(e->term == 1);
    CHECK(c[id].commit() == 1);
    CHECK(c.record(id).applied_index == 1);
    CHECK(c[id].leader() == 1);
  }
}

TEST_CASE("raft: the leader replicates a proposal and every node applies it once",
          "[unit][raft]") {
  // init
  Cluster c(3, NoPreVote);
  c.ElectByTimeout(1);
  // act
  uint64_t index = c.Propose(1, "x=1");
  c.Stabilize();
  c.TickAll(1);
  // check: committed when a majority has it; applied in order on every node.
  CHECK(index == 2);
  for (uint64_t id : c.ids()) {
    INFO("node " << id);
    CHECK(c[id].commit() == 2);
    REQUIRE(c.record(id).state.count(2) == 1);
    CHECK(c.record(id).state.at(2).data == "x=1");
  }
}

struct ConsistencyCase {
  uint64_t prev_index;
  uint64_t prev_term;
  bool success;
  uint64_t index;
  uint64_t hint_index;
  uint64_t hint_term;
};

TEST_CASE("raft: a follower rejects an append whose previous entry does not match",
          "[unit][raft]") {
  // §5.3 consistency check; table after etcd-io/raft TestFollowerCheckMsgApp.
  const ConsistencyCase c = GENERATE(ConsistencyCase{0, 0, true, 0, 0, 0},
                                     ConsistencyCase{1, 1, true, 1, 0, 0},
                                     ConsistencyCase{2, 2, true, 2, 0, 0},
                                     ConsistencyCase{2, 1, false, 2, 1, 1},
                                     ConsistencyCase{3, 3, false, 3, 2, 2});
  CAPTURE(c.prev_index, c.prev_term);
  // init: a follower of term 2 with entries 1/1, 2/2.
  SoloNode n(PaperOptions(1), WithLog(VotersUpTo(3), 2, EntriesOfTerms({1, 2})));
  // act: an empty append from the leader of term 2.
  RaftOutput out = n.Step(AppendMsg(2, 1, 2, c.prev_index, c.prev_term, 1));
  // check
  std::vector<Message> resp = Filter(AllMessages(out), MessageType::kAppendResponse);
  REQUIRE(resp.size() == 1);
  const auto& r = std::get<AppendResponse>(resp[0].body);
  CHECK(r.success == c.success);
  CHECK(r.index == c.index);
  if (!c.success) {
    CHECK(r.hint_index == c.hint_index);
    CHECK(r.hint_term == c.hint_term);
  }
  CHECK(n->last_index() == 2);  // a rejected append changes nothing
  CHECK(n->commit() == (c.success ? std::min<uint64_t>(1, c.index) : 0));
}

struct AppendCase {
  uint64_t prev_index;
  uint64_t prev_term;
  std::vector<Entry> entries;
  std::vector<uint64_t> want_terms;
  uint64_t want_log_from;
  std::vector<uint64_t> want_written;  // indexes in the output's entries
};

TEST_CASE("raft: a follower deletes a conflicting suffix and appends the leader's entries",
          "[unit][raft]") {
  // §5.3; table after etcd-io/raft TestFollowerAppendEntries.
  const AppendCase c = GENERATE(
      AppendCase{2, 2, {MakeEntry(3, 3)}, {1, 2, 3}, 0, {3}},
      AppendCase{1, 1, {MakeEntry(2, 3), MakeEntry(3, 4)}, {1, 3, 4}, 2, {2, 3}},
      AppendCase{0, 0, {MakeEntry(1, 1)}, {1, 2}, 0, {}},
      AppendCase{0, 0, {MakeEntry(1, 3)}, {3}, 1, {1}},
      AppendCase{1, 1, {MakeEntry(2, 2), MakeEntry(3, 4)}, {1, 2, 4}, 0, {3}});
  CAPTURE(c.prev_index, c.want_terms);
  // init: a follower with entries 1/1, 2/2.
  SoloNode n(PaperOptions(1), WithLog(VotersUpTo(3), 2, EntriesOfTerms({1, 2})));
  // act: an append from the leader of term 4.
  RaftOutput out = n.Step(AppendMsg(2, 1, 4, c.prev_index, c.prev_term, 0, c.entries));
  // check: the log, and the storage work handed to the driver.
  CHECK(TermsOf(n->EntriesFrom(1)) == c.want_terms);
  CHECK(out.log_from == c.want_log_from);
  std::vector<uint64_t> written;
  for (const Entry& e : out.entries) written.push_back(e.index);
  CHECK(written == c.want_written);
  std::vector<Message> resp = Filter(AllMessages(out), MessageType::kAppendResponse);
  REQUIRE(resp.size() == 1);
  CHECK(std::get<AppendResponse>(resp[0].body).success);
  CHECK(std::get<AppendResponse>(resp[0].body).index == c.prev_index + c.entries.size());
  CHECK(out.early_messages.empty());  // the acknowledgement waits for the disk
}

TEST_CASE("raft: a leader brings each divergent follower log to its own (Figure 7)",
          "[unit][raft]") {
  // The leader's log and followers (a)-(f) of Figure 7 in the Raft paper.
  const std::vector<uint64_t> leader_log = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
  const std::vector<uint64_t> follower_log =
      GENERATE(std::vector<uint64_t>{1, 1, 1, 4, 4, 5, 5, 6, 6},
               std::vector<uint64_t>{1, 1, 1, 4},
               std::vector<uint64_t>{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6},
               std::vector<uint64_t>{1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7},
               std::vector<uint64_t>{1, 1, 1, 4, 4, 4, 4},
               std::vector<uint64_t>{1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3});
  CAPTURE(follower_log);
  // init: node 1 holds the leader's log, node 2 the follower's, node 3 the leader's (so
  // node 1 can win even against (d)). Every node is at term 7.
  Membership m = VotersUpTo(3);
  Cluster c({NodeSpec{PaperOptions(1), WithLog(m, 7, EntriesOfTerms(leader_log))},
             NodeSpec{PaperOptions(2), WithLog(m, 7, EntriesOfTerms(follower_log))},
             NodeSpec{PaperOptions(3), WithLog(m, 7, EntriesOfTerms(leader_log))}});
  // act: node 1 wins term 8 and replicates.
  c.Elect(1);
  c.TickAll(2);
  // check: node 2's log is the leader's plus the no-op of term 8, all committed.
  std::vector<uint64_t> want = leader_log;
  want.push_back(8);
  CHECK(c[1].term() == 8);
  CHECK(TermsOf(c[2].EntriesFrom(1)) == want);
  CHECK(TermsOf(c[1].EntriesFrom(1)) == want);
  CHECK(c[2].commit() == 11);
  CHECK(c.record(2).applied_index == 11);
}

TEST_CASE("raft: a follower learns the commit index from the leader and applies in order",
          "[unit][raft]") {
  // init: a fresh follower.
  SoloNode n(PaperOptions(1), Fresh(VotersUpTo(3)));
  // act 1: two entries, with commit 1.
  RaftOutput first =
      n.Step(AppendMsg(2, 1, 1, 0, 0, 1, {MakeEntry(1, 1), MakeEntry(2, 1)}));
  // act 2: a heartbeat with commit 2.
  RaftOutput second = n.Step(HeartbeatMsg(2, 1, 1, 2));
  // act 3: an append whose leader commit is past what it carries.
  RaftOutput third = n.Step(AppendMsg(2, 1, 1, 2, 1, 9, {MakeEntry(3, 1)}));
  // check: commit = min(leader commit, last new entry), applied in index order.
  REQUIRE(first.committed.size() == 1);
  CHECK(first.committed[0].index == 1);
  REQUIRE(second.committed.size() == 1);
  CHECK(second.committed[0].index == 2);
  REQUIRE(third.committed.size() == 1);
  CHECK(third.committed[0].index == 3);
  CHECK(n->commit() == 3);
  CHECK(n->applied() == 3);
  // The heartbeat answer does not depend on the disk.
  CHECK(Filter(second.early_messages, MessageType::kHeartbeatResponse).size() == 1);
}

// ---------------------------------------------------------------------------------------
// §5.4: safety

TEST_CASE("raft: a leader commits an entry of an earlier term only through one of its own "
          "term",
          "[unit][raft]") {
  // init: a leader of term 3 whose log holds 1/1, 2/2 from earlier terms.
  Membership m = VotersUpTo(3);
  SoloNode n(PaperOptions(1), WithLog(m, 2, EntriesOfTerms({1, 2})));
  (void)n.BecomeLeaderWith({2});
  REQUIRE(n->term() == 3);
  REQUIRE(n->last_index() == 3);  // the no-op
  // act 1: a follower acknowledges index 2 (term 2).
  RaftOutput first = n.Step(AppendResponseMsg(2, 1, 3, true, 2));
  // check 1: a majority stores index 2, but it is of term 2: not committed.
  CHECK(n->commit() == 0);
  CHECK(first.committed.empty());
  // act 2: the follower acknowledges the no-op (index 3, term 3).
  RaftOutput second = n.Step(AppendResponseMsg(2, 1, 3, true, 3));
  // check 2: the no-op commits, and with it everything before it.
  CHECK(n->commit() == 3);
  CHECK(second.committed.size() == 3);
}

TEST_CASE("raft: an entry stored on a majority but of an old term can be overwritten "
          "(Figure 8)",
          "[unit][raft]") {
  // init: Figure 8 of the Raft paper, state (c): S1 leads term 4 and has spread 2/2 to
  // S2..S4, S5 holds 2/3 from its own short leadership.
  Membership m = VotersUpTo(5);
  auto opts = [](uint64_t id) {
    RaftOptions o = PaperOptions(id);
    o.max_entries_per_append = 1;  // index 2 and the no-op travel in separate appends
    return o;
  };
  Cluster c({NodeSpec{opts(1), WithLog(m, 3, EntriesOfTerms({1, 2}))},
             NodeSpec{opts(2), WithLog(m, 3, EntriesOfTerms({1, 2}))},
             NodeSpec{opts(3), WithLog(m, 3, EntriesOfTerms({1}))},
             NodeSpec{opts(4), WithLog(m, 3, EntriesOfTerms({1}))},
             NodeSpec{opts(5), WithLog(m, 3, EntriesOfTerms({1, 3}))}});
  c.Isolate(5);
  // S3 and S4 receive index 2 but never the no-op of term 4. (A probe they are bound to
  // reject, sent while they lack index 2, goes through so that the leader backs off.)
  c.drop = [&c](const Message& msg) {
    if (msg.type != MessageType::kAppend || (msg.to != 3 && msg.to != 4)) return false;
    if (c[msg.to].last_index() < 2) return false;
    for (const Entry& e : std::get<AppendRequest>(msg.body).entries) {
      if (e.index >= 3) return true;
    }
    return false;
  };
  c.Elect(1);
  REQUIRE(c[1].term() == 4);
  REQUIRE(c[3].TermAt(2) == 2);
  REQUIRE(c[4].TermAt(2) == 2);
  // act 1 / check 1: 2/2 is on S1..S4, yet S1 must not commit it (term 2 != 4).
  CHECK(c[1].commit() == 0);
  for (uint64_t id : c.ids()) CHECK(c.record(id).applied_index == 0);
  // act 2: S1 crashes; S5 campaigns. In term 4 everyone already voted for S1 (one vote
  // per term), so it loses; in term 5 it wins with S3 and S4 (2/3 beats their 2/2).
  c.Heal();
  c.Isolate(1);
  c.Campaign(5);
  c.Stabilize();
  REQUIRE(c[5].term() == 4);
  REQUIRE(c[5].role() == Role::kFollower);
  c.Elect(5);
  REQUIRE(c[5].term() == 5);
  c.TickAll(1);
  // act 3: S1 comes back.
  c.Heal();
  c.TickAll(3);
  // check: 2/2 was overwritten everywhere by 2/3, which committed; nobody applied 2/2.
  CHECK(c.Leader() == 5);
  for (uint64_t id : c.ids()) {
    INFO("node " << id);
    CHECK(TermsOf(c[id].EntriesFrom(1)) == std::vector<uint64_t>{1, 3, 5});
    CHECK(c[id].commit() == 3);
    REQUIRE(c.record(id).state.count(2) == 1);
    CHECK(c.record(id).state.at(2).term == 3);
  }
}

// ---------------------------------------------------------------------------------------
// Leaders leave on any sign of a newer term

TEST_CASE("raft: a leader steps down on a higher term in any message", "[unit][raft]") {
  const MessageType type = GENERATE(MessageType::kVote, MessageType::kVoteResponse,
                                    MessageType::kPreVoteResponse, MessageType::kAppend,
                                    MessageType::kAppendResponse, MessageType::kHeartbeat,
                                    MessageType::kHeartbeatResponse, MessageType::kSnapshot,
                                    MessageType::kSnapshotResponse);
  CAPTURE(MessageTypeName(type));
  // init: the leader of term 1.
  SoloNode n(PaperOptions(1), Fresh(VotersUpTo(3)));
  (void)n.BecomeLeaderWith({2});
  const uint64_t t = n->term() + 1;
  // act: a message of the next term from node 2.
  Message m;
  switch (type) {
    case MessageType::kVote: m = VoteMsg(2, 1, t, 5, t, /*force=*/true); break;
    case MessageType::kVoteResponse:
    case MessageType::kPreVoteResponse: m = VoteResponseMsg(2, 1, t, false, type); break;
    case MessageType::kAppend: m = AppendMsg(2, 1, t, 0, 0, 0); break;
    case MessageType::kAppendResponse: m = AppendResponseMsg(2, 1, t, false, 0); break;
    case MessageType::kHeartbeat: m = HeartbeatMsg(2, 1, t, 0); break;
    case MessageType::kHeartbeatResponse:
      m = MakeMessage(type, 2, 1, t, HeartbeatResponse{});
      break;
    case MessageType::kSnapshot: m = SnapshotMsg(2, 1, t, 0, 0, VotersUpTo(3), 0, true, ""); break;
    case MessageType::kSnapshotResponse:
      m = MakeMessage(type, 2, 1, t, SnapshotResponse{});
      break;
    default: FAIL("not in the table");
  }
  (void)n.Step(m);
  // check
  CHECK(n->role() == Role::kFollower);
  CHECK(n->term() == t);
}

}  // namespace
}  // namespace kvd::raft::test
