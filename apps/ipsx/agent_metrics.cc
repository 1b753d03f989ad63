#include "agent_metrics.h"
#include "log.h"

#include <fmt/format.h>

#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "api/metrics.h"
#include "cli_util.h"
#include "http/http_client.h"
#include "net/exit.h"
#include "net/gateway.h"
#include "sdk/dataplane.h"
#include "vocab/ip.h"

namespace ipsx::cli {

AgentEndpoint::AgentEndpoint(const net::tcp::endpoint& at,
                             const std::function<void(api::Router&)>& routes,
                             const std::function<void(api::ServerOptions&)>& options) {
  routes(router_);
  api::ServerOptions o;
  o.stop_on_signals = false;  // the agent's own loop handles SIGINT and SIGTERM
  o.max_connections = 16;
  if (options) options(o);
  server_ = std::make_unique<api::HttpServer>(router_, o);
  bound_ = unwrap(server_->listen(at.address().to_string(), at.port()),
                  at.address().to_string() + ":" + std::to_string(at.port()));
  thread_ = std::thread([this] { server_->run(); });
}

AgentEndpoint::~AgentEndpoint() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

void add_metrics_route(api::Router& router, std::string role, std::function<std::string()> render) {
  router.add("GET", "/metrics", [role, render = std::move(render)](const api::HttpRequest&) {
    api::HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = render() + api::Metrics::process(IPSX_VERSION, role);
    return r;
  });
}

// The gateway's Prometheus series: what it leased and committed, its clients, and what its
// deals carried.
std::string gateway_metrics(const net::Gateway& gateway, const sdk::NodeLeases& leases,
                            std::mutex& mu, const std::set<Hash>& seen) {
  using api::Metrics;
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
                         "Leases the gateway ordered at the market.",
                         Metrics::single(double(t.leases))) +
         Metrics::family("ipsx_gateway_nothing_fits_total", "counter",
                         "Lease orders for which the market found nothing fitting.",
                         Metrics::single(double(t.nothing_fits))) +
         Metrics::family("ipsx_gateway_committed_ipsx", "gauge",
                         "IPSX committed to the leases ordered (their deposits).",
                         Metrics::single(ipsx_value(Amount::from_base(t.committed)))) +
         Metrics::family("ipsx_gateway_clients", "gauge", "Proxy clients connected now.",
                         Metrics::single(double(gateway.open_clients()))) +
         Metrics::family("ipsx_gateway_deals_connected", "gauge",
                         "Deals whose exit the gateway is paired with now.",
                         Metrics::single(double(live))) +
         Metrics::family("ipsx_gateway_connections_total", "counter",
                         "Client connections carried through the leased IPs.",
                         Metrics::single(double(conns))) +
         Metrics::family("ipsx_gateway_bytes_total", "counter",
                         "Bytes carried through the leased IPs, by direction.",
                         {{"direction=\"up\"", double(up)}, {"direction=\"down\"", double(down)}});
}

// The provider's Prometheus series: the deals its exit served, what they carried, and what
// their requesters owe and paid (the best balance proofs: what the provider can claim). The exit
// forgets a deal some time after it ended; the meter keeps each deal's largest figures, so that
// the counters never go back.
const net::ExitDealStats& ProviderMeter::merge(const Hash& d, const net::ExitDealStats& now) {
  net::ExitDealStats& st = last[d];
  st.bytes_up = std::max(st.bytes_up, now.bytes_up);
  st.bytes_down = std::max(st.bytes_down, now.bytes_down);
  st.connections = std::max(st.connections, now.connections);
  st.refused = std::max(st.refused, now.refused);
  st.owed = std::max(st.owed, now.owed);
  st.paid = std::max(st.paid, now.paid);
  st.usage_records = std::max(st.usage_records, now.usage_records);
  st.usage_receipted = std::max(st.usage_receipted, now.usage_receipted);
  if (now.cut_reason) st.cut_reason = now.cut_reason;
  return st;
}

std::string provider_metrics(const net::Exit& exit, ProviderMeter& m) {
  using api::Metrics;
  uint64_t up = 0, down = 0, conns = 0, refused = 0, cut = 0;
  U256 owed, paid;
  size_t n = 0;
  {
    std::lock_guard lock(m.mu);
    n = m.deals.size();
    for (const Hash& d : m.deals) {
      const net::ExitDealStats& st = m.merge(d, exit.stats(d));
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
                         "Deals of this provider its exit knows.", Metrics::single(double(n))) +
         Metrics::family("ipsx_provider_deals_cut_total", "counter",
                         "Deals the exit cut (unpaid past the credit limit, or over).",
                         Metrics::single(double(cut))) +
         Metrics::family("ipsx_provider_connections_total", "counter",
                         "Connections the exit served for the deals.",
                         Metrics::single(double(conns))) +
         Metrics::family("ipsx_provider_refused_total", "counter",
                         "Connections the exit refused (policy, terms).",
                         Metrics::single(double(refused))) +
         Metrics::family("ipsx_provider_bytes_total", "counter",
                         "Bytes the exit carried for the deals, by direction.",
                         {{"direction=\"up\"", double(up)}, {"direction=\"down\"", double(down)}}) +
         Metrics::family("ipsx_provider_owed_ipsx", "counter",
                         "IPSX the deals' requesters owed at their last invoices.",
                         Metrics::single(ipsx_value(Amount::from_base(owed)))) +
         Metrics::family("ipsx_provider_paid_ipsx", "counter",
                         "IPSX the requesters' best balance proofs pay (what the provider claims).",
                         Metrics::single(ipsx_value(Amount::from_base(paid))));
}

net::tcp::endpoint parse_listen(const std::string& text, const char* option) {
  auto e = net::parse_authority(text, std::nullopt);
  if (!e || std::holds_alternative<std::string>(e->host))
    throw CommandError(
        fmt::format("{}: want IP:PORT (port 0: any free port), not '{}'", option, text));
  // parse_authority refuses port 0; a free port is asked for with :0.
  net::asio::ip::address a =
      std::holds_alternative<net::Ipv4>(e->host)
          ? net::asio::ip::address(net::asio::ip::address_v4(std::get<net::Ipv4>(e->host)))
          : net::asio::ip::address(net::asio::ip::address_v6(std::get<Ip>(e->host)));
  return {a, e->port};
}

net::tcp::endpoint parse_listen_any_port(const std::string& text, const char* option) {
  if (text.ends_with(":0")) {
    auto e = parse_listen(text.substr(0, text.size() - 2) + ":1", option);
    e.port(0);
    return e;
  }
  return parse_listen(text, option);
}

nlohmann::json gateway_lease_json(const net::Gateway& gateway, const Hash& d) {
  net::GatewayLeaseStats st = gateway.stats(d);
  nlohmann::json j = {{"deal", d.hex()},
                      {"ip", format_ip(st.ip)},
                      {"port", st.proxy_port},
                      {"username", st.proxy_username},
                      {"password", st.proxy_password},
                      {"connected", st.connected},
                      {"path", st.path},
                      {"bytesUp", st.bytes_up},
                      {"bytesDown", st.bytes_down},
                      {"paid", st.paid.to_string()},
                      {"failed", st.failed ? nlohmann::json(*st.failed) : nlohmann::json()}};
  if (st.vpn_address)  // a VPN lease: its tunnel instead of a proxy front
    j["vpn"] = {{"address", *st.vpn_address}, {"endpoint", st.vpn_endpoint.value_or("")}};
  return j;
}

std::string gateway_leases_json(const net::Gateway& gateway, std::mutex& mu,
                                const std::set<Hash>& seen) {
  nlohmann::json leases = nlohmann::json::array();
  std::lock_guard lock(mu);
  for (const Hash& d : seen) leases.push_back(gateway_lease_json(gateway, d));
  return nlohmann::json{{"leases", leases}}.dump();
}

CLI::App* add_gateway_export(CLI::App* gateway) {
  struct Options {
    std::string control, format = "lines";
    bool all = false;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = gateway->add_subcommand(
      "export", "Print a running gateway's per-deal proxy credentials (ip:port:user:pass)");
  cmd->add_option("--control", o->control,
                  "The gateway's control endpoint, http://HOST:PORT (its --control)")
      ->required();
  cmd->add_option("--format", o->format, "lines (ip:port:user:pass, default), csv or json")
      ->check(CLI::IsMember({"lines", "csv", "json"}));
  cmd->add_flag("--all", o->all, "Also the deals not connected now, or without a proxy front");
  cmd->callback([o] {
    auto client = unwrap(http::HttpClient::create(o->control), "--control");
    auto reply = unwrap(client->request("GET", "/v1/leases"), "--control " + o->control);
    auto j = nlohmann::json::parse(reply.body, nullptr, false);
    if (reply.status != 200 || !j.is_object() || !j["leases"].is_array()) {
      throw CommandError(fmt::format("--control {}: not a gateway's control endpoint (HTTP {})",
                                     o->control, reply.status));
    }
    nlohmann::json out = nlohmann::json::array();
    for (const auto& l : j["leases"]) {
      if (o->all || (l.value("connected", false) && l.value("port", 0) != 0)) out.push_back(l);
    }
    if (o->format == "json") {
      std::cout << nlohmann::json{{"leases", out}}.dump(2) << "\n";
      return;
    }
    if (o->format == "csv") std::cout << "ip,port,username,password,deal\n";
    for (const auto& l : out) {
      const std::string sep = o->format == "csv" ? "," : ":";
      std::cout << l.value("ip", "") << sep << l.value("port", 0) << sep << l.value("username", "")
                << sep << l.value("password", "")
                << (o->format == "csv" ? "," + l.value("deal", "") : "") << "\n";
    }
  });
  return cmd;
}

// --metrics HOST:PORT: the agent's Prometheus endpoint (none when empty).
std::unique_ptr<AgentEndpoint> serve_metrics(const net::tcp::endpoint& at, const char* role,
                                             std::function<std::string()> render) {
  auto m = std::make_unique<AgentEndpoint>(
      at, [&](api::Router& r) { add_metrics_route(r, role, std::move(render)); });
  logs::info(fmt::format("metrics on http://{}/metrics", m->bound()));
  return m;
}

// --pac HOST:PORT: a proxy auto-config file for browsers (GET /proxy.pac), naming the gateway's
// proxy port for HTTP and SOCKS5 (none when empty).
std::unique_ptr<AgentEndpoint> serve_pac(const net::tcp::endpoint& at,
                                         const net::asio::ip::address& proxy, uint16_t port) {
  std::string host = proxy.is_unspecified() ? "127.0.0.1" : proxy.to_string();
  if (proxy.is_v6() && !proxy.is_unspecified()) host = "[" + host + "]";
  std::string pac = fmt::format(
      "// The IPSX gateway: every request through its leased IPs.\n"
      "function FindProxyForURL(url, host) {{\n  return \"PROXY {0}:{1}; SOCKS5 {0}:{1}\";\n}}\n",
      host, port);
  auto e = std::make_unique<AgentEndpoint>(at, [&](api::Router& r) {
    r.add("GET", "/proxy.pac", [pac](const api::HttpRequest&) {
      api::HttpResponse res;
      res.content_type = "application/x-ns-proxy-autoconfig";
      res.body = pac;
      return res;
    });
  });
  logs::info(fmt::format("proxy auto-config at http://{}/proxy.pac", e->bound()));
  return e;
}

double ipsx_value(const Amount& a) {
  return std::stod(a.to_string());
}

}  // namespace ipsx::cli
