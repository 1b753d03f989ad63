// The market's recovery: its snapshot, then the journal's entries after it, each replayed at
// its recorded time as the run applied it (market.h, Market::recover).
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "crypto/eip712.h"
#include "ledger/tx_codec.h"
#include "market/market.h"
#include "market/order_entry.h"
#include "market/snapshot.h"

namespace ipsx::market {

Result<size_t> Market::recover() {
  if (!journal_) {
    recovered_ = true;
    return size_t{0};
  }
  auto snap = journal_->load_snapshot();
  if (!snap) return std::unexpected(snap.error());
  uint64_t after = 0;
  snapshot_rejected_.reset();
  if (*snap) {
    auto body = SnapshotCodec::unseal((*snap)->body);
    Result<void> d = body ? SnapshotCodec::decode(*this, *body) : std::unexpected(body.error());
    if (d) {
      after = (*snap)->seq;
    } else {
      // A bad snapshot is never used. The journal replaces it if it still holds every entry
      // (snapshots did not prune it); otherwise the entries it covered are gone.
      std::string why = fmt::format("the snapshot at entry {} is rejected: {}", (*snap)->seq,
                                    d.error().message());
      auto first = journal_->first_seq();
      if (!first) return std::unexpected(first.error());
      if (*first != 1) {
        return fail(MarketErrc::storage,
                    fmt::format("{}; the journal was pruned before it (its first entry is {}), so "
                                "it cannot be replayed instead",
                                why, *first));
      }
      SnapshotCodec::reset(*this);
      snapshot_rejected_ = why + "; replaying the whole journal instead";
    }
  }
  // The fills the run saw refused after later commands (replay_held_).
  replay_refused_.clear();
  replay_fault_.reset();
  auto scanned = journal_->for_each(
      [&](const JournalEntry& e) -> Result<void> {
        if (e.kind != "fill_refused") return {};
        auto j = nlohmann::json::parse(e.body, nullptr, false);
        if (!j.is_object()) return {};
        auto text = [&](const char* k) {
          return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string();
        };
        auto offer = Hash::from_hex(text("offer"));
        auto request = Hash::from_hex(text("request"));
        if (offer && request) replay_refused_.insert({*offer, *request});
        return {};
      },
      after);
  if (!scanned) return std::unexpected(scanned.error());
  size_t n = 0;
  // Entries in batches: the orders' signatures are recovered on every core (prepare_replay),
  // then the batch is applied in order on this thread.
  std::vector<JournalEntry> batch;
  auto apply = [&]() -> Result<void> {
    std::vector<std::optional<Placement>> prepared = prepare_replay(batch);
    for (size_t i = 0; i < batch.size(); ++i) {
      const JournalEntry& e = batch[i];
      replay_now_ = e.at;
      auto done = prepared[i] ? replay_order(*prepared[i]) : replay(e);
      replay_now_.reset();
      if (done && replay_fault_) {
        done = std::unexpected(
            replay_fault_->with_context("reading from the ledger whether a fill's deal exists"));
      }
      if (!done) {
        return fail(MarketErrc::storage, fmt::format("journal entry {} ({}) does not replay: {}",
                                                     e.seq, e.kind, done.error().message()));
      }
      ++n;
    }
    batch.clear();
    return {};
  };
  auto r = journal_->for_each(
      [&](const JournalEntry& e) -> Result<void> {
        batch.push_back(e);
        return batch.size() < kReplayBatch ? Result<void>{} : apply();
      },
      after);
  if (r) r = apply();
  if (!r) return std::unexpected(r.error());
  replay_refused_.clear();
  // A refused fill whose entry is missing cannot be (entries are appended in order); should one
  // be held still, it is let go as refused, which is what the run recorded of it.
  while (!replay_held_.empty()) {
    nlohmann::json j{{"offer", replay_held_.begin()->first.first.hex()},
                     {"request", replay_held_.begin()->first.second.hex()}};
    replay_now_ = now();
    (void)replay_refusal(j);
    replay_now_.reset();
  }
  auto last = journal_->last_seq();
  if (!last) return std::unexpected(last.error());
  last_seq_ = std::max(*last, after);
  since_snapshot_ = n;
  recovered_ = true;
  return n;
}

Result<void> Market::replay(const JournalEntry& e) {
  if (e.kind == kOfferEntry || e.kind == kRequestEntry) {  // prepare_order could not read it
    auto p = decode_order_entry(e.kind, e.body);
    if (!p) return std::unexpected(p.error());
    return replay_order(*p);
  }
  expire_journaled(static_cast<uint64_t>(to_unix_seconds(now())));  // as journal() did
  auto j = nlohmann::json::parse(e.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail(MarketErrc::storage, "not JSON");
  auto sig_of = [&](const char* key) -> Result<crypto::Signature> {
    if (!j.contains(key) || !j[key].is_string())
      return fail(MarketErrc::storage, std::string("no ") + key);
    return crypto::Signature::from_hex(j[key].get<std::string>());
  };
  auto hash_of = [&](const char* key) -> Result<Hash> {
    if (!j.contains(key) || !j[key].is_string())
      return fail(MarketErrc::storage, std::string("no ") + key);
    return Hash::from_hex(j[key].get<std::string>());
  };
  if (e.kind == "offer" || e.kind == "request") {
    auto sig = sig_of("signature");
    if (!sig) return std::unexpected(sig.error());
    if (e.kind == "offer") {
      auto o = ledger::offer_from_json(j["offer"]);
      if (!o) return std::unexpected(o.error());
      auto placed = place_offer(*o, *sig);
      if (!placed) return std::unexpected(placed.error());
    } else {
      auto q = ledger::request_from_json(j["request"]);
      if (!q) return std::unexpected(q.error());
      auto placed = place_request(*q, *sig);
      if (!placed) return std::unexpected(placed.error());
    }
    return {};
  }
  if (e.kind == "cancel") {
    auto h = hash_of("order");
    auto sig = sig_of("signature");
    if (!h || !sig) return fail(MarketErrc::storage, "malformed cancel");
    return cancel(SignedCancel{*h, *sig});
  }
  if (e.kind == "event") {
    auto h = hash_of("deal");
    auto sig = sig_of("signature");
    if (!h || !sig) return fail(MarketErrc::storage, "malformed event");
    StatusEvent ev{*h, static_cast<Party>(j.value("party", 0)),
                   static_cast<PartyState>(j.value("state", 0)),
                   from_unix_ms(j.value("at", int64_t{0})), j.value("seq", uint64_t{0})};
    auto s = status_event(SignedStatusEvent{ev, *sig});
    if (!s) return std::unexpected(s.error());
    return {};
  }
  if (e.kind == "release") {
    auto h = hash_of("deal");
    if (!h) return std::unexpected(h.error());
    auto it = deals_.find(*h);
    if (it == deals_.end()) return fail(MarketErrc::unknown_deal, "release of an unknown deal");
    auto view = ledger_.deal(*h);
    if (!view) return std::unexpected(view.error());
    if (it->second.released) return {};
    std::vector<Fill> fills;
    release(it->second, *view, now(), &fills);
    execute(fills, nullptr);
    return {};
  }
  if (e.kind == "advance") {
    std::vector<Fill> fills;
    advance_book(now(), &fills);
    execute(fills, nullptr);
    return {};
  }
  if (e.kind == "rating") {
    if (!j.contains("party") || !j["party"].is_string())
      return fail(MarketErrc::storage, "malformed rating");
    auto who = Address::parse(j["party"].get<std::string>());
    if (!who) return std::unexpected(who.error());
    ratings_seen_[*who] = j.value("rating", uint16_t{0});
    std::vector<Fill> fills;
    rating_changed(*who, now(), &fills);
    execute(fills, nullptr);
    return {};
  }
  if (e.kind == "reach") {
    if (!j.contains("provider") || !j["provider"].is_string() || !j.contains("reachable") ||
        !j["reachable"].is_boolean())
      return fail(MarketErrc::storage, "malformed reach");
    auto who = Address::parse(j["provider"].get<std::string>());
    if (!who) return std::unexpected(who.error());
    auto r = set_reachable(*who, j["reachable"].get<bool>());
    if (!r) return std::unexpected(r.error());
    return {};
  }
  if (e.kind == "fill_refused") return replay_refusal(j);
  return fail(MarketErrc::storage, "unknown journal entry kind " + e.kind);
}

std::optional<Placement> Market::prepare_order(const JournalEntry& e) const {
  Placement p;
  if (e.kind == kOfferEntry || e.kind == kRequestEntry) {
    auto decoded = decode_order_entry(e.kind, e.body);
    if (!decoded) return std::nullopt;  // replay() says what is wrong with it
    p = std::move(*decoded);
  } else if (e.kind == "offer" || e.kind == "request") {  // an entry written before, in JSON
    auto j = nlohmann::json::parse(e.body, nullptr, false);
    if (!j.is_object() || !j.contains("signature") || !j["signature"].is_string())
      return std::nullopt;
    auto sig = crypto::Signature::from_hex(j["signature"].get<std::string>());
    if (!sig) return std::nullopt;
    p.is_offer = e.kind == "offer";
    p.signature = *sig;
    if (p.is_offer) {
      auto o = ledger::offer_from_json(j["offer"]);
      if (!o) return std::nullopt;
      p.offer = std::move(*o);
    } else {
      auto q = ledger::request_from_json(j["request"]);
      if (!q) return std::nullopt;
      p.request = std::move(*q);
    }
  } else {
    return std::nullopt;
  }
  Hash hash = p.is_offer ? p.offer.struct_hash() : p.request.struct_hash();
  auto signer = crypto::recover(crypto::eip712::digest(domain_separator_, hash), p.signature);
  p.verified = Placement::Verified{hash, signer ? std::optional(*signer) : std::nullopt};
  return p;
}

std::vector<std::optional<Placement>> Market::prepare_replay(
    const std::vector<JournalEntry>& batch) const {
  std::vector<std::optional<Placement>> out(batch.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < batch.size(); i = next++) out[i] = prepare_order(batch[i]);
  };
  size_t threads = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 16);
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads && t * 64 < batch.size(); ++t) helpers.emplace_back(work);
  work();
  for (auto& h : helpers) h.join();
  return out;
}

Result<void> Market::replay_order(const Placement& p) {
  expire_journaled(static_cast<uint64_t>(to_unix_seconds(now())));  // as journal() did
  auto placed = place(std::span(&p, 1));
  if (!placed[0]) return std::unexpected(placed[0].error());
  return {};
}
}  // namespace ipsx::market
