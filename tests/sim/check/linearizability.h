// Linearizability checking of recorded client histories, a C++ port of the design of
// Porcupine (anishathalye/porcupine), extended for operations with unknown outcomes.
//
// A history is a list of operations, each with the time its client called it, the time the
// answer came back, its input and its output. The history is linearizable if every operation
// can be given one instant inside its [call, return] interval (closed at both ends) such that
// running the operations one by one, in the order of those instants, through a sequential
// model of the store produces exactly the recorded outputs (Herlihy & Wing 1990). An
// operation that never returned (kNeverReturned: a timeout, a crash) may take effect at any
// instant after its call, or never.
//
// The search is Wing & Gong's algorithm with Lowe's just-in-time linearization and
// memoization, as in Porcupine: the call and return entries of the history sit in a doubly
// linked list sorted by time; the search repeatedly "lifts" (removes) a call and its return
// out of the list when the model accepts the operation next, and "unlifts" it to backtrack. A
// cache of (set of linearized operations, model state) pairs prunes every configuration that
// has been explored before. A model may partition its history (for a key-value store: by
// key, since operations on different keys commute), and each partition is checked alone.
//
// Models may be nondeterministic: Step() returns every possible next state, and the search
// tracks the set of them (Porcupine's NondeterministicModel). Operations that never returned
// are not ordered by the search (by default): they are folded into that set. Each element of
// the set is a model state plus the pending operations that have not taken effect in it yet;
// after each step the set is closed under "any eligible pending operation takes effect now",
// where a pending operation is eligible once its call precedes the return of every operation
// still to be linearized. With a Dominates() relation on states the set usually stays small,
// and refuting a history costs far less than searching the pending operations' positions,
// which is exponential in their number. Porcupine's plain treatment (search the pending
// operations' positions too) is often much faster on linearizable histories, so by default
// each partition gets a plain search with half the budget first, and the folded search only
// if that runs out (PendingStrategy::kAuto). All strategies are exact; the tests compare
// them.
//
// Limits. Deciding linearizability is NP-complete, and the budget turns hard cases into
// kUnknown. Measured on histories from a correct store (the generator in the tests; about a
// microsecond per step): linearizable histories of 3,000-10,000 operations cost 1-2 steps
// per operation, 100x more when ~40 operations overlap. Refuting one stale read costs
// thousands of steps with few pending operations per key, and can exceed the default budget
// when a key has many (a single key with 30 pending operations among 300), because the
// possible states remember which pending operations have already taken effect. Keep per-key
// histories short (use more keys) to keep verdicts definite.
//
// Two parts:
//   1. A generic checker, CheckHistory<Model>(), for any model with the members listed above
//      its declaration.
//   2. KvModel and CheckKvHistory(): the model of kvd's data operations (get, put, delete and
//      the three compare-and-set forms) with versions drawn from a store-wide revision.
//
// Determinism: the checker uses no clock, thread or random source. Its effort is bounded by a
// count of search steps (CheckOptions::max_steps), so the same history and options give the
// same verdict on every machine. When the budget runs out the verdict is kUnknown, never kOk.
// Memory grows with the steps taken (the cache keeps one entry per new configuration).
//
// Thread-safety: every function here is pure: it reads its arguments and returns a value.
// Distinct calls may run on distinct threads; the library holds no global state.
#pragma once

#include <algorithm>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/status.h"

namespace kvd::check {

// The return time of an operation whose outcome is unknown (the client gave up waiting, or
// the run ended first). Such an operation may take effect at any instant after its call, or
// never.
inline constexpr uint64_t kNeverReturned = UINT64_MAX;

// The default search budget: at most a few seconds of search and about 100 MB of cache on
// adversarial histories; typical linearizable histories need a small fraction of it.
inline constexpr uint64_t kDefaultMaxSteps = 4'000'000;

// How many operations of a failing partition's longest linearizable prefix the description
// of a kIllegal result lists (the last ones, which are the most relevant).
inline constexpr size_t kMaxDescribedPrefixOps = 24;

// How many candidate, pending and state lines the description of a kIllegal result lists.
inline constexpr size_t kMaxDescribedOtherLines = 24;

enum class Verdict {
  kOk,       // the history is linearizable
  kIllegal,  // the history is not linearizable: a consistency bug (or a recording bug)
  kUnknown,  // the step budget ran out before the search finished: no conclusion
};

// Returns "ok", "illegal" or "unknown".
std::string_view VerdictName(Verdict verdict);

// How the search treats operations that never returned (see the top of this file). All give
// the same verdict when the budget suffices; they differ in speed.
enum class PendingStrategy {
  // kSearch with half the steps left, then kAbsorb with the rest if that ran out. Costs at
  // most about twice the better of the two.
  kAuto,
  // Porcupine's way: each is placed somewhere after its call, or at the very end. Near
  // linear on typical linearizable histories; exponential in their number when refuting.
  kSearch,
  // Folded into the state set. Each linearized operation costs a model step per possible
  // state and eligible pending op; usually far cheaper than kSearch when refuting.
  kAbsorb,
};

struct CheckOptions {
  // The total number of search steps allowed over all partitions. One step is one call of
  // Model::Step() on one state, or one backtrack. When the budget runs out the verdict is
  // kUnknown.
  uint64_t max_steps = kDefaultMaxSteps;
  PendingStrategy pending = PendingStrategy::kAuto;
};

struct CheckResult {
  Verdict verdict = Verdict::kOk;
  // Search steps used, over all partitions checked.
  uint64_t steps = 0;
  // How many partitions were checked completely (all of them when kOk).
  size_t partitions_checked = 0;
  // kIllegal: the name of the partition that is not linearizable (for KvModel: the key).
  // kUnknown: the partition being searched when the budget ran out.
  std::string partition;
  // kIllegal: the longest linearizable prefix the search found in that partition, as indices
  // into the history passed in, in linearization order. Operations that never returned are
  // not listed: they may have taken effect anywhere (see `description` for the state).
  std::vector<size_t> longest_prefix;
  // kIllegal: the operations (indices into the history) that were candidates to come next
  // after that prefix (every operation called before the earliest pending return), none of
  // which could be placed there.
  std::vector<size_t> unplaced;
  // kIllegal: the operation (index into the history) whose return the search could not get
  // past: it must be linearized next at the latest, and no order allows it.
  size_t blocking_op = 0;
  // Human-readable, multi-line: the verdict and, for kIllegal, the partition, the tail of the
  // longest prefix, the possible model states after it, the candidates that could not be
  // placed, and the partition's operations that never returned.
  std::string description;
};

// One partition of a history, as produced by a model's Partition().
struct PartitionSpec {
  std::string name;                // e.g. the key; shown in results
  std::vector<size_t> op_indices;  // indices into the history, in any order
};

// Checks that `history` is linearizable with respect to `model`.
//
// A Model provides (compare Porcupine's Model and NondeterministicModel):
//   using Operation = ...;  // with members uint64_t call_time, return_time
//   using State = ...;      // copyable, with operator== and operator<
//   std::vector<PartitionSpec> Partition(const std::vector<Operation>&) const;
//       Splits the history into independent parts; an operation in no part is ignored.
//   State Init() const;
//   std::vector<State> Step(const State&, const Operation&) const;
//       Every state possible right after the operation takes effect with its recorded
//       output; empty when that output is impossible in the given state. For an operation
//       that never returned: the states if it does take effect (the checker itself covers
//       "it never did").
//   std::string DescribeOperation(const Operation&) const;
//   std::string DescribeState(const State&) const;
// and optionally:
//   bool Dominates(const State& a, const State& b) const;
//       True if a allows everything b allows: a partial order such that whenever b has a
//       successor b' for an operation, a has a successor a' with Dominates(a', b'). The
//       checker then keeps only undominated states. Without it, only equal states merge.
//   uint64_t DominanceClass(const State&) const;
//       A hash such that Dominates(a, b) implies equal classes; lets the checker compare
//       only states of one class. Without it, every pair is compared.
//   bool Overwrites(const Operation& op) const;
//       For an operation that never returned: true if applying it after other operations
//       never reaches more than applying it before them, i.e. for all states s and
//       operations p, every successor of op from a successor of p from s is dominated by a
//       successor of op from s (blind writes). The checker then applies it only to the
//       states a closure starts from, not to every state the closure adds.
//
// Partitions are checked smallest first (ties by name), so that a hard partition that uses
// up the budget does not hide a violation in an easier one; the first non-kOk partition
// decides the result. Returns kOk, kIllegal (with the failing partition's details), or
// kUnknown when options.max_steps ran out first.
// REQUIRES: call_time <= return_time for every operation in a partition.
template <typename Model>
CheckResult CheckHistory(const Model& model, const std::vector<typename Model::Operation>& history,
                         const CheckOptions& options = {});

// ---------------------------------------------------------------------------------------
// The model of kvd's data operations.
// ---------------------------------------------------------------------------------------

enum class OpKind {
  kGet,
  kPut,
  kDelete,
  kCasPut,       // put if the key's version == expected_version (0: if the key is absent)
  kPutIfAbsent,  // put if the key is absent
  kCasDelete,    // delete if the key exists and its version == expected_version
};

struct KvInput {
  OpKind kind = OpKind::kGet;
  std::string key;
  std::string value;              // kPut, kCasPut, kPutIfAbsent
  uint64_t expected_version = 0;  // kCasPut, kCasDelete
};

enum class OutStatus {
  kOk,
  kNotFound,  // the key was absent and nothing was done
  kConflict,  // a compare-and-set condition did not hold; nothing was done
  kUnknown,   // indeterminate: the operation may or may not have taken effect
};

struct KvOutput {
  OutStatus status = OutStatus::kOk;
  std::string value;  // kGet with kOk: the value read
  // kGet with kOk: the version read. kPut, kCasPut, kPutIfAbsent with kOk: the new version.
  // kConflict: the key's current version as the server reported it (0 = absent).
  // Ignored otherwise.
  uint64_t version = 0;
  bool existed = false;  // kDelete with kOk: whether the key existed
};

struct Operation {
  uint32_t client_id = 0;
  uint64_t call_time = 0;
  uint64_t return_time = 0;  // kNeverReturned when output.status == kUnknown
  KvInput input;
  KvOutput output;
};

// What the model knows about one key at one point of a linearization.
//
// The store keeps one revision counter for all keys; every successful write (put, delete of
// an existing key, successful CAS) increments it, and a key's version is the revision of its
// last write. So along a linearization the versions of one key strictly increase, by amounts
// unknown to a per-key model (writes to other keys bump the revision too).
struct KvKeyState {
  bool exists = false;
  std::string value;  // when exists
  // False after an indeterminate write that took effect: the key exists but its version has
  // not been observed yet. The first observation fixes it.
  bool version_known = true;
  // version_known: the exact version (0 when absent). Otherwise an exclusive lower bound:
  // the real version is > version.
  uint64_t version = 0;
  // Every later write of this key gets a version > floor. Equals version when the key exists
  // with a known version, version + 1 when its version is unknown; for an absent key it
  // remembers how far the revision has gone (a delete bumps it, too).
  uint64_t floor = 0;

  auto operator<=>(const KvKeyState&) const = default;
};

// The sequential specification of kvd's data operations on one key (see linearizability.cc
// for the rules and why each is sound).
class KvModel {
 public:
  using Operation = kvd::check::Operation;
  using State = KvKeyState;

  // One partition per key, named by the key, in key order. Reads whose output is kUnknown
  // constrain nothing and are left out.
  std::vector<PartitionSpec> Partition(const std::vector<Operation>& history) const;
  // The key is absent and nothing has been written: {absent, version 0, floor 0}.
  State Init() const { return State{}; }
  // The possible next states of one key state; empty when the output is impossible.
  std::vector<State> Step(const State& state, const Operation& op) const;
  // True if every continuation `b` accepts is accepted by `a`: equal states; absent states
  // with a.floor <= b.floor; or the same value where a's version is unknown and every
  // version b may have is one a may have too.
  bool Dominates(const State& a, const State& b) const;
  // Absent, or which value: Dominates() only relates states of one class.
  uint64_t DominanceClass(const State& state) const;
  // Put and delete: blind writes. Their effect depends on the state only through `floor`,
  // and floors only grow, so applying them later never reaches more.
  bool Overwrites(const Operation& op) const {
    return op.input.kind == OpKind::kPut || op.input.kind == OpKind::kDelete;
  }
  // E.g. `client 3: cas_put("k", "v", expected=4) -> ok version=7`.
  std::string DescribeOperation(const Operation& op) const;
  // E.g. `"v" version=7`, `"v" version>7`, `absent, next version > 8`.
  std::string DescribeState(const State& state) const;
};

// Returns InvalidArgument, naming the first bad operation, unless for every operation:
// call_time <= return_time, call_time != kNeverReturned, and return_time == kNeverReturned
// only when output.status == kUnknown.
Status ValidateKvHistory(const std::vector<Operation>& history);

// Checks a recorded kvd history. Operations whose output is kUnknown are treated as never
// returned, whatever their return_time says: an operation that timed out can still take
// effect later. REQUIRES: ValidateKvHistory(history).ok() (asserted).
CheckResult CheckKvHistory(const std::vector<Operation>& history, const CheckOptions& options = {});

// ---------------------------------------------------------------------------------------
// Implementation details and the templates' bodies.
// ---------------------------------------------------------------------------------------

namespace detail {

// A fixed-size set of small integers (Porcupine bitset.go).
class Bitset {
 public:
  explicit Bitset(size_t bits, bool all_set = false);

  void Set(size_t bit) { words_[bit / 64] |= uint64_t{1} << (bit % 64); }
  void Clear(size_t bit) { words_[bit / 64] &= ~(uint64_t{1} << (bit % 64)); }
  bool Test(size_t bit) const { return ((words_[bit / 64] >> (bit % 64)) & 1) != 0; }
  // Whether every member of this set is in `other`. REQUIRES: the same size.
  bool IsSubsetOf(const Bitset& other) const {
    for (size_t i = 0; i < words_.size(); ++i) {
      if ((words_[i] & ~other.words_[i]) != 0) return false;
    }
    return true;
  }
  // The number of members.
  size_t Count() const;
  auto operator<=>(const Bitset& other) const = default;

 private:
  std::vector<uint64_t> words_;
};

// A fixed pseudo-random 64-bit key per operation id, for Zobrist hashing of sets of ids: the
// hash of a set is the XOR of its members' keys, updated in O(1) as members come and go.
uint64_t ZobristKey(size_t id);

// The call and return entries of the searched operations in a doubly linked list sorted by
// time, with O(1) Lift/Unlift (Porcupine's makeLinkedEntries/lift/unlift). Entries are
// numbered; 0 is the head sentinel, and kNil ends the list.
class EntryList {
 public:
  static constexpr size_t kNil = SIZE_MAX;

  // intervals[i] is operation i's (call_time, return_time). Entries sort by time; at equal
  // times calls come before returns, so intervals that touch overlap (closed intervals).
  // REQUIRES: call_time <= return_time for every interval.
  explicit EntryList(const std::vector<std::pair<uint64_t, uint64_t>>& intervals);

  // The first entry after the head, or kNil when every operation has been lifted.
  size_t First() const { return nodes_[0].next; }
  size_t Next(size_t entry) const { return nodes_[entry].next; }
  bool IsCall(size_t entry) const { return nodes_[entry].is_call; }
  size_t OpId(size_t entry) const { return nodes_[entry].op_id; }
  // The time of the first return entry still in the list (the earliest return among the
  // operations not yet linearized), or kNeverReturned if none is left.
  uint64_t FirstReturnTime() const;

  // Removes a call entry and its matching return from the list. REQUIRES: IsCall(entry),
  // and entry is in the list.
  void Lift(size_t entry);
  // Puts back a call entry lifted by the most recent Lift() not yet undone, with its return.
  void Unlift(size_t entry);

 private:
  struct Node {
    size_t prev = kNil;
    size_t next = kNil;
    size_t match = kNil;  // call: its return entry; return: kNil
    size_t op_id = 0;
    uint64_t time = 0;
    bool is_call = false;
  };
  std::vector<Node> nodes_;
};

// One operation shown in a description.
struct DescribedOp {
  size_t index = 0;  // into the history
  uint64_t call_time = 0;
  uint64_t return_time = 0;
  std::string text;  // the model's DescribeOperation()
  std::string note;  // why it could not be placed, for candidates; else empty
};

// What a kIllegal description shows, gathered by DescribeIllegal().
struct IllegalReport {
  std::string partition;
  size_t partition_ops = 0;
  size_t prefix_length = 0;
  std::vector<DescribedOp> prefix_tail;
  std::vector<std::string> states;  // one line per possible state
  std::vector<DescribedOp> candidates;
  std::vector<DescribedOp> pending;  // the partition's operations that never returned
  size_t blocking_op = 0;
};

// Formats the description of a kIllegal result.
std::string FormatIllegal(const IllegalReport& report);

// One possible state of the search: a model state, plus the pending operations (indices into
// the partition's sorted pending list) that have not taken effect in it and still may.
template <typename State>
struct Element {
  State state;
  Bitset available;

  bool operator==(const Element& other) const = default;
  bool operator<(const Element& other) const {
    if (state < other.state) return true;
    if (other.state < state) return false;
    return available < other.available;
  }
};

// The set of possible states after a prefix: sorted, without duplicates or dominated
// elements. Its canonical form makes cache lookups plain equality.
template <typename State>
using StateSet = std::vector<Element<State>>;

template <typename Model>
bool StateDominates(const Model& model, const typename Model::State& a,
                    const typename Model::State& b) {
  if constexpr (requires { model.Dominates(a, b); }) {
    return model.Dominates(a, b);
  } else {
    return a == b;
  }
}

template <typename Model>
uint64_t StateClass(const Model& model, const typename Model::State& state) {
  if constexpr (requires { model.DominanceClass(state); }) {
    return model.DominanceClass(state);
  } else {
    return 0;
  }
}

template <typename Model>
bool OpOverwrites(const Model& model, const typename Model::Operation& op) {
  if constexpr (requires { model.Overwrites(op); }) {
    return model.Overwrites(op);
  } else {
    return false;
  }
}

template <typename Model>
bool ElementDominates(const Model& model, const Element<typename Model::State>& a,
                      const Element<typename Model::State>& b) {
  return b.available.IsSubsetOf(a.available) && StateDominates(model, a.state, b.state);
}

// Sorts `set`, removes duplicates, and removes every element another one dominates.
template <typename Model>
void Canonicalize(const Model& model, StateSet<typename Model::State>& set) {
  std::sort(set.begin(), set.end());
  set.erase(std::unique(set.begin(), set.end()), set.end());
  if (set.size() < 2) return;
  // Only elements of one dominance class can dominate each other: group them, stably.
  std::vector<std::pair<uint64_t, size_t>> order;
  order.reserve(set.size());
  for (size_t i = 0; i < set.size(); ++i) order.emplace_back(StateClass(model, set[i].state), i);
  std::sort(order.begin(), order.end());
  std::vector<bool> dominated(set.size(), false);
  for (size_t begin = 0, end = 0; begin < order.size(); begin = end) {
    while (end < order.size() && order[end].first == order[begin].first) ++end;
    for (size_t x = begin; x < end; ++x) {
      const size_t i = order[x].second;
      for (size_t y = begin; y < end && !dominated[i]; ++y) {
        const size_t j = order[y].second;
        // Of two elements that dominate each other (a preorder), keep the first.
        dominated[i] = j != i && ElementDominates(model, set[j], set[i]) &&
                       (j < i || !ElementDominates(model, set[i], set[j]));
      }
    }
  }
  size_t kept = 0;
  for (size_t i = 0; i < set.size(); ++i) {
    if (dominated[i]) continue;
    if (kept != i) set[kept] = std::move(set[i]);  // never self-move: it may empty strings
    ++kept;
  }
  set.erase(set.begin() + static_cast<std::ptrdiff_t>(kept), set.end());
}

// The outcome of searching one partition. Positions index the partition's op_indices.
template <typename State>
struct PartitionOutcome {
  Verdict verdict = Verdict::kOk;
  std::vector<size_t> prefix;      // kIllegal: the deepest linearization reached
  std::vector<size_t> candidates;  // kIllegal: the calls pending at that depth
  size_t blocking = 0;             // kIllegal: the op whose return stopped the search
  std::vector<size_t> pending;     // the operations that never returned, by call time
  StateSet<State> states;          // kIllegal: the possible states after the prefix
};

// The search of one partition (Porcupine's checkSingle), with its budget.
template <typename Model>
class PartitionSearch {
 public:
  using State = typename Model::State;
  using Op = typename Model::Operation;

  PartitionSearch(const Model& model, const std::vector<Op>& history,
                  const std::vector<size_t>& op_indices, bool search_pending, uint64_t& steps_left)
      : model_(model), history_(history), op_indices_(op_indices), steps_left_(steps_left) {
    for (size_t pos = 0; pos < op_indices.size(); ++pos) {
      const bool never_returned = OpAt(pos).return_time == kNeverReturned;
      (never_returned && !search_pending ? pending_ : searched_).push_back(pos);
    }
    std::stable_sort(pending_.begin(), pending_.end(),
                     [this](size_t a, size_t b) { return OpAt(a).call_time < OpAt(b).call_time; });
    for (size_t pos : pending_) {
      pending_calls_.push_back(OpAt(pos).call_time);
      pending_overwrites_.push_back(OpOverwrites(model_, OpAt(pos)));
    }
    for (size_t pos = 0; pos < op_indices.size(); ++pos) {
      if (OpAt(pos).return_time == kNeverReturned) never_returned_.push_back(pos);
    }
    std::stable_sort(never_returned_.begin(), never_returned_.end(),
                     [this](size_t a, size_t b) { return OpAt(a).call_time < OpAt(b).call_time; });
  }

  PartitionOutcome<State> Run();

 private:
  struct CacheEntry {
    Bitset linearized;
    StateSet<State> states;
  };
  struct Call {
    size_t entry;  // the lifted call entry
    StateSet<State> states_before;
  };

  const Op& OpAt(size_t pos) const { return history_[op_indices_[pos]]; }

  bool Spend() {
    if (steps_left_ == 0) return false;
    --steps_left_;
    return true;
  }

  // The states after `op` takes effect in each of `states`, canonical; empty when none
  // allows it. keep_unapplied: `op` never returned and may also never take effect.
  // Returns nullopt when the budget ran out.
  std::optional<StateSet<State>> StepAll(const StateSet<State>& states, const Op& op,
                                         bool keep_unapplied);

  // Closes `states` under "a pending operation among the first `eligible` (by call time)
  // takes effect now". Returns false when the budget ran out.
  bool Close(size_t eligible, StateSet<State>& states);

  // How many pending operations may take effect before the next linearized operation: those
  // called no later than the earliest return still in `list`.
  size_t Eligible(const EntryList& list) const {
    if (pending_calls_.empty()) return 0;
    const uint64_t horizon = list.FirstReturnTime();
    return static_cast<size_t>(
        std::upper_bound(pending_calls_.begin(), pending_calls_.end(), horizon) -
        pending_calls_.begin());
  }

  const Model& model_;
  const std::vector<Op>& history_;
  const std::vector<size_t>& op_indices_;
  uint64_t& steps_left_;
  std::vector<size_t> searched_;  // search id -> position in op_indices_
  std::vector<size_t> pending_;   // pending index -> position, sorted by call time
  std::vector<uint64_t> pending_calls_;
  std::vector<bool> pending_overwrites_;
  std::vector<size_t> never_returned_;  // for the report, whichever the strategy
};

template <typename Model>
auto PartitionSearch<Model>::StepAll(const StateSet<State>& states, const Op& op,
                                     bool keep_unapplied) -> std::optional<StateSet<State>> {
  StateSet<State> next;
  for (const Element<State>& element : states) {
    if (!Spend()) return std::nullopt;
    for (State& successor : model_.Step(element.state, op)) {
      next.push_back(Element<State>{std::move(successor), element.available});
    }
    if (keep_unapplied) next.push_back(element);
  }
  Canonicalize(model_, next);
  return next;
}

template <typename Model>
bool PartitionSearch<Model>::Close(size_t eligible, StateSet<State>& states) {
  if (eligible == 0) return true;
  // A worklist over a growing set. An element dominated by a newer one is dropped and no
  // longer expanded: whatever it reaches, the newer one reaches too (Dominates' contract).
  // A pending op that overwrites is applied to the roots only (the elements the closure
  // starts from), even dropped ones: applied after other pending ops it reaches nothing more
  // (Overwrites' contract). This turns (pending ops)^2 steps into about one per pending op
  // when most of them are blind writes.
  StateSet<State> elements = std::move(states);
  const size_t roots = elements.size();
  std::vector<bool> alive(elements.size(), true);
  // Indices of the elements of each dominance class, alive or not. Only looked up.
  std::unordered_map<uint64_t, std::vector<size_t>> by_class;
  for (size_t i = 0; i < elements.size(); ++i) {
    by_class[StateClass(model_, elements[i].state)].push_back(i);
  }
  std::vector<size_t> work;
  for (size_t i = elements.size(); i-- > 0;) work.push_back(i);
  while (!work.empty()) {
    const size_t i = work.back();
    work.pop_back();
    for (size_t p = 0; p < eligible; ++p) {
      if (pending_overwrites_[p] ? i >= roots : !alive[i]) continue;
      if (!elements[i].available.Test(p)) continue;
      if (!Spend()) return false;
      Bitset available = elements[i].available;
      available.Clear(p);
      for (State& successor : model_.Step(elements[i].state, OpAt(pending_[p]))) {
        Element<State> fresh{std::move(successor), available};
        std::vector<size_t>& same_class = by_class[StateClass(model_, fresh.state)];
        const bool covered = std::any_of(same_class.begin(), same_class.end(), [&](size_t j) {
          return alive[j] && ElementDominates(model_, elements[j], fresh);
        });
        if (covered) continue;
        for (size_t j : same_class) {
          if (alive[j] && ElementDominates(model_, fresh, elements[j])) alive[j] = false;
        }
        same_class.push_back(elements.size());
        elements.push_back(std::move(fresh));
        alive.push_back(true);
        work.push_back(elements.size() - 1);
      }
    }
  }
  states.clear();
  for (size_t i = 0; i < elements.size(); ++i) {
    if (alive[i]) states.push_back(std::move(elements[i]));
  }
  Canonicalize(model_, states);
  return true;
}

template <typename Model>
auto PartitionSearch<Model>::Run() -> PartitionOutcome<State> {
  PartitionOutcome<State> outcome;
  outcome.verdict = Verdict::kUnknown;  // until the search completes within the budget
  outcome.pending = never_returned_;
  std::vector<std::pair<uint64_t, uint64_t>> intervals;
  intervals.reserve(searched_.size());
  for (size_t pos : searched_) intervals.emplace_back(OpAt(pos).call_time, OpAt(pos).return_time);
  EntryList list(intervals);
  if (list.First() == EntryList::kNil) {  // only pending ops: none has to take effect
    outcome.verdict = Verdict::kOk;
    return outcome;
  }
  Bitset linearized(searched_.size());
  uint64_t linearized_hash = 0;
  // Keyed by the Zobrist hash of the linearized set; only looked up, never iterated, so its
  // order cannot leak into the result.
  std::unordered_map<uint64_t, std::vector<CacheEntry>> cache;
  std::vector<Call> calls;
  StateSet<State> states{Element<State>{model_.Init(), Bitset(pending_.size(), true)}};
  if (!Close(Eligible(list), states)) return outcome;
  bool have_deepest = false;

  size_t entry = list.First();
  while (true) {
    if (list.IsCall(entry)) {
      const size_t id = list.OpId(entry);
      const Op& op = OpAt(searched_[id]);
      std::optional<StateSet<State>> next = StepAll(states, op, op.return_time == kNeverReturned);
      if (!next.has_value()) return outcome;  // out of budget
      if (!next->empty()) {
        list.Lift(entry);
        if (list.First() == EntryList::kNil) {  // every operation is linearized
          outcome.verdict = Verdict::kOk;
          return outcome;
        }
        if (!Close(Eligible(list), *next)) return outcome;
        linearized.Set(id);
        const uint64_t hash = linearized_hash ^ ZobristKey(id);
        std::vector<CacheEntry>& bucket = cache[hash];
        const bool seen = std::any_of(bucket.begin(), bucket.end(), [&](const CacheEntry& e) {
          return e.linearized == linearized && e.states == *next;
        });
        if (!seen) {
          bucket.push_back(CacheEntry{linearized, *next});
          calls.push_back(Call{entry, std::move(states)});
          states = std::move(*next);
          linearized_hash = hash;
          entry = list.First();
          continue;
        }
        linearized.Clear(id);
        list.Unlift(entry);
      }
      entry = list.Next(entry);
      continue;
    }
    // A return entry: its operation had to be linearized before this point, and no pending
    // call could be placed next. Remember the deepest such dead end for the report.
    if (!Spend()) return outcome;
    if (!have_deepest || calls.size() > outcome.prefix.size()) {
      have_deepest = true;
      outcome.prefix.clear();
      for (const Call& call : calls) outcome.prefix.push_back(searched_[list.OpId(call.entry)]);
      outcome.candidates.clear();
      for (size_t e = list.First(); e != entry; e = list.Next(e)) {
        outcome.candidates.push_back(searched_[list.OpId(e)]);
      }
      outcome.blocking = searched_[list.OpId(entry)];
      outcome.states = states;
    }
    if (calls.empty()) {
      outcome.verdict = Verdict::kIllegal;
      return outcome;
    }
    Call top = std::move(calls.back());
    calls.pop_back();
    states = std::move(top.states_before);
    const size_t top_id = list.OpId(top.entry);
    linearized.Clear(top_id);
    linearized_hash ^= ZobristKey(top_id);
    list.Unlift(top.entry);
    entry = list.Next(top.entry);
  }
}

// Searches one partition as `strategy` says, spending from `steps_left`.
template <typename Model>
PartitionOutcome<typename Model::State> SearchWithStrategy(
    const Model& model, const std::vector<typename Model::Operation>& history,
    const std::vector<size_t>& op_indices, PendingStrategy strategy, uint64_t& steps_left) {
  const bool has_pending = std::any_of(op_indices.begin(), op_indices.end(), [&](size_t i) {
    return history[i].return_time == kNeverReturned;
  });
  if (!has_pending || strategy != PendingStrategy::kAuto) {
    const bool search = strategy != PendingStrategy::kAbsorb;
    return PartitionSearch<Model>(model, history, op_indices, search, steps_left).Run();
  }
  const uint64_t share = steps_left / 2;
  uint64_t share_left = share;
  auto outcome = PartitionSearch<Model>(model, history, op_indices, true, share_left).Run();
  steps_left -= share - share_left;
  if (outcome.verdict != Verdict::kUnknown) return outcome;
  return PartitionSearch<Model>(model, history, op_indices, false, steps_left).Run();
}

template <typename Model>
std::string DescribeIllegal(const Model& model,
                            const std::vector<typename Model::Operation>& history,
                            const PartitionSpec& partition,
                            const PartitionOutcome<typename Model::State>& outcome) {
  auto describe = [&](size_t pos) {
    const size_t index = partition.op_indices[pos];
    const auto& op = history[index];
    return DescribedOp{index, op.call_time, op.return_time, model.DescribeOperation(op), ""};
  };
  IllegalReport report;
  report.partition = partition.name;
  report.partition_ops = partition.op_indices.size();
  report.prefix_length = outcome.prefix.size();
  const size_t skip = outcome.prefix.size() > kMaxDescribedPrefixOps
                          ? outcome.prefix.size() - kMaxDescribedPrefixOps
                          : 0;
  for (size_t i = skip; i < outcome.prefix.size(); ++i) {
    report.prefix_tail.push_back(describe(outcome.prefix[i]));
  }
  for (const auto& element : outcome.states) {
    if (report.states.size() == kMaxDescribedOtherLines) break;
    std::string line = model.DescribeState(element.state);
    const size_t still_pending = element.available.Count();
    if (still_pending > 0) {
      line += " (" + std::to_string(still_pending) + " pending ops may still take effect)";
    }
    report.states.push_back(std::move(line));
  }
  for (size_t pos : outcome.candidates) {
    if (report.candidates.size() == kMaxDescribedOtherLines) break;
    DescribedOp described = describe(pos);
    // Whether the model rejects the op outright here, or accepts it but every continuation
    // from there was already found to be a dead end.
    const auto& op = history[partition.op_indices[pos]];
    const bool legal = std::any_of(outcome.states.begin(), outcome.states.end(),
                                   [&](const auto& e) { return !model.Step(e.state, op).empty(); });
    described.note = legal ? "legal here, but every order after it dead-ends"
                           : "its output is impossible in every possible state";
    report.candidates.push_back(std::move(described));
  }
  for (size_t pos : outcome.pending) {
    if (report.pending.size() == kMaxDescribedOtherLines) break;
    report.pending.push_back(describe(pos));
  }
  report.blocking_op = partition.op_indices[outcome.blocking];
  return FormatIllegal(report);
}

}  // namespace detail

template <typename Model>
CheckResult CheckHistory(const Model& model, const std::vector<typename Model::Operation>& history,
                         const CheckOptions& options) {
  std::vector<PartitionSpec> partitions = model.Partition(history);
  std::stable_sort(partitions.begin(), partitions.end(),
                   [](const PartitionSpec& a, const PartitionSpec& b) {
                     if (a.op_indices.size() != b.op_indices.size()) {
                       return a.op_indices.size() < b.op_indices.size();
                     }
                     return a.name < b.name;
                   });
  CheckResult result;
  uint64_t steps_left = options.max_steps;
  for (const PartitionSpec& partition : partitions) {
    const uint64_t steps_before = steps_left;
    auto outcome = detail::SearchWithStrategy(model, history, partition.op_indices, options.pending,
                                              steps_left);
    result.steps += steps_before - steps_left;
    if (outcome.verdict == Verdict::kOk) {
      ++result.partitions_checked;
      continue;
    }
    result.verdict = outcome.verdict;
    result.partition = partition.name;
    if (outcome.verdict == Verdict::kUnknown) {
      result.description = "linearizability: unknown: the budget of " +
                           std::to_string(options.max_steps) +
                           " search steps ran out while checking partition \"" + partition.name +
                           "\" (" + std::to_string(result.partitions_checked) + " of " +
                           std::to_string(partitions.size()) + " partitions were linearizable)";
      return result;
    }
    for (size_t pos : outcome.prefix) result.longest_prefix.push_back(partition.op_indices[pos]);
    for (size_t pos : outcome.candidates) result.unplaced.push_back(partition.op_indices[pos]);
    result.blocking_op = partition.op_indices[outcome.blocking];
    result.description = detail::DescribeIllegal(model, history, partition, outcome);
    return result;
  }
  result.description = "linearizability: ok: " + std::to_string(partitions.size()) +
                       " partitions, " + std::to_string(result.steps) + " search steps";
  return result;
}

}  // namespace kvd::check
