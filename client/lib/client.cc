#include "client/lib/client.h"

#include <utility>  // must precede Asio with GCC 12 + C++20

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>
#include <algorithm>
#include <atomic>

#include "common/read_buffer.h"
#include "common/ring/ring.h"
#include "common/wire/codec.h"
#include "common/wire/frame.h"

namespace kvd::client {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kDeadlineSweep = std::chrono::milliseconds(10);
// A redirect to an endpoint that failed to connect this recently is not followed.
constexpr auto kStaleHintWindow = std::chrono::milliseconds(1000);
constexpr size_t kReadChunkBytes = 64u << 10;

// Reads: sent again on a new connection without any dedup. INCR, SADD and SREM are writes
// (IsWriteRequest): an INCR repeated without its dedup pair would count twice.
bool IsIdempotent(wire::Opcode op) {
  switch (op) {
    case wire::Opcode::kGet:
    case wire::Opcode::kGets:
    case wire::Opcode::kSmembers:
    case wire::Opcode::kScan:
    case wire::Opcode::kPing:
    case wire::Opcode::kStatus: return true;
    default: return false;
  }
}

}  // namespace

Status ParseEndpoint(const std::string& endpoint, std::string* host, uint16_t* port) {
  std::string_view e(endpoint);
  size_t colon = e.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == e.size()) {
    return Status::InvalidArgument(
        fmt::format("endpoint \"{}\" must be host:port (e.g. 127.0.0.1:7379)", endpoint));
  }
  std::string_view h = e.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) {
    return Status::InvalidArgument(fmt::format("endpoint \"{}\" has no host", endpoint));
  }
  unsigned long value = 0;
  for (char c : e.substr(colon + 1)) {
    if (c < '0' || c > '9' || value > 65535) {
      return Status::InvalidArgument(
          fmt::format("endpoint \"{}\" has an invalid port (expected 1..65535)", endpoint));
    }
    value = value * 10 + static_cast<unsigned long>(c - '0');
  }
  if (value == 0 || value > 65535) {
    return Status::InvalidArgument(
        fmt::format("endpoint \"{}\" has an invalid port (expected 1..65535)", endpoint));
  }
  *host = std::string(h);
  *port = static_cast<uint16_t>(value);
  return Status::Ok();
}

class IoThreads {
 public:
  explicit IoThreads(size_t count) {
    KVD_ASSERT(count > 0);
    for (size_t i = 0; i < count; ++i) {
      contexts_.push_back(std::make_unique<asio::io_context>(1));
      guards_.push_back(asio::make_work_guard(*contexts_.back()));
    }
    for (auto& io : contexts_) threads_.emplace_back([ctx = io.get()] { ctx->run(); });
  }
  ~IoThreads() {
    // Every client using the pool is gone (the owner's contract); the handlers they left
    // queued run now, releasing the last references to their clients, and the loops exit.
    for (auto& g : guards_) g.reset();
    for (auto& t : threads_) t.join();
  }
  asio::io_context* Next() {
    return contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()].get();
  }

 private:
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> next_{0};
};

std::shared_ptr<IoThreads> MakeIoThreads(size_t count) {
  return std::make_shared<IoThreads>(count);
}

// Every asynchronous handler holds a shared_ptr to the Impl, so an Impl on shared I/O
// threads stays alive until its last handler has run, after the Client is gone.
//
// An Impl is also the per-node connection of smart routing (Client::Router): then it runs
// on the router's I/O context (`shared_io`) and is `fail_fast`: when it cannot connect, or
// loses its connection, it fails its requests at once with kUnavailable instead of
// reconnecting and repeating them, so that the router can send them to another replica.
class Client::Impl : public std::enable_shared_from_this<Client::Impl> {
 public:
  explicit Impl(ClientOptions options, asio::io_context* shared_io = nullptr,
                bool fail_fast = false)
      : options_(std::move(options)),
        pool_(shared_io ? nullptr : options_.io_threads.get()),
        own_io_(pool_ || shared_io ? nullptr : std::make_unique<asio::io_context>(1)),
        io_(shared_io ? *shared_io : pool_ ? *pool_->Next() : *own_io_),
        fail_fast_(fail_fast),
        socket_(io_),
        resolver_(io_),
        connect_timer_(io_),
        backoff_timer_(io_),
        sweep_timer_(io_) {
    backoff_ = options_.backoff_initial;
    client_id_ = jitter_rng_() | 1;  // non-zero: the server's dedup key for our writes
    // The pool's owner keeps it alive; a reference here could be the last one, dropped on
    // a pool thread that would then have to join itself.
    options_.io_threads.reset();
    if (own_io_) {
      work_.emplace(asio::make_work_guard(io_));
      thread_ = std::thread([this] { io_.run(); });
    }
  }

  ~Impl() { KVD_ASSERT(!thread_.joinable()); }

  // Fails what is pending, closes the connection and (with its own thread) joins it.
  // REQUIRES: not on this client's I/O thread.
  void Shutdown() {
    KVD_ASSERT(!OnIoThread());
    std::promise<void> done;
    asio::post(io_, [this, self = shared_from_this(), &done] {
      closed_ = true;
      ++connect_attempt_;  // resolve/connect/timer handlers still queued find nothing to do
      FailAll(Status::Unavailable("client closed"));
      CloseSocket();
      resolver_.cancel();
      connect_timer_.cancel();
      backoff_timer_.cancel();
      sweep_timer_.cancel();
      done.set_value();
    });
    done.get_future().wait();
    if (own_io_) {
      work_.reset();
      thread_.join();
    }
  }

  void Send(wire::Request request, Callback callback) {
    SendUntil(std::move(request), std::move(callback), Clock::now() + options_.request_timeout);
  }

  // Send with the deadline given (smart routing: one deadline across the nodes tried).
  void SendUntil(wire::Request request, Callback callback, Clock::time_point deadline) {
    Pending p{std::move(request), std::move(callback), deadline};
    if (io_.get_executor().running_in_this_thread()) {
      Enqueue(std::move(p));
      return;
    }
    std::lock_guard lock(submit_mu_);
    submit_.push_back(std::move(p));
    if (!submit_posted_) {
      submit_posted_ = true;
      asio::post(io_, [this, self = shared_from_this()] { DrainSubmissions(); });
    }
  }

  Status Connect() {
    auto promise = std::make_shared<std::promise<Status>>();
    auto future = promise->get_future();
    asio::post(io_, [this, self = shared_from_this(), promise] {
      if (state_ == State::kReady) {
        promise->set_value(Status::Ok());
        return;
      }
      connect_waiters_.push_back(promise);
      if (state_ == State::kDisconnected) StartConnect(/*round_start=*/true);
    });
    return future.get();
  }

  wire::HelloResponse server_info() const {
    std::lock_guard lock(info_mu_);
    return server_info_;
  }
  std::string connected_endpoint() const {
    std::lock_guard lock(info_mu_);
    return connected_endpoint_;
  }
  std::string session_token() const {
    std::lock_guard lock(info_mu_);
    return session_token_;
  }
  bool OnIoThread() { return io_.get_executor().running_in_this_thread(); }
  asio::io_context& io() { return io_; }

 private:
  enum class State { kDisconnected, kConnecting, kHandshaking, kReady };
  struct Pending {
    wire::Request request;
    Callback callback;
    Clock::time_point deadline;
    uint32_t redirects = 0;
  };

  void DrainSubmissions() {
    std::vector<Pending> batch;
    {
      std::lock_guard lock(submit_mu_);
      batch.swap(submit_);
      submit_posted_ = false;
    }
    for (Pending& p : batch) Enqueue(std::move(p));
  }

  void Enqueue(Pending p) {
    if (closed_) {
      p.callback(Status::Unavailable("client closed"));
      return;
    }
    p.request.request_id = next_request_id_++;
    // While a redirect waits for this connection to drain, new requests wait too: sent
    // here they would only be redirected again.
    if (state_ == State::kReady && inflight_.size() < options_.max_inflight &&
        !redirect_endpoint_.has_value()) {
      Transmit(std::move(p));
    } else {
      waiting_.push_back(std::move(p));
      if (state_ == State::kDisconnected && !backoff_armed_) StartConnect(true);
    }
    ArmSweep();
  }

  void Transmit(Pending p) {
    wire::Request& r = p.request;
    if (IsWriteRequest(r) && r.options.client_id == 0) {
      // Once per write: a repeat of it carries the same pair (server-side dedup).
      r.options.client_id = client_id_;
      r.options.sequence = ++sequence_;
    }
    if (wire::IsDataOpcode(r.opcode()) && r.options.consistency == wire::Consistency::kSession &&
        r.options.session_token.empty()) {
      std::lock_guard lock(info_mu_);
      r.options.session_token = session_token_;
    }
    wire::EncodeRequest(r, &out_);
    uint64_t id = r.request_id;
    inflight_.emplace(id, std::move(p));
    ScheduleWrite();
  }

  void FlushWaiting() {
    while (state_ == State::kReady && !waiting_.empty() && !redirect_endpoint_.has_value() &&
           inflight_.size() < options_.max_inflight) {
      Pending p = std::move(waiting_.front());
      waiting_.pop_front();
      Transmit(std::move(p));
    }
  }

  // ---- connecting ----

  void StartConnect(bool round_start) {
    if (closed_) return;
    // One attempt at a time: a callback run while a connection is lost may send again.
    if (round_start && state_ != State::kDisconnected) return;
    if (round_start) {
      endpoint_index_ = preferred_endpoint_ < options_.endpoints.size() ? preferred_endpoint_ : 0;
      endpoints_tried_ = 0;
      round_errors_.clear();
    }
    if (options_.endpoints.empty()) {
      FailAll(Status::InvalidArgument("no endpoints configured (ClientOptions::endpoints)"));
      return;
    }
    state_ = State::kConnecting;
    const std::string& endpoint = options_.endpoints[endpoint_index_];
    std::string host;
    uint16_t port = 0;
    if (Status s = ParseEndpoint(endpoint, &host, &port); !s.ok()) {
      ConnectFailed(s.message());
      return;
    }
    // One deadline covers resolving, connecting and the HELLO exchange: a server that
    // accepts but never answers must not stall the client.
    uint64_t attempt = ++connect_attempt_;
    connect_timer_.expires_after(options_.connect_timeout);
    connect_timer_.async_wait([this, self = shared_from_this(), attempt](const boost::system::error_code& ec) {
      if (ec || attempt != connect_attempt_) return;  // the attempt finished first
      connect_timed_out_ = true;
      if (state_ == State::kHandshaking) {
        ConnectionLost(Status::Timeout("no answer to HELLO in time"));
        return;
      }
      resolver_.cancel();
      boost::system::error_code ignored;
      socket_.close(ignored);  // aborts the connect; its handler reports the timeout
    });
    connect_timed_out_ = false;
    resolver_.async_resolve(
        host, std::to_string(port),
        [this, self = shared_from_this(), attempt](const boost::system::error_code& ec,
                                                   const tcp::resolver::results_type& results) {
          if (attempt != connect_attempt_) return;  // superseded (or the client closed)
          if (ec || connect_timed_out_) {
            ConnectFailed(connect_timed_out_ ? "timed out" : ec.message());
            return;
          }
          asio::async_connect(socket_, results,
                              [this, self, attempt](const boost::system::error_code& cec,
                                                    const tcp::endpoint&) {
                                if (attempt != connect_attempt_) return;
                                OnConnected(cec);
                              });
        });
  }

  void OnConnected(const boost::system::error_code& ec) {
    if (ec) {
      ConnectFailed(connect_timed_out_ ? "timed out" : ec.message());
      return;
    }
    boost::system::error_code ignored;
    socket_.set_option(tcp::no_delay(true), ignored);
    state_ = State::kHandshaking;
    in_ = ReadBuffer();
    pending_frame_bytes_ = 0;
    wire::Request hello;
    hello.request_id = hello_request_id_ = next_request_id_++;
    hello.body = wire::HelloRequest{wire::kProtocolVersion, wire::kProtocolVersion,
                                    options_.client_name};
    out_.clear();
    wire::EncodeRequest(hello, &out_);
    ScheduleWrite();
    Read();
  }

  void ConnectFailed(const std::string& reason) {
    if (closed_) return;
    ++connect_attempt_;
    connect_timer_.cancel();
    CloseSocket();
    round_errors_.push_back(fmt::format("{}: {}", options_.endpoints[endpoint_index_], reason));
    failed_endpoints_[options_.endpoints[endpoint_index_]] = Clock::now();
    if (++endpoints_tried_ < options_.endpoints.size()) {
      endpoint_index_ = (endpoint_index_ + 1) % options_.endpoints.size();
      StartConnect(false);
      return;
    }
    // Next round starts with the endpoint after the last one tried.
    preferred_endpoint_ = (endpoint_index_ + 1) % options_.endpoints.size();
    // Every endpoint failed this round.
    state_ = State::kDisconnected;
    Status s = Status::Unavailable(
        fmt::format("cannot connect to kvd ({})", fmt::join(round_errors_, "; ")));
    for (auto& w : connect_waiters_) w->set_value(s);
    connect_waiters_.clear();
    last_connect_error_ = s;
    if (fail_fast_) {
      // Nothing was sent: the router may send these to another node.
      std::deque<Pending> failed;
      failed.swap(waiting_);
      for (Pending& p : failed) p.callback(s);
      return;
    }
    ScheduleReconnect();
  }

  // Requests are waiting: try again after a backoff, until their deadlines pass.
  void ScheduleReconnect() {
    if (closed_ || waiting_.empty() || backoff_armed_) return;
    backoff_armed_ = true;
    backoff_timer_.expires_after(backoff_);
    backoff_ = std::min(backoff_ * 2, options_.backoff_max);
    backoff_timer_.async_wait([this, self = shared_from_this()](const boost::system::error_code& ec) {
      backoff_armed_ = false;
      if (ec) return;
      StartConnect(true);
    });
  }

  void OnHello(const wire::Response& r) {
    if (!r.ok()) {
      ConnectionLost(Status(r.status, fmt::format("handshake refused: {}", r.message)));
      return;
    }
    const auto* hello = std::get_if<wire::HelloResponse>(&r.body);
    if (hello == nullptr) {
      ConnectionLost(Status::ProtocolError("HELLO answer has no body"));
      return;
    }
    {
      std::lock_guard lock(info_mu_);
      server_info_ = *hello;
      connected_endpoint_ = options_.endpoints[endpoint_index_];
    }
    replicated_ = hello->mode != "single";
    dedup_across_nodes_ = hello->mode == "leader_follower";
    preferred_endpoint_ = endpoint_index_;
    redirect_endpoint_.reset();
    ++connect_attempt_;
    connect_timer_.cancel();
    state_ = State::kReady;
    for (auto& w : connect_waiters_) w->set_value(Status::Ok());
    connect_waiters_.clear();
    FlushWaiting();
  }

  // ---- I/O ----

  void ScheduleWrite() {
    if (write_active_ || write_scheduled_) return;
    write_scheduled_ = true;
    asio::post(io_, [this, self = shared_from_this()] {
      write_scheduled_ = false;
      Write();
    });
  }

  void Write() {
    if (write_active_ || out_.empty() || !socket_.is_open()) return;
    writing_.swap(out_);
    out_.clear();
    write_active_ = true;
    uint64_t generation = generation_;
    asio::async_write(socket_, asio::buffer(writing_),
                      [this, self = shared_from_this(), generation](const boost::system::error_code& ec,
                                                                      size_t) {
                        // A write of an old connection must not touch the new one's state
                        // (CloseSocket already reset it).
                        if (generation != generation_) return;
                        write_active_ = false;
                        writing_.clear();
                        if (ec) {
                          ConnectionLost(Status::Unavailable(ec.message()));
                          return;
                        }
                        Write();
                      });
  }

  void Read() {
    char* dest = in_.Reserve(std::max(kReadChunkBytes, pending_frame_bytes_));
    uint64_t generation = generation_;
    socket_.async_read_some(asio::buffer(dest, in_.WritableBytes()),
                            [this, self = shared_from_this(), generation](
                                const boost::system::error_code& ec, size_t n) {
                              if (generation != generation_) return;
                              if (ec) {
                                ConnectionLost(Status::Unavailable(
                                    ec == asio::error::eof ? "closed by the server"
                                                           : ec.message()));
                                return;
                              }
                              in_.Commit(n);
                              if (ProcessFrames()) Read();
                            });
  }

  // Returns false if the connection was dropped.
  bool ProcessFrames() {
    pending_frame_bytes_ = 0;
    while (in_.Readable().size() >= wire::kFrameHeaderBytes) {
      std::string_view avail = in_.Readable();
      wire::FrameHeader h;
      if (Status s = wire::DecodeFrameHeader(avail, wire::kMaxFrameBytesCeiling, &h); !s.ok()) {
        ConnectionLost(s);
        return false;
      }
      if (avail.size() < h.frame_bytes()) {
        pending_frame_bytes_ = h.frame_bytes() - avail.size();
        return true;
      }
      Result<wire::Response> r =
          wire::DecodeResponse(h, avail.substr(wire::kFrameHeaderBytes, h.body_bytes()));
      in_.Consume(h.frame_bytes());
      if (!r.ok()) {
        ConnectionLost(r.status());
        return false;
      }
      uint64_t generation = generation_;
      Dispatch(std::move(r).value());
      if (generation != generation_) return false;
    }
    return true;
  }

  void Dispatch(wire::Response r) {
    // A server at its connection limit answers UNAVAILABLE with request id 0 and closes.
    if (state_ == State::kHandshaking &&
        (r.request_id == hello_request_id_ || (r.request_id == 0 && !r.ok()))) {
      OnHello(r);
      return;
    }
    auto it = inflight_.find(r.request_id);
    if (it == inflight_.end()) {
      // A protocol error answer may carry the id of the frame the server could not read;
      // a response to a timed-out request is simply late.
      if (r.status == Code::kProtocolError) ConnectionLost(r.ToStatus());
      return;
    }
    Pending p = std::move(it->second);
    inflight_.erase(it);
    if (options_.follow_redirects && MaybeRedirect(r, p)) {
      MaybeSwitchEndpoint();
      return;
    }
    backoff_ = options_.backoff_initial;  // the connection works: reconnect fast next time
    if (r.ok() && !r.session_token.empty()) {
      std::lock_guard lock(info_mu_);
      if (session_token_.size() != r.session_token.size() || session_token_ < r.session_token) {
        session_token_ = r.session_token;
      }
    }
    FlushWaiting();
    p.callback(std::move(r));
  }

  static bool IsWriteRequest(const wire::Request& r) {
    switch (r.opcode()) {
      case wire::Opcode::kPut:
      case wire::Opcode::kDelete:
      case wire::Opcode::kCas:
      case wire::Opcode::kBatch:
      case wire::Opcode::kIncr:
      case wire::Opcode::kSadd:
      case wire::Opcode::kSrem: return true;
      default: return false;
    }
  }

  // Handles NOT_LEADER and UNAVAILABLE answers that can be retried elsewhere or later.
  // Returns true if the request was taken back (it will be sent again).
  bool MaybeRedirect(const wire::Response& r, Pending& p) {
    bool not_leader = r.status == Code::kNotLeader;
    // UNAVAILABLE from a replicated server: a leadership change or a full queue. A write
    // may be repeated only with its dedup pair, which Transmit gave it, and only where the
    // whole cluster deduplicates (see dedup_across_nodes_).
    bool unavailable = r.status == Code::kUnavailable && replicated_ &&
                       (!IsWriteRequest(p.request) ||
                        (dedup_across_nodes_ && p.request.options.client_id != 0));
    if (!not_leader && !unavailable) return false;
    if (Clock::now() >= p.deadline) return false;
    bool has_hint = not_leader && !r.detail.leader_hint.empty() &&
                    r.detail.leader_hint != connected_endpoint();
    if (has_hint) {
      // A hint naming a node we just failed to reach is stale (the leader died and the
      // followers do not know it yet): wait for the election instead of bouncing.
      auto failed = failed_endpoints_.find(r.detail.leader_hint);
      if (failed != failed_endpoints_.end() &&
          Clock::now() - failed->second < kStaleHintWindow) {
        has_hint = false;
      }
    }
    if (has_hint) {
      // Redirects between nodes that disagree about the leader must not loop forever.
      if (p.redirects >= options_.max_redirects) return false;
      ++p.redirects;
      const std::string& hint = r.detail.leader_hint;
      auto pos = std::find(options_.endpoints.begin(), options_.endpoints.end(), hint);
      if (pos == options_.endpoints.end()) {
        options_.endpoints.push_back(hint);
        pos = options_.endpoints.end() - 1;
      }
      redirect_endpoint_ = static_cast<size_t>(pos - options_.endpoints.begin());
      waiting_.push_front(std::move(p));
      return true;
    }
    // No hint (an election is under way) or a transient refusal: back off, with jitter so
    // that many clients do not retry in step, and try the next endpoint if there was no
    // leader to name.
    std::uniform_int_distribution<int64_t> jitter(0, backoff_.count());
    auto delay = backoff_ + std::chrono::milliseconds(jitter(jitter_rng_));
    backoff_ = std::min(backoff_ * 2, options_.backoff_max);
    if (not_leader && options_.endpoints.size() > 1) {
      redirect_endpoint_ = (endpoint_index_ + 1) % options_.endpoints.size();
    }
    auto timer = std::make_shared<asio::steady_timer>(io_, delay);
    auto held = std::make_shared<Pending>(std::move(p));
    ++delayed_;
    timer->async_wait([this, self = shared_from_this(), timer, held](const boost::system::error_code&) {
      --delayed_;
      if (closed_) {
        held->callback(Status::Unavailable("client closed"));
        return;
      }
      waiting_.push_back(std::move(*held));
      if (state_ == State::kReady) {
        FlushWaiting();
      } else if (state_ == State::kDisconnected && !backoff_armed_) {
        StartConnect(true);
      }
      ArmSweep();
    });
    return true;
  }

  // After a redirect, once nothing is in flight on the current connection, moves it to
  // the endpoint the redirect named.
  void MaybeSwitchEndpoint() {
    if (!redirect_endpoint_.has_value() || !inflight_.empty()) {
      FlushWaiting();
      return;
    }
    preferred_endpoint_ = *redirect_endpoint_;
    redirect_endpoint_.reset();
    if (state_ == State::kReady && preferred_endpoint_ == endpoint_index_) {
      FlushWaiting();
      return;
    }
    CloseSocket();
    state_ = State::kDisconnected;
    {
      std::lock_guard lock(info_mu_);
      connected_endpoint_.clear();
    }
    StartConnect(true);
  }

  void CloseSocket() {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    ++generation_;
    write_active_ = false;
    out_.clear();
  }

  void ConnectionLost(const Status& cause) {
    if (closed_) return;
    if (redirect_endpoint_.has_value()) {  // the connection was leaving anyway
      preferred_endpoint_ = *redirect_endpoint_;
      redirect_endpoint_.reset();
    }
    std::string endpoint = options_.endpoints[endpoint_index_];
    bool was_handshaking = state_ == State::kHandshaking;
    CloseSocket();
    state_ = State::kDisconnected;
    {
      std::lock_guard lock(info_mu_);
      connected_endpoint_.clear();
    }
    if (was_handshaking) {
      // Treat a failed handshake like a failed connect: try the next endpoint.
      state_ = State::kConnecting;
      ConnectFailed(cause.ToString());
      return;
    }
    if (fail_fast_) {
      // The router decides what may be repeated elsewhere; state is settled first.
      Status lost = Status::Unavailable(fmt::format(
          "connection to {} lost ({}); the request may or may not have been applied", endpoint,
          cause.message()));
      std::vector<Pending> failed;
      for (auto& [id, p] : inflight_) failed.push_back(std::move(p));
      inflight_.clear();
      for (Pending& p : waiting_) failed.push_back(std::move(p));
      waiting_.clear();
      for (Pending& p : failed) p.callback(lost);
      return;
    }
    // Requests in flight: repeat the safe ones, fail the rest as indeterminate.
    std::vector<uint64_t> ids;
    for (auto& [id, p] : inflight_) ids.push_back(id);
    std::sort(ids.begin(), ids.end(), std::greater<>());
    auto now = Clock::now();
    std::vector<Pending> failed;
    for (uint64_t id : ids) {
      Pending p = std::move(inflight_[id]);
      inflight_.erase(id);
      bool repeatable = IsIdempotent(p.request.opcode()) ||
                        (dedup_across_nodes_ && p.request.options.client_id != 0);
      if (repeatable && p.deadline > now) {
        waiting_.push_front(std::move(p));
      } else {
        failed.push_back(std::move(p));
      }
    }
    // Reconnect after a backoff, so a server that accepts and then drops connections is not
    // hammered; the state is settled before any callback runs (callbacks may Send).
    ScheduleReconnect();
    Status lost = Status::Unavailable(
        fmt::format("connection to {} lost ({}); the request may or may not have been applied",
                    endpoint, cause.message()));
    for (Pending& p : failed) p.callback(lost);
    if (!waiting_.empty()) ScheduleReconnect();
  }

  void FailAll(const Status& s) {
    std::vector<Pending> all;
    for (auto& [id, p] : inflight_) all.push_back(std::move(p));
    inflight_.clear();
    for (auto& p : waiting_) all.push_back(std::move(p));
    waiting_.clear();
    for (auto& p : all) p.callback(s);
    for (auto& w : connect_waiters_) w->set_value(s);
    connect_waiters_.clear();
  }

  // ---- deadlines ----

  void ArmSweep() {
    if (sweep_armed_) return;
    sweep_armed_ = true;
    sweep_timer_.expires_after(kDeadlineSweep);
    sweep_timer_.async_wait([this, self = shared_from_this()](const boost::system::error_code& ec) {
      sweep_armed_ = false;
      if (ec) return;
      Sweep();
      if (!inflight_.empty() || !waiting_.empty()) ArmSweep();
    });
  }

  void Sweep() {
    auto now = Clock::now();
    std::vector<Pending> expired;
    for (auto it = inflight_.begin(); it != inflight_.end();) {
      if (it->second.deadline <= now) {
        expired.push_back(std::move(it->second));
        it = inflight_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (it->deadline <= now) {
        expired.push_back(std::move(*it));
        it = waiting_.erase(it);
      } else {
        ++it;
      }
    }
    for (Pending& p : expired) {
      std::string why = state_ == State::kReady
                            ? fmt::format("no answer from {} within {} ms", connected_endpoint(),
                                          options_.request_timeout.count())
                        : !last_connect_error_.ok()
                            ? fmt::format("not sent within {} ms: {}",
                                          options_.request_timeout.count(),
                                          last_connect_error_.message())
                            : fmt::format("not sent within {} ms: still connecting",
                                          options_.request_timeout.count());
      p.callback(Status::Timeout(why));
    }
    FlushWaiting();
  }

  ClientOptions options_;
  IoThreads* pool_;                           // shared I/O threads, or
  std::unique_ptr<asio::io_context> own_io_;  // this client's own loop and thread
  asio::io_context& io_;
  const bool fail_fast_;  // a per-node connection of smart routing (see above)
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  tcp::socket socket_;
  tcp::resolver resolver_;
  asio::steady_timer connect_timer_;
  asio::steady_timer backoff_timer_;
  asio::steady_timer sweep_timer_;
  std::thread thread_;

  // I/O thread state.
  State state_ = State::kDisconnected;
  size_t endpoint_index_ = 0;
  size_t endpoints_tried_ = 0;
  size_t preferred_endpoint_ = 0;  // where the next connection round starts
  std::optional<size_t> redirect_endpoint_;  // move there once nothing is in flight
  bool replicated_ = false;        // the server's HELLO named a replicated topology
  // The server's topology applies a write with a given (client id, sequence) once across
  // all its nodes, so a write may be repeated on whichever node the client reaches next:
  // leader_follower (the client table is part of the Raft state). multi_leader keeps it
  // per node and dynamo not at all: a repeat elsewhere would be a second write.
  bool dedup_across_nodes_ = false;
  uint64_t client_id_ = 0;
  uint64_t sequence_ = 0;
  std::mt19937_64 jitter_rng_{std::random_device{}()};
  uint64_t delayed_ = 0;           // requests waiting out a retry backoff
  std::unordered_map<std::string, Clock::time_point> failed_endpoints_;  // last failure
  std::vector<std::string> round_errors_;
  Status last_connect_error_;
  std::chrono::milliseconds backoff_;
  bool backoff_armed_ = false;
  bool connect_timed_out_ = false;
  uint64_t connect_attempt_ = 0;  // invalidates the timer of a finished attempt
  bool sweep_armed_ = false;
  uint64_t next_request_id_ = 1;
  uint64_t hello_request_id_ = 0;
  uint64_t generation_ = 0;  // bumps when a socket is closed; stale handlers check it
  std::unordered_map<uint64_t, Pending> inflight_;
  std::deque<Pending> waiting_;
  std::vector<std::shared_ptr<std::promise<Status>>> connect_waiters_;
  ReadBuffer in_;
  size_t pending_frame_bytes_ = 0;
  std::string out_;
  std::string writing_;
  bool write_active_ = false;
  bool write_scheduled_ = false;
  bool closed_ = false;  // Shutdown ran: fail new requests at once

  // Shared with other threads.
  std::mutex submit_mu_;
  std::vector<Pending> submit_;
  bool submit_posted_ = false;
  mutable std::mutex info_mu_;
  wire::HelloResponse server_info_;
  std::string connected_endpoint_;
  std::string session_token_;
};

// ---- smart routing ----

namespace {

// Smart routing: at most one STATUS refresh per this long after a node failed.
constexpr auto kMinRefreshGap = std::chrono::milliseconds(1000);

// What smart routing knows of a dynamo ring, from one node's STATUS document, laid out
// for a lookup per request without allocating: the ring's ranges (ring::Ring::Ranges,
// (previous end, end], in token order; the first one wraps around) with their replicas.
// A key's replicas are those of the first range whose end is at or after the key's token
// (wrapping to the first range), which is what ring::Ring::Replicas computes by walking
// the circle.
struct RouteTable {
  struct Node {
    uint64_t id = 0;
    std::string client;  // "host:port"
    bool down = false;   // as the node that answered STATUS saw it
  };
  std::vector<Node> nodes;         // sorted by id
  size_t per_range = 0;            // replicas per range: min(N, nodes)
  std::vector<uint64_t> ends;      // range end tokens, ascending
  std::vector<uint32_t> replicas;  // per range, per_range indices into nodes, in order
  // For each of 2^kIndexBits equal slices of the circle, the first range ending at or
  // after the slice's start: a lookup scans from there (a range or two with 256 tokens
  // per node) instead of binary-searching `ends`, which misses the cache at every step.
  static constexpr int kIndexBits = 12;
  std::vector<uint32_t> index;
  bool any_down = false;

  void BuildIndex() {
    index.resize(size_t{1} << kIndexBits);
    for (size_t slice = 0; slice < index.size(); ++slice) {
      const uint64_t start = uint64_t{slice} << (64 - kIndexBits);
      index[slice] = static_cast<uint32_t>(std::lower_bound(ends.begin(), ends.end(), start) -
                                           ends.begin());
    }
  }

  // The replicas of the key (indices into nodes): per_range entries from the result.
  const uint32_t* ReplicasOf(std::string_view key) const {
    const uint64_t token = ring::Hash64(key);
    size_t range = index[token >> (64 - kIndexBits)];
    while (range < ends.size() && ends[range] < token) ++range;
    if (range == ends.size()) range = 0;  // after the last token: the range that wraps
    return &replicas[range * per_range];
  }
};

// The key of a request smart routing sends to a replica (nullptr: not routed).
const std::string* RoutedKey(const wire::Request& r) {
  if (const auto* b = std::get_if<wire::GetRequest>(&r.body)) return &b->key;
  if (const auto* b = std::get_if<wire::GetsRequest>(&r.body)) return &b->key;
  if (const auto* b = std::get_if<wire::PutRequest>(&r.body)) return &b->key;
  if (const auto* b = std::get_if<wire::DeleteRequest>(&r.body)) return &b->key;
  return nullptr;
}

// The ring members a STATUS document's "dynamo" object names: its "members" (the ring
// state the nodes gossip) when their roles are ring states, keeping those that hold data
// now ("normal" and "leaving": the read ring, whose replicas coordinate; a "joining" node
// is still being filled); otherwise, from a node that predates membership changes, its
// "configured_members".
const nlohmann::json* RingMembersOf(const nlohmann::json& dynamo, bool* by_role) {
  *by_role = false;
  if (const auto members = dynamo.find("members");
      members != dynamo.end() && members->is_array() && !members->empty()) {
    *by_role = true;
    for (const nlohmann::json& m : *members) {
      const std::string role = m.value("role", std::string());
      *by_role = *by_role && (role == "normal" || role == "joining" || role == "leaving");
    }
    if (*by_role) return &*members;
  }
  return &dynamo.at("configured_members");
}

// Reads a STATUS document (docs/PROTOCOL.md, "dynamo" object). Returns null when the node
// is not in mode dynamo. Errors: kProtocolError naming what is missing or malformed.
Result<std::shared_ptr<const RouteTable>> ParseRouteTable(const std::string& json) {
  const nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::ProtocolError("the STATUS document is not a JSON object");
  }
  const auto mode = j.find("mode");
  if (mode == j.end() || !mode->is_string()) {
    return Status::ProtocolError("the STATUS document has no mode");
  }
  if (mode->get<std::string>() != "dynamo") return std::shared_ptr<const RouteTable>();
  // nlohmann::json reports a missing field or a wrong type by throwing: caught here.
  try {
    const nlohmann::json& d = j.at("dynamo");
    auto table = std::make_shared<RouteTable>();
    const auto n = d.at("replicas").get<size_t>();
    const auto tokens = d.at("tokens_per_node").get<uint32_t>();
    std::vector<ring::NodeSpec> specs;
    bool by_role = false;
    for (const nlohmann::json& m : *RingMembersOf(d, &by_role)) {
      if (by_role && m.at("role").get<std::string>() == "joining") continue;
      const auto id = m.at("id").get<uint64_t>();
      auto client = m.at("client").get<std::string>();
      std::string host;
      uint16_t port = 0;
      if (Status s = ParseEndpoint(client, &host, &port); !s.ok()) {
        return Status::ProtocolError(fmt::format("member {}: {}", id, s.message()));
      }
      specs.push_back(ring::NodeSpec{id, tokens, m.value("zone", std::string())});
      table->nodes.push_back(RouteTable::Node{id, std::move(client), false});
    }
    std::set<uint64_t> down;
    if (const auto peers = d.find("peers"); peers != d.end()) {
      for (const nlohmann::json& p : *peers) {
        if (p.value("state", std::string()) == "down") down.insert(p.at("id").get<uint64_t>());
      }
    }
    Result<ring::Ring> ring = ring::Ring::Make(std::move(specs));
    if (!ring.ok()) {
      return Status::ProtocolError(
          fmt::format("the ring of the STATUS document: {}", ring.status().message()));
    }
    if (n == 0) return Status::ProtocolError("the STATUS document has replicas 0");
    std::sort(table->nodes.begin(), table->nodes.end(),
              [](const RouteTable::Node& a, const RouteTable::Node& b) { return a.id < b.id; });
    std::map<uint64_t, uint32_t> index;
    for (size_t i = 0; i < table->nodes.size(); ++i) {
      RouteTable::Node& node = table->nodes[i];
      node.down = down.count(node.id) != 0;
      table->any_down = table->any_down || node.down;
      index[node.id] = static_cast<uint32_t>(i);
    }
    table->per_range = std::min(n, table->nodes.size());
    for (const ring::TokenRange& range : ring.value().Ranges(n)) {
      if (range.replicas.size() != table->per_range) {
        return Status::ProtocolError(
            "the ring of the STATUS document has a range short of replicas");
      }
      table->ends.push_back(range.end);
      for (uint64_t id : range.replicas) table->replicas.push_back(index.at(id));
    }
    table->BuildIndex();
    return std::shared_ptr<const RouteTable>(std::move(table));
  } catch (const nlohmann::json::exception& e) {
    return Status::ProtocolError(fmt::format("the STATUS document of a dynamo node: {}", e.what()));
  }
}

}  // namespace

// Smart routing (see client.h): the endpoint-list connection (`base_`, an ordinary Impl)
// serves STATUS refreshes and every request that is not routed; one fail-fast Impl per
// ring node, on base_'s I/O context, serves the routed ones. mu_ guards the routing state,
// which Send reads from any thread and the callbacks update on the I/O thread; no Impl is
// called with mu_ held (an Impl may run a callback, which takes mu_, before it returns).
class Client::Router : public std::enable_shared_from_this<Client::Router> {
 public:
  // REQUIRES: options.io_threads is set (the router's connections share one I/O context).
  explicit Router(ClientOptions options) : options_(std::move(options)) {
    KVD_ASSERT(options_.io_threads != nullptr);
    base_ = std::make_shared<Impl>(options_);
    // The pool's owner keeps it alive (see Impl): no reference here.
    options_.io_threads.reset();
    client_id_ = std::random_device{}() | (uint64_t{std::random_device{}()} << 32) | 1;
  }

  const std::shared_ptr<Impl>& base() const { return base_; }

  Status Connect() {
    KVD_TRY(base_->Connect());
    // Routing is ready when Connect returns (if the node is a dynamo node).
    auto waiter = std::make_shared<std::promise<void>>();
    bool start = false;
    {
      std::lock_guard lock(mu_);
      if (status_seen_) return Status::Ok();
      refresh_waiters_.push_back(waiter);
      if (!refreshing_) {
        refreshing_ = true;
        last_refresh_ = Clock::now();
        start = true;
      }
    }
    if (start) StartRefresh();
    waiter->get_future().wait();
    return Status::Ok();
  }

  void Send(wire::Request request, Callback callback) {
    const std::string* key = RoutedKey(request);
    bool routed = false;
    bool refresh = false;
    {
      std::lock_guard lock(mu_);
      routed = key != nullptr && table_ != nullptr;
      if (!closed_ && !refreshing_ && Clock::now() >= next_refresh_) {
        refreshing_ = refresh = true;
        last_refresh_ = Clock::now();
      }
    }
    if (refresh) StartRefresh();
    if (!routed) {
      base_->Send(std::move(request), std::move(callback));
      return;
    }
    auto r = std::make_shared<Routed>();
    r->deadline = Clock::now() + options_.request_timeout;
    if ((request.opcode() == wire::Opcode::kPut || request.opcode() == wire::Opcode::kDelete) &&
        request.options.client_id == 0) {
      // One dedup pair for every node the write may be sent to.
      request.options.client_id = client_id_;
      request.options.sequence = sequence_.fetch_add(1, std::memory_order_relaxed) + 1;
    }
    r->request = std::move(request);
    r->callback = std::move(callback);
    Dispatch(r);
  }

  // Fails what is pending on every connection. REQUIRES: not on the I/O thread.
  void Shutdown() {
    std::vector<std::shared_ptr<Impl>> subs;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      for (const auto& [address, sub] : subs_) subs.push_back(sub);
    }
    for (const auto& sub : subs) sub->Shutdown();
    base_->Shutdown();
  }

 private:
  struct Routed {
    wire::Request request;
    Callback callback;
    Clock::time_point deadline;
    std::vector<uint64_t> tried;  // nodes already tried for this request
  };

  // Sends to the first replica of the key not tried yet and not failed recently; when
  // there is none, through the endpoint list.
  void Dispatch(const std::shared_ptr<Routed>& r) {
    std::shared_ptr<Impl> target;
    uint64_t node = 0;
    bool closed = false;
    {
      std::lock_guard lock(mu_);
      closed = closed_;
      if (!closed && table_ != nullptr) {
        const RouteTable& t = *table_;
        const uint32_t* replicas = t.ReplicasOf(*RoutedKey(r->request));
        for (size_t k = 0; k < t.per_range; ++k) {
          const RouteTable::Node& candidate = t.nodes[replicas[k]];
          if (candidate.down) continue;
          if (std::find(r->tried.begin(), r->tried.end(), candidate.id) != r->tried.end()) {
            continue;
          }
          if (!failed_.empty()) {
            auto f = failed_.find(candidate.id);
            if (f != failed_.end() && Clock::now() - f->second < options_.node_failure_hold) {
              continue;
            }
          }
          node = candidate.id;
          target = SubLocked(replicas[k]);
          break;
        }
      }
    }
    if (closed) {
      r->callback(Status::Unavailable("client closed"));
      return;
    }
    if (target == nullptr) {
      base_->SendUntil(std::move(r->request), std::move(r->callback), r->deadline);
      return;
    }
    r->tried.push_back(node);
    // A copy: the request goes to the next replica if this one cannot be reached.
    target->SendUntil(
        r->request,
        [self = shared_from_this(), r, node](Result<wire::Response> result) {
          self->OnRouted(r, node, std::move(result));
        },
        r->deadline);
  }

  void OnRouted(const std::shared_ptr<Routed>& r, uint64_t node, Result<wire::Response> result) {
    // The node could not be reached, or the connection was lost. Every routed request may
    // be repeated (reads; writes carry their dedup pair and dynamo is replicated), as the
    // endpoint-list connection would repeat it on its next endpoint: try the next replica.
    if (!result.ok() && result.status().code() == Code::kUnavailable &&
        Clock::now() < r->deadline) {
      bool closed = false;
      bool refresh = false;
      {
        std::lock_guard lock(mu_);
        closed = closed_;  // failed by Shutdown: delivered below
        if (!closed) {
          const auto now = Clock::now();
          failed_[node] = now;
          if (!refreshing_ && now >= last_refresh_ + kMinRefreshGap) {
            refreshing_ = refresh = true;
            last_refresh_ = now;
          }
        }
      }
      if (!closed) {
        if (refresh) StartRefresh();
        Dispatch(r);
        return;
      }
    }
    r->callback(std::move(result));
  }

  // The connection to node `index` of table_, opened lazily. REQUIRES: mu_ held.
  const std::shared_ptr<Impl>& SubLocked(uint32_t index) {
    std::shared_ptr<Impl>& cached = table_subs_[index];
    if (cached != nullptr) return cached;
    const std::string& address = table_->nodes[index].client;
    auto it = subs_.find(address);
    if (it == subs_.end()) {
      ClientOptions o = options_;
      o.endpoints = {address};
      it = subs_.emplace(address, std::make_shared<Impl>(std::move(o), &base_->io(),
                                                         /*fail_fast=*/true))
               .first;
    }
    cached = it->second;
    return cached;
  }

  // REQUIRES: the caller set refreshing_.
  void StartRefresh() {
    wire::Request r;
    r.body = wire::StatusRequest{};
    base_->Send(std::move(r), [self = shared_from_this()](Result<wire::Response> result) {
      self->OnStatus(std::move(result));
    });
  }

  void OnStatus(Result<wire::Response> result) {
    std::optional<Result<std::shared_ptr<const RouteTable>>> parsed;
    if (result.ok() && result->ok()) {
      if (const auto* st = std::get_if<wire::StatusResponse>(&result->body)) {
        parsed = ParseRouteTable(st->json);
      }
    }
    std::vector<std::shared_ptr<std::promise<void>>> waiters;
    {
      std::lock_guard lock(mu_);
      refreshing_ = false;
      const auto now = Clock::now();
      if (parsed.has_value() && parsed->ok()) {
        table_ = parsed->value();  // null: not a dynamo node, nothing is routed
        table_subs_.assign(table_ != nullptr ? table_->nodes.size() : 0, nullptr);
        // While the node sees others down, look again sooner: they come back (and a node
        // that has just started sees its peers down until their first heartbeats).
        next_refresh_ = now + (table_ != nullptr && table_->any_down
                                   ? std::min(options_.ring_refresh_interval,
                                              options_.node_failure_hold)
                                   : options_.ring_refresh_interval);
      } else if (parsed.has_value()) {
        // A document this client cannot read: keep what it knew; no hammering.
        next_refresh_ = now + options_.ring_refresh_interval;
      } else {
        // No answer (the node is unreachable, say): the endpoint list moves on; ask again
        // soon, keeping the ring known so far.
        next_refresh_ = now + kMinRefreshGap;
      }
      status_seen_ = true;
      waiters.swap(refresh_waiters_);
    }
    for (const auto& w : waiters) w->set_value();
  }

  ClientOptions options_;  // io_threads reset: the per-node connections use base_'s context
  std::shared_ptr<Impl> base_;
  uint64_t client_id_ = 0;
  std::atomic<uint64_t> sequence_{0};

  std::mutex mu_;
  bool closed_ = false;
  std::shared_ptr<const RouteTable> table_;  // null: route nothing
  std::map<std::string, std::shared_ptr<Impl>> subs_;  // by client address
  std::vector<std::shared_ptr<Impl>> table_subs_;      // by table_ node index (a cache)
  std::map<uint64_t, Clock::time_point> failed_;        // node id -> last failure
  bool refreshing_ = false;  // a STATUS request is in flight
  bool status_seen_ = false;  // a refresh has finished (Connect waits for the first)
  Clock::time_point last_refresh_{};
  Clock::time_point next_refresh_{};  // epoch: the first Send asks at once
  std::vector<std::shared_ptr<std::promise<void>>> refresh_waiters_;
};

Client::Client(ClientOptions options) {
  if (!options.smart_routing) {
    impl_ = std::make_shared<Impl>(std::move(options));
    return;
  }
  // All of a smart client's connections share one I/O context: its own thread, unless it
  // was given a pool.
  if (options.io_threads == nullptr) {
    own_threads_ = MakeIoThreads(1);
    options.io_threads = own_threads_;
  }
  router_ = std::make_shared<Router>(std::move(options));
  impl_ = router_->base();
}

Client::~Client() {
  if (router_ != nullptr) {
    router_->Shutdown();
  } else {
    impl_->Shutdown();
  }
  router_.reset();
  impl_.reset();
  own_threads_.reset();  // joins the smart client's I/O thread, if it has its own
}

Status Client::Connect() { return router_ ? router_->Connect() : impl_->Connect(); }

void Client::Send(wire::Request request, Callback callback) {
  if (router_ != nullptr) {
    router_->Send(std::move(request), std::move(callback));
  } else {
    impl_->Send(std::move(request), std::move(callback));
  }
}

Result<wire::Response> Client::Call(wire::Request request) {
  KVD_ASSERT(!impl_->OnIoThread());
  auto promise = std::make_shared<std::promise<Result<wire::Response>>>();
  auto future = promise->get_future();
  Send(std::move(request),
       [promise](Result<wire::Response> r) { promise->set_value(std::move(r)); });
  return future.get();
}

namespace {
template <typename T>
Result<T> Unwrap(Result<wire::Response> r) {
  if (!r.ok()) return std::move(r).status();
  wire::Response& resp = r.value();
  if (!resp.ok()) return resp.ToStatus();
  if (auto* body = std::get_if<T>(&resp.body)) return std::move(*body);
  return Status::ProtocolError("response body does not match the request");
}

wire::Request MakeRequest(wire::RequestBody body, wire::RequestOptions options = {}) {
  wire::Request r;
  r.options = std::move(options);
  r.body = std::move(body);
  return r;
}
}  // namespace

Result<wire::GetResponse> Client::Get(std::string key, wire::RequestOptions options) {
  return Unwrap<wire::GetResponse>(
      Call(MakeRequest(wire::GetRequest{std::move(key)}, std::move(options))));
}

Result<wire::PutResponse> Client::Put(std::string key, std::string value, uint64_t ttl_ms,
                                      wire::RequestOptions options) {
  return Unwrap<wire::PutResponse>(Call(MakeRequest(
      wire::PutRequest{std::move(key), std::move(value), ttl_ms}, std::move(options))));
}

Result<wire::DeleteResponse> Client::Delete(std::string key, wire::RequestOptions options) {
  return Unwrap<wire::DeleteResponse>(
      Call(MakeRequest(wire::DeleteRequest{std::move(key)}, std::move(options))));
}

Result<wire::GetsResponse> Client::Gets(std::string key, wire::RequestOptions options) {
  return Unwrap<wire::GetsResponse>(
      Call(MakeRequest(wire::GetsRequest{std::move(key)}, std::move(options))));
}

Result<wire::IncrResponse> Client::Incr(std::string key, int64_t amount,
                                        wire::RequestOptions options) {
  return Unwrap<wire::IncrResponse>(
      Call(MakeRequest(wire::IncrRequest{std::move(key), amount}, std::move(options))));
}

Result<wire::SetOpResponse> Client::Sadd(std::string key, std::string element,
                                         wire::RequestOptions options) {
  return Unwrap<wire::SetOpResponse>(
      Call(MakeRequest(wire::SaddRequest{std::move(key), std::move(element)}, std::move(options))));
}

Result<wire::SetOpResponse> Client::Srem(std::string key, std::string element,
                                         wire::RequestOptions options) {
  return Unwrap<wire::SetOpResponse>(
      Call(MakeRequest(wire::SremRequest{std::move(key), std::move(element)}, std::move(options))));
}

Result<wire::SmembersResponse> Client::Smembers(std::string key, wire::RequestOptions options) {
  return Unwrap<wire::SmembersResponse>(
      Call(MakeRequest(wire::SmembersRequest{std::move(key)}, std::move(options))));
}

Result<wire::ScanResponse> Client::Scan(wire::ScanRequest scan, wire::RequestOptions options) {
  return Unwrap<wire::ScanResponse>(Call(MakeRequest(std::move(scan), std::move(options))));
}

Result<std::string> Client::Ping(std::string payload) {
  auto r = Unwrap<wire::PingResponse>(Call(MakeRequest(wire::PingRequest{std::move(payload)})));
  if (!r.ok()) return std::move(r).status();
  return std::move(r.value().payload);
}

Result<std::string> Client::StatusJson() {
  auto r = Unwrap<wire::StatusResponse>(Call(MakeRequest(wire::StatusRequest{})));
  if (!r.ok()) return std::move(r).status();
  return std::move(r.value().json);
}

wire::HelloResponse Client::server_info() const { return impl_->server_info(); }
std::string Client::connected_endpoint() const { return impl_->connected_endpoint(); }
std::string Client::session_token() const { return impl_->session_token(); }

}  // namespace kvd::client
