// market benchmarks: the order book and matcher alone (one core, no signatures, no I/O), with
// 1,000,000 resting offers over the 249 assigned countries x 3 IP types.
//   market.core_ops_per_s   placements (offers and requests, each matched), and cancels
//   market.p99_ns           99th percentile of one such operation
//   market.bytes_per_offer  heap bytes the book holds per resting offer (measured with mallinfo2)
//   market.signed_ops_per_s the same placements with each order's EIP-712 signature recovered and
//                           checked first (what a market node does per order); compare with
//                           crypto.raw_recover_per_s from the same `make bench` run
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "bench_main.h"
#include "core/country.h"
#include "core/keccak.h"
#include "crypto/eip712.h"
#include "crypto/keys.h"
#include "market/order_book.h"

namespace {

using namespace ipsx;
using namespace ipsx::market;

constexpr size_t kResting = 1'000'000;
constexpr size_t kProviders = 100'000;
constexpr uint64_t kNow = 1'800'000'000;

Address addr(uint64_t i, const char* kind) {
  Address a;
  Hash h = keccak256(std::string(kind) + std::to_string(i));
  std::copy(h.bytes().begin(), h.bytes().begin() + 20, a.bytes().begin());
  return a;
}

struct Fixture {
  std::vector<Address> providers, requesters;
  Address market = addr(0, "market");
  std::mt19937_64 rng{42};

  Fixture() {
    for (size_t i = 0; i < kProviders; ++i) providers.push_back(addr(i, "p"));
    for (size_t i = 0; i < 1000; ++i) requesters.push_back(addr(i, "r"));
  }
  ledger::CountryCode country() {
    const auto& c = country_codes()[rng() % country_codes().size()];
    return {c[0], c[1]};
  }
  ledger::Offer offer() {
    ledger::Offer o;
    o.provider = providers[rng() % providers.size()];
    uint32_t ip = static_cast<uint32_t>(rng());
    o.ip = {0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0xff,
            0xff,
            static_cast<uint8_t>(ip >> 24),
            static_cast<uint8_t>(ip >> 16),
            static_cast<uint8_t>(ip >> 8),
            static_cast<uint8_t>(ip)};
    o.country = country();
    o.ip_type = static_cast<ledger::IpType>(1 + rng() % 3);
    o.protocols = ledger::protocol::http | ledger::protocol::socks5;
    o.scopes = ledger::scope::crawling | ledger::scope::general;
    o.bandwidth_kbps = 20'000;
    o.capacity = 1 + static_cast<uint32_t>(rng() % 2);
    o.min_duration = 5;
    o.max_duration = 86'400;
    o.price_per_second = U256(100 + rng() % 1000);
    o.market = market;
    o.expiry = kNow + 86'400;
    return o;
  }
  ledger::Request request() {
    ledger::Request r;
    r.requester = requesters[rng() % requesters.size()];
    r.count = 1 + static_cast<uint32_t>(rng() % 3);
    r.countries = {country()};
    r.protocols = ledger::protocol::http;
    r.scope = ledger::scope::crawling;
    r.duration = 600;
    r.max_price_per_second = U256(100 + rng() % 1000);
    r.budget = *r.max_price_per_second.checked_mul(600 * r.count);
    r.market = market;
    r.expiry = kNow + 3600;
    return r;
  }
};

void core_ops(benchmark::State& state) {
  Fixture f;
  // In-use heap: small blocks in the arenas plus large blocks served by mmap.
  auto heap = [] {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
  };
  size_t heap_before = heap();
  OrderBook book;
  std::vector<OrderId> offers;
  offers.reserve(kResting * 2);
  for (size_t i = 0; i < kResting; ++i)
    offers.push_back(book.place_offer(f.offer(), kNow, nullptr));
  size_t heap_after = heap();
  double bytes_per_offer =
      static_cast<double>(heap_after - heap_before) / static_cast<double>(book.offers());

  // Pre-generate the operations so that generating them is not measured.
  constexpr size_t kOps = 200'000;
  enum Kind : uint8_t { kOffer, kRequest, kCancel };
  std::vector<Kind> kinds(kOps);
  std::vector<ledger::Offer> new_offers;
  std::vector<ledger::Request> new_requests;
  for (auto& k : kinds) {
    uint64_t x = f.rng() % 10;
    k = x < 4 ? kOffer : x < 7 ? kRequest : kCancel;
    if (k == kOffer) new_offers.push_back(f.offer());
    if (k == kRequest) new_requests.push_back(f.request());
  }
  std::vector<int64_t> ns;
  ns.reserve(kOps);
  std::vector<Fill> fills;
  size_t ops = 0, matched = 0;
  for (auto _ : state) {
    size_t oi = 0, ri = 0;
    ns.clear();
    for (Kind k : kinds) {
      auto t0 = std::chrono::steady_clock::now();
      fills.clear();
      if (k == kOffer) {
        offers.push_back(book.place_offer(new_offers[oi++], kNow, &fills));
      } else if (k == kRequest) {
        book.place_request(new_requests[ri++], kNow, &fills);
      } else {
        size_t at = f.rng() % offers.size();
        book.cancel(offers[at]);
        offers[at] = offers.back();
        offers.pop_back();
      }
      ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::steady_clock::now() - t0)
                       .count());
      matched += fills.size();
    }
    ops += kinds.size();
  }
  std::sort(ns.begin(), ns.end());
  state.SetItemsProcessed(static_cast<int64_t>(ops));
  state.counters["p99_ns"] = static_cast<double>(ns[static_cast<size_t>(0.99 * (ns.size() - 1))]);
  state.counters["bytes_per_offer"] = bytes_per_offer;
  state.counters["fills_per_op"] = static_cast<double>(matched) / static_cast<double>(ops);
}

// Placements with signature verification: hash the order (EIP-712), recover the signer, compare,
// then place. 50,000 resting offers (the book's size matters little next to the recovery).
void signed_ops(benchmark::State& state) {
  Fixture f;
  OrderBook book;
  auto key = crypto::PrivateKey::from_bytes(keccak256(std::string_view("provider")).view()).value();
  Hash sep = ledger::ledger_domain(1337, Address()).separator();
  for (size_t i = 0; i < 50'000; ++i) book.place_offer(f.offer(), kNow, nullptr);
  constexpr size_t kOps = 2'000;
  std::vector<std::pair<ledger::Offer, crypto::Signature>> offers;
  std::vector<std::pair<ledger::Request, crypto::Signature>> requests;
  for (size_t i = 0; i < kOps; ++i) {
    auto o = f.offer();
    o.provider = key.address();
    offers.emplace_back(o, crypto::sign(key, crypto::eip712::digest(sep, o.struct_hash())).value());
    auto r = f.request();
    r.requester = key.address();  // never matches its own offers: the cost is the verification
    requests.emplace_back(r,
                          crypto::sign(key, crypto::eip712::digest(sep, r.struct_hash())).value());
  }
  std::vector<Fill> fills;
  size_t ops = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < kOps; ++i) {
      fills.clear();
      if (i % 2 == 0) {
        const auto& [o, sig] = offers[i];
        auto who = crypto::recover(crypto::eip712::digest(sep, o.struct_hash()), sig);
        if (!who || *who != o.provider) state.SkipWithError("bad signature");
        book.place_offer(o, kNow, &fills);
      } else {
        const auto& [r, sig] = requests[i];
        auto who = crypto::recover(crypto::eip712::digest(sep, r.struct_hash()), sig);
        if (!who || *who != r.requester) state.SkipWithError("bad signature");
        book.place_request(r, kNow, &fills);
      }
    }
    ops += kOps;
  }
  state.SetItemsProcessed(static_cast<int64_t>(ops));
}

}  // namespace

int main(int argc, char** argv) {
  return ipsx::bench::run(argc, argv,
                          {{"market.core_ops_per_s",
                            core_ops,
                            1,
                            {{"p99_ns", "market.p99_ns"},
                             {"bytes_per_offer", "market.bytes_per_offer"},
                             {"fills_per_op", "market.fills_per_op"}},
                            1},
                           {"market.signed_ops_per_s", signed_ops}});
}
