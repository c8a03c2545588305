// Key ranges for SCAN: intersecting [start, end) with a prefix, and the continuation
// token that lets a client resume a scan after the last key it received.
//
// Continuation token (opaque to clients):
//
//   offset  size  field
//   0       1     format    1
//   1       1     flags     bit 0: the token belongs to a reverse scan
//   2       ...   last_key  the last key returned, raw
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/wire/messages.h"

namespace kvd::kv {

// Keys k with lower <= k and (no upper, or k < upper).
struct KeyRange {
  std::string lower;
  std::optional<std::string> upper;

  bool Contains(std::string_view key) const {
    return key >= lower && (!upper || key < *upper);
  }
  bool Empty() const { return upper && *upper <= lower; }
};

// The smallest string greater than every string that starts with prefix; nullopt if
// there is none (empty prefix, or all bytes 0xff).
std::optional<std::string> PrefixSuccessor(std::string_view prefix);

// The range a scan covers: [start, end) intersected with the keys that begin with prefix.
KeyRange ScanKeyRange(const wire::ScanRequest& scan);

std::string EncodeContinuation(bool reverse, std::string_view last_key);

// Narrows *range to what remains after the request's continuation token (no-op if the
// token is empty). Errors: kInvalidArgument if the token is malformed or belongs to a
// different scan (direction, or a last key outside the range).
Status ApplyContinuation(const wire::ScanRequest& scan, KeyRange* range);

}  // namespace kvd::kv
