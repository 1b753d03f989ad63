// `ipsx node`: the market node. Opens the ledger (the embedded one in --data, as `ipsx market`
// does, or with --ledger ethereum the contracts of a deployment over JSON-RPC) and the market
// with its journal, and serves them over the HTTP API (src/api, docs/api.md) until SIGTERM or
// SIGINT, then shuts down cleanly: the market writes its snapshot, the journal and the ledger
// close.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "api/http_server.h"
#include "api/node_routes.h"
#include "cli_util.h"
#include "eth/deployment_file.h"
#include "ledger/embedded_ledger.h"
#include "market/market.h"
#include "open_market.h"

namespace ipsx::cli {
namespace {

struct NodeOptions {
  std::string data, journal, keystore, address, password_file, listen = "127.0.0.1:8545";
  uint16_t fee_bps = 0;
  size_t max_body = 64 * 1024;
  uint64_t read_timeout_ms = 10'000;
  std::string ledger = "embedded";  // or "ethereum"
  EthereumEndpoint eth;
  api::NodeLimits limits;
};

std::pair<std::string, uint16_t> split_listen(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0)
    throw CommandError("--listen: want HOST:PORT, e.g. 127.0.0.1:8080");
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  unsigned long port = 0;
  try {
    size_t used = 0;
    port = std::stoul(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1) throw std::invalid_argument("");
  } catch (const std::exception&) {
    throw CommandError("--listen: bad port in '" + text + "'");
  }
  if (port > 65535) throw CommandError("--listen: port over 65535");
  return {host, static_cast<uint16_t>(port)};
}

// The deployment a data directory's market journal belongs to (written on its first start with
// --ledger ethereum): replaying a journal against another chain or contracts would open deals
// that were never matched there.
constexpr const char* kDeploymentMark = "ethereum-deployment.toml";

void claim_data_dir(const std::string& data, const eth::EthereumLedger& l) {
  namespace fs = std::filesystem;
  const fs::path dir(data);
  if (fs::exists(dir / "ledger.db")) {
    throw CommandError(fmt::format(
        "--data {} holds an embedded ledger (ledger.db); give --ledger ethereum a directory of its "
        "own for the market journal",
        data));
  }
  eth::DeploymentFile mine;
  mine.deployment = l.deployment();
  const fs::path mark = dir / kDeploymentMark;
  if (fs::exists(mark)) {
    auto theirs = unwrap(eth::DeploymentFile::load(mark), "--data");
    const eth::Deployment& d = theirs.deployment;
    if (d.chain_id != mine.deployment.chain_id || d.token != mine.deployment.token ||
        d.centralizer != mine.deployment.centralizer) {
      throw CommandError(fmt::format(
          "--data {}: its market journal belongs to the deployment on chain {} (centralizer {}), "
          "not to chain {} (centralizer {}); use another --data directory",
          data, d.chain_id, d.centralizer.to_string(), mine.deployment.chain_id,
          mine.deployment.centralizer.to_string()));
    }
    return;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::ofstream out(mark, std::ios::trunc);
  out << mine.to_toml("The deployment whose ledger this directory's market journal is on");
  if (!out.flush()) throw CommandError(fmt::format("--data: cannot write {}", mark.string()));
}

std::unique_ptr<OpenMarket> open_market(const NodeOptions& o, const std::string& journal_dir) {
  if (o.ledger == "embedded") {
    if (!o.eth.rpc.empty() || !o.eth.deployment.empty())
      throw CommandError("--rpc and --deployment are for --ledger ethereum");
    return std::make_unique<OpenMarket>(o.data, journal_dir, o.keystore, o.address, o.password_file,
                                        o.fee_bps);
  }
  crypto::PrivateKey key = unlock_key(o.keystore, o.address, o.password_file);
  auto l = open_ethereum_ledger(o.eth);
  claim_data_dir(o.data, *l);
  if (auto native = l->native_balance(key.address()); native && native->is_zero()) {
    std::cerr << fmt::format(
        "ipsx node: warning: the market operator {} holds no native coin on chain {}; it sends "
        "(and pays the gas of) every openDeal\n",
        key.address().to_string(), l->chain_id());
  }
  return std::make_unique<OpenMarket>(std::move(l), std::move(key), journal_dir, o.fee_bps);
}

void run_node(const NodeOptions& o) {
  auto [host, port] = split_listen(o.listen);
  const std::string journal_dir = o.journal.empty() ? o.data + "/market" : o.journal;
  std::unique_ptr<OpenMarket> opened = open_market(o, journal_dir);
  OpenMarket& m = *opened;
  auto& market = m.market;
  auto& ledger = m.ledger;

  api::EventStream events;
  api::NodeContext node{*market, *ledger, api::openapi_yaml(), &events};
  api::Router router;
  api::add_node_routes(router, node, o.limits);
  api::ServerOptions so;
  so.body_limit = o.max_body;
  so.read_timeout = std::chrono::milliseconds(o.read_timeout_ms);
  so.on_tick = [&node] { api::tick(node); };
  so.events = &events;
  api::HttpServer server(router, so);
  std::string bound = unwrap(server.listen(host, port), "--listen");
  std::string on;
  if (const auto* eth = dynamic_cast<const eth::EthereumLedger*>(ledger.get())) {
    on = fmt::format(" on the Ethereum ledger (chain {}, centralizer {})", eth->chain_id(),
                     eth->deployment().centralizer.to_string());
  }
  std::cout << fmt::format("ipsx node: market {}{} listening on http://{}\n",
                           market->address().to_string(), on, bound)
            << std::flush;
  server.run();
  std::cout << "ipsx node: shutting down\n" << std::flush;
}

}  // namespace

void add_node_command(CLI::App& app) {
  auto o = std::make_shared<NodeOptions>();
  CLI::App* cmd =
      app.add_subcommand("node", "Serve the market and the ledger over the HTTP API (docs/api.md)");
  cmd->add_option("--data", o->data,
                  "Data directory: the embedded ledger (from `ipsx ledger init`) and the market "
                  "journal; with --ledger ethereum the market journal only")
      ->required();
  cmd->add_option("--journal", o->journal, "Market journal directory (default DATA/market)");
  cmd->add_option("--ledger", o->ledger, "embedded (default) or ethereum (docs/eth.md)")
      ->check(CLI::IsMember({"embedded", "ethereum"}));
  cmd->add_option("--deployment,--config", o->eth.deployment,
                  "With --ledger ethereum: the file `ipsx eth deploy --out` wrote (chain id, "
                  "contract addresses, RPC URL)");
  cmd->add_option("--rpc", o->eth.rpc,
                  "With --ledger ethereum: the node's JSON-RPC URL (default: the deployment "
                  "file's rpc)");
  o->eth.contracts = IPSX_DEFAULT_CONTRACTS_DIR;
  cmd->add_option("--contracts", o->eth.contracts,
                  "With --ledger ethereum: the build's contract JSON (for ledger-errors.json)")
      ->capture_default_str();
  cmd->add_option("--rpc-timeout", o->eth.timeout_s,
                  "With --ledger ethereum: seconds to wait for each RPC answer and receipt")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{3600}));
  cmd->add_option("--listen", o->listen, "HOST:PORT to serve on (port 0: any free port)");
  cmd->add_option("--keystore", o->keystore, "Keystore of the market operator's wallet")
      ->required();
  cmd->add_option("--address", o->address, "The market operator's address");
  cmd->add_option("--password-file", o->password_file, "File whose first line is the password")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--fee-bps", o->fee_bps, "Commission every order must name (default 0)");
  cmd->add_option("--max-body", o->max_body, "Largest request body in bytes (default 65536)");
  cmd->add_option("--read-timeout-ms", o->read_timeout_ms,
                  "Deadline for a whole request to arrive; slower clients are disconnected "
                  "(default 10000)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{3'600'000}));
  cmd->add_option("--rate-limit", o->limits.per_ip.rate,
                  "Requests per second per client IP (default 50; 0: no limit)");
  cmd->add_option("--rate-burst", o->limits.per_ip.burst, "Burst per client IP (default 100)");
  cmd->add_option("--order-rate-limit", o->limits.per_address.rate,
                  "Signed orders, cancels and status events per second per wallet (default 5)");
  cmd->add_option("--order-rate-burst", o->limits.per_address.burst,
                  "Burst of signed changes per wallet (default 20)");
  cmd->callback([o] { run_node(*o); });
}

}  // namespace ipsx::cli
