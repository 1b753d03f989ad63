// The keeper of EthereumLedger: acknowledged transactions watched until they are deep enough,
// sent again when the chain loses them, and the history index re-read from a reorganisation.
//
// A receipt is not the end of a transaction on a real chain: anvil restarted from an older state,
// a node that follows another branch, or evm_revert on a development chain take blocks back, and
// with them transactions the ledger (and the user it answered) counted as done. The keeper holds
// the signed bytes of every transaction it acknowledged until the transaction is keep_depth
// blocks under the head, and each pass checks, block by block, that the block holding it is
// still the one the receipt named. When it is not, it asks where the transaction is now: mined
// again elsewhere (fine), gone with its nonce still free (sent again, the same bytes, so it can
// never be mined twice), or gone with its nonce taken by another transaction or reverted when
// mined again (lost: reported, and its nonce no longer reserved).
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <variant>

#include "core/keccak.h"
#include "eth/eth_error.h"
#include "eth/ethereum_ledger.h"

namespace ipsx::eth {

namespace L = ipsx::ledger;
using ledger::LedgerErrc;

namespace {

bool has(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

std::string short_hash(const Hash& h) {
  return h.hex().substr(0, 18) + "...";
}

}  // namespace

void EthereumLedger::note(const std::string& line) const {
  if (options_.on_note) options_.on_note(line);
}

// ---- The keeper's file ---------------------------------------------------------------------

namespace {

std::string acked_line(const Hash& hash, const Bytes& raw, const Address& from, uint64_t nonce,
                       uint64_t block, const Hash& block_hash) {
  nlohmann::json j = {{"hash", hash.hex()},       {"raw", "0x" + to_hex(raw, false)},
                      {"from", from.to_string()}, {"nonce", nonce},
                      {"block", block},           {"blockHash", block_hash.hex()}};
  return j.dump() + "\n";
}

bool write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return ::fsync(fd) == 0;
}

}  // namespace

Result<size_t> EthereumLedger::keep_in(const std::string& path) {
  std::lock_guard lock(acked_mu_);
  std::ifstream in(path);
  size_t loaded = 0, skipped = 0;
  std::set<Hash> seen;
  for (const Acked& a : acked_) seen.insert(a.hash);
  for (std::string line; in && std::getline(in, line);) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    Acked a;
    std::optional<Hash> hash, block_hash;
    std::optional<Address> from;
    Result<Bytes> raw = std::unexpected(Error(CoreErrc::invalid_argument, "missing"));
    if (j.is_object()) {
      if (auto h = Hash::from_hex(j.value("hash", ""))) hash = *h;
      if (auto h = Hash::from_hex(j.value("blockHash", ""))) block_hash = *h;
      if (auto f = Address::parse(j.value("from", ""))) from = *f;
      raw = from_hex(j.value("raw", ""));
    }
    if (!hash || !block_hash || !from || !raw || !j["nonce"].is_number_unsigned() ||
        !j["block"].is_number_unsigned() || keccak256(ByteView(*raw)) != *hash) {
      ++skipped;  // a torn line (a crash mid-write) or not ours
      continue;
    }
    if (!seen.insert(*hash).second) continue;
    a.hash = *hash;
    a.raw = std::move(*raw);
    a.from = *from;
    a.nonce = j["nonce"].get<uint64_t>();
    a.block = j["block"].get<uint64_t>();
    a.block_hash = *block_hash;
    uint64_t& next = acked_next_[a.from];
    next = std::max(next, a.nonce + 1);
    acked_.push_back(std::move(a));
    ++loaded;
  }
  keep_path_ = path;
  keep_rewrite();  // compacted, torn lines gone; opened for appending
  if (keep_fd_ < 0) {
    return fail(CoreErrc::io_error,
                fmt::format("cannot write the acknowledged transactions to {}", path));
  }
  if (skipped > 0) note(fmt::format("{}: {} unreadable line(s) skipped", path, skipped));
  return loaded;
}

void EthereumLedger::keep_line(const Acked& a) {
  if (keep_fd_ < 0) return;
  if (!write_all(keep_fd_, acked_line(a.hash, a.raw, a.from, a.nonce, a.block, a.block_hash))) {
    note(fmt::format("cannot write to {}: {}", keep_path_, std::strerror(errno)));
  }
}

void EthereumLedger::keep_rewrite() {
  if (keep_path_.empty()) return;
  const std::string tmp = keep_path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  std::string text;
  for (const Acked& a : acked_)
    text += acked_line(a.hash, a.raw, a.from, a.nonce, a.block, a.block_hash);
  bool ok = fd >= 0 && write_all(fd, text);
  if (fd >= 0) ::close(fd);
  if (!ok || ::rename(tmp.c_str(), keep_path_.c_str()) != 0) {
    note(fmt::format("cannot rewrite {}: {}", keep_path_, std::strerror(errno)));
    if (keep_fd_ >= 0) return;  // keep appending to the old file
  }
  if (keep_fd_ >= 0) ::close(keep_fd_);
  keep_fd_ = ::open(keep_path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
}

void EthereumLedger::acknowledge(const SignedTransaction& tx, const TxReceipt& r) {
  std::lock_guard lock(acked_mu_);
  Acked a;
  a.hash = r.tx_hash;
  a.raw = tx.raw();
  a.from = r.from;
  a.nonce = std::visit([](const auto& t) { return t.nonce; }, tx.tx());
  a.block = r.block;
  a.block_hash = r.block_hash;
  uint64_t& next = acked_next_[a.from];
  next = std::max(next, a.nonce + 1);
  keep_line(a);
  acked_.push_back(std::move(a));
  while (acked_.size() > std::max<size_t>(1, options_.keep_max)) acked_.pop_front();
}

EthereumLedger::KeeperStats EthereumLedger::keeper_stats() const {
  std::lock_guard lock(acked_mu_);
  KeeperStats s = keeper_stats_;
  s.watched = acked_.size();
  std::lock_guard h(history_mu_);
  s.reorgs = reorgs_seen_;
  s.replaced = replaced_.load();
  s.batches = batches_sent_.load();
  s.batched = batched_.load();
  s.batches_refused = batches_refused_.load();
  return s;
}

void EthereumLedger::keeper_loop() {
  for (;;) {
    {
      std::unique_lock lock(queue_mu_);
      if (queue_cv_.wait_for(lock, options_.keep_every, [&] { return stopping_; })) return;
    }
    (void)keep_acknowledged();  // a chain that does not answer: the next pass tries again
  }
}

Result<void> EthereumLedger::rewind_history() const {
  std::lock_guard lock(history_mu_);
  if (scanned_hashes_.empty()) return {};
  auto same = [&](uint64_t n, const Hash& h) -> Result<bool> {
    auto b = rpc_->block(n, false);
    if (!b) return std::unexpected(b.error());
    return *b && (*b)->hash == h;
  };
  auto top = std::prev(scanned_hashes_.end());
  auto still = same(top->first, top->second);
  if (!still) return std::unexpected(still.error());
  if (*still) return {};
  // Walk down to the last block both branches share; what is above it is re-read.
  uint64_t fork = options_.deployment.block;
  for (auto it = scanned_hashes_.rbegin(); it != scanned_hashes_.rend(); ++it) {
    auto s = same(it->first, it->second);
    if (!s) return std::unexpected(s.error());
    if (*s) {
      fork = it->first + 1;
      break;
    }
  }
  for (auto& [who, records] : history_) {
    while (!records.empty() && records.back().block >= fork) {
      history_by_id_.erase(records.back().id);
      records.pop_back();
    }
  }
  scanned_hashes_.erase(scanned_hashes_.lower_bound(fork), scanned_hashes_.end());
  scanned_to_ = std::min(scanned_to_, fork);
  ++reorgs_seen_;
  note(fmt::format("the chain changed under block {}: the history index is read again from there",
                   fork));
  return {};
}

Result<EthereumLedger::KeeperStats> EthereumLedger::keep_acknowledged() {
  std::lock_guard pass(keeper_pass_mu_);
  auto head = rpc_->block_number();
  if (!head) return std::unexpected(head.error());
  if (auto r = rewind_history(); !r) return std::unexpected(r.error());
  std::vector<Acked> list;
  {
    std::lock_guard lock(acked_mu_);
    list.assign(acked_.begin(), acked_.end());
  }
  // The blocks the receipts named, each asked once: is it still the same block?
  std::map<uint64_t, std::optional<Hash>> blocks;
  auto block_hash = [&](uint64_t n) -> Result<std::optional<Hash>> {
    auto it = blocks.find(n);
    if (it != blocks.end()) return it->second;
    auto b = rpc_->block(n, false);
    if (!b) return std::unexpected(b.error());
    std::optional<Hash> h = *b ? std::optional<Hash>((*b)->hash) : std::nullopt;
    blocks[n] = h;
    return h;
  };
  std::set<Hash> drop;
  uint64_t resent = 0, back = 0, lost = 0;
  bool identity_checked = false;
  for (Acked& a : list) {
    if (!a.resent) {
      auto h = block_hash(a.block);
      if (!h) return std::unexpected(h.error());
      if (*h && **h == a.block_hash) {
        if (*head >= a.block + options_.keep_depth) drop.insert(a.hash);  // deep enough
        continue;
      }
    }
    // The block is gone or another one: where is the transaction now?
    auto r = rpc_->receipt(a.hash);
    if (!r) return std::unexpected(r.error());
    if (*r) {
      const TxReceipt& now = **r;
      if (!now.success) {
        note(
            fmt::format("transaction {} of {} (acknowledged in block {}) reverted when mined "
                        "again in block {}: lost",
                        a.hash.hex(), a.from.to_string(), a.block, now.block));
        ++lost;
        if (a.resent) done_with(a.from, a.nonce, false);
        drop.insert(a.hash);
        continue;
      }
      if (a.resent) {
        note(fmt::format("transaction {} is on chain again, in block {}", short_hash(a.hash),
                         now.block));
        ++back;
        done_with(a.from, a.nonce, false);
        a.resent = false;
      }
      a.block = now.block;
      a.block_hash = now.block_hash;
      continue;
    }
    // Judged (lost, or sent again) only on the chain the ledger opened: a chain replaced under the
    // same URL (restarted empty, another network) is not where acknowledged transactions belong,
    // and sending them there would replay them. The node reports that chain unusable until the
    // right one is back. (Asked once per pass, and only when a transaction is missing.)
    if (!identity_checked) {
      if (auto same = check_identity(); !same) return std::unexpected(same.error());
      identity_checked = true;
    }
    auto mined = rpc_->transaction_count(a.from, "latest");
    if (!mined) return std::unexpected(mined.error());
    if (*mined > a.nonce) {
      note(
          fmt::format("transaction {} of {} (acknowledged in block {}) is gone and another "
                      "transaction took its nonce {}: lost",
                      a.hash.hex(), a.from.to_string(), a.block, a.nonce));
      ++lost;
      if (a.resent) done_with(a.from, a.nonce, false);
      drop.insert(a.hash);
      continue;
    }
    RpcErrorObject err;
    auto sent = rpc_->send_raw_transaction(a.raw, &err);
    if (!sent && sent.error().code() != make_error_code(EthErrc::rpc_error))
      return std::unexpected(sent.error());  // unreachable: the next pass
    if (!sent && !has(err.message, "already known") && !has(err.message, "known transaction")) {
      note(
          fmt::format("transaction {} (acknowledged in block {}) is no longer on chain; sending "
                      "it again was refused, tried again next time: {}",
                      short_hash(a.hash), a.block, err.message));
      continue;
    }
    if (!a.resent) {
      note(
          fmt::format("transaction {} (acknowledged in block {}) is no longer on chain (a "
                      "rollback or a reorganisation): sent again",
                      short_hash(a.hash), a.block));
      ++resent;
      a.resent = true;
      mark_sent(a.from, a.nonce);
    }
  }

  {
    std::lock_guard lock(acked_mu_);
    std::unordered_map<Hash, const Acked*> seen;
    for (const Acked& a : list) seen[a.hash] = &a;
    std::deque<Acked> kept;
    acked_next_.clear();
    for (Acked& a : acked_) {
      if (drop.contains(a.hash)) continue;
      if (auto it = seen.find(a.hash); it != seen.end()) a = *it->second;
      uint64_t& next = acked_next_[a.from];
      next = std::max(next, a.nonce + 1);
      kept.push_back(std::move(a));
    }
    acked_ = std::move(kept);
    if (!drop.empty()) keep_rewrite();
    keeper_stats_.resent += resent;
    keeper_stats_.back += back;
    keeper_stats_.lost += lost;
  }
  return keeper_stats();
}

void EthereumLedger::confirmer_loop() {
  for (;;) {
    std::deque<Confirming> pending;
    bool stop = false;
    {
      std::unique_lock lock(queue_mu_);
      stop = queue_cv_.wait_for(lock, options_.confirm_poll, [&] { return stopping_; });
      pending.swap(confirming_);
    }
    if (stop) {
      for (Confirming& c : pending)
        c.done(fail(LedgerErrc::shutting_down, "the ledger is closing"));
      return;
    }
    if (pending.empty()) continue;
    confirm(pending);
    std::lock_guard lock(queue_mu_);
    for (Confirming& c : pending) confirming_.push_back(std::move(c));
  }
}

void EthereumLedger::confirm(std::deque<Confirming>& pending) {
  auto head = rpc_->block_number();
  if (!head) return;  // the chain is away: the next pass
  const auto now = std::chrono::steady_clock::now();
  std::deque<Confirming> kept;
  for (Confirming& c : pending) {
    // Not deep enough yet: kept for the next pass, or answered with a timeout past the deadline
    // (a patient one's deadline moves on while its transaction is mined, or its nonce is still
    // free so that the keeper's resending may mine it again).
    auto wait_more = [&](bool mined) {
      if (now > c.deadline && c.patient) {
        bool may_still = mined;
        if (!may_still) {
          auto count = rpc_->transaction_count(c.from, "latest");
          may_still = !count || *count <= c.nonce;
          if (!may_still) {  // the nonce is taken: by this transaction, mined again meanwhile?
            auto again = rpc_->receipt(*c.receipt.chain_tx);
            may_still = !again || again->has_value();
          }
        }
        if (may_still)
          c.deadline = now + options_.send.receipt_timeout *
                                 static_cast<int64_t>(1 + options_.confirmations);
      }
      if (now <= c.deadline) {
        kept.push_back(std::move(c));
        return;
      }
      c.done(fail(EthErrc::timeout,
                  fmt::format("transaction {} was included but did not get {} confirmations by "
                              "the deadline",
                              c.receipt.chain_tx->hex(), options_.confirmations)));
    };
    if (*head < c.receipt.block + options_.confirmations) {
      wait_more(true);
      continue;
    }
    // Deep enough where the receipt said: is it still there?
    auto r = rpc_->receipt(*c.receipt.chain_tx);
    if (!r || !*r) {  // unknown now, or rolled back (the keeper sends it again): wait
      wait_more(!r);  // a chain that does not answer may still have it
      continue;
    }
    const TxReceipt& at = **r;
    if (!at.success) {
      c.done(fail(EthErrc::reverted,
                  fmt::format("transaction {} was taken back and reverted when mined again in "
                              "block {}",
                              at.tx_hash.hex(), at.block)));
      continue;
    }
    if (at.block != c.receipt.block) {  // mined again in another block: its depth counts anew
      c.receipt.block = at.block;
      c.receipt.index = at.index;
      // Its events as mined now: a deal opened again starts at the new block's time.
      if (auto events = to_events(at.logs)) c.receipt.events = std::move(*events);
      for (L::Event& e : c.receipt.events) {
        e.block = at.block;
        e.tx_index = at.index;
      }
      kept.push_back(std::move(c));
      continue;
    }
    c.done(std::move(c.receipt));
  }
  pending.swap(kept);
}

}  // namespace ipsx::eth
