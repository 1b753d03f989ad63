// The one file with Boost.Beast in it (it is slow to compile). Asio's own definitions are
// compiled once in the net layer (src/net/asio_impl.cc).
#include "api/http_server.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>

#include <sys/resource.h>

#include "net/asio.h"
#include "net/io_util.h"
#include "net/memory_trim.h"

namespace ipsx::api {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

// The Access-Control-Allow-Origin for a request from `origin`: the origin itself when the list
// holds it (or "*" when the list says any), empty when it is not allowed or there is none.
std::string cors_allowed(const std::vector<std::string>& allowed, beast::string_view origin) {
  if (origin.empty() || allowed.empty()) return "";
  for (const std::string& a : allowed) {
    if (a == "*") return "*";
    if (beast::iequals(a, origin)) return std::string(origin);
  }
  return "";
}

// What a WebSocket handshake must carry (RFC 6455 §4.2.1), checked before Beast's accept so that
// a bad one is refused in the API's JSON error shape (Beast's own refusal is plain text).
std::optional<HttpResponse> websocket_refusal(const http::request<http::string_body>& req) {
  if (req[http::field::sec_websocket_version] != "13") {
    HttpResponse r = error_response(
        {426, "upgrade_required",
         "this WebSocket speaks version 13 (Sec-WebSocket-Version: 13, RFC 6455)", ""});
    r.headers.emplace_back("Sec-WebSocket-Version", "13");
    return r;
  }
  auto raw_key = req[http::field::sec_websocket_key];
  std::string_view key(raw_key.data(), raw_key.size());
  bool base64 = key.size() == 24 && key.ends_with("==") &&
                std::all_of(key.begin(), key.end() - 2, [](char c) {
                  return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/';
                });
  if (!base64) {
    return error_response(ApiError::bad_request(
        "the WebSocket handshake needs Sec-WebSocket-Key: 16 random bytes in base64 (RFC 6455 "
        "section 4.1)"));
  }
  return std::nullopt;
}
// What the router's handlers see of a request: its method, target, body, the client's address
// and the few headers they read.
HttpRequest to_request(const http::request<http::string_body>& req, const std::string& remote) {
  HttpRequest request;
  request.method = std::string(req.method_string());
  request.target = std::string(req.target());
  request.body = req.body();
  request.remote = remote;
  for (const char* name : {"accept-encoding", "if-none-match", "authorization", "cookie", "origin",
                           "content-type", "sec-fetch-site", "host"}) {
    if (auto it = req.find(name); it != req.end())
      request.headers.emplace_back(name, std::string(it->value()));
  }
  return request;
}

namespace asio = net::asio;
using net::awaitable;
using net::tcp;
using net::use_ec;

using Response = http::response<http::string_body>;

Response to_beast(const HttpResponse& r, unsigned version, bool keep_alive) {
  Response res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "ipsx");
  res.set(http::field::content_type, r.content_type);
  for (const auto& [name, value] : r.headers) res.set(name, value);
  res.body() = r.body;
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

}  // namespace

// Where a later response's reply goes: the server's io_context while it lives. The reply may
// come from another thread after the server is gone (a ledger finishing a transaction at
// shutdown); then it is dropped.
struct ReplyGate {
  std::mutex mu;
  asio::io_context* io = nullptr;
};

// A request whose response comes later: its session waits on `wake` until `result` is set.
struct LaterResult {
  explicit LaterResult(asio::io_context& io) : wake(io) {}
  asio::steady_timer wake;
  std::optional<HttpResponse> result;
};

struct HttpServer::Impl {
  const Router& router;
  ServerOptions options;
  size_t connections = 0;  // before io: sessions destroyed with io count themselves out
  // Open connections per client address, for max_connections_per_address (same lifetime).
  std::map<asio::ip::address, size_t> per_address;
  size_t max_connections = 0;  // options.max_connections, less if the descriptors allow fewer
  // WebSocket subscriptions still open: dropped (by ~Impl) before the io_context goes.
  std::set<uint64_t> subscriptions;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  asio::signal_set signals{io};

  std::shared_ptr<ReplyGate> gate = std::make_shared<ReplyGate>();
  std::optional<asio::ssl::context> tls;  // https when set (listen(), from the options' files)
  // A burst of connections' memory back to the system once they closed (glibc would keep it).
  net::MemoryTrimmer trimmer;

  Impl(const Router& r, ServerOptions o) : router(r), options(o) { gate->io = &io; }
  ~Impl() {
    {
      std::lock_guard lock(gate->mu);
      gate->io = nullptr;
    }
    if (options.events)
      for (uint64_t id : subscriptions) options.events->unsubscribe(id);
  }

  // One WebSocket client of the event stream: a queue of messages to send, written by
  // ws_session(); ws_reader() notices the client's close.
  template <class Stream>
  struct Subscriber {
    websocket::stream<Stream> ws;
    std::deque<EventStream::Message> queue;
    asio::steady_timer wake;
    bool closed = false;
    Subscriber(Stream s, asio::io_context& io) : ws(std::move(s)), wake(io) {}
  };

  template <class Stream>
  static awaitable<void> ws_reader(std::shared_ptr<Subscriber<Stream>> sub) {
    beast::flat_buffer buffer;
    boost::system::error_code ec;
    for (;;) {
      buffer.clear();
      co_await sub->ws.async_read(buffer, use_ec(ec));
      if (ec) break;
    }
    sub->closed = true;
    sub->wake.cancel();
  }

  template <class Stream>
  awaitable<void> ws_session(Stream stream, http::request<http::string_body> req) {
    auto sub = std::make_shared<Subscriber<Stream>>(std::move(stream), io);
    boost::system::error_code ec;
    beast::get_lowest_layer(sub->ws).expires_never();
    sub->ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    sub->ws.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "ipsx"); }));
    co_await sub->ws.async_accept(req, use_ec(ec));
    if (ec) co_return;
    sub->ws.text(true);
    const size_t limit = options.events_queue;
    uint64_t id = options.events->subscribe([sub, limit](const EventStream::Message& m) {
      if (sub->closed) return;
      if (sub->queue.size() >= limit) {
        sub->closed = true;  // too far behind: dropped
      } else {
        sub->queue.push_back(m);
      }
      sub->wake.cancel();
    });
    subscriptions.insert(id);
    asio::co_spawn(io, ws_reader(sub), asio::detached);
    while (!sub->closed) {
      if (sub->queue.empty()) {
        sub->wake.expires_at(asio::steady_timer::time_point::max());
        co_await sub->wake.async_wait(use_ec(ec));
        continue;
      }
      EventStream::Message m = sub->queue.front();
      sub->queue.pop_front();
      co_await sub->ws.async_write(asio::buffer(*m), use_ec(ec));
      if (ec) break;
    }
    subscriptions.erase(id);
    options.events->unsubscribe(id);
    sub->closed = true;
    if (sub->ws.is_open()) {
      co_await sub->ws.async_close(websocket::close_code::normal, use_ec(ec));
    }
  }

  awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(use_ec(ec));
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec) {
        co_await net::pause_after_accept_error(ec);  // e.g. too many open files
        continue;
      }
      // Over the limits the connection is closed at once: the whole server's (what the
      // descriptors allow), and each client address's, so that no one address (a slowloris
      // attacker's) can take the connections everyone else needs.
      const auto from = socket.remote_endpoint(ec);
      if (ec || connections >= max_connections ||
          per_address[from.address()] >= options.max_connections_per_address) {
        if (!ec && per_address[from.address()] == 0) per_address.erase(from.address());
        socket.close(ec);
        continue;
      }
      ++connections;
      ++per_address[from.address()];
      asio::co_spawn(io, session(std::move(socket), from.address()), asio::detached);
    }
  }

  awaitable<void> tick_loop() {
    asio::steady_timer timer(io);
    for (;;) {
      timer.expires_after(options.tick_every);
      boost::system::error_code ec;
      co_await timer.async_wait(use_ec(ec));
      if (ec) co_return;
      options.on_tick();
    }
  }

  // Writes an error for a request that could not be read, then closes gracefully: stops sending,
  // and reads (and discards) what the client still sends for a moment, so that the client reads
  // the answer before the close rather than a reset.
  template <class Stream>
  awaitable<void> fail_and_close(Stream& stream, const ApiError& e) {
    co_await fail_and_close(stream, error_response(e));
  }
  template <class Stream>
  awaitable<void> fail_and_close(Stream& stream, const HttpResponse& refusal) {
    boost::system::error_code ec;
    Response res = to_beast(refusal, 11, false);
    beast::get_lowest_layer(stream).expires_after(options.write_timeout);
    co_await http::async_write(stream, res, use_ec(ec));
    if (ec) co_return;
    beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_send, ec);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
    std::array<char, 16 * 1024> sink;
    size_t drained = 0;
    while (drained < 16 * options.body_limit + (1u << 20)) {
      size_t n = co_await stream.async_read_some(asio::buffer(sink), use_ec(ec));
      if (ec) break;
      drained += n;
    }
  }

  // Hands a later response's work its reply, and waits (without holding the thread: other
  // sessions run meanwhile) until the work replied and its finish ran here.
  awaitable<HttpResponse> finish_later(HttpResponse response) {
    // The session owns the result (its timer belongs to the io_context); the reply only points
    // at it, so a reply that outlives the server touches nothing of it.
    auto done = std::make_shared<LaterResult>(io);
    response.later(
        [gate = gate, weak = std::weak_ptr<LaterResult>(done)](HttpResponse::Finish finish) {
          std::lock_guard lock(gate->mu);
          if (!gate->io) return;  // the server is gone
          asio::post(*gate->io, [weak, finish = std::move(finish)] {
            auto done = weak.lock();
            if (!done) return;  // the session is gone
            try {
              done->result = finish();
            } catch (const std::exception& e) {
              done->result = error_response(ApiError::internal(e.what()));
            }
            done->wake.cancel();
          });
        });
    while (!done->result) {
      boost::system::error_code ec;
      done->wake.expires_at(asio::steady_timer::time_point::max());
      co_await done->wake.async_wait(use_ec(ec));
    }
    co_return std::move(*done->result);
  }

  awaitable<void> session(tcp::socket socket, asio::ip::address from) {
    struct Count {
      Impl& s;
      asio::ip::address from;
      ~Count() {
        --s.connections;
        if (auto it = s.per_address.find(from); it != s.per_address.end() && --it->second == 0)
          s.per_address.erase(it);
      }
    } count{*this, from};
    boost::system::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    std::string remote;
    if (auto ep = socket.remote_endpoint(ec); !ec) remote = ep.address().to_string();
    if (!tls) {
      beast::tcp_stream stream(std::move(socket));
      co_await serve(stream, remote);
      co_return;
    }
    // https: the handshake first, within the read deadline; a client that speaks plain HTTP or
    // fails the handshake is disconnected.
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *tls);
    beast::get_lowest_layer(stream).expires_after(options.read_timeout);
    co_await stream.async_handshake(asio::ssl::stream_base::server, use_ec(ec));
    if (ec) {
      beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
      co_return;
    }
    co_await serve(stream, remote);
  }

  // The requests of one connection, over plain TCP or TLS.
  template <class Stream>
  awaitable<void> serve(Stream& stream, const std::string& remote) {
    boost::system::error_code ec;
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(options.header_limit));
      parser.body_limit(options.body_limit);
      beast::get_lowest_layer(stream).expires_after(options.read_timeout);
      co_await http::async_read_header(stream, buffer, parser, use_ec(ec));
      if (!ec && beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        // curl asks before sending a larger body; answer at once rather than make it wait.
        http::response<http::empty_body> go{http::status::continue_, parser.get().version()};
        co_await http::async_write(stream, go, use_ec(ec));
      }
      if (!ec) co_await http::async_read(stream, buffer, parser, use_ec(ec));
      if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
          ec == asio::error::operation_aborted) {
        break;
      }
      if (ec == http::error::body_limit) {
        co_await fail_and_close(stream, ApiError::payload_too_large(options.body_limit));
        break;
      }
      if (ec == http::error::header_limit) {
        ApiError e{431, "headers_too_large",
                   fmt::format("the headers are over the limit of {} bytes", options.header_limit),
                   ""};
        co_await fail_and_close(stream, e);
        break;
      }
      if (ec) {
        if (ec.category() == http::make_error_code(http::error::bad_version).category()) {
          co_await fail_and_close(stream,
                                  ApiError::bad_request("malformed HTTP request: " + ec.message()));
        }
        break;
      }
      const auto& req = parser.get();
      if (options.events && websocket::is_upgrade(req) &&
          req.target().substr(0, req.target().find('?')) == options.events_path) {
        auto refusal = websocket_refusal(req);
        if (!refusal && options.upgrade_guard)
          refusal = options.upgrade_guard(to_request(req, remote));
        if (refusal) {
          co_await fail_and_close(stream, *refusal);
          break;
        }
        co_await ws_session(std::move(stream), parser.release());
        co_return;
      }
      // CORS (the Fetch standard): an allowed page's preflight is answered here; its other
      // requests get the allowing headers on whatever the router answers.
      const std::string allow = cors_allowed(options.cors_origins, req[http::field::origin]);
      HttpResponse response;
      if (!allow.empty() && req.method() == http::verb::options &&
          req.count(http::field::access_control_request_method) > 0) {
        response.status = 204;
        response.content_type = "text/plain";
        response.headers = {{"Access-Control-Allow-Methods", "GET, POST"},
                            {"Access-Control-Allow-Headers", "Content-Type"},
                            {"Access-Control-Max-Age", "600"}};
      } else {
        response = router.dispatch(to_request(req, remote));
        if (response.later) response = co_await finish_later(std::move(response));
      }
      if (!allow.empty()) {
        response.headers.emplace_back("Access-Control-Allow-Origin", allow);
        response.headers.emplace_back("Access-Control-Expose-Headers", "Retry-After, Allow");
      }
      if (!options.cors_origins.empty()) response.headers.emplace_back("Vary", "Origin");
      bool keep_alive = req.keep_alive();
      Response res = to_beast(response, req.version(), keep_alive);
      beast::get_lowest_layer(stream).expires_after(options.write_timeout);
      co_await http::async_write(stream, res, use_ec(ec));
      if (ec || !keep_alive) break;
    }
    beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
  }
};

HttpServer::HttpServer(const Router& router, ServerOptions options)
    : impl_(std::make_unique<Impl>(router, options)) {}

HttpServer::~HttpServer() = default;

namespace {

Result<std::string> read_pem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(CoreErrc::io_error, fmt::format("{}: cannot read {}", what, path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

Result<std::string> HttpServer::listen(const std::string& host, uint16_t port) {
  boost::system::error_code ec;
  const ServerOptions& o = impl_->options;
  if (o.tls_certificate_file.empty() != o.tls_key_file.empty()) {
    return fail(CoreErrc::invalid_argument,
                "https needs both a certificate chain and its private key");
  }
  if (!o.tls_certificate_file.empty()) {
    auto cert = read_pem(o.tls_certificate_file, "the TLS certificate");
    if (!cert) return std::unexpected(cert.error());
    auto key = read_pem(o.tls_key_file, "the TLS key");
    if (!key) return std::unexpected(key.error());
    auto& ctx = impl_->tls.emplace(asio::ssl::context::tls_server);
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                    asio::ssl::context::no_tlsv1_1);
    ctx.use_certificate_chain(asio::buffer(*cert), ec);
    if (ec) {
      impl_->tls.reset();
      return fail(CoreErrc::invalid_argument,
                  fmt::format("the TLS certificate {}: not a PEM certificate chain ({})",
                              o.tls_certificate_file, ec.message()));
    }
    ctx.use_private_key(asio::buffer(*key), asio::ssl::context::pem, ec);
    if (!ec && SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
      ec = asio::error::invalid_argument;
    }
    if (ec) {
      impl_->tls.reset();
      return fail(CoreErrc::invalid_argument,
                  fmt::format("the TLS key {}: not a PEM private key of the certificate {}",
                              o.tls_key_file, o.tls_certificate_file));
    }
  }
  auto address = asio::ip::make_address(host, ec);
  if (ec) return fail(CoreErrc::invalid_argument, fmt::format("{}: not an IP address", host));
  tcp::endpoint endpoint(address, port);
  auto& a = impl_->acceptor;
  a.open(endpoint.protocol(), ec);
  if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) a.bind(endpoint, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return fail(CoreErrc::io_error, fmt::format("listen on {}:{}: {}", host, port, ec.message()));
  }
  if (impl_->options.stop_on_signals) {
    // From here on a SIGTERM is held for run() rather than killing the process.
    impl_->signals.add(SIGINT, ec);
    impl_->signals.add(SIGTERM, ec);
  }
  auto bound = a.local_endpoint(ec);
  if (ec) return fail(CoreErrc::io_error, ec.message());
  // No more connections than descriptors: those over the process's limit (less a reserve for
  // the ledger's files and outgoing connections) would fail to be accepted, and the accept
  // loop would spin on EMFILE instead of closing them.
  impl_->max_connections = impl_->options.max_connections;
  if (rlimit lim{}; ::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
    const size_t usable = lim.rlim_cur > 256 ? static_cast<size_t>(lim.rlim_cur) - 128 : 128;
    impl_->max_connections = std::min(impl_->max_connections, usable);
  }
  return fmt::format("{}:{}", bound.address().to_string(), bound.port());
}

void HttpServer::run() {
  Impl& s = *impl_;
  if (s.options.stop_on_signals) {
    s.signals.async_wait([this](const boost::system::error_code& ec, int) {
      if (!ec) stop();
    });
  }
  asio::co_spawn(s.io, s.accept_loop(), asio::detached);
  if (s.options.on_tick) asio::co_spawn(s.io, s.tick_loop(), asio::detached);
  s.io.run();
}

void HttpServer::post(std::function<void()> work) {
  poster()(std::move(work));
}

std::function<void(std::function<void()>)> HttpServer::poster() const {
  return [gate = impl_->gate](std::function<void()> work) {
    std::lock_guard lock(gate->mu);
    if (!gate->io) return;  // the server is gone
    asio::post(*gate->io, [work = std::move(work)] {
      try {
        work();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "ipsx: posted work failed: %s\n", e.what());
      }
    });
  };
}

void HttpServer::stop() {
  asio::post(impl_->io, [s = impl_.get()] {
    boost::system::error_code ec;
    s->acceptor.close(ec);
    s->signals.cancel(ec);
    s->io.stop();
  });
}

}  // namespace ipsx::api
