// The order book's storage: interned addresses and strings, the expiry queue, the id index and
// the slabs of offers and requests (order_book.h).
#include <cstring>

#include "market/order_book.h"
#include "market/order_book_internal.h"

namespace ipsx::market {

using book_internal::address_hash;
using book_internal::id_home;
using book_internal::prefetch;
using book_internal::same_address;

// ---- interning ----------------------------------------------------------------------------------

uint32_t OrderBook::find_cell(const Address& a) const {
  if (address_table_.empty()) return kNil;
  size_t mask = address_table_.size() - 1;
  for (size_t i = address_hash(a) & mask;; i = (i + 1) & mask) {
    const InternedAddress& cell = address_table_[i];
    if (cell.id == kNil) return kNil;
    if (same_address(cell.address, a)) return static_cast<uint32_t>(i);
  }
}

void OrderBook::index_address(uint32_t id) {
  cell_of_.resize(addresses_.size(), kNil);
  auto put = [&](uint32_t i, uint32_t head, bool suspended) {
    size_t mask = address_table_.size() - 1;
    size_t at = address_hash(addresses_[i]) & mask;
    while (address_table_[at].id != kNil) at = (at + 1) & mask;
    address_table_[at] = {addresses_[i], i, head, suspended};
    cell_of_[i] = static_cast<uint32_t>(at);
  };
  if (addresses_.size() * 2 > address_table_.size()) {
    // Grow (at most half full) and re-insert every address, `id` included, with its list and
    // whether it is suspended.
    std::vector<uint32_t> heads(addresses_.size(), kNil);
    std::vector<bool> suspended(addresses_.size(), false);
    for (const InternedAddress& c : address_table_) {
      if (c.id == kNil) continue;
      heads[c.id] = c.head;
      suspended[c.id] = c.suspended;
    }
    address_table_.assign(std::max<size_t>(64, address_table_.size() * 2), InternedAddress{});
    for (uint32_t i = 0; i < addresses_.size(); ++i) put(i, heads[i], suspended[i]);
    last_owner_ = last_market_ = LastAddress{};  // their cells moved
    return;
  }
  put(id, kNil, false);
}

uint32_t OrderBook::intern(const Address& a, LastAddress& last, uint32_t* cell) {
  if (last.id == kNil || !same_address(last.address, a)) {
    uint32_t at = find_cell(a);
    uint32_t id;
    if (at == kNil) {
      id = static_cast<uint32_t>(addresses_.size());
      addresses_.push_back(a);
      index_address(id);
      at = cell_of_[id];
    } else {
      id = address_table_[at].id;
    }
    last = {a, id, at};
  }
  if (cell) *cell = last.cell;
  return last.id;
}

uint32_t OrderBook::intern(const std::string& s) {
  if (s.empty()) return 0;
  auto [it, inserted] = string_ids_.try_emplace(s, static_cast<uint32_t>(strings_.size()));
  if (inserted) strings_.push_back(s);
  return it->second;
}

// ---- expiry ----------------------------------------------------------------------------------

void ExpiryQueue::push(uint64_t expiry, OrderId id) {
  uint64_t key = expiry >> kShift;
  if (key != last_key_ || last_ == nullptr) {
    last_ = &windows_[key];
    last_key_ = key;
  }
  Window& w = *last_;
  if (w.sorted && w.entries.size() > w.head && Entry{expiry, id} < w.entries.back())
    w.sorted = false;
  w.entries.emplace_back(expiry, id);
  ++size_;
}

void ExpiryQueue::pop_before(uint64_t now, std::vector<Entry>& out) {
  while (!windows_.empty()) {
    auto it = windows_.begin();
    Window& w = it->second;
    // The window holds expiries from key << kShift to the next window's start, exclusive.
    if ((it->first << kShift) >= now) break;
    if (!w.sorted) {
      std::sort(w.entries.begin() + static_cast<ptrdiff_t>(w.head), w.entries.end());
      w.sorted = true;
    }
    while (w.head < w.entries.size() && w.entries[w.head].first < now) {
      out.push_back(w.entries[w.head++]);
      --size_;
    }
    if (w.head < w.entries.size()) break;  // the rest expire at `now` or later
    if (last_ == &w) last_ = nullptr;
    windows_.erase(it);
  }
}

std::vector<ExpiryQueue::Entry> ExpiryQueue::all() const {
  std::vector<Entry> out;
  out.reserve(size_);
  for (const auto& [key, w] : windows_)
    out.insert(out.end(), w.entries.begin() + static_cast<ptrdiff_t>(w.head), w.entries.end());
  std::sort(out.begin(), out.end());
  return out;
}

void ExpiryQueue::clear() {
  windows_.clear();
  last_ = nullptr;
  last_key_ = UINT64_MAX;
  size_ = 0;
}

// ---- the id index and the slabs -----------------------------------------------------------------

uint32_t OrderBook::find_ref(OrderId id) const {
  return find_ref(id, [](const IdCell&) {});
}

void OrderBook::index_id(OrderId id, uint32_t ref, uint64_t hint) {
  if ((ids_used_ + 1) * 4 > ids_.size() * 3) {
    HugeVector<IdCell> old(std::max<size_t>(64, ids_.size() * 2));
    old.swap(ids_);
    size_t mask = ids_.size() - 1;
    for (const IdCell& c : old) {
      if (c.ref == kNil) continue;
      size_t i = id_home(c.id_low, mask);
      while (ids_[i].ref != kNil) i = (i + 1) & mask;
      ids_[i] = c;
    }
  }
  size_t mask = ids_.size() - 1;
  auto low = static_cast<uint32_t>(id);
  size_t i = id_home(low, mask);
  while (ids_[i].ref != kNil) i = (i + 1) & mask;
  ids_[i] = IdCell{low, ref, hint};
  ++ids_used_;
}

void OrderBook::unindex_id(OrderId id) {
  if (ids_.empty()) return;
  size_t mask = ids_.size() - 1;
  auto low = static_cast<uint32_t>(id);
  size_t i = id_home(low, mask);
  for (;; i = (i + 1) & mask) {
    if (ids_[i].ref == kNil) return;
    if (ids_[i].id_low == low && id_of(ids_[i].ref) == id) break;
  }
  // Backward shift: move each later cell of the cluster into the hole if its home allows.
  size_t hole = i;
  for (size_t j = (i + 1) & mask; ids_[j].ref != kNil; j = (j + 1) & mask) {
    size_t home = id_home(ids_[j].id_low, mask);
    // The cell at j may move to the hole iff its home is not in (hole, j] (cyclically).
    bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (!stays) {
      ids_[hole] = ids_[j];
      hole = j;
    }
  }
  ids_[hole] = IdCell{};
  --ids_used_;
}

void OrderBook::link_owner(uint32_t owner, uint32_t ref, uint32_t cell) {
  // The links grow with the slabs (a restored book fills its slabs directly).
  offer_owner_links_.resize(offer_slab_.size());
  request_owner_links_.resize(request_slab_.size());
  uint32_t& head = address_table_[cell != kNil ? cell : cell_of_[owner]].head;
  owner_link(ref) = {head, kNil};
  if (head != kNil) owner_link(head).prev = ref;
  head = ref;
}

void OrderBook::unlink_owner(uint32_t owner, uint32_t ref) {
  auto [next, prev] = owner_link(ref);
  if (prev == kNil) {
    address_table_[cell_of_[owner]].head = next;
  } else {
    owner_link(prev).next = next;
  }
  if (next != kNil) owner_link(next).prev = prev;
  owner_link(ref) = {};
}

uint32_t OrderBook::new_offer_slot() {
  if (!free_offers_.empty()) {
    uint32_t slot = free_offers_.back();
    free_offers_.pop_back();
    return slot;
  }
  offer_slab_.emplace_back();
  return static_cast<uint32_t>(offer_slab_.size() - 1);
}

uint32_t OrderBook::new_request_slot() {
  if (!free_requests_.empty()) {
    uint32_t slot = free_requests_.back();
    free_requests_.pop_back();
    return slot;
  }
  request_slab_.emplace_back();
  return static_cast<uint32_t>(request_slab_.size() - 1);
}

void OrderBook::free_offer_slot(uint32_t slot) {
  OfferEntry& o = offer_slab_[slot];
  unindex_id(o.id);
  unlink_owner(o.provider, slot);
  // The first line only: its id of 0 marks the slot free. The second line is left as it was (a
  // cancel does not read it, so resetting it would load it for nothing); place_offer() writes
  // the whole entry before the slot is used again.
  o.price = U256();
  o.id = 0;
  o.capacity = o.open = o.provider = o.market = 0;
  o.bucket = o.min_requester_rating = 0;
  o.exclusive_open = o.live = o.listed = false;
  free_offers_.push_back(slot);
}

void OrderBook::free_request_slot(uint32_t slot) {
  RequestEntry& r = request_slab_[slot];
  unindex_id(r.id);
  unlink_owner(r.requester, slot | kRequestRef);
  // Reset, keeping the vectors' storage for the next request in this slot.
  auto countries = std::move(r.countries);
  auto subnets = std::move(r.subnets);
  auto used = std::move(r.used_offers);
  r = RequestEntry{};
  countries.clear();
  subnets.clear();
  used.clear();
  r.countries = std::move(countries);
  r.subnets = std::move(subnets);
  r.used_offers = std::move(used);
  free_requests_.push_back(slot);
}

}  // namespace ipsx::market
