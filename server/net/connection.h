// Connection: one client connection of the Server (server.h): framing, the HELLO
// handshake, dispatch, pipelined responses and backpressure.
//
// Buffers: incoming bytes accumulate in in_ (grown to hold one whole frame, never more
// than limits.max_frame_bytes); every frame of one read is stamped with that read's time; answers are encoded into out_, and one write is posted per
// loop turn, so a burst of answers leaves in one system call.
//
// Thread-safety: loop thread only.
#pragma once

#include <utility>  // must precede Asio with GCC 12 + C++20

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "common/read_buffer.h"
#include "common/wire/codec.h"
#include "common/wire/frame.h"

namespace kvd::net {

class Server;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Server* server, boost::asio::ip::tcp::socket socket, uint64_t id);

  void Start();
  // Stops reading: requests already read are answered, then the connection closes.
  void StopReading();
  void Close();
  // Queues the answer to a request this connection submitted.
  void Deliver(wire::Response response, uint64_t start_ns);
  uint64_t id() const { return id_; }
  uint64_t last_activity_ns() const { return last_activity_ns_; }
  bool idle() const { return inflight_ == 0 && out_.empty() && !write_active_; }
  const std::string& peer() const { return peer_; }

 private:
  void Read();
  void OnRead(const boost::system::error_code& ec, size_t n);
  // Handles every complete frame in in_. Returns false if the connection is closing.
  bool ProcessFrames();
  void HandleFrame(const wire::FrameHeader& header, std::string_view body, uint64_t start_ns);
  void HandleHello(const wire::Request& request, uint64_t start_ns);
  void ProtocolError(uint64_t request_id, uint8_t opcode, const Status& status);
  void Respond(const wire::Response& response, uint64_t start_ns);
  void ScheduleWrite();
  void Write();
  void MaybeFinish();
  bool HasCompleteFrame() const;
  bool CanProcess() const;
  bool ReadAllowed() const;
  size_t OutputLimitBytes() const;
  // Processes frames held back by backpressure, then reads, as far as allowed.
  void Resume();

  Server* server_;
  boost::asio::ip::tcp::socket socket_;
  uint64_t id_;
  std::string peer_;

  ReadBuffer in_;
  size_t pending_frame_bytes_ = 0;  // bytes still missing of a partly received frame
  std::string out_;      // answers not yet handed to the socket
  std::string writing_;  // the buffer of the write in progress
  bool read_active_ = false;
  bool write_active_ = false;
  bool write_scheduled_ = false;
  bool read_closed_ = false;  // EOF, StopReading, or a protocol error
  bool closing_ = false;      // close once out_ is written
  bool closed_ = false;
  bool handshake_done_ = false;
  uint32_t inflight_ = 0;
  uint64_t last_activity_ns_ = 0;
};

}  // namespace kvd::net
