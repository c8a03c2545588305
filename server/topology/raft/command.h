// Command: what a kCommand entry of the Raft log carries, and its encoding.
//
// A command is a client's write request plus what every replica needs to apply it the
// same way: the leader's wall-clock time when it accepted the request (TTLs are computed
// from it, so replicas agree on expiry times) and the client's deduplication identity.
// A TTL sweep is a command too, so that every replica deletes the same expired keys.
//
// Layout (big-endian):
//   offset  size  field
//   0       1     kind        1 = request, 2 = expiry sweep
//   1       8     now_ms      leader's wall clock (unix ms)
//   9       8     client_id   0: not deduplicated
//   17      8     sequence
//   25      ...   request     kind 1: the whole client frame (header and body) as the
//                             client protocol encodes it (docs/PROTOCOL.md); kind 2: empty
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/wire/messages.h"

namespace kvd::raft {

enum class CommandKind : uint8_t { kRequest = 1, kExpire = 2 };

struct Command {
  CommandKind kind = CommandKind::kRequest;
  uint64_t now_ms = 0;
  uint64_t client_id = 0;
  uint64_t sequence = 0;
  wire::Request request;  // kRequest only
};

std::string EncodeCommand(const Command& command);
// Errors: kCorruption naming what is malformed.
Result<Command> DecodeCommand(std::string_view bytes);

}  // namespace kvd::raft
