// The deployment file that `ipsx eth deploy --out FILE` writes and `ipsx node --ledger ethereum
// --deployment FILE` and `ipsx order --deployment FILE` read (TOML, docs/eth.md):
//
//   rpc = "http://127.0.0.1:8545"   # where it was deployed (optional when reading)
//   chain_id = 1337
//   token = "0x..."                 # IPSXToken
//   centralizer = "0x..."           # Centralizer (the EIP-712 verifying contract)
//   block = 1                       # first block of the ledger's history
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "core/error.h"
#include "eth/contracts.h"

namespace ipsx::eth {

struct DeploymentFile {
  std::string rpc;  // empty if the file names none
  Deployment deployment;

  // Parses the TOML text. Every key but `rpc` is required; errors (CoreErrc::parse_error) name
  // the key at fault and what it must be, or the line of a TOML syntax error.
  static Result<DeploymentFile> parse(std::string_view text);
  // Reads and parses `path`; errors start with the path.
  static Result<DeploymentFile> load(const std::filesystem::path& path);
  // The file's text, with `comment` (one line, may be empty) as a leading `#` line.
  std::string to_toml(std::string_view comment = "") const;
};

}  // namespace ipsx::eth
