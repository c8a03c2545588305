#include "common/status.h"

namespace kvd {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kNotFound: return "not_found";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kConflict: return "conflict";
    case Code::kProtocolError: return "protocol_error";
    case Code::kNotLeader: return "not_leader";
    case Code::kUnavailable: return "unavailable";
    case Code::kTimeout: return "timeout";
    case Code::kIOError: return "io_error";
    case Code::kCorruption: return "corruption";
    case Code::kUnsupported: return "unsupported";
  }
  return "unknown";
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string m;
  m.reserve(context.size() + 2 + message_.size());
  m.append(context).append(": ").append(message_);
  return Status(code_, std::move(m));
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string s(CodeName(code_));
  s.append(": ").append(message_);
  return s;
}

}  // namespace kvd
