#include "server/net/server.h"

#include <fmt/format.h>

#include <boost/asio/write.hpp>
#include <chrono>

#include "server/net/connection.h"
#include "common/wire/codec.h"
#include "server/net/listen.h"

namespace kvd::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
constexpr auto kIdleSweepInterval = std::chrono::seconds(1);
}  // namespace

Server::Server(asio::io_context* io, const config::Config* config, node::NodeRuntime* runtime,
               Logger* logger, admin::Metrics* metrics, StatusFn status_json)
    : io_(io),
      config_(config),
      runtime_(runtime),
      logger_(logger),
      metrics_(metrics),
      status_json_(std::move(status_json)),
      acceptor_(*io),
      idle_timer_(*io) {
  limits_.max_frame_bytes = config->limits.max_frame_bytes;
  limits_.max_key_bytes = config->limits.max_key_bytes;
  limits_.max_value_bytes = config->limits.max_value_bytes;
  limits_.max_batch_ops = config->limits.max_batch_ops;
  limits_.max_scan_limit = config->limits.max_scan_limit;
}

Server::~Server() { CloseAll(); }

Status Server::Listen() { return OpenAcceptor(&acceptor_, config_->server.listen, "listen"); }

config::Address Server::local_address() const { return BoundAddress(acceptor_); }

void Server::StartAccepting() {
  Accept();
  ArmIdleSweep();
}

void Server::Accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || shutting_down_) return;
      // Out of file descriptors and similar: log, and keep accepting after a pause so a
      // burst does not spin the loop.
      KVD_LOG(*logger_, kWarn, "net", "-", "accept failed: {}", ec.message());
      auto timer = std::make_shared<asio::steady_timer>(*io_, std::chrono::milliseconds(50));
      timer->async_wait([this, timer](const boost::system::error_code&) {
        if (!shutting_down_) Accept();
      });
      return;
    }
    if (shutting_down_) {
      boost::system::error_code ignored;
      socket.close(ignored);  // accepted just before the acceptor closed
      return;
    }
    if (connections_.size() >= config_->server.max_connections) {
      Reject(std::move(socket));
      Accept();
      return;
    }
    uint64_t id = next_connection_id_++;
    auto conn = std::make_shared<Connection>(this, std::move(socket), id);
    connections_.emplace(id, conn);
    metrics_->ConnectionOpened();
    KVD_LOG(*logger_, kDebug, "net", fmt::format("c{}", id), "accepted connection from {}",
            conn->peer());
    conn->Start();
    Accept();
  });
}

void Server::Reject(tcp::socket socket) {
  // Over server.max_connections: answer at once, without reading (the client's HELLO may
  // never come) and without a Connection, so refused sockets neither count against the
  // limit nor stay open. The answer carries request id 0 (docs/PROTOCOL.md).
  metrics_->ConnectionRejected();
  KVD_LOG(*logger_, kWarn, "net", "-", "refusing a connection: server.max_connections ({}) reached",
          config_->server.max_connections);
  auto frame = std::make_shared<std::string>();
  wire::EncodeResponse(
      wire::Response::Error(0, wire::Opcode::kHello,
                            Status::Unavailable(fmt::format(
                                "too many connections (server.max_connections is {})",
                                config_->server.max_connections))),
      frame.get());
  auto sock = std::make_shared<tcp::socket>(std::move(socket));
  asio::async_write(*sock, asio::buffer(*frame),
                    [sock, frame](const boost::system::error_code&, size_t) {
                      boost::system::error_code ignored;
                      sock->shutdown(tcp::socket::shutdown_both, ignored);
                      sock->close(ignored);
                    });
}

void Server::ArmIdleSweep() {
  if (config_->server.idle_timeout_ms == 0) return;
  idle_timer_.expires_after(kIdleSweepInterval);
  idle_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || shutting_down_) return;
    auto now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::steady_clock::now().time_since_epoch())
                                         .count());
    uint64_t limit_ns = uint64_t{config_->server.idle_timeout_ms} * 1'000'000;
    std::vector<std::shared_ptr<Connection>> idle;
    for (auto& [id, conn] : connections_) {
      if (conn->idle() && now - conn->last_activity_ns() > limit_ns) idle.push_back(conn);
    }
    for (auto& conn : idle) {
      KVD_LOG(*logger_, kDebug, "net", fmt::format("c{}", conn->id()),
              "closing idle connection from {}", conn->peer());
      conn->Close();
    }
    ArmIdleSweep();
  });
}

void Server::BeginShutdown() {
  shutting_down_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  idle_timer_.cancel();
  std::vector<std::shared_ptr<Connection>> all;
  for (auto& [id, conn] : connections_) all.push_back(conn);
  for (auto& conn : all) conn->StopReading();
}

void Server::CloseAll() {
  std::vector<std::shared_ptr<Connection>> all;
  for (auto& [id, conn] : connections_) all.push_back(conn);
  for (auto& conn : all) conn->Close();
}

void Server::Forget(uint64_t connection_id) {
  if (connections_.erase(connection_id) > 0) metrics_->ConnectionClosed();
}

void Server::Deliver(const topology::ClientRef& ref, wire::Response response) {
  auto it = connections_.find(ref.connection_id);
  if (it == connections_.end()) {
    // The client went away; its request was still applied, like any request whose
    // answer is lost in the network.
    return;
  }
  it->second->Deliver(std::move(response), ref.start_ns);
}

}  // namespace kvd::net
