// libkvclient: the C++ client library for kvd's wire protocol v1 (docs/PROTOCOL.md).
//
// A Client owns one TCP connection to one of its endpoints and an I/O thread. Requests
// are pipelined: Send() returns at once and many requests may be in flight; responses
// are matched by request id, in whatever order the server answers. The connection is
// opened lazily (or by Connect()), performs the HELLO handshake, and is re-opened after a
// failure, trying the endpoints in order with exponential backoff.
//
// Errors. Transport problems are returned as a Status: kUnavailable (cannot connect, or
// the connection was lost), kTimeout (no answer within the request timeout),
// kProtocolError (the server sent something malformed). A server answer with a non-OK
// status is a successful round trip: Call()/Send() deliver it as a wire::Response, and
// the typed helpers (Get, Put, ...) turn it into a Status with the server's code and
// message.
//
// Retries. When a connection fails, requests that are safe to repeat (GET, GETS, SMEMBERS,
// SCAN, PING, STATUS) are sent again on the next connection while their deadline allows.
// Writes (PUT, DELETE, CAS, BATCH, INCR, SADD, SREM) carry a client id (random per Client)
// and a sequence number; a replicated server applies a write with a given (client id,
// sequence) at most once, so against one (HELLO mode other than "single") a write is
// repeated too. Against a single server a write whose connection failed fails with
// kUnavailable, because it may or may not have been applied.
//
// Redirects. A NOT_LEADER answer names the leader's address when the server knows it: the
// client moves its connection there and sends the request again (at most max_redirects
// times per request). Without a hint (an election is under way), and after an UNAVAILABLE
// answer from a replicated server, it waits a backoff with jitter and tries again,
// until the request's deadline.
//
// Sessions. The client remembers the newest session token the server returned; a data
// request with consistency kSession and no token of its own carries it, which gives
// read-your-writes and monotonic reads across the client's requests.
//
// Thread-safety: every method may be called from any thread, except that the destructor
// and Call() must not run on the client's I/O thread. Callbacks run on the client's I/O
// thread; they must not block, and may call Send() again. Destroying a client fails its
// pending requests with kUnavailable ("client closed").
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/wire/messages.h"

namespace kvd::client {

// A set of I/O threads that many clients can share (a load generator with hundreds of
// connections wants a few threads, not one per connection).
// REQUIRES: destroy every client that uses a pool before the pool itself.
class IoThreads;
std::shared_ptr<IoThreads> MakeIoThreads(size_t count);

struct ClientOptions {
  std::vector<std::string> endpoints{"127.0.0.1:7379"};  // "host:port", tried in order
  std::chrono::milliseconds connect_timeout{2000};  // resolve + connect + HELLO, per endpoint
  std::chrono::milliseconds request_timeout{5000};  // per request, retries included
  std::chrono::milliseconds backoff_initial{20};
  std::chrono::milliseconds backoff_max{1000};
  std::string client_name = "libkvclient";
  // Requests in flight at once; Send() beyond this waits in a local queue.
  uint32_t max_inflight = 4096;
  // Shared I/O threads; null: the client runs its own I/O thread.
  std::shared_ptr<IoThreads> io_threads;
  // Follow NOT_LEADER redirects and retry UNAVAILABLE answers of replicated servers.
  bool follow_redirects = true;
  uint32_t max_redirects = 8;
};

using Callback = std::function<void(Result<wire::Response>)>;

class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Connects now (optional: requests connect lazily). Errors: kUnavailable naming each
  // endpoint tried and why it failed; kTimeout; kProtocolError if the handshake fails.
  Status Connect();

  // Sends `request` (its request_id is assigned by the client) and calls `callback`
  // exactly once with the response or a transport error.
  void Send(wire::Request request, Callback callback);

  // Sends and waits. REQUIRES: not called from a callback (it would deadlock).
  Result<wire::Response> Call(wire::Request request);

  // Typed helpers: a non-OK server status becomes the returned Status.
  Result<wire::GetResponse> Get(std::string key, wire::RequestOptions options = {});
  Result<wire::PutResponse> Put(std::string key, std::string value, uint64_t ttl_ms = 0,
                                wire::RequestOptions options = {});
  Result<wire::DeleteResponse> Delete(std::string key, wire::RequestOptions options = {});
  Result<wire::ScanResponse> Scan(wire::ScanRequest scan, wire::RequestOptions options = {});

  // multi_leader replicated data types; other topologies answer kUnsupported.
  // Gets: every sibling of `key` (none if it is absent) and the causal context to present
  // (RequestOptions::context) on the Put or Delete that resolves them. Errors: the server's,
  // e.g. kInvalidArgument for a counter or set key.
  Result<wire::GetsResponse> Gets(std::string key, wire::RequestOptions options = {});
  // Incr: adds `amount` (negative: subtracts; 0: reads) to the counter `key` and returns its
  // value on the node that answered. A write: deduplicated, and retried like Put.
  Result<wire::IncrResponse> Incr(std::string key, int64_t amount,
                                  wire::RequestOptions options = {});
  // Sadd / Srem: adds `element` to (removes it from) the set `key`; `existed` tells whether
  // it was a member before, on the node that answered. Writes, like Incr.
  Result<wire::SetOpResponse> Sadd(std::string key, std::string element,
                                   wire::RequestOptions options = {});
  Result<wire::SetOpResponse> Srem(std::string key, std::string element,
                                   wire::RequestOptions options = {});
  // Smembers: the members of the set `key`, sorted bytewise (none if it is absent).
  Result<wire::SmembersResponse> Smembers(std::string key, wire::RequestOptions options = {});
  Result<std::string> Ping(std::string payload = {});
  Result<std::string> StatusJson();

  // The server's HELLO answer on the current connection (version, mode, limits).
  // REQUIRES: a connection was established (after Connect() or a completed request).
  wire::HelloResponse server_info() const;
  // The endpoint of the current connection, or "" when disconnected.
  std::string connected_endpoint() const;
  // The newest session token seen (empty if none).
  std::string session_token() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

// Splits "host:port" / "[v6]:port". Errors: kInvalidArgument.
Status ParseEndpoint(const std::string& endpoint, std::string* host, uint16_t* port);

}  // namespace kvd::client
