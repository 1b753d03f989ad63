// Memory for the order book's large arrays (its slab pages, its id and address tables, its
// chunks) in 2 MiB regions aligned to 2 MiB, for which the kernel is asked for transparent huge
// pages. The book is a few hundred MB read at random: with 4 KiB pages nearly every cache miss is
// also a TLB miss (a page walk of its own), with 2 MiB pages the TLB covers far more of it. Where
// huge pages are not available (another system, or `never`) the same regions hold ordinary
// pages. These regions are mapped directly, not by malloc: huge_bytes_in_use() tells how much.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace ipsx::market {

inline constexpr size_t kHugePage = size_t{2} << 20;

// `bytes` rounded up to whole 2 MiB pages, aligned to 2 MiB and zeroed; throws std::bad_alloc.
void* huge_alloc(size_t bytes);
// Frees what huge_alloc(bytes) returned (the same `bytes`).
void huge_free(void* p, size_t bytes) noexcept;
// Bytes mapped by huge_alloc and not yet freed (all books of the process).
size_t huge_bytes_in_use();

// A std allocator that takes arrays of 1 MiB and more from huge_alloc and smaller ones from
// operator new (rounding a small array up to 2 MiB would waste most of it). The bound is half a
// page, not a whole one: a slab page of entries that do not divide 2 MiB (the book's chunks)
// falls just short of it, and used to land in 4 KiB pages.
template <typename T>
struct HugeAllocator {
  using value_type = T;
  HugeAllocator() = default;
  template <typename U>
  HugeAllocator(const HugeAllocator<U>&) {}
  T* allocate(size_t n) {
    size_t bytes = n * sizeof(T);
    if (bytes >= kHugePage / 2) return static_cast<T*>(huge_alloc(bytes));
    return static_cast<T*>(::operator new (bytes, std::align_val_t{alignof(T)}));
  }
  void deallocate(T* p, size_t n) noexcept {
    size_t bytes = n * sizeof(T);
    if (bytes >= kHugePage / 2) {
      huge_free(p, bytes);
    } else {
      ::operator delete (p, bytes, std::align_val_t{alignof(T)});
    }
  }
  template <typename U>
  bool operator==(const HugeAllocator<U>&) const {
    return true;
  }
};

template <typename T>
using HugeVector = std::vector<T, HugeAllocator<T>>;

}  // namespace ipsx::market
