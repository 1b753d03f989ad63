#include "core/country.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace ipsx {
namespace {

TEST(Country, AssignedCodesAreKnownAndSorted) {
  EXPECT_TRUE(std::is_sorted(country_codes().begin(), country_codes().end()));
  for (const char* c : {"DE", "US", "JP", "BR", "ZW", "AD", "SS", "GB"}) {
    EXPECT_TRUE(is_country_code(c)) << c;
  }
}

TEST(Country, UnassignedOrMalformedCodesAreRejected) {
  for (const char* c : {"XX", "de", "D", "DEU", "", "UK", "EU", "ZZ"})
    EXPECT_FALSE(is_country_code(c)) << c;
}

}  // namespace
}  // namespace ipsx
