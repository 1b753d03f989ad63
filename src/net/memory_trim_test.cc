// MemoryTrimmer: the memory of a burst, once freed, goes back to the system; nothing happens when
// there is little to give back.
#include "net/memory_trim.h"

#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace ipsx::net {
namespace {

size_t resident_bytes() {
  std::ifstream in("/proc/self/statm");
  size_t pages = 0, resident = 0;
  in >> pages >> resident;
  return resident * 4096;
}

TEST(MemoryTrimmer, ABurstsMemoryGoesBackOnceFreed) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer has its own allocator";
#endif
  // 200,000 small allocations (100 MB, a burst of connections'), then all freed but one in 64,
  // still live (as objects that outlive a connection are): the heap cannot shrink from its top,
  // so free() alone gives nothing back.
  std::vector<std::unique_ptr<char[]>> blocks, live;
  for (int i = 0; i < 200'000; ++i) {
    blocks.emplace_back(new char[512]);
    blocks.back()[0] = static_cast<char>(i);  // touched: resident
  }
  for (size_t i = 0; i < blocks.size(); i += 64) live.push_back(std::move(blocks[i]));
  blocks.clear();
  const size_t before = resident_bytes();
  ASSERT_TRUE(MemoryTrimmer::trim_if_worth_it(16u << 20));
  EXPECT_LT(resident_bytes() + (50u << 20), before);        // most of the 100 MB came back
  EXPECT_FALSE(MemoryTrimmer::trim_if_worth_it(1u << 30));  // under a threshold: nothing
}

TEST(MemoryTrimmer, StopsWithItsOwner) {
  MemoryTrimmer t(std::chrono::milliseconds(10));
  // (its thread runs; the destructor joins it)
}

}  // namespace
}  // namespace ipsx::net
