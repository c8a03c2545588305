// A dynamo ring change (a join or a decommission) as kvctl shows it: the pure half of the
// `kvctl node` commands; cluster.cc asks the nodes.
//
// How a change proceeds on the servers. The ADMIN request records it in the ring state
// (a new ring version; ring_transition = that version) and the ring state spreads by
// gossip. While it is under way, a joining node is in the ring writes go to but not yet in
// the one reads use; a leaving node the other way round. The "gainers", the nodes that
// replicate ranges in the new ring they did not hold, pull those ranges from the current
// replicas (throttled; pausable), and each says so (ring_streamed) when it is done. When
// every gainer is done, every node finalizes (joining -> normal, leaving -> removed) and
// the ring settles: ring_transition 0, one version higher.
//
// What kvctl reads. Each node's STATUS (RingChangeStatus in cluster_view.h) gives its
// ring state (version, transition, paused, streamed, members with roles) and its own
// streaming counters. kvctl asks every ring member (one "sample"); the change shown is
// that of the answer with the highest ring version. A gainer is a node whose STATUS
// reports ranges to pull (stream_ranges_total > 0) in that change, or that a ring state
// lists as streamed. Rates need two samples: RATE is the keys the gainer received between
// them per second, ETA its remaining ranges at the rate its ranges completed between
// them.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "client/kvctl/cluster_view.h"
#include "client/kvctl/invocation.h"
#include "client/kvctl/output.h"
#include "common/status.h"

namespace kvd::kvctl {

// One round of STATUS requests to the ring (Discover in cluster.cc), and when.
struct RingSample {
  std::vector<Probe> probes;
  uint64_t at_ms = 0;  // since kvctl started
};

// One gainer of the change under way.
struct GainerRow {
  uint64_t id = 0;
  // Its own STATUS was read in the latest sample; false when only a ring state names it
  // (ring_streamed) and the counters are unknown (0).
  bool answered = false;
  uint64_t ranges_done = 0;
  uint64_t ranges_total = 0;
  uint64_t keys_received = 0;   // stream_keys_received_total: since the node started
  uint64_t bytes_received = 0;  // stream_bytes_received_total: since the node started
  bool done = false;            // streamed every range it gains
  bool paused = false;          // its streaming is paused
  // From two samples (see above); empty with one sample, or when the node did not answer
  // both in this change. eta_ms: empty also when no range completed between them.
  std::optional<double> keys_per_second;
  std::optional<uint64_t> eta_ms;
  bool operator==(const GainerRow&) const = default;
};

struct RingChangeView {
  uint64_t from = 0;          // the node whose ring state is shown (highest version)
  uint64_t ring_version = 0;
  uint64_t transition = 0;    // 0: no change under way
  bool paused = false;        // streaming paused (the ring state's flag)
  std::string kind;           // "join" or "decommission"; "" when none is under way
  uint64_t node_id = 0;       // the node joining or leaving; 0 when none
  std::vector<RingMember> members;  // of the ring state shown
  std::vector<GainerRow> gainers;   // ascending id; empty when no change is under way
  std::optional<uint64_t> sample_ms;  // the time between the two samples, if two
  std::vector<uint64_t> behind;       // nodes that answered at an older ring version
  std::vector<std::string> notes;     // nodes that did not answer, or lag behind
  bool under_way() const { return transition != 0; }
};

// The change `now` shows; rates against `before` (may be null) when it is older.
// REQUIRES: some probe of `now` answered as a dynamo node.
RingChangeView BuildRingChangeView(const RingSample& now, const RingSample* before);

// True when a change is under way and some gainer known is not done (a second sample
// would show progress).
bool StillStreaming(const RingChangeView& view);

// `kvctl node status` output (see its --help).
Output FormatRingChange(const RingChangeView& view, OutputFormat format);

// What `--wait` remembers from one sample to the next, so that its progress lines add up
// over the whole change: each gainer's keys_received when kvctl first saw it in the change
// (the counter runs since the node started), and the most ranges it reported (a gainer
// that is done reports 0/0 once the ring state moves on: the server resets its counts).
struct RingProgress {
  std::map<uint64_t, uint64_t> keys_at_first_sight;
  std::map<uint64_t, uint64_t> ranges_total;
};

// Records `view` in `progress` and returns one line of progress for `kvctl node
// join/decommission --wait`, without a newline: "ring version 7: ranges 120/768, 34567
// keys streamed (19874 keys/s), 0 of 1 gainers done, eta 4s" (ranges and keys summed over
// the gainers: keys since kvctl first saw each; a gainer that is done counts its ranges as
// all done; eta: the slowest gainer's, unknown if any gainer has none); once the change is
// finished where the newest ring state is but not everywhere: "ring version 8: the change
// is finished; waiting for nodes 3, 6 (at an older version)".
std::string RingProgressLine(const RingChangeView& view, RingProgress* progress);

// Where a change kvctl started (at ring version `transition`) stands.
enum class RingChangeOutcome {
  kUnderWay,  // some node that answered has not finished it (or not heard of it yet)
  kFinished,  // every node that answered has finished it, with node_id joined / removed
  kDropped,   // finished, but the ring does not have it: a concurrent change won
};
// `join`: the change was node_id joining, else node_id leaving.
RingChangeOutcome JudgeRingChange(const RingSample& sample, uint64_t transition,
                                  uint64_t node_id, bool join);

// 812 -> "812 B", 1536 -> "1.5 KiB", 3460300 -> "3.3 MiB" (binary units, one decimal).
std::string FormatBytes(uint64_t bytes);

}  // namespace kvd::kvctl
