#include "net/gateway_impl.h"

namespace ipsx::net {

bool lease_fits(const Lease& lease, const ProxyFilters& f) {
  if (f.country && *f.country != lease.country) return false;
  if (f.region && !iequals(*f.region, lease.region)) return false;
  if (f.city && !iequals(*f.city, lease.region)) return false;
  if (f.asn && *f.asn != lease.asn) return false;
  if (f.type && *f.type != lease.type) return false;
  if (f.exclusive && !lease.exclusive) return false;
  return true;
}

Gateway::Gateway(asio::io_context& io, GatewayConfig config, crypto::PrivateKey requester_key,
                 GatewayMarket* market, const Clock& clock)
    : impl_(
          std::make_shared<Impl>(io, std::move(config), std::move(requester_key), market, clock)) {}

Gateway::~Gateway() {
  impl_->close_answers();
}

Result<void> Gateway::start() {
  auto& m = *impl_;
  auto port = listen_on(m.acceptor, m.cfg.listen);
  if (!port) return std::unexpected(port.error());
  m.port = *port;
  m.on_event = [this](const Hash& d, LeaseEvent e, const std::string& r) {
    if (on_lease_event) on_lease_event(d, e, r);
  };
  m.splices->start();
  asio::co_spawn(m.io, m.accept_clients(), asio::detached);
  asio::co_spawn(m.io, m.watch_channels(), asio::detached);
  return {};
}

void Gateway::stop() {
  impl_->close_answers();
  asio::post(impl_->io, [impl = impl_] { impl->stop_now(); });
}

uint16_t Gateway::port() const {
  return impl_->port;
}

void Gateway::end_lease(const Hash& deal_id, std::string why) {
  asio::post(impl_->io, [impl = impl_, deal_id, why = std::move(why)] {
    if (auto l = impl->find(deal_id))
      impl->drop(*l, Error(NetErrc::deal_ended, why), LeaseEvent::cut);
  });
}

void Gateway::add_lease(Lease lease) {
  asio::post(impl_->io,
             [impl = impl_, lease = std::move(lease)]() mutable { impl->add(std::move(lease)); });
}

void Gateway::open_vpn(ProxyFilters filters, WgKey public_key,
                       std::function<void(Result<VpnLease>)> done) {
  asio::post(impl_->io, [impl = impl_, filters = std::move(filters), public_key,
                         done = std::move(done)]() mutable {
    asio::co_spawn(impl->io, impl->open_vpn(std::move(filters), public_key, std::move(done)),
                   asio::detached);
  });
}

void Gateway::prepare(ProxyFilters filters, std::function<void(Result<Hash>)> done) {
  asio::post(impl_->io, [impl = impl_, filters = std::move(filters),
                         done = std::move(done)]() mutable {
    asio::co_spawn(
        impl->io,
        [impl, filters = std::move(filters), done = std::move(done)]() -> asio::awaitable<void> {
          auto l = co_await impl->choose(filters);
          if (!l) {
            done(std::unexpected(l.error()));
            co_return;
          }
          auto ch = co_await impl->channel_of(*l);
          if (!ch) {
            done(std::unexpected(ch.error()));
            co_return;
          }
          done((*l)->lease.deal_id);
        },
        asio::detached);
  });
}

GatewayLeaseStats Gateway::stats(const Hash& deal_id) const {
  std::lock_guard lock(impl_->stats_mu);
  auto it = impl_->stats.find(deal_id);
  return it == impl_->stats.end() ? GatewayLeaseStats{} : it->second;
}

size_t Gateway::open_clients() const {
  return impl_->clients;
}

}  // namespace ipsx::net
