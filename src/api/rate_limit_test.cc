// The token buckets: the burst, the refill, the wait reported, keys apart, no limit at rate 0,
// and the bound on the keys kept.
#include "api/rate_limit.h"

#include <gtest/gtest.h>

namespace ipsx::api {
namespace {

using namespace std::chrono_literals;
using Clock = RateLimiter::Clock;

TEST(RateLimiterTest, BurstThenRefillAtTheRate) {
  RateLimiter l({2, 3});  // 2 per second, burst 3
  Clock::time_point t{};
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(l.take("a", t)) << i;
  auto wait = l.take("a", t);
  ASSERT_TRUE(wait);
  EXPECT_EQ(*wait, 500ms);
  EXPECT_TRUE(l.take("a", t + 499ms));
  EXPECT_FALSE(l.take("a", t + 500ms));
  EXPECT_TRUE(l.take("a", t + 500ms));
  // Long idle refills up to the burst, not beyond.
  t += 1h;
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(l.take("a", t)) << i;
  EXPECT_TRUE(l.take("a", t));
}

TEST(RateLimiterTest, KeysHaveTheirOwnBuckets) {
  RateLimiter l({1, 1});
  Clock::time_point t{};
  EXPECT_FALSE(l.take("a", t));
  EXPECT_TRUE(l.take("a", t));
  EXPECT_FALSE(l.take("b", t));
}

TEST(RateLimiterTest, RateZeroIsNoLimit) {
  RateLimiter l({0, 1});
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(l.take("a", Clock::time_point{}));
  EXPECT_EQ(l.keys(), 0u);
}

TEST(RateLimiterTest, KeysAreBoundedFullBucketsForgottenFirst) {
  RateLimiter l({1, 2}, 3);
  Clock::time_point t{};
  EXPECT_FALSE(l.take("a", t));
  EXPECT_FALSE(l.take("b", t));
  EXPECT_FALSE(l.take("c", t));
  EXPECT_EQ(l.keys(), 3u);
  // At t + 1 s, a, b and c are full again: forgotten to make room.
  EXPECT_FALSE(l.take("d", t + 1s));
  EXPECT_EQ(l.keys(), 1u);
  EXPECT_FALSE(l.take("e", t + 1s));
  EXPECT_FALSE(l.take("f", t + 1s));
  EXPECT_FALSE(l.take("e", t + 1s));
  EXPECT_TRUE(l.take("e", t + 1s));
  // None is full: all are dropped rather than grow.
  EXPECT_FALSE(l.take("g", t + 1s));
  EXPECT_LE(l.keys(), 3u);
}

TEST(RateLimiterTest, RetryAfterRoundsUpToWholeSeconds) {
  EXPECT_EQ(retry_after_seconds(1ms), 1);
  EXPECT_EQ(retry_after_seconds(1000ms), 1);
  EXPECT_EQ(retry_after_seconds(1001ms), 2);
  EXPECT_EQ(retry_after_seconds(0ms), 1);
}

}  // namespace
}  // namespace ipsx::api
