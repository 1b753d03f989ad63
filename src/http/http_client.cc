// The one translation unit that compiles Boost.Beast's client side. Each step is an async
// operation on a private io_context run until it completes, with beast::tcp_stream's timer as
// the step's deadline.
#include "http/http_client.h"

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

namespace ipsx::http {

namespace {

class HttpCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "ipsx.http"; }
  std::string message(int c) const override {
    switch (static_cast<HttpErrc>(c)) {
      case HttpErrc::bad_url:
        return "bad URL";
      case HttpErrc::unavailable:
        return "server unavailable";
      case HttpErrc::timeout:
        return "timed out";
      case HttpErrc::too_large:
        return "answer too large";
    }
    return "unknown HTTP client error";
  }
};

}  // namespace

const std::error_category& http_category() {
  static const HttpCategory category;
  return category;
}

std::string HttpUrl::to_string() const {
  bool v6 = host.find(':') != std::string::npos;
  return fmt::format("http://{}{}{}:{}{}", v6 ? "[" : "", host, v6 ? "]" : "", port, path);
}

Result<HttpUrl> parse_http_url(std::string_view url) {
  constexpr std::string_view scheme = "http://";
  if (url.substr(0, scheme.size()) != scheme) {
    return fail(HttpErrc::bad_url,
                fmt::format("URL {}: only http://host[:port][/path] is supported", quoted(url)));
  }
  std::string_view rest = url.substr(scheme.size());
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  HttpUrl out;
  if (slash != std::string_view::npos) out.path = std::string(rest.substr(slash));
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {  // [v6]:port
    size_t close = authority.find(']');
    if (close == std::string_view::npos)
      return fail(HttpErrc::bad_url, fmt::format("URL {}: unclosed '['", quoted(url)));
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return fail(HttpErrc::bad_url, fmt::format("URL {}: bad authority", quoted(url)));
      port = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return fail(HttpErrc::bad_url, fmt::format("URL {}: no host", quoted(url)));
  if (out.host.find_first_of("@/?# ") != std::string::npos)
    return fail(HttpErrc::bad_url, fmt::format("URL {}: bad host", quoted(url)));
  if (!port.empty() || authority.ends_with(':')) {
    unsigned n = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
    if (ec != std::errc() || p != port.data() + port.size() || n == 0 || n > 65535)
      return fail(HttpErrc::bad_url, fmt::format("URL {}: bad port", quoted(url)));
    out.port = std::to_string(n);
  }
  return out;
}

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct HttpClient::Impl {
  HttpUrl url;
  size_t max_body = 0;

  std::mutex mu;  // one request at a time on the connection
  asio::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

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
    if (ec == beast::error::timeout)
      return fail(HttpErrc::timeout,
                  fmt::format("{}: no answer in time ({})", url.to_string(), step));
    return fail(HttpErrc::unavailable,
                fmt::format("{}: {}: {}", url.to_string(), step, ec.message()));
  }

  Result<void> connect(Millis timeout) {
    beast::error_code ec;
    tcp::resolver resolver(ioc);
    auto endpoints = resolver.resolve(url.host, url.port, ec);
    if (ec) return failure(ec, "resolve");
    stream.emplace(ioc);
    stream->expires_after(timeout);
    stream->async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
    run();
    if (ec) return failure(ec, "connect");
    stream->socket().set_option(tcp::no_delay(true), ec);
    return {};
  }

  std::string join(std::string_view target) const {
    std::string out = url.path;
    if (!out.empty() && out.back() == '/' && !target.empty() && target.front() == '/')
      out.pop_back();
    out += target;
    return out;
  }

  // Sends the request and reads the answer. `sent` tells whether the whole request was written
  // (a failure after that may have reached the server).
  Result<HttpReply> exchange(bhttp::verb verb, std::string_view target, std::string_view body,
                             std::string_view content_type, Millis timeout, bool& answered) {
    bhttp::request<bhttp::string_body> req{verb, join(target), 11};
    req.set(bhttp::field::host, url.host);
    req.set(bhttp::field::connection, "keep-alive");
    if (!body.empty())
      req.set(bhttp::field::content_type,
              beast::string_view(content_type.data(), content_type.size()));
    req.body() = std::string(body);
    req.prepare_payload();

    beast::error_code ec;
    stream->expires_after(timeout);
    bhttp::async_write(*stream, req, [&](beast::error_code e, size_t) { ec = e; });
    run();
    if (ec) return failure(ec, "write");

    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(max_body);
    if (verb == bhttp::verb::head) parser.skip(true);
    bhttp::async_read(*stream, buffer, parser, [&](beast::error_code e, size_t) { ec = e; });
    run();
    if (parser.got_some()) answered = true;
    if (ec == bhttp::error::body_limit) {
      close();
      return fail(HttpErrc::too_large,
                  fmt::format("{}: answer over {} bytes", url.to_string(), max_body));
    }
    if (ec) return failure(ec, "read");
    stream->expires_never();
    auto res = parser.release();
    if (!res.keep_alive()) close();
    HttpReply reply;
    reply.status = res.result_int();
    reply.content_type = std::string(res[bhttp::field::content_type]);
    reply.retry_after = std::string(res[bhttp::field::retry_after]);
    reply.body = std::move(res.body());
    return reply;
  }
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpClient::~HttpClient() {
  if (impl_) impl_->close();
}

Result<std::unique_ptr<HttpClient>> HttpClient::create(std::string_view url, size_t max_body) {
  auto parsed = parse_http_url(url);
  if (!parsed) return std::unexpected(parsed.error());
  auto impl = std::make_unique<Impl>();
  impl->url = std::move(*parsed);
  impl->max_body = max_body;
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

Result<HttpReply> HttpClient::request(std::string_view method, std::string_view target,
                                      std::string_view body, std::string_view content_type,
                                      Millis timeout, bool idempotent) {
  bhttp::verb verb = bhttp::string_to_verb(beast::string_view(method.data(), method.size()));
  if (verb == bhttp::verb::unknown)
    return fail(CoreErrc::invalid_argument, fmt::format("HTTP method {}", quoted(method)));
  std::lock_guard lock(impl_->mu);
  bool reused = impl_->stream.has_value();
  if (!reused) {
    if (auto c = impl_->connect(timeout); !c) return std::unexpected(c.error());
  }
  bool answered = false;
  auto r = impl_->exchange(verb, target, body, content_type, timeout, answered);
  if (!r && reused && idempotent && !answered &&
      r.error().code() == make_error_code(HttpErrc::unavailable)) {
    if (auto c = impl_->connect(timeout); !c) return std::unexpected(c.error());
    answered = false;
    r = impl_->exchange(verb, target, body, content_type, timeout, answered);
  }
  return r;
}

std::string HttpClient::endpoint() const {
  return impl_->url.to_string();
}

void HttpClient::close() {
  std::lock_guard lock(impl_->mu);
  impl_->close();
}

}  // namespace ipsx::http
