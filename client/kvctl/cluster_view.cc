#include "client/kvctl/cluster_view.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

namespace kvd::kvctl {

namespace {

using Json = nlohmann::ordered_json;

// ---- reading the STATUS document ----
// nlohmann's typed getters throw on a type mismatch; these read a wrong type as absent.

uint64_t U64(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned()) return 0;
  return it->get<uint64_t>();
}

std::string Str(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

Result<std::vector<uint64_t>> ParseIdList(std::string_view text, std::string_view name) {
  std::string prefix = std::string(name) + "=[";
  size_t start = text.find(prefix);
  if (start == std::string_view::npos) return std::vector<uint64_t>{};
  start += prefix.size();
  size_t end = text.find(']', start);
  if (end == std::string_view::npos) {
    return Status::ProtocolError(fmt::format("unterminated {} list", name));
  }
  std::vector<uint64_t> ids;
  std::string_view list = text.substr(start, end - start);
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    uint64_t id = 0;
    auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), id);
    if (ec != std::errc() || ptr != item.data() + item.size() || id == 0) {
      return Status::ProtocolError(fmt::format("bad node id \"{}\" in {}", item, name));
    }
    ids.push_back(id);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<PeerProgress> ParsePeers(const Json& raft) {
  std::vector<PeerProgress> peers;
  auto it = raft.find("peers");
  if (it == raft.end() || !it->is_array()) return peers;
  for (const Json& p : *it) {
    if (!p.is_object() || U64(p, "id") == 0) continue;
    PeerProgress progress;
    progress.id = U64(p, "id");
    progress.voter = Str(p, "role") != "learner";
    progress.match_index = U64(p, "match_index");
    progress.next_index = U64(p, "next_index");
    progress.state = Str(p, "state");
    progress.ms_since_contact = U64(p, "ms_since_contact");
    progress.lag_entries = U64(p, "lag_entries");
    peers.push_back(std::move(progress));
  }
  return peers;
}

std::vector<ConfiguredMember> ParseConfiguredMembers(const Json& raft) {
  std::vector<ConfiguredMember> members;
  auto it = raft.find("configured_members");
  if (it == raft.end() || !it->is_array()) return members;
  for (const Json& m : *it) {
    if (!m.is_object() || U64(m, "id") == 0) continue;
    members.push_back(ConfiguredMember{U64(m, "id"), Str(m, "client"), Str(m, "peer"),
                                       Str(m, "admin"), Str(m, "zone")});
  }
  return members;
}

// The star hub: the server sends it as a string (it is one of the node's labels).
uint64_t HubId(const Json& j) {
  auto it = j.find("hub");
  if (it == j.end()) return 0;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  if (!it->is_string()) return 0;
  const std::string& text = it->get_ref<const std::string&>();
  uint64_t id = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  return ec == std::errc() && ptr == text.data() + text.size() ? id : 0;
}

std::vector<ShipProgress> ParseShipPeers(const Json& multi_leader) {
  std::vector<ShipProgress> peers;
  auto it = multi_leader.find("peers");
  if (it == multi_leader.end() || !it->is_array()) return peers;
  for (const Json& p : *it) {
    if (!p.is_object() || U64(p, "id") == 0) continue;
    peers.push_back(ShipProgress{U64(p, "id"), Str(p, "state"), U64(p, "lag_changes"),
                                 U64(p, "ms_since_ack"), U64(p, "acked_own_changes")});
  }
  return peers;
}

MultiLeaderStatus ParseMultiLeader(const Json& j) {
  MultiLeaderStatus m;
  m.propagation = Str(j, "propagation");
  m.hub = HubId(j);
  m.progress = Str(j, "progress");
  m.changes_local = U64(j, "changes_local_total");
  m.log_retained = U64(j, "log_retained");
  m.lww_concurrent_overwrites = U64(j, "lww_concurrent_overwrites_total");
  m.sibling_cap_refusals = U64(j, "sibling_cap_refusals_total");
  m.resolver_mismatches = U64(j, "resolver_mismatches_total");
  m.clock_skew_rejections = U64(j, "clock_skew_rejections_total");
  m.peers = ParseShipPeers(j);
  return m;
}

// The server sends dynamo.sloppy_quorum as a label, "true" or "false".
bool Bool(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return false;
  if (it->is_boolean()) return it->get<bool>();
  return it->is_string() && it->get_ref<const std::string&>() == "true";
}

std::vector<DynamoPeer> ParseDynamoPeers(const Json& dynamo) {
  std::vector<DynamoPeer> peers;
  auto it = dynamo.find("peers");
  if (it == dynamo.end() || !it->is_array()) return peers;
  for (const Json& p : *it) {
    if (!p.is_object() || U64(p, "id") == 0) continue;
    peers.push_back(DynamoPeer{U64(p, "id"), Str(p, "state")});
  }
  return peers;
}

// ring_streamed: ids separated by commas ("3,6"); anything that is not an id is skipped.
std::vector<uint64_t> ParseIdCsv(std::string_view text) {
  std::vector<uint64_t> ids;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    uint64_t id = 0;
    auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), id);
    if (ec == std::errc() && ptr == item.data() + item.size() && id != 0) ids.push_back(id);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

// A flag sent as a label ("true"/"false") or a counter (0/1).
bool FlagOf(const Json& j, const char* key) { return Bool(j, key) || U64(j, key) != 0; }

std::vector<RingMember> ParseRingMembers(const Json& dynamo) {
  std::vector<RingMember> members;
  auto it = dynamo.find("members");
  if (it == dynamo.end() || !it->is_array()) return members;
  for (const Json& m : *it) {
    if (!m.is_object() || U64(m, "id") == 0) continue;
    members.push_back(
        RingMember{U64(m, "id"), Str(m, "role"), Str(m, "client"), Str(m, "peer"), Str(m, "zone")});
  }
  std::sort(members.begin(), members.end(),
            [](const RingMember& a, const RingMember& b) { return a.id < b.id; });
  return members;
}

RingChangeStatus ParseRingChange(const Json& j) {
  RingChangeStatus r;
  r.ring_version = U64(j, "ring_version");
  r.ring_transition = U64(j, "ring_transition");
  r.ring_paused = FlagOf(j, "ring_paused");
  r.streamed = ParseIdCsv(Str(j, "ring_streamed"));
  r.nodes = U64(j, "nodes");
  r.nodes_up = U64(j, "nodes_up");
  r.ranges_total = U64(j, "stream_ranges_total");
  r.ranges_done = U64(j, "stream_ranges_done");
  r.keys_received = U64(j, "stream_keys_received_total");
  r.bytes_received = U64(j, "stream_bytes_received_total");
  r.keys_sent = U64(j, "stream_keys_sent_total");
  r.streaming_paused = FlagOf(j, "streaming_paused");
  return r;
}

// repair_differing: "END@REPLICA,END@REPLICA,...".
std::vector<std::pair<uint64_t, uint64_t>> ParseDiffering(std::string_view text) {
  std::vector<std::pair<uint64_t, uint64_t>> pairs;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    size_t at = item.find('@');
    uint64_t end = 0;
    uint64_t replica = 0;
    if (at != std::string_view::npos) {
      auto [p1, e1] = std::from_chars(item.data(), item.data() + at, end);
      auto [p2, e2] = std::from_chars(item.data() + at + 1, item.data() + item.size(), replica);
      if (e1 == std::errc() && p1 == item.data() + at && e2 == std::errc() &&
          p2 == item.data() + item.size() && replica != 0) {
        pairs.emplace_back(end, replica);
      }
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return pairs;
}

RepairStatus ParseRepair(const Json& j) {
  RepairStatus r;
  r.active = FlagOf(j, "repair_active");
  r.dry_run = FlagOf(j, "repair_dry_run");
  r.pairs_total = U64(j, "repair_pairs_total");
  r.pairs_done = U64(j, "repair_pairs_done");
  r.pairs_differing = U64(j, "repair_pairs_differing");
  r.pairs_unanswered = U64(j, "repair_pairs_unanswered");
  r.differing = ParseDiffering(Str(j, "repair_differing"));
  return r;
}

DynamoStatus ParseDynamo(const Json& j) {
  DynamoStatus d;
  d.settings.replicas = U64(j, "replicas");
  d.settings.read_quorum = U64(j, "read_quorum");
  d.settings.write_quorum = U64(j, "write_quorum");
  d.settings.read_repair = Str(j, "read_repair");
  d.settings.sloppy_quorum = Bool(j, "sloppy_quorum");
  d.tokens_per_node = U64(j, "tokens_per_node");
  d.hints_pending = U64(j, "hints_pending");
  d.ae_exchanges = U64(j, "ae_exchanges_total");
  d.read_repairs = U64(j, "read_repairs_total");
  d.peers = ParseDynamoPeers(j);
  d.members = ParseRingMembers(j);
  d.ring = ParseRingChange(j);
  d.repair = ParseRepair(j);
  return d;
}

// ---- combining the answers ----

constexpr std::string_view kLeaderFollower = "leader_follower";
constexpr std::string_view kMultiLeader = "multi_leader";
constexpr std::string_view kDynamo = "dynamo";

// The answered statuses in `mode`, in probe order.
std::vector<const NodeStatus*> AnswersInMode(const std::vector<Probe>& probes,
                                             std::string_view mode) {
  std::vector<const NodeStatus*> answers;
  for (const Probe& probe : probes) {
    if (probe.status && probe.status->mode == mode) answers.push_back(&*probe.status);
  }
  return answers;
}

// The mode discovery follows: that of the first node that answered as a cluster member
// (Discover in cluster.cc goes on only if the first node that answered is one). A node
// in another mode is a misconfiguration; its answer is shown, not followed.
std::string_view DiscoveryMode(const std::vector<Probe>& probes) {
  for (const Probe& probe : probes) {
    if (!probe.status) continue;
    if (probe.status->replicated()) return kLeaderFollower;
    if (probe.status->is_multi_leader()) return kMultiLeader;
    if (probe.status->is_dynamo()) return kDynamo;
  }
  return kLeaderFollower;
}

std::vector<const NodeStatus*> Answers(const std::vector<Probe>& probes) {
  return AnswersInMode(probes, DiscoveryMode(probes));
}

// The leader's answer: the highest-term node that says it leads.
const NodeStatus* LeaderAnswer(const std::vector<const NodeStatus*>& answers) {
  const NodeStatus* leader = nullptr;
  for (const NodeStatus* s : answers) {
    if (s->role == "leader" && (leader == nullptr || s->term > leader->term)) leader = s;
  }
  return leader;
}

// The answer that knows the most: the leader's, else the highest (term, commit index).
const NodeStatus* BestAnswer(const std::vector<const NodeStatus*>& answers) {
  if (const NodeStatus* leader = LeaderAnswer(answers)) return leader;
  const NodeStatus* best = nullptr;
  for (const NodeStatus* s : answers) {
    if (best == nullptr ||
        std::tie(s->term, s->commit_index) > std::tie(best->term, best->commit_index)) {
      best = s;
    }
  }
  return best;
}

// The leader as the most recent term knows it; 0 if none.
uint64_t KnownLeader(const std::vector<const NodeStatus*>& answers) {
  if (const NodeStatus* leader = LeaderAnswer(answers)) return leader->node_id;
  const NodeStatus* best = nullptr;
  for (const NodeStatus* s : answers) {
    if (s->leader_id != 0 && (best == nullptr || s->term > best->term)) best = s;
  }
  return best == nullptr ? 0 : best->leader_id;
}

// id -> client address. Where a node answered is the most reliable; then the
// configuration files of `answers` (the first answer's first); then the leader's own
// report.
std::map<uint64_t, std::string> ClientAddresses(const std::vector<Probe>& probes,
                                                const std::vector<const NodeStatus*>& answers) {
  std::map<uint64_t, std::string> addresses;
  for (const Probe& probe : probes) {
    if (probe.status) addresses.emplace(probe.status->node_id, probe.endpoint);
  }
  for (const NodeStatus* s : answers) {
    for (const ConfiguredMember& m : s->Members()) {
      if (!m.client.empty()) addresses.emplace(m.id, m.client);
    }
  }
  for (const NodeStatus* s : answers) {
    if (s->leader_id != 0 && !s->leader_address.empty()) {
      addresses.emplace(s->leader_id, s->leader_address);
    }
  }
  return addresses;
}

std::set<uint64_t> MemberIds(const std::vector<const NodeStatus*>& answers) {
  std::set<uint64_t> ids;
  for (const NodeStatus* s : answers) {
    ids.insert(s->membership.voters.begin(), s->membership.voters.end());
    ids.insert(s->membership.learners.begin(), s->membership.learners.end());
    for (const ConfiguredMember& m : s->Members()) ids.insert(m.id);
    if (s->leader_id != 0) ids.insert(s->leader_id);
  }
  return ids;
}

std::optional<uint64_t> AtRiskEntries(const NodeStatus& leader) {
  std::optional<uint64_t> highest_match;
  for (const PeerProgress& p : leader.peers) {
    if (p.voter && p.id != leader.node_id) {
      highest_match = std::max(highest_match.value_or(0), p.match_index);
    }
  }
  if (!highest_match) return std::nullopt;
  return leader.commit_index > *highest_match ? leader.commit_index - *highest_match : 0;
}

// Gives each row its own answer, or the reason it has none.
void AttachAnswers(const std::vector<Probe>& probes, std::map<uint64_t, NodeRow>* rows,
                   std::vector<std::string>* notes) {
  for (const Probe& probe : probes) {
    if (probe.status) {
      NodeRow& row = (*rows)[probe.status->node_id];
      if (!row.status) row.status = probe.status;
      if (probe.expected_id != 0 && probe.expected_id != probe.status->node_id) {
        (*rows)[probe.expected_id].error =
            fmt::format("{} answered as node {}, not {}", probe.endpoint, probe.status->node_id,
                        probe.expected_id);
      }
      continue;
    }
    std::string why = DescribeStatus(probe.error);
    if (probe.expected_id == 0) {
      notes->push_back(fmt::format("{} did not answer: {}", probe.endpoint, why));
    } else {
      (*rows)[probe.expected_id].error = fmt::format("{}: {}", probe.endpoint, why);
    }
  }
}

// One row per member of a cluster without a leader (multi_leader, dynamo): every member
// the answers in `mode` name, and every node that answered, each with its address, its
// own answer or why it has none. A node that answered in another mode keeps its answer
// and is said to be in the wrong mode.
std::vector<NodeRow> LeaderlessRows(const std::vector<Probe>& probes,
                                    const std::vector<const NodeStatus*>& answers,
                                    std::string_view mode, std::vector<std::string>* notes) {
  std::map<uint64_t, NodeRow> rows;
  for (uint64_t id : MemberIds(answers)) rows[id];
  AttachAnswers(probes, &rows, notes);
  std::map<uint64_t, std::string> addresses = ClientAddresses(probes, answers);
  std::vector<NodeRow> out;
  for (auto& [id, row] : rows) {
    row.id = id;
    if (auto it = addresses.find(id); it != addresses.end()) row.client_address = it->second;
    for (const NodeStatus* s : answers) {
      for (const ConfiguredMember& m : s->Members()) {
        if (m.id == id && row.peer_address.empty()) row.peer_address = m.peer;
      }
    }
    if (row.status && row.status->mode != mode && row.error.empty()) {
      row.error = fmt::format("answered in mode {}, not {}", row.status->mode, mode);
    }
    if (!row.status && row.error.empty() && row.client_address.empty()) {
      row.error =
          "client address unknown (it is in no node's configured_members): add it to "
          "--endpoints";
    }
    out.push_back(std::move(row));
  }
  return out;
}

// ---- output ----

std::string Dash(const std::optional<uint64_t>& value) {
  return value ? std::to_string(*value) : "-";
}

std::string JsonLine(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

Json OptionalNumber(const std::optional<uint64_t>& value) {
  return value ? Json(*value) : Json(nullptr);
}

// LAG: what the leader knows of the node; the leader itself lags nothing.
std::string LagCell(const ClusterView& view, const NodeRow& row) {
  if (row.id == view.leader_id && view.leader() != nullptr) return "-";
  if (!row.progress) return "?";
  return fmt::format("{} entries, {}", row.progress->lag_entries,
                     FormatMs(row.progress->ms_since_contact));
}

std::string LastContactCell(const NodeRow& row) {
  if (!row.status || row.status->role == "leader") return "-";
  return FormatMs(row.status->ms_since_leader_contact) + " ago";
}

std::string LeaderLine(const ClusterView& view) {
  if (view.leader_id == 0) return "leader: none known (an election may be under way)";
  const NodeRow* row = view.Find(view.leader_id);
  std::string address = row != nullptr && !row->client_address.empty() ? row->client_address : "?";
  if (const NodeStatus* leader = view.leader()) {
    return fmt::format("leader: node {} (term {}, {})", view.leader_id, leader->term, address);
  }
  return fmt::format("leader: node {} ({}; it did not answer)", view.leader_id, address);
}

std::string AtRiskLine(const ClusterView& view) {
  std::string prefix = "acknowledged writes at risk if the leader failed now: ";
  if (view.at_risk_entries) return prefix + fmt::format("{} entries", *view.at_risk_entries);
  if (view.leader() == nullptr) return prefix + "unknown (the leader did not answer)";
  return prefix + "all of them (there is no other voter)";
}

std::string ClusterTable(const ClusterView& view) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"ID", "CLIENT", "ROLE", "TERM", "COMMIT", "APPLIED", "LAG", "LAST CONTACT"});
  for (const NodeRow& row : view.nodes) {
    const NodeStatus* s = row.status ? &*row.status : nullptr;
    rows.push_back({std::to_string(row.id), row.client_address.empty() ? "?" : row.client_address,
                    row.DisplayRole(), s != nullptr ? std::to_string(s->term) : "-",
                    s != nullptr ? std::to_string(s->commit_index) : "-",
                    s != nullptr ? std::to_string(s->applied_index) : "-", LagCell(view, row),
                    LastContactCell(row)});
  }
  std::string out = AlignColumns(rows) + "\n";
  out += LeaderLine(view) + "\n";
  out += fmt::format("replication: {}, failover: {}\n", view.replication, view.failover);
  out += fmt::format("membership: {}\n", view.membership_text);
  if (AcknowledgesBeforeMajority(view.replication)) out += AtRiskLine(view) + "\n";
  for (const NodeRow& row : view.nodes) {
    if (!row.error.empty()) out += fmt::format("node {}: {}\n", row.id, row.error);
  }
  for (const std::string& note : view.notes) out += note + "\n";
  return out;
}

Json NodeJson(const ClusterView& view, const NodeRow& row) {
  Json j = Json::object();
  j["id"] = row.id;
  j["client"] = row.client_address.empty() ? Json(nullptr) : Json(row.client_address);
  j["peer"] = row.peer_address.empty() ? Json(nullptr) : Json(row.peer_address);
  j["member"] = row.member.empty() ? Json(nullptr) : Json(row.member);
  j["reachable"] = row.status.has_value();
  j["role"] = row.DisplayRole();
  if (row.status) {
    const NodeStatus& s = *row.status;
    j["term"] = s.term;
    j["leader_id"] = s.leader_id;
    j["commit_index"] = s.commit_index;
    j["applied_index"] = s.applied_index;
    j["last_index"] = s.last_index;
    j["snapshot_index"] = s.snapshot_index;
    j["ms_since_leader_contact"] = s.ms_since_leader_contact;
  }
  bool is_leader = row.id == view.leader_id && view.leader() != nullptr;
  if (is_leader) {
    j["lag_entries"] = 0;
    j["ms_since_leader_heard"] = nullptr;
  } else if (row.progress) {
    j["lag_entries"] = row.progress->lag_entries;
    j["match_index"] = row.progress->match_index;
    j["replication_state"] = row.progress->state;
    j["ms_since_leader_heard"] = row.progress->ms_since_contact;
  } else {
    j["lag_entries"] = nullptr;
    j["ms_since_leader_heard"] = nullptr;
  }
  if (!row.error.empty()) j["error"] = row.error;
  return j;
}

void AddMembershipJson(const ClusterView& view, Json* j) {
  (*j)["membership"] = view.membership_text;
  (*j)["voters"] = view.membership.voters;
  (*j)["learners"] = view.membership.learners;
}

// ---- multi_leader output ----

// Milliseconds as tenths of a second, rounded half up.
uint64_t TenthsOfSecond(uint64_t ms) { return ms / 100 + (ms % 100 >= 50 ? 1 : 0); }

// "ring", "star (hub 2)".
std::string PropagationText(const MultiLeaderView& view) {
  if (view.propagation == "star") {
    return view.hub != 0 ? fmt::format("star (hub {})", view.hub) : "star (hub unknown)";
  }
  return view.propagation.empty() ? "unknown" : view.propagation;
}

// STATE: up; the mode of a node that answered as something else; unreachable.
std::string MultiLeaderState(const NodeRow& row) {
  if (!row.status) return "unreachable";
  return IsUpMultiLeader(row) ? "up" : row.status->mode;
}

constexpr std::array<std::string_view, 10> kMultiLeaderColumns = {
    "ID",       "CLIENT", "STATE",       "PROGRESS", "LOCAL",
    "RETAINED", "LWW",    "SIBLING CAP", "RESOLVER", "SKEW"};

// One member's cells (table) or fields (raw): id, client, state, progress, then the
// counters; "-" for what a member that is not up did not report.
std::vector<std::string> MultiLeaderCells(const NodeRow& row, std::string_view unknown_address) {
  std::vector<std::string> cells = {
      std::to_string(row.id),
      row.client_address.empty() ? std::string(unknown_address) : row.client_address,
      MultiLeaderState(row)};
  if (!IsUpMultiLeader(row)) {
    cells.resize(kMultiLeaderColumns.size(), "-");
    return cells;
  }
  const MultiLeaderStatus& m = row.status->multi_leader;
  cells.push_back(m.progress);
  for (uint64_t n : {m.changes_local, m.log_retained, m.lww_concurrent_overwrites,
                     m.sibling_cap_refusals, m.resolver_mismatches, m.clock_skew_rejections}) {
    cells.push_back(std::to_string(n));
  }
  return cells;
}

std::string MultiLeaderMembersTable(const MultiLeaderView& view) {
  std::vector<std::vector<std::string>> rows;
  rows.emplace_back(kMultiLeaderColumns.begin(), kMultiLeaderColumns.end());
  for (const NodeRow& row : view.members) rows.push_back(MultiLeaderCells(row, "?"));
  return AlignColumns(rows);
}

// One row per (member that answered, peer it ships to). What a member that did not
// answer ships is unknown, so it has no rows.
std::string MultiLeaderPeersTable(const MultiLeaderView& view) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"FROM", "TO", "LAG (CHANGES)", "SINCE ACK (S)", "STATE"});
  for (const NodeRow& row : view.members) {
    if (!IsUpMultiLeader(row)) continue;
    for (const ShipProgress& p : row.status->multi_leader.peers) {
      rows.push_back({std::to_string(row.id), std::to_string(p.to), std::to_string(p.lag_changes),
                      FormatSecondsTenths(p.ms_since_ack), p.state});
    }
  }
  if (rows.size() == 1) return "no member that answered ships changes to a peer\n";
  return AlignColumns(rows);
}

std::string ConvergedLine(const MultiLeaderView& view) {
  if (!view.converged) return "replicating: progress differs between the members that answered";
  size_t up = 0;
  std::string progress;
  for (const NodeRow& row : view.members) {
    if (!IsUpMultiLeader(row)) continue;
    ++up;
    progress = row.status->multi_leader.progress;
  }
  if (up == view.members.size()) {
    return fmt::format("converged: every member has progress {}", progress);
  }
  return fmt::format("converged: the {} of {} members that answered have progress {}", up,
                     view.members.size(), progress);
}

std::string MultiLeaderText(const MultiLeaderView& view) {
  std::string out = fmt::format("multi_leader cluster, propagation {}, {} members\n",
                                PropagationText(view), view.members.size());
  out += MultiLeaderMembersTable(view) + "\n";
  out += MultiLeaderPeersTable(view) + "\n";
  out += ConvergedLine(view) + "\n";
  for (const NodeRow& row : view.members) {
    if (!row.error.empty()) out += fmt::format("node {}: {}\n", row.id, row.error);
  }
  for (const std::string& note : view.notes) out += note + "\n";
  return out;
}

std::string MultiLeaderRaw(const MultiLeaderView& view) {
  std::string out;
  for (const NodeRow& row : view.members) {
    out += fmt::format("{}\n", fmt::join(MultiLeaderCells(row, "-"), "\t"));
  }
  return out;
}

Json MultiLeaderMemberJson(const NodeRow& row) {
  Json j = Json::object();
  j["id"] = row.id;
  j["client"] = row.client_address.empty() ? Json(nullptr) : Json(row.client_address);
  bool up = IsUpMultiLeader(row);
  j["up"] = up;
  const MultiLeaderStatus* m = up ? &row.status->multi_leader : nullptr;
  auto number = [&](uint64_t MultiLeaderStatus::*field) {
    return m != nullptr ? Json(m->*field) : Json(nullptr);
  };
  j["progress"] = m != nullptr ? Json(m->progress) : Json(nullptr);
  j["changes_local"] = number(&MultiLeaderStatus::changes_local);
  j["log_retained"] = number(&MultiLeaderStatus::log_retained);
  j["lww_concurrent_overwrites"] = number(&MultiLeaderStatus::lww_concurrent_overwrites);
  j["sibling_cap_refusals"] = number(&MultiLeaderStatus::sibling_cap_refusals);
  j["resolver_mismatches"] = number(&MultiLeaderStatus::resolver_mismatches);
  j["clock_skew_rejections"] = number(&MultiLeaderStatus::clock_skew_rejections);
  Json peers = Json::array();
  if (m != nullptr) {
    for (const ShipProgress& p : m->peers) {
      Json peer = Json::object();
      peer["to"] = p.to;
      peer["lag_changes"] = p.lag_changes;
      // One decimal, as in the table; a number, so that jq can compare it.
      peer["seconds_since_ack"] = static_cast<double>(TenthsOfSecond(p.ms_since_ack)) / 10.0;
      peer["state"] = p.state;
      peers.push_back(std::move(peer));
    }
  }
  j["peers"] = std::move(peers);
  if (!row.error.empty()) j["error"] = row.error;
  return j;
}

// ---- dynamo output ----

// STATE: up; the mode of a node that answered as something else; unreachable.
std::string DynamoState(const NodeRow& row) {
  if (!row.status) return "unreachable";
  return IsUpDynamo(row) ? "up" : row.status->mode;
}

constexpr std::array<std::string_view, 8> kDynamoColumns = {
    "ID", "CLIENT", "STATE", "KEYS", "HINTS", "SEEN DOWN BY", "AE", "REPAIRS"};

// "2,4", or "-" when no node that answered believes the node down.
std::string IdListCell(const std::vector<uint64_t>& ids) {
  return ids.empty() ? "-" : fmt::format("{}", fmt::join(ids, ","));
}

// One node's cells (table) or fields (raw), in kDynamoColumns order; "-" for the counters
// of a node that is not up. SEEN DOWN BY comes from the other nodes, so every row has it.
std::vector<std::string> DynamoCells(const DynamoView& view, const NodeRow& row,
                                     std::string_view unknown_address) {
  std::string seen_down_by = IdListCell(view.SeenDownBy(row.id));
  std::vector<std::string> cells = {
      std::to_string(row.id),
      row.client_address.empty() ? std::string(unknown_address) : row.client_address,
      DynamoState(row)};
  if (!IsUpDynamo(row)) {
    cells.insert(cells.end(), {"-", "-", seen_down_by, "-", "-"});
    return cells;
  }
  const DynamoStatus& d = row.status->dynamo;
  cells.insert(cells.end(),
               {std::to_string(row.status->keys), std::to_string(d.hints_pending), seen_down_by,
                std::to_string(d.ae_exchanges), std::to_string(d.read_repairs)});
  return cells;
}

std::string DynamoText(const DynamoView& view) {
  std::vector<std::vector<std::string>> rows;
  rows.emplace_back(kDynamoColumns.begin(), kDynamoColumns.end());
  for (const NodeRow& row : view.nodes) rows.push_back(DynamoCells(view, row, "?"));
  std::string out = AlignColumns(rows);
  out += view.settings.Text() + "\n";
  for (const NodeRow& row : view.nodes) {
    if (!row.error.empty()) out += fmt::format("node {}: {}\n", row.id, row.error);
  }
  for (const std::string& note : view.notes) out += note + "\n";
  return out;
}

Json DynamoNodeJson(const DynamoView& view, const NodeRow& row) {
  Json j = Json::object();
  j["id"] = row.id;
  j["client"] = row.client_address.empty() ? Json(nullptr) : Json(row.client_address);
  bool up = IsUpDynamo(row);
  j["up"] = up;
  const DynamoStatus* d = up ? &row.status->dynamo : nullptr;
  auto number = [&](uint64_t DynamoStatus::*field) {
    return d != nullptr ? Json(d->*field) : Json(nullptr);
  };
  j["keys"] = up ? Json(row.status->keys) : Json(nullptr);
  j["hints_pending"] = number(&DynamoStatus::hints_pending);
  j["seen_down_by"] = view.SeenDownBy(row.id);
  j["ae_exchanges"] = number(&DynamoStatus::ae_exchanges);
  j["read_repairs"] = number(&DynamoStatus::read_repairs);
  if (!row.error.empty()) j["error"] = row.error;
  return j;
}

}  // namespace

bool Membership::IsVoter(uint64_t id) const {
  return std::find(voters.begin(), voters.end(), id) != voters.end();
}

bool Membership::IsLearner(uint64_t id) const {
  return std::find(learners.begin(), learners.end(), id) != learners.end();
}

Result<Membership> ParseMembership(std::string_view text) {
  if (text.find("voters=[") == std::string_view::npos) {
    return Status::ProtocolError(fmt::format("membership \"{}\" has no voters list", text));
  }
  Membership m;
  Result<std::vector<uint64_t>> voters = ParseIdList(text, "voters");
  if (!voters.ok()) return voters.status().WithContext(fmt::format("membership \"{}\"", text));
  Result<std::vector<uint64_t>> learners = ParseIdList(text, "learners");
  if (!learners.ok()) {
    return learners.status().WithContext(fmt::format("membership \"{}\"", text));
  }
  m.voters = std::move(voters).value();
  m.learners = std::move(learners).value();
  return m;
}

Result<NodeStatus> ParseNodeStatus(std::string_view json) {
  Json j = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::ProtocolError("the status document is not a JSON object");
  }
  NodeStatus s;
  s.mode = Str(j, "mode");
  s.node_id = U64(j, "node_id");
  if (s.mode.empty()) return Status::ProtocolError("the status document has no \"mode\"");
  if (!j.contains("node_id")) return Status::ProtocolError("the status document has no node_id");
  s.role = Str(j, "role");
  s.keys = U64(j, "keys");
  if (s.is_dynamo()) {
    auto dynamo = j.find("dynamo");
    if (dynamo == j.end() || !dynamo->is_object()) {
      return Status::ProtocolError("the status document of a dynamo node has no dynamo");
    }
    s.dynamo = ParseDynamo(*dynamo);
    s.configured_members = ParseConfiguredMembers(*dynamo);
    return s;
  }
  if (s.is_multi_leader()) {
    auto multi_leader = j.find("multi_leader");
    if (multi_leader == j.end() || !multi_leader->is_object()) {
      return Status::ProtocolError(
          "the status document of a multi_leader node has no multi_leader");
    }
    s.multi_leader = ParseMultiLeader(*multi_leader);
    s.configured_members = ParseConfiguredMembers(*multi_leader);
    return s;
  }
  if (!s.replicated()) return s;
  auto raft = j.find("raft");
  if (raft == j.end() || !raft->is_object()) {
    return Status::ProtocolError("the status document of a leader_follower node has no raft");
  }
  s.term = U64(*raft, "term");
  s.leader_id = U64(*raft, "leader_id");
  s.commit_index = U64(*raft, "commit_index");
  s.applied_index = U64(*raft, "applied_index");
  s.last_index = U64(*raft, "last_index");
  s.snapshot_index = U64(*raft, "snapshot_index");
  s.ms_since_leader_contact = U64(*raft, "ms_since_leader_contact");
  s.replication = Str(*raft, "replication");
  s.failover = Str(*raft, "failover");
  s.leader_address = Str(*raft, "leader_address");
  s.membership_text = Str(*raft, "membership");
  KVD_ASSIGN_OR_RETURN(s.membership, ParseMembership(s.membership_text));
  s.peers = ParsePeers(*raft);
  s.configured_members = ParseConfiguredMembers(*raft);
  return s;
}

std::vector<ProbeTarget> NextProbes(const std::vector<Probe>& probes, bool all_members) {
  std::vector<const NodeStatus*> answers = Answers(probes);
  std::set<uint64_t> answered;
  for (const NodeStatus* s : answers) answered.insert(s->node_id);
  std::set<std::string> asked;
  for (const Probe& probe : probes) asked.insert(probe.endpoint);
  std::set<uint64_t> wanted;
  if (all_members || DiscoveryMode(probes) != kLeaderFollower) {
    wanted = MemberIds(answers);
  } else if (LeaderAnswer(answers) == nullptr && KnownLeader(answers) != 0) {
    wanted.insert(KnownLeader(answers));
  }
  std::map<uint64_t, std::string> addresses = ClientAddresses(probes, answers);
  std::vector<ProbeTarget> targets;
  for (uint64_t id : wanted) {
    auto address = addresses.find(id);
    if (answered.count(id) != 0 || address == addresses.end()) continue;
    if (asked.insert(address->second).second) targets.push_back({id, address->second});
  }
  return targets;
}

std::string NodeRow::DisplayRole() const {
  if (status) return status->role;
  return client_address.empty() ? "unknown" : "unreachable";
}

const NodeRow* ClusterView::Find(uint64_t id) const {
  for (const NodeRow& row : nodes) {
    if (row.id == id) return &row;
  }
  return nullptr;
}

const NodeStatus* ClusterView::leader() const {
  const NodeRow* row = Find(leader_id);
  if (row == nullptr || !row->status || row->status->role != "leader") return nullptr;
  return &*row->status;
}

ClusterView BuildClusterView(const std::vector<Probe>& probes) {
  std::vector<const NodeStatus*> answers = AnswersInMode(probes, kLeaderFollower);
  const NodeStatus* best = BestAnswer(answers);
  KVD_ASSERT(best != nullptr);
  ClusterView view;
  view.leader_id = KnownLeader(answers);
  view.view_from = best->node_id;
  view.replication = best->replication;
  view.failover = best->failover;
  view.membership_text = best->membership_text;
  view.membership = best->membership;
  for (const NodeStatus* s : answers) view.term = std::max(view.term, s->term);

  std::map<uint64_t, NodeRow> rows;
  for (uint64_t id : MemberIds(answers)) rows[id];
  AttachAnswers(probes, &rows, &view.notes);
  std::map<uint64_t, std::string> addresses = ClientAddresses(probes, answers);
  const NodeStatus* leader = LeaderAnswer(answers);
  for (auto& [id, row] : rows) {
    row.id = id;
    if (auto it = addresses.find(id); it != addresses.end()) row.client_address = it->second;
    for (const NodeStatus* s : answers) {
      for (const ConfiguredMember& m : s->configured_members) {
        if (m.id == id && row.peer_address.empty()) row.peer_address = m.peer;
      }
    }
    if (view.membership.IsVoter(id)) row.member = "voter";
    if (view.membership.IsLearner(id)) row.member = "learner";
    if (leader != nullptr) {
      for (const PeerProgress& p : leader->peers) {
        if (p.id == id) row.progress = p;
      }
    }
    if (!row.status && row.error.empty() && row.client_address.empty()) {
      row.error =
          "client address unknown (it is in no node's configured_members): add it to "
          "--endpoints";
    }
    view.nodes.push_back(std::move(row));
  }
  if (leader != nullptr) view.at_risk_entries = AtRiskEntries(*leader);
  return view;
}

bool AcknowledgesBeforeMajority(std::string_view replication) {
  return replication == "async" || replication == "semi_sync";
}

Output FormatClusterStatus(const ClusterView& view, OutputFormat format) {
  Output output;
  switch (format) {
    case OutputFormat::kTable:
      output.out = ClusterTable(view);
      return output;
    case OutputFormat::kRaw:
      for (const NodeRow& row : view.nodes) {
        const NodeStatus* s = row.status ? &*row.status : nullptr;
        bool is_leader = row.id == view.leader_id && view.leader() != nullptr;
        std::optional<uint64_t> lag = is_leader ? std::optional<uint64_t>(0) : std::nullopt;
        std::optional<uint64_t> heard;
        if (!is_leader && row.progress) {
          lag = row.progress->lag_entries;
          heard = row.progress->ms_since_contact;
        }
        output.out += fmt::format("{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n", row.id,
                                  row.client_address.empty() ? "-" : row.client_address,
                                  row.DisplayRole(), s != nullptr ? std::to_string(s->term) : "-",
                                  s != nullptr ? std::to_string(s->commit_index) : "-",
                                  s != nullptr ? std::to_string(s->applied_index) : "-", Dash(lag),
                                  Dash(heard));
      }
      return output;
    case OutputFormat::kJson:
      break;
  }
  Json j = Json::object();
  j["leader_id"] = view.leader_id == 0 ? Json(nullptr) : Json(view.leader_id);
  j["leader_answered"] = view.leader() != nullptr;
  j["term"] = view.term;
  j["replication"] = view.replication;
  j["failover"] = view.failover;
  AddMembershipJson(view, &j);
  j["acknowledged_writes_at_risk"] = OptionalNumber(view.at_risk_entries);
  Json nodes = Json::array();
  for (const NodeRow& row : view.nodes) nodes.push_back(NodeJson(view, row));
  j["nodes"] = std::move(nodes);
  j["notes"] = view.notes;
  output.out = JsonLine(j);
  return output;
}

Output FormatMemberList(const ClusterView& view, OutputFormat format) {
  std::vector<const NodeRow*> members;
  for (const NodeRow& row : view.nodes) {
    if (!row.member.empty()) members.push_back(&row);
  }
  auto cell = [](const std::string& address) { return address.empty() ? "?" : address; };
  Output output;
  switch (format) {
    case OutputFormat::kTable: {
      std::vector<std::vector<std::string>> rows{{"ID", "ROLE", "CLIENT", "PEER"}};
      for (const NodeRow* row : members) {
        std::string role = row->member + (row->id == view.leader_id ? " (leader)" : "");
        rows.push_back(
            {std::to_string(row->id), role, cell(row->client_address), cell(row->peer_address)});
      }
      std::string whose = view.view_from == view.leader_id && view.leader() != nullptr
                              ? fmt::format("from the leader, node {}", view.view_from)
                              : fmt::format("from node {}; no leader answered", view.view_from);
      output.out =
          AlignColumns(rows) + fmt::format("membership: {} ({})\n", view.membership_text, whose);
      return output;
    }
    case OutputFormat::kRaw:
      for (const NodeRow* row : members) {
        output.out += fmt::format("{}\t{}\t{}\t{}\n", row->id, row->member,
                                  row->client_address.empty() ? "-" : row->client_address,
                                  row->peer_address.empty() ? "-" : row->peer_address);
      }
      return output;
    case OutputFormat::kJson:
      break;
  }
  Json j = Json::object();
  j["leader_id"] = view.leader_id == 0 ? Json(nullptr) : Json(view.leader_id);
  j["from_node"] = view.view_from;
  AddMembershipJson(view, &j);
  Json list = Json::array();
  for (const NodeRow* row : members) {
    Json m = Json::object();
    m["id"] = row->id;
    m["role"] = row->member;
    m["leader"] = row->id == view.leader_id;
    m["client"] = row->client_address.empty() ? Json(nullptr) : Json(row->client_address);
    m["peer"] = row->peer_address.empty() ? Json(nullptr) : Json(row->peer_address);
    list.push_back(std::move(m));
  }
  j["members"] = std::move(list);
  output.out = JsonLine(j);
  return output;
}

bool IsUpMultiLeader(const NodeRow& row) { return row.status && row.status->is_multi_leader(); }

const NodeRow* MultiLeaderView::Find(uint64_t id) const {
  for (const NodeRow& row : members) {
    if (row.id == id) return &row;
  }
  return nullptr;
}

MultiLeaderView BuildMultiLeaderView(const std::vector<Probe>& probes) {
  std::vector<const NodeStatus*> answers = AnswersInMode(probes, kMultiLeader);
  KVD_ASSERT(!answers.empty());
  MultiLeaderView view;
  const NodeStatus& first = *answers.front();
  view.view_from = first.node_id;
  view.propagation = first.multi_leader.propagation;
  view.hub = first.multi_leader.hub;
  view.members = LeaderlessRows(probes, answers, kMultiLeader, &view.notes);
  // Members that disagree on how changes travel are misconfigured: say so.
  for (const NodeStatus* s : answers) {
    const MultiLeaderStatus& m = s->multi_leader;
    if (m.propagation != view.propagation || m.hub != view.hub) {
      view.notes.push_back(
          fmt::format("node {} reports propagation {}{}, node {} {}{}", s->node_id, m.propagation,
                      m.hub != 0 ? fmt::format(" (hub {})", m.hub) : "", view.view_from,
                      view.propagation, view.hub != 0 ? fmt::format(" (hub {})", view.hub) : ""));
    }
  }
  view.converged = true;
  for (const NodeStatus* s : answers) {
    if (s->multi_leader.progress != first.multi_leader.progress) view.converged = false;
  }
  return view;
}

Output FormatMultiLeaderStatus(const MultiLeaderView& view, OutputFormat format) {
  Output output;
  switch (format) {
    case OutputFormat::kTable:
      output.out = MultiLeaderText(view);
      return output;
    case OutputFormat::kRaw:
      output.out = MultiLeaderRaw(view);
      return output;
    case OutputFormat::kJson:
      break;
  }
  Json j = Json::object();
  j["mode"] = "multi_leader";
  j["propagation"] = view.propagation;
  j["hub"] = view.hub == 0 ? Json(nullptr) : Json(view.hub);
  Json members = Json::array();
  for (const NodeRow& row : view.members) members.push_back(MultiLeaderMemberJson(row));
  j["members"] = std::move(members);
  j["converged"] = view.converged;
  j["notes"] = view.notes;
  output.out = JsonLine(j);
  return output;
}

std::string FormatSecondsTenths(uint64_t ms) {
  uint64_t tenths = TenthsOfSecond(ms);
  return fmt::format("{}.{}", tenths / 10, tenths % 10);
}

std::string FormatMs(uint64_t ms) {
  if (ms < 10000) return fmt::format("{} ms", ms);
  return FormatTtl(ms);
}

std::string DynamoSettings::Text() const {
  return fmt::format("N={} R={} W={}, read repair {}, sloppy quorum {}", replicas, read_quorum,
                     write_quorum, read_repair.empty() ? "unknown" : read_repair,
                     sloppy_quorum ? "on" : "off");
}

std::vector<ConfiguredMember> NodeStatus::Members() const {
  if (!is_dynamo() || dynamo.members.empty()) return configured_members;
  std::vector<ConfiguredMember> members;
  for (const RingMember& m : dynamo.members) {
    members.push_back(ConfiguredMember{m.id, m.client, m.peer, "", m.zone});
  }
  return members;
}

bool IsUpDynamo(const NodeRow& row) { return row.status && row.status->is_dynamo(); }

std::vector<uint64_t> DynamoView::SeenDownBy(uint64_t id) const {
  std::vector<uint64_t> observers;
  for (const NodeRow& row : nodes) {
    if (!IsUpDynamo(row)) continue;
    for (const DynamoPeer& p : row.status->dynamo.peers) {
      if (p.id == id && p.state == "down") observers.push_back(row.id);
    }
  }
  return observers;
}

DynamoView BuildDynamoView(const std::vector<Probe>& probes) {
  std::vector<const NodeStatus*> answers = AnswersInMode(probes, kDynamo);
  KVD_ASSERT(!answers.empty());
  DynamoView view;
  const NodeStatus& first = *answers.front();
  view.view_from = first.node_id;
  view.settings = first.dynamo.settings;
  view.nodes = LeaderlessRows(probes, answers, kDynamo, &view.notes);
  // Nodes that serve with other quorums are misconfigured: say so.
  for (const NodeStatus* s : answers) {
    if (s->dynamo.settings != view.settings) {
      view.notes.push_back(fmt::format("node {} reports {}; node {} {}", s->node_id,
                                       s->dynamo.settings.Text(), view.view_from,
                                       view.settings.Text()));
    }
  }
  return view;
}

Output FormatDynamoStatus(const DynamoView& view, OutputFormat format) {
  Output output;
  switch (format) {
    case OutputFormat::kTable:
      output.out = DynamoText(view);
      return output;
    case OutputFormat::kRaw:
      for (const NodeRow& row : view.nodes) {
        output.out += fmt::format("{}\n", fmt::join(DynamoCells(view, row, "-"), "\t"));
      }
      return output;
    case OutputFormat::kJson:
      break;
  }
  Json j = Json::object();
  j["mode"] = "dynamo";
  j["replicas"] = view.settings.replicas;
  j["read_quorum"] = view.settings.read_quorum;
  j["write_quorum"] = view.settings.write_quorum;
  j["read_repair"] = view.settings.read_repair;
  j["sloppy_quorum"] = view.settings.sloppy_quorum;
  Json nodes = Json::array();
  for (const NodeRow& row : view.nodes) nodes.push_back(DynamoNodeJson(view, row));
  j["nodes"] = std::move(nodes);
  j["notes"] = view.notes;
  output.out = JsonLine(j);
  return output;
}

}  // namespace kvd::kvctl
