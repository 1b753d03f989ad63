#include "market/order_book.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/keccak.h"
#include "market/huge_pages.h"
#include "market/slab.h"
#include "market/snapshot.h"

namespace ipsx::market {
namespace {

Address addr(const std::string& seed) {
  Address a;
  Hash h = keccak256(seed);
  std::copy(h.bytes().begin(), h.bytes().begin() + 20, a.bytes().begin());
  return a;
}

const uint64_t kNow = 1'800'000'000;

Offer offer(const char* country, uint64_t price, int provider = 0,
            IpType type = IpType::residential, uint32_t capacity = 1, uint8_t ip_last = 2) {
  Offer o;
  o.provider = addr("provider" + std::to_string(provider));
  o.ip = parse_ip("127.0.0." + std::to_string(ip_last)).value();
  o.country = parse_country(country).value();
  o.ip_type = type;
  o.protocols = protocol::http | protocol::socks5;
  o.scopes = scope::crawling | scope::general;
  o.bandwidth_kbps = 10'000;
  o.capacity = capacity;
  o.min_duration = 5;
  o.max_duration = 86'400;
  o.price_per_second = U256(price);
  o.market = addr("market");
  o.expiry = kNow + 3600;
  return o;
}

Request request(std::vector<const char*> countries, uint64_t max_price, uint32_t count = 1,
                int requester = 0) {
  Request r;
  r.requester = addr("requester" + std::to_string(requester));
  r.count = count;
  for (const char* c : countries) r.countries.push_back(parse_country(c).value());
  r.protocols = protocol::http;
  r.scope = scope::crawling;
  r.duration = 60;
  r.max_price_per_second = U256(max_price);
  r.budget = U256(max_price * 60 * count);
  r.market = addr("market");
  r.expiry = kNow + 3600;
  return r;
}

TEST(OrderBook, RequestTakesTheCheapestFittingOfferAtItsPrice) {
  OrderBook book;
  std::vector<Fill> fills;
  OrderId expensive = book.place_offer(offer("DE", 30), kNow, &fills);
  OrderId cheap = book.place_offer(offer("DE", 10, 1), kNow, &fills);
  book.place_offer(offer("FR", 1, 2), kNow, &fills);  // cheapest, but the wrong country
  EXPECT_TRUE(fills.empty());
  OrderId r = book.place_request(request({"DE"}, 50), kNow, &fills);
  ASSERT_EQ(fills.size(), 1u);
  EXPECT_EQ(fills[0].offer, cheap);
  EXPECT_EQ(fills[0].request, r);
  EXPECT_EQ(fills[0].price_per_second, U256(10));  // the resting offer's price
  EXPECT_FALSE(book.contains(cheap));              // capacity 1: taken
  EXPECT_TRUE(book.contains(expensive));
  EXPECT_FALSE(book.contains(r));  // filled
}

TEST(OrderBook, EqualPricesGoByArrival) {
  OrderBook book;
  std::vector<Fill> fills;
  OrderId first = book.place_offer(offer("DE", 10, 1), kNow, &fills);
  book.place_offer(offer("DE", 10, 2), kNow, &fills);
  book.place_request(request({"DE"}, 10), kNow, &fills);
  ASSERT_EQ(fills.size(), 1u);
  EXPECT_EQ(fills[0].offer, first);
}

TEST(OrderBook, OfferArrivingMatchesTheBestRestingRequestAtTheRequestsPrice) {
  OrderBook book;
  std::vector<Fill> fills;
  book.place_request(request({"DE"}, 20, 1, 1), kNow, &fills);
  OrderId best = book.place_request(request({}, 40, 1, 2), kNow, &fills);  // any country
  book.place_request(request({"DE"}, 40, 1, 3), kNow, &fills);             // same price, later
  EXPECT_TRUE(fills.empty());
  EXPECT_EQ(book.requests(), 3u);
  book.place_offer(offer("DE", 15), kNow, &fills);
  ASSERT_EQ(fills.size(), 1u);
  EXPECT_EQ(fills[0].request, best);
  EXPECT_EQ(fills[0].price_per_second, U256(40));
}

TEST(OrderBook, OneRequestIsFilledFromSeveralProvidersAndRestsForTheRest) {
  OrderBook book;
  std::vector<Fill> fills;
  for (int p = 0; p < 3; ++p)
    book.place_offer(offer("US", 10 + p, p, IpType::residential, 1, 10 + p), kNow, &fills);
  OrderId r = book.place_request(request({"US"}, 100, 5), kNow, &fills);
  ASSERT_EQ(fills.size(), 3u);
  EXPECT_EQ(fills[2].fill_index, 2u);
  EXPECT_TRUE(book.contains(r));  // two more IPs wanted
  book.place_offer(offer("US", 50, 7, IpType::residential, 1, 30), kNow, &fills);
  ASSERT_EQ(fills.size(), 4u);
  EXPECT_EQ(fills[3].request, r);
  EXPECT_EQ(fills[3].fill_index, 3u);
}

// A provider whose exit cannot be reached: its offers stay in the book (cancellable, listed) but
// fill nothing and show in no depth; offers it places meanwhile are suspended too; resumed, they
// are matched at once, cheapest first. The flag survives the address table growing and a
// snapshot round trip.
TEST(OrderBook, ASuspendedProvidersOffersFillNothingUntilItIsResumed) {
  OrderBook book;
  std::vector<Fill> fills;
  const Address p = addr("provider1");
  OrderId cheap = book.place_offer(offer("DE", 10, 1), kNow, &fills);
  EXPECT_TRUE(book.set_suspended(p, true, kNow, &fills));
  EXPECT_FALSE(book.set_suspended(p, true, kNow, &fills));  // no change
  EXPECT_TRUE(book.suspended(p));
  OrderId cheaper = book.place_offer(offer("DE", 5, 1, IpType::residential, 1, 3), kNow, &fills);
  OrderId other = book.place_offer(offer("DE", 30, 2, IpType::residential, 1, 4), kNow, &fills);
  EXPECT_TRUE(book.contains(cheap));
  EXPECT_TRUE(book.contains(cheaper));
  auto depth = book.offer_depth(parse_country("DE").value(), IpType::residential, 5);
  ASSERT_EQ(depth.size(), 1u);  // only the other provider's
  EXPECT_EQ(depth[0].price, U256(30));
  // A request takes the reachable provider's dearer offer, and the next one waits.
  OrderId r1 = book.place_request(request({"DE"}, 50, 1, 1), kNow, &fills);
  ASSERT_EQ(fills.size(), 1u);
  EXPECT_EQ(fills[0].offer, other);
  OrderId r2 = book.place_request(request({"DE"}, 50, 1, 2), kNow, &fills);
  EXPECT_EQ(fills.size(), 1u);
  EXPECT_TRUE(book.contains(r2));
  (void)r1;
  // Many more addresses: the table grows and re-inserts every cell, the flag with it.
  for (int i = 0; i < 300; ++i)
    book.place_offer(offer("FR", 100, 1000 + i, IpType::residential, 1, 5), kNow, &fills);
  EXPECT_TRUE(book.suspended(p));
  EXPECT_EQ(book.suspended_owners(), std::vector<Address>{p});
  // A snapshot keeps it.
  OrderBook restored;
  ASSERT_TRUE(SnapshotCodec::book_from_json(restored, SnapshotCodec::book_to_json(book)));
  EXPECT_TRUE(restored.suspended(p));
  EXPECT_TRUE(restored.contains(cheaper));
  std::vector<Fill> none;
  restored.place_request(request({"DE"}, 50, 1, 3), kNow, &none);
  EXPECT_TRUE(none.empty()) << "a restored suspended offer filled";
  // Resumed: the waiting request takes the cheapest of the provider's offers at once.
  fills.clear();
  EXPECT_TRUE(book.set_suspended(p, false, kNow, &fills));
  ASSERT_EQ(fills.size(), 1u);
  EXPECT_EQ(fills[0].offer, cheaper);
  EXPECT_EQ(fills[0].request, r2);
  EXPECT_FALSE(book.suspended(p));
  // Cancelling works whether suspended or not.
  book.set_suspended(p, true, kNow, &fills);
  EXPECT_TRUE(book.cancel(cheap));
  EXPECT_EQ(book.check_indexes(), "");
}

// The ledger refuses a fill for a term of the pair only (a minimum rating the requester no longer
// meets): the request takes the next offer, never this one again, and the offer stays for the
// other requests. (refuse() would take one of the two orders out of the book.)
TEST(OrderBook, APairTheLedgerRefusesLeavesBothOrdersForOthers) {
  OrderBook book;
  std::vector<Fill> fills;
  OrderId cheap = book.place_offer(offer("DE", 10, 1), kNow, &fills);
  OrderId dear = book.place_offer(offer("DE", 20, 2, IpType::residential, 1, 3), kNow, &fills);
  OrderId r = book.place_request(request({"DE"}, 50, 1, 1), kNow, &fills);
  ASSERT_EQ(fills.size(), 1u);
  ASSERT_EQ(fills[0].offer, cheap);
  std::vector<Fill> again;
  book.refuse_pair(fills[0], false, kNow, &again);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].offer, dear);
  EXPECT_EQ(again[0].request, r);
  EXPECT_TRUE(book.contains(cheap));
  std::vector<Fill> other;
  OrderId r2 = book.place_request(request({"DE"}, 50, 1, 2), kNow, &other);
  ASSERT_EQ(other.size(), 1u);
  EXPECT_EQ(other[0].offer, cheap);
  EXPECT_EQ(other[0].request, r2);
  EXPECT_EQ(book.check_indexes(), "");
}

TEST(OrderBook, AllOrNoneFillsWholeOrWaits) {
  OrderBook book;
  std::vector<Fill> fills;
  book.place_offer(offer("JP", 10, 1, IpType::residential, 1, 2), kNow, &fills);
  Request r = request({"JP"}, 100, 2);
  r.all_or_none = true;
  OrderId id = book.place_request(r, kNow, &fills);
  EXPECT_TRUE(fills.empty());
  EXPECT_EQ(book.offers(), 1u);
  book.place_offer(offer("JP", 20, 2, IpType::residential, 1, 3), kNow, &fills);
  ASSERT_EQ(fills.size(), 2u);
  EXPECT_EQ(fills[0].request, id);
  EXPECT_EQ(fills[1].request, id);
}

TEST(OrderBook, CapacityAndExclusivityAreRespected) {
  OrderBook book;
  std::vector<Fill> fills;
  OrderId shared = book.place_offer(offer("DE", 10, 1, IpType::datacenter, 2), kNow, &fills);
  book.place_request(request({"DE"}, 50, 1, 1), kNow, &fills);
  book.place_request(request({"DE"}, 50, 1, 2), kNow, &fills);
  EXPECT_EQ(fills.size(), 2u);
  EXPECT_FALSE(book.contains(shared) && book.offers() > 0 && fills.size() > 2);
  Request third = request({"DE"}, 50, 1, 3);
  book.place_request(third, kNow, &fills);
  EXPECT_EQ(fills.size(), 2u);  // capacity 2 is used up
  book.release(shared, false, kNow, &fills);
  ASSERT_EQ(fills.size(), 3u);  // the freed place goes to the waiting request
  // An exclusive request needs an offer nobody uses, and then nobody else gets it.
  OrderBook b2;
  fills.clear();
  OrderId o = b2.place_offer(offer("DE", 10, 1, IpType::residential, 3), kNow, &fills);
  Request ex = request({"DE"}, 50, 1, 1);
  ex.exclusive = true;
  b2.place_request(ex, kNow, &fills);
  ASSERT_EQ(fills.size(), 1u);
  b2.place_request(request({"DE"}, 50, 1, 2), kNow, &fills);
  EXPECT_EQ(fills.size(), 1u);
  b2.release(o, true, kNow, &fills);
  EXPECT_EQ(fills.size(), 2u);
}

TEST(OrderBook, DistinctSubnetsSkipSameSlash24) {
  OrderBook book;
  std::vector<Fill> fills;
  book.place_offer(offer("DE", 10, 1, IpType::residential, 1, 2), kNow, &fills);
  book.place_offer(offer("DE", 11, 2, IpType::residential, 1, 3), kNow, &fills);  // same /24
  Offer other = offer("DE", 12, 3);
  other.ip = parse_ip("127.0.1.2").value();
  OrderId far = book.place_offer(other, kNow, &fills);
  Request r = request({"DE"}, 100, 2);
  r.distinct_subnets = true;
  book.place_request(r, kNow, &fills);
  ASSERT_EQ(fills.size(), 2u);
  EXPECT_EQ(fills[1].offer, far);
}

TEST(OrderBook, BudgetStopsTheFill) {
  OrderBook book;
  std::vector<Fill> fills;
  for (int p = 0; p < 3; ++p)
    book.place_offer(offer("DE", 10, p, IpType::residential, 1, 2 + p), kNow, &fills);
  Request r = request({"DE"}, 100, 3);
  r.budget = U256(10 * 60 * 2);  // enough for two IPs at 10/s for 60 s
  book.place_request(r, kNow, &fills);
  EXPECT_EQ(fills.size(), 2u);
}

TEST(OrderBook, FiltersOnBothSidesHold) {
  OrderBook book([](const Address& a) -> uint16_t { return a == addr("provider1") ? 450 : 200; });
  std::vector<Fill> fills;
  Offer smtp_only = offer("DE", 1, 9);
  smtp_only.protocols = protocol::smtp;
  book.place_offer(smtp_only, kNow, &fills);
  Offer picky = offer("DE", 2, 8);
  picky.min_requester_rating = 300;  // requesters here are rated 200
  book.place_offer(picky, kNow, &fills);
  Offer short_only = offer("DE", 3, 7);
  short_only.max_duration = 30;
  book.place_offer(short_only, kNow, &fills);
  OrderId good = book.place_offer(offer("DE", 4, 1), kNow, &fills);
  book.place_offer(offer("DE", 5, 2), kNow, &fills);  // rated 200
  Request r = request({"DE"}, 100);
  r.min_provider_rating = 400;
  book.place_request(r, kNow, &fills);
  ASSERT_EQ(fills.size(), 1u);
  EXPECT_EQ(fills[0].offer, good);
}

TEST(OrderBook, ExpiredAndCancelledOrdersLeave) {
  OrderBook book;
  std::vector<Fill> fills;
  Offer soon = offer("DE", 1);
  soon.expiry = kNow + 10;
  OrderId a = book.place_offer(soon, kNow, &fills);
  OrderId b = book.place_offer(offer("DE", 2, 1), kNow, &fills);
  EXPECT_EQ(book.expire(kNow + 11), 1u);
  EXPECT_FALSE(book.contains(a));
  EXPECT_TRUE(book.cancel(b));
  EXPECT_FALSE(book.cancel(b));
  book.place_request(request({"DE"}, 100), kNow + 11, &fills);
  EXPECT_TRUE(fills.empty());
  EXPECT_EQ(book.offers(), 0u);
}

TEST(OrderBook, DepthAggregatesByPriceLevel) {
  OrderBook book;
  std::vector<Fill> fills;
  book.place_offer(offer("DE", 10, 1, IpType::residential, 2, 2), kNow, &fills);
  book.place_offer(offer("DE", 10, 2, IpType::residential, 1, 3), kNow, &fills);
  book.place_offer(offer("DE", 12, 3, IpType::residential, 1, 4), kNow, &fills);
  book.place_offer(offer("DE", 9, 4, IpType::mobile, 1, 5), kNow, &fills);
  auto d = book.offer_depth(parse_country("DE").value(), IpType::residential, 10);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].price, U256(10));
  EXPECT_EQ(d[0].orders, 2u);
  EXPECT_EQ(d[0].ips, 3u);
  EXPECT_EQ(d[1].price, U256(12));
  EXPECT_EQ(book.offer_depth(parse_country("DE").value(), IpType::residential, 1).size(), 1u);
  book.place_request(request({"FR"}, 7, 2, 1), kNow, &fills);
  book.place_request(request({}, 8, 1, 2), kNow, &fills);
  auto r = book.request_depth(parse_country("FR").value(), 10);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].price, U256(8));
  EXPECT_EQ(r[1].ips, 2u);
}

// ---- property test against a brute-force reference ----------------------------------------------

// A matcher written the obvious way: every live order in a plain list, everything re-sorted on
// every event. Same rules, no indexes.
class ReferenceBook {
 public:
  struct O {
    Offer o;
    OrderId id;
    uint32_t open = 0;
    bool live = true;
  };
  struct R {
    Request r;
    OrderId id;
    uint64_t filled = 0;
    U256 budget_left;
    std::vector<OrderId> used;
    bool live = true;
  };

  OrderId place_offer(const Offer& o, uint64_t now, std::vector<Fill>* fills) {
    offers_.push_back({o, next_++, 0, true});
    match_offer(offers_.size() - 1, now, fills);
    return offers_.back().id;
  }
  OrderId place_request(const Request& r, uint64_t now, std::vector<Fill>* fills) {
    requests_.push_back({r, next_++, 0, r.budget, {}, true});
    match_request(requests_.size() - 1, now, fills);
    return requests_.back().id;
  }
  bool cancel(OrderId id) {
    for (O& o : offers_) {
      if (o.id == id) return std::exchange(o.live, false);
    }
    for (R& r : requests_) {
      if (r.id == id) return std::exchange(r.live, false);
    }
    return false;
  }
  size_t offers() const {
    return std::count_if(offers_.begin(), offers_.end(), [](const O& o) { return o.live; });
  }
  // Offers of one country and type with a place free.
  uint64_t available(const CountryCode& country, IpType type) const {
    return std::count_if(offers_.begin(), offers_.end(), [&](const O& o) {
      return available(o) && o.o.country == country && o.o.ip_type == type;
    });
  }

 private:
  bool available(const O& o) const { return o.live && o.open < o.o.capacity; }
  bool fits(const O& o, const R& r, uint64_t) const {
    if (!available(o) || !r.live || o.o.price_per_second > r.r.max_price_per_second) return false;
    if (!r.r.countries.empty() &&
        std::find(r.r.countries.begin(), r.r.countries.end(), o.o.country) == r.r.countries.end()) {
      return false;
    }
    if (r.r.ip_types && !(r.r.ip_types & (1u << static_cast<int>(o.o.ip_type)))) return false;
    if ((r.r.protocols & ~o.o.protocols) || !(r.r.scope & o.o.scopes)) return false;
    if (r.r.duration < o.o.min_duration || r.r.duration > o.o.max_duration) return false;
    if (o.o.provider == r.r.requester) return false;
    return std::find(r.used.begin(), r.used.end(), o.id) == r.used.end();
  }
  void take(O& o, R& r, const U256& price, std::vector<Fill>* fills) {
    o.open++;
    r.budget_left = *r.budget_left.checked_sub(*price.checked_mul(r.r.duration));
    r.used.push_back(o.id);
    fills->push_back({o.id, r.id, price, r.filled++});
    if (r.filled == r.r.count) r.live = false;
  }
  void match_request(size_t ri, uint64_t now, std::vector<Fill>* fills) {
    R& r = requests_[ri];
    std::vector<O*> sorted;
    for (O& o : offers_) sorted.push_back(&o);
    std::stable_sort(sorted.begin(), sorted.end(), [](O* a, O* b) {
      return a->o.price_per_second < b->o.price_per_second ||
             (a->o.price_per_second == b->o.price_per_second && a->id < b->id);
    });
    std::vector<O*> chosen;
    U256 spent;
    for (O* o : sorted) {
      if (chosen.size() >= r.r.count - r.filled) break;
      if (o->o.price_per_second > r.r.max_price_per_second) break;
      if (!fits(*o, r, now)) continue;
      U256 total = *spent.checked_add(*o->o.price_per_second.checked_mul(r.r.duration));
      if (total > r.budget_left) break;
      spent = total;
      chosen.push_back(o);
    }
    if (r.r.all_or_none && chosen.size() < r.r.count - r.filled) return;
    for (O* o : chosen) take(*o, r, o->o.price_per_second, fills);
  }
  void match_offer(size_t oi, uint64_t now, std::vector<Fill>* fills) {
    std::vector<size_t> order;
    for (size_t i = 0; i < requests_.size(); ++i) order.push_back(i);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      const R& x = requests_[a];
      const R& y = requests_[b];
      return x.r.max_price_per_second > y.r.max_price_per_second ||
             (x.r.max_price_per_second == y.r.max_price_per_second && x.id < y.id);
    });
    for (size_t ri : order) {
      O& o = offers_[oi];
      if (!available(o)) break;
      R& r = requests_[ri];
      if (!r.live || r.r.max_price_per_second < o.o.price_per_second || !fits(o, r, now)) continue;
      if (r.r.all_or_none) {
        match_request(ri, now, fills);
        continue;
      }
      if (*r.r.max_price_per_second.checked_mul(r.r.duration) > r.budget_left) continue;
      take(o, r, r.r.max_price_per_second, fills);
    }
  }

  std::vector<O> offers_;
  std::vector<R> requests_;
  OrderId next_ = 1;
};

// The book's fills against the reference's, one by one (the sizes are checked as they go).
void expect_same_fills(const std::vector<Fill>& got, const std::vector<Fill>& want, uint64_t seed) {
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    EXPECT_EQ(got[i].offer, want[i].offer) << "seed " << seed << " fill " << i;
    EXPECT_EQ(got[i].request, want[i].request) << "seed " << seed << " fill " << i;
    EXPECT_EQ(got[i].price_per_second, want[i].price_per_second);
    EXPECT_EQ(got[i].fill_index, want[i].fill_index);
  }
}

TEST(OrderBook, RandomStreamsMatchTheBruteForceReference) {
  const char* countries[] = {"DE", "FR", "US", "JP"};
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    OrderBook book;
    ReferenceBook ref;
    std::vector<Fill> got, want;
    for (int step = 0; step < 400; ++step) {
      if (rng() % 2 == 0) {
        Offer o = offer(countries[rng() % 4], 1 + rng() % 50, static_cast<int>(rng() % 6),
                        static_cast<IpType>(1 + rng() % 3), 1 + static_cast<uint32_t>(rng() % 3),
                        static_cast<uint8_t>(2 + rng() % 200));
        if (rng() % 4 == 0) o.protocols = protocol::smtp;
        if (rng() % 5 == 0) o.max_duration = 30;
        EXPECT_EQ(book.place_offer(o, kNow, &got), ref.place_offer(o, kNow, &want));
      } else {
        std::vector<const char*> cs;
        if (rng() % 3) cs.push_back(countries[rng() % 4]);
        if (rng() % 3 == 0) cs.push_back(countries[rng() % 4]);
        Request r = request(cs, 1 + rng() % 60, 1 + static_cast<uint32_t>(rng() % 4),
                            static_cast<int>(rng() % 6));
        if (rng() % 4 == 0) r.ip_types = static_cast<uint8_t>(1u << (1 + rng() % 3));
        if (rng() % 5 == 0) r.all_or_none = true;
        if (rng() % 5 == 0) r.budget = U256(r.budget.low64() / 2);
        EXPECT_EQ(book.place_request(r, kNow, &got), ref.place_request(r, kNow, &want));
      }
      ASSERT_EQ(got.size(), want.size()) << "seed " << seed << " step " << step;
    }
    expect_same_fills(got, want, seed);
    EXPECT_GT(got.size(), 50u) << "the stream should make plenty of deals";
  }
}

// The same streams with cancels of random earlier orders (offers and requests, live, filled or
// cancelled already) make the reference's fills.
TEST(OrderBook, RandomStreamsWithCancelsMatchTheBruteForceReference) {
  const char* countries[] = {"DE", "FR", "US"};
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed * 7919);
    OrderBook book;
    ReferenceBook ref;
    std::vector<Fill> got, want;
    std::vector<OrderId> ids;
    size_t cancelled = 0;
    for (int step = 0; step < 600; ++step) {
      uint64_t kind = rng() % 10;
      if (kind < 3 && !ids.empty()) {
        OrderId id = ids[rng() % ids.size()];
        bool b = book.cancel(id);
        EXPECT_EQ(b, ref.cancel(id)) << "seed " << seed << " step " << step;
        cancelled += b;
      } else if (kind < 7) {
        Offer o = offer(countries[rng() % 3], 1 + rng() % 40, static_cast<int>(rng() % 6),
                        static_cast<IpType>(1 + rng() % 3), 1 + static_cast<uint32_t>(rng() % 3),
                        static_cast<uint8_t>(2 + rng() % 200));
        if (rng() % 5 == 0) o.max_duration = 30;
        OrderId id = book.place_offer(o, kNow, &got);
        EXPECT_EQ(id, ref.place_offer(o, kNow, &want));
        ids.push_back(id);
      } else {
        std::vector<const char*> cs;
        if (rng() % 3) cs.push_back(countries[rng() % 3]);
        Request r = request(cs, 1 + rng() % 50, 1 + static_cast<uint32_t>(rng() % 4),
                            static_cast<int>(rng() % 6));
        if (rng() % 4 == 0) r.ip_types = static_cast<uint8_t>(1u << (1 + rng() % 3));
        if (rng() % 5 == 0) r.all_or_none = true;
        OrderId id = book.place_request(r, kNow, &got);
        EXPECT_EQ(id, ref.place_request(r, kNow, &want));
        ids.push_back(id);
      }
      ASSERT_EQ(got.size(), want.size()) << "seed " << seed << " step " << step;
    }
    expect_same_fills(got, want, seed);
    EXPECT_EQ(book.check_indexes(), "") << "seed " << seed;
    EXPECT_GT(got.size(), 50u) << "the stream should make plenty of deals";
    EXPECT_GT(cancelled, 50u) << "the stream should cancel plenty of orders";
  }
}

// Deep buckets: thousands of offers resting in one country and two types, so that the book's
// chunks split, empty from the front as fills take the cheapest, shrink from the middle as
// cancels take any, and merge; the fills, their order and the depth stay the reference's.
TEST(OrderBook, DeepBucketsSplitAndMergeTheirChunksLikeTheReference) {
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    std::mt19937_64 rng(seed * 104729);
    OrderBook book;
    ReferenceBook ref;
    std::vector<Fill> got, want;
    std::vector<OrderId> ids;
    size_t cancelled = 0;
    for (int step = 0; step < 6000; ++step) {
      uint64_t kind = rng() % 10;
      // Mostly placements early (the buckets grow past many chunks), mostly cancels and
      // requests late (they shrink and merge).
      bool late = step > 4000;
      if ((late ? kind < 6 : kind < 2) && !ids.empty()) {
        size_t at = rng() % ids.size();
        OrderId id = ids[at];
        ids[at] = ids.back();
        ids.pop_back();
        bool b = book.cancel(id);
        EXPECT_EQ(b, ref.cancel(id)) << "seed " << seed << " step " << step;
        cancelled += b;
      } else if (late ? kind < 7 : kind < 8) {
        // Few prices, so that runs of equal prices span chunks and go by arrival.
        Offer o = offer("DE", 1 + rng() % 40, static_cast<int>(rng() % 6),
                        static_cast<IpType>(1 + rng() % 2), 1 + static_cast<uint32_t>(rng() % 2));
        OrderId id = book.place_offer(o, kNow, &got);
        EXPECT_EQ(id, ref.place_offer(o, kNow, &want));
        ids.push_back(id);
      } else {
        Request r = request({"DE"}, 1 + rng() % 12, 1 + static_cast<uint32_t>(rng() % 4),
                            static_cast<int>(6 + rng() % 3));
        if (rng() % 3 == 0) r.ip_types = static_cast<uint8_t>(1u << (1 + rng() % 2));
        OrderId id = book.place_request(r, kNow, &got);
        EXPECT_EQ(id, ref.place_request(r, kNow, &want));
      }
      ASSERT_EQ(got.size(), want.size()) << "seed " << seed << " step " << step;
      if (step % 50 == 0) {
        ASSERT_EQ(book.check_indexes(), "") << "seed " << seed << " step " << step;
      }
      if (step % 1000 == 999) {
        for (IpType t : {IpType::residential, IpType::datacenter}) {
          auto d = book.offer_depth(parse_country("DE").value(), t, 100);
          uint64_t orders = 0;
          for (size_t i = 0; i < d.size(); ++i) {
            orders += d[i].orders;
            if (i > 0) {
              EXPECT_LT(d[i - 1].price, d[i].price) << "seed " << seed;
            }
          }
          EXPECT_EQ(orders, ref.available(parse_country("DE").value(), t))
              << "seed " << seed << " step " << step;
          if (step == 3999) {
            EXPECT_GT(orders, 500u) << "the bucket should be deep";
          }
        }
      }
    }
    expect_same_fills(got, want, seed);
    EXPECT_EQ(book.offers(), ref.offers()) << "seed " << seed;
    EXPECT_GT(got.size(), 300u) << "the stream should make plenty of deals";
    EXPECT_GT(cancelled, 1000u) << "the stream should cancel plenty of offers";
  }
}

// Offers priced at 2^54 and more (whose id cells carry no hint of where they rest) and below
// it cancel alike, and the rest of the bucket keeps its order.
TEST(OrderBook, CancelsFindOffersOfEveryPriceWidth) {
  OrderBook book;
  std::vector<Fill> fills;
  std::vector<OrderId> ids;
  const U256 prices[] = {U256(5),       U256(1) << 53, U256(1) << 54,
                         U256(1) << 63, U256(1) << 64, U256(1) << 200};
  for (int round = 0; round < 3; ++round) {
    for (const U256& p : prices) {
      Offer o = offer("DE", 1);
      o.price_per_second = p;
      ids.push_back(book.place_offer(o, kNow, &fills));
    }
  }
  ASSERT_EQ(book.offers(), 18u);
  // The first round leaves whole, the third every other one: each kind of price included.
  auto leaves = [](size_t i) { return i < 6 || (i >= 12 && i % 2 == 0); };
  for (size_t i = 0; i < ids.size(); ++i) {
    if (leaves(i)) {
      EXPECT_TRUE(book.cancel(ids[i])) << i;
    }
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (leaves(i)) {
      EXPECT_FALSE(book.cancel(ids[i])) << i;
    }
  }
  EXPECT_EQ(book.offers(), 9u);
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(book.contains(ids[i]), !leaves(i)) << i;
  auto depth = book.offer_depth(parse_country("DE").value(), IpType::residential, 10);
  ASSERT_EQ(depth.size(), 6u);
  for (size_t i = 0; i < depth.size(); ++i) {
    EXPECT_EQ(depth[i].price, prices[i]) << i;
    EXPECT_EQ(depth[i].orders, i % 2 == 0 ? 1u : 2u) << i;
  }
  // The cheapest left is the second round's offer at 5.
  Request r = request({"DE"}, 10);
  book.place_request(r, kNow, &fills);
  ASSERT_EQ(fills.size(), 1u);
  EXPECT_EQ(fills[0].offer, ids[6]);
}

// The expiry queue against a sorted set: pushes spread over many windows and into the window
// being taken from, pops at times inside windows and across several.
TEST(ExpiryQueue, GivesWhatExpiresInOrderLikeASortedSet) {
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    std::mt19937_64 rng(seed);
    ExpiryQueue q;
    std::set<ExpiryQueue::Entry> want;
    uint64_t now = 1'000'000;
    OrderId next = 1;
    for (int step = 0; step < 3000; ++step) {
      if (rng() % 3) {
        // Mostly soon after now, sometimes far, sometimes already past.
        uint64_t t = rng() % 10 == 0 ? now + rng() % 100'000 : now - 50 + rng() % 2000;
        q.push(t, next);
        want.emplace(t, next);
        ++next;
      } else {
        now += rng() % 700;
        std::vector<ExpiryQueue::Entry> got;
        q.pop_before(now, got);
        std::vector<ExpiryQueue::Entry> expected(want.begin(), want.lower_bound({now, 0}));
        want.erase(want.begin(), want.lower_bound({now, 0}));
        ASSERT_EQ(got, expected) << "seed " << seed << " step " << step;
      }
      ASSERT_EQ(q.size(), want.size());
    }
    EXPECT_EQ(q.all(), std::vector<ExpiryQueue::Entry>(want.begin(), want.end()));
  }
}

TEST(OrderBook, ACancelledOfferIsNeverMatchedEvenWhenItsSlotIsReused) {
  OrderBook book;
  std::vector<Fill> fills;
  auto de = parse_country("DE").value();
  OrderId cheap = book.place_offer(offer("DE", 1, 1), kNow, &fills);
  OrderId dear = book.place_offer(offer("DE", 5, 2), kNow, &fills);
  EXPECT_TRUE(book.cancel(cheap));
  EXPECT_EQ(book.offer_depth(de, IpType::residential, 10).size(), 1u);
  // The freed slot now holds an offer of another country.
  OrderId fr = book.place_offer(offer("FR", 1, 3), kNow, &fills);
  book.place_request(request({"DE"}, 100), kNow, &fills);
  ASSERT_EQ(fills.size(), 1u);
  EXPECT_EQ(fills[0].offer, dear);
  fills.clear();
  book.place_request(request({"DE"}, 100), kNow, &fills);
  EXPECT_TRUE(fills.empty());
  book.place_request(request({"FR"}, 100), kNow, &fills);
  ASSERT_EQ(fills.size(), 1u);
  EXPECT_EQ(fills[0].offer, fr);
}

// Regression (snapshot load re-inserted each resting request into its sorted list one by one,
// quadratic in the requests of a country): the lists are now filled, then sorted once. A book
// restored from a snapshot taken mid-stream, with many resting requests at equal and different
// prices, makes exactly the fills the original makes from there on.
TEST(OrderBook, ABookRestoredFromItsSnapshotMatchesLikeTheOriginal) {
  const char* countries[] = {"DE", "FR"};
  std::mt19937_64 rng(7);
  OrderBook original;
  std::vector<Fill> fills;
  for (int i = 0; i < 300; ++i) {
    std::vector<const char*> cs;
    if (rng() % 4) cs.push_back(countries[rng() % 2]);
    if (rng() % 4 == 0) cs.push_back(countries[rng() % 2]);
    original.place_request(request(cs, 1 + rng() % 20, 1 + static_cast<uint32_t>(rng() % 3),
                                   static_cast<int>(rng() % 5)),
                           kNow, &fills);
  }
  ASSERT_TRUE(fills.empty()) << "no offers yet";
  OrderBook restored;
  ASSERT_TRUE(SnapshotCodec::book_from_json(restored, SnapshotCodec::book_to_json(original)));
  ASSERT_EQ(restored.requests(), original.requests());
  for (const char* c : countries) {
    auto country = parse_country(c).value();
    auto want = original.request_depth(country, 100);
    auto got = restored.request_depth(country, 100);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].price, want[i].price);
      EXPECT_EQ(got[i].orders, want[i].orders);
      EXPECT_EQ(got[i].ips, want[i].ips);
    }
  }
  std::vector<Fill> want, got;
  for (int i = 0; i < 400; ++i) {
    Offer o = offer(countries[rng() % 2], 1 + rng() % 25, static_cast<int>(rng() % 5),
                    IpType::residential, 1 + static_cast<uint32_t>(rng() % 2),
                    static_cast<uint8_t>(2 + rng() % 200));
    EXPECT_EQ(restored.place_offer(o, kNow, &got), original.place_offer(o, kNow, &want));
  }
  ASSERT_EQ(got.size(), want.size());
  ASSERT_GT(got.size(), 100u) << "the offers should fill plenty of the resting requests";
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].offer, want[i].offer) << "fill " << i;
    EXPECT_EQ(got[i].request, want[i].request) << "fill " << i;
    EXPECT_EQ(got[i].price_per_second, want[i].price_per_second) << "fill " << i;
    EXPECT_EQ(got[i].fill_index, want[i].fill_index) << "fill " << i;
  }
}

// The book's large arrays: 2 MiB regions aligned to 2 MiB, zeroed, counted while mapped; a slab
// of such pages keeps its entries in place as it grows and when it is moved.
TEST(HugePages, RegionsAreAlignedZeroedAndCounted) {
  size_t before = huge_bytes_in_use();
  void* p = huge_alloc(kHugePage + 1);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kHugePage, 0u);
  EXPECT_EQ(huge_bytes_in_use() - before, 2 * kHugePage);
  const auto* bytes = static_cast<const uint8_t*>(p);
  EXPECT_TRUE(std::all_of(bytes, bytes + 2 * kHugePage, [](uint8_t b) { return b == 0; }));
  huge_free(p, kHugePage + 1);
  EXPECT_EQ(huge_bytes_in_use(), before);

  HugeVector<uint64_t> small(16, 7), large(kHugePage / 8, 9);  // operator new, then a region
  EXPECT_EQ(huge_bytes_in_use() - before, kHugePage);
  EXPECT_EQ(small[15] + large.back(), 16u);
  large = HugeVector<uint64_t>();
  EXPECT_EQ(huge_bytes_in_use(), before);

  Slab<uint64_t, kHugePage / 8> slab;
  for (uint64_t i = 0; i < kHugePage / 8 + 10; ++i) slab.push_back(i);
  const uint64_t* first = &slab[0];
  EXPECT_EQ(huge_bytes_in_use() - before, 2 * kHugePage);
  Slab<uint64_t, kHugePage / 8> moved(std::move(slab));
  EXPECT_EQ(&moved[0], first);
  EXPECT_EQ(moved.size(), kHugePage / 8 + 10);
  EXPECT_EQ(moved[kHugePage / 8 + 9], kHugePage / 8 + 9);
  moved = Slab<uint64_t, kHugePage / 8>();
  EXPECT_EQ(huge_bytes_in_use(), before);
}

}  // namespace
}  // namespace ipsx::market
