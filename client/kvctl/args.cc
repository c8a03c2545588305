#include "client/kvctl/args.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <charconv>
#include <cstddef>
#include <limits>
#include <optional>
#include <sstream>

#include "client/kvctl/batch_script.h"
#include "client/kvctl/output.h"
#include "client/lib/client.h"
#include "common/config/config.h"
#include "common/wire/frame.h"

namespace kvd::kvctl {

namespace po = boost::program_options;

namespace {

constexpr std::string_view kDurationForms = "500ms, 5s, 2m, 1h, or a number of milliseconds";

// Abbreviated options would let a future option change what an old script means.
constexpr int kParserStyle =
    po::command_line_style::default_style & ~po::command_line_style::allow_guessing;

std::string Quoted(std::string_view text) { return EscapeBytes(text, /*quoted=*/true); }

Status Usage(std::string message) { return Status::InvalidArgument(std::move(message)); }

// ---- option values shared by the commands ----

std::optional<std::string> OptionalString(const po::variables_map& vm, const char* name) {
  if (vm.count(name) == 0) return std::nullopt;
  return vm[name].as<std::string>();
}

bool Flag(const po::variables_map& vm, const char* name) {
  return vm.count(name) != 0 && vm[name].as<bool>();
}

Status CheckKey(std::string_view command, std::string_view key) {
  if (key.empty()) return Usage(fmt::format("{}: KEY must not be empty", command));
  return Status::Ok();
}

// Checks the number of positional arguments against [min, max].
Status CheckPositionals(std::string_view command, std::string_view usage,
                        const std::vector<std::string>& args, size_t min, size_t max) {
  if (args.size() < min) {
    return Usage(fmt::format("{}: missing arguments (usage: kvctl {})", command, usage));
  }
  if (args.size() > max) {
    return Usage(fmt::format("{}: unexpected argument {} (usage: kvctl {})", command,
                             Quoted(args[max]), usage));
  }
  return Status::Ok();
}

Result<uint64_t> ParseTtl(const po::variables_map& vm) {
  std::optional<std::string> text = OptionalString(vm, "ttl");
  if (!text) return uint64_t{0};
  KVD_ASSIGN_OR_RETURN(std::chrono::milliseconds ttl, ParseDuration(*text));
  if (ttl.count() == 0) {
    return Usage("--ttl must be positive (leave it out for a key that never expires)");
  }
  return static_cast<uint64_t>(ttl.count());
}

// The value of put/cas: the VALUE argument (or stdin for "-"), or --file (stdin for "-").
Result<ValueSource> ValueSourceFor(std::string_view command, const std::string* argument,
                                   const po::variables_map& vm) {
  std::optional<std::string> file = OptionalString(vm, "file");
  if (argument != nullptr && file) {
    return Usage(fmt::format("{}: give the value as VALUE or with --file, not both", command));
  }
  if (argument != nullptr) {
    if (*argument == "-") return ValueSource{ValueSource::Kind::kStdin, ""};
    return ValueSource{ValueSource::Kind::kArgument, *argument};
  }
  if (file) {
    if (file->empty()) return Usage(fmt::format("{}: --file needs a path", command));
    if (*file == "-") return ValueSource{ValueSource::Kind::kStdin, ""};
    return ValueSource{ValueSource::Kind::kFile, *file};
  }
  return Usage(fmt::format(
      "{}: no value given (pass VALUE, \"-\" to read standard input, or --file PATH)", command));
}

// ---- the commands: options and parsers ----

void AddPutOptions(po::options_description* d) {
  d->add_options()("ttl", po::value<std::string>()->value_name("DURATION"),
                   "expire the key after DURATION (default: never)")(
      "file", po::value<std::string>()->value_name("PATH"),
      "read the value from the file PATH (\"-\": standard input), byte for byte");
}

void AddContextOption(po::options_description* d) {
  d->add_options()("context", po::value<std::string>()->value_name("HEX"),
                   "multi_leader: replace the siblings seen by the kvctl gets that printed HEX");
}

void AddPutCommandOptions(po::options_description* d) {
  AddPutOptions(d);
  AddContextOption(d);
}

void AddCasOptions(po::options_description* d) {
  d->add_options()("expect-version", po::value<std::string>()->value_name("N"),
                   "write only if the key is at version N (0: only if it is absent)")(
      "if-absent", po::bool_switch(), "write only if the key does not exist")(
      "delete", po::bool_switch(), "delete the key (only if at --expect-version N) instead");
  AddPutOptions(d);
}

void AddBatchOptions(po::options_description* d) {
  d->add_options()("file", po::value<std::string>()->value_name("PATH"),
                   "read the ops from PATH, one per line (\"-\": standard input)");
}

void AddScanOptions(po::options_description* d) {
  d->add_options()("prefix", po::value<std::string>()->value_name("P"),
                   "only keys that start with P")(
      "from", po::value<std::string>()->value_name("KEY"), "start at KEY (inclusive)")(
      "to", po::value<std::string>()->value_name("KEY"), "stop before KEY (exclusive)")(
      "limit", po::value<std::string>()->value_name("N"),
      "at most N items, fetching as many pages as needed (default: one page)")(
      "all", po::bool_switch(), "fetch every page to the end of the range")(
      "reverse", po::bool_switch(), "in descending key order")("keys-only", po::bool_switch(),
                                                               "without values")(
      "continuation", po::value<std::string>()->value_name("TOKEN"),
      "continue after the page that printed this TOKEN (hex)");
}

// --context HEX of put and del: the causal context a gets printed, as bytes; "" if absent.
Result<std::string> ParseContext(std::string_view command, const po::variables_map& vm) {
  std::optional<std::string> hex = OptionalString(vm, "context");
  if (!hex) return std::string();
  Result<std::string> bytes = ParseHex(*hex);
  if (!bytes.ok()) return bytes.status().WithContext(fmt::format("{}: --context", command));
  if (bytes->empty()) {
    return Usage(
        fmt::format("{}: --context needs the hex context that kvctl gets printed", command));
  }
  if (bytes->size() > wire::kMaxContextBytes) {
    return Usage(fmt::format("{}: --context is {} bytes; the limit is {}", command, bytes->size(),
                             wire::kMaxContextBytes));
  }
  return std::move(bytes).value();
}

Result<Command> ParseGet(const po::variables_map&, const std::vector<std::string>& args) {
  KVD_TRY(CheckPositionals("get", "get KEY", args, 1, 1));
  KVD_TRY(CheckKey("get", args[0]));
  return Command{GetCommand{args[0]}};
}

Result<Command> ParsePut(const po::variables_map& vm, const std::vector<std::string>& args) {
  KVD_TRY(CheckPositionals("put", "put KEY [VALUE] [--ttl DURATION] [--file PATH] [--context HEX]",
                           args, 1, 2));
  KVD_TRY(CheckKey("put", args[0]));
  PutCommand put;
  put.key = args[0];
  KVD_ASSIGN_OR_RETURN(put.value, ValueSourceFor("put", args.size() > 1 ? &args[1] : nullptr, vm));
  KVD_ASSIGN_OR_RETURN(put.ttl_ms, ParseTtl(vm));
  KVD_ASSIGN_OR_RETURN(put.context, ParseContext("put", vm));
  return Command{std::move(put)};
}

Result<Command> ParseDelete(const po::variables_map& vm, const std::vector<std::string>& args) {
  KVD_TRY(CheckPositionals("del", "del KEY [--context HEX]", args, 1, 1));
  KVD_TRY(CheckKey("del", args[0]));
  DeleteCommand del;
  del.key = args[0];
  KVD_ASSIGN_OR_RETURN(del.context, ParseContext("del", vm));
  return Command{std::move(del)};
}

Result<Command> ParseCasDelete(const po::variables_map& vm, const std::vector<std::string>& args) {
  if (Flag(vm, "if-absent")) return Usage("cas: --delete and --if-absent cannot be combined");
  if (vm.count("file") != 0 || vm.count("ttl") != 0) {
    return Usage("cas: --delete takes no value, --file or --ttl");
  }
  KVD_TRY(CheckPositionals("cas", "cas --delete KEY --expect-version N", args, 1, 1));
  KVD_TRY(CheckKey("cas", args[0]));
  std::optional<std::string> expect = OptionalString(vm, "expect-version");
  if (!expect) return Usage("cas: --delete needs --expect-version N");
  KVD_ASSIGN_OR_RETURN(uint64_t version, ParseUnsigned(*expect, "--expect-version"));
  if (version == 0) {
    return Usage(
        "cas: --delete needs --expect-version N with N >= 1 (an absent key cannot "
        "be deleted)");
  }
  CasCommand cas;
  cas.kind = wire::CasKind::kDeleteIfVersion;
  cas.key = args[0];
  cas.expected_version = version;
  return Command{std::move(cas)};
}

Result<Command> ParseCas(const po::variables_map& vm, const std::vector<std::string>& args) {
  if (Flag(vm, "delete")) return ParseCasDelete(vm, args);
  KVD_TRY(CheckPositionals(
      "cas", "cas KEY [VALUE] (--expect-version N | --if-absent) [--ttl DURATION] [--file PATH]",
      args, 1, 2));
  KVD_TRY(CheckKey("cas", args[0]));
  std::optional<std::string> expect = OptionalString(vm, "expect-version");
  bool if_absent = Flag(vm, "if-absent");
  if (expect && if_absent) return Usage("cas: give --expect-version N or --if-absent, not both");
  if (!expect && !if_absent) return Usage("cas: needs --expect-version N or --if-absent");
  CasCommand cas;
  cas.key = args[0];
  if (if_absent) {
    cas.kind = wire::CasKind::kPutIfAbsent;
  } else {
    // --expect-version 0 stays a put-if-version: the server treats version 0 as "absent".
    cas.kind = wire::CasKind::kPutIfVersion;
    KVD_ASSIGN_OR_RETURN(cas.expected_version, ParseUnsigned(*expect, "--expect-version"));
  }
  KVD_ASSIGN_OR_RETURN(cas.value, ValueSourceFor("cas", args.size() > 1 ? &args[1] : nullptr, vm));
  KVD_ASSIGN_OR_RETURN(cas.ttl_ms, ParseTtl(vm));
  return Command{std::move(cas)};
}

Result<Command> ParseBatch(const po::variables_map& vm, const std::vector<std::string>& args) {
  std::optional<std::string> file = OptionalString(vm, "file");
  if (file && !args.empty()) return Usage("batch: give the ops as words or with --file, not both");
  if (file) {
    if (file->empty()) return Usage("batch: --file needs a path");
    return Command{BatchCommand{{}, *file}};
  }
  if (args.empty()) {
    return Usage("batch: no ops given (e.g. kvctl batch put a 1 get b), or use --file PATH");
  }
  Result<std::vector<wire::BatchOp>> ops = ParseBatchWords(args);
  if (!ops.ok()) return ops.status().WithContext("batch");
  return Command{BatchCommand{std::move(ops).value(), ""}};
}

Result<Command> ParseScan(const po::variables_map& vm, const std::vector<std::string>& args) {
  if (!args.empty()) {
    return Usage(
        fmt::format("scan: unexpected argument {} (select keys with --prefix, --from "
                    "and --to)",
                    Quoted(args[0])));
  }
  ScanCommand scan;
  scan.prefix = OptionalString(vm, "prefix").value_or("");
  scan.from = OptionalString(vm, "from").value_or("");
  scan.to = OptionalString(vm, "to").value_or("");
  scan.reverse = Flag(vm, "reverse");
  scan.keys_only = Flag(vm, "keys-only");
  scan.all = Flag(vm, "all");
  if (std::optional<std::string> limit = OptionalString(vm, "limit")) {
    if (scan.all) return Usage("scan: --all and --limit cannot be combined");
    KVD_ASSIGN_OR_RETURN(uint64_t n,
                         ParseUnsigned(*limit, "--limit", std::numeric_limits<uint32_t>::max()));
    if (n == 0) return Usage("scan: --limit must be at least 1");
    scan.limit = static_cast<uint32_t>(n);
  }
  if (!scan.to.empty() && scan.from >= scan.to) {
    return Usage("scan: --from must be below --to (--from is inclusive, --to exclusive)");
  }
  if (std::optional<std::string> token = OptionalString(vm, "continuation")) {
    Result<std::string> bytes = ParseHex(*token);
    if (!bytes.ok()) return bytes.status().WithContext("scan: --continuation");
    if (bytes->empty()) return Usage("scan: --continuation needs a token");
    scan.continuation = std::move(bytes).value();
  }
  return Command{std::move(scan)};
}

Result<Command> ParsePing(const po::variables_map&, const std::vector<std::string>& args) {
  KVD_TRY(CheckPositionals("ping", "ping [PAYLOAD]", args, 0, 1));
  PingCommand ping;
  if (!args.empty()) ping.payload = args[0];
  if (ping.payload.size() > wire::kMaxPingPayloadBytes) {
    return Usage(fmt::format("ping: PAYLOAD is {} bytes; the limit is {}", ping.payload.size(),
                             wire::kMaxPingPayloadBytes));
  }
  return Command{std::move(ping)};
}

Result<Command> ParseStatus(const po::variables_map&, const std::vector<std::string>& args) {
  KVD_TRY(CheckPositionals("status", "status", args, 0, 0));
  return Command{StatusCommand{}};
}

// ---- multi_leader data types ----

Result<Command> ParseGets(const po::variables_map&, const std::vector<std::string>& args) {
  KVD_TRY(CheckPositionals("gets", "gets KEY", args, 1, 1));
  KVD_TRY(CheckKey("gets", args[0]));
  return Command{GetsCommand{args[0]}};
}

Result<Command> ParseIncr(const po::variables_map&, const std::vector<std::string>& args) {
  KVD_TRY(CheckPositionals("incr", "incr KEY [AMOUNT]", args, 1, 2));
  KVD_TRY(CheckKey("incr", args[0]));
  IncrCommand incr{args[0], 1};
  if (args.size() > 1) {
    Result<int64_t> amount = ParseSigned(args[1], "AMOUNT");
    if (!amount.ok()) return amount.status().WithContext("incr");
    incr.amount = *amount;
  }
  return Command{std::move(incr)};
}

// decr sends -AMOUNT; AMOUNT >= 1 is at most the largest int64, so its negation fits.
Result<Command> ParseDecr(const po::variables_map&, const std::vector<std::string>& args) {
  KVD_TRY(CheckPositionals("decr", "decr KEY [AMOUNT]", args, 1, 2));
  KVD_TRY(CheckKey("decr", args[0]));
  IncrCommand decr{args[0], -1};
  if (args.size() > 1) {
    Result<int64_t> amount = ParseSigned(args[1], "AMOUNT");
    if (!amount.ok()) return amount.status().WithContext("decr");
    if (*amount < 1) {
      return Usage(fmt::format("decr: AMOUNT must be at least 1 (got {})", Quoted(args[1])));
    }
    decr.amount = -*amount;
  }
  return Command{std::move(decr)};
}

Result<Command> ParseSetOp(std::string_view command, SetOpCommand::Kind kind,
                           const std::vector<std::string>& args) {
  std::string usage = fmt::format("{} KEY ELEMENT...", command);
  KVD_TRY(CheckPositionals(command, usage, args, 2, std::numeric_limits<size_t>::max()));
  KVD_TRY(CheckKey(command, args[0]));
  SetOpCommand op;
  op.kind = kind;
  op.key = args[0];
  op.elements.assign(args.begin() + 1, args.end());
  return Command{std::move(op)};
}

Result<Command> ParseSadd(const po::variables_map&, const std::vector<std::string>& args) {
  return ParseSetOp("sadd", SetOpCommand::Kind::kAdd, args);
}

Result<Command> ParseSrem(const po::variables_map&, const std::vector<std::string>& args) {
  return ParseSetOp("srem", SetOpCommand::Kind::kRemove, args);
}

Result<Command> ParseSmembers(const po::variables_map&, const std::vector<std::string>& args) {
  KVD_TRY(CheckPositionals("smembers", "smembers KEY", args, 1, 1));
  KVD_TRY(CheckKey("smembers", args[0]));
  return Command{SmembersCommand{args[0]}};
}

// ---- cluster commands ----

Result<uint64_t> ParseNodeId(std::string_view command, std::string_view text,
                             std::string_view what = "NODE_ID") {
  Result<uint64_t> id = ParseUnsigned(text, what, kMaxNodeId);
  if (!id.ok()) return id.status().WithContext(command);
  if (*id == 0) return Usage(fmt::format("{}: {} must be at least 1", command, what));
  return id;
}

// A member address for `member add` and `node join`: host:port with a real port, within
// the wire limit.
Result<std::string> ParseMemberAddress(const po::variables_map& vm, const char* option,
                                       std::string_view command = "member add") {
  std::optional<std::string> text = OptionalString(vm, option);
  if (!text) {
    return Usage(fmt::format("{}: needs --client HOST:PORT and --peer HOST:PORT (missing --{})",
                             command, option));
  }
  std::string host;
  uint16_t port = 0;
  Status valid = client::ParseEndpoint(*text, &host, &port);
  // ParseEndpoint also refuses port 0: a member needs a real port.
  if (!valid.ok()) return valid.WithContext(fmt::format("{}: --{}", command, option));
  if (text->size() > wire::kMaxAdminAddressBytes) {
    return Usage(fmt::format("{}: --{} is longer than {} bytes", command, option,
                             wire::kMaxAdminAddressBytes));
  }
  return *text;
}

void AddSwitchoverOptions(po::options_description* d) {
  d->add_options()("to", po::value<std::string>()->value_name("NODE_ID"),
                   "the voter to hand over to (default: the most up-to-date voter)");
}

void AddMemberAddOptions(po::options_description* d) {
  d->add_options()("client", po::value<std::string>()->value_name("HOST:PORT"),
                   "where clients reach the new node (its cluster.members client address)")(
      "peer", po::value<std::string>()->value_name("HOST:PORT"),
      "where the other nodes reach it (its cluster.members peer address)");
}

Command Cluster(ClusterAction action) { return Command{ClusterCommand{std::move(action)}}; }

Result<Command> ParseClusterStatus(const po::variables_map&, const std::vector<std::string>& args) {
  KVD_TRY(CheckPositionals("cluster status", "cluster status", args, 0, 0));
  return Cluster(ClusterStatusCommand{});
}

Result<Command> ParsePromote(const po::variables_map&, const std::vector<std::string>& args) {
  KVD_TRY(CheckPositionals("promote", "promote NODE_ID", args, 1, 1));
  KVD_ASSIGN_OR_RETURN(uint64_t id, ParseNodeId("promote", args[0]));
  return Cluster(PromoteCommand{id});
}

Result<Command> ParseTransferLeader(const po::variables_map&,
                                    const std::vector<std::string>& args) {
  KVD_TRY(CheckPositionals("transfer-leader", "transfer-leader [NODE_ID]", args, 0, 1));
  TransferLeaderCommand transfer;
  if (!args.empty()) {
    KVD_ASSIGN_OR_RETURN(transfer.node_id, ParseNodeId("transfer-leader", args[0]));
  }
  return Cluster(transfer);
}

Result<Command> ParseSwitchover(const po::variables_map& vm, const std::vector<std::string>& args) {
  if (!args.empty()) {
    return Usage(
        fmt::format("switchover: unexpected argument {} (usage: kvctl switchover [--to NODE_ID])",
                    Quoted(args[0])));
  }
  TransferLeaderCommand switchover;
  switchover.switchover = true;
  if (std::optional<std::string> to = OptionalString(vm, "to")) {
    KVD_ASSIGN_OR_RETURN(switchover.node_id, ParseNodeId("switchover", *to, "--to"));
  }
  return Cluster(switchover);
}

Result<Command> ParseMemberAdd(const po::variables_map& vm, const std::vector<std::string>& args) {
  KVD_TRY(CheckPositionals("member add", "member add NODE_ID --client HOST:PORT --peer HOST:PORT",
                           args, 1, 1));
  MemberAddCommand add;
  KVD_ASSIGN_OR_RETURN(add.node_id, ParseNodeId("member add", args[0]));
  KVD_ASSIGN_OR_RETURN(add.client_address, ParseMemberAddress(vm, "client"));
  KVD_ASSIGN_OR_RETURN(add.peer_address, ParseMemberAddress(vm, "peer"));
  if (add.client_address == add.peer_address) {
    return Usage("member add: --client and --peer must be different addresses");
  }
  return Cluster(std::move(add));
}

Result<Command> ParseMemberPromote(const po::variables_map&, const std::vector<std::string>& args) {
  KVD_TRY(CheckPositionals("member promote", "member promote NODE_ID", args, 1, 1));
  KVD_ASSIGN_OR_RETURN(uint64_t id, ParseNodeId("member promote", args[0]));
  return Cluster(MemberPromoteCommand{id});
}

Result<Command> ParseMemberRemove(const po::variables_map&, const std::vector<std::string>& args) {
  KVD_TRY(CheckPositionals("member remove", "member remove NODE_ID", args, 1, 1));
  KVD_ASSIGN_OR_RETURN(uint64_t id, ParseNodeId("member remove", args[0]));
  return Cluster(MemberRemoveCommand{id});
}

Result<Command> ParseMemberList(const po::variables_map&, const std::vector<std::string>& args) {
  KVD_TRY(CheckPositionals("member list", "member list", args, 0, 0));
  return Cluster(MemberListCommand{});
}

Result<Command> ParseSnapshot(const po::variables_map&, const std::vector<std::string>& args) {
  KVD_TRY(CheckPositionals("snapshot", "snapshot [NODE_ID]", args, 0, 1));
  SnapshotCommand snapshot;
  if (!args.empty()) {
    KVD_ASSIGN_OR_RETURN(snapshot.node_id, ParseNodeId("snapshot", args[0]));
  }
  return Cluster(snapshot);
}

void AddRingOptions(po::options_description* d) {
  d->add_options()("tokens", po::bool_switch(),
                   "table: list each node's tokens under its row (ascending, decimal)");
}

Result<Command> ParseRing(const po::variables_map& vm, const std::vector<std::string>& args) {
  KVD_TRY(CheckPositionals("ring", "ring [--tokens]", args, 0, 0));
  return Cluster(RingCommand{Flag(vm, "tokens")});
}

// ---- dynamo ring membership: kvctl node ----

void AddWaitOption(po::options_description* d) {
  d->add_options()("wait", po::bool_switch(),
                   "wait until the change has finished on every node, printing its progress "
                   "(--timeout, default here 10m, bounds the wait)");
}

void AddNodeJoinOptions(po::options_description* d) {
  d->add_options()("client", po::value<std::string>()->value_name("HOST:PORT"),
                   "where clients reach the new node (its cluster.members client address)")(
      "peer", po::value<std::string>()->value_name("HOST:PORT"),
      "where the other nodes reach it (its cluster.members peer address)");
  AddWaitOption(d);
}

void AddNodeStatusOptions(po::options_description* d) {
  d->add_options()("sample", po::value<std::string>()->value_name("DURATION"),
                   "time between the two rounds of STATUS that RATE and ETA are measured over "
                   "(default 1s; 0: one round, no RATE or ETA)");
}

// With --wait: how long to wait (--timeout if given, else kDefaultRingWaitTimeout); 0
// without --wait. --timeout itself was checked with the global options.
Result<std::chrono::milliseconds> ParseWaitTimeout(const po::variables_map& vm) {
  if (!Flag(vm, "wait")) return std::chrono::milliseconds(0);
  std::optional<std::string> timeout = OptionalString(vm, "timeout");
  if (!timeout) return kDefaultRingWaitTimeout;
  return ParseDuration(*timeout);
}

Result<Command> ParseNodeJoin(const po::variables_map& vm, const std::vector<std::string>& args) {
  KVD_TRY(CheckPositionals("node join",
                           "node join NODE_ID --client HOST:PORT --peer HOST:PORT [--wait]", args,
                           1, 1));
  NodeJoinCommand join;
  KVD_ASSIGN_OR_RETURN(join.node_id, ParseNodeId("node join", args[0]));
  KVD_ASSIGN_OR_RETURN(join.client_address, ParseMemberAddress(vm, "client", "node join"));
  KVD_ASSIGN_OR_RETURN(join.peer_address, ParseMemberAddress(vm, "peer", "node join"));
  if (join.client_address == join.peer_address) {
    return Usage("node join: --client and --peer must be different addresses");
  }
  KVD_ASSIGN_OR_RETURN(join.wait_timeout, ParseWaitTimeout(vm));
  return Cluster(std::move(join));
}

Result<Command> ParseNodeDecommission(const po::variables_map& vm,
                                      const std::vector<std::string>& args) {
  KVD_TRY(CheckPositionals("node decommission", "node decommission NODE_ID [--wait]", args, 1,
                           1));
  NodeDecommissionCommand decommission;
  KVD_ASSIGN_OR_RETURN(decommission.node_id, ParseNodeId("node decommission", args[0]));
  KVD_ASSIGN_OR_RETURN(decommission.wait_timeout, ParseWaitTimeout(vm));
  return Cluster(decommission);
}

Result<Command> ParseNodePause(const po::variables_map&, const std::vector<std::string>& args) {
  KVD_TRY(CheckPositionals("node pause", "node pause", args, 0, 0));
  return Cluster(NodeStreamsCommand{true});
}

Result<Command> ParseNodeResume(const po::variables_map&, const std::vector<std::string>& args) {
  KVD_TRY(CheckPositionals("node resume", "node resume", args, 0, 0));
  return Cluster(NodeStreamsCommand{false});
}

Result<Command> ParseNodeStatus(const po::variables_map& vm,
                                const std::vector<std::string>& args) {
  KVD_TRY(CheckPositionals("node status", "node status [--sample DURATION]", args, 0, 0));
  NodeStatusCommand status;
  if (std::optional<std::string> text = OptionalString(vm, "sample")) {
    Result<std::chrono::milliseconds> sample = ParseDuration(*text);
    if (!sample.ok()) return sample.status().WithContext("node status: --sample");
    if (*sample > kMaxRateSample) {
      return Usage(fmt::format("node status: --sample must be at most {}",
                               FormatTtl(static_cast<uint64_t>(kMaxRateSample.count()))));
    }
    status.sample = *sample;
  }
  return Cluster(status);
}

// ---- dynamo on-demand repair: kvctl repair ----

void AddRepairOptions(po::options_description* d) {
  d->add_options()("dry-run", po::bool_switch(),
                   "only compare the Merkle roots and list the ranges that differ; change "
                   "nothing")("node", po::value<std::string>()->value_name("NODE_ID"),
                              "ask only this ring member (default: every member that answers)");
}

Result<Command> ParseRepair(const po::variables_map& vm, const std::vector<std::string>& args) {
  KVD_TRY(CheckPositionals("repair", "repair [--dry-run] [--node NODE_ID]", args, 0, 0));
  RepairCommand repair;
  repair.dry_run = Flag(vm, "dry-run");
  if (std::optional<std::string> node = OptionalString(vm, "node")) {
    KVD_ASSIGN_OR_RETURN(repair.node_id, ParseNodeId("repair", *node, "--node"));
  }
  return Cluster(repair);
}

struct CommandSpec {
  std::string_view name;
  std::string_view usage;                         // after "Usage: "
  std::string_view summary;                       // one line in the command list
  std::string_view description;                   // what it does, its output formats
  std::string_view examples;                      // one command per line
  void (*add_options)(po::options_description*);  // nullptr: only global options
  Result<Command> (*parse)(const po::variables_map&, const std::vector<std::string>&);
  // --timeout when not given: commands that wait for the cluster to change take longer.
  std::chrono::milliseconds default_timeout = kDefaultTimeout;
  bool cluster = false;  // listed under "Cluster commands" in the general help
};

// Command groups: the spec names "cluster status", "member add", ... start with these.
constexpr std::string_view kGroups[] = {"cluster", "member", "node"};

bool IsGroup(std::string_view word) {
  return std::find(std::begin(kGroups), std::end(kGroups), word) != std::end(kGroups);
}

const CommandSpec kCommands[] = {
    {"get", "kvctl [global options] get KEY", "print the value stored under KEY",
     "Prints the value stored under KEY. A missing or expired key exits 1.\n"
     "Output: table: the value and a newline, with '\\' shown as \\\\ and bytes that are not\n"
     "printable as \\xNN; raw: the exact value bytes, no newline; json: {\"key\":...,\n"
     "\"value\":...,\"version\":N,\"expires_at_ms\":N} (expires_at_ms 0: never), with\n"
     "\"key_base64\"/\"value_base64\" instead when the bytes are not valid UTF-8.\n"
     "\n"
     "Siblings (multi_leader keys with the siblings resolver): while concurrent writes have\n"
     "left KEY with several values, it has no single value. kvctl then reads them all, as\n"
     "kvctl gets does, prints them with the causal context that resolves them, and exits 3\n"
     "(the exit code of a conflict; scripts that expect one value must check for it):\n"
     "  table:    key \"KEY\" has N siblings (concurrent writes):\n"
     "              WALL_MS.LOGICAL VALUE   (one line per sibling, as kvctl gets prints it)\n"
     "            -- resolve: kvctl put KEY VALUE --context HEX\n"
     "  raw/json: exactly what kvctl gets prints in that format (json: {\"key\":...,\n"
     "            \"siblings\":[...],\"context\":\"HEX\"}), and one line on stderr saying why.\n"
     "Write the value you choose with that put (or kvctl del KEY --context HEX) to resolve\n"
     "them. If reading the siblings fails, kvctl prints the server's conflict and the\n"
     "command to read them (kvctl gets KEY), and still exits 3.",
     "kvctl get greeting\n"
     "kvctl get blob --output raw > blob.bin\n"
     "kvctl get greeting --output json",
     nullptr, ParseGet},
    {"gets", "kvctl [global options] gets KEY",
     "multi_leader: print every sibling of KEY and the context to resolve them",
     "Prints every sibling of KEY, then its causal context. Siblings are the values that\n"
     "concurrent writes on different nodes left side by side in a multi_leader key with the\n"
     "siblings resolver (while there are several, kvctl get prints them too, and exits 3); an\n"
     "lww key has at most one. Each sibling comes with its timestamp, the writing node's\n"
     "hybrid logical clock as WALL_MS.LOGICAL. To resolve them, write the value you choose\n"
     "with the context: kvctl put KEY VALUE --context HEX (or kvctl del KEY --context HEX);\n"
     "that write replaces the siblings this read saw. A key with no value exits 1. Other\n"
     "topologies answer unsupported (exit 4).\n"
     "Output: table: one line per sibling, \"WALL_MS.LOGICAL VALUE\" (the value escaped as by\n"
     "get), then \"context: HEX\"; raw: the context in hex on the first line, then one line\n"
     "per sibling, WALL_MS.LOGICAL<TAB>VALUE (the exact bytes); json {\"key\":...,\n"
     "\"siblings\":[{\"timestamp\":\"WALL_MS.LOGICAL\",\"value\":...}],\"context\":\"HEX\"}\n"
     "(\"value_base64\" when the bytes are not valid UTF-8).",
     "kvctl gets cart/42\n"
     "kvctl put cart/42 apples,pears --context 0a0102\n"
     "kvctl gets cart/42 --output json | jq -r .context",
     nullptr, ParseGets},
    {"put", "kvctl [global options] put KEY [VALUE] [--ttl DURATION] [--file PATH] [--context HEX]",
     "store a value under KEY",
     "Stores a value under KEY, replacing any previous one, and prints the key's new version.\n"
     "The value is exactly one of: the VALUE argument; the bytes of --file PATH; standard\n"
     "input, when VALUE (or PATH) is \"-\". Keys and values are arbitrary bytes.\n"
     "multi_leader siblings keys: without --context the write is one more sibling of the\n"
     "values it did not see; with --context HEX (printed by kvctl gets) it replaces the\n"
     "siblings that gets saw.\n"
     "Output: table \"OK version=N\"; raw \"N\"; json {\"version\":N}.",
     "kvctl put greeting hello\n"
     "kvctl put --ttl 60s session/42 token\n"
     "kvctl put config.json --file ./config.json\n"
     "printf 'binary\\x00value' | kvctl put blob -\n"
     "kvctl put cart/42 apples,pears --context 0a0102",
     AddPutCommandOptions, ParsePut},
    {"del", "kvctl [global options] del KEY [--context HEX]", "delete KEY",
     "Deletes KEY. Deleting a key that does not exist is not an error (exit 0), as in etcd and\n"
     "Redis. multi_leader siblings keys: with --context HEX (printed by kvctl gets) the delete\n"
     "removes the siblings that gets saw.\n"
     "Output: table \"deleted\" or \"not found (nothing deleted)\"; raw \"1\" or \"0\"; json\n"
     "{\"deleted\":true|false}.",
     "kvctl del session/42\n"
     "kvctl del session/42 --output json\n"
     "kvctl del cart/42 --context 0a0102",
     AddContextOption, ParseDelete},
    {"cas",
     "kvctl [global options] cas KEY [VALUE] (--expect-version N | --if-absent)\n"
     "                                  [--ttl DURATION] [--file PATH]\n"
     "       kvctl [global options] cas --delete KEY --expect-version N",
     "compare-and-set: write or delete KEY only if it is at a given version",
     "Compare-and-set. Writes the value only if KEY is at version N (--expect-version N; 0\n"
     "means the key must be absent) or does not exist (--if-absent). With --delete, deletes\n"
     "KEY only if it is at version N. The value comes from VALUE, --file PATH or standard\n"
     "input (\"-\"), as for put. If the condition does not hold nothing is written, and kvctl\n"
     "exits 3 with \"kvctl: conflict: <reason> (current version N)\" (0: absent).\n"
     "Output: table \"OK version=N\" (--delete: \"deleted\"); raw \"N\" (--delete: \"1\");\n"
     "json {\"version\":N} (--delete: {\"deleted\":true}).",
     "kvctl cas greeting \"hello, world\" --expect-version 1\n"
     "kvctl cas lock/leader node-1 --if-absent --ttl 10s\n"
     "kvctl cas --delete greeting --expect-version 3",
     AddCasOptions, ParseCas},
    {"batch",
     "kvctl [global options] batch OP...\n"
     "       kvctl [global options] batch --file PATH",
     "run several ops atomically (all or nothing)",
     "Runs ops in order, atomically: if any check fails, no op has any effect, and kvctl exits\n"
     "3 naming the op. Ops are numbered from 0:\n"
     "  put KEY VALUE       store VALUE under KEY (batch puts carry no TTL)\n"
     "  get KEY             read KEY, as the batch has left it so far\n"
     "  del KEY             delete KEY\n"
     "  check KEY VERSION   require KEY to be at VERSION (0: absent)\n"
     "On the command line each argument is one word, taken literally; put \"--\" before the\n"
     "ops if a word starts with '-'. With --file (\"-\": standard input) there is one op per\n"
     "line; a word with spaces, '\"' or bytes that are not printable goes in double quotes,\n"
     "where \\\\ \\\" \\n \\r \\t \\0 and \\xNN are escapes; empty lines and lines starting\n"
     "with '#' are skipped.\n"
     "Output: table and raw: one line per op, e.g. \"0 put a -> version 7\",\n"
     "\"1 get b -> \\\"x\\\" (version 5)\" or \"1 get b -> not found\", \"2 del c -> deleted\",\n"
     "\"3 check a -> ok (version 7)\"; json {\"results\":[{\"op\":\"put\",\"key\":...},...]}.",
     "kvctl batch put user/1 ada put user/2 grace\n"
     "kvctl batch check user/1 5 del user/3 get user/2\n"
     "kvctl batch --file ops.txt",
     AddBatchOptions, ParseBatch},
    {"scan",
     "kvctl [global options] scan [--prefix P] [--from KEY] [--to KEY] [--limit N | --all]\n"
     "                                   [--reverse] [--keys-only] [--continuation TOKEN]",
     "list keys by prefix or range, in pages",
     "Lists keys in order (descending with --reverse) with their versions and values. The\n"
     "range is [--from, --to) within --prefix; every bound is optional. Without --limit or\n"
     "--all, one page is fetched (the server's page size). --limit N fetches pages until it\n"
     "has N items; --all fetches every page to the end (and holds them all in memory). If\n"
     "more items remain, the table ends with \"-- more: kvctl scan ... --continuation TOKEN\":\n"
     "run that command for the next page (same --prefix, --from, --to and --reverse).\n"
     "Output: table: columns KEY, VERSION, TTL (only if some key expires), VALUE (cut to 120\n"
     "columns); raw: one line per item, KEY<TAB>VALUE (just KEY with --keys-only), the\n"
     "\"-- more\" line on stderr; json "
     "{\"items\":[{\"key\":...,\"version\":N,\"expires_at_ms\":N,\"value\":...}],\n"
     "\"continuation\":\"hex, empty at the end\"}.",
     "kvctl scan --prefix user/\n"
     "kvctl scan --prefix user/ --reverse --limit 1\n"
     "kvctl scan --from a --to m --keys-only --all --output raw",
     AddScanOptions, ParseScan},
    {"incr", "kvctl [global options] incr KEY [AMOUNT]",
     "multi_leader: add AMOUNT (default 1) to the counter KEY; print its value",
     "Adds AMOUNT (a decimal integer, default 1; negative subtracts, 0 only reads) to the\n"
     "counter KEY, a multi_leader key with the counter resolver, and prints the counter's new\n"
     "value on the node that answered. Increments made on different nodes at the same time all\n"
     "count: the nodes converge on the sum. Put \"--\" before a negative AMOUNT. Other\n"
     "topologies answer unsupported (exit 4).\n"
     "Output: table and raw: the value, e.g. \"42\"; json {\"value\":42}.",
     "kvctl incr count/visits\n"
     "kvctl incr count/stock 10\n"
     "kvctl incr count/stock -- -3",
     nullptr, ParseIncr},
    {"decr", "kvctl [global options] decr KEY [AMOUNT]",
     "multi_leader: subtract AMOUNT (default 1) from the counter KEY; print its value",
     "Subtracts AMOUNT (a positive decimal integer, default 1) from the counter KEY, a\n"
     "multi_leader key with the counter resolver: the same as kvctl incr KEY -AMOUNT. Prints\n"
     "the counter's new value on the node that answered. Other topologies answer\n"
     "unsupported (exit 4).\n"
     "Output: table and raw: the value, e.g. \"41\"; json {\"value\":41}.",
     "kvctl decr count/stock\n"
     "kvctl decr count/stock 5 --output json",
     nullptr, ParseDecr},
    {"sadd", "kvctl [global options] sadd KEY ELEMENT...",
     "multi_leader: add elements to the set KEY",
     "Adds each ELEMENT to the set KEY, a multi_leader key with the set resolver (an add-wins\n"
     "set: an add and a concurrent remove of the same element on different nodes keep it).\n"
     "kvctl sends one request per element, in order, and prints for each whether it was added\n"
     "or already present on the node that answered. If a request fails, kvctl stops there:\n"
     "the requests before it were applied, the ones after it were not sent. Other topologies\n"
     "answer unsupported (exit 4).\n"
     "Output: table: one line per element, \"ELEMENT\": added or \"ELEMENT\": already present;\n"
     "raw: one line per element, \"1\" (added) or \"0\"; json {\"key\":...,\n"
     "\"results\":[{\"element\":...,\"added\":true|false}]}.",
     "kvctl sadd tags/42 red green\n"
     "kvctl sadd tags/42 blue --output json",
     nullptr, ParseSadd},
    {"srem", "kvctl [global options] srem KEY ELEMENT...",
     "multi_leader: remove elements from the set KEY",
     "Removes each ELEMENT from the set KEY, a multi_leader key with the set resolver (an\n"
     "add-wins set: a remove does not undo an add it has not seen). kvctl sends one request\n"
     "per element, in order, and prints for each whether it was removed or was not present\n"
     "on the node that answered; removing a missing element is not an error. If a request\n"
     "fails, kvctl stops there: the requests before it were applied, the ones after it were\n"
     "not sent. Other topologies answer unsupported (exit 4).\n"
     "Output: table: one line per element, \"ELEMENT\": removed or \"ELEMENT\": not present;\n"
     "raw: one line per element, \"1\" (removed) or \"0\"; json {\"key\":...,\n"
     "\"results\":[{\"element\":...,\"removed\":true|false}]}.",
     "kvctl srem tags/42 red\n"
     "kvctl srem tags/42 green blue --output raw",
     nullptr, ParseSrem},
    {"smembers", "kvctl [global options] smembers KEY",
     "multi_leader: list the members of the set KEY",
     "Lists the members of the set KEY, a multi_leader key with the set resolver, in bytewise\n"
     "order, as the node that answered has them. A missing key is an empty set (exit 0).\n"
     "Other topologies answer unsupported (exit 4).\n"
     "Output: table: one member per line, escaped as by get (\"(no members)\" for an empty\n"
     "set); raw: one member per line, the exact bytes; json: an array of the members, e.g.\n"
     "[\"green\",\"red\"], a member that is not valid UTF-8 as {\"base64\":...}.",
     "kvctl smembers tags/42\n"
     "kvctl smembers tags/42 --output json | jq length",
     nullptr, ParseSmembers},
    {"ping", "kvctl [global options] ping [PAYLOAD]",
     "check that the server answers; print the round-trip time",
     "Sends a ping (with PAYLOAD, echoed back) and measures the round trip, connection set-up\n"
     "excluded.\n"
     "Output: table \"PONG 0.21 ms\" (then the echoed payload, if any); raw: the round trip\n"
     "in milliseconds; json {\"rtt_ms\":0.21} (plus \"payload\").",
     "kvctl ping\n"
     "kvctl --endpoints 10.0.0.5:7379 --timeout 500ms ping\n"
     "kvctl ping hello",
     nullptr, ParsePing},
    {"status", "kvctl [global options] status", "show the server's status",
     "Shows the status document of the server kvctl connected to: node id, mode, role,\n"
     "revisions, key count, connections, ...\n"
     "Output: table: \"name: value\" lines (nested fields as parent.child); json and raw: the\n"
     "document as the server sent it.",
     "kvctl status\n"
     "kvctl status --output json | jq .role",
     nullptr, ParseStatus},
    {"cluster status", "kvctl [global options] cluster status",
     "each node: leader_follower role and lag, multi_leader progress, dynamo up/down and hints",
     "Works for leader_follower, multi_leader and dynamo clusters (the node at --endpoints\n"
     "says which).\n"
     "\n"
     "leader_follower: asks the nodes at --endpoints for their status, finds the members (the\n"
     "ids in the membership and the nodes' configured cluster.members), asks every member at\n"
     "once (each within --timeout), and prints one row per node:\n"
     "  ID            node id\n"
     "  CLIENT        the address clients use (where it answered, or its configuration)\n"
     "  ROLE          as the node reports it: leader, follower, candidate, pre_candidate,\n"
     "                learner, non_member; \"unreachable\" if it did not answer; \"unknown\"\n"
     "                if kvctl does not know its address (list it in --endpoints)\n"
     "  TERM, COMMIT, APPLIED   its current term, commit index and applied index\n"
     "  LAG           from the leader: how many entries of the leader's log the node is not\n"
     "                known to hold (leader's last index - match index), and how long ago\n"
     "                the leader last heard from it\n"
     "  LAST CONTACT  from the node: how long ago it last heard from a leader\n"
     "Below the table: the leader, the replication and failover modes, the membership, then\n"
     "one line per node that did not answer and why. In async and semi_sync replication it\n"
     "also prints \"acknowledged writes at risk if the leader failed now: N entries\": the\n"
     "leader's commit index minus the highest index any other voter is known to hold. Those\n"
     "writes were acknowledged to clients but, as far as the leader knows, exist only on the\n"
     "leader; if it failed now they would be lost (more of them if a less up-to-date voter\n"
     "won the election). In quorum and sync replication a write is acknowledged only once a\n"
     "majority (every voter) holds it, so nothing acknowledged is at risk.\n"
     "A member that does not answer is shown as unreachable; the command fails (exit 6) only\n"
     "if no node at --endpoints answers.\n"
     "Output: table as above; raw: one line per node, tab-separated: id, client, role, term,\n"
     "commit, applied, lag entries, ms since the leader heard from it (\"-\": unknown); json\n"
     "{\"leader_id\":N,\"term\":N,\"replication\":...,\"failover\":...,\"membership\":...,\n"
     "\"voters\":[...],\"learners\":[...],\"acknowledged_writes_at_risk\":N|null,\n"
     "\"nodes\":[{\"id\":N,\"client\":...,\"role\":...,\"reachable\":true,\"term\":N,\n"
     "\"commit_index\":N,...}],\"notes\":[...]}.\n"
     "\n"
     "multi_leader (every member takes writes): asks every member of the answers' configured\n"
     "cluster.members the same way and prints \"multi_leader cluster, propagation P, N\n"
     "members\" (P: all_to_all, ring, or \"star (hub H)\"), then one row per member:\n"
     "  ID, CLIENT    as above\n"
     "  STATE         up, or unreachable if it did not answer\n"
     "  PROGRESS      the changes of each origin it has applied, {origin:count, ...}\n"
     "  LOCAL         changes written on this member (changes_local_total)\n"
     "  RETAINED      changes its log keeps for peers, all origins (log_retained)\n"
     "  LWW           concurrent writes the lww resolver overwrote here\n"
     "  SIBLING CAP   writes refused because the key had max_siblings siblings\n"
     "  RESOLVER      changes ignored because their key has another resolver type\n"
     "  SKEW          changes stamped more than max_clock_offset_ms ahead of its clock\n"
     "                (applied, but its clock did not follow)\n"
     "then one row per member that answered and peer it ships changes to (ring: the next\n"
     "member; all_to_all: every other; star: the hub, and the hub to every other member):\n"
     "FROM, TO, LAG (CHANGES) the peer has not acknowledged, SINCE ACK (S) seconds since it\n"
     "last acknowledged while some were outstanding (0.0 when none are), and STATE\n"
     "(replicating, or probing until it first acknowledges). Then \"converged\" if every\n"
     "member that answered has the same progress (members that did not answer are not\n"
     "compared), else \"replicating: progress differs\", and the lines for members that did\n"
     "not answer. Exit codes as above: 0 as long as a node at --endpoints answers, even if\n"
     "not converged.\n"
     "Output: table as above; raw: one line per member, tab-separated: id, client, state,\n"
     "progress, local, retained, lww, sibling cap, resolver, skew (\"-\": unknown); json\n"
     "{\"mode\":\"multi_leader\",\"propagation\":...,\"hub\":N|null,\"members\":[{\"id\":N,\n"
     "\"client\":...,\"up\":true,\"progress\":...,\"changes_local\":N,\"log_retained\":N,\n"
     "\"lww_concurrent_overwrites\":N,\"sibling_cap_refusals\":N,\"resolver_mismatches\":N,\n"
     "\"clock_skew_rejections\":N,\"peers\":[{\"to\":N,\"lag_changes\":N,\n"
     "\"seconds_since_ack\":X.X,\"state\":...}]}],\"converged\":true,\"notes\":[...]} (a member\n"
     "that did not answer: \"up\":false, null numbers, no peers, and \"error\").\n"
     "\n"
     "dynamo (a ring without a leader): asks every member of the ring the same way (the\n"
     "answers' ring membership, which kvctl node join and decommission change; their\n"
     "configured cluster.members from servers that do not report it) and prints one row per\n"
     "node:\n"
     "  ID, CLIENT    as above\n"
     "  STATE         up, or unreachable if it did not answer (why: below the table)\n"
     "  KEYS          keys in its store\n"
     "  HINTS         writes it holds for replicas that were down (hinted handoff), to\n"
     "                deliver when they are back (hints_pending)\n"
     "  SEEN DOWN BY  the nodes that answered whose failure detector believes this node\n"
     "                down, \"-\" if none (a node that answers but is seen down is cut off\n"
     "                from those nodes)\n"
     "  AE            anti-entropy exchanges it has started (Merkle tree comparisons)\n"
     "  REPAIRS       stale replicas its reads have repaired (read_repairs_total)\n"
     "then \"N=3 R=2 W=2, read repair background, sloppy quorum on\" as the first node that\n"
     "answered reports them (a node that reports other settings is named), and one line\n"
     "per node that did not answer. Exit codes as above: 0 as long as a node at --endpoints\n"
     "answers, even with nodes down. For the ring itself (tokens, shares), see kvctl ring.\n"
     "Output: table as above; raw: one line per node, tab-separated: id, client, state,\n"
     "keys, hints, seen down by (ids separated by commas), ae, repairs (\"-\": unknown or\n"
     "none); json {\"mode\":\"dynamo\",\"replicas\":N,\"read_quorum\":R,\"write_quorum\":W,\n"
     "\"read_repair\":...,\"sloppy_quorum\":true,\"nodes\":[{\"id\":N,\"client\":...,\n"
     "\"up\":true,\"keys\":N,\"hints_pending\":N,\"seen_down_by\":[...],\"ae_exchanges\":N,\n"
     "\"read_repairs\":N}],\"notes\":[...]} (a node that did not answer: \"up\":false, null\n"
     "numbers, and \"error\").\n"
     "The other cluster commands need a leader_follower cluster; kvctl ring needs a dynamo\n"
     "node.",
     "kvctl --endpoints 127.0.0.1:7401 cluster status\n"
     "kvctl --endpoints 127.0.0.1:7401,127.0.0.1:7404 cluster status\n"
     "kvctl cluster status --output json | jq '.nodes[] | select(.reachable | not) | .id'\n"
     "kvctl --endpoints 127.0.0.1:7411 cluster status --output json | jq .converged\n"
     "kvctl --endpoints 127.0.0.1:7421 cluster status --output json | jq '.nodes[] | "
     "select(.up | not) | .id'",
     nullptr, ParseClusterStatus, kDefaultTimeout, true},
    {"promote", "kvctl [global options] promote NODE_ID",
     "manual failover: NODE_ID starts an election now and becomes the leader",
     "Manual failover. NODE_ID (a voter) starts an election at once; kvctl then reads its\n"
     "status every 100 ms until it reports that it leads, and prints \"node N is the leader\n"
     "(term T)\". Use it when the leader has failed in a cluster with raft.failover: manual,\n"
     "where followers never start an election by themselves; it works with failover: auto\n"
     "too. The election raises the term, which fences the old leader: if it is still running,\n"
     "a majority has moved to the new term, so nothing it accepts can commit any more, and it\n"
     "steps down as soon as it hears of the new term. NODE_ID wins only if its log is at least\n"
     "as up to date as a majority's: promote a caught-up node (see kvctl cluster status). To\n"
     "move a healthy leader, prefer kvctl switchover: it pauses writes briefly and loses\n"
     "nothing. kvctl finds NODE_ID's address from the nodes' status (kvctl cluster status).\n"
     "--timeout (default here: 10s) bounds each request and the whole wait.\n"
     "Exit codes: 0 once NODE_ID leads; 4 if it is refused (NODE_ID is no voter or unknown,\n"
     "the node is a single server); 5 if another node won the election; 6 if it did not lead\n"
     "within --timeout.\n"
     "Output: table \"node N is the leader (term T)\"; raw \"N<TAB>T\"; json\n"
     "{\"node_id\":N,\"term\":T,\"already\":false,\"elapsed_ms\":N}.",
     "kvctl --endpoints 127.0.0.1:7402 promote 2\n"
     "kvctl --endpoints 127.0.0.1:7402,127.0.0.1:7403 --timeout 30s promote 3",
     nullptr, ParsePromote, kDefaultAdminTimeout, true},
    {"transfer-leader", "kvctl [global options] transfer-leader [NODE_ID]",
     "the leader hands leadership to NODE_ID (default: the most up-to-date voter)",
     "Asks the leader to hand leadership to NODE_ID (a voter) or, without NODE_ID, to the\n"
     "voter with the most of its log, then reads the new leader's status every 100 ms until it\n"
     "reports that it leads. kvctl finds the leader and sends the request there (following\n"
     "redirects). The leader stops accepting writes, brings the target up to date, and tells\n"
     "it to start an election at once; if that does not succeed within an election timeout,\n"
     "the leader abandons the transfer and carries on. kvctl switchover is the same operation\n"
     "reported step by step, with its timings.\n"
     "--timeout (default here: 10s) bounds each request and the whole wait; exit 6 if the\n"
     "target did not lead in time.\n"
     "Output: table \"node N is the leader (term T); it took over from node M in N ms\"; raw\n"
     "\"N<TAB>T\"; json {\"node_id\":N,\"term\":T,\"already\":false,\"elapsed_ms\":N,\"from\":M}.",
     "kvctl transfer-leader 2\n"
     "kvctl --endpoints 127.0.0.1:7401 transfer-leader",
     nullptr, ParseTransferLeader, kDefaultAdminTimeout, true},
    {"switchover", "kvctl [global options] switchover [--to NODE_ID]",
     "planned leader change for maintenance: no acknowledged write is lost",
     "Planned maintenance of the leader's machine: moves leadership away first. The leader\n"
     "stops accepting writes (clients get UNAVAILABLE and retry by themselves, with the same\n"
     "request ids, so nothing is applied twice), waits until the target voter (--to, or the\n"
     "most up-to-date voter) holds every entry of its log, and hands over. No acknowledged\n"
     "write is lost, even in async replication, because the new leader has everything the old\n"
     "one had. kvctl prints each step with its time since the request, checks that the new\n"
     "leader's log reaches the old leader's commit index, and prints how long writes were\n"
     "paused: from the request until the new leader was seen leading (kvctl polls every\n"
     "10 ms, so this is at most about 10 ms more than the real pause).\n"
     "--timeout (default here: 10s) bounds each request and the whole wait; exit 6 if the\n"
     "target did not lead in time.\n"
     "Output: table: the steps; raw \"NEW_LEADER<TAB>TERM<TAB>PAUSE_MS\"; json\n"
     "{\"from\":N,\"to\":N,\"old_term\":T,\"term\":T,\"old_commit_index\":N,\n"
     "\"new_last_index\":N,\"accepted_ms\":N,\"writes_paused_ms\":N,\n"
     "\"new_leader_has_every_committed_entry\":true,...}.",
     "kvctl switchover\n"
     "kvctl --endpoints 127.0.0.1:7401 switchover --to 3\n"
     "kvctl switchover --output json | jq .writes_paused_ms",
     AddSwitchoverOptions, ParseSwitchover, kDefaultAdminTimeout, true},
    {"member add", "kvctl [global options] member add NODE_ID --client HOST:PORT --peer HOST:PORT",
     "add a node to the cluster as a learner",
     "Adds NODE_ID as a learner: it receives the log but does not vote, and does not count\n"
     "towards commits, so adding it does not affect availability. To grow a cluster:\n"
     "  1. Start the new node with cluster.join: true and, in cluster.members, its own entry\n"
     "     (id, client, peer) and those of the current members (it needs their peer addresses\n"
     "     to answer the leader). It waits, serving nothing, until the leader contacts it.\n"
     "  2. kvctl member add 4 --client 10.0.0.4:7379 --peer 10.0.0.4:7380\n"
     "     (the addresses of its cluster.members entry).\n"
     "  3. Wait until kvctl cluster status shows node 4 caught up: role learner, LAG near 0\n"
     "     entries. List its client address in --endpoints if kvctl shows it as unknown.\n"
     "  4. kvctl member promote 4\n"
     "The request goes to the leader; kvctl returns when the new configuration has committed.\n"
     "One membership change at a time: while one is in progress the leader refuses another\n"
     "(exit 5, \"a membership change is still in progress\"; retry). --timeout (default here:\n"
     "10s) bounds each request; exit 4 if the leader refuses the change (e.g. NODE_ID is\n"
     "already a member).\n"
     "Output: table \"node N added as a learner (configuration index I); membership: ...\" and\n"
     "the next step; raw \"I\"; json {\"node_id\":N,\"action\":...,\"index\":I,\n"
     "\"membership\":...,\"voters\":[...],\"learners\":[...]}.",
     "kvctl member add 4 --client 10.0.0.4:7379 --peer 10.0.0.4:7380\n"
     "kvctl --endpoints 127.0.0.1:7401 member add 4 --client 127.0.0.1:7404 --peer "
     "127.0.0.1:7504",
     AddMemberAddOptions, ParseMemberAdd, kDefaultAdminTimeout, true},
    {"member promote", "kvctl [global options] member promote NODE_ID", "make a learner a voter",
     "Makes learner NODE_ID a voter. The leader refuses (exit 5, \"learner has not caught up\")\n"
     "until the learner's log is close to its own: watch its LAG in kvctl cluster status and\n"
     "retry. kvctl returns when the new configuration has committed. A voter counts towards\n"
     "the majority: 4 voters need 3 for a commit or an election, as 5 do.\n"
     "Output: table \"node N is now a voter (configuration index I); membership: ...\"; raw\n"
     "\"I\"; json as for member add.",
     "kvctl member promote 4", nullptr, ParseMemberPromote, kDefaultAdminTimeout, true},
    {"member remove", "kvctl [global options] member remove NODE_ID",
     "remove a voter or a learner from the cluster",
     "Removes NODE_ID (a voter or a learner) from the membership; kvctl returns when the new\n"
     "configuration has committed. Then stop the node; a removed node that keeps running\n"
     "reports role non_member. To remove the leader, move leadership away first with kvctl\n"
     "switchover. The last voter cannot be removed.\n"
     "Output: table \"node N removed (configuration index I); membership: ...\"; raw \"I\"; json\n"
     "as for member add.",
     "kvctl member remove 3", nullptr, ParseMemberRemove, kDefaultAdminTimeout, true},
    {"member list", "kvctl [global options] member list", "list the voters and learners",
     "Lists the membership as the leader reports it (another node's view, said so, if no\n"
     "leader answers): each voter and learner with its client and peer addresses, where kvctl\n"
     "knows them (from the nodes' configured cluster.members, or where a node answered; \"?\"\n"
     "otherwise).\n"
     "Output: table: columns ID, ROLE (voter or learner; \"(leader)\" marks the leader),\n"
     "CLIENT, PEER, then the membership line; raw: ID<TAB>ROLE<TAB>CLIENT<TAB>PEER per member\n"
     "(\"-\": unknown); json {\"leader_id\":N,\"from_node\":N,\"membership\":...,\n"
     "\"voters\":[...],\"learners\":[...],\"members\":[{\"id\":N,\"role\":...,\"leader\":true,"
     "\"client\":...,\n"
     "\"peer\":...}]}.",
     "kvctl member list\n"
     "kvctl member list --output raw | cut -f1",
     nullptr, ParseMemberList, kDefaultTimeout, true},
    {"snapshot", "kvctl [global options] snapshot [NODE_ID]", "compact a node's Raft log now",
     "Makes a node compact its Raft log now: the state machine up to its applied index\n"
     "becomes its snapshot and the log entries up to there are dropped, then prints the\n"
     "snapshot index. The node is NODE_ID (found as for kvctl cluster status), or without\n"
     "NODE_ID the first node at --endpoints that answers. Nodes also compact by themselves\n"
     "every raft.snapshot_threshold_entries entries; use this to reclaim disk space now. A\n"
     "follower that falls behind the leader's snapshot is sent the snapshot instead of the log.\n"
     "Output: table \"node N compacted its log: snapshot index I\"; raw \"I\"; json\n"
     "{\"node_id\":N,\"snapshot_index\":I}.",
     "kvctl --endpoints 127.0.0.1:7402 snapshot\n"
     "kvctl snapshot 3",
     nullptr, ParseSnapshot, kDefaultTimeout, true},
    {"ring", "kvctl [global options] ring [--tokens]",
     "dynamo: each node's tokens, share of the keys and up/down state",
     "Shows the consistent-hash ring of a dynamo cluster as the node at --endpoints (the\n"
     "first that answers) describes it. kvctl rebuilds the ring from that node's ring\n"
     "membership (ids and zones; nodes joined with kvctl node join included, decommissioned\n"
     "ones left out; a server that does not report it: its configured cluster.members) and\n"
     "tokens_per_node: a node's tokens derive from its id alone, so this is the ring every\n"
     "node computes. Keys hash uniformly onto the ring's circle, so a share of the circle is\n"
     "that share of the keys. One row per node:\n"
     "  ID, CLIENT    node id and the address clients use (from the configuration)\n"
     "  ZONE          its zone (rack, availability zone), \"-\" if unlabelled\n"
     "  TOKENS        how many tokens (virtual nodes) it has on the ring\n"
     "  PRIMARY       the share of the keys whose first replica it is (it is the first node\n"
     "                clockwise from the key; Ownership(1)). Over all nodes: 100%.\n"
     "  REPLICA       the share of the keys for which it is one of the N replicas\n"
     "                (Ownership(N)). Over all nodes: N x 100% (with N=3 and 5 nodes, about\n"
     "                60% each); a node of a zone with fewer nodes holds more.\n"
     "  STATE         self (the node that answered), or up or down as that node's failure\n"
     "                detector sees it (unknown if it does not report the node), followed\n"
     "                by \", joining\" or \", leaving\" while a ring change is under way\n"
     "Below the table: \"N=3 R=2 W=2, 256 tokens per node, 5 nodes (4 up as node 1 sees\n"
     "it)\". During a ring change (kvctl node status) a line says so, and the shares are those\n"
     "of the ring the change leads to: a joining node's share is what it will hold, a leaving\n"
     "node's is 0%. With --tokens, each row is followed by the node's tokens, ascending, in\n"
     "decimal.\n"
     "A node in another mode: exit 4, \"unsupported: the node at H:P runs in mode M; kvctl\n"
     "ring needs a dynamo node\". For each node's keys, hints and counters, see kvctl cluster\n"
     "status.\n"
     "Output: table as above; raw: one line per node, ID<TAB>PRIMARY<TAB>REPLICA, the shares\n"
     "as fractions with 6 decimals (--tokens is ignored); json {\"replicas\":N,\n"
     "\"read_quorum\":R,\"write_quorum\":W,\"tokens_per_node\":T,\"from_node\":N,\n"
     "\"nodes\":[{\"id\":N,\"client\":...,\"zone\":...|null,\"tokens\":[every token, ascending],\n"
     "\"primary_share\":0.2,\"replica_share\":0.6,\"state\":\"self\",\"ring_role\":\"normal\"}],\n"
     "\"ring_version\":N,\"ring_transition\":T} (shares as fractions 0..1; ring_role normal,\n"
     "joining or leaving; ring_transition 0 when no change is under way).",
     "kvctl --endpoints 127.0.0.1:7421 ring\n"
     "kvctl --endpoints 127.0.0.1:7421 ring --tokens\n"
     "kvctl ring --output json | jq '.nodes[] | {id, replica_share}'",
     AddRingOptions, ParseRing, kDefaultTimeout, true},
    {"node join",
     "kvctl [global options] node join NODE_ID --client HOST:PORT --peer HOST:PORT [--wait]",
     "dynamo: add a node to the ring; it pulls the ranges it gains",
     "Adds NODE_ID to a dynamo ring. To grow a ring:\n"
     "  1. Start the new node with a configuration whose cluster.members lists every node of\n"
     "     the ring and itself (id, client, peer), and with cluster.join: true.\n"
     "  2. kvctl node join 6 --client 10.0.0.6:7379 --peer 10.0.0.6:7380 (the addresses of\n"
     "     its cluster.members entry). The request goes to the first node at --endpoints that\n"
     "     answers (any node of the ring will do; kvctl checks first that it is a dynamo\n"
     "     node, and sends nothing to another).\n"
     "  3. Follow the change with kvctl node status, or pass --wait.\n"
     "The node records the change in the ring state (a new ring version), answers at once, and\n"
     "the ring state spreads to every node; the change then goes on in the background. Writes\n"
     "go to the replicas of both the old and the new ring from then on. The gainers (the nodes\n"
     "that replicate ranges in the new ring they did not hold: the new node, and with zones\n"
     "perhaps others) pull those ranges from the current replicas, throttled (pause it with\n"
     "kvctl node pause). When every gainer is done, every node finalizes the change: the new\n"
     "node's role goes from joining to normal and reads use the new ring (ring_transition 0).\n"
     "One ring change at a time: while one is under way the ring refuses another (exit 5,\n"
     "\"a ring change is under way (node 6 is joining): one at a time; ...\"). Other refusals\n"
     "exit 4 with the server's message (the node is already in the ring, an address already\n"
     "in use, ...).\n"
     "--wait: kvctl then reads every ring member's STATUS every second until every node that\n"
     "answers has finished the change, and prints a line of progress when it changes (at\n"
     "least every 10 s; table output only), e.g. \"[3.0 s] ring version 7: ranges 120/768,\n"
     "34567 keys streamed (19874 keys/s), 0 of 1 gainers done, eta 4s\": summed over the\n"
     "gainers, keys since kvctl first saw each, the rate between the last two reads, and the\n"
     "slowest gainer's ETA (computed as in kvctl node status; none while any is unknown).\n"
     "--timeout bounds the wait (default with --wait: 10m; each request still within 10s):\n"
     "exit 6 if the change has not finished by then (it goes on in the background), 5 if it\n"
     "was dropped because a change recorded at the same time on another node won. Without\n"
     "--wait, --timeout (default here: 10s) bounds each request.\n"
     "Output: table \"node 6 is joining the ring (version 7); follow with: kvctl node status\"\n"
     "(--wait: then the progress lines and \"node 6 joined the ring: ring version 8, 6 nodes\n"
     "(after 12.3 s)\"); raw: the ring version (--wait: once finished); json {\"node_id\":6,\n"
     "\"action\":\"join\",\"ring_version\":7,\"transition\":7,\"paused\":false,\n"
     "\"members\":[{\"id\":1,\"role\":\"normal\"},...],\"finished\":false} (--wait:\n"
     "{\"node_id\":6,\"action\":\"join\",\"ring_version\":8,\"nodes\":6,\"finished\":true,\n"
     "\"elapsed_ms\":N,\"notes\":[...]}).",
     "kvctl --endpoints 127.0.0.1:7421 node join 6 --client 127.0.0.1:7426 --peer "
     "127.0.0.1:7526\n"
     "kvctl node join 6 --client 10.0.0.6:7379 --peer 10.0.0.6:7380 --wait",
     AddNodeJoinOptions, ParseNodeJoin, kDefaultAdminTimeout, true},
    {"node decommission", "kvctl [global options] node decommission NODE_ID [--wait]",
     "dynamo: remove a node from the ring once others hold its ranges",
     "Removes NODE_ID from a dynamo ring. The request goes to the first node at --endpoints\n"
     "that answers (any node of the ring will do; it must be a dynamo node). The ring refuses\n"
     "(exit 4, with the server's message) if NODE_ID is not in it, or if fewer nodes than\n"
     "dynamo.replicas would remain. As for a join, the change is recorded at once and goes on\n"
     "in the background: the nodes that become replicas of NODE_ID's ranges pull them from the\n"
     "current replicas (NODE_ID among them: keep it running until the change has finished).\n"
     "When every gainer is done, every node finalizes the change and NODE_ID leaves the ring:\n"
     "it is told so and holds no data for the ring any more. Then stop it, and delete its data\n"
     "directory before reusing it.\n"
     "One ring change at a time (exit 5 while another is under way). --wait, --timeout, the\n"
     "progress lines and the exit codes are those of kvctl node join.\n"
     "Output: table \"node 2 is leaving the ring (version 9); follow with: kvctl node status\"\n"
     "(--wait: then the progress lines and \"node 2 left the ring: ring version 10, 5 nodes\n"
     "(after 3.1 s); stop it, ...\"); raw: the ring version; json as for node join, with\n"
     "\"action\":\"decommission\".",
     "kvctl node decommission 2\n"
     "kvctl --endpoints 127.0.0.1:7421 node decommission 2 --wait --timeout 30m",
     AddWaitOption, ParseNodeDecommission, kDefaultAdminTimeout, true},
    {"node pause", "kvctl [global options] node pause",
     "dynamo: pause the streaming of the ring change under way",
     "Pauses the streaming of the ring change under way (a join or a decommission), for\n"
     "instance to relieve a loaded ring: the gainers stop pulling ranges, and the change waits\n"
     "(writes still go to the replicas of both rings; ranges already pulled stay pulled). The\n"
     "request goes to the first node at --endpoints that answers, and spreads to the ring with\n"
     "the ring state (a new ring version). kvctl node resume continues it. The ring refuses\n"
     "(exit 4, with the server's message) when no change is under way or streaming is already\n"
     "paused.\n"
     "Output: table \"streaming paused (node 2 leaving the ring, ring version 10); resume with:\n"
     "kvctl node resume\"; raw: the ring version; json {\"action\":\"pause_streams\",\n"
     "\"ring_version\":N,\"transition\":T,\"paused\":true,\"members\":[{\"id\":N,\"role\":...}]}.",
     "kvctl node pause\n"
     "kvctl --endpoints 127.0.0.1:7421 node pause --output json",
     nullptr, ParseNodePause, kDefaultAdminTimeout, true},
    {"node resume", "kvctl [global options] node resume",
     "dynamo: resume the streaming of the ring change under way",
     "Resumes the streaming that kvctl node pause paused: the gainers pull the rest of their\n"
     "ranges, from where they stopped. The request goes to the first node at --endpoints that\n"
     "answers. The ring refuses (exit 4, with the server's message) when no change is under\n"
     "way or streaming is not paused.\n"
     "Output: table \"streaming resumed (node 2 leaving the ring, ring version 11); follow\n"
     "with: kvctl node status\"; raw: the ring version; json as for node pause, with\n"
     "\"action\":\"resume_streams\" and \"paused\":false.",
     "kvctl node resume", nullptr, ParseNodeResume, kDefaultAdminTimeout, true},
    {"node status", "kvctl [global options] node status [--sample DURATION]",
     "dynamo: the ring change under way and each gainer's streaming progress",
     "Shows the ring change under way in a dynamo ring (kvctl node join or decommission), as\n"
     "its members report it. kvctl asks every ring member for its STATUS (found as kvctl\n"
     "cluster status finds them: the nodes at --endpoints, then the members their answers\n"
     "name), takes the ring state of the node with the highest ring version, and prints the\n"
     "change, e.g. \"node 6 is joining the ring: ring version 7, 6 members, streaming running\"\n"
     "(or \"streaming paused\"), then one row per gainer: a node with ranges to pull in this\n"
     "change, or one that a node lists as done streaming.\n"
     "  NODE     the gainer's id\n"
     "  RANGES   ranges pulled / ranges it gains in this change (\"-\" for a gainer that is\n"
     "           done: the server reports 0/0 once the ring state has moved on)\n"
     "  KEYS     keys it has received by streaming (stream_keys_received_total: counted since\n"
     "           the node started, so over every change it has gained ranges in)\n"
     "  BYTES    the same in bytes (B, KiB, MiB, GiB: powers of 1024)\n"
     "  RATE     keys it received per second between two rounds of STATUS --sample apart\n"
     "           (default 1s: while a gainer streams, the command takes that much longer)\n"
     "  ETA      its remaining ranges at the rate its ranges completed between those two\n"
     "           rounds; \"-\" when unknown (no range completed in that time, or one round)\n"
     "  DONE     yes once it has pulled every range it gains\n"
     "A gainer known only from another node's list shows \"?\". Below the table: the time the\n"
     "rates are measured over, the nodes that did not answer (a gainer among them is missing\n"
     "from the table), and nodes behind the ring version shown. With no change under way:\n"
     "\"no ring change under way (ring version 8, 6 nodes)\". Exit codes: 0 as long as a node\n"
     "at --endpoints answers, even with nodes down; 4 if it is not a dynamo node; 6 if none\n"
     "answers.\n"
     "Output: table as above; raw: one line per gainer, tab-separated: id, ranges done,\n"
     "ranges total, keys, bytes, keys per second, eta seconds, done (yes/no) (\"-\": unknown;\n"
     "no lines when no change is under way); json {\"ring_version\":N,\"transition\":T,\n"
     "\"under_way\":true,\"kind\":\"join\"|\"decommission\"|null,\"node_id\":N|null,\n"
     "\"paused\":false,\"members\":[{\"id\":N,\"role\":\"normal\"}],\"gainers\":[{\"id\":N,\n"
     "\"answered\":true,\"ranges_done\":N,\"ranges_total\":N,\"keys_received\":N,\n"
     "\"bytes_received\":N,\"keys_per_second\":X|null,\"eta_seconds\":X|null,\"paused\":false,\n"
     "\"done\":false}],\"sample_ms\":N|null,\"from_node\":N,\"notes\":[...]}.",
     "kvctl --endpoints 127.0.0.1:7421 node status\n"
     "kvctl node status --sample 5s\n"
     "kvctl node status --output json | jq '.gainers[] | select(.done | not) | .id'",
     AddNodeStatusOptions, ParseNodeStatus, kDefaultTimeout, true},
    {"repair", "kvctl [global options] repair [--dry-run] [--node NODE_ID]",
     "dynamo: compare every range with its other replicas now, and repair (or list) differences",
     "Repairs a dynamo ring on demand, without waiting for the background anti-entropy: each\n"
     "node asked compares every range it replicates with each other replica of it, one\n"
     "(range, replica) pair per tick (10 ms), by their Merkle trees. A full repair runs the\n"
     "anti-entropy exchange for each pair (the keys that differ are merged both ways); with\n"
     "--dry-run the two nodes only swap the trees' roots and record the pairs whose roots\n"
     "differ, and nothing changes. kvctl first finds the ring's members (as kvctl cluster\n"
     "status does; the node at --endpoints must be a dynamo node, else exit 4 and nothing is\n"
     "sent), sends the ADMIN request to every member that answers (with --node, only to\n"
     "NODE_ID), then reads their STATUS every 250 ms until each has done every comparison it\n"
     "started, printing a line of progress every second (table output only), e.g.\n"
     "\"[3.0 s] 1536/7680 comparisons, 2 differing\" (differing: dry run only; pairs, both\n"
     "sides counted). Every range is compared from each of its replicas, so asking every node\n"
     "compares every pair twice; --node NODE_ID repairs only the ranges NODE_ID holds.\n"
     "Needs dynamo.anti_entropy_interval_ms > 0 (the trees); a node refuses otherwise (exit 4,\n"
     "\"anti-entropy is off ...\"), and while a repair it started is still running (exit 5, \"a\n"
     "repair is running (N of M comparisons started)\"). When some nodes refuse or do not\n"
     "answer and others start, kvctl goes on with those and names the others below the result;\n"
     "when none starts, it exits with the first refusal's code (6 if none answered). A replica\n"
     "that is down is skipped (counted done); in a dry run a replica that does not answer\n"
     "within the server's request timeout is counted as unanswered.\n"
     "At the end, full repair: \"repair done: N comparisons on M nodes in T s\" (the exchanges\n"
     "of the last pairs may still be merging keys for a moment; run a dry run after it to\n"
     "check). Dry run: one row per differing range and pair of replicas, the pair found from\n"
     "both sides shown once:\n"
     "  RANGE    (start, end]: the tokens of the range (kvctl rebuilds the ring from the\n"
     "           members, as kvctl ring does; \"?\" for a start it cannot tell)\n"
     "  NODE     a node that found the difference (the lower id when both did)\n"
     "  REPLICA  the replica whose tree differs from NODE's\n"
     "then \"K ranges differ (of R compared)\" or \"no range differs (R compared)\" (R: the\n"
     "ranges of the ring the nodes asked replicate) and the unanswered comparisons if any. A\n"
     "node lists at most 200 pairs; when it found more, a line says so.\n"
     "Exit codes: 0 when the repair ran (differences found or not); 4 or 5 as above; 6 when it\n"
     "has not finished within --timeout (default here: 10m; each request within 10s): it goes\n"
     "on in the background on the nodes.\n"
     "Output: table as above; raw: dry run: one line per differing range, tab-separated:\n"
     "start, end, replicas (ids separated by commas); full repair: the comparisons done; json\n"
     "{\"dry_run\":true,\"comparisons\":N,\"differing\":[{\"start\":S|null,\"end\":E,\n"
     "\"replicas\":[a,b]}],\"ranges_differing\":K,\"ranges_compared\":R,\"unanswered\":N,\n"
     "\"elapsed_ms\":N,\"nodes\":[{\"id\":N,\"endpoint\":...,\"started\":true,\"pairs\":N,\n"
     "\"done\":N,\"differing\":N,\"unanswered\":N,\"error\":null|\"...\"}],\"notes\":[...]}\n"
     "(differing is empty for a full repair).",
     "kvctl --endpoints 127.0.0.1:7421 repair --dry-run\n"
     "kvctl repair\n"
     "kvctl repair --node 3 --timeout 30m\n"
     "kvctl repair --dry-run --output json | jq '.differing[] | .end'",
     AddRepairOptions, ParseRepair, kDefaultRingWaitTimeout, true},
    {"help", "kvctl help [COMMAND]", "show the list of commands, or one command's help",
     "Shows kvctl's help, or COMMAND's (the same as kvctl COMMAND --help).",
     "kvctl help\n"
     "kvctl help scan",
     nullptr, nullptr},
};

const CommandSpec* FindSpec(std::string_view name) {
  for (const CommandSpec& spec : kCommands) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

// ---- global options ----

void AddGlobalOptions(po::options_description* d) {
  d->add_options()("endpoints", po::value<std::string>()->value_name("H:P[,H:P...]"),
                   "servers to try in order (default: $KVCTL_ENDPOINTS or 127.0.0.1:7379)")(
      "timeout", po::value<std::string>()->value_name("DURATION"),
      "give up connecting, and on each answer, after DURATION (default: 5s)")(
      "output,o", po::value<std::string>()->value_name("FORMAT"), "table (default), json or raw")(
      "consistency", po::value<std::string>()->value_name("LEVEL"),
      "reads: default, linearizable, leader, follower or session")(
      "durability", po::value<std::string>()->value_name("MODE"),
      "writes: default, none, periodic or always")(
      "read-quorum", po::value<std::string>()->value_name("Q"),
      "dynamo reads: replicas to wait for: one, quorum, all or 1..16 (default: the server's)")(
      "write-quorum", po::value<std::string>()->value_name("Q"),
      "dynamo writes: replicas to wait for: one, quorum, all or 1..16 (default: the server's)");
}

// The spellings of global options that take their value from the next word.
bool IsGlobalOptionWithValue(std::string_view word) {
  return word == "--endpoints" || word == "--timeout" || word == "--output" || word == "-o" ||
         word == "--consistency" || word == "--durability" || word == "--read-quorum" ||
         word == "--write-quorum";
}

template <typename Enum, size_t N>
Result<Enum> ParseEnum(std::string_view option, const std::string& text,
                       const std::pair<std::string_view, Enum> (&names)[N]) {
  std::vector<std::string> valid;
  for (const auto& [name, value] : names) {
    if (name == text) return value;
    valid.emplace_back(name);
  }
  return Usage(
      fmt::format("{} must be one of {} (got {})", option, fmt::join(valid, ", "), Quoted(text)));
}

Result<GlobalOptions> ParseGlobalOptions(const po::variables_map& vm, const Environment& env,
                                         std::chrono::milliseconds default_timeout) {
  GlobalOptions global;
  global.timeout = default_timeout;
  if (std::optional<std::string> list = OptionalString(vm, "endpoints")) {
    Result<std::vector<std::string>> endpoints = ParseEndpointList(*list);
    if (!endpoints.ok()) return endpoints.status().WithContext("--endpoints");
    global.endpoints = std::move(endpoints).value();
  } else if (!env.endpoints.empty()) {
    Result<std::vector<std::string>> endpoints = ParseEndpointList(env.endpoints);
    if (!endpoints.ok()) return endpoints.status().WithContext("KVCTL_ENDPOINTS");
    global.endpoints = std::move(endpoints).value();
  }
  if (std::optional<std::string> text = OptionalString(vm, "timeout")) {
    Result<std::chrono::milliseconds> timeout = ParseDuration(*text);
    if (!timeout.ok()) return timeout.status().WithContext("--timeout");
    if (timeout->count() == 0) return Usage("--timeout must be positive");
    if (*timeout > kMaxTimeout) {
      return Usage(fmt::format("--timeout must be at most {} ms", kMaxTimeout.count()));
    }
    global.timeout = *timeout;
  }
  static constexpr std::pair<std::string_view, OutputFormat> kOutputs[] = {
      {"table", OutputFormat::kTable}, {"json", OutputFormat::kJson}, {"raw", OutputFormat::kRaw}};
  static constexpr std::pair<std::string_view, wire::Consistency> kConsistencies[] = {
      {"default", wire::Consistency::kDefault},
      {"linearizable", wire::Consistency::kLinearizable},
      {"leader", wire::Consistency::kLeader},
      {"follower", wire::Consistency::kFollower},
      {"session", wire::Consistency::kSession}};
  static constexpr std::pair<std::string_view, wire::Durability> kDurabilities[] = {
      {"default", wire::Durability::kDefault},
      {"none", wire::Durability::kNone},
      {"periodic", wire::Durability::kPeriodic},
      {"always", wire::Durability::kAlways}};
  if (std::optional<std::string> text = OptionalString(vm, "output")) {
    KVD_ASSIGN_OR_RETURN(global.output, ParseEnum("--output", *text, kOutputs));
  }
  if (std::optional<std::string> text = OptionalString(vm, "consistency")) {
    KVD_ASSIGN_OR_RETURN(global.consistency, ParseEnum("--consistency", *text, kConsistencies));
  }
  if (std::optional<std::string> text = OptionalString(vm, "durability")) {
    KVD_ASSIGN_OR_RETURN(global.durability, ParseEnum("--durability", *text, kDurabilities));
  }
  for (auto [name, out] : {std::pair{"read-quorum", &global.read_quorum},
                           std::pair{"write-quorum", &global.write_quorum}}) {
    std::optional<std::string> text = OptionalString(vm, name);
    if (!text) continue;
    uint32_t q = 0;
    if (!config::ParseQuorum(*text, &q)) {
      return Usage(fmt::format("--{} must be one, quorum, all or a number from 1 to 16 (got {})",
                               name, Quoted(*text)));
    }
    *out = static_cast<uint8_t>(q);
  }
  return global;
}

// ---- the command line ----

std::vector<std::string> OptionNames(const po::options_description& d) {
  std::vector<std::string> names;
  for (const auto& option : d.options()) names.push_back("--" + option->long_name());
  return names;
}

Status UnknownOption(std::string_view context, const std::string& option,
                     const po::options_description& known) {
  std::string message = fmt::format("{}: unknown option {}", context, Quoted(option));
  if (std::string close = ClosestMatch(option, OptionNames(known)); !close.empty()) {
    message += fmt::format(" (did you mean {}?)", close);
  } else if (option.size() > 1 && option[0] == '-' && option[1] != '-') {
    message += " (put \"--\" before arguments that start with '-')";
  }
  return Usage(std::move(message));
}

// The words that may start a command line: the commands and the groups, in help order.
std::vector<std::string> TopLevelWords() {
  std::vector<std::string> words;
  for (const std::string& name : CommandNames()) {
    std::string first = name.substr(0, name.find(' '));
    if (std::find(words.begin(), words.end(), first) == words.end()) words.push_back(first);
  }
  return words;
}

// The subcommands of `group` ("add", "promote", ...), in help order.
std::vector<std::string> Subcommands(std::string_view group) {
  std::vector<std::string> subcommands;
  std::string prefix = std::string(group) + " ";
  for (const std::string& name : CommandNames()) {
    if (name.rfind(prefix, 0) == 0) subcommands.push_back(name.substr(prefix.size()));
  }
  return subcommands;
}

// `name` is one word, or (with `subcommand`) a group word and a subcommand word.
Status UnknownCommand(const std::string& name, bool subcommand = false) {
  size_t space = name.find(' ');
  if (subcommand) {
    std::string group = name.substr(0, space);
    std::string close = ClosestMatch(name.substr(space + 1), Subcommands(group));
    if (!close.empty()) {
      return Usage(
          fmt::format("unknown command {} (did you mean \"{} {}\"? run 'kvctl {} "
                      "--help' for the list)",
                      Quoted(name), group, close, group));
    }
    return Usage(fmt::format("unknown command {} ({} subcommands: {})", Quoted(name), group,
                             fmt::join(Subcommands(group), ", ")));
  }
  std::string close = ClosestMatch(name, TopLevelWords());
  if (!close.empty()) {
    return Usage(
        fmt::format("unknown command {} (did you mean \"{}\"? run 'kvctl --help' for "
                    "the list)",
                    Quoted(name), close));
  }
  return Usage(fmt::format("unknown command {} (commands: {})", Quoted(name),
                           fmt::join(TopLevelWords(), ", ")));
}

Status MissingSubcommand(std::string_view group) {
  return Usage(fmt::format("{}: missing subcommand: {} (run 'kvctl {} --help')", group,
                           fmt::join(Subcommands(group), ", "), group));
}

bool IsHelpFlag(std::string_view word) { return word == "--help" || word == "-h"; }

// Returns the index of the command word: the first word that is neither a global option
// nor an option's value. Help flags before it mean general help (returned as nullopt).
Result<std::optional<size_t>> FindCommand(const std::vector<std::string>& args) {
  size_t i = 0;
  while (i < args.size()) {
    const std::string& word = args[i];
    if (IsHelpFlag(word)) return std::optional<size_t>();
    if (word.size() < 2 || word[0] != '-') break;
    if (word == "--") return Usage("expected a command before \"--\" (run 'kvctl --help')");
    size_t eq = word.find('=');
    if (IsGlobalOptionWithValue(word)) {
      i += 2;
    } else if ((word.rfind("--", 0) == 0 && eq != std::string::npos &&
                IsGlobalOptionWithValue(std::string_view(word).substr(0, eq))) ||
               (word.rfind("-o", 0) == 0 && word.size() > 2)) {
      i += 1;
    } else {
      po::options_description globals;
      AddGlobalOptions(&globals);
      std::string option = word.substr(0, eq);
      std::string close = ClosestMatch(option, OptionNames(globals));
      return Usage(fmt::format("unknown global option {} ({})", Quoted(option),
                               close.empty() ? "command options go after the command"
                                             : fmt::format("did you mean {}?", close)));
    }
  }
  return std::optional<size_t>(i);
}

Result<Invocation> ParseHelpCommand(const std::vector<std::string>& words) {
  if (words.empty()) return Invocation{GlobalOptions{}, HelpCommand{GeneralHelp()}};
  if (IsHelpFlag(words[0])) return Invocation{GlobalOptions{}, HelpCommand{CommandHelp("help")}};
  std::string name = words[0];
  size_t used = 1;
  if (IsGroup(name)) {
    if (words.size() == 1) return Invocation{GlobalOptions{}, HelpCommand{GroupHelp(name)}};
    name += " " + words[1];
    used = 2;
  }
  if (words.size() > used) {
    return Usage(fmt::format("help: unexpected argument {} (usage: kvctl help [COMMAND])",
                             Quoted(words[used])));
  }
  // "member add" as one word is not a command line's "member add".
  bool one_word_with_space = used == 1 && name.find(' ') != std::string::npos;
  if (one_word_with_space || !IsCommand(name)) return UnknownCommand(name, used == 2);
  return Invocation{GlobalOptions{}, HelpCommand{CommandHelp(name)}};
}

// Runs Boost.Program_options over `tokens` (global and command options, positionals).
// `context` (the command name) starts error messages.
Result<po::variables_map> RunParser(std::string_view context,
                                    void (*add_options)(po::options_description*),
                                    const std::vector<std::string>& tokens) {
  po::options_description visible;
  AddGlobalOptions(&visible);
  if (add_options != nullptr) add_options(&visible);
  po::options_description all;
  all.add(visible);
  all.add_options()("args", po::value<std::vector<std::string>>());
  po::positional_options_description positional;
  positional.add("args", -1);
  // Boost.Program_options reports errors by throwing; they stop here.
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(tokens)
                  .options(all)
                  .positional(positional)
                  .style(kParserStyle)
                  .run(),
              vm);
    po::notify(vm);
    return vm;
  } catch (const po::unknown_option& e) {
    return UnknownOption(context, e.get_option_name(), visible);
  } catch (const po::error& e) {
    return Usage(fmt::format("{}: {}", context, e.what()));
  }
}

}  // namespace

Result<Invocation> ParseArgs(const std::vector<std::string>& args, const Environment& env) {
  KVD_ASSIGN_OR_RETURN(std::optional<size_t> command_index, FindCommand(args));
  if (!command_index) return Invocation{GlobalOptions{}, HelpCommand{GeneralHelp()}};
  size_t index = *command_index;
  if (index >= args.size()) {
    // Let the parser report a global option without its value before the generic message.
    Result<po::variables_map> globals = RunParser("global options", nullptr, args);
    if (!globals.ok()) return globals.status();
    return Usage("no command given (run 'kvctl --help' for the list of commands)");
  }
  const std::string& name = args[index];
  if (name == "help") {
    return ParseHelpCommand(std::vector<std::string>(
        args.begin() + static_cast<std::ptrdiff_t>(index) + 1, args.end()));
  }
  // A group word ("member") needs its subcommand ("add") right after it.
  std::string full_name = name;
  size_t command_words = 1;
  if (IsGroup(name)) {
    if (index + 1 < args.size() && !args[index + 1].empty() && args[index + 1][0] != '-') {
      full_name += " " + args[index + 1];
      command_words = 2;
    } else {
      for (size_t i = index + 1; i < args.size() && args[i] != "--"; ++i) {
        if (IsHelpFlag(args[i])) return Invocation{GlobalOptions{}, HelpCommand{GroupHelp(name)}};
      }
      return MissingSubcommand(name);
    }
  }
  bool one_word_with_space = command_words == 1 && name.find(' ') != std::string::npos;
  const CommandSpec* spec = one_word_with_space ? nullptr : FindSpec(full_name);
  if (spec == nullptr) return UnknownCommand(full_name, command_words == 2);

  // Global options before the command, then everything after it.
  std::vector<std::string> tokens(args.begin(), args.begin() + static_cast<std::ptrdiff_t>(index));
  tokens.insert(tokens.end(), args.begin() + static_cast<std::ptrdiff_t>(index + command_words),
                args.end());
  for (const std::string& token : tokens) {
    if (token == "--") break;
    if (IsHelpFlag(token)) {
      return Invocation{GlobalOptions{}, HelpCommand{CommandHelp(full_name)}};
    }
  }
  KVD_ASSIGN_OR_RETURN(po::variables_map vm, RunParser(spec->name, spec->add_options, tokens));
  Invocation invocation;
  KVD_ASSIGN_OR_RETURN(invocation.global, ParseGlobalOptions(vm, env, spec->default_timeout));
  std::vector<std::string> positional;
  if (vm.count("args") != 0) positional = vm["args"].as<std::vector<std::string>>();
  KVD_ASSIGN_OR_RETURN(invocation.command, spec->parse(vm, positional));
  return invocation;
}

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  auto invalid = [&] {
    return Usage(fmt::format("invalid duration {} (use {})", Quoted(text), kDurationForms));
  };
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) return invalid();
  std::string_view unit = text.substr(digits);
  uint64_t unit_ms = 0;
  if (unit.empty() || unit == "ms") {
    unit_ms = 1;
  } else if (unit == "s") {
    unit_ms = 1000;
  } else if (unit == "m") {
    unit_ms = uint64_t{60} * 1000;
  } else if (unit == "h") {
    unit_ms = uint64_t{3600} * 1000;
  } else {
    return invalid();
  }
  uint64_t count = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + digits, count);
  constexpr auto kMaxMs = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (ec != std::errc() || end != text.data() + digits || count > kMaxMs / unit_ms) {
    return Usage(fmt::format("duration {} is too long", Quoted(text)));
  }
  return std::chrono::milliseconds(static_cast<int64_t>(count * unit_ms));
}

Result<uint64_t> ParseUnsigned(std::string_view text, std::string_view what, uint64_t max) {
  bool digits_only = !text.empty() && std::all_of(text.begin(), text.end(),
                                                  [](char c) { return c >= '0' && c <= '9'; });
  if (!digits_only) {
    return Usage(fmt::format("{} must be a non-negative integer (got {})", what, Quoted(text)));
  }
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > max) {
    return Usage(fmt::format("{} must be at most {} (got {})", what, max, Quoted(text)));
  }
  return value;
}

Result<int64_t> ParseSigned(std::string_view text, std::string_view what) {
  std::string_view digits = text;
  if (!digits.empty() && digits.front() == '-') digits.remove_prefix(1);
  bool well_formed = !digits.empty() && std::all_of(digits.begin(), digits.end(),
                                                    [](char c) { return c >= '0' && c <= '9'; });
  if (!well_formed) {
    return Usage(fmt::format("{} must be an integer (got {})", what, Quoted(text)));
  }
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Usage(fmt::format("{} must be between {} and {} (got {})", what,
                             std::numeric_limits<int64_t>::min(),
                             std::numeric_limits<int64_t>::max(), Quoted(text)));
  }
  return value;
}

Result<std::vector<std::string>> ParseEndpointList(std::string_view list) {
  std::vector<std::string> endpoints;
  size_t start = 0;
  while (true) {
    size_t comma = list.find(',', start);
    std::string_view entry = list.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!entry.empty() && (entry.front() == ' ' || entry.front() == '\t'))
      entry.remove_prefix(1);
    while (!entry.empty() && (entry.back() == ' ' || entry.back() == '\t')) entry.remove_suffix(1);
    if (entry.empty()) {
      return Usage(
          fmt::format("empty endpoint in {} (expected host:port[,host:port...])", Quoted(list)));
    }
    std::string host;
    uint16_t port = 0;
    KVD_TRY(client::ParseEndpoint(std::string(entry), &host, &port));
    endpoints.emplace_back(entry);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return endpoints;
}

Result<std::string> ParseHex(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return Usage("hex has an odd number of digits");
  std::string bytes;
  bytes.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int high = nibble(hex[i]);
    int low = nibble(hex[i + 1]);
    if (high < 0 || low < 0) {
      return Usage(fmt::format("{} is not hex", Quoted(hex.substr(i, 2))));
    }
    bytes.push_back(static_cast<char>(high * 16 + low));
  }
  return bytes;
}

std::vector<std::string> CommandNames() {
  std::vector<std::string> names;
  for (const CommandSpec& spec : kCommands) names.emplace_back(spec.name);
  return names;
}

bool IsCommand(std::string_view name) { return FindSpec(name) != nullptr; }

std::string ClosestMatch(std::string_view word, const std::vector<std::string>& candidates) {
  // Levenshtein distance, one row at a time.
  auto distance = [&](std::string_view other) {
    std::vector<size_t> row(other.size() + 1);
    for (size_t j = 0; j <= other.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= word.size(); ++i) {
      size_t diagonal = row[0];
      row[0] = i;
      for (size_t j = 1; j <= other.size(); ++j) {
        size_t above = row[j];
        size_t substitute = diagonal + (word[i - 1] == other[j - 1] ? 0 : 1);
        row[j] = std::min({above + 1, row[j - 1] + 1, substitute});
        diagonal = above;
      }
    }
    return row[other.size()];
  };
  std::string best;
  size_t best_distance = std::max<size_t>(2, word.size() / 2) + 1;
  for (const std::string& candidate : candidates) {
    size_t d = distance(candidate);
    if (d < best_distance) {
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

std::string GeneralHelp() {
  std::string out =
      "kvctl: the command-line client for kvd.\n"
      "\n"
      "Usage: kvctl [global options] COMMAND [arguments and options]\n"
      "       kvctl COMMAND --help        (or: kvctl help COMMAND)\n"
      "\n"
      "Commands:\n";
  for (const CommandSpec& spec : kCommands) {
    if (!spec.cluster) out += fmt::format("  {:<16} {}\n", spec.name, spec.summary);
  }
  out +=
      "\nCluster commands (leader_follower; cluster status also multi_leader and dynamo; ring\n"
      "and node: dynamo; see their --help):\n";
  size_t width = 16;
  for (const CommandSpec& spec : kCommands) {
    if (spec.cluster) width = std::max(width, spec.name.size());
  }
  for (const CommandSpec& spec : kCommands) {
    if (spec.cluster) out += fmt::format("  {:<{}} {}\n", spec.name, width, spec.summary);
  }
  po::options_description globals("Global options (before or after the command)", 100, 50);
  AddGlobalOptions(&globals);
  globals.add_options()("help,h", "show this help; with a command, the command's help");
  std::ostringstream options;
  options << globals;
  out += "\n" + options.str();
  out +=
      "\n"
      "Durations: 500ms, 5s, 2m, 1h, or a plain number of milliseconds.\n"
      "Keys and values are arbitrary bytes; put \"--\" before arguments that start with '-'.\n"
      "\n"
      "Exit codes:\n"
      "  0  success (deleting a missing key included)\n"
      "  1  key not found (get, gets)\n"
      "  2  usage error: bad arguments, unreadable --file\n"
      "  3  condition failed (cas, batch check): nothing was written; get: the key has\n"
      "     siblings (multi_leader: get prints them all, as kvctl gets does)\n"
      "  4  request rejected by the server: invalid_argument, unsupported, protocol_error\n"
      "  5  server-side failure: io_error, corruption, unavailable, not_leader, timeout (from\n"
      "     the server), or a malformed answer; promote: another node won the election\n"
      "  6  could not reach the server: cannot connect, connection lost, or no answer within\n"
      "     --timeout; cluster commands: what kvctl waited for (a new leader) did not happen\n"
      "     within --timeout\n"
      "Errors are printed to stderr as one line: \"kvctl: <what went wrong>\".\n";
  return out;
}

std::string GroupHelp(std::string_view group) {
  KVD_ASSERT(IsGroup(group));
  std::string out = fmt::format(
      "Usage: kvctl [global options] {} SUBCOMMAND [arguments and options]\n\nSubcommands:\n",
      group);
  auto in_group = [&](std::string_view name) {
    return name.size() > group.size() && name.substr(0, group.size()) == group &&
           name[group.size()] == ' ';
  };
  size_t width = 8;
  for (const CommandSpec& spec : kCommands) {
    if (in_group(spec.name)) width = std::max(width, spec.name.size() - group.size() - 1);
  }
  for (const CommandSpec& spec : kCommands) {
    if (in_group(spec.name)) {
      out += fmt::format("  {:<{}} {}\n", spec.name.substr(group.size() + 1), width,
                         spec.summary);
    }
  }
  out += fmt::format(
      "\nThe subcommand comes right after \"{}\". Run 'kvctl {} SUBCOMMAND --help' for its help.\n",
      group, group);
  return out;
}

std::string CommandHelp(std::string_view name) {
  const CommandSpec* spec = FindSpec(name);
  KVD_ASSERT(spec != nullptr);
  std::string out = fmt::format("Usage: {}\n\n{}\n", spec->usage, spec->description);
  po::options_description options("Options", 100, 50);
  if (spec->add_options != nullptr) spec->add_options(&options);
  options.add_options()("help,h", "show this help");
  std::ostringstream text;
  text << options;
  out += "\n" + text.str();
  out += "\nExamples:\n";
  std::string_view examples = spec->examples;
  while (!examples.empty()) {
    size_t newline = examples.find('\n');
    out += fmt::format("  {}\n", examples.substr(0, newline));
    if (newline == std::string_view::npos) break;
    examples.remove_prefix(newline + 1);
  }
  out +=
      "\nGlobal options (--endpoints, --timeout, --output, ...) and exit codes: see kvctl "
      "--help.\n";
  return out;
}

}  // namespace kvd::kvctl
