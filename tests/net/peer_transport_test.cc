// Tests of server/net/peer_transport.h: node-to-node links over real loopback sockets.
//
// Goal: show that the transport delivers opaque messages between nodes in order, batches
// its writes, queues for a peer that is down (within a bound, counting what it drops) and
// reaches it once it is up or has restarted, refuses misconfigured nodes and garbage with
// one clear warning without disturbing other links, and can be stopped and destroyed at
// any moment with handlers still pending. Method: two or three PeerTransport instances
// (plus raw sockets playing hostile clients) run on 127.0.0.1 with OS-chosen ports in one
// io_context, which the test drives with run_for() in loops bounded by a deadline until
// the expected state is reached (never a fixed sleep). Run the binary under ASan/UBSan too
// (-DKVD_ASAN=ON): the shutdown tests are meant for it. A failure means a lost, reordered
// or misattributed message, a refusal that is missing, silent or too broad, a broken
// bound, or a memory-safety bug on shutdown or on network input.
#include <utility>  // must precede Asio with GCC 12 + C++20

#include <fmt/format.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "server/net/peer_transport.h"

namespace kvd::net {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using namespace std::chrono_literals;

constexpr auto kDeadline = std::chrono::seconds(20);

// Keeps every log line, so tests can check what an operator would see.
class CaptureLogger final : public Logger {
 public:
  void Log(LogLevel level, std::string_view component, std::string_view request_id,
           std::string_view message) override {
    static constexpr const char* kNames[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    lines_.push_back(fmt::format("{} {} {} {}", kNames[static_cast<size_t>(level)], component,
                                 request_id, message));
  }
  bool Enabled(LogLevel) const override { return true; }

  // How many lines at `level` ("WARN") contain `needle`.
  size_t Count(std::string_view level, std::string_view needle) const {
    size_t n = 0;
    for (const std::string& line : lines_) {
      if (line.starts_with(level) && line.find(needle) != std::string::npos) ++n;
    }
    return n;
  }
  std::string Dump() const {
    std::string out;
    for (const std::string& line : lines_) out += line + "\n";
    return out;
  }

 private:
  std::vector<std::string> lines_;
};

// One node: its transport, its log, and every message it was handed.
struct Node {
  uint64_t id = 0;
  CaptureLogger logger;  // declared before `transport`, so it outlives it
  std::vector<std::pair<uint64_t, std::string>> received;
  std::function<void(uint64_t, std::string_view)> hook;  // extra work inside OnMessage
  std::unique_ptr<PeerTransport> transport;

  config::Address address() const { return transport->local_address(); }
  PeerTransport::PeerStats StatsFor(uint64_t peer) const {
    for (const auto& s : transport->Stats()) {
      if (s.id == peer) return s;
    }
    FAIL("no stats for peer " << peer);
    return {};
  }
  // The bodies received from `from`, in arrival order.
  std::vector<std::string> From(uint64_t from) const {
    std::vector<std::string> out;
    for (const auto& [sender, body] : received) {
      if (sender == from) out.push_back(body);
    }
    return out;
  }
};

class Harness {
 public:
  PeerTransportOptions Options(uint64_t id, uint16_t port = 0) const {
    PeerTransportOptions o;
    o.self_id = id;
    o.cluster_name = "test-cluster";
    o.listen = config::Address{"127.0.0.1", port};
    o.reconnect_min_ms = 10;
    o.reconnect_max_ms = 100;
    o.connect_timeout_ms = 2000;
    return o;
  }

  // Creates a node and binds its listener; Start() is left to the caller (or Mesh).
  std::unique_ptr<Node> MakeNode(PeerTransportOptions options) {
    auto node = std::make_unique<Node>();
    node->id = options.self_id;
    Node* raw = node.get();
    node->transport = std::make_unique<PeerTransport>(
        &io, std::move(options), &node->logger, [raw](uint64_t from, std::string_view body) {
          raw->received.emplace_back(from, std::string(body));
          if (raw->hook) raw->hook(from, body);
        });
    Status s = node->transport->Listen();
    INFO(s.ToString());
    REQUIRE(s.ok());
    return node;
  }
  std::unique_ptr<Node> MakeNode(uint64_t id) { return MakeNode(Options(id)); }

  // Makes every node a peer of every other one, then starts them all.
  static void Mesh(std::initializer_list<Node*> nodes) {
    for (Node* n : nodes) {
      for (Node* m : nodes) {
        if (n != m) n->transport->AddPeer(m->id, m->address());
      }
    }
    for (Node* n : nodes) n->transport->Start();
  }

  // Runs the loop until pred() holds. False if the deadline passed first.
  template <typename Pred>
  bool RunUntil(Pred pred, std::chrono::steady_clock::duration timeout = kDeadline) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      io.restart();
      io.run_for(5ms);
    }
    return true;
  }

  // Runs the loop until no handler is left. False if the deadline passed first.
  bool Drain() {
    io.restart();
    auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (!io.stopped() && std::chrono::steady_clock::now() < deadline) io.run_for(10ms);
    return io.stopped();
  }

  asio::io_context io;
};

// A port nothing listens on (bound once by the OS, then closed), for peers that are down.
uint16_t ClosedPort(Harness* h) {
  auto probe = h->MakeNode(99);
  return probe->address().port;
}

// A plain TCP client that writes whatever it is told and notices when it is closed.
struct RawClient {
  explicit RawClient(asio::io_context* io) : socket(*io) {}
  void Connect(const config::Address& address) {
    error_code ec;
    auto ip = asio::ip::make_address(address.host, ec);
    REQUIRE(!ec);
    socket.connect(tcp::endpoint(ip, address.port), ec);
    REQUIRE(!ec);
  }
  void Write(std::string_view bytes) {
    if (bytes.empty()) return;
    error_code ec;
    asio::write(socket, asio::buffer(bytes.data(), bytes.size()), ec);
    REQUIRE(!ec);
  }
  void WatchClose() {
    socket.async_read_some(asio::buffer(sink), [this](const error_code& ec, size_t) {
      if (ec) {
        closed = true;
        return;
      }
      WatchClose();
    });
  }
  tcp::socket socket;
  std::array<char, 256> sink{};
  bool closed = false;
};

std::string HelloFrame(uint64_t from, uint64_t to, std::string cluster = "test-cluster") {
  PeerHello hello;
  hello.from_id = from;
  hello.to_id = to;
  hello.cluster_name = std::move(cluster);
  std::string out;
  AppendPeerHelloFrame(hello, &out);
  return out;
}

std::string Frame(uint8_t kind, std::string_view body) {
  std::string out;
  ByteWriter w(&out);
  w.U32(static_cast<uint32_t>(body.size() + 1));
  w.U8(kind);
  w.Raw(body);
  return out;
}

std::string Header(uint32_t length, uint8_t kind) {
  std::string out;
  ByteWriter w(&out);
  w.U32(length);
  w.U8(kind);
  return out;
}

std::vector<std::string> Numbered(std::string_view prefix, int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back(fmt::format("{} {}", prefix, i));
  return out;
}

void SendAll(Node* node, uint64_t to, const std::vector<std::string>& bodies) {
  for (const std::string& b : bodies) node->transport->Send(to, b);
}

TEST_CASE("peer transport: HELLO encodes and decodes, and bad layouts are refused",
          "[integration][net]") {
  PeerHello hello{kPeerMagic, kPeerProtocolVersion, 3, 7, "prod-east"};
  std::string frame;
  AppendPeerHelloFrame(hello, &frame);
  REQUIRE(frame.size() == 4 + 1 + 26 + 9);
  CHECK(GetU32BE(frame.data()) == frame.size() - 4);
  CHECK(frame[4] == 1);
  CHECK(GetU32BE(frame.data() + 5) == 0x6b766470);
  std::string_view body = std::string_view(frame).substr(5);
  PeerHello decoded;
  REQUIRE(DecodePeerHello(body, &decoded).ok());
  CHECK(decoded == hello);

  for (size_t n = 0; n < body.size(); ++n) {
    INFO("truncated to " << n);
    Status s = DecodePeerHello(body.substr(0, n), &decoded);
    CHECK(s.code() == Code::kProtocolError);
  }
  std::string trailing = std::string(body) + "x";
  CHECK(DecodePeerHello(trailing, &decoded).message() == "HELLO has 1 trailing bytes");
  std::string long_name(body.substr(0, 22));
  ByteWriter(&long_name).Bytes(std::string(kMaxClusterNameBytes + 1, 'n'));
  CHECK(DecodePeerHello(long_name, &decoded).message().find("longer than 256") !=
        std::string::npos);
}

TEST_CASE("peer transport: messages arrive in order in both directions", "[integration][net]") {
  Harness h;
  auto a = h.MakeNode(1);
  auto b = h.MakeNode(2);
  Harness::Mesh({a.get(), b.get()});
  // Three rounds, each sent in one loop turn, the later ones on established connections.
  for (int round = 0; round < 3; ++round) {
    SendAll(a.get(), 2, Numbered("a->b", round * 100, round * 100 + 100));
    SendAll(b.get(), 1, Numbered("b->a", round * 100, round * 100 + 100));
    size_t want = static_cast<size_t>(round + 1) * 100;
    REQUIRE(h.RunUntil([&] { return a->received.size() == want && b->received.size() == want; }));
  }
  CHECK(b->From(1) == Numbered("a->b", 0, 300));
  CHECK(a->From(2) == Numbered("b->a", 0, 300));
  REQUIRE(h.RunUntil(
      [&] { return a->StatsFor(2).sent_messages == 300 && b->StatsFor(1).sent_messages == 300; }));
  for (Node* n : {a.get(), b.get()}) {
    auto s = n->StatsFor(n->id == 1 ? 2 : 1);
    CHECK(s.connected);
    CHECK(s.received_messages == 300);
    CHECK(s.dropped_messages == 0);
    CHECK(s.connect_failures == 0);
    CHECK(s.queued_bytes == 0);
    CHECK(n->transport->inbound_connection_count() == 1);
    CHECK(n->logger.Count("WARN", "") == 0);
  }
}

TEST_CASE("peer transport: a burst is written in one batch, small and large messages alike",
          "[integration][net]") {
  Harness h;
  auto a = h.MakeNode(1);
  auto b = h.MakeNode(2);
  Harness::Mesh({a.get(), b.get()});
  a->transport->Send(2, "warm-up");
  REQUIRE(h.RunUntil([&] { return b->received.size() == 1 && a->StatsFor(2).write_batches > 0; }));
  uint64_t batches_before = a->StatsFor(2).write_batches;

  // Empty, small (copied into the batch) and large (gathered) bodies, interleaved.
  std::vector<std::string> burst;
  for (int i = 0; i < 3000; ++i) {
    size_t size = i % 7 == 0 ? 20000 + static_cast<size_t>(i) : static_cast<size_t>(i % 50);
    std::string body(size, static_cast<char>('a' + i % 26));
    if (size >= 8) PutU32BE(body.data(), static_cast<uint32_t>(i));
    burst.push_back(std::move(body));
  }
  SendAll(a.get(), 2, burst);
  REQUIRE(h.RunUntil([&] {
    return b->received.size() == burst.size() + 1 &&
           a->StatsFor(2).sent_messages == burst.size() + 1;
  }));
  std::vector<std::string> got = b->From(1);
  got.erase(got.begin());
  CHECK(got == burst);
  // Everything was sent in one loop turn: one async_write carried it all.
  CHECK(a->StatsFor(2).write_batches == batches_before + 1);
}

TEST_CASE("peer transport: a peer that starts late receives what was queued for it",
          "[integration][net]") {
  Harness h;
  uint16_t b_port = ClosedPort(&h);
  PeerTransportOptions ao = h.Options(1);
  ao.peers[2] = config::Address{"127.0.0.1", b_port};
  auto a = h.MakeNode(ao);
  a->transport->Start();
  SendAll(a.get(), 2, Numbered("early", 0, 20));
  // Several dials fail (connection refused) while the messages wait in the queue.
  REQUIRE(h.RunUntil([&] { return a->StatsFor(2).connect_failures >= 4; }));
  CHECK_FALSE(a->StatsFor(2).connected);
  CHECK(a->StatsFor(2).queued_bytes > 0);
  // One line for the failure streak, not one per retry.
  INFO(a->logger.Dump());
  CHECK(a->logger.Count("WARN", "cannot connect to peer 2") == 1);

  PeerTransportOptions bo = h.Options(2, b_port);
  bo.peers[1] = a->address();
  auto b = h.MakeNode(bo);
  b->transport->Start();
  SendAll(a.get(), 2, Numbered("early", 20, 30));
  REQUIRE(h.RunUntil([&] { return b->received.size() == 30; }));
  CHECK(b->From(1) == Numbered("early", 0, 30));
  b->transport->Send(1, "hello a");
  REQUIRE(h.RunUntil([&] { return a->received.size() == 1; }));
  CHECK(a->From(2) == std::vector<std::string>{"hello a"});
  auto s = a->StatsFor(2);
  CHECK(s.dropped_messages == 0);
  CHECK(s.queued_bytes == 0);
}

TEST_CASE("peer transport: a restarted peer is reconnected and gets new messages",
          "[integration][net]") {
  Harness h;
  auto a = h.MakeNode(1);
  auto b = h.MakeNode(2);
  Harness::Mesh({a.get(), b.get()});
  SendAll(a.get(), 2, Numbered("before", 0, 10));
  REQUIRE(h.RunUntil([&] { return b->received.size() == 10; }));
  config::Address b_address = b->address();

  b.reset();  // crash-like: the process is gone, its sockets close
  REQUIRE(h.RunUntil([&] { return !a->StatsFor(2).connected; }));
  SendAll(a.get(), 2, Numbered("during", 0, 10));  // queued while b is down

  PeerTransportOptions bo = h.Options(2, b_address.port);
  bo.peers[1] = a->address();
  b = h.MakeNode(bo);
  b->transport->Start();
  SendAll(a.get(), 2, Numbered("after", 0, 10));
  b->transport->Send(1, "b is back");
  REQUIRE(h.RunUntil([&] { return b->received.size() == 20 && a->received.size() == 1; }));
  std::vector<std::string> want = Numbered("during", 0, 10);
  for (auto& m : Numbered("after", 0, 10)) want.push_back(m);
  CHECK(b->From(1) == want);
  CHECK(a->From(2) == std::vector<std::string>{"b is back"});
  // a read the old inbound connection from b until it ended, then the new one.
  REQUIRE(h.RunUntil([&] { return a->transport->inbound_connection_count() == 1; }));
}

TEST_CASE("peer transport: a misconfigured node is refused, the others are not",
          "[integration][net]") {
  struct Case {
    const char* name;
    std::string cluster;
    uint64_t believed_id;  // the id node 3 thinks node 1 has
    const char* reason;
  };
  auto c = GENERATE(Case{"wrong cluster name", "other-cluster", 1,
                         "cluster name \"other-cluster\" does not match this node's"},
                    Case{"wrong node id for the address", "test-cluster", 7,
                         "HELLO is addressed to node 7, but this is node 1"});
  INFO(c.name);
  Harness h;
  auto a = h.MakeNode(1);
  auto b = h.MakeNode(2);
  Harness::Mesh({a.get(), b.get()});
  PeerTransportOptions co = h.Options(3);
  co.cluster_name = c.cluster;
  co.peers[c.believed_id] = a->address();
  auto bad = h.MakeNode(co);
  bad->transport->Start();
  SendAll(bad.get(), c.believed_id, Numbered("bad", 0, 5));
  SendAll(b.get(), 1, Numbered("good", 0, 5));

  REQUIRE(h.RunUntil([&] {
    return a->logger.Count("WARN", c.reason) >= 1 &&
           bad->StatsFor(c.believed_id).connect_failures >= 3 && a->received.size() == 5;
  }));
  INFO(a->logger.Dump());
  CHECK(a->From(2) == Numbered("good", 0, 5));
  CHECK(a->From(3).empty());
  CHECK(a->logger.Count("WARN", "refusing peer connection from 127.0.0.1:") >= 1);
  // Repeated refusals of the same node for the same reason are rate-limited.
  CHECK(a->logger.Count("WARN", c.reason) == 1);
  // The refused side says, once, that the peer is refusing it.
  INFO(bad->logger.Dump());
  CHECK(bad->logger.Count("WARN", "is the peer refusing this node?") == 1);
  CHECK(a->StatsFor(2).connected);
  CHECK(b->StatsFor(1).connected);
}

TEST_CASE("peer transport: garbage on an inbound connection closes that connection only",
          "[integration][net]") {
  struct Case {
    const char* name;
    std::string bytes;
    const char* reason;
  };
  const std::string hello = HelloFrame(5, 1);
  auto c = GENERATE_COPY(
      Case{"an HTTP request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
           "the first frame must be HELLO (kind 1), got kind 47"},
      Case{"an oversized length", Header(0xffffffff, 1), "frame length 4294967295 is outside 1.."},
      Case{"an empty frame", Header(0, 1), "frame length 0 is outside 1.."},
      Case{"a MESSAGE before the HELLO", Frame(2, "hi"), "the first frame must be HELLO"},
      Case{"a bad magic", Frame(1, std::string(26, '\x01')), "bad magic 0x01010101"},
      Case{"a truncated HELLO", Frame(1, hello.substr(5, 9)),
           "HELLO is truncated at field from_id"},
      Case{"a HELLO of version 9",
           [] {
             std::string f = HelloFrame(5, 1);
             f[5 + 4] = 0;
             f[5 + 5] = 9;
             return f;
           }(),
           "peer protocol version 9 is not supported"},
      Case{"a HELLO claiming this node's id", HelloFrame(1, 1), "sender id 1 is invalid"},
      Case{"nothing at all", "", "no HELLO within 300 ms"},
      Case{"half a header", std::string(2, '\0'), "no HELLO within 300 ms"},
      Case{"a second HELLO", hello + hello, "a second HELLO on the connection"},
      Case{"an unknown kind", hello + Frame(9, "x"), "unknown frame kind 9"},
      Case{"an oversized MESSAGE", hello + Header(2u << 20, 2),
           "frame length 2097152 is outside 1..1048576"});
  INFO(c.name);
  Harness h;
  PeerTransportOptions ao = h.Options(1);
  ao.hello_timeout_ms = 300;
  ao.max_message_bytes = 1u << 20;
  auto a = h.MakeNode(ao);
  auto b = h.MakeNode(2);
  Harness::Mesh({a.get(), b.get()});
  b->transport->Send(1, "first");
  REQUIRE(h.RunUntil([&] { return a->received.size() == 1; }));

  RawClient client(&h.io);
  client.Connect(a->address());
  client.Write(c.bytes);
  client.WatchClose();
  REQUIRE(h.RunUntil([&] { return client.closed && a->logger.Count("WARN", c.reason) == 1; }));
  INFO(a->logger.Dump());
  CHECK(a->logger.Count("WARN", "connection from") >= 1);

  b->transport->Send(1, "second");
  REQUIRE(h.RunUntil([&] { return a->received.size() == 2; }));
  CHECK(a->From(2) == std::vector<std::string>{"first", "second"});
  CHECK(a->transport->inbound_connection_count() == 1);
  CHECK(a->StatsFor(2).connected);
  CHECK(b->StatsFor(1).connected);
}

TEST_CASE("peer transport: per-peer queues are bounded and drops are counted",
          "[integration][net]") {
  Harness h;
  uint16_t b_port = ClosedPort(&h);
  PeerTransportOptions ao = h.Options(1);
  ao.peers[2] = config::Address{"127.0.0.1", b_port};
  ao.max_queue_bytes = 10000;
  ao.max_message_bytes = 4096;
  auto a = h.MakeNode(ao);
  a->transport->Start();
  REQUIRE(h.RunUntil([&] { return a->StatsFor(2).connect_failures >= 1; }));

  // Frames of 1000 bytes (5-byte header + 995): ten fit, forty are dropped.
  std::vector<std::string> messages;
  for (int i = 0; i < 50; ++i) {
    std::string m(995, 'q');
    PutU32BE(m.data(), static_cast<uint32_t>(i));
    messages.push_back(std::move(m));
  }
  SendAll(a.get(), 2, messages);
  a->transport->Send(2, std::string(4096, 'x'));  // over max_message_bytes with its kind byte
  a->transport->Send(42, "nobody");               // not a peer
  auto s = a->StatsFor(2);
  CHECK(s.queued_bytes == 10000);
  CHECK(s.dropped_messages == 41);
  CHECK(a->transport->unknown_peer_drops() == 1);
  CHECK(a->logger.Count("WARN", "queue for peer 2 is full") == 1);
  CHECK(a->logger.Count("WARN", "frames are limited to 4096 bytes") == 1);

  PeerTransportOptions bo = h.Options(2, b_port);
  bo.peers[1] = a->address();
  auto b = h.MakeNode(bo);
  b->transport->Start();
  REQUIRE(h.RunUntil([&] { return b->received.size() == 10; }));
  CHECK(b->From(1) == std::vector<std::string>(messages.begin(), messages.begin() + 10));
  REQUIRE(h.RunUntil([&] { return a->StatsFor(2).sent_messages == 10; }));
  CHECK(a->StatsFor(2).queued_bytes == 0);
  // A message of exactly the limit (kind byte + 4095) passes.
  a->transport->Send(2, std::string(4095, 'y'));
  REQUIRE(h.RunUntil([&] { return b->received.size() == 11; }));
}

TEST_CASE("peer transport: peers can be removed, added and moved at runtime",
          "[integration][net]") {
  Harness h;
  auto a = h.MakeNode(1);
  auto b = h.MakeNode(2);
  Harness::Mesh({a.get(), b.get()});
  a->transport->Send(2, "one");
  REQUIRE(h.RunUntil([&] { return b->received.size() == 1; }));

  a->transport->RemovePeer(2);
  CHECK(a->transport->Stats().empty());
  a->transport->Send(2, "lost");
  CHECK(a->transport->unknown_peer_drops() == 1);
  // b notices that a's link to it is gone; b's own link to a is untouched.
  REQUIRE(h.RunUntil([&] { return b->transport->inbound_connection_count() == 0; }));
  b->transport->Send(1, "still here");
  REQUIRE(h.RunUntil([&] { return a->received.size() == 1; }));

  // Added back, first at a wrong address, then moved to the right one by host name (which
  // goes through the resolver).
  a->transport->AddPeer(2, config::Address{"127.0.0.1", ClosedPort(&h)});
  a->transport->Send(2, "two");
  REQUIRE(h.RunUntil([&] { return a->StatsFor(2).connect_failures >= 1; }));
  a->transport->AddPeer(2, config::Address{"localhost", b->address().port});
  a->transport->Send(2, "three");
  REQUIRE(h.RunUntil([&] { return b->received.size() == 3; }));
  CHECK(b->From(1) == std::vector<std::string>{"one", "two", "three"});
  CHECK(a->StatsFor(2).address.host == "localhost");

  a->transport->AddPeer(1, a->address());  // itself: ignored
  CHECK(a->transport->Stats().size() == 1);
  CHECK(a->logger.Count("WARN", "ignoring AddPeer for id 1") == 1);
}

TEST_CASE("peer transport: Stop and destruction with handlers pending are clean",
          "[integration][net]") {
  // Large messages both ways, so that writes and reads are in flight when the nodes go.
  auto load = [](Node* from, uint64_t to) {
    for (int i = 0; i < 100; ++i) from->transport->Send(to, std::string(64u << 10, 'z'));
  };

  SECTION("Stop, then destroy, mid-transfer") {
    Harness h;
    auto a = h.MakeNode(1);
    auto b = h.MakeNode(2);
    Harness::Mesh({a.get(), b.get()});
    load(a.get(), 2);
    load(b.get(), 1);
    REQUIRE(h.RunUntil([&] { return a->received.size() >= 5 && b->received.size() >= 5; }));
    a->transport->Stop();
    a->transport->Stop();  // idempotent
    auto s = a->StatsFor(2);
    CHECK_FALSE(s.connected);
    CHECK(s.queued_bytes == 0);
    a->transport->Send(2, "after stop");
    CHECK(a->StatsFor(2).dropped_messages == s.dropped_messages + 1);
    size_t received = a->received.size();
    b->transport.reset();  // the destructor stops it
    a->transport.reset();
    REQUIRE(h.Drain());
    CHECK(a->received.size() == received);  // no callback after Stop
  }

  SECTION("a node destroys its transport from inside OnMessage") {
    Harness h;
    auto a = h.MakeNode(1);
    auto b = h.MakeNode(2);
    Harness::Mesh({a.get(), b.get()});
    b->hook = [&](uint64_t, std::string_view) {
      if (b->received.size() == 3) b->transport.reset();
    };
    load(a.get(), 2);
    REQUIRE(h.RunUntil([&] { return b->transport == nullptr; }));
    CHECK(b->received.size() == 3);  // nothing after the transport went away
    REQUIRE(h.RunUntil([&] { return !a->StatsFor(2).connected; }));
    a->transport.reset();
    REQUIRE(h.Drain());
  }

  SECTION("transports and the io_context are destroyed without running pending handlers") {
    auto h = std::make_unique<Harness>();
    auto a = h->MakeNode(1);
    auto b = h->MakeNode(2);
    Harness::Mesh({a.get(), b.get()});
    load(a.get(), 2);
    REQUIRE(h->RunUntil([&] { return b->received.size() >= 1; }));
    a.reset();
    b.reset();
    h.reset();  // handlers still queued are destroyed, not run
  }

  SECTION("a node that never started, and one that only listened") {
    Harness h;
    PeerTransportOptions o = h.Options(1);
    o.peers[2] = config::Address{"127.0.0.1", ClosedPort(&h)};
    NullLogger null_logger;
    { PeerTransport idle(&h.io, o, &null_logger, nullptr); }  // no Listen, no Start
    auto a = h.MakeNode(o);
    a->transport->Send(2, "queued");
    a.reset();
    REQUIRE(h.Drain());
  }
}

}  // namespace
}  // namespace kvd::net
