// Turning an Invocation into the wire request kvctl sends: reads --file and stdin, parses
// batch scripts, and applies the global request options.
//
// Errors are kInvalidArgument (the caller exits with ExitCode::kUsage): an unreadable file
// ("cannot read --file PATH: <reason>"), input above kMaxInputBytes, a malformed batch
// script.
//
// Thread-safety: functions; they read only the file named and the stream passed in.
#pragma once

#include <cstddef>
#include <istream>
#include <string>
#include <string_view>

#include "client/kvctl/invocation.h"
#include "common/status.h"
#include "common/wire/frame.h"
#include "common/wire/messages.h"

namespace kvd::kvctl {

// No value or batch script can be larger than a frame, so kvctl reads no more than this.
inline constexpr size_t kMaxInputBytes = wire::kMaxFrameBytesCeiling;

// All bytes of the file at `path`. `what` names it in errors (e.g. "--file").
// Errors: cannot open or read it (with the OS reason), or more than max_bytes.
Result<std::string> ReadFileBytes(const std::string& path, std::string_view what,
                                  size_t max_bytes = kMaxInputBytes);
// All bytes of `in` (binary-safe). Errors: a read error, or more than max_bytes.
Result<std::string> ReadStreamBytes(std::istream& in, std::string_view what,
                                    size_t max_bytes = kMaxInputBytes);

// The request for `invocation` (its request_id is left 0: the client assigns it). For a
// scan it is the first page, with limit = ScanCommand::limit (Execute clamps it to the
// server's page limit). For sadd/srem it is the request for the first element. put and del
// carry their --context as RequestOptions::context. Reads `in` only for a value or script
// that comes from stdin.
// REQUIRES: invocation.command is not a HelpCommand or a ClusterCommand.
Result<wire::Request> BuildRequest(const Invocation& invocation, std::istream& in);

}  // namespace kvd::kvctl
