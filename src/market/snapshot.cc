#include "market/snapshot.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <nlohmann/json.hpp>
#include <span>
#include <stdexcept>

#include "core/hex.h"
#include "ledger/tx_codec.h"
#include "market/market.h"
#include "market/records.h"
#include "vocab/order_records.h"

namespace ipsx::market {
namespace {

using nlohmann::json;

// 1: every section as JSON values inside CBOR. 2: the large sections as packed binary records.
constexpr int kVersion = 2;

// Conversions throw (Bad, or json::exception) on bad input: decode() turns it into an error
// value, so nothing is thrown across the layer.
using Bad = RecordError;

// A section's bytes (a CBOR byte string), for a Reader.
std::span<const uint8_t> bin(const json& j) {
  return j.get_binary();
}

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

// CBOR (RFC 8949) appended in place to a buffer: maps with their keys given in sorted order,
// byte strings written by a Writer, and any json as json::to_cbor writes it (definite lengths,
// the shortest heads), so the bytes are those to_cbor gives for the same object.
class CborOut {
 public:
  explicit CborOut(std::string& out) : out_(out) {}
  void map(size_t entries) { out_.append(head(5, entries)); }
  void key(std::string_view k) { text(k); }
  void value(std::string_view k, const json& v) {
    text(k);
    json::to_cbor(v, out_);
  }
  // A byte string whose content `write(Writer&)` appends. Its length is known only after, so
  // the content is written after room for the longest head and moved back over what the
  // shortest head leaves (a move within the buffer, not a second buffer).
  template <class F>
  void bytes(std::string_view k, F&& write) {
    text(k);
    const size_t at = out_.size();
    out_.append(kLongestHead, '\0');
    Writer w(out_);
    write(w);
    const size_t n = out_.size() - at - kLongestHead;
    const std::string h = head(2, n);
    out_.replace(at, kLongestHead, h);
  }

 private:
  static constexpr size_t kLongestHead = 9;
  void text(std::string_view t) {
    out_.append(head(3, t.size()));
    out_.append(t);
  }
  static std::string head(uint8_t major, uint64_t n) {
    const auto m = static_cast<char>(major << 5);
    int width = n < 24 ? 0 : n <= 0xff ? 1 : n <= 0xffff ? 2 : n <= 0xffffffff ? 4 : 8;
    static constexpr char kWidthCode[] = {0, 24, 25, 0, 26, 0, 0, 0, 27};
    std::string h(1,
                  static_cast<char>(m | (width == 0 ? static_cast<char>(n) : kWidthCode[width])));
    for (int i = width - 1; i >= 0; --i) h.push_back(static_cast<char>(n >> (8 * i)));
    return h;
  }
  std::string& out_;
};

// An expiry heap's entries, sorted (two equal heaps encode equally).
void write_heap(Writer& w, std::vector<std::pair<uint64_t, OrderId>> heap) {
  std::sort(heap.begin(), heap.end());
  w.u32(static_cast<uint32_t>(heap.size()));
  for (const auto& [t, id] : heap) {
    w.u64(t);
    w.u64(id);
  }
}

// Sorted ascending: a valid min-heap for std::greater.
std::vector<std::pair<uint64_t, OrderId>> heap_from(const json& j) {
  Reader r(bin(j));
  std::vector<std::pair<uint64_t, OrderId>> heap(r.count(16));
  for (auto& [t, id] : heap) {
    t = r.u64();
    id = r.u64();
  }
  if (!r.done()) throw Bad("trailing bytes in a heap");
  if (!std::is_sorted(heap.begin(), heap.end())) throw Bad("heap out of order");
  return heap;
}

// The checksum of a sealed snapshot: 64-bit, four multiply-rotate lanes over 8-byte words (the
// snapshot is the market's own file: this detects damage, it does not authenticate).
uint64_t checksum(std::string_view data) {
  constexpr uint64_t k1 = 0x9E3779B185EBCA87ull, k2 = 0xC2B2AE3D27D4EB4Full;
  uint64_t lanes[4] = {k1 + k2, k2, 0, 0 - k1};
  auto round = [&](uint64_t acc, uint64_t word) {
    acc += word * k2;
    acc = (acc << 31) | (acc >> 33);
    return acc * k1;
  };
  size_t i = 0;
  for (; i + 32 <= data.size(); i += 32) {
    for (int l = 0; l < 4; ++l) {
      uint64_t word;
      std::memcpy(&word, data.data() + i + 8 * static_cast<size_t>(l), 8);
      lanes[l] = round(lanes[l], word);
    }
  }
  uint64_t h = data.size();
  for (uint64_t lane : lanes) h = round(h ^ lane, lane);
  for (; i < data.size(); ++i) h = round(h, static_cast<uint8_t>(data[i]));
  h ^= h >> 29;
  h *= k1;
  h ^= h >> 32;
  return h;
}

}  // namespace

// ---- The order book ---------------------------------------------------------------------------

json SnapshotCodec::book_to_json(const OrderBook& b) {
  std::string out;
  write_book(out, b);
  return json::from_cbor(out);
}

void SnapshotCodec::write_book(std::string& out, const OrderBook& b) {
  // In id order: a canonical form whatever the slots (two equal books encode equally).
  std::vector<std::pair<OrderId, uint32_t>> offer_slots;
  for (uint32_t slot = 0; slot < b.offer_slab_.size(); ++slot) {
    if (b.offer_slab_[slot].id != 0) offer_slots.emplace_back(b.offer_slab_[slot].id, slot);
  }
  std::sort(offer_slots.begin(), offer_slots.end());
  std::vector<std::pair<OrderId, uint32_t>> request_slots;
  for (uint32_t slot = 0; slot < b.request_slab_.size(); ++slot) {
    const OrderBook::RequestEntry& r = b.request_slab_[slot];
    if (r.id != 0 && r.live) request_slots.emplace_back(r.id, slot);  // not retired ones
  }
  std::sort(request_slots.begin(), request_slots.end());
  json suspended = json::array();  // interned ids, ascending
  for (uint32_t id = 0; id < b.addresses_.size(); ++id)
    if (b.address_table_[b.cell_of_[id]].suspended) suspended.push_back(id);
  // The map json::to_cbor writes for these keys, in its (sorted) order.
  CborOut cbor(out);
  cbor.map(8);
  cbor.bytes("addresses", [&](Writer& addresses) {
    for (const auto& a : b.addresses_) addresses.bytes(a.bytes());
  });
  cbor.bytes("expiries", [&](Writer& w) { write_heap(w, b.expiries_.all()); });
  cbor.value("next_id", b.next_id_);
  cbor.bytes("offers", [&](Writer& offers) {
    offers.u32(static_cast<uint32_t>(offer_slots.size()));
    for (const auto& [id, slot] : offer_slots) {
      const OrderBook::OfferEntry& o = b.offer_slab_[slot];
      offers.u256(o.price);
      offers.u64(o.id);
      offers.u64(o.expiry);
      offers.u64(o.available_from);
      offers.u64(o.available_until);
      for (uint32_t v : {o.min_duration, o.max_duration, o.asn, o.bandwidth_kbps, o.capacity,
                         o.open, o.provider, o.region, o.market})
        offers.u32(v);
      offers.u16(o.fee_bps);
      offers.u16(o.min_requester_rating);
      offers.u16(o.bucket);
      offers.u8(o.protocols);
      offers.u8(o.scopes);
      offers.u8(o.exclusive_open);
      offers.u8(o.live);
      offers.bytes(o.ip);
    }
  });
  cbor.bytes("openings", [&](Writer& w) {
    write_heap(w, {b.openings_.begin(), b.openings_.end()});
  });
  cbor.bytes("requests", [&](Writer& requests) {
    requests.u32(static_cast<uint32_t>(request_slots.size()));
    for (const auto& [id, slot] : request_slots) {
      const OrderBook::RequestEntry& r = b.request_slab_[slot];
      requests.u256(r.max_price);
      requests.u256(r.budget_left);
      for (uint64_t v : {r.id, r.expiry, r.start, r.duration, r.filled}) requests.u64(v);
      for (uint32_t v : {r.count, r.asn, r.min_bandwidth_kbps, r.requester, r.region, r.market})
        requests.u32(v);
      requests.u16(r.fee_bps);
      requests.u16(r.min_provider_rating);
      for (uint8_t v : {r.ip_types, r.protocols, r.scope}) requests.u8(v);
      for (bool v : {r.exclusive, r.distinct_subnets, r.all_or_none}) requests.u8(v);
      requests.u32(static_cast<uint32_t>(r.countries.size()));
      for (uint16_t c : r.countries) requests.u16(c);
      requests.u32(static_cast<uint32_t>(r.subnets.size()));
      for (const auto& net : r.subnets) requests.bytes(net);
      requests.u32(static_cast<uint32_t>(r.used_offers.size()));
      for (OrderId id : r.used_offers) requests.u64(id);
    }
  });
  cbor.value("strings", b.strings_);
  cbor.value("suspended", suspended);
}

Result<void> SnapshotCodec::book_from_json(OrderBook& b, const json& j) {
  b.next_id_ = j.at("next_id").get<OrderId>();
  {
    Reader r(bin(j.at("addresses")));
    while (!r.done()) {
      b.addresses_.push_back(r.addr());
      b.index_address(static_cast<uint32_t>(b.addresses_.size() - 1));
    }
  }
  // Providers whose offers fill nothing for now (absent from older snapshots: none).
  if (auto s = j.find("suspended"); s != j.end()) {
    for (const auto& id : *s) {
      auto i = id.get<uint32_t>();
      if (i >= b.addresses_.size()) throw Bad("a suspended owner that is not interned");
      b.address_table_[b.cell_of_[i]].suspended = true;
    }
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
  Reader offers(bin(j.at("offers")));
  uint32_t n_offers = offers.count(110);
  b.offer_slab_.reserve(n_offers);
  for (uint32_t i = 0; i < n_offers; ++i) {
    OrderBook::OfferEntry o;
    o.price = offers.u256();
    o.id = offers.u64();
    o.expiry = offers.u64();
    o.available_from = offers.u64();
    o.available_until = offers.u64();
    for (uint32_t* v : {&o.min_duration, &o.max_duration, &o.asn, &o.bandwidth_kbps, &o.capacity,
                        &o.open, &o.provider, &o.region, &o.market})
      *v = offers.u32();
    o.fee_bps = offers.u16();
    o.min_requester_rating = offers.u16();
    o.bucket = offers.u16();
    o.protocols = offers.u8();
    o.scopes = offers.u8();
    o.exclusive_open = offers.flag();
    o.live = offers.flag();
    offers.bytes(std::span<uint8_t, 16>(o.ip));
    check_interned(o.provider, o.region, o.market);
    o.suspended = b.address_table_[b.cell_of_[o.provider]].suspended;
    if (o.id == 0 || b.find_ref(o.id) != OrderBook::kNil) throw Bad("bad or repeated order id");
    if (o.bucket >= b.buckets_.size()) throw Bad("bad bucket");
    auto slot = static_cast<uint32_t>(b.offer_slab_.size());
    b.offer_slab_.push_back(o);
    b.index_id(o.id, slot, OrderBook::id_hint(o.bucket, o.price));
    b.link_owner(o.provider, slot);
    if (o.live) {
      ++b.live_offers_;
      if (b.rating_filtered_offer(o)) ++b.rated_orders_;
      if (b.has_place(o)) b.list_offer(slot);
    }
  }
  if (!offers.done()) throw Bad("trailing bytes after the offers");
  Reader requests(bin(j.at("requests")));
  uint32_t n_requests = requests.count(140);
  b.request_slab_.reserve(n_requests);
  for (uint32_t i = 0; i < n_requests; ++i) {
    OrderBook::RequestEntry r;
    r.max_price = requests.u256();
    r.budget_left = requests.u256();
    for (uint64_t* v : {&r.id, &r.expiry, &r.start, &r.duration, &r.filled}) *v = requests.u64();
    for (uint32_t* v :
         {&r.count, &r.asn, &r.min_bandwidth_kbps, &r.requester, &r.region, &r.market})
      *v = requests.u32();
    r.fee_bps = requests.u16();
    r.min_provider_rating = requests.u16();
    for (uint8_t* v : {&r.ip_types, &r.protocols, &r.scope}) *v = requests.u8();
    for (bool* v : {&r.exclusive, &r.distinct_subnets, &r.all_or_none}) *v = requests.flag();
    r.countries.resize(requests.count(2));
    for (uint16_t& c : r.countries) c = requests.u16();
    r.subnets.resize(requests.count(6));
    for (auto& net : r.subnets) requests.bytes(std::span<uint8_t, 6>(net));
    r.used_offers.resize(requests.count(8));
    for (OrderId& id : r.used_offers) id = requests.u64();
    r.live = true;
    check_interned(r.requester, r.region, r.market);
    if (r.id == 0 || b.find_ref(r.id) != OrderBook::kNil) throw Bad("bad or repeated order id");
    if (std::any_of(r.countries.begin(), r.countries.end(),
                    [&](uint16_t c) { return c + 1u >= b.request_lists_.size(); })) {
      throw Bad("bad country");
    }
    auto slot = static_cast<uint32_t>(b.request_slab_.size());
    b.request_slab_.push_back(std::move(r));
    const OrderBook::RequestEntry& placed = b.request_slab_[slot];
    b.index_id(placed.id, slot | OrderBook::kRequestRef);
    b.link_owner(placed.requester, slot | OrderBook::kRequestRef);
    ++b.live_requests_;
    if (b.rating_filtered_request(placed)) ++b.rated_orders_;
  }
  if (!requests.done()) throw Bad("trailing bytes after the requests");
  b.list_live_requests();
  auto expiries = heap_from(j.at("expiries"));
  auto openings = heap_from(j.at("openings"));
  b.expiries_.clear();
  for (const auto& [t, id] : expiries) b.expiries_.push(t, id);
  b.openings_.assign(openings.begin(), openings.end());
  return {};
}

// ---- The sealed form ---------------------------------------------------------------------------

namespace {
constexpr std::string_view kMagic = "IPSXSNAP";
constexpr uint32_t kFormat = 2;
constexpr size_t kHeader = 8 + 4 + 8 + 8;

uint64_t load_le(std::string_view s, size_t at, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i)
    v |= uint64_t{static_cast<uint8_t>(s[at + static_cast<size_t>(i)])} << (8 * i);
  return v;
}
void store_le(std::string& s, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
}
}  // namespace

std::string SnapshotCodec::seal(std::string_view body) {
  std::string out(kHeader, '\0');
  out.append(body);
  fill_header(out);
  return out;
}

void SnapshotCodec::fill_header(std::string& sealed) {
  std::string head(kMagic);
  std::string_view body = std::string_view(sealed).substr(kHeader);
  store_le(head, kFormat, 4);
  store_le(head, body.size(), 8);
  store_le(head, checksum(body), 8);
  sealed.replace(0, kHeader, head);
}

Result<std::string_view> SnapshotCodec::unseal(std::string_view stored) {
  if (stored.size() < kHeader || stored.substr(0, kMagic.size()) != kMagic) {
    return fail(MarketErrc::storage,
                "not a sealed snapshot (no IPSXSNAP header: damaged, or written by an older "
                "build in format 1)");
  }
  auto format = static_cast<uint32_t>(load_le(stored, 8, 4));
  if (format != kFormat) {
    return fail(MarketErrc::storage,
                fmt::format("snapshot format {}, this build reads {}", format, kFormat));
  }
  uint64_t size = load_le(stored, 12, 8);
  if (size != stored.size() - kHeader) {
    return fail(MarketErrc::storage, fmt::format("snapshot truncated or padded: {} bytes, the "
                                                 "header says {}",
                                                 stored.size() - kHeader, size));
  }
  std::string_view body = stored.substr(kHeader);
  if (checksum(body) != load_le(stored, 20, 8)) {
    return fail(MarketErrc::storage, "snapshot checksum mismatch (the stored body is damaged)");
  }
  return body;
}

void SnapshotCodec::reset(Market& m) {
  m.book_ = OrderBook([&m](const Address& a) { return m.profiles_.rating(a); });
  m.orders_.clear();
  m.by_hash_.clear();
  m.seen_.clear();
  m.seen_expiries_ = {};
  m.released_by_time_ = {};
  m.deals_.clear();
  m.open_ids_.clear();
  m.deals_by_order_.clear();
  m.prints_.clear();
  m.ledger_fills_.clear();
  m.ratings_seen_.clear();
  m.profiles_.history_.clear();
}

// ---- The market -------------------------------------------------------------------------------

std::string SnapshotCodec::encode(const Market& m) {
  std::string out;
  encode_into(out, m);
  return out;
}

std::string SnapshotCodec::encode_sealed(const Market& m) {
  std::string out(kHeader, '\0');
  encode_into(out, m);
  fill_header(out);
  return out;
}

void SnapshotCodec::encode_into(std::string& out, const Market& m) {
  std::vector<OrderId> ids;
  ids.reserve(m.orders_.size());
  for (const auto& [id, s] : m.orders_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  std::vector<std::pair<Hash, uint64_t>> seen_hashes(m.seen_.begin(), m.seen_.end());
  std::sort(seen_hashes.begin(), seen_hashes.end());
  json deals = json::array();
  for (const auto& [id, d] : m.deals_) {
    deals.push_back({d.deal_id.hex(), d.offer, d.request, d.exclusive, d.released,
                     progress(d.progress), d.released_at});
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
  // Room for the large sections at once (an offer's record is ~450 bytes, the book's ~130, a
  // hash seen 40), so the buffer is not moved as it grows.
  out.reserve(out.size() + ids.size() * 600 + seen_hashes.size() * 40 + 65'536);
  // The map json::to_cbor would write for these nine keys, in its order (sorted).
  CborOut cbor(out);
  cbor.map(9);
  cbor.key("book");
  write_book(out, m.book_);
  cbor.value("deals", deals);
  cbor.value("ledger_fills", fills);
  cbor.bytes("orders", [&](Writer& orders) {
    orders.u32(static_cast<uint32_t>(ids.size()));
    for (OrderId id : ids) {
      const Market::Signed& s = m.orders_.at(id);
      orders.u64(id);
      orders.u8(s.is_offer);
      if (s.is_offer) {
        order_records::write_offer(orders, s.offer);
      } else {
        order_records::write_request(orders, s.request);
      }
      orders.bytes(s.signature.to_bytes());
      orders.bytes(s.hash.bytes());
    }
  });
  cbor.value("prints", prints);
  cbor.value("profiles", profiles);
  cbor.value("ratings_seen", ratings);
  cbor.bytes("seen_until", [&](Writer& seen) {
    for (const auto& [h, expiry] : seen_hashes) {
      seen.bytes(h.bytes());
      seen.u64(expiry);
    }
  });
  cbor.value("version", kVersion);
}

Result<void> SnapshotCodec::decode(Market& m, std::string_view body) {
  try {
    json j = json::from_cbor(body.begin(), body.end());
    if (j.at("version").get<int>() != kVersion) {
      return fail(MarketErrc::storage, fmt::format("snapshot version {}, this build reads {}",
                                                   j.at("version").dump(), kVersion));
    }
    if (auto b = book_from_json(m.book_, j.at("book")); !b) return b;
    Reader orders(bin(j.at("orders")));
    uint32_t n_orders = orders.count(100);
    m.orders_.reserve(n_orders);
    m.by_hash_.reserve(n_orders);
    for (uint32_t i = 0; i < n_orders; ++i) {
      Market::Signed s;
      OrderId id = orders.u64();
      s.is_offer = orders.flag();
      if (s.is_offer) {
        s.offer = order_records::read_offer(orders);
        s.owner = s.offer.provider;
      } else {
        s.request = order_records::read_request(orders);
        s.owner = s.request.requester;
      }
      std::array<uint8_t, 65> sig_bytes;
      orders.bytes(std::span<uint8_t, 65>(sig_bytes));
      auto sig = crypto::Signature::from_bytes(sig_bytes);
      if (!sig) return std::unexpected(sig.error());
      s.signature = *sig;
      s.hash = orders.hash();
      m.by_hash_[s.hash] = id;
      m.orders_[id] = std::move(s);
    }
    if (!orders.done()) throw Bad("trailing bytes after the orders");
    if (j.contains("seen_until")) {  // hash, expiry
      Reader seen(bin(j.at("seen_until")));
      m.seen_.reserve(j.at("seen_until").get_binary().size() / 40);
      while (!seen.done()) {
        Hash h = seen.hash();
        m.remember_seen(h, seen.u64());
      }
    } else {
      // Written before hashes were forgotten: their expiries are not known, they are kept.
      Reader seen(bin(j.at("seen")));
      m.seen_.reserve(j.at("seen").get_binary().size() / 32);
      while (!seen.done()) m.remember_seen(seen.hash(), UINT64_MAX);
    }
    for (const auto& e : j.at("deals")) {
      DealRecord d;
      d.deal_id = hash(e.at(0));
      d.offer = e.at(1).get<OrderId>();
      d.request = e.at(2).get<OrderId>();
      d.exclusive = e.at(3).get<bool>();
      d.released = e.at(4).get<bool>();
      d.progress = progress(e.at(5));
      // Written before released deals were forgotten: no release time (0: forgotten at the next
      // journaled command).
      if (e.size() > 6) d.released_at = e.at(6).get<uint64_t>();
      m.put_deal(std::move(d));
    }
    for (const auto& e : j.at("prints")) {
      DealPrint p;
      p.deal_id = hash(e.at(0));
      p.price_per_second = u256(e.at(1));
      std::string c = e.at(2).get<std::string>();
      if (c.size() != p.country.size()) throw Bad("bad country");
      std::copy(c.begin(), c.end(), p.country.begin());
      p.ip_type = static_cast<IpType>(e.at(3).get<int>());
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
