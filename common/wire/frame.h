// Framing of wire protocol v1. The full specification is docs/PROTOCOL.md.
//
// Every message, in both directions, is one frame:
//
//   offset  size  field
//   0       4     length      u32 BE: bytes after this field = 10 + body size;
//                             10 <= length <= the receiver's max frame size
//   4       1     opcode      request opcode; a response repeats its request's opcode
//   5       1     flags       bit 0 (0x01): response; all other bits must be 0
//   6       8     request_id  u64 BE, chosen by the client, echoed in the response
//   14      ...   body        opcode-specific (codec.h, docs/PROTOCOL.md)
//
// A connection starts with a HELLO request that negotiates the protocol version. Requests
// may be pipelined; responses carry the request id and may arrive in any order.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"

namespace kvd::wire {

inline constexpr uint16_t kProtocolVersion = 1;
inline constexpr size_t kFrameHeaderBytes = 14;
inline constexpr uint32_t kFrameLengthMin = 10;  // opcode + flags + request_id
// Hard ceiling on any frame, whatever a server is configured to accept.
inline constexpr uint32_t kMaxFrameBytesCeiling = 64u << 20;
inline constexpr uint8_t kFlagResponse = 0x01;

// Bounds on fields that have no configurable limit.
inline constexpr uint32_t kMaxClientNameBytes = 256;
inline constexpr uint32_t kMaxPingPayloadBytes = 64u << 10;
inline constexpr uint32_t kMaxSessionTokenBytes = 2048;
// A causal context (option `context`, GETS): an encoded version vector of up to 1023
// nodes (clock::VersionVector::kMaxEntries).
inline constexpr uint32_t kMaxContextBytes = 16384;
// A continuation holds a key (up to 64 KiB by limits.max_key_bytes) plus a small header.
inline constexpr uint32_t kMaxContinuationBytes = (64u << 10) + 64;
inline constexpr uint8_t kMaxRequestOptions = 16;

struct FrameHeader {
  uint32_t length = 0;  // bytes after the length field
  uint8_t opcode = 0;   // raw: may be unknown
  uint8_t flags = 0;
  uint64_t request_id = 0;

  size_t body_bytes() const { return length - (kFrameHeaderBytes - 4); }
  size_t frame_bytes() const { return size_t{length} + 4; }
};

// Parses the first kFrameHeaderBytes of `buf`.
// REQUIRES: buf.size() >= kFrameHeaderBytes.
// Errors: kProtocolError if length < kFrameLengthMin or length + 4 > max_frame_bytes (the
// header fields are still filled in, so the caller can answer with the request id).
Status DecodeFrameHeader(std::string_view buf, uint32_t max_frame_bytes, FrameHeader* header);

// Appends a frame header with a placeholder length; returns the offset of the length field
// to pass to FinishFrame once the body has been appended.
size_t BeginFrame(std::string* out, uint8_t opcode, uint8_t flags, uint64_t request_id);
// Writes the final length of the frame that starts at `frame_offset`.
void FinishFrame(std::string* out, size_t frame_offset);

}  // namespace kvd::wire
