// The one way the net layer includes Boost.Asio: <utility> first (g++ 12 needs it before Asio's
// awaitable.hpp), separate compilation (asio_impl.cc holds Asio's and Asio.SSL's definitions, so
// each file that includes this compiles in seconds rather than tens of seconds), and short names.
#pragma once

#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

namespace ipsx::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
template <class T>
using awaitable = asio::awaitable<T>;
using SslStream = asio::ssl::stream<tcp::socket>;
using Millis = std::chrono::milliseconds;

// Completion token for coroutines that check the error code instead of catching.
inline auto use_ec(boost::system::error_code& ec) {
  return asio::redirect_error(asio::use_awaitable, ec);
}

}  // namespace ipsx::net
