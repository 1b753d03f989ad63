#include "api/rate_limit.h"

#include <algorithm>
#include <cmath>

namespace ipsx::api {

RateLimiter::RateLimiter(RateLimit limit, size_t max_keys)
    : limit_(limit), max_keys_(std::max<size_t>(max_keys, 1)) {
  limit_.burst = std::max(limit_.burst, 1.0);
}

double RateLimiter::refill(const Bucket& b, Clock::time_point now) const {
  double elapsed = std::chrono::duration<double>(now - b.at).count();
  return std::min(limit_.burst, b.tokens + std::max(elapsed, 0.0) * limit_.rate);
}

void RateLimiter::prune(Clock::time_point now) {
  std::erase_if(buckets_, [&](const auto& kv) { return refill(kv.second, now) >= limit_.burst; });
  if (buckets_.size() >= max_keys_) buckets_.clear();
}

std::optional<std::chrono::milliseconds> RateLimiter::take(const std::string& key,
                                                           Clock::time_point now) {
  if (limit_.rate <= 0) return std::nullopt;
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) prune(now);
    it = buckets_.emplace(key, Bucket{limit_.burst, now}).first;
  }
  Bucket& b = it->second;
  b.tokens = refill(b, now);
  b.at = now;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return std::nullopt;
  }
  double wait_s = (1.0 - b.tokens) / limit_.rate;
  return std::chrono::milliseconds(static_cast<int64_t>(std::ceil(wait_s * 1000.0)));
}

long retry_after_seconds(std::chrono::milliseconds wait) {
  return std::max<long>(1, static_cast<long>((wait.count() + 999) / 1000));
}

}  // namespace ipsx::api
