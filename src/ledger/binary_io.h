// The byte writer and reader the embedded ledger's binary forms share: the state snapshot
// (state_snapshot.cc) and the stored transactions and events (record_codec.cc). Integers are
// little-endian, amounts a length byte and their significant big-endian bytes, addresses and
// hashes their bytes, text a 32-bit length and its bytes. The reader checks every length against
// the bytes left and throws Bad, which the codec that uses it turns into an Error at its edge.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "core/address.h"
#include "core/amount.h"
#include "core/hash.h"

namespace ipsx::ledger::binary {

class Writer {
 public:
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(uint16_t v) { uint_le(v, 2); }
  void u32(uint32_t v) { uint_le(v, 4); }
  void u64(uint64_t v) { uint_le(v, 8); }
  void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
  void flag(bool v) { u8(v ? 1 : 0); }
  template <size_t N>
  void bytes(const std::array<uint8_t, N>& b) {
    out_.append(reinterpret_cast<const char*>(b.data()), N);
  }
  void addr(const Address& a) { bytes(a.bytes()); }
  void hash(const Hash& h) { bytes(h.bytes()); }
  void u256(const U256& v) {
    auto b = v.to_be_bytes();
    size_t skip = 0;
    while (skip < b.size() && b[skip] == 0) ++skip;
    u8(static_cast<uint8_t>(b.size() - skip));
    out_.append(reinterpret_cast<const char*>(b.data()) + skip, b.size() - skip);
  }
  void amount(const Amount& a) { u256(a.base()); }
  void str(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  void raw(std::string_view s) { out_.append(s); }
  void reserve(size_t n) { out_.reserve(n); }
  std::string take() { return std::move(out_); }

 private:
  void uint_le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) u8(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::string out_;
};

struct Bad : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool done() const { return at_ == in_.size(); }
  uint8_t u8() {
    need(1);
    return static_cast<uint8_t>(in_[at_++]);
  }
  uint16_t u16() { return static_cast<uint16_t>(uint_le(2)); }
  uint32_t u32() { return static_cast<uint32_t>(uint_le(4)); }
  uint64_t u64() { return uint_le(8); }
  int64_t i64() { return static_cast<int64_t>(u64()); }
  bool flag() {
    uint8_t v = u8();
    if (v > 1) throw Bad("a flag is neither 0 nor 1");
    return v == 1;
  }
  template <size_t N>
  void bytes(std::array<uint8_t, N>& out) {
    need(N);
    std::copy_n(reinterpret_cast<const uint8_t*>(in_.data()) + at_, N, out.begin());
    at_ += N;
  }
  Address addr() {
    Address a;
    bytes(a.bytes());
    return a;
  }
  Hash hash() {
    Hash h;
    bytes(h.bytes());
    return h;
  }
  U256 u256() {
    uint8_t n = u8();
    if (n > 32) throw Bad("an amount longer than 32 bytes");
    need(n);
    std::array<uint8_t, 32> b{};
    std::copy_n(reinterpret_cast<const uint8_t*>(in_.data()) + at_, n, b.begin() + (32 - n));
    at_ += n;
    return U256::from_be_bytes(b);
  }
  Amount amount() { return Amount::from_base(u256()); }
  std::string str() {
    uint32_t n = u32();
    need(n);
    std::string s(in_.substr(at_, n));
    at_ += n;
    return s;
  }
  // A record count, checked against the bytes left (a record takes at least `min`).
  uint64_t count(size_t min) {
    uint64_t n = u64();
    if (n > (in_.size() - at_) / min) throw Bad("a count is larger than the bytes left");
    return n;
  }
  // A 16-bit count, checked the same way.
  uint16_t count16(size_t min) {
    uint16_t n = u16();
    if (n > (in_.size() - at_) / min) throw Bad("a count is larger than the bytes left");
    return n;
  }
  [[noreturn]] void fail(const char* what) { throw Bad(what); }
  void expect(std::string_view magic) {
    need(magic.size());
    if (in_.substr(at_, magic.size()) != magic) throw Bad("not of this version");
    at_ += magic.size();
  }

 private:
  void need(size_t n) const {
    if (in_.size() - at_ < n) throw Bad("truncated");
  }
  uint64_t uint_le(int n) {
    need(static_cast<size_t>(n));
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= uint64_t{static_cast<uint8_t>(in_[at_++])} << (8 * i);
    return v;
  }
  std::string_view in_;
  size_t at_ = 0;
};

}  // namespace ipsx::ledger::binary
