// Server: the client-protocol listener and its connections, on one Asio io_context (the
// node's loop thread, shared with NodeRuntime).
//
// Each connection reads frames into a buffer, decodes them (common/wire) and answers
// HELLO, PING and STATUS itself; data requests go to the NodeRuntime, whose answers come
// back through Deliver(). Bad input never takes the server down: a malformed frame gets a
// PROTOCOL_ERROR answer carrying its request id, then that connection alone is closed; a
// request over a configured limit gets INVALID_ARGUMENT and the connection stays open.
// Backpressure: a connection with limits.max_inflight_per_connection unanswered requests
// is not read from until answers go out.
//
// Thread-safety: all methods on the loop thread.
#pragma once

#include <utility>  // must precede Asio with GCC 12 + C++20 (see README, build notes)

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "common/config/config.h"
#include "common/log.h"
#include "server/admin/metrics.h"
#include "server/node/node_runtime.h"

namespace kvd::net {

class Connection;

class Server {
 public:
  using StatusFn = std::function<std::string()>;

  // REQUIRES: every argument outlives the server.
  Server(boost::asio::io_context* io, const config::Config* config, node::NodeRuntime* runtime,
         Logger* logger, admin::Metrics* metrics, StatusFn status_json);
  ~Server();

  // Binds the listener. Errors: kIOError naming the address and the OS error
  // ("listen 127.0.0.1:7379: Address already in use").
  Status Listen();
  // The bound address (useful with port 0).
  config::Address local_address() const;
  void StartAccepting();
  // Stops accepting and stops reading new requests; connections close once their
  // answered requests are written.
  void BeginShutdown();
  // Closes every connection now.
  void CloseAll();
  size_t connection_count() const { return connections_.size(); }

  // Answer for a request a connection submitted (NodeRuntime::Hooks::deliver).
  void Deliver(const topology::ClientRef& ref, wire::Response response);

 private:
  friend class Connection;
  void Accept();
  void Reject(boost::asio::ip::tcp::socket socket);
  void Forget(uint64_t connection_id);
  void ArmIdleSweep();

  boost::asio::io_context* io_;
  const config::Config* config_;
  node::NodeRuntime* runtime_;
  Logger* logger_;
  admin::Metrics* metrics_;
  StatusFn status_json_;
  wire::Limits limits_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer idle_timer_;
  std::map<uint64_t, std::shared_ptr<Connection>> connections_;
  uint64_t next_connection_id_ = 1;
  bool shutting_down_ = false;
};

}  // namespace kvd::net
