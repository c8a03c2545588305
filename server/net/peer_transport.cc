#include "server/net/peer_transport.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <deque>
#include <random>

#include "common/assert.h"
#include "common/bytes.h"
#include "common/read_buffer.h"
#include "common/rng.h"
#include "server/net/listen.h"

namespace kvd::net {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kReadChunkBytes = 64u << 10;
// A receive buffer that grew past this to hold one large frame is released once empty, so
// an idle connection does not pin max_message_bytes of memory.
constexpr size_t kKeepReadBufferBytes = 1u << 20;
// In a batch, bodies up to this size are copied next to their frame header; larger ones
// are written from their own string (gather I/O), so batching copies only small messages.
constexpr size_t kCopyBodyBytes = 16u << 10;
// Repeated failures of one kind are logged at most this often.
constexpr auto kRepeatLogInterval = std::chrono::seconds(30);
// An outbound connection that survives this long counts as up: it resets the backoff and
// is logged as "connected". One that dies sooner (typically because the peer refused our
// HELLO) counts as a failed attempt, so a refusing peer is retried with growing backoff
// and without a log line per attempt.
constexpr auto kStableConnection = std::chrono::seconds(1);
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(50);
// Bound on the refusal-log rate limiter's memory.
constexpr size_t kMaxRefusalLogKeys = 256;
constexpr size_t kHelloFixedBytes = 4 + 2 + 8 + 8 + 4;

std::string RemoteOf(const tcp::socket& socket) {
  error_code ec;
  tcp::endpoint ep = socket.remote_endpoint(ec);
  if (ec) return "?";
  return config::Address{ep.address().to_string(), ep.port()}.ToString();
}

// The ceiling of the backoff after `failures` consecutive failures: min, 2min, 4min, ...
// up to max. The delay is then drawn from [ceiling / 2, ceiling] ("equal jitter"), so
// nodes that lost a peer at the same moment do not redial in lockstep.
uint64_t BackoffCeilingMs(uint32_t failures, uint32_t min_ms, uint32_t max_ms) {
  uint64_t ceiling = std::max<uint32_t>(min_ms, 1);
  for (uint32_t i = 1; i < failures && ceiling < max_ms; ++i) ceiling *= 2;
  return std::max<uint64_t>(1, std::min<uint64_t>(ceiling, max_ms));
}

uint64_t SeedFromOs() {
  std::random_device device;
  uint64_t high = device();
  return (high << 32) ^ device();
}

}  // namespace

// ---- Codec ----

void AppendPeerFrameHeader(PeerFrameKind kind, size_t body_bytes, std::string* out) {
  KVD_ASSERT(body_bytes < UINT32_MAX);
  ByteWriter w(out);
  w.U32(static_cast<uint32_t>(body_bytes + 1));
  w.U8(static_cast<uint8_t>(kind));
}

void AppendPeerHelloFrame(const PeerHello& hello, std::string* out) {
  KVD_ASSERT(hello.cluster_name.size() <= kMaxClusterNameBytes);
  AppendPeerFrameHeader(PeerFrameKind::kHello, kHelloFixedBytes + hello.cluster_name.size(), out);
  ByteWriter w(out);
  w.U32(hello.magic);
  w.U16(hello.version);
  w.U64(hello.from_id);
  w.U64(hello.to_id);
  w.Bytes(hello.cluster_name);
}

Status DecodePeerHello(std::string_view body, PeerHello* out) {
  ByteReader r(body);
  PeerHello h;
  auto truncated = [](const char* field) {
    return Status::ProtocolError(fmt::format("HELLO is truncated at field {}", field));
  };
  if (!r.U32(&h.magic)) return truncated("magic");
  if (!r.U16(&h.version)) return truncated("version");
  if (!r.U64(&h.from_id)) return truncated("from_id");
  if (!r.U64(&h.to_id)) return truncated("to_id");
  std::string_view name;
  if (!r.Bytes(&name, static_cast<uint32_t>(kMaxClusterNameBytes))) {
    return Status::ProtocolError(fmt::format(
        "HELLO cluster_name is truncated or longer than {} bytes", kMaxClusterNameBytes));
  }
  if (!r.done()) {
    return Status::ProtocolError(fmt::format("HELLO has {} trailing bytes", r.remaining()));
  }
  h.cluster_name.assign(name);
  *out = std::move(h);
  return Status::Ok();
}

// ---- Core ----

class PeerTransport::Core : public std::enable_shared_from_this<Core> {
 public:
  Core(asio::io_context* io, PeerTransportOptions options, Logger* logger, OnMessage on_message);

  Status Listen();
  config::Address local_address() const { return BoundAddress(acceptor_); }
  void Start();
  void Send(uint64_t to, std::string bytes);
  void AddPeer(uint64_t id, config::Address address);
  void RemovePeer(uint64_t id);
  void Stop();
  std::vector<PeerStats> Stats() const;
  uint64_t unknown_peer_drops() const { return unknown_peer_drops_; }
  size_t inbound_connection_count() const { return inbound_.size(); }

 private:
  // One outbound connection (one dial). A new object per dial, so that the buffers and
  // flags of a broken connection stay with the handlers still pending on it.
  struct OutConn {
    explicit OutConn(asio::io_context* io) : socket(*io), resolver(*io) {}
    void Close() {
      if (closed) return;
      closed = true;
      error_code ignored;
      resolver.cancel();
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
    }

    tcp::socket socket;
    tcp::resolver resolver;
    Clock::time_point connected_at;
    bool connected = false;
    bool closed = false;
    bool hello_sent = false;
    bool write_active = false;
    bool write_scheduled = false;
    // The batch being written: headers and small bodies in `frames`, large bodies in
    // `bodies`, and `buffers` pointing into both in wire order.
    std::string frames;
    std::vector<std::string> bodies;
    std::vector<asio::const_buffer> buffers;
    size_t batch_messages = 0;
    char sink[1] = {};  // the read that notices the peer closing
  };

  // A known peer: its queue, its current outbound connection and its counters.
  struct Peer {
    Peer(asio::io_context* io, uint64_t peer_id, config::Address peer_address)
        : id(peer_id),
          address(std::move(peer_address)),
          rid(fmt::format("p{}", peer_id)),
          timer(*io),
          stable_timer(*io) {}

    uint64_t id;
    config::Address address;
    std::string rid;                // the request-id column of this peer's log lines
    std::deque<std::string> queue;  // message bodies not yet in a batch
    size_t queued_bytes = 0;        // their frame bytes
    std::shared_ptr<OutConn> conn;  // dialling or connected; null while backing off
    // Dial timeout, backoff, or write timeout (one at a time); guarded by a generation
    // because a timer that already fired still delivers success after a re-arm.
    asio::steady_timer timer;
    uint64_t timer_generation = 0;
    asio::steady_timer stable_timer;  // marks a connection as up (kStableConnection)
    bool removed = false;
    bool reported_up = false;  // the last state change logged was "connected"
    uint32_t failures = 0;     // consecutive failed attempts
    Clock::time_point last_failure_log;
    bool queue_full_logged = false;
    PeerStats stats;
  };

  // One accepted connection: read only.
  struct InConn {
    InConn(asio::io_context* io, tcp::socket s, uint64_t conn_id)
        : socket(std::move(s)), hello_timer(*io), id(conn_id), remote(RemoteOf(socket)) {}

    tcp::socket socket;
    asio::steady_timer hello_timer;
    uint64_t id;
    std::string remote;
    ReadBuffer in;
    size_t pending_frame_bytes = 0;  // bytes still missing of a partly received frame
    bool hello_done = false;
    bool closed = false;
    uint64_t from_id = 0;
  };
  using PeerPtr = std::shared_ptr<Peer>;
  using OutPtr = std::shared_ptr<OutConn>;
  using InPtr = std::shared_ptr<InConn>;

  // Outbound.
  bool Stale(const PeerPtr& peer, const OutPtr& conn) const;
  template <typename Fn>
  void ArmTimer(const PeerPtr& peer, uint32_t ms, Fn fn);
  void CancelTimer(const PeerPtr& peer);
  void Dial(const PeerPtr& peer);
  void OnDialed(const PeerPtr& peer, const OutPtr& conn, const error_code& ec);
  void OnDialFailed(const PeerPtr& peer, const std::string& reason);
  void NoteFailure(const PeerPtr& peer, const std::string& what);
  void ScheduleDial(const PeerPtr& peer);
  void WatchForClose(const PeerPtr& peer, const OutPtr& conn);
  void OnStable(const PeerPtr& peer, const OutPtr& conn);
  void Disconnect(const PeerPtr& peer, const std::string& reason);
  void DropConnection(const PeerPtr& peer);
  void ScheduleFlush(const PeerPtr& peer);
  void Flush(const PeerPtr& peer, const OutPtr& conn);
  void BuildBatch(Peer* peer, OutConn* conn);
  void OnWritten(const PeerPtr& peer, const OutPtr& conn, const error_code& ec);

  // Inbound.
  void Accept();
  void ReadInbound(const InPtr& conn);
  void OnInboundRead(const InPtr& conn, const error_code& ec, size_t n);
  // Handles every complete frame in conn->in. Returns false if the connection closed.
  bool ProcessInbound(const InPtr& conn);
  bool HandleInboundFrame(const InPtr& conn, uint8_t kind, std::string_view body);
  bool HandleHello(const InPtr& conn, std::string_view body);
  // Why a decoded HELLO is not acceptable, or "" if it is.
  std::string CheckHello(const PeerHello& hello) const;
  // Logs why and closes; returns false (the connection is closed).
  bool CloseInboundWithError(const InPtr& conn, const std::string& reason);
  void CloseInbound(const InPtr& conn);
  // Rate limit for refusal warnings: true if this (remote host, reason) was not logged
  // during the last kRepeatLogInterval.
  bool ShouldLogRefusal(const std::string& host, const std::string& reason);

  asio::io_context* io_;
  PeerTransportOptions options_;
  Logger* logger_;
  OnMessage on_message_;
  Rng rng_;
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_timer_;
  std::map<uint64_t, PeerPtr> peers_;
  std::map<uint64_t, InPtr> inbound_;
  std::map<std::string, Clock::time_point> refusal_logged_at_;
  uint64_t next_inbound_id_ = 1;
  uint64_t unknown_peer_drops_ = 0;
  bool started_ = false;
  bool stopped_ = false;
};

PeerTransport::Core::Core(asio::io_context* io, PeerTransportOptions options, Logger* logger,
                          OnMessage on_message)
    : io_(io),
      options_(std::move(options)),
      logger_(logger),
      on_message_(std::move(on_message)),
      rng_(SeedFromOs()),
      acceptor_(*io),
      accept_retry_timer_(*io) {
  KVD_ASSERT(options_.self_id >= 1);
  KVD_ASSERT(options_.reconnect_min_ms >= 1);
  KVD_ASSERT(options_.reconnect_min_ms <= options_.reconnect_max_ms);
  KVD_ASSERT(options_.cluster_name.size() <= kMaxClusterNameBytes);
  KVD_ASSERT(options_.max_message_bytes >= 1);
  for (const auto& [id, address] : options_.peers) {
    KVD_ASSERT(id != 0);
    KVD_ASSERT(id != options_.self_id);
    peers_.emplace(id, std::make_shared<Peer>(io_, id, address));
  }
}

Status PeerTransport::Core::Listen() {
  return OpenAcceptor(&acceptor_, options_.listen, "peer_listen");
}

void PeerTransport::Core::Start() {
  if (started_ || stopped_) return;
  started_ = true;
  if (acceptor_.is_open()) Accept();
  for (auto& [id, peer] : peers_) Dial(peer);
}

void PeerTransport::Core::Stop() {
  if (stopped_) return;
  stopped_ = true;
  error_code ignored;
  acceptor_.close(ignored);
  accept_retry_timer_.cancel();
  for (auto& [id, peer] : peers_) {
    DropConnection(peer);
    peer->stats.dropped_messages += peer->queue.size();
    peer->queue.clear();
    peer->queued_bytes = 0;
  }
  std::vector<InPtr> inbound;
  for (auto& [id, conn] : inbound_) inbound.push_back(conn);
  for (auto& conn : inbound) CloseInbound(conn);
  KVD_LOG(*logger_, kDebug, "peer", "-", "peer transport stopped");
}

std::vector<PeerTransport::PeerStats> PeerTransport::Core::Stats() const {
  std::vector<PeerStats> out;
  out.reserve(peers_.size());
  for (const auto& [id, peer] : peers_) {
    PeerStats s = peer->stats;
    s.id = id;
    s.address = peer->address;
    s.connected = peer->conn != nullptr && peer->conn->connected;
    s.queued_bytes = peer->queued_bytes;
    out.push_back(std::move(s));
  }
  return out;
}

// ---- Membership ----

void PeerTransport::Core::AddPeer(uint64_t id, config::Address address) {
  if (stopped_) return;
  if (id == 0 || id == options_.self_id) {
    KVD_LOG(*logger_, kWarn, "peer", "-", "ignoring AddPeer for id {} (this node is {})", id,
            options_.self_id);
    return;
  }
  auto it = peers_.find(id);
  if (it != peers_.end()) {
    PeerPtr peer = it->second;
    if (peer->address == address) return;
    KVD_LOG(*logger_, kInfo, "peer", peer->rid, "peer {} moved from {} to {}", id,
            peer->address.ToString(), address.ToString());
    peer->address = std::move(address);
    DropConnection(peer);
    peer->failures = 0;
    peer->reported_up = false;
    if (started_) Dial(peer);
    return;
  }
  auto peer = std::make_shared<Peer>(io_, id, std::move(address));
  peers_.emplace(id, peer);
  KVD_LOG(*logger_, kInfo, "peer", peer->rid, "added peer {} at {}", id, peer->address.ToString());
  if (started_) Dial(peer);
}

void PeerTransport::Core::RemovePeer(uint64_t id) {
  auto it = peers_.find(id);
  if (it == peers_.end()) return;
  PeerPtr peer = it->second;
  peers_.erase(it);
  peer->removed = true;
  DropConnection(peer);
  peer->queue.clear();
  peer->queued_bytes = 0;
  KVD_LOG(*logger_, kInfo, "peer", peer->rid, "removed peer {} at {}", id,
          peer->address.ToString());
}

// ---- Outbound: dialling ----

bool PeerTransport::Core::Stale(const PeerPtr& peer, const OutPtr& conn) const {
  return stopped_ || peer->removed || peer->conn != conn || conn->closed;
}

template <typename Fn>
void PeerTransport::Core::ArmTimer(const PeerPtr& peer, uint32_t ms, Fn fn) {
  uint64_t generation = ++peer->timer_generation;
  peer->timer.expires_after(std::chrono::milliseconds(ms));
  peer->timer.async_wait(
      [self = shared_from_this(), peer, generation, fn = std::move(fn)](const error_code& ec) {
        if (ec || self->stopped_ || peer->removed || peer->timer_generation != generation) return;
        fn();
      });
}

void PeerTransport::Core::CancelTimer(const PeerPtr& peer) {
  ++peer->timer_generation;
  peer->timer.cancel();
}

void PeerTransport::Core::Dial(const PeerPtr& peer) {
  KVD_ASSERT(peer->conn == nullptr);
  auto conn = std::make_shared<OutConn>(io_);
  peer->conn = conn;
  ArmTimer(peer, options_.connect_timeout_ms, [this, peer] {
    OnDialFailed(peer, fmt::format("timed out after {} ms", options_.connect_timeout_ms));
  });
  auto self = shared_from_this();
  const config::Address& address = peer->address;
  error_code ec;
  asio::ip::address ip = asio::ip::make_address(address.host, ec);
  if (!ec) {
    conn->socket.async_connect(
        tcp::endpoint(ip, address.port),
        [self, peer, conn](const error_code& e) { self->OnDialed(peer, conn, e); });
    return;
  }
  // A host name (e.g. a docker compose service): resolved on every dial, so a peer whose
  // address changes behind its name is found again.
  conn->resolver.async_resolve(
      address.host, std::to_string(address.port),
      [self, peer, conn](const error_code& e, const tcp::resolver::results_type& results) {
        if (self->Stale(peer, conn)) return;
        if (e) {
          self->OnDialFailed(peer, fmt::format("resolve {}: {}", peer->address.host, e.message()));
          return;
        }
        asio::async_connect(conn->socket, results,
                            [self, peer, conn](const error_code& e2, const tcp::endpoint&) {
                              self->OnDialed(peer, conn, e2);
                            });
      });
}

void PeerTransport::Core::OnDialed(const PeerPtr& peer, const OutPtr& conn, const error_code& ec) {
  if (Stale(peer, conn)) return;
  if (ec) {
    OnDialFailed(peer, ec.message());
    return;
  }
  CancelTimer(peer);
  conn->connected = true;
  conn->connected_at = Clock::now();
  error_code ignored;
  conn->socket.set_option(tcp::no_delay(true), ignored);
  KVD_LOG(*logger_, kDebug, "peer", peer->rid, "dialled peer {} at {}", peer->id,
          peer->address.ToString());
  peer->stable_timer.expires_after(kStableConnection);
  peer->stable_timer.async_wait([self = shared_from_this(), peer, conn](const error_code& e) {
    if (e || self->Stale(peer, conn)) return;
    self->OnStable(peer, conn);
  });
  WatchForClose(peer, conn);
  Flush(peer, conn);  // the HELLO, and whatever was queued while disconnected
}

void PeerTransport::Core::OnStable(const PeerPtr& peer, const OutPtr& /*conn*/) {
  if (!peer->reported_up) {
    if (peer->failures > 0) {
      KVD_LOG(*logger_, kInfo, "peer", peer->rid,
              "connected to peer {} at {} after {} failed attempts", peer->id,
              peer->address.ToString(), peer->failures);
    } else {
      KVD_LOG(*logger_, kInfo, "peer", peer->rid, "connected to peer {} at {}", peer->id,
              peer->address.ToString());
    }
  }
  peer->reported_up = true;
  peer->failures = 0;
}

void PeerTransport::Core::OnDialFailed(const PeerPtr& peer, const std::string& reason) {
  DropConnection(peer);
  NoteFailure(peer, fmt::format("cannot connect to peer {} at {}: {}", peer->id,
                                peer->address.ToString(), reason));
  ScheduleDial(peer);
}

void PeerTransport::Core::NoteFailure(const PeerPtr& peer, const std::string& what) {
  ++peer->stats.connect_failures;
  ++peer->failures;
  // The first failure of a streak is logged, then at most one line per interval: a peer
  // that is down for an hour costs a few hundred lines, not one per retry.
  Clock::time_point now = Clock::now();
  if (peer->failures == 1) {
    peer->last_failure_log = now;
    KVD_LOG(*logger_, kWarn, "peer", peer->rid, "{}; retrying with backoff", what);
  } else if (now - peer->last_failure_log >= kRepeatLogInterval) {
    peer->last_failure_log = now;
    KVD_LOG(*logger_, kWarn, "peer", peer->rid, "{} ({} attempts failed so far)", what,
            peer->failures);
  }
}

void PeerTransport::Core::ScheduleDial(const PeerPtr& peer) {
  uint64_t ceiling =
      BackoffCeilingMs(peer->failures, options_.reconnect_min_ms, options_.reconnect_max_ms);
  uint64_t delay = rng_.Range(std::max<uint64_t>(1, ceiling / 2), ceiling);
  ArmTimer(peer, static_cast<uint32_t>(delay), [this, peer] {
    if (peer->conn == nullptr) Dial(peer);
  });
}

void PeerTransport::Core::WatchForClose(const PeerPtr& peer, const OutPtr& conn) {
  // The peer never writes on this connection, so the read completes only when the peer
  // closes it (EOF or reset) or breaks the protocol; either way the link is redialled.
  // This notices a restarted peer at once instead of at the next write.
  conn->socket.async_read_some(asio::buffer(conn->sink), [self = shared_from_this(), peer, conn](
                                                             const error_code& ec, size_t) {
    if (self->Stale(peer, conn)) return;
    if (!ec) {
      self->Disconnect(peer, "the peer sent bytes on a send-only connection");
    } else if (ec == asio::error::eof) {
      self->Disconnect(peer, "closed by the peer");
    } else {
      self->Disconnect(peer, ec.message());
    }
  });
}

void PeerTransport::Core::DropConnection(const PeerPtr& peer) {
  CancelTimer(peer);
  peer->stable_timer.cancel();
  if (peer->conn == nullptr) return;
  // The batch being written may be partly on the wire: it is lost, and Raft's own
  // retransmission (or the next heartbeat) makes up for it.
  if (peer->conn->write_active) peer->stats.dropped_messages += peer->conn->batch_messages;
  peer->conn->Close();
  peer->conn.reset();
}

void PeerTransport::Core::Disconnect(const PeerPtr& peer, const std::string& reason) {
  DropConnection(peer);
  if (peer->reported_up) {
    peer->reported_up = false;
    peer->failures = 0;
    KVD_LOG(*logger_, kWarn, "peer", peer->rid, "lost connection to peer {} at {}: {}", peer->id,
            peer->address.ToString(), reason);
  } else {
    NoteFailure(peer, fmt::format("connection to peer {} at {} closed soon after connecting "
                                  "({}); is the peer refusing this node? see its log",
                                  peer->id, peer->address.ToString(), reason));
  }
  ScheduleDial(peer);
}

// ---- Outbound: sending ----

void PeerTransport::Core::Send(uint64_t to, std::string bytes) {
  auto it = peers_.find(to);
  if (it == peers_.end()) {
    ++unknown_peer_drops_;
    KVD_LOG(*logger_, kDebug, "peer", "-", "dropping a message for unknown peer {}", to);
    return;
  }
  const PeerPtr& peer = it->second;
  if (stopped_) {
    ++peer->stats.dropped_messages;
    return;
  }
  if (bytes.size() >= options_.max_message_bytes) {
    ++peer->stats.dropped_messages;
    KVD_LOG(*logger_, kWarn, "peer", peer->rid,
            "dropping a {}-byte message for peer {}: frames are limited to {} bytes", bytes.size(),
            to, options_.max_message_bytes);
    return;
  }
  size_t frame_bytes = kPeerFrameHeaderBytes + bytes.size();
  if (peer->queued_bytes + frame_bytes > options_.max_queue_bytes) {
    ++peer->stats.dropped_messages;
    if (!peer->queue_full_logged) {
      peer->queue_full_logged = true;
      KVD_LOG(*logger_, kWarn, "peer", peer->rid,
              "queue for peer {} is full ({} bytes queued, limit {}); dropping messages", to,
              peer->queued_bytes, options_.max_queue_bytes);
    }
    return;
  }
  peer->queue.push_back(std::move(bytes));
  peer->queued_bytes += frame_bytes;
  ScheduleFlush(peer);
}

void PeerTransport::Core::ScheduleFlush(const PeerPtr& peer) {
  const OutPtr& conn = peer->conn;
  if (conn == nullptr || !conn->connected || conn->write_active || conn->write_scheduled) {
    return;  // not connected (the queue waits) or a write is coming anyway
  }
  conn->write_scheduled = true;
  // Deferred to the end of this loop turn, so that every message produced in it (one
  // Raft Ready may hold many) leaves in one write.
  asio::post(*io_, [self = shared_from_this(), peer, conn] {
    conn->write_scheduled = false;
    if (self->Stale(peer, conn)) return;
    self->Flush(peer, conn);
  });
}

void PeerTransport::Core::Flush(const PeerPtr& peer, const OutPtr& conn) {
  if (conn->write_active || !conn->connected) return;
  if (peer->queue.empty() && conn->hello_sent) return;
  BuildBatch(peer.get(), conn.get());
  conn->write_active = true;
  ArmTimer(peer, options_.write_timeout_ms, [this, peer] {
    Disconnect(peer,
               fmt::format("a write did not complete within {} ms", options_.write_timeout_ms));
  });
  asio::async_write(conn->socket, conn->buffers,
                    [self = shared_from_this(), peer, conn](const error_code& ec, size_t) {
                      self->OnWritten(peer, conn, ec);
                    });
}

void PeerTransport::Core::BuildBatch(Peer* peer, OutConn* conn) {
  // Size `frames` and `bodies` first, so that the buffers taken below never move.
  size_t frames_bytes = 0;
  size_t large = 0;
  for (const std::string& body : peer->queue) {
    frames_bytes += kPeerFrameHeaderBytes;
    if (body.size() <= kCopyBodyBytes) {
      frames_bytes += body.size();
    } else {
      ++large;
    }
  }
  conn->frames.clear();
  conn->bodies.clear();
  conn->buffers.clear();
  conn->frames.reserve(frames_bytes + kPeerFrameHeaderBytes + kMaxPeerHelloFrameBytes);
  conn->bodies.reserve(large);
  const char* frames_base = conn->frames.data();
  if (!conn->hello_sent) {
    conn->hello_sent = true;
    PeerHello hello;
    hello.from_id = options_.self_id;
    hello.to_id = peer->id;
    hello.cluster_name = options_.cluster_name;
    AppendPeerHelloFrame(hello, &conn->frames);
  }
  size_t run_start = 0;  // start of the part of `frames` not yet in `buffers`
  for (std::string& body : peer->queue) {
    AppendPeerFrameHeader(PeerFrameKind::kMessage, body.size(), &conn->frames);
    if (body.size() <= kCopyBodyBytes) {
      conn->frames.append(body);
      continue;
    }
    conn->buffers.emplace_back(conn->frames.data() + run_start, conn->frames.size() - run_start);
    run_start = conn->frames.size();
    conn->bodies.push_back(std::move(body));
    conn->buffers.emplace_back(conn->bodies.back().data(), conn->bodies.back().size());
  }
  if (run_start < conn->frames.size()) {
    conn->buffers.emplace_back(conn->frames.data() + run_start, conn->frames.size() - run_start);
  }
  KVD_ASSERT(conn->frames.data() == frames_base);  // the buffers above are still valid
  conn->batch_messages = peer->queue.size();
  peer->queue.clear();
  peer->queued_bytes = 0;
  peer->queue_full_logged = false;
}

void PeerTransport::Core::OnWritten(const PeerPtr& peer, const OutPtr& conn, const error_code& ec) {
  conn->write_active = false;
  if (Stale(peer, conn)) return;  // DropConnection counted the batch as dropped
  CancelTimer(peer);
  if (ec) {
    peer->stats.dropped_messages += conn->batch_messages;  // partly written at most
    conn->batch_messages = 0;
    Disconnect(peer, fmt::format("write: {}", ec.message()));
    return;
  }
  peer->stats.sent_messages += conn->batch_messages;
  ++peer->stats.write_batches;
  conn->batch_messages = 0;
  conn->bodies.clear();
  conn->buffers.clear();
  if (conn->frames.capacity() > kKeepReadBufferBytes) {
    std::string().swap(conn->frames);
  } else {
    conn->frames.clear();
  }
  Flush(peer, conn);  // messages queued while this batch was being written
}

// ---- Inbound ----

void PeerTransport::Core::Accept() {
  acceptor_.async_accept([self = shared_from_this()](const error_code& ec, tcp::socket socket) {
    if (self->stopped_) {
      error_code ignored;
      socket.close(ignored);
      return;
    }
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      // Out of file descriptors and similar: keep accepting after a pause, so a burst
      // does not spin the loop.
      KVD_LOG(*self->logger_, kWarn, "peer", "-", "accepting a peer connection failed: {}",
              ec.message());
      self->accept_retry_timer_.expires_after(kAcceptRetryDelay);
      self->accept_retry_timer_.async_wait([self](const error_code& e) {
        if (!e && !self->stopped_) self->Accept();
      });
      return;
    }
    if (self->inbound_.size() >= self->options_.max_inbound_connections) {
      std::string remote = RemoteOf(socket);
      std::string reason = fmt::format("too many inbound peer connections (limit {})",
                                       self->options_.max_inbound_connections);
      if (self->ShouldLogRefusal(remote, reason)) {
        KVD_LOG(*self->logger_, kWarn, "peer", "-", "refusing peer connection from {}: {}", remote,
                reason);
      }
      error_code ignored;
      socket.close(ignored);
      self->Accept();
      return;
    }
    uint64_t id = self->next_inbound_id_++;
    auto conn = std::make_shared<InConn>(self->io_, std::move(socket), id);
    self->inbound_.emplace(id, conn);
    KVD_LOG(*self->logger_, kDebug, "peer", "-", "accepted a connection from {}", conn->remote);
    conn->hello_timer.expires_after(std::chrono::milliseconds(self->options_.hello_timeout_ms));
    conn->hello_timer.async_wait([self, conn](const error_code& e) {
      if (e || self->stopped_ || conn->closed || conn->hello_done) return;
      self->CloseInboundWithError(
          conn, fmt::format("no HELLO within {} ms", self->options_.hello_timeout_ms));
    });
    self->ReadInbound(conn);
    self->Accept();
  });
}

void PeerTransport::Core::ReadInbound(const InPtr& conn) {
  // At least a chunk, or the rest of a large frame that has started to arrive.
  char* dest = conn->in.Reserve(std::max(kReadChunkBytes, conn->pending_frame_bytes));
  conn->socket.async_read_some(asio::buffer(dest, conn->in.WritableBytes()),
                               [self = shared_from_this(), conn](const error_code& ec, size_t n) {
                                 self->OnInboundRead(conn, ec, n);
                               });
}

void PeerTransport::Core::OnInboundRead(const InPtr& conn, const error_code& ec, size_t n) {
  if (stopped_ || conn->closed) return;
  if (ec) {
    std::string reason = ec == asio::error::eof ? "closed by the peer" : ec.message();
    if (conn->hello_done) {
      KVD_LOG(*logger_, kInfo, "peer", fmt::format("p{}", conn->from_id),
              "inbound connection from peer {} at {} ended: {}", conn->from_id, conn->remote,
              reason);
    } else {
      KVD_LOG(*logger_, kDebug, "peer", "-", "connection from {} ended before HELLO: {}",
              conn->remote, reason);
    }
    CloseInbound(conn);
    return;
  }
  conn->in.Commit(n);
  if (!ProcessInbound(conn)) return;
  if (conn->in.Readable().empty() && conn->in.capacity() > kKeepReadBufferBytes) {
    conn->in = ReadBuffer();
  }
  ReadInbound(conn);
}

bool PeerTransport::Core::ProcessInbound(const InPtr& conn) {
  conn->pending_frame_bytes = 0;
  for (;;) {
    std::string_view avail = conn->in.Readable();
    if (avail.size() < kPeerFrameHeaderBytes) return true;
    size_t length = GetU32BE(avail.data());
    auto kind = static_cast<uint8_t>(avail[4]);
    // Judge the header before buffering the body: a garbage length must not make this
    // node allocate memory for it.
    if (!conn->hello_done && kind != static_cast<uint8_t>(PeerFrameKind::kHello)) {
      return CloseInboundWithError(
          conn, fmt::format("the first frame must be HELLO (kind 1), got kind {}", kind));
    }
    size_t limit = conn->hello_done ? options_.max_message_bytes : kMaxPeerHelloFrameBytes;
    if (length == 0 || length > limit) {
      return CloseInboundWithError(conn,
                                   fmt::format("frame length {} is outside 1..{}", length, limit));
    }
    size_t frame_bytes = 4 + length;
    if (avail.size() < frame_bytes) {
      // Wait for the rest; the next read makes room for the whole frame.
      conn->pending_frame_bytes = frame_bytes - avail.size();
      return true;
    }
    if (!HandleInboundFrame(conn, kind, avail.substr(kPeerFrameHeaderBytes, length - 1))) {
      return false;
    }
    conn->in.Consume(frame_bytes);
  }
}

bool PeerTransport::Core::HandleInboundFrame(const InPtr& conn, uint8_t kind,
                                             std::string_view body) {
  if (!conn->hello_done) return HandleHello(conn, body);
  switch (static_cast<PeerFrameKind>(kind)) {
    case PeerFrameKind::kHello:
      return CloseInboundWithError(conn, "a second HELLO on the connection");
    case PeerFrameKind::kMessage: {
      auto it = peers_.find(conn->from_id);
      if (it != peers_.end()) ++it->second->stats.received_messages;
      if (on_message_) on_message_(conn->from_id, body);
      // The callback may have stopped (or destroyed) the transport or this connection.
      return !stopped_ && !conn->closed;
    }
  }
  return CloseInboundWithError(conn, fmt::format("unknown frame kind {}", kind));
}

bool PeerTransport::Core::HandleHello(const InPtr& conn, std::string_view body) {
  // The magic first: a client of some other protocol gets the clearest message.
  if (body.size() >= 4 && GetU32BE(body.data()) != kPeerMagic) {
    return CloseInboundWithError(
        conn, fmt::format("bad magic 0x{:08x} in HELLO (not a kvd peer?)", GetU32BE(body.data())));
  }
  PeerHello hello;
  if (Status s = DecodePeerHello(body, &hello); !s.ok()) {
    return CloseInboundWithError(conn, s.message());
  }
  if (std::string why = CheckHello(hello); !why.empty()) {
    return CloseInboundWithError(conn, why);
  }
  conn->hello_done = true;
  conn->from_id = hello.from_id;
  conn->hello_timer.cancel();
  bool known = peers_.count(hello.from_id) > 0;
  // A node that is not (yet) a configured peer is accepted: during a membership change
  // the new member may reach this node before this node learns of it, and the topology
  // core decides what to do with its messages.
  logger_->Logf(known ? LogLevel::kInfo : LogLevel::kWarn, "peer",
                fmt::format("p{}", hello.from_id), "accepted connection from peer {} at {}{}",
                hello.from_id, conn->remote, known ? "" : " (not a configured peer)");
  return true;
}

std::string PeerTransport::Core::CheckHello(const PeerHello& hello) const {
  if (hello.version != kPeerProtocolVersion) {
    return fmt::format("peer protocol version {} is not supported (this node speaks {})",
                       hello.version, kPeerProtocolVersion);
  }
  if (hello.cluster_name != options_.cluster_name) {
    return fmt::format("cluster name \"{}\" does not match this node's \"{}\"", hello.cluster_name,
                       options_.cluster_name);
  }
  if (hello.to_id != options_.self_id) {
    return fmt::format(
        "HELLO is addressed to node {}, but this is node {} (wrong address "
        "in the sender's peer list?)",
        hello.to_id, options_.self_id);
  }
  if (hello.from_id == 0 || hello.from_id == options_.self_id) {
    return fmt::format("sender id {} is invalid (0, or this node's own id)", hello.from_id);
  }
  return "";
}

bool PeerTransport::Core::CloseInboundWithError(const InPtr& conn, const std::string& reason) {
  if (conn->hello_done) {
    KVD_LOG(*logger_, kWarn, "peer", fmt::format("p{}", conn->from_id),
            "closing connection from peer {} at {}: {}", conn->from_id, conn->remote, reason);
  } else {
    // A misconfigured node retries every few seconds: one line per remote host and
    // reason per interval says everything.
    std::string host = conn->remote.substr(0, conn->remote.rfind(':'));
    bool warn = ShouldLogRefusal(host, reason);
    logger_->Logf(warn ? LogLevel::kWarn : LogLevel::kDebug, "peer", "-",
                  "refusing peer connection from {}: {}", conn->remote, reason);
  }
  CloseInbound(conn);
  return false;
}

void PeerTransport::Core::CloseInbound(const InPtr& conn) {
  if (conn->closed) return;
  conn->closed = true;
  conn->hello_timer.cancel();
  error_code ignored;
  conn->socket.shutdown(tcp::socket::shutdown_both, ignored);
  conn->socket.close(ignored);
  inbound_.erase(conn->id);
}

bool PeerTransport::Core::ShouldLogRefusal(const std::string& host, const std::string& reason) {
  Clock::time_point now = Clock::now();
  std::string key = host + '\n' + reason;
  auto it = refusal_logged_at_.find(key);
  if (it != refusal_logged_at_.end() && now - it->second < kRepeatLogInterval) return false;
  if (refusal_logged_at_.size() >= kMaxRefusalLogKeys) {
    std::erase_if(refusal_logged_at_,
                  [&](const auto& entry) { return now - entry.second >= kRepeatLogInterval; });
    if (refusal_logged_at_.size() >= kMaxRefusalLogKeys) refusal_logged_at_.clear();
  }
  refusal_logged_at_[key] = now;
  return true;
}

// ---- PeerTransport ----

PeerTransport::PeerTransport(asio::io_context* io, PeerTransportOptions options, Logger* logger,
                             OnMessage on_message)
    : core_(std::make_shared<Core>(io, std::move(options), logger, std::move(on_message))) {}

PeerTransport::~PeerTransport() { core_->Stop(); }

Status PeerTransport::Listen() { return core_->Listen(); }
config::Address PeerTransport::local_address() const { return core_->local_address(); }
void PeerTransport::Start() { core_->Start(); }
void PeerTransport::Send(uint64_t to, std::string bytes) { core_->Send(to, std::move(bytes)); }
void PeerTransport::AddPeer(uint64_t id, config::Address address) {
  core_->AddPeer(id, std::move(address));
}
void PeerTransport::RemovePeer(uint64_t id) { core_->RemovePeer(id); }
void PeerTransport::Stop() { core_->Stop(); }
std::vector<PeerTransport::PeerStats> PeerTransport::Stats() const { return core_->Stats(); }
uint64_t PeerTransport::unknown_peer_drops() const { return core_->unknown_peer_drops(); }
size_t PeerTransport::inbound_connection_count() const { return core_->inbound_connection_count(); }

}  // namespace kvd::net
