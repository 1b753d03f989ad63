#include "market/market.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "ledger/tx_codec.h"
#include "market/order_entry.h"
#include "market/snapshot.h"

namespace ipsx::market {
Market::Market(ledger::Ledger& ledger, crypto::PrivateKey operator_key, const Clock& clock,
               MarketConfig config, Journal* journal)
    : ledger_(ledger),
      key_(std::move(operator_key)),
      address_(key_.address()),
      clock_(clock),
      config_(config),
      domain_separator_(ledger.domain().separator()),
      profiles_(ledger),
      book_([this](const Address& a) { return profiles_.rating(a); }),
      journal_(journal) {}

Market::~Market() {
  *alive_ = false;
  // A snapshot being written is waited for and named (its failure: the one below replaces it).
  if (journal_ && recovered_) {
    if (auto settled = journal_->settle_snapshot(true); settled && !*settled)
      since_snapshot_ = std::max<uint64_t>(since_snapshot_, 1);
  }
  // With fills in flight the book holds places no deal has yet: the journal covers them.
  if (journal_ && recovered_ && config_.snapshot_every > 0 && since_snapshot_ > 0 &&
      in_flight_ == 0) {
    (void)write_snapshot();
  }
}

void Market::open_deals_in_background(Post post, std::function<void(std::vector<Hash>)> opened) {
  post_ = std::move(post);
  opened_ = std::move(opened);
  shared_key_ = std::make_shared<const crypto::PrivateKey>(key_.clone());
}

Result<void> Market::journal(std::string_view kind, const std::string& body) {
  if (!journal_ || replay_now_) return {};
  Timestamp at = now();
  auto r = journal_->append(kind, body, at);
  if (!r) return std::unexpected(r.error());
  last_seq_ = *r;
  journaled_at_ = at;
  ++since_snapshot_;
  // Expiry is not journaled: each journaled command expires the book at its own time, and replay
  // does the same (replay()), so that a replayed market, one restored from a snapshot and the
  // one that ran hold the same orders after every entry.
  expire_journaled(static_cast<uint64_t>(to_unix_seconds(at)));
  return {};
}

void Market::remember_seen(const Hash& hash, uint64_t expiry) {
  if (seen_.emplace(hash, expiry).second) seen_expiries_.emplace(expiry, hash);
}

void Market::expire_journaled(uint64_t now_s) {
  book_.expire(now_s);
  while (!seen_expiries_.empty() &&
         seen_expiries_.top().first < now_s - std::min(now_s, kForgetSeenAfterSeconds)) {
    seen_.erase(seen_expiries_.top().second);
    ledger_fills_.erase(seen_expiries_.top().second);  // a request past its expiry fills no more
    seen_expiries_.pop();
  }
}

void Market::forget_released(uint64_t now_s) {
  while (!released_by_time_.empty() &&
         released_by_time_.top().first < now_s - std::min(now_s, kForgetReleasedAfterSeconds)) {
    auto it = deals_.find(released_by_time_.top().second);
    if (it != deals_.end() && it->second.released) forget_deal(it);
    released_by_time_.pop();
  }
}

Result<void> Market::write_snapshot() {
  if (!journal_ || !recovered_) {
    return fail(MarketErrc::storage, "snapshot: no journal, or not recovered yet");
  }
  Snapshot snap{last_seq_, SnapshotCodec::encode_sealed(*this)};
  if (auto w = journal_->write_snapshot(snap, config_.prune_journal); !w) {
    snapshot_failure_ = w.error().message();
    return w;
  }
  snapshot_failure_.reset();
  since_snapshot_ = 0;
  return {};
}

uint64_t Market::snapshot_interval() const {
  return std::max<uint64_t>(
      config_.snapshot_every,
      (orders_.size() + deals_.size() + seen_.size()) / kSnapshotEntriesPerCommand);
}

void Market::maybe_snapshot() {
  if (!journal_ || !recovered_ || replay_now_ || config_.snapshot_every == 0) return;
  if (auto settled = journal_->settle_snapshot()) {
    if (*settled) {
      snapshot_failure_.reset();
    } else {
      // The file could not be written or named (a full disk, a directory turned read-only):
      // the old snapshot and every entry since stand. Tried again after kSnapshotRetryEntries
      // more entries (an interval, if shorter), not at once: each try encodes the whole state.
      snapshot_failure_ = settled->error().message();
      uint64_t interval = snapshot_interval();
      since_snapshot_ =
          std::max(since_snapshot_, interval - std::min(interval, kSnapshotRetryEntries));
    }
  }
  if (in_flight_ > 0) return;  // taken once the fills' outcomes are in (fill_done)
  if (since_snapshot_ < snapshot_interval()) return;
  // Encoded here, where the state is consistent; written and synced on the journal's thread.
  journal_->write_snapshot_in_background({last_seq_, SnapshotCodec::encode_sealed(*this)},
                                         config_.prune_journal);
  since_snapshot_ = 0;
}

Result<PlaceResult> Market::place_offer(const Offer& offer, const crypto::Signature& sig) {
  Placement p{true, offer, {}, sig, std::nullopt, {}};
  return std::move(place(std::span(&p, 1))[0]);
}

Result<PlaceResult> Market::place_request(const Request& request, const crypto::Signature& sig) {
  Placement p{false, {}, request, sig, std::nullopt, {}};
  return std::move(place(std::span(&p, 1))[0]);
}

Result<Hash> Market::check_placement(const Placement& p, uint64_t now_s,
                                     const std::unordered_set<Hash>& group) const {
  const char* what = p.is_offer ? "offer" : "request";
  std::string field = what;
  Result<void> valid = p.is_offer ? ledger::validate(p.offer) : ledger::validate(p.request);
  if (!valid) return std::unexpected(valid.error());
  const Address& market = p.is_offer ? p.offer.market : p.request.market;
  uint16_t fee_bps = p.is_offer ? p.offer.fee_bps : p.request.fee_bps;
  uint64_t expiry = p.is_offer ? p.offer.expiry : p.request.expiry;
  const Address& owner = p.is_offer ? p.offer.provider : p.request.requester;
  if (market != address_) {
    return fail_at(
        MarketErrc::bad_order, field + ".market",
        fmt::format("names {}, this market is {}", market.to_string(), address_.to_string()));
  }
  if (fee_bps != config_.fee_bps) {
    return fail_at(MarketErrc::bad_order, field + ".feeBps",
                   fmt::format("{} bps, this market charges {}", fee_bps, config_.fee_bps));
  }
  if (now_s > expiry)
    return fail_at(MarketErrc::bad_order, field + ".expiry", "the " + field + " has expired");
  Hash hash = p.verified   ? p.verified->hash
              : p.is_offer ? p.offer.struct_hash()
                           : p.request.struct_hash();
  if (seen_.contains(hash) || group.contains(hash)) {
    return fail(MarketErrc::duplicate_order,
                fmt::format("this {} was placed before (reuse its nonce?)", what));
  }
  // The signer: as the caller recovered it, or recovered here.
  std::optional<Address> signer = p.verified ? p.verified->signer : std::nullopt;
  std::string why = "the signature recovers to no one";
  if (!p.verified) {
    auto a = crypto::recover(crypto::eip712::digest(domain_separator_, hash), p.signature);
    if (a)
      signer = *a;
    else
      why = a.error().message();
  }
  if (!signer) return fail_at(MarketErrc::bad_signature, what, why);
  if (*signer != owner) {
    return fail_at(
        MarketErrc::bad_signature, what,
        fmt::format("signed by {}, not by its owner {}", signer->to_string(), owner.to_string()));
  }
  return hash;
}

PlaceResult Market::apply_placement(const Placement& p, const Hash& hash, uint64_t now_s,
                                    const Sink& sink) {
  remember_seen(hash, p.is_offer ? p.offer.expiry : p.request.expiry);
  std::vector<Fill> fills;
  PlaceResult result;
  if (p.is_offer) {
    result.id = book_.place_offer(p.offer, now_s, &fills);
    // Registered before the fills are executed: they refer to it.
    orders_[result.id] = Signed{true, p.offer, {}, p.signature, hash, p.offer.provider};
  } else {
    result.id = book_.place_request(p.request, now_s, &fills);
    orders_[result.id] = Signed{false, {}, p.request, p.signature, hash, p.request.requester};
  }
  by_hash_[hash] = result.id;
  execute(fills, &result, sink);
  return result;
}

std::vector<Result<PlaceResult>> Market::place(std::span<const Placement> orders) {
  return place_now(orders, {});
}

void Market::place(std::span<const Placement> orders, Placed done) {
  auto w = std::make_shared<Waiter>();
  // Each order's fills go to its own result. The outcomes come through post_, never while this
  // runs, so the results are in place before the first one.
  std::vector<Result<PlaceResult>> out = place_now(orders, Sink{post_ ? w : nullptr, 0});
  if (!post_ || w->pending == 0) {
    done(std::move(out));
    return;
  }
  w->results = std::move(out);
  w->done = std::move(done);
}

std::vector<Result<PlaceResult>> Market::place_now(std::span<const Placement> orders,
                                                   const Sink& sink) {
  std::vector<Result<PlaceResult>> out(orders.size());
  Timestamp at = now();
  uint64_t now_s = static_cast<uint64_t>(to_unix_seconds(at));
  std::unordered_set<Hash> group;
  std::vector<std::pair<size_t, Hash>> accepted;
  std::vector<std::pair<std::string, std::string>> entries;
  for (size_t i = 0; i < orders.size(); ++i) {
    auto hash = check_placement(orders[i], now_s, group);
    if (!hash) {
      out[i] = std::unexpected(hash.error());
      continue;
    }
    group.insert(*hash);
    accepted.emplace_back(i, *hash);
    if (journal_ && !replay_now_) {
      const Placement& p = orders[i];
      entries.emplace_back(order_entry_kind(p),
                           p.journal_body.empty() ? encode_order_entry(p) : p.journal_body);
    }
  }
  if (!entries.empty()) {
    auto last = journal_->append_all(entries, at);
    if (!last) {
      for (auto& [i, hash] : accepted) out[i] = std::unexpected(last.error());
      return out;
    }
    last_seq_ = *last;
    since_snapshot_ += entries.size();
  }
  // Released deals long over are forgotten here, where no command holds one (a status event
  // looks its deal up before it journals), at the time of accepted orders: the same in replay.
  if (!accepted.empty()) forget_released(now_s);
  // Applied at the journal's time, each after the book's expiry at that time and followed by
  // the forgetting of dead orders, as replay() does entry by entry.
  struct Pin {
    std::optional<Timestamp>& at;
    ~Pin() { at.reset(); }
  } pin{pinned_now_};
  pinned_now_ = at;
  for (auto& [i, hash] : accepted) {
    expire_journaled(now_s);
    out[i] = apply_placement(orders[i], hash, now_s, Sink{sink.waiter, i});
    forget_dead_orders();
  }
  if (!accepted.empty()) maybe_snapshot();
  return out;
}

void Market::execute(std::vector<Fill>& fills, PlaceResult* result, const Sink& sink) {
  // Index loop: undoing a refused fill can free a place that matches again, appending fills.
  for (size_t i = 0; i < fills.size(); ++i) {
    Fill f = fills[i];
    auto o = orders_.find(f.offer);
    auto r = orders_.find(f.request);
    if (o == orders_.end() || r == orders_.end())
      continue;  // cannot happen: every order is registered
    FillTerms terms{f,
                    r->second.hash,
                    r->second.request.exclusive,
                    o->second.offer.country,
                    o->second.offer.ip_type,
                    o->second.offer.provider,
                    r->second.request.requester,
                    r->second.request.duration,
                    r->second.request.start};
    if (replay_now_ && replay_fault_) return;  // recover() fails at this entry: send nothing
    if (replay_now_ && replay_refused_.contains({o->second.hash, r->second.hash})) {
      hold_for_replay(std::move(terms));  // refused in the run, after later commands
      continue;
    }
    if (replay_now_) {
      // Replaying: the deal may already be on the ledger (deal ids are deterministic).
      uint64_t& ledger_fill = ledger_fills_[r->second.hash];
      Hash id = ledger::deal_id_for(o->second.hash, r->second.hash, ledger_fill);
      auto existing = ledger_.deal(id);
      if (!existing && existing.error().code() != ledger::LedgerErrc::unknown_deal) {
        if (!replay_fault_) replay_fault_ = existing.error();
        continue;  // recover() fails at this entry
      }
      if (existing && existing->offer_hash == o->second.hash) {
        ++ledger_fill;
        DealRecord rec;
        rec.deal_id = id;
        rec.offer = f.offer;
        rec.request = f.request;
        rec.exclusive = terms.exclusive;
        rec.progress = DealProgress::open(*existing, now());
        put_deal(std::move(rec));
        prints_.push_back({id, f.price_per_second, terms.country, terms.ip_type, now()});
        if (prints_.size() > 1000) prints_.pop_front();
        if (result) result->deals.push_back(id);
        continue;
      }
    }
    ledger::OpenDeal op{o->second.offer, o->second.signature, r->second.request,
                        r->second.signature, f.price_per_second};
    if (post_ && !replay_now_) {
      send_fill(std::move(terms), std::move(op), sink);
      continue;
    }
    auto tx = ledger_.prepare(address_, std::move(op));
    Result<ledger::Receipt> receipt = std::unexpected(Error({}, ""));
    if (tx) {
      auto sig = crypto::sign(key_, tx->digest);
      if (sig) receipt = ledger_.submit(ledger::SignedTx{*tx, *sig});
      if (!sig) receipt = std::unexpected(sig.error());
    } else {
      receipt = std::unexpected(tx.error());
    }
    settle_fill(terms, receipt, result, &fills);
  }
}

namespace {

// The cancel before it had a type of its own: the ledger's CancelOrder(orderHash, nonce 0).
// Accepted only from a journal written then (a node upgraded over its data must replay it),
// never from a client.
Hash legacy_cancel_struct_hash(const Hash& order_hash) {
  static const Hash type = crypto::eip712::type_hash("CancelOrder(bytes32 orderHash,uint64 nonce)");
  return crypto::eip712::StructHasher(type).add_word(order_hash).add_uint(0).finish();
}

}  // namespace

Result<void> Market::cancel(const SignedCancel& c) {
  PinNow pin(*this);
  // The book as it is at the cancel's time, as replay sees it: an order that expired since the
  // last tick is refused here, never journaled and then failed (its replay would fail).
  book_.expire(static_cast<uint64_t>(to_unix_seconds(now())));
  auto it = by_hash_.find(c.order_hash);
  if (it == by_hash_.end())
    return fail(MarketErrc::unknown_order, "no order " + c.order_hash.hex());
  const Signed& s = orders_.at(it->second);
  Hash h = cancel_struct_hash(c.order_hash);
  auto signer = crypto::recover(crypto::eip712::digest(domain_separator_, h), c.signature);
  if ((!signer || *signer != s.owner) && replay_now_) {
    h = legacy_cancel_struct_hash(c.order_hash);
    signer = crypto::recover(crypto::eip712::digest(domain_separator_, h), c.signature);
  }
  if (!signer || *signer != s.owner) {
    return fail(MarketErrc::not_owner, "the cancel is not signed by the order's owner");
  }
  if (!book_.contains(it->second)) {
    return fail(MarketErrc::unknown_order,
                "the order is no longer in the book (filled or expired)");
  }
  nlohmann::json body = {{"order", c.order_hash.hex()}, {"signature", c.signature.to_hex()}};
  if (auto j = journal("cancel", body.dump()); !j) return std::unexpected(j.error());
  if (!book_.cancel(it->second)) {
    return fail(MarketErrc::unknown_order,
                "the order is no longer in the book (filled or expired)");
  }
  maybe_snapshot();
  return {};
}

Result<std::vector<Hash>> Market::set_reachable(const Address& provider, bool reachable) {
  if (book_.suspended(provider) == !reachable) return std::vector<Hash>{};
  nlohmann::json body = {{"provider", provider.to_string()}, {"reachable", reachable}};
  if (auto j = journal("reach", body.dump()); !j) return std::unexpected(j.error());
  std::vector<Fill> fills;
  book_.set_suspended(provider, !reachable, static_cast<uint64_t>(to_unix_seconds(now())), &fills);
  PlaceResult opened;
  execute(fills, &opened);
  maybe_snapshot();
  return opened.deals;
}

void Market::release_if_closed(DealRecord& d, Timestamp t, std::vector<Fill>* fills) {
  // While replaying, only the journaled "release" entries free places, where the run freed them:
  // the ledger is read as it is now, and a close it holds may have come after the entry being
  // replayed (freeing the place here would match orders the run left resting).
  if (d.released || replay_now_) return;
  // The ledger decides when a place is free again: it counts an offer's deals until they are
  // closed there (by the provider's closeDeal, a cooperative close, or a settle), whatever the
  // protocol status says. The protocol's close tells the parties to do so.
  auto view = ledger_.deal(d.deal_id);
  if (!view || view->state != ledger::DealState::closed) return;
  nlohmann::json body = {{"deal", d.deal_id.hex()}};
  if (!journal("release", body.dump())) return;  // retried on the next tick
  release(d, *view, t, fills);
}

void Market::put_deal(DealRecord rec) {
  if (rec.released) {
    open_ids_.erase(rec.deal_id);
    released_by_time_.emplace(rec.released_at, rec.deal_id);
  } else {
    open_ids_.insert(rec.deal_id);
  }
  if (!deals_.contains(rec.deal_id)) {
    deals_by_order_.emplace(rec.offer, rec.deal_id);
    deals_by_order_.emplace(rec.request, rec.deal_id);
  }
  deals_[rec.deal_id] = std::move(rec);
}

void Market::forget_deal(std::map<Hash, DealRecord>::iterator it) {
  for (OrderId order : {it->second.offer, it->second.request}) {
    auto [from, to] = deals_by_order_.equal_range(order);
    for (auto i = from; i != to;) i = i->second == it->first ? deals_by_order_.erase(i) : ++i;
  }
  deals_.erase(it);
}

void Market::release(DealRecord& d, const ledger::DealView& view, Timestamp t,
                     std::vector<Fill>* fills) {
  open_ids_.erase(d.deal_id);
  d.released = true;
  // The release entry's time (a tick's `t` is read before it journals), as replay sees it.
  d.released_at =
      static_cast<uint64_t>(to_unix_seconds(replay_now_ ? *replay_now_ : journaled_at_));
  released_by_time_.emplace(d.released_at, d.deal_id);
  // The reason: the one recorded on the ledger, or the protocol's when the closer gave none.
  ledger::CloseReason reason = view.reason;
  if (reason == ledger::CloseReason::unspecified)
    reason = d.progress.status(t, config_.timeouts).reason;
  profiles_.record_outcome(view.provider, view.requester, reason,
                           d.progress.requester_status.live_since.has_value());
  book_.release(d.offer, d.exclusive, static_cast<uint64_t>(to_unix_seconds(t)), fills);
}

Result<DealStatus> Market::status_event(const SignedStatusEvent& e) {
  PinNow pin(*this);
  auto it = deals_.find(e.event.deal_id);
  if (it == deals_.end()) return fail(MarketErrc::unknown_deal, "no deal " + e.event.deal_id.hex());
  Timestamp t = now();
  DealProgress& p = it->second.progress;
  const Address& signer = e.event.party == Party::provider ? p.provider : p.requester;
  if (auto v = verify_event(e, signer, domain_separator_); !v) return std::unexpected(v.error());
  if (auto c = check_transition(p, e.event, t, config_.timeouts); !c)
    return std::unexpected(c.error());
  nlohmann::json body = {{"deal", e.event.deal_id.hex()},
                         {"party", static_cast<int>(e.event.party)},
                         {"state", static_cast<int>(e.event.state)},
                         {"at", to_unix_ms(e.event.at)},
                         {"seq", e.event.seq},
                         {"signature", e.signature.to_hex()}};
  if (auto j = journal("event", body.dump()); !j) return std::unexpected(j.error());
  auto s = apply_event(p, e.event, t, config_.timeouts);
  if (!s) return s;
  std::vector<Fill> fills;
  release_if_closed(it->second, t, &fills);
  execute(fills, nullptr);
  maybe_snapshot();
  return s;
}

void Market::forget_dead_orders() {
  size_t live = book_.offers() + book_.requests();
  if (orders_.size() < 2 * live + 1024) return;
  for (auto it = orders_.begin(); it != orders_.end();) {
    if (book_.is_live(it->first) || busy_orders_.contains(it->first)) {
      ++it;
      continue;
    }
    by_hash_.erase(it->second.hash);  // seen_ keeps the hash: it is never placed again
    it = orders_.erase(it);
  }
}

std::vector<Hash> Market::tick() {
  Timestamp t = now();
  uint64_t now_s = static_cast<uint64_t>(to_unix_seconds(t));
  book_.expire(now_s);
  PlaceResult opened;
  std::vector<Fill> fills;
  // Windows that opened: journaled first, like every command that can fill.
  if (auto at = book_.next_opening(); at && *at <= now_s) {
    if (journal("advance", "{}")) advance_book(t, &fills);
  }
  execute(fills, &opened);
  // Ratings: only worth reading when a resting order has a minimum rating. The owners of live
  // orders, in id order (deterministic); a change (or a first look) re-matches its orders.
  if (book_.has_rating_filters()) {
    std::map<OrderId, Address> owners;
    for (const auto& [id, s] : orders_) {
      if (book_.is_live(id)) owners.emplace(id, s.owner);
    }
    std::unordered_set<Address> looked;
    for (const auto& [id, owner] : owners) {
      if (!looked.insert(owner).second) continue;
      uint16_t rating = profiles_.rating(owner);
      auto seen = ratings_seen_.find(owner);
      if (seen != ratings_seen_.end() && seen->second == rating) continue;
      nlohmann::json body = {{"party", owner.to_string()}, {"rating", rating}};
      if (!journal("rating", body.dump())) continue;  // retried on the next tick
      ratings_seen_[owner] = rating;
      fills.clear();
      rating_changed(owner, t, &fills);
      execute(fills, &opened);
    }
  }
  // Each release's fills are executed before the next release is journaled: journaling expires
  // the book, which also lets go of the requests filled so far (see OrderBook::refuse).
  // The ledger is read for at most tick_read_budget of wall time (and at least
  // kMinDealReadsPerTick deals), round the deals from where the last tick stopped: a read per
  // live deal per tick cost 66 ms a tick at 100,000 live deals on the embedded ledger, and a
  // call to the chain per deal each second on Ethereum, on the node's server thread.
  const auto read_until = std::chrono::steady_clock::now() + config_.tick_read_budget;
  size_t reads = 0;
  // Round the open deals only, at most once; each step looks up the next after the cursor, as a
  // release takes its deal out of open_ids_ and a fill may add one.
  for (size_t step = 0, n = open_ids_.size(); step < n && !open_ids_.empty(); ++step) {
    if (reads >= kMinDealReadsPerTick && std::chrono::steady_clock::now() >= read_until) break;
    auto it = open_ids_.upper_bound(release_cursor_);
    if (it == open_ids_.end()) it = open_ids_.begin();
    release_cursor_ = *it;
    auto d = deals_.find(release_cursor_);
    if (d == deals_.end()) {  // never: every open id is a deal's
      open_ids_.erase(it);
      continue;
    }
    ++reads;
    fills.clear();
    release_if_closed(d->second, t, &fills);
    execute(fills, &opened);
  }
  forget_dead_orders();
  maybe_snapshot();
  return opened.deals;
}

void Market::advance_book(Timestamp t, std::vector<Fill>* fills) {
  book_.advance(static_cast<uint64_t>(to_unix_seconds(t)), fills);
}

void Market::rating_changed(const Address& who, Timestamp t, std::vector<Fill>* fills) {
  book_.rating_changed(who, static_cast<uint64_t>(to_unix_seconds(t)), fills);
}

std::optional<Timestamp> Market::next_deadline() const {
  std::optional<Timestamp> best;
  Timestamp t = now();
  if (auto at = book_.next_opening()) {
    best = std::max(t, from_unix_ms(static_cast<int64_t>(*at) * 1000));
  }
  for (const Hash& id : open_ids_) {
    const DealRecord& d = deals_.at(id);
    auto next = market::next_deadline(d.progress.times, d.progress.provider_status,
                                      d.progress.requester_status, t, config_.timeouts);
    if (next && (!best || *next < *best)) best = next;
  }
  return best;
}

Result<DealStatus> Market::deal_status(const Hash& deal_id) const {
  auto it = deals_.find(deal_id);
  if (it == deals_.end()) return fail(MarketErrc::unknown_deal, "no deal " + deal_id.hex());
  return it->second.progress.status(now(), config_.timeouts);
}

std::vector<DealPrint> Market::recent_deals(size_t n) const {
  size_t from = prints_.size() > n ? prints_.size() - n : 0;
  return {prints_.begin() + static_cast<long>(from), prints_.end()};
}

size_t Market::open_deals() const {
  return open_ids_.size();
}

const DealRecord* Market::deal(const Hash& deal_id) const {
  auto it = deals_.find(deal_id);
  return it == deals_.end() ? nullptr : &it->second;
}

}  // namespace ipsx::market
