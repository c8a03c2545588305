#include "tests/sim/check/linearizability.h"

#include <fmt/format.h>

#include <bit>
#include <map>

#include "common/assert.h"

namespace kvd::check {

std::string_view VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kOk:
      return "ok";
    case Verdict::kIllegal:
      return "illegal";
    case Verdict::kUnknown:
      return "unknown";
  }
  return "invalid";
}

namespace detail {

Bitset::Bitset(size_t bits, bool all_set)
    : words_((bits + 63) / 64, all_set ? ~uint64_t{0} : uint64_t{0}) {
  // Bits past `bits` stay zero, so that equal sets compare equal.
  if (all_set && bits % 64 != 0) words_.back() = (uint64_t{1} << (bits % 64)) - 1;
}

size_t Bitset::Count() const {
  size_t count = 0;
  for (uint64_t word : words_) count += static_cast<size_t>(std::popcount(word));
  return count;
}

uint64_t ZobristKey(size_t id) {
  // splitmix64 of the id: fixed arithmetic, so the same keys on every platform (std::hash
  // makes no such promise), and no state.
  uint64_t h = static_cast<uint64_t>(id) + 0x9E3779B97F4A7C15ULL;
  h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL;
  h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
  return h ^ (h >> 31);
}

EntryList::EntryList(const std::vector<std::pair<uint64_t, uint64_t>>& intervals) {
  struct Raw {
    uint64_t time;
    bool is_return;
    size_t op_id;
  };
  std::vector<Raw> raw;
  raw.reserve(2 * intervals.size());
  for (size_t id = 0; id < intervals.size(); ++id) {
    KVD_ASSERT(intervals[id].first <= intervals[id].second);
    raw.push_back(Raw{intervals[id].first, false, id});
    raw.push_back(Raw{intervals[id].second, true, id});
  }
  // Calls before returns at equal times (Porcupine's byTime), so touching intervals count
  // as concurrent. The op id breaks the remaining ties: a total order, hence deterministic.
  std::sort(raw.begin(), raw.end(), [](const Raw& a, const Raw& b) {
    if (a.time != b.time) return a.time < b.time;
    if (a.is_return != b.is_return) return !a.is_return;
    return a.op_id < b.op_id;
  });
  nodes_.resize(raw.size() + 1);  // entry 0 is the head sentinel
  std::vector<size_t> return_entry(intervals.size(), kNil);
  for (size_t i = 0; i < raw.size(); ++i) {
    const size_t entry = i + 1;
    nodes_[entry].op_id = raw[i].op_id;
    nodes_[entry].time = raw[i].time;
    nodes_[entry].is_call = !raw[i].is_return;
    if (raw[i].is_return) return_entry[raw[i].op_id] = entry;
  }
  for (size_t entry = 0; entry < nodes_.size(); ++entry) {
    nodes_[entry].prev = entry == 0 ? kNil : entry - 1;
    nodes_[entry].next = entry + 1 < nodes_.size() ? entry + 1 : kNil;
    if (entry != 0 && nodes_[entry].is_call)
      nodes_[entry].match = return_entry[nodes_[entry].op_id];
  }
}

uint64_t EntryList::FirstReturnTime() const {
  for (size_t entry = First(); entry != kNil; entry = Next(entry)) {
    if (!nodes_[entry].is_call) return nodes_[entry].time;
  }
  return kNeverReturned;
}

void EntryList::Lift(size_t entry) {
  KVD_ASSERT(nodes_[entry].is_call);
  const Node& call = nodes_[entry];
  nodes_[call.prev].next = call.next;
  nodes_[call.next].prev = call.prev;  // a call is always followed by its return
  const Node& ret = nodes_[call.match];
  nodes_[ret.prev].next = ret.next;
  if (ret.next != kNil) nodes_[ret.next].prev = ret.prev;
}

void EntryList::Unlift(size_t entry) {
  KVD_ASSERT(nodes_[entry].is_call);
  // The exact reverse of Lift(): the lifted nodes still hold their old neighbours.
  const Node& call = nodes_[entry];
  const Node& ret = nodes_[call.match];
  nodes_[ret.prev].next = call.match;
  if (ret.next != kNil) nodes_[ret.next].prev = call.match;
  nodes_[call.prev].next = entry;
  nodes_[call.next].prev = entry;
}

namespace {

std::string FormatInterval(uint64_t call_time, uint64_t return_time) {
  if (return_time == kNeverReturned) return fmt::format("[{}, never]", call_time);
  return fmt::format("[{}, {}]", call_time, return_time);
}

void AppendOps(std::string& out, const std::vector<DescribedOp>& ops) {
  for (const DescribedOp& op : ops) {
    out += fmt::format("  #{} {} {}\n", op.index, FormatInterval(op.call_time, op.return_time),
                       op.text);
    if (!op.note.empty()) out += fmt::format("      ({})\n", op.note);
  }
}

}  // namespace

std::string FormatIllegal(const IllegalReport& report) {
  std::string out =
      fmt::format("linearizability: illegal: partition \"{}\" ({} ops) is not linearizable.\n",
                  report.partition, report.partition_ops);
  if (report.prefix_length == 0) {
    out += "No operation of this partition can be linearized first.\n";
  } else {
    out += fmt::format(
        "Longest linearizable prefix found: {} ops; the last {} in linearization order:\n",
        report.prefix_length, report.prefix_tail.size());
    AppendOps(out, report.prefix_tail);
  }
  out += "Possible model states after that prefix:\n";
  for (const std::string& state : report.states) out += fmt::format("  {}\n", state);
  out += fmt::format(
      "Op #{} must be linearized before its return, but none of the ops called before that "
      "return can be placed next:\n",
      report.blocking_op);
  AppendOps(out, report.candidates);
  if (!report.pending.empty()) {
    out +=
        "Ops that never returned (each may take effect once, any time after its call, or "
        "never):\n";
    AppendOps(out, report.pending);
  }
  return out;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------
// KvModel.
//
// Soundness is the first requirement: the model must accept every history that a correct
// store could produce, because a false kIllegal sends people chasing bugs that do not exist.
// Where the recorded outputs do not pin the state down, the model keeps every possibility:
//   * An indeterminate write (kUnknown output, never returned) has no output to check.
//     Step() gives its effect if it takes effect; the checker keeps "it never did" next to
//     it and lets it take effect at any instant after its call (see the header).
//   * An applied indeterminate write gives the key a version nobody has seen. We do not
//     guess it: the state records only a lower bound, and the first output that reports the
//     version (a get, a CAS that succeeded against it, a conflict reporting it) fixes it in
//     that branch. A CAS against an unknown version is accepted both ways: success fixes
//     the version to `expected`; failure is possible for any version.
//   * Versions come from a store-wide revision, so a per-key model sees them grow by unknown
//     steps. It checks only what holds whatever other keys did: a write's new version is
//     greater than every version this key had before (`floor`).
// Each rule below therefore rejects only outputs that no linearization could produce.
//
// Dominates() lets the checker drop states that add nothing. An unknown version with bound L
// stands for "any version > L", so it covers a known version w > L of the same value and an
// unknown version with a larger bound; an absent key with a lower floor accepts every new
// version a higher floor accepts. Each rule below maps a dominated state's successors to
// dominating successors, which is the contract the checker relies on.
// ---------------------------------------------------------------------------------------

namespace {

constexpr size_t kMaxShownValueBytes = 40;

// A key after a write whose new version was reported.
KvKeyState Written(const std::string& value, uint64_t version) {
  return KvKeyState{true, value, true, version, version};
}

// A key after an indeterminate write that took effect: its new version is > floor.
KvKeyState WrittenUnobserved(const std::string& value, uint64_t floor) {
  return KvKeyState{true, value, false, floor, floor + 1};
}

// A key after a delete of the existing key: the delete took revision d > floor, so any
// later write gets a version > d >= floor + 1.
KvKeyState Deleted(uint64_t floor) { return KvKeyState{false, "", true, 0, floor + 1}; }

// `state` (REQUIRES: exists) if its version may be `version`, with the version fixed.
std::optional<KvKeyState> WithVersion(const KvKeyState& state, uint64_t version) {
  KVD_ASSERT(state.exists);
  if (state.version_known) {
    if (state.version != version) return std::nullopt;
    return state;
  }
  if (version <= state.version) return std::nullopt;
  KvKeyState fixed = state;
  fixed.version_known = true;
  fixed.version = version;
  fixed.floor = version;
  return fixed;
}

// The state in which "the key's version == expected (0: the key is absent)" holds, with the
// version fixed; nullopt if it cannot hold. The condition of kCasPut.
std::optional<KvKeyState> CasPutHolds(const KvKeyState& state, uint64_t expected) {
  if (expected == 0) return state.exists ? std::nullopt : std::optional<KvKeyState>(state);
  if (!state.exists) return std::nullopt;
  return WithVersion(state, expected);
}

// The condition of kCasDelete: the key exists and its version == expected. An existing
// key's version is never 0, so expected == 0 never holds.
std::optional<KvKeyState> CasDeleteHolds(const KvKeyState& state, uint64_t expected) {
  if (!state.exists) return std::nullopt;
  return WithVersion(state, expected);
}

// The condition of kPutIfAbsent.
std::optional<KvKeyState> PutIfAbsentHolds(const KvKeyState& state, uint64_t /*expected*/) {
  return state.exists ? std::nullopt : std::optional<KvKeyState>(state);
}

using Condition = std::optional<KvKeyState> (*)(const KvKeyState&, uint64_t);

// A kConflict output reporting `current` (0 = absent): legal iff the reported version is the
// key's version and, with it, the condition fails. Pushes the state with the version fixed.
void StepConflict(const KvKeyState& state, const Operation& op, Condition holds,
                  std::vector<KvKeyState>& next) {
  const uint64_t current = op.output.version;
  std::optional<KvKeyState> reported;
  if (!state.exists) {
    if (current == 0) reported = state;
  } else {
    reported = WithVersion(state, current);
  }
  if (reported.has_value() && !holds(*reported, op.input.expected_version).has_value()) {
    next.push_back(*reported);
  }
}

void StepGet(const KvKeyState& state, const Operation& op, std::vector<KvKeyState>& next) {
  switch (op.output.status) {
    case OutStatus::kOk: {
      if (!state.exists || state.value != op.output.value) return;
      std::optional<KvKeyState> fixed = WithVersion(state, op.output.version);
      if (fixed.has_value()) next.push_back(*fixed);
      return;
    }
    case OutStatus::kNotFound:
      if (!state.exists) next.push_back(state);
      return;
    case OutStatus::kConflict:
      return;
    case OutStatus::kUnknown:  // normally dropped by Partition(); constrains nothing
      next.push_back(state);
      return;
  }
}

void StepPut(const KvKeyState& state, const Operation& op, std::vector<KvKeyState>& next) {
  switch (op.output.status) {
    case OutStatus::kOk:
      if (op.output.version > state.floor) {
        next.push_back(Written(op.input.value, op.output.version));
      }
      return;
    case OutStatus::kUnknown:  // if it takes effect
      next.push_back(WrittenUnobserved(op.input.value, state.floor));
      return;
    case OutStatus::kNotFound:
    case OutStatus::kConflict:
      return;
  }
}

void StepDelete(const KvKeyState& state, const Operation& op, std::vector<KvKeyState>& next) {
  switch (op.output.status) {
    case OutStatus::kOk:
      if (op.output.existed != state.exists) return;
      // A delete of an absent key changes nothing, not even the revision.
      next.push_back(state.exists ? Deleted(state.floor) : state);
      return;
    case OutStatus::kNotFound:  // the same as kOk with existed == false
      if (!state.exists) next.push_back(state);
      return;
    case OutStatus::kUnknown:  // if it takes effect
      next.push_back(state.exists ? Deleted(state.floor) : state);
      return;
    case OutStatus::kConflict:
      return;
  }
}

void StepCasPut(const KvKeyState& state, const Operation& op, std::vector<KvKeyState>& next) {
  const std::optional<KvKeyState> held = CasPutHolds(state, op.input.expected_version);
  switch (op.output.status) {
    case OutStatus::kOk:
      if (held.has_value() && op.output.version > held->floor) {
        next.push_back(Written(op.input.value, op.output.version));
      }
      return;
    case OutStatus::kConflict:
      StepConflict(state, op, CasPutHolds, next);
      return;
    case OutStatus::kNotFound:  // the key was absent, and the condition asked for a version
      if (!state.exists && op.input.expected_version != 0) next.push_back(state);
      return;
    case OutStatus::kUnknown:  // if it takes effect: it succeeds, or fails its condition
      if (held.has_value()) next.push_back(WrittenUnobserved(op.input.value, held->floor));
      next.push_back(state);
      return;
  }
}

void StepPutIfAbsent(const KvKeyState& state, const Operation& op, std::vector<KvKeyState>& next) {
  switch (op.output.status) {
    case OutStatus::kOk:
      if (!state.exists && op.output.version > state.floor) {
        next.push_back(Written(op.input.value, op.output.version));
      }
      return;
    case OutStatus::kConflict:
      StepConflict(state, op, PutIfAbsentHolds, next);
      return;
    case OutStatus::kUnknown:  // if it takes effect
      next.push_back(state.exists ? state : WrittenUnobserved(op.input.value, state.floor));
      return;
    case OutStatus::kNotFound:
      return;
  }
}

void StepCasDelete(const KvKeyState& state, const Operation& op, std::vector<KvKeyState>& next) {
  const std::optional<KvKeyState> held = CasDeleteHolds(state, op.input.expected_version);
  switch (op.output.status) {
    case OutStatus::kOk:
      if (held.has_value()) next.push_back(Deleted(held->floor));
      return;
    case OutStatus::kConflict:
      StepConflict(state, op, CasDeleteHolds, next);
      return;
    case OutStatus::kNotFound:
      if (!state.exists) next.push_back(state);
      return;
    case OutStatus::kUnknown:  // if it takes effect: it succeeds, or fails its condition
      if (held.has_value()) next.push_back(Deleted(held->floor));
      next.push_back(state);
      return;
  }
}

// A value for display: quoted, escaped, and cut at kMaxShownValueBytes.
std::string Quote(const std::string& value) {
  std::string out = "\"";
  for (size_t i = 0; i < value.size() && i < kMaxShownValueBytes; ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  out += '"';
  if (value.size() > kMaxShownValueBytes) out += fmt::format("...({} bytes)", value.size());
  return out;
}

std::string_view StatusName(OutStatus status) {
  switch (status) {
    case OutStatus::kOk:
      return "ok";
    case OutStatus::kNotFound:
      return "not_found";
    case OutStatus::kConflict:
      return "conflict";
    case OutStatus::kUnknown:
      return "unknown";
  }
  return "invalid";
}

std::string DescribeInput(const KvInput& input) {
  const std::string key = Quote(input.key);
  switch (input.kind) {
    case OpKind::kGet:
      return fmt::format("get({})", key);
    case OpKind::kPut:
      return fmt::format("put({}, {})", key, Quote(input.value));
    case OpKind::kDelete:
      return fmt::format("delete({})", key);
    case OpKind::kCasPut:
      return fmt::format("cas_put({}, {}, expected={})", key, Quote(input.value),
                         input.expected_version);
    case OpKind::kPutIfAbsent:
      return fmt::format("put_if_absent({}, {})", key, Quote(input.value));
    case OpKind::kCasDelete:
      return fmt::format("cas_delete({}, expected={})", key, input.expected_version);
  }
  return "invalid";
}

std::string DescribeOutput(OpKind kind, const KvOutput& output) {
  std::string out(StatusName(output.status));
  if (output.status == OutStatus::kConflict) {
    out += fmt::format(" current_version={}", output.version);
  } else if (output.status == OutStatus::kOk) {
    if (kind == OpKind::kGet) {
      out += fmt::format(" {} version={}", Quote(output.value), output.version);
    } else if (kind == OpKind::kDelete) {
      out += output.existed ? " existed" : " absent";
    } else if (kind != OpKind::kCasDelete) {
      out += fmt::format(" version={}", output.version);
    }
  }
  return out;
}

}  // namespace

std::vector<PartitionSpec> KvModel::Partition(const std::vector<Operation>& history) const {
  std::map<std::string, std::vector<size_t>> by_key;
  for (size_t i = 0; i < history.size(); ++i) {
    const Operation& op = history[i];
    // A read whose answer was lost tells nothing about the store.
    if (op.input.kind == OpKind::kGet && op.output.status == OutStatus::kUnknown) continue;
    by_key[op.input.key].push_back(i);
  }
  std::vector<PartitionSpec> partitions;
  partitions.reserve(by_key.size());
  for (auto& [key, indices] : by_key) partitions.push_back(PartitionSpec{key, std::move(indices)});
  return partitions;
}

std::vector<KvKeyState> KvModel::Step(const State& state, const Operation& op) const {
  std::vector<KvKeyState> next;
  switch (op.input.kind) {
    case OpKind::kGet:
      StepGet(state, op, next);
      break;
    case OpKind::kPut:
      StepPut(state, op, next);
      break;
    case OpKind::kDelete:
      StepDelete(state, op, next);
      break;
    case OpKind::kCasPut:
      StepCasPut(state, op, next);
      break;
    case OpKind::kPutIfAbsent:
      StepPutIfAbsent(state, op, next);
      break;
    case OpKind::kCasDelete:
      StepCasDelete(state, op, next);
      break;
  }
  return next;
}

bool KvModel::Dominates(const State& a, const State& b) const {
  if (a == b) return true;
  if (!a.exists || !b.exists) return !a.exists && !b.exists && a.floor <= b.floor;
  if (a.value != b.value || a.version_known) return false;
  // a's version is any v > a.version; b's is exactly b.version, or any v > b.version.
  return b.version_known ? a.version < b.version : a.version <= b.version;
}

uint64_t KvModel::DominanceClass(const State& state) const {
  if (!state.exists) return 0;
  // FNV-1a of the value, never 0: fixed arithmetic, the same on every platform.
  uint64_t hash = 0xCBF29CE484222325ULL;
  for (char c : state.value) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001B3ULL;
  }
  return hash == 0 ? 1 : hash;
}

std::string KvModel::DescribeOperation(const Operation& op) const {
  return fmt::format("client {}: {} -> {}", op.client_id, DescribeInput(op.input),
                     DescribeOutput(op.input.kind, op.output));
}

std::string KvModel::DescribeState(const State& state) const {
  if (!state.exists) return fmt::format("absent, next version > {}", state.floor);
  if (state.version_known) return fmt::format("{} version={}", Quote(state.value), state.version);
  return fmt::format("{} version>{}", Quote(state.value), state.version);
}

Status ValidateKvHistory(const std::vector<Operation>& history) {
  for (size_t i = 0; i < history.size(); ++i) {
    const Operation& op = history[i];
    if (op.call_time == kNeverReturned) {
      return Status::InvalidArgument(fmt::format("op #{}: call_time is kNeverReturned", i));
    }
    if (op.call_time > op.return_time) {
      return Status::InvalidArgument(
          fmt::format("op #{}: call_time {} > return_time {}", i, op.call_time, op.return_time));
    }
    if (op.return_time == kNeverReturned && op.output.status != OutStatus::kUnknown) {
      return Status::InvalidArgument(fmt::format("op #{}: never returned, yet has output status {}",
                                                 i, StatusName(op.output.status)));
    }
  }
  return Status::Ok();
}

CheckResult CheckKvHistory(const std::vector<Operation>& history, const CheckOptions& options) {
  const Status valid = ValidateKvHistory(history);
  KVD_ASSERT_MSG(valid.ok(), valid.message().c_str());
  // An op that timed out may still take effect at any later time: widen its interval.
  std::vector<Operation> normalized = history;
  for (Operation& op : normalized) {
    if (op.output.status == OutStatus::kUnknown) op.return_time = kNeverReturned;
  }
  return CheckHistory(KvModel{}, normalized, options);
}

}  // namespace kvd::check
