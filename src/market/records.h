// The packed binary records of the market's stored forms: the snapshot's large sections
// (market/snapshot.cc) and the journal's order entries (market/order_entry.h). Fixed-width
// little-endian integers, amounts as 32 big-endian bytes, addresses and hashes as their bytes,
// strings and lists length-prefixed. A Reader checks every length and throws RecordError on
// bytes that do not hold what is asked; each codec turns that into an error value at its edge.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "core/address.h"
#include "core/hash.h"
#include "core/uint256.h"

namespace ipsx::market {

struct RecordError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A Writer appends records to a buffer: the snapshot's sections straight into the snapshot's
// one buffer (CborOut::bytes), so several megabytes are written once, not built apart and copied.
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u16(uint16_t v) { le(v, 2); }
  void u32(uint32_t v) { le(v, 4); }
  void u64(uint64_t v) { le(v, 8); }
  void bytes(std::span<const uint8_t> b) {
    out_.append(reinterpret_cast<const char*>(b.data()), b.size());
  }
  void u256(const U256& v) { bytes(v.to_be_bytes()); }
  void addr(const Address& a) { bytes(a.bytes()); }
  void str(const std::string& v) {
    u32(static_cast<uint32_t>(v.size()));
    out_.append(v);
  }

 private:
  void le(uint64_t v, int n) {
    static_assert(std::endian::native == std::endian::little);
    out_.append(reinterpret_cast<const char*>(&v), static_cast<size_t>(n));
  }
  std::string& out_;
};

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> data) : data_(data) {}
  explicit Reader(std::string_view data)
      : data_(reinterpret_cast<const uint8_t*>(data.data()), data.size()) {}
  bool done() const { return at_ == data_.size(); }
  uint8_t u8() { return static_cast<uint8_t>(le(1)); }
  uint16_t u16() { return static_cast<uint16_t>(le(2)); }
  uint32_t u32() { return static_cast<uint32_t>(le(4)); }
  uint64_t u64() { return le(8); }
  bool flag() {
    uint8_t v = u8();
    if (v > 1) throw RecordError("bad flag");
    return v == 1;
  }
  template <size_t N>
  void bytes(std::span<uint8_t, N> out) {
    need(N);
    std::copy_n(data_.begin() + static_cast<ptrdiff_t>(at_), N, out.begin());
    at_ += N;
  }
  template <size_t N>
  void bytes(std::array<uint8_t, N>& out) {
    bytes(std::span<uint8_t, N>(out));
  }
  [[noreturn]] void fail(const char* what) { throw RecordError(what); }
  U256 u256() {
    std::array<uint8_t, 32> b;
    bytes(std::span<uint8_t, 32>(b));
    return U256::from_be_bytes(b);
  }
  Address addr() {
    Address a;
    bytes(std::span<uint8_t, 20>(a.bytes()));
    return a;
  }
  Hash hash() {
    Hash h;
    bytes(std::span<uint8_t, 32>(h.bytes()));
    return h;
  }
  std::string str() {
    uint32_t n = u32();
    need(n);
    std::string v(data_.begin() + static_cast<ptrdiff_t>(at_),
                  data_.begin() + static_cast<ptrdiff_t>(at_ + n));
    at_ += n;
    return v;
  }
  // A list length, checked against the bytes left (each element takes at least `min_size`).
  uint32_t count(size_t min_size) {
    uint32_t n = u32();
    need(static_cast<size_t>(n) * min_size);
    return n;
  }

 private:
  void need(size_t n) const {
    if (data_.size() - at_ < n) throw RecordError("truncated (fewer bytes than the record needs)");
  }
  uint64_t le(int n) {
    need(static_cast<size_t>(n));
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= uint64_t{data_[at_ + static_cast<size_t>(i)]} << (8 * i);
    at_ += static_cast<size_t>(n);
    return v;
  }
  std::span<const uint8_t> data_;
  size_t at_ = 0;
};

}  // namespace ipsx::market
