// Token buckets, one per key (a client's IP, a signing address): each holds up to `burst` tokens,
// refilled at `rate` per second; a request takes one, and without one it is refused with the time
// until the next. Memory is bounded: past `max_keys` buckets, those full again are forgotten (a
// full bucket is the same as a new one), and if that is not enough, all of them. Time is passed
// in, so tests need no clock. Not thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/text_hash.h"

namespace ipsx::api {

struct RateLimit {
  double rate = 0;   // tokens per second; 0 = no limit
  double burst = 1;  // bucket size (at least 1)
};

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RateLimiter(RateLimit limit, size_t max_keys = 100'000);

  // Takes a token from `key`'s bucket at `now`: nullopt if granted, else how long until one is
  // available.
  std::optional<std::chrono::milliseconds> take(const std::string& key, Clock::time_point now);
  size_t keys() const { return buckets_.size(); }
  const RateLimit& limit() const { return limit_; }

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point at{};
  };
  double refill(const Bucket& b, Clock::time_point now) const;
  void prune(Clock::time_point now);

  RateLimit limit_;
  size_t max_keys_;
  TextMap<Bucket> buckets_;
};

// Seconds to put in a Retry-After header for a wait: rounded up, at least 1.
long retry_after_seconds(std::chrono::milliseconds wait);

}  // namespace ipsx::api
