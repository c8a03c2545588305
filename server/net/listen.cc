#include "server/net/listen.h"

#include <fmt/format.h>

#include <boost/asio/ip/address.hpp>

namespace kvd::net {

namespace asio = boost::asio;
using asio::ip::tcp;

Status OpenAcceptor(tcp::acceptor* acceptor, const config::Address& address,
                    std::string_view what) {
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(address.host, ec);
  if (ec) {
    return Status::InvalidArgument(
        fmt::format("{} {}: host must be an IP address", what, address.ToString()));
  }
  tcp::endpoint ep(ip, address.port);
  auto check = [&](const char* step) {
    return ec ? Status::IOError(
                    fmt::format("{} {}: {}: {}", what, address.ToString(), step, ec.message()))
              : Status::Ok();
  };
  acceptor->open(ep.protocol(), ec);
  KVD_TRY(check("open"));
  acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  KVD_TRY(check("SO_REUSEADDR"));
  acceptor->bind(ep, ec);
  KVD_TRY(check("bind"));
  acceptor->listen(asio::socket_base::max_listen_connections, ec);
  return check("listen");
}

config::Address BoundAddress(const tcp::acceptor& acceptor) {
  boost::system::error_code ec;
  tcp::endpoint ep = acceptor.local_endpoint(ec);
  return config::Address{ep.address().to_string(), ep.port()};
}

}  // namespace kvd::net
