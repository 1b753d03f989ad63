#include "agent_metrics.h"

#include <fmt/format.h>

#include <mutex>
#include <set>

#include "api/metrics.h"
#include "cli_util.h"
#include "net/exit.h"
#include "net/gateway.h"
#include "sdk/dataplane.h"

namespace ipsx::cli {

MetricsEndpoint::MetricsEndpoint(const net::tcp::endpoint& at, std::string role,
                                 std::function<std::string()> render) {
  router_.add("GET", "/metrics", [role, render = std::move(render)](const api::HttpRequest&) {
    api::HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = render() + api::Metrics::process(IPSX_VERSION, role);
    return r;
  });
  api::ServerOptions o;
  o.stop_on_signals = false;  // the agent's own loop handles SIGINT and SIGTERM
  o.max_connections = 16;
  server_ = std::make_unique<api::HttpServer>(router_, o);
  bound_ = unwrap(server_->listen(at.address().to_string(), at.port()), "--metrics");
  thread_ = std::thread([this] { server_->run(); });
}

MetricsEndpoint::~MetricsEndpoint() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

// The gateway's Prometheus series: what it leased and committed, its clients, and what its
// deals carried.
std::string gateway_metrics(const net::Gateway& gateway, const sdk::NodeLeases& leases,
                            std::mutex& mu, const std::set<Hash>& seen) {
  using api::Metrics;
  auto one = [](double v) { return std::vector<std::pair<std::string, double>>{{"", v}}; };
  auto t = leases.totals();
  uint64_t up = 0, down = 0, conns = 0, live = 0;
  {
    std::lock_guard lock(mu);
    for (const Hash& d : seen) {
      net::GatewayLeaseStats st = gateway.stats(d);
      up += st.bytes_up;
      down += st.bytes_down;
      conns += st.connections;
      live += st.connected ? 1 : 0;
    }
  }
  return Metrics::family("ipsx_gateway_leases_ordered_total", "counter",
                         "Leases the gateway ordered at the market.", one(double(t.leases))) +
         Metrics::family("ipsx_gateway_nothing_fits_total", "counter",
                         "Lease orders for which the market found nothing fitting.",
                         one(double(t.nothing_fits))) +
         Metrics::family("ipsx_gateway_committed_ipsx", "gauge",
                         "IPSX committed to the leases ordered (their deposits).",
                         one(ipsx_value(Amount::from_base(t.committed)))) +
         Metrics::family("ipsx_gateway_clients", "gauge", "Proxy clients connected now.",
                         one(double(gateway.open_clients()))) +
         Metrics::family("ipsx_gateway_deals_connected", "gauge",
                         "Deals whose exit the gateway is paired with now.", one(double(live))) +
         Metrics::family("ipsx_gateway_connections_total", "counter",
                         "Client connections carried through the leased IPs.", one(double(conns))) +
         Metrics::family("ipsx_gateway_bytes_total", "counter",
                         "Bytes carried through the leased IPs, by direction.",
                         {{"direction=\"up\"", double(up)}, {"direction=\"down\"", double(down)}});
}

// The provider's Prometheus series: the deals its exit served, what they carried, and what
// their requesters owe and paid (the best balance proofs: what the provider can claim).
std::string provider_metrics(const net::Exit& exit, std::mutex& mu, const std::set<Hash>& deals) {
  using api::Metrics;
  auto one = [](double v) { return std::vector<std::pair<std::string, double>>{{"", v}}; };
  uint64_t up = 0, down = 0, conns = 0, refused = 0, cut = 0;
  U256 owed, paid;
  size_t n = 0;
  {
    std::lock_guard lock(mu);
    n = deals.size();
    for (const Hash& d : deals) {
      net::ExitDealStats st = exit.stats(d);
      up += st.bytes_up;
      down += st.bytes_down;
      conns += st.connections;
      refused += st.refused;
      cut += st.cut_reason ? 1 : 0;
      owed = owed.checked_add(st.owed.base()).value_or(owed);
      paid = paid.checked_add(st.paid.base()).value_or(paid);
    }
  }
  return Metrics::family("ipsx_provider_deals_total", "counter",
                         "Deals of this provider its exit knows.", one(double(n))) +
         Metrics::family("ipsx_provider_deals_cut_total", "counter",
                         "Deals the exit cut (unpaid past the credit limit, or over).",
                         one(double(cut))) +
         Metrics::family("ipsx_provider_connections_total", "counter",
                         "Connections the exit served for the deals.", one(double(conns))) +
         Metrics::family("ipsx_provider_refused_total", "counter",
                         "Connections the exit refused (policy, terms).", one(double(refused))) +
         Metrics::family("ipsx_provider_bytes_total", "counter",
                         "Bytes the exit carried for the deals, by direction.",
                         {{"direction=\"up\"", double(up)}, {"direction=\"down\"", double(down)}}) +
         Metrics::family("ipsx_provider_owed_ipsx", "gauge",
                         "IPSX the deals' requesters owed at the last invoices.",
                         one(ipsx_value(Amount::from_base(owed)))) +
         Metrics::family("ipsx_provider_paid_ipsx", "gauge",
                         "IPSX the requesters' best balance proofs pay (what the provider claims).",
                         one(ipsx_value(Amount::from_base(paid))));
}

double ipsx_value(const Amount& a) {
  return std::stod(a.to_string());
}

}  // namespace ipsx::cli
