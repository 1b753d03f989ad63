#include "net/memory_trim.h"

#include <malloc.h>

namespace ipsx::net {

bool MemoryTrimmer::trim_if_worth_it(size_t threshold) {
  const struct mallinfo2 m = ::mallinfo2();
  const size_t held = m.arena + m.hblkhd;  // the heap and its mmapped chunks
  if (m.fordblks <= threshold || m.fordblks <= held / 4) return false;
  ::malloc_trim(0);
  return true;
}

MemoryTrimmer::MemoryTrimmer(std::chrono::milliseconds every, size_t threshold)
    : thread_([this, every, threshold] {
        std::unique_lock lock(mu_);
        while (!cv_.wait_for(lock, every, [this] { return stop_; })) {
          lock.unlock();
          trim_if_worth_it(threshold);
          lock.lock();
        }
      }) {}

MemoryTrimmer::~MemoryTrimmer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

}  // namespace ipsx::net
