// VPN tunnels over a lease's pair channel (gateway_impl.h, docs/vpn.md): the requester's signed
// WireGuard key to the exit, the exit's tunnel back; the channel kept up while the deal lasts so
// that the gateway keeps paying for it.
#include "crypto/eip191.h"
#include "net/gateway_impl.h"
#include "net/pair_auth.h"
#include "net/wireguard.h"

namespace ipsx::net {

awaitable<void> Gateway::Impl::open_vpn(ProxyFilters f, WgKey key,
                                        std::function<void(Result<VpnLease>)> done) {
  auto self = shared_from_this();
  auto l = co_await acquire(f);
  if (!l) {
    done(std::unexpected(l.error()));
    co_return;
  }
  const auto opened_at = Steady::now();
  std::shared_ptr<Link> link = *l;
  link->vpn_key = key;
  link->vpn_asking = true;  // keep_vpn leaves the deal alone meanwhile
  auto config = co_await ask_vpn(link);
  link->vpn_asking = false;
  if (!config) {
    done(std::unexpected(config.error()));
    co_return;
  }
  link->vpn_config = *config;
  with_stats(link->lease.deal_id, [&](GatewayLeaseStats& st) {
    st.ip = link->lease.ip;
    st.vpn_address = format_ip(config->address);
    st.vpn_endpoint = to_string(config->endpoint);
  });
  done(VpnLease{link->lease, *config, opened_at});
}

awaitable<Result<VpnConfigMessage>> Gateway::Impl::ask_vpn(std::shared_ptr<Link> l) {
  const auto deadline = Steady::now() + cfg.connect_timeout;
  if (!l->vpn_key) co_return fail(NetErrc::invalid_argument, "no VPN key for the deal");
  const std::string key_text = wg_key_base64(*l->vpn_key);
  auto sig = crypto::sign_personal_message(requester,
                                           as_bytes(vpn_key_message(l->lease.deal_id, key_text)));
  if (!sig) co_return std::unexpected(sig.error());
  for (;;) {
    auto ch = co_await channel_of(l);
    if (!ch) co_return std::unexpected(ch.error());
    l->vpn_answer.reset();
    (*ch)->send_control(FrameType::vpn_open,
                        to_payload(VpnOpenMessage{l->lease.deal_id, *l->vpn_key, *sig}));
    l->vpn_ready.expires_at(deadline);
    boost::system::error_code ec;
    co_await l->vpn_ready.async_wait(use_ec(ec));
    if (!l->vpn_answer) {
      if (l->state == Link::State::dead)
        co_return std::unexpected(l->dead_reason.value_or(Error(NetErrc::deal_ended, "ended")));
      if (Steady::now() + Millis(200) < deadline) {  // the channel went: ask on the next one
        asio::steady_timer pause(io, Millis(200));
        co_await pause.async_wait(use_ec(ec));
        continue;
      }
      co_return fail(NetErrc::timed_out, "the exit did not answer the VPN request");
    }
    Result<VpnConfigMessage> answer = std::move(*l->vpn_answer);
    l->vpn_answer.reset();
    if (answer && answer->deal_id != l->lease.deal_id)
      co_return fail(NetErrc::malformed, "the exit's tunnel is for another deal");
    co_return answer;
  }
}

void Gateway::Impl::on_vpn_answer(Link& l, const Frame& f) {
  if (f.type == FrameType::vpn_config) {
    auto m = parse_vpn_config(f.payload);
    l.vpn_answer = m ? Result<VpnConfigMessage>(*m) : std::unexpected(m.error());
  } else {
    l.vpn_answer = std::unexpected(
        parse_error_payload(f.payload).with_context("the exit refused the VPN tunnel"));
  }
  l.vpn_ready.cancel();
}

void Gateway::Impl::keep_vpn(const std::shared_ptr<Link>& l) {
  if (!l->vpn_key || l->vpn_asking || stopping || !usable(*l)) return;
  if (l->state == Link::State::up && l->channel && l->channel->is_open()) return;
  if (l->state == Link::State::connecting) return;
  l->vpn_asking = true;
  asio::co_spawn(
      io,
      [self = shared_from_this(), l]() -> awaitable<void> {
        auto again = co_await self->ask_vpn(l);
        l->vpn_asking = false;
        if (l->state == Link::State::dead) co_return;
        // Not answered (the exit unreachable): tried again at the next watch, until the
        // gateway's reconnect grace or the exit's credit runs out. Refused, or another tunnel
        // than the one the requester uses (an exit that lost its key): the lease is over.
        if (!again && again.error().code() != make_error_code(NetErrc::timed_out) &&
            again.error().code() != make_error_code(NetErrc::exit_failed) &&
            again.error().code() != make_error_code(NetErrc::channel_closed)) {
          self->drop(*l, again.error(), LeaseEvent::failed);
        } else if (again && l->vpn_config &&
                   (again->server_key != l->vpn_config->server_key ||
                    again->address != l->vpn_config->address ||
                    again->endpoint != l->vpn_config->endpoint)) {
          self->drop(*l,
                     Error(NetErrc::exit_failed,
                           "the exit answered with another tunnel (a new key, address or endpoint: "
                           "restarted without its key?); the tunnel in use is dead"),
                     LeaseEvent::failed);
        } else if (again) {
          self->with_stats(l->lease.deal_id, [](GatewayLeaseStats& s) { ++s.vpn_renewals; });
        }
      },
      asio::detached);
}

}  // namespace ipsx::net
