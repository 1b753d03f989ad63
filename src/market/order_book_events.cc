// The order book's market data (depth), its consistency check, and what happens to the book when
// the ledger refuses a fill, an IP is given back, time passes, a rating changes or an owner is
// suspended (order_book.h).
#include <algorithm>

#include "core/country.h"
#include "market/order_book.h"
#include "market/order_book_internal.h"

namespace ipsx::market {

using book_internal::kAnyCountry;
using book_internal::prefetch;

// ---- market data --------------------------------------------------------------------------------

std::vector<DepthLevel> OrderBook::offer_depth(const CountryCode& country, IpType type,
                                               size_t levels) const {
  std::vector<DepthLevel> out;
  auto c = country_index(country);
  if (!c) return out;
  for (const auto& chunk : buckets_[*c * 4u + static_cast<uint8_t>(type)].chunks) {
    for (uint32_t i = 0; i < chunk->n; ++i) {
      const OfferEntry& o = offer_slab_[chunk->slots[i]];
      if (o.suspended) continue;
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

std::vector<OrderBook::CountrySummary> OrderBook::country_summary() const {
  std::vector<CountrySummary> out;
  const auto& codes = country_codes();
  for (size_t c = 0; c < book_internal::kCountries; ++c) {
    CountrySummary s;
    s.country = codes[c];
    s.requests = request_lists_[c].size();
    bool any = s.requests > 0;
    for (uint8_t t = 1; t <= 3; ++t) {  // IpType's values
      CountryOffers& o = s.types[t - 1];
      for (const auto& chunk : buckets_[c * 4u + t].chunks) {
        for (uint32_t i = 0; i < chunk->n; ++i) {
          const OfferEntry& e = offer_slab_[chunk->slots[i]];
          if (e.suspended) continue;
          if (o.offers == 0) o.lowest = e.price;  // buckets are sorted cheapest first
          ++o.offers;
          o.ips += e.capacity - e.open;
        }
      }
      any = any || o.offers > 0;
    }
    if (any) out.push_back(s);
  }
  return out;
}

std::vector<DepthLevel> OrderBook::request_depth(const CountryCode& country, size_t levels) const {
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

std::string OrderBook::check_indexes() const {
  auto same = [](const BucketEntry& a, const BucketEntry& b) {
    return a.key == b.key && a.id == b.id && a.slot == b.slot;
  };
  size_t entries = 0;
  for (size_t bi = 0; bi < buckets_.size(); ++bi) {
    const Bucket& b = buckets_[bi];
    auto bad = [&](const std::string& what) {
      return "bucket " + std::to_string(bi) + ": " + what;
    };
    if (b.chunks.empty()) {
      if (b.front != nullptr || b.first.slot != kNil || b.last.size() != 0)
        return bad("empty, but its first entry, first chunk or directory is not");
      continue;
    }
    if (b.front != b.chunks[0]) return bad("its first chunk is not chunks[0]");
    if (!same(b.first, b.chunks[0]->at(0))) return bad("its first entry is not chunks[0]'s");
    if (b.last.size() != b.chunks.size()) return bad("its directory has another size");
    const BucketEntry* prev = nullptr;
    BucketEntry prev_entry{};
    for (size_t ci = 0; ci < b.chunks.size(); ++ci) {
      const Chunk& c = *b.chunks[ci];
      if (c.n == 0 || c.n > kChunk)
        return bad("chunk " + std::to_string(ci) + " has n " + std::to_string(c.n));
      if (!same(b.last.at(ci), c.at(c.n - 1)))
        return bad("directory entry " + std::to_string(ci) + " is not its chunk's last");
      for (uint32_t i = 0; i < c.n; ++i) {
        BucketEntry e = c.at(i);
        if (prev && !bucket_less(*prev, e))
          return bad("entries out of order in chunk " + std::to_string(ci));
        const OfferEntry& o = offer_slab_[e.slot];
        if (!o.listed || o.id != e.id || o.bucket != bi || price_key(o.price) != e.key)
          return bad("an entry that is not its offer's");
        prev_entry = e;
        prev = &prev_entry;
        ++entries;
      }
    }
  }
  size_t listed = 0;
  for (size_t slot = 0; slot < offer_slab_.size(); ++slot) listed += offer_slab_[slot].listed;
  if (listed != entries)
    return std::to_string(listed) + " offers listed, " + std::to_string(entries) +
           " in the buckets";
  return "";
}

// ---- refusals and re-matching -------------------------------------------------------------------

void OrderBook::refuse(const Fill& fill, bool offer_at_fault, bool exclusive, uint64_t now,
                       std::vector<Fill>* fills) {
  if (!offer_at_fault) {
    cancel(fill.request);  // false if the fill completed it: it is retired already
    release(fill.offer, exclusive, now, fills);
    return;
  }
  Ip ip{};
  if (uint32_t o = find_ref(fill.offer); o != kNil && !(o & kRequestRef)) ip = offer_slab_[o].ip;
  cancel(fill.offer);
  release(fill.offer, exclusive, now, nullptr);  // gives back the place; the entry is freed
  give_back(fill, ip, now, fills);
}

void OrderBook::refuse_pair(const Fill& fill, bool exclusive, uint64_t now,
                            std::vector<Fill>* fills) {
  Ip ip{};
  if (uint32_t o = find_ref(fill.offer); o != kNil && !(o & kRequestRef)) ip = offer_slab_[o].ip;
  give_back(fill, ip, now, fills);             // the offer stays in the request's used_offers
  release(fill.offer, exclusive, now, fills);  // its place, for the other requests
}

void OrderBook::give_back(const Fill& fill, const Ip& ip, uint64_t now, std::vector<Fill>* fills) {
  uint32_t ref = find_ref(fill.request);
  if (ref == kNil || !(ref & kRequestRef)) return;
  uint32_t slot = ref & ~kRequestRef;
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
    auto net = std::find(r.subnets.begin(), r.subnets.end(), subnet_key(ip));
    if (net != r.subnets.end()) r.subnets.erase(net);
  }
  // The offer's id stays in used_offers: the pair is not tried again.
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
    uint32_t ref = find_ref(id);
    if (ref != kNil && !(ref & kRequestRef) && offer_slab_[ref].live) opened.push_back(ref);
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
  uint32_t cell = find_cell(who);
  if (cell == kNil) return;
  std::vector<uint32_t> offers, requests;
  for (uint32_t ref = address_table_[cell].head; ref != kNil; ref = owner_link(ref).next) {
    if (ref & kRequestRef) {
      if (request_slab_[ref & ~kRequestRef].live) requests.push_back(ref & ~kRequestRef);
    } else if (offer_slab_[ref].live) {
      offers.push_back(ref);
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
}

bool OrderBook::set_suspended(const Address& owner, bool suspended, uint64_t now,
                              std::vector<Fill>* fills) {
  uint32_t cell = find_cell(owner);
  if (cell == kNil) {
    if (!suspended) return false;
    intern(owner, last_owner_, &cell);  // a provider with no order yet: its first is suspended
  }
  if (address_table_[cell].suspended == suspended) return false;
  address_table_[cell].suspended = suspended;
  std::vector<uint32_t> offers;
  for (uint32_t ref = address_table_[cell].head; ref != kNil; ref = owner_link(ref).next) {
    if (ref & kRequestRef) continue;
    offer_slab_[ref].suspended = suspended;
    if (offer_slab_[ref].live) offers.push_back(ref);
  }
  if (suspended) return true;
  flush_done();
  std::sort(offers.begin(), offers.end(), [&](uint32_t x, uint32_t y) {
    const OfferEntry& p = offer_slab_[x];
    const OfferEntry& q = offer_slab_[y];
    return p.price < q.price || (p.price == q.price && p.id < q.id);
  });
  for (uint32_t slot : offers) {
    OfferEntry& o = offer_slab_[slot];
    if (!offer_available(o)) continue;
    if (!o.listed) list_offer(slot);  // (listed already, unless a place came back meanwhile)
    match_offer(slot, now, fills);
  }
  return true;
}

bool OrderBook::suspended(const Address& owner) const {
  uint32_t cell = find_cell(owner);
  return cell != kNil && address_table_[cell].suspended;
}

std::vector<Address> OrderBook::suspended_owners() const {
  std::vector<Address> out;
  for (const InternedAddress& a : address_table_)
    if (a.id != kNil && a.suspended) out.push_back(a.address);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace ipsx::market
