// The ledger's operations, one function each (State::apply overloads): what docs/ledger.md
// specifies for every transaction, applied to the state by State::apply_op.
#include <fmt/format.h>

#include "ledger/rating.h"
#include "ledger/state.h"
#include "ledger/state_util.h"
#include "vocab/usage.h"

namespace ipsx::ledger {

using state_util::dec;
using state_util::make_event;

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

namespace {

std::unexpected<Error> insufficient(std::string_view what, const Amount& have, const Amount& need) {
  return fail(LedgerErrc::insufficient_funds,
              fmt::format("{} is {} but {} is needed", what, have.to_string(), need.to_string()));
}

// A close's reason is checked first, as the contract does (docs/ledger.md).
Result<void> check_reason(CloseReason r) {
  if (static_cast<uint8_t>(r) > static_cast<uint8_t>(kMaxCloseReason)) {
    return fail(LedgerErrc::invalid_argument,
                fmt::format("close reason must be 0..{}, not {}",
                            static_cast<unsigned>(kMaxCloseReason), static_cast<unsigned>(r)));
  }
  return {};
}

}  // namespace

Result<void> State::locked() const {
  if (!sale_.finalized) {
    return fail(LedgerErrc::transfers_locked, "tokens move only after the sale is finalized");
  }
  return {};
}

Amount State::sale_held() const {
  return sale_.soft_cap.is_zero() || sale_.finalized ? Amount() : sale_.raised;
}

Result<DealView> State::find_deal(const Hash& id) const {
  auto it = deals_.find(id);
  if (it == deals_.end()) return fail(LedgerErrc::unknown_deal, "no deal " + id.hex());
  return it->second;
}

Result<void> State::move_tokens(const Address& src, const Address& dst, const Amount& amount) {
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
}

// One function per operation (State::apply overloads, below), each with the call's sender, time
// and events.
Result<std::vector<Event>> State::apply_op(const Address& from, const Op& op, int64_t now_ms,
                                           std::optional<Hash>* deal_id) {
  Call call{from, now_ms, static_cast<uint64_t>(now_ms / 1000), deal_id, {}};
  return std::visit([&](const auto& o) { return apply(call, o); }, op);
}

Result<std::vector<Event>> State::apply(Call& call, const Transfer& t) {
  const Address& from = call.from;
  std::vector<Event>& events = call.events;
  if (auto r = locked(); !r) return std::unexpected(r.error());
  if (t.to.is_zero()) return fail(LedgerErrc::invalid_argument, "transfer to the zero address");
  if (auto r = move_tokens(from, t.to, t.amount); !r) return std::unexpected(r.error());
  events.push_back(make_event(
      EventKind::transfer, {from, t.to},
      {{"from", from.to_string()}, {"to", t.to.to_string()}, {"amount", dec(t.amount)}}));
  return events;
}

Result<std::vector<Event>> State::apply(Call& call, const Approve& a) {
  const Address& from = call.from;
  std::vector<Event>& events = call.events;
  if (a.spender.is_zero()) return fail(LedgerErrc::invalid_argument, "approve of the zero address");
  put_allowance(from, a.spender, a.amount);
  events.push_back(make_event(EventKind::approval, {from, a.spender},
                              {{"owner", from.to_string()},
                               {"spender", a.spender.to_string()},
                               {"amount", dec(a.amount)}}));
  return events;
}

Result<std::vector<Event>> State::apply(Call& call, const TransferFrom& t) {
  const Address& from = call.from;
  std::vector<Event>& events = call.events;
  if (auto r = locked(); !r) return std::unexpected(r.error());
  if (t.to.is_zero()) return fail(LedgerErrc::invalid_argument, "transfer to the zero address");
  Amount allowed = allowance(t.owner, from);
  if (allowed < t.amount) return insufficient("allowance", allowed, t.amount);
  if (auto r = move_tokens(t.owner, t.to, t.amount); !r) return std::unexpected(r.error());
  if (allowed.base() != U256::max()) put_allowance(t.owner, from, *allowed.sub(t.amount));
  events.push_back(make_event(EventKind::transfer, {t.owner, t.to, from},
                              {{"from", t.owner.to_string()},
                               {"to", t.to.to_string()},
                               {"amount", dec(t.amount)},
                               {"spender", from.to_string()}}));
  return events;
}

Result<std::vector<Event>> State::apply(Call& call, const Buy& b) {
  const Address& from = call.from;
  const int64_t now_ms = call.now_ms;
  std::vector<Event>& events = call.events;
  if (sale_.finalized || now_ms < sale_.start_ms || now_ms >= sale_.end_ms) {
    return fail(LedgerErrc::sale_not_open, sale_.finalized           ? "the sale is finalized"
                                           : now_ms < sale_.start_ms ? "the sale has not started"
                                                                     : "the sale has ended");
  }
  if (b.value.is_zero()) return fail(LedgerErrc::invalid_argument, "buy of zero");
  Account buyer = account(from);
  if (buyer.native < b.value) return insufficient("native balance", buyer.native, b.value);
  IPSX_TRY_AMOUNT(raised, sale_.raised.add(b.value));
  if (raised > sale_.hard_cap) {
    return fail(LedgerErrc::hard_cap_exceeded,
                fmt::format("raised would be {} of a hard cap of {}", raised.to_string(),
                            sale_.hard_cap.to_string()));
  }
  IPSX_TRY_AMOUNT(tokens, b.value.mul(sale_.rate));
  if (tokens > sale_.pool) return fail(LedgerErrc::hard_cap_exceeded, "the sale pool is exhausted");
  IPSX_TRY_AMOUNT(new_tokens, buyer.tokens.add(tokens));
  IPSX_TRY_AMOUNT(new_bought, buyer.bought.add(tokens));
  buyer.native = *buyer.native.sub(b.value);
  buyer.tokens = new_tokens;
  buyer.bought = new_bought;
  put_account(from, buyer);
  if (sale_.soft_cap.is_zero()) {  // else the sale holds the coin until finalize
    Account treasury = account(sale_.treasury);
    treasury.native = *treasury.native.add(b.value);
    put_account(sale_.treasury, treasury);
  }
  Sale s = sale_;
  s.raised = raised;
  s.sold = *s.sold.add(tokens);
  s.pool = *s.pool.sub(tokens);
  put_sale(s);
  events.push_back(
      make_event(EventKind::purchase, {from, sale_.treasury},
                 {{"buyer", from.to_string()}, {"value", dec(b.value)}, {"tokens", dec(tokens)}}));
  return events;
}

Result<std::vector<Event>> State::apply(Call& call, const FinalizeSale&) {
  const Address& from = call.from;
  const int64_t now_ms = call.now_ms;
  std::vector<Event>& events = call.events;
  if (sale_.finalized)
    return fail(LedgerErrc::sale_not_finalizable, "the sale is already finalized");
  if (now_ms < sale_.end_ms && sale_.raised < sale_.hard_cap) {
    return fail(LedgerErrc::sale_not_finalizable,
                "the sale window is still open and the hard cap is not reached");
  }
  if (sale_.raised < sale_.soft_cap) {
    return fail(LedgerErrc::sale_not_finalizable,
                fmt::format("the sale ended below its soft cap ({} raised of {}): buyers take "
                            "their coin back with refund",
                            sale_.raised.to_string(), sale_.soft_cap.to_string()));
  }
  if (Amount held = sale_held(); !held.is_zero()) {
    Account treasury = account(sale_.treasury);
    IPSX_TRY_AMOUNT(paid, treasury.native.add(held));
    treasury.native = paid;
    put_account(sale_.treasury, treasury);
  }
  Sale s = sale_;
  s.unsold_at_finalize = s.pool;
  s.unclaimed = *s.unclaimed.add(s.pool);
  s.pool = Amount();
  s.finalized = true;
  put_sale(s);
  events.push_back(make_event(EventKind::sale_finalized, {from},
                              {{"sold", dec(s.sold)}, {"unsold", dec(s.unsold_at_finalize)}}));
  return events;
}

Result<std::vector<Event>> State::apply(Call& call, const ClaimUnsold&) {
  const Address& from = call.from;
  std::vector<Event>& events = call.events;
  if (!sale_.finalized) return fail(LedgerErrc::sale_not_finalized, "the sale is not finalized");
  Account buyer = account(from);
  if (buyer.bought.is_zero()) return fail(LedgerErrc::nothing_to_claim, "never bought in the sale");
  if (buyer.claimed_unsold)
    return fail(LedgerErrc::nothing_to_claim, "unsold share already claimed");
  IPSX_TRY_AMOUNT(share, sale_.unsold_at_finalize.mul_div(buyer.bought.base(), sale_.sold.base()));
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
}

Result<std::vector<Event>> State::apply(Call& call, const Refund&) {
  const Address& from = call.from;
  std::vector<Event>& events = call.events;
  if (!sale().failed_at(call.now_ms)) {
    return fail(LedgerErrc::sale_not_refundable,
                sale_.soft_cap.is_zero()     ? "the sale has no soft cap"
                : sale_.finalized            ? "the sale is finalized"
                : call.now_ms < sale_.end_ms ? "the sale has not ended"
                                             : "the sale reached its soft cap");
  }
  Account buyer = account(from);
  if (buyer.bought.is_zero())
    return fail(LedgerErrc::nothing_to_claim, "nothing bought in the sale, or already refunded");
  // tokens = value * rate at every purchase, so the coin paid is exactly bought / rate. The
  // tokens bought are all still the buyer's: nothing moves while transfers are locked.
  const Amount tokens = buyer.bought;
  IPSX_TRY_AMOUNT(value, tokens.div(sale_.rate));
  if (buyer.tokens < tokens) return insufficient("token balance", buyer.tokens, tokens);
  IPSX_TRY_AMOUNT(native, buyer.native.add(value));
  buyer.tokens = *buyer.tokens.sub(tokens);
  buyer.native = native;
  buyer.bought = Amount();
  put_account(from, buyer);
  Sale s = sale_;
  s.raised = *s.raised.sub(value);
  s.refunded = *s.refunded.add(value);
  s.sold = *s.sold.sub(tokens);
  s.pool = *s.pool.add(tokens);
  put_sale(s);
  events.push_back(
      make_event(EventKind::refunded, {from},
                 {{"buyer", from.to_string()}, {"value", dec(value)}, {"tokens", dec(tokens)}}));
  return events;
}

Result<std::vector<Event>> State::apply(Call& call, const Deposit& d) {
  const Address& from = call.from;
  std::vector<Event>& events = call.events;
  if (auto r = locked(); !r) return std::unexpected(r.error());
  if (d.amount.is_zero()) return fail(LedgerErrc::invalid_argument, "deposit of zero");
  Account acc = account(from);
  if (acc.tokens < d.amount) return insufficient("token balance", acc.tokens, d.amount);
  IPSX_TRY_AMOUNT(wb, acc.wallet_balance.add(d.amount));
  acc.tokens = *acc.tokens.sub(d.amount);
  acc.wallet_balance = wb;
  put_account(from, acc);
  events.push_back(make_event(EventKind::deposit, {from},
                              {{"account", from.to_string()}, {"amount", dec(d.amount)}}));
  return events;
}

Result<std::vector<Event>> State::apply(Call& call, const Withdraw& w) {
  const Address& from = call.from;
  std::vector<Event>& events = call.events;
  if (w.amount.is_zero()) return fail(LedgerErrc::invalid_argument, "withdrawal of zero");
  Account acc = account(from);
  if (acc.wallet_balance < w.amount)
    return insufficient("wallet balance", acc.wallet_balance, w.amount);
  IPSX_TRY_AMOUNT(tokens, acc.tokens.add(w.amount));
  acc.wallet_balance = *acc.wallet_balance.sub(w.amount);
  acc.tokens = tokens;
  put_account(from, acc);
  events.push_back(make_event(EventKind::withdrawal, {from},
                              {{"account", from.to_string()}, {"amount", dec(w.amount)}}));
  return events;
}

Result<std::vector<Event>> State::apply(Call& call, const CancelOrder& c) {
  const Address& from = call.from;
  std::vector<Event>& events = call.events;
  if (order_cancelled(from, c.order_hash))
    return fail(LedgerErrc::bad_order, "order already cancelled");
  put_cancelled(from, c.order_hash);
  events.push_back(make_event(EventKind::order_cancelled, {from},
                              {{"owner", from.to_string()}, {"order", c.order_hash.hex()}}));
  return events;
}

Result<std::vector<Event>> State::apply(Call& call, const OpenDeal& o) {
  const Address& from = call.from;
  const uint64_t now_s = call.now_s;
  std::optional<Hash>* deal_id = call.deal_id;
  std::vector<Event>& events = call.events;
  const Offer& offer = o.offer;
  const Request& req = o.request;
  if (from != offer.market || from != req.market) {
    return fail(LedgerErrc::not_a_party, "only the market both orders name may open their deal");
  }
  if (offer.fee_bps != req.fee_bps)
    return fail(LedgerErrc::terms_mismatch, "the orders name different fees");
  if (auto r = validate(offer); !r) return std::unexpected(r.error());
  if (auto r = validate(req); !r) return std::unexpected(r.error());
  Hash offer_hash = offer.struct_hash();
  Hash request_hash = req.struct_hash();
  auto offer_signer =
      crypto::recover(crypto::eip712::digest(domain_separator_, offer_hash), o.offer_signature);
  if (!offer_signer || *offer_signer != offer.provider) {
    return fail_at(LedgerErrc::bad_order, "offer", "signature is not the provider's");
  }
  auto request_signer =
      crypto::recover(crypto::eip712::digest(domain_separator_, request_hash), o.request_signature);
  if (!request_signer || *request_signer != req.requester) {
    return fail_at(LedgerErrc::bad_order, "request", "signature is not the requester's");
  }
  if (order_cancelled(offer.provider, offer_hash))
    return fail_at(LedgerErrc::bad_order, "offer", "cancelled");
  if (order_cancelled(req.requester, request_hash))
    return fail_at(LedgerErrc::bad_order, "request", "cancelled");
  if (now_s > offer.expiry) return fail_at(LedgerErrc::bad_order, "offer", "expired");
  if (now_s > req.expiry) return fail_at(LedgerErrc::bad_order, "request", "expired");
  if (auto r = check_fit(offer, req, o.price_per_second, now_s); !r)
    return std::unexpected(r.error());
  // The minimum ratings, against the ledger's own ratings, as the market's filter.
  if (RatingView pr = rating(offer.provider); !meets_minimum(pr, req.min_provider_rating)) {
    return fail_at(LedgerErrc::terms_mismatch, "request.minProviderRating",
                   fmt::format("the provider's rating {} is below this minimum {}",
                               rating_hundredths(pr), req.min_provider_rating));
  }
  if (RatingView rr = rating(req.requester); !meets_minimum(rr, offer.min_requester_rating)) {
    return fail_at(LedgerErrc::terms_mismatch, "offer.minRequesterRating",
                   fmt::format("the requester's rating {} is below this minimum {}",
                               rating_hundredths(rr), offer.min_requester_rating));
  }
  OrderUse ru = order_use(request_hash);
  OrderUse ou = order_use(offer_hash);
  if (ru.fills >= req.count)
    return fail_at(LedgerErrc::order_exhausted, "request", "every IP is already filled");
  if (ou.open >= offer.capacity)
    return fail_at(LedgerErrc::order_exhausted, "offer", "at capacity");
  if (ou.exclusive_open) return fail_at(LedgerErrc::order_exhausted, "offer", "leased exclusively");
  if (req.exclusive && ou.open > 0)
    return fail_at(LedgerErrc::order_exhausted, "offer",
                   "shared, the request wants it exclusively");
  // A request's count is filled by distinct offers: one offer gives it one IP.
  if (fills_.contains({request_hash, offer_hash}))
    return fail_at(LedgerErrc::order_exhausted, "request", "already filled by this offer");
  SubnetKey subnet = subnet_key(offer.ip);
  if (req.distinct_subnets && subnets_.contains({request_hash, subnet})) {
    return fail_at(LedgerErrc::terms_mismatch, "request",
                   "wants distinct subnets and already has an IP in this one");
  }
  auto cost_r = deal_cost(req, o.price_per_second);
  if (!cost_r) return std::unexpected(cost_r.error());
  Amount cost = *cost_r;
  IPSX_TRY_AMOUNT(spent, ru.spent.add(cost));
  if (spent > Amount::from_base(req.budget)) {
    return fail_at(LedgerErrc::terms_mismatch, "request",
                   fmt::format("budget {} would be exceeded ({} spent)",
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
}

Result<std::vector<Event>> State::apply(Call& call, const Claim& c) {
  const Address& from = call.from;
  std::vector<Event>& events = call.events;
  auto d = find_deal(c.deal_id);
  if (!d) return std::unexpected(d.error());
  if (from != d->provider) return fail(LedgerErrc::not_a_party, "only the deal's provider claims");
  if (d->state == DealState::closed) return fail(LedgerErrc::deal_state, "the deal is closed");
  if (auto r = verify_proof(*d, c.amount, c.requester_signature); !r)
    return std::unexpected(r.error());
  if (c.amount <= d->claimed) {
    return fail(LedgerErrc::bad_balance_proof,
                fmt::format("proof of {} is not above the {} already claimed", c.amount.to_string(),
                            d->claimed.to_string()));
  }
  if (c.amount > d->deposit) {
    return fail(LedgerErrc::bad_balance_proof,
                fmt::format("proof of {} is above the deposit of {}", c.amount.to_string(),
                            d->deposit.to_string()));
  }
  DealView deal = *d;
  if (auto r = pay(deal, *c.amount.sub(deal.claimed), events); !r) return r;
  put_deal(deal);
  return events;
}

Result<std::vector<Event>> State::apply(Call& call, const CloseDeal& c) {
  const Address& from = call.from;
  std::vector<Event>& events = call.events;
  if (auto r = check_reason(c.reason); !r) return std::unexpected(r.error());
  auto d = find_deal(c.deal_id);
  if (!d) return std::unexpected(d.error());
  if (from != d->provider)
    return fail(LedgerErrc::not_a_party, "only the deal's provider closes it alone");
  if (d->state == DealState::closed) return fail(LedgerErrc::deal_state, "the deal is closed");
  DealView deal = *d;
  if (c.requester_signature) {
    if (auto r = verify_proof(deal, c.amount, *c.requester_signature); !r)
      return std::unexpected(r.error());
    if (c.amount < deal.claimed || c.amount > deal.deposit) {
      return fail(LedgerErrc::bad_balance_proof, "final proof outside claimed .. deposit");
    }
    if (auto r = pay(deal, *c.amount.sub(deal.claimed), events); !r) return r;
  }
  if (auto r = finish_deal(deal, "provider", c.reason, events); !r)
    return std::unexpected(r.error());
  return events;
}

Result<std::vector<Event>> State::apply(Call& call, const CooperativeClose& c) {
  const Address& from = call.from;
  std::vector<Event>& events = call.events;
  if (auto r = check_reason(c.reason); !r) return std::unexpected(r.error());
  auto d = find_deal(c.deal_id);
  if (!d) return std::unexpected(d.error());
  if (from != d->provider && from != d->requester)
    return fail(LedgerErrc::not_a_party, "not a party to the deal");
  if (d->state == DealState::closed) return fail(LedgerErrc::deal_state, "the deal is closed");
  DealView deal = *d;
  if (auto r = verify_proof(deal, c.amount, c.requester_signature); !r)
    return std::unexpected(r.error());
  Hash consent = crypto::eip712::digest(domain_separator_,
                                        ClosingConsent{deal.id, c.amount.base()}.struct_hash());
  auto p = crypto::recover(consent, c.provider_signature);
  if (!p || *p != deal.provider) {
    return fail(LedgerErrc::bad_balance_proof,
                "closing consent is not signed by the deal's provider");
  }
  if (c.amount < deal.claimed || c.amount > deal.deposit) {
    return fail(LedgerErrc::bad_balance_proof, "closing amount outside claimed .. deposit");
  }
  if (auto r = pay(deal, *c.amount.sub(deal.claimed), events); !r) return r;
  if (auto r = finish_deal(deal, "cooperative", c.reason, events); !r)
    return std::unexpected(r.error());
  return events;
}

Result<std::vector<Event>> State::apply(Call& call, const UncooperativeClose& c) {
  const Address& from = call.from;
  const int64_t now_ms = call.now_ms;
  std::vector<Event>& events = call.events;
  if (auto r = check_reason(c.reason); !r) return std::unexpected(r.error());
  auto d = find_deal(c.deal_id);
  if (!d) return std::unexpected(d.error());
  if (from != d->requester)
    return fail(LedgerErrc::not_a_party, "only the deal's requester closes it uncooperatively");
  if (d->state != DealState::open) return fail(LedgerErrc::deal_state, "the deal is not open");
  if (c.amount < d->claimed || c.amount > d->deposit) {
    return fail(LedgerErrc::bad_balance_proof, "admitted amount outside claimed .. deposit");
  }
  // The genesis bounds the period; a clock near the end of time must not wrap.
  if (now_ms > std::numeric_limits<int64_t>::max() - challenge_ms_) {
    return fail(LedgerErrc::overflow,
                fmt::format("the challenge period's end overflows (now {} ms + {} ms)", now_ms,
                            challenge_ms_));
  }
  DealView deal = *d;
  deal.admitted = c.amount;
  deal.state = DealState::closing;
  deal.challenge_ends_ms = now_ms + challenge_ms_;
  deal.reason = c.reason;
  put_deal(deal);
  events.push_back(make_event(EventKind::deal_closing, {deal.provider, deal.requester, deal.market},
                              {{"admitted", dec(deal.admitted)},
                               {"challenge_ends", std::to_string(deal.challenge_ends_ms)},
                               {"reason", to_string(c.reason)}},
                              deal.id));
  return events;
}

Result<std::vector<Event>> State::apply(Call& call, const Settle& s) {
  const int64_t now_ms = call.now_ms;
  const uint64_t now_s = call.now_s;
  std::vector<Event>& events = call.events;
  auto d = find_deal(s.deal_id);
  if (!d) return std::unexpected(d.error());
  if (d->state == DealState::open) {
    // An open deal nobody closed ends by itself once its rental and one challenge
    // period after it are over (R3): at the best proof claimed so far, the rest back
    // to the requester. The period is whole seconds, so seconds decide.
    uint64_t rental_end = 0, ends = 0;
    bool far =
        __builtin_add_overflow(d->start, d->duration, &rental_end) ||
        __builtin_add_overflow(rental_end, static_cast<uint64_t>(challenge_ms_ / 1000), &ends);
    if (far || now_s < ends) {
      return fail(LedgerErrc::deal_state,
                  fmt::format("the deal is open until its end plus the challenge "
                              "period, {} s; now is {} s",
                              far ? std::numeric_limits<uint64_t>::max() : ends, now_s));
    }
    DealView deal = *d;
    CloseReason reason = deal.claimed.is_zero() ? CloseReason::expired : CloseReason::completed;
    if (auto r = finish_deal(deal, "settled", reason, events); !r)
      return std::unexpected(r.error());
    return events;
  }
  if (d->state != DealState::closing)
    return fail(LedgerErrc::deal_state, "the deal is not in its challenge period");
  if (now_ms < d->challenge_ends_ms) {
    return fail(
        LedgerErrc::challenge_period,
        fmt::format("the challenge period ends at {} ms, now is {}", d->challenge_ends_ms, now_ms));
  }
  DealView deal = *d;
  if (deal.admitted > deal.claimed) {
    if (auto r = pay(deal, *deal.admitted.sub(deal.claimed), events); !r) return r;
  }
  if (auto r = finish_deal(deal, "settled", deal.reason, events); !r)
    return std::unexpected(r.error());
  return events;
}

Result<std::vector<Event>> State::apply(Call& call, const Rate& r) {
  const Address& from = call.from;
  std::vector<Event>& events = call.events;
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
  events.push_back(make_event(
      EventKind::rated, {from, of},
      {{"by", from.to_string()}, {"of", of.to_string()}, {"score", std::to_string(r.score)}},
      deal.id));
  return events;
}

Result<std::vector<Event>> State::apply(Call& call, const RecordUsage& u) {
  const Address& from = call.from;
  std::vector<Event>& events = call.events;
  auto d = find_deal(u.deal_id);
  if (!d) return std::unexpected(d.error());
  // The provider's alone: a receipt the requester signed for a bogus log with the
  // largest count, recorded first by the requester, would bar every genuine one.
  if (from != d->provider)
    return fail(LedgerErrc::not_a_party, "usage: only the deal's provider records it");
  if (u.count <= d->usage_count) {
    return fail(
        LedgerErrc::invalid_argument,
        fmt::format("usage: {} records do not exceed the {} recorded", u.count, d->usage_count));
  }
  UsageReceipt receipt{u.deal_id, u.count, u.root};
  auto signer = crypto::recover(crypto::eip712::digest(domain_separator_, receipt.struct_hash()),
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
}

// All or none: each operation applies in turn, every entry it changes recorded in an undo log;
// the first that fails puts back every entry the batch changed, in reverse, and the batch fails
// with its error. The events are the operations' in order.
Result<std::vector<Event>> State::apply(Call& call, const Batch& b) {
  if (b.ops.empty() || b.ops.size() > kMaxBatchOps) {
    return fail(
        LedgerErrc::invalid_argument,
        fmt::format("a batch holds 1 to {} operations, not {}", kMaxBatchOps, b.ops.size()));
  }
  for (size_t i = 0; i < b.ops.size(); ++i) {
    if (!batchable(b.ops[i])) {
      return fail(LedgerErrc::invalid_argument,
                  fmt::format("batch operation {}: '{}' cannot be batched", i, op_name(b.ops[i])));
    }
  }
  std::vector<std::function<void()>> undo;
  undo_ = &undo;
  struct Stop {  // the log is this call's: never left behind
    std::vector<std::function<void()>>*& log;
    ~Stop() { log = nullptr; }
  } stop{undo_};
  std::vector<Hash> opened;
  auto refuse = [&](size_t i, const Error& e) -> Result<std::vector<Event>> {
    undo_ = nullptr;
    for (auto it = undo.rbegin(); it != undo.rend(); ++it) (*it)();
    return std::unexpected(
        e.with_context(fmt::format("batch operation {} ({})", i, op_name(b.ops[i]))));
  };
  for (size_t i = 0; i < b.ops.size(); ++i) {
    const Op& op = b.ops[i];
    if (auto id = deal_of(op); id && std::find(opened.begin(), opened.end(), *id) != opened.end()) {
      return refuse(i, Error(LedgerErrc::unknown_deal,
                             "the deal is opened by this batch: act on it in a later transaction"));
    }
    std::optional<Hash> opened_id;
    Call inner{call.from, call.now_ms, call.now_s, &opened_id, {}};
    auto events = std::visit([&](const auto& o) { return apply(inner, o); }, op);
    if (!events) return refuse(i, events.error());
    if (opened_id) opened.push_back(*opened_id);
    call.events.insert(call.events.end(), std::make_move_iterator(events->begin()),
                       std::make_move_iterator(events->end()));
  }
  undo_ = nullptr;
  return call.events;
}

}  // namespace ipsx::ledger
