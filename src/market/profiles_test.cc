#include "market/profiles.h"

#include <gtest/gtest.h>

namespace ipsx::market {
namespace {

TEST(Profiles, BayesianRatingStartsAtThePriorAndNeedsManyVotesToMove) {
  EXPECT_EQ(bayesian_rating(0, 0), 300);
  EXPECT_EQ(bayesian_rating(1, 5), 333);        // one 5-star vote: (5*300 + 500) / 6
  EXPECT_EQ(bayesian_rating(1, 1), 266);        // one 1-star vote
  EXPECT_EQ(bayesian_rating(100, 500), 490);    // a hundred 5-star votes dominate the prior
  EXPECT_EQ(bayesian_rating(1000, 1000), 100);  // 101500 / 1005, rounded down
  EXPECT_EQ(bayesian_rating(0, 0, 0), 300);
}

TEST(Profiles, UptimeCountsTheDealsThatBecameActive) {
  Profile p;
  EXPECT_EQ(p.provider_uptime_per_mille(), 1000u);
  p.provided = 4;
  p.provided_active = 3;
  EXPECT_EQ(p.provider_uptime_per_mille(), 750u);
}

}  // namespace
}  // namespace ipsx::market
