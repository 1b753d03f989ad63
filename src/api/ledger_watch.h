// The ledger watched from a thread of its own: every interval it checks that the ledger is still
// the one the node opened (Ledger::check_identity: on Ethereum the chain id and the contracts'
// code) and reads its head. The node's routes read the last finding without waiting on the
// chain: /v1/health shows it, and while the ledger is unusable the routes that need it answer
// 503 ledger_unavailable with the reason, until a check finds it usable again (docs/node.md).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "core/clock.h"
#include "ledger/ledger.h"

namespace ipsx::api {

struct LedgerFinding {
  bool usable = false;
  std::string reason;  // why not, when not usable
  uint64_t head = 0;   // the latest block's number and time, from the last check that read them
  int64_t head_time_ms = 0;
  int64_t checked_ms = 0;  // when the finding was made (Unix ms)
};

// One look at the ledger, on the caller's thread: identity, then the head.
LedgerFinding inspect(const ledger::Ledger& ledger);

class LedgerWatch {
 public:
  // Checks once before returning (so the first finding is there at once), then every
  // `interval` on its own thread until destroyed.
  explicit LedgerWatch(const ledger::Ledger& ledger, Millis interval = Millis(2'000));
  ~LedgerWatch();
  LedgerWatch(const LedgerWatch&) = delete;
  LedgerWatch& operator=(const LedgerWatch&) = delete;

  LedgerFinding last() const;
  // Checks now, on the caller's thread, and keeps the finding.
  LedgerFinding check();

 private:
  const ledger::Ledger& ledger_;
  Millis interval_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  LedgerFinding last_;
  std::thread thread_;
};

}  // namespace ipsx::api
