// Logger: the logging interface code outside server/ receives by reference.
//
// Every event is one line with a level, a component ("net", "kv", "storage", "app") and a
// request id ("c12.345" = connection 12, request 345; "-" when there is none), so the
// lines of one request can be found with grep. The server's implementation
// (server/app/logger.h) adds a UTC timestamp and writes to stderr or a file.
//
// Thread-safety: implementations must allow Log from any thread.
#pragma once

#include <fmt/format.h>

#include <string_view>
#include <utility>

namespace kvd {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

class Logger {
 public:
  virtual ~Logger() = default;
  virtual void Log(LogLevel level, std::string_view component, std::string_view request_id,
                   std::string_view message) = 0;
  virtual bool Enabled(LogLevel level) const = 0;

  template <typename... Args>
  void Logf(LogLevel level, std::string_view component, std::string_view request_id,
            fmt::format_string<Args...> format, Args&&... args) {
    if (!Enabled(level)) return;
    Log(level, component, request_id, fmt::format(format, std::forward<Args>(args)...));
  }
};

// A Logger that drops everything (tests).
class NullLogger final : public Logger {
 public:
  void Log(LogLevel, std::string_view, std::string_view, std::string_view) override {}
  bool Enabled(LogLevel) const override { return false; }
};

}  // namespace kvd

#define KVD_LOG(logger, level, component, rid, ...) \
  (logger).Logf(::kvd::LogLevel::level, component, rid, __VA_ARGS__)
