#include "server/kv/scan_range.h"

#include <algorithm>

namespace kvd::kv {

namespace {
constexpr uint8_t kContinuationFormat = 1;
constexpr uint8_t kContinuationReverse = 0x01;
}  // namespace

std::optional<std::string> PrefixSuccessor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty()) {
    auto last = static_cast<unsigned char>(s.back());
    if (last != 0xff) {
      s.back() = static_cast<char>(last + 1);
      return s;
    }
    s.pop_back();
  }
  return std::nullopt;
}

KeyRange ScanKeyRange(const wire::ScanRequest& scan) {
  KeyRange range;
  range.lower = std::max(scan.start, scan.prefix);
  if (!scan.end.empty()) range.upper = scan.end;
  if (std::optional<std::string> succ = PrefixSuccessor(scan.prefix)) {
    if (!range.upper || *succ < *range.upper) range.upper = std::move(succ);
  }
  return range;
}

std::string EncodeContinuation(bool reverse, std::string_view last_key) {
  std::string token;
  token.reserve(2 + last_key.size());
  token.push_back(static_cast<char>(kContinuationFormat));
  token.push_back(static_cast<char>(reverse ? kContinuationReverse : 0));
  token.append(last_key);
  return token;
}

Status ApplyContinuation(const wire::ScanRequest& scan, KeyRange* range) {
  if (scan.continuation.empty()) return Status::Ok();
  const std::string& t = scan.continuation;
  if (t.size() < 3 || static_cast<uint8_t>(t[0]) != kContinuationFormat ||
      (static_cast<uint8_t>(t[1]) & ~kContinuationReverse) != 0) {
    return Status::InvalidArgument("continuation token is malformed");
  }
  bool reverse = (static_cast<uint8_t>(t[1]) & kContinuationReverse) != 0;
  std::string_view last_key = std::string_view(t).substr(2);
  if (reverse != scan.reverse || !range->Contains(last_key)) {
    return Status::InvalidArgument(
        "continuation token does not belong to this scan (pass the same prefix, start, end "
        "and direction as the request that returned it)");
  }
  if (reverse) {
    range->upper = std::string(last_key);  // resume strictly below the last key
  } else {
    range->lower = std::string(last_key);
    range->lower.push_back('\0');  // the smallest key strictly above the last key
  }
  return Status::Ok();
}

}  // namespace kvd::kv
