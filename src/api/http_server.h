// The API's HTTP/1.1 server (Boost.Beast; this header keeps Beast and Asio out of its users).
// One thread runs everything: accepting, reading, the router's handlers and writing, so the
// handlers (and the market they drive) are never called concurrently. A handler whose work waits
// elsewhere (a ledger transaction waiting for its block) answers later (HttpResponse::later): the
// thread serves other requests meanwhile, and the response is finished on it when the work
// replies.
//
// Limits: a request's header and body sizes (a body over the limit is answered 413 and the
// connection closed), a read deadline per request (a client that sends nothing, or too slowly,
// is disconnected), a write deadline, and maxima of concurrent connections, in all (no more than
// the process's descriptor limit allows) and from one client address (those over either are
// closed at once). Memory a burst of connections took is given back once they closed
// (net::MemoryTrimmer). Keep-alive as the client asks (HTTP/1.1 default on, HTTP/1.0 off).
// Optionally a WebSocket event stream (see ServerOptions::events), and https
// (ServerOptions::tls_*).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/event_stream.h"
#include "api/router.h"
#include "core/error.h"

namespace ipsx::api {

struct ServerOptions {
  size_t body_limit = 64 * 1024;
  size_t header_limit = 8 * 1024;
  std::chrono::milliseconds read_timeout{10'000};  // from the start of a request to its end
  std::chrono::milliseconds write_timeout{10'000};
  size_t max_connections = 16'384;
  size_t max_connections_per_address = 256;
  bool stop_on_signals = true;  // SIGINT and SIGTERM end run()
  // Called every `tick_every` on the server's thread, between requests (the node ticks the
  // market there: deadlines, window openings). Empty: none.
  std::function<void()> on_tick;
  std::chrono::milliseconds tick_every{1'000};
  // WebSocket: an upgrade request for `events_path` subscribes the connection to `events` (which
  // must outlive the server); every message published is sent to it as a text frame, and what
  // the client sends is ignored. A client more than `events_queue` messages behind is
  // disconnected. Null: no WebSocket (the request goes to the router like any other).
  EventStream* events = nullptr;
  std::string events_path = "/v1/events";
  // Asked before a WebSocket upgrade is accepted (the request's method, target, remote and
  // headers): an answer refuses it with that response. Empty: every upgrade is taken.
  std::function<std::optional<HttpResponse>(const HttpRequest&)> upgrade_guard;
  size_t events_queue = 1024;
  // https: a PEM certificate chain (the server's first) and its PEM private key, read by
  // listen(); both or neither. TLS 1.2 and 1.3; the handshake must finish within read_timeout.
  std::string tls_certificate_file;
  std::string tls_key_file;
  // CORS: the origins (scheme://host[:port]) whose pages may call the API from a browser, or "*"
  // for any. A listed origin's preflight (OPTIONS with Access-Control-Request-Method) is answered
  // 204 (GET and POST, Content-Type, cached 600 s), and every response to it carries
  // Access-Control-Allow-Origin. Empty: no CORS headers (browsers then refuse other origins).
  std::vector<std::string> cors_origins;
};

class HttpServer {
 public:
  // `router` must outlive the server.
  explicit HttpServer(const Router& router, ServerOptions options = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens on `host:port` (port 0: any free port). Returns the bound address as
  // "host:port". Call once, before run(). With stop_on_signals, SIGINT and SIGTERM are caught from
  // here on and end run() (even one received before run() starts).
  Result<std::string> listen(const std::string& host, uint16_t port);
  // Serves until stop() or, with stop_on_signals, SIGINT/SIGTERM. Returns once no handler runs;
  // open connections are dropped.
  void run();
  // Ends run(). Thread-safe; may be called before run() starts.
  void stop();
  // Runs `work` on the server's thread (where handlers run), between requests. Thread-safe; work
  // posted once the server is gone is dropped.
  void post(std::function<void()> work);
  // The same as a function that may outlive the server (what is posted then is dropped): for
  // work that finishes on other threads, such as a ledger answering at its shutdown.
  std::function<void(std::function<void()>)> poster() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ipsx::api
