#include "client/kvctl/repair.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "common/ring/ring.h"

namespace kvd::kvctl {

namespace {

using Json = nlohmann::ordered_json;

std::string JsonLine(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

// The ranges of the ring `status` describes (as kvctl ring rebuilds it: the members not
// leaving), or empty when it cannot be rebuilt.
std::optional<std::vector<ring::TokenRange>> RingRanges(const NodeStatus* status) {
  if (status == nullptr || !status->is_dynamo()) return std::nullopt;
  const DynamoStatus& d = status->dynamo;
  if (d.settings.replicas == 0 || d.tokens_per_node == 0 ||
      d.tokens_per_node > ring::kMaxTokensPerNode) {
    return std::nullopt;
  }
  std::vector<ring::NodeSpec> specs;
  if (!d.members.empty()) {
    for (const RingMember& m : d.members) {
      if (m.role != "leaving") {
        specs.push_back({m.id, static_cast<uint32_t>(d.tokens_per_node), m.zone});
      }
    }
  } else {
    for (const ConfiguredMember& m : status->configured_members) {
      specs.push_back({m.id, static_cast<uint32_t>(d.tokens_per_node), m.zone});
    }
  }
  Result<ring::Ring> ring = ring::Ring::Make(std::move(specs));
  if (!ring.ok()) return std::nullopt;
  return ring->Ranges(d.settings.replicas);
}

std::string RangeText(const DifferingRange& r) {
  return fmt::format("({}, {}]", r.start ? std::to_string(*r.start) : "?", r.end);
}

std::string RepairTable(const RepairReport& report) {
  std::string out;
  if (!report.dry_run) {
    out = fmt::format("repair done: {} comparisons on {} node{} in {} s\n", report.comparisons,
                      report.nodes_started, report.nodes_started == 1 ? "" : "s",
                      FormatSecondsTenths(report.elapsed_ms));
  } else {
    std::string compared = report.ranges_compared
                               ? std::to_string(*report.ranges_compared)
                               : fmt::format("{} comparisons", report.comparisons);
    if (report.differing.empty()) {
      out = fmt::format("no range differs ({} compared)\n", compared);
    } else {
      std::vector<std::vector<std::string>> rows = {{"RANGE", "NODE", "REPLICA"}};
      for (const DifferingRange& r : report.differing) {
        rows.push_back({RangeText(r), std::to_string(r.node), std::to_string(r.replica)});
      }
      out = AlignColumns(rows);
      out += fmt::format("{} range{} differ{} (of {} compared)\n", report.ranges_differing,
                         report.ranges_differing == 1 ? "" : "s",
                         report.ranges_differing == 1 ? "s" : "", compared);
    }
    if (report.unanswered > 0) {
      out += fmt::format("{} comparison{} unanswered (the replica did not answer in time)\n",
                         report.unanswered, report.unanswered == 1 ? "" : "s");
    }
  }
  for (const std::string& note : report.notes) out += note + "\n";
  return out;
}

Json NodeJson(const RepairNode& n) {
  Json j = Json::object();
  j["id"] = n.id;
  j["endpoint"] = n.endpoint;
  j["started"] = n.started;
  j["pairs"] = n.last ? n.last->pairs_total : n.pairs;
  j["done"] = n.last ? Json(n.last->pairs_done) : Json(nullptr);
  j["differing"] = n.last ? Json(n.last->pairs_differing) : Json(nullptr);
  j["unanswered"] = n.last ? Json(n.last->pairs_unanswered) : Json(nullptr);
  j["error"] = n.error.empty() ? Json(nullptr) : Json(n.error);
  return j;
}

}  // namespace

RepairReport BuildRepairReport(bool dry_run, const std::vector<RepairNode>& nodes,
                               const NodeStatus* ring_from, uint64_t elapsed_ms) {
  RepairReport report;
  report.dry_run = dry_run;
  report.elapsed_ms = elapsed_ms;
  report.nodes = nodes;
  std::optional<std::vector<ring::TokenRange>> ranges = RingRanges(ring_from);
  std::map<uint64_t, uint64_t> start_of;  // end -> start
  if (ranges) {
    for (const ring::TokenRange& r : *ranges) start_of[r.end] = r.start;
  }
  std::set<uint64_t> started;
  // (end, lower id, higher id) -> the nodes that reported it.
  std::map<std::tuple<uint64_t, uint64_t, uint64_t>, std::set<uint64_t>> found;
  for (const RepairNode& n : nodes) {
    if (!n.started) {
      report.notes.push_back(fmt::format("node {} ({}) did not start the repair: {}", n.id,
                                         n.endpoint, n.error));
      continue;
    }
    started.insert(n.id);
    ++report.nodes_started;
    if (!n.last) {
      report.notes.push_back(fmt::format("node {} ({}): its progress is unknown ({})", n.id,
                                         n.endpoint,
                                         n.status_error.empty() ? "no STATUS read"
                                                                : n.status_error));
      continue;
    }
    const RepairStatus& r = *n.last;
    report.comparisons += std::min(r.pairs_done, r.pairs_total);
    if (!dry_run) continue;
    report.pairs_differing += r.pairs_differing;
    report.unanswered += r.pairs_unanswered;
    if (r.pairs_differing > r.differing.size()) {
      report.notes.push_back(fmt::format(
          "node {} found {} differing pairs; its STATUS lists only {} of them (run kvctl "
          "repair to fix them all)",
          n.id, r.pairs_differing, r.differing.size()));
    }
    for (const auto& [end, replica] : r.differing) {
      found[{end, std::min(n.id, replica), std::max(n.id, replica)}].insert(n.id);
    }
  }
  std::set<uint64_t> ends;
  for (const auto& [key, by] : found) {
    const auto& [end, low, high] = key;
    DifferingRange d;
    d.end = end;
    if (auto it = start_of.find(end); it != start_of.end()) d.start = it->second;
    d.both_sides = by.size() > 1;
    d.node = d.both_sides ? low : *by.begin();
    d.replica = d.node == low ? high : low;
    report.differing.push_back(d);
    ends.insert(end);
  }
  report.ranges_differing = ends.size();
  if (ranges) {
    size_t compared = 0;
    for (const ring::TokenRange& r : *ranges) {
      if (r.replicas.size() < 2) continue;
      if (std::any_of(r.replicas.begin(), r.replicas.end(),
                      [&](uint64_t id) { return started.count(id) != 0; })) {
        ++compared;
      }
    }
    report.ranges_compared = compared;
  }
  return report;
}

std::string RepairProgressLine(bool dry_run, const std::vector<RepairNode>& nodes,
                               uint64_t elapsed_ms) {
  uint64_t done = 0;
  uint64_t total = 0;
  uint64_t differing = 0;
  for (const RepairNode& n : nodes) {
    if (!n.started) continue;
    if (!n.last) {
      total += n.pairs;
      continue;
    }
    total += n.last->pairs_total;
    done += std::min(n.last->pairs_done, n.last->pairs_total);
    differing += n.last->pairs_differing;
  }
  std::string line =
      fmt::format("[{} s] {}/{} comparisons", FormatSecondsTenths(elapsed_ms), done, total);
  if (dry_run) line += fmt::format(", {} differing", differing);
  return line;
}

Output FormatRepair(const RepairReport& report, OutputFormat format) {
  Output output;
  switch (format) {
    case OutputFormat::kTable:
      output.out = RepairTable(report);
      return output;
    case OutputFormat::kRaw:
      if (!report.dry_run) {
        output.out = fmt::format("{}\n", report.comparisons);
        return output;
      }
      for (const DifferingRange& r : report.differing) {
        output.out += fmt::format("{}\t{}\t{},{}\n", r.start ? std::to_string(*r.start) : "-",
                                  r.end, std::min(r.node, r.replica),
                                  std::max(r.node, r.replica));
      }
      return output;
    case OutputFormat::kJson:
      break;
  }
  Json j = Json::object();
  j["dry_run"] = report.dry_run;
  j["comparisons"] = report.comparisons;
  Json differing = Json::array();
  for (const DifferingRange& r : report.differing) {
    Json d = Json::object();
    d["start"] = r.start ? Json(*r.start) : Json(nullptr);
    d["end"] = r.end;
    d["replicas"] = {std::min(r.node, r.replica), std::max(r.node, r.replica)};
    d["both_sides"] = r.both_sides;
    differing.push_back(std::move(d));
  }
  j["differing"] = std::move(differing);
  j["ranges_differing"] = report.ranges_differing;
  j["ranges_compared"] =
      report.ranges_compared ? Json(*report.ranges_compared) : Json(nullptr);
  j["unanswered"] = report.unanswered;
  j["elapsed_ms"] = report.elapsed_ms;
  Json nodes = Json::array();
  for (const RepairNode& n : report.nodes) nodes.push_back(NodeJson(n));
  j["nodes"] = std::move(nodes);
  j["notes"] = report.notes;
  output.out = JsonLine(j);
  return output;
}

}  // namespace kvd::kvctl
