// The agents' local HTTP endpoints: Prometheus metrics (`ipsx gateway|provide --metrics
// HOST:PORT`: GET /metrics, the agent's own series and the process's) and the gateway's control
// endpoint (`--control HOST:PORT`: its leases with their credentials), each on a port and a
// server thread of its own.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

#include "api/http_server.h"
#include "api/router.h"
#include "core/amount.h"
#include "core/hash.h"
#include "net/asio.h"
#include "net/exit.h"

namespace ipsx::net {
class Gateway;
}  // namespace ipsx::net
namespace ipsx::sdk {
class NodeLeases;
}  // namespace ipsx::sdk

namespace ipsx::cli {

class AgentEndpoint {
 public:
  // Listens on `at` (port 0: any) and serves the routes `routes` adds, on a thread of its own;
  // the handlers must be thread-safe against the agent. Throws CommandError when it cannot
  // listen.
  // `options`, if given, sets more of the server's options (a WebSocket stream, its tick).
  AgentEndpoint(const net::tcp::endpoint& at, const std::function<void(api::Router&)>& routes,
                const std::function<void(api::ServerOptions&)>& options = {});
  ~AgentEndpoint();
  AgentEndpoint(const AgentEndpoint&) = delete;
  AgentEndpoint& operator=(const AgentEndpoint&) = delete;
  const std::string& bound() const { return bound_; }

 private:
  api::Router router_;
  std::unique_ptr<api::HttpServer> server_;
  std::thread thread_;
  std::string bound_;
};

// GET /metrics: `render`'s series (called for each scrape) and the process's.
void add_metrics_route(api::Router& router, std::string role, std::function<std::string()> render);

// The gateway's series: what it leased and committed, its clients, and what its deals carried
// (`seen`: the deals that connected, read under `mu`).
std::string gateway_metrics(const net::Gateway& gateway, const sdk::NodeLeases& leases,
                            std::mutex& mu, const std::set<Hash>& seen);
// What the provider's metrics count: the deals its agent knows (set by the agent's loop under
// `mu`), and each one's largest figures so far (the exit forgets a deal a while after its end).
struct ProviderMeter {
  std::mutex mu;
  std::set<Hash> deals;
  std::map<Hash, net::ExitDealStats> last;
  // Deal `d`'s largest figures with `now` taken in (under mu).
  const net::ExitDealStats& merge(const Hash& d, const net::ExitDealStats& now);
};
// The provider's series: the deals its exit served, what they carried, and what their requesters
// owe and paid.
std::string provider_metrics(const net::Exit& exit, ProviderMeter& meter);

// The gateway's leases for its control endpoint (GET /v1/leases): {"leases": [{deal, ip, port,
// username, password, connected, path, bytesUp, bytesDown, paid, failed}]}, each deal that
// connected (`seen`, read under `mu`); port 0 when the exit runs no proxy front.
// "IP:PORT" of a listening address (a host name is refused). Throws CommandError naming
// `option`. parse_listen_any_port also takes port 0 (any free port).
net::tcp::endpoint parse_listen(const std::string& text, const char* option);
net::tcp::endpoint parse_listen_any_port(const std::string& text, const char* option);

std::string gateway_leases_json(const net::Gateway& gateway, std::mutex& mu,
                                const std::set<Hash>& seen);
// One of them: {deal, ip, port, username, password, connected, path, bytesUp, bytesDown, paid
// (IPSX, decimal), failed, and vpn for a VPN lease}.
nlohmann::json gateway_lease_json(const net::Gateway& gateway, const Hash& deal);

// `ipsx gateway export --control URL [--format lines|csv|json] [--all]`: a running gateway's
// per-deal proxy credentials, as `ip:port:user:pass` lines (what proxy tools import), CSV with a
// header, or JSON; the connected deals with a proxy front unless --all. Returns the subcommand.
CLI::App* add_gateway_export(CLI::App* gateway);

// --metrics: the agent's Prometheus endpoint at `at`; prints where it serves.
std::unique_ptr<AgentEndpoint> serve_metrics(const net::tcp::endpoint& at, const char* role,
                                             std::function<std::string()> render);
// --pac: a proxy auto-config file for browsers (GET /proxy.pac) at `at`, naming the gateway's
// proxy (`proxy`:`port`; an unspecified address as 127.0.0.1) for HTTP and SOCKS5.
std::unique_ptr<AgentEndpoint> serve_pac(const net::tcp::endpoint& at,
                                         const net::asio::ip::address& proxy, uint16_t port);

// A Prometheus sample value of an amount of IPSX (base units / 10^18; a float, as Prometheus
// keeps every sample).
double ipsx_value(const Amount& a);

}  // namespace ipsx::cli
