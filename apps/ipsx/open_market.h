// A data directory's ledger, journal and market, opened the one way `ipsx ledger`, `ipsx market`
// and `ipsx node` open them; and the Ethereum ledger `ipsx node --ledger ethereum` opens instead.
#pragma once

#include <memory>
#include <string>

#include "core/clock.h"
#include "eth/ethereum_ledger.h"
#include "ledger/embedded_ledger.h"
#include "market/journal.h"
#include "market/market.h"

namespace ipsx::cli {

// The embedded ledger in `dir` (created from `genesis` when given). Throws CommandError.
std::unique_ptr<ledger::EmbeddedLedger> open_ledger(const std::string& dir,
                                                    const ledger::GenesisConfig* genesis,
                                                    const Clock& clock);

// Where the Ethereum ledger is: the deployment file `ipsx eth deploy --out` wrote (chain id,
// contract addresses, first block), the node's JSON-RPC URL (`rpc`, else the file's), and the
// build's contract JSON directory (for ledger-errors.json: what each revert means).
struct EthereumEndpoint {
  std::string rpc;
  std::string deployment;
  std::string contracts;
  int64_t timeout_s = 30;     // per RPC request and per receipt
  int64_t confirmations = 0;  // blocks on top of a transaction's before it counts
};

// Opens the EthereumLedger: checks the node's chain id against the deployment's and that both
// contracts answer. Throws CommandError naming what is wrong (the file and key, the URL, the
// chain ids).
std::unique_ptr<eth::EthereumLedger> open_ethereum_ledger(const EthereumEndpoint& e);

// The ledger in `data`, the journal in `journal_dir` and the market over them, run by the wallet
// of `keystore`/`address`, the journal replayed. Members in dependency order, so they are
// destroyed in reverse: the market (its shutdown snapshot) before the journal, the journal
// before the ledger. Throws CommandError.
struct OpenMarket {
  OpenMarket(const std::string& data, const std::string& journal_dir, const std::string& keystore,
             const std::string& address, const std::string& password_file, uint16_t fee_bps);
  // The same over a ledger the caller opened (the Ethereum ledger), run by `operator_key`.
  OpenMarket(std::unique_ptr<ledger::Ledger> ledger, crypto::PrivateKey operator_key,
             const std::string& journal_dir, uint16_t fee_bps);

  SystemClock clock;
  std::unique_ptr<ledger::Ledger> ledger;
  std::unique_ptr<market::Journal> journal;
  std::unique_ptr<market::Market> market;

 private:
  void start(crypto::PrivateKey operator_key, const std::string& journal_dir, uint16_t fee_bps);
};

}  // namespace ipsx::cli
