// A Prometheus endpoint for the agents (`ipsx gateway --metrics HOST:PORT`, `ipsx provide
// --metrics HOST:PORT`): GET /metrics answers the agent's own series and the process's
// (api::Metrics::process), on a server thread of its own. Nothing else is served.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "api/http_server.h"
#include "api/router.h"
#include "core/amount.h"
#include "core/hash.h"
#include "net/asio.h"

namespace ipsx::net {
class Exit;
class Gateway;
}  // namespace ipsx::net
namespace ipsx::sdk {
class NodeLeases;
}  // namespace ipsx::sdk

namespace ipsx::cli {

class MetricsEndpoint {
 public:
  // Listens on `at` (port 0: any) and serves; `render` is called on the server's
  // thread for each scrape and must be thread-safe against the agent. Throws CommandError when
  // it cannot listen.
  MetricsEndpoint(const net::tcp::endpoint& at, std::string role,
                  std::function<std::string()> render);
  ~MetricsEndpoint();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;
  const std::string& bound() const { return bound_; }

 private:
  api::Router router_;
  std::unique_ptr<api::HttpServer> server_;
  std::thread thread_;
  std::string bound_;
};

// The gateway's series: what it leased and committed, its clients, and what its deals carried
// (`seen`: the deals that connected, read under `mu`).
std::string gateway_metrics(const net::Gateway& gateway, const sdk::NodeLeases& leases,
                            std::mutex& mu, const std::set<Hash>& seen);
// The provider's series: the deals its exit served (`deals`, read under `mu`), what they
// carried, and what their requesters owe and paid.
std::string provider_metrics(const net::Exit& exit, std::mutex& mu, const std::set<Hash>& deals);

// A Prometheus sample value of an amount of IPSX (base units / 10^18; a float, as Prometheus
// keeps every sample).
double ipsx_value(const Amount& a);

}  // namespace ipsx::cli
