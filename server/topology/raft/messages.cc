#include "server/topology/raft/messages.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/bytes.h"

namespace kvd::raft {

namespace {

Status Truncated(std::string_view field) {
  return Status::ProtocolError(fmt::format("raft message: {} is truncated or invalid", field));
}

bool IsSortedUnique(const std::vector<uint64_t>& v) {
  return std::adjacent_find(v.begin(), v.end(), [](uint64_t a, uint64_t b) { return a >= b; }) ==
         v.end();
}

void WriteMembership(ByteWriter& w, const Membership& m) {
  w.U32(static_cast<uint32_t>(m.voters.size()));
  for (uint64_t id : m.voters) w.U64(id);
  w.U32(static_cast<uint32_t>(m.learners.size()));
  for (uint64_t id : m.learners) w.U64(id);
  w.U32(static_cast<uint32_t>(m.addresses.size()));
  for (const auto& [id, a] : m.addresses) {
    w.U64(id);
    w.Bytes(a.client);
    w.Bytes(a.peer);
  }
}

Status ReadIdList(ByteReader& r, std::string_view field, std::vector<uint64_t>* out) {
  uint32_t n = 0;
  if (!r.U32(&n)) return Truncated(field);
  if (n > kMaxMembers) {
    return Status::ProtocolError(
        fmt::format("raft message: {} has {} members; at most {}", field, n, kMaxMembers));
  }
  out->resize(n);
  for (uint64_t& id : *out) {
    if (!r.U64(&id) || id == 0) return Truncated(field);
  }
  if (!IsSortedUnique(*out)) {
    return Status::ProtocolError(fmt::format("raft message: {} is not sorted and unique", field));
  }
  return Status::Ok();
}

Status ReadMembership(ByteReader& r, Membership* m) {
  KVD_TRY(ReadIdList(r, "voters", &m->voters));
  KVD_TRY(ReadIdList(r, "learners", &m->learners));
  for (uint64_t id : m->learners) {
    if (m->IsVoter(id)) return Status::ProtocolError("raft message: a learner is also a voter");
  }
  uint32_t n = 0;
  if (!r.U32(&n)) return Truncated("addresses");
  if (n > 2 * kMaxMembers) return Status::ProtocolError("raft message: too many addresses");
  for (uint32_t i = 0; i < n; ++i) {
    uint64_t id = 0;
    std::string_view client, peer;
    if (!r.U64(&id) || id == 0 || !r.Bytes(&client, kMaxAddressBytes) ||
        !r.Bytes(&peer, kMaxAddressBytes)) {
      return Truncated("address");
    }
    if (!m->addresses.emplace(id, MemberAddress{std::string(client), std::string(peer)})
             .second) {
      return Status::ProtocolError("raft message: a member's address appears twice");
    }
  }
  return Status::Ok();
}

void WriteEntry(ByteWriter& w, const Entry& e) {
  w.U64(e.index);
  w.U64(e.term);
  w.U8(static_cast<uint8_t>(e.type));
  w.Bytes(e.data);
}

Status ReadEntry(ByteReader& r, Entry* e) {
  uint8_t type = 0;
  std::string_view data;
  if (!r.U64(&e->index) || !r.U64(&e->term) || !r.U8(&type)) return Truncated("entry header");
  if (type < static_cast<uint8_t>(EntryType::kNoop) ||
      type > static_cast<uint8_t>(EntryType::kConfig)) {
    return Status::ProtocolError(fmt::format("raft message: entry type {} is unknown", type));
  }
  if (e->index == 0 || e->term == 0) return Truncated("entry index/term (must be >= 1)");
  if (!r.Bytes(&data, kMaxEntryBytes)) return Truncated("entry data");
  e->type = static_cast<EntryType>(type);
  e->data.assign(data);
  return Status::Ok();
}

void EncodeBody(ByteWriter& w, const Message& m) {
  std::visit(
      [&](const auto& b) {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<T, VoteRequest>) {
          w.U64(b.last_log_index);
          w.U64(b.last_log_term);
          w.U8(b.force ? 1 : 0);
        } else if constexpr (std::is_same_v<T, VoteResponse>) {
          w.U8(b.granted ? 1 : 0);
        } else if constexpr (std::is_same_v<T, AppendRequest>) {
          w.U64(b.prev_index);
          w.U64(b.prev_term);
          w.U64(b.commit);
          w.U32(static_cast<uint32_t>(b.entries.size()));
          for (const Entry& e : b.entries) WriteEntry(w, e);
        } else if constexpr (std::is_same_v<T, AppendResponse>) {
          w.U8(static_cast<uint8_t>((b.success ? 1 : 0) | (b.needs_snapshot ? 2 : 0)));
          w.U64(b.index);
          w.U64(b.hint_index);
          w.U64(b.hint_term);
        } else if constexpr (std::is_same_v<T, Heartbeat>) {
          w.U64(b.commit);
          w.U64(b.seq);
        } else if constexpr (std::is_same_v<T, HeartbeatResponse>) {
          w.U64(b.seq);
          w.U64(b.last_index);
        } else if constexpr (std::is_same_v<T, SnapshotChunk>) {
          w.U64(b.index);
          w.U64(b.snapshot_term);
          WriteMembership(w, b.membership);
          w.U64(b.offset);
          w.U8(b.done ? 1 : 0);
          w.Bytes(b.data);
        } else if constexpr (std::is_same_v<T, SnapshotResponse>) {
          w.U64(b.index);
          w.U64(b.next_offset);
          w.U8(static_cast<uint8_t>((b.done ? 1 : 0) | (b.reject ? 2 : 0)));
        } else if constexpr (std::is_same_v<T, TimeoutNow>) {
          // no body
        } else if constexpr (std::is_same_v<T, Forward>) {
          w.U64(b.forward_id);
          w.Bytes(b.frame);
        }
      },
      m.body);
}

Result<MessageBody> DecodeBody(MessageType type, ByteReader& r) {
  switch (type) {
    case MessageType::kVote:
    case MessageType::kPreVote: {
      VoteRequest b;
      uint8_t flags = 0;
      if (!r.U64(&b.last_log_index) || !r.U64(&b.last_log_term) || !r.U8(&flags)) {
        return Truncated("vote request");
      }
      b.force = (flags & 1) != 0;
      return MessageBody(b);
    }
    case MessageType::kVoteResponse:
    case MessageType::kPreVoteResponse: {
      uint8_t granted = 0;
      if (!r.U8(&granted)) return Truncated("vote response");
      return MessageBody(VoteResponse{granted != 0});
    }
    case MessageType::kAppend: {
      AppendRequest b;
      uint32_t count = 0;
      if (!r.U64(&b.prev_index) || !r.U64(&b.prev_term) || !r.U64(&b.commit) || !r.U32(&count)) {
        return Truncated("append header");
      }
      if (count > kMaxEntriesPerMessage) {
        return Status::ProtocolError(fmt::format(
            "raft message: append carries {} entries; at most {}", count, kMaxEntriesPerMessage));
      }
      b.entries.resize(count);
      uint64_t expect = b.prev_index + 1;
      for (Entry& e : b.entries) {
        KVD_TRY(ReadEntry(r, &e));
        if (e.index != expect) {
          return Status::ProtocolError(fmt::format(
              "raft message: append entry index {} out of sequence; expected {}", e.index,
              expect));
        }
        ++expect;
      }
      return MessageBody(std::move(b));
    }
    case MessageType::kAppendResponse: {
      AppendResponse b;
      uint8_t flags = 0;
      if (!r.U8(&flags) || !r.U64(&b.index) || !r.U64(&b.hint_index) || !r.U64(&b.hint_term)) {
        return Truncated("append response");
      }
      b.success = (flags & 1) != 0;
      b.needs_snapshot = (flags & 2) != 0;
      return MessageBody(b);
    }
    case MessageType::kHeartbeat: {
      Heartbeat b;
      if (!r.U64(&b.commit) || !r.U64(&b.seq)) return Truncated("heartbeat");
      return MessageBody(b);
    }
    case MessageType::kHeartbeatResponse: {
      HeartbeatResponse b;
      if (!r.U64(&b.seq) || !r.U64(&b.last_index)) return Truncated("heartbeat response");
      return MessageBody(b);
    }
    case MessageType::kSnapshot: {
      SnapshotChunk b;
      uint8_t done = 0;
      std::string_view data;
      if (!r.U64(&b.index) || !r.U64(&b.snapshot_term)) return Truncated("snapshot header");
      KVD_TRY(ReadMembership(r, &b.membership));
      if (!r.U64(&b.offset) || !r.U8(&done) || !r.Bytes(&data, kMaxSnapshotChunkBytes)) {
        return Truncated("snapshot chunk");
      }
      b.done = done != 0;
      b.data.assign(data);
      return MessageBody(std::move(b));
    }
    case MessageType::kSnapshotResponse: {
      SnapshotResponse b;
      uint8_t flags = 0;
      if (!r.U64(&b.index) || !r.U64(&b.next_offset) || !r.U8(&flags)) {
        return Truncated("snapshot response");
      }
      b.done = (flags & 1) != 0;
      b.reject = (flags & 2) != 0;
      return MessageBody(b);
    }
    case MessageType::kTimeoutNow:
      return MessageBody(TimeoutNow{});
    case MessageType::kForward:
    case MessageType::kForwardResponse: {
      Forward b;
      std::string_view frame;
      if (!r.U64(&b.forward_id) || !r.Bytes(&frame, kMaxEntryBytes)) return Truncated("forward");
      b.frame.assign(frame);
      return MessageBody(std::move(b));
    }
  }
  return Status::ProtocolError(
      fmt::format("raft message: type {} is unknown", static_cast<int>(type)));
}

}  // namespace

bool Membership::IsVoter(uint64_t id) const {
  return std::binary_search(voters.begin(), voters.end(), id);
}
bool Membership::IsLearner(uint64_t id) const {
  return std::binary_search(learners.begin(), learners.end(), id);
}
std::string Membership::ToString() const {
  return fmt::format("voters=[{}] learners=[{}]", fmt::join(voters, ","),
                     fmt::join(learners, ","));
}

const char* MessageTypeName(MessageType t) {
  switch (t) {
    case MessageType::kVote: return "vote";
    case MessageType::kVoteResponse: return "vote_response";
    case MessageType::kPreVote: return "prevote";
    case MessageType::kPreVoteResponse: return "prevote_response";
    case MessageType::kAppend: return "append";
    case MessageType::kAppendResponse: return "append_response";
    case MessageType::kHeartbeat: return "heartbeat";
    case MessageType::kHeartbeatResponse: return "heartbeat_response";
    case MessageType::kSnapshot: return "snapshot";
    case MessageType::kSnapshotResponse: return "snapshot_response";
    case MessageType::kTimeoutNow: return "timeout_now";
    case MessageType::kForward: return "forward";
    case MessageType::kForwardResponse: return "forward_response";
  }
  return "unknown";
}

std::string EncodeMessage(const Message& m) {
  std::string out;
  ByteWriter w(&out);
  w.U8(kMessageFormat);
  w.U8(static_cast<uint8_t>(m.type));
  w.U64(m.from);
  w.U64(m.to);
  w.U64(m.term);
  EncodeBody(w, m);
  return out;
}

Result<Message> DecodeMessage(std::string_view bytes) {
  ByteReader r(bytes);
  uint8_t format = 0, type = 0;
  Message m;
  if (!r.U8(&format) || !r.U8(&type) || !r.U64(&m.from) || !r.U64(&m.to) || !r.U64(&m.term)) {
    return Truncated("header");
  }
  if (format != kMessageFormat) {
    return Status::ProtocolError(
        fmt::format("raft message: format {} is not supported; expected {}", format,
                    kMessageFormat));
  }
  if (type < 1 || type > static_cast<uint8_t>(MessageType::kForwardResponse)) {
    return Status::ProtocolError(fmt::format("raft message: type {} is unknown", type));
  }
  if (m.from == 0 || m.to == 0) return Truncated("from/to (node ids are >= 1)");
  m.type = static_cast<MessageType>(type);
  KVD_ASSIGN_OR_RETURN(m.body, DecodeBody(m.type, r));
  if (!r.done()) {
    return Status::ProtocolError(fmt::format("raft message: {} bytes of trailing garbage",
                                             r.remaining()));
  }
  return m;
}

void EncodeMembership(const Membership& m, std::string* out) {
  ByteWriter w(out);
  WriteMembership(w, m);
}

Result<Membership> DecodeMembership(std::string_view bytes) {
  ByteReader r(bytes);
  Membership m;
  KVD_TRY(ReadMembership(r, &m));
  if (!r.done()) return Status::Corruption("membership: trailing bytes");
  return m;
}

void EncodeEntry(const Entry& e, std::string* out) {
  ByteWriter w(out);
  WriteEntry(w, e);
}

Result<Entry> DecodeEntry(std::string_view bytes) {
  ByteReader r(bytes);
  Entry e;
  KVD_TRY(ReadEntry(r, &e));
  if (!r.done()) return Status::Corruption("raft entry: trailing bytes");
  return e;
}

std::string Describe(const Message& m) {
  std::string head = fmt::format("{} {}->{} t{}", MessageTypeName(m.type), m.from, m.to, m.term);
  return std::visit(
      [&](const auto& b) -> std::string {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<T, VoteRequest>) {
          return fmt::format("{} last={}/{}{}", head, b.last_log_index, b.last_log_term,
                             b.force ? " force" : "");
        } else if constexpr (std::is_same_v<T, VoteResponse>) {
          return fmt::format("{} {}", head, b.granted ? "granted" : "rejected");
        } else if constexpr (std::is_same_v<T, AppendRequest>) {
          return fmt::format("{} prev={}/{} commit={} n={}", head, b.prev_index, b.prev_term,
                             b.commit, b.entries.size());
        } else if constexpr (std::is_same_v<T, AppendResponse>) {
          return fmt::format("{} {} index={} hint={}/{}{}", head, b.success ? "ok" : "reject",
                             b.index, b.hint_index, b.hint_term,
                             b.needs_snapshot ? " needs_snapshot" : "");
        } else if constexpr (std::is_same_v<T, Heartbeat>) {
          return fmt::format("{} commit={} seq={}", head, b.commit, b.seq);
        } else if constexpr (std::is_same_v<T, HeartbeatResponse>) {
          return fmt::format("{} seq={} last={}", head, b.seq, b.last_index);
        } else if constexpr (std::is_same_v<T, SnapshotChunk>) {
          return fmt::format("{} index={}/{} offset={} bytes={}{}", head, b.index,
                             b.snapshot_term, b.offset, b.data.size(), b.done ? " done" : "");
        } else if constexpr (std::is_same_v<T, SnapshotResponse>) {
          return fmt::format("{} index={} next={}{}{}", head, b.index, b.next_offset,
                             b.done ? " done" : "", b.reject ? " reject" : "");
        } else if constexpr (std::is_same_v<T, Forward>) {
          return fmt::format("{} id={} bytes={}", head, b.forward_id, b.frame.size());
        } else {
          return head;
        }
      },
      m.body);
}

}  // namespace kvd::raft
