#include "server/kv/kv_store.h"

#include <fmt/format.h>

#include <limits>

#include "common/bytes.h"
#include "server/kv/scan_range.h"

namespace kvd::kv {

uint64_t ExpiresAt(uint64_t now_ms, uint64_t ttl_ms) {
  if (ttl_ms == 0) return 0;
  if (ttl_ms > std::numeric_limits<uint64_t>::max() - now_ms) {
    return std::numeric_limits<uint64_t>::max();
  }
  return now_ms + ttl_ms;
}

namespace {
std::string U64Bytes(uint64_t v) {
  std::string out(8, '\0');
  PutU64BE(out.data(), v);
  return out;
}
}  // namespace

std::string KvStore::SessionToken(uint64_t revision) { return U64Bytes(revision); }

KvStore::KvStore(storage::Engine* engine, KvOptions options)
    : engine_(engine), options_(options), cache_(options.row_cache_bytes) {
  // Config validation guarantees these; a zero would make every SCAN page "full".
  KVD_ASSERT(options_.limits.max_scan_limit > 0);
  KVD_ASSERT(options_.limits.max_frame_bytes > 0);
}

namespace {
// Reads a u64 metadata value; absent means 0.
Status ReadMetaCounter(storage::Engine* engine, std::string_view key, uint64_t* out) {
  std::string value;
  Status s = engine->Get(key, &value);
  if (s.code() == Code::kNotFound) {
    *out = 0;
    return Status::Ok();
  }
  if (!s.ok()) return s.WithContext(fmt::format("read {}", key.substr(1)));
  if (value.size() != 8) {
    return Status::Corruption(
        fmt::format("{} record is {} bytes, expected 8", key.substr(1), value.size()));
  }
  *out = GetU64BE(value.data());
  return Status::Ok();
}
}  // namespace

Status KvStore::Open() {
  KVD_TRY(ReadMetaCounter(engine_, kRevisionKey, &revision_));
  KVD_TRY(ReadMetaCounter(engine_, kKeyCountKey, &key_count_));
  durable_revision_ = persisted_revision_ = revision_;
  durable_key_count_ = persisted_key_count_ = key_count_;
  return Status::Ok();
}

Status KvStore::Reload() {
  KVD_ASSERT(groups_.empty());
  KVD_ASSERT(overlay_.empty());
  cache_.Clear();
  return Open();
}

Result<std::optional<Record>> KvStore::Lookup(std::string_view key) {
  if (auto it = overlay_.find(key); it != overlay_.end()) return it->second.record;
  if (const Record* cached = cache_.Find(key)) return std::optional<Record>(*cached);
  std::string bytes;
  Status s = engine_->Get(DataKey(key), &bytes);
  if (s.code() == Code::kNotFound) return std::optional<Record>();
  if (!s.ok()) return s;
  KVD_ASSIGN_OR_RETURN(Record rec, DecodeRecord(key, bytes));
  cache_.Put(key, rec);
  return std::optional<Record>(std::move(rec));
}

Result<std::optional<Record>> KvStore::LookupLive(std::string_view key, uint64_t now_ms) {
  KVD_ASSIGN_OR_RETURN(std::optional<Record> rec, Lookup(key));
  if (rec && rec->ExpiredAt(now_ms)) rec.reset();
  return rec;
}

KvStore::GroupMark& KvStore::MarkFor(uint64_t group) {
  if (groups_.empty() || groups_.back().group != group) {
    KVD_ASSERT(groups_.empty() || groups_.back().group < group);
    groups_.push_back(GroupMark{group, revision_, key_count_, {}});
  }
  return groups_.back();
}

uint64_t KvStore::NextRevision(uint64_t group, storage::WriteBatch* /*batch*/) {
  ++revision_;
  MarkFor(group).revision = revision_;
  return revision_;  // persisted once per group by FinishGroup
}

void KvStore::FinishGroup(uint64_t group, storage::WriteBatch* batch) {
  if (groups_.empty() || groups_.back().group != group) return;  // the group wrote nothing
  if (revision_ != persisted_revision_) {
    batch->Put(kRevisionKey, U64Bytes(revision_));
    persisted_revision_ = revision_;
  }
  if (key_count_ != persisted_key_count_) {
    batch->Put(kKeyCountKey, U64Bytes(key_count_));
    persisted_key_count_ = key_count_;
  }
}

void KvStore::StageWrite(const std::string& key, const std::optional<Record>& old_record,
                         std::optional<Record> new_record, uint64_t group,
                         storage::WriteBatch* batch) {
  uint64_t old_expiry = old_record ? old_record->expires_at_ms : 0;
  uint64_t new_expiry = new_record ? new_record->expires_at_ms : 0;
  if (old_expiry != 0 && old_expiry != new_expiry) batch->Delete(ExpiryKey(old_expiry, key));
  if (new_expiry != 0 && new_expiry != old_expiry) batch->Put(ExpiryKey(new_expiry, key), "");
  static constexpr char kDataPrefix[1] = {kDataColumn};
  const std::string_view data_prefix(kDataPrefix, 1);
  if (new_record) {
    char header[kRecordHeaderBytes];
    EncodeRecordHeader(*new_record, header);
    batch->PutConcat(data_prefix, key, std::string_view(header, kRecordHeaderBytes),
                     new_record->value);
  } else {
    batch->DeleteConcat(data_prefix, key);
  }
  if (old_record.has_value() != new_record.has_value()) {
    key_count_ = new_record ? key_count_ + 1 : key_count_ - 1;
  }
  GroupMark& mark = MarkFor(group);
  mark.key_count = key_count_;
  auto it = overlay_.find(key);
  if (it == overlay_.end()) {
    it = overlay_.emplace(key, OverlayEntry{std::move(new_record), group}).first;
    mark.entries.push_back(it);
  } else {
    // Remember the entry once per group; std::map iterators stay valid until the entry is
    // erased, which happens only once its latest group is durable (OnDurable) or on
    // Rollback, which drops every mark too.
    if (it->second.group != group) mark.entries.push_back(it);
    it->second = OverlayEntry{std::move(new_record), group};
  }
}

void KvStore::OnDurable(uint64_t group) {
  while (!groups_.empty() && groups_.front().group <= group) {
    GroupMark& mark = groups_.front();
    for (Overlay::iterator it : mark.entries) {
      const std::string& key = it->first;
      // Compare with this mark's group, not the argument: only the mark of the entry's
      // latest group may erase it (an earlier mark of the same call would otherwise leave
      // the later mark a dangling iterator).
      if (it->second.group > mark.group) {
        // A later group wrote the key again; its entry must stay. The engine now holds
        // this group's version, which the overlay no longer has: drop the cached one so
        // a rollback of the later group cannot expose a stale copy.
        cache_.Erase(key);
        continue;
      }
      if (it->second.record) {
        cache_.Put(key, std::move(*it->second.record));
      } else {
        cache_.Erase(key);
      }
      overlay_.erase(it);
    }
    durable_revision_ = mark.revision;
    durable_key_count_ = mark.key_count;
    groups_.pop_front();
  }
}

void KvStore::Rollback() {
  overlay_.clear();
  groups_.clear();
  revision_ = persisted_revision_ = durable_revision_;
  key_count_ = persisted_key_count_ = durable_key_count_;
}

wire::Response KvStore::Apply(wire::Request request, uint64_t now_ms, uint64_t group,
                              storage::WriteBatch* batch) {
  wire::Response resp;
  resp.request_id = request.request_id;
  resp.opcode = request.opcode();
  switch (request.opcode()) {
    case wire::Opcode::kGets:
    case wire::Opcode::kIncr:
    case wire::Opcode::kSadd:
    case wire::Opcode::kSrem:
    case wire::Opcode::kSmembers:
      return wire::Response::Error(
          resp.request_id, resp.opcode,
          Status::Unsupported(fmt::format(
              "{} works on replicated data types, which only node.mode multi_leader offers",
              wire::OpcodeName(request.opcode()))));
    default: break;
  }
  if (!request.options.context.empty()) {
    return wire::Response::Error(
        resp.request_id, resp.opcode,
        Status::Unsupported("option context resolves siblings, which only node.mode "
                            "multi_leader keeps"));
  }
  resp = std::visit(
      [&](auto& body) -> wire::Response {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, wire::GetRequest>) {
          return ApplyGet(body, now_ms, std::move(resp));
        } else if constexpr (std::is_same_v<T, wire::PutRequest>) {
          return ApplyPut(body, now_ms, group, batch, std::move(resp));
        } else if constexpr (std::is_same_v<T, wire::DeleteRequest>) {
          return ApplyDelete(body, now_ms, group, batch, std::move(resp));
        } else if constexpr (std::is_same_v<T, wire::CasRequest>) {
          return ApplyCas(body, now_ms, group, batch, std::move(resp));
        } else if constexpr (std::is_same_v<T, wire::BatchRequest>) {
          return ApplyBatch(body, now_ms, group, batch, std::move(resp));
        } else if constexpr (std::is_same_v<T, wire::ScanRequest>) {
          return ApplyScan(body, now_ms, std::move(resp));
        } else {
          KVD_PANIC("KvStore::Apply called with a non-data request");
        }
      },
      request.body);
  if (resp.ok()) resp.session_token = SessionToken(revision_);
  return resp;
}

namespace {
wire::Response Fail(wire::Response resp, const Status& s) {
  return wire::Response::Error(resp.request_id, resp.opcode, s);
}

wire::Response Conflict(wire::Response resp, std::string message, uint32_t op_index,
                        uint64_t current_version) {
  resp = wire::Response::Error(resp.request_id, resp.opcode, Status::Conflict(std::move(message)));
  resp.detail.op_index = op_index;
  resp.detail.current_version = current_version;
  return resp;
}
}  // namespace

wire::Response KvStore::ApplyGet(const wire::GetRequest& r, uint64_t now_ms,
                                 wire::Response resp) {
  auto rec = LookupLive(r.key, now_ms);
  if (!rec.ok()) return Fail(std::move(resp), rec.status());
  if (!*rec) return Fail(std::move(resp), Status::NotFound("key not found"));
  resp.body = wire::GetResponse{(*rec)->version, (*rec)->expires_at_ms, std::move((*rec)->value)};
  return resp;
}

wire::Response KvStore::ApplyPut(wire::PutRequest& r, uint64_t now_ms, uint64_t group,
                                 storage::WriteBatch* batch, wire::Response resp) {
  auto old = Lookup(r.key);
  if (!old.ok()) return Fail(std::move(resp), old.status());
  uint64_t version = NextRevision(group, batch);
  StageWrite(r.key, *old, Record{version, ExpiresAt(now_ms, r.ttl_ms), std::move(r.value)},
             group, batch);
  resp.body = wire::PutResponse{version};
  return resp;
}

wire::Response KvStore::ApplyDelete(const wire::DeleteRequest& r, uint64_t now_ms,
                                     uint64_t group, storage::WriteBatch* batch,
                                     wire::Response resp) {
  auto old = Lookup(r.key);
  if (!old.ok()) return Fail(std::move(resp), old.status());
  bool existed = *old && !(*old)->ExpiredAt(now_ms);
  if (existed) {
    NextRevision(group, batch);
    StageWrite(r.key, *old, std::nullopt, group, batch);
  }
  resp.body = wire::DeleteResponse{existed};
  return resp;
}

wire::Response KvStore::ApplyCas(wire::CasRequest& r, uint64_t now_ms, uint64_t group,
                                 storage::WriteBatch* batch, wire::Response resp) {
  auto old = Lookup(r.key);
  if (!old.ok()) return Fail(std::move(resp), old.status());
  bool live = *old && !(*old)->ExpiredAt(now_ms);
  uint64_t current = live ? (*old)->version : 0;
  if (current != r.expected_version) {
    std::string msg = current == 0
                          ? fmt::format("key is absent; expected version {}", r.expected_version)
                      : r.expected_version == 0
                          ? fmt::format("key exists at version {}", current)
                          : fmt::format("key is at version {}; expected version {}", current,
                                        r.expected_version);
    return Conflict(std::move(resp), std::move(msg), 0, current);
  }
  if (r.kind == wire::CasKind::kDeleteIfVersion) {
    if (!live) {
      return Conflict(std::move(resp), "key is absent; nothing to delete", 0, 0);
    }
    NextRevision(group, batch);
    StageWrite(r.key, *old, std::nullopt, group, batch);
    resp.body = wire::CasResponse{0};
    return resp;
  }
  uint64_t version = NextRevision(group, batch);
  StageWrite(r.key, *old, Record{version, ExpiresAt(now_ms, r.ttl_ms), std::move(r.value)},
             group, batch);
  resp.body = wire::CasResponse{version};
  return resp;
}

wire::Response KvStore::ApplyBatch(const wire::BatchRequest& r, uint64_t now_ms, uint64_t group,
                                   storage::WriteBatch* batch, wire::Response resp) {
  size_t bytes = 0;
  for (const wire::BatchOp& op : r.ops) bytes += op.key.size() + op.value.size();
  if (bytes > options_.max_batch_bytes) {
    return Fail(std::move(resp),
                Status::InvalidArgument(fmt::format(
                    "batch holds {} bytes of keys and values; limit is {} (limits.max_batch_bytes)",
                    bytes, options_.max_batch_bytes)));
  }
  // Run the ops against a private view first, so that a failed check leaves no trace.
  struct Staged {
    std::optional<Record> before;  // as first read from the store
    std::optional<Record> after;   // as the batch leaves it
    bool written = false;
  };
  std::map<std::string, Staged, std::less<>> view;
  uint64_t new_version = revision_ + 1;
  // The answer must fit in one frame: GETs of large values could otherwise build a
  // response no client accepts (and the encoder refuses to write).
  constexpr size_t kResponseOverheadBytes = 1024;  // header, status, token, count
  constexpr size_t kResultFixedBytes = 1 + 1 + 8 + 8 + 4;
  size_t response_bytes = kResponseOverheadBytes;
  wire::BatchResponse out;
  out.results.reserve(r.ops.size());
  for (size_t i = 0; i < r.ops.size(); ++i) {
    const wire::BatchOp& op = r.ops[i];
    auto it = view.find(op.key);
    if (it == view.end()) {
      auto rec = Lookup(op.key);
      if (!rec.ok()) return Fail(std::move(resp), rec.status().WithContext(fmt::format("op {}", i)));
      std::optional<Record> live = *rec;
      if (live && live->ExpiredAt(now_ms)) live.reset();
      it = view.emplace(op.key, Staged{*rec, live, false}).first;
    }
    Staged& st = it->second;
    wire::BatchResult res;
    res.type = op.type;
    switch (op.type) {
      case wire::BatchOpType::kCheck: {
        uint64_t current = st.after ? st.after->version : 0;
        if (current != op.expected_version) {
          // Report the version the key holds in the store: a version produced by an
          // earlier op of this batch never comes to exist, since the batch fails.
          uint64_t stored = st.before && !st.before->ExpiredAt(now_ms) ? st.before->version : 0;
          return Conflict(std::move(resp),
                          fmt::format("op {} (check): key is at version {}; expected {}", i,
                                      current, op.expected_version),
                          static_cast<uint32_t>(i), stored);
        }
        res.found = st.after.has_value();
        res.version = current;
        break;
      }
      case wire::BatchOpType::kGet:
        if (st.after) {
          res.found = true;
          res.version = st.after->version;
          res.expires_at_ms = st.after->expires_at_ms;
          res.value = st.after->value;
        }
        break;
      case wire::BatchOpType::kPut:
        st.after = Record{new_version, ExpiresAt(now_ms, op.ttl_ms), op.value};
        st.written = true;
        res.found = true;
        res.version = new_version;
        break;
      case wire::BatchOpType::kDelete:
        res.found = st.after.has_value();
        if (st.after) {
          st.after.reset();
          st.written = true;
        }
        break;
    }
    response_bytes += kResultFixedBytes + res.value.size();
    if (response_bytes > options_.limits.max_frame_bytes) {
      return Fail(std::move(resp),
                  Status::InvalidArgument(fmt::format(
                      "batch answer would exceed {} bytes (limits.max_frame_bytes) at op {}; "
                      "split the batch",
                      options_.limits.max_frame_bytes, i)));
    }
    out.results.push_back(std::move(res));
  }
  bool any_write = false;
  for (const auto& [key, st] : view) any_write = any_write || st.written;
  if (any_write) {
    uint64_t v = NextRevision(group, batch);
    KVD_ASSERT(v == new_version);
    for (auto& [key, st] : view) {
      if (st.written) StageWrite(key, st.before, std::move(st.after), group, batch);
    }
  }
  resp.body = std::move(out);
  return resp;
}

size_t KvStore::SweepExpired(uint64_t now_ms, size_t max_keys, uint64_t group,
                             storage::WriteBatch* batch) {
  std::unique_ptr<storage::Iterator> it = engine_->NewIterator();
  std::string first(1, kExpiryColumn);
  size_t examined = 0;
  size_t expired = 0;
  for (it->Seek(first); it->Valid() && examined < max_keys; it->Next()) {
    uint64_t expires_at = 0;
    std::string_view user_key;
    std::string_view raw = it->key();
    if (raw.empty() || raw[0] != kExpiryColumn) break;  // left the column
    if (!ParseExpiryKey(raw, &expires_at, &user_key)) {
      batch->Delete(std::string(raw));  // unreadable index entry: drop it, keep sweeping
      continue;
    }
    if (expires_at > now_ms) break;  // the index is ordered by expiry time
    ++examined;
    std::string key(user_key);
    auto rec = Lookup(key);
    if (!rec.ok()) continue;  // leave it for the next sweep; reads report the error
    if (auto ov = overlay_.find(key); ov != overlay_.end() && !ov->second.record) {
      continue;  // already deleted by a write in flight, which also removed the index
    }
    if (*rec && (*rec)->expires_at_ms == expires_at) {
      // Expiry is not a client write: it does not bump the revision, because the key
      // already reads as absent to everyone.
      StageWrite(key, *rec, std::nullopt, group, batch);
      ++expired;
    } else {
      batch->Delete(std::string(it->key()));  // stale index entry
    }
  }
  return expired;
}

}  // namespace kvd::kv
