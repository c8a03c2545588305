// Unit tests for common/status.h: Status, Result<T>, KVD_TRY and KVD_ASSIGN_OR_RETURN.
//
// Goal: errors travel as values through every module, and each Code is also a wire status
// byte (docs/PROTOCOL.md, section 6.2) and a kvctl exit code, so the numbering, the names
// and the propagation macros must behave exactly as documented. Method: construct every
// code through its factory and check code, message, name and ToString; check the numeric
// values against the protocol table; exercise Result<T> with copyable and move-only
// values; and run small functions built on KVD_TRY / KVD_ASSIGN_OR_RETURN that record how
// far they got, to prove the early return happens (and only) on error. A failure means a
// changed wire status value (a protocol break), a changed name (logs, metrics labels and
// kvctl JSON depend on it), or a propagation macro that swallows or invents errors.
#include "common/status.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

namespace kvd {
namespace {

TEST_CASE("common: a default Status is OK and carries no message", "[unit][common]") {
  Status s;
  CHECK(s.ok());
  CHECK(s.code() == Code::kOk);
  CHECK(s.message().empty());
  CHECK(s.ToString() == "ok");
  CHECK(Status::Ok() == s);
}

TEST_CASE("common: status codes keep their wire values and names", "[unit][common]") {
  struct Row {
    Status status;
    Code code;
    uint8_t wire;
    const char* name;
  };
  // docs/PROTOCOL.md section 6.2: these bytes are on the wire and must never change.
  const std::vector<Row> rows = {
      {Status::NotFound("m"), Code::kNotFound, 1, "not_found"},
      {Status::InvalidArgument("m"), Code::kInvalidArgument, 2, "invalid_argument"},
      {Status::Conflict("m"), Code::kConflict, 3, "conflict"},
      {Status::ProtocolError("m"), Code::kProtocolError, 4, "protocol_error"},
      {Status::NotLeader("m"), Code::kNotLeader, 5, "not_leader"},
      {Status::Unavailable("m"), Code::kUnavailable, 6, "unavailable"},
      {Status::Timeout("m"), Code::kTimeout, 7, "timeout"},
      {Status::IOError("m"), Code::kIOError, 8, "io_error"},
      {Status::Corruption("m"), Code::kCorruption, 9, "corruption"},
      {Status::Unsupported("m"), Code::kUnsupported, 10, "unsupported"},
  };
  CHECK(static_cast<uint8_t>(Code::kOk) == 0);
  CHECK(CodeName(Code::kOk) == "ok");
  CHECK(kMaxCode == 10);
  for (const Row& row : rows) {
    INFO(row.name);
    CHECK_FALSE(row.status.ok());
    CHECK(row.status.code() == row.code);
    CHECK(static_cast<uint8_t>(row.code) == row.wire);
    CHECK(CodeName(row.code) == row.name);
    CHECK(row.status.message() == "m");
    CHECK(row.status.ToString() == std::string(row.name) + ": m");
  }
  // A byte that is not a code (a corrupt value cast by mistake) has a name, not a crash.
  CHECK(CodeName(static_cast<Code>(kMaxCode + 1)) == "unknown");
}

TEST_CASE("common: WithContext prefixes the message and keeps OK as OK", "[unit][common]") {
  Status s = Status::IOError("disk full");
  Status c = s.WithContext("append log");
  CHECK(c.code() == Code::kIOError);
  CHECK(c.message() == "append log: disk full");
  CHECK(c.WithContext("open").message() == "open: append log: disk full");
  CHECK(s.message() == "disk full");  // the original is unchanged
  CHECK(Status::Ok().WithContext("anything").ok());
  CHECK(Status::Ok().WithContext("anything").message().empty());
}

TEST_CASE("common: Status equality compares code and message", "[unit][common]") {
  CHECK(Status::NotFound("a") == Status::NotFound("a"));
  CHECK_FALSE(Status::NotFound("a") == Status::NotFound("b"));
  CHECK_FALSE(Status::NotFound("a") == Status::Timeout("a"));
  CHECK(Status(Code::kConflict, "x") == Status::Conflict("x"));
}

TEST_CASE("common: Result holds a value or an error", "[unit][common]") {
  Result<int> good = 42;
  REQUIRE(good.ok());
  CHECK(good.value() == 42);
  CHECK(*good == 42);
  good.value() = 7;
  CHECK(*good == 7);

  Result<int> bad = Status::NotFound("no such key");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == Code::kNotFound);
  CHECK(bad.status().message() == "no such key");
  Status moved_out = std::move(bad).status();
  CHECK(moved_out == Status::NotFound("no such key"));

  Result<std::string> text = std::string("abc");
  CHECK(text->size() == 3);
  const Result<std::string>& const_text = text;
  CHECK(const_text->size() == 3);
  CHECK(*const_text == "abc");
}

TEST_CASE("common: Result works with move-only values", "[unit][common]") {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  REQUIRE(r.ok());
  CHECK(**r == 5);
  std::unique_ptr<int> p = std::move(r).value();
  REQUIRE(p != nullptr);
  CHECK(*p == 5);
}

// Helpers for the macro tests: each records the steps it reached.
Status Step(bool fail, std::vector<std::string>* trace, const char* name) {
  trace->push_back(name);
  return fail ? Status::Timeout(name) : Status::Ok();
}

Status TwoSteps(bool fail_first, bool fail_second, std::vector<std::string>* trace) {
  KVD_TRY(Step(fail_first, trace, "first"));
  KVD_TRY(Step(fail_second, trace, "second"));
  trace->push_back("end");
  return Status::Ok();
}

TEST_CASE("common: KVD_TRY returns the first error and runs nothing after it",
          "[unit][common]") {
  std::vector<std::string> trace;
  CHECK(TwoSteps(false, false, &trace).ok());
  CHECK(trace == std::vector<std::string>{"first", "second", "end"});

  trace.clear();
  CHECK(TwoSteps(true, false, &trace) == Status::Timeout("first"));
  CHECK(trace == std::vector<std::string>{"first"});

  trace.clear();
  CHECK(TwoSteps(false, true, &trace) == Status::Timeout("second"));
  CHECK(trace == std::vector<std::string>{"first", "second"});
}

TEST_CASE("common: KVD_TRY evaluates its expression exactly once", "[unit][common]") {
  int calls = 0;
  auto f = [&]() -> Status {
    ++calls;
    return Status::Ok();
  };
  auto g = [&]() -> Status {
    KVD_TRY(f());
    return Status::Ok();
  };
  CHECK(g().ok());
  CHECK(calls == 1);
}

Result<int> Parse(int v) {
  if (v < 0) return Status::InvalidArgument("negative");
  return v * 10;
}

Result<int> SumOfParsed(int a, int b, std::vector<std::string>* trace) {
  KVD_ASSIGN_OR_RETURN(int x, Parse(a));  // declares x
  trace->push_back("a");
  int y = 0;
  KVD_ASSIGN_OR_RETURN(y, Parse(b));  // assigns to an existing variable
  trace->push_back("b");
  return x + y;
}

Status UseInStatusFunction(int a, int* out) {
  KVD_ASSIGN_OR_RETURN(*out, Parse(a));
  return Status::Ok();
}

TEST_CASE("common: KVD_ASSIGN_OR_RETURN assigns values and returns errors", "[unit][common]") {
  std::vector<std::string> trace;
  Result<int> sum = SumOfParsed(1, 2, &trace);
  REQUIRE(sum.ok());
  CHECK(*sum == 30);
  CHECK(trace == std::vector<std::string>{"a", "b"});

  trace.clear();
  Result<int> first_bad = SumOfParsed(-1, 2, &trace);
  REQUIRE_FALSE(first_bad.ok());
  CHECK(first_bad.status() == Status::InvalidArgument("negative"));
  CHECK(trace.empty());

  trace.clear();
  Result<int> second_bad = SumOfParsed(1, -2, &trace);
  REQUIRE_FALSE(second_bad.ok());
  CHECK(trace == std::vector<std::string>{"a"});

  // The macro also works in a function returning Status.
  int out = 0;
  CHECK(UseInStatusFunction(4, &out).ok());
  CHECK(out == 40);
  CHECK(UseInStatusFunction(-4, &out).code() == Code::kInvalidArgument);
  CHECK(out == 40);  // untouched on error
}

Result<std::unique_ptr<int>> MakeBox(bool fail) {
  if (fail) return Status::Unavailable("no box");
  return std::make_unique<int>(9);
}

Result<int> Unbox(bool fail) {
  KVD_ASSIGN_OR_RETURN(std::unique_ptr<int> box, MakeBox(fail));
  return *box;
}

TEST_CASE("common: KVD_ASSIGN_OR_RETURN moves move-only values", "[unit][common]") {
  CHECK(*Unbox(false) == 9);
  CHECK(Unbox(true).status() == Status::Unavailable("no box"));
}

}  // namespace
}  // namespace kvd
