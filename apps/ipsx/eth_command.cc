// `ipsx eth deploy`: deploys the IPSX contracts on an Ethereum node from a genesis file and
// writes their addresses to a TOML file (docs/eth.md, docs/contracts.md).
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <fstream>
#include <iostream>

#include "cli_util.h"
#include "eth/contracts.h"
#include "eth/deployment_file.h"
#include "ledger/genesis.h"

namespace ipsx::cli {
namespace {

struct EthOptions {
  std::string rpc, keystore, address, password_file, genesis, contracts, out;
  int64_t timeout_s = 60;
};

void run_deploy(const EthOptions& o) {
  auto g = unwrap(ledger::GenesisConfig::load(o.genesis), o.genesis);
  auto key = unlock_key(o.keystore, o.address, o.password_file);
  auto contracts = unwrap(eth::ContractSet::load(o.contracts), o.contracts);
  eth::RpcOptions ro;
  ro.timeout = Millis(o.timeout_s * 1000);
  auto rpc = unwrap(eth::RpcClient::connect(o.rpc, ro), "--rpc");
  auto p = unwrap(eth::deploy_params(g), o.genesis);
  eth::SendOptions send;
  send.receipt_timeout = Millis(o.timeout_s * 1000);
  auto d = unwrap(eth::deploy_contracts(*rpc, key, contracts, p, eth::FeePolicy{}, send), "deploy");
  eth::DeploymentFile file{o.rpc, d};
  std::string toml = file.to_toml(
      fmt::format("IPSX contracts, deployed by {} from {}", key.address().to_string(), o.genesis));
  std::ofstream out(o.out, std::ios::trunc);
  out << toml;
  if (!out.flush()) throw CommandError(fmt::format("{}: cannot write", o.out));
  std::cout << toml;
}

}  // namespace

void add_eth_command(CLI::App& app) {
  CLI::App* eth = app.add_subcommand("eth", "The Ethereum backend: deploy the IPSX contracts");
  eth->require_subcommand(1);
  auto o = std::make_shared<EthOptions>();
  o->contracts = (share_dir() / "contracts").string();
  CLI::App* cmd =
      eth->add_subcommand("deploy", "Deploy IPSXToken and the Centralizer; write their addresses");
  cmd->add_option("--rpc,--rpc-url", o->rpc,
                  "JSON-RPC URL of the Ethereum node (http:// or https://)")
      ->required();
  add_key_options(cmd, o->keystore, o->address, o->password_file, "the deployer's");
  cmd->add_option("--genesis", o->genesis, "Genesis TOML: allocations, sale, challenge period")
      ->required();
  cmd->add_option("--contracts", o->contracts,
                  "Directory of the contracts' JSON (default: the installed or built ones)")
      ->capture_default_str();
  cmd->add_option("--out", o->out, "Where to write the addresses (TOML)")->required();
  cmd->add_option("--timeout", o->timeout_s, "Seconds to wait for each request and receipt")
      ->capture_default_str();
  cmd->callback([o] { run_deploy(*o); });
}

}  // namespace ipsx::cli
