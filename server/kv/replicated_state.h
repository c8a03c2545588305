// Replicated key state: what a key holds in the topologies where several nodes accept
// writes to it (multi_leader now, dynamo later), and the Change that carries one write
// from the node that accepted it (its origin) to every other replica.
//
// Each key is governed by one resolver, chosen by key prefix in the config:
//
//   lww       one value (or a tombstone); of two writes, the one with the larger (HLC,
//             origin) wins. Concurrent writes are dropped silently by design; Apply
//             reports each one (Outcome::concurrent_overwrites) so the node can count it.
//   siblings  a multi-value register over dotted version vectors (clock::DotMap): a write
//             that presents the causal context it read replaces what that context covers;
//             concurrent writes are all kept as siblings. The application resolves them by
//             writing with the context of a read that returned them all.
//   counter   a PN-counter: per origin, the totals of its increments and decrements.
//   set       an add-wins observed-remove set: per element, a DotMap of the adds that
//             put it there; a remove drops the adds its origin had seen, so an add the
//             remover had not seen (a concurrent one) survives.
//
// Dots and progress. A change is named by its Dot (origin, seq): seq numbers the origin's
// changes (for all keys) without gaps, and every replica applies an origin's changes in
// seq order. So a version vector of "seq applied per origin" (the origin's progress at the
// time of a write) covers exactly the changes that origin had seen, and it is what lww,
// set and context-free deletes use as their causal context.
//
// Every operation is idempotent (applying a change twice is applying it once) and changes
// from different origins commute, so replicas that apply the same set of changes, each
// origin's in order, hold byte-identical state (KeyState::Encode).
//
// Deterministic; no I/O. Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/clock/hlc.h"
#include "common/clock/version_vector.h"
#include "common/status.h"

namespace kvd::kv {

enum class Resolver : uint8_t { kLww = 1, kSiblings = 2, kCounter = 3, kSet = 4 };
std::string_view ResolverName(Resolver resolver);

enum class ChangeOp : uint8_t {
  kNoop = 0,       // a write the origin refused after numbering it (keeps seqs gap-free)
  kPut = 1,        // lww, siblings
  kDelete = 2,     // lww, siblings
  kAdd = 3,        // counter: add `amount` (negative for a decrement)
  kSetAdd = 4,     // set: add element `value`
  kSetRemove = 5,  // set: remove element `value`
};
std::string_view ChangeOpName(ChangeOp op);

struct Change {
  clock::Dot dot;            // origin node id and its change sequence number (>= 1)
  clock::HlcTimestamp hlc;   // the origin's hybrid clock at the write
  Resolver resolver = Resolver::kLww;
  ChangeOp op = ChangeOp::kNoop;
  std::string key;
  std::string value;         // kPut: the value; kSetAdd/kSetRemove: the element
  int64_t amount = 0;        // kAdd
  // What the write had seen. siblings kPut/kDelete: the context the client presented
  // (empty: none, so the put is concurrent with everything and the delete removes
  // nothing); lww, set ops and siblings deletes without a client context: the origin's
  // progress vector.
  clock::VersionVector context;

  friend bool operator==(const Change&, const Change&) = default;
};

// Bounds for decoding changes and states from peers and disk.
struct ReplicatedLimits {
  uint32_t max_key_bytes = 1024;
  uint32_t max_value_bytes = 16u << 20;
  uint32_t max_entries = 1u << 20;  // siblings, set elements and adds, counter origins
};

void EncodeChange(const Change& change, ByteWriter* w);
std::string EncodeChange(const Change& change);
// Errors: kCorruption naming what was wrong.
Status DecodeChange(ByteReader* r, const ReplicatedLimits& limits, Change* out);

// What applying a change or merging a state did.
struct Outcome {
  bool changed = false;             // the state's bytes changed
  uint32_t concurrent_overwrites = 0;  // lww: writes dropped without having been seen
  bool wrong_resolver = false;      // the change's resolver differs from the key's: ignored
};

// What every replica is known to have applied (the Replicator's stability reports): the
// changes `vv` covers, and every change any replica makes from now on has a hybrid
// timestamp above `clock`. A tombstone all of whose history is stable this way can be
// dropped: no change still on its way to this replica is covered by it or loses to it, so
// the key reads the same with the tombstone or without it.
struct Stability {
  clock::VersionVector vv;
  clock::HlcTimestamp clock;
};

enum class Collected : uint8_t {
  kNothing,    // nothing collectable (or nothing to collect)
  kTrimmed,    // removed set elements were dropped; the key holds more
  kRemoveKey,  // the whole key is a stable tombstone: delete it
};

class KeyState {
 public:
  struct Sibling {
    std::string value;
    clock::HlcTimestamp hlc;
    friend bool operator==(const Sibling&, const Sibling&) = default;
  };
  struct Unit {
    friend bool operator==(const Unit&, const Unit&) = default;
  };
  struct CounterEntry {
    uint64_t seq = 0;  // the last of the origin's changes applied to this key
    uint64_t inc = 0;  // sum of its increments
    uint64_t dec = 0;  // sum of its decrements (as a positive number)
    friend bool operator==(const CounterEntry&, const CounterEntry&) = default;
  };

  // An empty state (never written) under `resolver`.
  explicit KeyState(Resolver resolver) : resolver_(resolver) {}

  Resolver resolver() const { return resolver_; }

  // Applies a change of this key. Idempotent. A change of another resolver is ignored and
  // reported (Outcome::wrong_resolver): a key keeps the resolver it was first written with.
  Outcome Apply(const Change& change);

  // Merges another replica's whole state of the same key (a state transfer). Commutative,
  // associative and idempotent.
  Outcome Merge(const KeyState& other);

  // Siblings the key would hold after `change` was applied (for the cap check at the origin).
  size_t SiblingsAfter(const Change& change) const;

  // True when the key holds nothing readable (never written, or deleted): a tombstone
  // once it has history. `latest` is the largest HLC of any write it has seen.
  bool Empty() const;
  clock::HlcTimestamp latest() const { return latest_; }

  // Reads.
  // True when the state keeps deletion history: an lww tombstone, a siblings key whose
  // siblings were all removed, or a set element that was removed.
  bool HasTombstones() const;
  // Tombstone garbage collection: drops the deletion history that `stable` makes
  // redundant, once the key's last write is at least `grace_ms` old at now_ms (wall clock,
  // unix ms). lww and siblings keys go whole (kRemoveKey); a set drops its removed elements
  // (kTrimmed) and goes whole when none is left.
  Collected CollectTombstones(const Stability& stable, uint64_t now_ms, uint64_t grace_ms);

  std::optional<std::string> LwwValue() const;  // nullopt: deleted or never written
  const std::vector<clock::DotMap<Sibling>::Entry>& Siblings() const { return siblings_.entries(); }
  // The opaque causal context a read returns and a later write presents.
  std::string Context() const;
  int64_t CounterValue() const;
  std::vector<std::string> SetMembers() const;

  std::string Encode() const;
  // Errors: kCorruption naming the key.
  static Result<KeyState> Decode(std::string_view key, std::string_view bytes,
                                 const ReplicatedLimits& limits);

  friend bool operator==(const KeyState&, const KeyState&) = default;

 private:
  Outcome ApplyLww(const Change& change);

  Resolver resolver_;
  clock::HlcTimestamp latest_;
  // lww: the winning write.
  clock::Dot lww_dot_;
  clock::HlcTimestamp lww_hlc_;
  bool lww_deleted_ = false;
  std::string lww_value_;
  clock::VersionVector lww_context_;  // what the winning write had seen
  // siblings, and the deletes applied to them (per origin, the latest delete's seq)
  clock::DotMap<Sibling> siblings_;
  clock::VersionVector deletes_;
  // counter
  std::map<clock::NodeId, CounterEntry> counter_;
  // set: element -> the adds that put it there (empty DotMap with a context: removed)
  std::map<std::string, clock::DotMap<Unit>> set_;
};

// Decodes a context a client presented (KeyState::Context's bytes; empty = none).
// Errors: kInvalidArgument naming what was wrong.
Result<clock::VersionVector> DecodeContext(std::string_view bytes);

}  // namespace kvd::kv
