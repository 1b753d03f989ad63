// `ipsx node`: the market node. Opens the embedded ledger and the market (with its journal) as
// `ipsx market` does, and serves them over the HTTP API (src/api, docs/api.md) until SIGTERM or
// SIGINT, then shuts down cleanly: the market writes its snapshot, the journal and the ledger
// close.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <iostream>

#include "api/http_server.h"
#include "api/node_routes.h"
#include "cli_util.h"
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

void run_node(const NodeOptions& o) {
  auto [host, port] = split_listen(o.listen);
  const std::string journal_dir = o.journal.empty() ? o.data + "/market" : o.journal;
  OpenMarket m(o.data, journal_dir, o.keystore, o.address, o.password_file, o.fee_bps);
  auto& market = m.market;
  auto& ledger = m.ledger;

  api::NodeContext node{*market, *ledger, api::openapi_yaml()};
  api::Router router;
  api::add_node_routes(router, node);
  api::ServerOptions so;
  so.body_limit = o.max_body;
  so.read_timeout = std::chrono::milliseconds(o.read_timeout_ms);
  so.on_tick = [&market] { market->tick(); };
  api::HttpServer server(router, so);
  std::string bound = unwrap(server.listen(host, port), "--listen");
  std::cout << fmt::format("ipsx node: market {} listening on http://{}\n",
                           market->address().to_string(), bound)
            << std::flush;
  server.run();
  std::cout << "ipsx node: shutting down\n" << std::flush;
}

}  // namespace

void add_node_command(CLI::App& app) {
  auto o = std::make_shared<NodeOptions>();
  CLI::App* cmd =
      app.add_subcommand("node", "Serve the market and the ledger over the HTTP API (docs/api.md)");
  cmd->add_option("--data", o->data, "Ledger data directory (from `ipsx ledger init`)")->required();
  cmd->add_option("--journal", o->journal, "Market journal directory (default DATA/market)");
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
  cmd->callback([o] { run_node(*o); });
}

}  // namespace ipsx::cli
