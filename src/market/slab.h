// Slab<T, kPage>: a growable array of T whose entries never move. Entries live in pages of
// kPage, allocated as the array grows and kept until it is destroyed, so growing copies no entry
// (a std::vector of a million order entries would copy them all, and fault in twice their size,
// in the middle of one operation) and references stay valid. Pages of 2 MiB and more are taken
// in huge pages (huge_pages.h). Not thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "market/huge_pages.h"

namespace ipsx::market {

template <typename T, size_t kPage>
class Slab {
 public:
  Slab() = default;
  Slab(const Slab&) = delete;
  Slab& operator=(const Slab&) = delete;
  Slab(Slab&& other) noexcept
      : pages_(std::exchange(other.pages_, {})), size_(std::exchange(other.size_, 0)) {}
  Slab& operator=(Slab&& other) noexcept {
    if (this != &other) {
      clear();
      pages_ = std::exchange(other.pages_, {});
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  ~Slab() { clear(); }

  T& operator[](size_t i) { return pages_[i / kPage][i % kPage]; }
  const T& operator[](size_t i) const { return pages_[i / kPage][i % kPage]; }
  size_t size() const { return size_; }

  // Appends `value` (a new page is allocated every kPage entries); returns the new entry.
  T& push_back(T value) {
    if (size_ == pages_.size() * kPage) add_page();
    T& at = (*this)[size_++];
    at = std::move(value);
    return at;
  }
  T& emplace_back() { return push_back(T{}); }
  // Room for `n` entries in the page table (the pages themselves come as entries are added).
  void reserve(size_t n) { pages_.reserve((n + kPage - 1) / kPage); }

 private:
  void add_page() {
    T* page = HugeAllocator<T>().allocate(kPage);
    for (size_t i = 0; i < kPage; ++i) new (page + i) T();
    pages_.push_back(page);
  }
  void clear() {
    for (T* page : pages_) {
      for (size_t i = 0; i < kPage; ++i) page[i].~T();
      HugeAllocator<T>().deallocate(page, kPage);
    }
    pages_.clear();
    size_ = 0;
  }

  std::vector<T*> pages_;
  size_t size_ = 0;
};

}  // namespace ipsx::market
