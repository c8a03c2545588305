// The kvd-torture report: what a run did and what the checkers concluded, written as
// report.json (machine-readable), latency.png (latency over time with the fault timeline
// as bands on the same time axis) and report.html (one self-contained page holding both,
// the verdicts, the minimal failing sub-histories and the counts).
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace kvd::torture {

enum class Outcome : uint8_t {
  kOk,             // the operation completed and its answer is known
  kFailed,         // it certainly did not take effect (a definite error)
  kIndeterminate,  // it may or may not have taken effect (timeout, connection lost)
};
std::string_view OutcomeName(Outcome o);  // "ok", "failed", "indeterminate"

// One client operation, for the latency plot.
struct OpPoint {
  double start_s = 0;     // seconds since the run started
  double latency_ms = 0;  // from call to answer (or to giving up)
  Outcome outcome = Outcome::kOk;
  std::string kind;       // "read", "write", "cas", "add", "transfer", ...
};

// One fault, for the timeline: from start_s to end_s (end_s == start_s: instantaneous).
struct FaultSpan {
  double start_s = 0;
  double end_s = 0;
  std::string kind;    // "kill", "pause", "partition", "netem", "skew", "membership"
  std::string detail;  // "node 2", "{1,2} | {3}", "node 3 +150ms", ...
};

// The verdict on one guarantee.
struct GuaranteeVerdict {
  std::string guarantee;  // "linearizable registers", "no lost acknowledged writes", ...
  std::string verdict;    // "valid", "invalid" or "unknown"
  std::string detail;     // what was checked and, when invalid or unknown, why
  // invalid: the smallest sub-history that shows it, one line per operation.
  std::vector<std::string> minimal_history;
  // Anomalies that the topology's mode allows (async replication, lww) are reported with
  // allowed = true: counted and shown, but they do not make the run fail.
  bool allowed = false;
  uint64_t anomalies = 0;
};

struct Counts {
  uint64_t ok = 0;
  uint64_t failed = 0;
  uint64_t indeterminate = 0;
};

struct Report {
  std::string title;      // "kvd-torture: leader_follower (sync), seed 0x2a"
  std::string topology;   // single, leader_follower, multi_leader, dynamo
  std::string mode;       // the topology's mode that sets the guarantees (sync, async, ...)
  uint64_t seed = 0;
  double duration_s = 0;
  std::vector<std::string> nodes;  // addresses, in node order
  std::string hosts;               // "netns" or "loopback"
  Counts counts;
  std::vector<OpPoint> ops;
  std::vector<FaultSpan> faults;
  std::vector<GuaranteeVerdict> verdicts;
  nlohmann::json extra = nlohmann::json::object();  // anything else worth keeping
  // True when every verdict is valid or its anomalies are allowed.
  bool passed() const;
};

nlohmann::json ToJson(const Report& report);

// latency.png: width x height pixels; x is time (0 .. duration_s), y the latency in ms on a
// log scale; points coloured by outcome; each fault a translucent band over its span with
// its kind's colour, and a legend. Returns the PNG file's bytes.
std::string RenderLatencyPng(const Report& report, int width = 1200, int height = 420);

// report.html: self-contained (the PNG embedded as a data: URI), no scripts from outside.
std::string RenderHtml(const Report& report, std::string_view png);

// Writes report.json, latency.png and report.html into `dir` (created if missing).
// Errors: kIOError naming the file.
Status WriteReport(const Report& report, const std::filesystem::path& dir);

}  // namespace kvd::torture
