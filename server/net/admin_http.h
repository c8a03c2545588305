// AdminHttp: the node's admin endpoint (Boost.Beast), on its own thread and io_context so
// that a slow scraper never delays client traffic.
//
//   GET /metrics   Prometheus text format 0.0.4 (server/admin/metrics.h)
//   GET /status    the node's state as JSON (the same document as the STATUS request)
//   GET /healthz   "ok" while the node serves
// Anything else: 404; methods other than GET and HEAD: 405. Requests are read with a
// size limit and a timeout; one request per connection is enough for scrapers, but
// keep-alive is honoured.
//
// Thread-safety: Start/Stop from the owner thread; the handlers run on the admin thread
// and must be thread-safe themselves.
#pragma once

#include <utility>  // must precede Asio with GCC 12 + C++20

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "common/config/config.h"
#include "common/log.h"

namespace kvd::net {

class AdminHttp {
 public:
  struct Handlers {
    std::function<std::string()> metrics;  // Prometheus text
    std::function<std::string()> status;   // JSON; may return "" if the node is busy
  };

  AdminHttp(config::Address address, Handlers handlers, Logger* logger);
  ~AdminHttp();

  // Binds the address. Errors: kIOError naming the address and the OS error.
  Status Listen();
  config::Address local_address() const;
  // Starts serving on a new thread.
  void Start();
  void Stop();

 private:
  void Accept();

  config::Address address_;
  Handlers handlers_;
  Logger* logger_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
};

}  // namespace kvd::net
