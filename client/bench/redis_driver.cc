// RedisDriver: the RESP2 subset kvbench needs (SET, GET), pipelined over Boost.Asio.
//
// It is built like libkvclient's connection on purpose (requests appended to a buffer,
// one write per loop turn, replies matched in order), so that a kvd/Redis ratio measures
// the servers rather than two differently efficient clients.
#include <utility>  // must precede Asio with GCC 12 + C++20

#include <fmt/format.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <future>
#include <thread>

#include "client/bench/driver.h"
#include "client/lib/client.h"

namespace kvd::bench {

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

class RedisConnection final : public BenchConnection,
                              public std::enable_shared_from_this<RedisConnection> {
 public:
  explicit RedisConnection(asio::io_context* io) : io_(io), socket_(*io) {}

  Status Connect(const std::string& endpoint, std::chrono::milliseconds timeout) {
    std::string host;
    uint16_t port = 0;
    KVD_TRY(client::ParseEndpoint(endpoint, &host, &port));
    boost::system::error_code ec;
    tcp::resolver resolver(*io_);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec) return Status::Unavailable(fmt::format("resolve {}: {}", endpoint, ec.message()));
    asio::connect(socket_, results, ec);
    if (ec) return Status::Unavailable(fmt::format("connect {}: {}", endpoint, ec.message()));
    socket_.set_option(tcp::no_delay(true), ec);
    (void)timeout;  // a blocking connect on loopback; the benchmark's own deadline rules
    asio::post(*io_, [self = shared_from_this()] { self->Read(); });
    return Status::Ok();
  }

  void Close() {
    asio::post(*io_, [self = shared_from_this()] {
      boost::system::error_code ec;
      self->socket_.close(ec);
    });
  }

  void Get(std::string key, OpDone done) override {
    std::string cmd = fmt::format("*2\r\n$3\r\nGET\r\n${}\r\n", key.size());
    cmd.append(key).append("\r\n");
    Submit(std::move(cmd), std::move(done));
  }

  void Set(std::string key, std::string_view value, OpDone done) override {
    std::string cmd = fmt::format("*3\r\n$3\r\nSET\r\n${}\r\n", key.size());
    cmd.append(key).append("\r\n");
    fmt::format_to(std::back_inserter(cmd), "${}\r\n", value.size());
    cmd.append(value).append("\r\n");
    Submit(std::move(cmd), std::move(done));
  }

 private:
  void Submit(std::string cmd, OpDone done) {
    if (io_->get_executor().running_in_this_thread()) {
      Queue(std::move(cmd), std::move(done));
      return;
    }
    asio::post(*io_, [self = shared_from_this(), cmd = std::move(cmd),
                      done = std::move(done)]() mutable {
      self->Queue(std::move(cmd), std::move(done));
    });
  }

  void Queue(std::string cmd, OpDone done) {
    if (broken_) {
      // Never complete inline: the caller may issue its next request from the callback.
      asio::post(*io_, [done = std::move(done)] { done({false, false, "connection"}); });
      return;
    }
    out_.append(cmd);
    waiting_.push_back(std::move(done));
    if (write_active_ || write_scheduled_) return;
    write_scheduled_ = true;
    asio::post(*io_, [self = shared_from_this()] {
      self->write_scheduled_ = false;
      self->Write();
    });
  }

  void Write() {
    if (write_active_ || out_.empty() || broken_) return;
    writing_.swap(out_);
    out_.clear();
    write_active_ = true;
    asio::async_write(socket_, asio::buffer(writing_),
                      [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
                        self->write_active_ = false;
                        self->writing_.clear();
                        if (ec) return self->Fail();
                        self->Write();
                      });
  }

  void Read() {
    if (in_start_ > 0) {
      in_.erase(0, in_start_);
      in_start_ = 0;
    }
    size_t used = in_.size();
    in_.resize(used + 65536);
    socket_.async_read_some(asio::buffer(in_.data() + used, 65536),
                            [self = shared_from_this(), used](const boost::system::error_code& ec,
                                                              size_t n) {
                              self->in_.resize(used + n);
                              if (ec) return self->Fail();
                              self->Parse();
                              if (!self->broken_) self->Read();
                            });
  }

  // Consumes every complete reply in in_.
  void Parse() {
    while (true) {
      std::string_view avail = std::string_view(in_).substr(in_start_);
      size_t eol = avail.find("\r\n");
      if (eol == std::string_view::npos) return;
      char type = avail.empty() ? '\0' : avail[0];
      OpOutcome outcome{true, true, {}};
      size_t consumed = eol + 2;
      if (type == '$') {
        long len = std::strtol(std::string(avail.substr(1, eol - 1)).c_str(), nullptr, 10);
        if (len >= 0) {
          size_t need = consumed + static_cast<size_t>(len) + 2;
          if (avail.size() < need) return;
          consumed = need;
        } else {
          outcome.found = false;  // $-1: nil
        }
      } else if (type == '-') {
        outcome = {false, false, "server_error"};
      } else if (type != '+' && type != ':') {
        Fail();
        return;
      }
      in_start_ += consumed;
      if (waiting_.empty()) {
        Fail();
        return;
      }
      OpDone done = std::move(waiting_.front());
      waiting_.pop_front();
      done(outcome);
    }
  }

  void Fail() {
    if (broken_) return;
    broken_ = true;
    boost::system::error_code ec;
    socket_.close(ec);
    while (!waiting_.empty()) {
      OpDone done = std::move(waiting_.front());
      waiting_.pop_front();
      done({false, false, "connection"});
    }
  }

  asio::io_context* io_;
  tcp::socket socket_;
  std::string out_, writing_, in_;
  size_t in_start_ = 0;
  std::deque<OpDone> waiting_;
  bool write_active_ = false;
  bool write_scheduled_ = false;
  bool broken_ = false;
};

// Forwards to the shared connection and closes it when the runner lets go.
class RedisHandle final : public BenchConnection {
 public:
  explicit RedisHandle(std::shared_ptr<RedisConnection> c) : c_(std::move(c)) {}
  ~RedisHandle() override { c_->Close(); }
  void Get(std::string key, OpDone done) override { c_->Get(std::move(key), std::move(done)); }
  void Set(std::string key, std::string_view value, OpDone done) override {
    c_->Set(std::move(key), value, std::move(done));
  }

 private:
  std::shared_ptr<RedisConnection> c_;
};

class RedisDriver final : public Driver {
 public:
  explicit RedisDriver(const DriverOptions& options) : options_(options) {
    for (size_t i = 0; i < options.io_threads; ++i) {
      contexts_.push_back(std::make_unique<asio::io_context>(1));
      guards_.push_back(asio::make_work_guard(*contexts_.back()));
    }
    for (auto& io : contexts_) threads_.emplace_back([ctx = io.get()] { ctx->run(); });
  }
  ~RedisDriver() override {
    for (auto& g : guards_) g.reset();
    for (auto& t : threads_) t.join();
  }

  Result<std::unique_ptr<BenchConnection>> Open(size_t index) override {
    auto conn = std::make_shared<RedisConnection>(contexts_[index % contexts_.size()].get());
    KVD_TRY(conn->Connect(options_.endpoints[index % options_.endpoints.size()],
                          options_.timeout));
    return std::unique_ptr<BenchConnection>(std::make_unique<RedisHandle>(std::move(conn)));
  }
  std::string name() const override { return "redis"; }

 private:
  DriverOptions options_;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
};

}  // namespace

std::unique_ptr<Driver> MakeRedisDriver(const DriverOptions& options) {
  return std::make_unique<RedisDriver>(options);
}

}  // namespace kvd::bench
