#include "eth/rlp.h"

#include <fmt/format.h>

namespace ipsx::eth::rlp {
namespace {

// Appends a string or list header: `short_base` + length for lengths under 56, otherwise
// `short_base + 55 + n` followed by the length in n big-endian bytes without leading zeros.
void append_header(Bytes& out, uint8_t short_base, size_t length) {
  if (length < 56) {
    out.push_back(static_cast<uint8_t>(short_base + length));
    return;
  }
  uint8_t be[8];
  int n = 0;
  for (size_t v = length; v != 0; v >>= 8) be[n++] = static_cast<uint8_t>(v & 0xff);
  out.push_back(static_cast<uint8_t>(short_base + 55 + n));
  while (n > 0) out.push_back(be[--n]);
}

struct Header {
  bool list = false;
  size_t payload = 0;  // offset of the payload
  size_t length = 0;   // payload length
};

std::unexpected<Error> at(size_t offset, EthErrc code, std::string_view what) {
  return fail(code, fmt::format("RLP: at offset {}: {}", offset, what));
}

// Reads the header of the item at `pos`; the item must end by `end`.
Result<Header> read_header(ByteView data, size_t pos, size_t end) {
  if (pos >= end) return at(pos, EthErrc::truncated, "expected an item, input ends");
  uint8_t b = data[pos];
  Header h;
  if (b < 0x80) {
    h.payload = pos;
    h.length = 1;
    return h;
  }
  h.list = b >= 0xc0;
  uint8_t base = h.list ? 0xc0 : 0x80;
  const char* kind = h.list ? "list" : "string";
  if (b - base < 56) {
    h.payload = pos + 1;
    h.length = b - base;
  } else {
    size_t n = b - base - 55;  // 1..8 length bytes
    if (end - pos - 1 < n) {
      return at(pos, EthErrc::truncated, fmt::format("{} length needs {} bytes", kind, n));
    }
    if (data[pos + 1] == 0) {
      return at(pos + 1, EthErrc::non_canonical, fmt::format("{} length has a leading zero", kind));
    }
    uint64_t len = 0;
    for (size_t i = 0; i < n; ++i) len = (len << 8) | data[pos + 1 + i];
    if (len < 56) {
      return at(pos, EthErrc::non_canonical,
                fmt::format("long form for a {} of {} bytes (under 56)", kind, len));
    }
    h.payload = pos + 1 + n;
    h.length = len;
  }
  if (end - h.payload < h.length) {
    return at(pos, EthErrc::truncated,
              fmt::format("{} of {} bytes runs past the end ({} available)", kind, h.length,
                          end - h.payload));
  }
  if (!h.list && h.length == 1 && data[h.payload] < 0x80) {
    return at(pos, EthErrc::non_canonical,
              fmt::format("single byte 0x{:02x} below 0x80 encoded as a string", data[h.payload]));
  }
  return h;
}

Result<Item> decode_item(ByteView data, size_t& pos, size_t end, size_t depth, size_t max_depth) {
  size_t start = pos;
  auto h = read_header(data, pos, end);
  if (!h) return std::unexpected(h.error());
  pos = h->payload + h->length;
  if (!h->list) return Item::string(data.subspan(h->payload, h->length));
  if (depth >= max_depth) {
    return at(start, EthErrc::too_deep, fmt::format("lists nested more than {} deep", max_depth));
  }
  Item::List items;
  size_t p = h->payload;
  size_t list_end = h->payload + h->length;
  while (p < list_end) {
    auto item = decode_item(data, p, list_end, depth + 1, max_depth);
    if (!item) return item;
    items.push_back(std::move(*item));
  }
  return Item::list(std::move(items));
}

}  // namespace

Item Item::uint(const U256& value) {
  return Item(minimal_be(value));
}

Bytes minimal_be(const U256& value) {
  auto be = value.to_be_bytes();
  size_t i = 0;
  while (i < be.size() && be[i] == 0) ++i;
  return Bytes(be.begin() + static_cast<std::ptrdiff_t>(i), be.end());
}

void append_string(Bytes& out, ByteView bytes) {
  if (bytes.size() == 1 && bytes[0] < 0x80) {
    out.push_back(bytes[0]);
    return;
  }
  append_header(out, 0x80, bytes.size());
  out.insert(out.end(), bytes.begin(), bytes.end());
}

void append_uint(Bytes& out, const U256& value) {
  append_string(out, minimal_be(value));
}

void append_list_header(Bytes& out, size_t payload_size) {
  append_header(out, 0xc0, payload_size);
}

Bytes wrap_list(ByteView payload) {
  Bytes out;
  out.reserve(payload.size() + 9);
  append_list_header(out, payload.size());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

void encode_to(Bytes& out, const Item& item) {
  if (!item.is_list()) {
    append_string(out, item.bytes());
    return;
  }
  Bytes payload;
  for (const Item& child : item.items()) encode_to(payload, child);
  append_list_header(out, payload.size());
  out.insert(out.end(), payload.begin(), payload.end());
}

Bytes encode(const Item& item) {
  Bytes out;
  encode_to(out, item);
  return out;
}

Result<Item> decode(ByteView data, size_t max_depth) {
  size_t pos = 0;
  auto item = decode_item(data, pos, data.size(), 0, max_depth);
  if (!item) return item;
  if (pos != data.size()) {
    return at(pos, EthErrc::trailing_bytes,
              fmt::format("{} bytes after the item", data.size() - pos));
  }
  return item;
}

Result<U256> to_uint(const Item& item, std::string_view what) {
  if (item.is_list()) {
    return fail(EthErrc::bad_transaction, fmt::format("{}: expected an integer, got a list", what));
  }
  const Bytes& b = item.bytes();
  if (b.size() > 32) {
    return fail(EthErrc::too_large,
                fmt::format("{}: integer of {} bytes (max 32)", what, b.size()));
  }
  if (!b.empty() && b[0] == 0) {
    return fail(EthErrc::non_canonical, fmt::format("{}: integer has a leading zero byte", what));
  }
  return *U256::from_be_bytes_var(b);
}

Result<uint64_t> to_u64(const Item& item, std::string_view what) {
  auto v = to_uint(item, what);
  if (!v) return std::unexpected(v.error());
  if (!v->fits_u64()) {
    return fail(EthErrc::too_large, fmt::format("{}: {} does not fit 64 bits", what, v->to_dec()));
  }
  return v->low64();
}

}  // namespace ipsx::eth::rlp
