// Reading a contract's logs as the chain confirms them, surviving reorganisations.
//
// A LogReader delivers the logs of blocks at least `confirmations` deep (head - confirmations and
// older), each block once, in chain order. It remembers the hash of every block it delivered logs
// from and of the last block it read. On each poll it first checks the newest remembered hash
// against the chain: if the chain has reorganised under it, it walks back to the last remembered
// block that is still canonical, reports every log it delivered from the blocks above as
// `removed` (newest first), and reads the new branch from there. A reorganisation deeper than the
// blocks it remembers is an error (EthErrc::reorg_too_deep): nothing is delivered twice or lost
// silently.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "core/error.h"
#include "eth/rpc.h"

namespace ipsx::eth {

struct LogEvent {
  Log log;
  bool removed = false;  // delivered before, dropped by a reorganisation
};

class LogReader {
 public:
  // `filter.from_block` is where reading starts; `filter.to_block` is ignored (the reader follows
  // the chain). Remembers the last `memory` blocks it read (at least 2 * confirmations + 16).
  LogReader(RpcClient& rpc, LogFilter filter, uint64_t confirmations, uint64_t memory = 256);

  // Everything since the last poll: removals first (newest first), then new logs in chain order.
  Result<std::vector<LogEvent>> poll();

  // The next block the reader will read.
  uint64_t next_block() const { return next_; }

 private:
  Result<void> unwind(std::vector<LogEvent>& out);
  RpcClient& rpc_;
  LogFilter filter_;
  uint64_t confirmations_;
  uint64_t memory_;
  uint64_t next_;
  // Blocks per eth_getLogs (nodes cap the range or the result size): halved while refused,
  // doubled back after each full range read, up to kMaxRange.
  static constexpr uint64_t kMaxRange = 2'000;
  uint64_t range_ = kMaxRange;
  std::map<uint64_t, Hash> hashes_;            // remembered blocks: number -> hash
  std::map<uint64_t, std::vector<Log>> logs_;  // logs delivered from remembered blocks
};

}  // namespace ipsx::eth
