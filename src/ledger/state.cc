#include "ledger/state.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "core/keccak.h"
#include "ledger/rating.h"
#include "ledger/state_util.h"
#include "vocab/usage.h"

namespace ipsx::ledger {
namespace {

// Canonical byte encodings of state entries, for the digest.
class Enc {
 public:
  explicit Enc(std::string_view tag) { buf_.insert(buf_.end(), tag.begin(), tag.end()); }
  Enc& addr(const Address& a) { return raw(a.data(), 20); }
  Enc& hash(const Hash& h) { return raw(h.data(), 32); }
  Enc& u256(const U256& v) {
    auto b = v.to_be_bytes();
    return raw(b.data(), 32);
  }
  Enc& amount(const Amount& a) { return u256(a.base()); }
  Enc& u64(uint64_t v) {
    for (int i = 7; i >= 0; --i) buf_.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Enc& flag(bool b) {
    buf_.push_back(b ? 1 : 0);
    return *this;
  }
  Hash digest() const { return keccak256(ByteView(buf_)); }

 private:
  Enc& raw(const uint8_t* p, size_t n) {
    buf_.insert(buf_.end(), p, p + n);
    return *this;
  }
  std::vector<uint8_t> buf_;
};

}  // namespace

using state_util::dec;

bool State::Account::empty() const {
  return tokens.is_zero() && native.is_zero() && wallet_balance.is_zero() &&
         wallet_reserved.is_zero() && bought.is_zero() && nonce == 0 && !claimed_unsold;
}

// ---- digest bookkeeping -------------------------------------------------------------------------

namespace {

Hash account_hash(const Address& a, const Amount& tokens, const Amount& native, const Amount& wb,
                  const Amount& wr, const Amount& bought, uint64_t nonce, bool claimed) {
  return Enc("acct")
      .addr(a)
      .amount(tokens)
      .amount(native)
      .amount(wb)
      .amount(wr)
      .amount(bought)
      .u64(nonce)
      .flag(claimed)
      .digest();
}

Hash deal_hash(const DealView& d) {
  return Enc("deal")
      .hash(d.id)
      .hash(d.offer_hash)
      .hash(d.request_hash)
      .addr(d.provider)
      .addr(d.requester)
      .addr(d.market)
      .u64(d.fee_bps)
      .u256(d.price_per_second)
      .u64(d.start)
      .u64(d.duration)
      .amount(d.deposit)
      .amount(d.claimed)
      .amount(d.admitted)
      .u64(static_cast<uint64_t>(d.state))
      .u64(static_cast<uint64_t>(d.challenge_ends_ms))
      .u64(static_cast<uint64_t>(d.reason))
      .flag(d.rated_by_provider)
      .flag(d.rated_by_requester)
      .u64(d.usage_count)
      .hash(d.usage_root)
      .digest();
}

}  // namespace

void State::digest_add(const Hash& h) {
  digest_sum_ = digest_sum_.wrapping_add(U256::from_be_bytes(h.bytes()));
}

void State::digest_sub(const Hash& h) {
  digest_sum_ = digest_sum_.wrapping_sub(U256::from_be_bytes(h.bytes()));
}

void State::settle_digest() {
  for (const Address& a : touched_) {
    auto it = accounts_.find(a);
    if (it == accounts_.end()) continue;  // emptied: its old term is gone, no new one
    const Account& v = it->second;
    digest_add(account_hash(a, v.tokens, v.native, v.wallet_balance, v.wallet_reserved, v.bought,
                            v.nonce, v.claimed_unsold));
  }
  touched_.clear();
  deferring_ = false;
  digest_ = Hash(digest_sum_.to_be_bytes());
}

State::Account State::account(const Address& a) const {
  auto it = accounts_.find(a);
  return it == accounts_.end() ? Account{} : it->second;
}

State::OrderUse State::order_use(const Hash& h) const {
  auto it = orders_.find(h);
  return it == orders_.end() ? OrderUse{} : it->second;
}

void State::put_account(const Address& a, const Account& v) {
  auto it = accounts_.find(a);
  if (undo_) {
    undo_->push_back(
        [this, a, old = it == accounts_.end() ? Account{} : it->second] { put_account(a, old); });
  }
  // Outside a transaction (the genesis) every change settles at once.
  bool first = !deferring_ || std::find(touched_.begin(), touched_.end(), a) == touched_.end();
  if (first && it != accounts_.end()) {
    const Account& o = it->second;
    digest_sub(account_hash(a, o.tokens, o.native, o.wallet_balance, o.wallet_reserved, o.bought,
                            o.nonce, o.claimed_unsold));
  }
  if (first && deferring_) touched_.push_back(a);
  if (v.empty()) {
    if (it != accounts_.end()) accounts_.erase(it);
    return;
  }
  if (!deferring_) {
    digest_add(account_hash(a, v.tokens, v.native, v.wallet_balance, v.wallet_reserved, v.bought,
                            v.nonce, v.claimed_unsold));
  }
  if (it != accounts_.end()) {
    it->second = v;
  } else {
    accounts_.emplace(a, v);
  }
}

void State::put_allowance(const Address& owner, const Address& spender, const Amount& v) {
  auto key = std::make_pair(owner, spender);
  auto it = allowances_.find(key);
  if (undo_) {
    undo_->push_back([this, owner, spender, old = it == allowances_.end() ? Amount() : it->second] {
      put_allowance(owner, spender, old);
    });
  }
  if (it != allowances_.end())
    digest_sub(Enc("allw").addr(owner).addr(spender).amount(it->second).digest());
  if (v.is_zero()) {
    if (it != allowances_.end()) allowances_.erase(it);
    return;
  }
  digest_add(Enc("allw").addr(owner).addr(spender).amount(v).digest());
  allowances_[key] = v;
}

// The soft cap and the refunds are hashed only when the sale has a soft cap, so that the state
// digest of a ledger without one is what it was before soft caps existed.
Hash State::sale_hash(const Sale& s) {
  Enc e("sale");
  e.u256(s.rate)
      .amount(s.hard_cap)
      .amount(s.raised)
      .amount(s.sold)
      .amount(s.pool)
      .amount(s.unclaimed)
      .amount(s.unsold_at_finalize)
      .u64(static_cast<uint64_t>(s.start_ms))
      .u64(static_cast<uint64_t>(s.end_ms))
      .flag(s.finalized)
      .addr(s.treasury);
  if (!s.soft_cap.is_zero()) e.amount(s.soft_cap).amount(s.refunded);
  return e.digest();
}

void State::put_sale(const Sale& v) {
  const Sale& o = sale_;
  if (undo_) {
    undo_->push_back([this, old = o] {
      if (!sale_.treasury.is_zero()) digest_sub(sale_hash(sale_));
      if (!old.treasury.is_zero()) digest_add(sale_hash(old));
      sale_ = old;
    });
  }
  if (!o.treasury.is_zero()) digest_sub(sale_hash(o));
  digest_add(sale_hash(v));
  sale_ = v;
}

void State::put_deal(const DealView& d) {
  auto it = deals_.find(d.id);
  if (undo_) {
    std::optional<DealView> old;
    if (it != deals_.end()) old = it->second;
    undo_->push_back([this, id = d.id, old = std::move(old)] {
      if (old) return put_deal(*old);
      digest_sub(deal_hash(deals_.at(id)));
      deals_.erase(id);
    });
  }
  if (it != deals_.end()) digest_sub(deal_hash(it->second));
  digest_add(deal_hash(d));
  deals_[d.id] = d;
}

void State::put_order_use(const Hash& order, const OrderUse& v) {
  auto enc = [&](const OrderUse& u) {
    return Enc("ordr")
        .hash(order)
        .u64(u.fills)
        .amount(u.spent)
        .u64(u.open)
        .flag(u.exclusive_open)
        .digest();
  };
  auto it = orders_.find(order);
  if (undo_) {
    undo_->push_back([this, order, old = it == orders_.end() ? OrderUse{} : it->second] {
      put_order_use(order, old);
    });
  }
  if (it != orders_.end()) digest_sub(enc(it->second));
  if (v.empty()) {
    if (it != orders_.end()) orders_.erase(it);
    return;
  }
  digest_add(enc(v));
  orders_[order] = v;
}

void State::put_cancelled(const Address& owner, const Hash& order) {
  if (!cancelled_.emplace(owner, order).second) return;
  Hash h = Enc("cncl").addr(owner).hash(order).digest();
  digest_add(h);
  if (undo_) {
    undo_->push_back([this, owner, order, h] {
      cancelled_.erase({owner, order});
      digest_sub(h);
    });
  }
}

void State::put_rating(const Address& a, const RatingView& r) {
  auto it = ratings_.find(a);
  if (undo_) {
    std::optional<RatingView> old;
    if (it != ratings_.end()) old = it->second;
    undo_->push_back([this, a, old] {
      if (old) return put_rating(a, *old);
      const RatingView& cur = ratings_.at(a);
      digest_sub(Enc("rate").addr(a).u64(cur.count).u64(cur.sum).digest());
      ratings_.erase(a);
    });
  }
  if (it != ratings_.end())
    digest_sub(Enc("rate").addr(a).u64(it->second.count).u64(it->second.sum).digest());
  digest_add(Enc("rate").addr(a).u64(r.count).u64(r.sum).digest());
  ratings_[a] = r;
}

namespace {
Hash fill_hash(const Hash& request, const Hash& offer) {
  return Enc("fill").hash(request).hash(offer).digest();
}
Hash subnet_hash(const Hash& request, const SubnetKey& subnet) {
  Enc e("subn");
  e.hash(request);
  for (uint8_t b : subnet) e.u64(b);
  return e.digest();
}
}  // namespace

void State::put_fill(const Hash& request, const Hash& offer) {
  if (!fills_.emplace(request, offer).second) return;
  digest_add(fill_hash(request, offer));
  if (undo_) {
    undo_->push_back([this, request, offer] {
      fills_.erase({request, offer});
      digest_sub(fill_hash(request, offer));
    });
  }
}

void State::put_subnet(const Hash& request, const SubnetKey& subnet) {
  if (!subnets_.emplace(request, subnet).second) return;
  digest_add(subnet_hash(request, subnet));
  if (undo_) {
    undo_->push_back([this, request, subnet] {
      subnets_.erase({request, subnet});
      digest_sub(subnet_hash(request, subnet));
    });
  }
}

Hash State::recompute_digest() const {
  U256 sum;
  auto add = [&](const Hash& h) { sum = sum.wrapping_add(U256::from_be_bytes(h.bytes())); };
  for (const auto& [a, v] : accounts_) {
    add(account_hash(a, v.tokens, v.native, v.wallet_balance, v.wallet_reserved, v.bought, v.nonce,
                     v.claimed_unsold));
  }
  for (const auto& [k, v] : allowances_)
    add(Enc("allw").addr(k.first).addr(k.second).amount(v).digest());
  add(sale_hash(sale_));
  for (const auto& [id, d] : deals_) add(deal_hash(d));
  for (const auto& [h, u] : orders_) {
    add(Enc("ordr")
            .hash(h)
            .u64(u.fills)
            .amount(u.spent)
            .u64(u.open)
            .flag(u.exclusive_open)
            .digest());
  }
  for (const auto& [owner, h] : cancelled_) add(Enc("cncl").addr(owner).hash(h).digest());
  for (const auto& [a, r] : ratings_) add(Enc("rate").addr(a).u64(r.count).u64(r.sum).digest());
  for (const auto& [req, offer] : fills_) add(fill_hash(req, offer));
  for (const auto& [req, subnet] : subnets_) add(subnet_hash(req, subnet));
  return Hash(sum.to_be_bytes());
}

// ---- genesis --------------------------------------------------------------------------------

Result<State> State::genesis(const GenesisConfig& g) {
  if (auto v = g.validate(); !v) return std::unexpected(v.error());
  State s;
  s.chain_id_ = g.chain_id;
  s.domain_ = ledger_domain(g.chain_id, embedded_verifying_contract(g.hash()));
  s.domain_separator_ = s.domain_.separator();
  s.challenge_ms_ = g.challenge_period.count();
  s.total_supply_ = *Amount::from_tokens(kTotalSupplyTokens);
  s.early_ = g.early_adopters;
  s.bounty_ = g.bounty;
  s.team_ = g.team;
  auto give = [&](const Address& a, uint64_t tokens) {
    Account acc = s.account(a);
    acc.tokens = *acc.tokens.add(*Amount::from_tokens(tokens));
    s.put_account(a, acc);
  };
  give(g.early_adopters, kEarlyAdopterTokens);
  give(g.bounty, kBountyTokens);
  give(g.team, kTeamTokens);
  Sale sale;
  sale.rate = g.sale.rate;
  sale.hard_cap = g.sale.hard_cap;
  sale.soft_cap = g.sale.soft_cap;
  sale.pool = *Amount::from_tokens(kSaleTokens);
  sale.start_ms = to_unix_ms(g.sale.start);
  sale.end_ms = to_unix_ms(g.sale.end);
  sale.treasury = g.sale.treasury;
  s.put_sale(sale);
  for (const auto& [a, amount] : g.native) {
    Account acc = s.account(a);
    auto n = acc.native.add(amount);
    if (!n) return fail(LedgerErrc::overflow, "genesis native balances overflow");
    acc.native = *n;
    s.put_account(a, acc);
    auto t = s.native_total_.add(amount);
    if (!t) return fail(LedgerErrc::overflow, "genesis native balances overflow");
    s.native_total_ = *t;
  }
  s.settle_digest();
  return s;
}

// ---- views ------------------------------------------------------------------------------------

Amount State::balance_of(const Address& a) const {
  return account(a).tokens;
}
Amount State::native_balance(const Address& a) const {
  return account(a).native;
}
uint64_t State::nonce_of(const Address& a) const {
  return account(a).nonce;
}
Amount State::bought(const Address& a) const {
  return account(a).bought;
}
Amount State::native_total() const {
  return native_total_;
}

Amount State::allowance(const Address& owner, const Address& spender) const {
  auto it = allowances_.find({owner, spender});
  return it == allowances_.end() ? Amount() : it->second;
}

WalletView State::wallet(const Address& a) const {
  Account acc = account(a);
  return {acc.wallet_balance, acc.wallet_reserved};
}

SaleView State::sale() const {
  SaleView v;
  v.rate = sale_.rate;
  v.hard_cap = sale_.hard_cap;
  v.soft_cap = sale_.soft_cap;
  v.raised = sale_.raised;
  v.refunded = sale_.refunded;
  v.sold = sale_.sold;
  v.pool = sale_.pool;
  v.unclaimed = sale_.unclaimed;
  v.start_ms = sale_.start_ms;
  v.end_ms = sale_.end_ms;
  v.finalized = sale_.finalized;
  v.treasury = sale_.treasury;
  return v;
}

std::optional<DealView> State::deal(const Hash& id) const {
  auto it = deals_.find(id);
  if (it == deals_.end()) return std::nullopt;
  return it->second;
}

RatingView State::rating(const Address& a) const {
  auto it = ratings_.find(a);
  return it == ratings_.end() ? RatingView{} : it->second;
}

bool State::order_cancelled(const Address& owner, const Hash& order) const {
  return cancelled_.contains({owner, order});
}

SupplyView State::supply() const {
  SupplyView v;
  for (const auto& [a, acc] : accounts_) {
    v.accounts = *v.accounts.add(acc.tokens);
    v.wallet_balances = *v.wallet_balances.add(acc.wallet_balance);
    v.wallet_reserved = *v.wallet_reserved.add(acc.wallet_reserved);
  }
  v.sale_pool = sale_.pool;
  v.unclaimed = sale_.unclaimed;
  v.total = total_supply_;
  return v;
}

std::vector<Address> State::accounts() const {
  std::vector<Address> out;
  for (const auto& [a, _] : accounts_) out.push_back(a);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<DealView> State::deals() const {
  std::vector<DealView> out;
  for (const auto& [_, d] : deals_) out.push_back(d);
  std::sort(out.begin(), out.end(),
            [](const DealView& a, const DealView& b) { return a.id < b.id; });
  return out;
}

Result<void> State::check_invariants() const {
  SupplyView s = supply();
  if (!s.conserved()) {
    return fail(LedgerErrc::storage,
                fmt::format("token supply not conserved: accounts {} + wallets {} + reserved {} + "
                            "pool {} + unclaimed {} != {}",
                            dec(s.accounts), dec(s.wallet_balances), dec(s.wallet_reserved),
                            dec(s.sale_pool), dec(s.unclaimed), dec(s.total)));
  }
  Amount native;
  for (const auto& [a, acc] : accounts_) native = *native.add(acc.native);
  native = *native.add(sale_held());
  if (native != native_total_) {
    return fail(LedgerErrc::storage, fmt::format("native coin not conserved: {} != {}", dec(native),
                                                 dec(native_total_)));
  }
  std::unordered_map<Address, Amount> owed;
  for (const auto& [id, d] : deals_) {
    if (d.state == DealState::closed) continue;
    auto left = d.deposit.sub(d.claimed);
    if (!left)
      return fail(LedgerErrc::storage, "deal " + d.id.hex() + " has paid out over its deposit");
    auto sum = owed[d.requester].add(*left);
    if (!sum) return fail(LedgerErrc::storage, "the reserves owed overflow");
    owed[d.requester] = *sum;
  }
  for (const auto& [a, acc] : accounts_) {
    if (acc.wallet_reserved != owed[a]) {
      return fail(LedgerErrc::storage,
                  fmt::format("reserve of {} is {} but its open deals hold {}", a.to_string(),
                              dec(acc.wallet_reserved), dec(owed[a])));
    }
  }
  return {};
}

// ---- apply ------------------------------------------------------------------------------------

Result<std::vector<Event>> State::apply(const UnsignedTx& tx, int64_t now_ms,
                                        std::optional<Hash>* deal_id) {
  if (tx.chain_id != chain_id_) {
    return fail(LedgerErrc::wrong_chain,
                fmt::format("transaction is for chain {}, this ledger is chain {}", tx.chain_id,
                            chain_id_));
  }
  uint64_t expected = nonce_of(tx.from);
  if (tx.nonce != expected) {
    return fail(LedgerErrc::bad_nonce,
                fmt::format("nonce {} for {}: expected {} ({})", tx.nonce, tx.from.to_string(),
                            expected, tx.nonce < expected ? "replayed" : "skipped"));
  }
  deferring_ = true;
  auto events = apply_op(tx.from, tx.op, now_ms, deal_id);
  if (events) {
    Account acc = account(tx.from);
    acc.nonce = expected + 1;
    put_account(tx.from, acc);
  }
  settle_digest();
  return events;
}

}  // namespace ipsx::ledger
