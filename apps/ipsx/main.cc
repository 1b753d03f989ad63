// ipsx: the one command-line program of the exchange. Each area is a subcommand.
#include <CLI/CLI.hpp>
#include <algorithm>

#include <iostream>
#include <set>

#include <sys/resource.h>

#include "cli_util.h"
#include "help_export.h"
#include "http/http_client.h"
#include "ledger_command.h"
#include "log.h"
#include "market_command.h"
#include "wallet_command.h"

namespace ipsx::cli {
void add_eth_command(CLI::App& app);         // eth_command.cc
void add_node_command(CLI::App& app);        // node_command.cc
void add_dataplane_commands(CLI::App& app);  // dataplane_commands.cc: gateway, provide
void add_relay_command(CLI::App& app);       // relay_command.cc: relay
void add_vpn_command(CLI::App& app);         // vpn_command.cc: vpn
void add_client_commands(CLI::App& app);     // client_commands.cc: token, sale, offer, deal ...
}  // namespace ipsx::cli

namespace {

// The environment names the agents' and servers' options of these kinds take when not given
// (foundry's ETH_RPC_URL for the chain). Only commands whose options are their own: the groups
// whose subcommands share one options struct (token, sale, deal, wallet, ...) would have CLI11
// apply a variable through a sibling's option over the command line; the client commands read
// theirs themselves (node_url, open_wallet).
void add_environment(CLI::App& app, bool own) {
  static const std::pair<const char*, const char*> kEnv[] = {
      {"node", "IPSX_NODE"},
      {"keystore", "IPSX_KEYSTORE"},
      {"password-file", "IPSX_PASSWORD_FILE"},
      {"proxy-password-file", "IPSX_PROXY_PASSWORD_FILE"},
      {"rpc", "ETH_RPC_URL"},
  };
  static const std::set<std::string> kOwn = {"gateway", "provide", "probe", "relay", "node", "eth"};
  own = own || kOwn.contains(app.get_name());
  for (CLI::Option* o : own ? app.get_options() : std::vector<CLI::Option*>{}) {
    if (!o->get_envname().empty()) continue;
    for (const auto& [name, env] : kEnv) {
      // A node on its embedded ledger refuses --rpc: a user's ETH_RPC_URL must not make it.
      if (app.get_name() == "node" && std::string_view(name) == "rpc") continue;
      const auto& names = o->get_lnames();
      if (std::find(names.begin(), names.end(), name) != names.end()) o->envname(env);
    }
  }
  for (CLI::App* sub : app.get_subcommands({})) add_environment(*sub, own);
}

}  // namespace

int main(int argc, char** argv) {
  // Servers and agents hold a descriptor per connection: the soft limit (often 1024) is raised
  // to the hard one, as nginx and most servers do. (Harmless for the one-shot commands.)
  if (rlimit lim{}; ::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
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
  ipsx::cli::logs::add_options(app);
  ipsx::cli::add_wallet_command(app);
  ipsx::cli::add_ledger_command(app);
  ipsx::cli::add_order_command(app);
  ipsx::cli::add_market_command(app);
  ipsx::cli::add_eth_command(app);
  ipsx::cli::add_node_command(app);
  ipsx::cli::add_dataplane_commands(app);
  ipsx::cli::add_relay_command(app);
  ipsx::cli::add_vpn_command(app);
  ipsx::cli::add_client_commands(app);  // after add_market_command: adds `market depth|trades`
  add_environment(app, false);
  ipsx::cli::add_help_export_commands(app, IPSX_VERSION);
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
