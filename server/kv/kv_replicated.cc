// KvStore's replicated key states (multi_leader): applying changes and serving reads. See
// kv_store.h and replicated_state.h.
#include <algorithm>
#include <charconv>
#include <memory>

#include <fmt/format.h>

#include "server/kv/kv_store.h"

namespace kvd::kv {

namespace {

ReplicatedLimits LimitsFrom(const KvOptions& o) {
  ReplicatedLimits l;
  l.max_key_bytes = std::max<uint32_t>(o.limits.max_key_bytes, 1);
  l.max_value_bytes = std::max<uint32_t>(o.limits.max_value_bytes, 1);
  return l;
}

wire::Response Fail(wire::Response resp, const Status& s) {
  return wire::Response::Error(resp.request_id, resp.opcode, s);
}

// Headroom for the frame header, status, session token (at most 2 KiB) and counts.
constexpr size_t kResponseOverheadBytes = 4096;

std::string TombstoneKey(std::string_view key) {
  std::string k(1, kTombstoneColumn);
  k.append(key);
  return k;
}

bool HasElement(const KeyState& st, const std::string& element) {
  const std::vector<std::string> members = st.SetMembers();
  return std::binary_search(members.begin(), members.end(), element);
}

}  // namespace

Result<std::optional<KeyState>> KvStore::LookupReplicated(std::string_view key) {
  KVD_ASSIGN_OR_RETURN(std::optional<Record> rec, Lookup(key));
  if (!rec) return std::optional<KeyState>();
  KVD_ASSIGN_OR_RETURN(KeyState st, KeyState::Decode(key, rec->value, LimitsFrom(options_)));
  return std::optional<KeyState>(std::move(st));
}

void KvStore::StoreReplicated(const std::string& key, std::string state, uint64_t group,
                              storage::WriteBatch* batch) {
  auto old_record = Lookup(key);
  // The overlay and engine lookup fails only on an engine error; the write then goes in
  // without the old record, which only affects the key count.
  const std::optional<Record> old = old_record.ok() ? *old_record : std::nullopt;
  if (state.empty()) {  // a collected tombstone: the key goes
    if (old) StageWrite(key, old, std::nullopt, group, batch);
    return;
  }
  const uint64_t version = NextRevision(group, batch);
  StageWrite(key, old, Record{version, 0, std::move(state)}, group, batch);
}

Status KvStore::ForEachReplicated(
    const std::function<void(const std::string& key, const std::string& state)>& fn) {
  std::unique_ptr<storage::Iterator> it = engine_->NewIterator();
  const std::string first(1, kDataColumn);
  for (it->Seek(first); it->Valid() && !it->key().empty() && it->key()[0] == kDataColumn;
       it->Next()) {
    const std::string key(it->key().substr(1));
    KVD_ASSIGN_OR_RETURN(Record rec, DecodeRecord(key, it->value()));
    fn(key, rec.value);
  }
  return it->status();
}

KvStore::ChangeResult KvStore::ApplyChange(const wire::Request* request, const Change& change,
                                           uint32_t max_siblings, uint64_t group,
                                           storage::WriteBatch* batch) {
  ChangeResult result;
  if (request != nullptr) {
    result.response.request_id = request->request_id;
    result.response.opcode = request->opcode();
  }
  auto fail = [&](const Status& s) {
    if (request != nullptr) result.response = Fail(std::move(result.response), s);
    return result;
  };
  auto old_record = Lookup(change.key);
  if (!old_record.ok()) return fail(old_record.status());
  KeyState state(change.resolver);
  if (*old_record) {
    auto decoded = KeyState::Decode(change.key, (*old_record)->value, LimitsFrom(options_));
    if (!decoded.ok()) return fail(decoded.status());
    state = std::move(decoded).value();
  }
  const KeyState before = state;
  if (request != nullptr && change.resolver == Resolver::kSiblings &&
      change.op == ChangeOp::kPut && state.resolver() == Resolver::kSiblings) {
    const size_t after = state.SiblingsAfter(change);
    if (after > max_siblings) {
      result.refused = true;
      Status s = Status::Conflict(fmt::format(
          "key '{}' would have {} siblings, more than multi_leader.max_siblings ({}): read "
          "them with GETS and write the resolved value with the context it returns",
          change.key, after, max_siblings));
      return fail(s);
    }
  }
  result.outcome = state.Apply(change);
  if (result.outcome.changed) {
    uint64_t version = NextRevision(group, batch);
    StageWrite(change.key, *old_record, Record{version, 0, state.Encode()}, group, batch);
    // Index keys that start keeping deletion history, for CollectTombstones (which drops
    // index entries of keys that no longer do).
    if (state.HasTombstones() && !before.HasTombstones()) {
      batch->Put(TombstoneKey(change.key), std::string());
    }
  }
  if (request == nullptr) return result;
  if (result.outcome.wrong_resolver) {
    return fail(Status::InvalidArgument(fmt::format(
        "key '{}' holds a {} value (written under an earlier multi_leader.resolvers rule); "
        "this {} was numbered but had no effect",
        change.key, ResolverName(state.resolver()), wire::OpcodeName(request->opcode()))));
  }
  switch (change.op) {
    case ChangeOp::kPut: result.response.body = wire::PutResponse{change.hlc.packed()}; break;
    case ChangeOp::kDelete: result.response.body = wire::DeleteResponse{!before.Empty()}; break;
    case ChangeOp::kAdd: result.response.body = wire::IncrResponse{state.CounterValue()}; break;
    case ChangeOp::kSetAdd:
    case ChangeOp::kSetRemove:
      result.response.body = wire::SetOpResponse{HasElement(before, change.value)};
      break;
    case ChangeOp::kNoop: break;
  }
  return result;
}

size_t KvStore::CollectTombstones(const Stability& stable, uint64_t now_ms, uint64_t grace_ms,
                                  size_t max_keys, uint64_t group, storage::WriteBatch* batch) {
  std::unique_ptr<storage::Iterator> it = engine_->NewIterator();
  const std::string first(1, kTombstoneColumn);
  size_t examined = 0;
  size_t collected = 0;
  bool wrapped = false;
  it->Seek(collect_cursor_.empty() ? first : collect_cursor_ + std::string(1, '\0'));
  while (examined < max_keys) {
    if (!it->Valid() || it->key().empty() || it->key()[0] != kTombstoneColumn) {
      // The end of the index: start again from its beginning, once per call.
      collect_cursor_.clear();
      if (wrapped) break;
      wrapped = true;
      it->Seek(first);
      continue;
    }
    const std::string index_key(it->key());
    collect_cursor_ = index_key;
    ++examined;
    const std::string key = index_key.substr(1);
    it->Next();
    auto rec = Lookup(key);
    if (!rec.ok()) continue;  // left for the next pass; reads report the error
    std::optional<KeyState> state;
    if (*rec) {
      auto decoded = KeyState::Decode(key, (*rec)->value, LimitsFrom(options_));
      if (decoded.ok()) state = std::move(decoded).value();
    }
    if (!state || !state->HasTombstones()) {
      batch->Delete(index_key);  // the key is gone or live again
      continue;
    }
    switch (state->CollectTombstones(stable, now_ms, grace_ms)) {
      case Collected::kNothing: break;
      case Collected::kRemoveKey:
        StageWrite(key, *rec, std::nullopt, group, batch);
        batch->Delete(index_key);
        ++collected;
        break;
      case Collected::kTrimmed: {
        StageWrite(key, *rec, Record{(*rec)->version, 0, state->Encode()}, group, batch);
        if (!state->HasTombstones()) batch->Delete(index_key);
        ++collected;
        break;
      }
    }
  }
  return collected;
}

Status KvStore::MergeReplicated(std::string_view data) {
  KVD_ASSERT_MSG(groups_.empty() && overlay_.empty(), "MergeReplicated: a group is in flight");
  storage::WriteBatch batch;
  uint64_t added = 0;
  const uint64_t version = revision_ + 1;
  ByteReader r(data);
  while (r.remaining() > 0) {
    std::string_view raw_key, raw_record;
    if (!r.Bytes(&raw_key) || !r.Bytes(&raw_record)) {
      return Status::Corruption("state transfer: a record is truncated");
    }
    if (raw_key.empty() || raw_key[0] != kDataColumn) {
      return Status::Corruption("state transfer: a record is not a key's state");
    }
    const std::string_view key = raw_key.substr(1);
    KVD_ASSIGN_OR_RETURN(Record theirs_record, DecodeRecord(key, raw_record));
    KVD_ASSIGN_OR_RETURN(KeyState theirs,
                         KeyState::Decode(key, theirs_record.value, LimitsFrom(options_)));
    KVD_ASSIGN_OR_RETURN(std::optional<Record> mine_record, Lookup(key));
    KeyState merged(theirs.resolver());
    if (mine_record) {
      KVD_ASSIGN_OR_RETURN(merged, KeyState::Decode(key, mine_record->value, LimitsFrom(options_)));
    } else {
      ++added;
    }
    const Outcome o = merged.Merge(theirs);
    if (!o.changed && mine_record) continue;  // nothing new (or another resolver's: kept)
    batch.Put(raw_key, EncodeRecord(Record{version, 0, merged.Encode()}));
    if (merged.HasTombstones()) batch.Put(TombstoneKey(key), std::string());
  }
  std::string counter(8, '\0');
  PutU64BE(counter.data(), version);
  batch.Put(kRevisionKey, counter);
  PutU64BE(counter.data(), key_count_ + added);
  batch.Put(kKeyCountKey, counter);
  return engine_->Write(batch, /*sync=*/true);
}

Status KvStore::FitsFrame(std::string_view key, size_t count, std::string_view what,
                          size_t bytes) const {
  return FitsInFrame(options_.limits.max_frame_bytes, key, count, what, bytes);
}

Status FitsInFrame(uint32_t max_frame_bytes, std::string_view key, size_t count,
                   std::string_view what, size_t bytes) {
  const size_t limit = max_frame_bytes;
  if (limit == 0 || bytes + kResponseOverheadBytes <= limit) return Status::Ok();
  return Status::InvalidArgument(fmt::format(
      "key '{}' has {} {} ({} bytes), more than one response can carry "
      "(limits.max_frame_bytes {})",
      key, count, what, bytes, limit));
}

wire::Response KvStore::ReadReplicated(const wire::Request& request, Resolver resolver) {
  auto found = LookupReplicated(ReplicatedReadKey(request));
  if (!found.ok()) {
    return wire::Response::Error(request.request_id, request.opcode(), found.status());
  }
  return ReplicatedReadResponse(request, resolver, *found, options_.limits.max_frame_bytes,
                                "multi_leader.resolvers");
}

const std::string& ReplicatedReadKey(const wire::Request& request) {
  if (const auto* g = std::get_if<wire::GetRequest>(&request.body)) return g->key;
  if (const auto* g = std::get_if<wire::GetsRequest>(&request.body)) return g->key;
  if (const auto* g = std::get_if<wire::SmembersRequest>(&request.body)) return g->key;
  if (const auto* g = std::get_if<wire::IncrRequest>(&request.body)) return g->key;
  KVD_PANIC("ReplicatedReadKey: not a GET, GETS, SMEMBERS or INCR 0");
}

wire::Response ReplicatedReadResponse(const wire::Request& request, Resolver resolver,
                                      const std::optional<KeyState>& st, uint32_t max_frame_bytes,
                                      std::string_view resolvers_field) {
  wire::Response resp;
  resp.request_id = request.request_id;
  resp.opcode = request.opcode();
  const std::string& key = ReplicatedReadKey(request);
  if (st) resolver = st->resolver();
  auto wrong = [&](std::string_view use) {
    return Fail(std::move(resp),
                Status::InvalidArgument(fmt::format("key '{}' is a {} key ({}): {}", key,
                                                    ResolverName(resolver), resolvers_field, use)));
  };
  auto fits = [&](size_t count, std::string_view what, size_t bytes) {
    return FitsInFrame(max_frame_bytes, key, count, what, bytes);
  };
  switch (request.opcode()) {
    case wire::Opcode::kGet: {
      if (resolver == Resolver::kSet) return wrong("read it with SMEMBERS");
      if (!st || st->Empty()) {
        return Fail(std::move(resp), Status::NotFound(fmt::format("key '{}' not found", key)));
      }
      wire::GetResponse g;
      if (resolver == Resolver::kLww) {
        g.version = st->latest().packed();
        g.value = *st->LwwValue();
      } else if (resolver == Resolver::kCounter) {
        g.version = st->latest().packed();
        g.value = std::to_string(st->CounterValue());
      } else {
        const auto& siblings = st->Siblings();
        if (siblings.size() > 1) {
          return Fail(std::move(resp),
                      Status::Conflict(fmt::format(
                          "key '{}' has {} siblings (concurrent writes): GETS returns them all, "
                          "with the context to write the resolved value",
                          key, siblings.size())));
        }
        g.version = siblings.front().value.hlc.packed();
        g.value = siblings.front().value.value;
      }
      resp.body = std::move(g);
      return resp;
    }
    case wire::Opcode::kGets: {
      if (resolver == Resolver::kCounter) return wrong("read it with GET or INCR 0");
      if (resolver == Resolver::kSet) return wrong("read it with SMEMBERS");
      wire::GetsResponse g;
      size_t bytes = 0;
      if (st && resolver == Resolver::kSiblings) {
        g.context = st->Context();
        for (const auto& e : st->Siblings()) {
          g.siblings.push_back(wire::Sibling{e.value.hlc.packed(), e.value.value});
          bytes += 12 + e.value.value.size();
        }
      } else if (st && st->LwwValue()) {
        g.siblings.push_back(wire::Sibling{st->latest().packed(), *st->LwwValue()});
        bytes += 12 + g.siblings.back().value.size();
      }
      if (Status s = fits(g.siblings.size(), "siblings", bytes + g.context.size()); !s.ok()) {
        return Fail(std::move(resp), s);
      }
      resp.body = std::move(g);
      return resp;
    }
    case wire::Opcode::kIncr: {  // INCR 0: the counter's value
      if (resolver != Resolver::kCounter) return wrong("INCR needs a counter key");
      resp.body = wire::IncrResponse{st ? st->CounterValue() : 0};
      return resp;
    }
    case wire::Opcode::kSmembers: {
      if (resolver != Resolver::kSet) return wrong("SMEMBERS needs a set key");
      wire::SmembersResponse m;
      size_t bytes = 0;
      if (st) m.members = st->SetMembers();
      for (const std::string& e : m.members) bytes += 4 + e.size();
      if (Status s = fits(m.members.size(), "members", bytes); !s.ok()) {
        return Fail(std::move(resp), s);
      }
      resp.body = std::move(m);
      return resp;
    }
    default: break;
  }
  KVD_PANIC("ReplicatedReadResponse: not a GET, GETS, SMEMBERS or INCR 0");
}

}  // namespace kvd::kv
