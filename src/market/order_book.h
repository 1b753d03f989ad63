// The order book (R5) and the matcher (R7): the offer order list and the request order list,
// indexed so that matching stays fast over millions of resting offers, and continuous
// price-time-priority matching on every new order. Pure and single-threaded: no I/O, no clock
// (every call gets `now`), no signatures (orders are verified before they reach the book).
// Deterministic: the same calls in the same order give the same fills.
//
// An offer is one IP. It rests in a bucket keyed by (country, IP type), ordered by price then
// arrival; protocols and scopes are bitmasks checked in the walk. A request rests in the list of
// each country it accepts (or the "any country" list), ordered by its maximum price (highest
// first) then arrival. The book keeps compact copies of the fields matching needs; the signed
// originals live with the caller, under the same OrderId.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/address.h"
#include "core/text_hash.h"
#include "ledger/orders.h"
#include "market/huge_pages.h"
#include "market/slab.h"

namespace ipsx::market {

// Assigned by the book in arrival order: also the time priority.
using OrderId = uint64_t;

// One IP of a request filled by one offer, at the resting order's price.
struct Fill {
  OrderId offer = 0;
  OrderId request = 0;
  U256 price_per_second;
  uint64_t fill_index = 0;  // the request's n-th fill (0-based), as the ledger's deal id counts
};

// Market data: how much rests at one price.
struct DepthLevel {
  U256 price;
  uint64_t orders = 0;  // offers (IPs available) or requests
  uint64_t ips = 0;     // offers: places free (capacity - open); requests: IPs still wanted
};

// The (expiry, id) of every order placed, in windows of 256 seconds kept in time order. A
// placement appends to its window (the windows new orders go to are few, and their ends are in
// cache); taking what expires sorts a window once, when `now` first reaches it. A binary heap of
// a million entries did the same with a sift through up to twenty levels per placement, each a
// likely miss: 5-9 % of the whole book's time.
class ExpiryQueue {
 public:
  using Entry = std::pair<uint64_t, OrderId>;
  void push(uint64_t expiry, OrderId id);
  // Appends to `out` and removes every entry whose expiry is before `now`, in (expiry, id) order.
  void pop_before(uint64_t now, std::vector<Entry>& out);
  // Every entry, in (expiry, id) order.
  std::vector<Entry> all() const;
  size_t size() const { return size_; }
  void clear();

 private:
  static constexpr unsigned kShift = 8;
  struct Window {
    HugeVector<Entry> entries;
    size_t head = 0;     // entries before it are taken
    bool sorted = true;  // [head, end) in order
  };
  std::map<uint64_t, Window> windows_;  // by expiry >> kShift
  uint64_t last_key_ = UINT64_MAX;      // the window pushed to last, and where it is
  Window* last_ = nullptr;
  size_t size_ = 0;
};

// Ratings the matcher checks (hundredths, 0..500), from the caller's profiles.
using RatingOf = std::function<uint16_t(const Address&)>;

class OrderBook {
 public:
  friend struct SnapshotCodec;  // snapshot.cc: writes and restores the whole book

  explicit OrderBook(RatingOf rating_of = nullptr);

  // Adds a (verified) offer and matches it against resting requests at their prices. Returns
  // its id and the fills made; whatever capacity is left rests in the book.
  OrderId place_offer(const Offer& offer, uint64_t now, std::vector<Fill>* fills);
  // Adds a (verified) request and matches it against resting offers at their prices, cheapest
  // first; the rest of its count rests in the book (an all-or-none request fills whole or not).
  OrderId place_request(const Request& request, uint64_t now, std::vector<Fill>* fills);

  // Removes an order; false if it is not in the book (unknown, filled, expired or cancelled).
  bool cancel(OrderId id);
  // Removes every order whose expiry is before `now`; returns how many left.
  size_t expire(uint64_t now);
  // A deal made from `offer` ended: its place returns to the book if the offer is still live.
  // Resting requests that now fit are matched; their fills are appended.
  void release(OrderId offer, bool exclusive, uint64_t now, std::vector<Fill>* fills);
  // Undoes `fill` (one of the fills the last place_*, release, advance or rating_changed call
  // returned) that the ledger refused. `offer_at_fault`: the offer leaves the book (the place the
  // fill took is given back so it can be freed) and the request gets its count and budget back
  // and looks for the next offer at once (a request the fill had completed returns to the
  // book). Otherwise the request leaves and the offer's place returns, matched again at once.
  // New fills are appended. `exclusive` is the request's.
  void refuse(const Fill& fill, bool offer_at_fault, bool exclusive, uint64_t now,
              std::vector<Fill>* fills);
  // Undoes `fill` that the ledger refused for a term of this pair only (a minimum rating the
  // other party no longer meets): both orders stay. The request gets its count and budget back
  // and looks for the next offer (never this one again), and the offer's place returns to the
  // other requests. New fills are appended.
  void refuse_pair(const Fill& fill, bool exclusive, uint64_t now, std::vector<Fill>* fills);
  // A request with a fill whose outcome is not known yet (the market opens deals in the
  // background): once filled it stays where refuse() can bring it back until unhold(), however
  // many placements, expiries or advances come meanwhile. Counted: one hold per fill.
  void hold(OrderId request);
  void unhold(OrderId request);

  // Re-matching as time passes: offers whose availability window has opened by `now` (it was
  // still closed when they were placed) are matched against the resting requests as if they
  // arrived now, cheapest first then earliest (at each request's price, like a returning place).
  // Requests waiting for a window, or whose later start kept them out of it, take them now.
  void advance(uint64_t now, std::vector<Fill>* fills);
  // The earliest window opening advance() has still to process, if any (it may belong to an
  // order that has left since: advance() then only drops it).
  std::optional<uint64_t> next_opening() const;
  // Re-matching after the rating of `who` changed: its resting offers (cheapest first, then
  // earliest) are matched as if they arrived now, then its resting requests (highest bid first,
  // then earliest), so requests and offers whose minimum rating it now meets take them.
  void rating_changed(const Address& who, uint64_t now, std::vector<Fill>* fills);
  // True iff a resting order has a minimum rating (so rating changes can matter).
  bool has_rating_filters() const { return rated_orders_ > 0; }
  // Suspends or resumes the offers of `owner`, those in the book and those it places later: a
  // suspended offer stays in the book (it can be cancelled, and it expires) but fills nothing
  // and counts in no depth. The market suspends a provider whose exit is not reachable (no live
  // announcement) so that no deal is opened that it cannot serve. Resuming matches its offers
  // as if they arrived now (cheapest first, then earliest). Returns false if nothing changed.
  bool set_suspended(const Address& owner, bool suspended, uint64_t now, std::vector<Fill>* fills);
  bool suspended(const Address& owner) const;
  // Every suspended owner, in address order (for snapshots).
  std::vector<Address> suspended_owners() const;

  // The offer side of one (country, IP type): up to `levels` price levels, cheapest first.
  std::vector<DepthLevel> offer_depth(const CountryCode& country, IpType type, size_t levels) const;
  // The request side for one country (requests naming it, and those accepting any country): up
  // to `levels` levels of maximum price, highest first.
  std::vector<DepthLevel> request_depth(const CountryCode& country, size_t levels) const;
  // What the book holds per country, for a map of the market: each country with any live offer
  // or any request naming it, in code order. Walks the whole offer side (a million offers: a few
  // milliseconds).
  struct CountryOffers {
    uint64_t offers = 0;  // live offers (suspended ones count in no depth, nor here)
    uint64_t ips = 0;     // places free
    U256 lowest;          // the cheapest offer's price per second (0 when none)
  };
  struct CountrySummary {
    CountryCode country{};
    std::array<CountryOffers, 3> types;  // residential, datacenter, mobile
    uint64_t requests = 0;               // resting requests naming the country (not "any")
  };
  std::vector<CountrySummary> country_summary() const;

  size_t offers() const { return live_offers_; }
  size_t requests() const { return live_requests_; }
  // True iff the order rests in the book and can match now (an offer whose every place is in
  // use is live but not contained until a deal ends).
  bool contains(OrderId id) const;
  // True iff the order can still take part in a fill: a request in the book, or a live offer
  // (resting, or with every place in use and due back when a deal ends).
  bool is_live(OrderId id) const;
  // For tests: whether the offer indexes agree with each other and with the entries (each
  // bucket's chunks non-empty and in order, its directory, first entry and first chunk theirs,
  // each listed offer in its bucket once). What is wrong, or an empty string.
  std::string check_indexes() const;

 private:
  // A reference to an order's entry: its slot in the offer slab, or its slot in the request slab
  // with kRequestRef set. kNil is no entry.
  static constexpr uint32_t kRequestRef = 1u << 31;
  static constexpr uint32_t kNil = UINT32_MAX;

  // Two cache lines: the first holds all that a cancel or a fill reads and writes (so those
  // touch one line), the second the rest of what fits() checks.
  struct alignas(64) OfferEntry {
    U256 price;
    OrderId id = 0;  // 0: the slot is free
    uint32_t capacity = 0, open = 0;
    uint32_t provider = 0, market = 0;
    uint16_t bucket = 0, min_requester_rating = 0;
    bool exclusive_open = false, live = false, listed = false;
    bool suspended = false;  // its provider's (set_suspended)
    // second line
    uint64_t expiry = 0, available_from = 0, available_until = 0;
    uint32_t min_duration = 0, max_duration = 0;
    uint32_t asn = 0, bandwidth_kbps = 0;
    uint32_t region = 0;
    uint16_t fee_bps = 0;
    uint8_t protocols = 0, scopes = 0;
    Ip ip{};
  };
  static_assert(sizeof(OfferEntry) == 128);
  struct RequestEntry {
    U256 max_price;
    U256 budget_left;
    OrderId id = 0;  // 0: the slot is free
    uint64_t expiry = 0, start = 0, duration = 0;
    uint64_t filled = 0;
    uint32_t count = 0, asn = 0, min_bandwidth_kbps = 0;
    uint32_t requester = 0, region = 0, market = 0;
    uint16_t fee_bps = 0, min_provider_rating = 0;
    uint8_t ip_types = 0, protocols = 0, scope = 0;
    bool exclusive = false, distinct_subnets = false, all_or_none = false, live = false;
    bool listed = false;
    bool done = false;                 // filled: out of the book, its slot kept until flush_done()
    std::vector<uint16_t> countries;   // country indexes; empty = any
    std::vector<SubnetKey> subnets;    // of its fills, when distinct_subnets
    std::vector<OrderId> used_offers;  // one IP is never filled twice for a request
  };

  // A cell of the address table: an address, its interned id and the first order (ref) of its
  // owner's list, kept in the cell so that a placement finds the list where it found the owner.
  struct alignas(32) InternedAddress {
    Address address;
    uint32_t id = kNil;      // kNil: an empty cell
    uint32_t head = kNil;    // kNil: no order
    bool suspended = false;  // the owner's offers fill nothing (set_suspended)
  };
  // The address a call site interned last, with its id and cell.
  struct LastAddress {
    Address address;
    uint32_t id = kNil;
    uint32_t cell = kNil;
  };
  // Interns `a` and returns its id (and its cell in `*cell`); `last` is the one this call site
  // interned last (checked first, without a read of the table).
  uint32_t intern(const Address& a, LastAddress& last, uint32_t* cell = nullptr);
  uint32_t intern(const std::string& s);
  // The cell of `a` in the address table, or kNil.
  uint32_t find_cell(const Address& a) const;
  void index_address(uint32_t id);
  // A place free: the offer rests in its bucket (listed), suspended or not.
  bool has_place(const OfferEntry& o) const;
  // The request of a refused fill gets back its count, budget and subnet, and is matched again.
  void give_back(const Fill& fill, const Ip& ip, uint64_t now, std::vector<Fill>* fills);
  // A place free and its provider not suspended: the offer can fill.
  bool offer_available(const OfferEntry& o) const;
  bool fits(const OfferEntry& o, const RequestEntry& r, uint64_t now) const;
  static constexpr size_t kUnknownChunk = SIZE_MAX;
  // Puts an offer in its bucket; `ci`: the chunk that takes it, if the caller has found it.
  void list_offer(uint32_t slot, size_t ci = kUnknownChunk);
  // Takes a listed offer out of its bucket; `ci`: its chunk, if the caller has found it already.
  void unlist_offer(uint32_t slot, size_t ci = kUnknownChunk);
  void list_request(uint32_t slot);
  // Lists every live request afresh, in n log n (a book restored from a snapshot).
  void list_live_requests();
  // The request lists' order: highest maximum price first, then earliest.
  bool request_before(uint32_t a, uint32_t b) const;
  void unlist_request(uint32_t slot);
  void drop_request(uint32_t slot);
  // A request filled to its count leaves the book, but its entry is kept until the next
  // placement, expire or advance, so that refuse() can bring it back.
  void retire_request(uint32_t slot);
  void flush_done();
  // Slots: taken for a new order (linked into its owner's list and the id index), and freed.
  uint32_t new_offer_slot();
  uint32_t new_request_slot();
  void free_offer_slot(uint32_t slot);
  void free_request_slot(uint32_t slot);
  // Owners' lists of orders (doubly linked through offer_owner_links_ and
  // request_owner_links_), for rating_changed().
  struct OwnerLink {
    uint32_t next = kNil, prev = kNil;  // refs
  };
  OwnerLink& owner_link(uint32_t ref) {
    return ref & kRequestRef ? request_owner_links_[ref & ~kRequestRef] : offer_owner_links_[ref];
  }
  // Links `ref` first in its owner's list (`cell`: the owner's cell, if known).
  void link_owner(uint32_t owner, uint32_t ref, uint32_t cell = kNil);
  void unlink_owner(uint32_t owner, uint32_t ref);
  // The id index: OrderId -> ref, open addressing over the slabs (see ids_).
  OrderId id_of(uint32_t ref) const;
  uint32_t find_ref(OrderId id) const;
  // The same, calling `on_candidate(cell)` for each cell whose low bits match, before the entry
  // that confirms the full id is read (a cancel starts looking for the offer's chunk there).
  template <class OnCandidate>
  uint32_t find_ref(OrderId id, OnCandidate&& on_candidate) const;
  void index_id(OrderId id, uint32_t ref, uint64_t hint = kNoHint);
  void unindex_id(OrderId id);
  bool rating_filtered_offer(const OfferEntry& o) const { return o.min_requester_rating > 0; }
  bool rating_filtered_request(const RequestEntry& r) const { return r.min_provider_rating > 0; }
  // Fills as much of request `slot` as the resting offers allow; all or nothing for AON.
  void match_request(uint32_t slot, uint64_t now, std::vector<Fill>* fills);
  void take(uint32_t offer_slot, uint32_t request_slot, const U256& price,
            std::vector<Fill>* fills);
  void match_offer(uint32_t slot, uint64_t now, std::vector<Fill>* fills);

  RatingOf rating_of_;
  // The entries, in pages of 16,384 offers (2 MiB, a huge page) and of 1,024 requests that never
  // move as the book grows.
  Slab<OfferEntry, kHugePage / sizeof(OfferEntry)> offer_slab_;
  std::vector<uint32_t> free_offers_;
  Slab<RequestEntry, 1024> request_slab_;
  std::vector<uint32_t> free_requests_;
  // Each slot's links in its owner's list, beside the slabs rather than in the entries: linking
  // and unlinking touch the neighbours' links, which are far denser here than in the slabs.
  HugeVector<OwnerLink> offer_owner_links_, request_owner_links_;
  // The id index: open addressing with linear probing (power-of-two size, at most 3/4 full),
  // homed by the id's low 32 bits. Each cell holds those bits and the entry's ref; the full id
  // is read from the slab on a match. Erasing shifts the cluster back (no tombstones). An
  // offer's cell also holds where it rests (its bucket and price key, see id_hint()), so that a
  // cancel starts finding its chunk while its entry is still loading.
  struct IdCell {
    uint32_t id_low = 0;
    uint32_t ref = kNil;  // kNil: empty
    uint64_t hint = kNoHint;
  };
  static constexpr uint64_t kNoHint = UINT64_MAX;
  static constexpr unsigned kHintKeyBits = 54;
  // An offer's bucket and price key in 64 bits; kNoHint for a key of 2^54 or more (rare: such an
  // offer's cancel reads its entry first).
  static uint64_t id_hint(uint16_t bucket, const U256& price) {
    uint64_t key = price.fits_u64() ? price.low64() : UINT64_MAX;
    if (key >> kHintKeyBits) return kNoHint;
    return uint64_t{bucket} << kHintKeyBits | key;
  }
  HugeVector<IdCell> ids_;
  size_t ids_used_ = 0;
  // An offer in a bucket: its price as a 64-bit key (saturated), its id and its slab slot, so
  // that ordering entries reads the slab only for two saturated keys (prices of 2^64 and more).
  struct BucketEntry {
    uint64_t key;
    OrderId id;
    uint32_t slot;
  };
  static uint64_t price_key(const U256& p) { return p.fits_u64() ? p.low64() : UINT64_MAX; }
  bool bucket_less(const BucketEntry& a, const BucketEntry& b) const {
    if (a.key != b.key) return a.key < b.key;
    if (a.key == UINT64_MAX) return wide_price_less(a, b);
    return a.id < b.id;
  }
  // Two saturated keys: by the full price, then id (reads the slab).
  bool wide_price_less(const BucketEntry& a, const BucketEntry& b) const;
  // Whether the offer of bucket entry `e` is dearer than `max` (reads the slab only for a
  // saturated key).
  bool dearer(const BucketEntry& e, const U256& max) const {
    if (e.key != UINT64_MAX) return !max.fits_u64() ? false : e.key > max.low64();
    return offer_slab_[e.slot].price > max;
  }
  // Offer buckets: index = country * 4 + ipType; each sorted by (price, id), held in fixed-size
  // chunks of at most kChunk entries (keys, ids and slots in separate arrays, so a search reads
  // keys, and ids only among equal keys), so that an insert or erase moves at most one chunk's
  // entries. `last` holds each chunk's last entry, so finding the chunk reads one contiguous
  // array.
  static constexpr uint32_t kChunk = 32;
  struct Chunk {
    uint32_t n = 0;
    std::array<uint64_t, kChunk> keys;
    std::array<OrderId, kChunk> ids;
    std::array<uint32_t, kChunk> slots;
    BucketEntry at(uint32_t i) const { return {keys[i], ids[i], slots[i]}; }
    void set(uint32_t i, const BucketEntry& e) {
      keys[i] = e.key;
      ids[i] = e.id;
      slots[i] = e.slot;
    }
  };
  static constexpr BucketEntry kNoEntry{UINT64_MAX, 0, kNil};
  // A bucket's top level: each chunk's last entry, as three arrays, so that finding a chunk
  // reads keys (8 bytes a chunk: a bucket of 50 chunks is 7 cache lines), and ids or slots only
  // among equal keys.
  struct Directory {
    std::vector<uint64_t> keys;
    std::vector<OrderId> ids;
    std::vector<uint32_t> slots;
    size_t size() const { return keys.size(); }
    BucketEntry at(size_t i) const { return {keys[i], ids[i], slots[i]}; }
    void set(size_t i, const BucketEntry& e) {
      keys[i] = e.key;
      ids[i] = e.id;
      slots[i] = e.slot;
    }
    void insert(size_t i, const BucketEntry& e) {
      keys.insert(keys.begin() + static_cast<ptrdiff_t>(i), e.key);
      ids.insert(ids.begin() + static_cast<ptrdiff_t>(i), e.id);
      slots.insert(slots.begin() + static_cast<ptrdiff_t>(i), e.slot);
    }
    void erase(size_t i) {
      keys.erase(keys.begin() + static_cast<ptrdiff_t>(i));
      ids.erase(ids.begin() + static_cast<ptrdiff_t>(i));
      slots.erase(slots.begin() + static_cast<ptrdiff_t>(i));
    }
  };
  struct Bucket {
    BucketEntry first = kNoEntry;  // the cheapest entry (slot kNil: empty)
    // chunks[0], or null: beside `first`, so that a request reaches its buckets' first chunks
    // from the bucket's own line, without a read of `chunks` (a miss of its own).
    Chunk* front = nullptr;
    Directory last;              // chunks[i]'s last entry
    std::vector<Chunk*> chunks;  // each sorted and non-empty; in order (in chunk_slab_)
  };
  static void refresh_first(Bucket& b) {
    b.first = b.chunks.empty() ? kNoEntry : b.chunks[0]->at(0);
  }
  static void refresh_front(Bucket& b) { b.front = b.chunks.empty() ? nullptr : b.chunks[0]; }
  // The chunk of `b` that holds `e`, or would take it (b.chunks.size() if every entry is less).
  size_t chunk_of(const Bucket& b, const BucketEntry& e) const;
  // The position in `c` of the first entry not less than `e`.
  uint32_t position_in(const Chunk& c, const BucketEntry& e) const;
  std::vector<Bucket> buckets_;
  // The chunks, in pages of 2 MiB, and those freed (reused first).
  Slab<Chunk, kHugePage / sizeof(Chunk)> chunk_slab_;
  std::vector<Chunk*> free_chunks_;
  Chunk* new_chunk();
  void free_chunk(Chunk* c) { free_chunks_.push_back(c); }
  // The k-way merge of match_request (scratch space kept between calls).
  struct Head {
    BucketEntry e;
    uint32_t bucket, chunk, pos;
  };
  std::vector<Head> heads_;
  std::vector<uint32_t> chosen_;
  // Request lists: index = country, plus one "any country" list at the end; each sorted by
  // (max price descending, id).
  std::vector<std::vector<uint32_t>> request_lists_;
  // (expiry, id) of every order placed, for expiry.
  ExpiryQueue expiries_;
  // (available from, id) min-heap of the offers placed before their window opened.
  HugeVector<std::pair<uint64_t, OrderId>> openings_;
  std::vector<uint32_t> done_requests_;         // slots of retired requests, see retire_request()
  std::unordered_map<OrderId, uint32_t> held_;  // hold(): requests flush_done() keeps
  size_t rated_orders_ = 0;                     // live orders with a minimum rating
  std::vector<Address> addresses_;
  // Interned addresses: open addressing with linear probing, at most half full; each cell holds
  // the address itself, so a lookup compares without reading addresses_. The addresses interned
  // last as an owner and as a market are checked first.
  HugeVector<InternedAddress> address_table_;
  std::vector<uint32_t> cell_of_;  // interned id -> its cell
  LastAddress last_owner_, last_market_;
  std::vector<std::string> strings_;
  TextMap<uint32_t> string_ids_;
  OrderId next_id_ = 1;
  size_t live_offers_ = 0;
  size_t live_requests_ = 0;
};

// The index of an ISO country code among the 249 assigned ones; nullopt if unassigned.
std::optional<uint16_t> country_index(const CountryCode& c);

}  // namespace ipsx::market
