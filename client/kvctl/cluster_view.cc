#include "client/kvctl/cluster_view.h"

#include <fmt/format.h>

#include <algorithm>
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
    members.push_back(
        ConfiguredMember{U64(m, "id"), Str(m, "client"), Str(m, "peer"), Str(m, "admin")});
  }
  return members;
}

// ---- combining the answers ----

// The answered statuses, in probe order.
std::vector<const NodeStatus*> Answers(const std::vector<Probe>& probes) {
  std::vector<const NodeStatus*> answers;
  for (const Probe& probe : probes) {
    if (probe.status && probe.status->replicated()) answers.push_back(&*probe.status);
  }
  return answers;
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
// configuration files (the first answer's first); then the leader's own report.
std::map<uint64_t, std::string> ClientAddresses(const std::vector<Probe>& probes) {
  std::map<uint64_t, std::string> addresses;
  for (const Probe& probe : probes) {
    if (probe.status) addresses.emplace(probe.status->node_id, probe.endpoint);
  }
  std::vector<const NodeStatus*> answers = Answers(probes);
  for (const NodeStatus* s : answers) {
    for (const ConfiguredMember& m : s->configured_members) {
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
    for (const ConfiguredMember& m : s->configured_members) ids.insert(m.id);
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
  if (all_members) {
    wanted = MemberIds(answers);
  } else if (LeaderAnswer(answers) == nullptr && KnownLeader(answers) != 0) {
    wanted.insert(KnownLeader(answers));
  }
  std::map<uint64_t, std::string> addresses = ClientAddresses(probes);
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
  std::vector<const NodeStatus*> answers = Answers(probes);
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
  std::map<uint64_t, std::string> addresses = ClientAddresses(probes);
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

std::string FormatMs(uint64_t ms) {
  if (ms < 10000) return fmt::format("{} ms", ms);
  return FormatTtl(ms);
}

}  // namespace kvd::kvctl
