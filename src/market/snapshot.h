// Snapshots of the market's state, so that a restart replays only the journal entries after the
// last one (journal.h keeps it). A snapshot holds everything the journal's replay would rebuild:
// the order book (every resting order's fields as the matcher keeps them, the remaining capacity
// and open places of each offer, the expiry and window-opening heaps, the interned addresses and
// strings, the next order id), the signed originals and the hashes of every order ever placed,
// the deal book with each deal's protocol state, the recent prints, the deals opened per
// request, the profiles' history and the ratings last seen. Indexes (the offer buckets, the
// request lists, orders by owner) are rebuilt on load: they are sorted by (price, id), so the
// matcher walks them in the same order whatever slots the entries land in.
//
// The body is a CBOR map (nlohmann::json::to_cbor), versioned, whose large sections (the book's
// orders, the signed originals, the hashes seen, the heaps, the interned addresses) are packed
// binary records in CBOR byte strings, so loading decodes no JSON and computes no checksummed
// address. It is stored sealed: a header with a magic, the format version, the body's length and
// a 64-bit checksum, so a damaged or foreign snapshot is rejected before anything is decoded. It
// is the market's own file: it is not verified again on load (signatures were checked when the
// orders were placed).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "core/error.h"

namespace ipsx::market {

class Market;
class OrderBook;

struct SnapshotCodec {
  // The whole state of `m` (which must not be in the middle of a command).
  static std::string encode(const Market& m);
  // The same, sealed (as seal(encode(m)) gives, written into one buffer).
  static std::string encode_sealed(const Market& m);
  // Restores `m`, a freshly constructed market that has done nothing yet, from `body`. Fails
  // with MarketErrc::storage if the body is not a snapshot of this version.
  static Result<void> decode(Market& m, std::string_view body);

  // The stored form: "IPSXSNAP", the format version (u32), the body's length and checksum (u64
  // each, little-endian), then the body.
  static std::string seal(std::string_view body);
  // The body of a stored snapshot. Fails with MarketErrc::storage, saying why, unless it is
  // sealed in this format with a length and checksum that match.
  static Result<std::string_view> unseal(std::string_view stored);
  // Empties the state of `m` (a decode that failed half-way leaves it partly restored).
  static void reset(Market& m);

  static nlohmann::json book_to_json(const OrderBook& b);
  // Appends the book's map, as CBOR, to `out` (book_to_json's value as json::to_cbor writes it).
  static void write_book(std::string& out, const OrderBook& b);
  static Result<void> book_from_json(OrderBook& b, const nlohmann::json& j);

 private:
  static void encode_into(std::string& out, const Market& m);
  // Writes the header of `sealed` (its first bytes, left for it) from the body after it.
  static void fill_header(std::string& sealed);
};

}  // namespace ipsx::market
