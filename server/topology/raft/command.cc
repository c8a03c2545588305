#include "server/topology/raft/command.h"

#include <fmt/format.h>

#include "common/bytes.h"
#include "common/wire/codec.h"
#include "common/wire/frame.h"

namespace kvd::raft {

std::string EncodeCommand(const Command& command) {
  std::string out;
  ByteWriter w(&out);
  w.U8(static_cast<uint8_t>(command.kind));
  w.U64(command.now_ms);
  w.U64(command.client_id);
  w.U64(command.sequence);
  if (command.kind == CommandKind::kRequest) wire::EncodeRequest(command.request, &out);
  return out;
}

Result<Command> DecodeCommand(std::string_view bytes) {
  ByteReader r(bytes);
  Command c;
  uint8_t kind = 0;
  if (!r.U8(&kind) || !r.U64(&c.now_ms) || !r.U64(&c.client_id) || !r.U64(&c.sequence)) {
    return Status::Corruption("raft command: header is truncated");
  }
  if (kind == static_cast<uint8_t>(CommandKind::kExpire)) {
    c.kind = CommandKind::kExpire;
    if (!r.done()) return Status::Corruption("raft command: an expiry sweep has a body");
    return c;
  }
  if (kind != static_cast<uint8_t>(CommandKind::kRequest)) {
    return Status::Corruption(fmt::format("raft command: kind {} is unknown", kind));
  }
  std::string_view frame = bytes.substr(r.position());
  if (frame.size() < wire::kFrameHeaderBytes) {
    return Status::Corruption("raft command: the request frame is truncated");
  }
  wire::FrameHeader header;
  Status s = wire::DecodeFrameHeader(frame, wire::kMaxFrameBytesCeiling, &header);
  if (!s.ok()) return Status::Corruption(fmt::format("raft command: {}", s.message()));
  if (frame.size() != wire::kFrameHeaderBytes + header.body_bytes()) {
    return Status::Corruption("raft command: the request frame has the wrong length");
  }
  Result<wire::Request> req =
      wire::DecodeRequest(header, frame.substr(wire::kFrameHeaderBytes));
  if (!req.ok()) {
    return Status::Corruption(fmt::format("raft command: {}", req.status().message()));
  }
  c.request = std::move(req).value();
  return c;
}

}  // namespace kvd::raft
