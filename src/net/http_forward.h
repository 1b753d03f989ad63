// Plain-HTTP forwarding with persistent connections (RFC 9112 §9), shared by the gateway and the
// exit's front: a client connection carries request after request (absolute-URI, possibly to
// different hosts); each request is forwarded to an upstream connection for its target, its body
// relayed by its framing, the response head rewritten (hop-by-hop headers dropped) and its body
// relayed by its framing (Content-Length, chunked, close-delimited; none for HEAD, 1xx, 204, 304).
// Then the next request is read from the same client connection. Upstream connections are reused
// while the target stays the same and the origin keeps them open.
//
// Pipelined requests are served in order, one at a time: bytes past a request wait in the
// client's buffer until its response has been relayed. Buffers are bounded (a head's limit plus
// one read); bodies pass through chunk by chunk. Stalls end by the registry's idle sweep; a later
// request's head must arrive within the request timeout once it has begun.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "core/error.h"
#include "net/asio.h"
#include "net/io_util.h"
#include "net/mux.h"
#include "net/proxy_front.h"

namespace ipsx::net {

// One upstream connection: a socket from the exit's leased IP (the front) or a pair-channel
// stream to the exit (the gateway).
class HttpUpstream {
 public:
  virtual ~HttpUpstream() = default;
  // The next bytes from the origin; empty when it closed.
  virtual awaitable<Result<Bytes>> read() = 0;
  virtual awaitable<Result<void>> write(ByteView bytes) = 0;
  // Closes at once; pending reads and writes fail.
  virtual void abort() = 0;
};

// `on_close` (optional) runs when the upstream is destroyed.
std::unique_ptr<HttpUpstream> socket_upstream(tcp::socket socket,
                                              std::function<void()> on_close = nullptr);
std::unique_ptr<HttpUpstream> stream_upstream(std::shared_ptr<MuxStream> stream);

// A connected upstream and how to meter what passes through it.
struct HttpHop {
  std::unique_ptr<HttpUpstream> upstream;
  std::function<void(uint64_t up, uint64_t down)> on_bytes;  // may be empty
};

struct HttpForwarder {
  // Reading a later request's head, from its first byte (the wait before it is idle time).
  Millis request_timeout{30'000};
  // Checks a later request's Proxy-Authorization (each request carries its own; the owner may
  // change its filters). Failures are answered 407/400 and end the connection.
  FrontAuthenticate authenticate;
  // Connects to a request's target; an error is answered in HTTP (403, 503, 504...).
  std::function<awaitable<Result<HttpHop>>(const FrontRequest&)> connect;
  // Lets the owner end the connection from outside (a cut deal).
  std::shared_ptr<SpliceControl> control;
};

// Serves `first` (a plain-HTTP request, `first.http` set) and the requests that follow it on
// `client` until either side ends the connection. A CONNECT request read on the way is returned
// (already authenticated) for the caller to tunnel; otherwise nullopt. The caller closes `client`.
awaitable<std::optional<FrontRequest>> forward_http(tcp::socket& client, FrontRequest first,
                                                    const HttpForwarder& forwarder,
                                                    SpliceRegistry& registry);

}  // namespace ipsx::net
