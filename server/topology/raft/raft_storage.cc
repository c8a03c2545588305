#include "server/topology/raft/raft_storage.h"

#include <fmt/format.h>

#include "common/bytes.h"

namespace kvd::raft {

namespace {

std::string EncodeBase(uint64_t index, uint64_t term, const Membership& m) {
  std::string out;
  ByteWriter w(&out);
  w.U64(index);
  w.U64(term);
  EncodeMembership(m, &out);
  return out;
}

topology::StorageOp Put(std::string key, std::string value) {
  return topology::StorageOp{false, std::move(key), std::move(value)};
}
topology::StorageOp Delete(std::string key) {
  return topology::StorageOp{true, std::move(key), {}};
}

}  // namespace

std::string EntryKey(uint64_t index) {
  std::string key(kEntryKeyPrefix);
  key.resize(key.size() + 8);
  PutU64BE(key.data() + kEntryKeyPrefix.size(), index);
  return key;
}

Result<Recovery> Recover(const topology::StoredState& stored, const Membership& bootstrap) {
  Recovery rec;
  RecoveredState& st = rec.state;
  st.membership = bootstrap;
  for (const auto& [key, value] : stored.topology_keys) {
    if (key == kHardStateKey) {
      ByteReader r(value);
      if (!r.U64(&st.hard_state.term) || !r.U64(&st.hard_state.vote) || !r.done()) {
        return Status::Corruption("raft hard state does not decode");
      }
    } else if (key == kLogBaseKey) {
      ByteReader r(value);
      if (!r.U64(&st.snapshot_index) || !r.U64(&st.snapshot_term)) {
        return Status::Corruption("raft log base does not decode");
      }
      Result<Membership> m = DecodeMembership(value.substr(r.position()));
      if (!m.ok()) return Status::Corruption("raft log base: membership does not decode");
      st.membership = std::move(m).value();
    } else if (key.size() == kEntryKeyPrefix.size() + 8 &&
               key.compare(0, kEntryKeyPrefix.size(), kEntryKeyPrefix) == 0) {
      Result<Entry> e = DecodeEntry(value);
      uint64_t index = GetU64BE(key.data() + kEntryKeyPrefix.size());
      if (!e.ok() || e->index != index) {
        return Status::Corruption(fmt::format("raft log entry {} does not decode", index));
      }
      st.entries.push_back(std::move(e).value());
    } else {
      return Status::Corruption(fmt::format("unknown raft key {}", ToHex(key)));
    }
  }
  // Keys sort by index (big-endian), so entries are in order; drop any at or below the
  // base (a compaction's deletes and its base record share one batch, so there are none
  // unless the batch order changes) and require no gaps after it.
  std::erase_if(st.entries, [&](const Entry& e) { return e.index <= st.snapshot_index; });
  uint64_t expect = st.snapshot_index + 1;
  for (const Entry& e : st.entries) {
    if (e.index != expect) {
      return Status::Corruption(
          fmt::format("raft log has a gap: entry {} follows {}", e.index, expect - 1));
    }
    ++expect;
  }
  uint64_t last = st.snapshot_index + st.entries.size();
  uint64_t applied = stored.applied_index;
  if (applied < st.snapshot_index) {
    return Status::Corruption(fmt::format(
        "the state machine is at index {}, behind the raft log's base {}", applied,
        st.snapshot_index));
  }
  bool log_has_applied =
      applied == st.snapshot_index
          ? stored.applied_term == st.snapshot_term || applied == 0
          : applied <= last && st.entries[applied - st.snapshot_index - 1].term ==
                                   stored.applied_term;
  if (!log_has_applied) {
    // The node installed a snapshot (the state machine jumped to `applied`) and crashed
    // before recording the log's new base. The state machine is authoritative: the log
    // restarts after it.
    Result<Membership> m = stored.applied_membership.empty()
                               ? Result<Membership>(bootstrap)
                               : DecodeMembership(stored.applied_membership);
    if (!m.ok()) return Status::Corruption("state machine membership does not decode");
    for (const Entry& e : st.entries) rec.repair.push_back(Delete(EntryKey(e.index)));
    st.entries.clear();
    st.snapshot_index = applied;
    st.snapshot_term = stored.applied_term;
    st.membership = std::move(m).value();
    rec.repair.push_back(Put(std::string(kLogBaseKey),
                             EncodeBase(applied, stored.applied_term, st.membership)));
  }
  st.applied = applied;
  return rec;
}

void RaftStorageWriter::Encode(const RaftOutput& out, std::vector<topology::StorageOp>* ops) {
  if (out.log_from != 0) {
    for (uint64_t i = std::max(out.log_from, base_ + 1); i <= last_; ++i) {
      ops->push_back(Delete(EntryKey(i)));
    }
    if (out.log_from - 1 < last_) last_ = std::max(base_, out.log_from - 1);
  }
  for (const Entry& e : out.entries) {
    std::string value;
    EncodeEntry(e, &value);
    ops->push_back(Put(EntryKey(e.index), std::move(value)));
    last_ = e.index;
  }
  if (out.compact_index != 0) {
    for (uint64_t i = base_ + 1; i <= std::min(out.compact_index, last_); ++i) {
      ops->push_back(Delete(EntryKey(i)));
    }
    ops->push_back(Put(std::string(kLogBaseKey),
                       EncodeBase(out.compact_index, out.compact_term, out.compact_membership)));
    base_ = out.compact_index;
    last_ = std::max(last_, base_);
  }
  if (out.hard_state.has_value()) {
    std::string value;
    ByteWriter w(&value);
    w.U64(out.hard_state->term);
    w.U64(out.hard_state->vote);
    ops->push_back(Put(std::string(kHardStateKey), std::move(value)));
  }
}

}  // namespace kvd::raft
