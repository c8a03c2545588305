// StreamLogger: the server's Logger. One line per event:
//
//   2026-11-23T10:15:02.123Z INFO  net     c12.345 closing connection from 127.0.0.1:5555: ...
//   <UTC timestamp, ms>      <level> <component> <request id or -> <message>
//
// Lines go to stderr, or appended to a file (log.file). Newlines inside a message are
// escaped as "\n" so that one event stays one line.
//
// Thread-safety: Log may be called from any thread (one mutex around the write).
#pragma once

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

#include "common/log.h"
#include "common/status.h"

namespace kvd::app {

class StreamLogger final : public Logger {
 public:
  explicit StreamLogger(LogLevel level) : level_(level) {}
  ~StreamLogger() override;

  // Appends to `path` instead of stderr. Errors: kIOError naming the path.
  Status OpenFile(const std::string& path);

  void Log(LogLevel level, std::string_view component, std::string_view request_id,
           std::string_view message) override;
  bool Enabled(LogLevel level) const override { return level >= level_.load(); }
  void set_level(LogLevel level) { level_ = level; }

 private:
  std::atomic<LogLevel> level_;
  std::mutex mu_;
  std::FILE* file_ = nullptr;  // nullptr: stderr
};

}  // namespace kvd::app
