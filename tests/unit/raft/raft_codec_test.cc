// Raft codec and storage tests: the peer message codec (messages.h), the command codec
// (command.h) and the on-disk layout with its recovery (raft_storage.h).
//
// Goal: every message and entry must survive an encode/decode round trip unchanged, and
// bytes from a peer or a disk must never be trusted: a truncated, padded, reordered or
// otherwise malformed input is a Status, never a crash or a silently different value.
// The storage writer must turn a core's outputs into engine ops from which Recover()
// rebuilds exactly the state the core had, and Recover() must refuse a damaged log and
// repair the one crash window it documents. Method: round trips of one value of every
// message type; every proper prefix of each encoding; single-byte corruptions at the
// fields that carry meaning; a map<string,string> standing in for the engine's column;
// and a core rebuilt from what it stored. A failure means a peer could crash a node or
// smuggle a different message through, or a node could restart with a log or a term
// different from what it had acknowledged.
#include <catch2/catch.hpp>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/wire/messages.h"
#include "server/topology/raft/command.h"
#include "server/topology/raft/messages.h"
#include "server/topology/raft/raft.h"
#include "server/topology/raft/raft_storage.h"
#include "tests/unit/raft/raft_harness.h"

namespace kvd::raft::test {
namespace {

constexpr size_t kHeaderBytes = 26;  // format, type, from, to, term

std::string EncodedMembership(const Membership& m) {
  std::string out;
  EncodeMembership(m, &out);
  return out;
}

// One message of every type, with fields that are not all zero.
std::vector<Message> SampleMessages() {
  Membership m = MakeMembership({1, 2, 3}, {4});
  std::vector<Message> all;
  all.push_back(VoteMsg(1, 2, 7, 12, 6, /*force=*/true));
  all.push_back(VoteMsg(3, 1, 8, 12, 6, /*force=*/false, MessageType::kPreVote));
  all.push_back(VoteResponseMsg(2, 1, 7, true));
  all.push_back(VoteResponseMsg(2, 3, 8, false, MessageType::kPreVoteResponse));
  all.push_back(AppendMsg(
      1, 2, 7, 4, 2, 3,
      {MakeEntry(5, 2, EntryType::kCommand, std::string("a\0b", 3)),
       MakeEntry(6, 7, EntryType::kNoop),
       MakeEntry(7, 7, EntryType::kConfig, EncodedMembership(m))}));
  all.push_back(AppendMsg(1, 3, 7, 9, 7, 9));  // a probe without entries
  AppendResponse ok;
  ok.success = true;
  ok.needs_snapshot = true;
  ok.index = 9;
  ok.hint_index = 4;
  ok.hint_term = 2;
  all.push_back(MakeMessage(MessageType::kAppendResponse, 2, 1, 7, ok));
  all.push_back(AppendResponseMsg(3, 1, 7, false, 12, 8, 5));
  all.push_back(HeartbeatMsg(1, 2, 7, 8, 99));
  HeartbeatResponse hr;
  hr.seq = 99;
  all.push_back(MakeMessage(MessageType::kHeartbeatResponse, 2, 1, 7, hr));
  all.push_back(SnapshotMsg(1, 4, 7, 100, 5, m, 1024, true, std::string("\0\1\2snap", 7)));
  SnapshotResponse sr;
  sr.index = 100;
  sr.next_offset = 2048;
  sr.done = false;
  sr.reject = true;
  all.push_back(MakeMessage(MessageType::kSnapshotResponse, 4, 1, 7, sr));
  SnapshotResponse done;
  done.index = 100;
  done.done = true;
  all.push_back(MakeMessage(MessageType::kSnapshotResponse, 4, 1, 7, done));
  all.push_back(MakeMessage(MessageType::kTimeoutNow, 1, 2, 7, TimeoutNow{}));
  return all;
}

// ---------------------------------------------------------------------------------------
// messages.h

TEST_CASE("raft codec: every message type survives a round trip", "[unit][raft]") {
  // init
  std::vector<Message> all = SampleMessages();
  std::set<MessageType> types;
  for (const Message& m : all) {
    CAPTURE(Describe(m));
    // act
    std::string bytes = EncodeMessage(m);
    Result<Message> back = DecodeMessage(bytes);
    // check: the same value; the header layout of messages.h.
    REQUIRE(back.ok());
    CHECK(*back == m);
    REQUIRE(bytes.size() >= kHeaderBytes);
    CHECK(static_cast<uint8_t>(bytes[0]) == kMessageFormat);
    CHECK(static_cast<uint8_t>(bytes[1]) == static_cast<uint8_t>(m.type));
    CHECK(GetU64BE(bytes.data() + 2) == m.from);
    CHECK(GetU64BE(bytes.data() + 10) == m.to);
    CHECK(GetU64BE(bytes.data() + 18) == m.term);
    CHECK(std::string(MessageTypeName(m.type)) != "unknown");
    CHECK(Describe(m).rfind(MessageTypeName(m.type), 0) == 0);
    types.insert(m.type);
  }
  CHECK(types.size() == 11);  // every MessageType
}

TEST_CASE("raft codec: a message truncated at any byte is an error, never a crash",
          "[unit][raft]") {
  for (const Message& m : SampleMessages()) {
    CAPTURE(Describe(m));
    std::string bytes = EncodeMessage(m);
    for (size_t len = 0; len < bytes.size(); ++len) {
      CAPTURE(len);
      Result<Message> r = DecodeMessage(std::string_view(bytes).substr(0, len));
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().code() == Code::kProtocolError);
    }
  }
}

TEST_CASE("raft codec: trailing bytes after a message are rejected", "[unit][raft]") {
  for (const Message& m : SampleMessages()) {
    CAPTURE(Describe(m));
    std::string bytes = EncodeMessage(m) + std::string(1, '\0');
    Result<Message> r = DecodeMessage(bytes);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kProtocolError);
  }
}

TEST_CASE("raft codec: an unknown type or format, or a zero node id, is rejected",
          "[unit][raft]") {
  // init: a valid heartbeat.
  const std::string good = EncodeMessage(HeartbeatMsg(1, 2, 3, 4, 5));
  REQUIRE(DecodeMessage(good).ok());
  // act / check
  const int type = GENERATE(0, 12, 200, 255);
  CAPTURE(type);
  std::string bad_type = good;
  bad_type[1] = static_cast<char>(type);
  CHECK(CodeOf(DecodeMessage(bad_type)) == Code::kProtocolError);
  std::string bad_format = good;
  bad_format[0] = 2;
  CHECK(CodeOf(DecodeMessage(bad_format)) == Code::kProtocolError);
  std::string zero_from = good;
  PutU64BE(zero_from.data() + 2, 0);
  CHECK(CodeOf(DecodeMessage(zero_from)) == Code::kProtocolError);
  std::string zero_to = good;
  PutU64BE(zero_to.data() + 10, 0);
  CHECK(CodeOf(DecodeMessage(zero_to)) == Code::kProtocolError);
}

TEST_CASE("raft codec: append entries out of sequence are rejected", "[unit][raft]") {
  // prev_index 4, so the entries must be 5, 6, ...
  const std::vector<std::vector<uint64_t>> bad = {{5, 7}, {6}, {4}, {5, 5}, {5, 6, 8}};
  for (const std::vector<uint64_t>& indexes : bad) {
    CAPTURE(indexes);
    std::vector<Entry> entries;
    for (uint64_t i : indexes) entries.push_back(MakeEntry(i, 2));
    Result<Message> r = DecodeMessage(EncodeMessage(AppendMsg(1, 2, 3, 4, 2, 0, entries)));
    CHECK(CodeOf(r) == Code::kProtocolError);
  }
  // An entry of index 0 or term 0 is never valid.
  CHECK_FALSE(DecodeMessage(EncodeMessage(AppendMsg(1, 2, 3, 0, 0, 0, {MakeEntry(1, 0)}))).ok());
}

TEST_CASE("raft codec: an append claiming too many entries is rejected before allocation",
          "[unit][raft]") {
  // init: a header, then prev_index, prev_term, commit and an oversized count.
  std::string bytes;
  ByteWriter w(&bytes);
  w.U8(kMessageFormat);
  w.U8(static_cast<uint8_t>(MessageType::kAppend));
  w.U64(1);
  w.U64(2);
  w.U64(3);
  w.U64(0);
  w.U64(0);
  w.U64(0);
  w.U32(kMaxEntriesPerMessage + 1);
  // act / check
  CHECK(CodeOf(DecodeMessage(bytes)) == Code::kProtocolError);
}

TEST_CASE("raft codec: a membership that is not sorted, unique and disjoint is rejected",
          "[unit][raft]") {
  // init: the writer encodes whatever it is given; the reader must check.
  const Membership good = MakeMembership({1, 2, 3}, {4, 5});
  REQUIRE(DecodeMembership(EncodedMembership(good)).ok());
  CHECK(*DecodeMembership(EncodedMembership(good)) == good);
  const std::vector<Membership> bad = {
      MakeMembership({3, 1, 2}),       MakeMembership({1, 1, 2}),
      MakeMembership({1, 2}, {5, 4}),  MakeMembership({1, 2}, {2}),
      MakeMembership({0, 1}),          MakeMembership({1}, {0})};
  for (const Membership& m : bad) {
    CAPTURE(m.ToString());
    // act / check: alone, and inside a snapshot chunk.
    CHECK_FALSE(DecodeMembership(EncodedMembership(m)).ok());
    CHECK(CodeOf(DecodeMessage(EncodeMessage(SnapshotMsg(1, 2, 3, 4, 2, m, 0, true, "x")))) ==
          Code::kProtocolError);
  }
  // Trailing bytes and every truncation fail too.
  std::string bytes = EncodedMembership(good);
  CHECK_FALSE(DecodeMembership(bytes + "x").ok());
  for (size_t len = 0; len < bytes.size(); ++len) {
    CHECK_FALSE(DecodeMembership(std::string_view(bytes).substr(0, len)).ok());
  }
  // More members than kMaxMembers.
  std::string huge;
  ByteWriter w(&huge);
  w.U32(kMaxMembers + 1);
  CHECK_FALSE(DecodeMembership(huge).ok());
}

TEST_CASE("raft codec: entries round-trip, and a damaged entry is an error", "[unit][raft]") {
  // init
  const Entry e = MakeEntry(42, 7, EntryType::kConfig, EncodedMembership(VotersUpTo(3)));
  std::string bytes;
  EncodeEntry(e, &bytes);
  // act / check: round trip.
  Result<Entry> back = DecodeEntry(bytes);
  REQUIRE(back.ok());
  CHECK(*back == e);
  // Layout: u64 index, u64 term, u8 type, bytes data.
  CHECK(GetU64BE(bytes.data()) == 42);
  CHECK(GetU64BE(bytes.data() + 8) == 7);
  CHECK(static_cast<uint8_t>(bytes[16]) == static_cast<uint8_t>(EntryType::kConfig));
  // Unknown entry types.
  for (int type : {0, 4, 255}) {
    std::string bad = bytes;
    bad[16] = static_cast<char>(type);
    CHECK_FALSE(DecodeEntry(bad).ok());
  }
  // Truncation and trailing bytes.
  for (size_t len = 0; len < bytes.size(); ++len) {
    CHECK_FALSE(DecodeEntry(std::string_view(bytes).substr(0, len)).ok());
  }
  CHECK_FALSE(DecodeEntry(bytes + "x").ok());
}

// ---------------------------------------------------------------------------------------
// command.h

Command PutCommand() {
  wire::PutRequest put;
  put.key = "user:1";
  put.value = std::string("v\0w", 3);
  put.ttl_ms = 30000;
  Command c;
  c.kind = CommandKind::kRequest;
  c.now_ms = 1700000000123;
  c.client_id = 77;
  c.sequence = 5;
  c.request.request_id = 9;
  c.request.options.client_id = 77;
  c.request.options.sequence = 5;
  c.request.body = put;
  return c;
}

TEST_CASE("raft codec: commands survive a round trip", "[unit][raft]") {
  // init: a client request, and an expiry sweep.
  Command put = PutCommand();
  Command sweep;
  sweep.kind = CommandKind::kExpire;
  sweep.now_ms = 1700000000999;
  wire::DeleteRequest del;
  del.key = "k";
  Command erase = PutCommand();
  erase.request.body = del;
  for (const Command& c : {put, sweep, erase}) {
    // act
    std::string bytes = EncodeCommand(c);
    Result<Command> back = DecodeCommand(bytes);
    // check
    REQUIRE(back.ok());
    CHECK(back->kind == c.kind);
    CHECK(back->now_ms == c.now_ms);
    CHECK(back->client_id == c.client_id);
    CHECK(back->sequence == c.sequence);
    CHECK(static_cast<uint8_t>(bytes[0]) == static_cast<uint8_t>(c.kind));
    CHECK(GetU64BE(bytes.data() + 1) == c.now_ms);
    if (c.kind == CommandKind::kRequest) {
      CHECK(back->request == c.request);
    } else {
      CHECK(bytes.size() == 25);
    }
  }
}

TEST_CASE("raft codec: membership queries and the pre-vote message types", "[unit][raft]") {
  // init
  const Membership m = MakeMembership({1, 3}, {5});
  // check
  CHECK(m.IsVoter(1));
  CHECK(m.IsVoter(3));
  CHECK_FALSE(m.IsVoter(5));
  CHECK(m.IsLearner(5));
  CHECK_FALSE(m.IsLearner(3));
  CHECK(m.Contains(5));
  CHECK_FALSE(m.Contains(2));
  CHECK(m.ToString() == "voters=[1,3] learners=[5]");
  CHECK(IsPreVote(MessageType::kPreVote));
  CHECK(IsPreVote(MessageType::kPreVoteResponse));
  CHECK_FALSE(IsPreVote(MessageType::kVote));
  CHECK_FALSE(IsPreVote(MessageType::kVoteResponse));
}

TEST_CASE("raft codec: a truncated or corrupted command is kCorruption", "[unit][raft]") {
  // init
  const std::string put = EncodeCommand(PutCommand());
  Command sweep;
  sweep.kind = CommandKind::kExpire;
  const std::string expire = EncodeCommand(sweep);
  // act / check: every proper prefix.
  for (const std::string* bytes : {&put, &expire}) {
    for (size_t len = 0; len < bytes->size(); ++len) {
      CAPTURE(len);
      CHECK(CodeOf(DecodeCommand(std::string_view(*bytes).substr(0, len))) ==
            Code::kCorruption);
    }
  }
  // Trailing bytes after the request frame or the sweep.
  CHECK(CodeOf(DecodeCommand(put + "x")) == Code::kCorruption);
  CHECK(CodeOf(DecodeCommand(expire + "x")) == Code::kCorruption);
  // Unknown kinds.
  for (int kind : {0, 3, 255}) {
    std::string bad = put;
    bad[0] = static_cast<char>(kind);
    CHECK(CodeOf(DecodeCommand(bad)) == Code::kCorruption);
  }
  // A damaged frame header (its first byte, right after the 25-byte command header).
  std::string bad_frame = put;
  bad_frame[25] = static_cast<char>(bad_frame[25] ^ 0x5a);
  CHECK(CodeOf(DecodeCommand(bad_frame)) == Code::kCorruption);
  // An unknown opcode in the frame (offset 4 of the frame).
  std::string bad_opcode = put;
  bad_opcode[25 + 4] = static_cast<char>(0x7f);
  CHECK(CodeOf(DecodeCommand(bad_opcode)) == Code::kCorruption);
}

// ---------------------------------------------------------------------------------------
// raft_storage.h

// The engine's raft column, as a map; ops applied in order as one batch.
void Apply(const std::vector<topology::StorageOp>& ops, topology::StoredState* stored) {
  for (const topology::StorageOp& op : ops) {
    if (op.is_delete) {
      stored->topology_keys.erase(op.key);
    } else {
      stored->topology_keys[op.key] = op.value;
    }
  }
}

std::string HardStateValue(uint64_t term, uint64_t vote) {
  std::string v;
  ByteWriter w(&v);
  w.U64(term);
  w.U64(vote);
  return v;
}

std::string EntryValue(const Entry& e) {
  std::string v;
  EncodeEntry(e, &v);
  return v;
}

std::string BaseValue(uint64_t index, uint64_t term, const Membership& m) {
  std::string v;
  ByteWriter w(&v);
  w.U64(index);
  w.U64(term);
  EncodeMembership(m, &v);
  return v;
}

TEST_CASE("raft storage: entry keys sort by index", "[unit][raft]") {
  CHECK(EntryKey(255) < EntryKey(256));
  CHECK(EntryKey(1) < EntryKey(1ULL << 40));
  CHECK(EntryKey(7).rfind(std::string(kEntryKeyPrefix), 0) == 0);
  CHECK(EntryKey(7).size() == kEntryKeyPrefix.size() + 8);
}

TEST_CASE("raft storage: writer ops for append, truncate, compact and hard state recover "
          "the same state",
          "[unit][raft]") {
  // init: four outputs as a core would emit them.
  const Membership base_membership = MakeMembership({1, 2, 3}, {4});
  RaftOutput o1;
  o1.hard_state = HardState{1, 1};
  o1.entries = EntriesOfTerm(1, 1, 5);
  RaftOutput o2;  // a new leader overwrote 4 and 5
  o2.hard_state = HardState{2, 0};
  o2.log_from = 4;
  o2.entries = EntriesOfTerm(2, 4, 3);
  RaftOutput o3;
  o3.compact_index = 3;
  o3.compact_term = 1;
  o3.compact_membership = base_membership;
  RaftOutput o4;
  o4.entries = {MakeEntry(7, 2, EntryType::kConfig, EncodedMembership(VotersUpTo(4)))};
  // act
  RaftStorageWriter writer(0, 0);
  topology::StoredState stored;
  std::vector<topology::StorageOp> ops2;
  for (const RaftOutput* o : {&o1, &o2, &o3, &o4}) {
    std::vector<topology::StorageOp> ops;
    writer.Encode(*o, &ops);
    if (o == &o2) ops2 = ops;
    Apply(ops, &stored);
  }
  stored.applied_index = 3;
  stored.applied_term = 1;
  Result<Recovery> rec = Recover(stored, VotersUpTo(3));
  // check: the truncation deletes 4 and 5 before the new puts, in one batch.
  REQUIRE(ops2.size() >= 3);
  CHECK(ops2[0].is_delete);
  CHECK(ops2[0].key == EntryKey(4));
  CHECK(ops2[1].is_delete);
  CHECK(ops2[1].key == EntryKey(5));
  // check: the recovered state.
  REQUIRE(rec.ok());
  const RecoveredState& st = rec->state;
  CHECK(rec->repair.empty());
  CHECK(st.hard_state == HardState{2, 0});
  CHECK(st.snapshot_index == 3);
  CHECK(st.snapshot_term == 1);
  CHECK(st.membership == base_membership);
  CHECK(st.applied == 3);
  std::vector<Entry> want = EntriesOfTerm(2, 4, 3);
  want.push_back(o4.entries[0]);
  CHECK(st.entries == want);
  CHECK(stored.topology_keys.count(EntryKey(3)) == 0);  // compacted
  // A core starts from it.
  Rng rng(kSeed);
  Raft r(TestOptions(1), st, &rng);
  r.CheckInvariants();
  CHECK(r.term() == 2);
  CHECK(r.last_index() == 7);
  CHECK(r.TermAt(3) == 1u);
  CHECK(r.membership() == VotersUpTo(4));  // the config entry in the log
  CHECK(r.commit() == 3);
}

TEST_CASE("raft storage: a core rebuilt from what it stored is the same core",
          "[unit][raft]") {
  // init: a follower that receives entries, has some overwritten, commits and compacts;
  // every output goes through the writer into the column.
  SoloNode n(TestOptions(2), Fresh(VotersUpTo(3)));
  RaftStorageWriter writer(0, 0);
  topology::StoredState stored;
  auto store = [&](const RaftOutput& out) {
    std::vector<topology::StorageOp> ops;
    writer.Encode(out, &ops);
    Apply(ops, &stored);
  };
  store(n.Step(AppendMsg(1, 2, 1, 0, 0, 0, EntriesOfTerm(1, 1, 6))));
  store(n.Step(AppendMsg(3, 2, 2, 3, 1, 4, EntriesOfTerm(2, 4, 4))));  // overwrites 4-6
  REQUIRE(n->commit() == 4);
  (void)n->CompactNow();
  store(n.Take());
  store(n.Step(AppendMsg(3, 2, 2, 7, 2, 6, EntriesOfTerm(2, 8, 2))));
  stored.applied_index = n->applied();
  stored.applied_term = *n->TermAt(n->applied());
  // act
  Result<Recovery> rec = Recover(stored, VotersUpTo(3));
  REQUIRE(rec.ok());
  CHECK(rec->repair.empty());
  Rng rng(kSeed);
  Raft again(TestOptions(2), rec->state, &rng);
  again.CheckInvariants();
  // check
  RaftStatus a = n->GetStatus();
  RaftStatus b = again.GetStatus();
  CHECK(b.term == a.term);
  CHECK(b.vote == a.vote);
  CHECK(b.snapshot_index == a.snapshot_index);
  CHECK(b.first_index == a.first_index);
  CHECK(b.last_index == a.last_index);
  CHECK(b.applied == a.applied);
  CHECK(b.membership == a.membership);
  CHECK(again.EntriesFrom(1) == n->EntriesFrom(1));
  CHECK(again.TermAt(b.snapshot_index) == n->TermAt(a.snapshot_index));
}

TEST_CASE("raft storage: Recover of an empty column is a fresh node", "[unit][raft]") {
  topology::StoredState stored;
  Result<Recovery> rec = Recover(stored, VotersUpTo(3));
  REQUIRE(rec.ok());
  CHECK(rec->repair.empty());
  CHECK(rec->state.hard_state == HardState{});
  CHECK(rec->state.snapshot_index == 0);
  CHECK(rec->state.entries.empty());
  CHECK(rec->state.applied == 0);
  CHECK(rec->state.membership == VotersUpTo(3));
}

TEST_CASE("raft storage: Recover refuses a log with a gap", "[unit][raft]") {
  // init
  topology::StoredState stored;
  for (uint64_t i : {uint64_t{1}, uint64_t{2}, uint64_t{4}}) {
    stored.topology_keys[EntryKey(i)] = EntryValue(MakeEntry(i, 1));
  }
  // act
  Result<Recovery> rec = Recover(stored, VotersUpTo(3));
  // check
  REQUIRE_FALSE(rec.ok());
  CHECK(rec.status().code() == Code::kCorruption);
  CHECK(rec.status().message().find("gap") != std::string::npos);
}

TEST_CASE("raft storage: Recover refuses a state machine behind the log's base",
          "[unit][raft]") {
  // init: base 5; the state machine says 3.
  topology::StoredState stored;
  stored.topology_keys[std::string(kLogBaseKey)] = BaseValue(5, 1, VotersUpTo(3));
  stored.topology_keys[EntryKey(6)] = EntryValue(MakeEntry(6, 1));
  stored.applied_index = 3;
  stored.applied_term = 1;
  // act
  Result<Recovery> rec = Recover(stored, VotersUpTo(3));
  // check
  REQUIRE_FALSE(rec.ok());
  CHECK(rec.status().code() == Code::kCorruption);
}

TEST_CASE("raft storage: Recover refuses keys that do not decode", "[unit][raft]") {
  // init: a valid column, then one damage per case.
  const int damage = GENERATE(0, 1, 2, 3, 4);
  CAPTURE(damage);
  topology::StoredState stored;
  stored.topology_keys[std::string(kHardStateKey)] = HardStateValue(2, 1);
  stored.topology_keys[std::string(kLogBaseKey)] = BaseValue(0, 0, VotersUpTo(3));
  stored.topology_keys[EntryKey(1)] = EntryValue(MakeEntry(1, 1));
  REQUIRE(Recover(stored, VotersUpTo(3)).ok());
  switch (damage) {
    case 0: stored.topology_keys[std::string(kHardStateKey)] = "short"; break;
    case 1: stored.topology_keys[std::string(kHardStateKey)] += "x"; break;
    case 2: stored.topology_keys[std::string(kLogBaseKey)] += "garbage"; break;
    case 3: stored.topology_keys[EntryKey(1)] = EntryValue(MakeEntry(2, 1)); break;  // wrong index
    case 4: stored.topology_keys["rzz"] = "?"; break;  // an unknown key
    default: break;
  }
  // act / check
  CHECK(CodeOf(Recover(stored, VotersUpTo(3))) == Code::kCorruption);
}

TEST_CASE("raft storage: Recover repairs a snapshot installed but not recorded as the base",
          "[unit][raft]") {
  // init: the node crashed after installing a snapshot at 10/2 (the state machine says so)
  // and before recording the base; its old log 1..3 of term 1 is still there.
  const Membership m = MakeMembership({1, 2, 3}, {4});
  topology::StoredState stored;
  stored.topology_keys[std::string(kHardStateKey)] = HardStateValue(2, 0);
  for (uint64_t i = 1; i <= 3; ++i) {
    stored.topology_keys[EntryKey(i)] = EntryValue(MakeEntry(i, 1));
  }
  stored.applied_index = 10;
  stored.applied_term = 2;
  stored.applied_membership = EncodedMembership(m);
  // act
  Result<Recovery> rec = Recover(stored, VotersUpTo(3));
  // check: the state machine wins; the repair deletes the old log and records the base.
  REQUIRE(rec.ok());
  CHECK(rec->state.snapshot_index == 10);
  CHECK(rec->state.snapshot_term == 2);
  CHECK(rec->state.membership == m);
  CHECK(rec->state.entries.empty());
  CHECK(rec->state.applied == 10);
  CHECK(rec->state.hard_state == HardState{2, 0});
  REQUIRE_FALSE(rec->repair.empty());
  // After the repair, recovery is clean and gives the same state.
  Apply(rec->repair, &stored);
  CHECK(stored.topology_keys.count(EntryKey(1)) == 0);
  Result<Recovery> again = Recover(stored, VotersUpTo(3));
  REQUIRE(again.ok());
  CHECK(again->repair.empty());
  CHECK(again->state.snapshot_index == 10);
  CHECK(again->state.membership == m);
  Rng rng(kSeed);
  Raft r(TestOptions(1), again->state, &rng);
  r.CheckInvariants();
  CHECK(r.commit() == 10);
}

TEST_CASE("raft storage: Recover repairs when the applied entry's term is not in the log",
          "[unit][raft]") {
  // init: the log has 1..5 of term 1, but the state machine applied index 3 of term 2
  // (from a snapshot of another history): the log cannot be trusted up to there.
  topology::StoredState stored;
  for (uint64_t i = 1; i <= 5; ++i) {
    stored.topology_keys[EntryKey(i)] = EntryValue(MakeEntry(i, 1));
  }
  stored.applied_index = 3;
  stored.applied_term = 2;
  // act
  Result<Recovery> rec = Recover(stored, VotersUpTo(3));
  // check: restarts after the state machine, with the bootstrap configuration.
  REQUIRE(rec.ok());
  CHECK(rec->state.snapshot_index == 3);
  CHECK(rec->state.snapshot_term == 2);
  CHECK(rec->state.entries.empty());
  CHECK(rec->state.membership == VotersUpTo(3));
  CHECK(rec->repair.size() == 6);  // five deletes and the base
}

}  // namespace
}  // namespace kvd::raft::test
