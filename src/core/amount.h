// Amount: a quantity of IPSX (or of the native coin) in integer base units, 18 decimals, as an
// ERC20 stores it. Never floating point. Arithmetic is checked and reports overflow and
// underflow as errors instead of wrapping. Value type.
#pragma once

#include <compare>
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/uint256.h"

namespace ipsx {

class Amount {
 public:
  static constexpr unsigned kDecimals = 18;

  constexpr Amount() = default;
  // `base_units` of 10^-18 IPSX each.
  static constexpr Amount from_base(U256 base_units) { return Amount(base_units); }
  static constexpr Amount zero() { return Amount(); }
  // Whole tokens: from_tokens(3) is 3 * 10^18 base units. Fails if that overflows.
  static Result<Amount> from_tokens(uint64_t tokens);

  // Parses a decimal token amount exactly: "1.5", "0.000000000000000001", "1800000000".
  // At most 18 fractional digits; no sign, exponent, spaces or thousands separators.
  static Result<Amount> parse(std::string_view text);
  // Parses a count of base units in decimal or 0x-hex (as JSON-RPC and the API carry them).
  static Result<Amount> parse_base(std::string_view text);

  // Exact decimal token text with trailing zeros trimmed: "1.5", "0.000000000000000001", "0".
  std::string to_string() const;
  const U256& base() const { return base_; }
  bool is_zero() const { return base_.is_zero(); }

  Result<Amount> add(const Amount& o) const;
  Result<Amount> sub(const Amount& o) const;
  // Multiplies by a dimensionless factor (a count of seconds, bytes, ...).
  Result<Amount> mul(const U256& factor) const;
  // Integer division rounding down; fails on division by zero.
  Result<Amount> div(const U256& divisor) const;
  // this * numerator / denominator, rounding down, with the product checked (e.g. a fee in
  // basis points: amount.mul_div(bps, 10000)).
  Result<Amount> mul_div(const U256& numerator, const U256& denominator) const;

  friend constexpr bool operator==(const Amount&, const Amount&) = default;
  friend constexpr auto operator<=>(const Amount& a, const Amount& b) {
    return a.base_ <=> b.base_;
  }

 private:
  constexpr explicit Amount(U256 b) : base_(b) {}
  U256 base_;
};

}  // namespace ipsx
