#include "market/snapshot.h"

#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "core/hex.h"
#include "ledger/tx_codec.h"
#include "market/market.h"

namespace ipsx::market {
namespace {

using nlohmann::json;

constexpr int kVersion = 1;

// Conversions throw (Bad, or json::exception) on bad input: decode() turns it into an error
// value, so nothing is thrown across the layer.
struct Bad : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string u256(const U256& v) {
  return v.to_hex();
}
U256 u256(const json& j) {
  auto v = U256::parse(j.get<std::string>());
  if (!v) throw Bad("bad amount");
  return *v;
}
std::string addr(const Address& a) {
  return to_hex(a.view());
}
Address addr(const json& j) {
  Address a;
  if (!from_hex_exact(j.get<std::string>(), a.bytes())) throw Bad("bad address");
  return a;
}
Hash hash(const json& j) {
  auto h = Hash::from_hex(j.get<std::string>());
  if (!h) throw Bad("bad hash");
  return *h;
}
int64_t ms(Timestamp t) {
  return to_unix_ms(t);
}
Timestamp ts(const json& j) {
  return from_unix_ms(j.get<int64_t>());
}

json party_status(const PartyStatus& s) {
  json j = {static_cast<int>(s.state), ms(s.at), s.seq, nullptr};
  if (s.live_since) j[3] = ms(*s.live_since);
  return j;
}
PartyStatus party_status(const json& j) {
  PartyStatus s;
  s.state = static_cast<PartyState>(j.at(0).get<int>());
  s.at = ts(j.at(1));
  s.seq = j.at(2).get<uint64_t>();
  if (!j.at(3).is_null()) s.live_since = ts(j.at(3));
  return s;
}

json progress(const DealProgress& p) {
  return {p.deal_id.hex(),
          addr(p.provider),
          addr(p.requester),
          ms(p.times.opened),
          ms(p.times.start),
          p.times.duration.count(),
          party_status(p.provider_status),
          party_status(p.requester_status)};
}
DealProgress progress(const json& j) {
  DealProgress p;
  p.deal_id = hash(j.at(0));
  p.provider = addr(j.at(1));
  p.requester = addr(j.at(2));
  p.times.opened = ts(j.at(3));
  p.times.start = ts(j.at(4));
  p.times.duration = Millis(j.at(5).get<int64_t>());
  p.provider_status = party_status(j.at(6));
  p.requester_status = party_status(j.at(7));
  return p;
}

template <class T>
std::vector<T> sorted(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

// ---- The order book ---------------------------------------------------------------------------

json SnapshotCodec::book_to_json(const OrderBook& b) {
  json offers = json::array();
  // In id order: a canonical form whatever the slots (two equal books encode equally).
  std::vector<std::pair<OrderId, uint32_t>> offer_slots(b.offer_slot_.begin(), b.offer_slot_.end());
  std::sort(offer_slots.begin(), offer_slots.end());
  for (const auto& [id, slot] : offer_slots) {
    const OrderBook::OfferEntry& o = b.offer_slab_[slot];
    offers.push_back({u256(o.price),
                      o.id,
                      o.expiry,
                      o.available_from,
                      o.available_until,
                      o.min_duration,
                      o.max_duration,
                      o.asn,
                      o.bandwidth_kbps,
                      o.capacity,
                      o.open,
                      o.provider,
                      o.region,
                      o.market,
                      o.fee_bps,
                      o.min_requester_rating,
                      o.bucket,
                      o.protocols,
                      o.scopes,
                      o.exclusive_open,
                      o.live,
                      to_hex(o.ip, false)});
  }
  json requests = json::array();
  std::vector<std::pair<OrderId, uint32_t>> request_slots;
  for (const auto& [id, slot] : b.request_slot_) {
    if (b.request_slab_[slot].live) request_slots.emplace_back(id, slot);  // not retired ones
  }
  std::sort(request_slots.begin(), request_slots.end());
  for (const auto& [id, slot] : request_slots) {
    const OrderBook::RequestEntry& r = b.request_slab_[slot];
    json subnets = json::array();
    for (const auto& s : r.subnets) subnets.push_back(to_hex(s, false));
    requests.push_back({u256(r.max_price),
                        u256(r.budget_left),
                        r.id,
                        r.expiry,
                        r.start,
                        r.duration,
                        r.filled,
                        r.count,
                        r.asn,
                        r.min_bandwidth_kbps,
                        r.requester,
                        r.region,
                        r.market,
                        r.fee_bps,
                        r.min_provider_rating,
                        r.ip_types,
                        r.protocols,
                        r.scope,
                        r.exclusive,
                        r.distinct_subnets,
                        r.all_or_none,
                        r.countries,
                        subnets,
                        r.used_offers});
  }
  json addresses = json::array();
  for (const auto& a : b.addresses_) addresses.push_back(addr(a));
  return {{"next_id", b.next_id_},          {"addresses", addresses},
          {"strings", b.strings_},          {"offers", offers},
          {"requests", requests},           {"expiries", sorted(b.expiries_)},
          {"openings", sorted(b.openings_)}};
}

Result<void> SnapshotCodec::book_from_json(OrderBook& b, const json& j) {
  b.next_id_ = j.at("next_id").get<OrderId>();
  for (const auto& a : j.at("addresses")) {
    b.address_ids_.emplace(addr(a), static_cast<uint32_t>(b.addresses_.size()));
    b.addresses_.push_back(addr(a));
  }
  b.strings_.clear();
  b.string_ids_.clear();
  for (const auto& s : j.at("strings")) {
    b.string_ids_.emplace(s.get<std::string>(), static_cast<uint32_t>(b.strings_.size()));
    b.strings_.push_back(s.get<std::string>());
  }
  auto check_interned = [&](uint32_t who, uint32_t region, uint32_t market) {
    if (who >= b.addresses_.size() || market >= b.addresses_.size() ||
        region >= b.strings_.size()) {
      throw Bad("an order names an unknown address or string");
    }
  };
  // Owners in id order, as placement builds them.
  std::vector<std::pair<OrderId, uint32_t>> owned;
  for (const auto& e : j.at("offers")) {
    OrderBook::OfferEntry o;
    o.price = u256(e.at(0));
    o.id = e.at(1).get<OrderId>();
    o.expiry = e.at(2).get<uint64_t>();
    o.available_from = e.at(3).get<uint64_t>();
    o.available_until = e.at(4).get<uint64_t>();
    o.min_duration = e.at(5).get<uint32_t>();
    o.max_duration = e.at(6).get<uint32_t>();
    o.asn = e.at(7).get<uint32_t>();
    o.bandwidth_kbps = e.at(8).get<uint32_t>();
    o.capacity = e.at(9).get<uint32_t>();
    o.open = e.at(10).get<uint32_t>();
    o.provider = e.at(11).get<uint32_t>();
    o.region = e.at(12).get<uint32_t>();
    o.market = e.at(13).get<uint32_t>();
    o.fee_bps = e.at(14).get<uint16_t>();
    o.min_requester_rating = e.at(15).get<uint16_t>();
    o.bucket = e.at(16).get<uint16_t>();
    o.protocols = e.at(17).get<uint8_t>();
    o.scopes = e.at(18).get<uint8_t>();
    o.exclusive_open = e.at(19).get<bool>();
    o.live = e.at(20).get<bool>();
    if (!from_hex_exact(e.at(21).get<std::string>(), o.ip)) throw Bad("bad ip");
    check_interned(o.provider, o.region, o.market);
    if (o.bucket >= b.buckets_.size()) throw Bad("bad bucket");
    auto slot = static_cast<uint32_t>(b.offer_slab_.size());
    b.offer_slab_.push_back(o);
    b.offer_slot_[o.id] = slot;
    if (o.live) {
      ++b.live_offers_;
      if (b.rating_filtered_offer(o)) ++b.rated_orders_;
      owned.emplace_back(o.id, o.provider);
      if (b.offer_available(o)) b.list_offer(slot);
    }
  }
  for (const auto& e : j.at("requests")) {
    OrderBook::RequestEntry r;
    r.max_price = u256(e.at(0));
    r.budget_left = u256(e.at(1));
    r.id = e.at(2).get<OrderId>();
    r.expiry = e.at(3).get<uint64_t>();
    r.start = e.at(4).get<uint64_t>();
    r.duration = e.at(5).get<uint64_t>();
    r.filled = e.at(6).get<uint64_t>();
    r.count = e.at(7).get<uint32_t>();
    r.asn = e.at(8).get<uint32_t>();
    r.min_bandwidth_kbps = e.at(9).get<uint32_t>();
    r.requester = e.at(10).get<uint32_t>();
    r.region = e.at(11).get<uint32_t>();
    r.market = e.at(12).get<uint32_t>();
    r.fee_bps = e.at(13).get<uint16_t>();
    r.min_provider_rating = e.at(14).get<uint16_t>();
    r.ip_types = e.at(15).get<uint8_t>();
    r.protocols = e.at(16).get<uint8_t>();
    r.scope = e.at(17).get<uint8_t>();
    r.exclusive = e.at(18).get<bool>();
    r.distinct_subnets = e.at(19).get<bool>();
    r.all_or_none = e.at(20).get<bool>();
    r.countries = e.at(21).get<std::vector<uint16_t>>();
    for (const auto& s : e.at(22)) {
      std::array<uint8_t, 6> net{};
      if (!from_hex_exact(s.get<std::string>(), net)) throw Bad("bad subnet");
      r.subnets.push_back(net);
    }
    r.used_offers = e.at(23).get<std::vector<OrderId>>();
    r.live = true;
    check_interned(r.requester, r.region, r.market);
    if (std::any_of(r.countries.begin(), r.countries.end(),
                    [&](uint16_t c) { return c + 1u >= b.request_lists_.size(); })) {
      throw Bad("bad country");
    }
    auto slot = static_cast<uint32_t>(b.request_slab_.size());
    b.request_slab_.push_back(std::move(r));
    const OrderBook::RequestEntry& placed = b.request_slab_[slot];
    b.request_slot_[placed.id] = slot;
    ++b.live_requests_;
    if (b.rating_filtered_request(placed)) ++b.rated_orders_;
    owned.emplace_back(placed.id, placed.requester);
    b.list_request(slot);
  }
  std::sort(owned.begin(), owned.end());
  for (const auto& [id, who] : owned) {
    if (who >= b.owned_.size()) b.owned_.resize(who + 1);
    b.owned_[who].push_back(id);
  }
  b.expiries_ = j.at("expiries").get<std::vector<std::pair<uint64_t, OrderId>>>();
  b.openings_ = j.at("openings").get<std::vector<std::pair<uint64_t, OrderId>>>();
  // Sorted ascending: a valid min-heap for std::greater.
  return {};
}

// ---- The market -------------------------------------------------------------------------------

std::string SnapshotCodec::encode(const Market& m) {
  json orders = json::array();
  std::vector<OrderId> ids;
  ids.reserve(m.orders_.size());
  for (const auto& [id, s] : m.orders_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (OrderId id : ids) {
    const Market::Signed& s = m.orders_.at(id);
    orders.push_back({id, s.is_offer,
                      s.is_offer ? ledger::to_json(s.offer) : ledger::to_json(s.request),
                      s.signature.to_hex(), s.hash.hex()});
  }
  std::vector<std::string> seen;
  seen.reserve(m.seen_.size());
  for (const auto& h : m.seen_) seen.push_back(h.hex());
  std::sort(seen.begin(), seen.end());
  json deals = json::array();
  for (const auto& [id, d] : m.deals_) {
    deals.push_back(
        {d.deal_id.hex(), d.offer, d.request, d.exclusive, d.released, progress(d.progress)});
  }
  json prints = json::array();
  for (const auto& p : m.prints_) {
    prints.push_back({p.deal_id.hex(), u256(p.price_per_second),
                      std::string(p.country.begin(), p.country.end()), static_cast<int>(p.ip_type),
                      ms(p.at)});
  }
  json fills = json::array();
  for (const auto& [h, n] : m.ledger_fills_) fills.push_back({h.hex(), n});
  std::sort(fills.begin(), fills.end());
  json ratings = json::array();
  for (const auto& [a, r] : m.ratings_seen_) ratings.push_back({addr(a), r});
  std::sort(ratings.begin(), ratings.end());
  json profiles = json::array();
  for (const auto& [a, p] : m.profiles_.history_) {
    profiles.push_back(
        {addr(a), p.provided, p.provided_active, p.requested, p.closed_by_reason, p.preferences});
  }
  std::sort(profiles.begin(), profiles.end());
  json j = {{"version", kVersion},   {"book", book_to_json(m.book_)},
            {"orders", orders},      {"seen", seen},
            {"deals", deals},        {"prints", prints},
            {"ledger_fills", fills}, {"ratings_seen", ratings},
            {"profiles", profiles}};
  std::vector<uint8_t> cbor = json::to_cbor(j);
  return std::string(cbor.begin(), cbor.end());
}

Result<void> SnapshotCodec::decode(Market& m, std::string_view body) {
  try {
    json j = json::from_cbor(body.begin(), body.end());
    if (j.at("version").get<int>() != kVersion) {
      return fail(MarketErrc::storage, fmt::format("snapshot version {}, this build reads {}",
                                                   j.at("version").dump(), kVersion));
    }
    if (auto b = book_from_json(m.book_, j.at("book")); !b) return b;
    for (const auto& e : j.at("orders")) {
      Market::Signed s;
      OrderId id = e.at(0).get<OrderId>();
      s.is_offer = e.at(1).get<bool>();
      if (s.is_offer) {
        auto o = ledger::offer_from_json(e.at(2));
        if (!o) return std::unexpected(o.error());
        s.offer = *o;
        s.owner = o->provider;
      } else {
        auto r = ledger::request_from_json(e.at(2));
        if (!r) return std::unexpected(r.error());
        s.request = *r;
        s.owner = r->requester;
      }
      auto sig = crypto::Signature::from_hex(e.at(3).get<std::string>());
      if (!sig) return std::unexpected(sig.error());
      s.signature = *sig;
      s.hash = hash(e.at(4));
      m.by_hash_[s.hash] = id;
      m.orders_[id] = std::move(s);
    }
    for (const auto& h : j.at("seen")) m.seen_.insert(hash(h));
    for (const auto& e : j.at("deals")) {
      DealRecord d;
      d.deal_id = hash(e.at(0));
      d.offer = e.at(1).get<OrderId>();
      d.request = e.at(2).get<OrderId>();
      d.exclusive = e.at(3).get<bool>();
      d.released = e.at(4).get<bool>();
      d.progress = progress(e.at(5));
      m.deals_[d.deal_id] = std::move(d);
    }
    for (const auto& e : j.at("prints")) {
      DealPrint p;
      p.deal_id = hash(e.at(0));
      p.price_per_second = u256(e.at(1));
      std::string c = e.at(2).get<std::string>();
      if (c.size() != p.country.size()) throw Bad("bad country");
      std::copy(c.begin(), c.end(), p.country.begin());
      p.ip_type = static_cast<ledger::IpType>(e.at(3).get<int>());
      p.at = ts(e.at(4));
      m.prints_.push_back(p);
    }
    for (const auto& e : j.at("ledger_fills"))
      m.ledger_fills_[hash(e.at(0))] = e.at(1).get<uint64_t>();
    for (const auto& e : j.at("ratings_seen"))
      m.ratings_seen_[addr(e.at(0))] = e.at(1).get<uint16_t>();
    for (const auto& e : j.at("profiles")) {
      Profile p;
      p.id = addr(e.at(0));
      p.provided = e.at(1).get<uint64_t>();
      p.provided_active = e.at(2).get<uint64_t>();
      p.requested = e.at(3).get<uint64_t>();
      p.closed_by_reason = e.at(4).get<std::array<uint64_t, 7>>();
      p.preferences = e.at(5).get<std::map<std::string, std::string>>();
      m.profiles_.history_[p.id] = std::move(p);
    }
  } catch (const json::exception& e) {
    return fail(MarketErrc::storage, fmt::format("malformed snapshot: {}", e.what()));
  } catch (const Bad& e) {
    return fail(MarketErrc::storage, fmt::format("malformed snapshot: {}", e.what()));
  }
  return {};
}

}  // namespace ipsx::market
