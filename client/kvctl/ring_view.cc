#include "client/kvctl/ring_view.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "common/ring/ring.h"

namespace kvd::kvctl {

namespace {

using Json = nlohmann::ordered_json;

// --tokens: tokens per line under a node's row, each right-aligned to 20 columns (the
// widest 64-bit number), so that they line up.
constexpr size_t kTokensPerLine = 4;
constexpr std::string_view kTokenIndent = "    ";

std::string JsonLine(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

// 0.6017 -> "60.2%".
std::string Percent(double share) { return fmt::format("{:.1f}%", share * 100.0); }

// The node's state as `status` (the answering node) sees it.
std::string StateOf(const NodeStatus& status, uint64_t id) {
  if (id == status.node_id) return "self";
  for (const DynamoPeer& p : status.dynamo.peers) {
    if (p.id == id) return p.state.empty() ? "unknown" : p.state;
  }
  return "unknown";
}

// The lines that follow a node's row with --tokens.
std::string TokenLines(const std::vector<uint64_t>& tokens) {
  std::string out;
  for (size_t i = 0; i < tokens.size(); i += kTokensPerLine) {
    std::vector<std::string> cells;
    for (size_t k = i; k < std::min(tokens.size(), i + kTokensPerLine); ++k) {
      cells.push_back(fmt::format("{:>20}", tokens[k]));
    }
    out += fmt::format("{}{}\n", kTokenIndent, fmt::join(cells, " "));
  }
  return out;
}

std::string RingTable(const RingView& view, bool show_tokens) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"ID", "CLIENT", "ZONE", "TOKENS", "PRIMARY", "REPLICA", "STATE"});
  for (const RingNodeRow& node : view.nodes) {
    rows.push_back({std::to_string(node.id), node.client.empty() ? "?" : node.client,
                    node.zone.empty() ? "-" : node.zone, std::to_string(node.tokens.size()),
                    Percent(node.primary_share), Percent(node.replica_share),
                    node.StateText()});
  }
  std::string table = AlignColumns(rows);
  std::string out;
  // AlignColumns ends every row with '\n': line 0 is the header, line i + 1 node i.
  size_t start = 0;
  for (size_t line = 0; start < table.size(); ++line) {
    size_t end = table.find('\n', start) + 1;
    out += table.substr(start, end - start);
    if (show_tokens && line > 0) out += TokenLines(view.nodes[line - 1].tokens);
    start = end;
  }
  out += fmt::format("N={} R={} W={}, {} tokens per node, {} nodes ({} up as node {} sees it)\n",
                     view.settings.replicas, view.settings.read_quorum,
                     view.settings.write_quorum, view.tokens_per_node, view.nodes.size(), view.up,
                     view.from);
  if (view.transition != 0) {
    out += fmt::format(
        "a ring change is under way (ring version {}): the shares are those of the ring it "
        "leads to; follow it with kvctl node status\n",
        view.ring_version);
  }
  return out;
}

// The ring's members as `status` reports them, with their roles.
std::vector<RingMember> RingMembersOf(const NodeStatus& status) {
  if (!status.dynamo.members.empty()) return status.dynamo.members;
  std::vector<RingMember> members;
  for (const ConfiguredMember& m : status.configured_members) {
    members.push_back(RingMember{m.id, "normal", m.client, m.peer, m.zone});
  }
  return members;
}

}  // namespace

Result<RingView> BuildRingView(const NodeStatus& status) {
  KVD_ASSERT(status.is_dynamo());
  const DynamoStatus& d = status.dynamo;
  if (d.settings.replicas == 0) {
    return Status::ProtocolError(
        fmt::format("the status of node {} reports no dynamo.replicas", status.node_id));
  }
  if (d.tokens_per_node == 0 || d.tokens_per_node > ring::kMaxTokensPerNode) {
    return Status::ProtocolError(
        fmt::format("the status of node {} reports tokens_per_node {}; expected 1 to {}",
                    status.node_id, d.tokens_per_node, ring::kMaxTokensPerNode));
  }
  RingView view;
  view.from = status.node_id;
  view.settings = d.settings;
  view.tokens_per_node = static_cast<uint32_t>(d.tokens_per_node);
  view.ring_version = d.ring.ring_version;
  view.transition = d.ring.ring_transition;
  const std::vector<RingMember> members = RingMembersOf(status);
  // The ring the change under way leads to (the servers' write ring): leaving nodes out.
  std::vector<ring::NodeSpec> specs;
  for (const RingMember& m : members) {
    if (m.role != "leaving") specs.push_back(ring::NodeSpec{m.id, view.tokens_per_node, m.zone});
  }
  const char* source = d.members.empty() ? "configured_members" : "ring members";
  Result<ring::Ring> ring = ring::Ring::Make(std::move(specs));
  if (!ring.ok()) {
    return Status::ProtocolError(fmt::format("the {} of node {} make no ring: {}", source,
                                             status.node_id, ring.status().message()));
  }
  std::map<uint64_t, double> primary = ring->Ownership(1);
  std::map<uint64_t, double> replica = ring->Ownership(d.settings.replicas);
  for (const RingMember& m : members) {
    RingNodeRow node;
    node.id = m.id;
    node.zone = m.zone;
    node.client = m.client;
    if (m.role == "joining" || m.role == "leaving") node.ring_role = m.role;
    for (uint32_t i = 0; i < view.tokens_per_node; ++i) {
      node.tokens.push_back(ring::TokenFor(m.id, i));
    }
    std::sort(node.tokens.begin(), node.tokens.end());
    node.primary_share = primary[m.id];  // 0 for a leaving node
    node.replica_share = replica[m.id];
    node.state = StateOf(status, m.id);
    if (node.state == "self" || node.state == "up") ++view.up;
    view.nodes.push_back(std::move(node));
  }
  std::sort(view.nodes.begin(), view.nodes.end(),
            [](const RingNodeRow& a, const RingNodeRow& b) { return a.id < b.id; });
  return view;
}

std::string RingNodeRow::StateText() const {
  return ring_role == "normal" ? state : fmt::format("{}, {}", state, ring_role);
}

Output FormatRing(const RingView& view, OutputFormat format, bool show_tokens) {
  Output output;
  switch (format) {
    case OutputFormat::kTable:
      output.out = RingTable(view, show_tokens);
      return output;
    case OutputFormat::kRaw:
      for (const RingNodeRow& node : view.nodes) {
        output.out += fmt::format("{}\t{:.6f}\t{:.6f}\n", node.id, node.primary_share,
                                  node.replica_share);
      }
      return output;
    case OutputFormat::kJson:
      break;
  }
  Json j = Json::object();
  j["replicas"] = view.settings.replicas;
  j["read_quorum"] = view.settings.read_quorum;
  j["write_quorum"] = view.settings.write_quorum;
  j["tokens_per_node"] = view.tokens_per_node;
  j["from_node"] = view.from;
  Json nodes = Json::array();
  for (const RingNodeRow& node : view.nodes) {
    Json n = Json::object();
    n["id"] = node.id;
    n["client"] = node.client.empty() ? Json(nullptr) : Json(node.client);
    n["zone"] = node.zone.empty() ? Json(nullptr) : Json(node.zone);
    n["tokens"] = node.tokens;
    n["primary_share"] = node.primary_share;
    n["replica_share"] = node.replica_share;
    n["state"] = node.state;
    n["ring_role"] = node.ring_role;
    nodes.push_back(std::move(n));
  }
  j["nodes"] = std::move(nodes);
  j["ring_version"] = view.ring_version;
  j["ring_transition"] = view.transition;
  output.out = JsonLine(j);
  return output;
}

}  // namespace kvd::kvctl
