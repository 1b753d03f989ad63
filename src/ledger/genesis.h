// The genesis of a ledger: the four allocations of R2, the crowd sale's parameters, the native
// coin of development accounts, and the chain's constants. Read from a TOML file.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/address.h"
#include "core/amount.h"
#include "core/clock.h"

namespace ipsx::ledger {

struct SaleConfig {
  U256 rate;        // IPSX base units per native base unit (e.g. 10000: 1 ETH buys 10,000 IPSX)
  Amount hard_cap;  // native coin; hard_cap * rate must not exceed the 900M sale pool
  Timestamp start;
  Timestamp end;
  Address treasury;  // receives the native coin paid
};

// The challenge period's bounds (docs/ledger.md, "Genesis"), the same on every backend: at
// least a minute for a provider to answer, at most 30 days of a requester's funds held.
inline constexpr Millis kMinChallengePeriod{60'000};
inline constexpr Millis kMaxChallengePeriod{30LL * 24 * 60 * 60 * 1000};

struct GenesisConfig {
  uint64_t chain_id = 1337;
  Timestamp time;  // the genesis block's timestamp
  // Holders of R2's allocations: 495M early adopters and partners, 45M bounty, 360M team.
  Address early_adopters;
  Address bounty;
  Address team;
  SaleConfig sale;
  // Native coin at genesis (development accounts that will buy in the sale).
  std::vector<std::pair<Address, Amount>> native;
  // How long a provider has to answer a requester's uncooperative close: whole seconds (a chain
  // counts time in seconds), kMinChallengePeriod .. kMaxChallengePeriod.
  Millis challenge_period = Millis(60 * 60 * 1000);

  // Checks the parameters: distinct non-zero allocation holders, a sale window with start < end,
  // a positive rate, hard_cap * rate <= 900M IPSX, a challenge period of whole seconds within
  // its bounds. Errors are LedgerErrc::invalid_argument naming the key.
  Result<void> validate() const;

  // Parses the TOML form (docs/ledger.md, "Genesis file"). Errors name the key.
  static Result<GenesisConfig> from_toml(std::string_view text);
  static Result<GenesisConfig> load(const std::filesystem::path& path);
  std::string to_toml() const;
};

}  // namespace ipsx::ledger
