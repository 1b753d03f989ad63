// A fill's way to the ledger and back: sent in the background, its outcome settled (the deal
// recorded, or the fill undone), and a refusal journaled so that replay undoes it where the run
// did.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "market/market.h"

namespace ipsx::market {

void Market::send_fill(FillTerms t, ledger::OpenDeal op, Sink sink) {
  ++in_flight_;
  ++busy_orders_[t.fill.offer];
  ++busy_orders_[t.fill.request];
  book_.hold(t.fill.request);
  if (sink.waiter) ++sink.waiter->pending;
  ledger_.submit_as(
      shared_key_, std::move(op),
      [post = post_, alive = alive_, this, t = std::move(t),
       sink = std::move(sink)](Result<ledger::Receipt> receipt) mutable {
        post([alive, this, t = std::move(t), sink = std::move(sink), receipt = std::move(receipt)] {
          if (*alive) fill_done(t, receipt, sink);
        });
      });
}

void Market::fill_done(const FillTerms& t, const Result<ledger::Receipt>& receipt,
                       const Sink& sink) {
  --in_flight_;
  for (OrderId id : {t.fill.offer, t.fill.request}) {
    auto b = busy_orders_.find(id);
    if (b != busy_orders_.end() && --b->second == 0) busy_orders_.erase(b);
  }
  Waiter* w = sink.waiter.get();
  if (!receipt || !receipt->deal_id) {
    // Journaled before it takes effect, as a command: replay undoes the fill here too.
    auto o = orders_.find(t.fill.offer);
    Error err = receipt ? Error(make_error_code(MarketErrc::invalid_argument), "no deal id")
                        : receipt.error();
    if (o != orders_.end()) {
      nlohmann::json body{
          {"offer", o->second.hash.hex()},
          {"request", t.request_hash.hex()},
          {"termsMismatch", err.code() == make_error_code(ledger::LedgerErrc::terms_mismatch)},
          {"field", err.field()},
          {"message", err.message()}};
      (void)journal("fill_refused", body.dump());  // a journal that fails: the old replay
    }
  }
  PlaceResult part;
  std::vector<Fill> more;
  settle_fill(t, receipt, &part, &more);
  book_.unhold(t.fill.request);  // after a refusal's give_back, which needs it
  if (w && sink.index < w->results.size() && w->results[sink.index]) {
    PlaceResult& into = *w->results[sink.index];
    into.deals.insert(into.deals.end(), part.deals.begin(), part.deals.end());
    for (auto& r : part.refused) into.refused.push_back(std::move(r));
  }
  if (!w && opened_ && !part.deals.empty()) opened_(part.deals);
  execute(more, nullptr, sink);  // a refusal's new fills, for the same command
  if (w && --w->pending == 0 && w->done) {
    Placed done = std::move(w->done);
    done(std::move(w->results));
  }
  forget_dead_orders();
  maybe_snapshot();
}

void Market::undo_fill(const FillTerms& t, const Error& err, std::vector<Fill>* more) {
  uint64_t now_s = static_cast<uint64_t>(to_unix_seconds(now()));
  const bool pair_only =
      err.code() == make_error_code(ledger::LedgerErrc::terms_mismatch) &&
      (err.field() == "offer.minRequesterRating" || err.field() == "request.minProviderRating");
  const bool offer_at_fault = err.field_root() == "offer";
  if (pair_only)
    book_.refuse_pair(t.fill, t.exclusive, now_s, more);
  else
    book_.refuse(t.fill, offer_at_fault, t.exclusive, now_s, more);
}

void Market::hold_for_replay(FillTerms t) {
  auto o = orders_.find(t.fill.offer);
  if (o == orders_.end()) return;  // cannot happen: every order is registered
  // A pair fills once (the book never pairs them again), so it is never held twice.
  auto [it, fresh] = replay_held_.try_emplace({o->second.hash, t.request_hash}, t);
  if (!fresh) return;
  ++in_flight_;
  ++busy_orders_[t.fill.offer];
  ++busy_orders_[t.fill.request];
  book_.hold(t.fill.request);
}

// A "fill_refused" entry: the held fill's refusal, where it came in the run.
Result<void> Market::replay_refusal(const nlohmann::json& j) {
  auto text = [&](const char* k) {
    return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
  };
  auto offer = Hash::from_hex(text("offer"));
  auto request = Hash::from_hex(text("request"));
  if (!offer || !request) return fail(MarketErrc::storage, "fill_refused: no offer or request");
  auto it = replay_held_.find({*offer, *request});
  if (it == replay_held_.end()) return {};  // a fill of before the snapshot: nothing held
  FillTerms t = std::move(it->second);
  replay_held_.erase(it);
  --in_flight_;
  for (OrderId id : {t.fill.offer, t.fill.request}) {
    auto b = busy_orders_.find(id);
    if (b != busy_orders_.end() && --b->second == 0) busy_orders_.erase(b);
  }
  const bool mismatch = j.contains("termsMismatch") && j["termsMismatch"].is_boolean() &&
                        j["termsMismatch"].get<bool>();
  std::error_code code = mismatch ? make_error_code(ledger::LedgerErrc::terms_mismatch)
                                  : make_error_code(MarketErrc::invalid_argument);
  std::vector<Fill> more;
  undo_fill(t, Error(code, text("message"), text("field")), &more);
  book_.unhold(t.fill.request);
  execute(more, nullptr);
  return {};
}

void Market::settle_fill(const FillTerms& t, const Result<ledger::Receipt>& receipt,
                         PlaceResult* result, std::vector<Fill>* more) {
  const Fill& f = t.fill;
  if (!receipt || !receipt->deal_id) {
    Error err = receipt ? Error(make_error_code(MarketErrc::invalid_argument), "no deal id")
                        : receipt.error();
    if (result) result->refused.emplace_back(f, err);
    // The ledger is the judge: the order it objects to leaves the book; the other side is
    // made whole and matched again at once. A requester who cannot pay (or whose request the
    // ledger counts as used) loses its request and the offer's place returns; an offer the
    // ledger refuses (cancelled or expired there, at capacity) leaves, and the request keeps
    // its full count and budget and takes the next offer.
    // A minimum rating the other party no longer meets (the market's view of ratings lags the
    // ledger's until the next tick) is a term of this pair only: both orders stay, and the
    // pair is not tried again.
    // Both backends name the order at fault in the error's field ("offer.capacity", "request").
    undo_fill(t, err, more);
    return;
  }
  const Hash& id = *receipt->deal_id;
  ++ledger_fills_[t.request_hash];
  // The deal's record from the receipt: its DealOpened event gives the start, the later of the
  // block's time and the request's start. Only a request that starts later needs the block's
  // time read (a round trip to the chain on Ethereum, on the server's thread).
  std::optional<uint64_t> start;
  for (const ledger::Event& e : receipt->events) {
    if (e.kind != ledger::EventKind::deal_opened || e.deal != id) continue;
    for (const auto& [name, value] : e.fields) {
      if (name != "start") continue;
      auto v = U256::parse(value);
      if (v && v->fits_u64()) start = v->low64();
    }
  }
  Timestamp opened = now();
  if (start && *start > t.request_start) {
    opened = from_unix_ms(static_cast<int64_t>(*start) * 1000);
  } else if (auto block = ledger_.block(receipt->block)) {
    opened = from_unix_ms(block->timestamp_ms);
  }
  ledger::DealView view;
  view.id = id;
  view.provider = t.provider;
  view.requester = t.requester;
  view.start =
      start ? *start
            : std::max<uint64_t>(static_cast<uint64_t>(to_unix_seconds(opened)), t.request_start);
  view.duration = t.duration;
  DealRecord rec;
  rec.deal_id = id;
  rec.offer = f.offer;
  rec.request = f.request;
  rec.exclusive = t.exclusive;
  rec.progress = DealProgress::open(view, opened);
  put_deal(std::move(rec));
  prints_.push_back({id, f.price_per_second, t.country, t.ip_type, opened});
  if (prints_.size() > 1000) prints_.pop_front();
  if (result) result->deals.push_back(id);
}

}  // namespace ipsx::market
