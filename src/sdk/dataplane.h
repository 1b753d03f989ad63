// The data plane's market side over a node (docs/sdk.md): what `ipsx gateway` and
// `ipsx provide` use to turn the node's deals into leases and served deals.
//
// - NodeLeases is the gateway's GatewayMarket: for a client whose filters no lease fits, it signs
//   a request for one IP that fits, places it, and turns the deal into a Lease (the deal, its
//   offer, and the exit the provider announced). A request that matches nothing is cancelled at
//   once and the client gets "nothing fits".
// - NodeDeals is the exit's ExitDealDirectory: deals of this provider for its IPs, fetched from
//   the node on first sight and cached.
// - StatusReporter sends one party's signed status reports for its deals, keeps each deal's seq,
//   and re-sends live states as heartbeats (docs/protocol.md).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>

#include "client/node_client.h"
#include "client/signer.h"
#include "market/deal_protocol.h"
#include "net/exit.h"
#include "net/gateway.h"

namespace ipsx::sdk {

// One deal as both ends need it: the deal, its signed offer and request.
struct DealInfo {
  Hash id;
  Address provider;
  Address requester;
  Offer offer;
  Request request;
  U256 price_per_second;
  uint64_t start = 0;  // unix seconds
  uint64_t end = 0;
  bool exclusive = false;
  std::string phase;  // the protocol status: pending, ready, active, closed
};

Result<DealInfo> fetch_deal(NodeClient& node, const Hash& deal_id);
// The provider's announced exit (HOST:PORT); not_found if none is live.
Result<std::string> fetch_exit(NodeClient& node, const Address& provider);
// Announces this provider's exit at `endpoint` until `expiry` (unix seconds); `seq` must grow.
Result<void> announce_exit(NodeClient& node, const Signer& provider, const std::string& endpoint,
                           uint64_t expiry, uint64_t seq);

// Sends a ledger transaction through the node: prepare (the next nonce and the digest), sign here
// (Signer::transaction checks the node's digest), send. The answer is the receipt (id, block,
// events). A bad_nonce (another transaction of this wallet got in between) is retried once. A
// transaction the chain did not mine by the node's deadline (it holds the wallet's nonce, and
// every later transaction, until mined) is replaced: the same operation at the same nonce, the
// node raising each fee 1/8 over the pending version's, up to three times; the answer is then the
// receipt of whichever version was mined (docs/eth.md, "Fee bumping").
Result<nlohmann::json> send_transaction(NodeClient& node, const Signer& signer,
                                        const ledger::Op& op);

// Proves to the node that this machine can send from `ip` (the node's IP-ownership probe,
// api/ip_probe.h): asks POST /v1/probes for a challenge, connects to the node's probe listener
// with the socket bound to `ip` (or, behind a NAT, to `local`: the address whose traffic the NAT
// sends out as `ip`), and presents it. Errors: the node's, a connection that cannot be made from
// that address (CoreErrc::io_error), or the listener's refusal with its reason (a NAT that does
// not send it out as `ip`: the node names the address it saw).
Result<void> prove_ip(NodeClient& node, const Address& provider, const std::string& ip,
                      Millis timeout = Millis(5'000), const std::string& local = "");

// Signs a status report as `signer` (the wallet of `event.party` in the deal) and sends it: POST
// /v1/deals/{id}/events. The answer is the node's (`status`: the deal's after it; `deal`).
// A requester may add the path its traffic takes (`direct`, `relayed` or `punched`; unsigned).
Result<nlohmann::json> send_status(NodeClient& node, const Signer& signer,
                                   const market::StatusEvent& event, const std::string& path = "");

// Sends one party's signed status reports. Thread-safe.
class StatusReporter {
 public:
  StatusReporter(NodeClient& node, const Signer& signer, market::Party party);
  // Reports `state` for the deal now. A live state (ready, connected) is then re-sent by
  // heartbeat() until a terminal one is reported. If the node says the seq is off (a restart
  // of this program), the party's last seq is read from the node and the report sent again.
  Result<void> report(const Hash& deal, market::PartyState state);
  // Re-sends each live state last sent `interval` ago or more; returns the deals whose report
  // the node refused because the deal is closed (they are forgotten).
  std::vector<Hash> heartbeat(Millis interval);
  size_t live() const;
  // The path the deal's traffic takes, sent with every later report of it (requesters).
  void set_path(const Hash& deal, std::string path);

 private:
  Result<void> send(const Hash& deal, market::PartyState state);
  NodeClient& node_;
  const Signer& signer_;
  market::Party party_;
  mutable std::mutex mu_;
  struct Live {
    market::PartyState state;
    Timestamp sent;
  };
  std::unordered_map<Hash, uint64_t> seq_;
  std::unordered_map<Hash, Live> live_;
  std::unordered_map<Hash, std::string> path_;
};

// What a gateway orders: one IP per lease, for `duration_seconds`, at most `max_price_per_second`.
struct LeasePolicy {
  uint64_t duration_seconds = 600;
  U256 max_price_per_second;
  uint32_t protocols = 0;  // protocol:: bits every leased IP must serve
  uint32_t scope = 0;      // the one scope:: bit of the use
  Address market;          // the node's market (from /v1/health)
  uint16_t fee_bps = 0;
  U256 budget;  // the most all leases together may cost; 0 = no limit beyond each lease's cost
  // What other leases under the same budget have committed (another NodeLeases of the same
  // agent: the requester's console's VPN leases beside its proxy leases); none if empty.
  std::function<U256()> committed_elsewhere;
};

class NodeLeases final : public net::GatewayMarket {
 public:
  // `node_url` is the node's base URL; `requester` signs requests, cancels and balance proofs.
  NodeLeases(std::string node_url, const Signer& requester, LeasePolicy policy);
  ~NodeLeases() override;

  // Runs on the worker thread: place, match, find the exit, answer `done`.
  void acquire(const net::ProxyFilters& filters,
               std::function<void(Result<net::Lease>)> done) override;
  // Runs on the worker thread: the provider's live announcement at the node.
  void locate(const Address& provider, std::function<void(Result<net::ExitAddress>)> done) override;
  // The gateway's lease events, reported as the requester's status (connected, failed, closed).
  void on_lease_event(const Hash& deal, net::LeaseEvent event, const std::string& reason);

  // The deals opened for this gateway's requests since the last call: the requester's
  // settlement follows each of them, those that never connected too (a deal whose exit never
  // answered must still be closed on the ledger, so its deposit comes back).
  std::vector<Hash> take_opened();

  // What was ordered so far (for status lines).
  struct Totals {
    uint64_t requests = 0, leases = 0, nothing_fits = 0;
    U256 committed;  // the cost of every lease ordered
  };
  Totals totals() const;

 private:
  Result<net::Lease> lease_for(const net::ProxyFilters& filters);
  void post(std::function<void()> job);
  void run();

  std::unique_ptr<NodeClient> node_;
  const Signer& requester_;
  LeasePolicy policy_;
  StatusReporter reporter_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  Totals totals_;
  std::vector<Hash> opened_;  // guarded by mu_
  uint64_t nonce_;
  std::thread worker_;  // last: started once everything else is constructed
};

class NodeDeals final : public net::ExitDealDirectory {
 public:
  // Deals of `provider` whose offer leases one of `ips`.
  NodeDeals(std::string node_url, Address provider, Hash domain_separator, std::set<Ip> ips);
  // Cached, or fetched from the node (at most once per second per unknown deal, within 2 s).
  std::optional<net::ExitDeal> find(const Hash& deal_id) const override;
  // Adds a deal already fetched (from the provider's own polling).
  std::optional<net::ExitDeal> add(const DealInfo& info) const;

 private:
  std::optional<net::ExitDeal> to_exit_deal(const DealInfo& info) const;
  std::unique_ptr<NodeClient> node_;
  Address provider_;
  Hash domain_;
  std::set<Ip> ips_;
  mutable std::mutex mu_;
  mutable std::unordered_map<Hash, net::ExitDeal> deals_;
  mutable std::unordered_map<Hash, Timestamp> misses_;
};

}  // namespace ipsx::sdk
