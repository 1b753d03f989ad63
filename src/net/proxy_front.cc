#include "net/proxy_front.h"

#include <fmt/format.h>

#include <cctype>

#include "net/io_util.h"
#include "net/net_error.h"
#include "net/socks5.h"
#include "vocab/orders.h"

namespace ipsx::net {
namespace {

constexpr size_t kMaxRequestBytes = 16 * 1024;

Socks5Reply socks_reply_for(const Error& e) {
  if (e.code().category() != net_category()) return Socks5Reply::general_failure;
  switch (static_cast<NetErrc>(e.code().value())) {
    case NetErrc::exit_failed:
    case NetErrc::timed_out:
    case NetErrc::channel_closed:
    case NetErrc::tls:
      return Socks5Reply::host_unreachable;
    case NetErrc::forbidden_destination:
    case NetErrc::not_permitted:
    case NetErrc::unpaid:
    case NetErrc::deal_ended:
    case NetErrc::unauthorized:
      return Socks5Reply::not_allowed;
    default:
      return Socks5Reply::general_failure;
  }
}

ProxyStatus http_status_for(const Error& e) {
  if (e.code().category() != net_category()) return ProxyStatus::bad_gateway;
  switch (static_cast<NetErrc>(e.code().value())) {
    case NetErrc::no_lease:
    case NetErrc::overloaded:
      return ProxyStatus::service_unavailable;
    case NetErrc::exit_failed:
    case NetErrc::timed_out:
    case NetErrc::channel_closed:
    case NetErrc::tls:
      return ProxyStatus::gateway_timeout;
    case NetErrc::forbidden_destination:
    case NetErrc::not_permitted:
    case NetErrc::unpaid:
    case NetErrc::deal_ended:
    case NetErrc::unauthorized:
      return ProxyStatus::forbidden;
    default:
      return ProxyStatus::bad_gateway;
  }
}

// The RFC 9209 error type of a refusal for this reason.
std::string_view proxy_error_type(const Error& e) {
  if (e.code().category() != net_category()) return "proxy_internal_error";
  switch (static_cast<NetErrc>(e.code().value())) {
    case NetErrc::no_lease:
      return "proxy_internal_response";  // no leased IP fits: the gateway answers itself
    case NetErrc::overloaded:
      return "connection_limit_reached";
    case NetErrc::exit_failed:
      return "destination_unavailable";
    case NetErrc::timed_out:
      return "connection_timeout";
    case NetErrc::channel_closed:
      return "connection_terminated";
    case NetErrc::tls:
      return "tls_protocol_error";
    case NetErrc::forbidden_destination:
      return "destination_ip_prohibited";
    case NetErrc::bad_address:
      return "destination_not_found";
    case NetErrc::not_permitted:
    case NetErrc::unpaid:
    case NetErrc::deal_ended:
    case NetErrc::unauthorized:
      return "http_request_denied";
    default:
      return proxy_status_error_for(http_status_for(e));
  }
}

// Reads into `buf` until `parse` completes; answers nothing itself. No deadline of its own: the
// whole request is read under one (read_front_request's), so a request costs one timer.
template <class T, class Parse>
awaitable<Result<T>> read_message(tcp::socket& s, Bytes& buf, Millis, Parse parse) {
  std::array<uint8_t, 4096> chunk;
  for (;;) {
    auto r = parse(ByteView(buf));
    if (!r) co_return std::unexpected(r.error());
    if (r->complete()) {
      T msg = std::move(*r->message);
      buf.erase(buf.begin(), buf.begin() + static_cast<long>(r->consumed));
      co_return msg;
    }
    if (buf.size() >= kMaxRequestBytes) co_return fail(NetErrc::too_large, "request too large");
    boost::system::error_code ec;
    size_t n = co_await s.async_read_some(asio::buffer(chunk), use_ec(ec));
    if (ec == asio::error::eof)
      co_return fail(NetErrc::channel_closed, "the client closed the connection");
    if (ec) co_return fail(NetErrc::channel_closed, ec.message());
    buf.insert(buf.end(), chunk.begin(), chunk.begin() + static_cast<long>(n));
  }
}

awaitable<void> send(tcp::socket& s, ByteView bytes, Millis) {
  boost::system::error_code ec;
  co_await asio::async_write(s, asio::buffer(bytes.data(), bytes.size()), use_ec(ec));
}

awaitable<Result<FrontRequest>> read_socks(tcp::socket& s, Bytes& buf, Millis timeout,
                                           const FrontAuthenticate& authenticate,
                                           bool udp_associate) {
  FrontRequest req;
  req.socks = true;
  req.protocol = protocol::socks5;
  auto greeting = co_await read_message<Socks5Greeting>(s, buf, timeout, parse_greeting);
  if (!greeting) co_return std::unexpected(greeting.error());
  // Without credentials only where the front lets a client in without (authenticate("", "")).
  const bool anonymous = !greeting->offers(socks5_method::username_password) &&
                         greeting->offers(socks5_method::no_auth) && authenticate("", "");
  if (!anonymous && !greeting->offers(socks5_method::username_password)) {
    {
      Bytes msg = write_method_selection(socks5_method::no_acceptable);
      co_await send(s, msg, timeout);
    }
    co_return fail(NetErrc::unauthorized, "the client offered no username/password method");
  }
  {
    Bytes msg = write_method_selection(anonymous ? socks5_method::no_auth
                                                 : socks5_method::username_password);
    co_await send(s, msg, timeout);
  }
  if (!anonymous) {
    auto up = co_await read_message<Socks5UserPass>(s, buf, timeout, parse_userpass);
    if (!up) co_return std::unexpected(up.error());
    req.username = up->username;
    req.password = up->password;
    if (auto ok = authenticate(req.username, req.password); !ok) {
      {
        Bytes msg = write_userpass_status(false);
        co_await send(s, msg, timeout);
      }
      co_return std::unexpected(ok.error());
    }
    {
      Bytes msg = write_userpass_status(true);
      co_await send(s, msg, timeout);
    }
  }
  auto request = co_await read_message<Socks5Request>(s, buf, timeout, parse_request);
  if (!request) {
    {
      Bytes msg = write_reply(reply_for(request.error()));
      co_await send(s, msg, timeout);
    }
    co_return std::unexpected(request.error());
  }
  if (request->command == Socks5Command::udp_associate && udp_associate) {
    req.udp = true;
    req.destination = request->destination;
    req.leftover = std::move(buf);
    co_return req;
  }
  if (request->command != Socks5Command::connect) {
    {
      Bytes msg = write_reply(Socks5Reply::command_not_supported);
      co_await send(s, msg, timeout);
    }
    co_return fail(NetErrc::unsupported_command, udp_associate
                                                     ? "only CONNECT and UDP ASSOCIATE are served"
                                                     : "only CONNECT is served");
  }
  if (request->destination.port == 0) {
    {
      Bytes msg = write_reply(Socks5Reply::not_allowed);
      co_await send(s, msg, timeout);
    }
    co_return fail(NetErrc::bad_address, "destination port 0");
  }
  req.destination = request->destination;
  req.leftover = std::move(buf);
  co_return req;
}

awaitable<Result<FrontRequest>> read_http(tcp::socket& s, Bytes& buf, Millis timeout,
                                          const FrontAuthenticate& authenticate) {
  FrontRequest req;
  auto head = co_await read_message<HttpRequestHead>(s, buf, timeout, [](ByteView in) {
    return parse_request_head(
        std::string_view(reinterpret_cast<const char*>(in.data()), in.size()));
  });
  if (!head) {
    if (head.error().code() != NetErrc::channel_closed &&
        head.error().code() != NetErrc::timed_out) {
      std::string resp = write_error_response(status_for(head.error()), head.error().message());
      co_await send(s, as_bytes(resp), timeout);
    }
    co_return std::unexpected(head.error());
  }
  auto creds = proxy_credentials(*head);
  // Without credentials only where the front lets a client in without (authenticate("", "")).
  const bool anonymous = creds && !*creds && authenticate("", "");
  if (!anonymous && (!creds || !*creds)) {
    std::string resp = write_proxy_auth_required("ipsx", false);
    co_await send(s, as_bytes(resp), timeout);
    co_return fail(NetErrc::unauthorized,
                   creds ? "no Proxy-Authorization" : creds.error().message());
  }
  if (!anonymous) {
    req.username = (*creds)->username;
    req.password = (*creds)->password;
    if (auto ok = authenticate(req.username, req.password); !ok) {
      // A wrong password asks for credentials again; a username the grammar refuses says why.
      std::string resp = ok.error().code() == NetErrc::unauthorized
                             ? write_proxy_auth_required("ipsx", false)
                             : write_error_response(ProxyStatus::bad_request, ok.error().message());
      co_await send(s, as_bytes(resp), timeout);
      co_return std::unexpected(ok.error());
    }
  }
  req.destination = head->target;
  if (head->method == "CONNECT") {
    req.protocol = protocol::https_connect;
  } else {
    req.protocol = protocol::http;
    req.http = std::move(*head);
  }
  req.leftover = std::move(buf);
  co_return req;
}

// An HTTP request starts with a method (a token), or with empty lines (RFC 9112 §2.2).
bool starts_http(uint8_t c) {
  return std::isalnum(c) ||
         (c != 0 && std::string_view("!#$%&'*+-.^_`|~\r\n").find(static_cast<char>(c)) !=
                        std::string_view::npos);
}

awaitable<Result<FrontRequest>> refuse_unknown(tcp::socket& s, uint8_t first, bool http_only,
                                               Millis timeout) {
  if (first == 0x04) {  // SOCKS4 or 4a: VN 0, CD 91 "request rejected or failed"
    Bytes reply = {0x00, 0x5B, 0, 0, 0, 0, 0, 0};
    co_await send(s, reply, timeout);
    co_return fail(NetErrc::bad_version,
                   "a SOCKS4 request: this proxy speaks SOCKS5 (socks5h://) and HTTP");
  }
  if (first == kSocks5Version && http_only) {  // no acceptable method: this port is HTTP only
    Bytes reply = {kSocks5Version, 0xFF};
    co_await send(s, reply, timeout);
    co_return fail(NetErrc::bad_version, "a SOCKS5 greeting on a port that serves HTTP only");
  }
  std::string why = fmt::format(
      "the first byte 0x{:02x} starts neither {}an HTTP request (a TLS handshake to a proxy "
      "port?)",
      first, http_only ? "" : "a SOCKS5 greeting nor ");
  if (first == 0x16)
    why = "a TLS handshake: this proxy port speaks plain HTTP" +
          std::string(http_only ? "" : " and SOCKS5");
  std::string resp = write_error_response(ProxyStatus::bad_request, why);
  co_await send(s, as_bytes(resp), timeout);
  co_return fail(NetErrc::malformed, why);
}

}  // namespace

awaitable<Result<FrontRequest>> read_front_request(tcp::socket& s, Millis timeout,
                                                   const FrontAuthenticate& authenticate,
                                                   Bytes already, bool http_only,
                                                   bool udp_associate) {
  Deadline deadline(s, timeout);
  Bytes buf = std::move(already);
  if (buf.empty()) {
    std::array<uint8_t, 4096> chunk;
    boost::system::error_code ec;
    size_t n = co_await s.async_read_some(asio::buffer(chunk), use_ec(ec));
    if (ec)
      co_return fail(deadline.expired() ? NetErrc::timed_out : NetErrc::channel_closed,
                     "the client sent no request");
    buf.assign(chunk.begin(), chunk.begin() + static_cast<long>(n));
  }
  Result<FrontRequest> r = fail(NetErrc::malformed, "unread");
  const uint8_t first = buf[0];
  if (first == kSocks5Version && !http_only) {
    r = co_await read_socks(s, buf, timeout, authenticate, udp_associate);
  } else if (starts_http(first)) {
    r = co_await read_http(s, buf, timeout, authenticate);
  } else {
    // Neither protocol: refused at once, in the client's own protocol where it is known,
    // instead of holding the connection until the deadline.
    co_return co_await refuse_unknown(s, first, http_only, timeout);
  }
  if (!r && deadline.expired())
    co_return fail(NetErrc::timed_out,
                   fmt::format("the client's request took over {} ms", timeout.count()));
  co_return r;
}

awaitable<Result<void>> answer_success(tcp::socket& s, const FrontRequest& r, const Endpoint& bound,
                                       Millis timeout) {
  if (r.socks) {
    auto reply = write_reply(Socks5Reply::succeeded, bound);
    if (!reply) co_return std::unexpected(reply.error());
    co_return co_await write_all_for(s, asio::buffer(*reply), timeout);
  }
  if (!r.http) {
    std::string ok = write_connect_established();
    co_return co_await write_all_for(s, asio::buffer(ok), timeout);
  }
  co_return Result<void>{};
}

awaitable<void> answer_failure(tcp::socket& s, const FrontRequest& r, const Error& why,
                               Millis timeout) {
  if (r.socks) {
    {
      Bytes msg = write_reply(socks_reply_for(why));
      co_await send(s, msg, timeout);
    }
  } else {
    std::string resp =
        write_error_response(http_status_for(why), why.message(), false, proxy_error_type(why));
    co_await send(s, as_bytes(resp), timeout);
  }
}

}  // namespace ipsx::net
