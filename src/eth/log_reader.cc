#include "eth/log_reader.h"

#include <fmt/format.h>

#include <algorithm>

#include "eth/eth_error.h"

namespace ipsx::eth {

LogReader::LogReader(RpcClient& rpc, LogFilter filter, uint64_t confirmations, uint64_t memory)
    : rpc_(rpc),
      filter_(std::move(filter)),
      confirmations_(confirmations),
      memory_(std::max<uint64_t>(memory, 2 * confirmations + 16)),
      next_(filter_.from_block) {}

// Drops the remembered blocks the chain no longer has, newest first, reporting their logs as
// removed; reading resumes above the newest block still canonical.
Result<void> LogReader::unwind(std::vector<LogEvent>& out) {
  while (!hashes_.empty()) {
    auto [number, hash] = *hashes_.rbegin();
    auto block = rpc_.block(number, false);
    if (!block) return std::unexpected(block.error());
    if (*block && (*block)->hash == hash) return {};  // the fork is above this block
    if (auto it = logs_.find(number); it != logs_.end()) {
      for (auto l = it->second.rbegin(); l != it->second.rend(); ++l)
        out.push_back(LogEvent{*l, true});
      logs_.erase(it);
    }
    hashes_.erase(number);
    next_ = number;
  }
  if (next_ > filter_.from_block)
    return fail(EthErrc::reorg_too_deep,
                fmt::format("the chain reorganised below block {}, the oldest of the {} blocks "
                            "this log reader remembers",
                            next_, memory_));
  return {};
}

Result<std::vector<LogEvent>> LogReader::poll() {
  std::vector<LogEvent> out;
  if (auto ok = unwind(out); !ok) return std::unexpected(ok.error());
  auto head = rpc_.block_number();
  if (!head) return std::unexpected(head.error());
  if (*head < confirmations_) return out;
  uint64_t safe = *head - confirmations_;
  int retries = 0;
  while (next_ <= safe) {
    uint64_t to = std::min(safe, next_ + range_ - 1);
    LogFilter f = filter_;
    f.from_block = next_;
    f.to_block = to;
    auto logs = rpc_.logs(f);
    const uint64_t span = to - next_ + 1;
    if (!logs && span > 1 &&
        (logs.error().code() == make_error_code(EthErrc::rpc_error) ||
         logs.error().code() == make_error_code(EthErrc::too_large) ||
         logs.error().code() == make_error_code(EthErrc::timeout))) {
      range_ = span / 2;  // a provider that caps eth_getLogs' range, or a busy stretch
      continue;
    }
    if (!logs) return std::unexpected(logs.error());
    if (span == range_ && range_ < kMaxRange) range_ = std::min(kMaxRange, range_ * 2);
    auto last = rpc_.block(to, false);
    if (!last) return std::unexpected(last.error());
    if (!*last) break;  // the chain got shorter meanwhile: the next poll unwinds
    // Every log must come from the blocks the chain has now; a log from a block that was
    // replaced between the two calls means a reorganisation in flight: read the range again.
    std::map<uint64_t, std::vector<Log>> by_block;
    bool consistent = true;
    for (auto& l : *logs) {
      auto b = rpc_.block(l.block, false);
      if (!b) return std::unexpected(b.error());
      if (!*b || (*b)->hash != l.block_hash) {
        consistent = false;
        break;
      }
      by_block[l.block].push_back(std::move(l));
    }
    if (!consistent) {
      if (++retries > 3)
        return fail(EthErrc::bad_response,
                    fmt::format("logs of blocks {}..{} keep disagreeing with the chain's blocks",
                                next_, to));
      continue;
    }
    for (auto& [number, block_logs] : by_block) {
      std::sort(block_logs.begin(), block_logs.end(),
                [](const Log& a, const Log& b) { return a.log_index < b.log_index; });
      hashes_[number] = block_logs.front().block_hash;
      for (const Log& l : block_logs) out.push_back(LogEvent{l, false});
      logs_[number] = std::move(block_logs);
    }
    hashes_[to] = (*last)->hash;
    next_ = to + 1;
  }
  // Forget what is too deep to matter.
  while (hashes_.size() > memory_) {
    logs_.erase(hashes_.begin()->first);
    hashes_.erase(hashes_.begin());
  }
  return out;
}

}  // namespace ipsx::eth
