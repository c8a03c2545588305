// Unit tests for the multi_leader part of wire protocol v1: the replicated data type
// opcodes (GETS 0x16, INCR 0x17, SADD 0x18, SREM 0x19, SMEMBERS 0x1A) and request option
// tag 8, `context`.
//
// Goal: these messages have exactly the byte layout docs/PROTOCOL.md (sections 5 and 9.10
// to 9.13) gives them, and the decoder treats them as untrusted input like every other
// message: each truncation is rejected naming the field it cut, the context is bounded at
// kMaxContextBytes in both directions, counts that the frame cannot hold are rejected
// before anything is allocated, and ValidateRequest refuses empty keys, oversized elements
// and a context on anything but PUT and DELETE with the messages the document quotes.
// Method: hand-written expected bodies (hex) for each message, cut at every byte and
// corrupted field by field. The general round-trip, trailing-byte and random-mutation
// tests in codec_test.cc also cover these messages through their corpus. A failure means
// a wire format change (a compatibility break), a decoder that accepts malformed input, or
// an error message that no longer names its field or limit.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/wire/codec.h"

namespace kvd::wire {
namespace {

using namespace std::string_literals;

// ---- helpers ----

Request Req(uint64_t id, RequestBody body, RequestOptions options = {}) {
  Request r;
  r.request_id = id;
  r.options = std::move(options);
  r.body = std::move(body);
  return r;
}

Response Ok(uint64_t id, Opcode op, ResponseBody body, std::string token = {}) {
  Response r;
  r.request_id = id;
  r.opcode = op;
  r.session_token = std::move(token);
  r.body = std::move(body);
  return r;
}

RequestOptions WithContext(std::string context) {
  RequestOptions o;
  o.context = std::move(context);
  return o;
}

std::string EncodeReq(const Request& r) {
  std::string out;
  EncodeRequest(r, &out);
  return out;
}

std::string EncodeResp(const Response& r) {
  std::string out;
  EncodeResponse(r, &out);
  return out;
}

FrameHeader HeaderOf(const std::string& frame) {
  REQUIRE(frame.size() >= kFrameHeaderBytes);
  FrameHeader h;
  REQUIRE(DecodeFrameHeader(frame, kMaxFrameBytesCeiling, &h).ok());
  REQUIRE(h.frame_bytes() == frame.size());
  return h;
}

std::string_view BodyOf(const std::string& frame) {
  return std::string_view(frame).substr(kFrameHeaderBytes);
}

FrameHeader WithBodySize(FrameHeader h, size_t body_size) {
  h.length = static_cast<uint32_t>(body_size + 10);
  return h;
}

// Decodes `body` as the body of a frame with `frame`'s header (opcode, flags, id).
Result<Request> DecodeReqBody(const std::string& frame, std::string_view body) {
  return DecodeRequest(WithBodySize(HeaderOf(frame), body.size()), body);
}

Result<Response> DecodeRespBody(const std::string& frame, std::string_view body) {
  return DecodeResponse(WithBodySize(HeaderOf(frame), body.size()), body);
}

std::string RequestError(const std::string& frame, std::string_view body) {
  Result<Request> r = DecodeReqBody(frame, body);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kProtocolError);
  return r.status().message();
}

std::string ResponseError(const std::string& frame, std::string_view body) {
  Result<Response> r = DecodeRespBody(frame, body);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kProtocolError);
  return r.status().message();
}

// The field layout of one encoded body, for predicting the message of a truncation.
struct Field {
  std::string name;
  size_t bytes = 0;
};
struct Layout {
  std::vector<Field> fields;
  // For a body with a repeated group: the offset just after its u32 count, the count, and
  // the fewest bytes one item takes. A cut that leaves less than count * min_item_bytes
  // after the count is refused as a count that does not fit, before any item is read.
  size_t count_end = 0;
  uint64_t count = 0;
  size_t min_item_bytes = 0;
};

// The message the decoder gives for a body cut to its first n bytes.
std::string CutMessage(const Layout& l, size_t n) {
  if (l.count_end != 0 && n >= l.count_end && n - l.count_end < l.count * l.min_item_bytes) {
    return fmt::format("count {} does not fit in the frame", l.count);
  }
  size_t end = 0;
  for (const Field& f : l.fields) {
    end += f.bytes;
    if (n < end) return "truncated at field " + f.name;
  }
  FAIL("cut " << n << " is past the end of the layout");
  return "";
}

size_t LayoutBytes(const Layout& l) {
  size_t total = 0;
  for (const Field& f : l.fields) total += f.bytes;
  return total;
}

// Checks every truncation of `frame`'s body against `layout`.
void CheckEveryCut(const std::string& frame, bool response, const Layout& layout,
                   const std::string& prefix) {
  std::string_view body = BodyOf(frame);
  REQUIRE(body.size() == LayoutBytes(layout));
  for (size_t n = 0; n < body.size(); ++n) {
    INFO(prefix << " cut to " << n << " of " << body.size());
    std::string message = response ? ResponseError(frame, body.substr(0, n))
                                   : RequestError(frame, body.substr(0, n));
    CHECK(message == prefix + ": " + CutMessage(layout, n));
  }
}

Limits TestLimits() { return Limits{1u << 20, 8, 16, 3, 100}; }

Status Validate(const RequestBody& body, RequestOptions options = {}) {
  return ValidateRequest(Req(1, body, std::move(options)), TestLimits());
}

std::string Invalid(const RequestBody& body, RequestOptions options = {}) {
  Status s = Validate(body, std::move(options));
  CHECK(s.code() == Code::kInvalidArgument);
  return s.message();
}

// ---- byte layout ----

TEST_CASE("wire: multi_leader requests have the documented byte layout", "[unit][wire]") {
  struct Case {
    Request request;
    uint8_t opcode;
    std::string body_hex;
  };
  const std::vector<Case> cases = {
      {Req(1, GetsRequest{"k"}), 0x16, "00" "00000001" "6b"},
      {Req(2, IncrRequest{"k", -3}), 0x17, "00" "00000001" "6b" "fffffffffffffffd"},
      {Req(3, IncrRequest{"k", 5}), 0x17, "00" "00000001" "6b" "0000000000000005"},
      {Req(4, IncrRequest{"k", INT64_MIN}), 0x17, "00" "00000001" "6b" "8000000000000000"},
      {Req(5, IncrRequest{"k", INT64_MAX}), 0x17, "00" "00000001" "6b" "7fffffffffffffff"},
      {Req(6, SaddRequest{"s", "e"}), 0x18, "00" "00000001" "73" "00000001" "65"},
      {Req(7, SaddRequest{"s", ""}), 0x18, "00" "00000001" "73" "00000000"},
      {Req(8, SremRequest{"s", "e"}), 0x19, "00" "00000001" "73" "00000001" "65"},
      {Req(9, SmembersRequest{"s"}), 0x1a, "00" "00000001" "73"},
      // The context is option tag 8: u16 length, then the bytes as they are.
      {Req(10, PutRequest{"k", "v", 0}, WithContext("ab")), 0x11,
       "01" "08" "0002" "6162" "00000001" "6b" "00000001" "76" "0000000000000000"},
      {Req(11, DeleteRequest{"k"}, WithContext("\x00"s)), 0x12,
       "01" "08" "0001" "00" "00000001" "6b"},
  };
  for (const Case& c : cases) {
    std::string frame = EncodeReq(c.request);
    INFO(OpcodeName(c.request.opcode()) << " " << ToHex(frame));
    FrameHeader h = HeaderOf(frame);
    CHECK(h.opcode == c.opcode);
    CHECK(h.flags == 0);
    CHECK(ToHex(BodyOf(frame)) == c.body_hex);
    Result<Request> d = DecodeReqBody(frame, BodyOf(frame));
    REQUIRE(d.ok());
    CHECK(d.value() == c.request);
  }
}

TEST_CASE("wire: the context option comes last, after every other tag", "[unit][wire]") {
  RequestOptions o;
  o.consistency = Consistency::kSession;
  o.max_staleness_ms = 1;
  o.context = "c";
  std::string frame = EncodeReq(Req(1, PutRequest{"k", "", 0}, o));
  CHECK(ToHex(BodyOf(frame)) == "03"
                                "01" "0001" "04"
                                "07" "0004" "00000001"
                                "08" "0001" "63"
                                "00000001" "6b" "00000000" "0000000000000000");
  // Decoders accept any order: the context first, then the consistency.
  std::string body = "\x02" "\x08\x00\x01" "c" "\x01\x00\x01\x04"
                     "\x00\x00\x00\x01k" "\x00\x00\x00\x00" "\x00\x00\x00\x00\x00\x00\x00\x00"s;
  Result<Request> d = DecodeReqBody(frame, body);
  REQUIRE(d.ok());
  CHECK(d->options.context == "c");
  CHECK(d->options.consistency == Consistency::kSession);
  // An empty context is no option at all.
  CHECK(ToHex(BodyOf(EncodeReq(Req(1, DeleteRequest{"k"}, WithContext(""))))) ==
        "00" "00000001" "6b");
}

TEST_CASE("wire: multi_leader responses have the documented byte layout", "[unit][wire]") {
  struct Case {
    Response response;
    std::string body_hex;
  };
  const std::vector<Case> cases = {
      // status, session token, context, count, then (timestamp, value) per sibling.
      {Ok(1, Opcode::kGets, GetsResponse{"c", {Sibling{0x0102030405060708ull, "v"}}}, "t"),
       "00" "00000001" "74" "00000001" "63" "00000001" "0102030405060708" "00000001" "76"},
      {Ok(2, Opcode::kGets, GetsResponse{}, ""), "00" "00000000" "00000000" "00000000"},
      {Ok(3, Opcode::kIncr, IncrResponse{-1}, ""), "00" "00000000" "ffffffffffffffff"},
      {Ok(4, Opcode::kIncr, IncrResponse{39}, ""), "00" "00000000" "0000000000000027"},
      {Ok(5, Opcode::kIncr, IncrResponse{INT64_MIN}, ""), "00" "00000000" "8000000000000000"},
      {Ok(6, Opcode::kSadd, SetOpResponse{true}, ""), "00" "00000000" "01"},
      {Ok(7, Opcode::kSrem, SetOpResponse{false}, "t"), "00" "00000001" "74" "00"},
      {Ok(8, Opcode::kSmembers, SmembersResponse{{"a", "bc"}}, ""),
       "00" "00000000" "00000002" "00000001" "61" "00000002" "6263"},
      {Ok(9, Opcode::kSmembers, SmembersResponse{}, ""), "00" "00000000" "00000000"},
  };
  for (const Case& c : cases) {
    std::string frame = EncodeResp(c.response);
    INFO(OpcodeName(c.response.opcode) << " " << ToHex(frame));
    FrameHeader h = HeaderOf(frame);
    CHECK(h.opcode == static_cast<uint8_t>(c.response.opcode));
    CHECK(h.flags == kFlagResponse);
    CHECK(ToHex(BodyOf(frame)) == c.body_hex);
    Result<Response> d = DecodeRespBody(frame, BodyOf(frame));
    REQUIRE(d.ok());
    CHECK(d.value() == c.response);
  }
}

// ---- truncation ----

TEST_CASE("wire: every truncation of a multi_leader request names the field it cut",
          "[unit][wire]") {
  CheckEveryCut(EncodeReq(Req(1, GetsRequest{"key"})), false,
                Layout{{{"options.count", 1}, {"key", 7}}}, "malformed GETS request");
  CheckEveryCut(EncodeReq(Req(1, IncrRequest{"key", -3})), false,
                Layout{{{"options.count", 1}, {"key", 7}, {"amount", 8}}},
                "malformed INCR request");
  CheckEveryCut(EncodeReq(Req(1, SaddRequest{"key", "elem"})), false,
                Layout{{{"options.count", 1}, {"key", 7}, {"element", 8}}},
                "malformed SADD request");
  CheckEveryCut(EncodeReq(Req(1, SremRequest{"key", ""})), false,
                Layout{{{"options.count", 1}, {"key", 7}, {"element", 4}}},
                "malformed SREM request");
  CheckEveryCut(EncodeReq(Req(1, SmembersRequest{"key"})), false,
                Layout{{{"options.count", 1}, {"key", 7}}}, "malformed SMEMBERS request");
  CheckEveryCut(EncodeReq(Req(1, PutRequest{"k", "v", 0}, WithContext("ctx"))), false,
                Layout{{{"options.count", 1},
                        {"options.tag", 1},
                        {"options.length", 2},
                        {"options.value", 3},
                        {"key", 5},
                        {"value", 5},
                        {"ttl_ms", 8}}},
                "malformed PUT request");
}

TEST_CASE("wire: every truncation of a multi_leader response names the field it cut",
          "[unit][wire]") {
  // Two siblings, each at least 12 bytes: cuts that leave fewer than 24 bytes after the
  // count are refused as a count that does not fit, before any sibling is read.
  Response gets = Ok(1, Opcode::kGets, GetsResponse{"ctx", {Sibling{1, "ab"}, Sibling{2, ""}}},
                     "tok");
  Layout gets_layout{{{"status", 1},
                      {"session_token", 7},
                      {"context", 7},
                      {"count", 4},
                      {"sibling.timestamp", 8},
                      {"sibling.value", 6},
                      {"sibling.timestamp", 8},
                      {"sibling.value", 4}},
                     19,
                     2,
                     12};
  CheckEveryCut(EncodeResp(gets), true, gets_layout, "malformed GETS response");

  CheckEveryCut(EncodeResp(Ok(1, Opcode::kIncr, IncrResponse{-7}, "t")), true,
                Layout{{{"status", 1}, {"session_token", 5}, {"value", 8}}},
                "malformed INCR response");
  CheckEveryCut(EncodeResp(Ok(1, Opcode::kSadd, SetOpResponse{true}, "t")), true,
                Layout{{{"status", 1}, {"session_token", 5}, {"existed", 1}}},
                "malformed SADD response");
  CheckEveryCut(EncodeResp(Ok(1, Opcode::kSrem, SetOpResponse{false}, "")), true,
                Layout{{{"status", 1}, {"session_token", 4}, {"existed", 1}}},
                "malformed SREM response");

  // Three members, each at least 4 bytes.
  Response smembers = Ok(1, Opcode::kSmembers, SmembersResponse{{"a", "", "xyz"}}, "t");
  Layout smembers_layout{{{"status", 1},
                          {"session_token", 5},
                          {"count", 4},
                          {"member", 5},
                          {"member", 4},
                          {"member", 7}},
                         10,
                         3,
                         4};
  CheckEveryCut(EncodeResp(smembers), true, smembers_layout, "malformed SMEMBERS response");
}

// ---- the context option ----

TEST_CASE("wire: the context option is 1..16384 bytes", "[unit][wire]") {
  SECTION("1 and 16384 bytes round-trip, on PUT and DELETE") {
    for (const std::string& context :
         {"\x00"s, std::string(kMaxContextBytes, '\xff'), "\x00\x02\x00\x00"s}) {
      for (const Request& r : {Req(1, PutRequest{"k", "v", 0}, WithContext(context)),
                               Req(2, DeleteRequest{"k"}, WithContext(context))}) {
        INFO(OpcodeName(r.opcode()) << " context of " << context.size() << " bytes");
        Result<Request> d = DecodeReqBody(EncodeReq(r), BodyOf(EncodeReq(r)));
        REQUIRE(d.ok());
        CHECK(d.value() == r);
      }
    }
  }
  SECTION("0 and 16385 bytes are malformed") {
    std::string frame = EncodeReq(Req(1, PutRequest{"k", "v", 0}));
    // The PUT body after the options: key "k", value "v", ttl_ms 0.
    const std::string rest =
        "\x00\x00\x00\x01k" "\x00\x00\x00\x01v" "\x00\x00\x00\x00\x00\x00\x00\x00"s;
    CHECK(RequestError(frame, "\x01\x08\x00\x00"s + rest) ==
          "malformed PUT request: option context must be 1..16384 bytes, got 0");
    CHECK(RequestError(frame, "\x01\x08\x40\x01"s + std::string(16385, 'c') + rest) ==
          "malformed PUT request: option context must be 1..16384 bytes, got 16385");
    // Exactly 16384 is fine.
    Result<Request> ok = DecodeReqBody(frame, "\x01\x08\x40\x00"s + std::string(16384, 'c') + rest);
    REQUIRE(ok.ok());
    CHECK(ok->options.context == std::string(16384, 'c'));
  }
  SECTION("the codec carries a context on any data opcode; ValidateRequest refuses it") {
    // The decoder does not judge which opcode may carry the option, so that the server can
    // answer with INVALID_ARGUMENT instead of closing the connection.
    Request r = Req(1, GetRequest{"k"}, WithContext("c"));
    Result<Request> d = DecodeReqBody(EncodeReq(r), BodyOf(EncodeReq(r)));
    REQUIRE(d.ok());
    CHECK(d.value() == r);
    CHECK(ValidateRequest(d.value(), TestLimits()).code() == Code::kInvalidArgument);
  }
}

TEST_CASE("wire: the GETS context is at most 16384 bytes", "[unit][wire]") {
  std::string frame = EncodeResp(Ok(1, Opcode::kGets, GetsResponse{}, ""));
  // status, an empty session token, then the context's length.
  CHECK(ResponseError(frame, "\x00" "\x00\x00\x00\x00" "\x00\x00\x40\x01"s +
                                 std::string(16385, 'c') + "\x00\x00\x00\x00"s) ==
        "malformed GETS response: context is 16385 bytes; at most 16384 allowed");
  // The bound is checked before the length is trusted.
  CHECK(ResponseError(frame, "\x00" "\x00\x00\x00\x00" "\xff\xff\xff\xff"s) ==
        "malformed GETS response: context is 4294967295 bytes; at most 16384 allowed");
}

// ---- counts and booleans ----

TEST_CASE("wire: GETS and SMEMBERS counts that cannot fit in the frame are rejected",
          "[unit][wire]") {
  // status 0, an empty session token; for GETS an empty context.
  const std::string gets_head = "\x00" "\x00\x00\x00\x00" "\x00\x00\x00\x00"s;
  const std::string smembers_head = "\x00" "\x00\x00\x00\x00"s;
  SECTION("GETS") {
    std::string frame = EncodeResp(Ok(1, Opcode::kGets, GetsResponse{}, ""));
    CHECK(ResponseError(frame, gets_head + "\xff\xff\xff\xff"s) ==
          "malformed GETS response: count 4294967295 does not fit in the frame");
    // A sibling takes at least 12 bytes (timestamp and value length): 2 need 24.
    CHECK(ResponseError(frame, gets_head + "\x00\x00\x00\x02"s + std::string(23, '\0')) ==
          "malformed GETS response: count 2 does not fit in the frame");
    Result<Response> two = DecodeRespBody(frame, gets_head + "\x00\x00\x00\x02"s +
                                                     std::string(24, '\0'));
    REQUIRE(two.ok());
    CHECK(std::get<GetsResponse>(two->body).siblings ==
          std::vector<Sibling>{Sibling{0, ""}, Sibling{0, ""}});
  }
  SECTION("SMEMBERS") {
    std::string frame = EncodeResp(Ok(1, Opcode::kSmembers, SmembersResponse{}, ""));
    CHECK(ResponseError(frame, smembers_head + "\xff\xff\xff\xff"s) ==
          "malformed SMEMBERS response: count 4294967295 does not fit in the frame");
    // A member takes at least 4 bytes (its length): 3 need 12.
    CHECK(ResponseError(frame, smembers_head + "\x00\x00\x00\x03"s + std::string(11, '\0')) ==
          "malformed SMEMBERS response: count 3 does not fit in the frame");
    Result<Response> three =
        DecodeRespBody(frame, smembers_head + "\x00\x00\x00\x03"s + std::string(12, '\0'));
    REQUIRE(three.ok());
    CHECK(std::get<SmembersResponse>(three->body).members ==
          std::vector<std::string>{"", "", ""});
    // A member's length that runs past the frame.
    CHECK(ResponseError(frame, smembers_head + "\x00\x00\x00\x01" "\x00\x00\x00\x05" "ab"s) ==
          "malformed SMEMBERS response: truncated at field member");
  }
}

TEST_CASE("wire: SADD and SREM responses carry a boolean", "[unit][wire]") {
  for (Opcode op : {Opcode::kSadd, Opcode::kSrem}) {
    std::string frame = EncodeResp(Ok(1, op, SetOpResponse{true}, ""));
    std::string body(BodyOf(frame));
    for (uint8_t b : {uint8_t{2}, uint8_t{0xff}}) {
      body.back() = static_cast<char>(b);
      CHECK(ResponseError(frame, body) ==
            fmt::format("malformed {} response: existed must be 0 or 1, got {}", OpcodeName(op),
                        b));
    }
  }
}

// ---- ValidateRequest ----

TEST_CASE("wire: ValidateRequest accepts multi_leader requests at the limits", "[unit][wire]") {
  const std::string key8(8, '\xff');
  const std::string element16(16, '\0');
  for (const RequestBody& body : std::vector<RequestBody>{
           GetsRequest{key8}, IncrRequest{key8, INT64_MIN}, IncrRequest{"c", 0},
           SaddRequest{key8, element16}, SaddRequest{"s", ""}, SremRequest{key8, element16},
           SremRequest{"s", ""}, SmembersRequest{key8}}) {
    Status s = Validate(body);
    CHECK(s.ToString() == "ok");
  }
  // PUT and DELETE take a context, of any size the codec accepts.
  CHECK(Validate(PutRequest{key8, element16, 0}, WithContext("c")).ok());
  CHECK(Validate(DeleteRequest{key8}, WithContext(std::string(kMaxContextBytes, 'c'))).ok());
}

TEST_CASE("wire: ValidateRequest refuses empty and oversized multi_leader fields",
          "[unit][wire]") {
  const std::string key9(9, 'k');
  const std::string element17(17, 'e');
  SECTION("empty keys") {
    for (const RequestBody& body :
         std::vector<RequestBody>{GetsRequest{""}, IncrRequest{"", 1}, SaddRequest{"", "e"},
                                  SremRequest{"", "e"}, SmembersRequest{""}}) {
      CHECK(Invalid(body) == "key must not be empty");
    }
  }
  SECTION("keys over limits.max_key_bytes") {
    for (const RequestBody& body :
         std::vector<RequestBody>{GetsRequest{key9}, IncrRequest{key9, 1}, SaddRequest{key9, "e"},
                                  SremRequest{key9, "e"}, SmembersRequest{key9}}) {
      CHECK(Invalid(body) == "key is 9 bytes; limit is 8 (limits.max_key_bytes)");
    }
  }
  SECTION("elements over limits.max_value_bytes") {
    const std::string message = "element is 17 bytes; limit is 16 (limits.max_value_bytes)";
    CHECK(Invalid(SaddRequest{"s", element17}) == message);
    CHECK(Invalid(SremRequest{"s", element17}) == message);
    // The key is checked first.
    CHECK(Invalid(SaddRequest{"", element17}) == "key must not be empty");
  }
}

TEST_CASE("wire: ValidateRequest refuses a context on anything but PUT and DELETE",
          "[unit][wire]") {
  const RequestOptions context = WithContext("\x00\x00"s);
  struct Case {
    RequestBody body;
    const char* name;
  };
  const std::vector<Case> cases = {
      {GetRequest{"k"}, "GET"},
      {GetsRequest{"k"}, "GETS"},
      {IncrRequest{"k", 1}, "INCR"},
      {SaddRequest{"k", "e"}, "SADD"},
      {SremRequest{"k", "e"}, "SREM"},
      {SmembersRequest{"k"}, "SMEMBERS"},
      {CasRequest{CasKind::kPutIfVersion, "k", 1, "v", 0}, "CAS"},
      {BatchRequest{{BatchOp{BatchOpType::kPut, "k", 0, "v", 0}}}, "BATCH"},
      {ScanRequest{}, "SCAN"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK(Invalid(c.body, context) ==
          fmt::format("option context is for PUT and DELETE (to resolve siblings), not {}",
                      c.name));
    CHECK(Validate(c.body).ok());  // the same request without the context is fine
  }
  CHECK(Validate(PutRequest{"k", "v", 0}, context).ok());
  CHECK(Validate(DeleteRequest{"k"}, context).ok());

  // Order: the client_id/sequence pair first, then the context, then the body.
  RequestOptions both = context;
  both.client_id = 1;
  CHECK(Invalid(GetRequest{""}, both) ==
        "options client_id and sequence go together: set both (non-zero) or neither");
  CHECK(Invalid(GetRequest{""}, context) ==
        "option context is for PUT and DELETE (to resolve siblings), not GET");
  CHECK(Invalid(PutRequest{"", "v", 0}, context) == "key must not be empty");
}

}  // namespace
}  // namespace kvd::wire
