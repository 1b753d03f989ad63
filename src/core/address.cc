#include "core/address.h"

#include <fmt/format.h>

#include "core/keccak.h"

namespace ipsx {

std::string Address::to_string() const {
  std::string lower = to_hex(bytes(), false);
  Hash h = keccak256(std::string_view(lower));
  std::string out = "0x";
  for (size_t i = 0; i < lower.size(); ++i) {
    char c = lower[i];
    uint8_t nib = (h.bytes()[i / 2] >> (i % 2 == 0 ? 4 : 0)) & 0xf;
    out += (c >= 'a' && nib >= 8) ? static_cast<char>(c - 'a' + 'A') : c;
  }
  return out;
}

Result<Address> Address::parse(std::string_view text) {
  if (text.size() < 2 || text[0] != '0' || (text[1] != 'x' && text[1] != 'X')) {
    return fail(CoreErrc::parse_error, fmt::format("address '{}' must start with 0x", text));
  }
  if (text.size() != 42) {
    return fail(CoreErrc::parse_error,
                fmt::format("address must be 40 hex digits after 0x, got {}", text.size() - 2));
  }
  auto bytes = FixedBytes<20>::from_hex(text);
  if (!bytes) return std::unexpected(bytes.error().with_context("address"));
  Address a(*bytes);
  std::string_view digits = text.substr(2);
  bool has_lower = false, has_upper = false;
  for (char c : digits) {
    has_lower |= (c >= 'a' && c <= 'f');
    has_upper |= (c >= 'A' && c <= 'F');
  }
  if (has_lower && has_upper && a.to_string().substr(2) != digits) {
    return fail(
        CoreErrc::bad_checksum,
        fmt::format("address {} has a wrong EIP-55 checksum (expected {})", text, a.to_string()));
  }
  return a;
}

}  // namespace ipsx
