// Test harness for KvStore (server/kv/kv_store.h), shared by the kv unit tests.
//
// Harness plays the node shell's part of the group-commit contract against a MemoryEngine:
// requests are applied into the current group's WriteBatch; EndGroup queues that batch
// unwritten (its writes live only in the store's overlay); WriteOldest writes the oldest
// queued batch to the engine and reports it durable; FailPending drops every unwritten
// batch and rolls the store back, as the shell does after a failed write. Every request is
// checked with wire::ValidateRequest first, so a test cannot pass the store a request the
// server would have rejected, and every response must echo the request id and opcode.
//
// Thread-safety: none; one test thread.
#pragma once

#include <catch2/catch.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/wire/codec.h"
#include "common/wire/messages.h"
#include "server/kv/kv_store.h"
#include "server/kv/record.h"
#include "server/storage/memory_engine.h"

namespace kvd::kv::testing {

inline wire::Limits TestLimits() {
  wire::Limits limits;
  limits.max_frame_bytes = 64u << 10;
  limits.max_key_bytes = 4096;
  limits.max_value_bytes = 16u << 10;
  limits.max_batch_ops = 100;
  limits.max_scan_limit = 1000;
  return limits;
}

inline KvOptions TestOptions() {
  KvOptions options;
  options.limits = TestLimits();
  options.max_batch_bytes = 64u << 10;
  // Small enough that the randomized tests evict, so cache coherence is exercised too.
  options.row_cache_bytes = 16u << 10;
  return options;
}

// A copy of the body of an OK response, as type T (a copy, so that binding the result of
// BodyOf(h.Apply(...)) to a reference is safe). Fails the test otherwise.
template <typename T>
T BodyOf(const wire::Response& resp) {
  INFO("status " << static_cast<int>(resp.status) << ": " << resp.message);
  REQUIRE(resp.ok());
  REQUIRE(std::holds_alternative<T>(resp.body));
  return std::get<T>(resp.body);
}

// Request builders.
inline wire::BatchOp CheckOp(std::string key, uint64_t expected_version) {
  wire::BatchOp op;
  op.type = wire::BatchOpType::kCheck;
  op.key = std::move(key);
  op.expected_version = expected_version;
  return op;
}
inline wire::BatchOp GetOp(std::string key) {
  wire::BatchOp op;
  op.type = wire::BatchOpType::kGet;
  op.key = std::move(key);
  return op;
}
inline wire::BatchOp PutOp(std::string key, std::string value, uint64_t ttl_ms = 0) {
  wire::BatchOp op;
  op.type = wire::BatchOpType::kPut;
  op.key = std::move(key);
  op.value = std::move(value);
  op.ttl_ms = ttl_ms;
  return op;
}
inline wire::BatchOp DeleteOp(std::string key) {
  wire::BatchOp op;
  op.type = wire::BatchOpType::kDelete;
  op.key = std::move(key);
  return op;
}
inline wire::CasRequest CasReq(wire::CasKind kind, std::string key, uint64_t expected_version,
                               std::string value = "", uint64_t ttl_ms = 0) {
  return wire::CasRequest{kind, std::move(key), expected_version, std::move(value), ttl_ms};
}

// The user keys (column byte stripped) of one engine column, in order, with their values.
inline std::vector<std::pair<std::string, std::string>> EngineColumn(storage::Engine& engine,
                                                                     char column) {
  std::vector<std::pair<std::string, std::string>> out;
  std::unique_ptr<storage::Iterator> it = engine.NewIterator();
  for (it->Seek(std::string(1, column)); it->Valid() && it->key()[0] == column; it->Next()) {
    out.emplace_back(std::string(it->key().substr(1)), std::string(it->value()));
  }
  return out;
}

class Harness {
 public:
  explicit Harness(KvOptions options = TestOptions()) : options_(options) { Reopen(); }

  // A new KvStore on the same engine, as after a restart. REQUIRES: nothing pending.
  void Reopen() {
    REQUIRE(batch.empty());
    REQUIRE(queued.empty());
    store = std::make_unique<KvStore>(&engine, options_);
    Status s = store->Open();
    INFO(s.ToString());
    REQUIRE(s.ok());
  }

  // Applies a request in the current group.
  wire::Response Apply(wire::RequestBody body, uint64_t now_ms) {
    wire::Request request;
    request.request_id = next_request_id_++;
    request.body = std::move(body);
    Status valid = wire::ValidateRequest(request, options_.limits);
    INFO("invalid test request: " << valid.ToString());
    REQUIRE(valid.ok());
    wire::Response resp = store->Apply(request, now_ms, group, &batch);
    REQUIRE(resp.request_id == request.request_id);
    REQUIRE(resp.opcode == request.opcode());
    return resp;
  }

  size_t Sweep(uint64_t now_ms, size_t max_keys = 1000) {
    return store->SweepExpired(now_ms, max_keys, group, &batch);
  }

  // Ends the current group; its batch waits, unwritten, in `queued`.
  void EndGroup() {
    store->FinishGroup(group, &batch);
    queued.emplace_back(group, std::move(batch));
    batch = storage::WriteBatch();
    ++group;
  }
  // Writes the oldest queued group's batch and reports the group durable.
  void WriteOldest(bool sync = true) {
    REQUIRE_FALSE(queued.empty());
    auto [g, b] = std::move(queued.front());
    queued.pop_front();
    Status s = engine.Write(b, sync);
    INFO(s.ToString());
    REQUIRE(s.ok());
    store->OnDurable(g);
  }
  // Ends the current group and writes every queued group.
  void Commit(bool sync = true) {
    EndGroup();
    while (!queued.empty()) WriteOldest(sync);
  }
  // Every unwritten group failed: drop their batches and roll the store back.
  void FailPending() {
    EndGroup();
    queued.clear();
    store->Rollback();
  }

  // Conveniences that expect success.
  uint64_t Put(std::string key, std::string value, uint64_t now_ms, uint64_t ttl_ms = 0) {
    return BodyOf<wire::PutResponse>(
               Apply(wire::PutRequest{std::move(key), std::move(value), ttl_ms}, now_ms))
        .version;
  }
  // nullopt if the key is absent (kNotFound).
  std::optional<wire::GetResponse> Get(std::string key, uint64_t now_ms) {
    wire::Response resp = Apply(wire::GetRequest{std::move(key)}, now_ms);
    if (resp.status == Code::kNotFound) return std::nullopt;
    return BodyOf<wire::GetResponse>(resp);
  }
  bool Delete(std::string key, uint64_t now_ms) {
    return BodyOf<wire::DeleteResponse>(Apply(wire::DeleteRequest{std::move(key)}, now_ms)).existed;
  }

  storage::MemoryEngine engine;
  std::unique_ptr<KvStore> store;
  uint64_t group = 1;
  storage::WriteBatch batch;  // the current group's writes
  std::deque<std::pair<uint64_t, storage::WriteBatch>> queued;

 private:
  KvOptions options_;
  uint64_t next_request_id_ = 1;
};

}  // namespace kvd::kv::testing
