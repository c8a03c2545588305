#include "client/kvctl/ring_change.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace kvd::kvctl {

namespace {

using Json = nlohmann::ordered_json;

std::string JsonLine(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

// The dynamo answers of a sample, one per node (the first), in probe order.
std::vector<const NodeStatus*> DynamoAnswers(const RingSample& sample) {
  std::vector<const NodeStatus*> answers;
  std::set<uint64_t> seen;
  for (const Probe& probe : sample.probes) {
    if (!probe.status || !probe.status->is_dynamo()) continue;
    if (seen.insert(probe.status->node_id).second) answers.push_back(&*probe.status);
  }
  return answers;
}

// The answer with the most recent ring state (the first of those with the highest version):
// gossip brings every node there.
const NodeStatus* NewestRingState(const std::vector<const NodeStatus*>& answers) {
  const NodeStatus* best = nullptr;
  for (const NodeStatus* s : answers) {
    if (best == nullptr || s->dynamo.ring.ring_version > best->dynamo.ring.ring_version) best = s;
  }
  return best;
}

// Node `id`'s answer in `answers` if it is in change `transition`, else nullptr.
const NodeStatus* InChange(const std::vector<const NodeStatus*>& answers, uint64_t id,
                           uint64_t transition) {
  for (const NodeStatus* s : answers) {
    if (s->node_id == id && s->dynamo.ring.ring_transition == transition) return s;
  }
  return nullptr;
}

// RATE and ETA of one gainer between the samples `before` and `now`, `elapsed_ms` apart,
// both in the same change. The key counter runs since the node started (a restart resets
// it: no rate then); ETA needs the same ranges counted in both (the server recounts them
// whenever the ring state changes, and reports 0/0 once the gainer is done).
void AddRates(const RingChangeStatus& now, const RingChangeStatus& before, uint64_t elapsed_ms,
              GainerRow* row) {
  if (elapsed_ms == 0 || now.keys_received < before.keys_received) return;
  const double seconds = static_cast<double>(elapsed_ms) / 1000.0;
  row->keys_per_second = static_cast<double>(now.keys_received - before.keys_received) / seconds;
  if (now.ranges_total != before.ranges_total || now.ranges_done < before.ranges_done) return;
  const uint64_t ranges = now.ranges_done - before.ranges_done;
  if (row->done || ranges == 0) return;
  const uint64_t remaining = now.ranges_total - std::min(now.ranges_total, now.ranges_done);
  row->eta_ms = static_cast<uint64_t>(
      std::ceil(static_cast<double>(remaining) * static_cast<double>(elapsed_ms) /
                static_cast<double>(ranges)));
}

std::vector<GainerRow> Gainers(const RingChangeView& view,
                               const std::vector<const NodeStatus*>& answers,
                               const RingSample& now, const RingSample* before) {
  // Streamed gainers: those any node in this change has heard of.
  std::set<uint64_t> streamed;
  std::set<uint64_t> ids;
  for (const NodeStatus* s : answers) {
    const RingChangeStatus& r = s->dynamo.ring;
    if (r.ring_transition != view.transition) continue;
    streamed.insert(r.streamed.begin(), r.streamed.end());
    if (r.ranges_total > 0) ids.insert(s->node_id);
  }
  ids.insert(streamed.begin(), streamed.end());
  std::vector<const NodeStatus*> earlier;
  uint64_t elapsed_ms = 0;
  if (before != nullptr && before->at_ms < now.at_ms) {
    earlier = DynamoAnswers(*before);
    elapsed_ms = now.at_ms - before->at_ms;
  }
  std::vector<GainerRow> rows;
  for (uint64_t id : ids) {
    GainerRow row;
    row.id = id;
    row.done = streamed.count(id) != 0;
    if (const NodeStatus* s = InChange(answers, id, view.transition)) {
      const RingChangeStatus& r = s->dynamo.ring;
      row.answered = true;
      row.ranges_done = r.ranges_done;
      row.ranges_total = r.ranges_total;
      row.keys_received = r.keys_received;
      row.bytes_received = r.bytes_received;
      row.paused = r.streaming_paused;
      row.done = row.done || (r.ranges_total > 0 && r.ranges_done >= r.ranges_total);
      if (const NodeStatus* b = InChange(earlier, id, view.transition)) {
        AddRates(r, b->dynamo.ring, elapsed_ms, &row);
      }
    }
    rows.push_back(row);
  }
  return rows;
}

// Nodes that did not answer, answered in another mode, or have not caught up with the
// ring state shown: view->notes, and view->behind for the last.
void AddNotes(const RingSample& now, const std::vector<const NodeStatus*>& answers,
              RingChangeView* view) {
  for (const Probe& probe : now.probes) {
    if (probe.status) {
      if (!probe.status->is_dynamo()) {
        view->notes.push_back(fmt::format("node {} ({}) answered in mode {}, not dynamo",
                                          probe.status->node_id, probe.endpoint,
                                          probe.status->mode));
      }
      continue;
    }
    std::string why = DescribeStatus(probe.error);
    view->notes.push_back(probe.expected_id == 0
                              ? fmt::format("{} did not answer: {}", probe.endpoint, why)
                              : fmt::format("node {} did not answer ({}: {}){}",
                                            probe.expected_id, probe.endpoint, why,
                                            view->under_way() ? "; its progress is unknown"
                                                              : ""));
  }
  for (const NodeStatus* s : answers) {
    if (s->dynamo.ring.ring_version < view->ring_version) {
      view->behind.push_back(s->node_id);
      view->notes.push_back(fmt::format(
          "node {} is at ring version {} (it has not heard of version {} yet)", s->node_id,
          s->dynamo.ring.ring_version, view->ring_version));
    }
  }
}

std::string RateText(const GainerRow& row) {
  return row.keys_per_second ? fmt::format("{:.0f}/s", *row.keys_per_second) : "-";
}

std::string EtaText(const GainerRow& row) { return row.eta_ms ? FormatTtl(*row.eta_ms) : "-"; }

// "node 6 is joining the ring: ring version 7, 6 members, streaming running".
std::string Headline(const RingChangeView& view) {
  std::string what = view.kind == "join"           ? fmt::format("node {} is joining the ring",
                                                                 view.node_id)
                     : view.kind == "decommission" ? fmt::format("node {} is leaving the ring",
                                                                 view.node_id)
                                                   : std::string("a ring change is under way");
  return fmt::format("{}: ring version {}, {} members, streaming {}\n", what, view.ring_version,
                     view.members.size(),
                     view.paused ? "paused (kvctl node resume continues it)" : "running");
}

std::string RingChangeTable(const RingChangeView& view) {
  std::string out;
  if (!view.under_way()) {
    out = fmt::format("no ring change under way (ring version {}, {} nodes)\n", view.ring_version,
                      view.members.size());
  } else {
    out = Headline(view);
    if (view.gainers.empty()) {
      out += "no gainer has reported ranges to pull yet\n";
    } else {
      std::vector<std::vector<std::string>> rows = {
          {"NODE", "RANGES", "KEYS", "BYTES", "RATE", "ETA", "DONE"}};
      for (const GainerRow& g : view.gainers) {
        if (!g.answered) {
          rows.push_back({std::to_string(g.id), "?", "?", "?", "-", "-", g.done ? "yes" : "no"});
          continue;
        }
        // A gainer that is done reports 0/0 once the ring state moves on.
        std::string ranges = g.done && g.ranges_total == 0
                                 ? std::string("-")
                                 : fmt::format("{}/{}", g.ranges_done, g.ranges_total);
        rows.push_back({std::to_string(g.id), ranges,
                        std::to_string(g.keys_received), FormatBytes(g.bytes_received),
                        RateText(g), EtaText(g), g.done ? "yes" : "no"});
      }
      out += AlignColumns(rows);
      if (view.sample_ms) {
        out += fmt::format("RATE and ETA over the last {} s (two rounds of STATUS)\n",
                           FormatSecondsTenths(*view.sample_ms));
      }
    }
  }
  for (const std::string& note : view.notes) out += note + "\n";
  return out;
}

Json GainerJson(const GainerRow& g) {
  Json j = Json::object();
  j["id"] = g.id;
  j["answered"] = g.answered;
  j["ranges_done"] = g.answered ? Json(g.ranges_done) : Json(nullptr);
  j["ranges_total"] = g.answered ? Json(g.ranges_total) : Json(nullptr);
  j["keys_received"] = g.answered ? Json(g.keys_received) : Json(nullptr);
  j["bytes_received"] = g.answered ? Json(g.bytes_received) : Json(nullptr);
  j["keys_per_second"] = g.keys_per_second ? Json(std::round(*g.keys_per_second)) : Json(nullptr);
  j["eta_seconds"] =
      g.eta_ms ? Json(static_cast<double>(*g.eta_ms) / 1000.0) : Json(nullptr);
  j["paused"] = g.paused;
  j["done"] = g.done;
  return j;
}

Json RingChangeJson(const RingChangeView& view) {
  Json j = Json::object();
  j["ring_version"] = view.ring_version;
  j["transition"] = view.transition;
  j["under_way"] = view.under_way();
  j["kind"] = view.kind.empty() ? Json(nullptr) : Json(view.kind);
  j["node_id"] = view.node_id == 0 ? Json(nullptr) : Json(view.node_id);
  j["paused"] = view.paused;
  Json members = Json::array();
  for (const RingMember& m : view.members) members.push_back({{"id", m.id}, {"role", m.role}});
  j["members"] = std::move(members);
  Json gainers = Json::array();
  for (const GainerRow& g : view.gainers) gainers.push_back(GainerJson(g));
  j["gainers"] = std::move(gainers);
  j["sample_ms"] = view.sample_ms ? Json(*view.sample_ms) : Json(nullptr);
  j["from_node"] = view.from;
  j["notes"] = view.notes;
  return j;
}

}  // namespace

RingChangeView BuildRingChangeView(const RingSample& now, const RingSample* before) {
  std::vector<const NodeStatus*> answers = DynamoAnswers(now);
  const NodeStatus* best = NewestRingState(answers);
  KVD_ASSERT(best != nullptr);
  RingChangeView view;
  view.from = best->node_id;
  view.ring_version = best->dynamo.ring.ring_version;
  view.transition = best->dynamo.ring.ring_transition;
  view.paused = best->dynamo.ring.ring_paused;
  view.members = best->dynamo.members;
  if (view.under_way()) {
    for (const RingMember& m : view.members) {
      if (m.role == "joining" || m.role == "leaving") {
        view.kind = m.role == "joining" ? "join" : "decommission";
        view.node_id = m.id;
      }
    }
    view.gainers = Gainers(view, answers, now, before);
    if (before != nullptr && before->at_ms < now.at_ms) view.sample_ms = now.at_ms - before->at_ms;
  }
  AddNotes(now, answers, &view);
  return view;
}

bool StillStreaming(const RingChangeView& view) {
  if (!view.under_way()) return false;
  if (view.gainers.empty()) return true;
  return std::any_of(view.gainers.begin(), view.gainers.end(),
                     [](const GainerRow& g) { return !g.done; });
}

Output FormatRingChange(const RingChangeView& view, OutputFormat format) {
  Output output;
  switch (format) {
    case OutputFormat::kTable:
      output.out = RingChangeTable(view);
      return output;
    case OutputFormat::kRaw:
      for (const GainerRow& g : view.gainers) {
        auto number = [&](uint64_t value) { return g.answered ? std::to_string(value) : "-"; };
        output.out += fmt::format(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n", g.id, number(g.ranges_done),
            number(g.ranges_total), number(g.keys_received), number(g.bytes_received),
            g.keys_per_second ? fmt::format("{:.0f}", *g.keys_per_second) : "-",
            g.eta_ms ? fmt::format("{:.1f}", static_cast<double>(*g.eta_ms) / 1000.0) : "-",
            g.done ? "yes" : "no");
      }
      return output;
    case OutputFormat::kJson:
      break;
  }
  output.out = JsonLine(RingChangeJson(view));
  return output;
}

std::string RingProgressLine(const RingChangeView& view, RingProgress* progress) {
  if (!view.under_way()) {
    if (view.behind.empty()) {
      return fmt::format("ring version {}: no change under way", view.ring_version);
    }
    return fmt::format("ring version {}: the change is finished; waiting for node{} {} (at an "
                       "older version)",
                       view.ring_version, view.behind.size() == 1 ? "" : "s",
                       fmt::join(view.behind, ", "));
  }
  std::string paused = view.paused ? ", streaming paused" : "";
  if (view.gainers.empty()) {
    return fmt::format("ring version {}: waiting for the gainers to start{}", view.ring_version,
                       paused);
  }
  uint64_t done_ranges = 0;
  uint64_t total_ranges = 0;
  uint64_t keys = 0;
  size_t done = 0;
  std::optional<double> rate;
  std::optional<uint64_t> eta = 0;
  for (const GainerRow& g : view.gainers) {
    uint64_t& total = progress->ranges_total[g.id];
    total = std::max(total, g.ranges_total);
    if (g.answered) {
      uint64_t first = progress->keys_at_first_sight.emplace(g.id, g.keys_received).first->second;
      keys += g.keys_received - std::min(first, g.keys_received);
    }
    total_ranges += total;
    done_ranges += g.done ? total : std::min(g.ranges_done, total);
    if (g.done) ++done;
    if (g.keys_per_second) rate = rate.value_or(0) + *g.keys_per_second;
    // The change ends with its slowest gainer; one without an estimate leaves it unknown.
    if (!g.done) eta = g.eta_ms && eta ? std::optional(std::max(*eta, *g.eta_ms)) : std::nullopt;
  }
  std::string line = fmt::format("ring version {}: ranges {}/{}, {} keys streamed",
                                 view.ring_version, done_ranges, total_ranges, keys);
  if (rate) line += fmt::format(" ({:.0f} keys/s)", *rate);
  line += fmt::format(", {} of {} gainers done", done, view.gainers.size());
  if (eta && done < view.gainers.size()) line += fmt::format(", eta {}", FormatTtl(*eta));
  return line + paused;
}

RingChangeOutcome JudgeRingChange(const RingSample& sample, uint64_t transition,
                                  uint64_t node_id, bool join) {
  std::vector<const NodeStatus*> answers = DynamoAnswers(sample);
  if (answers.empty()) return RingChangeOutcome::kUnderWay;
  for (const NodeStatus* s : answers) {
    const RingChangeStatus& r = s->dynamo.ring;
    // Not heard of it yet, or still in it.
    if (r.ring_version < transition || r.ring_transition == transition) {
      return RingChangeOutcome::kUnderWay;
    }
  }
  const NodeStatus* best = NewestRingState(answers);
  const std::vector<RingMember>& members = best->dynamo.members;
  auto member = std::find_if(members.begin(), members.end(),
                             [&](const RingMember& m) { return m.id == node_id; });
  bool applied = join ? member != members.end() && member->role != "joining"
                      : member == members.end();
  return applied ? RingChangeOutcome::kFinished : RingChangeOutcome::kDropped;
}

std::string FormatBytes(uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  constexpr std::array<const char*, 5> kUnits = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes) / 1024.0;
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < kUnits.size()) {
    value /= 1024.0;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, kUnits[unit]);
}

}  // namespace kvd::kvctl
