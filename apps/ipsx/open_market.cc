#include "open_market.h"

#include "cli_util.h"

namespace ipsx::cli {

std::unique_ptr<ledger::EmbeddedLedger> open_ledger(const std::string& dir,
                                                    const ledger::GenesisConfig* genesis,
                                                    const Clock& clock) {
  ledger::EmbeddedOptions o;
  o.data_dir = dir;
  o.verify_threads = 1;
  return unwrap(ledger::EmbeddedLedger::open(o, genesis, clock), dir);
}

OpenMarket::OpenMarket(const std::string& data, const std::string& journal_dir,
                       const std::string& keystore, const std::string& address,
                       const std::string& password_file, uint16_t fee_bps) {
  crypto::PrivateKey key = unlock_key(keystore, address, password_file);
  ledger = open_ledger(data, nullptr, clock);
  journal = unwrap(market::Journal::open(journal_dir), journal_dir);
  market = std::make_unique<market::Market>(*ledger, std::move(key), clock,
                                            market::MarketConfig{fee_bps, {}}, journal.get());
  unwrap(market->recover(), "replaying the journal");
  market->tick();
}

}  // namespace ipsx::cli
