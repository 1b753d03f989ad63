// `ipsx wallet ...`: keystore accounts, and signing and recovering EIP-191 messages and EIP-712
// typed data with them.
#pragma once

#include <CLI/CLI.hpp>

namespace ipsx::cli {

// Adds the `wallet` subcommand tree to `app`.
void add_wallet_command(CLI::App& app);

}  // namespace ipsx::cli
