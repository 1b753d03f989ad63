// Time, read through an injected Clock so that the market and ledger cores are deterministic in
// tests. Timestamps are Unix time in milliseconds.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace ipsx {

using Millis = std::chrono::milliseconds;
using Timestamp = std::chrono::time_point<std::chrono::system_clock, Millis>;

inline Timestamp from_unix_ms(int64_t ms) {
  return Timestamp(Millis(ms));
}
inline int64_t to_unix_ms(Timestamp t) {
  return t.time_since_epoch().count();
}
inline int64_t to_unix_seconds(Timestamp t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// A source of the current time. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Timestamp now() const = 0;
};

// The system's wall clock.
class SystemClock final : public Clock {
 public:
  Timestamp now() const override {
    return std::chrono::time_point_cast<Millis>(std::chrono::system_clock::now());
  }
};

// A clock that moves only when told to: for tests and simulations.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Timestamp start = from_unix_ms(0)) : ms_(to_unix_ms(start)) {}
  Timestamp now() const override { return from_unix_ms(ms_.load(std::memory_order_acquire)); }
  void set(Timestamp t) { ms_.store(to_unix_ms(t), std::memory_order_release); }
  void advance(Millis d) { ms_.fetch_add(d.count(), std::memory_order_acq_rel); }

 private:
  std::atomic<int64_t> ms_;
};

}  // namespace ipsx
