#include "market/market.h"

#include <fmt/format.h>

namespace ipsx::market {
namespace {

const Hash& cancel_type_hash() {
  static const Hash h = crypto::eip712::type_hash("CancelOrder(bytes32 orderHash,uint64 nonce)");
  return h;
}

}  // namespace

Market::Market(ledger::Ledger& ledger, crypto::PrivateKey operator_key, const Clock& clock,
               MarketConfig config)
    : ledger_(ledger),
      key_(std::move(operator_key)),
      address_(key_.address()),
      clock_(clock),
      config_(config),
      domain_separator_(ledger.domain().separator()),
      profiles_(ledger),
      book_([this](const Address& a) { return profiles_.rating(a); }) {}

Result<void> Market::check_signed(const Hash& struct_hash, const crypto::Signature& sig,
                                  const Address& owner, const char* what) const {
  auto signer = crypto::recover(crypto::eip712::digest(domain_separator_, struct_hash), sig);
  if (!signer)
    return fail(MarketErrc::bad_signature, fmt::format("{}: {}", what, signer.error().message()));
  if (*signer != owner) {
    return fail(MarketErrc::bad_signature,
                fmt::format("{}: signed by {}, not by its owner {}", what, signer->to_string(),
                            owner.to_string()));
  }
  return {};
}

Result<PlaceResult> Market::place_offer(const ledger::Offer& offer, const crypto::Signature& sig) {
  if (auto v = ledger::validate(offer); !v) return std::unexpected(v.error());
  if (offer.market != address_) {
    return fail(MarketErrc::bad_order, fmt::format("offer.market: names {}, this market is {}",
                                                   offer.market.to_string(), address_.to_string()));
  }
  if (offer.fee_bps != config_.fee_bps) {
    return fail(MarketErrc::bad_order, fmt::format("offer.feeBps: {} bps, this market charges {}",
                                                   offer.fee_bps, config_.fee_bps));
  }
  uint64_t now = static_cast<uint64_t>(to_unix_seconds(clock_.now()));
  if (now > offer.expiry) return fail(MarketErrc::bad_order, "offer.expiry: the offer has expired");
  Hash hash = offer.struct_hash();
  if (seen_.contains(hash))
    return fail(MarketErrc::duplicate_order, "this offer was placed before (reuse its nonce?)");
  if (auto s = check_signed(hash, sig, offer.provider, "offer"); !s)
    return std::unexpected(s.error());
  seen_.insert(hash);
  std::vector<Fill> fills;
  PlaceResult result;
  result.id = book_.place_offer(offer, now, &fills);
  // Registered before the fills are executed: they refer to it.
  orders_[result.id] = Signed{true, offer, {}, sig, hash, offer.provider};
  by_hash_[hash] = result.id;
  execute(fills, &result);
  return result;
}

Result<PlaceResult> Market::place_request(const ledger::Request& request,
                                          const crypto::Signature& sig) {
  if (auto v = ledger::validate(request); !v) return std::unexpected(v.error());
  if (request.market != address_) {
    return fail(MarketErrc::bad_order,
                fmt::format("request.market: names {}, this market is {}",
                            request.market.to_string(), address_.to_string()));
  }
  if (request.fee_bps != config_.fee_bps) {
    return fail(MarketErrc::bad_order, fmt::format("request.feeBps: {} bps, this market charges {}",
                                                   request.fee_bps, config_.fee_bps));
  }
  uint64_t now = static_cast<uint64_t>(to_unix_seconds(clock_.now()));
  if (now > request.expiry)
    return fail(MarketErrc::bad_order, "request.expiry: the request has expired");
  Hash hash = request.struct_hash();
  if (seen_.contains(hash))
    return fail(MarketErrc::duplicate_order, "this request was placed before (reuse its nonce?)");
  if (auto s = check_signed(hash, sig, request.requester, "request"); !s)
    return std::unexpected(s.error());
  seen_.insert(hash);
  std::vector<Fill> fills;
  PlaceResult result;
  result.id = book_.place_request(request, now, &fills);
  // Registered before the fills are executed: they refer to it.
  orders_[result.id] = Signed{false, {}, request, sig, hash, request.requester};
  by_hash_[hash] = result.id;
  execute(fills, &result);
  return result;
}

void Market::execute(std::vector<Fill>& fills, PlaceResult* result) {
  // Index loop: undoing a refused fill can free a place that matches again, appending fills.
  for (size_t i = 0; i < fills.size(); ++i) {
    Fill f = fills[i];
    auto o = orders_.find(f.offer);
    auto r = orders_.find(f.request);
    if (o == orders_.end() || r == orders_.end())
      continue;  // cannot happen: every order is registered
    ledger::OpenDeal op{o->second.offer, o->second.signature, r->second.request,
                        r->second.signature, f.price_per_second};
    auto tx = ledger_.prepare(address_, std::move(op));
    Result<ledger::Receipt> receipt = std::unexpected(Error({}, ""));
    if (tx) {
      auto sig = crypto::sign(key_, tx->digest);
      if (sig) receipt = ledger_.submit(ledger::SignedTx{*tx, *sig});
      if (!sig) receipt = std::unexpected(sig.error());
    } else {
      receipt = std::unexpected(tx.error());
    }
    uint64_t now = static_cast<uint64_t>(to_unix_seconds(clock_.now()));
    if (!receipt || !receipt->deal_id) {
      Error err = receipt ? Error(make_error_code(MarketErrc::invalid_argument), "no deal id")
                          : receipt.error();
      if (result) result->refused.emplace_back(f, err);
      // The ledger is the judge: the order it objects to leaves the book; the other side's
      // place returns. A requester who cannot pay (or whose request the ledger counts as used)
      // loses its request; an offer the ledger refuses loses the offer.
      bool offer_at_fault = err.message().starts_with("offer");
      if (offer_at_fault) {
        book_.cancel(f.offer);
        book_.release(f.offer, r->second.request.exclusive, now, nullptr);  // frees its slot
      } else {
        book_.cancel(f.request);
        book_.release(f.offer, r->second.request.exclusive, now, &fills);
      }
      continue;
    }
    const Hash& id = *receipt->deal_id;
    auto view = ledger_.deal(id);
    auto block = ledger_.block(receipt->block);
    Timestamp opened = block ? from_unix_ms(block->timestamp_ms) : clock_.now();
    DealRecord rec;
    rec.deal_id = id;
    rec.offer = f.offer;
    rec.request = f.request;
    rec.exclusive = r->second.request.exclusive;
    if (view) rec.progress = DealProgress::open(*view, opened);
    deals_[id] = std::move(rec);
    prints_.push_back(
        {id, f.price_per_second, o->second.offer.country, o->second.offer.ip_type, opened});
    if (prints_.size() > 1000) prints_.pop_front();
    if (result) result->deals.push_back(id);
  }
}

Result<void> Market::cancel(const SignedCancel& c) {
  auto it = by_hash_.find(c.order_hash);
  if (it == by_hash_.end())
    return fail(MarketErrc::unknown_order, "no order " + c.order_hash.hex());
  const Signed& s = orders_.at(it->second);
  Hash h =
      crypto::eip712::StructHasher(cancel_type_hash()).add_word(c.order_hash).add_uint(0).finish();
  auto signer = crypto::recover(crypto::eip712::digest(domain_separator_, h), c.signature);
  if (!signer || *signer != s.owner) {
    return fail(MarketErrc::not_owner, "the cancel is not signed by the order's owner");
  }
  if (!book_.cancel(it->second)) {
    return fail(MarketErrc::unknown_order,
                "the order is no longer in the book (filled or expired)");
  }
  return {};
}

void Market::release_if_closed(DealRecord& d, Timestamp now, std::vector<Fill>* fills) {
  if (d.released) return;
  // The ledger decides when a place is free again: it counts an offer's deals until they are
  // closed there (by the provider's closeDeal, a cooperative close, or a settle), whatever the
  // protocol status says. The protocol's close tells the parties to do so.
  auto view = ledger_.deal(d.deal_id);
  if (!view || view->state != ledger::DealState::closed) return;
  d.released = true;
  // The reason: the one recorded on the ledger, or the protocol's when the closer gave none.
  ledger::CloseReason reason = view->reason;
  if (reason == ledger::CloseReason::unspecified)
    reason = d.progress.status(now, config_.timeouts).reason;
  profiles_.record_outcome(view->provider, view->requester, reason,
                           d.progress.requester_status.live_since.has_value());
  book_.release(d.offer, d.exclusive, static_cast<uint64_t>(to_unix_seconds(now)), fills);
}

Result<DealStatus> Market::status_event(const SignedStatusEvent& e) {
  auto it = deals_.find(e.event.deal_id);
  if (it == deals_.end()) return fail(MarketErrc::unknown_deal, "no deal " + e.event.deal_id.hex());
  Timestamp now = clock_.now();
  auto s = accept_event(it->second.progress, e, domain_separator_, now, config_.timeouts);
  if (!s) return s;
  std::vector<Fill> fills;
  release_if_closed(it->second, now, &fills);
  execute(fills, nullptr);
  return s;
}

std::vector<Hash> Market::tick() {
  Timestamp now = clock_.now();
  book_.expire(static_cast<uint64_t>(to_unix_seconds(now)));
  std::vector<Fill> fills;
  for (auto& [id, d] : deals_) release_if_closed(d, now, &fills);
  PlaceResult opened;
  execute(fills, &opened);
  return opened.deals;
}

std::optional<Timestamp> Market::next_deadline() const {
  std::optional<Timestamp> best;
  Timestamp now = clock_.now();
  for (const auto& [id, d] : deals_) {
    if (d.released) continue;
    auto t = market::next_deadline(d.progress.times, d.progress.provider_status,
                                   d.progress.requester_status, now, config_.timeouts);
    if (t && (!best || *t < *best)) best = t;
  }
  return best;
}

Result<DealStatus> Market::deal_status(const Hash& deal_id) const {
  auto it = deals_.find(deal_id);
  if (it == deals_.end()) return fail(MarketErrc::unknown_deal, "no deal " + deal_id.hex());
  return it->second.progress.status(clock_.now(), config_.timeouts);
}

std::vector<DealPrint> Market::recent_deals(size_t n) const {
  size_t from = prints_.size() > n ? prints_.size() - n : 0;
  return {prints_.begin() + static_cast<long>(from), prints_.end()};
}

size_t Market::open_deals() const {
  size_t n = 0;
  for (const auto& [id, d] : deals_) n += d.released ? 0 : 1;
  return n;
}

const DealRecord* Market::deal(const Hash& deal_id) const {
  auto it = deals_.find(deal_id);
  return it == deals_.end() ? nullptr : &it->second;
}

}  // namespace ipsx::market
