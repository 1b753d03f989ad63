// `ipsx order ...` (sign offers and requests with a wallet) and `ipsx market ...` (run the
// market's logic on a ledger data directory and a journal: place signed orders, see the book and
// the deals). The node will serve the same over its API; these work on directories no running
// process uses.
#pragma once

#include <CLI/CLI.hpp>

namespace ipsx::cli {

void add_order_command(CLI::App& app);
void add_market_command(CLI::App& app);

}  // namespace ipsx::cli
