// The provider's console (`ipsx provide --ui HOST:PORT`, docs/web.md): its page, and a JSON API
// for it over the running agent: the IPs offered with the node's checks, the deals with their
// bytes, payments, paths and usage receipts, earnings over time, the provider's rating and
// ledger account, and changes to an IP's offer (price, scopes, paused) that the agent signs.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent_metrics.h"
#include "api/event_stream.h"
#include "console.h"
#include "core/address.h"
#include "http/http_client.h"
#include "provider_offers.h"

namespace ipsx::cli {

class ConsoleChanges;

struct ProviderConsoleContext {
  net::Exit& exit;
  ProviderMeter& meter;  // the deals the agent knows, and their largest figures
  std::string node_url;
  Address provider;
  std::string password;
  ConsoleChanges* changes = nullptr;  // where a change made is kept (agent's loop only)
};

class ProviderConsole {
 public:
  // Listens on `at` and serves until destroyed; samples the earnings every 5 s (the last 24 h).
  ProviderConsole(const net::tcp::endpoint& at, ProviderConsoleContext c);
  ~ProviderConsole();
  const std::string& bound() const { return endpoint_->bound(); }

  // On the agent's loop: takes the offers' view, and applies the changes the page asked for
  // meanwhile (each answered with what the agent did, or why not).
  void serve(ProviderOffers& offers);

 private:
  struct Pending {
    std::string ip;
    OfferChange change;
    std::function<void(Result<std::string>)> done;
  };
  nlohmann::json summary();
  nlohmann::json deals();
  void sample();
  U256 paid_now();  // what the balance proofs pay now, over every deal known

  ProviderConsoleContext c_;
  std::unique_ptr<http::HttpClient> node_;
  std::mutex mu_;  // guards the fields below
  std::vector<OfferView> view_;
  std::deque<Pending> pending_;
  std::deque<std::pair<int64_t, U256>> earnings_;  // (unix ms, paid)
  std::unique_ptr<Ticker> sampler_;
  // The page's live stream (/v1/events, on the endpoint's thread): "deals" when they changed
  // (checked every 2 s), "console" every 5 s.
  api::EventStream events_;
  std::string last_deals_;
  uint64_t ticks_ = 0;
  void tick();
  std::unique_ptr<AgentEndpoint> endpoint_;
};

}  // namespace ipsx::cli
