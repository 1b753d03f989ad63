#include "net/http_forward.h"

#include <fmt/format.h>

#include "net/http_proxy.h"
#include "net/net_error.h"

namespace ipsx::net {
namespace {

// 1xx responses relayed before the final one; more is an origin gone wrong.
constexpr int kMaxInterimResponses = 16;

class SocketUpstream final : public HttpUpstream {
 public:
  SocketUpstream(tcp::socket s, std::function<void()> on_close)
      : s_(std::move(s)), on_close_(std::move(on_close)) {
    make_non_blocking(s_);
  }
  ~SocketUpstream() override {
    boost::system::error_code ec;
    s_.close(ec);
    if (on_close_) on_close_();
  }
  awaitable<Result<Bytes>> read() override { co_return co_await read_available(s_); }
  awaitable<Result<void>> write(ByteView bytes) override {
    boost::system::error_code ec;
    co_await asio::async_write(s_, asio::buffer(bytes.data(), bytes.size()), use_ec(ec));
    if (ec) co_return fail(NetErrc::channel_closed, "the origin: " + ec.message());
    co_return Result<void>{};
  }
  void abort() override {
    boost::system::error_code ec;
    s_.close(ec);
  }

 private:
  tcp::socket s_;
  std::function<void()> on_close_;
};

class StreamUpstream final : public HttpUpstream {
 public:
  explicit StreamUpstream(std::shared_ptr<MuxStream> s) : s_(std::move(s)) {}
  ~StreamUpstream() override { s_->reset(); }
  awaitable<Result<Bytes>> read() override { co_return co_await s_->read_chunk(); }
  awaitable<Result<void>> write(ByteView bytes) override { co_return co_await s_->write(bytes); }
  void abort() override { s_->reset(); }

 private:
  std::shared_ptr<MuxStream> s_;
};

// A request body on its way up while the response comes down.
struct Upload {
  explicit Upload(asio::any_io_executor ex) : wake(ex) {}
  asio::steady_timer wake;
  bool running = true;
  bool failed = false;
  bool waiting = false;
};

enum class Outcome {
  keep,         // the response was relayed; the client connection goes on
  close,        // the response was relayed; the client connection ends (close-delimited, asked)
  no_response,  // the origin gave no byte of a response; the client got nothing yet
  failed,       // answered with an error, or a response was cut short: the connection ends
};

struct Relay {
  Relay(tcp::socket& c, const HttpForwarder& fw) : client(c), f(fw) {}
  tcp::socket& client;
  std::optional<Error> upstream_error;  // why the upstream's last read or write failed
  const HttpForwarder& f;
  RelayWatch* watch = nullptr;
  Bytes buf;  // client bytes past the current request's head (body, pipelined requests)
  std::unique_ptr<HttpUpstream> up;
  std::function<void(uint64_t, uint64_t)> meter;
  Endpoint target;
  uint32_t protocol = 0;
  bool reusable = false;

  void count(uint64_t to_origin, uint64_t from_origin) {
    watch->touch();
    if (meter) meter(to_origin, from_origin);
  }

  void drop_upstream() {
    if (up) up->abort();
    up.reset();
    meter = nullptr;
    reusable = false;
  }

  void abort_all() {
    boost::system::error_code ec;
    client.close(ec);
    if (up) up->abort();
  }

  awaitable<bool> to_client(std::string_view text) {
    boost::system::error_code ec;
    co_await asio::async_write(client, asio::buffer(text.data(), text.size()), use_ec(ec));
    if (!ec) watch->touch();
    co_return !ec;
  }

  awaitable<void> upload(std::shared_ptr<Upload> u, HttpBodyScanner body, HttpUpstream* to) {
    auto finish = [&](bool ok) {
      u->failed = !ok;
      u->running = false;
      if (u->waiting) u->wake.cancel();
    };
    for (;;) {
      if (!buf.empty()) {
        auto n = body.scan(buf);
        if (!n) co_return finish(false);
        Bytes part(buf.begin(), buf.begin() + static_cast<long>(*n));
        buf.erase(buf.begin(), buf.begin() + static_cast<long>(*n));
        if (!part.empty()) {
          auto w = co_await to->write(part);
          if (!w) co_return finish(false);
          count(part.size(), 0);
        }
      }
      if (body.done()) co_return finish(true);
      auto chunk = co_await read_available(client);
      if (!chunk || chunk->empty()) co_return finish(false);
      watch->touch();
      buf = std::move(*chunk);
    }
  }

  awaitable<void> wait_upload(const std::shared_ptr<Upload>& u) {
    while (u->running) {
      u->waiting = true;
      u->wake.expires_at(asio::steady_timer::time_point::max());
      boost::system::error_code ec;
      co_await u->wake.async_wait(use_ec(ec));
      u->waiting = false;
    }
  }

  awaitable<Outcome> fail_response(bool sent, std::string_view why) {
    if (!sent) {
      // Each reason here is the origin's response breaking HTTP.
      std::string text =
          write_error_response(ProxyStatus::bad_gateway, why, false, "http_protocol_error");
      co_await to_client(text);
    }
    co_return Outcome::failed;
  }

  // Relays the origin's interim and final responses for `head`.
  awaitable<Outcome> relay_response(const HttpRequestHead& head, const std::shared_ptr<Upload>& u) {
    Bytes rbuf;
    bool sent = false;
    int interim = 0;
    for (;;) {
      auto parsed = parse_response_head(
          std::string_view(reinterpret_cast<const char*>(rbuf.data()), rbuf.size()), head.method);
      if (!parsed) {
        std::string why = "the origin's response: " + parsed.error().message();
        co_return co_await fail_response(sent, why);
      }
      if (!parsed->complete()) {
        auto chunk = co_await up->read();
        if (!chunk) upstream_error = chunk.error();
        if (!chunk || chunk->empty()) {
          if (!sent && rbuf.empty()) co_return Outcome::no_response;
          co_return co_await fail_response(sent, "the origin closed within a response head");
        }
        count(0, chunk->size());
        rbuf.insert(rbuf.end(), chunk->begin(), chunk->end());
        continue;
      }
      HttpResponseHead resp = std::move(*parsed->message);
      rbuf.erase(rbuf.begin(), rbuf.begin() + static_cast<long>(parsed->consumed));
      if (resp.interim()) {
        if (++interim > kMaxInterimResponses)
          co_return co_await fail_response(sent, "the origin sent too many 1xx responses");
        if (head.minor_version == 1) {  // never a 1xx to an HTTP/1.0 client (RFC 9110 §15.2)
          std::string text = write_response_head(resp, true, 1);
          if (!co_await to_client(text)) co_return Outcome::failed;
          sent = true;
        }
        continue;
      }
      // The client connection goes on only if both want it and the body ends by its framing;
      // a request body still on its way (the origin answered early) ends it too.
      bool keep = head.keep_alive && resp.framing != ResponseFraming::close_delimited &&
                  !(u && (u->running || u->failed));
      std::string text = write_response_head(resp, keep, head.minor_version);
      if (!co_await to_client(text)) co_return Outcome::failed;
      HttpBodyScanner body = HttpBodyScanner::for_response(resp);
      bool extra = false;  // the origin sent bytes past its response
      for (;;) {
        if (!rbuf.empty()) {
          auto n = body.scan(rbuf);
          if (!n) co_return Outcome::failed;  // cut short: the client sees the connection end
          extra = *n < rbuf.size();
          std::string_view part(reinterpret_cast<const char*>(rbuf.data()), *n);
          if (!part.empty() && !co_await to_client(part)) co_return Outcome::failed;
          rbuf.clear();
        }
        if (body.done()) break;
        auto chunk = co_await up->read();
        if (!chunk) co_return Outcome::failed;
        if (chunk->empty()) {
          if (body.ends_at_close()) break;
          co_return Outcome::failed;
        }
        count(0, chunk->size());
        rbuf = std::move(*chunk);
      }
      reusable = resp.keep_alive && head.keep_alive && !extra && !body.ends_at_close();
      co_return keep ? Outcome::keep : Outcome::close;
    }
  }

  // Forwards one request and relays its response. True: read the next request.
  awaitable<bool> exchange(FrontRequest& req) {
    const HttpRequestHead& head = *req.http;
    buf = std::move(req.leftover);
    if (up && !(reusable && target == req.destination && protocol == req.protocol)) drop_upstream();
    reusable = false;
    auto forward = write_forward_head(head, head.keep_alive);
    if (!forward) {
      co_await answer_failure(client, req, forward.error(), f.request_timeout);
      co_return false;
    }
    HttpBodyScanner body = HttpBodyScanner::for_request(head);
    bool has_body = !body.done();
    for (int attempt = 0;; ++attempt) {
      bool reused = up != nullptr;
      if (!up) {
        auto hop = co_await f.connect(req);
        if (!hop) {
          co_await answer_failure(client, req, hop.error(), f.request_timeout);
          co_return false;
        }
        up = std::move(hop->upstream);
        meter = std::move(hop->on_bytes);
        target = req.destination;
        protocol = req.protocol;
        watch->touch();
      }
      ByteView forward_bytes = as_bytes(*forward);
      upstream_error.reset();
      auto w = co_await up->write(forward_bytes);
      if (w) count(forward->size(), 0);
      if (!w) upstream_error = w.error();
      std::shared_ptr<Upload> u;
      if (w && has_body) {
        u = std::make_shared<Upload>(client.get_executor());
        asio::co_spawn(client.get_executor(), upload(u, body, up.get()), asio::detached);
      }
      Outcome outcome = w ? co_await relay_response(head, u) : Outcome::no_response;
      if (u && u->running) {
        // The origin answered before the client's body ended: end the connection.
        abort_all();
        co_await wait_upload(u);
        co_return false;
      }
      if (outcome == Outcome::no_response) {
        drop_upstream();
        // A kept connection the origin closed meanwhile: once more on a fresh one, when nothing
        // of the request is lost (no body).
        if (reused && !has_body && attempt == 0 && !watch->aborted()) continue;
        // An upstream that failed with a reason (the exit could not reach the origin, or refused
        // it: a stream opened without waiting for the exit's answer) is answered as a failure
        // to connect would have been.
        if (upstream_error) {
          co_await answer_failure(client, req, *upstream_error, f.request_timeout);
          co_return false;
        }
        std::string text =
            write_error_response(ProxyStatus::bad_gateway, "the origin closed without a response",
                                 false, "http_response_incomplete");
        co_await to_client(text);
        co_return false;
      }
      if (outcome != Outcome::keep) {
        drop_upstream();
        co_return false;
      }
      if (!reusable) drop_upstream();
      co_return !(u && u->failed);
    }
  }
};

}  // namespace

std::unique_ptr<HttpUpstream> socket_upstream(tcp::socket socket, std::function<void()> on_close) {
  return std::make_unique<SocketUpstream>(std::move(socket), std::move(on_close));
}

std::unique_ptr<HttpUpstream> stream_upstream(std::shared_ptr<MuxStream> stream) {
  return std::make_unique<StreamUpstream>(std::move(stream));
}

awaitable<std::optional<FrontRequest>> forward_http(tcp::socket& client, FrontRequest first,
                                                    const HttpForwarder& forwarder,
                                                    SpliceRegistry& registry) {
  boost::system::error_code ec;
  make_non_blocking(client);
  Relay r(client, forwarder);
  RelayWatch watch(
      registry, [&r] { r.abort_all(); }, forwarder.control);
  r.watch = &watch;
  FrontRequest req = std::move(first);
  std::optional<FrontRequest> out;
  for (;;) {
    bool keep = co_await r.exchange(req);
    if (!keep || watch.aborted()) break;
    if (r.buf.empty()) {
      // Idle between requests: no buffer held; the registry's sweep ends a long wait.
      Bytes().swap(r.buf);
      co_await client.async_wait(tcp::socket::wait_read, use_ec(ec));
      if (ec || watch.aborted()) break;
    }
    auto next = co_await read_front_request(client, forwarder.request_timeout,
                                            forwarder.authenticate, std::move(r.buf), true);
    r.buf.clear();
    if (!next) break;
    watch.touch();
    if (!next->http) {  // CONNECT: the caller tunnels it
      out = std::move(*next);
      break;
    }
    req = std::move(*next);
  }
  r.drop_upstream();
  co_return out;
}

}  // namespace ipsx::net
