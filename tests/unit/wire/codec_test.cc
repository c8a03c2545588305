// Unit tests for common/wire/codec.h: encoding, decoding and validation of protocol v1.
//
// Goal: every message survives a round trip unchanged (binary keys and values, empty
// fields, fields at their maximum size), and the decoder is a safe gate for untrusted
// bytes: it rejects anything malformed with kProtocolError and a message that names the
// field, never reads out of bounds, never allocates from a length it has not checked, and
// never crashes. ValidateRequest must turn configurable-limit violations into
// kInvalidArgument messages that name the limit. Method: a corpus of requests and
// responses covering every opcode and status is encoded, decoded and re-encoded; then
// every frame of the corpus is truncated at every byte, extended with trailing bytes and
// corrupted field by field with expected messages; finally a seeded random mutation loop
// (bit flips, byte overwrites, truncations, extensions, length rewrites) runs thousands of
// decodes, which must each return OK or kProtocolError; run it under ASan/UBSan. A failure
// means a wire format change, a decoder that accepts malformed input (which the server
// would then act on), an error message that no longer names its field, or a memory-safety
// bug on network input. The seed is fixed; a failing iteration prints its seed and frame.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/wire/codec.h"

namespace kvd::wire {
namespace {

using namespace std::string_literals;

const std::string kBinary = "\x00\xff\x00key\xff\x7f\x80"s;

// ---- helpers ----

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
  Status s = DecodeFrameHeader(frame, kMaxFrameBytesCeiling, &h);
  REQUIRE(s.ok());
  REQUIRE(h.frame_bytes() == frame.size());
  return h;
}

std::string_view BodyOf(const std::string& frame) {
  return std::string_view(frame).substr(kFrameHeaderBytes);
}

Result<Request> DecodeReqFrame(const std::string& frame) {
  return DecodeRequest(HeaderOf(frame), BodyOf(frame));
}

Result<Response> DecodeRespFrame(const std::string& frame) {
  return DecodeResponse(HeaderOf(frame), BodyOf(frame));
}

// Decodes `body` under `header` with the body's actual length, as a receiver would for a
// frame whose length field says exactly that.
FrameHeader WithBodySize(FrameHeader h, size_t body_size) {
  h.length = static_cast<uint32_t>(body_size + 10);
  return h;
}

// Returns the status message of a failed request decode of a modified body.
std::string RequestError(const std::string& frame, const std::string& body) {
  FrameHeader h = WithBodySize(HeaderOf(frame), body.size());
  Result<Request> r = DecodeRequest(h, body);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kProtocolError);
  return r.status().message();
}

std::string ResponseError(const std::string& frame, const std::string& body) {
  FrameHeader h = WithBodySize(HeaderOf(frame), body.size());
  Result<Response> r = DecodeResponse(h, body);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kProtocolError);
  return r.status().message();
}

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

Response Err(uint64_t id, Opcode op, Code code, std::string message, ErrorDetail detail = {}) {
  Response r = Response::Error(id, op, Status(code, std::move(message)));
  r.detail = std::move(detail);
  return r;
}

RequestOptions AllOptions() {
  RequestOptions o;
  o.consistency = Consistency::kLinearizable;
  o.durability = Durability::kPeriodic;
  o.session_token = kBinary;
  o.timeout_ms = 0xffffffffu;
  o.client_id = UINT64_MAX;
  o.sequence = 1;
  o.max_staleness_ms = 0xffffffffu;
  o.context = kBinary;
  return o;
}

RequestOptions DedupOptions(uint64_t client_id, uint64_t sequence) {
  RequestOptions o;
  o.client_id = client_id;
  o.sequence = sequence;
  return o;
}

RequestOptions FollowerRead(uint32_t max_staleness_ms) {
  RequestOptions o;
  o.consistency = Consistency::kFollower;
  o.max_staleness_ms = max_staleness_ms;
  return o;
}

RequestOptions WithContext(std::string context) {
  RequestOptions o;
  o.context = std::move(context);
  return o;
}

// A multi_leader causal context or session token: a version vector (u16 count, then u64
// node id and u64 count per entry). The codec treats both as opaque bytes.
std::string VersionVector(std::initializer_list<std::pair<uint64_t, uint64_t>> entries) {
  std::string out;
  ByteWriter w(&out);
  w.U16(static_cast<uint16_t>(entries.size()));
  for (const auto& [node, count] : entries) {
    w.U64(node);
    w.U64(count);
  }
  return out;
}

// Every request type, with binary, empty and extreme values.
std::vector<Request> RequestCorpus() {
  std::vector<Request> v;
  v.push_back(Req(0, HelloRequest{1, 1, ""}));
  v.push_back(Req(1, HelloRequest{0, 0xffff, "kvctl"}));
  v.push_back(Req(2, PingRequest{""}));
  v.push_back(Req(3, PingRequest{kBinary}));
  v.push_back(Req(4, StatusRequest{}));
  v.push_back(Req(5, GetRequest{"k"}));
  v.push_back(Req(6, GetRequest{kBinary}, AllOptions()));
  v.push_back(Req(7, PutRequest{kBinary, "", 0}));
  v.push_back(Req(8, PutRequest{"k", kBinary, UINT64_MAX}, AllOptions()));
  v.push_back(Req(9, DeleteRequest{kBinary}));
  v.push_back(Req(10, CasRequest{CasKind::kPutIfVersion, "k", 7, kBinary, 5}));
  v.push_back(Req(11, CasRequest{CasKind::kPutIfAbsent, kBinary, 0, "", 0}));
  v.push_back(Req(12, CasRequest{CasKind::kDeleteIfVersion, "k", UINT64_MAX, "", 0}));
  v.push_back(Req(13, BatchRequest{}));
  v.push_back(Req(14, BatchRequest{{BatchOp{BatchOpType::kCheck, "a", 3, "", 0},
                                    BatchOp{BatchOpType::kGet, kBinary, 0, "", 0},
                                    BatchOp{BatchOpType::kPut, "b", 0, kBinary, 9},
                                    BatchOp{BatchOpType::kDelete, "c", 0, "", 0}}},
                  AllOptions()));
  v.push_back(Req(15, ScanRequest{}));
  v.push_back(Req(16, ScanRequest{kBinary, "a", "z", 10, true, false, "tok"}));
  v.push_back(Req(17, ScanRequest{"", kBinary, "", UINT32_MAX, false, true, kBinary}));
  v.push_back(Req(UINT64_MAX, ScanRequest{"p", "", "", 0, true, true, ""}, AllOptions()));
  // Write deduplication and bounded follower reads.
  v.push_back(Req(18, PutRequest{"k", "v", 0}, DedupOptions(0x0102030405060708ull, 1)));
  v.push_back(Req(19, CasRequest{CasKind::kPutIfAbsent, "k", 0, "v", 0},
                  DedupOptions(1, UINT64_MAX)));
  v.push_back(Req(20, GetRequest{"k"}, FollowerRead(1)));
  v.push_back(Req(21, ScanRequest{}, FollowerRead(UINT32_MAX)));
  // ADMIN: every action, empty and full addresses, extreme node ids.
  v.push_back(Req(30, AdminRequest{AdminAction::kPromote, 0, "", ""}));
  v.push_back(Req(31, AdminRequest{AdminAction::kTransferLeader, UINT64_MAX, "", ""}));
  v.push_back(Req(32, AdminRequest{AdminAction::kAddLearner, 4, "10.0.0.4:7400", kBinary}));
  v.push_back(Req(33, AdminRequest{AdminAction::kPromoteLearner, 4, "", ""}));
  v.push_back(Req(34, AdminRequest{AdminAction::kRemoveMember, 1, "", ""}));
  v.push_back(Req(35, AdminRequest{AdminAction::kCompact, 0, "", ""}));
  v.push_back(Req(36, AdminRequest{AdminAction::kAddLearner, 1,
                                   std::string(kMaxAdminAddressBytes, 'c'),
                                   std::string(kMaxAdminAddressBytes, 'p')}));
  // multi_leader replicated data types, and the context option on the writes that take it.
  v.push_back(Req(40, GetsRequest{"k"}));
  v.push_back(Req(41, GetsRequest{kBinary}, FollowerRead(7)));
  v.push_back(Req(42, IncrRequest{"c", 0}));
  v.push_back(Req(43, IncrRequest{kBinary, -1}));
  v.push_back(Req(44, IncrRequest{"c", INT64_MIN}, AllOptions()));
  v.push_back(Req(45, IncrRequest{"c", INT64_MAX}));
  v.push_back(Req(46, SaddRequest{"s", ""}));
  v.push_back(Req(47, SaddRequest{kBinary, kBinary}, AllOptions()));
  v.push_back(Req(48, SremRequest{"s", "e"}));
  v.push_back(Req(49, SremRequest{kBinary, kBinary}));
  v.push_back(Req(50, SmembersRequest{"s"}));
  v.push_back(Req(51, SmembersRequest{kBinary}, AllOptions()));
  v.push_back(Req(52, PutRequest{"k", "v", 0}, WithContext(VersionVector({{1, 2}, {2, 1}}))));
  v.push_back(Req(53, DeleteRequest{"k"}, WithContext("\x01"s)));
  v.push_back(Req(54, PutRequest{"k", "", 0}, WithContext(std::string(kMaxContextBytes, '\xff'))));
  return v;
}

std::vector<Request> AdminRequests() {
  std::vector<Request> v;
  for (const Request& r : RequestCorpus()) {
    if (r.opcode() == Opcode::kAdmin) v.push_back(r);
  }
  return v;
}

// Every response type, OK and error, with binary, empty and extreme values.
std::vector<Response> ResponseCorpus() {
  std::vector<Response> v;
  v.push_back(Ok(1, Opcode::kHello,
                 HelloResponse{1, "0.1.0", "single", 7, Limits{1, 2, 3, 4, 5}}));
  v.push_back(Ok(2, Opcode::kHello,
                 HelloResponse{0xffff, "", "", UINT64_MAX,
                               Limits{UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX,
                                      UINT32_MAX}}));
  v.push_back(Ok(3, Opcode::kPing, PingResponse{""}));
  v.push_back(Ok(4, Opcode::kPing, PingResponse{kBinary}));
  v.push_back(Ok(5, Opcode::kStatus, StatusResponse{"{}"}));
  v.push_back(Ok(6, Opcode::kGet, GetResponse{1, 0, ""}, ""));
  v.push_back(Ok(7, Opcode::kGet, GetResponse{UINT64_MAX, UINT64_MAX, kBinary}, kBinary));
  v.push_back(Ok(8, Opcode::kPut, PutResponse{42}, "tok"));
  v.push_back(Ok(9, Opcode::kDelete, DeleteResponse{false}, "tok"));
  v.push_back(Ok(10, Opcode::kDelete, DeleteResponse{true}, "tok"));
  v.push_back(Ok(11, Opcode::kCas, CasResponse{0}, "tok"));
  v.push_back(Ok(12, Opcode::kBatch, BatchResponse{}, "tok"));
  v.push_back(Ok(13, Opcode::kBatch,
                 BatchResponse{{BatchResult{BatchOpType::kCheck, true, 3, 0, ""},
                                BatchResult{BatchOpType::kGet, false, 0, 0, ""},
                                BatchResult{BatchOpType::kGet, true, 4, 99, kBinary},
                                BatchResult{BatchOpType::kPut, true, 5, 0, ""},
                                BatchResult{BatchOpType::kDelete, true, 0, 0, ""}}},
                 "tok"));
  v.push_back(Ok(14, Opcode::kScan, ScanResponse{}, "tok"));
  v.push_back(Ok(15, Opcode::kScan,
                 ScanResponse{{ScanItem{kBinary, 1, 2, kBinary}, ScanItem{"b", 3, 0, ""}},
                              kBinary},
                 "tok"));
  // Errors: every non-OK status, on data and non-data opcodes.
  for (uint8_t c = 1; c <= kMaxCode; ++c) {
    auto code = static_cast<Code>(c);
    Opcode op = c % 2 == 0 ? Opcode::kGet : Opcode::kPing;
    ErrorDetail detail;
    if (code == Code::kConflict) detail = ErrorDetail{7, UINT64_MAX, ""};
    if (code == Code::kNotLeader) detail = ErrorDetail{0, 0, "10.0.0.1:7400"};
    v.push_back(Err(uint64_t{100} + c, op, code, std::string(CodeName(code)) + " \xff", detail));
  }
  v.push_back(Err(200, Opcode::kBatch, Code::kConflict, "", ErrorDetail{UINT32_MAX, 0, ""}));
  v.push_back(Err(201, Opcode::kPut, Code::kNotLeader, "", ErrorDetail{}));  // empty hint
  // ADMIN: an OK response is a JSON text without a session token; errors are generic.
  v.push_back(Ok(210, Opcode::kAdmin, AdminResponse{""}));
  v.push_back(Ok(211, Opcode::kAdmin,
                 AdminResponse{R"({"node_id":2,"term":5,"message":"election started"})"}));
  v.push_back(Ok(212, Opcode::kAdmin, AdminResponse{kBinary}));
  v.push_back(Err(213, Opcode::kAdmin, Code::kNotLeader,
                  "membership changes are made by the leader", ErrorDetail{0, 0, "10.0.0.2:7400"}));
  v.push_back(Err(214, Opcode::kAdmin, Code::kNotLeader, "no leader", ErrorDetail{}));
  v.push_back(Err(215, Opcode::kAdmin, Code::kUnsupported,
                  "ADMIN promote needs a replicated topology; this node's mode is single"));
  v.push_back(Err(216, Opcode::kAdmin, Code::kUnavailable,
                  "a membership change is still in progress; retry when it has committed"));
  // multi_leader: version-vector session tokens, siblings, counters and sets.
  const std::string vv = VersionVector({{1, 12}, {2, 9}});
  v.push_back(Ok(220, Opcode::kGets, GetsResponse{}, vv));
  v.push_back(Ok(221, Opcode::kGets, GetsResponse{"", {Sibling{1, ""}}}, vv));
  v.push_back(Ok(222, Opcode::kGets,
                 GetsResponse{VersionVector({{1, 2}, {2, 1}}),
                              {Sibling{UINT64_MAX, kBinary}, Sibling{0, ""}, Sibling{7, "v"}}},
                 kBinary));
  v.push_back(Ok(223, Opcode::kGets,
                 GetsResponse{std::string(kMaxContextBytes, '\x01'), {}},
                 std::string(kMaxSessionTokenBytes, '\x02')));
  v.push_back(Ok(224, Opcode::kIncr, IncrResponse{0}, vv));
  v.push_back(Ok(225, Opcode::kIncr, IncrResponse{-1}, vv));
  v.push_back(Ok(226, Opcode::kIncr, IncrResponse{INT64_MIN}, ""));
  v.push_back(Ok(227, Opcode::kIncr, IncrResponse{INT64_MAX}, vv));
  v.push_back(Ok(228, Opcode::kSadd, SetOpResponse{false}, vv));
  v.push_back(Ok(229, Opcode::kSadd, SetOpResponse{true}, vv));
  v.push_back(Ok(230, Opcode::kSrem, SetOpResponse{false}, vv));
  v.push_back(Ok(231, Opcode::kSrem, SetOpResponse{true}, vv));
  v.push_back(Ok(232, Opcode::kSmembers, SmembersResponse{}, vv));
  v.push_back(Ok(233, Opcode::kSmembers, SmembersResponse{{"", kBinary, "a", "b"}}, vv));
  v.push_back(Ok(234, Opcode::kPut, PutResponse{UINT64_MAX}, vv));
  v.push_back(Err(235, Opcode::kGet, Code::kConflict,
                  "key 'cart/7' has 2 siblings (concurrent writes): GETS returns them all, with "
                  "the context to write the resolved value",
                  ErrorDetail{0, 0, ""}));
  v.push_back(Err(236, Opcode::kGets, Code::kUnsupported,
                  "GETS works on replicated data types, which only node.mode multi_leader offers"));
  v.push_back(Err(237, Opcode::kSmembers, Code::kInvalidArgument, "SMEMBERS needs a set key"));
  v.push_back(Err(238, Opcode::kIncr, Code::kUnavailable, "m"));
  return v;
}

std::vector<std::string> FrameCorpus() {
  std::vector<std::string> frames;
  for (const Request& r : RequestCorpus()) frames.push_back(EncodeReq(r));
  for (const Response& r : ResponseCorpus()) frames.push_back(EncodeResp(r));
  return frames;
}

// ---- round trips ----

TEST_CASE("wire: every request type round-trips", "[unit][wire]") {
  for (const Request& r : RequestCorpus()) {
    std::string frame = EncodeReq(r);
    INFO(OpcodeName(r.opcode()) << " " << ToHex(frame));
    FrameHeader h = HeaderOf(frame);
    CHECK(h.opcode == static_cast<uint8_t>(r.opcode()));
    CHECK(h.flags == 0);
    CHECK(h.request_id == r.request_id);
    Result<Request> d = DecodeReqFrame(frame);
    REQUIRE(d.ok());
    CHECK(d.value() == r);
    CHECK(EncodeReq(d.value()) == frame);
  }
}

TEST_CASE("wire: every response type round-trips", "[unit][wire]") {
  for (const Response& r : ResponseCorpus()) {
    std::string frame = EncodeResp(r);
    INFO(OpcodeName(r.opcode) << " " << CodeName(r.status) << " " << ToHex(frame));
    FrameHeader h = HeaderOf(frame);
    CHECK(h.flags == kFlagResponse);
    CHECK(h.request_id == r.request_id);
    Result<Response> d = DecodeRespFrame(frame);
    REQUIRE(d.ok());
    CHECK(d.value() == r);
    CHECK(EncodeResp(d.value()) == frame);
  }
}

TEST_CASE("wire: options are omitted when default and only on data opcodes", "[unit][wire]") {
  // A GET with default options has a one-byte options block: count 0.
  std::string get = EncodeReq(Req(1, GetRequest{"k"}));
  CHECK(ToHex(BodyOf(get)) == "00" "00000001" "6b");
  // PING has no options block, even if options are set on the Request.
  std::string ping = EncodeReq(Req(1, PingRequest{"x"}, AllOptions()));
  CHECK(ToHex(BodyOf(ping)) == "00000001" "78");
  Result<Request> d = DecodeReqFrame(ping);
  REQUIRE(d.ok());
  CHECK(d->options == RequestOptions{});
  // Error responses carry no session token, even for data opcodes.
  Response e = Err(1, Opcode::kGet, Code::kNotFound, "m");
  e.session_token = "ignored";
  CHECK(ToHex(BodyOf(EncodeResp(e))) == "01" "00000001" "6d");
}

TEST_CASE("wire: options in any order and with default values decode", "[unit][wire]") {
  std::string frame = EncodeReq(Req(1, GetRequest{"k"}));
  // count 4: timeout, session token, durability 0 (explicit default), consistency.
  std::string body = "\x04"
                     "\x04\x00\x04\x00\x00\x01\x00"
                     "\x03\x00\x02" "ab"
                     "\x02\x00\x01\x00"
                     "\x01\x00\x01\x03"
                     "\x00\x00\x00\x01k"s;
  FrameHeader h = WithBodySize(HeaderOf(frame), body.size());
  Result<Request> d = DecodeRequest(h, body);
  REQUIRE(d.ok());
  CHECK(d->options.timeout_ms == 256);
  CHECK(d->options.session_token == "ab");
  CHECK(d->options.durability == Durability::kDefault);
  CHECK(d->options.consistency == Consistency::kFollower);
}

TEST_CASE("wire: fields at their fixed maximum round-trip; one more byte is rejected",
          "[unit][wire]") {
  SECTION("client_name") {
    Request r = Req(1, HelloRequest{1, 1, std::string(kMaxClientNameBytes, '\xff')});
    CHECK(DecodeReqFrame(EncodeReq(r)).value() == r);
    std::get<HelloRequest>(r.body).client_name.push_back('x');
    Result<Request> d = DecodeReqFrame(EncodeReq(r));
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().message() ==
          "malformed HELLO request: client_name is 257 bytes; at most 256 allowed");
  }
  SECTION("ping payload, request and response") {
    Request r = Req(1, PingRequest{std::string(kMaxPingPayloadBytes, '\0')});
    CHECK(DecodeReqFrame(EncodeReq(r)).value() == r);
    Response p = Ok(1, Opcode::kPing, PingResponse{std::string(kMaxPingPayloadBytes, '\0')});
    CHECK(DecodeRespFrame(EncodeResp(p)).value() == p);
    std::get<PingRequest>(r.body).payload.push_back('x');
    Result<Request> d = DecodeReqFrame(EncodeReq(r));
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().message() ==
          "malformed PING request: payload is 65537 bytes; at most 65536 allowed");
    std::get<PingResponse>(p.body).payload.push_back('x');
    CHECK(DecodeRespFrame(EncodeResp(p)).status().code() == Code::kProtocolError);
  }
  SECTION("session token option and response token") {
    RequestOptions o;
    o.session_token = std::string(kMaxSessionTokenBytes, '\x01');
    Request r = Req(1, GetRequest{"k"}, o);
    CHECK(DecodeReqFrame(EncodeReq(r)).value() == r);
    Response resp = Ok(1, Opcode::kGet, GetResponse{1, 0, "v"},
                       std::string(kMaxSessionTokenBytes, '\x02'));
    CHECK(DecodeRespFrame(EncodeResp(resp)).value() == resp);
    resp.session_token.push_back('x');
    Result<Response> d = DecodeRespFrame(EncodeResp(resp));
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().message() ==
          "malformed GET response: session_token is 2049 bytes; at most 2048 allowed");
  }
  SECTION("context option and GETS context") {
    Request r = Req(1, PutRequest{"k", "v", 0},
                    WithContext(std::string(kMaxContextBytes, '\x01')));
    CHECK(DecodeReqFrame(EncodeReq(r)).value() == r);
    Response resp = Ok(1, Opcode::kGets,
                       GetsResponse{std::string(kMaxContextBytes, '\x02'), {Sibling{1, "v"}}}, "t");
    CHECK(DecodeRespFrame(EncodeResp(resp)).value() == resp);
    std::get<GetsResponse>(resp.body).context.push_back('x');
    Result<Response> d = DecodeRespFrame(EncodeResp(resp));
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().code() == Code::kProtocolError);
    CHECK(d.status().message() ==
          "malformed GETS response: context is 16385 bytes; at most 16384 allowed");
  }
  SECTION("continuation, request and response") {
    Request r = Req(1, ScanRequest{"", "", "", 0, false, false,
                                   std::string(kMaxContinuationBytes, '\xff')});
    CHECK(DecodeReqFrame(EncodeReq(r)).value() == r);
    Response resp = Ok(1, Opcode::kScan,
                       ScanResponse{{}, std::string(kMaxContinuationBytes, '\xff')}, "t");
    CHECK(DecodeRespFrame(EncodeResp(resp)).value() == resp);
    std::get<ScanRequest>(r.body).continuation.push_back('x');
    Result<Request> d = DecodeReqFrame(EncodeReq(r));
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().message() ==
          fmt::format("malformed SCAN request: continuation is {} bytes; at most {} allowed",
                      kMaxContinuationBytes + 1, kMaxContinuationBytes));
    std::get<ScanResponse>(resp.body).continuation.push_back('x');
    CHECK(DecodeRespFrame(EncodeResp(resp)).status().code() == Code::kProtocolError);
  }
  SECTION("large keys and values are bounded only by the frame") {
    Request r = Req(1, PutRequest{std::string(70000, 'k'), std::string(1u << 20, '\0'), 1});
    CHECK(DecodeReqFrame(EncodeReq(r)).value() == r);
  }
}

TEST_CASE("wire: frames append to a buffer and decode one after another", "[unit][wire]") {
  std::string stream;
  std::vector<Request> corpus = RequestCorpus();
  for (const Request& r : corpus) EncodeRequest(r, &stream);
  size_t pos = 0;
  for (const Request& r : corpus) {
    std::string_view rest = std::string_view(stream).substr(pos);
    REQUIRE(rest.size() >= kFrameHeaderBytes);
    FrameHeader h;
    REQUIRE(DecodeFrameHeader(rest, kMaxFrameBytesCeiling, &h).ok());
    Result<Request> d = DecodeRequest(h, rest.substr(kFrameHeaderBytes, h.body_bytes()));
    REQUIRE(d.ok());
    CHECK(d.value() == r);
    pos += h.frame_bytes();
  }
  CHECK(pos == stream.size());
}

// ---- frame header ----

std::string RawHeader(uint32_t length, uint8_t opcode, uint8_t flags, uint64_t id) {
  std::string out;
  ByteWriter w(&out);
  w.U32(length);
  w.U8(opcode);
  w.U8(flags);
  w.U64(id);
  return out;
}

TEST_CASE("wire: DecodeFrameHeader enforces the minimum length and the maximum size",
          "[unit][wire]") {
  FrameHeader h;
  SECTION("length below 10 is rejected, header still filled in") {
    for (uint32_t len : {0u, 1u, 9u}) {
      INFO(len);
      Status s = DecodeFrameHeader(RawHeader(len, 0x10, 0, 77), 1024, &h);
      CHECK(s.code() == Code::kProtocolError);
      CHECK(s.message() == fmt::format("frame length {} is below the minimum 10", len));
      CHECK(h.request_id == 77);
      CHECK(h.opcode == 0x10);
      CHECK(h.length == len);
    }
  }
  SECTION("length 10 is the smallest frame") {
    CHECK(DecodeFrameHeader(RawHeader(10, 0x03, 0, 1), 1024, &h).ok());
    CHECK(h.body_bytes() == 0);
    CHECK(h.frame_bytes() == 14);
  }
  SECTION("the maximum counts the whole frame, length field included") {
    CHECK(DecodeFrameHeader(RawHeader(1020, 0x10, 0, 1), 1024, &h).ok());
    CHECK(h.frame_bytes() == 1024);
    Status s = DecodeFrameHeader(RawHeader(1021, 0x10, 0, 5), 1024, &h);
    CHECK(s.code() == Code::kProtocolError);
    CHECK(s.message() == "frame of 1025 bytes exceeds the limit of 1024 bytes");
    CHECK(h.request_id == 5);
  }
  SECTION("a 4 GiB length does not overflow") {
    Status s = DecodeFrameHeader(RawHeader(UINT32_MAX, 0x10, 0, 5), kMaxFrameBytesCeiling, &h);
    CHECK(s.code() == Code::kProtocolError);
    CHECK(s.message() == "frame of 4294967299 bytes exceeds the limit of 67108864 bytes");
  }
  SECTION("opcode and flags are not judged by the header decoder") {
    CHECK(DecodeFrameHeader(RawHeader(10, 0xee, 0xff, 1), 1024, &h).ok());
    CHECK(h.opcode == 0xee);
    CHECK(h.flags == 0xff);
  }
  SECTION("only the first 14 bytes are read") {
    std::string buf = RawHeader(12, 0x02, 0, 9) + "\xff\xff"s;
    CHECK(DecodeFrameHeader(buf, 1024, &h).ok());
    CHECK(h.length == 12);
  }
}

TEST_CASE("wire: BeginFrame and FinishFrame write the length last", "[unit][wire]") {
  std::string out = "xx";
  size_t at = BeginFrame(&out, 0x02, 0, 0x0102030405060708ull);
  CHECK(at == 2);
  out += "body";
  FinishFrame(&out, at);
  CHECK(ToHex(out.substr(2)) == "0000000e" "02" "00" "0102030405060708" "626f6479");
}

// ---- truncation and trailing bytes ----

TEST_CASE("wire: every truncation of every frame is rejected", "[unit][wire]") {
  size_t checked = 0;
  for (const Request& r : RequestCorpus()) {
    std::string frame = EncodeReq(r);
    FrameHeader h = HeaderOf(frame);
    std::string_view body = BodyOf(frame);
    for (size_t n = 0; n < body.size(); ++n) {
      INFO(OpcodeName(r.opcode()) << " request cut to " << n << " of " << body.size());
      Result<Request> d = DecodeRequest(WithBodySize(h, n), body.substr(0, n));
      REQUIRE_FALSE(d.ok());
      CHECK(d.status().code() == Code::kProtocolError);
      CHECK_THAT(d.status().message(), Catch::Contains("truncated at field") ||
                                           Catch::Contains("does not fit in the frame"));
      ++checked;
    }
  }
  for (const Response& r : ResponseCorpus()) {
    std::string frame = EncodeResp(r);
    FrameHeader h = HeaderOf(frame);
    std::string_view body = BodyOf(frame);
    for (size_t n = 0; n < body.size(); ++n) {
      INFO(OpcodeName(r.opcode) << " response cut to " << n << " of " << body.size());
      Result<Response> d = DecodeResponse(WithBodySize(h, n), body.substr(0, n));
      REQUIRE_FALSE(d.ok());
      CHECK(d.status().code() == Code::kProtocolError);
      CHECK_THAT(d.status().message(), Catch::Contains("truncated at field") ||
                                           Catch::Contains("does not fit in the frame"));
      ++checked;
    }
  }
  CHECK(checked > 1000);
}

TEST_CASE("wire: trailing bytes after the last field are rejected", "[unit][wire]") {
  for (const Request& r : RequestCorpus()) {
    std::string frame = EncodeReq(r);
    INFO(OpcodeName(r.opcode()));
    std::string body = std::string(BodyOf(frame)) + "\x00"s;
    CHECK_THAT(RequestError(frame, body), Catch::EndsWith(": 1 unexpected trailing bytes"));
  }
  for (const Response& r : ResponseCorpus()) {
    std::string frame = EncodeResp(r);
    INFO(OpcodeName(r.opcode) << " " << CodeName(r.status));
    std::string body = std::string(BodyOf(frame)) + "\x00\x00"s;
    CHECK_THAT(ResponseError(frame, body), Catch::EndsWith(": 2 unexpected trailing bytes"));
  }
}

// ---- malformed fields ----

TEST_CASE("wire: unknown opcodes and bad flags are rejected", "[unit][wire]") {
  std::string frame = EncodeReq(Req(1, StatusRequest{}));
  FrameHeader h = HeaderOf(frame);
  for (int op = 0; op < 256; ++op) {
    h.opcode = static_cast<uint8_t>(op);
    if (IsKnownOpcode(h.opcode)) continue;
    Result<Request> d = DecodeRequest(h, "");
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().code() == Code::kProtocolError);
    CHECK(d.status().message() == fmt::format("unknown opcode 0x{:02x}", op));
  }
  h = HeaderOf(frame);
  for (uint8_t flags : {uint8_t{0x01}, uint8_t{0x02}, uint8_t{0x80}}) {
    h.flags = flags;
    Result<Request> d = DecodeRequest(h, "");
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().message() == fmt::format("request flags must be 0, got 0x{:02x}", flags));
  }
  std::string resp = EncodeResp(Ok(1, Opcode::kStatus, StatusResponse{"{}"}));
  FrameHeader rh = HeaderOf(resp);
  for (uint8_t flags : {uint8_t{0x00}, uint8_t{0x03}}) {
    rh.flags = flags;
    Result<Response> d = DecodeResponse(rh, BodyOf(resp));
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().message() ==
          fmt::format("response flags must be 0x01, got 0x{:02x}", flags));
  }
}

TEST_CASE("wire: an error response may echo an unknown opcode; an OK one may not",
          "[unit][wire]") {
  // The server answers a frame with an unknown opcode by PROTOCOL_ERROR, echoing the raw
  // opcode byte; the client must be able to read that answer.
  Response e = Err(9, static_cast<Opcode>(0x7f), Code::kProtocolError, "unknown opcode 0x7f");
  std::string frame = EncodeResp(e);
  Result<Response> d = DecodeRespFrame(frame);
  REQUIRE(d.ok());
  CHECK(d.value() == e);

  std::string ok_frame = EncodeResp(Ok(9, Opcode::kStatus, StatusResponse{"{}"}));
  FrameHeader h = HeaderOf(ok_frame);
  h.opcode = 0x7f;
  Result<Response> bad = DecodeResponse(h, BodyOf(ok_frame));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message() == "unknown opcode 0x7f in response");
}

// Builds the body of a GET request with a hand-written options block.
std::string GetBodyWithOptions(const std::string& options) {
  return options + "\x00\x00\x00\x01k"s;
}

TEST_CASE("wire: malformed request options are rejected with the field named",
          "[unit][wire]") {
  std::string frame = EncodeReq(Req(1, GetRequest{"k"}));
  struct Case {
    const char* what;
    std::string options;
    std::string message;
  };
  const std::string p = "malformed GET request: ";
  const std::vector<Case> cases = {
      {"unknown tag", "\x01\x0b\x00\x00"s, p + "unknown option tag 11"},
      {"read_quorum too long", "\x01\x09\x00\x02\x01\x01"s, p + "option read_quorum must be 1 byte"},
      {"write_quorum out of range", "\x01\x0a\x00\x01\x11"s,
       p + "option write_quorum is 17; expected 1..16, 254 (quorum) or 255 (all)"},
      {"tag 31", "\x01\x1f\x00\x00"s, p + "unknown option tag 31"},
      {"tag 0", "\x01\x00\x00\x00"s, p + "unknown option tag 0"},
      {"tag 255", "\x01\xff\x00\x00"s, p + "unknown option tag 255"},
      {"duplicate tag", "\x02\x01\x00\x01\x01\x01\x00\x01\x02"s,
       p + "option tag 1 appears twice"},
      {"count above 16", "\x11"s, p + "options.count is 17; at most 16"},
      {"consistency out of range", "\x01\x01\x00\x01\x05"s, p + "unknown consistency level 5"},
      {"consistency too long", "\x01\x01\x00\x02\x01\x01"s,
       p + "option consistency must be 1 byte"},
      {"consistency empty", "\x01\x01\x00\x00"s, p + "option consistency must be 1 byte"},
      {"durability out of range", "\x01\x02\x00\x01\x04"s, p + "unknown durability mode 4"},
      {"durability too long", "\x01\x02\x00\x02\x00\x01"s,
       p + "option durability must be 1 byte"},
      {"empty session token", "\x01\x03\x00\x00"s,
       p + "option session_token must be 1..2048 bytes, got 0"},
      {"empty context", "\x01\x08\x00\x00"s, p + "option context must be 1..16384 bytes, got 0"},
      {"context past the end", "\x01\x08\x00\x10\x00"s, p + "truncated at field options.value"},
      {"duplicate context", "\x02\x08\x00\x01\x01\x08\x00\x01\x02"s,
       p + "option tag 8 appears twice"},
      {"timeout too short", "\x01\x04\x00\x03\x00\x00\x01"s,
       p + "option timeout_ms must be 4 bytes"},
      {"option value past the end", "\x01\x03\x01\x00"s, p + "truncated at field options.value"},
      {"client_id empty", "\x01\x05\x00\x00"s, p + "option client_id must be 8 bytes"},
      {"client_id too short", "\x01\x05\x00\x07" "\x00\x00\x00\x00\x00\x00\x01"s,
       p + "option client_id must be 8 bytes"},
      {"client_id too long", "\x01\x05\x00\x09" "\x00\x00\x00\x00\x00\x00\x00\x00\x01"s,
       p + "option client_id must be 8 bytes"},
      {"sequence too short", "\x01\x06\x00\x04" "\x00\x00\x00\x01"s,
       p + "option sequence must be 8 bytes"},
      {"max_staleness_ms too long", "\x01\x07\x00\x08" "\x00\x00\x00\x00\x00\x00\x01\xf4"s,
       p + "option max_staleness_ms must be 4 bytes"},
      {"max_staleness_ms too short", "\x01\x07\x00\x02" "\x01\xf4"s,
       p + "option max_staleness_ms must be 4 bytes"},
      {"duplicate client_id",
       "\x02\x05\x00\x08" "\x00\x00\x00\x00\x00\x00\x00\x01"
       "\x05\x00\x08" "\x00\x00\x00\x00\x00\x00\x00\x02"s,
       p + "option tag 5 appears twice"},
      {"duplicate max_staleness_ms",
       "\x02\x07\x00\x04\x00\x00\x00\x01" "\x07\x00\x04\x00\x00\x00\x02"s,
       p + "option tag 7 appears twice"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    CHECK(RequestError(frame, GetBodyWithOptions(c.options)) == c.message);
  }
  // The options block is the whole body: its one option is missing.
  CHECK(RequestError(frame, "\x01"s) == p + "truncated at field options.tag");
  CHECK(RequestError(frame, "\x01\x04"s) == p + "truncated at field options.length");
  // A session token longer than 2048 bytes.
  std::string long_token = "\x01\x03\x08\x01"s + std::string(2049, 'x');
  CHECK(RequestError(frame, GetBodyWithOptions(long_token)) ==
        p + "option session_token must be 1..2048 bytes, got 2049");
  // A context longer than 16384 bytes (the u16 length could say up to 65535).
  std::string long_context = "\x01\x08\x40\x01"s + std::string(16385, 'x');
  CHECK(RequestError(frame, GetBodyWithOptions(long_context)) ==
        p + "option context must be 1..16384 bytes, got 16385");
  std::string max_context = "\x01\x08\xff\xff"s + std::string(65535, 'x');
  CHECK(RequestError(frame, GetBodyWithOptions(max_context)) ==
        p + "option context must be 1..16384 bytes, got 65535");
}

TEST_CASE("wire: enum and flag fields outside their range are rejected", "[unit][wire]") {
  SECTION("CAS kind") {
    std::string frame = EncodeReq(Req(1, CasRequest{CasKind::kPutIfVersion, "k", 1, "v", 0}));
    std::string body(BodyOf(frame));
    for (uint8_t kind : {uint8_t{0}, uint8_t{4}, uint8_t{0xff}}) {
      body[1] = static_cast<char>(kind);  // after the options count
      CHECK(RequestError(frame, body) ==
            fmt::format("malformed CAS request: unknown CAS kind {}", kind));
    }
  }
  SECTION("batch op type, request and response") {
    std::string frame =
        EncodeReq(Req(1, BatchRequest{{BatchOp{BatchOpType::kGet, "k", 0, "", 0}}}));
    std::string body(BodyOf(frame));
    for (uint8_t type : {uint8_t{0}, uint8_t{5}}) {
      body[5] = static_cast<char>(type);  // options count, u32 count, then the type
      CHECK(RequestError(frame, body) ==
            fmt::format("malformed BATCH request: unknown batch op type {}", type));
    }
    std::string resp = EncodeResp(Ok(1, Opcode::kBatch,
                                     BatchResponse{{BatchResult{BatchOpType::kGet, false, 0, 0,
                                                                ""}}},
                                     ""));
    std::string rbody(BodyOf(resp));
    rbody[9] = '\x09';  // status, empty token (4), count (4), then the type
    CHECK(ResponseError(resp, rbody) == "malformed BATCH response: unknown batch op type 9");
  }
  SECTION("scan flags") {
    std::string frame = EncodeReq(Req(1, ScanRequest{}));
    std::string body(BodyOf(frame));
    // options (1), prefix, start, end (4 each), limit (4), then flags.
    body[17] = '\x04';
    CHECK(RequestError(frame, body) == "malformed SCAN request: unknown scan flag bits 0x04");
    body[17] = '\x83';
    CHECK(RequestError(frame, body) == "malformed SCAN request: unknown scan flag bits 0x83");
  }
  SECTION("booleans in responses") {
    std::string resp = EncodeResp(Ok(1, Opcode::kDelete, DeleteResponse{true}, ""));
    std::string body(BodyOf(resp));
    body.back() = '\x02';
    CHECK(ResponseError(resp, body) == "malformed DELETE response: existed must be 0 or 1, got 2");

    std::string batch = EncodeResp(Ok(1, Opcode::kBatch,
                                      BatchResponse{{BatchResult{BatchOpType::kPut, true, 1, 0,
                                                                 ""}}},
                                      ""));
    std::string bbody(BodyOf(batch));
    bbody[10] = '\xff';  // the found byte
    CHECK(ResponseError(batch, bbody) ==
          "malformed BATCH response: result.found must be 0 or 1, got 255");
  }
  SECTION("status byte") {
    std::string resp = EncodeResp(Ok(1, Opcode::kPing, PingResponse{""}));
    std::string body(BodyOf(resp));
    body[0] = static_cast<char>(kMaxCode + 1);
    CHECK(ResponseError(resp, body) == "malformed PING response: unknown status 11");
  }
}

TEST_CASE("wire: error response details are bounded", "[unit][wire]") {
  Response e = Err(1, Opcode::kGet, Code::kNotLeader, "m",
                   ErrorDetail{0, 0, std::string(1025, 'h')});
  CHECK(ResponseError(EncodeResp(e), std::string(BodyOf(EncodeResp(e)))) ==
        "malformed GET response: leader_hint is 1025 bytes; at most 1024 allowed");
  Response big = Err(1, Opcode::kGet, Code::kTimeout, std::string((64u << 10) + 1, 'm'));
  CHECK(ResponseError(EncodeResp(big), std::string(BodyOf(EncodeResp(big)))) ==
        "malformed GET response: message is 65537 bytes; at most 65536 allowed");
}

TEST_CASE("wire: counts that cannot fit in the frame are rejected before allocating",
          "[unit][wire]") {
  // A 4-billion count in a tiny frame must fail on arithmetic, not on a 100 GB resize.
  SECTION("batch request") {
    std::string frame = EncodeReq(Req(1, BatchRequest{}));
    std::string body = "\x00\xff\xff\xff\xff"s;
    CHECK(RequestError(frame, body) ==
          "malformed BATCH request: count 4294967295 does not fit in the frame");
    // One op needs at least 25 bytes: a count of 2 with 49 bytes left is a lie too.
    std::string two = "\x00\x00\x00\x00\x02"s + std::string(49, '\0');
    CHECK(RequestError(frame, two) == "malformed BATCH request: count 2 does not fit in the frame");
  }
  SECTION("batch response") {
    std::string frame = EncodeResp(Ok(1, Opcode::kBatch, BatchResponse{}, ""));
    std::string body = "\x00\x00\x00\x00\x00\xff\xff\xff\xff"s;
    CHECK(ResponseError(frame, body) ==
          "malformed BATCH response: count 4294967295 does not fit in the frame");
  }
  SECTION("scan response") {
    std::string frame = EncodeResp(Ok(1, Opcode::kScan, ScanResponse{}, ""));
    std::string body = "\x00\x00\x00\x00\x00\x10\x00\x00\x00"s + std::string(100, '\0');
    CHECK(ResponseError(frame, body) ==
          "malformed SCAN response: count 268435456 does not fit in the frame");
  }
  SECTION("a 4 GiB byte string length") {
    std::string frame = EncodeReq(Req(1, GetRequest{"k"}));
    std::string body = "\x00\xff\xff\xff\xff"s + "k";
    CHECK(RequestError(frame, body) == "malformed GET request: truncated at field key");
  }
}

// ---- replication options and ADMIN ----

TEST_CASE("wire: client_id, sequence and max_staleness_ms encode with fixed lengths, in tag order",
          "[unit][wire]") {
  RequestOptions o;
  o.client_id = 0x0102030405060708ull;
  o.sequence = 9;
  o.max_staleness_ms = 500;
  o.consistency = Consistency::kFollower;
  Request r = Req(1, GetRequest{"k"}, o);
  std::string frame = EncodeReq(r);
  CHECK(ToHex(BodyOf(frame)) == "04"
                                "01" "0001" "03"
                                "05" "0008" "0102030405060708"
                                "06" "0008" "0000000000000009"
                                "07" "0004" "000001f4"
                                "00000001" "6b");
  Result<Request> d = DecodeReqFrame(frame);
  REQUIRE(d.ok());
  CHECK(d.value() == r);

  // Each one alone: the codec carries a lone client_id or sequence (ValidateRequest is
  // what refuses it), so a decoder sees exactly what was sent.
  for (const RequestOptions& one :
       {DedupOptions(UINT64_MAX, 0), DedupOptions(0, UINT64_MAX), FollowerRead(0xffffffffu)}) {
    Request single = Req(2, PutRequest{"k", "", 0}, one);
    Result<Request> back = DecodeReqFrame(EncodeReq(single));
    REQUIRE(back.ok());
    CHECK(back.value() == single);
  }
  // max_staleness_ms travels without a consistency level too (it then has no effect).
  RequestOptions staleness_only;
  staleness_only.max_staleness_ms = 1;
  CHECK(ToHex(BodyOf(EncodeReq(Req(3, GetRequest{"k"}, staleness_only)))) ==
        "01" "07" "0004" "00000001" "00000001" "6b");
}

TEST_CASE("wire: read_quorum and write_quorum (dynamo) encode as one byte each, in tag order",
          "[unit][wire]") {
  RequestOptions o;
  o.read_quorum = 1;
  o.write_quorum = kQuorumOptionAll;
  Request r = Req(1, GetRequest{"k"}, o);
  std::string frame = EncodeReq(r);
  CHECK(ToHex(BodyOf(frame)) == "02"
                                "09" "0001" "01"
                                "0a" "0001" "ff"
                                "00000001" "6b");
  Result<Request> d = DecodeReqFrame(frame);
  REQUIRE(d.ok());
  CHECK(d.value() == r);
  for (uint8_t v : {uint8_t{16}, kQuorumOptionMajority}) {
    RequestOptions one;
    one.write_quorum = v;
    Request w = Req(2, PutRequest{"k", "v", 0}, one);
    Result<Request> back = DecodeReqFrame(EncodeReq(w));
    REQUIRE(back.ok());
    CHECK(back.value() == w);
  }
}

TEST_CASE("wire: the new options decode in any order and with default values", "[unit][wire]") {
  std::string frame = EncodeReq(Req(1, GetRequest{"k"}));
  // count 4, in descending tag order: max_staleness_ms, sequence, client_id, and a timeout
  // sent with its default value.
  std::string body = "\x04"
                     "\x07\x00\x04\x00\x00\x03\xe8"
                     "\x06\x00\x08\x00\x00\x00\x00\x00\x00\x00\x2a"
                     "\x05\x00\x08\xff\xee\xdd\xcc\xbb\xaa\x99\x88"
                     "\x04\x00\x04\x00\x00\x00\x00"
                     "\x00\x00\x00\x01k"s;
  FrameHeader h = WithBodySize(HeaderOf(frame), body.size());
  Result<Request> d = DecodeRequest(h, body);
  REQUIRE(d.ok());
  CHECK(d->options.max_staleness_ms == 1000);
  CHECK(d->options.sequence == 42);
  CHECK(d->options.client_id == 0xffeeddccbbaa9988ull);
  CHECK(d->options.timeout_ms == 0);
  // Zero-valued options mean "absent".
  std::string zeros = "\x03"
                      "\x05\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00"
                      "\x06\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00"
                      "\x07\x00\x04\x00\x00\x00\x00"
                      "\x00\x00\x00\x01k"s;
  Result<Request> z = DecodeRequest(WithBodySize(HeaderOf(frame), zeros.size()), zeros);
  REQUIRE(z.ok());
  CHECK(z->options == RequestOptions{});
  CHECK(ToHex(BodyOf(EncodeReq(z.value()))) == "00" "00000001" "6b");
}

TEST_CASE("wire: ADMIN has no options block and its OK response no session token",
          "[unit][wire]") {
  // Options set on the Request are not encoded: ADMIN is not a data opcode.
  std::string frame =
      EncodeReq(Req(7, AdminRequest{AdminAction::kPromote, 2, "", ""}, AllOptions()));
  FrameHeader h = HeaderOf(frame);
  CHECK(h.opcode == 0x20);
  CHECK(h.flags == 0);
  CHECK(ToHex(BodyOf(frame)) == "01" "0000000000000002" "00000000" "00000000");
  Result<Request> d = DecodeReqFrame(frame);
  REQUIRE(d.ok());
  CHECK(d->options == RequestOptions{});
  CHECK(d->opcode() == Opcode::kAdmin);
  CHECK(std::get<AdminRequest>(d->body) == AdminRequest{AdminAction::kPromote, 2, "", ""});

  // The layout of add_learner: action, node_id, then the two addresses as bytes.
  std::string add =
      EncodeReq(Req(8, AdminRequest{AdminAction::kAddLearner, 4, "c:1", "p:2"}));
  CHECK(ToHex(BodyOf(add)) == "03" "0000000000000004" "00000003" "633a31" "00000003" "703a32");

  // An OK response is status + json; a session token set on the Response is not sent.
  Response ok = Ok(7, Opcode::kAdmin, AdminResponse{"{}"}, "ignored");
  std::string resp = EncodeResp(ok);
  CHECK(ToHex(BodyOf(resp)) == "00" "00000002" "7b7d");
  Result<Response> back = DecodeRespFrame(resp);
  REQUIRE(back.ok());
  CHECK(back->session_token.empty());
  CHECK(std::get<AdminResponse>(back->body).json == "{}");

  // NOT_LEADER on ADMIN has the generic error layout, hint included.
  Response nl = Err(7, Opcode::kAdmin, Code::kNotLeader, "m", ErrorDetail{0, 0, "h:1"});
  CHECK(ToHex(BodyOf(EncodeResp(nl))) == "05" "00000001" "6d" "00000003" "683a31");
}

// The field a decoder must name when an ADMIN request body is cut to n bytes.
std::string AdminFieldAt(const AdminRequest& r, size_t n) {
  const size_t client_end = 1 + 8 + 4 + r.client_address.size();
  if (n < 1) return "action";
  if (n < 9) return "node_id";
  if (n < client_end) return "client_address";
  return "peer_address";
}

TEST_CASE("wire: every truncation of an ADMIN body is a ProtocolError naming the field",
          "[unit][wire]") {
  size_t checked = 0;
  for (const Request& r : AdminRequests()) {
    const auto& admin = std::get<AdminRequest>(r.body);
    std::string frame = EncodeReq(r);
    FrameHeader h = HeaderOf(frame);
    std::string_view body = BodyOf(frame);
    REQUIRE(body.size() == 17 + admin.client_address.size() + admin.peer_address.size());
    for (size_t n = 0; n < body.size(); ++n) {
      INFO(AdminActionName(admin.action) << " request cut to " << n << " of " << body.size());
      Result<Request> d = DecodeRequest(WithBodySize(h, n), body.substr(0, n));
      REQUIRE_FALSE(d.ok());
      CHECK(d.status().code() == Code::kProtocolError);
      CHECK(d.status().message() ==
            "malformed ADMIN request: truncated at field " + AdminFieldAt(admin, n));
      ++checked;
    }
  }
  CHECK(checked > 17 * 7);
  // The OK response: status, then the json length and text.
  std::string resp = EncodeResp(Ok(1, Opcode::kAdmin, AdminResponse{"{\"a\":1}"}));
  std::string_view rbody = BodyOf(resp);
  for (size_t n = 0; n < rbody.size(); ++n) {
    INFO("response cut to " << n);
    Result<Response> d = DecodeResponse(WithBodySize(HeaderOf(resp), n), rbody.substr(0, n));
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().message() == std::string("malformed ADMIN response: truncated at field ") +
                                      (n == 0 ? "status" : "json"));
  }
}

TEST_CASE("wire: unknown ADMIN actions are rejected", "[unit][wire]") {
  std::string frame = EncodeReq(Req(1, AdminRequest{}));
  for (int action = 0; action < 256; ++action) {
    std::string body = std::string(1, static_cast<char>(action)) +
                       "\x00\x00\x00\x00\x00\x00\x00\x01" "\x00\x00\x00\x00" "\x00\x00\x00\x00"s;
    FrameHeader h = WithBodySize(HeaderOf(frame), body.size());
    Result<Request> d = DecodeRequest(h, body);
    INFO("action " << action);
    if (action >= 1 && action <= kMaxAdminAction) {
      REQUIRE(d.ok());
      CHECK(static_cast<int>(std::get<AdminRequest>(d->body).action) == action);
    } else {
      REQUIRE_FALSE(d.ok());
      CHECK(d.status().code() == Code::kProtocolError);
      CHECK(d.status().message() ==
            fmt::format("malformed ADMIN request: unknown admin action {}", action));
    }
  }
  CHECK(kMaxAdminAction == 10);  // 7-10: pause_streams, resume_streams, repair, repair_dry_run (dynamo)
}

TEST_CASE("wire: ADMIN addresses are bounded at 256 bytes", "[unit][wire]") {
  const std::string max(kMaxAdminAddressBytes, '\xff');
  const std::string over(kMaxAdminAddressBytes + 1, 'a');
  Request r = Req(1, AdminRequest{AdminAction::kAddLearner, 9, max, max});
  CHECK(DecodeReqFrame(EncodeReq(r)).value() == r);

  Result<Request> d =
      DecodeReqFrame(EncodeReq(Req(1, AdminRequest{AdminAction::kAddLearner, 9, over, "p"})));
  REQUIRE_FALSE(d.ok());
  CHECK(d.status().code() == Code::kProtocolError);
  CHECK(d.status().message() ==
        "malformed ADMIN request: client_address is 257 bytes; at most 256 allowed");

  d = DecodeReqFrame(EncodeReq(Req(1, AdminRequest{AdminAction::kAddLearner, 9, "c", over})));
  REQUIRE_FALSE(d.ok());
  CHECK(d.status().message() ==
        "malformed ADMIN request: peer_address is 257 bytes; at most 256 allowed");

  // The bound is checked before the length is trusted: a 4 GiB length in a small frame.
  std::string frame = EncodeReq(Req(1, AdminRequest{}));
  std::string body = "\x03" "\x00\x00\x00\x00\x00\x00\x00\x01" "\xff\xff\xff\xff"s;
  CHECK(RequestError(frame, body) ==
        "malformed ADMIN request: client_address is 4294967295 bytes; at most 256 allowed");
  // The bound holds whatever the action: the codec does not know which actions use them.
  d = DecodeReqFrame(EncodeReq(Req(1, AdminRequest{AdminAction::kCompact, 0, "", over})));
  REQUIRE_FALSE(d.ok());
  CHECK(d.status().message() ==
        "malformed ADMIN request: peer_address is 257 bytes; at most 256 allowed");
}

// ---- ValidateRequest ----

Limits TestLimits() { return Limits{1u << 20, 8, 16, 3, 100}; }

std::string Invalid(const RequestBody& body) {
  Status s = ValidateRequest(Req(1, body), TestLimits());
  CHECK(s.code() == Code::kInvalidArgument);
  return s.message();
}

TEST_CASE("wire: ValidateRequest accepts requests at the limits", "[unit][wire]") {
  const std::string key8(8, '\xff');
  const std::string value16(16, '\0');
  for (const RequestBody& body : std::vector<RequestBody>{
           HelloRequest{1, 1, ""}, PingRequest{""}, StatusRequest{}, GetRequest{key8},
           PutRequest{key8, value16, 1}, PutRequest{"k", "", 0}, DeleteRequest{key8},
           CasRequest{CasKind::kPutIfVersion, key8, 0, value16, 1},
           CasRequest{CasKind::kPutIfAbsent, "k", 0, "v", 5},
           CasRequest{CasKind::kDeleteIfVersion, "k", 9, "", 0},
           BatchRequest{{BatchOp{BatchOpType::kCheck, key8, 4, "", 0},
                         BatchOp{BatchOpType::kPut, "k", 0, value16, 7},
                         BatchOp{BatchOpType::kDelete, "k", 0, "", 0}}},
           ScanRequest{}, ScanRequest{key8, key8, "", 100, true, true, "t"},
           ScanRequest{"", "a", "b", 0, false, false, ""}}) {
    Status s = ValidateRequest(Req(1, body), TestLimits());
    CHECK(s.ToString() == "ok");
  }
}

TEST_CASE("wire: ValidateRequest names the field and the limit", "[unit][wire]") {
  const std::string key9(9, 'k');
  const std::string value17(17, 'v');
  CHECK(Invalid(GetRequest{key9}) == "key is 9 bytes; limit is 8 (limits.max_key_bytes)");
  CHECK(Invalid(GetRequest{""}) == "key must not be empty");
  CHECK(Invalid(DeleteRequest{""}) == "key must not be empty");
  CHECK(Invalid(DeleteRequest{key9}) == "key is 9 bytes; limit is 8 (limits.max_key_bytes)");
  CHECK(Invalid(PutRequest{"k", value17, 0}) ==
        "value is 17 bytes; limit is 16 (limits.max_value_bytes)");
  CHECK(Invalid(PutRequest{key9, "", 0}) == "key is 9 bytes; limit is 8 (limits.max_key_bytes)");
  CHECK(Invalid(CasRequest{CasKind::kPutIfVersion, "k", 1, value17, 0}) ==
        "value is 17 bytes; limit is 16 (limits.max_value_bytes)");
  CHECK(Invalid(CasRequest{CasKind::kPutIfAbsent, "k", 1, "v", 0}) ==
        "put-if-absent takes no expected_version (must be 0)");
  CHECK(Invalid(CasRequest{CasKind::kDeleteIfVersion, "k", 1, "v", 0}) ==
        "delete-if-version takes no value and no ttl");
  CHECK(Invalid(CasRequest{CasKind::kDeleteIfVersion, "k", 1, "", 5}) ==
        "delete-if-version takes no value and no ttl");
  CHECK(Invalid(HelloRequest{2, 1, ""}) == "HELLO min_version 2 is above max_version 1");
}

TEST_CASE("wire: ValidateRequest checks batches op by op", "[unit][wire]") {
  auto op = [](BatchOpType t, std::string key, uint64_t expected = 0, std::string value = "",
               uint64_t ttl = 0) {
    return BatchOp{t, std::move(key), expected, std::move(value), ttl};
  };
  CHECK(Invalid(BatchRequest{}) == "batch has no ops");
  CHECK(Invalid(BatchRequest{std::vector<BatchOp>(4, op(BatchOpType::kGet, "k"))}) ==
        "batch has 4 ops; limit is 3 (limits.max_batch_ops)");
  CHECK(Invalid(BatchRequest{{op(BatchOpType::kGet, "k"), op(BatchOpType::kGet, "")}}) ==
        "op 1: key must not be empty");
  CHECK(Invalid(BatchRequest{{op(BatchOpType::kDelete, std::string(9, 'k'))}}) ==
        "op 0: key is 9 bytes; limit is 8 (limits.max_key_bytes)");
  CHECK(Invalid(BatchRequest{{op(BatchOpType::kPut, "k", 0, std::string(17, 'v'))}}) ==
        "op 0: value is 17 bytes; limit is 16 (limits.max_value_bytes)");
  CHECK(Invalid(BatchRequest{{op(BatchOpType::kGet, "k", 0, "v")}}) ==
        "op 0: only put ops take a value or ttl");
  CHECK(Invalid(BatchRequest{{op(BatchOpType::kCheck, "k", 1, "", 5)}}) ==
        "op 0: only put ops take a value or ttl");
  CHECK(Invalid(BatchRequest{{op(BatchOpType::kPut, "k", 3, "v")}}) ==
        "op 0: only check ops take an expected_version");
  CHECK(Invalid(BatchRequest{{op(BatchOpType::kGet, "k", 3)}}) ==
        "op 0: only check ops take an expected_version");
}

TEST_CASE("wire: ValidateRequest checks scan bounds and limit", "[unit][wire]") {
  const std::string long9(9, 'p');
  CHECK(Invalid(ScanRequest{long9, "", "", 0, false, false, ""}) ==
        "prefix is 9 bytes; limit is 8 (limits.max_key_bytes)");
  CHECK(Invalid(ScanRequest{"", long9, "", 0, false, false, ""}) ==
        "start is 9 bytes; limit is 8 (limits.max_key_bytes)");
  CHECK(Invalid(ScanRequest{"", "", long9, 0, false, false, ""}) ==
        "end is 9 bytes; limit is 8 (limits.max_key_bytes)");
  CHECK(Invalid(ScanRequest{"", "", "", 101, false, false, ""}) ==
        "scan limit 101 is above 100 (limits.max_scan_limit)");
  CHECK(Invalid(ScanRequest{"", "b", "a", 0, false, false, ""}) ==
        "scan start must be below end");
  CHECK(Invalid(ScanRequest{"", "a", "a", 0, false, false, ""}) ==
        "scan start must be below end");
  // Bounds compare as unsigned bytes: 0x7f < 0x80.
  CHECK(ValidateRequest(Req(1, ScanRequest{"", "\x7f", "\x80", 0, false, false, ""}),
                        TestLimits())
            .ok());
  CHECK(Invalid(ScanRequest{"", "\x80", "\x7f", 0, false, false, ""}) ==
        "scan start must be below end");
}

TEST_CASE("wire: ValidateRequest: client_id and sequence go together", "[unit][wire]") {
  const std::string message =
      "options client_id and sequence go together: set both (non-zero) or neither";
  for (const RequestBody& body : std::vector<RequestBody>{
           PutRequest{"k", "v", 0}, DeleteRequest{"k"},
           CasRequest{CasKind::kPutIfVersion, "k", 1, "v", 0},
           BatchRequest{{BatchOp{BatchOpType::kPut, "k", 0, "v", 0}}}, GetRequest{"k"},
           ScanRequest{}}) {
    Request only_id = Req(1, body, DedupOptions(5, 0));
    Status s = ValidateRequest(only_id, TestLimits());
    INFO(OpcodeName(only_id.opcode()));
    CHECK(s.code() == Code::kInvalidArgument);
    CHECK(s.message() == message);
    Status t = ValidateRequest(Req(1, body, DedupOptions(0, 5)), TestLimits());
    CHECK(t.code() == Code::kInvalidArgument);
    CHECK(t.message() == message);
    CHECK(ValidateRequest(Req(1, body, DedupOptions(5, 5)), TestLimits()).ok());
    CHECK(ValidateRequest(Req(1, body, DedupOptions(UINT64_MAX, 1)), TestLimits()).ok());
    CHECK(ValidateRequest(Req(1, body), TestLimits()).ok());
  }
  // The pair is checked before the body: a request with both problems names the pair.
  CHECK(ValidateRequest(Req(1, GetRequest{""}, DedupOptions(1, 0)), TestLimits()).message() ==
        message);
  // max_staleness_ms has no companion and no validation rule, whatever the level.
  RequestOptions stale;
  stale.max_staleness_ms = 1;
  CHECK(ValidateRequest(Req(1, GetRequest{"k"}, stale), TestLimits()).ok());
  CHECK(ValidateRequest(Req(1, PutRequest{"k", "v", 0}, stale), TestLimits()).ok());
  CHECK(ValidateRequest(Req(1, GetRequest{"k"}, FollowerRead(UINT32_MAX)), TestLimits()).ok());
}

TEST_CASE("wire: ValidateRequest checks ADMIN node ids and addresses", "[unit][wire]") {
  using A = AdminAction;
  auto admin = [](A action, uint64_t node, std::string client = "", std::string peer = "") {
    return AdminRequest{action, node, std::move(client), std::move(peer)};
  };
  SECTION("accepted") {
    for (const AdminRequest& r : {admin(A::kPromote, 0), admin(A::kPromote, 3),
                                  admin(A::kTransferLeader, 0), admin(A::kTransferLeader, 2),
                                  admin(A::kAddLearner, 4, "10.0.0.4:7400", "10.0.0.4:7500"),
                                  admin(A::kPromoteLearner, 4), admin(A::kRemoveMember, 4),
                                  admin(A::kCompact, 0), admin(A::kCompact, UINT64_MAX)}) {
      INFO(AdminActionName(r.action) << " node " << r.node_id);
      Status s = ValidateRequest(Req(1, r), TestLimits());
      CHECK(s.ToString() == "ok");
    }
  }
  SECTION("membership changes need a node id") {
    CHECK(Invalid(admin(A::kAddLearner, 0, "c", "p")) ==
          "ADMIN add_learner needs a node_id (>= 1)");
    CHECK(Invalid(admin(A::kPromoteLearner, 0)) == "ADMIN promote_learner needs a node_id (>= 1)");
    CHECK(Invalid(admin(A::kRemoveMember, 0)) == "ADMIN remove_member needs a node_id (>= 1)");
    // The node id is checked first.
    CHECK(Invalid(admin(A::kAddLearner, 0)) == "ADMIN add_learner needs a node_id (>= 1)");
  }
  SECTION("add_learner needs both addresses") {
    const std::string m = "ADMIN add_learner needs the new node's client_address and peer_address";
    CHECK(Invalid(admin(A::kAddLearner, 4)) == m);
    CHECK(Invalid(admin(A::kAddLearner, 4, "c", "")) == m);
    CHECK(Invalid(admin(A::kAddLearner, 4, "", "p")) == m);
  }
  SECTION("other actions take no addresses") {
    CHECK(Invalid(admin(A::kPromote, 0, "c", "")) ==
          "ADMIN promote takes no addresses (only add_learner does)");
    CHECK(Invalid(admin(A::kTransferLeader, 2, "", "p")) ==
          "ADMIN transfer_leader takes no addresses (only add_learner does)");
    CHECK(Invalid(admin(A::kPromoteLearner, 4, "c", "p")) ==
          "ADMIN promote_learner takes no addresses (only add_learner does)");
    CHECK(Invalid(admin(A::kRemoveMember, 4, "c", "")) ==
          "ADMIN remove_member takes no addresses (only add_learner does)");
    CHECK(Invalid(admin(A::kCompact, 0, "", "p")) ==
          "ADMIN compact takes no addresses (only add_learner does)");
  }
  SECTION("configurable limits do not apply to ADMIN") {
    // TestLimits allows 8-byte keys; addresses are bounded by the codec (256) only.
    CHECK(ValidateRequest(Req(1, admin(A::kAddLearner, 4, std::string(256, 'c'),
                                       std::string(256, 'p'))),
                          TestLimits())
              .ok());
  }
}

TEST_CASE("wire: admin action names", "[unit][wire]") {
  CHECK(std::string(AdminActionName(AdminAction::kPromote)) == "promote");
  CHECK(std::string(AdminActionName(AdminAction::kTransferLeader)) == "transfer_leader");
  CHECK(std::string(AdminActionName(AdminAction::kAddLearner)) == "add_learner");
  CHECK(std::string(AdminActionName(AdminAction::kPromoteLearner)) == "promote_learner");
  CHECK(std::string(AdminActionName(AdminAction::kRemoveMember)) == "remove_member");
  CHECK(std::string(AdminActionName(AdminAction::kCompact)) == "compact");
  CHECK(std::string(AdminActionName(AdminAction::kPauseStreams)) == "pause_streams");
  CHECK(std::string(AdminActionName(AdminAction::kResumeStreams)) == "resume_streams");
  CHECK(std::string(AdminActionName(static_cast<AdminAction>(0))) == "unknown");
  CHECK(static_cast<uint8_t>(AdminAction::kPromote) == 1);
  CHECK(static_cast<uint8_t>(AdminAction::kCompact) == 6);
}

// ---- opcode helpers ----

TEST_CASE("wire: opcode helpers agree with the opcode table", "[unit][wire]") {
  int known = 0;
  for (int op = 0; op < 256; ++op) {
    if (IsKnownOpcode(static_cast<uint8_t>(op))) ++known;
  }
  CHECK(known == 15);
  struct Row {
    Opcode op;
    uint8_t value;
    const char* name;
    bool data;
  };
  for (const Row& r : {Row{Opcode::kHello, 0x01, "HELLO", false},
                       Row{Opcode::kPing, 0x02, "PING", false},
                       Row{Opcode::kStatus, 0x03, "STATUS", false},
                       Row{Opcode::kGet, 0x10, "GET", true}, Row{Opcode::kPut, 0x11, "PUT", true},
                       Row{Opcode::kDelete, 0x12, "DELETE", true},
                       Row{Opcode::kCas, 0x13, "CAS", true},
                       Row{Opcode::kBatch, 0x14, "BATCH", true},
                       Row{Opcode::kScan, 0x15, "SCAN", true},
                       Row{Opcode::kGets, 0x16, "GETS", true},
                       Row{Opcode::kIncr, 0x17, "INCR", true},
                       Row{Opcode::kSadd, 0x18, "SADD", true},
                       Row{Opcode::kSrem, 0x19, "SREM", true},
                       Row{Opcode::kSmembers, 0x1a, "SMEMBERS", true},
                       Row{Opcode::kAdmin, 0x20, "ADMIN", false}}) {
    INFO(r.name);
    CHECK(static_cast<uint8_t>(r.op) == r.value);
    CHECK(IsKnownOpcode(r.value));
    CHECK(std::string(OpcodeName(r.op)) == r.name);
    CHECK(IsDataOpcode(r.op) == r.data);
  }
  CHECK(std::string(OpcodeName(static_cast<Opcode>(0x7f))) == "UNKNOWN");
  CHECK(Req(1, ScanRequest{}).opcode() == Opcode::kScan);
  CHECK(Req(1, HelloRequest{}).opcode() == Opcode::kHello);
  CHECK(Req(1, AdminRequest{}).opcode() == Opcode::kAdmin);
  CHECK(Req(1, GetsRequest{}).opcode() == Opcode::kGets);
  CHECK(Req(1, IncrRequest{}).opcode() == Opcode::kIncr);
  CHECK(Req(1, SaddRequest{}).opcode() == Opcode::kSadd);
  CHECK(Req(1, SremRequest{}).opcode() == Opcode::kSrem);
  CHECK(Req(1, SmembersRequest{}).opcode() == Opcode::kSmembers);
}

TEST_CASE("wire: Response::Error and ToStatus", "[unit][wire]") {
  Response r = Response::Error(5, Opcode::kPut, Status::Timeout("slow disk"));
  CHECK(r.request_id == 5);
  CHECK(r.opcode == Opcode::kPut);
  CHECK(r.status == Code::kTimeout);
  CHECK(r.message == "slow disk");
  CHECK_FALSE(r.ok());
  CHECK(r.ToStatus() == Status::Timeout("slow disk"));
  CHECK(std::holds_alternative<std::monostate>(r.body));
  CHECK(Ok(1, Opcode::kPing, PingResponse{}).ToStatus().ok());
}

// ---- randomized mutation ----

// Applies one random mutation to a copy of `frame`.
std::string Mutate(const std::string& frame, std::mt19937_64& rng) {
  std::string f = frame;
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  // A frame already cut below its header can only grow or shrink further.
  size_t kind = f.size() < kFrameHeaderBytes ? 2 + pick(2) : pick(7);
  if (f.empty()) kind = 3;
  switch (kind) {
    case 0: {  // flip 1..4 random bits
      size_t flips = 1 + pick(4);
      for (size_t i = 0; i < flips; ++i) {
        size_t at = pick(f.size());
        f[at] = static_cast<char>(static_cast<uint8_t>(f[at]) ^ (1u << pick(8)));
      }
      break;
    }
    case 1: {  // overwrite a random byte in the body with an interesting value
      static constexpr uint8_t kValues[] = {0x00, 0x01, 0x02, 0x7f, 0x80, 0xfe, 0xff};
      size_t at = kFrameHeaderBytes + pick(f.size() - kFrameHeaderBytes + 1);
      if (at < f.size()) f[at] = static_cast<char>(kValues[pick(std::size(kValues))]);
      break;
    }
    case 2:  // truncate, keeping the length field as is (a short read)
      f.resize(pick(f.size()));
      break;
    case 3: {  // extend with random bytes
      size_t extra = 1 + pick(32);
      for (size_t i = 0; i < extra; ++i) f.push_back(static_cast<char>(rng()));
      break;
    }
    case 4: {  // truncate the body and fix up the length field to match
      if (f.size() > kFrameHeaderBytes) {
        f.resize(kFrameHeaderBytes + pick(f.size() - kFrameHeaderBytes));
        PutU32BE(f.data(), static_cast<uint32_t>(f.size() - 4));
      }
      break;
    }
    case 5: {  // extend and fix up the length field: trailing bytes
      size_t extra = 1 + pick(8);
      for (size_t i = 0; i < extra; ++i) f.push_back(static_cast<char>(rng()));
      PutU32BE(f.data(), static_cast<uint32_t>(f.size() - 4));
      break;
    }
    default: {  // overwrite a 4-byte window with a large number (lengths, counts)
      if (f.size() >= kFrameHeaderBytes + 4) {
        size_t at = kFrameHeaderBytes + pick(f.size() - kFrameHeaderBytes - 3);
        static constexpr uint32_t kBig[] = {0xffffffffu, 0x7fffffffu, 0x00010000u, 0x01000000u};
        PutU32BE(f.data() + at, kBig[pick(std::size(kBig))]);
      }
      break;
    }
  }
  return f;
}

// Feeds `bytes` to the decoders as a receiver would; returns false if any decoder returned
// a code other than OK or kProtocolError, or if a decoded message does not survive
// re-encoding.
bool DecodeLikeAReceiver(const std::string& bytes, int* decoded_ok) {
  if (bytes.size() < kFrameHeaderBytes) return true;  // the receiver waits for more
  FrameHeader h;
  Status hs = DecodeFrameHeader(bytes, 1u << 20, &h);
  if (!hs.ok()) return hs.code() == Code::kProtocolError;
  if (h.frame_bytes() > bytes.size()) return true;  // the receiver waits for more
  std::string_view body = std::string_view(bytes).substr(kFrameHeaderBytes, h.body_bytes());
  Result<Request> req = DecodeRequest(h, body);
  if (req.ok()) {
    ++*decoded_ok;
    // A decoded request re-encodes to a frame that decodes to the same request (the bytes
    // may differ: options may have come in another order or with default values).
    std::string again;
    EncodeRequest(req.value(), &again);
    FrameHeader h2;
    if (!DecodeFrameHeader(again, kMaxFrameBytesCeiling, &h2).ok()) return false;
    Result<Request> req2 =
        DecodeRequest(h2, std::string_view(again).substr(kFrameHeaderBytes));
    if (!req2.ok() || !(req2.value() == req.value())) return false;
  } else if (req.status().code() != Code::kProtocolError) {
    return false;
  }
  Result<Response> resp = DecodeResponse(h, body);
  if (resp.ok()) {
    ++*decoded_ok;
    std::string again;
    EncodeResponse(resp.value(), &again);
    if (again != bytes.substr(0, h.frame_bytes())) return false;  // responses are canonical
  } else if (resp.status().code() != Code::kProtocolError) {
    return false;
  }
  return true;
}

TEST_CASE("wire: random mutations of valid frames never crash the decoder",
          "[unit][wire][fuzz]") {
  constexpr uint64_t kSeed = 0x6b76645f77697265ull;  // "kvd_wire"
  constexpr int kIterations = 20000;
  std::mt19937_64 rng(kSeed);
  std::vector<std::string> corpus = FrameCorpus();
  int decoded_ok = 0;
  for (int i = 0; i < kIterations; ++i) {
    const std::string& base = corpus[static_cast<size_t>(rng() % corpus.size())];
    std::string mutated = Mutate(base, rng);
    // Chain a second mutation now and then, to reach deeper states.
    if (rng() % 4 == 0 && !mutated.empty()) mutated = Mutate(mutated, rng);
    bool ok = DecodeLikeAReceiver(mutated, &decoded_ok);
    if (!ok) {
      FAIL("seed 0x" << std::hex << kSeed << std::dec << " iteration " << i << ": frame "
                     << ToHex(mutated));
    }
  }
  // Some mutations (e.g. a flipped bit in a value) leave a valid frame; most do not. Both
  // paths must have been exercised.
  CHECK(decoded_ok > 100);
  CHECK(decoded_ok < kIterations);
}

}  // namespace
}  // namespace kvd::wire
