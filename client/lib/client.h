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
// and a sequence number; a leader_follower cluster applies a write with a given (client
// id, sequence) at most once whichever node it reaches, so against one (HELLO mode
// "leader_follower") a write is repeated too, also after an UNAVAILABLE answer. Elsewhere
// a write whose connection failed, or that was answered UNAVAILABLE, fails with
// kUnavailable ("may or may not have been applied"): a single server cannot tell, a
// multi_leader node deduplicates only what it received itself, and dynamo does not
// deduplicate, so a repeat on another node would be a second write (an INCR counted
// twice).
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
// Smart routing (ClientOptions::smart_routing, off by default). For a dynamo ring, the
// client sends each single-key request (GET, GETS, PUT, DELETE) straight to a replica of
// its key instead of to whichever node it is connected to, saving the hop a node that is
// not a replica makes (it forwards a write to a replica; as a read's coordinator it asks
// all N replicas over the network, where a replica reads its own copy). How:
//   * The client asks a node for its STATUS when it connects (Connect(), or the first
//     request), again every `ring_refresh_interval` (every `node_failure_hold` while that
//     node sees others down), and again soon after a node fails (at most once a second).
//     If the node runs in mode "dynamo", the client rebuilds the ring that holds the data
//     (the read ring: the document's "members" whose role is normal or leaving; from a
//     node without membership changes, its "configured_members") from their ids, zones
//     and client addresses and tokens_per_node with ring::Ring::Make, as every node does.
//     During a join or decommission a write sent to a read-ring replica is coordinated
//     there for both rings. After a change, until the next refresh, requests may take the
//     hop the client means to save.
//   * A routed request goes to the first of the key's N replicas (ring::Ring::Replicas)
//     that the client has not seen fail within `node_failure_hold` and that the STATUS
//     node did not report down, over one connection per node, opened when first needed.
//     A node that cannot be reached fails the attempt at once (no reconnect loop), and the
//     request goes to the next such replica, then, when none is left, through the
//     endpoint list as without smart routing (any node coordinates it). So the members'
//     client addresses (cluster.members[].client) must be reachable from the client as
//     they are written. Retries follow the rules above: a request whose connection was
//     lost in flight is repeated on the next node (reads always; writes carry their client
//     id and sequence, and dynamo is replicated), all within the request's one deadline.
//   * Everything else (other requests, other modes, a node whose STATUS cannot be read or
//     parsed, the time before the first STATUS answer) goes through the endpoint list
//     exactly as without smart routing. The first endpoint's connection stays open for
//     STATUS refreshes, next to the per-node ones.
// server_info(), connected_endpoint() and session_token() describe that endpoint-list
// connection. Callbacks of routed requests run on the same I/O thread as the others. What
// it gains and costs, measured: docs/BENCHMARKS.md ("dynamo").
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
  // Dynamo rings: send single-key requests straight to a replica of the key (see "Smart
  // routing" above). No effect on other modes, apart from one STATUS request per
  // ring_refresh_interval.
  bool smart_routing = false;
  std::chrono::milliseconds ring_refresh_interval{30000};
  // A node the client failed to reach is skipped for this long (then tried again).
  std::chrono::milliseconds node_failure_hold{2000};
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
  class Router;
  std::shared_ptr<Impl> impl_;      // the endpoint-list connection
  std::shared_ptr<Router> router_;  // smart routing (null when off)
  // With smart routing and no ClientOptions::io_threads: the client's own I/O thread,
  // shared by all its connections; released last.
  std::shared_ptr<IoThreads> own_threads_;
};

// Splits "host:port" / "[v6]:port". Errors: kInvalidArgument.
Status ParseEndpoint(const std::string& endpoint, std::string* host, uint16_t* port);

}  // namespace kvd::client
