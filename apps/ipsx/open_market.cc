#include "open_market.h"
#include "log.h"

#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "cli_util.h"
#include "eth/deployment_file.h"

namespace ipsx::cli {

std::unique_ptr<ledger::EmbeddedLedger> open_ledger(const std::string& dir,
                                                    const ledger::GenesisConfig* genesis,
                                                    const Clock& clock) {
  ledger::EmbeddedOptions o;
  o.data_dir = dir;
  o.verify_threads = 1;
  o.progress.report = replay_progress_printer();
  auto l = unwrap(ledger::EmbeddedLedger::open(o, genesis, clock), dir);
  const ledger::ReplayReport& r = l->opened();
  if (!r.snapshot_refused.empty())
    logs::warning(
        fmt::format("the ledger's state snapshot was refused ({}): replayed {} blocks from "
                    "genesis",
                    r.snapshot_refused, r.blocks));
  else if (r.snapshot)
    logs::debug(
        fmt::format("the ledger's state loaded from its snapshot at block {}, {} blocks "
                    "replayed after it",
                    *r.snapshot, r.blocks));
  return l;
}

std::unique_ptr<eth::EthereumLedger> open_ethereum_ledger(const EthereumEndpoint& e) {
  if (e.deployment.empty()) {
    throw CommandError(
        "the Ethereum ledger needs --deployment FILE: the chain id and contract addresses that "
        "`ipsx eth deploy --out FILE` wrote");
  }
  auto file = unwrap(eth::DeploymentFile::load(e.deployment), "--deployment");
  std::string url = e.rpc.empty() ? file.rpc : e.rpc;
  if (url.empty()) {
    throw CommandError(fmt::format(
        "the Ethereum ledger needs --rpc URL: {} names no rpc = \"http://...\"", e.deployment));
  }
  std::string errors_path = (std::filesystem::path(e.contracts) / "ledger-errors.json").string();
  std::ifstream in(errors_path, std::ios::binary);
  if (!in) {
    throw CommandError(
        fmt::format("--contracts: cannot read {} (the build writes it: the ipsx_contracts target)",
                    errors_path));
  }
  std::ostringstream text;
  text << in.rdbuf();
  auto errors = unwrap(eth::ContractErrors::parse(text.str()), errors_path);

  eth::RpcOptions ro;
  ro.timeout = Millis(e.timeout_s * 1000);
  const std::string where = "--rpc " + url;
  auto rpc = unwrap(eth::RpcClient::connect(url, ro), where);
  eth::EthereumLedgerOptions o;
  o.deployment = file.deployment;
  o.errors = std::move(errors);
  o.send.receipt_timeout = Millis(e.timeout_s * 1000);
  o.confirmations = static_cast<uint64_t>(e.confirmations);
  // The keeper's lines: a transaction the chain lost after its receipt, sent again or lost.
  o.on_note = [](const std::string& line) { logs::info("ledger: " + line); };
  auto l = unwrap(
      eth::EthereumLedger::open(std::shared_ptr<eth::RpcClient>(std::move(rpc)), std::move(o)),
      fmt::format("{} (deployment {})", where, e.deployment));
  // Code is there; make sure it is the IPSX contracts at the addresses the file gives.
  if (auto s = l->total_supply(); !s) {
    throw CommandError(fmt::format("{}: token {} does not answer as IPSXToken: {}", e.deployment,
                                   file.deployment.token.to_string(), s.error().message()));
  }
  if (auto s = l->supply(); !s) {
    throw CommandError(fmt::format("{}: centralizer {} does not answer as the Centralizer: {}",
                                   e.deployment, file.deployment.centralizer.to_string(),
                                   s.error().message()));
  }
  return l;
}

OpenMarket::OpenMarket(const std::string& data, const std::string& journal_dir,
                       const std::string& keystore, const std::string& address,
                       const std::string& password_file, uint16_t fee_bps) {
  crypto::PrivateKey key = unlock_key(keystore, address, password_file);
  ledger = open_ledger(data, nullptr, clock);
  start(std::move(key), journal_dir, fee_bps);
}

OpenMarket::OpenMarket(std::unique_ptr<ledger::Ledger> l, crypto::PrivateKey operator_key,
                       const std::string& journal_dir, uint16_t fee_bps)
    : ledger(std::move(l)) {
  start(std::move(operator_key), journal_dir, fee_bps);
}

void OpenMarket::start(crypto::PrivateKey key, const std::string& journal_dir, uint16_t fee_bps) {
  journal = unwrap(market::Journal::open(journal_dir), journal_dir);
  market = std::make_unique<market::Market>(*ledger, std::move(key), clock,
                                            market::MarketConfig{fee_bps, {}}, journal.get());
  unwrap(market->recover(), "replaying the journal");
  market->tick();
}

}  // namespace ipsx::cli
