#include "client/kvctl/cluster.h"

#include <fmt/format.h>

#include <algorithm>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <thread>
#include <variant>

#include "client/kvctl/cluster_view.h"
#include "client/kvctl/repair.h"
#include "client/kvctl/ring_change.h"
#include "client/kvctl/ring_view.h"
#include "client/lib/client.h"

namespace kvd::kvctl {

namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;

// The real backend's wait beyond --timeout: the client library reports its own, more
// precise timeout first.
constexpr std::chrono::milliseconds kCallGrace{500};

// What one cluster command run shares: the invocation, the backend and the deadline.
// Waiting commands stop at `deadline`; each request is also bounded by --timeout.
struct Context {
  const Invocation& invocation;
  const ClusterBackend& backend;
  Clock::time_point start;
  Clock::time_point deadline;
  // A long wait (node join --wait) bounds each request by less than --timeout.
  std::chrono::milliseconds request_limit = kMaxTimeout;

  OutputFormat format() const { return invocation.global.output; }
  std::chrono::milliseconds timeout() const {
    return std::min(invocation.global.timeout, request_limit);
  }
  uint64_t MsSince(Clock::time_point since) const {
    auto elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(backend.steady_now() - since);
    return static_cast<uint64_t>(std::max<int64_t>(0, elapsed.count()));
  }
  uint64_t ElapsedMs() const { return MsSince(start); }
  // --timeout, but not past the deadline (and at least 1 ms).
  std::chrono::milliseconds RequestTimeout() const {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - backend.steady_now());
    return std::clamp(left, std::chrono::milliseconds(1), timeout());
  }
  bool CanWait(std::chrono::milliseconds interval) const {
    return backend.steady_now() + interval < deadline;
  }
};

// Either a value or the output that ends the command.
template <typename T>
using OrOutput = std::variant<T, Output>;

wire::Request StatusRequestFor() {
  wire::Request request;
  request.body = wire::StatusRequest{};
  return request;
}

wire::Request AdminRequestFor(wire::AdminAction action, uint64_t node_id,
                              std::string client_address = "", std::string peer_address = "") {
  wire::Request request;
  request.body =
      wire::AdminRequest{action, node_id, std::move(client_address), std::move(peer_address)};
  return request;
}

Result<wire::Response> CallOne(const Context& ctx, const std::string& endpoint,
                               wire::Request request) {
  std::vector<Result<wire::Response>> results =
      ctx.backend.call({NodeCall{endpoint, std::move(request)}}, ctx.RequestTimeout());
  KVD_ASSERT(results.size() == 1);
  return std::move(results[0]);
}

Probe ToProbe(std::string endpoint, uint64_t expected_id, const Result<wire::Response>& result) {
  Probe probe;
  probe.endpoint = std::move(endpoint);
  probe.expected_id = expected_id;
  if (!result.ok()) {
    probe.error = result.status();
    probe.error_exit = ExitCode::kUnreachable;
    return probe;
  }
  if (!result->ok()) {
    probe.error = result->ToStatus();
    probe.error_exit = ExitCodeForServerCode(result->status);
    return probe;
  }
  const auto* body = std::get_if<wire::StatusResponse>(&result->body);
  Result<NodeStatus> status =
      body == nullptr
          ? Result<NodeStatus>(Status::ProtocolError("STATUS answer without a document"))
          : ParseNodeStatus(body->json);
  if (!status.ok()) {
    probe.error = status.status();
    probe.error_exit = ExitCode::kServerFailure;
    return probe;
  }
  probe.status = std::move(status).value();
  return probe;
}

std::vector<Probe> ProbeAll(const Context& ctx, const std::vector<ProbeTarget>& targets) {
  std::vector<NodeCall> calls;
  for (const ProbeTarget& target : targets) calls.push_back({target.endpoint, StatusRequestFor()});
  std::vector<Result<wire::Response>> results = ctx.backend.call(calls, ctx.timeout());
  KVD_ASSERT(results.size() == targets.size());
  std::vector<Probe> probes;
  for (size_t i = 0; i < targets.size(); ++i) {
    probes.push_back(ToProbe(targets[i].endpoint, targets[i].id, results[i]));
  }
  return probes;
}

// ---- discovery ----

struct Discovery {
  std::vector<Probe> probes;
  std::optional<ClusterView> view;  // set when the node at --endpoints is replicated
  // Set instead when the command accepts clusters without a leader and it is a
  // multi_leader member (multi_leader_view) or a dynamo node (dynamo_view).
  std::optional<MultiLeaderView> multi_leader_view;
  std::optional<DynamoView> dynamo_view;
  std::string single_endpoint;  // otherwise: where the node answered, and its mode
  std::string single_mode;
};

Output NoEndpointAnswered(const std::vector<Probe>& probes) {
  KVD_ASSERT(!probes.empty());
  if (probes.size() == 1) {
    return Failure(probes[0].error_exit, DescribeStatus(probes[0].error));
  }
  std::vector<std::string> reasons;
  for (const Probe& probe : probes) {
    reasons.push_back(fmt::format("{}: {}", probe.endpoint, DescribeStatus(probe.error)));
  }
  return Failure(probes[0].error_exit,
                 fmt::format("no node at --endpoints answered ({})", fmt::join(reasons, "; ")));
}

// STATUS of every node at --endpoints, at once, in order.
std::vector<Probe> ProbeEndpoints(const Context& ctx) {
  std::vector<ProbeTarget> targets;
  for (const std::string& endpoint : ctx.invocation.global.endpoints) {
    targets.push_back({0, endpoint});
  }
  return ProbeAll(ctx, targets);
}

// The first probe that answered, or nullptr.
const Probe* FirstAnswer(const std::vector<Probe>& probes) {
  auto answered = std::find_if(probes.begin(), probes.end(),
                               [](const Probe& probe) { return probe.status.has_value(); });
  return answered == probes.end() ? nullptr : &*answered;
}

// Asks the nodes at --endpoints, then the members their answers name: every member with
// all_members, else just enough to hear from the leader. A cluster without a leader
// (multi_leader, dynamo) is discovered (every member) only with accept_leaderless;
// otherwise, like a single node, it is left for the caller to refuse.
OrOutput<Discovery> Discover(const Context& ctx, bool all_members,
                             bool accept_leaderless = false) {
  Discovery d;
  d.probes = ProbeEndpoints(ctx);
  const Probe* answered = FirstAnswer(d.probes);
  if (answered == nullptr) return NoEndpointAnswered(d.probes);
  // Read now: d.probes grows below, which may move the probe `answered` points to.
  const bool dynamo = answered->status->is_dynamo();
  const bool leaderless = accept_leaderless && (answered->status->is_multi_leader() || dynamo);
  if (!answered->status->replicated() && !leaderless) {
    d.single_endpoint = answered->endpoint;
    d.single_mode = answered->status->mode;
    return d;
  }
  for (int round = 0; round < kMaxDiscoveryRounds; ++round) {
    std::vector<ProbeTarget> next = NextProbes(d.probes, all_members);
    if (next.empty()) break;
    std::vector<Probe> more = ProbeAll(ctx, next);
    d.probes.insert(d.probes.end(), more.begin(), more.end());
  }
  if (!leaderless) {
    d.view = BuildClusterView(d.probes);
  } else if (dynamo) {
    d.dynamo_view = BuildDynamoView(d.probes);
  } else {
    d.multi_leader_view = BuildMultiLeaderView(d.probes);
  }
  return d;
}

Output NotReplicated(const Discovery& d) {
  return Failure(ExitCode::kRejected,
                 fmt::format("unsupported: the node at {} runs in mode {}; cluster commands need "
                             "a leader_follower cluster",
                             d.single_endpoint, d.single_mode));
}

// The client address of member `id`.
OrOutput<std::string> AddressOf(const ClusterView& view, uint64_t id) {
  const NodeRow* row = view.Find(id);
  if (row == nullptr) {
    return Failure(ExitCode::kRejected,
                   fmt::format("invalid argument: node {} is not a member of the cluster ({})", id,
                               view.membership_text));
  }
  if (row->client_address.empty()) {
    return Failure(ExitCode::kUsage,
                   fmt::format("the client address of node {} is unknown (it is in no node's "
                               "configured_members): add it to --endpoints",
                               id));
  }
  return row->client_address;
}

// ---- ADMIN requests and answers ----

// The answer's JSON object, or the output for a failure.
OrOutput<Json> AdminAnswer(const Result<wire::Response>& result) {
  if (!result.ok()) return TransportError(result.status());
  if (!result->ok()) return ServerFailure(*result);
  const auto* body = std::get_if<wire::AdminResponse>(&result->body);
  if (body == nullptr) {
    return Failure(ExitCode::kServerFailure,
                   "malformed answer from the server: ADMIN answer without a document");
  }
  Json j = Json::parse(body->json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Failure(ExitCode::kServerFailure,
                   "malformed answer from the server: the ADMIN answer is not a JSON object");
  }
  return j;
}

uint64_t U64(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

std::string Str(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// A non-replicated node refuses ADMIN (UNSUPPORTED): report its own words.
Output SendAdminToSingle(const Context& ctx, const Discovery& d, wire::Request request) {
  OrOutput<Json> answer = AdminAnswer(CallOne(ctx, d.single_endpoint, std::move(request)));
  if (auto* failure = std::get_if<Output>(&answer)) return std::move(*failure);
  return NotReplicated(d);
}

// Sends a leader-only request to the leader, following NOT_LEADER hints, and waiting for
// an election (no hint) until the deadline.
Result<wire::Response> SendToLeader(const Context& ctx, const ClusterView& view,
                                    const wire::Request& request) {
  std::string target = ctx.invocation.global.endpoints.front();
  if (const NodeRow* leader = view.Find(view.leader_id);
      leader != nullptr && !leader->client_address.empty()) {
    target = leader->client_address;
  } else if (const NodeRow* from = view.Find(view.view_from);
             from != nullptr && !from->client_address.empty()) {
    target = from->client_address;
  }
  int redirects = 0;
  while (true) {
    Result<wire::Response> result = CallOne(ctx, target, request);
    if (!result.ok() || result->status != Code::kNotLeader) return result;
    const std::string& hint = result->detail.leader_hint;
    if (!hint.empty() && hint != target && redirects < kMaxRedirects) {
      target = hint;
      ++redirects;
      continue;
    }
    if (!ctx.CanWait(kPollInterval)) return result;
    ctx.backend.sleep(kPollInterval);
  }
}

// ---- polling ----

enum class Verdict { kWait, kDone, kFailed };

struct PollResult {
  Verdict verdict = Verdict::kWait;  // kWait: the deadline passed
  std::optional<NodeStatus> last;    // the last status read
  Status last_error;                 // the last failure to read one
};

// Reads the STATUS at `endpoint` every `interval` until `judge` says done or failed, or
// until the deadline.
template <typename Judge>
PollResult Poll(const Context& ctx, const std::string& endpoint, std::chrono::milliseconds interval,
                Judge judge) {
  PollResult poll;
  while (true) {
    Probe probe = ToProbe(endpoint, 0, CallOne(ctx, endpoint, StatusRequestFor()));
    if (probe.status) {
      poll.last = std::move(probe.status);
      poll.last_error = Status::Ok();
      poll.verdict = judge(*poll.last);
      if (poll.verdict != Verdict::kWait) return poll;
    } else {
      poll.last_error = probe.error;
    }
    if (!ctx.CanWait(interval)) return poll;
    ctx.backend.sleep(interval);
  }
}

// "(last seen: follower in term 7, leader 1)" for a timeout message.
std::string LastSeen(const PollResult& poll) {
  if (!poll.last_error.ok()) {
    return fmt::format("its status could not be read: {}", DescribeStatus(poll.last_error));
  }
  if (!poll.last) return "its status was never read";
  const NodeStatus& s = *poll.last;
  return fmt::format("last seen: {} in term {}, leader {}", s.role, s.term,
                     s.leader_id == 0 ? "unknown" : std::to_string(s.leader_id));
}

Output Timeout(const Context& ctx, const std::string& awaited, const PollResult& poll) {
  return Failure(ExitCode::kUnreachable, fmt::format("timeout: {} within {} ms ({})", awaited,
                                                     ctx.timeout().count(), LastSeen(poll)));
}

Output Success(std::string out) {
  Output output;
  output.out = std::move(out);
  return output;
}

std::string JsonLine(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

// "node N is the leader (term T)" in the three formats.
Output LeaderIs(const Context& ctx, uint64_t id, uint64_t term, bool already,
                std::string_view table_suffix, Json extra) {
  switch (ctx.format()) {
    case OutputFormat::kTable:
      return Success(fmt::format("node {} is {}the leader (term {}){}\n", id,
                                 already ? "already " : "", term, table_suffix));
    case OutputFormat::kRaw:
      return Success(fmt::format("{}\t{}\n", id, term));
    case OutputFormat::kJson:
      break;
  }
  Json j = Json::object();
  j["node_id"] = id;
  j["term"] = term;
  j["already"] = already;
  j["elapsed_ms"] = ctx.ElapsedMs();
  for (auto& [key, value] : extra.items()) j[key] = value;
  return Success(JsonLine(j));
}

// ---- the commands ----

Output RunClusterStatus(const Context& ctx, bool member_list) {
  // member list shows a Raft membership, which multi_leader and dynamo clusters do not have.
  OrOutput<Discovery> found =
      Discover(ctx, /*all_members=*/!member_list, /*accept_leaderless=*/!member_list);
  if (auto* failure = std::get_if<Output>(&found)) return std::move(*failure);
  const Discovery& d = std::get<Discovery>(found);
  if (d.multi_leader_view) return FormatMultiLeaderStatus(*d.multi_leader_view, ctx.format());
  if (d.dynamo_view) return FormatDynamoStatus(*d.dynamo_view, ctx.format());
  if (!d.view) return NotReplicated(d);
  return member_list ? FormatMemberList(*d.view, ctx.format())
                     : FormatClusterStatus(*d.view, ctx.format());
}

Output RunPromote(const Context& ctx, uint64_t id) {
  OrOutput<Discovery> found = Discover(ctx, /*all_members=*/false);
  if (auto* failure = std::get_if<Output>(&found)) return std::move(*failure);
  const Discovery& d = std::get<Discovery>(found);
  wire::Request request = AdminRequestFor(wire::AdminAction::kPromote, id);
  if (!d.view) return SendAdminToSingle(ctx, d, std::move(request));
  OrOutput<std::string> address = AddressOf(*d.view, id);
  if (auto* failure = std::get_if<Output>(&address)) return std::move(*failure);
  if (const NodeStatus* leader = d.view->leader(); leader != nullptr && leader->node_id == id) {
    return LeaderIs(ctx, id, leader->term, true, "", Json::object());
  }
  const std::string& endpoint = std::get<std::string>(address);
  OrOutput<Json> answer = AdminAnswer(CallOne(ctx, endpoint, std::move(request)));
  if (auto* failure = std::get_if<Output>(&answer)) return std::move(*failure);
  uint64_t election_term = U64(std::get<Json>(answer), "term");
  PollResult poll = Poll(ctx, endpoint, kPollInterval, [&](const NodeStatus& s) {
    if (s.role == "leader") return Verdict::kDone;
    // Another node won this election or a later one.
    bool other_leads = s.leader_id != 0 && s.leader_id != id;
    if (s.role == "follower" && other_leads && s.term >= election_term) return Verdict::kFailed;
    return Verdict::kWait;
  });
  if (poll.verdict == Verdict::kDone) {
    return LeaderIs(ctx, id, poll.last->term, false, "", Json::object());
  }
  if (poll.verdict == Verdict::kFailed) {
    return Failure(ExitCode::kServerFailure,
                   fmt::format("node {} did not win the election of term {}: node {} leads in "
                               "term {} (voters with a more up-to-date log refused their votes; "
                               "retry, or move a live leader with kvctl switchover)",
                               id, election_term, poll.last->leader_id, poll.last->term));
  }
  return Timeout(ctx, fmt::format("node {} did not become the leader", id), poll);
}

// What a transfer or switchover observed, for its output.
struct Handover {
  uint64_t from = 0;
  uint64_t to = 0;
  bool chosen_by_leader = false;
  uint64_t old_term = 0;
  std::optional<uint64_t> old_commit_index;
  std::string replication;
  uint64_t accepted_ms = 0;
  uint64_t new_term = 0;
  uint64_t new_last_index = 0;
  uint64_t observed_ms = 0;
};

Output SwitchoverReport(const Context& ctx, const Handover& h) {
  bool complete = !h.old_commit_index || h.new_last_index >= *h.old_commit_index;
  std::string old_commit =
      h.old_commit_index ? std::to_string(*h.old_commit_index) : std::string("unknown");
  Output output;
  if (ctx.format() == OutputFormat::kJson) {
    Json j = Json::object();
    j["from"] = h.from;
    j["to"] = h.to;
    j["chosen_by_leader"] = h.chosen_by_leader;
    j["old_term"] = h.old_term;
    j["term"] = h.new_term;
    j["replication"] = h.replication;
    j["old_commit_index"] = h.old_commit_index ? Json(*h.old_commit_index) : Json(nullptr);
    j["new_last_index"] = h.new_last_index;
    j["accepted_ms"] = h.accepted_ms;
    j["writes_paused_ms"] = h.observed_ms;
    j["new_leader_has_every_committed_entry"] = complete;
    output.out = JsonLine(j);
  } else if (ctx.format() == OutputFormat::kRaw) {
    output.out = fmt::format("{}\t{}\t{}\n", h.to, h.new_term, h.observed_ms);
  } else {
    std::vector<std::vector<std::string>> steps = {
        {"0 ms", fmt::format("node {} leads in term {}; commit index {}; replication {}", h.from,
                             h.old_term, old_commit, h.replication)},
        {fmt::format("{} ms", h.accepted_ms),
         fmt::format("node {} accepted: it pauses writes until node {} has its whole log, "
                     "then hands over",
                     h.from, h.to)},
        {fmt::format("{} ms", h.observed_ms),
         fmt::format("node {} is the leader (term {}); its log ends at index {}", h.to, h.new_term,
                     h.new_last_index)}};
    output.out = fmt::format("switchover from node {} to node {}{}:\n", h.from, h.to,
                             h.chosen_by_leader ? " (the most up-to-date voter)" : "");
    std::string table = AlignColumns(steps);
    for (size_t start = 0; start < table.size();) {
      size_t end = table.find('\n', start);
      output.out += "  " + table.substr(start, end + 1 - start);
      start = end + 1;
    }
    if (h.old_commit_index) {
      output.out += fmt::format(
          "{}: node {}'s log ends at {}, node {}'s commit index before the request was {}\n",
          complete ? "no acknowledged write lost" : "WARNING: acknowledged writes may be lost",
          h.to, h.new_last_index, h.from, *h.old_commit_index);
    }
    output.out += fmt::format(
        "writes were paused for about {} ms (from the request until node {} was seen leading; "
        "kvctl polls every {} ms)\n",
        h.observed_ms, h.to, kSwitchoverPollInterval.count());
  }
  if (!complete) output.exit_code = ExitCode::kServerFailure;
  return output;
}

Output RunTransfer(const Context& ctx, const TransferLeaderCommand& command) {
  OrOutput<Discovery> found = Discover(ctx, /*all_members=*/false);
  if (auto* failure = std::get_if<Output>(&found)) return std::move(*failure);
  const Discovery& d = std::get<Discovery>(found);
  wire::Request request = AdminRequestFor(wire::AdminAction::kTransferLeader, command.node_id);
  if (!d.view) return SendAdminToSingle(ctx, d, std::move(request));
  const ClusterView& view = *d.view;
  const NodeStatus* leader = view.leader();
  if (leader != nullptr && command.node_id == leader->node_id) {
    return LeaderIs(ctx, leader->node_id, leader->term, true, "", Json::object());
  }
  Handover h;
  h.chosen_by_leader = command.node_id == 0;
  if (leader != nullptr) {
    h.old_commit_index = leader->commit_index;
    h.old_term = leader->term;
  }
  h.replication = view.replication;
  // Writes pause from here: the leader refuses them once it has accepted the transfer.
  Clock::time_point requested = ctx.backend.steady_now();
  OrOutput<Json> answer = AdminAnswer(SendToLeader(ctx, view, request));
  if (auto* failure = std::get_if<Output>(&answer)) return std::move(*failure);
  const Json& started = std::get<Json>(answer);
  h.accepted_ms = ctx.MsSince(requested);
  h.from = U64(started, "from");
  h.to = U64(started, "to") != 0 ? U64(started, "to") : command.node_id;
  if (h.old_term == 0) h.old_term = U64(started, "term");
  if (h.to == h.from) {
    return LeaderIs(ctx, h.to, U64(started, "term"), true, "", Json::object());
  }
  OrOutput<std::string> address = AddressOf(view, h.to);
  if (auto* failure = std::get_if<Output>(&address)) return std::move(*failure);
  // A switchover measures the pause, so it looks more often.
  auto interval = command.switchover ? kSwitchoverPollInterval : kPollInterval;
  PollResult poll = Poll(ctx, std::get<std::string>(address), interval, [](const NodeStatus& s) {
    return s.role == "leader" ? Verdict::kDone : Verdict::kWait;
  });
  if (poll.verdict != Verdict::kDone) {
    return Timeout(ctx,
                   fmt::format("node {} did not become the leader (a leader abandons a transfer "
                               "that does not complete within an election timeout)",
                               h.to),
                   poll);
  }
  h.observed_ms = ctx.MsSince(requested);
  h.new_term = poll.last->term;
  h.new_last_index = poll.last->last_index;
  if (command.switchover) return SwitchoverReport(ctx, h);
  Json extra = Json::object();
  extra["from"] = h.from;
  return LeaderIs(ctx, h.to, h.new_term, false,
                  fmt::format("; it took over from node {} in {} ms", h.from, h.observed_ms),
                  extra);
}

struct MemberChange {
  wire::AdminAction action;
  uint64_t node_id = 0;
  std::string client_address;
  std::string peer_address;
};

std::string MemberChangeLine(const MemberChange& change, uint64_t index,
                             const std::string& membership) {
  switch (change.action) {
    case wire::AdminAction::kAddLearner:
      return fmt::format(
          "node {} added as a learner (configuration index {}); membership: {}\n"
          "next: when kvctl cluster status shows node {} caught up (LAG near 0 entries; add {} "
          "to --endpoints if its role shows as unknown), run: kvctl member promote {}\n",
          change.node_id, index, membership, change.node_id, change.client_address, change.node_id);
    case wire::AdminAction::kPromoteLearner:
      return fmt::format("node {} is now a voter (configuration index {}); membership: {}\n",
                         change.node_id, index, membership);
    default:
      return fmt::format(
          "node {} removed (configuration index {}); membership: {}\n"
          "it no longer takes part: stop it, and delete its data directory before reusing it\n",
          change.node_id, index, membership);
  }
}

Output RunMemberChange(const Context& ctx, const MemberChange& change) {
  OrOutput<Discovery> found = Discover(ctx, /*all_members=*/false);
  if (auto* failure = std::get_if<Output>(&found)) return std::move(*failure);
  const Discovery& d = std::get<Discovery>(found);
  wire::Request request =
      AdminRequestFor(change.action, change.node_id, change.client_address, change.peer_address);
  if (!d.view) return SendAdminToSingle(ctx, d, std::move(request));
  OrOutput<Json> answer = AdminAnswer(SendToLeader(ctx, *d.view, request));
  if (auto* failure = std::get_if<Output>(&answer)) return std::move(*failure);
  const Json& done = std::get<Json>(answer);
  uint64_t index = U64(done, "index");
  std::string membership = Str(done, "membership");
  switch (ctx.format()) {
    case OutputFormat::kTable:
      return Success(MemberChangeLine(change, index, membership));
    case OutputFormat::kRaw:
      return Success(fmt::format("{}\n", index));
    case OutputFormat::kJson:
      break;
  }
  Json j = Json::object();
  j["node_id"] = change.node_id;
  j["action"] = wire::AdminActionName(change.action);
  j["index"] = index;
  j["membership"] = membership;
  if (Result<Membership> parsed = ParseMembership(membership); parsed.ok()) {
    j["voters"] = parsed->voters;
    j["learners"] = parsed->learners;
  }
  return Success(JsonLine(j));
}

// Without a node id: the first node at --endpoints that answers compacts.
Result<wire::Response> CompactAtEndpoints(const Context& ctx) {
  Result<wire::Response> result = Status::Unavailable("no endpoint");
  for (const std::string& endpoint : ctx.invocation.global.endpoints) {
    result = CallOne(ctx, endpoint, AdminRequestFor(wire::AdminAction::kCompact, 0));
    if (result.ok()) break;
  }
  return result;
}

Output RunSnapshot(const Context& ctx, uint64_t id) {
  Result<wire::Response> result = Status::Unavailable("not sent");
  if (id == 0) {
    result = CompactAtEndpoints(ctx);
  } else {
    OrOutput<Discovery> found = Discover(ctx, /*all_members=*/false);
    if (auto* failure = std::get_if<Output>(&found)) return std::move(*failure);
    const Discovery& d = std::get<Discovery>(found);
    wire::Request request = AdminRequestFor(wire::AdminAction::kCompact, id);
    if (!d.view) return SendAdminToSingle(ctx, d, std::move(request));
    OrOutput<std::string> address = AddressOf(*d.view, id);
    if (auto* failure = std::get_if<Output>(&address)) return std::move(*failure);
    result = CallOne(ctx, std::get<std::string>(address), std::move(request));
  }
  OrOutput<Json> answer = AdminAnswer(result);
  if (auto* failure = std::get_if<Output>(&answer)) return std::move(*failure);
  const Json& done = std::get<Json>(answer);
  uint64_t node = U64(done, "node_id");
  uint64_t index = U64(done, "snapshot_index");
  switch (ctx.format()) {
    case OutputFormat::kTable:
      return Success(fmt::format("node {} compacted its log: snapshot index {}\n", node, index));
    case OutputFormat::kRaw:
      return Success(fmt::format("{}\n", index));
    case OutputFormat::kJson:
      break;
  }
  Json j = Json::object();
  j["node_id"] = node;
  j["snapshot_index"] = index;
  return Success(JsonLine(j));
}

// The ring as the first node at --endpoints that answers describes it: one node is
// enough, since every node computes the same ring from the same configuration.
Output RunRing(const Context& ctx, const RingCommand& command) {
  std::vector<Probe> probes = ProbeEndpoints(ctx);
  const Probe* answered = FirstAnswer(probes);
  if (answered == nullptr) return NoEndpointAnswered(probes);
  if (!answered->status->is_dynamo()) {
    return Failure(ExitCode::kRejected,
                   fmt::format("unsupported: the node at {} runs in mode {}; kvctl ring needs a "
                               "dynamo node",
                               answered->endpoint, answered->status->mode));
  }
  Result<RingView> view = BuildRingView(*answered->status);
  if (!view.ok()) return Failure(ExitCode::kServerFailure, DescribeStatus(view.status()));
  return FormatRing(*view, ctx.format(), command.tokens);
}

// ---- dynamo ring changes: kvctl node ----

// What an ADMIN answer of a dynamo node says: the ring state once the request is recorded.
struct RingAnswer {
  uint64_t ring_version = 0;
  uint64_t transition = 0;
  bool paused = false;
  std::vector<RingMember> members;  // id and role ("status" in the answer)
  // The change under way: "joining"/"leaving" and the node, or "" and 0.
  std::string role;
  uint64_t node_id = 0;
};

RingAnswer ParseRingAnswer(const Json& j) {
  RingAnswer a;
  a.ring_version = U64(j, "ring_version");
  a.transition = U64(j, "transition");
  auto paused = j.find("paused");
  a.paused = paused != j.end() && paused->is_boolean() && paused->get<bool>();
  if (auto members = j.find("members"); members != j.end() && members->is_array()) {
    for (const Json& m : *members) {
      if (!m.is_object()) continue;
      RingMember member{U64(m, "id"), Str(m, "status"), "", "", ""};
      if (member.role == "joining" || member.role == "leaving") {
        a.role = member.role;
        a.node_id = member.id;
      }
      a.members.push_back(std::move(member));
    }
  }
  return a;
}

// Adds the answer's fields to the json output `j`.
void AddRingAnswer(const RingAnswer& a, Json* j) {
  (*j)["ring_version"] = a.ring_version;
  (*j)["transition"] = a.transition;
  (*j)["paused"] = a.paused;
  Json members = Json::array();
  for (const RingMember& m : a.members) members.push_back({{"id", m.id}, {"role", m.role}});
  (*j)["members"] = std::move(members);
}

// The first node at --endpoints that answers, which must be a dynamo node: ADMIN
// add_learner and remove_member mean Raft membership changes to a leader_follower node.
OrOutput<Probe> RingEndpoint(const Context& ctx) {
  std::vector<Probe> probes = ProbeEndpoints(ctx);
  const Probe* answered = FirstAnswer(probes);
  if (answered == nullptr) return NoEndpointAnswered(probes);
  if (!answered->status->is_dynamo()) {
    return Failure(ExitCode::kRejected,
                   fmt::format("unsupported: the node at {} runs in mode {}; kvctl node needs a "
                               "dynamo ring (leader_follower: kvctl member add/remove)",
                               answered->endpoint, answered->status->mode));
  }
  return *answered;
}

// One round of STATUS to every ring member, or the output that ends the command.
OrOutput<RingSample> SampleRing(const Context& ctx) {
  OrOutput<Discovery> found = Discover(ctx, /*all_members=*/true, /*accept_leaderless=*/true);
  if (auto* failure = std::get_if<Output>(&found)) return std::move(*failure);
  Discovery& d = std::get<Discovery>(found);
  if (!d.dynamo_view) {
    const Probe* answered = FirstAnswer(d.probes);
    KVD_ASSERT(answered != nullptr);
    return Failure(ExitCode::kRejected,
                   fmt::format("unsupported: the node at {} runs in mode {}; kvctl node needs a "
                               "dynamo ring",
                               answered->endpoint, answered->status->mode));
  }
  return RingSample{std::move(d.probes), ctx.ElapsedMs()};
}

// A join or decommission kvctl asked for.
struct RingChange {
  bool join = true;
  uint64_t node_id = 0;
  std::chrono::milliseconds wait_timeout{0};
  const char* verb() const { return join ? "join" : "decommission"; }
};

// Shows a progress line now (backend.progress) or keeps it for the output.
void ShowProgress(const Context& ctx, const std::string& line, std::string* kept) {
  if (ctx.format() != OutputFormat::kTable) return;
  if (ctx.backend.progress) {
    ctx.backend.progress(line);
  } else {
    *kept += line;
  }
}

Output RingChangeStarted(const Context& ctx, const RingChange& change, const RingAnswer& a) {
  switch (ctx.format()) {
    case OutputFormat::kTable:
      return Success(fmt::format("node {} is {} the ring (version {}); follow with: kvctl node "
                                 "status\n",
                                 change.node_id, change.join ? "joining" : "leaving",
                                 a.ring_version));
    case OutputFormat::kRaw:
      return Success(fmt::format("{}\n", a.ring_version));
    case OutputFormat::kJson:
      break;
  }
  Json j = Json::object();
  j["node_id"] = change.node_id;
  j["action"] = change.verb();
  AddRingAnswer(a, &j);
  j["finished"] = false;
  return Success(JsonLine(j));
}

Output RingChangeFinished(const Context& ctx, const RingChange& change, const RingSample& last,
                          std::string kept) {
  RingChangeView view = BuildRingChangeView(last, nullptr);
  uint64_t elapsed_ms = ctx.ElapsedMs();
  switch (ctx.format()) {
    case OutputFormat::kTable: {
      std::string out = std::move(kept);
      out += fmt::format("node {} {} the ring: ring version {}, {} nodes (after {} s){}\n",
                         change.node_id, change.join ? "joined" : "left", view.ring_version,
                         view.members.size(), FormatSecondsTenths(elapsed_ms),
                         change.join ? ""
                                     : "; stop it, and delete its data directory before "
                                       "reusing it");
      for (const std::string& note : view.notes) out += note + "\n";
      return Success(std::move(out));
    }
    case OutputFormat::kRaw:
      return Success(fmt::format("{}\n", view.ring_version));
    case OutputFormat::kJson:
      break;
  }
  Json j = Json::object();
  j["node_id"] = change.node_id;
  j["action"] = change.verb();
  j["ring_version"] = view.ring_version;
  j["nodes"] = view.members.size();
  j["finished"] = true;
  j["elapsed_ms"] = elapsed_ms;
  j["notes"] = view.notes;
  return Success(JsonLine(j));
}

// Reads the ring every kRingPollInterval until the change recorded at ring version
// `transition` is finished on every node that answers, or the deadline.
Output WaitForRingChange(const Context& ctx, const RingChange& change, uint64_t transition,
                         std::string kept) {
  std::optional<RingSample> previous;
  RingProgress progress;
  std::string last_line;
  uint64_t last_line_ms = 0;
  std::string last_seen = "no node answered";
  while (true) {
    OrOutput<RingSample> sampled = SampleRing(ctx);
    if (auto* sample = std::get_if<RingSample>(&sampled)) {
      RingChangeOutcome outcome = JudgeRingChange(*sample, transition, change.node_id, change.join);
      if (outcome == RingChangeOutcome::kFinished) {
        return RingChangeFinished(ctx, change, *sample, std::move(kept));
      }
      RingChangeView view = BuildRingChangeView(*sample, previous ? &*previous : nullptr);
      if (outcome == RingChangeOutcome::kDropped) {
        return Failure(ExitCode::kServerFailure,
                       fmt::format("the {} of node {} was dropped: another ring change recorded "
                                   "at the same time won (ring version {}); see kvctl node status",
                                   change.verb(), change.node_id, view.ring_version));
      }
      last_seen = RingProgressLine(view, &progress);
      // A line when something changed, and at least every 10 s.
      uint64_t now_ms = ctx.ElapsedMs();
      if (last_seen != last_line || now_ms >= last_line_ms + 10000) {
        ShowProgress(ctx, fmt::format("[{} s] {}\n", FormatSecondsTenths(now_ms), last_seen),
                     &kept);
        last_line = last_seen;
        last_line_ms = now_ms;
      }
      previous = std::move(*sample);
    } else {
      // "kvctl: <why>\n" -> "<why>".
      last_seen = std::get<Output>(sampled).err;
      if (last_seen.rfind("kvctl: ", 0) == 0) last_seen.erase(0, 7);
      if (!last_seen.empty() && last_seen.back() == '\n') last_seen.pop_back();
    }
    if (!ctx.CanWait(kRingPollInterval)) break;
    ctx.backend.sleep(kRingPollInterval);
  }
  Output timeout = Failure(
      ExitCode::kUnreachable,
      fmt::format("timeout: the {} of node {} did not finish within {} (last seen: {}); it goes "
                  "on in the background: follow it with kvctl node status",
                  change.verb(), change.node_id,
                  FormatMs(static_cast<uint64_t>(change.wait_timeout.count())), last_seen));
  timeout.out = std::move(kept);
  return timeout;
}

Output RunRingChange(const Context& ctx, const RingChange& change, wire::Request request) {
  OrOutput<Probe> target = RingEndpoint(ctx);
  if (auto* failure = std::get_if<Output>(&target)) return std::move(*failure);
  OrOutput<Json> answer =
      AdminAnswer(CallOne(ctx, std::get<Probe>(target).endpoint, std::move(request)));
  if (auto* failure = std::get_if<Output>(&answer)) return std::move(*failure);
  RingAnswer started = ParseRingAnswer(std::get<Json>(answer));
  if (change.wait_timeout.count() == 0) return RingChangeStarted(ctx, change, started);
  std::string kept;
  ShowProgress(ctx, RingChangeStarted(ctx, change, started).out, &kept);
  // The wait has its own deadline; each request keeps the usual admin bound.
  Context waiting{ctx.invocation, ctx.backend, ctx.start, ctx.start + change.wait_timeout,
                  kDefaultAdminTimeout};
  return WaitForRingChange(waiting, change, started.transition, std::move(kept));
}

Output RunNodeStreams(const Context& ctx, bool pause) {
  OrOutput<Probe> target = RingEndpoint(ctx);
  if (auto* failure = std::get_if<Output>(&target)) return std::move(*failure);
  wire::AdminAction action =
      pause ? wire::AdminAction::kPauseStreams : wire::AdminAction::kResumeStreams;
  OrOutput<Json> answer =
      AdminAnswer(CallOne(ctx, std::get<Probe>(target).endpoint, AdminRequestFor(action, 0)));
  if (auto* failure = std::get_if<Output>(&answer)) return std::move(*failure);
  RingAnswer a = ParseRingAnswer(std::get<Json>(answer));
  switch (ctx.format()) {
    case OutputFormat::kTable: {
      std::string change =
          a.node_id == 0 ? std::string("the ring change")
                         : fmt::format("node {} {} the ring", a.node_id,
                                       a.role == "joining" ? "joining" : "leaving");
      return Success(fmt::format(
          "streaming {} ({}, ring version {}); {}\n", pause ? "paused" : "resumed", change,
          a.ring_version,
          pause ? "resume with: kvctl node resume" : "follow with: kvctl node status"));
    }
    case OutputFormat::kRaw:
      return Success(fmt::format("{}\n", a.ring_version));
    case OutputFormat::kJson:
      break;
  }
  Json j = Json::object();
  j["action"] = wire::AdminActionName(action);
  AddRingAnswer(a, &j);
  return Success(JsonLine(j));
}

Output RunNodeStatus(const Context& ctx, const NodeStatusCommand& command) {
  OrOutput<RingSample> first = SampleRing(ctx);
  if (auto* failure = std::get_if<Output>(&first)) return std::move(*failure);
  RingSample& sample = std::get<RingSample>(first);
  RingChangeView view = BuildRingChangeView(sample, nullptr);
  // Rates need a second round, worth it only while some gainer streams.
  if (command.sample.count() == 0 || !StillStreaming(view)) {
    return FormatRingChange(view, ctx.format());
  }
  ctx.backend.sleep(command.sample);
  OrOutput<RingSample> second = SampleRing(ctx);
  if (auto* failure = std::get_if<Output>(&second)) {
    // The first round stands; say why there are no rates.
    view.notes.push_back(fmt::format("no second round of STATUS for the rates: {}",
                                     failure->err.substr(0, failure->err.find('\n'))));
    return FormatRingChange(view, ctx.format());
  }
  return FormatRingChange(BuildRingChangeView(std::get<RingSample>(second), &sample),
                          ctx.format());
}

// ---- on-demand repair: kvctl repair ----

// "kvctl: <why>\n" -> "<why>".
std::string FailureText(const Output& failure) {
  std::string text = failure.err;
  if (text.rfind("kvctl: ", 0) == 0) text.erase(0, 7);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

// The nodes to repair: every dynamo member that answered (ascending id), or only --node.
// Members that did not answer are noted in `notes`.
OrOutput<std::vector<RepairNode>> RepairTargets(const Discovery& d, uint64_t only,
                                                std::vector<std::string>* notes) {
  std::map<uint64_t, RepairNode> answered;
  std::set<uint64_t> members;
  for (const Probe& probe : d.probes) {
    if (!probe.status || !probe.status->is_dynamo()) continue;
    for (const ConfiguredMember& m : probe.status->Members()) members.insert(m.id);
    RepairNode node;
    node.id = probe.status->node_id;
    node.endpoint = probe.endpoint;
    answered.emplace(node.id, std::move(node));
  }
  std::vector<RepairNode> targets;
  if (only != 0) {
    auto it = answered.find(only);
    if (it != answered.end()) {
      targets.push_back(it->second);
      return targets;
    }
    if (members.count(only) == 0) {
      return Failure(ExitCode::kRejected,
                     fmt::format("invalid argument: node {} is not a member of the ring "
                                 "(members: {})",
                                 only, fmt::join(members, ", ")));
    }
    std::string why = "its client address is unknown";
    for (const Probe& probe : d.probes) {
      if (probe.expected_id == only && !probe.status) {
        why = fmt::format("{}: {}", probe.endpoint, DescribeStatus(probe.error));
      }
    }
    return Failure(ExitCode::kUnreachable, fmt::format("node {} did not answer ({})", only, why));
  }
  for (auto& [id, node] : answered) targets.push_back(std::move(node));
  for (const Probe& probe : d.probes) {
    if (probe.status) continue;
    notes->push_back(probe.expected_id == 0
                         ? fmt::format("{} did not answer: {}", probe.endpoint,
                                       DescribeStatus(probe.error))
                         : fmt::format("node {} did not answer ({}: {}); it was not repaired",
                                       probe.expected_id, probe.endpoint,
                                       DescribeStatus(probe.error)));
  }
  return targets;
}

Output RunRepair(const Context& outer, const RepairCommand& command) {
  // The wait is bounded by --timeout (default 10m); each request by the usual admin bound.
  Context ctx{outer.invocation, outer.backend, outer.start, outer.deadline, kDefaultAdminTimeout};
  OrOutput<Discovery> found = Discover(ctx, /*all_members=*/true, /*accept_leaderless=*/true);
  if (auto* failure = std::get_if<Output>(&found)) return std::move(*failure);
  const Discovery& d = std::get<Discovery>(found);
  if (!d.dynamo_view) {
    const Probe* answered = FirstAnswer(d.probes);
    KVD_ASSERT(answered != nullptr);
    return Failure(ExitCode::kRejected,
                   fmt::format("unsupported: the node at {} runs in mode {}; kvctl repair needs "
                               "a dynamo ring",
                               answered->endpoint, answered->status->mode));
  }
  const NodeStatus* ring_from = nullptr;
  for (const Probe& probe : d.probes) {
    if (probe.status && probe.status->is_dynamo()) {
      ring_from = &*probe.status;
      break;
    }
  }
  std::vector<std::string> notes;
  OrOutput<std::vector<RepairNode>> targeted = RepairTargets(d, command.node_id, &notes);
  if (auto* failure = std::get_if<Output>(&targeted)) return std::move(*failure);
  std::vector<RepairNode> nodes = std::move(std::get<std::vector<RepairNode>>(targeted));

  // The ADMIN requests, to every target at once.
  const wire::AdminAction action =
      command.dry_run ? wire::AdminAction::kRepairDryRun : wire::AdminAction::kRepair;
  std::vector<NodeCall> calls;
  for (const RepairNode& n : nodes) calls.push_back({n.endpoint, AdminRequestFor(action, 0)});
  std::vector<Result<wire::Response>> results = ctx.backend.call(calls, ctx.RequestTimeout());
  KVD_ASSERT(results.size() == nodes.size());
  std::optional<Output> first_failure;
  size_t started = 0;
  for (size_t i = 0; i < nodes.size(); ++i) {
    OrOutput<Json> answer = AdminAnswer(results[i]);
    if (auto* failure = std::get_if<Output>(&answer)) {
      nodes[i].error = FailureText(*failure);
      nodes[i].error_exit = failure->exit_code;
      if (!first_failure) first_failure = std::move(*failure);
      continue;
    }
    nodes[i].started = true;
    nodes[i].pairs = U64(std::get<Json>(answer), "pairs");
    ++started;
  }
  if (started == 0) {
    KVD_ASSERT(first_failure.has_value());
    if (nodes.size() == 1) return std::move(*first_failure);
    std::vector<std::string> reasons;
    for (const RepairNode& n : nodes) reasons.push_back(fmt::format("node {}: {}", n.id, n.error));
    return Failure(first_failure->exit_code,
                   fmt::format("no node started the repair ({})", fmt::join(reasons, "; ")));
  }

  // Poll every started node's STATUS until each has finished.
  std::string kept;
  uint64_t last_line_ms = 0;
  bool any_line = false;
  while (true) {
    std::vector<ProbeTarget> targets;
    std::vector<size_t> index;
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (!nodes[i].started || nodes[i].finished()) continue;
      targets.push_back({nodes[i].id, nodes[i].endpoint});
      index.push_back(i);
    }
    std::vector<Probe> probes = ProbeAll(ctx, targets);
    for (size_t k = 0; k < probes.size(); ++k) {
      RepairNode& n = nodes[index[k]];
      if (probes[k].status && probes[k].status->is_dynamo()) {
        n.last = probes[k].status->dynamo.repair;
        n.status_error.clear();
      } else {
        n.status_error = probes[k].status ? "it no longer answers as a dynamo node"
                                          : DescribeStatus(probes[k].error);
      }
    }
    bool all_done = std::all_of(nodes.begin(), nodes.end(), [](const RepairNode& n) {
      return !n.started || n.finished();
    });
    uint64_t now_ms = ctx.ElapsedMs();
    if (!all_done && (!any_line || now_ms >= last_line_ms + kRepairProgressInterval.count())) {
      ShowProgress(ctx, RepairProgressLine(command.dry_run, nodes, now_ms) + "\n", &kept);
      any_line = true;
      last_line_ms = now_ms;
    }
    if (all_done) break;
    if (!ctx.CanWait(kRepairPollInterval)) {
      std::vector<uint64_t> waiting;
      for (const RepairNode& n : nodes) {
        if (n.started && !n.finished()) waiting.push_back(n.id);
      }
      Output timeout = Failure(
          ExitCode::kUnreachable,
          fmt::format("timeout: the repair did not finish within {} ({}; still running on "
                      "node{} {}); it goes on in the background on the nodes",
                      FormatMs(static_cast<uint64_t>(ctx.invocation.global.timeout.count())),
                      RepairProgressLine(command.dry_run, nodes, now_ms).substr(
                          RepairProgressLine(command.dry_run, nodes, now_ms).find("] ") + 2),
                      waiting.size() == 1 ? "" : "s", fmt::join(waiting, ", ")));
      timeout.out = std::move(kept);
      return timeout;
    }
    ctx.backend.sleep(kRepairPollInterval);
  }
  RepairReport report = BuildRepairReport(command.dry_run, nodes, ring_from, ctx.ElapsedMs());
  report.notes.insert(report.notes.begin(), notes.begin(), notes.end());
  Output output = FormatRepair(report, ctx.format());
  output.out = kept + output.out;
  return output;
}

Output Dispatch(const Context& ctx, const ClusterAction& action) {
  using wire::AdminAction;
  return std::visit(
      [&](const auto& command) -> Output {
        using T = std::decay_t<decltype(command)>;
        if constexpr (std::is_same_v<T, ClusterStatusCommand>) {
          return RunClusterStatus(ctx, /*member_list=*/false);
        } else if constexpr (std::is_same_v<T, MemberListCommand>) {
          return RunClusterStatus(ctx, /*member_list=*/true);
        } else if constexpr (std::is_same_v<T, PromoteCommand>) {
          return RunPromote(ctx, command.node_id);
        } else if constexpr (std::is_same_v<T, TransferLeaderCommand>) {
          return RunTransfer(ctx, command);
        } else if constexpr (std::is_same_v<T, MemberAddCommand>) {
          return RunMemberChange(ctx, {AdminAction::kAddLearner, command.node_id,
                                       command.client_address, command.peer_address});
        } else if constexpr (std::is_same_v<T, MemberPromoteCommand>) {
          return RunMemberChange(ctx, {AdminAction::kPromoteLearner, command.node_id, "", ""});
        } else if constexpr (std::is_same_v<T, MemberRemoveCommand>) {
          return RunMemberChange(ctx, {AdminAction::kRemoveMember, command.node_id, "", ""});
        } else if constexpr (std::is_same_v<T, SnapshotCommand>) {
          return RunSnapshot(ctx, command.node_id);
        } else if constexpr (std::is_same_v<T, RingCommand>) {
          return RunRing(ctx, command);
        } else if constexpr (std::is_same_v<T, NodeJoinCommand>) {
          return RunRingChange(ctx, {true, command.node_id, command.wait_timeout},
                               AdminRequestFor(AdminAction::kAddLearner, command.node_id,
                                               command.client_address, command.peer_address));
        } else if constexpr (std::is_same_v<T, NodeDecommissionCommand>) {
          return RunRingChange(ctx, {false, command.node_id, command.wait_timeout},
                               AdminRequestFor(AdminAction::kRemoveMember, command.node_id));
        } else if constexpr (std::is_same_v<T, NodeStreamsCommand>) {
          return RunNodeStreams(ctx, command.pause);
        } else if constexpr (std::is_same_v<T, NodeStatusCommand>) {
          return RunNodeStatus(ctx, command);
        } else {
          static_assert(std::is_same_v<T, RepairCommand>);
          return RunRepair(ctx, command);
        }
      },
      action);
}

// ---- the real backend ----

// One client per address, without redirects: kvctl must know which node answered.
class NodeClients {
 public:
  explicit NodeClients(const GlobalOptions& global) : global_(global) {}

  std::vector<Result<wire::Response>> Call(const std::vector<NodeCall>& calls,
                                           std::chrono::milliseconds timeout) {
    std::vector<std::future<Result<wire::Response>>> futures;
    for (const NodeCall& call : calls) {
      auto promise = std::make_shared<std::promise<Result<wire::Response>>>();
      futures.push_back(promise->get_future());
      // Connect() can block for a server that accepts but never answers the HELLO; the
      // thread holds its client, which outlives the wait below if it is stuck (see run.cc).
      std::thread([client = ClientFor(call.endpoint), promise, request = call.request]() {
        Status connected = client->Connect();
        if (!connected.ok()) {
          promise->set_value(connected);
          return;
        }
        promise->set_value(client->Call(request));
      }).detach();
    }
    auto deadline = Clock::now() + timeout + kCallGrace;
    std::vector<Result<wire::Response>> results;
    for (size_t i = 0; i < calls.size(); ++i) {
      if (futures[i].wait_until(deadline) == std::future_status::ready) {
        results.push_back(futures[i].get());
      } else {
        results.push_back(Status::Timeout(
            fmt::format("no answer from {} within {} ms", calls[i].endpoint, timeout.count())));
      }
    }
    return results;
  }

 private:
  std::shared_ptr<client::Client> ClientFor(const std::string& endpoint) {
    std::lock_guard lock(mu_);
    std::shared_ptr<client::Client>& client = clients_[endpoint];
    if (!client) {
      client::ClientOptions options;
      options.endpoints = {endpoint};
      options.connect_timeout = global_.timeout;
      options.request_timeout = global_.timeout;
      options.client_name = "kvctl";
      options.follow_redirects = false;
      client = std::make_shared<client::Client>(std::move(options));
    }
    return client;
  }

  GlobalOptions global_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<client::Client>> clients_;
};

}  // namespace

Output RunClusterCommand(const Invocation& invocation, const ClusterBackend& backend) {
  const auto* command = std::get_if<ClusterCommand>(&invocation.command);
  KVD_ASSERT(command != nullptr);
  Clock::time_point start = backend.steady_now();
  Context ctx{invocation, backend, start, start + invocation.global.timeout};
  return Dispatch(ctx, command->action);
}

ClusterBackend MakeClusterBackend(const GlobalOptions& global,
                                  std::function<void(const std::string&)> progress) {
  auto clients = std::make_shared<NodeClients>(global);
  ClusterBackend backend;
  backend.progress = std::move(progress);
  backend.call = [clients](const std::vector<NodeCall>& calls, std::chrono::milliseconds timeout) {
    return clients->Call(calls, timeout);
  };
  backend.steady_now = [] { return Clock::now(); };
  backend.sleep = [](std::chrono::milliseconds duration) { std::this_thread::sleep_for(duration); };
  return backend;
}

}  // namespace kvd::kvctl
