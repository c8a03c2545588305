// OpenAcceptor: binds and listens a TCP acceptor on a config address, with errors that
// name the address and what failed. Shared by the client listener and the admin endpoint.
#pragma once

#include <utility>  // must precede Asio with GCC 12 + C++20

#include <boost/asio/ip/tcp.hpp>
#include <string_view>

#include "common/config/config.h"
#include "common/status.h"

namespace kvd::net {

// Errors: kInvalidArgument if the host is not an IP address; kIOError naming the address
// and the OS error otherwise ("listen 127.0.0.1:7379: bind: Address already in use").
Status OpenAcceptor(boost::asio::ip::tcp::acceptor* acceptor, const config::Address& address,
                    std::string_view what);

// The address an acceptor is bound to.
config::Address BoundAddress(const boost::asio::ip::tcp::acceptor& acceptor);

}  // namespace kvd::net
