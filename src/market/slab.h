// Slab<T, kPage>: a growable array of T whose entries never move. Entries live in pages of
// kPage, allocated as the array grows and kept until it is destroyed, so growing copies no entry
// (a std::vector of a million order entries would copy them all, and fault in twice their size,
// in the middle of one operation) and references stay valid. Not thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

namespace ipsx::market {

template <typename T, size_t kPage>
class Slab {
 public:
  T& operator[](size_t i) { return pages_[i / kPage][i % kPage]; }
  const T& operator[](size_t i) const { return pages_[i / kPage][i % kPage]; }
  size_t size() const { return size_; }

  // Appends `value` (a new page is allocated every kPage entries); returns the new entry.
  T& push_back(T value) {
    if (size_ == pages_.size() * kPage) pages_.push_back(std::make_unique<T[]>(kPage));
    T& at = (*this)[size_++];
    at = std::move(value);
    return at;
  }
  T& emplace_back() { return push_back(T{}); }
  // Room for `n` entries in the page table (the pages themselves come as entries are added).
  void reserve(size_t n) { pages_.reserve((n + kPage - 1) / kPage); }

 private:
  std::vector<std::unique_ptr<T[]>> pages_;
  size_t size_ = 0;
};

}  // namespace ipsx::market
