#include "common/wire/codec.h"

#include <fmt/format.h>

#include "common/bytes.h"

namespace kvd::wire {

namespace {

// Request option tags (docs/PROTOCOL.md, "Request options").
constexpr uint8_t kOptConsistency = 1;
constexpr uint8_t kOptDurability = 2;
constexpr uint8_t kOptSessionToken = 3;
constexpr uint8_t kOptTimeoutMs = 4;
constexpr uint8_t kOptClientId = 5;
constexpr uint8_t kOptSequence = 6;
constexpr uint8_t kOptMaxStalenessMs = 7;
constexpr uint8_t kOptContext = 8;
constexpr uint8_t kOptReadQuorum = 9;
constexpr uint8_t kOptWriteQuorum = 10;

bool ValidQuorumOption(uint8_t v) {
  return (v >= 1 && v <= 16) || v == kQuorumOptionMajority || v == kQuorumOptionAll;
}

void EncodeOptions(const RequestOptions& o, ByteWriter& w) {
  uint8_t count = 0;
  if (o.consistency != Consistency::kDefault) ++count;
  if (o.durability != Durability::kDefault) ++count;
  if (!o.session_token.empty()) ++count;
  if (o.timeout_ms != 0) ++count;
  if (o.client_id != 0) ++count;
  if (o.sequence != 0) ++count;
  if (o.max_staleness_ms != 0) ++count;
  if (!o.context.empty()) ++count;
  if (o.read_quorum != 0) ++count;
  if (o.write_quorum != 0) ++count;
  w.U8(count);
  // Tags are written in ascending order so that encodings are canonical.
  if (o.consistency != Consistency::kDefault) {
    w.U8(kOptConsistency);
    w.U16(1);
    w.U8(static_cast<uint8_t>(o.consistency));
  }
  if (o.durability != Durability::kDefault) {
    w.U8(kOptDurability);
    w.U16(1);
    w.U8(static_cast<uint8_t>(o.durability));
  }
  if (!o.session_token.empty()) {
    KVD_ASSERT(o.session_token.size() <= kMaxSessionTokenBytes);
    w.U8(kOptSessionToken);
    w.U16(static_cast<uint16_t>(o.session_token.size()));
    w.Raw(o.session_token);
  }
  if (o.timeout_ms != 0) {
    w.U8(kOptTimeoutMs);
    w.U16(4);
    w.U32(o.timeout_ms);
  }
  if (o.client_id != 0) {
    w.U8(kOptClientId);
    w.U16(8);
    w.U64(o.client_id);
  }
  if (o.sequence != 0) {
    w.U8(kOptSequence);
    w.U16(8);
    w.U64(o.sequence);
  }
  if (o.max_staleness_ms != 0) {
    w.U8(kOptMaxStalenessMs);
    w.U16(4);
    w.U32(o.max_staleness_ms);
  }
  if (!o.context.empty()) {
    KVD_ASSERT(o.context.size() <= kMaxContextBytes);
    w.U8(kOptContext);
    w.U16(static_cast<uint16_t>(o.context.size()));
    w.Raw(o.context);
  }
  if (o.read_quorum != 0) {
    w.U8(kOptReadQuorum);
    w.U16(1);
    w.U8(o.read_quorum);
  }
  if (o.write_quorum != 0) {
    w.U8(kOptWriteQuorum);
    w.U16(1);
    w.U8(o.write_quorum);
  }
}

struct RequestEncoder {
  ByteWriter& w;
  void operator()(const HelloRequest& r) const {
    w.U16(r.min_version);
    w.U16(r.max_version);
    w.Bytes(r.client_name);
  }
  void operator()(const PingRequest& r) const { w.Bytes(r.payload); }
  void operator()(const StatusRequest&) const {}
  void operator()(const GetRequest& r) const { w.Bytes(r.key); }
  void operator()(const PutRequest& r) const {
    w.Bytes(r.key);
    w.Bytes(r.value);
    w.U64(r.ttl_ms);
  }
  void operator()(const DeleteRequest& r) const { w.Bytes(r.key); }
  void operator()(const CasRequest& r) const {
    w.U8(static_cast<uint8_t>(r.kind));
    w.Bytes(r.key);
    w.U64(r.expected_version);
    w.Bytes(r.value);
    w.U64(r.ttl_ms);
  }
  void operator()(const BatchRequest& r) const {
    w.U32(static_cast<uint32_t>(r.ops.size()));
    for (const BatchOp& op : r.ops) {
      w.U8(static_cast<uint8_t>(op.type));
      w.Bytes(op.key);
      w.U64(op.expected_version);
      w.Bytes(op.value);
      w.U64(op.ttl_ms);
    }
  }
  void operator()(const ScanRequest& r) const {
    w.Bytes(r.prefix);
    w.Bytes(r.start);
    w.Bytes(r.end);
    w.U32(r.limit);
    uint8_t flags = 0;
    if (r.reverse) flags |= kScanFlagReverse;
    if (r.keys_only) flags |= kScanFlagKeysOnly;
    w.U8(flags);
    w.Bytes(r.continuation);
  }
  void operator()(const AdminRequest& r) const {
    w.U8(static_cast<uint8_t>(r.action));
    w.U64(r.node_id);
    w.Bytes(r.client_address);
    w.Bytes(r.peer_address);
  }
  void operator()(const GetsRequest& r) const { w.Bytes(r.key); }
  void operator()(const IncrRequest& r) const {
    w.Bytes(r.key);
    w.U64(static_cast<uint64_t>(r.amount));
  }
  void operator()(const SaddRequest& r) const {
    w.Bytes(r.key);
    w.Bytes(r.element);
  }
  void operator()(const SremRequest& r) const {
    w.Bytes(r.key);
    w.Bytes(r.element);
  }
  void operator()(const SmembersRequest& r) const { w.Bytes(r.key); }
};

struct ResponseEncoder {
  ByteWriter& w;
  void operator()(const std::monostate&) const {}
  void operator()(const HelloResponse& r) const {
    w.U16(r.version);
    w.Bytes(r.server_version);
    w.Bytes(r.mode);
    w.U64(r.node_id);
    w.U32(r.limits.max_frame_bytes);
    w.U32(r.limits.max_key_bytes);
    w.U32(r.limits.max_value_bytes);
    w.U32(r.limits.max_batch_ops);
    w.U32(r.limits.max_scan_limit);
  }
  void operator()(const PingResponse& r) const { w.Bytes(r.payload); }
  void operator()(const StatusResponse& r) const { w.Bytes(r.json); }
  void operator()(const AdminResponse& r) const { w.Bytes(r.json); }
  void operator()(const GetResponse& r) const {
    w.U64(r.version);
    w.U64(r.expires_at_ms);
    w.Bytes(r.value);
  }
  void operator()(const PutResponse& r) const { w.U64(r.version); }
  void operator()(const DeleteResponse& r) const { w.U8(r.existed ? 1 : 0); }
  void operator()(const CasResponse& r) const { w.U64(r.version); }
  void operator()(const BatchResponse& r) const {
    w.U32(static_cast<uint32_t>(r.results.size()));
    for (const BatchResult& b : r.results) {
      w.U8(static_cast<uint8_t>(b.type));
      w.U8(b.found ? 1 : 0);
      w.U64(b.version);
      w.U64(b.expires_at_ms);
      w.Bytes(b.value);
    }
  }
  void operator()(const ScanResponse& r) const {
    w.U32(static_cast<uint32_t>(r.items.size()));
    for (const ScanItem& item : r.items) {
      w.Bytes(item.key);
      w.U64(item.version);
      w.U64(item.expires_at_ms);
      w.Bytes(item.value);
    }
    w.Bytes(r.continuation);
  }
  void operator()(const GetsResponse& r) const {
    w.Bytes(r.context);
    w.U32(static_cast<uint32_t>(r.siblings.size()));
    for (const Sibling& s : r.siblings) {
      w.U64(s.timestamp);
      w.Bytes(s.value);
    }
  }
  void operator()(const IncrResponse& r) const { w.U64(static_cast<uint64_t>(r.value)); }
  void operator()(const SetOpResponse& r) const { w.U8(r.existed ? 1 : 0); }
  void operator()(const SmembersResponse& r) const {
    w.U32(static_cast<uint32_t>(r.members.size()));
    for (const std::string& m : r.members) w.Bytes(m);
  }
};

// Reads fields from a body and records the first failure with the field's name, so
// that every decode error names what was wrong.
class FieldReader {
 public:
  FieldReader(std::string_view body, Opcode op, bool response)
      : r_(body), op_(op), response_(response) {}

  bool U8(const char* field, uint8_t* v) { return Check(field, r_.U8(v)); }
  bool U16(const char* field, uint16_t* v) { return Check(field, r_.U16(v)); }
  bool U32(const char* field, uint32_t* v) { return Check(field, r_.U32(v)); }
  bool U64(const char* field, uint64_t* v) { return Check(field, r_.U64(v)); }
  bool Bool(const char* field, bool* v) {
    uint8_t b = 0;
    if (!U8(field, &b)) return false;
    if (b > 1) return Fail(fmt::format("{} must be 0 or 1, got {}", field, b));
    *v = b == 1;
    return true;
  }
  bool Bytes(const char* field, std::string* v, uint32_t max_len = UINT32_MAX) {
    uint32_t len = 0;
    if (!Check(field, r_.U32(&len))) return false;
    if (len > max_len) {
      return Fail(fmt::format("{} is {} bytes; at most {} allowed", field, len, max_len));
    }
    std::string_view view;
    if (!Check(field, r_.Raw(len, &view))) return false;
    v->assign(view.data(), view.size());
    return true;
  }
  bool Raw(const char* field, size_t n, std::string_view* v) { return Check(field, r_.Raw(n, v)); }

  bool Fail(std::string what) {
    if (error_.empty()) error_ = std::move(what);
    return false;
  }
  // Call after the last field: trailing bytes are an error.
  bool Finish() {
    if (!error_.empty()) return false;
    if (r_.remaining() != 0) {
      return Fail(fmt::format("{} unexpected trailing bytes", r_.remaining()));
    }
    return true;
  }
  Status ToStatus() const {
    return Status::ProtocolError(fmt::format("malformed {} {}: {}", OpcodeName(op_),
                                             response_ ? "response" : "request", error_));
  }
  size_t remaining() const { return r_.remaining(); }

 private:
  bool Check(const char* field, bool ok) {
    if (!ok) Fail(fmt::format("truncated at field {}", field));
    return ok;
  }

  ByteReader r_;
  Opcode op_;
  bool response_;
  std::string error_;
};

bool DecodeOptions(FieldReader& f, RequestOptions* o) {
  uint8_t count = 0;
  if (!f.U8("options.count", &count)) return false;
  if (count > kMaxRequestOptions) {
    return f.Fail(fmt::format("options.count is {}; at most {}", count, kMaxRequestOptions));
  }
  uint32_t seen = 0;
  for (uint8_t i = 0; i < count; ++i) {
    uint8_t tag = 0;
    uint16_t len = 0;
    if (!f.U8("options.tag", &tag) || !f.U16("options.length", &len)) return false;
    if (tag >= 1 && tag <= 31) {
      uint32_t bit = 1u << tag;
      if (seen & bit) return f.Fail(fmt::format("option tag {} appears twice", tag));
      seen |= bit;
    }
    std::string_view value;
    if (!f.Raw("options.value", len, &value)) return false;
    ByteReader v(value);
    uint8_t b = 0;
    switch (tag) {
      case kOptConsistency:
        if (len != 1 || !v.U8(&b)) return f.Fail("option consistency must be 1 byte");
        if (b > kMaxConsistency) return f.Fail(fmt::format("unknown consistency level {}", b));
        o->consistency = static_cast<Consistency>(b);
        break;
      case kOptDurability:
        if (len != 1 || !v.U8(&b)) return f.Fail("option durability must be 1 byte");
        if (b > kMaxDurability) return f.Fail(fmt::format("unknown durability mode {}", b));
        o->durability = static_cast<Durability>(b);
        break;
      case kOptSessionToken:
        if (len == 0 || len > kMaxSessionTokenBytes) {
          return f.Fail(fmt::format("option session_token must be 1..{} bytes, got {}",
                                    kMaxSessionTokenBytes, len));
        }
        o->session_token.assign(value.data(), value.size());
        break;
      case kOptTimeoutMs:
        if (len != 4 || !v.U32(&o->timeout_ms)) return f.Fail("option timeout_ms must be 4 bytes");
        break;
      case kOptClientId:
        if (len != 8 || !v.U64(&o->client_id)) return f.Fail("option client_id must be 8 bytes");
        break;
      case kOptSequence:
        if (len != 8 || !v.U64(&o->sequence)) return f.Fail("option sequence must be 8 bytes");
        break;
      case kOptMaxStalenessMs:
        if (len != 4 || !v.U32(&o->max_staleness_ms)) {
          return f.Fail("option max_staleness_ms must be 4 bytes");
        }
        break;
      case kOptContext:
        if (len == 0 || len > kMaxContextBytes) {
          return f.Fail(fmt::format("option context must be 1..{} bytes, got {}",
                                    kMaxContextBytes, len));
        }
        o->context.assign(value.data(), value.size());
        break;
      case kOptReadQuorum:
      case kOptWriteQuorum: {
        const char* name = tag == kOptReadQuorum ? "read_quorum" : "write_quorum";
        if (len != 1 || !v.U8(&b)) return f.Fail(fmt::format("option {} must be 1 byte", name));
        if (b != 0 && !ValidQuorumOption(b)) {
          return f.Fail(fmt::format("option {} is {}; expected 1..16, 254 (quorum) or 255 (all)",
                                    name, b));
        }
        (tag == kOptReadQuorum ? o->read_quorum : o->write_quorum) = b;
        break;
      }
      default:
        return f.Fail(fmt::format("unknown option tag {}", tag));
    }
  }
  return true;
}

bool DecodeCasKind(FieldReader& f, CasKind* kind) {
  uint8_t k = 0;
  if (!f.U8("kind", &k)) return false;
  if (k < 1 || k > 3) return f.Fail(fmt::format("unknown CAS kind {}", k));
  *kind = static_cast<CasKind>(k);
  return true;
}

bool DecodeBatchOpType(FieldReader& f, BatchOpType* type) {
  uint8_t t = 0;
  if (!f.U8("op.type", &t)) return false;
  if (t < 1 || t > 4) return f.Fail(fmt::format("unknown batch op type {}", t));
  *type = static_cast<BatchOpType>(t);
  return true;
}

bool DecodeRequestBody(FieldReader& f, Opcode op, RequestBody* body) {
  switch (op) {
    case Opcode::kHello: {
      HelloRequest r;
      if (!f.U16("min_version", &r.min_version) || !f.U16("max_version", &r.max_version) ||
          !f.Bytes("client_name", &r.client_name, kMaxClientNameBytes)) {
        return false;
      }
      *body = std::move(r);
      return true;
    }
    case Opcode::kPing: {
      PingRequest r;
      if (!f.Bytes("payload", &r.payload, kMaxPingPayloadBytes)) return false;
      *body = std::move(r);
      return true;
    }
    case Opcode::kStatus:
      *body = StatusRequest{};
      return true;
    case Opcode::kGet: {
      GetRequest r;
      if (!f.Bytes("key", &r.key)) return false;
      *body = std::move(r);
      return true;
    }
    case Opcode::kPut: {
      PutRequest r;
      if (!f.Bytes("key", &r.key) || !f.Bytes("value", &r.value) || !f.U64("ttl_ms", &r.ttl_ms)) {
        return false;
      }
      *body = std::move(r);
      return true;
    }
    case Opcode::kDelete: {
      DeleteRequest r;
      if (!f.Bytes("key", &r.key)) return false;
      *body = std::move(r);
      return true;
    }
    case Opcode::kCas: {
      CasRequest r;
      if (!DecodeCasKind(f, &r.kind) || !f.Bytes("key", &r.key) ||
          !f.U64("expected_version", &r.expected_version) || !f.Bytes("value", &r.value) ||
          !f.U64("ttl_ms", &r.ttl_ms)) {
        return false;
      }
      *body = std::move(r);
      return true;
    }
    case Opcode::kBatch: {
      BatchRequest r;
      uint32_t count = 0;
      if (!f.U32("count", &count)) return false;
      // Each op takes at least 25 bytes; a count the frame cannot hold is a lie, and
      // must not make us reserve memory for it.
      if (size_t{count} * 25 > f.remaining()) {
        return f.Fail(fmt::format("count {} does not fit in the frame", count));
      }
      r.ops.resize(count);
      for (BatchOp& o : r.ops) {
        if (!DecodeBatchOpType(f, &o.type) || !f.Bytes("op.key", &o.key) ||
            !f.U64("op.expected_version", &o.expected_version) || !f.Bytes("op.value", &o.value) ||
            !f.U64("op.ttl_ms", &o.ttl_ms)) {
          return false;
        }
      }
      *body = std::move(r);
      return true;
    }
    case Opcode::kScan: {
      ScanRequest r;
      uint8_t flags = 0;
      if (!f.Bytes("prefix", &r.prefix) || !f.Bytes("start", &r.start) ||
          !f.Bytes("end", &r.end) || !f.U32("limit", &r.limit) || !f.U8("flags", &flags) ||
          !f.Bytes("continuation", &r.continuation, kMaxContinuationBytes)) {
        return false;
      }
      if (flags & ~(kScanFlagReverse | kScanFlagKeysOnly)) {
        return f.Fail(fmt::format("unknown scan flag bits 0x{:02x}", flags));
      }
      r.reverse = (flags & kScanFlagReverse) != 0;
      r.keys_only = (flags & kScanFlagKeysOnly) != 0;
      *body = std::move(r);
      return true;
    }
    case Opcode::kGets: {
      GetsRequest r;
      if (!f.Bytes("key", &r.key)) return false;
      *body = std::move(r);
      return true;
    }
    case Opcode::kIncr: {
      IncrRequest r;
      uint64_t amount = 0;
      if (!f.Bytes("key", &r.key) || !f.U64("amount", &amount)) return false;
      r.amount = static_cast<int64_t>(amount);
      *body = std::move(r);
      return true;
    }
    case Opcode::kSadd: {
      SaddRequest r;
      if (!f.Bytes("key", &r.key) || !f.Bytes("element", &r.element)) return false;
      *body = std::move(r);
      return true;
    }
    case Opcode::kSrem: {
      SremRequest r;
      if (!f.Bytes("key", &r.key) || !f.Bytes("element", &r.element)) return false;
      *body = std::move(r);
      return true;
    }
    case Opcode::kSmembers: {
      SmembersRequest r;
      if (!f.Bytes("key", &r.key)) return false;
      *body = std::move(r);
      return true;
    }
    case Opcode::kAdmin: {
      AdminRequest r;
      uint8_t action = 0;
      if (!f.U8("action", &action) || !f.U64("node_id", &r.node_id) ||
          !f.Bytes("client_address", &r.client_address, kMaxAdminAddressBytes) ||
          !f.Bytes("peer_address", &r.peer_address, kMaxAdminAddressBytes)) {
        return false;
      }
      if (action < 1 || action > kMaxAdminAction) {
        return f.Fail(fmt::format("unknown admin action {}", action));
      }
      r.action = static_cast<AdminAction>(action);
      *body = std::move(r);
      return true;
    }
  }
  return f.Fail("unknown opcode");
}

bool DecodeResponseBody(FieldReader& f, Opcode op, ResponseBody* body) {
  switch (op) {
    case Opcode::kHello: {
      HelloResponse r;
      if (!f.U16("version", &r.version) || !f.Bytes("server_version", &r.server_version, 256) ||
          !f.Bytes("mode", &r.mode, 64) || !f.U64("node_id", &r.node_id) ||
          !f.U32("max_frame_bytes", &r.limits.max_frame_bytes) ||
          !f.U32("max_key_bytes", &r.limits.max_key_bytes) ||
          !f.U32("max_value_bytes", &r.limits.max_value_bytes) ||
          !f.U32("max_batch_ops", &r.limits.max_batch_ops) ||
          !f.U32("max_scan_limit", &r.limits.max_scan_limit)) {
        return false;
      }
      *body = std::move(r);
      return true;
    }
    case Opcode::kPing: {
      PingResponse r;
      if (!f.Bytes("payload", &r.payload, kMaxPingPayloadBytes)) return false;
      *body = std::move(r);
      return true;
    }
    case Opcode::kStatus: {
      StatusResponse r;
      if (!f.Bytes("json", &r.json)) return false;
      *body = std::move(r);
      return true;
    }
    case Opcode::kGet: {
      GetResponse r;
      if (!f.U64("version", &r.version) || !f.U64("expires_at_ms", &r.expires_at_ms) ||
          !f.Bytes("value", &r.value)) {
        return false;
      }
      *body = std::move(r);
      return true;
    }
    case Opcode::kPut: {
      PutResponse r;
      if (!f.U64("version", &r.version)) return false;
      *body = r;
      return true;
    }
    case Opcode::kDelete: {
      DeleteResponse r;
      if (!f.Bool("existed", &r.existed)) return false;
      *body = r;
      return true;
    }
    case Opcode::kCas: {
      CasResponse r;
      if (!f.U64("version", &r.version)) return false;
      *body = r;
      return true;
    }
    case Opcode::kBatch: {
      BatchResponse r;
      uint32_t count = 0;
      if (!f.U32("count", &count)) return false;
      if (size_t{count} * 22 > f.remaining()) {
        return f.Fail(fmt::format("count {} does not fit in the frame", count));
      }
      r.results.resize(count);
      for (BatchResult& b : r.results) {
        if (!DecodeBatchOpType(f, &b.type) || !f.Bool("result.found", &b.found) ||
            !f.U64("result.version", &b.version) ||
            !f.U64("result.expires_at_ms", &b.expires_at_ms) ||
            !f.Bytes("result.value", &b.value)) {
          return false;
        }
      }
      *body = std::move(r);
      return true;
    }
    case Opcode::kScan: {
      ScanResponse r;
      uint32_t count = 0;
      if (!f.U32("count", &count)) return false;
      if (size_t{count} * 24 > f.remaining()) {
        return f.Fail(fmt::format("count {} does not fit in the frame", count));
      }
      r.items.resize(count);
      for (ScanItem& item : r.items) {
        if (!f.Bytes("item.key", &item.key) || !f.U64("item.version", &item.version) ||
            !f.U64("item.expires_at_ms", &item.expires_at_ms) ||
            !f.Bytes("item.value", &item.value)) {
          return false;
        }
      }
      if (!f.Bytes("continuation", &r.continuation, kMaxContinuationBytes)) return false;
      *body = std::move(r);
      return true;
    }
    case Opcode::kAdmin: {
      AdminResponse r;
      if (!f.Bytes("json", &r.json)) return false;
      *body = std::move(r);
      return true;
    }
    case Opcode::kGets: {
      GetsResponse r;
      uint32_t count = 0;
      if (!f.Bytes("context", &r.context, kMaxContextBytes) || !f.U32("count", &count)) return false;
      if (size_t{count} * 12 > f.remaining()) {
        return f.Fail(fmt::format("count {} does not fit in the frame", count));
      }
      r.siblings.resize(count);
      for (Sibling& s : r.siblings) {
        if (!f.U64("sibling.timestamp", &s.timestamp) || !f.Bytes("sibling.value", &s.value)) {
          return false;
        }
      }
      *body = std::move(r);
      return true;
    }
    case Opcode::kIncr: {
      uint64_t value = 0;
      if (!f.U64("value", &value)) return false;
      *body = IncrResponse{static_cast<int64_t>(value)};
      return true;
    }
    case Opcode::kSadd:
    case Opcode::kSrem: {
      SetOpResponse r;
      if (!f.Bool("existed", &r.existed)) return false;
      *body = r;
      return true;
    }
    case Opcode::kSmembers: {
      SmembersResponse r;
      uint32_t count = 0;
      if (!f.U32("count", &count)) return false;
      if (size_t{count} * 4 > f.remaining()) {
        return f.Fail(fmt::format("count {} does not fit in the frame", count));
      }
      r.members.resize(count);
      for (std::string& m : r.members) {
        if (!f.Bytes("member", &m)) return false;
      }
      *body = std::move(r);
      return true;
    }
  }
  return f.Fail("unknown opcode");
}

}  // namespace

bool IsKnownOpcode(uint8_t op) {
  switch (static_cast<Opcode>(op)) {
    case Opcode::kHello:
    case Opcode::kPing:
    case Opcode::kStatus:
    case Opcode::kGet:
    case Opcode::kPut:
    case Opcode::kDelete:
    case Opcode::kCas:
    case Opcode::kBatch:
    case Opcode::kScan:
    case Opcode::kGets:
    case Opcode::kIncr:
    case Opcode::kSadd:
    case Opcode::kSrem:
    case Opcode::kSmembers:
    case Opcode::kAdmin:
      return true;
  }
  return false;
}

const char* OpcodeName(Opcode op) {
  switch (op) {
    case Opcode::kHello: return "HELLO";
    case Opcode::kPing: return "PING";
    case Opcode::kStatus: return "STATUS";
    case Opcode::kGet: return "GET";
    case Opcode::kPut: return "PUT";
    case Opcode::kDelete: return "DELETE";
    case Opcode::kCas: return "CAS";
    case Opcode::kBatch: return "BATCH";
    case Opcode::kScan: return "SCAN";
    case Opcode::kGets: return "GETS";
    case Opcode::kIncr: return "INCR";
    case Opcode::kSadd: return "SADD";
    case Opcode::kSrem: return "SREM";
    case Opcode::kSmembers: return "SMEMBERS";
    case Opcode::kAdmin: return "ADMIN";
  }
  return "UNKNOWN";
}

const char* AdminActionName(AdminAction a) {
  switch (a) {
    case AdminAction::kPromote: return "promote";
    case AdminAction::kTransferLeader: return "transfer_leader";
    case AdminAction::kAddLearner: return "add_learner";
    case AdminAction::kPromoteLearner: return "promote_learner";
    case AdminAction::kRemoveMember: return "remove_member";
    case AdminAction::kCompact: return "compact";
    case AdminAction::kPauseStreams: return "pause_streams";
    case AdminAction::kResumeStreams: return "resume_streams";
    case AdminAction::kRepair: return "repair";
    case AdminAction::kRepairDryRun: return "repair_dry_run";
  }
  return "unknown";
}

bool IsDataOpcode(Opcode op) {
  switch (op) {
    case Opcode::kGet:
    case Opcode::kPut:
    case Opcode::kDelete:
    case Opcode::kCas:
    case Opcode::kBatch:
    case Opcode::kScan:
    case Opcode::kGets:
    case Opcode::kIncr:
    case Opcode::kSadd:
    case Opcode::kSrem:
    case Opcode::kSmembers:
      return true;
    default:
      return false;
  }
}

Opcode Request::opcode() const {
  static constexpr Opcode kByIndex[] = {Opcode::kHello, Opcode::kPing,  Opcode::kStatus,
                                        Opcode::kGet,   Opcode::kPut,   Opcode::kDelete,
                                        Opcode::kCas,   Opcode::kBatch, Opcode::kScan,
                                        Opcode::kAdmin, Opcode::kGets,  Opcode::kIncr,
                                        Opcode::kSadd,  Opcode::kSrem,  Opcode::kSmembers};
  static_assert(std::variant_size_v<RequestBody> == std::size(kByIndex));
  return kByIndex[body.index()];
}

Response Response::Error(uint64_t request_id, Opcode opcode, const Status& status) {
  KVD_ASSERT(!status.ok());
  Response r;
  r.request_id = request_id;
  r.opcode = opcode;
  r.status = status.code();
  r.message = status.message();
  return r;
}

Status DecodeFrameHeader(std::string_view buf, uint32_t max_frame_bytes, FrameHeader* h) {
  KVD_ASSERT(buf.size() >= kFrameHeaderBytes);
  h->length = GetU32BE(buf.data());
  h->opcode = static_cast<uint8_t>(buf[4]);
  h->flags = static_cast<uint8_t>(buf[5]);
  h->request_id = GetU64BE(buf.data() + 6);
  if (h->length < kFrameLengthMin) {
    return Status::ProtocolError(
        fmt::format("frame length {} is below the minimum {}", h->length, kFrameLengthMin));
  }
  if (uint64_t{h->length} + 4 > max_frame_bytes) {
    return Status::ProtocolError(fmt::format("frame of {} bytes exceeds the limit of {} bytes",
                                             uint64_t{h->length} + 4, max_frame_bytes));
  }
  return Status::Ok();
}

size_t BeginFrame(std::string* out, uint8_t opcode, uint8_t flags, uint64_t request_id) {
  size_t offset = out->size();
  ByteWriter w(out);
  w.U32(0);
  w.U8(opcode);
  w.U8(flags);
  w.U64(request_id);
  return offset;
}

void FinishFrame(std::string* out, size_t frame_offset) {
  size_t length = out->size() - frame_offset - 4;
  // The ceiling bounds the whole frame, length field included, as DecodeFrameHeader does.
  KVD_ASSERT(length + 4 <= kMaxFrameBytesCeiling);
  PutU32BE(out->data() + frame_offset, static_cast<uint32_t>(length));
}

void EncodeRequest(const Request& request, std::string* out) {
  Opcode op = request.opcode();
  size_t start = BeginFrame(out, static_cast<uint8_t>(op), 0, request.request_id);
  ByteWriter w(out);
  if (IsDataOpcode(op)) EncodeOptions(request.options, w);
  std::visit(RequestEncoder{w}, request.body);
  FinishFrame(out, start);
}

void EncodeResponse(const Response& response, std::string* out) {
  size_t start =
      BeginFrame(out, static_cast<uint8_t>(response.opcode), kFlagResponse, response.request_id);
  ByteWriter w(out);
  w.U8(static_cast<uint8_t>(response.status));
  if (!response.ok()) {
    w.Bytes(response.message);
    if (response.status == Code::kConflict) {
      w.U32(response.detail.op_index);
      w.U64(response.detail.current_version);
    } else if (response.status == Code::kNotLeader) {
      w.Bytes(response.detail.leader_hint);
    }
  } else {
    if (IsDataOpcode(response.opcode)) w.Bytes(response.session_token);
    std::visit(ResponseEncoder{w}, response.body);
  }
  FinishFrame(out, start);
}

Result<Request> DecodeRequest(const FrameHeader& header, std::string_view body) {
  KVD_ASSERT(body.size() == header.body_bytes());
  auto op = static_cast<Opcode>(header.opcode);
  if (!IsKnownOpcode(header.opcode)) {
    return Status::ProtocolError(fmt::format("unknown opcode 0x{:02x}", header.opcode));
  }
  if (header.flags != 0) {
    return Status::ProtocolError(
        fmt::format("request flags must be 0, got 0x{:02x}", header.flags));
  }
  Request request;
  request.request_id = header.request_id;
  FieldReader f(body, op, /*response=*/false);
  if (IsDataOpcode(op) && !DecodeOptions(f, &request.options)) return f.ToStatus();
  if (!DecodeRequestBody(f, op, &request.body) || !f.Finish()) return f.ToStatus();
  return request;
}

Result<Response> DecodeResponse(const FrameHeader& header, std::string_view body) {
  KVD_ASSERT(body.size() == header.body_bytes());
  auto op = static_cast<Opcode>(header.opcode);
  // An unknown opcode is accepted in an error response only: a server answers a request
  // frame with an unknown opcode by a PROTOCOL_ERROR that echoes the raw opcode byte, and
  // the error layout does not depend on the opcode. An OK response must name a known one.
  const bool known_opcode = IsKnownOpcode(header.opcode);
  if (header.flags != kFlagResponse) {
    return Status::ProtocolError(
        fmt::format("response flags must be 0x01, got 0x{:02x}", header.flags));
  }
  Response response;
  response.request_id = header.request_id;
  response.opcode = op;
  FieldReader f(body, op, /*response=*/true);
  uint8_t status = 0;
  if (!f.U8("status", &status)) return f.ToStatus();
  if (status > kMaxCode) {
    f.Fail(fmt::format("unknown status {}", status));
    return f.ToStatus();
  }
  response.status = static_cast<Code>(status);
  if (!known_opcode && response.status == Code::kOk) {
    return Status::ProtocolError(fmt::format("unknown opcode 0x{:02x} in response", header.opcode));
  }
  if (response.status != Code::kOk) {
    bool ok = f.Bytes("message", &response.message, 64u << 10);
    if (ok && response.status == Code::kConflict) {
      ok = f.U32("op_index", &response.detail.op_index) &&
           f.U64("current_version", &response.detail.current_version);
    } else if (ok && response.status == Code::kNotLeader) {
      ok = f.Bytes("leader_hint", &response.detail.leader_hint, 1024);
    }
    if (!ok || !f.Finish()) return f.ToStatus();
    return response;
  }
  if (IsDataOpcode(op) &&
      !f.Bytes("session_token", &response.session_token, kMaxSessionTokenBytes)) {
    return f.ToStatus();
  }
  if (!DecodeResponseBody(f, op, &response.body) || !f.Finish()) return f.ToStatus();
  return response;
}

namespace {

Status CheckKey(std::string_view field, const std::string& key, const Limits& limits) {
  if (key.empty()) return Status::InvalidArgument(fmt::format("{} must not be empty", field));
  if (key.size() > limits.max_key_bytes) {
    return Status::InvalidArgument(fmt::format("{} is {} bytes; limit is {} (limits.max_key_bytes)",
                                               field, key.size(), limits.max_key_bytes));
  }
  return Status::Ok();
}

Status CheckValue(std::string_view field, const std::string& value, const Limits& limits) {
  if (value.size() > limits.max_value_bytes) {
    return Status::InvalidArgument(
        fmt::format("{} is {} bytes; limit is {} (limits.max_value_bytes)", field, value.size(),
                    limits.max_value_bytes));
  }
  return Status::Ok();
}

Status CheckBound(std::string_view field, const std::string& bound, const Limits& limits) {
  if (bound.size() > limits.max_key_bytes) {
    return Status::InvalidArgument(fmt::format("{} is {} bytes; limit is {} (limits.max_key_bytes)",
                                               field, bound.size(), limits.max_key_bytes));
  }
  return Status::Ok();
}

struct Validator {
  const Limits& limits;
  Status operator()(const HelloRequest& r) const {
    if (r.min_version > r.max_version) {
      return Status::InvalidArgument(fmt::format("HELLO min_version {} is above max_version {}",
                                                 r.min_version, r.max_version));
    }
    return Status::Ok();
  }
  Status operator()(const PingRequest&) const { return Status::Ok(); }
  Status operator()(const StatusRequest&) const { return Status::Ok(); }
  Status operator()(const AdminRequest& r) const {
    bool needs_node = r.action == AdminAction::kAddLearner ||
                      r.action == AdminAction::kPromoteLearner ||
                      r.action == AdminAction::kRemoveMember;
    if (needs_node && r.node_id == 0) {
      return Status::InvalidArgument(
          fmt::format("ADMIN {} needs a node_id (>= 1)", AdminActionName(r.action)));
    }
    bool adds = r.action == AdminAction::kAddLearner;
    if (adds && (r.client_address.empty() || r.peer_address.empty())) {
      return Status::InvalidArgument(
          "ADMIN add_learner needs the new node's client_address and peer_address");
    }
    if (!adds && (!r.client_address.empty() || !r.peer_address.empty())) {
      return Status::InvalidArgument(fmt::format(
          "ADMIN {} takes no addresses (only add_learner does)", AdminActionName(r.action)));
    }
    return Status::Ok();
  }
  Status operator()(const GetRequest& r) const { return CheckKey("key", r.key, limits); }
  Status operator()(const GetsRequest& r) const { return CheckKey("key", r.key, limits); }
  Status operator()(const IncrRequest& r) const { return CheckKey("key", r.key, limits); }
  Status operator()(const SmembersRequest& r) const { return CheckKey("key", r.key, limits); }
  Status operator()(const SaddRequest& r) const {
    KVD_TRY(CheckKey("key", r.key, limits));
    return CheckValue("element", r.element, limits);
  }
  Status operator()(const SremRequest& r) const {
    KVD_TRY(CheckKey("key", r.key, limits));
    return CheckValue("element", r.element, limits);
  }
  Status operator()(const DeleteRequest& r) const { return CheckKey("key", r.key, limits); }
  Status operator()(const PutRequest& r) const {
    KVD_TRY(CheckKey("key", r.key, limits));
    return CheckValue("value", r.value, limits);
  }
  Status operator()(const CasRequest& r) const {
    KVD_TRY(CheckKey("key", r.key, limits));
    KVD_TRY(CheckValue("value", r.value, limits));
    if (r.kind == CasKind::kPutIfAbsent && r.expected_version != 0) {
      return Status::InvalidArgument("put-if-absent takes no expected_version (must be 0)");
    }
    if (r.kind == CasKind::kDeleteIfVersion && (!r.value.empty() || r.ttl_ms != 0)) {
      return Status::InvalidArgument("delete-if-version takes no value and no ttl");
    }
    return Status::Ok();
  }
  Status operator()(const BatchRequest& r) const {
    if (r.ops.empty()) return Status::InvalidArgument("batch has no ops");
    if (r.ops.size() > limits.max_batch_ops) {
      return Status::InvalidArgument(fmt::format("batch has {} ops; limit is {} (limits.max_batch_ops)",
                                                 r.ops.size(), limits.max_batch_ops));
    }
    for (size_t i = 0; i < r.ops.size(); ++i) {
      const BatchOp& op = r.ops[i];
      std::string where = fmt::format("op {}", i);
      KVD_TRY(CheckKey("key", op.key, limits).WithContext(where));
      if (op.type == BatchOpType::kPut) {
        KVD_TRY(CheckValue("value", op.value, limits).WithContext(where));
      } else if (!op.value.empty() || op.ttl_ms != 0) {
        return Status::InvalidArgument(fmt::format("{}: only put ops take a value or ttl", where));
      }
      if (op.type != BatchOpType::kCheck && op.expected_version != 0) {
        return Status::InvalidArgument(
            fmt::format("{}: only check ops take an expected_version", where));
      }
    }
    return Status::Ok();
  }
  Status operator()(const ScanRequest& r) const {
    KVD_TRY(CheckBound("prefix", r.prefix, limits));
    KVD_TRY(CheckBound("start", r.start, limits));
    KVD_TRY(CheckBound("end", r.end, limits));
    if (r.limit > limits.max_scan_limit) {
      return Status::InvalidArgument(fmt::format("scan limit {} is above {} (limits.max_scan_limit)",
                                                 r.limit, limits.max_scan_limit));
    }
    if (!r.end.empty() && r.start >= r.end) {
      return Status::InvalidArgument("scan start must be below end");
    }
    return Status::Ok();
  }
};

}  // namespace

Status ValidateRequest(const Request& request, const Limits& limits) {
  if ((request.options.client_id == 0) != (request.options.sequence == 0)) {
    return Status::InvalidArgument(
        "options client_id and sequence go together: set both (non-zero) or neither");
  }
  if (!request.options.context.empty() && request.opcode() != Opcode::kPut &&
      request.opcode() != Opcode::kDelete) {
    return Status::InvalidArgument(fmt::format(
        "option context is for PUT and DELETE (to resolve siblings), not {}",
        OpcodeName(request.opcode())));
  }
  return std::visit(Validator{limits}, request.body);
}

}  // namespace kvd::wire
