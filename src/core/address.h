// Address: a 20-byte Ethereum account, the only identity a user has (R1). Its text form is
// EIP-55 mixed-case checksummed hex.
#pragma once

#include <string>
#include <string_view>

#include "core/fixed_bytes.h"

namespace ipsx {

class Address : public FixedBytes<20> {
 public:
  using FixedBytes::FixedBytes;
  Address() = default;
  explicit Address(const FixedBytes<20>& b) : FixedBytes(b) {}

  // Parses "0x" + 40 hex digits. All-lower-case and all-upper-case text is accepted as is;
  // mixed-case text must carry a valid EIP-55 checksum, otherwise it is rejected (a typo in a
  // checksummed address must never send tokens elsewhere).
  static Result<Address> parse(std::string_view text);

  // EIP-55 checksummed text, e.g. "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".
  std::string to_string() const;
  // Lower-case "0x" hex, as keystore files and some RPCs carry it.
  std::string to_lower_hex() const { return hex(); }
};

}  // namespace ipsx

template <>
struct std::hash<ipsx::Address> {
  size_t operator()(const ipsx::Address& a) const { return ipsx::FixedBytesHasher{}(a); }
};
