#include "client/lib/client.h"

#include <utility>  // must precede Asio with GCC 12 + C++20

#include <fmt/format.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>
#include <algorithm>
#include <atomic>

#include "common/read_buffer.h"
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
class Client::Impl : public std::enable_shared_from_this<Client::Impl> {
 public:
  explicit Impl(ClientOptions options)
      : options_(std::move(options)),
        pool_(options_.io_threads.get()),
        own_io_(pool_ ? nullptr : std::make_unique<asio::io_context>(1)),
        io_(pool_ ? *pool_->Next() : *own_io_),
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
    Pending p{std::move(request), std::move(callback), Clock::now() + options_.request_timeout};
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
    // may be repeated only with its dedup pair, which Transmit gave it.
    bool unavailable = r.status == Code::kUnavailable && replicated_ &&
                       (!IsWriteRequest(p.request) || p.request.options.client_id != 0);
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
                        (replicated_ && p.request.options.client_id != 0);
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

Client::Client(ClientOptions options) : impl_(std::make_shared<Impl>(std::move(options))) {}
Client::~Client() { impl_->Shutdown(); }

Status Client::Connect() { return impl_->Connect(); }

void Client::Send(wire::Request request, Callback callback) {
  impl_->Send(std::move(request), std::move(callback));
}

Result<wire::Response> Client::Call(wire::Request request) {
  KVD_ASSERT(!impl_->OnIoThread());
  auto promise = std::make_shared<std::promise<Result<wire::Response>>>();
  auto future = promise->get_future();
  impl_->Send(std::move(request),
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
