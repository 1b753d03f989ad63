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
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/err.h>
// clang-format on
#include <fmt/format.h>

#include <sys/socket.h>

#include <cerrno>
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
      case HttpErrc::tls:
        return "TLS failed";
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
  return fmt::format("{}://{}{}{}:{}{}", tls ? "https" : "http", v6 ? "[" : "", host, v6 ? "]" : "",
                     port, path);
}

Result<HttpUrl> parse_http_url(std::string_view url) {
  HttpUrl out;
  std::string_view rest;
  if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else if (url.starts_with("https://")) {
    rest = url.substr(8);
    out.tls = true;
    out.port = "443";
  } else {
    return fail(HttpErrc::bad_url,
                fmt::format("URL {}: only http:// and https://host[:port][/path] are supported",
                            quoted(url)));
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
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

namespace {

std::mutex default_ca_mu;
std::string default_ca_file;

}  // namespace

void set_default_ca_file(std::string path) {
  std::lock_guard lock(default_ca_mu);
  default_ca_file = std::move(path);
}

struct HttpClient::Impl {
  HttpUrl url;
  size_t max_body = 0;
  std::string ca_file;  // https: the CA certificates to trust (PEM); empty: the system's

  std::mutex mu;  // one request at a time on the connection
  asio::io_context ioc;
  std::optional<beast::tcp_stream> stream;  // http://
  std::unique_ptr<asio::ssl::context> tls_context;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_stream;  // https://
  beast::flat_buffer buffer;

  beast::tcp_stream& tcp() { return tls_stream ? beast::get_lowest_layer(*tls_stream) : *stream; }
  bool open() const { return stream.has_value() || tls_stream.has_value(); }

  void close() {
    if (open()) {
      beast::error_code ignored;
      tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
      tcp().close();
    }
    stream.reset();
    tls_stream.reset();
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
    if (ec.category() == asio::error::get_ssl_category() ||
        ec.category() == asio::ssl::error::get_stream_category()) {
      return fail(HttpErrc::tls, fmt::format("{}: {}: {}", url.to_string(), step, ec.message()));
    }
    // Say which failure it was in words a user acts on: nothing listens (the server is down or
    // the address is wrong), or the connection broke (the server closed or reset it).
    std::string_view what = "";
    if (ec == asio::error::connection_refused)
      what = "nothing accepts connections there: ";
    else if (ec == asio::error::host_not_found || ec == asio::error::host_not_found_try_again)
      what = "no such host: ";
    else if (ec == bhttp::error::end_of_stream || ec == asio::error::eof)
      what = "the server closed the connection before it answered: ";
    else if (ec == asio::error::connection_reset || ec == asio::error::broken_pipe)
      what = "the server reset the connection: ";
    return fail(HttpErrc::unavailable,
                fmt::format("{}: {}{}: {}", url.to_string(), what, step, ec.message()));
  }

  // Whether the kept-alive connection is still usable: a server that closed it while it idled
  // has sent its end of stream (or reset it), and bytes nobody asked for mean it is out of step.
  bool stale() {
    char c;
    ssize_t n = ::recv(tcp().socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
  }

  // https://: the context that verifies the server's certificate chain and name.
  Result<void> make_tls_context() {
    if (tls_context) return {};
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    beast::error_code ec;
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1);
    if (ca_file.empty()) {
      std::lock_guard lock(default_ca_mu);
      ca_file = default_ca_file;
    }
    if (ca_file.empty())
      ctx->set_default_verify_paths(ec);
    else
      ctx->load_verify_file(ca_file, ec);
    if (ec) {
      return fail(HttpErrc::tls,
                  fmt::format("{}: CA certificates {}: {}", url.to_string(),
                              ca_file.empty() ? "of the system" : "from " + ca_file, ec.message()));
    }
    ctx->set_verify_mode(asio::ssl::verify_peer);
    tls_context = std::move(ctx);
    return {};
  }

  Result<void> connect(Millis timeout) {
    beast::error_code ec;
    if (url.tls) {
      if (auto c = make_tls_context(); !c) return c;
    }
    tcp::resolver resolver(ioc);
    auto endpoints = resolver.resolve(url.host, url.port, ec);
    if (ec) return failure(ec, "resolve");
    if (url.tls)
      tls_stream.emplace(ioc, *tls_context);
    else
      stream.emplace(ioc);
    tcp().expires_after(timeout);
    tcp().async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
    run();
    if (ec) return failure(ec, "connect");
    tcp().socket().set_option(tcp::no_delay(true), ec);
    if (!url.tls) return {};
    // The server's name: sent (SNI) unless it is an address, and checked against the
    // certificate either way.
    beast::error_code parse_ec;
    bool is_address = (asio::ip::make_address(url.host, parse_ec), !parse_ec);
    if (!is_address && !SSL_set_tlsext_host_name(tls_stream->native_handle(), url.host.c_str()))
      return failure(
          beast::error_code(static_cast<int>(ERR_get_error()), asio::error::get_ssl_category()),
          "TLS server name");
    tls_stream->set_verify_callback(asio::ssl::host_name_verification(url.host));
    ERR_clear_error();  // the handshake's failure is reported from this thread's error queue
    tls_stream->async_handshake(asio::ssl::stream_base::client,
                                [&](beast::error_code e) { ec = e; });
    run();
    if (!ec) return {};
    // The certificate's own verdict says more than the first error OpenSSL queued.
    long verdict = SSL_get_verify_result(tls_stream->native_handle());
    if (verdict != X509_V_OK) {
      close();
      return fail(HttpErrc::tls,
                  fmt::format("{}: TLS handshake: the server's certificate is not trusted or does "
                              "not name {} ({}; trusting {})",
                              url.to_string(), url.host, X509_verify_cert_error_string(verdict),
                              ca_file.empty() ? "the system's CA certificates"
                                              : "the CA certificates in " + ca_file));
    }
    return failure(ec, "TLS handshake");
  }

  std::string join(std::string_view target) const {
    std::string out = url.path;
    if (!out.empty() && out.back() == '/' && !target.empty() && target.front() == '/')
      out.pop_back();
    out += target;
    return out;
  }

  // Sends the request and reads the answer. `answered` tells whether any of an answer arrived.
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
    tcp().expires_after(timeout);
    auto on_written = [&](beast::error_code e, size_t) { ec = e; };
    if (tls_stream)
      bhttp::async_write(*tls_stream, req, on_written);
    else
      bhttp::async_write(*stream, req, on_written);
    run();
    if (ec) return failure(ec, "write");

    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(max_body);
    if (verb == bhttp::verb::head) parser.skip(true);
    auto on_read = [&](beast::error_code e, size_t) { ec = e; };
    if (tls_stream)
      bhttp::async_read(*tls_stream, buffer, parser, on_read);
    else
      bhttp::async_read(*stream, buffer, parser, on_read);
    run();
    if (parser.got_some()) answered = true;
    if (ec == bhttp::error::body_limit) {
      close();
      return fail(HttpErrc::too_large,
                  fmt::format("{}: answer over {} bytes", url.to_string(), max_body));
    }
    if (ec) return failure(ec, "read");
    tcp().expires_never();
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

Result<std::unique_ptr<HttpClient>> HttpClient::create(std::string_view url, size_t max_body,
                                                       std::string ca_file) {
  auto parsed = parse_http_url(url);
  if (!parsed) return std::unexpected(parsed.error());
  auto impl = std::make_unique<Impl>();
  impl->url = std::move(*parsed);
  impl->max_body = max_body;
  impl->ca_file = std::move(ca_file);
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

Result<HttpReply> HttpClient::request(std::string_view method, std::string_view target,
                                      std::string_view body, std::string_view content_type,
                                      Millis timeout, bool idempotent) {
  bhttp::verb verb = bhttp::string_to_verb(beast::string_view(method.data(), method.size()));
  if (verb == bhttp::verb::unknown)
    return fail(CoreErrc::invalid_argument, fmt::format("HTTP method {}", quoted(method)));
  std::lock_guard lock(impl_->mu);
  if (impl_->open() && impl_->stale()) impl_->close();
  bool reused = impl_->open();
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
    if (r) r->resent = true;
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
