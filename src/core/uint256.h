// U256: an unsigned 256-bit integer, the width of Ethereum's uint256. Arithmetic that can
// overflow comes in two flavours: checked (returns std::nullopt instead of wrapping) and
// explicitly wrapping (for two's-complement encodings). Value type; no allocation.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/error.h"

namespace ipsx {

class U256 {
 public:
  constexpr U256() = default;
  constexpr U256(uint64_t v) : limbs_{v, 0, 0, 0} {}  // NOLINT: implicit from small values
  // Limbs are little-endian: limbs[0] holds the lowest 64 bits.
  static constexpr U256 from_limbs(uint64_t l0, uint64_t l1, uint64_t l2, uint64_t l3) {
    U256 r;
    r.limbs_ = {l0, l1, l2, l3};
    return r;
  }
  static constexpr U256 max() { return from_limbs(~0ull, ~0ull, ~0ull, ~0ull); }

  // 32 big-endian bytes, as in the EVM's words.
  static U256 from_be_bytes(std::span<const uint8_t, 32> bytes);
  // Up to 32 big-endian bytes; shorter input is left-padded with zeros. nullopt if longer.
  static std::optional<U256> from_be_bytes_var(std::span<const uint8_t> bytes);
  std::array<uint8_t, 32> to_be_bytes() const;
  void write_be(std::span<uint8_t, 32> out) const;

  // Parses decimal digits ("0", "1800000000000000000000000000"). No sign, no spaces.
  static Result<U256> from_dec(std::string_view text);
  // Parses "0x"-prefixed hex of 1 to 64 digits.
  static Result<U256> from_hex(std::string_view text);
  // Hex if the text starts with "0x", decimal otherwise.
  static Result<U256> parse(std::string_view text);

  std::string to_dec() const;
  // Minimal "0x"-prefixed lower-case hex ("0x0" for zero).
  std::string to_hex() const;

  constexpr bool is_zero() const { return (limbs_[0] | limbs_[1] | limbs_[2] | limbs_[3]) == 0; }
  constexpr bool fits_u64() const { return (limbs_[1] | limbs_[2] | limbs_[3]) == 0; }
  constexpr uint64_t low64() const { return limbs_[0]; }
  constexpr uint64_t limb(int i) const { return limbs_[i]; }
  // Number of significant bits; 0 for zero.
  unsigned bit_length() const;
  bool bit(unsigned i) const { return i < 256 && (limbs_[i / 64] >> (i % 64)) & 1; }

  // Checked arithmetic: nullopt on overflow, underflow or division by zero.
  std::optional<U256> checked_add(const U256& o) const;
  std::optional<U256> checked_sub(const U256& o) const;
  std::optional<U256> checked_mul(const U256& o) const;
  std::optional<U256> checked_div(const U256& o) const;
  std::optional<U256> checked_mod(const U256& o) const;
  // Quotient and remainder; false if `divisor` is zero.
  static bool divmod(const U256& a, const U256& divisor, U256* quotient, U256* remainder);

  // Wrapping (mod 2^256) arithmetic, for two's-complement encodings.
  U256 wrapping_add(const U256& o) const;
  U256 wrapping_sub(const U256& o) const;
  U256 wrapping_neg() const { return (~*this).wrapping_add(1); }
  U256 operator~() const { return from_limbs(~limbs_[0], ~limbs_[1], ~limbs_[2], ~limbs_[3]); }
  U256 operator<<(unsigned n) const;
  U256 operator>>(unsigned n) const;
  U256 operator|(const U256& o) const;
  U256 operator&(const U256& o) const;

  friend constexpr bool operator==(const U256&, const U256&) = default;
  friend constexpr std::strong_ordering operator<=>(const U256& a, const U256& b) {
    for (int i = 3; i >= 0; --i) {
      if (a.limbs_[i] != b.limbs_[i]) return a.limbs_[i] <=> b.limbs_[i];
    }
    return std::strong_ordering::equal;
  }

 private:
  std::array<uint64_t, 4> limbs_{};
};

}  // namespace ipsx
