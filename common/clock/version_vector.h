// Version vectors, dots, and the dotted causal container that siblings and OR-sets share.
//
// A Dot (node, counter) names one event: the counter-th write that `node` coordinated. A
// VersionVector maps node ids to counters and stands for every dot (n, c) with c <= vv[n].
// That is exact when a replica sees each node's events in counter order, without gaps:
// then "seen (n, 5)" implies "seen (n, 1..4)" and a vector is enough, which is what makes
// the representation small. multi_leader numbers every write of a node (all keys) in one
// sequence and applies each origin's changes in order; a topology that cannot promise the
// order numbers events per key instead (DotMap::NextDot).
//
// DotMap<T> ("dotted version vectors" as Preguiça et al. and Riak use them, in the dot
// store + causal context form of Almeida et al.'s delta-state CRDTs) is a key's state: the
// live values, each tagged with the dot of the write that produced it, plus the causal
// context, a VersionVector of every write the state has seen, including those whose values
// were since overwritten or deleted. Two states merge by keeping a value if both hold it,
// or if one holds it and the other has not seen its dot; everything else was overwritten.
// The merge is commutative, associative and idempotent, so replicas that exchange states
// in any order, any number of times, converge.
//
// Used as
//   - siblings: a write presents the context it read; values whose dots that context
//     covers are replaced, and the rest (concurrent writes) stay as siblings;
//   - an add-wins observed-remove set: each element is a value; add = replace the
//     element's dots with a new one; remove = drop them; a concurrent add has a dot the
//     remover had not seen, so it survives.
//
// Deterministic, no allocation beyond the containers. Thread-safety: plain values.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"

namespace kvd::clock {

using NodeId = uint64_t;

struct Dot {
  NodeId node = 0;
  uint64_t counter = 0;

  friend constexpr auto operator<=>(const Dot&, const Dot&) = default;
  std::string ToString() const;  // "3:17"
};

enum class Causality {
  kEqual,       // the same events
  kBefore,      // this vector saw a strict subset of the other's events
  kAfter,       // a strict superset
  kConcurrent,  // each saw an event the other did not
};

class VersionVector {
 public:
  // Largest vector Decode accepts; a key touched by more nodes than this is refused.
  // Encoded, that is 2 + 16 * 1023 = 16370 bytes: it fits the wire's 16 KiB context bound.
  static constexpr size_t kMaxEntries = 1023;

  VersionVector() = default;

  uint64_t Get(NodeId node) const;
  // Sets node's counter to max(current, counter).
  void Witness(NodeId node, uint64_t counter);
  void Witness(const Dot& dot) { Witness(dot.node, dot.counter); }
  bool Covers(const Dot& dot) const { return dot.counter <= Get(dot.node); }

  // Pointwise maximum.
  void Join(const VersionVector& other);
  Causality Compare(const VersionVector& other) const;
  // True when this vector has seen every event `other` has.
  bool Descends(const VersionVector& other) const;

  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  // Sum of counters: how many events the vector covers.
  uint64_t Total() const;
  const std::vector<std::pair<NodeId, uint64_t>>& entries() const { return entries_; }

  // u16 count, then count x (u64 node, u64 counter), nodes strictly increasing, counters
  // non-zero.
  void Encode(ByteWriter* w) const;
  [[nodiscard]] static Status Decode(ByteReader* r, VersionVector* out);

  // "{1:4, 3:2}".
  std::string ToString() const;

  friend bool operator==(const VersionVector&, const VersionVector&) = default;

 private:
  std::vector<std::pair<NodeId, uint64_t>> entries_;  // sorted by node, counters > 0
};

template <typename T>
class DotMap {
 public:
  struct Entry {
    Dot dot;
    T value;
    friend bool operator==(const Entry&, const Entry&) = default;
  };

  const std::vector<Entry>& entries() const { return entries_; }
  const VersionVector& context() const { return context_; }
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }

  // The next dot `node` would give a new write to this key: one past every counter for
  // `node` in this state and in `seen` (a context a client presents may be ahead of this
  // replica, if the client read from another one).
  Dot NextDot(NodeId node, const VersionVector& seen) const {
    uint64_t c = context_.Get(node);
    if (seen.Get(node) > c) c = seen.Get(node);
    return Dot{node, c + 1};
  }

  // Drops the values whose dots `seen` covers, remembering `seen` in the context: what a
  // write or delete that read `seen` overwrites. Returns how many values it dropped.
  size_t Discard(const VersionVector& seen) {
    const size_t before = entries_.size();
    std::erase_if(entries_, [&](const Entry& e) { return seen.Covers(e.dot); });
    context_.Join(seen);
    return before - entries_.size();
  }

  // Adds a value under a dot this state has not seen. REQUIRES: !context().Covers(dot).
  void Add(const Dot& dot, T value) {
    KVD_ASSERT_MSG(!context_.Covers(dot), "DotMap::Add: dot already seen");
    context_.Witness(dot);
    auto it = entries_.begin();
    while (it != entries_.end() && it->dot < dot) ++it;
    entries_.insert(it, Entry{dot, std::move(value)});
  }

  // Drops the values for which pred(value) holds; their dots stay in the context, so a
  // merge with a replica that still holds them drops them there too.
  template <typename Pred>
  size_t RemoveIf(Pred pred) {
    const size_t before = entries_.size();
    std::erase_if(entries_, [&](const Entry& e) { return pred(e.value); });
    return before - entries_.size();
  }

  // Merges another replica's state into this one. Both entry lists are sorted by dot.
  void Merge(const DotMap& other) {
    std::vector<Entry> merged;
    merged.reserve(entries_.size() + other.entries_.size());
    size_t i = 0, j = 0;
    while (i < entries_.size() || j < other.entries_.size()) {
      if (j == other.entries_.size() ||
          (i < entries_.size() && entries_[i].dot < other.entries_[j].dot)) {
        if (!other.context_.Covers(entries_[i].dot)) merged.push_back(std::move(entries_[i]));
        ++i;
      } else if (i == entries_.size() || other.entries_[j].dot < entries_[i].dot) {
        if (!context_.Covers(other.entries_[j].dot)) merged.push_back(other.entries_[j]);
        ++j;
      } else {  // both hold the dot: one write, one value
        merged.push_back(std::move(entries_[i]));
        ++i;
        ++j;
      }
    }
    entries_ = std::move(merged);
    context_.Join(other.context_);
  }

  // Rebuilds from decoded parts. Fails when entries are not strictly sorted by dot or a
  // dot is outside the context.
  [[nodiscard]] static Status Make(std::vector<Entry> entries, VersionVector context, DotMap* out) {
    for (size_t k = 0; k < entries.size(); ++k) {
      if (k > 0 && !(entries[k - 1].dot < entries[k].dot)) {
        return Status::Corruption("dotted values are not in increasing dot order");
      }
      if (!context.Covers(entries[k].dot)) {
        return Status::Corruption("a dotted value's dot " + entries[k].dot.ToString() +
                                  " is outside its causal context");
      }
    }
    out->entries_ = std::move(entries);
    out->context_ = std::move(context);
    return Status::Ok();
  }

  friend bool operator==(const DotMap&, const DotMap&) = default;

 private:
  std::vector<Entry> entries_;  // sorted by dot, every dot covered by context_
  VersionVector context_;
};

}  // namespace kvd::clock
