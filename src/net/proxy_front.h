// The client-facing half of a proxy, shared by the gateway and the exit's front: one listening
// port that speaks both SOCKS5 (first byte 0x05) and HTTP proxying, reads the client's request
// and credentials with deadlines and size limits, asks the owner to authenticate, and answers
// success or failure in the client's protocol. What happens between (which IP, which route) is
// the owner's.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "core/error.h"
#include "core/hex.h"
#include "net/asio.h"
#include "net/endpoint.h"
#include "net/http_proxy.h"

namespace ipsx::net {

struct FrontRequest {
  bool socks = false;
  Endpoint destination;
  uint32_t protocol = 0;  // protocol::socks5, https_connect or http
  std::string username;
  std::string password;
  std::optional<HttpRequestHead> http;  // plain HTTP forwarding: the client's request head
  bool udp = false;  // SOCKS5 UDP ASSOCIATE: `destination` is where the client says it sends from
  Bytes leftover;    // bytes the client sent past its request (HTTP body start, early tunnel data)
};

// Checks credentials; an error is answered as "unauthorized" in the client's protocol. Called
// with two empty strings for a client that gives none (an HTTP request without
// Proxy-Authorization, a SOCKS5 client offering only "no authentication"): success lets it in
// without (a gateway's source-address allow list).
using FrontAuthenticate =
    std::function<Result<void>(const std::string& username, const std::string& password)>;

// Reads one proxy request from `s`, within `timeout`. Protocol errors and failed authentication
// are answered to the client here (SOCKS5 method/status/reply, HTTP 400/407/431) and returned;
// the caller just closes. `already`: bytes of the request read before (a keep-alive
// connection's pipelined bytes); `http_only`: a later request on a plain-HTTP connection, where
// SOCKS5 is not taken. Only CONNECT is served over SOCKS5 (UDP ASSOCIATE and BIND get
// command_not_supported) unless `udp_associate` is set, when the request is returned with
// `udp` true for the caller to serve.
awaitable<Result<FrontRequest>> read_front_request(tcp::socket& s, Millis timeout,
                                                   const FrontAuthenticate& authenticate,
                                                   Bytes already = {}, bool http_only = false,
                                                   bool udp_associate = false);

// Tells the client its request is connected: SOCKS5 success with `bound`, HTTP "200 Connection
// established" for CONNECT, nothing for plain HTTP (the origin's response follows).
awaitable<Result<void>> answer_success(tcp::socket& s, const FrontRequest& r, const Endpoint& bound,
                                       Millis timeout);

// Tells the client why not, in its protocol (docs/proxy-protocols.md, "Errors"): no_lease and
// overloaded -> 503 / general failure; exit_failed, timed_out, channel_closed -> 504 / host
// unreachable; forbidden_destination, not_permitted, unpaid, deal_ended -> 403 / not allowed.
awaitable<void> answer_failure(tcp::socket& s, const FrontRequest& r, const Error& why,
                               Millis timeout);

}  // namespace ipsx::net
