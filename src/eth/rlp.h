// RLP, Ethereum's Recursive Length Prefix serialization (yellow paper, appendix B): an item is a
// byte string or a list of items. Encoding is total; decoding is strict and accepts exactly the
// one canonical encoding of an item, so that equal items always have equal bytes (and equal
// hashes). Decoding refuses, naming the offset: a single byte below 0x80 wrapped as a string,
// the long form for a length under 56, a length with leading zero bytes, a length running past
// the input or its enclosing list, nesting deeper than a limit, and bytes after the item.
// Pure functions over values; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>
#include <vector>

#include "core/hex.h"
#include "core/uint256.h"
#include "eth/eth_error.h"

namespace ipsx::eth::rlp {

// Lists nested deeper than this are refused by decode() unless the caller passes its own bound.
inline constexpr size_t kMaxDepth = 64;

// An RLP item: a byte string or a list of items. Value type.
class Item {
 public:
  using List = std::vector<Item>;

  // The empty byte string (encoded 0x80).
  Item() = default;
  static Item string(ByteView bytes) { return Item(Bytes(bytes.begin(), bytes.end())); }
  static Item string(std::string_view text) { return string(as_bytes(text)); }
  static Item list(List items) { return Item(std::move(items)); }
  // An unsigned integer as RLP carries it: big-endian without leading zeros (0 is empty).
  static Item uint(const U256& value);

  bool is_list() const { return std::holds_alternative<List>(v_); }
  // REQUIRES: !is_list().
  const Bytes& bytes() const { return std::get<Bytes>(v_); }
  // REQUIRES: is_list().
  const List& items() const { return std::get<List>(v_); }

  friend bool operator==(const Item&, const Item&) = default;

 private:
  explicit Item(Bytes b) : v_(std::move(b)) {}
  explicit Item(List l) : v_(std::move(l)) {}
  std::variant<Bytes, List> v_;
};

// The encoding of `item`.
Bytes encode(const Item& item);
// Appends the encoding of `item` to `out`.
void encode_to(Bytes& out, const Item& item);

// Streaming pieces, for encoders that build a list's payload without an Item tree: append one
// string item, one integer item, or the header of a list whose payload has `payload_size` bytes.
void append_string(Bytes& out, ByteView bytes);
void append_uint(Bytes& out, const U256& value);
void append_list_header(Bytes& out, size_t payload_size);
// A list item whose payload (the concatenated encodings of its items) is `payload`.
Bytes wrap_list(ByteView payload);

// `value` big-endian without leading zeros: the string RLP carries for an integer.
Bytes minimal_be(const U256& value);

// Decodes exactly one item that spans all of `data`. Fails with truncated, non_canonical,
// trailing_bytes or too_deep (lists nested more than `max_depth` levels); the message names the
// offset of the offending byte.
Result<Item> decode(ByteView data, size_t max_depth = kMaxDepth);

// Reads an integer item: a string of at most 32 bytes without leading zeros. `what` names the
// field in the error message (e.g. "nonce").
Result<U256> to_uint(const Item& item, std::string_view what);
// As to_uint, limited to 64 bits.
Result<uint64_t> to_u64(const Item& item, std::string_view what);

}  // namespace ipsx::eth::rlp
