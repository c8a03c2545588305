// `kvctl repair` as kvctl shows it: the pure half; cluster.cc sends the ADMIN requests and
// reads the nodes' STATUS.
//
// What the servers do. ADMIN repair (or repair_dry_run), sent to one dynamo node, makes it
// compare every range it replicates with each other replica of it, one (range, replica)
// pair per tick. Its STATUS reports the progress (RepairStatus in cluster_view.h) and, for a
// dry run, the pairs whose Merkle roots differ as "END@REPLICA" (the range (start, END]
// identified by its end token; at most 200 listed).
//
// What kvctl shows. The pair (range, B) found from node A is the pair (range, A) found from
// B: a dry run over the whole ring finds each difference twice, and kvctl lists it once,
// with both nodes. A range's start is the previous token of the ring, which kvctl rebuilds
// from a node's STATUS (members, tokens_per_node) as kvctl ring does.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "client/kvctl/cluster_view.h"
#include "client/kvctl/invocation.h"
#include "client/kvctl/output.h"

namespace kvd::kvctl {

// One node kvctl asked to repair.
struct RepairNode {
  uint64_t id = 0;
  std::string endpoint;
  bool started = false;      // it accepted the ADMIN request
  uint64_t pairs = 0;        // the comparisons its answer announced
  std::string error;         // why it did not start ("" if it did)
  ExitCode error_exit = ExitCode::kOk;
  std::optional<RepairStatus> last;  // its latest STATUS, once read after it started
  std::string status_error;          // the last failure to read its STATUS ("" if none)
  bool finished() const { return started && last && last->finished(); }
};

// One differing range and pair of replicas, deduplicated.
struct DifferingRange {
  std::optional<uint64_t> start;  // empty when the ring could not tell
  uint64_t end = 0;
  uint64_t node = 0;     // a node that found it (the lower id when both did)
  uint64_t replica = 0;  // the other
  bool both_sides = false;
  bool operator==(const DifferingRange&) const = default;
};

struct RepairReport {
  bool dry_run = false;
  uint64_t comparisons = 0;      // pairs done, summed over the nodes that started
  uint64_t pairs_differing = 0;  // as the nodes counted them (both sides)
  uint64_t unanswered = 0;
  std::vector<DifferingRange> differing;  // by end token, then node, replica
  size_t ranges_differing = 0;            // distinct ranges among `differing`
  std::optional<size_t> ranges_compared;  // empty when the ring could not be rebuilt
  size_t nodes_started = 0;
  uint64_t elapsed_ms = 0;
  std::vector<RepairNode> nodes;
  std::vector<std::string> notes;  // nodes that refused or did not answer, truncated lists
};

// The report of a repair over `nodes`; `ring_from` (may be null) is a dynamo node's STATUS
// to rebuild the ring from.
RepairReport BuildRepairReport(bool dry_run, const std::vector<RepairNode>& nodes,
                               const NodeStatus* ring_from, uint64_t elapsed_ms);

// "[3.0 s] 1536/7680 comparisons, 2 differing" (differing: dry run only), no newline.
std::string RepairProgressLine(bool dry_run, const std::vector<RepairNode>& nodes,
                               uint64_t elapsed_ms);

// `kvctl repair` output (see its --help).
Output FormatRepair(const RepairReport& report, OutputFormat format);

}  // namespace kvd::kvctl
