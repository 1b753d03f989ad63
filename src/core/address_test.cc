#include "core/address.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>

namespace ipsx {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The examples of EIP-55.
TEST(Address, Eip55Examples) {
  for (const char* checksummed :
       {"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        "0x52908400098527886E0F7030069857D2E4169EE7", "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
        "0xde709f2102306220921060314715629080e2fb77",
        "0x27b1fdb04752bbc536007a920d24acb045561c26"}) {
    auto a = Address::parse(checksummed);
    ASSERT_TRUE(a) << checksummed << ": " << a.error().message();
    EXPECT_EQ(lower(a->to_string()), lower(checksummed));
    auto from_lower = Address::parse(lower(checksummed));
    ASSERT_TRUE(from_lower);
    EXPECT_EQ(*from_lower, *a);
  }
  EXPECT_EQ(Address::parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")->to_string(),
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");
}

TEST(Address, MixedCaseWithWrongChecksumIsRejected) {
  auto r = Address::parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), CoreErrc::bad_checksum);
  EXPECT_NE(r.error().message().find("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"),
            std::string::npos);
}

TEST(Address, MalformedTextIsRejected) {
  EXPECT_FALSE(Address::parse(""));
  EXPECT_FALSE(Address::parse("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"));  // no 0x
  EXPECT_FALSE(Address::parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea"));
  EXPECT_FALSE(Address::parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaedaa"));
  EXPECT_FALSE(Address::parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg"));
}

}  // namespace
}  // namespace ipsx
