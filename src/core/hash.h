// Hash: 32 bytes, the output of keccak-256 and the EVM's bytes32.
#pragma once

#include "core/fixed_bytes.h"

namespace ipsx {

class Hash : public FixedBytes<32> {
 public:
  using FixedBytes::FixedBytes;
  Hash() = default;
  Hash(const FixedBytes<32>& b) : FixedBytes(b) {}  // NOLINT: same bytes, more meaning

  static Result<Hash> from_hex(std::string_view text) {
    auto b = FixedBytes<32>::from_hex(text);
    if (!b) return std::unexpected(b.error());
    return Hash(*b);
  }
};

}  // namespace ipsx

template <>
struct std::hash<ipsx::Hash> {
  size_t operator()(const ipsx::Hash& h) const { return ipsx::FixedBytesHasher{}(h); }
};
