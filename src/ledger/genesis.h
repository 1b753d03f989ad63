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
#include "core/hash.h"

namespace ipsx::ledger {

struct SaleConfig {
  U256 rate;        // IPSX base units per native base unit (e.g. 10000: 1 ETH buys 10,000 IPSX)
  Amount hard_cap;  // native coin; hard_cap * rate must not exceed the 900M sale pool
  Timestamp start;
  Timestamp end;
  Address treasury;  // receives the native coin paid
  // Native coin, at most hard_cap; zero: none. With a soft cap the coin paid stays with the sale
  // until finalize, which pays it to the treasury only if at least soft_cap was raised; a sale
  // that ends below it is never finalized and its buyers take their coin back (R2).
  Amount soft_cap;
};

// The challenge period's bounds (docs/ledger.md, "Genesis"), the same on every backend: at
// least a minute for a provider to answer, at most 30 days of a requester's funds held.
inline constexpr Millis kMinChallengePeriod{60'000};
inline constexpr Millis kMaxChallengePeriod{30LL * 24 * 60 * 60 * 1000};

// The chain id a new embedded ledger gets unless its genesis names one: 0x49505358 ("IPSX"),
// an id no common development chain uses (geth --dev and Ganache use 1337, anvil and Hardhat
// 31337), so that a wallet pointed at the wrong chain signs nothing valid on ours.
inline constexpr uint64_t kDefaultChainId = 0x49505358;

struct GenesisConfig {
  uint64_t chain_id = kDefaultChainId;
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
  // a positive rate, hard_cap * rate <= 900M IPSX, soft_cap <= hard_cap, a challenge period of
  // whole seconds within its bounds. Errors are LedgerErrc::invalid_argument naming the key.
  Result<void> validate() const;

  // Parses the TOML form (docs/ledger.md, "Genesis file"). Errors name the key.
  static Result<GenesisConfig> from_toml(std::string_view text);
  static Result<GenesisConfig> load(const std::filesystem::path& path);
  std::string to_toml() const;

  // The genesis's identity: keccak-256 of its canonical form, to_toml(). Two ledgers share it
  // only if they share every parameter, allocations, time and sale included.
  Hash hash() const;
};

// The embedded ledger's EIP-712 verifying address: the last 20 bytes of
// keccak256("IPSX embedded ledger" || genesis hash). No contract lives there; it binds every
// signature (orders, cancels, balance proofs, transactions) to one genesis, so that nothing
// signed for one embedded ledger is valid on another, even on the same chain id.
Address embedded_verifying_contract(const Hash& genesis_hash);

}  // namespace ipsx::ledger
