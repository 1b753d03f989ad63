// Profiles (R4): what the exchange knows of a wallet: its rating, aggregated so that a handful of
// votes cannot dominate, its objective history (deals made, how they ended, how often a provider
// actually served), and its stated preferences. Ratings come from the ledger (each party of a
// closed deal rates the other once); history from the deal book's outcomes.
// Not thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>

#include "core/address.h"
#include "ledger/ledger.h"

namespace ipsx::market {

// The Bayesian average of 1..5 ratings in hundredths (100..500): the votes are blended with
// `prior_weight` imaginary votes at `prior_mean`, so one 5-star vote moves a newcomer only a
// little and many votes dominate the prior. Integer arithmetic, rounded down. With no votes it is
// the prior mean.
uint16_t bayesian_rating(uint64_t count, uint64_t sum, uint64_t prior_weight = 5,
                         uint16_t prior_mean_x100 = 300);

struct Profile {
  Address id;
  uint64_t ratings = 0;     // votes received
  uint64_t rating_sum = 0;  // their sum, 1..5 each
  uint16_t rating = 300;    // bayesian_rating of the above, hundredths
  // As a provider: deals made, how they ended, and how many ever became active.
  uint64_t provided = 0;
  uint64_t provided_active = 0;
  // As a requester.
  uint64_t requested = 0;
  std::array<uint64_t, 7> closed_by_reason{};  // indexed by ledger::CloseReason, both roles
  std::map<std::string, std::string> preferences;

  // Of the provider's closed deals, the share (per mille) that became active: a measure of how
  // reliably it serves. 1000 with no history.
  uint32_t provider_uptime_per_mille() const;
};

class Profiles {
 public:
  // `ledger` must outlive the profiles; ratings are read from it.
  explicit Profiles(const ledger::Ledger& ledger) : ledger_(ledger) {}

  // The profile of `a`, with its rating refreshed from the ledger.
  Profile get(const Address& a) const;
  // The rating alone (hundredths), for the matcher's rating filters.
  uint16_t rating(const Address& a) const;

  // A deal of the market ended: record it for both parties.
  void record_outcome(const Address& provider, const Address& requester, ledger::CloseReason reason,
                      bool became_active);
  // Stated preferences (a wallet's own settings: preferred countries, ...). Keys and values are
  // bounded: at most 32 keys, 64 bytes each, 256-byte values; false if a bound is exceeded.
  bool set_preference(const Address& a, const std::string& key, const std::string& value);

 private:
  friend struct SnapshotCodec;  // snapshot.cc: writes and restores the history
  const ledger::Ledger& ledger_;
  std::unordered_map<Address, Profile> history_;
};

}  // namespace ipsx::market
