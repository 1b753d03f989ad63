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
#include <optional>
#include <set>

#include "api/http_server.h"
#include "api/node_routes.h"
#include "cli_util.h"
#include "eth/deployment_file.h"
#include "geo/geo.h"
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
  // Offer checks (docs/api.md "Offer checks"): location, ownership, both, or none.
  std::string offer_checks = "location,ownership";
  std::string probe_listen;  // default: --listen's host, any free port
  std::string geo_data;    // the @ip-location-db directory; default ./node_modules/@ip-location-db
  std::string geo_static;  // the operator's static table (docs/geo.md)
};

std::set<std::string> parse_offer_checks(const std::string& text) {
  std::set<std::string> out;
  if (text == "none") return out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = std::min(text.find(',', start), text.size());
    std::string name = text.substr(start, comma - start);
    if (name != "location" && name != "ownership")
      throw CommandError("--offer-checks: '" + name + "': want location, ownership (or none)");
    out.insert(name);
    start = comma + 1;
  }
  return out;
}

// The geo data for the location check: the ip-location-db packages and the static table.
geo::GeoDatabase open_geo(const NodeOptions& o) {
  namespace fs = std::filesystem;
  fs::path dir = o.geo_data;
  if (dir.empty() && fs::exists("node_modules/@ip-location-db"))
    dir = "node_modules/@ip-location-db";
  if (dir.empty() && o.geo_static.empty()) {
    throw CommandError(
        "--offer-checks location needs the geo data: --geo-data DIR (the @ip-location-db "
        "packages `make` installs into node_modules) and/or --geo-static FILE (docs/geo.md)");
  }
  geo::GeoPaths paths;
  if (!dir.empty()) {
    paths.country_mmdb = dir / "geo-whois-asn-country-mmdb" / "geo-whois-asn-country.mmdb";
    paths.asn_v4_csv = dir / "asn" / "asn-ipv4.csv";
    paths.asn_v6_csv = dir / "asn" / "asn-ipv6.csv";
  }
  paths.static_table = o.geo_static;
  return unwrap(geo::GeoDatabase::open(paths), "--geo-data / --geo-static");
}

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

  const std::set<std::string> checks = parse_offer_checks(o.offer_checks);
  std::optional<geo::GeoDatabase> geo_db;
  if (checks.contains("location")) {
    geo_db.emplace(open_geo(o));
    node.checks.location = &*geo_db;
  }
  SystemClock clock;
  std::optional<api::IpProofs> proofs;
  std::optional<api::ProbeServer> probes;
  if (checks.contains("ownership")) {
    proofs.emplace(api::ProbeOptions{}, clock);
    probes.emplace(*proofs);
    auto [probe_host, probe_port] =
        o.probe_listen.empty() ? std::pair{host, uint16_t{0}} : split_listen(o.probe_listen);
    node.checks.ownership = &*proofs;
    node.checks.probe_endpoint = unwrap(probes->start(probe_host, probe_port), "--probe-listen");
  }
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
                           market->address().to_string(), on, bound);
  if (geo_db) {
    std::cout << fmt::format(
        "ipsx node: offers' locations checked against {}{}\n",
        geo_db->country_database_path().empty() ? "" : geo_db->country_database_path() + ", ",
        o.geo_static.empty() ? "the ASN data"
                             : "the ASN data and the static table " + o.geo_static);
  }
  if (probes)
    std::cout << fmt::format("ipsx node: IP-ownership probes on {}\n", node.checks.probe_endpoint);
  if (checks.empty())
    std::cout << "ipsx node: warning: offers are not checked (--offer-checks none)\n";
  std::cout << std::flush;
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
  cmd->add_option("--offer-checks", o->offer_checks,
                  "What the node checks of an offer's IP: location, ownership, both "
                  "(default location,ownership) or none (docs/api.md)");
  cmd->add_option("--probe-listen", o->probe_listen,
                  "HOST:PORT of the IP-ownership probe listener (default: --listen's host, any "
                  "port)");
  cmd->add_option("--geo-data", o->geo_data,
                  "The @ip-location-db directory (country .mmdb and ASN CSVs; default "
                  "./node_modules/@ip-location-db)");
  cmd->add_option("--geo-static", o->geo_static,
                  "The operator's static table of ranges (docs/geo.md), consulted first")
      ->check(CLI::ExistingFile);
  cmd->callback([o] { run_node(*o); });
}

}  // namespace ipsx::cli
