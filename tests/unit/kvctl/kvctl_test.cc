// kvctl unit tests: the command-line client without a server.
//
// Goal: pin down kvctl's interface as scripts and people see it: which command lines are
// accepted and what they mean, the exact one-line message and exit code 2 of every usage
// error, how values and batch scripts are read (binary-safe), what each command prints in
// each output format for a given server answer, how server statuses and transport errors
// map to exit codes, and how a scan pages. Method: the library splits kvctl into pure
// steps, so each is called directly: ParseArgs on argument vectors; BuildRequest on
// invocations, with stdin as a string stream and files in a fresh temp directory;
// FormatResult on hand-built wire::Responses and transport errors; ExecuteWith on a scripted
// fake Backend (recorded requests, canned pages, a fake clock); Main for the end-to-end
// paths that stop before connecting (help, usage errors, unreadable files).
// A failure means kvctl's observable behaviour changed: a script relying on an output
// format, an exit code or a command-line form would break, or kvctl would send a request
// other than the one the user asked for.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "client/kvctl/args.h"
#include "client/kvctl/batch_script.h"
#include "client/kvctl/input.h"
#include "client/kvctl/invocation.h"
#include "client/kvctl/output.h"
#include "client/kvctl/run.h"

namespace kvd::kvctl {
namespace {

namespace fs = std::filesystem;
using Args = std::vector<std::string>;
using namespace std::chrono_literals;

// ---- helpers ----

Invocation MustParse(const Args& args, const Environment& env = {}) {
  Result<Invocation> r = ParseArgs(args, env);
  INFO("args: " << fmt::format("{}", fmt::join(args, " ")));
  REQUIRE(r.ok());
  return std::move(r).value();
}

// The usage error message for `args` (which must not parse).
std::string ParseError(const Args& args, const Environment& env = {}) {
  Result<Invocation> r = ParseArgs(args, env);
  INFO("args: " << fmt::format("{}", fmt::join(args, " ")));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  return r.status().message();
}

template <typename T>
T MustParseCommand(const Args& args) {
  Invocation inv = MustParse(args);
  const T* command = std::get_if<T>(&inv.command);
  REQUIRE(command != nullptr);
  return *command;
}

struct MainResult {
  int exit_code = 0;
  std::string out;
  std::string err;
};

MainResult RunMain(const Args& args, const std::string& stdin_bytes = "") {
  std::istringstream in(stdin_bytes);
  std::ostringstream out;
  std::ostringstream err;
  MainResult r;
  r.exit_code = Main(args, Environment{}, in, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

// A fresh directory under the system temp directory, removed afterwards.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() / fmt::format("kvctl-test-{}-{}", ::getpid(), ++counter);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string Write(const std::string& name, const std::string& bytes) const {
    fs::path p = path_ / name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p.string();
  }
  std::string path() const { return path_.string(); }

 private:
  fs::path path_;
};

wire::Request MustBuild(const Invocation& inv, const std::string& stdin_bytes = "") {
  std::istringstream in(stdin_bytes);
  Result<wire::Request> r = BuildRequest(inv, in);
  REQUIRE(r.ok());
  return std::move(r).value();
}

wire::Response OkResponse(wire::ResponseBody body) {
  wire::Response r;
  r.body = std::move(body);
  return r;
}

wire::Response ErrorResponse(Code code, std::string message) {
  wire::Response r;
  r.status = code;
  r.message = std::move(message);
  return r;
}

// Formats `response` as the answer to `args` (parsed and built without stdin).
Output Format(const Args& args, const Result<wire::Response>& response,
              FormatContext context = {}) {
  Invocation inv = MustParse(args);
  wire::Request request = MustBuild(inv);
  return FormatResult(inv, request, response, context);
}

const std::string kBinary("k\x00\xff\n", 4);

// ---- parsing: commands ----

TEST_CASE("kvctl: parses get, del, ping and status", "[unit][kvctl]") {
  CHECK(MustParseCommand<GetCommand>({"get", "greeting"}).key == "greeting");
  CHECK(MustParseCommand<GetCommand>({"get", kBinary}).key == kBinary);
  CHECK(MustParseCommand<DeleteCommand>({"del", "session/42"}).key == "session/42");
  CHECK(MustParseCommand<PingCommand>({"ping"}).payload.empty());
  CHECK(MustParseCommand<PingCommand>({"ping", "hello"}).payload == "hello");
  MustParseCommand<StatusCommand>({"status"});
  // `--` makes a word starting with '-' positional.
  CHECK(MustParseCommand<GetCommand>({"get", "--", "-k"}).key == "-k");
}

TEST_CASE("kvctl: parses put value sources and ttl", "[unit][kvctl]") {
  PutCommand put = MustParseCommand<PutCommand>({"put", "greeting", "hello"});
  CHECK(put.key == "greeting");
  CHECK(put.value == ValueSource{ValueSource::Kind::kArgument, "hello"});
  CHECK(put.ttl_ms == 0);

  put = MustParseCommand<PutCommand>({"put", "--ttl", "60s", "session/42", "token"});
  CHECK(put.value.text == "token");
  CHECK(put.ttl_ms == 60000);

  put = MustParseCommand<PutCommand>({"put", "blob", "-"});
  CHECK(put.value == ValueSource{ValueSource::Kind::kStdin, ""});

  put = MustParseCommand<PutCommand>({"put", "config.json", "--file", "./config.json"});
  CHECK(put.value == ValueSource{ValueSource::Kind::kFile, "./config.json"});

  put = MustParseCommand<PutCommand>({"put", "k", "--file=-"});
  CHECK(put.value.kind == ValueSource::Kind::kStdin);

  // An empty value is a value.
  put = MustParseCommand<PutCommand>({"put", "k", ""});
  CHECK(put.value == ValueSource{ValueSource::Kind::kArgument, ""});

  put = MustParseCommand<PutCommand>({"put", "k", "--", "-5"});
  CHECK(put.value.text == "-5");
}

TEST_CASE("kvctl: parses the cas forms", "[unit][kvctl]") {
  CasCommand cas =
      MustParseCommand<CasCommand>({"cas", "greeting", "hello, world", "--expect-version", "1"});
  CHECK(cas.kind == wire::CasKind::kPutIfVersion);
  CHECK(cas.key == "greeting");
  CHECK(cas.expected_version == 1);
  CHECK(cas.value.text == "hello, world");

  // --expect-version 0 stays put-if-version 0 ("must be absent").
  cas = MustParseCommand<CasCommand>({"cas", "k", "v", "--expect-version", "0"});
  CHECK(cas.kind == wire::CasKind::kPutIfVersion);
  CHECK(cas.expected_version == 0);

  cas = MustParseCommand<CasCommand>({"cas", "lock", "node-1", "--if-absent", "--ttl", "10s"});
  CHECK(cas.kind == wire::CasKind::kPutIfAbsent);
  CHECK(cas.expected_version == 0);
  CHECK(cas.ttl_ms == 10000);

  cas = MustParseCommand<CasCommand>({"cas", "k", "--file", "/tmp/v", "--expect-version", "7"});
  CHECK(cas.value == ValueSource{ValueSource::Kind::kFile, "/tmp/v"});

  cas = MustParseCommand<CasCommand>({"cas", "k", "-", "--if-absent"});
  CHECK(cas.value.kind == ValueSource::Kind::kStdin);

  cas = MustParseCommand<CasCommand>({"cas", "--delete", "greeting", "--expect-version", "3"});
  CHECK(cas.kind == wire::CasKind::kDeleteIfVersion);
  CHECK(cas.key == "greeting");
  CHECK(cas.expected_version == 3);
}

TEST_CASE("kvctl: parses batch ops from words", "[unit][kvctl]") {
  BatchCommand batch = MustParseCommand<BatchCommand>(
      {"batch", "check", "user/1", "5", "del", "user/3", "get", "user/2", "put", "a", "1"});
  CHECK(batch.file.empty());
  REQUIRE(batch.ops.size() == 4);
  CHECK(batch.ops[0] == wire::BatchOp{wire::BatchOpType::kCheck, "user/1", 5, "", 0});
  CHECK(batch.ops[1] == wire::BatchOp{wire::BatchOpType::kDelete, "user/3", 0, "", 0});
  CHECK(batch.ops[2] == wire::BatchOp{wire::BatchOpType::kGet, "user/2", 0, "", 0});
  CHECK(batch.ops[3] == wire::BatchOp{wire::BatchOpType::kPut, "a", 0, "1", 0});

  batch = MustParseCommand<BatchCommand>({"batch", "--file", "ops.txt"});
  CHECK(batch.ops.empty());
  CHECK(batch.file == "ops.txt");

  // Words are literal: quotes and backslashes are the shell's business.
  batch = MustParseCommand<BatchCommand>({"batch", "--", "put", "-k", "\"a b\\n\""});
  REQUIRE(batch.ops.size() == 1);
  CHECK(batch.ops[0].key == "-k");
  CHECK(batch.ops[0].value == "\"a b\\n\"");
}

TEST_CASE("kvctl: parses scan options", "[unit][kvctl]") {
  ScanCommand scan = MustParseCommand<ScanCommand>({"scan"});
  CHECK(scan == ScanCommand{});

  scan = MustParseCommand<ScanCommand>({"scan", "--prefix", "user/", "--from", "user/1", "--to",
                                        "user/9", "--limit", "10", "--reverse", "--keys-only",
                                        "--continuation", "01FF"});
  CHECK(scan.prefix == "user/");
  CHECK(scan.from == "user/1");
  CHECK(scan.to == "user/9");
  CHECK(scan.limit == 10);
  CHECK(scan.reverse);
  CHECK(scan.keys_only);
  CHECK_FALSE(scan.all);
  CHECK(scan.continuation == std::string("\x01\xff"));

  scan = MustParseCommand<ScanCommand>({"scan", "--all", "--from", "a"});
  CHECK(scan.all);
  CHECK(scan.limit == 0);
}

TEST_CASE("kvctl: parses global options before and after the command", "[unit][kvctl]") {
  Invocation inv = MustParse({"get", "k"});
  CHECK(inv.global == GlobalOptions{});
  CHECK(inv.global.endpoints == std::vector<std::string>{"127.0.0.1:7379"});
  CHECK(inv.global.timeout == 5s);

  inv = MustParse({"--endpoints", "a:1, b:2", "--timeout", "500ms", "--output", "json",
                   "--consistency", "linearizable", "--durability", "always", "get", "k"});
  CHECK(inv.global.endpoints == std::vector<std::string>{"a:1", "b:2"});
  CHECK(inv.global.timeout == 500ms);
  CHECK(inv.global.output == OutputFormat::kJson);
  CHECK(inv.global.consistency == wire::Consistency::kLinearizable);
  CHECK(inv.global.durability == wire::Durability::kAlways);

  inv = MustParse({"get", "blob", "--output", "raw", "--consistency=session"});
  CHECK(inv.global.output == OutputFormat::kRaw);
  CHECK(inv.global.consistency == wire::Consistency::kSession);
  CHECK(std::get<GetCommand>(inv.command).key == "blob");

  inv = MustParse({"-ojson", "--timeout=2m", "del", "k", "--durability", "none"});
  CHECK(inv.global.output == OutputFormat::kJson);
  CHECK(inv.global.timeout == 2min);
  CHECK(inv.global.durability == wire::Durability::kNone);

  CHECK(MustParse({"-o", "table", "status"}).global.output == OutputFormat::kTable);
  CHECK(MustParse({"--consistency", "follower", "status"}).global.consistency ==
        wire::Consistency::kFollower);
  CHECK(MustParse({"--consistency", "leader", "status"}).global.consistency ==
        wire::Consistency::kLeader);
  CHECK(MustParse({"--durability", "periodic", "status"}).global.durability ==
        wire::Durability::kPeriodic);
  CHECK(MustParse({"--timeout", "250", "status"}).global.timeout == 250ms);
}

TEST_CASE("kvctl: endpoints come from the flag, else KVCTL_ENDPOINTS, else the default",
          "[unit][kvctl]") {
  Environment env{"10.0.0.1:7379,10.0.0.2:7379"};
  CHECK(MustParse({"ping"}, env).global.endpoints ==
        std::vector<std::string>{"10.0.0.1:7379", "10.0.0.2:7379"});
  CHECK(MustParse({"--endpoints", "h:1", "ping"}, env).global.endpoints ==
        std::vector<std::string>{"h:1"});
  CHECK(MustParse({"ping"}, Environment{}).global.endpoints ==
        std::vector<std::string>{"127.0.0.1:7379"});
  CHECK(MustParse({"--endpoints", "[::1]:7379", "ping"}).global.endpoints ==
        std::vector<std::string>{"[::1]:7379"});
  CHECK(ParseError({"ping"}, Environment{"nohost"}) ==
        "KVCTL_ENDPOINTS: endpoint \"nohost\" must be host:port (e.g. 127.0.0.1:7379)");
}

TEST_CASE("kvctl: help forms", "[unit][kvctl]") {
  std::string general = GeneralHelp();
  for (const Args& args :
       {Args{}, Args{"--help"}, Args{"-h"}, Args{"help"}, Args{"--output", "json", "--help"}}) {
    if (args.empty()) continue;  // no arguments is a usage error, below
    Invocation inv = MustParse(args);
    REQUIRE(std::holds_alternative<HelpCommand>(inv.command));
    CHECK(std::get<HelpCommand>(inv.command).text == general);
  }
  // The general help lists every command, the global options and the exit codes.
  for (const std::string& name : CommandNames()) CHECK_THAT(general, Catch::Contains("  " + name));
  for (const char* text : {"--endpoints", "--timeout", "--output", "--consistency", "--durability",
                           "KVCTL_ENDPOINTS", "Exit codes:", "  0  success", "  1  key not found",
                           "  2  usage error", "  3  condition failed", "  4  request rejected",
                           "  5  server-side failure", "  6  could not reach the server"}) {
    CHECK_THAT(general, Catch::Contains(text));
  }

  for (const std::string& name : CommandNames()) {
    std::string help = CommandHelp(name);
    INFO(name);
    CHECK_THAT(help, Catch::StartsWith("Usage: kvctl "));
    CHECK_THAT(help, Catch::Contains("Options:"));
    CHECK_THAT(help, Catch::Contains("Examples:\n  kvctl "));
    // "member add" is two words on the command line.
    Args words;
    for (size_t start = 0; start <= name.size();) {
      size_t space = std::min(name.find(' ', start), name.size());
      words.push_back(name.substr(start, space - start));
      start = space + 1;
    }
    Args with_flag = words;
    with_flag.emplace_back("--help");
    Args via_help{"help"};
    via_help.insert(via_help.end(), words.begin(), words.end());
    CHECK(std::get<HelpCommand>(MustParse(with_flag).command).text == help);
    CHECK(std::get<HelpCommand>(MustParse(via_help).command).text == help);
  }
  // Help wins over other problems on the same line, but not after `--`.
  CHECK(std::get<HelpCommand>(MustParse({"put", "--bogus", "-h"}).command).text ==
        CommandHelp("put"));
  CHECK(MustParseCommand<GetCommand>({"get", "--", "--help"}).key == "--help");
  CHECK_THAT(CommandHelp("put"), Catch::Contains("--ttl DURATION"));
  CHECK_THAT(CommandHelp("scan"), Catch::Contains("--continuation TOKEN"));
  CHECK_THAT(CommandHelp("cas"), Catch::Contains("--expect-version N"));
  CHECK_THAT(CommandHelp("batch"), Catch::Contains("check KEY VERSION"));
}

// ---- parsing: usage errors ----

TEST_CASE("kvctl: usage errors name the problem", "[unit][kvctl]") {
  struct Case {
    Args args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{}, "no command given (run 'kvctl --help' for the list of commands)"},
      {{"--output", "json"}, "no command given (run 'kvctl --help' for the list of commands)"},
      {{"--endpoints"},
       "global options: the required argument for option '--endpoints' is missing"},
      {{"gte", "k"},
       "unknown command \"gte\" (did you mean \"get\"? run 'kvctl --help' for the list)"},
      {{"stats"},
       "unknown command \"stats\" (did you mean \"status\"? run 'kvctl --help' for the list)"},
      {{"frobnicate"},
       "unknown command \"frobnicate\" (commands: get, gets, put, del, cas, batch, scan, incr, "
       "decr, sadd, srem, smembers, ping, status, cluster, promote, transfer-leader, "
       "switchover, member, snapshot, ring, node, repair, help)"},
      {{"help", "gte"},
       "unknown command \"gte\" (did you mean \"get\"? run 'kvctl --help' for the list)"},
      {{"help", "get", "put"}, "help: unexpected argument \"put\" (usage: kvctl help [COMMAND])"},
      {{"--ttl", "5s", "put", "k", "v"},
       "unknown global option \"--ttl\" (command options go after the command)"},
      {{"--endpoint", "h:1", "get", "k"},
       "unknown global option \"--endpoint\" (did you mean --endpoints?)"},
      {{"--", "get", "k"}, "expected a command before \"--\" (run 'kvctl --help')"},
      {{"get"}, "get: missing arguments (usage: kvctl get KEY)"},
      {{"get", "a", "b"}, "get: unexpected argument \"b\" (usage: kvctl get KEY)"},
      {{"get", ""}, "get: KEY must not be empty"},
      {{"get", "k", "--bogus"}, "get: unknown option \"--bogus\""},
      {{"get", "-5"},
       "get: unknown option \"-5\" (put \"--\" before arguments that start with '-')"},
      {{"del"}, "del: missing arguments (usage: kvctl del KEY [--context HEX])"},
      {{"del", ""}, "del: KEY must not be empty"},
      {{"put", "k"},
       "put: no value given (pass VALUE, \"-\" to read standard input, or --file PATH)"},
      {{"put"},
       "put: missing arguments (usage: kvctl put KEY [VALUE] [--ttl DURATION] [--file PATH] "
       "[--context HEX])"},
      {{"put", "k", "v", "x"},
       "put: unexpected argument \"x\" (usage: kvctl put KEY [VALUE] [--ttl DURATION] [--file "
       "PATH] [--context HEX])"},
      {{"put", "k", "v", "--file", "f"}, "put: give the value as VALUE or with --file, not both"},
      {{"put", "k", "--file", ""}, "put: --file needs a path"},
      {{"put", "k", "v", "--tll", "5s"}, "put: unknown option \"--tll\" (did you mean --ttl?)"},
      {{"put", "k", "v", "--ttl"}, "put: the required argument for option '--ttl' is missing"},
      {{"put", "k", "v", "--ttl", "0"},
       "--ttl must be positive (leave it out for a key that never expires)"},
      {{"put", "k", "v", "--ttl", "5x"},
       "invalid duration \"5x\" (use 500ms, 5s, 2m, 1h, or a number of milliseconds)"},
      {{"put", "k", "v", "--ttl", "1s", "--ttl", "2s"},
       "put: option '--ttl' cannot be specified more than once"},
      {{"cas", "k", "v"}, "cas: needs --expect-version N or --if-absent"},
      {{"cas", "k", "v", "--if-absent", "--expect-version", "1"},
       "cas: give --expect-version N or --if-absent, not both"},
      {{"cas", "k", "--if-absent"},
       "cas: no value given (pass VALUE, \"-\" to read standard input, or --file PATH)"},
      {{"cas", "k", "v", "--expect-version", "-1"},
       "--expect-version must be a non-negative integer (got \"-1\")"},
      {{"cas", "k", "v", "--expect-version", "x"},
       "--expect-version must be a non-negative integer (got \"x\")"},
      {{"cas", "k", "v", "--expect-version", "18446744073709551616"},
       "--expect-version must be at most 18446744073709551615 (got \"18446744073709551616\")"},
      {{"cas", "--delete", "k"}, "cas: --delete needs --expect-version N"},
      {{"cas", "--delete", "k", "--expect-version", "0"},
       "cas: --delete needs --expect-version N with N >= 1 (an absent key cannot be deleted)"},
      {{"cas", "--delete", "k", "--if-absent"}, "cas: --delete and --if-absent cannot be combined"},
      {{"cas", "--delete", "k", "v", "--expect-version", "1"},
       "cas: unexpected argument \"v\" (usage: kvctl cas --delete KEY --expect-version N)"},
      {{"cas", "--delete", "k", "--expect-version", "1", "--ttl", "1s"},
       "cas: --delete takes no value, --file or --ttl"},
      {{"cas", "", "v", "--if-absent"}, "cas: KEY must not be empty"},
      {{"batch"}, "batch: no ops given (e.g. kvctl batch put a 1 get b), or use --file PATH"},
      {{"batch", "get", "a", "--file", "f"},
       "batch: give the ops as words or with --file, not both"},
      {{"batch", "--file", ""}, "batch: --file needs a path"},
      {{"batch", "pt", "a", "1"},
       "batch: op 0: unknown op \"pt\" (did you mean \"put\"?); ops are: put KEY VALUE, get KEY, "
       "del KEY, check KEY VERSION"},
      {{"batch", "get", "a", "frob"},
       "batch: op 1: unknown op \"frob\"; ops are: put KEY VALUE, get KEY, del KEY, check KEY "
       "VERSION"},
      {{"batch", "get", "a", "put", "b"}, "batch: op 1: \"put\" needs KEY VALUE"},
      {{"batch", "check", "a"}, "batch: op 0: \"check\" needs KEY VERSION"},
      {{"batch", "del"}, "batch: op 0: \"del\" needs KEY"},
      {{"batch", "get", ""}, "batch: op 0: KEY must not be empty"},
      {{"batch", "check", "a", "v1"},
       "batch: op 0: check: VERSION must be a non-negative integer (got \"v1\")"},
      {{"scan", "user/"},
       "scan: unexpected argument \"user/\" (select keys with --prefix, --from and --to)"},
      {{"scan", "--all", "--limit", "5"}, "scan: --all and --limit cannot be combined"},
      {{"scan", "--limit", "0"}, "scan: --limit must be at least 1"},
      {{"scan", "--limit", "4294967296"},
       "--limit must be at most 4294967295 (got \"4294967296\")"},
      {{"scan", "--from", "b", "--to", "a"},
       "scan: --from must be below --to (--from is inclusive, --to exclusive)"},
      {{"scan", "--from", "a", "--to", "a"},
       "scan: --from must be below --to (--from is inclusive, --to exclusive)"},
      {{"scan", "--continuation", "abc"}, "scan: --continuation: hex has an odd number of digits"},
      {{"scan", "--continuation", "zz"}, "scan: --continuation: \"zz\" is not hex"},
      {{"scan", "--continuation", ""}, "scan: --continuation needs a token"},
      {{"scan", "--reverse=yes"}, "scan: option '--reverse' does not take any arguments"},
      {{"scan", "--revers"}, "scan: unknown option \"--revers\" (did you mean --reverse?)"},
      {{"ping", "a", "b"}, "ping: unexpected argument \"b\" (usage: kvctl ping [PAYLOAD])"},
      {{"ping", std::string(64 * 1024 + 1, 'x')},
       "ping: PAYLOAD is 65537 bytes; the limit is 65536"},
      {{"status", "now"}, "status: unexpected argument \"now\" (usage: kvctl status)"},
      {{"--output", "yaml", "get", "k"}, "--output must be one of table, json, raw (got \"yaml\")"},
      {{"get", "k", "-o", "JSON"}, "--output must be one of table, json, raw (got \"JSON\")"},
      {{"--consistency", "strong", "get", "k"},
       "--consistency must be one of default, linearizable, leader, follower, session (got "
       "\"strong\")"},
      {{"--durability", "fsync", "put", "k", "v"},
       "--durability must be one of default, none, periodic, always (got \"fsync\")"},
      {{"--timeout", "0", "ping"}, "--timeout must be positive"},
      {{"--timeout", "25h", "ping"}, "--timeout must be at most 86400000 ms"},
      {{"--timeout", "fast", "ping"},
       "--timeout: invalid duration \"fast\" (use 500ms, 5s, 2m, 1h, or a number of milliseconds)"},
      {{"--endpoints", "", "ping"},
       "--endpoints: empty endpoint in \"\" (expected host:port[,host:port...])"},
      {{"--endpoints", "a:1,,b:2", "ping"},
       "--endpoints: empty endpoint in \"a:1,,b:2\" (expected host:port[,host:port...])"},
      {{"--endpoints", "a:99999", "ping"},
       "--endpoints: endpoint \"a:99999\" has an invalid port (expected 1..65535)"},
      {{"--output", "json", "--output", "raw", "get", "k"},
       "get: option '--output' cannot be specified more than once"},
      {{"-o", "json", "get", "k", "-o", "raw"},
       "get: option '--output' cannot be specified more than once"},
  };
  for (const Case& c : cases) {
    CHECK(ParseError(c.args) == c.message);
  }
}

TEST_CASE("kvctl: usage errors exit 2 with one line on stderr", "[unit][kvctl]") {
  for (const Args& args : {Args{}, Args{"gte", "k"}, Args{"put", "k"}, Args{"scan", "--limit", "0"},
                           Args{"batch", "pt"}, Args{"--output", "yaml", "get", "k"}}) {
    MainResult r = RunMain(args);
    INFO(fmt::format("{}", fmt::join(args, " ")));
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::StartsWith("kvctl: "));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(r.err.back() == '\n');
  }
  // A usage message with control bytes stays on one line.
  MainResult r = RunMain({"frobnicate\n"});
  CHECK(r.err ==
        "kvctl: unknown command \"frobnicate\\x0a\" (commands: get, gets, put, del, cas, batch, "
        "scan, incr, decr, sadd, srem, smembers, ping, status, cluster, promote, "
        "transfer-leader, switchover, member, snapshot, ring, node, repair, help)\n");
}

TEST_CASE("kvctl: help exits 0 on stdout", "[unit][kvctl]") {
  MainResult r = RunMain({"--help"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == GeneralHelp());
  CHECK(r.err.empty());
  r = RunMain({"scan", "--help"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == CommandHelp("scan"));
}

TEST_CASE("kvctl: unreadable input is a usage error, before connecting", "[unit][kvctl]") {
  TempDir dir;
  std::string missing = dir.path() + "/missing";
  MainResult r = RunMain({"--endpoints", "127.0.0.1:1", "put", "k", "--file", missing});
  CHECK(r.exit_code == 2);
  CHECK(r.err == fmt::format("kvctl: cannot read --file {}: No such file or directory\n", missing));

  r = RunMain({"put", "k", "--file", dir.path()});
  CHECK(r.exit_code == 2);
  CHECK(r.err == fmt::format("kvctl: cannot read --file {}: Is a directory\n", dir.path()));

  r = RunMain({"batch", "--file", missing});
  CHECK(r.exit_code == 2);
  CHECK(r.err == fmt::format("kvctl: cannot read --file {}: No such file or directory\n", missing));

  std::string script = dir.Write("ops.txt", "get a\nput b\n");
  r = RunMain({"batch", "--file", script});
  CHECK(r.exit_code == 2);
  CHECK(r.err == fmt::format("kvctl: {} line 2: op 1: \"put\" needs KEY VALUE\n", script));

  r = RunMain({"batch", "--file", "-"}, "# nothing\n");
  CHECK(r.exit_code == 2);
  CHECK(r.err ==
        "kvctl: standard input has no ops; ops are: put KEY VALUE, get KEY, del KEY, "
        "check KEY VERSION\n");
}

// ---- value parsers ----

TEST_CASE("kvctl: durations", "[unit][kvctl]") {
  struct Case {
    std::string text;
    int64_t ms;
  };
  for (const Case& c : std::vector<Case>{{"500ms", 500},
                                         {"5s", 5000},
                                         {"2m", 120000},
                                         {"1h", 3600000},
                                         {"250", 250},
                                         {"0", 0},
                                         {"0s", 0},
                                         {"007s", 7000},
                                         {"9223372036854775807", INT64_MAX},
                                         {"2562047788015h", 9223372036854000000}}) {
    Result<std::chrono::milliseconds> d = ParseDuration(c.text);
    INFO(c.text);
    REQUIRE(d.ok());
    CHECK(d->count() == c.ms);
  }
  for (const char* text :
       {"", "s", "ms", "-5s", "+5s", "1.5s", "5 s", "5S", "5sec", "5d", "1m30s", " 5s", "0x10"}) {
    Result<std::chrono::milliseconds> d = ParseDuration(text);
    INFO(text);
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().message() == fmt::format("invalid duration {} (use 500ms, 5s, 2m, 1h, or a "
                                              "number of milliseconds)",
                                              EscapeBytes(text, true)));
  }
  for (const char* text : {"9223372036854775808", "2562047788016h", "99999999999999999999999s"}) {
    Result<std::chrono::milliseconds> d = ParseDuration(text);
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().message() == fmt::format("duration \"{}\" is too long", text));
  }
}

TEST_CASE("kvctl: unsigned numbers, hex and endpoint lists", "[unit][kvctl]") {
  CHECK(ParseUnsigned("0", "N").value() == 0);
  CHECK(ParseUnsigned("18446744073709551615", "N").value() == UINT64_MAX);
  CHECK(ParseUnsigned("10", "N", 10).value() == 10);
  CHECK(ParseUnsigned("11", "N", 10).status().message() == "N must be at most 10 (got \"11\")");
  for (const char* bad : {"", "-0", "+1", " 1", "1 ", "1e3", "0x1"}) {
    CHECK_FALSE(ParseUnsigned(bad, "N").ok());
  }

  CHECK(ParseHex("").value().empty());
  CHECK(ParseHex("00ff7A").value() == std::string("\x00\xff\x7a", 3));
  CHECK_FALSE(ParseHex("0").ok());
  CHECK_FALSE(ParseHex("0g").ok());
  CHECK(ParseHex(HexEncode(kBinary)).value() == kBinary);

  CHECK(ParseEndpointList("a:1").value() == std::vector<std::string>{"a:1"});
  CHECK(ParseEndpointList(" a:1 ,\tb:2 ").value() == std::vector<std::string>{"a:1", "b:2"});
  CHECK_FALSE(ParseEndpointList("a:1,").ok());
  CHECK_FALSE(ParseEndpointList("a").ok());
  CHECK_FALSE(ParseEndpointList(":1").ok());
  CHECK_FALSE(ParseEndpointList("a:0").ok());
}

TEST_CASE("kvctl: suggestions pick the closest plausible candidate", "[unit][kvctl]") {
  std::vector<std::string> commands = CommandNames();
  CHECK(ClosestMatch("gte", commands) == "get");
  CHECK(ClosestMatch("pu", commands) == "put");
  CHECK(ClosestMatch("delete", commands) == "del");
  CHECK(ClosestMatch("sacn", commands) == "scan");
  CHECK(ClosestMatch("statu", commands) == "status");
  CHECK(ClosestMatch("xyzzy", commands).empty());
  CHECK(ClosestMatch("", commands).empty());  // every command is 3 or more edits away
  CHECK(ClosestMatch("abc", {}).empty());
}

// ---- batch scripts ----

TEST_CASE("kvctl: batch script lines split into words", "[unit][kvctl]") {
  using Words = std::vector<std::string>;
  CHECK(SplitScriptLine("").value().empty());
  CHECK(SplitScriptLine("  \t ").value().empty());
  CHECK(SplitScriptLine("put a b").value() == Words{"put", "a", "b"});
  CHECK(SplitScriptLine("\tput   a\tb  \r").value() == Words{"put", "a", "b"});
  CHECK(SplitScriptLine("put \"a b\" \"\"").value() == Words{"put", "a b", ""});
  CHECK(SplitScriptLine(R"(put k "\\ \" \n \r \t \0 \x41\xfF")").value() ==
        Words{"put", "k", std::string("\\ \" \n \r \t \0 A\xff", 14)});
  CHECK(SplitScriptLine(R"(put back\slash x#y)").value() == Words{"put", "back\\slash", "x#y"});
  CHECK(SplitScriptLine("put k \"unicode ✓\"").value() == Words{"put", "k", "unicode ✓"});

  struct Bad {
    std::string line;
    std::string message;
  };
  for (const Bad& b : std::vector<Bad>{
           {"put k \"abc", "unterminated quote"},
           {"put k \"abc\\", "unterminated quote"},
           {"put k \"a\\q\"",
            "unknown escape \"\\\\q\" (escapes: \\\\ \\\" \\n \\r \\t \\0 \\xNN)"},
           {"put k \"\\x4\"", "\\x must be followed by two hex digits"},
           {"put k \"\\xg0\"", "\\x must be followed by two hex digits"},
           {"put k \"a\"b", "a closing quote must be followed by a space or the line end"},
           {"put k a\"b\"", "'\"' inside a word (quote the whole word)"},
       }) {
    Result<std::vector<std::string>> words = SplitScriptLine(b.line);
    INFO(b.line);
    REQUIRE_FALSE(words.ok());
    CHECK(words.status().message() == b.message);
  }
}

TEST_CASE("kvctl: batch scripts parse one op per line", "[unit][kvctl]") {
  std::string script =
      "# move the greeting, if nobody changed it\r\n"
      "check greeting 3\r\n"
      "\n"
      "   # indented comment\n"
      "put \"greeting 2\" \"hello, world\\n\"\n"
      "get greeting\n"
      "del greeting";  // no final newline
  Result<std::vector<wire::BatchOp>> ops = ParseBatchScript(script, "ops.txt");
  REQUIRE(ops.ok());
  REQUIRE(ops->size() == 4);
  CHECK((*ops)[0] == wire::BatchOp{wire::BatchOpType::kCheck, "greeting", 3, "", 0});
  CHECK((*ops)[1] == wire::BatchOp{wire::BatchOpType::kPut, "greeting 2", 0, "hello, world\n", 0});
  CHECK((*ops)[2] == wire::BatchOp{wire::BatchOpType::kGet, "greeting", 0, "", 0});
  CHECK((*ops)[3] == wire::BatchOp{wire::BatchOpType::kDelete, "greeting", 0, "", 0});

  struct Bad {
    std::string script;
    std::string message;
  };
  const std::string kOps = "ops are: put KEY VALUE, get KEY, del KEY, check KEY VERSION";
  for (const Bad& b : std::vector<Bad>{
           {"", "ops.txt has no ops; " + kOps},
           {"# only\n\n", "ops.txt has no ops; " + kOps},
           {"get a\nget a b\n", "ops.txt line 2: unexpected \"b\" after the op (one op per line)"},
           {"get a\n\nput \"x\n", "ops.txt line 3: unterminated quote"},
           {"get a\nfrob a\n", "ops.txt line 2: op 1: unknown op \"frob\"; " + kOps},
           {"check a -1\n",
            "ops.txt line 1: op 0: check: VERSION must be a non-negative integer "
            "(got \"-1\")"},
           {"put \"\" v\n", "ops.txt line 1: op 0: KEY must not be empty"},
       }) {
    Result<std::vector<wire::BatchOp>> r = ParseBatchScript(b.script, "ops.txt");
    INFO(b.script);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message() == b.message);
  }
}

TEST_CASE("kvctl: script words quote so that they read back", "[unit][kvctl]") {
  CHECK(QuoteScriptWord("user/1") == "user/1");
  CHECK(QuoteScriptWord("héllo") == "héllo");
  CHECK(QuoteScriptWord("a b") == "\"a b\"");
  CHECK(QuoteScriptWord("") == "\"\"");
  CHECK(QuoteScriptWord("#x") == "\"#x\"");
  CHECK(QuoteScriptWord("say \"hi\"") == "\"say \\\"hi\\\"\"");
  CHECK(QuoteScriptWord(kBinary) == "\"k\\x00\\xff\\x0a\"");
  for (const std::string& word :
       {std::string("plain"), std::string("a b"), std::string(""), kBinary, std::string("\\"),
        std::string("\"\t\r\n#"), std::string("\xc2\x80\xed\xa0\x80 ✓")}) {
    Result<std::vector<std::string>> back = SplitScriptLine("get " + QuoteScriptWord(word));
    INFO(EscapeBytes(word, true));
    REQUIRE(back.ok());
    CHECK(*back == std::vector<std::string>{"get", word});
  }
}

// ---- building requests ----

TEST_CASE("kvctl: requests carry the command and the global options", "[unit][kvctl]") {
  wire::Request r =
      MustBuild(MustParse({"--consistency", "leader", "--timeout", "750ms", "get", kBinary}));
  CHECK(r.request_id == 0);
  CHECK(r.options.consistency == wire::Consistency::kLeader);
  CHECK(r.options.durability == wire::Durability::kDefault);
  CHECK(r.options.timeout_ms == 750);
  CHECK(std::get<wire::GetRequest>(r.body).key == kBinary);

  r = MustBuild(MustParse({"put", "k", "v", "--ttl", "2m", "--durability", "always"}));
  CHECK(r.options.durability == wire::Durability::kAlways);
  CHECK(std::get<wire::PutRequest>(r.body) == wire::PutRequest{"k", "v", 120000});

  r = MustBuild(MustParse({"del", "k"}));
  CHECK(std::get<wire::DeleteRequest>(r.body).key == "k");

  r = MustBuild(MustParse({"cas", "k", "v", "--expect-version", "0"}));
  CHECK(std::get<wire::CasRequest>(r.body) ==
        wire::CasRequest{wire::CasKind::kPutIfVersion, "k", 0, "v", 0});
  r = MustBuild(MustParse({"cas", "k", "v", "--if-absent", "--ttl", "1s"}));
  CHECK(std::get<wire::CasRequest>(r.body) ==
        wire::CasRequest{wire::CasKind::kPutIfAbsent, "k", 0, "v", 1000});
  r = MustBuild(MustParse({"cas", "--delete", "k", "--expect-version", "9"}));
  CHECK(std::get<wire::CasRequest>(r.body) ==
        wire::CasRequest{wire::CasKind::kDeleteIfVersion, "k", 9, "", 0});

  r = MustBuild(MustParse({"batch", "put", "a", "1", "check", "a", "0"}));
  CHECK(std::get<wire::BatchRequest>(r.body).ops.size() == 2);

  r = MustBuild(MustParse({"scan", "--prefix", "p", "--from", "pa", "--to", "pz", "--limit", "7",
                           "--reverse", "--keys-only", "--continuation", "0102"}));
  CHECK(std::get<wire::ScanRequest>(r.body) ==
        wire::ScanRequest{"p", "pa", "pz", 7, true, true, std::string("\x01\x02")});

  r = MustBuild(MustParse({"ping", "hello"}));
  CHECK(std::get<wire::PingRequest>(r.body).payload == "hello");
  r = MustBuild(MustParse({"status"}));
  CHECK(std::holds_alternative<wire::StatusRequest>(r.body));
}

TEST_CASE("kvctl: values come from the argument, a file or stdin, byte for byte", "[unit][kvctl]") {
  std::string bytes("binary\x00value\r\n\xff", 15);
  TempDir dir;
  std::string path = dir.Write("value.bin", bytes);

  wire::Request r = MustBuild(MustParse({"put", "k", "--file", path}));
  CHECK(std::get<wire::PutRequest>(r.body).value == bytes);

  r = MustBuild(MustParse({"put", "k", "-"}), bytes);
  CHECK(std::get<wire::PutRequest>(r.body).value == bytes);

  r = MustBuild(MustParse({"put", "k", "--file", "-"}), bytes);
  CHECK(std::get<wire::PutRequest>(r.body).value == bytes);

  r = MustBuild(MustParse({"cas", "k", "-", "--expect-version", "2"}), bytes);
  CHECK(std::get<wire::CasRequest>(r.body).value == bytes);

  r = MustBuild(MustParse({"cas", "k", "--file", path, "--if-absent"}));
  CHECK(std::get<wire::CasRequest>(r.body).value == bytes);

  // A value larger than one read chunk.
  std::string big(200 * 1024 + 3, 'x');
  big[100] = '\0';
  r = MustBuild(MustParse({"put", "k", "--file", dir.Write("big", big)}));
  CHECK(std::get<wire::PutRequest>(r.body).value == big);
  r = MustBuild(MustParse({"put", "k", "-"}), big);
  CHECK(std::get<wire::PutRequest>(r.body).value == big);

  // Empty inputs are empty values.
  r = MustBuild(MustParse({"put", "k", "-"}), "");
  CHECK(std::get<wire::PutRequest>(r.body).value.empty());
  r = MustBuild(MustParse({"put", "k", "--file", dir.Write("empty", "")}));
  CHECK(std::get<wire::PutRequest>(r.body).value.empty());
}

TEST_CASE("kvctl: input is bounded", "[unit][kvctl]") {
  TempDir dir;
  std::string path = dir.Write("five", "12345");
  CHECK(ReadFileBytes(path, "--file", 5).value() == "12345");
  Result<std::string> r = ReadFileBytes(path, "--file", 4);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() ==
        fmt::format("--file {} is larger than 4 bytes, more than a request can carry", path));

  std::istringstream in("12345");
  r = ReadStreamBytes(in, "standard input", 4);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() ==
        "standard input is larger than 4 bytes, more than a request can carry");
  CHECK(kMaxInputBytes == wire::kMaxFrameBytesCeiling);
}

TEST_CASE("kvctl: batch scripts come from a file or stdin", "[unit][kvctl]") {
  TempDir dir;
  std::string script = "put \"a b\" \"x\\x00y\"\ncheck \"a b\" 0\n";
  std::string path = dir.Write("ops.txt", script);
  for (const auto& [args, input] : std::vector<std::pair<Args, std::string>>{
           {{"batch", "--file", path}, ""}, {{"batch", "--file", "-"}, script}}) {
    wire::Request r = MustBuild(MustParse(args), input);
    const auto& ops = std::get<wire::BatchRequest>(r.body).ops;
    REQUIRE(ops.size() == 2);
    CHECK(ops[0] == wire::BatchOp{wire::BatchOpType::kPut, "a b", 0, std::string("x\0y", 3), 0});
    CHECK(ops[1] == wire::BatchOp{wire::BatchOpType::kCheck, "a b", 0, "", 0});
  }
  std::istringstream in("");
  Result<wire::Request> r =
      BuildRequest(MustParse({"batch", "--file", dir.Write("bad.txt", "get a\nget\n")}), in);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() == dir.path() + "/bad.txt line 2: op 1: \"get\" needs KEY");
}

// ---- output: helpers ----

TEST_CASE("kvctl: table escaping", "[unit][kvctl]") {
  CHECK(EscapeBytes("hello") == "hello");
  CHECK(EscapeBytes("") == "");
  CHECK(EscapeBytes("a b~") == "a b~");
  CHECK(EscapeBytes(std::string("\x00\x01\n\t\x7f", 5)) == "\\x00\\x01\\x0a\\x09\\x7f");
  CHECK(EscapeBytes("back\\slash") == "back\\\\slash");
  CHECK(EscapeBytes("say \"hi\"") == "say \"hi\"");
  CHECK(EscapeBytes("say \"hi\"", true) == "\"say \\\"hi\\\"\"");
  CHECK(EscapeBytes("ünïcode ✓ 😀") == "ünïcode ✓ 😀");
  // Malformed UTF-8, C1 controls, overlong forms and surrogates are bytes.
  CHECK(EscapeBytes("\xff\xfe") == "\\xff\\xfe");
  CHECK(EscapeBytes("\xc2\x80") == "\\xc2\\x80");
  CHECK(EscapeBytes("\xc0\xaf") == "\\xc0\\xaf");
  CHECK(EscapeBytes("\xed\xa0\x80") == "\\xed\\xa0\\x80");
  CHECK(EscapeBytes("\xe2\x9c") == "\\xe2\\x9c");                    // truncated
  CHECK(EscapeBytes("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  CHECK(EscapeBytes("\xc2\xa0x") == "\xc2\xa0x");

  CHECK(EscapeBytesTruncated("short", 10) == "short");
  CHECK(EscapeBytesTruncated("0123456789", 10) == "0123456789");
  CHECK(EscapeBytesTruncated("0123456789a", 10) == "0123456789... (11 bytes)");
  // An escape is never cut in half.
  CHECK(EscapeBytesTruncated(std::string("abcdefgh\x01z", 10), 10) == "abcdefgh... (10 bytes)");
  CHECK(EscapeBytesTruncated("✓✓✓✓", 3) == "✓✓✓... (12 bytes)");
}

TEST_CASE("kvctl: utf-8, base64, hex and shell quoting", "[unit][kvctl]") {
  CHECK(IsValidUtf8(""));
  CHECK(IsValidUtf8("plain ascii"));
  CHECK(IsValidUtf8("ünïcode ✓ 😀"));
  CHECK(IsValidUtf8(std::string("nul\x00inside", 10)));
  CHECK(IsValidUtf8("\xf4\x8f\xbf\xbf"));
  CHECK_FALSE(IsValidUtf8("\xff"));
  CHECK_FALSE(IsValidUtf8("\xc0\x80"));
  CHECK_FALSE(IsValidUtf8("\xe0\x80\x80"));
  CHECK_FALSE(IsValidUtf8("\xed\xa0\x80"));
  CHECK_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));
  CHECK_FALSE(IsValidUtf8("\xe2\x9c"));
  CHECK_FALSE(IsValidUtf8("\x80"));

  CHECK(Base64Encode("") == "");
  CHECK(Base64Encode("f") == "Zg==");
  CHECK(Base64Encode("fo") == "Zm8=");
  CHECK(Base64Encode("foo") == "Zm9v");
  CHECK(Base64Encode("foobar") == "Zm9vYmFy");
  CHECK(Base64Encode(std::string("\x00\xff\xfe", 3)) == "AP/+");

  CHECK(HexEncode("") == "");
  CHECK(HexEncode(std::string("\x01\x00\xab", 3)) == "0100ab");

  CHECK(ShellQuote("user/1") == "user/1");
  CHECK(ShellQuote("") == "''");
  CHECK(ShellQuote("a b") == "'a b'");
  CHECK(ShellQuote("it's") == "'it'\\''s'");
  CHECK(ShellQuote("$HOME") == "'$HOME'");
  CHECK(ShellQuote(std::string("k\x00'\\\xff", 5)) == "$'k\\x00\\'\\\\\\xff'");
}

TEST_CASE("kvctl: time to live", "[unit][kvctl]") {
  CHECK(FormatTtl(0) == "0ms");
  CHECK(FormatTtl(750) == "750ms");
  CHECK(FormatTtl(1000) == "1s");
  CHECK(FormatTtl(59999) == "59s");
  CHECK(FormatTtl(65000) == "1m5s");
  CHECK(FormatTtl(3600000) == "1h0m0s");
  CHECK(FormatTtl(7384000) == "2h3m4s");
  CHECK(FormatTtl(273906000) == "3d4h5m6s");
}

// ---- output: each command ----

TEST_CASE("kvctl: get output", "[unit][kvctl]") {
  wire::Response r = OkResponse(wire::GetResponse{7, 1700000000000, "hello"});
  CHECK(Format({"get", "greeting"}, r).out == "hello\n");
  CHECK(Format({"get", "greeting", "-o", "raw"}, r).out == "hello");
  CHECK(
      Format({"get", "greeting", "-o", "json"}, r).out ==
      "{\"key\":\"greeting\",\"value\":\"hello\",\"version\":7,\"expires_at_ms\":1700000000000}\n");

  std::string binary("binary\x00value\n\xff", 14);
  r = OkResponse(wire::GetResponse{3, 0, binary});
  Output table = Format({"get", kBinary}, r);
  CHECK(table.out == "binary\\x00value\\x0a\\xff\n");
  CHECK(table.err.empty());
  CHECK(table.exit_code == ExitCode::kOk);
  CHECK(Format({"get", kBinary, "-o", "raw"}, r).out == binary);
  CHECK(Format({"get", kBinary, "-o", "json"}, r).out ==
        "{\"key_base64\":\"awD/Cg==\",\"value_base64\":\"YmluYXJ5AHZhbHVlCv8=\",\"version\":3,"
        "\"expires_at_ms\":0}\n");
  // Valid UTF-8 with control characters stays a JSON string.
  r = OkResponse(wire::GetResponse{1, 0, std::string("a\x00\"✓", 6)});
  CHECK(Format({"get", "k", "-o", "json"}, r).out ==
        "{\"key\":\"k\",\"value\":\"a\\u0000\\\"✓\",\"version\":1,\"expires_at_ms\":0}\n");
  CHECK(Format({"get", "k", "-o", "raw"}, OkResponse(wire::GetResponse{1, 0, ""})).out.empty());
  CHECK(Format({"get", "k"}, OkResponse(wire::GetResponse{1, 0, ""})).out == "\n");
}

TEST_CASE("kvctl: put, del and cas output", "[unit][kvctl]") {
  wire::Response put = OkResponse(wire::PutResponse{42});
  CHECK(Format({"put", "k", "v"}, put).out == "OK version=42\n");
  CHECK(Format({"put", "k", "v", "-o", "raw"}, put).out == "42\n");
  CHECK(Format({"put", "k", "v", "-o", "json"}, put).out == "{\"version\":42}\n");

  wire::Response deleted = OkResponse(wire::DeleteResponse{true});
  wire::Response missing = OkResponse(wire::DeleteResponse{false});
  CHECK(Format({"del", "k"}, deleted).out == "deleted\n");
  Output not_found = Format({"del", "k"}, missing);
  CHECK(not_found.out == "not found (nothing deleted)\n");
  CHECK(not_found.exit_code == ExitCode::kOk);
  CHECK(Format({"del", "k", "-o", "raw"}, deleted).out == "1\n");
  CHECK(Format({"del", "k", "-o", "raw"}, missing).out == "0\n");
  CHECK(Format({"del", "k", "-o", "json"}, deleted).out == "{\"deleted\":true}\n");
  CHECK(Format({"del", "k", "-o", "json"}, missing).out == "{\"deleted\":false}\n");

  wire::Response cas = OkResponse(wire::CasResponse{8});
  CHECK(Format({"cas", "k", "v", "--expect-version", "7"}, cas).out == "OK version=8\n");
  CHECK(Format({"cas", "k", "v", "--if-absent", "-o", "raw"}, cas).out == "8\n");
  CHECK(Format({"cas", "k", "v", "--if-absent", "-o", "json"}, cas).out == "{\"version\":8}\n");
  wire::Response cas_delete = OkResponse(wire::CasResponse{0});
  Args del = {"cas", "--delete", "k", "--expect-version", "3"};
  CHECK(Format(del, cas_delete).out == "deleted\n");
  Args del_raw = del;
  del_raw.insert(del_raw.end(), {"-o", "raw"});
  CHECK(Format(del_raw, cas_delete).out == "1\n");
  Args del_json = del;
  del_json.insert(del_json.end(), {"-o", "json"});
  CHECK(Format(del_json, cas_delete).out == "{\"deleted\":true}\n");
}

TEST_CASE("kvctl: a failed condition exits 3 with the current version", "[unit][kvctl]") {
  wire::Response conflict =
      ErrorResponse(Code::kConflict, "key is at version 3; expected version 1");
  conflict.detail.current_version = 3;
  Output o = Format({"cas", "greeting", "too late", "--expect-version", "1"}, conflict);
  CHECK(o.exit_code == ExitCode::kConflict);
  CHECK(o.out.empty());
  CHECK(o.err == "kvctl: conflict: key is at version 3; expected version 1 (current version 3)\n");

  wire::Response absent = ErrorResponse(Code::kConflict, "key is absent; nothing to delete");
  o = Format({"cas", "--delete", "k", "--expect-version", "2", "-o", "json"}, absent);
  CHECK(o.exit_code == ExitCode::kConflict);
  CHECK(o.out.empty());
  CHECK(o.err == "kvctl: conflict: key is absent; nothing to delete (current version 0)\n");

  // Batch: the failed op is named, whether or not the server's message names it.
  wire::Response check =
      ErrorResponse(Code::kConflict, "op 1 (check): key is at version 5; expected 4");
  check.detail.op_index = 1;
  check.detail.current_version = 5;
  o = Format({"batch", "put", "a", "1", "check", "b", "4"}, check);
  CHECK(o.exit_code == ExitCode::kConflict);
  CHECK(o.err ==
        "kvctl: conflict: op 1 (check): key is at version 5; expected 4 (current "
        "version 5); nothing was applied\n");
  check.message = "version mismatch";
  o = Format({"batch", "put", "a", "1", "check", "b", "4"}, check);
  CHECK(o.err ==
        "kvctl: conflict: op 1: version mismatch (current version 5); nothing was "
        "applied\n");
}

TEST_CASE("kvctl: batch output", "[unit][kvctl]") {
  Args args = {"batch", "put", "a", "1",     "get", "b", "get",   "gone", "del",
               "c",     "del", "d", "check", "a b", "7", "check", "e",    "0"};
  wire::BatchResponse body;
  body.results = {
      {wire::BatchOpType::kPut, true, 7, 0, ""},
      {wire::BatchOpType::kGet, true, 5, 0, "x \"y\""},
      {wire::BatchOpType::kGet, false, 0, 0, ""},
      {wire::BatchOpType::kDelete, true, 0, 0, ""},
      {wire::BatchOpType::kDelete, false, 0, 0, ""},
      {wire::BatchOpType::kCheck, true, 7, 0, ""},
      {wire::BatchOpType::kCheck, false, 0, 0, ""},
  };
  wire::Response r = OkResponse(body);
  std::string table =
      "0 put a -> version 7\n"
      "1 get b -> \"x \\\"y\\\"\" (version 5)\n"
      "2 get gone -> not found\n"
      "3 del c -> deleted\n"
      "4 del d -> not found\n"
      "5 check \"a b\" -> ok (version 7)\n"
      "6 check e -> ok (absent)\n";
  CHECK(Format(args, r).out == table);
  Args raw = args;
  raw.insert(raw.end(), {"-o", "raw"});
  CHECK(Format(raw, r).out == table);
  Args json = args;
  json.insert(json.end(), {"-o", "json"});
  CHECK(Format(json, r).out ==
        "{\"results\":["
        "{\"op\":\"put\",\"key\":\"a\",\"version\":7},"
        "{\"op\":\"get\",\"key\":\"b\",\"found\":true,\"value\":\"x \\\"y\\\"\",\"version\":5,"
        "\"expires_at_ms\":0},"
        "{\"op\":\"get\",\"key\":\"gone\",\"found\":false},"
        "{\"op\":\"del\",\"key\":\"c\",\"deleted\":true},"
        "{\"op\":\"del\",\"key\":\"d\",\"deleted\":false},"
        "{\"op\":\"check\",\"key\":\"a b\",\"version\":7},"
        "{\"op\":\"check\",\"key\":\"e\",\"version\":0}]}\n");

  // Binary keys and values.
  wire::BatchResponse binary;
  binary.results = {{wire::BatchOpType::kGet, true, 2, 0, std::string("\x00\xff", 2)}};
  CHECK(Format({"batch", "get", kBinary}, OkResponse(binary)).out ==
        "0 get \"k\\x00\\xff\\x0a\" -> \"\\x00\\xff\" (version 2)\n");
  CHECK(Format({"batch", "get", kBinary, "-o", "json"}, OkResponse(binary)).out ==
        "{\"results\":[{\"op\":\"get\",\"key_base64\":\"awD/Cg==\",\"found\":true,"
        "\"value_base64\":\"AP8=\",\"version\":2,\"expires_at_ms\":0}]}\n");
}

TEST_CASE("kvctl: scan output", "[unit][kvctl]") {
  wire::ScanResponse body;
  body.items = {{"user/1", 5, 0, "ada"}, {"user/22", 12, 0, "grace"}};
  wire::Response r = OkResponse(body);
  CHECK(Format({"scan", "--prefix", "user/"}, r).out ==
        "KEY      VERSION  VALUE\n"
        "user/1   5        ada\n"
        "user/22  12       grace\n");
  CHECK(Format({"scan", "--keys-only"}, r).out ==
        "KEY      VERSION\n"
        "user/1   5\n"
        "user/22  12\n");
  Output raw = Format({"scan", "-o", "raw"}, r);
  CHECK(raw.out == "user/1\tada\nuser/22\tgrace\n");
  CHECK(raw.err.empty());
  CHECK(Format({"scan", "-o", "raw", "--keys-only"}, r).out == "user/1\nuser/22\n");
  CHECK(Format({"scan", "-o", "json"}, r).out ==
        "{\"items\":[{\"key\":\"user/1\",\"version\":5,\"expires_at_ms\":0,\"value\":\"ada\"},"
        "{\"key\":\"user/22\",\"version\":12,\"expires_at_ms\":0,\"value\":\"grace\"}],"
        "\"continuation\":\"\"}\n");
  CHECK(Format({"scan", "-o", "json", "--keys-only"}, r).out ==
        "{\"items\":[{\"key\":\"user/1\",\"version\":5,\"expires_at_ms\":0},"
        "{\"key\":\"user/22\",\"version\":12,\"expires_at_ms\":0}],\"continuation\":\"\"}\n");

  // Nothing found.
  CHECK(Format({"scan"}, OkResponse(wire::ScanResponse{})).out == "(no keys)\n");
  CHECK(Format({"scan", "-o", "raw"}, OkResponse(wire::ScanResponse{})).out.empty());
  CHECK(Format({"scan", "-o", "json"}, OkResponse(wire::ScanResponse{})).out ==
        "{\"items\":[],\"continuation\":\"\"}\n");
}

TEST_CASE("kvctl: scan output with TTLs, binary keys and more pages", "[unit][kvctl]") {
  wire::ScanResponse body;
  body.items = {{"a", 1, 0, "x"}, {"b", 2, 1065000, "y"}, {"c", 3, 999, "z"}};
  body.continuation = std::string(
      "\x01\x00"
      "c",
      3);
  FormatContext at;
  at.now_ms = 1000;
  Output o =
      Format({"scan", "--prefix", "my keys", "--reverse", "--limit", "3"}, OkResponse(body), at);
  CHECK(o.out ==
        "KEY  VERSION  TTL     VALUE\n"
        "a    1        -       x\n"
        "b    2        17m44s  y\n"
        "c    3        0ms     z\n"
        "-- more: kvctl scan --prefix 'my keys' --reverse --limit 3 --continuation 010063\n");
  o = Format({"scan", "-o", "raw", "--from", "a", "--to", "d", "--keys-only"}, OkResponse(body));
  CHECK(o.out == "a\nb\nc\n");
  CHECK(o.err == "-- more: kvctl scan --from a --to d --keys-only --continuation 010063\n");
  CHECK(o.exit_code == ExitCode::kOk);
  CHECK(Format({"scan", "-o", "json"}, OkResponse(body)).out ==
        "{\"items\":[{\"key\":\"a\",\"version\":1,\"expires_at_ms\":0,\"value\":\"x\"},"
        "{\"key\":\"b\",\"version\":2,\"expires_at_ms\":1065000,\"value\":\"y\"},"
        "{\"key\":\"c\",\"version\":3,\"expires_at_ms\":999,\"value\":\"z\"}],"
        "\"continuation\":\"010063\"}\n");

  wire::ScanResponse binary;
  binary.items = {{kBinary, 4, 0, std::string(300, 'v')}, {"ключ", 5, 0, "значение"}};
  binary.continuation = "\x01";
  o = Format({"scan", "--prefix", "k"}, OkResponse(binary));
  CHECK(o.out ==
        "KEY            VERSION  VALUE\n"
        "k\\x00\\xff\\x0a  4        " +
            std::string(120, 'v') +
            "... (300 bytes)\n"
            "ключ           5        значение\n"
            "-- more: kvctl scan --prefix k --continuation 01\n");
  o = Format({"scan", "-o", "raw"}, OkResponse(binary));
  CHECK(o.out == kBinary + "\t" + std::string(300, 'v') + "\nключ\tзначение\n");
  CHECK(NextScanCommand(ScanCommand{std::string("\xff", 1), "", "", 0, false, false, false, ""},
                        "\x01") == "kvctl scan --prefix $'\\xff' --continuation 01");
}

TEST_CASE("kvctl: ping and status output", "[unit][kvctl]") {
  FormatContext context;
  context.rtt = std::chrono::microseconds(213);
  wire::Response pong = OkResponse(wire::PingResponse{""});
  CHECK(Format({"ping"}, pong, context).out == "PONG 0.21 ms\n");
  CHECK(Format({"ping", "-o", "raw"}, pong, context).out == "0.213\n");
  CHECK(Format({"ping", "-o", "json"}, pong, context).out == "{\"rtt_ms\":0.213}\n");
  wire::Response echo = OkResponse(wire::PingResponse{"hello"});
  CHECK(Format({"ping", "hello"}, echo, context).out == "PONG 0.21 ms hello\n");
  CHECK(Format({"ping", "hello", "-o", "json"}, echo, context).out ==
        "{\"rtt_ms\":0.213,\"payload\":\"hello\"}\n");
  context.rtt = std::chrono::milliseconds(1500);
  CHECK(Format({"ping"}, pong, context).out == "PONG 1500.00 ms\n");

  std::string document =
      R"({"node_id":1,"mode":"single","role":"standalone","ready":true,"lag":null,)"
      R"("limits":{"max_key_bytes":4096,"peers":["a","b"]},"empty":{}})";
  wire::Response status = OkResponse(wire::StatusResponse{document});
  CHECK(Format({"status"}, status).out ==
        "node_id: 1\n"
        "mode: single\n"
        "role: standalone\n"
        "ready: true\n"
        "lag: null\n"
        "limits.max_key_bytes: 4096\n"
        "limits.peers: [\"a\",\"b\"]\n"
        "empty: {}\n");
  CHECK(Format({"status", "-o", "json"}, status).out == document + "\n");
  CHECK(Format({"status", "-o", "raw"}, status).out == document);
  CHECK(Format({"status", "-o", "json"}, OkResponse(wire::StatusResponse{"{}\n"})).out == "{}\n");

  wire::Response broken = OkResponse(wire::StatusResponse{"{not json"});
  Output o = Format({"status"}, broken);
  CHECK(o.exit_code == ExitCode::kServerFailure);
  CHECK(o.out.empty());
  CHECK(o.err ==
        "kvctl: malformed answer from the server: the status document is not valid "
        "JSON\n");
  CHECK(Format({"status", "-o", "json"}, broken).exit_code == ExitCode::kServerFailure);
  CHECK(Format({"status", "-o", "raw"}, broken).out == "{not json");
}

// ---- errors and exit codes ----

TEST_CASE("kvctl: server statuses map to exit codes", "[unit][kvctl]") {
  struct Case {
    Code code;
    ExitCode exit;
  };
  for (const Case& c : std::vector<Case>{{Code::kOk, ExitCode::kOk},
                                         {Code::kNotFound, ExitCode::kNotFound},
                                         {Code::kInvalidArgument, ExitCode::kRejected},
                                         {Code::kConflict, ExitCode::kConflict},
                                         {Code::kProtocolError, ExitCode::kRejected},
                                         {Code::kNotLeader, ExitCode::kServerFailure},
                                         {Code::kUnavailable, ExitCode::kServerFailure},
                                         {Code::kTimeout, ExitCode::kServerFailure},
                                         {Code::kIOError, ExitCode::kServerFailure},
                                         {Code::kCorruption, ExitCode::kServerFailure},
                                         {Code::kUnsupported, ExitCode::kRejected}}) {
    CHECK(ExitCodeForServerCode(c.code) == c.exit);
  }
  CHECK(ExitCodeForServerCode(static_cast<Code>(200)) == ExitCode::kServerFailure);
  CHECK(static_cast<int>(ExitCode::kOk) == 0);
  CHECK(static_cast<int>(ExitCode::kNotFound) == 1);
  CHECK(static_cast<int>(ExitCode::kUsage) == 2);
  CHECK(static_cast<int>(ExitCode::kConflict) == 3);
  CHECK(static_cast<int>(ExitCode::kRejected) == 4);
  CHECK(static_cast<int>(ExitCode::kServerFailure) == 5);
  CHECK(static_cast<int>(ExitCode::kUnreachable) == 6);
}

TEST_CASE("kvctl: server errors print one line with the server's message", "[unit][kvctl]") {
  struct Case {
    Args args;
    Code code;
    std::string message;
    std::string err;
    ExitCode exit;
  };
  for (const Case& c : std::vector<Case>{
           {{"get", "k"},
            Code::kNotFound,
            "key not found",
            "kvctl: not found: key not found\n",
            ExitCode::kNotFound},
           {{"get", "k", "-o", "json"},
            Code::kNotFound,
            "key not found",
            "kvctl: not found: key not found\n",
            ExitCode::kNotFound},
           {{"put", "k", "v"},
            Code::kInvalidArgument,
            "key is 5000 bytes; limit is 4096",
            "kvctl: invalid argument: key is 5000 bytes; limit is 4096\n",
            ExitCode::kRejected},
           {{"scan"}, Code::kUnsupported, "", "kvctl: unsupported\n", ExitCode::kRejected},
           {{"ping"},
            Code::kProtocolError,
            "bad frame",
            "kvctl: protocol error: bad frame\n",
            ExitCode::kRejected},
           {{"put", "k", "v"},
            Code::kIOError,
            "disk full",
            "kvctl: io error: disk full\n",
            ExitCode::kServerFailure},
           {{"get", "k"},
            Code::kCorruption,
            "bad\nblock",
            "kvctl: corruption: bad\\x0ablock\n",
            ExitCode::kServerFailure},
           {{"status"},
            Code::kUnavailable,
            "shutting down",
            "kvctl: unavailable: shutting down\n",
            ExitCode::kServerFailure},
           {{"batch", "get", "a"},
            Code::kTimeout,
            "no quorum within 5000 ms",
            "kvctl: timeout: no quorum within 5000 ms\n",
            ExitCode::kServerFailure},
           {{"del", "k"},
            Code::kNotLeader,
            "not the leader",
            "kvctl: not leader: not the leader\n",
            ExitCode::kServerFailure},
       }) {
    Output o = Format(c.args, ErrorResponse(c.code, c.message));
    INFO(c.err);
    CHECK(o.out.empty());
    CHECK(o.err == c.err);
    CHECK(o.exit_code == c.exit);
  }
  wire::Response redirect = ErrorResponse(Code::kNotLeader, "not the leader");
  redirect.detail.leader_hint = "10.0.0.2:7379";
  CHECK(Format({"put", "k", "v"}, redirect).err ==
        "kvctl: not leader: not the leader (leader: 10.0.0.2:7379)\n");
}

TEST_CASE("kvctl: transport errors exit 6", "[unit][kvctl]") {
  for (const Status& s :
       {Status::Unavailable("cannot connect to kvd (127.0.0.1:7379: Connection refused)"),
        Status::Timeout("no answer from 127.0.0.1:7379 within 5000 ms"),
        Status::Unavailable("connection to 127.0.0.1:7379 lost (closed by the server); the "
                            "request may or may not have been applied"),
        Status::ProtocolError("frame too large")}) {
    for (const Args& args :
         {Args{"get", "k"}, Args{"put", "k", "v"}, Args{"scan"}, Args{"status", "-o", "json"}}) {
      Output o = Format(args, Result<wire::Response>(s));
      CHECK(o.exit_code == ExitCode::kUnreachable);
      CHECK(o.out.empty());
      std::string words(CodeName(s.code()));
      std::replace(words.begin(), words.end(), '_', ' ');
      CHECK(o.err == fmt::format("kvctl: {}: {}\n", words, s.message()));
    }
  }
  Output o = TransportError(Status::Timeout("no answer from h:1 within 5000 ms"));
  CHECK(o.err == "kvctl: timeout: no answer from h:1 within 5000 ms\n");
  o = UsageError("bad");
  CHECK(o.err == "kvctl: bad\n");
  CHECK(o.exit_code == ExitCode::kUsage);
}

TEST_CASE("kvctl: answers without the expected body are server failures", "[unit][kvctl]") {
  struct Case {
    Args args;
    std::string err;
  };
  wire::Response empty = OkResponse(std::monostate{});
  for (const Case& c : std::vector<Case>{
           {{"get", "k"}, "GET answer without a value"},
           {{"put", "k", "v"}, "PUT answer without a version"},
           {{"del", "k"}, "DELETE answer without a result"},
           {{"cas", "k", "v", "--if-absent"}, "CAS answer without a version"},
           {{"batch", "get", "a"}, "BATCH answer without results"},
           {{"scan"}, "SCAN answer without items"},
           {{"ping"}, "PING answer without a payload"},
           {{"status"}, "STATUS answer without a document"},
       }) {
    Output o = Format(c.args, empty);
    CHECK(o.exit_code == ExitCode::kServerFailure);
    CHECK(o.out.empty());
    CHECK(o.err == "kvctl: malformed answer from the server: " + c.err + "\n");
  }
  wire::BatchResponse short_batch;
  short_batch.results = {{wire::BatchOpType::kGet, false, 0, 0, ""}};
  Output o = Format({"batch", "get", "a", "get", "b"}, OkResponse(short_batch));
  CHECK(o.exit_code == ExitCode::kServerFailure);
  CHECK(o.err == "kvctl: malformed answer from the server: 1 results for 2 batch ops\n");
  o = Format({"batch", "del", "a"}, OkResponse(short_batch));
  CHECK(o.err ==
        "kvctl: malformed answer from the server: batch result 0 is for a different "
        "op\n");
}

// ---- execution against a fake server ----

// A Backend that records requests and answers from a script.
class FakeServer {
 public:
  std::deque<Result<wire::Response>> answers;
  std::vector<wire::Request> requests;
  std::chrono::steady_clock::time_point now{};
  std::chrono::nanoseconds call_takes{0};
  uint32_t max_scan_limit = 0;

  Backend backend() {
    Backend b;
    b.call = [this](wire::Request r) -> Result<wire::Response> {
      requests.push_back(std::move(r));
      now += call_takes;
      REQUIRE_FALSE(answers.empty());
      Result<wire::Response> answer = std::move(answers.front());
      answers.pop_front();
      return answer;
    };
    b.max_scan_limit = max_scan_limit;
    b.steady_now = [this] { return now; };
    b.unix_now_ms = [] { return uint64_t{1000}; };
    return b;
  }
};

wire::Response Page(std::vector<std::string> keys, std::string continuation) {
  wire::ScanResponse page;
  for (std::string& key : keys) page.items.push_back({key, 1, 0, "v"});
  page.continuation = std::move(continuation);
  return OkResponse(std::move(page));
}

Output RunFake(const Args& args, FakeServer* server) {
  Invocation inv = MustParse(args);
  return ExecuteWith(inv, MustBuild(inv), server->backend());
}

const wire::ScanRequest& ScanOf(const wire::Request& r) {
  return std::get<wire::ScanRequest>(r.body);
}

TEST_CASE("kvctl: a scan without --limit or --all fetches one page", "[unit][kvctl]") {
  FakeServer server;
  server.answers.push_back(Page({"a", "b"}, std::string("\x01\x00"
                                                        "b",
                                                        3)));
  Output o = RunFake({"scan", "--prefix", "", "--from", "a"}, &server);
  REQUIRE(server.requests.size() == 1);
  CHECK(ScanOf(server.requests[0]).limit == 0);
  CHECK(ScanOf(server.requests[0]).start == "a");
  CHECK(o.out ==
        "KEY  VERSION  VALUE\na    1        v\nb    1        v\n"
        "-- more: kvctl scan --from a --continuation 010062\n");
}

TEST_CASE("kvctl: scan --limit fetches pages until it has enough", "[unit][kvctl]") {
  FakeServer server;
  server.max_scan_limit = 2;
  server.answers.push_back(Page({"a", "b"}, "t1"));
  server.answers.push_back(Page({"c"}, "t2"));  // a short page: the server's byte budget
  server.answers.push_back(Page({"d", "e"}, "t3"));
  Output o = RunFake({"scan", "--limit", "5", "-o", "raw", "--keys-only"}, &server);
  REQUIRE(server.requests.size() == 3);
  CHECK(ScanOf(server.requests[0]).limit == 2);  // clamped to the server's page limit
  CHECK(ScanOf(server.requests[0]).continuation.empty());
  CHECK(ScanOf(server.requests[1]).limit == 2);
  CHECK(ScanOf(server.requests[1]).continuation == "t1");
  CHECK(ScanOf(server.requests[2]).limit == 2);
  CHECK(ScanOf(server.requests[2]).continuation == "t2");
  CHECK(o.out == "a\nb\nc\nd\ne\n");
  CHECK(o.err ==
        "-- more: kvctl scan --keys-only --limit 5 --continuation " + HexEncode("t3") + "\n");

  // The end of the range stops it early.
  FakeServer end;
  end.answers.push_back(Page({"a"}, "t1"));
  end.answers.push_back(Page({"b"}, ""));
  o = RunFake({"scan", "--limit", "10", "-o", "json", "--keys-only"}, &end);
  CHECK(end.requests.size() == 2);
  CHECK(ScanOf(end.requests[0]).limit == 10);
  CHECK(ScanOf(end.requests[1]).limit == 9);
  CHECK(o.out ==
        "{\"items\":[{\"key\":\"a\",\"version\":1,\"expires_at_ms\":0},{\"key\":\"b\","
        "\"version\":1,\"expires_at_ms\":0}],\"continuation\":\"\"}\n");
}

TEST_CASE("kvctl: scan --all follows continuations to the end", "[unit][kvctl]") {
  FakeServer server;
  server.max_scan_limit = 100;
  server.answers.push_back(Page({"a"}, "t1"));
  server.answers.push_back(Page({}, "t2"));
  server.answers.push_back(Page({"b"}, ""));
  Output o = RunFake({"scan", "--all", "--reverse", "--continuation", HexEncode("t0")}, &server);
  REQUIRE(server.requests.size() == 3);
  CHECK(ScanOf(server.requests[0]).continuation == "t0");
  CHECK(ScanOf(server.requests[0]).reverse);
  CHECK(ScanOf(server.requests[0]).limit == 0);
  CHECK(ScanOf(server.requests[2]).continuation == "t2");
  CHECK(o.out == "KEY  VERSION  VALUE\na    1        v\nb    1        v\n");
  CHECK(o.exit_code == ExitCode::kOk);
}

TEST_CASE("kvctl: a failing or stuck scan page fails the scan", "[unit][kvctl]") {
  FakeServer server;
  server.answers.push_back(Page({"a"}, "t1"));
  server.answers.push_back(Status::Timeout("no answer from h:1 within 5000 ms"));
  Output o = RunFake({"scan", "--all"}, &server);
  CHECK(o.exit_code == ExitCode::kUnreachable);
  CHECK(o.out.empty());
  CHECK(o.err == "kvctl: timeout: no answer from h:1 within 5000 ms\n");

  FakeServer rejecting;
  rejecting.answers.push_back(Page({"a"}, "t1"));
  rejecting.answers.push_back(
      ErrorResponse(Code::kInvalidArgument, "continuation token is malformed"));
  o = RunFake({"scan", "--limit", "3"}, &rejecting);
  CHECK(o.exit_code == ExitCode::kRejected);
  CHECK(o.err == "kvctl: invalid argument: continuation token is malformed\n");

  FakeServer stuck;
  stuck.answers.push_back(Page({"a"}, "t1"));
  stuck.answers.push_back(Page({}, "t1"));
  o = RunFake({"scan", "--all"}, &stuck);
  CHECK(stuck.requests.size() == 2);
  CHECK(o.exit_code == ExitCode::kServerFailure);
  CHECK(o.err ==
        "kvctl: malformed answer from the server: the scan continuation did not "
        "advance\n");
}

TEST_CASE("kvctl: execution sends one request and formats its answer", "[unit][kvctl]") {
  FakeServer server;
  server.call_takes = std::chrono::microseconds(480);
  server.answers.push_back(OkResponse(wire::PingResponse{"x"}));
  Output o = RunFake({"ping", "x"}, &server);
  REQUIRE(server.requests.size() == 1);
  CHECK(std::get<wire::PingRequest>(server.requests[0].body).payload == "x");
  CHECK(o.out == "PONG 0.48 ms x\n");

  server.answers.push_back(OkResponse(wire::PutResponse{3}));
  o = RunFake({"--durability", "always", "put", "k", "v"}, &server);
  CHECK(server.requests.back().options.durability == wire::Durability::kAlways);
  CHECK(o.out == "OK version=3\n");

  server.answers.push_back(ErrorResponse(Code::kNotFound, "key not found"));
  o = RunFake({"get", "k"}, &server);
  CHECK(o.exit_code == ExitCode::kNotFound);

  server.answers.push_back(Status::Unavailable("cannot connect to kvd (h:1: refused)"));
  o = RunFake({"del", "k"}, &server);
  CHECK(o.exit_code == ExitCode::kUnreachable);
  CHECK(o.err == "kvctl: unavailable: cannot connect to kvd (h:1: refused)\n");
}

TEST_CASE("kvctl: client options follow the global options", "[unit][kvctl]") {
  GlobalOptions global;
  global.endpoints = {"a:1", "b:2", "c:3", "d:4"};
  global.timeout = 2s;
  client::ClientOptions options = MakeClientOptions(global);
  CHECK(options.endpoints == global.endpoints);
  CHECK(options.request_timeout == 2s);
  CHECK(options.connect_timeout == 500ms);
  CHECK(options.client_name == "kvctl");
  global.endpoints = {"a:1"};
  global.timeout = 1ms;
  CHECK(MakeClientOptions(global).connect_timeout == 1ms);
}

}  // namespace
}  // namespace kvd::kvctl
