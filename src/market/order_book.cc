#include "market/order_book.h"

#include <algorithm>
#include <queue>

#include "core/country.h"

namespace ipsx::market {
namespace {

constexpr size_t kCountries = 249;
constexpr size_t kAnyCountry = kCountries;  // index of the "any country" request list

// The subnet key of an IP: /24 for IPv4 (mapped), /48 for IPv6.
std::array<uint8_t, 6> subnet_of(const std::array<uint8_t, 16>& ip) {
  bool v4 = std::all_of(ip.begin(), ip.begin() + 10, [](uint8_t b) { return b == 0; }) &&
            ip[10] == 0xff && ip[11] == 0xff;
  std::array<uint8_t, 6> k{};
  if (v4) {
    k = {0xff, 0xff, ip[12], ip[13], ip[14], 0};
  } else {
    std::copy(ip.begin(), ip.begin() + 6, k.begin());
  }
  return k;
}

}  // namespace

std::optional<uint16_t> country_index(const ledger::CountryCode& c) {
  const auto& all = country_codes();
  auto it = std::lower_bound(all.begin(), all.end(), std::array<char, 2>{c[0], c[1]});
  if (it == all.end() || *it != std::array<char, 2>{c[0], c[1]}) return std::nullopt;
  return static_cast<uint16_t>(it - all.begin());
}

OrderBook::OrderBook(RatingOf rating_of)
    : rating_of_(std::move(rating_of)), buckets_(kCountries * 4), request_lists_(kCountries + 1) {
  strings_.push_back("");
  string_ids_[""] = 0;
}

uint32_t OrderBook::intern(const Address& a) {
  auto [it, inserted] = address_ids_.try_emplace(a, static_cast<uint32_t>(addresses_.size()));
  if (inserted) addresses_.push_back(a);
  return it->second;
}

uint32_t OrderBook::intern(const std::string& s) {
  if (s.empty()) return 0;
  auto [it, inserted] = string_ids_.try_emplace(s, static_cast<uint32_t>(strings_.size()));
  if (inserted) strings_.push_back(s);
  return it->second;
}

bool OrderBook::offer_available(const OfferEntry& o) const {
  return o.live && !o.exclusive_open && o.open < o.capacity;
}

bool OrderBook::fits(const OfferEntry& o, const RequestEntry& r, uint64_t now) const {
  if (!offer_available(o) || !r.live) return false;
  if (o.price > r.max_price) return false;
  if (o.market != r.market || o.fee_bps != r.fee_bps || o.provider == r.requester) return false;
  if (r.duration < o.min_duration || r.duration > o.max_duration) return false;
  if ((r.protocols & ~o.protocols) != 0 || (r.scope & o.scopes) == 0) return false;
  if (r.ip_types != 0 && (r.ip_types & (1u << (o.bucket % 4))) == 0) return false;
  if (r.region != 0 && r.region != o.region) return false;
  if (r.asn != 0 && r.asn != o.asn) return false;
  if (o.bandwidth_kbps < r.min_bandwidth_kbps) return false;
  if (now > o.expiry || now > r.expiry) return false;
  uint64_t start = std::max(now, r.start);
  if (start < o.available_from) return false;
  if (o.available_until != 0 && start + r.duration > o.available_until) return false;
  if (r.exclusive && o.open != 0) return false;
  if (r.min_provider_rating > 0 || o.min_requester_rating > 0) {
    auto rating = [&](uint32_t who) -> uint16_t {
      return rating_of_ ? rating_of_(addresses_[who]) : 0;
    };
    if (r.min_provider_rating > 0 && rating(o.provider) < r.min_provider_rating) return false;
    if (o.min_requester_rating > 0 && rating(r.requester) < o.min_requester_rating) return false;
  }
  return true;
}

// ---- indexes ------------------------------------------------------------------------------------

bool OrderBook::bucket_less(const BucketEntry& a, const BucketEntry& b) const {
  if (a.key != b.key) return a.key < b.key;
  const OfferEntry& x = offer_slab_[a.slot];
  const OfferEntry& y = offer_slab_[b.slot];
  return x.price < y.price || (x.price == y.price && x.id < y.id);
}

void OrderBook::list_offer(uint32_t slot) {
  OfferEntry& o = offer_slab_[slot];
  auto& chunks = buckets_[o.bucket].chunks;
  BucketEntry e{price_key(o.price), slot};
  auto less = [&](const BucketEntry& x, const BucketEntry& y) { return bucket_less(x, y); };
  o.listed = true;
  if (chunks.empty()) {
    chunks.emplace_back().push_back(e);
    return;
  }
  // The first chunk whose last entry is not before `e` (or the last chunk) takes it.
  auto c = std::lower_bound(chunks.begin(), chunks.end(), e,
                            [&](const std::vector<BucketEntry>& ch, const BucketEntry& v) {
                              return bucket_less(ch.back(), v);
                            });
  if (c == chunks.end()) c = std::prev(chunks.end());
  c->insert(std::lower_bound(c->begin(), c->end(), e, less), e);
  if (c->size() > kChunk) {
    std::vector<BucketEntry> tail(c->begin() + kChunk / 2, c->end());
    c->resize(kChunk / 2);
    chunks.insert(std::next(c), std::move(tail));
  }
}

void OrderBook::unlist_offer(uint32_t slot) {
  OfferEntry& o = offer_slab_[slot];
  if (!o.listed) return;
  o.listed = false;
  auto& chunks = buckets_[o.bucket].chunks;
  BucketEntry e{price_key(o.price), slot};
  auto c = std::lower_bound(chunks.begin(), chunks.end(), e,
                            [&](const std::vector<BucketEntry>& ch, const BucketEntry& v) {
                              return bucket_less(ch.back(), v);
                            });
  if (c == chunks.end()) return;
  auto it = std::lower_bound(
      c->begin(), c->end(), e,
      [&](const BucketEntry& x, const BucketEntry& y) { return bucket_less(x, y); });
  if (it == c->end() || it->slot != slot) return;
  c->erase(it);
  if (c->empty()) chunks.erase(c);
}

void OrderBook::list_request(uint32_t slot) {
  RequestEntry& r = request_slab_[slot];
  auto insert = [&](std::vector<uint32_t>& list) {
    auto it = std::lower_bound(list.begin(), list.end(), slot, [&](uint32_t a, uint32_t) {
      const RequestEntry& x = request_slab_[a];
      return x.max_price > r.max_price || (x.max_price == r.max_price && x.id < r.id);
    });
    list.insert(it, slot);
  };
  if (r.countries.empty()) {
    insert(request_lists_[kAnyCountry]);
  } else {
    for (uint16_t c : r.countries) insert(request_lists_[c]);
  }
  r.listed = true;
}

void OrderBook::unlist_request(uint32_t slot) {
  RequestEntry& r = request_slab_[slot];
  if (!r.listed) return;
  auto erase = [&](std::vector<uint32_t>& list) {
    auto it = std::lower_bound(list.begin(), list.end(), slot, [&](uint32_t a, uint32_t) {
      const RequestEntry& x = request_slab_[a];
      return x.max_price > r.max_price || (x.max_price == r.max_price && x.id < r.id);
    });
    if (it != list.end() && *it == slot) list.erase(it);
  };
  if (r.countries.empty()) {
    erase(request_lists_[kAnyCountry]);
  } else {
    for (uint16_t c : r.countries) erase(request_lists_[c]);
  }
  r.listed = false;
}

void OrderBook::drop_request(uint32_t slot) {
  RequestEntry& r = request_slab_[slot];
  if (!r.live) return;
  unlist_request(slot);
  r.live = false;
  --live_requests_;
  if (rating_filtered_request(r)) --rated_orders_;
  request_slot_.erase(r.id);
  r = RequestEntry{};
  free_requests_.push_back(slot);
}

void OrderBook::retire_request(uint32_t slot) {
  RequestEntry& r = request_slab_[slot];
  if (!r.live) return;
  unlist_request(slot);
  r.live = false;
  r.done = true;
  --live_requests_;
  if (rating_filtered_request(r)) --rated_orders_;
  done_requests_.push_back(slot);
}

void OrderBook::flush_done() {
  for (uint32_t slot : done_requests_) {
    RequestEntry& r = request_slab_[slot];
    if (!r.done) continue;  // brought back by refuse()
    request_slot_.erase(r.id);
    r = RequestEntry{};
    free_requests_.push_back(slot);
  }
  done_requests_.clear();
}

void OrderBook::add_owned(uint32_t owner, OrderId id) {
  if (owner >= owned_.size()) owned_.resize(owner + 1);
  auto& ids = owned_[owner];
  ids.push_back(id);
  // Amortized: compact whenever the list reaches a power of two (at least 32).
  if (ids.size() >= 32 && (ids.size() & (ids.size() - 1)) == 0) {
    std::erase_if(ids, [&](OrderId x) { return !is_live(x); });
  }
}

// ---- placing ----------------------------------------------------------------------------------

OrderId OrderBook::place_offer(const ledger::Offer& offer, uint64_t now, std::vector<Fill>* fills) {
  flush_done();
  uint32_t slot;
  if (!free_offers_.empty()) {
    slot = free_offers_.back();
    free_offers_.pop_back();
  } else {
    slot = static_cast<uint32_t>(offer_slab_.size());
    offer_slab_.emplace_back();
  }
  OfferEntry& o = offer_slab_[slot];
  o = OfferEntry{};
  o.id = next_id_++;
  o.price = offer.price_per_second;
  o.expiry = offer.expiry;
  o.available_from = offer.available_from;
  o.available_until = offer.available_until;
  o.min_duration = static_cast<uint32_t>(offer.min_duration);
  o.max_duration = static_cast<uint32_t>(offer.max_duration);
  o.asn = offer.asn;
  o.bandwidth_kbps = offer.bandwidth_kbps;
  o.capacity = offer.capacity;
  o.provider = intern(offer.provider);
  o.region = intern(offer.region);
  o.market = intern(offer.market);
  o.fee_bps = offer.fee_bps;
  o.min_requester_rating = offer.min_requester_rating;
  o.bucket = static_cast<uint16_t>(country_index(offer.country).value_or(0) * 4 +
                                   static_cast<uint8_t>(offer.ip_type));
  o.protocols = static_cast<uint8_t>(offer.protocols);
  o.scopes = static_cast<uint8_t>(offer.scopes);
  o.ip = offer.ip;
  o.live = true;
  OrderId id = o.id;
  offer_slot_[id] = slot;
  ++live_offers_;
  expiries_.emplace_back(offer.expiry, id);
  std::push_heap(expiries_.begin(), expiries_.end(), std::greater<>());
  if (offer.available_from > now) {
    openings_.emplace_back(offer.available_from, id);
    std::push_heap(openings_.begin(), openings_.end(), std::greater<>());
  }
  if (rating_filtered_offer(o)) ++rated_orders_;
  add_owned(o.provider, id);
  list_offer(slot);
  match_offer(slot, now, fills);
  return id;
}

OrderId OrderBook::place_request(const ledger::Request& request, uint64_t now,
                                 std::vector<Fill>* fills) {
  flush_done();
  uint32_t slot;
  if (!free_requests_.empty()) {
    slot = free_requests_.back();
    free_requests_.pop_back();
  } else {
    slot = static_cast<uint32_t>(request_slab_.size());
    request_slab_.emplace_back();
  }
  RequestEntry& r = request_slab_[slot];
  r = RequestEntry{};
  r.id = next_id_++;
  r.max_price = request.max_price_per_second;
  r.budget_left = request.budget;
  r.expiry = request.expiry;
  r.start = request.start;
  r.duration = request.duration;
  r.count = request.count;
  r.asn = request.asn;
  r.min_bandwidth_kbps = request.min_bandwidth_kbps;
  r.requester = intern(request.requester);
  r.region = intern(request.region);
  r.market = intern(request.market);
  r.fee_bps = request.fee_bps;
  r.min_provider_rating = request.min_provider_rating;
  r.ip_types = request.ip_types;
  r.protocols = static_cast<uint8_t>(request.protocols);
  r.scope = static_cast<uint8_t>(request.scope);
  r.exclusive = request.exclusive;
  r.distinct_subnets = request.distinct_subnets;
  r.all_or_none = request.all_or_none;
  for (const auto& c : request.countries) {
    if (auto i = country_index(c)) r.countries.push_back(*i);
  }
  std::sort(r.countries.begin(), r.countries.end());
  r.countries.erase(std::unique(r.countries.begin(), r.countries.end()), r.countries.end());
  r.live = true;
  OrderId id = r.id;
  request_slot_[id] = slot;
  ++live_requests_;
  expiries_.emplace_back(request.expiry, id);
  std::push_heap(expiries_.begin(), expiries_.end(), std::greater<>());
  if (rating_filtered_request(r)) ++rated_orders_;
  add_owned(r.requester, id);
  match_request(slot, now, fills);
  if (request_slab_[slot].live && request_slab_[slot].id == id) list_request(slot);
  return id;
}

// ---- matching ---------------------------------------------------------------------------------

void OrderBook::take(uint32_t offer_slot, uint32_t request_slot, const U256& price,
                     std::vector<Fill>* fills) {
  OfferEntry& o = offer_slab_[offer_slot];
  RequestEntry& r = request_slab_[request_slot];
  o.open += 1;
  if (r.exclusive) o.exclusive_open = true;
  if (!offer_available(o)) unlist_offer(offer_slot);
  uint64_t index = r.filled++;
  // The cost was checked against the budget before; it cannot underflow here.
  U256 cost = *price.checked_mul(r.duration);
  r.budget_left = r.budget_left.checked_sub(cost).value_or(U256());
  if (r.distinct_subnets) r.subnets.push_back(subnet_of(o.ip));
  r.used_offers.push_back(o.id);
  if (fills) fills->push_back(Fill{o.id, r.id, price, index});
  if (r.filled >= r.count) retire_request(request_slot);
}

void OrderBook::match_request(uint32_t slot, uint64_t now, std::vector<Fill>* fills) {
  const RequestEntry& r = request_slab_[slot];
  uint64_t wanted = r.count - r.filled;
  // The buckets the request can take from: its countries (or all) x its types (or all).
  std::vector<uint16_t> countries = r.countries;
  if (countries.empty()) {
    countries.resize(kCountries);
    for (size_t i = 0; i < kCountries; ++i) countries[i] = static_cast<uint16_t>(i);
  }
  // A k-way merge of the buckets by (price, id): the cheapest, then earliest, offer first.
  struct Head {
    uint32_t bucket;
    uint32_t chunk;
    uint32_t pos;
  };
  auto at = [&](const Head& h) -> const BucketEntry& {
    return buckets_[h.bucket].chunks[h.chunk][h.pos];
  };
  auto worse = [&](const Head& a, const Head& b) { return bucket_less(at(b), at(a)); };
  std::priority_queue<Head, std::vector<Head>, decltype(worse)> heap(worse);
  for (uint16_t c : countries) {
    for (uint32_t t = 1; t <= 3; ++t) {
      if (r.ip_types != 0 && (r.ip_types & (1u << t)) == 0) continue;
      uint32_t b = c * 4u + t;
      const auto& chunks = buckets_[b].chunks;
      if (!chunks.empty() && !(offer_slab_[chunks[0][0].slot].price > r.max_price)) {
        heap.push({b, 0, 0});
      }
    }
  }
  std::vector<uint32_t> chosen;
  std::vector<std::array<uint8_t, 6>> subnets = r.subnets;
  U256 spent;
  while (!heap.empty() && chosen.size() < wanted) {
    Head h = heap.top();
    heap.pop();
    uint32_t offer_slot = at(h).slot;
    const OfferEntry& o = offer_slab_[offer_slot];
    if (o.price > r.max_price) break;  // every other head is at least as expensive
    const auto& chunks = buckets_[h.bucket].chunks;
    if (h.pos + 1 < chunks[h.chunk].size()) {
      heap.push({h.bucket, h.chunk, h.pos + 1});
    } else if (h.chunk + 1 < chunks.size()) {
      heap.push({h.bucket, h.chunk + 1, 0});
    }
    if (!fits(o, r, now)) continue;
    if (std::find(r.used_offers.begin(), r.used_offers.end(), o.id) != r.used_offers.end())
      continue;
    std::array<uint8_t, 6> net{};
    if (r.distinct_subnets) {
      net = subnet_of(o.ip);
      if (std::find(subnets.begin(), subnets.end(), net) != subnets.end()) continue;
    }
    auto cost = o.price.checked_mul(r.duration);
    auto total = cost ? spent.checked_add(*cost) : std::nullopt;
    // Offers come cheapest first: one the budget cannot pay, no later one can.
    if (!total || *total > r.budget_left) break;
    spent = *total;
    chosen.push_back(offer_slot);
    if (r.distinct_subnets) subnets.push_back(net);
  }
  if (r.all_or_none && chosen.size() < wanted) return;
  for (uint32_t offer_slot : chosen) {
    if (!request_slab_[slot].live) break;
    take(offer_slot, slot, offer_slab_[offer_slot].price, fills);
  }
}

void OrderBook::match_offer(uint32_t slot, uint64_t now, std::vector<Fill>* fills) {
  // Resting requests of the offer's country and of "any country", best price first, then
  // earliest, walked with a cursor (the last request seen): filling a request removes it from
  // the lists, so each step finds its place again by binary search instead of keeping indexes.
  const uint32_t mine_list = offer_slab_[slot].bucket / 4;
  const OrderId offer_id = offer_slab_[slot].id;
  std::optional<std::pair<U256, OrderId>> cursor;  // (max price, id) of the last request seen
  auto after_cursor = [&](const std::vector<uint32_t>& list) {
    if (!cursor) return list.begin();
    return std::upper_bound(
        list.begin(), list.end(), *cursor, [&](const std::pair<U256, OrderId>& key, uint32_t a) {
          const RequestEntry& x = request_slab_[a];
          return key.first > x.max_price || (key.first == x.max_price && key.second < x.id);
        });
  };
  for (;;) {
    const OfferEntry& o = offer_slab_[slot];
    if (o.id != offer_id || !offer_available(o)) return;
    const auto& mine = request_lists_[mine_list];
    const auto& any = request_lists_[kAnyCountry];
    auto i = after_cursor(mine);
    auto j = after_cursor(any);
    uint32_t r_slot;
    if (i == mine.end() && j == any.end()) return;
    if (j == any.end()) {
      r_slot = *i;
    } else if (i == mine.end()) {
      r_slot = *j;
    } else {
      const RequestEntry& x = request_slab_[*i];
      const RequestEntry& y = request_slab_[*j];
      bool first = x.max_price > y.max_price || (x.max_price == y.max_price && x.id < y.id);
      r_slot = first ? *i : *j;
    }
    RequestEntry& r = request_slab_[r_slot];
    if (r.max_price < o.price) return;  // every later request bids less
    cursor = std::make_pair(r.max_price, r.id);
    if (!fits(o, r, now)) continue;
    if (std::find(r.used_offers.begin(), r.used_offers.end(), offer_id) != r.used_offers.end())
      continue;
    if (r.distinct_subnets &&
        std::find(r.subnets.begin(), r.subnets.end(), subnet_of(o.ip)) != r.subnets.end()) {
      continue;
    }
    if (r.all_or_none) {
      // Whole or nothing: try the request against the whole book, this offer included.
      match_request(r_slot, now, fills);
      continue;
    }
    auto cost = r.max_price.checked_mul(r.duration);
    if (!cost || *cost > r.budget_left) continue;
    take(slot, r_slot, r.max_price, fills);  // at the resting request's price
  }
}

// ---- market data --------------------------------------------------------------------------------

std::vector<DepthLevel> OrderBook::offer_depth(const ledger::CountryCode& country,
                                               ledger::IpType type, size_t levels) const {
  std::vector<DepthLevel> out;
  auto c = country_index(country);
  if (!c) return out;
  for (const auto& chunk : buckets_[*c * 4u + static_cast<uint8_t>(type)].chunks) {
    for (const BucketEntry& e : chunk) {
      const OfferEntry& o = offer_slab_[e.slot];
      if (out.empty() || out.back().price != o.price) {
        if (out.size() == levels) return out;
        out.push_back({o.price, 0, 0});
      }
      out.back().orders += 1;
      out.back().ips += o.capacity - o.open;
    }
  }
  return out;
}

std::vector<DepthLevel> OrderBook::request_depth(const ledger::CountryCode& country,
                                                 size_t levels) const {
  std::vector<DepthLevel> out;
  auto c = country_index(country);
  if (!c) return out;
  // Merge the country's list and the "any country" list, both sorted by price descending.
  std::vector<uint32_t> all(request_lists_[*c]);
  all.insert(all.end(), request_lists_[kAnyCountry].begin(), request_lists_[kAnyCountry].end());
  std::stable_sort(all.begin(), all.end(), [&](uint32_t a, uint32_t b) {
    return request_slab_[a].max_price > request_slab_[b].max_price;
  });
  for (uint32_t slot : all) {
    const RequestEntry& r = request_slab_[slot];
    if (out.empty() || out.back().price != r.max_price) {
      if (out.size() == levels) break;
      out.push_back({r.max_price, 0, 0});
    }
    out.back().orders += 1;
    out.back().ips += r.count - r.filled;
  }
  return out;
}

// ---- leaving ----------------------------------------------------------------------------------

bool OrderBook::contains(OrderId id) const {
  if (auto it = offer_slot_.find(id); it != offer_slot_.end()) {
    return offer_slab_[it->second].live && offer_slab_[it->second].listed;
  }
  auto it = request_slot_.find(id);
  return it != request_slot_.end() && request_slab_[it->second].live;
}

bool OrderBook::is_live(OrderId id) const {
  if (auto it = offer_slot_.find(id); it != offer_slot_.end()) return offer_slab_[it->second].live;
  return contains(id);
}

bool OrderBook::cancel(OrderId id) {
  if (auto it = offer_slot_.find(id); it != offer_slot_.end()) {
    uint32_t slot = it->second;
    OfferEntry& o = offer_slab_[slot];
    if (!o.live) return false;
    unlist_offer(slot);
    o.live = false;
    --live_offers_;
    if (rating_filtered_offer(o)) --rated_orders_;
    if (o.open == 0) {
      offer_slot_.erase(it);
      free_offers_.push_back(slot);
    }
    return true;
  }
  if (auto it = request_slot_.find(id); it != request_slot_.end()) {
    if (!request_slab_[it->second].live) return false;  // filled (retired)
    drop_request(it->second);
    return true;
  }
  return false;
}

size_t OrderBook::expire(uint64_t now) {
  flush_done();
  size_t n = 0;
  while (!expiries_.empty() && expiries_.front().first < now) {
    OrderId id = expiries_.front().second;
    std::pop_heap(expiries_.begin(), expiries_.end(), std::greater<>());
    expiries_.pop_back();
    // cancel() is false for orders already gone (filled, cancelled); an offer whose every place
    // is in use is still live and leaves too, so it does not return when its deals end.
    if (cancel(id)) ++n;
  }
  return n;
}

void OrderBook::release(OrderId offer, bool exclusive, uint64_t now, std::vector<Fill>* fills) {
  auto it = offer_slot_.find(offer);
  if (it == offer_slot_.end()) return;
  uint32_t slot = it->second;
  OfferEntry& o = offer_slab_[slot];
  if (o.open > 0) --o.open;
  if (exclusive) o.exclusive_open = false;
  if (!o.live) {
    if (o.open == 0) {
      offer_slot_.erase(it);
      free_offers_.push_back(slot);
    }
    return;
  }
  if (offer_available(o) && !o.listed) list_offer(slot);
  if (offer_available(o)) match_offer(slot, now, fills);
}

}  // namespace ipsx::market

namespace ipsx::market {

// ---- refusals and re-matching -------------------------------------------------------------------

void OrderBook::refuse(const Fill& fill, bool offer_at_fault, bool exclusive, uint64_t now,
                       std::vector<Fill>* fills) {
  if (!offer_at_fault) {
    cancel(fill.request);  // false if the fill completed it: it is retired already
    release(fill.offer, exclusive, now, fills);
    return;
  }
  std::array<uint8_t, 16> ip{};
  if (auto it = offer_slot_.find(fill.offer); it != offer_slot_.end()) {
    ip = offer_slab_[it->second].ip;
  }
  cancel(fill.offer);
  release(fill.offer, exclusive, now, nullptr);  // gives back the place; the entry is freed
  auto it = request_slot_.find(fill.request);
  if (it == request_slot_.end()) return;
  uint32_t slot = it->second;
  RequestEntry& r = request_slab_[slot];
  if (r.done) {
    r.done = false;  // flush_done() skips it
    r.live = true;
    ++live_requests_;
    if (rating_filtered_request(r)) ++rated_orders_;
  }
  if (!r.live || r.filled == 0) return;
  r.filled -= 1;
  U256 cost = fill.price_per_second.checked_mul(r.duration).value_or(U256());
  r.budget_left = r.budget_left.checked_add(cost).value_or(r.budget_left);
  if (r.distinct_subnets) {
    auto net = std::find(r.subnets.begin(), r.subnets.end(), subnet_of(ip));
    if (net != r.subnets.end()) r.subnets.erase(net);
  }
  // The offer's id stays in used_offers: it has left the book anyway.
  match_request(slot, now, fills);
  RequestEntry& after = request_slab_[slot];
  if (after.live && after.id == fill.request && !after.listed) list_request(slot);
}

void OrderBook::advance(uint64_t now, std::vector<Fill>* fills) {
  flush_done();
  std::vector<uint32_t> opened;
  while (!openings_.empty() && openings_.front().first <= now) {
    OrderId id = openings_.front().second;
    std::pop_heap(openings_.begin(), openings_.end(), std::greater<>());
    openings_.pop_back();
    auto it = offer_slot_.find(id);
    if (it != offer_slot_.end() && offer_slab_[it->second].live) opened.push_back(it->second);
  }
  // Price-time priority among the offers opening together: cheapest first, then earliest.
  std::sort(opened.begin(), opened.end(), [&](uint32_t a, uint32_t b) {
    const OfferEntry& x = offer_slab_[a];
    const OfferEntry& y = offer_slab_[b];
    return x.price < y.price || (x.price == y.price && x.id < y.id);
  });
  for (uint32_t slot : opened) {
    if (offer_available(offer_slab_[slot])) match_offer(slot, now, fills);
  }
}

std::optional<uint64_t> OrderBook::next_opening() const {
  if (openings_.empty()) return std::nullopt;
  return openings_.front().first;
}

void OrderBook::rating_changed(const Address& who, uint64_t now, std::vector<Fill>* fills) {
  auto a = address_ids_.find(who);
  if (a == address_ids_.end()) return;
  if (a->second >= owned_.size()) return;
  std::vector<uint32_t> offers, requests;
  for (OrderId id : owned_[a->second]) {
    if (auto o = offer_slot_.find(id); o != offer_slot_.end()) {
      if (offer_slab_[o->second].live) offers.push_back(o->second);
    } else if (auto r = request_slot_.find(id); r != request_slot_.end()) {
      if (request_slab_[r->second].live) requests.push_back(r->second);
    }
  }
  std::sort(offers.begin(), offers.end(), [&](uint32_t x, uint32_t y) {
    const OfferEntry& p = offer_slab_[x];
    const OfferEntry& q = offer_slab_[y];
    return p.price < q.price || (p.price == q.price && p.id < q.id);
  });
  std::sort(requests.begin(), requests.end(), [&](uint32_t x, uint32_t y) {
    const RequestEntry& p = request_slab_[x];
    const RequestEntry& q = request_slab_[y];
    return p.max_price > q.max_price || (p.max_price == q.max_price && p.id < q.id);
  });
  for (uint32_t slot : offers) {
    if (offer_available(offer_slab_[slot])) match_offer(slot, now, fills);
  }
  for (uint32_t slot : requests) {
    RequestEntry& r = request_slab_[slot];
    if (!r.live) continue;
    OrderId id = r.id;
    match_request(slot, now, fills);
    RequestEntry& after = request_slab_[slot];
    if (after.live && after.id == id && !after.listed) list_request(slot);
  }
  // What is left of the owner's list: its orders still live.
  std::erase_if(owned_[a->second], [&](OrderId x) { return !is_live(x); });
}

}  // namespace ipsx::market
