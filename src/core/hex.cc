#include "core/hex.h"

#include <fmt/format.h>

namespace ipsx {
namespace {

constexpr char kDigits[] = "0123456789abcdef";

int nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<void> decode_into(std::string_view digits, size_t offset, uint8_t* out) {
  for (size_t i = 0; i < digits.size(); i += 2) {
    int hi = nibble(digits[i]);
    int lo = nibble(digits[i + 1]);
    if (hi < 0 || lo < 0) {
      size_t bad = hi < 0 ? i : i + 1;
      unsigned char c = static_cast<unsigned char>(digits[bad]);
      std::string shown = (c >= 0x20 && c < 0x7f) ? fmt::format("'{}'", static_cast<char>(c))
                                                  : fmt::format("byte 0x{:02x}", c);
      return fail(CoreErrc::parse_error,
                  fmt::format("invalid hex character {} at position {}", shown, bad + offset));
    }
    out[i / 2] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return {};
}

}  // namespace

std::string_view strip_hex_prefix(std::string_view text) {
  if (text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    return text.substr(2);
  }
  return text;
}

std::string to_hex(ByteView bytes, bool prefix) {
  std::string out;
  out.reserve(bytes.size() * 2 + 2);
  if (prefix) out += "0x";
  for (uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0xf];
  }
  return out;
}

Result<Bytes> from_hex(std::string_view text, size_t max_bytes) {
  std::string_view digits = strip_hex_prefix(text);
  size_t offset = text.size() - digits.size();
  if (digits.size() % 2 != 0) {
    return fail(CoreErrc::parse_error,
                fmt::format("hex has an odd number of digits ({})", digits.size()));
  }
  if (digits.size() / 2 > max_bytes) {
    return fail(CoreErrc::parse_error,
                fmt::format("hex is {} bytes long, more than the limit of {}", digits.size() / 2,
                            max_bytes));
  }
  Bytes out(digits.size() / 2);
  if (auto r = decode_into(digits, offset, out.data()); !r) return std::unexpected(r.error());
  return out;
}

Result<void> from_hex_exact(std::string_view text, std::span<uint8_t> out) {
  std::string_view digits = strip_hex_prefix(text);
  if (digits.size() != out.size() * 2) {
    return fail(CoreErrc::parse_error,
                fmt::format("expected {} bytes ({} hex digits), got {} digits", out.size(),
                            out.size() * 2, digits.size()));
  }
  return decode_into(digits, text.size() - digits.size(), out.data());
}

}  // namespace ipsx
