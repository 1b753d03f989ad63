// Gives the memory a burst of connections left behind back to the system. glibc keeps freed
// memory for reuse, so after 10,000 connections close a server would stay at its peak resident
// size for good; MemoryTrimmer looks once a `every` (on a thread of its own) at what the allocator
// holds free, and when that is over `threshold` and a quarter of what it has, calls
// malloc_trim(0). What Asio pins (a pooled state object per past socket, scattered over the
// pages) stays: docs/performance.md measures how much comes back.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>

namespace ipsx::net {

class MemoryTrimmer {
 public:
  explicit MemoryTrimmer(std::chrono::milliseconds every = std::chrono::seconds(1),
                         size_t threshold = 16u << 20);
  ~MemoryTrimmer();  // stops the thread
  MemoryTrimmer(const MemoryTrimmer&) = delete;
  MemoryTrimmer& operator=(const MemoryTrimmer&) = delete;

  // The check once, now: trims if the allocator holds more than `threshold` bytes free and more
  // than a quarter of its arenas. Returns whether it trimmed.
  static bool trim_if_worth_it(size_t threshold);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace ipsx::net
