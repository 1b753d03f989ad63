// Secrets in memory: zeroed when they die, compared in constant time; and the OS random source.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/error.h"

namespace ipsx::crypto {

// Overwrites `data` with zeros in a way the compiler may not elide.
void secure_zero(std::span<uint8_t> data);

// Constant-time equality of two equal-length byte strings; false if the lengths differ.
bool constant_time_equal(std::span<const uint8_t> a, std::span<const uint8_t> b);

// Fills `out` from the OS's cryptographically secure random source.
Result<void> random_bytes(std::span<uint8_t> out);

// A byte buffer that zeroes itself on destruction. Move-only.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(size_t n) : data_(n) {}
  ~SecretBytes() { secure_zero(data_); }
  SecretBytes(SecretBytes&& o) noexcept : data_(std::move(o.data_)) { o.data_.clear(); }
  SecretBytes& operator=(SecretBytes&& o) noexcept {
    if (this != &o) {
      secure_zero(data_);
      data_ = std::move(o.data_);
      o.data_.clear();
    }
    return *this;
  }
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  uint8_t* data() { return data_.data(); }
  const uint8_t* data() const { return data_.data(); }
  size_t size() const { return data_.size(); }
  std::span<uint8_t> span() { return data_; }
  std::span<const uint8_t> span() const { return data_; }

 private:
  std::vector<uint8_t> data_;
};

}  // namespace ipsx::crypto
