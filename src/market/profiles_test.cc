#include "market/profiles.h"

#include <gtest/gtest.h>

#include "ledger/rating.h"

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

// The book's rating filters and the ledger's openDeal must agree on every minimum.
TEST(Profiles, BayesianRatingWithItsDefaultPriorIsTheLedgersRating) {
  for (uint64_t count = 0; count <= 60; ++count) {
    for (uint64_t sum = count; sum <= 5 * count; ++sum) {
      EXPECT_EQ(bayesian_rating(count, sum), ledger::rating_hundredths({count, sum}))
          << count << " votes summing to " << sum;
    }
  }
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
