#include "market/huge_pages.h"

#include <sys/mman.h>

#include <atomic>
#include <cstdint>

namespace ipsx::market {
namespace {

std::atomic<size_t> g_in_use{0};

size_t round_up(size_t n) {
  return (n + kHugePage - 1) / kHugePage * kHugePage;
}

}  // namespace

void* huge_alloc(size_t bytes) {
  size_t size = round_up(bytes == 0 ? 1 : bytes);
  // Map one huge page more than needed and unmap what lies outside the aligned range.
  void* p =
      mmap(nullptr, size + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  auto start = reinterpret_cast<uintptr_t>(p);
  uintptr_t aligned = (start + kHugePage - 1) / kHugePage * kHugePage;
  if (aligned > start) munmap(p, aligned - start);
  uintptr_t end = start + size + kHugePage;
  if (end > aligned + size) munmap(reinterpret_cast<void*>(aligned + size), end - aligned - size);
#ifdef MADV_HUGEPAGE
  // Only advice: without huge pages (unsupported, or disabled) the region works the same.
  (void)madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);
#endif
  g_in_use.fetch_add(size, std::memory_order_relaxed);
  return reinterpret_cast<void*>(aligned);
}

void huge_free(void* p, size_t bytes) noexcept {
  if (p == nullptr) return;
  size_t size = round_up(bytes == 0 ? 1 : bytes);
  munmap(p, size);
  g_in_use.fetch_sub(size, std::memory_order_relaxed);
}

size_t huge_bytes_in_use() {
  return g_in_use.load(std::memory_order_relaxed);
}

}  // namespace ipsx::market
