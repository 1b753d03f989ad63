#include "core/uint256.h"

#include <fmt/format.h>
#include <algorithm>
#include <cctype>

#include "core/hex.h"

namespace ipsx {
namespace {

__extension__ typedef unsigned __int128 u128;

// Divides `a` by a 64-bit divisor in place; returns the remainder.
uint64_t div_small(std::array<uint64_t, 4>& a, uint64_t d) {
  u128 rem = 0;
  for (int i = 3; i >= 0; --i) {
    u128 cur = (rem << 64) | a[i];
    a[i] = static_cast<uint64_t>(cur / d);
    rem = cur % d;
  }
  return static_cast<uint64_t>(rem);
}

}  // namespace

U256 U256::from_be_bytes(std::span<const uint8_t, 32> bytes) {
  U256 r;
  for (int i = 0; i < 4; ++i) {
    uint64_t v = 0;
    for (int j = 0; j < 8; ++j) v = v << 8 | bytes[(3 - i) * 8 + j];
    r.limbs_[i] = v;
  }
  return r;
}

std::optional<U256> U256::from_be_bytes_var(std::span<const uint8_t> bytes) {
  if (bytes.size() > 32) return std::nullopt;
  std::array<uint8_t, 32> padded{};
  std::copy(bytes.begin(), bytes.end(), padded.begin() + (32 - bytes.size()));
  return from_be_bytes(padded);
}

void U256::write_be(std::span<uint8_t, 32> out) const {
  for (int i = 0; i < 4; ++i) {
    uint64_t v = limbs_[i];
    for (int j = 7; j >= 0; --j) {
      out[(3 - i) * 8 + j] = static_cast<uint8_t>(v);
      v >>= 8;
    }
  }
}

std::array<uint8_t, 32> U256::to_be_bytes() const {
  std::array<uint8_t, 32> out;
  write_be(out);
  return out;
}

Result<U256> U256::from_dec(std::string_view text) {
  if (text.empty()) return fail(CoreErrc::parse_error, "empty number");
  if (text.size() > 78) {
    return fail(CoreErrc::overflow,
                fmt::format("number has {} digits, more than 2^256-1 allows", text.size()));
  }
  U256 r;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c < '0' || c > '9') {
      return fail(CoreErrc::parse_error,
                  fmt::format("invalid decimal digit '{}' at position {}", c, i));
    }
    auto next = r.checked_mul(10).and_then(
        [&](const U256& v) { return v.checked_add(static_cast<uint64_t>(c - '0')); });
    if (!next) return fail(CoreErrc::overflow, "number exceeds 2^256-1");
    r = *next;
  }
  return r;
}

Result<U256> U256::from_hex(std::string_view text) {
  std::string_view digits = strip_hex_prefix(text);
  if (digits.size() == text.size())
    return fail(CoreErrc::parse_error, "hex number lacks 0x prefix");
  if (digits.empty()) return fail(CoreErrc::parse_error, "hex number has no digits");
  for (size_t i = 0; i < digits.size(); ++i) {
    if (!std::isxdigit(static_cast<unsigned char>(digits[i]))) {
      return fail(CoreErrc::parse_error,
                  fmt::format("invalid hex digit at position {}", i + text.size() - digits.size()));
    }
  }
  // Leading zeros do not count against the 64-digit limit.
  size_t first = digits.find_first_not_of('0');
  std::string_view significant = first == std::string_view::npos ? "" : digits.substr(first);
  if (significant.size() > 64) return fail(CoreErrc::overflow, "hex number exceeds 2^256-1");
  std::string padded(64 - significant.size(), '0');
  padded += significant;
  std::array<uint8_t, 32> bytes;
  if (auto r = from_hex_exact(padded, bytes); !r) return std::unexpected(r.error());
  return from_be_bytes(bytes);
}

Result<U256> U256::parse(std::string_view text) {
  if (text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    return from_hex(text);
  }
  return from_dec(text);
}

std::string U256::to_dec() const {
  if (is_zero()) return "0";
  constexpr uint64_t kChunk = 10'000'000'000'000'000'000ull;  // 10^19
  std::array<uint64_t, 4> v = limbs_;
  std::string out;
  while ((v[0] | v[1] | v[2] | v[3]) != 0) {
    uint64_t rem = div_small(v, kChunk);
    bool more = (v[0] | v[1] | v[2] | v[3]) != 0;
    std::string part = fmt::format("{}", rem);
    if (more) part.insert(0, 19 - part.size(), '0');
    out.insert(0, part);
  }
  return out;
}

std::string U256::to_hex() const {
  auto bytes = to_be_bytes();
  std::string h = ipsx::to_hex(bytes, false);
  size_t first = h.find_first_not_of('0');
  return "0x" + (first == std::string::npos ? std::string("0") : h.substr(first));
}

unsigned U256::bit_length() const {
  for (int i = 3; i >= 0; --i) {
    if (limbs_[i] != 0) return static_cast<unsigned>(i * 64 + 64 - __builtin_clzll(limbs_[i]));
  }
  return 0;
}

U256 U256::wrapping_add(const U256& o) const {
  U256 r;
  u128 carry = 0;
  for (int i = 0; i < 4; ++i) {
    u128 s = static_cast<u128>(limbs_[i]) + o.limbs_[i] + carry;
    r.limbs_[i] = static_cast<uint64_t>(s);
    carry = s >> 64;
  }
  return r;
}

U256 U256::wrapping_sub(const U256& o) const {
  return wrapping_add(o.wrapping_neg());
}

std::optional<U256> U256::checked_add(const U256& o) const {
  U256 r;
  u128 carry = 0;
  for (int i = 0; i < 4; ++i) {
    u128 s = static_cast<u128>(limbs_[i]) + o.limbs_[i] + carry;
    r.limbs_[i] = static_cast<uint64_t>(s);
    carry = s >> 64;
  }
  if (carry != 0) return std::nullopt;
  return r;
}

std::optional<U256> U256::checked_sub(const U256& o) const {
  if (*this < o) return std::nullopt;
  U256 r;
  uint64_t borrow = 0;
  for (int i = 0; i < 4; ++i) {
    uint64_t a = limbs_[i];
    uint64_t b = o.limbs_[i];
    uint64_t d = a - b - borrow;
    borrow = (a < b || (a == b && borrow)) ? 1 : 0;
    r.limbs_[i] = d;
  }
  return r;
}

std::optional<U256> U256::checked_mul(const U256& o) const {
  std::array<uint64_t, 8> wide{};
  for (int i = 0; i < 4; ++i) {
    if (limbs_[i] == 0) continue;
    u128 carry = 0;
    for (int j = 0; j < 4; ++j) {
      u128 cur = static_cast<u128>(limbs_[i]) * o.limbs_[j] + wide[i + j] + carry;
      wide[i + j] = static_cast<uint64_t>(cur);
      carry = cur >> 64;
    }
    wide[i + 4] = static_cast<uint64_t>(carry);
  }
  if ((wide[4] | wide[5] | wide[6] | wide[7]) != 0) return std::nullopt;
  return from_limbs(wide[0], wide[1], wide[2], wide[3]);
}

bool U256::divmod(const U256& a, const U256& divisor, U256* quotient, U256* remainder) {
  if (divisor.is_zero()) return false;
  if (divisor.fits_u64()) {
    std::array<uint64_t, 4> q = a.limbs_;
    uint64_t rem = div_small(q, divisor.limbs_[0]);
    if (quotient) quotient->limbs_ = q;
    if (remainder) *remainder = U256(rem);
    return true;
  }
  // Shift-subtract long division; the divisor has more than 64 bits, so at most 192 rounds.
  U256 q;
  U256 r;
  for (int i = static_cast<int>(a.bit_length()) - 1; i >= 0; --i) {
    r = r << 1;
    if (a.bit(static_cast<unsigned>(i))) r.limbs_[0] |= 1;
    if (r >= divisor) {
      r = r.wrapping_sub(divisor);
      q.limbs_[i / 64] |= 1ull << (i % 64);
    }
  }
  if (quotient) *quotient = q;
  if (remainder) *remainder = r;
  return true;
}

std::optional<U256> U256::checked_div(const U256& o) const {
  U256 q;
  if (!divmod(*this, o, &q, nullptr)) return std::nullopt;
  return q;
}

std::optional<U256> U256::checked_mod(const U256& o) const {
  U256 r;
  if (!divmod(*this, o, nullptr, &r)) return std::nullopt;
  return r;
}

U256 U256::operator<<(unsigned n) const {
  if (n >= 256) return U256();
  U256 r;
  unsigned limb_shift = n / 64, bit_shift = n % 64;
  for (int i = 3; i >= static_cast<int>(limb_shift); --i) {
    uint64_t v = limbs_[i - limb_shift] << bit_shift;
    if (bit_shift != 0 && i - static_cast<int>(limb_shift) - 1 >= 0) {
      v |= limbs_[i - limb_shift - 1] >> (64 - bit_shift);
    }
    r.limbs_[i] = v;
  }
  return r;
}

U256 U256::operator>>(unsigned n) const {
  if (n >= 256) return U256();
  U256 r;
  unsigned limb_shift = n / 64, bit_shift = n % 64;
  for (unsigned i = 0; i + limb_shift < 4; ++i) {
    uint64_t v = limbs_[i + limb_shift] >> bit_shift;
    if (bit_shift != 0 && i + limb_shift + 1 < 4)
      v |= limbs_[i + limb_shift + 1] << (64 - bit_shift);
    r.limbs_[i] = v;
  }
  return r;
}

U256 U256::operator|(const U256& o) const {
  return from_limbs(limbs_[0] | o.limbs_[0], limbs_[1] | o.limbs_[1], limbs_[2] | o.limbs_[2],
                    limbs_[3] | o.limbs_[3]);
}

U256 U256::operator&(const U256& o) const {
  return from_limbs(limbs_[0] & o.limbs_[0], limbs_[1] & o.limbs_[1], limbs_[2] & o.limbs_[2],
                    limbs_[3] & o.limbs_[3]);
}

}  // namespace ipsx
