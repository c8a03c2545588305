#include "server/net/admin_http.h"

#include <fmt/format.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>

#include "server/net/listen.h"

namespace kvd::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

constexpr auto kRequestTimeout = std::chrono::seconds(10);
constexpr uint64_t kMaxRequestBytes = 16 << 10;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const AdminHttp::Handlers* handlers)
      : stream_(std::move(socket)), handlers_(handlers) {}

  void Read() {
    parser_.emplace();
    parser_->body_limit(kMaxRequestBytes);
    parser_->header_limit(kMaxRequestBytes);
    stream_.expires_after(kRequestTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) {
                         self->Close();
                         return;
                       }
                       self->Respond(self->parser_->release());
                     });
  }

 private:
  void Respond(http::request<http::string_body> req) {
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(req.version());
    res->keep_alive(req.keep_alive());
    res->set(http::field::server, "kvd/" KVD_VERSION);
    std::string_view target(req.target().data(), req.target().size());
    if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res->result(http::status::method_not_allowed);
      res->set(http::field::allow, "GET, HEAD");
      res->body() = "method not allowed\n";
    } else if (target == "/metrics") {
      res->result(http::status::ok);
      res->set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res->body() = handlers_->metrics();
    } else if (target == "/status") {
      std::string body = handlers_->status();
      if (body.empty()) {
        res->result(http::status::service_unavailable);
        res->body() = "node did not answer in time\n";
      } else {
        res->result(http::status::ok);
        res->set(http::field::content_type, "application/json");
        res->body() = std::move(body) + "\n";
      }
    } else if (target == "/healthz") {
      res->result(http::status::ok);
      res->set(http::field::content_type, "text/plain");
      res->body() = "ok\n";
    } else {
      res->result(http::status::not_found);
      res->body() = "not found; try /metrics, /status or /healthz\n";
    }
    res->prepare_payload();
    if (req.method() == http::verb::head) res->body().clear();
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, size_t) {
                        if (ec || !res->keep_alive()) {
                          self->Close();
                          return;
                        }
                        self->Read();
                      });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const AdminHttp::Handlers* handlers_;
};

}  // namespace

AdminHttp::AdminHttp(config::Address address, Handlers handlers, Logger* logger)
    : address_(std::move(address)), handlers_(std::move(handlers)), logger_(logger),
      acceptor_(io_) {}

AdminHttp::~AdminHttp() { Stop(); }

Status AdminHttp::Listen() { return OpenAcceptor(&acceptor_, address_, "admin listen"); }

config::Address AdminHttp::local_address() const { return BoundAddress(acceptor_); }

void AdminHttp::Start() {
  Accept();
  thread_ = std::thread([this] { io_.run(); });
}

void AdminHttp::Stop() {
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

void AdminHttp::Accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      KVD_LOG(*logger_, kWarn, "admin", "-", "accept failed: {}", ec.message());
    } else {
      std::make_shared<Session>(std::move(socket), &handlers_)->Read();
    }
    Accept();
  });
}

}  // namespace kvd::net
