// What the order book's translation units share and nothing else sees: the table sizes and the
// prefetch helper (order_book.cc: placing, matching and leaving; order_book_store.cc: interning,
// expiry, the id index and the slabs; order_book_events.cc: market data, the consistency check,
// refusals and re-matching).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "market/order_book.h"

namespace ipsx::market::book_internal {

constexpr size_t kCountries = 249;
constexpr size_t kAnyCountry = kCountries;  // index of the "any country" request list

// Starts loading the cache lines of [p, p + bytes) without waiting for them. The book is far
// larger than the caches, so most of an operation's time is misses; where the lines it will read
// are known early (a small array about to be binary searched, the table cells of a placement),
// loading them together overlaps the misses instead of taking them one after another.
inline void prefetch(const void* p, size_t bytes = 1) {
  constexpr uintptr_t kLine = 64;
  auto at = reinterpret_cast<uintptr_t>(p) & ~(kLine - 1);
  for (auto end = reinterpret_cast<uintptr_t>(p) + bytes; at < end; at += kLine)
    __builtin_prefetch(reinterpret_cast<const void*>(at));
}

// The address table's hash.
inline uint64_t address_hash(const Address& a) {
  uint64_t w[3] = {0, 0, 0};
  std::memcpy(w, a.data(), 20);
  uint64_t h = (w[0] ^ (w[1] * 0x9E3779B97F4A7C15ull) ^ (w[2] * 0xC2B2AE3D27D4EB4Full));
  h ^= h >> 32;
  h *= 0xD6E8FEB86659FD93ull;
  h ^= h >> 32;
  return h;
}

// Equality of two addresses without a call to memcmp.
inline bool same_address(const Address& a, const Address& b) {
  uint64_t x[3] = {0, 0, 0}, y[3] = {0, 0, 0};
  std::memcpy(x, a.data(), 20);
  std::memcpy(y, b.data(), 20);
  return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2])) == 0;
}

// The home cell of an id in the id index (Fibonacci hashing of its low 32 bits).
inline size_t id_home(uint32_t id_low, size_t mask) {
  return static_cast<size_t>((uint64_t{id_low} * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

}  // namespace ipsx::market::book_internal

namespace ipsx::market {

// The id index's lookups, inline where the book's operations look an order up.
inline OrderId OrderBook::id_of(uint32_t ref) const {
  return ref & kRequestRef ? request_slab_[ref & ~kRequestRef].id : offer_slab_[ref].id;
}

template <class OnCandidate>
inline uint32_t OrderBook::find_ref(OrderId id, OnCandidate&& on_candidate) const {
  if (ids_.empty() || id == 0) return kNil;
  size_t mask = ids_.size() - 1;
  auto low = static_cast<uint32_t>(id);
  for (size_t i = book_internal::id_home(low, mask);; i = (i + 1) & mask) {
    const IdCell& c = ids_[i];
    if (c.ref == kNil) return kNil;
    if (c.id_low != low) continue;
    on_candidate(c);
    if (id_of(c.ref) == id) return c.ref;
  }
}

}  // namespace ipsx::market
