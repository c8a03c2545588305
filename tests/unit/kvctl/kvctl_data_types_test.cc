// kvctl unit tests for the multi_leader replicated data types: gets, incr, decr, sadd, srem,
// smembers, the --context option of put and del, and get of a key with siblings.
//
// Goal: pin down what these commands accept, what they send and what they print: the
// command lines that parse and the exact usage error of those that do not (missing key,
// bad AMOUNT, bad --context hex); the wire request each builds (opcode, fields, the context
// option's bytes, also after an encode/decode round trip); the table, raw and json output
// for sample answers, the exit codes (no siblings is "not found"); that a get answered
// CONFLICT reads the siblings with a GETS under the same options and prints them as gets
// does, exiting 3 (and falls back to the hint to run gets when that GETS fails); and that
// sadd/srem send one request per element and stop at the first failure. Method: as in
// kvctl_test.cc, ParseArgs, BuildRequest and FormatResult are called directly, and
// ExecuteWith runs against a scripted fake Backend that records the requests. A failure
// means a script or a person would see a different command line, request, output or exit
// code than documented in the commands' --help.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <deque>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "client/kvctl/args.h"
#include "client/kvctl/input.h"
#include "client/kvctl/invocation.h"
#include "client/kvctl/output.h"
#include "client/kvctl/run.h"
#include "common/wire/codec.h"
#include "common/wire/frame.h"

namespace kvd::kvctl {
namespace {

using Args = std::vector<std::string>;

// ---- helpers ----

Invocation MustParse(const Args& args) {
  Result<Invocation> r = ParseArgs(args, Environment{});
  INFO("args: " << fmt::format("{}", fmt::join(args, " ")));
  REQUIRE(r.ok());
  return std::move(r).value();
}

// The usage error message for `args` (which must not parse).
std::string ParseError(const Args& args) {
  Result<Invocation> r = ParseArgs(args, Environment{});
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

wire::Request MustBuild(const Invocation& inv) {
  std::istringstream in;
  Result<wire::Request> r = BuildRequest(inv, in);
  REQUIRE(r.ok());
  return std::move(r).value();
}

wire::Request Build(const Args& args) { return MustBuild(MustParse(args)); }

// `request` encoded as a frame and decoded again, as the server would read it.
wire::Request RoundTrip(const wire::Request& request) {
  std::string frame;
  wire::EncodeRequest(request, &frame);
  wire::FrameHeader header;
  REQUIRE(wire::DecodeFrameHeader(frame, wire::kMaxFrameBytesCeiling, &header).ok());
  Result<wire::Request> decoded = wire::DecodeRequest(
      header, std::string_view(frame).substr(wire::kFrameHeaderBytes, header.body_bytes()));
  REQUIRE(decoded.ok());
  return std::move(decoded).value();
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

// Formats `response` as the answer to `args`.
Output Format(const Args& args, const Result<wire::Response>& response) {
  Invocation inv = MustParse(args);
  return FormatResult(inv, MustBuild(inv), response, FormatContext{});
}

// A Backend that records requests and answers from a script.
class FakeServer {
 public:
  std::deque<Result<wire::Response>> answers;
  std::vector<wire::Request> requests;

  Backend backend() {
    Backend b;
    b.call = [this](wire::Request r) -> Result<wire::Response> {
      requests.push_back(std::move(r));
      REQUIRE_FALSE(answers.empty());
      Result<wire::Response> answer = std::move(answers.front());
      answers.pop_front();
      return answer;
    };
    b.steady_now = [] { return std::chrono::steady_clock::time_point{}; };
    b.unix_now_ms = [] { return uint64_t{1000}; };
    return b;
  }
};

Output RunFake(const Args& args, FakeServer* server) {
  Invocation inv = MustParse(args);
  return ExecuteWith(inv, MustBuild(inv), server->backend());
}

uint64_t Hlc(uint64_t wall_ms, uint16_t logical) { return wall_ms << 16 | logical; }

// ---- parsing ----

TEST_CASE("kvctl data types: parses gets, incr, decr, sadd, srem and smembers", "[unit][kvctl]") {
  CHECK(MustParseCommand<GetsCommand>({"gets", "cart/42"}).key == "cart/42");

  CHECK(MustParseCommand<IncrCommand>({"incr", "count/a"}) == IncrCommand{"count/a", 1});
  CHECK(MustParseCommand<IncrCommand>({"incr", "count/a", "10"}).amount == 10);
  CHECK(MustParseCommand<IncrCommand>({"incr", "count/a", "0"}).amount == 0);
  // A negative AMOUNT is positional only after "--", like every word starting with '-'.
  CHECK(MustParseCommand<IncrCommand>({"incr", "count/a", "--", "-3"}).amount == -3);
  CHECK(MustParseCommand<IncrCommand>({"incr", "k", "--", "-9223372036854775808"}).amount ==
        std::numeric_limits<int64_t>::min());
  CHECK(MustParseCommand<IncrCommand>({"incr", "k", "9223372036854775807"}).amount ==
        std::numeric_limits<int64_t>::max());

  CHECK(MustParseCommand<IncrCommand>({"decr", "count/a"}) == IncrCommand{"count/a", -1});
  CHECK(MustParseCommand<IncrCommand>({"decr", "count/a", "7"}).amount == -7);
  CHECK(MustParseCommand<IncrCommand>({"decr", "k", "9223372036854775807"}).amount ==
        -std::numeric_limits<int64_t>::max());

  SetOpCommand add = MustParseCommand<SetOpCommand>({"sadd", "tags/1", "red", "green"});
  CHECK(add.kind == SetOpCommand::Kind::kAdd);
  CHECK(add.key == "tags/1");
  CHECK(add.elements == Args{"red", "green"});
  SetOpCommand remove = MustParseCommand<SetOpCommand>({"srem", "tags/1", "red"});
  CHECK(remove.kind == SetOpCommand::Kind::kRemove);
  CHECK(remove.elements == Args{"red"});
  // An empty element is an element; "--" lets one start with '-'.
  CHECK(MustParseCommand<SetOpCommand>({"sadd", "k", ""}).elements == Args{""});
  CHECK(MustParseCommand<SetOpCommand>({"sadd", "k", "--", "-x"}).elements == Args{"-x"});

  CHECK(MustParseCommand<SmembersCommand>({"smembers", "tags/1"}).key == "tags/1");
}

TEST_CASE("kvctl data types: put and del take --context as hex", "[unit][kvctl]") {
  PutCommand put = MustParseCommand<PutCommand>({"put", "cart/42", "apples", "--context", "0a0B"});
  CHECK(put.context == std::string("\x0a\x0b"));
  CHECK(put.value.text == "apples");
  CHECK(MustParseCommand<PutCommand>({"put", "k", "v"}).context.empty());
  // --context combines with the other put options.
  put = MustParseCommand<PutCommand>({"put", "k", "--context=00ff", "--ttl", "1s", "v"});
  CHECK(put.context == std::string("\x00\xff", 2));
  CHECK(put.ttl_ms == 1000);

  DeleteCommand del = MustParseCommand<DeleteCommand>({"del", "cart/42", "--context", "ff"});
  CHECK(del == DeleteCommand{"cart/42", "\xff"});
  CHECK(MustParseCommand<DeleteCommand>({"del", "k"}).context.empty());

  // The largest context the protocol carries parses; one byte more does not.
  std::string largest(size_t{wire::kMaxContextBytes} * 2, 'a');
  CHECK(MustParseCommand<PutCommand>({"put", "k", "v", "--context", largest}).context.size() ==
        wire::kMaxContextBytes);
}

TEST_CASE("kvctl data types: usage errors name the problem", "[unit][kvctl]") {
  struct Case {
    Args args;
    std::string message;
  };
  const std::string too_long(size_t{wire::kMaxContextBytes} * 2 + 2, '0');
  const std::vector<Case> cases = {
      {{"gets"}, "gets: missing arguments (usage: kvctl gets KEY)"},
      {{"gets", ""}, "gets: KEY must not be empty"},
      {{"gets", "a", "b"}, "gets: unexpected argument \"b\" (usage: kvctl gets KEY)"},
      {{"incr"}, "incr: missing arguments (usage: kvctl incr KEY [AMOUNT])"},
      {{"incr", ""}, "incr: KEY must not be empty"},
      {{"incr", "k", "1", "2"}, "incr: unexpected argument \"2\" (usage: kvctl incr KEY [AMOUNT])"},
      {{"incr", "k", "x"}, "incr: AMOUNT must be an integer (got \"x\")"},
      {{"incr", "k", "1.5"}, "incr: AMOUNT must be an integer (got \"1.5\")"},
      {{"incr", "k", "+1"}, "incr: AMOUNT must be an integer (got \"+1\")"},
      {{"incr", "k", ""}, "incr: AMOUNT must be an integer (got \"\")"},
      {{"incr", "k", "--", "-"}, "incr: AMOUNT must be an integer (got \"-\")"},
      {{"incr", "k", "9223372036854775808"},
       "incr: AMOUNT must be between -9223372036854775808 and 9223372036854775807 (got "
       "\"9223372036854775808\")"},
      {{"incr", "k", "--", "-9223372036854775809"},
       "incr: AMOUNT must be between -9223372036854775808 and 9223372036854775807 (got "
       "\"-9223372036854775809\")"},
      {{"incr", "k", "-5"},
       "incr: unknown option \"-5\" (put \"--\" before arguments that start with '-')"},
      {{"decr"}, "decr: missing arguments (usage: kvctl decr KEY [AMOUNT])"},
      {{"decr", "k", "0"}, "decr: AMOUNT must be at least 1 (got \"0\")"},
      {{"decr", "k", "--", "-2"}, "decr: AMOUNT must be at least 1 (got \"-2\")"},
      {{"decr", "k", "two"}, "decr: AMOUNT must be an integer (got \"two\")"},
      {{"decr", "k", "9223372036854775808"},
       "decr: AMOUNT must be between -9223372036854775808 and 9223372036854775807 (got "
       "\"9223372036854775808\")"},
      {{"sadd"}, "sadd: missing arguments (usage: kvctl sadd KEY ELEMENT...)"},
      {{"sadd", "k"}, "sadd: missing arguments (usage: kvctl sadd KEY ELEMENT...)"},
      {{"sadd", "", "a"}, "sadd: KEY must not be empty"},
      {{"srem", "k"}, "srem: missing arguments (usage: kvctl srem KEY ELEMENT...)"},
      {{"smembers"}, "smembers: missing arguments (usage: kvctl smembers KEY)"},
      {{"smembers", "k", "x"}, "smembers: unexpected argument \"x\" (usage: kvctl smembers KEY)"},
      {{"put", "k", "v", "--context", "abc"}, "put: --context: hex has an odd number of digits"},
      {{"put", "k", "v", "--context", "zz"}, "put: --context: \"zz\" is not hex"},
      {{"put", "k", "v", "--context", ""},
       "put: --context needs the hex context that kvctl gets printed"},
      {{"put", "k", "v", "--context"},
       "put: the required argument for option '--context' is missing"},
      {{"put", "k", "v", "--context", too_long},
       "put: --context is 16385 bytes; the limit is 16384"},
      {{"del", "k", "--context", "0g"}, "del: --context: \"0g\" is not hex"},
      {{"del", "k", "--context", "1"}, "del: --context: hex has an odd number of digits"},
      {{"del", "k", "--context", "00", "--context", "01"},
       "del: option '--context' cannot be specified more than once"},
      // Only put and del resolve siblings.
      {{"get", "k", "--context", "00"},
       "get: unknown option \"--context\" (did you mean --output?)"},
      {{"cas", "k", "v", "--if-absent", "--context", "00"},
       "cas: unknown option \"--context\" (did you mean --output?)"},
  };
  for (const Case& c : cases) {
    CHECK(ParseError(c.args) == c.message);
  }
}

TEST_CASE("kvctl data types: help lists the commands and their options", "[unit][kvctl]") {
  std::string general = GeneralHelp();
  for (const char* name : {"gets", "incr", "decr", "sadd", "srem", "smembers"}) {
    INFO(name);
    CHECK(IsCommand(name));
    CHECK_THAT(general, Catch::Contains(fmt::format("\n  {:<16} multi_leader: ", name)));
    CHECK_THAT(CommandHelp(name),
               Catch::StartsWith(fmt::format("Usage: kvctl [global options] {} KEY", name)));
    CHECK_THAT(CommandHelp(name), Catch::Contains("unsupported (exit 4)"));
  }
  CHECK_THAT(general, Catch::Contains("  1  key not found (get, gets)"));
  CHECK_THAT(general, Catch::Contains("get: the key has\n     siblings (multi_leader: get prints "
                                      "them all, as kvctl gets does)"));
  CHECK_THAT(CommandHelp("get"), Catch::Contains("and exits 3"));
  CHECK_THAT(CommandHelp("get"), Catch::Contains("-- resolve: kvctl put KEY VALUE --context HEX"));
  CHECK_THAT(CommandHelp("gets"), Catch::Contains("kvctl get prints them too, and exits 3"));
  CHECK_THAT(CommandHelp("put"), Catch::Contains("--context HEX"));
  CHECK_THAT(CommandHelp("del"), Catch::Contains("--context HEX"));
  CHECK_THAT(CommandHelp("cas"), !Catch::Contains("--context"));
  CHECK_THAT(CommandHelp("gets"), Catch::Contains("WALL_MS.LOGICAL"));
  CHECK_THAT(CommandHelp("sadd"), Catch::Contains("Usage: kvctl [global options] sadd KEY "
                                                  "ELEMENT...\n"));
  CHECK_THAT(CommandHelp("incr"), Catch::Contains("Usage: kvctl [global options] incr KEY "
                                                  "[AMOUNT]\n"));
}

// ---- building requests ----

TEST_CASE("kvctl data types: requests carry the opcode, fields and global options",
          "[unit][kvctl]") {
  wire::Request r = Build({"--consistency", "follower", "--timeout", "2s", "gets", "cart/42"});
  CHECK(r.opcode() == wire::Opcode::kGets);
  CHECK(std::get<wire::GetsRequest>(r.body).key == "cart/42");
  CHECK(r.options.consistency == wire::Consistency::kFollower);
  CHECK(r.options.timeout_ms == 2000);
  CHECK(r.options.context.empty());

  r = Build({"incr", "count/a", "--", "-3"});
  CHECK(r.opcode() == wire::Opcode::kIncr);
  CHECK(std::get<wire::IncrRequest>(r.body) == wire::IncrRequest{"count/a", -3});
  CHECK(std::get<wire::IncrRequest>(Build({"incr", "k"}).body).amount == 1);
  r = Build({"--durability", "always", "decr", "count/a", "4"});
  CHECK(r.opcode() == wire::Opcode::kIncr);
  CHECK(r.options.durability == wire::Durability::kAlways);
  CHECK(std::get<wire::IncrRequest>(r.body) == wire::IncrRequest{"count/a", -4});

  // sadd/srem: the request of the first element; ExecuteWith sends the others.
  r = Build({"sadd", "tags/1", "red", "green"});
  CHECK(r.opcode() == wire::Opcode::kSadd);
  CHECK(std::get<wire::SaddRequest>(r.body) == wire::SaddRequest{"tags/1", "red"});
  r = Build({"srem", "tags/1", "green"});
  CHECK(r.opcode() == wire::Opcode::kSrem);
  CHECK(std::get<wire::SremRequest>(r.body) == wire::SremRequest{"tags/1", "green"});

  r = Build({"smembers", "tags/1"});
  CHECK(r.opcode() == wire::Opcode::kSmembers);
  CHECK(std::get<wire::SmembersRequest>(r.body).key == "tags/1");

  for (const Args& args : {Args{"gets", "k"}, Args{"incr", "k", "--", "-2"}, Args{"sadd", "k", "e"},
                           Args{"srem", "k", "e"}, Args{"smembers", "k"}}) {
    INFO(fmt::format("{}", fmt::join(args, " ")));
    wire::Request request = Build(args);
    CHECK(RoundTrip(request) == request);
    CHECK(wire::ValidateRequest(request, wire::Limits{1 << 20, 4096, 1 << 20, 128, 1000}).ok());
  }
}

TEST_CASE("kvctl data types: put and del send the context option's bytes", "[unit][kvctl]") {
  const std::string context("\x0a\x00\xff\x7f", 4);
  wire::Request put = Build({"put", "cart/42", "apples,pears", "--context", "0a00ff7f"});
  CHECK(put.opcode() == wire::Opcode::kPut);
  CHECK(std::get<wire::PutRequest>(put.body) == wire::PutRequest{"cart/42", "apples,pears", 0});
  CHECK(put.options.context == context);

  wire::Request del = Build({"del", "cart/42", "--context", "0A00FF7F"});
  CHECK(del.opcode() == wire::Opcode::kDelete);
  CHECK(std::get<wire::DeleteRequest>(del.body).key == "cart/42");
  CHECK(del.options.context == context);

  // The option survives the wire and is accepted where the protocol allows it.
  const wire::Limits limits{1 << 20, 4096, 1 << 20, 128, 1000};
  for (const wire::Request& request : {put, del}) {
    wire::Request decoded = RoundTrip(request);
    CHECK(decoded.options.context == context);
    CHECK(decoded == request);
    CHECK(wire::ValidateRequest(request, limits).ok());
  }
  // Without --context no option is sent.
  CHECK(Build({"put", "k", "v"}).options.context.empty());
  CHECK(Build({"del", "k"}).options.context.empty());
}

// ---- output ----

TEST_CASE("kvctl data types: gets prints every sibling, then the context", "[unit][kvctl]") {
  wire::GetsResponse body;
  body.context = std::string("\x0a\x01\xff", 3);
  body.siblings = {{Hlc(1700000000000, 3), "apples"}, {Hlc(1700000000005, 0), "pears\n"}};
  wire::Response r = OkResponse(body);

  Output table = Format({"gets", "cart/42"}, r);
  CHECK(table.out ==
        "1700000000000.3 apples\n"
        "1700000000005.0 pears\\x0a\n"
        "context: 0a01ff\n");
  CHECK(table.err.empty());
  CHECK(table.exit_code == ExitCode::kOk);

  CHECK(Format({"gets", "cart/42", "-o", "raw"}, r).out ==
        "0a01ff\n"
        "1700000000000.3\tapples\n"
        "1700000000005.0\tpears\n\n");

  CHECK(Format({"gets", "cart/42", "-o", "json"}, r).out ==
        "{\"key\":\"cart/42\",\"siblings\":[{\"timestamp\":\"1700000000000.3\",\"value\":"
        "\"apples\"},{\"timestamp\":\"1700000000005.0\",\"value\":\"pears\\n\"}],\"context\":"
        "\"0a01ff\"}\n");

  // Bytes that are not UTF-8 go to base64, as for get.
  wire::GetsResponse binary;
  binary.context = "c";
  binary.siblings = {{Hlc(1, 65535), std::string("\xff\x00", 2)}};
  CHECK(Format({"gets", "k"}, OkResponse(binary)).out == "1.65535 \\xff\\x00\ncontext: 63\n");
  CHECK(Format({"gets", "k", "-o", "json"}, OkResponse(binary)).out ==
        "{\"key\":\"k\",\"siblings\":[{\"timestamp\":\"1.65535\",\"value_base64\":\"/wA=\"}],"
        "\"context\":\"63\"}\n");

  CHECK(FormatHlcTimestamp(0) == "0.0");
  CHECK(FormatHlcTimestamp(Hlc(1700000000000, 42)) == "1700000000000.42");
}

TEST_CASE("kvctl data types: gets without siblings is not found, as for get", "[unit][kvctl]") {
  for (const Args& args :
       {Args{"gets", "k"}, Args{"gets", "k", "-o", "json"}, Args{"gets", "k", "-o", "raw"}}) {
    wire::GetsResponse empty;
    empty.context = "ctx";
    Output o = Format(args, OkResponse(empty));
    CHECK(o.exit_code == ExitCode::kNotFound);
    CHECK(o.out.empty());
    CHECK(o.err == "kvctl: not found: key not found\n");
    // ... exactly what get prints for the server's NOT_FOUND.
    Output get = Format({"get", "k"}, ErrorResponse(Code::kNotFound, "key not found"));
    CHECK(o.err == get.err);
    CHECK(o.exit_code == get.exit_code);
  }
}

// FormatResult alone, for a GET's CONFLICT: what kvctl prints when the GETS that follows it
// fails (see "get of a key with siblings when reading them fails" below).
TEST_CASE("kvctl data types: a GET's conflict answer hints at gets", "[unit][kvctl]") {
  const std::string message =
      "key 'cart/42' has 2 siblings (concurrent writes): GETS returns them all, with the "
      "context to write the resolved value";
  for (const Args& args : {Args{"get", "cart/42"}, Args{"get", "cart/42", "-o", "json"}}) {
    Output o = Format(args, ErrorResponse(Code::kConflict, message));
    CHECK(o.exit_code == ExitCode::kConflict);
    CHECK(o.out.empty());
    CHECK(o.err == "kvctl: conflict: " + message + "\nkvctl: use: kvctl gets cart/42\n");
  }
  // The key in the hint is a shell word that reads back as the key.
  Output o = Format({"get", "my cart"}, ErrorResponse(Code::kConflict, "2 siblings"));
  CHECK(o.err == "kvctl: conflict: 2 siblings\nkvctl: use: kvctl gets 'my cart'\n");
  // Other commands' conflicts are unchanged: no hint.
  wire::Response cas = ErrorResponse(Code::kConflict, "key is at version 3");
  cas.detail.current_version = 3;
  CHECK(Format({"cas", "k", "v", "--expect-version", "1"}, cas).err ==
        "kvctl: conflict: key is at version 3 (current version 3)\n");
}

TEST_CASE("kvctl data types: incr and decr print the new value", "[unit][kvctl]") {
  wire::Response r = OkResponse(wire::IncrResponse{42});
  CHECK(Format({"incr", "count/a"}, r).out == "42\n");
  CHECK(Format({"incr", "count/a", "-o", "raw"}, r).out == "42\n");
  CHECK(Format({"incr", "count/a", "-o", "json"}, r).out == "{\"value\":42}\n");
  r = OkResponse(wire::IncrResponse{-7});
  Output o = Format({"decr", "count/a", "8"}, r);
  CHECK(o.out == "-7\n");
  CHECK(o.exit_code == ExitCode::kOk);
  CHECK(Format({"decr", "count/a", "-o", "json"}, r).out == "{\"value\":-7}\n");
}

TEST_CASE("kvctl data types: sadd and srem print each element's outcome", "[unit][kvctl]") {
  SetOpCommand add{SetOpCommand::Kind::kAdd, "tags/1", {"red", "a b", "\xff"}};
  std::vector<SetOpResult> results = {{"red", false}, {"a b", true}, {"\xff", false}};
  CHECK(FormatSetOpResults(add, OutputFormat::kTable, results).out ==
        "\"red\": added\n\"a b\": already present\n\"\\xff\": added\n");
  CHECK(FormatSetOpResults(add, OutputFormat::kRaw, results).out == "1\n0\n1\n");
  CHECK(FormatSetOpResults(add, OutputFormat::kJson, results).out ==
        "{\"key\":\"tags/1\",\"results\":[{\"element\":\"red\",\"added\":true},{\"element\":"
        "\"a b\",\"added\":false},{\"element_base64\":\"/w==\",\"added\":true}]}\n");

  SetOpCommand remove{SetOpCommand::Kind::kRemove, "tags/1", {"red", "blue"}};
  results = {{"red", true}, {"blue", false}};
  CHECK(FormatSetOpResults(remove, OutputFormat::kTable, results).out ==
        "\"red\": removed\n\"blue\": not present\n");
  CHECK(FormatSetOpResults(remove, OutputFormat::kRaw, results).out == "1\n0\n");
  CHECK(FormatSetOpResults(remove, OutputFormat::kJson, results).out ==
        "{\"key\":\"tags/1\",\"results\":[{\"element\":\"red\",\"removed\":true},{\"element\":"
        "\"blue\",\"removed\":false}]}\n");

  // FormatResult renders the one element of the request it is given.
  Output o = Format({"sadd", "tags/1", "red"}, OkResponse(wire::SetOpResponse{false}));
  CHECK(o.out == "\"red\": added\n");
  CHECK(o.exit_code == ExitCode::kOk);
  // Removing a missing element is not an error, as for del.
  o = Format({"srem", "tags/1", "red"}, OkResponse(wire::SetOpResponse{false}));
  CHECK(o.out == "\"red\": not present\n");
  CHECK(o.exit_code == ExitCode::kOk);
}

TEST_CASE("kvctl data types: smembers prints one member per line", "[unit][kvctl]") {
  wire::Response r = OkResponse(wire::SmembersResponse{{"green", "red", "\xff\n"}});
  CHECK(Format({"smembers", "tags/1"}, r).out == "green\nred\n\\xff\\x0a\n");
  CHECK(Format({"smembers", "tags/1", "-o", "raw"}, r).out == "green\nred\n\xff\n\n");
  CHECK(Format({"smembers", "tags/1", "-o", "json"}, r).out ==
        "[\"green\",\"red\",{\"base64\":\"/wo=\"}]\n");

  wire::Response empty = OkResponse(wire::SmembersResponse{});
  Output o = Format({"smembers", "tags/1"}, empty);
  CHECK(o.out == "(no members)\n");
  CHECK(o.exit_code == ExitCode::kOk);
  CHECK(Format({"smembers", "tags/1", "-o", "raw"}, empty).out.empty());
  CHECK(Format({"smembers", "tags/1", "-o", "json"}, empty).out == "[]\n");
}

TEST_CASE("kvctl data types: other topologies' refusals and malformed answers", "[unit][kvctl]") {
  const std::string unsupported = "GETS needs the multi_leader topology";
  for (const Args& args : {Args{"gets", "k"}, Args{"incr", "k"}, Args{"decr", "k"},
                           Args{"sadd", "k", "e"}, Args{"srem", "k", "e"}, Args{"smembers", "k"}}) {
    INFO(fmt::format("{}", fmt::join(args, " ")));
    Output o = Format(args, ErrorResponse(Code::kUnsupported, unsupported));
    CHECK(o.exit_code == ExitCode::kRejected);
    CHECK(o.out.empty());
    CHECK(o.err == "kvctl: unsupported: " + unsupported + "\n");
  }
  struct Case {
    Args args;
    std::string err;
  };
  for (const Case& c : std::vector<Case>{
           {{"gets", "k"}, "GETS answer without siblings"},
           {{"incr", "k"}, "INCR answer without a value"},
           {{"sadd", "k", "e"}, "SADD answer without a result"},
           {{"srem", "k", "e"}, "SREM answer without a result"},
           {{"smembers", "k"}, "SMEMBERS answer without members"},
       }) {
    Output o = Format(c.args, OkResponse(std::monostate{}));
    CHECK(o.exit_code == ExitCode::kServerFailure);
    CHECK(o.err == "kvctl: malformed answer from the server: " + c.err + "\n");
  }
}

// ---- execution against a fake server ----

TEST_CASE("kvctl data types: sadd and srem send one request per element", "[unit][kvctl]") {
  FakeServer server;
  server.answers.push_back(OkResponse(wire::SetOpResponse{false}));
  server.answers.push_back(OkResponse(wire::SetOpResponse{true}));
  server.answers.push_back(OkResponse(wire::SetOpResponse{false}));
  Output o = RunFake({"--durability", "always", "sadd", "tags/1", "red", "green", "blue"}, &server);
  REQUIRE(server.requests.size() == 3);
  CHECK(std::get<wire::SaddRequest>(server.requests[0].body) == wire::SaddRequest{"tags/1", "red"});
  CHECK(std::get<wire::SaddRequest>(server.requests[1].body) ==
        wire::SaddRequest{"tags/1", "green"});
  CHECK(std::get<wire::SaddRequest>(server.requests[2].body) ==
        wire::SaddRequest{"tags/1", "blue"});
  for (const wire::Request& r : server.requests) {
    CHECK(r.options.durability == wire::Durability::kAlways);
  }
  CHECK(o.out == "\"red\": added\n\"green\": already present\n\"blue\": added\n");
  CHECK(o.err.empty());
  CHECK(o.exit_code == ExitCode::kOk);

  FakeServer json;
  json.answers.push_back(OkResponse(wire::SetOpResponse{true}));
  json.answers.push_back(OkResponse(wire::SetOpResponse{true}));
  o = RunFake({"srem", "tags/1", "red", "green", "-o", "json"}, &json);
  REQUIRE(json.requests.size() == 2);
  CHECK(std::get<wire::SremRequest>(json.requests[1].body) == wire::SremRequest{"tags/1", "green"});
  CHECK(o.out ==
        "{\"key\":\"tags/1\",\"results\":[{\"element\":\"red\",\"removed\":true},{\"element\":"
        "\"green\",\"removed\":true}]}\n");
}

TEST_CASE("kvctl data types: sadd and srem stop at the first failing element", "[unit][kvctl]") {
  FakeServer server;
  server.answers.push_back(OkResponse(wire::SetOpResponse{false}));
  server.answers.push_back(ErrorResponse(Code::kUnavailable, "shutting down"));
  Output o = RunFake({"sadd", "tags/1", "red", "green", "blue"}, &server);
  CHECK(server.requests.size() == 2);  // blue was not sent
  CHECK(o.out == "\"red\": added\n");
  CHECK(o.err ==
        "kvctl: unavailable: shutting down\n"
        "kvctl: stopped at element \"green\" (2 of 3); the 1 before it were applied, the 1 "
        "after it were not sent\n");
  CHECK(o.exit_code == ExitCode::kServerFailure);

  // A transport error on the first element: nothing done, stdout stays empty.
  FakeServer unreachable;
  unreachable.answers.push_back(Status::Unavailable("cannot connect to kvd (h:1: refused)"));
  o = RunFake({"srem", "tags/1", "a", "b", "-o", "json"}, &unreachable);
  CHECK(unreachable.requests.size() == 1);
  CHECK(o.out.empty());
  CHECK(o.err ==
        "kvctl: unavailable: cannot connect to kvd (h:1: refused)\n"
        "kvctl: stopped at element \"a\" (1 of 2); the 0 before it were applied, the 1 after "
        "it were not sent\n");
  CHECK(o.exit_code == ExitCode::kUnreachable);

  // With one element the failure reads as for any other command.
  FakeServer single;
  single.answers.push_back(ErrorResponse(Code::kInvalidArgument, "key 'k' is a counter key"));
  o = RunFake({"sadd", "k", "a"}, &single);
  CHECK(o.err == "kvctl: invalid argument: key 'k' is a counter key\n");
  CHECK(o.exit_code == ExitCode::kRejected);
}

TEST_CASE("kvctl data types: execution sends the request and formats the answer", "[unit][kvctl]") {
  FakeServer server;
  wire::GetsResponse gets;
  gets.context = "\x01";
  gets.siblings = {{Hlc(5, 1), "v"}};
  server.answers.push_back(OkResponse(gets));
  Output o = RunFake({"gets", "cart/1"}, &server);
  CHECK(server.requests.back().opcode() == wire::Opcode::kGets);
  CHECK(o.out == "5.1 v\ncontext: 01\n");

  server.answers.push_back(OkResponse(wire::PutResponse{9}));
  o = RunFake({"put", "cart/1", "v", "--context", "01"}, &server);
  CHECK(server.requests.back().opcode() == wire::Opcode::kPut);
  CHECK(server.requests.back().options.context == "\x01");
  CHECK(o.out == "OK version=9\n");

  server.answers.push_back(OkResponse(wire::DeleteResponse{true}));
  o = RunFake({"del", "cart/1", "--context", "01"}, &server);
  CHECK(server.requests.back().options.context == "\x01");
  CHECK(o.out == "deleted\n");

  server.answers.push_back(OkResponse(wire::IncrResponse{3}));
  o = RunFake({"decr", "count/a", "2"}, &server);
  CHECK(std::get<wire::IncrRequest>(server.requests.back().body).amount == -2);
  CHECK(o.out == "3\n");

  server.answers.push_back(OkResponse(wire::SmembersResponse{{"a"}}));
  o = RunFake({"smembers", "tags/1", "-o", "json"}, &server);
  CHECK(server.requests.back().opcode() == wire::Opcode::kSmembers);
  CHECK(o.out == "[\"a\"]\n");
  CHECK(server.answers.empty());
}

// ---- get of a key with siblings ----

constexpr std::string_view kSiblingsMessage =
    "key 'cart/42' has 2 siblings (concurrent writes): GETS returns them all, with the context "
    "to write the resolved value";

wire::GetsResponse TwoSiblings() {
  wire::GetsResponse body;
  body.context = std::string("\x0a\x01\xff", 3);
  body.siblings = {{Hlc(1700000000000, 3), "apples"}, {Hlc(1700000000005, 0), "pears\n"}};
  return body;
}

// Runs `args` (a get) against a server that answers the GET with kSiblingsMessage and the
// GETS with `gets`.
Output RunGetOfSiblings(const Args& args, Result<wire::Response> gets, FakeServer* server) {
  server->answers.push_back(ErrorResponse(Code::kConflict, std::string(kSiblingsMessage)));
  server->answers.push_back(std::move(gets));
  Output o = RunFake(args, server);
  CHECK(server->requests.size() == 2);
  CHECK(server->answers.empty());
  return o;
}

TEST_CASE("kvctl data types: get of a key with siblings reads them with GETS", "[unit][kvctl]") {
  FakeServer server;
  Output o = RunGetOfSiblings({"--consistency", "follower", "--timeout", "2s", "get", "cart/42"},
                              OkResponse(TwoSiblings()), &server);
  REQUIRE(server.requests.size() == 2);
  CHECK(server.requests[0].opcode() == wire::Opcode::kGet);
  CHECK(server.requests[1].opcode() == wire::Opcode::kGets);
  CHECK(std::get<wire::GetsRequest>(server.requests[1].body).key == "cart/42");
  // The GETS reads as the GET did: same consistency, timeout and session.
  CHECK(server.requests[1].options == server.requests[0].options);
  CHECK(server.requests[1].options.consistency == wire::Consistency::kFollower);
  CHECK(server.requests[1].options.timeout_ms == 2000);

  CHECK(o.out ==
        "key \"cart/42\" has 2 siblings (concurrent writes):\n"
        "  1700000000000.3 apples\n"
        "  1700000000005.0 pears\\x0a\n"
        "-- resolve: kvctl put cart/42 VALUE --context 0a01ff\n");
  CHECK(o.err.empty());
  CHECK(o.exit_code == ExitCode::kConflict);

  // The sibling lines are gets' own, indented.
  std::string gets = Format({"gets", "cart/42"}, OkResponse(TwoSiblings())).out;
  std::string lines = o.out.substr(o.out.find('\n') + 1);
  lines = lines.substr(0, lines.find("-- resolve: "));
  std::string unindented;
  for (size_t at = 0; at < lines.size();) {
    size_t end = lines.find('\n', at) + 1;
    CHECK(lines.substr(at, 2) == "  ");
    unindented += lines.substr(at + 2, end - at - 2);
    at = end;
  }
  CHECK(gets == unindented + "context: 0a01ff\n");
}

TEST_CASE("kvctl data types: get of a key with siblings, as raw and json", "[unit][kvctl]") {
  for (const char* format : {"raw", "json"}) {
    INFO(format);
    FakeServer server;
    Output o =
        RunGetOfSiblings({"get", "cart/42", "-o", format}, OkResponse(TwoSiblings()), &server);
    // stdout is exactly what gets prints, so that one parser reads both.
    Output gets = Format({"gets", "cart/42", "-o", format}, OkResponse(TwoSiblings()));
    CHECK(o.out == gets.out);
    CHECK(o.err ==
          "kvctl: conflict: key \"cart/42\" has 2 siblings (concurrent writes); they are printed "
          "as by kvctl gets\n");
    CHECK(o.exit_code == ExitCode::kConflict);
  }
  FakeServer server;
  Output o =
      RunGetOfSiblings({"get", "cart/42", "--output", "json"}, OkResponse(TwoSiblings()), &server);
  CHECK(o.out ==
        "{\"key\":\"cart/42\",\"siblings\":[{\"timestamp\":\"1700000000000.3\",\"value\":"
        "\"apples\"},{\"timestamp\":\"1700000000005.0\",\"value\":\"pears\\n\"}],\"context\":"
        "\"0a01ff\"}\n");
}

TEST_CASE("kvctl data types: get of siblings quotes the key and escapes the values",
          "[unit][kvctl]") {
  wire::GetsResponse body;
  body.context = "c";
  body.siblings = {{Hlc(1, 65535), std::string("\xff\x00", 2)}, {Hlc(2, 0), "b"}};
  FakeServer server;
  Output o = RunGetOfSiblings({"get", "my cart"}, OkResponse(body), &server);
  CHECK(o.out ==
        "key \"my cart\" has 2 siblings (concurrent writes):\n"
        "  1.65535 \\xff\\x00\n"
        "  2.0 b\n"
        "-- resolve: kvctl put 'my cart' VALUE --context 63\n");
  CHECK(o.exit_code == ExitCode::kConflict);

  // Without a context there is no command that resolves them.
  body.context.clear();
  FakeServer no_context;
  o = RunGetOfSiblings({"get", "k"}, OkResponse(body), &no_context);
  CHECK(o.out ==
        "key \"k\" has 2 siblings (concurrent writes):\n"
        "  1.65535 \\xff\\x00\n"
        "  2.0 b\n");
  CHECK(o.exit_code == ExitCode::kConflict);
}

TEST_CASE("kvctl data types: get of siblings resolved or deleted before the GETS",
          "[unit][kvctl]") {
  // One sibling left: what a GET now answers, its version the sibling's timestamp.
  wire::GetsResponse one;
  one.context = "c";
  one.siblings = {{Hlc(1700000000000, 3), "apples,pears"}};
  FakeServer table;
  Output o = RunGetOfSiblings({"get", "cart/42"}, OkResponse(one), &table);
  CHECK(o.out == "apples,pears\n");
  CHECK(o.err.empty());
  CHECK(o.exit_code == ExitCode::kOk);
  FakeServer json;
  o = RunGetOfSiblings({"get", "cart/42", "-o", "json"}, OkResponse(one), &json);
  CHECK(o.out == fmt::format("{{\"key\":\"cart/42\",\"value\":\"apples,pears\",\"version\":{},"
                             "\"expires_at_ms\":0}}\n",
                             Hlc(1700000000000, 3)));
  CHECK(o.exit_code == ExitCode::kOk);

  // None left: not found, as for gets and get.
  FakeServer deleted;
  o = RunGetOfSiblings({"get", "cart/42"}, OkResponse(wire::GetsResponse{"c", {}}), &deleted);
  CHECK(o.out.empty());
  CHECK(o.err == "kvctl: not found: key not found\n");
  CHECK(o.exit_code == ExitCode::kNotFound);
}

TEST_CASE("kvctl data types: get of a key with siblings when reading them fails", "[unit][kvctl]") {
  const std::string conflict =
      fmt::format("kvctl: conflict: {}\nkvctl: use: kvctl gets cart/42\n", kSiblingsMessage);
  struct Case {
    Result<wire::Response> gets;
    std::string why;
  };
  const std::vector<Case> cases = {
      {Status::Unavailable("connection to kvd lost"), "unavailable: connection to kvd lost"},
      {ErrorResponse(Code::kTimeout, "timed out"), "timeout: timed out"},
      {ErrorResponse(Code::kInvalidArgument, "key 'cart/42' is too large for one frame"),
       "invalid argument: key 'cart/42' is too large for one frame"},
      {OkResponse(wire::GetResponse{1, 0, "v"}),
       "malformed answer from the server: GETS answer without siblings"},
  };
  for (const Case& c : cases) {
    for (const char* format : {"table", "json", "raw"}) {
      INFO(c.why << " -o " << format);
      FakeServer server;
      Output o = RunGetOfSiblings({"get", "cart/42", "-o", format}, c.gets, &server);
      CHECK(o.out.empty());
      CHECK(o.err == conflict + "kvctl: could not read the siblings: " + c.why + "\n");
      // The GET's answer decides: the key has siblings.
      CHECK(o.exit_code == ExitCode::kConflict);
    }
  }
}

TEST_CASE("kvctl data types: get sends a GETS only for a CONFLICT answer", "[unit][kvctl]") {
  FakeServer server;
  server.answers.push_back(OkResponse(wire::GetResponse{7, 0, "apples"}));
  Output o = RunFake({"get", "cart/42"}, &server);
  CHECK(server.requests.size() == 1);
  CHECK(o.out == "apples\n");
  CHECK(o.err.empty());
  CHECK(o.exit_code == ExitCode::kOk);

  server.answers.push_back(ErrorResponse(Code::kNotFound, "key 'cart/42' not found"));
  o = RunFake({"get", "cart/42"}, &server);
  CHECK(server.requests.size() == 2);
  CHECK(o.exit_code == ExitCode::kNotFound);

  server.answers.push_back(Status::Timeout("no answer within 5000 ms"));
  o = RunFake({"get", "cart/42"}, &server);
  CHECK(server.requests.size() == 3);
  CHECK(o.exit_code == ExitCode::kUnreachable);

  server.answers.push_back(ErrorResponse(Code::kInvalidArgument, "read it with SMEMBERS"));
  o = RunFake({"get", "tags/1"}, &server);
  CHECK(server.requests.size() == 4);
  CHECK(o.exit_code == ExitCode::kRejected);

  // gets itself never follows up.
  server.answers.push_back(ErrorResponse(Code::kConflict, "unexpected"));
  o = RunFake({"gets", "cart/42"}, &server);
  CHECK(server.requests.size() == 5);
  CHECK(o.exit_code == ExitCode::kConflict);
  CHECK(server.answers.empty());
  for (size_t i = 0; i + 1 < server.requests.size(); ++i) {
    CHECK(server.requests[i].opcode() == wire::Opcode::kGet);
  }
}

}  // namespace
}  // namespace kvd::kvctl
