// FixedBytes<N>: exactly N bytes with hex text, ordering and hashing. The base of Hash and
// Address. Value type.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "core/hex.h"

namespace ipsx {

template <size_t N>
class FixedBytes {
 public:
  static constexpr size_t kSize = N;

  constexpr FixedBytes() = default;
  explicit FixedBytes(std::span<const uint8_t, N> bytes) {
    std::memcpy(bytes_.data(), bytes.data(), N);
  }

  // Parses exactly N bytes of hex, with or without "0x".
  static Result<FixedBytes> from_hex(std::string_view text) {
    FixedBytes r;
    if (auto ok = from_hex_exact(text, r.bytes_); !ok) return std::unexpected(ok.error());
    return r;
  }

  std::string hex() const { return ipsx::to_hex(bytes_); }
  bool is_zero() const {
    for (uint8_t b : bytes_) {
      if (b != 0) return false;
    }
    return true;
  }

  const std::array<uint8_t, N>& bytes() const { return bytes_; }
  std::array<uint8_t, N>& bytes() { return bytes_; }
  const uint8_t* data() const { return bytes_.data(); }
  uint8_t* data() { return bytes_.data(); }
  constexpr size_t size() const { return N; }
  ByteView view() const { return bytes_; }

  friend bool operator==(const FixedBytes&, const FixedBytes&) = default;
  friend auto operator<=>(const FixedBytes&, const FixedBytes&) = default;

 private:
  std::array<uint8_t, N> bytes_{};
};

// Hash of a FixedBytes for unordered containers: its first 8 bytes (the content is already a
// hash or an address, so uniformly distributed).
struct FixedBytesHasher {
  template <size_t N>
  size_t operator()(const FixedBytes<N>& v) const {
    static_assert(N >= sizeof(size_t));
    size_t h;
    std::memcpy(&h, v.data(), sizeof h);
    return h;
  }
};

}  // namespace ipsx
