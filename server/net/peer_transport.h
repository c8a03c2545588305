// PeerTransport: the node-to-node links of a replicated topology. It carries opaque byte
// messages (encoded Raft, multi-leader or Dynamo messages) between the members of one
// cluster and never looks inside them.
//
// Links. Each node keeps one outbound TCP connection per peer and uses it only to SEND to
// that peer; connections a node accepts are only read from. So between two nodes there
// are two connections, one per direction, and neither side ever has to decide which of
// two simultaneous dials wins. The outbound connection is dialled at Start() (and when a
// peer is added), redialled after any error with exponential backoff and jitter, and
// written in batches: everything queued during one loop turn leaves in one async_write.
//
// Delivery. Best effort, as the protocols above expect from a network: a message is
// delivered at most once and, on one connection, in the order sent. Messages queued while
// a peer is unreachable are kept, up to max_queue_bytes per peer, and sent once it is up;
// beyond that new messages are dropped and counted. A batch that a broken connection was
// writing is lost. Nothing is retransmitted.
//
// Wire format. Every frame, in both directions of every connection:
//
//   offset  size  field
//   0       4     length   u32 big-endian: the bytes after this field (1 + body size);
//                          1 <= length <= max_message_bytes
//   4       1     kind     1 = HELLO, 2 = MESSAGE; anything else closes the connection
//   5       n     body     n = length - 1
//
// HELLO body (the first frame on every connection, exactly once; its frame length must
// not exceed kMaxPeerHelloFrameBytes):
//
//   offset  size  field
//   0       4     magic         u32 0x6b766470 ("kvdp")
//   4       2     version       u16 kPeerProtocolVersion (1)
//   6       8     from_id       u64 the sender's node id
//   14      8     to_id         u64 the node id the sender means to reach
//   22      4     name length   u32, <= kMaxClusterNameBytes
//   26      k     cluster_name  raw bytes, k = name length; the body ends here
//
// MESSAGE body: the opaque message bytes, handed to OnMessage(from_id, body).
//
// The accepting side checks the HELLO (magic, version, cluster name, to_id == its own id,
// from_id neither 0 nor its own id) and closes the connection with one warning line
// naming the remote address and the reason otherwise. An oversized frame, an unknown
// kind, a second HELLO, a MESSAGE before the HELLO, or no HELLO within hello_timeout_ms
// likewise close that one connection; nothing read from the network is ever asserted on.
//
// Lifetime. All handlers hold a shared reference to the transport's internal state and
// check a stopped flag first, so Stop() followed by destruction is safe while handlers
// are still queued on the io_context; they then complete without effect.
//
// Thread-safety: none needed and none provided. Every method, and OnMessage, runs on the
// thread that runs the io_context (the node's loop thread). Resolving a peer given by host
// name uses Asio's resolver, whose private helper thread never touches this object.
#pragma once

#include <utility>  // must precede Asio with GCC 12 + C++20 (see README, build notes)

#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/config.h"
#include "common/log.h"
#include "common/status.h"

namespace kvd::net {

inline constexpr uint32_t kPeerMagic = 0x6b766470;  // "kvdp"
inline constexpr uint16_t kPeerProtocolVersion = 1;
inline constexpr size_t kPeerFrameHeaderBytes = 5;  // u32 length + u8 kind
inline constexpr size_t kMaxClusterNameBytes = 256;
// The largest HELLO frame: length counts kind + fixed fields + name. A connection whose
// first frame announces more is refused before that many bytes are buffered.
inline constexpr size_t kMaxPeerHelloFrameBytes = 1 + 4 + 2 + 8 + 8 + 4 + kMaxClusterNameBytes;

enum class PeerFrameKind : uint8_t { kHello = 1, kMessage = 2 };

// The fields of a HELLO body (see the table above).
struct PeerHello {
  uint32_t magic = kPeerMagic;
  uint16_t version = kPeerProtocolVersion;
  uint64_t from_id = 0;
  uint64_t to_id = 0;
  std::string cluster_name;
  bool operator==(const PeerHello&) const = default;
};

// Appends a frame header (length = 1 + body_bytes, then kind) to *out.
// REQUIRES: body_bytes < UINT32_MAX.
void AppendPeerFrameHeader(PeerFrameKind kind, size_t body_bytes, std::string* out);
// Appends a whole HELLO frame (header and body) to *out.
// REQUIRES: hello.cluster_name.size() <= kMaxClusterNameBytes.
void AppendPeerHelloFrame(const PeerHello& hello, std::string* out);
// Decodes a HELLO body (the bytes after the kind byte). Only the layout is checked here;
// the values are judged by the receiver. Errors: kProtocolError naming the field that is
// truncated or too long, or trailing bytes.
Status DecodePeerHello(std::string_view body, PeerHello* out);

struct PeerTransportOptions {
  uint64_t self_id = 0;                       // this node's id, >= 1
  std::string cluster_name;                   // peers announcing a different name are refused
  config::Address listen;                     // where peers connect to this node
  std::map<uint64_t, config::Address> peers;  // every other member: id -> peer address
  size_t max_message_bytes = 64u << 20;       // bound on one frame's length field, both ways
  size_t max_queue_bytes = 64u << 20;         // per peer: frame bytes queued and not yet written
  uint32_t reconnect_min_ms = 50;             // first backoff after a failure (then doubled)
  uint32_t reconnect_max_ms = 2000;           // backoff ceiling
  uint32_t connect_timeout_ms = 1000;         // one dial (including name resolution)
  uint32_t write_timeout_ms = 10000;          // a batch not written by then: peer stuck, redial
  uint32_t hello_timeout_ms = 5000;           // an accepted connection must send HELLO by then
  size_t max_inbound_connections = 1024;      // accepted connections open at once
};

class PeerTransport {
 public:
  // Called on the loop thread for every MESSAGE frame received. `bytes` is valid only
  // during the call. The callback may call any method of the transport, including Stop(),
  // and may destroy it.
  using OnMessage = std::function<void(uint64_t from, std::string_view bytes)>;

  // REQUIRES: io and logger outlive this object; options.self_id >= 1; options.peers does
  // not contain self_id; reconnect_min_ms >= 1 and <= reconnect_max_ms;
  // options.cluster_name.size() <= kMaxClusterNameBytes.
  PeerTransport(boost::asio::io_context* io, PeerTransportOptions options, Logger* logger,
                OnMessage on_message);
  // Calls Stop().
  ~PeerTransport();
  PeerTransport(const PeerTransport&) = delete;
  PeerTransport& operator=(const PeerTransport&) = delete;

  // Binds and listens on options.listen. Errors: kInvalidArgument if the host is not an
  // IP address; kIOError naming the address and the OS error
  // ("peer_listen 127.0.0.1:7381: bind: Address already in use").
  Status Listen();
  // The bound address (useful with port 0). REQUIRES: Listen() succeeded.
  config::Address local_address() const;
  // Starts accepting (if Listen() succeeded) and dials every known peer. Calling it twice
  // has no further effect.
  void Start();

  // Queues `bytes` for peer `to` and returns at once. Dropped (and counted) if `to` is not
  // a known peer (unknown_peer_drops()), if the frame would exceed max_message_bytes, if
  // the peer's queue would exceed max_queue_bytes, or after Stop().
  void Send(uint64_t to, std::string bytes);

  // Adds a peer, or changes the address of a known one (its connection is then redialled).
  // Dialled at once if Start() was called. Ignored (with a warning) for id 0 or self_id.
  void AddPeer(uint64_t id, config::Address address);
  // Forgets a peer: its connection closes and its queued messages are dropped. Messages
  // arriving from it on inbound connections are still delivered. Unknown ids: no effect.
  void RemovePeer(uint64_t id);

  // Closes the listener and every connection and cancels every timer. Afterwards no
  // callback runs and Send() drops. Pending handlers complete harmlessly, so the object may
  // be destroyed right away. Idempotent.
  void Stop();

  // Counters of one known peer; message counts are frames of kind MESSAGE.
  struct PeerStats {
    uint64_t id = 0;
    config::Address address;
    bool connected = false;          // the outbound connection is up (HELLO queued or sent)
    uint64_t queued_bytes = 0;       // frame bytes waiting to be written
    uint64_t sent_messages = 0;      // fully written to the socket
    uint64_t received_messages = 0;  // delivered to OnMessage, on any inbound connection
    uint64_t dropped_messages = 0;   // queue full, too large, or lost in a broken write
    uint64_t connect_failures = 0;   // dials that failed or timed out
    uint64_t write_batches = 0;      // async_writes completed (batching: << sent_messages)
  };
  // One entry per known peer, ordered by id.
  std::vector<PeerStats> Stats() const;
  // Messages passed to Send() for an id that is not a known peer.
  uint64_t unknown_peer_drops() const;
  // Accepted connections currently open (handshaking or established).
  size_t inbound_connection_count() const;

 private:
  class Core;  // the state shared with pending handlers (peer_transport.cc)
  std::shared_ptr<Core> core_;
};

}  // namespace kvd::net
