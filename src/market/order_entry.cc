#include "market/order_entry.h"

#include <fmt/format.h>

#include "market/market_error.h"
#include "market/records.h"
#include "vocab/order_records.h"

namespace ipsx::market {

std::string_view order_entry_kind(const Placement& p) {
  return p.is_offer ? kOfferEntry : kRequestEntry;
}

std::string encode_order_entry(const Placement& p) {
  std::string out;
  out.reserve(320);
  Writer w(out);
  if (p.is_offer) {
    order_records::write_offer(w, p.offer);
  } else {
    order_records::write_request(w, p.request);
  }
  w.bytes(p.signature.to_bytes());
  return out;
}

Result<Placement> decode_order_entry(std::string_view kind, std::string_view body) {
  if (kind != kOfferEntry && kind != kRequestEntry)
    return fail(MarketErrc::storage, fmt::format("\"{}\" is not an order's entry", kind));
  Placement p;
  p.is_offer = kind == kOfferEntry;
  try {
    Reader r(body);
    if (p.is_offer) {
      p.offer = order_records::read_offer(r);
    } else {
      p.request = order_records::read_request(r);
    }
    std::array<uint8_t, 65> sig;
    r.bytes(sig);
    if (!r.done()) throw RecordError("trailing bytes");
    auto s = crypto::Signature::from_bytes(sig);
    if (!s) throw RecordError(s.error().message());
    p.signature = *s;
  } catch (const RecordError& e) {
    return fail(MarketErrc::storage, fmt::format("a damaged {} entry: {}", kind, e.what()));
  }
  return p;
}

}  // namespace ipsx::market
