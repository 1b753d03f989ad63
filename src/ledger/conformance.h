// The backend-independent conformance suite's view of a backend: a way to make a fresh ledger
// from a genesis and to move its clock. Each backend registers one ConformanceBackend; the suite
// (conformance_test.cc) runs every test against each.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "ledger/genesis.h"
#include "ledger/ledger.h"

namespace ipsx::ledger {

class LedgerHarness {
 public:
  virtual ~LedgerHarness() = default;
  virtual Ledger& ledger() = 0;
  // Moves the ledger's clock forward (the next block's timestamp reflects it).
  virtual void advance(Millis d) = 0;
  virtual Timestamp now() const = 0;
};

struct ConformanceBackend {
  std::string name;  // used in test names: "embedded", "ethereum"
  // A fresh, empty ledger at genesis `g`, its clock at g.time; or the backend's refusal of the
  // genesis (the suite checks that every backend refuses the same ones with the same error).
  std::function<Result<std::unique_ptr<LedgerHarness>>(const GenesisConfig& g)> make;
};

// The backends the suite runs on (defined by the test binary).
std::vector<ConformanceBackend> conformance_backends();

}  // namespace ipsx::ledger
