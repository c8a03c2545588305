// YAML -> Config. yaml-cpp builds the node tree; everything after that is our own walk over
// it, so that every bad field becomes one line in one error instead of the first exception.
//
// Allowed values (docs/OPERATIONS.md is the operator's copy of this table; keep them equal):
//
//   field                                allowed                         default
//   node.id                              1 .. 2^63-1                     1
//   node.mode                            single, leader_follower,        single
//                                        multi_leader, dynamo
//   node.data_dir                        non-empty path                  ./data
//   cluster.name                         1..64 of [A-Za-z0-9._-]         kvd
//   cluster.members                      sequence of up to 64 entries    (empty)
//   cluster.members[i].id                1 .. 2^63-1 (required)
//   cluster.members[i].client            host:port, port not 0 (req.)
//   cluster.members[i].peer              host:port, port not 0 (req.)
//   cluster.members[i].admin             host:port, port not 0           (none)
//   cluster.members[i].zone              0..64 bytes                     "" (none)
//   cluster.join                         true, false                     false
//   raft.election_timeout_ms             50 .. 60000                     1000
//   raft.heartbeat_interval_ms           10 .. 10000                     100
//   raft.replication                     quorum, sync, semi_sync, async  quorum
//   raft.failover                        auto, manual                    auto
//   raft.pre_vote                        true, false                     true
//   raft.check_quorum                    true, false                     true
//   raft.lease_reads                     true, false                     false
//   raft.follower_writes                 redirect, forward               redirect
//   raft.default_read                    linearizable, leader, follower, linearizable
//                                        session
//   raft.session_wait_ms                 0 .. 60000                      1000
//   raft.snapshot_threshold_entries      0 .. 100000000 (0 = never)      10000
//   raft.snapshot_trailing_entries       0 .. 100000000                  1000
//   raft.max_append_entries              1 .. 4096                       256
//   raft.max_inflight_appends            1 .. 1024                       32
//   multi_leader.propagation             all_to_all, ring, star          all_to_all
//   multi_leader.hub                     0 .. 2^63-1 (star: a member)    0
//   multi_leader.resolvers               sequence of up to 256 entries   one: "" -> lww
//   multi_leader.resolvers[i].prefix     0..1024 bytes (required)
//   multi_leader.resolvers[i].resolver   lww, siblings, counter, set (required)
//   multi_leader.max_siblings            1 .. 1024                       16
//   multi_leader.max_clock_offset_ms     1 .. 3600000                    500
//   multi_leader.resend_interval_ms      10 .. 60000                     200
//   multi_leader.max_batch_changes       1 .. 4096                       256
//   multi_leader.window_changes          1 .. 1048576                    1024
//   multi_leader.log_retention_changes   1 .. 1000000000                 1000000
//   multi_leader.session_wait_ms         0 .. 60000                      1000
//   multi_leader.stability_interval_ms   10 .. 60000                     1000
//   multi_leader.tombstone_grace_ms      0 .. 31536000000                3600000
//   multi_leader.followers               sequence of up to 256 entries   none
//   multi_leader.followers[i].id         a member id (required)
//   multi_leader.followers[i].leader     a member id, not a follower (required)
//   dynamo.replicas                      1 .. 16                         3
//   dynamo.read_quorum                   one, quorum, all, 1 .. 16       quorum
//   dynamo.write_quorum                  one, quorum, all, 1 .. 16       quorum
//   dynamo.tokens_per_node               1 .. 4096                       256
//   dynamo.request_timeout_ms            10 .. 600000                    2000
//   dynamo.read_repair                   background, before_reply        background
//   dynamo.sloppy_quorum                 true, false                     true
//   dynamo.max_hints_per_target          0 .. 100000000                  100000
//   dynamo.max_hint_bytes_per_target     0 .. 1099511627776              67108864
//   dynamo.hint_max_age_ms               0 .. 2592000000 (0 = no limit)  10800000
//   dynamo.hint_replay_per_second        1 .. 1000000                    1000
//   dynamo.tombstone_grace_ms            0 .. 31536000000 (0 = never)    86400000
//   dynamo.anti_entropy_interval_ms      0 .. 86400000 (0 = off)         1000
//   dynamo.merkle_depth                  4 .. 16                         10
//   dynamo.max_clock_offset_ms           1 .. 3600000                    500
//   dynamo.heartbeat_interval_ms         10 .. 60000                     200
//   dynamo.phi_threshold                 1 .. 100                        8
//   dynamo.resolvers                     as multi_leader.resolvers,      one: "" -> lww
//                                        with lww and siblings only
//   server.listen                        host:port, [v6]:port, :port     127.0.0.1:7379
//   server.admin_listen                  as listen                       127.0.0.1:7380
//   server.admin_enabled                 true, false                     true
//   server.max_connections               1 .. 1000000                    10000
//   server.idle_timeout_ms               0 .. 86400000 (0 = never)       0
//   server.shutdown_grace_ms             0 .. 600000                     5000
//   storage.engine                       leveldb, memory                 leveldb
//   storage.durability                   always, periodic, none          always
//   storage.sync_interval_ms             1 .. 60000                      1000
//   storage.block_cache_mb               0 .. 65536                      64
//   storage.row_cache_mb                 0 .. 65536                      64
//   storage.write_buffer_mb              1 .. 4096                       16
//   storage.expiry_sweep_interval_ms     1 .. 60000                      100
//   storage.expiry_sweep_max_keys        1 .. 1000000                    1000
//   limits.max_key_bytes                 1 .. 65536                      4096
//   limits.max_value_bytes               0 .. 33554432                   1048576
//   limits.max_batch_ops                 1 .. 100000                     1000
//   limits.max_batch_bytes               1 .. 67108864                   4194304
//   limits.max_scan_limit                1 .. 1000000                    10000
//   limits.max_frame_bytes               4096 .. 67108864 (see below)    8388608
//   limits.max_inflight_per_connection   1 .. 65536                      1024
//   log.level                            debug, info, warn, error        info
//   log.file                             path, or empty for stderr       (empty)
//
// Member entries are named by their 0-based position: cluster.members[0].peer (and so
// are resolver entries: multi_leader.resolvers[1].resolver). Every member address must
// have a real port (other nodes and redirected clients connect to it) and no two member
// addresses (client, peer or admin, of any members) may be equal.
// server.listen / server.admin_listen record whether the file set them (listen_set);
// ApplyMemberAddresses then lets a cluster node listen where its member entry says.
//
// multi_leader.resolvers picks the resolver of a key by prefix: the longest prefix the
// key starts with wins, and a key no prefix matches uses lww (ResolverFor). A prefix is
// any string, "" included (it matches every key); it must be written, as "" if empty, so
// that a forgotten value is not silently read as "every key". An empty list (`[]`) means
// every key uses lww, which is also what the default single {prefix: "", resolver: lww}
// says.
//
// Cross-field rules (CheckCrossFields):
//   - limits.max_frame_bytes >= 2 * limits.max_key_bytes + limits.max_value_bytes + 1024,
//     so that a PUT of a maximal key and value fits in one frame with its header and
//     options, and so does a SCAN page holding one maximal item plus the continuation
//     token that repeats its key.
//   - server.admin_listen must not bind the same address as server.listen while
//     server.admin_enabled is true (port 0 never clashes: the OS picks two free ports).
//   - node.mode leader_follower, multi_leader or dynamo (the clustered modes): cluster.members
//     must not be empty and must contain node.id, unless cluster.join is true (the node
//     then waits to be added); member ids are unique, and so are member addresses.
//   - node.mode single: cluster.members must be empty (a member list there is a mistake:
//     the node would silently run alone). The raft and multi_leader sections are allowed
//     in every mode (and checked, rules included) but each is used only in its own mode,
//     so one file can be switched between modes.
//   - raft.heartbeat_interval_ms * 2 <= raft.election_timeout_ms: followers must hear at
//     least two heartbeats per election timeout, or one late heartbeat starts an election.
//   - raft.lease_reads requires raft.check_quorum: the lease is only safe if a leader that
//     lost its quorum steps down before a new leader can be elected.
//   - multi_leader.resolvers: no two entries have the same prefix (the later one is
//     reported); which resolver a key uses must not depend on the order of the list.
//   - multi_leader.window_changes >= multi_leader.max_batch_changes: a sender may never
//     ship more than the window, so a larger batch could never be filled.
//   - multi_leader.propagation star in multi_leader mode: multi_leader.hub must be the id
//     of one of cluster.members (with cluster.join and no members it can only be checked
//     to be a node id, not 0). Without star, hub is ignored, whatever its value: switching
//     propagation back and forth must not require editing it.
//   - multi_leader.followers in multi_leader mode with members: each id and leader is in
//     cluster.members, an id is listed once, a leader is not itself a follower, and the
//     star hub is not a follower.
//   - dynamo.read_quorum and dynamo.write_quorum, when numbers, are at most
//     dynamo.replicas; in dynamo mode, dynamo.replicas is at most the number of
//     cluster.members (a key cannot live on more nodes than there are).
//   - dynamo.resolvers: no two entries have the same prefix; only lww and siblings.
//   - dynamo.tombstone_grace_ms, when not 0 and sloppy_quorum and anti-entropy are on, is
//     more than dynamo.hint_max_age_ms, which is then not 0: a hint older than a collected
//     tombstone would bring the deleted value back.
// Deliberately NOT a rule: max_batch_bytes >= max_value_bytes (or >= max_frame_bytes).
// Each limit is checked on its own and the smallest one wins; an operator may well want
// batches smaller than one maximal PUT, and that is a policy, not a contradiction.
//
// Integers are decimal only (optionally with a leading '+'); negatives, floats, hex and
// values beyond 2^64 are rejected with the field's range. Booleans are exactly true/false:
// YAML 1.1's yes/no/on/off are a classic source of surprises. A section left empty (all
// its fields commented out) is the same as an absent section.
#include "common/config/config.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <exception>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace kvd::config {

namespace {

struct Range {
  uint64_t min;
  uint64_t max;
};

constexpr Range kNodeIdRange{1, (uint64_t{1} << 63) - 1};
constexpr Range kMaxConnectionsRange{1, 1'000'000};
constexpr Range kIdleTimeoutRange{0, 86'400'000};
constexpr Range kShutdownGraceRange{0, 600'000};
constexpr Range kSyncIntervalRange{1, 60'000};
constexpr Range kBlockCacheRange{0, 65'536};
constexpr Range kWriteBufferRange{1, 4'096};
constexpr Range kExpirySweepIntervalRange{1, 60'000};
constexpr Range kExpirySweepMaxKeysRange{1, 1'000'000};
constexpr Range kMaxKeyBytesRange{1, 65'536};
constexpr Range kMaxValueBytesRange{0, 32u << 20};
constexpr Range kMaxBatchOpsRange{1, 100'000};
constexpr Range kMaxBatchBytesRange{1, 64u << 20};
constexpr Range kMaxScanLimitRange{1, 1'000'000};
constexpr Range kMaxFrameBytesRange{4'096, 64u << 20};
constexpr Range kMaxInflightRange{1, 65'536};
constexpr Range kElectionTimeoutRange{50, 60'000};
constexpr Range kHeartbeatIntervalRange{10, 10'000};
constexpr Range kSessionWaitRange{0, 60'000};
constexpr Range kSnapshotEntriesRange{0, 100'000'000};
constexpr Range kMaxAppendEntriesRange{1, 4'096};
constexpr Range kMaxInflightAppendsRange{1, 1'024};
constexpr Range kHubRange{0, (uint64_t{1} << 63) - 1};  // 0 = none (only star needs a hub)
constexpr Range kMaxSiblingsRange{1, 1'024};
constexpr Range kMaxClockOffsetRange{1, 3'600'000};
constexpr Range kResendIntervalRange{10, 60'000};
constexpr Range kMaxBatchChangesRange{1, 4'096};
constexpr Range kWindowChangesRange{1, 1'048'576};
constexpr Range kLogRetentionChangesRange{1, 1'000'000'000};
constexpr Range kStabilityIntervalRange{10, 60'000};
constexpr Range kTombstoneGraceRange{0, 31'536'000'000};
constexpr Range kReplicasRange{1, 16};
constexpr Range kTokensPerNodeRange{1, 4'096};
constexpr Range kRequestTimeoutRange{10, 600'000};
constexpr Range kMaxHintsRange{0, 100'000'000};
constexpr Range kMaxHintBytesRange{0, uint64_t{1} << 40};
constexpr Range kHintMaxAgeRange{0, 2'592'000'000};
constexpr Range kHintReplayRange{1, 1'000'000};
constexpr Range kAntiEntropyIntervalRange{0, 86'400'000};
constexpr Range kMerkleDepthRange{4, 16};
constexpr Range kDynamoHeartbeatRange{10, 60'000};
constexpr Range kPhiThresholdRange{1, 100};
constexpr size_t kMaxZoneBytes = 64;

// A cluster is at most this many members (cluster.members), and its name this long.
constexpr size_t kMaxMembers = 64;
constexpr size_t kMaxClusterNameBytes = 64;
constexpr std::string_view kClusterNameText =
    "1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-'";

// multi_leader.resolvers: at most this many rules, each prefix at most this long. The
// resolver of every write is looked up in the list, so both bound that lookup too.
constexpr size_t kMaxResolverRules = 256;
constexpr size_t kMaxResolverPrefixBytes = 1024;
constexpr std::string_view kResolverPrefixText =
    "a key prefix of at most 1024 bytes (\"\" matches every key)";

// Room in a frame beyond the key and value: frame header, opcode body fields, options.
constexpr uint64_t kFrameOverheadBytes = 1024;

// Values echoed in messages are cut here, so a megabyte of garbage stays one short line.
constexpr size_t kMaxShownBytes = 64;

constexpr Mode kModes[] = {Mode::kSingle, Mode::kLeaderFollower, Mode::kMultiLeader,
                           Mode::kDynamo};
constexpr ReadRepair kReadRepairs[] = {ReadRepair::kBackground, ReadRepair::kBeforeReply};
constexpr Replication kReplications[] = {Replication::kQuorum, Replication::kSync,
                                         Replication::kSemiSync, Replication::kAsync};
constexpr Failover kFailovers[] = {Failover::kAuto, Failover::kManual};
constexpr FollowerWrites kFollowerWrites[] = {FollowerWrites::kRedirect, FollowerWrites::kForward};
constexpr ReadLevel kReadLevels[] = {ReadLevel::kLinearizable, ReadLevel::kLeader,
                                     ReadLevel::kFollower, ReadLevel::kSession};
constexpr Propagation kPropagations[] = {Propagation::kAllToAll, Propagation::kRing,
                                         Propagation::kStar};
constexpr ResolverKind kResolverKinds[] = {ResolverKind::kLww, ResolverKind::kSiblings,
                                           ResolverKind::kCounter, ResolverKind::kSet};
constexpr Engine kEngines[] = {Engine::kLevelDb, Engine::kMemory};
constexpr Durability kDurabilities[] = {Durability::kAlways, Durability::kPeriodic,
                                        Durability::kNone};
constexpr LogLevel kLogLevels[] = {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn,
                                   LogLevel::kError};

// The error list of one parse or validation. `failed` remembers which paths already have
// an error, so cross-field rules do not pile a second, misleading line on top of it (the
// field then holds its default, not what the operator wrote).
class Errors {
 public:
  void Add(std::string_view path, std::string_view message) {
    lines_.push_back(fmt::format("{}: {}", path, message));
    failed_.emplace(path);
  }
  // True if `path`, a part of it ("cluster.members[2].id" for "cluster.members") or
  // what contains it ("limits" for "limits.max_key_bytes") has an error.
  [[nodiscard]] bool Failed(std::string_view path) const {
    return std::any_of(failed_.begin(), failed_.end(), [&](const std::string& failed) {
      return Within(failed, path) || Within(path, failed);
    });
  }
  [[nodiscard]] bool empty() const { return lines_.empty(); }
  Status ToStatus() const {
    if (lines_.empty()) return Status::Ok();
    return Status::InvalidArgument(fmt::format("{}", fmt::join(lines_, "\n")));
  }

 private:
  // True if `inner` is `outer` or one of its fields or entries.
  static bool Within(std::string_view inner, std::string_view outer) {
    if (!inner.starts_with(outer)) return false;
    if (inner.size() == outer.size()) return true;
    return inner[outer.size()] == '.' || inner[outer.size()] == '[';
  }

  std::vector<std::string> lines_;
  std::set<std::string, std::less<>> failed_;
};

// A value as shown in a message: quoted, escaped, and cut if long.
std::string Quote(std::string_view text) {
  if (text.size() <= kMaxShownBytes) return fmt::format("{:?}", text);
  return fmt::format("{:?}... ({} bytes)", text.substr(0, kMaxShownBytes), text.size());
}

// A field name as shown in a path: raw if it is plain, else quoted.
std::string ShowKey(std::string_view key) {
  bool plain = !key.empty() && key.size() <= kMaxShownBytes &&
               std::all_of(key.begin(), key.end(), [](char c) {
                 return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
               });
  return plain ? std::string(key) : Quote(key);
}

std::string Join(std::string_view section, std::string_view key) {
  return fmt::format("{}.{}", section, key);
}

std::string_view TypeName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return "an empty value";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Sequence: return "a sequence";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Undefined: break;
  }
  return "nothing";
}

std::string RangeText(Range range) {
  return fmt::format("an integer from {} to {}", range.min, range.max);
}

template <typename E, size_t N>
std::string OneOfText(const E (&values)[N], std::string_view (*name)(E)) {
  std::string text = "one of: ";
  for (size_t i = 0; i < N; ++i) {
    if (i > 0) text += ", ";
    text += name(values[i]);
  }
  return text;
}

// Restricted Damerau-Levenshtein (optimal string alignment) distance: a swap of two
// neighbours ("stroage") counts as one edit, which is the most common typo.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The allowed name closest to `key`, if it is close enough to be a plausible typo: at most
// one edit per three characters of the candidate (at least one, at most three).
std::optional<std::string_view> ClosestName(std::string_view key,
                                            const std::vector<std::string_view>& allowed) {
  if (key.size() > kMaxShownBytes) return std::nullopt;
  std::string lower_key = Lower(key);
  std::optional<std::string_view> best;
  size_t best_distance = std::numeric_limits<size_t>::max();
  for (std::string_view name : allowed) {
    size_t distance = EditDistance(lower_key, name);
    size_t limit = std::clamp<size_t>(name.size() / 3, 1, 3);
    if (distance <= limit && distance < best_distance) {
      best = name;
      best_distance = distance;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------
// Scalar readers. Each reads one field into `*out` only if the value is valid, and
// otherwise adds exactly one line to `errors` and leaves the default in place.

// Returns the scalar text of `value`, or reports that `expected` was wanted.
const std::string* ScalarOrReport(const YAML::Node& value, std::string_view path,
                                  std::string_view expected, Errors* errors) {
  if (value.IsScalar()) return &value.Scalar();
  errors->Add(path, fmt::format("expected {}, got {}", expected, TypeName(value)));
  return nullptr;
}

enum class IntParse { kOk, kNotInteger, kOutOfRange };

// Decimal digits with an optional sign. "-0" is 0; any other negative is out of range.
IntParse ParseDecimal(std::string_view text, uint64_t* out) {
  bool negative = false;
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
    negative = text[0] == '-';
    text.remove_prefix(1);
  }
  if (text.empty()) return IntParse::kNotInteger;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  uint64_t value = 0;
  bool overflow = false;
  for (char c : text) {
    if (c < '0' || c > '9') return IntParse::kNotInteger;
    auto digit = static_cast<uint64_t>(c - '0');
    if (value > (kMax - digit) / 10) overflow = true;
    if (!overflow) value = value * 10 + digit;
  }
  if (overflow || (negative && value != 0)) return IntParse::kOutOfRange;
  *out = value;
  return IntParse::kOk;
}

std::string OutOfRange(std::string_view shown, Range range) {
  return fmt::format("{} is out of range; expected {}", shown, RangeText(range));
}

template <typename T>
void ReadUint(const YAML::Node& value, std::string_view path, Range range, T* out, Errors* errors) {
  KVD_ASSERT(range.max <= std::numeric_limits<T>::max());
  const std::string* text = ScalarOrReport(value, path, RangeText(range), errors);
  if (text == nullptr) return;
  uint64_t parsed = 0;
  switch (ParseDecimal(*text, &parsed)) {
    case IntParse::kNotInteger:
      errors->Add(path, fmt::format("{} is not an integer", Quote(*text)));
      return;
    case IntParse::kOutOfRange:
      // Digits and a sign only, but possibly very many of them.
      errors->Add(path, OutOfRange(text->size() <= kMaxShownBytes ? *text : Quote(*text), range));
      return;
    case IntParse::kOk: break;
  }
  if (parsed < range.min || parsed > range.max) {
    errors->Add(path, OutOfRange(*text, range));
    return;
  }
  *out = static_cast<T>(parsed);
}

void ReadBool(const YAML::Node& value, std::string_view path, bool* out, Errors* errors) {
  const std::string* text = ScalarOrReport(value, path, "true or false", errors);
  if (text == nullptr) return;
  if (*text == "true" || *text == "false") {
    *out = *text == "true";
    return;
  }
  errors->Add(path, fmt::format("{} is not allowed; expected true or false", Quote(*text)));
}

template <typename E, size_t N>
void ReadEnum(const YAML::Node& value, std::string_view path, const E (&values)[N],
              std::string_view (*name)(E), E* out, Errors* errors) {
  std::string expected = OneOfText(values, name);
  const std::string* text = ScalarOrReport(value, path, expected, errors);
  if (text == nullptr) return;
  for (E candidate : values) {
    if (*text == name(candidate)) {
      *out = candidate;
      return;
    }
  }
  errors->Add(path, fmt::format("{} is not allowed; expected {}", Quote(*text), expected));
}

// Why `text` is not an acceptable path, or nullopt if it is.
std::optional<std::string> PathProblem(std::string_view text, bool allow_empty) {
  if (text.empty() && !allow_empty) {
    return std::string("\"\" is not allowed; expected a non-empty path");
  }
  // The OS would silently cut the path at the NUL.
  if (text.find('\0') != std::string_view::npos) {
    return fmt::format("{} is not allowed; a path must not contain a NUL byte", Quote(text));
  }
  return std::nullopt;
}

void ReadPath(const YAML::Node& value, std::string_view path, bool allow_empty, std::string* out,
              Errors* errors) {
  // `file:` with nothing after it is YAML's null; for an optional path that means "none".
  if (allow_empty && value.IsNull()) {
    out->clear();
    return;
  }
  const std::string* text =
      ScalarOrReport(value, path, allow_empty ? "a path" : "a non-empty path", errors);
  if (text == nullptr) return;
  if (std::optional<std::string> problem = PathProblem(*text, allow_empty)) {
    errors->Add(path, *problem);
    return;
  }
  *out = *text;
}

// Returns whether the value was a valid address (and is now in *out).
bool ReadAddress(const YAML::Node& value, std::string_view path, Address* out, Errors* errors) {
  const std::string* text = ScalarOrReport(value, path, "host:port", errors);
  if (text == nullptr) return false;
  Result<Address> address = ParseAddress(*text);
  if (!address.ok()) {
    errors->Add(path, address.status().message());
    return false;
  }
  *out = std::move(address).value();
  return true;
}

// Why `name` is not an acceptable cluster.name, or nullopt if it is. The name travels in
// every peer handshake and appears in logs and metrics, hence the short, plain alphabet.
std::optional<std::string> ClusterNameProblem(std::string_view name) {
  bool ok = !name.empty() && name.size() <= kMaxClusterNameBytes &&
            std::all_of(name.begin(), name.end(), [](char c) {
              return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' ||
                     c == '-';
            });
  if (ok) return std::nullopt;
  return fmt::format("{} is not allowed; expected {}", Quote(name), kClusterNameText);
}

void ReadClusterName(const YAML::Node& value, std::string_view path, std::string* out,
                     Errors* errors) {
  const std::string* text = ScalarOrReport(value, path, kClusterNameText, errors);
  if (text == nullptr) return;
  if (std::optional<std::string> problem = ClusterNameProblem(*text)) {
    errors->Add(path, *problem);
    return;
  }
  *out = *text;
}

// Why `prefix` is not an acceptable multi_leader.resolvers prefix, or nullopt if it is.
// Any bytes are allowed: keys are bytes, and a prefix only has to be comparable with them.
std::optional<std::string> ResolverPrefixProblem(std::string_view prefix) {
  if (prefix.size() <= kMaxResolverPrefixBytes) return std::nullopt;
  return fmt::format("{} is too long; expected at most {} bytes", Quote(prefix),
                     kMaxResolverPrefixBytes);
}

// A multi_leader.resolvers prefix. An empty value (`prefix:` or `prefix: ~`) is an error,
// not "": a prefix left out by mistake must not silently take over every key.
void ReadResolverPrefix(const YAML::Node& value, std::string_view path, std::string* out,
                        Errors* errors) {
  const std::string* text = ScalarOrReport(value, path, kResolverPrefixText, errors);
  if (text == nullptr) return;
  if (std::optional<std::string> problem = ResolverPrefixProblem(*text)) {
    errors->Add(path, *problem);
    return;
  }
  *out = *text;
}

void CheckUint(uint64_t value, std::string_view path, Range range, Errors* errors) {
  if (value < range.min || value > range.max) {
    errors->Add(path, OutOfRange(fmt::format("{}", value), range));
  }
}

// ---------------------------------------------------------------------------------------
// The schema: every section and field, in the order of config.h. `read` parses a YAML
// value into the Config; `check`, where set, re-checks the typed value for ValidateConfig
// (a command-line override or a hand-built Config never went through `read`).

using ReadFn = void (*)(const YAML::Node& value, std::string_view path, Config* config,
                        Errors* errors);
using CheckFn = void (*)(const Config& config, std::string_view path, Errors* errors);

struct FieldSpec {
  std::string_view key;
  ReadFn read;
  CheckFn check;
};

struct SectionSpec {
  std::string_view name;
  std::span<const FieldSpec> fields;
};

// Field makers: one per kind, addressing the field by pointers to members so that each
// table row below names its key, its place in Config and its constraint once.
template <auto kSection, auto kMember, Range kRange>
constexpr FieldSpec UintField(std::string_view key) {
  using Field = std::remove_cvref_t<decltype(std::declval<Config>().*kSection.*kMember)>;
  static_assert(kRange.max <= std::numeric_limits<Field>::max(), "range exceeds the field type");
  return {key,
          [](const YAML::Node& v, std::string_view p, Config* c, Errors* e) {
            ReadUint(v, p, kRange, &((c->*kSection).*kMember), e);
          },
          [](const Config& c, std::string_view p, Errors* e) {
            CheckUint((c.*kSection).*kMember, p, kRange, e);
          }};
}

template <auto kSection, auto kMember, bool kAllowEmpty>
constexpr FieldSpec PathField(std::string_view key) {
  return {key,
          [](const YAML::Node& v, std::string_view p, Config* c, Errors* e) {
            ReadPath(v, p, kAllowEmpty, &((c->*kSection).*kMember), e);
          },
          [](const Config& c, std::string_view p, Errors* e) {
            if (auto problem = PathProblem((c.*kSection).*kMember, kAllowEmpty)) {
              e->Add(p, *problem);
            }
          }};
}

template <auto kSection, auto kMember, const auto& kValues, auto kName>
constexpr FieldSpec EnumField(std::string_view key) {
  return {key,
          [](const YAML::Node& v, std::string_view p, Config* c, Errors* e) {
            ReadEnum(v, p, kValues, kName, &((c->*kSection).*kMember), e);
          },
          nullptr};
}

// An address the node listens on; `kSet` records that the file gave it (ServerConfig).
template <auto kSection, auto kMember, auto kSet>
constexpr FieldSpec ListenField(std::string_view key) {
  return {key,
          [](const YAML::Node& v, std::string_view p, Config* c, Errors* e) {
            ReadAddress(v, p, &((c->*kSection).*kMember), e);
            (c->*kSection).*kSet = true;
          },
          nullptr};
}

template <auto kSection, auto kMember>
constexpr FieldSpec BoolField(std::string_view key) {
  return {key,
          [](const YAML::Node& v, std::string_view p, Config* c, Errors* e) {
            ReadBool(v, p, &((c->*kSection).*kMember), e);
          },
          nullptr};
}

// A member address must name a port: other nodes and redirected clients dial it.
std::string MemberPortZeroMessage(const Address& address) {
  return fmt::format("{} has port 0; expected a fixed port, since other nodes and clients "
                     "connect to it",
                     Quote(address.ToString()));
}

// Re-checks one member entry (for ValidateConfig; ReadMembers checks the same as it reads).
void CheckMember(const MemberConfig& member, std::string_view path, Errors* errors) {
  CheckUint(member.id, Join(path, "id"), kNodeIdRange, errors);
  if (member.client.port == 0) {
    errors->Add(Join(path, "client"), MemberPortZeroMessage(member.client));
  }
  if (member.peer.port == 0) errors->Add(Join(path, "peer"), MemberPortZeroMessage(member.peer));
  if (member.has_admin && member.admin.port == 0) {
    errors->Add(Join(path, "admin"), MemberPortZeroMessage(member.admin));
  }
  if (member.zone.size() > kMaxZoneBytes) {
    errors->Add(Join(path, "zone"), fmt::format("{} is too long; expected at most {} bytes",
                                                Quote(member.zone), kMaxZoneBytes));
  }
}

std::string TooManyMembersMessage(size_t count) {
  return fmt::format("{} members is too many; expected at most {}", count, kMaxMembers);
}

void CheckMembers(const Config& config, std::string_view path, Errors* errors) {
  const std::vector<MemberConfig>& members = config.cluster.members;
  if (members.size() > kMaxMembers) {
    errors->Add(path, TooManyMembersMessage(members.size()));
    return;
  }
  for (size_t i = 0; i < members.size(); ++i) {
    CheckMember(members[i], fmt::format("{}[{}]", path, i), errors);
  }
}

// Defined with the document walk below, which it uses for each entry's fields.
void ReadMembers(const YAML::Node& value, std::string_view path, std::vector<MemberConfig>* out,
                 Errors* errors);

std::string TooManyResolversMessage(size_t count) {
  return fmt::format("{} entries is too many; expected at most {}", count, kMaxResolverRules);
}

// Re-checks multi_leader.resolvers (for ValidateConfig; ReadResolvers checks the same as
// it reads). Duplicate prefixes are a cross-field rule (CheckMultiLeader), so that they
// are found even when another entry of the list is wrong.
void CheckResolverRules(const std::vector<ResolverRule>& rules, std::string_view path,
                        Errors* errors) {
  if (rules.size() > kMaxResolverRules) {
    errors->Add(path, TooManyResolversMessage(rules.size()));
    return;
  }
  for (size_t i = 0; i < rules.size(); ++i) {
    if (auto problem = ResolverPrefixProblem(rules[i].prefix)) {
      errors->Add(fmt::format("{}[{}].prefix", path, i), *problem);
    }
  }
}

void CheckResolvers(const Config& config, std::string_view path, Errors* errors) {
  CheckResolverRules(config.multi_leader.resolvers, path, errors);
}

// Defined with the document walk below, like ReadMembers.
void ReadFollowers(const YAML::Node& value, std::string_view path, std::vector<FollowerRule>* out,
                   Errors* errors);
constexpr size_t kMaxFollowerRules = 256;

// Defined with the document walk below, like ReadMembers.
void ReadResolvers(const YAML::Node& value, std::string_view path, std::vector<ResolverRule>* out,
                   Errors* errors);

constexpr FieldSpec kNodeFields[] = {
    UintField<&Config::node, &NodeConfig::id, kNodeIdRange>("id"),
    FieldSpec{"mode",
              [](const YAML::Node& v, std::string_view p, Config* c, Errors* e) {
                ReadEnum(v, p, kModes, ModeName, &c->node.mode, e);
              },
              nullptr},
    PathField<&Config::node, &NodeConfig::data_dir, false>("data_dir"),
};

constexpr FieldSpec kClusterFields[] = {
    FieldSpec{"name",
              [](const YAML::Node& v, std::string_view p, Config* c, Errors* e) {
                ReadClusterName(v, p, &c->cluster.name, e);
              },
              [](const Config& c, std::string_view p, Errors* e) {
                if (auto problem = ClusterNameProblem(c.cluster.name)) e->Add(p, *problem);
              }},
    FieldSpec{"members",
              [](const YAML::Node& v, std::string_view p, Config* c, Errors* e) {
                ReadMembers(v, p, &c->cluster.members, e);
              },
              CheckMembers},
    BoolField<&Config::cluster, &ClusterConfig::join>("join"),
};

constexpr auto kRaft = &Config::raft;
constexpr FieldSpec kRaftFields[] = {
    UintField<kRaft, &RaftConfig::election_timeout_ms, kElectionTimeoutRange>(
        "election_timeout_ms"),
    UintField<kRaft, &RaftConfig::heartbeat_interval_ms, kHeartbeatIntervalRange>(
        "heartbeat_interval_ms"),
    EnumField<kRaft, &RaftConfig::replication, kReplications, ReplicationName>("replication"),
    EnumField<kRaft, &RaftConfig::failover, kFailovers, FailoverName>("failover"),
    BoolField<kRaft, &RaftConfig::pre_vote>("pre_vote"),
    BoolField<kRaft, &RaftConfig::check_quorum>("check_quorum"),
    BoolField<kRaft, &RaftConfig::lease_reads>("lease_reads"),
    EnumField<kRaft, &RaftConfig::follower_writes, kFollowerWrites, FollowerWritesName>(
        "follower_writes"),
    EnumField<kRaft, &RaftConfig::default_read, kReadLevels, ReadLevelName>("default_read"),
    UintField<kRaft, &RaftConfig::session_wait_ms, kSessionWaitRange>("session_wait_ms"),
    UintField<kRaft, &RaftConfig::snapshot_threshold_entries, kSnapshotEntriesRange>(
        "snapshot_threshold_entries"),
    UintField<kRaft, &RaftConfig::snapshot_trailing_entries, kSnapshotEntriesRange>(
        "snapshot_trailing_entries"),
    UintField<kRaft, &RaftConfig::max_append_entries, kMaxAppendEntriesRange>(
        "max_append_entries"),
    UintField<kRaft, &RaftConfig::max_inflight_appends, kMaxInflightAppendsRange>(
        "max_inflight_appends"),
};

constexpr auto kMultiLeader = &Config::multi_leader;
constexpr FieldSpec kMultiLeaderFields[] = {
    EnumField<kMultiLeader, &MultiLeaderConfig::propagation, kPropagations, PropagationName>(
        "propagation"),
    UintField<kMultiLeader, &MultiLeaderConfig::hub, kHubRange>("hub"),
    FieldSpec{"resolvers",
              [](const YAML::Node& v, std::string_view p, Config* c, Errors* e) {
                ReadResolvers(v, p, &c->multi_leader.resolvers, e);
              },
              CheckResolvers},
    UintField<kMultiLeader, &MultiLeaderConfig::max_siblings, kMaxSiblingsRange>("max_siblings"),
    UintField<kMultiLeader, &MultiLeaderConfig::max_clock_offset_ms, kMaxClockOffsetRange>(
        "max_clock_offset_ms"),
    UintField<kMultiLeader, &MultiLeaderConfig::resend_interval_ms, kResendIntervalRange>(
        "resend_interval_ms"),
    UintField<kMultiLeader, &MultiLeaderConfig::max_batch_changes, kMaxBatchChangesRange>(
        "max_batch_changes"),
    UintField<kMultiLeader, &MultiLeaderConfig::window_changes, kWindowChangesRange>(
        "window_changes"),
    UintField<kMultiLeader, &MultiLeaderConfig::log_retention_changes, kLogRetentionChangesRange>(
        "log_retention_changes"),
    UintField<kMultiLeader, &MultiLeaderConfig::session_wait_ms, kSessionWaitRange>(
        "session_wait_ms"),
    UintField<kMultiLeader, &MultiLeaderConfig::stability_interval_ms, kStabilityIntervalRange>(
        "stability_interval_ms"),
    UintField<kMultiLeader, &MultiLeaderConfig::tombstone_grace_ms, kTombstoneGraceRange>(
        "tombstone_grace_ms"),
    FieldSpec{"followers",
              [](const YAML::Node& v, std::string_view p, Config* c, Errors* e) {
                ReadFollowers(v, p, &c->multi_leader.followers, e);
              },
              nullptr},  // the ids are checked against cluster.members in CheckFollowers
};

// dynamo.read_quorum / write_quorum: one, quorum, all or a number. Numbers above
// dynamo.replicas are a cross-field rule (CheckDynamo).
template <auto kMember>
constexpr FieldSpec QuorumField(std::string_view key) {
  return {key,
          [](const YAML::Node& v, std::string_view p, Config* c, Errors* e) {
            const std::string* text =
                ScalarOrReport(v, p, "one, quorum, all or a number from 1 to 16", e);
            if (text == nullptr) return;
            if (!ParseQuorum(*text, &(c->dynamo.*kMember))) {
              e->Add(p, fmt::format("{} is not allowed; expected one, quorum, all or a number "
                                    "from 1 to 16",
                                    Quote(*text)));
            }
          },
          [](const Config& c, std::string_view p, Errors* e) {
            const uint32_t value = c.dynamo.*kMember;
            if (value != kQuorumMajority && value != kQuorumAll && (value < 1 || value > 16)) {
              e->Add(p, fmt::format("{} is out of range; expected one, quorum, all or a number "
                                    "from 1 to 16",
                                    value));
            }
          }};
}

void CheckDynamoResolvers(const Config& config, std::string_view path, Errors* errors) {
  CheckResolverRules(config.dynamo.resolvers, path, errors);
}

constexpr auto kDynamo = &Config::dynamo;
constexpr FieldSpec kDynamoFields[] = {
    UintField<kDynamo, &DynamoConfig::replicas, kReplicasRange>("replicas"),
    QuorumField<&DynamoConfig::read_quorum>("read_quorum"),
    QuorumField<&DynamoConfig::write_quorum>("write_quorum"),
    UintField<kDynamo, &DynamoConfig::tokens_per_node, kTokensPerNodeRange>("tokens_per_node"),
    UintField<kDynamo, &DynamoConfig::request_timeout_ms, kRequestTimeoutRange>(
        "request_timeout_ms"),
    EnumField<kDynamo, &DynamoConfig::read_repair, kReadRepairs, ReadRepairName>("read_repair"),
    BoolField<kDynamo, &DynamoConfig::sloppy_quorum>("sloppy_quorum"),
    UintField<kDynamo, &DynamoConfig::max_hints_per_target, kMaxHintsRange>(
        "max_hints_per_target"),
    UintField<kDynamo, &DynamoConfig::max_hint_bytes_per_target, kMaxHintBytesRange>(
        "max_hint_bytes_per_target"),
    UintField<kDynamo, &DynamoConfig::hint_max_age_ms, kHintMaxAgeRange>("hint_max_age_ms"),
    UintField<kDynamo, &DynamoConfig::hint_replay_per_second, kHintReplayRange>(
        "hint_replay_per_second"),
    UintField<kDynamo, &DynamoConfig::tombstone_grace_ms, kTombstoneGraceRange>(
        "tombstone_grace_ms"),
    UintField<kDynamo, &DynamoConfig::anti_entropy_interval_ms, kAntiEntropyIntervalRange>(
        "anti_entropy_interval_ms"),
    UintField<kDynamo, &DynamoConfig::merkle_depth, kMerkleDepthRange>("merkle_depth"),
    UintField<kDynamo, &DynamoConfig::max_clock_offset_ms, kMaxClockOffsetRange>(
        "max_clock_offset_ms"),
    UintField<kDynamo, &DynamoConfig::heartbeat_interval_ms, kDynamoHeartbeatRange>(
        "heartbeat_interval_ms"),
    UintField<kDynamo, &DynamoConfig::phi_threshold, kPhiThresholdRange>("phi_threshold"),
    FieldSpec{"resolvers",
              [](const YAML::Node& v, std::string_view p, Config* c, Errors* e) {
                ReadResolvers(v, p, &c->dynamo.resolvers, e);
              },
              CheckDynamoResolvers},
};

constexpr auto kServer = &Config::server;
constexpr FieldSpec kServerFields[] = {
    ListenField<kServer, &ServerConfig::listen, &ServerConfig::listen_set>("listen"),
    ListenField<kServer, &ServerConfig::admin_listen, &ServerConfig::admin_listen_set>(
        "admin_listen"),
    BoolField<kServer, &ServerConfig::admin_enabled>("admin_enabled"),
    UintField<kServer, &ServerConfig::max_connections, kMaxConnectionsRange>("max_connections"),
    UintField<kServer, &ServerConfig::idle_timeout_ms, kIdleTimeoutRange>("idle_timeout_ms"),
    UintField<kServer, &ServerConfig::shutdown_grace_ms, kShutdownGraceRange>("shutdown_grace_ms"),
};

constexpr auto kStorage = &Config::storage;
constexpr FieldSpec kStorageFields[] = {
    EnumField<kStorage, &StorageConfig::engine, kEngines, EngineName>("engine"),
    EnumField<kStorage, &StorageConfig::durability, kDurabilities, DurabilityName>("durability"),
    UintField<kStorage, &StorageConfig::sync_interval_ms, kSyncIntervalRange>("sync_interval_ms"),
    UintField<kStorage, &StorageConfig::block_cache_mb, kBlockCacheRange>("block_cache_mb"),
    UintField<kStorage, &StorageConfig::row_cache_mb, kBlockCacheRange>("row_cache_mb"),
    UintField<kStorage, &StorageConfig::write_buffer_mb, kWriteBufferRange>("write_buffer_mb"),
    UintField<kStorage, &StorageConfig::expiry_sweep_interval_ms, kExpirySweepIntervalRange>(
        "expiry_sweep_interval_ms"),
    UintField<kStorage, &StorageConfig::expiry_sweep_max_keys, kExpirySweepMaxKeysRange>(
        "expiry_sweep_max_keys"),
};

constexpr auto kLimits = &Config::limits;
constexpr FieldSpec kLimitsFields[] = {
    UintField<kLimits, &LimitsConfig::max_key_bytes, kMaxKeyBytesRange>("max_key_bytes"),
    UintField<kLimits, &LimitsConfig::max_value_bytes, kMaxValueBytesRange>("max_value_bytes"),
    UintField<kLimits, &LimitsConfig::max_batch_ops, kMaxBatchOpsRange>("max_batch_ops"),
    UintField<kLimits, &LimitsConfig::max_batch_bytes, kMaxBatchBytesRange>("max_batch_bytes"),
    UintField<kLimits, &LimitsConfig::max_scan_limit, kMaxScanLimitRange>("max_scan_limit"),
    UintField<kLimits, &LimitsConfig::max_frame_bytes, kMaxFrameBytesRange>("max_frame_bytes"),
    UintField<kLimits, &LimitsConfig::max_inflight_per_connection, kMaxInflightRange>(
        "max_inflight_per_connection"),
};

constexpr FieldSpec kLogFields[] = {
    EnumField<&Config::log, &LogConfig::level, kLogLevels, LogLevelName>("level"),
    PathField<&Config::log, &LogConfig::file, true>("file"),
};

constexpr SectionSpec kSections[] = {
    {"node", kNodeFields},     {"cluster", kClusterFields},
    {"raft", kRaftFields},     {"multi_leader", kMultiLeaderFields},
    {"dynamo", kDynamoFields},
    {"server", kServerFields}, {"storage", kStorageFields},
    {"limits", kLimitsFields}, {"log", kLogFields},
};

// ---------------------------------------------------------------------------------------
// Walking the document.

// The message for a key nobody knows: a near-miss at this level, or else the same key in
// another section (a field written one level too high or in the wrong section). Inside a
// cluster.members entry only the entry's own fields are suggested: "listen" there is not
// a misplaced server.listen.
std::string UnknownFieldMessage(std::string_view key, const std::vector<std::string_view>& here,
                                std::string_view section) {
  if (std::optional<std::string_view> near = ClosestName(key, here)) {
    return fmt::format("unknown field (did you mean \"{}\"?)", *near);
  }
  bool in_section = section.empty() ||
                    std::any_of(std::begin(kSections), std::end(kSections),
                                [&](const SectionSpec& s) { return s.name == section; });
  if (!in_section) return "unknown field";
  for (const SectionSpec& other : kSections) {
    if (other.name == section) continue;
    for (const FieldSpec& field : other.fields) {
      if (field.key == key) {
        return fmt::format("unknown field (did you mean \"{}\"?)", Join(other.name, key));
      }
    }
  }
  return "unknown field";
}

// Calls visit(key, path, value) for each well-formed, known, first-seen entry of `map`
// (a mapping already checked); reports bad keys, duplicates and unknown fields.
// `section` is empty at the top level.
template <typename Visit>
void ForEachField(const YAML::Node& map, std::string_view section,
                  const std::vector<std::string_view>& allowed, Errors* errors, Visit visit) {
  std::set<std::string, std::less<>> seen;
  for (const auto& entry : map) {
    const YAML::Node& key_node = entry.first;
    if (!key_node.IsScalar()) {
      errors->Add(section.empty() ? "config" : section,
                  fmt::format("a field name must be a scalar, got {}", TypeName(key_node)));
      continue;
    }
    const std::string& key = key_node.Scalar();
    std::string shown = ShowKey(key);
    std::string path = section.empty() ? shown : Join(section, shown);
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      errors->Add(path, UnknownFieldMessage(key, allowed, section));
      continue;
    }
    // yaml-cpp keeps both entries of a duplicated key; which one wins would be an accident.
    if (!seen.insert(key).second) {
      errors->Add(path, "is given more than once; keep one");
      continue;
    }
    visit(key, path, entry.second);
  }
}

// One cluster.members entry. The fields are few and all required but admin, so they are
// read here directly rather than through FieldSpec (which addresses Config, not an entry).
MemberConfig ReadMember(const YAML::Node& node, std::string_view path, Errors* errors) {
  MemberConfig member;
  if (!node.IsMap()) {
    errors->Add(path, fmt::format("expected a mapping with id, client, peer and optionally "
                                  "admin and zone, got {}",
                                  TypeName(node)));
    return member;
  }
  static const std::vector<std::string_view> kAllowed = {"id", "client", "peer", "admin",
                                                         "zone"};
  std::set<std::string, std::less<>> present;
  auto read_address = [&](const YAML::Node& value, const std::string& field_path, Address* out) {
    if (ReadAddress(value, field_path, out, errors) && out->port == 0) {
      errors->Add(field_path, MemberPortZeroMessage(*out));
    }
  };
  ForEachField(node, path, kAllowed, errors,
               [&](std::string_view key, const std::string& field_path, const YAML::Node& value) {
                 present.emplace(key);
                 if (key == "id") {
                   ReadUint(value, field_path, kNodeIdRange, &member.id, errors);
                 } else if (key == "client") {
                   read_address(value, field_path, &member.client);
                 } else if (key == "peer") {
                   read_address(value, field_path, &member.peer);
                 } else if (key == "zone") {
                   const std::string* text = ScalarOrReport(value, field_path,
                                                            "a zone name of at most 64 bytes",
                                                            errors);
                   if (text != nullptr && text->size() > kMaxZoneBytes) {
                     errors->Add(field_path, fmt::format("{} is too long; expected at most {} "
                                                         "bytes",
                                                         Quote(*text), kMaxZoneBytes));
                   } else if (text != nullptr) {
                     member.zone = *text;
                   }
                 } else {
                   member.has_admin = true;
                   read_address(value, field_path, &member.admin);
                 }
               });
  if (present.count("id") == 0) {
    errors->Add(Join(path, "id"), fmt::format("is missing; expected {}", RangeText(kNodeIdRange)));
  }
  for (std::string_view key : {"client", "peer"}) {
    if (present.count(key) == 0) errors->Add(Join(path, key), "is missing; expected host:port");
  }
  return member;
}

void ReadMembers(const YAML::Node& value, std::string_view path, std::vector<MemberConfig>* out,
                 Errors* errors) {
  out->clear();
  if (value.IsNull()) return;  // "members:" with nothing under it: no members
  if (!value.IsSequence()) {
    errors->Add(path, fmt::format("expected a sequence of members, got {}", TypeName(value)));
    return;
  }
  // Checked before reading, so that a runaway list is one line, not thousands.
  if (value.size() > kMaxMembers) {
    errors->Add(path, TooManyMembersMessage(value.size()));
    return;
  }
  size_t index = 0;
  for (const auto& entry : value) {
    out->push_back(ReadMember(entry, fmt::format("{}[{}]", path, index), errors));
    ++index;
  }
}

// One multi_leader.resolvers entry, read directly like a cluster.members entry. Both
// fields are required: a rule without a prefix would silently cover every key.
ResolverRule ReadResolverRule(const YAML::Node& node, std::string_view path, Errors* errors) {
  ResolverRule rule;
  if (!node.IsMap()) {
    errors->Add(path,
                fmt::format("expected a mapping with prefix and resolver, got {}", TypeName(node)));
    return rule;
  }
  static const std::vector<std::string_view> kAllowed = {"prefix", "resolver"};
  std::set<std::string, std::less<>> present;
  ForEachField(node, path, kAllowed, errors,
               [&](std::string_view key, const std::string& field_path, const YAML::Node& value) {
                 present.emplace(key);
                 if (key == "prefix") {
                   ReadResolverPrefix(value, field_path, &rule.prefix, errors);
                 } else {
                   ReadEnum(value, field_path, kResolverKinds, ResolverKindName, &rule.resolver,
                            errors);
                 }
               });
  if (present.count("prefix") == 0) {
    errors->Add(Join(path, "prefix"), fmt::format("is missing; expected {}", kResolverPrefixText));
  }
  if (present.count("resolver") == 0) {
    errors->Add(Join(path, "resolver"), fmt::format("is missing; expected {}",
                                                    OneOfText(kResolverKinds, ResolverKindName)));
  }
  return rule;
}

// One multi_leader.followers entry: both fields required.
FollowerRule ReadFollowerRule(const YAML::Node& node, std::string_view path, Errors* errors) {
  FollowerRule rule;
  if (!node.IsMap()) {
    errors->Add(path, fmt::format("expected a mapping with id and leader, got {}", TypeName(node)));
    return rule;
  }
  static const std::vector<std::string_view> kAllowed = {"id", "leader"};
  std::set<std::string, std::less<>> present;
  ForEachField(node, path, kAllowed, errors,
               [&](std::string_view key, const std::string& field_path, const YAML::Node& value) {
                 present.emplace(key);
                 ReadUint(value, field_path, kNodeIdRange, key == "id" ? &rule.id : &rule.leader,
                          errors);
               });
  for (std::string_view field : {"id", "leader"}) {
    if (present.count(field) == 0) {
      errors->Add(Join(path, field), field == "id" ? "is missing; expected the follower's member id"
                                                   : "is missing; expected the member id it follows");
    }
  }
  return rule;
}

void ReadFollowers(const YAML::Node& value, std::string_view path, std::vector<FollowerRule>* out,
                   Errors* errors) {
  out->clear();
  if (value.IsNull()) return;
  if (!value.IsSequence()) {
    errors->Add(path, fmt::format("expected a sequence of {{id, leader}} entries, got {}",
                                  TypeName(value)));
    return;
  }
  if (value.size() > kMaxFollowerRules) {
    errors->Add(path, fmt::format("{} entries is too many; expected at most {}", value.size(),
                                  kMaxFollowerRules));
    return;
  }
  size_t index = 0;
  for (const auto& entry : value) {
    out->push_back(ReadFollowerRule(entry, fmt::format("{}[{}]", path, index), errors));
    ++index;
  }
}

void ReadResolvers(const YAML::Node& value, std::string_view path, std::vector<ResolverRule>* out,
                   Errors* errors) {
  out->clear();
  if (value.IsNull()) return;  // "resolvers:" with nothing under it: every key is lww
  if (!value.IsSequence()) {
    errors->Add(path, fmt::format("expected a sequence of {{prefix, resolver}} entries, got {}",
                                  TypeName(value)));
    return;
  }
  // Checked before reading, so that a runaway list is one line, not thousands.
  if (value.size() > kMaxResolverRules) {
    errors->Add(path, TooManyResolversMessage(value.size()));
    return;
  }
  size_t index = 0;
  for (const auto& entry : value) {
    out->push_back(ReadResolverRule(entry, fmt::format("{}[{}]", path, index), errors));
    ++index;
  }
}

void ParseSection(const YAML::Node& node, const SectionSpec& section, Config* config,
                  Errors* errors) {
  if (node.IsNull()) return;  // every field commented out: all defaults
  if (!node.IsMap()) {
    errors->Add(section.name, fmt::format("expected a mapping, got {}", TypeName(node)));
    return;
  }
  std::vector<std::string_view> allowed;
  for (const FieldSpec& field : section.fields) allowed.push_back(field.key);
  ForEachField(node, section.name, allowed, errors,
               [&](std::string_view key, const std::string& path, const YAML::Node& value) {
                 for (const FieldSpec& field : section.fields) {
                   if (field.key == key) field.read(value, path, config, errors);
                 }
               });
}

void ParseTopLevel(const YAML::Node& root, Config* config, Errors* errors) {
  if (root.IsNull()) return;  // "~": all defaults
  if (!root.IsMap()) {
    errors->Add("config",
                fmt::format("expected a mapping at the top level, got {}", TypeName(root)));
    return;
  }
  std::vector<std::string_view> allowed;
  for (const SectionSpec& section : kSections) allowed.push_back(section.name);
  ForEachField(root, "", allowed, errors,
               [&](std::string_view key, const std::string&, const YAML::Node& value) {
                 for (const SectionSpec& section : kSections) {
                   if (section.name == key) ParseSection(value, section, config, errors);
                 }
               });
}

// ---------------------------------------------------------------------------------------
// Whole-config checks, shared by ParseConfig and ValidateConfig.

// Two listen addresses bind the same socket: same port (not 0), and the same host or a
// wildcard that covers the other ("::" is dual-stack on Linux and covers IPv4 too).
bool AddressesClash(const Address& a, const Address& b) {
  if (a.port != b.port || a.port == 0) return false;
  if (Lower(a.host) == Lower(b.host)) return true;
  auto covers = [](const Address& wildcard, const Address& other) {
    if (wildcard.host == "::") return true;
    return wildcard.host == "0.0.0.0" && other.host.find(':') == std::string::npos;
  };
  return covers(a, b) || covers(b, a);
}

// Member ids are unique, and no address (client, peer or admin, of any member) is given
// twice: two endpoints on one host:port cannot both listen.
void CheckMembersDistinct(const std::vector<MemberConfig>& members, Errors* errors) {
  std::map<uint64_t, size_t> ids;
  std::map<std::pair<std::string, uint16_t>, std::string> addresses;
  for (size_t i = 0; i < members.size(); ++i) {
    const MemberConfig& member = members[i];
    std::string path = fmt::format("cluster.members[{}]", i);
    if (auto [it, inserted] = ids.emplace(member.id, i); !inserted) {
      errors->Add(Join(path, "id"),
                  fmt::format("{} is already the id of cluster.members[{}]; expected unique ids",
                              member.id, it->second));
    }
    auto check = [&](std::string_view key, const Address& address) {
      std::string field_path = Join(path, key);
      auto [it, inserted] =
          addresses.emplace(std::pair(Lower(address.host), address.port), field_path);
      if (!inserted) {
        errors->Add(field_path,
                    fmt::format("{} is already used by {}; expected an address of its own",
                                Quote(address.ToString()), it->second));
      }
    };
    check("client", member.client);
    check("peer", member.peer);
    if (member.has_admin) check("admin", member.admin);
  }
}

// "leader_follower, multi_leader or dynamo": the modes that use cluster.members.
std::string ClusteredModesText() {
  std::vector<std::string_view> names;
  for (Mode mode : kModes) {
    if (IsClustered(mode)) names.push_back(ModeName(mode));
  }
  if (names.size() < 2) return fmt::format("{}", fmt::join(names, ""));
  std::string_view last = names.back();
  names.pop_back();
  return fmt::format("{} or {}", fmt::join(names, ", "), last);
}

void CheckCluster(const Config& config, Errors* errors) {
  const ClusterConfig& cluster = config.cluster;
  if (errors->Failed("node.mode")) return;
  if (!IsClustered(config.node.mode)) {
    if (!cluster.members.empty() && !errors->Failed("cluster.members")) {
      errors->Add("cluster.members",
                  fmt::format("only used when node.mode is {} (node.mode is {}); "
                              "remove the members or change node.mode",
                              ClusteredModesText(), ModeName(config.node.mode)));
    }
    return;
  }
  if (errors->Failed("cluster.members")) return;
  CheckMembersDistinct(cluster.members, errors);
  if (errors->Failed("cluster.join") || cluster.join) return;
  if (cluster.members.empty()) {
    // Not after another cluster error: "membres:" is reported as unknown, and an empty
    // list on top of that would only repeat it.
    if (!errors->Failed("cluster")) {
      errors->Add("cluster.members",
                  fmt::format("is empty; node.mode {} needs the members the cluster starts "
                              "with, or set cluster.join: true to join an existing cluster",
                              ModeName(config.node.mode)));
    }
    return;
  }
  if (!errors->Failed("node.id") && SelfMember(config) == nullptr) {
    std::vector<uint64_t> ids;
    for (const MemberConfig& member : cluster.members) ids.push_back(member.id);
    errors->Add("node.id", fmt::format("{} is not in cluster.members (ids {}); add it, or set "
                                       "cluster.join: true to join an existing cluster",
                                       config.node.id, fmt::join(ids, ", ")));
  }
}

void CheckRaft(const RaftConfig& raft, Errors* errors) {
  if (!errors->Failed("raft.heartbeat_interval_ms") &&
      !errors->Failed("raft.election_timeout_ms") &&
      2 * uint64_t{raft.heartbeat_interval_ms} > uint64_t{raft.election_timeout_ms}) {
    errors->Add("raft.heartbeat_interval_ms",
                fmt::format("{} is too long for raft.election_timeout_ms {}; expected at most {} "
                            "(half of it), so that followers hear at least two heartbeats per "
                            "election timeout and do not depose a healthy leader",
                            raft.heartbeat_interval_ms, raft.election_timeout_ms,
                            raft.election_timeout_ms / 2));
  }
  if (raft.lease_reads && !raft.check_quorum && !errors->Failed("raft.lease_reads") &&
      !errors->Failed("raft.check_quorum")) {
    errors->Add("raft.lease_reads",
                "true requires raft.check_quorum: true; a leader that does not step down when "
                "it loses its quorum could serve stale reads from its lease");
  }
}

// No two resolver rules share a prefix: with two, a key's resolver would depend on the
// order of the list. Entries whose prefix (or entry, or list) has an error are left out;
// the other entries are still compared.
void CheckResolverPrefixesDistinct(const std::vector<ResolverRule>& rules, std::string_view section,
                                   Errors* errors) {
  std::map<std::string_view, size_t> first;
  for (size_t i = 0; i < rules.size(); ++i) {
    std::string path = fmt::format("{}.resolvers[{}].prefix", section, i);
    if (errors->Failed(path)) continue;
    if (auto [it, inserted] = first.emplace(rules[i].prefix, i); !inserted) {
      errors->Add(path, fmt::format("duplicate prefix {} (also resolvers[{}]); expected each "
                                    "prefix at most once",
                                    Quote(rules[i].prefix), it->second));
    }
  }
}

// Star propagation routes every change through the hub, so in multi_leader mode the hub
// must be a member. Runs after CheckCluster: an empty member list without cluster.join is
// reported there (or comes from another cluster error), and is not judged again here.
void CheckHub(const Config& config, Errors* errors) {
  const MultiLeaderConfig& multi_leader = config.multi_leader;
  if (config.node.mode != Mode::kMultiLeader || multi_leader.propagation != Propagation::kStar) {
    return;
  }
  if (errors->Failed("node.mode") || errors->Failed("multi_leader.propagation") ||
      errors->Failed("multi_leader.hub") || errors->Failed("cluster.members")) {
    return;
  }
  const std::vector<MemberConfig>& members = config.cluster.members;
  constexpr std::string_view kWhy =
      "expected the id of the member that relays every change, since "
      "multi_leader.propagation is star";
  if (members.empty()) {
    // A joining node learns the members when it is added; only "no hub" is surely wrong.
    if (config.cluster.join && multi_leader.hub == 0) {
      errors->Add("multi_leader.hub", fmt::format("0 names no node; {}", kWhy));
    }
    return;
  }
  std::vector<uint64_t> ids;
  for (const MemberConfig& member : members) ids.push_back(member.id);
  if (std::find(ids.begin(), ids.end(), multi_leader.hub) != ids.end()) return;
  errors->Add("multi_leader.hub", fmt::format("{} is not in cluster.members (ids {}); {}",
                                              multi_leader.hub, fmt::join(ids, ", "), kWhy));
}

// Followers are members that follow a leader member. Checked against cluster.members only
// when the node runs multi_leader with a member list (a joining node learns the members).
void CheckFollowers(const Config& config, Errors* errors) {
  const std::vector<FollowerRule>& followers = config.multi_leader.followers;
  if (followers.size() > kMaxFollowerRules) {
    errors->Add("multi_leader.followers",
                fmt::format("{} entries is too many; expected at most {}", followers.size(),
                            kMaxFollowerRules));
    return;
  }
  if (followers.empty() || config.node.mode != Mode::kMultiLeader ||
      errors->Failed("cluster.members") || errors->Failed("multi_leader.followers") ||
      config.cluster.members.empty()) {
    return;
  }
  std::vector<uint64_t> ids;
  for (const MemberConfig& m : config.cluster.members) ids.push_back(m.id);
  auto is_member = [&](uint64_t id) { return std::find(ids.begin(), ids.end(), id) != ids.end(); };
  std::map<uint64_t, size_t> seen;
  for (size_t i = 0; i < followers.size(); ++i) {
    const FollowerRule& f = followers[i];
    const std::string path = fmt::format("multi_leader.followers[{}]", i);
    if (!is_member(f.id)) {
      errors->Add(path + ".id", fmt::format("{} is not in cluster.members (ids {}); expected a "
                                            "member, since a follower needs a peer address",
                                            f.id, fmt::join(ids, ", ")));
    } else if (auto [it, inserted] = seen.emplace(f.id, i); !inserted) {
      errors->Add(path + ".id", fmt::format("{} is already a follower (followers[{}]); expected "
                                            "each member at most once",
                                            f.id, it->second));
    }
    if (!is_member(f.leader)) {
      errors->Add(path + ".leader", fmt::format("{} is not in cluster.members (ids {}); expected "
                                                "the member this follower replicates from",
                                                f.leader, fmt::join(ids, ", ")));
    } else if (LeaderOf(config.multi_leader, f.leader) != 0 || f.leader == f.id) {
      errors->Add(path + ".leader", fmt::format("{} is a follower itself; expected a leader "
                                                "(a member not listed in multi_leader.followers)",
                                                f.leader));
    }
  }
  const MultiLeaderConfig& ml = config.multi_leader;
  if (ml.propagation == Propagation::kStar && LeaderOf(ml, ml.hub) != 0) {
    errors->Add("multi_leader.hub", fmt::format("{} is a follower; expected a leader, since "
                                                "the hub relays every change",
                                                ml.hub));
  }
}

void CheckMultiLeader(const Config& config, Errors* errors) {
  const MultiLeaderConfig& multi_leader = config.multi_leader;
  CheckResolverPrefixesDistinct(multi_leader.resolvers, "multi_leader", errors);
  if (!errors->Failed("multi_leader.window_changes") &&
      !errors->Failed("multi_leader.max_batch_changes") &&
      multi_leader.window_changes < multi_leader.max_batch_changes) {
    errors->Add("multi_leader.window_changes",
                fmt::format("{} is smaller than multi_leader.max_batch_changes {}; expected at "
                            "least {}, since a sender never ships more than the window and a "
                            "batch could never be filled",
                            multi_leader.window_changes, multi_leader.max_batch_changes,
                            multi_leader.max_batch_changes));
  }
  CheckHub(config, errors);
  CheckFollowers(config, errors);
}

// dynamo: numeric quorums within N, N within the ring, and the resolvers it supports.
void CheckDynamo(const Config& config, Errors* errors) {
  const DynamoConfig& dynamo = config.dynamo;
  CheckResolverPrefixesDistinct(dynamo.resolvers, "dynamo", errors);
  for (size_t i = 0; i < dynamo.resolvers.size(); ++i) {
    const ResolverKind kind = dynamo.resolvers[i].resolver;
    if (kind != ResolverKind::kLww && kind != ResolverKind::kSiblings) {
      errors->Add(fmt::format("dynamo.resolvers[{}].resolver", i),
                  fmt::format("{} is not available in dynamo mode; expected lww or siblings",
                              Quote(ResolverKindName(kind))));
    }
  }
  // (Without anti-entropy nothing is collected, so nothing to check.)
  if (dynamo.sloppy_quorum && dynamo.tombstone_grace_ms != 0 && dynamo.anti_entropy_interval_ms != 0 &&
      !errors->Failed("dynamo.tombstone_grace_ms") && !errors->Failed("dynamo.hint_max_age_ms") &&
      (dynamo.hint_max_age_ms == 0 || dynamo.hint_max_age_ms >= dynamo.tombstone_grace_ms)) {
    errors->Add("dynamo.tombstone_grace_ms",
                fmt::format("{} is not more than dynamo.hint_max_age_ms ({}); with sloppy_quorum "
                            "on, a hint kept longer than a tombstone would bring the deleted value "
                            "back: set a longer grace, a shorter non-zero hint_max_age_ms, or 0 "
                            "to never collect tombstones",
                            dynamo.tombstone_grace_ms,
                            dynamo.hint_max_age_ms == 0 ? std::string("0, no limit")
                                                        : std::to_string(dynamo.hint_max_age_ms)));
  }
  if (errors->Failed("dynamo.replicas")) return;
  for (auto [field, value] : {std::pair{"dynamo.read_quorum", dynamo.read_quorum},
                              std::pair{"dynamo.write_quorum", dynamo.write_quorum}}) {
    if (errors->Failed(field)) continue;
    if (value != kQuorumMajority && value != kQuorumAll && value > dynamo.replicas) {
      errors->Add(field, fmt::format("{} is more than dynamo.replicas ({}); expected one, quorum, "
                                     "all or a number from 1 to {}",
                                     value, dynamo.replicas, dynamo.replicas));
    }
  }
  if (config.node.mode != Mode::kDynamo || errors->Failed("cluster.members") ||
      config.cluster.members.empty()) {
    return;
  }
  if (dynamo.replicas > config.cluster.members.size()) {
    errors->Add("dynamo.replicas",
                fmt::format("{} is more than the {} nodes of cluster.members; a key cannot have "
                            "more replicas than there are nodes",
                            dynamo.replicas, config.cluster.members.size()));
  }
}

void CheckCrossFields(const Config& config, Errors* errors) {
  const LimitsConfig& limits = config.limits;
  if (!errors->Failed("limits.max_frame_bytes") && !errors->Failed("limits.max_key_bytes") &&
      !errors->Failed("limits.max_value_bytes")) {
    // 64-bit sum: the operands are 32-bit and a hand-built Config may hold anything.
    uint64_t needed = 2 * uint64_t{limits.max_key_bytes} + uint64_t{limits.max_value_bytes} +
                      kFrameOverheadBytes;
    if (limits.max_frame_bytes < needed) {
      errors->Add("limits.max_frame_bytes",
                  fmt::format("{} is too small to hold a maximal item; expected at least {} "
                              "(2 x limits.max_key_bytes {} + limits.max_value_bytes {} + {})",
                              limits.max_frame_bytes, needed, limits.max_key_bytes,
                              limits.max_value_bytes, kFrameOverheadBytes));
    }
  }
  CheckCluster(config, errors);
  CheckRaft(config.raft, errors);
  CheckMultiLeader(config, errors);
  CheckDynamo(config, errors);
  const ServerConfig& server = config.server;
  if (server.admin_enabled && !errors->Failed("server.listen") &&
      !errors->Failed("server.admin_listen") && !errors->Failed("server.admin_enabled") &&
      AddressesClash(server.listen, server.admin_listen)) {
    errors->Add(
        "server.admin_listen",
        fmt::format("{} clashes with server.listen {}; expected a different address "
                    "while server.admin_enabled is true",
                    Quote(server.admin_listen.ToString()), Quote(server.listen.ToString())));
  }
}

void CheckConfig(const Config& config, Errors* errors) {
  for (const SectionSpec& section : kSections) {
    for (const FieldSpec& field : section.fields) {
      if (field.check == nullptr) continue;
      std::string path = Join(section.name, field.key);
      if (!errors->Failed(path)) field.check(config, path, errors);
    }
  }
  CheckCrossFields(config, errors);
}

Result<Config> ParseDocument(std::string_view yaml_text) {
  std::vector<YAML::Node> documents = YAML::LoadAll(std::string(yaml_text));
  if (documents.size() > 1) {
    return Status::InvalidArgument(fmt::format(
        "config: expected one YAML document, found {} (remove the extra '---')", documents.size()));
  }
  Config config;
  Errors errors;
  if (!documents.empty()) ParseTopLevel(documents.front(), &config, &errors);
  CheckConfig(config, &errors);
  if (!errors.empty()) return errors.ToStatus();
  return config;
}

std::string SyntaxErrorMessage(const YAML::ParserException& e) {
  if (e.mark.is_null()) return fmt::format("config: YAML syntax error: {}", e.msg);
  // yaml-cpp counts from 0; editors count from 1.
  return fmt::format("config: YAML syntax error at line {}, column {}: {}", e.mark.line + 1,
                     e.mark.column + 1, e.msg);
}

// Accepted characters of a host name or IP literal. Brackets are handled by the caller;
// '%' allows an IPv6 zone ("fe80::1%eth0").
bool IsHostChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-' || c == '_' ||
         c == ':' || c == '%';
}

}  // namespace

std::string_view ModeName(Mode m) {
  switch (m) {
    case Mode::kSingle: return "single";
    case Mode::kLeaderFollower: return "leader_follower";
    case Mode::kMultiLeader: return "multi_leader";
    case Mode::kDynamo: return "dynamo";
  }
  KVD_PANIC("unknown Mode");
}

bool IsClustered(Mode m) {
  switch (m) {
    case Mode::kSingle: return false;
    case Mode::kLeaderFollower: return true;
    case Mode::kMultiLeader: return true;
    case Mode::kDynamo: return true;
  }
  KVD_PANIC("unknown Mode");
}

std::string_view ReplicationName(Replication r) {
  switch (r) {
    case Replication::kQuorum: return "quorum";
    case Replication::kSync: return "sync";
    case Replication::kSemiSync: return "semi_sync";
    case Replication::kAsync: return "async";
  }
  KVD_PANIC("unknown Replication");
}

std::string_view FailoverName(Failover f) {
  switch (f) {
    case Failover::kAuto: return "auto";
    case Failover::kManual: return "manual";
  }
  KVD_PANIC("unknown Failover");
}

std::string_view FollowerWritesName(FollowerWrites f) {
  switch (f) {
    case FollowerWrites::kRedirect: return "redirect";
    case FollowerWrites::kForward: return "forward";
  }
  KVD_PANIC("unknown FollowerWrites");
}

std::string_view ReadLevelName(ReadLevel r) {
  switch (r) {
    case ReadLevel::kLinearizable: return "linearizable";
    case ReadLevel::kLeader: return "leader";
    case ReadLevel::kFollower: return "follower";
    case ReadLevel::kSession: return "session";
  }
  KVD_PANIC("unknown ReadLevel");
}

std::string_view PropagationName(Propagation p) {
  switch (p) {
    case Propagation::kAllToAll: return "all_to_all";
    case Propagation::kRing: return "ring";
    case Propagation::kStar: return "star";
  }
  KVD_PANIC("unknown Propagation");
}

std::string_view ResolverKindName(ResolverKind r) {
  switch (r) {
    case ResolverKind::kLww: return "lww";
    case ResolverKind::kSiblings: return "siblings";
    case ResolverKind::kCounter: return "counter";
    case ResolverKind::kSet: return "set";
  }
  KVD_PANIC("unknown ResolverKind");
}

uint64_t LeaderOf(const MultiLeaderConfig& config, uint64_t id) {
  for (const FollowerRule& f : config.followers) {
    if (f.id == id) return f.leader;
  }
  return 0;
}

ResolverKind ResolverFor(const MultiLeaderConfig& config, std::string_view key) {
  return ResolverFor(config.resolvers, key);
}

ResolverKind ResolverFor(const std::vector<ResolverRule>& rules, std::string_view key) {
  // A linear scan: at most kMaxResolverRules rules, and no allocation per lookup.
  const ResolverRule* best = nullptr;
  for (const ResolverRule& rule : rules) {
    if (!key.starts_with(rule.prefix)) continue;
    if (best == nullptr || rule.prefix.size() > best->prefix.size()) best = &rule;
  }
  return best == nullptr ? ResolverKind::kLww : best->resolver;
}

uint32_t QuorumCount(uint32_t setting, uint32_t replicas) {
  replicas = std::max<uint32_t>(replicas, 1);
  if (setting == kQuorumMajority) return replicas / 2 + 1;
  if (setting == kQuorumAll) return replicas;
  return std::clamp<uint32_t>(setting, 1, replicas);
}

std::string QuorumName(uint32_t setting) {
  if (setting == kQuorumMajority) return "quorum";
  if (setting == kQuorumAll) return "all";
  if (setting == 1) return "one";
  return std::to_string(setting);
}

bool ParseQuorum(std::string_view text, uint32_t* out) {
  if (text == "quorum") {
    *out = kQuorumMajority;
  } else if (text == "all") {
    *out = kQuorumAll;
  } else if (text == "one") {
    *out = 1;
  } else {
    uint32_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size() || n < 1 || n > 16) return false;
    *out = n;
  }
  return true;
}

std::string_view ReadRepairName(ReadRepair r) {
  switch (r) {
    case ReadRepair::kBackground: return "background";
    case ReadRepair::kBeforeReply: return "before_reply";
  }
  KVD_PANIC("unknown ReadRepair");
}

std::string_view EngineName(Engine e) {
  switch (e) {
    case Engine::kLevelDb: return "leveldb";
    case Engine::kMemory: return "memory";
  }
  KVD_PANIC("unknown Engine");
}

std::string_view DurabilityName(Durability d) {
  switch (d) {
    case Durability::kAlways: return "always";
    case Durability::kPeriodic: return "periodic";
    case Durability::kNone: return "none";
  }
  KVD_PANIC("unknown Durability");
}

std::string_view LogLevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  KVD_PANIC("unknown LogLevel");
}

bool ParseLogLevel(std::string_view text, LogLevel* out) {
  for (LogLevel level : kLogLevels) {
    if (text == LogLevelName(level)) {
      *out = level;
      return true;
    }
  }
  return false;
}

std::string Address::ToString() const {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

Result<Address> ParseAddress(std::string_view text) {
  auto fail = [&](std::string_view why) {
    return Status::InvalidArgument(fmt::format("{} is not a valid address; {}", Quote(text), why));
  };
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return fail("missing ']' after the IPv6 host");
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return fail("expected [host]:port");
    if (host.empty()) return fail("the host between '[' and ']' is empty");
    port_text = rest.substr(1);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      bool all_digits = !text.empty() && std::all_of(text.begin(), text.end(),
                                                     [](char c) { return c >= '0' && c <= '9'; });
      if (all_digits) {
        return fail(fmt::format("expected host:port (\":{}\" listens on all interfaces)", text));
      }
      return fail("expected host:port");
    }
    host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos) {
      return fail("an IPv6 host must be in brackets, e.g. [::1]:7379");
    }
    port_text = text.substr(colon + 1);
  }
  for (char c : host) {
    if (!IsHostChar(c)) {
      return fail(fmt::format("the host contains {}", Quote(std::string_view(&c, 1))));
    }
  }
  if (port_text.empty()) return fail("the port is missing; expected host:port");
  uint64_t port = 0;
  // A port is plain digits; ParseDecimal's leading '+' is for YAML integers only.
  IntParse parsed =
      port_text.front() == '+' ? IntParse::kNotInteger : ParseDecimal(port_text, &port);
  switch (parsed) {
    case IntParse::kNotInteger:
      return fail(fmt::format("the port {} is not an integer", Quote(port_text)));
    case IntParse::kOutOfRange:
      return fail(fmt::format("the port {} is out of range; expected 0 to 65535",
                              port_text.size() <= kMaxShownBytes ? port_text : Quote(port_text)));
    case IntParse::kOk: break;
  }
  if (port > std::numeric_limits<uint16_t>::max()) {
    return fail(fmt::format("the port {} is out of range; expected 0 to 65535", port));
  }
  return Address{host.empty() ? std::string("0.0.0.0") : std::string(host),
                 static_cast<uint16_t>(port)};
}

Result<Config> ParseConfig(std::string_view yaml_text) {
  // Design rule: no exception crosses a module boundary. yaml-cpp throws on syntax errors
  // (and on allocation failure or deep nesting); everything else here reports by value.
  try {
    return ParseDocument(yaml_text);
  } catch (const YAML::ParserException& e) {
    return Status::InvalidArgument(SyntaxErrorMessage(e));
  } catch (const std::exception& e) {
    return Status::InvalidArgument(fmt::format("config: cannot read YAML: {}", e.what()));
  } catch (...) {
    return Status::InvalidArgument("config: cannot read YAML: unknown error");
  }
}

const MemberConfig* SelfMember(const Config& config) {
  for (const MemberConfig& member : config.cluster.members) {
    if (member.id == config.node.id) return &member;
  }
  return nullptr;
}

void ApplyMemberAddresses(Config* config) {
  if (!IsClustered(config->node.mode)) return;
  const MemberConfig* self = SelfMember(*config);
  if (self == nullptr) return;
  ServerConfig& server = config->server;
  if (!server.listen_set) server.listen = self->client;
  if (self->has_admin && !server.admin_listen_set) server.admin_listen = self->admin;
}

Status ValidateConfig(const Config& config) {
  Errors errors;
  CheckConfig(config, &errors);
  return errors.ToStatus();
}

}  // namespace kvd::config
