// The requester's console (`ipsx gateway --ui HOST:PORT`, docs/web.md): its page, and a JSON API
// for it over the running gateway: the gateway's settings and spend over time, its leases with
// their credentials, bytes and payments, a lease ordered now for a username's filters, and the
// node's map of offers.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "agent_metrics.h"
#include "api/event_stream.h"
#include "console.h"
#include "core/address.h"
#include "core/hash.h"
#include "http/http_client.h"
#include "net/gateway.h"
#include "sdk/dataplane.h"

namespace ipsx::cli {

// The console's VPN leases (docs/vpn.md): a second gateway on the agent's io_context whose leases
// ask for the vpn protocol and scope, each a WireGuard tunnel for a key made here, handed to the
// page as a wg-quick file (and a QR code) for another device; the agent pays while it runs. Its
// proxy port serves nobody: the tunnel carries the traffic.
class ConsoleVpn {
 public:
  // Starts the gateway (before the io_context runs).
  ConsoleVpn(net::asio::io_context& io, const std::string& node_url, const sdk::Signer& signer,
             const crypto::PrivateKey& key, sdk::LeasePolicy policy, const Clock& clock);
  // Stops its gateway (before the io_context stops; destroy it after the io thread ended).
  void stop() { gateway_.stop(); }
  // The cost of the VPN leases ordered (for the budget they share with the proxy leases).
  U256 committed() const { return leases_.totals().committed; }
  U256 paid();  // what its balance proofs paid
  // Leases an IP fitting `filters` and opens its tunnel; `done` (on the gateway's thread) gets
  // the lease, its tunnel and its wg-quick file as JSON.
  void open(net::ProxyFilters filters, std::function<void(Result<nlohmann::json>)> done);
  // The deals opened since the last call (for the agent's settlement), and ending one.
  std::vector<Hash> take_opened() { return leases_.take_opened(); }
  void end(const Hash& deal, const std::string& why) { gateway_.end_lease(deal, why); }
  // The VPN leases opened, as the console lists them.
  nlohmann::json leases();

 private:
  sdk::NodeLeases leases_;
  net::Gateway gateway_;
  std::mutex mu_;
  std::vector<Hash> deals_;
};

struct GatewayConsoleContext {
  net::Gateway& gateway;
  sdk::NodeLeases& leases;
  std::mutex& mu;              // guards `seen`
  const std::set<Hash>& seen;  // the deals that connected
  std::string node_url;
  Address requester, market;
  std::string proxy_host;  // where clients reach the gateway
  uint16_t proxy_port = 0;
  std::string password;  // the proxy password: also the console's
  sdk::LeasePolicy policy;
  ConsoleVpn* vpn = nullptr;  // VPN leases; null: none
};

class GatewayConsole {
 public:
  // Listens on `at` and serves until destroyed; samples the spend every 5 s (the last 24 h).
  GatewayConsole(const net::tcp::endpoint& at, GatewayConsoleContext c);
  ~GatewayConsole();
  const std::string& bound() const { return endpoint_->bound(); }

 private:
  struct Sample {
    int64_t at_ms;
    U256 committed, paid;
  };
  nlohmann::json summary();
  void sample();
  Sample measure();  // the totals now

  GatewayConsoleContext c_;
  std::unique_ptr<http::HttpClient> node_;
  std::mutex samples_mu_;
  std::deque<Sample> samples_;
  std::unique_ptr<Ticker> sampler_;
  // The page's live stream (/v1/events, on the endpoint's thread): "leases" when they changed
  // (checked every second), "console" every 5 s.
  api::EventStream events_;
  std::string last_leases_;
  uint64_t ticks_ = 0;
  void tick();
  nlohmann::json leases();
  std::unique_ptr<AgentEndpoint> endpoint_;
};

}  // namespace ipsx::cli
