// Encoding and decoding of wire protocol v1 requests and responses (messages.h).
//
// Decoders are strict and bounded: every length is checked against the frame and against
// the fixed protocol bounds in frame.h, unknown opcodes, option tags, enum values and flag
// bits are rejected, and trailing bytes after the last field are an error. Configurable
// limits (key and value sizes, batch size, scan limit) are NOT enforced here: the server
// checks them after decoding with ValidateRequest so that it can answer with a precise
// kInvalidArgument instead of closing the connection.
//
// Encoders append complete frames (header included) to a std::string; they never fail.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "common/wire/frame.h"
#include "common/wire/messages.h"

namespace kvd::wire {

// Appends the frame for `request` to *out.
void EncodeRequest(const Request& request, std::string* out);
// Appends the frame for `response` to *out.
void EncodeResponse(const Response& response, std::string* out);

// Decodes a request frame's body.
// REQUIRES: header was accepted by DecodeFrameHeader and body.size() == header.body_bytes().
// Errors: kProtocolError naming the opcode and field that is malformed.
Result<Request> DecodeRequest(const FrameHeader& header, std::string_view body);

// Decodes a response frame's body (the client side).
// Errors: kProtocolError naming the opcode and field that is malformed.
Result<Response> DecodeResponse(const FrameHeader& header, std::string_view body);

// Checks a decoded request against configured limits; the message names the field, its
// size and the limit, e.g. "key is 5000 bytes; limit is 4096 (limits.max_key_bytes)".
// Errors: kInvalidArgument.
Status ValidateRequest(const Request& request, const Limits& limits);

}  // namespace kvd::wire
