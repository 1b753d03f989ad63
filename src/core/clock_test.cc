#include "core/clock.h"

#include <gtest/gtest.h>

namespace ipsx {
namespace {

TEST(ManualClock, MovesOnlyWhenTold) {
  ManualClock clock(from_unix_ms(1'000));
  EXPECT_EQ(to_unix_ms(clock.now()), 1'000);
  clock.advance(Millis(5'500));
  EXPECT_EQ(to_unix_ms(clock.now()), 6'500);
  EXPECT_EQ(to_unix_seconds(clock.now()), 6);
  clock.set(from_unix_ms(42));
  EXPECT_EQ(to_unix_ms(clock.now()), 42);
}

TEST(SystemClock, IsAfter2020) {
  SystemClock clock;
  EXPECT_GT(to_unix_seconds(clock.now()), 1'577'836'800);
}

}  // namespace
}  // namespace ipsx
