// The journal's entry for a placed order, in binary: the order's fields as order_records lays
// them out (with the writer of market/records.h), then its 65-byte signature (r || s || v).
// Kinds "offer.bin" and "request.bin". An order's entry was its JSON ({"offer": ..., "signature":
// ...}, kinds "offer" and "request") until this form replaced it: writing that JSON cost a worker
// a serialization per order and the journal twice the bytes, and replay a JSON parse. Journals
// written before keep those entries, and replay reads them as they are.
#pragma once

#include <string>
#include <string_view>

#include "market/market.h"

namespace ipsx::market {

inline constexpr std::string_view kOfferEntry = "offer.bin";
inline constexpr std::string_view kRequestEntry = "request.bin";

// The entry's kind and body for `p` (its order and signature; nothing else of it is kept).
std::string_view order_entry_kind(const Placement& p);
std::string encode_order_entry(const Placement& p);

// The order and signature an entry of one of those kinds holds (not verified: replay recovers
// the signer as the run did). Fails with MarketErrc::storage naming what is wrong.
Result<Placement> decode_order_entry(std::string_view kind, std::string_view body);

}  // namespace ipsx::market
