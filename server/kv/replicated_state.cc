#include "server/kv/replicated_state.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

namespace kvd::kv {

std::string_view ResolverName(Resolver resolver) {
  switch (resolver) {
    case Resolver::kLww: return "lww";
    case Resolver::kSiblings: return "siblings";
    case Resolver::kCounter: return "counter";
    case Resolver::kSet: return "set";
  }
  return "unknown";
}

std::string_view ChangeOpName(ChangeOp op) {
  switch (op) {
    case ChangeOp::kNoop: return "noop";
    case ChangeOp::kPut: return "put";
    case ChangeOp::kDelete: return "delete";
    case ChangeOp::kAdd: return "add";
    case ChangeOp::kSetAdd: return "set_add";
    case ChangeOp::kSetRemove: return "set_remove";
  }
  return "unknown";
}

namespace {

bool ValidResolver(uint8_t r) { return r >= 1 && r <= 4; }

// Which operations each resolver accepts (kNoop goes with any).
bool OpFits(Resolver r, ChangeOp op) {
  switch (op) {
    case ChangeOp::kNoop: return true;
    case ChangeOp::kPut:
    case ChangeOp::kDelete: return r == Resolver::kLww || r == Resolver::kSiblings;
    case ChangeOp::kAdd: return r == Resolver::kCounter;
    case ChangeOp::kSetAdd:
    case ChangeOp::kSetRemove: return r == Resolver::kSet;
  }
  return false;
}

}  // namespace

// Change: u64 origin, u64 seq, u64 hlc, u8 resolver, u8 op, bytes key, bytes value,
// u64 amount (two's complement), version vector context.
void EncodeChange(const Change& c, ByteWriter* w) {
  w->U64(c.dot.node);
  w->U64(c.dot.counter);
  w->U64(c.hlc.packed());
  w->U8(static_cast<uint8_t>(c.resolver));
  w->U8(static_cast<uint8_t>(c.op));
  w->Bytes(c.key);
  w->Bytes(c.value);
  w->U64(static_cast<uint64_t>(c.amount));
  c.context.Encode(w);
}

std::string EncodeChange(const Change& change) {
  std::string out;
  ByteWriter w(&out);
  EncodeChange(change, &w);
  return out;
}

Status DecodeChange(ByteReader* r, const ReplicatedLimits& limits, Change* out) {
  Change c;
  uint64_t hlc = 0, amount = 0;
  uint8_t resolver = 0, op = 0;
  if (!r->U64(&c.dot.node) || !r->U64(&c.dot.counter) || !r->U64(&hlc) || !r->U8(&resolver) ||
      !r->U8(&op)) {
    return Status::Corruption("change: truncated header");
  }
  if (c.dot.counter == 0) return Status::Corruption("change: sequence number 0");
  if (!ValidResolver(resolver)) {
    return Status::Corruption(fmt::format("change: unknown resolver {}", resolver));
  }
  if (op > static_cast<uint8_t>(ChangeOp::kSetRemove)) {
    return Status::Corruption(fmt::format("change: unknown operation {}", op));
  }
  c.hlc = clock::HlcTimestamp::FromPacked(hlc);
  c.resolver = static_cast<Resolver>(resolver);
  c.op = static_cast<ChangeOp>(op);
  if (!OpFits(c.resolver, c.op)) {
    return Status::Corruption(fmt::format("change: operation {} on a {} key",
                                          ChangeOpName(c.op), ResolverName(c.resolver)));
  }
  std::string_view key, value;
  if (!r->Bytes(&key, limits.max_key_bytes)) return Status::Corruption("change: bad key");
  if (!r->Bytes(&value, limits.max_value_bytes)) return Status::Corruption("change: bad value");
  if (!r->U64(&amount)) return Status::Corruption("change: truncated amount");
  c.key.assign(key);
  c.value.assign(value);
  c.amount = static_cast<int64_t>(amount);
  if (Status s = clock::VersionVector::Decode(r, &c.context); !s.ok()) {
    return s.WithContext("change context");
  }
  *out = std::move(c);
  return Status::Ok();
}

// ---- KeyState ----

Outcome KeyState::ApplyLww(const Change& c) {
  Outcome o;
  if (c.dot == lww_dot_) return o;  // already applied
  const bool have = lww_dot_.counter != 0;
  const bool wins = !have || std::pair(c.hlc, c.dot.node) > std::pair(lww_hlc_, lww_dot_.node);
  if (wins) {
    if (have && !c.context.Covers(lww_dot_)) ++o.concurrent_overwrites;
    lww_dot_ = c.dot;
    lww_hlc_ = c.hlc;
    lww_deleted_ = c.op == ChangeOp::kDelete;
    lww_value_ = lww_deleted_ ? std::string() : c.value;
    lww_context_ = c.context;
    o.changed = true;
  } else if (!lww_context_.Covers(c.dot)) {
    ++o.concurrent_overwrites;  // the incoming write loses to one that had not seen it
  }
  return o;
}

Outcome KeyState::Apply(const Change& c) {
  Outcome o;
  if (c.op == ChangeOp::kNoop) return o;
  if (c.resolver != resolver_) {
    o.wrong_resolver = true;
    return o;
  }
  const clock::HlcTimestamp before_latest = latest_;
  switch (resolver_) {
    case Resolver::kLww: o = ApplyLww(c); break;
    case Resolver::kSiblings: {
      const auto before = siblings_;
      const clock::VersionVector deletes_before = deletes_;
      if (c.op == ChangeOp::kPut) {
        siblings_.Discard(c.context);
        if (!siblings_.context().Covers(c.dot)) siblings_.Add(c.dot, Sibling{c.value, c.hlc});
      } else {
        // A delete removes what its context covers and adds nothing: concurrent writes
        // stay. Its dot is remembered apart (not in the context, which would then cover
        // the origin's earlier puts the client had not seen), so that the tombstone counts
        // as stable only once every replica has applied the delete itself.
        siblings_.Discard(c.context);
        deletes_.Witness(c.dot);
      }
      o.changed = !(before == siblings_) || !(deletes_before == deletes_);
      break;
    }
    case Resolver::kCounter: {
      CounterEntry& e = counter_[c.dot.node];
      if (c.dot.counter > e.seq) {
        e.seq = c.dot.counter;
        if (c.amount >= 0) {
          e.inc += static_cast<uint64_t>(c.amount);
        } else {
          e.dec += c.amount == std::numeric_limits<int64_t>::min()
                       ? uint64_t{1} << 63
                       : static_cast<uint64_t>(-c.amount);
        }
        o.changed = true;
      }
      break;
    }
    case Resolver::kSet: {
      clock::DotMap<Unit>& adds = set_[c.value];
      const auto before = adds;
      adds.Discard(c.context);  // the adds of this element the origin had seen
      if (c.op == ChangeOp::kSetAdd && !adds.context().Covers(c.dot)) adds.Add(c.dot, Unit{});
      if (c.op == ChangeOp::kSetRemove) {
        // The remove's own dot joins the element's context (as a siblings delete's does):
        // a removed element counts as stable only once every replica has the remove.
        clock::VersionVector own;
        own.Witness(c.dot);
        adds.Discard(own);
      }
      o.changed = !(before == adds);
      break;
    }
  }
  latest_ = std::max(latest_, c.hlc);
  o.changed = o.changed || !(before_latest == latest_);
  return o;
}

size_t KeyState::SiblingsAfter(const Change& c) const {
  if (resolver_ != Resolver::kSiblings) return 0;
  size_t n = 0;
  for (const auto& e : siblings_.entries()) {
    if (!c.context.Covers(e.dot)) ++n;
  }
  return c.op == ChangeOp::kPut ? n + 1 : n;
}

Outcome KeyState::Merge(const KeyState& other) {
  Outcome o;
  if (other.resolver_ != resolver_) {
    o.wrong_resolver = true;
    return o;
  }
  const KeyState before = *this;
  switch (resolver_) {
    case Resolver::kLww:
      if (other.lww_dot_.counter != 0 &&
          (lww_dot_.counter == 0 || std::pair(other.lww_hlc_, other.lww_dot_.node) >
                                        std::pair(lww_hlc_, lww_dot_.node))) {
        lww_dot_ = other.lww_dot_;
        lww_hlc_ = other.lww_hlc_;
        lww_deleted_ = other.lww_deleted_;
        lww_value_ = other.lww_value_;
        lww_context_ = other.lww_context_;
      }
      break;
    case Resolver::kSiblings:
      siblings_.Merge(other.siblings_);
      deletes_.Join(other.deletes_);
      break;
    case Resolver::kCounter:
      for (const auto& [node, e] : other.counter_) {
        CounterEntry& mine = counter_[node];
        if (e.seq > mine.seq) mine = e;
      }
      break;
    case Resolver::kSet:
      for (const auto& [element, adds] : other.set_) set_[element].Merge(adds);
      break;
  }
  latest_ = std::max(latest_, other.latest_);
  o.changed = !(before == *this);
  return o;
}

bool KeyState::Empty() const {
  switch (resolver_) {
    case Resolver::kLww: return lww_dot_.counter == 0 || lww_deleted_;
    case Resolver::kSiblings: return siblings_.empty();
    case Resolver::kCounter: return counter_.empty();
    case Resolver::kSet:
      return std::all_of(set_.begin(), set_.end(), [](const auto& kv) { return kv.second.empty(); });
  }
  return true;
}

bool KeyState::HasTombstones() const {
  switch (resolver_) {
    case Resolver::kLww: return lww_dot_.counter != 0 && lww_deleted_;
    case Resolver::kSiblings: return siblings_.empty() && !siblings_.context().empty();
    case Resolver::kCounter: return false;
    case Resolver::kSet:
      return std::any_of(set_.begin(), set_.end(), [](const auto& kv) { return kv.second.empty(); });
  }
  return false;
}

Collected KeyState::CollectTombstones(const Stability& stable, uint64_t now_ms,
                                      uint64_t grace_ms) {
  // The grace period runs from the key's last write; a key written since is young again.
  if (latest_.wall_ms() > now_ms || now_ms - latest_.wall_ms() < grace_ms) {
    return Collected::kNothing;
  }
  switch (resolver_) {
    case Resolver::kLww:
      // Every replica has the delete, and whatever any replica writes next is stamped
      // later, so it wins over the tombstone exactly as it wins over nothing.
      if (HasTombstones() && stable.vv.Covers(lww_dot_) && lww_hlc_ < stable.clock &&
          latest_ < stable.clock) {
        return Collected::kRemoveKey;
      }
      return Collected::kNothing;
    case Resolver::kSiblings:
      // Every change the context covers is applied everywhere: none can arrive again.
      if (HasTombstones() && stable.vv.Descends(siblings_.context()) &&
          stable.vv.Descends(deletes_) && latest_ < stable.clock) {
        return Collected::kRemoveKey;
      }
      return Collected::kNothing;
    case Resolver::kCounter: return Collected::kNothing;
    case Resolver::kSet: {
      std::vector<std::string> gone;
      for (const auto& [element, adds] : set_) {
        if (adds.empty() && stable.vv.Descends(adds.context())) gone.push_back(element);
      }
      if (gone.empty()) return Collected::kNothing;
      if (gone.size() == set_.size()) {
        // The whole key goes only when any later write is stamped after everything it saw,
        // so that a key rebuilt from nothing encodes as the tombstoned one would have.
        if (latest_ < stable.clock) return Collected::kRemoveKey;
        gone.pop_back();  // keep one removed element (and so the key) until then
        if (gone.empty()) return Collected::kNothing;
      }
      for (const std::string& element : gone) set_.erase(element);
      return Collected::kTrimmed;
    }
  }
  return Collected::kNothing;
}

std::optional<std::string> KeyState::LwwValue() const {
  if (lww_dot_.counter == 0 || lww_deleted_) return std::nullopt;
  return lww_value_;
}

std::string KeyState::Context() const {
  std::string out;
  ByteWriter w(&out);
  siblings_.context().Encode(&w);
  return out;
}

int64_t KeyState::CounterValue() const {
  uint64_t sum = 0;  // modular arithmetic: the result is exact whenever it fits in int64
  for (const auto& [node, e] : counter_) sum += e.inc - e.dec;
  return static_cast<int64_t>(sum);
}

std::vector<std::string> KeyState::SetMembers() const {
  std::vector<std::string> out;
  for (const auto& [element, adds] : set_) {
    if (!adds.empty()) out.push_back(element);
  }
  return out;
}

// State: u8 resolver, u64 latest hlc, then
//   lww:      u64 origin, u64 seq, u64 hlc, u8 deleted, bytes value, vv context
//   siblings: vv context, u32 n, n x (u64 origin, u64 seq, u64 hlc, bytes value),
//             vv deletes (the dots of the deletes applied, per origin the latest)
//   counter:  u32 n, n x (u64 origin, u64 seq, u64 inc, u64 dec)
//   set:      u32 n, n x (bytes element, vv context, u32 m, m x (u64 origin, u64 seq))
std::string KeyState::Encode() const {
  std::string out;
  ByteWriter w(&out);
  w.U8(static_cast<uint8_t>(resolver_));
  w.U64(latest_.packed());
  switch (resolver_) {
    case Resolver::kLww:
      w.U64(lww_dot_.node);
      w.U64(lww_dot_.counter);
      w.U64(lww_hlc_.packed());
      w.U8(lww_deleted_ ? 1 : 0);
      w.Bytes(lww_value_);
      lww_context_.Encode(&w);
      break;
    case Resolver::kSiblings:
      siblings_.context().Encode(&w);
      w.U32(static_cast<uint32_t>(siblings_.size()));
      for (const auto& e : siblings_.entries()) {
        w.U64(e.dot.node);
        w.U64(e.dot.counter);
        w.U64(e.value.hlc.packed());
        w.Bytes(e.value.value);
      }
      deletes_.Encode(&w);
      break;
    case Resolver::kCounter:
      w.U32(static_cast<uint32_t>(counter_.size()));
      for (const auto& [node, e] : counter_) {
        w.U64(node);
        w.U64(e.seq);
        w.U64(e.inc);
        w.U64(e.dec);
      }
      break;
    case Resolver::kSet:
      w.U32(static_cast<uint32_t>(set_.size()));
      for (const auto& [element, adds] : set_) {
        w.Bytes(element);
        adds.context().Encode(&w);
        w.U32(static_cast<uint32_t>(adds.size()));
        for (const auto& e : adds.entries()) {
          w.U64(e.dot.node);
          w.U64(e.dot.counter);
        }
      }
      break;
  }
  return out;
}

Result<KeyState> KeyState::Decode(std::string_view key, std::string_view bytes,
                                  const ReplicatedLimits& limits) {
  auto bad = [&](std::string_view what) {
    return Status::Corruption(fmt::format("replicated state of key '{}': {}", key, what));
  };
  ByteReader r(bytes);
  uint8_t resolver = 0;
  uint64_t latest = 0;
  if (!r.U8(&resolver) || !r.U64(&latest)) return bad("truncated header");
  if (!ValidResolver(resolver)) return bad(fmt::format("unknown resolver {}", resolver));
  KeyState s(static_cast<Resolver>(resolver));
  s.latest_ = clock::HlcTimestamp::FromPacked(latest);
  uint32_t n = 0;
  switch (s.resolver_) {
    case Resolver::kLww: {
      uint64_t hlc = 0;
      uint8_t deleted = 0;
      std::string_view value;
      if (!r.U64(&s.lww_dot_.node) || !r.U64(&s.lww_dot_.counter) || !r.U64(&hlc) ||
          !r.U8(&deleted) || !r.Bytes(&value, limits.max_value_bytes)) {
        return bad("truncated lww value");
      }
      if (deleted > 1) return bad("bad deleted flag");
      s.lww_hlc_ = clock::HlcTimestamp::FromPacked(hlc);
      s.lww_deleted_ = deleted == 1;
      s.lww_value_.assign(value);
      if (Status st = clock::VersionVector::Decode(&r, &s.lww_context_); !st.ok()) {
        return bad(st.message());
      }
      break;
    }
    case Resolver::kSiblings: {
      clock::VersionVector context;
      if (Status st = clock::VersionVector::Decode(&r, &context); !st.ok()) return bad(st.message());
      if (!r.U32(&n) || n > limits.max_entries) return bad("bad sibling count");
      std::vector<clock::DotMap<Sibling>::Entry> entries;
      for (uint32_t k = 0; k < n; ++k) {
        clock::DotMap<Sibling>::Entry e;
        uint64_t hlc = 0;
        std::string_view value;
        if (!r.U64(&e.dot.node) || !r.U64(&e.dot.counter) || !r.U64(&hlc) ||
            !r.Bytes(&value, limits.max_value_bytes)) {
          return bad("truncated sibling");
        }
        e.value.hlc = clock::HlcTimestamp::FromPacked(hlc);
        e.value.value.assign(value);
        entries.push_back(std::move(e));
      }
      if (Status st = clock::DotMap<Sibling>::Make(std::move(entries), std::move(context),
                                                   &s.siblings_);
          !st.ok()) {
        return bad(st.message());
      }
      if (Status st = clock::VersionVector::Decode(&r, &s.deletes_); !st.ok()) {
        return bad(st.message());
      }
      break;
    }
    case Resolver::kCounter: {
      if (!r.U32(&n) || n > limits.max_entries) return bad("bad counter origin count");
      clock::NodeId prev = 0;
      for (uint32_t k = 0; k < n; ++k) {
        clock::NodeId node = 0;
        CounterEntry e;
        if (!r.U64(&node) || !r.U64(&e.seq) || !r.U64(&e.inc) || !r.U64(&e.dec)) {
          return bad("truncated counter entry");
        }
        if (k > 0 && node <= prev) return bad("counter origins not increasing");
        prev = node;
        s.counter_[node] = e;
      }
      break;
    }
    case Resolver::kSet: {
      if (!r.U32(&n) || n > limits.max_entries) return bad("bad set element count");
      std::string prev;
      for (uint32_t k = 0; k < n; ++k) {
        std::string_view element;
        if (!r.Bytes(&element, limits.max_value_bytes)) return bad("truncated set element");
        if (k > 0 && std::string(element) <= prev) return bad("set elements not increasing");
        prev.assign(element);
        clock::VersionVector context;
        if (Status st = clock::VersionVector::Decode(&r, &context); !st.ok()) {
          return bad(st.message());
        }
        uint32_t m = 0;
        if (!r.U32(&m) || m > limits.max_entries) return bad("bad set add count");
        std::vector<clock::DotMap<Unit>::Entry> adds;
        for (uint32_t j = 0; j < m; ++j) {
          clock::DotMap<Unit>::Entry e;
          if (!r.U64(&e.dot.node) || !r.U64(&e.dot.counter)) return bad("truncated set add");
          adds.push_back(e);
        }
        if (Status st = clock::DotMap<Unit>::Make(std::move(adds), std::move(context),
                                                  &s.set_[prev]);
            !st.ok()) {
          return bad(st.message());
        }
      }
      break;
    }
  }
  if (!r.done()) return bad("trailing bytes");
  return s;
}

Result<clock::VersionVector> DecodeContext(std::string_view bytes) {
  clock::VersionVector vv;
  if (bytes.empty()) return vv;
  ByteReader r(bytes);
  Status s = clock::VersionVector::Decode(&r, &vv);
  if (!s.ok() || !r.done()) {
    return Status::InvalidArgument("the causal context does not decode: pass back the context "
                                   "bytes a read returned, unchanged");
  }
  return vv;
}

}  // namespace kvd::kv
