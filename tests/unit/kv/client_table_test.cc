// ClientTable: write deduplication for replicated topologies (server/kv/client_table.h).
//
// Goal: a retried write is applied at most once and answered with its first answer, for
// pipelined clients too, with bounded memory, and the table survives a reload from the
// engine. Method: record answers into a MemoryEngine through WriteBatches, query Check,
// reload into a fresh table. A failure means a retried write could apply twice, or get a
// wrong answer, or the table could grow without bound.
#include <catch2/catch.hpp>

#include "server/kv/client_table.h"
#include "server/storage/memory_engine.h"

namespace kvd::kv {
namespace {

wire::Response PutAnswer(uint64_t version) {
  wire::Response r;
  r.request_id = 1;
  r.opcode = wire::Opcode::kPut;
  r.body = wire::PutResponse{version};
  return r;
}

void RecordAndWrite(ClientTable& t, storage::Engine& e, uint64_t client, uint64_t seq,
                    uint64_t index) {
  storage::WriteBatch b;
  t.Record(client, seq, index, PutAnswer(seq * 10), &b);
  REQUIRE(e.Write(b, false).ok());
}

uint64_t AnsweredVersion(const wire::Response& r) {
  return std::get<wire::PutResponse>(r.body).version;
}

}  // namespace

TEST_CASE("client table: a repeat gets the first answer; a new sequence is new",
          "[unit][kv][dedup]") {
  storage::MemoryEngine e;
  ClientTable t(100);
  wire::Response r;
  CHECK(t.Check(7, 1, &r) == ClientTable::Seen::kNew);
  RecordAndWrite(t, e, 7, 1, 100);
  REQUIRE(t.Check(7, 1, &r) == ClientTable::Seen::kDuplicate);
  CHECK(AnsweredVersion(r) == 10);
  CHECK(t.Check(7, 2, &r) == ClientTable::Seen::kNew);
  CHECK(t.Check(8, 1, &r) == ClientTable::Seen::kNew);  // another client
}

TEST_CASE("client table: pipelined writes retried out of order keep their answers",
          "[unit][kv][dedup]") {
  storage::MemoryEngine e;
  ClientTable t(100);
  for (uint64_t seq = 1; seq <= 5; ++seq) RecordAndWrite(t, e, 7, seq, 100 + seq);
  wire::Response r;
  for (uint64_t seq : {3u, 1u, 5u, 2u}) {
    REQUIRE(t.Check(7, seq, &r) == ClientTable::Seen::kDuplicate);
    CHECK(AnsweredVersion(r) == seq * 10);
  }
  // A sequence skipped (its entry was lost on a leader change) is still new.
  RecordAndWrite(t, e, 7, 8, 200);
  CHECK(t.Check(7, 6, &r) == ClientTable::Seen::kNew);
}

TEST_CASE("client table: answers beyond the window are forgotten and reported stale",
          "[unit][kv][dedup]") {
  storage::MemoryEngine e;
  ClientTable t(100);
  const uint64_t n = ClientTable::kWindow + 5;
  for (uint64_t seq = 1; seq <= n; ++seq) RecordAndWrite(t, e, 7, seq, seq);
  wire::Response r;
  CHECK(t.Check(7, 1, &r) == ClientTable::Seen::kStale);
  CHECK(t.Check(7, 5, &r) == ClientTable::Seen::kStale);
  CHECK(t.Check(7, 6, &r) == ClientTable::Seen::kDuplicate);
  CHECK(t.Check(7, n, &r) == ClientTable::Seen::kDuplicate);
  CHECK(t.Check(7, n + 1, &r) == ClientTable::Seen::kNew);
}

TEST_CASE("client table: the oldest client is forgotten beyond max_clients",
          "[unit][kv][dedup]") {
  storage::MemoryEngine e;
  ClientTable t(3);
  RecordAndWrite(t, e, 1, 1, 10);
  RecordAndWrite(t, e, 2, 1, 11);
  RecordAndWrite(t, e, 3, 1, 12);
  RecordAndWrite(t, e, 1, 2, 13);  // client 1 is recent again
  RecordAndWrite(t, e, 4, 1, 14);  // forgets client 2, the oldest
  CHECK(t.size() == 3);
  wire::Response r;
  CHECK(t.Check(2, 1, &r) == ClientTable::Seen::kNew);
  CHECK(t.Check(1, 2, &r) == ClientTable::Seen::kDuplicate);
  // Nothing of client 2 is left on disk.
  ClientTable reloaded(3);
  REQUIRE(reloaded.Load(&e).ok());
  CHECK(reloaded.size() == 3);
  CHECK(reloaded.Check(2, 1, &r) == ClientTable::Seen::kNew);
}

TEST_CASE("client table: a reload from the engine gives the same answers",
          "[unit][kv][dedup]") {
  storage::MemoryEngine e;
  ClientTable t(100);
  const uint64_t n = ClientTable::kWindow + 3;
  for (uint64_t seq = 1; seq <= n; ++seq) RecordAndWrite(t, e, 9, seq, seq);
  ClientTable reloaded(100);
  REQUIRE(reloaded.Load(&e).ok());
  wire::Response a, b;
  for (uint64_t seq = 1; seq <= n + 1; ++seq) {
    ClientTable::Seen sa = t.Check(9, seq, &a);
    ClientTable::Seen sb = reloaded.Check(9, seq, &b);
    CHECK(sa == sb);
    if (sa == ClientTable::Seen::kDuplicate) CHECK(AnsweredVersion(a) == AnsweredVersion(b));
  }
}

TEST_CASE("client table: a malformed record is corruption, not a crash", "[unit][kv][dedup]") {
  storage::MemoryEngine e;
  storage::WriteBatch b;
  b.Put(std::string("c\x01", 2), "x");
  REQUIRE(e.Write(b, false).ok());
  ClientTable t(10);
  Status s = t.Load(&e);
  CHECK(s.code() == Code::kCorruption);
}

}  // namespace kvd::kv
