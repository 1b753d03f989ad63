// An offer's and a request's fields in one fixed order, for the binary forms that keep them: the
// market's snapshot (market/snapshot.cc) and the ledger's stored transactions
// (ledger/record_codec.cc). Each brings its own writer and reader, which decide how an integer,
// an amount, an address and text are laid out; these say only which fields, in which order.
//
// A writer has u8, u16, u32, u64, u256, addr, str and bytes (of a std::array); a reader the same
// reading, plus flag() (a byte that must be 0 or 1) and fail(message), which throws the reader's
// own error; each reader's codec turns that into an error value at its edge.
#pragma once

#include "vocab/orders.h"

namespace ipsx::order_records {

template <class W>
void write_country(W& w, const CountryCode& c) {
  w.u8(static_cast<uint8_t>(c[0]));
  w.u8(static_cast<uint8_t>(c[1]));
}

template <class R>
CountryCode read_country(R& r) {
  CountryCode c;
  c[0] = static_cast<char>(r.u8());
  c[1] = static_cast<char>(r.u8());
  return c;
}

template <class W>
void write_offer(W& w, const Offer& o) {
  w.addr(o.provider);
  w.bytes(o.ip);
  write_country(w, o.country);
  w.str(o.region);
  w.u32(o.asn);
  w.u8(static_cast<uint8_t>(o.ip_type));
  w.u32(o.protocols);
  w.u32(o.scopes);
  w.u32(o.bandwidth_kbps);
  w.u32(o.capacity);
  w.u64(o.available_from);
  w.u64(o.available_until);
  w.u64(o.min_duration);
  w.u64(o.max_duration);
  w.u256(o.price_per_second);
  w.addr(o.market);
  w.u16(o.fee_bps);
  w.u16(o.min_requester_rating);
  w.u64(o.expiry);
  w.u64(o.nonce);
}

template <class R>
Offer read_offer(R& r) {
  Offer o;
  o.provider = r.addr();
  r.bytes(o.ip);
  o.country = read_country(r);
  o.region = r.str();
  o.asn = r.u32();
  uint8_t type = r.u8();
  if (type < static_cast<uint8_t>(IpType::residential) ||
      type > static_cast<uint8_t>(IpType::mobile))
    r.fail("an offer's IP type is unknown");
  o.ip_type = static_cast<IpType>(type);
  o.protocols = r.u32();
  o.scopes = r.u32();
  o.bandwidth_kbps = r.u32();
  o.capacity = r.u32();
  o.available_from = r.u64();
  o.available_until = r.u64();
  o.min_duration = r.u64();
  o.max_duration = r.u64();
  o.price_per_second = r.u256();
  o.market = r.addr();
  o.fee_bps = r.u16();
  o.min_requester_rating = r.u16();
  o.expiry = r.u64();
  o.nonce = r.u64();
  return o;
}

template <class W>
void write_request(W& w, const Request& q) {
  w.addr(q.requester);
  w.u32(q.count);
  w.u32(static_cast<uint32_t>(q.countries.size()));
  for (const CountryCode& c : q.countries) write_country(w, c);
  w.str(q.region);
  w.u32(q.asn);
  w.u8(q.ip_types);
  w.u32(q.protocols);
  w.u32(q.scope);
  w.u16(q.min_provider_rating);
  w.u32(q.min_bandwidth_kbps);
  w.u8(q.exclusive ? 1 : 0);
  w.u8(q.distinct_subnets ? 1 : 0);
  w.u64(q.start);
  w.u64(q.duration);
  w.u256(q.max_price_per_second);
  w.u256(q.budget);
  w.u8(q.all_or_none ? 1 : 0);
  w.addr(q.market);
  w.u16(q.fee_bps);
  w.u64(q.expiry);
  w.u64(q.nonce);
}

template <class R>
Request read_request(R& r) {
  Request q;
  q.requester = r.addr();
  q.count = r.u32();
  // Each country read checks the bytes left, so a damaged count ends at the record's end.
  for (uint32_t n = r.u32(), i = 0; i < n; ++i) q.countries.push_back(read_country(r));
  q.region = r.str();
  q.asn = r.u32();
  q.ip_types = r.u8();
  q.protocols = r.u32();
  q.scope = r.u32();
  q.min_provider_rating = r.u16();
  q.min_bandwidth_kbps = r.u32();
  q.exclusive = r.flag();
  q.distinct_subnets = r.flag();
  q.start = r.u64();
  q.duration = r.u64();
  q.max_price_per_second = r.u256();
  q.budget = r.u256();
  q.all_or_none = r.flag();
  q.market = r.addr();
  q.fee_bps = r.u16();
  q.expiry = r.u64();
  q.nonce = r.u64();
  return q;
}

}  // namespace ipsx::order_records
