#include "core/uint256.h"

#include <gtest/gtest.h>

namespace ipsx {
namespace {

U256 dec(std::string_view s) {
  return U256::from_dec(s).value();
}

TEST(U256, DecimalRoundTripAtTheExtremes) {
  EXPECT_EQ(U256().to_dec(), "0");
  EXPECT_EQ(dec("1").to_dec(), "1");
  const char* max =
      "115792089237316195423570985008687907853269984665640564039457584007913129639935";
  EXPECT_EQ(U256::max().to_dec(), max);
  EXPECT_EQ(dec(max), U256::max());
  EXPECT_EQ(dec("10000000000000000000").to_dec(), "10000000000000000000");  // 10^19 chunk edge
}

TEST(U256, DecimalParseRejectsOverflowAndJunk) {
  auto over = U256::from_dec(
      "115792089237316195423570985008687907853269984665640564039457584007913129639936");
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code(), CoreErrc::overflow);
  EXPECT_FALSE(U256::from_dec(""));
  EXPECT_FALSE(U256::from_dec("12a"));
  EXPECT_FALSE(U256::from_dec("-1"));
  EXPECT_FALSE(U256::from_dec(std::string(200, '9')));
}

TEST(U256, HexParseAndFormat) {
  EXPECT_EQ(U256::from_hex("0xff").value(), U256(255));
  EXPECT_EQ(U256::from_hex("0x" + std::string(64, 'f')).value(), U256::max());
  EXPECT_EQ(U256::from_hex("0x000000" + std::string(64, 'f')).value(), U256::max());
  EXPECT_FALSE(U256::from_hex("0x1" + std::string(64, '0')));
  EXPECT_FALSE(U256::from_hex("ff"));
  EXPECT_FALSE(U256::from_hex("0x"));
  EXPECT_FALSE(U256::from_hex("0xfg"));
  EXPECT_EQ(U256(0).to_hex(), "0x0");
  EXPECT_EQ(U256(0xabc).to_hex(), "0xabc");
  EXPECT_EQ(U256::parse("0x10").value(), U256(16));
  EXPECT_EQ(U256::parse("10").value(), U256(10));
}

TEST(U256, CheckedArithmeticReportsOverflowInsteadOfWrapping) {
  EXPECT_FALSE(U256::max().checked_add(1));
  EXPECT_FALSE(U256(0).checked_sub(1));
  EXPECT_FALSE(U256::max().checked_mul(2));
  EXPECT_FALSE((U256(1) << 128).checked_mul(U256(1) << 128));
  EXPECT_EQ((U256(1) << 127).checked_mul(U256(1) << 128).value(), U256(1) << 255);
  EXPECT_FALSE(U256(5).checked_div(0));
  EXPECT_EQ(U256::max().checked_sub(U256::max()).value(), U256(0));
  EXPECT_EQ(dec("1000000000000000000").checked_mul(dec("1800000000")).value(),
            dec("1800000000000000000000000000"));
}

TEST(U256, DivisionBySmallAndWideDivisors) {
  U256 q, r;
  ASSERT_TRUE(U256::divmod(U256::max(), U256(10), &q, &r));
  EXPECT_EQ(r, U256(5));
  EXPECT_EQ(q.checked_mul(10)->checked_add(r).value(), U256::max());
  U256 wide = (U256(1) << 200).wrapping_add(12345);
  U256 a = dec("98765432109876543210987654321098765432109876543210987654321098765432");
  ASSERT_TRUE(U256::divmod(a, wide, &q, &r));
  EXPECT_LT(r, wide);
  EXPECT_EQ(q.checked_mul(wide)->checked_add(r).value(), a);
}

TEST(U256, WrappingNegationIsTwosComplement) {
  EXPECT_EQ(U256(1).wrapping_neg(), U256::max());
  EXPECT_EQ(U256(0).wrapping_neg(), U256(0));
  EXPECT_EQ(U256(5).wrapping_sub(7), U256::max().wrapping_sub(1));
}

TEST(U256, ShiftsAndBigEndianBytes) {
  EXPECT_EQ((U256(1) << 255) >> 255, U256(1));
  EXPECT_EQ(U256(1) << 256, U256(0));
  EXPECT_EQ((U256(0xff) << 68).to_hex(), "0xff00000000000000000");
  auto bytes = U256(0x0102).to_be_bytes();
  EXPECT_EQ(bytes[30], 1);
  EXPECT_EQ(bytes[31], 2);
  EXPECT_EQ(U256::from_be_bytes(bytes), U256(0x0102));
  EXPECT_EQ(U256(1).bit_length(), 1u);
  EXPECT_EQ(U256::max().bit_length(), 256u);
  uint8_t three[] = {1, 0, 0};
  EXPECT_EQ(U256::from_be_bytes_var(three).value(), U256(0x10000));
}

}  // namespace
}  // namespace ipsx
