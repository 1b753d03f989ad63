// ipsx: the one command-line program of the exchange. Each area is a subcommand.
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli_util.h"
#include "http/http_client.h"
#include "ledger_command.h"
#include "market_command.h"
#include "wallet_command.h"

namespace ipsx::cli {
void add_eth_command(CLI::App& app);         // eth_command.cc
void add_node_command(CLI::App& app);        // node_command.cc
void add_dataplane_commands(CLI::App& app);  // dataplane_commands.cc: gateway, provide
void add_relay_command(CLI::App& app);       // relay_command.cc: relay
void add_client_commands(CLI::App& app);     // client_commands.cc: token, sale, offer, deal ...
}  // namespace ipsx::cli

int main(int argc, char** argv) {
  CLI::App app{"ipsx: an exchange for leasing IP addresses, paid in the IPSX token"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("ipsx ") + IPSX_VERSION);
  // Options of `ipsx` itself (--ca-file) may also follow the subcommand's name.
  app.fallthrough();
  app.add_option("--ca-file",
                 "https:// nodes and JSON-RPC endpoints: trust the CA certificates in "
                 "FILE (PEM) instead of the system's")
      ->envname("IPSX_CA_FILE")
      ->check(CLI::ExistingFile)
      ->each([](const std::string& file) { ipsx::http::set_default_ca_file(file); });
  ipsx::cli::add_wallet_command(app);
  ipsx::cli::add_ledger_command(app);
  ipsx::cli::add_order_command(app);
  ipsx::cli::add_market_command(app);
  ipsx::cli::add_eth_command(app);
  ipsx::cli::add_node_command(app);
  ipsx::cli::add_dataplane_commands(app);
  ipsx::cli::add_relay_command(app);
  ipsx::cli::add_client_commands(app);  // after add_market_command: adds `market depth|trades`
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  } catch (const ipsx::cli::CommandError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
