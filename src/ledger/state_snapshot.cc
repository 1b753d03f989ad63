// A snapshot of the state's entries (State::snapshot, State::restore): what a restart loads
// instead of replaying every block from genesis (EmbeddedLedger, docs/ledger.md "Snapshots").
// Binary: a magic and version, then each table as a count and its records; integers
// little-endian, amounts as a length byte and their significant big-endian bytes, addresses and
// hashes as their bytes. What the genesis fixes (chain, domain, supply, the three allocations,
// the challenge period) is not in it: restore() runs on a State made from the same genesis. The
// digest is not in it either: restore() recomputes it from the entries, and the caller compares
// it with the block's header.
#include <fmt/format.h>

#include <stdexcept>

#include "ledger/binary_io.h"
#include "ledger/ledger_error.h"
#include "ledger/state.h"

namespace ipsx::ledger {
namespace {

using binary::Bad;
using binary::Reader;
using binary::Writer;

constexpr std::string_view kMagic = "ipsx-state-1";

void write_deal(Writer& w, const DealView& d) {
  w.hash(d.id);
  w.hash(d.offer_hash);
  w.hash(d.request_hash);
  w.addr(d.provider);
  w.addr(d.requester);
  w.addr(d.market);
  w.u64(d.fee_bps);
  w.u256(d.price_per_second);
  w.u64(d.start);
  w.u64(d.duration);
  w.amount(d.deposit);
  w.amount(d.claimed);
  w.amount(d.admitted);
  w.u8(static_cast<uint8_t>(d.state));
  w.i64(d.challenge_ends_ms);
  w.u8(static_cast<uint8_t>(d.reason));
  w.flag(d.rated_by_provider);
  w.flag(d.rated_by_requester);
  w.u64(d.usage_count);
  w.hash(d.usage_root);
}

DealView read_deal(Reader& r) {
  DealView d;
  d.id = r.hash();
  d.offer_hash = r.hash();
  d.request_hash = r.hash();
  d.provider = r.addr();
  d.requester = r.addr();
  d.market = r.addr();
  uint64_t fee = r.u64();
  if (fee > 10'000) throw Bad("a deal's fee is over 10,000 bps");
  d.fee_bps = static_cast<uint16_t>(fee);
  d.price_per_second = r.u256();
  d.start = r.u64();
  d.duration = r.u64();
  d.deposit = r.amount();
  d.claimed = r.amount();
  d.admitted = r.amount();
  uint8_t state = r.u8();
  if (state > static_cast<uint8_t>(DealState::closed)) throw Bad("a deal's state is unknown");
  d.state = static_cast<DealState>(state);
  d.challenge_ends_ms = r.i64();
  uint8_t reason = r.u8();
  if (reason > static_cast<uint8_t>(kMaxCloseReason)) throw Bad("a deal's close reason is unknown");
  d.reason = static_cast<CloseReason>(reason);
  d.rated_by_provider = r.flag();
  d.rated_by_requester = r.flag();
  d.usage_count = r.u64();
  d.usage_root = r.hash();
  return d;
}

}  // namespace

std::string State::snapshot() const {
  Writer w;
  w.raw(kMagic);
  w.amount(native_total_);
  w.u64(accounts_.size());
  for (const auto& [a, v] : accounts_) {
    w.addr(a);
    w.amount(v.tokens);
    w.amount(v.native);
    w.amount(v.wallet_balance);
    w.amount(v.wallet_reserved);
    w.amount(v.bought);
    w.u64(v.nonce);
    w.flag(v.claimed_unsold);
  }
  w.u64(allowances_.size());
  for (const auto& [k, v] : allowances_) {
    w.addr(k.first);
    w.addr(k.second);
    w.amount(v);
  }
  w.u256(sale_.rate);
  for (const Amount* a :
       {&sale_.hard_cap, &sale_.raised, &sale_.sold, &sale_.pool, &sale_.unclaimed,
        &sale_.unsold_at_finalize, &sale_.soft_cap, &sale_.refunded})
    w.amount(*a);
  w.i64(sale_.start_ms);
  w.i64(sale_.end_ms);
  w.flag(sale_.finalized);
  w.addr(sale_.treasury);
  w.u64(deals_.size());
  for (const auto& [id, d] : deals_) write_deal(w, d);
  w.u64(orders_.size());
  for (const auto& [h, u] : orders_) {
    w.hash(h);
    w.u64(u.fills);
    w.amount(u.spent);
    w.u64(u.open);
    w.flag(u.exclusive_open);
  }
  w.u64(cancelled_.size());
  for (const auto& [owner, h] : cancelled_) {
    w.addr(owner);
    w.hash(h);
  }
  w.u64(ratings_.size());
  for (const auto& [a, r] : ratings_) {
    w.addr(a);
    w.u64(r.count);
    w.u64(r.sum);
  }
  w.u64(fills_.size());
  for (const auto& [req, offer] : fills_) {
    w.hash(req);
    w.hash(offer);
  }
  w.u64(subnets_.size());
  for (const auto& [req, subnet] : subnets_) {
    w.hash(req);
    w.bytes(subnet);
  }
  return w.take();
}

size_t State::entries() const {
  return accounts_.size() + allowances_.size() + deals_.size() + orders_.size() +
         cancelled_.size() + ratings_.size() + fills_.size() + subnets_.size();
}

Result<void> State::restore(std::string_view body, const Hash& expected_digest) {
  State s = *this;  // the genesis' constants; the entries are replaced
  try {
    Reader r(body);
    r.expect(kMagic);
    s.native_total_ = r.amount();
    s.accounts_.clear();
    for (uint64_t n = r.count(20 + 5 + 9), i = 0; i < n; ++i) {
      Address a = r.addr();
      Account v;
      v.tokens = r.amount();
      v.native = r.amount();
      v.wallet_balance = r.amount();
      v.wallet_reserved = r.amount();
      v.bought = r.amount();
      v.nonce = r.u64();
      v.claimed_unsold = r.flag();
      s.accounts_[a] = v;
    }
    s.allowances_.clear();
    for (uint64_t n = r.count(41), i = 0; i < n; ++i) {
      Address owner = r.addr(), spender = r.addr();
      s.allowances_[{owner, spender}] = r.amount();
    }
    s.sale_.rate = r.u256();
    for (Amount* a :
         {&s.sale_.hard_cap, &s.sale_.raised, &s.sale_.sold, &s.sale_.pool, &s.sale_.unclaimed,
          &s.sale_.unsold_at_finalize, &s.sale_.soft_cap, &s.sale_.refunded})
      *a = r.amount();
    s.sale_.start_ms = r.i64();
    s.sale_.end_ms = r.i64();
    s.sale_.finalized = r.flag();
    s.sale_.treasury = r.addr();
    s.deals_.clear();
    for (uint64_t n = r.count(96 + 60), i = 0; i < n; ++i) {
      DealView d = read_deal(r);
      s.deals_[d.id] = d;
    }
    s.orders_.clear();
    for (uint64_t n = r.count(32 + 8 + 1 + 8 + 1), i = 0; i < n; ++i) {
      Hash h = r.hash();
      OrderUse u;
      u.fills = r.u64();
      u.spent = r.amount();
      uint64_t open = r.u64();
      if (open > UINT32_MAX) throw Bad("an offer's open count is out of range");
      u.open = static_cast<uint32_t>(open);
      u.exclusive_open = r.flag();
      s.orders_[h] = u;
    }
    s.cancelled_.clear();
    for (uint64_t n = r.count(52), i = 0; i < n; ++i) {
      Address owner = r.addr();
      s.cancelled_.emplace(owner, r.hash());
    }
    s.ratings_.clear();
    for (uint64_t n = r.count(36), i = 0; i < n; ++i) {
      Address a = r.addr();
      RatingView v;
      v.count = r.u64();
      v.sum = r.u64();
      s.ratings_[a] = v;
    }
    s.fills_.clear();
    for (uint64_t n = r.count(64), i = 0; i < n; ++i) {
      Hash req = r.hash();
      s.fills_.emplace(req, r.hash());
    }
    s.subnets_.clear();
    for (uint64_t n = r.count(38), i = 0; i < n; ++i) {
      Hash req = r.hash();
      SubnetKey subnet;
      r.bytes(subnet);
      s.subnets_.emplace(req, subnet);
    }
    if (!r.done()) throw Bad("bytes after the last table");
  } catch (const Bad& e) {
    return fail(LedgerErrc::storage, fmt::format("state snapshot: {}", e.what()));
  }
  s.digest_ = s.recompute_digest();
  s.digest_sum_ = U256::from_be_bytes(s.digest_.bytes());
  // The digest first: a state that is its block's was made by apply(), whose sums the invariant
  // check may then take for granted.
  if (s.digest_ != expected_digest)
    return fail(LedgerErrc::storage, "state snapshot: its state digest is not its block's");
  if (auto inv = s.check_invariants(); !inv)
    return fail(LedgerErrc::storage, "state snapshot: " + inv.error().message());
  *this = std::move(s);
  return {};
}

}  // namespace ipsx::ledger
