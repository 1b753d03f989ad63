#include "market/order_book.h"

#include <algorithm>
#include <cstring>

#include "core/country.h"
#include "market/order_book_internal.h"

namespace ipsx::market {

using book_internal::address_hash;
using book_internal::id_home;
using book_internal::kAnyCountry;
using book_internal::kCountries;
using book_internal::prefetch;

std::optional<uint16_t> country_index(const CountryCode& c) {
  // A 26 x 26 table of the assigned codes' indexes, built once (kNone: unassigned).
  static constexpr uint16_t kNone = UINT16_MAX;
  static const std::array<uint16_t, 26 * 26> table = [] {
    std::array<uint16_t, 26 * 26> t;
    t.fill(kNone);
    const auto& all = country_codes();
    for (size_t i = 0; i < all.size(); ++i) {
      if (all[i][0] >= 'A' && all[i][0] <= 'Z' && all[i][1] >= 'A' && all[i][1] <= 'Z')
        t[(all[i][0] - 'A') * 26 + (all[i][1] - 'A')] = static_cast<uint16_t>(i);
    }
    return t;
  }();
  if (c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' || c[1] > 'Z') return std::nullopt;
  uint16_t i = table[(c[0] - 'A') * 26 + (c[1] - 'A')];
  if (i == kNone) return std::nullopt;
  return i;
}

OrderBook::OrderBook(RatingOf rating_of)
    : rating_of_(std::move(rating_of)), buckets_(kCountries * 4), request_lists_(kCountries + 1) {
  strings_.push_back("");
  string_ids_[""] = 0;
}

bool OrderBook::has_place(const OfferEntry& o) const {
  return o.live && !o.exclusive_open && o.open < o.capacity;
}

bool OrderBook::offer_available(const OfferEntry& o) const {
  return has_place(o) && !o.suspended;
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

bool OrderBook::wide_price_less(const BucketEntry& a, const BucketEntry& b) const {
  const U256& x = offer_slab_[a.slot].price;
  const U256& y = offer_slab_[b.slot].price;
  return x < y || (x == y && a.id < b.id);
}

size_t OrderBook::chunk_of(const Bucket& b, const BucketEntry& e) const {
  const Directory& d = b.last;
  if (d.size() == 0) return 0;
  // Fills take the cheapest offers, so most removals are in the first chunk: checked first, by
  // key alone unless the keys are equal (the ids and slots are other lines).
  if (e.key != d.keys[0] ? e.key < d.keys[0] : !bucket_less(d.at(0), e)) return 0;
  prefetch(d.keys.data(), d.size() * sizeof(uint64_t));
  prefetch(b.chunks.data(), b.chunks.size() * sizeof(b.chunks[0]));  // the chunk found is read next
  // The first chunk whose last entry is not less than `e`: by key, then past the entries of an
  // equal key that come before (as in position_in).
  auto i = static_cast<size_t>(std::lower_bound(d.keys.begin() + 1, d.keys.end(), e.key) -
                               d.keys.begin());
  while (i < d.size() && d.keys[i] == e.key && bucket_less(d.at(i), e)) ++i;
  return i;
}

uint32_t OrderBook::position_in(const Chunk& c, const BucketEntry& e) const {
  // By key first, then past the entries of an equal key that come before (by id, or for a
  // saturated key by the full price). The whole chunk is loaded at once, without waiting for its
  // count: the search reads keys, the caller's insert or erase moves keys, ids and slots.
  prefetch(&c, sizeof(Chunk));
  auto pos = static_cast<uint32_t>(std::lower_bound(c.keys.begin(), c.keys.begin() + c.n, e.key) -
                                   c.keys.begin());
  while (pos < c.n && c.keys[pos] == e.key && bucket_less(c.at(pos), e)) ++pos;
  return pos;
}

void OrderBook::list_offer(uint32_t slot, size_t ci) {
  OfferEntry& o = offer_slab_[slot];
  Bucket& b = buckets_[o.bucket];
  BucketEntry e{price_key(o.price), o.id, slot};
  o.listed = true;
  if (b.chunks.empty()) {
    b.chunks.push_back(new_chunk());
    refresh_front(b);
    b.last.insert(0, e);
    b.chunks[0]->n = 1;
    b.chunks[0]->set(0, e);
    b.first = e;
    return;
  }
  // The first chunk whose last entry is not before `e` (or the last chunk) takes it.
  if (ci == kUnknownChunk) ci = std::min(chunk_of(b, e), b.chunks.size() - 1);
  if (b.chunks[ci]->n == kChunk) {
    // Full: its upper half moves to a new chunk after it.
    Chunk* tail = new_chunk();
    Chunk& c = *b.chunks[ci];
    constexpr uint32_t kHalf = kChunk / 2;
    tail->n = kChunk - kHalf;
    std::copy(c.keys.begin() + kHalf, c.keys.end(), tail->keys.begin());
    std::copy(c.ids.begin() + kHalf, c.ids.end(), tail->ids.begin());
    std::copy(c.slots.begin() + kHalf, c.slots.end(), tail->slots.begin());
    c.n = kHalf;
    b.last.insert(ci, c.at(kHalf - 1));
    b.chunks.insert(b.chunks.begin() + static_cast<ptrdiff_t>(ci) + 1, tail);
    if (bucket_less(b.last.at(ci), e)) ++ci;
  }
  Chunk& c = *b.chunks[ci];
  uint32_t pos = position_in(c, e);
  std::copy_backward(c.keys.begin() + pos, c.keys.begin() + c.n, c.keys.begin() + c.n + 1);
  std::copy_backward(c.ids.begin() + pos, c.ids.begin() + c.n, c.ids.begin() + c.n + 1);
  std::copy_backward(c.slots.begin() + pos, c.slots.begin() + c.n, c.slots.begin() + c.n + 1);
  c.set(pos, e);
  ++c.n;
  if (pos + 1 == c.n) b.last.set(ci, e);
  if (ci == 0 && pos == 0) b.first = e;
}

void OrderBook::unlist_offer(uint32_t slot, size_t ci) {
  OfferEntry& o = offer_slab_[slot];
  if (!o.listed) return;
  o.listed = false;
  Bucket& b = buckets_[o.bucket];
  BucketEntry e{price_key(o.price), o.id, slot};
  if (ci == kUnknownChunk) ci = chunk_of(b, e);
  if (ci == b.chunks.size()) return;
  uint32_t pos = position_in(*b.chunks[ci], e);
  if (pos == b.chunks[ci]->n || b.chunks[ci]->slots[pos] != slot) return;  // not listed
  Chunk& c = *b.chunks[ci];
  std::copy(c.keys.begin() + pos + 1, c.keys.begin() + c.n, c.keys.begin() + pos);
  std::copy(c.ids.begin() + pos + 1, c.ids.begin() + c.n, c.ids.begin() + pos);
  std::copy(c.slots.begin() + pos + 1, c.slots.begin() + c.n, c.slots.begin() + pos);
  --c.n;
  if (c.n == 0) {
    free_chunk(&c);
    b.chunks.erase(b.chunks.begin() + static_cast<ptrdiff_t>(ci));
    b.last.erase(ci);
    refresh_front(b);
    if (ci == 0) refresh_first(b);
    return;
  }
  if (pos == c.n) b.last.set(ci, c.at(c.n - 1));
  if (ci == 0 && pos == 0) b.first = c.at(0);
  // A chunk down to a quarter merges into its successor when both fit in three quarters, so
  // that erasures cannot leave many nearly empty chunks.
  if (c.n < kChunk / 4 && ci + 1 < b.chunks.size() && c.n + b.chunks[ci + 1]->n <= kChunk * 3 / 4) {
    Chunk& next = *b.chunks[ci + 1];
    std::copy_backward(next.keys.begin(), next.keys.begin() + next.n,
                       next.keys.begin() + next.n + c.n);
    std::copy_backward(next.ids.begin(), next.ids.begin() + next.n,
                       next.ids.begin() + next.n + c.n);
    std::copy_backward(next.slots.begin(), next.slots.begin() + next.n,
                       next.slots.begin() + next.n + c.n);
    std::copy(c.keys.begin(), c.keys.begin() + c.n, next.keys.begin());
    std::copy(c.ids.begin(), c.ids.begin() + c.n, next.ids.begin());
    std::copy(c.slots.begin(), c.slots.begin() + c.n, next.slots.begin());
    next.n += c.n;
    free_chunk(&c);
    b.chunks.erase(b.chunks.begin() + static_cast<ptrdiff_t>(ci));
    b.last.erase(ci);
    refresh_front(b);
  }
}

OrderBook::Chunk* OrderBook::new_chunk() {
  Chunk* c;
  if (!free_chunks_.empty()) {
    c = free_chunks_.back();
    free_chunks_.pop_back();
  } else {
    c = &chunk_slab_.emplace_back();
  }
  c->n = 0;
  return c;
}

bool OrderBook::request_before(uint32_t a, uint32_t b) const {
  const RequestEntry& x = request_slab_[a];
  const RequestEntry& y = request_slab_[b];
  return x.max_price > y.max_price || (x.max_price == y.max_price && x.id < y.id);
}

void OrderBook::list_request(uint32_t slot) {
  RequestEntry& r = request_slab_[slot];
  auto insert = [&](std::vector<uint32_t>& list) {
    auto it = std::lower_bound(list.begin(), list.end(), slot,
                               [&](uint32_t a, uint32_t b) { return request_before(a, b); });
    list.insert(it, slot);
  };
  if (r.countries.empty()) {
    insert(request_lists_[kAnyCountry]);
  } else {
    for (uint16_t c : r.countries) insert(request_lists_[c]);
  }
  r.listed = true;
}

void OrderBook::list_live_requests() {
  // Appended, then each list sorted once: inserting one by one would move half a list each time.
  for (auto& list : request_lists_) list.clear();
  for (uint32_t slot = 0; slot < request_slab_.size(); ++slot) {
    RequestEntry& r = request_slab_[slot];
    if (!r.live) continue;
    if (r.countries.empty()) {
      request_lists_[kAnyCountry].push_back(slot);
    } else {
      for (uint16_t c : r.countries) request_lists_[c].push_back(slot);
    }
    r.listed = true;
  }
  for (auto& list : request_lists_) {
    std::sort(list.begin(), list.end(),
              [&](uint32_t a, uint32_t b) { return request_before(a, b); });
  }
}

void OrderBook::unlist_request(uint32_t slot) {
  RequestEntry& r = request_slab_[slot];
  if (!r.listed) return;
  auto erase = [&](std::vector<uint32_t>& list) {
    auto it = std::lower_bound(list.begin(), list.end(), slot,
                               [&](uint32_t a, uint32_t b) { return request_before(a, b); });
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
  free_request_slot(slot);
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
  size_t kept = 0;
  for (uint32_t slot : done_requests_) {
    if (!request_slab_[slot].done) continue;  // brought back by refuse()
    if (!held_.empty() && held_.contains(request_slab_[slot].id)) {
      done_requests_[kept++] = slot;  // a fill of it still on its way: refuse() may need it
      continue;
    }
    free_request_slot(slot);
  }
  done_requests_.resize(kept);
}

void OrderBook::hold(OrderId request) {
  ++held_[request];
}

void OrderBook::unhold(OrderId request) {
  auto it = held_.find(request);
  if (it != held_.end() && --it->second == 0) held_.erase(it);
}

// ---- placing ----------------------------------------------------------------------------------

OrderId OrderBook::place_offer(const Offer& offer, uint64_t now, std::vector<Fill>* fills) {
  // The provider's cell, the new id's cell and the bucket's directory are independent misses:
  // start all three, so that they overlap each other and the set-up (the chunk's load starts as
  // soon as the directory is in, below).
  if (!address_table_.empty())
    prefetch(&address_table_[address_hash(offer.provider) & (address_table_.size() - 1)]);
  if (!ids_.empty()) prefetch(&ids_[id_home(static_cast<uint32_t>(next_id_), ids_.size() - 1)]);
  if (!free_offers_.empty()) {
    // The slot about to be reused is written whole: ask for its lines in writable state.
    const char* entry = reinterpret_cast<const char*>(&offer_slab_[free_offers_.back()]);
    __builtin_prefetch(entry, 1);
    __builtin_prefetch(entry + 64, 1);
  }
  const uint16_t bucket = static_cast<uint16_t>(country_index(offer.country).value_or(0) * 4 +
                                                static_cast<uint8_t>(offer.ip_type));
  if (bucket < buckets_.size()) {
    const Bucket& b = buckets_[bucket];
    prefetch(b.last.keys.data(), b.last.size() * sizeof(uint64_t));
    prefetch(b.chunks.data(), b.chunks.size() * sizeof(b.chunks[0]));
  }
  // The chunk that will take the offer, found now (the directory is the bucket's, and the offer's
  // key and id are known: its id is the next one) so that the chunk loads during the set-up
  // instead of after it. Not for a saturated key, whose order needs the full prices.
  size_t ci = kUnknownChunk;
  if (bucket < buckets_.size() && offer.price_per_second.fits_u64() &&
      offer.price_per_second.low64() != UINT64_MAX && !buckets_[bucket].chunks.empty()) {
    const Bucket& b = buckets_[bucket];
    ci = std::min(chunk_of(b, BucketEntry{offer.price_per_second.low64(), next_id_, kNil}),
                  b.chunks.size() - 1);
    prefetch(b.chunks[ci], sizeof(Chunk));
  }
  flush_done();
  uint32_t slot = new_offer_slot();
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
  // The market first: interning a new address may move every cell, the provider's included.
  o.market = intern(offer.market, last_market_);
  uint32_t provider_cell = kNil;
  o.provider = intern(offer.provider, last_owner_, &provider_cell);
  // The provider's first order's links are rewritten by link_owner() below: start loading them
  // now, so that the miss overlaps the bucket's. The list's head is in the provider's cell.
  uint32_t head = address_table_[provider_cell].head;
  if (head != kNil && !(head & kRequestRef) && head < offer_owner_links_.size())
    prefetch(&offer_owner_links_[head]);
  o.region = intern(offer.region);
  o.fee_bps = offer.fee_bps;
  o.min_requester_rating = offer.min_requester_rating;
  o.bucket = bucket;
  o.protocols = static_cast<uint8_t>(offer.protocols);
  o.scopes = static_cast<uint8_t>(offer.scopes);
  o.ip = offer.ip;
  o.live = true;
  o.suspended = address_table_[provider_cell].suspended;
  OrderId id = o.id;
  index_id(id, slot, id_hint(bucket, o.price));
  link_owner(o.provider, slot, provider_cell);
  ++live_offers_;
  expiries_.push(offer.expiry, id);
  if (offer.available_from > now) {
    openings_.emplace_back(offer.available_from, id);
    std::push_heap(openings_.begin(), openings_.end(), std::greater<>());
  }
  if (rating_filtered_offer(offer_slab_[slot])) ++rated_orders_;
  list_offer(slot, ci);  // nothing changed the bucket since `ci` was found
  match_offer(slot, now, fills);
  return id;
}

OrderId OrderBook::place_request(const Request& request, uint64_t now, std::vector<Fill>* fills) {
  // The merge below starts with each bucket's cheapest offer, the requester is looked up in the
  // address table and the new id takes a cell of the id index: start loading those lines now,
  // so that the misses overlap each other and the set-up.
  if (!address_table_.empty())
    prefetch(&address_table_[address_hash(request.requester) & (address_table_.size() - 1)]);
  if (!ids_.empty()) prefetch(&ids_[id_home(static_cast<uint32_t>(next_id_), ids_.size() - 1)]);
  if (request.countries.size() <= 4) {
    for (const auto& code : request.countries) {
      auto c = country_index(code);
      if (!c) continue;
      for (uint32_t t = 1; t <= 3; ++t) {
        const Bucket& b = buckets_[*c * 4u + t];
        if ((request.ip_types != 0 && (request.ip_types & (1u << t)) == 0) || b.front == nullptr)
          continue;
        prefetch(&offer_slab_[b.first.slot], sizeof(OfferEntry));
        // The first chunk, whole: the merge's next candidates are read from its slots, and a
        // fill takes its entry out of it (searching its keys, moving its keys, ids and slots).
        prefetch(b.front, sizeof(Chunk));
      }
    }
  }
  flush_done();
  uint32_t slot = new_request_slot();
  RequestEntry& r = request_slab_[slot];  // reset when its slot was freed
  r.id = next_id_++;
  r.max_price = request.max_price_per_second;
  r.budget_left = request.budget;
  r.expiry = request.expiry;
  r.start = request.start;
  r.duration = request.duration;
  r.count = request.count;
  r.asn = request.asn;
  r.min_bandwidth_kbps = request.min_bandwidth_kbps;
  // The market first: interning a new address may move every cell, the requester's included.
  r.market = intern(request.market, last_market_);
  uint32_t requester_cell = kNil;
  r.requester = intern(request.requester, last_owner_, &requester_cell);
  r.region = intern(request.region);
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
  if (r.countries.size() > 1) {
    std::sort(r.countries.begin(), r.countries.end());
    r.countries.erase(std::unique(r.countries.begin(), r.countries.end()), r.countries.end());
  }
  r.live = true;
  OrderId id = r.id;
  index_id(id, slot | kRequestRef);
  link_owner(r.requester, slot | kRequestRef, requester_cell);
  ++live_requests_;
  expiries_.push(request.expiry, id);
  if (rating_filtered_request(r)) ++rated_orders_;
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
  if (!has_place(o)) unlist_offer(offer_slot);
  uint64_t index = r.filled++;
  // The cost was checked against the budget before; it cannot underflow here.
  U256 cost = *price.checked_mul(r.duration);
  r.budget_left = r.budget_left.checked_sub(cost).value_or(U256());
  if (r.distinct_subnets) r.subnets.push_back(subnet_key(o.ip));
  r.used_offers.push_back(o.id);
  if (fills) fills->push_back(Fill{o.id, r.id, price, index});
  if (r.filled >= r.count) retire_request(request_slot);
}

void OrderBook::match_request(uint32_t slot, uint64_t now, std::vector<Fill>* fills) {
  const RequestEntry& r = request_slab_[slot];
  uint64_t wanted = r.count - r.filled;
  // A k-way merge of the buckets by (price, id): the cheapest, then earliest, offer first. The
  // buckets the request can take from: its countries (or all) x its types (or all).
  auto worse = [&](const Head& a, const Head& b) { return bucket_less(b.e, a.e); };
  heads_.clear();
  auto add_country = [&](uint32_t c) {
    for (uint32_t t = 1; t <= 3; ++t) {
      if (r.ip_types != 0 && (r.ip_types & (1u << t)) == 0) continue;
      uint32_t b = c * 4u + t;
      const BucketEntry& first = buckets_[b].first;
      if (first.slot != kNil && !dearer(first, r.max_price)) heads_.push_back({first, b, 0, 0});
    }
  };
  if (r.countries.empty()) {
    for (uint32_t c = 0; c < kCountries; ++c) add_country(c);
  } else {
    for (uint16_t c : r.countries) add_country(c);
  }
  std::make_heap(heads_.begin(), heads_.end(), worse);
  // The candidates after each bucket's cheapest: load their entries together now, rather than
  // each while the one before it is checked.
  if (wanted > 1) {
    for (const Head& h : heads_) {
      const Chunk& c = *buckets_[h.bucket].front;
      for (uint32_t i = 1; i < std::min<uint64_t>(c.n, wanted + 1); ++i)
        prefetch(&offer_slab_[c.slots[i]], sizeof(OfferEntry));
    }
  }
  chosen_.clear();
  std::vector<SubnetKey> subnets;
  if (r.distinct_subnets) subnets = r.subnets;
  U256 spent;
  while (!heads_.empty() && chosen_.size() < wanted) {
    std::pop_heap(heads_.begin(), heads_.end(), worse);
    Head h = heads_.back();
    heads_.pop_back();
    // Every other head is at least as expensive (the key tells without reading the entry).
    if (dearer(h.e, r.max_price)) break;
    uint32_t offer_slot = h.e.slot;
    const OfferEntry& o = offer_slab_[offer_slot];
    prefetch(&o, sizeof(OfferEntry));
    const Bucket& bucket = buckets_[h.bucket];
    const Chunk* chunk = h.chunk == 0 ? bucket.front : bucket.chunks[h.chunk];
    if (h.pos + 1 < chunk->n) {
      heads_.push_back({chunk->at(h.pos + 1), h.bucket, h.chunk, h.pos + 1});
      std::push_heap(heads_.begin(), heads_.end(), worse);
    } else if (h.chunk + 1 < bucket.chunks.size()) {
      heads_.push_back({bucket.chunks[h.chunk + 1]->at(0), h.bucket, h.chunk + 1, 0});
      std::push_heap(heads_.begin(), heads_.end(), worse);
    }
    // The next candidate's entry loads while this one is checked.
    if (chosen_.size() + 1 < wanted && !heads_.empty() && !dearer(heads_.front().e, r.max_price))
      prefetch(&offer_slab_[heads_.front().e.slot], sizeof(OfferEntry));
    if (!fits(o, r, now)) continue;
    if (std::find(r.used_offers.begin(), r.used_offers.end(), o.id) != r.used_offers.end())
      continue;
    SubnetKey net{};
    if (r.distinct_subnets) {
      net = subnet_key(o.ip);
      if (std::find(subnets.begin(), subnets.end(), net) != subnets.end()) continue;
    }
    auto cost = o.price.checked_mul(r.duration);
    auto total = cost ? spent.checked_add(*cost) : std::nullopt;
    // Offers come cheapest first: one the budget cannot pay, no later one can.
    if (!total || *total > r.budget_left) break;
    spent = *total;
    chosen_.push_back(offer_slot);
    if (r.distinct_subnets) subnets.push_back(net);
  }
  if (r.all_or_none && chosen_.size() < wanted) return;
  for (uint32_t offer_slot : chosen_) {
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
        std::find(r.subnets.begin(), r.subnets.end(), subnet_key(o.ip)) != r.subnets.end()) {
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

// ---- leaving ----------------------------------------------------------------------------------

bool OrderBook::contains(OrderId id) const {
  uint32_t ref = find_ref(id);
  if (ref == kNil) return false;
  if (ref & kRequestRef) return request_slab_[ref & ~kRequestRef].live;
  return offer_slab_[ref].live && offer_slab_[ref].listed;
}

bool OrderBook::is_live(OrderId id) const {
  uint32_t ref = find_ref(id);
  if (ref == kNil) return false;
  if (ref & kRequestRef) return request_slab_[ref & ~kRequestRef].live;
  return offer_slab_[ref].live;
}

bool OrderBook::cancel(OrderId id) {
  // The id's cell names the entry, and for an offer its bucket and price: the search for its
  // chunk starts before the entry (read to confirm the id) has arrived.
  size_t ci = kUnknownChunk;
  uint32_t ref = find_ref(id, [&](const IdCell& c) {
    ci = kUnknownChunk;
    if (c.hint == kNoHint || (c.ref & kRequestRef)) return;
    prefetch(&offer_slab_[c.ref]);
    prefetch(&offer_owner_links_[c.ref]);
    const Bucket& b = buckets_[c.hint >> kHintKeyBits];
    ci = chunk_of(b, BucketEntry{c.hint & ((uint64_t{1} << kHintKeyBits) - 1), id, c.ref});
    if (ci < b.chunks.size()) prefetch(b.chunks[ci], sizeof(Chunk));
  });
  if (ref == kNil) return false;
  if (ref & kRequestRef) {
    uint32_t slot = ref & ~kRequestRef;
    if (!request_slab_[slot].live) return false;  // filled (retired)
    drop_request(slot);
    return true;
  }
  OfferEntry& o = offer_slab_[ref];
  if (!o.live) return false;
  // Two chains of misses follow: the bucket's directory then chunk, and the offer's owner links
  // then its neighbours' (rewritten when the slot is freed). Each step of one starts while the
  // other waits: the links load with the entry, the neighbours' during the chunk. (An offer
  // without a hint finds its chunk here.)
  const OwnerLink& own = offer_owner_links_[ref];
  prefetch(&own);
  if (!o.listed) {
    ci = kUnknownChunk;
  } else if (ci == kUnknownChunk) {
    const Bucket& b = buckets_[o.bucket];
    ci = chunk_of(b, BucketEntry{price_key(o.price), o.id, ref});
    if (ci < b.chunks.size()) prefetch(b.chunks[ci], sizeof(Chunk));
  }
  if (own.prev != kNil) prefetch(&owner_link(own.prev));
  if (own.next != kNil) prefetch(&owner_link(own.next));
  unlist_offer(ref, ci);  // the chunk found above: the directory is searched once
  o.live = false;
  --live_offers_;
  if (rating_filtered_offer(o)) --rated_orders_;
  if (o.open == 0) free_offer_slot(ref);
  return true;
}

size_t OrderBook::expire(uint64_t now) {
  flush_done();
  size_t n = 0;
  std::vector<ExpiryQueue::Entry> due;
  expiries_.pop_before(now, due);
  for (const auto& [expiry, id] : due) {
    // cancel() is false for orders already gone (filled, cancelled); an offer whose every place
    // is in use is still live and leaves too, so it does not return when its deals end.
    if (cancel(id)) ++n;
  }
  return n;
}

void OrderBook::release(OrderId offer, bool exclusive, uint64_t now, std::vector<Fill>* fills) {
  uint32_t slot = find_ref(offer);
  if (slot == kNil || (slot & kRequestRef)) return;
  OfferEntry& o = offer_slab_[slot];
  if (o.open > 0) --o.open;
  if (exclusive) o.exclusive_open = false;
  if (!o.live) {
    if (o.open == 0) free_offer_slot(slot);
    return;
  }
  if (has_place(o) && !o.listed) list_offer(slot);  // listed even if suspended (cancellable)
  if (offer_available(o)) match_offer(slot, now, fills);
}

}  // namespace ipsx::market
