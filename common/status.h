// Status and Result<T>: errors as values across module edges.
//
// A Status is a code plus a human-readable message. Expected failures (bad input, missing
// keys, I/O errors) travel as Status; broken internal invariants use KVD_ASSERT instead.
// Each code maps 1:1 to a wire status byte (common/wire/frame.h) and to a kvctl exit code
// (client/kvctl). Values are cheap to move; an OK status holds no allocation.
//
// Thread-safety: a Status is a plain value; distinct objects may be used from distinct
// threads, a shared one only for reading.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "common/assert.h"

namespace kvd {

// The numeric values are the wire status bytes; never renumber them.
enum class Code : uint8_t {
  kOk = 0,
  kNotFound = 1,
  kInvalidArgument = 2,
  kConflict = 3,        // a compare-and-set condition did not hold
  kProtocolError = 4,   // a malformed or unexpected frame
  kNotLeader = 5,       // this replica cannot serve the request; see the hint
  kUnavailable = 6,     // temporarily cannot serve (shutting down, overloaded, no quorum)
  kTimeout = 7,
  kIOError = 8,         // the disk failed (full, unwritable, ...)
  kCorruption = 9,      // stored or received data failed an integrity check
  kUnsupported = 10,    // a valid request this topology or build does not offer
};

inline constexpr uint8_t kMaxCode = 10;

// Returns the lower-case snake name of a code ("not_found"), as shown in logs, metrics
// labels and kvctl's JSON output.
std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status Conflict(std::string m) { return {Code::kConflict, std::move(m)}; }
  static Status ProtocolError(std::string m) { return {Code::kProtocolError, std::move(m)}; }
  static Status NotLeader(std::string m) { return {Code::kNotLeader, std::move(m)}; }
  static Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status Timeout(std::string m) { return {Code::kTimeout, std::move(m)}; }
  static Status IOError(std::string m) { return {Code::kIOError, std::move(m)}; }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status Unsupported(std::string m) { return {Code::kUnsupported, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "<context>: <message>". OK stays OK.
  Status WithContext(std::string_view context) const;

  // "ok" or "<code name>: <message>".
  std::string ToString() const;

  bool operator==(const Status& other) const = default;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// Result<T>: either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : data_(std::move(status)) {  // NOLINT: implicit by design
    KVD_ASSERT(!std::get<Status>(data_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(data_); }
  // REQUIRES: !ok()
  const Status& status() const& {
    KVD_ASSERT(!ok());
    return std::get<Status>(data_);
  }
  Status status() && {
    KVD_ASSERT(!ok());
    return std::move(std::get<Status>(data_));
  }
  // REQUIRES: ok()
  T& value() & {
    KVD_ASSERT(ok());
    return std::get<T>(data_);
  }
  const T& value() const& {
    KVD_ASSERT(ok());
    return std::get<T>(data_);
  }
  T&& value() && {
    KVD_ASSERT(ok());
    return std::move(std::get<T>(data_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace kvd

#define KVD_CONCAT_INNER(a, b) a##b
#define KVD_CONCAT(a, b) KVD_CONCAT_INNER(a, b)

// Evaluates a Status expression and returns it from the enclosing function if not OK.
#define KVD_TRY(expr)                         \
  do {                                        \
    ::kvd::Status kvd_try_status_ = (expr);   \
    if (!kvd_try_status_.ok()) return kvd_try_status_; \
  } while (0)

// Evaluates a Result<T> expression; on error returns its Status, else moves the value
// into `lhs` (which may be a declaration: KVD_ASSIGN_OR_RETURN(auto x, F());).
#define KVD_ASSIGN_OR_RETURN(lhs, expr) \
  KVD_ASSIGN_OR_RETURN_IMPL(KVD_CONCAT(kvd_result_, __LINE__), lhs, expr)
#define KVD_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return std::move(tmp).status();  \
  lhs = std::move(tmp).value()
