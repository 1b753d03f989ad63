// A data directory's ledger, journal and market, opened the one way `ipsx ledger`, `ipsx market`
// and `ipsx node` open them.
#pragma once

#include <memory>
#include <string>

#include "core/clock.h"
#include "ledger/embedded_ledger.h"
#include "market/journal.h"
#include "market/market.h"

namespace ipsx::cli {

// The embedded ledger in `dir` (created from `genesis` when given). Throws CommandError.
std::unique_ptr<ledger::EmbeddedLedger> open_ledger(const std::string& dir,
                                                    const ledger::GenesisConfig* genesis,
                                                    const Clock& clock);

// The ledger in `data`, the journal in `journal_dir` and the market over them, run by the wallet
// of `keystore`/`address`, the journal replayed. Members in dependency order, so they are
// destroyed in reverse: the market (its shutdown snapshot) before the journal, the journal
// before the ledger. Throws CommandError.
struct OpenMarket {
  OpenMarket(const std::string& data, const std::string& journal_dir, const std::string& keystore,
             const std::string& address, const std::string& password_file, uint16_t fee_bps);

  SystemClock clock;
  std::unique_ptr<ledger::EmbeddedLedger> ledger;
  std::unique_ptr<market::Journal> journal;
  std::unique_ptr<market::Market> market;
};

}  // namespace ipsx::cli
