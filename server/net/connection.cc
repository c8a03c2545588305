#include "server/net/connection.h"

#include <fmt/format.h>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <chrono>

#include "common/bytes.h"
#include "server/net/server.h"
#include "server/node/clock.h"

namespace kvd::net {

namespace asio = boost::asio;

using node::SteadyNanos;
using node::WallMillis;

namespace {
constexpr size_t kReadChunkBytes = 64u << 10;

}  // namespace

Connection::Connection(Server* server, asio::ip::tcp::socket socket, uint64_t id)
    : server_(server), socket_(std::move(socket)), id_(id) {
  boost::system::error_code ec;
  auto ep = socket_.remote_endpoint(ec);
  peer_ = ec ? std::string("?") : fmt::format("{}:{}", ep.address().to_string(), ep.port());
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  last_activity_ns_ = SteadyNanos();
}

void Connection::Start() { Read(); }

bool Connection::CanProcess() const {
  // Backpressure: stop taking requests while too many are unanswered, or while answers
  // pile up because the client does not read them.
  return !closed_ && !closing_ &&
         inflight_ < server_->config_->limits.max_inflight_per_connection &&
         out_.size() + writing_.size() < OutputLimitBytes();
}

size_t Connection::OutputLimitBytes() const {
  return std::max<size_t>(kReadChunkBytes, server_->config_->limits.max_frame_bytes);
}

bool Connection::ReadAllowed() const { return !read_closed_ && CanProcess(); }

void Connection::Resume() {
  if (read_active_ || closed_) return;
  // Frames read earlier but held back by backpressure go first.
  if (!ProcessFrames()) return;
  Read();
}

void Connection::Read() {
  if (read_active_ || !ReadAllowed()) return;
  // At least a chunk, or the rest of a large frame that has started to arrive.
  char* dest = in_.Reserve(std::max(kReadChunkBytes, pending_frame_bytes_));
  read_active_ = true;
  socket_.async_read_some(
      asio::buffer(dest, in_.WritableBytes()),
      [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
        self->OnRead(ec, n);
      });
}

void Connection::OnRead(const boost::system::error_code& ec, size_t n) {
  read_active_ = false;
  if (closed_) return;
  if (ec) {
    // EOF or a reset: answer what was read (a client may half-close after its requests),
    // then close.
    if (ec != asio::error::eof && ec != asio::error::operation_aborted) {
      KVD_LOG(*server_->logger_, kDebug, "net", fmt::format("c{}", id_), "read error: {}",
              ec.message());
    }
    read_closed_ = true;
    MaybeFinish();
    return;
  }
  in_.Commit(n);
  last_activity_ns_ = SteadyNanos();
  server_->metrics_->AddBytesReceived(n);
  if (!ProcessFrames()) return;
  Read();
}

bool Connection::ProcessFrames() {
  const uint32_t max_frame = server_->config_->limits.max_frame_bytes;
  pending_frame_bytes_ = 0;
  while (in_.Readable().size() >= wire::kFrameHeaderBytes && CanProcess()) {
    std::string_view avail = in_.Readable();
    wire::FrameHeader header;
    Status s = wire::DecodeFrameHeader(avail, max_frame, &header);
    if (!s.ok()) {
      ProtocolError(header.request_id, header.opcode, s);
      return false;
    }
    if (avail.size() < header.frame_bytes()) {
      // Wait for the rest; the next read makes room for the whole frame.
      pending_frame_bytes_ = header.frame_bytes() - avail.size();
      return true;
    }
    HandleFrame(header, avail.substr(wire::kFrameHeaderBytes, header.body_bytes()),
                last_activity_ns_);
    in_.Consume(header.frame_bytes());
    if (closing_ || closed_) return false;
  }
  return !closed_;
}

void Connection::HandleFrame(const wire::FrameHeader& header, std::string_view body,
                             uint64_t start_ns) {
  Result<wire::Request> decoded = wire::DecodeRequest(header, body);
  if (!decoded.ok()) {
    ProtocolError(header.request_id, header.opcode, decoded.status());
    return;
  }
  wire::Request& request = decoded.value();
  wire::Opcode op = request.opcode();
  if (!handshake_done_) {
    if (op != wire::Opcode::kHello) {
      ProtocolError(request.request_id, header.opcode,
                    Status::ProtocolError(fmt::format(
                        "the first frame on a connection must be HELLO, got {}",
                        wire::OpcodeName(op))));
      return;
    }
    HandleHello(request, start_ns);
    return;
  }
  switch (op) {
    case wire::Opcode::kHello:
      ProtocolError(request.request_id, header.opcode,
                    Status::ProtocolError("HELLO was already sent on this connection"));
      return;
    case wire::Opcode::kPing: {
      wire::Response r;
      r.request_id = request.request_id;
      r.opcode = op;
      r.body = wire::PingResponse{std::get<wire::PingRequest>(request.body).payload};
      Respond(r, start_ns);
      return;
    }
    case wire::Opcode::kStatus: {
      wire::Response r;
      r.request_id = request.request_id;
      r.opcode = op;
      r.body = wire::StatusResponse{server_->status_json_()};
      Respond(r, start_ns);
      return;
    }
    default:
      break;
  }
  if (Status s = wire::ValidateRequest(request, server_->limits_); !s.ok()) {
    Respond(wire::Response::Error(request.request_id, op, s), start_ns);
    return;
  }
  ++inflight_;
  topology::ClientRequest cr;
  cr.ref = topology::ClientRef{id_, request.request_id, start_ns};
  cr.arrival_ms = WallMillis();
  cr.request = std::move(request);
  if (op == wire::Opcode::kAdmin) {
    server_->runtime_->SubmitAdmin(std::move(cr));
  } else {
    server_->runtime_->Submit(std::move(cr));
  }
}

void Connection::HandleHello(const wire::Request& request, uint64_t start_ns) {
  const auto& hello = std::get<wire::HelloRequest>(request.body);
  if (hello.min_version > wire::kProtocolVersion || hello.max_version < wire::kProtocolVersion ||
      hello.min_version > hello.max_version) {
    ProtocolError(request.request_id, static_cast<uint8_t>(wire::Opcode::kHello),
                  Status::ProtocolError(fmt::format(
                      "no common protocol version: client supports {}..{}, server supports {}..{}",
                      hello.min_version, hello.max_version, wire::kProtocolVersion,
                      wire::kProtocolVersion)));
    return;
  }
  handshake_done_ = true;
  wire::Response r;
  r.request_id = request.request_id;
  r.opcode = wire::Opcode::kHello;
  wire::HelloResponse body;
  body.version = wire::kProtocolVersion;
  body.server_version = KVD_VERSION;
  body.mode = std::string(config::ModeName(server_->config_->node.mode));
  body.node_id = server_->config_->node.id;
  body.limits = server_->limits_;
  r.body = std::move(body);
  KVD_LOG(*server_->logger_, kDebug, "net", fmt::format("c{}", id_), "HELLO from {} ({})", peer_,
          hello.client_name);
  Respond(r, start_ns);
}

void Connection::ProtocolError(uint64_t request_id, uint8_t opcode, const Status& status) {
  server_->metrics_->ProtocolError();
  KVD_LOG(*server_->logger_, kWarn, "net", fmt::format("c{}.{}", id_, request_id),
          "closing connection from {}: {}", peer_, status.message());
  wire::Response r =
      wire::Response::Error(request_id, static_cast<wire::Opcode>(opcode), status);
  Respond(r, SteadyNanos());
  read_closed_ = true;
  closing_ = true;
  MaybeFinish();
}

void Connection::Respond(const wire::Response& response, uint64_t start_ns) {
  server_->metrics_->RecordRequest(response.opcode, response.status, SteadyNanos() - start_ns);
  wire::EncodeResponse(response, &out_);
  ScheduleWrite();
}

void Connection::Deliver(wire::Response response, uint64_t start_ns) {
  KVD_ASSERT(inflight_ > 0);
  --inflight_;
  if (closed_) return;
  Respond(response, start_ns);
  Resume();
}

void Connection::ScheduleWrite() {
  if (write_scheduled_ || write_active_ || closed_) return;
  write_scheduled_ = true;
  // Deferred to the end of this loop turn, so that all answers produced in it leave
  // together in one write.
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->write_scheduled_ = false;
    self->Write();
  });
}

void Connection::Write() {
  if (write_active_ || closed_) return;
  if (out_.empty()) {
    MaybeFinish();
    return;
  }
  writing_.swap(out_);
  out_.clear();
  write_active_ = true;
  asio::async_write(socket_, asio::buffer(writing_),
                    [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
                      self->write_active_ = false;
                      self->server_->metrics_->AddBytesSent(n);
                      self->writing_.clear();
                      if (ec) {
                        self->Close();
                        return;
                      }
                      self->last_activity_ns_ = SteadyNanos();
                      self->Resume();  // the client drained answers: take requests again
                      self->Write();
                    });
}

bool Connection::HasCompleteFrame() const {
  std::string_view avail = in_.Readable();
  if (avail.size() < wire::kFrameHeaderBytes) return false;
  return avail.size() >= size_t{GetU32BE(avail.data())} + 4;
}

void Connection::MaybeFinish() {
  if (closed_ || write_active_ || write_scheduled_ || !out_.empty()) return;
  // Requests a half-closed client sent before its EOF are still answered.
  if (!closing_ && HasCompleteFrame()) return;
  if (closing_ || (read_closed_ && inflight_ == 0)) Close();
}

void Connection::StopReading() {
  if (read_closed_) return;
  read_closed_ = true;
  // Wakes a pending read with EOF, so its handler runs and the connection can finish.
  boost::system::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_receive, ec);
  MaybeFinish();
}

void Connection::Close() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  server_->Forget(id_);
}

}  // namespace kvd::net
