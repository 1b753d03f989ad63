#include "eth/anvil_harness.h"

#include <fmt/format.h>

namespace ipsx::eth::testing {

using json = nlohmann::json;

AnvilHarness::~AnvilHarness() {
  ledger_.reset();  // its threads stop before the node does
  anvil_.stop();
}

Result<void> AnvilHarness::restart_node() {
  int port = anvil_.port();
  anvil_.stop();
  auto a = AnvilProcess::start(IPSX_ANVIL, args_, port);
  if (!a) return std::unexpected(a.error());
  anvil_ = std::move(*a);
  return {};
}

Result<std::unique_ptr<AnvilHarness>> AnvilHarness::create(const ledger::GenesisConfig& g,
                                                           std::vector<std::string> extra,
                                                           bool wall_clock) {
  // The genesis goes to the contracts as it is (no GenesisConfig::validate() here): their
  // constructors' checks are the backend's.
  auto p = deploy_params(g);
  if (!p) return std::unexpected(p.error());
  uint64_t t0 = static_cast<uint64_t>(to_unix_seconds(g.time));
  std::vector<std::string> args = {
      "--chain-id", std::to_string(g.chain_id), "--gas-price", "0", "--base-fee", "0", "--accounts",
      "1"};
  if (!wall_clock) {
    args.push_back("--timestamp");
    args.push_back(std::to_string(t0));
  }
  args.insert(args.end(), extra.begin(), extra.end());
  auto anvil = AnvilProcess::start(IPSX_ANVIL, args);
  if (!anvil) return std::unexpected(anvil.error());
  std::unique_ptr<AnvilHarness> h(new AnvilHarness(std::move(*anvil), g.time));
  h->args_ = args;
  RpcOptions ro;
  ro.timeout = Millis(5'000);
  auto rpc = RpcClient::connect(h->anvil_.url(), ro);
  if (!rpc) return std::unexpected(rpc.error());
  h->rpc_ = std::move(*rpc);
  RpcClient& r = *h->rpc_;

  for (const auto& [a, amount] : g.native) {
    auto s =
        r.request("anvil_setBalance", json::array({a.to_lower_hex(), quantity(amount.base())}));
    if (!s) return std::unexpected(s.error());
  }
  auto contracts = ContractSet::load(IPSX_CONTRACTS_DIR);
  if (!contracts) return std::unexpected(contracts.error());
  auto deployer = crypto::PrivateKey::generate();
  if (!deployer) return std::unexpected(deployer.error());
  FeePolicy zero{U256(), U256()};
  ManualClock* clock = &h->clock_;
  auto pin = [&r, clock, wall_clock] {
    if (wall_clock) return;
    (void)r.request("evm_setNextBlockTimestamp",
                    json::array({quantity(uint64_t(to_unix_seconds(clock->now())))}));
  };
  auto d = deploy_contracts(r, *deployer, *contracts, *p, zero, {}, pin);
  if (!d) return std::unexpected(d.error());
  EthereumLedgerOptions o;
  o.deployment = *d;
  o.errors = contracts->errors;
  o.fees = zero;
  if (!wall_clock) o.dev_clock = &h->clock_;
  auto l = EthereumLedger::open(h->rpc_, std::move(o));
  if (!l) return std::unexpected(l.error());
  h->ledger_ = std::move(*l);
  return h;
}

}  // namespace ipsx::eth::testing
