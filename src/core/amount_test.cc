#include "core/amount.h"

#include <gtest/gtest.h>

namespace ipsx {
namespace {

TEST(Amount, ParsesAndFormatsExactly) {
  EXPECT_EQ(Amount::parse("1.5")->base().to_dec(), "1500000000000000000");
  EXPECT_EQ(Amount::parse("0.000000000000000001")->base(), U256(1));
  EXPECT_EQ(Amount::parse("1800000000")->base().to_dec(), "1800000000000000000000000000");
  EXPECT_EQ(Amount::parse("1.5")->to_string(), "1.5");
  EXPECT_EQ(Amount::parse("0.000000000000000001")->to_string(), "0.000000000000000001");
  EXPECT_EQ(Amount::parse("1800000000")->to_string(), "1800000000");
  EXPECT_EQ(Amount::parse("0")->to_string(), "0");
  EXPECT_EQ(Amount::parse("007.10")->to_string(), "7.1");
  EXPECT_EQ(Amount::from_base(U256::max()).to_string(),
            "115792089237316195423570985008687907853269984665640564039457.584007913129639935");
}

TEST(Amount, RejectsMalformedTextWithAReason) {
  for (const char* bad :
       {"", "-1", "1.", ".5", "1.2.3", "1e18", " 1", "1,000", "0x10", "1.0000000000000000001"}) {
    auto r = Amount::parse(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_FALSE(r.error().message().empty());
  }
  EXPECT_NE(Amount::parse("1.0000000000000000001").error().message().find("decimal places"),
            std::string::npos);
  auto huge = Amount::parse(std::string(70, '9'));
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().code(), CoreErrc::overflow);
}

TEST(Amount, TotalSupplyHasRoomToSpare) {
  Amount supply = Amount::from_tokens(1'800'000'000).value();
  EXPECT_TRUE(supply.mul(U256(1) << 100));  // ~2^191, still in range
  EXPECT_EQ(supply.base().bit_length(), 91u);
}

TEST(Amount, ArithmeticIsCheckedNeverWraps) {
  Amount one = Amount::parse("1").value();
  Amount max = Amount::from_base(U256::max());
  auto over = max.add(Amount::from_base(1));
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code(), CoreErrc::overflow);
  auto under = Amount::zero().sub(one);
  ASSERT_FALSE(under);
  EXPECT_EQ(under.error().code(), CoreErrc::underflow);
  EXPECT_FALSE(max.mul(2));
  EXPECT_EQ(one.div(0).error().code(), CoreErrc::division_by_zero);
  EXPECT_EQ(one.add(one)->to_string(), "2");
  EXPECT_EQ(Amount::parse("2.5")->sub(one)->to_string(), "1.5");
  EXPECT_EQ(one.mul(3)->div(2)->to_string(), "1.5");
}

TEST(Amount, MulDivComputesBasisPointFees) {
  Amount price = Amount::parse("123.456").value();
  EXPECT_EQ(price.mul_div(250, 10000)->to_string(), "3.0864");            // 2.5%
  EXPECT_EQ(Amount::from_base(9999).mul_div(1, 10000)->base(), U256(0));  // rounds down
  EXPECT_FALSE(price.mul_div(1, 0));
}

TEST(Amount, ParsesBaseUnitsInDecimalOrHex) {
  EXPECT_EQ(Amount::parse_base("0xde0b6b3a7640000")->to_string(), "1");
  EXPECT_EQ(Amount::parse_base("1000000000000000000")->to_string(), "1");
  EXPECT_FALSE(Amount::parse_base("1.5"));
}

}  // namespace
}  // namespace ipsx
