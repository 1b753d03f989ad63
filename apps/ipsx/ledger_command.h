// `ipsx ledger ...`: create, inspect, verify and transact on an embedded ledger's data
// directory (one no running node is using).
#pragma once

#include <CLI/CLI.hpp>

namespace ipsx::cli {

void add_ledger_command(CLI::App& app);

}  // namespace ipsx::cli
