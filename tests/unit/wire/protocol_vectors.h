// The messages behind the test vectors of docs/PROTOCOL.md ("Test vectors").
//
// Each entry names one vector in the document (`<!-- vector: NAME -->`) and holds the
// C++ request or response it encodes. protocol_vectors_test.cc checks, byte for byte,
// that the encoder produces the document's hex and that decoding the hex gives back the
// message. When a vector is added to the document it must be added here, and the other
// way round; the test fails on any name present on one side only.
//
// Thread-safety: ProtocolVectors() builds a fresh value on every call.
#pragma once

#include <initializer_list>
#include <map>
#include <string>
#include <utility>
#include <variant>

#include "common/bytes.h"
#include "common/wire/messages.h"

namespace kvd::wire::testing {

using VectorMessage = std::variant<Request, Response>;

// The 8-byte session token the single topology sends: the big-endian store revision.
// (The leader_follower topology's tokens have the same shape, holding a log index.)
inline std::string RevisionToken(uint64_t revision) {
  std::string token(8, '\0');
  PutU64BE(token.data(), revision);
  return token;
}

// A multi_leader session token or causal context: a version vector, encoded as a u16 count
// then, per entry, u64 node id and u64 count, node ids increasing. Clients treat it as
// opaque; the vectors spell it out so that the document can show what it holds.
inline std::string VersionVectorBytes(
    std::initializer_list<std::pair<uint64_t, uint64_t>> entries) {
  std::string out;
  ByteWriter w(&out);
  w.U16(static_cast<uint16_t>(entries.size()));
  for (const auto& [node, count] : entries) {
    w.U64(node);
    w.U64(count);
  }
  return out;
}

// A multi_leader timestamp (and version): a hybrid logical clock value, wall milliseconds
// in the high 48 bits and a logical counter in the low 16.
inline constexpr uint64_t Hlc(uint64_t wall_ms, uint64_t logical) {
  return (wall_ms << 16) | logical;
}

inline Request MakeRequest(uint64_t request_id, RequestBody body, RequestOptions options = {}) {
  Request r;
  r.request_id = request_id;
  r.options = std::move(options);
  r.body = std::move(body);
  return r;
}

inline Response MakeOk(uint64_t request_id, Opcode opcode, ResponseBody body,
                       std::string session_token = {}) {
  Response r;
  r.request_id = request_id;
  r.opcode = opcode;
  r.session_token = std::move(session_token);
  r.body = std::move(body);
  return r;
}

inline Response MakeError(uint64_t request_id, Opcode opcode, Code code, std::string message,
                          ErrorDetail detail = {}) {
  Response r = Response::Error(request_id, opcode, Status(code, std::move(message)));
  r.detail = std::move(detail);
  return r;
}

// Vector name -> message. Ordered by name so that failures list deterministically.
inline std::map<std::string, VectorMessage> ProtocolVectors() {
  using namespace std::string_literals;
  std::map<std::string, VectorMessage> v;

  v["hello-request"] = MakeRequest(1, HelloRequest{1, 1, "kvctl/0.1.0"});
  v["hello-response"] = MakeOk(
      1, Opcode::kHello,
      HelloResponse{1, "0.1.0", "single", 1, Limits{8u << 20, 4096, 1u << 20, 1000, 10000}});

  v["ping-request"] = MakeRequest(2, PingRequest{"ping"});
  v["ping-response"] = MakeOk(2, Opcode::kPing, PingResponse{"ping"});

  v["status-request"] = MakeRequest(3, StatusRequest{});
  v["status-response"] = MakeOk(
      3, Opcode::kStatus,
      StatusResponse{R"({"node_id":1,"mode":"single","version":"0.1.0","uptime_seconds":12,)"
                     R"("revision":46,"connections":1,"durability":"always",)"
                     R"("engine":"leveldb","keys_approximate":3})"});

  v["get-request"] = MakeRequest(4, GetRequest{"user:42"});
  v["get-response-not-found"] =
      MakeError(4, Opcode::kGet, Code::kNotFound, "key not found");

  RequestOptions read_options;
  read_options.consistency = Consistency::kSession;
  read_options.session_token = RevisionToken(41);
  read_options.timeout_ms = 2500;
  v["get-request-options"] = MakeRequest(5, GetRequest{"user:42"}, read_options);
  v["get-response"] =
      MakeOk(5, Opcode::kGet, GetResponse{41, 0, "Ada"}, RevisionToken(42));

  RequestOptions durable;
  durable.durability = Durability::kAlways;
  // A binary value: NUL, 0x01 and 0xff bytes travel unchanged.
  v["put-request-ttl"] =
      MakeRequest(6, PutRequest{"session:9f", "\x00\x01\xff"s, 60000}, durable);
  v["put-response"] = MakeOk(6, Opcode::kPut, PutResponse{43}, RevisionToken(43));

  v["delete-request"] = MakeRequest(7, DeleteRequest{"user:42"});
  v["delete-response"] = MakeOk(7, Opcode::kDelete, DeleteResponse{true}, RevisionToken(44));

  v["cas-request-put-if-version"] =
      MakeRequest(8, CasRequest{CasKind::kPutIfVersion, "counter", 43, "8", 0});
  v["cas-response"] = MakeOk(8, Opcode::kCas, CasResponse{45}, RevisionToken(45));
  v["cas-response-conflict"] =
      MakeError(8, Opcode::kCas, Code::kConflict, "key is at version 44; expected version 43",
                ErrorDetail{0, 44, ""});

  v["batch-request"] = MakeRequest(
      9, BatchRequest{{BatchOp{BatchOpType::kCheck, "a", 10, "", 0},
                       BatchOp{BatchOpType::kPut, "b", 0, "2", 0},
                       BatchOp{BatchOpType::kDelete, "c", 0, "", 0},
                       BatchOp{BatchOpType::kGet, "b", 0, "", 0}}});
  v["batch-response"] =
      MakeOk(9, Opcode::kBatch,
             BatchResponse{{BatchResult{BatchOpType::kCheck, true, 10, 0, ""},
                            BatchResult{BatchOpType::kPut, true, 46, 0, ""},
                            BatchResult{BatchOpType::kDelete, true, 0, 0, ""},
                            BatchResult{BatchOpType::kGet, true, 46, 0, "2"}}},
             RevisionToken(46));
  v["batch-response-conflict"] =
      MakeError(9, Opcode::kBatch, Code::kConflict,
                "op 0 (check): key is at version 12; expected 10", ErrorDetail{0, 12, ""});

  // The second page of a reverse, keys-only scan of the prefix "user:"; the token is the
  // one the server returned with the first page (opaque to clients).
  v["scan-request"] = MakeRequest(
      10, ScanRequest{"user:", "", "", 2, true, true, "\x01\x01user:8"s});
  v["scan-response"] = MakeOk(
      10, Opcode::kScan,
      ScanResponse{{ScanItem{"user:7", 30, 0, ""}, ScanItem{"user:5", 12, 1767225600000, ""}},
                   "\x01\x01user:5"s},
      RevisionToken(46));

  v["not-leader-response"] =
      MakeError(11, Opcode::kPut, Code::kNotLeader, "this node is a follower",
                ErrorDetail{0, 0, "10.0.0.2:7400"});
  v["invalid-argument-response"] =
      MakeError(12, Opcode::kPut, Code::kInvalidArgument,
                "key is 5000 bytes; limit is 4096 (limits.max_key_bytes)");
  // The answer to a frame with the unknown opcode 0x7f: the raw opcode is echoed.
  v["protocol-error-response"] = MakeError(13, static_cast<Opcode>(0x7f), Code::kProtocolError,
                                           "unknown opcode 0x7f");

  // The second conversation: node 2 of a three-node leader_follower cluster. Session
  // tokens there are Raft log indexes (8 bytes, big-endian), not store revisions.
  v["hello-response-leader-follower"] =
      MakeOk(14, Opcode::kHello,
             HelloResponse{1, "0.1.0", "leader_follower", 2,
                           Limits{8u << 20, 4096, 1u << 20, 1000, 10000}});

  v["admin-request-promote"] = MakeRequest(15, AdminRequest{AdminAction::kPromote, 2, "", ""});
  v["admin-response-promote"] =
      MakeOk(15, Opcode::kAdmin,
             AdminResponse{R"({"node_id":2,"term":5,"message":"election started"})"});

  RequestOptions dedup;
  dedup.client_id = 0x5d1f0c3a9b7e4f21;
  dedup.sequence = 7;
  v["put-request-dedup"] = MakeRequest(16, PutRequest{"user:42", "Grace", 0}, dedup);
  v["put-response-leader-follower"] =
      MakeOk(16, Opcode::kPut, PutResponse{23}, RevisionToken(57));  // log index 57

  RequestOptions bounded;
  bounded.consistency = Consistency::kFollower;
  bounded.max_staleness_ms = 500;
  v["get-request-follower"] = MakeRequest(17, GetRequest{"user:42"}, bounded);

  v["admin-request-add-learner"] = MakeRequest(
      18, AdminRequest{AdminAction::kAddLearner, 4, "10.0.0.4:7400", "10.0.0.4:7500"});
  v["admin-response-add-learner"] =
      MakeOk(18, Opcode::kAdmin,
             AdminResponse{R"({"index":58,"membership":"voters=[1,2,3] learners=[4]"})"});
  // What node 3, a follower, answers to the same add_learner request.
  v["admin-response-not-leader"] = MakeError(
      18, Opcode::kAdmin, Code::kNotLeader,
      "membership changes are made by the leader; the leader is node 2 at 10.0.0.2:7400",
      ErrorDetail{0, 0, "10.0.0.2:7400"});

  // The third conversation: node 1 of a three-node multi_leader cluster configured like
  // config/multi-leader-3.yaml ("cart/" keys keep siblings, "count/" keys are counters,
  // "tags/" keys are sets). Session tokens there are the node's progress, a version vector
  // of the changes it has applied per origin: here node 1's own 12 and node 2's first 9.
  v["hello-response-multi-leader"] =
      MakeOk(19, Opcode::kHello,
             HelloResponse{1, "0.1.0", "multi_leader", 1,
                           Limits{8u << 20, 4096, 1u << 20, 1000, 10000}});

  // Nodes 1 and 2 each wrote "cart/7" without having seen the other's write.
  v["get-response-siblings"] = MakeError(
      20, Opcode::kGet, Code::kConflict,
      "key 'cart/7' has 2 siblings (concurrent writes): GETS returns them all, with the "
      "context to write the resolved value",
      ErrorDetail{0, 0, ""});
  v["gets-request"] = MakeRequest(21, GetsRequest{"cart/7"});
  // The key's causal context: node 1's writes 1..2 and node 2's write 1 of this key. The
  // siblings are node 1's second write and node 2's first.
  const std::string cart_context = VersionVectorBytes({{1, 2}, {2, 1}});
  v["gets-response"] = MakeOk(
      21, Opcode::kGets,
      GetsResponse{cart_context, {Sibling{Hlc(1767225600123, 0), "milk"},
                                  Sibling{Hlc(1767225600118, 1), "eggs"}}},
      VersionVectorBytes({{1, 12}, {2, 9}}));

  RequestOptions resolve;
  resolve.context = cart_context;
  v["put-request-context"] = MakeRequest(22, PutRequest{"cart/7", "milk,eggs", 0}, resolve);
  v["put-response-multi-leader"] = MakeOk(22, Opcode::kPut, PutResponse{Hlc(1767225660000, 0)},
                                          VersionVectorBytes({{1, 13}, {2, 9}}));

  v["incr-request"] = MakeRequest(23, IncrRequest{"count/visits", -3});
  v["incr-response"] =
      MakeOk(23, Opcode::kIncr, IncrResponse{39}, VersionVectorBytes({{1, 14}, {2, 9}}));

  v["sadd-request"] = MakeRequest(24, SaddRequest{"tags/42", "blue"});
  v["sadd-response"] =
      MakeOk(24, Opcode::kSadd, SetOpResponse{false}, VersionVectorBytes({{1, 15}, {2, 9}}));
  v["srem-request"] = MakeRequest(25, SremRequest{"tags/42", "red"});
  v["srem-response"] =
      MakeOk(25, Opcode::kSrem, SetOpResponse{true}, VersionVectorBytes({{1, 16}, {2, 9}}));
  v["smembers-request"] = MakeRequest(26, SmembersRequest{"tags/42"});
  // Node 2's 10th change has arrived meanwhile.
  v["smembers-response"] = MakeOk(26, Opcode::kSmembers, SmembersResponse{{"blue", "green"}},
                                  VersionVectorBytes({{1, 16}, {2, 10}}));
  return v;
}

}  // namespace kvd::wire::testing
