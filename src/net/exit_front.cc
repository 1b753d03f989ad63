// The exit's proxy front (exit_impl.h): the per-deal credentials port (SOCKS5 and HTTP with the
// deal's username and password), its CONNECT tunnels and UDP associations.
#include <openssl/crypto.h>

#include "net/exit_impl.h"

namespace ipsx::net {
namespace {

bool equal_secret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

awaitable<void> Exit::Impl::accept_front() {
  auto self = shared_from_this();
  while (!stopping) {
    boost::system::error_code ec;
    tcp::socket sock = co_await proxy_acceptor.async_accept(use_ec(ec));
    if (ec) {
      if (stopping || ec == asio::error::operation_aborted) break;
      co_await pause_after_accept_error(ec);
      continue;
    }
    if (connections >= cfg.max_connections) continue;
    asio::co_spawn(io, handle_front(std::move(sock)), asio::detached);
  }
}

awaitable<void> Exit::Impl::handle_front(tcp::socket client) {
  auto self = shared_from_this();
  ++connections;
  boost::system::error_code ec;
  client.set_option(tcp::no_delay(true), ec);
  make_non_blocking(client);
  std::shared_ptr<Session> session;
  FrontAuthenticate authenticate = [&](const std::string& user,
                                       const std::string& pass) -> Result<void> {
    auto it = by_username.find(user);
    if (it == by_username.end() || !equal_secret(pass, it->second->password))
      return fail(NetErrc::unauthorized, "unknown deal credentials");
    session = it->second;
    return {};
  };
  auto first = co_await read_front_request(client, cfg.handshake_timeout, authenticate, {}, false,
                                           /*udp_associate=*/true);
  std::optional<FrontRequest> req;
  if (first) req = std::move(*first);
  auto control = std::make_shared<SpliceControl>();
  while (req) {
    if (req->udp) {
      co_await associate(client, *req, session, control);
      break;
    }
    if (!req->http) {
      co_await tunnel(client, *req, session, control);
      break;
    }
    // Plain HTTP: request after request on this connection; a CONNECT among them comes back.
    HttpForwarder forwarder;
    forwarder.request_timeout = cfg.handshake_timeout;
    forwarder.authenticate = authenticate;
    forwarder.control = control;
    forwarder.connect = [this, &session,
                         control](const FrontRequest& r) -> awaitable<Result<HttpHop>> {
      auto out = co_await connect_front(*session, r, control);
      if (!out) co_return std::unexpected(out.error());
      auto self = shared_from_this();
      co_return HttpHop{socket_upstream(std::move(*out), [self] { --self->connections; }),
                        meter(session->deal.id, track(session, r.destination, 0))};
    };
    req = co_await forward_http(client, std::move(*req), forwarder, *splices);
    std::erase_if(session->front, [](auto& w) { return w.expired(); });
  }
  boost::system::error_code ignored;
  client.close(ignored);
  --connections;
}

awaitable<Result<tcp::socket>> Exit::Impl::connect_front(
    Session& s, const FrontRequest& req, const std::shared_ptr<SpliceControl>& control) {
  Result<tcp::socket> out = std::unexpected(Error(NetErrc::deal_ended, ""));
  if (auto why = unservable(s))
    out = std::unexpected(*why);
  else
    out = co_await connect_out(s, req.destination, req.protocol);
  if (!out) {
    with_stats(s.deal.id, [](ExitDealStats& x) { ++x.refused; });
    co_return out;
  }
  ++connections;
  with_stats(s.deal.id, [](ExitDealStats& x) { ++x.connections; });
  bool known = false;
  for (auto& w : s.front) known = known || w.lock() == control;
  if (!known) s.front.push_back(control);
  co_return out;
}

awaitable<void> Exit::Impl::associate(tcp::socket& client, const FrontRequest& req,
                                      std::shared_ptr<Session> session,
                                      std::shared_ptr<SpliceControl> control) {
  Session& s = *session;
  std::optional<Error> why = unservable(s);
  Result<std::unique_ptr<UdpUpstream>> up = std::unexpected(Error(NetErrc::exit_failed, ""));
  auto usage = track(session, req.destination, 0, false);  // recorded once accepted
  if (!why) {
    up = udp_upstream(s, req.protocol, meter(s.deal.id, usage));
    if (!up) why = up.error();
  }
  if (why) {
    with_stats(s.deal.id, [](ExitDealStats& x) { ++x.refused; });
    co_await answer_failure(client, req, *why, cfg.handshake_timeout);
    co_return;
  }
  ++connections;
  with_stats(s.deal.id, [](ExitDealStats& x) { ++x.connections; });
  s.front.push_back(control);
  usage->counted = true;
  usage.reset();  // the upstream's meter holds it until the association ends
  co_await serve_udp_associate(client, req, std::move(*up), *splices, control,
                               cfg.handshake_timeout);
  --connections;
  std::erase_if(session->front, [](auto& w) { return w.expired(); });
}

awaitable<void> Exit::Impl::tunnel(tcp::socket& client, const FrontRequest& req,
                                   std::shared_ptr<Session> session,
                                   std::shared_ptr<SpliceControl> control) {
  auto out = co_await connect_front(*session, req, control);
  if (!out) {
    co_await answer_failure(client, req, out.error(), cfg.handshake_timeout);
    co_return;
  }
  boost::system::error_code ec;
  tcp::endpoint local = out->local_endpoint(ec);
  Endpoint bound{from_asio(local.address()), local.port()};
  bool ok = static_cast<bool>(co_await answer_success(client, req, bound, cfg.handshake_timeout));
  if (ok && !req.leftover.empty()) {
    auto written = co_await write_all_for(*out, asio::buffer(req.leftover), cfg.handshake_timeout);
    ok = static_cast<bool>(written);
  }
  if (ok) {
    with_stats(session->deal.id, [&](ExitDealStats& x) { x.bytes_up += req.leftover.size(); });
    std::function<void(uint64_t, uint64_t)> on_bytes =
        meter(session->deal.id, track(session, req.destination, 0));
    co_await splice(std::move(client), std::move(*out), *splices, on_bytes, control);
  }
  --connections;
  std::erase_if(session->front, [](auto& w) { return w.expired(); });
}

}  // namespace ipsx::net
