// The Ethereum backend under test: an anvil started for one genesis, the contracts deployed,
// an EthereumLedger over it, and a manual clock pinned as the chain's block time. Test support.
#pragma once

#include <memory>

#include "core/clock.h"
#include "eth/anvil_process.h"
#include "eth/ethereum_ledger.h"
#include "ledger/conformance.h"

namespace ipsx::eth::testing {

class AnvilHarness final : public ledger::LedgerHarness {
 public:
  // Extra anvil arguments (e.g. --state FILE) may be given. With `wall_clock`, anvil keeps its
  // own time (the wall clock, a block only when a transaction arrives, as `anvil` run by hand)
  // and the ledger has no dev clock: advance() then moves nothing, and `g.time` should be now.
  static Result<std::unique_ptr<AnvilHarness>> create(const ledger::GenesisConfig& g,
                                                      std::vector<std::string> extra_args = {},
                                                      bool wall_clock = false);
  ~AnvilHarness() override;

  ledger::Ledger& ledger() override { return *ledger_; }
  void advance(Millis d) override { clock_.advance(d); }
  Timestamp now() const override { return clock_.now(); }

  // Starts the node again on the same port with the same arguments (after anvil().stop() or
  // anvil().kill(); with --state FILE it reloads what it dumped).
  Result<void> restart_node();

  EthereumLedger& eth_ledger() { return *ledger_; }
  AnvilProcess& anvil() { return anvil_; }
  std::shared_ptr<RpcClient> rpc() { return rpc_; }

 private:
  AnvilHarness(AnvilProcess anvil, Timestamp start) : anvil_(std::move(anvil)), clock_(start) {}
  AnvilProcess anvil_;
  std::vector<std::string> args_;
  ManualClock clock_;
  std::shared_ptr<RpcClient> rpc_;
  std::unique_ptr<EthereumLedger> ledger_;
};

}  // namespace ipsx::eth::testing
