#include "ledger/state.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "core/keccak.h"
#include "ledger/rating.h"
#include "ledger/usage.h"

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

std::string dec(const Amount& a) {
  return a.base().to_dec();
}

Event make_event(EventKind kind, std::vector<Address> accounts,
                 std::vector<std::pair<std::string, std::string>> fields,
                 std::optional<Hash> deal = std::nullopt) {
  Event e;
  e.kind = kind;
  e.accounts = std::move(accounts);
  e.fields = std::move(fields);
  e.deal = deal;
  return e;
}

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

// Unwraps a Result<Amount> inside an op, mapping core overflow to LedgerErrc::overflow.
#define IPSX_TRY_AMOUNT(var, expr)                                            \
  auto var##_r = (expr);                                                      \
  if (!var##_r) return fail(LedgerErrc::overflow, var##_r.error().message()); \
  Amount var = *var##_r

}  // namespace

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
  digest_ = Hash(digest_sum_.to_be_bytes());
}

void State::digest_sub(const Hash& h) {
  digest_sum_ = digest_sum_.wrapping_sub(U256::from_be_bytes(h.bytes()));
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
  if (it != accounts_.end()) {
    const Account& o = it->second;
    digest_sub(account_hash(a, o.tokens, o.native, o.wallet_balance, o.wallet_reserved, o.bought,
                            o.nonce, o.claimed_unsold));
  }
  if (v.empty()) {
    if (it != accounts_.end()) accounts_.erase(it);
    return;
  }
  digest_add(account_hash(a, v.tokens, v.native, v.wallet_balance, v.wallet_reserved, v.bought,
                          v.nonce, v.claimed_unsold));
  accounts_[a] = v;
}

void State::put_allowance(const Address& owner, const Address& spender, const Amount& v) {
  auto key = std::make_pair(owner, spender);
  auto it = allowances_.find(key);
  if (it != allowances_.end())
    digest_sub(Enc("allw").addr(owner).addr(spender).amount(it->second).digest());
  if (v.is_zero()) {
    if (it != allowances_.end()) allowances_.erase(it);
    return;
  }
  digest_add(Enc("allw").addr(owner).addr(spender).amount(v).digest());
  allowances_[key] = v;
}

namespace {
Hash sale_hash(const U256& rate, const Amount& cap, const Amount& raised, const Amount& sold,
               const Amount& pool, const Amount& unclaimed, const Amount& unsold, int64_t start,
               int64_t end, bool finalized, const Address& treasury) {
  return Enc("sale")
      .u256(rate)
      .amount(cap)
      .amount(raised)
      .amount(sold)
      .amount(pool)
      .amount(unclaimed)
      .amount(unsold)
      .u64(static_cast<uint64_t>(start))
      .u64(static_cast<uint64_t>(end))
      .flag(finalized)
      .addr(treasury)
      .digest();
}
}  // namespace

void State::put_sale(const Sale& v) {
  const Sale& o = sale_;
  if (!o.treasury.is_zero()) {
    digest_sub(sale_hash(o.rate, o.hard_cap, o.raised, o.sold, o.pool, o.unclaimed,
                         o.unsold_at_finalize, o.start_ms, o.end_ms, o.finalized, o.treasury));
  }
  digest_add(sale_hash(v.rate, v.hard_cap, v.raised, v.sold, v.pool, v.unclaimed,
                       v.unsold_at_finalize, v.start_ms, v.end_ms, v.finalized, v.treasury));
  sale_ = v;
}

void State::put_deal(const DealView& d) {
  auto it = deals_.find(d.id);
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
  if (it != orders_.end()) digest_sub(enc(it->second));
  if (v.empty()) {
    if (it != orders_.end()) orders_.erase(it);
    return;
  }
  digest_add(enc(v));
  orders_[order] = v;
}

void State::put_cancelled(const Address& owner, const Hash& order) {
  if (cancelled_.emplace(owner, order).second)
    digest_add(Enc("cncl").addr(owner).hash(order).digest());
}

void State::put_rating(const Address& a, const RatingView& r) {
  auto it = ratings_.find(a);
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
  if (fills_.emplace(request, offer).second) digest_add(fill_hash(request, offer));
}

void State::put_subnet(const Hash& request, const SubnetKey& subnet) {
  if (subnets_.emplace(request, subnet).second) digest_add(subnet_hash(request, subnet));
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
  const Sale& s = sale_;
  add(sale_hash(s.rate, s.hard_cap, s.raised, s.sold, s.pool, s.unclaimed, s.unsold_at_finalize,
                s.start_ms, s.end_ms, s.finalized, s.treasury));
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
  v.raised = sale_.raised;
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
  if (native != native_total_) {
    return fail(LedgerErrc::storage, fmt::format("native coin not conserved: {} != {}", dec(native),
                                                 dec(native_total_)));
  }
  std::unordered_map<Address, Amount> owed;
  for (const auto& [id, d] : deals_) {
    if (d.state == DealState::closed) continue;
    owed[d.requester] = *owed[d.requester].add(*d.deposit.sub(d.claimed));
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
  auto events = apply_op(tx.from, tx.op, now_ms, deal_id);
  if (!events) return events;
  Account acc = account(tx.from);
  acc.nonce = expected + 1;
  put_account(tx.from, acc);
  return events;
}

Result<void> State::verify_proof(const DealView& d, const Amount& amount,
                                 const crypto::Signature& requester_sig) const {
  Hash digest =
      crypto::eip712::digest(domain_separator_, BalanceProof{d.id, amount.base()}.struct_hash());
  auto signer = crypto::recover(digest, requester_sig);
  if (!signer || *signer != d.requester) {
    return fail(LedgerErrc::bad_balance_proof,
                "balance proof is not signed by the deal's requester");
  }
  return {};
}

// Pays `delta` from the deal: commission to the market, the rest to the provider, all from the
// requester's reserve. Checks every sum before changing anything.
Result<std::vector<Event>> State::pay(DealView& d, const Amount& delta,
                                      std::vector<Event>& events) {
  if (delta.is_zero()) return events;
  IPSX_TRY_AMOUNT(fee, delta.mul_div(d.fee_bps, 10'000));
  Amount to_provider = *delta.sub(fee);
  Account req = account(d.requester);
  IPSX_TRY_AMOUNT(reserved, req.wallet_reserved.sub(delta));
  IPSX_TRY_AMOUNT(claimed, d.claimed.add(delta));
  Account prov = account(d.provider);
  IPSX_TRY_AMOUNT(prov_balance, prov.wallet_balance.add(to_provider));
  // Balances are bounded by the supply, so the market's sum cannot overflow either; checked
  // anyway, before anything changes.
  IPSX_TRY_AMOUNT(mkt_check, account(d.market).wallet_balance.add(delta));
  (void)mkt_check;
  req.wallet_reserved = reserved;
  put_account(d.requester, req);
  prov = account(d.provider);
  prov.wallet_balance = prov_balance;
  put_account(d.provider, prov);
  Account mkt = account(d.market);
  IPSX_TRY_AMOUNT(mkt_balance, mkt.wallet_balance.add(fee));
  mkt.wallet_balance = mkt_balance;
  put_account(d.market, mkt);
  d.claimed = claimed;
  events.push_back(make_event(EventKind::claimed, {d.provider, d.requester, d.market},
                              {{"amount", dec(claimed)}, {"paid", dec(delta)}, {"fee", dec(fee)}},
                              d.id));
  return events;
}

Result<void> State::finish_deal(DealView& d, const std::string& how, CloseReason reason,
                                std::vector<Event>& events) {
  Amount refund = *d.deposit.sub(d.claimed);
  Account req = account(d.requester);
  req.wallet_reserved = *req.wallet_reserved.sub(refund);
  req.wallet_balance = *req.wallet_balance.add(refund);
  put_account(d.requester, req);
  OrderUse offer = order_use(d.offer_hash);
  if (offer.open > 0) --offer.open;
  offer.exclusive_open = false;
  put_order_use(d.offer_hash, offer);
  d.state = DealState::closed;
  d.reason = reason;
  put_deal(d);
  events.push_back(make_event(EventKind::deal_closed, {d.provider, d.requester, d.market},
                              {{"how", how},
                               {"reason", to_string(reason)},
                               {"paid", dec(d.claimed)},
                               {"refunded", dec(refund)}},
                              d.id));
  return {};
}

Result<std::vector<Event>> State::apply_op(const Address& from, const Op& op, int64_t now_ms,
                                           std::optional<Hash>* deal_id) {
  std::vector<Event> events;
  const uint64_t now_s = static_cast<uint64_t>(now_ms / 1000);
  auto locked = [&]() -> Result<void> {
    if (!sale_.finalized) {
      return fail(LedgerErrc::transfers_locked, "tokens move only after the sale is finalized");
    }
    return {};
  };
  auto insufficient = [](std::string_view what, const Amount& have, const Amount& need) {
    return fail(LedgerErrc::insufficient_funds,
                fmt::format("{} is {} but {} is needed", what, have.to_string(), need.to_string()));
  };
  // A close's reason is checked first, as the contract does (docs/ledger.md).
  auto check_reason = [](CloseReason r) -> Result<void> {
    if (static_cast<uint8_t>(r) > static_cast<uint8_t>(kMaxCloseReason)) {
      return fail(LedgerErrc::invalid_argument,
                  fmt::format("close reason must be 0..{}, not {}",
                              static_cast<unsigned>(kMaxCloseReason), static_cast<unsigned>(r)));
    }
    return {};
  };
  auto find_deal = [&](const Hash& id) -> Result<DealView> {
    auto it = deals_.find(id);
    if (it == deals_.end()) return fail(LedgerErrc::unknown_deal, "no deal " + id.hex());
    return it->second;
  };
  auto move_tokens = [&](const Address& src, const Address& dst,
                         const Amount& amount) -> Result<void> {
    Account s = account(src);
    if (s.tokens < amount) return insufficient("token balance", s.tokens, amount);
    if (src == dst) return {};
    Account t = account(dst);
    IPSX_TRY_AMOUNT(nt, t.tokens.add(amount));
    s.tokens = *s.tokens.sub(amount);
    put_account(src, s);
    t = account(dst);
    t.tokens = nt;
    put_account(dst, t);
    return {};
  };

  return std::visit(
      Overloaded{
          [&](const Transfer& t) -> Result<std::vector<Event>> {
            if (auto r = locked(); !r) return std::unexpected(r.error());
            if (t.to.is_zero())
              return fail(LedgerErrc::invalid_argument, "transfer to the zero address");
            if (auto r = move_tokens(from, t.to, t.amount); !r) return std::unexpected(r.error());
            events.push_back(make_event(
                EventKind::transfer, {from, t.to},
                {{"from", from.to_string()}, {"to", t.to.to_string()}, {"amount", dec(t.amount)}}));
            return events;
          },
          [&](const Approve& a) -> Result<std::vector<Event>> {
            if (a.spender.is_zero())
              return fail(LedgerErrc::invalid_argument, "approve of the zero address");
            put_allowance(from, a.spender, a.amount);
            events.push_back(make_event(EventKind::approval, {from, a.spender},
                                        {{"owner", from.to_string()},
                                         {"spender", a.spender.to_string()},
                                         {"amount", dec(a.amount)}}));
            return events;
          },
          [&](const TransferFrom& t) -> Result<std::vector<Event>> {
            if (auto r = locked(); !r) return std::unexpected(r.error());
            if (t.to.is_zero())
              return fail(LedgerErrc::invalid_argument, "transfer to the zero address");
            Amount allowed = allowance(t.owner, from);
            if (allowed < t.amount) return insufficient("allowance", allowed, t.amount);
            if (auto r = move_tokens(t.owner, t.to, t.amount); !r)
              return std::unexpected(r.error());
            if (allowed.base() != U256::max()) put_allowance(t.owner, from, *allowed.sub(t.amount));
            events.push_back(make_event(EventKind::transfer, {t.owner, t.to, from},
                                        {{"from", t.owner.to_string()},
                                         {"to", t.to.to_string()},
                                         {"amount", dec(t.amount)},
                                         {"spender", from.to_string()}}));
            return events;
          },
          [&](const Buy& b) -> Result<std::vector<Event>> {
            if (sale_.finalized || now_ms < sale_.start_ms || now_ms >= sale_.end_ms) {
              return fail(LedgerErrc::sale_not_open, sale_.finalized ? "the sale is finalized"
                                                     : now_ms < sale_.start_ms
                                                         ? "the sale has not started"
                                                         : "the sale has ended");
            }
            if (b.value.is_zero()) return fail(LedgerErrc::invalid_argument, "buy of zero");
            Account buyer = account(from);
            if (buyer.native < b.value)
              return insufficient("native balance", buyer.native, b.value);
            IPSX_TRY_AMOUNT(raised, sale_.raised.add(b.value));
            if (raised > sale_.hard_cap) {
              return fail(LedgerErrc::hard_cap_exceeded,
                          fmt::format("raised would be {} of a hard cap of {}", raised.to_string(),
                                      sale_.hard_cap.to_string()));
            }
            IPSX_TRY_AMOUNT(tokens, b.value.mul(sale_.rate));
            if (tokens > sale_.pool)
              return fail(LedgerErrc::hard_cap_exceeded, "the sale pool is exhausted");
            IPSX_TRY_AMOUNT(new_tokens, buyer.tokens.add(tokens));
            IPSX_TRY_AMOUNT(new_bought, buyer.bought.add(tokens));
            buyer.native = *buyer.native.sub(b.value);
            buyer.tokens = new_tokens;
            buyer.bought = new_bought;
            put_account(from, buyer);
            Account treasury = account(sale_.treasury);
            treasury.native = *treasury.native.add(b.value);
            put_account(sale_.treasury, treasury);
            Sale s = sale_;
            s.raised = raised;
            s.sold = *s.sold.add(tokens);
            s.pool = *s.pool.sub(tokens);
            put_sale(s);
            events.push_back(make_event(
                EventKind::purchase, {from, sale_.treasury},
                {{"buyer", from.to_string()}, {"value", dec(b.value)}, {"tokens", dec(tokens)}}));
            return events;
          },
          [&](const FinalizeSale&) -> Result<std::vector<Event>> {
            if (sale_.finalized)
              return fail(LedgerErrc::sale_not_finalizable, "the sale is already finalized");
            if (now_ms < sale_.end_ms && sale_.raised < sale_.hard_cap) {
              return fail(LedgerErrc::sale_not_finalizable,
                          "the sale window is still open and the hard cap is not reached");
            }
            Sale s = sale_;
            s.unsold_at_finalize = s.pool;
            s.unclaimed = *s.unclaimed.add(s.pool);
            s.pool = Amount();
            s.finalized = true;
            put_sale(s);
            events.push_back(
                make_event(EventKind::sale_finalized, {from},
                           {{"sold", dec(s.sold)}, {"unsold", dec(s.unsold_at_finalize)}}));
            return events;
          },
          [&](const ClaimUnsold&) -> Result<std::vector<Event>> {
            if (!sale_.finalized)
              return fail(LedgerErrc::sale_not_finalized, "the sale is not finalized");
            Account buyer = account(from);
            if (buyer.bought.is_zero())
              return fail(LedgerErrc::nothing_to_claim, "never bought in the sale");
            if (buyer.claimed_unsold)
              return fail(LedgerErrc::nothing_to_claim, "unsold share already claimed");
            IPSX_TRY_AMOUNT(
                share, sale_.unsold_at_finalize.mul_div(buyer.bought.base(), sale_.sold.base()));
            IPSX_TRY_AMOUNT(tokens, buyer.tokens.add(share));
            buyer.tokens = tokens;
            buyer.claimed_unsold = true;
            put_account(from, buyer);
            Sale s = sale_;
            s.unclaimed = *s.unclaimed.sub(share);
            put_sale(s);
            events.push_back(make_event(EventKind::unsold_claimed, {from},
                                        {{"buyer", from.to_string()}, {"amount", dec(share)}}));
            return events;
          },
          [&](const Deposit& d) -> Result<std::vector<Event>> {
            if (auto r = locked(); !r) return std::unexpected(r.error());
            if (d.amount.is_zero()) return fail(LedgerErrc::invalid_argument, "deposit of zero");
            Account acc = account(from);
            if (acc.tokens < d.amount) return insufficient("token balance", acc.tokens, d.amount);
            IPSX_TRY_AMOUNT(wb, acc.wallet_balance.add(d.amount));
            acc.tokens = *acc.tokens.sub(d.amount);
            acc.wallet_balance = wb;
            put_account(from, acc);
            events.push_back(
                make_event(EventKind::deposit, {from},
                           {{"account", from.to_string()}, {"amount", dec(d.amount)}}));
            return events;
          },
          [&](const Withdraw& w) -> Result<std::vector<Event>> {
            if (w.amount.is_zero()) return fail(LedgerErrc::invalid_argument, "withdrawal of zero");
            Account acc = account(from);
            if (acc.wallet_balance < w.amount)
              return insufficient("wallet balance", acc.wallet_balance, w.amount);
            IPSX_TRY_AMOUNT(tokens, acc.tokens.add(w.amount));
            acc.wallet_balance = *acc.wallet_balance.sub(w.amount);
            acc.tokens = tokens;
            put_account(from, acc);
            events.push_back(
                make_event(EventKind::withdrawal, {from},
                           {{"account", from.to_string()}, {"amount", dec(w.amount)}}));
            return events;
          },
          [&](const CancelOrder& c) -> Result<std::vector<Event>> {
            if (order_cancelled(from, c.order_hash))
              return fail(LedgerErrc::bad_order, "order already cancelled");
            put_cancelled(from, c.order_hash);
            events.push_back(
                make_event(EventKind::order_cancelled, {from},
                           {{"owner", from.to_string()}, {"order", c.order_hash.hex()}}));
            return events;
          },
          [&](const OpenDeal& o) -> Result<std::vector<Event>> {
            const Offer& offer = o.offer;
            const Request& req = o.request;
            if (from != offer.market || from != req.market) {
              return fail(LedgerErrc::not_a_party,
                          "only the market both orders name may open their deal");
            }
            if (offer.fee_bps != req.fee_bps)
              return fail(LedgerErrc::terms_mismatch, "the orders name different fees");
            if (auto r = validate(offer); !r) return std::unexpected(r.error());
            if (auto r = validate(req); !r) return std::unexpected(r.error());
            Hash offer_hash = offer.struct_hash();
            Hash request_hash = req.struct_hash();
            auto offer_signer = crypto::recover(
                crypto::eip712::digest(domain_separator_, offer_hash), o.offer_signature);
            if (!offer_signer || *offer_signer != offer.provider) {
              return fail(LedgerErrc::bad_order, "offer: signature is not the provider's");
            }
            auto request_signer = crypto::recover(
                crypto::eip712::digest(domain_separator_, request_hash), o.request_signature);
            if (!request_signer || *request_signer != req.requester) {
              return fail(LedgerErrc::bad_order, "request: signature is not the requester's");
            }
            if (order_cancelled(offer.provider, offer_hash))
              return fail(LedgerErrc::bad_order, "offer: cancelled");
            if (order_cancelled(req.requester, request_hash))
              return fail(LedgerErrc::bad_order, "request: cancelled");
            if (now_s > offer.expiry) return fail(LedgerErrc::bad_order, "offer: expired");
            if (now_s > req.expiry) return fail(LedgerErrc::bad_order, "request: expired");
            if (auto r = check_fit(offer, req, o.price_per_second, now_s); !r)
              return std::unexpected(r.error());
            // The minimum ratings, against the ledger's own ratings, as the market's filter.
            if (RatingView pr = rating(offer.provider);
                !meets_minimum(pr, req.min_provider_rating)) {
              return fail(LedgerErrc::terms_mismatch,
                          fmt::format("request: the provider's rating {} is below its minimum {}",
                                      rating_hundredths(pr), req.min_provider_rating));
            }
            if (RatingView rr = rating(req.requester);
                !meets_minimum(rr, offer.min_requester_rating)) {
              return fail(LedgerErrc::terms_mismatch,
                          fmt::format("offer: the requester's rating {} is below its minimum {}",
                                      rating_hundredths(rr), offer.min_requester_rating));
            }
            OrderUse ru = order_use(request_hash);
            OrderUse ou = order_use(offer_hash);
            if (ru.fills >= req.count)
              return fail(LedgerErrc::order_exhausted, "request: every IP is already filled");
            if (ou.open >= offer.capacity)
              return fail(LedgerErrc::order_exhausted, "offer: at capacity");
            if (ou.exclusive_open)
              return fail(LedgerErrc::order_exhausted, "offer: leased exclusively");
            if (req.exclusive && ou.open > 0)
              return fail(LedgerErrc::order_exhausted,
                          "offer: shared, the request wants it exclusively");
            // A request's count is filled by distinct offers: one offer gives it one IP.
            if (fills_.contains({request_hash, offer_hash}))
              return fail(LedgerErrc::order_exhausted, "request: already filled by this offer");
            SubnetKey subnet = subnet_key(offer.ip);
            if (req.distinct_subnets && subnets_.contains({request_hash, subnet})) {
              return fail(LedgerErrc::terms_mismatch,
                          "request: wants distinct subnets and already has an IP in this one");
            }
            auto cost_r = deal_cost(req, o.price_per_second);
            if (!cost_r) return std::unexpected(cost_r.error());
            Amount cost = *cost_r;
            IPSX_TRY_AMOUNT(spent, ru.spent.add(cost));
            if (spent > Amount::from_base(req.budget)) {
              return fail(
                  LedgerErrc::terms_mismatch,
                  fmt::format("request: budget {} would be exceeded ({} spent)",
                              Amount::from_base(req.budget).to_string(), spent.to_string()));
            }
            Account requester = account(req.requester);
            if (requester.wallet_balance < cost)
              return insufficient("requester's wallet balance", requester.wallet_balance, cost);
            IPSX_TRY_AMOUNT(reserved, requester.wallet_reserved.add(cost));
            requester.wallet_balance = *requester.wallet_balance.sub(cost);
            requester.wallet_reserved = reserved;
            put_account(req.requester, requester);
            DealView d;
            d.id = deal_id_for(offer_hash, request_hash, ru.fills);
            d.offer_hash = offer_hash;
            d.request_hash = request_hash;
            d.provider = offer.provider;
            d.requester = req.requester;
            d.market = from;
            d.fee_bps = offer.fee_bps;
            d.price_per_second = o.price_per_second;
            d.start = std::max(now_s, req.start);
            d.duration = req.duration;
            d.deposit = cost;
            put_deal(d);
            ru.fills += 1;
            ru.spent = spent;
            put_order_use(request_hash, ru);
            ou = order_use(offer_hash);
            ou.open += 1;
            ou.exclusive_open = req.exclusive;
            put_order_use(offer_hash, ou);
            put_fill(request_hash, offer_hash);
            if (req.distinct_subnets) put_subnet(request_hash, subnet);
            if (deal_id) *deal_id = d.id;
            events.push_back(make_event(EventKind::deal_opened, {d.provider, d.requester, d.market},
                                        {{"provider", d.provider.to_string()},
                                         {"requester", d.requester.to_string()},
                                         {"market", d.market.to_string()},
                                         {"price", d.price_per_second.to_dec()},
                                         {"duration", std::to_string(d.duration)},
                                         {"deposit", dec(d.deposit)},
                                         {"start", std::to_string(d.start)}},
                                        d.id));
            return events;
          },
          [&](const Claim& c) -> Result<std::vector<Event>> {
            auto d = find_deal(c.deal_id);
            if (!d) return std::unexpected(d.error());
            if (from != d->provider)
              return fail(LedgerErrc::not_a_party, "only the deal's provider claims");
            if (d->state == DealState::closed)
              return fail(LedgerErrc::deal_state, "the deal is closed");
            if (auto r = verify_proof(*d, c.amount, c.requester_signature); !r)
              return std::unexpected(r.error());
            if (c.amount <= d->claimed) {
              return fail(LedgerErrc::bad_balance_proof,
                          fmt::format("proof of {} is not above the {} already claimed",
                                      c.amount.to_string(), d->claimed.to_string()));
            }
            if (c.amount > d->deposit) {
              return fail(LedgerErrc::bad_balance_proof,
                          fmt::format("proof of {} is above the deposit of {}",
                                      c.amount.to_string(), d->deposit.to_string()));
            }
            DealView deal = *d;
            if (auto r = pay(deal, *c.amount.sub(deal.claimed), events); !r) return r;
            put_deal(deal);
            return events;
          },
          [&](const CloseDeal& c) -> Result<std::vector<Event>> {
            if (auto r = check_reason(c.reason); !r) return std::unexpected(r.error());
            auto d = find_deal(c.deal_id);
            if (!d) return std::unexpected(d.error());
            if (from != d->provider)
              return fail(LedgerErrc::not_a_party, "only the deal's provider closes it alone");
            if (d->state == DealState::closed)
              return fail(LedgerErrc::deal_state, "the deal is closed");
            DealView deal = *d;
            if (c.requester_signature) {
              if (auto r = verify_proof(deal, c.amount, *c.requester_signature); !r)
                return std::unexpected(r.error());
              if (c.amount < deal.claimed || c.amount > deal.deposit) {
                return fail(LedgerErrc::bad_balance_proof,
                            "final proof outside claimed .. deposit");
              }
              if (auto r = pay(deal, *c.amount.sub(deal.claimed), events); !r) return r;
            }
            if (auto r = finish_deal(deal, "provider", c.reason, events); !r)
              return std::unexpected(r.error());
            return events;
          },
          [&](const CooperativeClose& c) -> Result<std::vector<Event>> {
            if (auto r = check_reason(c.reason); !r) return std::unexpected(r.error());
            auto d = find_deal(c.deal_id);
            if (!d) return std::unexpected(d.error());
            if (from != d->provider && from != d->requester)
              return fail(LedgerErrc::not_a_party, "not a party to the deal");
            if (d->state == DealState::closed)
              return fail(LedgerErrc::deal_state, "the deal is closed");
            DealView deal = *d;
            if (auto r = verify_proof(deal, c.amount, c.requester_signature); !r)
              return std::unexpected(r.error());
            Hash consent = crypto::eip712::digest(
                domain_separator_, ClosingConsent{deal.id, c.amount.base()}.struct_hash());
            auto p = crypto::recover(consent, c.provider_signature);
            if (!p || *p != deal.provider) {
              return fail(LedgerErrc::bad_balance_proof,
                          "closing consent is not signed by the deal's provider");
            }
            if (c.amount < deal.claimed || c.amount > deal.deposit) {
              return fail(LedgerErrc::bad_balance_proof,
                          "closing amount outside claimed .. deposit");
            }
            if (auto r = pay(deal, *c.amount.sub(deal.claimed), events); !r) return r;
            if (auto r = finish_deal(deal, "cooperative", c.reason, events); !r)
              return std::unexpected(r.error());
            return events;
          },
          [&](const UncooperativeClose& c) -> Result<std::vector<Event>> {
            if (auto r = check_reason(c.reason); !r) return std::unexpected(r.error());
            auto d = find_deal(c.deal_id);
            if (!d) return std::unexpected(d.error());
            if (from != d->requester)
              return fail(LedgerErrc::not_a_party,
                          "only the deal's requester closes it uncooperatively");
            if (d->state != DealState::open)
              return fail(LedgerErrc::deal_state, "the deal is not open");
            if (c.amount < d->claimed || c.amount > d->deposit) {
              return fail(LedgerErrc::bad_balance_proof,
                          "admitted amount outside claimed .. deposit");
            }
            // The genesis bounds the period; a clock near the end of time must not wrap.
            if (now_ms > std::numeric_limits<int64_t>::max() - challenge_ms_) {
              return fail(LedgerErrc::overflow,
                          fmt::format("the challenge period's end overflows (now {} ms + {} ms)",
                                      now_ms, challenge_ms_));
            }
            DealView deal = *d;
            deal.admitted = c.amount;
            deal.state = DealState::closing;
            deal.challenge_ends_ms = now_ms + challenge_ms_;
            deal.reason = c.reason;
            put_deal(deal);
            events.push_back(make_event(EventKind::deal_closing,
                                        {deal.provider, deal.requester, deal.market},
                                        {{"admitted", dec(deal.admitted)},
                                         {"challenge_ends", std::to_string(deal.challenge_ends_ms)},
                                         {"reason", to_string(c.reason)}},
                                        deal.id));
            return events;
          },
          [&](const Settle& s) -> Result<std::vector<Event>> {
            auto d = find_deal(s.deal_id);
            if (!d) return std::unexpected(d.error());
            if (d->state == DealState::open) {
              // An open deal nobody closed ends by itself once its rental and one challenge
              // period after it are over (R3): at the best proof claimed so far, the rest back
              // to the requester. The period is whole seconds, so seconds decide.
              uint64_t rental_end = 0, ends = 0;
              bool far = __builtin_add_overflow(d->start, d->duration, &rental_end) ||
                         __builtin_add_overflow(rental_end,
                                                static_cast<uint64_t>(challenge_ms_ / 1000), &ends);
              if (far || now_s < ends) {
                return fail(LedgerErrc::deal_state,
                            fmt::format("the deal is open until its end plus the challenge "
                                        "period, {} s; now is {} s",
                                        far ? std::numeric_limits<uint64_t>::max() : ends, now_s));
              }
              DealView deal = *d;
              CloseReason reason =
                  deal.claimed.is_zero() ? CloseReason::expired : CloseReason::completed;
              if (auto r = finish_deal(deal, "settled", reason, events); !r)
                return std::unexpected(r.error());
              return events;
            }
            if (d->state != DealState::closing)
              return fail(LedgerErrc::deal_state, "the deal is not in its challenge period");
            if (now_ms < d->challenge_ends_ms) {
              return fail(LedgerErrc::challenge_period,
                          fmt::format("the challenge period ends at {} ms, now is {}",
                                      d->challenge_ends_ms, now_ms));
            }
            DealView deal = *d;
            if (deal.admitted > deal.claimed) {
              if (auto r = pay(deal, *deal.admitted.sub(deal.claimed), events); !r) return r;
            }
            if (auto r = finish_deal(deal, "settled", deal.reason, events); !r)
              return std::unexpected(r.error());
            return events;
          },
          [&](const Rate& r) -> Result<std::vector<Event>> {
            auto d = find_deal(r.deal_id);
            if (!d) return std::unexpected(d.error());
            if (d->state != DealState::closed)
              return fail(LedgerErrc::deal_state, "only a closed deal can be rated");
            bool by_provider = from == d->provider;
            if (!by_provider && from != d->requester)
              return fail(LedgerErrc::not_a_party, "only the deal's parties rate it");
            if (r.score < 1 || r.score > 5) {
              return fail(LedgerErrc::bad_rating, fmt::format("score {} is outside 1..5", r.score));
            }
            if (by_provider ? d->rated_by_provider : d->rated_by_requester) {
              return fail(LedgerErrc::already_rated, "this party already rated the deal");
            }
            DealView deal = *d;
            (by_provider ? deal.rated_by_provider : deal.rated_by_requester) = true;
            put_deal(deal);
            Address of = by_provider ? deal.requester : deal.provider;
            RatingView rv = rating(of);
            rv.count += 1;
            rv.sum += r.score;
            put_rating(of, rv);
            events.push_back(make_event(EventKind::rated, {from, of},
                                        {{"by", from.to_string()},
                                         {"of", of.to_string()},
                                         {"score", std::to_string(r.score)}},
                                        deal.id));
            return events;
          },
          [&](const RecordUsage& u) -> Result<std::vector<Event>> {
            auto d = find_deal(u.deal_id);
            if (!d) return std::unexpected(d.error());
            // The provider's alone: a receipt the requester signed for a bogus log with the
            // largest count, recorded first by the requester, would bar every genuine one.
            if (from != d->provider)
              return fail(LedgerErrc::not_a_party, "usage: only the deal's provider records it");
            if (u.count <= d->usage_count) {
              return fail(LedgerErrc::invalid_argument,
                          fmt::format("usage: {} records do not exceed the {} recorded", u.count,
                                      d->usage_count));
            }
            UsageReceipt receipt{u.deal_id, u.count, u.root};
            auto signer =
                crypto::recover(crypto::eip712::digest(domain_separator_, receipt.struct_hash()),
                                u.requester_signature);
            if (!signer || *signer != d->requester) {
              return fail(LedgerErrc::bad_signature,
                          "usage: the receipt is not signed by the deal's requester");
            }
            DealView deal = *d;
            deal.usage_count = u.count;
            deal.usage_root = u.root;
            put_deal(deal);
            events.push_back(
                make_event(EventKind::usage_recorded, {deal.provider, deal.requester, deal.market},
                           {{"count", std::to_string(u.count)}, {"root", u.root.hex()}}, deal.id));
            return events;
          },
      },
      op);
}

}  // namespace ipsx::ledger
