// The ledger conformance suite (src/ledger/conformance_test.cc, compiled into this program
// unchanged) on the Ethereum backend: each test gets its own anvil, the contracts deployed from
// the build's JSON at the genesis time, the genesis' native coin set with anvil_setBalance, zero
// gas price and base fee (so native coin is conserved exactly), and the test's clock pinned as
// every block's timestamp.
#include <gtest/gtest.h>

#include "eth/anvil_harness.h"
#include "ledger/conformance.h"

namespace ipsx::ledger {

std::vector<ConformanceBackend> conformance_backends() {
  return {{"anvil", [](const GenesisConfig& g) -> Result<std::unique_ptr<LedgerHarness>> {
             auto h = eth::testing::AnvilHarness::create(g);
             if (!h) return std::unexpected(h.error());
             return std::unique_ptr<LedgerHarness>(std::move(*h));
           }}};
}

}  // namespace ipsx::ledger
