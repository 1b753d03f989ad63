// The one translation unit that compiles Boost.Beast (it is heavy: keep it here). Synchronous
// from the caller's view: each step is an async operation on a private io_context run until it
// completes, with beast::tcp_stream's timer as the request's deadline.
#include "eth/http_transport.h"

// g++ 12: <utility> before Asio (std::exchange in asio/awaitable.hpp).
#include <utility>
// clang-format off
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
// clang-format on
#include <fmt/format.h>

#include <charconv>
#include <mutex>
#include <optional>

namespace ipsx::eth {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct HttpTransport::Impl {
  std::string host;
  std::string port;
  std::string target;

  std::mutex mu;  // one request at a time on the connection
  asio::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  std::string url() const { return fmt::format("http://{}:{}{}", host, port, target); }

  void close() {
    if (stream) {
      beast::error_code ignored;
      stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream->close();
      stream.reset();
    }
    buffer.clear();
  }

  // Runs the io_context until the pending operation has completed.
  void run() {
    ioc.restart();
    ioc.run();
  }

  std::unexpected<Error> failure(const beast::error_code& ec, std::string_view step) {
    close();
    if (ec == beast::error::timeout) {
      return fail(EthErrc::timeout, fmt::format("{}: no answer in time ({})", url(), step));
    }
    return fail(EthErrc::unavailable, fmt::format("{}: {}: {}", url(), step, ec.message()));
  }

  Result<void> connect(Millis timeout) {
    beast::error_code ec;
    tcp::resolver resolver(ioc);
    auto endpoints = resolver.resolve(host, port, ec);
    if (ec) return failure(ec, "resolve");
    stream.emplace(ioc);
    stream->expires_after(timeout);
    stream->async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
    run();
    if (ec) return failure(ec, "connect");
    stream->socket().set_option(tcp::no_delay(true), ec);
    return {};
  }

  Result<std::string> exchange(std::string_view body, Millis timeout) {
    http::request<http::string_body> req{http::verb::post, target, 11};
    req.set(http::field::host, host);
    req.set(http::field::content_type, "application/json");
    req.set(http::field::connection, "keep-alive");
    req.body() = std::string(body);
    req.prepare_payload();

    beast::error_code ec;
    stream->expires_after(timeout);
    http::async_write(*stream, req, [&](beast::error_code e, size_t) { ec = e; });
    run();
    if (ec) return failure(ec, "write");

    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxRpcResponse);
    http::async_read(*stream, buffer, parser, [&](beast::error_code e, size_t) { ec = e; });
    run();
    if (ec == http::error::body_limit) {
      close();
      return fail(EthErrc::too_large,
                  fmt::format("{}: response over {} bytes", url(), kMaxRpcResponse));
    }
    if (ec) return failure(ec, "read");
    stream->expires_never();
    auto res = parser.release();
    if (!res.keep_alive()) close();
    unsigned status = res.result_int();
    if (status < 200 || status >= 300) {
      close();
      std::string text = res.body().substr(0, 200);
      return fail(EthErrc::unavailable, fmt::format("{}: HTTP {}: {}", url(), status, text));
    }
    return std::move(res.body());
  }
};

HttpTransport::HttpTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpTransport::~HttpTransport() {
  if (impl_) impl_->close();
}

Result<std::unique_ptr<HttpTransport>> HttpTransport::create(std::string_view url) {
  constexpr std::string_view scheme = "http://";
  if (url.substr(0, scheme.size()) != scheme) {
    return fail(CoreErrc::invalid_argument,
                fmt::format("RPC URL '{}': only http://host:port/path is supported", url));
  }
  std::string_view rest = url.substr(scheme.size());
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  auto impl = std::make_unique<Impl>();
  impl->target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos) {
    impl->host = std::string(authority);
    impl->port = "80";
  } else {
    impl->host = std::string(authority.substr(0, colon));
    impl->port = std::string(authority.substr(colon + 1));
    unsigned port = 0;
    auto [p, ec] = std::from_chars(impl->port.data(), impl->port.data() + impl->port.size(), port);
    if (ec != std::errc() || p != impl->port.data() + impl->port.size() || port == 0 ||
        port > 65535) {
      return fail(CoreErrc::invalid_argument, fmt::format("RPC URL '{}': bad port", url));
    }
  }
  if (impl->host.empty()) {
    return fail(CoreErrc::invalid_argument, fmt::format("RPC URL '{}': no host", url));
  }
  return std::unique_ptr<HttpTransport>(new HttpTransport(std::move(impl)));
}

Result<std::string> HttpTransport::post(std::string_view body, Millis timeout) {
  std::lock_guard lock(impl_->mu);
  bool reused = impl_->stream.has_value();
  if (!reused) {
    if (auto c = impl_->connect(timeout); !c) return std::unexpected(c.error());
  }
  auto r = impl_->exchange(body, timeout);
  // A kept-alive connection the server closed while idle fails at once: retry on a new one. A
  // JSON-RPC request is only resent when nothing came back, and every method the backend sends
  // is idempotent (a raw transaction resent has the same hash).
  if (!r && reused && r.error().code() == make_error_code(EthErrc::unavailable)) {
    if (auto c = impl_->connect(timeout); !c) return std::unexpected(c.error());
    r = impl_->exchange(body, timeout);
  }
  return r;
}

std::string HttpTransport::endpoint() const {
  return impl_->url();
}

}  // namespace ipsx::eth
